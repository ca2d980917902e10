"""Every benchmark, one after the other: ``python bench/run.py [--quick]``.

* ``engine.py``       per-operation overhead, an MLP Jacobian, a Hessian-vector product;
* ``train_step.py``   one training step of a 784-256-256-10 MLP at batch 32 ... 2048;
* ``levers.py``       the BLAS-side levers of that step (the weights' update, the products' order);
* ``mnist_epoch.py``  a full MNIST epoch (time, peak memory, memory over many steps);
* ``sklearn_parity.py`` the scikit-learn estimators beside scikit-learn's.

Each prints chainrule's medians beside its peers', measured in the same run. Timings on a
shared machine vary between runs (up to ~2x here); compare within one run. To let OpenBLAS
use the machine's own kernels, run with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None):
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    runs = [["engine.py"],
            ["train_step.py"] + (["32", "512"] if quick else []),
            ["levers.py"],
            ["mnist_epoch.py"] + (["--epochs", "1"] if quick else ["--steps", "10000"]),
            ["sklearn_parity.py"] + (["--repeats", "1"] if quick else [])]
    status = 0
    for args in runs:
        print(f"\n===== python bench/{' '.join(args)}", flush=True)
        status |= subprocess.run([sys.executable, str(HERE / args[0]), *args[1:]]).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
