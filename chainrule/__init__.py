"""chainrule: the chain rule, run for real on NumPy code.

* ``chainrule.numpy`` — differentiable NumPy (``import chainrule.numpy as cnp``);
* ``grad``, ``value_and_grad``, ``vjp``, ``jvp``, ``jacobian``, ``jacobian_matrix``,
  ``hessian``, ``hvp`` — the functional transforms, nestable to any order;
* ``Tensor``, ``tensor``, ``no_grad`` — the object API (``loss.backward()``), with
  ``autograd.grad`` and ``create_graph=True`` for higher derivatives as in PyTorch;
* ``gradcheck`` — derivatives against central finite differences.
"""

from __future__ import annotations

# the order matters: _malloc first (it tunes the allocator before arrays are made), numpy
# before everything that uses its rules, _tensor_methods to give Tensor its operators
from . import _malloc  # noqa: F401  # isort: skip  (reuses freed array memory: see its docstring)
from . import numpy  # noqa: F401  # isort: skip  (installs the rules the engine needs)
from . import _tensor_methods, extend, special  # noqa: F401  # isort: skip
from ._core import Tensor, enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # isort: skip
from ._random import manual_seed  # isort: skip
from ._tensor_methods import tensor  # isort: skip
from .checkpoint import load, save  # isort: skip
from . import explain  # isort: skip  (a callable module: chainrule.explain(f, x))
from . import autograd  # isort: skip  (torch.autograd's grad and backward)
from .gradcheck import GradcheckError, gradcheck  # isort: skip
from .transforms import (grad, hessian, hvp, jacfwd, jacobian, jacobian_matrix,  # isort: skip
                         jacrev, jvp, value_and_grad, vjp)

__version__ = "0.1.0"

__all__ = ["Tensor", "tensor", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "grad",
           "value_and_grad", "vjp", "jvp", "jacobian", "jacfwd", "jacrev", "jacobian_matrix",
           "hessian", "hvp", "gradcheck", "GradcheckError", "numpy", "special", "extend", "save",
           "load", "explain", "autograd", "manual_seed"]

# the larger subpackages load on first use: `import chainrule as cr; cr.nn.Linear` works, and a
# script that only differentiates NumPy code does not import them
_LAZY = ("nn", "optim", "data", "sklearn", "viz", "replay", "metrics", "train", "experiments")


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
