"""Reductions.  The VJP of a sum broadcasts the cotangent back over the summed axes; the
other reductions are built on it or have rules of their own."""

from __future__ import annotations

import numpy as np

from .._core import _ndim, _shape, defjvp, defvjp, primitive
from ._shape import _axes, _broadcast_p, _nb, _reshape_p

__all__ = ["sum", "mean"]


def _keep(g, x, axes, keepdims):
    """Reshape a reduced cotangent (with batch axes) so it broadcasts against ``x``."""
    if keepdims:
        return g
    shape = _shape(g)
    nb = len(shape) - (_ndim(x) - len(axes))
    kept = iter(shape[nb:])
    full = tuple(1 if k in axes else next(kept) for k in range(_ndim(x)))
    return _reshape_p(g, shape[:nb] + full)


def _sum(x, axis, keepdims):
    return np.sum(x, axis=axis, keepdims=keepdims)


def _sum_vjp(g, ans, x, axis, keepdims):
    g = _keep(g, x, axis, keepdims)
    return _broadcast_p(g, _shape(g)[:_nb(g, x)] + _shape(x))


def _sum_jvp(t, ans, x, axis, keepdims):
    nb = _nb(t, x)
    return _sum_p(t, tuple(a + nb for a in axis), keepdims)


_sum_p = primitive(_sum, name="sum")
defvjp(_sum_p, _sum_vjp)
defjvp(_sum_p, _sum_jvp)


def sum(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):  # noqa: A001
    """``numpy.sum``."""
    if out is not None or kwargs:
        raise TypeError("sum: out= and where= are not supported on traced values")
    if dtype is not None:
        a = a.astype(dtype) if hasattr(a, "astype") else np.asarray(a, dtype)
    return _sum_p(a, _axes(axis, _ndim(a)), keepdims)


def mean(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    """``numpy.mean``."""
    axes = _axes(axis, _ndim(a))
    shape = _shape(a)
    n = 1
    for k in axes:
        n *= shape[k]
    total = sum(a, axes, dtype, out, keepdims, **kwargs)
    return total / n if n else total * np.nan
