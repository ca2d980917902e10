"""Special functions of deep learning: sigmoid, softplus, logsumexp, softmax and their kin.

Composed from exp and log they overflow (or lose every digit) long before |x| = 1e4, so each is a
fused primitive that evaluates a shifted, exact form and carries derivative rules of its own.

The rules are written with differentiable functions (``dσ/dx = σ'(x)``, ``d logsumexp = softmax``),
so second and higher derivatives are as exact as the values.  Underflow of ``exp`` to 0 is the
correctly rounded answer, not an error, so it is silenced inside the primitives.
"""

from __future__ import annotations

import numpy as np

from ._core import Tensor, _ndim, _primal, _shape, defjvp, defvjp, primitive
from .numpy import broadcast_to, negative, reshape, sum, tanh, where
from .numpy._shape import _axes

__all__ = ["sigmoid", "logistic", "expit", "log_sigmoid", "softplus", "logsumexp", "softmax", "log_softmax",
           "xlogy"]


def _nb(t, x):
    """Leading batch axes of a tangent or cotangent ``t`` beyond the shape of ``x``."""
    return _ndim(t) - _ndim(x)


def _shift(axes, nb):
    return tuple(a + nb for a in axes)


# --------------------------------------------------------------------------- sigmoid, softplus

def _sigmoid(x):
    """The logistic sigmoid ``σ(x) = 1 / (1 + e^{-x})``, exact for any ``x``."""
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(x))                     # in (0, 1]: never overflows
        r = 1 / (1 + e)                            # σ(|x|)
        return np.where(np.greater_equal(x, 0), r, e * r)   # σ(-|x|) = e^{-|x|}·σ(|x|)


def _sigmoid_derivative(x):
    # σ'(x) = σ(x)(1 - σ(x)) = e^{-|x|} / (1 + e^{-|x|})²: exact even where 1 - σ(x) rounds to 0
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(x))
        return e / ((1 + e) * (1 + e))


sigmoid = primitive(_sigmoid, name="sigmoid")
_sigmoid_rule = lambda g, ans, x: g * _sigmoid_derivative_p(x)
defvjp(sigmoid, _sigmoid_rule)
defjvp(sigmoid, _sigmoid_rule)
logistic = sigmoid
expit = sigmoid                                    # scipy.special's name

# σ' is a primitive of its own so that σ'' = σ'(x)·(σ(-x) - σ(x)) = σ'(x)·tanh(-x/2) is one product
# of a tiny number and a number near ±1, which cannot underflow where the answer does not
_sigmoid_derivative_p = primitive(_sigmoid_derivative, name="sigmoid_derivative")
_sigmoid_derivative_rule = lambda g, ans, x: g * ans * tanh(x * -0.5)
defvjp(_sigmoid_derivative_p, _sigmoid_derivative_rule)
defjvp(_sigmoid_derivative_p, _sigmoid_derivative_rule)


def _softplus(x):
    """``softplus(x) = log(1 + eˣ)``, exact for any ``x`` (a smooth ReLU)."""
    with np.errstate(under="ignore"):
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))   # log(1 + eˣ), shifted by max(x, 0)


softplus = primitive(_softplus, name="softplus")
_softplus_rule = lambda g, ans, x: g * sigmoid(x)                # d softplus(x)/dx = σ(x)
defvjp(softplus, _softplus_rule)
defjvp(softplus, _softplus_rule)


def log_sigmoid(x):
    """``log σ(x) = -softplus(-x)``, exact for any ``x``; its derivative is ``σ(-x)``."""
    return negative(softplus(negative(x)))


# --------------------------------------------------------------------------- softmax family

def _softmax(x, axes):
    m = np.max(x, axis=axes, keepdims=True, initial=-np.inf)     # initial: empty axes too
    with np.errstate(under="ignore"):
        e = np.exp(x - m)                          # ≤ 1: never overflows
        return e / np.sum(e, axis=axes, keepdims=True)


def _softmax_rule(g, ans, x, axes):
    # J = diag(s) - s sᵀ is symmetric, so one formula serves both modes: s ⊙ (g - ⟨g, s⟩)
    inner = sum(g * ans, axis=_shift(axes, _nb(g, ans)), keepdims=True)
    return ans * (g - inner)


_softmax_p = primitive(_softmax, name="softmax")
defvjp(_softmax_p, _softmax_rule)
defjvp(_softmax_p, _softmax_rule)


def _log_softmax(x, axes):
    m = np.max(x, axis=axes, keepdims=True, initial=-np.inf)
    shifted = x - m
    with np.errstate(under="ignore", divide="ignore"):          # log 0: the sum over an empty axis
        return shifted - np.log(np.sum(np.exp(shifted), axis=axes, keepdims=True))


def _log_softmax_vjp(g, ans, x, axes):
    # ∂ log s_i / ∂x_j = δ_ij - s_j, so ḡ = g - s·Σ g  (s from softmax(x): exp(ans) would underflow)
    return g - _softmax_p(x, axes) * sum(g, axis=_shift(axes, _nb(g, ans)), keepdims=True)


def _log_softmax_jvp(t, ans, x, axes):
    return t - sum(_softmax_p(x, axes) * t, axis=_shift(axes, _nb(t, x)), keepdims=True)


_log_softmax_p = primitive(_log_softmax, name="log_softmax")
defvjp(_log_softmax_p, _log_softmax_vjp)
defjvp(_log_softmax_p, _log_softmax_jvp)


def _logsumexp(a, b, axes, keepdims):
    m = np.max(a, axis=axes, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)             # no inf - inf; those sums are 0 or inf
    # log 0 = -inf and overflow to inf (only where an entry is +inf) are the answers
    with np.errstate(under="ignore", divide="ignore", over="ignore"):
        e = np.exp(a - m)
        if b is not None:
            e = e * b
        out = np.log(np.sum(e, axis=axes, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axes)


def _weights(a, b, axes):
    """The softmax weights ``w = b·eᵃ / Σ b·eᵃ`` = ∂ logsumexp / ∂a, built from ``softmax``."""
    s = _softmax_p(a, axes)
    if b is None:
        return s, None
    bs = b * s
    total = sum(bs, axis=axes, keepdims=True)
    return bs / total, s / total                   # ∂/∂a and ∂/∂b = eᵃ / Σ b·eᵃ


def _unreduce(g, a, axes, keepdims):
    """Give a reduced cotangent (with its batch axes) size-1 axes where ``axes`` were summed."""
    if keepdims:
        return g
    shape = _shape(g)
    nb = len(shape) - (_ndim(a) - len(axes))
    return reshape(g, shape[:nb] + tuple(1 if k in axes else n for k, n in enumerate(_shape(a))))


def _lse_vjp(which):
    def rule(g, ans, a, b, axes, keepdims):
        return _unreduce(g, a, axes, keepdims) * _weights(a, b, axes)[which]
    return rule


def _lse_jvp(which):
    def rule(t, ans, a, b, axes, keepdims):
        w = _weights(a, b, axes)[which]
        return sum(t * w, axis=_shift(axes, _nb(t, a)), keepdims=keepdims)
    return rule


_logsumexp_p = primitive(_logsumexp, name="logsumexp")
defvjp(_logsumexp_p, _lse_vjp(0), _lse_vjp(1))
defjvp(_logsumexp_p, _lse_jvp(0), _lse_jvp(1))


def _float(x):
    """Traced values pass through; plain integer input becomes float64, as ``np.exp`` would."""
    if isinstance(x, Tensor):
        return x
    x = np.asarray(x)
    return x if x.dtype.kind in "fc" else x.astype(np.float64)


def logsumexp(a, axis=None, keepdims=False, b=None):
    """``log Σ exp(a)`` over ``axis`` (``log Σ b·exp(a)`` with weights ``b``), without overflow.

    The signature of ``scipy.special.logsumexp`` (without ``return_sign``).  Its gradient
    is the softmax of ``a`` over ``axis``.
    """
    a = _float(a)
    axes = _axes(axis, _ndim(a))
    if b is not None:
        sa, sb = _shape(a), _shape(b)
        try:
            shape = np.broadcast_shapes(sa, sb)
        except ValueError:
            raise ValueError(f"logsumexp: a of shape {sa} and b of shape {sb} do not broadcast") from None
        axes = _axes(axis, len(shape))
        if sa != shape:                            # differentiable; the rule of broadcast_to sums back
            a = broadcast_to(a, shape)
        if sb != shape:
            b = broadcast_to(b, shape)
    return _logsumexp_p(a, b, axes, keepdims)


def softmax(x, axis=-1):
    """``exp(x) / Σ exp(x)`` over ``axis`` (an int, a tuple of ints or ``None`` for all)."""
    x = _float(x)
    return _softmax_p(x, _axes(axis, _ndim(x)))


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` over ``axis``, computed as ``(x - max) - log Σ exp(x - max)`` so that
    large logits lose no precision."""
    x = _float(x)
    return _log_softmax_p(x, _axes(axis, _ndim(x)))


# --------------------------------------------------------------------------- xlogy

def _xlogy(x, y):
    """``x * log(y)``, and 0 where ``x == 0`` (also for ``y == 0``), as ``scipy.special.xlogy``."""
    zero = np.asarray(x) == 0
    with np.errstate(divide="ignore"):             # x·log 0 = ∓inf for x ≠ 0 is the answer
        if not np.any(zero):
            return x * np.log(y)
        return np.where(zero, 0, x * np.log(np.where(zero, 1, y)))


def _xlogy_dy(g, ans, x, y):
    # ∂(x log y)/∂y = x / y; 0 where x = y = 0 (xlogy(0, y) = 0 for every y)
    both = (np.asarray(_primal(x)) == 0) & (np.asarray(_primal(y)) == 0)
    return g * x / (where(both, 1, y) if np.any(both) else y)


xlogy = primitive(_xlogy, name="xlogy", broadcasts=True)
# ∂(x log y)/∂x = log y, written as xlogy(g, y) so that a zero cotangent stays zero at y = 0
defvjp(xlogy, lambda g, ans, x, y: xlogy(g, y), _xlogy_dy)
defjvp(xlogy, lambda t, ans, x, y: xlogy(t, y), _xlogy_dy)
