"""chainrule.nn: modules, parameters, layers, activations and initialisers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import numerical_jacobian

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import nn
from chainrule.nn import activations as A
from chainrule.nn import init
from chainrule.nn.module import functional_call


def as_function(module):
    """``module`` as ``f(x, *parameter values)`` plus the current values, for gradcheck."""
    names = [n for n, _ in module.named_parameters()]

    def f(x, *values):
        return functional_call(module, dict(zip(names, values, strict=True)), x)

    f.__name__ = type(module).__name__
    return f, [p.numpy().copy() for _, p in module.named_parameters()]


def check_module(module, x):
    f, values = as_function(module)
    assert cr.gradcheck(f, x, *values, argnums=tuple(range(1 + len(values))), modes=("fwd", "rev"), order=2)


# --------------------------------------------------------------------------- Parameter and Module

def test_parameter_is_a_leaf_requiring_grad_with_its_own_float_copy():
    data = np.array([1, 2, 3])
    p = nn.Parameter(data)
    assert isinstance(p, cr.Tensor) and p.requires_grad and p.is_leaf
    assert p.dtype == np.float64
    data[0] = 100
    assert p.numpy()[0] == 1.0
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad, [2.0, 4.0, 6.0])


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(3, 4, rng=0)
        self.scale = nn.Parameter(np.ones(4))
        self.rest = nn.Sequential(nn.ReLU(), nn.Linear(4, 2, rng=1))

    def forward(self, x):
        return self.rest(self.first(x) * self.scale)


def test_parameters_are_registered_in_assignment_order_with_dotted_names():
    m = Block()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["first.weight", "first.bias", "scale", "rest.1.weight", "rest.1.bias"]
    assert [p for p in m.parameters()][2] is m.scale
    assert [type(x).__name__ for x in m.modules()] == ["Block", "Linear", "Sequential", "ReLU", "Linear"]


def test_a_shared_parameter_or_module_is_listed_once():
    m = Block()
    m.rest[1].shared = m.first.weight
    m.alias = m.rest
    params = list(m.parameters())
    assert len(params) == len({id(p) for p in params}) == 5
    assert len(list(m.modules())) == 5


def test_reassigning_an_attribute_replaces_the_registration():
    m = Block()
    m.scale = None
    assert "scale" not in dict(m.named_parameters())
    assert m.scale is None


def test_assigning_a_parameter_before_init_names_the_fix():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Broken()


def test_state_dict_round_trip_reproduces_the_outputs():
    x = np.random.default_rng(0).normal(size=(5, 3))
    a, b = nn.MLP([3, 6, 2], rng=1), nn.MLP([3, 6, 2], rng=2)
    assert not np.allclose(a(x).numpy(), b(x).numpy())
    state = a.state_dict()
    assert list(state) == ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    weight_before = b.layers[0].weight
    b.load_state_dict(state)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    assert b.layers[0].weight is weight_before              # copied in, not replaced


def test_state_dict_is_a_snapshot():
    m = nn.Linear(2, 2, rng=0)
    state = m.state_dict()
    with cr.no_grad():
        m.weight.add_(1.0)
    assert not np.array_equal(state["weight"], m.weight.numpy())


def test_strict_load_lists_missing_and_unexpected_keys():
    m = nn.MLP([3, 4, 2], rng=0)
    state = m.state_dict()
    del state["layers.2.bias"]
    state["layers.9.weight"] = np.zeros(1)
    expected = r"missing keys \['layers.2.bias'\].*unexpected keys \['layers.9.weight'\]"
    with pytest.raises(KeyError, match=expected):
        m.load_state_dict(state)


def test_non_strict_load_copies_the_matching_keys():
    a, b = nn.MLP([3, 4, 2], rng=0), nn.MLP([3, 4, 2], rng=1)
    state = a.state_dict()
    del state["layers.2.weight"]
    missing, unexpected = b.load_state_dict(state, strict=False)
    assert missing == ["layers.2.weight"] and unexpected == []
    np.testing.assert_array_equal(b.layers[0].weight.numpy(), a.layers[0].weight.numpy())
    assert not np.array_equal(b.layers[2].weight.numpy(), a.layers[2].weight.numpy())


def test_load_with_a_wrong_shape_names_the_parameter_and_both_shapes():
    m = nn.MLP([3, 4, 2], rng=0)
    other = nn.MLP([3, 5, 2], rng=0).state_dict()
    with pytest.raises(ValueError, match=r"layers.0.weight: checkpoint \(5, 3\), model \(4, 3\)"):
        m.load_state_dict(other)


def test_train_and_eval_reach_every_submodule():
    m = nn.MLP([2, 3, 3, 1], dropout=0.5, rng=0)
    assert all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())


def test_zero_grad_sets_every_grad_to_none():
    m = Block()
    m(np.ones((2, 3))).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_repr_shows_the_tree_like_pytorch():
    text = repr(nn.MLP([4, 3, 2], activation="tanh"))
    assert text.splitlines() == [
        "MLP(",
        "  sizes=[4, 3, 2]",
        "  (layers): Sequential(",
        "    (0): Linear(in_features=4, out_features=3, bias=True)",
        "    (1): Tanh()",
        "    (2): Linear(in_features=3, out_features=2, bias=True)",
        "  )",
        ")"]


def test_sequential_is_indexable_sliceable_and_iterable():
    layers = [nn.Linear(2, 3, rng=0), nn.ReLU(), nn.Linear(3, 1, rng=1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and seq[0] is layers[0] and seq[-1] is layers[2]
    assert list(seq) == layers
    x = np.ones((4, 2))
    np.testing.assert_array_equal(seq(x).numpy(), seq[1:](layers[0](x)).numpy())


def test_functional_call_substitutes_and_restores_parameters():
    lin = nn.Linear(2, 2, rng=0)
    w = np.eye(2)
    out = functional_call(lin, {"weight": w, "bias": np.zeros(2)}, np.array([[1.0, 2.0]]))
    np.testing.assert_array_equal(np.asarray(out), [[1.0, 2.0]])
    assert isinstance(lin.weight, nn.Parameter)
    with pytest.raises(KeyError, match="no parameters named"):
        functional_call(lin, {"weights": w}, np.ones((1, 2)))


def test_module_to_casts_parameters():
    m = nn.MLP([3, 4, 2], rng=0).to(np.float32)
    x = np.ones((2, 3), np.float32)
    out = m(x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert all(p.grad.dtype == np.float32 for p in m.parameters())


# --------------------------------------------------------------------------- layers

def test_linear_computes_x_times_w_transposed_plus_b():
    lin = nn.Linear(3, 2, rng=0)
    x = np.random.default_rng(1).normal(size=(4, 3))
    assert lin.weight.shape == (2, 3) and lin.bias.shape == (2,)
    np.testing.assert_allclose(lin(x).numpy(), x @ lin.weight.numpy().T + lin.bias.numpy())
    assert "bias" not in dict(nn.Linear(3, 2, bias=False).named_parameters())


@pytest.mark.parametrize("module", [
    nn.Linear(3, 2, rng=0),
    nn.Linear(3, 2, bias=False, rng=0),
    nn.Neuron(3, activation="logistic", rng=0),
    nn.Neuron(3, activation="tanh", bias_feature=True, rng=0),
    nn.Neuron(3, activation="relu", rng=0),
    nn.Maxout(3, 2, pieces=3, rng=0),
    nn.MLP([3, 4, 2], activation="tanh", output_activation="logistic", rng=0),
    nn.MLP([3, 4, 2], activation="maxout", rng=0),
    nn.Identity(),
], ids=lambda m: repr(m).split("\n")[0])
def test_layer_passes_gradcheck_in_its_input_and_parameters(module):
    x = np.random.default_rng(5).normal(size=(4, 3))
    check_module(module, x)


def test_dropout_passes_gradcheck_with_a_fixed_mask():
    x = np.random.default_rng(0).normal(size=(4, 5))
    assert cr.gradcheck(lambda v: nn.Dropout(0.4, rng=3)(v), x, order=2)


def test_layer_jacobians_agree_in_both_modes_and_with_finite_differences():
    mlp = nn.MLP([3, 4, 2], activation="tanh", rng=0)
    x = np.random.default_rng(2).normal(size=(2, 3))
    f = lambda v: mlp(v)
    rev = cr.jacobian(f, mode="rev")(x)
    fwd = cr.jacobian(f, mode="fwd")(x)
    fd = numerical_jacobian(lambda v: np.asarray(mlp(v)), x)
    assert rev.shape == (2, 2, 2, 3)
    np.testing.assert_allclose(rev, fwd, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rev, fd, rtol=1e-6, atol=1e-8)


def test_float32_layers_give_float32_outputs_and_gradients():
    x = np.ones((2, 3), np.float32)
    for layer in [nn.Linear(3, 2, dtype=np.float32), nn.Neuron(3, dtype=np.float32),
                  nn.Neuron(3, bias_feature=True, dtype=np.float32), nn.Maxout(3, 2, dtype=np.float32),
                  nn.MLP([3, 4, 2], dtype=np.float32)]:
        out = layer(x)
        assert out.dtype == np.float32, layer
        out.sum().backward()
        assert all(p.grad.dtype == np.float32 for p in layer.parameters()), layer


def test_neuron_with_bias_feature_equals_neuron_with_bias():
    x = np.random.default_rng(0).normal(size=(6, 3))
    plain = nn.Neuron(3, activation="logistic", rng=7)
    folded = nn.Neuron(3, activation="logistic", bias_feature=True, rng=7)
    assert folded.weight.shape == (4,) and "bias" not in dict(folded.named_parameters())
    np.testing.assert_array_equal(folded.weight.numpy()[:3], plain.weight.numpy())   # same start
    with cr.no_grad():
        plain.bias.copy_(0.3)
        folded.weight.copy_(np.append(plain.weight.numpy(), 0.3))
    y_plain, y_folded = plain(x), folded(x)
    np.testing.assert_allclose(y_folded.numpy(), y_plain.numpy(), rtol=1e-15, atol=1e-15)
    (y_plain * np.arange(6)).sum().backward()
    (y_folded * np.arange(6)).sum().backward()
    np.testing.assert_allclose(folded.weight.grad[:3], plain.weight.grad, rtol=1e-14)
    np.testing.assert_allclose(folded.weight.grad[3], plain.bias.grad, rtol=1e-14)


def test_neuron_is_logistic_regression():
    n = nn.Neuron(2, activation="logistic", rng=0)
    x = np.array([[0.5, -1.0], [2.0, 0.1]])
    a = x @ n.weight.numpy() + n.bias.numpy()
    np.testing.assert_allclose(n(x).numpy(), 1 / (1 + np.exp(-a)))
    assert n(x[0]).shape == ()


def test_maxout_takes_the_largest_of_its_linear_pieces():
    m = nn.Maxout(3, 2, pieces=3, rng=0)
    x = np.random.default_rng(1).normal(size=(5, 3))
    pieces = (x @ m.weight.numpy().T + m.bias.numpy()).reshape(5, 2, 3)
    np.testing.assert_array_equal(m(x).numpy(), pieces.max(axis=2))


def test_mlp_has_the_requested_layer_sizes():
    m = nn.MLP([784, 256, 128, 10], rng=0)
    shapes = [p.shape for p in m.parameters()]
    assert shapes == [(256, 784), (256,), (128, 256), (128,), (10, 128), (10,)]
    assert [type(x).__name__ for x in m.layers] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    maxout = nn.MLP([4, 3, 2], activation="maxout", pieces=2, rng=0)
    assert type(maxout.layers[0]).__name__ == "Maxout" and maxout.layers[0].weight.shape == (6, 4)


@pytest.mark.parametrize("layer, x, name", [
    (nn.Linear(4, 2), np.ones((3, 5)), "Linear"),
    (nn.Neuron(4), np.ones((3, 3)), "Neuron"),
    (nn.Neuron(4, bias_feature=True), np.ones((3, 5)), "Neuron"),
    (nn.Maxout(4, 2), np.ones((3, 7)), "Maxout"),
    (nn.MLP([4, 3, 2]), np.ones((3, 6)), "MLP"),
])
def test_wrong_feature_count_names_layer_expected_and_actual(layer, x, name):
    with pytest.raises(ValueError, match=rf"^{name}\(.*expected 4 input features.*got {x.shape[1]}"):
        layer(x)


def test_bad_layer_arguments_are_refused():
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="unknown activation 'sigmoidal'"):
        nn.Neuron(3, activation="sigmoidal")
    with pytest.raises(ValueError, match="unknown activation"):
        nn.MLP([3, 2, 1], activation="swish")
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="unknown init"):
        nn.Linear(2, 2, init="glorious")


def test_dropout_is_inverted_and_the_identity_in_eval_mode():
    x = np.ones((200, 100))
    d = nn.Dropout(0.25, rng=0)
    y = np.asarray(d(x))
    zero = y == 0
    assert abs(zero.mean() - 0.25) < 0.01
    np.testing.assert_allclose(y[~zero], 1 / 0.75)
    np.testing.assert_array_equal(np.asarray(nn.Dropout(0.25, rng=0)(x)), y)       # seeded
    d.eval()
    assert d(x) is x
    assert np.all(np.asarray(nn.Dropout(1.0)(x)) == 0)


# --------------------------------------------------------------------------- activations

def test_activation_functions_match_their_formulas():
    a = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(A.identity(a), a)
    np.testing.assert_allclose(A.logistic(a), 1 / (1 + np.exp(-a)))
    np.testing.assert_allclose(A.tanh(a), np.tanh(a))
    np.testing.assert_allclose(A.relu(a), np.maximum(a, 0))
    np.testing.assert_allclose(A.leaky_relu(a, 0.1), np.where(a > 0, a, 0.1 * a))
    np.testing.assert_allclose(A.softplus(a), np.log1p(np.exp(a)))
    assert A.sigmoid is A.logistic and A.linear is A.identity


def test_activation_modules_apply_their_functions():
    a = np.linspace(-2, 2, 7)
    for module, fn in [(nn.Identity(), A.identity), (nn.Sigmoid(), A.logistic), (nn.Logistic(), A.logistic),
                       (nn.Tanh(), A.tanh), (nn.ReLU(), A.relu), (nn.Softplus(), A.softplus)]:
        np.testing.assert_array_equal(np.asarray(module(a)), np.asarray(fn(a)))
    np.testing.assert_array_equal(np.asarray(nn.LeakyReLU(0.2)(a)), np.asarray(A.leaky_relu(a, 0.2)))


@pytest.mark.parametrize("name", ["identity", "logistic", "tanh", "relu", "leaky_relu", "softplus"])
def test_activation_passes_gradcheck(name):
    a = np.array([-2.1, -0.7, 0.3, 1.4, 2.9])
    assert cr.gradcheck(nn.get_activation(name), a, order=2)


def test_maxout_function_passes_gradcheck_and_keeps_float32():
    a = np.random.default_rng(0).normal(size=(3, 6))
    assert cr.gradcheck(lambda v: A.maxout(v, 3), a, order=2)
    t = cr.tensor(a.astype(np.float32), requires_grad=True)
    out = A.maxout(t, 2)
    out.sum().backward()
    assert out.dtype == np.float32 and t.grad.dtype == np.float32


def test_relu_derivative_at_zero_is_zero():
    a = cr.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    A.relu(a).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.0, 0.0, 1.0])


def test_relu_is_maxout_with_one_piece_fixed_at_zero():
    a = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])

    def as_maxout(v):                      # max{0, a}: pieces (0, a) for each unit
        return A.maxout(cnp.stack([cnp.zeros_like(v), v], axis=-1), 2).reshape(-1)

    np.testing.assert_array_equal(np.asarray(as_maxout(a)), np.asarray(A.relu(a)))
    np.testing.assert_array_equal(cr.grad(lambda v: cnp.sum(as_maxout(v) * np.arange(1, 6)))(a),
                                  cr.grad(lambda v: cnp.sum(A.relu(v) * np.arange(1, 6)))(a))


def test_get_activation_knows_the_names_and_lists_them_otherwise():
    for name in ["relu", "tanh", "logistic", "sigmoid", "identity", "linear", "softplus", "leaky_relu"]:
        assert callable(nn.get_activation(name))
    with pytest.raises(ValueError, match=r"unknown activation 'gelu'; valid names are \[.*'relu'.*\]"):
        nn.get_activation("gelu")


# --------------------------------------------------------------------------- init

def test_initialisers_have_the_documented_scale():
    rng = np.random.default_rng(0)
    w = nn.Parameter(np.empty((400, 300)))
    init.xavier_uniform_(w, rng=rng)
    bound = math.sqrt(6 / 700)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    init.xavier_normal_(w, rng=rng)
    assert abs(w.numpy().std() - math.sqrt(2 / 700)) < 0.01 * math.sqrt(2 / 700) * 5
    init.kaiming_uniform_(w, rng=rng)
    bound = math.sqrt(6 / 300)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    init.kaiming_normal_(w, rng=rng)
    assert abs(w.numpy().std() - math.sqrt(2 / 300)) < 0.05 * math.sqrt(2 / 300)
    init.uniform_(w, -0.5, 0.25, rng=rng)
    assert w.numpy().min() >= -0.5 and w.numpy().max() <= 0.25
    init.normal_(w, 3.0, 0.1, rng=rng)
    assert abs(w.numpy().mean() - 3.0) < 0.01
    init.zeros_(w)
    assert not w.numpy().any()
    assert init.glorot_uniform_ is init.xavier_uniform_ and init.he_uniform_ is init.kaiming_uniform_


def test_initialisers_are_reproducible_from_a_seed_and_work_on_arrays():
    a, b = np.empty((3, 4)), np.empty((3, 4))
    init.kaiming_normal_(a, rng=5)
    init.kaiming_normal_(b, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    p = nn.Parameter(np.zeros((3, 4)))
    version = p._version
    init.normal_(p, rng=1)
    assert p._version > version and p.numpy().any()


def test_layers_pick_he_for_relu_and_glorot_otherwise():
    relu = nn.MLP([300, 200, 10], activation="relu", rng=0)
    tanh = nn.MLP([300, 200, 10], activation="tanh", rng=0)
    he, glorot = math.sqrt(6 / 300), math.sqrt(6 / 500)
    assert np.abs(relu.layers[0].weight.numpy()).max() > 0.99 * he
    assert np.abs(tanh.layers[0].weight.numpy()).max() <= glorot
    np.testing.assert_array_equal(relu.layers[0].bias.numpy(), 0.0)
    same = nn.MLP([300, 200, 10], activation="relu", rng=0)
    np.testing.assert_array_equal(same.layers[2].weight.numpy(), relu.layers[2].weight.numpy())


def test_a_deep_copy_is_an_independent_model():
    import copy

    m = nn.MLP([3, 4, 2], rng=0)
    twin = copy.deepcopy(m)
    x = np.ones((2, 3))
    np.testing.assert_array_equal(twin(x).numpy(), m(x).numpy())
    assert isinstance(twin.layers[0].weight, nn.Parameter) and twin.layers[0].weight is not m.layers[0].weight
    with cr.no_grad():
        twin.layers[0].weight.add_(1.0)
    assert not np.array_equal(twin(x).numpy(), m(x).numpy())
