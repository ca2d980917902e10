"""The engine as a machine: deep and wide graphs, odd shapes and layouts, memory, determinism
and its errors."""

from __future__ import annotations

import gc
import time
import weakref

import numpy as np
import pytest
from conftest import numerical_jacobian

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.extend import defjvp, defvjp, defvjp_joint, primitive

DEPTH = 100_000
FACTOR = 1.0 + 1e-7


def long_chain(x):
    for _ in range(DEPTH):
        x = x * FACTOR
    return x


@pytest.fixture
def gc_disabled():
    """Reference counting alone must free graphs: no cycle may need the collector."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# ---------------------------------------------------------------------------- deep and wide

def test_a_chain_of_100000_operations_differentiates_in_reverse_mode_without_recursion():
    start = time.perf_counter()
    g = cr.grad(lambda x: cnp.sum(long_chain(x)))(np.array([1.0, 2.0]))
    assert time.perf_counter() - start < 10.0
    np.testing.assert_allclose(g, [FACTOR ** DEPTH] * 2, rtol=1e-12)


def test_a_chain_of_100000_operations_differentiates_in_forward_mode():
    start = time.perf_counter()
    _, tangent = cr.jvp(long_chain, (np.array(1.0),), (np.array(1.0),))
    assert time.perf_counter() - start < 10.0
    np.testing.assert_allclose(tangent, FACTOR ** DEPTH, rtol=1e-12)


def test_a_chain_of_100000_operations_backpropagates_and_is_freed_in_the_object_api():
    w = cr.tensor(np.array([1.0]), requires_grad=True)
    start = time.perf_counter()
    loss = long_chain(w).sum()
    loss.backward()
    del loss                                 # freeing the long graph must not recurse either
    assert time.perf_counter() - start < 10.0
    np.testing.assert_allclose(w.grad, [FACTOR ** DEPTH], rtol=1e-12)


def test_one_value_used_by_1000_operations_receives_every_contribution():
    x = np.array([0.5, -1.0])

    def f(x):
        total = 0.0
        for k in range(1000):
            total = total + x * float(k)
        return cnp.sum(total * x)             # Σ_k k·x² = 499500·x²

    np.testing.assert_allclose(cr.grad(f)(x), 2 * 499500 * x, rtol=1e-12)
    _, tangent = cr.jvp(f, (x,), (np.array([1.0, 0.0]),))
    np.testing.assert_allclose(tangent, 2 * 499500 * x[0], rtol=1e-12)


def test_a_leaf_used_by_1000_operations_in_the_object_api():
    w = cr.tensor(np.array([2.0]), requires_grad=True)
    cnp.sum(sum(cnp.sin(w * float(k)) for k in range(1000))).backward()
    k = np.arange(1000.0)
    np.testing.assert_allclose(w.grad, [np.sum(k * np.cos(2.0 * k))], rtol=1e-10)


# ---------------------------------------------------------------------------- shapes and layouts

@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0)])
def test_zero_size_arrays_have_zero_size_derivatives_of_the_right_shape(shape):
    x = np.ones(shape)
    assert cr.grad(lambda x: cnp.sum(cnp.exp(x)))(x).shape == shape
    for mode in ("rev", "fwd"):
        assert cr.jacobian(cnp.tanh, mode=mode)(x).shape == shape + shape
    assert cr.gradcheck(lambda x: cnp.tanh(x) * x, x, order=2)
    t = cr.tensor(x, requires_grad=True)
    (t * t).sum().backward()
    assert t.grad.shape == shape


@pytest.mark.parametrize("scalar", [2.0, np.float64(2.0), np.array(2.0)])
def test_zero_dimensional_inputs_give_zero_dimensional_derivatives(scalar):
    g = cr.grad(lambda x: x * cnp.exp(x))(scalar)
    assert np.shape(g) == ()
    np.testing.assert_allclose(g, 3.0 * np.exp(2.0), rtol=1e-15)
    for mode in ("rev", "fwd"):
        assert np.shape(cr.jacobian(cnp.sin, mode=mode)(scalar)) == ()
        assert cr.jacobian(lambda x: x * np.arange(3.0), mode=mode)(scalar).shape == (3,)
    assert cr.gradcheck(lambda x: x * cnp.exp(x), scalar, order=2)
    t = cr.tensor(scalar, requires_grad=True)
    (t * t).backward()
    assert t.grad.shape == () and t.grad == 4.0


def non_contiguous_inputs():
    base = np.arange(1.0, 25.0).reshape(4, 6) / 10.0
    return {"transposed": base.T, "strided": base[::2, 1::2], "reversed": base[:, ::-1],
            "broadcast-view": np.broadcast_to(base[0], (3, 6))}


@pytest.mark.parametrize("kind", list(non_contiguous_inputs()))
def test_non_contiguous_inputs_give_the_same_derivatives_as_contiguous_copies(kind):
    x = non_contiguous_inputs()[kind]
    assert not x.flags.c_contiguous or x.strides[0] == 0
    c = np.ascontiguousarray(x)
    f = lambda x: cnp.sum(cnp.tanh(x @ x.T)) + cnp.sum(cnp.exp(x) * x)  # noqa: E731
    np.testing.assert_array_equal(cr.grad(f)(x), cr.grad(f)(c))
    for mode in ("rev", "fwd"):
        np.testing.assert_array_equal(cr.jacobian(cnp.sin, mode=mode)(x), cr.jacobian(cnp.sin, mode=mode)(c))
    np.testing.assert_allclose(cr.jacobian(cnp.sin)(x), numerical_jacobian(cnp.sin, c), rtol=1e-7,
                               atol=1e-10)
    _, tangent = cr.jvp(cnp.exp, (x,), (x,))
    np.testing.assert_array_equal(tangent, np.exp(c) * c)
    t = cr.tensor(x, requires_grad=True)
    f(t).backward()
    np.testing.assert_array_equal(t.grad, cr.grad(f)(c))


# ---------------------------------------------------------------------------- memory

def test_the_object_apis_graph_is_freed_by_reference_counting(gc_disabled):
    w = cr.tensor(np.ones(3), requires_grad=True)
    h = cnp.exp(w)
    out = h * h
    refs = [weakref.ref(h), weakref.ref(h._value), weakref.ref(out), weakref.ref(out._value)]
    del h
    out.backward(grad=np.ones(3), retain_graph=True)
    assert refs[1]() is not None           # retained: the graph still holds h's value
    del out
    assert [r() for r in refs] == [None] * 4
    assert w.grad is not None


def test_backward_without_retain_graph_frees_the_saved_arrays_at_once(gc_disabled):
    w = cr.tensor(np.ones(3), requires_grad=True)
    h = cnp.exp(w)
    loss = cnp.sum(h * h)                  # multiply saved h; exp saved its output h
    value_ref = weakref.ref(h._value)
    del h
    assert value_ref() is not None         # the graph keeps it for the backward pass
    loss.backward()
    assert value_ref() is None             # ... and lets go of it there, while loss lives
    np.testing.assert_allclose(w.grad, 2 * np.exp(2.0) * np.ones(3), rtol=1e-15)


@pytest.mark.parametrize("transform", ["grad", "vjp", "jvp", "jacrev", "jacfwd", "hessian"])
def test_the_functional_transforms_leave_no_graph_behind(transform, gc_disabled):
    refs = []

    def f(x):
        h = cnp.exp(x)
        refs.extend([weakref.ref(h), weakref.ref(h._value)])
        out = h * cnp.sin(h)
        refs.append(weakref.ref(out))
        return out

    x = np.array([0.1, 0.2])
    loss = lambda x: cnp.sum(f(x))  # noqa: E731
    if transform == "grad":
        result = cr.grad(loss)(x)
    elif transform == "vjp":
        value, pullback = cr.vjp(f, x)
        result = pullback(np.ones(2))
        del pullback
    elif transform == "jvp":
        result = cr.jvp(f, (x,), (np.ones(2),))
    elif transform == "jacrev":
        result = cr.jacobian(f, mode="rev")(x)
    elif transform == "jacfwd":
        result = cr.jacobian(f, mode="fwd")(x)
    else:
        result = cr.hessian(loss)(x)
    assert result is not None and refs
    assert [r() for r in refs] == [None] * len(refs)
    assert gc.collect() == 0


# ---------------------------------------------------------------------------- determinism

def mlp_loss(w1, w2, x, y):
    h = cnp.tanh(x @ w1)
    return cnp.mean((h @ w2 - y) ** 2) + 1e-3 * cnp.sum(w1 * w1)


def test_the_same_inputs_give_bit_identical_derivatives_run_after_run():
    rng = np.random.default_rng(0)
    w1, w2 = rng.standard_normal((4, 8)), rng.standard_normal((8, 2))
    x, y = rng.standard_normal((16, 4)), rng.standard_normal((16, 2))

    def derivatives():
        g = cr.grad(mlp_loss, argnums=(0, 1))(w1, w2, x, y)
        h = cr.hessian(mlp_loss, argnums=1)(w1, w2, x, y)
        jr = cr.jacobian(lambda w: cnp.tanh(x @ w), mode="rev")(w1)
        jf = cr.jacobian(lambda w: cnp.tanh(x @ w), mode="fwd")(w1)
        t1, t2 = cr.tensor(w1, requires_grad=True), cr.tensor(w2, requires_grad=True)
        mlp_loss(t1, t2, x, y).backward()
        return [*g, h, jr, jf, t1.grad, t2.grad]

    first = derivatives()
    for _ in range(3):
        for a, b in zip(first, derivatives(), strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- errors

@pytest.mark.parametrize("op,name", [(cnp.add, "add"), (cnp.multiply, "multiply"),
                                     (cnp.arctan2, "arctan2"), (cnp.maximum, "maximum")])
def test_a_broadcasting_error_names_the_operation_and_both_shapes(op, name):
    message = rf"{name}: .*broadcast.* \(2, 3\) and \(4,\)"
    a, b = np.ones((2, 3)), np.ones(4)
    with pytest.raises(ValueError, match=message):
        cr.grad(lambda a: cnp.sum(op(a, b)))(a)
    with pytest.raises(ValueError, match=message):
        cr.jvp(lambda a: op(a, b), (a,), (a,))
    with pytest.raises(ValueError, match=message):
        op(cr.tensor(a, requires_grad=True), b)
    with pytest.raises(ValueError):
        op(a, b)                             # plain arrays: NumPy's own error


def test_a_broadcasting_error_from_an_operator_names_the_operation():
    t = cr.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"subtract: .*\(2, 3\) and \(2,\)"):
        t - np.ones(2)
    with pytest.raises(ValueError, match=r"where: .*\(2,\) and \(2, 3\)"):
        cnp.where(np.array([True, False]), t, 0.0)


def test_plain_arrays_go_straight_to_numpy():
    x = np.array([0.5, 1.0])
    for fn, ref in [(cnp.exp, np.exp), (cnp.tanh, np.tanh)]:
        out = fn(x)
        assert type(out) is np.ndarray
        np.testing.assert_array_equal(out, ref(x))
    assert type(cnp.add(x, 1.0)) is np.ndarray


# ---- cotangents a rule may overwrite (chainrule._core.owns)

def _recorder(name, fresh, seen, n_args=1):
    """A primitive doubling its inputs' sum, whose VJP rule records ``owns(g)``."""
    from chainrule._core import owns

    def impl(*xs):
        return 2.0 * sum(xs)

    p = primitive(impl, name=name)
    p.prim.fresh_vjp = fresh

    def rule(g, ans, *xs):
        seen.append(owns(g))
        return g * 2.0                               # always a new array
    defvjp(p, *([rule] * n_args))
    return p


def test_a_rule_owns_its_cotangent_only_when_nobody_else_can_hold_it():
    seen = []
    fresh = _recorder("fresh", True, seen)           # its rule returns new arrays
    plain = _recorder("plain", False, seen)          # declares nothing
    probe = _recorder("probe", False, seen)
    x = cr.tensor(np.ones(3), requires_grad=True)
    seed = np.ones(3)
    probe(x).backward(seed)                          # the user's seed: never
    assert seen == [False]
    seen.clear()
    fresh(probe(x)).backward(seed)                   # probe's g came from fresh's rule: yes
    assert seen == [False, True]
    seen.clear()
    plain(probe(x)).backward(seed)                   # from a rule that declares nothing: no
    assert seen == [False, False]
    seen.clear()
    h = probe(x)
    (plain(h) + plain(h)).backward(seed)             # two contributions summed: a new array
    assert seen == [False, False, True]
    np.testing.assert_array_equal(seed, np.ones(3))  # and the seed was never touched


def test_a_cotangent_shared_by_two_rules_of_one_node_is_not_owned():
    seen = []
    two = _recorder("two_args", False, seen, n_args=2)
    x = cr.tensor(np.ones(3), requires_grad=True)
    y = cr.tensor(np.ones(3), requires_grad=True)
    fresh_outer = _recorder("fresh_outer2", True, seen)
    fresh_outer(two(x, y)).backward(np.ones(3))
    assert seen == [False, False, False]             # per-argument rules see the same g


def test_relu_masks_a_cotangent_in_place_only_when_it_owns_it():
    from chainrule.nn import functional as F
    x = cr.tensor(np.array([-1.0, 2.0, -3.0, 4.0]), requires_grad=True)
    w = cr.tensor(np.array([5.0, -6.0, 7.0, 8.0]), requires_grad=True)
    seed = np.array([1.0, 2.0, 3.0, 4.0])
    (F.relu(x) + F.relu(w)).backward(seed)           # add hands the same seed to both relus
    np.testing.assert_array_equal(seed, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(x.grad, [0.0, 2.0, 0.0, 4.0])
    np.testing.assert_array_equal(w.grad, [1.0, 0.0, 3.0, 4.0])
    W = cr.tensor(np.eye(4), requires_grad=True)
    h = F.relu(x)                                    # used twice: the linear cotangents are summed
    out = F.linear(h, W) + F.linear(h, 2.0 * W)
    out.backward(seed)
    np.testing.assert_array_equal(seed, [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(x.grad, [0.0, 2.0 + 3.0 * 2.0, 0.0, 4.0 + 3.0 * 4.0])


def test_ownership_is_released_when_a_rule_raises():
    from chainrule import _core

    def boom(g, ans, x):
        raise ArithmeticError("boom")

    p = primitive(lambda x: x * 1.0, name="boom")
    defvjp(p, boom)
    fresh = _recorder("fresh_boom", True, [])
    x = cr.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ArithmeticError):
        fresh(p(x)).backward(np.ones(2))
    assert _core._owned[0] is None


def test_a_joint_vjp_rule_serves_every_argument_asked_for_and_matches_finite_differences():
    # f(a, b) = sin(a) * b: the cosine is computed once for both cotangents
    calls = []

    def rule(g, ans, needed, a, b):
        calls.append(tuple(needed))
        s = cnp.sin(a)
        return [g * cnp.cos(a) * b if i == 0 else g * s for i in needed]

    f = primitive(lambda a, b: np.sin(a) * b, name="sin_times")
    defvjp_joint(f, rule)
    defjvp(f, lambda t, ans, a, b: t * cnp.cos(a) * b, lambda t, ans, a, b: t * cnp.sin(a))
    a, b = np.array([0.3, -1.2, 2.0]), np.array([1.5, 0.5, -2.0])
    cr.gradcheck(lambda a, b: f(a, b) ** 2, a, b, argnums=(0, 1), order=2)
    assert (0, 1) in calls
    calls.clear()
    cr.grad(lambda b: cnp.sum(f(a, b)))(b)           # only b is traced: only b is asked for
    assert calls == [(1,)]


def test_the_gradient_through_stacking_and_splitting_thousands_of_pieces():
    # each piece's cotangent is found once per node (bench figures in the session note: the
    # backward of 8000 pieces went from 2 and 4 s to 0.1 s)
    k = 2000
    x = cr.tensor(np.random.default_rng(0).random(k), requires_grad=True)
    y = cnp.sum(cnp.stack([x[i] * 2.0 for i in range(k)]) ** 2) + sum(
        cnp.sum(p) * float(i) for i, p in enumerate(cnp.split(x, k)))
    y.backward()
    np.testing.assert_allclose(x.grad, 8 * x.numpy() + np.arange(k), rtol=1e-12)


def test_grad_mode_blocks_that_end_out_of_order_each_restore_their_own_mode():
    # two generators interleave their blocks: no_grad ends before the enable_grad it enclosed
    def no_grad_block():
        with cr.no_grad():
            yield
            yield

    def enable_grad_block(seen):
        with cr.enable_grad():
            yield
            seen.append(cr.is_grad_enabled())
            yield

    seen = []
    a, b = no_grad_block(), enable_grad_block(seen)
    try:
        next(a)                          # grad off
        next(b)                          # grad on, remembering off
        next(a, None)                    # a's block ends: back to a's own previous mode, on
        assert cr.is_grad_enabled()
        next(b, None)                    # inside b's block: on
        next(b, None)                    # b's block ends: back to off, the mode it found
        assert seen == [True] and not cr.is_grad_enabled()
    finally:
        from chainrule._core import _grad_mode
        _grad_mode.enabled = True        # what the other tests expect


def test_a_no_grad_object_shared_by_two_threads_restores_each_threads_own_mode():
    import threading
    shared, seen = cr.no_grad(), {}
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with shared:
            a_in.set()
            b_in.wait()
        seen["first, after"] = cr.is_grad_enabled()
        a_out.set()

    def second():
        a_in.wait()
        with cr.no_grad():
            with shared:
                b_in.set()
                a_out.wait()
            seen["second, inside its own no_grad"] = cr.is_grad_enabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"first, after": True, "second, inside its own no_grad": False}


def test_a_users_rule_that_returns_the_wrong_shape_is_named_in_both_modes():
    # a forgotten broadcast: the cotangent of sum(x) is g for every entry, not g itself
    total = primitive(lambda x: np.sum(x), name="total")
    defvjp(total, lambda g, ans, x: g)
    defjvp(total, lambda t, ans, x: t)
    x = np.ones(2)
    message = (r"total: its VJP rule for argument 0 returned a cotangent of shape \(\), but the argument "
               r"has shape \(2,\)")
    with pytest.raises(ValueError, match=message):
        cr.grad(total)(x)
    with pytest.raises(ValueError, match=message):
        total(cr.tensor(x, requires_grad=True)).backward()
    with pytest.raises(ValueError, match=r"total: its JVP rule returned a tangent of shape \(2, 2\), but the "
                                         r"output has shape \(\) \(expected \(2,\), after 1 batch axis\)"):
        cr.jacobian(total, mode="fwd")(x)


def test_a_users_rules_of_the_right_shape_pass_the_check_with_batch_axes_and_broadcasting():
    total = primitive(lambda x: np.sum(x, axis=-1), name="total")
    defvjp(total, lambda g, ans, x: cnp.broadcast_to(cnp.expand_dims(g, -1), cnp.shape(g) + x.shape[-1:]))
    defjvp(total, lambda t, ans, x: cnp.sum(t, axis=-1))
    scale = primitive(lambda x, s: x * s, name="scale", broadcasts=True)
    defvjp(scale, lambda g, ans, x, s: g * s, lambda g, ans, x, s: g * x)   # s's broadcast summed back
    defjvp(scale, lambda t, ans, x, s: t * s, lambda t, ans, x, s: x * t)
    f = lambda x: total(scale(x, np.array([1.0, 2.0, 3.0])))
    x = np.arange(6.0).reshape(2, 3)
    expected = np.kron(np.eye(2), [1.0, 2.0, 3.0]).reshape(2, 2, 3)
    np.testing.assert_allclose(cr.jacobian(f)(x), expected)                 # batched cotangents
    np.testing.assert_allclose(cr.jacobian(f, mode="fwd")(x), expected)     # batched tangents
    np.testing.assert_allclose(cr.grad(lambda s: cnp.sum(total(scale(x, s))))(np.ones(3)), x.sum(0))


def test_no_grad_and_enable_grad_decorate_with_or_without_parentheses():
    @cr.no_grad
    def off():
        return cr.is_grad_enabled()

    @cr.no_grad()
    def off_too():
        return cr.is_grad_enabled()

    @cr.enable_grad
    def on():
        return cr.is_grad_enabled()

    assert off() is False and off_too() is False and off.__name__ == "off" and cr.is_grad_enabled()
    with cr.no_grad():
        assert on() is True and not cr.is_grad_enabled()
    with pytest.raises(TypeError, match="no_grad: expected a function to decorate, got int"):
        cr.no_grad(5)
