"""Rules for the ``math`` module's functions, which work on Python floats."""

import math

from .registry import vjp_rule


@vjp_rule(math.sin)
def sin(g, ans, x):
    return g * math.cos(x)


@vjp_rule(math.cos)
def cos(g, ans, x):
    return -g * math.sin(x)


@vjp_rule(math.tan)
def tan(g, ans, x):
    return g * (1 + ans * ans)


@vjp_rule(math.asin)
def asin(g, ans, x):
    return g / math.sqrt(1 - x * x)


@vjp_rule(math.acos)
def acos(g, ans, x):
    return -g / math.sqrt(1 - x * x)


@vjp_rule(math.atan)
def atan(g, ans, x):
    return g / (1 + x * x)


@vjp_rule(math.atan2)
def atan2(g, ans, y, x):
    return g * x / (x * x + y * y), -g * y / (x * x + y * y)


@vjp_rule(math.sinh)
def sinh(g, ans, x):
    return g * math.cosh(x)


@vjp_rule(math.cosh)
def cosh(g, ans, x):
    return g * math.sinh(x)


@vjp_rule(math.tanh)
def tanh(g, ans, x):
    return g * (1 - ans * ans)


@vjp_rule(math.asinh)
def asinh(g, ans, x):
    return g / math.sqrt(x * x + 1)


@vjp_rule(math.acosh)
def acosh(g, ans, x):
    return g / math.sqrt(x * x - 1)


@vjp_rule(math.atanh)
def atanh(g, ans, x):
    return g / (1 - x * x)


@vjp_rule(math.exp)
def exp(g, ans, x):
    return g * ans


@vjp_rule(math.expm1)
def expm1(g, ans, x):
    return g * (ans + 1)


@vjp_rule(math.log)
def log(g, ans, x, base=math.e):
    return g / (x * math.log(base)), -g * ans / (base * math.log(base))


@vjp_rule(math.log2)
def log2(g, ans, x):
    return g / (x * math.log(2))


@vjp_rule(math.log10)
def log10(g, ans, x):
    return g / (x * math.log(10))


@vjp_rule(math.log1p)
def log1p(g, ans, x):
    return g / (1 + x)


@vjp_rule(math.sqrt)
def sqrt(g, ans, x):
    return g / (2 * ans)


@vjp_rule(math.pow)
def pow(g, ans, x, y):
    # (y - (y != 0): as for np.power, the slope of x ** 0 is 0, even at x = 0)
    return g * y * x ** (y - (y != 0)), g * ans * math.log(x) if x > 0 else 0.0


@vjp_rule(math.fabs)
def fabs(g, ans, x):
    return g * math.copysign(1.0, x) if x != 0 else 0.0


@vjp_rule(math.hypot)
def hypot(g, ans, x, y):
    return g * x / ans, g * y / ans


@vjp_rule(math.degrees)
def degrees(g, ans, x):
    return g * (180 / math.pi)


@vjp_rule(math.radians)
def radians(g, ans, x):
    return g * (math.pi / 180)


@vjp_rule(math.erf)
def erf(g, ans, x):
    return g * 2 / math.sqrt(math.pi) * math.exp(-x * x)


@vjp_rule(math.erfc)
def erfc(g, ans, x):
    return -g * 2 / math.sqrt(math.pi) * math.exp(-x * x)


# Python 3.11 added these two.
if hasattr(math, "cbrt"):

    @vjp_rule(math.cbrt)
    def cbrt(g, ans, x):
        return g / (3 * ans * ans)

    @vjp_rule(math.exp2)
    def exp2(g, ans, x):
        return g * ans * math.log(2)
