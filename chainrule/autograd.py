"""PyTorch's ``torch.autograd`` functions for the object API.

``grad(outputs, inputs)`` returns ``∂outputs/∂inputs`` (contracted with ``grad_outputs``)
without touching any ``.grad``; ``backward(tensors)`` is ``Tensor.backward`` for several
outputs at once. With ``create_graph=True`` the backward pass is itself recorded, so its
results can be differentiated again: a gradient penalty, a Hessian-vector product::

    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    (g,) = autograd.grad((x ** 3).sum(), x, create_graph=True)     # 3x², a Tensor
    (h,) = autograd.grad(g.sum(), x)                                # 6x

The functional transforms (``chainrule.grad``, ``hessian``, ...) do the same for functions.
"""

from __future__ import annotations

import numpy as np

from ._core import Tensor, _input_nodes, _roots, _walk, run_backward
from .transforms import _like, _unshared

__all__ = ["grad", "backward"]


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """The gradients of ``outputs`` (a Tensor or a sequence) with respect to ``inputs`` (a
    Tensor or a sequence: leaves or intermediate results), as a tuple with one entry per input.

    ``grad_outputs`` holds the cotangent of each output (needed for outputs that are not
    scalars). Without ``create_graph`` the gradients are arrays the caller owns; with it they
    are Tensors recorded in the graph. An input the outputs do not depend on is an error,
    unless ``allow_unused=True`` (its entry is then None) or ``materialize_grads=True`` (zeros).
    ``retain_graph`` defaults to ``create_graph``, as in PyTorch."""
    where = "autograd.grad"
    inputs = _as_tuple(inputs)
    if not inputs:
        raise ValueError(f"{where}: no inputs to differentiate with respect to")
    roots, seeds = _roots(_as_tuple(outputs), None if grad_outputs is None else _as_tuple(grad_outputs),
                          where, "grad_outputs", create_graph)
    leaves = _walk(roots, seeds, retain_graph, create_graph, _input_nodes(inputs, where))
    results = []
    for k, t in enumerate(inputs):
        g = leaves.get(t._node)
        if g is None:
            if materialize_grads:
                g = np.zeros_like(t._value)
            elif not allow_unused:
                raise RuntimeError(
                    f"{where}: inputs[{k}] (shape {t.shape}) was not used to compute the outputs; "
                    "pass allow_unused=True to get None for it, or materialize_grads=True for zeros")
        results.append(None if g is None else _like(g, t._value))
    results = _unshared(results, list(seeds))
    if create_graph:     # gradients that depend on nothing are constants, still Tensors
        results = [g if g is None or isinstance(g, Tensor) else Tensor._make(g, None, None, None)
                   for g in results]
    return tuple(results)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """``Tensor.backward`` of several outputs together: the sum of their gradients (each
    contracted with its entry of ``grad_tensors``) is accumulated into the leaves' ``.grad``."""
    run_backward(_as_tuple(tensors), None if grad_tensors is None else _as_tuple(grad_tensors), retain_graph,
                 create_graph, inputs, "autograd.backward", "grad_tensors")


def _as_tuple(x):
    """One Tensor (or array) as a 1-tuple; a list, tuple or generator (``model.parameters()``)
    as a tuple."""
    if isinstance(x, (Tensor, np.ndarray)):
        return (x,)
    try:
        return tuple(x)
    except TypeError:
        return (x,)
