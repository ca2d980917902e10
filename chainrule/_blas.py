"""``axpy`` (``y ← y + αx``) from the BLAS that NumPy itself calls for its matrix products.

NumPy has no fused multiply-add over arrays, so an optimizer's ``w ← w - η g`` costs two passes
and a temporary, on one core. On a small machine that is not the main cost: right after a
matrix product, the BLAS threads still hold parts of ``w`` in their caches, and a pass from the
Python thread that writes ``w`` makes the next product fetch those lines back from another core.
Measured on the 2-core machine of ``bench/train_step.py`` (784 x 256 float32): a product
followed by NumPy's update takes 214 us, the product alone 90 us, the update alone 30 us; the
same product followed by BLAS ``axpy`` takes 109 us, since ``axpy`` runs one pass on the same
threads as the product.

NumPy does not expose ``axpy``, so it is looked up by ``ctypes`` in the OpenBLAS that NumPy's own
wheels ship (``scipy-openblas``), checked once on a small example, and used only there; with any
other BLAS (MKL, Accelerate, a system OpenBLAS) ``axpy`` returns ``False`` and the caller takes
NumPy's two passes. SciPy's ``scipy.linalg.blas.saxpy`` is no substitute: it is a second
OpenBLAS with a second pool of threads, and two pools spinning on two cores are 50x slower.
"""

from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

AXPY_MIN = 16384      # entries: below this NumPy's two passes beat the foreign call (~2 us)

_funcs = None         # {dtype: foreign function}, filled on first use; {} where unavailable
_max_n = 2 ** 63 - 1  # the longest array the library's integers can count (2**31 - 1 for LP64)


def _numpy_openblas():
    """NumPy's bundled OpenBLAS as ``(library, integer type)``, or ``None``."""
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
    except (AttributeError, KeyError, TypeError):
        return None
    if blas.get("name") != "scipy-openblas":
        return None
    root = os.path.dirname(np.__file__)
    candidates = (glob.glob(os.path.join(root + ".libs", "*scipy_openblas*"))          # Linux, Windows
                  + glob.glob(os.path.join(root, ".dylibs", "*scipy_openblas*")))      # macOS
    if len(candidates) != 1:
        return None
    ilp64 = "USE64BITINT" in str(blas.get("openblas configuration", ""))
    try:
        return ctypes.CDLL(candidates[0]), ilp64
    except OSError:
        return None


def _load():
    global _max_n
    found = _numpy_openblas()
    if found is None:
        return {}
    lib, ilp64 = found
    _max_n = 2 ** 63 - 1 if ilp64 else 2 ** 31 - 1
    suffix, int_t = ("64_", ctypes.c_int64) if ilp64 else ("", ctypes.c_int32)
    funcs = {}
    for dtype, letter, scalar in ((np.float32, "s", ctypes.c_float), (np.float64, "d", ctypes.c_double)):
        f = getattr(lib, f"scipy_cblas_{letter}axpy{suffix}", None)
        if f is None:
            return {}
        f.argtypes = [int_t, scalar, ctypes.c_void_p, int_t, ctypes.c_void_p, int_t]
        f.restype = None
        x, y = np.arange(5, dtype=dtype), np.ones(5, dtype)     # a check of the signature
        f(5, 2.0, x.ctypes.data, 1, y.ctypes.data, 1)
        if not np.array_equal(y, 1 + 2 * np.arange(5, dtype=dtype)):
            return {}
        funcs[np.dtype(dtype)] = f
    return funcs


def axpy(alpha, x, y):
    """``y ← y + alpha·x`` in place, for contiguous float32 or float64 arrays of one shape and
    dtype with at least ``AXPY_MIN`` entries. Returns whether it did the update: ``False``
    leaves ``y`` untouched, for the caller to update with NumPy.

    ``alpha = 0`` is declined: BLAS then returns at once, where ``y + 0·x`` is NaN wherever
    ``x`` is NaN or infinite (a learning rate warming up from 0 must still show a NaN gradient)."""
    global _funcs
    if (type(x) is not np.ndarray or type(y) is not np.ndarray or x.size < AXPY_MIN
            or x.dtype != y.dtype or x.shape != y.shape or not y.flags.writeable
            or not (x.flags.c_contiguous and y.flags.c_contiguous) or np.may_share_memory(x, y)
            or alpha == 0):
        return False
    if _funcs is None:
        _funcs = _load()
    f = _funcs.get(x.dtype)
    if f is None or x.size > _max_n:
        return False
    f(x.size, float(alpha), _address(x), 1, _address(y), 1)
    return True


def _address(a):
    """The address of a contiguous array's first entry. ``a.ctypes.data`` builds a helper object
    each time (0.7 us, twice per update); a writable array's buffer gives it for a third."""
    if a.flags.writeable:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))
    return a.ctypes.data
