"""The generator behind every ``rng=None`` and ``seed=None``: initial weights, dropout masks and
shuffled orders drawn without a seed of their own."""

from __future__ import annotations

import numpy as np

_seeded = [None]     # the Generator made by manual_seed, or None: fresh entropy for each


def manual_seed(seed):
    """Make what is drawn without ``rng=``/``seed=`` (initial weights, dropout masks, shuffled
    orders) reproducible, as ``torch.manual_seed`` does: each such draw gets a generator spawned
    from one seeded by ``seed``, in the order they are made. ``np.random.seed`` has no effect
    on chainrule, which uses ``numpy.random.Generator`` objects only; an explicit ``rng=`` or
    ``seed=`` still wins. Returns the parent generator."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    _seeded[0] = np.random.default_rng(int(seed))
    return _seeded[0]


def fresh_generator():
    """A new generator: spawned from the one ``manual_seed`` made, or from fresh entropy."""
    parent = _seeded[0]
    return np.random.default_rng() if parent is None else parent.spawn(1)[0]
