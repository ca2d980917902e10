"""Neural networks: the lecture's neurons, layers, activations, initialisers and losses.

``Module`` and ``Parameter`` hold the learnable arrays (``Sequential``, ``ModuleList`` and
``ModuleDict`` hold sub-modules, ``ParameterList`` and ``ParameterDict`` hold Parameters);
layers (``Linear``, ``Neuron``, ``Maxout``, ``MLP``, ``Dropout``, ...) are Modules;
``chainrule.nn.activations``, ``chainrule.nn.init`` and ``chainrule.nn.losses`` hold the functions.
"""

from __future__ import annotations

from . import activations, init, losses
from .activations import (
                          Identity,
                          LeakyReLU,
                          Logistic,
                          LogSoftmax,
                          ReLU,
                          Sigmoid,
                          Softmax,
                          Softplus,
                          Tanh,
                          get_activation,
)
from .layers import MLP, Dropout, Flatten, Linear, Maxout, Neuron
from .losses import (
                          CrossEntropyLoss,
                          HingeLoss,
                          KLDivLoss,
                          LogLoss,
                          MSELoss,
                          MultiClassHingeLoss,
                          NLLLoss,
                          SquaredHingeLoss,
)
from .module import (
                          Module,
                          ModuleDict,
                          ModuleList,
                          Parameter,
                          ParameterDict,
                          ParameterList,
                          Sequential,
                          functional_call,
)

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
           "functional_call", "Linear", "Neuron", "Maxout", "MLP", "Dropout", "Flatten", "Identity",
           "Sigmoid", "Logistic", "Tanh", "ReLU", "LeakyReLU", "Softplus", "Softmax", "LogSoftmax",
           "get_activation", "MSELoss", "LogLoss", "CrossEntropyLoss", "NLLLoss", "KLDivLoss", "HingeLoss",
           "SquaredHingeLoss", "MultiClassHingeLoss", "activations", "init", "losses"]
