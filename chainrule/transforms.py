"""The functional transforms: ``grad``, ``vjp``, ``jvp``, ``jacobian``, ``hessian`` and friends.

Layout (the lecture's numerator layout, generalised to tensors): for ``y = f(x)`` the
Jacobian has shape ``y.shape + x.shape``; entry ``[i..., j...]`` is ``∂y[i...]/∂x[j...]``.
For a scalar ``y`` this is the gradient, shaped like ``x``; the lecture's 1×d row vector
is ``grad(f)(x).reshape(1, -1)``.  ``jacobian_matrix`` strings both sides up into vectors
and returns the k×d matrix itself.

Whole Jacobians are computed in one pass: the reverse mode pushes a batch of cotangents (the
rows of an identity) backwards through the recorded graph, the forward mode a batch of
tangents forwards; every derivative rule accepts leading batch axes.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ._core import ForwardTrace, ReverseTrace, Tensor, _dtype, _shape, backward_pass
from ._tree import tree_flatten, tree_unflatten

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacobian", "jacfwd", "jacrev",
           "jacobian_matrix", "hessian", "hvp"]


# --------------------------------------------------------------------------- helpers

def _as_input(x, what):
    """Check a differentiable input: floating point (or a traced value), never int/bool."""
    if isinstance(x, Tensor):
        if x._trace is None:
            x = x._value
        else:
            dt = x.dtype
            if not np.issubdtype(dt, np.inexact):
                raise TypeError(f"{what}: cannot differentiate with respect to an integer or "
                                f"boolean argument (dtype {dt}); convert it to float first")
            return x
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{what}: cannot differentiate with respect to a boolean argument")
    if isinstance(x, (int, np.integer)):
        raise TypeError(f"{what}: cannot differentiate with respect to an integer argument "
                        f"({x!r}); pass a float such as {float(x)!r}")
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        kind = "complex numbers are not supported" if arr.dtype.kind == "c" else \
            "convert it to a floating-point dtype first"
        raise TypeError(f"{what}: cannot differentiate with respect to an argument of dtype "
                        f"{arr.dtype}; {kind}")
    return arr


def _argnums(argnums, nargs, name):
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if single else tuple(int(a) for a in argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"{name}: argnums={argnums} but the function was called with "
                             f"{nargs} positional argument(s)")
    nums = tuple(a % nargs for a in nums)
    if len(set(nums)) != len(nums):
        raise ValueError(f"{name}: argnums={argnums} names the same argument twice")
    return nums, single


def _split(f, args, argnums, name, kwargs=None):
    """``f`` as a function of the differentiated arguments only (as one tuple); keyword
    arguments are passed through and not differentiated, as in JAX."""
    nums, single = _argnums(argnums, len(args), name)
    args = list(args)
    kwargs = kwargs or {}

    def g(*diff):
        full = list(args)
        for k, v in zip(nums, diff):
            full[k] = v
        return f(*full, **kwargs)

    g.__name__ = _fname(f)
    # checked here, where the position of each argument in the user's call is known
    diff = tuple(_checked_arg(args[k], f"{name} of {_fname(f)}, argument {k}") for k in nums)
    return g, diff, single


def _checked_arg(arg, what):
    leaves, tdef = tree_flatten(arg)
    return tree_unflatten(tdef, [_as_input(x, what) for x in leaves])


def _positions(args):
    """The position in ``args`` of each leaf of ``tree_flatten(args)``."""
    return [k for k, a in enumerate(args) for _ in tree_flatten(a)[0]]


def _zeros(batch, x):
    return np.zeros(batch + _shape(x), dtype=_dtype(x))


def _unbox(out, trace):
    """Split an output leaf into (value, node) for a reverse trace."""
    if isinstance(out, Tensor) and out._trace is trace:
        return out._value, out._node
    return out, None


# --------------------------------------------------------------------------- reverse mode

def vjp(f, *primals):
    """``(f(*primals), vjp_fn)``; ``vjp_fn(ct)`` returns the cotangent of every primal.

    ``ct`` is shaped like the output (a pytree like it, for pytree outputs); ``vjp_fn`` may
    be called many times.  Extra leading axes on ``ct`` are a batch: each slice is pulled
    back on its own, in the same pass.
    """
    return _vjp(f, primals, "vjp")


def _vjp(f, primals, name, has_aux=False):
    trace = ReverseTrace()
    flat, tdef = tree_flatten(primals)
    flat = [_as_input(x, f"{name} of {_fname(f)}, argument {k}")
            for x, k in zip(flat, _positions(primals))]
    leaves = [trace.leaf(x) for x in flat]
    leaf_nodes = [t._node for t in leaves]      # before f: assignments inside f rebind leaves
    try:
        out = f(*tree_unflatten(tdef, leaves))
    finally:
        trace.alive = False
    aux = None
    if has_aux:
        out, aux = _split_aux(out, name)
        aux = _returned(aux)                      # this transform's trace is dead by now
    oflat, otdef = tree_flatten(out)
    _check_outputs(oflat, f, name)
    pairs = [_unbox(o, trace) for o in oflat]
    values = [v for v, _ in pairs]
    nodes = [n for _, n in pairs]

    def vjp_fn(ct):
        cflat, ctdef = tree_flatten(ct)
        if len(cflat) != len(values):
            raise ValueError(f"vjp of {_fname(f)}: the cotangent has {len(cflat)} leaves but "
                             f"the output has {len(values)}")
        batch = None
        for c, v in zip(cflat, values):
            cs, vs = _shape(c), _shape(v)
            if len(cs) < len(vs) or cs[len(cs) - len(vs):] != vs:
                raise ValueError(f"vjp of {_fname(f)}: cotangent of shape {cs} does not match "
                                 f"the output's shape {vs}")
            lead = cs[:len(cs) - len(vs)]
            if batch is not None and lead != batch:
                raise ValueError(f"vjp of {_fname(f)}: the cotangents' leading (batch) axes "
                                 f"differ: {batch} and {lead}")
            batch = lead
        grads = backward_pass(nodes, cflat, retain_graph=True)
        res = [grads.get(n) for n in leaf_nodes]
        res = [_zeros(batch or (), x) if r is None else _like(r, x) for r, x in zip(res, flat)]
        return tree_unflatten(tdef, _unshared(res, cflat + flat))

    result = tree_unflatten(otdef, values)
    return (result, vjp_fn, aux) if has_aux else (result, vjp_fn)


def _unshared(results, given):
    """The derivatives as arrays the caller may write to: a rule may pass its cotangent through
    (``grad`` of a sum is a broadcast of the seed, the two arguments of ``a + b`` receive the
    same array, ``vjp`` of the identity returns the caller's own cotangent), so an array that is
    read-only, or shares memory with an earlier result or with what the caller passed in, is
    copied."""
    out = []
    for r in results:
        if type(r) is np.ndarray and (
                not r.flags.writeable
                or any(type(o) is np.ndarray and np.may_share_memory(r, o) for o in out)
                or any(type(c) is np.ndarray and np.may_share_memory(r, c) for c in given)):
            r = r.copy()
        out.append(r)
    return out


def _check_outputs(leaves, f, name):
    for o in leaves:
        if not isinstance(o, (Tensor, np.ndarray, np.generic, float, int)):
            raise TypeError(f"{name} of {_fname(f)}: the function returned a {type(o).__name__}; "
                            "outputs must be arrays, numbers or tuples/lists/dicts of them")


def _like(d, x):
    """A derivative in its input's dtype: float32 in gives float32 out (NumPy's promotion by a
    float64 constant or cotangent inside the function does not leak into the result)."""
    dt = _dtype(x)
    if _dtype(d) == dt or not np.issubdtype(dt, np.floating):
        return d
    from . import numpy as cnp
    return cnp.astype(d, dt)


def _split_aux(out, name):
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"{name}(..., has_aux=True): the function must return a pair (output, aux)")
    return out[0], out[1]


def _returned(tree):
    """An aux output as it leaves its transform: the levels of transforms that have returned
    are stripped, the enclosing ones kept, so that ``aux`` stays differentiable by an outer
    ``grad`` as in JAX (stripping every level gave an outer derivative of 0)."""
    def strip(x):
        while isinstance(x, Tensor) and x._trace is not None and not x._trace.alive:
            x = x._value
        return x
    flat, tdef = tree_flatten(tree)
    return tree_unflatten(tdef, [strip(x) for x in flat])


def _fname(f):
    return getattr(f, "__name__", type(f).__name__)


def value_and_grad(f, argnums=0, has_aux=False):
    """``f``'s value and its gradient(s) with respect to ``argnums``; ``f`` must be scalar."""

    @functools.wraps(f)
    def value_and_grad_f(*args, **kwargs):
        g, diff, single = _split(f, args, argnums, "grad", kwargs)
        res = _vjp(g, diff, "grad", has_aux)
        out, fn = res[0], res[1]
        if isinstance(out, (tuple, list, dict)) or out is None:
            pair = (" (for a pair (value, aux), use grad(f, has_aux=True))"
                    if isinstance(out, tuple) and len(out) == 2 and not has_aux else "")
            raise TypeError(f"grad of {_fname(f)}: the function must return a scalar, got a "
                            f"{type(out).__name__}{pair}; use jacobian() or vjp() for other outputs")
        if _shape(out) != ():
            raise TypeError(f"grad of {_fname(f)}: the function must return a scalar, got shape "
                            f"{_shape(out)}; use jacobian() or vjp() for non-scalar outputs")
        if not np.issubdtype(_dtype(out), np.inexact):
            raise TypeError(f"grad of {_fname(f)}: the function returns a {_dtype(out)} value, which "
                            "has no derivative; return a floating-point scalar (a comparison or a "
                            "count is piecewise constant)")
        grads = fn(np.ones((), _dtype(out)) if not isinstance(out, Tensor) else _ones_like(out))
        grads = grads[0] if single else grads
        return ((out, res[2]), grads) if has_aux else (out, grads)

    return value_and_grad_f


def _ones_like(x):
    return np.ones(_shape(x), _dtype(x))


def grad(f, argnums=0, has_aux=False):
    """The gradient of scalar-valued ``f``, shaped like the argument (a tuple for tuple argnums).

    In the lecture's layout the gradient is the row vector ``grad(f)(x).reshape(1, -1)``.
    """
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def grad_f(*args, **kwargs):
        (out, g) = vg(*args, **kwargs)
        return (g, out[1]) if has_aux else g

    return grad_f


# --------------------------------------------------------------------------- forward mode

def jvp(f, primals, tangents):
    """``(f(*primals), J·tangents)``: the output and its directional derivative. ``primals`` and
    ``tangents`` are tuples (or lists), one entry per argument: ``jvp(f, (x,), (t,))``."""
    _argument_tuples("jvp", primals, tangents)
    return _jvp(f, primals, tangents, 0)


def _argument_tuples(name, primals, tangents):
    for what, v in (("primals", primals), ("tangents", tangents)):
        if not isinstance(v, (tuple, list)):
            raise TypeError(f"{name}: {what} must be a tuple or list with one entry per argument, "
                            f"e.g. {name}(f, (x,), (t,)); got a {type(v).__name__}")


def _jvp(f, primals, tangents, nbatch):
    primals, tangents = tuple(primals), tuple(tangents)
    pflat, tdef = tree_flatten(primals)
    tflat, tdef2 = tree_flatten(tangents)
    if tdef != tdef2 or len(pflat) != len(tflat):
        raise ValueError(f"jvp of {_fname(f)}: primals and tangents must have the same structure")
    trace = ForwardTrace(nbatch)
    boxes = []
    for x, t, k in zip(pflat, tflat, _positions(primals)):
        x = _as_input(x, f"jvp of {_fname(f)}, argument {k}")
        ts = _shape(t)
        if ts[nbatch:] != _shape(x):
            raise ValueError(f"jvp of {_fname(f)}: tangent of shape {ts[nbatch:]} does not match "
                             f"its primal's shape {_shape(x)}")
        if isinstance(t, Tensor) or _dtype(t) == _dtype(x):
            tt = t
        else:
            tt = np.asarray(t, dtype=_dtype(x))
        boxes.append(Tensor._make(x, trace, None, tt))
    try:
        out = f(*tree_unflatten(tdef, boxes))
    finally:
        trace.alive = False
    oflat, otdef = tree_flatten(out)
    _check_outputs(oflat, f, "jvp")
    batch = _shape(tflat[0])[:nbatch] if tflat else ()
    values, touts = [], []
    for o in oflat:
        if isinstance(o, Tensor) and o._trace is trace:
            values.append(o._value)
            touts.append(_like(o._tangent, o._value))
        else:
            values.append(o)
            touts.append(_zeros(batch, o))
    return tree_unflatten(otdef, values), tree_unflatten(otdef, touts)


# --------------------------------------------------------------------------- Jacobians

def jacobian(f, argnums=0, mode="rev", has_aux=False):
    """The Jacobian of ``f``, shaped ``out.shape + in.shape`` (numerator layout).

    ``mode="rev"`` pushes one cotangent per output element backwards, ``mode="fwd"`` one
    tangent per input element forwards; both in a single batched pass.  Choose ``fwd`` when
    the input is smaller than the output.
    """
    if mode not in ("rev", "fwd"):
        raise ValueError(f"jacobian: mode must be 'rev' or 'fwd', got {mode!r}")

    @functools.wraps(f)
    def jacobian_f(*args, **kwargs):
        g, diff, single = _split(f, args, argnums, "jacobian", kwargs)
        if mode == "rev":
            res = _jac_rev(g, diff, has_aux)
        else:
            res = _jac_fwd(g, diff, has_aux)
        jac, aux = res
        if isinstance(jac, _PerOutput):
            jac = jac.map(lambda t: t[0] if single else t)
        elif single:
            jac = jac[0]
        return (jac, aux) if has_aux else jac

    return jacobian_f


def jacrev(f, argnums=0, has_aux=False):
    return jacobian(f, argnums, "rev", has_aux)


def jacfwd(f, argnums=0, has_aux=False):
    return jacobian(f, argnums, "fwd", has_aux)


class _PerOutput:
    """A pytree of per-output results, each a tuple over inputs (internal)."""

    def __init__(self, treedef, items):
        self.treedef, self.items = treedef, items

    def map(self, fn):
        return tree_unflatten(self.treedef, [fn(i) for i in self.items])


def _basis(leaves):
    """The rows of one identity, split among ``leaves`` and shaped like each: the batch of
    cotangents (reverse mode) or tangents (forward mode) that yields a whole Jacobian."""
    sizes = [math.prod(_shape(v)) for v in leaves]
    total = sum(sizes)
    parts, start = [], 0
    for v, n in zip(leaves, sizes):
        part = np.zeros((total, n), dtype=_dtype(v))     # each leaf's part in its own dtype
        part[start:start + n] = np.eye(n, dtype=part.dtype)
        parts.append(part.reshape((total,) + _shape(v)))
        start += n
    return sizes, parts


def _jac_rev(g, diff, has_aux):
    res = _vjp(g, diff, "jacobian", has_aux)
    out, fn = res[0], res[1]
    oflat, otdef = tree_flatten(out)
    sizes, cts = _basis(oflat)
    total = sum(sizes)
    grads = fn(tree_unflatten(otdef, cts))               # one backward pass, batch = total
    gflat, gtdef = tree_flatten(grads)
    from . import numpy as cnp
    items, start = [], 0
    for o, n in zip(oflat, sizes):
        per_in = []
        for gr, x in zip(gflat, tree_flatten(diff)[0]):
            block = gr[start:start + n] if n != total else gr
            per_in.append(cnp.reshape(block, _shape(o) + _shape(x)))
        start += n
        items.append(tree_unflatten(gtdef, per_in))
    aux = res[2] if has_aux else None
    return _assemble(otdef, items), aux


def _jac_fwd(g, diff, has_aux):
    from . import numpy as cnp
    flat, tdef = tree_flatten(diff)
    flat = [_as_input(x, "jacobian") for x in flat]
    sizes, tans = _basis(flat)
    total = sum(sizes)
    aux_box = []

    def g_aux(*a):
        r = g(*a)
        if has_aux:
            r, aux = _split_aux(r, "jacobian")
            aux_box.append(aux)
        return r

    out, touts = _jvp(g_aux, tree_unflatten(tdef, flat), tree_unflatten(tdef, tans), 1)
    oflat, otdef = tree_flatten(out)
    tflat = tree_flatten(touts)[0]
    items = []
    for o, t in zip(oflat, tflat):
        per_in, start = [], 0
        nd = len(_shape(o))
        for x, n in zip(flat, sizes):
            block = t[start:start + n] if n != total else t      # (n, *out.shape)
            block = cnp.reshape(block, _shape(x) + _shape(o))
            nx = len(_shape(x))
            perm = tuple(range(nx, nx + nd)) + tuple(range(nx))
            per_in.append(cnp.transpose(block, perm))
            start += n
        items.append(tree_unflatten(tdef, per_in))
    return _assemble(otdef, items), (_returned(aux_box[0]) if aux_box else None)


def _assemble(otdef, items):
    if otdef == "*":
        return items[0]
    return _PerOutput(otdef, items)


def jacobian_matrix(f, argnums=0, order="C", mode="rev"):
    """The lecture's k×d Jacobian: output and input strung up into vectors.

    ``order="C"`` strings tensors up row-major (NumPy's ``ravel``), ``order="F"``
    column-major, as MATLAB's ``x(:)``.  For several ``argnums`` the inputs are
    concatenated, in order, into one vector.
    """
    if order not in ("C", "F"):
        raise ValueError(f"jacobian_matrix: order must be 'C' or 'F', got {order!r}")
    jac_f = jacobian(f, argnums, mode)
    single = isinstance(argnums, (int, np.integer))
    from . import numpy as cnp

    @functools.wraps(f)
    def jacobian_matrix_f(*args, **kwargs):
        nums = (argnums,) if single else tuple(argnums)
        for k in nums:
            if isinstance(args[k], (tuple, list, dict)):
                raise TypeError(f"jacobian_matrix: argument {k} is a {type(args[k]).__name__}; it "
                                "strings up single arrays only (use jacobian for pytrees)")
        jac = jac_f(*args, **kwargs)
        if isinstance(jac, (tuple, list, dict)) and single:
            raise TypeError("jacobian_matrix: the function must return a single array")
        blocks = (jac,) if single else tuple(jac)
        cols = []
        for b, k in zip(blocks, nums):
            if isinstance(b, (tuple, list, dict)):
                raise TypeError("jacobian_matrix: the function must return a single array")
            ishape = _shape(args[k])
            oshape = _shape(b)[:len(_shape(b)) - len(ishape)]     # J is out.shape + in.shape
            if order == "F":
                no, ni = len(oshape), len(ishape)
                perm = tuple(range(no))[::-1] + tuple(range(no, no + ni))[::-1]
                b = cnp.transpose(b, perm)
            cols.append(cnp.reshape(b, (math.prod(oshape), math.prod(ishape))))
        return cols[0] if len(cols) == 1 else cnp.concatenate(cols, axis=1)

    return jacobian_matrix_f


def hessian(f, argnums=0):
    """Second derivatives, shaped ``out.shape + in.shape + in.shape``: forward over reverse."""
    return jacobian(jacobian(f, argnums, "rev"), argnums, "fwd")


def hvp(f, primals, tangents):
    """The Hessian of scalar ``f`` at ``primals`` times ``tangents``: forward over reverse.

    ``primals`` and ``tangents`` are tuples (one entry per argument of ``f``); the result has
    their structure: one array for a one-argument ``f``, else a tuple.  Costs about two
    gradients, and never forms the Hessian.
    """
    _argument_tuples("hvp", primals, tangents)
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"hvp: {len(primals)} primals but {len(tangents)} tangents")
    _, out = jvp(grad(f, argnums=tuple(range(len(primals)))), primals, tangents)
    return out[0] if len(primals) == 1 else out
