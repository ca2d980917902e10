"""Pytrees: nested tuples, lists and dicts of arrays, flattened to a list of leaves and back."""

from __future__ import annotations

_CONTAINERS = (tuple, list, dict)


def tree_flatten(tree):
    """Return ``(leaves, treedef)``; ``None`` is an empty subtree, as in JAX."""
    leaves = []
    treedef = _flatten(tree, leaves)
    return leaves, treedef


def _flatten(tree, leaves):
    if tree is None:
        return None
    kind = type(tree)
    if kind is tuple or kind is list:
        return (kind, tuple(_flatten(t, leaves) for t in tree))
    if kind is dict:
        keys = sorted(tree)
        return (dict, tuple(keys), tuple(_flatten(tree[k], leaves) for k in keys))
    leaves.append(tree)
    return "*"


def tree_unflatten(treedef, leaves):
    it = iter(leaves)
    out = _unflatten(treedef, it)
    return out


def _unflatten(treedef, it):
    if treedef is None:
        return None
    if treedef == "*":
        return next(it)
    if treedef[0] is dict:
        _, keys, children = treedef
        return {k: _unflatten(c, it) for k, c in zip(keys, children)}
    kind, children = treedef
    return kind(_unflatten(c, it) for c in children)


def tree_map(fn, tree, *rest):
    leaves, treedef = tree_flatten(tree)
    others = [tree_flatten(r)[0] for r in rest]
    return tree_unflatten(treedef, [fn(*xs) for xs in zip(leaves, *others)])


def is_leaf_treedef(treedef):
    return treedef == "*"
