"""Identities of the Matrix Cookbook (Petersen & Pedersen), checked against their closed forms.

Equation numbers are those of the November 15, 2012 edition; identities whose number we could
not confirm cite their section instead.  chainrule's gradient of a scalar
``f(X)`` is shaped like ``X`` with entry ``[i, j] = ∂f/∂X_ij``, which is the Cookbook's layout
for scalar-by-matrix derivatives, so every identity is compared as written.  Each derivative
is computed in reverse mode (``grad`` / ``jacobian(mode="rev")``) and in forward mode
(``jacobian(mode="fwd")``); both must equal the closed form, evaluated with plain NumPy.
"""

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

la = cnp.linalg
RNG = np.random.default_rng(2012)
N = 4


def matrix(n=N, m=None):
    """A random, well-conditioned (for square shapes) matrix."""
    m = n if m is None else m
    x = RNG.standard_normal((n, m))
    return x + 3.0 * np.eye(n, m) if n == m else x


def vector(n=N):
    return RNG.standard_normal(n)


def symmetric_positive_definite(n=N):
    a = RNG.standard_normal((n, n))
    return a @ a.T + np.diag(np.arange(1.0, n + 1.0))


def tr(m):
    return cnp.sum(m * np.eye(m.shape[-1]))


def sym(x):
    return (x + x.T) / 2


def derivative(f, x):
    """∂f/∂x in both modes; they must agree with each other before either is compared."""
    rev = cr.jacobian(f, mode="rev")(x)
    fwd = cr.jacobian(f, mode="fwd")(x)
    np.testing.assert_allclose(rev, fwd, rtol=1e-10, atol=1e-12)
    if np.ndim(f(x)) == 0:
        np.testing.assert_allclose(cr.grad(f)(x), rev, rtol=1e-12, atol=1e-14)
    return rev


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


# --------------------------------------------------------------------------- determinants

def test_eq49_derivative_of_det_x_is_det_x_times_x_inverse_transpose():
    x = matrix()
    close(derivative(la.det, x), np.linalg.det(x) * np.linalg.inv(x).T)


def test_eq51_derivative_of_det_axb_is_det_axb_times_x_inverse_transpose():
    a, b, x = matrix(), matrix(), matrix()
    close(derivative(lambda x: la.det(a @ x @ b), x),
          np.linalg.det(a @ x @ b) * np.linalg.inv(x).T)


def test_eq55_derivative_of_log_det_xtx_is_twice_pinv_transpose():
    x = matrix(5, 3)
    close(derivative(lambda x: la.slogdet(x.T @ x)[1], x), 2 * np.linalg.pinv(x).T)


def test_eq57_derivative_of_log_abs_det_x_is_x_inverse_transpose():
    x = matrix()
    x[0] *= -1.0                      # a negative determinant: the |·| matters
    assert np.linalg.det(x) < 0
    close(derivative(lambda x: la.slogdet(x)[1], x), np.linalg.inv(x).T)


def test_eq57_holds_for_each_matrix_of_a_stack():
    x = np.stack([matrix(), matrix()])
    close(derivative(lambda x: cnp.sum(la.slogdet(x)[1]), x),
          np.swapaxes(np.linalg.inv(x), -1, -2))


def test_eq57_through_cholesky_log_det_is_twice_the_log_diagonal_sum():
    # log det A = 2 Σ log L_ii; for symmetric A the gradient is A⁻¹
    a = symmetric_positive_definite()
    idx = np.arange(N)
    close(derivative(lambda a: 2 * cnp.sum(cnp.log(la.cholesky(sym(a))[idx, idx])), a),
          np.linalg.inv(a))


def test_eq58_derivative_of_det_x_to_the_k_is_k_det_x_to_the_k_times_x_inverse_transpose():
    x, k = matrix(), 3
    close(derivative(lambda x: la.det(la.matrix_power(x, k)), x),
          k * np.linalg.det(np.linalg.matrix_power(x, k)) * np.linalg.inv(x).T)


# --------------------------------------------------------------------------- inverses

def test_eq59_derivative_of_the_inverse_is_minus_inverse_times_derivative_times_inverse():
    x, dx = matrix(), matrix()
    _, tangent = cr.jvp(la.inv, (x,), (dx,))
    xi = np.linalg.inv(x)
    close(tangent, -xi @ dx @ xi)


def test_eq60_entries_of_the_inverse_have_derivative_minus_xinv_ki_xinv_jl():
    x = matrix()
    xi = np.linalg.inv(x)
    # jacobian[k, l, i, j] = ∂(X⁻¹)_kl / ∂X_ij = -(X⁻¹)_ki (X⁻¹)_jl
    close(derivative(la.inv, x), -np.einsum("ki,jl->klij", xi, xi))


def test_eq61_derivative_of_a_xinv_b_is_minus_xinvt_a_bt_xinvt():
    a, b, x = vector(), vector(), matrix()
    xit = np.linalg.inv(x).T
    close(derivative(lambda x: a @ la.inv(x) @ b, x), -xit @ np.outer(a, b) @ xit)
    close(derivative(lambda x: a @ la.solve(x, b), x), -xit @ np.outer(a, b) @ xit)


def test_eq62_derivative_of_det_of_the_inverse_is_minus_det_inverse_times_xinvt():
    x = matrix()
    close(derivative(lambda x: la.det(la.inv(x)), x),
          -np.linalg.det(np.linalg.inv(x)) * np.linalg.inv(x).T)


def test_eq63_derivative_of_trace_a_xinv_b_is_minus_xinv_b_a_xinv_transpose():
    a, b, x = matrix(), matrix(), matrix()
    xi = np.linalg.inv(x)
    close(derivative(lambda x: tr(a @ la.inv(x) @ b), x), -(xi @ b @ a @ xi).T)


def test_eq64_derivative_of_trace_of_inverse_of_x_plus_a():
    a, x = matrix(), matrix()
    s = np.linalg.inv(x + a)
    close(derivative(lambda x: tr(la.inv(x + a)), x), -(s @ s).T)


# --------------------------------------------------------------------------- eigenvalues

def test_eq65_derivative_of_the_sum_of_eigenvalues_is_the_identity():
    x = symmetric_positive_definite()
    close(derivative(lambda x: cnp.sum(la.eigvalsh(sym(x))), x), np.eye(N))


def test_eq66_derivative_of_the_product_of_eigenvalues_is_det_x_times_x_inverse_transpose():
    x = symmetric_positive_definite()
    # Π λ_i written as exp(Σ log λ_i): the eigenvalues of a positive-definite matrix are > 0
    close(derivative(lambda x: cnp.exp(cnp.sum(cnp.log(la.eigh(sym(x))[0]))), x),
          np.linalg.det(x) * np.linalg.inv(x).T)


@pytest.mark.parametrize("i", range(N))
def test_eq67_eigenvalue_derivative_is_vi_dA_vi(i):
    a = symmetric_positive_definite()
    w, v = np.linalg.eigh(a)
    close(derivative(lambda a: la.eigh(sym(a))[0][i], a), np.outer(v[:, i], v[:, i]))
    close(derivative(lambda a: la.eigvalsh(sym(a))[i], a), np.outer(v[:, i], v[:, i]))


@pytest.mark.parametrize("i", range(N))
def test_eq68_eigenvector_derivative_is_pinv_of_lambda_i_minus_a_times_dA_vi(i):
    a = symmetric_positive_definite()
    da = sym(matrix())
    w, v = np.linalg.eigh(a)
    _, (_, dv) = cr.jvp(la.eigh, (a,), (da,))
    close(dv[:, i], np.linalg.pinv(w[i] * np.eye(N) - a) @ da @ v[:, i])
    # reverse mode: the cotangent of v_i pulled back, contracted with the same direction
    _, pullback = cr.vjp(lambda a: la.eigh(a)[1][:, i], a)
    u = vector()
    close(np.sum(pullback(u) * da), u @ np.linalg.pinv(w[i] * np.eye(N) - a) @ da @ v[:, i])


# --------------------------------------------------------------------------- scalar forms

def test_eq69_derivative_of_x_dot_a_is_a():
    a, x = vector(), vector()
    close(derivative(lambda x: x @ a, x), a)
    close(derivative(lambda x: a @ x, x), a)


def test_eq70_derivative_of_a_x_b_is_a_bt():
    a, b, x = vector(3), vector(5), matrix(3, 5)
    close(derivative(lambda x: a @ x @ b, x), np.outer(a, b))


def test_eq71_derivative_of_a_xt_b_is_b_at():
    a, b, x = vector(5), vector(3), matrix(3, 5)
    close(derivative(lambda x: a @ x.T @ b, x), np.outer(b, a))


def test_eq72_derivative_of_a_x_a_is_a_at():
    a, x = vector(), matrix()
    close(derivative(lambda x: a @ x @ a, x), np.outer(a, a))
    close(derivative(lambda x: a @ x.T @ a, x), np.outer(a, a))


def test_section_2_4_2_derivative_of_bt_xt_x_c_is_x_times_b_ct_plus_c_bt():
    b, c, x = vector(3), vector(3), matrix(5, 3)
    close(derivative(lambda x: b @ x.T @ x @ c, x), x @ (np.outer(b, c) + np.outer(c, b)))


def test_section_2_4_2_quadratic_form_xt_b_x_has_gradient_b_plus_bt_x_and_hessian_b_plus_bt():
    b, x = matrix(), vector()
    close(derivative(lambda x: x @ b @ x, x), (b + b.T) @ x)
    close(cr.hessian(lambda x: x @ b @ x)(x), b + b.T)


def test_section_2_4_2_derivative_of_xb_plus_c_quadratic_form_in_d():
    b, c, d, x = vector(3), vector(), matrix(), matrix(N, 3)
    r = x @ b + c
    close(derivative(lambda x: (x @ b + c) @ d @ (x @ b + c), x), np.outer((d + d.T) @ r, b))


# --------------------------------------------------------------------------- traces

def test_eq100_derivative_of_trace_x_a_is_at():
    a, x = matrix(), matrix()
    close(derivative(lambda x: tr(x @ a), x), a.T)


def test_eq101_derivative_of_trace_a_x_b_is_at_bt():
    a, b, x = matrix(3, N), matrix(5, 3), matrix(N, 5)
    close(derivative(lambda x: tr(a @ x @ b), x), a.T @ b.T)


def test_eq102_derivative_of_trace_a_xt_b_is_b_a():
    a, b, x = matrix(3, 5), matrix(N, 3), matrix(N, 5)
    close(derivative(lambda x: tr(a @ x.T @ b), x), b @ a)


def test_eq106_derivative_of_trace_x_squared_is_twice_xt():
    x = matrix()
    close(derivative(lambda x: tr(x @ x), x), 2 * x.T)


def test_eq108_derivative_of_trace_xt_b_x_is_b_x_plus_bt_x():
    b, x = matrix(), matrix(N, 3)
    close(derivative(lambda x: tr(x.T @ b @ x), x), b @ x + b.T @ x)


def test_eq109_derivative_of_trace_b_x_xt_is_b_x_plus_bt_x():
    b, x = matrix(), matrix(N, 3)
    close(derivative(lambda x: tr(b @ x @ x.T), x), b @ x + b.T @ x)


def test_eq115_derivative_of_trace_xt_x_is_twice_x():
    x = matrix(N, 3)
    close(derivative(lambda x: tr(x.T @ x), x), 2 * x)


def test_eq121_derivative_of_trace_x_to_the_k_is_k_x_to_the_k_minus_1_transpose():
    x, k = matrix() / 3.0, 4
    close(derivative(lambda x: tr(la.matrix_power(x, k)), x),
          k * np.linalg.matrix_power(x, k - 1).T)


# --------------------------------------------------------------------------- norms

def test_section_2_6_1_derivative_of_the_distance_norm_is_the_unit_vector():
    a, x = vector(), vector()
    close(derivative(lambda x: la.norm(x - a), x), (x - a) / np.linalg.norm(x - a))


def test_section_2_6_1_second_derivative_of_the_distance_norm():
    a, x = vector(), vector()
    r = x - a
    n = np.linalg.norm(r)
    close(cr.hessian(lambda x: la.norm(x - a))(x), np.eye(N) / n - np.outer(r, r) / n ** 3)
    close(derivative(lambda x: (x - a) / la.norm(x - a), x), np.eye(N) / n - np.outer(r, r) / n ** 3)


def test_section_2_6_1_derivative_of_the_squared_two_norm_is_twice_x():
    x = vector()
    close(derivative(lambda x: la.norm(x) ** 2, x), 2 * x)


def test_section_2_7_1_derivative_of_the_squared_frobenius_norm_is_twice_x():
    x = matrix(N, 3)
    close(derivative(lambda x: la.norm(x, "fro") ** 2, x), 2 * x)
    close(derivative(lambda x: la.norm(x) ** 2, x), 2 * x)


# --------------------------------------------------------------------------- singular values
# (standard consequences of the SVD, A = U diag(s) Vᵀ, not numbered in the Cookbook)

def test_derivative_of_a_singular_value_is_ui_vit():
    x = matrix(5, 3)
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    for i in range(3):
        close(derivative(lambda x: la.svd(x, full_matrices=False)[1][i], x), np.outer(u[:, i], vh[i]))


def test_derivative_of_the_nuclear_norm_is_u_vt():
    x = matrix(3, 5)
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    close(derivative(lambda x: la.norm(x, "nuc"), x), u @ vh)


def test_derivative_of_the_pseudo_inverse_of_a_full_column_rank_matrix():
    # Golub & Pereyra: for full column rank, dX⁺ = -X⁺ dX X⁺ + (XᵀX)⁻¹ dXᵀ (I - X X⁺)
    x, dx = matrix(5, 3), matrix(5, 3)
    xp = np.linalg.pinv(x)
    _, ours = cr.jvp(la.pinv, (x,), (dx,))
    close(ours, -xp @ dx @ xp + np.linalg.inv(x.T @ x) @ dx.T @ (np.eye(5) - x @ xp))
