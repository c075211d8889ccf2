"""The eager tensor: an array (NumPy or CuPy) plus what the tape needs to differentiate it.

Operators, methods and NumPy functions applied to tensors are forwarded to
:mod:`~astgrad.runtime.ops`, which computes the result on the raw arrays and, when an input
requires grad and grad mode is on, records a node. This module holds the class and what is
about the tensor itself: attributes, conversions, ``backward``, gradient accumulation.
"""

from __future__ import annotations

import math
import operator
import sys
import warnings
from typing import Any

import numpy as np

from .adjoints import matrix_error
from .device import Device, device_of, host_array_or_raise
from .grad_mode import _state as _grad_state
from .grad_mode import is_grad_enabled
from .graph import (
    Node,
    new_accumulator,
    new_version_counter,
    public,
    retain_output_grad,
    run_backward,
)
from .primitives import identity, move_to, relu, sigmoid
from .rules import lookup

__all__ = ["Tensor", "GradientLostError"]


class GradientLostError(RuntimeError):
    """Raised where a tensor that requires grad would silently lose its gradient."""


def _lost(conversion: str, advice: str) -> GradientLostError:
    return GradientLostError(
        f"{conversion} of a tensor that requires grad would silently drop its gradient. "
        f"{advice} To take the values without gradient say so explicitly: t.detach() "
        f"(or t.item() for one number)."
    )


class Tensor:
    """An array that can record the operations applied to it, for reverse-mode gradients.

    Usually made by a factory (``ag.tensor``, ``ag.randn``...). ``Tensor(array)`` wraps an
    existing array without copying it.

    >>> import astgrad as ag
    >>> x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    __slots__ = (
        "_data",
        "_requires_grad",
        "_grad_fn",
        "_output_nr",
        "_grad",
        "_counter",
        "_base",
        "_view_history",
        "_accumulator",
        "_retains_grad",
        "__weakref__",
    )

    # NumPy and CuPy defer binary operators to us (so ``array * tensor`` records).
    __array_priority__ = 1000.0

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        if isinstance(data, Tensor):
            data = data.data
        elif isinstance(data, np.matrix):
            raise matrix_error("the data of a tensor")
        elif not hasattr(data, "dtype") or isinstance(data, np.generic):
            data = np.asarray(data)
        self._data = data
        self._requires_grad = False
        self._grad_fn = None
        self._output_nr = 0
        self._grad = None
        self._counter = None
        self._base = None
        self._view_history = 0
        self._accumulator = None
        self._retains_grad = False
        if requires_grad:
            self.requires_grad = True

    # -- attributes -----------------------------------------------------------------

    @property
    def data(self) -> Any:
        """The raw array (NumPy or CuPy), sharing memory with the tensor."""
        data = self._data
        if type(data) is not np.ndarray and isinstance(data, np.generic):
            # The tape keeps results without dimensions as NumPy scalars, which compute
            # faster (see ops); whoever reads the data gets, and from now on shares, an array.
            data = self._data = np.array(data)
        return data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def device(self) -> Device:
        return device_of(self._data)

    @property
    def grad_fn(self) -> Node | None:
        """The node that made this tensor (``MulBackward``...), None for leaves."""
        return public(self._fresh()._grad_fn)

    @grad_fn.setter
    def grad_fn(self, node: Node | None) -> None:
        self._grad_fn = node

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user (and all that do not require grad)."""
        return self._fresh()._grad_fn is None

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        flag = bool(flag)
        if self._fresh()._grad_fn is not None:
            # As in PyTorch, the attribute of a computed tensor cannot be set at all, to
            # either value (requires_grad_() allows True, which it already is).
            raise _non_leaf_flag_error(self, flag)
        if flag and self._data.dtype.kind != "f":
            raise RuntimeError(
                f"only tensors of floating point dtype can require gradients, not "
                f"{self._data.dtype}; make it float first, e.g. "
                f"ag.tensor(data, dtype=np.float64, requires_grad=True)"
            )
        self._requires_grad = flag

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return the tensor (on a computed tensor only
        ``True``, which it already is, is allowed)."""
        if self._fresh()._grad_fn is not None:
            if requires_grad:
                return self
            raise _non_leaf_flag_error(self, False)
        self.requires_grad = requires_grad
        return self

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient: set on leaves by ``backward``, and on tensors that
        called ``retain_grad()``."""
        if self._grad is None and self._fresh()._grad_fn is not None and not self._retains_grad:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed: "
                "backward() fills .grad only for leaves. Call .retain_grad() on it before "
                "backward() to keep its gradient.",
                UserWarning,
                stacklevel=2,
            )
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is None:
            self._grad = None
            return
        value = value if isinstance(value, Tensor) else Tensor(value)
        if value.shape != self.shape:
            raise RuntimeError(
                f"attempting to assign a gradient of shape {tuple(value.shape)} to a tensor of "
                f"shape {tuple(self.shape)}; the gradient and the tensor must have one shape"
            )
        if device_of(value._data) != self.device:
            raise RuntimeError(
                f"attempting to assign a gradient on {value.device} to a tensor on "
                f"{self.device}; move it first: .grad = g.to({str(self.device)!r})"
            )
        self._grad = value

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` during backward."""
        if self._fresh()._grad_fn is None:
            if not self._requires_grad:
                raise RuntimeError(
                    "can't retain_grad on Tensor that has requires_grad=False; only tensors "
                    "computed from inputs that require grad have a gradient to keep"
                )
            return
        if not self._retains_grad:
            self._retains_grad = True
            retain_output_grad(self._grad_fn, self._output_nr, self)

    @property
    def _version(self) -> int:
        """How many in-place writes this tensor's buffer has seen."""
        return 0 if self._counter is None else self._counter[0]

    def _version_counter(self) -> list:
        """[writes, recorded writes], shared with views (see graph.new_version_counter)."""
        counter = self._counter
        if counter is None:
            counter = self._counter = new_version_counter()
        return counter

    def _fresh(self) -> Tensor:
        """This tensor, with its history brought up to date if it is a view that needs a
        gradient and whose base a recorded in-place operation changed since (see
        ops._refresh_view): what reads ``_grad_fn`` outside the tape's own roads asks this."""
        if (
            self._base is not None
            and self._requires_grad
            and self._counter[1] != self._view_history
        ):
            _refresh_view(self)
        return self

    def _grad_accumulator(self) -> Node:
        node = self._accumulator
        if node is None:
            node = self._accumulator = new_accumulator(self)
        return node

    # -- backward -------------------------------------------------------------------

    def backward(
        self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Accumulate the gradient of this tensor into the ``.grad`` of every leaf.

        ``gradient`` is the cotangent, of this tensor's shape; it may be left out only
        when the tensor holds one element. Saved values are freed afterwards unless
        ``retain_graph=True``. The backward pass itself is not recorded, so
        ``create_graph=True`` (higher-order gradients) is refused.
        """
        if create_graph:
            raise NotImplementedError(
                "backward(create_graph=True) is not supported: astgrad's tape does not record "
                "the backward pass, so gradients of gradients cannot be taken on it."
            )
        if not self._requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn: "
                "backward() was called on a tensor that does not require grad. Create the "
                "inputs you differentiate with requires_grad=True, and compute outside "
                "no_grad()."
            )
        run_backward(self._fresh(), self._seed(gradient), retain_graph)

    def _seed(self, gradient: Any) -> Any:
        """The cotangent that ``backward(gradient)`` starts from, checked."""
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs, and this tensor "
                    f"has shape {tuple(self.shape)}. Reduce it first (y.sum().backward()) or "
                    f"pass the cotangent: y.backward(gradient=ag.ones_like(y))."
                )
            seed = _ones_like_array(self._data)
        else:
            seed = gradient.data if isinstance(gradient, Tensor) else gradient
            if not hasattr(seed, "shape"):
                seed = np.asarray(seed, dtype=self._data.dtype)
            if seed.shape != self.shape:
                raise RuntimeError(
                    f"Mismatch in shape: backward(gradient=...) got a gradient of shape "
                    f"{tuple(seed.shape)} for a tensor of shape {tuple(self.shape)}; they "
                    f"must match."
                )
            if (
                not (type(seed) is np.ndarray and type(self._data) is np.ndarray)
                and device_of(seed) != self.device
            ):
                from .device import mixed_device_error

                raise mixed_device_error(self.device, device_of(seed))
        return seed

    def _accumulate_grad(self, g: Any) -> None:
        data = self._data
        if getattr(g, "shape", ()) != data.shape:
            raise RuntimeError(
                f"internal error: gradient of shape {getattr(g, 'shape', ())} reached a "
                f"tensor of shape {data.shape}"
            )
        if self._grad is None:
            # A buffer of our own: incoming gradients may alias other arrays.
            owned = g.astype(data.dtype, copy=True)
            if type(owned) is not np.ndarray and not isinstance(owned, type(data)):
                owned = np.asarray(owned)
            self._grad = _wrap(owned)
        elif self._grad_fn is not None:
            # A retained gradient of a computed tensor is replaced, not written into, as in
            # PyTorch: a `g = y.grad` taken between two backward calls keeps its values.
            self._grad = _wrap(self._grad.data + g)
        else:
            self._grad.data += g

    # -- conversions ----------------------------------------------------------------

    def detach(self) -> Tensor:
        """The same values, sharing memory, cut from the graph (requires_grad False)."""
        out = Tensor(self.data)
        out._counter = self._version_counter()
        return out

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place."""
        self._grad_fn = None
        self._requires_grad = False
        return self

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array sharing memory (CPU tensors that need no grad)."""
        if self._requires_grad:
            # Name the whole way to host values, .cpu() too for a tensor on a GPU.
            to_host = (
                ".cpu()" if type(self.data) is not np.ndarray and self.device.type != "cpu" else ""
            )
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad: it would drop the gradient. "
                f"Use t.detach(){to_host}.numpy() to take the values without it."
            )
        return host_array_or_raise(self.data, lambda: "numpy()")

    def item(self) -> Any:
        """The single element as a Python number (never records).

        In a function run on the tape (``mode="tape"``), where a 0-d tensor stands for a
        number, an element that needs a gradient comes as a 0-d tensor instead, so that the
        gradient survives (as with ``float(t)`` there)."""
        if _grad_state.numbers and self._requires_grad and _grad_state.enabled:
            return _number_of(self)
        return self._data.item()

    def tolist(self) -> Any:
        """The elements as (nested lists of) Python numbers, which carry no gradient; in a
        function run on the tape, 0-d tensors through which gradients flow (see ``item``)."""
        if _grad_state.numbers and self._requires_grad and _grad_state.enabled:
            if self._data.size:
                return _nested_elements(self)
        return self._data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self._requires_grad and is_grad_enabled():
            if "index_tricks" in sys._getframe(1).f_code.co_filename:
                # np.r_[...] and np.c_[...] make each part an array before joining them.
                raise _lost(
                    "np.r_[...] or np.c_[...]",
                    "Join tensors with functions that have a rule: np.concatenate or "
                    "np.hstack for np.r_, np.column_stack for np.c_.",
                )
            raise _lost(
                "Converting to a NumPy array (np.asarray, np.array, storing into an array)",
                "Keep the computation on tensors: NumPy functions that have a rule "
                "(np.tanh, np.sum, np.dot, ...) accept tensors and record.",
            )
        data = host_array_or_raise(self.data, lambda: "conversion to a NumPy array")
        if copy:
            return np.array(data, dtype=dtype, copy=True)
        return np.asarray(data, dtype=dtype)

    def _scalar(self, kind: type, what: str) -> Any:
        if self._requires_grad and is_grad_enabled():
            raise _lost(
                f"{what}",
                "Use NumPy functions on the tensor instead of the math module "
                "(np.sin(t), not math.sin(t)).",
            )
        if self._data.size != 1:
            raise TypeError(
                f"only one-element tensors can be converted to Python scalars; this one "
                f"has shape {tuple(self.shape)}"
            )
        return kind(self._data.item())

    def __float__(self) -> float:
        return self._scalar(
            float, "float(t), math.<function>(t) or storing into a NumPy array element"
        )

    def __complex__(self) -> complex:
        return self._scalar(complex, "complex(t)")

    def __int__(self) -> int:
        return int(self._data.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors can be used as an index, not {self.dtype}")
        return int(self._data.item())

    def __format__(self, spec: str) -> str:
        """``f"{t:.3f}"``: a tensor without dimensions formats as its number (as in PyTorch);
        a format of any other tensor is an error unless it is empty."""
        if self._data.ndim == 0:
            return format(self._data.item(), spec)
        return object.__format__(self, spec)

    # math.floor(t), math.ceil(t), math.trunc(t), round(t): integers, or a number rounded
    # to digits, which carry no gradient (their derivative is zero wherever it exists); so
    # they take the value even of a tensor that requires grad, as in a function run on the
    # tape, where t.item() keeps a tensor.
    def __floor__(self) -> int:
        return math.floor(self._one_number("math.floor"))

    def __ceil__(self) -> int:
        return math.ceil(self._one_number("math.ceil"))

    def __trunc__(self) -> int:
        return math.trunc(self._one_number("math.trunc"))

    def __round__(self, ndigits: int | None = None) -> Any:
        return round(self._one_number("round"), ndigits)

    def _one_number(self, what: str) -> Any:
        if self._data.size != 1:
            raise TypeError(
                f"{what}() of a tensor of shape {tuple(self.shape)}: only one-element tensors "
                "can be converted to Python scalars"
            )
        return self._data.item()

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor of shape {tuple(self.shape)} is ambiguous; "
                "use .any() or .all() on its data"
            )
        return bool(self._data.item())

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        data = self._data
        where = device_of(data)
        if where.type != "cpu":
            from .device import to_device

            data = to_device(data, "cpu")
        body = np.array2string(np.asarray(data), separator=", ", prefix="tensor(")
        extras = []
        if where.type != "cpu":
            extras.append(f"device='{where}'")
        if data.dtype not in (np.float64, np.int64, np.bool_):
            extras.append(f"dtype={data.dtype}")
        if self._grad_fn is not None:
            extras.append(f"grad_fn=<{self._grad_fn.name()}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({', '.join([body, *extras])})"

    __str__ = __repr__

    # -- operators ------------------------------------------------------------------
    #
    # + - * / ** @ and their reflections are set after the class (they are the tape's hot
    # path, made per rule by ops.operator_pair so that ``a * b`` costs one Python call).

    def __neg__(self) -> Tensor:
        return _unary(_NEG, np.negative, self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _unary(_ABS, np.absolute, self)

    def __iadd__(self, other: Any) -> Tensor:
        return _inplace(self, _ADD, other, "+=")

    def __isub__(self, other: Any) -> Tensor:
        return _inplace(self, _SUB, other, "-=")

    def __imul__(self, other: Any) -> Tensor:
        return _inplace(self, _MUL, other, "*=")

    def __itruediv__(self, other: Any) -> Tensor:
        return _inplace(self, _DIV, other, "/=")

    # Bitwise operators are NumPy's (logical on boolean masks); their results carry no
    # gradient.
    def __and__(self, other: Any) -> Tensor:
        return _bitwise(np.bitwise_and, self, other)

    def __rand__(self, other: Any) -> Tensor:
        return _bitwise(np.bitwise_and, other, self)

    def __or__(self, other: Any) -> Tensor:
        return _bitwise(np.bitwise_or, self, other)

    def __ror__(self, other: Any) -> Tensor:
        return _bitwise(np.bitwise_or, other, self)

    def __xor__(self, other: Any) -> Tensor:
        return _bitwise(np.bitwise_xor, self, other)

    def __rxor__(self, other: Any) -> Tensor:
        return _bitwise(np.bitwise_xor, other, self)

    def __invert__(self) -> Tensor:
        return _bitwise(np.invert, self)

    def __iand__(self, other: Any) -> Tensor:
        return _bitwise_inplace(self, np.bitwise_and, other)

    def __ior__(self, other: Any) -> Tensor:
        return _bitwise_inplace(self, np.bitwise_or, other)

    def __ixor__(self, other: Any) -> Tensor:
        return _bitwise_inplace(self, np.bitwise_xor, other)

    # Comparisons give boolean tensors, which never require grad.
    def __lt__(self, other: Any) -> Tensor:
        return _apply(None, np.less, (self, other))

    def __le__(self, other: Any) -> Tensor:
        return _apply(None, np.less_equal, (self, other))

    def __gt__(self, other: Any) -> Tensor:
        return _apply(None, np.greater, (self, other))

    def __ge__(self, other: Any) -> Tensor:
        return _apply(None, np.greater_equal, (self, other))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _apply(None, np.equal, (self, other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _apply(None, np.not_equal, (self, other))

    def __getitem__(self, index: Any) -> Tensor:
        return _getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        _setitem(self, index, value)

    # -- NumPy protocols ------------------------------------------------------------

    # ``__array_ufunc__`` and ``__array_function__`` are interop's functions themselves,
    # set below: one Python call less on every NumPy function of a tensor.

    # -- methods --------------------------------------------------------------------

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        if axis is None and not keepdims:
            return _unary(_SUM, np.sum, self)
        return _apply(_SUM, np.sum, (self,), {"axis": axis, "keepdims": keepdims})

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        if axis is None and not keepdims:
            return _unary(_MEAN, _mean_of, self)
        return _apply(_MEAN, np.mean, (self,), {"axis": axis, "keepdims": keepdims})

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _apply(_MAX, np.max, (self,), {"axis": axis, "keepdims": keepdims})

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _apply(_MIN, np.min, (self,), {"axis": axis, "keepdims": keepdims})

    def prod(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _apply(_PROD, np.prod, (self,), {"axis": axis, "keepdims": keepdims})

    def exp(self) -> Tensor:
        return _unary(_EXP, np.exp, self)

    def log(self) -> Tensor:
        return _unary(_LOG, np.log, self)

    def tanh(self) -> Tensor:
        return _unary(_TANH, np.tanh, self)

    def sqrt(self) -> Tensor:
        return _unary(_SQRT, np.sqrt, self)

    def abs(self) -> Tensor:
        return _unary(_ABS, np.absolute, self)

    def sigmoid(self) -> Tensor:
        return _unary(_SIGMOID, sigmoid, self)

    def relu(self) -> Tensor:
        return _unary(_RELU, relu, self)

    def pow(self, exponent: Any) -> Tensor:
        return self**exponent

    def matmul(self, other: Any) -> Tensor:
        return self @ other

    def dot(self, other: Any) -> Tensor:
        return _apply(_DOT, np.dot, (self, other))

    def reshape(self, *shape: Any) -> Tensor:
        """``t.reshape(2, 3)`` or ``t.reshape((2, 3))``."""
        return _apply(_RESHAPE, np.reshape, (self, _shape_arg(shape)))

    def view(self, *shape: Any) -> Tensor:
        """A view sharing this tensor's memory: ``t.view()`` as ``ndarray.view()`` (same
        shape), ``t.view(2, 3)`` as torch's (another shape)."""
        if not shape:
            return self[...]
        return self.reshape(*shape)

    def transpose(self, *axes: Any) -> Tensor:
        """``t.transpose()`` reverses the axes; ``t.transpose(1, 0, 2)`` permutes them."""
        return _apply(_TRANSPOSE, np.transpose, (self, _shape_arg(axes) if axes else None))

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def flatten(self) -> Tensor:
        return _apply(_RAVEL, np.ravel, (self,))

    def squeeze(self, axis: Any = None) -> Tensor:
        return _apply(_SQUEEZE, np.squeeze, (self, axis))

    def unsqueeze(self, axis: int) -> Tensor:
        return _apply(_EXPAND_DIMS, np.expand_dims, (self, axis))

    def clone(self) -> Tensor:
        """A copy with its own memory, through which gradients flow."""
        return _apply(_COPY, identity, (self,))

    def zero_(self) -> Tensor:
        """Fill with zeros in place (for ``w.grad.zero_()``)."""
        _setitem(self, Ellipsis, 0, "zero_()")
        return self

    def sort(self, axis: int = -1, kind: Any = None) -> None:
        """Sort in place along ``axis``, as ``ndarray.sort`` does (``np.sort(t)`` gives a
        sorted copy): recorded as a write of the sorted values, so the gradient follows."""
        _setitem(self, Ellipsis, np.sort(self.clone(), axis=axis, kind=kind), "sort()")

    def fill(self, value: Any) -> None:
        """Set every element to ``value`` in place, as ``ndarray.fill`` does."""
        _setitem(self, Ellipsis, value, "fill()")

    def to(self, device: Any) -> Tensor:
        """This tensor on ``device`` (itself if already there); gradients flow back."""
        from .device import Device, device_from_spec

        target = device_from_spec(device) if not isinstance(device, Device) else device
        if target == self.device:
            return self
        return _apply(_MOVE_TO, move_to, (self, target))

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, index: int | None = None) -> Tensor:
        return self.to("cuda" if index is None else f"cuda:{index}")


def _non_leaf_flag_error(tensor: Tensor, flag: bool) -> RuntimeError:
    advice = (
        "it already requires grad, as everything computed from inputs that do"
        if flag
        else "to use its values without gradient, take t.detach()"
    )
    return RuntimeError(
        "you can only change requires_grad flags of leaf variables, and this tensor was "
        f"computed by {tensor._grad_fn.name()}: {advice}."
    )


def _shape_arg(values: tuple) -> Any:
    if len(values) == 1 and isinstance(values[0], (tuple, list)):
        return tuple(values[0])
    return values


_ARRAY_METHODS = {
    name: getattr(np, name)
    for name in (
        "ravel", "var", "std", "cumsum", "cumprod", "argmax", "argmin", "argsort", "clip",
        "round", "any", "all", "nonzero", "swapaxes", "repeat", "take", "diagonal", "trace",
        "conj", "copy", "searchsorted",
    )
}  # fmt: skip
_ARRAY_METHODS["astype"] = lambda t, dtype, **kw: _apply(lookup(_astype), _astype, (t, dtype))


# x.astype(dtype) as a primitive with a rule: casts between float dtypes carry the gradient
from .primitives import astype as _astype  # noqa: E402

_ADD = lookup(np.add)
_SUB = lookup(np.subtract)
_MUL = lookup(np.multiply)
_DIV = lookup(np.true_divide)
_POW = lookup(np.power)
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
_SQUEEZE = lookup(np.squeeze)
_EXPAND_DIMS = lookup(np.expand_dims)
_COPY = lookup(identity)
_MOVE_TO = lookup(move_to)

# ops needs the class above, and the class's methods need ops: import it last.
from .interop import array_function as _array_function  # noqa: E402
from .interop import array_ufunc as _array_ufunc  # noqa: E402
from .ops import apply as _apply  # noqa: E402
from .ops import bitwise as _bitwise  # noqa: E402
from .ops import bitwise_inplace as _bitwise_inplace  # noqa: E402
from .ops import getitem as _getitem  # noqa: E402
from .ops import inplace as _inplace  # noqa: E402
from .ops import mean_of as _mean_of  # noqa: E402
from .ops import nested_elements as _nested_elements  # noqa: E402
from .ops import number_of as _number_of  # noqa: E402
from .ops import ones_like_array as _ones_like_array  # noqa: E402
from .ops import operator_pair as _operator_pair  # noqa: E402
from .ops import refresh_view as _refresh_view  # noqa: E402
from .ops import setitem as _setitem  # noqa: E402
from .ops import unary as _unary  # noqa: E402
from .ops import wrap as _wrap  # noqa: E402
from .rules.helpers import dot_2d as _dot_2d  # noqa: E402

Tensor.__array_ufunc__ = _array_ufunc
Tensor.__array_function__ = _array_function

# The arithmetic operators: Python's operator on the raw values is the same ufunc as the
# rule's primitive on arrays, and NumPy's cheap scalar arithmetic on NumPy scalars.
Tensor.__add__, Tensor.__radd__ = _operator_pair(_ADD, operator.add)
Tensor.__sub__, Tensor.__rsub__ = _operator_pair(_SUB, operator.sub)
Tensor.__mul__, Tensor.__rmul__ = _operator_pair(_MUL, operator.mul)
Tensor.__truediv__, Tensor.__rtruediv__ = _operator_pair(_DIV, operator.truediv)
Tensor.__pow__, Tensor.__rpow__ = _operator_pair(_POW, operator.pow)
Tensor.__matmul__, Tensor.__rmatmul__ = _operator_pair(_MATMUL, _dot_2d)  # (x @ y, quicker)


def _array_method(name: str, function: Any) -> Any:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        return function(self, *args, **kwargs)

    method.__name__ = name
    method.__qualname__ = f"Tensor.{name}"
    return method


# The rest of NumPy's array methods: t.var(axis=0) is np.var(t, axis=0), recorded through
# the same rule. They are real methods rather than a __getattr__ hook, because a class with
# __getattr__ gets no fast attribute access from the interpreter, and every operation of
# the tape reads attributes of tensors.
for _name, _function in _ARRAY_METHODS.items():
    if _name not in Tensor.__dict__:
        setattr(Tensor, _name, _array_method(_name, _function))
del _name, _function
