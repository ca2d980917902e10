"""Layers: the lecture's neuron ``ŷ = f(wᵀx + b)`` and the layers networks are built from.

Inputs have their features on the last axis: a batch is ``(N, in_features)``.  Every layer
checks that count and names itself, the expected and the actual number in its error.
"""

from __future__ import annotations

import numpy as np

from .. import numpy as cnp
from .._checks import axis, real
from .._core import Tensor, _edits, _primal, _shape
from . import functional as F
from .activations import Identity, ReLU, activation_module, activation_name, get_activation, maxout
from .init import as_generator, by_name
from .module import Module, Parameter, Sequential

__all__ = ["Linear", "Neuron", "Maxout", "MLP", "Dropout", "Flatten", "Identity"]

# He initialisation for the rectifiers, Glorot for the saturating and linear activations
_DEFAULT_INIT = {"relu": "he_uniform", "leaky_relu": "he_uniform", "softplus": "he_uniform"}


def _default_init(activation):
    return _DEFAULT_INIT.get(activation_name(activation), "xavier_uniform")


def _dtype_of(v):
    """The dtype of an array or of the array inside a (possibly nested) Tensor; None for lists.
    (Not ``Tensor.dtype``: its ``np.result_type`` costs ~0.3 µs on every layer call.)"""
    return getattr(_primal(v), "dtype", None)


def _in_dtype(x, dtype):
    """``x`` in the parameters' ``dtype``: float64 data must not turn a float32 model's whole step
    into float64 (nor uint8 images into float64).  Only the dtype is looked at when it matches."""
    dt = _dtype_of(x)
    if dt is dtype or dt == dtype or dtype is None:
        return x
    if dt is None:
        x = np.asarray(x)
        dt = x.dtype
    if dt.kind not in "biuf":
        return x
    return cnp.astype(x, dtype) if isinstance(x, Tensor) else x.astype(dtype)


# marks a count of edits as this process's own: a pickle carries the mark to another process
# as a new object, which is not this one
_THIS_PROCESS = object()


def _count(value, layer, what, minimum=1):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{layer}: {what} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _check_features(layer, x, expected):
    tx = type(x)
    if tx is not np.ndarray and tx is not Tensor and (
            tx is tuple or (tx is list and x and isinstance(x[0], (np.ndarray, Tensor)))):
        # (xb,) from a DataLoader would become an array of shape (1, N, F)
        raise TypeError(f"{type(layer).__name__}({layer.extra_repr()}): the input is a "
                        f"{type(x).__name__} of {len(x)}; "
                        "pass an array or a Tensor (a DataLoader yields tuples even for one array: "
                        "unpack them, `for (xb,) in loader` or `for xb, yb in loader`)")
    shape = _shape(x)
    got = shape[-1] if shape else None
    if got != expected:
        raise ValueError(f"{type(layer).__name__}({layer.extra_repr()}): expected {expected} input features "
                         f"(the last axis), got {got} in an input of shape {shape}")


def _float_dtype(dtype, layer):
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"{layer}: dtype must be a floating-point dtype, got {dtype}")
    return dtype


class Linear(Module):
    """``y = x Wᵀ + b`` with ``W`` of shape ``(out_features, in_features)``.

    ``init`` (a name such as ``"he_uniform"`` or a callable ``fn(weight, rng)``) defaults to
    Glorot uniform, right for tanh, logistic and identity outputs; ``MLP`` passes He uniform
    for layers followed by a ReLU.  The bias starts at zero.

    An input of another real dtype (float64 data, integer pixels) is cast to the parameters'
    dtype, so a float32 layer computes, and differentiates, in float32.
    """

    def __init__(self, in_features, out_features, bias=True, *, init=None, rng=None, dtype=np.float64):
        super().__init__()
        self.in_features = _count(in_features, "Linear", "in_features")
        self.out_features = _count(out_features, "Linear", "out_features")
        dtype = _float_dtype(dtype, "Linear")
        rng = as_generator(rng)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype))
        by_name(init or "xavier_uniform", "Linear")(self.weight, rng)
        self.bias = Parameter(np.zeros(self.out_features, dtype)) if bias else None

    def forward(self, x):
        return self._forward(x, None)

    def _forward(self, x, activation):
        _check_features(self, x, self.in_features)
        edits = _edits[0]                                   # read before the parameters are
        weight, bias = self.weight, self.bias
        dtype = _dtype_of(weight)
        if _dtype_of(x) is not dtype:                       # the common case costs this one test
            x = _in_dtype(x, dtype)
        checked = self.__dict__.get("_checked")
        if checked is None or checked[0] != edits or checked[1] is not _THIS_PROCESS:
            # F.linear's checks of the weight and bias, once until a module or a Tensor's .data
            # is assigned (which is how their shapes can change): the layer checks x itself
            F._check_linear(x, weight, bias, activation)
            self.__dict__["_checked"] = (edits, _THIS_PROCESS)
        if activation is None:
            return F._linear_p(x, weight, bias)
        return F._linear_relu_p(x, weight, bias)

    def _fused_with(self, following):
        # Linear then ReLU (exactly these classes, no subclass or instance that replaced forward)
        # is one primitive: one node instead of two, the rectifier in place, one masked cotangent
        if (type(self) is Linear and type(following) is ReLU and "forward" not in self.__dict__
                and "forward" not in following.__dict__):
            return lambda x: self._forward(x, "relu")
        return None

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


_ones_columns = {}


def _ones_column(rows, dtype):
    """A read-only column of ones of shape ``rows + (1,)``, the same array for the same shape (so
    that a recorded step, chainrule.replay, sees a constant rather than an array made afresh)."""
    key = (rows, np.dtype(dtype))
    ones = _ones_columns.get(key)
    if ones is None:
        if len(_ones_columns) >= 16:
            _ones_columns.clear()
        ones = _ones_columns[key] = np.ones(rows + (1,), dtype)
        ones.flags.writeable = False
    return ones


class Neuron(Module):
    """One unit of the lecture: ``ŷ = f(wᵀx + b)``, for ``x`` of shape ``(..., in_features)``.

    ``activation`` names ``f``: ``"identity"``/``"linear"`` gives linear regression,
    ``"logistic"`` logistic regression (``ŷ = P(Y=1 | x, w)``), or ``"tanh"``, ``"relu"``, ...

    With ``bias_feature=True`` there is no separate ``b``: the constant feature 1 is appended
    to ``x`` and the bias is the last entry of ``w`` (shape ``(in_features + 1,)``), exactly as
    in the lecture; the two forms compute the same function.

    ``w`` is initialised with He uniform for rectifiers, Glorot uniform otherwise (fan-out 1);
    the bias (or the bias entry of ``w``) starts at zero, so both forms start from the same
    numbers for the same ``rng``.  An input of another real dtype is cast to the parameters'
    dtype.
    """

    def __init__(self, in_features, activation="logistic", bias_feature=False, rng=None, *, init=None,
                 dtype=np.float64):
        super().__init__()
        self.in_features = _count(in_features, "Neuron", "in_features")
        self.activation = activation
        self._f = get_activation(activation)
        self.bias_feature = bool(bias_feature)
        dtype = _float_dtype(dtype, "Neuron")
        rng = as_generator(rng)
        self.weight = Parameter(np.zeros(self.in_features + self.bias_feature, dtype))
        # the input weights only: the bias entry of a bias-feature neuron stays 0
        by_name(init or _default_init(activation), "Neuron")(self.weight.data[:self.in_features], rng)
        self.bias = None if self.bias_feature else Parameter(np.zeros((), dtype))

    def forward(self, x):
        _check_features(self, x, self.in_features)
        dtype = _dtype_of(self.weight)
        x = _in_dtype(x, dtype)
        if self.bias_feature:
            ones = _ones_column(_shape(x)[:-1], dtype)
            a = cnp.matmul(cnp.concatenate([x, ones], axis=-1), self.weight)      # [x, 1]ᵀ [w, b]
        else:
            a = cnp.matmul(x, self.weight) + self.bias
        return self._f(a)

    def extra_repr(self):
        name = self.activation
        if not isinstance(name, str):
            name = getattr(name, "__name__", "f")
        return f"in_features={self.in_features}, activation={name!r}, bias_feature={self.bias_feature}"


class Maxout(Module):
    """``out_features`` maxout units, each ``max{w₁ᵀx + b₁, ..., w_kᵀx + b_k}`` over ``pieces`` = k.

    The weight has shape ``(out_features · pieces, in_features)``; rows ``j·k ... j·k + k - 1``
    are the pieces of unit ``j``.  Initialised Glorot uniform; biases start at zero.  An input
    of another real dtype is cast to the parameters' dtype.
    """

    def __init__(self, in_features, out_features, pieces=2, bias=True, *, init=None, rng=None,
                 dtype=np.float64):
        super().__init__()
        self.in_features = _count(in_features, "Maxout", "in_features")
        self.out_features = _count(out_features, "Maxout", "out_features")
        self.pieces = _count(pieces, "Maxout", "pieces")
        dtype = _float_dtype(dtype, "Maxout")
        rng = as_generator(rng)
        rows = self.out_features * self.pieces
        self.weight = Parameter(np.empty((rows, self.in_features), dtype))
        by_name(init or "xavier_uniform", "Maxout")(self.weight, rng)
        self.bias = Parameter(np.zeros(rows, dtype)) if bias else None

    def forward(self, x):
        _check_features(self, x, self.in_features)
        a = cnp.matmul(_in_dtype(x, _dtype_of(self.weight)), self.weight.T)
        if self.bias is not None:
            a = a + self.bias
        return maxout(a, self.pieces)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Axes ``start_dim`` to ``end_dim`` (inclusive, PyTorch's names) merged into one: images
    (N, 28, 28) become rows (N, 784) with the defaults."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = axis("Flatten", "start_dim", start_dim)
        self.end_dim = axis("Flatten", "end_dim", end_dim)

    def forward(self, x):
        shape = _shape(x)
        n = len(shape)
        start = self.start_dim + n if self.start_dim < 0 else self.start_dim
        end = self.end_dim + n if self.end_dim < 0 else self.end_dim
        if not 0 <= start <= end < n:
            raise ValueError(f"Flatten({self.extra_repr()}): no axes {self.start_dim}..{self.end_dim} to "
                             f"merge in an input of shape {shape}")
        return cnp.reshape(x, shape[:start] + (-1,) + shape[end + 1:]) if shape[start:end + 1] else x

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Inverted dropout: in training mode each entry is zeroed with probability ``p`` and the
    survivors are scaled by ``1/(1 - p)``, so evaluation mode is the identity.  The masks come
    from ``rng`` (a seed or Generator; kept as the attribute ``rng``), drawn in the activations'
    dtype (float32 activations draw float32 uniforms: half the memory and time)."""

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        self.p = real("Dropout", "p", p)
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.rng = as_generator(rng)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        dtype = np.result_type(_primal(x))
        if dtype.kind != "f":
            dtype = np.dtype(np.float64)
        if self.p == 1.0:
            return cnp.multiply(x, np.zeros((), dtype))
        draw = dtype if dtype in (np.float32, np.float64) else np.float64   # what Generator.random offers
        shape, value = _shape(x), _primal(x)
        if getattr(value, "ndim", 0) > 1 and value.flags.f_contiguous and not value.flags.c_contiguous:
            # a mask in the activations' (Fortran) order: mixing orders makes NumPy's multiply
            # several times slower on large arrays
            mask = self.rng.random(shape[::-1], dtype=draw).T
        else:
            mask = self.rng.random(shape, dtype=draw)
        # the uniforms become the scaled mask in place: 1/(1-p) where kept, else 0
        np.greater_equal(mask, self.p, out=mask, casting="unsafe")
        mask *= 1.0 / (1.0 - self.p)
        return cnp.multiply(x, mask.astype(dtype, copy=False))

    def extra_repr(self):
        return f"p={self.p}"


class MLP(Module):
    """A multilayer perceptron: ``sizes = [784, 256, 128, 10]`` gives Linear 784→256, activation,
    Linear 256→128, activation, Linear 128→10, then ``output_activation`` if given.

    ``activation`` is a name (``"relu"``, ``"tanh"``, ``"logistic"``, ``"leaky_relu"``,
    ``"softplus"``, ``"identity"``), ``"maxout"``, which makes each hidden layer a
    ``Maxout(..., pieces=pieces)``, or any callable ``f(x)`` (as for ``Neuron``; a Module is used
    as is).  Weights start He uniform under rectifiers and Glorot uniform otherwise; the output
    layer by the same rule for ``output_activation`` (Glorot uniform without one).
    ``dropout > 0`` adds a ``Dropout`` after each hidden activation.  The layers are
    ``self.layers`` (a ``Sequential``), so parameters are named ``"layers.0.weight"``, ...  An
    input of another real dtype is cast to the parameters' dtype by the first layer.
    """

    def __init__(self, sizes, activation="relu", output_activation=None, rng=None, *, pieces=2,
                 dropout=0.0, dtype=np.float64):
        super().__init__()
        sizes = [_count(s, "MLP", "every size") for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
        if activation != "maxout":
            activation_module(activation)          # fail early on an unknown name
        self.sizes = sizes
        rng = as_generator(rng)
        layers = []
        for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1], strict=True):
            if activation == "maxout":
                layers.append(Maxout(fan_in, fan_out, pieces, rng=rng, dtype=dtype))
            else:
                layers.append(Linear(fan_in, fan_out, init=_default_init(activation), rng=rng, dtype=dtype))
                layers.append(activation_module(activation))
            if dropout:
                layers.append(Dropout(dropout, rng=rng))
        layers.append(Linear(sizes[-2], sizes[-1], init=_default_init(output_activation), rng=rng,
                             dtype=dtype))
        if output_activation is not None:
            layers.append(activation_module(output_activation))
        self.layers = Sequential(*layers)

    def forward(self, x):
        _check_features(self, x, self.sizes[0])
        return self.layers(x)

    def extra_repr(self):
        return f"sizes={self.sizes}"
