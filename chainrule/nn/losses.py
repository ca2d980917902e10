"""Loss functions: the lecture's decomposable ``L(w; D) = Σᵢ Lᵢ(w)``.

Every loss computes the per-example terms ``Lᵢ`` and then applies ``reduction``:
``"mean"`` (the default) averages them, ``"sum"`` gives the lecture's ``Σᵢ Lᵢ`` and
``"none"`` returns them.

* ``mse``: squared error (linear regression);
* ``log_loss``: binary ``-log P(yᵢ | xᵢ, w)`` from probabilities or, stably, from logits;
* ``cross_entropy``: multiclass, from logits, against labels, one-hot rows or distributions;
* ``nll_loss``: the same from log-probabilities;
* ``kl_div``: ``KL(target ‖ predicted)``; for one-hot targets it equals the cross-entropy;
* ``hinge``, ``squared_hinge``: binary, labels ±1; ``multiclass_hinge``: Weston–Watkins.

Inputs are checked before anything is computed: NaN, labels out of range, probabilities
outside [0, 1] and mismatched shapes raise ``ValueError`` naming the loss and the values.
Targets are cast to the prediction's dtype, so float32 in gives float32 out.  A real-valued
target that is itself traced (a Tensor with ``requires_grad=True``, or an argument of a
transform) stays differentiable wherever the loss is differentiable in it, as in PyTorch:
``grad(lambda t: mse(p, t))(t0)`` is ``-2(p - t0)/n``.  Integer class labels are constants.
"""

from __future__ import annotations

import math

import numpy as np

from .. import numpy as cnp
from .. import special
from .._checks import shown
from .._core import Tensor, _primal, _shape, host
from .functional import _checked_softmax_cross_entropy, _label_range, _pick_p
from .module import Module

__all__ = ["mse", "log_loss", "binary_cross_entropy", "cross_entropy", "nll_loss", "kl_div", "hinge",
           "squared_hinge", "multiclass_hinge", "MSELoss", "LogLoss", "CrossEntropyLoss", "NLLLoss",
           "KLDivLoss", "HingeLoss", "SquaredHingeLoss", "MultiClassHingeLoss"]

_REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------- checks

def _reduce(per_example, reduction):
    if reduction == "mean":
        return cnp.mean(per_example)
    if reduction == "sum":
        return cnp.sum(per_example)
    return per_example


def _check_reduction(name, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _values(x):
    return np.asarray(_primal(x))


def _verb(what, singular):
    """``"has"``/``"contains"`` for "the target", ``"have"``/``"contain"`` for "the labels"."""
    if not what.endswith("s"):
        return singular
    return "have" if singular == "has" else singular[:-1]


@host
def _check_no_nan(name, what, v):
    if v.dtype.kind not in "fc":
        return
    if not np.isnan(np.sum(v)):                    # fast path: one pass, no temporary array
        return
    bad = np.isnan(v)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}: {what} {_verb(what, 'contains')} NaN ({int(bad.sum())} of {v.size} "
                         f"entries, the first at index {first if len(first) != 1 else first[0]})")


def _check_prediction(name, x):
    v = _values(x)
    if v.dtype.kind not in "biuf":            # real numbers (bool counts, as in NumPy)
        raise TypeError(f"{name}: the prediction must be a real array, got dtype {v.dtype}")
    _check_no_nan(name, "the prediction", v)
    return v


def _float_dtype(pred_values):
    return pred_values.dtype if pred_values.dtype.kind == "f" else np.dtype(np.float64)


@host
def _float_like(target, pred_values):
    """The target as an array of the prediction's floating dtype (a constant)."""
    return np.asarray(_primal(target), dtype=_float_dtype(pred_values))


def _is_traced(x):
    return isinstance(x, Tensor) and x._trace is not None


def _real_target(name, target, pred_values, what="the target"):
    """``(target to compute with, its values)``: a traced target stays traced (differentiable,
    cast to the prediction's dtype), any other becomes a constant array; NaN is refused."""
    if _is_traced(target):
        dtype = _float_dtype(pred_values)
        if target.dtype != dtype:
            target = cnp.astype(target, dtype)
        values = _values(target)
    else:
        target = values = _float_like(target, pred_values)
    _check_no_nan(name, what, values)
    return target, values


def _same_shape(name, pred, target, what="target"):
    sp, st = _shape(pred), _shape(target)
    if sp != st:
        raise ValueError(f"{name}: the prediction has shape {sp} but the {what} {_verb(what, 'has')} "
                         f"shape {st}; they must be equal (reshape one of them, e.g. pred.reshape(-1))")


@host
def _check_in_unit_interval(name, what, v):
    bad = (v < 0) | (v > 1)
    if bad.any():
        raise ValueError(f"{name}: {what} must lie in [0, 1]; got values {shown(v[bad])} "
                         f"({int(bad.sum())} of {v.size} entries)")


@host
def _check_rows_sum_to_one(name, tv):
    sums = tv.sum(axis=1)
    off = np.abs(sums - 1) > 1e-4
    if off.any():
        raise ValueError(f"{name}: target rows must sum to 1 (one-hot or a distribution); rows "
                         f"{np.flatnonzero(off)[:6].tolist()} sum to {shown(sums[off])}")


@host
def _labels(name, labels, n, k):
    """Integer class labels of shape (n,), each in [0, k)."""
    y = np.asarray(_primal(labels))
    if y.shape != (n,):
        raise ValueError(f"{name}: labels must have shape ({n},) to match {n} rows of scores, got {y.shape}")
    if y.dtype.kind == "f":
        _check_no_nan(name, "the labels", y)
        if not np.all(y == np.round(y)):
            raise ValueError(f"{name}: labels must be integers, got {shown(y[y != np.round(y)])}")
        y = y.astype(np.intp)
    return _label_range(name, y, k)


def _scores_2d(name, x, what="scores"):
    shape = _shape(x)
    if len(shape) != 2:
        raise ValueError(f"{name}: {what} must have shape (N, K) (one row per example, one column per "
                         f"class), got shape {shape}")
    return shape


@host
def _pm1_labels(name, y, pred_values):
    v = _values(y)
    _check_no_nan(name, "the labels", v)
    bad = (v != 1) & (v != -1)
    if bad.any():
        if np.all((v == 0) | (v == 1)):
            raise ValueError(f"{name}: labels must be -1 or +1, got 0/1 labels; map them to ±1 first "
                             "(y = 2 * y - 1)")
        raise ValueError(f"{name}: labels must be -1 or +1; got {shown(v[bad])}")
    return _real_target(name, y, pred_values, "the labels")[0]


# --------------------------------------------------------------------------- regression

def mse(pred, target, reduction="mean"):
    """Squared error ``(ŷ - y)²`` per entry; ``"mean"`` averages over all entries."""
    _check_reduction("mse", reduction)
    pv = _check_prediction("mse", pred)
    _same_shape("mse", pred, target)
    t, _ = _real_target("mse", target, pv)
    return _reduce(cnp.square(pred - t), reduction)


# --------------------------------------------------------------------------- log-loss family

def log_loss(p_or_logits, y, from_logits=False, reduction="mean"):
    """Binary log-loss ``-y log p - (1 - y) log(1 - p)`` per entry, ``y`` in [0, 1] (usually 0 or 1).

    With ``from_logits=True`` the input is the logit ``a`` (``p = σ(a)``) and the loss is
    computed as ``softplus(a) - y·a``, exact for any ``a`` (also ``|a| = 1e4``); prefer it to
    passing probabilities, whose logarithm is infinite where ``p`` rounds to 0 or 1.
    """
    name = "log_loss"
    _check_reduction(name, reduction)
    pv = _check_prediction(name, p_or_logits)
    _same_shape(name, p_or_logits, y, "labels")
    t, tv = _real_target(name, y, pv, "the labels")
    _check_in_unit_interval(name, "labels", tv)
    if from_logits:
        # -log σ(a)·y - log σ(-a)·(1 - y) = softplus(a) - y·a;  d/da = σ(a) - y
        per = special.softplus(p_or_logits) - t * p_or_logits
    else:
        _check_in_unit_interval(name, "probabilities (pass from_logits=True for logits)", pv)
        per = -(special.xlogy(t, p_or_logits) + special.xlogy(1.0 - t, 1.0 - p_or_logits))
    return _reduce(per, reduction)


binary_cross_entropy = log_loss


@host
def _check_log_probs(name, v):
    tol = 1e-4 if v.dtype == np.float32 else 1e-10
    if v.size and v.max() > tol:
        raise ValueError(f"{name}: log-probabilities must be ≤ 0, got values up to {v.max().item():.4g}; "
                         "pass log_softmax(logits), or use cross_entropy on the logits")


def cross_entropy(logits, target, reduction="mean"):
    """Multiclass cross-entropy ``-Σ_k t_k log softmax(a)_k`` per row of ``logits`` (N, K).

    ``target`` is either integer labels of shape (N,) (then the loss is ``-log softmax(a)[y]``,
    picked with one gather) or rows of shape (N, K): one-hot rows or soft distributions (a
    traced distribution is differentiated too).  One sample may be given unbatched, as in
    PyTorch: logits (K,) with a scalar label or a (K,) distribution.
    """
    name = "cross_entropy"
    _check_reduction(name, reduction)
    pv = _values(logits)
    t = _primal(target)
    if pv.ndim == 2 and pv.dtype.kind in "biuf" and (t.ndim if type(t) is np.ndarray else np.ndim(t)) == 1:
        # labels: one fused primitive. NaN in the logits makes the loss NaN, so they are
        # looked for only then (a pass less over the logits at every step)
        n, k = pv.shape
        out = _checked_softmax_cross_entropy(logits, _labels(name, target, n, k), reduction, n)
        v = _values(out)
        if math.isnan(v) if v.ndim == 0 else np.isnan(v.sum()):
            _check_no_nan(name, "the prediction", pv)
        return out
    pv = _check_prediction(name, logits)
    if pv.ndim == 1:
        return _one_sample_cross_entropy(logits, target, reduction)
    n, k = _scores_2d(name, logits, "logits")
    if _shape(target) != (n, k):
        raise ValueError(f"{name}: target must be labels of shape ({n},) or rows of shape ({n}, {k}), "
                         f"got shape {_shape(target)}")
    t, tv = _real_target(name, target, pv)
    _check_in_unit_interval(name, "target probabilities", tv)
    _check_rows_sum_to_one(name, tv)
    per = -cnp.sum(t * special.log_softmax(logits, axis=-1), axis=-1)
    return _reduce(per, reduction)


def _one_sample_cross_entropy(logits, target, reduction):
    """Logits (K,) with a scalar label or a (K,) distribution: the loss of a batch of one."""
    k = _shape(logits)[0]
    ts = _shape(target)
    tv = np.asarray(_primal(target))
    if ts == (k,) and tv.size and (tv.min() < 0 or tv.max() > 1 or abs(float(tv.sum()) - 1) > 1e-4):
        raise ValueError(f"cross_entropy: logits of shape ({k},) are one sample with {k} classes, and the "
                         f"target of shape {ts} is no distribution over them; for a batch of {k} binary "
                         "scores use log_loss(scores, y, from_logits=True), or give logits of shape (N, K)")
    if ts not in ((), (k,)):
        raise ValueError(f"cross_entropy: for logits of shape ({k},) (one sample) the target must be a "
                         f"scalar label or a distribution of shape ({k},), got shape {ts}")
    per = cross_entropy(cnp.reshape(logits, (1, k)), cnp.reshape(target, (1,) + ts), "none")
    return _reduce(cnp.reshape(per, ()), reduction)


def nll_loss(log_probs, labels, reduction="mean"):
    """Negative log-likelihood ``-log p(yᵢ)`` from log-probabilities (N, K) and labels (N,); one
    sample may be given unbatched, as in PyTorch: log-probabilities (K,) with a scalar label."""
    name = "nll_loss"
    _check_reduction(name, reduction)
    v = _check_prediction(name, log_probs)
    if v.ndim == 1:
        if np.ndim(_primal(labels)) != 0:
            raise ValueError(f"{name}: for log-probabilities of shape {v.shape} (one sample) the label must "
                             f"be a scalar, got shape {np.shape(_primal(labels))}")
        per = nll_loss(cnp.reshape(log_probs, (1,) + v.shape), np.reshape(_primal(labels), (1,)), "none")
        return _reduce(cnp.reshape(per, ()), reduction)
    n, k = _scores_2d(name, log_probs, "log-probabilities")
    _check_log_probs(name, v)
    y = _labels(name, labels, n, k)
    return _reduce(-_pick_p(log_probs, y), reduction)      # one primitive: a replayable step


def kl_div(target, predicted, reduction="mean"):
    """``KL(target ‖ predicted) = Σ_k t_k log(t_k / p_k)`` over the last axis, with ``0 log 0 = 0``.

    Both are probability distributions (rows of shape (..., K)).  This is the true KL divergence
    of the arguments in this order; ``"mean"`` averages over the distributions (rows), not the
    entries.  For a one-hot target it is ``-log p(y)``, the cross-entropy.
    """
    name = "kl_div"
    _check_reduction(name, reduction)
    pv = _check_prediction(name, predicted)
    _same_shape(name, predicted, target)
    if not _shape(predicted):
        raise ValueError(f"{name}: distributions need at least one axis, got a scalar")
    tv = _values(target)
    _check_no_nan(name, "the target", tv)
    _check_in_unit_interval(name, "target probabilities", tv)
    _check_in_unit_interval(name, "predicted probabilities", pv)
    if not (isinstance(target, Tensor) and target._trace is not None):    # a constant target
        target = _float_like(target, pv)
    per = cnp.sum(special.xlogy(target, target) - special.xlogy(target, predicted), axis=-1)
    return _reduce(per, reduction)


# --------------------------------------------------------------------------- hinge family

def _margin_violation(scores, y):
    z = 1.0 - y * scores
    return z, _values(z) > 0


def hinge(scores, y, reduction="mean"):
    """Binary hinge loss ``max{0, 1 - yᵢ·sᵢ}`` with labels ``yᵢ ∈ {-1, +1}`` (0/1 labels are refused)."""
    name = "hinge"
    _check_reduction(name, reduction)
    pv = _check_prediction(name, scores)
    _same_shape(name, scores, y, "labels")
    z, active = _margin_violation(scores, _pm1_labels(name, y, pv))
    return _reduce(cnp.where(active, z, 0), reduction)       # derivative 0 at the kink, like relu


def squared_hinge(scores, y, reduction="mean"):
    """``max{0, 1 - yᵢ·sᵢ}²``, labels ±1: a differentiable hinge."""
    name = "squared_hinge"
    _check_reduction(name, reduction)
    pv = _check_prediction(name, scores)
    _same_shape(name, scores, y, "labels")
    z, active = _margin_violation(scores, _pm1_labels(name, y, pv))
    return _reduce(cnp.square(cnp.where(active, z, 0)), reduction)


def multiclass_hinge(scores, labels, margin=1.0, reduction="mean"):
    """Weston–Watkins: ``Σ_{k ≠ yᵢ} max{0, margin + s_k - s_{yᵢ}}`` per row of ``scores`` (N, K)."""
    name = "multiclass_hinge"
    _check_reduction(name, reduction)
    _check_prediction(name, scores)
    n, k = _scores_2d(name, scores)
    y = _labels(name, labels, n, k)
    correct = cnp.reshape(scores[np.arange(n), y], (n, 1))
    z = (scores - correct) + float(margin)
    active = (_values(z) > 0) & (np.arange(k) != y[:, None])    # the true class never counts
    return _reduce(cnp.sum(cnp.where(active, z, 0), axis=1), reduction)


# --------------------------------------------------------------------------- modules

class _Loss(Module):
    _fn = None

    def __init__(self, reduction="mean"):
        super().__init__()
        _check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def forward(self, prediction, target):
        return type(self)._fn(prediction, target, reduction=self.reduction)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    _fn = staticmethod(mse)


class CrossEntropyLoss(_Loss):
    _fn = staticmethod(cross_entropy)


class NLLLoss(_Loss):
    _fn = staticmethod(nll_loss)


class HingeLoss(_Loss):
    _fn = staticmethod(hinge)


class SquaredHingeLoss(_Loss):
    _fn = staticmethod(squared_hinge)


class KLDivLoss(_Loss):
    """``KLDivLoss()(predicted, target)`` is ``kl_div(target, predicted)``: the module takes the
    prediction first, like every loss module; the function takes the arguments in KL's order."""

    def forward(self, predicted, target):
        return kl_div(target, predicted, reduction=self.reduction)


class LogLoss(_Loss):
    def __init__(self, from_logits=False, reduction="mean"):
        super().__init__(reduction)
        self.from_logits = bool(from_logits)

    def forward(self, prediction, target):
        return log_loss(prediction, target, from_logits=self.from_logits, reduction=self.reduction)

    def extra_repr(self):
        return f"from_logits={self.from_logits}, reduction={self.reduction!r}"


class MultiClassHingeLoss(_Loss):
    def __init__(self, margin=1.0, reduction="mean"):
        super().__init__(reduction)
        self.margin = float(margin)

    def forward(self, scores, labels):
        return multiclass_hinge(scores, labels, margin=self.margin, reduction=self.reduction)

    def extra_repr(self):
        return f"margin={self.margin}, reduction={self.reduction!r}"
