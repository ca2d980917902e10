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
    images = X[:7].reshape(7, 8, 8)                   # images are flattened like training data
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
