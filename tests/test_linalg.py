"""chainrule.numpy.linalg: values equal NumPy's, derivatives of every function match finite
differences in both modes to second order, stacks of matrices work, float32 stays float32, and
bad shapes are reported by name."""

import re
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

la = cnp.linalg


# --------------------------------------------------------------------------- inputs

def well_conditioned(shape, seed=0):
    """Random matrices near 3·I: invertible, with distinct singular values."""
    rng = np.random.default_rng(seed)
    n = shape[-1]
    return rng.standard_normal(shape) + 3.0 * np.eye(n)


def spd(shape, seed=0):
    """Random symmetric positive-definite matrices with well separated eigenvalues."""
    rng = np.random.default_rng(seed)
    n = shape[-1]
    a = rng.standard_normal(shape)
    return a @ np.swapaxes(a, -1, -2) + np.diag(np.arange(1.0, n + 1.0))


def tall(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def sym(x):
    return (x + cnp.swapaxes(x, -1, -2)) / 2


def fd_jacobian(f, x, eps=1e-6):
    """Central finite differences, shaped out.shape + x.shape."""
    x = np.asarray(x, dtype=np.float64)
    out = np.asarray(f(x))
    jac = np.zeros(out.shape + x.shape)
    for idx in np.ndindex(x.shape):
        dx = np.zeros_like(x)
        dx[idx] = eps
        jac[(...,) + idx] = (np.asarray(f(x + dx)) - np.asarray(f(x - dx))) / (2 * eps)
    return jac


# Each case: a function of one matrix argument built on one linalg function, and how to make
# its input from a shape; constants take the input's dtype.  Functions of eigen- and singular
# vectors use quantities that do not depend on the vectors' signs.
B_VEC = np.array([0.5, -1.0, 2.0])
B_MAT = np.array([[0.5, 1.0], [-1.0, 0.0], [2.0, 1.5]])

CASES = {
    "inv": (la.inv, well_conditioned),
    "pinv_tall": (la.pinv, tall, (4, 3)),
    "pinv_wide": (la.pinv, tall, (3, 4)),
    "det": (la.det, well_conditioned),
    "slogdet_logabsdet": (lambda x: la.slogdet(x)[1], well_conditioned),
    "solve_wrt_a_vector_b": (lambda x: la.solve(x, B_VEC.astype(x.dtype)), well_conditioned),
    "solve_wrt_a_matrix_b": (lambda x: la.solve(x, B_MAT.astype(x.dtype)), well_conditioned),
    "solve_wrt_b": (lambda x: la.solve(well_conditioned((3, 3), seed=5).astype(x.dtype), x), tall, (3, 2)),
    "cholesky": (lambda x: la.cholesky(sym(x)), spd),
    "cholesky_upper": (lambda x: la.cholesky(sym(x), upper=True), spd),
    "eigh_eigenvalues": (lambda x: la.eigh(sym(x))[0], spd),
    "eigh_eigenvectors": (lambda x: la.eigh(sym(x))[1] ** 2, spd),
    "eigvalsh": (lambda x: la.eigvalsh(sym(x)), spd),
    "svd_singular_values": (lambda x: la.svd(x, full_matrices=False)[1], tall, (4, 3)),
    "svd_u_tall": (lambda x: la.svd(x, full_matrices=False)[0] ** 2, tall, (4, 3)),
    "svd_vh_tall": (lambda x: la.svd(x, full_matrices=False)[2] ** 2, tall, (4, 3)),
    "svd_u_wide": (lambda x: la.svd(x, full_matrices=False)[0] ** 2, tall, (3, 4)),
    "svd_vh_wide": (lambda x: la.svd(x, full_matrices=False)[2] ** 2, tall, (3, 4)),
    "svd_polar_factor_square": (lambda x: cnp.matmul(*la.svd(x)[::2]), well_conditioned),
    "svd_compute_uv_false": (lambda x: la.svd(x, compute_uv=False), tall, (4, 3)),
    "svdvals": (la.svdvals, tall, (3, 4)),
    "norm_frobenius": (lambda x: la.norm(x, axis=(-2, -1)), tall, (4, 3)),
    "norm_nuclear": (lambda x: la.matrix_norm(x, ord="nuc"), tall, (4, 3)),
    "norm_spectral": (lambda x: la.matrix_norm(x, ord=2), tall, (4, 3)),
    "norm_matrix_1": (lambda x: la.matrix_norm(x, ord=1), tall, (4, 3)),
    "norm_matrix_inf": (lambda x: la.matrix_norm(x, ord=np.inf), tall, (4, 3)),
    "norm_vector_2": (lambda x: la.norm(x, axis=-1), tall, (4, 3)),
    "norm_vector_1": (lambda x: la.norm(x, ord=1, axis=-1), tall, (4, 3)),
    "norm_vector_inf": (lambda x: la.norm(x, ord=np.inf, axis=-1), tall, (4, 3)),
    "norm_vector_minus_inf": (lambda x: la.norm(x, ord=-np.inf, axis=-1), tall, (4, 3)),
    "norm_vector_3": (lambda x: la.norm(x, ord=3, axis=-1), tall, (4, 3)),
    "matrix_power_3": (lambda x: la.matrix_power(x, 3), well_conditioned),
    "matrix_power_minus_2": (lambda x: la.matrix_power(x, -2), well_conditioned),
    "cond": (la.cond, well_conditioned),
    "cond_fro": (lambda x: la.cond(x, "fro"), well_conditioned),
}


def case(name, stack=()):
    f, make, *shape = CASES[name]
    shape = shape[0] if shape else (3, 3)
    return f, make(stack + shape, seed=1)


# --------------------------------------------------------------------------- derivatives

@pytest.mark.parametrize("name", CASES)
def test_derivatives_match_finite_differences_in_both_modes_to_second_order(name):
    f, x = case(name)
    assert cr.gradcheck(f, x, modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("name", CASES)
def test_stacked_matrices_give_equal_reverse_forward_and_finite_difference_jacobians(name):
    f, x = case(name, stack=(2,))
    rev = cr.jacobian(f, mode="rev")(x)
    fwd = cr.jacobian(f, mode="fwd")(x)
    fd = fd_jacobian(f, x)
    np.testing.assert_allclose(rev, fwd, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(rev, fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_stacked_matrices_are_processed_one_by_one(name):
    f, x = case(name, stack=(2,))
    stacked = np.asarray(f(x))
    for k in range(2):
        np.testing.assert_allclose(stacked[k], np.asarray(f(x[k])), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_float32_inputs_give_float32_values_and_derivatives(name):
    f, x = case(name)
    x32 = x.astype(np.float32)
    assert np.asarray(f(x32)).dtype == np.float32
    assert cr.jacobian(f, mode="rev")(x32).dtype == np.float32
    assert cr.jacobian(f, mode="fwd")(x32).dtype == np.float32
    assert cr.grad(lambda x: cnp.sum(f(x)))(x32).dtype == np.float32


def test_a_batched_hessian_of_logdet_is_minus_the_kronecker_of_inverses():
    # ∂²log|X| / ∂X_ij ∂X_kl = -(X⁻¹)_jk (X⁻¹)_li
    x = well_conditioned((3, 3))
    h = cr.hessian(lambda x: la.slogdet(x)[1])(x)
    xi = np.linalg.inv(x)
    np.testing.assert_allclose(h, -np.einsum("jk,li->ijkl", xi, xi), rtol=1e-10, atol=1e-12)


def test_third_derivative_of_inverse_matches_finite_differences():
    x = well_conditioned((2, 2))
    assert cr.gradcheck(la.inv, x, order=3)


def test_object_api_backward_through_solve_gives_the_closed_form():
    a, b = well_conditioned((3, 3)), B_VEC
    at = cr.tensor(a, requires_grad=True)
    bt = cr.tensor(b, requires_grad=True)
    cnp.sum(la.solve(at, bt)).backward()
    lam = np.linalg.solve(a.T, np.ones(3))              # b̄ = A⁻ᵀ 1
    x = np.linalg.solve(a, b)
    np.testing.assert_allclose(bt.grad, lam, rtol=1e-12)
    np.testing.assert_allclose(at.grad, -np.outer(lam, x), rtol=1e-12)


# --------------------------------------------------------------------------- values and semantics

@pytest.mark.parametrize("fn", ["inv", "det", "pinv", "cholesky", "eigvalsh", "svdvals", "cond"])
def test_values_equal_numpy_on_stacks(fn):
    x = spd((2, 3, 3))
    np.testing.assert_allclose(getattr(la, fn)(x), getattr(np.linalg, fn)(x), rtol=1e-12)


def test_multi_output_functions_return_numpys_named_tuples_traced_or_not():
    x = spd((2, 3, 3))
    for ours, theirs in [(la.slogdet(x), np.linalg.slogdet(x)), (la.eigh(x), np.linalg.eigh(x)),
                         (la.svd(x), np.linalg.svd(x))]:
        assert type(ours).__name__ == type(theirs).__name__ and ours._fields == theirs._fields
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    # the fields by name, differentiated in both modes, and the result types as pytrees
    def f(m):
        m = (m + m.T) / 2                                  # eigh's derivative is the symmetric one
        return cnp.sum(la.eigh(m).eigenvalues ** 2) + la.slogdet(m).logabsdet + cnp.sum(la.svd(m).S)
    m = spd((3, 3))
    assert cr.gradcheck(f, m, order=1)
    out = cr.jacobian(lambda m: la.eigh(m))(m)
    assert type(out).__name__ == "EighResult" and out.eigenvalues.shape == (3, 3, 3)


def test_solve_treats_b_as_a_vector_only_when_it_is_one_dimensional():
    a = well_conditioned((2, 3, 3))
    assert la.solve(a, B_VEC).shape == (2, 3)
    np.testing.assert_allclose(la.solve(a, B_VEC), np.linalg.solve(a, B_VEC), rtol=1e-12)
    assert la.solve(a, B_MAT).shape == (2, 3, 2)


def test_solve_broadcasts_stack_axes_and_sums_the_cotangent_back():
    a = well_conditioned((3, 3))
    b = tall((2, 3, 2))
    f = lambda a, b: la.solve(a, b)
    assert cr.gradcheck(f, a, b, argnums=(0, 1), order=2)
    for argnum, x in [(0, a), (1, b)]:
        rev = cr.jacobian(f, argnums=argnum, mode="rev")(a, b)
        fwd = cr.jacobian(f, argnums=argnum, mode="fwd")(a, b)
        assert rev.shape == (2, 3, 2) + x.shape
        np.testing.assert_allclose(rev, fwd, rtol=1e-10, atol=1e-12)
    rev_a = cr.jacobian(f, argnums=0, mode="rev")(a, b)
    np.testing.assert_allclose(rev_a, fd_jacobian(lambda a: f(a, b), a), rtol=1e-5, atol=1e-6)


def test_solve_with_stacked_a_and_shared_b_has_matching_jacobians_for_b():
    a = well_conditioned((2, 3, 3))
    f = lambda b: la.solve(a, b)
    b = tall((3, 2))
    rev, fwd = cr.jacobian(f, mode="rev")(b), cr.jacobian(f, mode="fwd")(b)
    np.testing.assert_allclose(rev, fwd, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rev, fd_jacobian(f, b), rtol=1e-5, atol=1e-6)


def test_gradient_of_the_two_norm_at_zero_is_zero():
    zero = np.zeros(3)
    np.testing.assert_array_equal(cr.grad(la.norm)(zero), zero)
    np.testing.assert_array_equal(cr.jacobian(la.norm, mode="fwd")(zero), zero)
    np.testing.assert_array_equal(cr.grad(lambda x: la.norm(x, "fro"))(np.zeros((2, 2))),
                                  np.zeros((2, 2)))


@pytest.mark.parametrize("ord", [None, 2, 1, np.inf, -np.inf, 0, 3, 0.5])
@pytest.mark.parametrize("keepdims", [False, True])
def test_vector_norms_equal_numpys(ord, keepdims):
    x = tall((2, 5))
    np.testing.assert_allclose(la.norm(x, ord, axis=1, keepdims=keepdims),
                               np.linalg.norm(x, ord, axis=1, keepdims=keepdims), rtol=1e-12)
    np.testing.assert_allclose(la.norm(x[0], ord), np.linalg.norm(x[0], ord), rtol=1e-12)


@pytest.mark.parametrize("ord", [None, "fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf])
@pytest.mark.parametrize("axis", [(0, 1), (1, 0), (2, 0)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_matrix_norms_equal_numpys(ord, axis, keepdims):
    x = tall((3, 4, 2))
    np.testing.assert_allclose(la.norm(x, ord, axis=axis, keepdims=keepdims),
                               np.linalg.norm(x, ord, axis=axis, keepdims=keepdims), rtol=1e-12)


def test_norm_without_axis_of_a_stack_is_the_norm_of_all_entries():
    x = tall((2, 3, 4))
    np.testing.assert_allclose(la.norm(x), np.linalg.norm(x), rtol=1e-12)
    assert la.norm(x, keepdims=True).shape == (1, 1, 1)
    assert cr.gradcheck(la.norm, x, order=2)


def test_vector_and_matrix_norm_match_numpys_array_api_functions():
    x = tall((2, 3, 4))
    np.testing.assert_allclose(la.vector_norm(x, axis=(0, 2), ord=np.inf),
                               np.linalg.vector_norm(x, axis=(0, 2), ord=np.inf))
    np.testing.assert_allclose(la.matrix_norm(x, ord="nuc", keepdims=True),
                               np.linalg.matrix_norm(x, ord="nuc", keepdims=True))
    assert cr.gradcheck(lambda x: la.vector_norm(x, axis=(0, 2), ord=1), x, order=2)


def test_matrix_power_equals_numpys_including_zero_and_negative_exponents():
    x = well_conditioned((2, 3, 3))
    for n in (0, 1, 2, 5, -1, -3):
        np.testing.assert_allclose(la.matrix_power(x, n), np.linalg.matrix_power(x, n), rtol=1e-10)


def test_matrix_rank_and_matrix_transpose_follow_numpy():
    x = tall((4, 3))
    singular = np.outer(x[:, 0], x[:, 1])
    assert la.matrix_rank(cr.tensor(singular)) == 1
    assert la.matrix_transpose(cr.tensor(x)).shape == (3, 4)


def test_svd_with_full_matrices_of_a_traced_rectangular_matrix_asks_for_the_reduced_form():
    with pytest.raises(NotImplementedError, match=r"svd: .*\(4, 3\).*full_matrices=False"):
        cr.grad(lambda x: cnp.sum(la.svd(x)[0]))(tall((4, 3)))


def test_full_svd_of_a_plain_rectangular_matrix_equals_numpys():
    x = tall((4, 3))
    u, s, vh = la.svd(x)
    assert u.shape == (4, 4)
    np.testing.assert_allclose(s, np.linalg.svd(x)[1])


def test_singular_matrix_raises_numpys_linalg_error():
    with pytest.raises(la.LinAlgError):
        la.inv(np.zeros((2, 2)))


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("fn", ["inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh",
                                "matrix_power"])
@pytest.mark.parametrize("shape", [(2, 3), (4, 2, 3), (3,)])
def test_non_square_input_is_rejected_naming_the_function_and_the_shape(fn, shape):
    x = np.ones(shape)
    args = (x, 2) if fn == "matrix_power" else (x,)
    with pytest.raises(ValueError, match=rf"{fn}: .*square.*{re.escape(str(shape))}"):
        getattr(la, fn)(*args)


def test_solve_rejects_mismatched_shapes_naming_both():
    with pytest.raises(ValueError, match=r"solve: .*\(3, 3\).*\(4,\)"):
        la.solve(np.eye(3), np.ones(4))
    with pytest.raises(ValueError, match=r"solve: .*\(3, 3\).*\(2, 2\)"):
        la.solve(np.eye(3), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"solve: expected a square .*\(2, 3\)"):
        la.solve(np.ones((2, 3)), np.ones(2))


def test_norm_rejects_orders_that_do_not_exist():
    with pytest.raises(ValueError, match="norm: invalid norm order 'nuc' for vectors"):
        la.norm(np.ones(3), "nuc")
    with pytest.raises(ValueError, match="norm: invalid norm order 3 for matrices"):
        la.norm(np.ones((2, 2)), 3)
    with pytest.raises(ValueError, match=r"norm: .*\(2, 2, 2\)"):
        la.norm(np.ones((2, 2, 2)), 2)


def test_matrix_power_rejects_non_integer_exponents():
    with pytest.raises(TypeError, match="matrix_power: the exponent must be an integer"):
        la.matrix_power(np.eye(2), 1.5)



def test_the_values_alone_of_eigh_and_svd_have_finite_gradients_at_repeated_eigenvalues():
    # the unused vectors' cotangent is zero: its terms (0 times 1/0) are left out
    A = np.diag([1.0, 1.0, 2.0])
    np.testing.assert_allclose(cr.grad(lambda a: cnp.sum(cnp.linalg.eigh(a)[0]))(A), np.eye(3))
    np.testing.assert_allclose(cr.grad(lambda a: cnp.sum(cnp.linalg.eigh(a)[0] ** 2))(A),
                               cr.grad(lambda a: cnp.sum(cnp.linalg.eigvalsh(a) ** 2))(A))
    B = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    g = cr.grad(lambda a: cnp.sum(cnp.linalg.svd(a, full_matrices=False)[1]))(B)
    np.testing.assert_allclose(g, cr.grad(lambda a: cnp.sum(cnp.linalg.svdvals(a)))(B))
    assert np.all(np.isfinite(g))


@pytest.mark.parametrize("dtype, tiny", [(np.float32, 1e-23), (np.float64, 1e-170)])
def test_the_2_norms_gradient_is_exact_where_its_square_underflows(dtype, tiny):
    # NumPy's norm of [tiny, tiny] is 0 here; its gradient is still [1, 1]/√2
    x = np.array([tiny, tiny], dtype)
    for mode in ("rev", "fwd"):
        g = cr.jacobian(cnp.linalg.norm, mode=mode)(x)
        assert g.dtype == dtype
        np.testing.assert_allclose(g, [2 ** -0.5, 2 ** -0.5], rtol=1e-6)
    np.testing.assert_array_equal(cr.grad(cnp.linalg.norm)(np.zeros(2, dtype)), [0, 0])


# --------------------------------------------------------------------------- p-norms, p > 1

def p_norm_gradient(y, p, axis):
    """The closed form ∂‖y‖ₚ/∂y = sign(y)·(|y|/‖y‖ₚ)^(p-1), in float64 (keepdims along axis)."""
    y = np.asarray(y, dtype=np.float64)
    n = np.sum(np.abs(y) ** p, axis=axis, keepdims=True) ** (1 / p)
    return np.sign(y) * (np.abs(y) / n) ** (p - 1)


P_ABOVE_1 = [1.5, 3, 4.5]
P_NORM_AXES = [(-1, False), (0, True), ((0, 2), False), ((2, 0), True)]


@pytest.mark.parametrize("p", P_ABOVE_1)
@pytest.mark.parametrize("axis, keepdims", P_NORM_AXES)
def test_p_norm_derivatives_match_finite_differences_in_both_modes_to_second_order(p, axis, keepdims):
    x = tall((2, 3, 4), seed=2)
    f = lambda x: la.vector_norm(x, axis=axis, keepdims=keepdims, ord=p)
    np.testing.assert_allclose(f(x), np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=p),
                               rtol=1e-12)
    assert cr.gradcheck(f, x, modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("p", P_ABOVE_1)
@pytest.mark.parametrize("scale", [1e-200, 1e200])
@pytest.mark.parametrize("axis, keepdims", P_NORM_AXES[::2])
def test_p_norm_derivatives_match_finite_differences_where_powers_of_the_entries_under_or_overflow(
        p, scale, axis, keepdims):
    # ‖s·y‖ₚ / s = ‖y‖ₚ: its derivatives in y are those of the norm at s·y (gradient) and s times
    # them (second derivative), all of order 1; |s·y|ᵖ itself is 0 or inf in float64
    x = tall((2, 3, 4), seed=2)
    f = lambda y: la.vector_norm(scale * y, axis=axis, keepdims=keepdims, ord=p) / scale
    np.testing.assert_allclose(f(x), np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=p),
                               rtol=1e-12)
    assert cr.gradcheck(f, x, modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("p", P_ABOVE_1)
def test_p_norms_gradient_and_second_derivatives_at_zero_are_zero_for_p_above_1(p):
    f = lambda x: la.norm(x, ord=p)
    zero = np.zeros(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)        # no 0/0 on the way
        assert f(zero) == 0
        np.testing.assert_array_equal(cr.grad(f)(zero), zero)
        np.testing.assert_array_equal(cr.jacobian(f, mode="fwd")(zero), zero)
        np.testing.assert_array_equal(cr.hessian(f)(zero), np.zeros((3, 3)))           # fwd over rev
        np.testing.assert_array_equal(cr.jacobian(cr.grad(f), mode="rev")(zero), np.zeros((3, 3)))
        np.testing.assert_array_equal(
            cr.jacobian(cr.jacobian(f, mode="fwd"), mode="fwd")(zero), np.zeros((3, 3)))
        np.testing.assert_array_equal(cr.hvp(f, (zero,), (np.array([1.0, -2.0, 0.5]),)), zero)


@pytest.mark.parametrize("p", P_ABOVE_1)
def test_a_zero_row_of_a_stack_gets_a_zero_gradient_and_the_others_the_closed_form(p):
    x = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]])
    f = lambda x: cnp.sum(la.norm(x, ord=p, axis=1))
    expected = np.concatenate([np.zeros((1, 3)), p_norm_gradient(x[1:], p, axis=1)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        np.testing.assert_allclose(cr.grad(f)(x), expected, rtol=1e-12, atol=0)
        np.testing.assert_allclose(cr.jacobian(f, mode="fwd")(x), expected, rtol=1e-12, atol=0)
        h = cr.hessian(f)(x)
    assert np.all(np.isfinite(h))
    np.testing.assert_array_equal(h[0], 0)
    np.testing.assert_array_equal(h[:, :, 0], 0)


@pytest.mark.parametrize("p", P_ABOVE_1)
@pytest.mark.parametrize("dtype, scale", [(np.float64, 1e-300), (np.float64, 1e300),
                                          (np.float32, 1e-30), (np.float32, 1e30)])
def test_p_norms_value_and_gradient_are_exact_where_powers_of_the_entries_under_or_overflow(
        p, dtype, scale):
    # |x|ᵖ of these entries is 0 or inf in their dtype; the norm and its gradient are not
    y = np.array([1.0, -2.0, 0.5, 0.0])
    x = (scale * y).astype(dtype)
    f = lambda x: la.norm(x, ord=p)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    value = f(x)
    assert value.dtype == dtype
    np.testing.assert_allclose(value / scale, np.linalg.norm(y, ord=p), rtol=rtol)
    for mode in ("rev", "fwd"):
        g = cr.jacobian(f, mode=mode)(x)
        assert g.dtype == dtype
        np.testing.assert_allclose(g, p_norm_gradient(y, p, axis=0), rtol=rtol, atol=0)


def test_p_norms_gradient_with_an_infinite_entry_is_zero_for_the_finite_entries():
    # the norm is infinite: a finite entry's share of it is 0, the infinite one's is undefined
    x = np.array([[1.0, np.inf], [3.0, 4.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = cr.grad(lambda x: cnp.linalg.norm(x, ord=3, axis=1).sum())(x)
    expected_row = np.array([3.0, 4.0]) ** 2 / np.sum(np.array([3.0, 4.0]) ** 3) ** (2 / 3)
    np.testing.assert_allclose(g[1], expected_row, rtol=1e-14)
    assert g[0, 0] == 0 and np.isnan(g[0, 1])


def _cofactors(a):
    n = len(a)
    return np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1)) for j in range(n)]
                     for i in range(n)])


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_det_derivative_is_the_cofactor_matrix_also_at_singular_matrices(mode):
    # ∂det A/∂A = adj(A)ᵀ, the cofactors: a classic exercise, and it exists where A⁻¹ does not
    singular = [np.array([[1.0, 2.0], [2.0, 4.0]]),                   # rank 1 of 2
                np.array([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]]),   # rank 2 of 3
                np.zeros((3, 3)),                                      # rank 0: adj = 0
                np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])]
    for a in singular:
        assert np.linalg.det(a) == 0
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            d = cr.jacobian(cnp.linalg.det, mode=mode)(a)
        np.testing.assert_allclose(d, _cofactors(a), atol=1e-12)
    stack = np.stack([singular[1], np.diag([1.0, 2.0, 4.0])])          # one singular, one not
    np.testing.assert_allclose(cr.jacobian(lambda s: cnp.sum(cnp.linalg.det(s)), mode=mode)(stack),
                               np.stack([_cofactors(m) for m in stack]), atol=1e-12)


def test_det_is_differentiated_to_every_order_at_singular_matrices_each_matrix_on_its_own():
    # det of a 2x2 is a d - b c: its Hessian is constant, its third derivative 0, at any rank
    hess = np.zeros((2, 2, 2, 2))
    hess[0, 0, 1, 1] = hess[1, 1, 0, 0] = 1.0
    hess[0, 1, 1, 0] = hess[1, 0, 0, 1] = -1.0
    for a in (np.array([[1.0, 2.0], [2.0, 4.0]]), np.zeros((2, 2)), np.eye(2)):
        np.testing.assert_allclose(cr.hessian(cnp.linalg.det)(a), hess, atol=1e-12)
        np.testing.assert_allclose(cr.jacobian(cr.hessian(cnp.linalg.det))(a), 0.0, atol=1e-12)
    stack = np.stack([np.eye(2), np.array([[1.0, 2.0], [2.0, 4.0]])])        # one singular, one not
    h = cr.hessian(lambda s: cnp.sum(cnp.linalg.det(s)))(stack)
    np.testing.assert_allclose(h[0, :, :, 0], hess, atol=1e-12)
    np.testing.assert_allclose(h[1, :, :, 1], hess, atol=1e-12)
    a = np.diag([2.0, 2.0, 0.0])                       # repeated singular values and a zero one
    assert cr.gradcheck(cnp.linalg.det, a)
