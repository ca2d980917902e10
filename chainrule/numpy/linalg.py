"""Differentiable ``numpy.linalg``: ``cnp.linalg.inv``, ``cnp.linalg.solve``, ...

Every function takes a matrix or a stack of matrices, shape ``(..., m, n)``, like NumPy.  The
rules are matrix calculus written with chainrule's own ``matmul``, ``solve`` and elementwise
functions, so derivatives of every order follow.  Matrix products broadcast over leading
axes, which is what makes the batch axes of tangents and cotangents pass through.

Notation in the comments: ``Ẋ`` is a tangent (forward mode), ``X̄`` a cotangent (reverse
mode, shaped like ``X``), ``Xᵀ`` swaps the last two axes, ``∘`` is the elementwise product.

Where a derivative exists only on part of the domain, the rule says so:

* ``cholesky``, ``eigh`` and ``eigvalsh`` are functions of a *symmetric* matrix.  NumPy reads
  only one triangle; the derivatives instead treat the input as symmetric, i.e. the tangent
  is symmetrised, ``(Ẋ + Ẋᵀ)/2``, and the gradient is a symmetric matrix.  To differentiate
  with respect to an unconstrained matrix, symmetrise it first: ``eigh((A + A.mT) / 2)``.
* ``eigh`` and ``svd`` differentiate their vectors only where the eigenvalues (singular
  values) are distinct, and, for ``svd``, non-zero; otherwise the vectors are not unique and
  the derivative contains ``inf``/``nan``.  ``eigvalsh`` and ``svdvals`` (or
  ``svd(..., compute_uv=False)``) have first derivatives that stay finite there.
* ``pinv`` is differentiated where the rank is locally constant (e.g. full rank).
* ``det``'s derivative is the transposed adjugate, from the cofactors at a singular matrix
  (exact to any order there); ``slogdet`` needs an invertible matrix.
* the 2-norm (and the Frobenius norm) of zero has gradient 0 (a subgradient), not ``nan``.
  So has the vector p-norm for any other ``p > 1``, whose second derivatives there are 0
  too; its value and derivatives are computed from ``x / max|x|``, so ``|x|ᵖ`` cannot
  underflow or overflow (float64 entries of 1e-200 or 1e200).  For ``1 < p < 2`` the second
  derivative in a zero entry of a non-zero vector is infinite and comes out as ``nan``.  For
  ``p < 1`` (``0 < p < 1`` or negative) the derivative in a zero entry is infinite or
  undefined and comes out as ``nan``; at 0 the whole gradient is ``nan``;
* max/min norms (``ord=inf``, ``-inf``, and the matrix 1- and inf-norms) pass the gradient
  to the first maximal (minimal) entry.

Functions returning several arrays (``eigh``, ``svd``, ``slogdet``) return NumPy's named tuples
(``EighResult(eigenvalues, eigenvectors)``, ...), which are pytrees that transforms can
differentiate, as tuples are.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from .._core import Tensor, _dtype, _ndim, _primal, _shape, defjvp, defvjp, primitive, unbroadcast
from ._indexing import getitem
from ._products import matmul
from ._reductions import sum
from ._shape import _axes, reshape, swapaxes, transpose
from ._ufuncs import absolute, sign, sqrt, where


def _result_type(name, fields):
    """NumPy's named tuple ``name`` for a multi-output function (NumPy ≥ 2), or one of the same
    fields."""
    module = getattr(np.linalg, "_linalg", None)
    found = getattr(module, name, None)
    if isinstance(found, type) and getattr(found, "_fields", None) == tuple(fields.split()):
        return found
    return namedtuple(name, fields)


EighResult = _result_type("EighResult", "eigenvalues eigenvectors")
SVDResult = _result_type("SVDResult", "U S Vh")
SlogdetResult = _result_type("SlogdetResult", "sign logabsdet")

__all__ = ["inv", "pinv", "det", "slogdet", "solve", "cholesky", "eigh", "eigvalsh", "svd",
           "svdvals", "norm", "vector_norm", "matrix_norm", "cond", "matrix_power", "matmul",
           "matrix_transpose", "matrix_rank", "LinAlgError"]

LinAlgError = np.linalg.LinAlgError


# --------------------------------------------------------------------------- helpers

def _T(x):
    """Transpose the last two axes (``Xᵀ``), whatever batch axes come first."""
    return swapaxes(x, -1, -2)


def _square(name, a):
    """Check ``a`` is a (stack of) square matrices; return ``n``."""
    shape = _shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"{name}: expected a square matrix or a stack of them, shape (..., n, n), "
                         f"got shape {shape}")
    return shape[-1]


def _matrix(name, a):
    shape = _shape(a)
    if len(shape) < 2:
        raise ValueError(f"{name}: expected a matrix or a stack of them, shape (..., m, n), "
                         f"got shape {shape}")
    return shape[-2], shape[-1]


def _float(x):
    dt = _dtype(x)
    return dt if np.issubdtype(dt, np.inexact) else np.dtype(np.float64)


def _eye(n, like):
    return np.eye(n, dtype=_float(like))


def _diag(m):
    """The diagonal of the last two axes, ``(..., n, n) -> (..., n)``."""
    return sum(m * _eye(_shape(m)[-1], m), axis=-1)


def _diag_embed(v):
    """``(..., n) -> (..., n, n)`` with ``v`` on the diagonal."""
    n = _shape(v)[-1]
    return reshape(v, _shape(v)[:-1] + (1, n)) * _eye(n, v)


def _row(v):
    """``(..., k) -> (..., 1, k)``: multiplies the columns of a matrix (``X·diag(v)``)."""
    return reshape(v, _shape(v)[:-1] + (1, _shape(v)[-1]))


def _col(v):
    """``(..., k) -> (..., k, 1)``: multiplies the rows of a matrix (``diag(v)·X``)."""
    return reshape(v, _shape(v) + (1,))


def _sym(x):
    return (x + _T(x)) * 0.5


def _inverse_gaps(w):
    """``F[i, j] = 1 / (w[j] - w[i])`` off the diagonal, 0 on it (eigen- and SVD rules)."""
    n = _shape(w)[-1]
    eye = _eye(n, w)
    return (1.0 - eye) / (_row(w) - _col(w) + eye)


def _align(t, x, ans):
    """Insert axes after the tangent's batch axes so it broadcasts like ``x`` into ``ans``."""
    nb = _ndim(t) - _ndim(x)
    extra = _ndim(ans) - _ndim(x)
    if extra <= 0:
        return t
    shape = _shape(t)
    return reshape(t, shape[:nb] + (1,) * extra + shape[nb:])


# --------------------------------------------------------------------------- inv

def _inv_vjp(g, ans, x):
    # d(X⁻¹) = -X⁻¹ Ẋ X⁻¹, so X̄ = -X⁻ᵀ ḡ X⁻ᵀ
    ans_t = _T(ans)
    return -matmul(matmul(ans_t, g), ans_t)


_inv_p = primitive(np.linalg.inv, name="inv")
defvjp(_inv_p, _inv_vjp)
defjvp(_inv_p, lambda t, ans, x: -matmul(matmul(ans, t), ans))


def inv(a):
    """``numpy.linalg.inv``: the inverse of a (stack of) square matrices."""
    _square("inv", a)
    return _inv_p(a)


# --------------------------------------------------------------------------- solve

def _solve(a, b):
    return np.linalg.solve(a, b)


def _solve_vjp_a(g, ans, a, b):
    # X = A⁻¹B: Ā = -A⁻ᵀ ḡ Xᵀ
    nb = _ndim(g) - _ndim(ans)
    return unbroadcast(-matmul(solve(_T(a), g), _T(ans)), a, nb)


def _solve_vjp_b(g, ans, a, b):
    # B̄ = A⁻ᵀ ḡ
    nb = _ndim(g) - _ndim(ans)
    return unbroadcast(solve(_T(a), g), b, nb)


_solve_p = primitive(_solve, name="solve")
defvjp(_solve_p, _solve_vjp_a, _solve_vjp_b)
defjvp(_solve_p,
       lambda t, ans, a, b: -solve(a, matmul(_align(t, a, ans), ans)),     # Ẋ = -A⁻¹ Ȧ X
       lambda t, ans, a, b: solve(a, _align(t, b, ans)))                  # Ẋ = A⁻¹ Ḃ


def solve(a, b):
    """``numpy.linalg.solve``: ``x`` with ``a @ x == b``.

    As in NumPy 2, ``b`` is a vector only when it is 1-d (shape ``(n,)``); otherwise it is a
    (stack of) matrices ``(..., n, k)``, and the stack axes of ``a`` and ``b`` broadcast.
    """
    n = _square("solve", a)
    sb = _shape(b)
    if len(sb) == 1:
        if sb[0] != n:
            raise ValueError(f"solve: a of shape {_shape(a)} and b of shape {sb} do not match "
                             f"({n} != {sb[0]})")
        x = _solve_p(a, reshape(b, (n, 1)))
        return reshape(x, _shape(x)[:-1])
    if len(sb) < 1 or sb[-2] != n:
        raise ValueError(f"solve: a of shape {_shape(a)} and b of shape {sb} do not match; b must "
                         f"have shape ({n},) or (..., {n}, k)")
    try:
        np.broadcast_shapes(_shape(a)[:-2], sb[:-2])
    except ValueError:
        raise ValueError(f"solve: the stack axes of a {_shape(a)} and b {sb} do not broadcast") from None
    return _solve_p(a, b)


# --------------------------------------------------------------------------- det, slogdet

def _adjugate_T(x, ans):
    """``adj(X)ᵀ``, the derivative of ``det X``: ``det(X) X⁻ᵀ`` for an invertible matrix, the
    cofactors for a singular one (each matrix of a stack on its own)."""
    d = _primal(ans)
    singular = d == 0
    if not np.any(singular):
        return reshape(ans, _shape(ans) + (1, 1)) * _T(inv(x))
    cofactors = _cofactors(x)
    if np.all(singular):
        return cofactors
    invertible = (~singular)[..., None, None]
    safe = where(invertible, x, np.eye(_shape(x)[-1], dtype=_float(x)))      # inv never sees a singular one
    return where(invertible, reshape(ans, _shape(ans) + (1, 1)) * _T(inv(safe)), cofactors)


def _cofactors(x):
    """``C_ij = (-1)^(i+j) det(X without row i and column j)``, which is ``adj(X)ᵀ``, from one
    ``det`` of the stacked minors: a polynomial in X, so every derivative is exact at any rank."""
    n = _shape(x)[-1]
    keep = np.array([[k for k in range(n) if k != i] for i in range(n)], dtype=np.intp).reshape(n, n - 1)
    minors = getitem(x, (Ellipsis, keep[:, None, :, None], keep[None, :, None, :]))   # (..., n, n, n-1, n-1)
    signs = np.where(np.add.outer(np.arange(n), np.arange(n)) % 2, -1, 1).astype(_float(x))
    return _det_p(minors) * signs


def _det_vjp(g, ans, x):
    # ∂det X/∂X = adj(X)ᵀ (= det(X) X⁻ᵀ for an invertible X)
    return reshape(g, _shape(g) + (1, 1)) * _adjugate_T(x, ans)


def _det_jvp(t, ans, x):
    # d det X = tr(adj(X) Ẋ)
    return sum(_adjugate_T(x, ans) * t, axis=(-2, -1))


_det_p = primitive(np.linalg.det, name="det")
defvjp(_det_p, _det_vjp)
defjvp(_det_p, _det_jvp)


def det(a):
    """``numpy.linalg.det``; its derivative is ``adj(X)ᵀ``: ``det(X) X⁻ᵀ``, or the cofactors of
    a singular matrix (derivatives of every order exact there too)."""
    _square("det", a)
    return _det_p(a)


def _slogdet(x):
    sign, logabsdet = np.linalg.slogdet(x)
    return sign, logabsdet


def _slogdet_vjp(g, ans, x):
    # ∂log|det X|/∂X = X⁻ᵀ; the sign is piecewise constant
    g_log = g[1]
    return reshape(g_log, _shape(g_log) + (1, 1)) * _T(inv(x))


_slogdet_p = primitive(_slogdet, name="slogdet", multiple=True)
defvjp(_slogdet_p, _slogdet_vjp)
defjvp(_slogdet_p, lambda t, ans, x: (None, sum(_T(inv(x)) * t, axis=(-2, -1))))


def slogdet(a):
    """``numpy.linalg.slogdet``: ``SlogdetResult(sign, logabsdet)``; ``sign`` is constant."""
    _square("slogdet", a)
    return SlogdetResult(*_slogdet_p(a))


# --------------------------------------------------------------------------- cholesky

def _phi(x):
    """Lower triangle with the diagonal halved (the Cholesky rules' projection)."""
    n = _shape(x)[-1]
    return x * (np.tril(np.ones((n, n), _float(x)), -1) + 0.5 * _eye(n, x))


def _cholesky_vjp(g, ans, x):
    # Ā = sym(L⁻ᵀ Φ(Lᵀ ḡ) L⁻¹)
    lt = _T(ans)
    left = solve(lt, _phi(matmul(lt, g)))           # L⁻ᵀ Φ(Lᵀ ḡ)
    return _sym(_T(solve(lt, _T(left))))            # (L⁻ᵀ (L⁻ᵀ Φ)ᵀ)ᵀ = L⁻ᵀ Φ L⁻¹


def _cholesky_jvp(t, ans, x):
    # L̇ = L Φ(L⁻¹ sym(Ẋ) L⁻ᵀ)
    left = solve(ans, _sym(t))
    return matmul(ans, _phi(_T(solve(ans, _T(left)))))


_cholesky_p = primitive(np.linalg.cholesky, name="cholesky")
defvjp(_cholesky_p, _cholesky_vjp)
defjvp(_cholesky_p, _cholesky_jvp)


def cholesky(a, /, *, upper=False):
    """``numpy.linalg.cholesky``: lower ``L`` with ``L @ L.T == a`` (``upper=True``: ``L.T``).

    ``a`` must be symmetric positive definite; the derivative treats it as symmetric.
    """
    _square("cholesky", a)
    lower = _cholesky_p(a)
    return _T(lower) if upper else lower


# --------------------------------------------------------------------------- eigh, eigvalsh

def _eigh(a, UPLO):
    w, v = np.linalg.eigh(a, UPLO)
    return w, v


def _zero(c):
    """Whether a cotangent is a plain array of zeros: the one the engine gives an output nobody
    used. Its terms are then left out, rather than computed as 0·∞ = NaN where eigenvalues
    repeat or singular values vanish (the values alone have a derivative there)."""
    return type(c) is np.ndarray and not c.any()


def _eigh_vjp(g, ans, a, UPLO):
    # Ā = sym(V (diag(w̄) + F ∘ (Vᵀ V̄)) Vᵀ),  F[i, j] = 1/(w_j - w_i)
    w, v = ans
    gw, gv = g
    inner = _diag_embed(gw)
    if not _zero(gv):
        inner = inner + _inverse_gaps(w) * matmul(_T(v), gv)
    return _sym(matmul(matmul(v, inner), _T(v)))


def _eigh_jvp(t, ans, a, UPLO):
    # ẇ = diag(Vᵀ Ȧ V),  V̇ = V (F ∘ (Vᵀ Ȧ V)),  with Ȧ symmetrised
    w, v = ans
    rotated = matmul(matmul(_T(v), _sym(t)), v)
    return _diag(rotated), matmul(v, _inverse_gaps(w) * rotated)


_eigh_p = primitive(_eigh, name="eigh", multiple=True)
defvjp(_eigh_p, _eigh_vjp)
defjvp(_eigh_p, _eigh_jvp)


def eigh(a, UPLO="L"):
    """``numpy.linalg.eigh``: ``(eigenvalues, eigenvectors)`` of a symmetric matrix, ascending.

    The eigenvectors' derivative is defined for distinct eigenvalues; eigenvectors are unique
    only up to sign, so differentiate quantities that do not depend on it (``v * v``,
    ``v @ diag(f(w)) @ v.T``, ...).
    """
    _square("eigh", a)
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return EighResult(*_eigh_p(a, UPLO))


def _eigvalsh_vjp(g, ans, a, UPLO):
    # ∂λ_i/∂A = v_i v_iᵀ, so Ā = V diag(ḡ) Vᵀ
    v = eigh(a, UPLO)[1]
    return matmul(v * _row(g), _T(v))


def _eigvalsh_jvp(t, ans, a, UPLO):
    # λ̇_i = v_iᵀ Ȧ v_i
    v = eigh(a, UPLO)[1]
    return sum(v * matmul(t, v), axis=-2)


_eigvalsh_p = primitive(lambda a, UPLO: np.linalg.eigvalsh(a, UPLO), name="eigvalsh")
defvjp(_eigvalsh_p, _eigvalsh_vjp)
defjvp(_eigvalsh_p, _eigvalsh_jvp)


def eigvalsh(a, UPLO="L"):
    """``numpy.linalg.eigvalsh``: eigenvalues of a symmetric matrix, ascending."""
    _square("eigvalsh", a)
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigvalsh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return _eigvalsh_p(a, UPLO)


# --------------------------------------------------------------------------- svd, svdvals

def _svd(a, hermitian):
    u, s, vh = np.linalg.svd(a, full_matrices=False, hermitian=hermitian)
    return u, s, vh


def _svd_vjp(g, ans, a, hermitian):
    # Ā = U [(J + Jᵀ) S + diag(s̄) + S (K + Kᵀ)] Vᵀ + (I - UUᵀ) Ū S⁻¹ Vᵀ + U S⁻¹ V̄ᵀ (I - VVᵀ)
    # with J = F ∘ (Uᵀ Ū), K = F ∘ (Vᵀ V̄), F[i, j] = 1/(s_j² - s_i²)
    u, s, vh = ans
    gu, gs, gvh = g
    v, gv = _T(vh), _T(gvh)
    inner = _diag_embed(gs)
    if _zero(gu) and _zero(gvh):                 # the singular values alone: Ā = U diag(s̄) Vᵀ
        return matmul(matmul(u, inner), vh)
    f = _inverse_gaps(s * s)
    j = f * matmul(_T(u), gu)
    k = f * matmul(vh, gv)
    inner = (j + _T(j)) * _row(s) + inner + _col(s) * (k + _T(k))
    out = matmul(matmul(u, inner), vh)
    m, n = _shape(a)[-2:]
    if m > n:
        out = out + matmul((gu - matmul(u, matmul(_T(u), gu))) / _row(s), vh)
    if n > m:
        out = out + matmul(u, _T(gv - matmul(v, matmul(vh, gv))) / _col(s))
    return out


def _svd_jvp(t, ans, a, hermitian):
    # with Ṗ = Uᵀ Ȧ V:  ṡ = diag(Ṗ),  U̇ = U (F ∘ (Ṗ S + S Ṗᵀ)) + (I - UUᵀ) Ȧ V S⁻¹,
    #                   V̇ = V (F ∘ (S Ṗ + Ṗᵀ S)) + (I - VVᵀ) Ȧᵀ U S⁻¹
    u, s, vh = ans
    v = _T(vh)
    f = _inverse_gaps(s * s)
    tv = matmul(t, v)
    p = matmul(_T(u), tv)
    ps = p * _row(s)
    sp = _col(s) * p
    du = matmul(u, f * (ps + _T(ps)))
    dv = matmul(v, f * (sp + _T(sp)))
    m, n = _shape(a)[-2:]
    if m > n:
        du = du + (tv - matmul(u, matmul(_T(u), tv))) / _row(s)
    if n > m:
        tu = matmul(_T(t), u)
        dv = dv + (tu - matmul(v, matmul(vh, tu))) / _row(s)
    return du, _diag(p), _T(dv)


_svd_p = primitive(_svd, name="svd", multiple=True)
defvjp(_svd_p, _svd_vjp)
defjvp(_svd_p, _svd_jvp)


def _svdvals_vjp(g, ans, a):
    # ∂s_i/∂A = u_i v_iᵀ, so Ā = U diag(ḡ) Vᵀ
    u, _, vh = svd(a, full_matrices=False)
    return matmul(u * _row(g), vh)


def _svdvals_jvp(t, ans, a):
    # ṡ_i = u_iᵀ Ȧ v_i
    u, _, vh = svd(a, full_matrices=False)
    return sum(u * matmul(t, _T(vh)), axis=-2)


_svdvals_p = primitive(lambda a: np.linalg.svd(a, compute_uv=False), name="svdvals")
defvjp(_svdvals_p, _svdvals_vjp)
defjvp(_svdvals_p, _svdvals_jvp)


def svdvals(x, /):
    """``numpy.linalg.svdvals``: the singular values, descending."""
    _matrix("svdvals", x)
    return _svdvals_p(x)


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """``numpy.linalg.svd``: ``SVDResult(U, S, Vh)``, or ``S`` if ``compute_uv=False``.

    Differentiable with ``full_matrices=False`` (the default ``True`` is the same thing for
    square matrices): the extra columns of a full ``U`` or ``V`` are not unique.  The vectors'
    derivative needs distinct, non-zero singular values; each pair ``(u_i, v_i)`` is unique
    only up to a common sign, so differentiate quantities that do not depend on it.
    """
    m, n = _matrix("svd", a)
    if not compute_uv:
        return _svdvals_p(a)
    if full_matrices and m != n:
        if isinstance(a, Tensor) and a._trace is not None:
            raise NotImplementedError(
                f"svd: full_matrices=True of a non-square matrix (shape {_shape(a)}) is not "
                "differentiable (the extra singular vectors are not unique); pass "
                "full_matrices=False")
        return SVDResult(*np.linalg.svd(_primal(a), full_matrices=True, hermitian=hermitian))
    return SVDResult(*_svd_p(a, hermitian))


# --------------------------------------------------------------------------- pinv

def _pinv(a, rcond, hermitian, rtol):
    if rtol is not None:
        return np.linalg.pinv(a, hermitian=hermitian, rtol=rtol)
    if rcond is not None:
        return np.linalg.pinv(a, rcond, hermitian=hermitian)
    return np.linalg.pinv(a, hermitian=hermitian)


def _pinv_vjp(g, ans, a, *static):
    # adjoint of the JVP below: Ā = -X⁺ᵀ ḡ X⁺ᵀ + (I - AX⁺) ḡᵀ X⁺X⁺ᵀ + X⁺ᵀX⁺ ḡᵀ (I - X⁺A)
    x, xt, gt = ans, _T(ans), _T(g)
    m, n = _shape(a)[-2:]
    left = _eye(m, a) - matmul(a, x)
    right = _eye(n, a) - matmul(x, a)
    return (-matmul(matmul(xt, g), xt)
            + matmul(left, matmul(gt, matmul(x, xt)))
            + matmul(matmul(xt, x), matmul(gt, right)))


def _pinv_jvp(t, ans, a, *static):
    # Ẋ⁺ = -X⁺ Ȧ X⁺ + X⁺X⁺ᵀ Ȧᵀ (I - AX⁺) + (I - X⁺A) Ȧᵀ X⁺ᵀX⁺   (rank locally constant)
    x, xt, tt = ans, _T(ans), _T(t)
    m, n = _shape(a)[-2:]
    left = _eye(m, a) - matmul(a, x)
    right = _eye(n, a) - matmul(x, a)
    return (-matmul(matmul(x, t), x)
            + matmul(matmul(x, xt), matmul(tt, left))
            + matmul(right, matmul(tt, matmul(xt, x))))


_pinv_p = primitive(_pinv, name="pinv")
defvjp(_pinv_p, _pinv_vjp)
defjvp(_pinv_p, _pinv_jvp)


def pinv(a, rcond=None, hermitian=False, *, rtol=None):
    """``numpy.linalg.pinv``: the Moore-Penrose pseudo-inverse.

    Differentiable where the rank does not change nearby, e.g. for full-rank matrices; at a
    rank drop (a singular value crossing the cut-off) the pseudo-inverse jumps.
    """
    _matrix("pinv", a)
    return _pinv_p(a, rcond, hermitian, rtol)


# --------------------------------------------------------------------------- norms

def _l2(x, axis, keepdims):
    return np.sqrt(np.sum(np.square(x), axis=axis, keepdims=keepdims))


def _kept(y, x, axis, keepdims, nb):
    """Reshape a reduced ``y`` (with ``nb`` batch axes) so it broadcasts against ``x``."""
    if keepdims:
        return y
    full = tuple(1 if k in axis else s for k, s in enumerate(_shape(x)))
    return reshape(y, _shape(y)[:nb] + full)


def _unit(x, ans, axis, keepdims):
    """``x / ‖x‖`` (0 where x = 0). Where ‖x‖² under- or overflowed (float32 entries of 1e-23:
    NumPy's norm is 0), x is first divided by its largest entry, a constant that cancels."""
    a = _primal(ans)
    if np.all((a > 0) & np.isfinite(a)):
        return x / _kept(ans, x, axis, keepdims, 0)
    s = np.max(np.abs(_primal(x)), axis=axis, keepdims=True)
    u = x / np.where(s > 0, s, 1).astype(_dtype(x), copy=False)
    n = sqrt(sum(u * u, axis=axis, keepdims=True))
    return u / where(_primal(n) == 0, 1.0, n)


def _l2_vjp(g, ans, x, axis, keepdims):
    # ∂‖x‖/∂x = x / ‖x‖, taken as 0 at x = 0
    nb = _ndim(g) - _ndim(ans)
    return _kept(g, x, axis, keepdims, nb) * _unit(x, ans, axis, keepdims)


def _l2_jvp(t, ans, x, axis, keepdims):
    # d‖x‖ = ⟨x / ‖x‖, ẋ⟩
    nb = _ndim(t) - _ndim(x)
    return sum(t * _unit(x, ans, axis, keepdims), axis=tuple(a + nb for a in axis), keepdims=keepdims)


_l2_p = primitive(_l2, name="norm")
defvjp(_l2_p, _l2_vjp)
defjvp(_l2_p, _l2_jvp)


def _lp(x, p, axis, keepdims):
    # s·(Σ|x/s|ᵖ)^(1/p), s the largest |entry|: each |x/s|ᵖ ≤ 1 and their sum ≥ 1 (or 0), so
    # neither overflows nor underflows to 0 where |x|ᵖ would (float64 entries of 1e-200)
    a = np.abs(x)
    s = np.max(a, axis=axis, keepdims=True, initial=0)
    s = np.where((s > 0) & np.isfinite(s), s, 1)
    u = a / s
    np.power(u, p, out=u)
    out = s * np.sum(u, axis=axis, keepdims=True) ** (1 / p)
    return out if keepdims else np.squeeze(out, axis=axis)


def _lp_gradient(x, ans, p, axis, keepdims):
    """``∂‖x‖ₚ/∂x = sign(x)·(|x|/‖x‖ₚ)^(p-1)``, 0 where ``‖x‖ₚ = 0``, as a differentiable function
    of ``x``.  Where the norm is 0 or overflowed, x is first divided by its largest entry."""
    a = _primal(ans)
    if np.all((a > 0) & np.isfinite(a)):
        w = x / _kept(ans, x, axis, keepdims, 0)
    else:
        s = np.max(np.abs(_primal(x)), axis=axis, keepdims=True, initial=0)
        zero = s == 0
        # a zero slice is replaced by ones, a constant, so that no 0·∞ from |w|^(p-2) reaches
        # the derivatives of the 0 picked for it below; a slice with an infinite (or NaN) entry
        # is left as it is: its norm is infinite, so each finite entry gets 0, as in PyTorch
        u = where(zero, 1.0, x / np.where(zero | ~np.isfinite(s), 1, s))
        with np.errstate(invalid="ignore"):      # inf / inf: the infinite entries' nan
            w = u / _lp_p(u, p, axis, True)
        if np.any(zero):
            return where(zero, 0.0, sign(w) * absolute(w) ** (p - 1))
    return sign(w) * absolute(w) ** (p - 1)


def _lp_vjp(g, ans, x, p, axis, keepdims):
    # ∂‖x‖ₚ/∂x = sign(x)·(|x|/‖x‖ₚ)^(p-1)
    nb = _ndim(g) - _ndim(ans)
    return _kept(g, x, axis, keepdims, nb) * _lp_gradient(x, ans, p, axis, keepdims)


def _lp_jvp(t, ans, x, p, axis, keepdims):
    # d‖x‖ₚ = ⟨sign(x)·(|x|/‖x‖ₚ)^(p-1), ẋ⟩
    nb = _ndim(t) - _ndim(x)
    return sum(t * _lp_gradient(x, ans, p, axis, keepdims), axis=tuple(a + nb for a in axis),
               keepdims=keepdims)


_lp_p = primitive(_lp, name="norm")
defvjp(_lp_p, _lp_vjp)
defjvp(_lp_p, _lp_jvp)


def _extreme(y, axis, largest):
    """max (or min) of ``y`` along one axis; the derivative goes to the first extreme entry."""
    yp = np.asarray(_primal(y))
    if yp.shape[axis] == 0:
        raise ValueError(f"norm: zero-size array along axis {axis} has no maximum (shape {yp.shape})")
    idx = (np.argmax if largest else np.argmin)(yp, axis=axis, keepdims=True)
    shape = [1] * yp.ndim
    shape[axis] = yp.shape[axis]
    mask = np.arange(yp.shape[axis]).reshape(shape) == idx
    return sum(where(mask, y, 0.0), axis=axis)


def _restore(y, shape, axis):
    """Put back the reduced axes as length-1 axes (``keepdims=True``)."""
    return reshape(y, tuple(1 if k in axis else s for k, s in enumerate(shape)))


def _vector_norm(x, ord, axis, keepdims):
    """The ``ord``-norm of ``x`` taken as a vector over the axes ``axis`` (a tuple)."""
    if ord is None or ord == 2:
        return _l2_p(x, axis, keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
    shape = _shape(x)
    if ord == 0:       # the number of non-zero entries: piecewise constant
        out = np.sum(np.asarray(_primal(x)) != 0, axis=axis, keepdims=keepdims).astype(_float(x))
        return out
    if 1 < ord < np.inf:
        return _lp_p(x, float(ord), axis, keepdims)
    a = absolute(x)
    if ord == 1:
        out = sum(a, axis=axis)
    elif ord in (np.inf, -np.inf):
        rest = tuple(k for k in range(len(shape)) if k not in axis)
        flat = reshape(transpose(a, rest + axis), tuple(shape[k] for k in rest) + (-1,))
        out = _extreme(flat, -1, ord > 0)
    else:
        p = float(ord)
        out = sum(a ** p, axis=axis) ** (1.0 / p)
    return _restore(out, shape, axis) if keepdims else out


def _matrix_norm(x, ord, axis, keepdims):
    """The ``ord``-norm of the matrices spanned by the two axes ``axis = (row, col)``."""
    row, col = axis
    if row == col:
        raise ValueError(f"norm: the two matrix axes must differ, got axis={axis}")
    shape = _shape(x)
    if ord is None or ord == "fro":
        return _l2_p(x, axis, keepdims)
    if ord in ("nuc", 2, -2):
        rest = tuple(k for k in range(len(shape)) if k not in axis)
        s = _svdvals_p(transpose(x, rest + axis))           # descending
        if ord == "nuc":
            out = sum(s, axis=-1)
        else:
            out = getitem(s, (Ellipsis, 0 if ord == 2 else -1))
    elif ord in (1, -1):           # max (min) column sum
        sums = sum(absolute(x), axis=row)
        out = _extreme(sums, col - (col > row), ord > 0)
    elif ord in (np.inf, -np.inf):  # max (min) row sum
        sums = sum(absolute(x), axis=col)
        out = _extreme(sums, row - (row > col), ord > 0)
    else:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")
    return _restore(out, shape, axis) if keepdims else out


def norm(x, ord=None, axis=None, keepdims=False):
    """``numpy.linalg.norm``.

    Vectors: ``ord`` in None/2 (Euclidean), 1, ``inf``, ``-inf``, 0 (a count, not
    differentiable) or any other number ``p`` (``(Σ|x|ᵖ)^(1/p)``).  Matrices (a 2-d input, or a
    2-tuple ``axis``): ``'fro'``, ``'nuc'``, 2, -2, 1, -1, ``inf``, ``-inf``.

    The gradient of a vector p-norm with ``p > 1`` (the Euclidean norm included) and of the
    Frobenius norm is ``sign(x)·(|x|/‖x‖ₚ)^(p-1)``, taken as 0 at ``x = 0``; it stays exact for
    entries so small or large that ``|x|ᵖ`` under- or overflows.  For ``p < 1`` the gradient
    is ``nan`` in zero entries, where the true derivative is infinite or undefined.  See the
    module docstring for second derivatives and ties.
    """
    nd = _ndim(x)
    if axis is None:
        if ord is None:
            return _l2_p(x, tuple(range(nd)), keepdims)
        if nd not in (1, 2):
            raise ValueError(f"norm: ord={ord!r} needs a 1-d or 2-d input or an explicit axis, "
                             f"got shape {_shape(x)}")
        axis = tuple(range(nd))
    else:
        axis = _axes(axis, nd)
    if len(axis) == 1:
        return _vector_norm(x, ord, axis, keepdims)
    if len(axis) == 2:
        return _matrix_norm(x, ord, axis, keepdims)
    raise ValueError(f"norm: axis must name one axis (vector norm) or two (matrix norm), got {axis}")


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """``numpy.linalg.vector_norm``: the norm of ``x`` as a vector over ``axis`` (all axes)."""
    axis = _axes(axis, _ndim(x))
    return _vector_norm(x, ord, axis, keepdims)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """``numpy.linalg.matrix_norm``: the norm of each matrix of the stack ``(..., m, n)``."""
    nd = _ndim(x)
    _matrix("matrix_norm", x)
    return _matrix_norm(x, ord, (nd - 2, nd - 1), keepdims)


def cond(x, p=None):
    """``numpy.linalg.cond``: ``‖x‖ ‖x⁻¹‖`` in the norm ``p`` (None: ``s_max / s_min``)."""
    if p is None or p in (2, -2):
        s = svdvals(x)
        ratio = getitem(s, (Ellipsis, 0)) / getitem(s, (Ellipsis, -1))
        return 1.0 / ratio if p == -2 else ratio
    _square("cond", x)
    return matrix_norm(x, ord=p) * matrix_norm(inv(x), ord=p)


# --------------------------------------------------------------------------- the rest

def matrix_power(a, n):
    """``numpy.linalg.matrix_power``: ``a`` multiplied by itself ``n`` times (``n < 0``: of
    ``inv(a)``), by repeated squaring; built from ``matmul`` and ``inv``."""
    size = _square("matrix_power", a)
    if not isinstance(n, (int, np.integer)) or isinstance(n, (bool, np.bool_)):
        raise TypeError(f"matrix_power: the exponent must be an integer, got {n!r}")
    n = int(n)
    if n == 0:                                   # the identity, in a's dtype (integers stay integers)
        return np.broadcast_to(np.eye(size, dtype=_dtype(a)), _shape(a)).copy()
    if n < 0:
        a, n = inv(a), -n
    result = None
    while True:
        if n & 1:
            result = a if result is None else matmul(result, a)
        n >>= 1
        if not n:
            return result
        a = matmul(a, a)


def matrix_transpose(x, /):
    """``numpy.linalg.matrix_transpose``: swap the last two axes."""
    _matrix("matrix_transpose", x)
    return _T(x)


def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    """``numpy.linalg.matrix_rank`` of the values (an integer: not differentiable)."""
    return np.linalg.matrix_rank(_primal(A), tol, hermitian, rtol=_primal(rtol))
