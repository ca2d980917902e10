"""sort and partition: NumPy's values, derivatives that follow the permutation (a gather by
argsort/argpartition whose VJP scatters back), batched Jacobians, dtypes and errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import numerical_jacobian

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.numpy import _sorting

SHAPE = (2, 3, 4)
AXES = [None, 0, 1, -1]


def data(seed=0, shape=SHAPE, dtype=np.float64):
    """Distinct values, so the sorting permutation is the same at x ± ε."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(int(np.prod(shape)))).reshape(shape).astype(dtype) * 0.25 \
        + rng.uniform(-0.05, 0.05, shape).astype(dtype)


# name -> f(x, axis); partition is checked with one kth and with several
FUNCTIONS = {
    "sort": lambda x, axis: cnp.sort(x, axis=axis),
    "sort-stable": lambda x, axis: cnp.sort(x, axis=axis, kind="stable"),
    "partition": lambda x, axis: cnp.partition(x, 1, axis=axis),
    "partition-many": lambda x, axis: cnp.partition(x, [0, -1], axis=axis),
}
CASES = list(itertools.product(FUNCTIONS, AXES))


def test_every_public_sorting_function_is_specified_here():
    assert set(_sorting.__all__) == {n.split("-")[0] for n in FUNCTIONS}


def flat_axis(x, axis):
    return (x.ravel(), 0) if axis is None else (x, axis)


@pytest.mark.parametrize("axis", AXES)
def test_sort_values_equal_numpys_on_plain_and_traced_inputs(axis):
    x = data(1)
    expected = np.sort(x, axis=axis)
    traced, _ = cr.vjp(lambda x: cnp.sort(x, axis=axis), x)
    forward, _ = cr.jvp(lambda x: cnp.sort(x, axis=axis), (x,), (np.ones_like(x),))
    for value in (cnp.sort(x, axis=axis), traced, forward):
        np.testing.assert_array_equal(value, expected)


@pytest.mark.parametrize("axis,kth", list(itertools.product(AXES, [1, -1, [0, -1]])))
def test_partition_puts_the_kth_elements_in_sorted_place_on_plain_and_traced_inputs(axis, kth):
    x = data(2)
    expected = np.partition(x, kth, axis=axis)
    traced, _ = cr.vjp(lambda x: cnp.partition(x, kth, axis=axis), x)
    for value in (cnp.partition(x, kth, axis=axis), traced):
        value = np.asarray(value)
        assert value.shape == expected.shape
        v, ax = flat_axis(value, axis)
        xs, _ = flat_axis(x, axis)
        ordered = np.sort(xs, axis=ax)
        for k in np.atleast_1d(kth):
            kth_v, kth_ref = np.take(v, k, axis=ax), np.take(ordered, k, axis=ax)
            np.testing.assert_array_equal(kth_v, kth_ref)
            before = np.take(v, range(k % v.shape[ax]), axis=ax)
            after = np.take(v, range(k % v.shape[ax] + 1, v.shape[ax]), axis=ax)
            assert np.all(before <= np.expand_dims(kth_v, ax))
            assert np.all(after >= np.expand_dims(kth_v, ax))
        # a rearrangement of each slice: the same elements
        np.testing.assert_array_equal(np.sort(v, axis=ax), ordered)


@pytest.mark.parametrize("name,axis", CASES)
def test_derivatives_match_finite_differences_to_second_order_in_both_modes(name, axis):
    fn = FUNCTIONS[name]
    assert cr.gradcheck(lambda x: fn(x, axis), data(3), modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("name,axis", CASES)
def test_batched_jacobians_of_both_modes_agree_with_finite_differences(name, axis):
    fn = FUNCTIONS[name]
    x = data(4)
    f = lambda x: fn(x, axis)  # noqa: E731
    rev = cr.jacobian(f, mode="rev")(x)
    fwd = cr.jacobian(f, mode="fwd")(x)
    fd = numerical_jacobian(f, x)
    assert rev.shape == fwd.shape == fd.shape == np.shape(f(x)) + x.shape
    np.testing.assert_array_equal(rev, fwd)
    np.testing.assert_allclose(rev, fd, rtol=1e-6, atol=1e-7)


def test_the_jacobian_of_sort_is_the_permutation_matrix_of_argsort():
    x = np.array([0.3, -1.0, 2.5, 0.0, 1.2])
    expected = np.eye(x.size)[np.argsort(x)]
    for mode in ("rev", "fwd"):
        np.testing.assert_array_equal(cr.jacobian(cnp.sort, mode=mode)(x), expected)


def test_the_gradient_scatters_back_to_where_each_element_came_from():
    x = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    weights = np.array([1.0, 10.0, 100.0])          # position-dependent weights after sorting
    g = cr.grad(lambda x: cnp.sum(cnp.sort(x, axis=1) * weights))(x)
    np.testing.assert_array_equal(g, [[100.0, 1.0, 10.0], [1.0, 100.0, 10.0]])
    g = cr.grad(lambda x: cnp.sum(cnp.sort(x, axis=None) ** 2))(x)
    np.testing.assert_array_equal(g, 2 * x)


def test_sort_composes_with_other_functions_to_second_order():
    def top_two_sum_of_squares(x):
        return cnp.sum(cnp.sort(x * x, axis=-1)[..., -2:])

    x = data(5, shape=(3, 4)) - 1.5
    assert cr.gradcheck(top_two_sum_of_squares, x, modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_float32_inputs_give_float32_values_and_derivatives(name):
    fn = FUNCTIONS[name]
    x = data(6, dtype=np.float32)
    f = lambda x: fn(x, -1)  # noqa: E731
    assert f(x).dtype == np.float32
    for mode in ("rev", "fwd"):
        assert cr.jacobian(f, mode=mode)(x).dtype == np.float32
    assert cr.jacobian(cr.grad(lambda x: cnp.sum(f(x) ** 2)), mode="fwd")(x).dtype == np.float32


def test_object_api_sort_backpropagates_through_the_permutation():
    x = np.array([2.0, -1.0, 0.5])
    t = cr.tensor(x, requires_grad=True)
    (t.sort() * np.array([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(t.grad, [3.0, 1.0, 2.0])


def test_empty_slices_sort_to_empty_arrays():
    x = np.zeros((2, 0))
    assert cnp.sort(x, axis=1).shape == (2, 0)
    assert cr.jacobian(lambda x: cnp.sort(x, axis=1), mode="rev")(x).shape == (2, 0, 2, 0)


@pytest.mark.parametrize("name", ["sort", "partition"])
def test_an_axis_out_of_bounds_is_an_error_naming_the_function(name):
    args = (1,) if name == "partition" else ()
    fn = getattr(cnp, name)
    for x in (data(7), cr.tensor(data(7))):
        with pytest.raises(np.exceptions.AxisError, match=f"^{name}: axis 3 is out of bounds"):
            fn(x, *args, axis=3)
        with pytest.raises(TypeError, match=f"^{name}: axis must be an int or None"):
            fn(x, *args, axis=(0, 1))
    with pytest.raises(np.exceptions.AxisError, match=f"^{name}: axis -1 is out of bounds"):
        fn(np.float64(1.0), *args)


def test_partition_names_a_kth_out_of_bounds():
    with pytest.raises(ValueError, match=r"^partition: kth=4 is out of bounds .* length 4"):
        cnp.partition(data(8), 4)
    with pytest.raises(ValueError, match=r"^partition: kth=-5"):
        cnp.partition(data(8), [0, -5])
