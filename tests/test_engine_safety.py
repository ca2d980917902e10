"""The engine never silently drops or corrupts a derivative: each test here is a way users
lost gradients in other libraries (or in ours, before these were fixed)."""

import math
import threading

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.extend import defjvp, defvjp, primitive

x3 = np.array([1.0, 2.0, 3.0])


# ---- values assigned or modified inside a transform

def test_assigning_into_the_input_inside_grad_keeps_the_other_entries_gradient():
    def f(x):
        x[0] = 0.0
        return cnp.sum(x * x)
    np.testing.assert_array_equal(cr.grad(f)(x3), [0.0, 4.0, 6.0])
    np.testing.assert_array_equal(cr.jacobian(f, mode="fwd")(x3), [0.0, 4.0, 6.0])


def test_in_place_update_of_a_traced_input_is_refused_even_under_no_grad():
    def f(x):
        with cr.no_grad():
            x.add_(100.0)
        return cnp.sum(x)
    with pytest.raises(RuntimeError, match="add_: in-place update"):
        cr.grad(f)(x3.copy())


# ---- NumPy and math on traced values

def test_numpy_functions_on_traced_values_run_chainrules_versions():
    a = np.array([2.0, 3.0, 4.0])
    np.testing.assert_allclose(cr.grad(lambda x: np.dot(a, x))(np.ones(3)), a)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.sum(np.concatenate([x, x])))(np.ones(3)), 2)
    np.testing.assert_allclose(cr.grad(lambda x: np.linalg.norm(x))(np.ones(3)), 1 / math.sqrt(3))
    np.testing.assert_allclose(cr.grad(lambda x: np.sum(x * x))(x3), 2 * x3)


def test_converting_a_traced_value_to_a_float_or_an_array_refuses_instead_of_dropping_it():
    with pytest.raises(TypeError, match="float\\(\\) of a value traced"):
        cr.grad(lambda x: math.exp(x))(1.0)
    with pytest.raises(TypeError, match="converting to a NumPy array"):
        cr.grad(lambda x: cnp.sum(np.asarray(x)))(x3)
    with pytest.raises(TypeError, match="not differentiable in chainrule"):
        cr.grad(lambda x: cnp.sum(np.fft.fft(x).real))(x3)


def test_explicit_escapes_item_and_numpy_still_work_inside_a_transform():
    assert cr.grad(lambda x: x * x.item())(2.0) == 2.0


def test_keyword_arguments_of_ufuncs_are_refused_on_traced_values_but_work_on_arrays():
    with pytest.raises(TypeError, match="exp: keyword arguments \\(dtype\\)"):
        cr.grad(lambda x: cnp.sum(cnp.exp(x, dtype=np.float64)))(x3)
    assert cnp.exp(np.ones(2), dtype=np.float32).dtype == np.float32


# ---- in-place changes of arrays a recorded operation saved

def test_in_place_change_of_a_constant_tensor_after_use_makes_backward_raise():
    w, c = cr.tensor([1.0, 2.0], requires_grad=True), cr.tensor([3.0, 4.0])
    y = (w * c).sum()
    c.add_(100.0)
    with pytest.raises(RuntimeError, match="multiply saved for the backward pass was modified"):
        y.backward()


@pytest.mark.parametrize("alias", ["detach", "view"])
def test_in_place_change_through_a_detached_copy_or_a_view_makes_backward_raise(alias):
    t = cr.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = (t * t).sum()
    with cr.no_grad():
        other = t.detach() if alias == "detach" else t[:2]
        other.add_(5.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


VIEWS = {"slice": lambda t: t[:2], "reshape": lambda t: cnp.reshape(t, (2, 2)), "transpose": lambda t: t.T,
         "split": lambda t: cnp.split(t, 2)[0], "array_split": lambda t: cnp.array_split(t, 3)[1],
         "hsplit": lambda t: cnp.hsplit(t, 2)[1]}


@pytest.mark.parametrize("made_under_no_grad", [True, False])
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_in_place_change_through_any_view_makes_backward_raise(view, made_under_no_grad):
    # a view shares its base's version counter however it was made, traced or not
    t = cr.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = (t * t).sum()
    piece = None if made_under_no_grad else VIEWS[view](t)
    with cr.no_grad():
        piece = VIEWS[view](t) if made_under_no_grad else piece
        piece.add_(100.0)
    with pytest.raises(RuntimeError, match="multiply saved for the backward pass was modified in place"):
        y.backward()


@pytest.mark.parametrize("how", ["itself", "detach", "view"])
def test_in_place_change_of_an_output_that_a_rule_reads_makes_backward_raise(how):
    # sqrt's rule reads its output: g / (2 sqrt(x)); a changed output would change the gradient
    x = cr.tensor([1.0, 4.0, 9.0], requires_grad=True)
    y = cnp.sqrt(x)
    with cr.no_grad():
        target = {"itself": y, "detach": y.detach(), "view": y[1:]}[how]
        target.mul_(10.0)
    with pytest.raises(RuntimeError, match="sqrt saved for the backward pass was modified in place "
                                           "afterwards \\(its output, version 0 when recorded, 1 now\\)"):
        y.sum().backward()


def test_an_output_that_no_rule_reads_may_be_changed_in_place_before_backward():
    # as in PyTorch: multiply's rules read its inputs only, so y may change; its input may not
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    with cr.no_grad():
        y.add_(1.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_a_recorded_assignment_rebinds_the_tensor_so_later_in_place_changes_touch_only_the_new_array():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cnp.exp(x)                                # exp's rule reads this output
    y[0] = 5.0                                    # recorded: y is now index_update's result
    with cr.no_grad():
        y.mul_(3.0)                               # the new array, not the one exp saved
    y.sum().backward()                            # (a change under no_grad is not differentiated)
    np.testing.assert_allclose(x.grad, [0.0, np.exp(2.0)])


def test_np_array_with_copy_true_does_not_share_the_tensors_memory():
    t = cr.tensor([1.0, 2.0, 3.0])
    a = np.array(t, copy=True)
    a[0] = 99.0
    assert t.numpy()[0] == 1.0


# ---- traced values that escape their transform

def test_a_traced_value_used_after_its_transform_returned_raises():
    leak = []
    cr.grad(lambda x: (leak.append(x), cnp.sum(x * x))[1])(np.ones(3))
    with pytest.raises(RuntimeError, match="already returned"):
        cnp.sin(leak[0])


# ---- arguments of the transforms

def test_the_same_argument_twice_in_argnums_is_refused():
    with pytest.raises(ValueError, match="names the same argument twice"):
        cr.grad(lambda a, b: cnp.sum(a * b), argnums=(0, 0))(x3, x3)


def test_keyword_arguments_pass_through_the_transforms_undifferentiated():
    f = lambda x, scale=1.0: cnp.sum(scale * x * x)
    np.testing.assert_allclose(cr.grad(f)(x3, scale=2.0), 4 * x3)
    np.testing.assert_allclose(cr.jacobian(f)(x3, scale=3.0), 6 * x3)


def test_complex_arguments_are_refused_with_a_clear_error():
    with pytest.raises(TypeError, match="complex numbers are not supported"):
        cr.grad(lambda a: cnp.sum(a * a))(np.array([1 + 1j]))


def test_grad_of_a_function_returning_a_list_says_so():
    with pytest.raises(TypeError, match="got a list"):
        cr.grad(lambda x: [cnp.sum(x)])(x3)


def test_cotangents_with_different_batch_axes_are_refused():
    _, fn = cr.vjp(lambda a, b: (a * 2, b * 2), np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="batch\\) axes differ"):
        fn((np.ones((1, 3)), np.ones((4, 3))))


def test_jacobian_matrix_of_a_pytree_argument_points_to_jacobian():
    with pytest.raises(TypeError, match="use jacobian for pytrees"):
        cr.jacobian_matrix(lambda d: d["a"] * 2)({"a": x3})


# ---- dtypes

def test_a_float32_input_gets_float32_derivatives_even_with_float64_constants():
    x = np.float32([1.0, 2.0])
    assert cr.grad(lambda v: cnp.sum(2.0 ** v))(x).dtype == np.float32
    assert cr.grad(lambda v: cnp.sum(v * np.array([1.0, 2.0])))(x).dtype == np.float32
    assert cr.jvp(lambda v: 2.0 ** v, (x,), (np.ones(2, np.float32),))[1].dtype == np.float32


def test_mixed_precision_outputs_get_jacobians_in_their_own_dtype_in_both_modes():
    f = lambda a, b: (a * 2, b * 2)
    a, b = np.ones(2, np.float32), np.ones(2)
    for mode in ("rev", "fwd"):
        ja, jb = cr.jacobian(f, argnums=(0, 1), mode=mode)(a, b)
        assert ja[0].dtype == np.float32 and jb[1].dtype == np.float64


def test_power_with_exponent_zero_has_derivative_zero_at_zero():
    assert cr.grad(lambda v: v ** 0)(0.0) == 0.0
    assert cr.grad(lambda v: v ** 0.0)(0.0) == 0.0


# ---- the object API's gradients

def test_grad_is_a_writable_array_of_its_own():
    t = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    t.sum().backward()
    t.grad[0] = 5.0                                   # a broadcast view would refuse this
    seed = np.ones(3)
    u = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (u + 0).backward(seed)
    assert u.grad is not seed
    a, b = cr.tensor([1.0], requires_grad=True), cr.tensor([2.0], requires_grad=True)
    (a + b).sum().backward()
    assert a.grad is not b.grad


def test_zero_fills_with_zeros_even_over_inf_and_nan():
    z = cr.tensor([np.inf, np.nan, 1.0])
    z.zero_()
    np.testing.assert_array_equal(z.numpy(), [0.0, 0.0, 0.0])


def test_in_place_ops_work_on_zero_dimensional_results():
    s = cnp.sum(cr.tensor([1.0, 2.0]))
    s.add_(1.0)
    assert s.item() == 4.0


def test_python_operators_floordiv_mod_divmod_round_work_on_tensors():
    t = cr.tensor([5.0, 7.0])
    np.testing.assert_array_equal(2 // t, [0, 0])
    np.testing.assert_array_equal(t % 2, [1, 1])
    np.testing.assert_array_equal(divmod(t, 2)[0], [2, 3])
    assert round(t[0]) == 5


# ---- grad mode

def test_no_grad_is_per_thread():
    seen = []
    with cr.no_grad():
        worker = threading.Thread(target=lambda: seen.append(cr.is_grad_enabled()))
        worker.start()
        worker.join()
    assert seen == [True]


def test_one_no_grad_instance_can_be_entered_twice():
    ng = cr.no_grad()
    with ng:
        with ng:
            pass
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()


# ---- gradcheck checks what jacobian uses

def _rowsum(x):
    return x.sum(axis=0)


def test_gradcheck_catches_a_rule_that_ignores_the_batch_axes():
    rowsum = primitive(_rowsum, name="rowsum")
    defvjp(rowsum, lambda g, ans, x: cnp.broadcast_to(cnp.expand_dims(g, -2), g.shape[:-1] + x.shape))
    defjvp(rowsum, lambda t, ans, x: cnp.sum(t, axis=0))      # wrong: axis 0 is the batch axis
    with pytest.raises(cr.GradcheckError, match="batched fwd"):
        cr.gradcheck(lambda x: rowsum(x) ** 2, np.random.default_rng(0).random((3, 4)))


def test_gradcheck_takes_pytree_arguments_and_negative_argnums():
    assert cr.gradcheck(lambda d: cnp.sum(d["a"] * d["b"]), {"a": x3, "b": x3 + 1})
    assert cr.gradcheck(lambda a, b: cnp.sum(a * b), np.ones(2, np.float32),
                        np.ones(2, np.float32), argnums=-1)


def test_gradcheck_refuses_argnums_out_of_range_or_named_twice():
    f = lambda a, b: cnp.sum(a * b)
    with pytest.raises(ValueError, match="gradcheck: argnums=2 but the function was called with 2"):
        cr.gradcheck(f, x3, x3, argnums=2)
    with pytest.raises(ValueError, match=r"gradcheck: argnums=\(0, -2\) names the same argument twice"):
        cr.gradcheck(f, x3, x3, argnums=(0, -2))


def test_backward_on_a_value_traced_by_a_transform_says_so():
    w = cr.tensor([1.0, 2.0], requires_grad=True)

    def f(x):
        y = cnp.sum(x * w)
        y.backward()
        return y

    with pytest.raises(RuntimeError, match="backward\\(\\) on a value traced by a transform"):
        cr.grad(f)(np.ones(2))


# ---- round two: what changes may and may not follow a recorded operation

W0 = np.array([[0.1, 0.2], [0.3, 0.4]])


@pytest.mark.parametrize("write", [
    lambda d: np.copyto(d, 0.0), lambda d: np.fill_diagonal(d, 0.0), lambda d: np.put(d, [0], 0.0),
    lambda d: np.putmask(d, np.ones((2, 2), bool), 0.0), lambda d: np.place(d, np.ones((2, 2), bool), [0.0]),
    lambda d: np.put_along_axis(d, np.zeros((2, 1), int), 0.0, axis=1)])
def test_numpy_functions_that_write_into_a_detached_copy_make_backward_raise(write):
    w = cr.tensor(W0, requires_grad=True)
    y = cnp.exp(w)
    write(y.detach())
    with pytest.raises(RuntimeError, match="exp saved for the backward pass was modified in place"):
        y.sum().backward()


def test_a_single_operand_einsum_is_a_new_array_so_writing_into_it_changes_nothing_else():
    w = cr.tensor(W0, requires_grad=True)
    y = cnp.exp(w)
    d = cnp.einsum("ij->ji", y)                   # NumPy's result would be a view of y
    with cr.no_grad():
        d.mul_(0.0)
    y.sum().backward()
    np.testing.assert_allclose(w.grad, np.exp(W0), rtol=1e-15)


def test_assigning_into_a_view_of_a_recorded_value_is_refused_instead_of_lost():
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    h = x * 1.0
    with pytest.raises(RuntimeError, match=r"h\[0, 1\] = v, not h\[0\]\[1\] = v"):
        h[0][1] = 5.0
    h[0, 1] = 5.0                                 # the one-step form is recorded
    np.testing.assert_array_equal(h.numpy()[0], [1.0, 5.0, 1.0])
    with pytest.raises(RuntimeError, match="is a view"):
        cr.grad(lambda a: _chained_assignment(a))(np.ones((2, 3)))


def _chained_assignment(a):
    h = a * 1.0
    h[0][1] = 5.0
    return cnp.sum(h)


def test_one_element_of_a_constant_tensor_is_a_view_that_in_place_methods_write_through():
    t = cr.tensor([1.0, 2.0, 3.0])
    t[0].add_(5.0)                                # as torch: t[0] is a 0-d view
    np.testing.assert_array_equal(t.numpy(), [6.0, 2.0, 3.0])


@pytest.mark.parametrize("case", ["matmul", "linear", "slice of a product", "advanced-index copy",
                                  "input of add"])
def test_changes_that_no_rule_reads_leave_backward_exact_as_in_pytorch(case):
    from chainrule.nn import functional as F
    x = cr.tensor(W0, requires_grad=True)
    if case == "matmul":
        out, changed, want = x @ np.ones((2, 2)), None, 2 * np.ones((2, 2))
    elif case == "linear":
        out, changed, want = F.linear(x, np.ones((3, 2)), np.zeros(3)), None, 3 * np.ones((2, 2))
    elif case == "slice of a product":
        out = x * 2.0
        changed, want = out[:1], 2 * np.ones((2, 2))
    elif case == "advanced-index copy":
        out = cnp.exp(x)
        changed, want = out[[0]], np.exp(W0)
    else:
        c = cr.tensor(np.ones((2, 2)))
        out, changed, want = x + c, c, np.ones((2, 2))
    with cr.no_grad():
        (out if changed is None else changed).mul_(3.0)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, want, rtol=1e-15)


def test_a_write_through_a_slice_into_an_output_that_a_rule_reads_makes_backward_raise():
    x = cr.tensor(W0, requires_grad=True)
    h = cnp.exp(x)
    with cr.no_grad():
        h[:1].mul_(2.0)
    with pytest.raises(RuntimeError, match="exp saved for the backward pass was modified in place"):
        h.sum().backward()


@pytest.mark.parametrize("kw, message", [
    (dict(modes=()), "at least one"), (dict(modes=["fwd", "jvp"]), "'fwd' and/or 'rev'"),
    (dict(order=1.5), "order must be an integer"), (dict(order="2"), "order must be an integer"),
    (dict(eps=0), "eps must be a number > 0")])
def test_gradcheck_refuses_arguments_under_which_it_would_check_nothing(kw, message):
    with pytest.raises(ValueError, match=message):
        cr.gradcheck(cnp.sin, np.ones(2), **kw)


def test_a_value_only_summed_may_change_in_place_after_the_sum():
    # sum's rule reads its argument's shape, not its values (as in PyTorch); mean is a sum too
    for reduce in (cnp.sum, cnp.mean):
        x = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
        b = x * 2
        z = reduce(b)
        with cr.no_grad():
            b.add_(1.0)
        z.backward()
        np.testing.assert_allclose(x.grad, np.full(3, 2.0 / (3 if reduce is cnp.mean else 1)))
    x = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = x * 2
    z = cnp.sum(b * b)                                 # the product's rule reads b's values
    with cr.no_grad():
        b.add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        z.backward()
