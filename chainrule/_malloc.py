"""Let glibc reuse freed array memory instead of handing it back to the kernel at once.

Every operation allocates a fresh output array. By default glibc serves large requests with
``mmap`` and trims freed memory back to the kernel, so in a training loop each step's arrays
of a few MB arrive as new pages: a page fault per 4 KiB on first touch, which cost a third of
the step time of an MLP at batch 2048 (``bench/train_step.py``). Raising the mmap and trim
thresholds keeps that memory in the process, where the next step's identical requests find it.
Peak memory is unchanged; freed memory is returned to the kernel once more than
``TRIM_THRESHOLD`` of it piles up.

Applied once, at import, on glibc only. ``CHAINRULE_MALLOC_TUNING=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

MMAP_THRESHOLD = 32 * 2**20      # arrays below this size come from the reusable heap
TRIM_THRESHOLD = 128 * 2**20     # free memory kept for reuse before giving it back

_M_TRIM_THRESHOLD = -1           # mallopt parameter numbers (glibc's malloc.h)
_M_MMAP_THRESHOLD = -3


def tune():
    """Apply the thresholds; returns True if glibc accepted them."""
    if os.environ.get("CHAINRULE_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):           # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    return bool(ok and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


tuned = tune()
