"""The engine: traced values, primitives with their derivative rules, and the two walks.

A *trace* is one differentiation in progress.  Each call of a transform (``grad``, ``vjp``,
``jvp``, ...) opens a new trace with a higher level than every trace already open, so
transforms nest: a value traced at level 2 wraps a value traced at level 1, which wraps an
``ndarray``.  The object API (``Tensor.backward()``) is the reverse trace at level 0 that is
always open.

A *primitive* is a NumPy function together with its derivative rules, one per argument:

* ``vjp`` rules map the output cotangent ``g`` to the argument's cotangent (reverse mode,
  ``g · ∂out/∂x`` in the lecture's row-vector layout);
* ``jvp`` rules map the argument's tangent ``t`` to the output's tangent (forward mode,
  ``∂out/∂x · t``).

Rules are written with chainrule's own differentiable functions, so derivatives of any order
need nothing more.  Cotangents and tangents may carry extra *leading* batch dimensions (that
is how a whole Jacobian is pushed through one pass); rules are written so that leading
dimensions pass through, and primitives that broadcast have their cotangents summed back to
the operand's shape in one place, :func:`unbroadcast`.
"""

from __future__ import annotations

import dis
import functools
import heapq
import inspect
import itertools
import math
import threading
import types
import weakref

import numpy as np

__all__ = ["Tensor", "primitive", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]

_seq = itertools.count()          # creation order of nodes: parents are always older
_levels = itertools.count(1)      # level 0 is the object API's trace


# --------------------------------------------------------------------------- primitives

class Primitive:
    """A differentiable function: forward implementation and one VJP/JVP rule per argument.

    Instead of per-argument VJP rules a primitive may have one ``vjp_joint`` rule that returns
    the cotangents of all the arguments asked for at once, for when they share work (a masked
    cotangent, say) that separate rules would each redo.
    """

    __slots__ = ("name", "impl", "vjps", "vjp_joint", "jvps", "broadcasts", "multiple", "view",
                 "fresh_vjp", "checked", "shape_only", "__weakref__")

    def __init__(self, name, impl, broadcasts=False, multiple=False):
        self.name = name
        self.impl = impl
        self.vjps = {}
        self.vjp_joint = None
        self.jvps = {}
        self.broadcasts = broadcasts
        self.multiple = multiple
        self.view = False             # the output may share memory with the first input
        self.fresh_vjp = False        # every cotangent its VJP returns is a new array (see owns)
        self.checked = False          # check the shapes its rules return (a user's primitive)
        self.shape_only = ()          # arguments whose rules read the shape only, not the values

    def __repr__(self):
        return f"<primitive {self.name}>"


def primitive(impl, name=None, broadcasts=False, multiple=False):
    """Make ``impl`` (a function of arrays plus static keyword arguments) differentiable.

    Returns the public function.  Called on plain arrays it is ``impl`` itself, with one
    ``isinstance`` scan of the positional arguments as its only overhead.
    """
    if multiple and broadcasts:
        raise ValueError(f"primitive {name or impl.__name__}: multiple=True with broadcasts=True is not "
                         "supported; broadcast the arguments before the call (cnp.broadcast_to)")
    prim = Primitive(name or impl.__name__, impl, broadcasts, multiple)

    def fn(*args, **kw):
        if kw:
            _static_keywords(prim, kw)
        for a in args:
            if isinstance(a, Tensor):
                return _bind(prim, fn, args, kw)
        return impl(*args, **kw)

    fn.__name__ = fn.__qualname__ = prim.name
    fn.__doc__ = impl.__doc__
    fn.prim = prim
    return fn


def _static_keywords(prim, kw):
    """Keyword arguments are static: a traced value among them would be neither differentiated
    nor seen by the trace."""
    for k, v in kw.items():
        if isinstance(v, Tensor) and v._trace is not None:
            raise TypeError(f"{prim.name}: the keyword argument {k}= is a traced value, but keyword "
                            "arguments of a primitive are static (not differentiated); pass it "
                            "positionally")


def defvjp(fn, *rules, argnums=None):
    """Register VJP rules ``rule(g, ans, *args, **kw) -> cotangent of that argument``."""
    prim = fn.prim
    for i, rule in zip(argnums or range(len(rules)), rules):
        if rule is not None:
            prim.vjps[i] = rule


def defvjp_joint(fn, rule):
    """Register one VJP rule for all arguments: ``rule(g, ans, needed, *args, **kw)`` returns a
    sequence with the cotangent (or None) of each argument index in ``needed``, in that order."""
    fn.prim.vjp_joint = rule


def defjvp(fn, *rules, argnums=None):
    """Register JVP rules ``rule(t, ans, *args, **kw) -> tangent contribution of the output``."""
    prim = fn.prim
    for i, rule in zip(argnums or range(len(rules)), rules):
        if rule is not None:
            prim.jvps[i] = rule


# --------------------------------------------------------------------------- grad mode

class _GradMode(threading.local):
    enabled = True                # per thread, as in PyTorch
    recorder = None               # a list collecting host calls while a step is recorded


_grad_mode = _GradMode()
_thread_id = threading.get_ident


class no_grad:
    """Context manager (and decorator) that stops the object API from recording."""

    _state = False

    def __new__(cls, func=None):
        # @no_grad, without parentheses, decorates func as @no_grad() does (as in PyTorch)
        if func is None:
            return super().__new__(cls)
        if not callable(func):
            raise TypeError(f"{cls.__name__}: expected a function to decorate, got {type(func).__name__}")
        return cls()(func)

    def __init__(self, func=None):
        # the modes to restore, per thread: one instance may be entered again while active, and
        # by several threads at once (each restores its own mode); each block restores its own
        # even when blocks end out of order (generators). A dict, not a threading.local: an
        # optimizer's step makes one every time (0.6 against 1.05 us to make, enter and leave)
        self._saved = {}

    def __enter__(self):
        self._saved.setdefault(_thread_id(), []).append(_grad_mode.enabled)
        _grad_mode.enabled = self._state

    def __exit__(self, *exc):
        thread = _thread_id()
        stack = self._saved[thread]
        _grad_mode.enabled = stack.pop()
        if not stack:
            del self._saved[thread]

    def __call__(self, func):
        def wrapper(*args, **kwargs):
            with self.__class__():
                return func(*args, **kwargs)
        wrapper.__name__ = func.__name__
        wrapper.__doc__ = func.__doc__
        return wrapper


class enable_grad(no_grad):
    """Context manager that turns recording back on inside ``no_grad``."""

    _state = True


class set_grad_enabled(no_grad):
    """PyTorch's ``set_grad_enabled(mode)``: turns recording on or off for this thread at once,
    as a call; as a context manager (or decorator) it restores the mode it found on exit."""

    def __new__(cls, mode):
        return object.__new__(cls)

    def __init__(self, mode):
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"set_grad_enabled: mode must be True or False, got {mode!r}")
        super().__init__()
        self._state = bool(mode)
        self._before = _grad_mode.enabled
        _grad_mode.enabled = self._state          # a plain call takes effect now

    def __enter__(self):
        self._saved.setdefault(_thread_id(), []).append(self._before)
        _grad_mode.enabled = self._state

    def __call__(self, func):
        _grad_mode.enabled = self._before         # decorating changes nothing until called
        state = self._state

        def wrapper(*args, **kwargs):
            with set_grad_enabled(state):
                return func(*args, **kwargs)
        wrapper.__name__ = func.__name__
        wrapper.__doc__ = func.__doc__
        return wrapper


def is_grad_enabled():
    return _grad_mode.enabled


# Changes that a recorded training step (chainrule.replay) cannot see in its graph, counted:
# assignments to any module's attributes, train()/eval(), a Tensor's .data or requires_grad
_edits = [0]


def host(fn):
    """Mark ``fn``, a NumPy-side check or conversion of data that feeds the graph (class labels,
    say), so that a recorded training step runs it again on each new batch when it is replayed
    (:class:`chainrule.replay.TrainStep`).  Outside a recording the only cost is one test.

    Only for functions whose result nobody writes to afterwards: a replay makes the result
    again but not the writes (so not ``zeros``, whose result is often filled in place)."""
    @functools.wraps(fn)
    def wrapper(*args, **kw):
        recorder = _grad_mode.recorder
        if recorder is None:
            return fn(*args, **kw)
        _grad_mode.recorder = None            # calls made inside fn are part of fn
        try:
            out = fn(*args, **kw)
        finally:
            _grad_mode.recorder = recorder
        recorder.append((next(_seq), fn, args, kw, out))
        return out

    return wrapper


# --------------------------------------------------------------------------- traces

class Node:
    """One recorded operation of a reverse trace (or a leaf, with ``prim`` None)."""

    __slots__ = ("prim", "vals", "kw", "ans", "parents", "seq", "leaf", "saved")

    def __init__(self, prim, vals, kw, ans, parents, saved=None):
        self.prim = prim
        self.vals = vals
        self.kw = kw
        self.ans = ans
        self.parents = parents
        self.saved = saved
        self.seq = next(_seq)
        self.leaf = None


class _Freed:
    pass


_FREED = _Freed()


class ReverseTrace:
    __slots__ = ("level", "alive")
    mode = "rev"

    def __init__(self, level=None):
        self.level = next(_levels) if level is None else level
        self.alive = True

    def leaf(self, value):
        node = Node(None, None, None, value, ())
        return Tensor._make(value, self, node, None)

    def process(self, prim, fn, args, kw):
        vals = list(args)
        parents = []
        # the object API checks in-place changes; a view's rules read only its base's shape
        saved = [] if self.level == 0 and not prim.view else None
        outer = False                               # values traced by enclosing transforms
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                trace = a._trace
                if trace is self:
                    v = vals[i] = a._value
                    parents.append((i, a._node))
                    if saved is not None:
                        cell = a._version                # version_cell(a), inlined: the hot path
                        if cell is None:
                            cell = a._version = [0]
                        saved.append((cell, cell[0], i))
                    if not outer and isinstance(v, Tensor):
                        outer = True
                elif trace is None:
                    vals[i] = a._value
                    if saved is not None:
                        cell = a._version
                        if cell is None:
                            cell = a._version = [0]
                        saved.append((cell, cell[0], i))
                else:
                    outer = True
        ans = fn(*vals, **kw) if outer else prim.impl(*vals, **kw)
        if isinstance(ans, np.generic):             # a 0-d result as a 0-d array, as untraced
            ans = np.asarray(ans)
        node = Node(prim, vals, kw, ans, parents, saved)
        if prim.multiple:
            outs = _projections(node, self)
            if self.level == 0:
                for out in outs:
                    _watch_output(out, prim, args, saved)
            return outs
        out = Tensor._make(ans, self, node, None)
        if self.level == 0:
            _watch_output(out, prim, args, saved)
        return out


def _projections(node, trace):
    """The outputs of a multi-output ``node`` as Tensors of ``trace``, each through a node that
    projects out its slot."""
    return tuple(Tensor._make(v, trace, Node(_Project(j), None, None, v, ((0, node),)), None)
                 for j, v in enumerate(node.ans))


def _watch_output(out, prim, args, saved):
    """Give a recorded output its version counter. A view shares its base's: a write through
    either reaches the nodes that saved the other. Any other output gets a new counter, which
    its node watches (``saved``), since a rule may read the output (``exp``, ``sqrt``,
    ``relu``): writing into it, or into a view or a detached copy of it, must then stop the
    backward pass."""
    if _is_view(prim, args, out._value):
        out._version = version_cell(args[0])
    else:
        out._version = cell = [0]
        if saved is not None:
            saved.append((cell, 0, -1))


def _is_view(prim, args, value):
    """Whether ``value``, a result of ``prim``, shares memory with its first argument (a view
    primitive may also copy: ``x[[0, 1]]``, or a reshape of a transposed array)."""
    return (prim.view and isinstance(args[0], Tensor)
            and np.may_share_memory(_primal(args[0]), value))


class ForwardTrace:
    __slots__ = ("level", "nbatch", "alive")
    mode = "fwd"

    def __init__(self, nbatch=0):
        self.level = next(_levels)
        self.nbatch = nbatch          # leading batch dimensions of every tangent
        self.alive = True

    def process(self, prim, fn, args, kw):
        vals = list(args)
        tangents = []
        outer = False
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                trace = a._trace
                if trace is self:
                    v = vals[i] = a._value
                    tangents.append((i, a._tangent))
                    if not outer and isinstance(v, Tensor):
                        outer = True
                elif trace is None:
                    vals[i] = a._value
                else:
                    outer = True
        ans = fn(*vals, **kw) if outer else prim.impl(*vals, **kw)
        out = None
        nb = self.nbatch
        for i, t in tangents:
            rule = prim.jvps.get(i)
            if rule is None:
                raise NotImplementedError(
                    f"forward-mode derivative of {prim.name} with respect to argument {i} "
                    "is not implemented")
            if nb and prim.broadcasts:
                t = _align(t, nb, _ndim(vals[i]), _ndim(ans))
            c = rule(t, ans, *vals, **kw)
            if c is None:
                continue
            if prim.checked:
                _check_tangent(prim, c, ans, nb)
            if prim.multiple:
                out = c if out is None else tuple(_add_ct(o, ci) for o, ci in zip(out, c))
            else:
                out = c if out is None else out + c
        if prim.multiple:
            if out is None:
                return ans
            return tuple(v if t is None else Tensor._make(v, self, None, t)
                         for v, t in zip(ans, out))
        if out is None:
            return ans
        if prim.broadcasts and _shape(out)[nb:] != _shape(ans):
            out = _broadcast_to(out, _shape(out)[:nb] + _shape(ans))
        return Tensor._make(ans, self, None, out)


class _Project:
    """The j-th output of a primitive with several outputs, as a node of its own."""

    __slots__ = ("j",)
    name = "output"
    broadcasts = False
    multiple = False

    def __init__(self, j):
        self.j = j


def _align(t, nb, ndim, out_ndim):
    """Insert axes after the batch axes so a tangent broadcasts like its primal."""
    if ndim >= out_ndim:
        return t
    shape = _shape(t)
    return reshape(t, shape[:nb] + (1,) * (out_ndim - ndim) + shape[nb:])


_GLOBAL = ReverseTrace(level=0)


def _bind(prim, fn, args, kw):
    top = None
    level = -1
    for a in args:
        if isinstance(a, Tensor):
            trace = a._trace
            if trace is not None and trace.level > level:
                top, level = trace, trace.level
    if top is None or (level == 0 and not _grad_mode.enabled):
        vals = [a._value if isinstance(a, Tensor) else a for a in args]
        ans = prim.impl(*vals, **kw)
        outs = (tuple(Tensor._make(_as_array(v), None, None, None) for v in ans) if prim.multiple
                else (Tensor._make(_as_array(ans), None, None, None),))
        for out in outs:
            if _is_view(prim, args, out._value):
                out._version = version_cell(args[0])  # a view shares its base's version counter
        return outs if prim.multiple else outs[0]
    if not top.alive:
        raise RuntimeError(
            f"{prim.name}: a value traced by a transform that has already returned was used "
            "afterwards (it escaped through a global, a closure or an aux output); return it "
            "from the transformed function instead")
    return top.process(prim, fn, args, kw)


def _as_array(v):
    """NumPy returns scalars for 0-d results; a Tensor holds a 0-d array instead."""
    return np.asarray(v) if isinstance(v, np.generic) else v


# --------------------------------------------------------------------------- reverse walk

_owned = [None]     # the cotangent the running rule may overwrite, set by backward_pass


def owns(g):
    """Whether the VJP rule now running may overwrite its cotangent ``g`` in place.

    True when ``g`` is an array nobody else refers to: the sum of several contributions, or
    the single output of a rule whose primitive declares ``fresh_vjp`` (each cotangent it
    returns is a new array, or the ``g`` it was allowed to overwrite, never a ``g`` shared with
    anyone), and the rule is called once for its node.
    A rule that overwrites ``g`` saves an allocation and a pass (``relu``: the mask is
    multiplied in place); ``owns`` is False for the user's seed and for any shared array.
    """
    return _owned[0] is g


def backward_pass(roots, cotangents, retain_graph=True, create_graph=False, capture=(), needed=None):
    """Push cotangents from ``roots`` (nodes) to every reachable leaf.

    Nodes are visited newest first (a max-heap on creation order), so a node's cotangent
    is complete before its rule runs.  Returns ``{leaf node: cotangent}``, with the complete
    cotangents of the inner nodes whose Tensor called ``retain_grad()`` (their ``leaf``) as
    well, and, given ``needed``, of those in ``capture``.

    With ``create_graph`` the rules run on Tensors of the object API's trace that stand for
    each node's inputs and output (``_operands``), so the cotangents they return are recorded
    in turn and can be differentiated again. With ``needed`` (a set of nodes, see
    ``_leading_to``) the walk visits only those: the paths to the gradients asked for.
    """
    grads = {}
    fresh = set()                  # nodes whose cotangent is an array only this walk refers to
    heap = []
    for node, ct in zip(roots, cotangents):
        if node is None or ct is None:
            continue
        if node in grads:
            grads[node] = _add_ct(grads[node], ct)
        else:
            grads[node] = ct
            heap.append((-node.seq, node))
    heapq.heapify(heap)
    leaves = {}
    pop = heapq.heappop
    while heap:
        node = pop(heap)[1]
        g = grads.pop(node)
        prim = node.prim
        if prim is None:                          # a root that is an input: add its seed
            old = leaves.get(node)
            leaves[node] = g if old is None else _add_ct(old, g)
            continue
        parents = node.parents
        if node.leaf is not None:                 # retain_grad(): complete now, kept, not overwritten
            leaves[node] = g
            fresh.discard(node)
        if needed is not None:                    # gradients for some inputs only
            if node in capture:
                leaves[node] = g
                fresh.discard(node)
            parents = [pp for pp in parents if pp[1] in needed]
            if not parents:
                continue
        vals = node.vals
        if vals is _FREED:
            raise RuntimeError(
                "backward through a graph whose saved arrays were already freed by an earlier "
                "backward pass (backward() or autograd.grad); pass retain_graph=True to the first "
                "one to keep them")
        saved = node.saved                        # (version cell, version, index) at level 0
        if saved:
            for cell, version, _ in saved:
                if cell[0] != version:            # something was written: is it read?
                    _check_versions(node)
                    break
        if type(prim) is _Project:
            # the j-th output's cotangent goes into the j-th slot of a list the multi-output
            # node collects (a tuple per output, added slot by slot, took time in k² for k)
            parent = parents[0][1]
            slots = grads.get(parent)
            if slots is None:
                slots = grads[parent] = [None] * len(parent.ans)
                heapq.heappush(heap, (-parent.seq, parent))
            elif type(slots) is not list:            # a tuple given as a root's cotangent
                slots = grads[parent] = list(slots)
            slots[prim.j] = g if slots[prim.j] is None else _add_ct(slots[prim.j], g)
            if not retain_graph:
                node.vals = _FREED
                node.ans = None
            continue
        if prim.multiple:
            g = _fill_ct(tuple(g), node.ans)
        ans, kw = node.ans, node.kw
        if create_graph:
            vals, ans = _operands(node)
        broadcasts = prim.broadcasts
        nb = _ndim(g) - _ndim(ans) if broadcasts else 0
        joint = prim.vjp_joint
        if joint is None:                         # one rule per argument
            vjps = prim.vjps
            owned = fresh and len(parents) == 1 and node in fresh and type(g) is np.ndarray
            for i, parent in parents:
                rule = vjps.get(i)
                if rule is None:
                    raise NotImplementedError(
                        f"reverse-mode derivative of {prim.name} with respect to argument {i} "
                        "is not implemented")
                if owned:                         # the only rule to see g: it may write to it
                    _owned[0] = g
                    try:
                        c = rule(g, ans, *vals, **kw)
                    finally:
                        _owned[0] = None
                else:
                    c = rule(g, ans, *vals, **kw)
                if c is not None:
                    if prim.checked:
                        _check_cotangent(prim, i, c, g, ans, vals[i])
                    _deliver(c, i, parent, vals, nb, broadcasts, prim.fresh_vjp, grads, fresh, leaves, heap)
        else:                                     # one rule for all arguments
            owned = fresh and node in fresh and type(g) is np.ndarray
            if owned:
                _owned[0] = g
            try:
                cts = joint(g, ans, [i for i, _ in parents], *vals, **kw)
            finally:
                _owned[0] = None
            for (i, parent), c in zip(parents, cts):
                if c is None:
                    continue
                if prim.checked:
                    _check_cotangent(prim, i, c, g, ans, vals[i])
                if parent.prim is None and not broadcasts:     # a leaf (_deliver, inlined)
                    old = leaves.get(parent)
                    leaves[parent] = c if old is None else _add_ct(old, c)
                else:
                    _deliver(c, i, parent, vals, nb, broadcasts, prim.fresh_vjp, grads, fresh, leaves, heap)
        if not retain_graph:
            # drop what the rules needed (inputs, output, saved tensors) so memory is freed now;
            # a multi-output primitive keeps its output tuple, which its projections read
            node.vals = _FREED
            node.kw = None
            node.saved = None
            if not prim.multiple:
                node.ans = None
    return leaves


def run_backward(outputs, grads, retain_graph, create_graph, inputs, where, param="grad"):
    """``backward()`` of several outputs together; ``where`` names the caller in errors, and
    ``param`` its argument holding the outputs' cotangents."""
    roots, seeds = _roots(outputs, grads, where, param, create_graph)
    only = None if inputs is None else _input_nodes(inputs, where)
    store_grads(_walk(roots, seeds, retain_graph, create_graph, only), seeds, only)


def _walk(roots, seeds, retain_graph, create_graph, only):
    """``backward_pass`` with PyTorch's defaults: the graph kept when the pass is recorded
    (``retain_graph=None``), and the walk limited to the paths to ``only`` (``{node: Tensor}``)
    when it is given."""
    return backward_pass(roots, seeds, create_graph if retain_graph is None else retain_graph,
                         create_graph, () if only is None else only,
                         None if only is None else _leading_to(roots, only))


def _roots(outputs, grads, where, param, create_graph):
    """The outputs' nodes and cotangents (``grads``: None, or one entry per output)."""
    grads = (None,) * len(outputs) if grads is None else grads
    if len(grads) != len(outputs):
        raise ValueError(f"{where}: {len(grads)} {param} for {len(outputs)} outputs")
    roots, seeds = [], []
    for k, (out, grad) in enumerate(zip(outputs, grads, strict=True)):
        node, seed = _seed(out, grad, where if len(outputs) == 1 else f"{where}, output {k},", param,
                           create_graph)
        roots.append(node)
        seeds.append(seed)
    return roots, seeds


def _seed(out, grad, what, param="grad", create_graph=False):
    """``out``'s node and the cotangent it starts from: ``grad``, or 1 for a scalar. A recorded
    ``grad`` is differentiated through only with ``create_graph``."""
    if not isinstance(out, Tensor) or out._trace is not _GLOBAL:
        if isinstance(out, Tensor) and out._trace is not None:
            raise RuntimeError(
                f"{what} on a value traced by a transform (grad, jacobian, jvp, ...): inside the "
                "transformed function, return the value and let the transform differentiate it")
        raise RuntimeError(
            f"{what} on a {'tensor' if isinstance(out, Tensor) else type(out).__name__} that does "
            "not require grad: no input of the computation was created with requires_grad=True "
            "(or it ran under no_grad())")
    value = out._value
    shape = value.shape if type(value) is np.ndarray else _shape(value)
    if grad is None:
        if shape and math.prod(shape) != 1:
            example = ", e.g. loss.sum().backward()" if param == "grad" else ""
            raise RuntimeError(
                f"{what} without a gradient needs a scalar output, got shape {shape}; pass "
                f"{param}= (an array shaped like the output){example}")
        return out._node, np.ones(shape, _dtype(value))
    if isinstance(grad, Tensor):
        if grad._trace is None or (grad._trace is _GLOBAL and not create_graph):
            grad = grad._value
    elif type(grad) is not np.ndarray:
        grad = np.asarray(grad, dtype=_dtype(value))          # a list or a number
    if _shape(grad) != shape:
        raise ValueError(f"{what}: {param} has shape {_shape(grad)} but the tensor has shape {shape}")
    return out._node, grad


def _leading_to(roots, targets):
    """The nodes from which a walk from ``roots`` reaches one of ``targets`` (included): the
    part of the graph that the gradients with respect to ``targets`` need."""
    seen, stack = set(), [r for r in roots if r is not None]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(p for _, p in node.parents)
    needed = set()
    for node in sorted(seen, key=lambda n: n.seq):        # parents are older: decided first
        if node in targets or any(p in needed for _, p in node.parents):
            needed.add(node)
    return needed


def _input_nodes(inputs, where):
    """``{node: Tensor}`` for the Tensors whose gradients are asked for."""
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    nodes = {}
    for k, t in enumerate(inputs):
        if not isinstance(t, Tensor) or t._trace is not _GLOBAL:
            raise ValueError(f"{where}: inputs[{k}] is a {type(t).__name__} that does not require grad; "
                             "gradients are only computed for Tensors with requires_grad=True and "
                             "the results of operations on them")
        nodes[t._node] = t
    return nodes


def _operands(node):
    """A node's inputs and output as Tensors of the object API's trace, joined to the graph where
    the originals were (an input to its parent node, the output to the node itself) and sharing
    their version counters: what a rule computes from them is recorded, for ``create_graph``."""
    vals = list(node.vals)
    cells = {i: cell for cell, _, i in node.saved or ()}
    for i, parent in node.parents:
        if isinstance(vals[i], Tensor):
            raise NotImplementedError(
                f"backward(create_graph=True) through {node.prim.name} applied inside a transform "
                "(grad, jvp, ...): take higher derivatives with the transforms instead")
        vals[i] = t = Tensor._make(vals[i], _GLOBAL, parent, None)
        t._version = cells.get(i)
    ans = node.ans
    if node.prim.multiple:
        ans = _projections(node, _GLOBAL)
    else:
        ans = Tensor._make(ans, _GLOBAL, node, None)
        ans._version = cells.get(-1)
    return vals, ans


def _check_cotangent(prim, i, c, g, ans, value):
    """A user's VJP rule must return, for argument ``i``, an array shaped like that argument
    (after the cotangent's leading batch axes); a broadcasting primitive's may have the shape of
    the broadcast, which the argument's shape broadcasts to."""
    g0, a0 = (g[0], ans[0]) if prim.multiple else (g, ans)
    nb = _ndim(g0) - _ndim(a0)
    expected = _shape(g0)[:nb] + _shape(value)
    got = _shape(c)
    if got == expected:
        return
    if prim.broadcasts and got[:nb] == expected[:nb] and (
            _broadcasts_to(expected[nb:], got[nb:]) or _broadcasts_to(got[nb:], expected[nb:])):
        return                                    # unbroadcast sums it to the argument's shape
    raise ValueError(f"{prim.name}: its VJP rule for argument {i} returned a cotangent of shape {got}, "
                     f"but the argument has shape {_shape(value)} (expected {expected}"
                     f"{_after_batch_axes(nb)}); return an array shaped like the "
                     "argument (unbroadcast() sums a broadcast one back)")


def _check_tangent(prim, t, ans, nb):
    """A user's JVP rule must return a tangent shaped like the output (after ``nb`` batch axes)."""
    for out, a in (zip(t, ans) if prim.multiple else ((t, ans),)):
        if out is None:
            continue
        got, expected = _shape(out), _shape(out)[:nb] + _shape(a)
        if got != expected and not (prim.broadcasts and _broadcasts_to(got[nb:], expected[nb:])):
            raise ValueError(f"{prim.name}: its JVP rule returned a tangent of shape {got}, but the "
                             f"output has shape {_shape(a)} (expected {expected}{_after_batch_axes(nb)})")


def _after_batch_axes(nb):
    return f", after {nb} batch ax{'i' if nb == 1 else 'e'}s" if nb else ""


def _broadcasts_to(shape, target):
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _deliver(c, i, parent, vals, nb, broadcasts, made, grads, fresh, leaves, heap):
    """Add the cotangent ``c`` of argument ``i`` to what ``parent`` has received."""
    if broadcasts:
        c = unbroadcast(c, vals[i], nb)
    if parent.prim is None:                       # a leaf: its sum is final, no visit needed
        old = leaves.get(parent)
        leaves[parent] = c if old is None else _add_ct(old, c)
        return
    old = grads.get(parent)
    if old is None:
        grads[parent] = c
        if made:
            fresh.add(parent)
        heapq.heappush(heap, (-parent.seq, parent))
    else:
        grads[parent] = _add_ct(old, c)           # a new array, whoever else holds old or c
        fresh.add(parent)


def store_grads(leaves, seeds, only=None):
    """Add each cotangent from ``backward_pass`` to the ``.grad`` of its Tensor: a leaf's, or a
    non-leaf's that called ``retain_grad()``; with ``only`` (``{node: Tensor}``) just those
    Tensors'. A cotangent recorded by ``create_graph`` stays a Tensor, to be differentiated."""
    seen = {id(seeds[0])} if len(seeds) == 1 else set(map(id, seeds))
    if only is not None:
        for node, t in only.items():
            g = leaves.get(node)
            if g is not None:
                _store(t, g, seen)
        return
    for node, g in leaves.items():
        ref = node.leaf
        leaf = ref() if ref is not None else None
        if leaf is None:
            continue
        if leaf.grad is not None or type(g) is not np.ndarray:
            _store(leaf, g, seen)
            continue
        # the first gradient is the leaf's own writable array: not the seed, not a
        # broadcast view, not an array another leaf got too (rules may pass g through)
        dtype = leaf._value.dtype
        flags = g.flags
        if id(g) in seen or g.dtype != dtype or not (flags.writeable and flags.owndata):
            g = np.array(g, dtype=dtype)
        seen.add(id(g))
        leaf.grad = g


def _store(leaf, g, seen):
    """``store_grads`` for one Tensor, in every case but the training loop's (a first gradient
    that is a plain array)."""
    old = leaf.grad
    dtype = leaf._value.dtype
    if isinstance(g, Tensor) and g._trace is None:           # nothing was recorded
        g = g._value
    if isinstance(g, Tensor) or isinstance(old, Tensor):      # recorded by create_graph
        if old is None and id(g) in seen:                     # another leaf's, or the seed
            g = g.clone()
        new = g if old is None else old + g
        if new.dtype != dtype:
            new = new.astype(dtype)
        seen.add(id(new))
        leaf.grad = new if isinstance(new, Tensor) else np.asarray(new)
        return
    if old is not None:                                       # accumulate into a new array
        leaf.grad = np.asarray(old + g, dtype=dtype)
        return
    if type(g) is not np.ndarray or id(g) in seen or g.dtype != dtype or not (
            g.flags.writeable and g.flags.owndata):
        g = np.array(g, dtype=dtype)
    seen.add(id(g))
    leaf.grad = g


def _add_ct(a, b):
    if a is None:
        return b
    if b is None:
        return a
    if type(a) is tuple:
        return tuple(_add_ct(x, y) for x, y in zip(a, b))
    return a + b


def _fill_ct(g, ans):
    """Zeros (with the batch axes of a present cotangent) for outputs that got none."""
    if all(c is not None for c in g):
        return g
    ref = next((c, a) for c, a in zip(g, ans) if c is not None)
    batch = _shape(ref[0])[:_ndim(ref[0]) - _ndim(ref[1])]
    return tuple(c if c is not None else np.zeros(batch + _shape(a), _dtype(a))
                 for c, a in zip(g, ans))


def _check_versions(node):
    # (version counter, its value when recorded, argument index or -1 for an output); counters,
    # not Tensors: a recorded `t[i] = v` rebinds the Tensor t to a new array and counter
    for cell, version, i in node.saved:
        now = cell[0]
        if now != version and _reads(node.prim, i):
            what = (f"its argument {i}, of shape {_shape(node.vals[i])}" if i >= 0
                    else "its output" if not node.prim.multiple else "one of its outputs")
            raise RuntimeError(
                f"an array that {node.prim.name} saved for the backward pass was modified in "
                f"place afterwards ({what}, version {version} when recorded, {now} now); use an "
                "out-of-place operation instead")


def _reads(prim, i):
    """Whether a VJP rule of ``prim`` may read the values of its argument ``i`` (-1: its
    output), so that writing into that array in place would change the gradient. Read from the
    rules' code, and only once such an array has been written to: after ``y = x + 1`` either
    may change, as in PyTorch; after ``y = sqrt(x)`` x may but y may not (the rule is
    ``g / (2 y)``). A rule that is not a plain function, or takes that argument through
    ``*args``, is assumed to read it; arguments listed in ``prim.shape_only`` are not read."""
    if i in prim.shape_only:
        return False
    joint = prim.vjp_joint
    rules = [joint] if joint is not None else list(prim.vjps.values())
    position = 1 if i < 0 else (3 if joint is not None else 2) + i   # (g, ans, [needed,] *args)
    for rule in rules:
        if type(rule) is not types.FunctionType:
            return True
        code = rule.__code__
        if position >= code.co_argcount:
            if code.co_flags & inspect.CO_VARARGS:
                return True
            continue
        name = code.co_varnames[position]
        for ins in dis.get_instructions(code):
            if ins.opname.startswith("LOAD_") and (
                    ins.argval == name or (type(ins.argval) is tuple and name in ins.argval)):
                return True
    return False


def version_of(t):
    """How many in-place changes ``t``'s memory has seen (views and detached copies share it)."""
    cell = t._version
    return 0 if cell is None else cell[0]


def version_cell(t):
    """``t``'s version counter, created on first need so most Tensors never allocate one."""
    if t._version is None:
        t._version = [0]
    return t._version


def bump_version(t):
    version_cell(t)[0] += 1
    recorder = _grad_mode.recorder
    if recorder is not None:                  # an in-place change while a step is recorded
        recorder.append(None)


# --------------------------------------------------------------------------- shapes

def _shape(x):
    try:
        return x.shape
    except AttributeError:                      # Python scalars and sequences
        return np.shape(x)


def _ndim(x):
    try:
        return x.ndim
    except AttributeError:
        return np.ndim(x)


def _dtype(x):
    if isinstance(x, Tensor):
        return x.dtype
    return np.result_type(x)


def unbroadcast(g, operand, nb=0):
    """Sum a cotangent with ``nb`` leading batch axes back to ``operand``'s shape.

    The one place where broadcasting is undone: if ``operand`` was broadcast to make the
    output, its cotangent is the sum over the axes that broadcasting added or stretched.
    """
    gshape = _shape(g)
    shape = _shape(operand)
    if gshape[nb:] == shape:
        return g
    lead = len(gshape) - nb - len(shape)
    axes = tuple(range(nb, nb + lead)) + tuple(
        nb + lead + k for k, n in enumerate(shape) if n == 1 and gshape[nb + lead + k] != 1)
    if axes:
        g = sum(g, axis=axes, keepdims=True)
    return reshape(g, gshape[:nb] + shape)


# Filled in by chainrule.numpy to avoid an import cycle; rules here need these three.
def sum(x, axis=None, keepdims=False):  # noqa: A001  (replaced at import time)
    raise RuntimeError("chainrule.numpy was not imported")


def reshape(x, shape):
    raise RuntimeError("chainrule.numpy was not imported")


def _broadcast_to(x, shape):
    raise RuntimeError("chainrule.numpy was not imported")


def _install(sum_fn, reshape_fn, broadcast_fn):
    global sum, reshape, _broadcast_to
    sum, reshape, _broadcast_to = sum_fn, reshape_fn, broadcast_fn


# --------------------------------------------------------------------------- Tensor

class Tensor:
    """An array that records how it was computed, so that it can be differentiated.

    The object API: ``chainrule.tensor(data, requires_grad=True)`` makes a leaf; operations on
    it return Tensors; ``loss.backward()`` accumulates ``∂loss/∂leaf`` into ``leaf.grad`` (a
    NumPy array shaped like the leaf).  The functional transforms pass Tensors of their own
    traces to the user's function; the two share one graph, one walk and one set of rules.
    """

    __slots__ = ("_value", "_trace", "_node", "_tangent", "grad", "_version", "__weakref__")
    __array_priority__ = 1000.0

    @classmethod
    def _make(cls, value, trace, node, tangent):
        t = object.__new__(cls)
        t._value = value
        t._trace = trace
        t._node = node
        t._tangent = tangent
        t.grad = None
        t._version = None             # see version_cell: shared by views and detached copies
        return t

    # ---- object API

    @property
    def requires_grad(self):
        return self._trace is _GLOBAL

    @requires_grad.setter
    def requires_grad(self, flag):
        if flag == self.requires_grad:
            return
        _edits[0] += 1
        if self._trace is not None and self._trace is not _GLOBAL:
            raise RuntimeError("requires_grad cannot be changed on a value traced by a transform")
        if flag:
            if not np.issubdtype(self.dtype, np.inexact):
                raise TypeError(f"only floating-point tensors can require gradients, got {self.dtype}")
            self._trace = _GLOBAL
            self._node = Node(None, None, None, self._value, ())
            self._node.leaf = weakref.ref(self)
        else:
            if not self.is_leaf:
                raise RuntimeError("requires_grad=False is only allowed on leaves; use .detach()")
            self._trace = None
            self._node = None

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place and return the tensor (PyTorch's spelling)."""
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self._node is None or self._node.prim is None

    def backward(self, grad=None, retain_graph=None, create_graph=False, inputs=None, *, gradient=None):
        """Accumulate ``∂self/∂leaf`` (contracted with ``grad``) into the ``.grad`` of leaves, and
        of Tensors that called ``retain_grad()``. As in PyTorch: ``gradient=`` is another name
        for ``grad``; ``create_graph=True`` records the backward pass itself, so the gradients
        are Tensors that can be differentiated again (``retain_graph`` then defaults to True);
        ``inputs`` (Tensors) limits the ``.grad`` written to theirs."""
        if gradient is not None:
            if grad is not None:
                raise TypeError("backward(): give the output's cotangent once, as grad or as gradient")
            grad = gradient
        if create_graph or inputs is not None:
            return run_backward((self,), (grad,), retain_graph, create_graph, inputs, "backward()")
        node, seed = _seed(self, grad, "backward()")
        store_grads(backward_pass((node,), (seed,), bool(retain_graph)), (seed,))

    def retain_grad(self):
        """Keep this non-leaf Tensor's gradient in ``.grad`` at the next ``backward()`` (a leaf
        keeps its own already), as in PyTorch."""
        if self._trace is not _GLOBAL:
            raise RuntimeError("retain_grad() on a tensor that does not require grad (nothing will "
                               "compute its gradient)")
        if self._node.prim is not None:
            self._node.leaf = weakref.ref(self)

    @property
    def retains_grad(self):
        """Whether ``backward()`` will keep this non-leaf Tensor's gradient (``retain_grad()``)."""
        node = self._node
        return node is not None and node.prim is not None and node.leaf is not None

    def detach(self):
        """The same values (the same memory), cut from the graph: a constant Tensor.

        It shares the version counter, so an in-place change through it is still caught by a
        backward pass that needs the original values."""
        out = Tensor._make(_primal(self), None, None, None)
        out._version = version_cell(self)
        return out

    def numpy(self):
        """The values as a NumPy array (without any derivative information): the tensor's own
        memory, read-only when the tensor requires grad or is recorded (as JAX's arrays are), so
        that nothing changes it behind the backward pass's back; ``.copy()`` it to write."""
        return _exported(self)

    def item(self):
        return _primal(self).item()

    def tolist(self):
        return np.asarray(_primal(self)).tolist()

    def __array__(self, dtype=None, copy=None):
        _refuse_if_traced(self, "converting to a NumPy array")
        value = _exported(self)
        if dtype is not None:
            value = value.astype(dtype, copy=False)
        return np.array(value, copy=True) if copy else value

    def zero_grad(self):
        self.grad = None

    # ---- array-like properties

    @property
    def data(self):
        """The underlying array (an ``ndarray`` for the object API)."""
        return self._value

    @data.setter
    def data(self, value):
        value = _primal(value) if isinstance(value, Tensor) else value
        if not isinstance(value, np.ndarray):
            value = np.asarray(value)
        if self.requires_grad and not np.issubdtype(value.dtype, np.floating):
            raise TypeError(f"data: a tensor that requires grad holds floating-point values, got dtype "
                            f"{value.dtype}; cast it first, e.g. value.astype(np.float32)")
        _edits[0] += 1
        self._value = value

    @property
    def shape(self):
        try:
            return self._value.shape            # an array, or a Tensor of the next level
        except AttributeError:
            return np.shape(self._value)

    @property
    def ndim(self):
        return _ndim(self._value)

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def dtype(self):
        return _dtype(self._value)

    def __len__(self):
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        return shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self):
        return bool(_primal(self))

    def __float__(self):
        _refuse_if_traced(self, "float()")
        return float(_primal(self))

    def __int__(self):
        _refuse_if_traced(self, "int()")
        return int(_primal(self))

    def __index__(self):
        return _primal(self).__index__()

    def __hash__(self):
        return id(self)

    def __repr__(self):
        value = np.asarray(_primal(self))
        body = np.array2string(value, separator=", ", prefix="tensor(")
        extra = ""
        if self._trace is _GLOBAL:
            extra = ", requires_grad=True"
        elif self._trace is not None:
            extra = f", traced={self._trace.mode}{self._trace.level}"
        if value.dtype != np.float64:
            extra = f", dtype={value.dtype}" + extra
        return f"tensor({body}{extra})"

    def __reduce__(self):
        return (_rebuild_tensor, (np.asarray(_primal(self)), self.requires_grad))


def _exported(t):
    """``t``'s values for NumPy: its array, or a read-only view of it when a backward pass may
    read it (a leaf that requires grad, or a recorded result). In-place changes go through the
    tensor (``add_``, ``t[i] = v`` under ``no_grad``), which counts them."""
    value = np.asarray(_primal(t))
    if t._trace is _GLOBAL and value.flags.writeable:
        value = value.view()
        value.flags.writeable = False
    return value


def zero_grads(params, set_to_none=True):
    """``.grad = None`` for each Tensor, or with ``set_to_none=False`` zeros: its array filled in
    place where it is a writable array, a new one otherwise (a Tensor left by create_graph)."""
    for p in params:
        if set_to_none or p.grad is None:
            p.grad = None
        elif type(p.grad) is np.ndarray and p.grad.flags.writeable:
            p.grad.fill(0)
        else:
            p.grad = np.zeros(p.shape, p._value.dtype)


def _rebuild_tensor(value, requires_grad):
    from . import tensor
    return tensor(value, requires_grad=requires_grad)


def _refuse_if_traced(t, what):
    """Inside a transform, NumPy cannot carry a derivative: say so instead of dropping it."""
    trace = t._trace
    if trace is not None and trace is not _GLOBAL:
        raise TypeError(
            f"{what} of a value traced by chainrule.{'jvp' if trace.mode == 'fwd' else 'grad'} (or "
            "another transform) would silently drop its derivative. Use chainrule.numpy (import "
            "chainrule.numpy as cnp) instead of numpy/math inside the function, or take the value "
            "explicitly with .item(), .tolist() or .numpy() if no derivative should flow")


def _primal(x):
    """Strip every level of tracing."""
    while isinstance(x, Tensor):
        x = x._value
    return x
