"""Reductions and cumulative reductions.

The VJP of a sum broadcasts the cotangent back over the summed axes; ``max``/``min`` send it
to the elements that won, ``prod`` to each element times the product of the others.  ``mean``,
``var``, ``std`` and ``average`` are composites of these.  ``cumsum`` and ``cumprod`` are
primitives whose rules run along one axis counted from the end (a negative axis), so the
leading batch axes of tangents and cotangents pass through untouched.

Products stay exact where the input has zeros: there ``prod`` and ``cumprod`` differentiate
through a division-free scan (products of prefixes and suffixes) instead of ``prod / x``.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._checks import refused_keywords
from .._core import Tensor, _dtype, _ndim, _primal, _shape, defjvp, defvjp, primitive
from ._indexing import getitem, normalize_index, scatter_add
from ._shape import _broadcast_p, _nb, _reshape_p, _transpose_p, broadcast_to, ravel
from ._ufuncs import astype, sqrt

__all__ = ["sum", "mean", "prod", "max", "min", "amax", "amin", "var", "std", "average",
           "cumsum", "cumprod"]


def _reduction_axes(name, axis, ndim):
    """``axis`` (int, tuple or None) as a tuple of non-negative ints, with errors naming ``name``."""
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and -ndim <= axis < ndim:          # the common case, checked fast
        return (axis % ndim,)
    many = isinstance(axis, (tuple, list))
    out = []
    for a in (axis if many else (axis,)):
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{name}: axis must be an int, a tuple of ints or None, got {axis!r}")
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(
                f"{name}: axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: duplicate value in axis={axis!r}")
    return tuple(out)


def _one_axis(name, axis, ndim):
    """A single axis, as a negative int counted from the end (batch axes are leading)."""
    if isinstance(axis, (tuple, list)):
        raise TypeError(f"{name}: axis must be an int or None, got {axis!r}")
    (a,) = _reduction_axes(name, axis, ndim)
    return a - ndim


def _size(shape, axes):
    n = 1
    for k in axes:
        n *= shape[k]
    return n


def _keep(g, x, axes, keepdims):
    """Reshape a reduced cotangent (with batch axes) so it broadcasts against ``x``."""
    if keepdims:
        return g
    shape = _shape(g)
    nb = len(shape) - (_ndim(x) - len(axes))
    kept = iter(shape[nb:])
    full = tuple(1 if k in axes else next(kept) for k in range(_ndim(x)))
    return _reshape_p(g, shape[:nb] + full)


def _float_dtype(x):
    dtype = _dtype(x)
    return dtype if np.issubdtype(dtype, np.inexact) else np.dtype(np.float64)


# --------------------------------------------------------------------------- sum, mean

def _sum(x, axis, keepdims):
    if type(x) is np.ndarray:                   # the method skips NumPy's Python-level wrapper
        return x.sum(axis=axis, keepdims=keepdims)
    return np.sum(x, axis=axis, keepdims=keepdims)


def _sum_vjp(g, ans, x, axis, keepdims):
    g = _keep(g, x, axis, keepdims)
    return _broadcast_p(g, _shape(g)[:_nb(g, x)] + _shape(x))


def _sum_jvp(t, ans, x, axis, keepdims):
    nb = _nb(t, x)
    return _sum_p(t, tuple(a + nb for a in axis), keepdims)


_sum_p = primitive(_sum, name="sum")
_sum_p.prim.shape_only = (0,)                   # the rule broadcasts g to x's shape
defvjp(_sum_p, _sum_vjp)
defjvp(_sum_p, _sum_jvp)


def _numpy_only(name, np_fn, a, out, kwargs, **given):
    """NumPy's own reduction for the keywords chainrule does not differentiate (``out=``,
    ``where=``, ``initial=``): what NumPy returns on plain arrays, refused on tensors."""
    if not isinstance(a, Tensor):
        return np_fn(a, out=out, **given, **kwargs)
    raise refused_keywords(name, (["out"] if out is not None else []) + sorted(kwargs))


def _integers(dtype):
    """Whether ``dtype=`` asks for integers (or booleans): a result without a derivative, which
    NumPy computes with its own promotion rules (int8 summed as int16 is int16, not int64)."""
    return dtype is not None and not np.issubdtype(np.dtype(dtype), np.inexact)


def sum(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):  # noqa: A001
    """``numpy.sum``."""
    if out is not None or kwargs:
        return _numpy_only("sum", np.sum, a, out, kwargs, axis=axis, dtype=dtype, keepdims=keepdims)
    if _integers(dtype):
        return np.sum(_primal(a), axis=axis, dtype=dtype, keepdims=keepdims)
    axes = _reduction_axes("sum", axis, _ndim(a))
    if dtype is not None:
        a = a.astype(dtype) if hasattr(a, "astype") else np.asarray(a, dtype)
    return _sum_p(a, axes, keepdims)


def mean(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    """``numpy.mean``."""
    if out is not None or kwargs:
        return _numpy_only("mean", np.mean, a, out, kwargs, axis=axis, dtype=dtype, keepdims=keepdims)
    if _integers(dtype):
        return np.mean(_primal(a), axis=axis, dtype=dtype, keepdims=keepdims)
    axes = _reduction_axes("mean", axis, _ndim(a))
    n = _size(_shape(a), axes)
    total = sum(a, axes, dtype, out, keepdims, **kwargs)
    return total / n if n else total * np.nan


# --------------------------------------------------------------------------- max, min

def _max(x, axes, keepdims):
    return np.max(x, axis=axes, keepdims=keepdims)


def _min(x, axes, keepdims):
    return np.min(x, axis=axes, keepdims=keepdims)


def _winners(ans, x, axes, keepdims):
    """∂max/∂x: 1/k on each of the k elements equal to the result, 0 elsewhere (a constant)."""
    xv, best = np.asarray(_primal(x)), np.asarray(_primal(ans))
    if not keepdims:
        best = np.expand_dims(best, axes)
    hit = (xv == best) | (np.isnan(xv) & np.isnan(best))   # a NaN result comes from the NaNs
    w = hit.astype(_float_dtype(x))
    return w / np.sum(w, axis=axes, keepdims=True)


def _extreme_vjp(g, ans, x, axes, keepdims):
    return _keep(g, x, axes, keepdims) * _winners(ans, x, axes, keepdims)


def _extreme_jvp(t, ans, x, axes, keepdims):
    nb = _nb(t, x)
    return _sum_p(t * _winners(ans, x, axes, keepdims), tuple(k + nb for k in axes), keepdims)


_max_p = primitive(_max, name="max")
_min_p = primitive(_min, name="min")
for _p in (_max_p, _min_p):
    defvjp(_p, _extreme_vjp)
    defjvp(_p, _extreme_jvp)


def _extreme(name, prim, a, axis, out, keepdims, kwargs):
    if out is not None or kwargs:
        return _numpy_only(name, getattr(np, name), a, out, kwargs, axis=axis, keepdims=keepdims)
    shape = _shape(a)
    axes = _reduction_axes(name, axis, len(shape))
    empty = [k for k in axes if shape[k] == 0]
    if empty:
        raise ValueError(f"{name}: cannot reduce an array of shape {shape} over its empty axis "
                         f"{empty[0]}: the operation has no identity")
    return prim(a, axes, keepdims)


_TIES = """

    The derivative of a maximum is 1 for the element that attains it and 0 for the others.
    Where several elements tie for the result, the gradient is split equally among them
    (each gets 1/k for k tied elements), the average over the choices of one winner: the gradient
    of ``max`` over ``[1, 3, 3]`` is ``[0, 0.5, 0.5]``.  A NaN result sends the gradient to
    the NaNs.
    """


def max(a, axis=None, out=None, keepdims=False, **kwargs):  # noqa: A001
    return _extreme("max", _max_p, a, axis, out, keepdims, kwargs)


def min(a, axis=None, out=None, keepdims=False, **kwargs):  # noqa: A001
    return _extreme("min", _min_p, a, axis, out, keepdims, kwargs)


def amax(a, axis=None, out=None, keepdims=False, **kwargs):
    return _extreme("amax", _max_p, a, axis, out, keepdims, kwargs)


def amin(a, axis=None, out=None, keepdims=False, **kwargs):
    return _extreme("amin", _min_p, a, axis, out, keepdims, kwargs)


max.__doc__ = "``numpy.max``: the largest element along ``axis``." + _TIES
amax.__doc__ = "``numpy.amax``, the same function as ``max``." + _TIES
min.__doc__ = "``numpy.min``: the smallest element along ``axis``." + _TIES.replace("maximum", "minimum")
amin.__doc__ = "``numpy.amin``, the same function as ``min``." + _TIES.replace("maximum", "minimum")


# --------------------------------------------------------------------------- scans along one axis
# The helpers below work along a negative ``axis``; they accept leading batch axes.

def _along(axis, ix):
    """An index applying slice ``ix`` at (negative) ``axis`` of an array of any rank."""
    return (Ellipsis, ix) + (slice(None),) * (-axis - 1)


def _flip(x, axis):
    return getitem(x, _along(axis, slice(None, None, -1)))


def _shift(x, k, axis, fill):
    """Move the elements ``k`` places up ``axis``; the first ``k`` places get ``fill``."""
    shape = _shape(x)
    n = shape[axis]
    k = k if k < n else n
    moved = getitem(x, _along(axis, slice(0, n - k)))
    out = scatter_add(moved, normalize_index(_along(axis, slice(k, n)), len(shape)), shape)
    if fill:
        edge = np.zeros((n,) + (1,) * (-axis - 1), _dtype(x))
        edge[:k] = fill
        out = out + edge
    return out


def _linear_scan(a, b, axis):
    """``w[k] = a[k] * w[k-1] + b[k]`` along ``axis`` (``w[-1] = 0``), by doubling.

    Step ``d`` composes each affine map with the one ``d`` places earlier, so after
    ``log2(n)`` steps every place holds the composition of all maps up to it.  Only
    products and sums: differentiable to any order and exact where ``a`` has zeros.
    """
    n = _shape(b)[axis]
    d = 1
    while d < n:
        b = b + a * _shift(b, d, axis, 0)
        if 2 * d < n:
            a = a * _shift(a, d, axis, 1)
        d *= 2
    return b


def _has_zero(x):
    return bool(np.any(np.asarray(_primal(x)) == 0))


# --------------------------------------------------------------------------- cumsum, cumprod

def _cumsum(x, axis):
    return np.cumsum(x, axis=axis)


_cumsum_p = primitive(_cumsum, name="cumsum")
# the transpose of a running sum is the running sum from the other end
defvjp(_cumsum_p, lambda g, ans, x, axis: _flip(_cumsum_p(_flip(g, axis), axis), axis))
defjvp(_cumsum_p, lambda t, ans, x, axis: _cumsum_p(t, axis))


def _cumprod(x, axis):
    return np.cumprod(x, axis=axis)


def _cumprod_vjp(g, ans, x, axis):
    # x̄_i = Σ_{k≥i} g_k ∂c_k/∂x_i = (∏_{j<i} x_j) · V_i,  V_i = g_i + x_{i+1} V_{i+1}
    if not _has_zero(x):
        return _flip(_cumsum_p(_flip(g * ans, axis), axis), axis) / x
    v = _flip(_linear_scan(_shift(_flip(x, axis), 1, axis, 0), _flip(g, axis), axis), axis)
    return _shift(ans, 1, axis, 1) * v


def _cumprod_jvp(t, ans, x, axis):
    # ċ_k = x_k ċ_{k-1} + t_k ∏_{j<k} x_j   (= c_k Σ_{i≤k} t_i / x_i without zeros)
    if not _has_zero(x):
        return ans * _cumsum_p(t / x, axis)
    return _linear_scan(x, t * _shift(ans, 1, axis, 1), axis)


_cumprod_p = primitive(_cumprod, name="cumprod")
defvjp(_cumprod_p, _cumprod_vjp)
defjvp(_cumprod_p, _cumprod_jvp)


def _cumulative(name, prim, a, axis, dtype, out):
    if out is not None:
        return _numpy_only(name, getattr(np, name), a, out, {}, axis=axis, dtype=dtype)
    if _integers(dtype):
        return getattr(np, name)(_primal(a), axis=axis, dtype=dtype)
    if dtype is not None:
        a = astype(a, dtype) if isinstance(a, Tensor) else np.asarray(a, dtype)
    if axis is None:
        a, axis = ravel(a), 0
    return prim(a, _one_axis(name, axis, _ndim(a)))


def cumsum(a, axis=None, dtype=None, out=None):
    """``numpy.cumsum``; ``axis=None`` runs over the flattened array."""
    return _cumulative("cumsum", _cumsum_p, a, axis, dtype, out)


def cumprod(a, axis=None, dtype=None, out=None):
    """``numpy.cumprod``; ``axis=None`` runs over the flattened array.  Derivatives are exact
    where ``a`` has zeros (no division by ``a``)."""
    return _cumulative("cumprod", _cumprod_p, a, axis, dtype, out)


# --------------------------------------------------------------------------- prod

def _prod(x, axes, keepdims):
    return np.prod(x, axis=axes, keepdims=keepdims)


def _others(ans, x, axes, keepdims):
    """∂prod/∂x_i: the product of the other elements of x_i's slice.

    Without zeros that is ``prod / x_i``.  With zeros it is the product of everything before
    x_i times everything after it along the (flattened) reduced axes, from running products.
    """
    if not _has_zero(x):
        return _keep(ans, x, axes, keepdims) / x
    shape = _shape(x)
    kept = tuple(k for k in range(len(shape)) if k not in axes)
    perm = kept + tuple(axes)
    moved = tuple(shape[k] for k in perm)
    lined = _reshape_p(_transpose_p(x, perm), moved[:len(kept)] + (_size(shape, axes),))
    before = _shift(_cumprod_p(lined, -1), 1, -1, 1)
    after = _flip(_shift(_cumprod_p(_flip(lined, -1), -1), 1, -1, 1), -1)
    others = _reshape_p(before * after, moved)
    return _transpose_p(others, tuple(np.argsort(perm)))


def _prod_vjp(g, ans, x, axes, keepdims):
    return _keep(g, x, axes, keepdims) * _others(ans, x, axes, keepdims)


def _prod_jvp(t, ans, x, axes, keepdims):
    nb = _nb(t, x)
    return _sum_p(t * _others(ans, x, axes, keepdims), tuple(k + nb for k in axes), keepdims)


_prod_p = primitive(_prod, name="prod")
defvjp(_prod_p, _prod_vjp)
defjvp(_prod_p, _prod_jvp)


def prod(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    """``numpy.prod``.  Its derivatives are exact where ``a`` has zeros: with one zero only that
    element's gradient is nonzero (the product of the others), with two or more all are 0."""
    if out is not None or kwargs:
        return _numpy_only("prod", np.prod, a, out, kwargs, axis=axis, dtype=dtype, keepdims=keepdims)
    if _integers(dtype):
        return np.prod(_primal(a), axis=axis, dtype=dtype, keepdims=keepdims)
    axes = _reduction_axes("prod", axis, _ndim(a))
    if dtype is not None:
        a = astype(a, dtype) if isinstance(a, Tensor) else np.asarray(a, dtype)
    return _prod_p(a, axes, keepdims)


# --------------------------------------------------------------------------- var, std, average

def _var(name, a, axis, dtype, out, ddof, keepdims, correction, kwargs):
    if out is not None or kwargs:
        if correction is not None:
            kwargs = {**kwargs, "correction": correction}
        return _numpy_only(name, getattr(np, name), a, out, kwargs, axis=axis, dtype=dtype, ddof=ddof,
                           keepdims=keepdims)
    if correction is not None:
        if ddof != 0:
            raise ValueError(f"{name}: ddof and correction can't be provided simultaneously")
        ddof = correction
    if _integers(dtype):
        return getattr(np, name)(_primal(a), axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)
    axes = _reduction_axes(name, axis, _ndim(a))
    if dtype is not None:
        a = astype(a, dtype) if isinstance(a, Tensor) else np.asarray(a, dtype)
    dev = a - mean(a, axes, keepdims=True)
    total = sum(dev * dev, axes, keepdims=keepdims)
    dof = _size(_shape(a), axes) - ddof
    if dof > 0:
        return total / dof
    warnings.warn(f"{name}: degrees of freedom <= 0 (n - ddof = {dof}) over axis {axis}",
                  RuntimeWarning, stacklevel=3)
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / 0.0


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, correction=None, **kwargs):
    """``numpy.var``: ``sum((a - mean(a))**2) / (n - ddof)`` over ``axis``."""
    return _var("var", a, axis, dtype, out, ddof, keepdims, correction, kwargs)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, correction=None, **kwargs):
    """``numpy.std``: the square root of ``var``; where ``var`` is 0 its gradient is ``nan``
    (0 · ∞, as in JAX)."""
    if out is not None or kwargs or _integers(dtype):     # NumPy's own std
        return _var("std", a, axis, dtype, out, ddof, keepdims, correction, kwargs)
    return sqrt(_var("std", a, axis, dtype, out, ddof, keepdims, correction, kwargs))


def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """``numpy.average``: ``sum(a * w) / sum(w)`` over ``axis``; differentiable in ``a`` and in
    ``weights``.  ``weights`` is shaped like ``a`` or, with ``axis`` given, like ``a``'s
    ``axis`` dimensions."""
    if not isinstance(a, Tensor):
        a = np.asarray(a)
    shape = _shape(a)
    axes = None if axis is None else _reduction_axes("average", axis, len(shape))
    if weights is None:
        avg = mean(a, axes, keepdims=keepdims)
        scale = np.asarray(np.size(_primal(a)) / np.size(_primal(avg)), _float_dtype(avg))
    else:
        w = weights if isinstance(weights, Tensor) else np.asarray(weights)
        wshape = _shape(w)
        if wshape != shape:
            if axes is None:
                raise TypeError(f"average: axis must be given when a {shape} and weights "
                                f"{wshape} have different shapes")
            along = tuple(shape[k] for k in axes)
            if wshape != along:
                raise ValueError(f"average: weights of shape {wshape} do not match a {shape} "
                                 f"along axis {axis} (expected {along})")
            w = _transpose_p(w, tuple(np.argsort(axes)))
            w = _reshape_p(w, tuple(s if k in axes else 1 for k, s in enumerate(shape)))
        dtype = np.result_type(_dtype(a), _dtype(w))
        if not np.issubdtype(_dtype(a), np.inexact):
            dtype = np.result_type(dtype, np.float64)
        a = a if _dtype(a) == dtype else astype(a, dtype)
        w = w if _dtype(w) == dtype else astype(w, dtype)
        scale = sum(w, axes, keepdims=keepdims)
        if np.any(np.asarray(_primal(scale)) == 0):
            raise ZeroDivisionError("average: weights sum to zero, can't be normalized")
        avg = sum(a * w, axes, keepdims=keepdims) / scale
    if not returned:
        return avg
    if _shape(scale) != _shape(avg):
        scale = broadcast_to(scale, _shape(avg))
    return avg, scale
