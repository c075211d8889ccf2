"""Numba versions of what generated gradients call, for ``ag.grad(f, jit="numba")``.

The ordinary helpers (``runtime.adjoints``, ``runtime.rules.shared``) take any value and
decide at run time; Numba needs each call typed at compile time. So each helper here is a
stub with a Numba ``overload`` that looks at its arguments' types once per compilation
and returns code for exactly those types: ``unbroadcast`` of a float cotangent to a
float is the cotangent itself, to a vector a sum, and so on. An overload that has no code
for the types it is given returns None, which Numba reports as a typing error; the
gradient then runs uncompiled, and ``ag.explain(f, jit="numba")`` says why.

The stack that the forward pass pushes saved values on becomes typed buffers (see
``transform.jit``): numbers in one float64 buffer, arrays in one typed list per dtype and
number of dimensions (``new_lists``), and beside them a buffer of *tags* saying which
buffer each push went to. Every pop checks the tag: were a value ever popped as another
kind than it was pushed as, the call stops with :class:`SavedValuesOutOfStep` instead of
reading the wrong buffer, and runs uncompiled.

This module imports Numba: import it only when ``jit="numba"`` is asked for.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from ..transform.jit import ARRAY_SLOTS
from .primitives import stop_gradient as _stop_gradient

__all__ = [
    "SavedValuesOutOfStep",
    "StackFull",
    "new_lists",
    "grown",
    "push",
    "push_shape",
    "pop",
    "pop_shape",
    "shape_of",
    "zeros_like",
    "scalar_seed",
    "unbroadcast",
    "buffer_from",
    "expand_reduced",
    "scatter_grad",
    "add_at",
    "add_into",
    "add_or",
    "mul_or",
    "assigned_adjoint",
    "stored_adjoint",
    "saved_item",
    "restore_item",
    "reduced_count",
    "extremum_grad",
    "prod_grad",
    "inverse_axes",
    "dot_grad_left",
    "dot_grad_right",
    "negated",
    "chosen",
    "adjoint_item",
    "sequence_length",
    "conjugate_if_complex",
    "conjugated",
    "split_ties",
    "REDUCERS",
    "JIT_HELPERS",
]


class SavedValuesOutOfStep(RuntimeError):
    """A value was popped as another kind than it was pushed as (see the module doc)."""


# Tags: what each push put where.
_NUMBER = 0
_NONE = 1
_ARRAY = 2  # + the buffer's slot
_SHAPE = 20  # + the number of dimensions: a shape, its sizes in the number buffer

#: the array buffers, in the stack tuple's order: (dtype, ndim) (the rewrite's
#: ``ARRAY_SLOTS``, which writes pushes and pops of one kind out)
ARRAY_KINDS = tuple((getattr(types, dtype), ndim) for dtype, ndim in ARRAY_SLOTS)
_ARRAY_TYPES = tuple(types.Array(dtype, ndim, "A") for dtype, ndim in ARRAY_KINDS)
# (module globals: Numba reads them as constants)
_A0, _A1, _A2, _A3, _A4, _A5 = _ARRAY_TYPES
_NUMBER_TYPES = (types.Float, types.Integer, types.Boolean)


def _array_slot(array_type: types.Type) -> int | None:
    """Which array buffer holds arrays of this type, or None (not one Numba saves here)."""
    if not isinstance(array_type, types.Array):
        return None
    for slot, (dtype, ndim) in enumerate(ARRAY_KINDS):
        if array_type.dtype == dtype and array_type.ndim == ndim:
            return slot
    return None


def _plain(value_type: types.Type) -> types.Type:
    return value_type.type if isinstance(value_type, types.Optional) else value_type


@numba.njit(cache=True)
def _empty_list(dtype, ndim_zeros):
    # A list whose items are arrays of any layout ("A"): a strided view's type. (Numba's
    # own lists compile in a fraction of the time its typed List's methods take.)
    items = [np.empty(ndim_zeros, dtype)[::1][::-1]]
    items.pop()
    return items


@numba.njit(cache=True)
def new_lists():
    """The lists arrays are saved in, one per kind of ``ARRAY_KINDS``."""
    return (
        _empty_list(np.float64, (0,)),
        _empty_list(np.float64, (0, 0)),
        _empty_list(np.float64, (0, 0, 0)),
        _empty_list(np.float32, (0,)),
        _empty_list(np.float32, (0, 0)),
        _empty_list(np.int64, (0,)),
    )


class StackFull(Exception):
    """The buffers a compiled gradient was given are full: call it with larger ones."""


@numba.njit(cache=True)
def grown(buffer):
    """``buffer`` in one twice as large."""
    bigger = np.empty(2 * buffer.shape[0], buffer.dtype)
    bigger[: buffer.shape[0]] = buffer
    return bigger


@numba.njit(cache=True)
def _tag(tags, count, numbers, filled, tag):
    if count == tags.shape[0]:
        tags = grown(tags)
    tags[count] = tag
    return tags, count + 1, numbers, filled


@numba.njit(cache=True)
def _untag(tags, count, tag):
    if count <= 0 or tags[count - 1] != tag:
        raise SavedValuesOutOfStep("astgrad jit: a saved value was popped out of step")
    return count - 1


@numba.njit(cache=True)
def _push_number(tags, count, numbers, filled, value):
    tags, count, numbers, filled = _tag(tags, count, numbers, filled, _NUMBER)
    if filled == numbers.shape[0]:
        numbers = grown(numbers)
    numbers[filled] = value
    return tags, count, numbers, filled + 1


@numba.njit(cache=True)
def _pop_number(tags, count, numbers, filled):
    count = _untag(tags, count, _NUMBER)
    return count, filled - 1, numbers[filled - 1]


def push(tags, count, numbers, filled, lists, value):
    """``value`` (a number, None or an array) pushed: ``(tags, count, numbers, filled)``,
    the buffers grown where they were full."""


def pop(tags, count, numbers, filled, lists, like):
    """``(count, filled, value)``: the value on top, typed as ``like`` (what it
    restores)."""


def push_shape(tags, count, numbers, filled, lists, value):
    """What ``shaped_like(value)`` keeps, pushed: the sizes of an array (nothing for a
    number, whose kind is known when compiling)."""


def pop_shape(tags, count, numbers, filled, lists, like):
    """``(count, filled, shape)``: a shape ``push_shape`` saved for ``like``."""


def shape_of(value):
    """What ``shaped_like`` keeps, compiled: 0.0 for a number, the shape of an array."""


def zeros_like(value):
    """The zero gradient of ``value``: 0.0 for a number, zeros for an array."""


@overload(push)
def _push(tags, count, numbers, filled, lists, value):
    plain = _plain(value)
    if isinstance(value, types.NoneType):
        return lambda tags, count, numbers, filled, lists, value: _tag(
            tags, count, numbers, filled, _NONE
        )
    if isinstance(plain, _NUMBER_TYPES):
        if isinstance(value, types.Optional):

            def push_optional_number(tags, count, numbers, filled, lists, value):
                if value is None:
                    return _tag(tags, count, numbers, filled, _NONE)
                return _push_number(tags, count, numbers, filled, value)

            return push_optional_number
        return lambda tags, count, numbers, filled, lists, value: _push_number(
            tags, count, numbers, filled, value
        )
    slot = _array_slot(plain)
    if slot is None:
        return None
    optional = isinstance(value, types.Optional)

    def push_array(tags, count, numbers, filled, lists, value):
        if optional and value is None:
            return _tag(tags, count, numbers, filled, _NONE)
        lists[slot].append(value)
        return _tag(tags, count, numbers, filled, _ARRAY + slot)

    return push_array


@overload(pop)
def _pop(tags, count, numbers, filled, lists, like):
    # A name that may be unbound (generated code starts it at None) is restored to a
    # value of its type: the None it held was never read.
    plain = _plain(like)
    if isinstance(like, types.NoneType):
        return lambda tags, count, numbers, filled, lists, like: (
            _untag(tags, count, _NONE), filled, None,
        )  # fmt: skip
    if isinstance(plain, _NUMBER_TYPES):
        cast = plain

        def pop_number(tags, count, numbers, filled, lists, like):
            if count > 0 and tags[count - 1] == _NONE:
                return count - 1, filled, cast(0)
            count, filled, number = _pop_number(tags, count, numbers, filled)
            return count, filled, cast(number)

        return pop_number
    slot = _array_slot(plain)
    if slot is None:
        return None
    empty = (0,) * plain.ndim
    dtype = plain.dtype

    def pop_array(tags, count, numbers, filled, lists, like):
        if count > 0 and tags[count - 1] == _NONE:
            return count - 1, filled, np.empty(empty, dtype)
        count = _untag(tags, count, _ARRAY + slot)
        return count, filled, lists[slot].pop()

    return pop_array


@overload(push_shape)
def _push_shape(tags, count, numbers, filled, lists, value):
    plain = _plain(value)
    if isinstance(plain, (types.NoneType, *_NUMBER_TYPES)):
        return lambda tags, count, numbers, filled, lists, value: (tags, count, numbers, filled)
    if not isinstance(plain, types.Array):
        return None
    ndim = plain.ndim
    optional = isinstance(value, types.Optional)

    def push_sizes(tags, count, numbers, filled, lists, value):
        if optional and value is None:
            return _tag(tags, count, numbers, filled, _NONE)
        for size in value.shape:
            tags, count, numbers, filled = _push_number(tags, count, numbers, filled, size)
        return _tag(tags, count, numbers, filled, _SHAPE + ndim)

    return push_sizes


@overload(pop_shape)
def _pop_shape(tags, count, numbers, filled, lists, like):
    plain = _plain(like)
    if isinstance(plain, (types.NoneType, *_NUMBER_TYPES)):
        return lambda tags, count, numbers, filled, lists, like: (count, filled, 0.0)
    if not isinstance(plain, types.Array):
        return None
    ndim = plain.ndim
    pops = "".join(
        f"    count, filled, size_{d} = _pop_number(tags, count, numbers, filled)\n"
        for d in reversed(range(ndim))
    )
    source = (
        "def pop_sizes(tags, count, numbers, filled, lists, like):\n"
        "    if count > 0 and tags[count - 1] == _NONE:\n"
        "        return count - 1, filled, zero\n"
        "    count = _untag(tags, count, _SHAPE + ndim)\n"
        f"{pops}"
        f"    return count, filled, ({''.join(f'int(size_{d}), ' for d in range(ndim))})\n"
    )
    scope = {
        "_untag": _untag,
        "_pop_number": _pop_number,
        "_NONE": _NONE,
        "_SHAPE": _SHAPE,
        "ndim": ndim,
        "zero": (0,) * ndim,
    }
    exec(source, scope)
    return scope["pop_sizes"]


def push_fixed(tags, count, numbers, filled, lists, value):
    """As :func:`push`, into buffers that do not grow: ``(count, filled)``, or
    :class:`StackFull`. (A fused gradient's: buffers rebound in a loop would cost every
    push of the loop a reference count and a reload.)"""


def push_shape_fixed(tags, count, numbers, filled, lists, value):
    """As :func:`push_shape`, into buffers that do not grow: ``(count, filled)``."""


@numba.njit(cache=True)
def _room(tags, count, numbers, filled, more):
    if count == tags.shape[0] or filled + more > numbers.shape[0]:
        raise StackFull()


@overload(push_fixed)
def _push_fixed(tags, count, numbers, filled, lists, value):
    def push_in_place(tags, count, numbers, filled, lists, value):
        _room(tags, count, numbers, filled, 1)
        new_tags, count, new_numbers, filled = push(tags, count, numbers, filled, lists, value)
        return count, filled

    return push_in_place


@overload(push_shape_fixed)
def _push_shape_fixed(tags, count, numbers, filled, lists, value):
    plain = _plain(value)
    ndim = plain.ndim if isinstance(plain, types.Array) else 0

    def push_sizes_in_place(tags, count, numbers, filled, lists, value):
        _room(tags, count + ndim, numbers, filled, ndim)
        new_tags, count, new_numbers, filled = push_shape(
            tags, count, numbers, filled, lists, value
        )
        return count, filled

    return push_sizes_in_place


def own(value):
    """A copy of an array (for a gradient changed in place from now on); anything else as
    it is."""


@overload(own)
def _own(value):
    if isinstance(_plain(value), types.Array):
        return lambda value: np.copy(value)
    if isinstance(_plain(value), types.List):
        return lambda value: list(value)  # (a list argument's gradient: one part per item)
    return lambda value: value


def add_in_place(adjoint, index, value):
    """``adjoint[index] += value`` (a float64 array the code owns, a basic index, or a
    vector's index vector (repeats accumulate) or mask; or the list of parts of a list
    argument's gradient, an integer index)."""


@overload(add_in_place)
def _add_in_place(adjoint, index, value):
    if isinstance(_plain(adjoint), types.List) and isinstance(index, types.Integer):

        def add_item(adjoint, index, value):
            adjoint[index] = adjoint[index] + value

        return add_item
    listed = _add_listed(adjoint, index, value)
    if listed is not None:
        return listed
    if not _in_place(adjoint, index):
        return None

    def added(adjoint, index, value):
        adjoint[index] += value

    return added


def _add_listed(adjoint, index, value):
    """Code adding ``value`` into a float64 vector at the positions an index vector
    lists (repeated ones accumulate, as ``np.add.at``) or a mask marks; None for other
    types. ``value`` is a number or a vector with one item per position."""
    kind = _index_array(_plain(adjoint), index)
    if not kind:
        return None
    each = isinstance(_plain(value), types.Array)
    if each and _plain(value).ndim != 1:
        return None
    if kind == "int":

        def add_listed(adjoint, index, value):
            if each and value.shape[0] != index.shape[0]:
                raise ValueError("one value per index is needed")
            size = adjoint.shape[0]
            for position in range(index.shape[0]):
                at = index[position]
                if at < -size or at >= size:
                    raise IndexError("index out of bounds")
                adjoint[at] += value[position] if each else value

        return add_listed

    def add_masked(adjoint, index, value):
        if index.shape[0] != adjoint.shape[0]:
            raise IndexError("the mask's length is not the array's")
        taken = 0
        for position in range(index.shape[0]):
            if index[position]:
                adjoint[position] += value[taken] if each else value
                taken += 1
        if each and taken != value.shape[0]:
            raise ValueError("one value per position the mask marks is needed")

    return add_masked


def add_into(adjoint, value):
    """``adjoint + value``, written into ``adjoint`` (a float64 array no other name holds)
    where the sum has its shape and dtype; a new array otherwise."""


@overload(add_into)
def _add_into(adjoint, value):
    plain, other = _plain(adjoint), _plain(value)
    if not (
        isinstance(plain, types.Array) and plain.dtype == types.float64 and plain.mutable
    ) or isinstance(getattr(other, "dtype", other), types.Complex):
        return lambda adjoint, value: adjoint + value
    if isinstance(other, _NUMBER_TYPES):

        def added_number(adjoint, value):
            adjoint += value
            return adjoint

        return added_number
    if isinstance(other, types.Array) and other.ndim == plain.ndim:

        def added_array(adjoint, value):
            if value.shape != adjoint.shape:
                return adjoint + value
            adjoint += value
            return adjoint

        return added_array
    return lambda adjoint, value: adjoint + value


def add_or(zero, adjoint, value):
    """``adjoint + value``, or ``value + 0`` where ``zero`` says the adjoint stands for
    the 0 of "nothing flowed" (``transform.jit``'s flags)."""


@overload(add_or)
def _add_or(zero, adjoint, value):
    def added(zero, adjoint, value):
        if zero:
            return value + 0
        return adjoint + value

    return added


def mul_or(zero, adjoint, value):
    """``adjoint * value``, or ``0 * value`` where ``zero`` says the adjoint stands for 0."""


@overload(mul_or)
def _mul_or(zero, adjoint, value):
    def multiplied(zero, adjoint, value):
        if zero:
            return 0 * value
        return adjoint * value

    return multiplied


def item(adjoint, index):
    """``adjoint[index]``: an element, or a copy of a part."""


@overload(item)
def _item(adjoint, index):
    plain = _plain(adjoint)
    if not isinstance(plain, types.Array):
        return None
    if _item_is_number(plain, index):
        return lambda adjoint, index: adjoint[index]
    return lambda adjoint, index: np.copy(adjoint[index])


def zero_at(adjoint, index):
    """``adjoint[index] = 0`` (a float64 array the code owns; a basic index, or a vector's
    index vector or mask)."""


@overload(zero_at)
def _zero_at(adjoint, index):
    plain = _plain(adjoint)
    if _index_array(plain, index) == "bool":
        # (a vector's elements where a mask of its length is set: y[y > 0.2] = 1.0)
        def zeroed_where(adjoint, index):
            if index.shape[0] != adjoint.shape[0]:
                raise IndexError("the mask's length is not the array's")
            for position in range(index.shape[0]):
                if index[position]:
                    adjoint[position] = 0

        return zeroed_where
    if _index_array(plain, index) == "int":
        # (a vector's elements at the positions listed, negative ones from the end)
        def zeroed_at(adjoint, index):
            size = adjoint.shape[0]
            for at in index:
                if at < -size or at >= size:
                    raise IndexError("index out of bounds")
                adjoint[at] = 0

        return zeroed_at
    if not _in_place(adjoint, index):
        return None

    def zeroed(adjoint, index):
        adjoint[index] = 0

    return zeroed


def _index_array(plain: types.Type, index: types.Type) -> str:
    """ "bool" or "int" for a vector of float64 indexed by a vector of booleans or of
    integers, else ""."""
    if not (
        isinstance(plain, types.Array)
        and plain.ndim == 1
        and plain.dtype == types.float64
        and plain.mutable
        and isinstance(index, types.Array)
        and index.ndim == 1
    ):
        return ""
    if isinstance(index.dtype, types.Boolean):
        return "bool"
    return "int" if isinstance(index.dtype, types.Integer) else ""


@overload(shape_of)
def _shape_of(value):
    plain = _plain(value)
    if isinstance(plain, (types.NoneType, *_NUMBER_TYPES)):
        return lambda value: 0.0
    if isinstance(plain, types.UniTuple):
        return lambda value: value
    if not isinstance(plain, types.Array):
        return None
    zero = (0,) * plain.ndim
    if isinstance(value, types.Optional):

        def optional_shape(value):
            if value is None:
                return zero
            return value.shape

        return optional_shape
    return lambda value: value.shape


@overload(zeros_like)
def _zeros_like(value):
    # float64 (complex128) whatever the array's dtype, as 0 plus float64 adjoints is in
    # the uncompiled gradient (its dtype is the argument's again once it is finished)
    plain = _plain(value)
    if isinstance(plain, _NUMBER_TYPES):
        return lambda value: 0.0
    if isinstance(plain, types.Array):
        dtype = np.complex128 if isinstance(plain.dtype, types.Complex) else np.float64
        return lambda value: np.zeros(value.shape, dtype)
    if isinstance(plain, types.UniTuple) and isinstance(plain.dtype, _NUMBER_TYPES):
        # (a list or tuple argument arrives as a tuple: its gradient is a list, one part
        # per item, as the uncompiled add_at makes it)
        return lambda value: [0.0 for _ in value]
    if isinstance(plain, types.UniTuple) and isinstance(plain.dtype, types.Array):
        if isinstance(plain.dtype.dtype, types.Complex):
            return None
        return lambda value: [np.zeros(item.shape, np.float64) for item in value]
    return None


def scalar_seed(value):
    """The cotangent 1 of a scalar result (``adjoints.scalar_seed``)."""


@overload(scalar_seed)
def _scalar_seed(value):
    plain = _plain(value)
    if isinstance(plain, _NUMBER_TYPES):
        return lambda value: 1.0
    if isinstance(plain, types.Array):

        def seed_array(value):
            if value.size != 1:
                raise ValueError(
                    "grad can be implicitly created only for scalar outputs: reduce the "
                    "result (e.g. .sum()), or use ag.vjp"
                )
            return np.ones_like(value)

        return seed_array
    return None


# -- unbroadcast ---------------------------------------------------------------------------


def unbroadcast(g, like):
    """``g`` summed down to the shape of ``like`` (a number, an array or a shape)."""


def _ndim_of(like: types.Type) -> int | None:
    """The number of dimensions of a value ``like`` stands for: 0 for a number."""
    plain = _plain(like)
    if isinstance(plain, _NUMBER_TYPES):
        return 0
    if isinstance(plain, types.Array):
        return plain.ndim
    if isinstance(plain, types.UniTuple) and isinstance(plain.dtype, types.Integer):
        return plain.count
    if isinstance(plain, types.Tuple) and len(plain) == 0:
        return 0
    return None


def _same_ndim_sum(ndim: int):
    """A compiled ``g`` (ndim dimensions) summed over the axes where ``shape`` has size 1
    and then spread to ``shape`` where ``g`` had size 1: what unbroadcast does once the
    leading axes are summed."""
    index = ", ".join(f"0 if shape[{d}] == 1 else i[{d}]" for d in range(ndim))
    spread = ", ".join(f"0 if g.shape[{d}] == 1 else i[{d}]" for d in range(ndim))
    source = (
        "def same_ndim(g, shape):\n"
        "    if g.shape == shape:\n"
        "        return np.ascontiguousarray(g)\n"
        "    reduced = np.zeros(shape, g.dtype)\n"
        "    spread = False\n"
        "    summed = False\n"
        f"    for d in range({ndim}):\n"
        "        if g.shape[d] != shape[d] and g.shape[d] == 1:\n"
        "            spread = True\n"
        "        elif g.shape[d] != shape[d]:\n"
        "            summed = True\n"
        "    if spread and summed:\n"  # (NumPy's broadcast refuses this too)
        "        raise ValueError('a cotangent to both spread and sum along its axes')\n"
        "    if spread:\n"  # g is constant along those axes: spread it (element by element,
        "        for i in np.ndindex(shape):\n"  # which compiles faster than reduced[...] = g)
        f"            reduced[i] = g[{spread},]\n"
        "        return reduced\n"
        "    for i in np.ndindex(g.shape):\n"
        f"        reduced[{index}] += g[i]\n"
        "    return reduced\n"
    )
    scope = {"np": np}
    exec(source, scope)
    return numba.njit(cache=False)(scope["same_ndim"])


_SAME_NDIM = {}


def _same_ndim(ndim: int):
    found = _SAME_NDIM.get(ndim)
    if found is None:
        found = _SAME_NDIM[ndim] = _same_ndim_sum(ndim)
    return found


@numba.njit(cache=True)
def _full(shape, value):
    return np.full(shape, value)


@overload(unbroadcast, inline="always")
def _unbroadcast(g, like):
    target = _ndim_of(like)
    g_plain = _plain(g)
    if target is None:
        return None
    if isinstance(g_plain, _NUMBER_TYPES):
        if target == 0:
            return lambda g, like: g
        return lambda g, like: _full(shape_of(like), g)
    if not isinstance(g_plain, types.Array):
        return None
    if target == 0:
        return lambda g, like: np.sum(g)
    extra = g_plain.ndim - target
    if extra < 0:
        return None
    same = _same_ndim(target)
    sums = "".join("    g = np.sum(g, axis=0)\n" for _ in range(extra))
    source = f"def unbroadcast_impl(g, like):\n{sums}    return same(g, shape_of(like))\n"
    scope = {"np": np, "same": same, "shape_of": shape_of}
    exec(source, scope)
    return scope["unbroadcast_impl"]


def expand_reduced(g, x, axis=None, keepdims=False, where=True):
    """The cotangent of a reduction of ``x`` over ``axis`` spread over ``x``'s shape."""


def _literal(value: types.Type) -> tuple[bool, object]:
    """``(True, the constant)`` for a literal, None, or an omitted argument's default;
    ``(False, None)`` for a type whose value is known only when the code runs."""
    if not isinstance(value, types.Type):  # (an omitted argument: the overload's default)
        return True, value
    if isinstance(value, types.Omitted):
        return True, value.value
    if isinstance(value, (types.NoneType, types.Omitted)):
        return True, None
    if isinstance(value, types.Literal):
        return True, value.literal_value
    parts = value.types if isinstance(value, types.BaseTuple) else ()
    if parts and all(isinstance(t, types.Literal) for t in parts):
        return True, tuple(t.literal_value for t in parts)
    return False, None


def _axes(axis: types.Type, ndim: int) -> tuple[int, ...] | None:
    """The axes a reduction combines, sorted and positive, when ``axis`` is a literal (or
    None: all of them); None when they are known only at run time, or out of range."""
    known, value = _literal(axis)
    if not known:
        return None
    if value is None:
        return tuple(range(ndim))
    parts = value if isinstance(value, tuple) else (value,)
    if not all(type(a) is int and -ndim <= a < ndim for a in parts):
        return None
    axes = tuple(sorted({a % ndim for a in parts}))
    return axes if len(axes) == len(parts) else None


def _flag(value: types.Type) -> bool | None:
    known, flag = _literal(value)
    return bool(flag) if known and isinstance(flag, (bool, int)) else None


def _compiled(source: str, name: str, **scope):
    """A function defined by ``source`` (generated for one shape of arguments), compiled."""
    scope = {"np": np, **scope}
    exec(source, scope)
    return numba.njit(cache=False)(scope[name])


def _kept_shape(ndim: int, axes: tuple, keepdims: bool, of: str = "x") -> str:
    """Source of the shape a reduction over ``axes`` gives (a tuple expression)."""
    sizes = [
        "1" if d in axes else f"{of}.shape[{d}]" for d in range(ndim) if keepdims or d not in axes
    ]
    return "(" + "".join(f"{s}, " for s in sizes) + ")"


# The helpers below are loop nests written out for the ranks and axes at hand, with no
# reshape, transpose or broadcast assignment: Numba compiles each of those with the code
# that formats its shape errors, about two seconds apiece, where the loops take a tenth.


def _nest(dims: list, body: list[str], depth: int, reverse: bool = False) -> list[str]:
    """Source lines of ``for i{d} in range(x.shape[d])`` over ``dims`` in order (each
    range backwards where ``reverse``), ``body`` innermost, starting at ``depth`` levels."""
    lines = []
    for level, d in enumerate(dims):
        span = f"x.shape[{d}] - 1, -1, -1" if reverse else f"x.shape[{d}]"
        lines.append("    " * (depth + level) + f"for i{d} in range({span}):")
    return lines + ["    " * (depth + len(dims)) + line for line in body]


def _index(dims) -> str:
    """An index of ``x``'s elements or of a result's: ``i{d}`` per dimension (0 for None)."""
    return "(" + "".join("0, " if d is None else f"i{d}, " for d in dims) + ")"


_SPREAD = {}


def _spread(ndim: int, axes: tuple, g_ndim: int):
    """``g`` (an array reduced over ``axes``, of ``g_ndim`` dimensions: kept or not) spread
    over ``x``."""
    key = (ndim, axes, g_ndim)
    if key not in _SPREAD:
        if g_ndim == 0:
            read = "g.sum()"
        elif g_ndim == ndim:
            read = "g[" + _index([None if d in axes else d for d in range(ndim)]) + "]"
        else:
            read = "g[" + _index([d for d in range(ndim) if d not in axes]) + "]"
        body = [f"out[{_index(range(ndim))}] = {read}"]
        source = "\n".join(
            ["def spread(g, x):", "    out = np.empty(x.shape, g.dtype)"]
            + _nest(list(range(ndim)), body, 1)
            + ["    return out", ""]
        )
        _SPREAD[key] = _compiled(source, "spread")
    return _SPREAD[key]


@overload(expand_reduced, prefer_literal=True)
def _expand_reduced(g, x, axis=None, keepdims=False, where=True):
    if not _no_mask(where):  # (a reduction's where= mask: not compiled)
        return None
    target = _ndim_of(x)
    g_plain = _plain(g)
    if target is None:
        return None
    axes = _axes(axis, target)
    if axes is None or _flag(keepdims) is None:
        return None
    if target == 0:
        return lambda g, x, axis=None, keepdims=False, where=True: g
    if isinstance(g_plain, _NUMBER_TYPES):
        return lambda g, x, axis=None, keepdims=False, where=True: _full(shape_of(x), g)
    if not isinstance(g_plain, types.Array):
        return None
    spread = _spread(target, axes, g_plain.ndim)
    return lambda g, x, axis=None, keepdims=False, where=True: spread(g, x)


def reduced_count(x, axis=None, where=True, keepdims=False):
    """How many elements each result of a reduction of ``x`` over ``axis`` combines."""


@overload(reduced_count, prefer_literal=True)
def _reduced_count(x, axis=None, where=True, keepdims=False):
    if not _no_mask(where):  # (a reduction's where= mask: not compiled)
        return None
    target = _ndim_of(x)
    if target is None:
        return None
    if target == 0:
        return lambda x, axis=None, where=True, keepdims=False: 1
    axes = _axes(axis, target)
    if axes is None:
        return None
    if axes == tuple(range(target)):
        return lambda x, axis=None, where=True, keepdims=False: x.size
    product = " * ".join(f"x.shape[{d}]" for d in axes)
    count = _compiled(f"def count(x):\n    return {product}\n", "count")
    return lambda x, axis=None, where=True, keepdims=False: count(x)


def _no_mask(where: types.Type) -> bool:
    """Whether a reduction's ``where=`` is omitted or the literal True (no mask)."""
    known, value = _literal(where)
    return known and value is True


# -- reductions over axes (NumPy's axis= and keepdims=, which Numba lacks) ---------------

#: the reductions the rewrite sends here (``np.mean(X, axis=1, keepdims=True)``,
#: ``X.max(axis=0)``), and NumPy's function for one row
REDUCTIONS = {"sum": "np.sum", "mean": "np.mean", "max": "np.max", "min": "np.min",
              "prod": "np.prod"}  # fmt: skip


def _result_dtype(name: str, dtype: types.Type):
    """NumPy's dtype for a reduction of an array of ``dtype`` (for its result array)."""
    if name in ("max", "min"):
        return dtype
    if isinstance(dtype, (types.Boolean, types.Integer)):
        return types.float64 if name == "mean" else types.int64
    return dtype


_REDUCE = {}


def _reduction(name: str, ndim: int, axes: tuple, keepdims: bool):
    """A compiled reduction over ``axes`` of an array of ``ndim`` dimensions: the reduced
    axes moved last and made one contiguous row per result."""
    key = (name, ndim, axes, keepdims)
    if key in _REDUCE:
        return _REDUCE[key]
    kept = [d for d in range(ndim) if d not in axes]
    op = REDUCTIONS[name]
    if not kept and not keepdims:
        source = f"def reduce(x, dtype):\n    return {op}(x)\n"
    else:
        # each result's elements in the order of a row of the reduced axes (Numba's np.sum
        # of that row adds them in this order too)
        read = f"v = x[{_index(range(ndim))}]"
        if name in ("max", "min"):
            better = ">" if name == "max" else "<"
            update = [
                read,
                "if not seen:",
                "    acc = v",
                "    seen = True",
                f"elif acc == acc and (v {better} acc or v != v):",  # (NaN wins, as NumPy's)
                "    acc = v",
            ]
            start, finish = (
                ["acc = zero", "seen = False"],
                [
                    "if not seen:",
                    "    raise ValueError('zero-size array to reduction operation')",
                    "result = acc",
                ],
            )
        else:
            update = [read, "acc = acc * v" if name == "prod" else "acc = acc + v"]
            start = ["acc = one" if name == "prod" else "acc = zero"]
            count = " * ".join(["1", *(f"x.shape[{d}]" for d in axes)])
            finish = [f"result = acc / ({count})" if name == "mean" else "result = acc"]
        where = _index([d if d in kept else None for d in range(ndim)] if keepdims else kept)
        body = start + _nest(list(axes), update, 0) + finish + [f"out[{where}] = result"]
        source = "\n".join(
            [
                "def reduce(x, dtype):",
                f"    out = np.empty({_kept_shape(ndim, axes, keepdims)}, dtype)",
                "    zero = np.zeros(1, dtype)[0]",
                "    one = np.ones(1, dtype)[0]",
            ]
            + _nest(kept, body, 1)
            + ["    return out", ""]
        )
    _REDUCE[key] = _compiled(source, "reduce")
    return _REDUCE[key]


def _reduce_overload(name: str):
    def stub(x, axis=None, keepdims=False):
        pass

    stub.__name__ = stub.__qualname__ = f"reduce_{name}"
    stub.__doc__ = f"``np.{name}(x, axis, keepdims)`` compiled."

    @overload(stub, prefer_literal=True)
    def _reduce(x, axis=None, keepdims=False):
        plain = _plain(x)
        if not isinstance(plain, types.Array) or isinstance(plain.dtype, types.Complex):
            return None
        axes, flag = _axes(axis, plain.ndim), _flag(keepdims)
        if axes is None or flag is None or plain.ndim == 0:
            return None
        reduce = _reduction(name, plain.ndim, axes, flag)
        dtype = np.dtype(str(_result_dtype(name, plain.dtype)))
        return lambda x, axis=None, keepdims=False: reduce(x, dtype)

    return stub


#: "sum" -> the compiled ``reduce_sum(x, axis, keepdims)``, and so on
REDUCERS = {name: _reduce_overload(name) for name in REDUCTIONS}


def extremum_grad(g, ans, x, axis=None, keepdims=False):
    """The gradient of ``np.max``/``np.min`` over ``axis``: ``g`` shared equally among
    the tied extreme elements (``runtime.rules.reductions.extremum_grad``)."""


@overload(extremum_grad, prefer_literal=True)
def _extremum_grad(g, ans, x, axis=None, keepdims=False):
    plain = _plain(x)
    if not isinstance(plain, types.Array) or isinstance(plain.dtype, types.Complex):
        return None
    axes, flag = _axes(axis, plain.ndim), _flag(keepdims)
    if axes is None or flag is None:
        return None
    ans_ndim, g_ndim = _reduced_ndim(ans), _reduced_ndim(g)
    if ans_ndim is None or g_ndim is None:
        return None
    shared = _shared(plain.ndim, axes, ans_ndim, g_ndim)
    return lambda g, ans, x, axis=None, keepdims=False: shared(g, ans, x)


def _reduced_ndim(value: types.Type) -> int | None:
    """A reduction's result or cotangent: -1 for a number, else its array's rank."""
    plain = _plain(value)
    if isinstance(plain, _NUMBER_TYPES):
        return -1
    return plain.ndim if isinstance(plain, types.Array) else None


def _read_reduced(name: str, ndim: int, axes: tuple, value_ndim: int) -> str:
    """Source reading ``name`` (a reduction's result over ``axes``: a number, or an array
    with the reduced dimensions kept or not) where the element ``x[i0, ...]`` went."""
    if value_ndim == -1:
        return name
    if value_ndim == 0:
        return f"{name}.sum()"
    if value_ndim == ndim:
        return f"{name}[{_index([None if d in axes else d for d in range(ndim)])}]"
    return f"{name}[{_index([d for d in range(ndim) if d not in axes])}]"


_SHARED = {}


def _shared(ndim: int, axes: tuple, ans_ndim: int, g_ndim: int):
    """A compiled ``(g, ans, x)`` -> ``g`` shared equally among each row's elements equal
    to its extreme ``ans``: ``g * hit / count`` per element, as the uncompiled helper."""
    key = (ndim, axes, ans_ndim, g_ndim)
    if key not in _SHARED:
        kept = [d for d in range(ndim) if d not in axes]
        at = _index(range(ndim))
        body = (
            [f"m = {_read_reduced('ans', ndim, axes, ans_ndim)}", "n = 0"]
            + _nest(list(axes), [f"if x[{at}] == m:", "    n += 1"], 0)
            + [f"gv = {_read_reduced('g', ndim, axes, g_ndim)}"]
            + _nest(list(axes), [f"out[{at}] = gv * (x[{at}] == m) / n"], 0)
        )
        source = "\n".join(
            ["def shared(g, ans, x):", "    out = np.empty(x.shape, np.float64)"]
            + _nest(kept, body, 1)
            + ["    return out", ""]
        )
        _SHARED[key] = _compiled(source, "shared")
    return _SHARED[key]


def prod_grad(g, x, axis=None, keepdims=False):
    """The gradient of ``np.prod(x, axis)``: the product of the other elements of each
    reduced row, exact at zeros (``runtime.rules.reductions.prod_grad``)."""


_OTHERS = {}


def _others(ndim: int, axes: tuple, g_ndim: int):
    """A compiled ``(g, x, dtype)`` -> ``g`` spread over x times the product of the other
    elements of x's rows over ``axes``: products from the left times products from the
    right (in x's dtype, then times g in ``dtype``), in the uncompiled order."""
    key = (ndim, axes, g_ndim)
    if key in _OTHERS:
        return _OTHERS[key]
    kept = [d for d in range(ndim) if d not in axes]
    at = _index(range(ndim))
    # each row over the reduced axes (in their order) from the left, then from the right
    body = (
        [f"gv = {_read_reduced('g', ndim, axes, g_ndim)}", "acc = one"]
        + _nest(list(axes), [f"left[{at}] = acc", f"acc = acc * x[{at}]"], 0)
        + ["acc = one"]
        + _nest(
            list(axes), [f"out[{at}] = gv * (left[{at}] * acc)", f"acc = acc * x[{at}]"], 0, True
        )
    )
    source = "\n".join(
        [
            "def others(g, x, dtype):",
            "    left = np.empty_like(x)",
            "    out = np.empty(x.shape, dtype)",
            "    one = np.ones(1, x.dtype)[0]",
        ]
        + _nest(kept, body, 1)
        + ["    return out", ""]
    )
    _OTHERS[key] = _compiled(source, "others")
    return _OTHERS[key]


@overload(prod_grad, prefer_literal=True)
def _prod_grad(g, x, axis=None, keepdims=False):
    plain = _plain(x)
    if isinstance(plain, _NUMBER_TYPES):
        return lambda g, x, axis=None, keepdims=False: g * 1.0
    if not isinstance(plain, types.Array) or isinstance(plain.dtype, types.Complex):
        return None
    axes, flag = _axes(axis, plain.ndim), _flag(keepdims)
    g_ndim = _reduced_ndim(g)
    if axes is None or flag is None or plain.ndim == 0 or g_ndim is None:
        return None
    others = _others(plain.ndim, axes, g_ndim)
    # (the dtype expand_reduced(g, ...) * others gave: g's, a number's as float64, with x's)
    g_plain = _plain(g)
    g_dtype = as_dtype(g_plain.dtype if isinstance(g_plain, types.Array) else types.float64)
    dtype = np.result_type(g_dtype, as_dtype(plain.dtype))
    return lambda g, x, axis=None, keepdims=False: others(g, x, dtype)


# -- indexing ------------------------------------------------------------------------------


def _basic_index(index: types.Type) -> bool:
    """An integer, a slice, or a tuple of them: each position written once."""
    parts = index.types if isinstance(index, types.BaseTuple) else (index,)
    return all(isinstance(p, (types.Integer, types.SliceType)) for p in parts)


def scatter_grad(g, x, index):
    """Zeros like ``x`` with ``g`` at ``index`` (the gradient of ``x[index]``)."""


@overload(scatter_grad)
def _scatter_grad(g, x, index):
    plain = _plain(x)
    if isinstance(plain, types.Array) and plain.ndim == 1 and isinstance(index, types.Array):
        # (an index vector or mask: into float64 zeros of x's length, by _add_listed)
        zeros = types.Array(types.float64, 1, "C")
        if _add_listed(zeros, index, g) is None:
            return None

        def scatter_listed(g, x, index):
            out = np.zeros(x.shape[0], np.float64)
            add_in_place(out, index, g)
            return out

        return scatter_listed
    if not isinstance(plain, types.Array) or not _basic_index(index):
        return None

    def scatter(g, x, index):
        out = np.zeros(x.shape, np.float64)
        out[index] += g
        return out

    return scatter


def add_at(adjoint, container, index, value):
    """``adjoint`` plus ``value`` at ``index`` of an array ``container``."""


@overload(add_at)
def _add_at(adjoint, container, index, value):
    if isinstance(_plain(container), types.UniTuple) and isinstance(_plain(adjoint), types.List):
        if not isinstance(index, types.Integer):
            return None

        def add_item(adjoint, container, index, value):
            parts = list(adjoint)  # (another name may hold the list: a new one)
            parts[index] = parts[index] + value
            return parts

        return add_item
    if not isinstance(_plain(container), types.Array) or not _basic_index(index):
        return None

    def add_value_at(adjoint, container, index, value):
        out = np.zeros(container.shape, np.float64)
        out[index] += value
        return adjoint + out

    return add_value_at


def assigned_adjoint(adjoint, container, index):
    """``(adjoint[index], adjoint with zeros at index)``: undo ``container[index] = v``."""


@overload(assigned_adjoint)
def _assigned_adjoint(adjoint, container, index):
    if not isinstance(_plain(container), types.Array) or not _basic_index(index):
        return None
    if not isinstance(_plain(adjoint), types.Array):
        return None

    if _item_is_number(_plain(adjoint), index):

        def split_number(adjoint, container, index):
            part = adjoint[index]
            rest = adjoint.copy()
            rest[index] = 0
            return part, rest

        return split_number

    def split(adjoint, container, index):
        part = np.copy(adjoint[index])
        rest = adjoint.copy()
        rest[index] = 0
        return part, rest

    return split


def _item_is_number(array: types.Array, index: types.Type) -> bool:
    """Whether ``array[index]`` is one element (an integer for each dimension)."""
    parts = index.types if isinstance(index, types.BaseTuple) else (index,)
    return len(parts) == array.ndim and all(isinstance(p, types.Integer) for p in parts)


def stored_adjoint(part, value):
    """The adjoint of ``value`` after ``container[i] = value``, from its slot's."""


@overload(stored_adjoint)
def _stored_adjoint(part, value):
    if isinstance(_plain(part), types.Array):
        return lambda part, value: unbroadcast(part, value)
    if isinstance(_plain(part), _NUMBER_TYPES):
        return lambda part, value: part
    return None


def saved_item(container, index):
    """What ``container[index] = v`` is about to overwrite (a copy of an array part)."""


@overload(saved_item)
def _saved_item(container, index):
    if not isinstance(_plain(container), types.Array):
        return None

    if _item_is_number(_plain(container), index):
        return lambda container, index: container[index]
    return lambda container, index: np.copy(container[index])


def restore_item(container, index, value):
    """Put back what :func:`saved_item` saved."""


@overload(restore_item)
def _restore_item(container, index, value):
    if not isinstance(_plain(container), types.Array):
        return None

    def restore(container, index, value):
        container[index] = value

    return restore


def _in_place(adjoint: types.Type, index: types.Type) -> bool:
    plain = _plain(adjoint)
    return (
        isinstance(plain, types.Array)
        and plain.dtype == types.float64
        and plain.mutable
        and _basic_index(index)
    )


def add_adjoints(a, b):
    """``a + b`` for adjoints that are numbers or arrays."""


@overload(add_adjoints)
def _add_adjoints(a, b):
    if all(isinstance(_plain(t), (types.Array, *_NUMBER_TYPES)) for t in (a, b)):
        return lambda a, b: a + b
    return None


def matmul_grad_left(g, a, b):
    """Gradient of ``a @ b`` with respect to ``a`` (vectors and matrices)."""


def matmul_grad_right(g, a, b):
    """Gradient of ``a @ b`` with respect to ``b`` (vectors and matrices)."""


def dot_grad_left(g, a, b):
    """Gradient of ``np.dot(a, b)`` with respect to ``a`` (numbers, vectors, matrices)."""


def dot_grad_right(g, a, b):
    """Gradient of ``np.dot(a, b)`` with respect to ``b`` (numbers, vectors, matrices)."""


def _ranks(x: types.Type, y: types.Type) -> tuple:
    return _ndim_of(x), _ndim_of(y)


# The products of ``a @ b``'s gradients by the operands' ranks; ``np.dot`` of vectors and
# matrices is ``@``, and with a number a product: the number's gradient sums, the other's
# scales.
_PRODUCT_LEFT = {
    (2, 2): lambda g, a, b: np.dot(g, b.T),
    (1, 2): lambda g, a, b: np.dot(b, g),
    (2, 1): lambda g, a, b: np.outer(g, b),
    (1, 1): lambda g, a, b: g * b,
}
_PRODUCT_RIGHT = {
    (2, 2): lambda g, a, b: np.dot(a.T, g),
    (1, 2): lambda g, a, b: np.outer(a, g),
    (2, 1): lambda g, a, b: np.dot(a.T, g),
    (1, 1): lambda g, a, b: g * a,
}


@overload(matmul_grad_left)
def _matmul_grad_left(g, a, b):
    return _PRODUCT_LEFT.get(_ranks(a, b))


@overload(matmul_grad_right)
def _matmul_grad_right(g, a, b):
    return _PRODUCT_RIGHT.get(_ranks(a, b))


@overload(dot_grad_left)
def _dot_grad_left(g, a, b):
    ranks = _ranks(a, b)
    if ranks[0] == 0 and ranks[1]:
        return lambda g, a, b: np.sum(g * b)
    if ranks[1] == 0 and ranks[0] is not None:  # (a number b, or two numbers)
        return lambda g, a, b: g * b
    return _PRODUCT_LEFT.get(ranks)


@overload(dot_grad_right)
def _dot_grad_right(g, a, b):
    ranks = _ranks(a, b)
    if ranks[1] == 0 and ranks[0]:
        return lambda g, a, b: np.sum(g * a)
    if ranks[0] == 0 and ranks[1] is not None:  # (a number a, or two numbers)
        return lambda g, a, b: g * a
    return _PRODUCT_RIGHT.get(ranks)


def chosen(g, ans, iterable):
    """Builtin ``max``/``min``'s gradient over a list or tuple of numbers: ``g`` at the
    first item equal to the result, 0.0 at the others."""


@overload(chosen)
def _chosen(g, ans, iterable):
    plain = _plain(iterable)
    if not (
        isinstance(plain, (types.UniTuple, types.List))
        and isinstance(plain.dtype, _NUMBER_TYPES)
        and isinstance(_plain(g), _NUMBER_TYPES)
    ):
        return None  # (an array's rows, items of several kinds: run uncompiled)

    def chosen_item(g, ans, iterable):
        parts = [0.0 for _ in range(len(iterable))]
        for position in range(len(iterable)):
            if iterable[position] == ans:
                parts[position] = g
                return parts
        raise ValueError("the result of max or min is none of its items")

    return chosen_item


def adjoint_item(adjoint, index):
    """The part of a list's or tuple's adjoint at ``index`` (0.0 where nothing flowed)."""


@overload(adjoint_item)
def _adjoint_item(adjoint, index):
    plain = _plain(adjoint)
    if isinstance(plain, (types.UniTuple, types.List)):
        return lambda adjoint, index: adjoint[index]
    if isinstance(plain, types.Integer):  # (the int 0 of "nothing flowed")
        return lambda adjoint, index: 0.0
    return None


def negated(shift):
    """``-shift`` for an int or a tuple of ints: the shift that undoes ``np.roll``."""


@overload(negated)
def _negated(shift):
    if isinstance(shift, types.Integer):
        return lambda shift: -shift
    if isinstance(shift, types.UniTuple) and isinstance(shift.dtype, types.Integer):
        # (a tuple's length is part of its type: written out for the lengths arrays have)
        by_length = {
            1: lambda shift: (-shift[0],),
            2: lambda shift: (-shift[0], -shift[1]),
            3: lambda shift: (-shift[0], -shift[1], -shift[2]),
        }
        return by_length.get(shift.count)
    return None


def inverse_axes(axes, ndim):
    """The permutation that undoes ``np.transpose(x, axes)`` (None undoes None)."""


@overload(inverse_axes, prefer_literal=True)
def _inverse_axes(axes, ndim):
    known, value = _literal(axes)
    if not known:
        return None
    if value is None:
        return lambda axes, ndim: None
    count = len(value)
    if sorted(a % count for a in value) != list(range(count)):
        return None
    inverse = [0] * count
    for position, axis in enumerate(value):
        inverse[axis % count] = position
    undone = tuple(inverse)
    return lambda axes, ndim: undone


def gradient_buffer(adjoint, container):
    """A new float64 array shaped like ``container`` holding ``adjoint``, that an
    element loop's backward pass adds into in place (``runtime.element_adjoints``)."""


def _buffer_ndim(container: types.Type) -> int | None:
    """The number of dimensions of a gradient buffer for ``container``: a real array, or
    its shape (a tuple of integers, where only the shape was saved); else None."""
    plain = _plain(container)
    if isinstance(plain, types.Array) and not isinstance(plain.dtype, types.Complex):
        return plain.ndim
    if isinstance(plain, types.UniTuple) and isinstance(plain.dtype, types.Integer):
        return plain.count
    return None


@overload(gradient_buffer)
def _gradient_buffer(adjoint, container):
    if _buffer_ndim(container) is None:
        return None
    if isinstance(_plain(adjoint), _NUMBER_TYPES):

        def filled(adjoint, container):
            return np.full(shape_of(container), np.float64(adjoint))

        return filled
    if isinstance(_plain(adjoint), types.Array) and not isinstance(
        _plain(adjoint).dtype, types.Complex
    ):

        def copied(adjoint, container):
            buffer = np.zeros(shape_of(container), np.float64)
            buffer += adjoint
            return buffer

        return copied
    return None


def buffer_from(adjoint, container, mine, spare, spare_ok):
    """``gradient_buffer(adjoint, container)`` without a new array where one will do:
    ``adjoint`` itself where ``mine`` (the code made its array and no other name holds
    it: ``transform.jit._Function._plan_buffers``) and it has the buffer's shape and
    dtype, else ``spare`` (a dead array of the code's own, kept for this) when
    ``spare_ok`` and its shape fits, filled with ``adjoint``; else a new array. Returns
    the buffer and whether ``spare`` is still free to give out."""


@overload(buffer_from)
def _buffer_from(adjoint, container, mine, spare, spare_ok):
    ndim, given = _buffer_ndim(container), _plain(adjoint)
    if ndim is None:
        return None
    has_spare = (
        isinstance(spare, types.Array)
        and spare.dtype == types.float64
        and spare.ndim == ndim
        and spare.mutable
    )
    if isinstance(given, _NUMBER_TYPES):
        if not has_spare:
            return lambda adjoint, container, mine, spare, spare_ok: (
                np.full(shape_of(container), np.float64(adjoint)),
                spare_ok,
            )

        def filled(adjoint, container, mine, spare, spare_ok):
            if spare_ok and spare.shape == shape_of(container):
                spare[...] = np.float64(adjoint)
                return spare, False
            return np.full(shape_of(container), np.float64(adjoint)), spare_ok

        return filled
    if not isinstance(given, types.Array) or isinstance(given.dtype, types.Complex):
        return None
    if not (given.dtype == types.float64 and given.ndim == ndim and given.mutable):
        # (another dtype or a broadcast: a new buffer, as gradient_buffer makes)
        return lambda adjoint, container, mine, spare, spare_ok: (
            _new_buffer(adjoint, container),
            spare_ok,
        )
    if not has_spare:

        def kept(adjoint, container, mine, spare, spare_ok):
            if mine and adjoint.shape == shape_of(container):
                return adjoint, spare_ok
            return _new_buffer(adjoint, container), spare_ok

        return kept

    def copied(adjoint, container, mine, spare, spare_ok):
        if adjoint.shape == shape_of(container):
            if mine:
                return adjoint, spare_ok
            if spare_ok and spare.shape == shape_of(container):
                spare[...] = adjoint
                return spare, False
        return _new_buffer(adjoint, container), spare_ok

    return copied


@numba.njit
def _new_buffer(adjoint, container):
    buffer = np.zeros(shape_of(container), np.float64)
    buffer += adjoint
    return buffer


def unshared_arguments(names, changed, *others):
    """``runtime.aliasing.unshared_arguments`` for a number changed in place: nothing to
    check (a number is never shared). (Arrays run uncompiled, where the check is.)"""


@overload(unshared_arguments)
def _unshared_arguments(names, changed, *others):
    if isinstance(_plain(changed), _NUMBER_TYPES):
        return lambda names, changed, *others: None
    return None


@overload(_stop_gradient)
def _compiled_stop_gradient(x):
    # Arrays and numbers have no tape to cut: ``ag.stop_gradient(v)`` is ``v`` (what the
    # uncompiled generated code gets too); read through ``ag.`` or imported alike.
    if isinstance(_plain(x), (types.Array, *_NUMBER_TYPES)):
        return lambda x: x
    return None


def conjugate_if_complex(value, x):
    """``conj(value)`` where ``x`` is complex, else ``value`` (``rules.complex``)."""


def _is_complex_type(value: types.Type) -> bool:
    plain = _plain(value)
    return isinstance(getattr(plain, "dtype", plain), types.Complex)


@overload(conjugate_if_complex)
def _conjugate_if_complex(value, x):
    if _is_complex_type(x):
        return lambda value, x: np.conjugate(value)
    return lambda value, x: value


def conjugated(x):
    """``conj(x)``; a real ``x`` itself (``rules.complex``)."""


@overload(conjugated)
def _conjugated(x):
    if _is_complex_type(x):
        return lambda x: np.conjugate(x)
    return lambda x: x


def split_ties(g, wins, x, y):
    """``g * wins``, plus ``0.5 * g`` where ``x == y`` if any element ties
    (``rules.ties``)."""


@overload(split_ties)
def _split_ties(g, wins, x, y):
    plain_x, plain_y = _plain(x), _plain(y)
    if not all(isinstance(p, (types.Array, *_NUMBER_TYPES)) for p in (plain_x, plain_y)):
        return None
    if isinstance(plain_x, types.Array) or isinstance(plain_y, types.Array):

        def split(g, wins, x, y):
            ties = x == y
            if np.any(ties):
                return g * wins + 0.5 * g * ties
            return g * wins

        return split

    def split_numbers(g, wins, x, y):
        if x == y:
            return g * wins + 0.5 * g
        return g * wins

    return split_numbers


def sequence_length(sequence):
    """``len(sequence)`` for a loop over ``enumerate``, ``zip`` or ``reversed`` of it (a
    list or tuple argument arrives as a tuple; an array reads its rows)."""


@overload(sequence_length)
def _sequence_length(sequence):
    if isinstance(_plain(sequence), (types.BaseTuple, types.Array)):
        return lambda sequence: len(sequence)
    return None


#: ordinary helper (module, name) -> the compiled stand-in the jit namespace binds instead
JIT_HELPERS = {
    ("astgrad.runtime.adjoints", "scalar_seed"): scalar_seed,
    ("astgrad.runtime.adjoints", "shaped_like"): shape_of,
    ("astgrad.runtime.adjoints", "add_at"): add_at,
    ("astgrad.runtime.element_adjoints", "add_scattered"): add_at,  # (add_at's value)
    ("astgrad.runtime.adjoints", "assigned_adjoint"): assigned_adjoint,
    ("astgrad.runtime.adjoints", "stored_adjoint"): stored_adjoint,
    ("astgrad.runtime.adjoints", "saved_item"): saved_item,
    ("astgrad.runtime.adjoints", "restore_item"): restore_item,
    ("astgrad.runtime.rules.shared", "unbroadcast"): unbroadcast,
    ("astgrad.runtime.rules.shared", "expand_reduced"): expand_reduced,
    ("astgrad.runtime.rules.shared", "reduced_count"): reduced_count,
    ("astgrad.runtime.rules.shared", "inverse_axes"): inverse_axes,
    ("astgrad.runtime.rules.rearranging", "negated"): negated,
    ("astgrad.runtime.rules.builtins_", "chosen"): chosen,
    ("astgrad.runtime.adjoints", "adjoint_item"): adjoint_item,
    ("astgrad.runtime.rules.reductions", "extremum_grad"): extremum_grad,
    ("astgrad.runtime.rules.reductions", "prod_grad"): prod_grad,
    ("astgrad.runtime.rules.indexing", "scatter_grad"): scatter_grad,
    ("astgrad.runtime.rules.containers", "add_adjoints"): add_adjoints,
    ("astgrad.runtime.element_adjoints", "gradient_buffer"): gradient_buffer,
    ("astgrad.runtime.aliasing", "unshared_arguments"): unshared_arguments,
    ("astgrad.runtime.primitives", "sequence_length"): sequence_length,
    ("astgrad.runtime.rules.complex", "conjugate_if_complex"): conjugate_if_complex,
    ("astgrad.runtime.rules.complex", "conjugated"): conjugated,
    ("astgrad.runtime.rules.ties", "split_ties"): split_ties,
    ("astgrad.runtime.rules.arithmetic", "matmul_grad_left"): matmul_grad_left,
    ("astgrad.runtime.rules.arithmetic", "matmul_grad_right"): matmul_grad_right,
    ("astgrad.runtime.rules.arithmetic", "dot_grad_left"): dot_grad_left,
    ("astgrad.runtime.rules.arithmetic", "dot_grad_right"): dot_grad_right,
}
