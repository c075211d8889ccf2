"""Objects as values to differentiate: what their gradients look like, and how one adds up.

The gradient of an object (a layer with ``W`` and ``b``, a dataclass of parameters) is an
object of the same class, made without calling ``__init__``, whose float and float-array
attributes hold their gradients (through lists, tuples, dicts and objects inside it) and
whose other attributes are None. A NamedTuple's is made by its constructor.

While generated code runs, an object's adjoint is a dict from attribute name to adjoint
(0 before anything flowed in), added up by ``add_adjoints`` like a dict's; a NamedTuple's
is a list, like a tuple's. ``finish_object`` turns it into the object the user gets.
"""

from __future__ import annotations

import numbers
import types
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .rules.containers import add_adjoints, field_adjoint, is_zero

__all__ = ["is_object", "is_namedtuple", "fields", "add_field", "finish_object"]

_PLAIN = (
    np.ndarray, np.generic, list, tuple, dict, set, frozenset, str, bytes, numbers.Number,
    type, types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.ModuleType,
)  # fmt: skip
#: modules whose objects are values of their own (arrays, tensors), never parameter sets
_LIBRARIES = frozenset({"numpy", "astgrad", "scipy", "dask", "cupy", "torch", "jax", "builtins"})


def is_object(value: Any) -> bool:
    """Whether ``value`` is an object whose attributes can hold gradients: an instance of
    a class of the user's (not an array, number, container, function or class).

    >>> class Layer:
    ...     pass
    >>> is_object(Layer()), is_object(np.ones(2)), is_object([1.0])
    (True, False, False)
    """
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return False  # (the common case, without the weak table's lookup)
    known = _object_types.get(kind)
    if known is None:
        known = not (isinstance(value, _PLAIN) or value is None) and (
            kind.__module__.split(".")[0] not in _LIBRARIES
            and (hasattr(value, "__dict__") or bool(_slot_names(kind)))
        )
        _object_types.put(kind, known)
    return known


class _PerClass:
    """A table keyed by class that holds its classes weakly, with a lookup cheaper than
    ``WeakKeyDictionary``'s (which makes a weak reference for every lookup)."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref, Any]] = {}

    def get(self, kind: type) -> Any:
        entry = self._entries.get(id(kind))
        if entry is not None and entry[0]() is kind:
            return entry[1]
        return None

    def put(self, kind: type, value: Any) -> None:
        key, entries = id(kind), self._entries

        def forget(_: Any) -> None:  # (the class went: its id may be another's next)
            entries.pop(key, None)

        try:
            reference = weakref.ref(kind, forget)
        except TypeError:
            return
        entries[key] = (reference, value)


_PLAIN_TYPES = frozenset(
    {np.ndarray, float, int, bool, str, list, tuple, dict, type(None), np.float64, np.float32}
)
# (A class's instances all are objects or none is: asked for every argument of every call.)
_object_types = _PerClass()
_slots = _PerClass()


def is_namedtuple(value: Any) -> bool:
    """Whether ``value`` is a NamedTuple (a tuple whose class names its fields)."""
    return isinstance(value, tuple) and isinstance(getattr(type(value), "_fields", None), tuple)


def _slot_names(kind: type) -> list[str]:
    found = _slots.get(kind)
    if found is None:
        found = _find_slot_names(kind)
        _slots.put(kind, found)
    return found


def _find_slot_names(kind: type) -> list[str]:
    names = []
    for base in kind.__mro__:
        slots = base.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and name not in names:
                names.append(name)
    return names


def fields(value: Any) -> list[tuple[str, Any]]:
    """The instance attributes of ``value``, ``(name, value)`` in order: its ``__dict__``'s,
    then its slots' that are set. Class attributes, properties and methods are not."""
    found = list(vars(value).items()) if hasattr(value, "__dict__") else []
    for name in _slot_names(type(value)):
        try:
            found.append((name, object.__getattribute__(value, name)))
        except AttributeError:
            continue  # a slot never assigned
    return found


def _has_field(value: Any, name: str) -> bool:
    if name in getattr(value, "__dict__", ()):
        return True
    return name in _slot_names(type(value))


def differentiable(value: Any) -> bool:
    """Whether an attribute's value gets a gradient: a float (not a bool or int), a float
    array or NumPy float, or a list, tuple, dict or object (which may hold some)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return True
    if isinstance(value, (np.ndarray, np.generic)):
        return value.dtype.kind == "f"
    if isinstance(value, (list, tuple, dict)):
        return True
    if is_object(value):
        return True
    dtype = getattr(value, "dtype", None)  # an array of another library (cupy, dask)
    return getattr(dtype, "kind", None) == "f" and hasattr(value, "shape")


def add_field(adjoint: Any, owner: Any, name: str, value: Any) -> Any:
    """The adjoint of ``owner`` with ``value`` added to its attribute ``name`` (the
    adjoint of ``v = owner.name``).

    >>> class Layer:
    ...     def __init__(self):
    ...         self.W = 1.0
    >>> add_field(0, Layer(), "W", 2.0)
    {'W': 2.0}
    """
    if is_zero(value):
        return adjoint
    if is_namedtuple(owner):
        from .adjoints import add_at

        return add_at(adjoint, owner, type(owner)._fields.index(name), value)
    if not is_object(owner):
        raise TypeError(
            f"astgrad: a gradient reached the attribute .{name} of a "
            f"{type(owner).__qualname__}, which is not an object astgrad gives gradients to "
            "(a class of yours)"
        )
    if not _has_field(owner, name):
        if not isinstance(getattr(type(owner), name, None), property):
            return adjoint  # a class attribute: shared by every object, a constant
        raise TypeError(
            f"astgrad: {type(owner).__qualname__}.{name} is a property, which the generated "
            "gradient does not follow here (the object's class was not known when it was "
            'made): use mode="tape", or read the attributes it computes from.'
        )
    parts = dict(adjoint) if isinstance(adjoint, dict) else {}
    parts[name] = add_adjoints(parts.get(name, 0), value)
    return parts


def blank(like: Any) -> Any:
    """An object of ``like``'s class, made without calling ``__init__`` (as ``copy.copy``
    does), for its gradient's attributes to be set on."""
    kind = type(like)
    if kind.__new__ is object.__new__:
        return object.__new__(kind)
    import copy

    return copy.copy(like)


def finish_object(grad: Any, like: Any, finish: Callable[[Any, Any], Any]) -> Any:
    """The gradient the user gets for the object ``like`` from its adjoint ``grad`` (a
    dict, or a list for a NamedTuple, or 0): each differentiable attribute finished by
    ``finish`` (zeros where nothing flowed), the others None."""
    if is_namedtuple(like):
        parts = grad if isinstance(grad, (list, tuple)) else [0] * len(like)
        values = [finish(g, v) if differentiable(v) else None for g, v in zip(parts, like)]
        return type(like)(*values)
    if is_zero(grad):
        parts: dict = {}
    elif isinstance(grad, dict):
        parts = grad
    elif is_object(grad):  # (from a call run on the tape: an object of like's class)
        parts = field_adjoint(grad)
    else:  # (never silently zero)
        raise TypeError(
            f"internal error: the gradient of a {type(like).__qualname__} object came as a "
            f"{type(grad).__name__}"
        )
    made = blank(like)
    for name, value in fields(like):
        part = finish(parts.get(name, 0), value) if differentiable(value) else None
        object.__setattr__(made, name, part)  # (a frozen dataclass's too)
    return made


def with_fields(like: Any, convert: Callable[[Any], Any]) -> Any:
    """A shallow copy of ``like`` whose differentiable attributes are ``convert``-ed (the
    tape's leaves); the others are the same values."""
    if is_namedtuple(like):
        return type(like)(*(convert(v) if differentiable(v) else v for v in like))
    made = blank(like)
    for name, value in fields(like):
        object.__setattr__(made, name, convert(value) if differentiable(value) else value)
    return made


def differentiable_fields(like: Any) -> list[tuple[str, Any]]:
    """``fields(like)`` (or a NamedTuple's) that get gradients, in order."""
    if is_namedtuple(like):
        pairs = list(zip(type(like)._fields, like))
    else:
        pairs = fields(like)
    return [(name, value) for name, value in pairs if differentiable(value)]


def swap_fields(like: Any, convert: Callable[[Any], Any], swapped: list) -> Any:
    """Give ``like``'s differentiable attributes the values ``convert`` makes of them (the
    tape's leaves), on the object itself: the function then reads and writes the
    caller's object, as Python would run it. ``swapped`` gets ``(object, {name: (old,
    new)})``; ``restore_fields`` puts back what the function left as it was. A NamedTuple
    cannot change, and is copied."""
    if is_namedtuple(like):
        return with_fields(like, convert)
    if any(owner is like for owner, _ in swapped):
        raise TypeError(
            f"the {type(like).__qualname__} object is given twice among the arguments "
            "differentiated; its gradient would be split between them. Pass it once."
        )
    changed: dict[str, tuple[Any, Any]] = {}
    swapped.append((like, changed))
    for name, value in fields(like):
        if differentiable(value):
            new = convert(value)
            changed[name] = (value, new)
            object.__setattr__(like, name, new)
    return like


def restore_fields(swapped: list, raw: Callable[[Any], Any]) -> None:
    """Undo ``swap_fields``, last first: an attribute still holding its leaf gets its old
    value back; one the function assigned keeps that value, as plain data (``raw``)."""
    for owner, changed in reversed(swapped):
        for name, (old, new) in changed.items():
            try:
                current = object.__getattribute__(owner, name)
            except AttributeError:
                continue  # the function deleted it
            object.__setattr__(owner, name, old if current is new else raw(current))
        for name, current in fields(owner):  # (attributes the function added: plain too)
            if name not in changed and type(current) not in (list, tuple, dict):
                plain = raw(current)
                if plain is not current:
                    object.__setattr__(owner, name, plain)
        if not changed:  # an object not differentiated: what it holds left plain too
            _plain_inside(owner, raw, set(), 0)
    swapped.clear()


def _plain_inside(value: Any, raw: Callable[[Any], Any], seen: set, depth: int) -> None:
    """Replace each tensor that the objects and lists inside ``value`` hold by its plain
    value (the tape's function assigned ``holder.layers[i].x``, which Python leaves an
    array)."""
    if id(value) in seen or depth > _REACH_DEPTH:
        return
    seen.add(id(value))
    if type(value) is list:
        pairs: Any = list(enumerate(value))
    elif type(value) is dict:
        pairs = list(value.items())
    elif is_object(value) and not is_namedtuple(value):
        pairs = fields(value)
    else:
        return
    for key, item in pairs:
        if type(item) in (list, dict) or is_object(item):
            _plain_inside(item, raw, seen, depth + 1)
            continue
        plain = raw(item)
        if plain is not item:
            if type(value) in (list, dict):
                value[key] = plain
            else:
                object.__setattr__(value, key, plain)


def describe(value: Any, seen: set | None = None) -> tuple | None:
    """What generated code for an object argument may assume, as a hashable kind:
    ``("object", class, names, parts)`` where ``names`` are its instance attributes
    holding callables (they shadow methods of the same name) and ``parts`` the kinds of
    its attributes that hold objects, or lists or tuples of them (``("list", kinds)``).
    None for anything else. Gradients are cached per kind, so an object of another class
    (or with another class inside it) gets its own.

    >>> class Layer:
    ...     def __init__(self):
    ...         self.W = 1.0
    >>> describe(Layer())[0:3] == ("object", Layer, frozenset())
    True
    """
    if seen is None:
        seen = set()
    if id(value) in seen:
        return None  # a cycle: the transform assumes nothing about it
    if is_object(value):
        seen.add(id(value))
        pairs = fields(value)
        callables = frozenset(n for n, v in pairs if callable(v))  # (they shadow methods)
        parts = []
        for name, item in pairs:
            if type(item) in (list, tuple) or is_object(item):
                found = describe(item, seen)
                if found is not None:
                    parts.append((name, found))
        seen.discard(id(value))
        return ("object", type(value), callables, tuple(parts))
    if type(value) in (list, tuple) and value and is_object(value[0]):
        seen.add(id(value))
        found = (type(value).__name__, tuple(describe(item, seen) for item in value))
        seen.discard(id(value))
        return found
    return None


def make_object(cls: type, attributes: dict | tuple) -> Any:
    """An object of ``cls`` holding ``attributes``, as ``cls(...)`` made it when its
    ``__init__`` only assigns them (generated code runs that ``__init__``'s body inline,
    then this; see ``transform.objects.constructor``); a NamedTuple of the tuple of its
    fields. Its adjoint is the attributes'.

    >>> class Layer:
    ...     pass
    >>> make_object(Layer, {"W": 2.0}).W
    2.0
    """
    if isinstance(attributes, tuple):  # a NamedTuple's fields, in order
        return cls(*attributes)
    made = object.__new__(cls)
    for name, value in attributes.items():
        object.__setattr__(made, name, value)
    return made


def set_field(owner: Any, name: str, value: Any) -> Any:
    """``owner.name = value``, for an object the differentiated function made itself (and
    that no other name holds): ``owner``, changed.

    >>> class Layer:
    ...     pass
    >>> set_field(Layer(), "W", 1.0).W
    1.0
    """
    object.__setattr__(owner, name, value)
    return owner


def without_field(adjoint: Any, name: str) -> Any:
    """The adjoint of an object less the part of its attribute ``name`` (which an
    assignment overwrote)."""
    if not isinstance(adjoint, dict) or name not in adjoint:
        return adjoint
    parts = dict(adjoint)
    del parts[name]
    return parts


#: how deep ``unshared_object`` looks into arguments before it gives up (and refuses)
_REACH_DEPTH = 64


def unshared_object(
    names: tuple[str, ...],
    changed: Any,
    *others: Any,
    paths: tuple[tuple[str, ...], ...] = (),
    items: bool = False,
) -> None:
    """Raise ``ValueError`` when the object ``changed`` (the parameter ``names[0]``, whose
    attributes the function assigns) can be reached from one of ``others`` (``names[1:]``,
    the other arguments and globals it reads) or from its own attributes. Generated code
    assigns the caller's object's attributes as Python does, but follows each read of an
    attribute by the name it was read through: a read through another path would see the
    new value while its gradient went to the value at entry.

    >>> class Box:
    ...     pass
    >>> a, b = Box(), Box()
    >>> unshared_object(("a", "b"), a, b)  # two objects: nothing to say
    >>> b.inner = a
    >>> try:
    ...     unshared_object(("a", "b"), a, b)
    ... except ValueError as error:
    ...     print(str(error).split(":")[0])
    the function assigns attributes of the argument `a`, and `b` holds the same object (b.inner)
    """
    if items:
        _unshared_items(names, changed, others)
        return
    if type(changed) is list and paths:  # particles[i].x = v
        _unshared_chains(names, changed, others, paths)
        return
    if not is_object(changed):
        return
    for name, other in zip(names[1:], others):
        path = _path_to(changed, other, name, set(), 0)
        if path is not None:
            _refuse(names[0], name, path)
    for field_name, value in fields(changed):
        path = _path_to(changed, value, f"{names[0]}.{field_name}", set(), 0)
        if path is not None:
            _refuse(names[0], names[0], path)
    if paths:
        _unshared_chains(names, changed, others, paths)


def _unshared_items(names: tuple[str, ...], changed: list, others: tuple) -> None:
    """For ``for p in ps: p.step(dt)`` (``changed`` the list ``ps``): each item an object
    of its own, reached by its slot of ``ps`` alone, and ``ps`` by no other argument or
    global, nor by its items."""
    reached = {id(changed): names[0]}
    for position, item in enumerate(changed):
        spelled = f"{names[0]}[{position}]"
        if id(item) in reached:
            _refuse(spelled, names[0], reached[id(item)])  # [p, p]: one object twice
        reached[id(item)] = spelled
    _reached_once(names, changed, others, reached)


def _unshared_chains(
    names: tuple[str, ...], changed: Any, others: tuple, paths: tuple[tuple[str, ...], ...]
) -> None:
    """For ``h.inner.x = v`` (``paths`` holding ``("inner",)``): each object of each chain
    is reached, from the arguments and globals, by the one reference its chain follows
    (``h.inner``), never through another attribute, item or argument, nor twice by
    two chains; ``"[]"`` stands for every item of a list (``h.layers[i].W = v``)."""
    reached = {id(changed): names[0]}  # each object of a chain, by id: how it is spelled
    for path in paths:
        frontier = [(changed, names[0])]
        for position, step in enumerate(path):
            following = path[position + 1] if position + 1 < len(path) else None
            found = []
            for value, spelled in frontier:
                if step == "[]":  # (every item of a list: model.layers[i].W = v)
                    found += [(item, f"{spelled}[{i}]") for i, item in enumerate(value)]
                else:
                    found.append((getattr(value, step, None), f"{spelled}.{step}"))
            for value, spelled in found:
                if not (is_object(value) or type(value) is list) or (
                    following == "[]" and type(value) is not list
                ):  # (not the kind the gradient was made for: refused, never skipped)
                    _refuse(spelled, names[0], f"{spelled}, not an object to follow")
                if id(value) in reached and reached[id(value)] != spelled:
                    _refuse(spelled, names[0], reached[id(value)])
                reached[id(value)] = spelled
            frontier = found
    _reached_once(names, changed, others, reached)


def _reached_once(names: tuple[str, ...], changed: Any, others: tuple, reached: dict) -> None:
    """Raise when an object of ``reached`` (by id: its one path) is reached, from the
    arguments and globals, another way too."""
    counts: dict[int, list[str]] = {key: [] for key in reached}
    seen: set[int] = set()
    pending = [(names[0], changed, 0), *((n, v, 0) for n, v in zip(names[1:], others))]
    for root, value, _ in pending:
        if id(value) in counts:
            counts[id(value)].append(root)  # an argument or global is the object itself
    while pending:
        spelled, value, depth = pending.pop()
        kind = type(value)
        if kind in _LEAVES or id(value) in seen:
            continue
        if depth > _REACH_DEPTH:
            _refuse(names[0], names[0], f"{spelled}... (nested too deeply to tell)")
        seen.add(id(value))
        if kind in (list, tuple, set, frozenset) or is_namedtuple(value):
            parts: Any = [(f"{spelled}[{i}]", item) for i, item in enumerate(value)]
        elif kind is dict:
            parts = [(f"{spelled}[{key!r}]", item) for key, item in value.items()]
        elif is_object(value):
            parts = [(f"{spelled}.{name}", item) for name, item in fields(value)]
        else:
            continue
        for part, item in parts:
            if id(item) in counts:
                counts[id(item)].append(part)
            pending.append((part, item, depth + 1))
    for key, found in counts.items():
        others_found = [p for p in found if p != reached[key]]
        if others_found:
            _refuse(reached[key], others_found[0].split(".")[0].split("[")[0], others_found[0])


class SharedObjectError(ValueError):
    """An object whose attributes the generated code assigns is reached through another
    argument or global (``mode="auto"`` then runs the function on the tape)."""


def _refuse(changed: str, other: str, path: str) -> None:
    raise SharedObjectError(
        f"the function assigns attributes of the argument `{changed}`, and `{other}` holds "
        f"the same object ({path}): astgrad's generated gradient follows each attribute by "
        f'the name it is read through. Pass separate objects, or use mode="tape".'
    )


def _path_to(target: Any, value: Any, path: str, seen: set, depth: int) -> str | None:
    """A path from ``value`` (spelled ``path``) to ``target`` through attributes, items
    and values of containers, or None when there is none."""
    if value is target:
        return path
    kind = type(value)
    if kind in _LEAVES or id(value) in seen:
        return None
    if depth > _REACH_DEPTH:
        return f"{path}... (nested too deeply to tell)"
    seen.add(id(value))
    if kind in (list, tuple, set, frozenset) or is_namedtuple(value):
        parts: Any = ((f"{path}[{i}]", item) for i, item in enumerate(value))
    elif kind is dict:
        parts = ((f"{path}[{key!r}]", item) for key, item in value.items())
    elif is_object(value):
        parts = ((f"{path}.{name}", item) for name, item in fields(value))
    else:
        return None  # (an array, a number, a function: holds no object of the user's)
    for spelled, item in parts:
        found = _path_to(target, item, spelled, seen, depth + 1)
        if found is not None:
            return found
    return None


_LEAVES = frozenset({np.ndarray, float, int, bool, str, type(None), np.float64, np.float32})


def entry_states(values: list) -> list:
    """``values`` with each object (and each object of a list of them: particles) a
    shallow copy of itself (made as ``blank`` makes one):
    what it held when a function that assigns its attributes was called, for its gradient
    to have that form (an attribute the function adds gets none, one it rebinds to
    another shape keeps the shape it had)."""
    copies = []
    for value in values:
        if is_object(value):
            value = _shallow(value)
        elif type(value) is list and value and is_object(value[0]):
            value = [_shallow(item) if is_object(item) else item for item in value]
        copies.append(value)
    return copies


def _shallow(value: Any) -> Any:
    made = blank(value)
    for name, item in fields(value):
        object.__setattr__(made, name, item)
    return made


# -- forward mode: an object's tangent is an object of its class (or 0 for none) ---------------


def field_tangent(tangent: Any, name: str) -> Any:
    """The tangent of the attribute ``name`` of an object whose tangent is ``tangent``
    (the adjoint of ``v = obj.name`` in forward mode): 0.0 where it has none.

    >>> class Layer:
    ...     pass
    >>> t = make_object(Layer, {"W": 2.0, "name": None})
    >>> field_tangent(t, "W"), field_tangent(t, "name"), field_tangent(0.0, "W")
    (2.0, 0.0, 0.0)
    """
    if is_zero(tangent):
        return 0.0
    if isinstance(tangent, dict):
        found = tangent.get(name)
    elif is_namedtuple(tangent):
        found = getattr(tangent, name, None)
    else:
        found = dict(fields(tangent)).get(name)
    return 0.0 if found is None else found


def tangent_with_field(tangent: Any, owner: Any, name: str, value: Any) -> Any:
    """The tangent of ``owner`` after ``owner.name = v`` whose tangent is ``value``: a new
    object of ``owner``'s class holding ``tangent``'s attributes and ``value`` (the
    tangent the caller passed is never changed)."""
    made = object.__new__(type(owner)) if type(owner).__new__ is object.__new__ else blank(owner)
    if not is_zero(tangent):
        pairs = tangent.items() if isinstance(tangent, dict) else fields(tangent)
        for key, item in pairs:
            object.__setattr__(made, key, item)
    object.__setattr__(made, name, value)
    return made
