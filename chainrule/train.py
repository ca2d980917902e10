"""Training loops: ``fit`` a model by mini-batch gradient descent, ``evaluate`` it.

One step is the lecture's recipe, written out::

    optimizer.zero_grad()
    value = loss(model(x), y)       # L(w; batch), a scalar Tensor
    value.backward()                # ∂L/∂w into every parameter's .grad
    optimizer.step()                # w ← w − η · (the optimizer's direction)

``train_loader`` yields tuples ``(*inputs, targets)`` (a :class:`chainrule.data.DataLoader`
does); the model is called as ``model(*inputs)`` and the loss as ``loss(outputs, targets)``.

Divergence guard: when the training loss is NaN or infinite, when the model's outputs are
(a loss that refuses NaN predictions then raises ``ValueError``; fit reports the divergence
instead), or when a parameter is at the end of an epoch, :func:`fit` raises
:class:`TrainingDiverged` — it does not return quietly — before any callback runs for that
epoch, so a :class:`ModelCheckpoint` file keeps the last good state.  The exception carries
the ``history`` so far.

Resuming: a :class:`ModelCheckpoint` file holds the model, the optimizer, the number of
epochs done, the history, the training loader's shuffling state, the state of every
``numpy.random.Generator`` found in the model (dropout), the scheduler's state and the state
of the callbacks (``Callback.state_dict()``: what :class:`EarlyStopping` and
:class:`ModelCheckpoint` have seen so far).  ``fit(..., epochs=N, resume=path)`` loads all of
it and trains epochs ``done+1 .. N``, reproducing the uninterrupted run bit for bit.
ModelCheckpoints run after the other callbacks at the end of an epoch, so their files hold
every callback's state after that epoch.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import checkpoint
from ._core import no_grad
from .optim.lr_scheduler import ReduceLROnPlateau
from .replay import TrainStep

__all__ = ["fit", "evaluate", "History", "Callback", "EarlyStopping", "ModelCheckpoint",
           "TrainingDiverged", "TrainingState"]


class TrainingDiverged(FloatingPointError):
    """The training loss (or a parameter) became NaN or infinite; ``history`` is kept."""

    def __init__(self, message, history=None, epoch=None, batch=None):
        super().__init__(message)
        self.history = history
        self.epoch = epoch
        self.batch = batch


class History:
    """Per-epoch records: lists indexed by epoch (``None`` where a value does not apply)."""

    columns = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "time")

    def __init__(self):
        for name in self.columns:
            setattr(self, name, [])
        self.stopped_reason = None

    def append(self, **record):
        for name in self.columns:
            getattr(self, name).append(record.get(name))

    def __len__(self):
        return len(self.epoch)

    def as_dict(self):
        out = {name: list(getattr(self, name)) for name in self.columns}
        out["stopped_reason"] = self.stopped_reason
        return out

    @classmethod
    def from_dict(cls, data):
        history = cls()
        for name in cls.columns:
            setattr(history, name, list(data.get(name, [])))
        history.stopped_reason = data.get("stopped_reason")
        return history

    def __repr__(self):
        if not self.epoch:
            return "History(no epochs)"
        last = {k: getattr(self, k)[-1] for k in self.columns if getattr(self, k)[-1] is not None}
        return f"History({len(self)} epochs, last: {last})"


class TrainingState:
    """What callbacks see: the objects being trained and the progress so far."""

    def __init__(self, model, optimizer, train_loader, val_loader, scheduler, epochs, history, callbacks=()):
        self.model = model
        self.optimizer = optimizer
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.scheduler = scheduler
        self.epochs = epochs
        self.history = history
        self.callbacks = list(callbacks)
        self.epoch = len(history)        # epochs completed
        self.stop = False                # a callback sets it to end training after this epoch

    def metrics(self):
        """The last epoch's record, as a dict."""
        return {name: getattr(self.history, name)[-1] for name in History.columns}


# --------------------------------------------------------------------------- callbacks

class Callback:
    """Hooks called by :func:`fit`; override the ones you need.

    A callback that keeps state across epochs returns it from ``state_dict()`` (JSON-serialisable)
    and takes it back in ``load_state_dict()``: :class:`ModelCheckpoint` files store it, and
    ``fit(..., resume=path)`` restores it into the callback of the same class at the same
    position among those of its class (after ``on_train_begin``).
    """

    def on_train_begin(self, state):
        pass

    def on_epoch_end(self, state):
        pass

    def on_train_end(self, state):
        pass

    def state_dict(self):
        """The state to checkpoint, or ``None`` when there is none."""
        return None

    def load_state_dict(self, state):
        pass


_MONITORED = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


def _monitor_and_mode(who, monitor, mode):
    if monitor not in _MONITORED:
        raise ValueError(f"{who}: cannot monitor {monitor!r}; choose one of {', '.join(_MONITORED)}")
    if mode == "auto":
        mode = "max" if "accuracy" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"{who}: mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


def _check_monitor_recorded(who, monitor, state):
    if monitor.startswith("val_") and state.val_loader is None:
        raise ValueError(f"{who}: monitoring {monitor!r} needs a val_loader")


def _monitored_value(who, monitor, state):
    value = getattr(state.history, monitor)[-1]
    if value is None:
        raise ValueError(f"{who}: {monitor} is not recorded by this run "
                         "(accuracy needs class scores and integer labels)")
    return value


def _improved(value, best, mode, min_delta=0.0):
    """Whether ``value`` beats ``best`` (None: nothing yet) by more than ``min_delta`` in ``mode``."""
    sign = 1.0 if mode == "min" else -1.0
    return best is None or sign * (value - best) < -min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    ``mode`` is ``"min"``, ``"max"`` or ``"auto"`` (max for accuracies, min otherwise).  Its
    record (best value, epochs waited) starts afresh at each ``fit`` unless ``fit`` resumes it
    from a checkpoint.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto"):
        mode = _monitor_and_mode("EarlyStopping", monitor, mode)
        self.monitor, self.patience, self.min_delta, self.mode = monitor, patience, min_delta, mode
        self.best = None
        self.best_epoch = None
        self.wait = 0

    def on_train_begin(self, state):
        _check_monitor_recorded("EarlyStopping", self.monitor, state)
        self.best, self.best_epoch, self.wait = None, None, 0

    def on_epoch_end(self, state):
        value = _monitored_value("EarlyStopping", self.monitor, state)
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, state.epoch, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            state.stop = True
            state.history.stopped_reason = (
                f"early stopping: {self.monitor} did not improve for {self.patience} epochs "
                f"(best {self.best:.6g} at epoch {self.best_epoch})")

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state):
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], int(state["wait"])


# the names save_training_state writes: metadata may not reuse them
_TRAINING_STATE_KEYS = ("kind", "epoch", "history", "loader", "generators", "scheduler", "callbacks",
                        "stop", "chainrule_version")


class ModelCheckpoint(Callback):
    """Save the full training state to ``path`` after every epoch (atomically).

    With ``save_best_only=True`` it saves only when ``monitor`` (``"val_loss"``,
    ``"val_accuracy"``, ``"train_loss"`` or ``"train_accuracy"``) improves; ``mode`` is
    ``"min"``, ``"max"`` or ``"auto"`` (max for accuracies).  Both are checked when it is
    created, and ``fit`` refuses to start when a ``val_`` value is monitored without a
    ``val_loader``.  ``metadata`` (JSON-serialisable) is stored too, e.g. the architecture
    needed to rebuild the model; the names of the training state (``epoch``, ``history``, ...)
    are reserved.  The file always holds the last good state: a diverged epoch never reaches it.
    """

    def __init__(self, path, save_best_only=False, monitor="val_loss", mode="auto", metadata=None):
        self.path = Path(path)
        self.save_best_only = bool(save_best_only)
        self.mode = _monitor_and_mode("ModelCheckpoint", monitor, mode)
        self.monitor = monitor
        self.metadata = dict(metadata or {})
        reserved = [k for k in self.metadata if k in _TRAINING_STATE_KEYS]
        if reserved:
            raise ValueError(f"ModelCheckpoint: metadata names {reserved} are reserved for the training "
                             f"state ({', '.join(_TRAINING_STATE_KEYS)}); choose other names")
        checkpoint._to_json("ModelCheckpoint metadata", self.metadata)     # refuse it now, not after an epoch
        self.best = None
        self.saved_epoch = None

    def on_train_begin(self, state):
        if self.save_best_only:
            _check_monitor_recorded("ModelCheckpoint", self.monitor, state)
        folder = Path(self.path).parent
        if not folder.is_dir():                  # found now, not after the first epoch has trained
            raise FileNotFoundError(f"ModelCheckpoint: the folder of {self.path} does not exist; "
                                    "create it first")
        self.best, self.saved_epoch = None, None

    def on_epoch_end(self, state):
        if self.save_best_only:
            value = _monitored_value("ModelCheckpoint", self.monitor, state)
            if not _improved(value, self.best, self.mode):
                return
            self.best = value
        self.saved_epoch = state.epoch            # before saving: the file holds this callback's state too
        save_training_state(self.path, state, **self.metadata)

    def state_dict(self):
        return {"best": self.best, "saved_epoch": self.saved_epoch}

    def load_state_dict(self, state):
        self.best, self.saved_epoch = state["best"], state["saved_epoch"]


def _callback_states(callbacks):
    states = {}
    for key, cb in zip(_callback_keys(callbacks), callbacks, strict=True):
        saved = cb.state_dict()
        if saved is not None:
            states[key] = saved
    return states


def _callback_keys(callbacks):
    """``"EarlyStopping:0"``, ...: each callback's class and its position among those of its class."""
    counts = {}
    keys = []
    for cb in callbacks:
        name = type(cb).__name__
        keys.append(f"{name}:{counts.get(name, 0)}")
        counts[name] = counts.get(name, 0) + 1
    return keys


def save_training_state(path, state, **metadata):
    """Checkpoint everything :func:`fit` needs to resume ``state`` bit-exactly."""
    extra = {
        "kind": "training-state",
        "epoch": state.epoch,
        "history": state.history.as_dict(),
        "loader": state.train_loader.state_dict() if hasattr(state.train_loader, "state_dict") else None,
        "generators": {name: g.bit_generator.state for name, g in _generators(state.model).items()},
        "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
        "callbacks": _callback_states(state.callbacks),
        "stop": state.stop,          # final here: checkpoints run after the other callbacks
    }
    checkpoint.save(path, state.model, state.optimizer, **metadata, **extra)


def _generators(model):
    """Every ``numpy.random.Generator`` reachable from ``model``'s attributes, by path; one that
    several modules share (``chainrule.manual_seed``'s, for all made without ``rng=``) under
    each of its paths, as checkpoints written when each had its own list them."""
    found = {}
    seen = set()

    def visit(obj, prefix):
        if isinstance(obj, np.random.Generator):
            found[prefix.rstrip(".")] = obj
            return
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, dict):
            for k, v in obj.items():
                visit(v, f"{prefix}{k}.")
        elif isinstance(obj, (list, tuple)):
            for k, v in enumerate(obj):
                visit(v, f"{prefix}{k}.")
        elif hasattr(obj, "named_parameters") and hasattr(obj, "__dict__"):
            for k, v in vars(obj).items():
                visit(v, f"{prefix}{k}.")

    visit(model, "")
    return found


def _resume(path, state):
    meta = checkpoint.load(path, state.model, state.optimizer)
    if meta.get("kind") != "training-state":
        raise ValueError(f"fit: {path} holds no training state to resume from (it was not written "
                         "by ModelCheckpoint); load it with chainrule.load instead")
    if meta["loader"] is not None:
        state.train_loader.load_state_dict(meta["loader"])
    generators = _generators(state.model)
    for name, saved in meta["generators"].items():
        if name not in generators:
            raise ValueError(f"fit: {path} has the state of a random generator {name!r} that the "
                             "model does not have")
        generators[name].bit_generator.state = saved
    if meta["scheduler"] is not None:
        if state.scheduler is None:
            raise ValueError(f"fit: {path} was trained with a learning-rate scheduler; pass scheduler=")
        state.scheduler.load_state_dict(meta["scheduler"])
    state.history = History.from_dict(meta["history"])
    state.epoch = meta["epoch"]
    state.stop = bool(meta.get("stop", False))   # a run a callback had stopped stays stopped
    return meta.get("callbacks") or {}


def _restore_callbacks(state, saved):
    """Give each callback the state its counterpart had when the checkpoint was written."""
    for key, cb in zip(_callback_keys(state.callbacks), state.callbacks, strict=True):
        if key in saved:
            cb.load_state_dict(saved[key])


# --------------------------------------------------------------------------- the loops

def _as_array(x):
    return np.asarray(x)


def _correct(outputs, targets):
    """Correct predictions in a batch, or None when accuracy does not apply."""
    targets = np.asarray(targets)
    # class scores (two columns or more) against integer labels; one column is a logit or a
    # probability, whose threshold the loop cannot know
    if outputs.ndim != 2 or outputs.shape[1] < 2 or targets.ndim != 1 or targets.dtype.kind not in "iu":
        return None
    return int(np.count_nonzero(np.argmax(outputs, axis=1) == targets))


def _progress_bar(progress, total, desc):
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError as e:
        raise ImportError('the progress bar needs tqdm: pip install "chainrule[train]" '
                          "(or pass progress=False)") from e
    return tqdm(total=total, desc=desc, unit="batch", leave=True, dynamic_ncols=True)


def fit(model, loss, optimizer, train_loader, epochs, val_loader=None, callbacks=(), progress=True,
        scheduler=None, resume=None, replay=False):
    """Train ``model`` for ``epochs`` epochs (in total, counting resumed ones); return a :class:`History`.

    * ``loss(outputs, targets)`` returns the mean loss of a batch, a scalar Tensor.
    * ``val_loader``: evaluated after every epoch (``val_loss``, ``val_accuracy``).
    * ``callbacks``: :class:`Callback` objects (:class:`EarlyStopping`, :class:`ModelCheckpoint`).
    * ``progress``: a tqdm bar per epoch with the running loss and samples per second.
    * ``scheduler``: stepped once per epoch (``scheduler.step()``; a ``ReduceLROnPlateau`` gets
      the validation loss, or the training loss without validation data, in ``"min"`` mode and
      the validation accuracy in ``"max"`` mode), saved in checkpoints.
    * ``resume``: a :class:`ModelCheckpoint` file to continue from.
    * ``replay``: take the steps of single-input batches through
      :class:`chainrule.replay.TrainStep`, which records a step and replays it with less
      Python and the same numbers to the last bit. Only for a model whose forward pass takes
      no Python decisions on the data's values (see :mod:`chainrule.replay`); a step it cannot
      replay runs the ordinary way, with one ``RuntimeWarning`` that says why.

    Raises :class:`TrainingDiverged` when the loss or the model's outputs become NaN or
    infinite, and ``ValueError`` for a loader that yields no batches.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
    for what, loader in (("training", train_loader), ("validation", val_loader)):
        if loader is not None and hasattr(loader, "__len__") and len(loader) == 0:
            raise ValueError(f"fit: the {what} loader yields no batches (no samples, or fewer than "
                             "batch_size with drop_last=True)")
    # checkpoints last: their files then hold every other callback's state after the epoch
    callbacks = sorted(callbacks, key=lambda cb: isinstance(cb, ModelCheckpoint))
    if isinstance(scheduler, ReduceLROnPlateau) and scheduler.mode == "max" and val_loader is None:
        raise ValueError("fit: ReduceLROnPlateau(mode='max') is stepped with the validation accuracy; pass "
                         "val_loader=, or use mode='min' to step on the loss")
    state = TrainingState(model, optimizer, train_loader, val_loader, scheduler, epochs, History(), callbacks)
    saved_callbacks = _resume(resume, state) if resume is not None else {}
    for cb in callbacks:
        cb.on_train_begin(state)
    _restore_callbacks(state, saved_callbacks)
    # every step goes through a TrainStep: the ordinary way, or replayed where that is exact
    step = TrainStep(model, lambda outputs, targets: _batch_loss(loss, outputs, targets, "fit"),
                     optimizer, replay=replay, check=_finite_loss)
    try:
        while state.epoch < epochs and not state.stop:
            _train_epoch(state, loss, progress, callbacks, step)
            for cb in callbacks:
                cb.on_epoch_end(state)
    finally:
        for cb in callbacks:
            cb.on_train_end(state)
    return state.history


def _diverged(state, callbacks, what, batch=None):
    epoch = state.epoch + 1
    where = f"epoch {epoch}" + (f", batch {batch}" if batch is not None else "")
    message = f"fit: {what} at {where}; training stopped (try a smaller learning rate)"
    saved = [cb for cb in callbacks if isinstance(cb, ModelCheckpoint) and cb.saved_epoch is not None]
    if saved:
        message += f"; the last good checkpoint is {saved[-1].path} (epoch {saved[-1].saved_epoch})"
    state.history.stopped_reason = message
    return TrainingDiverged(message, state.history, epoch, batch)


class _NonFiniteOutputs(ValueError):
    """The model's outputs hold NaN or infinity (a loss refused them)."""


class _NonFiniteLoss(ArithmeticError):
    """A training batch's loss is NaN or infinite (raised before its backward pass)."""

    def __init__(self, value):
        super().__init__(value)
        self.value = value


def _finite_loss(value):
    if not math.isfinite(value):
        raise _NonFiniteLoss(value)


def _batch_loss(loss, outputs, targets, where):
    """``loss(outputs, targets)``; a ValueError caused by non-finite outputs becomes _NonFiniteOutputs."""
    try:
        return loss(outputs, targets)
    except ValueError as e:
        if np.all(np.isfinite(_as_array(outputs))):
            raise
        raise _NonFiniteOutputs(f"{where}: the model's outputs contain NaN or infinite values") from e


def _train_epoch(state, loss, progress, callbacks, step):
    model, optimizer = state.model, state.optimizer
    step.model, step.optimizer = model, optimizer     # a callback may have replaced either
    model.train()
    total = len(state.train_loader) if hasattr(state.train_loader, "__len__") else None
    bar = _progress_bar(progress, total, f"epoch {state.epoch + 1}/{state.epochs}")
    total_loss = 0.0
    seen = 0
    correct = 0
    accuracy_applies = True
    start = time.perf_counter()
    shown_at = -math.inf
    try:
        for b, batch in enumerate(state.train_loader):
            *inputs, targets = _unpacked(batch, "fit")
            try:
                lv = step(inputs[0] if len(inputs) == 1 else tuple(inputs), targets)
                outputs = step.outputs
            except _NonFiniteOutputs:
                raise _diverged(state, callbacks, "the model's outputs became NaN or infinite",
                                b + 1) from None
            except _NonFiniteLoss as e:
                raise _diverged(state, callbacks, f"the training loss became {e.value}", b + 1) from None
            n = len(targets)
            total_loss += lv * n
            seen += n
            if accuracy_applies:
                c = _correct(_as_array(outputs), targets)
                if c is None:
                    accuracy_applies = False
                else:
                    correct += c
            if bar is not None:
                now = time.perf_counter()
                if now - shown_at >= bar.mininterval:     # tqdm redraws no more often than this
                    shown_at = now
                    rate = seen / max(now - start, 1e-9)
                    bar.set_postfix_str(f"loss={total_loss / seen:.4f}, {rate:,.0f} samples/s",
                                        refresh=False)
                bar.update(1)
        elapsed = time.perf_counter() - start
        if seen == 0:
            raise ValueError("fit: the training loader yielded no samples")
        for name, p in model.named_parameters():
            if not np.all(np.isfinite(_as_array(p))):
                raise _diverged(state, callbacks, f"parameter {name} became NaN or infinite")
        record = {"epoch": state.epoch + 1, "time": elapsed,
                  "train_loss": total_loss / seen,
                  "train_accuracy": correct / seen if accuracy_applies else None}
        if state.val_loader is not None:
            try:
                result = evaluate(model, loss, state.val_loader)
            except _NonFiniteOutputs:
                raise _diverged(state, callbacks, "the model's outputs on the validation data became NaN "
                                "or infinite") from None
            if not math.isfinite(result["loss"]):
                raise _diverged(state, callbacks, "the loss on the validation data became NaN or infinite")
            record["val_loss"] = result["loss"]
            record["val_accuracy"] = result.get("accuracy")
        if bar is not None:
            shown = [f"loss={record['train_loss']:.4f}"]
            if record.get("val_loss") is not None:
                shown.append(f"val_loss={record['val_loss']:.4f}")
            if record.get("val_accuracy") is not None:
                shown.append(f"val_acc={record['val_accuracy']:.4f}")
            shown.append(f"{seen / max(elapsed, 1e-9):,.0f} samples/s")
            bar.set_postfix_str(", ".join(shown), refresh=True)
    finally:
        if bar is not None:
            bar.close()
    if isinstance(state.scheduler, ReduceLROnPlateau):          # steps on a metric
        state.scheduler.step(_plateau_metric(state.scheduler, record))
    elif state.scheduler is not None:
        state.scheduler.step()
    state.history.append(**record)
    state.epoch += 1


def _plateau_metric(scheduler, record):
    """What ``fit`` steps a ``ReduceLROnPlateau`` with: the validation loss (the training loss
    without validation data) in ``"min"`` mode, the validation accuracy in ``"max"`` mode."""
    if scheduler.mode == "min":
        return record["val_loss"] if record.get("val_loss") is not None else record["train_loss"]
    if record.get("val_accuracy") is None:
        raise ValueError("fit: ReduceLROnPlateau(mode='max') is stepped with the validation accuracy, "
                         "which needs val_loader= and class scores with integer labels; use mode='min' "
                         "to step on the loss")
    return record["val_accuracy"]


def _unpacked(batch, where):
    """A batch as ``(*inputs, targets)``; a dict (from a dataset of dict samples) is refused by
    name, since unpacking it would give its keys."""
    if isinstance(batch, dict):
        raise TypeError(f"{where}: the loader yields dicts (keys {list(batch)}); it needs batches "
                        "(inputs..., targets): make the dataset's samples (x, y) tuples")
    return batch


def evaluate(model, loss, loader):
    """The mean loss over ``loader`` (and ``accuracy`` for class scores with integer labels).

    Runs in evaluation mode (dropout off) without recording the graph; returns
    ``{"loss": ..., "accuracy": ..., "samples": n}`` (no ``accuracy`` when it does not apply).
    """
    was_training = getattr(model, "training", True)
    model.eval()
    total = 0.0
    seen = 0
    correct = 0
    accuracy_applies = True
    try:
        with no_grad():
            for batch in loader:
                *inputs, targets = _unpacked(batch, "evaluate")
                outputs = model(*inputs)
                n = len(targets)
                value = float(_batch_loss(loss, outputs, targets, "evaluate"))
                if not math.isfinite(value) and not np.all(np.isfinite(_as_array(outputs))):
                    # a loss may return NaN for infinite outputs instead of refusing them
                    raise _NonFiniteOutputs("evaluate: the model's outputs contain NaN or infinite values")
                total += value * n
                seen += n
                if accuracy_applies:
                    c = _correct(_as_array(outputs), targets)
                    accuracy_applies = c is not None
                    correct += c or 0
    finally:
        if was_training:
            model.train()
    if seen == 0:
        raise ValueError("evaluate: the loader yielded no samples")
    result = {"loss": total / seen, "samples": seen}
    if accuracy_applies:
        result["accuracy"] = correct / seen
    return result
