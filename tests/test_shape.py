"""Shape functions of ``chainrule.numpy``: values are NumPy's, derivatives in both modes (batched,
and to second order) match finite differences, float32 stays float32, bad input raises errors
that name the function and the shapes.

Most cases are written once as ``f(m, x)`` with ``m`` a module: ``f(np, x)`` is the
specification and ``f(cnp, x)`` the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import numerical_jacobian

import chainrule
import chainrule.numpy as cnp
from chainrule import gradcheck, jacobian

# (id, f(m, x), shapes to try)
UNARY = [
    ("reshape", lambda m, x: m.reshape(x, (-1, 2)), [(2, 3), (2, 3, 4)]),
    ("ravel_F", lambda m, x: m.ravel(x, order="F"), [(2, 3), (2, 3, 4)]),
    ("broadcast_to", lambda m, x: m.broadcast_to(x, (2,) + x.shape), [(3,), (2, 3)]),
    ("transpose", lambda m, x: m.transpose(x), [(3,), (2, 3), (2, 3, 4)]),
    ("swapaxes", lambda m, x: m.swapaxes(x, 0, -1), [(2, 3), (2, 3, 4)]),
    ("expand_dims", lambda m, x: m.expand_dims(x, 1), [(3,), (2, 3), (2, 3, 4)]),
    ("expand_dims_tuple", lambda m, x: m.expand_dims(x, (0, -1)), [(3,), (2, 3)]),
    ("squeeze_all", lambda m, x: m.squeeze(m.reshape(x, (1,) + x.shape + (1,))), [(3,), (2, 3)]),
    ("squeeze_axis", lambda m, x: m.squeeze(m.reshape(x, x.shape + (1,)), axis=-1), [(3,), (2, 3)]),
    ("moveaxis", lambda m, x: m.moveaxis(x, 0, -1), [(3,), (2, 3), (2, 3, 4)]),
    ("moveaxis_two", lambda m, x: m.moveaxis(x, (0, 1), (2, 0)), [(2, 3, 4)]),
    ("atleast_1d", lambda m, x: m.atleast_1d(x), [(), (3,)]),
    ("atleast_2d", lambda m, x: m.atleast_2d(x), [(), (3,), (2, 3)]),
    ("atleast_3d", lambda m, x: m.atleast_3d(x), [(), (3,), (2, 3), (2, 3, 4)]),
    ("concatenate_0", lambda m, x: m.concatenate([x, 2 * x, x[:1]]), [(3,), (2, 3), (2, 3, 4)]),
    ("concatenate_last", lambda m, x: m.concatenate([x * x, x], axis=-1), [(3,), (2, 3), (2, 3, 4)]),
    ("concatenate_none", lambda m, x: m.concatenate([x, x[:1]], axis=None), [(2, 3), (2, 3, 4)]),
    ("stack_0", lambda m, x: m.stack([x, x * x, 3 * x]), [(3,), (2, 3)]),
    ("stack_last", lambda m, x: m.stack([x, x * x], axis=-1), [(3,), (2, 3, 4)]),
    ("hstack", lambda m, x: m.hstack([x, x * x]), [(3,), (2, 3), (2, 3, 4)]),
    ("vstack", lambda m, x: m.vstack([x, x * x]), [(3,), (2, 3), (2, 3, 4)]),
    ("dstack", lambda m, x: m.dstack([x, x * x]), [(3,), (2, 3), (2, 3, 4)]),
    ("column_stack", lambda m, x: m.column_stack([x, x * x]), [(3,), (2, 3)]),
    ("tile_int", lambda m, x: m.tile(x, 2), [(3,), (2, 3)]),
    ("tile_more_reps", lambda m, x: m.tile(x, (2, 1, 3)), [(3,), (2, 3), (2, 3, 4)]),
    ("tile_fewer_reps", lambda m, x: m.tile(x, (2,)), [(2, 3, 4)]),
    ("repeat_flat", lambda m, x: m.repeat(x, 2), [(3,), (2, 3)]),
    ("repeat_axis", lambda m, x: m.repeat(x, 3, axis=-1), [(3,), (2, 3), (2, 3, 4)]),
    ("repeat_each", lambda m, x: m.repeat(x, [2, 0, 1], axis=1), [(2, 3), (2, 3, 4)]),
    ("flip_all", lambda m, x: m.flip(x), [(3,), (2, 3), (2, 3, 4)]),
    ("flip_axis", lambda m, x: m.flip(x, 1), [(2, 3), (2, 3, 4)]),
    ("fliplr", lambda m, x: m.fliplr(x), [(2, 3), (2, 3, 4)]),
    ("flipud", lambda m, x: m.flipud(x), [(3,), (2, 3)]),
    ("rot90", lambda m, x: m.rot90(x), [(2, 3), (2, 3, 4)]),
    ("rot90_twice", lambda m, x: m.rot90(x, 2), [(2, 3)]),
    ("rot90_back", lambda m, x: m.rot90(x, -1, axes=(1, 2)), [(2, 3, 4)]),
    ("rot90_zero", lambda m, x: m.rot90(x, 4), [(2, 3)]),
    ("roll_flat", lambda m, x: m.roll(x, 2), [(3,), (2, 3)]),
    ("roll_axis", lambda m, x: m.roll(x, -1, axis=1), [(2, 3), (2, 3, 4)]),
    ("roll_axes", lambda m, x: m.roll(x, (1, 2, 1), axis=(0, 2, 0)), [(2, 3, 4)]),
    ("pad_constant", lambda m, x: m.pad(x, 1), [(3,), (2, 3), (2, 3, 4)]),
    ("pad_constant_values", lambda m, x: m.pad(x, ((1, 0), (0, 2)), constant_values=(-1.5, 2.5)),
     [(2, 3)]),
    ("pad_edge", lambda m, x: m.pad(x, (2, 1), mode="edge"), [(3,), (2, 3)]),
    ("pad_reflect", lambda m, x: m.pad(x, 2, mode="reflect"), [(3,), (2, 3)]),
    ("pad_reflect_long", lambda m, x: m.pad(x, (5, 4), mode="reflect"), [(3,)]),
    ("pad_symmetric", lambda m, x: m.pad(x, ((0, 0), (3, 1)), mode="symmetric"), [(2, 3)]),
    ("pad_wrap", lambda m, x: m.pad(x, ((1, 2), (4, 0), (0, 1)), mode="wrap"), [(2, 3, 4)]),
    ("diag_of_vector", lambda m, x: m.diag(x), [(3,)]),
    ("diag_of_vector_above", lambda m, x: m.diag(x, 2), [(3,)]),
    ("diag_of_vector_below", lambda m, x: m.diag(x, -1), [(3,)]),
    ("diag_of_matrix", lambda m, x: m.diag(x), [(2, 3), (4, 3)]),
    ("diag_of_matrix_k", lambda m, x: m.diag(x, -1), [(4, 3)]),
    ("diagonal", lambda m, x: m.diagonal(x), [(2, 3), (2, 3, 4)]),
    ("diagonal_offset", lambda m, x: m.diagonal(x, 1), [(2, 3), (2, 3, 4)]),
    ("diagonal_negative", lambda m, x: m.diagonal(x, -1, axis1=2, axis2=0), [(2, 3, 4)]),
    ("diagonal_past_edge", lambda m, x: m.diagonal(x, 5), [(2, 3)]),
    ("trace", lambda m, x: m.trace(x), [(2, 3), (2, 3, 4)]),
    ("trace_offset", lambda m, x: m.trace(x, -1, 1, 2), [(2, 3, 4)]),
    ("triu", lambda m, x: m.triu(x), [(3,), (2, 3), (2, 3, 4)]),
    ("triu_k", lambda m, x: m.triu(x, 1), [(2, 3)]),
    ("tril", lambda m, x: m.tril(x), [(3,), (2, 3), (2, 3, 4)]),
    ("tril_k", lambda m, x: m.tril(x, -1), [(2, 3, 4)]),
]

CASES = [pytest.param(f, shape, id=f"{name}-{shape}") for name, f, shapes in UNARY for shape in shapes]
FIRST_SHAPE = [pytest.param(f, shapes[-1], id=name) for name, f, shapes in UNARY]


def _x(shape, dtype=np.float64):
    rng = np.random.default_rng(abs(hash(shape)) % 2**32)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("f, shape", CASES)
def test_value_equals_numpy(f, shape):
    x = _x(shape)
    expected = f(np, x)
    got = f(cnp, x)
    assert type(got) is type(expected)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("f, shape", CASES)
def test_derivatives_match_finite_differences_to_second_order(f, shape):
    # squaring makes the cotangent depend on x, so the second-order check differentiates the
    # rules themselves
    assert gradcheck(lambda x: f(cnp, x) ** 2, _x(shape), modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("f, shape", CASES)
def test_batched_jacobians_in_both_modes_match_finite_differences(f, shape):
    x = _x(shape)
    expected = numerical_jacobian(lambda v: f(np, v), x)
    rev = jacobian(lambda v: f(cnp, v), mode="rev")(x)
    fwd = jacobian(lambda v: f(cnp, v), mode="fwd")(x)
    assert rev.shape == fwd.shape == expected.shape
    np.testing.assert_allclose(rev, expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(fwd, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f, shape", FIRST_SHAPE)
def test_float32_input_gives_float32_values_and_derivatives(f, shape):
    x = _x(shape, np.float32)
    assert f(cnp, x).dtype == np.float32
    assert jacobian(lambda v: f(cnp, v), mode="rev")(x).dtype == np.float32
    assert jacobian(lambda v: f(cnp, v), mode="fwd")(x).dtype == np.float32
    t = chainrule.tensor(x, requires_grad=True)
    cnp.sum(f(cnp, t) ** 2).backward()
    assert t.grad.dtype == np.float32


@pytest.mark.parametrize("f, shape", FIRST_SHAPE)
def test_tensor_inputs_record_the_same_gradient(f, shape):
    x = _x(shape)
    w = _x(np.shape(f(np, x)))                       # a weight for each output element
    t = chainrule.tensor(x, requires_grad=True)
    y = f(cnp, t)
    assert isinstance(y, chainrule.Tensor)
    np.testing.assert_array_equal(y.numpy(), f(np, x))
    cnp.sum(y * w).backward()
    expected = np.tensordot(w, numerical_jacobian(lambda v: f(np, v), x), axes=w.ndim)
    np.testing.assert_allclose(t.grad, expected, rtol=1e-6, atol=1e-8)


def test_constant_tensor_inputs_give_constant_tensors():
    t = chainrule.tensor(np.arange(6.0).reshape(2, 3))
    y = cnp.concatenate([t, cnp.flip(t)], axis=1)
    assert isinstance(y, chainrule.Tensor) and not y.requires_grad
    np.testing.assert_array_equal(y.numpy(), np.concatenate([t.numpy(), t.numpy()[::-1, ::-1]], 1))


# ---- functions of several arrays: each argument's cotangent is its own part of g

MULTI = [
    ("concatenate", lambda m, x, y: m.concatenate([x, y], axis=1), [(2, 3, 4), (2, 1, 4)]),
    ("concatenate_mixed_with_constant", lambda m, x, y: m.concatenate([y, np.ones((2, 2)), x]),
     [(1, 2), (3, 2)]),
    ("stack", lambda m, x, y: m.stack((x, y), axis=1), [(2, 3), (2, 3)]),
    ("hstack", lambda m, x, y: m.hstack([x, y]), [(3,), (2,)]),
    ("vstack", lambda m, x, y: m.vstack([x, y]), [(3,), (2, 3)]),
    ("dstack", lambda m, x, y: m.dstack([x, y]), [(2, 3), (2, 3, 2)]),
    ("column_stack", lambda m, x, y: m.column_stack([x, y]), [(3,), (3, 2)]),
]
MULTI_CASES = [pytest.param(f, shapes, id=name) for name, f, shapes in MULTI]


@pytest.mark.parametrize("f, shapes", MULTI_CASES)
def test_several_arrays_value_equals_numpy(f, shapes):
    args = [_x(s) for s in shapes]
    np.testing.assert_array_equal(f(cnp, *args), f(np, *args))


@pytest.mark.parametrize("f, shapes", MULTI_CASES)
def test_several_arrays_derivatives_to_second_order(f, shapes):
    args = [_x(s) for s in shapes]
    assert gradcheck(lambda x, y: f(cnp, x, y) ** 2, *args, argnums=(0, 1), order=2)


@pytest.mark.parametrize("f, shapes", MULTI_CASES)
def test_several_arrays_jacobians_per_argument(f, shapes):
    x, y = (_x(s) for s in shapes)
    expected = (numerical_jacobian(lambda v: f(np, v, y), x),
                numerical_jacobian(lambda v: f(np, x, v), y))
    for mode in ("rev", "fwd"):
        got = jacobian(lambda a, b: f(cnp, a, b), argnums=(0, 1), mode=mode)(x, y)
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-8)


def test_concatenate_of_many_arrays_gives_each_its_slice_of_the_cotangent():
    xs = [_x((k + 1, 2)) for k in range(5)]
    g = _x((15, 2))
    _, pullback = chainrule.vjp(lambda *a: cnp.concatenate(a), *xs)
    parts = pullback(g)
    np.testing.assert_array_equal(np.concatenate(parts), g)


def test_concatenate_and_split_are_differentiable_to_third_order():
    x = _x((2, 5))
    assert gradcheck(lambda v: cnp.concatenate([v ** 2, v[:, :1] * v], axis=1) ** 2, x, order=3)
    assert gradcheck(lambda v: [p ** 3 for p in cnp.split(v, [2, 3], axis=1)], x, order=3)


def test_float32_preserved_through_concatenate_of_several_arrays():
    x, y = _x((2, 3), np.float32), _x((1, 3), np.float32)
    jx, jy = jacobian(lambda a, b: cnp.vstack([a, b]), argnums=(0, 1), mode="fwd")(x, y)
    assert jx.dtype == jy.dtype == np.float32


# ---- splits: lists of traced slices

SPLITS = [
    ("split_sections", lambda m, x: m.split(x, 3, axis=-1), (2, 3)),
    ("split_indices", lambda m, x: m.split(x, [1, 3], axis=2), (2, 3, 4)),
    ("split_overlapping_indices", lambda m, x: m.split(x, [3, 1]), (4,)),
    ("split_negative_index", lambda m, x: m.split(x, [-1]), (3,)),
    ("array_split_unequal", lambda m, x: m.array_split(x, 3, axis=2), (2, 3, 4)),
    ("array_split_more_than_length", lambda m, x: m.array_split(x, 4), (3,)),
    ("hsplit_1d", lambda m, x: m.hsplit(x, 3), (3,)),
    ("hsplit", lambda m, x: m.hsplit(x, [1]), (2, 3)),
    ("vsplit", lambda m, x: m.vsplit(x, 2), (2, 3, 4)),
    ("dsplit", lambda m, x: m.dsplit(x, [1, 1, 3]), (2, 3, 4)),
]
SPLIT_CASES = [pytest.param(f, shape, id=name) for name, f, shape in SPLITS]


@pytest.mark.parametrize("f, shape", SPLIT_CASES)
def test_split_values_equal_numpy_as_a_list(f, shape):
    x = _x(shape)
    got, expected = f(cnp, x), f(np, x)
    assert isinstance(got, list) and len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("f, shape", SPLIT_CASES)
def test_split_derivatives_to_second_order(f, shape):
    assert gradcheck(lambda x: [p ** 2 for p in f(cnp, x)], _x(shape), order=2)


@pytest.mark.parametrize("f, shape", SPLIT_CASES)
def test_split_jacobian_of_each_piece_in_both_modes(f, shape):
    x = _x(shape)
    pieces = len(f(np, x))
    for mode in ("rev", "fwd"):
        got = jacobian(lambda v: f(cnp, v), mode=mode)(x)
        assert isinstance(got, list) and len(got) == pieces
        for k, jac in enumerate(got):
            expected = numerical_jacobian(lambda v, k=k: f(np, v)[k], x)
            np.testing.assert_allclose(jac, expected, rtol=1e-6, atol=1e-8)


def test_using_only_some_split_pieces_gives_zero_cotangent_elsewhere():
    x = _x((6,))
    g = chainrule.grad(lambda v: cnp.sum(cnp.split(v, 3)[1] ** 2))(x)
    np.testing.assert_array_equal(g, np.r_[0.0, 0.0, 2 * x[2:4], 0.0, 0.0])


def test_split_pieces_of_a_tensor_backpropagate_to_it():
    t = chainrule.tensor(_x((2, 4)), requires_grad=True)
    a, b = cnp.hsplit(t, 2)
    cnp.sum(a * 2.0 + b * 3.0).backward()
    np.testing.assert_array_equal(t.grad, np.array([[2.0, 2, 3, 3], [2, 2, 3, 3]]))


def test_float32_preserved_through_split():
    x = _x((2, 4), np.float32)
    pieces = cnp.split(x, 2, axis=1)
    assert all(p.dtype == np.float32 for p in pieces)
    jac = jacobian(lambda v: cnp.split(v, 2, axis=1), mode="rev")(x)
    assert all(j.dtype == np.float32 for j in jac)


# ---- zero-size arrays

ZERO_SIZE = [
    ("concatenate", lambda m, x: m.concatenate([x, x, np.ones((2, 3))]), (0, 3)),
    ("stack", lambda m, x: m.stack([x, x], axis=1), (0, 3)),
    ("split", lambda m, x: m.concatenate(m.split(x, 2, axis=1), axis=0), (0, 4)),
    ("tile", lambda m, x: m.tile(x, (2, 0)), (2, 3)),
    ("repeat", lambda m, x: m.repeat(x, 0, axis=1), (2, 3)),
    ("pad", lambda m, x: m.pad(x, 1), (0, 3)),
    ("flip", lambda m, x: m.flip(x), (0, 3)),
    ("roll", lambda m, x: m.roll(x, 1), (0, 3)),
    ("diag", lambda m, x: m.diag(x, 2), (0,)),
    ("diagonal", lambda m, x: m.diagonal(x), (0, 3)),
    ("triu", lambda m, x: m.triu(x), (2, 0, 3)),
    ("squeeze", lambda m, x: m.squeeze(x), (1, 0)),
]


@pytest.mark.parametrize("f, shape", [pytest.param(f, s, id=n) for n, f, s in ZERO_SIZE])
def test_zero_size_arrays_like_numpy_with_empty_jacobians(f, shape):
    x = np.zeros(shape)
    expected = f(np, x)
    np.testing.assert_array_equal(f(cnp, x), expected)
    assert f(cnp, x).shape == expected.shape
    for mode in ("rev", "fwd"):
        jac = jacobian(lambda v: f(cnp, v), mode=mode)(x)
        assert jac.shape == expected.shape + shape
        np.testing.assert_array_equal(jac, numerical_jacobian(lambda v: f(np, v), x))


# ---- plain values, keywords and NumPy's other behaviour

def test_arrays_themselves_are_sequences_of_their_rows():
    x = _x((2, 3))
    np.testing.assert_array_equal(cnp.stack(x, axis=1), np.stack(x, axis=1))
    np.testing.assert_array_equal(cnp.concatenate(x), np.concatenate(x))
    t = chainrule.tensor(x, requires_grad=True)
    cnp.sum(cnp.vstack(t) * 2.0).backward()
    np.testing.assert_array_equal(t.grad, np.full((2, 3), 2.0))


def test_atleast_nd_with_several_arrays_returns_a_tuple():
    a, b = cnp.atleast_2d(1.0, [1.0, 2.0])
    assert a.shape == (1, 1) and b.shape == (1, 2)


def test_concatenate_dtype_keyword_casts_like_numpy():
    xs = [np.ones(2, np.float32), np.ones(3, np.float32)]
    assert cnp.concatenate(xs, dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="concatenate: cannot cast"):
        cnp.concatenate(xs, dtype=np.int32)


def test_functions_accept_lists():
    np.testing.assert_array_equal(cnp.diag([1.0, 2.0]), np.diag([1.0, 2.0]))
    np.testing.assert_array_equal(cnp.tile([1, 2], 2), np.tile([1, 2], 2))
    np.testing.assert_array_equal(cnp.pad([1, 2], 1, constant_values=7), np.pad([1, 2], 1, constant_values=7))


def test_integer_arrays_keep_their_dtype():
    x = np.arange(6).reshape(2, 3)
    for f in (lambda m: m.pad(x, 1, mode="reflect"), lambda m: m.diag(x[0]), lambda m: m.triu(x),
              lambda m: m.repeat(x, [1, 2], axis=0), lambda m: m.concatenate([x, x])):
        assert f(cnp).dtype == f(np).dtype
        np.testing.assert_array_equal(f(cnp), f(np))


def test_tensor_methods_reach_these_functions():
    t = chainrule.tensor(_x((2, 3, 1)), requires_grad=True)
    assert t.squeeze().shape == (2, 3)
    assert t.repeat(2, axis=1).shape == (2, 6, 1)
    assert t.squeeze(-1).diagonal().shape == (2,)
    cnp.sum(t.squeeze(-1).trace() * 3.0).backward()
    np.testing.assert_array_equal(t.grad[..., 0], 3.0 * np.eye(2, 3))


# ---- errors: name the operation and the shapes or values at fault

ERRORS = [
    (lambda: cnp.concatenate([np.zeros((2, 3)), np.zeros((3, 4))]), ValueError,
     r"concatenate: .*\(2, 3\).*\(3, 4\)"),
    (lambda: cnp.concatenate([np.zeros(2), np.zeros((2, 2))]), ValueError,
     r"concatenate: .*number of dimensions.*\(2,\).*\(2, 2\)"),
    (lambda: cnp.concatenate([np.float64(1.0)]), ValueError, "concatenate: zero-dimensional"),
    (lambda: cnp.concatenate([]), ValueError, "concatenate: need at least one array"),
    (lambda: cnp.concatenate([np.zeros(2)], axis=1), np.exceptions.AxisError, "axis 1"),
    (lambda: cnp.stack([np.zeros(2), np.zeros(3)]), ValueError, r"stack: .*\(2,\).*\(3,\)"),
    (lambda: cnp.stack([]), ValueError, "stack: need at least one array"),
    (lambda: cnp.stack(x for x in np.zeros((2, 2))), TypeError, "stack: .*sequence"),
    (lambda: cnp.vstack([np.zeros(2), np.zeros(3)]), ValueError, r"vstack: .*\(1, 2\).*\(1, 3\)"),
    (lambda: cnp.hstack([np.zeros((2, 1)), np.zeros((3, 1))]), ValueError, r"hstack: .*\(2, 1\).*\(3, 1\)"),
    (lambda: cnp.split(np.zeros(5), 2), ValueError, "split: an axis of length 5 does not split into 2"),
    (lambda: cnp.array_split(np.zeros(5), 0), ValueError, "array_split: .*larger than 0"),
    (lambda: cnp.vsplit(np.zeros(4), 2), ValueError, r"vsplit only works .* 2 or more.*\(4,\)"),
    (lambda: cnp.dsplit(np.zeros((2, 2)), 2), ValueError, "dsplit only works"),
    (lambda: cnp.squeeze(np.zeros((2, 3)), 0), ValueError, r"squeeze: .*axis 0 .*\(2, 3\)"),
    (lambda: cnp.expand_dims(np.zeros(3), (0, 0)), ValueError, "expand_dims: repeated axis"),
    (lambda: cnp.expand_dims(np.zeros(3), 3), np.exceptions.AxisError, "axis 3"),
    (lambda: cnp.moveaxis(np.zeros((2, 3)), (0, 1), 0), ValueError, "moveaxis: .*same number"),
    (lambda: cnp.moveaxis(np.zeros((2, 3)), (0, 0), (0, 1)), ValueError, "moveaxis .*repeated axis"),
    (lambda: cnp.tile(np.zeros(2), -1), ValueError, "tile: reps must be non-negative"),
    (lambda: cnp.repeat(np.zeros(3), [1, 2]), ValueError, r"repeat: .*\(2,\).*length 3"),
    (lambda: cnp.repeat(np.zeros(3), -1), ValueError, "repeat: .*negative"),
    (lambda: cnp.repeat(np.zeros(3), 1.5), TypeError, "repeat: repeats must be integers"),
    (lambda: cnp.fliplr(np.zeros(3)), ValueError, r"fliplr: .*\(3,\)"),
    (lambda: cnp.flipud(np.float64(1.0)), ValueError, "flipud: "),
    (lambda: cnp.rot90(np.zeros((2, 2)), axes=(0, 0)), ValueError, "rot90: the axes must be different"),
    (lambda: cnp.rot90(np.zeros((2, 2)), axes=(0, 1, 2)), ValueError, "rot90: len"),
    (lambda: cnp.rot90(np.zeros((2, 2)), axes=(0, 3)), ValueError, "rot90: .*out of range"),
    (lambda: cnp.roll(np.zeros((2, 2)), (1, 2, 3), (0, 1)), ValueError, "roll: shift"),
    (lambda: cnp.pad(np.zeros(3), -1), ValueError, "pad: .*negative"),
    (lambda: cnp.pad(np.zeros(3), 1.5), TypeError, "pad: pad_width must be integers"),
    (lambda: cnp.pad(np.zeros((2, 3)), [1, 2, 3]), ValueError, r"pad: .*\(3,\).*\(2, 3\)"),
    (lambda: cnp.pad(np.zeros(3), 1, mode="bogus"), ValueError, "pad: mode 'bogus' is not supported"),
    (lambda: cnp.pad(np.zeros(3), 1, mode="edge", constant_values=1), ValueError,
     "pad: unsupported keyword arguments for mode 'edge'"),
    (lambda: cnp.pad(np.zeros(3), 1, mode="mean"), NotImplementedError, "pad: mode 'mean'"),
    (lambda: cnp.pad(np.zeros(3), 1, mode="linear_ramp"), NotImplementedError, "pad: mode 'linear_ramp'"),
    (lambda: cnp.pad(np.zeros(3), 1, mode="reflect", reflect_type="odd"), NotImplementedError,
     "reflect_type='odd'"),
    (lambda: cnp.pad(np.zeros((0, 2)), 1, mode="edge"), ValueError, r"pad: .*empty axis 0.*\(0, 2\)"),
    (lambda: cnp.diag(np.zeros((2, 2, 2))), ValueError, r"diag: .*\(2, 2, 2\)"),
    (lambda: cnp.diagonal(np.zeros(3)), ValueError, r"diagonal: .*two dimensions.*\(3,\)"),
    (lambda: cnp.diagonal(np.zeros((2, 2)), 0, 1, -1), ValueError, "diagonal: axis1 and axis2"),
    (lambda: cnp.trace(np.zeros((2, 2)), out=np.zeros(())), TypeError, "trace: out="),
    (lambda: cnp.triu(np.float64(1.0)), ValueError, "triu: .*0-d"),
]


@pytest.mark.parametrize("call, error, message", ERRORS,
                         ids=[f"error{k}" for k in range(len(ERRORS))])
def test_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("join", [cnp.concatenate, cnp.stack])
def test_mismatched_traced_arrays_raise_the_same_error(join):
    def f(x):
        return join([x, cnp.ones((3, 4))])
    with pytest.raises(ValueError, match=rf"{join.__name__}: .*\(2, 3\).*\(3, 4\)"):
        chainrule.grad(lambda x: cnp.sum(f(x)))(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=rf"{join.__name__}: .*\(2, 3\).*\(3, 4\)"):
        f(chainrule.tensor(np.zeros((2, 3)), requires_grad=True))


def test_traced_fill_pad_and_arange_values_are_differentiated_not_dropped():
    # each used to strip the tracing and give a zero gradient
    for mode in ("rev", "fwd"):
        jac = lambda f, x: chainrule.jacobian(f, mode=mode)(x)
        np.testing.assert_allclose(jac(lambda s: cnp.sum(cnp.full_like(np.ones(3), s)), 0.5), 3.0)
        padded = lambda s: cnp.sum(cnp.pad(np.ones(2), (1, 2), constant_values=s))
        np.testing.assert_allclose(jac(padded, 0.5), 3.0)
        np.testing.assert_allclose(jac(lambda s: cnp.arange(s, s + 3.0), 0.5), np.ones(3))
        np.testing.assert_allclose(jac(lambda d: cnp.arange(0.0, 3.0, d), 0.5), np.arange(6.0))
    with pytest.raises(NotImplementedError, match="pad: a traced constant_values must be a scalar"):
        chainrule.grad(lambda s: cnp.sum(cnp.pad(np.ones(2), 1, constant_values=s)))(np.array([1.0, 2.0]))
    # on plain arrays and with integer results: NumPy's own
    assert cnp.arange(1, 5, 2).tolist() == [1, 3]
    assert cnp.full_like(np.ones(3, int), 2.5).tolist() == [2, 2, 2]
    x32 = chainrule.tensor(np.ones(3, np.float32))
    assert chainrule.grad(lambda s: cnp.sum(cnp.full_like(x32, s)))(np.float32(2.0)).dtype == np.float32


def test_memory_orders_and_dtypes_as_numpy_gives_them():
    F = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(cnp.ravel(F, "A"), np.ravel(F, "A"))
    np.testing.assert_array_equal(cnp.reshape(F, (3, 2), order="A"), np.reshape(F, (3, 2), order="A"))
    strided = np.arange(24.0).reshape(2, 3, 4).transpose(1, 0, 2)[:, ::-1]     # neither C nor F
    for x in (F, strided, np.arange(4.0)):
        np.testing.assert_array_equal(cnp.ravel(x, "K"), np.ravel(x, "K"))
    w = np.arange(24.0) + 1
    g = chainrule.grad(lambda x: cnp.sum(cnp.ravel(x, "K") * w))(strided)
    place = {v: j for j, v in enumerate(np.ravel(strided, "K"))}        # the values are distinct
    np.testing.assert_array_equal(g, np.vectorize(lambda v: w[place[v]])(strided))
    assert cnp.triu(np.ones((3, 3), bool)).dtype == np.bool_
    assert cnp.tril(np.ones((2, 2), np.int8)).dtype == np.int8
    ints = np.ones((2, 2), int)
    assert cnp.linalg.matrix_power(ints, 0).dtype == np.linalg.matrix_power(ints, 0).dtype


def test_diff_vecdot_broadcast_arrays_and_numpy_2_names():
    x = np.random.default_rng(5).standard_normal((3, 4))
    for kwargs in ({}, {"n": 2}, {"axis": 0}, {"prepend": 1.5}, {"append": np.ones((3, 1))}, {"n": 0}):
        np.testing.assert_array_equal(cnp.diff(x, **kwargs), np.diff(x, **kwargs))          # plain
        f = lambda x, kwargs=kwargs: cnp.sum(cnp.diff(x, **kwargs) ** 3)
        assert chainrule.gradcheck(f, x), kwargs                                             # traced
        np.testing.assert_allclose(chainrule.numpy.asarray(f(chainrule.tensor(x))),
                                   np.sum(np.diff(x, **kwargs) ** 3), rtol=1e-13)
    s = chainrule.grad(lambda s: cnp.sum(cnp.diff(x, prepend=s) * np.arange(1.0, 5.0)))(0.5)
    assert s == -3.0                                     # s enters each row's first difference, weight 1
    y = np.arange(4.0)
    np.testing.assert_allclose(cnp.vecdot(x, y), np.vecdot(x, y))
    assert chainrule.gradcheck(lambda a, b: cnp.sum(cnp.vecdot(a, b) ** 2), x, y)
    a, b = cnp.broadcast_arrays(np.ones((3, 1)), np.arange(4.0))
    assert a.shape == b.shape == (3, 4)
    assert chainrule.gradcheck(lambda v: cnp.sum(cnp.broadcast_arrays(v[:, None], y)[0] ** 2), np.ones(3))
    for new, old in [("concat", "concatenate"), ("permute_dims", "transpose"), ("pow", "power"),
                     ("acos", "arccos"), ("asin", "arcsin"), ("atan", "arctan"), ("atan2", "arctan2"),
                     ("acosh", "arccosh"), ("asinh", "arcsinh"), ("atanh", "arctanh")]:
        assert getattr(cnp, new) is getattr(cnp, old), new
    np.testing.assert_array_equal(cnp.matrix_transpose(x), x.T)


def test_late_fixes_vecdot_axes_diff_n0_pad_jvp_ravel_k_of_broadcasts():
    x1, x2 = np.arange(9.0).reshape(3, 3), np.array([1.0, 10.0, 100.0])
    np.testing.assert_allclose(chainrule.jvp(lambda a: cnp.vecdot(a, x2, axis=0), (x1,), (x1,))[0],
                               np.vecdot(x1, x2, axis=0))            # each array's own axis
    assert chainrule.gradcheck(lambda a, b: cnp.sum(cnp.vecdot(a, b, axis=0) ** 2), x1[:, :2] + 1, x2)
    np.testing.assert_array_equal(cnp.vecdot(chainrule.tensor(x1), x2), np.vecdot(x1, x2))   # no recursion
    assert chainrule.jvp(lambda p: cnp.diff(x1, 0, prepend=p), (1.0,), (1.0,))[0].shape == (3, 3)
    padded = chainrule.jvp(lambda c: cnp.pad(x2, 1, constant_values=c), (np.float64(2.0),), (1.0,))
    np.testing.assert_array_equal(padded[1], [1, 0, 0, 0, 1])
    for x in (np.broadcast_to(np.arange(3.0), (2, 3)), np.broadcast_to(np.arange(4.0)[:, None], (4, 3)),
              np.arange(120.0).reshape(2, 3, 4, 5).transpose(3, 1, 0, 2)[::-1, :, ::2]):
        np.testing.assert_array_equal(cnp.ravel(x, "K"), np.ravel(x, "K"))
    f32 = np.float32
    got = chainrule.jvp(lambda s: cnp.arange(s, 3.0, 0.1, dtype=f32), (f32(0.5),), (f32(1),))
    np.testing.assert_array_equal(got[0], np.arange(f32(0.5), 3.0, 0.1, dtype=f32))       # NumPy's values
    np.testing.assert_array_equal(got[1], np.ones(len(got[0]), np.float32))
