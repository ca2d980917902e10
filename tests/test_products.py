"""Products: matmul, dot, vdot, inner, outer, tensordot, einsum, kron, cross.

For every product and shape: the values are NumPy's; the derivatives in both arguments match
central finite differences in both modes to second order; whole Jacobians agree between
reverse mode, forward mode and finite differences; float32 stays float32; and a shape error
names the function and both shapes.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_jacobians_agree, numerical_jacobian

import chainrule as cr
import chainrule.numpy as cnp

# name -> (chainrule function, NumPy function, list of (shape of a, shape of b))
PRODUCTS = {
    "matmul": (cnp.matmul, np.matmul, [
        ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
        ((2, 3), (5, 3, 4)), ((2, 1, 2, 3), (4, 3, 2)), ((5, 2, 3), (3,)), ((3,), (5, 3, 4))]),
    "@": (lambda a, b: a @ b, lambda a, b: a @ b, [((2, 3), (3, 4)), ((3,), (3,))]),
    "dot": (cnp.dot, np.dot, [
        ((), (3,)), ((2, 3), ()), ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
        ((2, 4, 3), (3,)), ((2, 3), (4, 3, 2)), ((2, 4, 3), (5, 3, 2))]),
    "vdot": (cnp.vdot, np.vdot, [((3,), (3,)), ((2, 3), (6,)), ((2, 3), (3, 2))]),
    "inner": (cnp.inner, np.inner, [
        ((), (3,)), ((3,), (3,)), ((2, 3), (3,)), ((2, 3), (4, 3)), ((2, 4, 3), (5, 3))]),
    "outer": (cnp.outer, np.outer, [((3,), (4,)), ((2, 3), (2,)), ((), (3,))]),
    "tensordot (default 2)": (cnp.tensordot, np.tensordot, [((2, 3, 4), (3, 4, 5)), ((3, 4), (3, 4))]),
    "tensordot axes=1": (lambda a, b: cnp.tensordot(a, b, 1), lambda a, b: np.tensordot(a, b, 1),
                         [((2, 3), (3, 4)), ((2, 3, 4), (4,))]),
    "tensordot axes=0": (lambda a, b: cnp.tensordot(a, b, 0), lambda a, b: np.tensordot(a, b, 0),
                         [((2,), (3, 2))]),
    "tensordot axis pairs": (lambda a, b: cnp.tensordot(a, b, ([0, 2], [2, 0])),
                             lambda a, b: np.tensordot(a, b, ([0, 2], [2, 0])), [((2, 3, 4), (4, 5, 2))]),
    "tensordot single axes": (lambda a, b: cnp.tensordot(a, b, (1, -1)),
                              lambda a, b: np.tensordot(a, b, (1, -1)), [((2, 3), (4, 3))]),
    "kron": (cnp.kron, np.kron, [((2,), (3,)), ((2, 3), (2, 2)), ((3,), (2, 2)), ((2, 1, 2), (3, 2))]),
    "cross": (cnp.cross, np.cross, [((3,), (3,)), ((4, 3), (3,)), ((2, 1, 3), (4, 3))]),
    "cross axis=0": (lambda a, b: cnp.cross(a, b, axis=0), lambda a, b: np.cross(a, b, axis=0),
                     [((3, 4), (3, 4))]),
    "cross axisa/axisb/axisc": (lambda a, b: cnp.cross(a, b, axisa=0, axisb=1, axisc=0),
                                lambda a, b: np.cross(a, b, axisa=0, axisb=1, axisc=0),
                                [((3, 2), (2, 3))]),
}

CASES = [pytest.param(fn, np_fn, sa, sb, id=f"{name} {sa} {sb}")
         for name, (fn, np_fn, shapes) in PRODUCTS.items() for sa, sb in shapes]


def _operands(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def _assert_cotangents_shaped_like_operands(f, args):
    out, pull = cr.vjp(f, *args)
    for ct, x in zip(pull(np.ones(np.shape(out))), args, strict=True):
        assert np.shape(ct) == np.shape(x)


@pytest.mark.parametrize("fn, np_fn, sa, sb", CASES)
def test_product_values_match_numpy(fn, np_fn, sa, sb):
    a, b = _operands(sa, sb)
    got = cr.jvp(fn, (a, b), (a, b))[0]               # traced, not the plain-array shortcut
    expected = np_fn(a, b)
    assert np.shape(got) == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn, np_fn, sa, sb", CASES)
def test_product_derivatives_match_finite_differences_to_second_order(fn, np_fn, sa, sb):
    a, b = _operands(sa, sb)
    _assert_cotangents_shaped_like_operands(fn, (a, b))
    assert cr.gradcheck(fn, a, b, argnums=(0, 1), modes=("fwd", "rev"), order=2)
    # a product of a with itself: both argument positions feed one input
    if sa == sb and fn is not cnp.cross:
        assert cr.gradcheck(lambda x: fn(x, cnp.sin(x)), a, modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("fn, np_fn, sa, sb", CASES)
def test_product_jacobians_agree_in_both_modes(fn, np_fn, sa, sb):
    a, b = _operands(sa, sb)
    assert_jacobians_agree(fn, (a, b), 0)
    assert_jacobians_agree(fn, (a, b), 1)


@pytest.mark.parametrize("fn, np_fn, sa, sb", CASES)
def test_product_keeps_float32(fn, np_fn, sa, sb):
    a, b = (x.astype(np.float32) for x in _operands(sa, sb))
    assert cr.jvp(fn, (a, b), (a, b))[1].dtype == np.float32
    ga, gb = cr.grad(lambda a, b: cnp.sum(fn(a, b) ** 2), (0, 1))(a, b)
    assert ga.dtype == gb.dtype == np.float32
    assert cr.jacobian(fn, 1, mode="fwd")(a, b).dtype == np.float32
    assert cr.jacobian(fn, 0, mode="rev")(a, b).dtype == np.float32


def test_product_hessians_agree_for_all_four_mode_pairs():
    # batched tangents and cotangents through the rules' own derivatives
    a, b = _operands((2, 3), (3, 4))
    for f in (lambda a: cnp.sum(cnp.matmul(a, b) ** 2), lambda a: cnp.sum(cnp.einsum("ij,jk", a, b) ** 2),
              lambda a: cnp.sum(cnp.dot(a, a.T) ** 2)):
        hs = [cr.jacobian(cr.jacobian(f, mode=inner), mode=outer)(a)
              for inner in ("rev", "fwd") for outer in ("rev", "fwd")]
        for h in hs[1:]:
            np.testing.assert_allclose(h, hs[0], rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(hs[0], numerical_jacobian(cr.grad(f), a), rtol=1e-6, atol=1e-6)


def test_matmul_object_api_gradients_are_the_lectures_formulas():
    a_np, b_np = _operands((2, 3), (3, 4))
    a = cr.tensor(a_np, requires_grad=True)
    b = cr.tensor(b_np, requires_grad=True)
    g = np.random.default_rng(1).standard_normal((2, 4))
    (a @ b).backward(g)
    np.testing.assert_allclose(a.grad, g @ b_np.T)     # ḡ_A = g·Bᵀ
    np.testing.assert_allclose(b.grad, a_np.T @ g)     # ḡ_B = Aᵀ·g


# ---------------------------------------------------------------- einsum

EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),                      # implicit output
    ("ba", [(2, 3)]),                                 # implicit output is sorted: a transpose
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->i", [(2, 3)]),
    ("ii->i", [(3, 3)]),                              # diagonal
    ("ii", [(3, 3)]),                                 # trace
    ("iij->ji", [(3, 3, 2)]),
    ("i,i", [(3,), (3,)]),
    ("i,j", [(3,), (4,)]),
    ("i,j->", [(3,), (4,)]),                          # each operand summed on its own
    ("...ij,...jk->...ik", [(5, 2, 3), (3, 4)]),
    ("...i,...i", [(2, 3), (3,)]),
    ("i...,i...", [(2, 3), (2, 1)]),                  # ellipsis at the front, size-1 broadcast
    ("...ii->...i", [(2, 3, 3)]),
    ("bij,bjk->bik", [(2, 2, 3), (1, 3, 4)]),          # size-1 axis broadcast against 2
    ("ab,ab->ab", [(1, 3), (4, 3)]),
    ("ij,jk", [(3, 1), (4, 2)]),                      # a contracted axis broadcast from size 1
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),       # three operands
    ("i,ij,j,jk->k", [(2,), (2, 3), (3,), (3, 2)]),   # four operands
    ("Ab,bC->CA", [(2, 3), (3, 4)]),                  # upper-case labels
    (" ij , jk -> ik ", [(2, 3), (3, 4)]),            # spaces are ignored
]


@pytest.mark.parametrize("subscripts, shapes", EINSUMS, ids=[s for s, _ in EINSUMS])
def test_einsum_matches_numpy_and_its_derivatives(subscripts, shapes):
    ops = _operands(*shapes)
    f = lambda *ops: cnp.einsum(subscripts, *ops)
    got = cr.jvp(f, ops, ops)[0]
    expected = np.einsum(subscripts, *ops)
    assert np.shape(got) == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    _assert_cotangents_shaped_like_operands(f, ops)
    assert cr.gradcheck(f, *ops, argnums=tuple(range(len(ops))), modes=("fwd", "rev"), order=2)
    for k in range(len(ops)):
        assert_jacobians_agree(f, ops, k)


def test_einsum_of_one_input_used_in_every_operand():
    x = _operands((3, 3))[0]
    f = lambda x: cnp.einsum("ij,jk,ki->", x, x, x)    # trace(x³)
    assert cr.gradcheck(f, x, modes=("fwd", "rev"), order=2)
    np.testing.assert_allclose(cr.grad(f)(x), 3 * (x @ x).T, rtol=1e-12)   # ∇ tr(X³) = 3 (X²)ᵀ


def test_einsum_with_a_constant_integer_operand():
    x = _operands((3, 2))[0]
    w = np.array([[1, 2, 3], [4, 5, 6]])
    f = lambda x: cnp.einsum("ij,jk->ik", w, x)
    assert cr.gradcheck(f, x, modes=("fwd", "rev"), order=2)
    assert_jacobians_agree(f, (x,), 0)


@pytest.mark.parametrize("subscripts, shapes", [("ii->i", [(3, 3)]), ("ij,j->", [(2, 3), (3,)]),
                                                ("...i,...i", [(2, 3), (3,)])])
def test_einsum_keeps_float32(subscripts, shapes):
    ops = [x.astype(np.float32) for x in _operands(*shapes)]
    f = lambda *ops: cnp.einsum(subscripts, *ops)
    assert cr.jvp(f, ops, ops)[1].dtype == np.float32
    grads = cr.grad(lambda *o: cnp.sum(f(*o) ** 2), tuple(range(len(ops))))(*ops)
    assert all(g.dtype == np.float32 for g in grads)
    assert cr.jacobian(f, 0, mode="rev")(*ops).dtype == np.float32


@pytest.mark.parametrize("subscripts, shapes, message", [
    ("ij,jk", [(2, 3), (4, 5)], r"einsum: label 'j' .* size 3 in one operand and 4 in another "
                                r"\(shapes \(2, 3\), \(4, 5\)\)"),
    ("ij", [(2, 3, 4)], r"einsum: operand of shape \(2, 3, 4\) has 3 axes but its subscripts 'ij' name 2"),
    ("ij,jk", [(2, 3)], "einsum: subscripts 'ij,jk' name 2 operand"),
    ("ij->k", [(2, 3)], "einsum: output label 'k'"),
    ("...i->i", [(2, 3)], "einsum: .* add '...' to it"),
    ("i1", [(2, 3)], "einsum: invalid subscripts"),
])
def test_einsum_errors_name_the_problem(subscripts, shapes, message):
    ops = [cr.tensor(x) for x in _operands(*shapes)]
    with pytest.raises(ValueError, match=message):
        cnp.einsum(subscripts, *ops)


# ---------------------------------------------------------------- shape errors

@pytest.mark.parametrize("fn, sa, sb, message", [
    (cnp.matmul, (2, 3), (4, 5), r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned \(3 != 4\)"),
    (cnp.dot, (2, 3), (4, 5), r"dot: shapes \(2, 3\) and \(4, 5\) are not aligned \(3 != 4\)"),
    (cnp.dot, (2, 3), (2,), r"dot: shapes \(2, 3\) and \(2,\) are not aligned \(3 != 2\)"),
    (cnp.inner, (2, 3), (2,), r"inner: shapes \(2, 3\) and \(2,\) are not aligned \(3 != 2\)"),
    (cnp.vdot, (2, 3), (5,), r"vdot: shapes \(2, 3\) and \(5,\) have different sizes \(6 != 5\)"),
    (cnp.tensordot, (2, 3), (4, 3), r"tensordot: shapes \(2, 3\) and \(4, 3\) are not aligned"),
    (lambda a, b: cnp.tensordot(a, b, 3), (2, 3), (2, 3), r"tensordot: cannot sum over 3 axes of shapes "
                                                           r"\(2, 3\) and \(2, 3\)"),
    (cnp.cross, (4, 2), (3,), r"cross: .* length 3 .* shapes \(4, 2\) and \(3,\)"),
    (cnp.cross, (4, 3), (2, 3), r"cross: shapes \(4, 3\) and \(2, 3\) do not broadcast"),
])
def test_shape_errors_name_the_function_and_both_shapes(fn, sa, sb, message):
    a, b = (cr.tensor(x, requires_grad=True) for x in _operands(sa, sb))
    with pytest.raises(ValueError, match=message):
        fn(a, b)
