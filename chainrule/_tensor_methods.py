"""Operators and ndarray-like methods of ``Tensor``, each a call of a ``chainrule.numpy``
function, so the object API has no derivative rules of its own."""

from __future__ import annotations

import numpy as np

from . import numpy as cnp
from ._core import _GLOBAL, Tensor, _grad_enabled, _primal

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
    setattr(Tensor, name, fn)


for _op, _fn in [("add", cnp.add), ("sub", cnp.subtract), ("mul", cnp.multiply),
                 ("truediv", cnp.divide), ("pow", cnp.power), ("matmul", cnp.matmul)]:
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
_method("__ne__", lambda self, other: np.not_equal(_primal(self), _primal(other)))
_method("__floordiv__", lambda self, other: np.floor_divide(_primal(self), _primal(other)))
_method("__mod__", lambda self, other: np.mod(_primal(self), _primal(other)))


def _getitem(self, idx):
    return cnp.getitem(self, idx)


def _setitem(self, idx, value):
    """``t[idx] = value``.  On a constant (or under ``no_grad``) it writes in place; on a
    recorded value it records the update and rebinds ``t`` to its result, so arrays that
    earlier operations saved are never overwritten."""
    traced = self._trace is not None and (self._trace is not _GLOBAL or _grad_enabled[0])
    value_traced = isinstance(value, Tensor) and value._trace is not None
    if not traced and not value_traced:
        self._value[idx] = _primal(value)
        self._version += 1
        return
    if self._trace is _GLOBAL and self.is_leaf:
        raise RuntimeError(
            "in-place assignment into a leaf tensor that requires grad; do it under "
            "chainrule.no_grad() or assign into a copy")
    out = cnp.index_update(self, idx, value)
    self._value, self._trace, self._node, self._tangent = out._value, out._trace, out._node, out._tangent


Tensor.__getitem__ = _getitem
Tensor.__setitem__ = _setitem


def _inplace(name, op):
    def method(self, other):
        if self._trace is not None and _grad_enabled[0]:
            raise RuntimeError(
                f"{name}: in-place update of a tensor that is recorded for differentiation; "
                "use it under chainrule.no_grad() (as optimizers do) or write out-of-place")
        op(self._value, _primal(other), out=self._value)
        self._version += 1
        return self
    method.__name__ = name
    method.__doc__ = f"In place, like ``torch.Tensor.{name}`` (bumps the version counter)."
    setattr(Tensor, name, method)


_inplace("add_", np.add)
_inplace("sub_", np.subtract)
_inplace("mul_", np.multiply)
_inplace("div_", np.divide)
_inplace("copy_", lambda a, b, out: np.copyto(out, b))


def _zero_(self):
    return self.mul_(0)


Tensor.zero_ = _zero_


# ---- ndarray-like properties and methods
Tensor.T = property(lambda self: cnp.transpose(self))
Tensor.mT = property(lambda self: cnp.swapaxes(self, -1, -2))


def _shape_args(args):
    return args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


_method("reshape", lambda self, *shape, order="C": cnp.reshape(self, _shape_args(shape), order=order))
_method("view", lambda self, *shape: cnp.reshape(self, _shape_args(shape)))
_method("transpose", lambda self, *axes: cnp.transpose(self, _shape_args(axes) or None))
_method("ravel", lambda self, order="C": cnp.ravel(self, order))
_method("flatten", lambda self, order="C": cnp.ravel(self, order))
_method("sum", lambda self, axis=None, dtype=None, keepdims=False:
        cnp.sum(self, axis, dtype, keepdims=keepdims))
_method("mean", lambda self, axis=None, dtype=None, keepdims=False:
        cnp.mean(self, axis, dtype, keepdims=keepdims))
_method("dot", lambda self, other: cnp.dot(self, other))
_method("astype", lambda self, dtype, copy=True: cnp.astype(self, dtype))
_method("copy", lambda self: cnp.positive(self))
_method("clip", lambda self, a_min=None, a_max=None: cnp.clip(self, a_min, a_max))
_method("exp", lambda self: cnp.exp(self))
_method("log", lambda self: cnp.log(self))
_method("tanh", lambda self: cnp.tanh(self))
_method("sqrt", lambda self: cnp.sqrt(self))

_DEFERRED = ["max", "min", "prod", "var", "std", "cumsum", "cumprod", "squeeze", "swapaxes",
             "repeat", "diagonal", "trace", "sort", "take", "argmax", "argmin", "argsort",
             "all", "any", "round"]


def _deferred(name):
    def method(self, *args, **kwargs):
        return getattr(cnp, name)(self, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = f"``chainrule.numpy.{name}(self, ...)``."
    return method


for _name in _DEFERRED:
    setattr(Tensor, _name, _deferred(_name))


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """Let ``numpy.exp(t)`` and ``ndarray + t`` dispatch to chainrule's functions."""
    fn = getattr(cnp, ufunc.__name__, None)
    if method != "__call__" or fn is None or kwargs.get("out") is not None:
        if ufunc.__name__ in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"):
            return getattr(np, ufunc.__name__)(*[_primal(i) for i in inputs], **kwargs)
        return NotImplemented
    return fn(*inputs, **kwargs)


Tensor.__array_ufunc__ = _array_ufunc
