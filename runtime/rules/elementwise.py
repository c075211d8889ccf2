"""Rules for elementwise functions (NumPy ufuncs and the primitives NumPy lacks).

Constants in the rules are Python floats (``math.log(2)``, not ``np.log(2)``), and masks
multiply the cotangent rather than a float: NumPy lets a Python float take the array's
dtype, so a float32 gradient stays float32 instead of becoming float64.
"""

import math

import numpy as np

from ..primitives import relu as relu_primitive
from ..primitives import sigmoid as sigmoid_primitive
from .complex import conjugate_if_complex, imag_grad, real_like
from .forward import jvp_rule, linear
from .registry import vjp_rule
from .shared import cast_like, unbroadcast
from .ties import split_ties
from .variants import tape_variant

_ndarray = np.ndarray
_subtract = np.subtract
_multiply = np.multiply

# -- exponentials and logarithms ---------------------------------------------------------


@vjp_rule(np.exp)
def exp(g, ans, x):
    return g * ans


@vjp_rule(np.exp2)
def exp2(g, ans, x):
    return g * ans * math.log(2)


@vjp_rule(np.expm1)
def expm1(g, ans, x):
    return g * (ans + 1)


@vjp_rule(np.log)
def log(g, ans, x):
    return g / x


@vjp_rule(np.log2)
def log2(g, ans, x):
    return g / (x * math.log(2))


@vjp_rule(np.log10)
def log10(g, ans, x):
    return g / (x * math.log(10))


@vjp_rule(np.log1p)
def log1p(g, ans, x):
    return g / (1 + x)


@vjp_rule(np.logaddexp)
def logaddexp(g, ans, x, y):
    return unbroadcast(g * np.exp(x - ans), x), unbroadcast(g * np.exp(y - ans), y)


@vjp_rule(np.logaddexp2)
def logaddexp2(g, ans, x, y):
    return unbroadcast(g * np.exp2(x - ans), x), unbroadcast(g * np.exp2(y - ans), y)


# -- powers and roots ------------------------------------------------------------------------


@vjp_rule(np.sqrt)
def sqrt(g, ans, x):
    return g / (2 * ans)


@vjp_rule(np.cbrt)
def cbrt(g, ans, x):
    return g / (3 * ans * ans)


@vjp_rule(np.square)
def square(g, ans, x):
    return g * 2 * x


@vjp_rule(np.reciprocal)
def reciprocal(g, ans, x):
    return -g * ans * ans


# float_power computes in float64 whatever its inputs: the gradients are cast back. As for
# np.power, an exponent of 0 is not lowered (the slope of x ** 0 is 0, even at x = 0).
@vjp_rule(np.float_power)
def float_power(g, ans, x, y):
    return (
        unbroadcast(cast_like(g * y * np.float_power(x, y - (y != 0)), x), x),
        unbroadcast(cast_like(g * ans * np.log(np.where(x == 0, 1, x)), y), y),
    )


# (the tangent has the result's dtype, float64: nothing to cast back)
@jvp_rule(np.float_power)
def float_power_jvp(ans, x, y, *, dx, dy):
    return (
        dx * y * np.float_power(x, y - (y != 0)),
        dy * ans * np.log(np.where(x == 0, 1, x)),
    )


# -- trigonometric and hyperbolic --------------------------------------------------------------


@vjp_rule(np.sin)
def sin(g, ans, x):
    return g * np.cos(x)


@vjp_rule(np.cos)
def cos(g, ans, x):
    return -g * np.sin(x)


@vjp_rule(np.tan)
def tan(g, ans, x):
    return g * (1 + ans * ans)


@vjp_rule(np.arcsin)
def arcsin(g, ans, x):
    return g / np.sqrt(1 - x * x)


@vjp_rule(np.arccos)
def arccos(g, ans, x):
    return -g / np.sqrt(1 - x * x)


@vjp_rule(np.arctan)
def arctan(g, ans, x):
    return g / (1 + x * x)


@vjp_rule(np.arctan2)
def arctan2(g, ans, y, x):
    return unbroadcast(g * x / (x * x + y * y), y), unbroadcast(-g * y / (x * x + y * y), x)


@vjp_rule(np.hypot)
def hypot(g, ans, x, y):
    return unbroadcast(g * x / ans, x), unbroadcast(g * y / ans, y)


@vjp_rule(np.sinh)
def sinh(g, ans, x):
    return g * np.cosh(x)


@vjp_rule(np.cosh)
def cosh(g, ans, x):
    return g * np.sinh(x)


@vjp_rule(np.tanh)
def tanh(g, ans, x):
    return g * (1 - ans * ans)


# tanh's variant on the tape (see variants): the same products, to the bit and in the same
# memory order, in one buffer where the cotangent and the result are host arrays of one
# dtype and layout, as they are in a model's every layer; the two temporaries the rule
# makes cost more than the arithmetic on small layers. (A float 1.0 takes NumPy's cheaper
# road for a Python number; it is the int 1 in every dtype the result can have.)


def tanh_of_result(g, ans, x):
    if type(ans) is _ndarray and type(g) is _ndarray and g.dtype is ans.dtype:
        if g.shape == ans.shape and g.strides == ans.strides:
            d = ans * ans
            _subtract(1.0, d, d)
            _multiply(g, d, d)
            return (d,)
    return (g * (1.0 - ans * ans),)


tape_variant(tanh, {(0,): tanh_of_result})


@vjp_rule(np.arcsinh)
def arcsinh(g, ans, x):
    return g / np.sqrt(x * x + 1)


@vjp_rule(np.arccosh)
def arccosh(g, ans, x):
    return g / np.sqrt(x * x - 1)


@vjp_rule(np.arctanh)
def arctanh(g, ans, x):
    return g / (1 - x * x)


@vjp_rule(np.sinc)
def sinc(g, ans, x):
    # d/dx sin(pi x) / (pi x) = (cos(pi x) - sinc(x)) / x, and 0 at x = 0
    return g * np.where(x == 0, 0, (np.cos(np.pi * x) - ans) / np.where(x == 0, 1, x))


# (np.sinc is a Python function, not a ufunc: its forward rule is not derived)
@jvp_rule(np.sinc)
def sinc_jvp(ans, x, *, dx):
    return dx * np.where(x == 0, 0, (np.cos(np.pi * x) - ans) / np.where(x == 0, 1, x))


@vjp_rule(np.deg2rad, np.radians, name="deg2rad")
def deg2rad(g, ans, x):
    return g * (np.pi / 180)


@vjp_rule(np.rad2deg, np.degrees, name="rad2deg")
def rad2deg(g, ans, x):
    return g * (180 / np.pi)


# -- absolute value, extrema, clipping ---------------------------------------------------------


@vjp_rule(np.absolute)
def absolute(g, ans, x):
    # sign(x) is x / |x| for complex x too; its conjugate is complex.py's convention (and
    # for real x no copy is made)
    return g.real * conjugate_if_complex(np.sign(x), x)


@jvp_rule(np.absolute)
def absolute_jvp(ans, x, *, dx):
    return np.real(np.conjugate(np.sign(x)) * dx)


@vjp_rule(np.fabs)
def fabs(g, ans, x):
    return g * np.sign(x)


@vjp_rule(np.maximum)
def maximum(g, ans, x, y):
    # At ties the gradient is shared equally, as for max reductions (split_ties leaves
    # that term out where no element ties).
    return (
        unbroadcast(split_ties(g, x > y, x, y), x),
        unbroadcast(split_ties(g, y > x, x, y), y),
    )


@vjp_rule(np.minimum)
def minimum(g, ans, x, y):
    return (
        unbroadcast(split_ties(g, x < y, x, y), x),
        unbroadcast(split_ties(g, y < x, x, y), y),
    )


# fmax and fmin return the other argument where one is NaN: the gradient goes there.
@vjp_rule(np.fmax)
def fmax(g, ans, x, y):
    return (
        unbroadcast(split_ties(g, (x > y) | np.isnan(y), x, y), x),
        unbroadcast(split_ties(g, (y > x) | np.isnan(x), x, y), y),
    )


@vjp_rule(np.fmin)
def fmin(g, ans, x, y):
    return (
        unbroadcast(split_ties(g, (x < y) | np.isnan(y), x, y), x),
        unbroadcast(split_ties(g, (y < x) | np.isnan(x), x, y), y),
    )


@vjp_rule(np.clip)
def clip(g, ans, a, a_min=None, a_max=None, out=None, *, min=None, max=None):  # noqa: A002
    # Where a was clipped, the bound it was clipped to is the result. NumPy 2.1 spells the
    # bounds min= and max= too. Bounds may broadcast a to a larger result.
    inside = ans == a
    return (
        unbroadcast(g * inside, a),
        unbroadcast(np.where(inside, 0, g * (ans == a_min)), a_min),
        unbroadcast(np.where(inside, 0, g * (ans == a_max)), a_max),
        None,
        unbroadcast(np.where(inside, 0, g * (ans == min)), min),
        unbroadcast(np.where(inside, 0, g * (ans == max)), max),
    )


@jvp_rule(np.clip)
def clip_jvp(
    ans, a, a_min=None, a_max=None, out=None, *, min=None, max=None, da, da_min, da_max, dmin, dmax
):
    inside = ans == a
    return (
        da * inside,
        np.where(inside, 0, da_min * (ans == a_min)),
        np.where(inside, 0, da_max * (ans == a_max)),
        None,
        np.where(inside, 0, dmin * (ans == min)),
        np.where(inside, 0, dmax * (ans == max)),
    )


@vjp_rule(np.where)
def where(g, ans, condition, x, y):
    return (
        None,
        unbroadcast(np.where(condition, g, 0), x),
        unbroadcast(np.where(condition, 0, g), y),
    )


@jvp_rule(np.where)
def where_jvp(ans, condition, x, y, *, dx, dy):
    return None, np.where(condition, dx, 0), np.where(condition, 0, dy)


@vjp_rule(np.remainder)
def remainder(g, ans, x, y):
    return unbroadcast(g, x), unbroadcast(-g * np.floor_divide(x, y), y)


@vjp_rule(np.fmod)
def fmod(g, ans, x1, x2):
    # fmod truncates the quotient where remainder floors it
    return unbroadcast(g, x1), unbroadcast(-g * np.trunc(x1 / x2), x2)


# NaN and the infinities are replaced by constants: no gradient flows from there.
@vjp_rule(np.nan_to_num)
def nan_to_num(g, ans, x, copy=True, nan=0.0, posinf=None, neginf=None):
    return g * np.isfinite(x)


@jvp_rule(np.nan_to_num)
def nan_to_num_jvp(ans, x, copy=True, nan=0.0, posinf=None, neginf=None, *, dx):
    return dx * np.isfinite(x)


# -- real and imaginary parts ----------------------------------------------------------------
# The convention for complex values is rules/complex.py's: the gradient of a complex z is
# dL/dRe(z) - 1j * dL/dIm(z). A real result's cotangent is read as g.real (an
# imaginary part there means nothing); for real inputs these are the identity and zero.


@vjp_rule(np.real)
def real(g, ans, val):
    return g.real


@vjp_rule(np.imag)
def imag(g, ans, val):
    return imag_grad(g, val)


@vjp_rule(np.conjugate)
def conjugate(g, ans, x):
    return np.conjugate(g)


@vjp_rule(np.real_if_close)
def real_if_close(g, ans, a, tol=100):
    return real_like(g, ans)


@jvp_rule(np.real_if_close)
def real_if_close_jvp(ans, a, tol=100, *, da):
    return real_like(da, ans)


linear(np.real, np.imag, np.conjugate)


# -- activations ----------------------------------------------------------------------------


@vjp_rule(sigmoid_primitive)
def sigmoid(g, ans, x):
    return g * ans * (1 - ans)


@jvp_rule(sigmoid_primitive)
def sigmoid_jvp(ans, x, *, dx):
    return dx * ans * (1 - ans)


@vjp_rule(relu_primitive)
def relu(g, ans, x):
    # ans > 0 exactly where x > 0 (NaN in neither): the result is saved, not the input, so
    # an in-place change of the input after relu is no error, as in PyTorch
    return g * (ans > 0)


@jvp_rule(relu_primitive)
def relu_jvp(ans, x, *, dx):
    return dx * (ans > 0)
