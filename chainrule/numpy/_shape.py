"""Functions that move elements around without changing them: their derivatives move the
cotangent back the same way (VJP) or move the tangent forward (JVP).

Tangents and cotangents carry ``nb`` leading batch axes, ``nb = t.ndim - x.ndim``; axes
given relative to ``x`` are shifted by ``nb`` before they are applied to ``t`` or ``g``.

Six primitives carry rules: reshape, broadcast_to, transpose, concatenate, split and roll
(plus ``getitem``/``scatter_add`` from ``_indexing``).  Everything else here is a
composite of them and needs no rule of its own.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator

import numpy as np

from .._core import Tensor, _dtype, _ndim, _primal, _shape, defjvp, defvjp, defvjp_joint, primitive
from ._indexing import getitem_p, scatter_add

__all__ = ["reshape", "ravel", "broadcast_to", "transpose", "swapaxes", "expand_dims", "squeeze",
           "moveaxis", "atleast_1d", "atleast_2d", "atleast_3d", "concatenate", "stack", "hstack",
           "vstack", "dstack", "column_stack", "split", "array_split", "hsplit", "vsplit", "dsplit",
           "tile", "repeat", "flip", "fliplr", "flipud", "rot90", "roll", "pad", "diag", "diagonal",
           "trace", "triu", "tril"]


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
    if type(x) is np.ndarray:
        return x.reshape(shape)
    return np.reshape(x, shape)


_reshape_p = primitive(_reshape, name="reshape")
_reshape_p.prim.view = True
defvjp(_reshape_p, lambda g, ans, x, shape: _reshape_p(g, _shape(g)[:_nb(g, ans)] + _shape(x)))
defjvp(_reshape_p, lambda t, ans, x, shape: _reshape_p(t, _shape(t)[:_nb(t, x)] + _shape(ans)))


def reshape(a, shape=None, order="C", *, newshape=None):
    """``numpy.reshape``; ``order="F"`` strings the elements up column-major, like MATLAB's ``x(:)``."""
    if shape is None:
        shape = newshape
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    shape = tuple(int(s) for s in shape)
    if order == "A":                             # Fortran order for a Fortran-contiguous array
        flags = np.asarray(_primal(a)).flags
        order = "F" if flags.f_contiguous and not flags.c_contiguous else "C"
    if order == "F":
        return transpose(_reshape_p(transpose(a), _resolve(shape, _shape(a), "reshape")[::-1]))
    if order != "C":
        raise ValueError(f"reshape: order must be 'C', 'F' or 'A', got {order!r}")
    return _reshape_p(a, _resolve(shape, _shape(a), "reshape"))


def _resolve(shape, old, name):
    """Replace a -1 in ``shape`` and check the sizes agree, naming both shapes if not."""
    if shape == old:
        return shape
    size = math.prod(old)
    if shape.count(-1) > 1:
        raise ValueError(f"{name}: can only specify one unknown dimension, got {shape}")
    if -1 in shape:
        known = math.prod([s for s in shape if s != -1])
        if known == 0 or size % known:
            raise ValueError(f"{name}: cannot reshape array of shape {old} into shape {shape}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    if math.prod(shape) != size:
        raise ValueError(f"{name}: cannot reshape array of shape {old} into shape {shape}")
    return shape


def ravel(a, order="C"):
    """``numpy.ravel``; ``order="K"`` takes the axes in the order of their strides in memory, as
    NumPy does (an axis of negative stride is still read from its first element)."""
    if order == "K":
        p = np.asarray(_primal(a))
        if p.ndim < 2 or p.flags.c_contiguous or p.flags.f_contiguous:
            order = "A"
        else:
            # axes of negative stride keep their own direction: NumPy reverses the data there
            return reshape(transpose(a, _memory_axes([abs(st) for st in p.strides])), (-1,))
    return reshape(a, (-1,), order=order)


def _memory_axes(strides):
    """The axes from the outermost to the innermost in memory, as NumPy's iterator orders them
    for ``order="K"``: by decreasing stride, an axis of stride 0 (a broadcast) staying where
    it is in C order."""
    inner_first = list(range(len(strides)))[::-1]
    for i in range(1, len(inner_first)):
        axis, place = inner_first[i], i
        for j in range(i - 1, -1, -1):
            s0, s1 = strides[axis], strides[inner_first[j]]
            if s0 and s1:
                if s1 <= s0:
                    break
                place = j
        if place != i:
            inner_first.insert(place, inner_first.pop(i))
    return tuple(inner_first[::-1])


# ---- broadcast_to: the cotangent is summed back by the engine's unbroadcast
def _broadcast_to(x, shape):
    return np.broadcast_to(x, shape)


_broadcast_p = primitive(_broadcast_to, name="broadcast_to", broadcasts=True)
_broadcast_p.prim.view = True
defvjp(_broadcast_p, lambda g, ans, x, shape: g)
# t is x's tangent as given (unbatched) or, with batch axes, already aligned to len(shape) axes
defjvp(_broadcast_p, lambda t, ans, x, shape: _broadcast_p(
    t, _shape(t)[:max(_ndim(t) - len(shape), 0)] + shape))


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
_transpose_p.prim.view = True
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


# ---- helpers of the composites below
def _arr(a):
    """Tensors as they are; lists, scalars and arrays as ndarrays."""
    return a if isinstance(a, Tensor) else np.asarray(a)


def _unique_axes(axis, ndim, name):
    axes = _axes(axis, ndim)
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}: repeated axis in {axis!r}")
    return axes


def _along(axis, index):
    """An index that applies ``index`` to axis ``axis`` and leaves the others whole."""
    return (slice(None),) * axis + (index,)


# ---- adding and removing axes: reshapes
def expand_dims(a, axis):
    """``numpy.expand_dims``: insert length-1 axes at the positions ``axis`` of the result."""
    a = _arr(a)
    nd = _ndim(a) + (1 if isinstance(axis, (int, np.integer)) else len(axis))
    axes = _unique_axes(axis, nd, "expand_dims")
    rest = iter(_shape(a))
    return _reshape_p(a, tuple(1 if k in axes else next(rest) for k in range(nd)))


def squeeze(a, axis=None):
    """``numpy.squeeze``: remove length-1 axes (all of them, or those in ``axis``)."""
    a = _arr(a)
    shape = _shape(a)
    if axis is None:
        axes = tuple(k for k, n in enumerate(shape) if n == 1)
    else:
        axes = _unique_axes(axis, len(shape), "squeeze")
        for k in axes:
            if shape[k] != 1:
                raise ValueError(f"squeeze: cannot squeeze axis {k} of an array of shape {shape}: "
                                 f"its size is {shape[k]}, not 1")
    return _reshape_p(a, tuple(n for k, n in enumerate(shape) if k not in axes))


def moveaxis(a, source, destination):
    """``numpy.moveaxis``: move axes to new positions, the others keep their order."""
    a = _arr(a)
    nd = _ndim(a)
    src = _unique_axes(source, nd, "moveaxis (source)")
    dst = _unique_axes(destination, nd, "moveaxis (destination)")
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source!r} and destination {destination!r} must have "
                         "the same number of elements")
    order = [k for k in range(nd) if k not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return _transpose_p(a, tuple(order))


def _atleast(arys, nd, pad):
    out = []
    for a in arys:
        a = _arr(a)
        if _ndim(a) < nd:
            a = _reshape_p(a, pad(_shape(a)))
        out.append(a)
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*arys):
    """``numpy.atleast_1d``: a 0-d array becomes shape (1,)."""
    return _atleast(arys, 1, lambda s: (1,))


def atleast_2d(*arys):
    """``numpy.atleast_2d``: (N,) becomes (1, N)."""
    return _atleast(arys, 2, lambda s: (1,) * (2 - len(s)) + s)


def atleast_3d(*arys):
    """``numpy.atleast_3d``: (N,) becomes (1, N, 1) and (M, N) becomes (M, N, 1)."""
    return _atleast(arys, 3, lambda s: {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[len(s)])


# ---- concatenate: a primitive over any number of arrays
class _EveryPosition(dict):
    """The rules of a primitive with any number of array arguments: the rule for argument
    ``i`` is ``rule(i, ...)``, made when the engine asks for it."""

    def __init__(self, rule):
        super().__init__()
        self.rule = rule

    def get(self, i, default=None):
        return functools.partial(self.rule, i)

    __missing__ = get


def _concatenate(*arrays, axis):
    return np.concatenate(arrays, axis=axis)


def _span(i, arrays, axis):
    """Where argument ``i`` lies in the result, along ``axis``."""
    start = 0
    for a in arrays[:i]:
        start += _shape(a)[axis]
    return slice(start, start + _shape(arrays[i])[axis])


def _concatenate_vjp(g, ans, needed, *arrays, axis):
    # the cotangent of argument i is its own slice of g; the offsets are summed once for all
    # arguments (per argument, stacking k values took time in k²)
    ends = list(itertools.accumulate(_shape(a)[axis] for a in arrays))
    nb = _nb(g, ans)
    return [getitem_p(g, _along(nb + axis, slice(ends[i] - _shape(arrays[i])[axis], ends[i])))
            for i in needed]


def _concatenate_jvp(i, t, ans, *arrays, axis):
    # argument i moves its own slice of the output: t placed there, zeros elsewhere
    return scatter_add(t, _along(axis, _span(i, arrays, axis)), _shape(ans))


_concatenate_p = primitive(_concatenate, name="concatenate")
defvjp_joint(_concatenate_p, _concatenate_vjp)
_concatenate_p.prim.jvps = _EveryPosition(_concatenate_jvp)


def _join(arrays, axis, name, dtype=None, casting="same_kind"):
    """Check and concatenate ``arrays`` (already ndarrays or Tensors) along ``axis``."""
    if not arrays:
        raise ValueError(f"{name}: need at least one array to concatenate")
    shapes = [_shape(a) for a in arrays]
    first = shapes[0]
    if not first:
        raise ValueError(f"{name}: zero-dimensional arrays cannot be concatenated")
    for k, s in enumerate(shapes[1:], 1):
        if len(s) != len(first):
            raise ValueError(f"{name}: all the input arrays must have the same number of dimensions, "
                             f"but array 0 has shape {first} and array {k} has shape {s}")
    (axis,) = _axes(axis, len(first))
    for k, s in enumerate(shapes[1:], 1):
        if s[:axis] + s[axis + 1:] != first[:axis] + first[axis + 1:]:
            raise ValueError(f"{name}: all input array dimensions except for the concatenation axis "
                             f"({axis}) must match, but array 0 has shape {first} and array {k} has "
                             f"shape {s}")
    if dtype is not None:
        from ._ufuncs import astype
        dtype = np.dtype(dtype)
        for a in arrays:
            if not np.can_cast(_dtype(a), dtype, casting):
                raise TypeError(f"{name}: cannot cast an array of dtype {_dtype(a)} to {dtype} "
                                f"with casting={casting!r}")
        arrays = [astype(a, dtype) for a in arrays]
    return _concatenate_p(*arrays, axis=axis)


def _sequence(arrays, name):
    if not hasattr(arrays, "__len__"):
        raise TypeError(f"{name}: the arrays must be passed as a sequence such as a list or tuple, "
                        f"got {type(arrays).__name__}")
    return [_arr(a) for a in arrays]


def concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """``numpy.concatenate``; ``axis=None`` flattens the arrays first."""
    if out is not None:
        raise TypeError("concatenate: out= is not supported")
    arrays = [_arr(a) for a in arrays]
    if axis is None:
        arrays = [ravel(a) for a in arrays]
        axis = 0
    return _join(arrays, axis, "concatenate", dtype, casting)


def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """``numpy.stack``: join equally shaped arrays along a new axis."""
    if out is not None:
        raise TypeError("stack: out= is not supported")
    arrays = _sequence(arrays, "stack")
    if not arrays:
        raise ValueError("stack: need at least one array to stack")
    shape = _shape(arrays[0])
    for k, a in enumerate(arrays[1:], 1):
        if _shape(a) != shape:
            raise ValueError(f"stack: all input arrays must have the same shape, but array 0 has "
                             f"shape {shape} and array {k} has shape {_shape(a)}")
    (axis,) = _axes(axis, len(shape) + 1)
    new = shape[:axis] + (1,) + shape[axis:]
    return _join([_reshape_p(a, new) for a in arrays], axis, "stack", dtype, casting)


def hstack(tup, *, dtype=None, casting="same_kind"):
    """``numpy.hstack``: along axis 1, or axis 0 for 1-d arrays."""
    arrays = [atleast_1d(a) for a in _sequence(tup, "hstack")]
    axis = 0 if arrays and _ndim(arrays[0]) == 1 else 1
    return _join(arrays, axis, "hstack", dtype, casting)


def vstack(tup, *, dtype=None, casting="same_kind"):
    """``numpy.vstack``: along axis 0, with 1-d arrays as rows."""
    return _join([atleast_2d(a) for a in _sequence(tup, "vstack")], 0, "vstack", dtype, casting)


def dstack(tup):
    """``numpy.dstack``: along axis 2 (depth), after ``atleast_3d``."""
    return _join([atleast_3d(a) for a in _sequence(tup, "dstack")], 2, "dstack")


def column_stack(tup):
    """``numpy.column_stack``: 1-d arrays become columns, 2-d arrays are joined as they are."""
    arrays = [_reshape_p(a, (math.prod(_shape(a)), 1)) if _ndim(a) < 2 else a
              for a in _sequence(tup, "column_stack")]
    return _join(arrays, 1, "column_stack")


# ---- split: a primitive with several outputs whose VJP is concatenate
def _split(x, bounds, axis):
    return tuple(x[_along(axis, slice(start, stop))] for start, stop in bounds)


def _split_vjp(g, ans, x, bounds, axis):
    # the pieces tile x, so the cotangents are joined back in order
    return _concatenate_p(*g, axis=_nb(g[0], ans[0]) + axis)


_split_p = primitive(_split, name="split", multiple=True)
_split_p.prim.view = True                          # the pieces are views of x
defvjp(_split_p, _split_vjp)
defjvp(_split_p, lambda t, ans, x, bounds, axis: _split_p(t, bounds, _nb(t, x) + axis))


def _pieces(ary, indices_or_sections, axis, name, equal):
    ary = _arr(ary)
    (axis,) = _axes(axis, _ndim(ary))
    n = _shape(ary)[axis]
    try:
        points = [0] + [operator.index(p) for p in indices_or_sections] + [n]
    except TypeError:
        sections = operator.index(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"{name}: the number of sections must be larger than 0, "
                             f"got {sections}") from None
        each, extra = divmod(n, sections)
        if equal and extra:
            raise ValueError(f"{name}: an axis of length {n} does not split into {sections} equal "
                             "sections; use array_split for unequal ones") from None
        points = [0]
        for k in range(sections):
            points.append(points[-1] + each + (k < extra))
    # Python slice semantics, as NumPy: negative points count from the end, pieces may be empty
    spans = [slice(a, b).indices(n)[:2] for a, b in zip(points[:-1], points[1:], strict=True)]
    spans = [(a, max(a, b)) for a, b in spans]
    tiles = spans[0][0] == 0 and spans[-1][1] == n and all(
        spans[j][0] == spans[j - 1][1] for j in range(1, len(spans)))
    if tiles:
        return list(_split_p(ary, tuple(spans), axis))
    return [getitem_p(ary, _along(axis, slice(a, b))) for a, b in spans]


def split(ary, indices_or_sections, axis=0):
    """``numpy.split``: a list of pieces; sections must divide the axis evenly."""
    return _pieces(ary, indices_or_sections, axis, "split", equal=True)


def array_split(ary, indices_or_sections, axis=0):
    """``numpy.array_split``: like split, but the first pieces may be one longer."""
    return _pieces(ary, indices_or_sections, axis, "array_split", equal=False)


def _split_on(ary, indices_or_sections, axis, name, min_ndim):
    ary = _arr(ary)
    if _ndim(ary) < min_ndim:
        raise ValueError(f"{name} only works on arrays of {min_ndim} or more dimensions, "
                         f"got shape {_shape(ary)}")
    return _pieces(ary, indices_or_sections, axis, name, equal=True)


def hsplit(ary, indices_or_sections):
    """``numpy.hsplit``: split along axis 1 (axis 0 for 1-d arrays)."""
    ary = _arr(ary)
    return _split_on(ary, indices_or_sections, 1 if _ndim(ary) > 1 else 0, "hsplit", 1)


def vsplit(ary, indices_or_sections):
    """``numpy.vsplit``: split along axis 0."""
    return _split_on(ary, indices_or_sections, 0, "vsplit", 2)


def dsplit(ary, indices_or_sections):
    """``numpy.dsplit``: split along axis 2."""
    return _split_on(ary, indices_or_sections, 2, "dsplit", 3)


# ---- repetition: reshape + broadcast_to + reshape (the VJP of broadcast_to sums the copies)
def tile(A, reps):
    """``numpy.tile``: ``A`` repeated ``reps[k]`` times along axis k."""
    A = _arr(A)
    reps = tuple(operator.index(r) for r in np.ravel(reps).tolist())
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: reps must be non-negative, got {reps}")
    shape = _shape(A)
    reps = (1,) * (len(shape) - len(reps)) + reps
    shape = (1,) * (len(reps) - len(shape)) + shape
    x = _reshape_p(A, tuple(v for n in shape for v in (1, n)))
    x = _broadcast_p(x, tuple(v for r, n in zip(reps, shape, strict=True) for v in (r, n)))
    return _reshape_p(x, tuple(r * n for r, n in zip(reps, shape, strict=True)))


def repeat(a, repeats, axis=None):
    """``numpy.repeat``: each element ``repeats`` times (or ``repeats[i]`` times) along ``axis``;
    ``axis=None`` repeats the flattened array."""
    a = _arr(a)
    if axis is None:
        a, axis = ravel(a), 0
    (axis,) = _axes(axis, _ndim(a))
    reps = np.asarray(_primal(repeats))
    if reps.size and not np.issubdtype(reps.dtype, np.integer):
        raise TypeError(f"repeat: repeats must be integers, got dtype {reps.dtype}")
    if np.any(reps < 0):
        raise ValueError(f"repeat: repeats may not contain negative values, got {reps.tolist()}")
    shape = _shape(a)
    n = shape[axis]
    if reps.size == 1 and reps.ndim <= 1:
        r = int(reps.reshape(()))
        x = _reshape_p(a, shape[:axis + 1] + (1,) + shape[axis + 1:])
        x = _broadcast_p(x, shape[:axis + 1] + (r,) + shape[axis + 1:])
        return _reshape_p(x, shape[:axis] + (n * r,) + shape[axis + 1:])
    if reps.shape != (n,):
        raise ValueError(f"repeat: repeats of shape {reps.shape} do not match axis {axis} of length {n} "
                         f"(array shape {shape})")
    return getitem_p(a, _along(axis, np.repeat(np.arange(n), reps)))


# ---- reversal and rotation: basic slicing with negative steps
def flip(m, axis=None):
    """``numpy.flip``: reverse the order of elements along ``axis`` (all axes if None)."""
    m = _arr(m)
    axes = _unique_axes(axis, _ndim(m), "flip")
    return getitem_p(m, tuple(slice(None, None, -1) if k in axes else slice(None)
                              for k in range(_ndim(m))))


def fliplr(m):
    """``numpy.fliplr``: reverse axis 1."""
    m = _arr(m)
    if _ndim(m) < 2:
        raise ValueError(f"fliplr: input must be at least 2-d, got shape {_shape(m)}")
    return flip(m, 1)


def flipud(m):
    """``numpy.flipud``: reverse axis 0."""
    m = _arr(m)
    if _ndim(m) < 1:
        raise ValueError("flipud: input must be at least 1-d, got a 0-d array")
    return flip(m, 0)


def rot90(m, k=1, axes=(0, 1)):
    """``numpy.rot90``: rotate by 90 degrees ``k`` times, from ``axes[0]`` towards ``axes[1]``."""
    m = _arr(m)
    nd = _ndim(m)
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError(f"rot90: len(axes) must be 2, got axes={axes}")
    if axes[0] == axes[1] or abs(axes[0] - axes[1]) == nd:
        raise ValueError(f"rot90: the axes must be different, got axes={axes}")
    if not all(-nd <= a < nd for a in axes):
        raise ValueError(f"rot90: axes={axes} are out of range for an array of dimension {nd}")
    k %= 4
    if k == 0:
        return getitem_p(m, ())
    if k == 2:
        return flip(m, axes)
    perm = list(range(nd))
    perm[axes[0]], perm[axes[1]] = perm[axes[1]], perm[axes[0]]
    if k == 1:
        return _transpose_p(flip(m, axes[1]), tuple(perm))
    return flip(_transpose_p(m, tuple(perm)), axes[1])


# ---- roll: a primitive; its VJP rolls back, its JVP rolls the tangent the same way
def _roll(x, shift, axis):
    return np.roll(x, shift, axis)


def _batched_axes(axes, nb):
    return tuple(a + nb for a in axes)


_roll_p = primitive(_roll, name="roll")
defvjp(_roll_p, lambda g, ans, x, shift, axis: _roll_p(
    g, tuple(-s for s in shift), _batched_axes(axis, _nb(g, ans))))
defjvp(_roll_p, lambda t, ans, x, shift, axis: _roll_p(t, shift, _batched_axes(axis, _nb(t, x))))


def roll(a, shift, axis=None):
    """``numpy.roll``: shift elements cyclically; ``axis=None`` rolls the flattened array."""
    a = _arr(a)
    if axis is None:
        return _reshape_p(roll(ravel(a), shift, 0), _shape(a))
    try:
        shifts, axes = np.broadcast_arrays(np.asarray(shift), np.asarray(axis))
    except ValueError:
        raise ValueError(f"roll: shift {shift!r} and axis {axis!r} must be scalars or sequences of "
                         "the same length") from None
    if shifts.ndim > 1:
        raise ValueError(f"roll: shift and axis must be scalars or 1-d sequences, got {shift!r}, {axis!r}")
    total = {}
    for s, k in zip(shifts.ravel().tolist(), axes.ravel().tolist(), strict=True):
        (k,) = _axes(operator.index(k), _ndim(a))
        total[k] = total.get(k, 0) + operator.index(s)
    return _roll_p(a, tuple(total.values()), tuple(total))


# ---- pad
_PAD_KWARGS = {"constant": {"constant_values"}, "edge": set(), "reflect": {"reflect_type"},
               "symmetric": {"reflect_type"}, "wrap": set()}
_PAD_UNSUPPORTED = ("linear_ramp", "maximum", "mean", "median", "minimum", "empty")


def pad(array, pad_width, mode="constant", **kwargs):
    """``numpy.pad`` for modes "constant", "edge", "reflect", "symmetric" and "wrap".

    "constant" places the array inside a constant one (its VJP is the inner slice); the
    other modes gather along each padded axis with the index map NumPy itself uses, so the
    VJP adds the cotangent of each copy back onto its source element.
    """
    array = _arr(array)
    if not isinstance(mode, str) or mode in _PAD_UNSUPPORTED:
        raise NotImplementedError(f"pad: mode {mode!r} is not implemented; chainrule supports "
                                  f"{', '.join(repr(m) for m in _PAD_KWARGS)}")
    if mode not in _PAD_KWARGS:
        raise ValueError(f"pad: mode {mode!r} is not supported")
    unknown = set(kwargs) - _PAD_KWARGS[mode]
    if unknown:
        raise ValueError(f"pad: unsupported keyword arguments for mode {mode!r}: {sorted(unknown)}")
    if kwargs.get("reflect_type", "even") != "even":
        raise NotImplementedError(f"pad: reflect_type={kwargs['reflect_type']!r} is not implemented; "
                                  "only 'even'")
    shape = _shape(array)
    widths = np.asarray(pad_width)
    if widths.size and not np.issubdtype(widths.dtype, np.integer):
        raise TypeError(f"pad: pad_width must be integers, got {pad_width!r}")
    try:
        widths = np.broadcast_to(widths, (len(shape), 2)).astype(np.int64)
    except ValueError:
        raise ValueError(f"pad: pad_width of shape {np.shape(pad_width)} does not fit an array of "
                         f"shape {shape} (it must broadcast to {(len(shape), 2)})") from None
    if np.any(widths < 0):
        raise ValueError(f"pad: pad_width may not contain negative values, got {widths.tolist()}")
    widths = [tuple(w) for w in widths.tolist()]
    if mode == "constant":
        inner = tuple(slice(b, b + n) for (b, _), n in zip(widths, shape, strict=True))
        out = scatter_add(array, inner, tuple(b + n + e for (b, e), n in zip(widths, shape, strict=True)))
        values = kwargs.get("constant_values", 0)
        if isinstance(values, Tensor) and values._trace is not None:     # differentiated: c · border
            if _ndim(values) != 0:
                raise NotImplementedError("pad: a traced constant_values must be a scalar; pad with 0 and "
                                          "add the constants times a mask of the border instead")
            from ._ufuncs import astype  # _ufuncs imports this module
            border = np.pad(np.zeros(shape, _dtype(array)), widths, constant_values=1)
            return out + astype(values, _dtype(array)) * border
        values = np.asarray(_primal(values))
        if not np.any(values != 0):
            return out
        return out + np.pad(np.zeros(shape, _dtype(array)), widths, constant_values=values)
    for k, ((b, e), n) in enumerate(zip(widths, shape, strict=True)):
        if not (b or e):
            continue
        if n == 0:
            raise ValueError(f"pad: cannot extend the empty axis {k} of an array of shape {shape} "
                             f"with mode {mode!r}")
        array = getitem_p(array, _along(k, np.pad(np.arange(n), (b, e), mode=mode)))
    return array


# ---- diagonals: a strided slice of the last two axes strung up into one
def diagonal(a, offset=0, axis1=0, axis2=1):
    """``numpy.diagonal``: the diagonal ``offset`` of the 2-d sub-arrays on ``axis1``, ``axis2``,
    as a new last axis."""
    a = _arr(a)
    nd = _ndim(a)
    if nd < 2:
        raise ValueError(f"diagonal: needs an array of at least two dimensions, got shape {_shape(a)}")
    (i,), (j,) = _axes(axis1, nd), _axes(axis2, nd)
    if i == j:
        raise ValueError(f"diagonal: axis1 and axis2 cannot be the same (both are axis {i})")
    perm = tuple(k for k in range(nd) if k not in (i, j)) + (i, j)
    if perm != tuple(range(nd)):
        a = _transpose_p(a, perm)
    *lead, n, m = _shape(a)
    offset = operator.index(offset)
    # element (r, r + offset) is at r * (m + 1) + offset of the flattened matrix
    if offset >= 0:
        length, start = max(0, min(n, m - offset)), offset
    else:
        length, start = max(0, min(n + offset, m)), -offset * m
    flat = _reshape_p(a, tuple(lead) + (n * m,))
    if not length:
        return getitem_p(flat, _along(len(lead), slice(0, 0)))
    return getitem_p(flat, _along(len(lead), slice(start, start + (length - 1) * (m + 1) + 1, m + 1)))


def diag(v, k=0):
    """``numpy.diag``: a 1-d ``v`` becomes a matrix with ``v`` on diagonal ``k``; a 2-d ``v``
    gives its diagonal ``k``."""
    v = _arr(v)
    k = operator.index(k)
    if _ndim(v) == 2:
        return diagonal(v, k)
    if _ndim(v) != 1:
        raise ValueError(f"diag: input must be 1-d or 2-d, got shape {_shape(v)}")
    n = _shape(v)[0]
    size = n + abs(k)
    start = k if k >= 0 else -k * size
    where = slice(start, start + (n - 1) * (size + 1) + 1, size + 1) if n else slice(0, 0)
    return _reshape_p(scatter_add(v, (where,), (size * size,)), (size, size))


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """``numpy.trace``: the sum along a diagonal."""
    from ._reductions import sum
    if out is not None:
        raise TypeError("trace: out= is not supported")
    return sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def _triangle(m, k, name, keep):
    from ._ufuncs import where
    m = _arr(m)
    if _ndim(m) < 1:
        raise ValueError(f"{name}: needs an array of at least one dimension, got a 0-d array")
    rows, cols = _shape(m)[-2:] if _ndim(m) > 1 else 2 * _shape(m)[-1:]
    return where(keep(np.tri(rows, cols, operator.index(k), dtype=bool)), m, np.zeros((), _dtype(m)))


def tril(m, k=0):
    """``numpy.tril``: zero above diagonal ``k`` (a 1-d ``m`` is taken as every row)."""
    return _triangle(m, k, "tril", lambda below: below)


def triu(m, k=0):
    """``numpy.triu``: zero below diagonal ``k`` (a 1-d ``m`` is taken as every row)."""
    return _triangle(m, k - 1, "triu", lambda below: ~below)
