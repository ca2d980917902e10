"""Shared timing helpers for the scripts in bench/: warm up, repeat, report medians."""

from __future__ import annotations

import gc
import importlib
import os
import time

import numpy as np


def blas_line():
    """Which BLAS NumPy calls, and whether OpenBLAS's kernels are pinned by the environment:
    timings of NumPy-based steps differ by up to 1.7x between the two on the same machine."""
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
        name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (AttributeError, KeyError, TypeError):
        name = "unknown"
    core = os.environ.get("OPENBLAS_CORETYPE")
    kernels = (f"kernels pinned to {core} by OPENBLAS_CORETYPE" if core
               else "the machine's own kernels")
    return f"NumPy's BLAS: {name}, {kernels}; {os.cpu_count()} cores"


def measure(fn, repeat=15, warmup=3, min_time=0.05):
    """Median and spread (min, max) of ``fn()``'s wall time in seconds.

    Each sample runs ``fn`` enough times to last ``min_time``, so short calls are not
    dominated by timer resolution.
    """
    return measure_together({"fn": fn}, repeat, warmup, min_time)["fn"]


def measure_together(fns, repeat=15, warmup=3, min_time=0.05):
    """``{name: (median, min, max)}`` for several functions sampled in turn.

    Round ``r`` takes sample ``r`` of every function before any takes sample ``r + 1``, so a
    slow spell of a shared machine lands on all of them instead of on whichever happened to
    run then: their ratios are steadier than those of back-to-back ``measure`` calls.
    """
    inner = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        t0 = time.perf_counter()
        fn()
        inner[name] = max(1, int(min_time / max(time.perf_counter() - t0, 1e-7)))
    samples = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            n = inner[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    return {name: (float(np.median(v)), float(min(v)), float(max(v))) for name, v in samples.items()}


IDLE = 1.0   # seconds


def rest():
    """Pause after measuring PyTorch or JAX: their worker threads keep spinning for a while
    after each call, and on a 2-core machine that slows whatever is measured next."""
    time.sleep(IDLE)


def settle():
    """Move every object alive now (the imported libraries) out of the garbage collector's
    sight, so that a full collection in the middle of a timed loop does not scan the heap of
    PyTorch and JAX: every framework measured here benefits alike."""
    gc.collect()
    gc.freeze()


def optional(name):
    """Import a peer library if installed, else None (reported as absent, not failed)."""
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001  (a broken install counts as absent)
        return None


def report(title, rows, unit="ms", scale=1e3, baseline="chainrule"):
    """Print ``rows`` = [(name, (median, lo, hi) or None)], with ratios to ``baseline``."""
    print(f"\n{title}")
    base = dict(rows).get(baseline)
    print(f"  {'':28s} {'median':>10s} {'spread':>21s} {'chainrule / this':>17s}")
    for name, stats in rows:
        if stats is None:
            print(f"  {name:28s} {'absent':>10s}")
            continue
        med, lo, hi = stats
        ratio = f"{base[0] / med:17.2f}" if base else ""
        print(f"  {name:28s} {med * scale:8.3f}{unit} [{lo * scale:8.3f}, {hi * scale:8.3f}] {ratio}")
