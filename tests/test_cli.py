"""The ``chainrule`` command line: train, evaluate, predict, and one-line errors."""

import json
import subprocess
import sys
import urllib.error

import numpy as np
import pytest

from chainrule import checkpoint, data, nn
from chainrule.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One short training run on digits, shared by the evaluate and predict tests."""
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--epochs", "2", "--out", str(out), "--no-progress", "--hidden", "32"]) == 0
    return out


def _one_line_error(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_train_writes_model_metrics_and_curves(run):
    assert {p.name for p in run.iterdir()} == {"model.safetensors", "metrics.json", "curves.png"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["test_loss"] > 0
    assert len(metrics["history"]["train_loss"]) == 2 and len(metrics["history"]["val_accuracy"]) == 2
    assert metrics["options"]["epochs"] == 2 and metrics["options"]["hidden"] == [32]
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = checkpoint.load(run / "model.safetensors")
    assert meta["architecture"]["sizes"] == [64, 32, 10] and meta["epoch"] == 2


def test_default_train_reaches_97_percent_on_digits_within_30_seconds(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path), "--no-progress"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.97
    assert metrics["train_time_s"] < 30
    assert f"test accuracy {metrics['test_accuracy']:.4f}" in capsys.readouterr().out


def test_evaluate_reproduces_the_test_accuracy_of_training(run, capsys):
    assert main(["evaluate", str(run / "model.safetensors")]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert f"test accuracy {metrics['test_accuracy']:.4f}" in capsys.readouterr().out


def test_predict_prints_or_saves_the_argmax_of_the_saved_model(run, tmp_path, capsys):
    X, _ = data.load_digits()
    images = (X[:7] * 16).reshape(7, 8, 8)            # raw pixel values 0..16, flattened like training data
    np.save(tmp_path / "in.npy", images)
    meta = checkpoint.load(run / "model.safetensors")
    model = nn.MLP(meta["architecture"]["sizes"], activation=meta["architecture"]["activation"],
                   dtype=np.float32)
    checkpoint.load(run / "model.safetensors", model)
    expected = np.argmax(np.asarray(model(X[:7])), axis=1)

    assert main(["predict", str(run / "model.safetensors"), str(tmp_path / "in.npy")]) == 0
    printed = [int(s) for s in capsys.readouterr().out.split()]
    assert printed == expected.tolist()
    assert main(["predict", str(run / "model.safetensors"), str(tmp_path / "in.npy"),
                 "--output", str(tmp_path / "labels.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), expected)


def test_train_on_an_npz_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3)) + np.repeat(np.eye(3) * 4, 40, axis=0)
    y = np.repeat(np.arange(3), 40)
    np.savez(tmp_path / "blobs.npz", X=X, y=y)
    out = tmp_path / "out"
    assert main(["train", "--data", str(tmp_path / "blobs.npz"), "--epochs", "20", "--out", str(out),
                 "--no-progress", "--loss", "hinge", "--optimizer", "sgd", "--activation", "tanh"]) == 0
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] >= 0.9


@pytest.mark.parametrize("argv, message", [
    (["train", "--lr", "-1"], "--lr: expected a positive number"),
    (["train", "--activation", "softmax"], "invalid choice: 'softmax'"),
    (["train", "--hidden", "12,x"], "comma-separated layer widths"),
    (["train", "--epochs", "0"], "positive integer"),
    (["train", "--data", "cifar"], "expected one of digits, mnist, fashion-mnist or a FILE.npz"),
    (["fly"], "invalid choice: 'fly'"),
])
def test_bad_options_give_one_line_and_exit_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    line = _one_line_error(capsys.readouterr().err)
    assert message in line


def test_missing_mnist_files_offline_give_one_line_saying_where_to_put_them(tmp_path, monkeypatch, capsys):
    def offline(url):
        raise urllib.error.URLError("network is unreachable")
    monkeypatch.setattr(data, "_fetch", offline)
    assert main(["train", "--data", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert "could not download train-images-idx3-ubyte.gz" in line and "by hand" in line


@pytest.mark.parametrize("setup, argv, message", [
    (lambda d: None, ["train", "--data", "{d}/none.npz"], "none.npz does not exist"),
    (lambda d: np.savez(d / "w.npz", a=np.zeros(3)), ["train", "--data", "{d}/w.npz"],
     "must hold arrays X_train, y_train, X_test, y_test (or X, y); it holds a"),
    (lambda d: None, ["evaluate", "{d}/none.safetensors"], "none.safetensors does not exist"),
    (lambda d: (d / "bad.safetensors").write_bytes(b"\x05" * 40), ["predict", "{d}/bad.safetensors", "x.npy"],
     "bad.safetensors is not a valid checkpoint"),
])
def test_missing_or_broken_files_give_one_line_and_exit_status_1(tmp_path, capsys, setup, argv, message):
    setup(tmp_path)
    assert main([a.format(d=tmp_path) for a in argv]) == 1
    assert message in _one_line_error(capsys.readouterr().err)


def test_a_diverging_run_stops_with_one_line_naming_the_epoch(tmp_path, capsys):
    argv = ["train", "--optimizer", "sgd", "--lr", "1e9", "--epochs", "3", "--no-progress",
            "--out", str(tmp_path)]
    assert main(argv) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert "training loss became" in line and "epoch 1" in line


def test_predict_with_the_wrong_feature_count_names_expected_and_actual(run, tmp_path, capsys):
    np.save(tmp_path / "wide.npy", np.zeros((2, 65), np.float32))
    assert main(["predict", str(run / "model.safetensors"), str(tmp_path / "wide.npy")]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert "expects 64 features" in line and "(2, 65)" in line


def test_python_dash_m_chainrule_runs_the_same_command_line():
    ok = subprocess.run([sys.executable, "-m", "chainrule", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "train" in ok.stdout and "evaluate" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "chainrule", "train", "--batch-size", "many"],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert "--batch-size: expected a positive integer, got 'many'" in _one_line_error(bad.stderr)


# --------------------------------------------------------------------------- review fixes

def _blob_splits(n_train=60, n_test=30, features=3, seed=0):
    rng = np.random.default_rng(seed)
    y_train, y_test = np.arange(n_train) % 3, np.arange(n_test) % 3
    centres = np.eye(3, features) * 4
    return (centres[y_train] + rng.normal(size=(n_train, features)), y_train,
            centres[y_test] + rng.normal(size=(n_test, features)), y_test)


def test_a_huge_learning_rate_is_reported_as_divergence_not_as_a_nan_prediction(tmp_path, capsys):
    argv = ["train", "--lr", "1e30", "--epochs", "3", "--no-progress", "--out", str(tmp_path)]
    assert main(argv) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert "training stopped (try a smaller learning rate)" in line and "epoch 1" in line
    assert "prediction contains NaN" not in line


def test_predict_refuses_nan_inputs_naming_the_rows(run, tmp_path, capsys):
    X = np.zeros((4, 64))
    X[2, 5] = np.nan
    np.save(tmp_path / "nan.npy", X)
    assert main(["predict", str(run / "model.safetensors"), str(tmp_path / "nan.npy")]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert "nan.npy contains NaN or infinite values (rows [2])" in line


def test_the_model_records_its_input_scaling_and_evaluate_applies_it_to_raw_files(run, tmp_path, capsys):
    meta = checkpoint.load(run / "model.safetensors")
    assert meta["preprocessing"] == {"divide_by": 16.0}
    assert json.loads((run / "metrics.json").read_text())["preprocessing"] == {"divide_by": 16.0}
    assert main(["evaluate", str(run / "model.safetensors")]) == 0
    on_digits = capsys.readouterr().out.split(" (")[0]
    from sklearn.model_selection import train_test_split
    X, y = data.load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    raw = tmp_path / "raw.npz"
    np.savez(raw, X_train=np.rint(X_train * 16), y_train=y_train, X_test=np.rint(X_test * 16), y_test=y_test)
    assert main(["evaluate", str(run / "model.safetensors"), "--data", str(raw)]) == 0
    assert capsys.readouterr().out.split(" (")[0] == on_digits


@pytest.mark.parametrize("arrays, message", [
    (lambda: dict(zip(("X_train", "y_train", "X_test", "y_test"), _blob_splits())) | {
        "X_test": np.zeros((30, 4))},
     "the training samples have 3 features but the test samples 4"),
    (lambda: dict(zip(("X_train", "y_train", "X_test", "y_test"), _blob_splits())) | {
        "X_train": np.zeros((0, 3)), "y_train": np.zeros(0, int)},
     "X_train holds no samples (shape (0, 3))"),
    (lambda: dict(zip(("X_train", "y_train", "X_test", "y_test"), _blob_splits())) | {
        "X_test": np.zeros((0, 3)), "y_test": np.zeros(0, int)},
     "X_test holds no samples (shape (0, 3))"),
    (lambda: {"X": np.zeros((0, 3)), "y": np.zeros(0, int)}, "X holds no samples (shape (0, 3))"),
])
def test_bad_npz_splits_are_refused_before_any_training(tmp_path, capsys, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays())
    out = tmp_path / "out"
    assert main(["train", "--data", str(tmp_path / "d.npz"), "--out", str(out), "--no-progress"]) == 1
    assert message in _one_line_error(capsys.readouterr().err)
    assert not out.exists()


def test_a_text_file_named_npz_is_said_not_to_be_an_npz_archive(tmp_path, capsys):
    (tmp_path / "notes.npz").write_text("X,y\n1,2\n")
    assert main(["train", "--data", str(tmp_path / "notes.npz"), "--out", str(tmp_path / "o")]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert "notes.npz is not an .npz archive" in line and "pickle" not in line


@pytest.mark.parametrize("seed", ["-1", str(2 ** 32), "x"])
def test_the_seed_is_checked_by_the_command_line(seed, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--seed", seed])
    assert info.value.code == 2
    assert "--seed: expected an integer in 0..2**32-1" in _one_line_error(capsys.readouterr().err)


def test_file_system_errors_are_one_line_without_exception_class_names(run, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["train", "--out", str(blocker), "--no-progress", "--epochs", "1"]) == 1
    assert f"--out {blocker} exists and is not a directory" in _one_line_error(capsys.readouterr().err)
    assert main(["train", "--out", str(blocker / "sub"), "--no-progress", "--epochs", "1"]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert "Error" not in line and str(blocker) in line
    assert main(["evaluate", str(run)]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert "is a directory, not a checkpoint file" in line and "IsADirectoryError" not in line
    np.save(tmp_path / "x.npy", np.zeros((2, 64)))
    assert main(["predict", str(run / "model.safetensors"), str(tmp_path / "x.npy"),
                 "--output", str(tmp_path)]) == 1
    assert f"--output {tmp_path} is a directory" in _one_line_error(capsys.readouterr().err)


def test_a_closed_pipe_ends_predict_quietly(run, tmp_path):
    np.save(tmp_path / "many.npy", np.zeros((60000, 64), np.float32))
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "predict", str(run / "model.safetensors"),
                             str(tmp_path / "many.npy")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()                                   # like `| head -1`
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert err == "" and proc.returncode == 1


def test_predict_output_is_written_atomically_to_exactly_the_path_given(run, tmp_path, capsys):
    X, _ = data.load_digits()
    np.save(tmp_path / "in.npy", X[:5] * 16)
    target = tmp_path / "labels"                          # no .npy suffix: nothing is appended
    assert main(["predict", str(run / "model.safetensors"), str(tmp_path / "in.npy"),
                 "--output", str(target)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 5 labels to {target}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy", "labels"]
    assert np.load(target).shape == (5,) and np.load(target).dtype == np.int64


@pytest.mark.parametrize("make, message", [
    (lambda p: np.save(p, np.zeros((0, 64), np.float32)), "holds no samples (shape (0, 64))"),
    (lambda p: np.save(p, np.array(3.0)), "holds a single number, not samples"),
    (lambda p: np.save(p, np.array([["a"] * 64])), "must hold numbers, got dtype <U1"),
    (lambda p: p.write_text("1,2,3\n"), "is not an .npy file (write one with numpy.save)"),
    (lambda p: np.savez(p.with_suffix(".npz"), x=np.zeros(3)) or p.with_suffix(".npz").rename(p),
     "is an .npz archive; predict reads one array from an .npy file"),
])
def test_unusable_predict_inputs_are_named_clearly(run, tmp_path, capsys, make, message):
    make(tmp_path / "in.npy")
    assert main(["predict", str(run / "model.safetensors"), str(tmp_path / "in.npy")]) == 1
    assert message in _one_line_error(capsys.readouterr().err)


def test_offline_messages_name_the_command_line_options_and_no_download_is_honoured(tmp_path, monkeypatch,
                                                                                    capsys):
    def offline(url):
        raise urllib.error.URLError("network is unreachable")
    monkeypatch.setattr(data, "_fetch", offline)
    assert main(["train", "--data", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert "pass --data-dir DIR" in line and "root=" not in line

    def no_network(url):
        raise AssertionError("--no-download must not touch the network")
    monkeypatch.setattr(data, "_fetch", no_network)
    assert main(["train", "--data", "fashion-mnist", "--data-dir", str(tmp_path), "--no-download",
                 "--out", str(tmp_path / "o")]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert "download was not allowed (--no-download)" in line and "pass --data-dir DIR" in line


def test_a_relative_data_path_is_recorded_absolute_so_evaluate_works_from_elsewhere(tmp_path, monkeypatch,
                                                                                  capsys):
    X_train, y_train, X_test, y_test = _blob_splits()
    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "blobs.npz", X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test)
    monkeypatch.chdir(tmp_path / "data")
    assert main(["train", "--data", "blobs.npz", "--epochs", "2", "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 0
    meta = checkpoint.load(tmp_path / "o" / "model.safetensors")
    assert meta["options"]["data"] == str(tmp_path / "data" / "blobs.npz")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "o" / "model.safetensors")]) == 0
    assert "30 samples of" in capsys.readouterr().out


def test_the_mnist_example_refuses_a_zero_epoch_count(capsys):
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "examples" / "mnist.py"
    spec = importlib.util.spec_from_file_location("mnist_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    for argv, message in ((["--epochs", "0"], "--epochs: expected an integer ≥ 1, got 0"),
                          (["--batch-size", "0"], "--batch-size: expected an integer ≥ 1, got 0"),
                          (["--torch-epochs", "-1"], "--torch-epochs: expected an integer ≥ 0, got -1")):
        with pytest.raises(SystemExit) as info:
            example.main(argv)
        assert info.value.code == 2 and message in capsys.readouterr().err


def test_predict_scales_raw_pixels_to_the_very_numbers_the_loader_trained_on():
    # the loaders multiply by the float32 reciprocal; dividing instead differs in the last bit
    # for about half of the 256 pixel values
    from chainrule.cli import _scaled
    raw = np.arange(256, dtype=np.float32).reshape(16, 16)
    loaded = data._divided(raw.copy(), 255.0, out=True)
    np.testing.assert_array_equal(_scaled(raw, {"preprocessing": {"divide_by": 255.0}}), loaded)
    assert not np.array_equal(raw / np.float32(255.0), loaded)        # the test can tell them apart
