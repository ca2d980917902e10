"""The object API's higher derivatives and gradients on demand: ``backward(create_graph=True)``,
``retain_grad()``, ``backward(inputs=...)``, ``chainrule.autograd.grad`` and ``.backward``.
References are the functional transforms and central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import numerical_jacobian

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import autograd, nn
from chainrule.nn import functional as F
from chainrule.nn import losses
from chainrule.nn.module import functional_call

RNG = np.random.default_rng(7)


def _f(x, W):
    """A function with broadcasting, a matrix product, a reduction and a saturating activation."""
    return cnp.sum(cnp.tanh(W @ x + 0.5) ** 2) + cnp.sum(cnp.exp(-x) * x)


# --------------------------------------------------------------------------- create_graph

def test_grad_of_grad_through_backward_is_the_hessian():
    W = RNG.standard_normal((3, 4))
    x0 = RNG.standard_normal(4)
    x = cr.tensor(x0, requires_grad=True)
    _f(x, W).backward(create_graph=True)
    g = x.grad
    assert isinstance(g, cr.Tensor) and g.requires_grad
    np.testing.assert_allclose(g.numpy(), cr.grad(_f)(x0, W), rtol=1e-12)
    hessian = cr.hessian(_f)(x0, W)
    for i in range(4):                               # each row of the Hessian by one more backward
        x.grad = None
        g[i].backward(retain_graph=True)
        np.testing.assert_allclose(x.grad, hessian[i], rtol=1e-10, atol=1e-12)


def test_autograd_grad_with_create_graph_gives_hessian_vector_products():
    W = RNG.standard_normal((3, 4))
    x0, v = RNG.standard_normal(4), RNG.standard_normal(4)
    x = cr.tensor(x0, requires_grad=True)
    (g,) = autograd.grad(_f(x, W), x, create_graph=True)
    (hv,) = autograd.grad((g * v).sum(), x)
    np.testing.assert_allclose(hv, cr.hessian(_f)(x0, W) @ v, rtol=1e-10, atol=1e-12)
    assert x.grad is None                            # autograd.grad writes no .grad


def test_third_derivative_by_three_nested_autograd_grads():
    x = cr.tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    (g1,) = autograd.grad(cnp.sin(x).sum() * 2, x, create_graph=True)
    (g2,) = autograd.grad(g1.sum(), x, create_graph=True)
    (g3,) = autograd.grad(g2.sum(), x)
    np.testing.assert_allclose(g3, -2 * np.cos(x.numpy()), rtol=1e-12)


def test_hessian_vector_product_of_a_training_loss_matches_the_transforms():
    # the fused layers' own rules (linear + ReLU, softmax cross-entropy) differentiated again
    model = nn.MLP([4, 6, 5, 3], activation="relu", rng=0)
    X, y = RNG.standard_normal((7, 4)), RNG.integers(0, 3, 7)
    names = [n for n, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    v = [RNG.standard_normal(p.shape) for p in params]
    gs = autograd.grad(losses.cross_entropy(model(X), y), params, create_graph=True)
    hv = autograd.grad(sum((g * w).sum() for g, w in zip(gs, v, strict=True)), params,
                       materialize_grads=True)

    sizes = [p.size for p in params]
    cuts = np.cumsum(sizes)[:-1]

    def loss(flat):
        parts = cnp.split(flat, cuts) if len(cuts) else [flat]
        values = {n: cnp.reshape(q, p.shape) for n, q, p in zip(names, parts, params, strict=True)}
        return losses.cross_entropy(functional_call(model, values, X), y)

    flat = np.concatenate([p.numpy().ravel() for p in params])
    ref = cr.hvp(loss, (flat,), (np.concatenate([w.ravel() for w in v]),))
    np.testing.assert_allclose(np.concatenate([h.ravel() for h in hv]), ref, rtol=1e-9, atol=1e-12)


def test_gradient_penalty_of_an_mlp_matches_finite_differences():
    model = nn.MLP([3, 5, 1], activation="tanh", rng=1)
    X = RNG.standard_normal((4, 3))
    W = model.layers[0].weight

    def penalty():
        x = cr.tensor(X, requires_grad=True)
        (gx,) = autograd.grad(model(x).sum(), x, create_graph=True)
        return (gx ** 2).sum()

    model.zero_grad()
    penalty().backward()
    got = W.grad.copy()
    w0 = W.numpy().copy()

    def value(w):
        with cr.no_grad():
            W.data = w.reshape(w0.shape)
        return float(penalty().numpy())

    expected = numerical_jacobian(value, w0.ravel()).reshape(w0.shape)
    W.data = w0
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


def test_create_graph_through_a_multi_output_primitive():
    A0 = RNG.standard_normal((3, 3))
    A0 = A0 + A0.T
    A = cr.tensor(A0, requires_grad=True)
    w, _ = cnp.linalg.eigh(A)
    (g,) = autograd.grad(cnp.sum(w ** 3), A, create_graph=True)
    (h,) = autograd.grad(cnp.sum(g * g), A)
    ref = cr.grad(lambda M: cnp.sum(cr.grad(lambda N: cnp.sum(cnp.linalg.eigh(N)[0] ** 3))(M) ** 2))(A0)
    np.testing.assert_allclose(h, ref, rtol=1e-8, atol=1e-10)


def test_create_graph_keeps_the_graph_by_default_and_plain_backward_frees_it():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x ** 3).sum()
    y.backward(create_graph=True)
    y.backward()                                     # retained: a second pass works
    np.testing.assert_allclose(x.grad.numpy(), 2 * 3 * x.numpy() ** 2)
    z = (x ** 3).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        z.backward()


def test_create_graph_gradient_of_a_constant_is_a_constant_tensor():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = autograd.grad((3 * x).sum(), x, create_graph=True)
    assert isinstance(g, cr.Tensor) and not g.requires_grad
    np.testing.assert_array_equal(g.numpy(), [3.0, 3.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        g.sum().backward()


# --------------------------------------------------------------------------- retain_grad

def test_retain_grad_keeps_the_gradient_of_an_intermediate_value():
    x = cr.tensor(RNG.standard_normal(5), requires_grad=True)
    h = cnp.tanh(2 * x)
    assert not h.retains_grad
    h.retain_grad()
    assert h.retains_grad and not x.retains_grad
    (h ** 2).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * h.numpy(), rtol=1e-14)
    np.testing.assert_allclose(x.grad, 2 * h.numpy() * 2 * (1 - h.numpy() ** 2), rtol=1e-12)


def test_a_retained_gradient_is_not_overwritten_by_a_rule_working_in_place():
    # ReLU's rule masks its cotangent in place when nobody else holds it: here the sum of
    # the cotangents of r's two uses
    x = cr.tensor(np.array([-1.0, 2.0, -3.0, 4.0]), requires_grad=True)
    w = np.array([1.0, 2.0, 3.0, 4.0])
    r = F.relu(x * 1.0)
    r.retain_grad()
    ((r * w).sum() + (r * w).sum()).backward()
    np.testing.assert_array_equal(r.grad, 2 * w)
    np.testing.assert_array_equal(x.grad, 2 * w * [0, 1, 0, 1])


def test_retained_gradients_accumulate_like_a_leafs():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * x
    h.retain_grad()
    y = (3 * h).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(h.grad, [6.0, 6.0])


def test_retain_grad_on_a_tensor_that_does_not_require_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.tensor(np.ones(2)).retain_grad()


def test_retain_grad_on_a_leaf_changes_nothing():
    x = cr.tensor(np.ones(2), requires_grad=True)
    x.retain_grad()
    assert not x.retains_grad
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


# --------------------------------------------------------------------------- autograd.grad

def test_autograd_grad_matches_the_transforms_and_leaves_dot_grad_alone():
    W0, x0 = RNG.standard_normal((3, 4)), RNG.standard_normal(4)
    W, x = cr.tensor(W0, requires_grad=True), cr.tensor(x0, requires_grad=True)
    gx, gW = autograd.grad(_f(x, W), (x, W))
    np.testing.assert_allclose(gx, cr.grad(_f, argnums=0)(x0, W0), rtol=1e-12)
    np.testing.assert_allclose(gW, cr.grad(_f, argnums=1)(x0, W0), rtol=1e-12)
    assert x.grad is None and W.grad is None


def test_autograd_grad_with_respect_to_an_intermediate_value():
    x = cr.tensor(np.array([0.5, -1.0]), requires_grad=True)
    h = cnp.exp(x)
    (gh,) = autograd.grad((h ** 2).sum(), h)
    np.testing.assert_allclose(gh, 2 * np.exp(x.numpy()), rtol=1e-14)


def test_autograd_grad_of_several_outputs_with_their_cotangents():
    x = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    u, v = x ** 2, cnp.sin(x)
    cu, cv = np.array([1.0, -1.0, 2.0]), np.array([0.5, 0.0, 1.0])
    (g,) = autograd.grad([u, v], [x], grad_outputs=[cu, cv])
    np.testing.assert_allclose(g, cu * 2 * x.numpy() + cv * np.cos(x.numpy()), rtol=1e-14)


def test_autograd_grad_takes_a_generator_of_parameters():
    model = nn.Linear(3, 2, rng=0)
    X = RNG.standard_normal((4, 3))
    gW, gb = autograd.grad(model(X).sum(), model.parameters())
    np.testing.assert_allclose(gW, np.tile(X.sum(0), (2, 1)), rtol=1e-14)
    np.testing.assert_array_equal(gb, [4.0, 4.0])


def test_autograd_grad_of_an_unused_input():
    x, z = cr.tensor(np.ones(2), requires_grad=True), cr.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"inputs\[1\] \(shape \(3,\)\) was not used"):
        autograd.grad((x * 2).sum(), [x, z])
    assert autograd.grad((x * 2).sum(), [x, z], allow_unused=True)[1] is None
    zeros = autograd.grad((x * 2).sum(), [x, z], materialize_grads=True)[1]
    np.testing.assert_array_equal(zeros, np.zeros(3))


def test_autograd_grad_results_are_arrays_the_caller_owns():
    x = cr.tensor(np.ones(3), requires_grad=True)
    seed = np.array([1.0, 2.0, 3.0])
    y = x + x                                      # both paths pass the cotangent through
    (g,) = autograd.grad(y, x, grad_outputs=seed)
    g[:] = 0
    np.testing.assert_array_equal(seed, [1.0, 2.0, 3.0])
    (g,) = autograd.grad(x * 1.0, x, grad_outputs=seed)
    assert not np.shares_memory(g, seed)


def test_autograd_grad_keeps_the_inputs_dtype():
    x = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    (g,) = autograd.grad((x * np.float64(2.0)).sum(), x)
    assert g.dtype == np.float32


def test_autograd_grad_errors_name_what_is_wrong():
    x = cr.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="needs a scalar output, got shape \\(3,\\); pass grad_outputs="):
        autograd.grad(x * 2, x)
    with pytest.raises(ValueError, match=r"inputs\[0\] is a ndarray that does not require grad"):
        autograd.grad((x * 2).sum(), np.ones(3))
    with pytest.raises(ValueError, match="2 grad_outputs for 1 outputs"):
        autograd.grad(x * 2, x, grad_outputs=[np.ones(3), np.ones(3)])
    with pytest.raises(ValueError, match="grad_outputs has shape \\(2,\\) but the tensor has shape \\(3,\\)"):
        autograd.grad(x * 2, x, grad_outputs=np.ones(2))
    with pytest.raises(RuntimeError, match="output 1, without a gradient .* pass grad_tensors="):
        autograd.backward([x.sum(), x * 2])
    with pytest.raises(RuntimeError, match="does not require grad"):
        autograd.grad(cr.tensor(np.ones(2)).sum(), x)


# --------------------------------------------------------------------------- backward(inputs=)

def test_backward_with_inputs_fills_only_their_grad():
    a = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = cr.tensor(np.array([3.0, 4.0]), requires_grad=True)
    h = a * b
    (h * h).sum().backward(inputs=[b, h])
    assert a.grad is None
    np.testing.assert_array_equal(b.grad, 2 * h.numpy() * a.numpy())
    np.testing.assert_array_equal(h.grad, 2 * h.numpy())


def test_autograd_backward_adds_the_gradients_of_several_outputs():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    autograd.backward([(x ** 2).sum(), cnp.sin(x)], [None, np.array([1.0, 3.0])])
    np.testing.assert_allclose(x.grad, 2 * x.numpy() + np.array([1.0, 3.0]) * np.cos(x.numpy()), rtol=1e-14)
    with pytest.raises(ValueError, match="autograd.backward: 1 grad_tensors for 2 outputs"):
        autograd.backward([x.sum(), x.sum()], [None])


def test_functional_call_takes_a_tuple_of_arguments_as_torch_func_does():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2, rng=0)

        def forward(self, x, z, scale=1.0):
            return self.lin(x) * scale + z

    m = Two()
    x, z = np.ones((3, 2)), np.full((3, 2), 5.0)
    w = np.eye(2)
    out = functional_call(m, {"lin.weight": w}, (x, z), {"scale": 2.0})
    np.testing.assert_allclose(out.numpy(), (x @ w.T + m.lin.bias.numpy()) * 2 + z)
    one = functional_call(m.lin, {"weight": w}, x)          # one argument that is not a tuple
    assert one.shape == (3, 2)


# --------------------------------------------------------------------------- the walk stops at the inputs

def test_gradients_for_some_inputs_walk_only_the_paths_to_them():
    # a GAN's two steps: the discriminator's backward must neither free nor need the generator's
    # part of the graph, which the generator's backward walks next
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 3))
    G = cr.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    D = cr.tensor(rng.standard_normal((5, 1)), requires_grad=True)
    fake = cnp.tanh(z @ G)
    (fake @ D).sum().backward(inputs=[D])
    assert G.grad is None and D.grad is not None
    (-cnp.sin(fake @ D)).sum().backward()
    ref = cr.grad(lambda g: (-cnp.sin(cnp.tanh(z @ g) @ D.numpy())).sum())(G.numpy())
    np.testing.assert_allclose(G.grad, ref, rtol=1e-12)

    # a gradient with respect to an intermediate value needs nothing below it: not the arrays an
    # earlier backward freed, not an input changed in place since
    x = cr.tensor(np.array([0.5, 1.5]), requires_grad=True)
    w = cr.tensor(np.array([2.0, 3.0]), requires_grad=True)
    h = cnp.exp(x) * w
    h.sum().backward()
    with cr.no_grad():
        w[0] = 7.0
    (gh,) = autograd.grad((h ** 2).sum(), h)
    np.testing.assert_allclose(gh, 2 * h.numpy(), rtol=1e-14)


def test_a_recorded_cotangent_is_a_constant_unless_create_graph():
    x = cr.tensor(np.array([0.5, 1.5]), requires_grad=True)
    u = cr.tensor(np.array([1.0, -2.0]), requires_grad=True)
    (g,) = autograd.grad(cnp.sin(x) * x, x, grad_outputs=u)
    assert type(g) is np.ndarray
    np.testing.assert_allclose(g, u.numpy() * (np.sin(x.numpy()) + x.numpy() * np.cos(x.numpy())), rtol=1e-14)
    (cnp.sin(x) * x).backward(u)
    assert type(x.grad) is np.ndarray
    (g,) = autograd.grad(cnp.sin(x) * x, x, grad_outputs=u, create_graph=True)
    (gu,) = autograd.grad(g.sum(), u)                   # the double-backward trick: d/du of uᵀJ
    np.testing.assert_allclose(gu, np.sin(x.numpy()) + x.numpy() * np.cos(x.numpy()), rtol=1e-14)


def test_create_graph_gradients_keep_the_leafs_dtype():
    x = cr.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    (x * x * np.float64(3.0)).sum().backward(create_graph=True)
    assert isinstance(x.grad, cr.Tensor) and x.grad.dtype == np.float32
    y = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with cr.no_grad():
        z = (y * 2).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        z.backward(create_graph=True)


def test_retain_grad_follows_the_tensor_through_in_place_changes():
    x = cr.tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    y = x * 2
    y.retain_grad()
    y[0, 0] = 5.0
    assert y.retains_grad
    (y ** 2).sum().backward()
    np.testing.assert_array_equal(y.grad, 2 * y.numpy())
    np.testing.assert_array_equal(x.grad, (2 * y.numpy() * 2) * [[0, 1, 1], [1, 1, 1]])
    x.grad = None
    y = x * 2
    y.retain_grad()
    y += 1
    (y ** 2).sum().backward()
    np.testing.assert_array_equal(y.grad, 2 * y.numpy())


def test_create_graph_gradients_are_each_leafs_own_and_keep_its_dtype():
    a = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = cr.tensor(np.array([3.0, 4.0]), requires_grad=True)
    w = cr.tensor(np.array([1.0, 1.0]), requires_grad=True)
    ((a + b) * w).sum().backward(create_graph=True)      # the add passes one cotangent to both
    assert a.grad is not b.grad
    with cr.no_grad():
        a.grad.mul_(0.5)
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])
    seed = cr.tensor(np.array([1.0, 1.0]), requires_grad=True)
    a.grad = b.grad = None
    (a + b).backward(seed, create_graph=True)
    assert a.grad is not seed and b.grad is not seed and a.grad is not b.grad
    x = cr.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    (x * np.ones(2)).sum().backward()                    # a float64 cotangent added to it
    assert x.grad.dtype == np.float32


def test_a_list_given_as_the_output_gradient_is_an_array():
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x + x).backward([1.0, 1.0])
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
    x.grad = None
    (x * 2).backward([1.0, 0.5])
    np.testing.assert_array_equal(x.grad, [2.0, 1.0])
