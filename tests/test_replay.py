"""TrainStep: a replayed training step equals the ordinary one to the last bit, and falls back
to the ordinary way (or records again) whenever a replay could differ."""

import warnings

import numpy as np
import pytest

import chainrule.nn as nn
import chainrule.numpy as cnp
import chainrule.optim as optim
from chainrule import no_grad, tensor
from chainrule.nn import losses
from chainrule.replay import TrainStep


def _mlp():
    return nn.MLP([6, 5, 3], rng=0)


def _sgd(model):
    return optim.SGD(model.parameters(), lr=0.1)


def _pair(make_model=_mlp, make_opt=_sgd, loss=losses.cross_entropy):
    """Two identical models: one stepped by a replaying TrainStep, one the ordinary way."""
    models = [make_model(), make_model()]
    steps = [TrainStep(models[0], loss, make_opt(models[0])),
             TrainStep(models[1], loss, make_opt(models[1]), replay=False)]
    return models, steps


def _assert_same(models, values):
    a, b = values
    assert a == b or (a != a and b != b)
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_array_equal(p.data, q.data)
        if q.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_array_equal(p.grad, q.grad)


def _batches(n, shape, classes, rng, dtype=np.float32, batch=8):
    for _ in range(n):
        yield rng.standard_normal((batch,) + shape).astype(dtype), rng.integers(0, classes, batch)


def _run(models, steps, batches):
    replayed = []
    for x, y in batches:
        values = [s(x, y) for s in steps]
        _assert_same(models, values)
        np.testing.assert_array_equal(steps[0].outputs, steps[1].outputs)
        replayed.append(steps[0].replayed)
    return replayed


@pytest.mark.parametrize("opt", [_sgd,
                                 lambda m: optim.SGD(m.parameters(), lr=0.1, momentum=0.9, nesterov=True),
                                 lambda m: optim.Adam(m.parameters(), lr=0.01),
                                 lambda m: optim.AdamW(m.parameters(), lr=0.01, weight_decay=0.1)],
                         ids=["sgd", "nesterov", "adam", "adamw"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_replayed_mlp_step_equals_the_ordinary_step_bit_for_bit(opt, dtype):
    models, steps = _pair(lambda: nn.MLP([6, 5, 4, 3], rng=0, dtype=dtype), opt, losses.cross_entropy)
    replayed = _run(models, steps, _batches(8, (6,), 3, np.random.default_rng(1), dtype))
    assert replayed == [False, False] + [True] * 6           # two recordings, then replays


@pytest.mark.parametrize("make,loss,target", [
    (lambda: nn.MLP([6, 5, 3], activation="tanh", rng=0), nn.CrossEntropyLoss(), "labels"),
    (lambda: nn.Sequential(nn.Linear(6, 4, rng=0), nn.Sigmoid(), nn.Linear(4, 3, rng=1)),
     losses.mse, "float"),
    (lambda: nn.Neuron(6, "identity", bias_feature=True, rng=0),
     lambda a, y: losses.log_loss(a, y, from_logits=True), "binary"),
    (lambda: nn.MLP([6, 4, 1], rng=0), lambda p, y: losses.log_loss(p[:, 0], y, from_logits=True), "binary"),
    (lambda: nn.Sequential(nn.Linear(6, 4, rng=0), nn.ReLU(), nn.Linear(4, 3, rng=1), nn.LogSoftmax(dim=1)),
     nn.NLLLoss(), "labels"),
])
def test_replay_is_exact_for_other_models_and_losses(make, loss, target):
    rng = np.random.default_rng(2)
    models, steps = _pair(make, lambda m: optim.SGD(m.parameters(), lr=0.05, momentum=0.5), loss)
    batches = []
    for _ in range(6):
        x = rng.standard_normal((8, 6))
        y = {"labels": rng.integers(0, 3, 8), "float": rng.standard_normal((8, 3)),
             "binary": rng.integers(0, 2, 8).astype(float)}[target]
        batches.append((x, y))
    assert _run(models, steps, batches)[2:] == [True] * 4


def test_a_new_batch_shape_is_recorded_and_both_programs_are_kept():
    models, steps = _pair()
    rng = np.random.default_rng(3)
    shapes = [8, 8, 8, 5, 5, 5, 8, 5]                  # a full batch, then a short last one, alternating
    batches = [next(_batches(1, (6,), 3, rng, np.float64, batch=n)) for n in shapes]
    assert _run(models, steps, batches) == [False, False, True, False, False, True, True, True]


def test_labels_out_of_range_raise_the_ordinary_error_in_a_replay():
    models, steps = _pair()
    rng = np.random.default_rng(4)
    _run(models, steps, _batches(3, (6,), 3, rng))
    x = rng.standard_normal((8, 6)).astype(np.float32)
    bad = np.array([0, 1, 2, 3, 0, 1, 2, 0])
    messages = []
    for s in steps:
        with pytest.raises(ValueError, match=r"labels must be in \[0, 2\]") as e:
            s(x, bad)
        messages.append(str(e.value))
    assert messages[0] == messages[1]
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_array_equal(p.data, q.data)   # no step was taken


def test_labels_out_of_range_for_the_functional_loss_raise_the_ordinary_error_in_a_replay():
    # softmax_cross_entropy picks labels through a flat index: a label K unchecked in a replay
    # would read the next row's first logit instead of failing
    from chainrule.nn import functional as F
    loss = lambda out, y: F.softmax_cross_entropy(out, y, "mean")
    models, steps = _pair(loss=loss)
    rng = np.random.default_rng(6)
    assert _run(models, steps, _batches(4, (6,), 3, rng))[2:] == [True, True]
    x = rng.standard_normal((8, 6)).astype(np.float32)              # the recorded shape
    for s in steps:
        with pytest.raises(ValueError, match=r"labels must be in \[0, 2\] for 3 classes; got \[3\]"):
            s(x, np.array([3, 1, 2, 1, 0, 0, 1, 2]))
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_array_equal(p.data, q.data)   # no step was taken


def test_nan_logits_in_a_replay_raise_the_ordinary_error():
    models, steps = _pair()
    rng = np.random.default_rng(5)
    _run(models, steps, _batches(3, (6,), 3, rng))
    x = rng.standard_normal((8, 6)).astype(np.float32)
    x[2, 1] = np.nan
    y = rng.integers(0, 3, 8)
    for s in steps:
        with pytest.raises(ValueError, match="the prediction contains NaN"):
            s(x, y)


def test_dropout_masks_are_never_frozen_into_a_replay():
    models, steps = _pair(lambda: nn.MLP([6, 8, 3], dropout=0.5, rng=0))
    with pytest.warns(RuntimeWarning, match="dropout"):
        replayed = _run(models, steps, _batches(5, (6,), 3, np.random.default_rng(6)))
    assert not any(replayed)
    assert "different programs" in steps[0].reason


def test_a_mask_computed_from_the_data_outside_the_graph_is_never_frozen():
    # the hinge loss picks its active margins with NumPy: an array made afresh at every step
    models, steps = _pair(lambda: nn.MLP([6, 5, 1], rng=0), _sgd,
                          lambda s, y: losses.hinge(s[:, 0], y))
    rng = np.random.default_rng(7)
    batches = [(rng.standard_normal((8, 6)), rng.choice([-1.0, 1.0], 8)) for _ in range(5)]
    with pytest.warns(RuntimeWarning):
        assert not any(_run(models, steps, batches))


@pytest.mark.parametrize("make,loss,where", [
    # maxout picks each group's winner with NumPy: index arrays made afresh at every step
    (lambda: nn.MLP([6, 4, 3], activation="maxout", rng=0), losses.cross_entropy, "getitem"),
    # log_loss on probabilities computes 1 - y with NumPy, outside the graph
    (lambda: nn.Neuron(6, "logistic", rng=0), losses.log_loss, "xlogy"),
])
def test_arrays_computed_from_the_data_outside_the_graph_are_not_frozen(make, loss, where):
    rng = np.random.default_rng(12)
    models, steps = _pair(make, _sgd, loss)
    batches = [(rng.standard_normal((8, 6)), rng.integers(0, 2, 8)) for _ in range(4)]
    with pytest.warns(RuntimeWarning, match=where):
        assert not any(_run(models, steps, batches))


def test_changing_a_module_or_a_parameter_makes_the_next_step_record_again():
    models, steps = _pair()
    rng = np.random.default_rng(8)
    assert _run(models, steps, _batches(3, (6,), 3, rng))[-1]
    for m in models:
        m.eval()
        m.train()
    assert _run(models, steps, _batches(3, (6,), 3, rng)) == [False, False, True]
    for m in models:                                  # new values in the same array: read at each step
        next(iter(m.parameters())).data[...] *= 0.5
    assert _run(models, steps, _batches(1, (6,), 3, rng)) == [True]
    for m in models:                                  # a new array: recorded again
        first = next(iter(m.parameters()))
        first.data = first.data * 0.5
    assert _run(models, steps, _batches(3, (6,), 3, rng)) == [False, False, True]
    for flag in (False, True):                        # frozen, then trained again
        for m in models:
            next(iter(m.parameters())).requires_grad = flag
        assert _run(models, steps, _batches(3, (6,), 3, rng)) == [False, False, True]


def test_a_forward_pass_that_assigns_module_attributes_is_not_replayed():
    class Counting(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(6, 3, rng=0)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return self.layer(x)

    models, steps = _pair(Counting, _sgd)
    with pytest.warns(RuntimeWarning, match="assigns attributes"):
        assert not any(_run(models, steps, _batches(4, (6,), 3, np.random.default_rng(9))))
    assert models[0].calls == models[1].calls == 4


def test_what_a_replay_cannot_see_is_recorded_again_or_never_replayed():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(6, 3, rng=0)
            self.scale = tensor(np.ones(3))

        def forward(self, x):
            out = self.layer(x) * self.scale
            self.scale.mul_(1.0)                      # an in-place change the ordinary backward refuses
            return out

    models, steps = _pair(Scaled, _sgd)
    for x, y in _batches(4, (6,), 3, np.random.default_rng(13)):
        for s in steps:
            with pytest.raises(RuntimeError, match="modified in place"):
                s(x, y)

    models, steps = _pair()
    rng = np.random.default_rng(14)
    assert _run(models, steps, _batches(3, (6,), 3, rng))[-1]
    for s in steps:                                   # another loss: recorded afresh
        s.loss = lambda out, y: 10 * losses.cross_entropy(out, y)
    assert _run(models, steps, _batches(3, (6,), 3, rng)) == [False, False, True]


def test_a_constant_made_afresh_and_filled_in_place_is_never_frozen():
    def one_hot_mse(out, y):
        target = cnp.zeros((len(y), 3))
        target[np.arange(len(y)), y] = 1.0            # a write that a replay would not see
        return losses.mse(out, target)

    models, steps = _pair(loss=one_hot_mse)
    with pytest.warns(RuntimeWarning, match="afresh"):
        assert not any(_run(models, steps, _batches(4, (6,), 3, np.random.default_rng(18), np.float64)))


def test_a_non_scalar_loss_fails_at_every_step_as_the_ordinary_step_does():
    models, steps = _pair(loss=lambda out, y: losses.cross_entropy(out, y, reduction="none"))
    for x, y in _batches(4, (6,), 3, np.random.default_rng(15)):
        for s in steps:
            with pytest.raises(RuntimeError, match="needs a scalar output"):
                s(x, y)


def test_an_input_that_is_also_the_target_is_never_replayed():
    models, steps = _pair(lambda: nn.Sequential(nn.Linear(6, 6, rng=0), nn.Tanh()), loss=losses.mse)
    rng = np.random.default_rng(16)
    batches = [(x, x) for x in rng.standard_normal((4, 8, 6))]
    assert not any(_run(models, steps, batches))
    assert _run(models, steps, [(x, x + 1) for x in rng.standard_normal((4, 8, 6))])[2:] == [True, True]


def test_a_step_under_no_grad_fails_as_the_ordinary_step_does():
    models, steps = _pair()
    rng = np.random.default_rng(10)
    _run(models, steps, _batches(3, (6,), 3, rng))
    x, y = next(_batches(1, (6,), 3, rng))
    with no_grad(), pytest.raises(RuntimeError, match="does not require grad"):
        steps[0](x, y)
    assert _run(models, steps, [(x, y)]) == [True]            # and replays again after


def test_without_replay_no_warning_and_no_recording():
    model = nn.MLP([6, 8, 3], dropout=0.5, rng=0)
    step = TrainStep(model, losses.cross_entropy, optim.SGD(model.parameters(), lr=0.1), replay=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x, y in _batches(3, (6,), 3, np.random.default_rng(11)):
            assert np.isfinite(step(x, y))
    assert not step.replayed and not step._programs


def test_primitives_with_several_outputs_are_replayed_exactly():
    eye = np.eye(3)                                   # one constant: the same array at every step

    def loss(out, y):
        _, logdet = cnp.linalg.slogdet(out.T @ out + eye)
        return losses.cross_entropy(out, y) + 0.01 * logdet

    models, steps = _pair(loss=loss)
    assert _run(models, steps, _batches(5, (6,), 3, np.random.default_rng(17), np.float64))[2:] == [True] * 3


class _Refused(Exception):
    pass


@pytest.mark.parametrize("at_step", [0, 1, 4])          # recording, second recording, replay
def test_a_check_that_refuses_the_loss_ends_the_step_before_any_gradient_or_update(at_step):
    seen = []

    def check(value):
        seen.append(value)
        if len(seen) == at_step + 1:
            raise _Refused(value)

    model = _mlp()
    step = TrainStep(model, losses.cross_entropy, _sgd(model), check=check)
    reference = _mlp()
    plain = TrainStep(reference, losses.cross_entropy, _sgd(reference), replay=False)
    for k, (x, y) in enumerate(_batches(6, (6,), 3, np.random.default_rng(21))):
        if k == at_step:
            before = [p.data.copy() for p in model.parameters()]
            with pytest.raises(_Refused):
                step(x, y)
            assert all(p.grad is None for p in model.parameters())
            for p, b in zip(model.parameters(), before):
                np.testing.assert_array_equal(p.data, b)
            continue
        _assert_same([model, reference], [step(x, y), plain(x, y)])
    assert len(seen) == 6 and step.replayed                  # the later steps were replays


def test_train_on_a_model_already_training_keeps_the_recording_and_eval_does_not():
    models, steps = _pair()
    batches = list(_batches(7, (6,), 3, np.random.default_rng(22)))
    assert _run(models, steps, batches[:3]) == [False, False, True]
    for m in models:
        m.train()                                  # no change of mode: nothing to record again
    assert _run(models, steps, batches[3:4]) == [True]
    for m in models:
        m.eval()
        m.train()                                  # two changes of mode: recorded again
    assert _run(models, steps, batches[4:]) == [False, False, True]
