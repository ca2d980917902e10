"""Elementwise functions: values, derivatives of both modes to second order, dtypes and the
subgradient conventions at kinks and ties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import numerical_jacobian

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.numpy import _ufuncs

# ---------------------------------------------------------------------------- domains
# A domain draws values (of a shape) where the function is smooth.


def uniform(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def away_from_zero(lo, hi):
    """|x| in [lo, hi], either sign."""
    return lambda rng, shape: rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


def away_from(points, lo, hi, gap=0.1):
    """Uniform in [lo, hi] but at least ``gap`` from each of ``points`` (kinks)."""
    def draw(rng, shape):
        x = rng.uniform(lo, hi, shape)
        for p in points:
            near = np.abs(x - p) < gap
            x = np.where(near, p + np.where(x >= p, gap, -gap) * 2, x)
        return x
    return draw


ANY = uniform(-2.0, 2.0)
POS = uniform(0.5, 2.0)
NONZERO = away_from_zero(0.5, 2.0)
UNIT = uniform(-0.8, 0.8)

# name -> (the function of the differentiable arguments, NumPy's reference, domains)
SPECS = {
    "add": (cnp.add, np.add, [ANY, ANY]),
    "subtract": (cnp.subtract, np.subtract, [ANY, ANY]),
    "multiply": (cnp.multiply, np.multiply, [ANY, ANY]),
    "divide": (cnp.divide, np.divide, [ANY, NONZERO]),
    "true_divide": (cnp.true_divide, np.true_divide, [ANY, NONZERO]),
    "negative": (cnp.negative, np.negative, [ANY]),
    "positive": (cnp.positive, np.positive, [ANY]),
    "power": (cnp.power, np.power, [POS, ANY]),
    "square": (cnp.square, np.square, [ANY]),
    "sqrt": (cnp.sqrt, np.sqrt, [POS]),
    "cbrt": (cnp.cbrt, np.cbrt, [NONZERO]),
    "reciprocal": (cnp.reciprocal, np.reciprocal, [NONZERO]),
    "exp": (cnp.exp, np.exp, [ANY]),
    "exp2": (cnp.exp2, np.exp2, [ANY]),
    "expm1": (cnp.expm1, np.expm1, [ANY]),
    "log": (cnp.log, np.log, [POS]),
    "log2": (cnp.log2, np.log2, [POS]),
    "log10": (cnp.log10, np.log10, [POS]),
    "log1p": (cnp.log1p, np.log1p, [uniform(-0.5, 2.0)]),
    "logaddexp": (cnp.logaddexp, np.logaddexp, [ANY, ANY]),
    "logaddexp2": (cnp.logaddexp2, np.logaddexp2, [ANY, ANY]),
    "absolute": (cnp.absolute, np.absolute, [NONZERO]),
    "abs": (cnp.abs, np.abs, [NONZERO]),
    "fabs": (cnp.fabs, np.fabs, [NONZERO]),
    "sign": (cnp.sign, np.sign, [NONZERO]),
    "sin": (cnp.sin, np.sin, [ANY]),
    "cos": (cnp.cos, np.cos, [ANY]),
    "tan": (cnp.tan, np.tan, [uniform(-1.2, 1.2)]),
    "arcsin": (cnp.arcsin, np.arcsin, [UNIT]),
    "arccos": (cnp.arccos, np.arccos, [UNIT]),
    "arctan": (cnp.arctan, np.arctan, [ANY]),
    "arctan2": (cnp.arctan2, np.arctan2, [NONZERO, NONZERO]),
    "hypot": (cnp.hypot, np.hypot, [NONZERO, NONZERO]),
    "deg2rad": (cnp.deg2rad, np.deg2rad, [uniform(-180.0, 180.0)]),
    "rad2deg": (cnp.rad2deg, np.rad2deg, [ANY]),
    "radians": (cnp.radians, np.radians, [uniform(-180.0, 180.0)]),
    "degrees": (cnp.degrees, np.degrees, [ANY]),
    "sinc": (cnp.sinc, np.sinc, [away_from_zero(0.2, 1.8)]),
    "sinh": (cnp.sinh, np.sinh, [ANY]),
    "cosh": (cnp.cosh, np.cosh, [ANY]),
    "tanh": (cnp.tanh, np.tanh, [ANY]),
    "arcsinh": (cnp.arcsinh, np.arcsinh, [ANY]),
    "arccosh": (cnp.arccosh, np.arccosh, [uniform(1.5, 3.0)]),
    "arctanh": (cnp.arctanh, np.arctanh, [UNIT]),
    # ties are avoided here (random continuous values); the tie conventions are tested below
    "maximum": (cnp.maximum, np.maximum, [ANY, ANY]),
    "minimum": (cnp.minimum, np.minimum, [ANY, ANY]),
    "fmax": (cnp.fmax, np.fmax, [ANY, ANY]),
    "fmin": (cnp.fmin, np.fmin, [ANY, ANY]),
    # clip(x, lo, hi) with x kept away from the bounds -1 and 1
    "clip": (lambda x, lo, hi: cnp.clip(x, lo, hi), np.clip,
             [away_from([-1.0, 1.0], -2.0, 2.0), uniform(-1.0, -1.0), uniform(1.0, 1.0)]),
    # where(x > 0, x, y): the condition is a constant computed from x's value
    "where": (lambda x, y: cnp.where(cnp.greater(x, 0), x, y),
              lambda x, y: np.where(x > 0, x, y), [NONZERO, ANY]),
    "nan_to_num": (cnp.nan_to_num, np.nan_to_num, [ANY]),
    # x - q·y with an integer q: continuous values are (almost surely) away from the jumps
    "mod": (cnp.mod, np.mod, [ANY, NONZERO]),
    "remainder": (cnp.remainder, np.remainder, [ANY, NONZERO]),
    "fmod": (cnp.fmod, np.fmod, [ANY, NONZERO]),
    "astype": (lambda x: cnp.astype(x, np.float64), lambda x: x.astype(np.float64), [ANY]),
}

SHAPES = [(), (3,), (2, 3), (1, 3), (2, 1, 3)]
# pairs that broadcast against each other in every way: scalar, prepended and stretched axes
PAIRS = [((), ()), ((), (2, 3)), ((3,), (2, 3)), ((1, 3), (2, 3)), ((2, 1, 3), (1, 3)),
         ((2, 3), (2, 1, 3)), ((2, 1, 3), ())]


def arity(name):
    return len(SPECS[name][2])


def shape_cases(name):
    n = arity(name)
    if n == 1:
        return [(s,) for s in SHAPES]
    if n == 2:
        return PAIRS
    return [(s, (), ()) for s in SHAPES] + [((2, 3), (3,), (2, 1, 1))]


CASES = [(name, shapes) for name in SPECS for shapes in shape_cases(name)]


def draw(name, shapes, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [np.asarray(dom(rng, s), dtype=dtype) for dom, s in zip(SPECS[name][2], shapes, strict=True)]


def test_every_public_elementwise_function_is_specified_here():
    assert set(SPECS) == set(_ufuncs.__all__)


# ---------------------------------------------------------------------------- derivatives

@pytest.mark.parametrize("name,shapes", CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_derivatives_match_finite_differences_to_second_order_in_both_modes(name, shapes):
    fn = SPECS[name][0]
    args = draw(name, shapes)
    argnums = tuple(range(len(args)))
    assert cr.gradcheck(fn, *args, argnums=argnums, modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("name,shapes", CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_jacobians_of_both_modes_agree_with_each_other_and_finite_differences(name, shapes):
    fn = SPECS[name][0]
    args = draw(name, shapes, seed=1)
    for k in range(len(args)):
        def of_k(xk, k=k):
            full = list(args)
            full[k] = xk
            return fn(*full)
        rev = cr.jacobian(of_k, mode="rev")(args[k])
        fwd = cr.jacobian(of_k, mode="fwd")(args[k])
        fd = numerical_jacobian(of_k, args[k])
        assert rev.shape == fwd.shape == fd.shape
        np.testing.assert_allclose(rev, fwd, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(rev, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(SPECS))
def test_values_equal_numpys_on_plain_and_traced_inputs(name):
    fn, ref, _ = SPECS[name]
    shapes = shape_cases(name)[-1]
    args = draw(name, shapes, seed=2)
    expected = ref(*args)
    np.testing.assert_array_equal(fn(*args), expected)
    traced_value, _ = cr.vjp(fn, *args)
    np.testing.assert_array_equal(traced_value, expected)
    forward_value, _ = cr.jvp(fn, args, [np.ones_like(a) for a in args])
    np.testing.assert_array_equal(forward_value, expected)


@pytest.mark.parametrize("name", [n for n in SPECS if n != "astype"])
def test_float32_inputs_give_float32_values_and_derivatives(name):
    fn = SPECS[name][0]
    args = draw(name, shape_cases(name)[-1], seed=3, dtype=np.float32)
    assert fn(*args).dtype == np.float32
    for k in range(len(args)):
        def of_k(xk, k=k):
            full = list(args)
            full[k] = xk
            return fn(*full)
        for mode in ("rev", "fwd"):
            jac = cr.jacobian(of_k, mode=mode)(args[k])
            assert jac.dtype == np.float32, (mode, k)
        # the second derivative (the rule's own derivative) keeps float32 too
        second = cr.jacobian(cr.grad(lambda xk: cnp.sum(of_k(xk))), mode="fwd")(args[k])
        assert second.dtype == np.float32
        loss = lambda xk: cnp.sum(of_k(xk))  # noqa: E731
        value, g = cr.value_and_grad(loss)(args[k])
        assert value.dtype == np.float32 and g.dtype == np.float32


@pytest.mark.parametrize("constant", [2.0, 0.5, 3, math.pi])
def test_python_constants_do_not_promote_float32(constant):
    x = np.linspace(0.5, 1.5, 4, dtype=np.float32)

    def f(x):
        return cnp.sum(x * constant + constant / x - x ** constant + cnp.maximum(x, constant))

    value, g = cr.value_and_grad(f)(x)
    assert value.dtype == np.float32
    assert g.dtype == np.float32
    assert cr.jacobian(cr.grad(f), mode="fwd")(x).dtype == np.float32


# ---------------------------------------------------------------------------- conventions

def test_abs_has_derivative_zero_at_zero():
    x = np.array([-1.0, 0.0, 2.0])
    for f in (cnp.abs, cnp.absolute, cnp.fabs):
        np.testing.assert_array_equal(cr.grad(lambda x: cnp.sum(f(x)))(x), [-1.0, 0.0, 1.0])
        np.testing.assert_array_equal(cr.jacobian(f, mode="fwd")(x), np.diag([-1.0, 0.0, 1.0]))


def test_sign_has_derivative_zero_everywhere_including_zero():
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(cr.grad(lambda x: cnp.sum(cnp.sign(x)))(x), np.zeros(3))
    np.testing.assert_array_equal(cr.jacobian(cnp.sign, mode="fwd")(x), np.zeros((3, 3)))


@pytest.mark.parametrize("f", [cnp.maximum, cnp.minimum, cnp.fmax, cnp.fmin])
def test_ties_split_the_gradient_equally_between_both_operands(f):
    x = np.array([1.0, -2.0, 0.0])
    gx, gy = cr.grad(lambda x, y: cnp.sum(f(x, y)), argnums=(0, 1))(x, x.copy())
    np.testing.assert_array_equal(gx, [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(gy, [0.5, 0.5, 0.5])
    _, tangent = cr.jvp(f, (x, x.copy()), (np.ones(3), np.zeros(3)))
    np.testing.assert_array_equal(tangent, [0.5, 0.5, 0.5])


def test_relu_as_maximum_with_zero_has_derivative_one_half_at_zero():
    relu_grad = cr.grad(lambda x: cnp.sum(cnp.maximum(x, 0.0)))
    np.testing.assert_array_equal(relu_grad(np.array([-1.0, 0.0, 1.0])), [0.0, 0.5, 1.0])


def test_maximum_and_minimum_send_the_whole_gradient_to_the_winner():
    x, y = np.array([1.0, 5.0]), np.array([3.0, 2.0])
    gx, gy = cr.grad(lambda x, y: cnp.sum(cnp.maximum(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [0.0, 1.0])
    np.testing.assert_array_equal(gy, [1.0, 0.0])
    gx, gy = cr.grad(lambda x, y: cnp.sum(cnp.minimum(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [1.0, 0.0])
    np.testing.assert_array_equal(gy, [0.0, 1.0])


@pytest.mark.parametrize("f", [cnp.fmax, cnp.fmin])
def test_fmax_and_fmin_send_the_gradient_to_the_operand_that_is_not_nan(f):
    x = np.array([np.nan, 1.0])
    y = np.array([2.0, np.nan])
    gx, gy = cr.grad(lambda x, y: cnp.sum(f(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [0.0, 1.0])
    np.testing.assert_array_equal(gy, [1.0, 0.0])


def test_clip_passes_the_gradient_inside_the_bounds_inclusive():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    g = cr.grad(lambda x: cnp.sum(cnp.clip(x, -1.0, 1.0)))(x)
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_clip_sends_the_gradient_to_the_bound_that_was_hit():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    lo, hi = np.full(5, -1.0), np.full(5, 1.0)
    gx, glo, ghi = cr.grad(lambda x, lo, hi: cnp.sum(cnp.clip(x, lo, hi)), argnums=(0, 1, 2))(x, lo, hi)
    np.testing.assert_array_equal(gx + glo + ghi, np.ones(5))   # clip(x+c, lo+c, hi+c) = clip + c
    np.testing.assert_array_equal(glo, [1.0, 0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(ghi, [0.0, 0.0, 0.0, 0.0, 1.0])


def test_clip_with_one_bound_only():
    x = np.array([-1.0, 0.5, 2.0])
    np.testing.assert_array_equal(cr.grad(lambda x: cnp.sum(cnp.clip(x, None, 1.0)))(x), [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(cr.grad(lambda x: cnp.sum(cnp.clip(x, 0.0, None)))(x), [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(cr.grad(lambda x: cnp.sum(cnp.clip(x, None, None)))(x), [1.0, 1.0, 1.0])


def test_where_routes_the_gradient_to_the_chosen_branch():
    cond = np.array([True, False, True])
    x, y = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    gx, gy = cr.grad(lambda x, y: cnp.sum(cnp.where(cond, x, y) * np.array([1.0, 2.0, 3.0])),
                     argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [1.0, 0.0, 3.0])
    np.testing.assert_array_equal(gy, [0.0, 2.0, 0.0])


def test_where_accepts_a_traced_condition_and_does_not_differentiate_it():
    x = np.array([-1.0, 2.0])
    g = cr.grad(lambda x: cnp.sum(cnp.where(x > 0, x * x, -x)))(x)
    np.testing.assert_array_equal(g, [-1.0, 4.0])


def test_where_with_one_branch_missing_raises():
    with pytest.raises(ValueError, match="where"):
        cnp.where(np.array([True]), np.ones(1))


def test_nan_to_num_passes_the_gradient_only_where_the_input_is_finite():
    x = np.array([1.0, np.nan, np.inf, -np.inf, -2.0])
    value, g = cr.value_and_grad(lambda x: cnp.sum(cnp.nan_to_num(x, nan=0.0, posinf=9.0, neginf=-9.0)))(x)
    assert value == 1.0 + 0.0 + 9.0 - 9.0 - 2.0
    np.testing.assert_array_equal(g, [1.0, 0.0, 0.0, 0.0, 1.0])


def test_sinc_derivatives_at_zero_are_the_limits():
    # sinc(x) = 1 - (πx)²/6 + ...: sinc'(0) = 0, sinc''(0) = -π²/3, sinc'''(0) = 0
    x = np.array(0.0)
    d1 = cr.grad(cnp.sinc)
    d2 = cr.grad(d1)
    d3 = cr.grad(d2)
    assert d1(x) == 0.0
    np.testing.assert_allclose(d2(x), -math.pi ** 2 / 3, rtol=1e-12)
    np.testing.assert_allclose(d3(x), 0.0, atol=1e-12)
    np.testing.assert_allclose(cr.jacobian(cr.grad(cnp.sinc), mode="fwd")(x), -math.pi ** 2 / 3)


# ---------------------------------------------------------------------------- power

def test_power_of_a_zero_base_has_the_limit_derivatives():
    zero = np.array(0.0)
    assert cr.grad(lambda x: cnp.power(x, 2.0))(zero) == 0.0      # 2·0¹
    assert cr.grad(lambda x: cnp.power(x, 1.0))(zero) == 1.0      # 1·0⁰
    assert cr.grad(cr.grad(lambda x: cnp.power(x, 2.0)))(zero) == 2.0
    assert cr.grad(cr.grad(cr.grad(lambda x: cnp.power(x, 3.0))))(zero) == 6.0
    # ∂0ʸ/∂y = 0ʸ·log 0 is 0 for y > 0 (the limit), not nan
    assert cr.grad(lambda y: cnp.power(0.0, y))(np.array(2.0)) == 0.0
    gx, gy = cr.grad(lambda x, y: cnp.power(x, y), argnums=(0, 1))(zero, np.array(3.0))
    assert gx == 0.0 and gy == 0.0


def test_power_with_an_integer_exponent_and_a_negative_base():
    x = np.array([-2.0, -0.5, 1.5])
    np.testing.assert_allclose(cr.grad(lambda x: cnp.sum(x ** 3))(x), 3 * x ** 2, rtol=1e-14)
    assert cr.gradcheck(lambda x: x ** 3, x, order=2)


def test_operators_on_traced_values_use_these_functions():
    x, y = np.array([1.5, 2.0]), np.array([0.5, -1.0])
    f = lambda x, y: x * y + x / y - y - x ** 2 + (-x) + abs(y)  # noqa: E731
    assert cr.gradcheck(f, x, y, argnums=(0, 1), order=2)
    r = lambda x: 2.0 - x + 3.0 * x + 1.0 / x + 2.0 ** x  # noqa: E731
    assert cr.gradcheck(r, x, order=2)


def test_the_remainder_operators_of_tensors_are_differentiable_and_divmod_splits_off_the_quotient():
    # angle wrapping into [-π, π): d/dx sin(wrap(x)) = cos(x)
    x = np.array([0.3, 1.7, 2.2, 7.0, -4.0])
    wrapped = lambda a: cnp.sum(cnp.sin((a + np.pi) % (2 * np.pi) - np.pi))
    np.testing.assert_allclose(cr.grad(wrapped)(x), np.cos(x), rtol=1e-12)
    t = cr.tensor([0.3, 5.5, -2.5], requires_grad=True)
    q, r = divmod(t, 2.0)
    assert not isinstance(q, cr.Tensor) and np.array_equal(q, [0.0, 2.0, -2.0])
    (r.sum() + (7.0 % t).sum()).backward()
    np.testing.assert_array_equal(t.grad, 1 - np.floor(7.0 / np.array([0.3, 5.5, -2.5])))


def test_clip_takes_numpys_keywords_on_plain_arrays_and_refuses_them_on_traced_values():
    x = np.array([1.0, 2.0, 3.0])
    # NumPy 2.1's names for the bounds, on plain arrays, traced values and the Tensor method
    np.testing.assert_array_equal(cnp.clip(np.arange(4.0), max=2.0), np.clip(np.arange(4.0), max=2.0))
    np.testing.assert_array_equal(cnp.clip(x, None, None), np.clip(x, None, None))
    g = cr.grad(lambda v: cnp.sum(v * cnp.clip(v, min=1.5, max=2.5)))(x)
    np.testing.assert_allclose(g, [1.5, 4.0, 2.5])                 # d(v clip v) = clip v + v [inside]
    t = cr.tensor(x, requires_grad=True)
    (t.clamp(min=1.5).sum() + t.clip(max=2.5).sum()).backward()
    np.testing.assert_array_equal(t.grad, [1.0, 2.0, 1.0])
    # NumPy's other keywords: NumPy's answer on plain arrays, refused on traced values, never a
    # result silently cut from the graph
    assert cnp.clip(x, 1.5, 2.5, dtype=np.float32).dtype == np.float32
    out = np.empty(3)
    assert cnp.clip(x, 1.5, 2.5, out) is out
    with pytest.raises(TypeError, match=r"clip: keyword arguments \(casting\) are not supported on traced"):
        cr.grad(lambda v: cnp.sum(cnp.clip(v, 1.5, 2.5, casting="same_kind")))(x)
    with pytest.raises(TypeError, match=r"clip: keyword arguments \(dtype\) are not supported on traced"):
        cnp.clip(t, 1.5, 2.5, dtype=np.float64)
    with pytest.raises(TypeError, match="clip: each bound is given twice"):
        cnp.clip(x, 1.0, max=2.0, min=0.5)


def test_clip_with_crossed_bounds_sends_every_gradient_to_the_upper_bound():
    # NumPy: clip(x, lo, hi) = min(max(x, lo), hi), which is hi everywhere when lo > hi
    x = np.array([0.0, 0.5, 1.0])
    f = lambda x, lo, hi: cnp.clip(x, lo, hi)
    np.testing.assert_array_equal(f(x, 0.8, 0.2), np.clip(x, 0.8, 0.2))
    for mode in ("rev", "fwd"):
        jx, jlo, jhi = (cr.jacobian(f, k, mode=mode)(x, 0.8, 0.2) for k in range(3))
        np.testing.assert_array_equal(jx, np.zeros((3, 3)))
        np.testing.assert_array_equal(jlo, np.zeros(3))
        np.testing.assert_array_equal(jhi, np.ones(3))
    cr.gradcheck(f, x, np.float64(0.8), np.float64(0.2), argnums=(1, 2), order=2)


@pytest.mark.parametrize("x", [0.0, 1e-9, 1e-7, 1e-5, 1e-3])
def test_sinc_derivatives_near_zero_match_the_series_to_third_order(x):
    # (cos(πx) - sinc(x))/x cancels near 0; the derivatives must still be exact there
    p2, p4, p6 = math.pi ** 2, math.pi ** 4, math.pi ** 6
    want = [-p2 * x / 3 + p4 * x ** 3 / 30,                 # sinc'
            -p2 / 3 + p4 * x ** 2 / 10,                     # sinc''
            p4 * x / 5 - p6 * x ** 3 / 42]                  # sinc'''
    f = cnp.sinc
    for expected in want:                                  # first, second, third order
        f = cr.grad(f)
        np.testing.assert_allclose(f(np.float64(x)), expected, rtol=1e-9, atol=1e-300)
    tangent = cr.jvp(cnp.sinc, (np.float64(x),), (np.float64(1.0),))[1]
    np.testing.assert_allclose(tangent, want[0], rtol=1e-9, atol=1e-300)


def test_rules_stay_exact_where_their_textbook_forms_cancel_or_overflow():
    # references: closed forms in float64 (or float32), far from where they lose digits; no
    # overflow or invalid operation inside a rule (underflow to 0 is the right answer there)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert cr.grad(cnp.expm1)(-40.0) == np.exp(-40.0)                          # not ans + 1
        for x in (5.0, 9.0, 20.0, -9.0):                                           # not 1 - tanh²
            np.testing.assert_allclose(cr.grad(cnp.tanh)(np.float32(x)), 1 / np.cosh(x) ** 2, rtol=1e-6)
            second = -2 * np.tanh(x) / np.cosh(x) ** 2
            np.testing.assert_allclose(cr.grad(cr.grad(cnp.tanh))(x), second, rtol=1e-12)
        lae = lambda v: cnp.logaddexp(v[0], v[1])
        np.testing.assert_array_equal(cr.grad(lae)(np.array([1e16, 1e16])), [0.5, 0.5])
        np.testing.assert_allclose(cr.hessian(lae)(np.array([1e16, 1e16])), [[0.25, -0.25], [-0.25, 0.25]])
        np.testing.assert_allclose(cr.hessian(lae)(np.array([40.0, 0.0]))[0, 0], np.exp(-40.0), rtol=1e-12)
        assert cr.grad(cnp.arcsinh)(1e155) == 1e-155
        np.testing.assert_allclose(cr.grad(cnp.arctan)(np.float32(1e20)), 1e-40, rtol=1e-3)
        np.testing.assert_allclose(cr.grad(lambda v: cnp.arctan2(v[0], v[1]))(np.array([1e-170, 1e-170])),
                                   [5e169, -5e169], rtol=1e-12)
        np.testing.assert_allclose(cr.grad(cnp.arcsin)(1 - 1e-10), 70710.675195109, rtol=1e-12)
        np.testing.assert_array_equal(cr.grad(lambda v: cnp.hypot(v[0], v[1]))(np.array([0.0, 0.0])), [0, 0])


def test_a_positional_out_on_traced_values_is_refused_by_the_functions_name():
    buf = np.empty(2)
    assert cnp.exp(np.zeros(2), buf) is buf                         # NumPy's own on plain arrays
    with pytest.raises(TypeError, match=r"exp: takes 1 array argument on traced values, got 2 "
                                        r"\(an out= array, given positionally\?\)"):
        cr.grad(lambda x: cnp.sum(cnp.exp(x, buf)))(np.ones(2))
    with pytest.raises(TypeError, match="add: takes 2 array arguments on traced values, got 3"):
        cr.grad(lambda x: cnp.sum(cnp.add(x, 1.0, buf)))(np.ones(2))
