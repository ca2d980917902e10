"""chainrule.viz: computation graphs (with and without the Graphviz program) and the plots."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
import chainrule.special as sp
from chainrule import nn, viz
from chainrule.nn import losses
from chainrule.train import History

PNG = b"\x89PNG\r\n\x1a\n"
X = np.array([1.0, -2.0, 0.5])
W = np.array([0.3, 0.1, -0.4])


def lecture_loss(w, x):
    return -cnp.log(sp.sigmoid(w @ x))


def assert_png(path):
    assert path.exists(), path
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 2000


# ----------------------------------------------------------------------- draw_graph

def test_draw_graph_of_a_function_has_one_node_per_operation_and_the_input_gradients():
    graph = viz.draw_graph(lecture_loss, W, X)
    src = graph.source
    for op in ("matmul", "sigmoid", "log", "negative"):
        assert f'label="{op}' in src
    assert src.count("->") == 5                     # w→matmul, x→matmul, then a chain of 3
    gw, gx = cr.grad(lecture_loss, argnums=(0, 1))(W, X)
    assert f"grad {viz._value_text(gw)}" in src and f"grad {viz._value_text(gx)}" in src
    assert "shape (3,)" in src and "w\\n" in src and "x\\n" in src


def test_draw_graph_of_a_function_shows_intermediate_gradients_of_a_scalar_output_only():
    p = 1 / (1 + np.exp(-(W @ X)))
    src = viz.draw_graph(lecture_loss, W, X).source
    assert f"grad {viz._value_text(np.float64(-1 / p))}" in src        # ∂L/∂p on the sigmoid node
    vector_src = viz.draw_graph(lambda w: cnp.tanh(w) * 2.0, W).source
    assert "grad" not in vector_src
    assert "multiply(2)" in vector_src                                 # a scalar constant, inline


def test_draw_graph_shows_constant_arrays_as_dashed_inputs():
    src = viz.draw_graph(lambda w: cnp.sum(w @ np.ones((3, 4))), W).source
    assert "constant\\nshape (3, 4)" in src and "style=dashed" in src


def test_draw_graph_of_a_tensor_names_parameters_and_shows_their_grad_after_backward():
    model = nn.MLP([4, 3, 2], activation="tanh", rng=0)
    inputs = np.random.default_rng(0).standard_normal((5, 4))
    loss = losses.cross_entropy(model(inputs), np.array([0, 1, 1, 0, 1]))
    before = viz.draw_graph(loss, params=dict(model.named_parameters())).source
    assert "layers.0.weight" in before and "tanh" in before and "grad" not in before
    loss.backward(retain_graph=True)
    after = viz.draw_graph(loss, params=dict(model.named_parameters())).source
    bias_grad = model.layers[2].bias.grad
    assert f"grad {viz._value_text(bias_grad)}" in after
    assert "(freed" not in after


def test_draw_graph_after_a_plain_backward_says_the_values_were_freed():
    w = cr.tensor(W, requires_grad=True)
    loss = cnp.sum(cnp.exp(w) * 2.0)
    loss.backward()
    src = viz.draw_graph(loss, params={"w": w}).source
    assert "(freed by backward)" in src and "w\\n" in src
    assert f"grad {viz._value_text(2 * np.exp(W))}" in src


def test_draw_graph_refuses_a_tensor_without_history_and_other_objects():
    with pytest.raises(ValueError, match="records no computation"):
        viz.draw_graph(cr.tensor(W))
    with pytest.raises(TypeError, match="expected a function or a Tensor"):
        viz.draw_graph(42)
    with pytest.raises(ValueError, match="no floating-point argument"):
        viz.draw_graph(lambda n: n, np.array([1, 2]))


@pytest.mark.skipif(shutil.which("dot") is None, reason="the Graphviz program dot is not installed")
def test_draw_graph_renders_png_and_keeps_the_dot_source_when_dot_is_installed(tmp_path):
    target = tmp_path / "graph.png"
    graph = viz.draw_graph(lecture_loss, W, X, filename=target)
    assert_png(target)
    assert (tmp_path / "graph.dot").read_text() == graph.source
    svg = tmp_path / "graph.svg"
    viz.draw_graph(lecture_loss, W, X, filename=svg)
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))


def test_draw_graph_without_dot_warns_how_to_install_it_and_writes_the_dot_source(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))          # no `dot` anywhere
    target = tmp_path / "graph.png"
    with pytest.warns(viz.GraphvizNotFoundWarning, match="apt-get install graphviz") as record:
        graph = viz.draw_graph(lecture_loss, W, X, filename=target)
    assert "brew install graphviz" in str(record[0].message)
    assert not target.exists()
    assert (tmp_path / "graph.dot").read_text() == graph.source


def test_draw_graph_with_a_dot_filename_writes_only_the_source(tmp_path):
    target = tmp_path / "graph.dot"
    graph = viz.draw_graph(lecture_loss, W, X, filename=target)
    assert target.read_text() == graph.source
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.dot"]


def test_draw_graph_refuses_a_format_that_contradicts_the_filename(tmp_path):
    with pytest.raises(ValueError, match=r"filename 'f.png' ends in .png but format is 'pdf'"):
        viz.draw_graph(lecture_loss, W, X, filename=tmp_path / "f.png", format="pdf")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("dot") is None, reason="the Graphviz program dot is not installed")
def test_draw_graph_with_a_dot_filename_and_a_format_renders_beside_the_source(tmp_path):
    graph = viz.draw_graph(lecture_loss, W, X, filename=tmp_path / "d.dot", format="png")
    assert (tmp_path / "d.dot").read_text() == graph.source
    assert_png(tmp_path / "d.png")


def test_missing_graphviz_package_raises_import_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[viz\]"'):
        viz.draw_graph(lecture_loss, W, X)


def test_missing_matplotlib_raises_import_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[viz\]"'):
        viz.plot_activations()


# ----------------------------------------------------------------------- activations

def test_activation_curves_derivatives_match_the_closed_forms():
    curves = viz.activation_curves(("logistic", "tanh", "relu", "maxout"), np.linspace(-3, 3, 61))
    a, s, ds = curves["logistic"]
    np.testing.assert_allclose(ds, s * (1 - s), rtol=1e-12)
    a, t, dt = curves["tanh"]
    np.testing.assert_allclose(dt, 1 - np.tanh(a) ** 2, rtol=1e-12, atol=1e-15)
    a, r, dr = curves["relu"]
    np.testing.assert_array_equal(dr, (a > 0).astype(float))
    a, m, dm = curves["maxout"]
    np.testing.assert_allclose(m, np.maximum(a, -a / 2), rtol=0)
    np.testing.assert_array_equal(dm, np.where(a >= 0, 1.0, -0.5))


def test_plot_activations_draws_one_panel_per_activation_and_saves_a_png(tmp_path):
    fig = viz.plot_activations(("logistic", "tanh", "relu"), path=tmp_path / "act.png")
    assert len(fig.axes) == 3
    assert all(len(ax.lines) >= 2 for ax in fig.axes)           # f and f′ in each panel
    assert_png(tmp_path / "act.png")
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        viz.plot_activations(("swish",))


# ----------------------------------------------------------------------- training curves

def _history(losses_, accs):
    h = History()
    for k, (loss, acc) in enumerate(zip(losses_, accs), 1):
        h.append(epoch=k, train_loss=loss, train_accuracy=acc, val_loss=loss + 0.1, val_accuracy=acc - 0.05,
                 time=0.1)
    return h


def test_plot_history_reads_a_history_and_a_metrics_json_and_draws_the_same_curves(tmp_path):
    h = _history([1.0, 0.6, 0.4], [0.5, 0.7, 0.8])
    fig = viz.plot_history(h, path=tmp_path / "h.png")
    assert_png(tmp_path / "h.png")
    loss_ax, acc_ax = fig.axes
    assert [list(line.get_ydata()) for line in loss_ax.lines] == [[1.0, 0.6, 0.4], [1.1, 0.7, 0.5]]
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"test_accuracy": 0.75, "history": h.as_dict()}))
    for source in (run / "metrics.json", run, str(run / "metrics.json")):
        again = viz.plot_history(source)
        assert [list(line.get_ydata()) for line in again.axes[1].lines] == \
               [list(line.get_ydata()) for line in acc_ax.lines]


def test_plot_history_compares_labelled_runs_and_omits_accuracy_when_absent():
    runs = {"tanh": _history([1.0, 0.5], [0.6, 0.9]), "logistic": _history([2.0, 1.5], [0.2, 0.4])}
    fig = viz.plot_history(runs, title="two runs")
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["tanh train", "tanh val", "logistic train", "logistic val"]
    regression = History()
    regression.append(epoch=1, train_loss=0.3, time=0.1)
    regression.append(epoch=2, train_loss=0.2, time=0.1)
    assert len(viz.plot_history(regression).axes) == 1


def test_plot_history_refuses_empty_histories_missing_files_and_other_objects(tmp_path):
    with pytest.raises(ValueError, match="has no epochs"):
        viz.plot_history(History())
    with pytest.raises(FileNotFoundError, match="does not exist"):
        viz.plot_history(tmp_path / "nope.json")
    with pytest.raises(TypeError, match="expected a History"):
        viz.plot_history(3.0)


# ----------------------------------------------------------------------- decision boundaries

def test_plot_decision_boundary_of_a_binary_scorer_draws_the_zero_level_and_margins(tmp_path):
    rng = np.random.default_rng(0)
    Xs = rng.standard_normal((40, 2))
    y = (Xs[:, 0] + Xs[:, 1] > 0).astype(int)
    fig = viz.plot_decision_boundary(lambda Z: Z[:, 0] + Z[:, 1], Xs, y, path=tmp_path / "b.png",
                                     resolution=50)
    assert_png(tmp_path / "b.png")
    ax = fig.axes[0]
    assert len(ax.collections) >= 2 + 2                 # regions, contour lines, two scatter sets
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["class 0", "class 1"]


def test_plot_decision_boundary_of_a_logistic_neuron_draws_the_boundary_at_probability_one_half():
    from matplotlib.contour import ContourSet
    rng = np.random.default_rng(0)
    Xs = rng.standard_normal((40, 2))
    y = (Xs[:, 0] + Xs[:, 1] > 0.3).astype(int)
    neuron = nn.Neuron(2, activation="logistic", rng=0)
    with cr.no_grad():
        neuron.weight.copy_(np.array([4.0, 4.0]))
    fig = viz.plot_decision_boundary(neuron, Xs, y, resolution=60)
    levels = [list(c.levels) for c in fig.axes[0].collections if isinstance(c, ContourSet)]
    assert [0.5] in levels and [-1, 0, 1] not in levels


def test_plot_decision_boundary_accepts_a_module_with_class_scores():
    rng = np.random.default_rng(1)
    Xs = rng.standard_normal((30, 2)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    model = nn.MLP([2, 8, 3], rng=0, dtype=np.float32)
    fig = viz.plot_decision_boundary(model, Xs, y, resolution=40, title="3 classes")
    assert fig.axes[0].get_title() == "3 classes"


def test_plot_decision_boundary_reads_a_fitted_estimator_through_its_decision_function():
    from matplotlib.contour import ContourSet

    from chainrule.sklearn import LogisticRegression
    rng = np.random.default_rng(2)
    Xs = rng.standard_normal((40, 2))
    y = (Xs[:, 0] - Xs[:, 1] > 0).astype(int)
    est = LogisticRegression().fit(Xs, y)
    fig = viz.plot_decision_boundary(est, Xs, y, resolution=40)
    levels = [list(c.levels) for c in fig.axes[0].collections if isinstance(c, ContourSet)]
    assert [-1, 0, 1] in levels                         # scores: the boundary and the margins
    with pytest.raises(TypeError, match="a Module or a fitted estimator, got int"):
        viz.plot_decision_boundary(3, Xs, y)


def test_plot_decision_boundary_refuses_inputs_that_are_not_two_dimensional():
    with pytest.raises(ValueError, match=r"X must have shape \(n, 2\), got \(5, 3\)"):
        viz.plot_decision_boundary(lambda Z: Z[:, 0], np.zeros((5, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="X has 5 rows but y has 4 labels"):
        viz.plot_decision_boundary(lambda Z: Z[:, 0], np.zeros((5, 2)), np.zeros(4))


# ----------------------------------------------------------------------- gradient norms

def test_gradient_norms_equal_the_norms_of_the_functional_gradient_and_reset_grads():
    model = nn.MLP([5, 4, 4, 3], activation="tanh", rng=0)
    rng = np.random.default_rng(2)
    inputs, targets = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)
    norms = viz.gradient_norms(model, losses.cross_entropy, inputs, targets)
    assert list(norms) == ["layers.0.weight", "layers.2.weight", "layers.4.weight"]
    params = {name: p.numpy() for name, p in model.named_parameters()}
    g = cr.grad(lambda ps: losses.cross_entropy(nn.functional_call(model, ps, inputs), targets))(params)
    for name, value in norms.items():
        assert value == pytest.approx(np.linalg.norm(g[name]), rel=1e-12)
    assert all(p.grad is None for p in model.parameters())


def test_plot_gradient_norms_uses_a_log_axis_with_one_point_per_layer(tmp_path):
    fig = viz.plot_gradient_norms({"logistic": [1e-6, 1e-3, 0.3], "relu": {"a": 0.2, "b": 0.1, "c": 0.2}},
                                  path=tmp_path / "g.png", title="norms")
    assert_png(tmp_path / "g.png")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert [list(line.get_xdata()) for line in ax.lines] == [[1, 2, 3], [1, 2, 3]]
    single = viz.plot_gradient_norms([0.5, 0.25])
    assert single.axes[0].get_legend() is None
    with pytest.raises(ValueError, match="one norm per layer"):
        viz.plot_gradient_norms([])


# ----------------------------------------------------------------------- labels, label outputs, style

def test_draw_graph_labels_name_static_parameters_instead_of_raw_positional_values():
    Xm = np.arange(6.0).reshape(2, 3)
    src = viz.draw_graph(lambda X: cnp.sum(cnp.sum(X, axis=0) ** 2), Xm).source
    assert 'label="sum(axis=0)' in src and 'label="sum\\n' in src
    assert "(0,)" not in src and "False" not in src
    src = viz.draw_graph(lambda a, b: cnp.sum(cnp.einsum("i,j->ij", a, b)), np.ones(2), np.ones(3)).source
    assert "einsum('i,j->ij')" in src and "spec=" not in src


def _contour_sets(ax):
    from matplotlib.contour import ContourSet
    return [c for c in ax.collections if isinstance(c, ContourSet)]


@pytest.mark.parametrize("labels", [np.array([0, 1, 2]), np.array(["cat", "dog", "emu"])],
                         ids=["integers", "strings"])
def test_plot_decision_boundary_of_a_predict_that_returns_labels_draws_one_region_per_label(labels):
    rng = np.random.default_rng(3)
    Xs = rng.standard_normal((60, 2))
    index = (Xs[:, 0] > 0).astype(int) + (Xs[:, 1] > 0)
    predict = lambda Z: labels[(Z[:, 0] > 0).astype(int) + (Z[:, 1] > 0)]      # noqa: E731
    fig = viz.plot_decision_boundary(predict, Xs, labels[index], resolution=40)
    (regions,) = _contour_sets(fig.axes[0])             # no score contour at 0, no ±1 margins
    assert regions.filled and list(regions.levels) == [-0.5, 0.5, 1.5, 2.5]
    # each region has the colour of its label's points
    import matplotlib.colors as mcolors
    points = [c for c in fig.axes[0].collections if c not in _contour_sets(fig.axes[0])]
    for k, scatter in enumerate(points):
        assert mcolors.same_color(regions.get_facecolor()[k][:3], scatter.get_facecolor()[0][:3])


def test_plot_decision_boundary_of_a_scorer_still_draws_margins():
    Xs = np.random.default_rng(4).standard_normal((30, 2))
    fig = viz.plot_decision_boundary(lambda Z: Z[:, 0] - 0.3, Xs, (Xs[:, 0] > 0.3).astype(int), resolution=30)
    filled = [c.filled for c in _contour_sets(fig.axes[0])]
    assert filled == [True, False]                       # regions, then the lines at -1, 0, 1


def test_epoch_and_layer_axes_have_integer_ticks():
    h = {"epoch": [1, 2, 3], "train_loss": [1.0, 0.5, 0.4]}
    for fig in (viz.plot_history(h), viz.plot_gradient_norms([1e-3, 1e-2, 1e-1])):
        ticks = fig.axes[0].get_xticks()
        assert len(ticks) >= 2 and np.all(ticks == np.round(ticks))


def test_each_activation_has_one_colour_in_every_figure():
    runs = {act: {"train_loss": [1.0, 0.5]} for act in ("logistic", "tanh", "relu")}
    history = viz.plot_history(runs).axes[0]
    norms = viz.plot_gradient_norms({act: [0.1, 0.2] for act in runs}).axes[0]
    panels = viz.plot_activations(("logistic", "tanh", "relu")).axes
    import matplotlib.colors as mcolors
    for k, act in enumerate(runs):
        colour = viz.ACTIVATION_COLOURS[act]
        assert mcolors.same_color(history.lines[k].get_color(), colour)
        assert mcolors.same_color(norms.lines[k].get_color(), colour)
        assert mcolors.same_color(panels[k].lines[0].get_color(), colour)


def test_leaky_relu_panel_title_gives_its_formula_with_the_slope():
    fig = viz.plot_activations(("leaky_relu",))
    assert fig.axes[0].get_title() == "leaky ReLU  max{0.01a, a}"
    a, f, _ = viz.activation_curves(("leaky_relu",))["leaky_relu"]
    np.testing.assert_allclose(f, np.maximum(0.01 * a, a))          # the title's formula is the function
