"""Rule helpers that cannot run on tensors as they are written, in forms that record.

A backward pass that is itself recorded (``backward(create_graph=True)``, see
:mod:`.higher_order`) runs each rule on tensors, so that the operations inside it are
recorded too. Most of a rule's body does that as written: NumPy's functions, operators and
the shared helpers (``unbroadcast``, ``expand_reduced``, ``matmul_grad_left``...) dispatch
to the tape. The helpers here do not: each writes a cotangent into a fresh array of zeros
in place (``out[index] = g``, ``np.add.at``), and writing a tensor into a plain array would
drop its history (a GradientLostError).

Each of them is linear in the cotangent, and is the vector-Jacobian product of a linear
primitive (``scatter_grad`` of ``x[index]``, ``take_grad`` of ``np.take``...). The
transpose of a linear primitive's vector-Jacobian product is the primitive itself; so each
helper becomes a primitive of the tape's own, recorded as one node, whose rule is the
primitive it is the gradient of: ``scatter_grad``'s rule reads ``g[index]``. Those rules
run on tensors in turn, so third and higher derivatives record as well.

:data:`REPLACEMENTS` maps each helper (and the ``math`` module, whose functions refuse
tensors) to what a rule running on tensors calls instead; :mod:`.higher_order` reads a
rule's globals through it. The primitives are not in the rule table (as the tape's own
``ufunc.at`` primitives are not): nothing but these replacements records them.
"""

from __future__ import annotations

import math
import types
from typing import Any

import numpy as np

from .device import array_module
from .recording import apply
from .rules import arithmetic as arithmetic_rules
from .rules import elementwise as elementwise_rules
from .rules import mathmodule as mathmodule_rules
from .rules.indexing import scatter_grad, without_index
from .rules.rearranging import diag_grad, repeat_grad, unpad
from .rules.reductions import trace_grad
from .rules.registry import Rule
from .rules.selection import sort_grad, take_along_axis_grad, take_grad, take_in_mode
from .rules.shared import _shape, _stand_in, place_diagonal, unbroadcast
from .tensor import Tensor

__all__ = ["REPLACEMENTS", "KERNELS", "replacement_for", "on_tensors_namespace"]


def _rule(primitive: Any, vjp: Any, name: str) -> Rule:
    return Rule(primitive, vjp, name, f"{name.title().replace('_', '')}Backward", False, True)


def _plain(value: Any) -> Any:
    """The raw value of a tensor (a value it stands for), anything else as it is."""
    return value.data if isinstance(value, Tensor) else value


def _records(g: Any) -> bool:
    return isinstance(g, Tensor)


# -- scatter_grad: the gradient of x[index] ------------------------------------------------


def scattered(values: Any, shape: tuple, index: Any) -> Any:
    """Zeros of ``shape`` with ``values`` added at ``index`` (repeats accumulate)."""
    return scatter_grad(values, _stand_in(shape), index)


def scattered_vjp(g, ans, values, shape, index):
    return unbroadcast(g[index], values), None, None


_SCATTERED = _rule(scattered, scattered_vjp, "scattered")


def scatter_grad_recorded(g: Any, x: Any, index: Any) -> Any:
    if not _records(g) or isinstance(x, (list, tuple, dict)):
        return scatter_grad(g, x, index)
    return apply(_SCATTERED, scattered, (g, _shape(x), index))


# -- without_index: what flows to x through x[index] = v (its own transpose) --------------


def zeroed_at(values: Any, index: Any) -> Any:
    """A copy of ``values`` with zeros at ``index``."""
    return without_index(values, index)


def zeroed_at_vjp(g, ans, values, index):
    return without_index(g, index), None


_ZEROED_AT = _rule(zeroed_at, zeroed_at_vjp, "zeroed_at")


def without_index_recorded(g: Any, index: Any) -> Any:
    if not _records(g):
        return without_index(g, index)
    return apply(_ZEROED_AT, zeroed_at, (g, index))


# -- take, take_along_axis and sort ----------------------------------------------------------


def taken_back(values: Any, shape: tuple, indices: Any, axis: Any = None, mode: str = "raise"):
    """``take_grad`` for an array of ``shape``: ``values`` added where np.take read."""
    return take_grad(values, _stand_in(shape), indices, axis, mode)


def taken_back_vjp(g, ans, values, shape, indices, axis=None, mode="raise"):
    return take_in_mode(g, indices, axis, mode), None, None, None, None


_TAKEN_BACK = _rule(taken_back, taken_back_vjp, "taken_back")


def take_grad_recorded(g: Any, a: Any, indices: Any, axis: Any = None, mode: str = "raise"):
    if not _records(g):
        return take_grad(g, a, indices, axis, mode)
    return apply(_TAKEN_BACK, taken_back, (g, _shape(a), _plain(indices), axis, mode))


def taken_along_back(values: Any, shape: tuple, indices: Any, axis: Any = -1) -> Any:
    """``take_along_axis_grad`` for an array of ``shape``."""
    return take_along_axis_grad(values, _stand_in(shape), indices, axis)


def taken_along_back_vjp(g, ans, values, shape, indices, axis=-1):
    return np.take_along_axis(g, indices, axis=axis), None, None, None


_TAKEN_ALONG_BACK = _rule(taken_along_back, taken_along_back_vjp, "taken_along_back")


def take_along_axis_grad_recorded(g: Any, arr: Any, indices: Any, axis: Any = -1) -> Any:
    if not _records(g):
        return take_along_axis_grad(g, arr, indices, axis)
    return apply(_TAKEN_ALONG_BACK, taken_along_back, (g, _shape(arr), _plain(indices), axis))


def sort_grad_recorded(g: Any, a: Any, axis: Any = -1) -> Any:
    """``sort_grad``: the order the sort put the elements in is piecewise constant in
    ``a``, so it is taken from ``a``'s values and only ``g`` is differentiated."""
    if not _records(g):
        return sort_grad(g, _plain(a), axis)
    values = _plain(a)
    xp = array_module(values)
    if axis is None:
        flat = values.reshape(-1)
        order = xp.argsort(flat, axis=0, kind="stable")
        grad = apply(_TAKEN_ALONG_BACK, taken_along_back, (g, flat.shape, order, 0))
        return grad.reshape(values.shape)
    order = xp.argsort(values, axis=axis, kind="stable")
    return apply(_TAKEN_ALONG_BACK, taken_along_back, (g, values.shape, order, axis))


# -- repeat, pad ----------------------------------------------------------------------------


def repeated_back(values: Any, shape: tuple, repeats: Any, axis: Any = None) -> Any:
    """``repeat_grad`` for an array of ``shape``: each element collects its copies."""
    return repeat_grad(values, _stand_in(shape), repeats, axis)


def repeated_back_vjp(g, ans, values, shape, repeats, axis=None):
    return np.repeat(g, repeats, axis=axis), None, None, None


_REPEATED_BACK = _rule(repeated_back, repeated_back_vjp, "repeated_back")


def repeat_grad_recorded(g: Any, a: Any, repeats: Any, axis: Any = None) -> Any:
    if not _records(g):
        return repeat_grad(g, a, repeats, axis)
    return apply(_REPEATED_BACK, repeated_back, (g, _shape(a), _plain(repeats), axis))


def unpadded(
    values: Any, shape: tuple, pad_width: Any, mode: Any = "edge", reflect_type: str = "even"
) -> Any:
    """``unpad`` for an array of ``shape`` in a mode that copies elements."""
    return unpad(values, _stand_in(shape), pad_width, mode, reflect_type)


def unpadded_vjp(g, ans, values, shape, pad_width, mode="edge", reflect_type="even"):
    return padded_like(g, pad_width, mode, reflect_type), None, None, None, None


def padded_like(g: Any, pad_width: Any, mode: Any, reflect_type: str) -> Any:
    """``np.pad(g, pad_width, mode)``, with ``reflect_type`` where the mode takes one."""
    if mode in ("reflect", "symmetric"):
        return np.pad(g, pad_width, mode=mode, reflect_type=reflect_type)
    return np.pad(g, pad_width, mode=mode)


_UNPADDED = _rule(unpadded, unpadded_vjp, "unpadded")


def unpad_recorded(
    g: Any, array: Any, pad_width: Any, mode: Any = "constant", reflect_type: str = "even"
) -> Any:
    if not _records(g) or mode in ("constant", "empty") or reflect_type != "even":
        # (the constant modes slice, which records; other reflect types raise)
        return unpad(g, array, pad_width, mode, reflect_type)
    return apply(_UNPADDED, unpadded, (g, _shape(array), _plain(pad_width), mode, reflect_type))


# -- diagonals -------------------------------------------------------------------------------


def placed_diagonal(values: Any, shape: tuple, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """``place_diagonal`` for an array of ``shape``."""
    return place_diagonal(values, _stand_in(shape), offset, axis1, axis2)


def placed_diagonal_vjp(g, ans, values, shape, offset=0, axis1=0, axis2=1):
    return np.diagonal(g, offset, axis1, axis2), None, None, None, None


_PLACED_DIAGONAL = _rule(placed_diagonal, placed_diagonal_vjp, "placed_diagonal")


def place_diagonal_recorded(g: Any, a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1):
    if not _records(g):
        return place_diagonal(g, a, offset, axis1, axis2)
    return apply(_PLACED_DIAGONAL, placed_diagonal, (g, _shape(a), offset, axis1, axis2))


def traced_back(values: Any, shape: tuple, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """``trace_grad`` for an array of ``shape``."""
    return trace_grad(values, _stand_in(shape), offset, axis1, axis2)


def traced_back_vjp(g, ans, values, shape, offset=0, axis1=0, axis2=1):
    return np.trace(g, offset, axis1, axis2), None, None, None, None


_TRACED_BACK = _rule(traced_back, traced_back_vjp, "traced_back")


def trace_grad_recorded(g: Any, a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1):
    if not _records(g):
        return trace_grad(g, a, offset, axis1, axis2)
    return apply(_TRACED_BACK, traced_back, (g, _shape(a), offset, axis1, axis2))


def diag_back(values: Any, shape: tuple, k: int = 0) -> Any:
    """``diag_grad`` for an argument of ``shape``."""
    return diag_grad(values, _stand_in(shape), k)


def diag_back_vjp(g, ans, values, shape, k=0):
    return np.diag(g, k), None, None


_DIAG_BACK = _rule(diag_back, diag_back_vjp, "diag_back")


def diag_grad_recorded(g: Any, v: Any, k: int = 0) -> Any:
    if not _records(g):
        return diag_grad(g, v, k)
    return apply(_DIAG_BACK, diag_back, (g, _shape(v), k))


# -- sinc, whose rule is special at 0 -------------------------------------------------------
# The rule of np.sinc is g * ((cos(pi x) - sinc(x)) / x), with 0 put in at x = 0, where
# the slope of sinc is 0: right as a value, but as a function of x its own slope at 0 is
# 0 too, where sinc's second derivative is -pi**2 / 3. On tensors the rule is written with
# sinc_derivative instead, a primitive whose rule is the next derivative: right at 0 to
# every order.


def sinc_derivative(x: Any, n: int) -> Any:
    """The ``n``-th derivative of ``np.sinc`` at ``x`` (recorded for a tensor ``x``).

    From ``x sinc(x) = sin(pi x) / pi``, differentiated ``n`` times:
    ``x s_n + n s_(n-1) = pi**(n-1) sin(pi x + n pi / 2)``; at 0, the Taylor series gives
    ``(-1)**(n/2) pi**n / (n + 1)`` for even ``n`` and 0 for odd ``n``.

    >>> float(sinc_derivative(np.float64(0.0), 2)) == -np.pi**2 / 3
    True
    """
    if isinstance(x, Tensor):
        return apply(_SINC_DERIVATIVE, sinc_derivative_of, (x, n))
    return sinc_derivative_of(x, n)


def sinc_derivative_of(x: Any, n: int) -> Any:
    xp = array_module(x)
    zero = x == 0
    safe = xp.where(zero, 1, x)
    s = xp.sinc(x)
    for k in range(1, n + 1):
        s = (math.pi ** (k - 1) * xp.sin(math.pi * x + k * math.pi / 2) - k * s) / safe
    at_zero = 0.0 if n % 2 else (-1) ** (n // 2) * math.pi**n / (n + 1)
    return xp.where(zero, at_zero, s)


def sinc_derivative_vjp(g, ans, x, n):
    return g * sinc_derivative(x, n + 1), None


_SINC_DERIVATIVE = _rule(sinc_derivative_of, sinc_derivative_vjp, "sinc_derivative")


def sinc_on_tensors(kernel: Any, default: Any) -> Any:
    """The tape kernel of np.sinc's rule, on tensors (see above)."""

    def sinc_kernel(g: Any, ans: Any, x: Any) -> tuple:
        return (g * sinc_derivative(x, 1),)

    return sinc_kernel if kernel.params == (0,) else default


# -- powers, whose rules are special at an exponent of 0 -----------------------------------
# The rules of x ** y (np.power, np.float_power, math.pow) give x the gradient
# g * y * x ** (y - (y != 0)): the exponent is not lowered where it is 0, so that the
# slope of x ** 0 is 0 even at x = 0 (not 0 * inf). Right as a value; but along y, at
# y = 0, its slope is g (from x ** 0 = 1) where it is g / x (from x ** -1). For an exponent
# that requires grad, and only where it is 0, the gradient is written with 1 / x there.


def _power_on_tensors(power: Any) -> Any:
    def on_tensors(kernel: Any, default: Any) -> Any:
        if 0 not in kernel.params:
            return default
        i = kernel.params.index(0)
        keeps_unbroadcast = not kernel.stripped[i]

        def power_kernel(g: Any, ans: Any, x: Any, y: Any, *rest: Any, **kwargs: Any) -> tuple:
            grads = default(g, ans, x, y, *rest, **kwargs)
            if not (isinstance(y, Tensor) and y._requires_grad) or not bool((_plain(y) == 0).any()):
                return grads
            safe = np.where(x == 0, 1, x)
            lowered = np.where(y == 0, 1 / safe, power(x, y - (y != 0)))
            grad = g * y * lowered
            if getattr(grad, "dtype", None) != _plain(x).dtype:
                grad = grad.astype(_plain(x).dtype)
            if keeps_unbroadcast:
                grad = unbroadcast(grad, x)
            return (*grads[:i], grad, *grads[i + 1 :])

        return power_kernel

    return on_tensors


#: tape kernels of the shipped rules written anew for tensors, by the rule's function:
#: each makes, from a kernel and its version that runs on tensors as written, the one to run
KERNELS: dict[Any, Any] = {
    elementwise_rules.sinc: sinc_on_tensors,
    arithmetic_rules.power: _power_on_tensors(np.power),
    elementwise_rules.float_power: _power_on_tensors(np.float_power),
    mathmodule_rules.pow: _power_on_tensors(np.power),
}


# -- what a rule running on tensors calls instead -------------------------------------------

REPLACEMENTS: dict[Any, Any] = {
    scatter_grad: scatter_grad_recorded,
    without_index: without_index_recorded,
    take_grad: take_grad_recorded,
    take_along_axis_grad: take_along_axis_grad_recorded,
    sort_grad: sort_grad_recorded,
    repeat_grad: repeat_grad_recorded,
    unpad: unpad_recorded,
    place_diagonal: place_diagonal_recorded,
    trace_grad: trace_grad_recorded,
    diag_grad: diag_grad_recorded,
}

# Creation functions: made by the module of the data (CuPy's for arrays on a GPU), and
# given as tensors; every other function is NumPy's, which dispatches to tensors.
_CREATION = frozenset(
    {
        "zeros", "ones", "empty", "full", "eye", "identity", "arange", "linspace", "tri",
        "zeros_like", "ones_like", "empty_like", "full_like",
    }
)  # fmt: skip


class _NumpyOnTensors(types.ModuleType):
    """NumPy as a rule running on tensors sees it (as ``np``, and as what ``array_module``
    gives for tensors): ``asarray`` and ``array`` of a tensor keep the tensor, where NumPy
    would make an array of it and drop its history (helpers call them to make arrays of
    numbers); new arrays (``zeros``, ``ones``...) are tensors, so that a helper writing a
    gradient into one in place (``np.multiply.at(factors, i, v)``) records the write, as
    user code on the tape does; every other function is NumPy's, which records on
    tensors."""

    def __init__(self, creating: Any) -> None:
        super().__init__("numpy")
        self._creating = creating

    def __getattr__(self, name: str) -> Any:
        if name in _CREATION:
            return _creating(getattr(self._creating, name))
        return getattr(np, name)

    def asarray(self, a: Any, dtype: Any = None, **kwargs: Any) -> Any:
        if isinstance(a, Tensor):
            return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
        return self._creating.asarray(a, dtype=dtype, **kwargs)

    asanyarray = ascontiguousarray = asarray

    def array(self, a: Any, dtype: Any = None, copy: bool = True, **kwargs: Any) -> Any:
        if isinstance(a, Tensor):
            kept = self.asarray(a, dtype)
            return kept.clone() if copy and kept is a else kept
        return self._creating.array(a, dtype=dtype, copy=copy, **kwargs)


def _creating(function: Any) -> Any:
    def create(*args: Any, **kwargs: Any) -> Any:
        made = function(*args, **kwargs)
        return made if isinstance(made, Tensor) else Tensor(made)

    return create


_NUMPY = _NumpyOnTensors(np)
_modules: dict[int, _NumpyOnTensors] = {}


def array_module_recorded(*arrays: Any) -> Any:
    """``array_module`` for a rule running on tensors: for tensors, NumPy as
    :class:`_NumpyOnTensors`, making new arrays where the tensor's data lives."""
    for value in arrays:
        if isinstance(value, Tensor):
            module = array_module(value._data)
            if module is np:
                return _NUMPY
            found = _modules.get(id(module))
            if found is None or found._creating is not module:
                found = _modules[id(module)] = _NumpyOnTensors(module)
            return found
    return array_module(*arrays)


class _MathOnTensors(types.ModuleType):
    """The ``math`` module as a rule of its functions running on tensors sees it: the tape's
    (``math.cos`` of a tensor records ``np.cos``), and ``copysign``, piecewise constant in
    its second argument, taking that argument's value."""

    def __init__(self) -> None:
        super().__init__("math")

    def __getattr__(self, name: str) -> Any:
        if name == "copysign":
            return _copysign
        from .fallback import _tape_math  # (fallback imports the recording modules)

        return getattr(_tape_math, name)


def _copysign(x: Any, y: Any) -> Any:
    if isinstance(x, Tensor) or isinstance(y, Tensor):
        sign = math.copysign(1.0, float(np.asarray(_plain(y)).reshape(-1)[0]))
        return np.absolute(x) * sign
    return math.copysign(x, y)


_MATH = _MathOnTensors()

# The modules whose functions rules call: such a function runs on tensors with its globals
# read through an _OnTensors namespace too, so that what it calls is replaced in turn.
_RULE_MODULES = ("astgrad.runtime.rules.", "astgrad.runtime.ufunc_at")
_REBOUND: dict[Any, Any] = {}


def replacement_for(value: Any) -> Any:
    """What a rule running on tensors finds instead of the global ``value``: the helpers
    above; NumPy, ``array_module`` and ``math`` as they work on tensors; a helper of the
    rule modules with its own globals read through this function in turn; anything else
    as it is."""
    if isinstance(value, types.FunctionType):
        found = REPLACEMENTS.get(value)
        if found is not None:
            return found
        if value is array_module:
            return array_module_recorded
        if (value.__module__ or "").startswith(_RULE_MODULES):
            return _rebound(value)
        return value
    if value is np:
        return _NUMPY
    if value is math:
        return _MATH
    return value


def _rebound(function: types.FunctionType) -> types.FunctionType:
    found = _REBOUND.get(function)
    if found is None:
        found = types.FunctionType(
            function.__code__,
            on_tensors_namespace(function.__globals__),
            function.__name__,
            function.__defaults__,
            function.__closure__,
        )
        found.__kwdefaults__ = function.__kwdefaults__
        found.__dict__.update(function.__dict__)
        _REBOUND[function] = found
    return found


class _OnTensors(dict):
    """A module's globals, read live, as a rule running on tensors sees them: each name
    through :func:`replacement_for`. (A function's globals may be a dict subclass; the
    interpreter then looks names up by item access, which asks ``__missing__`` for every
    name this dict does not hold: all of them.)"""

    __slots__ = ("namespace",)

    def __init__(self, namespace: dict) -> None:
        super().__init__()
        self.namespace = namespace

    def __missing__(self, name: str) -> Any:
        return replacement_for(self.namespace[name])


_NAMESPACES: dict[int, _OnTensors] = {}


def on_tensors_namespace(namespace: dict) -> _OnTensors:
    """The :class:`_OnTensors` view of a module's globals (one per module)."""
    found = _NAMESPACES.get(id(namespace))
    if found is None or found.namespace is not namespace:
        found = _NAMESPACES[id(namespace)] = _OnTensors(namespace)
    return found
