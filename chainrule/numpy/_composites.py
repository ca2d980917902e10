"""NumPy functions written with chainrule's own, so that their derivatives come from those."""

from __future__ import annotations

import numpy as np

from .._core import _ndim, _primal, _shape
from ._constructors import _traced
from ._indexing import getitem
from ._reductions import sum
from ._shape import _axes, broadcast_to, concatenate, moveaxis

__all__ = ["diff", "vecdot", "broadcast_arrays"]


def diff(a, n=1, axis=-1, prepend=None, append=None):
    """``numpy.diff``: the ``n``-th differences ``a[i+1] - a[i]`` along ``axis``, with ``prepend``
    and ``append`` (scalars are repeated across the other axes) joined on first."""
    kwargs = {k: v for k, v in (("prepend", prepend), ("append", append)) if v is not None}
    if not (_traced(a) or _traced(prepend) or _traced(append)):
        return np.diff(_primal(a), n, axis, **{k: _primal(v) for k, v in kwargs.items()})
    if n < 0:
        raise ValueError(f"diff: order must be non-negative, got n={n}")
    if n == 0:
        return a                                 # as NumPy: nothing joined, nothing taken
    (ax,) = _axes(axis, _ndim(a))
    parts = [a]
    if prepend is not None:
        parts.insert(0, _slice_along(prepend, a, ax))
    if append is not None:
        parts.append(_slice_along(append, a, ax))
    if len(parts) > 1:
        a = concatenate(parts, axis=ax)
    lead = (slice(None),) * ax
    for _ in range(n):
        a = getitem(a, lead + (slice(1, None),)) - getitem(a, lead + (slice(None, -1),))
    return a


def _slice_along(extra, a, ax):
    """``extra`` for joining onto ``a`` along ``ax``: a scalar becomes one slice of it."""
    if _ndim(extra) != 0:
        return extra
    shape = list(_shape(a))
    shape[ax] = 1
    return broadcast_to(extra, tuple(shape))


def vecdot(x1, x2, /, *, axis=-1, **kwargs):
    """``numpy.vecdot``: ``Σ x1·x2`` over ``axis`` of each array (moved to the end of each before
    they broadcast); NumPy's own, ``conj(x1)`` included, on plain arrays."""
    if not (_traced(x1) or _traced(x2)):
        return np.vecdot(_primal(x1), _primal(x2), axis=axis, **kwargs)
    if kwargs:
        raise TypeError(f"vecdot: {', '.join(k + '=' for k in kwargs)} not supported on traced values")
    (a1,), (a2,) = _axes(axis, _ndim(x1)), _axes(axis, _ndim(x2))
    n1, n2 = _shape(x1)[a1], _shape(x2)[a2]
    if n1 != n2:
        raise ValueError(f"vecdot: the vectors along axis {axis} have lengths {n1} and {n2} (shapes "
                         f"{_shape(x1)} and {_shape(x2)})")
    return sum(moveaxis(x1, a1, -1) * moveaxis(x2, a2, -1), axis=-1)   # traced values are real


def broadcast_arrays(*args):
    """``numpy.broadcast_arrays``: each array broadcast to the arguments' common shape (views)."""
    shape = np.broadcast_shapes(*(_shape(a) for a in args))
    return tuple(broadcast_to(a, shape) for a in args)
