"""The lecture's "Detour: Matrix/Vector differentiation" and "Chain Rule" sections
(../shared/seed/lecture-notes.md), one test per statement, in its numerator layout: the
gradient of a scalar is a 1×d row, the Jacobian of y ∈ R^k in x ∈ R^d is k×d."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import numerical_jacobian

import chainrule as cr
import chainrule.numpy as cnp
import chainrule.special as sp

MODES = ["rev", "fwd"]


def tanh_layer(W, b):
    """x ↦ tanh(Wx + b): the lecture's h = g(h_prev, w) for a fixed w."""
    return lambda x: cnp.tanh(W @ x + b)


# ----------------------------------------------------------------------- ④ Detour: easy to prove

@pytest.mark.parametrize("mode", MODES)
def test_lecture_easy_to_prove_d_wTx_dw_is_the_row_vector_x_transpose(mode, rng):
    d = 5
    w, x = rng.standard_normal(d), rng.standard_normal(d)
    jac = cr.jacobian_matrix(lambda w: w @ x, mode=mode)(w)
    assert jac.shape == (1, d)
    np.testing.assert_allclose(jac, x[None, :], rtol=1e-15)


@pytest.mark.parametrize("mode", MODES)
def test_lecture_easy_to_prove_d_wTAw_dw_is_wT_times_A_plus_A_transpose(mode, rng):
    d = 4
    w, A = rng.standard_normal(d), rng.standard_normal((d, d))
    jac = cr.jacobian_matrix(lambda w: w @ (A @ w), mode=mode)(w)
    assert jac.shape == (1, d)
    np.testing.assert_allclose(jac, (w @ (A + A.T))[None, :], rtol=1e-13)
    # A is not symmetric here, so the lecture's 2wᵀA would be wrong: the test can tell them apart
    assert not np.allclose(jac, 2 * w @ A)


@pytest.mark.parametrize("mode", MODES)
def test_lecture_easy_to_prove_d_wTAw_dw_is_2_wT_A_for_symmetric_A(mode, rng):
    d = 4
    B = rng.standard_normal((d, d))
    A = B + B.T
    w = rng.standard_normal(d)
    jac = cr.jacobian_matrix(lambda w: w @ (A @ w), mode=mode)(w)
    np.testing.assert_allclose(jac, 2 * (w @ A)[None, :], rtol=1e-13)


@pytest.mark.parametrize("mode", MODES)
def test_lecture_easy_to_prove_y_equals_Ax_has_jacobian_A_of_shape_k_by_d(mode, rng):
    k, d = 3, 5
    A, x = rng.standard_normal((k, d)), rng.standard_normal(d)
    jac = cr.jacobian_matrix(lambda x: A @ x, mode=mode)(x)
    assert jac.shape == (k, d)
    np.testing.assert_allclose(jac, A, rtol=1e-15)


# ----------------------------------------------------------------------- ⑤ Chain rule

@pytest.mark.parametrize("mode", MODES)
def test_lecture_worked_example_d_minus_log_sigmoid_wTx_dw_is_minus_one_minus_p_times_xT(mode, rng):
    d = 6
    w, x = rng.standard_normal(d), rng.standard_normal(d)
    p = 1.0 / (1.0 + np.exp(-(w @ x)))
    expected = -(1.0 - p) * x[None, :]
    # L_i(w) = -log(1 / (1 + e^{-wᵀx})) written three ways: literally, with σ, with log σ
    losses = {
        "literal": lambda w: -cnp.log(1.0 / (1.0 + cnp.exp(-(w @ x)))),
        "sigmoid": lambda w: -cnp.log(sp.sigmoid(w @ x)),
        "log_sigmoid": lambda w: -sp.log_sigmoid(w @ x),
    }
    for name, L in losses.items():
        jac = cr.jacobian_matrix(L, mode=mode)(w)
        assert jac.shape == (1, d), name
        np.testing.assert_allclose(jac, expected, rtol=1e-13, err_msg=name)


def test_lecture_worked_example_is_the_product_dL_dp_times_dp_da_times_da_dw(rng):
    d = 6
    w, x = rng.standard_normal(d), rng.standard_normal(d)
    a = w @ x
    p = float(sp.sigmoid(a))
    # each factor of the lecture's product, from the engine, as a 1×1 or 1×d Jacobian
    dL_dp = cr.jacobian_matrix(lambda p: -cnp.log(p))(p)
    dp_da = cr.jacobian_matrix(sp.sigmoid)(a)
    da_dw = cr.jacobian_matrix(lambda w: w @ x)(w)
    np.testing.assert_allclose(dL_dp, [[-1.0 / p]], rtol=1e-15)
    np.testing.assert_allclose(dp_da, [[p * (1.0 - p)]], rtol=1e-12)   # 1 - p loses digits
    np.testing.assert_allclose(da_dw, x[None, :], rtol=1e-15)
    whole = cr.jacobian_matrix(lambda w: -sp.log_sigmoid(w @ x))(w)
    np.testing.assert_allclose(dL_dp @ dp_da @ da_dw, whole, rtol=1e-13)
    np.testing.assert_allclose(whole, -(1.0 - p) * x[None, :], rtol=1e-13)


@pytest.mark.parametrize("mode", MODES)
def test_lecture_multivariate_chain_rule_J_f_of_g_is_J_f_at_g_x_times_J_g(mode, rng):
    d, m, k = 4, 5, 3
    g = tanh_layer(rng.standard_normal((m, d)), rng.standard_normal(m))     # g: R^d → R^m
    f = tanh_layer(rng.standard_normal((k, m)), rng.standard_normal(k))     # f: R^m → R^k
    x = rng.standard_normal(d)
    J_fg = cr.jacobian_matrix(lambda x: f(g(x)), mode=mode)(x)
    J_f = cr.jacobian_matrix(f, mode=mode)(g(x))
    J_g = cr.jacobian_matrix(g, mode=mode)(x)
    assert (J_fg.shape, J_f.shape, J_g.shape) == ((k, d), (k, m), (m, d))
    np.testing.assert_allclose(J_fg, J_f @ J_g, rtol=1e-13, atol=1e-15)
    # and none of the three is just the engine agreeing with itself
    np.testing.assert_allclose(J_fg, numerical_jacobian(lambda x: f(g(x)), x), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(J_g, numerical_jacobian(g, x), rtol=1e-6, atol=1e-9)


def test_lecture_dz_i_dx_j_is_the_sum_over_k_of_dz_i_dy_k_times_dy_k_dx_j(rng):
    d, m, k = 3, 4, 2
    g = tanh_layer(rng.standard_normal((m, d)), rng.standard_normal(m))
    f = tanh_layer(rng.standard_normal((k, m)), rng.standard_normal(k))
    x = rng.standard_normal(d)
    y = g(x)
    dz_dy = cr.jacobian(f)(y)
    dy_dx = cr.jacobian(g)(x)
    dz_dx = cr.jacobian(lambda x: f(g(x)))(x)
    for i in range(k):
        for j in range(d):
            total = sum(dz_dy[i, kk] * dy_dx[kk, j] for kk in range(m))   # over all intermediates
            np.testing.assert_allclose(dz_dx[i, j], total, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("mode", MODES)
def test_lecture_tensors_are_strung_into_vectors_column_major_like_matlab_x_colon(mode, rng):
    # Z = tanh(W X V): a 2×4 tensor of a 3×2 tensor
    W, V = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    f = lambda X: cnp.tanh(W @ X @ V)
    X = rng.standard_normal((3, 2))
    jac = cr.jacobian_matrix(f, order="F", mode=mode)(X)
    assert jac.shape == (8, 6)
    # entry [z(:) index, x(:) index] is ∂Z[a, b]/∂X[c, e], with MATLAB's column-major x(:)
    full = cr.jacobian(f, mode=mode)(X)
    for a in range(2):
        for b in range(4):
            for c in range(3):
                for e in range(2):
                    row = np.ravel_multi_index((a, b), (2, 4), order="F")
                    col = np.ravel_multi_index((c, e), (3, 2), order="F")
                    assert jac[row, col] == full[a, b, c, e]
    # the same as differentiating the function of vectors vec(X) ↦ vec(Z)
    vec_f = lambda x: cnp.reshape(f(cnp.reshape(x, (3, 2), order="F")), (-1,), order="F")
    np.testing.assert_allclose(jac, numerical_jacobian(vec_f, X.reshape(-1, order="F")),
                               rtol=1e-6, atol=1e-9)
    # row-major stringing is a different matrix (a permutation of this one)
    jac_c = cr.jacobian_matrix(f, order="C", mode=mode)(X)
    np.testing.assert_allclose(jac_c, full.reshape(8, 6), rtol=0)
    assert not np.array_equal(jac, jac_c)


@pytest.mark.parametrize("shape", [(5,), (2, 3)])
def test_lecture_gradient_of_a_scalar_is_the_row_vector_grad_reshaped_to_1_by_d(shape, rng):
    x = rng.standard_normal(shape)
    L = lambda x: cnp.sum(cnp.sin(x) * x)
    g = cr.grad(L)(x)
    assert g.shape == shape                       # grad is shaped like x ...
    row = g.reshape(1, -1)                        # ... and the lecture's gradient is its row
    for mode in MODES:
        np.testing.assert_allclose(cr.jacobian_matrix(L, mode=mode)(x), row, rtol=1e-15)
    np.testing.assert_allclose(row, (np.cos(x) * x + np.sin(x)).reshape(1, -1), rtol=1e-14)


def test_lecture_neural_net_dL_dw_is_dL_dh_1_by_m_times_dh_dw_m_by_d(rng):
    # h = g(h_prev, w) = tanh(W h_prev) with w = vec(W); L = f(h) = -log σ(vᵀh)
    m, n = 3, 4
    h_prev, v = rng.standard_normal(n), rng.standard_normal(m)
    h_of_w = lambda w: cnp.tanh(cnp.reshape(w, (m, n)) @ h_prev)
    L_of_h = lambda h: -sp.log_sigmoid(v @ h)
    w = rng.standard_normal(m * n)
    dL_dh = cr.jacobian_matrix(L_of_h)(h_of_w(w))         # 1 × m
    dh_dw = cr.jacobian_matrix(h_of_w)(w)                 # m × d
    dL_dw = cr.jacobian_matrix(lambda w: L_of_h(h_of_w(w)))(w)
    assert (dL_dh.shape, dh_dw.shape, dL_dw.shape) == ((1, m), (m, m * n), (1, m * n))
    np.testing.assert_allclose(dL_dw, dL_dh @ dh_dw, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dL_dw, cr.grad(lambda w: L_of_h(h_of_w(w)))(w).reshape(1, -1),
                               rtol=1e-14)
