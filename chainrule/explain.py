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
"""

from __future__ import annotations

import html
import inspect

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
    """A value of the computation: ``name = op(inputs)`` with its shape (``op`` None for an input)."""

    def __init__(self, name, op, inputs, shape, value, role):
        self.name, self.op, self.inputs, self.shape, self.value, self.role = \
            name, op, inputs, shape, value, role

    @property
    def size(self):
        return int(np.prod(self.shape))

    def __repr__(self):
        return f"Variable({self.name!r}, op={self.op!r}, shape={self.shape}, role={self.role!r})"


class LocalJacobian:
    """``∂of/∂wrt`` of one operation, k×m in numerator layout (``argument`` is its position)."""

    def __init__(self, of, wrt, argument, matrix):
        self.of, self.wrt, self.argument, self.matrix = of, wrt, argument, matrix

    @property
    def shape(self):
        return self.matrix.shape

    @property
    def label(self):
        return f"∂{self.of}/∂{self.wrt}"

    def __repr__(self):
        return f"LocalJacobian({self.label}, {_dims(self.shape)})"


class VJPStep:
    """One step of the backward pass: ``ḡ_wrt += ḡ_of · ∂of/∂wrt`` (1×k times k×m gives 1×m)."""

    def __init__(self, of, wrt, argument, cotangent, result, accumulates):
        self.of, self.wrt, self.argument = of, wrt, argument
        self.cotangent = cotangent      # ḡ_of as a 1×k row
        self.result = result            # this step's contribution to ḡ_wrt, a 1×m row
        self.accumulates = accumulates  # ḡ_wrt already had a contribution from another path

    def __repr__(self):
        op = "+=" if self.accumulates else "="
        return f"VJPStep(ḡ_{self.wrt} {op} ḡ_{self.of} · ∂{self.of}/∂{self.wrt})"


class Explanation:
    """What :func:`explain` found; prints as text and renders as HTML in Jupyter.

    Attributes: ``variables`` (inputs first, output last), ``jacobians`` (one per traced
    argument of every operation, in evaluation order), ``is_chain``, ``paths`` (each a list of
    variable names from the output down to an input, with its product ``path_products``),
    ``total`` (the product — or sum over paths — of the local Jacobians), ``reference``
    (``jacobian_matrix(f)`` at the point), ``max_error``, ``agrees``, and for a scalar output
    ``backward`` (the :class:`VJPStep` list) and ``gradient`` (``ḡ`` of each input, shaped like it).
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)

    # ---- text

    def __str__(self):
        return "\n".join(self._lines())

    def __repr__(self):
        return str(self)

    def _lines(self):
        out = self.variables[-1]
        ins = [v for v in self.variables if v.role == "input"]
        lines = [f"The chain rule for {out.name} = {self.function}({', '.join(v.name for v in ins)}) "
                 f"at the given point, in numerator layout: ∂z/∂x of z ∈ Rᵏ, x ∈ Rᵈ is k×d, "
                 f"tensors strung into vectors ({self.order_text}).", "", "Variables"]
        width = max(len(_definition(v)) for v in self.variables)
        for v in self.variables:
            lines.append(f"  {_definition(v):<{width}}  shape {str(v.shape):<10} {v.role:<12} "
                         f"{_summary(v.value)}")
        lines += ["", "Local Jacobians (one per operation and traced argument)"]
        for j in self.jacobians:
            lines.append(f"  {j.label:<{width}}  {_dims(j.shape)}")
            lines += _matrix_lines(j.matrix, "      ")
        lines.append("")
        dep = ", ".join(ins_.name for ins_ in ins)
        if self.is_chain:
            chain = self.paths[0]
            factors = [self._jac(a, b) for a, b in zip(chain[:-1], chain[1:])]
            lines.append("The total Jacobian is the product of the local Jacobians, outermost first:")
            lines.append(f"  ∂{out.name}/∂{dep} = " + " · ".join(f.label for f in factors))
            lines.append("  shapes: " + " · ".join(f"({_dims(f.shape)})" for f in factors)
                         + f" = {_dims(self.total.shape)}")
        else:
            lines.append(self._fan_out_sentence())
            for path, prod in zip(self.paths, self.path_products):
                lines.append("  path " + " ← ".join(path) + f": {_dims(prod.shape)}")
            if not self.paths:
                lines.append(f"  ({self.path_count} paths: too many to list; they were summed by "
                             "accumulating J_v = Σ ∂v/∂u · J_u over the operations in order)")
        lines += _matrix_lines(self.total, "      ")
        verdict = "they agree" if self.agrees else "THEY DISAGREE"
        lines.append(f"Check: jacobian_matrix({self.function}) at the point gives the same "
                     f"{_dims(self.reference.shape)} matrix up to {self.max_error:.2e} "
                     f"(largest absolute difference): {verdict}.")
        if self.backward is not None:
            lines += ["", "Backward pass (reverse mode): start from ḡ = 1 at the output and push a row "
                      "vector through one local Jacobian per step — a vector–Jacobian product, never a "
                      "product of matrices:"]
            lines.append(f"  ḡ_{out.name} = 1")
            for s in self.backward:
                op = "+=" if s.accumulates else "="
                lines.append(f"  ḡ_{s.wrt} {op} ḡ_{s.of} · ∂{s.of}/∂{s.wrt}   "
                             f"(1×{s.cotangent.shape[1]} · {s.cotangent.shape[1]}×{s.result.shape[1]} "
                             f"→ 1×{s.result.shape[1]})  = {_row(s.result)}")
            for v in ins:
                row = _row(self.gradient[v.name].reshape(1, -1))
                lines.append(f"  ∂{out.name}/∂{v.name} = ḡ_{v.name} = {row}")
        return lines

    def _jac(self, of, wrt):
        return next(j for j in self.jacobians if j.of == of and j.wrt == wrt)

    def _fan_out_sentence(self):
        reasons = [f"{n} is used {k} times (fan-out)" for n, k in self.fan_out.items()]
        ins = [v.name for v in self.variables if v.role == "input"]
        if len(ins) > 1:
            reasons.append(f"it has {len(ins)} inputs ({', '.join(ins)}), strung into one vector")
        return (f"The graph is not a chain: {'; '.join(reasons)}. The total Jacobian is the sum over the "
                f"{self.path_count} paths from the output to the input(s) of the product of the local "
                "Jacobians along each path — the lecture's ∂zᵢ/∂xⱼ = Σₖ ∂zᵢ/∂yₖ · ∂yₖ/∂xⱼ:")

    # ---- HTML (Jupyter)

    def _repr_html_(self):
        e = html.escape
        out = self.variables[-1]
        parts = ["<div class='chainrule-explain'>",
                 f"<p><b>Chain rule for {e(out.name)} = {e(self.function)}(…)</b>, numerator layout, "
                 f"tensors strung into vectors ({e(self.order_text)}).</p>",
                 "<table><tr><th>variable</th><th>shape</th><th>role</th><th>value</th></tr>"]
        for v in self.variables:
            parts.append(f"<tr><td><code>{e(_definition(v))}</code></td><td>{e(str(v.shape))}</td>"
                         f"<td>{e(v.role)}</td><td>{e(_summary(v.value))}</td></tr>")
        parts.append("</table><table><tr><th>local Jacobian</th><th>shape</th><th>matrix</th></tr>")
        for j in self.jacobians:
            parts.append(f"<tr><td>{e(j.label)}</td><td>{e(_dims(j.shape))}</td>"
                         f"<td><pre>{e(chr(10).join(_matrix_lines(j.matrix, '')))}</pre></td></tr>")
        parts.append("</table>")
        if self.is_chain:
            chain = self.paths[0]
            factors = [self._jac(a, b) for a, b in zip(chain[:-1], chain[1:])]
            parts.append("<p>Total Jacobian = " + " · ".join(e(f.label) for f in factors) + " : "
                         + " · ".join(f"({e(_dims(f.shape))})" for f in factors)
                         + f" = {e(_dims(self.total.shape))}</p>")
        else:
            parts.append(f"<p>{e(self._fan_out_sentence())}</p>")
        parts.append(f"<pre>{e(chr(10).join(_matrix_lines(self.total, '')))}</pre>")
        colour = "green" if self.agrees else "red"
        parts.append(f"<p style='color:{colour}'>check against jacobian_matrix: largest difference "
                     f"{self.max_error:.2e} ({'agree' if self.agrees else 'disagree'})</p>")
        if self.backward is not None:
            parts.append("<p>Backward pass (vector–Jacobian products):</p><ol>")
            for s in self.backward:
                op = "+=" if s.accumulates else "="
                parts.append(f"<li>ḡ<sub>{e(s.wrt)}</sub> {op} ḡ<sub>{e(s.of)}</sub> · "
                             f"∂{e(s.of)}/∂{e(s.wrt)} = <code>{e(_row(s.result))}</code></li>")
            parts.append("</ol>")
        parts.append("</div>")
        return "".join(parts)


def explain(f, *args, argnums=0, names=None, order="C"):
    """Trace ``f(*args)`` once and explain its derivative by the chain rule.

    ``argnums`` (an int or a tuple, as in :func:`chainrule.jacobian`) selects the inputs; the
    other arguments are constants.  ``names`` optionally names the computed variables, in the
    order the operations run (the last is the output), e.g. ``names=["a", "p", "log p", "L"]``
    for ``L = -log σ(wᵀx)``.  ``order`` strings tensors into vectors row-major (``"C"``) or
    column-major (``"F"``, MATLAB's ``x(:)``).  Returns an :class:`Explanation`.
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
    fname = getattr(f, "__name__", type(f).__name__)
    if fname == "<lambda>":
        fname = "f"

    nodes, out, args = trace(f, args, nums)
    _name_nodes(nodes, f, nums, names, fname)
    for n in nodes:
        if n.size is not None and out.size * n.size > _MAX_ENTRIES:
            raise ValueError(f"explain of {fname}: the Jacobian ∂{out.name}/∂{n.name} would have "
                             f"{out.size}×{n.size} entries; explain is for small examples — "
                             "use smaller inputs (e.g. a batch of 2)")

    inputs = [n for n in nodes if n.is_leaf]
    variables = [_variable(n, out) for n in nodes]
    # unused inputs still belong to the total Jacobian (as zero columns)
    for k in nums:
        if not any(n.position == k for n in inputs):
            value = np.asarray(args[k])
            name = _arg_name(f, k)
            variables.insert(0, Variable(name, None, [], value.shape, value, "input (unused)"))

    jacobians, local = [], {}
    for n in nodes:
        for pos, parent in n.parents:
            m = _to_order(_matrix(_local_fn(n, pos), n.vals[pos]), n.shape, parent.shape, order)
            local[(id(n), pos)] = m
            jacobians.append(LocalJacobian(n.name, parent.name, pos, m))

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
    else:
        total = _accumulate(nodes, out, local, offsets, start, dtype)
        shown_paths = []

    reference = jacobian_matrix(f, argnums=nums[0] if single else nums, order=order)(*args)
    reference = np.asarray(_primal(reference))
    max_error = float(np.max(np.abs(total - reference))) if total.size else 0.0
    scale = max(1.0, float(np.max(np.abs(reference))) if reference.size else 1.0)
    tol = (1e-4 if dtype == np.float32 else 1e-10) * scale
    fan_out = _fan_out(nodes)

    backward = gradient = None
    if out.size == 1:
        grads, raw = backward_cotangents(nodes, out)
        backward = [VJPStep(n.name, p.name, pos, np.reshape(g, (1, -1)), np.reshape(c, (1, -1)), acc)
                    for n, p, pos, g, c, acc in raw]
        gradient = {}
        for k in nums:
            leaf = next((n for n in inputs if n.position == k), None)
            name = leaf.name if leaf is not None else _arg_name(f, k)
            value = grads.get(id(leaf)) if leaf is not None else None
            gradient[name] = np.zeros(np.shape(args[k]), dtype) if value is None else value

    return Explanation(
        function=fname, variables=variables, jacobians=jacobians, is_chain=count == 1 and len(nums) == 1,
        paths=shown_paths, path_products=path_products, path_count=count, fan_out=fan_out,
        total=total, reference=reference, max_error=max_error, agrees=max_error <= tol,
        backward=backward, gradient=gradient, order=order,
        order_text="row-major, NumPy's ravel" if order == "C" else "column-major, MATLAB's x(:)")


# --------------------------------------------------------------------------- helpers

def _arg_name(f, k):
    try:
        params = [p for p in inspect.signature(f).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return params[k].name if k < len(params) else f"x{k}"


def _name_nodes(nodes, f, nums, names, fname):
    computed = [n for n in nodes if not n.is_leaf]
    taken = set()
    for n in nodes:
        if n.is_leaf:
            n.name = _arg_name(f, n.position)
            taken.add(n.name)
    if names is not None:
        names = [str(s) for s in names]
        if len(names) != len(computed):
            ops = ", ".join(n.op for n in computed)
            raise ValueError(f"explain of {fname}: names has {len(names)} entries but the function "
                             f"records {len(computed)} operations ({ops}); give one name per operation")
        for n, s in zip(computed, names):
            n.name = s
        return
    out = nodes[-1]
    for k, n in enumerate(computed[:-1], 1):
        n.name = f"v{k}"
    name = "L" if out.size == 1 else "y"
    while name in taken:
        name += "'"
    out.name = name


def _variable(n, out):
    if n.is_leaf:
        return Variable(n.name, None, [], n.shape, n.value, "input")
    inputs = []
    traced = dict(n.parents)
    for i, v in enumerate(n.vals):
        if i in traced:
            inputs.append(traced[i].name)
        else:
            inputs.append(_constant_text(v))
    inputs += [f"{k}={v!r}" for k, v in n.kw.items()]
    op = n.op if n.index is None else f"{n.op}[{n.index}]"
    return Variable(n.name, op, inputs, n.shape, n.value, "output" if n is out else "intermediate")


def _constant_text(v):
    if not isinstance(v, (np.ndarray, np.generic, Tensor)):
        return repr(v)
    a = np.asarray(_primal(v))
    if a.size == 1:
        return f"{a.item():.4g}"
    return f"const{a.shape}"


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
