"""chainrule.train and chainrule.metrics: fitting, evaluating, stopping, checkpoints, resuming."""

import warnings

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


@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_fit_with_replay_gives_the_ordinary_numbers_to_the_last_bit(dropout, monkeypatch):
    from chainrule import replay
    replays = []
    original = replay.TrainStep._replay
    monkeypatch.setattr(replay.TrainStep, "_replay",
                        lambda self, *a: replays.append(1) or original(self, *a))
    results = []
    for use_replay in (False, True):
        model, opt, loader = _setup(dropout=dropout)          # 240 samples: a short last batch
        X, y = _blobs(seed=1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = fit(model, cross_entropy, opt, loader, epochs=4,
                          val_loader=DataLoader(X, y, batch_size=100), progress=False, replay=use_replay)
        results.append((history.as_dict(), _params(model), [str(w.message) for w in caught]))
    (h0, p0, w0), (h1, p1, w1) = results
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert h0[key] == h1[key]
    for k in p0:
        np.testing.assert_array_equal(p0[k], p1[k])
    assert not w0
    if dropout:                                   # a fresh mask at each step: never replayed
        assert not replays and len(w1) == 1 and "not replayed" in w1[0] and "dropout" in w1[0]
    else:
        # each epoch (train() starts it) records its first two batches and its short last one
        assert not w1 and len(replays) == 4 * 5


class _SwitchToSGD(Callback):
    def on_epoch_end(self, state):
        if state.epoch == 1:
            state.optimizer = optim.SGD(state.model.parameters(), lr=0.5)


class _Anneal(Callback):
    def on_epoch_end(self, state):
        state.model.t *= 0.9


class _Annealed(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.MLP([4, 8, 3], activation="relu", rng=0)
        self.t = 1.0

    def forward(self, x):
        return self.net(x) * self.t


class _ZeroFirstFeature(_Annealed):
    def forward(self, x):
        x[:, 0] = 0.0                             # writes into the batch, as on an ndarray
        return self.net(x)


@pytest.mark.parametrize("case", ["swap optimizer", "anneal", "write into the batch"])
def test_fit_with_replay_follows_callbacks_and_forwards_like_the_ordinary_run(case):
    # a callback may replace the optimizer, or change a module between epochs; a forward may
    # write into its input: the replaying run must give the ordinary numbers, warning only
    # when it cannot replay
    results = []
    for use_replay in (False, True):
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(100, 4)), rng.integers(0, 3, 100)      # a short last batch
        model = _ZeroFirstFeature() if case == "write into the batch" else _Annealed()
        callbacks = {"swap optimizer": [_SwitchToSGD()], "anneal": [_Anneal()]}.get(case, [])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = fit(model, cross_entropy, optim.Adam(model.parameters(), lr=0.01),
                          DataLoader(X, y, batch_size=16), epochs=3, callbacks=callbacks, progress=False,
                          replay=use_replay)
        results.append((history.train_loss, _params(model), [str(w.message) for w in caught], X))
    (l0, p0, w0, X0), (l1, p1, w1, X1) = results
    assert l0 == l1 and not w0
    for k in p0:
        np.testing.assert_array_equal(p0[k], p1[k])
    np.testing.assert_array_equal(X0, X1)
    if case == "write into the batch":
        assert (X1[:, 0] != 0).all()                 # batches are copies: the dataset is left alone
        assert len(w1) == 1 and "changes an array in place" in w1[0]
    else:
        assert not w1


def test_fit_with_replay_stops_a_diverging_run_where_the_ordinary_run_stops():
    stops = []
    for use_replay in (False, True):
        _, _, loader = _setup()
        model = nn.MLP([4, 16, 3], activation="relu", rng=0)
        blowup = optim.SGD(model.parameters(), lr=1e30)
        with np.errstate(all="ignore"), pytest.raises(TrainingDiverged) as stopped:
            fit(model, cross_entropy, blowup, loader, epochs=3, progress=False, replay=use_replay)
        stops.append((str(stopped.value), stopped.value.epoch, stopped.value.batch, _params(model)))
    (m0, e0, b0, p0), (m1, e1, b1, p1) = stops
    assert (m0, e0, b0) == (m1, e1, b1) and b0 > 2            # past the recordings: a replay stopped
    for k in p0:
        np.testing.assert_array_equal(p0[k], p1[k])


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


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint16])
def test_confusion_matrix_of_narrow_integer_labels_counts_every_sample(dtype):
    # y_true * num_classes + y_pred must not be computed in the labels' own type (uint8 wraps)
    sk = pytest.importorskip("sklearn.metrics")
    y_true = np.array([19, 0, 5, 12, 19, 7], dtype)
    y_pred = np.array([19, 1, 5, 12, 3, 7], dtype)
    got = metrics.confusion_matrix(y_true, y_pred)
    np.testing.assert_array_equal(got, sk.confusion_matrix(y_true, y_pred, labels=range(20)))
    assert got.dtype == np.int64 and got.sum() == len(y_true)


def test_metrics_reject_mismatched_inputs_with_clear_messages():
    with pytest.raises(ValueError, match="y_true has 3 samples but y_pred has 2"):
        metrics.accuracy([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match=r"k must be in 1..3, got 4"):
        metrics.top_k_accuracy([0, 1], np.zeros((2, 3)), k=4)
    with pytest.raises(ValueError, match=r"labels outside 0..1"):
        metrics.confusion_matrix([0, 2], [0, 1], num_classes=2)


# --------------------------------------------------------------------------- review fixes

class _RaiseLearningRate(Callback):
    """From the second epoch on, a learning rate that blows the weights up."""

    def on_epoch_end(self, state):
        state.optimizer.param_groups[0]["lr"] = 1e30


def test_nan_outputs_refused_by_the_library_loss_are_reported_as_divergence(tmp_path):
    from chainrule.data import load_digits
    X, y = load_digits()
    model = nn.MLP([64, 32, 10], activation="relu", rng=0, dtype=np.float32)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    path = tmp_path / "last.safetensors"
    with np.errstate(all="ignore"), pytest.raises(
            TrainingDiverged, match=r"fit: the model's outputs became NaN or infinite at epoch 2, batch \d+; "
                                    r"training stopped.*last good checkpoint is .*last.safetensors "
                                    r"\(epoch 1\)"):
        fit(model, cross_entropy, opt, DataLoader(X[:320], y[:320], batch_size=32, shuffle=True, seed=0), 3,
            callbacks=[_RaiseLearningRate(), ModelCheckpoint(path)], progress=False)
    restored = nn.MLP([64, 32, 10], activation="relu", rng=1, dtype=np.float32)
    assert checkpoint.load(path, restored)["epoch"] == 1
    assert all(np.all(np.isfinite(p.numpy())) for p in restored.parameters())


def test_evaluate_names_non_finite_outputs_instead_of_blaming_the_loss():
    model = nn.Linear(4, 3, rng=0)
    model.weight.data[0, 0] = np.nan
    X, y = _blobs(12)
    with pytest.raises(ValueError, match="evaluate: the model's outputs contain NaN or infinite values"):
        evaluate(model, cross_entropy, DataLoader(X, y, batch_size=4))


def test_fit_refuses_a_loader_without_batches():
    model, opt, _ = _setup()
    X, y = _blobs()
    with pytest.raises(ValueError, match="fit: the training loader yields no batches"):
        fit(model, cross_entropy, opt, DataLoader(X[:0], y[:0], batch_size=4), epochs=2, progress=False)
    with pytest.raises(ValueError, match="fit: the training loader yields no batches"):
        fit(model, cross_entropy, opt, DataLoader(X[:3], y[:3], batch_size=4, drop_last=True), epochs=2,
            progress=False)
    with pytest.raises(ValueError, match="fit: the training loader yielded no samples"):
        fit(model, cross_entropy, opt, _NoBatches(), epochs=1, progress=False)


class _NoBatches:
    """An iterable without a length that yields nothing."""

    def __iter__(self):
        return iter(())


def _digits_run(epochs, callbacks, resume=None):
    from chainrule.data import load_digits
    X, y = load_digits()
    model = nn.MLP([64, 32, 10], rng=0, dtype=np.float32)
    opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    train = DataLoader(X[:1200], y[:1200], batch_size=64, shuffle=True, seed=0)
    val = DataLoader(X[1200:], y[1200:], batch_size=256)
    history = fit(model, cross_entropy, opt, train, epochs, val_loader=val, callbacks=callbacks,
                  progress=False, resume=resume)
    return model, history


def test_resuming_restores_early_stopping_so_the_run_stops_where_the_uninterrupted_one_did(tmp_path):
    straight, full = _digits_run(30, [EarlyStopping(patience=2)])
    stop = len(full)
    assert 3 <= stop < 30 and full.stopped_reason.startswith("early stopping")
    path = tmp_path / "last.safetensors"
    # the checkpoint is listed first, yet written after EarlyStopping has seen the epoch
    _digits_run(stop - 1, [ModelCheckpoint(path), EarlyStopping(patience=2)])
    resumed, history = _digits_run(30, [EarlyStopping(patience=2)], resume=path)
    assert len(history) == stop and history.val_loss == full.val_loss
    assert history.stopped_reason == full.stopped_reason
    for name, value in _params(straight).items():
        assert np.array_equal(value, _params(resumed)[name]), name
    # resuming the checkpoint of a run that had stopped early trains no further
    _digits_run(30, [ModelCheckpoint(path), EarlyStopping(patience=2)])
    _, again = _digits_run(40, [EarlyStopping(patience=2)], resume=path)
    assert len(again) == stop


class _StopAfter(Callback):
    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_end(self, state):
        if state.epoch >= self.epochs:
            state.stop = True


def test_resuming_a_run_that_any_callback_stopped_trains_no_further(tmp_path):
    path = tmp_path / "last.safetensors"
    _, stopped = _digits_run(30, [ModelCheckpoint(path), _StopAfter(2)])
    assert len(stopped) == 2
    _, again = _digits_run(30, [], resume=path)              # no callback to stop it this time
    assert len(again) == 2


def test_resuming_restores_the_best_value_of_a_save_best_only_checkpoint(tmp_path):
    best_path, last_path = tmp_path / "best.safetensors", tmp_path / "last.safetensors"
    _, full = _digits_run(6, [ModelCheckpoint(best_path, save_best_only=True)])
    best_epoch = int(np.argmin(full.val_loss)) + 1
    assert best_epoch < 6                                 # a later epoch was worse: it must not be saved
    _digits_run(best_epoch, [ModelCheckpoint(best_path, save_best_only=True), ModelCheckpoint(last_path)])
    saver = ModelCheckpoint(best_path, save_best_only=True)
    _digits_run(6, [saver], resume=last_path)
    assert saver.best == min(full.val_loss) and saver.saved_epoch == best_epoch
    assert checkpoint.load(best_path)["epoch"] == best_epoch


def test_model_checkpoint_checks_its_options_before_training(tmp_path):
    with pytest.raises(ValueError, match="ModelCheckpoint: cannot monitor 'val_los'; choose one of"):
        ModelCheckpoint(tmp_path / "m.safetensors", save_best_only=True, monitor="val_los")
    with pytest.raises(ValueError, match="ModelCheckpoint: mode must be 'min', 'max' or 'auto', got 'lowest"):
        ModelCheckpoint(tmp_path / "m.safetensors", save_best_only=True, mode="lowest")
    with pytest.raises(ValueError, match=r"ModelCheckpoint: metadata names \['epoch', 'history'\] are "
                                         r"reserved"):
        ModelCheckpoint(tmp_path / "m.safetensors", metadata={"epoch": 1, "history": [], "arch": [4, 3]})
    with pytest.raises(TypeError, match="must be JSON-serialisable"):
        ModelCheckpoint(tmp_path / "m.safetensors", metadata={"callback": print})
    model, opt, loader = _setup()
    saver = ModelCheckpoint(tmp_path / "m.safetensors", save_best_only=True)        # monitors val_loss
    with pytest.raises(ValueError, match="ModelCheckpoint: monitoring 'val_loss' needs a val_loader"):
        fit(model, cross_entropy, opt, loader, epochs=2, callbacks=[saver], progress=False)
    assert not (tmp_path / "m.safetensors").exists()
    on_train = ModelCheckpoint(tmp_path / "t.safetensors", save_best_only=True, monitor="train_loss")
    history = fit(model, cross_entropy, opt, loader, epochs=3, callbacks=[on_train], progress=False)
    assert checkpoint.load(tmp_path / "t.safetensors")["epoch"] == int(np.argmin(history.train_loss)) + 1


def test_top_k_accuracy_breaks_ties_like_argmax_and_refuses_nan():
    y = np.array([0, 1, 2, 3])
    assert metrics.top_k_accuracy(y, np.zeros((4, 5)), k=1) == 0.25     # only class 0 ranks first
    assert metrics.top_k_accuracy(y, np.zeros((4, 5)), k=2) == 0.5
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, size=(300, 4)).astype(float)             # many ties
    labels = rng.integers(0, 4, 300)
    assert metrics.top_k_accuracy(labels, scores, k=1) == metrics.accuracy(labels, scores)
    order = np.argsort(-scores, axis=1, kind="stable")                      # ties: lower index first
    for k in (2, 3):
        expected = np.mean([labels[i] in order[i, :k] for i in range(300)])
        assert metrics.top_k_accuracy(labels, scores, k=k) == expected
    nan_scores = np.zeros((4, 5))
    nan_scores[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"top_k_accuracy: scores contain NaN \(rows \[2\]\)"):
        metrics.top_k_accuracy(y, nan_scores, k=2)


def test_metrics_compare_string_labels_and_refuse_non_integral_floats():
    assert metrics.accuracy(np.array(["cat", "dog", "cat"]), np.array(["cat", "cat", "cat"])) == 2 / 3
    assert metrics.accuracy(["cat", "dog"], ["cat", "dog"]) == 1.0
    with pytest.raises(ValueError, match=r"confusion_matrix: y_pred must hold integer labels, got "
                                         r"non-integral values \[1.5\]"):
        metrics.confusion_matrix([0, 1, 1], [0.0, 1.5, 1.0])
    with pytest.raises(ValueError, match="accuracy: y_true must hold integer labels, got non-integral"):
        metrics.accuracy([0.5, 1.0], [0, 1])
    with pytest.raises(TypeError, match="confusion_matrix: y_true must hold integer class labels, got "
                                        "dtype <U3"):
        metrics.confusion_matrix(["cat", "dog"], ["cat", "cat"])
    with pytest.raises(TypeError, match="hold different kinds of labels"):
        metrics.accuracy(["0", "1"], [0, 1])
    np.testing.assert_array_equal(metrics.confusion_matrix([0, 1, 1], [0.0, 1.0, 0.0]), [[1, 0], [1, 1]])


class _TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 3, rng=0), nn.Linear(2, 3, rng=1)

    def forward(self, x1, x2):
        return self.a(x1) + self.b(x2)


@pytest.mark.parametrize("use_replay", [False, True])
def test_fit_feeds_every_input_of_a_batch_to_the_model(use_replay):
    rng = np.random.default_rng(0)
    X1, X2, y = rng.normal(size=(64, 4)), rng.normal(size=(64, 2)), rng.integers(0, 3, 64)
    model = _TwoInputs()
    opt = optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, cross_entropy, opt, DataLoader(X1, X2, y, batch_size=16), epochs=3, progress=False,
                  replay=use_replay)
    # the same steps by hand
    twin = _TwoInputs()
    twin_opt = optim.SGD(twin.parameters(), lr=0.1)
    for _ in range(3):
        for x1, x2, yb in DataLoader(X1, X2, y, batch_size=16):
            twin_opt.zero_grad()
            cross_entropy(twin(x1, x2), yb).backward()
            twin_opt.step()
    assert history.train_loss[-1] < history.train_loss[0]
    for k, v in _params(model).items():
        np.testing.assert_array_equal(v, _params(twin)[k])


def test_infinite_outputs_on_the_validation_data_stop_training_as_diverged():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((32, 4)), rng.integers(0, 2, 32)
    Xv = X.copy()
    Xv[0] = [np.inf, 0, 0, 0]                 # cross_entropy returns NaN here instead of refusing
    model = nn.Linear(4, 2, rng=0)
    with warnings.catch_warnings(), pytest.raises(TrainingDiverged, match="outputs on the validation data"):
        warnings.simplefilter("ignore", RuntimeWarning)
        fit(model, nn.losses.cross_entropy, optim.SGD(model.parameters(), lr=0.1),
            DataLoader(X, y, batch_size=8), 3, val_loader=DataLoader(Xv, y, batch_size=8),
            callbacks=[EarlyStopping(patience=2)], progress=False)


def test_one_output_column_has_no_accuracy_since_its_threshold_is_unknown():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((32, 4)), rng.integers(0, 2, 32)
    model = nn.MLP([4, 8, 1], rng=0)
    history = fit(model, lambda o, t: nn.losses.log_loss(o, t.reshape(-1, 1), from_logits=True),
                  optim.Adam(model.parameters(), lr=0.05), DataLoader(X, y, batch_size=8), 2,
                  val_loader=DataLoader(X, y, batch_size=8), progress=False)
    assert history.train_accuracy == [None, None] and history.val_accuracy == [None, None]


def test_a_checkpoint_folder_that_does_not_exist_is_refused_before_training(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((16, 4)), rng.integers(0, 2, 16)
    model = nn.Linear(4, 2, rng=0)
    with pytest.raises(FileNotFoundError, match="ModelCheckpoint: the folder of .* does not exist"):
        fit(model, nn.losses.cross_entropy, optim.SGD(model.parameters(), lr=0.1),
            DataLoader(X, y, batch_size=8), 2,
            callbacks=[ModelCheckpoint(tmp_path / "missing" / "ckpt.safetensors")], progress=False)
    assert model.weight.grad is None                     # nothing was trained


def test_fit_steps_reduce_on_plateau_with_the_validation_loss():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 4)), rng.integers(0, 2, 32)
    model = nn.MLP([4, 3, 2], rng=0)
    opt = optim.SGD(model.parameters(), lr=1e-6)            # the loss barely moves: a plateau
    seen = []

    class Spy(optim.ReduceLROnPlateau):
        def step(self, metrics):
            seen.append(metrics)
            super().step(metrics)

    sched = Spy(opt, patience=1, factor=0.5)
    history = fit(model, cross_entropy, opt, DataLoader(X, y, batch_size=8), epochs=4, scheduler=sched,
                  val_loader=DataLoader(X, y, batch_size=32), progress=False)
    assert seen == history.val_loss
    assert opt.param_groups[0]["lr"] == 1e-6 * 0.5         # bad steps 2 and 3: one reduction


def test_resume_reads_generator_states_of_dropouts_that_now_share_one_generator(tmp_path):
    # checkpoints written while each Dropout had its own generator list one state per path;
    # Dropouts made without rng= now share chainrule.manual_seed's generator
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 4)), rng.integers(0, 2, 32)

    def model(seeds):
        return nn.Sequential(nn.Linear(4, 6, rng=0), nn.Dropout(0.2, rng=seeds[0]), nn.ReLU(),
                             nn.Linear(6, 6, rng=1), nn.Dropout(0.2, rng=seeds[1]), nn.Linear(6, 2, rng=2))

    path = tmp_path / "ck.safetensors"
    first = model((1, 2))
    fit(first, cross_entropy, optim.SGD(first.parameters(), lr=0.1), DataLoader(X, y, batch_size=8), epochs=1,
        callbacks=[ModelCheckpoint(path)], progress=False)
    again = model((None, None))
    history = fit(again, cross_entropy, optim.SGD(again.parameters(), lr=0.1), DataLoader(X, y, batch_size=8),
                  epochs=2, resume=path, progress=False)
    assert len(history.train_loss) == 2


def test_fit_steps_reduce_on_plateau_in_max_mode_with_the_validation_accuracy():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(32, 4)), rng.integers(0, 2, 32)
    model = nn.MLP([4, 3, 2], rng=0)
    opt = optim.SGD(model.parameters(), lr=1e-6)
    seen = []

    class Spy(optim.ReduceLROnPlateau):
        def step(self, metrics):
            seen.append(metrics)
            super().step(metrics)

    history = fit(model, cross_entropy, opt, DataLoader(X, y, batch_size=8), epochs=3,
                  scheduler=Spy(opt, mode="max", patience=5), val_loader=DataLoader(X, y, batch_size=32),
                  progress=False)
    assert seen == history.val_accuracy
    with pytest.raises(ValueError, match=r"\(mode=.max.\) is stepped with the validation accuracy"):
        fit(model, cross_entropy, opt, DataLoader(X, y, batch_size=8), epochs=1,
            scheduler=optim.ReduceLROnPlateau(opt, mode="max"), progress=False)


def test_fit_refuses_batches_of_dicts_by_name():
    records = [{"x": np.ones(4), "y": 0}, {"x": np.zeros(4), "y": 1}]
    model = nn.MLP([4, 2], rng=0)
    with pytest.raises(TypeError, match=r"fit: the loader yields dicts \(keys.*\(x, y\) tuples"):
        fit(model, cross_entropy, optim.SGD(model.parameters(), lr=0.1), DataLoader(records, batch_size=2),
            epochs=1, progress=False)
