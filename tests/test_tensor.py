"""The object API: ``chainrule.tensor``, operators and methods of ``Tensor``, ``backward()``
and its rules about graphs, ``no_grad`` and in-place updates."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._core import version_of


def leaf(values, dtype=np.float64):
    return cr.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def grads_of(loss_fn, *arrays):
    """Gradients through ``backward()``, for comparing with ``cr.grad``."""
    leaves = [leaf(a) for a in arrays]
    loss_fn(*leaves).backward()
    return [t.grad for t in leaves]


# ---------------------------------------------------------------------------- construction

def test_tensor_copies_its_data_and_is_a_leaf():
    data = np.array([1.0, 2.0])
    t = cr.tensor(data, requires_grad=True)
    data[0] = 99.0
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
    assert t.is_leaf and t.requires_grad and t.grad is None
    assert not cr.tensor(data).requires_grad


def test_tensor_keeps_the_dtype_it_is_given():
    assert cr.tensor([1.0, 2.0], dtype=np.float32).dtype == np.float32
    assert cr.tensor(np.ones(2, np.float32)).dtype == np.float32


def test_requires_grad_on_an_integer_tensor_raises_a_type_error():
    with pytest.raises(TypeError, match="floating-point.*int64"):
        cr.tensor([1, 2], requires_grad=True)
    t = cr.tensor([1, 2])
    with pytest.raises(TypeError, match="floating-point"):
        t.requires_grad = True


# ---------------------------------------------------------------------------- operators

OPERATORS = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "truediv": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a ** b, np.power),
}


@pytest.mark.parametrize("name", list(OPERATORS))
@pytest.mark.parametrize("left", ["tensor", "ndarray", "float"])
def test_binary_operators_and_their_reflections_record_the_operation(name, left):
    op, ref = OPERATORS[name]
    x = np.array([0.5, 1.5, 2.0])
    other = {"tensor": np.array([1.5, 0.5, 1.0]), "ndarray": np.array([1.5, 0.5, 1.0]), "float": 1.5}[left]
    t = leaf(x)
    out = op(cr.tensor(other) if left == "tensor" else other, t)
    assert isinstance(out, cr.Tensor) and out.requires_grad
    np.testing.assert_array_equal(out.numpy(), ref(other, x))
    cnp.sum(out).backward()
    expected = cr.grad(lambda x: cnp.sum(op(other, x)))(x)
    np.testing.assert_allclose(t.grad, expected, rtol=1e-15)


@pytest.mark.parametrize("name", list(OPERATORS))
def test_binary_operators_with_the_tensor_on_the_left(name):
    op, ref = OPERATORS[name]
    x, y = np.array([0.5, 1.5, 2.0]), np.array([1.5, 0.5, 1.0])
    tx, ty = leaf(x), leaf(y)
    out = op(tx, ty)
    np.testing.assert_array_equal(out.numpy(), ref(x, y))
    cnp.sum(out).backward()
    gx, gy = cr.grad(lambda x, y: cnp.sum(op(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(tx.grad, gx, rtol=1e-15)
    np.testing.assert_allclose(ty.grad, gy, rtol=1e-15)


def test_matmul_operator_with_an_ndarray_on_either_side():
    a = np.arange(6.0).reshape(2, 3)
    w = leaf(np.ones((3, 4)))
    (a @ w).sum().backward()
    np.testing.assert_array_equal(w.grad, np.tile(a.sum(axis=0)[:, None], (1, 4)))
    v = leaf(np.ones(2))
    out = v @ a
    assert isinstance(out, cr.Tensor)
    out.sum().backward()
    np.testing.assert_array_equal(v.grad, a.sum(axis=1))


def test_unary_operators():
    t = leaf([-1.0, 2.0])
    (-t + abs(t) + (+t)).sum().backward()
    np.testing.assert_array_equal(t.grad, [-1.0 - 1.0 + 1.0, -1.0 + 1.0 + 1.0])


def test_comparisons_give_plain_boolean_arrays():
    t = leaf([1.0, 2.0, 3.0])
    mask = t > 1.5
    assert type(mask) is np.ndarray and mask.dtype == bool
    np.testing.assert_array_equal(mask, [False, True, True])
    np.testing.assert_array_equal(t == np.array([1.0, 0.0, 3.0]), [True, False, True])


def test_numpy_ufuncs_on_tensors_dispatch_to_chainrule():
    t = leaf([0.5, 1.0])
    out = np.exp(t) + np.sin(t) * np.maximum(t, 0.7)
    assert isinstance(out, cr.Tensor) and out.requires_grad
    out.sum().backward()
    x = np.array([0.5, 1.0])
    expected = cr.grad(lambda x: cnp.sum(cnp.exp(x) + cnp.sin(x) * cnp.maximum(x, 0.7)))(x)
    np.testing.assert_allclose(t.grad, expected, rtol=1e-15)


# ---------------------------------------------------------------------------- methods

def test_array_like_properties():
    t = leaf(np.ones((2, 3)))
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert t.dtype == np.float64
    assert t.T.shape == (3, 2)


def test_shape_methods_are_differentiable():
    x = np.arange(6.0).reshape(2, 3)
    weights = np.arange(6.0).reshape(3, 2) + 1.0
    t = leaf(x)
    (t.T * weights).sum().backward()
    np.testing.assert_array_equal(t.grad, weights.T)
    t = leaf(x)
    (t.reshape(3, 2) * weights).sum().backward()
    np.testing.assert_array_equal(t.grad, weights.reshape(2, 3))
    t = leaf(x)
    (t.reshape((6,)) * weights.ravel()).sum().backward()
    np.testing.assert_array_equal(t.grad, weights.reshape(2, 3))


def test_reductions_as_methods():
    t = leaf(np.arange(6.0).reshape(2, 3))
    s = t.sum(axis=0)
    np.testing.assert_array_equal(s.numpy(), [3.0, 5.0, 7.0])
    (t.sum(axis=1, keepdims=True) * np.array([[1.0], [2.0]])).sum().backward()
    np.testing.assert_array_equal(t.grad, [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    t = leaf(np.arange(6.0).reshape(2, 3))
    m = t.mean()
    assert m.item() == 2.5
    m.backward()
    np.testing.assert_array_equal(t.grad, np.full((2, 3), 1 / 6))


def test_astype_keeps_the_gradient_in_the_leafs_dtype():
    t = leaf([1.0, 2.0])
    y = t.astype(np.float32)
    assert y.dtype == np.float32
    (y * 3.0).sum().backward()
    assert t.grad.dtype == np.float64
    np.testing.assert_array_equal(t.grad, [3.0, 3.0])


def test_astype_to_integers_gives_a_constant():
    t = leaf([1.5, 2.5])
    rounded = t.astype(np.int64)
    assert type(rounded) is np.ndarray and rounded.dtype == np.int64
    np.testing.assert_array_equal(rounded, [1, 2])


def test_elementwise_methods():
    x = np.array([0.5, 2.0])
    for method, fn in [("exp", cnp.exp), ("log", cnp.log), ("tanh", cnp.tanh), ("sqrt", cnp.sqrt)]:
        t = leaf(x)
        getattr(t, method)().sum().backward()
        np.testing.assert_allclose(t.grad, cr.grad(lambda x: cnp.sum(fn(x)))(x), rtol=1e-15)
    t = leaf([-2.0, 0.5, 2.0])
    t.clip(-1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(t.grad, [0.0, 1.0, 0.0])


def test_float32_tensors_get_float32_gradients():
    t = leaf([0.5, 1.0], dtype=np.float32)
    loss = (cnp.tanh(t) * 2.0 + t ** 2 / 3.0).sum()
    assert loss.dtype == np.float32
    loss.backward()
    assert t.grad.dtype == np.float32


# ---------------------------------------------------------------------------- backward

def test_backward_gives_the_same_gradient_as_grad():
    x, y = np.array([0.3, -1.2, 2.0]), np.array([1.5, 0.5, -0.5])
    loss = lambda x, y: cnp.sum(cnp.tanh(x * y) ** 2) + cnp.sum(x / (1.0 + y * y))  # noqa: E731
    gx, gy = grads_of(loss, x, y)
    ex, ey = cr.grad(loss, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, ex, rtol=1e-15)
    np.testing.assert_allclose(gy, ey, rtol=1e-15)


def test_backward_accumulates_into_grad_across_calls():
    t = leaf([1.0, 2.0])
    (t * t).sum().backward()
    (t * 3.0).sum().backward()
    np.testing.assert_array_equal(t.grad, [2.0 + 3.0, 4.0 + 3.0])
    t.zero_grad()
    assert t.grad is None


def test_backward_with_an_explicit_gradient_for_a_non_scalar_output():
    t = leaf([1.0, 2.0, 3.0])
    y = t * t
    y.backward(grad=np.array([1.0, 0.5, -1.0]))
    np.testing.assert_array_equal(t.grad, [2.0, 2.0, -6.0])


def test_backward_on_a_non_scalar_without_a_gradient_raises_a_clear_error():
    t = leaf([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match=r"scalar output, got shape \(3,\); pass grad="):
        (t * 2.0).backward()


def test_backward_rejects_a_gradient_of_the_wrong_shape():
    t = leaf([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        (t * 2.0).backward(grad=np.ones(2))


def test_backward_on_a_tensor_that_does_not_require_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (cr.tensor([1.0]) * 2.0).sum().backward()


def test_a_second_backward_through_a_freed_graph_raises():
    t = leaf([1.0, 2.0])
    loss = (cnp.exp(t) * t).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward():
    t = leaf([1.0, 2.0])
    loss = (cnp.exp(t) * t).sum()
    loss.backward(retain_graph=True)
    first = t.grad.copy()
    loss.backward()
    np.testing.assert_allclose(t.grad, 2 * first, rtol=1e-15)


def test_backward_through_a_value_used_twice_adds_both_paths():
    t = leaf([2.0])
    h = t * 3.0
    (h * h + h).sum().backward()          # d/dt (9t² + 3t) = 18t + 3
    np.testing.assert_array_equal(t.grad, [39.0])


def test_grad_is_only_given_to_leaves():
    t = leaf([2.0])
    h = t * 3.0
    (h * h).sum().backward()
    assert h.grad is None and not h.is_leaf
    assert t.grad is not None


# ---------------------------------------------------------------------------- detaching

def test_detach_cuts_the_graph():
    t = leaf([2.0, 3.0])
    d = t.detach()
    assert not d.requires_grad
    np.testing.assert_array_equal(d.numpy(), [2.0, 3.0])
    (t * d).sum().backward()               # d is a constant: gradient d, not 2t
    np.testing.assert_array_equal(t.grad, [2.0, 3.0])


def test_numpy_and_asarray_give_plain_arrays_with_the_values():
    t = leaf([2.0, 3.0])
    y = t * 2.0
    for arr in (y.numpy(), np.asarray(y), np.array(y)):
        assert type(arr) is np.ndarray
        np.testing.assert_array_equal(arr, [4.0, 6.0])
    assert np.asarray(y, dtype=np.float32).dtype == np.float32


def test_no_grad_as_a_context_manager_stops_recording_and_restores_the_mode():
    t = leaf([2.0])
    with cr.no_grad():
        assert not cr.is_grad_enabled()
        y = t * 3.0
        with cr.enable_grad():
            z = t * 3.0
    assert cr.is_grad_enabled()
    assert not y.requires_grad
    assert z.requires_grad
    np.testing.assert_array_equal(y.numpy(), [6.0])


def test_no_grad_as_a_decorator():
    @cr.no_grad()
    def step(p):
        """Doc."""
        return p * 2.0

    t = leaf([2.0])
    assert not step(t).requires_grad
    assert cr.is_grad_enabled()
    assert step.__name__ == "step" and step.__doc__ == "Doc."


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(KeyError):
        with cr.no_grad():
            raise KeyError
    assert cr.is_grad_enabled()


# ---------------------------------------------------------------------------- in-place updates

@pytest.mark.parametrize("update", ["add_", "sub_", "mul_"])
def test_an_in_place_update_of_a_saved_tensor_makes_backward_raise_naming_the_op(update):
    t = leaf([1.0, 2.0])
    h = t * 2.0
    loss = (h * h).sum()                   # multiply saved h
    with cr.no_grad():
        getattr(h, update)(1.0)
    with pytest.raises(RuntimeError, match=r"multiply saved .* modified in place"):
        loss.backward()


def test_an_in_place_update_of_a_leaf_under_no_grad_invalidates_recorded_uses():
    w = leaf([1.0, 2.0])
    loss = cnp.sum(cnp.sin(w))             # sin's rule reads w: cos(w)
    with cr.no_grad():
        w.sub_(np.array([0.1, 0.1]))
    with pytest.raises(RuntimeError, match="sin saved"):
        loss.backward()


def test_an_in_place_update_of_an_input_that_no_rule_reads_leaves_backward_exact():
    # exp's rule reads its output, not its input (as in PyTorch, which saves exp's result)
    w = leaf([1.0, 2.0])
    loss = cnp.sum(cnp.exp(w))
    with cr.no_grad():
        w.sub_(np.array([0.1, 0.1]))
    loss.backward()
    np.testing.assert_allclose(w.grad, np.exp([1.0, 2.0]), rtol=1e-15)


def test_an_in_place_update_under_no_grad_after_backward_is_the_optimiser_step():
    w = leaf([1.0, 2.0])
    (w * w).sum().backward()
    with cr.no_grad():
        w.sub_(0.1 * w.grad)
    np.testing.assert_allclose(w.numpy(), [0.8, 1.6], rtol=1e-15)
    assert w.requires_grad and w.is_leaf
    w.zero_grad()
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad, [1.6, 3.2], rtol=1e-15)


def test_an_in_place_update_while_recording_raises():
    w = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="add_: in-place update"):
        w.add_(1.0)


def test_assignment_into_a_leaf_that_requires_grad_raises():
    w = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w[0] = 5.0
    with cr.no_grad():
        w[0] = 5.0
    np.testing.assert_array_equal(w.numpy(), [5.0, 2.0])


def test_assignment_into_a_recorded_value_is_differentiable():
    w = leaf([1.0, 2.0, 3.0])
    h = w * 2.0
    h[1] = 0.0
    h.sum().backward()
    np.testing.assert_array_equal(w.grad, [2.0, 0.0, 2.0])


def test_indexing_and_iteration():
    w = leaf([1.0, 2.0, 3.0])
    parts = list(w)
    assert len(parts) == 3
    (parts[0] * parts[2] + w[1:].sum()).backward()
    np.testing.assert_array_equal(w.grad, [3.0, 1.0, 2.0])


# ---- the object API's surface, from a review against PyTorch and NumPy

def test_augmented_assignment_is_in_place_where_pytorch_is_and_a_rebinding_where_it_records():
    w = leaf([1.0, 2.0])
    (w * w).sum().backward()
    alias = w
    with cr.no_grad():
        w -= 0.1 * w.grad                          # the hand-written optimizer step
    assert w is alias and w.is_leaf
    np.testing.assert_allclose(alias.numpy(), [0.8, 1.6], rtol=1e-15)
    with pytest.raises(RuntimeError, match="__iadd__: in-place update of a leaf tensor that requires grad"):
        w += 1.0
    c = cr.tensor([1.0, 2.0])
    d = c
    d *= 3.0
    np.testing.assert_array_equal(c.numpy(), [3.0, 6.0])
    h = w * 2.0                                     # recorded: rebound, with the right derivative
    h += w
    h.sum().backward()
    np.testing.assert_allclose(w.grad, 3 * np.ones(2) + 2 * np.array([1.0, 2.0]), rtol=1e-15)
    arr = np.zeros(2)
    arr += cr.tensor([1.0, 2.0])                   # ndarray on the left, a constant on the right
    np.testing.assert_array_equal(arr, [1.0, 2.0])


def test_accumulated_gradients_keep_the_leafs_array_type_and_dtype():
    z = leaf(2.0)
    for _ in range(2):
        (z * z).backward()
    assert type(z.grad) is np.ndarray and z.grad.shape == () and z.grad == 8.0
    t = cr.tensor([1.0, 2.0], dtype=np.float32, requires_grad=True)
    for _ in range(2):
        (t * np.ones(2)).sum().backward()
    assert t.grad.dtype == np.float32


def test_a_recorded_scalar_is_a_0d_array_that_formats_views_and_contains_like_numpy():
    t = leaf([1.0, 2.0])
    s = t.sum()
    assert type(s.data) is np.ndarray and s.view(1).shape == (1,)
    assert f"{s:.4f}" == "3.0000"
    assert 3.0 in cr.tensor([[1.0, 2.0], [3.0, 4.0]]) and 1.0 in cr.tensor(1.0)


def test_numpy_ufuncs_chainrule_does_not_differentiate_run_on_constants_and_are_refused_on_recorded_values():
    c = cr.tensor([1.0, -2.0])
    np.testing.assert_array_equal(np.copysign(c, -1.0), [-1.0, -2.0])
    assert np.add.reduce(c) == -1.0 and np.multiply.outer(c, c).shape == (2, 2)
    out = cr.tensor(np.zeros(2))
    before = version_of(out)
    assert np.exp(c, out=(out,)) is out and version_of(out) == before + 1
    np.testing.assert_allclose(out.numpy(), np.exp([1.0, -2.0]))
    with pytest.raises(TypeError, match="numpy.copysign is not differentiable in chainrule"):
        np.copysign(leaf([1.0]), -1.0)
    with pytest.raises(TypeError, match="numpy.add.reduce is not differentiable"):
        np.add.reduce(leaf([1.0, 2.0]))


def test_a_leaf_reached_only_through_sign_gets_a_zero_gradient():
    s = leaf([1.0, -2.0])
    cnp.sign(s).sum().backward()
    np.testing.assert_array_equal(s.grad, [0.0, 0.0])


def test_bitwise_operators_of_integer_and_boolean_tensors_give_plain_results():
    b = cr.tensor([True, False])
    np.testing.assert_array_equal(~b, [False, True])
    np.testing.assert_array_equal(b & b, [True, False])
    np.testing.assert_array_equal(b ^ b, [False, False])
    np.testing.assert_array_equal(cr.tensor([1, 2]) << 1, [2, 4])


def test_reduction_keywords_numpy_has_and_chainrule_does_not_differentiate():
    a = np.arange(6.0).reshape(2, 3)
    m = a > 1
    assert cnp.sum(np.ones(3), initial=1.0) == 4.0               # plain arrays: NumPy's answer
    assert cnp.std(a, where=m) == np.std(a, where=m) and cnp.max(np.ones(3), initial=5.0) == 5.0
    t = leaf(a)
    with pytest.raises(TypeError, match="max: dim= is not supported on tensors; the names are NumPy's"):
        t.max(dim=0)
    with pytest.raises(TypeError, match="sum: where= is not supported on tensors"):
        cnp.sum(t, where=m)
    with pytest.raises(TypeError, match="sum: dim= is not supported on tensors; the names are NumPy's"):
        t.sum(dim=1)
    with pytest.raises(TypeError, match="argmax: dim= is not supported on tensors; the names are NumPy's"):
        t.argmax(dim=1)
    with pytest.raises(TypeError, match="squeeze: dim= is not supported on tensors"):
        t.squeeze(dim=0)
    with pytest.raises(ValueError, match="mT: matrix transpose with ndim < 2 is undefined"):
        _ = cr.tensor([1.0, 2.0]).mT
    with pytest.raises(TypeError, match="view: expects a shape.*use astype"):
        cr.tensor([1.0, 2.0]).view(np.int64)


def test_common_mistakes_get_errors_that_say_what_to_do():
    from chainrule import metrics, nn
    with pytest.raises(TypeError, match="activation=ReLU is a Module class; pass an instance, ReLU\\(\\)"):
        nn.MLP([2, 3, 1], activation=nn.ReLU)
    with pytest.raises(ValueError, match="one sample with 200 classes.*from_logits=True"):
        nn.losses.cross_entropy(leaf(np.linspace(0, 1, 200)), np.arange(200) % 2)
    with pytest.raises(ValueError, match="y_pred of shape \\(3, 1\\) is one score or probability per sample"):
        metrics.accuracy(np.array([0, 1, 1]), np.array([[0.2], [0.7], [0.9]]))
    with pytest.raises(TypeError, match="for a pair \\(value, aux\\), use grad\\(f, has_aux=True\\)"):
        cr.grad(lambda x: (cnp.sum(x), 1.0))(np.ones(2))
    with pytest.raises(TypeError, match="returns a bool value, which has no derivative"):
        cr.grad(lambda x: cnp.sum(x) > 0)(np.ones(2))
    with pytest.raises(TypeError, match="out=...\\): writing a recorded value into an array"):
        acc = np.zeros(2)
        acc += leaf([1.0, 2.0])
    t = leaf([1.0, 2.0])
    with pytest.raises(TypeError, match="data: a tensor that requires grad holds floating-point values"):
        t.data = np.array([1, 2])
    t.data = [3.0, 4.0]                               # a list becomes an array
    assert type(t.data) is np.ndarray


def test_scipy_ufuncs_dispatch_to_chainrule_special_or_are_refused_by_their_own_name():
    ss = pytest.importorskip("scipy.special")
    if not isinstance(ss.expit, np.ufunc):   # SCIPY_ARRAY_API=1 (conftest) wraps scipy's ufuncs
        ss = ss._ufuncs                      # in functions; users without it call the ufuncs
    x = np.array([0.5, -1.0])
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(ss.expit(v)))(x), ss.expit(x) * (1 - ss.expit(x)))
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(ss.xlogy(v, 2.0)))(x), np.log(2.0) * np.ones(2))
    with pytest.raises(TypeError, match=r"the ufunc erf \(not NumPy's\) is not differentiable in chainrule; "
                                        r"on values being differentiated use .*chainrule\.special"):
        cr.grad(lambda v: cnp.sum(ss.erf(v)))(x)
    np.testing.assert_array_equal(ss.erf(cr.tensor(x)), ss.erf(x))      # a constant: scipy's answer


def test_pytorchs_names_for_common_tensor_methods():
    t = cr.tensor(np.arange(6.0).reshape(2, 3)).requires_grad_()
    assert t.requires_grad and t.is_leaf
    assert t.numel() == 6 and t.dim() == 2
    assert t.unsqueeze(0).shape == (1, 2, 3) and t.unsqueeze(-1).shape == (2, 3, 1)
    np.testing.assert_array_equal(t.permute(1, 0), np.arange(6.0).reshape(2, 3).T)
    assert t.permute((1, 0)).shape == (3, 2)
    (t.permute(1, 0) * np.arange(6.0).reshape(3, 2)).backward(gradient=np.ones((3, 2)))
    np.testing.assert_array_equal(t.grad, np.arange(6.0).reshape(3, 2).T)
    with pytest.raises(TypeError, match="give the output's cotangent once"):
        (t * 1).backward(np.ones((2, 3)), gradient=np.ones((2, 3)))
    assert cr.tensor(np.ones(2)).requires_grad_(False).requires_grad is False


def test_scipy_ufuncs_named_as_numpys_are_differentiated_as_numpys():
    ss = pytest.importorskip("scipy.special")
    if not isinstance(ss.expm1, np.ufunc):
        ss = ss._ufuncs
    x = np.array([0.5, 1.5])
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(ss.expm1(v)))(x), np.exp(x))
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(ss.log1p(v)))(x), 1 / (1 + x))


def test_where_numpy_and_pytorch_read_a_call_differently_the_tensor_refuses_to_guess():
    t = leaf(np.arange(6.0).reshape(2, 3))
    for axes in ((0, 1), (-2, -1), (0, -1)):
        with pytest.raises(ValueError, match=r"transpose\(.*\) of a 2-D tensor changes nothing as NumPy "
                                             r"reads it .* swaps the axes as PyTorch reads it; write t.T"):
            t.transpose(*axes)
    with pytest.raises(ValueError, match=r"transpose\(0, 1\) of a 2-D tensor"):
        t.transpose(np.int64(0), np.int64(1))
    with pytest.raises(ValueError, match="axis 2 is out of bounds"):      # NumPy's own error
        t.transpose(2, 3)
    assert t.transpose(1, 0).shape == t.transpose().shape == (3, 2)       # both libraries agree
    assert t.transpose((0, 1)).shape == (2, 3)                            # NumPy's tuple: unambiguous
    assert leaf(np.ones((2, 3, 4))).transpose(2, 0, 1).shape == (4, 2, 3)
    with pytest.raises(TypeError, match=r"flatten: order must be .*got 1; for PyTorch's flatten\(start"):
        t.flatten(1)
    assert t.flatten().shape == (6,)


def test_numpy_views_of_a_tensor_the_backward_pass_reads_are_read_only():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * x
    for t in (x, y):
        for v in (t.numpy(), np.asarray(t)):
            assert np.shares_memory(v, t.data) and not v.flags.writeable
            with pytest.raises(ValueError, match="read-only"):
                v[0] = 5.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])        # nothing changed behind its back
    w = np.array(x, copy=True)
    w[0] = 5.0                                                # a copy is the caller's
    c = cr.tensor(np.array([1.0, 2.0]))                       # a constant acts as its array
    c.numpy()[0] = 3.0
    assert c.numpy()[0] == 3.0
    with cr.no_grad():
        x[0] = 9.0                                            # through the tensor: counted
    assert x.numpy()[0] == 9.0


def test_pytorchs_method_names_that_numpy_lacks():
    x0 = np.array([[1.0, -2.0, 3.0], [0.5, -0.25, -1.0]])
    methods = {
        "abs": lambda t: t.abs(), "pow": lambda t: t.pow(3), "sigmoid": lambda t: t.sigmoid(),
        "relu": lambda t: t.relu(), "softmax": lambda t: t.softmax(axis=0),
        "log_softmax": lambda t: t.log_softmax(), "norm": lambda t: t.norm(),
        "clone": lambda t: t.clone(), "t": lambda t: t.t(), "sin": lambda t: t.sin(),
        "cos": lambda t: t.cos(), "expand": lambda t: t[:, :1].expand(2, 2, -1),
    }
    numpy_values = {
        "abs": np.abs(x0), "pow": x0 ** 3, "sigmoid": 1 / (1 + np.exp(-x0)), "relu": np.maximum(x0, 0),
        "softmax": np.exp(x0) / np.exp(x0).sum(0),
        "log_softmax": x0 - np.log(np.exp(x0).sum(-1, keepdims=True)),
        "norm": np.linalg.norm(x0), "clone": x0, "t": x0.T, "sin": np.sin(x0), "cos": np.cos(x0),
        "expand": np.broadcast_to(x0[:, :1], (2, 2, 1)),
    }
    for name, f in methods.items():
        out = f(cr.tensor(x0, requires_grad=True))
        np.testing.assert_allclose(out.numpy(), numpy_values[name], rtol=1e-13, err_msg=name)
        def squares(v, f=f):                  # finite differences call it on plain arrays
            return cnp.sum(f(v if isinstance(v, cr.Tensor) else cr.tensor(v)) ** 2)
        assert cr.gradcheck(squares, x0, modes=("fwd", "rev"), order=2), name
    t = cr.tensor(x0)
    m = cr.tensor(np.array([[1.0, 2.0], [3.0, -4.0]]))              # PyTorch's norm: entries as a vector
    assert m.norm(1).item() == 10.0 and m.norm(float("inf")).item() == 4.0
    np.testing.assert_allclose(m.norm().item(), np.sqrt(30.0), rtol=1e-15)
    np.testing.assert_allclose(m.norm(2, dim=1).numpy(), [np.sqrt(5.0), 5.0], rtol=1e-15)
    assert m.norm(dim=(0, 1), keepdim=True).shape == (1, 1)
    np.testing.assert_allclose(t.softmax(dim=0).numpy(), t.softmax(axis=0).numpy())
    assert t.float().dtype == np.float32 and t.float().double().dtype == np.float64
    assert t.double() is t and t.to(np.float64) is t and t.to(copy=True) is not t       # as PyTorch's
    assert t.to(np.float32).dtype == np.float32 and t.to("cpu") is t and t.to("cpu:0", np.float64) is t
    assert t.to(device="cpu", dtype=np.float32).dtype == np.float32
    assert t.to("float32").dtype == t.to("f4").dtype == np.float32                 # dtype names
    assert t.to(np.float64, False, True) is not t                                  # copy=True
    as_int = t.to(np.int64)
    assert isinstance(as_int, cr.Tensor) and as_int.dtype == np.int64
    assert m.norm(axis=1, ord=1).shape == (2,) and m.norm(dim=()).item() == m.norm().item()
    empty = cr.tensor(np.zeros((0, 3)), requires_grad=True)
    assert empty.norm().item() == 0.0 and isinstance(m.norm(0), cr.Tensor) and m.norm(0).item() == 4.0
    with pytest.raises(ValueError, match="to: chainrule computes on the CPU .* no device .cuda."):
        t.to("cuda")
    flags = cr.tensor(np.array([True, False]))
    assert flags.clone().dtype == bool and flags.clone() is not flags
    ints = cr.tensor(np.array([1, 2]))
    ints.fill_(2.7)                                                  # cast as NumPy casts
    np.testing.assert_array_equal(ints.numpy(), [2, 2])
    with pytest.raises(ValueError, match=r"fill_: expects a number, got an array of shape \(2,\)"):
        ints.fill_(np.ones(2))
    with pytest.raises(ValueError, match=r"t: expects a tensor with at most 2 dimensions, got shape \(1, 2"):
        cr.tensor(np.ones((1, 2, 3))).t()
    with pytest.raises(ValueError, match="expand: the shape \\(3,\\) has fewer axes"):
        t.expand(3)
    c = cr.tensor(np.zeros(3))
    before = version_of(c)
    assert c.fill_(2.5) is c and version_of(c) == before + 1
    np.testing.assert_array_equal(c.numpy(), [2.5, 2.5, 2.5])
    with pytest.raises(RuntimeError, match="in-place update of a tensor that is recorded"):
        cr.tensor(x0, requires_grad=True).fill_(1.0)


def test_set_grad_enabled_as_a_call_a_block_and_a_decorator():
    x = cr.tensor(np.ones(2), requires_grad=True)
    try:
        cr.set_grad_enabled(False)                    # a call takes effect at once
        assert not cr.is_grad_enabled() and not (x * 2).requires_grad
    finally:
        cr.set_grad_enabled(True)
    assert (x * 2).requires_grad
    with cr.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with cr.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()

    @cr.set_grad_enabled(False)
    def frozen():
        return (x * 2).requires_grad

    assert cr.is_grad_enabled() and frozen() is False and cr.is_grad_enabled()
    with pytest.raises(TypeError, match="set_grad_enabled: mode must be True or False, got 'no'"):
        cr.set_grad_enabled("no")
