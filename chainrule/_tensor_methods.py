"""Operators and ndarray-like methods of ``Tensor``, each a call of a ``chainrule.numpy``
function, so the object API has no derivative rules of its own."""

from __future__ import annotations

import operator

import numpy as np

from . import numpy as cnp
from . import special
from ._checks import refused_keywords
from ._core import _GLOBAL, Tensor, _grad_mode, _primal, bump_version

__all__ = ["tensor"]


def tensor(data, requires_grad=False, dtype=None):
    """A new Tensor holding a copy of ``data`` (a leaf of the object API)."""
    value = np.array(_primal(data) if isinstance(data, Tensor) else _strip_all(data),
                     dtype=dtype, copy=True)
    t = Tensor._make(value, None, None, None)
    if requires_grad:
        t.requires_grad = True
    return t


def _strip_all(data):
    if isinstance(data, (list, tuple)):
        return [_strip_all(d) for d in data]
    return _primal(data) if isinstance(data, Tensor) else data


def _binary(fn):
    return (lambda self, other: fn(self, other)), (lambda self, other: fn(other, self))


def _method(name, fn):
    fn.__name__ = name
    fn.__qualname__ = f"Tensor.{name}"            # errors name the method, not <lambda>
    setattr(Tensor, name, fn)


for _op, _fn in [("add", cnp.add), ("sub", cnp.subtract), ("mul", cnp.multiply),
                 ("truediv", cnp.divide), ("pow", cnp.power), ("matmul", cnp.matmul), ("mod", cnp.mod)]:
    _fwd, _rev = _binary(_fn)
    _method(f"__{_op}__", _fwd)
    _method(f"__r{_op}__", _rev)

_method("__neg__", lambda self: cnp.negative(self))
_method("__pos__", lambda self: self)
_method("__abs__", lambda self: cnp.absolute(self))
for _op, _fn in [("lt", np.less), ("le", np.less_equal), ("gt", np.greater),
                 ("ge", np.greater_equal)]:
    _method(f"__{_op}__", (lambda f: lambda self, other: f(_primal(self), _primal(other)))(_fn))
_method("__eq__", lambda self, other: np.equal(_primal(self), _primal(other)))
# bitwise and logical operators of integer and boolean tensors: plain results, as comparisons
for _op, _fn in [("and", np.bitwise_and), ("or", np.bitwise_or), ("xor", np.bitwise_xor),
                 ("lshift", np.left_shift), ("rshift", np.right_shift)]:
    _method(f"__{_op}__", (lambda f: lambda self, other: f(_primal(self), _primal(other)))(_fn))
    _method(f"__r{_op}__", (lambda f: lambda self, other: f(_primal(other), _primal(self)))(_fn))
_method("__invert__", lambda self: np.invert(_primal(self)))
_method("__contains__", lambda self, item: np.asarray(_primal(self)).__contains__(_primal(item)))
_method("__format__", lambda self, spec: format(np.asarray(_primal(self)), spec) if spec else str(self))
_method("__ne__", lambda self, other: np.not_equal(_primal(self), _primal(other)))
# the quotient is piecewise constant: a plain result, as the non-differentiable functions of
# chainrule.numpy; the remainder x - q·y is differentiable (__mod__ above)
_method("__floordiv__", lambda self, other: np.floor_divide(_primal(self), _primal(other)))
_method("__rfloordiv__", lambda self, other: np.floor_divide(_primal(other), _primal(self)))
_method("__divmod__", lambda self, other: (self // other, cnp.mod(self, other)))
_method("__rdivmod__", lambda self, other: (other // self, cnp.mod(other, self)))
_method("__round__", lambda self, ndigits=None: round(_primal(self).item(), ndigits))


def _getitem(self, idx):
    return cnp.getitem(self, idx)


def _setitem(self, idx, value):
    """``t[idx] = value``.  On a constant (or under ``no_grad``) it writes in place; on a
    recorded value it records the update and rebinds ``t`` to its result, so arrays that
    earlier operations saved are never overwritten."""
    traced = _recorded(self)
    value_traced = isinstance(value, Tensor) and value._trace is not None
    if not traced and not value_traced:
        _writable(self, "__setitem__")[idx] = _primal(value)
        bump_version(self)
        return
    if self._trace is _GLOBAL and self.is_leaf:
        if self._node.leaf is None and _grad_mode.recorder is not None and not value_traced:
            # the input of a step that chainrule.replay.TrainStep records: an array to the
            # ordinary step, so written in place like one (and the step is then not replayed)
            _writable(self, "__setitem__")[idx] = _primal(value)
            bump_version(self)
            return
        raise RuntimeError(
            "in-place assignment into a leaf tensor that requires grad; do it under "
            "chainrule.no_grad() or assign into a copy")
    node = self._node
    if node is not None and node.prim is not None and getattr(node.prim, "view", False) \
            and type(node.vals) is list and np.may_share_memory(self._value, node.vals[0]):
        # NumPy would write through the view into its base; a recorded assignment makes a new
        # array instead, which the base would never see
        raise RuntimeError(
            f"__setitem__: this tensor is a view ({node.prim.name}) of a recorded value, and an "
            "assignment into it cannot reach that value; index the value itself in one step "
            "(h[0, 1] = v, not h[0][1] = v), or assign into a copy")
    out = cnp.index_update(self, idx, value)
    if node is not None and node.prim is not None and node.leaf is not None and out._node is not None:
        out._node.leaf, node.leaf = node.leaf, None           # retain_grad() follows the tensor
    self._value, self._trace, self._node, self._tangent = out._value, out._trace, out._node, out._tangent
    self._version = out._version                  # the new array's counter, not the old one's


Tensor.__getitem__ = _getitem
Tensor.__setitem__ = _setitem


def _writable(t, name):
    """The Tensor's own array, ready for an in-place write (a 0-d result may be a NumPy scalar)."""
    if not isinstance(t._value, np.ndarray):
        t._value = np.array(t._value)
    if not t._value.flags.writeable:
        raise ValueError(f"{name}: the tensor's array is read-only (a broadcast view?); copy it first")
    return t._value


def _write(t, name, op, other):
    """``op(t, other)`` into ``t``'s own array, counted by its version counter."""
    value = _writable(t, name)
    op(value, _primal(other), out=value)
    bump_version(t)
    return t


def _inplace(name, op):
    def method(self, other):
        if _recorded(self):
            raise RuntimeError(
                f"{name}: in-place update of a tensor that is recorded for differentiation; "
                "use it under chainrule.no_grad() (as optimizers do) or write out-of-place")
        return _write(self, name, op, other)
    method.__name__ = name
    method.__doc__ = f"In place, like ``torch.Tensor.{name}`` (bumps the version counter)."
    setattr(Tensor, name, method)


_inplace("add_", np.add)
_inplace("sub_", np.subtract)
_inplace("mul_", np.multiply)
_inplace("div_", np.divide)
_inplace("copy_", lambda a, b, out: np.copyto(out, b))


def _fill(a, value, out):
    if np.ndim(value) != 0:
        raise ValueError(f"fill_: expects a number, got an array of shape {np.shape(value)} "
                         "(copy_ takes arrays)")
    out.fill(value)                               # cast as NumPy casts: 2.7 into integers is 2


_inplace("fill_", _fill)


def _augmented(name, fn, ufunc):
    """``t += u`` and its kin. As in PyTorch, a constant tensor, or any tensor under ``no_grad``
    (``p -= lr * p.grad`` in a hand-written optimizer), changes in place, for every reference
    to it; a leaf that requires grad is refused outside ``no_grad``. A recorded value, or one
    updated by a recorded value, is rebound to ``t + u`` instead: the same numbers and
    derivatives for ``t`` (inside a transform this is the only way, as in JAX)."""
    def method(self, other):
        if _recorded(self) or (isinstance(other, Tensor) and _recorded(other)):
            if self._trace is _GLOBAL and self.is_leaf and _grad_mode.enabled:
                raise RuntimeError(
                    f"{name}: in-place update of a leaf tensor that requires grad; do it under "
                    "chainrule.no_grad() (as optimizers do), or write t = t + u")
            out = fn(self, other)
            if self.retains_grad and out._trace is _GLOBAL:
                out.retain_grad()                 # the name now stands for the new value
            return out
        return _write(self, name, ufunc, other)
    method.__name__ = name
    method.__qualname__ = f"Tensor.{name}"
    setattr(Tensor, name, method)


def _recorded(t):
    trace = t._trace
    return trace is not None and (trace is not _GLOBAL or _grad_mode.enabled)


for _name, _fn, _ufunc in [("__iadd__", cnp.add, np.add), ("__isub__", cnp.subtract, np.subtract),
                           ("__imul__", cnp.multiply, np.multiply), ("__itruediv__", cnp.divide, np.divide),
                           ("__ipow__", cnp.power, np.power)]:
    _augmented(_name, _fn, _ufunc)


def _zero_(self):
    """Fill with zeros in place (``inf`` and ``nan`` included)."""
    return self.copy_(0)


Tensor.zero_ = _zero_


# ---- ndarray-like properties and methods
Tensor.T = property(lambda self: cnp.transpose(self))
def _mT(self):
    if self.ndim < 2:
        raise ValueError(f"mT: matrix transpose with ndim < 2 is undefined (a tensor of shape {self.shape})")
    return cnp.swapaxes(self, -1, -2)


Tensor.mT = property(_mT)


def _shape_args(args):
    return args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


_method("reshape", lambda self, *shape, order="C": cnp.reshape(self, _shape_args(shape), order=order))


def _view(self, *shape):
    # as in PyTorch, a view shares memory: where NumPy's reshape would copy (a transpose, a
    # strided slice, a Fortran-ordered array), it is refused rather than silently copied
    shape = _shape_args(shape)
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer, tuple, list)):
        raise TypeError(f"view: expects a shape, got {shape[0]!r}; to change the dtype use astype()")
    out = cnp.reshape(self, shape)
    if self.size and not np.may_share_memory(_primal(out), _primal(self)):
        raise RuntimeError(f"view: a tensor of shape {self.shape} cannot be viewed as shape "
                           f"{tuple(shape)} without copying (its memory is strided or in Fortran "
                           "order, e.g. a transpose); use reshape(), which copies")
    return out


_method("view", _view)
# PyTorch's names for what NumPy calls otherwise
_method("permute", lambda self, *dims: cnp.transpose(self, _shape_args(dims)))
_method("unsqueeze", lambda self, dim: cnp.expand_dims(self, dim))
_method("numel", lambda self: int(np.size(_primal(self))))
_method("dim", lambda self: int(np.ndim(_primal(self))))


def _transpose(self, *axes):
    if len(axes) == 2 == self.ndim and _in_order(axes):
        # NumPy reads (0, 1) as the order of all the axes (no change), PyTorch as two axes to swap
        shown = tuple(operator.index(a) for a in axes)
        raise ValueError(f"transpose{shown} of a 2-D tensor changes nothing as NumPy reads it (the new "
                         "order of all axes) but swaps the axes as PyTorch reads it; write t.T or "
                         "t.swapaxes(0, 1) for the swap, t.transpose((0, 1)) for no change")
    return cnp.transpose(self, _shape_args(axes) or None)


def _in_order(axes):
    """Whether two axes of a 2-D array name them in increasing order: (0, 1), (-2, -1), ..."""
    try:
        a, b = (operator.index(v) for v in axes)
    except TypeError:
        return False
    return -2 <= a < 2 and -2 <= b < 2 and (a % 2, b % 2) == (0, 1)


_method("transpose", _transpose)
_method("ravel", lambda self, order="C": cnp.ravel(self, order))


def _flatten(self, order="C"):
    if not isinstance(order, str):            # PyTorch's flatten(start_dim)
        raise TypeError(f"flatten: order must be 'C', 'F', 'A' or 'K' (NumPy's flatten), got {order!r}; "
                        "for PyTorch's flatten(start_dim) reshape: t.reshape(t.shape[:start_dim] + (-1,))")
    return cnp.ravel(self, order)


_method("flatten", _flatten)
_method("sum", lambda self, axis=None, dtype=None, out=None, keepdims=False, **kwargs:
        cnp.sum(self, axis, dtype, out, keepdims=keepdims, **kwargs))
_method("mean", lambda self, axis=None, dtype=None, out=None, keepdims=False, **kwargs:
        cnp.mean(self, axis, dtype, out, keepdims=keepdims, **kwargs))
_method("dot", lambda self, other: cnp.dot(self, other))
_method("astype", lambda self, dtype, copy=True: cnp.astype(self, dtype))


def _copy(self):
    """A new array with the same values: recorded for floats, a constant for the rest."""
    if np.issubdtype(self.dtype, np.inexact):
        return cnp.positive(self)
    return Tensor._make(np.array(_primal(self)), None, None, None)


_method("copy", _copy)
_method("clip", lambda self, a_min=None, a_max=None, out=None, **kwargs:
        cnp.clip(self, a_min, a_max, out, **kwargs))
_method("clamp", lambda self, min=None, max=None: cnp.clip(self, min, max))      # PyTorch's name
_method("exp", lambda self: cnp.exp(self))
_method("log", lambda self: cnp.log(self))
_method("tanh", lambda self: cnp.tanh(self))
_method("sqrt", lambda self: cnp.sqrt(self))
_method("sin", lambda self: cnp.sin(self))
_method("cos", lambda self: cnp.cos(self))
_method("abs", lambda self: cnp.absolute(self))
_method("pow", lambda self, exponent: cnp.power(self, exponent))
_method("sigmoid", lambda self: special.sigmoid(self))
_method("clone", _copy)                                                           # PyTorch's copy
_method("float", lambda self: _to(self, np.float32))                              # PyTorch's names
_method("double", lambda self: _to(self, np.float64))


def _softmax_axis(name, dim, axis):
    if dim is not None and axis is not None:
        raise TypeError(f"{name}: give the axis once, as dim or as axis")
    return -1 if dim is None and axis is None else (dim if dim is not None else axis)


_method("softmax", lambda self, dim=None, *, axis=None:
        special.softmax(self, axis=_softmax_axis("softmax", dim, axis)))
_method("log_softmax", lambda self, dim=None, *, axis=None:
        special.log_softmax(self, axis=_softmax_axis("log_softmax", dim, axis)))


def _norm(self, p="fro", dim=None, keepdim=False, *, ord=None, axis=None, keepdims=None):
    """PyTorch's ``norm``: the ``p``-norm of the entries taken as one vector, or along ``dim``
    (an axis or a tuple of axes; ``()`` is all of them); ``"fro"`` is the 2-norm. NumPy's
    names ``ord``, ``axis``, ``keepdims`` are read too. ``cnp.linalg.norm`` gives NumPy's matrix
    norms instead."""
    p = p if ord is None else ord
    dim = dim if axis is None else axis
    keepdim = keepdim if keepdims is None else keepdims
    if dim == () or (self.ndim == 0 and dim in (0, -1)):
        dim = None
    ord = 2 if isinstance(p, str) and p == "fro" else p
    if isinstance(ord, str):
        raise ValueError(f"norm: p must be a number or 'fro', got {p!r} (cnp.linalg.norm has the "
                         "matrix norms)")
    if self.size == 0:                            # the norm of nothing is 0, as in PyTorch
        return cnp.sum(cnp.abs(self), axis=dim, keepdims=keepdim)
    out = cnp.linalg.vector_norm(self, axis=dim, keepdims=keepdim, ord=ord)
    return out if isinstance(out, Tensor) else Tensor._make(np.asarray(out), None, None, None)


_method("norm", _norm)


def _relu(self):
    from .nn.functional import relu  # relu'(0) = 0, as the layers'
    return relu(self)


def _t(self):
    """PyTorch's ``t()``: the transpose of a matrix; a vector or a scalar as it is."""
    if self.ndim > 2:
        raise ValueError(f"t: expects a tensor with at most 2 dimensions, got shape {self.shape}; "
                         "use swapaxes or permute")
    return cnp.transpose(self)


def _to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
    """PyTorch's ``to``: a dtype (NumPy's or PyTorch's name for it) and a device, which can only
    be the CPU, then PyTorch's ``non_blocking`` and ``copy``; the tensor itself when nothing
    changes, as in PyTorch."""
    flags = []
    for a in args:
        if isinstance(a, (bool, np.bool_)):
            flags.append(bool(a))                 # non_blocking, then copy
        elif _as_dtype(a) is not None:
            if dtype is not None:
                raise TypeError(f"to: give one dtype, got {args!r}")
            dtype = a
        else:
            device = a
    if len(flags) > 2:
        raise TypeError(f"to: too many arguments {args!r}")
    copy = flags[1] if len(flags) == 2 else copy
    if device is not None and str(getattr(device, "type", device)).split(":")[0] != "cpu":
        raise ValueError(f"to: chainrule computes on the CPU with NumPy; there is no device {device!r}")
    if dtype is not None:
        dtype = _as_dtype(dtype)
        if dtype is None:
            raise TypeError(f"to: not a dtype: {args!r}")
    if dtype is None or dtype == self.dtype:
        return _copy(self) if copy else self
    out = cnp.astype(self, dtype)
    return out if isinstance(out, Tensor) else Tensor._make(out, None, None, None)   # integers: a constant


def _as_dtype(x):
    """NumPy's dtype for ``x`` (a NumPy dtype or type, its name, or a PyTorch dtype), or None."""
    name = str(x)
    if name.startswith("torch."):
        x = name[len("torch."):]
    try:
        return np.dtype(x)
    except TypeError:
        return None


def _expand(self, *shape):
    """PyTorch's ``expand``: broadcast to ``shape``, where -1 keeps an axis's length."""
    shape = tuple(_shape_args(shape))
    lead = len(shape) - self.ndim
    if lead < 0:
        raise ValueError(f"expand: the shape {shape} has fewer axes than the tensor's {self.shape}")
    full = tuple(self.shape[k - lead] if n == -1 and k >= lead else n for k, n in enumerate(shape))
    return cnp.broadcast_to(self, full)


_method("relu", _relu)
_method("t", _t)
_method("to", _to)
_method("expand", _expand)

_DEFERRED = ["max", "min", "prod", "var", "std", "cumsum", "cumprod", "squeeze", "swapaxes",
             "repeat", "diagonal", "trace", "sort", "take", "argmax", "argmin", "argsort",
             "all", "any", "round"]


def _deferred(name):
    def method(self, *args, **kwargs):
        if "dim" in kwargs or "keepdim" in kwargs:
            raise refused_keywords(name, sorted(k for k in kwargs if k in ("dim", "keepdim")))
        return getattr(cnp, name)(self, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = f"``chainrule.numpy.{name}(self, ...)``."
    return method


for _name in _DEFERRED:
    setattr(Tensor, _name, _deferred(_name))
Tensor.sort.__doc__ = ("A sorted copy, ``chainrule.numpy.sort(self, ...)``, differentiable, as JAX's "
                       "``array.sort()`` returns; not in place as ``ndarray.sort()`` (and not "
                       "PyTorch's (values, indices)).")


# scipy.special's ufuncs that compute what NumPy's of the same name do
_SAME_AS_NUMPYS = frozenset({"cbrt", "exp2", "expm1", "log1p", "round"})


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """Let ``numpy.exp(t)`` and ``ndarray + t`` dispatch to chainrule's functions. Anything else
    (a ufunc chainrule does not differentiate, ``np.add.reduce``, ``out=``) runs NumPy's own ufunc
    on the values of constant tensors, and is refused on recorded ones, whose derivative it
    would lose; a tensor named in ``out=`` is written in place (its version counter moves)."""
    name = ufunc.__name__
    numpys = getattr(np, name, None) is ufunc
    if numpys:
        fn = getattr(cnp, name, None)
    else:                                        # another library's ufunc: scipy.special's expit
        from . import special
        fn = getattr(special, name, None)
        if fn is None and name in _SAME_AS_NUMPYS:
            fn = getattr(cnp, name)
    out = kwargs.get("out")
    if method == "__call__" and fn is not None and out is None:
        return fn(*inputs, **kwargs)
    if numpys and name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"):
        return ufunc(*[_primal(i) for i in inputs], **kwargs)
    what = (f"numpy.{name}" if numpys else f"the ufunc {name} (not NumPy's)") + (
        "" if method == "__call__" else f".{method}")
    if any(_recorded(t) for t in _tensors(inputs)):
        if out is not None:
            raise TypeError(f"{what}(..., out=...): writing a recorded value into an array would lose its "
                            "derivative; write y = y + t (a new value) instead of y += t or out=")
        where = ("chainrule.numpy (see its list in the README)" if numpys else
                 "chainrule.numpy and chainrule.special (expit, xlogy, softplus, logsumexp, softmax, ...)")
        raise TypeError(f"{what} is not differentiable in chainrule; on values being differentiated "
                        f"use the functions of {where}")
    written = [t for t in _tensors(out or ()) if isinstance(t, Tensor)]
    if any(_recorded(t) for t in written):
        raise RuntimeError(f"{what}(..., out=t): in-place update of a tensor that is recorded for "
                           "differentiation; use it under chainrule.no_grad() or write out-of-place")
    if out is not None:
        kwargs["out"] = tuple(_writable(o, what) if isinstance(o, Tensor) else o for o in out)
    result = getattr(ufunc, method)(*[_primal(i) for i in inputs], **kwargs)
    for t in written:
        bump_version(t)
    if out is not None:                         # NumPy returns what it wrote into: the tensors
        return out[0] if len(out) == 1 else out
    return result


Tensor.__array_ufunc__ = _array_ufunc


def _array_function(self, func, types, args, kwargs):
    """Let ``numpy.dot(a, t)``, ``numpy.concatenate([t, u])``, ``numpy.linalg.norm(t)`` ... run
    chainrule's function of the same name, so that derivatives are not silently lost."""
    module = func.__module__ or ""
    space = cnp.linalg if module.endswith("linalg") else cnp
    fn = getattr(space, func.__name__, None)
    if fn is None or fn is func:
        traced = [a for a in _tensors(args) if a._trace is not None]
        if traced:
            raise TypeError(
                f"numpy.{func.__name__} is not differentiable in chainrule; on values being "
                "differentiated use the functions of chainrule.numpy (see its list in the README)")
        result = func(*_strip(args), **_strip(kwargs))
        if func.__name__ in _WRITERS and args and isinstance(args[0], Tensor):
            bump_version(args[0])                # np.copyto(t, ...) wrote into t's array
        return result
    return fn(*args, **kwargs)


# NumPy functions that write into their first argument
_WRITERS = frozenset({"copyto", "fill_diagonal", "put", "putmask", "place", "put_along_axis"})


def _tensors(obj):
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o)


def _strip(obj):
    if isinstance(obj, Tensor):
        return _primal(obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_strip(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items()}
    return obj


Tensor.__array_function__ = _array_function
