"""Methods as functions to differentiate.

A bound method (``layer.loss``) is its class's function with ``self`` already given:
astgrad differentiates that function, ``self`` an ordinary first parameter, and passes
the object along on every call. ``wrt`` counts the method's own parameters, after
``self``, as calling it does; a function taken from the class (``Layer.loss``) counts
``self`` too, so ``wrt=0`` or ``wrt="self"`` differentiates with respect to the object.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from .runtime.objects import describe, is_object

#: ``receiver`` of a function that is not a bound method
UNBOUND = object()


def unbind(fun: Any, wrt: Any) -> tuple[Any, Any, Any]:
    """``(function, wrt, receiver)``: for a bound method of a Python function, that
    function, ``wrt`` counted on its parameters (``self`` first) and the object it is
    bound to; for anything else ``(fun, wrt, UNBOUND)``.

    >>> class Scale:
    ...     def times(self, x, k):
    ...         return x * k
    >>> s = Scale()
    >>> function, wrt, receiver = unbind(s.times, 0)
    >>> function is Scale.times, wrt, receiver is s
    (True, 1, True)
    >>> unbind(s.times, ("k", -2))[1]
    ('k', -2)
    """
    if not isinstance(fun, types.MethodType):
        return fun, wrt, UNBOUND
    function = fun.__func__
    if not callable(function):
        return fun, wrt, UNBOUND
    if wrt is None:
        return function, None, fun.__self__
    first = _first_parameter(function)
    if isinstance(wrt, (tuple, list)):
        shifted: Any = type(wrt)(_shift(item, fun, first) for item in wrt)
    else:
        shifted = _shift(wrt, fun, first)
    return function, shifted, fun.__self__


def _first_parameter(function: Callable) -> str | None:
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return None
    return params[0].name if params else None


def _shift(item: Any, method: types.MethodType, first: str | None) -> Any:
    """One ``wrt`` entry of a bound method, as an entry of its function's parameters."""
    if isinstance(item, bool) or not isinstance(item, int):
        if item == first:
            raise ValueError(
                f"wrt={item!r} names the object {_name(method)} is bound to; to differentiate "
                f"with respect to it, take the function from the class: "
                f"ag.grad({type(method.__self__).__qualname__}.{method.__name__}, "
                f"wrt={item!r})(obj, ...)"
            )
        return item
    return item + 1 if item >= 0 else item


def _name(method: types.MethodType) -> str:
    return getattr(method, "__qualname__", repr(method))


def bind(function: Any, receiver: Any, args: tuple) -> tuple:
    """The arguments of the unbound function: the receiver first, if there is one."""
    return args if receiver is UNBOUND else (receiver, *args)


def as_function(fun: Any, wrt: Any, args: tuple, check: Callable[[Any, Any], Any]) -> tuple:
    """``(function, wrt, args)`` for ``ag.source``, ``ag.explain`` and ``ag.vjp``: a bound
    method as its function (``wrt`` counted after ``self``, checked by ``check`` against
    the method's own parameters first), the object first among example arguments; a
    gradient made by ``@ag.grad`` in a class body and reached through an object, as that
    gradient (its ``wrt`` counts ``self``)."""
    if not isinstance(fun, types.MethodType):
        return fun, wrt, args
    if inspect.isfunction(fun.__func__):
        wrt = 0 if wrt is None else wrt  # the default: the method's first parameter
        function, shifted, receiver = unbind(fun, wrt)
        check(fun, wrt)
        wrt = shifted
        return function, wrt, (receiver, *args) if args else args
    if getattr(fun.__func__, "__astgrad_gradient__", False):
        return fun.__func__, wrt, (fun.__self__, *args) if args else args
    return fun, wrt, args


def other_kinds(target: Any, args: tuple) -> tuple:
    """``(name, kind)`` of each positional argument not differentiated whose kind the
    generated code may rely on, so that a gradient is made, and cached, per those kinds
    too:

    * a NumPy array: its ndim (``("value", "ndarray", ndim)``), as for a differentiated
      one. ``u[i]`` of a vector is a number, so the heat equation's gradient with respect
      to ``u`` alone, ``k`` a float, keeps no shapes (``transform.ranks``); a call plan
      checks every array's ndim anyway (``runtime.plans``);
    * a Python float (``("value", "float")``): a number, of shape ``()``;
    * a Python int (``("value", "int")``): a number, and an int (``transform.ranks``), so
      a loop over ``range(steps)`` is replayed over the same range backwards rather than
      saving its counter;
    * an object of the user's (``runtime.objects.describe``): the generated code calls
      its methods as its class's functions; a list of them, with what each holds.

    Lists and tuples of numbers or arrays are left out: their kind is their length, and a
    gradient per length would be made again for every batch of another size.

    >>> import numpy as np
    >>> from astgrad.api import _Target
    >>> def heat(u, k, steps):
    ...     return u * k * steps
    >>> other_kinds(_Target(heat, 0), (np.ones(3), 0.1, 5))
    (('k', ('value', 'float')), ('steps', ('value', 'int')))
    """
    found = ()
    names = target.names
    params = target.signature.parameters
    for name, value in zip(params, args):
        if name in names:
            continue
        if type(value) is np.ndarray:
            found += ((name, ("value", "ndarray", value.ndim)),)
        elif type(value) is float:
            found += ((name, ("value", "float")),)
        elif type(value) is int:
            found += ((name, ("value", "int")),)
        elif is_object(value):
            found += ((name, describe(value)),)
        elif type(value) is list and value and is_object(value[0]):
            # particles: the items' methods may change them (issue 17; as api._kind)
            found += ((name, ("list", len(value), tuple(describe(v) for v in value))),)
    return found


def receiver_kinds(method: Any, target: Any) -> dict | None:
    """For ``ag.source`` and ``ag.explain`` of a bound method without example arguments:
    the kind of the object it is bound to (its class's methods are then resolved, as a
    call's are), or None."""
    if not isinstance(method, types.MethodType) or not is_object(method.__self__):
        return None
    first = next(iter(target.signature.parameters), None)
    if first is None or first in target.names:
        return None
    return {first: describe(method.__self__)}
