"""Fused, weighted data losses for the estimators: one primitive each, with its own rules.

Each takes the model's output ``a`` of shape (n, k), constant targets ``T`` of the same shape and
constant row weights ``w`` of shape (n,) (the normalised sample weights, summing to 1), and
returns the scalar ``Σᵢ wᵢ Lᵢ``.  A fused primitive is one node in the graph instead of five to
ten, which is measurably faster in the minibatch loop; the rules are written with chainrule's
differentiable functions, so second derivatives work as everywhere else.

* ``softmax_cross_entropy``: ``Lᵢ = logsumexp(aᵢ) - Tᵢ·aᵢ`` (rows of ``T`` sum to 1), the
  per-row primitive of ``chainrule.nn.functional`` weighted by a dot product;
* ``sigmoid_cross_entropy``: ``Lᵢ = Σ_k softplus(a_ik) - T_ik a_ik`` (binary log-loss per column);
* ``half_squared_error``: ``Lᵢ = ½ Σ_k (a_ik - T_ik)²``.
"""

from __future__ import annotations

import numpy as np

from .. import numpy as cnp
from .. import special
from .._core import _ndim, _shape, defjvp, defvjp, primitive
from ..nn import functional as F

__all__ = ["softmax_cross_entropy", "sigmoid_cross_entropy", "half_squared_error", "clipped_log_loss"]


def _as_column_scale(g):
    """A scalar cotangent (with leading batch axes) shaped to scale an (n, k) array."""
    return cnp.reshape(g, _shape(g) + (1, 1))


def _contract(t, d):
    """``Σ_ik t_ik d_ik`` for a tangent ``t`` with leading batch axes."""
    nb = _ndim(t) - 2
    return cnp.sum(t * d, axis=(nb, nb + 1))


# --------------------------------------------------------------------------- softmax cross-entropy

def softmax_cross_entropy(a, T, w):
    """``Σᵢ wᵢ (logsumexp(aᵢ) - Tᵢ·aᵢ)``: the rows' fused cross-entropy, weighted."""
    return cnp.dot(w, F.softmax_cross_entropy(a, T))


# --------------------------------------------------------------------------- sigmoid cross-entropy

def _sigmoid_cross_entropy(a, T, w):
    with np.errstate(under="ignore"):
        softplus = np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))
    return np.dot(w, np.sum(softplus - a * T, axis=1))


def _sigmoid_ce_direction(a, T, w):
    # d(softplus(a) - t·a)/da = σ(a) - t
    return (special.sigmoid(a) - T) * w[:, None]


sigmoid_cross_entropy = primitive(_sigmoid_cross_entropy, name="sigmoid_cross_entropy")
defvjp(sigmoid_cross_entropy, lambda g, ans, a, T, w: _as_column_scale(g) * _sigmoid_ce_direction(a, T, w))
defjvp(sigmoid_cross_entropy, lambda t, ans, a, T, w: _contract(t, _sigmoid_ce_direction(a, T, w)))


# --------------------------------------------------------------------------- squared error

def _half_squared_error(a, T, w):
    r = a - T
    return 0.5 * np.dot(w, np.einsum("ik,ik->i", r, r))


def _squared_error_direction(a, T, w):
    return (a - T) * w[:, None]                              # d ½(a - t)²/da = a - t


half_squared_error = primitive(_half_squared_error, name="half_squared_error")
defvjp(half_squared_error, lambda g, ans, a, T, w: _as_column_scale(g) * _squared_error_direction(a, T, w))
defjvp(half_squared_error, lambda t, ans, a, T, w: _contract(t, _squared_error_direction(a, T, w)))


# --------------------------------------------------------------------------- the value scikit-learn reports

def clipped_log_loss(out_activation, a, T, w):
    """The log-loss *value* as scikit-learn records it (``loss_curve_``, and so its stopping
    rule): each probability clipped to [ε, 1 - ε] (ε of ``a``'s dtype) before its logarithm, so
    each term lies in [-log(1 - ε), -log ε] (36.04 in float64). The gradient is the exact one of
    the functions above, as scikit-learn's is: only a saturated model's recorded loss differs.
    ``a``, ``T`` and ``w`` are plain arrays; ``out_activation`` is ``"softmax"`` or ``"logistic"``."""
    eps = np.finfo(a.dtype).eps
    lo, hi = -np.log1p(-eps), -np.log(eps)
    with np.errstate(under="ignore"):
        if out_activation == "softmax":            # one-hot rows: the target class's term
            terms = np.clip(F._softmax_cross_entropy(a, T, False, 1), lo, hi)
        else:                                      # each column a binary log-loss
            softplus = np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a)))
            terms = np.clip(softplus - a * T, lo, hi).sum(axis=1)
    return float(np.dot(w, terms))
