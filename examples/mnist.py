"""MNIST acceptance run: chainrule's MLPs on MNIST and Fashion-MNIST, timed beside PyTorch.

    python examples/mnist.py                        # all three runs, 10 epochs each
    python examples/mnist.py --runs mlp --epochs 2  # a quick look
    python examples/mnist.py --data-dir ~/data      # base directory with mnist/ and fashion-mnist/

The runs (Adam, learning rate 1e-3 annealed to 0 along half a cosine over the epochs, batch
128, float32, the official 60k/10k split; the decay makes the last epoch's accuracy steady —
with a constant rate it wanders by ±0.2 points from one epoch to the next):

* ``mlp``      784-256-128-10 ReLU MLP on MNIST          (target: ≥ 98.0 % test accuracy)
* ``softmax``  softmax (multinomial logistic) regression (target: ≥ 92 %)
* ``fashion``  the same MLP on Fashion-MNIST             (target: ≥ 88 %)

It prints the time of every epoch and, when PyTorch can be imported, trains the same network
with ``torch.optim.Adam`` on the same data in the same process and prints its time per epoch.
The data are read from ``../shared/data`` (relative to the repository root) unless
``--data-dir`` says otherwise; missing files are downloaded (see ``chainrule.data``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from chainrule import data, nn, optim
from chainrule.data import DataLoader
from chainrule.train import Callback, evaluate, fit

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RUNS = {  # name: (dataset, layer sizes, target accuracy)
    "mlp": ("mnist", [784, 256, 128, 10], 0.98),
    "softmax": ("mnist", [784, 10], 0.92),
    "fashion": ("fashion-mnist", [784, 256, 128, 10], 0.88),
}


class _PrintEpoch(Callback):
    def on_epoch_end(self, state):
        h = state.history
        print(f"  epoch {h.epoch[-1]:2d}  train loss {h.train_loss[-1]:.4f}  "
              f"test accuracy {h.val_accuracy[-1]:.4f}  {h.time[-1]:6.2f} s", flush=True)


def run_chainrule(sizes, train, test, epochs, batch_size, seed):
    model = nn.MLP(sizes, activation="relu", rng=seed, dtype=np.float32)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    train_loader = DataLoader(*train, batch_size=batch_size, shuffle=True, seed=seed)
    test_loader = DataLoader(*test, batch_size=1000)
    history = fit(model, nn.losses.cross_entropy, optimizer, train_loader, epochs,
                  val_loader=test_loader, callbacks=[_PrintEpoch()], progress=False,
                  scheduler=scheduler)
    return evaluate(model, nn.losses.cross_entropy, test_loader)["accuracy"], history.time


def _import_torch():
    try:
        import torch
    except Exception as e:            # not installed, or installed without its libraries
        return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return torch, None


def run_torch(torch, sizes, train, test, epochs, batch_size, seed):
    torch.manual_seed(seed)
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    X, y = torch.from_numpy(train[0]), torch.from_numpy(train[1])
    rng = np.random.default_rng(seed)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(X)))
        for k in range(0, len(X), batch_size):
            idx = order[k:k + batch_size]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(X[idx]), y[idx]).backward()
            optimizer.step()
        scheduler.step()
        times.append(time.perf_counter() - start)
    with torch.no_grad():
        predicted = model(torch.from_numpy(test[0])).argmax(1).numpy()
    return float(np.mean(predicted == test[1])), times


def _at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer ≥ {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer ≥ {minimum}, got {value}")
        return value
    return parse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA),
                        help=f"base directory holding mnist/ and fashion-mnist/ (default {DEFAULT_DATA})")
    parser.add_argument("--runs", default="mlp,softmax,fashion",
                        help="comma-separated: mlp, softmax, fashion")
    parser.add_argument("--epochs", type=_at_least(1), default=10)
    parser.add_argument("--batch-size", type=_at_least(1), default=128)
    parser.add_argument("--seed", type=_at_least(0), default=0)
    parser.add_argument("--torch-epochs", type=_at_least(0), default=None,
                        help="epochs of the PyTorch comparison (default: --epochs); 0 skips it")
    args = parser.parse_args(argv)
    names = args.runs.split(",")
    for name in names:
        if name not in RUNS:
            parser.error(f"unknown run {name!r}; choose from {', '.join(RUNS)}")
    torch_epochs = args.epochs if args.torch_epochs is None else args.torch_epochs
    torch, why = _import_torch() if torch_epochs > 0 else (None, "skipped (--torch-epochs 0)")
    if torch is None:
        print(f"PyTorch comparison unavailable: {why}")
    else:
        print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")

    loaded = {}
    summary = []
    for name in names:
        dataset, sizes, target = RUNS[name]
        if dataset not in loaded:
            loader = data.load_mnist if dataset == "mnist" else data.load_fashion_mnist
            loaded[dataset] = loader(root=args.data_dir, download=True, flatten=True)
        train, test = loaded[dataset]
        arch = "-".join(map(str, sizes))
        print(f"\n{name}: {arch} on {dataset}, Adam 1e-3 (cosine decay), batch {args.batch_size}, "
              f"{args.epochs} epochs")
        accuracy, times = run_chainrule(sizes, train, test, args.epochs, args.batch_size, args.seed)
        row = {"run": name, "arch": arch, "dataset": dataset, "accuracy": accuracy, "target": target,
               "epoch_s": float(np.median(times))}
        if torch is not None:
            t_acc, t_times = run_torch(torch, sizes, train, test, torch_epochs, args.batch_size, args.seed)
            row.update(torch_accuracy=t_acc, torch_epoch_s=float(np.median(t_times)))
            print(f"  PyTorch: {row['torch_epoch_s']:.2f} s per epoch (median), test accuracy {t_acc:.4f} "
                  f"after {torch_epochs} epochs")
        summary.append(row)

    print("\nrun      network          dataset        test acc  target  median s/epoch: chainrule  torch")
    for r in summary:
        torch_s = f"{r['torch_epoch_s']:.2f}" if "torch_epoch_s" in r else "-"
        verdict = "ok" if r["accuracy"] >= r["target"] else "BELOW"
        print(f"{r['run']:8s} {r['arch']:16s} {r['dataset']:14s} {r['accuracy']:.4f}    "
              f"{r['target']:.2f} {verdict:5s} {r['epoch_s']:6.2f}   {torch_s}")
    return 0 if all(r["accuracy"] >= r["target"] for r in summary) else 1


if __name__ == "__main__":
    raise SystemExit(main())
