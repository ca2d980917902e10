"""Products of arrays.  ``matmul`` is the primitive; its VJPs are the lecture's
``∂(Ax)/∂x = A`` read backwards: ``ḡ_A = g·Bᵀ`` and ``ḡ_B = Aᵀ·g``."""

from __future__ import annotations

import numpy as np

from .._core import _ndim, _shape, defjvp, defvjp, primitive, unbroadcast
from ._shape import _reshape_p, swapaxes

__all__ = ["matmul"]


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


def _mT(x):
    nd = _ndim(x)
    return swapaxes(x, nd - 1, nd - 2)


def _mm_vjp_a(g, ans, a, b):
    if _ndim(a) == 2 and _ndim(b) == 2 and _ndim(g) == 2:
        return g @ _mT(b)                       # the common case: one BLAS call
    nb = _ndim(g) - _ndim(ans)
    g2, a2, b2, av, bv = _as_matrices(g, a, b, nb)
    c = g2 @ _mT(b2)
    c = unbroadcast(c, a2, nb)
    return _reshape_p(c, _shape(c)[:nb] + _shape(a)) if av else c


def _mm_vjp_b(g, ans, a, b):
    if _ndim(a) == 2 and _ndim(b) == 2 and _ndim(g) == 2:
        return _mT(a) @ g
    nb = _ndim(g) - _ndim(ans)
    g2, a2, b2, av, bv = _as_matrices(g, a, b, nb)
    c = _mT(a2) @ g2
    c = unbroadcast(c, b2, nb)
    return _reshape_p(c, _shape(c)[:nb] + _shape(b)) if bv else c


def _mm_jvp(t, ans, a, b, which):
    nb = _ndim(t) - (_ndim(a) if which == 0 else _ndim(b))
    if nb == 0:
        return t @ b if which == 0 else a @ t
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
