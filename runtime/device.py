"""Where arrays live: devices, the array module of an array, and moves between devices.

A device is ``cpu`` or ``cuda:N``. Arrays never move on their own: NumPy arrays are on the
CPU, CuPy arrays on their GPU, and every helper that generated code calls finds the array
module from its arguments (:func:`array_module`), never from a global.

Each kind of array belongs to one *backend*. NumPy is always there; CuPy is registered
lazily and only if it imports and sees a GPU, so ``import astgrad`` never needs it. Tests
stand a fake GPU in for CuPy with :func:`using_backend` (``tests/fake_device.py``: a NumPy
subclass that claims to be on ``cuda:N`` and refuses host arrays as CuPy does) to exercise
the placement logic on machines without a GPU.

Dask arrays are not a device: they are lazy arrays whose chunks live on the CPU (of this
machine or of a cluster's workers), ``device_of`` calls them ``cpu``, and they never move.
Only :func:`array_module` tells them apart, handing out ``dask.array`` for them so that
helpers build lazy arrays, never NumPy ones (``runtime/dask_support.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .dask_support import dask_module, is_dask

__all__ = [
    "Device",
    "device",
    "device_of",
    "array_module",
    "to_device",
    "check_same_device",
    "device_guard",
    "cuda_is_available",
    "cuda_unavailable_reason",
    "register_backend",
    "using_backend",
]

CUDA_INSTALL_HINT = (
    "install CuPy for your CUDA version (pip install 'astgrad[cuda]') on a machine with an "
    "NVIDIA GPU"
)


class Device:
    """A device: ``Device("cpu")``, ``Device("cuda:1")``, ``Device("cuda", 1)``.

    >>> Device("cuda:1").index
    1
    >>> str(Device("cpu"))
    'cpu'
    """

    __slots__ = ("type", "index")

    def __init__(self, spec: str | Device, index: int | None = None) -> None:
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"a device is a string such as 'cpu' or 'cuda:0', not {spec!r}")
        kind, sep, number = spec.partition(":")
        if sep:
            if index is not None:
                raise ValueError(f"device {spec!r} already names an index; do not pass one too")
            if not number.isdigit():
                raise ValueError(f"bad device {spec!r}: expected a form such as 'cuda:0'")
            index = int(number)
        if kind == "cpu":
            if index not in (None, 0):
                raise ValueError(f"bad device {spec!r}: the CPU has no index")
            index = None
        elif kind == "cuda":
            index = 0 if index is None else index
        elif kind not in _backends_by_type:
            raise ValueError(f"unknown device type {kind!r}: expected 'cpu' or 'cuda'")
        self.type = kind
        self.index = index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type={self.type!r})"
        return f"device(type={self.type!r}, index={self.index})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = Device(other)
            except (TypeError, ValueError):
                return False
        return isinstance(other, Device) and self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))


def device(spec: str | Device, index: int | None = None) -> Device:
    """Make a :class:`Device`; ``ag.device("cuda:0")`` reads as PyTorch's ``torch.device``.

    >>> device("cpu")
    device(type='cpu')
    """
    return Device(spec, index)


CPU = Device("cpu")

# One shared do-nothing context: entering it again, even nested or from other threads, is
# safe, and handing it out costs no allocation on the CPU path.
_NO_GUARD: contextlib.AbstractContextManager[None] = contextlib.nullcontext()


class Backend:
    """One kind of array: which arrays it owns, their device, and how to move them.

    Subclasses override the methods; :func:`register_backend` adds an instance.
    """

    #: the device type this backend serves, e.g. "cuda"
    type: str = ""

    def owns(self, array: Any) -> bool:
        raise NotImplementedError

    def device_of(self, array: Any) -> Device:
        raise NotImplementedError

    def module(self, array: Any) -> Any:
        """The NumPy-like module that creates arrays of this kind next to ``array``."""
        raise NotImplementedError

    def module_on(self, device: Device) -> Any:
        """The NumPy-like module whose functions make new arrays on ``device``."""
        raise NotImplementedError

    def from_cpu(self, array: np.ndarray, device: Device) -> Any:
        raise NotImplementedError

    def to_cpu(self, array: Any) -> np.ndarray:
        raise NotImplementedError

    def move(self, array: Any, device: Device) -> Any:
        """Copy an array this backend owns onto another device of the same type."""
        return self.from_cpu(self.to_cpu(array), device)

    def unavailable_reason(self) -> str | None:
        """None when the backend can create arrays, else why not and what to do."""
        return None

    def device_count(self) -> int | None:
        """How many devices of this type there are (None: not known, do not check)."""
        return None

    def guard(self, device: Device) -> contextlib.AbstractContextManager[Any]:
        """A context in which ``device`` is this backend's current device, for backends
        that have one (CuPy makes new arrays and runs kernels on its current GPU). The
        default does nothing."""
        return _NO_GUARD


class _CupyBackend(Backend):
    type = "cuda"

    def __init__(self, cupy: Any) -> None:
        self.cupy = cupy
        self._ndarray = cupy.ndarray

    def owns(self, array: Any) -> bool:
        return isinstance(array, self._ndarray)

    def device_of(self, array: Any) -> Device:
        return Device("cuda", array.device.id)

    def module(self, array: Any) -> Any:
        # CuPy makes new arrays on the *current* GPU. For an array elsewhere, hand out
        # CuPy with every call made inside that GPU's context, so that zeros and seeds
        # made for it land next to it.
        return self._module_on_index(array.device.id)

    def module_on(self, device: Device) -> Any:
        return self._module_on_index(device.index)

    def _module_on_index(self, index: int) -> Any:
        if index == self.cupy.cuda.runtime.getDevice():
            return self.cupy
        return _OnDevice(self.cupy, self.cupy.cuda.Device(index))

    def device_count(self) -> int:
        return self.cupy.cuda.runtime.getDeviceCount()

    def guard(self, device: Device) -> Any:
        # A new Device object each time: older CuPy keeps the stack of devices to return
        # to on the object itself, so one shared object could not be entered twice.
        return self.cupy.cuda.Device(device.index)

    def from_cpu(self, array: np.ndarray, device: Device) -> Any:
        with self.cupy.cuda.Device(device.index):
            return self.cupy.asarray(array)

    def to_cpu(self, array: Any) -> np.ndarray:
        return array.get()

    def move(self, array: Any, device: Device) -> Any:
        with self.cupy.cuda.Device(device.index):
            return self.cupy.array(array, copy=True)


class _OnDevice:
    """A module, or one of its functions, whose calls run inside a device context."""

    __slots__ = ("_target", "_context")

    def __init__(self, target: Any, context: Any) -> None:
        self._target = target
        self._context = context

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if isinstance(value, type) or not (callable(value) or hasattr(value, "__dict__")):
            return value  # dtypes, the array class, constants
        return _OnDevice(value, self._context)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._context:
            return self._target(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<{self._target!r} on {self._context!r}>"


class _MissingCuda(Backend):
    """Stands in for CuPy when it is absent or sees no GPU, so errors can say why."""

    type = "cuda"

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def owns(self, array: Any) -> bool:
        return False

    def unavailable_reason(self) -> str:
        return self.reason


_backends: list[Backend] = []
_backends_by_type: dict[str, Backend] = {}
_cuda_probed = False


def register_backend(backend: Backend) -> Backend | None:
    """Add a backend; the newest registration for a device type wins. Returns the one it
    replaced, if any."""
    previous = _backends_by_type.get(backend.type)
    _backends[:] = [b for b in _backends if b.type != backend.type]
    _backends.append(backend)
    _backends_by_type[backend.type] = backend
    return previous


@contextlib.contextmanager
def using_backend(backend: Backend) -> Iterator[Backend]:
    """Serve ``backend.type`` with ``backend`` inside the block, and put back what served
    it before. Tests use it to stand a fake GPU in for CuPy."""
    global _cuda_probed
    probed = _cuda_probed
    previous = register_backend(backend)
    try:
        yield backend
    finally:
        _backends[:] = [b for b in _backends if b is not backend]
        del _backends_by_type[backend.type]
        if previous is not None:
            register_backend(previous)
        elif backend.type == "cuda":
            # CuPy was never looked for while the stand-in served: look on next need.
            _cuda_probed = probed


def _probe_cuda() -> Backend:
    """Import CuPy once, on first need, and register it if a GPU answers."""
    global _cuda_probed
    if not _cuda_probed:
        _cuda_probed = True
        if "cuda" not in _backends_by_type:
            try:
                import cupy
            except Exception as exc:  # ImportError, or a broken CUDA install
                register_backend(
                    _MissingCuda(
                        f"CuPy is not installed ({exc.__class__.__name__}); {CUDA_INSTALL_HINT}"
                    )
                )
            else:
                try:
                    count = cupy.cuda.runtime.getDeviceCount()
                except Exception as exc:
                    count, why = 0, f"CuPy could not reach a GPU ({exc})"
                else:
                    why = "CuPy found no CUDA GPU"
                if count:
                    register_backend(_CupyBackend(cupy))
                else:
                    register_backend(_MissingCuda(f"{why}; {CUDA_INSTALL_HINT}"))
    return _backends_by_type["cuda"]


def cuda_is_available() -> bool:
    """True when CuPy imports and sees at least one GPU.

    >>> isinstance(cuda_is_available(), bool)
    True
    """
    return _probe_cuda().unavailable_reason() is None


def cuda_unavailable_reason() -> str | None:
    """None when CUDA can be used; else why not and what to do (for messages and skips).

    >>> cuda_unavailable_reason() is None or "CuPy" in cuda_unavailable_reason()
    True
    """
    return _probe_cuda().unavailable_reason()


def _backend_for_type(kind: str) -> Backend:
    backend = _probe_cuda() if kind == "cuda" else _backends_by_type[kind]
    reason = backend.unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"{kind.upper()} is not available: {reason}.")
    return backend


def _owner(array: Any) -> Backend | None:
    for backend in _backends:
        if backend.owns(array):
            return backend
    return None


_CPU_TYPES = (np.ndarray, np.generic, float, int, complex, bool)
_FLOAT64 = np.float64


def device_of(array: Any) -> Device:
    """The device an array (or Python number, which counts as CPU) lives on.

    >>> device_of(np.zeros(2))
    device(type='cpu')
    """
    kind = type(array)
    if kind is np.ndarray or kind is float:
        return CPU
    backend = _owner(array)
    if backend is not None:
        return backend.device_of(array)
    if isinstance(array, _CPU_TYPES):
        return CPU
    module = kind.__module__ or ""
    if module.startswith("cupy"):
        return _probe_cuda().device_of(array)
    return CPU


def array_module(*arrays: Any) -> Any:
    """The module (``numpy``, ``cupy``) that makes arrays like the first argument that is not a
    NumPy array or a number; for a Dask array, ``dask.array`` (with a clear error for what
    it lacks), so that mixed NumPy/Dask operands follow Dask's rules.

    >>> array_module(np.ones(2), 3.0) is np
    True
    """
    for array in arrays:
        kind = type(array)
        if kind is np.ndarray or kind is float or kind is int or kind is _FLOAT64:
            continue  # (a float64 is what an element read of a float array gives)
        backend = _owner(array)
        if backend is not None:
            return backend.module(array)
        home = kind.__module__ or ""
        if home.startswith("cupy"):
            return _probe_cuda().module(array)
        if home.startswith("dask.") and is_dask(array):
            return dask_module()  # not a device: a lazy array on the CPU (dask_support)
    return np


def module_on(target: str | Device) -> Any:
    """The module (``numpy``, ``cupy``) that makes new arrays on ``target``, so that
    factories build arrays where they belong instead of copying them over.

    >>> module_on("cpu") is np
    True
    """
    target = Device(target)
    if target.type == "cpu":
        return np
    return _backend_for_type(target.type).module_on(target)


def to_device(array: Any, target: str | Device) -> Any:
    """Copy ``array`` onto ``target``; return it unchanged if it is there already.

    >>> to_device(np.ones(2), "cpu")
    array([1., 1.])
    """
    target = Device(target)
    source = device_of(array)
    if source == target:
        return array
    if source.type == "cpu":
        host = np.asarray(array)
    else:
        owner = _owner(array)
        if target.type == source.type:
            return owner.move(array, target)
        host = owner.to_cpu(array)
    if target.type == "cpu":
        return host
    return _backend_for_type(target.type).from_cpu(host, target)


def device_guard(device: Device) -> contextlib.AbstractContextManager[Any]:
    """A context manager that makes ``device`` the current device of its backend inside
    the block (``cupy.cuda.Device(index)`` for CuPy), so that arrays created without an
    explicit place, and kernels, land on ``device``. For the CPU, and for backends without
    a current device, it does nothing, and costs next to nothing.

    >>> with device_guard(Device("cpu")):
    ...     np.zeros(1)
    array([0.])
    """
    if device is CPU or device.type == "cpu":
        return _NO_GUARD
    backend = _backends_by_type.get(device.type)
    if backend is None:
        if device.type != "cuda":
            return _NO_GUARD
        backend = _probe_cuda()
    return backend.guard(device)


def mixed_device_error(first: Device, second: Device) -> RuntimeError:
    return RuntimeError(
        f"Expected all tensors to be on the same device, but found {first} and {second}. "
        f"Move one of them with .to({str(first)!r}) or .to({str(second)!r})."
    )


# Arguments that are never arrays: numbers (every array module accepts them next to its
# arrays), None, and the pieces of indices, shapes and device specs.
_NOT_ARRAYS = (float, int, bool, complex, str, slice, type(None), type(Ellipsis), Device)


def _array_device(value: Any) -> Device | None:
    """The device of ``value`` if it is an array; None for anything else."""
    kind = type(value)
    if kind is np.ndarray:
        return CPU
    if kind in _NOT_ARRAYS or isinstance(value, (np.generic, *_NOT_ARRAYS)):
        return None
    if isinstance(value, (list, tuple)):
        return _common_device(value)
    backend = _owner(value)
    if backend is not None:
        return backend.device_of(value)
    if isinstance(value, np.ndarray):
        return CPU
    if (kind.__module__ or "").startswith("cupy"):
        return _probe_cuda().device_of(value)
    return None


def _common_device(values: Any) -> Device | None:
    found: Device | None = None
    for value in values:
        here = _array_device(value)
        if here is None:
            continue
        if found is None:
            found = here
        elif here != found:
            raise mixed_device_error(found, here)
    return found


def check_same_device(arrays: Any) -> Device:
    """The common device of the arrays among ``arrays`` (CPU when there are none); a
    RuntimeError naming both devices when they differ. Numbers, None, shapes, indices and
    device specs are not arrays and have no device."""
    return _common_device(arrays) or CPU


def placement(values: Any) -> Device:
    """Where new values computed with ``values`` belong: the device of the first array
    among them (looking into lists, tuples and dicts) that is not on the CPU, else the
    CPU. Never raises: mixing devices is reported by the operation that mixes them."""
    for value in values:
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, (list, tuple)):
            found = placement(value)
        else:
            found = _array_device(value)
        if found is not None and found.type != "cpu":
            return found
    return CPU


def index_beside(array: Any, index: Any) -> Any:
    """``index`` with its host index arrays copied to ``array``'s device. CuPy (like
    PyTorch) accepts NumPy index arrays for device arrays and copies them itself; doing it
    here lets the tape check every other operand's device strictly."""
    if type(array) is np.ndarray:
        return index
    if type(index) is tuple:
        return tuple(index_beside(array, i) for i in index)
    if type(index) is np.ndarray:
        where = _array_device(array)
        if where is not None and where.type != "cpu":
            return to_device(np.asarray(index), where)
    return index


def number_beside(value: Any, like: Any) -> Any:
    """``value`` as a 0-d array on ``like``'s device when it is a Python number and ``like``
    an array off the CPU (a cotangent given as ``1.0`` for a CUDA result); else ``value``.
    Helpers that see only the cotangent take their array module from it."""
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        where = _array_device(like)
        if where is not None and where.type != "cpu":
            return to_device(np.asarray(value, dtype=like.dtype), where)
    return value


def device_from_spec(spec: str | Device | None) -> Device:
    """Parse a ``device=`` argument, checking that the device can hold arrays."""
    if spec is None:
        return CPU
    target = Device(spec)
    if target.type != "cpu":
        count = _backend_for_type(target.type).device_count()
        if count is not None and target.index >= count:
            raise RuntimeError(
                f"{target} is not available: this machine has {count} {target.type.upper()} "
                f"device{'s' if count != 1 else ''} (numbered from 0)."
            )
    return target


def host_array_or_raise(array: Any, what: Callable[[], str]) -> np.ndarray:
    """``array`` as a NumPy array, or a TypeError pointing at ``.cpu()`` if it is elsewhere."""
    where = device_of(array)
    if where.type != "cpu":
        raise TypeError(
            f"{what()} needs a CPU array, but this tensor is on {where}: copy it first with .cpu()."
        )
    return array
