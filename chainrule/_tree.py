"""Pytrees: nested tuples, lists and dicts of arrays, flattened to a list of leaves and back.

As in JAX, namedtuples keep their type and field order, ``OrderedDict`` its insertion order,
``defaultdict`` its default factory; a plain dict's keys are sorted.  Anything else is a leaf.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict

_NAMEDTUPLE = "namedtuple"


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
    if kind is dict or kind is OrderedDict or kind is defaultdict:
        keys = list(tree) if kind is OrderedDict else sorted(tree)
        children = tuple(_flatten(tree[k], leaves) for k in keys)
        if kind is defaultdict:
            return (defaultdict, tree.default_factory, tuple(keys), children)
        return (kind, tuple(keys), children)
    if isinstance(tree, tuple) and hasattr(kind, "_fields"):       # a namedtuple
        return (_NAMEDTUPLE, kind, tuple(_flatten(t, leaves) for t in tree))
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
    kind = treedef[0]
    if kind is dict or kind is OrderedDict:
        _, keys, children = treedef
        return kind((k, _unflatten(c, it)) for k, c in zip(keys, children))
    if kind is defaultdict:
        _, factory, keys, children = treedef
        return defaultdict(factory, ((k, _unflatten(c, it)) for k, c in zip(keys, children)))
    if kind == _NAMEDTUPLE:
        _, cls, children = treedef
        return cls(*(_unflatten(c, it) for c in children))
    _, children = treedef
    return kind(_unflatten(c, it) for c in children)


def tree_map(fn, tree, *rest):
    leaves, treedef = tree_flatten(tree)
    others = [tree_flatten(r)[0] for r in rest]
    return tree_unflatten(treedef, [fn(*xs) for xs in zip(leaves, *others)])


def is_leaf_treedef(treedef):
    return treedef == "*"
