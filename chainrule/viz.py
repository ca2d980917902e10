"""Pictures of what the engine does: computation graphs (graphviz) and the lecture's plots (matplotlib).

* :func:`draw_graph` — the recorded operations of ``f(*args)`` or of a Tensor, with shapes,
  values and gradients, as a ``graphviz.Digraph`` (rendered to SVG/PNG/PDF, or DOT source);
* :func:`plot_activations` — activation functions beside their derivatives;
* :func:`plot_history` — training curves from a :class:`chainrule.train.History` or a
  ``metrics.json`` written by ``chainrule train``;
* :func:`plot_decision_boundary` — the regions a 2-D classifier assigns to each class;
* :func:`plot_gradient_norms` (with :func:`gradient_norms`) — the gradient norm of each layer.

graphviz and matplotlib are optional: ``pip install "chainrule[viz]"``.  The plots are built on
``matplotlib.figure.Figure`` directly, without pyplot, so they never need a display (and never
change the backend of a notebook); each returns its Figure and saves it when ``path`` is given.
"""

from __future__ import annotations

import json
import textwrap
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ._core import Tensor, _primal
from ._io import atomic_path, write_atomic
from .explain import backward_cotangents, operation_arguments, trace, walk

__all__ = ["draw_graph", "GraphvizNotFoundWarning", "plot_activations", "plot_history",
           "plot_decision_boundary", "plot_gradient_norms", "gradient_norms", "ACTIVATION_COLOURS"]

# one colour per activation, the same in every figure (runs labelled by an activation use it too)
ACTIVATION_COLOURS = {"linear": "#7f7f7f", "identity": "#7f7f7f", "logistic": "#1f77b4", "tanh": "#d62728",
                      "relu": "#2ca02c", "maxout": "#9467bd", "leaky_relu": "#ff7f0e", "softplus": "#8c564b"}
_OTHER_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#bcbd22"]


def _colours(labels):
    """A colour per label: the activation's own where a label names one, else the next free one."""
    free = iter([c for c in _OTHER_COLOURS if c not in {ACTIVATION_COLOURS.get(k) for k in labels}]
                + _OTHER_COLOURS * len(labels))
    return {k: ACTIVATION_COLOURS.get(k) or next(free) for k in labels}


def _integer_ticks(axis):
    from matplotlib.ticker import MaxNLocator
    axis.set_major_locator(MaxNLocator(integer=True))

_INSTALL_DOT = ("install the Graphviz programs: `apt-get install graphviz` (Debian/Ubuntu), "
                "`brew install graphviz` (macOS), `conda install graphviz` or "
                "https://graphviz.org/download/ (Windows)")


class GraphvizNotFoundWarning(UserWarning):
    """The Graphviz program ``dot`` is missing: the DOT source was written instead of an image."""


def _graphviz():
    try:
        import graphviz
    except ImportError as e:
        raise ImportError('draw_graph needs the graphviz Python package: pip install "chainrule[viz]"') from e
    return graphviz


def _figure(*args, **kwargs):
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError('chainrule.viz plots need matplotlib: pip install "chainrule[viz]"') from e
    return Figure(*args, **kwargs)


def _save(fig, path):
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110)
    return fig


# --------------------------------------------------------------------------- computation graphs

def draw_graph(target, *args, params=None, filename=None, format=None, show_values=True,
               show_grads=True, rankdir="TB"):
    """The computation graph of ``target(*args)`` (a function) or of ``target`` (a Tensor).

    * For a function, every floating-point argument is traced.  For a scalar output each
      node also shows ``∂out/∂node``, computed by the backward pass (one VJP per operation).
    * For a Tensor of the object API the graph recorded since its leaves were created is
      drawn; leaves show their ``.grad`` once ``backward()`` has run.  ``params`` (a mapping
      ``name → Tensor`` such as ``dict(model.named_parameters())``) names the leaves.  Call
      ``backward(retain_graph=True)`` to keep the intermediate values that ``backward()``
      otherwise frees.

    Returns a ``graphviz.Digraph``: ``.source`` is its DOT text, and Jupyter shows it as SVG.
    With ``filename`` it is also rendered there (``format`` defaults to the suffix, else svg;
    ``"dot"`` writes the source only; a filename ending in ``.dot`` with another ``format``
    names the source, rendered beside it as ``<stem>.<format>``; any other suffix that differs
    from ``format`` is refused).  The DOT source is always written beside it as
    ``<stem>.dot``; if the Graphviz program ``dot`` is missing, a
    :class:`GraphvizNotFoundWarning` says how to install it and only the source is written.
    """
    graphviz = _graphviz()
    if isinstance(target, Tensor):
        if args:
            raise TypeError("draw_graph(tensor) takes no further arguments; for a function use "
                            "draw_graph(f, *args)")
        nodes, names, grads, out = _tensor_graph(target, params)
    elif callable(target):
        nodes, names, grads, out = _function_graph(target, args, show_grads)
    else:
        raise TypeError(f"draw_graph: expected a function or a Tensor, got {type(target).__name__}")

    dot = graphviz.Digraph("chainrule", graph_attr={"rankdir": rankdir, "fontsize": "10"},
                           node_attr={"fontname": "Helvetica", "fontsize": "10"},
                           edge_attr={"arrowsize": "0.7"})
    ids = {}
    for k, n in enumerate(nodes):
        ids[id(n)] = f"n{k}"
        lines = [names[id(n)]] if n.is_leaf else [_op_text(n)]
        if n.shape is not None:
            lines.append(f"shape {n.shape}")
        if show_values:
            lines.append(_value_text(n.value))
        g = grads.get(id(n))
        if show_grads and g is not None:
            lines.append(f"grad {_value_text(g)}")
        if n.is_leaf:
            style = {"shape": "ellipse", "style": "filled", "fillcolor": "#dbe9f6"}
        elif n is out:
            style = {"shape": "box", "style": "filled,bold", "fillcolor": "#fde2c8"}
        else:
            style = {"shape": "box", "style": "rounded"}
        dot.node(f"n{k}", "\\n".join(lines), **style)
    for k, n in enumerate(nodes):
        traced = dict(n.parents)
        for _, p in n.parents:
            dot.edge(ids[id(p)], f"n{k}")
        if n.vals is None or n.is_leaf or not isinstance(n.vals, (list, tuple)):
            continue
        for pos, v in enumerate(n.vals):
            if pos in traced or not isinstance(v, (np.ndarray, Tensor)) or np.size(_primal(v)) <= 1:
                continue
            cid = f"n{k}c{pos}"
            text = f"constant\\nshape {np.shape(_primal(v))}"
            if show_values:
                text += "\\n" + _value_text(np.asarray(_primal(v)))
            dot.node(cid, text, shape="plaintext", fontcolor="#666666")
            dot.edge(cid, f"n{k}", style="dashed", color="#999999")
    if filename is not None:
        _render(dot, graphviz, Path(filename), format)
    return dot


def _function_graph(f, args, show_grads):
    positions = tuple(k for k, a in enumerate(args)
                      if isinstance(a, (float, np.floating, np.ndarray, Tensor))
                      and np.issubdtype(np.result_type(_primal(a)), np.inexact))
    if not positions:
        raise ValueError("draw_graph: no floating-point argument to trace; pass arrays of floats")
    nodes, out, _ = trace(f, args, positions, what="draw_graph")
    try:
        import inspect
        params = [p.name for p in inspect.signature(f).parameters.values()]
    except (TypeError, ValueError):
        params = []
    names = {id(n): (params[n.position] if n.position < len(params) else f"x{n.position}")
             for n in nodes if n.is_leaf}
    grads = {}
    if show_grads and out.size == 1:
        grads, _ = backward_cotangents(nodes, out)
    return nodes, names, grads, out


def _tensor_graph(t, params):
    node = t._node
    if t._trace is None or node is None:
        raise ValueError("draw_graph: this tensor records no computation; create its inputs with "
                         "requires_grad=True (and not under no_grad())")
    nodes = walk(node)
    by_node = {}
    for name, p in (params or {}).items():
        if isinstance(p, Tensor) and p._node is not None:
            by_node[id(p._node)] = name
    names, grads = {}, {}
    k = 0
    for n in nodes:
        if not n.is_leaf:
            continue
        ref = n.engine_node.leaf
        leaf = ref() if ref is not None else None
        if n.value is None and leaf is not None:
            n.value = leaf.data
        names[id(n)] = by_node.get(id(n.engine_node)) or f"leaf {k}"
        k += 1
        if leaf is not None and leaf.grad is not None:
            grads[id(n)] = leaf.grad
    if nodes[-1].value is None:
        nodes[-1].value = t.data
    return nodes, names, grads, nodes[-1]


def _op_text(n):
    """``sum(axis=0)``: the operation with its static parameters and scalar constants; the traced
    operands are the incoming edges, constant arrays the dashed nodes."""
    name = n.op if n.index is None else f"{n.op}[{n.index}]"
    extras = operation_arguments(n, lambda parent: None, _scalar_text)
    text = f"{name}({', '.join(extras)})" if extras else name
    if len(text) <= 40:
        return text
    # too wide for one line: the name, then the arguments wrapped (graphviz's line break is \n)
    return "\\n".join([name] + textwrap.wrap(", ".join(extras), 40))


def _scalar_text(v):
    if not isinstance(v, (np.ndarray, np.generic, Tensor)):
        return f"{v:g}" if isinstance(v, float) else repr(v)
    a = np.asarray(_primal(v))
    return f"{a.item():.4g}" if a.size == 1 else None


def _value_text(v):
    if v is None:
        return "(freed by backward)"
    a = np.asarray(v)
    if a.size <= 4:
        return " ".join(np.array2string(a + 0.0, precision=3, suppress_small=True, separator=", ").split())
    return f"mean {a.mean():.3g}, std {a.std():.3g}\\nmin {a.min():.3g}, max {a.max():.3g}"


def _render(dot, graphviz, path, format):
    suffix = path.suffix[1:]
    fmt = format or suffix or "svg"
    source = suffix in ("dot", "gv")              # a .dot filename names the source file
    if format and suffix and format != suffix and not source:
        raise ValueError(f"draw_graph: filename {path.name!r} ends in .{suffix} but format is {format!r}; "
                         f"end the filename in .{format}, or leave format out")
    path.parent.mkdir(parents=True, exist_ok=True)
    source_path = path if source or fmt in ("dot", "gv") else path.with_suffix(".dot")
    write_atomic(source_path, dot.source)
    if fmt in ("dot", "gv"):
        return
    target = path if suffix and not source else path.with_suffix("." + fmt)
    try:
        graphviz.render("dot", fmt, source_path, outfile=target)
    except graphviz.ExecutableNotFound:
        warnings.warn(f"draw_graph: the Graphviz program `dot` was not found, so {target} was not "
                      f"rendered; the DOT source is in {source_path}. To render it, {_INSTALL_DOT}; "
                      f"then run `dot -T{fmt} {source_path} -o {target}`.",
                      GraphvizNotFoundWarning, stacklevel=3)


# --------------------------------------------------------------------------- activations

def _maxout_example(a):
    """The maxout unit max{a, -a/2} of one input (two pieces, w₁ = 1 and w₂ = -1/2)."""
    from . import numpy as cnp
    from .nn.activations import maxout
    pieces = cnp.stack([a, a * -0.5], axis=-1)
    return cnp.reshape(maxout(pieces, 2), np.shape(_primal(a)))


def _activation_functions():
    from .nn import activations as act
    return {"linear": (act.identity, "linear  f(a) = a"),
            "logistic": (act.logistic, "logistic  σ(a)"),
            "tanh": (act.tanh, "tanh(a)"),
            "relu": (act.relu, "ReLU  max{0, a}"),
            "maxout": (_maxout_example, "maxout  max{a, −a/2}"),
            "leaky_relu": (act.leaky_relu, "leaky ReLU  max{0.01a, a}"),
            "softplus": (act.softplus, "softplus  log(1 + eᵃ)")}


def activation_curves(names=("linear", "logistic", "tanh", "relu", "maxout"), a=None):
    """``{name: (a, f(a), f'(a))}``: each derivative computed by chainrule (a VJP with ones)."""
    from .transforms import vjp
    table = _activation_functions()
    a = np.linspace(-4.0, 4.0, 401) if a is None else np.asarray(a, dtype=np.float64)
    curves = {}
    for name in names:
        if name not in table:
            raise ValueError(f"plot_activations: unknown activation {name!r}; choose from {sorted(table)}")
        fn = table[name][0]
        value, pull = vjp(fn, a)
        # the Jacobian of an elementwise function is diagonal, so ones · J is its diagonal f'(a)
        curves[name] = (a, np.asarray(_primal(value)), np.asarray(_primal(pull(np.ones_like(a))[0])))
    return curves


def plot_activations(names=("linear", "logistic", "tanh", "relu", "maxout"), a=None, path=None):
    """One panel per activation: ``f(a)`` and its derivative ``f'(a)`` (by chainrule)."""
    curves = activation_curves(names, a)
    titles = _activation_functions()
    fig = _figure(figsize=(3.2 * len(curves), 3.2), layout="constrained")
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, (name, (x, f, df)) in zip(axes, curves.items()):
        colour = ACTIVATION_COLOURS[name]
        ax.plot(x, f, color=colour, lw=2, label="f(a)")
        ax.plot(x, df, color=colour, lw=1.5, ls="--", alpha=0.8, label="f′(a)")
        ax.axhline(0, color="0.7", lw=0.8)
        ax.axvline(0, color="0.7", lw=0.8)
        ax.set_title(titles[name][1], fontsize=10)
        ax.set_xlabel("a")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize=9)
    return _save(fig, path)


# --------------------------------------------------------------------------- training curves

def _load_history(source):
    """A dict of History columns from a History, a dict, a metrics.json path or its folder."""
    if hasattr(source, "as_dict"):
        return source.as_dict()
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            path = path / "metrics.json"
        if not path.exists():
            raise FileNotFoundError(f"plot_history: {path} does not exist")
        data = json.loads(path.read_text())
        return data.get("history", data)
    if isinstance(source, Mapping):
        return dict(source.get("history", source))
    raise TypeError(f"plot_history: expected a History, a dict or a metrics.json path, got "
                    f"{type(source).__name__}")


def plot_history(history, path=None, title=None):
    """Loss and accuracy per epoch.

    ``history`` is a :class:`chainrule.train.History`, its ``as_dict()``, a ``metrics.json``
    (or the run folder holding it), or a mapping ``label → one of those`` to compare runs.
    """
    if isinstance(history, Mapping) and history and all(
            hasattr(v, "as_dict") or isinstance(v, (str, Path, Mapping)) for v in history.values()) \
            and "train_loss" not in history and "history" not in history:
        runs = {str(k): _load_history(v) for k, v in history.items()}
    else:
        runs = {"": _load_history(history)}
    for label, h in runs.items():
        if not h.get("train_loss"):
            raise ValueError(f"plot_history: the history {label!r} has no epochs")
    has_acc = any(any(a is not None for a in h.get("val_accuracy") or h.get("train_accuracy") or [])
                  for h in runs.values())
    fig = _figure(figsize=(10 if has_acc else 5.5, 3.8), layout="constrained")
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    colours = _colours(list(runs))
    for label, h in runs.items():
        c = colours[label]
        epochs = h.get("epoch") or list(range(1, len(h["train_loss"]) + 1))
        prefix = f"{label} " if label else ""
        for ax, key in zip(axes, ("loss", "accuracy")):
            for split, ls in (("train", "-"), ("val", "--")):
                ys = h.get(f"{split}_{key}") or []
                if ys and all(y is not None for y in ys):
                    ax.plot(epochs, ys, color=c, ls=ls, marker="o", ms=3, label=f"{prefix}{split}")
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.set(xlabel="epoch", ylabel=key)
        _integer_ticks(ax.xaxis)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


# --------------------------------------------------------------------------- decision boundaries

def _outputs(predict, X):
    from ._core import no_grad
    with no_grad():
        out = predict(X)
    return np.asarray(_primal(out))


def _are_labels(out, classes):
    """Whether ``predict`` returned class labels (as ``model.predict`` does) rather than scores: a
    non-float result, or floats that are all among the data's labels."""
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim != 1:
        return False
    if not np.issubdtype(out.dtype, np.floating):
        return True
    return np.issubdtype(classes.dtype, np.number) and bool(np.all(np.isin(out, classes)))


def _ends_in_logistic(predict):
    """Whether ``predict`` is a Module whose output is a probability (its last step is σ)."""
    from .nn.activations import activation_name
    from .nn.layers import Neuron
    from .nn.module import Module
    if isinstance(predict, Neuron):
        return activation_name(predict.activation) == "logistic"
    if isinstance(predict, Module):
        last = [m for m in predict.modules() if not any(True for _ in m.children())]
        return bool(last) and activation_name(last[-1]) == "logistic"
    return False


def plot_decision_boundary(predict, X, y, path=None, ax=None, title=None, resolution=200, pad=0.5):
    """The class regions of a 2-D classifier, with the data on top.

    ``predict`` maps an (n, 2) array to scores: shape (n,) or (n, 1) for a binary classifier
    whose boundary is score 0 (the margins ±1 are drawn dashed), or (n, k) for k classes
    (argmax).  A Module works as is; one that ends in the logistic function (the lecture's
    logistic regression, ``Neuron(2, activation="logistic")``) outputs P(y = 1 | x), and its
    boundary is drawn at 0.5.  A function that returns class labels instead (such as a
    scikit-learn ``model.predict``: integers, strings, or floats that are all labels of ``y``)
    gets one region per label, coloured as that label's points.  A fitted scikit-learn
    estimator given itself is read through its ``decision_function`` (scores, margins drawn)
    or, lacking one, its ``predict``.
    """
    if not callable(predict):
        if not hasattr(predict, "predict"):
            raise TypeError(f"plot_decision_boundary: predict must be a function, a Module or a fitted "
                            f"estimator, got {type(predict).__name__}")
        predict = getattr(predict, "decision_function", None) or predict.predict
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary: X must have shape (n, 2), got {X.shape}")
    if len(y) != len(X):
        raise ValueError(f"plot_decision_boundary: X has {len(X)} rows but y has {len(y)} labels")
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    dtype = _param_dtype(predict)
    out = _outputs(predict, grid.astype(dtype))
    classes = np.unique(y)
    if ax is None:
        fig = _figure(figsize=(5, 4.2), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    if _are_labels(out, classes):
        predicted, inverse = np.unique(out.reshape(-1), return_inverse=True)
        # the data's labels keep their points' colours; labels only the model predicts come after
        order = classes.tolist() + [v for v in predicted.tolist() if v not in set(classes.tolist())]
        index = np.array([order.index(v) for v in predicted.tolist()])[inverse]
        k = len(order)
        ax.contourf(gx, gy, index.reshape(gx.shape), levels=np.arange(k + 1) - 0.5,
                    colors=[f"C{j % 10}" for j in range(k)], alpha=0.25)
    elif out.ndim == 1 or out.shape[1] == 1:
        s = out.astype(np.float64).reshape(gx.shape)
        probability = _ends_in_logistic(predict)
        # region colours are pale versions of the markers' (C0 for the first class, C1 the second)
        ax.contourf(gx, gy, s > (0.5 if probability else 0), levels=[-0.5, 0.5, 1.5],
                    colors=["#c6dbef", "#fdd0a2"], alpha=0.8)
        if probability:
            ax.contour(gx, gy, s, levels=[0.5], colors=["k"], linewidths=[1.8])
        else:
            ax.contour(gx, gy, s, levels=[-1, 0, 1], colors=["0.4", "k", "0.4"], linestyles=["--", "-", "--"],
                       linewidths=[1, 1.8, 1])
    else:
        labels = np.argmax(out, axis=1).reshape(gx.shape)
        k = out.shape[1]
        colours = [f"C{j % 10}" for j in range(k)]
        ax.contourf(gx, gy, labels, levels=np.arange(k + 1) - 0.5, colors=colours, alpha=0.25)
    markers = "os^vD<>p"
    for k, c in enumerate(classes):
        pts = X[y == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=14, marker=markers[k % len(markers)], color=f"C{k % 10}",
                   edgecolor="k", linewidth=0.4, label=f"class {c}")
    ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), xlabel="x₁", ylabel="x₂")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def _param_dtype(predict):
    params = getattr(predict, "parameters", None)
    if callable(params):
        for p in params():
            return np.result_type(_primal(p))
    return np.float64


# --------------------------------------------------------------------------- gradient norms

def gradient_norms(model, loss, inputs, targets):
    """``{parameter name: ‖∂loss/∂W‖}`` for every weight matrix of ``model``, input layer first.

    One forward and one backward pass of ``loss(model(inputs), targets)``; the parameters'
    ``.grad`` are reset before and after.
    """
    weights = [(name, p) for name, p in model.named_parameters() if name.endswith("weight")]
    if not weights:
        raise ValueError("gradient_norms: the model has no parameter named '...weight'")
    model.zero_grad()
    loss(model(inputs), targets).backward()
    norms = {name: float(np.linalg.norm(np.asarray(p.grad, dtype=np.float64))) for name, p in weights}
    model.zero_grad()
    return norms


def plot_gradient_norms(norms, path=None, ax=None, title=None):
    """Gradient norm per layer (log scale): ``norms`` is a sequence, a ``{name: norm}`` dict, or a
    mapping ``label → either`` to compare networks."""
    if isinstance(norms, Mapping) and norms and all(
            isinstance(v, (Mapping, list, tuple, np.ndarray)) for v in norms.values()):
        series = {str(k): v for k, v in norms.items()}
    else:
        series = {"": norms}
    if ax is None:
        fig = _figure(figsize=(5.5, 3.8), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    colours = _colours(list(series))
    for label, v in series.items():
        values = np.asarray(list(v.values()) if isinstance(v, Mapping) else v, dtype=np.float64)
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"plot_gradient_norms: expected one norm per layer, got shape {values.shape}")
        ax.semilogy(np.arange(1, values.size + 1), values, marker="o", label=label or None,
                    color=colours[label])
    ax.set(xlabel="layer (1 = next to the input)", ylabel="‖∂L/∂W‖")
    _integer_ticks(ax.xaxis)
    ax.grid(alpha=0.3, which="both")
    if len(series) > 1 or "" not in series:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)
