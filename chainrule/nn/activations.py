"""Activation functions ``f(a)`` of the lecture's neuron ``ŷ = f(wᵀx)``, as functions and as modules.

All are built from differentiable primitives, so derivatives of every order come for free:

* identity (linear regression), logistic σ (logistic regression), tanh;
* ReLU ``max{0, a}`` with ``relu'(0) = 0``; leaky ReLU; softplus ``log(1 + eᵃ)``, a smooth ReLU;
* maxout ``max{a₁, ..., a_k}`` over groups of ``pieces`` consecutive entries of the last axis.
  ReLU is maxout with one piece fixed at 0: ``relu(a) = max{0, a}``.
"""

from __future__ import annotations

import numpy as np

from .. import numpy as cnp
from .. import special
from .._checks import axis
from .._core import _primal, _shape
from .functional import relu  # a fused primitive: one pass each way
from .module import Module

__all__ = ["identity", "linear", "logistic", "sigmoid", "tanh", "relu", "leaky_relu", "softplus",
           "maxout", "get_activation", "activation_module", "Identity", "Sigmoid", "Logistic", "Tanh",
           "ReLU", "LeakyReLU", "Softplus", "Softmax", "LogSoftmax", "Function", "activation_name"]


def identity(x):
    """``f(a) = a``: a neuron with it is linear regression."""
    return x


linear = identity


def logistic(x):
    """``σ(a) = 1 / (1 + e⁻ᵃ)``, exact for any ``a``: a neuron with it is logistic regression."""
    return special.sigmoid(x)


sigmoid = logistic


def tanh(x):
    """``tanh(a) = (eᵃ - e⁻ᵃ) / (eᵃ + e⁻ᵃ)``: zero-centred, so preferred over σ for hidden units."""
    return cnp.tanh(x)


def leaky_relu(x, negative_slope=0.01):
    """``a`` for ``a > 0``, ``negative_slope · a`` otherwise."""
    return cnp.where(_primal(x) > 0, x, x * negative_slope)


def softplus(x):
    """``log(1 + eᵃ)``, exact for any ``a``; its derivative is ``σ(a)``."""
    return special.softplus(x)


def maxout(x, pieces):
    """The maximum over groups of ``pieces`` consecutive entries of the last axis.

    ``x`` of shape ``(..., k·pieces)`` gives ``(..., k)``.  The derivative flows to the first
    maximal piece of each group (one gather, no per-element Python).
    """
    pieces = int(pieces)
    shape = _shape(x)
    if pieces < 1:
        raise ValueError(f"maxout: pieces must be at least 1, got {pieces}")
    if not shape or shape[-1] % pieces:
        raise ValueError(f"maxout: the last axis of an input of shape {shape} is not a multiple of "
                         f"pieces={pieces}")
    groups = cnp.reshape(x, (-1, pieces))
    winner = np.argmax(np.asarray(_primal(groups)), axis=1)
    picked = groups[np.arange(winner.shape[0]), winner]
    return cnp.reshape(picked, shape[:-1] + (shape[-1] // pieces,))


_FUNCTIONS = {
    "identity": identity, "linear": identity, "logistic": logistic, "sigmoid": logistic,
    "tanh": tanh, "relu": relu, "leaky_relu": leaky_relu, "softplus": softplus,
}


def _not_elementwise(name):
    if name == "maxout":
        raise ValueError("maxout is not an elementwise activation: it is a layer with its own weights "
                         "(k pieces per unit); use nn.Maxout(in_features, out_features, pieces) or "
                         "MLP(..., activation='maxout'), or the function maxout(x, pieces) on "
                         "pre-activations")


def _module_class(activation):
    if isinstance(activation, type) and issubclass(activation, Module):
        raise TypeError(f"activation={activation.__name__} is a Module class; pass an instance, "
                        f"{activation.__name__}(), or a name such as 'relu'")


def get_activation(name):
    """The activation function called ``name`` (``"relu"``, ``"tanh"``, ``"logistic"``, ...);
    a callable is returned as is."""
    _module_class(name)
    if callable(name):
        return name
    _not_elementwise(name)
    try:
        return _FUNCTIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {name!r}; valid names are {sorted(_FUNCTIONS)}") from None


def activation_name(activation):
    """The table name of an activation given as a name, one of this module's functions or modules
    (``relu`` or ``ReLU()`` give ``"relu"``), else ``None``."""
    if isinstance(activation, str):
        return activation
    for name, fn in _FUNCTIONS.items():
        if activation is fn:
            return name
    for name, cls in _MODULES.items():
        if type(activation) is cls:
            return name
    return None


# --------------------------------------------------------------------------- modules

class Identity(Module):
    """Returns its input unchanged."""

    def forward(self, x):
        return x


class Sigmoid(Module):
    """The logistic function σ as a module."""

    def forward(self, x):
        return logistic(x)


Logistic = Sigmoid


class Tanh(Module):
    def forward(self, x):
        return tanh(x)


class ReLU(Module):
    def forward(self, x):
        return relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Softplus(Module):
    def forward(self, x):
        return softplus(x)


class Softmax(Module):
    """``softmax`` along ``dim`` (PyTorch's name for the axis) as a module: rows of
    probabilities. For training, give the logits to ``cross_entropy`` instead, which is exact
    where the probabilities round to 0."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = axis(type(self).__name__, "dim", dim)

    def forward(self, x):
        return special.softmax(x, axis=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """``log softmax`` along ``dim`` as a module: the log-probabilities ``nll_loss`` takes."""

    def forward(self, x):
        return special.log_softmax(x, axis=self.dim)


_MODULES = {
    "identity": Identity, "linear": Identity, "logistic": Sigmoid, "sigmoid": Sigmoid,
    "tanh": Tanh, "relu": ReLU, "leaky_relu": LeakyReLU, "softplus": Softplus,
}


class Function(Module):
    """Any function ``f(x)`` as a module (what ``MLP(activation=f)`` puts between its layers)."""

    def __init__(self, fn):
        super().__init__()
        if not callable(fn):
            raise TypeError(f"Function: expected a callable, got {type(fn).__name__}")
        self.fn = fn

    def forward(self, x):
        return self.fn(x)

    def extra_repr(self):
        return getattr(self.fn, "__name__", repr(self.fn))


def activation_module(name):
    """A new module for the activation called ``name``; a Module instance is returned as is, one
    of this module's functions gives its module (``relu`` gives ``ReLU()``, which a preceding
    ``Linear`` fuses with), and any other callable ``f`` is wrapped in ``Function(f)``."""
    if isinstance(name, Module):
        return name
    _module_class(name)
    if callable(name):
        known = activation_name(name)
        return _MODULES[known]() if known in _MODULES else Function(name)
    _not_elementwise(name)
    try:
        return _MODULES[name]()
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {name!r}; valid names are {sorted(_MODULES)}") from None
