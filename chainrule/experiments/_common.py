"""What every experiment shares: its result object, the digits split, and plain-text tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._io import write_atomic

__all__ = ["ExperimentResult", "digits_split", "format_table", "compare"]


class ExperimentResult:
    """The outcome of one experiment.

    * ``figures`` — every number the experiment measured, by name (what the tests check);
    * ``headers`` and ``rows`` — the short table it prints;
    * ``summary`` — two or three sentences, written from ``figures``;
    * ``files`` — the PNG plots (and ``<name>.json`` with the figures) it wrote.
    """

    def __init__(self, name, title, figures, headers, rows, summary, files=()):
        self.name = name
        self.title = title
        self.figures = figures
        self.headers = list(headers)
        self.rows = [list(r) for r in rows]
        self.summary = list(summary)
        self.files = [Path(f) for f in files]

    def table(self):
        return format_table(self.headers, self.rows)

    def __str__(self):
        lines = [f"{self.title}", "", self.table(), ""]
        lines += [" ".join(self.summary), ""]
        if self.files:
            lines.append("wrote " + ", ".join(str(f) for f in self.files))
        return "\n".join(lines)

    def __repr__(self):
        return f"ExperimentResult({self.name!r}, {len(self.figures)} figures, {len(self.files)} files)"

    def save(self, out_dir):
        """Write ``<name>.json`` (figures, table, summary) into ``out_dir``; returns its path."""
        path = Path(out_dir) / f"{self.name}.json"
        data = {"experiment": self.name, "figures": _jsonable(self.figures),
                "table": {"headers": self.headers, "rows": _jsonable(self.rows)},
                "summary": self.summary, "files": [str(f) for f in self.files]}
        write_atomic(path, json.dumps(data, indent=2) + "\n")
        self.files.append(path)
        return path


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def format_table(headers, rows):
    """Columns padded to their widest cell; floats with 4 significant digits."""
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[k]) for r in cells)) for k, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths)).rstrip()
            for r in cells]
    return "\n".join([line, rule, *body])


def _cell(c):
    if isinstance(c, (float, np.floating)):
        c = float(c)
        if c != 0 and (abs(c) < 1e-3 or abs(c) >= 1e5):
            return f"{c:.3e}"
        return f"{c:.4g}"
    return str(c)


def _numeric(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def compare(a, b, smaller="smaller", larger="larger", same="the same as"):
    """The word that relates ``a`` to ``b``, so that sentences follow the numbers."""
    if np.isclose(a, b, rtol=1e-3, atol=0):
        return same
    return smaller if a < b else larger


def digits_split(seed=0, dtype=np.float64):
    """scikit-learn's 8×8 digits, split 75/25 (stratified, seeded): (X_train, y_train), (X_test, y_test)."""
    from sklearn.model_selection import train_test_split

    from ..data import load_digits
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        X.astype(dtype), y, test_size=0.25, stratify=y, random_state=seed)
    return (X_train, y_train), (X_test, y_test)


def out_path(out_dir):
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path
