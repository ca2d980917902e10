"""docs/tutorial.md runs: its Python blocks execute in order, each `text` block after a Python
block is exactly what that block prints, and every figure it shows exists (so the docs cannot rot)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
TUTORIAL = DOCS / "tutorial.md"


def _blocks():
    return re.findall(r"```(\w+)\n(.*?)```", TUTORIAL.read_text(), flags=re.S)


def _clean(text):
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def test_tutorial_follows_the_lecture_sections_two_to_five_in_order():
    headings = [line for line in TUTORIAL.read_text().splitlines() if line.startswith("## ")]
    marks = [h.split()[1] for h in headings if h.split()[1] in "②③④⑤"]
    assert marks == ["②", "③", "④", "⑤"]


def test_tutorial_prints_the_worked_example_through_explain():
    text = TUTORIAL.read_text()
    assert "L = −log σ(wᵀx)" in text
    assert "explain(L, w" in text
    assert "Backward pass" in text


def test_tutorial_python_blocks_run_and_print_what_the_text_blocks_show(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                  # files the examples write land here
    blocks = _blocks()
    assert sum(kind == "python" for kind, _ in blocks) >= 10
    namespace = {"__name__": "tutorial"}
    checked = 0
    for k, (kind, code) in enumerate(blocks):
        if kind != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{TUTORIAL}:block{k}", "exec"), namespace)
        if k + 1 < len(blocks) and blocks[k + 1][0] == "text":
            assert _clean(out.getvalue()) == _clean(blocks[k + 1][1]), f"block {k} printed other text"
            checked += 1
    assert checked >= 8


@pytest.mark.parametrize("image", re.findall(r"!\[[^\]]*\]\(([^)]+)\)", TUTORIAL.read_text()))
def test_tutorial_figure_exists_and_is_a_png(image):
    path = DOCS / image
    assert path.exists(), (f"{image} is missing: run "
                           "python -m chainrule.experiments all --quick --out docs/figures")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"


def test_the_graph_figure_is_what_the_tutorials_draw_graph_block_draws(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "tutorial"}
    with contextlib.redirect_stdout(io.StringIO()):
        for kind, code in _blocks():
            if kind == "python":
                exec(compile(code, str(TUTORIAL), "exec"), namespace)
    assert "](figures/mlp_graph.png)" in TUTORIAL.read_text()
    drawn = (tmp_path / "mlp_graph.dot").read_text()
    shown = (DOCS / "figures" / "mlp_graph.dot").read_text()      # the source of the PNG shown
    # the same graph and labels; the numbers equal to the 3 digits printed (BLAS may differ below)
    assert re.split(_NUMBER, drawn) == re.split(_NUMBER, shown)
    a, b = (np.array(re.findall(_NUMBER, t), dtype=float) for t in (drawn, shown))
    np.testing.assert_allclose(a, b, rtol=1e-2, atol=1e-9)


def test_every_plot_of_the_tutorial_is_written_by_the_experiments_it_names(tmp_path):
    from chainrule import experiments
    images = re.findall(r"!\[[^\]]*\]\(figures/([^)]+)\)", TUTORIAL.read_text())
    written = {}
    for image in images:
        if "/" not in image:
            assert image == "mlp_graph.png"              # the draw_graph example's own output
            continue
        name, file = image.split("/")
        if name not in written:
            with contextlib.redirect_stdout(io.StringIO()):
                result = experiments.run(name, tmp_path / name, quick=True)
            written[name] = {f.name for f in result.files}
        assert file in written[name], image


def test_the_vanishing_gradient_exponent_counts_the_logistic_layers_between_loss_and_w1():
    from chainrule import nn
    text = TUTORIAL.read_text()
    exponent = re.search(r"\(1/4\)([⁰¹²³⁴⁵⁶⁷⁸⁹]+)", text).group(1)
    exponent = int(exponent.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")))
    model = nn.MLP([64] + [32] * 9 + [10], activation="logistic", rng=0)     # the tutorial's network
    logistic_layers = sum(type(m).__name__ != "Linear" for m in model.layers)
    assert exponent == logistic_layers == 9
    assert f"{exponent} activation layers lie between the loss and the first weight matrix" in " ".join(
        text.split())


def test_the_deep_relu_paragraph_says_which_activation_the_run_shows_ending_lower(tmp_path):
    from chainrule import experiments
    with contextlib.redirect_stdout(io.StringIO()):
        figures = experiments.run("deep-relu", tmp_path, quick=True).figures
    lower = min(("tanh", "relu"), key=lambda a: figures[a]["final_train_loss"])
    text = " ".join(TUTORIAL.read_text().split())
    assert f"in this run {lower} even ends a little lower" in text
    assert "ReLU multiplies it by exactly 1" in text and "chance-level loss log 10" in text
