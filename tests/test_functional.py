"""The fused primitives of chainrule.nn.functional equal the composites they replace, in
value and in derivatives of both modes to second order."""

import mmap

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import special
from chainrule.nn import functional as F
from chainrule.nn import losses

rng = np.random.default_rng(7)


def composite_linear(x, W, b):
    y = x @ cnp.transpose(W)
    return y if b is None else y + b


# (1, 4): one row against 5 outputs, so the products run transposed (``_product``)
@pytest.mark.parametrize("xshape", [(4,), (1, 4), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_equals_x_times_w_transposed_plus_b_with_its_derivatives(xshape, bias):
    x, W = rng.standard_normal(xshape), rng.standard_normal((5, 4))
    b = rng.standard_normal(5) if bias else None
    np.testing.assert_allclose(F.linear(x, W, b), composite_linear(x, W, b), rtol=1e-12)
    nums = (0, 1, 2) if bias else (0, 1)
    f = lambda *a: cnp.tanh(F.linear(*a, *( () if bias else (None,))))
    args = (x, W, b) if bias else (x, W)
    cr.gradcheck(f, *args, argnums=nums, order=2)
    for k in nums:
        fused = cr.jacobian(f, k)(*args)
        np.testing.assert_allclose(fused, cr.jacobian(f, k, mode="fwd")(*args), atol=1e-12)
        g = lambda *a: cnp.tanh(composite_linear(*a, *( () if bias else (None,))))
        np.testing.assert_allclose(fused, cr.jacobian(g, k)(*args), atol=1e-12)


def test_linear_weight_gradient_is_contiguous_and_keeps_float32():
    x = rng.standard_normal((8, 4)).astype(np.float32)
    W = cr.tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    b = cr.tensor(np.zeros(3, np.float32), requires_grad=True)
    cnp.sum(F.linear(x, W, b) ** 2).backward()
    assert W.grad.flags.c_contiguous and W.grad.dtype == np.float32 and b.grad.dtype == np.float32


@pytest.mark.parametrize("rows", [1, 7, 31, 32, 200])
def test_linear_with_few_rows_computes_the_transposed_product_with_the_same_values(rows):
    # rows < 32 outputs: y = (W xᵀ)ᵀ and ∂L/∂x = (Wᵀ gᵀ)ᵀ, Fortran-ordered results
    x, W0, b0 = rng.standard_normal((rows, 32)), rng.standard_normal((32, 32)), rng.standard_normal(32)
    got = []
    for fused in (True, False):
        xt, W, b = (cr.tensor(a, requires_grad=True) for a in (x, W0, b0))
        y = F.linear(xt, W, b, activation="relu") if fused else F.relu(composite_linear(xt, W, b))
        z = F.linear(y, W, b)
        cnp.sum(z * z).backward()
        got.append((y.numpy(), z.numpy(), xt.grad, W.grad, b.grad))
    for a, b in zip(*got):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert got[0][0].flags.f_contiguous == (rows < 32)           # the path under test ran
    assert got[0][3].flags.c_contiguous                   # the weight gradient stays (out, in)


def test_linear_keeps_the_usual_order_for_batches_of_more_than_128_rows():
    # Fortran-ordered results are kept to batches where they pay (mixing orders in a later
    # elementwise operation is slow on large arrays)
    W = np.ones((512, 4))
    assert F.linear(np.ones((128, 4)), W).flags.f_contiguous
    assert F.linear(np.ones((129, 4)), W).flags.c_contiguous


def test_linear_names_both_shapes_when_features_disagree():
    expected = r"linear: input of shape \(2, 3\) does not match weight of shape \(5, 4\)"
    with pytest.raises(ValueError, match=expected):
        F.linear(np.ones((2, 3)), np.ones((5, 4)))


def test_relu_is_max_zero_with_derivative_zero_at_zero():
    x = np.array([-2.0, -0.0, 0.0, 0.5, 3.0])
    np.testing.assert_array_equal(F.relu(x), np.maximum(x, 0))
    np.testing.assert_array_equal(cr.grad(lambda v: cnp.sum(F.relu(v)))(x), [0, 0, 0, 1, 1])
    cr.gradcheck(lambda v: F.relu(v) ** 2, rng.standard_normal((3, 4)) + 0.1, order=2)


@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 6)])
def test_softmax_cross_entropy_equals_minus_log_softmax_at_the_label(shape):
    z = rng.standard_normal(shape) * 3
    y = rng.integers(0, shape[-1], shape[:-1])

    def composite(z):
        return -cnp.take_along_axis(special.log_softmax(z, axis=-1), y[..., None], axis=-1)[..., 0]

    np.testing.assert_allclose(F.softmax_cross_entropy(z, y), composite(z), rtol=1e-12)
    fused = lambda z: F.softmax_cross_entropy(z, y)
    cr.gradcheck(fused, z, order=2)
    np.testing.assert_allclose(cr.jacobian(fused)(z), cr.jacobian(composite)(z), atol=1e-12)
    np.testing.assert_allclose(cr.jacobian(fused, mode="fwd")(z), cr.jacobian(composite)(z), atol=1e-12)
    np.testing.assert_allclose(cr.hessian(lambda z: cnp.sum(fused(z)))(z),
                               cr.hessian(lambda z: cnp.sum(composite(z)))(z), atol=1e-10)


def test_softmax_cross_entropy_against_distributions_is_minus_t_dot_log_softmax():
    z = rng.standard_normal((4, 3))
    t = rng.random((4, 3))
    t /= t.sum(axis=1, keepdims=True)
    composite = lambda z: -cnp.sum(t * special.log_softmax(z, axis=-1), axis=-1)
    fused = lambda z: F.softmax_cross_entropy(z, t)
    np.testing.assert_allclose(fused(z), composite(z), rtol=1e-12)
    cr.gradcheck(fused, z, order=2)
    np.testing.assert_allclose(cr.jacobian(fused, mode="fwd")(z), cr.jacobian(composite)(z), atol=1e-12)
    onehot = np.eye(3)[[0, 2, 1, 1]]
    np.testing.assert_allclose(F.softmax_cross_entropy(z, onehot), F.softmax_cross_entropy(z, [0, 2, 1, 1]))
    assert F.softmax_cross_entropy(z.astype(np.float32), t).dtype == np.float32


def test_softmax_cross_entropy_is_exact_for_logits_of_1e4_in_float32():
    z = np.array([[1e4, -1e4, 0.0]], np.float32)
    with np.errstate(all="raise"):
        loss = F.softmax_cross_entropy(z, np.array([1]))
        g = cr.grad(lambda v: cnp.sum(F.softmax_cross_entropy(v, np.array([1]))))(z)
    assert loss.dtype == np.float32 and loss[0] == np.float32(2e4)
    np.testing.assert_array_equal(g, np.array([[1, -1, 0]], np.float32))


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_softmax_cross_entropy_reduced_in_the_primitive_equals_reducing_the_rows(reduction, shape):
    z = rng.standard_normal(shape)
    y = rng.integers(0, 4, shape[:-1])
    reduce = cnp.mean if reduction == "mean" else cnp.sum
    fused = lambda z: F.softmax_cross_entropy(z, y, reduction)
    rows = lambda z: reduce(F.softmax_cross_entropy(z, y))
    np.testing.assert_allclose(fused(z), rows(z), rtol=1e-12)
    cr.gradcheck(fused, z, order=2)
    np.testing.assert_allclose(cr.hessian(fused)(z), cr.hessian(rows)(z), atol=1e-12)
    np.testing.assert_allclose(cr.jacobian(fused, mode="fwd")(z), cr.jacobian(rows)(z), atol=1e-12)
    with pytest.raises(ValueError, match="reduction must be"):
        F.softmax_cross_entropy(z, y, "average")


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.uint64, np.int64])
def test_softmax_cross_entropy_picks_each_rows_label_in_either_memory_order(order, dtype):
    z = np.asarray(rng.standard_normal((7, 5)), order=order)
    y = np.array([0, 4, 2, 2, 1, 3, 4], dtype)
    expected = np.log(np.exp(z).sum(axis=1)) - z[np.arange(7), y.astype(int)]
    np.testing.assert_allclose(F.softmax_cross_entropy(z, y), expected, rtol=1e-12)
    g = cr.grad(lambda z: F.softmax_cross_entropy(z, y, "sum"))(z)
    onehot = np.eye(5)[y.astype(int)]
    np.testing.assert_allclose(g, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True) - onehot, atol=1e-12)
    p = np.array(z, order=order)
    assert F._picked(p, y, subtract=2.0) is p
    np.testing.assert_allclose(p - z, -2 * onehot, atol=1e-15)


@pytest.mark.parametrize("k", [1, 2, 32, 33])
@pytest.mark.parametrize("n", [0, 1, 5, 300])
def test_cross_entropy_with_few_or_many_classes_matches_the_textbook_formulas(n, k):
    # the row maxima of up to 32 classes over 64 rows or more are taken over a transpose; each
    # row's label is picked through a flat index into C- or Fortran-ordered logits
    z64 = rng.standard_normal((n, k)) * 30
    y = rng.integers(0, k, n)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 2e-5)):
        for order in ("C", "F"):
            z = np.asarray(z64.astype(dtype), order=order)
            zmax = z64.max(axis=1, keepdims=True) if n else np.zeros((0, 1))
            lse = np.log(np.exp(z64 - zmax).sum(axis=1)) + zmax[:, 0]
            expected = (lse - z64[np.arange(n), y]).sum()
            softmax = np.exp(z64 - lse[:, None])
            t = cr.tensor(z, requires_grad=True)
            loss = losses.cross_entropy(t, y, reduction="sum")
            loss.backward()                                # the forward pass's exponentials
            assert loss.dtype == dtype and t.grad.dtype == dtype and t.grad.shape == (n, k)
            np.testing.assert_allclose(float(loss), expected, rtol=tol, atol=tol)
            expected_grad = softmax - np.eye(k)[y]
            np.testing.assert_allclose(t.grad, expected_grad, rtol=tol, atol=tol)
            g = cr.grad(lambda z: F.softmax_cross_entropy(z, y, "sum"))(z)    # computed afresh
            np.testing.assert_allclose(g, expected_grad, rtol=tol, atol=tol)


@pytest.mark.parametrize("labels, error, message", [
    ([0, 5, 1], ValueError, r"labels must be in \[0, 4\] for 5 classes; got \[5\] \(at 1 of 3 positions"),
    ([0, -1, 1], ValueError, r"got \[-1\]"),
    ([0.0, 1.0, 2.0], TypeError, "labels must be integers, got dtype float64"),
])
def test_softmax_cross_entropy_refuses_labels_that_name_no_class(labels, error, message):
    # a label outside [0, K) would otherwise pick another row's logit (or wrap around)
    with pytest.raises(error, match=message):
        F.softmax_cross_entropy(np.zeros((3, 5)), np.array(labels))


def test_softmax_cross_entropy_rejects_labels_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"target of shape \(3,\) matches neither"):
        F.softmax_cross_entropy(np.zeros((2, 4)), np.zeros(3, int))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_relu_zero_operand_is_read_only_zeros_with_or_without_a_memory_mapping(dtype, monkeypatch):
    monkeypatch.setattr(F, "_filled_cache", {})
    z = F._filled(0, 1000, dtype)
    assert z.dtype == dtype and z.shape == (1000,) and not z.flags.writeable
    assert not z.any() and not np.signbit(z).any()
    assert F._filled(0, 10, dtype).ctypes.data == z.ctypes.data        # one block per dtype
    if hasattr(mmap, "MAP_ANONYMOUS"):                                 # the kernel's zero page
        assert isinstance(z.base.base.obj, mmap.mmap)
    with pytest.raises(ValueError, match="read-only"):
        z[0] = 1

    def refuse(*args, **kwargs):
        raise OSError("no anonymous mappings here")
    monkeypatch.setattr(F.mmap, "mmap", refuse)
    monkeypatch.setattr(F, "_filled_cache", {})
    z = F._filled(0, F._ZERO_CHUNK, dtype)
    assert z.dtype == dtype and len(z) == F._ZERO_CHUNK and not z.flags.writeable and not z.any()
    x = rng.standard_normal(F._FAST_RELU_MIN * 2).astype(dtype)
    np.testing.assert_array_equal(F.relu(x), np.maximum(x, 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_fast_path_on_large_arrays_is_numpys_maximum_bit_for_bit(dtype):
    # more elements than one block of zeros, so the chunked loop runs more than once
    x = rng.standard_normal(5 * (F._ZERO_CHUNK // 5 + 2469)).astype(dtype).reshape(-1, 5)
    x[0, :4] = [np.nan, -0.0, np.inf, -np.inf]
    y = F.relu(x)
    expected = np.maximum(x, 0)
    assert y.dtype == dtype and y.shape == x.shape and not np.shares_memory(y, x)
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(np.signbit(y), np.signbit(expected))
    strided = x[:, ::2]                                   # not contiguous: NumPy's own call
    np.testing.assert_array_equal(F.relu(strided), np.maximum(strided, 0))
    fortran = np.asfortranarray(x)                        # Fortran order: the same fast path
    y = F.relu(fortran)
    assert y.flags.f_contiguous
    np.testing.assert_array_equal(y, expected)
    out = np.empty_like(fortran)
    assert F.relu(fortran, out=out) is out
    np.testing.assert_array_equal(out, expected)
    F.relu(fortran, out=fortran)                          # in place
    np.testing.assert_array_equal(fortran, expected)


def test_relu_gradient_on_a_large_batch_is_the_mask_of_positive_inputs():
    x = rng.standard_normal((300, 40)).astype(np.float32)
    g = cr.grad(lambda v: cnp.sum(F.relu(v) * 3.0))(x)
    np.testing.assert_array_equal(g, np.where(x > 0, 3.0, 0.0).astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_bias_gradient_of_many_rows_is_the_column_sum(dtype):
    x = rng.standard_normal((200, 6)).astype(dtype)
    g = rng.standard_normal((200, 3)).astype(dtype)
    W = cr.tensor(rng.standard_normal((3, 6)).astype(dtype), requires_grad=True)
    b = cr.tensor(np.zeros(3, dtype), requires_grad=True)
    F.linear(x, W, b).backward(g)
    assert b.grad.dtype == dtype
    np.testing.assert_allclose(b.grad, g.astype(np.float64).sum(axis=0), rtol=1e-5 if dtype == np.float32
                               else 1e-12)


@pytest.mark.parametrize("rows,classes", [(100, 10), (80, 40)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_of_many_rows_matches_the_log_softmax_composite(rows, classes, dtype):
    # many short rows take the transposed-max and matrix-vector-sum paths
    z = (rng.standard_normal((rows, classes)) * 4).astype(dtype)
    z[3, 2] = 60.0                                        # a dominant logit: the max matters
    y = rng.integers(0, classes, rows)
    composite = -special.log_softmax(z.astype(np.float64), axis=-1)[np.arange(rows), y]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    loss = F.softmax_cross_entropy(z, y, "mean")
    assert loss.dtype == dtype
    np.testing.assert_allclose(loss, composite.mean(), rtol=tol)
    zt = cr.tensor(z, requires_grad=True)
    F.softmax_cross_entropy(zt, y, "mean").backward()       # the plain-array gradient path
    expected = special.softmax(z.astype(np.float64), axis=-1)
    expected[np.arange(rows), y] -= 1
    assert zt.grad.dtype == dtype
    np.testing.assert_allclose(zt.grad, expected / rows, atol=tol)
    if dtype == np.float64:
        cr.gradcheck(lambda v: F.softmax_cross_entropy(v, y, "mean"), z, order=2)
    nan = z.copy()
    nan[5, 1] = np.nan
    assert np.isnan(F.softmax_cross_entropy(nan, y)[5])


@pytest.mark.parametrize("xshape", [(4,), (1, 4), (3, 4), (2, 3, 4)])
def test_linear_with_relu_equals_relu_of_linear_with_its_derivatives(xshape):
    x, W, b = rng.standard_normal(xshape), rng.standard_normal((5, 4)), rng.standard_normal(5)
    fused = lambda x, W, b: F.linear(x, W, b, activation="relu")
    composite = lambda x, W, b: F.relu(composite_linear(x, W, b))
    np.testing.assert_array_equal(fused(x, W, b), composite(x, W, b))
    f = lambda *a: cnp.tanh(fused(*a))
    cr.gradcheck(f, x, W, b, argnums=(0, 1, 2), order=2)
    for k in range(3):
        g = lambda *a: cnp.tanh(composite(*a))
        expected = cr.jacobian(g, k)(x, W, b)
        np.testing.assert_allclose(cr.jacobian(f, k)(x, W, b), expected, atol=1e-12)
        np.testing.assert_allclose(cr.jacobian(f, k, mode="fwd")(x, W, b), expected, atol=1e-12)
    hess = lambda h: cr.hessian(lambda W: cnp.sum(cnp.tanh(h(x, W, b))))(W)
    np.testing.assert_allclose(hess(fused), hess(composite), atol=1e-12)


def test_linear_with_relu_backward_gives_the_three_gradients_of_the_composite():
    x = rng.standard_normal((64, 6)).astype(np.float32)
    make = lambda a: cr.tensor(a.astype(np.float32), requires_grad=True)
    W0, b0 = rng.standard_normal((3, 6)), rng.standard_normal(3)
    grads = []
    for fused in (True, False):
        xt, W, b = make(x), make(W0), make(b0)
        y = F.linear(xt, W, b, activation="relu") if fused else F.relu(F.linear(xt, W, b))
        cnp.sum(y * y).backward()
        grads.append((xt.grad, W.grad, b.grad))
    for got, want in zip(*grads):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_linear_refuses_an_activation_it_does_not_fuse():
    with pytest.raises(ValueError, match="linear: activation must be None or 'relu', got 'tanh'"):
        F.linear(np.ones((2, 3)), np.ones((4, 3)), activation="tanh")


def test_two_layers_give_the_composite_jacobian_when_the_mask_is_applied_in_place():
    # the outer linear's input cotangent is a new array, so linear_relu masks it in place,
    # also when it carries the Jacobian's batch of basis rows
    x, W1, b1 = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    W2 = rng.standard_normal((2, 5))
    fused = lambda x, W1: F.linear(F.linear(x, W1, b1, activation="relu"), W2)
    composite = lambda x, W1: composite_linear(F.relu(composite_linear(x, W1, b1)), W2, None)
    for k in (0, 1):
        np.testing.assert_allclose(cr.jacobian(fused, k)(x, W1), cr.jacobian(composite, k)(x, W1),
                                   atol=1e-12)
    cr.gradcheck(lambda x, W1: cnp.tanh(fused(x, W1)), x, W1, argnums=(0, 1), order=2)
    xt = cr.tensor(x, requires_grad=True)
    seed = rng.standard_normal((3, 2))
    kept = seed.copy()
    fused(xt, W1).backward(seed)
    np.testing.assert_array_equal(seed, kept)
    np.testing.assert_allclose(xt.grad, cr.vjp(lambda v: composite(v, W1), x)[1](seed)[0], atol=1e-12)


def test_relu_with_out_fills_any_out_numpy_accepts():
    x = np.linspace(-1.0, 1.0, 8192).reshape(64, 128)
    strided = np.zeros((128, 64)).T                      # not contiguous
    assert F.relu(x, out=strided) is strided
    np.testing.assert_array_equal(strided, np.maximum(x, 0))
    same = np.empty_like(x)
    assert F.relu(x, out=same) is same
    np.testing.assert_array_equal(same, np.maximum(x, 0))
    wider = np.zeros((3, 64, 128))                       # broadcast into a larger out
    F.relu(x, out=wider)
    np.testing.assert_array_equal(wider, np.broadcast_to(np.maximum(x, 0), wider.shape))


def test_relu_into_an_overlapping_out_is_numpys_answer():
    base = np.linspace(-1.0, 1.0, F._ZERO_CHUNK + 2).astype(np.float32)
    expected = np.maximum(base[:-1], 0)
    x = base.copy()
    F.relu(x[:-1], out=x[1:])                            # shifted by one element: not chunk-safe
    np.testing.assert_array_equal(x[1:], expected)


def test_cross_entropy_backward_reuses_only_its_own_forward_exponentials():
    # the backward pass finishes the softmax from the last forward pass's exponentials; a
    # gradient of an older loss, or after another forward pass, must not take them
    z1, z2 = rng.standard_normal((6, 4)), rng.standard_normal((6, 4)) * 5
    y = np.array([0, 1, 2, 3, 0, 1])
    expected = [(special.softmax(z, axis=-1) - np.eye(4)[y]) / 6 for z in (z1, z2)]
    t1, t2 = cr.tensor(z1, requires_grad=True), cr.tensor(z2, requires_grad=True)
    l1 = F.softmax_cross_entropy(t1, y, "mean")
    l2 = F.softmax_cross_entropy(t2, y, "mean")
    l1.backward()                                          # not the latest forward pass
    l2.backward(retain_graph=True)                         # the latest one
    np.testing.assert_allclose(t1.grad, expected[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(t2.grad, expected[1], rtol=1e-12, atol=1e-15)
    l2.backward()                                          # again: the saved values are intact
    np.testing.assert_allclose(t2.grad, 2 * expected[1], rtol=1e-12, atol=1e-15)


def test_cross_entropy_keeps_no_logits_alive_for_its_backward_pass():
    import gc
    import weakref
    z = rng.standard_normal((50, 7))
    F.softmax_cross_entropy(z, np.zeros(50, int), "mean")
    alive = weakref.ref(z)
    del z
    gc.collect()
    assert alive() is None and F._last_exp[0] is None      # nor their exponentials


def test_pytorchs_functional_names_call_chainrules_losses_and_activations():
    from chainrule.nn import activations
    rng = np.random.default_rng(4)
    z, t = rng.standard_normal((5, 3)), rng.random((5, 3))
    y, yb = rng.integers(0, 3, 5), rng.integers(0, 2, (5, 3)).astype(float)
    pairs = [
        (F.cross_entropy(z, y, "sum"), losses.cross_entropy(z, y, "sum")),
        (F.nll_loss(special.log_softmax(z), y), losses.nll_loss(special.log_softmax(z), y)),
        (F.mse_loss(z, t, "none"), losses.mse(z, t, "none")),
        (F.binary_cross_entropy(t, yb), losses.log_loss(t, yb)),
        (F.binary_cross_entropy_with_logits(z, yb), losses.log_loss(z, yb, from_logits=True)),
        (F.softmax(z, 0), special.softmax(z, axis=0)), (F.log_softmax(z, 1), special.log_softmax(z, axis=1)),
        (F.sigmoid(z), special.sigmoid(z)), (F.tanh(z), np.tanh(z)),
        (F.leaky_relu(z, 0.2), activations.leaky_relu(z, 0.2)), (F.softplus(z), activations.softplus(z)),
    ]
    for got, expected in pairs:
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    assert cr.gradcheck(lambda a: F.cross_entropy(a, y), z, modes=("fwd", "rev"), order=2)
    assert cr.gradcheck(lambda a: F.binary_cross_entropy_with_logits(a, yb), z, modes=("fwd", "rev"), order=2)
