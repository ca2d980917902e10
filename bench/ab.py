"""This checkout's training step against another checkout's, in one process, sampled in turn.

    git worktree add /tmp/before <commit>          # the code to compare with
    python bench/ab.py /tmp/before [batch ...]     # default: 32 128 512 2048

Timings of separate runs drift with the machine (up to ~2x on a shared one), so a change of a
few per cent is only visible when both versions run side by side. This copies the other
checkout's ``chainrule`` package under another name (every import inside the package is
relative), imports both, and times the step of ``train_step.py`` (784-256-256-10 MLP, SGD,
float32) for each, with the hand-written NumPy step as a third reference.

Measured against a copy of itself, this/other read 1.01 at batch 512 and 2048 on the 2-core
machine (the copy measured first is slightly favoured): differences below about 1 % are noise.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # this checkout
sys.path.insert(0, os.path.dirname(__file__))
import train_step as ts  # noqa: E402
from _timing import blas_line, measure_together, settle  # noqa: E402

OTHER = "chainrule_other"


def _import_other(checkout):
    src = Path(checkout) / "chainrule"
    if not (src / "__init__.py").exists():
        raise SystemExit(f"ab.py: {checkout} has no chainrule/ package")
    where = tempfile.mkdtemp(prefix="chainrule-ab-")
    shutil.copytree(src, Path(where) / OTHER)
    sys.path.insert(0, where)
    return where, importlib.import_module(OTHER)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("other", help="a checkout of chainrule (a worktree of another commit)")
    parser.add_argument("batches", nargs="*", type=int, default=[32, 128, 512, 2048])
    args = parser.parse_args()
    where, _ = _import_other(args.other)
    try:
        settle()
        print(f"this checkout against {args.other}: one training step, medians in ms")
        print(blas_line())
        print(f"  {'batch':>6s} {'this':>9s} {'other':>9s} {'by hand':>9s} {'this/other':>11s} "
              f"{'this/hand':>10s} {'other/hand':>11s}")
        for batch in args.batches:
            st = measure_together({"this": ts.chainrule_api(batch, np.random.default_rng(0)),
                                   "other": ts.chainrule_api(batch, np.random.default_rng(0), OTHER),
                                   "hand": ts.numpy_by_hand(batch, np.random.default_rng(0))},
                                  repeat=21)
            this, other, hand = (st[k][0] for k in ("this", "other", "hand"))
            print(f"  {batch:6d} {this * 1e3:9.3f} {other * 1e3:9.3f} {hand * 1e3:9.3f} "
                  f"{this / other:11.3f} {this / hand:10.3f} {other / hand:11.3f}")
    finally:
        shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
