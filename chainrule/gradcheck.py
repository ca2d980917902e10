"""Check the engine's derivatives against central finite differences, in float64.

For a random direction ``v`` in input space and ``u`` in output space:

* forward mode: ``jvp(f, x, v)`` against ``(f(x + εv) - f(x - εv)) / 2ε``;
* reverse mode: ``⟨u, vjp(f, x)(u)·v⟩`` against ``⟨u, (f(x + εv) - f(x - εv)) / 2ε⟩``.

For ``order > 1`` the same check runs on the derivative maps themselves (``x ↦ jvp`` and
``x ↦ vjp``), which are functions built from the engine's rules, so every rule's own
derivative is checked too.  At every order the batched path (two tangents or cotangents
pushed through at once, as ``jacobian`` does) must agree with one direction at a time.
"""

from __future__ import annotations

import numpy as np

from ._core import _primal
from ._tree import tree_flatten, tree_map, tree_unflatten
from .transforms import _argnums, _jvp, jvp, vjp

__all__ = ["gradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """The engine's derivative and the finite-difference estimate disagree."""


def gradcheck(f, *args, argnums=0, modes=("fwd", "rev"), order=2, eps=None, rtol=None,
              atol=None, seed=0):
    """Raise :class:`GradcheckError` unless ``f``'s derivatives match finite differences.

    ``args`` are converted to float64; ``argnums`` (int or tuple) selects the arguments to
    differentiate.  Returns True so it can stand in an ``assert``.
    """
    if isinstance(modes, str):
        modes = (modes,)
    modes = tuple(modes)
    if not modes or any(m not in ("fwd", "rev") for m in modes):
        raise ValueError(f"gradcheck: modes must be 'fwd' and/or 'rev' (at least one), got {modes!r}")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"gradcheck: order must be an integer of at least 1, got {order!r}")
    if eps is not None and not (isinstance(eps, (int, float, np.floating)) and eps > 0):
        raise ValueError(f"gradcheck: eps must be a number > 0, got {eps!r}")
    nums, _ = _argnums(argnums, len(args), "gradcheck")
    args = [tree_map(lambda v: np.asarray(_primal(v), dtype=np.float64), a) if k in nums else a
            for k, a in enumerate(args)]
    eps = 1e-6 if eps is None else eps
    rtol = 1e-5 if rtol is None else rtol
    atol = 1e-6 if atol is None else atol
    rng = np.random.default_rng(seed)
    name = getattr(f, "__name__", repr(f))

    def fx(*diff):
        full = list(args)
        for k, v in zip(nums, diff):
            full[k] = v
        return f(*full)

    _check(fx, tuple(args[k] for k in nums), modes, order, eps, rtol, atol, rng, name, 1)
    return True


def _flat_float(tree):
    leaves, tdef = tree_flatten(tree)
    return [np.asarray(_primal(v), dtype=np.float64) for v in leaves], tdef


def _random_like(tree, rng):
    leaves, tdef = tree_flatten(tree)
    return tree_unflatten(tdef, [rng.standard_normal(np.shape(_primal(v))) for v in leaves])


def _dot(a, b):
    la, _ = _flat_float(a)
    lb, _ = _flat_float(b)
    return float(sum(np.sum(x * y) for x, y in zip(la, lb)))


def _axpy(alpha, v, x):
    return tree_map(lambda xi, vi: xi + alpha * vi, x, v)


def _check(f, primals, modes, order, eps, rtol, atol, rng, name, level):
    v = _random_like(primals, rng)
    out = f(*primals)
    u = _random_like(out, rng)
    plus = f(*_axpy(eps, v, primals))
    minus = f(*_axpy(-eps, v, primals))
    lp, _ = _flat_float(plus)
    lm, _ = _flat_float(minus)
    fd = [(p - m) / (2 * eps) for p, m in zip(lp, lm)]
    fd_u = sum(float(np.sum(a * b)) for a, b in zip(fd, _flat_float(u)[0]))
    v2, u2 = _random_like(primals, rng), _random_like(out, rng)
    for mode in modes:
        if mode == "fwd":
            _, t = jvp(f, primals, v)
            got = _flat_float(t)[0]
            for g, e in zip(got, fd):
                _compare(g, e, rtol, atol, name, mode, level)
            # the batched path (how whole Jacobians are computed) agrees with one at a time
            _, tb = _jvp(f, primals, _stack(v, v2), 1)
            for single, batch in ((t, 0), (jvp(f, primals, v2)[1], 1)):
                for g, e in zip(_flat_float(tb)[0], _flat_float(single)[0]):
                    _compare(g[batch], e, rtol, atol, name, "batched fwd", level)
        else:
            _, fn = vjp(f, *primals)
            ct = fn(u)
            _compare(np.asarray(_dot(ct, v)), np.asarray(fd_u), rtol, atol, name, mode, level)
            cb = fn(_stack(u, u2))
            for single, batch in ((ct, 0), (fn(u2), 1)):
                for g, e in zip(_flat_float(cb)[0], _flat_float(single)[0]):
                    _compare(g[batch], e, rtol, atol, name, "batched rev", level)
    if level < order:
        for mode in modes:
            if mode == "fwd":
                def deriv(*x, _v=v):
                    return jvp(f, x, _v)[1]
            else:
                def deriv(*x, _u=u):
                    return vjp(f, *x)[1](_u)
            deriv.__name__ = f"{mode}-derivative of {name}"
            _check(deriv, primals, modes, order, eps, rtol, atol, rng, name, level + 1)


def _stack(a, b):
    """Two pytrees of the same structure as one, with a leading batch axis of 2."""
    return tree_map(lambda x, y: np.stack([x, y]), a, b)


def _compare(got, expected, rtol, atol, name, mode, level):
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        raise GradcheckError(f"gradcheck of {name}: {mode}-mode derivative of order {level} has "
                             f"shape {got.shape}, finite differences give {expected.shape}")
    err = np.abs(got - expected)
    tol = atol + rtol * np.abs(expected)
    if not np.all(err <= tol) or not np.array_equal(np.isfinite(got), np.isfinite(expected)):
        worst = float(np.nanmax(err)) if err.size else 0.0
        limit = float(np.max(tol)) if tol.size else atol
        reference = ("the same derivative taken one direction at a time" if mode.startswith("batched")
                     else "central finite differences")
        raise GradcheckError(
            f"gradcheck of {name}: {mode}-mode derivative of order {level} differs from "
            f"{reference} by up to {worst:.3g} (tolerance {limit:.3g});"
            f"\n engine: {np.array2string(got.ravel()[:6], precision=6)}"
            f"\n reference: {np.array2string(expected.ravel()[:6], precision=6)}")

