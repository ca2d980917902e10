"""One MNIST epoch (60 000 images, batch 128, MLP 784-256-128-10 ReLU, Adam), time and memory.

    python bench/mnist_epoch.py [--epochs 3] [--steps 10000] [--data-dir DIR]

Each framework runs in a fresh subprocess so that its peak memory (max RSS) is its own. The
epoch time is the median over ``--epochs`` epochs after one warm-up epoch. With ``--steps`` the
chainrule run also trains that many steps and reports its resident memory at 10 % and at the
end of them, to show that memory stays flat.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import blas_line  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SIZES = [784, 256, 128, 10]


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load(data_dir):
    from chainrule import data
    (X, y), _ = data.load_mnist(root=data_dir, download=False, flatten=True)
    return X, y


def child_chainrule(data_dir, epochs, steps):
    from chainrule import nn, optim
    from chainrule.data import DataLoader
    from chainrule.nn import losses
    X, y = _load(data_dir)
    model = nn.MLP(SIZES, activation="relu", rng=0, dtype=np.float32)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(X, y, batch_size=128, shuffle=True, seed=0)

    def step(xb, yb):
        opt.zero_grad()
        loss = losses.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()

    times = []
    for epoch in range(epochs + 1):
        start = time.perf_counter()
        for xb, yb in loader:
            step(xb, yb)
        if epoch:
            times.append(time.perf_counter() - start)
    out = {"epoch_s": float(np.median(times)), "peak_mb": _peak_mb()}
    if steps:
        marks, done = {}, 0
        while done < steps:
            for xb, yb in loader:
                step(xb, yb)
                done += 1
                if done in (steps // 10, steps):
                    marks[done] = _rss_mb()
                if done == steps:
                    break
        out["rss_mb"] = marks
    return out


def child_torch(data_dir, epochs, steps):
    import torch
    torch.set_num_threads(os.cpu_count() or 1)
    X, y = _load(data_dir)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    torch.manual_seed(0)
    layers = []
    for i, o in zip(SIZES[:-1], SIZES[1:]):
        layers += [torch.nn.Linear(i, o), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    times = []
    for epoch in range(epochs + 1):
        start = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(X)))
        for k in range(0, len(X), 128):
            idx = order[k:k + 128]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(Xt[idx]), yt[idx]).backward()
            opt.step()
        if epoch:
            times.append(time.perf_counter() - start)
    return {"epoch_s": float(np.median(times)), "peak_mb": _peak_mb()}


def _run_child(which, args):
    cmd = [sys.executable, __file__, "--child", which, "--epochs", str(args.epochs),
           "--steps", str(args.steps if which == "chainrule" else 0), "--data-dir", args.data_dir]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        last = (res.stderr.strip().splitlines() or ["failed"])[-1]
        return None, last
    return json.loads(res.stdout.strip().splitlines()[-1]), None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--child", choices=("chainrule", "torch"))
    args = p.parse_args(argv)
    if args.child:
        fn = child_chainrule if args.child == "chainrule" else child_torch
        print(json.dumps(fn(args.data_dir, args.epochs, args.steps)))
        return 0
    print(__doc__.splitlines()[0])
    print(blas_line())
    ours, err = _run_child("chainrule", args)
    if ours is None:
        print(f"  chainrule failed: {err}")
        return 1
    theirs, why = _run_child("torch", args)
    print(f"  {'':12s} {'s/epoch (median)':>17s} {'peak MB':>9s}")
    print(f"  {'chainrule':12s} {ours['epoch_s']:17.3f} {ours['peak_mb']:9.0f}")
    if theirs is None:
        print(f"  {'PyTorch':12s} {'absent':>17s}   ({why})")
    else:
        print(f"  {'PyTorch':12s} {theirs['epoch_s']:17.3f} {theirs['peak_mb']:9.0f}")
        print(f"  chainrule / PyTorch: time {ours['epoch_s'] / theirs['epoch_s']:.2f}, "
              f"peak memory {ours['peak_mb'] / theirs['peak_mb']:.2f}")
    if "rss_mb" in ours:
        marks = sorted(ours["rss_mb"].items(), key=lambda kv: int(kv[0]))
        print("  chainrule resident memory: " + ", ".join(f"{v:.0f} MB after {k} steps" for k, v in marks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
