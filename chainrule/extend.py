"""Adding your own differentiable functions: the tools chainrule's own rules are written with.

``primitive`` makes a NumPy function traceable; ``defvjp``/``defjvp`` attach one rule per
argument (``defvjp_joint`` one VJP rule for all of them, when they share work);
``elementwise`` declares a function with a diagonal Jacobian from one rule per argument;
``unbroadcast`` sums a cotangent back to an operand's shape.  See ``docs/internals.md`` for
the conventions (rules use chainrule functions and accept leading batch axes).
"""

from ._core import defjvp, defvjp, defvjp_joint, primitive, unbroadcast
from .numpy._ufuncs import elementwise

__all__ = ["primitive", "defvjp", "defvjp_joint", "defjvp", "elementwise", "unbroadcast"]
