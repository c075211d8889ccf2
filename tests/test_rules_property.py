"""Property-based checks of the elementwise and reduction rules: random shapes (scalars
included), random broadcasting between two operands, random axes and keepdims, in the
tape and in generated source, each against central finite differences in float64.

The functions under test are written out as a small module (the transform reads source),
one function per operation: ``def sin(x): return np.sin(x)``.
"""

from __future__ import annotations

import importlib.util
import math
import os
import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from numeric import assert_close, numeric_vjp

import astgrad as ag

# A modest budget per operation keeps the suite fast (the operations are many), and the
# same examples on every run keep it deterministic. ASTGRAD_PROPERTY_EXAMPLES=500 explores
# further, with fresh examples each run.
EXAMPLES = int(os.environ.get("ASTGRAD_PROPERTY_EXAMPLES", "0"))
PROPERTY = settings(
    max_examples=EXAMPLES or 12,
    derandomize=not EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# name -> (expression in x, domain of x). Domains keep away from poles and from the points
# where a function has no derivative (|x| at 0), so the finite differences are meaningful.
AWAY_FROM_ZERO = "away_from_zero"
# Points 0.01 apart in [-2, 2] that miss the integers (the kinks of |x| and of clip(x, -1, 1))
# and, drawn without repeats, never tie (max, min and std have no derivative at ties).
GRID = "grid"
UNARY = {
    "negative": ("-x", (-2, 2)),
    "positive": ("np.positive(x)", (-2, 2)),
    "square": ("np.square(x)", (-2, 2)),
    "sqrt": ("np.sqrt(x)", (0.2, 3)),
    "cbrt": ("np.cbrt(x)", AWAY_FROM_ZERO),
    "reciprocal": ("np.reciprocal(x)", AWAY_FROM_ZERO),
    "exp": ("np.exp(x)", (-2, 2)),
    "exp2": ("np.exp2(x)", (-2, 2)),
    "expm1": ("np.expm1(x)", (-2, 2)),
    "log": ("np.log(x)", (0.2, 3)),
    "log2": ("np.log2(x)", (0.2, 3)),
    "log10": ("np.log10(x)", (0.2, 3)),
    "log1p": ("np.log1p(x)", (-0.5, 2)),
    "sin": ("np.sin(x)", (-3, 3)),
    "cos": ("np.cos(x)", (-3, 3)),
    "tan": ("np.tan(x)", (-1.2, 1.2)),
    "arcsin": ("np.arcsin(x)", (-0.9, 0.9)),
    "arccos": ("np.arccos(x)", (-0.9, 0.9)),
    "arctan": ("np.arctan(x)", (-3, 3)),
    "sinh": ("np.sinh(x)", (-2, 2)),
    "cosh": ("np.cosh(x)", (-2, 2)),
    "tanh": ("np.tanh(x)", (-2, 2)),
    "arcsinh": ("np.arcsinh(x)", (-2, 2)),
    "arccosh": ("np.arccosh(x)", (1.2, 3)),
    "arctanh": ("np.arctanh(x)", (-0.9, 0.9)),
    "absolute": ("np.abs(x)", AWAY_FROM_ZERO),
    "abs_builtin": ("abs(x)", AWAY_FROM_ZERO),
    "fabs": ("np.fabs(x)", AWAY_FROM_ZERO),
    "sinc": ("np.sinc(x)", (-2, 2)),
    "deg2rad": ("np.deg2rad(x)", (-2, 2)),
    "rad2deg": ("np.rad2deg(x)", (-2, 2)),
    "clip": ("np.clip(x, -1.0, 1.0)", GRID),
    "sigmoid": ("ag.sigmoid(x)", (-3, 3)),
    "power_constant": ("x ** 3", (-2, 2)),
    "power_constant_base": ("2.0 ** x", (-2, 2)),
}

# name -> (expression in x and y, domain of x, domain of y)
BINARY = {
    "add": ("x + y", (-2, 2), (-2, 2)),
    "subtract": ("x - y", (-2, 2), (-2, 2)),
    "multiply": ("x * y", (-2, 2), (-2, 2)),
    "divide": ("x / y", (-2, 2), AWAY_FROM_ZERO),
    "np_divide": ("np.divide(x, y)", (-2, 2), AWAY_FROM_ZERO),
    "power": ("x ** y", (0.3, 2), (-2, 2)),
    "float_power": ("np.float_power(x, y)", (0.3, 2), (-2, 2)),
    "logaddexp": ("np.logaddexp(x, y)", (-2, 2), (-2, 2)),
    "logaddexp2": ("np.logaddexp2(x, y)", (-2, 2), (-2, 2)),
    # the first argument stays off 0, where arctan2 jumps by 2 pi for a negative second
    "arctan2": ("np.arctan2(x, y)", AWAY_FROM_ZERO, (-2, 2)),
    "hypot": ("np.hypot(x, y)", AWAY_FROM_ZERO, AWAY_FROM_ZERO),
    "maximum": ("np.maximum(x, y)", (-2, 2), (-2, 2)),
    "minimum": ("np.minimum(x, y)", (-2, 2), (-2, 2)),
    "fmax": ("np.fmax(x, y)", (-2, 2), (-2, 2)),
    "fmin": ("np.fmin(x, y)", (-2, 2), (-2, 2)),
    "where": ("np.where(x > 0, x * y, y)", AWAY_FROM_ZERO, (-2, 2)),
}
# maximum and the like have no derivative where the operands tie
NEEDS_DISTINCT = {"maximum", "minimum", "fmax", "fmin"}

# name -> expression in x, axis, keepdims; every one also runs with axis=None
REDUCTIONS = {
    "sum": "np.sum(x, axis=axis, keepdims=keepdims)",
    "sum_method": "x.sum(axis=axis, keepdims=keepdims)",
    "mean": "np.mean(x, axis=axis, keepdims=keepdims)",
    "mean_method": "x.mean(axis=axis, keepdims=keepdims)",
    "prod": "np.prod(x, axis=axis, keepdims=keepdims)",
    "prod_method": "x.prod(axis=axis, keepdims=keepdims)",
    "max": "np.max(x, axis=axis, keepdims=keepdims)",
    "amax_method": "x.max(axis=axis, keepdims=keepdims)",
    "min": "np.min(x, axis=axis, keepdims=keepdims)",
    "amin": "np.amin(x, axis=axis, keepdims=keepdims)",
    "min_method": "x.min(axis=axis, keepdims=keepdims)",
    "var": "np.var(x, axis=axis, keepdims=keepdims)",
    "var_ddof": "x.var(axis=axis, ddof=1, keepdims=keepdims)",
    "std": "np.std(x, axis=axis, keepdims=keepdims)",
    "std_ddof": "np.std(x, axis=axis, ddof=1, keepdims=keepdims)",
    "std_method": "x.std(axis=axis, keepdims=keepdims)",
    "nansum": "np.nansum(x, axis=axis, keepdims=keepdims)",
    "nanmean": "np.nanmean(x, axis=axis, keepdims=keepdims)",
    "average": "np.average(x, axis=axis, keepdims=keepdims)",
}
# scans take one axis (or None: flattened) and no keepdims
SCANS = {
    "cumsum": "np.cumsum(x, axis=axis)",
    "cumsum_method": "x.cumsum(axis=axis)",
    "cumprod": "np.cumprod(x, axis=axis)",
    "cumprod_method": "x.cumprod(axis=axis)",
}
# ... and so do max, min (ties) and std (all values equal)
NEEDS_DISTINCT |= {
    "max",
    "amax_method",
    "min",
    "amin",
    "min_method",
    "std",
    "std_ddof",
    "std_method",
}

MATH = {
    "sin": ("math.sin(x)", (-3, 3)),
    "cos": ("math.cos(x)", (-3, 3)),
    "tan": ("math.tan(x)", (-1.2, 1.2)),
    "asin": ("math.asin(x)", (-0.9, 0.9)),
    "acos": ("math.acos(x)", (-0.9, 0.9)),
    "atan": ("math.atan(x)", (-3, 3)),
    "sinh": ("math.sinh(x)", (-2, 2)),
    "cosh": ("math.cosh(x)", (-2, 2)),
    "tanh": ("math.tanh(x)", (-2, 2)),
    "asinh": ("math.asinh(x)", (-2, 2)),
    "acosh": ("math.acosh(x)", (1.2, 3)),
    "atanh": ("math.atanh(x)", (-0.9, 0.9)),
    "exp": ("math.exp(x)", (-2, 2)),
    "expm1": ("math.expm1(x)", (-2, 2)),
    "log": ("math.log(x)", (0.2, 3)),
    "log2": ("math.log2(x)", (0.2, 3)),
    "log10": ("math.log10(x)", (0.2, 3)),
    "log1p": ("math.log1p(x)", (-0.5, 2)),
    "sqrt": ("math.sqrt(x)", (0.2, 3)),
    "fabs": ("math.fabs(x)", AWAY_FROM_ZERO),
    "degrees": ("math.degrees(x)", (-2, 2)),
    "radians": ("math.radians(x)", (-2, 2)),
    "erf": ("math.erf(x)", (-2, 2)),
    "erfc": ("math.erfc(x)", (-2, 2)),
    "pow": ("math.pow(x, 2.5)", (0.2, 3)),
    "hypot": ("math.hypot(x, 1.5)", (-2, 2)),
    "atan2": ("math.atan2(x, 1.5)", (-2, 2)),
}

if hasattr(math, "cbrt"):  # Python 3.11+
    MATH["cbrt"] = ("math.cbrt(x)", AWAY_FROM_ZERO)
    MATH["exp2"] = ("math.exp2(x)", (-2, 2))

MODES = ("tape", "source")


@pytest.fixture(scope="module")
def functions(tmp_path_factory):
    """The module of functions under test, written out so that the transform can read it."""
    lines = ["import math", "import numpy as np", "import astgrad as ag", ""]
    for name, (expression, _) in UNARY.items():
        lines += [f"def unary_{name}(x):", f"    return {expression}", ""]
    for name, (expression, _, _) in BINARY.items():
        lines += [f"def binary_{name}(x, y):", f"    return {expression}", ""]
    for name, expression in {**REDUCTIONS, **SCANS}.items():
        lines += [f"def reduce_{name}(x, axis, keepdims):", f"    return {expression}", ""]
    for name, (expression, _) in MATH.items():
        lines += [f"def math_{name}(x):", f"    return {expression}", ""]
    path = tmp_path_factory.mktemp("property") / "property_functions.py"
    path.write_text("\n".join(lines))
    spec = importlib.util.spec_from_file_location("property_functions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def values(domain):
    """Floats in ``domain``: an interval, 'away_from_zero' ([-2, -0.3] and [0.3, 2]) or 'grid'."""
    if domain == GRID:
        return st.integers(-200, 199).map(lambda k: k / 100 + 0.005)
    if domain == AWAY_FROM_ZERO:
        magnitude = st.floats(0.3, 2.0)
        return st.builds(lambda m, negative: -m if negative else m, magnitude, st.booleans())
    low, high = domain
    return st.floats(low, high)


def array_of(data, shape, domain, unique=False):
    return data.draw(hnp.arrays(np.float64, shape, elements=values(domain), unique=unique))


def check(function, args, wrt, cotangent, mode, what):
    """astgrad's gradients of ``sum(function(*args) * cotangent)`` against finite differences."""
    _, pullback = ag.vjp(function, *args, wrt=tuple(wrt), mode=mode)
    got = pullback(cotangent)
    for index, grad in zip(wrt, got):
        expected = numeric_vjp(function, list(args), index, cotangent)
        assert_close(grad, expected, rtol=1e-5, atol=1e-6, what=f"{what} [{mode}] argument {index}")


def cotangent_for(data, value):
    if np.ndim(value) == 0:
        return 1.0
    return data.draw(hnp.arrays(np.float64, np.shape(value), elements=st.floats(-1, 1)))


SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


@pytest.mark.parametrize("name", list(UNARY))
@PROPERTY
@given(data=st.data())
def test_unary_elementwise(functions, name, data):
    function = getattr(functions, f"unary_{name}")
    x = array_of(data, data.draw(SHAPES), UNARY[name][1])
    g = cotangent_for(data, function(x))
    for mode in MODES:
        check(function, (x,), [0], g, mode, name)


@pytest.mark.parametrize("name", list(BINARY))
@PROPERTY
@given(data=st.data())
def test_binary_elementwise_broadcasting(functions, name, data):
    function = getattr(functions, f"binary_{name}")
    shapes = data.draw(
        hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)
    )
    _, x_domain, y_domain = BINARY[name]
    x = array_of(data, shapes.input_shapes[0], x_domain)
    y = array_of(data, shapes.input_shapes[1], y_domain)
    if name in NEEDS_DISTINCT:
        assume(np.all(np.abs(x - y) > 1e-3))
    g = cotangent_for(data, function(x, y))
    for mode in MODES:
        check(function, (x, y), [0, 1], g, mode, name)


@st.composite
def axes_for(draw, ndim):
    """None, one axis (maybe negative) or a tuple of distinct axes of an ``ndim`` array."""
    if ndim == 0:
        return None
    choice = draw(st.sampled_from(["none", "int", "tuple"]))
    if choice == "none":
        return None
    if choice == "int":
        return draw(st.integers(-ndim, ndim - 1))
    return draw(hnp.valid_tuple_axes(ndim, min_size=1))


def _count(shape, axis):
    if axis is None:
        return int(np.prod(shape))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return int(np.prod([shape[a] for a in axes]))


@pytest.mark.parametrize("name", list(REDUCTIONS))
@PROPERTY
@given(data=st.data())
def test_reductions_over_random_axes(functions, name, data):
    function = getattr(functions, f"reduce_{name}")
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axis = data.draw(axes_for(len(shape)))
    keepdims = data.draw(st.booleans())
    if "ddof" in name and _count(shape, axis) < 2:
        axis = None  # ddof=1 needs two elements
        shape = shape[:-1] + (max(shape[-1], 2),)
    distinct = name in NEEDS_DISTINCT
    x = array_of(data, shape, GRID if distinct else (-2, 2), unique=distinct)
    if name.startswith("nan"):
        x = x.copy()
        x.flat[data.draw(st.integers(0, x.size - 1))] = np.nan  # NaNs get no gradient
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the mean of NaNs only
            if np.isnan(function(x, axis, keepdims)).any():
                x = np.nan_to_num(x, nan=0.5)  # a slice of NaNs only: no value to check
    g = cotangent_for(data, function(x, axis, keepdims))
    for mode in MODES:
        check(
            function, (x, axis, keepdims), [0], g, mode, f"{name}(axis={axis}, keepdims={keepdims})"
        )


@pytest.mark.parametrize("name", list(SCANS))
@PROPERTY
@given(data=st.data())
def test_scans_over_random_axes(functions, name, data):
    function = getattr(functions, f"reduce_{name}")
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    x = array_of(data, shape, (-2, 2))
    g = cotangent_for(data, function(x, axis, False))
    for mode in MODES:
        check(function, (x, axis, False), [0], g, mode, f"{name}(axis={axis})")


def _math_cases():
    for name in MATH:
        for mode in MODES:
            yield pytest.param(name, mode, id=f"{name}-{mode}")


@pytest.mark.parametrize("name, mode", list(_math_cases()))
@PROPERTY
@given(data=st.data())
def test_math_module_on_floats(functions, name, mode, data):
    function = getattr(functions, f"math_{name}")
    x = data.draw(values(MATH[name][1]))
    got = ag.grad(function, mode=mode)(x)
    assert isinstance(got, float)
    assert_close(
        got, numeric_vjp(function, [x], 0, 1.0), rtol=1e-5, atol=1e-6, what=f"math.{name} [{mode}]"
    )
