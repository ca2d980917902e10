"""chainrule._blas.axpy, the optimizers' one-pass update ``w ← w - η g``, and the optimizers on
parameters large enough to use it."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import _blas, nn, optim
from chainrule._core import version_of

rng = np.random.default_rng(3)
N = _blas.AXPY_MIN + 5                     # large enough for BLAS, not a multiple of a SIMD width
NUMPY_SHIPS_OPENBLAS = np.__config__.CONFIG["Build Dependencies"]["blas"].get("name") == "scipy-openblas"


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-6), (np.float64, 1e-15)])
def test_axpy_adds_alpha_x_to_y_in_place(dtype, rtol):
    x, y = rng.standard_normal((2, 129, 129)).astype(dtype)      # 16641 entries, 2-D
    expected = y + dtype(-0.3) * x
    y_before = y
    done = _blas.axpy(-0.3, x, y)
    # NumPy's own wheels ship OpenBLAS, and there axpy must be found (else it may decline)
    assert done or not NUMPY_SHIPS_OPENBLAS
    if done:
        assert y is y_before
        np.testing.assert_allclose(y, expected, rtol=rtol, atol=rtol)
    else:
        np.testing.assert_array_equal(y, y_before)


@pytest.mark.parametrize("offset", [0, 7])
def test_axpy_reads_a_read_only_x_and_views_that_start_inside_their_base(offset):
    # the addresses come from the arrays' buffers, or from ctypes for a read-only x
    base_x, base_y = rng.standard_normal((2, N + offset))
    x, y = base_x[offset:], base_y[offset:]
    x.flags.writeable = False
    expected, before = y + 0.5 * x, base_y[:offset].copy()
    assert _blas._address(x) == x.ctypes.data and _blas._address(y) == y.ctypes.data
    if _blas.axpy(0.5, x, y):
        np.testing.assert_allclose(y, expected, rtol=1e-15)
        np.testing.assert_array_equal(base_y[:offset], before)      # nothing before y is touched
    else:
        assert not NUMPY_SHIPS_OPENBLAS


def _declined(x, y):
    before = y.copy()
    assert _blas.axpy(2.0, x, y) is False
    np.testing.assert_array_equal(y, before)


def test_axpy_declines_what_it_cannot_update_and_leaves_y_alone():
    x = rng.standard_normal(N)
    _declined(x[:100], x[:100].copy() + 1)                       # too small
    _declined(x.astype(np.float32), x.copy())                    # two dtypes
    _declined(x.astype(int), x.astype(int))                      # not floats
    wide = rng.standard_normal((N, 2))
    _declined(wide[:, 0].copy(), wide[:, 0])                     # y not contiguous
    _declined(x, np.concatenate([x, x]))                         # two shapes
    both = np.concatenate([x, x])
    _declined(both[:N], both[3:N + 3])                           # overlapping memory
    frozen = x.copy()
    frozen.flags.writeable = False
    assert _blas.axpy(2.0, x, frozen) is False


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kwargs", [dict(lr=0.1), dict(lr=0.1, momentum=0.9, nesterov=True),
                                    dict(lr=0.05, momentum=0.8, weight_decay=0.01)], ids=str)
def test_sgd_on_a_large_parameter_matches_the_formula(dtype, kwargs):
    w0 = rng.standard_normal((N,)).astype(dtype)
    c = rng.random(N).astype(dtype)
    w = nn.Parameter(w0.copy())
    opt = optim.SGD([w], **kwargs)
    lr, mu, wd = kwargs["lr"], kwargs.get("momentum", 0.0), kwargs.get("weight_decay", 0.0)
    hand, buf = w0.astype(np.float64), None
    for _ in range(4):
        opt.zero_grad()
        (0.5 * (c * w * w).sum()).backward()
        version = version_of(w)
        opt.step()
        assert version_of(w) == version + 1                      # saved graphs see the change
        g = c * hand + wd * hand
        if mu:
            buf = g if buf is None else mu * buf + g
            g = g + mu * buf if kwargs.get("nesterov") else buf
        hand = hand - lr * g
        assert w.dtype == dtype
        np.testing.assert_allclose(w.numpy(), hand, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_adam_on_a_large_parameter_matches_the_formula():
    w0, c = rng.standard_normal(N), rng.random(N)
    w = nn.Parameter(w0.copy())
    opt = optim.Adam([w], lr=0.01)
    m = v = np.zeros(N)
    hand = w0.copy()
    for t in range(1, 5):
        opt.zero_grad()
        (0.5 * (c * w * w).sum()).backward()
        opt.step()
        g = c * hand
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        hand = hand - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        np.testing.assert_allclose(w.numpy(), hand, rtol=1e-12, atol=1e-14)


def test_a_zero_learning_rate_still_spreads_a_nan_gradient_into_large_parameters():
    # BLAS axpy returns at once for alpha = 0; w - 0·NaN is NaN, as in NumPy and PyTorch
    x, y = np.full(N, np.nan), np.ones(N)
    assert _blas.axpy(0.0, x, y) is False
    for size in (3, N):
        w = nn.Parameter(np.ones(size))
        w.grad = np.full(size, np.nan)
        optim.SGD([w], lr=0.0).step()
        assert np.isnan(w.numpy()).all()
