"""Hyper-parameters read as numbers, with errors that name their owner and the argument, and
values shown in error messages."""

from __future__ import annotations

import numpy as np


def real(owner, name, value):
    """``value`` as a float, or a ``TypeError`` naming ``owner`` and ``name`` when it is not a real
    number (a string neither, though ``float`` would read one)."""
    if not isinstance(value, (str, bytes)):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise TypeError(f"{owner}: {name} must be a real number, got {value!r}")


def integer(owner, name, value):
    """``int(value)``, or a ``TypeError`` naming ``owner`` and ``name`` when it is not a number."""
    if not isinstance(value, (str, bytes)):
        try:
            return int(value)
        except (TypeError, ValueError, OverflowError):
            pass
    raise TypeError(f"{owner}: {name} must be an integer, got {value!r}")


def shown(values, limit=6):
    """The distinct ``values`` for an error message: ``[1, 5, ...]``."""
    values = np.unique(values)
    text = ", ".join(repr(v.item()) for v in values[:limit])
    return f"[{text}{', ...' if values.size > limit else ''}]"


def axis(owner, name, value):
    """``value`` as an int (an axis, negative ones included), or a ``TypeError`` naming ``owner``
    and ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: {name} must be an integer axis, got {value!r}")
    return int(value)


def refused_keywords(name, names):
    """The ``TypeError`` for keywords a function takes on plain arrays but not on tensors, with a
    hint when they are PyTorch's spellings (``dim=``, ``keepdim=``) of NumPy's."""
    hint = "; the names are NumPy's: axis=, keepdims=" if {"dim", "keepdim"} & set(names) else ""
    return TypeError(f"{name}: {', '.join(k + '=' for k in names)} "
                     f"{'is' if len(names) == 1 else 'are'} not supported on tensors{hint}")
