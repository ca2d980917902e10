"""Checkpoints: a model, its optimizer and JSON metadata in one safetensors file.

The format is `safetensors <https://github.com/huggingface/safetensors>`_: an 8-byte header
length, a JSON header, then raw little-endian arrays.  Loading it parses JSON and copies
bytes; it never runs code (no pickle).  Inside the file:

* ``model.<name>`` — each entry of ``model.state_dict()``;
* ``optim.<index>.<name>`` — each array of the optimizer's per-parameter state;
* header metadata (strings): ``format`` = ``"chainrule"``, ``chainrule_version``,
  ``metadata`` (the keyword arguments of :func:`save`, as JSON) and ``optimizer`` (the
  optimizer's ``param_groups`` and its scalar state, as JSON).

Files are written atomically: to a temporary file in the same directory, flushed to disk,
then renamed over the target, so a crash or a full disk leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

from ._io import write_atomic

__all__ = ["save", "load"]

_FORMAT = "chainrule"


def _safetensors():
    try:
        import safetensors.numpy
    except ImportError as e:
        raise ImportError('checkpoints need the safetensors package: pip install "chainrule[train]"') from e
    return safetensors.numpy


def _json_default(obj):
    """Let NumPy scalars and arrays (RNG states, metrics) travel through JSON."""
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _to_json(what, value):
    try:
        return json.dumps(value, default=_json_default, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise TypeError(f"save: {what} must be JSON-serialisable: {e}") from e


_RESERVED = ("chainrule_version",)      # filled in by save itself


def save(path, model, optimizer=None, /, **metadata):
    """Write ``model`` (a Module, or its ``state_dict()``; and ``optimizer``, and ``metadata``)
    to ``path`` atomically.

    ``path``, ``model`` and ``optimizer`` are positional, so any name is free for metadata:
    ``save(p, model, opt, path="runs/a")`` stores ``path`` as metadata.  ``metadata`` values must
    be JSON-serialisable (NumPy scalars and arrays are converted to numbers and lists): epoch,
    RNG states, options, the architecture, ...; ``chainrule_version`` is reserved (``load``
    reports the writer's version under that name).
    """
    from . import __version__
    reserved = [k for k in _RESERVED if k in metadata]
    if reserved:
        raise ValueError(f"save: metadata name {reserved[0]!r} is reserved (load fills it in); "
                         "choose another name")
    if hasattr(metadata.get("optimizer"), "param_groups"):
        raise TypeError("save: the optimizer is positional: save(path, model, optimizer, **metadata)")
    if not isinstance(path, (str, os.PathLike)):
        hint = (" (torch.save(obj, path) has them the other way round)"
                if isinstance(model, (str, os.PathLike)) else "")
        raise TypeError(f"save: the path comes first, save(path, model, optimizer=None, **metadata); "
                        f"got a {type(path).__name__} as the path{hint}")
    state = model if isinstance(model, dict) else model.state_dict()
    st = _safetensors()
    path = Path(path)
    tensors = {}
    for name, value in state.items():
        tensors[f"model.{name}"] = _c_ordered(value)
    header = {"format": _FORMAT, "chainrule_version": __version__,
              "metadata": _to_json("metadata", metadata)}
    if optimizer is not None:
        header["optimizer"] = _to_json("the optimizer's state", _split_optimizer_state(
            optimizer.state_dict(), tensors))
    payload = st.save(tensors, metadata=header)
    write_atomic(path, payload)


def _c_ordered(value):
    """The array as safetensors stores it: C-ordered, of the same shape (``ascontiguousarray``
    would make a 0-d parameter, a Neuron's bias, 1-d)."""
    return np.asarray(value, order="C")


def _split_optimizer_state(state, tensors):
    """Arrays of the per-parameter state go to ``tensors``; numbers and groups to JSON."""
    scalars = {}
    for index, entries in state["state"].items():
        for name, value in entries.items():
            if isinstance(value, np.ndarray) or (hasattr(value, "__array__") and np.ndim(value) > 0):
                tensors[f"optim.{index}.{name}"] = _c_ordered(value)
            else:
                scalars.setdefault(str(index), {})[name] = value
    return {"optimizer": state.get("optimizer"), "param_groups": state["param_groups"], "scalars": scalars,
            "indices": [str(i) for i in state["state"]]}


def _read(path):
    """(tensors, header metadata) of a chainrule checkpoint, or a ValueError naming the file."""
    st = _safetensors()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load: checkpoint {path} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"load: {path} is a directory, not a checkpoint file (a "
                                "`chainrule train` run keeps its checkpoint in <run>/model.safetensors)")
    data = path.read_bytes()
    try:
        tensors = st.load(data)
        # safetensors validated the header above; its metadata sits under "__metadata__"
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n]).get("__metadata__") or {}
    except Exception as e:
        raise ValueError(f"load: {path} is not a valid checkpoint (corrupt or truncated "
                         f"safetensors file: {e})") from e
    if header.get("format") != _FORMAT:
        raise ValueError(f"load: {path} is a safetensors file but not a chainrule checkpoint "
                         f"(no format=chainrule in its metadata)")
    return tensors, header


def load(path, model=None, optimizer=None):
    """Read the checkpoint at ``path``; load it into ``model`` and ``optimizer`` when given.

    Returns the metadata passed to :func:`save`, plus ``chainrule_version`` (of the writer).
    Raises ``ValueError`` for a corrupt file (naming it), or one whose parameter names or shapes
    do not match ``model`` (listing each mismatch), or whose optimizer state is another
    optimizer class's; ``KeyError`` when ``optimizer`` is given but the file holds no optimizer
    state; ``IsADirectoryError`` for a directory. When the optimizer's state is refused, the
    model keeps the values it had.
    """
    path = Path(path)
    tensors, header = _read(path)
    metadata = _json_field(path, header, "metadata")
    metadata["chainrule_version"] = header.get("chainrule_version")
    if optimizer is not None and "optimizer" not in header:
        raise KeyError(f"load: {path} holds no optimizer state (it was saved without "
                       f"optimizer=); load it without optimizer=")
    before = model.state_dict() if model is not None and optimizer is not None else None
    if model is not None:
        _load_model(path, model, tensors)
    if optimizer is not None:
        try:
            optimizer.load_state_dict(_join_optimizer_state(_json_field(path, header, "optimizer"), tensors))
        except Exception:
            if before is not None:                # a refused optimizer state leaves the model as it was
                model.load_state_dict(before)
            raise
    return metadata


def _json_field(path, header, field):
    try:
        value = json.loads(header.get(field, "{}"))
    except json.JSONDecodeError as e:
        raise ValueError(f"load: {path} is not a valid checkpoint: its {field} is not valid JSON "
                         f"({e})") from None
    if not isinstance(value, dict):
        raise ValueError(f"load: {path} is not a valid checkpoint: its {field} is a "
                         f"{type(value).__name__}, not a JSON object")
    return value


def _load_model(path, model, tensors):
    saved = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(saved)              # strict: names and shapes must all match
    except (KeyError, ValueError) as e:
        reason = e.args[0] if e.args else str(e)
        raise ValueError(f"load: {path} does not match the model's architecture ({reason})") from None


def _join_optimizer_state(info, tensors):
    state = {}
    for index in info["indices"]:
        state[int(index)] = dict(info["scalars"].get(index, {}))
    for key, value in tensors.items():
        if key.startswith("optim."):
            index, name = key[len("optim."):].split(".", 1)
            state.setdefault(int(index), {})[name] = value
    joined = {"state": state, "param_groups": info["param_groups"]}
    if info.get("optimizer") is not None:          # files from before the class was recorded lack it
        joined["optimizer"] = info["optimizer"]
    return joined
