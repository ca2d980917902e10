"""Functions that move elements around without changing them: their derivatives move the
cotangent back the same way (VJP) or move the tangent forward (JVP).

Tangents and cotangents carry ``nb`` leading batch axes, ``nb = t.ndim - x.ndim``; axes
given relative to ``x`` are shifted by ``nb`` before they are applied to ``t`` or ``g``.
"""

from __future__ import annotations

import numpy as np

from .._core import _ndim, _shape, defjvp, defvjp, primitive

__all__ = ["reshape", "ravel", "broadcast_to", "transpose", "swapaxes"]


def _nb(g, x):
    return _ndim(g) - _ndim(x)


def _axes(axis, ndim):
    """Normalise an ``axis`` argument to a tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(f"axis {a} is out of bounds for array of dimension {ndim}")
        out.append(a % ndim)
    return tuple(out)


# ---- reshape
def _reshape(x, shape):
    return np.reshape(x, shape)


_reshape_p = primitive(_reshape, name="reshape")
defvjp(_reshape_p, lambda g, ans, x, shape: _reshape_p(g, _shape(g)[:_nb(g, ans)] + _shape(x)))
defjvp(_reshape_p, lambda t, ans, x, shape: _reshape_p(t, _shape(t)[:_nb(t, x)] + _shape(ans)))


def reshape(a, shape=None, order="C", *, newshape=None):
    """``numpy.reshape``; ``order="F"`` strings the elements up column-major, like MATLAB's ``x(:)``."""
    if shape is None:
        shape = newshape
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(int(s) for s in shape)
    if order == "F":
        return transpose(_reshape_p(transpose(a), _resolve(shape, _shape(a), "reshape")[::-1]))
    if order not in ("C", "A"):
        raise ValueError(f"reshape: order must be 'C' or 'F', got {order!r}")
    return _reshape_p(a, _resolve(shape, _shape(a), "reshape"))


def _resolve(shape, old, name):
    """Replace a -1 in ``shape`` and check the sizes agree, naming both shapes if not."""
    size = int(np.prod(old))
    if shape.count(-1) > 1:
        raise ValueError(f"{name}: can only specify one unknown dimension, got {shape}")
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1]))
        if known == 0 or size % known:
            raise ValueError(f"{name}: cannot reshape array of shape {old} into shape {shape}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    if int(np.prod(shape)) != size:
        raise ValueError(f"{name}: cannot reshape array of shape {old} into shape {shape}")
    return shape


def ravel(a, order="C"):
    return reshape(a, (-1,), order=order)


# ---- broadcast_to: the cotangent is summed back by the engine's unbroadcast
def _broadcast_to(x, shape):
    return np.broadcast_to(x, shape)


_broadcast_p = primitive(_broadcast_to, name="broadcast_to", broadcasts=True)
defvjp(_broadcast_p, lambda g, ans, x, shape: g)
defjvp(_broadcast_p, lambda t, ans, x, shape: _broadcast_p(t, _shape(t)[:_ndim(t) - len(shape)] + shape))


def broadcast_to(array, shape):
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(shape)
    try:
        np.broadcast_shapes(_shape(array), shape)
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {_shape(array)} to {shape}") from None
    return _broadcast_p(array, shape)


# ---- transpose
def _transpose(x, axes):
    return np.transpose(x, axes)


def _batched_perm(nb, perm):
    return tuple(range(nb)) + tuple(p + nb for p in perm)


_transpose_p = primitive(_transpose, name="transpose")
defvjp(_transpose_p, lambda g, ans, x, axes: _transpose_p(
    g, _batched_perm(_nb(g, ans), tuple(np.argsort(axes)))))
defjvp(_transpose_p, lambda t, ans, x, axes: _transpose_p(t, _batched_perm(_nb(t, x), axes)))


def transpose(a, axes=None):
    ndim = _ndim(a)
    if axes is None:
        axes = tuple(range(ndim))[::-1]
    else:
        axes = _axes(axes, ndim)
        if sorted(axes) != list(range(ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of {ndim} axes")
    return _transpose_p(a, axes)


def swapaxes(a, axis1, axis2):
    nd = _ndim(a)
    (i,), (j,) = _axes(axis1, nd), _axes(axis2, nd)
    perm = list(range(nd))
    perm[i], perm[j] = perm[j], perm[i]
    return _transpose_p(a, tuple(perm))
