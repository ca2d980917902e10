"""Functions with no derivative to speak of (integer, boolean or piecewise-constant results).

They accept traced values, strip the tracing and return plain NumPy results, so that code
such as ``cnp.argmax(logits, axis=1)`` runs unchanged inside a transform.
"""

from __future__ import annotations

import numpy as np

from .._core import Tensor, _primal

_NAMES = """
shape ndim size result_type can_cast iscomplexobj isrealobj isscalar
argmax argmin argsort argwhere nonzero flatnonzero count_nonzero searchsorted digitize
unique bincount histogram lexsort nanargmax nanargmin
equal not_equal less less_equal greater greater_equal
isfinite isinf isnan isneginf isposinf isclose allclose array_equal array_equiv
logical_and logical_or logical_not logical_xor all any signbit
floor ceil trunc rint round around fix floor_divide
zeros_like ones_like empty_like
bitwise_and bitwise_or bitwise_xor invert left_shift right_shift
iscomplex isreal heaviside
""".split()


def _strip(x):
    if isinstance(x, Tensor):
        return _primal(x)
    if type(x) in (list, tuple):
        return type(x)(_strip(v) for v in x)
    return x


def _make(name):
    np_fn = getattr(np, name)

    def fn(*args, **kwargs):
        return np_fn(*[_strip(a) for a in args], **{k: _strip(v) for k, v in kwargs.items()})

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``numpy.{name}`` on the values of traced arrays (not differentiable)."
    return fn


for _name in _NAMES:
    globals()[_name] = _make(_name)

__all__ = list(_NAMES)
