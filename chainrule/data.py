"""Data: mini-batches over NumPy arrays, and the datasets the lecture trains on.

* :class:`DataLoader` cuts arrays into mini-batches, optionally in a shuffled order drawn from
  its own seeded ``numpy.random.Generator``; its :meth:`~DataLoader.state_dict` lets a resumed
  run draw exactly the orders the uninterrupted run would have drawn.
* :func:`load_digits` — scikit-learn's embedded 8×8 digits (no download).
* :func:`load_mnist`, :func:`load_fashion_mnist` — the original IDX ``.gz`` files, read from a
  data directory, downloaded (and md5-checked) when absent and allowed.

Where the MNIST-style files are looked for, in this order:

1. the ``root`` argument;
2. the ``CHAINRULE_DATA`` environment variable;
3. a per-user cache, ``$XDG_CACHE_HOME/chainrule`` (default ``~/.cache/chainrule``).

Each of these is a *base* directory: MNIST lives in ``<base>/mnist/`` and Fashion-MNIST in
``<base>/fashion-mnist/`` under the original file names (``train-images-idx3-ubyte.gz``, ...).
A ``root`` that holds the four files directly is accepted too.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.request
from pathlib import Path

import numpy as np

from ._io import write_atomic
from ._random import default_generator

__all__ = ["DataLoader", "load_digits", "load_mnist", "load_fashion_mnist", "data_home"]


# --------------------------------------------------------------------------- DataLoader

def _described(value):
    """``None`` or the type's name (``list``): how an error names what it was given."""
    return "None" if value is None else type(value).__name__


def _is_dataset(a):
    """Whether ``a`` is a map-style dataset in PyTorch's sense, ``a[i]`` being one sample (often
    an ``(x, y)`` tuple): an object with ``__getitem__`` and ``__len__`` that is no array, or a
    list of tuples or dicts, or a list NumPy cannot make one array of (``[[x0, 0], [x1, 1]]``)."""
    if isinstance(a, (list, tuple)):
        if not a or not isinstance(a[0], (tuple, list, dict)):
            return False
        if isinstance(a[0], (tuple, dict)):
            return True
        try:
            np.asarray(a)
        except ValueError:                        # ragged: samples, not the rows of a matrix
            return True
        return False
    return (hasattr(a, "__getitem__") and hasattr(a, "__len__") and not hasattr(a, "__array__")
            and not isinstance(a, (str, bytes, dict)))


def _collate(samples, first):
    """One batch from its samples, stacked field by field like ``first`` (sample 0 of the
    dataset): a tuple of arrays for tuple or list samples, a dict of arrays for dicts, a 1-tuple
    for array samples."""
    where = "DataLoader: "
    try:
        if isinstance(first, dict):
            keys = list(first)
            for s in samples:
                if not isinstance(s, dict) or list(s) != keys:
                    raise ValueError(f"{where}sample 0 of the dataset has the keys {keys}, another "
                                     f"{list(s) if isinstance(s, dict) else 'is a ' + type(s).__name__}")
            return {k: np.stack([np.asarray(s[k]) for s in samples]) for k in keys}
        if isinstance(first, (tuple, list)):
            for s in samples:
                if not isinstance(s, (tuple, list)) or len(s) != len(first):
                    got = f"{len(s)} fields" if isinstance(s, (tuple, list)) else f"a {type(s).__name__}"
                    raise ValueError(f"{where}sample 0 of the dataset has {len(first)} fields, another {got}")
            return tuple(np.stack([np.asarray(s[j]) for s in samples]) for j in range(len(first)))
        return (np.stack([np.asarray(s) for s in samples]),)
    except ValueError as e:
        if str(e).startswith(where):
            raise
        raise ValueError(f"{where}the samples' fields have different shapes and cannot be stacked into "
                         f"a batch ({e})") from None


class DataLoader:
    """Mini-batches over NumPy arrays that share their first dimension.

    ``for xb, yb in DataLoader(X, y, batch_size=32)`` yields tuples of slices, one per array
    (a tuple even for a single array).  A map-style dataset in PyTorch's sense (an object with
    ``__len__`` and ``__getitem__`` giving one sample: an ``(x, y)`` tuple, a dict or an array;
    or a list of such samples) is read sample by sample at each pass, so ``__getitem__`` may
    augment at random, and each batch is stacked field by field (a dict of arrays for dict
    samples).

    With ``shuffle=True`` every pass draws a fresh permutation from a ``numpy.random.Generator``:
    ``seed`` (an int) seeds one of the loader's own, a Generator is drawn from, and ``None`` draws
    from the generator that ``chainrule.manual_seed`` resets. ``drop_last=True`` skips a final
    batch smaller than ``batch_size``.

    The order is a pure function of the generator's state when a pass begins, so
    ``state_dict()`` taken between passes and ``load_state_dict()`` into a new loader make it
    continue with exactly the orders the first one would have drawn.

    Batches are new arrays, as PyTorch's are: a batch changed in place (``xb -= xb.mean(0)``)
    leaves the dataset as it was.
    """

    def __init__(self, *arrays, batch_size, shuffle=False, seed=None, drop_last=False):
        if not arrays:
            raise ValueError("DataLoader: no arrays given; pass the inputs and targets, "
                             "e.g. DataLoader(X, y, batch_size=32)")
        self.dataset = None
        if len(arrays) == 1 and _is_dataset(arrays[0]):
            self.dataset = arrays[0]
            if len(self.dataset) == 0:
                raise ValueError(f"DataLoader: the dataset ({type(self.dataset).__name__}) has no samples")
            self._first = self.dataset[0]
            arrays = ()
        for a in arrays:
            if isinstance(a, (dict, set)) or (hasattr(a, "__next__") and not hasattr(a, "__len__")):
                raise TypeError(f"DataLoader: expected arrays (or sequences) of samples, got a "
                                f"{type(a).__name__}; pass DataLoader(X, y, ...) with arrays of equal length")
        arrays = tuple(np.asarray(a) for a in arrays)
        for a in arrays:
            if a.ndim == 0:
                raise ValueError("DataLoader: arrays must have at least one dimension, got a scalar")
        lengths = [len(a) for a in arrays]
        if len(set(lengths)) > 1:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"DataLoader: arrays must have the same length (first dimension), "
                             f"got shapes {shapes}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        self.arrays = arrays
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        if isinstance(seed, np.random.Generator):
            self.rng = seed
        else:
            self.rng = default_generator() if seed is None else np.random.default_rng(seed)

    @property
    def num_samples(self):
        return len(self.dataset) if self.dataset is not None else len(self.arrays[0])

    def __len__(self):
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self):
        n, b = self.num_samples, self.batch_size
        stop = n - n % b if self.drop_last else n
        if self.dataset is not None:
            order = self.rng.permutation(n) if self.shuffle else range(n)
            dataset, first = self.dataset, self._first
            for start in range(0, stop, b):
                yield _collate([dataset[int(i)] for i in order[start:start + b]], first)
        elif self.shuffle:
            order = self.rng.permutation(n)
            for start in range(0, stop, b):
                idx = order[start:start + b]
                yield tuple(a[idx] for a in self.arrays)
        else:
            for start in range(0, stop, b):
                yield tuple(a[start:start + b].copy() for a in self.arrays)

    def state_dict(self):
        """The generator's state (JSON-serialisable), to be restored between passes."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state):
        """Restore the generator state that :meth:`state_dict` returned (from a loader with the same
        kind of bit generator), so that the next passes draw the orders that loader would have."""
        expected = "the dict that DataLoader.state_dict() returns, {'rng': <its bit generator's state>}"
        if not isinstance(state, dict):
            raise TypeError(f"DataLoader.load_state_dict: expected {expected}, got {_described(state)}")
        rng = state.get("rng")
        if not isinstance(rng, dict):
            if "rng" in state:
                got = f"{_described(rng)} under 'rng'"
            else:
                got = f"a dict with the keys {list(state)}"
                if "bit_generator" in state:
                    got += "; it looks like a bit generator's state itself: pass {'rng': state}"
            raise ValueError(f"DataLoader.load_state_dict: expected {expected}, got {got}")
        bitgen = self.rng.bit_generator
        name = rng.get("bit_generator")
        if name != type(bitgen).__name__:
            raise ValueError(f"DataLoader.load_state_dict: the state is for bit generator {name!r}, "
                             f"this loader uses {type(bitgen).__name__!r}")
        before = bitgen.state
        try:
            bitgen.state = rng
        except (KeyError, IndexError, TypeError, ValueError, OverflowError) as e:
            bitgen.state = before                 # MT19937 may have taken the key before failing
            raise ValueError(f"DataLoader.load_state_dict: state['rng'] is not a complete {name} state "
                             f"({type(e).__name__}: {e}); pass what state_dict() returned") from None

    def __repr__(self):
        what = (f"{type(self.dataset).__name__} of {len(self.dataset)}" if self.dataset is not None
                else ", ".join(str(a.shape) for a in self.arrays))
        return (f"DataLoader({what}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last})")


# --------------------------------------------------------------------------- small datasets

def load_digits():
    """scikit-learn's 8×8 handwritten digits: ``X`` float32 (1797, 64) in [0, 1], ``y`` int64."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as e:
        raise ImportError('load_digits needs scikit-learn: pip install "chainrule[train]"') from e
    bunch = sk_load_digits()
    X = (bunch.data / 16.0).astype(np.float32)   # pixel values are 0..16
    return X, bunch.target.astype(np.int64)


# --------------------------------------------------------------------------- MNIST-style data

_FILES = {   # split -> (images, labels)
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

_DATASETS = {
    "mnist": {
        "mirrors": ["https://ossci-datasets.s3.amazonaws.com/mnist/"],
        "md5": {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    },
    "fashion-mnist": {
        "mirrors": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        "md5": {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    },
}


def data_home(root=None):
    """The base data directory: ``root``, else ``$CHAINRULE_DATA``, else the per-user cache."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("CHAINRULE_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    if not cache or not Path(cache).expanduser().is_absolute():   # the XDG rule: relative ones are ignored
        cache = Path.home() / ".cache"
    return Path(cache).expanduser() / "chainrule"


def load_mnist(root=None, download=True, flatten=False):
    """MNIST handwritten digits: ``(X_train, y_train), (X_test, y_test)``.

    ``X`` is float32 in [0, 1], shaped (n, 28, 28), or (n, 784) with ``flatten=True``; ``y``
    is int64 in 0..9.  60 000 training and 10 000 test images.  See the module docstring for
    where the files are looked for; with ``download=True`` missing files are fetched from
    the public mirror and their md5 sums checked.
    """
    return _load_idx_dataset("mnist", root, download, flatten)


def load_fashion_mnist(root=None, download=True, flatten=False):
    """Zalando's Fashion-MNIST, with the same layout and API as :func:`load_mnist`.

    Classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
    7 Sneaker, 8 Bag, 9 Ankle boot.
    """
    return _load_idx_dataset("fashion-mnist", root, download, flatten)


# how the messages name the options: the Python API's keywords, or (from the CLI) its flags
_API_WORDS = {"root": "pass root=", "no_download": "download=False"}


def _divided(X, divisor, out=False):
    """``X / divisor`` as the loaders scale raw pixels: times the float32 reciprocal (in place
    with ``out=True``). ``chainrule predict`` scales raw input with this too, so that a model
    sees the very numbers it was trained on."""
    return np.multiply(X, np.float32(1.0 / divisor), out=X if out else None)


def _load_idx_dataset(name, root, download, flatten, words=_API_WORDS):
    folder = _locate(name, root, download, words)
    splits = []
    for split in ("train", "test"):
        images_file, labels_file = _FILES[split]
        images = _read_idx(folder / images_file, expected_ndim=3)
        labels = _read_idx(folder / labels_file, expected_ndim=1)
        if len(images) != len(labels):
            raise ValueError(f"load {name}: {images_file} holds {len(images)} images but "
                             f"{labels_file} holds {len(labels)} labels")
        X = _divided(images.astype(np.float32), 255.0, out=True)
        if flatten:
            X = X.reshape(len(X), -1)
        splits.append((X, labels.astype(np.int64)))
    return tuple(splits)


def _locate(name, root, download, words=_API_WORDS):
    """The directory holding the dataset's four verified files, downloading what is missing."""
    sums = _DATASETS[name]["md5"]
    base = data_home(root)
    folder = base / name
    if root is not None and not (folder / next(iter(sums))).exists() \
            and all((base / f).exists() for f in sums):
        folder = base                  # ``root`` points at the dataset's own folder
    missing = [f for f in sums if not (folder / f).exists()]
    if missing and download:
        folder.mkdir(parents=True, exist_ok=True)
        for f in missing:
            _download_verified(name, f, folder, words)
        missing = []
    if missing:
        raise FileNotFoundError(
            f"load {name}: missing {', '.join(missing)} in {folder}; download was not allowed "
            f"({words['no_download']}). Place the original .gz files there by hand (from "
            f"{_DATASETS[name]['mirrors'][0]}), or {words['root']}, or set CHAINRULE_DATA to a "
            f"directory that holds a {name}/ folder")
    for f in sums:
        _check_md5(folder / f, sums[f], name)
    return folder


def _md5(path):
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_md5(path, expected, name):
    actual = _md5(path)
    if actual == expected:
        return
    for other, info in _DATASETS.items():
        if other != name and info["md5"].get(path.name) == actual:
            raise ValueError(f"load {name}: {path} is the {other} file of that name, not the {name} one "
                             f"(both datasets use the same file names): {path.parent} holds {other}, "
                             f"keep it; point the {name} loader at a folder that holds {name}, or at "
                             f"the base directory with both {name}/ and {other}/")
    raise ValueError(f"load {name}: {path} is corrupt or not the original file (md5 {actual}, "
                     f"expected {expected}); delete it to download it again, or replace it "
                     f"with the original")


def _fetch(url):
    """The bytes at ``url`` (tests replace this function to simulate being offline)."""
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def _download_verified(name, filename, folder, words=_API_WORDS):
    mirrors = _DATASETS[name]["mirrors"]
    expected = _DATASETS[name]["md5"][filename]
    errors = []
    for mirror in mirrors:
        url = mirror + filename
        try:
            payload = _fetch(url)
        except Exception as e:            # offline, HTTP error, timeout: try the next mirror
            errors.append(f"{url}: {e}")
            continue
        actual = hashlib.md5(payload).hexdigest()
        if actual != expected:
            errors.append(f"{url}: md5 {actual}, expected {expected}")
            continue
        write_atomic(folder / filename, payload)
        return
    raise FileNotFoundError(
        f"load {name}: could not download {filename} ({'; '.join(errors)}). Place the original "
        f".gz files in {folder} by hand, or {words['root']}, or set CHAINRULE_DATA to a directory that "
        f"holds a {name}/ folder")


def _read_idx(path, expected_ndim):
    """An IDX file: big-endian magic ``0x0000 08 <ndim>`` (uint8 data), one uint32 per dim."""
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4:
        raise ValueError(f"{path}: not an IDX file (only {len(data)} bytes)")
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim != expected_ndim:
        raise ValueError(f"{path}: not a uint8 IDX file with {expected_ndim} dimensions "
                         f"(magic 0x{magic:08x})")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(dims)):
        raise ValueError(f"{path}: header says shape {dims} but it holds {len(data) - offset} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)
