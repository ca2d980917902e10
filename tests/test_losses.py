"""chainrule.nn.losses: values against their formulas, derivatives, reductions and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import numerical_jacobian

import chainrule as cr
from chainrule import nn, special
from chainrule.nn import losses as L

R = np.random.default_rng(42)
LOGITS = R.normal(size=(5, 4))
LABELS = np.array([0, 3, 1, 1, 2])
ONE_HOT = np.eye(4)[LABELS]
SOFT = R.dirichlet(np.ones(4), size=5)
SCORES = R.normal(size=6)
PM1 = np.array([1, -1, -1, 1, 1, -1])
PROBS = R.uniform(0.05, 0.95, size=6)
BINARY = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])


def softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- values

def test_mse_is_the_mean_squared_error():
    pred, target = R.normal(size=(3, 2)), R.normal(size=(3, 2))
    np.testing.assert_allclose(L.mse(pred, target), np.mean((pred - target) ** 2))


def test_log_loss_from_probabilities_and_from_logits_agree_with_the_formula():
    expected = -(BINARY * np.log(PROBS) + (1 - BINARY) * np.log(1 - PROBS))
    np.testing.assert_allclose(L.log_loss(PROBS, BINARY, reduction="none"), expected)
    logits = np.log(PROBS / (1 - PROBS))
    np.testing.assert_allclose(L.log_loss(logits, BINARY, from_logits=True, reduction="none"), expected)


def test_log_loss_from_logits_is_exact_and_has_finite_gradients_at_1e4():
    a = cr.tensor([1e4, -1e4, 1e4, -1e4], requires_grad=True)
    y = np.array([1.0, 0.0, 0.0, 1.0])
    loss = L.log_loss(a, y, from_logits=True, reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [0.0, 0.0, 1e4, 1e4])
    loss.sum().backward()
    np.testing.assert_array_equal(a.grad, [0.0, 0.0, 1.0, -1.0])          # σ(a) - y


def test_log_loss_treats_zero_times_log_zero_as_zero():
    np.testing.assert_array_equal(L.log_loss(np.array([0.0, 1.0]), np.array([0.0, 1.0]), reduction="none"),
                                  [0.0, 0.0])


def test_cross_entropy_from_labels_one_hot_and_soft_targets():
    log_p = np.log(softmax(LOGITS))
    expected = -log_p[np.arange(5), LABELS]
    np.testing.assert_allclose(L.cross_entropy(LOGITS, LABELS, reduction="none"), expected)
    np.testing.assert_allclose(L.cross_entropy(LOGITS, ONE_HOT, reduction="none"), expected)
    np.testing.assert_allclose(L.cross_entropy(LOGITS, SOFT, reduction="none"), -(SOFT * log_p).sum(axis=1))


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4]])
    np.testing.assert_allclose(L.cross_entropy(logits, np.array([0, 1]), reduction="none"),
                               [0.0, np.log(2.0)])


def test_nll_of_log_softmax_is_cross_entropy():
    log_p = np.log(softmax(LOGITS))
    np.testing.assert_allclose(L.nll_loss(log_p, LABELS), L.cross_entropy(LOGITS, LABELS))


def test_kl_divergence_is_sum_t_log_t_over_p():
    p = softmax(LOGITS)
    np.testing.assert_allclose(L.kl_div(SOFT, p, reduction="none"), (SOFT * np.log(SOFT / p)).sum(axis=1))
    np.testing.assert_allclose(L.kl_div(p, p, reduction="none"), 0.0, atol=1e-15)
    assert float(L.kl_div(SOFT, p)) > 0


def test_kl_divergence_equals_cross_entropy_for_one_hot_targets():
    p = softmax(LOGITS)
    np.testing.assert_allclose(L.kl_div(ONE_HOT, p, reduction="none"),
                               L.cross_entropy(LOGITS, LABELS, reduction="none"), rtol=1e-12)
    grad_kl = cr.grad(lambda a: L.kl_div(ONE_HOT, special.softmax(a, axis=1)))(LOGITS)
    grad_ce = cr.grad(lambda a: L.cross_entropy(a, LABELS))(LOGITS)
    np.testing.assert_allclose(grad_kl, grad_ce, rtol=1e-10, atol=1e-15)


def test_binary_hinge_losses_match_their_formulas():
    margin = 1 - PM1 * SCORES
    np.testing.assert_allclose(L.hinge(SCORES, PM1, reduction="none"), np.maximum(0, margin))
    np.testing.assert_allclose(L.squared_hinge(SCORES, PM1, reduction="none"), np.maximum(0, margin) ** 2)


def test_multiclass_hinge_is_weston_watkins():
    expected = [sum(max(0.0, 1 + LOGITS[i, k] - LOGITS[i, LABELS[i]]) for k in range(4) if k != LABELS[i])
                for i in range(5)]
    np.testing.assert_allclose(L.multiclass_hinge(LOGITS, LABELS, reduction="none"), expected)


@pytest.mark.parametrize("loss, args", [
    (L.mse, (R.normal(size=(4, 2)), R.normal(size=(4, 2)))),
    (L.log_loss, (PROBS, BINARY)),
    (L.cross_entropy, (LOGITS, LABELS)),
    (L.hinge, (SCORES, PM1)),
    (L.multiclass_hinge, (LOGITS, LABELS)),
])
def test_reductions_sum_mean_and_none_agree(loss, args):
    per = np.asarray(loss(*args, reduction="none"))
    np.testing.assert_allclose(loss(*args, reduction="sum"), per.sum())
    np.testing.assert_allclose(loss(*args, reduction="mean"), per.mean())
    np.testing.assert_allclose(loss(*args), per.mean())


# --------------------------------------------------------------------------- derivatives

@pytest.mark.parametrize("name, f, x", [
    ("mse", lambda p: L.mse(p, np.ones((4, 2)), reduction="none"), R.normal(size=(4, 2))),
    ("log_loss", lambda p: L.log_loss(p, BINARY, reduction="none"), PROBS),
    ("log_loss from logits", lambda a: L.log_loss(a, BINARY, from_logits=True, reduction="none"), SCORES),
    ("log_loss soft labels", lambda a: L.log_loss(a, PROBS[::-1], from_logits=True), SCORES),
    ("cross_entropy labels", lambda a: L.cross_entropy(a, LABELS, reduction="none"), LOGITS),
    ("cross_entropy soft", lambda a: L.cross_entropy(a, SOFT, reduction="sum"), LOGITS),
    ("nll_loss", lambda lp: L.nll_loss(lp, LABELS, reduction="none"), np.log(softmax(LOGITS))),
    ("kl_div predicted", lambda p: L.kl_div(SOFT, p, reduction="none"), softmax(LOGITS)),
    ("kl_div target", lambda t: L.kl_div(t, softmax(LOGITS)), SOFT),
    ("hinge", lambda s: L.hinge(s, PM1, reduction="none"), SCORES),
    ("squared_hinge", lambda s: L.squared_hinge(s, PM1), SCORES),
    ("multiclass_hinge", lambda s: L.multiclass_hinge(s, LABELS, reduction="none"), LOGITS),
])
def test_loss_passes_gradcheck(name, f, x):
    assert cr.gradcheck(f, x, modes=("fwd", "rev"), order=2)


def test_loss_jacobians_agree_in_both_modes_and_with_finite_differences():
    f = lambda a: L.cross_entropy(a, LABELS, reduction="none")
    rev, fwd = cr.jacobian(f, mode="rev")(LOGITS), cr.jacobian(f, mode="fwd")(LOGITS)
    np.testing.assert_allclose(rev, fwd, rtol=1e-12, atol=1e-15)
    fd = numerical_jacobian(lambda a: np.asarray(f(a)), LOGITS)
    np.testing.assert_allclose(rev, fd, rtol=1e-6, atol=1e-9)


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    g = cr.grad(lambda a: L.cross_entropy(a, LABELS, reduction="sum"))(LOGITS)
    np.testing.assert_allclose(g, softmax(LOGITS) - ONE_HOT, atol=1e-15)


@pytest.mark.parametrize("loss, args", [
    (L.mse, (np.ones((3, 2)),)),
    (L.log_loss, (np.array([1.0, 0.0, 1.0]),)),
    (L.cross_entropy, (np.array([0, 2, 1]),)),
    (L.hinge, (np.array([1, -1, 1]),)),
    (L.multiclass_hinge, (np.array([0, 2, 1]),)),
])
def test_float32_predictions_give_float32_losses_and_gradients(loss, args):
    shape = (3, 2) if loss is L.mse else (3,) if loss in (L.log_loss, L.hinge) else (3, 3)
    x = cr.tensor(np.full(shape, 0.25, np.float32), requires_grad=True)
    value = loss(x, *args)
    value.backward()
    assert value.dtype == np.float32 and x.grad.dtype == np.float32


def test_loss_modules_call_their_functions():
    np.testing.assert_array_equal(np.asarray(nn.CrossEntropyLoss()(LOGITS, LABELS)),
                                  np.asarray(L.cross_entropy(LOGITS, LABELS)))
    np.testing.assert_array_equal(np.asarray(nn.MSELoss(reduction="sum")(PROBS, BINARY)),
                                  np.asarray(L.mse(PROBS, BINARY, reduction="sum")))
    np.testing.assert_array_equal(np.asarray(nn.LogLoss(from_logits=True)(SCORES, BINARY)),
                                  np.asarray(L.log_loss(SCORES, BINARY, from_logits=True)))
    p = softmax(LOGITS)
    np.testing.assert_array_equal(np.asarray(nn.KLDivLoss()(p, SOFT)), np.asarray(L.kl_div(SOFT, p)))
    np.testing.assert_array_equal(np.asarray(nn.MultiClassHingeLoss(margin=2.0)(LOGITS, LABELS)),
                                  np.asarray(L.multiclass_hinge(LOGITS, LABELS, margin=2.0)))
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss(reduction='mean')"


# --------------------------------------------------------------------------- bad input

def test_labels_out_of_range_are_named():
    expected = r"cross_entropy: labels must be in \[0, 3\] for 4 classes; got \[-1, 4\]"
    with pytest.raises(ValueError, match=expected):
        L.cross_entropy(LOGITS, np.array([0, 4, 1, -1, 2]))
    with pytest.raises(ValueError, match=r"nll_loss: labels must be in \[0, 3\].*got \[7\]"):
        L.nll_loss(np.log(softmax(LOGITS)), np.array([0, 7, 1, 1, 2]))
    with pytest.raises(ValueError, match="multiclass_hinge: labels must be in"):
        L.multiclass_hinge(LOGITS, np.array([0, 9, 1, 1, 2]))
    with pytest.raises(ValueError, match="labels must be integers, got \\[0.5\\]"):
        L.cross_entropy(LOGITS, np.array([0, 0.5, 1, 1, 2]))


def test_hinge_refuses_zero_one_labels_and_says_how_to_map_them():
    for loss in (L.hinge, L.squared_hinge):
        with pytest.raises(ValueError, match=r"labels must be -1 or \+1, got 0/1 labels.*2 \* y - 1"):
            loss(SCORES, BINARY)
    with pytest.raises(ValueError, match=r"hinge: labels must be -1 or \+1; got \[2\]"):
        L.hinge(SCORES, np.array([1, -1, 2, 1, 1, -1]))


def test_wrong_shapes_are_named():
    expected = r"mse: the prediction has shape \(4,\) but the target has shape \(4, 1\)"
    with pytest.raises(ValueError, match=expected):
        L.mse(np.ones(4), np.ones((4, 1)))
    with pytest.raises(ValueError, match=r"cross_entropy: logits must have shape \(N, K\).*\(2, 2, 4\)"):
        L.cross_entropy(np.ones((2, 2, 4)), np.array([1, 0]))
    with pytest.raises(ValueError, match=r"for logits of shape \(4,\) \(one sample\) the target must be a "
                                         r"scalar label or a distribution of shape \(4,\), got shape \(1,\)"):
        L.cross_entropy(np.ones(4), np.array([1]))
    with pytest.raises(ValueError, match=r"cross_entropy: labels must have shape \(5,\)"):
        L.cross_entropy(LOGITS, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"cross_entropy: target must be labels of shape \(5,\) or rows"):
        L.cross_entropy(LOGITS, np.ones((5, 3)) / 3)
    with pytest.raises(ValueError, match="log_loss: the prediction has shape"):
        L.log_loss(PROBS, BINARY[:3])


def test_probabilities_outside_the_unit_interval_are_named():
    expected = r"log_loss: probabilities .* must lie in \[0, 1\]; got values \[1.5\]"
    with pytest.raises(ValueError, match=expected):
        L.log_loss(np.array([0.5, 1.5]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"log_loss: labels must lie in \[0, 1\]; got values \[-1.0\]"):
        L.log_loss(np.array([0.5, 0.5]), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"kl_div: predicted probabilities must lie in \[0, 1\]"):
        L.kl_div(SOFT, SOFT * 2)
    with pytest.raises(ValueError, match="cross_entropy: target rows must sum to 1"):
        L.cross_entropy(LOGITS, ONE_HOT * 0.5)
    with pytest.raises(ValueError, match="nll_loss: log-probabilities must be ≤ 0"):
        L.nll_loss(softmax(LOGITS), LABELS)


def test_nan_inputs_are_refused_with_their_position():
    bad = LOGITS.copy()
    bad[2, 1] = np.nan
    expected = r"cross_entropy: the prediction contains NaN \(1 of 20 entries, the first at index \(2, 1\)\)"
    with pytest.raises(ValueError, match=expected):
        L.cross_entropy(bad, LABELS)
    for reduction in ("none", "sum"):                  # per-row results and a traced input too
        with pytest.raises(ValueError, match=expected):
            L.cross_entropy(cr.tensor(bad.astype(np.float32), requires_grad=True), LABELS, reduction)
    with pytest.raises(ValueError, match="mse: the target contains NaN"):
        L.mse(np.ones(3), np.array([1.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match="hinge: the prediction contains NaN"):
        L.hinge(np.array([np.nan, 1.0]), np.array([1, -1]))


def test_unknown_reduction_is_refused():
    expected = r"mse: reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"
    with pytest.raises(ValueError, match=expected):
        L.mse(np.ones(2), np.ones(2), reduction="avg")


# --------------------------------------------------------------------------- review fixes

TARGET_CASES = {   # loss as a function of its target, a valid target, and ∂loss/∂target by hand
    "mse": (lambda t: L.mse(PROBS, t), BINARY * 0.5 + 0.2,
            lambda t: -2.0 * (PROBS - t) / PROBS.size),
    "log_loss": (lambda t: L.log_loss(PROBS, t), BINARY * 0.5 + 0.2,
                 lambda t: -(np.log(PROBS) - np.log(1 - PROBS)) / PROBS.size),
    "log_loss from logits": (lambda t: L.log_loss(SCORES, t, from_logits=True), BINARY * 0.5 + 0.2,
                             lambda t: -SCORES / SCORES.size),
    "hinge": (lambda t: L.hinge(SCORES, t), PM1.astype(float),
              lambda t: np.where(1 - t * SCORES > 0, -SCORES, 0.0) / SCORES.size),
    "squared_hinge": (lambda t: L.squared_hinge(SCORES, t), PM1.astype(float),
                      lambda t: np.where(1 - t * SCORES > 0, -2 * (1 - t * SCORES) * SCORES, 0.0)
                      / SCORES.size),
    "soft cross_entropy": (lambda t: L.cross_entropy(LOGITS, t), SOFT,
                           lambda t: -special.log_softmax(LOGITS, axis=1) / len(LOGITS)),
}


@pytest.mark.parametrize("case", list(TARGET_CASES))
def test_real_valued_targets_are_differentiated_where_the_loss_is_differentiable_in_them(case):
    f, t0, expected = TARGET_CASES[case]
    np.testing.assert_allclose(cr.grad(f)(t0), expected(t0), rtol=1e-10, atol=1e-12)
    t = cr.tensor(t0, requires_grad=True)                 # the object API too
    f(t).backward()
    np.testing.assert_allclose(t.grad, expected(t0), rtol=1e-10, atol=1e-12)
    if case not in ("hinge", "squared_hinge"):            # ±1 labels: no room for finite differences
        assert cr.gradcheck(f, t0, modes=("fwd", "rev"), order=2)


def test_a_traced_float32_target_gives_float32_values_and_gradients():
    pred = PROBS.astype(np.float32)
    g = cr.grad(lambda t: L.mse(pred, t))(BINARY.astype(np.float32))
    assert g.dtype == np.float32
    g64 = cr.grad(lambda t: L.mse(pred, t))(BINARY)       # a float64 target is cast to the prediction's dtype
    assert g64.dtype == np.float64 and L.mse(pred, cr.tensor(BINARY, requires_grad=True)).dtype == np.float32


def test_targets_are_still_validated_when_traced():
    with pytest.raises(ValueError, match="mse: the target contains NaN"):
        cr.grad(lambda t: L.mse(PROBS, t))(np.array([np.nan, 0, 0, 0, 0, 0.0]))
    with pytest.raises(ValueError, match=r"log_loss: labels must lie in \[0, 1\]"):
        cr.grad(lambda t: L.log_loss(PROBS, t))(BINARY * 2)
    with pytest.raises(ValueError, match="cross_entropy: target rows must sum to 1"):
        cr.grad(lambda t: L.cross_entropy(LOGITS, t))(SOFT * 0.5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_takes_one_unbatched_sample_like_a_batch_of_one(reduction):
    row, label = LOGITS[1], LABELS[1]
    value = L.cross_entropy(row, label, reduction=reduction)
    expected = -np.log(softmax(row[None])[0, label])
    assert np.shape(value) == () and np.isclose(value, expected)
    np.testing.assert_allclose(L.cross_entropy(row, SOFT[1], reduction=reduction),
                               L.cross_entropy(row[None], SOFT[1:2], reduction="sum"))
    g = cr.grad(lambda z: L.cross_entropy(z, label, reduction=reduction))(row)
    np.testing.assert_allclose(g, softmax(row[None])[0] - np.eye(4)[label])
    assert cr.gradcheck(lambda z: L.cross_entropy(z, label, reduction=reduction), row,
                        modes=("fwd", "rev"), order=2)


def test_error_messages_agree_in_number():
    with pytest.raises(ValueError, match=r"cross_entropy: the labels contain NaN \(1 of 5 entries"):
        L.cross_entropy(LOGITS, np.array([0.0, 1.0, np.nan, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"log_loss: the prediction has shape \(6,\) but the labels have "
                                         r"shape \(3,\)"):
        L.log_loss(PROBS, BINARY[:3])
    with pytest.raises(ValueError, match="hinge: the labels contain NaN"):
        L.hinge(SCORES, np.array([1, -1, np.nan, 1, 1, -1]))


def test_negative_labels_are_refused_whatever_their_integer_type_and_byte_order():
    z = np.zeros((2, 300))
    for dtype in (np.int8, np.int16, np.int64):
        with pytest.raises(ValueError, match=r"labels must be in \[0, 299\] for 300 classes; got \[-1\]"):
            L.cross_entropy(z, np.array([-1, 0], dtype))
    big_endian = np.array([0, 1, 3], ">i4")
    np.testing.assert_allclose(np.asarray(L.cross_entropy(np.zeros((3, 4)), big_endian)), np.log(4.0))
    with pytest.raises(ValueError, match=r"got \[-2\]"):
        L.cross_entropy(np.zeros((3, 4)), np.array([0, -2, 3], ">i4"))


def test_nll_loss_of_one_unbatched_sample_as_in_pytorch():
    log_p = np.log(softmax(LOGITS))
    for i in range(len(LABELS)):
        np.testing.assert_allclose(L.nll_loss(log_p[i], LABELS[i]), -log_p[i, LABELS[i]])
        g = cr.grad(lambda lp: L.nll_loss(lp, LABELS[i]))(log_p[i])
        np.testing.assert_array_equal(g, -np.eye(log_p.shape[1])[LABELS[i]])
    with pytest.raises(ValueError, match=r"nll_loss: for log-probabilities of shape \(4,\) \(one sample\) "
                                         r"the label must be a scalar, got shape \(1,\)"):
        L.nll_loss(log_p[0], np.array([1]))
