"""The two BLAS-side levers of chainrule's training step, each beside plain NumPy, float32.

    python bench/levers.py

1. The update after a product. A weight matrix is read by a matrix product (on all BLAS
   threads) and then updated, ``w ← w - η g``: by NumPy (two passes and a temporary on the
   Python thread) or by ``chainrule._blas.axpy`` (one pass on the BLAS threads). The product
   alone and each update alone are timed too: the product-then-NumPy pair costs more than its
   parts, because the next product must fetch ``w`` back from the core that wrote it.
2. The order of a product. ``x @ W.T`` for a batch ``x`` against ``chainrule``'s
   ``_product(x, W.T)``, which computes ``(W xᵀ)ᵀ`` for batches of at most 128 rows that are
   narrower than the layer.

Medians of repeated, warmed-up runs; the last column is chainrule's time over NumPy's.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # this checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import blas_line, measure_together, settle  # noqa: E402

from chainrule import _blas  # noqa: E402
from chainrule.nn.functional import _product  # noqa: E402

LR = 0.01


def _row(label, ours, numpy_):
    print(f"  {label:44s} {numpy_ * 1e6:9.1f} {ours * 1e6:9.1f} {ours / numpy_:8.2f}")


def update_after_product(rng, batch=32, shape=(256, 784)):
    x = rng.random((batch, shape[1]), dtype=np.float32)
    W = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    if not _blas.axpy(1.0, g, W.copy()):
        print("  (chainrule._blas.axpy is unavailable with this NumPy build: nothing to compare)")
        return
    steps = {
        "product": lambda: x @ W.T,
        "numpy update": lambda: W.__isub__(LR * g),
        "axpy update": lambda: _blas.axpy(-LR, g, W),
        "product, numpy update": lambda: (x @ W.T, W.__isub__(LR * g)),
        "product, axpy update": lambda: (x @ W.T, _blas.axpy(-LR, g, W)),
    }
    st = {k: v[0] for k, v in measure_together(steps, repeat=21).items()}
    print(f"update of a {shape[0]}x{shape[1]} weight matrix (product: batch {batch}), µs")
    print(f"  {'':44s} {'NumPy':>9s} {'chainrule':>9s} {'ratio':>8s}")
    _row("the update alone", st["axpy update"], st["numpy update"])
    _row("product then update", st["product, axpy update"], st["product, numpy update"])
    _row("  of which the product alone", st["product"], st["product"])


def product_order(rng, shape=(256, 784)):
    W = rng.standard_normal(shape).astype(np.float32)
    print(f"x @ W.T for W of shape {shape}, µs")
    print(f"  {'':44s} {'NumPy':>9s} {'chainrule':>9s} {'ratio':>8s}")
    for batch in (8, 32, 64, 128, 512):
        x = rng.random((batch, shape[1]), dtype=np.float32)
        st = measure_together({"numpy": lambda: x @ W.T, "ours": lambda: _product(x, W.T)}, repeat=21)
        _row(f"batch {batch}", st["ours"][0], st["numpy"][0])


def main():
    print(__doc__.split("\n\n")[0])
    print(blas_line())
    settle()
    rng = np.random.default_rng(0)
    update_after_product(rng)
    product_order(rng)


if __name__ == "__main__":
    main()
