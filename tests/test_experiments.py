"""The experiments, run in --quick mode: their figures say what the lecture claims, their plots
are written, and their summary sentences are made from their figures."""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import pytest

from chainrule import experiments

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every experiment once, in quick mode, with how long it took."""
    out = {}
    for name in experiments.EXPERIMENTS:
        start = time.perf_counter()
        result = experiments.run(name, tmp_path_factory.mktemp(name), quick=True, seed=0)
        out[name] = (result, time.perf_counter() - start)
    return out


@pytest.mark.parametrize("name", list(experiments.EXPERIMENTS))
def test_quick_experiment_finishes_in_under_30_seconds_and_writes_non_empty_pngs(results, name):
    result, seconds = results[name]
    assert seconds < 30
    pngs = [f for f in result.files if f.suffix == ".png"]
    assert pngs
    for f in pngs:
        data = f.read_bytes()
        assert data[:8] == PNG and len(data) > 5000


@pytest.mark.parametrize("name", list(experiments.EXPERIMENTS))
def test_result_has_a_table_two_or_three_sentences_and_a_json_of_its_figures(results, name):
    result, _ = results[name]
    assert 2 <= len(result.summary) <= 3
    assert all(s.endswith(".") for s in result.summary)
    text = str(result)
    assert result.headers[0] in text and " ".join(result.summary) in text
    saved = json.loads((result.files[-1]).read_text())
    assert saved["experiment"] == name and saved["summary"] == result.summary


# ----------------------------------------------------------------------- activations

def test_activations_logistic_derivative_peaks_at_a_quarter_and_relu_is_maxout_with_a_zero_piece(results):
    result, _ = results["activations"]
    f = result.figures
    assert f["logistic"]["df_max"] == pytest.approx(0.25, abs=1e-15)
    assert f["tanh"]["df_max"] == pytest.approx(1.0, abs=1e-15)
    assert f["logistic"]["f0"] == 0.5 and f["tanh"]["f0"] == 0.0
    assert abs(f["tanh"]["f_mean"]) < 1e-12 and f["logistic"]["f_mean"] == pytest.approx(0.5, abs=1e-12)
    assert f["relu_vs_maxout_zero_piece"] <= 1e-12
    assert all(f[n]["fd_error"] < 1e-6 for n in ("linear", "logistic", "tanh", "relu", "maxout"))
    assert f"σ′(0) = {f['logistic']['df_max']:.4g}" in result.summary[0]


# ----------------------------------------------------------------------- sigmoid vs tanh

def test_sigmoid_vs_tanh_tanh_units_are_zero_centred_and_train_faster(results):
    result, _ = results["sigmoid-vs-tanh"]
    lg, th = result.figures["logistic"], result.figures["tanh"]
    assert result.figures["dataset"] == "digits"
    assert abs(th["hidden_mean_trained"]) < 0.1
    assert lg["hidden_mean_trained"] > 0.3 and lg["hidden_fraction_positive"] == 1.0
    assert th["final_train_loss"] < lg["final_train_loss"]
    assert f"{th['final_train_loss']:.3f}" in result.summary[0]
    assert f"{lg['hidden_mean_trained']:+.3f}" in result.summary[1]


# ----------------------------------------------------------------------- deep relu

def test_deep_logistic_network_gradient_norms_shrink_layer_by_layer_towards_the_input(results):
    result, _ = results["deep-relu"]
    norms = result.figures["logistic"]["gradient_norms"]
    assert len(norms) == 10
    assert all(a < b for a, b in zip(norms, norms[1:]))          # layer 1 (input side) smallest
    assert norms[-1] / norms[0] > 1e3
    for act in ("tanh", "relu"):
        assert 0.1 < result.figures[act]["last_over_first"] < 10
    assert f"{result.figures['logistic']['last_over_first']:.3g}" in result.summary[0]


def test_deep_logistic_network_stays_near_chance_while_relu_and_tanh_learn(results):
    f = results["deep-relu"][0].figures
    assert abs(f["logistic"]["final_train_loss"] - math.log(10)) < 0.1
    assert f["relu"]["final_train_loss"] < 1.0 and f["tanh"]["final_train_loss"] < 1.0


# ----------------------------------------------------------------------- maxout

def test_maxout_with_a_zero_piece_reproduces_relu_values_and_gradients(results):
    result, _ = results["maxout"]
    eq = result.figures["relu_equals_maxout"]
    for key in ("value", "grad_input", "grad_weight", "grad_bias"):
        assert eq[key] <= 1e-12, key
    assert eq["zero_piece_weight_gradient"] > 0          # so the zero piece must be held fixed
    assert 0.2 < eq["negative_preactivations"] < 0.8                  # both branches exercised


def test_maxout_network_fits_the_non_convex_target_that_one_relu_cannot(results):
    f = results["maxout"][0].figures
    assert f["maxout_mse"] < 0.01 * f["target_variance"]
    assert f["one_relu_mse"] > 0.5 * f["target_variance"]
    assert f"{f['maxout_mse']:.2g}" in results["maxout"][0].summary[1]


# ----------------------------------------------------------------------- cross-entropy

def test_cross_entropy_minus_kl_is_the_entropy_and_one_hot_makes_ce_kl_and_nll_equal(results):
    result, _ = results["cross-entropy"]
    f = result.figures
    for key in ("ce_minus_kl_minus_entropy", "chainrule_ce_minus_kl_minus_entropy",
                "chainrule_ce_vs_formula", "chainrule_kl_vs_formula", "onehot_ce_minus_kl",
                "onehot_ce_minus_nll", "onehot_nll_vs_formula", "gradient_ce_minus_kl"):
        assert f[key] <= 1e-9, key
    assert 0 < f["mean_entropy"] < f["max_entropy"]
    assert f["mean_cross_entropy"] == pytest.approx(f["mean_entropy"] + f["mean_kl"], abs=1e-12)
    assert f"{f['mean_cross_entropy']:.4f}" in result.summary[0]


# ----------------------------------------------------------------------- hinge vs log

def test_hinge_gives_zero_gradient_beyond_the_margin_while_log_loss_pulls_on_every_point(results):
    result, _ = results["hinge-vs-log"]
    h, lg = result.figures["hinge"], result.figures["log"]
    assert h["zero_gradient_points"] == h["beyond_margin"] > 0
    assert lg["zero_gradient_points"] == 0 and lg["smallest_gradient"] > 0
    assert h["train_accuracy"] > 0.9 and lg["train_accuracy"] > 0.9
    at = result.figures["loss_at_margin"]
    assert at["hinge(0)"] == pytest.approx(1.0) and at["log(0)"] == pytest.approx(math.log(2))
    assert at["hinge(2)"] == 0.0 and at["log(2)"] == pytest.approx(math.log1p(math.exp(-2)))
    assert f"{h['zero_gradient_points']} of {result.figures['samples']}" in result.summary[1]


# ----------------------------------------------------------------------- summaries follow the numbers

def test_summary_sentences_change_with_the_figures_when_the_seed_changes(tmp_path):
    a = experiments.run("cross-entropy", tmp_path / "a", quick=True, seed=0)
    b = experiments.run("cross-entropy", tmp_path / "b", quick=True, seed=1)
    assert a.figures["mean_kl"] != b.figures["mean_kl"]
    assert a.summary[0] != b.summary[0]
    assert f"{b.figures['mean_kl']:.4f}" in b.summary[0]


def test_run_prints_the_table_and_the_summary(tmp_path, capsys):
    result = experiments.run("cross_entropy", tmp_path, quick=True)     # underscores are accepted
    printed = capsys.readouterr().out
    assert result.table() in printed and result.summary[1] in printed


# ----------------------------------------------------------------------- command line

def test_main_runs_an_experiment_into_the_out_directory(tmp_path, capsys):
    assert experiments.main(["cross-entropy", "--quick", "--out", str(tmp_path / "ce")]) == 0
    assert (tmp_path / "ce" / "cross_entropy.png").exists()
    assert (tmp_path / "ce" / "cross-entropy.json").exists()
    assert "Cross-entropy = entropy + KL" in capsys.readouterr().out


def test_add_subcommand_plugs_experiment_into_an_argparse_command_line(tmp_path):
    parser = argparse.ArgumentParser(prog="chainrule")
    sub = parser.add_subparsers(dest="command")
    experiments.add_subcommand(sub)
    args = parser.parse_args(["experiment", "maxout", "--quick", "--out", str(tmp_path), "--seed", "3"])
    assert (args.command, args.name, args.quick, args.out, args.seed) == ("experiment", "maxout", True,
                                                                          str(tmp_path), 3)
    assert args.handler is experiments.command
    with pytest.raises(SystemExit):
        parser.parse_args(["experiment", "no-such-experiment"])


@pytest.mark.parametrize("seed", ["-1", "99999999999", "x"])
def test_a_seed_outside_what_the_generators_take_is_refused_naming_the_option(seed, capsys):
    parser = argparse.ArgumentParser(prog="chainrule")
    experiments.add_subcommand(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["experiment", "maxout", "--quick", "--seed", seed])
    assert stop.value.code == 2
    assert "argument --seed: expected an integer in 0..2**32-1" in capsys.readouterr().err


def test_unknown_experiment_names_are_refused_with_the_valid_names():
    with pytest.raises(ValueError, match="unknown experiment 'resnet'; choose one of activations, "):
        experiments.run("resnet")


def test_digits_split_is_stratified_and_seeded():
    (X1, y1), (Xt, yt) = experiments._common.digits_split(seed=0)
    (X2, y2), _ = experiments._common.digits_split(seed=0)
    assert X1.shape[1] == 64 and len(X1) + len(Xt) == 1797
    np.testing.assert_array_equal(y1, y2)
    all_counts = np.bincount(np.concatenate([y1, yt]))
    assert np.all(np.abs(np.bincount(yt) - 0.25 * all_counts) <= 1)


# ----------------------------------------------------------------------- plots

def test_hidden_means_bars_carry_their_values_and_each_activations_colour(tmp_path):
    import matplotlib.colors as mcolors

    from chainrule.experiments import sigmoid_vs_tanh
    from chainrule.viz import ACTIVATION_COLOURS
    figures = {"logistic": {"hidden_mean_at_init": 0.4887, "hidden_mean_trained": 0.4893},
               "tanh": {"hidden_mean_at_init": -0.0413, "hidden_mean_trained": 0.0012}}
    fig = sigmoid_vs_tanh._plot_means(figures, tmp_path / "means.png")
    ax = fig.axes[0]
    labels = sorted(t.get_text() for t in ax.texts)
    assert labels == sorted(["+0.489", "+0.489", "-0.041", "+0.001"])
    bars = ax.patches
    assert len(bars) == 4
    for bar, act in zip(bars, ["logistic", "tanh", "logistic", "tanh"]):     # init bars, then trained
        assert mcolors.same_color(bar.get_facecolor()[:3], mcolors.to_rgb(ACTIVATION_COLOURS[act]))


def test_deep_relu_summary_counts_the_logistic_layers_the_gradient_crosses(results):
    result, _ = results["deep-relu"]
    f = result.figures
    hidden = f["layers"] - 1
    assert f"for each of the {hidden} logistic layers in between" in result.summary[0]
    factor = f["logistic"]["last_over_first"] ** (1 / hidden)
    assert f"a factor of {factor:.3g}" in result.summary[0]
