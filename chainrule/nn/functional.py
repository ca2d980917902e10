"""Fused primitives for the operations a network runs at every step.

Each could be written as a composite of ``chainrule.numpy`` functions; these exist because
fusing them saves whole passes over the data (measured in ``bench/train_step.py``):

* ``linear(x, W, b) = x Wᵀ + b`` — one GEMM, the bias added in place, and a weight gradient
  ``gᵀx`` that comes out contiguous (the composite ``x @ W.T`` hands the optimizer a
  transposed view, which costs a strided pass per update); ``activation="relu"`` rectifies
  the product in place and masks the cotangent once for the three gradients;
* ``relu(a) = max{0, a}`` — one pass forward, one multiply by the mask backward;
* ``softmax_cross_entropy(z, y) = logsumexp(z) - z[y]`` per row — no log-probability matrix,
  no scatter of the picked entries.

It also answers to PyTorch's ``torch.nn.functional`` names for the losses and activations
(``F.cross_entropy``, ``F.nll_loss``, ``F.mse_loss``, ``F.binary_cross_entropy[_with_logits]``,
``F.softmax``, ``F.log_softmax``, ``F.sigmoid``, ``F.tanh``, ``F.leaky_relu``, ``F.softplus``),
which call the functions of ``chainrule.nn.losses``, ``activations`` and ``special``.

The rules are written with differentiable functions like every other rule, so derivatives
of any order still work.
"""

from __future__ import annotations

import functools
import math
import mmap
import weakref

import numpy as np

from .. import numpy as cnp
from .. import special
from .._checks import shown
from .._core import (
    Tensor,
    _grad_mode,
    _ndim,
    _primal,
    _shape,
    defjvp,
    defvjp,
    defvjp_joint,
    host,
    owns,
    primitive,
)
from ..numpy._ufuncs import elementwise

__all__ = ["linear", "relu", "softmax_cross_entropy", "cross_entropy", "nll_loss", "mse_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "softmax", "log_softmax", "sigmoid",
           "tanh", "leaky_relu", "softplus"]


# ---- linear: y = x Wᵀ + b, optionally followed by relu

_TRANSPOSE_MAX = 128       # larger batches keep the usual order (see _product)


def _product(a, b):
    """``a @ b`` for 2-D ``a`` and ``b``, computed as ``(bᵀ aᵀ)ᵀ`` when the result has fewer rows
    than columns and at most ``_TRANSPOSE_MAX`` rows (a small batch through a wider layer).
    OpenBLAS runs such products faster that way round: 32 x 784 times 784 x 256 in float32
    takes 72 us one way and 42 us the other, and the training step of ``bench/train_step.py``
    is 5-11 % faster at batch 32 and 64. At batch 128 and 192 it depends on the machine's load:
    10 % faster in a busy spell, while in a quiet one 128 gains nothing and 192 loses 2-4 %,
    hence the cap. For results with more rows than columns the usual order is the faster one
    (by 10 % at batch 512 and 2048).

    The result is then a Fortran-ordered array. NumPy gives the same values for it, but an
    elementwise operation that mixes it with a C-ordered array of the same shape runs several
    times slower once the arrays outgrow the caches: another reason to keep to small batches.
    ``Dropout`` draws its mask in its input's order."""
    if a.ndim == 2 and b.ndim == 2 and len(a) < b.shape[1] and len(a) <= _TRANSPOSE_MAX:
        return np.matmul(b.T, a.T).T
    return np.matmul(a, b)


def _linear(x, W, b):
    y = _product(x, W.T) if type(x) is np.ndarray else np.matmul(x, W.T)
    if b is None:
        return y
    if y.dtype == np.result_type(b, y):
        y += b                                   # the product is ours: add the bias in place
        return y
    return y + b


def _linear_relu(x, W, b):
    y = _linear(x, W, b)                         # a fresh array: the rectifier works in place
    return _relu(y, out=y)


def _rows(v, nb, width):
    """``v``'s non-batch leading axes merged into one: shape ``batch + (rows, width)``."""
    return cnp.reshape(v, _shape(v)[:nb] + (-1, width))


def _linear_ct_x(g, x, W):
    if type(g) is np.ndarray and type(W) is np.ndarray:
        return _product(g, W)
    return g @ W                                 # ∂y/∂x = W


def _linear_ct_W(g, x, W):
    if _ndim(g) == 2 and _ndim(x) == 2:
        return g.T @ x                           # ∂L/∂W = gᵀx, contiguous (out, in)
    nb = _ndim(g) - _ndim(x)                     # y = x Wᵀ + b has x's number of axes
    out, inp = _shape(W)
    return cnp.swapaxes(_rows(g, nb, out), -1, -2) @ cnp.reshape(x, (-1, inp))


def _linear_ct_b(g, x, W):
    if _ndim(g) == 2 and _ndim(x) == 2:
        if type(g) is np.ndarray and (g.dtype == np.float32 or g.dtype == np.float64):
            return _filled(1, len(g), g.dtype) @ g   # ∂L/∂b = 1ᵀg: a GEMV, 3x faster than g.sum(0)
        return g.sum(axis=0)                     # ∂L/∂b = Σ_rows g
    nb = _ndim(g) - _ndim(x)
    return cnp.sum(_rows(g, nb, _shape(W)[0]), axis=-2)      # ∂L/∂b = Σ_rows g


_filled_cache = {}


_FILLED_MAX = 1 << 20       # longer vectors are made afresh, so the cache holds at most 8 MB each


def _filled(value, n, dtype):
    """A read-only vector of ``n`` copies of ``value`` (a slice of the longest one made so far).

    Zeros are an anonymous read-only memory mapping where the system allows: the kernel maps
    every page of it to one shared page of zeros, so reading it costs no memory traffic and no
    memory. Zeros that were written (``np.full``, or ``np.zeros`` when the allocator reuses
    freed memory) are real memory, and reading them competes with the other operand: right
    after a matrix product, ``relu``'s ``max(y, 0)`` over 2048 x 256 float32 took 226 us
    against written zeros and 53 us against mapped ones."""
    if n > _FILLED_MAX:
        return _constant(value, n, np.dtype(dtype))
    v = _filled_cache.get((value, dtype))
    if v is None or len(v) < n:
        v = _filled_cache[(value, dtype)] = _constant(value, max(n, 64), np.dtype(dtype))
    return v[:n]


def _constant(value, n, dtype):
    if value == 0:
        return _mapped_zeros(n, dtype)
    v = np.full(n, value, dtype)
    v.flags.writeable = False
    return v


def _mapped_zeros(n, dtype):
    try:        # private: a shared anonymous mapping is backed by real pages once read
        block = mmap.mmap(-1, n * dtype.itemsize, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                          prot=mmap.PROT_READ)
    except (AttributeError, TypeError, ValueError, OSError):      # no such flags (Windows)
        v = np.zeros(n, dtype)
        v.flags.writeable = False
        return v
    return np.frombuffer(block, dtype)                   # read-only, since the buffer is


_LINEAR_CT = (_linear_ct_x, _linear_ct_W, _linear_ct_b)


def _linear_vjp(g, ans, needed, x, W, b):
    # one rule for the three arguments: the engine makes one call per node instead of three;
    # none reads the output (so it may be changed in place before backward, see _core._reads)
    return [_LINEAR_CT[i](g, x, W) for i in needed]


def _relu_mask(g, ans):
    """``g · [y > 0]`` (relu' = [a > 0] = [y > 0], a constant of the current values: relu'' = 0),
    in place when the engine says nobody else holds ``g``."""
    mask = _primal(ans) > 0
    if owns(g):
        return np.multiply(g, mask, out=g)
    return g * mask


def _linear_relu_vjp(g, ans, needed, x, W, b):
    # the mask is applied once and shared by the three products
    return _linear_vjp(_relu_mask(g, ans), None, needed, x, W, b)


def _linear_jvp_x(t, ans, x, W, b):
    return t @ cnp.swapaxes(W, -1, -2)


def _linear_jvp_W(t, ans, x, W, b):
    nb = _ndim(t) - 2
    tT = cnp.swapaxes(t, -1, -2)
    if nb and _ndim(x) > 2:
        tT = cnp.reshape(tT, _shape(tT)[:nb] + (1,) * (_ndim(x) - 2) + _shape(tT)[nb:])
    return x @ tT


def _linear_jvp_b(t, ans, x, W, b):
    nb = _ndim(t) - 1
    shape = _shape(t)
    t = cnp.reshape(t, shape[:nb] + (1,) * (_ndim(ans) - 1) + shape[nb:])
    return cnp.broadcast_to(t, shape[:nb] + _shape(ans))


def _masked(rule):
    return lambda t, ans, x, W, b: _relu_mask(rule(t, ans, x, W, b), ans)


_linear_p = primitive(_linear, name="linear")
_linear_p.prim.fresh_vjp = True                  # products: new arrays
defvjp_joint(_linear_p, _linear_vjp)
defjvp(_linear_p, _linear_jvp_x, _linear_jvp_W, _linear_jvp_b)

_linear_relu_p = primitive(_linear_relu, name="linear_relu")
_linear_relu_p.prim.fresh_vjp = True
defvjp_joint(_linear_relu_p, _linear_relu_vjp)
defjvp(_linear_relu_p, *(_masked(r) for r in (_linear_jvp_x, _linear_jvp_W, _linear_jvp_b)))


def linear(x, weight, bias=None, activation=None):
    """``x @ weight.T + bias`` for ``x`` of shape ``(..., in)`` and ``weight`` ``(out, in)``.

    ``activation="relu"`` applies ``relu`` in the same primitive (a layer of the lecture's
    neurons ``max{0, wᵀx + b}``): the rectifier runs in place on the product, and the backward
    pass masks the cotangent once for the three gradients.
    """
    _check_linear(x, weight, bias, activation)
    if activation is None:
        return _linear_p(x, weight, bias)
    return _linear_relu_p(x, weight, bias)


def _check_linear(x, weight, bias, activation):
    ws, xs = _shape(weight), _shape(x)
    if len(ws) != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {ws}")
    if not xs or xs[-1] != ws[1]:
        raise ValueError(f"linear: input of shape {xs} does not match weight of shape {ws} "
                         f"(expected {ws[1]} features on the last axis)")
    if bias is not None and _shape(bias) != (ws[0],):
        raise ValueError(f"linear: bias must have shape ({ws[0]},), got {_shape(bias)}")
    if activation is not None and activation != "relu":
        raise ValueError(f"linear: activation must be None or 'relu', got {activation!r}")


# ---- relu: max{0, a}, with relu'(0) = 0

_ZERO_CHUNK = 1 << 20                            # elements per pass of the zero operand
_FAST_RELU_MIN = 4096                            # below this the scalar call is as quick


def _contiguous(x):
    """Whether ``x`` is one block of memory in C or Fortran order."""
    return x.flags.c_contiguous or x.flags.f_contiguous


def _same_layout(out, x):
    return (type(out) is np.ndarray and out.shape == x.shape and out.dtype == x.dtype
            and out.flags.c_contiguous == x.flags.c_contiguous
            and out.flags.f_contiguous == x.flags.f_contiguous
            and (out is x or not np.may_share_memory(out, x)))


def _relu(x, out=None):
    # NumPy's maximum against a scalar runs a loop 3x slower than against an array of the same
    # shape (2048 x 256 float32: 157 against 50 us), so a contiguous float input meets a
    # contiguous block of mapped zeros (see _filled), chunk by chunk. NaN stays NaN either way.
    if (type(x) is not np.ndarray or x.dtype.kind != "f" or not _contiguous(x)
            or x.size < _FAST_RELU_MIN or not (out is None or _same_layout(out, x))):
        return np.maximum(x, 0, out=out)
    if out is None:
        out = np.empty_like(x)                   # the same order as x
    flat, dst = x.ravel(order="K"), out.ravel(order="K")     # views of contiguous blocks
    zeros = _filled(0, min(flat.size, _ZERO_CHUNK), x.dtype)
    for start in range(0, flat.size, _ZERO_CHUNK):
        stop = min(start + _ZERO_CHUNK, flat.size)
        np.maximum(flat[start:stop], zeros[:stop - start], out=dst[start:stop])
    return out


relu = elementwise("relu", _relu, lambda g, ans, x: _relu_mask(g, ans))
relu.prim.fresh_vjp = True
relu.__doc__ = "``max{0, a}``; its derivative at 0 is taken to be 0."


# ---- softmax cross-entropy from logits, against labels or distributions

def _row_max(z):
    """``max(z, axis=-1, keepdims=True)``. NumPy reduces many short rows one row at a time
    (2048 x 10: 84 us); over a contiguous transpose the same maxima take 7 us."""
    if z.ndim == 2 and z.shape[1] <= 32 and z.shape[0] >= 64:
        return np.ascontiguousarray(z.T).max(axis=0)[:, None]
    return z.max(axis=-1, keepdims=True)


def _row_sum(e):
    """``sum(e, axis=-1)``, for floats as a matrix-vector product ``e 1`` (2048 x 10: 4 against
    29 us); both add each row's entries in sequence."""
    if e.ndim == 2 and (e.dtype == np.float32 or e.dtype == np.float64):
        return e @ _filled(1, e.shape[1], e.dtype)
    return e.sum(axis=-1)


# The last forward pass's exponentials, (weak reference to z, exp(z - max), their row sums),
# for the backward pass to finish the softmax from instead of computing it again (4 passes
# fewer per step). The entry lives as long as z does: when z is freed (by the backward pass
# that used it, or by the caller), the reference's callback empties the slot.
_last_exp = [None]


def _forget_exp(ref):
    last = _last_exp[0]
    if last is not None and last[0] is ref:
        _last_exp[0] = None


def _shifted_exp(z):
    """``(exp(z - m), m)`` with ``m`` the row maxima: the softmax's numerators, free of overflow."""
    m = _row_max(z)
    with np.errstate(under="ignore"):            # exp(-2e4) = 0 is the right answer
        return np.exp(z - m), m


def _softmax_cross_entropy(z, target, reduce, divisor, keep=False):
    e, m = _shifted_exp(z)
    sums = _row_sum(e)
    if keep and z.ndim == 2 and target.ndim == 1 and type(z) is np.ndarray and _grad_mode.enabled:
        # only for a recorded step that may run backward: otherwise (no_grad, plain arrays) the
        # exponentials would double the logits' memory for as long as they live
        _last_exp[0] = (weakref.ref(z, _forget_exp), e, sums)
    lse = np.log(sums) + m[..., 0]
    if target.ndim == z.ndim:                    # distributions: Σ_k t_k z_k
        per_row = lse - np.einsum("...k,...k->...", target, z)
    elif z.ndim == 2:
        per_row = lse - _picked(z, target)
    else:
        per_row = lse - np.take_along_axis(z, target[..., None], axis=-1)[..., 0]
    return per_row.sum() / divisor if reduce else per_row


def _picked(z, labels, subtract=None):
    """``z[i, labels[i]]`` for each row ``i`` of a 2-D ``z``; or, given ``subtract``, those
    entries lowered by it in place. A C- or Fortran-ordered ``z`` is indexed as one flat vector,
    which NumPy does in one pass (2048 x 10: 5 against 13 us to subtract, 3 against 7 to read)
    where a pair of index arrays goes through its general indexing."""
    n, k = z.shape
    labels = labels.astype(np.intp, copy=False)  # checked to lie in [0, k)
    if z.flags.c_contiguous:
        flat = z.reshape(-1)                     # a view, as of zᵀ below
        index = np.arange(0, n * k, k)
        index += labels
    elif z.flags.f_contiguous:
        flat = z.T.reshape(-1)
        index = labels * n
        index += np.arange(n)
    else:
        flat, index = None, (np.arange(n), labels)
    if subtract is None:
        return z[index] if flat is None else flat.take(index)
    if flat is None:
        z[index] -= subtract
    else:
        flat[index] -= subtract
    return z


def _one_hot(labels, k, dtype):
    """Rows of ``k`` entries, 1 at each label and 0 elsewhere (integer labels of any shape)."""
    rows = np.zeros(labels.shape + (k,), dtype)
    np.put_along_axis(rows, labels[..., None].astype(np.intp), 1, axis=-1)
    return rows


def _target_rows(target, z):
    """The target as distributions over the last axis (integer labels become one-hot rows)."""
    if target.ndim == _ndim(z):
        return target
    return _one_hot(target, _shape(z)[-1], np.result_type(_primal(z)))


def _ce_vjp(g, ans, z, target, reduce, divisor):
    # ∂L_i/∂z_i = softmax(z_i) - t_i (divided by the number of rows for a mean)
    if (reduce and type(z) is np.ndarray and type(g) is not Tensor and np.ndim(g) == 0
            and target.ndim == 1 == z.ndim - 1):
        return _ce_grad_plain(g, z, target, divisor)
    p = special.softmax(z, axis=-1) - _target_rows(target, z)
    if reduce:
        return p * cnp.reshape(g / divisor, _shape(g) + (1,) * _ndim(z))
    return p * cnp.reshape(g, _shape(g) + (1,))


def _ce_grad_plain(g, z, labels, divisor):
    """The same VJP on plain arrays (the training loop's case), on one fresh array."""
    last = _last_exp[0]
    if last is not None and last[0]() is z:      # the forward pass's exponentials
        e, sums = last[1], last[2]
    else:
        e = _shifted_exp(z)[0]
        sums = _row_sum(e)
    p = e / sums[:, None]
    _picked(p, labels, subtract=1)
    p *= g / divisor
    return p


def _ce_jvp(t, ans, z, target, reduce, divisor):
    p = special.softmax(z, axis=-1) - _target_rows(target, z)
    if reduce:
        nb = _ndim(t) - _ndim(z)
        return cnp.sum(p * t, axis=tuple(range(nb, _ndim(t)))) / divisor
    return cnp.sum(p * t, axis=-1)


_ce_p = primitive(_softmax_cross_entropy, name="softmax_cross_entropy")
_ce_p.prim.impl = functools.partial(_softmax_cross_entropy, keep=True)   # the traced (and replayed) call
_ce_p.prim.fresh_vjp = True
defvjp(_ce_p, _ce_vjp)
defjvp(_ce_p, _ce_jvp)


def softmax_cross_entropy(logits, target, reduction="none"):
    """Cross-entropy ``logsumexp(z) - Σ_k t_k z_k`` per row of logits ``(..., K)``.

    ``target`` is integer labels ``(...)`` (then ``-log softmax(z)[label]``) or distributions
    ``(..., K)`` whose rows sum to 1 (one-hot or soft); it is a constant, not differentiated.
    ``reduction="mean"`` or ``"sum"`` returns the rows' mean or sum from the same primitive,
    which saves the reduction's own nodes and passes.
    """
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"softmax_cross_entropy: reduction must be 'none', 'mean' or 'sum', "
                         f"got {reduction!r}")
    target = np.asarray(_primal(target))
    zs = _shape(logits)
    if target.shape != zs[:-1] and target.shape != zs:
        raise ValueError(f"softmax_cross_entropy: target of shape {target.shape} matches neither the "
                         f"labels shape {zs[:-1]} nor the logits shape {zs}")
    if target.shape == zs:                       # distributions take the logits' dtype
        target = target.astype(np.result_type(_primal(logits)), copy=False)
    else:
        _label_range("softmax_cross_entropy", target, zs[-1])
    return _checked_softmax_cross_entropy(logits, target, reduction, math.prod(zs[:-1]))


# ---- the entries of the labels: z[i, labels[i]], as a primitive (nll_loss)

def _pick_vjp(g, ans, z, labels):
    n, k = _shape(z)
    if type(g) is np.ndarray and g.ndim == 1 and type(z) is np.ndarray:
        out = np.zeros((n, k), np.result_type(g, z))
        return _picked(out, labels, subtract=-g)      # g into each row's label, in one pass
    return cnp.expand_dims(g, -1) * _one_hot(labels, k, np.result_type(_primal(g), _primal(z)))


def _pick_jvp(t, ans, z, labels):
    if type(t) is np.ndarray and t.ndim == 2:
        return _picked(t, labels)
    return cnp.sum(t * _one_hot(labels, _shape(z)[-1], np.result_type(_primal(t))), axis=-1)


_pick_p = primitive(_picked, name="pick")             # labels: a constant, checked by the caller
_pick_p.prim.fresh_vjp = True
defvjp(_pick_p, _pick_vjp)
defjvp(_pick_p, _pick_jvp)


_UNSIGNED = {}       # a signed integer dtype: (the unsigned dtype of its width, its largest value)


@host               # run again on each batch that a recorded step (chainrule.replay) replays
def _label_range(name, y, k):
    """``y``, integer class labels of any shape, when each lies in [0, k); otherwise an error
    that names ``name``, the bad labels and how many there are."""
    if y.dtype.kind not in "iu":
        raise TypeError(f"{name}: labels must be integers, got dtype {y.dtype}")
    unsigned = _UNSIGNED.get(y.dtype) if y.dtype.kind == "i" and y.dtype.isnative else None
    if unsigned is None and y.dtype.kind == "i" and y.dtype.isnative:
        unsigned = _UNSIGNED[y.dtype] = (np.dtype(f"u{y.dtype.itemsize}"), np.iinfo(y.dtype).max)
    if unsigned is not None and k <= unsigned[1] + 1:
        # negative labels read as unsigned integers of the same width are ≥ 2^(bits-1) ≥ k:
        # one reduction finds both kinds of bad label (the positions only when there are some)
        if y.view(unsigned[0]).max(initial=0) < k:
            return y
        bad = y.view(unsigned[0]) >= k
    else:
        bad = (y < 0) | (y >= k)
    if bad.any():
        raise ValueError(f"{name}: labels must be in [0, {k - 1}] for {k} classes; got {shown(y[bad])} "
                         f"(at {int(bad.sum())} of {y.size} positions)")
    return y


def _checked_softmax_cross_entropy(logits, target, reduction, rows):
    """``softmax_cross_entropy`` for a caller that has checked its arguments already (the
    reduction's name, ``target`` an array of labels or distributions matching ``rows`` rows)."""
    return _ce_p(logits, target, reduction != "none", rows if reduction == "mean" else 1)


# ---- PyTorch's torch.nn.functional names for what chainrule has elsewhere, so that code written
# against F ports as it is (the losses and activations themselves live in losses / activations)

def cross_entropy(input, target, reduction="mean"):
    """``chainrule.nn.losses.cross_entropy``: logits and integer labels or distributions."""
    from .losses import cross_entropy as loss
    return loss(input, target, reduction)


def nll_loss(input, target, reduction="mean"):
    """``chainrule.nn.losses.nll_loss``: log-probabilities and integer labels."""
    from .losses import nll_loss as loss
    return loss(input, target, reduction)


def mse_loss(input, target, reduction="mean"):
    """``chainrule.nn.losses.mse``."""
    from .losses import mse
    return mse(input, target, reduction)


def binary_cross_entropy(input, target, reduction="mean"):
    """``chainrule.nn.losses.log_loss`` on probabilities."""
    from .losses import log_loss
    return log_loss(input, target, reduction=reduction)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """``chainrule.nn.losses.log_loss`` on logits (``from_logits=True``), exact for any logit."""
    from .losses import log_loss
    return log_loss(input, target, from_logits=True, reduction=reduction)


def softmax(input, dim=-1):
    """``chainrule.special.softmax`` along ``dim``."""
    return special.softmax(input, axis=dim)


def log_softmax(input, dim=-1):
    """``chainrule.special.log_softmax`` along ``dim``."""
    return special.log_softmax(input, axis=dim)


def sigmoid(input):
    """``chainrule.special.sigmoid``, exact for any input."""
    return special.sigmoid(input)


def tanh(input):
    return cnp.tanh(input)


def leaky_relu(input, negative_slope=0.01):
    from .activations import leaky_relu as f
    return f(input, negative_slope)


def softplus(input):
    """``log(1 + eˣ)``, PyTorch's default ``beta = 1``."""
    from .activations import softplus as f
    return f(input)
