"""What the estimators share: L-BFGS over chainrule gradients, input checks, sample weights."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import _check_sample_weight

from ..transforms import value_and_grad

__all__ = ["minimize_lbfgs", "normalised_weights", "standardize"]


_FTOL = 64 * np.finfo(float).eps           # L-BFGS-B's relative-decrease test, as scikit-learn sets it


def _flatten(arrays):
    return np.concatenate([np.ravel(a) for a in arrays])


def _unflatten(flat, shapes):
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(flat[start:start + size].reshape(shape))
        start += size
    return out


def minimize_lbfgs(objective, params, args, *, tol, max_iter, max_fun=15000, name, callback=None,
                   ftol=_FTOL):
    """Minimise ``objective(params, *args)`` over the list of float64 arrays ``params`` with
    scipy's L-BFGS-B, the gradient coming from chainrule's ``value_and_grad``.

    ``tol`` is L-BFGS-B's ``gtol`` (the largest gradient entry at which it stops).  Returns the
    optimal arrays and the number of iterations; warns ``ConvergenceWarning`` when ``max_iter``
    or ``max_fun`` ran out first.
    """
    shapes = [np.shape(p) for p in params]
    vg = value_and_grad(lambda ps: objective(ps, *args))

    def fun(flat):
        value, grads = vg(_unflatten(flat, shapes))
        return float(value), _flatten(grads)

    cb = None
    if callback is not None:
        def cb(intermediate_result):
            callback(float(intermediate_result.fun))

    res = scipy.optimize.minimize(
        fun, _flatten(params), jac=True, method="L-BFGS-B", callback=cb,
        options={"maxiter": int(max_iter), "maxfun": int(max_fun), "gtol": float(tol),
                 "ftol": ftol, "maxls": 50})
    if res.status == 1:
        warnings.warn(f"{name}: L-BFGS-B did not converge within max_iter={max_iter} iterations "
                      f"(max_fun={max_fun} evaluations); increase max_iter or scale the data "
                      "(e.g. with sklearn.preprocessing.StandardScaler)", ConvergenceWarning, stacklevel=3)
    return _unflatten(res.x, shapes), int(res.nit)


def normalised_weights(sample_weight, X, name):
    """``(p, total)``: the sample weights divided by their sum, and the sum itself."""
    sw = _check_sample_weight(sample_weight, X, dtype=np.float64)
    if np.any(sw < 0):
        raise ValueError(f"{name}: sample weights must be non-negative")
    total = float(sw.sum())
    if not total > 0:
        raise ValueError(f"{name}: the sample weights sum to {total}; at least one must be positive")
    return sw / total, total


def standardize(X, p, center):
    """``(Xs, mean, scale)`` with ``Xs = (X - mean) / scale`` under the weights ``p``.

    Solving in standardised coordinates is only a preconditioner: the penalty is rewritten for
    them, so the optimum, mapped back, is the optimum of the original problem.  Features with no
    spread keep scale 1.  Without ``center`` the mean is 0 and the scale is the root mean square.
    """
    mean = p @ X if center else np.zeros(X.shape[1])
    scale = np.sqrt(p @ np.square(X - mean))
    scale[~(scale > 1e-12 * max(1.0, float(np.max(np.abs(X), initial=0.0))))] = 1.0
    return (X - mean) / scale, mean, scale
