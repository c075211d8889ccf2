"""The adjoints of several values at once that rules return and generated code adds.

An adjoint is ``0`` (nothing has flowed into it yet), a value (array or number), or, for a
tuple or list, a list of adjoints; dicts map keys to adjoints. Rules give the adjoint of
a sequence of arrays as :class:`Parts` and of a dict's entries as :class:`Entries`, which
add element by element (or key by key) where plain tuples would concatenate.
``runtime.adjoints`` builds on these.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Parts", "Entries", "add_adjoints", "is_zero"]


class Parts(tuple):
    """The adjoint of a sequence of arrays that a primitive takes or returns (the arrays
    ``np.concatenate`` joins, the pieces ``np.split`` returns): a tuple that adds element
    by element, where adding plain tuples or lists would concatenate them.

    >>> Parts([1.0, 2.0]) + Parts([10.0, 20.0])
    Parts([11.0, 22.0])
    >>> 0 + Parts([1.0])
    Parts([1.0])
    """

    __slots__ = ()

    def __add__(self, other: Any) -> Parts:  # type: ignore[override]
        if is_zero(other):
            return self
        if not isinstance(other, (list, tuple)) or len(other) != len(self):
            length = f" of length {len(other)}" if isinstance(other, (list, tuple)) else ""
            raise ValueError(
                f"internal error: cannot add the adjoint of {len(self)} arrays to a "
                f"{type(other).__name__}{length}"
            )
        return Parts(add_adjoints(a, b) for a, b in zip(self, other))

    __radd__ = __add__

    def __repr__(self) -> str:
        return f"Parts({list(self)!r})"


class Entries(dict):
    """The adjoint of a dict's entries that a rule sends back (``d["a"]`` read in a helper
    that did not know ``d`` is a dict): a dict that adds key by key, where adding plain
    dicts would raise.

    >>> Entries(a=1.0) + Entries(a=2.0, b=3.0)
    Entries({'a': 3.0, 'b': 3.0})
    >>> 0 + Entries(a=1.0)
    Entries({'a': 1.0})
    """

    __slots__ = ()

    def __add__(self, other: Any) -> Entries:
        if is_zero(other):
            return self
        if not isinstance(other, dict):
            raise ValueError(
                f"internal error: cannot add the adjoint of a dict to a {type(other).__name__}"
            )
        return Entries(add_adjoints(self, other))

    __radd__ = __add__

    def __repr__(self) -> str:
        return f"Entries({dict(self)!r})"


def add_adjoints(a: Any, b: Any) -> Any:
    """``a + b`` for adjoints: zeros drop out, containers add element by element.

    >>> add_adjoints(0, [1.0, 0])
    [1.0, 0]
    >>> add_adjoints([1.0, 2.0], [0, 3.0])
    [1.0, 5.0]
    """
    if is_zero(a):
        return b
    if is_zero(b):
        return a
    if isinstance(a, (list, tuple)):
        return [add_adjoints(x, y) for x, y in zip(a, b)]
    if isinstance(a, dict):
        merged = dict(a)
        for key, value in field_adjoint(b).items():
            merged[key] = add_adjoints(merged.get(key, 0), value)
        return merged
    try:
        return a + b
    except TypeError:
        # An object's adjoint is a dict of its fields' in generated code, and an object of
        # its class from a call run on the tape (or a gradient): added field by field.
        if isinstance(b, dict) or _is_object(a):
            return add_adjoints(field_adjoint(a), field_adjoint(b))
        raise


def _is_object(value: Any) -> bool:
    from ..objects import is_object  # (objects imports this module)

    return is_object(value)


def field_adjoint(value: Any) -> Any:
    """An object's gradient as generated code keeps it: a dict of its fields' gradients
    (the fields that got none, None, left out), nested objects likewise."""
    if isinstance(value, dict) or not _is_object(value):
        return value
    from ..objects import fields

    return {name: field_adjoint(v) for name, v in fields(value) if v is not None}


def is_zero(value: Any) -> bool:
    """Whether ``value`` is the adjoint nothing has flowed into (the int 0)."""
    return type(value) is int and value == 0
