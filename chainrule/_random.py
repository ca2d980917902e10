"""The generator behind every ``rng=None`` and ``seed=None``: initial weights, dropout masks and
shuffled orders drawn without a generator of their own, as PyTorch's default generator."""

from __future__ import annotations

import numpy as np

_DEFAULT = np.random.default_rng()     # fresh entropy until manual_seed resets it


def manual_seed(seed):
    """Reset the generator that everything drawn without ``rng=``/``seed=`` shares (initial
    weights, dropout masks, shuffled orders), as ``torch.manual_seed`` does: the draws after
    ``manual_seed(s)`` are the same at every run, and calling it again with ``s`` repeats them,
    also for layers and loaders made before. ``np.random.seed`` has no effect on chainrule, which
    draws from ``numpy.random.Generator`` objects only; an explicit ``rng=`` or ``seed=`` keeps
    its own generator. Returns the shared generator."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    _DEFAULT.bit_generator.state = np.random.default_rng(int(seed)).bit_generator.state
    return _DEFAULT


def default_generator():
    """The generator shared by everything drawn without a generator of its own."""
    return _DEFAULT
