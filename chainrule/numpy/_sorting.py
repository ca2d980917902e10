"""Sorting.  ``sort`` and ``partition`` rearrange each slice along an axis by a permutation
(``argsort``'s or ``argpartition``'s), a constant computed from the values.  Gathering by a
permutation is linear; its transpose puts every cotangent back where its element came from,
which is gathering by the inverse permutation.  So one primitive, its own VJP and JVP.
"""

from __future__ import annotations

import numpy as np

from .._core import Tensor, _ndim, _primal, _shape, defjvp, defvjp, primitive
from ._shape import ravel

__all__ = ["sort", "partition"]


def _permute(x, order, inverse, axis):
    """``x`` rearranged along the negative ``axis``: ``out[..., i, ...] = x[..., order[i], ...]``."""
    nb = np.ndim(x) - order.ndim
    if nb:
        order = order.reshape((1,) * nb + order.shape)    # broadcast over leading batch axes
    return np.take_along_axis(x, order, axis=axis)


_permute_p = primitive(_permute, name="permute")
# the VJP scatters g back to where each element came from: a gather by the inverse permutation
defvjp(_permute_p, lambda g, ans, x, order, inverse, axis: _permute_p(g, inverse, order, axis))
defjvp(_permute_p, lambda t, ans, x, order, inverse, axis: _permute_p(t, order, inverse, axis))


def _invert(order, axis):
    """The inverse of each permutation along ``axis``: ``inverse[order[i]] = i``."""
    n = order.shape[axis]
    shape = [1] * order.ndim
    shape[axis] = n
    positions = np.broadcast_to(np.arange(n).reshape(shape), order.shape)
    inverse = np.empty_like(order)
    np.put_along_axis(inverse, order, positions, axis=axis)
    return inverse


def _single_axis(name, axis, ndim):
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name}: axis must be an int or None, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(
            f"{name}: axis {axis} is out of bounds for an array of dimension {ndim}")
    return int(axis) % ndim - ndim


def _by_permutation(a, order, axis):
    return _permute_p(a, order, _invert(order, axis), axis)


def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """``numpy.sort``: a sorted copy along ``axis`` (``None``: of the flattened array).

    Each output element is one input element, so its derivative is 1 with respect to that
    element (the one ``argsort`` picks) and 0 for the rest; among equal elements the
    gradient follows ``argsort``'s choice.
    """
    if order is not None:
        raise TypeError("sort: order= (fields of structured arrays) is not supported")
    if axis is None:
        a, axis = ravel(a), 0
    axis = _single_axis("sort", axis, _ndim(a))
    if not isinstance(a, Tensor):
        return np.sort(a, axis=axis, kind=kind, stable=stable)
    perm = np.argsort(_primal(a), axis=axis, kind=kind, stable=stable)
    return _by_permutation(a, perm, axis)


def partition(a, kth, axis=-1, kind="introselect", order=None):
    """``numpy.partition``: along ``axis`` the ``kth`` element lands where sorting would put it,
    smaller ones before it and larger ones after (in no particular order).

    The derivative follows the permutation ``argpartition`` chooses, as for ``sort``.
    """
    if order is not None:
        raise TypeError("partition: order= (fields of structured arrays) is not supported")
    if axis is None:
        a, axis = ravel(a), 0
    axis = _single_axis("partition", axis, _ndim(a))
    n = _shape(a)[axis]
    kths = np.asarray(_primal(kth))
    if not np.issubdtype(kths.dtype, np.integer):
        raise TypeError(f"partition: kth must be an int or a sequence of ints, got {kth!r}")
    bad = kths[(kths < -n) | (kths >= n)]
    if bad.size:
        raise ValueError(f"partition: kth={int(bad[0])} is out of bounds for an axis of length {n}")
    if not isinstance(a, Tensor):
        return np.partition(a, kth, axis=axis, kind=kind)
    perm = np.argpartition(_primal(a), kths, axis=axis, kind=kind)
    return _by_permutation(a, perm, axis)
