"""The ``chainrule`` command: train, evaluate and apply multilayer perceptrons.

    chainrule train                           # an MLP on the 8×8 digits, in seconds
    chainrule train --data mnist --hidden 256,128 --epochs 10
    chainrule evaluate runs/<time>/model.safetensors --data mnist
    chainrule predict runs/<time>/model.safetensors images.npy --output labels.npy

Every error is reported as one line on stderr with a non-zero exit status (set
``CHAINRULE_DEBUG=1`` to see the traceback instead).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ._io import atomic_path, write_atomic

__all__ = ["main"]

_DATASETS = ("digits", "mnist", "fashion-mnist")
_ACTIVATIONS = ("relu", "tanh", "logistic", "maxout")
_LOSSES = ("cross-entropy", "hinge")
_OPTIMIZERS = ("adam", "sgd")
# per dataset: hidden sizes, epochs, batch size, learning rate (Adam)
_DEFAULTS = {"digits": ((128,), 30, 32, 3e-3), "mnist": ((256, 128), 10, 128, 1e-3),
             "fashion-mnist": ((256, 128), 10, 128, 1e-3), "file": ((128,), 30, 64, 1e-3)}


class CommandError(Exception):
    """A problem the user can fix: reported as one line, without a traceback."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer in 0..2**32-1, got {text!r}") from None
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"expected an integer in 0..2**32-1, got {value}")
    return value


def _hidden_sizes(text):
    if text.strip() == "":
        return ()
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths such as 256,128, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer widths must be positive, got {text!r}")
    return sizes


def _data_arg(text):
    if text in _DATASETS or text.endswith(".npz"):
        return text
    raise argparse.ArgumentTypeError(f"expected one of {', '.join(_DATASETS)} or a FILE.npz, got {text!r}")


def _parser():
    parser = _Parser(prog="chainrule", description="Train, evaluate and apply multilayer perceptrons; "
                                                   "run the lecture's experiments.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    train = sub.add_parser("train", help="train an MLP and write model, metrics and curves")
    train.add_argument("--data", type=_data_arg, default="digits",
                       help="digits (default), mnist, fashion-mnist or FILE.npz with X_train, y_train, "
                            "X_test, y_test (or X, y: split 75/25)")
    train.add_argument("--data-dir", help="base directory of the MNIST files (default: "
                                          "$CHAINRULE_DATA, else ~/.cache/chainrule)")
    train.add_argument("--no-download", action="store_true",
                       help="never download MNIST files; fail if they are missing")
    train.add_argument("--hidden", type=_hidden_sizes,
                       help="hidden layer widths, e.g. 256,128 (default 128 for digits and --data files, "
                            "256,128 for MNIST)")
    train.add_argument("--activation", choices=_ACTIVATIONS, default="relu")
    train.add_argument("--loss", choices=_LOSSES, default="cross-entropy")
    train.add_argument("--optimizer", choices=_OPTIMIZERS, default="adam")
    train.add_argument("--schedule", choices=("cosine", "constant"), default="cosine",
                       help="learning rate over the epochs: annealed to 0 along half a cosine "
                            "(default; steadier final accuracy) or constant")
    train.add_argument("--lr", type=_positive_float,
                       help="learning rate (default for adam: 3e-3 on digits, 1e-3 otherwise; 0.05 for sgd)")
    train.add_argument("--epochs", type=_positive_int,
                       help="default 30 for digits and --data files, 10 for MNIST")
    train.add_argument("--batch-size", type=_positive_int,
                       help="default 32 for digits, 128 for MNIST, 64 for --data files")
    train.add_argument("--seed", type=_seed, default=0,
                       help="seeds initialisation, shuffling and the split (0..2**32-1)")
    train.add_argument("--out", help="output directory (default runs/<timestamp>)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    ev = sub.add_parser("evaluate", help="test accuracy and loss of a trained model")
    ev.add_argument("checkpoint")
    ev.add_argument("--data", type=_data_arg, help="dataset (default: the one it was trained on)")
    ev.add_argument("--data-dir")
    ev.add_argument("--no-download", action="store_true", help="never download MNIST files")
    ev.add_argument("--batch-size", type=_positive_int, default=512)

    pr = sub.add_parser("predict", help="predicted labels for the rows of an .npy array")
    pr.add_argument("checkpoint")
    pr.add_argument("input", help="INPUT.npy: samples, one per row (images are flattened), with raw values "
                                  "as the training data stores them (digits 0..16, MNIST 0..255); the "
                                  "scaling recorded at training is applied")
    pr.add_argument("--output", help="write the labels (int64, NumPy .npy format) to exactly this file "
                                     "instead of printing them")
    pr.add_argument("--batch-size", type=_positive_int, default=512)
    from .experiments import add_subcommand
    add_subcommand(sub)
    return parser


# --------------------------------------------------------------------------- data

# how the messages of chainrule.data name its options on this command line
_DATA_WORDS = {"root": "pass --data-dir DIR", "no_download": "--no-download"}
# the built-in loaders return the stored values divided by these (digits 0..16, IDX images
# 0..255); the divisor is recorded with the model, and predict applies it to raw input
_DIVIDE_BY = {"digits": 16.0, "mnist": 255.0, "fashion-mnist": 255.0}


def _load_data(name, data_dir, seed, download=True):
    """((X_train, y_train), (X_test, y_test)) with X float32 (n, features), y int64."""
    from . import data
    if name == "digits":
        from sklearn.model_selection import train_test_split
        X, y = data.load_digits()
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, stratify=y, random_state=seed)
        return (X_train, y_train), (X_test, y_test)
    if name in ("mnist", "fashion-mnist"):
        return data._load_idx_dataset(name, data_dir, download, True, words=_DATA_WORDS)
    return _load_npz(Path(name), seed)


def _magic(path, n):
    with open(path, "rb") as fh:
        return fh.read(n)


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")         # how an .npz archive (a zip file) starts


def _existing_file(path, what):
    if not path.exists():
        raise CommandError(f"{what} {path} does not exist")
    if path.is_dir():
        raise CommandError(f"{what} {path} is a directory")


def _float_samples(X, where):
    """``X`` (n, ...) of numbers as float32 (n, features), or a CommandError that names ``where``
    and, for NaN or infinite values, the rows that hold them."""
    if X.dtype.kind not in "biuf":
        raise CommandError(f"{where} must hold numbers, got dtype {X.dtype}")
    if len(X) == 0:
        raise CommandError(f"{where} holds no samples (shape {X.shape})")
    X = X.reshape(len(X), -1).astype(np.float32)
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise CommandError(f"{where} contains NaN or infinite values (rows {rows[:6].tolist()}"
                           f"{', ...' if len(rows) > 6 else ''})")
    return X


def _load_npz(path, seed):
    _existing_file(path, "data file")
    if _magic(path, 4) not in _ZIP_MAGIC:
        raise CommandError(f"{path} is not an .npz archive (write one with numpy.savez(path, X_train=..., "
                           "y_train=..., X_test=..., y_test=...))")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:
        raise CommandError(f"cannot read {path} as .npz: {e}") from e
    if {"X_train", "y_train", "X_test", "y_test"} <= arrays.keys():
        splits = (arrays["X_train"], arrays["y_train"]), (arrays["X_test"], arrays["y_test"])
        names = ("X_train", "y_train"), ("X_test", "y_test")
    elif {"X", "y"} <= arrays.keys():
        if len(arrays["X"]) == 0:
            raise CommandError(f"{path}: X holds no samples (shape {arrays['X'].shape})")
        from sklearn.model_selection import train_test_split
        X_train, X_test, y_train, y_test = train_test_split(
            arrays["X"], arrays["y"], test_size=0.25, stratify=arrays["y"], random_state=seed)
        splits = (X_train, y_train), (X_test, y_test)
        names = ("X (75% for training)", "y"), ("X (25% for testing)", "y")
    else:
        raise CommandError(f"{path} must hold arrays X_train, y_train, X_test, y_test (or X, y); "
                           f"it holds {', '.join(sorted(arrays)) or 'nothing'}")
    out = []
    for (X, y), (x_name, y_name) in zip(splits, names, strict=True):
        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim < 2 or y.ndim != 1 or len(X) != len(y):
            raise CommandError(f"{path}: {x_name} must be (n, features...) and {y_name} (n,), got {X.shape} "
                               f"and {y.shape}")
        X = _float_samples(X, f"{path}: {x_name}")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise CommandError(f"{path}: {y_name} must hold integer class labels 0..k-1")
        out.append((X, y.astype(np.int64)))
    (X_train, _), (X_test, _) = out
    if X_train.shape[1] != X_test.shape[1]:
        raise CommandError(f"{path}: the training samples have {X_train.shape[1]} features but the test "
                           f"samples {X_test.shape[1]} (X_train {splits[0][0].shape}, X_test "
                           f"{splits[1][0].shape})")
    return tuple(out)


def _divide_by(meta):
    """The divisor the model's training data were scaled by (1 for checkpoints without a record)."""
    return float(meta.get("preprocessing", {}).get("divide_by", 1.0))


# --------------------------------------------------------------------------- model

def _build(arch, seed=0):
    from .nn import MLP
    return MLP(arch["sizes"], activation=arch["activation"], rng=seed,
               dtype=np.dtype(arch.get("dtype", "float32")))


def _loss_fn(name):
    from .nn import losses
    return losses.cross_entropy if name == "cross-entropy" else losses.multiclass_hinge


def _restore(path):
    """The model saved at ``path`` and its metadata."""
    from . import checkpoint
    meta = checkpoint.load(path)
    arch = meta.get("architecture")
    if not arch:
        raise CommandError(f"{path} records no architecture (it was not written by `chainrule train`)")
    model = _build(arch)
    checkpoint.load(path, model)
    model.eval()
    return model, meta


def _predict(model, X, batch_size):
    from . import no_grad
    outputs = []
    with no_grad():
        for start in range(0, len(X), batch_size):
            outputs.append(np.asarray(model(X[start:start + batch_size])))
    return np.concatenate(outputs) if outputs else np.zeros((0, 0))


# --------------------------------------------------------------------------- commands

def _train(args):
    from . import optim, train
    from .data import DataLoader
    kind = args.data if args.data in _DATASETS else "file"
    hidden, epochs, batch_size, lr = _DEFAULTS[kind]
    hidden = args.hidden if args.hidden is not None else hidden
    epochs = args.epochs or epochs
    batch_size = args.batch_size or batch_size
    lr = args.lr or (lr if args.optimizer == "adam" else 0.05)
    out = Path(args.out) if args.out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out {out} exists and is not a directory")

    (X_train, y_train), (X_test, y_test) = _load_data(args.data, args.data_dir, args.seed,
                                                      download=not args.no_download)
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    arch = {"sizes": [X_train.shape[1], *hidden, num_classes], "activation": args.activation,
            "dtype": "float32"}
    # a file is recorded by its absolute path, so that evaluate finds it from any directory
    data_source = args.data if kind != "file" else str(Path(args.data).resolve())
    options = {"data": data_source, "hidden": list(hidden), "activation": args.activation, "loss": args.loss,
               "optimizer": args.optimizer, "lr": lr, "epochs": epochs, "batch_size": batch_size,
               "seed": args.seed, "schedule": args.schedule}
    try:
        model = _build(arch, seed=args.seed)
    except (ValueError, TypeError) as e:
        raise CommandError(f"cannot build the network {arch}: {e}") from e
    params = list(model.parameters())
    optimizer = (optim.Adam(params, lr=lr) if args.optimizer == "adam"
                 else optim.SGD(params, lr=lr, momentum=0.9))
    scheduler = (optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
                 if args.schedule == "cosine" else None)
    loss = _loss_fn(args.loss)
    train_loader = DataLoader(X_train, y_train, batch_size=batch_size, shuffle=True, seed=args.seed)
    test_loader = DataLoader(X_test, y_test, batch_size=1024)

    out.mkdir(parents=True, exist_ok=True)
    model_path = out / "model.safetensors"
    print(f"training {' -> '.join(map(str, arch['sizes']))} {args.activation} MLP on {args.data} "
          f"({len(X_train)} train, {len(X_test)} test samples), {args.optimizer} lr={lr:g} "
          f"({args.schedule}), {epochs} epochs, batch {batch_size}; writing to {out}", flush=True)
    preprocessing = {"divide_by": _DIVIDE_BY.get(args.data, 1.0)}
    saver = train.ModelCheckpoint(model_path, metadata={"architecture": arch, "options": options,
                                                        "preprocessing": preprocessing})
    history = train.fit(model, loss, optimizer, train_loader, epochs, val_loader=test_loader,
                        callbacks=[saver], progress=not args.no_progress, scheduler=scheduler)
    result = train.evaluate(model, loss, test_loader)
    metrics = {"test_accuracy": result["accuracy"], "test_loss": result["loss"],
               "epochs": len(history), "train_time_s": float(sum(history.time)),
               "history": history.as_dict(), "options": options, "architecture": arch,
               "preprocessing": preprocessing,
               "note": "val_loss and val_accuracy in the history are measured on the test split"}
    write_atomic(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    _plot(history, out / "curves.png", args.data)
    print(f"test accuracy {result['accuracy']:.4f}, test loss {result['loss']:.4f} "
          f"({sum(history.time):.1f} s of training); wrote {model_path}, "
          f"{out / 'metrics.json'}, {out / 'curves.png'}")
    return 0


def _plot(history, path, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError('plotting needs matplotlib: pip install "chainrule[train]"') from e
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = history.epoch
    ax_loss.plot(epochs, history.train_loss, marker="o", label="train")
    ax_loss.plot(epochs, history.val_loss, marker="o", label="test")
    ax_loss.set(xlabel="epoch", ylabel="loss", title=f"{title}: loss")
    ax_loss.legend()
    if all(a is not None for a in history.train_accuracy):
        ax_acc.plot(epochs, history.train_accuracy, marker="o", label="train")
    ax_acc.plot(epochs, history.val_accuracy, marker="o", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title=f"{title}: accuracy")
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def _evaluate(args):
    from . import train
    from .data import DataLoader
    model, meta = _restore(args.checkpoint)
    options = meta.get("options", {})
    name = args.data or options.get("data", "digits")
    _, (X_test, y_test) = _load_data(name, args.data_dir, options.get("seed", 0),
                                     download=not args.no_download)
    if name not in _DIVIDE_BY:                    # a file holds raw values: scale them as in training
        X_test = _scaled(X_test, meta)
    _check_features(model, meta, X_test, name)
    result = train.evaluate(model, _loss_fn(options.get("loss", "cross-entropy")),
                            DataLoader(X_test, y_test, batch_size=args.batch_size))
    print(f"test accuracy {result['accuracy']:.4f}, test loss {result['loss']:.4f} "
          f"({result['samples']} samples of {name})")
    return 0


def _check_features(model, meta, X, source):
    expected = meta["architecture"]["sizes"][0]
    if X.ndim != 2 or X.shape[1] != expected:
        raise CommandError(f"the model expects {expected} features per sample but {source} has "
                           f"shape {X.shape}")


def _scaled(X, meta):
    from . import data
    divide_by = _divide_by(meta)
    return X if divide_by == 1.0 else data._divided(X, divide_by)


def _read_samples(path, expected):
    """The rows of an .npy file as float32 (n, features), or a CommandError saying what is wrong."""
    _existing_file(path, "input file")
    head = _magic(path, 6)
    if head[:4] in _ZIP_MAGIC:
        raise CommandError(f"{path} is an .npz archive; predict reads one array from an .npy file "
                           "(numpy.save)")
    if head != b"\x93NUMPY":
        raise CommandError(f"{path} is not an .npy file (write one with numpy.save)")
    try:
        X = np.load(path, allow_pickle=False)
    except Exception as e:
        raise CommandError(f"cannot read {path} as .npy: {e}") from e
    if X.ndim == 0:
        raise CommandError(f"{path} holds a single number, not samples (one per row)")
    if X.ndim == 1:
        if X.size != expected:                   # not one sample: the caller names the shapes
            return X
        X = X[None]
    return _float_samples(X, str(path))


def _predict_cmd(args):
    model, meta = _restore(args.checkpoint)
    path = Path(args.input)
    X = _read_samples(path, meta["architecture"]["sizes"][0])
    _check_features(model, meta, X, str(path))
    labels = np.argmax(_predict(model, _scaled(X, meta), args.batch_size), axis=1).astype(np.int64)
    if args.output:
        output = Path(args.output)
        if output.is_dir():
            raise CommandError(f"--output {output} is a directory; name a file")
        with atomic_path(output) as tmp, open(tmp, "wb") as fh:
            np.save(fh, labels)                   # to a handle: no ".npy" appended to the name
        print(f"wrote {len(labels)} labels to {output}")
    else:
        print("\n".join(map(str, labels)))
    return 0


def _experiment(args):
    from .experiments import command
    return command(args)


_COMMANDS = {"train": _train, "evaluate": _evaluate, "predict": _predict_cmd, "experiment": _experiment}


def main(argv=None):
    """Run the command line; returns the exit status (argparse errors exit with status 2)."""
    args = _parser().parse_args(argv)
    try:
        # overflow in a diverging run is reported once, by fit's divergence guard
        with np.errstate(all="ignore"):
            return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (``chainrule predict ... | head``): nothing left to say to it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as e:
        if os.environ.get("CHAINRULE_DEBUG"):
            raise
        from .train import TrainingDiverged
        known = (CommandError, TrainingDiverged, ValueError, KeyError, ImportError)
        if isinstance(e, KeyError) and e.args:
            message = str(e.args[0])
        elif isinstance(e, OSError) and e.strerror and not isinstance(e, known):
            # FileExistsError, IsADirectoryError, PermissionError, ...: what and where, no class name
            message = f"{e.strerror}: {e.filename}" if e.filename else e.strerror
            if e.filename2:
                message += f" -> {e.filename2}"
        else:
            message = str(e)
        message = " ".join(message.split())          # one line, whatever the message
        if not isinstance(e, (*known, OSError)):
            message = f"{type(e).__name__}: {message} (set CHAINRULE_DEBUG=1 for the traceback)"
        print(f"chainrule {args.command}: error: {message}", file=sys.stderr)
        return 1
