"""A stand-in CUDA backend for machines without a GPU (test-only).

:class:`FakeCudaArray` is a NumPy array that claims to live on ``cuda:N``. It behaves like
a CuPy array in the ways that matter for placement, and is stricter where CuPy would be
slow or fail:

- NumPy ufuncs and functions applied to it (``np.tanh(a)``, ``np.sum(a)``) return fake
  arrays on the same device, as CuPy's dispatch protocols return CuPy arrays; results
  that NumPy would give as scalars stay 0-d arrays, as CuPy's do.
- Mixing it with a plain NumPy array raises TypeError (CuPy refuses host arrays in its
  kernels), so a helper that makes a NumPy array for device inputs is caught at once
  instead of its result silently becoming a fake array by NumPy's subclass rules.
- Mixing two devices raises ValueError.

What it cannot catch: ``np.asarray(a)`` quietly gives a host view, where CuPy raises.
Such a host array fails as soon as it meets a device array again, and a gradient that
ends on the host fails the device checks of the tests.

:class:`FakeCupy` is the module that :func:`array_module` returns for fake arrays: the
NumPy namespace, bound to one device, whose functions make fake arrays there.
:func:`fake_cuda` registers the backend for the duration of a ``with`` block (the
``fake_cuda`` fixture in ``test_devices`` uses it).
"""

from __future__ import annotations

import contextlib
import importlib
import types
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

# By module path: the package's ``device`` attribute is the ag.device function.
device_module = importlib.import_module("astgrad.runtime.device")

#: how many fake GPUs there are: enough to test moves between two of them
DEVICE_COUNT = 2


def short_reason(exc: BaseException) -> str:
    """The first sentence of an exception, for a skip reason that stays on one line."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    head, _, _ = text.partition(". ")
    return head if len(head) <= 120 else head[:117] + "..."


class MixedDeviceArrays(ValueError):
    """Two fake devices met in one operation."""


def _host_array_error(value: Any, where: str) -> TypeError:
    return TypeError(
        f"Unsupported type {type(value)!r}: {where} got a host (NumPy) array next to a "
        f"fake-CUDA array. Device code must make its arrays with the inputs' array "
        f"module, not numpy."
    )


class CupyFlags(NamedTuple):
    """What ``cupy.ndarray.flags`` has: code that reads more of NumPy's flags fails on a GPU."""

    c_contiguous: bool
    f_contiguous: bool
    owndata: bool


class FakeCudaArray(np.ndarray):
    """A NumPy array tagged with the index of the fake GPU it lives on."""

    def __array_finalize__(self, source: Any) -> None:
        # Views, copies and astype keep the device of what they came from.
        self.fake_index = getattr(source, "fake_index", 0)

    @property
    def flags(self) -> CupyFlags:
        """CuPy's flags: the layout and ownership alone (no writeable, carray or num)."""
        plain = self.view(np.ndarray).flags
        return CupyFlags(plain.c_contiguous, plain.f_contiguous, self.base is None)

    # -- NumPy dispatch -------------------------------------------------------------------

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if any(_is_foreign(x) for x in inputs):
            return NotImplemented  # a Tensor: let it record the operation
        found: set[int] = set()
        if method == "at":
            # np.add.at(out, indices, values): indices may be host arrays, as CuPy copies
            # index arrays over itself.
            out_array, indices, *rest = inputs
            raw = (
                _unwrap(out_array, found, f"np.{ufunc.__name__}.at"),
                _plain_key(indices, out_array),
                *(_unwrap(x, found, f"np.{ufunc.__name__}.at") for x in rest),
            )
        else:
            raw = tuple(_unwrap(x, found, f"np.{ufunc.__name__}") for x in inputs)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_unwrap(o, found, f"np.{ufunc.__name__}(out=)") for o in out)
        index = _one_device(found)
        result = getattr(ufunc, method)(*raw, **kwargs)
        if method == "at":
            return None
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result, index)

    def __array_function__(self, func: Any, kinds: Any, args: tuple, kwargs: dict) -> Any:
        if not all(issubclass(kind, np.ndarray) for kind in kinds):
            return NotImplemented  # a Tensor among the arguments
        found: set[int] = set()
        name = f"np.{func.__name__}"
        raw_args = _unwrap(args, found, name)
        raw_kwargs = {key: _unwrap(value, found, name) for key, value in kwargs.items()}
        index = _one_device(found)
        return _wrap(func(*raw_args, **raw_kwargs), index)

    # -- indexing: results stay arrays, assigned values must be on the device ----------

    def __getitem__(self, key: Any) -> Any:
        key = _plain_key(key, self)
        # NumPy's own indexing, so that a view's base is the array that owns the memory, as
        # CuPy's is (astgrad's tape finds views by their base)
        found = np.ndarray.__getitem__(self, key)
        if isinstance(found, np.generic):
            # CuPy's x[i] is a 0-d view of x, where NumPy's is a copy of the element
            whole = (*key, ...) if isinstance(key, tuple) else (key, ...)
            found = np.ndarray.__getitem__(self, whole)
        return _wrap(found, self.fake_index)

    def __setitem__(self, key: Any, value: Any) -> None:
        found = {self.fake_index}
        raw = _unwrap(value, found, "item assignment")
        _one_device(found)
        self.view(np.ndarray)[_plain_key(key, self)] = raw

    def __repr__(self) -> str:
        body = np.array2string(self.view(np.ndarray), separator=", ", prefix="FakeCudaArray(")
        return f"FakeCudaArray({body}, device='cuda:{self.fake_index}')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        # Pickling (and copy.deepcopy) keeps the device tag.
        return (_rebuild, (self.view(np.ndarray).copy(), self.fake_index))


def _rebuild(array: np.ndarray, index: int) -> FakeCudaArray:
    return to_fake(array, index)


def _plain_key(key: Any, owner: FakeCudaArray) -> Any:
    """An index with its fake arrays made plain (index arrays may live on the device)."""
    if isinstance(key, tuple):
        return tuple(_plain_key(k, owner) for k in key)
    if isinstance(key, FakeCudaArray):
        if key.fake_index != owner.fake_index:
            raise MixedDeviceArrays(
                f"index on cuda:{key.fake_index} for an array on cuda:{owner.fake_index}"
            )
        return key.view(np.ndarray)
    return key


def _is_foreign(value: Any) -> bool:
    """An argument that is neither an array nor a number, but takes part in dispatch."""
    return (
        not isinstance(value, (np.ndarray, np.generic))
        and hasattr(value, "__array_ufunc__")
        and not isinstance(value, (int, float, complex, bool))
    )


def _unwrap(value: Any, found: set[int], where: str) -> Any:
    if isinstance(value, FakeCudaArray):
        found.add(value.fake_index)
        return value.view(np.ndarray)
    if isinstance(value, np.ndarray):
        raise _host_array_error(value, where)
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, found, where) for v in value)
    return value


def _one_device(found: set[int]) -> int:
    if len(found) > 1:
        names = " and ".join(f"cuda:{i}" for i in sorted(found))
        raise MixedDeviceArrays(f"arrays on {names} in one operation")
    return next(iter(found)) if found else 0


def _wrap(value: Any, index: int) -> Any:
    if isinstance(value, np.ndarray):
        out = value.view(FakeCudaArray)
        out.fake_index = index
        return out
    if isinstance(value, np.generic):
        # CuPy gives 0-d arrays where NumPy gives scalars.
        return _wrap(np.asarray(value), index)
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_wrap(v, index) for v in value)
    if isinstance(value, list):
        return [_wrap(v, index) for v in value]
    if isinstance(value, tuple):  # a named tuple: np.linalg.slogdet, svd, ...
        return type(value)(*(_wrap(v, index) for v in value))
    return value


def to_fake(array: Any, index: int = 0) -> FakeCudaArray:
    """A fake-device copy of a host array (or number)."""
    out = np.array(array, copy=True).view(FakeCudaArray)
    out.fake_index = index
    return out


# -- the array module --------------------------------------------------------------------

# Functions that take host data or only a shape and make a new array on the device.
_CREATION = frozenset(
    {
        "array",
        "asarray",
        "ascontiguousarray",
        "asanyarray",
        "zeros",
        "ones",
        "empty",
        "full",
        "arange",
        "eye",
        "identity",
        "linspace",
        "zeros_like",
        "ones_like",
        "empty_like",
        "full_like",
        "tri",
        "indices",
    }
)


class FakeCupy(types.SimpleNamespace):
    """NumPy's namespace bound to one fake GPU: ``xp.zeros(3)`` makes a fake array there,
    and ``xp.linalg.norm(a)`` keeps ``a`` where it is."""

    def __init__(self, index: int, namespace: Any = np) -> None:
        super().__init__()
        self.__dict__["_index"] = index
        self.__dict__["_namespace"] = namespace

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._namespace, name)
        if name == "ndarray":
            return FakeCudaArray
        if isinstance(value, types.ModuleType):
            return FakeCupy(self._index, value)
        if isinstance(value, (type, np.ufunc)) or not callable(value):
            # dtypes and constants as they are; ufuncs dispatch to FakeCudaArray themselves
            return value
        return self._bind(name, value)

    def _bind(self, name: str, function: Any) -> Any:
        index = self._index
        creation = name in _CREATION

        def on_device(*args: Any, **kwargs: Any) -> Any:
            found: set[int] = set()
            given = args
            if creation:
                # Host data may be copied in explicitly, as cupy.asarray(numpy_array) does.
                args = _plain_any(args, found)
                kwargs = {k: _plain_any(v, found) for k, v in kwargs.items()}
            else:
                args = _unwrap(args, found, f"xp.{name}")
                kwargs = {k: _unwrap(v, found, f"xp.{name}") for k, v in kwargs.items()}
            found.add(index)
            _one_device(found)
            result = function(*args, **kwargs)
            if creation and given and isinstance(result, np.ndarray) and _shares(result, given[0]):
                # Copying host data in never aliases it, as with CuPy's host-to-device copy.
                result = result.copy()
            return _wrap(result, index)

        on_device.__name__ = name
        return on_device

    def __repr__(self) -> str:
        return f"<fake cupy for cuda:{self._index}>"


def _shares(result: np.ndarray, source: Any) -> bool:
    return type(source) is np.ndarray and np.shares_memory(result, source)


def _plain_any(value: Any, found: set[int]) -> Any:
    if isinstance(value, FakeCudaArray):
        found.add(value.fake_index)
        return value.view(np.ndarray)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain_any(v, found) for v in value)
    return value


# -- the backend -------------------------------------------------------------------------


class FakeCudaBackend(device_module.Backend):
    """Serves device type ``cuda`` with :class:`FakeCudaArray` instead of CuPy."""

    type = "cuda"

    def __init__(self) -> None:
        self._modules = [FakeCupy(i) for i in range(DEVICE_COUNT)]

    def owns(self, array: Any) -> bool:
        return isinstance(array, FakeCudaArray)

    def device_of(self, array: Any) -> device_module.Device:
        return device_module.Device("cuda", array.fake_index)

    def module(self, array: Any) -> Any:
        return self._modules[array.fake_index]

    def module_on(self, device: device_module.Device) -> Any:
        return self._modules[device.index]

    def device_count(self) -> int:
        return DEVICE_COUNT

    def from_cpu(self, array: np.ndarray, device: device_module.Device) -> Any:
        return to_fake(array, device.index)

    def to_cpu(self, array: Any) -> np.ndarray:
        return np.array(array.view(np.ndarray), copy=True)

    def move(self, array: Any, device: device_module.Device) -> Any:
        return to_fake(array.view(np.ndarray), device.index)


@contextlib.contextmanager
def fake_cuda() -> Iterator[FakeCudaBackend]:
    """Serve ``cuda`` with the fake backend inside the block; restore what was there after."""
    backend = FakeCudaBackend()
    with device_module.using_backend(backend):
        yield backend


class RecordingBackend(FakeCudaBackend):
    """The fake GPU with a current device: its guard notes each device entered and left."""

    def __init__(self) -> None:
        super().__init__()
        self.current: list[str] = []  # a stack: the innermost guard's device last
        self.entered: list[str] = []

    def guard(self, device: Any) -> Any:
        @contextlib.contextmanager
        def current() -> Iterator[None]:
            self.current.append(str(device))
            self.entered.append(str(device))
            try:
                yield
            finally:
                self.current.pop()

        return current()


@contextlib.contextmanager
def recording_cuda() -> Iterator[RecordingBackend]:
    """Like :func:`fake_cuda`, with a backend that records the devices made current."""
    backend = RecordingBackend()
    with device_module.using_backend(backend):
        yield backend
