"""Adding your own differentiable functions: the tools chainrule's own rules are written with.

``primitive`` makes a NumPy function traceable; ``defvjp``/``defjvp`` attach one rule per
argument (``defvjp_joint`` one VJP rule for all of them, when they share work);
``elementwise`` declares a function with a diagonal Jacobian from one rule per argument;
``unbroadcast`` sums a cotangent back to an operand's shape.  See ``docs/internals.md`` for
the conventions (rules use chainrule functions and accept leading batch axes).
"""

import functools

from . import _core
from ._core import defjvp, defvjp, defvjp_joint, unbroadcast
from .numpy import _ufuncs

__all__ = ["primitive", "defvjp", "defvjp_joint", "defjvp", "elementwise", "unbroadcast"]


def _checked(make):
    """``make`` (the library's own ``primitive`` or ``elementwise``) for a user's function: the
    engine checks the shapes its rules return, and names the primitive when one is wrong."""
    @functools.wraps(make)
    def wrapper(*args, **kwargs):
        fn = make(*args, **kwargs)
        fn.prim.checked = True
        return fn
    return wrapper


primitive = _checked(_core.primitive)
elementwise = _checked(_ufuncs.elementwise)
