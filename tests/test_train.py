"""chainrule.train and chainrule.metrics: fitting, evaluating, stopping, checkpoints, resuming."""

import numpy as np
import pytest

from chainrule import checkpoint, metrics, nn, optim
from chainrule.data import DataLoader
from chainrule.train import Callback, EarlyStopping, ModelCheckpoint, TrainingDiverged, evaluate, fit

cross_entropy = nn.losses.cross_entropy


def _blobs(n=240, seed=0):
    """Three well-separated Gaussian classes in 4 dimensions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(3, 4))
    y = rng.integers(0, 3, n)
    X = centres[y] + rng.normal(size=(n, 4))
    return X, y


def _setup(seed=0, data_seed=0, dropout=0.0, lr=0.01):
    X, y = _blobs()
    model = nn.MLP([4, 16, 3], activation="tanh", rng=seed, dropout=dropout)
    opt = optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(X, y, batch_size=32, shuffle=True, seed=data_seed)
    return model, opt, loader


def _params(model):
    return {k: np.asarray(p).copy() for k, p in model.named_parameters()}


# --------------------------------------------------------------------------- fit / evaluate

def test_fit_learns_separable_blobs_and_records_one_entry_per_epoch():
    model, opt, loader = _setup()
    X, y = _blobs(seed=0)
    val = DataLoader(X, y, batch_size=100)
    before = evaluate(model, cross_entropy, val)
    history = fit(model, cross_entropy, opt, loader, epochs=15, val_loader=val, progress=False)
    assert len(history) == 15 and history.epoch == list(range(1, 16))
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_loss[-1] < before["loss"]
    assert history.val_accuracy[-1] >= 0.95
    assert all(t > 0 for t in history.time)
    assert history.stopped_reason is None


def test_evaluate_is_the_sample_weighted_mean_loss_and_the_accuracy_of_the_argmax():
    model, _, _ = _setup()
    X, y = _blobs()
    result = evaluate(model, cross_entropy, DataLoader(X, y, batch_size=50))   # last batch is short
    logits = np.asarray(model(X))
    assert result["samples"] == len(y)
    assert result["loss"] == pytest.approx(float(cross_entropy(logits, y)), rel=1e-12)
    assert result["accuracy"] == metrics.accuracy(y, logits)


def test_evaluate_leaves_dropout_off_and_restores_training_mode():
    model, _, _ = _setup(dropout=0.5)
    X, y = _blobs()
    loader = DataLoader(X, y, batch_size=240)
    a = evaluate(model, cross_entropy, loader)
    b = evaluate(model, cross_entropy, loader)
    assert a == b and model.training


def test_progress_bar_shows_the_loss_and_the_throughput(capsys):
    model, opt, loader = _setup()
    fit(model, cross_entropy, opt, loader, epochs=1, progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "loss=" in err and "samples/s" in err


# --------------------------------------------------------------------------- callbacks

def test_early_stopping_ends_training_after_patience_epochs_without_improvement():
    model, _, loader = _setup()
    frozen = optim.SGD(model.parameters(), lr=1e-12)
    X, y = _blobs()
    stopper = EarlyStopping(monitor="val_loss", patience=2, min_delta=1e-3)
    history = fit(model, cross_entropy, frozen, loader, epochs=50,
                  val_loader=DataLoader(X, y, batch_size=240), callbacks=[stopper], progress=False)
    assert len(history) == 3
    assert "early stopping: val_loss did not improve for 2 epochs" in history.stopped_reason


def test_early_stopping_on_validation_needs_a_validation_loader():
    model, opt, loader = _setup()
    with pytest.raises(ValueError, match="needs a val_loader"):
        fit(model, cross_entropy, opt, loader, epochs=1, callbacks=[EarlyStopping()], progress=False)


class _Snapshots(Callback):
    def __init__(self):
        self.params = []

    def on_epoch_end(self, state):
        self.params.append(_params(state.model))


def test_model_checkpoint_save_best_only_keeps_the_best_epoch(tmp_path):
    model, opt, loader = _setup(lr=0.05)
    X, y = _blobs(seed=0)
    snaps = _Snapshots()
    saver = ModelCheckpoint(tmp_path / "best.safetensors", save_best_only=True, monitor="val_loss")
    history = fit(model, cross_entropy, opt, loader, epochs=6, val_loader=DataLoader(X, y, batch_size=240),
                  callbacks=[snaps, saver], progress=False)
    best = int(np.argmin(history.val_loss))
    restored, _, _ = _setup(seed=9)
    meta = checkpoint.load(tmp_path / "best.safetensors", restored)
    assert meta["epoch"] == best + 1
    for name, value in _params(restored).items():
        assert np.array_equal(value, snaps.params[best][name])


# --------------------------------------------------------------------------- divergence guard

def _nan_after(calls):
    count = [0]

    def loss(outputs, targets):
        count[0] += 1
        value = cross_entropy(outputs, targets)
        return value * float("nan") if count[0] > calls else value
    return loss


def test_a_nan_loss_stops_training_and_leaves_the_last_good_checkpoint(tmp_path):
    model, opt, loader = _setup()
    path = tmp_path / "last.safetensors"
    snaps = _Snapshots()
    batches = len(loader)
    with pytest.raises(TrainingDiverged, match=r"became nan at epoch 3, batch 2.*last good checkpoint is "
                                               r".*last.safetensors \(epoch 2\)") as info:
        fit(model, _nan_after(2 * batches + 1), opt, loader, epochs=5,
            callbacks=[snaps, ModelCheckpoint(path)], progress=False)
    assert info.value.epoch == 3 and info.value.batch == 2
    assert len(info.value.history) == 2 and "became nan" in info.value.history.stopped_reason
    restored, _, _ = _setup(seed=5)
    assert checkpoint.load(path, restored)["epoch"] == 2
    for name, value in _params(restored).items():
        assert np.array_equal(value, snaps.params[1][name])


def test_a_huge_learning_rate_is_caught_as_divergence():
    _, _, loader = _setup()
    model = nn.MLP([4, 16, 3], activation="relu", rng=0)
    blowup = optim.SGD(model.parameters(), lr=1e30)
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match="NaN or infinite|became (nan|inf)"):
        fit(model, cross_entropy, blowup, loader, epochs=3, progress=False)


# --------------------------------------------------------------------------- resuming

def test_resuming_from_a_checkpoint_continues_bit_exactly(tmp_path):
    # dropout draws from the model's generator and the schedule changes lr every epoch:
    # both must be restored along with the parameters, the optimizer and the data order
    def schedule(opt):
        return optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)

    straight, opt, loader = _setup(dropout=0.2)
    full = fit(straight, cross_entropy, opt, loader, epochs=4, scheduler=schedule(opt), progress=False)

    first, opt1, loader1 = _setup(dropout=0.2)
    path = tmp_path / "half.safetensors"
    fit(first, cross_entropy, opt1, loader1, epochs=2, scheduler=schedule(opt1),
        callbacks=[ModelCheckpoint(path)], progress=False)

    # fresh objects with other seeds: everything that matters must come from the file
    resumed, opt2, loader2 = _setup(seed=123, data_seed=456, dropout=0.2)
    history = fit(resumed, cross_entropy, opt2, loader2, epochs=4, scheduler=schedule(opt2),
                  resume=path, progress=False)

    for name, value in _params(straight).items():
        assert np.array_equal(value, _params(resumed)[name]), name
    assert history.train_loss == full.train_loss
    assert history.epoch == [1, 2, 3, 4]


def test_resume_refuses_a_checkpoint_without_training_state(tmp_path):
    model, opt, loader = _setup()
    checkpoint.save(tmp_path / "plain.safetensors", model, opt)
    with pytest.raises(ValueError, match="no training state to resume from"):
        fit(model, cross_entropy, opt, loader, epochs=2, resume=tmp_path / "plain.safetensors")


# --------------------------------------------------------------------------- metrics

def test_metrics_agree_with_scikit_learn():
    from sklearn import metrics as sk
    rng = np.random.default_rng(3)
    y = rng.integers(0, 5, 200)
    scores = rng.normal(size=(200, 5))
    scores[np.arange(200), y] += rng.normal(1.0, 1.0, 200)
    predicted = scores.argmax(1)
    assert metrics.accuracy(y, scores) == sk.accuracy_score(y, predicted)
    assert metrics.accuracy(y, predicted) == sk.accuracy_score(y, predicted)
    np.testing.assert_array_equal(metrics.confusion_matrix(y, predicted), sk.confusion_matrix(y, predicted))
    for k in (1, 2, 3):
        assert metrics.top_k_accuracy(y, scores, k=k) == pytest.approx(
            sk.top_k_accuracy_score(y, scores, k=k, labels=range(5)))


def test_metrics_reject_mismatched_inputs_with_clear_messages():
    with pytest.raises(ValueError, match="y_true has 3 samples but y_pred has 2"):
        metrics.accuracy([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match=r"k must be in 1..3, got 4"):
        metrics.top_k_accuracy([0, 1], np.zeros((2, 3)), k=4)
    with pytest.raises(ValueError, match=r"labels outside 0..1"):
        metrics.confusion_matrix([0, 2], [0, 1], num_classes=2)
