"""Indexing: ``x[idx]``, ``index_update``, ``Tensor.__setitem__``, take, take_along_axis, select.

Every derivative is checked against central finite differences in both modes to second order,
and the batched paths (whole Jacobians) in reverse and forward mode against each other and
against a finite-difference Jacobian.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_jacobians_agree, numerical_jacobian

import chainrule as cr
import chainrule.numpy as cnp

RNG = np.random.default_rng(7)
X = RNG.standard_normal((4, 5, 6))

# name -> index into an array of shape (4, 5, 6)
INDICES = {
    "int": 1,
    "negative int": -1,
    "ints on two axes": (2, -3),
    "slices with steps": (slice(None, None, 2), slice(4, 0, -2)),
    "negative step": (slice(None), slice(None), slice(None, None, -3)),
    "ellipsis": (Ellipsis, 2),
    "ellipsis in the middle": (1, Ellipsis, slice(1, 4)),
    "None": (None, 1, Ellipsis, None),
    "integer array": np.array([0, 3, 1]),
    "repeated integer array": np.array([0, 2, 2, 3, 2]),
    "list of ints with repeats": [1, 1, 0],
    "2-d integer array with repeats": (slice(None), np.array([[0, 1], [1, 1]])),
    "negative integer array": (slice(None), slice(None), np.array([-1, -6, -1])),
    "boolean mask on all axes": X > 0.3,
    "boolean mask on the first axis": np.array([True, False, True, True]),
    "boolean mask on two axes": (X[:, :, 0] > 0,),
    "advanced and basic mixed": (slice(1, 3), np.array([0, 4, 0]), slice(None, None, -1)),
    "adjacent advanced with a slice after": (np.array([0, 3]), np.array([4, 4]), slice(2, 5)),
    "separated advanced (moved to the front)": (np.array([0, 1, 1]), slice(None), np.array([2, 3, 2])),
    "separated advanced with broadcasting": (np.array([[0], [1]]), slice(1, 3), np.array([5, 0, 5])),
    "int and array separated by a slice": (1, slice(None), np.array([0, 5, 0])),
    "array, None and array": (np.array([0, 2]), None, slice(None), np.array([1, 1])),
}


# ---------------------------------------------------------------- x[idx]

@pytest.mark.parametrize("idx", INDICES.values(), ids=INDICES.keys())
def test_getitem_picks_what_numpy_picks(idx):
    got = cr.jvp(lambda x: x[idx], (X,), (np.ones_like(X),))[0]
    np.testing.assert_array_equal(got, X[idx])


@pytest.mark.parametrize("idx", INDICES.values(), ids=INDICES.keys())
def test_getitem_derivatives_match_finite_differences_to_second_order(idx):
    # cubing makes the second derivative depend on x, so the rules' own derivatives are checked
    assert cr.gradcheck(lambda x: x[idx] ** 3, X, modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("idx", INDICES.values(), ids=INDICES.keys())
def test_getitem_jacobians_agree_in_both_modes(idx):
    assert_jacobians_agree(lambda x: x[idx] ** 2, (X,))


@pytest.mark.parametrize("idx", INDICES.values(), ids=INDICES.keys())
def test_getitem_hessians_agree_for_all_four_mode_pairs(idx):
    # batched cotangents and tangents through getitem and its scatter-add, nested
    f = lambda x: cnp.sum(x[idx] ** 3)
    hs = [cr.jacobian(cr.jacobian(f, mode=inner), mode=outer)(X)
          for inner in ("rev", "fwd") for outer in ("rev", "fwd")]
    for h in hs[1:]:
        np.testing.assert_allclose(h, hs[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hs[0], numerical_jacobian(cr.grad(f), X), rtol=1e-6, atol=1e-6)


def test_repeated_indices_add_up_in_the_gradient():
    idx = np.array([2, 2, 2, 0])
    g = cr.grad(lambda x: cnp.sum(x[idx]))(np.arange(4.0))
    np.testing.assert_array_equal(g, [1.0, 0.0, 3.0, 0.0])


def test_getitem_of_an_index_tensor_uses_its_values():
    idx = cr.tensor(np.array([1, 1]))
    g = cr.grad(lambda x: cnp.sum(x[idx]))(np.arange(3.0))
    np.testing.assert_array_equal(g, [0.0, 2.0, 0.0])


@pytest.mark.parametrize("idx", [1, np.array([0, 0, 2]), np.array([True, False, True])])
def test_getitem_keeps_float32(idx):
    x = np.arange(3, dtype=np.float32)
    assert cr.jvp(lambda x: x[idx], (x,), (np.ones(3, np.float32),))[1].dtype == np.float32
    assert cr.grad(lambda x: cnp.sum(x[idx] ** 2))(x).dtype == np.float32
    assert cr.jacobian(lambda x: x[idx], mode="fwd")(x).dtype == np.float32


def test_getitem_with_too_many_indices_names_the_operation():
    with pytest.raises(IndexError, match="getitem: too many indices"):
        cr.grad(lambda x: cnp.sum(x[0, 1, 2]))(np.ones((2, 2)))


def test_object_api_getitem_accumulates_grad_with_repeats():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = np.array([5.0, 7.0, 11.0])
    (x[np.array([0, 0, 2])] * c).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0 + 7.0, 0.0, 11.0])


# ---------------------------------------------------------------- index_update

UPDATES = {k: INDICES[k] for k in [
    "int", "slices with steps", "ellipsis", "repeated integer array", "2-d integer array with repeats",
    "boolean mask on two axes", "advanced and basic mixed", "separated advanced (moved to the front)",
    "int and array separated by a slice"]}


def _value_shapes(idx):
    picked = X[idx].shape
    return {"full": picked, "scalar": (), "last axis": picked[-1:], "leading 1": (1,) + picked[1:]}


@pytest.mark.parametrize("idx", UPDATES.values(), ids=UPDATES.keys())
@pytest.mark.parametrize("which", ["full", "scalar", "last axis", "leading 1"])
def test_index_update_derivatives_in_both_arguments(idx, which):
    v = RNG.standard_normal(_value_shapes(idx)[which])
    f = lambda x, v: cnp.index_update(x, idx, v) ** 2
    assert cr.gradcheck(f, X, v, argnums=(0, 1), modes=("fwd", "rev"), order=2)
    assert_jacobians_agree(f, (X, v), 0)
    assert_jacobians_agree(f, (X, v), 1)


def test_index_update_returns_a_copy_with_numpys_assignment():
    idx = (slice(None), np.array([1, 1, 3]))
    v = RNG.standard_normal((4, 3, 6))
    expected = X.copy()
    expected[idx] = v
    got = cr.jvp(lambda x: cnp.index_update(x, idx, v), (X,), (np.zeros_like(X),))[0]
    np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(X, expected)          # X itself was not written


def test_index_update_gives_a_repeated_index_the_gradient_of_its_last_write_only():
    idx = np.array([0, 0, 2])
    v = np.array([1.0, 2.0, 3.0])
    g = cr.grad(lambda v: cnp.sum(cnp.index_update(np.zeros(3), idx, v) * np.array([5.0, 7.0, 11.0])))(v)
    out = np.zeros(3)
    out[idx] = [10.0, 20.0, 30.0]                   # which write survives is NumPy's to decide
    survivor = int(np.flatnonzero(out[0] == [10.0, 20.0])[0])
    expected = np.array([0.0, 0.0, 11.0])
    expected[survivor] = 5.0
    np.testing.assert_array_equal(g, expected)


def test_index_update_keeps_float32():
    x = np.ones((3, 4), np.float32)
    v = np.ones(4, np.float32)
    gx, gv = cr.grad(lambda x, v: cnp.sum(cnp.index_update(x, 1, v) ** 2), (0, 1))(x, v)
    assert gx.dtype == gv.dtype == np.float32
    assert cr.jacobian(lambda v: cnp.index_update(x, 1, v), mode="fwd")(v).dtype == np.float32


# ---------------------------------------------------------------- Tensor.__setitem__

def test_setitem_on_a_recorded_tensor_records_a_functional_update():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2.0
    y[1] = x[0] ** 2                      # y = [2x0, x0², 2x2]
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [2.0 + 2.0 * 1.0, 0.0, 2.0])


def test_setitem_does_not_overwrite_arrays_saved_by_earlier_operations():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1.0
    z = y * y                             # saved y for its derivative
    y[0] = 100.0
    z.sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0, 6.0])
    np.testing.assert_allclose(y.numpy(), [100.0, 2.0, 3.0])


def test_setitem_inside_a_transform_is_differentiable_in_both_modes():
    def f(x):
        y = x * 1.0
        y[np.array([0, 2])] = cnp.sin(x[1:3])
        return y ** 2

    x = np.array([0.3, -1.2, 0.7, 2.0])
    assert cr.gradcheck(f, x, modes=("fwd", "rev"), order=2)
    assert_jacobians_agree(f, (x,))


def test_setitem_on_a_leaf_that_requires_grad_raises():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        x[0] = 5.0


def test_setitem_under_no_grad_writes_in_place():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    data = x.data
    with cr.no_grad():
        x[0] = 5.0
    assert x.data is data and x.is_leaf and x.requires_grad
    np.testing.assert_array_equal(x.numpy(), [5.0, 2.0])


def test_setitem_on_a_constant_writes_in_place():
    x = cr.tensor([1.0, 2.0, 3.0])
    x[1:] = 0.0
    np.testing.assert_array_equal(x.numpy(), [1.0, 0.0, 0.0])


# ---------------------------------------------------------------- take

TAKES = {
    "flattened": dict(indices=np.array([0, 7, 7, -1]), axis=None),
    "axis 1 with repeats": dict(indices=np.array([4, 0, 4]), axis=1),
    "negative axis, 2-d indices": dict(indices=np.array([[0, 5], [5, 5]]), axis=-1),
    "scalar index": dict(indices=2, axis=0),
    "wrap": dict(indices=np.array([5, -7, 11]), axis=1, mode="wrap"),
    "clip": dict(indices=np.array([-3, 2, 9]), axis=2, mode="clip"),
}


@pytest.mark.parametrize("kw", TAKES.values(), ids=TAKES.keys())
def test_take_matches_numpy_and_its_derivatives(kw):
    f = lambda x: cnp.take(x, **kw) ** 3
    np.testing.assert_array_equal(cr.jvp(lambda x: cnp.take(x, **kw), (X,), (X,))[0], np.take(X, **kw))
    assert cr.gradcheck(f, X, modes=("fwd", "rev"), order=2)
    assert_jacobians_agree(f, (X,))


def test_take_out_of_bounds_names_the_index_axis_and_shape():
    msg = r"take: index 5 is out of bounds for axis 1 with size 5 .*\(4, 5, 6\)"
    with pytest.raises(IndexError, match=msg):
        cnp.take(cr.tensor(X), np.array([0, 5]), axis=1)


def test_take_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="take: mode must be"):
        cnp.take(X, [0], mode="nearest")


def test_take_keeps_float32():
    x = X.astype(np.float32)
    assert cr.grad(lambda x: cnp.sum(cnp.take(x, [1, 1], axis=0)))(x).dtype == np.float32


# ---------------------------------------------------------------- take_along_axis

def test_take_along_axis_matches_numpy_and_its_derivatives():
    for axis in (0, 1, -1):
        ind = np.argsort(X, axis=axis).take(np.array([0, -1, 0]), axis=axis)   # repeats included
        f = lambda x, ind=ind, axis=axis: cnp.take_along_axis(x, ind, axis) ** 3
        np.testing.assert_array_equal(cnp.take_along_axis(X, ind, axis), np.take_along_axis(X, ind, axis))
        assert cr.gradcheck(f, X, modes=("fwd", "rev"), order=2)
        assert_jacobians_agree(f, (X,))


def test_take_along_axis_broadcasts_indices_and_accepts_axis_none():
    ind = np.array([[[1], [0], [4], [4], [2]]])          # shape (1, 5, 1) against (4, 5, 6), axis 2
    got = cnp.take_along_axis(cr.tensor(X), ind, 2)
    np.testing.assert_array_equal(got.numpy(), np.take_along_axis(X, ind, 2))
    flat = np.array([3, 3, 119])
    np.testing.assert_array_equal(cnp.take_along_axis(X, flat, None), np.take_along_axis(X, flat, None))
    assert_jacobians_agree(lambda x: cnp.take_along_axis(x, ind, 2) ** 2, (X,))


def test_take_along_axis_with_wrong_rank_names_both_shapes():
    msg = r"take_along_axis: indices of shape \(3,\) and array of shape \(4, 5, 6\)"
    with pytest.raises(ValueError, match=msg):
        cnp.take_along_axis(X, np.array([0, 1, 2]), axis=0)


# ---------------------------------------------------------------- select

def test_select_takes_the_first_true_condition_and_differentiates_only_it():
    a = RNG.standard_normal((3, 4))
    b = RNG.standard_normal(4)
    conds = [a > 0.5, a > -0.5]                      # overlap: where both hold, the first wins
    f = lambda a, b: cnp.select(conds, [a ** 2, cnp.sin(b)], default=-1.0)
    np.testing.assert_array_equal(cr.jvp(f, (a, b), (a, b))[0],
                                  np.select(conds, [a ** 2, np.sin(b)], default=-1.0))
    assert cr.gradcheck(f, a, b, argnums=(0, 1), modes=("fwd", "rev"), order=2)
    assert_jacobians_agree(f, (a, b), 0)
    assert_jacobians_agree(f, (a, b), 1)


def test_select_with_a_traced_default():
    x = RNG.standard_normal(5)
    f = lambda x: cnp.select([x > 0], [x], default=x ** 3)
    assert cr.gradcheck(f, x, modes=("fwd", "rev"), order=2)
    assert_jacobians_agree(f, (x,))


def test_select_checks_its_arguments():
    with pytest.raises(ValueError, match="select: condlist and choicelist must have the same length"):
        cnp.select([X > 0], [X, X])
    with pytest.raises(TypeError, match="select: condlist\\[0\\] has dtype"):
        cnp.select([np.ones(3)], [np.ones(3)])


def test_select_keeps_float32():
    x = np.linspace(-1, 1, 5).astype(np.float32)
    assert cr.grad(lambda x: cnp.sum(cnp.select([x > 0], [x * x], 0.0)))(x).dtype == np.float32


# ---------------------------------------------------------------- array, asarray and friends
# (cnp.array of a list of traced values is the inverse of indexing: element k's cotangent is g[k])

def test_array_of_a_nested_list_of_traced_values_is_differentiable():
    x = np.array([0.5, -1.0, 2.0])
    f = lambda x: cnp.array([[x[0], x[1] * 2.0], [1.0, x[2] ** 2]])
    np.testing.assert_array_equal(cr.jvp(f, (x,), (x,))[0], [[0.5, -2.0], [1.0, 4.0]])
    assert cr.gradcheck(f, x, modes=("fwd", "rev"), order=2)
    assert_jacobians_agree(f, (x,))


def test_asarray_stacks_traced_rows_with_constant_rows():
    x = np.array([0.5, -1.0, 2.0])
    f = lambda x: cnp.asarray([x, [1.0, 2.0, 3.0], cnp.sin(x)])
    assert cr.jvp(f, (x,), (x,))[0].shape == (3, 3)
    assert cr.gradcheck(f, x, modes=("fwd", "rev"), order=2)
    assert_jacobians_agree(f, (x,))


def test_array_in_the_object_api_sends_each_element_its_cotangent():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cnp.array([t[1], t[0] * 3.0, t[1]])
    (y * np.array([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(t.grad, [30.0, 101.0])


def test_array_of_traced_values_keeps_float32_and_follows_numpys_dtype_rules():
    x = np.array([1.0, 2.0], np.float32)
    assert cr.grad(lambda x: cnp.sum(cnp.array([x[0], x[1]]) ** 2))(x).dtype == np.float32
    # a Python float next to a float32 value gives float64 in NumPy, and here too
    out = cr.jvp(lambda x: cnp.array([x[0], 1.0]), (x,), (x,))[0]
    assert out.dtype == np.array([np.float32(1.0), 1.0]).dtype


def test_array_of_plain_data_is_a_plain_ndarray():
    out = cnp.array([[1, 2], [3, 4]])
    assert type(out) is np.ndarray and out.dtype == np.array([1]).dtype
    assert type(cnp.asarray([1.0, cr.tensor(2.0)])) is np.ndarray     # a constant Tensor inside


def test_array_of_a_ragged_list_of_traced_values_raises():
    with pytest.raises(ValueError, match="array: cannot make an array"):
        cr.grad(lambda x: cnp.sum(cnp.array([x, x[:1]])))(np.ones(2))


def test_array_of_a_traced_value_copies_and_asarray_does_not():
    def f(x):
        assert cnp.asarray(x) is x
        y = cnp.array(x)
        assert y is not x
        return cnp.array(y, dtype=np.float32, ndmin=2)
    out = cr.jvp(f, (np.ones(3),), (np.ones(3),))[1]
    assert out.shape == (1, 3) and out.dtype == np.float32


def test_plain_constructors_are_numpys():
    np.testing.assert_array_equal(cnp.zeros((2, 3)), np.zeros((2, 3)))
    assert cnp.ones(3, np.float32).dtype == np.float32
    assert cnp.empty((2, 2)).shape == (2, 2)
    np.testing.assert_array_equal(cnp.full((2, 2), 7), np.full((2, 2), 7))
    np.testing.assert_array_equal(cnp.eye(3, 4, k=1), np.eye(3, 4, k=1))
    np.testing.assert_array_equal(cnp.identity(3), np.identity(3))
    np.testing.assert_array_equal(cnp.arange(1, 7, 2), np.arange(1, 7, 2))
    np.testing.assert_array_equal(cnp.linspace(0, 1, 7), np.linspace(0, 1, 7))


def test_full_with_a_traced_fill_value_sums_the_cotangent():
    f = lambda a: cnp.full((2, 3), a) ** 2
    assert cr.gradcheck(f, np.array(1.5), modes=("fwd", "rev"), order=2)
    assert cr.grad(lambda a: cnp.sum(cnp.full((2, 3), a)))(np.float32(1.5)).dtype == np.float32


@pytest.mark.parametrize("kw", [dict(num=5), dict(num=4, endpoint=False), dict(num=1), dict(num=4, axis=1)])
def test_linspace_with_traced_endpoints_matches_numpy_and_its_derivatives(kw):
    start, stop = np.array([0.3, -1.0]), np.array([2.0, 4.0])
    f = lambda a, b: cnp.linspace(a, b, **kw) ** 2
    np.testing.assert_allclose(cr.jvp(lambda a, b: cnp.linspace(a, b, **kw), (start, stop), (start, stop))[0],
                               np.linspace(start, stop, **kw), rtol=1e-15)
    assert cr.gradcheck(f, start, stop, argnums=(0, 1), modes=("fwd", "rev"), order=2)
    assert_jacobians_agree(f, (start, stop), 0)
    assert_jacobians_agree(f, (start, stop), 1)


@pytest.mark.parametrize("stop", [np.float32(0.5), 0.5])
def test_linspace_with_traced_float32_endpoints_stays_float32_as_numpy_does(stop):
    want = np.linspace(np.float32(0.1), stop, 4)
    out, tangent = cr.jvp(lambda s: cnp.linspace(s, stop, 4), (np.float32(0.1),), (np.float32(1.0),))
    assert out.dtype == want.dtype == tangent.dtype == np.float32
    np.testing.assert_allclose(out, want, rtol=1e-6)
    np.testing.assert_allclose(tangent, [1, 2 / 3, 1 / 3, 0], rtol=1e-6, atol=1e-7)
