"""The eager tensor: an array (NumPy or CuPy) plus what the tape needs to differentiate it.

This module holds the class and what is about the tensor itself: attributes, conversions,
``backward``, gradient accumulation, and :func:`new_tensor`, the one constructor of the
tensors the tape makes. What runs on the tape (operators, indexing, ``t.sum()``, NumPy's
dispatch protocols) is set on the class by :mod:`~astgrad.runtime.tensor_methods`, which
imports the recording modules; they import this one, so imports point one way.
"""

from __future__ import annotations

import math
import sys
import warnings
import weakref
from operator import index as operator_index
from typing import Any

import numpy as np

from .adjoints import matrix_error
from .dask_support import same_shape
from .device import Device, device_of, host_array_or_raise
from .grad_mode import _state as _grad_state
from .grad_mode import is_grad_enabled
from .graph import (
    Node,
    RemovableHandle,
    add_hook,
    new_accumulator,
    new_version_counter,
    public,
    retain_output_grad,
    run_backward,
)
from .raw_values import ones_like_array

__all__ = ["Tensor", "GradientLostError", "SizeInt", "new_tensor"]


# Tensor() with no data: what copy and pickle call (see Tensor.__new__).
_NOTHING = object()

#: Weak references to the tensors alive that were made to require grad by hand
#: (``ag.tensor(..., requires_grad=True)``, ``requires_grad_()``, or copies and unpickled
#: ones). While there are none, no tensor that records can exist outside the runs of
#: gradients on the tape (a graph holds its leaves), and a gradient on the tape called
#: outside such a run need not look for one (see fallback.outside_graph).
#: Keyed by id: a set of weak references compares two references to one live tensor
#: with the tensor's own elementwise ``==`` (asking for grad twice raised).
MADE_BY_HAND: dict[int, weakref.ref] = {}


def _made_by_hand(tensor: Tensor) -> None:
    key = id(tensor)
    if key not in MADE_BY_HAND:
        # The callback runs as the tensor dies, before its id can be reused.
        MADE_BY_HAND[key] = weakref.ref(tensor, lambda _ref: MADE_BY_HAND.pop(key, None))


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
        # set only on a leaf made of an argument of a function run on the tape, which
        # NumPy would let the function change in place: the call's arguments
        # (see fallback.sharing and inplace.detach_argument)
        "_argument",
        "__weakref__",
    )

    # NumPy and CuPy defer binary operators to us (so ``array * tensor`` records).
    __array_priority__ = 1000.0

    def __new__(cls, data: Any = _NOTHING, requires_grad: bool = False) -> Tensor:
        # ``Tensor(data)`` is new_tensor of the data made an array: new_tensor is the one
        # constructor. (With no data, copy and pickle make an empty tensor to fill in.)
        if data is _NOTHING:
            return _new(cls)
        if isinstance(data, Tensor):
            data = data.data
        elif isinstance(data, np.matrix):
            raise matrix_error("the data of a tensor")
        elif not hasattr(data, "dtype") or isinstance(data, np.generic):
            data = np.asarray(data)
        tensor = new_tensor(data)
        if requires_grad:
            tensor.requires_grad = True
        return tensor

    def __setstate__(self, state: Any) -> None:
        """What copy and pickle restore (the slots, as by default): a copy that requires
        grad counts as made by hand (see MADE_BY_HAND)."""
        attributes, slots = state if isinstance(state, tuple) else (state, None)
        for name, value in {**(attributes or {}), **(slots or {})}.items():
            object.__setattr__(self, name, value)
        if getattr(self, "_requires_grad", False):
            _made_by_hand(self)

    # -- attributes -----------------------------------------------------------------

    @property
    def data(self) -> Any:
        """The raw array (NumPy or CuPy), sharing memory with the tensor."""
        data = self._data
        if type(data) is not np.ndarray and isinstance(data, np.generic):
            # The tape keeps results without dimensions as NumPy scalars, which compute
            # faster (see raw_values); whoever reads the data gets, and from now on shares,
            # an array.
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
    def size(self) -> SizeInt:
        """The number of elements, an int as NumPy's ``ndarray.size``, that can be called as
        PyTorch's ``size``: ``t.size()`` is the shape, ``t.size(dim)`` one axis's length (see
        :class:`SizeInt`)."""
        size = SizeInt(self._data.size)
        size._shape = self._data.shape
        return size

    def dim(self) -> int:
        """The number of dimensions, ``t.ndim`` (PyTorch's name)."""
        return self._data.ndim

    ndimension = dim

    def numel(self) -> int:
        """The number of elements, a plain int (PyTorch's name for ``t.size``)."""
        return self._data.size

    nelement = numel

    def element_size(self) -> int:
        """The size of one element in bytes, ``t.dtype.itemsize``."""
        return self._data.dtype.itemsize

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
        if flag and self._data.dtype.kind not in "fc":
            raise RuntimeError(
                f"only tensors of floating point dtype can require gradients (complex ones "
                f"too), not {self._data.dtype}; make it float first, e.g. "
                f"ag.tensor(data, dtype=np.float64, requires_grad=True)"
            )
        if flag and not self._requires_grad:
            _made_by_hand(self)
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

    def register_hook(self, hook: Any) -> RemovableHandle:
        """Call ``hook(grad)`` each time backward computes this tensor's gradient, as in
        PyTorch: ``grad`` is a tensor that requires no grad (the hook runs with grad mode
        off), and a tensor ``hook`` returns replaces it, for the rest of the pass and for
        ``.grad`` (a leaf's, or a ``retain_grad()`` tensor's). Hooks run in the order they
        were registered. On a leaf the hook sees the gradient of this backward pass before
        it is added into ``.grad``. A hook belongs to the value the tensor has now: after an
        in-place operation, it still sees the gradient of the value before it. Returns a
        handle whose ``remove()`` takes the hook off. Hooks run in ``backward()`` and in
        ``ag.autograd_grad`` (on the gradient of an input before it is returned); in a pass
        with ``create_graph=True`` the hook is given the recorded gradient, with grad mode
        on, and what it returns is recorded too.

        >>> import astgrad as ag
        >>> x = ag.tensor([1.0, 2.0], requires_grad=True)
        >>> handle = x.register_hook(lambda g: g * 2)
        >>> (x * 3).sum().backward()
        >>> x.grad
        tensor([6., 6.])
        >>> handle.remove()
        """
        if not self._requires_grad:
            raise RuntimeError(
                "cannot register a hook on a tensor that doesn't require gradient: no gradient "
                "is ever computed for it"
            )
        if not callable(hook):
            raise TypeError(f"a hook must be callable, not {type(hook).__name__}")
        node = self._fresh()._grad_fn
        if node is None:
            return add_hook(self._grad_accumulator(), 0, hook)
        return add_hook(node, self._output_nr, hook)

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
        recording.refresh_view): what reads ``_grad_fn`` outside the tape's own roads asks this."""
        if (
            self._base is not None
            and self._requires_grad
            and self._counter[1] != self._view_history
        ):
            from .recording import refresh_view  # (cold: a stale view; see the module doc)

            refresh_view(self)
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
        ``retain_graph=True``. With ``create_graph=True`` the backward pass is recorded
        too: each ``.grad`` becomes a tensor with a ``grad_fn`` that can be differentiated
        again (higher-order derivatives), and ``retain_graph`` defaults to True.
        """
        if not self._requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn: "
                "backward() was called on a tensor that does not require grad. Create the "
                "inputs you differentiate with requires_grad=True, and compute outside "
                "no_grad()."
            )
        if create_graph:
            from .higher_order import backward_with_graph  # (records: see the module doc)

            backward_with_graph(
                self._fresh(), gradient, True if retain_graph is None else retain_graph
            )
            return
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
            if self._data.dtype.kind == "c":
                raise RuntimeError(
                    "grad can be implicitly created only for real scalar outputs, and this "
                    "tensor is complex. Take a real number of it (np.real, np.abs(...) ** 2) "
                    "or pass the cotangent: y.backward(gradient=...) (docs/complex.md)."
                )
            seed = ones_like_array(self._data)
        else:
            seed = gradient.data if isinstance(gradient, Tensor) else gradient
            if not hasattr(seed, "shape"):
                seed = np.asarray(seed, dtype=self._data.dtype)
            if seed.shape != self.shape and not same_shape(seed.shape, self.shape):
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
            self._grad = new_tensor(owned)
        elif self._grad_fn is not None:
            # A retained gradient of a computed tensor is replaced, not written into, as in
            # PyTorch: a `g = y.grad` taken between two backward calls keeps its values.
            self._grad = new_tensor(self._grad.data + g)
        else:
            self._grad.data += g

    # -- conversions ----------------------------------------------------------------

    def detach(self) -> Tensor:
        """The same values, sharing memory, cut from the graph (requires_grad False)."""
        out = new_tensor(self.data)
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
            from .tape_numbers import number_of  # (only in a function run on the tape)

            return number_of(self)
        return self._data.item()

    def tolist(self) -> Any:
        """The elements as (nested lists of) Python numbers, which carry no gradient; in a
        function run on the tape, 0-d tensors through which gradients flow (see ``item``)."""
        if _grad_state.numbers and self._requires_grad and _grad_state.enabled:
            if self._data.size:
                from .tape_numbers import nested_elements  # (as in item)

                return nested_elements(self)
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

    # Operators, indexing, NumPy's protocols and the array methods (``t.sum()``,
    # ``t.reshape()``...) are set on the class by tensor_methods (see the module doc).


class SizeInt(int):
    """``t.size``: the number of elements, an int as NumPy's ``ndarray.size`` is, which can
    also be called as PyTorch's ``Tensor.size``: ``t.size()`` is the shape (a tuple, as
    ``t.shape``) and ``t.size(dim)`` the length of one axis.

    >>> import astgrad as ag
    >>> t = ag.zeros((2, 3))
    >>> t.size, t.size(), t.size(-1)
    (6, (2, 3), 3)

    It is an ``int`` everywhere (arithmetic gives plain ints; ``range(t.size)``,
    ``np.zeros(t.size)``), and as an operand of NumPy functions a plain Python int: NumPy
    would promote a subclass of int as ``int64`` (``float32 / t.size`` stays float32).
    """

    _shape: tuple

    def __call__(self, dim: Any = None) -> Any:
        shape = self._shape
        if dim is None:
            return shape
        dim = operator_index(dim)
        n = len(shape)
        if n == 0:
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        if not -n <= dim < n:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got "
                f"{dim})"
            )
        return shape[dim]

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        inputs = tuple(int(x) if type(x) is SizeInt else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __reduce__(self) -> tuple:
        return (int, (int(self),))


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


def new_tensor(data: Any, node: Node | None = None, output_nr: int = 0) -> Tensor:
    """A tensor holding ``data`` as it is (an array, or a NumPy scalar: see raw_values),
    the result ``output_nr`` of ``node`` when given (it then requires grad): the one
    constructor of tensors, which lists every field a new one starts with."""
    tensor = _new(Tensor)
    tensor._data = data
    tensor._requires_grad = node is not None
    tensor._grad_fn = node
    tensor._output_nr = output_nr
    tensor._grad = None
    tensor._counter = None
    tensor._base = None
    tensor._view_history = 0
    tensor._accumulator = None
    tensor._retains_grad = False
    return tensor


_new = object.__new__
