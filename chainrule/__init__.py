"""chainrule: the chain rule, run for real on NumPy code.

* ``chainrule.numpy`` — differentiable NumPy (``import chainrule.numpy as cnp``);
* ``grad``, ``value_and_grad``, ``vjp``, ``jvp``, ``jacobian``, ``jacobian_matrix``,
  ``hessian``, ``hvp`` — the functional transforms, nestable to any order;
* ``Tensor``, ``tensor``, ``no_grad`` — the object API (``loss.backward()``);
* ``gradcheck`` — derivatives against central finite differences.
"""

from __future__ import annotations

from . import (  # noqa: F401
                         _tensor_methods,  # noqa: F401  (operators and methods of Tensor)
                         extend,
                         numpy,  # noqa: F401  (installs the rules the engine needs)
                         special,
)
from ._core import Tensor, enable_grad, is_grad_enabled, no_grad
from ._tensor_methods import tensor
from .checkpoint import load, save
from .explain import explain
from .gradcheck import GradcheckError, gradcheck
from .transforms import (
                         grad,
                         hessian,
                         hvp,
                         jacfwd,
                         jacobian,
                         jacobian_matrix,
                         jacrev,
                         jvp,
                         value_and_grad,
                         vjp,
)

__version__ = "0.1.0"

__all__ = ["Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "grad",
           "value_and_grad", "vjp", "jvp", "jacobian", "jacfwd", "jacrev", "jacobian_matrix",
           "hessian", "hvp", "gradcheck", "GradcheckError", "numpy", "special", "save", "load", "explain"]
