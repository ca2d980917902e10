"""Gradient-descent optimizers with PyTorch's update formulas.

Each ``step()`` reads ``p.grad`` (a NumPy array left by ``loss.backward()``) and updates the
parameter's array in place under ``no_grad`` (which bumps its version counter, so a graph
that saved the old values refuses to run backward).  State buffers are allocated once and
updated with ``out=`` NumPy calls; two scratch arrays per parameter hold intermediate
results, so a step allocates nothing.
"""

from __future__ import annotations

import math

import numpy as np

from .._blas import axpy
from .._checks import real
from .._core import Tensor, _primal, bump_version, enable_grad, no_grad, zero_grads

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "clip_grad_norm_", "clip_grad_value_"]


def step_parameter(p, delta, scale=1.0, scratch=None):
    """``p ← p - scale·delta`` in place, counted by the version counter that protects saved
    arrays; ``scratch`` (an array like ``p``'s, or ``delta`` itself) holds ``scale·delta``
    where BLAS ``axpy`` cannot be used (see ``chainrule._blas``).

    What ``p.sub_(delta, alpha=scale)`` does, without its checks: an optimizer updates its own
    leaves, under ``no_grad``, at every step."""
    value = p._value
    if not axpy(-scale, delta, value):
        if scale != 1.0:
            delta = np.multiply(delta, scale, out=scratch)
        np.subtract(value, delta, out=value)
    bump_version(p)


class Optimizer:
    """Base class: ``param_groups`` (a list of dicts with ``"params"`` and hyper-parameters) and
    ``state`` (``{parameter index: {name: ndarray or number}}``, indices counted over all groups).

    Frozen parameters (``requires_grad=False``) are accepted, as in PyTorch: they get no gradient,
    and a parameter without a gradient is skipped by ``step()``.
    """

    _state_keys = frozenset()       # the names of the per-parameter state a subclass keeps

    def __init__(self, params, defaults):
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of Parameters (e.g. model.parameters()), "
                            "got a single Tensor; wrap it in a list")
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.defaults = dict(defaults)
        self._check(self.defaults)
        self.param_groups = []
        self.state = {}
        self._params = []
        self._scratch = {}
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for p in self._params}
        for k, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {k} of a group is of type {type(p).__name__}, not a "
                                "Parameter (a leaf Tensor)")
            if not p.is_leaf:
                raise TypeError(f"{name}: parameter {k} of a group is the result of a computation, not a "
                                "leaf Tensor; optimize the leaves it was computed from")
            if id(p) in seen:
                raise ValueError(f"{name}: parameter {k} of a group appears more than once among the "
                                 "optimizer's parameters")
            seen.add(id(p))
        full = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        self._check(full)
        start = len(self._params)
        self._params.extend(params)
        full["params"] = list(range(start, start + len(params)))
        self.param_groups.append(full)

    def _check(self, group):
        name = type(self).__name__
        for key in ("lr", "weight_decay", "momentum", "eps", "dampening"):
            if key in group and not real(name, key, group[key]) >= 0.0:
                raise ValueError(f"{name}: {key} must be ≥ 0, got {group[key]!r}")

    # ---- the step

    def zero_grad(self, set_to_none=True):
        """Set every parameter's ``.grad`` to ``None`` (the next backward starts afresh), or with
        ``set_to_none=False`` fill the arrays with zeros, as PyTorch's ``zero_grad`` does."""
        if not set_to_none:
            return zero_grads(self._params, False)
        for p in self._params:                    # the training loop's case, without a call
            p.grad = None

    def step(self, closure=None):
        """One update of every parameter that has a gradient.  ``closure`` (optional)
        re-evaluates the loss and calls ``backward()``; its result is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        params, state = self._params, self.state
        with no_grad():
            for group in self.param_groups:
                items = []                        # (index, parameter, gradient, state)
                for i in group["params"]:
                    p = params[i]
                    g = p.grad
                    if g is None:
                        continue
                    if type(g) is not np.ndarray:
                        g = np.asarray(_primal(g))
                    if g.shape != p._value.shape:
                        raise ValueError(f"{type(self).__name__}: parameter {i} has shape {p.shape} but "
                                         f"its gradient has shape {g.shape}")
                    s = state.get(i)
                    if s is None:
                        s = state[i] = {}
                    items.append((i, p, g, s))
                self._update_group(group, items)
        return loss

    def _update_group(self, group, items):
        """Update the parameters of one group: ``_update`` of each, unless a subclass does better."""
        update, buffers = self._update, self._buffers
        for i, p, g, s in items:
            update(p, g, s, group, buffers(i, p))

    def _buffers(self, i, p):
        bufs = self._scratch.get(i)
        value = p._value
        if bufs is None or bufs[0].shape != value.shape or bufs[0].dtype != value.dtype:
            bufs = self._scratch[i] = (np.empty_like(p._value), np.empty_like(p._value))
        return bufs

    def _update(self, p, g, state, group, scratch):
        raise NotImplementedError

    # ---- state

    def state_dict(self):
        """``{"optimizer": class name, "state": {index: {name: ndarray or number}},
        "param_groups": [{..., "params": [indices]}]}``; arrays are copies."""
        state = {i: {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                 for i, s in sorted(self.state.items())}
        groups = [{k: (list(v) if k == "params" else v) for k, v in g.items()} for g in self.param_groups]
        return {"optimizer": type(self).__name__, "state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict()`` returned (for an optimizer of the same class over the same
        parameters); the state of another optimizer class is refused."""
        name = type(self).__name__
        try:
            groups, state = state_dict["param_groups"], state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and "
                             "'param_groups'") from None
        saved_by = state_dict.get("optimizer")
        if saved_by is not None and saved_by != name:
            raise ValueError(f"{name}.load_state_dict: the state was saved by {saved_by}, not {name}; load "
                             f"it into {saved_by}(...), or start this {name} afresh")
        foreign = sorted({k for entries in state.values() for k in entries} - self._state_keys)
        if foreign:
            raise ValueError(f"{name}.load_state_dict: the state holds {foreign}, which {name} does not "
                             f"keep (it keeps {sorted(self._state_keys)}); it was saved by another "
                             "optimizer class")
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state has {len(groups)} parameter groups, this "
                             f"optimizer {len(self.param_groups)}")
        for k, (saved, own) in enumerate(zip(groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(f"{name}.load_state_dict: group {k} has {len(saved['params'])} parameters "
                                 f"in the state, {len(own['params'])} in this optimizer")
        new_state = {}
        for key, entries in state.items():
            i = int(key)
            if not 0 <= i < len(self._params):
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, but there are only "
                                 f"{len(self._params)}")
            p = self._params[i]
            restored = {}
            for k, v in entries.items():
                if k == "step":
                    restored[k] = int(np.asarray(v))
                    continue
                v = np.asarray(_primal(v))
                if v.shape != p.shape:
                    raise ValueError(f"{name}.load_state_dict: {k!r} of parameter {i} has shape {v.shape}, "
                                     f"the parameter {p.shape}")
                restored[k] = np.array(v, dtype=p.dtype, copy=True)
            new_state[i] = restored
        for saved, own in zip(groups, self.param_groups, strict=True):
            for k, v in saved.items():
                if k == "params":
                    continue
                if k == "betas":
                    v = tuple(float(b) for b in np.asarray(v).ravel())
                elif isinstance(v, np.ndarray):
                    v = v.item()
                own[k] = v
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for k, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {k}")
            lines += [f"    {key}: {v}" for key, v in g.items() if key != "params"]
        return "\n".join(lines) + "\n)"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum and L2 weight decay.

    ``g ← ∇ + λw``; with momentum ``b ← μb + (1 - τ)g`` (``b = g`` at the first step) and
    ``g ← g + μb`` (Nesterov) or ``g ← b``; then ``w ← w - η g``.
    """

    _state_keys = frozenset({"momentum_buffer"})

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0, *, dampening=0.0):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=bool(nesterov),
                                      weight_decay=weight_decay, dampening=dampening))

    def _update_group(self, group, items):
        if group["momentum"] or group["weight_decay"]:
            return super()._update_group(group, items)
        lr, buffers = group["lr"], self._buffers   # plain SGD: w ← w - η g, no state
        for i, p, g, _ in items:
            step_parameter(p, g, lr, buffers(i, p)[0])

    def _update(self, p, g, state, group, scratch):
        a, b = scratch
        lr, mu, wd, damp = group["lr"], group["momentum"], group["weight_decay"], group["dampening"]
        if wd:
            np.multiply(p._value, wd, out=a)
            a += g
            g = a
        if mu:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, copy=True)
            else:
                buf *= mu
                if damp:
                    np.multiply(g, 1.0 - damp, out=b)
                    buf += b
                else:
                    buf += g
            if group["nesterov"]:
                np.multiply(buf, mu, out=b)
                b += g
                g = b
            else:
                g = buf
        step_parameter(p, g, lr, g if g is a or g is b else b)


_TOGETHER = 1 << 14       # Adam updates parameters with fewer entries than this together


class _FlatMoments:
    """Adam's moments of several parameters in two flat arrays; each parameter's state holds
    views of its span, so ``state_dict``, ``_update`` and the flat update see the same numbers."""

    def __init__(self, entries):
        self.spans, start = [], 0
        for p, _ in entries:
            self.spans.append((start, start + p._value.size))
            start += p._value.size
        dtype = entries[0][0]._value.dtype
        self.m, self.v = np.zeros(start, dtype), np.zeros(start, dtype)
        self.a, self.b = np.empty(start, dtype), np.empty(start, dtype)
        self.views = []
        for (p, state), (lo, hi) in zip(entries, self.spans):
            m, v = self.m[lo:hi].reshape(p._value.shape), self.v[lo:hi].reshape(p._value.shape)
            if state:                             # carry on from the state there is
                m[...] = state["exp_avg"]
                v[...] = state["exp_avg_sq"]
            else:
                state["step"] = 0
            state["exp_avg"], state["exp_avg_sq"] = m, v
            self.views.append((m, v))

    def holds(self, entries):
        """Whether these (parameter, state) pairs are still laid out here: the same shapes and
        dtypes, and states that refer to this object's views (not to arrays loaded since, nor
        to the separate arrays a copy or pickle of the optimizer makes of them)."""
        return (len(entries) == len(self.views)
                and all(p._value.shape == m.shape and p._value.dtype == m.dtype
                        and s.get("exp_avg") is m and s.get("exp_avg_sq") is v
                        and m.base is self.m and v.base is self.v
                        for (p, s), (m, v) in zip(entries, self.views)))


class Adam(Optimizer):
    """Adam (Kingma & Ba): running means of the gradient and of its square, bias-corrected.

    ``m ← β₁m + (1 - β₁)g``, ``v ← β₂v + (1 - β₂)g²``,
    ``w ← w - η/(1 - β₁ᵗ) · m / (√v/√(1 - β₂ᵗ) + ε)``.  ``weight_decay`` adds ``λw`` to the
    gradient (L2); ``AdamW`` decays the weights directly instead.
    """

    _decoupled = False
    _state_keys = frozenset({"step", "exp_avg", "exp_avg_sq"})

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        name = type(self).__name__
        try:
            betas = tuple(real(name, "betas", b) for b in betas)
        except TypeError:
            raise TypeError(f"{name}: betas must be two numbers in [0, 1), got {betas!r}") from None
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"{name}: betas must be two numbers in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))
        self._together = {}

    def _update(self, p, g, state, group, scratch):
        a, b = scratch
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p._value)
            state["exp_avg_sq"] = np.zeros_like(p._value)
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if wd and self._decoupled:
            p.mul_(1.0 - lr * wd)
        elif wd:
            np.multiply(p._value, wd, out=a)
            a += g
            g = a
        self._moments(g, m, v, b1, b2, b)
        step_parameter(p, self._delta(m, v, lr, b1, b2, eps, t, a, b))

    def _update_group(self, group, items):
        # Small parameters (biases, narrow layers) are updated together: their moments live in
        # one flat array per group, so the dozen NumPy calls of a step are made once for all of
        # them instead of once each (the digits MLP's Adam step: 32 -> 24 us). Each entry sees
        # the same operations as in _update, so the result is the same to the last bit.
        small = [it for it in items if it[1]._value.size < _TOGETHER]
        if (len(small) < 2 or (group["weight_decay"] and not self._decoupled)
                or type(self)._update is not Adam._update):   # a subclass's own update: its own way
            return super()._update_group(group, items)
        dtype = small[0][1]._value.dtype
        if (len({s.get("step", 0) for *_, s in small}) > 1
                or any(p._value.dtype != dtype or g.dtype != dtype or (s and s["exp_avg"].dtype != dtype)
                       for _, p, g, s in small)):
            return super()._update_group(group, items)
        super()._update_group(group, [it for it in items if it[1]._value.size >= _TOGETHER])
        self._update_together(group, small)

    def _update_together(self, group, small):
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        key = tuple(i for i, *_ in small)
        entries = [(p, s) for _, p, _, s in small]
        flat = self._together.get(key)
        if flat is None or not flat.holds(entries):
            if len(self._together) >= 8:          # sets of parameters seen before and gone since
                self._together.clear()
            flat = self._together[key] = _FlatMoments(entries)
        for *_, s in small:
            s["step"] += 1
        t = small[0][3]["step"]
        if wd:                                    # decoupled (AdamW), as in _update
            for _, p, _, _ in small:
                p.mul_(1.0 - lr * wd)
        g = np.concatenate([g.reshape(-1) for _, _, g, _ in small])
        self._moments(g, flat.m, flat.v, b1, b2, flat.b)
        delta = self._delta(flat.m, flat.v, lr, b1, b2, eps, t, flat.a, flat.b)
        for (_, p, _, _), (start, stop) in zip(small, flat.spans):
            step_parameter(p, delta[start:stop].reshape(p._value.shape))

    def _moments(self, g, m, v, b1, b2, b):
        np.subtract(g, m, out=b)                  # m ← m + (1 - β₁)(g - m)
        b *= 1.0 - b1
        m += b
        v *= b2                                   # v ← β₂v + (1 - β₂)g²
        np.multiply(g, g, out=b)
        b *= 1.0 - b2
        v += b

    def _delta(self, m, v, lr, b1, b2, eps, t, a, b):
        """The step to subtract from the weights, in ``b`` (``a`` is scratch)."""
        # η/(1-β₁ᵗ) · m / (√v/c + ε) = (η c/(1-β₁ᵗ)) · m / (√v + εc), c = √(1-β₂ᵗ): two passes fewer
        c = math.sqrt(1.0 - b2 ** t)
        np.sqrt(v, out=b)
        b += eps * c
        np.divide(m, b, out=b)
        b *= lr * c / (1.0 - b1 ** t)
        return b


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``w ← w(1 - ηλ)`` before the Adam step."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root-mean-square of recent gradients.

    ``s ← αs + (1 - α)g²``, ``d = √s + ε`` (``√(s - ḡ²) + ε`` when ``centered``, with ``ḡ`` the
    running mean of ``g``); then ``w ← w - η g/d``, or with momentum ``b ← μb + g/d``,
    ``w ← w - ηb``.
    """

    _state_keys = frozenset({"step", "square_avg", "momentum_buffer", "grad_avg"})

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0, centered=False):
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"RMSprop: alpha must be in [0, 1], got {alpha!r}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum,
                                      weight_decay=weight_decay, centered=bool(centered)))

    def _update(self, p, g, state, group, scratch):
        a, b = scratch
        lr, alpha, eps, mu, wd = (group["lr"], group["alpha"], group["eps"], group["momentum"],
                                  group["weight_decay"])
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p._value)
            if mu:
                state["momentum_buffer"] = np.zeros_like(p._value)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p._value)
        state["step"] += 1
        if wd:
            np.multiply(p._value, wd, out=a)
            a += g
            g = a
        s = state["square_avg"]
        s *= alpha
        np.multiply(g, g, out=b)
        b *= 1.0 - alpha
        s += b
        if group["centered"]:
            ga = state["grad_avg"]
            np.subtract(g, ga, out=b)             # ḡ ← ḡ + (1 - α)(g - ḡ)
            b *= 1.0 - alpha
            ga += b
            np.multiply(ga, ga, out=b)
            np.subtract(s, b, out=b)
            np.sqrt(b, out=b)
        else:
            np.sqrt(s, out=b)
        b += eps
        np.divide(g, b, out=b)
        if mu:
            buf = state["momentum_buffer"]
            buf *= mu
            buf += b
            step_parameter(p, buf, lr, b)
        else:
            step_parameter(p, b, lr, b)


def clip_grad_value_(params, clip_value):
    """Clip every gradient entry of ``params`` to ``[-clip_value, clip_value]``, as PyTorch's
    function of that name; gradients are replaced by clipped copies, never written into."""
    if isinstance(params, Tensor):
        params = [params]
    v = real("clip_grad_value_", "clip_value", clip_value)
    if not v >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be ≥ 0, got {clip_value!r}")
    for p in params:
        if p.grad is not None:
            p.grad = np.clip(np.asarray(_primal(p.grad)), -v, v)


def clip_grad_norm_(params, max_norm, norm_type=2.0):
    """Rescale the gradients of ``params`` so that their joint norm is at most ``max_norm``.

    Returns the norm before clipping (a float).  ``norm_type`` is any ``p ≥ 1`` (the p-norm
    ``(Σ|g|ᵖ)^(1/p)`` of all gradient entries together) or ``inf`` (also ``"inf"``: the largest
    ``|g|``).  Gradients are replaced by scaled copies, never written into (they may be shared).
    """
    if isinstance(params, Tensor):
        params = [params]
    params = [p for p in params if p.grad is not None]
    max_norm = real("clip_grad_norm_", "max_norm", max_norm)
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be ≥ 0, got {max_norm!r}")
    try:
        p_norm = float(norm_type)                 # float("inf") reads "inf" too
    except (TypeError, ValueError):
        p_norm = math.nan
    if not p_norm >= 1.0:
        raise ValueError(f"clip_grad_norm_: norm_type must be a number ≥ 1 or inf, got {norm_type!r}")
    grads = [np.asarray(_primal(p.grad)) for p in params]
    if p_norm == 2.0:
        total = math.sqrt(math.fsum(float(np.vdot(g, g)) for g in grads))
    elif p_norm == 1.0:
        total = math.fsum(float(np.sum(np.abs(g))) for g in grads)
    elif p_norm == math.inf:
        total = max((float(np.max(np.abs(g))) for g in grads if g.size), default=0.0)
    else:
        # scaled by the largest entry so that |g|ᵖ neither overflows nor underflows
        scale = max((float(np.max(np.abs(g))) for g in grads if g.size), default=0.0)
        if scale == 0.0 or not math.isfinite(scale):
            total = scale
        else:
            powers = math.fsum(float(np.sum((np.abs(g) / scale) ** p_norm)) for g in grads)
            total = scale * powers ** (1.0 / p_norm)
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p, g in zip(params, grads, strict=True):
            p.grad = g * coef
    return total
