"""chainrule.special: values against scipy.special, exact limits at |x| = 1e4 in value and in
first and second derivatives (with every floating-point warning an error), derivatives of both
modes to second order, and whole Jacobians of the softmax family."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as ss
from conftest import numerical_jacobian

import chainrule as cr
import chainrule.numpy as cnp
import chainrule.special as sp

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-6, atol=1e-30), np.float64: dict(rtol=1e-14, atol=1e-300)}
ALL_RAISE = dict(all="raise")


# ----------------------------------------------------------------------- helpers

def derivatives(f, x):
    """Value, first and second derivative of an elementwise ``f``, each from both modes."""
    ones = np.ones_like(x)
    df_rev = lambda y: cr.grad(lambda z: cnp.sum(f(z)))(y)
    df_fwd = lambda y: cr.jvp(f, (y,), (ones,))[1]
    return {
        "value": f(x),
        "d1 rev": df_rev(x),
        "d1 fwd": df_fwd(x),
        "d2 rev": cr.grad(lambda y: cnp.sum(df_rev(y)))(x),
        "d2 fwd": cr.jvp(df_fwd, (x,), (ones,))[1],
    }


def vector_derivatives(f, x):
    """Value, Jacobian (both modes) and second-derivative tensor (both orders of modes)."""
    return {
        "value": f(x),
        "jac rev": cr.jacobian(f, mode="rev")(x),
        "jac fwd": cr.jacobian(f, mode="fwd")(x),
        "hess fwd-over-rev": cr.jacobian(cr.jacobian(f, mode="rev"), mode="fwd")(x),
        "hess rev-over-fwd": cr.jacobian(cr.jacobian(f, mode="fwd"), mode="rev")(x),
    }


def assert_all_close(got, expected, dtype):
    for key, value in got.items():
        want = expected[key.split()[0]]
        assert np.asarray(value).dtype == dtype, f"{key}: dtype {np.asarray(value).dtype}"
        np.testing.assert_allclose(np.asarray(value, np.float64), want, **TOL[dtype], err_msg=key)


def sig(x):
    """σ in float64 from its definition, only where it cannot overflow (|x| < 700)."""
    return 1.0 / (1.0 + math.exp(-x))


# ----------------------------------------------------------------------- values vs scipy

ELEMENTWISE = {
    "sigmoid": (sp.sigmoid, ss.expit),
    "logistic": (sp.logistic, ss.expit),
    "log_sigmoid": (sp.log_sigmoid, ss.log_expit),
    "softplus": (sp.softplus, lambda x: np.logaddexp(0.0, x)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_values_match_scipy_and_keep_the_dtype(name, dtype, rng):
    f, ref = ELEMENTWISE[name]
    x = rng.uniform(-30, 30, (4, 5)).astype(dtype)
    with np.errstate(**ALL_RAISE):
        got = f(x)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, ref(x.astype(np.float64)), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, -1, None, (0, 1)])
def test_softmax_family_values_match_scipy(axis, dtype, rng):
    x = (5 * rng.standard_normal((3, 4))).astype(dtype)
    x64 = x.astype(np.float64)
    with np.errstate(**ALL_RAISE):
        got = {"logsumexp": sp.logsumexp(x, axis), "softmax": sp.softmax(x, axis),
               "log_softmax": sp.log_softmax(x, axis),
               "logsumexp keepdims": sp.logsumexp(x, axis, keepdims=True)}
    expected = {"logsumexp": ss.logsumexp(x64, axis), "softmax": ss.softmax(x64, axis),
                "log_softmax": ss.log_softmax(x64, axis),
                "logsumexp keepdims": ss.logsumexp(x64, axis, keepdims=True)}
    for key in got:
        assert got[key].dtype == dtype, key
        assert got[key].shape == expected[key].shape, key
        np.testing.assert_allclose(got[key], expected[key], rtol=TOL[dtype]["rtol"] * 4,
                                   atol=1e-6 if dtype == np.float32 else 1e-14, err_msg=key)


def test_softmax_defaults_to_the_last_axis_like_torch_and_jax(rng):
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(sp.softmax(x), ss.softmax(x, axis=-1), rtol=1e-14)
    np.testing.assert_allclose(sp.log_softmax(x), ss.log_softmax(x, axis=-1), rtol=1e-14)


def test_logsumexp_with_weights_matches_scipy_and_broadcasts(rng):
    a = rng.standard_normal((3, 4))
    for b, axis in [(rng.uniform(0.1, 2, (3, 4)), 1), (rng.uniform(0.1, 2, 4), None),
                    (rng.uniform(0.1, 2, (2, 1, 1)), -1)]:
        np.testing.assert_allclose(sp.logsumexp(a, axis, b=b), ss.logsumexp(a, axis, b=b),
                                   rtol=1e-14)


def test_logsumexp_of_infinities_is_their_limit_without_warnings():
    with np.errstate(**ALL_RAISE):
        assert sp.logsumexp(np.array([-np.inf, -np.inf])) == -np.inf
        assert sp.logsumexp(np.array([-np.inf, 0.0])) == 0.0
        assert sp.logsumexp(np.array([1.0, 2.0]), b=np.zeros(2)) == -np.inf
        assert sp.logsumexp(np.array([np.inf, 1e4])) == np.inf
        assert sp.logsumexp(np.array([np.inf, -np.inf])) == np.inf
        np.testing.assert_array_equal(sp.logsumexp(np.array([[np.inf, 0.0], [-np.inf, 1e4]]), axis=1),
                                      [np.inf, 1e4])


@pytest.mark.parametrize("dtype", DTYPES)
def test_xlogy_matches_scipy_and_is_zero_where_x_is_zero(dtype, rng):
    x = np.array([0.0, 0.0, 1.0, 2.5, -3.0, 0.0], dtype)
    y = np.array([0.0, 2.0, 0.0, 3.0, 0.5, 1e4], dtype)
    with np.errstate(**ALL_RAISE):
        got = sp.xlogy(x, y)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, ss.xlogy(x.astype(np.float64), y.astype(np.float64)),
                               **TOL[dtype])
    assert got[0] == 0.0 and got[1] == 0.0 and got[-1] == 0.0
    # broadcasting like a ufunc
    xb, yb = rng.uniform(0, 2, (3, 1)), rng.uniform(0.1, 2, 4)
    np.testing.assert_allclose(sp.xlogy(xb, yb), ss.xlogy(xb, yb), rtol=1e-14)


def test_log_softmax_of_large_float32_logits_keeps_full_precision():
    # x - logsumexp(x) would round logsumexp(x) ≈ 1e4 to float32's spacing there (1e-3)
    x = np.array([1e4, 1e4 - 1.0, 1e4 - 3.0], np.float32)
    shifted = np.array([0.0, -1.0, -3.0])
    expected = shifted - math.log(sum(math.exp(s) for s in shifted))
    np.testing.assert_allclose(sp.log_softmax(x), expected, rtol=2e-7)


def test_sigmoid_derivative_keeps_relative_precision_in_the_tails():
    # σ'(x) = e^{-|x|}/(1 + e^{-|x|})²; 1 - σ(x) would round to 0 for x > 37
    x = np.array([-40.0, -20.0, 20.0, 40.0, 600.0])
    e = np.exp(-np.abs(x))
    expected = e / (1 + e) ** 2
    got = cr.grad(lambda z: cnp.sum(sp.sigmoid(z)))(x)
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert np.all(got > 0)


# ----------------------------------------------------------------------- exact limits at ±1e4

@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_at_plus_minus_1e4_is_exact_in_value_and_two_derivatives(dtype):
    x = np.array([-1e4, 1e4, 0.0, 3.0], dtype)
    s3 = sig(3.0)
    d3 = s3 * (1 - s3)
    expected = {"value": [0.0, 1.0, 0.5, s3],
                "d1": [0.0, 0.0, 0.25, d3],
                "d2": [0.0, 0.0, 0.0, d3 * (1 - 2 * s3)]}
    for f in (sp.sigmoid, sp.logistic):
        with np.errstate(**ALL_RAISE):
            got = derivatives(f, x)
        assert_all_close(got, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_at_plus_minus_1e4_is_exact_in_value_and_two_derivatives(dtype):
    x = np.array([-1e4, 1e4, 0.0, -3.0], dtype)
    s = sig(-3.0)
    expected = {"value": [0.0, 1e4, math.log(2.0), math.log1p(math.exp(-3.0))],
                "d1": [0.0, 1.0, 0.5, s],
                "d2": [0.0, 0.0, 0.25, s * (1 - s)]}
    with np.errstate(**ALL_RAISE):
        got = derivatives(sp.softplus, x)
    assert_all_close(got, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_sigmoid_at_plus_minus_1e4_is_exact_in_value_and_two_derivatives(dtype):
    x = np.array([-1e4, 1e4, 0.0, 2.0], dtype)
    s = sig(2.0)
    expected = {"value": [-1e4, 0.0, -math.log(2.0), math.log(s)],
                "d1": [1.0, 0.0, 0.5, 1 - s],             # d log σ(x)/dx = σ(-x)
                "d2": [0.0, 0.0, -0.25, -s * (1 - s)]}
    with np.errstate(**ALL_RAISE):
        got = derivatives(sp.log_sigmoid, x)
    assert_all_close(got, expected, dtype)


def _softmax_hessian(s):
    """∂²softmax_i/∂x_j∂x_k for softmax values s (float64, from the formula J = diag(s) - ssᵀ)."""
    n = len(s)
    eye = np.eye(n)
    # ∂J_ij/∂x_k = ∂(s_i δ_ij - s_i s_j)/∂x_k with ∂s_i/∂x_k = s_i(δ_ik - s_k)
    ds = s[:, None] * (eye - s[None, :])
    return (eye[:, :, None] * ds[:, None, :] - ds[:, None, :] * s[None, :, None]
            - s[:, None, None] * ds[None, :, :])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x, s", [
    ([1e4, -1e4, 0.0], [1.0, 0.0, 0.0]),
    ([1e4, 1e4, -1e4], [0.5, 0.5, 0.0]),
    ([-1e4, -1e4, -1e4], [1 / 3, 1 / 3, 1 / 3]),
])
def test_softmax_family_at_plus_minus_1e4_is_exact_in_value_and_two_derivatives(x, s, dtype):
    x = np.array(x, dtype)
    s = np.array(s)
    # the 1/max(s) top entries tie, so logsumexp = max(x) + log(1/max(s)); x - max(x) is exact
    top = float(np.max(x.astype(np.float64)))
    lse = top - math.log(float(np.max(s)))
    log_s = (x.astype(np.float64) - top) + math.log(float(np.max(s)))
    jac_softmax = np.diag(s) - np.outer(s, s)
    cases = {
        sp.logsumexp: {"value": lse, "jac": s, "hess": jac_softmax},
        sp.softmax: {"value": s, "jac": jac_softmax, "hess": _softmax_hessian(s)},
        # ∂ log s_i/∂x_j = δ_ij - s_j; its derivative is -∂s_j/∂x_k for every i
        sp.log_softmax: {"value": log_s, "jac": np.eye(3) - s[None, :],
                         "hess": np.broadcast_to(-jac_softmax, (3, 3, 3))},
    }
    for f, expected in cases.items():
        with np.errstate(**ALL_RAISE):
            got = vector_derivatives(f, x)
        assert_all_close(got, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_xlogy_at_1e4_and_at_zero_is_exact_in_value_and_two_derivatives(dtype):
    f = lambda xy: sp.xlogy(xy[0], xy[1])
    y = 1e4
    cases = [
        # f = x log y: ∇ = (log y, x/y), ∇² = [[0, 1/y], [1/y, -x/y²]]
        (np.array([1e4, y], dtype), {"value": 1e4 * math.log(y), "jac": [math.log(y), 1e4 / y],
                                     "hess": [[0.0, 1 / y], [1 / y, -1e4 / y ** 2]]}),
        # at x = 0, f = 0 for every y: ∂f/∂y = 0 and ∂²f/∂y² = 0, ∂f/∂x = log y
        (np.array([0.0, y], dtype), {"value": 0.0, "jac": [math.log(y), 0.0],
                                     "hess": [[0.0, 1 / y], [1 / y, 0.0]]}),
    ]
    for xy, expected in cases:
        with np.errstate(**ALL_RAISE):
            got = vector_derivatives(f, xy)
        assert_all_close(got, expected, dtype)


def test_xlogy_derivative_in_y_is_zero_where_x_and_y_are_both_zero():
    with np.errstate(**ALL_RAISE):
        dy = cr.grad(lambda y: cnp.sum(sp.xlogy(np.zeros(2), y)))(np.array([0.0, 1.0]))
        dy_fwd = cr.jvp(lambda y: sp.xlogy(np.zeros(2), y), (np.array([0.0, 1.0]),),
                        (np.ones(2),))[1]
    np.testing.assert_array_equal(dy, [0.0, 0.0])
    np.testing.assert_array_equal(dy_fwd, [0.0, 0.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_overflow_or_underflow_anywhere_up_to_1e4_for_the_elementwise_functions(dtype):
    x = np.concatenate([np.linspace(-1e4, 1e4, 201), np.linspace(-120, 120, 241)]).astype(dtype)
    for f in (sp.sigmoid, sp.softplus, sp.log_sigmoid):
        with np.errstate(**ALL_RAISE):
            got = derivatives(f, x)
        for key, value in got.items():
            assert value.dtype == dtype
            assert np.all(np.isfinite(value)), (f.__name__, key)


# ----------------------------------------------------------------------- derivatives vs finite differences

ELEMENTWISE_FNS = [sp.sigmoid, sp.log_sigmoid, sp.softplus]


@pytest.mark.parametrize("f", ELEMENTWISE_FNS, ids=lambda f: f.__name__)
def test_elementwise_derivatives_match_finite_differences_to_second_order(f, rng):
    x = rng.uniform(-6, 6, (3, 4))
    assert cr.gradcheck(f, x, modes=("fwd", "rev"), order=2)


def test_sigmoid_derivatives_match_finite_differences_to_third_order(rng):
    assert cr.gradcheck(sp.sigmoid, rng.uniform(-4, 4, 5), modes=("fwd", "rev"), order=3)


@pytest.mark.parametrize("axis", [0, -1, None, (0, 1)])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp", "logsumexp keepdims"])
def test_softmax_family_derivatives_match_finite_differences_to_second_order(name, axis, rng):
    fns = {"softmax": lambda x: sp.softmax(x, axis), "log_softmax": lambda x: sp.log_softmax(x, axis),
           "logsumexp": lambda x: sp.logsumexp(x, axis),
           "logsumexp keepdims": lambda x: sp.logsumexp(x, axis, keepdims=True)}
    x = 2 * rng.standard_normal((3, 4))
    assert cr.gradcheck(fns[name], x, modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("b_shape, axis", [((3, 4), 1), ((4,), None), ((2, 1, 1), -1)])
def test_logsumexp_with_weights_differentiates_in_a_and_b_to_second_order(b_shape, axis, rng):
    a = rng.standard_normal((3, 4))
    b = rng.uniform(0.5, 2.0, b_shape)
    f = lambda a, b: sp.logsumexp(a, axis, b=b)
    assert cr.gradcheck(f, a, b, argnums=(0, 1), modes=("fwd", "rev"), order=2)


def test_xlogy_derivatives_match_finite_differences_to_second_order_including_x_zero(rng):
    x = np.array([[0.0, 1.5, -2.0, 0.0]])
    y = rng.uniform(0.5, 3.0, (3, 1))
    assert cr.gradcheck(sp.xlogy, x, y, argnums=(0, 1), modes=("fwd", "rev"), order=2)


# ----------------------------------------------------------------------- Jacobians, batched paths

@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("f", [sp.softmax, sp.log_softmax, sp.logsumexp], ids=lambda f: f.__name__)
def test_jacobian_rev_equals_fwd_equals_finite_differences(f, axis, rng):
    x = rng.standard_normal((3, 4))
    g = lambda z: f(z, axis)
    rev = cr.jacobian(g, mode="rev")(x)
    fwd = cr.jacobian(g, mode="fwd")(x)
    assert rev.shape == g(x).shape + x.shape
    np.testing.assert_allclose(rev, fwd, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(rev, numerical_jacobian(g, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("f", [sp.softmax, sp.log_softmax, sp.logsumexp], ids=lambda f: f.__name__)
def test_hessians_agree_across_the_four_orders_of_modes(f, axis, rng):
    x = rng.standard_normal((3, 4))
    g = lambda z: f(z, axis)
    hs = [cr.jacobian(cr.jacobian(g, mode=inner), mode=outer)(x)
          for inner in ("rev", "fwd") for outer in ("rev", "fwd")]
    for h in hs[1:]:
        np.testing.assert_allclose(h, hs[0], rtol=1e-12, atol=1e-14)
    jac = lambda z: cr.jacobian(g, mode="rev")(z)
    np.testing.assert_allclose(hs[0], numerical_jacobian(jac, x), rtol=1e-6, atol=1e-8)


def test_logsumexp_with_weights_jacobian_rev_equals_fwd_equals_finite_differences(rng):
    a = rng.standard_normal((3, 4))
    b = rng.uniform(0.5, 2.0, 4)
    for argnum, x in ((0, a), (1, b)):
        f = lambda a, b: sp.logsumexp(a, 0, b=b)
        rev = cr.jacobian(f, argnums=argnum, mode="rev")(a, b)
        fwd = cr.jacobian(f, argnums=argnum, mode="fwd")(a, b)
        fd = numerical_jacobian(lambda z: f(z, b) if argnum == 0 else f(a, z), x)
        np.testing.assert_allclose(rev, fwd, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(rev, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("argnum", [0, 1])
def test_xlogy_jacobians_with_broadcasting_agree_across_modes_and_finite_differences(argnum, rng):
    x = np.array([[0.0, 1.5, -2.0, 0.5]])
    y = rng.uniform(0.5, 3.0, (3, 1))
    args = [x, y]
    rev = cr.jacobian(sp.xlogy, argnums=argnum, mode="rev")(x, y)
    fwd = cr.jacobian(sp.xlogy, argnums=argnum, mode="fwd")(x, y)

    def partial(z):
        full = list(args)
        full[argnum] = z
        return sp.xlogy(*full)

    assert rev.shape == (3, 4) + args[argnum].shape
    np.testing.assert_allclose(rev, fwd, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(rev, numerical_jacobian(partial, args[argnum]), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f", [lambda x: sp.softmax(x, 0), lambda x: sp.log_softmax(x, -1),
                               lambda x: sp.logsumexp(x, 1), sp.sigmoid, sp.softplus,
                               sp.log_sigmoid, lambda x: sp.xlogy(x, x * x + 1)],
                         ids=["softmax", "log_softmax", "logsumexp", "sigmoid", "softplus",
                              "log_sigmoid", "xlogy"])
def test_float32_inputs_give_float32_derivatives_in_both_modes_and_both_orders(f, rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    assert f(x).dtype == np.float32
    for mode in ("rev", "fwd"):
        assert cr.jacobian(f, mode=mode)(x).dtype == np.float32, mode
    assert cr.hessian(lambda z: cnp.sum(f(z)))(x).dtype == np.float32


def test_object_api_backward_through_sigmoid_and_log_softmax(rng):
    w = cr.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    loss = cnp.sum(sp.log_softmax(w, axis=1)[:, 0]) + cnp.sum(sp.sigmoid(w))
    loss.backward()
    expected = cr.grad(lambda v: cnp.sum(sp.log_softmax(v, axis=1)[:, 0]) + cnp.sum(sp.sigmoid(v)))(
        w.numpy())
    np.testing.assert_allclose(w.grad, expected, rtol=1e-14)


# ----------------------------------------------------------------------- errors

def test_bad_axis_raises_axis_error_naming_the_bound():
    with pytest.raises(np.exceptions.AxisError, match="out of bounds"):
        sp.softmax(np.zeros((2, 3)), axis=2)
    with pytest.raises(np.exceptions.AxisError, match="out of bounds"):
        sp.logsumexp(np.zeros((2, 3)), axis=-3)


def test_logsumexp_rejects_weights_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"logsumexp: a of shape \(2, 3\) and b of shape \(4,\)"):
        sp.logsumexp(np.zeros((2, 3)), b=np.ones(4))


def test_an_empty_axis_has_logsumexp_minus_infinity_and_empty_derivatives_in_both_modes():
    with np.errstate(all="raise"):
        assert sp.logsumexp(np.ones(0)) == -np.inf
        assert cr.grad(sp.logsumexp)(np.ones(0)).shape == (0,)
        value, tangent = cr.jvp(sp.logsumexp, (np.ones(0),), (np.ones(0),))
        assert value == -np.inf and tangent == 0
        for f in (sp.softmax, sp.log_softmax):
            g = cr.grad(lambda x: cnp.sum(f(x, axis=-1)))(np.ones((3, 0)))
            assert g.shape == (3, 0)
