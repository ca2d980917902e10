"""docs/tutorial.md runs: its Python blocks execute in order, each `text` block after a Python
block is exactly what that block prints, and every figure it shows exists (so the docs cannot rot)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

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
