"""Shared helpers: a finite-difference Jacobian that does not use the engine at all."""

from __future__ import annotations

import os

# One of scikit-learn's estimator checks (test_sklearn_checks.py) runs each estimator under
# array-API dispatch on NumPy arrays, and skips itself unless SciPy is imported with this set;
# the rest of the suite passes the same with it on or off.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def numerical_jacobian(f, x, eps=1e-6):
    """Central differences of ``f`` at ``x`` (float64), shaped ``f(x).shape + x.shape``."""
    x = np.array(x, dtype=np.float64)
    out = np.asarray(f(x), dtype=np.float64)
    jac = np.zeros(out.shape + x.shape)
    if jac.size == 0:
        return jac
    flat = x.reshape(-1)
    for k in range(flat.size):
        step = np.zeros_like(flat)
        step[k] = eps
        plus = np.asarray(f((flat + step).reshape(x.shape)), dtype=np.float64)
        minus = np.asarray(f((flat - step).reshape(x.shape)), dtype=np.float64)
        jac.reshape(out.shape + (-1,))[..., k] = (plus - minus) / (2 * eps)
    return jac


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def assert_jacobians_agree(f, args, argnum=0):
    """jacobian(rev) == jacobian(fwd) == central differences, shaped out.shape + in.shape."""
    import chainrule as cr
    rev = cr.jacobian(f, argnum, mode="rev")(*args)
    fwd = cr.jacobian(f, argnum, mode="fwd")(*args)

    def of_arg(v):
        full = list(args)
        full[argnum] = v
        return f(*full)

    fd = numerical_jacobian(of_arg, args[argnum])
    assert rev.shape == fwd.shape == fd.shape == np.shape(f(*args)) + np.shape(args[argnum])
    np.testing.assert_allclose(rev, fwd, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rev, fd, rtol=1e-6, atol=1e-6)
