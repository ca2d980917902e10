"""Property tests: random compositions of chainrule.numpy primitives on random broadcastable
shapes.  For every composition, both modes agree with central finite differences to second
order, the reverse- and forward-mode Jacobians agree, and float32 stays float32.

A composition is an expression tree of depth 1-4 built top-down from the shape its output
must have: each operation asks its operands for the shapes that produce that shape
(broadcasting operands, a summed axis, a permutation, a reshape, the inner dimension of a
matmul), and every leaf is computed from the single input ``x``.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.numpy as cnp

SETTINGS = settings(derandomize=True, deadline=None, database=None, max_examples=400,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

UNARY = {
    "exp": cnp.exp,
    "tanh": cnp.tanh,
    "sin": cnp.sin,
    "cos": cnp.cos,
    "negative": cnp.negative,
}
BINARY = {
    "add": cnp.add,
    "subtract": cnp.subtract,
    "multiply": cnp.multiply,
    "divide by (1 + b²)": lambda a, b: cnp.divide(a, 1.0 + b * b),
    "maximum": cnp.maximum,
}
MAX_ABS = 30.0          # compositions whose values grow beyond this are skipped
MIN_GAP = 1e-2          # ... and those where maximum() sits within this of its kink


# ----------------------------------------------------------------------- expression trees

def _size(shape):
    return math.prod(shape)


@st.composite
def _reduced(draw, shape):
    """A shape that broadcasts to ``shape``: some leading axes dropped, some axes set to 1."""
    drop = draw(st.integers(0, len(shape)))
    kept = shape[drop:]
    return tuple(1 if draw(st.booleans()) else n for n in kept)


@st.composite
def _tree(draw, shape, depth):
    """A node producing an array of ``shape`` with at most ``depth`` operations above leaves."""
    kinds = ["leaf"] if depth == 0 else ["unary", "binary", "binary", "sum", "reshape"]
    if depth and len(shape) >= 2:
        kinds.append("transpose")
    if depth and 1 <= len(shape) <= 3:
        kinds.append("matmul")
    kind = draw(st.sampled_from(kinds))
    # the first operand has the full remaining depth, so the tree is exactly ``depth`` deep
    first = lambda s: draw(_tree(s, depth - 1))
    sub = lambda s: draw(_tree(s, draw(st.integers(0, depth - 1))))
    if kind == "leaf":
        how = "x" if draw(st.booleans()) else "scaled"
        return ("leaf", shape, how, draw(st.integers(0, 2**16)))
    if kind == "unary":
        return ("unary", draw(st.sampled_from(sorted(UNARY))), first(shape))
    if kind == "binary":
        other = draw(_reduced(shape))
        shapes = [shape, other] if draw(st.booleans()) else [other, shape]
        return ("binary", draw(st.sampled_from(sorted(BINARY))), first(shapes[0]), sub(shapes[1]))
    if kind == "sum":
        if len(shape) < 3 and draw(st.booleans()):
            axis = draw(st.integers(0, len(shape)))
            inner = shape[:axis] + (draw(st.integers(1, 3)),) + shape[axis:]
            return ("sum", axis, False, first(inner))
        ones = [k for k, n in enumerate(shape) if n == 1]
        if ones:
            axis = draw(st.sampled_from(ones))
            inner = shape[:axis] + (draw(st.integers(2, 3)),) + shape[axis + 1:]
            return ("sum", axis - len(shape), True, first(inner))    # a negative axis, too
        return ("unary", "tanh", first(shape))
    if kind == "transpose":
        perm = tuple(draw(st.permutations(range(len(shape)))))
        inner = [0] * len(shape)
        for i, p in enumerate(perm):
            inner[p] = shape[i]
        return ("transpose", perm, first(tuple(inner)))
    if kind == "reshape":
        options = {(_size(shape),), shape[::-1], shape + (1,), (1,) + shape}
        options.discard(shape)
        inner = draw(st.sampled_from(sorted(options)))
        return ("reshape", shape, first(inner))
    # matmul: (m, k) @ (k, n), a vector on either side, or a batch of matrices times a matrix
    k = draw(st.integers(1, 3))
    if len(shape) == 1:
        return ("matmul", first((k,)), sub((k, shape[0])))
    if len(shape) == 2:
        if shape[1] == 1 and draw(st.booleans()):
            return ("matvec", first((shape[0], k)), sub((k,)))
        return ("matmul", first((shape[0], k)), sub((k, shape[1])))
    return ("matmul", first(shape[:2] + (k,)), sub((k, shape[2])))


def evaluate(node, x, record=None):
    """Run the tree on ``x`` (an array or a traced value); ``record`` collects the largest
    magnitude and the smallest gap at a maximum() (on plain arrays)."""
    kind = node[0]
    if kind == "leaf":
        _, shape, how, seed = node
        rng = np.random.default_rng(seed)
        c = rng.uniform(-1.0, 1.0, shape).astype(x.dtype)
        if how == "x" and _size(shape) == _size(x.shape):
            out = cnp.reshape(x, shape)
        else:
            out = c * cnp.sum(cnp.sin(x))
    elif kind == "unary":
        out = UNARY[node[1]](evaluate(node[2], x, record))
    elif kind == "binary":
        a, b = evaluate(node[2], x, record), evaluate(node[3], x, record)
        if node[1] == "maximum" and record is not None:
            record["gap"] = min(record["gap"], float(np.min(np.abs(a - b), initial=np.inf)))
        out = BINARY[node[1]](a, b)
    elif kind == "sum":
        out = cnp.sum(evaluate(node[3], x, record), axis=node[1], keepdims=node[2])
    elif kind == "transpose":
        out = cnp.transpose(evaluate(node[2], x, record), node[1])
    elif kind == "reshape":
        out = cnp.reshape(evaluate(node[2], x, record), node[1])
    elif kind == "matvec":
        out = cnp.reshape(evaluate(node[1], x, record) @ evaluate(node[2], x, record), (-1, 1))
    else:
        out = evaluate(node[1], x, record) @ evaluate(node[2], x, record)
    if record is not None:
        record["max"] = max(record["max"], float(np.max(np.abs(out), initial=0.0)))
    return out


shapes = st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple)   # 0-d arises inside


@st.composite
def compositions(draw):
    """(f, x): a random composition of depth 1-4 and a float64 input it is smooth at."""
    in_shape = draw(shapes)
    out_shape = draw(shapes)
    tree = draw(_tree(out_shape, draw(st.integers(1, 4))))
    x = np.random.default_rng(draw(st.integers(0, 2**16))).uniform(-1.0, 1.0, in_shape)
    record = {"max": 0.0, "gap": np.inf}
    out = evaluate(tree, x, record)
    assert np.shape(out) == out_shape
    assume(np.all(np.isfinite(out)) and record["max"] < MAX_ABS and record["gap"] > MIN_GAP)
    f = lambda x: evaluate(tree, x)
    f.__name__ = f"composition {tree}"
    return f, x


# ----------------------------------------------------------------------- properties

@SETTINGS
@given(compositions())
def test_random_compositions_match_finite_differences_in_both_modes_to_second_order(fx):
    f, x = fx
    assert cr.gradcheck(f, x, modes=("fwd", "rev"), order=2)


@SETTINGS
@given(compositions())
def test_random_compositions_have_equal_reverse_and_forward_jacobians(fx):
    f, x = fx
    rev = cr.jacobian(f, mode="rev")(x)
    fwd = cr.jacobian(f, mode="fwd")(x)
    assert rev.shape == fwd.shape == np.shape(f(x)) + x.shape
    np.testing.assert_allclose(rev, fwd, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(compositions())
def test_random_compositions_keep_float32_in_values_and_jacobians(fx):
    f, x = fx
    x = x.astype(np.float32)
    assert np.asarray(f(x)).dtype == np.float32
    for mode in ("rev", "fwd"):
        assert cr.jacobian(f, mode=mode)(x).dtype == np.float32, mode
