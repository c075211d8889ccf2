"""Rules for the ``math`` module's functions, which work on Python floats.

Most of them compute what a NumPy ufunc computes, and their rules are the ufunc's
(:func:`same_as_numpy`); so are their forward rules, derived as the ufunc's are (see
``forward``). The ones written here differ: ``math.log`` takes a base, ``math.pow`` and
``math.fabs`` handle a point their own way on floats, and ``math.erf`` and ``math.erfc``
have no ufunc; their forward rules are written below them.
"""

import math

from . import elementwise as numpy_rules
from .forward import jvp_rule
from .registry import Rule, lookup, vjp_rule
from .templates import translate


class _TranslatedOnFirstUse(Rule):
    """A rule registered with ``numpy_rule`` as its ``vjp``, which becomes its
    translation (:func:`translate`) when first read: translating the rules at import
    took a tenth of ``import astgrad``. The signature, the name and the table's order are
    those the translation has."""

    @property
    def vjp(self):
        found = self.__dict__.get("_translated")
        if found is None:
            numpy_rule = self.__dict__["vjp"]
            found = translate(numpy_rule, self.name, {"np": "math"}, globals())
            self.__dict__["_translated"] = found
        return found

    @vjp.setter
    def vjp(self, value):
        self.__dict__["vjp"] = value
        self.__dict__.pop("_translated", None)


def same_as_numpy(function, numpy_rule):
    """Register the rule of ``numpy_rule``'s ufunc, on floats, as ``function``'s:
    ``math``'s functions read for NumPy's (``math.cos`` for ``np.cos``), and no
    ``unbroadcast``, since floats all have one shape. Translated on first use."""
    vjp_rule(function)(numpy_rule)
    lookup(function).__class__ = _TranslatedOnFirstUse


same_as_numpy(math.sin, numpy_rules.sin)
same_as_numpy(math.cos, numpy_rules.cos)
same_as_numpy(math.tan, numpy_rules.tan)
same_as_numpy(math.asin, numpy_rules.arcsin)
same_as_numpy(math.acos, numpy_rules.arccos)
same_as_numpy(math.atan, numpy_rules.arctan)
same_as_numpy(math.atan2, numpy_rules.arctan2)
same_as_numpy(math.sinh, numpy_rules.sinh)
same_as_numpy(math.cosh, numpy_rules.cosh)
same_as_numpy(math.tanh, numpy_rules.tanh)
same_as_numpy(math.asinh, numpy_rules.arcsinh)
same_as_numpy(math.acosh, numpy_rules.arccosh)
same_as_numpy(math.atanh, numpy_rules.arctanh)
same_as_numpy(math.exp, numpy_rules.exp)
same_as_numpy(math.expm1, numpy_rules.expm1)


@vjp_rule(math.log)
def log(g, ans, x, base=math.e):
    return g / (x * math.log(base)), -g * ans / (base * math.log(base))


@jvp_rule(math.log)
def log_jvp(ans, x, base=math.e, *, dx, dbase):
    return dx / (x * math.log(base)), -dbase * ans / (base * math.log(base))


same_as_numpy(math.log2, numpy_rules.log2)
same_as_numpy(math.log10, numpy_rules.log10)
same_as_numpy(math.log1p, numpy_rules.log1p)
same_as_numpy(math.sqrt, numpy_rules.sqrt)


@vjp_rule(math.pow)
def pow(g, ans, x, y):
    # (y - (y != 0): as for np.power, the slope of x ** 0 is 0, even at x = 0)
    return g * y * x ** (y - (y != 0)), g * ans * math.log(x) if x > 0 else 0.0


@jvp_rule(math.pow)
def pow_jvp(ans, x, y, *, dx, dy):
    return dx * y * x ** (y - (y != 0)), dy * ans * math.log(x) if x > 0 else 0.0


@vjp_rule(math.fabs)
def fabs(g, ans, x):
    return g * math.copysign(1.0, x) if x != 0 else 0.0


@jvp_rule(math.fabs)
def fabs_jvp(ans, x, *, dx):
    return dx * math.copysign(1.0, x) if x != 0 else 0.0


same_as_numpy(math.hypot, numpy_rules.hypot)
same_as_numpy(math.degrees, numpy_rules.rad2deg)
same_as_numpy(math.radians, numpy_rules.deg2rad)


@vjp_rule(math.erf)
def erf(g, ans, x):
    return g * 2 / math.sqrt(math.pi) * math.exp(-x * x)


@jvp_rule(math.erf)
def erf_jvp(ans, x, *, dx):
    return dx * 2 / math.sqrt(math.pi) * math.exp(-x * x)


@vjp_rule(math.erfc)
def erfc(g, ans, x):
    return -g * 2 / math.sqrt(math.pi) * math.exp(-x * x)


@jvp_rule(math.erfc)
def erfc_jvp(ans, x, *, dx):
    return -dx * 2 / math.sqrt(math.pi) * math.exp(-x * x)


# Python 3.11 added these two.
if hasattr(math, "cbrt"):
    same_as_numpy(math.cbrt, numpy_rules.cbrt)
    same_as_numpy(math.exp2, numpy_rules.exp2)
