"""A training step recorded once and then replayed: the same arithmetic, without the Python.

One step of the object API is the lecture's recipe::

    optimizer.zero_grad()
    value = loss(model(x), y)
    value.backward()
    optimizer.step()

For a small network most of its time goes to Python around the arithmetic: module calls,
argument checks, Tensor wrappers, graph bookkeeping.  Which primitive runs on which values —
the step's *program* — is the same from one batch to the next for most models; only the
arrays change.  :class:`TrainStep` records the program from ordinary steps and then runs it
directly: each primitive's NumPy implementation on the new batch, one graph node per
operation, the engine's own backward walk (:func:`chainrule._core.backward_pass`), the
optimizer's own ``step()``.  The same functions see the same values in the same order, so
parameters, gradients and losses equal those of the ordinary step to the last bit.

What a recording fixes, and what guards it:

* the shapes and dtypes of ``x`` and ``y``: a batch of another shape is recorded anew (a few
  programs are kept, so a short last batch costs no new recording each epoch);
* every module attribute and mode: assigning any attribute of any module, ``train()``,
  ``eval()`` or ``functional_call`` makes the next step record again;
* the parameters: each must still require gradients and keep its shape and dtype (its values,
  and a new array assigned to ``.data``, are read at every step);
* the checks that look at the data — class labels in range, no NaN — are marked with
  :func:`chainrule._core.host`; a replay runs them again on every batch, with the same errors;
  a loss that comes out NaN sends the step down the ordinary path, which reports it as usual.

A step is replayed only after two recordings, on two batches, gave the same program, and only
when every array the program would keep fixed is the very same object both times (a module's
constant, say).  Anything computed afresh from the batch outside the graph — a dropout mask,
a mask of active hinge margins, ``np.arange(n)`` — would be frozen by a replay, so such a step
runs the ordinary way, with a warning that says why.  Like ``jax.jit``, a recording cannot see
Python decisions taken on the *values* of the data (``if x.max() > 1: ...``): such a forward
should not be replayed (``TrainStep(..., replay=False)``). Nor can it see numbers and arrays that
the model or the loss reads from outside a module (a global, a closure: ``loss = lambda o, y:
ce(o, y) * beta[0]``): as under ``jax.jit`` they are constants of the recording. Keep such a
value as an attribute of a module, whose assignment makes the step record again.

While a step is recorded the model receives ``x`` as a Tensor, so that what it computes from
``x`` alone is recorded too.  An item assignment into it (``x[:, 0] = 0``) is written into the
batch as on an array, and the step is not replayed; but a forward that branches on
``isinstance(x, np.ndarray)``, or writes into the batch with an augmented assignment
(``x /= 2`` writes into an array but rebinds a Tensor), should not be replayed either.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import _core
from ._core import _GLOBAL, Node, Tensor, _edits, _grad_mode, _Project, backward_pass, store_grads

__all__ = ["TrainStep"]

# where a recorded argument comes from at replay time
_SLOT, _INPUT, _VALUE = 0, 1, 2         # an earlier entry's result, x or y, a leaf's current value
# what an entry of the program does
_NODE, _CONST, _PROJECT, _HOST = 0, 1, 2, 3

_KEEP = 8                               # programs kept per TrainStep (one per batch shape)


class _Unreplayable(Exception):
    """The recorded step cannot be replayed; the message says why."""


class _Program:
    """The entries of a recorded step, in the order they ran.

    An entry is ``(kind, fn, template, dynamic, kw, parents)``: ``template`` holds the
    arguments that stay fixed, ``dynamic`` the ``(position, source, ref)`` of the others,
    ``parents`` the ``(argument, source, ref)`` of the graph node's differentiable inputs
    (``_SLOT`` with an entry's index, or a leaf Tensor).
    """

    __slots__ = ("entries", "loss", "outputs", "leaves", "edits", "ready")

    def __init__(self, entries, loss, outputs, leaves, edits):
        self.entries = entries
        self.loss = loss                  # index of the entry whose value is the loss
        self.outputs = outputs            # index of the entry whose value is model(x)
        self.leaves = leaves              # [(tensor, shape, dtype)] of every leaf it reads
        self.edits = edits                # the module edit count it was recorded at
        self.ready = False                # confirmed by a second recording

    def difference(self, other):
        """Where ``other``, a recording of the step on another batch, differs; None if nowhere."""
        if len(self.entries) != len(other.entries):
            return f"{len(self.entries)} against {len(other.entries)} operations"
        for a, b in zip(self.entries, other.entries):
            name = getattr(a[1], "name", None) or getattr(a[1], "__name__", "an operation")
            if a[0] != b[0] or not (a[1] is b[1] or a[0] == _PROJECT and a[1].j == b[1].j):
                return f"{name} against {getattr(b[1], 'name', None) or getattr(b[1], '__name__', '?')}"
            for what, u, v in zip(("arguments", "arguments", "keyword arguments", "inputs"), a[2:], b[2:]):
                if not _same(u, v):
                    fresh = what == "arguments" and any(isinstance(e, np.ndarray) for e in u)
                    return f"the {what} of {name}" + (" (an array made afresh at each step)" if fresh else "")
        if (self.loss, self.outputs) != (other.loss, other.outputs):
            return "the loss or the outputs"
        if not _same([t for t, *_ in self.leaves], [t for t, *_ in other.leaves]):
            return "the parameters read"
        return None

    def valid(self):
        """Whether nothing the program fixed has changed since it was recorded."""
        if _edits[0] != self.edits or not _grad_mode.enabled:
            return False
        for t, shape, dtype in self.leaves:
            v = t._value
            if (t._trace is not _GLOBAL or type(v) is not np.ndarray
                    or v.shape != shape or v.dtype != dtype):
                return False
        return True

    def run(self, inputs):
        """The forward pass on new ``inputs``: ``(values, nodes)`` of every entry."""
        entries = self.entries
        values = [None] * len(entries)
        nodes = [None] * len(entries)
        for k, (kind, fn, template, dynamic, kw, parents) in enumerate(entries):
            if kind == _PROJECT:                 # fn: a _Project; template: the entry it projects
                v = values[k] = values[template][fn.j]
                if parents:
                    nodes[k] = Node(fn, None, None, v, ((0, nodes[template]),))
                continue
            args = list(template)
            for pos, source, ref in dynamic:
                args[pos] = (values[ref] if source == _SLOT else inputs[ref] if source == _INPUT
                             else ref._value)
            if kind == _HOST:
                values[k] = fn(*args, **kw)
                continue
            ans = values[k] = fn.impl(*args, **kw)
            if kind == _NODE:
                nodes[k] = Node(fn, args, kw, ans, [(i, nodes[ref] if source == _SLOT else ref._node)
                                                    for i, source, ref in parents])
        return values, nodes


def _same(a, b):
    """Equal as recorded constants: arrays must be the same object, anything else equal."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (np.ndarray, Tensor)):
        return a is b
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001  (objects without a plain equality are compared by identity)
        return a is b


def _reachable(roots):
    """Every node reachable from ``roots`` through parents, oldest first."""
    seen = set()
    stack = [r for r in roots if r is not None]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(p for _, p in node.parents)
    return sorted(seen, key=lambda n: n.seq)


def _build(loss, outputs, inputs, input_nodes, calls, edits):
    """The program of a recorded forward pass (see :class:`_Program`), or ``_Unreplayable``."""
    if not isinstance(loss, Tensor) or loss._trace is not _GLOBAL or loss._node.prim is None:
        raise _Unreplayable("the loss does not depend on any parameter")
    if not isinstance(outputs, Tensor) or outputs._trace is not _GLOBAL or outputs._node.prim is None:
        raise _Unreplayable("the model's output is not a Tensor computed from its parameters")
    if None in calls:
        raise _Unreplayable("the forward pass changes an array in place")
    nodes = _reachable([loss._node, outputs._node])
    steps = sorted([(n.seq, n) for n in nodes if n.prim is not None] + [(c[0], c) for c in calls],
                   key=lambda s: s[0])

    where = {}                      # id(array) -> (source, ref) for arrays a replay recomputes
    for j, v in enumerate(inputs):
        if isinstance(v, np.ndarray):
            where[id(v)] = (_INPUT, j)
    leaves = {}                     # leaf node -> its Tensor
    for n in nodes:
        if n.prim is None and n not in input_nodes:
            t = n.leaf() if n.leaf is not None else None
            if t is None:
                raise _Unreplayable("the graph reads a leaf Tensor that is not a parameter held by anyone")
            leaves[n] = t
            where[id(t._value)] = (_VALUE, t)

    def source(v, what):
        if isinstance(v, Tensor):
            raise _Unreplayable(f"{what} receives a Tensor outside the graph (a nested transform?)")
        if isinstance(v, np.ndarray):
            found = where.get(id(v))
            if found is not None:
                return found
        return None

    slot_of, live = {}, set()
    entries = []
    for _, step in steps:
        k = len(entries)
        if type(step) is tuple:                                   # a host call
            _, fn, args, kw, out = step
            template, dynamic = list(args), []
            for pos, v in enumerate(args):
                found = source(v, fn.__name__)
                if found is not None:
                    dynamic.append((pos,) + found)
                    template[pos] = None
            if any(isinstance(v, (np.ndarray, Tensor)) for v in kw.values()):
                raise _Unreplayable(f"{fn.__name__} takes an array by keyword")
            entries.append((_HOST, fn, tuple(template), tuple(dynamic), dict(kw), ()))
            if isinstance(out, np.ndarray):
                where[id(out)] = (_SLOT, k)
            continue
        node = step
        prim = node.prim
        slot_of[node] = k
        if type(prim) is _Project:
            parent = node.parents[0][1]
            if parent not in slot_of:
                raise _Unreplayable("an output of a primitive is used without the primitive")
            is_live = parent in live
            entries.append((_PROJECT, prim, slot_of[parent], (), None, (True,) if is_live else ()))
            if is_live:
                live.add(node)
            where[id(node.ans)] = (_SLOT, k)
            continue
        from_parent = dict(node.parents)
        template, dynamic, parents = list(node.vals), [], []
        for pos, v in enumerate(node.vals):
            parent = from_parent.get(pos)
            if parent is not None:
                if parent in input_nodes:
                    found = (_INPUT, input_nodes[parent])
                elif parent in leaves:
                    found = (_VALUE, leaves[parent])
                    parents.append((pos, _VALUE, leaves[parent]))
                else:
                    found = (_SLOT, slot_of[parent])
                    if parent in live:
                        parents.append((pos, _SLOT, slot_of[parent]))
            else:
                found = source(v, prim.name)
            if found is not None:
                dynamic.append((pos,) + found)
                template[pos] = None
        if any(isinstance(v, Tensor) for v in node.kw.values()):
            raise _Unreplayable(f"{prim.name} receives a Tensor by keyword")
        kind = _NODE if parents else _CONST
        if parents:
            live.add(node)
        entries.append((kind, prim, tuple(template), tuple(dynamic), dict(node.kw), tuple(parents)))
        if not prim.multiple:
            where[id(node.ans)] = (_SLOT, k)
    if loss._node not in live:
        raise _Unreplayable("the loss does not depend on any parameter")
    layout = [(t, t._value.shape, t._value.dtype) for t in leaves.values()]
    if any(type(t._value) is not np.ndarray for t, *_ in layout):
        raise _Unreplayable("a parameter does not hold a NumPy array")
    return _Program(entries, slot_of[loss._node], slot_of[outputs._node], layout, edits)


def _signature(x, y):
    if type(x) is not np.ndarray or type(y) is not np.ndarray or x is y:
        return None
    return x.shape, x.dtype.str, y.shape, y.dtype.str


class TrainStep:
    """``step(x, y)``: one training step, ``optimizer.zero_grad()``, ``loss(model(x), y)``,
    ``.backward()``, ``optimizer.step()``, replayed from a recording where that is exact.

    Returns the batch's loss as a float; ``step.outputs`` holds ``model(x)`` as an array.  The
    first two steps of each batch shape run the ordinary way and are recorded; later steps
    replay the recording (see the module's documentation for what is checked).  The results
    are those of the ordinary step to the last bit.  ``replayed`` says whether the last call
    was a replay; ``reason`` why steps are not replayed, when they are not.
    ``replay=False`` runs every step the ordinary way.

    ``x`` may be a tuple of inputs, for ``model(*x)``; such steps run the ordinary way.
    ``check(value)``, if given, is called with the loss (a float) before the backward pass;
    an exception it raises ends the step there, before any gradient or update (``fit`` stops a
    diverging run this way). A replay that raises anywhere is run again the ordinary way, so
    every error is the ordinary step's.
    """

    def __init__(self, model, loss, optimizer, replay=True, check=None):
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        self.replay = replay
        self.check = check
        self.outputs = None
        self.replayed = False
        self.reason = None
        self._programs = {}               # signature -> _Program, or (edit count, reason)
        self._recorded_for = (model, loss)

    def __call__(self, x, y):
        self.replayed = False
        if self._recorded_for[0] is not self.model or self._recorded_for[1] is not self.loss:
            self._programs.clear()                    # another model or loss: record it afresh
            self._recorded_for = (self.model, self.loss)
        key = _signature(x, y) if self.replay and _grad_mode.enabled else None
        if key is None:
            return self._ordinary(x, y)
        program = self._programs.get(key)
        if type(program) is tuple:                    # not replayable: until a module changes
            if program[0] == _edits[0]:
                return self._ordinary(x, y)
            program = None
        if program is not None and program.ready and program.valid():
            value = self._replay(program, x, y)
            if value is not None:
                return value
            return self._ordinary(x, y)               # a NaN loss: the ordinary path reports it
        first = program if program is not None and not program.ready and program.edits == _edits[0] else None
        return self._record(key, first, x, y)

    # ---- the three ways of taking a step

    def _ordinary(self, x, y):
        self.optimizer.zero_grad()
        outputs = self.model(*x) if type(x) is tuple else self.model(x)
        return self._backward_and_update(outputs, self.loss(outputs, y))

    def _backward_and_update(self, outputs, value):
        """The rest of an ordinary step, once the loss ``value`` of ``outputs`` is known."""
        if self.check is not None:
            self.check(float(value))
        value.backward()
        self.optimizer.step()
        self.outputs = np.asarray(_core._primal(outputs))
        return float(value)

    def _record(self, key, first, x, y):
        """An ordinary step whose forward pass is recorded: ``x`` enters as a leaf, so that
        what the model computes from it alone is recorded too (and then left out of the
        graph, as the ordinary step leaves it)."""
        self.optimizer.zero_grad()
        leaf = x
        input_nodes = {}
        if x.dtype.kind == "f":
            node = Node(None, None, None, x, ())
            leaf = Tensor._make(x, _GLOBAL, node, None)
            input_nodes[node] = 0
        calls = []
        edits = _edits[0]
        _grad_mode.recorder = calls
        try:
            outputs = self.model(leaf)
            value = self.loss(outputs, y)
        finally:
            _grad_mode.recorder = None
        try:
            if _edits[0] != edits:
                raise _Unreplayable("the forward pass assigns attributes of a module or a Tensor")
            program = _build(value, outputs, (x, y), input_nodes, calls, edits)
            if first is not None:
                where = first.difference(program)
                if where is not None:
                    raise _Unreplayable(f"two recordings, on two batches, gave different programs ({where}): "
                                        "an array computed afresh outside the graph, such as a dropout mask, "
                                        "or a Python branch on the data")
                program.ready = True
        except _Unreplayable as e:
            program = (edits, str(e))
        result = self._backward_and_update(outputs, value)   # its errors are the ordinary step's
        # kept only now: a recording whose backward failed must not be replayed
        self._remember(key, program)
        if type(program) is tuple and self.reason != program[1]:
            self.reason = program[1]
            warnings.warn(f"TrainStep: steps are not replayed, they run the ordinary way: {self.reason}",
                          RuntimeWarning, stacklevel=3)
        return result

    def _replay(self, program, x, y):
        self.optimizer.zero_grad()
        try:
            values, nodes = program.run((x, y))
        except Exception:                             # a check refused the batch: the ordinary
            return None                               # step raises the ordinary error
        value = values[program.loss]
        if value != value:                            # NaN: let the ordinary step report it
            return None
        if self.check is not None:
            self.check(float(value))
        seed = np.ones(np.shape(value), np.asarray(value).dtype)
        store_grads(backward_pass([nodes[program.loss]], [seed], retain_graph=False), (seed,))
        self.optimizer.step()
        self.outputs = np.asarray(values[program.outputs])
        self.replayed = True
        return float(value)

    def _remember(self, key, program):
        self._programs.pop(key, None)
        self._programs[key] = program
        while len(self._programs) > _KEEP:
            del self._programs[next(iter(self._programs))]
