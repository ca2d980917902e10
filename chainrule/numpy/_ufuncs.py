"""Elementwise functions and their derivatives.

An elementwise function has a diagonal Jacobian, so its VJP and its JVP are the same map:
multiply by the partial derivative.  Each rule below is that map, ``rule(g, ans, *args)``,
used for both modes; broadcasting is undone centrally by ``unbroadcast``.
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from .._core import Tensor, _dtype, _primal, defjvp, defvjp, primitive

__all__ = ["add", "subtract", "multiply", "divide", "true_divide", "negative", "positive", "power",
           "square", "sqrt", "cbrt", "reciprocal", "exp", "exp2", "expm1", "log", "log2", "log10",
           "log1p", "logaddexp", "logaddexp2", "absolute", "abs", "fabs", "sign", "sin", "cos",
           "tan", "arcsin", "arccos", "arctan", "arctan2", "hypot", "deg2rad", "rad2deg", "radians",
           "degrees", "sinc", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "maximum",
           "minimum", "fmax", "fmin", "clip", "where", "nan_to_num", "astype", "mod", "remainder", "fmod"]

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_DEG = math.pi / 180.0


def elementwise(name, impl, *rules, broadcasts=None):
    """Declare an elementwise primitive with one rule per argument (``None``: no derivative)."""
    nargs = len(rules)
    fn = primitive(impl, name=name, broadcasts=nargs > 1 if broadcasts is None else broadcasts)
    prim = fn.prim
    # only the traced path runs ``prim.impl``; plain arrays keep NumPy's own call, keywords
    # (out=, dtype=, where=) and errors
    prim.impl = _traced_impl(name, impl, _arity(impl))
    for i, rule in enumerate(rules):
        if rule is not None:
            prim.vjps[i] = rule
            prim.jvps[i] = rule
    return fn


def _arity(impl):
    """How many positional arguments ``impl`` takes (None: any number, or unknown)."""
    if isinstance(impl, np.ufunc):
        return impl.nin
    try:
        params = inspect.signature(impl).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])


def _traced_impl(name, impl, nargs):
    """``impl`` for traced values: keyword arguments and a positional ``out`` refused (the rules
    do not know them), a broadcasting failure reported as ``name: ... shapes (2,) and (3,)``."""
    def checked(*args, **kw):
        if kw:
            raise TypeError(f"{name}: keyword arguments ({', '.join(kw)}) are not supported on "
                            "traced values; cast with astype() or select with where() instead")
        if nargs is not None and len(args) > nargs:
            raise TypeError(f"{name}: takes {nargs} array argument{'s' if nargs > 1 else ''} on traced "
                            f"values, got {len(args)} (an out= array, given positionally?)")
        try:
            return impl(*args)
        except ValueError:
            shapes = [np.shape(a) for a in args if a is not None]
            try:
                np.broadcast_shapes(*shapes)
            except ValueError:
                raise ValueError(f"{name}: operands could not be broadcast together with shapes "
                                 + " and ".join(str(s) for s in shapes)) from None
            raise
    return checked


def _const(x):
    """A non-differentiable view of a possibly traced value (for masks and signs)."""
    return _primal(x)


def _mask(cond, like):
    """A 0/1 (or 0/½/1) mask in the dtype of ``like``, so float32 stays float32."""
    dtype = _dtype(like)
    if not np.issubdtype(dtype, np.inexact):
        dtype = np.float64
    return np.asarray(cond, dtype=dtype)


def _tie(x, y, like):
    """∂max(x, y)/∂x: 1 where x wins, ½ on ties (the gradient is split), 0 where y wins."""
    x, y = _const(x), _const(y)
    return _mask((x > y) + 0.5 * (x == y), like)


# ---- arithmetic
add = elementwise("add", np.add, lambda g, ans, x, y: g, lambda g, ans, x, y: g)
subtract = elementwise("subtract", np.subtract, lambda g, ans, x, y: g, lambda g, ans, x, y: -g)
multiply = elementwise("multiply", np.multiply,
                       lambda g, ans, x, y: g * y,
                       lambda g, ans, x, y: g * x)
divide = elementwise("divide", np.divide,
                     lambda g, ans, x, y: g / y,
                     lambda g, ans, x, y: -g * ans / y)          # ∂(x/y)/∂y = -x/y²
true_divide = divide
negative = elementwise("negative", np.negative, lambda g, ans, x: -g)
positive = elementwise("positive", np.positive, lambda g, ans, x: g)


# ---- remainders: x - q·y with q = floor(x/y) (mod) or trunc(x/y) (fmod), an integer that is
# constant between the jumps, so ∂/∂x = 1 and ∂/∂y = -q (the derivatives JAX and PyTorch give)
def _quotient(ans, x, y, like):
    """The integer ``q`` of ``ans = x - q·y``, read back from the result (exact where x/y would
    round across an integer); NaN where y = 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _mask(np.round((_const(x) - _const(ans)) / _const(y)), like)


mod = elementwise("mod", np.mod, lambda g, ans, x, y: g, lambda g, ans, x, y: -g * _quotient(ans, x, y, g))
remainder = mod
fmod = elementwise("fmod", np.fmod, lambda g, ans, x, y: g, lambda g, ans, x, y: -g * _quotient(ans, x, y, g))


def _pow_dx(g, ans, x, y):
    # ∂xʸ/∂x = y·xʸ⁻¹, and 0 for y = 0 (x⁰ = 1 is constant, also at x = 0, where 0·0⁻¹ is nan)
    y_zero = _const(y) == 0                      # the exponent first: usually one scalar
    if np.any(y_zero):
        zero = y_zero & (_const(x) == 0)
        if np.any(zero):
            return g * y * power(x, where(zero, 1, y - 1))
    return g * y * power(x, y - 1)


def _pow_dy(g, ans, x, y):
    # ∂xʸ/∂y = xʸ·log x  (0 where x = 0: the limit for y > 0)
    if not isinstance(x, Tensor):                # a constant base takes the result's dtype
        x = np.asarray(x, dtype=_dtype(ans))
    safe = where(_const(x) == 0, 1, x)
    return g * ans * log(safe)


power = elementwise("power", np.power, _pow_dx, _pow_dy)
square = elementwise("square", np.square, lambda g, ans, x: g * (2 * x))
sqrt = elementwise("sqrt", np.sqrt, lambda g, ans, x: g / (2 * ans))
cbrt = elementwise("cbrt", np.cbrt, lambda g, ans, x: g / (3 * ans * ans))
reciprocal = elementwise("reciprocal", np.reciprocal, lambda g, ans, x: -g * ans * ans)

# ---- exponentials and logarithms
exp = elementwise("exp", np.exp, lambda g, ans, x: g * ans)
exp2 = elementwise("exp2", np.exp2, lambda g, ans, x: g * ans * _LN2)
expm1 = elementwise("expm1", np.expm1, lambda g, ans, x: g * exp(x))   # not ans + 1: it cancels for x < 0
log = elementwise("log", np.log, lambda g, ans, x: g / x)
log2 = elementwise("log2", np.log2, lambda g, ans, x: g / (x * _LN2))
log10 = elementwise("log10", np.log10, lambda g, ans, x: g / (x * _LN10))
log1p = elementwise("log1p", np.log1p, lambda g, ans, x: g / (x + 1))


def _exp_minus_abs(d):
    """``(e^(-|d|), d ≥ 0)``: at most 1, so never an overflow; -|d| is taken branch by branch,
    so its derivative at d = 0 is that of a branch, not sign(0) = 0."""
    up = _const(d) >= 0
    return exp(where(up, -d, d)), up


def _weight(d):
    """σ(d) = 1/(1 + e⁻ᵈ), from e^(-|d|): 1 - σ(d) = σ(-d) never cancels (as exp(x -
    logaddexp(x, y)) does once the sum rounds: weights of 1 for equal inputs of 1e16)."""
    e, up = _exp_minus_abs(d)
    return where(up, 1 / (1 + e), e / (1 + e))


def _sech2(x):
    """1/cosh²(x) = 4u/(1 + u)² with u = e^(-2|x|): exact for every x (1 - tanh² is 0 once
    tanh rounds to ±1, in float32 from |x| ≈ 9)."""
    u = _exp_minus_abs(2 * x)[0]
    return 4 * u / square(1 + u)


logaddexp = elementwise("logaddexp", np.logaddexp,               # the softmax weights of x and y
                        lambda g, ans, x, y: g * _weight(x - y),
                        lambda g, ans, x, y: g * _weight(y - x))
logaddexp2 = elementwise("logaddexp2", np.logaddexp2,
                         lambda g, ans, x, y: g * _weight((x - y) * _LN2),
                         lambda g, ans, x, y: g * _weight((y - x) * _LN2))

# ---- signs and magnitudes (abs'(0) = 0: the subgradient sign(0))
absolute = elementwise("absolute", np.absolute, lambda g, ans, x: g * sign(x))
abs = absolute  # noqa: A001  (NumPy's name)
fabs = elementwise("fabs", np.fabs, lambda g, ans, x: g * sign(x))
# sign' = 0: zeros rather than no cotangent, so a leaf reached only through sign gets a zero
# gradient (as in PyTorch), not None (which an optimizer would skip)
sign = elementwise("sign", np.sign, lambda g, ans, x: _mask(np.zeros(np.shape(_const(g))), g))


# ---- trigonometry
sin = elementwise("sin", np.sin, lambda g, ans, x: g * cos(x))
cos = elementwise("cos", np.cos, lambda g, ans, x: -g * sin(x))
tan = elementwise("tan", np.tan, lambda g, ans, x: g * (1 + ans * ans))
# (1 - x)(1 + x), not 1 - x², which loses digits near ±1; hypot, not x² + y², which overflows
# or underflows where the derivative itself is an ordinary number
arcsin = elementwise("arcsin", np.arcsin, lambda g, ans, x: g / sqrt((1 - x) * (1 + x)))
arccos = elementwise("arccos", np.arccos, lambda g, ans, x: -g / sqrt((1 - x) * (1 + x)))
arctan = elementwise("arctan", np.arctan, lambda g, ans, x: g * square(1 / hypot(x, 1)))
arctan2 = elementwise("arctan2", np.arctan2,
                      lambda g, ans, y, x: g * (x / hypot(x, y)) / hypot(x, y),
                      lambda g, ans, y, x: -g * (y / hypot(x, y)) / hypot(x, y))


def _hypot_d(g, ans, x, y):
    # ∂hypot/∂x = x / hypot, and 0 at the origin (the subgradient of the norm's convention)
    zero = _const(ans) == 0
    return g * where(zero, 0, x / where(zero, 1, ans))


hypot = elementwise("hypot", np.hypot, _hypot_d, lambda g, ans, x, y: _hypot_d(g, ans, y, x))
deg2rad = elementwise("deg2rad", np.deg2rad, lambda g, ans, x: g * _DEG)
rad2deg = elementwise("rad2deg", np.rad2deg, lambda g, ans, x: g * (1 / _DEG))
radians, degrees = deg2rad, rad2deg


# sinc'(x) = π·s(πx) with s(u) = (u cos u - sin u)/u² = Σₖ (-1)ᵏ 2k/(2k+1)! u^(2k-1), k ≥ 1
_SINC_SERIES = [(-1) ** k * 2 * k / math.factorial(2 * k + 1) for k in range(1, 10)]


def _sinc_d(g, ans, x):
    # sinc(x) = sin(πx)/(πx); sinc'(x) = (cos(πx) - sinc(x))/x, which cancels catastrophically
    # as x → 0 (relative error ε/u² for u = πx), so for |u| < 1 the series is summed instead
    # (9 terms: the next is 1e-18 of the first). Each branch sees safe values only, so the
    # derivatives of the one not taken are finite (zero times them is zero, not NaN).
    small = np.abs(_const(x)) < 1 / math.pi
    u = math.pi * where(small, x, 0)
    u2 = u * u
    series = _SINC_SERIES[-1]
    for c in reversed(_SINC_SERIES[:-1]):
        series = c + u2 * series
    safe = where(small, 1, x)
    return g * where(small, math.pi * u * series, (cos(math.pi * safe) - ans) / safe)


sinc = elementwise("sinc", np.sinc, _sinc_d)

# ---- hyperbolic functions
sinh = elementwise("sinh", np.sinh, lambda g, ans, x: g * cosh(x))
cosh = elementwise("cosh", np.cosh, lambda g, ans, x: g * sinh(x))
tanh = elementwise("tanh", np.tanh, lambda g, ans, x: g * _sech2(x))
arcsinh = elementwise("arcsinh", np.arcsinh, lambda g, ans, x: g / hypot(x, 1))
arccosh = elementwise("arccosh", np.arccosh, lambda g, ans, x: g / (sqrt(x - 1) * sqrt(x + 1)))
arctanh = elementwise("arctanh", np.arctanh, lambda g, ans, x: g / ((1 - x) * (1 + x)))

# ---- comparisons that select (ties split the gradient equally)
maximum = elementwise("maximum", np.maximum,
                      lambda g, ans, x, y: g * _tie(x, y, g),
                      lambda g, ans, x, y: g * _tie(y, x, g))
minimum = elementwise("minimum", np.minimum,
                      lambda g, ans, x, y: g * _tie(y, x, g),
                      lambda g, ans, x, y: g * _tie(x, y, g))


def _fwins(x, y, like, pick):
    x, y = _const(x), _const(y)
    nan_x, nan_y = np.isnan(x), np.isnan(y)
    return _mask(np.where(nan_y, ~nan_x, np.where(nan_x, False, pick(x, y))), like)


fmax = elementwise("fmax", np.fmax,
                   lambda g, ans, x, y: g * _fwins(x, y, g, lambda a, b: (a > b) + 0.5 * (a == b)),
                   lambda g, ans, x, y: g * _fwins(y, x, g, lambda a, b: (a > b) + 0.5 * (a == b)))
fmin = elementwise("fmin", np.fmin,
                   lambda g, ans, x, y: g * _fwins(x, y, g, lambda a, b: (a < b) + 0.5 * (a == b)),
                   lambda g, ans, x, y: g * _fwins(y, x, g, lambda a, b: (a < b) + 0.5 * (a == b)))


def _clip(x, a_min, a_max, **kwargs):
    return np.clip(x, a_min, a_max, **kwargs)


def _inside(x, a_min, a_max):
    x = _const(x)
    inside = np.ones(np.shape(x), bool)
    if a_min is not None:
        inside = inside & (x >= _const(a_min))     # not &=: the bounds may broadcast x
    if a_max is not None:
        inside = inside & (x <= _const(a_max))
    return inside


def _clip_dlo(g, ans, x, lo, hi):
    # clip = min(max(x, lo), hi): lo is the result where x < lo, unless lo > hi (then hi is)
    takes = _const(x) < _const(lo)
    if hi is not None:
        takes = takes & (_const(lo) <= _const(hi))
    return g * _mask(takes, g)


def _clip_dhi(g, ans, x, lo, hi):
    takes = _const(x) > _const(hi)
    if lo is not None:
        takes = takes | (_const(lo) > _const(hi))
    return g * _mask(takes, g)


_clip_p = elementwise(
    "clip", _clip,
    lambda g, ans, x, lo, hi: g * _mask(_inside(x, lo, hi), g),
    _clip_dlo, _clip_dhi,
    broadcasts=True)


def clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **kwargs):  # noqa: A002
    """``numpy.clip``, with NumPy 2.1's names ``min=``/``max=`` for the bounds too; the gradient
    passes where ``a_min <= a <= a_max``. ``out=``, ``dtype=`` and NumPy's other keywords work on
    plain arrays and are refused on traced values."""
    if min is not None or max is not None:
        if min is not None and a_min is not None or max is not None and a_max is not None:
            raise TypeError("clip: each bound is given twice (a_min and min, or a_max and max); "
                            "give each once")
        a_min = a_min if min is None else min
        a_max = a_max if max is None else max
    if out is not None:
        kwargs["out"] = out
    return _clip_p(a, a_min, a_max, **kwargs)


def _where3(cond, x, y):
    return np.where(cond, x, y)


_where_p = elementwise(
    "where", _where3,
    None,
    lambda g, ans, c, x, y: where(c, g, 0),
    lambda g, ans, c, x, y: where(c, 0, g),
    broadcasts=True)


def where(condition, x=None, y=None):
    """``numpy.where``; the condition is not differentiable."""
    if x is None and y is None:
        return np.where(_primal(condition))
    if x is None or y is None:
        raise ValueError("where: either both or neither of x and y must be given")
    if isinstance(condition, Tensor):
        condition = _primal(condition)
    return _where_p(condition, x, y)


_nan_to_num_p = elementwise(
    "nan_to_num", lambda x, nan, posinf, neginf: np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf),
    lambda g, ans, x, *_: g * _mask(np.isfinite(_const(x)), g),
    broadcasts=False)


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """``numpy.nan_to_num``; the gradient passes where ``x`` is finite."""
    return _nan_to_num_p(x, nan, posinf, neginf)


def _astype(x, dtype):
    return np.asarray(x).astype(dtype)          # x may be a Python float (a jvp's primal)


_astype_p = primitive(_astype, name="astype")
defvjp(_astype_p, lambda g, ans, x, dtype: _astype_p(g, _dtype(x)))
defjvp(_astype_p, lambda t, ans, x, dtype: _astype_p(t, dtype))


def astype(x, dtype, copy=True):
    """``numpy.astype``; casting to an integer or boolean dtype gives a constant."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.inexact):
        return np.asarray(_primal(x)).astype(dtype)
    return _astype_p(x, dtype)
