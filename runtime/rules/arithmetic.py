"""Rules for arithmetic operators and products: + - * / ** unary minus, @, dot."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..device import array_module
from .forward import jvp_rule, linear
from .registry import vjp_rule
from .shared import _FLOAT32, _FLOAT64, _shape, cast_like, shape_only, unbroadcast
from .variants import tape_variant

_ndarray = np.ndarray


@vjp_rule(np.add)
def add(g, ans, x, y):
    return unbroadcast(g, x), unbroadcast(g, y)


@vjp_rule(np.subtract)
def subtract(g, ans, x, y):
    return unbroadcast(g, x), unbroadcast(-g, y)


@vjp_rule(np.multiply)
def multiply(g, ans, x, y):
    return unbroadcast(g * y, x), unbroadcast(g * x, y)


@vjp_rule(np.true_divide)
def true_divide(g, ans, x, y):
    return unbroadcast(g / y, x), unbroadcast(-g * ans / y, y)


@vjp_rule(np.negative)
def negative(g, ans, x):
    return -g


@vjp_rule(np.positive)
def positive(g, ans, x):
    return g


@vjp_rule(np.power)
def power(g, ans, x, y):
    # The exponent lowered by one, except where it is 0: x ** 0 is constant, its slope 0
    # even at x = 0, where x ** -1 would make it NaN (0 * inf) or a ZeroDivisionError.
    return (
        unbroadcast(g * y * x ** (y - (y != 0)), x),
        # log(x) only where x != 0: there the exponent's gradient is 0 * log(0) -> 0.
        unbroadcast(g * ans * np.log(np.where(x == 0, 1, x)), y),
    )


# power's variant for x ** 2, the square of a loss (see variants): the exponent, a number,
# needs no gradient, and g * y * x ** (y - 1) for y == 2 is g * (x + x) to the bit
# (doubling is exact), in two operations. A number exponent broadcasts to the base's shape,
# so the gradient has the base's shape.


def exponent_two(x, y):
    """Whether ``y`` is the Python number 2."""
    return (type(y) is int or type(y) is float) and y == 2


def square_base(g, ans, x, y):
    return (g * (x + x),)


tape_variant(power, {(0,): square_base}, when=exponent_two)


@vjp_rule(np.matmul)
def matmul(g, ans, x, y):
    return matmul_grad_left(g, x, y), matmul_grad_right(g, x, y)


# A tangent has its argument's shape, so each product has the result's whatever the ranks
# (a vector operand stays a vector, and batch axes broadcast as they did).
@jvp_rule(np.matmul)
def matmul_jvp(ans, x, y, *, dx, dy):
    return dx @ y, x @ dy


# matmul's variant for two matrices of one BLAS float dtype on the host (see variants):
# matmul_grad_left and _right's first case, without the calls that find it; and a cotangent
# of that dtype too, as it nearly always is, takes ndarray.dot, the same product as @
# without the ufunc's dispatch. The gradients of matrices are matrices of their shapes.


def two_float_matrices(x, y):
    """Whether ``x`` and ``y`` are NumPy matrices of one dtype, float64 or float32."""
    if type(x) is np.ndarray and type(y) is np.ndarray and x.ndim == 2 and y.ndim == 2:
        dtype = x.dtype
        return y.dtype is dtype and (dtype is _FLOAT64 or dtype is _FLOAT32)
    return False


def matmul_2d_left(g, ans, x, y):
    return (g.dot(y.T) if type(g) is np.ndarray and g.dtype is y.dtype else g @ y.T,)


def matmul_2d_right(g, ans, x, y):
    return (x.T.dot(g) if type(g) is np.ndarray and g.dtype is x.dtype else x.T @ g,)


def matmul_2d_both(g, ans, x, y):
    if type(g) is np.ndarray and g.dtype is x.dtype:
        return g.dot(y.T), x.T.dot(g)
    return g @ y.T, x.T @ g


tape_variant(
    matmul,
    {(0,): matmul_2d_left, (1,): matmul_2d_right, (0, 1): matmul_2d_both},
    when=two_float_matrices,
)


@vjp_rule(np.dot)
def dot(g, ans, a, b, out=None):
    return dot_grad_left(g, a, b), dot_grad_right(g, a, b)


@jvp_rule(np.dot)
def dot_jvp(ans, a, b, out=None, *, da, db):
    return np.dot(da, b), np.dot(a, db)


# float(x) of a 0-d array (or a one-element one), and NumPy's scalar types: the gradient
# takes x's shape and dtype back (float32(x) of a float64 x gives a float64 gradient).
@vjp_rule(float, np.float64, np.float32, name="float")
def to_float(g, ans, x):
    # (of a complex x, the real part: the cotangent's real part is all that means anything)
    return unbroadcast(cast_like(g.real, x), x)


# float(dx), np.float32(dx): the tangent in the result's type
linear(float, np.float64, np.float32)


# -- helpers the rules above call (generated code calls them by these names) ----------


def dot_2d(a: Any, b: Any) -> Any:
    """``a @ b`` for 2-D ``a`` and ``b``. Two host arrays of one BLAS float dtype take
    ``ndarray.dot``: the same BLAS product, to the bit, without the matmul ufunc's dispatch,
    which costs as much again on small matrices. Anything else (and a mismatch of inner
    dimensions, for matmul's message) is ``a @ b``.

    >>> dot_2d(np.ones((2, 3)), np.ones((3, 1)))
    array([[3.],
           [3.]])
    """
    if type(a) is np.ndarray and type(b) is np.ndarray:
        dtype = a.dtype
        if (
            b.dtype is dtype
            and (dtype is _FLOAT64 or dtype is _FLOAT32)
            and a.ndim == 2
            and b.ndim == 2
            and a.shape[1] == b.shape[0]
        ):
            return a.dot(b)
    return a @ b


def _swap_last(a: Any) -> Any:
    return a.swapaxes(-1, -2)


@shape_only(1)
def matmul_grad_left(g: Any, x: Any, y: Any) -> Any:
    """Gradient of ``x @ y`` with respect to ``x``, for every rank NumPy allows."""
    if type(g) is _ndarray and type(y) is _ndarray and type(x) is _ndarray:
        # two float matrices, the usual case: the product dot_2d takes, without the rank
        # and shape look-ups below (about a third of the call on an RNN's small matrices)
        dtype = g.dtype
        if (
            y.ndim == 2
            and x.ndim == 2
            and y.dtype is dtype
            and (dtype is _FLOAT64 or dtype is _FLOAT32)
            and g.ndim == 2
            and g.shape[1] == y.shape[1]
        ):
            return g.dot(y.T)
    x_ndim, y_ndim = len(_shape(x)), y.ndim
    if x_ndim == 2 and y_ndim == 2:
        return dot_2d(g, y.T)
    if y_ndim == 1:
        if x_ndim == 1:
            return g * y
        return unbroadcast(g[..., None] * y, x)
    if x_ndim == 1:
        if y_ndim == 2:  # one vector times one matrix: g is a vector, nothing broadcast
            return y @ g
        return unbroadcast((y @ g[..., None])[..., 0], x)
    return unbroadcast(g @ _swap_last(y), x)


@shape_only(2)
def matmul_grad_right(g: Any, x: Any, y: Any) -> Any:
    """Gradient of ``x @ y`` with respect to ``y``, for every rank NumPy allows."""
    if type(g) is _ndarray and type(x) is _ndarray and type(y) is _ndarray:
        # two float matrices, the usual case: the product dot_2d takes, without the rank
        # and shape look-ups below (about a third of the call on an RNN's small matrices)
        dtype = g.dtype
        if (
            x.ndim == 2
            and y.ndim == 2
            and x.dtype is dtype
            and (dtype is _FLOAT64 or dtype is _FLOAT32)
            and g.ndim == 2
            and g.shape[0] == x.shape[0]
        ):
            return x.T.dot(g)
        if x.ndim == 2 and y.ndim == 1 and g.ndim == 1:
            return g @ x  # one matrix times one vector (a least-squares residual)
    x_ndim, y_ndim = x.ndim, len(_shape(y))
    if x_ndim == 2 and y_ndim == 2:
        return dot_2d(x.T, g)
    if x_ndim == 1:
        if y_ndim == 1:
            return g * x
        return unbroadcast(x[:, None] * g[..., None, :], y)
    if y_ndim == 1:
        if x_ndim == 2:  # one matrix times one vector: g is a vector, nothing broadcast
            return g @ x
        return unbroadcast((_swap_last(x) @ g[..., None])[..., 0], y)
    return unbroadcast(_swap_last(x) @ g, y)


@shape_only(1)
def dot_grad_left(g: Any, a: Any, b: Any) -> Any:
    """Gradient of ``np.dot(a, b)`` with respect to ``a``. Matrices and vectors take the
    products ``@`` takes (``g @ b.T`` for two matrices, by :func:`dot_2d`); higher ranks a
    tensordot."""
    if type(g) is _ndarray and type(b) is _ndarray and type(a) is _ndarray:
        # two float matrices, the usual case: the product dot_2d takes, without the rank
        # and shape look-ups below (about a third of the call on an RNN's small matrices)
        dtype = g.dtype
        if (
            b.ndim == 2
            and a.ndim == 2
            and b.dtype is dtype
            and (dtype is _FLOAT64 or dtype is _FLOAT32)
            and g.ndim == 2
            and g.shape[1] == b.shape[1]
        ):
            return g.dot(b.T)
    a_ndim, b_ndim = len(_shape(a)), np.ndim(b)
    if a_ndim == 0 or b_ndim == 0:
        return unbroadcast(g * b, a)
    if b_ndim == 2:
        if a_ndim == 2:
            return dot_2d(g, b.T)
        if a_ndim == 1:  # result[m] = sum_k a[k] b[k, m]
            return b @ g
    if b_ndim == 1:
        if a_ndim == 1:
            return g * b
        if a_ndim == 2:  # result[n] = sum_k a[n, k] b[k]
            return g[:, None] * b
    xp = array_module(g, b)
    if b_ndim == 1:
        # result[..., ] = sum_k a[..., k] b[k]
        return xp.multiply.outer(g, b)
    # result[i..., j..., m] = sum_k a[i..., k] b[j..., k, m]
    g_b_axes = list(range(a_ndim - 1, a_ndim - 1 + b_ndim - 2)) + [g.ndim - 1]
    b_axes = list(range(b_ndim - 2)) + [b_ndim - 1]
    return xp.tensordot(g, b, axes=(g_b_axes, b_axes))


@shape_only(2)
def dot_grad_right(g: Any, a: Any, b: Any) -> Any:
    """Gradient of ``np.dot(a, b)`` with respect to ``b``. Matrices and vectors take the
    products ``@`` takes (``a.T @ g`` for two matrices, by :func:`dot_2d`); higher ranks a
    tensordot."""
    if type(g) is _ndarray and type(a) is _ndarray and type(b) is _ndarray:
        # two float matrices, the usual case: the product dot_2d takes, without the rank
        # and shape look-ups below (about a third of the call on an RNN's small matrices)
        dtype = g.dtype
        if (
            a.ndim == 2
            and b.ndim == 2
            and a.dtype is dtype
            and (dtype is _FLOAT64 or dtype is _FLOAT32)
            and g.ndim == 2
            and g.shape[0] == a.shape[0]
        ):
            return a.T.dot(g)
    a_ndim, b_ndim = np.ndim(a), len(_shape(b))
    if a_ndim == 0 or b_ndim == 0:
        return unbroadcast(g * a, b)
    if a_ndim == 2:
        if b_ndim == 2:
            return dot_2d(a.T, g)
        if b_ndim == 1:  # result[n] = sum_k a[n, k] b[k]
            return g @ a
    if a_ndim == 1:
        if b_ndim == 1:
            return g * a
        if b_ndim == 2:  # result[m] = sum_k a[k] b[k, m]
            return a[:, None] * g
    xp = array_module(g, a)
    a_lead = list(range(a_ndim - 1))
    if b_ndim == 1:
        return xp.tensordot(a, g, axes=(a_lead, list(range(a_ndim - 1))))
    # contract a's leading axes with g's leading axes; result axes (k, j..., m) → (j..., k, m)
    grad = xp.tensordot(a, g, axes=(a_lead, list(range(a_ndim - 1))))
    return xp.moveaxis(grad, 0, b_ndim - 2)
