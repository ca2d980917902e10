"""Making arrays.  ``array``/``asarray`` of a (nested) list that holds traced values stack them
differentiably, and ``full``/``linspace`` follow a traced fill value or endpoints; everything
else makes a plain ``ndarray``, as NumPy does (a constant has no derivative)."""

from __future__ import annotations

import numpy as np

from .._core import Tensor, _dtype, _ndim, _primal, _shape
from ._indexing import index_update
from ._shape import _axes, _reshape_p, broadcast_to, moveaxis, stack
from ._ufuncs import astype, positive

__all__ = ["array", "asarray", "zeros", "ones", "empty", "full", "full_like", "eye", "identity",
           "arange", "linspace"]


def _traced(x):
    return isinstance(x, Tensor) and x._trace is not None


def _holds_traced(obj):
    if isinstance(obj, (list, tuple)):
        return any(_holds_traced(o) for o in obj)
    return _traced(obj)


def _strip(obj):
    if isinstance(obj, (list, tuple)):
        return [_strip(o) for o in obj]
    return _primal(obj)


def _stack_nested(obj, dtype):
    """``obj`` as one array: lists are stacked level by level, constants become ndarrays."""
    if isinstance(obj, (list, tuple)):
        return stack([_stack_nested(o, dtype) for o in obj], dtype=dtype)
    if isinstance(obj, Tensor):
        return obj if obj.dtype == dtype else astype(obj, dtype)
    return np.asarray(_primal(obj), dtype=dtype)


def _with_ndmin(x, ndmin):
    nd = _ndim(x)
    return x if nd >= ndmin else _reshape_p(x, (1,) * (ndmin - nd) + _shape(x))


def array(object, dtype=None, *, copy=True, order="K", subok=False, ndmin=0, like=None):  # noqa: A002
    """``numpy.array``.  A traced value, or a (nested) list holding traced values, stays
    differentiable: the list is stacked, and each element receives its slice of the cotangent."""
    if isinstance(object, Tensor):
        out = object if dtype is None or np.dtype(dtype) == object.dtype else astype(object, dtype)
        if copy and out is object:
            out = positive(object)          # a fresh array, never an alias of the input
        return _with_ndmin(out, ndmin)
    if not _holds_traced(object):
        return np.array(_strip(object), dtype=dtype, copy=copy, order=order, ndmin=ndmin)
    try:
        # NumPy's own discovery decides the shape and dtype, and rejects ragged lists
        plain = np.array(_strip(object), dtype=dtype)
    except ValueError as e:
        raise ValueError(f"array: cannot make an array from this nested list: {e}") from None
    if not np.issubdtype(plain.dtype, np.inexact):
        return np.array(plain, ndmin=ndmin)   # an integer or boolean result has no derivative
    return _with_ndmin(_stack_nested(object, plain.dtype), ndmin)


def asarray(a, dtype=None, order=None, *, copy=None, like=None):
    """``numpy.asarray``: like ``array`` but a value that already is an array is returned
    as it is (converted only if ``dtype`` asks for another dtype)."""
    if isinstance(a, Tensor):
        if dtype is None or np.dtype(dtype) == a.dtype:
            return positive(a) if copy else a
        return astype(a, dtype)
    if not _holds_traced(a):
        return np.asarray(_strip(a), dtype=dtype, copy=copy)
    return array(a, dtype)


def _plain_shape(shape):
    return tuple(int(_primal(s)) for s in shape) if isinstance(shape, (tuple, list)) else int(_primal(shape))


def zeros(shape, dtype=float, order="C", *, like=None):
    return np.zeros(_plain_shape(shape), dtype, order)


def ones(shape, dtype=None, order="C", *, like=None):
    return np.ones(_plain_shape(shape), dtype, order)


def empty(shape, dtype=float, order="C", *, like=None):
    return np.empty(_plain_shape(shape), dtype, order)


def full(shape, fill_value, dtype=None, order="C", *, like=None):
    """``numpy.full``; a traced ``fill_value`` is broadcast, and its derivative summed back."""
    shape = _plain_shape(shape)
    if not _traced(fill_value):
        return np.full(shape, _primal(fill_value), dtype, order)
    shape = (shape,) if isinstance(shape, int) else shape
    if dtype is not None and np.dtype(dtype) != fill_value.dtype:
        fill_value = astype(fill_value, dtype)
    return positive(broadcast_to(fill_value, shape))


def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, **kwargs):
    """``numpy.full_like``; a traced ``fill_value`` is differentiated, as ``full``'s is (``a``
    gives only a shape and a dtype)."""
    if not _traced(fill_value):
        return np.full_like(_primal(a), _primal(fill_value), dtype, order, subok, shape, **kwargs)
    return full(_shape(a) if shape is None else shape, fill_value, _dtype(a) if dtype is None else dtype)


def eye(N, M=None, k=0, dtype=float, order="C", *, like=None):  # noqa: N803  (NumPy's names)
    return np.eye(int(_primal(N)), None if M is None else int(_primal(M)), int(_primal(k)), dtype, order)


def identity(n, dtype=None, *, like=None):
    return np.identity(int(_primal(n)), dtype)


def arange(*args, dtype=None, like=None, **kwargs):
    """``numpy.arange``. A traced ``start`` or ``step`` is differentiated (the values are
    ``start + k·step``); ``stop`` only decides how many there are."""
    out = np.arange(*[_primal(a) for a in args], dtype=dtype, **{k: _primal(v) for k, v in kwargs.items()})
    given = dict(zip(("start", "stop", "step"), args if len(args) != 1 else (0, args[0])))
    given.update(kwargs)
    start, step = given.get("start", 0), given.get("step", 1)
    if not (_traced(start) or _traced(step)) or out.dtype.kind not in "fc":
        return out                               # integers are constants
    # NumPy's own values, with the derivatives of start + k·step (the differences are zeros)
    k = np.arange(len(out), dtype=out.dtype)
    moved = (start - _primal(start)) + k * (step - _primal(step))
    return out + (moved if _dtype(moved) == out.dtype else astype(moved, out.dtype))


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``numpy.linspace``.  Traced ``start``/``stop`` stay differentiable:
    ``y_k = start + k · (stop - start) / div``, with ``div = num - 1`` (``num`` if not
    ``endpoint``) and the last point exactly ``stop``."""
    num = int(_primal(num))
    if num < 0:
        raise ValueError(f"linspace: number of samples {num} must be non-negative")
    if not (_traced(start) or _traced(stop)):
        return np.linspace(_primal(start), _primal(stop), num, endpoint, retstep, dtype, axis)
    div = num - 1 if endpoint else num
    dt = np.result_type(_primal(start), _primal(stop), float(num))   # a weak float, as NumPy's
    if dtype is not None and not np.issubdtype(np.dtype(dtype), np.inexact):
        return np.linspace(_primal(start), _primal(stop), num, endpoint, retstep, dtype, axis)
    if _dtype(start) != dt:
        start = astype(start, dt) if isinstance(start, Tensor) else np.asarray(start, dt)
    if _dtype(stop) != dt:
        stop = astype(stop, dt) if isinstance(stop, Tensor) else np.asarray(stop, dt)
    delta = stop - start
    nd = _ndim(delta)
    k = np.arange(num, dtype=dt).reshape((num,) + (1,) * nd)
    step = delta / div if div > 0 else delta        # num == 1: the only point is start
    y = start + k * step
    if endpoint and num > 1:
        y = index_update(y, (-1,), stop)
    if dtype is not None and np.dtype(dtype) != dt:
        y = astype(y, dtype)
    if axis != 0:
        (ax,) = _axes(axis, nd + 1)
        y = moveaxis(y, 0, ax)
    if retstep:
        return y, step if div > 0 else delta * np.nan   # NumPy's step for a single point
    return y
