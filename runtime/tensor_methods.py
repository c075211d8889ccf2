"""Tensor's operators, indexing, NumPy's protocols and array methods: the roads from a
tensor into the tape.

They are written here as a class body and set on :class:`~astgrad.runtime.tensor.Tensor`
when the runtime package loads (:func:`_install`, at the bottom), because they call the
recording modules, which import the tensor module: defined there, they would need those
modules imported back into it. Binary arithmetic operators are made per rule by
fast_path.operator_pair, so that ``a * b`` costs one Python call; ``__array_ufunc__`` and
``__array_function__`` are interop's functions themselves, one Python call less on every
NumPy function of a tensor.
"""

from __future__ import annotations

import operator
import types
from collections import namedtuple
from typing import Any

import numpy as np

from .bitwise import bitwise, bitwise_inplace
from .device import Device, device_from_spec
from .fast_path import mean_of, operator_pair, unary
from .grad_mode import _state as _grad_state
from .grad_mode import is_grad_enabled
from .inplace import inplace, inplace_apply, setitem
from .interop import array_function, array_ufunc
from .primitives import astype, identity, move_to, relu, sigmoid
from .recording import apply, getitem
from .rules import lookup
from .rules.arithmetic import dot_2d
from .tensor import Tensor, new_tensor

__all__: list[str] = []


class _Flat:
    """``t.flat``: a flat position (an int, a slice, a list or array of them) is the index
    of its element in C order, so ``t.flat[k]`` is ``t[np.unravel_index(k, t.shape)]``."""

    def __init__(self, tensor: Tensor) -> None:
        self.tensor = tensor

    def _index(self, key: Any) -> tuple:
        data = self.tensor._data
        if isinstance(key, Tensor):
            key = key._data
        positions = np.arange(data.size)[key]
        return np.unravel_index(positions, data.shape)

    def __getitem__(self, key: Any) -> Tensor:
        return self.tensor[self._index(key)]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.tensor[self._index(key)] = value

    def __len__(self) -> int:
        return int(self.tensor._data.size)

    def __iter__(self) -> Any:
        return (self[k] for k in range(len(self)))


class _TensorMethods:
    """Tensor's methods that run on the tape, set on Tensor by _install (never instantiated)."""

    def __neg__(self) -> Tensor:
        return unary(_NEG, np.negative, self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return unary(_ABS, np.absolute, self)

    def __iadd__(self, other: Any) -> Tensor:
        return inplace(self, _ADD, other, "+=")

    def __isub__(self, other: Any) -> Tensor:
        return inplace(self, _SUB, other, "-=")

    def __imul__(self, other: Any) -> Tensor:
        return inplace(self, _MUL, other, "*=")

    def __itruediv__(self, other: Any) -> Tensor:
        return inplace(self, _DIV, other, "/=")

    # NumPy writes `**=`, `%=` and `@=` into the array too: without these, Python would
    # fall back on `**` and rebind the name, and an alias (`z = y; y **= 2`) would keep
    # the old value where NumPy's sees the new one: a silently wrong gradient.
    def __ipow__(self, other: Any) -> Tensor:
        return inplace(self, _POW, other, "**=")

    def __imod__(self, other: Any) -> Tensor:
        return inplace(self, _MOD, other, "%=")

    def __imatmul__(self, other: Any) -> Tensor:
        return inplace(self, _MATMUL, other, "@=")

    # Floor division is piecewise constant: its result carries no gradient.
    def __floordiv__(self, other: Any) -> Tensor:
        return apply(None, np.floor_divide, (self, other))

    def __rfloordiv__(self, other: Any) -> Tensor:
        return apply(None, np.floor_divide, (other, self))

    def __ifloordiv__(self, other: Any) -> Tensor:
        if (
            self._requires_grad
            and is_grad_enabled()
            and not (_grad_state.numbers and self._data.ndim == 0)
        ):
            raise RuntimeError(
                "`t //= v` on a tensor that requires grad would replace its values by ones "
                "with no gradient, in place: write `t = t // v` (a new tensor, with no "
                "gradient) or change `t.detach()`"
            )
        return bitwise_inplace(self, np.floor_divide, other)

    def __divmod__(self, other: Any) -> tuple[Tensor, Tensor]:
        return self // other, self % other

    def __rdivmod__(self, other: Any) -> tuple[Tensor, Tensor]:
        return other // self, other % self

    # Bitwise operators are NumPy's (logical on boolean masks); their results carry no
    # gradient.
    def __and__(self, other: Any) -> Tensor:
        return bitwise(np.bitwise_and, self, other)

    def __rand__(self, other: Any) -> Tensor:
        return bitwise(np.bitwise_and, other, self)

    def __or__(self, other: Any) -> Tensor:
        return bitwise(np.bitwise_or, self, other)

    def __ror__(self, other: Any) -> Tensor:
        return bitwise(np.bitwise_or, other, self)

    def __xor__(self, other: Any) -> Tensor:
        return bitwise(np.bitwise_xor, self, other)

    def __rxor__(self, other: Any) -> Tensor:
        return bitwise(np.bitwise_xor, other, self)

    def __invert__(self) -> Tensor:
        return bitwise(np.invert, self)

    def __iand__(self, other: Any) -> Tensor:
        return bitwise_inplace(self, np.bitwise_and, other)

    def __ior__(self, other: Any) -> Tensor:
        return bitwise_inplace(self, np.bitwise_or, other)

    def __ixor__(self, other: Any) -> Tensor:
        return bitwise_inplace(self, np.bitwise_xor, other)

    # Comparisons give boolean tensors, which never require grad.
    def __lt__(self, other: Any) -> Tensor:
        return apply(None, np.less, (self, other))

    def __le__(self, other: Any) -> Tensor:
        return apply(None, np.less_equal, (self, other))

    def __gt__(self, other: Any) -> Tensor:
        return apply(None, np.greater, (self, other))

    def __ge__(self, other: Any) -> Tensor:
        return apply(None, np.greater_equal, (self, other))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return apply(None, np.equal, (self, other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return apply(None, np.not_equal, (self, other))

    def __getitem__(self, index: Any) -> Tensor:
        return getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        setitem(self, index, value)

    # -- methods --------------------------------------------------------------------

    # Reductions take NumPy's axis= and keepdims= and PyTorch's names for them, dim= and
    # keepdim= (not both names of one argument). keepdims defaults to None, NumPy's False, so
    # that giving it and keepdim together is told from giving keepdim alone.

    # initial= and where= as NumPy's, keyword only (NumPy's positions hold dtype and out,
    # which the tape does not take from a method)

    def sum(
        self,
        axis: Any = None,
        keepdims: Any = None,
        *,
        dim: Any = None,
        keepdim: Any = None,
        initial: Any = np._NoValue,
        where: Any = True,
    ) -> Tensor:
        if axis is None and not keepdims and dim is None and keepdim is None:
            if initial is np._NoValue and where is True:
                return unary(_SUM, np.sum, self)
        kwargs = _reduce_kwargs("sum", axis, keepdims, dim, keepdim, initial, where)
        return apply(_SUM, np.sum, (self,), kwargs)

    def mean(
        self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None
    ) -> Tensor:
        if axis is None and not keepdims and dim is None and keepdim is None:
            return unary(_MEAN, mean_of, self)
        return apply(_MEAN, np.mean, (self,), _reduce_kwargs("mean", axis, keepdims, dim, keepdim))

    def max(
        self,
        axis: Any = None,
        keepdims: Any = None,
        *,
        dim: Any = None,
        keepdim: Any = None,
        initial: Any = np._NoValue,
        where: Any = True,
    ) -> Any:
        """NumPy's ``max``: ``t.max(axis=1)`` gives the values (ties share the gradient).
        Written with PyTorch's ``dim=``, PyTorch's: ``(values, indices)``, the values taken
        at the indices (the first of tied elements gets all of the gradient)."""
        if dim is not None and initial is np._NoValue and where is True:
            return _extreme_along("max", np.argmax, self, axis, keepdims, dim, keepdim)
        kwargs = _reduce_kwargs("max", axis, keepdims, dim, keepdim, initial, where)
        return apply(_MAX, np.max, (self,), kwargs)

    def min(
        self,
        axis: Any = None,
        keepdims: Any = None,
        *,
        dim: Any = None,
        keepdim: Any = None,
        initial: Any = np._NoValue,
        where: Any = True,
    ) -> Any:
        """NumPy's ``min``, or with ``dim=`` PyTorch's ``(values, indices)`` (see ``max``)."""
        if dim is not None and initial is np._NoValue and where is True:
            return _extreme_along("min", np.argmin, self, axis, keepdims, dim, keepdim)
        kwargs = _reduce_kwargs("min", axis, keepdims, dim, keepdim, initial, where)
        return apply(_MIN, np.min, (self,), kwargs)

    def amax(
        self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None
    ) -> Tensor:
        """PyTorch's ``amax``: the values of NumPy's ``max`` (ties share the gradient)."""
        kwargs = _reduce_kwargs("amax", axis, keepdims, dim, keepdim)
        return apply(_MAX, np.max, (self,), kwargs)

    def amin(
        self, axis: Any = None, keepdims: Any = None, *, dim: Any = None, keepdim: Any = None
    ) -> Tensor:
        """PyTorch's ``amin``: the values of NumPy's ``min`` (ties share the gradient)."""
        kwargs = _reduce_kwargs("amin", axis, keepdims, dim, keepdim)
        return apply(_MIN, np.min, (self,), kwargs)

    def prod(
        self,
        axis: Any = None,
        keepdims: Any = None,
        *,
        dim: Any = None,
        keepdim: Any = None,
        initial: Any = np._NoValue,
        where: Any = True,
    ) -> Tensor:
        kwargs = _reduce_kwargs("prod", axis, keepdims, dim, keepdim, initial, where)
        return apply(_PROD, np.prod, (self,), kwargs)

    def exp(self) -> Tensor:
        return unary(_EXP, np.exp, self)

    def log(self) -> Tensor:
        return unary(_LOG, np.log, self)

    def tanh(self) -> Tensor:
        return unary(_TANH, np.tanh, self)

    def sqrt(self) -> Tensor:
        return unary(_SQRT, np.sqrt, self)

    def abs(self) -> Tensor:
        return unary(_ABS, np.absolute, self)

    def sigmoid(self) -> Tensor:
        return unary(_SIGMOID, sigmoid, self)

    def relu(self) -> Tensor:
        return unary(_RELU, relu, self)

    def pow(self, exponent: Any) -> Tensor:
        return self**exponent

    def matmul(self, other: Any) -> Tensor:
        return self @ other

    def dot(self, other: Any) -> Tensor:
        return apply(_DOT, np.dot, (self, other))

    def reshape(self, *shape: Any, order: str = "C") -> Tensor:
        """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``; ``order="F"`` (or "A") reads and
        writes the elements as NumPy's ``reshape`` does with it."""
        if order == "C":
            return apply(_RESHAPE, np.reshape, (self, _shape_arg(shape)))
        return apply(_RESHAPE, np.reshape, (self, _shape_arg(shape), order))

    def view(self, *shape: Any) -> Tensor:
        """A view sharing this tensor's memory: ``t.view()`` as ``ndarray.view()`` (same
        shape), ``t.view(2, 3)`` as torch's (another shape)."""
        if not shape:
            return self[...]
        return self.reshape(*shape)

    def transpose(self, *axes: Any) -> Tensor:
        """``t.transpose()`` reverses the axes; ``t.transpose(1, 0, 2)`` permutes them."""
        return apply(_TRANSPOSE, np.transpose, (self, _shape_arg(axes) if axes else None))

    @property
    def T(self) -> Tensor:
        """The axes reversed, as NumPy's ``ndarray.T`` (PyTorch's ``T`` too, which it
        deprecates for other than two dimensions)."""
        return self.transpose()

    @property
    def mT(self) -> Tensor:
        """The last two axes swapped: a batch of matrices, each transposed (PyTorch's
        ``mT``; NumPy's ``matrix_transpose``)."""
        n = self._data.ndim
        if n < 2:
            raise RuntimeError(
                f"tensor.mT is only supported on matrices or batches of matrices. Got {n}-D tensor."
            )
        return apply(_TRANSPOSE, np.transpose, (self, (*range(n - 2), n - 1, n - 2)))

    @property
    def real(self) -> Tensor:
        """The real part: of a real tensor, a view of all of it (as ``ndarray.real``)."""
        if self.dtype.kind == "c":
            return apply(_REAL, np.real, (self,))
        return self[...]

    @property
    def imag(self) -> Tensor:
        """The imaginary part (zeros for a real tensor)."""
        return apply(_IMAG, np.imag, (self,))

    @property
    def flat(self) -> _Flat:
        """The elements by their position in C order, as ``ndarray.flat``: ``t.flat[i]``,
        ``t.flat[1:4] = v`` read and write through ordinary indexing, which records."""
        return _Flat(self)

    def flatten(self, order: str = "C") -> Tensor:
        """The elements in one dimension, read in ``order`` as ``ndarray.flatten``."""
        if order == "C":
            return apply(_RAVEL, np.ravel, (self,))
        return apply(_RAVEL, np.ravel, (self, order))

    def squeeze(self, axis: Any = None, *, dim: Any = None) -> Tensor:
        return apply(_SQUEEZE, np.squeeze, (self, _axis_of("squeeze", axis, dim)))

    def unsqueeze(self, axis: Any = None, *, dim: Any = None) -> Tensor:
        """A new axis of length 1 at ``axis`` (PyTorch's ``dim``)."""
        axis = _axis_of("unsqueeze", axis, dim)
        if axis is None:
            raise TypeError("unsqueeze() missing the axis (dim) to insert")
        return apply(_EXPAND_DIMS, np.expand_dims, (self, axis))

    def clone(self) -> Tensor:
        """A copy with its own memory, through which gradients flow."""
        return apply(_COPY, identity, (self,))

    def __copy__(self) -> Tensor:
        """``copy.copy(t)``: a copy with its own memory, as for the array a tensor stands
        for: the same as ``copy.deepcopy(t)``."""
        return self.__deepcopy__({})

    def __deepcopy__(self, memo: dict) -> Tensor:
        """``copy.deepcopy`` of a tensor (or of an object or list holding one, each tensor
        copied once): as PyTorch's, a leaf made by hand (``requires_grad=True``) gives a new
        leaf of its own with a copy of its ``grad``. Any other tensor stands for a NumPy
        array the code copies (a function run on the tape, its arguments included): the copy
        is ``t.clone()``, through which gradients flow; copying its graph instead left the
        gradients wrong."""
        found = memo.get(id(self))
        if found is not None:
            return found
        if self._grad_fn is None and getattr(self, "_argument", None) is None:
            copied = new_tensor(self._data.copy())
            copied.requires_grad = self._requires_grad
            if self._grad is not None:
                copied._grad = new_tensor(self._grad._data.copy())
        else:
            copied = self.clone()
        memo[id(self)] = copied
        return copied

    # PyTorch's in-place methods: recorded as in-place operations, with PyTorch's rules (see
    # inplace): refused on a leaf that requires grad outside no_grad, counted in the version
    # that saved values are checked against. Each returns the tensor.

    def add_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """``t += alpha * other`` in place."""
        return inplace(self, _ADD, _times(other, alpha), "add_()", False)

    def sub_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """``t -= alpha * other`` in place."""
        return inplace(self, _SUB, _times(other, alpha), "sub_()", False)

    def mul_(self, other: Any) -> Tensor:
        """``t *= other`` in place."""
        return inplace(self, _MUL, other, "mul_()", False)

    def div_(self, other: Any) -> Tensor:
        """``t /= other`` in place."""
        return inplace(self, _DIV, other, "div_()", False)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        """The values limited to ``[min, max]`` (either may be None): np.clip."""
        _check_bounds(min, max)
        return apply(_CLIP, np.clip, (self, min, max))

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        """Limit the values to ``[min, max]`` in place (either may be None)."""
        _check_bounds(min, max)
        return inplace_apply(self, _CLIP, (min, max), "clamp_()")

    def zero_(self) -> Tensor:
        """Fill with zeros in place (``w.grad.zero_()``)."""
        setitem(self, Ellipsis, 0, "zero_()")
        return self

    def fill_(self, value: Any) -> Tensor:
        """Set every element to ``value`` (a number, or a tensor without dimensions, whose
        gradient is then the sum of this tensor's) in place."""
        if isinstance(value, Tensor) and value._data.ndim != 0:
            raise RuntimeError(
                f"fill_ only supports 0-dimension value tensor but got tensor with "
                f"{value._data.ndim} dimensions."
            )
        setitem(self, Ellipsis, value, "fill_()")
        return self

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src`` (broadcast to this tensor's shape, cast to its dtype, moved to its
        device) into this tensor in place; the gradient flows to ``src``."""
        if isinstance(src, Tensor) and src.device != self.device:
            src = src.to(self.device)
        setitem(self, Ellipsis, src, "copy_()")
        return self

    def sort(self, axis: int = -1, kind: Any = None) -> None:
        """Sort in place along ``axis``, as ``ndarray.sort`` does (``np.sort(t)`` gives a
        sorted copy): recorded as a write of the sorted values, so the gradient follows."""
        setitem(self, Ellipsis, np.sort(self.clone(), axis=axis, kind=kind), "sort()")

    def fill(self, value: Any) -> None:
        """Set every element to ``value`` in place, as ``ndarray.fill`` does."""
        setitem(self, Ellipsis, value, "fill()")

    def to(self, device: Any) -> Tensor:
        """This tensor on ``device`` (itself if already there); gradients flow back."""
        target = device_from_spec(device) if not isinstance(device, Device) else device
        if target == self.device:
            return self
        return apply(_MOVE_TO, move_to, (self, target))

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, index: int | None = None) -> Tensor:
        return self.to("cuda" if index is None else f"cuda:{index}")


def _one_of(what: str, numpy_name: str, value: Any, torch_name: str, alias: Any) -> Any:
    """The value of an argument NumPy calls ``numpy_name`` and PyTorch ``torch_name``."""
    if alias is None:
        return value
    if value is not None:
        raise TypeError(
            f"{what}() got both {numpy_name}= and {torch_name}=, two names of one argument "
            f"({torch_name} is PyTorch's name for NumPy's {numpy_name}): give one"
        )
    return alias


def _axis_of(what: str, axis: Any, dim: Any) -> Any:
    return _one_of(what, "axis", axis, "dim", dim)


def _reduce_kwargs(
    what: str,
    axis: Any,
    keepdims: Any,
    dim: Any,
    keepdim: Any,
    initial: Any = np._NoValue,
    where: Any = True,
) -> dict:
    kwargs = {
        "axis": _one_of(what, "axis", axis, "dim", dim),
        "keepdims": bool(_one_of(what, "keepdims", keepdims, "keepdim", keepdim)),
    }
    if initial is not np._NoValue:
        kwargs["initial"] = initial
    if where is not True:
        kwargs["where"] = where
    return kwargs


# What t.max(dim=...) and t.min(dim=...) return, as PyTorch's torch.return_types.max/min.
MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])


def _extreme_along(
    what: str, arg: Any, t: Tensor, axis: Any, keepdims: Any, dim: Any, keepdim: Any
) -> Any:
    """PyTorch's ``t.max(dim=...)`` (``what`` "max", ``arg`` np.argmax) and ``t.min``: the
    index of the first extreme element along ``dim``, and the values taken there, so that
    each gets all of the gradient, as in PyTorch."""
    kwargs = _reduce_kwargs(what, axis, keepdims, dim, keepdim)
    axis, keep = kwargs["axis"], kwargs["keepdims"]
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what}(dim=...) takes one dimension, an int, not {axis!r}")
    indices = apply(None, arg, (t,), {"axis": axis, "keepdims": True})
    values = apply(_TAKE_ALONG_AXIS, np.take_along_axis, (t, indices), {"axis": axis})
    if not keep:
        values = values.squeeze(axis)
        indices = indices.squeeze(axis)
    return (MaxResult if what == "max" else MinResult)(values, indices)


def _times(other: Any, alpha: Any) -> Any:
    """``alpha * other`` for ``add_``/``sub_``: ``other`` itself when alpha is 1."""
    if type(alpha) in (int, float) and alpha == 1:
        return other
    if isinstance(other, (Tensor, int, float, complex)):
        return other * alpha
    return np.multiply(other, alpha)


def _check_bounds(low: Any, high: Any) -> None:
    if low is None and high is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")


def _shape_arg(values: tuple) -> Any:
    if len(values) == 1 and isinstance(values[0], (tuple, list)):
        return tuple(values[0])
    return values


_ADD = lookup(np.add)
_SUB = lookup(np.subtract)
_MUL = lookup(np.multiply)
_DIV = lookup(np.true_divide)
_POW = lookup(np.power)
_MOD = lookup(np.remainder)
_MATMUL = lookup(np.matmul)
_NEG = lookup(np.negative)
_ABS = lookup(np.absolute)
_EXP = lookup(np.exp)
_LOG = lookup(np.log)
_TANH = lookup(np.tanh)
_SQRT = lookup(np.sqrt)
_SIGMOID = lookup(sigmoid)
_RELU = lookup(relu)
_DOT = lookup(np.dot)
_SUM = lookup(np.sum)
_MEAN = lookup(np.mean)
_MAX = lookup(np.max)
_MIN = lookup(np.min)
_PROD = lookup(np.prod)
_RESHAPE = lookup(np.reshape)
_TRANSPOSE = lookup(np.transpose)
_RAVEL = lookup(np.ravel)
_REAL = lookup(np.real)
_IMAG = lookup(np.imag)
_SQUEEZE = lookup(np.squeeze)
_EXPAND_DIMS = lookup(np.expand_dims)
_CLIP = lookup(np.clip)
_TAKE_ALONG_AXIS = lookup(np.take_along_axis)
_COPY = lookup(identity)
_MOVE_TO = lookup(move_to)
# x.astype(dtype) as a primitive with a rule: casts between float dtypes carry the gradient
_ASTYPE = lookup(astype)

# NumPy's other array methods: t.var(axis=0) is np.var(t, axis=0), recorded through the
# same rule. They are real methods rather than a __getattr__ hook, because a class with
# __getattr__ gets no fast attribute access from the interpreter, and every operation of
# the tape reads attributes of tensors.
_ARRAY_METHODS = {
    name: getattr(np, name)
    for name in (
        "ravel", "var", "std", "cumsum", "cumprod", "argmax", "argmin", "argsort", "clip",
        "round", "any", "all", "nonzero", "swapaxes", "repeat", "take", "diagonal", "trace",
        "conj", "conjugate", "copy", "searchsorted",
    )
}  # fmt: skip


def _astype(t: Tensor, dtype: Any, copy: bool = True, **kw: Any) -> Tensor:
    """``t.astype(dtype)``; with ``copy=False`` and ``t`` already of that dtype, ``t``
    itself, as NumPy gives (an in-place change of the result is one of ``t``)."""
    if not copy and np.dtype(dtype) == t.dtype:
        return t
    return apply(_ASTYPE, astype, (t, dtype))


_ARRAY_METHODS["astype"] = _astype


# PyTorch's names of some of their arguments, (PyTorch's, NumPy's), taken for NumPy's.
_REDUCING = (("dim", "axis"), ("keepdim", "keepdims"))
_TORCH_NAMES = {
    "var": (*_REDUCING, ("correction", "ddof")),
    "std": (*_REDUCING, ("correction", "ddof")),
    "argmax": _REDUCING,
    "argmin": _REDUCING,
    "any": _REDUCING,
    "all": _REDUCING,
    "cumsum": _REDUCING[:1],
    "cumprod": _REDUCING[:1],
}


def _array_method(name: str, function: Any) -> Any:
    aliases = _TORCH_NAMES.get(name)
    if aliases is None:

        def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
            return function(self, *args, **kwargs)

    else:

        def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
            if kwargs:
                for torch_name, numpy_name in aliases:
                    if torch_name in kwargs:
                        value = kwargs.pop(torch_name)
                        kwargs[numpy_name] = _one_of(
                            name, numpy_name, kwargs.get(numpy_name), torch_name, value
                        )
            return function(self, *args, **kwargs)

    method.__name__ = name
    method.__qualname__ = f"Tensor.{name}"
    return method


def _install() -> None:
    """Set the methods above, the operators and NumPy's protocols on Tensor."""
    for name, value in vars(_TensorMethods).items():
        # (only what the class body defines: not __hash__, which defining __eq__ set to
        # None there, nor the attributes Python adds to every class)
        if isinstance(value, types.FunctionType):
            value.__qualname__ = f"Tensor.{name}"
            setattr(Tensor, name, value)
        elif isinstance(value, property):
            setattr(Tensor, name, value)
    Tensor.__array_ufunc__ = array_ufunc
    Tensor.__array_function__ = array_function
    # The arithmetic operators: Python's operator on the raw values is the same ufunc as the
    # rule's primitive on arrays, and NumPy's cheap scalar arithmetic on NumPy scalars.
    Tensor.__add__, Tensor.__radd__ = operator_pair(_ADD, operator.add)
    Tensor.__sub__, Tensor.__rsub__ = operator_pair(_SUB, operator.sub)
    Tensor.__mul__, Tensor.__rmul__ = operator_pair(_MUL, operator.mul)
    Tensor.__truediv__, Tensor.__rtruediv__ = operator_pair(_DIV, operator.truediv)
    Tensor.__pow__, Tensor.__rpow__ = operator_pair(_POW, operator.pow)
    Tensor.__mod__, Tensor.__rmod__ = operator_pair(_MOD, operator.mod)
    Tensor.__matmul__, Tensor.__rmatmul__ = operator_pair(_MATMUL, dot_2d)  # (x @ y, quicker)
    for name, function in _ARRAY_METHODS.items():
        if name not in Tensor.__dict__:
            setattr(Tensor, name, _array_method(name, function))


_install()
