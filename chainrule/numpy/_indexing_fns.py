"""Indexing by function: ``take``, ``take_along_axis`` and ``select``.

Each is built on ``x[idx]`` (whose VJP scatter-adds the cotangent back, so repeated indices
add up) or on ``where``, so none needs a derivative rule of its own.
"""

from __future__ import annotations

import math

import numpy as np

from .._core import _ndim, _primal, _shape
from ._indexing import getitem
from ._shape import _axes, _reshape_p
from ._ufuncs import where

__all__ = ["take", "take_along_axis", "select"]


def _int_indices(indices, name):
    ind = np.asarray(_primal(indices))
    if ind.dtype == bool or not np.issubdtype(ind.dtype, np.integer):
        if ind.size or ind.dtype == bool:
            raise IndexError(f"{name}: indices must be integers, got dtype {ind.dtype}")
        ind = ind.astype(np.intp)
    return ind


def take(a, indices, axis=None, out=None, mode="raise"):
    """``numpy.take``: elements of ``a`` at ``indices`` along ``axis`` (of the flattened array
    if ``axis`` is None).  ``mode`` is 'raise', 'wrap' or 'clip', as in NumPy."""
    if out is not None:
        raise TypeError("take: out= is not supported")
    ind = _int_indices(indices, "take")
    if axis is None:
        a = _reshape_p(a, (math.prod(_shape(a)),))
        axis = 0
    (axis,) = _axes(axis, _ndim(a))
    n = _shape(a)[axis]
    if mode == "wrap":
        ind = ind % n if n else ind
    elif mode == "clip":
        ind = np.clip(ind, 0, n - 1)
    elif mode == "raise":
        bad = (ind < -n) | (ind >= n)
        if bad.any():
            raise IndexError(f"take: index {int(ind[bad].flat[0])} is out of bounds for axis "
                             f"{axis} with size {n} (array of shape {_shape(a)})")
    else:
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    return getitem(a, (slice(None),) * axis + (ind,))


def take_along_axis(arr, indices, axis=-1):
    """``numpy.take_along_axis``: ``out[..., i, ...] = arr[..., indices[..., i, ...], ...]``,
    the other axes of ``indices`` broadcasting against those of ``arr``."""
    ind = _int_indices(indices, "take_along_axis")
    if axis is None:
        if ind.ndim != 1:
            raise ValueError(f"take_along_axis: with axis=None the indices must be 1-D, got "
                             f"shape {ind.shape}")
        arr = _reshape_p(arr, (math.prod(_shape(arr)),))
        axis = 0
    shape = _shape(arr)
    nd = len(shape)
    if ind.ndim != nd:
        raise ValueError(f"take_along_axis: indices of shape {ind.shape} and array of shape "
                         f"{shape} must have the same number of dimensions")
    (axis,) = _axes(axis, nd)
    try:
        np.broadcast_shapes(tuple(n for k, n in enumerate(ind.shape) if k != axis),
                            tuple(n for k, n in enumerate(shape) if k != axis))
    except ValueError:
        raise ValueError(f"take_along_axis: indices of shape {ind.shape} do not broadcast "
                         f"against an array of shape {shape} outside axis {axis}") from None
    # One integer array per axis, each shaped to broadcast with the others (an open grid).
    idx = tuple(ind if k == axis else
                np.arange(n).reshape((1,) * k + (n,) + (1,) * (nd - k - 1))
                for k, n in enumerate(shape))
    return getitem(arr, idx)


def select(condlist, choicelist, default=0):
    """``numpy.select``: where ``condlist[k]`` holds first, ``choicelist[k]``; else ``default``.

    Built from ``where`` from the last choice to the first, so the first true condition wins
    and only the chosen value receives a derivative."""
    if len(condlist) != len(choicelist):
        raise ValueError(f"select: condlist and choicelist must have the same length "
                         f"({len(condlist)} != {len(choicelist)})")
    if not condlist:
        raise ValueError("select: condlist must not be empty")
    conds = []
    for k, c in enumerate(condlist):
        c = np.asarray(_primal(c))
        if c.dtype != bool:
            raise TypeError(f"select: condlist[{k}] has dtype {c.dtype}; conditions must be boolean")
        conds.append(c)
    shapes = [c.shape for c in conds] + [_shape(x) for x in choicelist] + [_shape(default)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError("select: conditions, choices and default of shapes "
                         f"{', '.join(map(str, shapes))} do not broadcast") from None
    out = default
    for c, x in zip(reversed(conds), reversed(choicelist), strict=True):
        out = where(c, x, out)
    return out
