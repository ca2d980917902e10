"""chainrule.nn: modules, parameters, layers, activations and initialisers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import numerical_jacobian

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import nn, optim
from chainrule._core import version_of
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
    nn.Softmax(dim=1),
    nn.LogSoftmax(dim=0),
    nn.Sequential(nn.Linear(3, 2, rng=0), nn.LogSoftmax()),
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


@pytest.mark.parametrize("activation", [None, "relu"])
def test_linear_checks_a_weight_or_bias_whose_shape_changed_after_earlier_calls(activation):
    # the layer checks its weight and bias once until something is assigned: .data or setattr
    layer, x = nn.Linear(3, 2), np.ones((4, 3))
    forward = lambda: layer._forward(x, activation)
    assert forward().shape == (4, 2)
    layer.weight.data = np.ones((2, 5))
    with pytest.raises(ValueError, match=r"input of shape \(4, 3\) does not match weight of shape \(2, 5\)"):
        forward()
    layer.weight = nn.Parameter(np.ones((2, 3)))
    assert forward().shape == (4, 2)
    layer.bias = nn.Parameter(np.zeros(7))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\), got \(7,\)"):
        forward()
    layer.bias = None
    np.testing.assert_allclose(np.asarray(forward()), np.full((4, 2), 3.0))        # 1·1·3, no bias


def test_a_pickled_linear_checks_its_weight_and_bias_again_in_the_process_that_loads_it():
    # the count of edits that _checked records belongs to this process
    import pickle

    from chainrule._core import _edits
    layer = nn.Linear(3, 2)
    layer(np.ones((4, 3)))
    layer.bias = nn.Parameter(np.zeros(1))               # a bias of the wrong shape, unchecked
    copy = pickle.loads(pickle.dumps(layer))
    now = _edits[0]
    _edits[0] = copy.__dict__["_checked"][0]             # a process whose count is the recorded one
    try:
        with pytest.raises(ValueError, match=r"bias must have shape \(2,\), got \(1,\)"):
            copy(np.ones((4, 3)))
    finally:
        _edits[0] = now


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
    version = version_of(p)
    init.normal_(p, rng=1)
    assert version_of(p) > version and p.numpy().any()


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


# --------------------------------------------------------------------------- review fixes

def test_assigning_an_array_to_a_registered_parameter_is_a_type_error_and_keeps_it_registered():
    lin = nn.Linear(3, 2, rng=0)
    with pytest.raises(TypeError, match=r"Linear: cannot assign an object of type ndarray to the registered "
                                        r"parameter 'weight'.*nn.Parameter\(value\)"):
        lin.weight = np.zeros((2, 3))
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    lin.weight = nn.Parameter(np.ones((2, 3)))            # a new Parameter replaces it
    np.testing.assert_array_equal(lin.state_dict()["weight"], np.ones((2, 3)))
    lin.bias = None                                       # None empties the slot, as in PyTorch
    assert lin.bias is None and [n for n, _ in lin.named_parameters()] == ["weight"]
    seq = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="registered sub-module '0'"):
        seq.__setattr__("0", "not a module")


def test_module_list_registers_indexes_and_iterates_its_modules():
    class Tower(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 2, rng=k) for k in range(3)])
            self.drop = nn.ModuleList([nn.Dropout(0.5)])

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return x

    tower = Tower()
    names = [n for n, _ in tower.named_parameters()]
    assert names == [f"blocks.{k}.{w}" for k in range(3) for w in ("weight", "bias")]
    assert len(tower.blocks) == 3 and tower.blocks[-1] is list(tower.blocks)[2]
    assert isinstance(tower.blocks[1:], nn.ModuleList) and len(tower.blocks[1:]) == 2
    tower.eval()
    assert not tower.drop[0].training
    x = np.ones((1, 2))
    expected = tower.blocks[2](tower.blocks[1](tower.blocks[0](x)))
    np.testing.assert_array_equal(tower(x).numpy(), expected.numpy())
    first = tower.blocks[0]
    del tower.blocks[0]
    tower.blocks.append(first)
    tower.blocks.insert(0, nn.Linear(2, 2))
    assert len(tower.blocks) == 4 and tower.blocks[3] is first
    expected_names = [f"blocks.{k}.{w}" for k in range(4) for w in ("weight", "bias")]
    assert sorted(tower.state_dict()) == sorted(expected_names)
    with pytest.raises(IndexError, match="index 4 is out of range for 4 modules"):
        tower.blocks[4]
    with pytest.raises(TypeError, match="expected a Module, got int"):
        tower.blocks.append(3)


def test_module_dict_registers_its_modules_under_their_keys():
    heads = nn.ModuleDict({"digits": nn.Linear(4, 10), "parity": nn.Linear(4, 2)})
    heads["sign"] = nn.Linear(4, 1)
    assert list(heads) == ["digits", "parity", "sign"] and "parity" in heads and len(heads) == 3
    assert [n for n, _ in heads.named_parameters()][:2] == ["digits.weight", "digits.bias"]
    assert heads["sign"].out_features == 1 and [k for k, _ in heads.items()] == heads.keys()
    assert heads.pop("parity").out_features == 2 and "parity" not in heads
    assert "parity.weight" not in heads.state_dict()
    with pytest.raises(KeyError, match=r"no module 'colour'; it holds \['digits', 'sign'\]"):
        heads["colour"]
    with pytest.raises(TypeError, match="not a Module"):
        heads["x"] = np.zeros(3)


def test_a_plain_list_of_modules_as_an_attribute_is_refused_pointing_to_module_list():
    class Net(nn.Module):
        def __init__(self, container):
            super().__init__()
            self.layers = container

    with pytest.raises(TypeError, match=r"'layers' is a plain list of Modules.*use nn.ModuleList"):
        Net([nn.Linear(2, 2)])
    with pytest.raises(TypeError, match=r"plain tuple of Modules.*nn.ModuleList"):
        Net((nn.Linear(2, 2),))
    with pytest.raises(TypeError, match=r"plain dict of Modules.*nn.ModuleDict"):
        Net({"a": nn.Linear(2, 2)})
    assert Net([1, 2]).layers == [1, 2]                   # lists of other things are ordinary attributes


def test_sequential_append_after_a_deletion_never_overwrites_a_module():
    seq = nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Identity())
    delattr(seq, "1")
    last = nn.Sigmoid()
    seq.append(last)
    assert len(seq) == 3 and isinstance(seq[1], nn.Identity) and seq[2] is last


def test_layers_cast_an_input_of_another_dtype_to_their_parameters_dtype():
    x64 = np.random.default_rng(0).random((5, 4))
    f32 = np.float32
    for layer in (nn.Linear(4, 3, rng=0, dtype=f32), nn.MLP([4, 6, 3], rng=0, dtype=f32),
                  nn.Neuron(4, rng=0, dtype=f32), nn.Neuron(4, bias_feature=True, rng=0, dtype=f32),
                  nn.Maxout(4, 3, rng=0, dtype=f32)):
        out = layer(x64)
        assert out.dtype == np.float32, type(layer).__name__
        np.testing.assert_allclose(out.numpy(), layer(x64.astype(np.float32)).numpy(), rtol=1e-6)
        out.sum().backward()
        assert all(p.grad.dtype == np.float32 for p in layer.parameters())
        assert layer((x64 * 255).astype(np.uint8)).dtype == np.float32        # integer pixels too
    lin = nn.Linear(4, 3, rng=0, dtype=np.float32)
    g = cr.grad(lambda x: lin(x).sum())(x64)              # traced inputs are cast differentiably
    np.testing.assert_allclose(g, np.tile(lin.weight.numpy().sum(axis=0), (5, 1)), rtol=1e-6)


def test_mlp_accepts_any_callable_as_its_activation():
    def cube(a):
        return a * a * a

    mlp = nn.MLP([3, 4, 2], activation=cube, rng=0)
    x = np.random.default_rng(1).standard_normal((2, 3))
    first, last = mlp.layers[0], mlp.layers[2]
    expected = last(cube(first(x)))
    np.testing.assert_allclose(mlp(x).numpy(), expected.numpy())
    check_module(mlp, x)
    relu_fn = nn.MLP([3, 4, 2], activation=A.relu, rng=0)     # our own functions keep their init
    relu_name = nn.MLP([3, 4, 2], activation="relu", rng=0)
    np.testing.assert_array_equal(relu_fn.layers[0].weight.numpy(), relu_name.layers[0].weight.numpy())


def test_maxout_is_not_an_activation_name_and_the_error_says_where_it_lives():
    for call in (lambda: A.get_activation("maxout"), lambda: A.activation_module("maxout"),
                 lambda: nn.Neuron(3, activation="maxout")):
        with pytest.raises(ValueError, match=r"maxout is not an elementwise activation.*nn.Maxout.*"
                                             r"MLP\(\.\.\., activation='maxout'\)"):
            call()


@pytest.mark.parametrize("a", [0.0, 0.2, math.sqrt(5.0)])
@pytest.mark.parametrize("fill", ["uniform", "normal"])
def test_kaiming_initialisers_use_the_leaky_slope_a_as_pytorch_does(a, fill):
    fan_in = 50
    w = np.empty((4000, fan_in))
    gain = math.sqrt(2.0 / (1.0 + a * a))                 # PyTorch's default nonlinearity="leaky_relu"
    std = gain / math.sqrt(fan_in)
    if fill == "uniform":
        init.kaiming_uniform_(w, a=a, rng=0)
        bound = math.sqrt(3.0) * std
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.999 * bound
    else:
        init.kaiming_normal_(w, a=a, rng=0)
        assert abs(w.std() / std - 1.0) < 0.01
    # a names the slope only for leaky_relu; nonlinearity="relu" keeps He's √2
    r = np.empty((4000, fan_in))
    init.kaiming_uniform_(r, a=a, nonlinearity="relu", rng=0)
    np.testing.assert_allclose(np.abs(r).max(), math.sqrt(6.0 / fan_in), rtol=1e-3)


def test_layers_defaults_are_still_he_for_relu_after_the_kaiming_change():
    lin = nn.MLP([200, 300, 2], activation="relu", rng=0).layers[0]
    bound = math.sqrt(6.0 / 200)
    w = lin.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.999 * bound


def test_dropout_draws_its_mask_in_the_activations_dtype():
    x = np.ones((64, 32), np.float32)
    out = nn.Dropout(0.25, rng=7)(x)
    keep = np.random.default_rng(7).random(x.shape, dtype=np.float32) >= 0.25
    np.testing.assert_array_equal(out, np.where(keep, np.float32(1 / 0.75), np.float32(0)))
    assert out.dtype == np.float32
    x64 = np.ones((8, 8))
    keep64 = np.random.default_rng(7).random(x64.shape) >= 0.25
    np.testing.assert_array_equal(nn.Dropout(0.25, rng=7)(x64) != 0, keep64)


def test_dropout_draws_its_mask_in_the_activations_memory_order():
    # a Fortran-ordered activation (a Linear output for a small batch) gets a Fortran-ordered
    # mask, so the multiply runs over both arrays in step
    x = np.asfortranarray(np.arange(1.0, 1 + 40 * 300).reshape(40, 300))
    out = nn.Dropout(0.5, rng=3)(x)
    keep = (np.random.default_rng(3).random((300, 40)) >= 0.5).T
    assert out.flags.f_contiguous
    np.testing.assert_array_equal(out, np.where(keep, 2 * x, 0.0))
    layer = nn.Sequential(nn.Linear(4, 300, rng=0), nn.Dropout(0.5, rng=3))
    assert layer(np.ones((40, 4))).numpy().flags.f_contiguous


def test_view_shares_memory_or_is_refused_like_pytorchs():
    t = cr.tensor(np.arange(6.0).reshape(2, 3))
    v = t.view(-1)
    v.numpy()[0] = 10.0
    assert t.numpy()[0, 0] == 10.0
    with pytest.raises(RuntimeError, match=r"view: a tensor of shape \(3, 2\) cannot be viewed as "
                                           r"shape \(6,\) without copying.*use reshape\(\)"):
        t.T.view(6)
    np.testing.assert_array_equal(t.T.reshape(6), t.numpy().T.reshape(6))
    with cr.no_grad():
        y = nn.Linear(4, 8, rng=0)(np.ones((2, 4)))      # Fortran-ordered (2 rows, 8 outputs)
    with pytest.raises(RuntimeError, match="use reshape"):
        y.view(-1)


def _graph_ops(t):
    """The primitive names of a Tensor's graph, output first."""
    ops, stack = [], [t._node]
    while stack:
        node = stack.pop()
        if node.prim is not None:
            ops.append(node.prim.name)
            stack.extend(p for _, p in node.parents)
    return ops


def test_sequential_runs_linear_then_relu_as_one_primitive_with_the_same_values_and_gradients():
    seq = nn.Sequential(nn.Linear(5, 4, rng=0), nn.ReLU(), nn.Linear(4, 3, rng=1), nn.ReLU(),
                        nn.Linear(3, 2, rng=2))
    x = np.random.default_rng(3).standard_normal((7, 5))
    y = seq(x)
    assert _graph_ops(y) == ["linear", "linear_relu", "linear_relu"]
    cnp.sum(y ** 2).backward()
    fused = [p.grad for p in seq.parameters()]
    seq.zero_grad()
    h = x
    for m in seq:                                   # module by module: five nodes
        h = m(h)
    assert _graph_ops(h) == ["linear", "relu", "linear", "relu", "linear"]
    np.testing.assert_allclose(h.numpy(), y.numpy(), rtol=1e-14)
    cnp.sum(h ** 2).backward()
    for got, want in zip(fused, (p.grad for p in seq.parameters())):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_sequential_does_not_fuse_subclasses_that_may_change_either_step():
    class Doubled(nn.ReLU):
        def forward(self, x):
            return 2 * super().forward(x)

    seq = nn.Sequential(nn.Linear(3, 2, rng=0), Doubled())
    x = np.random.default_rng(4).standard_normal((4, 3))
    y = seq(x)
    assert "linear_relu" not in _graph_ops(y)
    np.testing.assert_allclose(y.numpy(), 2 * np.maximum(seq[0](x).numpy(), 0))


def test_parameter_attributes_follow_the_registry_through_reassignment_and_functional_call():
    lin = nn.Linear(3, 2, rng=0)
    w0 = lin.weight
    assert lin.weight is lin._parameters["weight"]
    lin.weight = nn.Parameter(np.zeros((2, 3)))
    assert lin.weight is lin._parameters["weight"] and lin.weight is not w0
    w = cr.tensor(np.ones((2, 3)))
    out = functional_call(lin, {"weight": w}, np.ones((1, 3)))     # lin.weight is w meanwhile
    np.testing.assert_allclose(out.numpy(), np.full((1, 2), 3.0))
    assert lin.weight is lin._parameters["weight"] and isinstance(lin.weight, nn.Parameter)
    lin.bias = None
    assert lin.bias is None and "bias" in lin._parameters and lin(np.ones((1, 3))).shape == (1, 2)
    del lin.weight
    with pytest.raises(AttributeError):
        _ = lin.weight
    assert [n for n, _ in lin.named_parameters()] == []


def test_sequential_does_not_fuse_modules_whose_forward_was_replaced_on_the_instance():
    lin, act = nn.Linear(2, 2, rng=0), nn.ReLU()
    act.forward = lambda x: x * 0 + 7.0
    np.testing.assert_array_equal(np.asarray(nn.Sequential(lin, act)(np.ones((1, 2)))), [[7.0, 7.0]])
    lin2 = nn.Linear(2, 2, rng=0)
    lin2.forward = lambda x: x * 0 - 1.0
    np.testing.assert_array_equal(np.asarray(nn.Sequential(lin2, nn.ReLU())(np.ones((1, 2)))),
                                  [[0.0, 0.0]])


def test_registered_names_stay_consistent_through_copy_reinit_and_class_attributes():
    import copy
    m = nn.Linear(2, 2, rng=0)
    m2 = copy.copy(m)
    assert m2.weight is m.weight                         # shallow: the same parameters
    m2.weight = nn.Parameter(np.zeros((2, 2)))
    assert m.weight is dict(m.named_parameters())["weight"] and m.weight is not m2.weight
    assert m2.weight is dict(m2.named_parameters())["weight"]

    class Defaults(nn.Module):
        bias = None                                      # a class default, hidden once registered

        @property
        def scale(self):                                 # a property still comes first
            return 2.0

        def __init__(self):
            super().__init__()
            self.bias = nn.Parameter(np.ones(2))
            self.scale = nn.Parameter(np.ones(1))

    d = Defaults()
    assert d.bias is d._parameters["bias"] and d.scale == 2.0
    assert [n for n, _ in d.named_parameters()] == ["bias", "scale"]

    class Slotted(nn.Linear):                           # copy.copy keeps Python's protocol
        __slots__ = ("extra",)

    sl = Slotted(2, 2, rng=0)
    sl.extra = 5
    c = copy.copy(sl)
    assert c.extra == 5 and c.weight is sl.weight
    m.__init__(2, 2)                                     # built again: old names are gone first
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert m.weight is dict(m.named_parameters())["weight"]


def test_an_activation_given_as_the_librarys_function_or_module_is_known_by_its_name():
    assert A.activation_name(A.relu) == A.activation_name(A.ReLU()) == "relu"
    assert A.activation_name(lambda x: x) is None
    assert type(A.activation_module(A.tanh)) is A.Tanh
    mlp = nn.MLP([4, 8, 3], activation=A.relu, rng=0)          # fused like activation="relu"
    assert type(mlp.layers[1]) is A.ReLU and mlp.layers[0]._fused_with(mlp.layers[1]) is not None
    own = nn.MLP([4, 8, 3], activation=lambda x: x * 2, rng=0)
    assert type(own.layers[1]) is A.Function


def test_a_copy_of_a_sequential_that_has_run_applies_its_own_modules():
    # Sequential keeps its plan of (fused) steps between calls; copies must not inherit it
    import copy
    import pickle
    model = nn.MLP([3, 4, 2], rng=0)
    x = np.ones((2, 3))
    before = model(x).numpy()
    twin = copy.deepcopy(model)
    with cr.no_grad():
        twin.layers[0].weight.mul_(0.0)
    np.testing.assert_array_equal(model(x).numpy(), before)
    assert not np.allclose(twin(x).numpy(), before)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model))(x).numpy(), before)
    model.layers.append(nn.ReLU())                # a change of modules is seen at the next call
    np.testing.assert_array_equal(model(x).numpy(), np.maximum(before, 0))


def test_replacing_a_registered_module_or_parameter_keeps_its_place_as_in_pytorch():
    ml = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 2), nn.Linear(1, 3)])
    ml[0] = nn.Linear(1, 4)
    assert [m.out_features for m in ml] == [4, 2, 3] and ml[0].out_features == 4
    assert [k for k, _ in ml.named_parameters()][:2] == ["0.weight", "0.bias"]
    lin = nn.Linear(2, 3)
    lin.weight = nn.Parameter(np.zeros((3, 2)))
    assert [k for k, _ in lin.named_parameters()] == ["weight", "bias"]


def test_functional_call_replaces_a_tied_parameter_wherever_it_is_used():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 2, rng=0), nn.Linear(2, 2, rng=1)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    model, x = Tied(), np.array([[1.0, 2.0]])
    W0 = model.a.weight.numpy().copy()
    np.testing.assert_allclose(nn.functional_call(model, {"a.weight": np.zeros((2, 2))}, x).numpy(),
                               model.b.bias.numpy()[None, :])
    g = cr.grad(lambda w: cnp.sum(nn.functional_call(model, {"a.weight": w}, x) ** 2))(W0)
    cnp.sum(model(x) ** 2).backward()                     # both uses, as backward() sees them
    np.testing.assert_allclose(g, model.a.weight.grad, rtol=1e-12)
    assert model.a.weight is model.b.weight and np.array_equal(model.a.weight.numpy(), W0)
    with pytest.raises(ValueError, match="name the same \\(tied\\) parameter"):
        nn.functional_call(model, {"a.weight": np.zeros((2, 2)), "b.weight": np.ones((2, 2))}, x)


# --------------------------------------------------------------------------- ParameterList and ParameterDict

class _Scaled(nn.Module):
    """A linear layer followed by a learned elementwise scale per stage and a learned shift."""

    def __init__(self, stages=2):
        super().__init__()
        self.lin = nn.Linear(2, 2, rng=0)
        self.scales = nn.ParameterList([nn.Parameter(np.full(2, 1.0 + k)) for k in range(stages)])
        self.shifts = nn.ParameterDict({"out": nn.Parameter(np.array([0.5, -0.5]))})

    def forward(self, x):
        y = self.lin(x)
        for s in self.scales:
            y = y * s
        return y + self.shifts["out"]


def test_parameters_in_a_parameter_list_are_registered_and_trained_by_an_optimizer_step():
    model = _Scaled()
    assert [n for n, _ in model.named_parameters()] == ["lin.weight", "lin.bias", "scales.0", "scales.1",
                                                        "shifts.out"]
    assert list(model.state_dict()) == [n for n, _ in model.named_parameters()]
    assert any(p is model.scales[1] for p in model.parameters())
    before = {n: p.numpy().copy() for n, p in model.named_parameters()}
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = np.array([[1.0, 2.0], [-1.0, 0.5]])
    cnp.sum(model(x) ** 2).backward()
    grads = {n: p.grad.copy() for n, p in model.named_parameters()}
    opt.step()
    for n, p in model.named_parameters():
        assert np.abs(grads[n]).max() > 0
        np.testing.assert_allclose(p.numpy(), before[n] - 0.1 * grads[n], rtol=1e-12)


def test_parameter_containers_round_trip_through_state_dict_checkpoint_copy_pickle_and_to(tmp_path):
    import copy
    import pickle

    from chainrule import checkpoint

    model, x = _Scaled(), np.array([[1.0, 2.0]])
    with cr.no_grad():
        model.scales[0].add_(0.25)
        model.shifts["out"].mul_(3.0)
    expected = model(x).numpy()
    twin = _Scaled()
    assert not np.allclose(twin(x).numpy(), expected)
    twin.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(twin(x).numpy(), expected)

    opt = optim.Adam(model.parameters(), lr=0.01)
    cnp.sum(model(x)).backward()
    opt.step()
    checkpoint.save(tmp_path / "scaled.safetensors", model, opt)
    loaded = _Scaled()
    loaded_opt = optim.Adam(loaded.parameters(), lr=0.01)
    checkpoint.load(tmp_path / "scaled.safetensors", loaded, loaded_opt)
    for (n, p), (m, q) in zip(model.named_parameters(), loaded.named_parameters(), strict=True):
        assert n == m and np.array_equal(p.numpy(), q.numpy())

    for other in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert other.scales[0] is not model.scales[0] and other.shifts["out"] is not model.shifts["out"]
        assert [n for n, _ in other.named_parameters()] == [n for n, _ in model.named_parameters()]
        np.testing.assert_array_equal(other(x).numpy(), model(x).numpy())
    model.to(np.float32)
    assert model.scales[1].dtype == np.float32 and model.shifts["out"].dtype == np.float32
    out = functional_call(model, {"scales.1": np.zeros(2, np.float32)}, x)
    np.testing.assert_array_equal(out.numpy(), model.shifts["out"].numpy()[None, :])


def _identical(got, expected):
    """The same objects in the same order (``==`` on Tensors would compare their values)."""
    got = list(got)
    return len(got) == len(expected) and all(g is e for g, e in zip(got, expected))


def test_parameter_list_indexes_slices_sets_and_deletes_like_a_list_keeping_positions():
    a, b, c, d = (nn.Parameter(np.full(1, float(k))) for k in range(4))
    pl = nn.ParameterList([a, b, c])
    assert len(pl) == 3 and _identical(pl, [a, b, c]) and pl[-1] is c and pl[np.int64(1)] is b
    assert isinstance(pl[1:], nn.ParameterList) and _identical(pl[1:], [b, c])
    assert _identical(pl[::-2], [c, a])
    assert b in pl and nn.Parameter(np.full(1, 1.0)) not in pl          # membership is identity
    pl[1] = d                                                            # keeps position 1
    assert _identical(pl, [a, d, c]) and [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    assert pl.state_dict()["1"][0] == 3.0
    pl.insert(0, b)
    assert _identical(pl, [b, a, d, c]) and dict(pl.named_parameters())["3"] is c
    del pl[-1]
    del pl[:2]
    assert _identical(pl, [d]) and [n for n, _ in pl.named_parameters()] == ["0"]
    assert pl.append(a).extend([c]) is pl and _identical(pl, [d, a, c])
    with pytest.raises(IndexError, match="ParameterList: index 3 is out of range for 3 parameters"):
        pl[3]
    with pytest.raises(IndexError, match="index -4 is out of range"):
        pl[-4] = a
    with pytest.raises(TypeError, match="ParameterList indices must be integers or slices, not str"):
        pl["0"]
    with pytest.raises(TypeError, match="ParameterList: assigning to a slice is not supported"):
        pl[:1] = [a]


def test_parameter_dict_registers_its_parameters_under_their_keys():
    w, s = nn.Parameter(np.ones((2, 3))), nn.Parameter(np.zeros(3))
    pd = nn.ParameterDict({"weight": w})
    pd["scale"] = s
    pd.update([("shift", np.ones(3))])
    assert list(pd) == pd.keys() == ["weight", "scale", "shift"] and len(pd) == 3 and "scale" in pd
    assert _identical(pd.values()[:2], [w, s]) and [k for k, _ in pd.items()] == pd.keys()
    assert [n for n, _ in pd.named_parameters()] == ["weight", "scale", "shift"]
    pd["weight"] = nn.Parameter(np.zeros((2, 3)))                         # keeps its place
    assert pd.keys()[0] == "weight" and pd["weight"] is not w
    assert pd.pop("scale") is s and "scale" not in pd and "scale" not in pd.state_dict()
    del pd["shift"]
    assert list(pd.state_dict()) == ["weight"]
    with pytest.raises(KeyError, match=r"no parameter 'bias'; it holds \['weight'\]"):
        pd["bias"]
    for key in ("keys", "training", "_parameters"):          # would hide a method or the registry
        with pytest.raises(KeyError, match=f"key '{key}' would shadow an attribute of ParameterDict"):
            pd[key] = np.ones(1)
    with pytest.raises(KeyError, match="key 'pop' would shadow an attribute of ModuleDict"):
        nn.ModuleDict({"pop": nn.ReLU()})
    assert pd.keys() == ["weight"]


def test_parameter_containers_wrap_float_arrays_and_tensors_and_refuse_other_values_by_name():
    data = np.array([1.0, 2.0], np.float32)
    pl = nn.ParameterList([data, cr.tensor(np.ones(3))])
    assert all(type(p) is nn.Parameter and p.requires_grad for p in pl)
    assert pl[0].dtype == np.float32 and not np.shares_memory(pl[0].numpy(), data)
    assert type(nn.ParameterDict({"w": np.zeros(2)})["w"]) is nn.Parameter
    with pytest.raises(TypeError, match=r"ParameterList\.append: expected a Parameter \(or a floating-point "
                                        r"ndarray or Tensor to wrap in one\), got float"):
        pl.append(1.0)
    with pytest.raises(TypeError, match=r"ParameterList\.extend: .*got list"):
        pl.extend([np.ones(1), [1.0, 2.0]])
    assert len(pl) == 2                                   # a refused extend adds nothing
    with pytest.raises(TypeError, match="ParameterList.extend: expected an iterable of Parameters, "
                                        "got a single ndarray; use append"):
        pl.extend(np.ones(3))
    with pytest.raises(TypeError, match=r"ParameterList\.__setitem__: cannot wrap ndarray values of dtype "
                                        r"int32 in a Parameter \(only floating-point values have "
                                        r"gradients\)"):
        pl[0] = np.arange(2, dtype=np.int32)
    with pytest.raises(TypeError, match=r"ParameterList\.insert: .*got Linear"):
        pl.insert(0, nn.Linear(1, 1))
    with pytest.raises(TypeError, match="ParameterDict: the value for 'mask': cannot wrap Tensor values "
                                        "of dtype bool"):
        nn.ParameterDict({"mask": cr.tensor(np.array([True, False]))})
    with pytest.raises(TypeError, match="ParameterDict: the value for 'w': expected a Parameter "
                                        ".*got NoneType"):
        nn.ParameterDict()["w"] = None
    assert [p.dtype for p in pl] == [np.float32, np.float64]


def test_a_plain_list_of_parameters_as_an_attribute_is_refused_pointing_to_parameter_list():
    class Net(nn.Module):
        def __init__(self, container):
            super().__init__()
            self.scales = container

    p = nn.Parameter(np.ones(2))
    with pytest.raises(TypeError, match=r"Net: 'scales' is a plain list of Parameters, which would not be "
                                        r"registered .*use nn\.ParameterList\(\.\.\.\) instead"):
        Net([p])
    with pytest.raises(TypeError, match=r"plain tuple of Parameters.*nn\.ParameterList"):
        Net((p, p))
    with pytest.raises(TypeError, match=r"plain dict of Parameters.*nn\.ParameterDict"):
        Net({"a": p})
    with pytest.raises(TypeError, match=r"plain list of Modules.*nn\.ModuleList"):
        Net([p, nn.Linear(2, 2)])                         # Modules are named first, as before
    assert Net([np.ones(2), cr.tensor(np.ones(2))]).scales[0].shape == (2,)   # arrays stay plain attributes
    assert list(Net(nn.ParameterList([p])).parameters()) == [p]


def test_containers_grow_with_plus_equals_and_removals_make_a_replay_record_again():
    from chainrule.replay import TrainStep

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(3, 3, rng=0)])
            self.scales = nn.ParameterList([np.ones(3)])

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            for s in self.scales:
                x = x * s
            return x

    net = Net()
    net.blocks += [nn.Linear(3, 3, rng=1)]
    net.scales += [np.full(3, 2.0)]
    assert [n for n, _ in net.named_parameters()] == [
        "blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias", "scales.0", "scales.1"]
    d = nn.ParameterDict({"a": np.ones(2)})
    assert d.get("a") is d["a"] and d.get("b") is None and d.get("b", 5) == 5

    x, y = np.ones((4, 3)), np.array([0, 1, 2, 0])
    step = TrainStep(net, nn.losses.cross_entropy, optim.SGD(net.parameters(), lr=0.0))
    for _ in range(3):
        step(x, y)
    assert step.replayed
    del net.blocks[:]                                   # no setattr: still an edit
    expected = float(nn.losses.cross_entropy(net(x), y))
    assert step(x, y) == expected and not step.replayed


def test_apply_visits_every_module_children_first_and_returns_the_module():
    model = nn.MLP([3, 4, 2], rng=0)
    seen = []
    assert model.apply(lambda m: seen.append(m)) is model
    assert [type(m).__name__ for m in seen] == ["Linear", "ReLU", "Linear", "Sequential", "MLP"]

    def set_biases(m):
        if isinstance(m, nn.Linear):
            m.bias.data = np.full(m.bias.shape, 0.5)
    model.apply(set_biases)
    assert all(np.all(m.bias.data == 0.5) for m in model.modules() if isinstance(m, nn.Linear))


def test_a_child_registered_under_two_names_is_one_child_as_in_pytorch():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2, rng=0)
            self.b = self.a

    net, seen = Net(), []
    net.apply(lambda m: seen.append(m))
    assert [type(m).__name__ for m in seen] == ["Linear", "Net"]
    assert [n for n, _ in net.named_children()] == ["a"] and list(net.children()) == [net.a]


def test_a_tuple_input_is_refused_by_name_instead_of_becoming_a_batch_of_batches():
    # a DataLoader over one array yields 1-tuples; np.asarray((xb,)) would have shape (1, N, F)
    from chainrule.data import DataLoader
    model = nn.MLP([3, 4, 2], rng=0)
    for batch in DataLoader(np.ones((5, 3)), batch_size=2):
        with pytest.raises(TypeError, match=r"MLP\(sizes=\[3, 4, 2\].*a tuple of 1.*for \(xb,\) in loader"):
            model(batch)
        assert model(batch[0]).shape == (len(batch[0]), 2)
    with pytest.raises(TypeError, match=r"Linear\(in_features=3.*tuple of 2"):
        nn.Linear(3, 1)((np.ones(3), np.ones(3)))
    with pytest.raises(TypeError, match=r"Linear\(in_features=3.*list of 1"):
        nn.functional_call(nn.Linear(3, 1), {}, [np.ones((2, 3))])   # a list is one argument
    assert nn.Linear(3, 1)([[1.0, 2.0, 3.0]]).shape == (1, 1)        # a list of numbers is an array


def test_subpackages_are_attributes_of_the_package():
    import subprocess
    import sys
    code = ("import chainrule as cr; print(cr.nn.Linear.__name__, cr.optim.SGD.__name__, "
            "cr.data.DataLoader.__name__, 'nn' in dir(cr))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["Linear", "SGD", "DataLoader", "True"]
    with pytest.raises(AttributeError, match="no attribute 'nnn'"):
        cr.nnn  # noqa: B018


def test_softmax_flatten_modules_match_their_definitions():
    x = np.random.default_rng(2).normal(size=(2, 3, 4))
    p = nn.Softmax(dim=1)(x)
    np.testing.assert_allclose(p, np.exp(x) / np.exp(x).sum(1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(nn.LogSoftmax(dim=-1)(x), np.log(np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
                               rtol=1e-13)
    assert nn.Flatten()(x).shape == (2, 12) and nn.Flatten(0)(x).shape == (24,)
    assert nn.Flatten(0, 1)(x).shape == (6, 4) and nn.Flatten(-2)(x).shape == (2, 12)
    t = cr.tensor(x, requires_grad=True)
    (nn.Flatten()(t) * np.arange(12.0)).sum().backward()
    np.testing.assert_array_equal(t.grad, np.broadcast_to(np.arange(12.0).reshape(3, 4), (2, 3, 4)))
    with pytest.raises(ValueError, match=r"Flatten\(start_dim=3, end_dim=-1\): no axes 3..-1 to merge in an "
                                         r"input of shape \(2, 3, 4\)"):
        nn.Flatten(3)(x)
    with pytest.raises(TypeError, match="Softmax: dim must be an integer axis, got None"):
        nn.Softmax(dim=None)


def test_load_state_dict_takes_any_mapping_of_arrays(tmp_path):
    model = nn.Linear(3, 2, rng=0)
    np.savez(tmp_path / "w.npz", **model.state_dict())
    other = nn.Linear(3, 2, rng=1)
    with np.load(tmp_path / "w.npz") as saved:                      # an NpzFile: a Mapping
        other.load_state_dict(saved)
    np.testing.assert_array_equal(other.weight.numpy(), model.weight.numpy())
    with pytest.raises(TypeError, match="expected a dict of arrays by parameter name.*got a list"):
        other.load_state_dict([model.weight.numpy()])


def test_add_module_and_requires_grad_freeze_a_layer_as_in_pytorch():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU())
    model.add_module("head", nn.Linear(4, 2, rng=1))
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "head.weight", "head.bias"]
    assert model[0].requires_grad_(False) is model[0]
    opt = optim.SGD(model.parameters(), lr=0.1)
    frozen, trained = model[0].weight.numpy().copy(), model.head.weight.numpy().copy()
    from chainrule.nn import losses
    losses.cross_entropy(model(np.ones((5, 3))), np.array([0, 1, 0, 1, 0])).backward()
    opt.step()
    assert model[0].weight.grad is None and model.head.weight.grad is not None
    np.testing.assert_array_equal(model[0].weight.numpy(), frozen)
    assert not np.array_equal(model.head.weight.numpy(), trained)
    model.requires_grad_()
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(KeyError, match="the name must be a non-empty string without dots, got 'a.b'"):
        model.add_module("a.b", nn.ReLU())
    with pytest.raises(TypeError, match="'x' must be a Module or None, got a int"):
        model.add_module("x", 3)
