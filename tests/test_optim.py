"""chainrule.optim: update formulas, state, schedules, clipping, and a neuron that learns."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest

from chainrule import nn, optim
from chainrule._core import version_of
from chainrule.optim import lr_scheduler

HAS_TORCH = importlib.util.find_spec("torch") is not None
C = np.array([1.0, 0.5, 2.0])          # loss(w) = ½ Σ c w², so ∇ = c·w
W0 = np.array([1.0, -2.0, 0.5])


def run(make_optimizer, steps, w0=W0):
    """Optimise ½ Σ c w² from ``w0``; return the parameter values after each step."""
    w = nn.Parameter(w0)
    opt = make_optimizer([w])
    trajectory = []
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (C * w * w).sum()).backward()
        opt.step()
        trajectory.append(w.numpy().copy())
    return np.array(trajectory)


def run_torch(name, kwargs, steps):
    import torch
    w = torch.tensor(W0, requires_grad=True)
    opt = getattr(torch.optim, name)([w], **kwargs)
    trajectory = []
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (torch.tensor(C) * w * w).sum()).backward()
        opt.step()
        trajectory.append(w.detach().numpy().copy())
    return np.array(trajectory)


def check(name, kwargs, hand, steps=6):
    ours = run(lambda p: getattr(optim, name)(p, **kwargs), steps)
    np.testing.assert_allclose(ours, hand, rtol=1e-13, atol=1e-15)
    if HAS_TORCH:                        # PyTorch's own implementation, where it is installed
        np.testing.assert_allclose(ours, run_torch(name, kwargs, steps), rtol=1e-13, atol=1e-15)


# --------------------------------------------------------------------------- update formulas

@pytest.mark.parametrize("kwargs", [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, nesterov=True),
    dict(lr=0.1, momentum=0.8, weight_decay=0.05),
    dict(lr=0.1, momentum=0.8, dampening=0.3),
], ids=str)
def test_sgd_matches_hand_computed_updates(kwargs):
    lr, mu = kwargs["lr"], kwargs.get("momentum", 0.0)
    wd, damp, nesterov = kwargs.get("weight_decay", 0.0), kwargs.get("dampening", 0.0), kwargs.get("nesterov")
    w, buf, hand = W0.copy(), None, []
    for _ in range(6):
        g = C * w + wd * w
        if mu:
            buf = g.copy() if buf is None else mu * buf + (1 - damp) * g
            g = g + mu * buf if nesterov else buf
        w = w - lr * g
        hand.append(w)
    check("SGD", kwargs, np.array(hand))


@pytest.mark.parametrize("name, kwargs", [
    ("Adam", dict(lr=0.1)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=0.05, weight_decay=0.1)),
], ids=str)
def test_adam_and_adamw_match_hand_computed_updates(name, kwargs):
    lr, (b1, b2) = kwargs["lr"], kwargs.get("betas", (0.9, 0.999))
    eps, wd = kwargs.get("eps", 1e-8), kwargs.get("weight_decay", 0.01 if name == "AdamW" else 0.0)
    w, m, v, hand = W0.copy(), np.zeros(3), np.zeros(3), []
    for t in range(1, 7):
        g = C * w
        if name == "AdamW":
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        hand.append(w)
    check(name, kwargs, np.array(hand))


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.01),
    dict(lr=0.01, alpha=0.9, momentum=0.5, weight_decay=0.1),
    dict(lr=0.01, centered=True, momentum=0.3),
], ids=str)
def test_rmsprop_matches_hand_computed_updates(kwargs):
    lr, alpha, mu = kwargs["lr"], kwargs.get("alpha", 0.99), kwargs.get("momentum", 0.0)
    wd, eps = kwargs.get("weight_decay", 0.0), 1e-8
    w, s, gbar, buf, hand = W0.copy(), np.zeros(3), np.zeros(3), np.zeros(3), []
    for _ in range(6):
        g = C * w + wd * w
        s = alpha * s + (1 - alpha) * g * g
        gbar = alpha * gbar + (1 - alpha) * g
        d = np.sqrt(s - gbar * gbar if kwargs.get("centered") else s) + eps
        if mu:
            buf = mu * buf + g / d
            w = w - lr * buf
        else:
            w = w - lr * g / d
        hand.append(w)
    check("RMSprop", kwargs, np.array(hand))


# --------------------------------------------------------------------------- mechanics

def test_step_updates_the_parameter_array_in_place_and_bumps_its_version():
    w = nn.Parameter(W0)
    array, version = w.data, version_of(w)
    opt = optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    assert w.data is array and version_of(w) > version
    assert not np.array_equal(w.numpy(), W0)


def test_backward_through_a_graph_recorded_before_the_step_is_refused():
    w = nn.Parameter(W0)
    opt = optim.SGD([w], lr=0.1)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_parameters_without_gradients_are_left_alone_and_zero_grad_clears():
    a, b = nn.Parameter(W0), nn.Parameter(W0)
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    (a * a).sum().backward()
    opt.step()
    np.testing.assert_array_equal(b.numpy(), W0)
    assert 1 not in opt.state or not opt.state[1]
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_step_with_a_closure_returns_its_loss():
    w = nn.Parameter(W0)
    opt = optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss) == pytest.approx(float((W0 * W0).sum()))
    np.testing.assert_allclose(w.numpy(), W0 * 0.8)


def test_float32_parameters_stay_float32():
    w = nn.Parameter(W0.astype(np.float32))
    for make in (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1), lambda p: optim.Adam(p),
                 lambda p: optim.AdamW(p), lambda p: optim.RMSprop(p, momentum=0.5, centered=True)):
        opt = make([w])
        for _ in range(2):
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
        assert w.dtype == np.float32
        assert all(v.dtype == np.float32 for s in opt.state.values() for v in s.values()
                   if isinstance(v, np.ndarray))


@pytest.mark.parametrize("make", [
    lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda p: optim.Adam(p, lr=0.05, weight_decay=0.01),
    lambda p: optim.AdamW(p, lr=0.05),
    lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
], ids=["SGD", "Adam", "AdamW", "RMSprop"])
def test_state_dict_resumes_bit_exactly(make):
    full = run(make, 8)
    w = nn.Parameter(W0)
    opt = make([w])
    for _ in range(3):
        opt.zero_grad()
        (0.5 * (C * w * w).sum()).backward()
        opt.step()
    state = opt.state_dict()
    for group in state["param_groups"]:
        assert group["params"] == [0]
        assert all(isinstance(v, (int, float, bool, tuple, list)) for v in group.values())
    for entries in state["state"].values():
        assert all(isinstance(v, (np.ndarray, int, float)) for v in entries.values())
    # as a serialiser would give it back: string keys, 0-d arrays, lists instead of tuples
    state["state"] = {str(i): {k: np.asarray(v) for k, v in s.items()} for i, s in state["state"].items()}
    for group in state["param_groups"]:
        group.update({k: list(v) for k, v in group.items() if isinstance(v, tuple)})
    w2 = nn.Parameter(w.numpy())
    opt2 = make([w2])
    opt2.load_state_dict(state)
    trajectory = []
    for _ in range(5):
        opt2.zero_grad()
        (0.5 * (C * w2 * w2).sum()).backward()
        opt2.step()
        trajectory.append(w2.numpy().copy())
    np.testing.assert_array_equal(np.array(trajectory), full[3:])


def test_state_dict_holds_copies():
    w = nn.Parameter(W0)
    opt = optim.Adam([w])
    (w * w).sum().backward()
    opt.step()
    saved = opt.state_dict()["state"][0]["exp_avg"].copy()
    state = opt.state_dict()
    opt.step()
    np.testing.assert_array_equal(state["state"][0]["exp_avg"], saved)


def test_load_state_dict_refuses_another_layout():
    opt = optim.SGD([nn.Parameter(W0)], lr=0.1, momentum=0.9)
    other = optim.SGD([nn.Parameter(W0), nn.Parameter(W0)], lr=0.1)
    with pytest.raises(ValueError, match="group 0 has 2 parameters in the state, 1 in this optimizer"):
        opt.load_state_dict(other.state_dict())
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 has shape \(2,\)"):
        opt.load_state_dict({"state": {0: {"momentum_buffer": np.zeros(2)}},
                             "param_groups": opt.state_dict()["param_groups"]})


def test_param_groups_have_their_own_hyperparameters():
    a, b = nn.Parameter(W0), nn.Parameter(W0)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    (a.sum() + b.sum()).backward()
    opt.step()
    np.testing.assert_allclose(a.numpy(), W0 - 0.1)
    np.testing.assert_allclose(b.numpy(), W0 - 0.5)
    assert [g["params"] for g in opt.state_dict()["param_groups"]] == [[0], [1]]


def test_bad_optimizer_arguments_are_refused():
    w = nn.Parameter(W0)
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="lr must be ≥ 0"):
        optim.SGD([w], lr=-1.0)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([w], betas=(0.9, 1.5))
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="more than once"):
        optim.Adam([w, w])
    with pytest.raises(TypeError, match="not a leaf Tensor"):
        optim.Adam([nn.Parameter(W0) * 2.0])
    with pytest.raises(TypeError, match="is of type ndarray, not a Parameter"):
        optim.Adam([W0])
    with pytest.raises(TypeError, match="wrap it in a list"):
        optim.Adam(w)


@pytest.mark.parametrize("make, message", [
    (lambda w: optim.SGD([w], lr="0.1x"), "SGD: lr must be a real number, got '0.1x'"),
    (lambda w: optim.Adam([w], lr=None), "Adam: lr must be a real number, got None"),
    (lambda w: optim.RMSprop([w], lr=0.1, momentum=[]), "RMSprop: momentum must be a real number"),
    (lambda w: optim.Adam([w], betas=None), r"Adam: betas must be two numbers in \[0, 1\), got None"),
    (lambda w: optim.AdamW([w], betas=(0.9, "x")), r"AdamW: betas must be two numbers"),
    (lambda w: optim.StepLR(optim.SGD([w], lr=0.1), "a"), "StepLR: step_size must be an integer, got 'a'"),
    (lambda w: optim.ExponentialLR(optim.SGD([w], lr=0.1), None), "ExponentialLR: gamma must be a real"),
    (lambda w: optim.CosineAnnealingLR(optim.SGD([w], lr=0.1), 5, eta_min="0"), "eta_min must be a real"),
    (lambda w: optim.LinearWarmup(optim.SGD([w], lr=0.1), 2, start_factor={}), "start_factor must be a real"),
    (lambda w: optim.clip_grad_norm_([w], None), "clip_grad_norm_: max_norm must be a real number"),
    (lambda w: nn.Dropout(None), "Dropout: p must be a real number, got None"),
])
def test_hyper_parameters_that_are_not_numbers_get_an_error_naming_their_owner(make, message):
    with pytest.raises(TypeError, match=message):
        make(nn.Parameter(W0))


def test_a_schedule_refuses_an_optimizer_whose_groups_changed_since_it_was_made():
    opt = optim.SGD([nn.Parameter(W0)], lr=0.1)
    sched = optim.CosineAnnealingLR(opt, 10)
    state = sched.state_dict()
    opt.add_param_group({"params": [nn.Parameter(W0)]})
    with pytest.raises(ValueError, match="CosineAnnealingLR: the optimizer has 2 parameter groups but the "
                                         "schedule was made for 1; create the schedule after"):
        sched.step()
    with pytest.raises(ValueError, match="the saved schedule has rates for 1"):
        sched.load_state_dict(state)
    assert sched.last_epoch == 0 and [g["lr"] for g in opt.param_groups] == [0.1, 0.1]


# --------------------------------------------------------------------------- clipping

def test_clip_grad_norm_rescales_to_max_norm_and_returns_the_total_norm():
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(1))
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    total = optim.clip_grad_norm_([a, b], 1.0)
    assert total == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad, [0.6, 0.0], rtol=1e-6)
    np.testing.assert_allclose(b.grad, [0.8], rtol=1e-6)
    assert optim.clip_grad_norm_([a, b], 10.0) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(b.grad, [0.8], rtol=1e-6)          # below the limit: unchanged
    assert optim.clip_grad_norm_([a, b], 1.0, norm_type=math.inf) == pytest.approx(0.8, rel=1e-6)


def test_clip_grad_norm_does_not_write_into_shared_gradient_arrays():
    w = nn.Parameter(np.zeros(3))
    shared = np.full(3, 10.0)
    w.grad = shared
    optim.clip_grad_norm_([w], 1.0)
    np.testing.assert_array_equal(shared, 10.0)
    assert np.linalg.norm(w.grad) == pytest.approx(1.0, rel=1e-6)


# --------------------------------------------------------------------------- schedules

def lrs(make, epochs, lr=0.1):
    opt = optim.SGD([nn.Parameter(W0)], lr=lr)
    sched = make(opt)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        assert sched.get_last_lr() == [out[-1]]
        sched.step()
    return np.array(out)


def test_schedules_follow_their_formulas():
    t = np.arange(12)
    np.testing.assert_allclose(lrs(lambda o: optim.StepLR(o, step_size=4, gamma=0.5), 12),
                               0.1 * 0.5 ** (t // 4))
    np.testing.assert_allclose(lrs(lambda o: optim.ExponentialLR(o, gamma=0.9), 12), 0.1 * 0.9 ** t)
    np.testing.assert_allclose(lrs(lambda o: optim.CosineAnnealingLR(o, T_max=10, eta_min=0.01), 11),
                               0.01 + 0.09 * (1 + np.cos(np.pi * t[:11] / 10)) / 2)
    np.testing.assert_allclose(lrs(lambda o: optim.LinearWarmup(o, 4), 7), 0.1 * np.array(
        [0.25, 0.4375, 0.625, 0.8125, 1, 1, 1]))
    np.testing.assert_allclose(lrs(lambda o: optim.MultiStepLR(o, [2, 5], gamma=0.5), 7),
                               0.1 * np.array([1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]))
    np.testing.assert_allclose(lrs(lambda o: optim.LambdaLR(o, lambda e: 1 / (1 + e)), 5), 0.1 / (1 + t[:5]))
    with pytest.raises(ValueError, match="MultiStepLR: milestones must be increasing"):
        optim.MultiStepLR(optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1), [5, 2])
    with pytest.raises(TypeError, match="LambdaLR: lr_lambda must be a function or a list of 1 functions"):
        optim.LambdaLR(optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1), 0.5)


def test_lambda_schedule_state_leaves_the_functions_out_and_resumes():
    p = nn.Parameter(np.zeros(1))
    opt = optim.SGD([p], lr=0.1)
    sched = optim.LambdaLR(opt, lambda e: 0.9 ** e)
    for _ in range(3):
        sched.step()
    state = sched.state_dict()
    assert "lr_lambdas" not in state and json.dumps(state)
    opt2 = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    again = optim.LambdaLR(opt2, lambda e: 0.9 ** e)
    again.load_state_dict(state)
    again.step()
    sched.step()
    assert again.get_last_lr() == sched.get_last_lr() == [0.1 * 0.9 ** 4]


def _plateau(metrics, **kw):
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    sched = optim.ReduceLROnPlateau(opt, **kw)
    out = []
    for m in metrics:
        sched.step(m)
        out.append(opt.param_groups[0]["lr"])
    return out, sched


def test_reduce_on_plateau_waits_patience_bad_steps_then_cools_down():
    # best 1.0 at step 1; steps 2-4 are bad (patience 2: the third bad one reduces), then a
    # cooldown of 1 step during which bad steps do not count
    lrs_, sched = _plateau([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.6],
                           factor=0.5, patience=2, cooldown=1)
    assert lrs_ == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    assert sched.best == 0.5 and sched.num_bad_epochs == 1
    lrs_, _ = _plateau([0.1, 0.2, 0.3, 0.2], mode="max", patience=0, factor=0.1, min_lr=0.05)
    assert lrs_ == [1.0, 1.0, 1.0, 0.1]
    lrs_, _ = _plateau([1.0, 0.99995, 0.9998], patience=0, threshold=1e-4)     # relative: 1e-4 of 1.0
    assert lrs_ == [1.0, 0.1, 0.1]
    lrs_, _ = _plateau([1.0, 0.5, 0.45], patience=0, threshold=0.1, threshold_mode="abs")
    assert lrs_ == [1.0, 1.0, 0.1]
    with pytest.raises(ValueError, match="ReduceLROnPlateau: mode must be 'min' or 'max'"):
        _plateau([], mode="lowest")
    if HAS_TORCH:
        import torch
        rng = np.random.default_rng(0)
        metrics = list(np.cumsum(rng.normal(size=40) * 0.1) + 5)
        for kw in ({"patience": 2, "cooldown": 1, "factor": 0.5}, {"mode": "max", "patience": 1},
                   {"threshold_mode": "abs", "threshold": 0.05, "min_lr": 0.2}):
            ours, _ = _plateau(metrics, **kw)
            w = torch.zeros(1, requires_grad=True)
            topt = torch.optim.SGD([w], lr=1.0)
            tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
            theirs = []
            for m in metrics:
                tsched.step(m)
                theirs.append(topt.param_groups[0]["lr"])
            np.testing.assert_allclose(ours, theirs, rtol=1e-15)


def test_warmup_hands_over_to_the_next_schedule():
    got = lrs(lambda o: optim.LinearWarmup(o, 2, start_factor=0.0, after=optim.ExponentialLR(o, 0.5)), 5)
    np.testing.assert_allclose(got, [0.0, 0.05, 0.1, 0.05, 0.025])


def test_cosine_schedule_matches_its_formula_and_pytorch_where_installed():
    t = np.arange(15)
    ours = lrs(lambda o: optim.CosineAnnealingLR(o, T_max=15), 15)
    np.testing.assert_allclose(ours, 0.05 * (1 + np.cos(np.pi * t / 15)), atol=1e-15)
    if HAS_TORCH:
        import torch
        from torch.optim import lr_scheduler as torch_schedules
        w = torch.zeros(1, requires_grad=True)
        for make, theirs_make in [
            (lambda o: optim.StepLR(o, 3, 0.3), lambda o: torch_schedules.StepLR(o, 3, 0.3)),
            (lambda o: optim.CosineAnnealingLR(o, 15), lambda o: torch_schedules.CosineAnnealingLR(o, 15)),
        ]:
            topt = torch.optim.SGD([w], lr=0.1)
            tsched = theirs_make(topt)
            theirs = []
            for _ in range(15):
                theirs.append(topt.param_groups[0]["lr"])
                topt.step()
                tsched.step()
            np.testing.assert_allclose(lrs(make, 15), theirs, rtol=1e-12, atol=1e-15)


def test_scheduler_state_dict_resumes_the_schedule():
    def make(o):
        return optim.LinearWarmup(o, 3, after=optim.CosineAnnealingLR(o, T_max=8))

    opt = optim.SGD([nn.Parameter(W0)], lr=0.1)
    sched = make(opt)
    for _ in range(5):
        sched.step()
    state = sched.state_dict()
    assert state["last_epoch"] == 5 and isinstance(state["after"], dict)
    opt2 = optim.SGD([nn.Parameter(W0)], lr=0.1)
    sched2 = make(opt2)
    sched2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for _ in range(4):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
    assert lr_scheduler.LRScheduler is optim.lr_scheduler.LRScheduler


# --------------------------------------------------------------------------- a neuron that learns

def test_logistic_neuron_reproduces_scikit_learn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    p = 1 / (1 + np.exp(-(x @ np.array([1.5, -2.0, 0.5]) + 0.3)))
    y = (rng.random(200) < p).astype(float)                # overlapping classes: a finite optimum
    reference = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(x, y)

    neuron = nn.Neuron(3, activation="logistic", rng=0)
    opt = optim.SGD(neuron.parameters(), lr=1.0, momentum=0.9, nesterov=True)
    for _ in range(400):
        opt.zero_grad()
        nn.losses.log_loss(neuron(x), y).backward()
        opt.step()
    np.testing.assert_allclose(neuron.weight.numpy(), reference.coef_[0], atol=1e-4)
    np.testing.assert_allclose(neuron.bias.numpy(), reference.intercept_[0], atol=1e-4)


# --------------------------------------------------------------------------- review fixes

def test_frozen_parameters_are_accepted_and_left_alone_as_in_pytorch():
    lin = nn.Linear(3, 2, rng=0)
    lin.bias.requires_grad = False
    bias = lin.bias.numpy().copy()
    opt = optim.SGD(lin.parameters(), lr=0.5)
    weight = lin.weight.numpy().copy()
    opt.zero_grad()
    lin(np.ones((4, 3))).sum().backward()
    opt.step()
    assert lin.bias.grad is None
    np.testing.assert_array_equal(lin.bias.numpy(), bias)
    assert not np.array_equal(lin.weight.numpy(), weight)


@pytest.mark.parametrize("saved_by, loaded_by", [
    (lambda ps: optim.Adam(ps), lambda ps: optim.RMSprop(ps)),
    (lambda ps: optim.Adam(ps), lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.Adam(ps)),
    (lambda ps: optim.Adam(ps), lambda ps: optim.AdamW(ps)),
])
def test_an_optimizer_refuses_the_state_of_another_optimizer_class(saved_by, loaded_by):
    w = nn.Parameter(W0)
    source = saved_by([w])
    (w * w).sum().backward()
    source.step()
    state = source.state_dict()
    assert state["optimizer"] == type(source).__name__
    target = loaded_by([nn.Parameter(W0)])
    before = target.param_groups[0].copy()
    with pytest.raises(ValueError, match=rf"{type(target).__name__}.load_state_dict: the state was saved by "
                                         rf"{type(source).__name__}, not {type(target).__name__}"):
        target.load_state_dict(state)
    assert target.param_groups[0] == before and target.state == {}
    legacy = {k: v for k, v in state.items() if k != "optimizer"}      # no class recorded: the keys tell
    if type(target).__name__ != "AdamW":
        with pytest.raises(ValueError, match=rf"which {type(target).__name__} does not keep"):
            target.load_state_dict(legacy)


@pytest.mark.parametrize("norm_type", [1, 1.5, 2, 3, 7.0, math.inf, "inf"])
def test_clip_grad_norm_takes_any_p_norm_of_at_least_one(norm_type):
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    params = [nn.Parameter(np.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.copy()
    flat = np.concatenate([g.ravel() for g in grads])
    expected = np.linalg.norm(flat, ord=float(norm_type))
    assert optim.clip_grad_norm_(params, 0.5, norm_type) == pytest.approx(expected, rel=1e-12)
    clipped = np.concatenate([p.grad.ravel() for p in params])
    assert np.linalg.norm(clipped, ord=float(norm_type)) == pytest.approx(0.5, rel=1e-5)
    np.testing.assert_allclose(clipped * expected, flat * np.linalg.norm(clipped, ord=float(norm_type)))


@pytest.mark.parametrize("norm_type", [0.5, 0, -1, "two", None])
def test_clip_grad_norm_refuses_norms_below_one(norm_type):
    w = nn.Parameter(np.zeros(2))
    w.grad = np.ones(2)
    with pytest.raises(ValueError, match="norm_type must be a number ≥ 1 or inf"):
        optim.clip_grad_norm_([w], 1.0, norm_type)


def test_a_new_schedule_starts_from_the_current_rate_and_chains_with_the_others():
    opt = optim.SGD([nn.Parameter(W0)], lr=1.0)
    first = optim.StepLR(opt, step_size=1, gamma=0.5)
    first.step()
    first.step()
    assert opt.param_groups[0]["lr"] == 0.25
    second = optim.ExponentialLR(opt, gamma=0.9)            # PyTorch: no reset to initial_lr
    assert opt.param_groups[0]["lr"] == 0.25
    second.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.25 * 0.9)
    first.step()                                            # the factors multiply
    assert opt.param_groups[0]["lr"] == pytest.approx(0.25 * 0.9 * 0.5)
    opt.param_groups[0]["lr"] = 0.3                         # a rate set by hand is taken up too
    second.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.3 * 0.9)


def test_a_rate_set_by_hand_is_taken_up_by_a_warm_up_and_the_schedule_after_it():
    # during the warm-up the next step multiplies the hand-set rate by factor(t+1)/factor(t),
    # and the schedule after it starts from the rescaled base; after it, that schedule rebases
    f = lambda t: 0.25 + 0.75 * min(t, 4) / 4                # start_factor 1/4, 4 steps
    opt = optim.SGD([nn.Parameter(W0)], lr=1.0)
    after = optim.ExponentialLR(opt, gamma=0.5)
    warm = optim.LinearWarmup(opt, 4, after=after)
    warm.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(f(1))
    opt.param_groups[0]["lr"] = 0.25                         # set by hand at t = 1
    base = 0.25 / f(1)
    for t in (2, 3, 4):
        warm.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(base * f(t))
    warm.step()                                              # the exponential schedule's t = 1
    assert opt.param_groups[0]["lr"] == pytest.approx(base * 0.5)
    opt.param_groups[0]["lr"] = 0.1                          # set by hand after the warm-up
    warm.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5)


def test_cosine_annealing_takes_up_a_rate_set_by_hand_above_its_floor():
    opt = optim.SGD([nn.Parameter(W0)], lr=1.0)
    cos = optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    cos.step()                                               # t = 1
    opt.param_groups[0]["lr"] = 0.5
    cos.step()                                               # t = 2: 0.1 + (0.5 - 0.1)·f(2)/f(1)
    f = lambda t: (1 + math.cos(math.pi * t / 4)) / 2
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 + 0.4 * f(2) / f(1))


@pytest.mark.skipif(not HAS_TORCH, reason="compares with PyTorch's schedulers")
def test_chained_schedules_match_pytorch():
    import torch
    from torch.optim import lr_scheduler as T

    w = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([w], lr=0.1)
    opt = optim.SGD([nn.Parameter(W0)], lr=0.1)
    ours, theirs = [optim.StepLR(opt, 3, 0.5)], [T.StepLR(topt, 3, 0.5)]
    # up to the cosine's T_max: beyond it PyTorch climbs back from initial_lr, ours from its own start
    for epoch in range(11):
        if epoch == 4:                                      # a second schedule joins mid-way
            ours.append(optim.CosineAnnealingLR(opt, T_max=6, eta_min=0.001))
            theirs.append(T.CosineAnnealingLR(topt, T_max=6, eta_min=0.001))
        assert opt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
        topt.step()
        for a, b in zip(ours, theirs, strict=True):
            a.step()
            b.step()


# --------------------------------------------------------------------------- Adam's grouped update

def _adam_run(make, monkeypatch, together, steps=7, reload_at=None, skip=None, dtype=np.float64):
    """Train a small MLP (all its parameters are "small") with random gradients; return the
    parameters and the optimizer state. ``together=False`` forces the one-by-one update."""
    from chainrule.optim import optimizers
    monkeypatch.setattr(optimizers, "_TOGETHER", optimizers._TOGETHER if together else 0)
    model = nn.MLP([5, 7, 3], activation="tanh", rng=0, dtype=dtype)
    params = list(model.parameters())
    opt = make(params)
    rng = np.random.default_rng(1)
    for t in range(steps):
        for k, p in enumerate(params):
            p.grad = None if (skip and skip == (t, k)) else rng.standard_normal(p.shape).astype(dtype)
        opt.step()
        if reload_at == t:                          # a state_dict round trip mid-way
            saved = opt.state_dict()
            opt = make(params)
            opt.load_state_dict(saved)
    return [p.numpy().copy() for p in params], opt.state_dict()


@pytest.mark.parametrize("make", [
    lambda p: optim.Adam(p, lr=0.05),
    lambda p: optim.Adam(p, lr=0.05, weight_decay=0.1),           # L2: one by one
    lambda p: optim.AdamW(p, lr=0.05, weight_decay=0.1),          # decoupled: together
], ids=["adam", "adam-l2", "adamw"])
@pytest.mark.parametrize("case", ["plain", "reload", "skip", "float32"])
def test_adam_updates_small_parameters_together_to_the_same_bits(make, case, monkeypatch):
    kw = {"plain": {}, "reload": {"reload_at": 3}, "skip": {"skip": (2, 1)},
          "float32": {"dtype": np.float32}}[case]
    together, state_t = _adam_run(make, monkeypatch, True, **kw)
    alone, state_a = _adam_run(make, monkeypatch, False, **kw)
    for x, y in zip(together, alone):
        np.testing.assert_array_equal(x, y)
    assert state_t["state"].keys() == state_a["state"].keys()
    for i in state_t["state"]:
        for key, value in state_t["state"][i].items():
            np.testing.assert_array_equal(value, state_a["state"][i][key])


def test_adam_state_arrays_are_the_live_moments_of_the_grouped_update():
    params = [nn.Parameter(np.ones(3)), nn.Parameter(np.ones((2, 2)))]
    opt = optim.Adam(params, lr=0.1)
    for p in params:
        p.grad = np.full(p.shape, 2.0)
    opt.step()
    m = opt.state[1]["exp_avg"]
    assert m.shape == (2, 2)
    np.testing.assert_allclose(m, 0.2)                 # (1 - β₁) g
    opt.step()
    np.testing.assert_allclose(opt.state[1]["exp_avg"], 0.2 * 0.9 + 0.2)
    assert opt.state[1]["exp_avg"] is m                # updated in place, not replaced


def test_adam_grouped_update_survives_copies_several_groups_and_subclasses(monkeypatch):
    import copy
    import pickle

    from chainrule.optim import optimizers

    def trajectory(together, clone):
        monkeypatch.setattr(optimizers, "_TOGETHER", optimizers._TOGETHER if together else 0)
        a, b, c = (nn.Parameter(np.linspace(-1, 1, n)) for n in (3, 4, 5))
        opt = optim.AdamW([{"params": [a, b]}, {"params": [c], "lr": 0.2}], lr=0.1)
        out = []
        for t in range(6):
            for p in (a, b, c):
                p.grad = None if (t == 3 and p is b) else np.cos(t + p.numpy())
            opt.step()
            if t == 1:                              # the optimizer copied, then used on
                params = (a, b, c)
                opt, params = clone((opt, params))
                a, b, c = params
            out.append(np.concatenate([p.numpy() for p in (a, b, c)]))
        return np.array(out), opt.state_dict()

    for clone in (copy.deepcopy, lambda x: pickle.loads(pickle.dumps(x))):
        together, st = trajectory(True, clone)
        alone, sa = trajectory(False, clone)
        np.testing.assert_array_equal(together, alone)
        for i in sa["state"]:
            np.testing.assert_array_equal(st["state"][i]["exp_avg"], sa["state"][i]["exp_avg"])

    seen = []

    class Logged(optim.Adam):                       # a subclass's own _update is used for all
        def _update(self, p, g, state, group, scratch):
            seen.append(p.shape)
            super()._update(p, g, state, group, scratch)

    ps = [nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))]
    for p in ps:
        p.grad = np.ones(p.shape)
    Logged(ps).step()
    assert seen == [(2,), (3,)]


def test_a_plain_sgd_step_allocates_nothing_once_its_scratch_exists():
    # parameters too small for BLAS axpy take NumPy's two passes through a kept scratch array
    import tracemalloc
    model = nn.Linear(64, 32)
    opt = optim.SGD(model.parameters(), lr=0.1)
    for p in model.parameters():
        p.grad = np.ones(p.shape)
    opt.step()                                           # makes the scratch arrays
    tracemalloc.start()
    try:
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 32 * 8 // 4, peak                 # well below one weight-sized temporary


def test_zero_grad_to_zeros_and_clip_grad_value_as_in_pytorch():
    model = nn.Linear(3, 2, rng=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    model(np.ones((4, 3))).sum().backward()
    grads = [p.grad for p in model.parameters()]
    opt.zero_grad(set_to_none=False)
    for p, g in zip(model.parameters(), grads, strict=True):
        assert p.grad is g and not g.any()                  # the same arrays, filled with zeros
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.zero_grad(set_to_none=False)                      # nothing to fill: stays None
    assert all(p.grad is None for p in model.parameters())
    w = nn.Parameter(np.zeros(4))
    w.grad = np.array([-3.0, -0.5, 0.5, 3.0])
    shared = w.grad
    optim.clip_grad_value_([w], 1.0)
    np.testing.assert_array_equal(w.grad, [-1.0, -0.5, 0.5, 1.0])
    np.testing.assert_array_equal(shared, [-3.0, -0.5, 0.5, 3.0])     # a copy, never written into
    with pytest.raises(ValueError, match="clip_grad_value_: clip_value must be ≥ 0, got -1"):
        optim.clip_grad_value_(w, -1)


def test_lambda_schedule_sets_the_rate_outright_as_pytorchs_does():
    p = nn.Parameter(np.zeros(1))
    opt = optim.SGD([p], lr=1.0)
    lam = optim.LambdaLR(opt, lambda e: 0.9 ** e)
    step = optim.StepLR(opt, 2, 0.5)
    got = []
    for _ in range(5):
        got.append(opt.param_groups[0]["lr"])
        lam.step()
        step.step()
    # each step LambdaLR sets 0.9^e outright, then StepLR halves it at even steps
    np.testing.assert_allclose(got, [0.9 ** e * (0.5 if e and e % 2 == 0 else 1.0) for e in range(5)],
                               rtol=1e-14)
    if HAS_TORCH:
        import torch
        w = torch.zeros(1, requires_grad=True)
        topt = torch.optim.SGD([w], lr=1.0)
        tl = torch.optim.lr_scheduler.LambdaLR(topt, lambda e: 0.9 ** e)
        ts = torch.optim.lr_scheduler.StepLR(topt, 2, 0.5)
        theirs = []
        for _ in range(5):
            theirs.append(topt.param_groups[0]["lr"])
            topt.step()
            tl.step()
            ts.step()
        np.testing.assert_allclose(got, theirs, rtol=1e-14)


def test_reduce_on_plateau_checks_its_settings_and_groups():
    def sgd():
        return optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="patience must be ≥ 0, got -1"):
        optim.ReduceLROnPlateau(sgd(), patience=-1)
    opt = sgd()
    with pytest.raises(TypeError, match="`after` must be a schedule of the rate by step"):
        optim.LinearWarmup(opt, 2, after=optim.ReduceLROnPlateau(opt))
    plateau = optim.ReduceLROnPlateau(opt, patience=0, min_lr=0.5)
    opt.add_param_group({"params": [nn.Parameter(np.zeros(1))], "lr": 2.0})
    plateau.step(1.0)
    plateau.step(1.0)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.5]     # one min_lr serves the new group
    with pytest.raises(ValueError, match=r"the state lacks \['mode', 'factor'"):
        optim.ReduceLROnPlateau(sgd()).load_state_dict(optim.StepLR(sgd(), 2).state_dict())
    opt2 = sgd()
    opt2.add_param_group({"params": [nn.Parameter(np.zeros(1))], "lr": 2.0})
    listed = optim.ReduceLROnPlateau(opt2, min_lr=[0.1, 0.2])
    opt2.add_param_group({"params": [nn.Parameter(np.zeros(1))], "lr": 3.0})
    with pytest.raises(ValueError, match="3 parameter groups but min_lr gave 2"):
        listed.step(1.0)
    assert listed.last_epoch == 0 and listed.num_bad_epochs == 0           # refused before counting
    restored = optim.ReduceLROnPlateau(sgd())
    restored.load_state_dict(optim.ReduceLROnPlateau(sgd(), min_lr=0.25, patience=3).state_dict())
    assert restored.min_lrs == [0.25] and restored.patience == 3
