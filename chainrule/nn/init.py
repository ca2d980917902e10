"""Initialisers: fill a ``Parameter`` (or an ndarray) in place and return it.

Random ones take ``rng``: an int seed, a ``numpy.random.Generator``, or ``None`` for fresh
operating-system entropy.  The scale rules keep the variance of activations roughly constant
from layer to layer:

* Glorot/Xavier (tanh, logistic, identity): ``Var(w) = gain² · 2 / (fan_in + fan_out)``;
* He/Kaiming (ReLU and kin): ``Var(w) = gain² / fan``, ``gain² = 2 / (1 + a²)`` for a leaky
  slope ``a``.

For a weight of shape ``(out_features, in_features)`` ``fan_in = in_features`` and
``fan_out = out_features``; a neuron's weight vector ``(in_features,)`` has ``fan_out = 1``.
"""

from __future__ import annotations

import math

import numpy as np

from .._core import Tensor, _shape, no_grad
from .._random import default_generator

__all__ = ["as_generator", "calculate_gain", "zeros_", "ones_", "constant_", "normal_", "uniform_",
           "xavier_uniform_", "xavier_normal_", "glorot_uniform_", "glorot_normal_",
           "kaiming_uniform_", "kaiming_normal_", "he_uniform_", "he_normal_", "by_name"]


def as_generator(rng):
    """A ``numpy.random.Generator`` from a seed, a Generator (returned as is) or ``None`` (the
    generator shared by everything unseeded, which ``chainrule.manual_seed`` resets)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return default_generator()
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be an int seed, a numpy.random.Generator or None, got {type(rng).__name__}")


def calculate_gain(nonlinearity, param=None):
    """The factor by which an activation shrinks the standard deviation, as in PyTorch."""
    if nonlinearity in ("linear", "identity", "logistic", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope * slope))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; expected one of "
                     "'linear', 'identity', 'logistic', 'sigmoid', 'tanh', 'relu', 'leaky_relu'")


def _fans(tensor, name):
    shape = _shape(tensor)
    if len(shape) == 0:
        raise ValueError(f"{name}: fan-in and fan-out are undefined for a 0-d array")
    if len(shape) == 1:
        return shape[0], 1
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fill(tensor, values):
    if isinstance(tensor, Tensor):
        with no_grad():
            tensor.copy_(values)
    else:
        np.copyto(tensor, values, casting="same_kind")
    return tensor


def zeros_(tensor):
    return _fill(tensor, 0.0)


def ones_(tensor):
    return _fill(tensor, 1.0)


def constant_(tensor, value):
    return _fill(tensor, float(value))


def normal_(tensor, mean=0.0, std=1.0, *, rng=None):
    """Fill with draws from N(mean, std²)."""
    return _fill(tensor, as_generator(rng).normal(mean, std, _shape(tensor)))


def uniform_(tensor, a=0.0, b=1.0, *, rng=None):
    """Fill with draws from U(a, b)."""
    return _fill(tensor, as_generator(rng).uniform(a, b, _shape(tensor)))


def xavier_uniform_(tensor, gain=1.0, *, rng=None):
    """U(-b, b) with ``b = gain·√(6 / (fan_in + fan_out))`` (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _fans(tensor, "xavier_uniform_")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, rng=rng)


def xavier_normal_(tensor, gain=1.0, *, rng=None):
    """N(0, σ²) with ``σ = gain·√(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(tensor, "xavier_normal_")
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng=rng)


def _kaiming_std(tensor, a, mode, nonlinearity, name):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{name}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor, name)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, rng=None):
    """U(-b, b) with ``b = √3·gain/√fan`` (He et al., 2015), as in PyTorch.

    ``gain = √(2 / (1 + a²))`` for the default ``nonlinearity="leaky_relu"`` with negative slope
    ``a``; ``a = 0`` (the default) gives He's ``√2`` for ReLU.  Another ``nonlinearity`` takes
    its own gain (``calculate_gain``) and ignores ``a``.
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    return uniform_(tensor, -math.sqrt(3.0) * std, math.sqrt(3.0) * std, rng=rng)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, rng=None):
    """N(0, σ²) with ``σ = gain/√fan`` (He et al., 2015); ``a`` and ``nonlinearity`` as in
    :func:`kaiming_uniform_`."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_"), rng=rng)


glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_
he_uniform_ = kaiming_uniform_
he_normal_ = kaiming_normal_

_BY_NAME = {
    "zeros": lambda t, rng: zeros_(t),
    "normal": lambda t, rng: normal_(t, 0.0, 0.01, rng=rng),
    "uniform": lambda t, rng: uniform_(t, -0.05, 0.05, rng=rng),
    "xavier_uniform": lambda t, rng: xavier_uniform_(t, rng=rng),
    "glorot_uniform": lambda t, rng: xavier_uniform_(t, rng=rng),
    "xavier_normal": lambda t, rng: xavier_normal_(t, rng=rng),
    "glorot_normal": lambda t, rng: xavier_normal_(t, rng=rng),
    "kaiming_uniform": lambda t, rng: kaiming_uniform_(t, rng=rng),
    "he_uniform": lambda t, rng: kaiming_uniform_(t, rng=rng),
    "kaiming_normal": lambda t, rng: kaiming_normal_(t, rng=rng),
    "he_normal": lambda t, rng: kaiming_normal_(t, rng=rng),
}


def by_name(init, layer):
    """An initialiser ``fn(tensor, rng)`` from a name (``"he_uniform"``, ...) or a callable."""
    if callable(init):
        return init
    try:
        return _BY_NAME[init]
    except (KeyError, TypeError):
        raise ValueError(f"{layer}: unknown init {init!r}; expected a callable fn(weight, rng) or one "
                         f"of {sorted(_BY_NAME)}") from None
