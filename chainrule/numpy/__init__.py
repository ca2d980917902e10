"""Differentiable NumPy: ``import chainrule.numpy as cnp``.

The names, signatures, broadcasting and dtype rules are NumPy's.  On plain arrays every
function returns what NumPy returns; on values traced by a transform (or Tensors of the
object API) it records the operation so that it can be differentiated.  Only the functions
listed here are supported; anything else raises ``AttributeError`` rather than silently
dropping derivatives.
"""

from __future__ import annotations

import numpy as _np

from .. import _core
from . import linalg  # noqa: F401
from ._composites import *  # noqa: F401,F403
from ._constructors import *  # noqa: F401,F403
from ._indexing import getitem, index_update, scatter_add  # noqa: F401
from ._indexing_fns import *  # noqa: F401,F403
from ._nondiff import *  # noqa: F401,F403
from ._products import *  # noqa: F401,F403
from ._reductions import *  # noqa: F401,F403
from ._reductions import sum  # noqa: F401  (named for _core._install below)
from ._shape import *  # noqa: F401,F403
from ._shape import _broadcast_p, _reshape_p
from ._sorting import *  # noqa: F401,F403
from ._ufuncs import *  # noqa: F401,F403

# constants and dtypes, as NumPy spells them
pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, _np.newaxis
float16, float32, float64 = _np.float16, _np.float32, _np.float64
int8, int16, int32, int64, uint8, bool_ = _np.int8, _np.int16, _np.int32, _np.int64, _np.uint8, _np.bool_
ndarray, dtype, finfo, iinfo = _np.ndarray, _np.dtype, _np.finfo, _np.iinfo
random = _np.random

# NumPy 2's (the array API's) names for functions above
concat, permute_dims, pow = concatenate, transpose, power  # noqa: F405
acos, asin, atan, atan2 = arccos, arcsin, arctan, arctan2  # noqa: F405
acosh, asinh, atanh = arccosh, arcsinh, arctanh  # noqa: F405
matrix_transpose = linalg.matrix_transpose

_core._install(sum, _reshape_p, _broadcast_p)
