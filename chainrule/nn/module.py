"""``Module`` and ``Parameter``: the containers that give a network its parameters.

A ``Module`` registers every ``Parameter`` and every sub-``Module`` assigned to one of its
attributes, in assignment order.  That one rule gives ``parameters()``, dotted names such
as ``"layers.0.weight"``, ``state_dict()``/``load_state_dict()``, ``train()``/``eval()`` and a
readable ``repr`` without any per-layer code.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import numpy as np

from .._core import Tensor, _edits, _primal, bump_version, no_grad, zero_grads

__all__ = ["Parameter", "Module", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
           "functional_call"]


class Parameter(Tensor):
    """A learnable array: a leaf Tensor with ``requires_grad=True`` holding its own copy of ``data``.

    Integer or boolean data is converted to float64 (only floating-point values have gradients).
    """

    __slots__ = ()

    def __new__(cls, data, requires_grad=True):
        value = np.array(_primal(data), copy=True)
        if not np.issubdtype(value.dtype, np.inexact):
            value = value.astype(np.float64)
        p = cls._make(value, None, None, None)
        p.requires_grad = requires_grad
        return p

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce__(self):
        return (Parameter, (np.asarray(self._value), self.requires_grad))


def _refuse_plain_containers(owner, name, value):
    """A plain list, tuple or dict of Modules or Parameters would hide them from ``parameters()``,
    ``state_dict()`` and the optimizers: point to the containers that register them."""
    if isinstance(value, (list, tuple)):
        items, suffix = value, "List"
    elif isinstance(value, dict):
        items, suffix = value.values(), "Dict"
    else:
        return
    kinds = {type(v) for v in items}                   # one pass, then one check per distinct type
    if any(issubclass(t, Module) for t in kinds):
        what, unseen = "Module", "parameters(), state_dict(), train()/eval()"
    elif any(issubclass(t, Parameter) for t in kinds):
        what, unseen = "Parameter", "parameters(), state_dict(), optimizer steps or checkpoints"
    else:
        return
    raise TypeError(f"{type(owner).__name__}: {name!r} is a plain {type(value).__name__} of {what}s, "
                    f"which would not be registered (no {unseen}); use nn.{what}{suffix}(...) instead")


class Module:
    """Base class of layers, activations, losses and whole networks.

    Subclasses call ``super().__init__()`` first, assign their ``Parameter``s and sub-modules
    as attributes, and define ``forward``; ``module(x)`` calls ``forward(x)``.
    """

    def __init__(self):
        for name in self.__dict__.get("_order", ()):      # __init__ run again: forget it all
            self.__dict__.pop(name, None)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_order", {})            # every registered name, in assignment order
        object.__setattr__(self, "training", True)

    # ---- registration on assignment

    def __setattr__(self, name, value):
        _edits[0] += 1
        registry = self.__dict__.get("_parameters")
        if registry is None and isinstance(value, (Parameter, Module)):
            raise AttributeError(
                f"cannot assign {type(value).__name__} {name!r} before Module.__init__() ran; "
                f"call super().__init__() first in {type(self).__name__}.__init__")
        if isinstance(value, Parameter):
            if name not in self._parameters:          # a parameter replaced keeps its place, as in PyTorch
                self._forget(name)
                self._order[name] = None
            self._parameters[name] = value
            self._mirror(name, value)
        elif isinstance(value, Module):
            if name not in self._modules:             # so does a module (ModuleList's ml[0] = m)
                self._forget(name)
                self._order[name] = None
            self._modules[name] = value
            self._mirror(name, value)
        elif registry is None:
            object.__setattr__(self, name, value)
        elif name in registry or name in self._modules:
            self._replace_registered(name, value)
        else:
            _refuse_plain_containers(self, name, value)
            self._forget(name)
            object.__setattr__(self, name, value)

    def _mirror(self, name, value):
        """Keep a registered parameter or sub-module as a plain attribute as well, so reading it
        is a dictionary lookup instead of a call of ``__getattr__`` (0.03 against 0.4 µs). Like
        any instance attribute it hides a class attribute of the same name (a default such as
        ``bias = None``), except a data descriptor (a property), which Python looks up first."""
        if not hasattr(inspect.getattr_static(type(self), name, None), "__set__"):
            self.__dict__[name] = value

    def __copy__(self):
        # Python's own shallow copy (honouring __reduce_ex__, __getstate__, __setstate__ and
        # slots), except that the copy gets registries of its own: registering on one of the
        # two cannot leave the other's plain attributes behind
        func, args, state = self.__reduce_ex__(4)[:3]
        new = func(*args)
        if state is not None:
            if hasattr(new, "__setstate__"):
                new.__setstate__(state)
            else:
                state, slots = state if isinstance(state, tuple) else (state, None)
                if state:
                    new.__dict__.update(state)
                for k, v in (slots or {}).items():
                    object.__setattr__(new, k, v)
        for key in ("_parameters", "_modules", "_order"):
            if key in new.__dict__:
                object.__setattr__(new, key, dict(new.__dict__[key]))
        return new

    def _replace_registered(self, name, value):
        """``None`` empties a registered slot (it stays registered, as in PyTorch); anything else
        would silently drop a parameter or sub-module from ``parameters()`` and ``state_dict()``."""
        if value is None:
            if name in self._parameters:
                self._parameters[name] = None
                self._mirror(name, None)
            else:
                self._forget(name)
                object.__setattr__(self, name, None)
            return
        what, expected = (("parameter", "a Parameter") if name in self._parameters
                          else ("sub-module", "a Module"))
        fix = (f"wrap it: module.{name} = nn.Parameter(value), or copy into it: "
               f"module.{name}.copy_(value)" if what == "parameter" else "delete it first")
        raise TypeError(f"{type(self).__name__}: cannot assign an object of type {type(value).__name__} to "
                        f"the registered {what} {name!r} ({expected} or None expected); {fix}")

    def _forget(self, name):
        _edits[0] += 1                 # a member may go without a setattr (del blocks[:], pop)
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._order.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        # only reached when normal lookup fails: registered names the class also defines (see
        # _mirror) and objects whose plain-attribute copies are missing
        d = self.__dict__
        if "_parameters" in d:
            if name in d["_parameters"]:
                return d["_parameters"][name]
            if name in d["_modules"]:
                return d["_modules"][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        _edits[0] += 1
        if name in self._parameters or name in self._modules:
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._modules))

    # ---- calling

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _fused_with(self, following):
        """A function computing ``following(self(x))`` in one step, or None (the default).

        Sequential asks each module about the next; a fused function must give the same values
        and derivatives as the two calls it replaces."""
        return None

    # ---- traversal

    def named_children(self):
        """``(name, module)`` for each direct sub-module, once (a module registered under two
        names is listed under the first), as in PyTorch."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix=""):
        """``(dotted name, module)`` for this module and every module below it, each once."""
        for name, kind, obj in self._walk(prefix, set()):
            if kind == "module":
                yield name, obj

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def apply(self, fn):
        """Call ``fn(module)`` on every sub-module, then on this one (an initialisation, say),
        as in PyTorch; returns this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def add_module(self, name, module):
        """Register ``module`` under ``name``, as ``setattr(self, name, module)`` does (PyTorch's
        spelling, for names made at run time)."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"add_module of {type(self).__name__}: the name must be a non-empty string "
                           f"without dots, got {name!r}")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module of {type(self).__name__}: {name!r} must be a Module or None, got a "
                            f"{type(module).__name__}")
        setattr(self, name, module)

    def requires_grad_(self, requires_grad=True):
        """Make every parameter require gradients or not (``False`` freezes the module, as in
        PyTorch: its parameters get no ``.grad``, so optimizers leave them alone); returns it."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def named_parameters(self, prefix=""):
        """``(dotted name, Parameter)`` in registration order; a shared Parameter appears once."""
        for name, kind, obj in self._walk(prefix, set()):
            if kind == "parameter":
                yield name, obj

    def _walk(self, prefix, seen):
        """Depth first, in assignment order: this module, then its members; each object once."""
        seen.add(id(self))
        yield prefix, "module", self
        for key in self._order:
            name = f"{prefix}.{key}" if prefix else key
            if key in self._parameters:
                p = self._parameters[key]
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield name, "parameter", p
            elif id(self._modules[key]) not in seen:
                yield from self._modules[key]._walk(name, seen)

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    # ---- state

    def state_dict(self):
        """``{dotted name: ndarray}`` in registration order: a snapshot (copies) of the values."""
        return {name: np.array(p._value, copy=True) for name, p in self.named_parameters()}

    def load_state_dict(self, state, strict=True):
        """Copy the arrays of ``state`` into this module's parameters (in place).

        With ``strict=True`` the names must match exactly: missing and unexpected names raise a
        ``KeyError`` that lists them.  A shape mismatch always raises a ``ValueError``.  Returns
        ``(missing_keys, unexpected_keys)``.
        """
        own = dict(self.named_parameters())
        if not isinstance(state, Mapping) or "chainrule_version" in state:
            what = ("the metadata that chainrule.load returns" if isinstance(state, Mapping)
                    else f"a {type(state).__name__}")
            raise TypeError(f"load_state_dict of {type(self).__name__}: expected a dict of arrays by "
                            f"parameter name (model.state_dict()), got {what}; a checkpoint file is "
                            "loaded into a model with chainrule.load(path, model)")
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        wrong = [f"{k}: checkpoint {np.shape(state[k])}, model {own[k].shape}"
                 for k in own if k in state and np.shape(state[k]) != own[k].shape]
        name = type(self).__name__
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            if wrong:
                parts.append(f"shape mismatches [{'; '.join(wrong)}]")
            raise KeyError(f"load_state_dict of {name}: " + ", ".join(parts))
        if wrong:
            raise ValueError(f"load_state_dict of {name}: shape mismatches [{'; '.join(wrong)}]")
        with no_grad():
            for k, p in own.items():
                if k in state:
                    p.copy_(np.asarray(_primal(state[k])))
        return missing, unexpected

    def to(self, dtype):
        """Cast every parameter to the floating-point ``dtype`` (in place; returns ``self``).

        Call it before creating an optimizer, whose state buffers take the parameters' dtype.
        """
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"{type(self).__name__}.to: parameters must be floating point, got {dtype}")
        for p in self.parameters():
            if p.dtype != dtype:
                p.data = p._value.astype(dtype)
                if p._node is not None:
                    p._node.ans = p._value
                bump_version(p)
                p.grad = None
        return self

    # ---- modes and gradients

    def train(self, mode=True):
        """Training mode (``mode=True``) or evaluation mode for this module and all below it."""
        mode = bool(mode)
        for m in self.modules():
            if m.__dict__.get("training") is not mode:
                _edits[0] += 1                   # a mode that changes is an edit (replay.TrainStep)
                object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Set every parameter's ``.grad`` to ``None``, or with ``set_to_none=False`` to zeros."""
        zero_grads(self.parameters(), set_to_none)

    # ---- repr

    def extra_repr(self):
        """The text between the parentheses of this module's line in ``repr``."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        lines = [f"{type(self).__name__}("] + ([f"  {extra}"] if extra else [])
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


def _next_index(modules):
    """One more than the largest integer name: ``str(len)`` would reuse a name after a deletion."""
    return 1 + max((int(k) for k in modules if k.isdigit()), default=-1)


class Sequential(Module):
    """Modules applied one after the other; indexable (``seq[0]``, ``seq[1:]``) and iterable."""

    def __init__(self, *modules):
        super().__init__()
        for k, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {k} is a {type(m).__name__}, not a Module")
            setattr(self, str(k), m)

    def forward(self, x):
        plan = self.__dict__.get("_plan")
        if plan is None or plan[0] != _edits[0]:       # any module edit may change the plan
            plan = self.__dict__["_plan"] = (_edits[0], self._steps())
        for step in plan[1]:
            x = step(x)
        return x

    def __getstate__(self):
        # the plan holds the modules' own methods: a copy or a pickle builds its own on first use
        state = dict(self.__dict__)
        state.pop("_plan", None)
        return state

    def _steps(self):
        """The callables that apply the modules in order, pairs fused where a module offers to
        (e.g. Linear then ReLU as one primitive)."""
        modules = tuple(self._modules.values())
        steps, i, n = [], 0, len(modules)
        while i < n:
            m = modules[i]
            fused = m._fused_with(modules[i + 1]) if i + 1 < n else None
            steps.append(m if fused is None else fused)
            i += 1 if fused is None else 2
        return tuple(steps)

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        setattr(self, str(_next_index(self._modules)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        items = list(self._modules.values())
        if isinstance(idx, slice):
            return Sequential(*items[idx])
        try:
            return items[idx]
        except IndexError:
            raise IndexError(f"Sequential: index {idx} is out of range for {len(items)} modules") from None


class _NumberedMembers(Module):
    """The list methods of ModuleList and ParameterList, over the registry named ``_registry``
    (``"_modules"`` or ``"_parameters"``), whose members are named ``"0"``, ``"1"``, ... in order.
    ``_checked(value, method)`` returns what to register for ``value`` or raises naming ``method``;
    ``_single`` are the types ``extend`` refuses as one value instead of an iterable."""

    _registry = "_modules"
    _member = "module"
    _single = ()

    def __init__(self, values=()):
        super().__init__()
        self.extend(values)

    def _members(self):
        return self.__dict__[self._registry]

    def _renumber(self, members):
        for name in list(self._members()):
            self._forget(name)
        for k, m in enumerate(members):
            setattr(self, str(k), m)

    def _position(self, idx):
        kind, n = type(self).__name__, len(self._members())
        if not isinstance(idx, (int, np.integer)) or isinstance(idx, bool):
            raise TypeError(f"{kind} indices must be integers or slices, not {type(idx).__name__}")
        if not -n <= idx < n:
            raise IndexError(f"{kind}: index {idx} is out of range for {n} {self._member}s")
        return int(idx) % n

    def append(self, value):
        setattr(self, str(len(self._members())), self._checked(value, "append"))
        return self

    def extend(self, values):
        if isinstance(values, self._single):
            raise TypeError(f"{type(self).__name__}.extend: expected an iterable of "
                            f"{self._member.capitalize()}s, got a single {type(values).__name__}; use append")
        members = [self._checked(v, "extend") for v in values]                   # all or none
        for m in members:
            self.append(m)
        return self

    __iadd__ = extend              # blocks += [layer, ...]

    def insert(self, index, value):
        members = list(self._members().values())
        members.insert(index, self._checked(value, "insert"))
        self._renumber(members)

    def __len__(self):
        return len(self._members())

    def __iter__(self):
        return iter(list(self._members().values()))

    def __contains__(self, value):
        # by identity: == on Tensors compares elementwise
        return any(m is value for m in self._members().values())

    def __getitem__(self, idx):
        members = list(self._members().values())
        if isinstance(idx, slice):
            return type(self)(members[idx])
        return members[self._position(idx)]

    def __setitem__(self, idx, value):
        if isinstance(idx, slice):
            raise TypeError(f"{type(self).__name__}: assigning to a slice is not supported; assign one "
                            f"index at a time, or build a new {type(self).__name__}")
        setattr(self, str(self._position(idx)), self._checked(value, "__setitem__"))

    def __delitem__(self, idx):
        members = list(self._members().values())
        if isinstance(idx, slice):
            del members[idx]
        else:
            del members[self._position(idx)]
        self._renumber(members)


class ModuleList(_NumberedMembers):
    """A list of Modules whose parameters are registered: ``self.blocks = ModuleList([...])``.

    Indexable (``blocks[0]``, ``blocks[-1]``, ``blocks[1:]`` gives a ModuleList), iterable, and
    grown with ``append``/``extend``/``insert``; the members are named ``"0"``, ``"1"``, ... in
    order, so parameters read ``"blocks.0.weight"``.  It has no ``forward``: the owner decides
    how its members are called.
    """

    _single = (Module,)

    def __init__(self, modules=()):
        super().__init__(modules)

    def _checked(self, module, what):
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList.{what}: expected a Module, got {type(module).__name__}")
        return module


def _checked_key(container, key):
    """``key`` if it can name a member of the dict-like ``container`` (it becomes an attribute name)."""
    kind = type(container).__name__
    if not isinstance(key, str) or not key.isidentifier() and not key.isdigit():
        raise KeyError(f"{kind}: keys must be strings usable as names, got {key!r}")
    # a method (keys, pop, ...) or an attribute of the instance (training, _parameters) would be hidden
    if hasattr(type(container), key) or key in container.__dict__ and key not in container._order:
        raise KeyError(f"{kind}: key {key!r} would shadow an attribute of {kind}; choose another")
    return key


class _KeyedMembers(Module):
    """The dict methods of ModuleDict and ParameterDict, over the registry named ``_registry``
    (``"_modules"`` or ``"_parameters"``); ``__setitem__`` checks and registers a value."""

    _registry = "_modules"
    _member = "module"

    def _members(self):
        return self.__dict__[self._registry]

    def __getitem__(self, key):
        try:
            return self._members()[key]
        except KeyError:
            raise KeyError(f"{type(self).__name__}: no {self._member} {key!r}; "
                           f"it holds {list(self._members())}") from None

    def __delitem__(self, key):
        self[key]                                  # the KeyError names what there is
        self._forget(key)

    def __contains__(self, key):
        return key in self._members()

    def __len__(self):
        return len(self._members())

    def __iter__(self):
        return iter(list(self._members()))

    def keys(self):
        return list(self._members())

    def values(self):
        return list(self._members().values())

    def items(self):
        return list(self._members().items())

    def get(self, key, default=None):
        return self._members().get(key, default)

    def pop(self, key):
        value = self[key]
        self._forget(key)
        return value

    def update(self, values):
        pairs = values.items() if hasattr(values, "items") else values
        for key, value in pairs:
            self[key] = value


class ModuleDict(_KeyedMembers):
    """A dict of Modules whose parameters are registered, in insertion order.

    ``heads = ModuleDict({"digits": Linear(64, 10)})``; ``heads["digits"]``, ``"digits" in heads``,
    ``keys()``, ``values()``, ``items()``, ``get()``, ``update()``, ``pop()``; parameters read
    ``"heads.digits.weight"``.  Keys are strings that are valid as attribute names and do not
    shadow an attribute or method of the dict (``training``, ``keys``, ``forward``, ...).  It has
    no ``forward``.
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __setitem__(self, key, module):
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: the value for {key!r} is a {type(module).__name__}, not a Module")
        setattr(self, _checked_key(self, key), module)


def _as_parameter(value, where):
    """``value`` as a Parameter: a Parameter as it is, a floating-point array or Tensor wrapped in a
    new one (a copy, as ``Parameter(value)`` makes), anything else refused naming ``where``."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, (np.ndarray, Tensor)):
        if not np.issubdtype(value.dtype, np.floating):
            raise TypeError(f"{where}: cannot wrap {type(value).__name__} values of dtype {value.dtype} in "
                            f"a Parameter (only floating-point values have gradients); cast them first, "
                            f"e.g. value.astype(np.float32)")
        return Parameter(value)
    raise TypeError(f"{where}: expected a Parameter (or a floating-point ndarray or Tensor to wrap "
                    f"in one), got {type(value).__name__}")


def _parameters_repr(container):
    """One line per parameter: ``(name): Parameter of shape (3, 4), float64``."""
    lines = [f"  ({k}): Parameter of shape {tuple(p.shape)}, {p.dtype}"
             for k, p in container._parameters.items() if p is not None]
    if not lines:
        return f"{type(container).__name__}()"
    return "\n".join([f"{type(container).__name__}("] + lines + [")"])


class ParameterList(_NumberedMembers):
    """A list of Parameters that are registered: ``self.scales = ParameterList([...])``.

    Indexable (``scales[0]``, ``scales[-1]``, ``scales[1:]`` gives a ParameterList of the same
    Parameters), iterable, and grown with ``append``/``extend``/``insert``; the members are
    named ``"0"``, ``"1"``, ... in order, so they read ``"scales.0"`` in ``named_parameters()``
    and ``state_dict()``.  A floating-point ndarray or Tensor given in place of a Parameter is
    wrapped in a new Parameter (a copy).  ``p in scales`` asks for that very Parameter.
    """

    _registry = "_parameters"
    _member = "parameter"
    _single = (np.ndarray, Tensor)

    def _checked(self, value, what):
        return _as_parameter(value, f"ParameterList.{what}")

    def __repr__(self):
        return _parameters_repr(self)


class ParameterDict(_KeyedMembers):
    """A dict of Parameters that are registered, in insertion order.

    ``scales = ParameterDict({"digits": Parameter(np.ones(10))})``; ``scales["digits"]``,
    ``"digits" in scales``, ``keys()``, ``values()``, ``items()``, ``get()``, ``update()``,
    ``pop()``; they read ``"scales.digits"`` in ``named_parameters()`` and ``state_dict()``.
    Keys follow the rules of ModuleDict; a floating-point ndarray or Tensor given as a value is
    wrapped in a new Parameter (a copy).
    """

    _registry = "_parameters"
    _member = "parameter"

    def __init__(self, parameters=None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __setitem__(self, key, value):
        value = _as_parameter(value, f"ParameterDict: the value for {key!r}")
        setattr(self, _checked_key(self, key), value)

    def __repr__(self):
        return _parameters_repr(self)


def functional_call(module, params, args=(), kwargs=None):
    """Call ``module(*args, **kwargs)`` with some parameters replaced by the values in ``params``.

    ``params`` maps dotted names (as in ``named_parameters()``) to arrays or traced values.  This
    makes a module a function of its parameters, so the transforms apply to it:
    ``grad(lambda w: loss(functional_call(model, {"weight": w}, x), y))(w0)``.  As in
    ``torch.func.functional_call``, ``args`` is a tuple of positional arguments or one argument
    that is not a tuple, and a parameter shared by several modules (tied weights) is replaced
    wherever it is used, under any of its names. Parameters left out stay the module's own, so
    a result that depends on them is a Tensor recorded with respect to them (as in PyTorch);
    replace them all for plain arrays.
    """
    if not isinstance(args, tuple):
        args = (args,)
    kwargs = {} if kwargs is None else kwargs
    owners = {}
    for mname, m in module.named_modules():
        for pname in m._parameters:
            owners[f"{mname}.{pname}" if mname else pname] = (m, pname)
    unknown = [k for k in params if k not in owners]
    if unknown:
        raise KeyError(f"functional_call of {type(module).__name__}: no parameters named {unknown}; "
                       f"it has {list(owners)}")
    # every slot of each parameter that is replaced: a tied parameter has several
    slots, given = {}, {}
    for m, pname in owners.values():
        p = m._parameters[pname]
        if p is not None:
            slots.setdefault(id(p), []).append((m, pname))
    for k, v in params.items():
        m, pname = owners[k]
        key = id(m._parameters[pname])
        if key in given and given[key][1] is not v:
            raise ValueError(f"functional_call of {type(module).__name__}: {given[key][0]!r} and {k!r} "
                             "name the same (tied) parameter but were given different values")
        given[key] = (k, v)
    saved = []
    _edits[0] += 1
    try:
        for k, v in params.items():
            m, pname = owners[k]
            p = m._parameters[pname]
            for owner, slot in (slots[id(p)] if p is not None else [(m, pname)]):
                if owner._parameters[slot] is v:
                    continue                                 # replaced under another name already
                saved.append((owner, slot, owner._parameters[slot]))
                owner._parameters[slot] = v
                if slot in owner.__dict__:                   # its plain-attribute copy too
                    owner.__dict__[slot] = v
        return module(*args, **kwargs)
    finally:
        _edits[0] += 1
        for m, pname, old in reversed(saved):
            m._parameters[pname] = old
            if pname in m.__dict__:
                m.__dict__[pname] = old
