"""What the estimators share: L-BFGS over chainrule gradients, parameter and input checks,
sample weights, and warnings that point at the user's code."""

from __future__ import annotations

import numbers
import os
import sys
import warnings

import numpy as np
import scipy.optimize
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import _check_sample_weight

from ..transforms import value_and_grad

__all__ = ["minimize_lbfgs", "normalised_weights", "standardize", "check_number", "check_choice",
           "warn_at_caller", "InvalidParameterError"]


class InvalidParameterError(ValueError, TypeError):
    """A hyper-parameter of the wrong type or out of range (both a ValueError and a TypeError, as
    scikit-learn's own parameter errors are)."""

# frames in these folders are library code: a warning is attributed to the first frame outside
# them, the user's own call (also when it came through a Pipeline or GridSearchCV)
_LIBRARY_DIRS = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep
                      for m in (sys.modules[__package__.rsplit(".", 1)[0]], sklearn))


def warn_at_caller(message, category=UserWarning):
    """``warnings.warn`` with the stack level of the first caller outside chainrule and scikit-learn."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def check_number(name, param, value, *, low=None, high=None, low_open=False, high_open=False,
                 integer=False):
    """Refuse ``value`` unless it is a real number (an integer if ``integer``) in the interval;
    the error names the estimator, the parameter and the value."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, kind):
        raise InvalidParameterError(f"{name}: {param} must be {'an integer' if integer else 'a number'}, "
                        f"got {value!r}")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above or value != value:
        if low is not None and high is not None:
            bounds = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        elif low is not None:
            bounds = f"{'>' if low_open else '≥'} {low}"
        else:
            bounds = f"{'<' if high_open else '≤'} {high}"
        raise InvalidParameterError(f"{name}: {param} must be {bounds}, got {value!r}")


def check_choice(name, param, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise InvalidParameterError(f"{name}: {param} must be one of {', '.join(map(repr, choices))}, "
                                    f"got {value!r}")


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
        warn_at_caller(f"{name}: L-BFGS-B did not converge within max_iter={max_iter} iterations "
                       f"(max_fun={max_fun} evaluations); increase max_iter or scale the data "
                       "(e.g. with sklearn.preprocessing.StandardScaler)", ConvergenceWarning)
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
