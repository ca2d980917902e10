"""Learning-rate schedules.  Each sets ``group["lr"]`` of its optimizer from a closed form in
the number of ``step()`` calls so far (usually epochs), ``lr = base_lr · factor(t)``, so a
schedule restored from ``state_dict()`` continues exactly where it stopped.

Create the scheduler after the optimizer, call ``optimizer.step()`` during the epoch and
``scheduler.step()`` at its end.

Schedules chain as in PyTorch.  A new schedule starts from the optimizer's current rate
(``base_lr`` is the rate when it is created; it does not reset the rate to the group's
``initial_lr``), and when something else changed the rate since a schedule's last step
(another schedule of the same optimizer, or the user), the schedule continues from the rate
it finds: ``base_lr`` is re-derived so that ``base_lr · factor(t)`` is that rate, and the next
step multiplies it by ``factor(t + 1) / factor(t)``.  Two schedules stepped together therefore
multiply their factors, with one exception: a rate of exactly 0 (a cosine at ``T_max`` with
``eta_min = 0``) leaves nothing to re-derive ``base_lr`` from, so a schedule chained with it keeps
its own ``base_lr`` there; PyTorch's recursive formulas give other numbers after that point.
"""

from __future__ import annotations

import bisect
import math

from .._checks import integer, real

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR",
           "LinearWarmup", "ReduceLROnPlateau"]


def _check_optimizer(name, optimizer):
    if not hasattr(optimizer, "param_groups"):
        raise TypeError(f"{name}: expected an optimizer, got {type(optimizer).__name__}")


class LRScheduler:
    """Base class: ``lr = eta_min + (base_lr - eta_min) · factor(t)`` for each group at step
    ``t``; ``eta_min`` (the rate a factor of 0 gives) is 0 but for ``CosineAnnealingLR``."""

    eta_min = 0.0

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(type(self).__name__, optimizer)
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.last_epoch = int(last_epoch)
        if self.last_epoch == -1:            # a new schedule: from the current rates
            self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        else:                                # re-created mid-way: from the rates it started with
            self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self._last_lr = None
        self.step()

    def factor(self, t):
        raise NotImplementedError

    def get_lr(self):
        """The learning rates for the current ``last_epoch``."""
        f, eta = self.factor(self.last_epoch), self.eta_min
        return [eta + (base - eta) * f for base in self.base_lrs]

    def _check_groups(self, count, what):
        have = len(self.optimizer.param_groups)
        if have != count:
            raise ValueError(f"{type(self).__name__}: the optimizer has {have} parameter groups but {what} "
                             f"{count}; create the schedule after the optimizer's last add_param_group()")

    def step(self):
        """Advance one step (epoch) and set the optimizer's learning rates."""
        self._check_groups(len(self.base_lrs), "the schedule was made for")
        if self._last_lr is not None:
            for i, (group, mine) in enumerate(zip(self.optimizer.param_groups, self._last_lr, strict=True)):
                if group["lr"] != mine:      # another schedule, or the user, set it since
                    self._rebase(i, group["lr"])
        self.last_epoch += 1
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
            group["lr"] = lr

    def _rebase(self, i, lr):
        """Make ``lr`` the rate of group ``i`` at the current step (``get_lr``'s inverse)."""
        f = self.factor(self.last_epoch)
        if f != 0:                           # a factor of 0 leaves nothing to scale from
            self.base_lrs[i] = self.eta_min + (lr - self.eta_min) / f

    def get_last_lr(self):
        """The learning rates set by the last ``step()``, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self):
        """Everything but the optimizer: numbers, lists of numbers and nested dicts."""
        return {k: (v.state_dict() if isinstance(v, LRScheduler) else v)
                for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state):
        if state.get("_last_lr") is not None:    # checked before anything changes
            self._check_groups(len(state["_last_lr"]), "the saved schedule has rates for")
        for k, v in state.items():
            current = self.__dict__.get(k)
            if isinstance(current, LRScheduler):
                current.load_state_dict(v)
            else:
                self.__dict__[k] = list(v) if isinstance(v, tuple) else v
        self._last_lr = [float(x) for x in self._last_lr]
        for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
            group["lr"] = lr

    def __repr__(self):
        params = ", ".join(f"{k}={v}" for k, v in self.__dict__.items()
                           if k not in ("optimizer", "base_lrs", "_last_lr", "after"))
        return f"{type(self).__name__}({params})"


class StepLR(LRScheduler):
    """``lr = base_lr · gamma^⌊t / step_size⌋``: multiply by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = integer("StepLR", "step_size", step_size)
        if self.step_size < 1:
            raise ValueError(f"StepLR: step_size must be ≥ 1, got {step_size!r}")
        self.gamma = real("StepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def factor(self, t):
        return self.gamma ** (t // self.step_size)


class MultiStepLR(LRScheduler):
    """``lr = base_lr · gamma^k`` after the ``k``-th of the ``milestones`` (increasing steps)."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = [integer("MultiStepLR", "milestones", m) for m in milestones]
        if self.milestones != sorted(self.milestones):
            raise ValueError(f"MultiStepLR: milestones must be increasing, got {list(milestones)!r}")
        self.gamma = real("MultiStepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def factor(self, t):
        return self.gamma ** bisect.bisect_right(self.milestones, t)


class ExponentialLR(LRScheduler):
    """``lr = base_lr · gamma^t``."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = real("ExponentialLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def factor(self, t):
        return self.gamma ** t


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min)(1 + cos(π t / T_max)) / 2``: half a cosine from
    ``base_lr`` at ``t = 0`` down to ``eta_min`` at ``t = T_max`` (and back up after)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max = integer("CosineAnnealingLR", "T_max", T_max)
        if self.T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be ≥ 1, got {T_max!r}")
        self.eta_min = real("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def factor(self, t):
        return (1.0 + math.cos(math.pi * t / self.T_max)) / 2.0


class LambdaLR(LRScheduler):
    """``lr = base_lr · lr_lambda(t)``, with one function for all groups or one per group. As in
    PyTorch it sets the rate outright at each step: it does not chain with other schedules or
    take up a rate set by hand. The functions are not part of ``state_dict()``: pass the same
    ones to the scheduler you restore."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        groups = len(optimizer.param_groups) if hasattr(optimizer, "param_groups") else 1
        fns = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * groups
        if len(fns) != groups or not all(callable(f) for f in fns):
            raise TypeError(f"LambdaLR: lr_lambda must be a function or a list of {groups} functions "
                            f"(one per parameter group), got {lr_lambda!r}")
        self.lr_lambdas = fns
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t = self.last_epoch
        return [base * float(f(t)) for base, f in zip(self.base_lrs, self.lr_lambdas, strict=True)]

    def _rebase(self, i, lr):
        pass                                     # closed form: the rate is base_lr · f(t), always

    def state_dict(self):
        state = super().state_dict()
        del state["lr_lambdas"]
        return state


class LinearWarmup(LRScheduler):
    """Ramp the learning rate linearly from ``start_factor · base_lr`` (default ``base_lr /
    warmup_steps``) at ``t = 0`` to ``base_lr`` at ``t = warmup_steps``; afterwards follow
    ``after`` (another scheduler of the same optimizer, run from its own ``t = 0``) or stay at
    ``base_lr``.  Example: ``LinearWarmup(opt, 5, after=CosineAnnealingLR(opt, T_max=45))``.
    """

    def __init__(self, optimizer, warmup_steps, start_factor=None, after=None, last_epoch=-1):
        self.warmup_steps = integer("LinearWarmup", "warmup_steps", warmup_steps)
        if self.warmup_steps < 1:
            raise ValueError(f"LinearWarmup: warmup_steps must be ≥ 1, got {warmup_steps!r}")
        self.start_factor = (1.0 / self.warmup_steps if start_factor is None
                             else real("LinearWarmup", "start_factor", start_factor))
        if after is not None and not isinstance(after, LRScheduler):
            raise TypeError(f"LinearWarmup: `after` must be a schedule of the rate by step "
                            f"({type(after).__name__} is not one); step a ReduceLROnPlateau on its own "
                            "after the warm-up")
        if after is not None and after.optimizer is not optimizer:
            raise ValueError("LinearWarmup: `after` must be a scheduler of the same optimizer")
        self.after = after
        super().__init__(optimizer, last_epoch)

    def factor(self, t):
        w = min(t, self.warmup_steps) / self.warmup_steps
        return self.start_factor + (1.0 - self.start_factor) * w

    def _rebase(self, i, lr):
        if self.after is not None and self.last_epoch >= self.warmup_steps:
            self.after._rebase(i, lr)        # the rate is the after-schedule's now
            return
        old = self.base_lrs[i]
        super()._rebase(i, lr)
        if self.after is not None and old != 0:
            self.after.base_lrs[i] *= self.base_lrs[i] / old     # it takes over where warm-up ends

    def get_lr(self):
        t = self.last_epoch
        if t >= self.warmup_steps and self.after is not None:
            self.after.last_epoch = t - self.warmup_steps
            self.after._last_lr = self.after.get_lr()
            return list(self.after._last_lr)
        return super().get_lr()


class ReduceLROnPlateau:
    """Multiply the learning rates by ``factor`` when a metric has stopped improving for more than
    ``patience`` steps, as PyTorch's scheduler of that name: ``step(metric)`` once per epoch
    (``chainrule.train.fit`` passes the validation loss, or the training loss without
    validation data).

    ``mode="min"`` for a loss, ``"max"`` for an accuracy; an improvement must beat the best value
    by ``threshold`` (relative, or absolute with ``threshold_mode="abs"``); after a reduction
    ``cooldown`` steps pass before bad steps count again; no rate goes below ``min_lr`` (a number
    or one per group), and a change smaller than ``eps`` is skipped."""

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        name = "ReduceLROnPlateau"
        _check_optimizer(name, optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{name}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.factor = real(name, "factor", factor)
        if not 0.0 <= self.factor < 1.0:
            raise ValueError(f"{name}: factor must be in [0, 1), got {factor!r}")
        self.optimizer = optimizer
        groups = len(optimizer.param_groups)
        mins = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * groups
        if len(mins) != groups:
            raise ValueError(f"{name}: {len(mins)} min_lr values for {groups} parameter groups")
        self.min_lrs = [real(name, "min_lr", m) for m in mins]
        self.mode, self.threshold_mode = mode, threshold_mode
        self.patience = integer(name, "patience", patience)
        self.cooldown = integer(name, "cooldown", cooldown)
        for what, v in (("patience", self.patience), ("cooldown", self.cooldown)):
            if v < 0:
                raise ValueError(f"{name}: {what} must be ≥ 0, got {v}")
        self.threshold, self.eps = real(name, "threshold", threshold), real(name, "eps", eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _better(self, value):
        sign = 1.0 if self.mode == "max" else -1.0         # which way is better
        if self.threshold_mode == "rel":
            bound = self.best * (1 + sign * self.threshold)
        else:
            bound = self.best + sign * self.threshold
        return value > bound if self.mode == "max" else value < bound

    def step(self, metrics):
        """Record this step's metric (a number) and reduce the rates after too many bad steps."""
        value = real("ReduceLROnPlateau.step", "metrics", metrics)
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):           # add_param_group since
            if len(set(self.min_lrs)) != 1:
                raise ValueError(f"ReduceLROnPlateau: the optimizer has {len(groups)} parameter groups but "
                                 f"min_lr gave {len(self.min_lrs)}; create the scheduler after the last "
                                 "add_param_group(), or give one min_lr for all of them")
            self.min_lrs = [self.min_lrs[0]] * len(groups)
        self.last_epoch += 1
        if self._better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, floor in zip(groups, self.min_lrs, strict=True):
                new = max(group["lr"] * self.factor, floor)
                if group["lr"] - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The learning rates after the last ``step()``, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self):
        """Everything but the optimizer: numbers and lists of numbers."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state):
        missing = [k for k in ("mode", "factor", "patience", "best", "num_bad_epochs", "cooldown_counter",
                               "min_lrs") if k not in state]
        if missing:
            raise ValueError(f"ReduceLROnPlateau.load_state_dict: the state lacks {missing} (is it another "
                             "scheduler's?)")
        self.__dict__.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in state.items()})
