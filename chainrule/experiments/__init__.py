"""Experiments that answer the lecture's "why?" questions with real, seeded computations.

Each experiment is a module with ``run(out_dir, quick=False, seed=0)``: it prints a short table,
writes PNG plots and ``<name>.json`` into ``out_dir``, and returns an
:class:`~chainrule.experiments._common.ExperimentResult` whose ``figures`` hold the numbers and
whose ``summary`` sentences are written from them.

==================  =====================================================================
``activations``      the five activations of the lecture and their derivatives
``sigmoid-vs-tanh``  one MLP trained with logistic vs tanh hidden units
``deep-relu``        10-layer nets: gradient norm per layer at initialisation, training
``maxout``           ReLU as maxout with a zero piece; maxout fits a non-convex function
``cross-entropy``    cross-entropy = entropy + KL; = KL = NLL for one-hot targets
``hinge-vs-log``     hinge vs log-loss on two moons: boundaries, losses against the margin
==================  =====================================================================

From Python: ``chainrule.experiments.run("maxout", "out/maxout", quick=True)``; from the shell:
``chainrule experiment maxout --out out/maxout --quick`` (or ``python -m chainrule.experiments``).
``quick=True`` uses the 8×8 digits and small networks: each experiment then takes seconds.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from ..cli import _seed

__all__ = ["EXPERIMENTS", "run", "add_subcommand", "command", "main"]

# command-line name -> module
EXPERIMENTS = {
    "activations": "activations",
    "sigmoid-vs-tanh": "sigmoid_vs_tanh",
    "deep-relu": "deep_relu",
    "maxout": "maxout",
    "cross-entropy": "cross_entropy",
    "hinge-vs-log": "hinge_vs_log",
}


def _module(name):
    key = str(name).replace("_", "-")
    if key not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")
    return importlib.import_module(f"{__name__}.{EXPERIMENTS[key]}")


def run(name, out_dir=None, quick=False, seed=0):
    """Run the experiment called ``name`` (e.g. ``"deep-relu"``); returns its result.

    ``out_dir`` defaults to ``runs/experiments/<name>``.
    """
    module = _module(name)
    out = Path(out_dir) if out_dir is not None else Path("runs") / "experiments" / module.NAME
    return module.run(out, quick=quick, seed=seed)


def _configure(parser):
    parser.add_argument("name", metavar="NAME", choices=[*EXPERIMENTS, "all"],
                        help=f"one of {', '.join(EXPERIMENTS)}, or all")
    parser.add_argument("--out", help="output directory (default runs/experiments/NAME; with all, "
                                      "one subdirectory per experiment)")
    parser.add_argument("--quick", action="store_true",
                        help="small data and networks: each experiment in seconds")
    parser.add_argument("--seed", type=_seed, default=0,           # the check of `chainrule train --seed`
                        help="seeds data, initialisation and shuffling")
    return parser


def add_subcommand(subparsers):
    """Add ``experiment NAME [--out DIR] [--quick] [--seed N]`` to an argparse subparsers object.

    The parsed arguments are handled by :func:`command` (also set as the ``handler`` default).
    """
    parser = subparsers.add_parser(
        "experiment", help="run one of the lecture's experiments (plots, table, summary)",
        description="Run a seeded experiment that answers one of the lecture's questions: it prints "
                    "a table and a summary and writes PNG plots.")
    _configure(parser)
    parser.set_defaults(handler=command)
    return parser


def command(args):
    """Run the experiment(s) named by parsed arguments; returns the exit status (0)."""
    names = list(EXPERIMENTS) if args.name == "all" else [args.name]
    for name in names:
        if args.out is None:
            out = None
        else:
            out = Path(args.out) / name if args.name == "all" else Path(args.out)
        start = time.perf_counter()
        run(name, out, quick=args.quick, seed=args.seed)
        print(f"({name}: {time.perf_counter() - start:.1f} s)\n", flush=True)
    return 0


def main(argv=None):
    """``python -m chainrule.experiments NAME [--out DIR] [--quick]``; returns the exit status."""
    parser = _configure(argparse.ArgumentParser(prog="python -m chainrule.experiments",
                                                description="Run one of chainrule's experiments."))
    args = parser.parse_args(argv)
    try:
        return command(args)
    except (ValueError, OSError, ImportError) as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 1
