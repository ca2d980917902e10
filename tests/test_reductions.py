"""Reductions (sum, mean, prod, max/min, var/std, average) and running reductions (cumsum,
cumprod): NumPy's values and signatures, derivatives of both modes to second order, batched
Jacobians, dtypes, zeros in products, ties in maxima, empty axes and bad axes."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from conftest import numerical_jacobian

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.numpy import _reductions

SHAPE = (2, 3, 4)
AXES = [None, 0, -1, (0, 2)]
KEEPDIMS = [False, True]

# name -> (chainrule's function, NumPy's function), both called as f(x, axis=..., keepdims=...)
REDUCTIONS = {
    "sum": (cnp.sum, np.sum),
    "mean": (cnp.mean, np.mean),
    "prod": (cnp.prod, np.prod),
    "max": (cnp.max, np.max),
    "min": (cnp.min, np.min),
    "amax": (cnp.amax, np.amax),
    "amin": (cnp.amin, np.amin),
    "var": (cnp.var, np.var),
    "std": (cnp.std, np.std),
    "var-ddof1": (lambda x, **kw: cnp.var(x, ddof=1, **kw), lambda x, **kw: np.var(x, ddof=1, **kw)),
    "std-ddof1": (lambda x, **kw: cnp.std(x, ddof=1, **kw), lambda x, **kw: np.std(x, ddof=1, **kw)),
    "average": (cnp.average, np.average),
}
# cumulative functions take one axis (None: over the flattened array) and no keepdims
CUMULATIVE = {"cumsum": (cnp.cumsum, np.cumsum), "cumprod": (cnp.cumprod, np.cumprod)}
CUM_AXES = [None, 0, 1, -1]


def data(seed=0, shape=SHAPE, dtype=np.float64):
    """Distinct values away from zero (so max/min have no ties and prod no zeros)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    return x.astype(dtype)


def with_zeros(count, seed=0):
    """``data`` with ``count`` zeros, all in the slice x[1, :, :] (and one more in x[0])."""
    x = data(seed)
    spots = [(1, 0, 1), (1, 2, 3), (1, 1, 1), (1, 2, 0)][:count]
    for s in spots:
        x[s] = 0.0
    x[0, 1, 2] = 0.0
    return x


def test_every_public_reduction_is_specified_here():
    assert set(_reductions.__all__) == {n for n in REDUCTIONS if "-" not in n} | set(CUMULATIVE)


# ---------------------------------------------------------------------------- values

REDUCE_CASES = list(itertools.product(REDUCTIONS, AXES, KEEPDIMS))
CUM_CASES = list(itertools.product(CUMULATIVE, CUM_AXES))


@pytest.mark.parametrize("name,axis,keepdims", REDUCE_CASES)
def test_values_equal_numpys_on_plain_and_traced_inputs(name, axis, keepdims):
    ours, ref = REDUCTIONS[name]
    x = data(1)
    expected = ref(x, axis=axis, keepdims=keepdims)
    plain = ours(x, axis=axis, keepdims=keepdims)
    traced, _ = cr.vjp(lambda x: ours(x, axis=axis, keepdims=keepdims), x)
    for value in (plain, traced):
        assert np.shape(value) == np.shape(expected)
        np.testing.assert_allclose(value, expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name,axis", CUM_CASES)
def test_running_values_equal_numpys_on_plain_and_traced_inputs(name, axis):
    ours, ref = CUMULATIVE[name]
    x = data(1)
    expected = ref(x, axis=axis)
    traced, _ = cr.jvp(lambda x: ours(x, axis=axis), (x,), (np.ones_like(x),))
    for value in (ours(x, axis=axis), traced):
        assert value.shape == expected.shape
        np.testing.assert_array_equal(value, expected)


def test_axis_none_flattens_the_running_reductions_like_numpy():
    x = data(2)
    assert cnp.cumsum(x).shape == (x.size,)
    np.testing.assert_array_equal(cnp.cumprod(x), np.cumprod(x.ravel()))
    np.testing.assert_array_equal(cnp.cumsum(np.float64(3.0)), np.cumsum(3.0))


def test_dtype_argument_casts_before_reducing_like_numpy():
    x = np.arange(1, 7).reshape(2, 3)
    for ours, ref in [(cnp.sum, np.sum), (cnp.prod, np.prod), (cnp.var, np.var)]:
        got, expected = ours(x, axis=1, dtype=np.float32), ref(x, axis=1, dtype=np.float32)
        assert got.dtype == expected.dtype == np.float32
        np.testing.assert_allclose(got, expected)
    for ours, ref in [(cnp.cumsum, np.cumsum), (cnp.cumprod, np.cumprod)]:
        assert ours(x, axis=0, dtype=np.float32).dtype == ref(x, axis=0, dtype=np.float32).dtype


def test_var_accepts_numpys_correction_as_a_name_for_ddof():
    x = data(3)
    np.testing.assert_allclose(cnp.var(x, axis=1, correction=1), np.var(x, axis=1, ddof=1))
    with pytest.raises(ValueError, match="var: ddof and correction"):
        cnp.var(x, ddof=1, correction=1)


def test_average_with_weights_matches_numpy_for_full_and_per_axis_weights():
    x = data(4)
    rng = np.random.default_rng(4)
    full = rng.uniform(0.5, 2.0, SHAPE)
    per_axes = rng.uniform(0.5, 2.0, (2, 4))
    per_axis = rng.uniform(0.5, 2.0, (3,))
    cases = [(None, full), (1, full), ((0, 2), per_axes), ((2, 0), per_axes.T), (1, per_axis)]
    for axis, w in cases:
        for keepdims in KEEPDIMS:
            np.testing.assert_allclose(cnp.average(x, axis, w, keepdims=keepdims),
                                       np.average(x, axis, w, keepdims=keepdims), rtol=1e-14)


def test_average_returned_gives_the_sum_of_weights_shaped_like_the_average():
    x, w = data(5), np.random.default_rng(5).uniform(0.5, 2.0, (2, 4))
    for kwargs in [dict(axis=(0, 2), weights=w), dict(axis=1), dict(axis=None, keepdims=True)]:
        avg, scale = cnp.average(x, returned=True, **kwargs)
        ref_avg, ref_scale = np.average(x, returned=True, **kwargs)
        np.testing.assert_allclose(avg, ref_avg)
        np.testing.assert_allclose(scale, ref_scale)
        assert np.shape(scale) == np.shape(ref_scale)


def test_average_refuses_weights_that_sum_to_zero_or_do_not_fit():
    x = data(6)
    with pytest.raises(ZeroDivisionError, match="average: weights sum to zero"):
        cnp.average(x, axis=1, weights=np.array([1.0, -1.0, 0.0]))
    with pytest.raises(TypeError, match="average: axis must be given"):
        cnp.average(x, weights=np.ones(3))
    with pytest.raises(ValueError, match=r"average: weights of shape \(4,\)"):
        cnp.average(x, axis=1, weights=np.ones(4))


# ---------------------------------------------------------------------------- derivatives

def reducer(name, axis, keepdims):
    fn = REDUCTIONS[name][0]
    return lambda x: fn(x, axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("name,axis,keepdims", REDUCE_CASES)
def test_derivatives_match_finite_differences_to_second_order_in_both_modes(name, axis, keepdims):
    assert cr.gradcheck(reducer(name, axis, keepdims), data(7), modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("name,axis", CUM_CASES)
def test_running_derivatives_match_finite_differences_to_second_order(name, axis):
    fn = CUMULATIVE[name][0]
    for x in (data(8), with_zeros(2, seed=8)):
        assert cr.gradcheck(lambda x: fn(x, axis=axis), x, modes=("fwd", "rev"), order=2)


def assert_jacobians_agree(f, x):
    rev = cr.jacobian(f, mode="rev")(x)
    fwd = cr.jacobian(f, mode="fwd")(x)
    fd = numerical_jacobian(f, x)
    assert rev.shape == fwd.shape == fd.shape == np.shape(f(x)) + x.shape
    np.testing.assert_allclose(rev, fwd, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rev, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name,axis,keepdims", REDUCE_CASES)
def test_batched_jacobians_of_both_modes_agree_with_finite_differences(name, axis, keepdims):
    assert_jacobians_agree(reducer(name, axis, keepdims), data(9))


@pytest.mark.parametrize("axis,keepdims", list(itertools.product(AXES, KEEPDIMS)))
def test_batched_jacobians_of_prod_agree_where_the_input_has_zeros(axis, keepdims):
    for count in (1, 2):
        assert_jacobians_agree(reducer("prod", axis, keepdims), with_zeros(count, seed=10))


@pytest.mark.parametrize("name,axis", CUM_CASES)
def test_batched_jacobians_of_running_reductions_agree_with_finite_differences(name, axis):
    fn = CUMULATIVE[name][0]
    for x in (data(11), with_zeros(1, seed=11)):
        assert_jacobians_agree(lambda x: fn(x, axis=axis), x)


@pytest.mark.parametrize("axis", AXES)
def test_average_is_differentiable_in_the_weights_too(axis):
    x = data(12)
    rng = np.random.default_rng(12)
    w = rng.uniform(0.5, 2.0, (2, 4) if axis == (0, 2) else SHAPE)
    f = lambda x, w: cnp.average(x, axis=axis, weights=w)  # noqa: E731
    assert cr.gradcheck(f, x, w, argnums=(0, 1), modes=("fwd", "rev"), order=2)
    assert_jacobians_agree(lambda w: f(x, w), w)


# ---------------------------------------------------------------------------- products with zeros

def others(x):
    """∏_{j≠i} x_j for each i, by deleting x_i: the product rule written out."""
    return np.array([np.prod(np.delete(x, i)) for i in range(x.size)])


def others_but(x):
    """∂²prod/∂x_i∂x_j = ∏_{k≠i,j} x_k (0 on the diagonal), by deleting x_i and x_j."""
    n = x.size
    return np.array([[0.0 if i == j else np.prod(np.delete(x, [i, j])) for j in range(n)]
                     for i in range(n)])


@pytest.mark.parametrize("x", [[2.0, 0.0, 3.0, -1.5], [0.0, 2.0, 0.0, 3.0], [0.0, 0.0, 0.0],
                               [0.5, 2.0, -1.0, 3.0]],
                         ids=["one-zero", "two-zeros", "all-zeros", "no-zero"])
def test_prod_gradient_and_hessian_are_the_products_of_the_other_elements(x):
    x = np.array(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # no division by zero anywhere
        for mode in ("rev", "fwd"):
            np.testing.assert_allclose(cr.jacobian(cnp.prod, mode=mode)(x), others(x))
        np.testing.assert_allclose(cr.hessian(cnp.prod)(x), others_but(x))
        np.testing.assert_allclose(cr.jacobian(cr.jacobian(cnp.prod, mode="fwd"), mode="rev")(x),
                                   others_but(x))
        assert cr.gradcheck(cnp.prod, x, modes=("fwd", "rev"), order=2)


def test_prod_with_one_zero_sends_the_gradient_only_to_the_zero():
    g = cr.grad(cnp.prod)(np.array([2.0, 0.0, 3.0]))
    np.testing.assert_array_equal(g, [0.0, 6.0, 0.0])


def test_cumprod_jacobian_with_zeros_is_the_running_product_of_the_other_elements():
    x = np.array([1.5, 0.0, 2.0, 0.0, -3.0])
    n = x.size
    expected = np.array([[np.prod(np.delete(x[:k + 1], i)) if i <= k else 0.0 for i in range(n)]
                         for k in range(n)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for mode in ("rev", "fwd"):
            np.testing.assert_allclose(cr.jacobian(cnp.cumprod, mode=mode)(x), expected)
        hess = cr.jacobian(cr.jacobian(cnp.cumprod, mode="rev"), mode="fwd")(x)
    # ∂²c_k/∂x_i∂x_j = ∏_{l≤k, l≠i,j} x_l for distinct i, j ≤ k
    for k, i, j in itertools.product(range(n), repeat=3):
        ref = np.prod(np.delete(x[:k + 1], [i, j])) if i != j and i <= k and j <= k else 0.0
        assert hess[k, i, j] == pytest.approx(ref), (k, i, j)


# ---------------------------------------------------------------------------- ties

@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_ties_split_the_gradient_of_max_and_min_equally(mode):
    np.testing.assert_array_equal(cr.jacobian(cnp.max, mode=mode)(np.array([1.0, 3.0, 3.0])),
                                  [0.0, 0.5, 0.5])
    np.testing.assert_allclose(cr.jacobian(cnp.amin, mode=mode)(np.array([2.0, 1.0, 1.0, 1.0])),
                               [0.0, 1 / 3, 1 / 3, 1 / 3])
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    jac = cr.jacobian(lambda x: cnp.amax(x, axis=1), mode=mode)(x)
    np.testing.assert_array_equal(jac[0], [[0.0, 0.5, 0.5], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(jac[1], [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0]])


def test_the_tie_rule_is_documented():
    for fn in (cnp.max, cnp.min, cnp.amax, cnp.amin):
        assert "split equally" in fn.__doc__


def test_a_nan_maximum_sends_its_gradient_to_the_nan():
    g = cr.grad(cnp.max)(np.array([1.0, np.nan, 3.0]))
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0])


# ---------------------------------------------------------------------------- dtypes

FLOAT32_CASES = [(n, a) for n in REDUCTIONS for a in (None, (0, 2))] + [(n, 1) for n in CUMULATIVE]


@pytest.mark.parametrize("name,axis", FLOAT32_CASES)
def test_float32_inputs_give_float32_values_and_derivatives_of_both_orders(name, axis):
    fn = (REDUCTIONS.get(name) or CUMULATIVE[name])[0]
    f = (lambda x: fn(x, axis=axis)) if name in CUMULATIVE else reducer(name, axis, False)
    for x in (data(13, dtype=np.float32), with_zeros(2, seed=13).astype(np.float32)):
        if name.startswith("std") and axis is None:
            x = np.abs(x) + 1                      # keep var away from 0 (std'(0) is infinite)
        assert f(x).dtype == np.float32
        for mode in ("rev", "fwd"):
            assert cr.jacobian(f, mode=mode)(x).dtype == np.float32
        second = cr.jacobian(cr.grad(lambda x: cnp.sum(f(x))), mode="fwd")(x)
        assert second.dtype == np.float32


# ---------------------------------------------------------------------------- edge cases and errors

def test_sum_and_prod_over_an_empty_axis_give_numpys_identities_and_empty_gradients():
    x = np.zeros((2, 0, 3))
    for ours, ref in [(cnp.sum, np.sum), (cnp.prod, np.prod)]:
        np.testing.assert_array_equal(ours(x, axis=1), ref(x, axis=1))
        for mode in ("rev", "fwd"):
            jac = cr.jacobian(lambda x: ours(x, axis=1), mode=mode)(x)
            assert jac.shape == (2, 3, 2, 0, 3)
        assert cr.grad(lambda x: cnp.sum(ours(x, axis=1)))(x).shape == (2, 0, 3)


def test_running_reductions_of_an_empty_array_are_empty():
    x = np.zeros((0, 3))
    for ours, ref in CUMULATIVE.values():
        assert ours(x, axis=0).shape == ref(x, axis=0).shape == (0, 3)
        assert cr.jacobian(lambda x: ours(x, axis=1), mode="fwd")(x).shape == (0, 3, 0, 3)


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin"])
def test_max_of_an_empty_axis_is_an_error_naming_the_function(name):
    with pytest.raises(ValueError, match=f"^{name}: .*empty axis 1"):
        getattr(cnp, name)(np.zeros((2, 0)), axis=1)


def test_var_with_no_degrees_of_freedom_warns_and_gives_numpys_nan():
    with pytest.warns(RuntimeWarning, match="var: degrees of freedom"):
        v = cnp.var(np.array([1.0, 2.0]), ddof=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(v, np.var(np.array([1.0, 2.0]), ddof=2))


ALL_NAMES = [n for n in REDUCTIONS if "-" not in n]


@pytest.mark.parametrize("name", ALL_NAMES + list(CUMULATIVE))
def test_an_axis_out_of_bounds_is_an_error_naming_the_function(name):
    fn = getattr(cnp, name)
    for axis in (3, -4):
        with pytest.raises(np.exceptions.AxisError, match=f"^{name}: axis {axis} is out of bounds"):
            fn(data(14), axis=axis)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_repeated_or_non_integer_axes_are_errors_naming_the_function(name):
    fn = getattr(cnp, name)
    with pytest.raises(ValueError, match=f"^{name}: duplicate value in axis"):
        fn(data(15), axis=(1, -2))
    with pytest.raises(TypeError, match=f"^{name}: axis must be"):
        fn(data(15), axis=1.0)


@pytest.mark.parametrize("name", list(CUMULATIVE))
def test_running_reductions_take_a_single_axis(name):
    with pytest.raises(TypeError, match=f"^{name}: axis must be an int or None"):
        getattr(cnp, name)(data(16), axis=(0, 1))


def test_tensor_methods_reach_these_reductions():
    x = data(17)
    t = cr.tensor(x, requires_grad=True)
    (t.max(axis=0).sum() + t.prod(axis=(0, 2)).sum() + t.var(axis=1, ddof=1).sum()
     + t.std().sum() + t.cumsum(axis=1).sum() + t.cumprod(axis=2).sum()).backward()

    def total(x):
        return (cnp.max(x, axis=0).sum() + cnp.prod(x, axis=(0, 2)).sum()
                + cnp.var(x, axis=1, ddof=1).sum() + cnp.std(x) + cnp.cumsum(x, axis=1).sum()
                + cnp.cumprod(x, axis=2).sum())

    np.testing.assert_allclose(t.grad, cr.grad(total)(x), rtol=1e-12)


def test_integer_dtype_and_out_give_numpys_own_results_on_plain_arrays():
    a, b = np.arange(3, dtype=np.int8), np.array([True, False, True])
    for name in ("sum", "prod", "cumsum", "cumprod"):
        got, want = getattr(cnp, name)(a, dtype=np.int16), getattr(np, name)(a, dtype=np.int16)
        assert got.dtype == want.dtype == np.int16 and np.array_equal(got, want), name
    for name in ("mean", "var", "std"):
        got, want = getattr(cnp, name)(b, dtype=np.int8), getattr(np, name)(b, dtype=np.int8)
        assert np.asarray(got).dtype == np.asarray(want).dtype and got == want, name
    out = np.empty(3)
    assert cnp.cumsum(np.arange(3.0), out=out) is out and out.tolist() == [0.0, 1.0, 3.0]
    # a float dtype= stays differentiable
    g = cr.grad(lambda x: cnp.sum(x, dtype=np.float64))(np.ones(2, np.float32))
    np.testing.assert_array_equal(g, [1.0, 1.0])
