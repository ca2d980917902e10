"""Products of arrays.  ``matmul`` is the primitive; its VJPs are the lecture's
``∂(Ax)/∂x = A`` read backwards: ``ḡ_A = g·Bᵀ`` and ``ḡ_B = Aᵀ·g``."""

from __future__ import annotations

import collections
import itertools
import math
import string

import numpy as np

from .._core import _dtype, _ndim, _shape, defjvp, defvjp, primitive, unbroadcast
from ._indexing import getitem
from ._shape import _axes, _reshape_p, swapaxes, transpose
from ._ufuncs import multiply

__all__ = ["matmul", "dot", "vdot", "inner", "outer", "tensordot", "einsum", "kron", "cross"]


def _matmul(a, b):
    return np.matmul(a, b)


def _check_matmul(a, b):
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        raise ValueError(f"matmul: operands must not be scalars, got shapes {sa} and {sb}")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise ValueError(f"matmul: shapes {sa} and {sb} are not aligned ({ka} != {kb})")


def _as_matrices(g, a, b, nb):
    """Promote vectors to matrices (a row, b a column) and give ``g`` the same axes."""
    av, bv = _ndim(a) == 1, _ndim(b) == 1
    if av:
        a = _reshape_p(a, (1,) + _shape(a))
    if bv:
        b = _reshape_p(b, _shape(b) + (1,))
    if av or bv:
        gs = _shape(g)
        gs = gs + (1,) if bv else gs
        if av:
            gs = gs[:-1] + (1, gs[-1]) if bv else gs[:-1] + (1, gs[-1])
        g = _reshape_p(g, gs)
    return g, a, b, av, bv


def _expand_last(x):
    return _reshape_p(x, _shape(x) + (1,))


def _expand_before_last(x):
    s = _shape(x)
    return _reshape_p(x, s[:-1] + (1, s[-1]))


def _mT(x):
    nd = _ndim(x)
    return swapaxes(x, nd - 1, nd - 2)


def _mm_ndim(a, b):
    """The number of axes of ``a @ b`` (so the rules need not read the output itself)."""
    na, nb = _ndim(a), _ndim(b)
    if na == 1 or nb == 1:
        return na + nb - 2
    return max(na, nb)


def _mm_vjp_a(g, ans, a, b):
    na, nb_ = _ndim(a), _ndim(b)
    if na == 2 and nb_ == 2 and _ndim(g) == 2:
        return g @ _mT(b)                       # the common case: one BLAS call
    if na == 2 and nb_ == 1:                    # A·x: ḡ_A = g xᵀ, per batch row
        return _expand_last(g) * b
    if na == 1 and nb_ == 2:                    # xᵀB: ḡ_x = g Bᵀ, all batch rows in one GEMM
        return g @ _mT(b)
    nb = _ndim(g) - _mm_ndim(a, b)
    g2, a2, b2, av, bv = _as_matrices(g, a, b, nb)
    c = g2 @ _mT(b2)
    c = unbroadcast(c, a2, nb)
    return _reshape_p(c, _shape(c)[:nb] + _shape(a)) if av else c


def _mm_vjp_b(g, ans, a, b):
    na, nb_ = _ndim(a), _ndim(b)
    if na == 2 and nb_ == 2 and _ndim(g) == 2:
        return _mT(a) @ g
    if na == 2 and nb_ == 1:                    # A·x: ḡ_x = g A, all batch rows in one GEMM
        return g @ a
    if na == 1 and nb_ == 2:                    # xᵀB: ḡ_B = x gᵀ, per batch row
        return _expand_last(a) * _expand_before_last(g)
    nb = _ndim(g) - _mm_ndim(a, b)
    g2, a2, b2, av, bv = _as_matrices(g, a, b, nb)
    c = _mT(a2) @ g2
    c = unbroadcast(c, b2, nb)
    return _reshape_p(c, _shape(c)[:nb] + _shape(b)) if bv else c


def _mm_jvp(t, ans, a, b, which):
    nb = _ndim(t) - (_ndim(a) if which == 0 else _ndim(b))
    if nb == 0:
        return t @ b if which == 0 else a @ t
    na, nb_ = _ndim(a), _ndim(b)
    if na <= 2 and nb_ <= 2 and not (na == 1 and nb_ == 1):
        if which == 0:
            return t @ b                        # batch axes ride along as matrix rows
        if na == 2 and nb_ == 1:
            return t @ _mT(a)                   # A·ṫ for every batch row in one GEMM
        return a @ t
    # promote vectors, align the tangent's batch axes in front of the broadcast axes
    av, bv = _ndim(a) == 1, _ndim(b) == 1
    a2 = _reshape_p(a, (1,) + _shape(a)) if av else a
    b2 = _reshape_p(b, _shape(b) + (1,)) if bv else b
    out_nd = max(_ndim(a2), _ndim(b2))
    ts = _shape(t)
    if which == 0:
        ts2 = ts[:nb] + ((1,) + ts[nb:] if av else ts[nb:])
        t2 = _reshape_p(t, ts2[:nb] + (1,) * (out_nd - len(ts2) + nb) + ts2[nb:])
        c = t2 @ b2
    else:
        ts2 = ts[:nb] + (ts[nb:] + (1,) if bv else ts[nb:])
        t2 = _reshape_p(t, ts2[:nb] + (1,) * (out_nd - len(ts2) + nb) + ts2[nb:])
        c = a2 @ t2
    return _reshape_p(c, _shape(c)[:nb] + _shape(ans))


matmul_p = primitive(_matmul, name="matmul")
defvjp(matmul_p, _mm_vjp_a, _mm_vjp_b)
defjvp(matmul_p,
       lambda t, ans, a, b: _mm_jvp(t, ans, a, b, 0),
       lambda t, ans, a, b: _mm_jvp(t, ans, a, b, 1))


def matmul(x1, x2):
    """``numpy.matmul`` (the ``@`` operator)."""
    _check_matmul(x1, x2)
    return matmul_p(x1, x2)


# --------------------------------------------------------------------------- einsum
#
# ``einsum`` is the one primitive behind dot, vdot, inner, outer and tensordot.  It is linear
# in each operand, so its JVP is the same einsum with the tangent in that operand's place, and
# the VJP of operand i is the einsum that contracts the cotangent with every *other* operand
# back onto operand i's subscripts:  ḡ_i[ij] = Σ g[out] · Π_{k≠i} x_k[...].
# The public function spells the subscripts out (no '...', explicit output) once, so the rules
# only ever see plain letters.

_LETTERS = string.ascii_letters


def _fresh(used):
    """Letters not in ``used``, in order (for batch axes, ellipses and diagonals)."""
    return iter(c for c in _LETTERS if c not in used)


def _einsum(*operands, spec):
    ins, out = spec
    # three or more operands need a contraction order; a large pair is worth handing to BLAS
    # (NumPy's own loop wins below about 64³ multiply-adds)
    optimize = len(operands) > 2 or _work(ins, operands) > 1 << 16
    result = np.einsum(",".join(ins) + "->" + out, *operands, optimize=optimize)
    if len(operands) == 1 and np.may_share_memory(result, operands[0]):
        result = result.copy()                     # 'ij->ji', 'ii->i': NumPy returns a view
    return result


def _work(ins, operands):
    sizes = _label_sizes(ins, [np.shape(x) for x in operands])
    return math.prod(sizes.values())


def _label_sizes(ins, shapes):
    sizes = {}
    for term, shape in zip(ins, shapes, strict=True):
        for c, n in zip(term, shape, strict=True):
            if sizes.get(c, 1) == 1:
                sizes[c] = n
    return sizes


def _einsum_vjp(i):
    def rule(g, ans, *operands, spec):
        ins, out = spec
        nb = _ndim(g) - len(out)
        used = set("".join(ins))
        fresh = _fresh(used)
        batch = "".join(next(fresh) for _ in range(nb))
        sizes = _label_sizes(ins, [_shape(x) for x in operands])
        dtype = _dtype(g)
        terms = [batch + out] + [t for k, t in enumerate(ins) if k != i]
        args = [g] + [x for k, x in enumerate(operands) if k != i]
        target, shape = ins[i], _shape(operands[i])
        res, stretched = {}, False          # result label -> its size
        for c, n in zip(target, shape, strict=True):
            if n == 1 and sizes[c] != 1:
                stretched = True            # broadcast axis: summed here, put back as size 1
            elif c in res:
                d = next(fresh)             # a repeated label is a diagonal: ḡ = δ_cd · ...
                terms.append(c + d)
                args.append(np.eye(n, dtype=dtype))
                res[d] = n
            else:
                res[c] = n
        present = _label_sizes(terms, [_shape(x) for x in args])
        for c, n in res.items():
            if present.get(c, 1) != n:      # summed in operand i alone (or broadcast from size 1
                terms.append(c)             # elsewhere): the cotangent is constant along c
                args.append(np.ones(n, dtype=dtype))
        c = _einsum_p(*args, spec=(tuple(terms), batch + "".join(res)))
        if stretched:
            c = _reshape_p(c, _shape(g)[:nb] + shape)
        return c
    return rule


def _einsum_jvp(i):
    def rule(t, ans, *operands, spec):
        ins, out = spec
        nb = _ndim(t) - _ndim(operands[i])
        batch = "".join(itertools.islice(_fresh(set("".join(ins))), nb))
        terms = tuple(batch + term if k == i else term for k, term in enumerate(ins))
        args = [t if k == i else x for k, x in enumerate(operands)]
        return _einsum_p(*args, spec=(terms, batch + out))
    return rule


_einsum_p = primitive(_einsum, name="einsum")
_MAX_OPERANDS = len(_LETTERS)
defvjp(_einsum_p, *[_einsum_vjp(i) for i in range(_MAX_OPERANDS)])
defjvp(_einsum_p, *[_einsum_jvp(i) for i in range(_MAX_OPERANDS)])


def _parse_einsum(subscripts, shapes):
    """Spell out '...' and the implicit output: (input terms, output term), letters only."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string, got {type(subscripts).__name__}")
    s = subscripts.replace(" ", "")
    lhs, arrow, out = s.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum: subscripts {subscripts!r} name {len(ins)} operand(s) but "
                         f"{len(shapes)} were given")
    for term in ins + [out]:
        bad = set(term.replace("...", "")) - set(_LETTERS)
        if bad or term.count("...") > 1:
            raise ValueError(f"einsum: invalid subscripts {subscripts!r} (use letters and at "
                             "most one '...' per operand)")
    fresh = _fresh(set(s))
    nell = []
    for term, shape in zip(ins, shapes, strict=True):
        named = len(term.replace("...", ""))
        n = len(shape) - named
        if n < 0 or (n > 0 and "..." not in term):
            raise ValueError(f"einsum: operand of shape {shape} has {len(shape)} axes but its "
                             f"subscripts {term!r} name {named}")
        nell.append(n)
    ell = "".join(next(fresh) for _ in range(max(nell, default=0)))
    ins = [term.replace("...", ell[len(ell) - n:]) for term, n in zip(ins, nell, strict=True)]
    if arrow:
        if "..." not in out and ell and any("..." in t for t in lhs.split(",")):
            raise ValueError(f"einsum: subscripts {subscripts!r} broadcast over '...' but the "
                             "output does not say where those axes go; add '...' to it")
        out = out.replace("...", ell)
        for c in out:
            if out.count(c) > 1 or c not in "".join(ins):
                raise ValueError(f"einsum: output label {c!r} in {subscripts!r} must appear "
                                 "exactly once in the output and in some operand")
    else:
        counts = collections.Counter("".join(ins))
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    sizes = {}
    for term, shape in zip(ins, shapes, strict=True):
        for c, n in zip(term, shape, strict=True):
            m = sizes.setdefault(c, n)
            if m != n and 1 not in (m, n):
                raise ValueError(f"einsum: label {c!r} in {subscripts!r} has size {m} in one "
                                 f"operand and {n} in another (shapes {', '.join(map(str, shapes))})")
            sizes[c] = max(m, n)
    return tuple(ins), out


def einsum(subscripts, *operands, optimize=None):
    """``numpy.einsum``: explicit or implicit output, '...' broadcasting, any number of operands.

    ``optimize`` is accepted for NumPy compatibility; a contraction path is always chosen for
    three or more operands.
    """
    if not operands:
        raise ValueError("einsum: at least one operand is required")
    return _einsum_p(*operands, spec=_parse_einsum(subscripts, [_shape(x) for x in operands]))


# --------------------------------------------------------------------------- built on einsum

def tensordot(a, b, axes=2):
    """``numpy.tensordot``: sum over the last ``axes`` axes of ``a`` and the first of ``b``,
    or over the pair of axis lists ``axes = (axes_a, axes_b)``."""
    sa, sb = _shape(a), _shape(b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > min(len(sa), len(sb)):
            raise ValueError(f"tensordot: cannot sum over {n} axes of shapes {sa} and {sb}")
        ax_a, ax_b = tuple(range(len(sa) - n, len(sa))), tuple(range(n))
    else:
        ax_a, ax_b = axes
        ax_a = _axes(ax_a, len(sa))
        ax_b = _axes(ax_b, len(sb))
        if len(ax_a) != len(ax_b):
            raise ValueError(f"tensordot: axes {axes} pair {len(ax_a)} axes of a with "
                             f"{len(ax_b)} axes of b (shapes {sa} and {sb})")
    for i, j in zip(ax_a, ax_b, strict=True):
        if sa[i] != sb[j]:
            raise ValueError(f"tensordot: shapes {sa} and {sb} are not aligned: axis {i} of a "
                             f"has size {sa[i]} but axis {j} of b has size {sb[j]}")
    letters = iter(_LETTERS)
    ta = [next(letters) for _ in sa]
    tb = [next(letters) for _ in sb]
    for i, j in zip(ax_a, ax_b, strict=True):
        tb[j] = ta[i]
    out = [c for k, c in enumerate(ta) if k not in ax_a] + [c for k, c in enumerate(tb) if k not in ax_b]
    return _einsum_p(a, b, spec=(("".join(ta), "".join(tb)), "".join(out)))


def dot(a, b, out=None):
    """``numpy.dot``: a product for scalars, the inner product for vectors, ``matmul`` for
    matrices, and in general a sum over the last axis of ``a`` and the second-to-last of ``b``."""
    if out is not None:
        raise TypeError("dot: out= is not supported")
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return multiply(a, b)
    k = 0 if len(sb) == 1 else len(sb) - 2
    if sa[-1] != sb[k]:
        raise ValueError(f"dot: shapes {sa} and {sb} are not aligned ({sa[-1]} != {sb[k]})")
    if len(sa) <= 2 and len(sb) <= 2:
        return matmul_p(a, b)
    return tensordot(a, b, ((len(sa) - 1,), (k,)))


def inner(a, b):
    """``numpy.inner``: a sum over the last axes of both."""
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return multiply(a, b)
    if sa[-1] != sb[-1]:
        raise ValueError(f"inner: shapes {sa} and {sb} are not aligned ({sa[-1]} != {sb[-1]})")
    return tensordot(a, b, ((len(sa) - 1,), (len(sb) - 1,)))


def vdot(a, b):
    """``numpy.vdot`` for real arrays: both are flattened, then ``Σ aᵢ bᵢ``."""
    sa, sb = _shape(a), _shape(b)
    na, nb = math.prod(sa), math.prod(sb)
    if na != nb:
        raise ValueError(f"vdot: shapes {sa} and {sb} have different sizes ({na} != {nb})")
    return _einsum_p(_reshape_p(a, (na,)), _reshape_p(b, (nb,)), spec=(("a", "a"), ""))


def outer(a, b, out=None):
    """``numpy.outer``: both are flattened; ``out[i, j] = a[i] b[j]``."""
    if out is not None:
        raise TypeError("outer: out= is not supported")
    a = _reshape_p(a, (math.prod(_shape(a)),))
    b = _reshape_p(b, (math.prod(_shape(b)),))
    return _einsum_p(a, b, spec=(("a", "b"), "ab"))


def kron(a, b):
    """``numpy.kron``: block ``i`` of the result is ``a[i] * b``."""
    sa, sb = _shape(a), _shape(b)
    nd = max(len(sa), len(sb))
    sa = (1,) * (nd - len(sa)) + sa
    sb = (1,) * (nd - len(sb)) + sb
    a = _reshape_p(a, tuple(itertools.chain.from_iterable((n, 1) for n in sa)))
    b = _reshape_p(b, tuple(itertools.chain.from_iterable((1, n) for n in sb)))
    return _reshape_p(multiply(a, b), tuple(m * n for m, n in zip(sa, sb, strict=True)))


def _to_last(x, axis, name):
    nd = _ndim(x)
    (k,) = _axes(axis, nd)
    if k == nd - 1:
        return x
    return transpose(x, tuple(j for j in range(nd) if j != k) + (k,))


_NEXT = np.array([1, 2, 0])
_PREV = np.array([2, 0, 1])


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``numpy.cross`` of 3-vectors (broadcasting over the other axes).

    ``(a × b)_k = a_{k+1} b_{k+2} - a_{k+2} b_{k+1}``, indices mod 3."""
    if axis is not None:
        axisa = axisb = axisc = axis
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        raise ValueError(f"cross: operands must not be scalars, got shapes {sa} and {sb}")
    a, b = _to_last(a, axisa, "cross"), _to_last(b, axisb, "cross")
    if _shape(a)[-1] != 3 or _shape(b)[-1] != 3:
        raise ValueError(f"cross: both operands need vectors of length 3 along the given axis, "
                         f"got shapes {sa} and {sb}")
    try:
        np.broadcast_shapes(_shape(a)[:-1], _shape(b)[:-1])
    except ValueError:
        raise ValueError(f"cross: shapes {sa} and {sb} do not broadcast") from None
    c = (getitem(a, (Ellipsis, _NEXT)) * getitem(b, (Ellipsis, _PREV))
         - getitem(a, (Ellipsis, _PREV)) * getitem(b, (Ellipsis, _NEXT)))
    nd = _ndim(c)
    (k,) = _axes(axisc, nd)
    if k == nd - 1:
        return c
    return transpose(c, tuple(range(k)) + (nd - 1,) + tuple(range(k, nd - 1)))
