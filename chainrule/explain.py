"""``chainrule.explain(f, *args)``: the chain rule of one computation, written out with its numbers.

The lecture teaches the derivative of a composition as a product of Jacobians whose shapes
must line up (numerator layout: ``∂z/∂x`` of ``z ∈ Rᵏ``, ``x ∈ Rᵈ`` is k×d, tensors strung
into vectors).  ``explain`` traces ``f`` once, exactly as the reverse mode does, and shows

* every intermediate variable with its operation and shape;
* the local Jacobian of every operation with respect to each traced input, k×m;
* the product of local Jacobians that gives the total Jacobian, or, when a value is used
  more than once, the sum over paths of such products;
* a numerical check that this equals ``jacobian_matrix(f)`` at the point;
* for a scalar output, the backward pass as the sequence of vector–Jacobian products the
  engine runs: one row vector times one local Jacobian per step.

It is meant for small examples: every local Jacobian is formed as a matrix.

The module is callable: ``chainrule.explain(f, x)`` and ``chainrule.explain.explain(f, x)`` are the
same function, and ``chainrule.explain.Explanation`` (and the other classes) stay reachable.
"""

from __future__ import annotations

import html
import inspect
import sys
import types

import numpy as np

from ._core import ReverseTrace, Tensor, _bind, _primal, _Project
from .transforms import _as_input, jacobian_matrix, vjp

__all__ = ["explain", "Explanation", "Variable", "LocalJacobian", "VJPStep"]

_MAX_ENTRIES = 4_000_000     # refuse local Jacobians larger than this (32 MB in float64)
_MAX_PATHS = 64              # beyond this the sum over paths is accumulated, not listed


# --------------------------------------------------------------------------- the recorded graph

class GraphNode:
    """One value of a recorded computation: an input leaf or the output of one operation."""

    __slots__ = ("name", "op", "prim", "vals", "kw", "index", "parents", "value", "engine_node",
                 "position")

    def __init__(self, engine_node, prim, vals, kw, index, value):
        self.engine_node = engine_node
        self.prim = prim            # None for a leaf
        self.op = None if prim is None else prim.name
        self.vals = vals            # the operation's arguments as recorded (traced ones unwrapped)
        self.kw = kw
        self.index = index          # which output, for a primitive with several outputs
        self.value = value          # None where backward() freed it
        self.parents = []           # (argument position, GraphNode) for every traced argument
        self.name = None
        self.position = None        # for an input of explain/draw_graph: its argument number

    @property
    def is_leaf(self):
        return self.prim is None

    @property
    def shape(self):
        return None if self.value is None else np.shape(self.value)

    @property
    def size(self):
        return None if self.value is None else int(np.prod(np.shape(self.value)))


def walk(root):
    """The recorded graph that ``root`` (an engine node) depends on, oldest first.

    A primitive with several outputs appears once per output used, each a function of the
    primitive's inputs (the projection node of the engine is folded in).
    """
    found = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in found:
            continue
        found[id(node)] = node
        prim = node.prim
        parents = node.parents
        if type(prim) is _Project:
            parents = parents[0][1].parents
        stack.extend(p for _, p in parents)
    nodes = sorted(found.values(), key=lambda n: n.seq)
    made = {}
    out = []
    for node in nodes:
        prim, vals, kw, parents, index = node.prim, node.vals, node.kw, node.parents, None
        if type(prim) is _Project:
            multi = node.parents[0][1]
            prim, vals, kw, parents, index = multi.prim, multi.vals, multi.kw, multi.parents, prim.j
        g = GraphNode(node, prim, vals, kw, index, node.ans)
        g.parents = [(i, made[id(p)]) for i, p in parents]
        made[id(node)] = g
        out.append(g)
    return out


def apply_node(node, vals=None):
    """Re-run ``node``'s operation on ``vals`` (default: the recorded arguments)."""
    vals = list(node.vals if vals is None else vals)
    prim = node.prim

    def public(*a, **k):
        return _bind(prim, public, a, k)

    if any(isinstance(v, Tensor) for v in vals):
        out = _bind(prim, public, vals, node.kw)
    else:
        out = prim.impl(*vals, **node.kw)
    return out if node.index is None else out[node.index]


def _local_fn(node, pos):
    def local(x):
        vals = list(node.vals)
        vals[pos] = x
        return apply_node(node, vals)

    local.__name__ = node.op
    return local


def trace(f, args, argnums, what="explain"):
    """Run ``f`` once on a fresh reverse trace; returns (graph nodes, output node, inputs)."""
    args = [_primal(a) for a in args]
    fname = getattr(f, "__name__", type(f).__name__)
    trace_ = ReverseTrace()
    call = list(args)
    for k in argnums:
        if isinstance(args[k], (tuple, list, dict)):
            raise TypeError(f"{what} of {fname}: argument {k} is a {type(args[k]).__name__}; "
                            "pass the arrays to differentiate as separate arguments")
        call[k] = trace_.leaf(_as_input(args[k], f"{what} of {fname}, argument {k}"))
    leaf_nodes = {id(call[k]._node): k for k in argnums}
    out = f(*call)
    if isinstance(out, (tuple, list, dict)):
        raise TypeError(f"{what} of {fname}: the function must return a single array, "
                        f"got a {type(out).__name__}")
    if not (isinstance(out, Tensor) and out._trace is trace_):
        raise ValueError(f"{what} of {fname}: the output does not depend on the differentiated "
                         f"argument(s) {list(argnums)}; there is no chain to explain")
    nodes = walk(out._node)
    for n in nodes:
        if n.is_leaf:
            n.position = leaf_nodes.get(id(n.engine_node))
    return nodes, nodes[-1], args


def backward_cotangents(nodes, out, seed=None):
    """Cotangent ``ḡ_v = ∂L/∂v`` (shaped like v) of every node, and the VJP steps that made them.

    One ``vjp`` of one operation per traced argument, newest node first: the backward pass.
    """
    grads = {id(out): np.ones(out.shape, np.result_type(out.value)) if seed is None else seed}
    steps = []
    for node in reversed(nodes):
        g = grads.get(id(node))
        if node.is_leaf or g is None:
            continue
        for pos, parent in node.parents:
            _, pull = vjp(_local_fn(node, pos), node.vals[pos])
            c = np.asarray(_primal(pull(g)[0]))
            steps.append((node, parent, pos, g, c, id(parent) in grads))
            grads[id(parent)] = grads[id(parent)] + c if id(parent) in grads else c
    return grads, steps


# --------------------------------------------------------------------------- the explanation

class Variable:
    """A value of the computation: ``name = op(inputs)`` with its shape (``op`` None for an input).

    ``inputs`` are the operation's arguments as text (traced ones by name, constants by value,
    static parameters such as ``axis=0`` by name); ``position`` is an input's argument number.
    """

    def __init__(self, name, op, inputs, shape, value, role, position=None):
        self.name, self.op, self.inputs, self.shape, self.value, self.role = \
            name, op, inputs, shape, value, role
        self.position = position

    @property
    def size(self):
        return int(np.prod(self.shape))

    def __repr__(self):
        return f"Variable({self.name!r}, op={self.op!r}, shape={self.shape}, role={self.role!r})"


def _jacobian_label(of, wrt, argument, repeated):
    """``∂of/∂wrt``, with the argument's position when ``wrt`` is several arguments of ``of``."""
    which = f" ({_ordinal(argument + 1)} argument)" if repeated else ""
    return f"∂{of}/∂{wrt}{which}"


def _repeated(node, parent):
    """Whether ``parent`` is more than one argument of ``node`` (``x * x``)."""
    return sum(p is parent for _, p in node.parents) > 1


class LocalJacobian:
    """``∂of/∂wrt`` of one operation, k×m in numerator layout (``argument`` is its position).

    Where ``wrt`` is more than one argument of the same operation (``x * x``) each Jacobian's
    label says which: ``∂v1/∂x (1st argument)``.
    """

    def __init__(self, of, wrt, argument, matrix, repeated=False):
        self.of, self.wrt, self.argument, self.matrix = of, wrt, argument, matrix
        self.repeated = repeated

    @property
    def shape(self):
        return self.matrix.shape

    @property
    def label(self):
        return _jacobian_label(self.of, self.wrt, self.argument, self.repeated)

    def __repr__(self):
        return f"LocalJacobian({self.label}, {_dims(self.shape)})"


class VJPStep:
    """One step of the backward pass: ``ḡ_wrt += ḡ_of · ∂of/∂wrt`` (1×k times k×m gives 1×m)."""

    def __init__(self, of, wrt, argument, cotangent, result, accumulates, repeated=False):
        self.of, self.wrt, self.argument = of, wrt, argument
        self.cotangent = cotangent      # ḡ_of as a 1×k row
        self.result = result            # this step's contribution to ḡ_wrt, a 1×m row
        self.accumulates = accumulates  # ḡ_wrt already had a contribution from another path
        self.repeated = repeated        # wrt is several arguments of this operation

    @property
    def jacobian_label(self):
        return _jacobian_label(self.of, self.wrt, self.argument, self.repeated)

    @property
    def text(self):
        op = "+=" if self.accumulates else "="
        k, m = self.cotangent.shape[1], self.result.shape[1]
        return (f"ḡ_{self.wrt} {op} ḡ_{self.of} · {self.jacobian_label}   (1×{k} · {k}×{m} → 1×{m})  "
                f"= {_row(self.result)}")

    def __repr__(self):
        op = "+=" if self.accumulates else "="
        return f"VJPStep(ḡ_{self.wrt} {op} ḡ_{self.of} · {self.jacobian_label})"


class Explanation:
    """What :func:`explain` found; prints as text and renders as HTML in Jupyter (the same content).

    Attributes: ``variables`` (inputs first, in argument order, output last), ``jacobians`` (one
    per traced argument of every operation, in evaluation order), ``is_chain``, ``paths`` (each a
    list of variable names from the output down to an input, with its product
    ``path_products``; ``path_arguments`` gives the argument position taken at each step),
    ``total`` (the product — or sum over paths — of the local Jacobians), ``reference``
    (``jacobian_matrix(f)`` at the point), ``max_error``, ``agrees``, ``is_identity`` (``f``
    returned an input unchanged), ``output`` (the output's Variable), and for a scalar output
    ``backward`` (the :class:`VJPStep` list) and ``gradient`` (``ḡ`` of each input, shaped like it).
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)

    # ---- the content, shared by the text and the HTML

    @property
    def inputs(self):
        return sorted((v for v in self.variables if v.position is not None), key=lambda v: v.position)

    def _header(self):
        out = self.output
        return (f"The chain rule for {out.name} = {self.function}({', '.join(v.name for v in self.inputs)}) "
                f"at the given point, in numerator layout: ∂z/∂x of z ∈ Rᵏ, x ∈ Rᵈ is k×d, "
                f"tensors strung into vectors ({self.order_text}).")

    def _total_lines(self):
        """The sentence that says how the total Jacobian is made, and its factors or paths."""
        out, ins = self.output, self.inputs
        if self.is_identity:
            others = [v.name for v in ins if v.name != out.name]
            plural = "s" if len(others) > 1 else ""
            zero = f"; the other input{plural} ({', '.join(others)}) get zero columns" if others else ""
            return [f"{self.function} returns its input {out.name} unchanged: no operation was recorded, so "
                    f"∂{out.name}/∂{out.name} is the {_dims((out.size, out.size))} identity matrix{zero}."]
        if self.is_chain:
            chain = self.paths[0]
            factors = [self._jac(a, b) for a, b in zip(chain[:-1], chain[1:])]
            return ["The total Jacobian is the product of the local Jacobians, outermost first:",
                    f"  ∂{out.name}/∂{ins[0].name} = " + " · ".join(f.label for f in factors),
                    "  shapes: " + " · ".join(f"({_dims(f.shape)})" for f in factors)
                    + f" = {_dims(self.total.shape)}"]
        lines = [self._not_a_chain_sentence()]
        for path, args, prod in zip(self.paths, self.path_arguments, self.path_products):
            lines.append(f"  path {self._path_text(path, args)}: {_dims(prod.shape)}")
        if not self.paths:
            lines.append(f"  ({self.path_count} paths: too many to list; they were summed by "
                         "accumulating J_v = Σ ∂v/∂u · J_u over the operations in order)")
        return lines

    def _not_a_chain_sentence(self):
        out, ins = self.output, self.inputs
        reasons = [f"{n} is used {k} times (fan-out)" for n, k in self.fan_out.items()]
        if len(ins) > 1:
            reasons.append(f"it has {len(ins)} inputs ({', '.join(v.name for v in ins)}), strung into one "
                           "vector")
        unused = [v.name for v in ins if v.role == "unused input"]
        if unused:
            verb = "does" if len(unused) == 1 else "do"
            reasons.append(f"{', '.join(unused)} {verb} not affect {out.name}, so its columns are zero")
        if self.path_count == 1:
            how = (f"There is one path from {out.name} to an input; the product of the local Jacobians "
                   "along it fills that input's columns:")
        else:
            how = (f"The total Jacobian is the sum over the {self.path_count} paths from the output to the "
                   "input(s) of the product of the local Jacobians along each path — the lecture's "
                   "∂zᵢ/∂xⱼ = Σₖ ∂zᵢ/∂yₖ · ∂yₖ/∂xⱼ:")
        return f"The graph is not a chain: {'; '.join(reasons)}. {how}"

    def _path_text(self, path, args):
        """``L ← v1 ← x``, with the argument taken where one operation uses a value twice."""
        text = path[0]
        for of, wrt, pos in zip(path[:-1], path[1:], args):
            repeated = any(j.repeated for j in self.jacobians if j.of == of and j.wrt == wrt)
            text += f" ← {wrt}" + (f" (as {_ordinal(pos + 1)} argument of {of})" if repeated else "")
        return text

    def _check_line(self):
        verdict = "they agree" if self.agrees else "THEY DISAGREE"
        return (f"Check: jacobian_matrix({self.function}) at the point gives the same "
                f"{_dims(self.reference.shape)} matrix up to {self.max_error:.2e} "
                f"(largest absolute difference): {verdict}.")

    _BACKWARD = ("Backward pass (reverse mode): start from ḡ = 1 at the output and push a row vector "
                 "through one local Jacobian per step — a vector–Jacobian product, never a product of "
                 "matrices:")

    def _backward_lines(self):
        """``ḡ_L = 1``, one line per VJP, then ``∂L/∂w = ḡ_w`` for every input (without indent)."""
        out = self.output
        lines = [f"ḡ_{out.name} = 1"] + [s.text for s in self.backward]
        for v in self.inputs:
            row = np.reshape(self.gradient[v.name], (1, -1), order=self.order)   # strung as the Jacobians
            lines.append(f"∂{out.name}/∂{v.name} = ḡ_{v.name} = {_row(row)}")
        return lines

    def _jac(self, of, wrt):
        return next(j for j in self.jacobians if j.of == of and j.wrt == wrt)

    # ---- text

    def __str__(self):
        return "\n".join(self._lines())

    def __repr__(self):
        return str(self)

    def _lines(self):
        lines = [self._header(), "", "Variables"]
        width = max(len(_definition(v)) for v in self.variables)
        role_width = max(len(v.role) for v in self.variables)
        for v in self.variables:
            lines.append(f"  {_definition(v):<{width}}  shape {str(v.shape):<10} {v.role:<{role_width}} "
                         f"{_summary(v.value)}")
        if self.jacobians:
            width = max(width, *(len(j.label) for j in self.jacobians))
            lines += ["", "Local Jacobians (one per operation and traced argument)"]
            for j in self.jacobians:
                lines.append(f"  {j.label:<{width}}  {_dims(j.shape)}")
                lines += _matrix_lines(j.matrix, "      ")
        lines.append("")
        lines += self._total_lines()
        lines += _matrix_lines(self.total, "      ")
        lines.append(self._check_line())
        if self.backward is not None and not self.is_identity:
            lines += ["", self._BACKWARD]
            lines += ["  " + line for line in self._backward_lines()]
        return lines

    # ---- HTML (Jupyter)

    def _repr_html_(self):
        e = html.escape
        pre = "<pre>{}</pre>".format
        parts = ["<div class='chainrule-explain'>", f"<p>{e(self._header())}</p>",
                 "<table><tr><th>variable</th><th>shape</th><th>role</th><th>value</th></tr>"]
        for v in self.variables:
            parts.append(f"<tr><td><code>{e(_definition(v))}</code></td><td>{e(str(v.shape))}</td>"
                         f"<td>{e(v.role)}</td><td>{e(_summary(v.value))}</td></tr>")
        parts.append("</table>")
        if self.jacobians:
            parts.append("<table><tr><th>local Jacobian</th><th>shape</th><th>matrix</th></tr>")
            for j in self.jacobians:
                parts.append(f"<tr><td>{e(j.label)}</td><td>{e(_dims(j.shape))}</td>"
                             f"<td>{pre(e(chr(10).join(_matrix_lines(j.matrix, ''))))}</td></tr>")
            parts.append("</table>")
        total = self._total_lines()
        parts.append(f"<p>{e(total[0])}</p>")
        if len(total) > 1:
            parts.append("<ul>" + "".join(f"<li>{e(line.strip())}</li>" for line in total[1:]) + "</ul>")
        parts.append(pre(e(chr(10).join(_matrix_lines(self.total, '')))))
        colour = "green" if self.agrees else "red"
        parts.append(f"<p style='color:{colour}'>{e(self._check_line())}</p>")
        if self.backward is not None and not self.is_identity:
            parts.append(f"<p>{e(self._BACKWARD)}</p>")
            steps = "".join(f"<li><code>{e(line)}</code></li>" for line in self._backward_lines())
            parts.append(f"<ol>{steps}</ol>")
        parts.append("</div>")
        return "".join(parts)


def explain(f, *args, argnums=0, names=None, order="C"):
    """Trace ``f(*args)`` once and explain its derivative by the chain rule.

    ``argnums`` (an int or a tuple, as in :func:`chainrule.jacobian`) selects the inputs; the
    other arguments are constants.  ``names`` optionally names the computed variables, in the
    order the operations run (the last is the output), e.g. ``names=["a", "p", "log p", "L"]``
    for ``L = -log σ(wᵀx)``; they must differ from each other and from the inputs' names.
    ``order`` strings tensors into vectors row-major (``"C"``) or column-major (``"F"``,
    MATLAB's ``x(:)``).  Returns an :class:`Explanation`.
    """
    if order not in ("C", "F"):
        raise ValueError(f"explain: order must be 'C' or 'F', got {order!r}")
    if not args:
        raise TypeError("explain: give the point to explain at, e.g. explain(f, w)")
    single = isinstance(argnums, (int, np.integer))
    nums = (int(argnums),) if single else tuple(int(a) for a in argnums)
    for a in nums:
        if not -len(args) <= a < len(args):
            raise ValueError(f"explain: argnums={argnums} but {len(args)} argument(s) were given")
    nums = tuple(a % len(args) for a in nums)
    fname = getattr(f, "__name__", type(f).__name__)          # in errors, as the transforms name f
    shown = "f" if fname == "<lambda>" else fname               # in the explanation's formulas

    nodes, out, args = trace(f, args, nums)
    _name_nodes(nodes, f, nums, names, fname)
    for n in nodes:
        if n.size is not None and out.size * n.size > _MAX_ENTRIES:
            _too_large(fname, out.name, n.name, out.size, n.size)
        for _, parent in n.parents:                # each local Jacobian, and the identity seeding it
            if n.size * max(n.size, parent.size) > _MAX_ENTRIES:
                _too_large(fname, n.name, parent.name, n.size, parent.size)

    inputs = [n for n in nodes if n.is_leaf]
    computed = [_variable(n, out) for n in nodes if not n.is_leaf]
    # every differentiated argument, in argument order; unused ones still have (zero) columns
    leaves = {n.position: n for n in inputs}
    variables = []
    for k in nums:
        leaf = leaves.get(k)
        if leaf is None:
            variables.append(Variable(_arg_name(f, k), None, [], np.shape(args[k]), np.asarray(args[k]),
                                      "unused input", k))
        else:
            role = "input and output" if leaf is out else "input"
            variables.append(Variable(leaf.name, None, [], leaf.shape, leaf.value, role, k))
    variables += computed
    output = computed[-1] if computed else next(v for v in variables if v.role == "input and output")

    jacobians, local = [], {}
    for n in nodes:
        for pos, parent in n.parents:
            m = _to_order(_matrix(_local_fn(n, pos), n.vals[pos]), n.shape, parent.shape, order)
            local[(id(n), pos)] = m
            jacobians.append(LocalJacobian(n.name, parent.name, pos, m, _repeated(n, parent)))

    # the total Jacobian: a sum over paths of products of local Jacobians
    in_sizes = {k: int(np.prod(np.shape(args[k]))) for k in nums}
    offsets, start = {}, 0
    for k in nums:
        offsets[k] = start
        start += in_sizes[k]
    dtype = np.result_type(*[np.result_type(n.value) for n in nodes])
    paths, count = _paths(out)
    path_products = []
    if count <= _MAX_PATHS:
        total = np.zeros((out.size, start), dtype)
        for path in paths:
            prod = np.eye(out.size, dtype=dtype)
            for (node, pos) in path[:-1]:
                prod = prod @ local[(id(node), pos)]
            leaf = path[-1][0]
            total[:, offsets[leaf.position]:offsets[leaf.position] + leaf.size] += prod
            path_products.append(prod)
        shown_paths = [[node.name for node, _ in p] for p in paths]
        path_arguments = [[pos for _, pos in p[:-1]] for p in paths]
    else:
        total = _accumulate(nodes, out, local, offsets, start, dtype)
        shown_paths, path_arguments = [], []

    reference = jacobian_matrix(f, argnums=nums[0] if single else nums, order=order)(*args)
    reference = np.asarray(_primal(reference))
    max_error = float(np.max(np.abs(total - reference))) if total.size else 0.0
    scale = max(1.0, float(np.max(np.abs(reference))) if reference.size else 1.0)
    tol = (1e-4 if dtype == np.float32 else 1e-10) * scale
    fan_out = _fan_out(nodes)

    backward = gradient = None
    if out.size == 1:
        grads, raw = backward_cotangents(nodes, out)
        backward = [VJPStep(n.name, p.name, pos, np.reshape(g, (1, -1), order=order),
                            np.reshape(c, (1, -1), order=order), acc, _repeated(n, p))
                    for n, p, pos, g, c, acc in raw]
        gradient = {}
        for v in variables[:len(nums)]:
            leaf = leaves.get(v.position)
            value = grads.get(id(leaf)) if leaf is not None else None
            gradient[v.name] = np.zeros(np.shape(args[v.position]), dtype) if value is None else value

    return Explanation(
        function=shown, variables=variables, output=output, jacobians=jacobians,
        is_chain=count == 1 and len(nums) == 1, is_identity=out.is_leaf,
        paths=shown_paths, path_arguments=path_arguments, path_products=path_products, path_count=count,
        fan_out=fan_out, total=total, reference=reference, max_error=max_error, agrees=max_error <= tol,
        backward=backward, gradient=gradient, order=order,
        order_text="row-major, NumPy's ravel" if order == "C" else "column-major, MATLAB's x(:)")


# --------------------------------------------------------------------------- helpers

def _too_large(fname, of, wrt, k, d):
    raise ValueError(f"explain of {fname}: the Jacobian ∂{of}/∂{wrt} would have {k}×{d} entries; "
                     "explain is for small examples — use smaller inputs (e.g. a batch of 2)")


def _arg_name(f, k):
    try:
        params = [p for p in inspect.signature(f).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return params[k].name if k < len(params) else f"x{k}"


def _name_nodes(nodes, f, nums, names, fname):
    computed = [n for n in nodes if not n.is_leaf]
    taken = {_arg_name(f, k) for k in nums}
    for n in nodes:
        if n.is_leaf:
            n.name = _arg_name(f, n.position)
    if names is not None:
        names = [str(s) for s in names]
        if len(names) != len(computed):
            ops = ", ".join(n.op for n in computed)
            entries = f"{len(names)} entr{'y' if len(names) == 1 else 'ies'}"
            raise ValueError(f"explain of {fname}: names has {entries} but the function records "
                             f"{len(computed)} operation{'' if len(computed) == 1 else 's'} ({ops}); "
                             "give one name per operation")
        repeated = sorted({s for s in names if names.count(s) > 1})
        if repeated:
            raise ValueError(f"explain of {fname}: names must differ from each other, but "
                             f"{', '.join(map(repr, repeated))} appear{'s' if len(repeated) == 1 else ''} "
                             "more than once")
        clash = sorted(taken.intersection(names))
        if clash:
            what = "is the name of an input" if len(clash) == 1 else "are the names of inputs"
            raise ValueError(f"explain of {fname}: names gives {', '.join(map(repr, clash))}, which {what}; "
                             "give the computed variables other names")
        for n, s in zip(computed, names):
            n.name = s
        return
    out = nodes[-1]
    k = 0
    for n in computed[:-1]:
        k += 1
        while f"v{k}" in taken:                 # an input may be called v1 too
            k += 1
        n.name = f"v{k}"
    if out.is_leaf:
        return                                  # f returned an input: the output keeps its name
    name = "L" if out.size == 1 else "y"
    while name in taken:
        name += "'"
    out.name = name


def _variable(n, out):
    op = n.op if n.index is None else f"{n.op}[{n.index}]"
    inputs = operation_arguments(n, lambda parent: parent.name, _constant_text)
    return Variable(n.name, op, inputs, n.shape, n.value, "output" if n is out else "intermediate")


def _constant_text(v):
    if not isinstance(v, (np.ndarray, np.generic, Tensor)):
        return repr(v)
    a = np.asarray(_primal(v))
    if a.size == 1:
        return f"{a.item():.4g}"
    return f"const{a.shape}"


# ---- readable operation labels: sum(v1, axis=0), einsum('a,b->ab', v1, v2)

_REDUCTIONS = {"sum", "max", "min", "prod"}
_parameter_names = {}


def _impl_parameters(prim):
    """The names of the implementation's positional parameters, up to a ``*args``."""
    names = _parameter_names.get(prim)
    if names is None:
        try:
            params = list(inspect.signature(prim.impl).parameters.values())
        except (TypeError, ValueError):
            params = []
        names = []
        for p in params:
            if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                break
            names.append(p.name)
        _parameter_names[prim] = names
    return names


def operation_arguments(node, operand_text, constant_text):
    """The arguments of ``node``'s operation as NumPy would be called with them: traced operands
    by ``operand_text(parent)``, constant operands by ``constant_text(value)`` (either may return
    None to leave one out), static parameters as ``name=value`` with their defaults left out."""
    traced = dict(node.parents)
    vals = node.vals if isinstance(node.vals, (list, tuple)) else ()
    names = _impl_parameters(node.prim) if node.prim is not None else []
    first = next((traced[i] for i in sorted(traced)), None)
    ndim = len(first.shape) if first is not None and first.shape is not None else None
    out = []
    kw = dict(node.kw or {})
    if node.op == "einsum" and "spec" in kw:
        ins, res = kw.pop("spec")
        out.append(repr(",".join(ins) + "->" + res))
    for i, v in enumerate(vals):
        if i in traced:
            text = operand_text(traced[i])
        elif isinstance(v, (np.ndarray, np.generic, Tensor)) or i >= len(names) or i == 0:
            text = constant_text(v)
        else:
            text = _static_text(node.op, names[i], v, ndim)
        if text is not None:
            out.append(text)
    for key, v in kw.items():
        text = _static_text(node.op, key, v, ndim)
        if text is not None:
            out.append(text)
    return out


def _static_text(op, name, v, ndim):
    """``name=value`` for a static parameter, or None where it is NumPy's default."""
    if v is None or (name == "keepdims" and v is False):
        return None
    if name in ("axis", "axes") and isinstance(v, tuple):
        everything = ndim is not None and sorted(v) == list(range(ndim))
        if op in _REDUCTIONS and everything:
            return None                         # sum(x): over every axis
        if op == "transpose" and ndim is not None and v == tuple(range(ndim))[::-1]:
            return None                         # transpose(x) = x.T
        if op in _REDUCTIONS:
            name = "axis"
        text = str(v[0]) if len(v) == 1 and name == "axis" else str(v)
    elif name == "idx":
        return "[" + _index_text(v) + "]"
    elif name == "dtype":
        text = np.dtype(v).name
    else:
        text = repr(v)
    return f"{name}={text}"


def _index_text(idx):
    parts = idx if isinstance(idx, tuple) else (idx,)
    texts = []
    for k in parts:
        if isinstance(k, slice):
            text = ("" if k.start is None else str(k.start)) + ":" + ("" if k.stop is None else str(k.stop))
            texts.append(text if k.step is None else f"{text}:{k.step}")
        elif k is Ellipsis:
            texts.append("...")
        elif k is None:
            texts.append("None")
        elif isinstance(k, np.ndarray):
            texts.append(str(k.tolist()) if k.size <= 6 else f"array{k.shape}")
        else:
            texts.append(str(k))
    return ", ".join(texts)


def _ordinal(k):
    return f"{k}{'th' if 10 <= k % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


def _definition(v):
    if v.op is None:
        return v.name
    return f"{v.name} = {v.op}({', '.join(v.inputs)})"


def _matrix(fn, x):
    return np.asarray(_primal(jacobian_matrix(fn)(x)))


def _to_order(m, out_shape, in_shape, order):
    """Re-string a C-order local Jacobian in column-major order (MATLAB's x(:))."""
    if order == "C":
        return m
    k, d = m.shape
    t = m.reshape(tuple(out_shape) + tuple(in_shape))
    no, ni = len(out_shape), len(in_shape)
    t = np.transpose(t, tuple(range(no))[::-1] + tuple(range(no, no + ni))[::-1])
    return t.reshape(k, d)


def _paths(out):
    """Every path from the output down to an input as [(node, argument position), ..., (leaf, None)].

    Stops listing beyond ``_MAX_PATHS`` but still counts (by dynamic programming).
    """
    counts = {}

    def count(node):
        stack = [node]
        order = []
        seen = set()
        while stack:
            n = stack.pop()
            if id(n) in seen:
                continue
            seen.add(id(n))
            order.append(n)
            stack.extend(p for _, p in n.parents)
        for n in sorted(order, key=lambda n: n.engine_node.seq):
            counts[id(n)] = 1 if n.is_leaf else sum(counts[id(p)] for _, p in n.parents)
        return counts[id(node)]

    total = count(out)
    if total > _MAX_PATHS:
        return [], total
    paths = []
    stack = [(out, [])]
    while stack:
        node, prefix = stack.pop()
        if node.is_leaf:
            paths.append(prefix + [(node, None)])
            continue
        for pos, parent in reversed(node.parents):
            stack.append((parent, prefix + [(node, pos)]))
    return paths, total


def _accumulate(nodes, out, local, offsets, width, dtype):
    """Forward accumulation J_v = Σ_u ∂v/∂u · J_u: the sum over paths without listing them."""
    jac = {}
    for n in nodes:
        if n.is_leaf:
            j = np.zeros((n.size, width), dtype)
            j[:, offsets[n.position]:offsets[n.position] + n.size] = np.eye(n.size, dtype=dtype)
        else:
            j = np.zeros((n.size, width), dtype)
            for pos, p in n.parents:
                j += local[(id(n), pos)] @ jac[id(p)]
        jac[id(n)] = j
    return jac[id(out)]


def _fan_out(nodes):
    uses = {}
    for n in nodes:
        for _, p in n.parents:
            uses[p.name] = uses.get(p.name, 0) + 1
    return {name: k for name, k in uses.items() if k > 1}


def _dims(shape):
    return "×".join(str(s) for s in shape) if len(shape) > 1 else f"1×{shape[0]}" if shape else "1×1"


def _summary(value):
    if value is None:
        return "(freed)"
    a = np.asarray(value)
    if a.size <= 6:
        text = np.array2string(a + 0.0, precision=4, suppress_small=True, separator=", ")
        return " ".join(text.split())
    return f"min {a.min():.4g}, mean {a.mean():.4g}, max {a.max():.4g}"


def _row(row):
    return _summary(row.reshape(-1)) if row.size > 6 else np.array2string(
        np.asarray(row).reshape(-1), precision=4, suppress_small=True, separator=", ")


def _matrix_lines(m, indent):
    if m.size <= 64:
        text = np.array2string(m + 0.0, precision=4, suppress_small=True, separator=", ", max_line_width=100)
        return [indent + line for line in text.splitlines()]
    return [f"{indent}({_dims(m.shape)} matrix; largest |entry| {np.max(np.abs(m)):.4g}, "
            f"{np.count_nonzero(m)} nonzero entries)"]


class _CallableModule(types.ModuleType):
    """``chainrule.explain`` is both this module and the function: calling the module explains."""

    def __call__(self, f, *args, **kwargs):
        return explain(f, *args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
