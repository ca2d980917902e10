"""Indexing.  ``x[idx]`` picks elements; its VJP puts the cotangent back where they came
from (adding where an index repeats), and that scatter-add is itself a primitive whose VJP
is the original indexing, so both are differentiable to any order."""

from __future__ import annotations

import math

import numpy as np

from .._core import Tensor, _dtype, _ndim, _primal, _shape, defjvp, defvjp, primitive


def normalize_index(idx, ndim):
    """A tuple with Ellipsis spelled out and Tensors stripped, checked against ``ndim``."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    idx = tuple(np.asarray(_primal(ix)) if isinstance(ix, (Tensor, list)) else ix for ix in idx)
    used = 0
    for ix in idx:
        if ix is None or ix is Ellipsis:
            continue
        if isinstance(ix, np.ndarray) and ix.dtype == bool:
            used += max(ix.ndim, 1)
        else:
            used += 1
    if used > ndim:
        raise IndexError(f"getitem: too many indices for an array of dimension {ndim} ({used} given)")
    n_ell = sum(1 for ix in idx if ix is Ellipsis)
    if n_ell > 1:
        raise IndexError("getitem: an index can only have a single ellipsis ('...')")
    if n_ell:
        k = next(i for i, ix in enumerate(idx) if ix is Ellipsis)
        idx = idx[:k] + (slice(None),) * (ndim - used) + idx[k + 1:]
    else:
        idx = idx + (slice(None),) * (ndim - used)
    return idx


def _split_advanced(idx):
    """(number of result axes of the advanced indices, whether NumPy moves them to the front)."""
    pos = [k for k, ix in enumerate(idx) if isinstance(ix, np.ndarray) or
           (isinstance(ix, (int, np.integer)) and any(isinstance(j, np.ndarray) for j in idx))]
    if not pos:
        return 0, False
    arrays = [np.asarray(idx[k]) for k in pos]
    nd = 0
    for a in arrays:
        nd = max(nd, a.ndim if a.dtype != bool else 1)
    adjacent = pos == list(range(pos[0], pos[-1] + 1))
    return nd, not adjacent


def _getitem(x, idx):
    y = x[idx]
    if not isinstance(y, np.ndarray) and isinstance(x, np.ndarray):
        y = x[idx + (Ellipsis,)]       # one element as a 0-d view, as PyTorch's t[i]: x[i] copies
    return y


def _move_front(y, nb, nadv, front):
    """After batched advanced indexing NumPy may put the advanced axes before the batch axes."""
    if not (front and nb):
        return y
    from ._shape import transpose
    nd = _ndim(y)
    perm = tuple(range(nadv, nadv + nb)) + tuple(range(nadv)) + tuple(range(nadv + nb, nd))
    return transpose(y, perm)


def _getitem_vjp(g, ans, x, idx):
    return scatter_add(g, idx, _shape(x))


def _batched_getitem(v, idx, nb):
    """``v[idx]`` for each of ``v``'s ``nb`` leading batch slices, batch axes kept in front."""
    if not nb:
        return getitem_p(v, idx)
    nadv, front = _split_advanced(idx)
    return _move_front(getitem_p(v, (slice(None),) * nb + idx), nb, nadv, front)


def _getitem_jvp(t, ans, x, idx):
    return _batched_getitem(t, idx, _ndim(t) - _ndim(x))


getitem_p = primitive(_getitem, name="getitem")
getitem_p.prim.view = True
defvjp(getitem_p, _getitem_vjp)
defjvp(getitem_p, _getitem_jvp)


def _scatter_impl(g, idx, shape):
    gshape = np.shape(g)
    picked = np.empty(shape, dtype=bool)[idx].shape
    nb = len(gshape) - len(picked)
    out = np.zeros(gshape[:nb] + tuple(shape), dtype=np.result_type(g))
    nadv, front = _split_advanced(idx)
    bidx = (slice(None),) * nb + idx
    g = np.asarray(g)
    if front and nb:
        perm = tuple(range(nb, nb + nadv)) + tuple(range(nb)) + tuple(range(nadv + nb, g.ndim))
        g = np.transpose(g, perm)
    if nadv and any(isinstance(ix, np.ndarray) and ix.dtype != bool for ix in idx):
        np.add.at(out, bidx, g)
    else:
        out[bidx] = g
    return out


def _scatter_vjp(g, ans, c, idx, shape):
    return _batched_getitem(g, idx, _ndim(g) - len(shape))


scatter_add = primitive(_scatter_impl, name="scatter_add")
defvjp(scatter_add, _scatter_vjp)
defjvp(scatter_add, lambda t, ans, c, idx, shape: scatter_add(t, idx, shape))


def getitem(x, idx):
    """``x[idx]`` for ints, slices, Ellipsis, None, integer arrays and boolean masks."""
    idx = normalize_index(idx, _ndim(x))
    try:
        return getitem_p(x, idx)
    except IndexError as e:
        raise IndexError(f"getitem: {e} (array of shape {_shape(x)})") from None


def _index_update(x, idx, v):
    out = np.array(x, copy=True)
    out[idx] = v
    return out


def _index_update_vjp_x(g, ans, x, idx, v):
    # the updated positions no longer depend on x
    nb = _ndim(g) - _ndim(x)
    return index_update_p(g, (slice(None),) * nb + idx, 0)


def _picked_shape(shape, idx):
    return np.empty(shape, dtype=bool)[idx].shape


def _winners(shape, idx):
    """Where an integer index repeats, only its last write survives, so only that position of
    ``v`` reaches the output; a 0/1 mask over ``x[idx]`` (None when nothing repeats)."""
    if not any(isinstance(ix, np.ndarray) and ix.dtype != bool for ix in idx):
        return None
    picked = _picked_shape(shape, idx)
    order = np.arange(math.prod(picked)).reshape(picked)
    ids = np.full(shape, -1)
    ids[idx] = order
    won = ids[idx] == order
    return None if won.all() else won


def _index_update_vjp_v(g, ans, x, idx, v):
    from .._core import unbroadcast
    nb = _ndim(g) - _ndim(x)
    picked = _batched_getitem(g, idx, nb)
    won = _winners(_shape(x), idx)
    if won is not None:
        picked = picked * np.asarray(won, dtype=_dtype(g))
    return unbroadcast(picked, v, nb)


def _index_update_jvp(t, ans, x, idx, v, which):
    nb = _ndim(t) - (_ndim(x) if which == 0 else _ndim(v))
    bidx = (slice(None),) * nb + idx
    if which == 0:
        return index_update_p(t, bidx, 0)
    zeros = np.zeros(_shape(t)[:nb] + _shape(x), dtype=_dtype(t))
    if not nb:
        return index_update_p(zeros, idx, t)
    # Give the tangent the full shape of x[idx] behind its batch axes (so the batch axes cannot
    # broadcast against x's), in the axis order NumPy uses for the batched index.
    from ._shape import _broadcast_p, _reshape_p, transpose
    picked = _picked_shape(_shape(x), idx)
    batch, vshape = _shape(t)[:nb], _shape(t)[nb:]
    t = _reshape_p(t, batch + (1,) * (len(picked) - len(vshape)) + vshape)
    t = _broadcast_p(t, batch + picked)
    nadv, front = _split_advanced(idx)
    if front:
        nd = nb + len(picked)
        t = transpose(t, tuple(range(nb, nb + nadv)) + tuple(range(nb)) + tuple(range(nb + nadv, nd)))
    return index_update_p(zeros, bidx, t)


index_update_p = primitive(_index_update, name="index_update")
defvjp(index_update_p, _index_update_vjp_x, None, _index_update_vjp_v)
defjvp(index_update_p,
       lambda t, ans, x, idx, v: _index_update_jvp(t, ans, x, idx, v, 0), None,
       lambda t, ans, x, idx, v: _index_update_jvp(t, ans, x, idx, v, 2))


def index_update(x, idx, value):
    """A copy of ``x`` with ``x[idx] = value`` (JAX's ``x.at[idx].set(value)``)."""
    return index_update_p(x, normalize_index(idx, _ndim(x)), value)
