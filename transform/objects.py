"""Attribute reads of objects being differentiated (issue 17).

``v = obj.W`` where ``obj`` is a user object (a layer, a dataclass of parameters) is a
*field read*: its adjoint adds ``dv`` to the attribute ``W`` of ``obj``'s adjoint
(``runtime.objects.add_field``). What an attribute is, when the object's class is known
(an argument's), decides: an instance attribute is a field; a property or a method is
not, and cannot be differentiated here (a class attribute is a constant, and gets no
gradient). The attributes of arrays (``x.real``, ``x.flat``) are never fields.
"""

from __future__ import annotations

import builtins
import dataclasses
import types

import gast
import numpy as np

from . import build
from .context import TransformContext
from .errors import TransformError
from .guards import MISSING
from .resolve import Callee, source_text

#: the callee of a field read (``analyze.callee_of``)
FIELD = Callee("field", ".attribute")

_ARRAY_ATTRIBUTES = frozenset(dir(np.ndarray))


def field_callee(node: gast.Attribute, ctx: TransformContext) -> Callee | None:
    """``FIELD`` when ``node`` (an attribute of a local name) reads an instance attribute
    of an object; a callee saying why not when the object's class says it is not one;
    None when it is an attribute of an array."""
    if not isinstance(node.value, gast.Name):
        return None
    kind = known_object(node.value.id, ctx)
    if kind is not None:  # (g.size, g.mean, g.T of an object: its attributes, not arrays')
        cls = kind[1]
        found = getattr(cls, node.attr, None)
        spelled = source_text(node)
        if isinstance(found, property):
            return Callee(
                "unknown", spelled, reason=f"`{spelled}` is a property of {cls.__qualname__}"
            )
        fields = getattr(cls, "_fields", None)
        if isinstance(cls, type) and issubclass(cls, tuple) and fields is not None:
            if node.attr not in fields:  # (a NamedTuple's class attribute: not a field)
                return Callee(
                    "unknown", spelled,
                    reason=f"`{spelled}` is a class attribute of {cls.__qualname__}, not a field",
                )  # fmt: skip
        return FIELD
    if node.attr in _ARRAY_ATTRIBUTES:
        return None
    return FIELD


def known_object(name: str, ctx: TransformContext) -> tuple | None:
    """The kind of the object ``name`` surely holds (an argument's, one made inside), or
    None."""
    kind = ctx.param_kinds.get(name, ())
    if kind[:1] != ("object",):
        kind = (getattr(ctx, "object_kinds", None) or {}).get(name, ())
    return kind if kind[:1] == ("object",) else None


def refuse_unfollowed_owners(statements: list[gast.stmt], ctx: TransformContext) -> None:
    """A field read's adjoint goes to its object's adjoint, which reaches the caller only
    through parameters, copies, items and fields (``m.layers[i].W``). An object made
    inside the function (``layer = Linear(w)``, run on the tape) or returned by a call
    gets no such path: its field reads become unknown calls, so a gradient through them
    goes to the tape (``mode="auto"``) or raises (``mode="source"``), never lost."""
    from . import anno

    reads = [s for s in statements if anno.get(s, anno.Key.CALLEE) is FIELD]
    if not reads:
        return  # (the common case: no attribute of an object is read)
    definitions: dict[str, list[gast.stmt]] = {}
    for stmt in statements:
        if isinstance(stmt, gast.For) and isinstance(stmt.target, gast.Name):
            definitions.setdefault(stmt.target.id, []).append(stmt)
        elif isinstance(stmt, gast.Assign):
            for target in stmt.targets:
                for sub in gast.walk(target):
                    if isinstance(sub, gast.Name) and isinstance(sub.ctx, gast.Store):
                        definitions.setdefault(sub.id, []).append(stmt)
    followed = set(ctx.parsed.params) - _rebound(definitions, ctx)

    def passes_on(stmt: gast.stmt) -> bool:
        if isinstance(stmt, gast.Assign) and is_field_store(stmt.value, ctx):
            return stmt.value.args[0].id in followed  # (the same object, changed)
        if isinstance(stmt, gast.Assign) and is_build(stmt.value, ctx):
            return True  # made by make_object: its adjoint goes to its attributes'
        if isinstance(stmt, gast.For):
            return isinstance(stmt.iter, gast.Name) and stmt.iter.id in followed
        target, value = stmt.targets[0], stmt.value
        if not isinstance(target, gast.Name):
            return False
        if isinstance(value, gast.Name):
            return value.id in followed
        if isinstance(value, (gast.Subscript, gast.Attribute)):
            return isinstance(value.value, gast.Name) and value.value.id in followed
        return False

    changed = True
    while changed:
        changed = False
        for name, defined in definitions.items():
            own = [s for s in defined if not _stores_into(s, name, ctx)]  # (changes of it)
            if name not in followed and own and all(passes_on(s) for s in own):
                followed.add(name)
                changed = True
    for stmt in reads:
        owner = stmt.value.value.id
        if owner not in followed:
            spelled = source_text(stmt.value)
            anno.set(
                stmt,
                anno.Key.CALLEE,
                Callee(
                    "unknown",
                    spelled,
                    reason=f"`{spelled}` reads an attribute of an object made inside the "
                    "function (or returned by a call), whose gradient generated code does "
                    "not pass back yet",
                ),
            )


# -- what each name holds, and the methods called on it -------------------------------------


def _definitions(statements: list[gast.stmt]) -> dict[str, list[gast.stmt]]:
    found: dict[str, list[gast.stmt]] = {}
    for stmt in statements:
        if isinstance(stmt, gast.For) and isinstance(stmt.target, gast.Name):
            found.setdefault(stmt.target.id, []).append(stmt)
        elif isinstance(stmt, gast.Assign):
            for target in stmt.targets:
                for sub in gast.walk(target):
                    if isinstance(sub, gast.Name) and isinstance(sub.ctx, gast.Store):
                        found.setdefault(sub.id, []).append(stmt)
    return found


_NOT_AN_INTEGER = object()


def _integer(node: gast.expr | None) -> object:
    """The int a slice bound spells (None for none), else ``_NOT_AN_INTEGER``."""
    if node is None:
        return None
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        inner = _integer(node.operand)
        return -inner if type(inner) is int else _NOT_AN_INTEGER
    if isinstance(node, gast.Constant) and type(node.value) is int:
        return node.value
    return _NOT_AN_INTEGER


def _element(kind: tuple | None, index: gast.expr | None) -> tuple | None:
    """The kind of an item of a list or tuple of ``kind`` at ``index`` (None: any)."""
    if not kind or kind[0] not in ("list", "tuple"):
        return None  # (() for what is not known to be a container: xs[t].dot(U))
    elements = kind[1]
    if isinstance(index, gast.Constant) and type(index.value) is int:
        position = index.value
        return elements[position] if -len(elements) <= position < len(elements) else None
    if isinstance(index, gast.Slice):
        values = [_integer(b) for b in (index.lower, index.upper, index.step)]
        if any(v is _NOT_AN_INTEGER for v in values):
            return None
        return (kind[0], elements[slice(*values)])
    first = elements[0] if elements else None
    return first if all(e == first for e in elements) else None


def object_kinds(statements: list[gast.stmt], ctx: TransformContext) -> dict[str, tuple]:
    """The kind (``runtime.objects.describe``) of every name that surely holds an object
    of a known class: an argument's, or what is read from one by attribute, index or
    loop. Flow-insensitive: a name bound to values of two kinds has none."""
    if not any(_holds_objects(kind) for kind in ctx.param_kinds.values()) and not any(
        isinstance(s, gast.Assign) and (is_build(s.value, ctx) or _is_super(s, ctx))
        for s in statements
    ):
        return {}  # (the common case: no object of a known class)
    definitions = _definitions(statements)
    rebound = _rebound(definitions, ctx)
    kinds = {
        name: kind
        for name, kind in ctx.param_kinds.items()
        if kind[:1] == ("object",) and name not in rebound
    }
    for name, kind in ctx.param_kinds.items():  # a list of objects: its items' kinds
        if _is_object_list(kind) and name not in rebound:
            kinds[name] = ("list", kind[2])

    def kind_of(stmt: gast.stmt) -> tuple | None:
        if isinstance(stmt, gast.Assign) and is_build(stmt.value, ctx):
            from .resolve import static_value

            cls = static_value(stmt.value.args[0], ctx)
            attributes = frozenset(k.value for k in getattr(stmt.value.args[1], "keys", ()))
            # (what its attributes hold is not known: any may hold a function)
            return ("object", cls, attributes or frozenset({"*"}), (), "made")
        if _is_super(stmt, ctx):
            first = ctx.parsed.params[0] if ctx.parsed.params else None
            owner = _class_cell(ctx)
            if first in kinds and owner is not None:
                return ("super", owner, first)
            return None
        if isinstance(stmt, gast.For):
            if isinstance(stmt.iter, gast.Name):
                return _element(kinds.get(stmt.iter.id), None)
            return None
        target, value = stmt.targets[0], stmt.value
        if not isinstance(target, gast.Name):
            return None
        if isinstance(value, gast.Name):
            return kinds.get(value.id)
        if is_field_store(value, ctx):  # obj = set_field(obj, ...): the same object
            return kinds.get(value.args[0].id)
        if isinstance(value, gast.Attribute) and isinstance(value.value, gast.Name):
            owner = kinds.get(value.value.id)
            if owner is not None and owner[0] == "object":
                return dict(owner[3]).get(value.attr)
            return None
        if isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name):
            return _element(kinds.get(value.value.id), value.slice)
        return None

    for _ in range(8):  # (chains as deep as models nest; each round follows one link)
        changed = False
        for name, defined in definitions.items():
            if name in kinds:
                continue
            found = {kind_of(stmt) for stmt in defined if not _stores_into(stmt, name, ctx)}
            if len(found) == 1 and None not in found:
                kinds[name] = found.pop()
                changed = True
        if not changed:
            break
    return kinds


def _holds_objects(kind: tuple) -> bool:
    return kind[:1] == ("object",) or _is_object_list(kind)


def _is_object_list(kind: tuple) -> bool:
    """Whether ``kind`` is a list of objects' (``("list", n, item kinds)``, astgrad.api._kind;
    a list of arrays carries its items' kinds too, ``("value", "ndarray", k)``)."""
    return kind[:1] == ("list",) and len(kind) > 2 and (kind[2][0] or ())[:1] == ("object",)


def _rebound(definitions: dict[str, list[gast.stmt]], ctx: TransformContext) -> set[str]:
    """The names bound by a statement other than an assignment of one of their attributes
    (``p = set_field(p, 'x', v)`` changes the object ``p`` holds, and leaves ``p`` bound
    to it)."""
    return {
        name
        for name, defined in definitions.items()
        if any(not _stores_into(stmt, name, ctx) for stmt in defined)
    }


def _class_lookup(cls: type, name: str, ctx: TransformContext) -> object | None:
    """``cls``'s own entry for ``name`` (through its bases, as Python looks it up), with
    the guard that it stays so: the entry in the class that defines it, and its absence
    from the classes before it."""
    return _lookup_from(cls.__mro__, name, ctx)


def _lookup_from(mro: tuple, name: str, ctx: TransformContext) -> object | None:
    for klass in mro:
        namespace = klass.__dict__
        if name in namespace:
            found = namespace[name]
            if isinstance(found, (classmethod, staticmethod, property)):
                ctx.parsed.recorder.entry_read(namespace, name, found)  # (not callable)
            else:
                ctx.parsed.recorder.global_read(namespace, name, found)
            return found
        ctx.parsed.recorder.global_read(namespace, name, MISSING)
    return None


def method_call(value: gast.expr, ctx: TransformContext) -> gast.expr | None:
    """``obj.method(a)`` (or ``obj(a)``, ``obj.prop``) on an object of a known class as a
    call of the class's function, ``Layer.method(obj, a)`` (``Layer.__call__(obj, a)``,
    ``Layer.prop.fget(obj)``), which the transform differentiates like any function of
    the user's; None when it is not such a read or call."""
    kinds = getattr(ctx, "object_kinds", None) or {}
    if isinstance(value, gast.Call) and _is_super_call(value, ctx) and _class_cell(ctx):
        # super() made explicit, super(Layer, self): generated code has no __class__ cell
        first = ctx.parsed.params[0] if ctx.parsed.params else None
        if first is None:
            return None
        owner = build.load(ctx.bind_free(_class_cell(ctx).__name__, _class_cell(ctx)))
        return gast.Call(func=value.func, args=[owner, build.load(first)], keywords=[])
    receiver: gast.expr | None = None
    attribute = None
    args: list[gast.expr] = []
    keywords: list[gast.keyword] = []
    if isinstance(value, gast.Call):
        func = value.func
        args, keywords = list(value.args), list(value.keywords)
        if isinstance(func, gast.Name) and func.id in kinds:
            receiver, attribute = func, "__call__"
        elif (
            isinstance(func, gast.Attribute)
            and isinstance(func.value, gast.Name)
            and func.value.id in kinds
        ):
            receiver, attribute = func.value, func.attr
    elif isinstance(value, gast.Attribute) and isinstance(value.value, gast.Name):
        if value.value.id in kinds:
            receiver, attribute = value.value, value.attr
    if receiver is None:
        return None
    kind = kinds[receiver.id]
    if kind[0] == "super":
        return _super_call(kind, attribute, args, keywords, value, ctx)
    if kind[0] != "object":
        return None  # (a list of objects: its attributes are a list's)
    cls, shadowing = kind[1], kind[2]
    if attribute in shadowing and attribute != "__call__":
        return None  # an attribute of the object holding a function: not the class's
    found = _class_lookup(cls, attribute, ctx)
    owner = build.load(ctx.bind_free(cls.__name__, cls))
    spelled = gast.Attribute(value=owner, attr=attribute, ctx=gast.Load())
    if isinstance(value, gast.Attribute):
        if not isinstance(found, property) or found.fget is None:
            return None
        getter = gast.Attribute(value=spelled, attr="fget", ctx=gast.Load())
        return gast.Call(func=getter, args=[copy_atom(receiver)], keywords=[])
    if isinstance(found, staticmethod):
        return gast.Call(func=spelled, args=args, keywords=keywords)
    if isinstance(found, types.FunctionType):
        return gast.Call(func=spelled, args=[copy_atom(receiver), *args], keywords=keywords)
    return None


def copy_atom(node: gast.expr) -> gast.expr:
    return build.load(node.id) if isinstance(node, gast.Name) else node


def callee_kinds(bound: dict[str, gast.expr], ctx: TransformContext) -> dict[str, tuple]:
    """The kinds of a user call's arguments that hold objects of known classes, by the
    callee's parameter names: its derivative is made for them (its own method calls and
    properties resolved); and of those that surely hold numbers (``ctx.scalar_names``, or
    a number written in the call), a float's: the callee's ``p += v`` then rebinds a
    number, which nothing else can see, where for an array it would change the caller's."""
    kinds = getattr(ctx, "object_kinds", None) or {}
    scalars = getattr(ctx, "scalar_names", frozenset())
    found = {}
    for param, atom in bound.items():
        if isinstance(atom, gast.Name) and kinds.get(atom.id, ("",))[0] == "object":
            found[param] = kinds[atom.id]
        elif (isinstance(atom, gast.Name) and atom.id in scalars) or (
            isinstance(atom, gast.Constant) and type(atom.value) is float
        ):
            found[param] = ("value", "float")
    return found


def label(function: types.FunctionType) -> str:
    """How generated names call ``function``: its name, or for a method its class's and
    its own without underscores (``MLP.__call__``: ``MLP_call``)."""
    name = function.__name__
    parts = getattr(function, "__qualname__", name).split(".")
    if len(parts) >= 2 and parts[-2] != "<locals>":
        return f"{parts[-2]}_{name.strip('_') or 'method'}"
    return name


def calls_a_field(func: gast.expr, ctx: TransformContext) -> bool:
    """Whether ``func`` (``self.second`` in ``self.second(x)``) reads an instance attribute
    of an argument of a known class, not one of its methods: ``normalize`` reads it into
    a name first, so that the call is a call of that object (``Linear.__call__``)."""
    if not (isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name)):
        return False
    kind = ctx.param_kinds.get(func.value.id, ())
    return (
        kind[:1] == ("object",) and func.attr in dict(kind[3]) and not hasattr(kind[1], func.attr)
    )


def _is_super_call(value: gast.expr, ctx: TransformContext) -> bool:
    """``super()`` with no arguments, the builtin (not a name of the user's)."""
    return (
        isinstance(value, gast.Call)
        and isinstance(value.func, gast.Name)
        and value.func.id == "super"
        and not value.args
        and not value.keywords
        and "super" not in ctx.local_names
        and "super" not in ctx.parsed.globals
    )


def _is_super(stmt: gast.stmt, ctx: TransformContext) -> bool:
    return isinstance(stmt, gast.Assign) and _is_super_call(stmt.value, ctx)


def _class_cell(ctx: TransformContext) -> type | None:
    """The class a method was defined in (its ``__class__`` cell, which ``super()`` reads)."""
    cell = ctx.parsed.function.__closure__ or ()
    names = ctx.parsed.function.__code__.co_freevars
    for name, value in zip(names, cell):
        if name == "__class__":
            try:
                return value.cell_contents
            except ValueError:
                return None
    return None


def _super_call(
    kind: tuple, attribute: str, args: list, keywords: list, value: gast.expr,
    ctx: TransformContext,
) -> gast.expr | None:  # fmt: skip
    """``super().m(a)`` in a method of ``Child`` on an object of a known class: the
    function ``m`` of the class after ``Child`` in that class's MRO, called with ``self``
    (``Base.m(self, a)``), with the guard that the classes between define none."""
    _, start, first = kind
    cls = ctx.object_kinds[first][1]
    mro = cls.__mro__
    if start not in mro or not isinstance(value, gast.Call):
        return None
    for klass in mro[mro.index(start) + 1 :]:
        namespace = klass.__dict__
        if attribute in namespace:
            found = namespace[attribute]
            ctx.parsed.recorder.global_read(namespace, attribute, found)
            if not isinstance(found, types.FunctionType):
                return None
            owner = build.load(ctx.bind_free(klass.__name__, klass))
            func = gast.Attribute(value=owner, attr=attribute, ctx=gast.Load())
            return gast.Call(func=func, args=[build.load(first), *args], keywords=keywords)
        ctx.parsed.recorder.global_read(namespace, attribute, MISSING)
    return None


def drop_unread_supers(node: gast.FunctionDef, ctx: TransformContext) -> bool:
    """Remove ``s = super(Layer, self)`` where nothing reads ``s`` any more (its method
    calls were made calls of the base class's functions); whether any was removed."""
    supers = {n for n, kind in ctx.object_kinds.items() if kind[0] == "super"}
    if not supers:
        return False
    read = {
        sub.id
        for sub in gast.walk(node)
        if isinstance(sub, gast.Name) and isinstance(sub.ctx, gast.Load)
    }
    unread = supers - read
    removed = False
    for sub in gast.walk(node):
        for name in ("body", "orelse"):
            body = getattr(sub, name, None)
            if not isinstance(body, list):
                continue
            kept = [
                s
                for s in body
                if not (
                    isinstance(s, gast.Assign)
                    and isinstance(s.targets[0], gast.Name)
                    and s.targets[0].id in unread
                )
            ]
            if len(kept) != len(body):
                removed = True
                body[:] = kept or [gast.Pass()]
    return removed


# -- objects made inside the function ----------------------------------------------------------

#: the callee of ``obj = make_object(Layer, attributes)``: its adjoint is the attributes'
BUILD = Callee("build", "a constructor")


def is_build(value: gast.expr, ctx: TransformContext) -> bool:
    from ..runtime.objects import make_object

    return (
        isinstance(value, gast.Call)
        and isinstance(value.func, gast.Name)
        and ctx.free_values.get(value.func.id) is make_object
    )


def constructor(func: gast.expr, ctx: TransformContext) -> gast.FunctionDef | None:
    """For a call of a class of the user's whose ``__init__`` only computes and assigns
    attributes of ``self`` (outside branches and loops, before reading them), calling
    its base class's ``__init__`` so at most (``super().__init__(...)``,
    ``Base.__init__(self, ...)``), a function of ``__init__``'s other parameters
    returning ``make_object(Class, {...})`` with those attributes, which ``normalize``
    inlines at the call: the object's adjoint (a dict of its attributes') then flows back
    through ``__init__``'s statements. A dataclass's generated ``__init__`` likewise
    (``dataclass_constructor``). None for anything else (the call stays a call: on the
    tape, or an error)."""
    from .resolve import _MISSING, static_value

    if not isinstance(func, (gast.Name, gast.Attribute)):
        return None
    cls = static_value(func, ctx)
    if cls is _MISSING or not isinstance(cls, type) or type(cls) is not type:
        return None
    if cls.__module__.split(".")[0] in ("numpy", "scipy", "astgrad", "builtins"):
        return None
    if dataclasses.is_dataclass(cls):
        return dataclass_constructor(cls, ctx)
    if cls.__bases__ == (tuple,) and isinstance(getattr(cls, "_fields", None), tuple):
        return namedtuple_constructor(cls, ctx)
    for klass in cls.__mro__[:-1]:  # (object's own __new__ and __init__ aside)
        if any(name in klass.__dict__ for name in _SPECIAL):
            return None  # made or changed otherwise than by assigning its attributes
    owner = next((k for k in cls.__mro__[:-1] if "__init__" in k.__dict__), None)
    if owner is None:
        return None
    fields: dict[str, str] = {}
    read: list[types.FunctionType] = []
    definition = _init_definition(owner.__dict__["__init__"], ctx, read)
    if definition is None:
        return None
    params = definition.args.posonlyargs + definition.args.args
    me = params[0].id
    taken = {n.id for n in gast.walk(definition) if isinstance(n, gast.Name)}
    body = _init_body(definition, me, cls, owner, fields, ctx, read, taken, depth=0)
    if body is None:
        return None
    if not fields or any(hasattr(getattr(cls, name, None), "__set__") for name in fields):
        return None  # (a property's setter would run: not a plain attribute)
    if not set(fields.values()) <= _surely_bound(body):
        return None  # (an attribute assigned on one branch only: the object may lack it)
    last = definition.body[-1]
    definition.body = [*body, _make_return(cls, fields, last, ctx)]
    definition.args.posonlyargs = [a for a in definition.args.posonlyargs if a.id != me]
    definition.args.args = [a for a in definition.args.args if a.id != me]
    for function in read:
        ctx.parsed.recorder.function(function)  # (its source was read)
    for klass in cls.__mro__[:-1]:
        for name in _SPECIAL:
            ctx.parsed.recorder.global_read(klass.__dict__, name, MISSING)
    for name in fields:  # (still no data descriptor of that name on the class)
        _class_lookup(cls, name, ctx)
    _class_lookup(cls, "__init__", ctx)
    inits = " and ".join(f.__qualname__ for f in read)
    definition.resolved = (cls.__qualname__, f"inline ({inits}), then make_object")
    return definition


def _init_definition(init: object, ctx: TransformContext, read: list) -> gast.FunctionDef | None:
    """The parsed ``__init__`` of a class of the function's module, with a ``self``
    parameter, no ``*args`` or ``**kwargs``, and constant defaults; None otherwise."""

    if not isinstance(init, types.FunctionType):
        return None
    if init.__closure__ and init.__code__.co_freevars != ("__class__",):
        return None  # (a cell other than the one super() reads)
    definition = parse_here(init, ctx)
    if definition is None:
        return None
    params = definition.args.posonlyargs + definition.args.args
    if not params or definition.args.vararg or definition.args.kwarg:
        return None
    # A default is the value it had when the class was made, which __init__ holds: read
    # that object by name (the guard on __init__ watches its __defaults__)
    values = list(init.__defaults__ or ())
    args = definition.args
    if len(values) != len(args.defaults):
        return None
    args.defaults = [_default_value(d, v, ctx) for d, v in zip(args.defaults, values)]
    kw_values = init.__kwdefaults__ or {}
    if any(
        d is not None and a.id not in kw_values for a, d in zip(args.kwonlyargs, args.kw_defaults)
    ):
        return None
    args.kw_defaults = [
        None if d is None else _default_value(d, kw_values[a.id], ctx)
        for a, d in zip(args.kwonlyargs, args.kw_defaults)
    ]
    read.append(init)
    return definition


def _default_value(node: gast.expr, value: object, ctx: TransformContext) -> gast.expr:
    """A parameter's default as generated code reads it: a constant as it is spelled, any
    other value by a name bound to the object the function holds."""
    if isinstance(node, gast.Constant):
        return node
    return build.load(ctx.bind_free("default", value))


def _init_body(
    definition: gast.FunctionDef,
    me: str,
    cls: type,
    owner: type,
    fields: dict[str, str],
    ctx: TransformContext,
    read: list,
    taken: set[str],
    depth: int,
    statements: list[gast.stmt] | None = None,
    given: frozenset = frozenset(),
) -> list[gast.stmt] | None:
    """The statements of ``owner.__init__`` (``definition``, run for an object of ``cls``)
    with ``me.X = v`` as assignments of the local ``fields[X]`` and reads of ``me.X`` as
    reads of it; a base class's ``__init__`` it calls, inline; an ``if`` whose branches
    do so, with its branches so (``statements``: a branch's). None when it does anything
    else with ``me``."""
    body = []
    for stmt in _split_tuple_stores(definition.body if statements is None else statements, me):
        stmt = _self_method_calls(stmt, me, cls, fields, body, ctx, statements is None, given)
        if stmt is None:
            return None
        if isinstance(stmt, gast.If) and _stores_attribute(stmt):
            if not _reads_only_known(stmt.test, me, fields):
                return None
            test = _read_fields(stmt.test, me, fields)  # (before either branch runs)
            parts = [
                _init_body(definition, me, cls, owner, fields, ctx, read, taken, depth, block)
                for block in (stmt.body, stmt.orelse)
            ]
            if parts[0] is None or parts[1] is None:
                return None
            branch = gast.If(test=test, body=parts[0] or [gast.Pass()], orelse=parts[1])
            body.append(gast.copy_location(branch, stmt))
            _copy_annotations(stmt, branch)
            continue
        if any(isinstance(n, gast.Name) and n.id == "super" for n in gast.walk(stmt)):
            if _base_init_call(stmt, me, cls, owner, ctx) is None:
                return None  # (super() but for __init__: inline it would name another class)
        target = stmt.targets[0] if isinstance(stmt, gast.Assign) else None
        if (
            isinstance(stmt, gast.Assign)
            and len(stmt.targets) == 1
            and isinstance(target, gast.Attribute)
            and isinstance(target.value, gast.Name)
            and target.value.id == me
        ):
            local = fields.setdefault(target.attr, f"self_{target.attr}")
            if not _reads_only_known(stmt.value, me, fields):
                return None
            assign = gast.Assign(
                targets=[gast.Name(id=local, ctx=gast.Store(), annotation=None, type_comment=None)],
                value=_read_fields(stmt.value, me, fields),
                type_comment=None,
            )
            body.append(gast.copy_location(assign, stmt))
            _copy_annotations(stmt, assign)
            continue
        if isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Constant):
            continue  # a docstring
        if isinstance(stmt, gast.Return) and stmt.value is None and stmt is definition.body[-1]:
            continue
        base = _base_init_call(stmt, me, cls, owner, ctx)
        if base is not None:  # super().__init__(w): the base class's __init__, inline
            inner = _base_init(stmt, base, me, cls, fields, ctx, read, taken, depth)
            if inner is None:
                return None
            body.extend(inner)
            continue
        if any(isinstance(n, gast.Name) and n.id == me for n in gast.walk(stmt)):
            if not _reads_only_known(stmt, me, fields) or _stores_attribute(stmt):
                return None
        if any(isinstance(n, (gast.Return, gast.Yield, gast.FunctionDef)) for n in gast.walk(stmt)):
            return None
        body.append(_read_fields(stmt, me, fields))
    return body


def _self_method_calls(
    stmt: gast.stmt,
    me: str,
    cls: type,
    fields: dict[str, str],
    done: list[gast.stmt],
    ctx: TransformContext,
    top: bool,
    given: frozenset = frozenset(),
) -> gast.stmt | None:
    """``stmt`` of an ``__init__`` with each ``self.m(a)`` (``m`` a method of ``cls`` that
    only reads data attributes of its ``self``: ``self.scale_of()``) as
    ``Cls.m(make_object(Cls, {those attributes}), a)``: the method runs, as its own
    derivative, on an object holding what ``self`` holds by then (each attribute it reads
    surely assigned before, outside branches). None when such a call cannot be shown
    so."""
    calls = [
        n
        for n in gast.walk(stmt)
        if isinstance(n, gast.Call)
        and isinstance(n.func, gast.Attribute)
        and isinstance(n.func.value, gast.Name)
        and n.func.value.id == me
    ]
    if not calls:
        return stmt
    if not top:
        return None
    surely = _surely_bound(done) | given  # (a dataclass's fields: its parameters)
    from .walk import copy_tree

    refused = False

    def replace(node: gast.AST) -> gast.AST | None:
        nonlocal refused
        if not any(node is call for call in calls):
            return None
        method = _class_lookup(cls, node.func.attr, ctx)
        reads = _data_reads(method, cls, ctx) if isinstance(method, types.FunctionType) else None
        if reads is None or any(fields.get(r) not in surely for r in reads):
            refused = True
            return None
        maker = build.load(ctx.bind_free("make_object", _make_object()))
        owner = ctx.bind_free(cls.__name__, cls)
        held = gast.Dict(
            keys=[gast.Constant(r, None) for r in reads],
            values=[build.load(fields[r]) for r in reads],
        )
        made = gast.Call(func=maker, args=[build.load(owner), held], keywords=[])
        func = gast.Attribute(value=build.load(owner), attr=node.func.attr, ctx=gast.Load())
        args = [copy_tree(a, replace) for a in node.args]
        keywords = [
            gast.keyword(arg=k.arg, value=copy_tree(k.value, replace)) for k in node.keywords
        ]
        return gast.copy_location(gast.Call(func=func, args=[made, *args], keywords=keywords), node)

    result = copy_tree(stmt, replace)
    _copy_annotations(stmt, result)
    return None if refused else result


def _data_reads(function: types.FunctionType, cls: type, ctx: TransformContext) -> list[str] | None:
    """The attributes ``function`` (a method) reads of its ``self``, where it uses ``self``
    for nothing else: no method of it called, no ``self`` handed on or returned."""
    if function.__closure__:
        return None
    definition = parse_here(function, ctx)
    if definition is None:
        return None
    params = definition.args.posonlyargs + definition.args.args
    if not params:
        return None
    me = params[0].id
    reads: list[str] = []
    allowed: set[int] = set()
    for node in gast.walk(definition):
        if isinstance(node, gast.Attribute) and isinstance(node.value, gast.Name):
            if node.value.id == me and isinstance(node.ctx, gast.Load):
                if callable(inspect_static(cls, node.attr)) or hasattr(
                    inspect_static(cls, node.attr), "__get__"
                ):
                    return None  # (a method or a property of it: more than data)
                allowed.add(id(node.value))
                if node.attr not in reads:
                    reads.append(node.attr)
    for node in gast.walk(definition):
        if isinstance(node, gast.Name) and node.id == me and node is not params[0]:
            if id(node) not in allowed:
                return None
    return reads


def _surely_bound(body: list[gast.stmt]) -> set[str]:
    """The names ``body`` binds on every path through it (both branches of an ``if``)."""
    bound: set[str] = set()
    for stmt in body:
        if isinstance(stmt, gast.Assign):
            for target in stmt.targets:
                bound |= {
                    n.id
                    for n in gast.walk(target)
                    if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)
                }
        elif isinstance(stmt, gast.If):
            bound |= _surely_bound(stmt.body) & _surely_bound(stmt.orelse)
    return bound


def _base_init_call(
    stmt: gast.stmt, me: str, cls: type, owner: type, ctx: TransformContext
) -> type | None:
    """For ``super().__init__(...)`` (the builtin ``super``, in ``owner``'s ``__init__``)
    or ``Base.__init__(self, ...)`` (``Base`` a class after ``owner`` in ``cls``'s MRO),
    the class whose MRO entries after ``owner`` (or from ``Base``) are searched for the
    ``__init__`` it calls; None for any other statement."""
    from .resolve import static_value

    call = stmt.value if isinstance(stmt, gast.Expr) else None
    if not (
        isinstance(call, gast.Call)
        and isinstance(call.func, gast.Attribute)
        and call.func.attr == "__init__"
    ):
        return None
    receiver = call.func.value
    mro = cls.__mro__
    if (
        isinstance(receiver, gast.Call)
        and isinstance(receiver.func, gast.Name)
        and receiver.func.id == "super"
        and not receiver.args
        and ctx.parsed.function.__globals__.get("super", builtins.super) is builtins.super
    ):
        return mro[mro.index(owner) + 1] if owner in mro[:-1] else None
    base = (
        static_value(receiver, ctx) if isinstance(receiver, (gast.Name, gast.Attribute)) else None
    )
    if (
        isinstance(base, type)
        and base in mro[mro.index(owner) + 1 :]
        and call.args
        and isinstance(call.args[0], gast.Name)
        and call.args[0].id == me
    ):
        return base
    return None


def _base_init(
    stmt: gast.Expr,
    start: type,
    me: str,
    cls: type,
    fields: dict[str, str],
    ctx: TransformContext,
    read: list,
    taken: set[str],
    depth: int,
) -> list[gast.stmt] | None:
    """``start``'s ``__init__`` (looked up from ``start`` on, in ``cls``'s MRO), its
    parameters bound to the call's arguments and its locals renamed apart, run on the
    same fields; nothing for ``object.__init__()``."""
    call = stmt.value
    explicit = not isinstance(call.func.value, gast.Call)
    args = call.args[1:] if explicit else call.args
    mro = cls.__mro__
    owner = next((k for k in mro[mro.index(start) :] if "__init__" in k.__dict__), object)
    _lookup_from(mro[mro.index(start) :], "__init__", ctx)  # (the guard that it stays so)
    if owner is object:
        return [] if not args and not call.keywords else None
    if depth > 8 or any(isinstance(a, gast.Starred) for a in args):
        return None
    if any(k.arg is None for k in call.keywords):
        return None
    definition = _init_definition(owner.__dict__["__init__"], ctx, read)
    if definition is None:
        return None
    params = [a.id for a in definition.args.posonlyargs + definition.args.args]
    keyword_only = [a.id for a in definition.args.kwonlyargs]
    base_me, params = params[0], params[1:]
    if len(args) > len(params):
        return None
    bound = dict(zip(params, args))
    for keyword in call.keywords:
        if keyword.arg in bound or keyword.arg not in params + keyword_only:
            return None
        bound[keyword.arg] = keyword.value
    defaults = dict(
        zip(params[len(params) - len(definition.args.defaults) :], definition.args.defaults)
    )
    defaults.update(
        {a.id: d for a, d in zip(definition.args.kwonlyargs, definition.args.kw_defaults) if d}
    )
    prefix = f"{owner.__name__.lower()}_"
    local = set(params) | set(keyword_only)
    for sub in gast.walk(definition):
        if isinstance(sub, gast.Name) and not isinstance(sub.ctx, gast.Load):
            local.add(sub.id)
    local.discard(base_me)
    if any(prefix + name in taken for name in local):
        return None  # (a name of the caller's __init__ already: they would clash)
    taken |= {prefix + name for name in local}
    body = []
    for param in params + keyword_only:
        value = bound.get(param, defaults.get(param))
        if value is None:
            return None  # (a missing argument: Python raises TypeError)
        if not _reads_only_known(value, me, fields):
            return None
        assign = build.assign(prefix + param, _read_fields(value, me, fields))
        gast.copy_location(assign, stmt)
        _copy_annotations(stmt, assign)
        body.append(assign)
    for sub in gast.walk(definition):
        if isinstance(sub, gast.Name) and sub.id in local:
            sub.id = prefix + sub.id
    inner = _init_body(definition, base_me, cls, owner, fields, ctx, read, taken, depth + 1)
    return None if inner is None else body + inner


def dataclass_constructor(cls: type, ctx: TransformContext) -> gast.FunctionDef | None:
    """For a dataclass whose generated ``__init__`` assigns each field its argument (no
    ``InitVar`` or ``init=False``), a function of the fields returning
    ``make_object(cls, {...})``, which makes what calling it makes (a frozen one's
    ``__init__`` sets its fields with ``object.__setattr__`` too): keyword-only fields
    are keyword-only parameters, a default is the value ``__init__`` holds (read by
    name, not copied) and a ``default_factory`` is called where the argument is missing,
    as ``__init__`` does; a ``__post_init__`` that computes and assigns fields (as an
    ``__init__`` that ``constructor`` inlines does) runs inline after them. None
    otherwise."""
    params = cls.__dataclass_params__
    if not params.init or "__init__" not in cls.__dict__:
        return None
    post_init = None
    for klass in cls.__mro__[:-1]:
        own = [name for name in _SPECIAL if name in klass.__dict__]
        if params.frozen:
            own = [name for name in own if name != "__setattr__"]  # (it refuses changes)
        if own and own != ["__post_init__"]:
            return None
    if hasattr(cls, "__post_init__"):
        post_init = _class_lookup(cls, "__post_init__", ctx)
        if params.frozen or not isinstance(post_init, types.FunctionType):
            return None
    init = cls.__dict__["__init__"]
    if getattr(init, "__code__", None) is None or init.__code__.co_filename != "<string>":
        return None  # (an __init__ written by the user, not the one dataclass generated)
    initvar = getattr(dataclasses, "_FIELD_INITVAR", None)
    if any(getattr(f, "_field_type", None) is initvar for f in cls.__dataclass_fields__.values()):
        return None  # (an InitVar goes to __post_init__, not to a field)
    positional, keyword_only, defaults, kw_defaults = [], [], [], []
    for item in dataclasses.fields(cls):
        if not item.init:
            return None
        default = _field_default(cls, item, ctx)
        if item.kw_only:
            keyword_only.append(build.param(item.name))
            kw_defaults.append(default)
        else:
            if default is None and defaults:
                return None
            if default is not None:
                defaults.append(default)
            positional.append(build.param(item.name))
    names = [a.id for a in positional + keyword_only]
    if any(hasattr(cls.__dict__.get(name), "__set__") for name in names):
        return None
    origin = next(iter(ctx.parsed.node.body), None)
    definition = gast.FunctionDef(
        name=cls.__name__.lower(),
        args=gast.arguments(
            args=positional, posonlyargs=[], vararg=None, kwonlyargs=keyword_only,
            kw_defaults=kw_defaults, kwarg=None, defaults=defaults,
        ),
        body=[], decorator_list=[], returns=None, type_comment=None, type_params=[],
    )  # fmt: skip
    fields = {n: n for n in names}
    body: list[gast.stmt] = []
    if post_init is not None:
        body = _post_init_body(post_init, cls, fields, ctx)
        if body is None:
            return None
    definition.body = [*body, _make_return(cls, fields, origin, ctx)]
    how = "make_object of its fields (a dataclass)"
    if post_init is not None:
        how = f"make_object of its fields (a dataclass), {post_init.__qualname__} inline"
    definition.resolved = (cls.__qualname__, how)
    _class_lookup(cls, "__init__", ctx)  # (the guard that it stays the generated one)
    for klass in cls.__mro__[:-1]:
        for name in _SPECIAL:
            ctx.parsed.recorder.global_read(klass.__dict__, name, klass.__dict__.get(name, MISSING))
    return definition


def _field_default(cls: type, item: dataclasses.Field, ctx: TransformContext) -> gast.expr | None:
    """What the generated ``__init__`` gives a field whose argument is missing: a constant,
    the default object itself (by name: the one ``__init__`` holds), a call of its
    ``default_factory``; None for a required field."""
    if item.default_factory is not dataclasses.MISSING:
        factory = ctx.bind_free(f"{item.name}_factory", item.default_factory)
        return build.call(factory)
    if item.default is dataclasses.MISSING:
        return None
    if type(item.default) in (int, float, bool, str, type(None)):
        return gast.Constant(item.default, None)
    return build.load(ctx.bind_free(f"{item.name}_default", item.default))


def _post_init_body(
    function: types.FunctionType, cls: type, fields: dict[str, str], ctx: TransformContext
) -> list[gast.stmt] | None:
    """The body of a dataclass's ``__post_init__`` with ``self.X`` read and assigned as the
    local of field ``X`` (``_init_body``), or None when it does more."""
    if function.__closure__:
        return None  # (super() in it, or a cell)
    definition = parse_here(function, ctx)
    if definition is None:
        return None
    args = definition.args
    params = args.posonlyargs + args.args
    if len(params) != 1 or args.vararg or args.kwarg or args.kwonlyargs:
        return None
    me = params[0].id
    taken = {n.id for n in gast.walk(definition) if isinstance(n, gast.Name)}
    if taken & set(fields.values()):
        return None  # (a name of its own that is a field's local too)
    owner = next(k for k in cls.__mro__ if "__post_init__" in k.__dict__)
    read: list = []
    given = set(fields.values())
    body = _init_body(
        definition, me, cls, owner, fields, ctx, read, taken, depth=0, given=frozenset(given)
    )
    if body is None or len(set(fields.values())) != len(fields):
        return None
    if not set(fields.values()) - given <= _surely_bound(body):
        return None  # (an attribute assigned on one branch only: the object may lack it)
    ctx.parsed.recorder.function(function)  # (its source was read)
    for init in read:
        ctx.parsed.recorder.function(init)
    return body


def namedtuple_constructor(cls: type, ctx: TransformContext) -> gast.FunctionDef | None:
    """For a NamedTuple (``typing.NamedTuple`` or ``collections.namedtuple``) with the
    ``__new__`` they generate and constant defaults, a function of its fields returning
    ``make_object(cls, (field, ...))``: the tuple its fields make, whose adjoint (a list,
    as a NamedTuple argument's is) goes to each field. None otherwise."""
    new = cls.__dict__.get("__new__")
    function = getattr(new, "__func__", None)
    code = getattr(function, "__code__", None)
    if code is None or code.co_filename != "<string>" or "__init__" in cls.__dict__:
        return None  # (a __new__ written by the user, not the one namedtuple generated)
    defaults = []
    for name in cls._fields:
        if name in cls._field_defaults:
            default = cls._field_defaults[name]
            if type(default) in (int, float, bool, str, type(None)):
                defaults.append(gast.Constant(default, None))
            else:  # (the object __new__ holds, by name: shared, as calling it shares it)
                defaults.append(build.load(ctx.bind_free(f"{name}_default", default)))
        elif defaults:
            return None
    origin = next(iter(ctx.parsed.node.body), None)
    definition = gast.FunctionDef(
        name=cls.__name__.lower(),
        args=gast.arguments(
            args=[build.param(name) for name in cls._fields], posonlyargs=[], vararg=None,
            kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=defaults,
        ),
        body=[], decorator_list=[], returns=None, type_comment=None, type_params=[],
    )  # fmt: skip
    maker = build.load(ctx.bind_free("make_object", _make_object()))
    owner = build.load(ctx.bind_free(cls.__name__, cls))
    items = gast.Tuple(elts=[build.load(name) for name in cls._fields], ctx=gast.Load())
    result = gast.Return(value=gast.Call(func=maker, args=[owner, items], keywords=[]))
    gast.copy_location(result, origin)
    _copy_annotations(origin, result)
    definition.body = [result]
    ctx.parsed.recorder.entry_read(cls.__dict__, "__new__", new)  # (stays the generated one)
    definition.resolved = (cls.__qualname__, "make_object of its fields (a NamedTuple)")
    return definition


def _make_return(
    cls: type, fields: dict[str, str], last: gast.stmt, ctx: TransformContext
) -> gast.Return:
    """``return make_object(cls, {name: local, ...})``, at ``last``'s line."""
    maker = build.load(ctx.bind_free("make_object", _make_object()))
    owner = build.load(ctx.bind_free(cls.__name__, cls))
    attributes = gast.Dict(
        keys=[gast.Constant(name, None) for name in fields],
        values=[build.load(local) for local in fields.values()],
    )
    result = gast.Return(value=gast.Call(func=maker, args=[owner, attributes], keywords=[]))
    gast.copy_location(result, last)
    _copy_annotations(last, result)
    return result


#: what a class must not define for make_object to make what calling it makes
_SPECIAL = ("__new__", "__setattr__", "__getattribute__", "__getattr__", "__post_init__")


def _split_tuple_stores(body: list[gast.stmt], me: str) -> list[gast.stmt]:
    """``self.W, self.b = W, b`` as ``self.W = W`` and ``self.b = b`` when the values do
    not read ``self`` (so the order of the assignments does not matter)."""
    out = []
    for stmt in body:
        target = stmt.targets[0] if isinstance(stmt, gast.Assign) else None
        if (
            isinstance(target, gast.Tuple)
            and isinstance(stmt.value, gast.Tuple)
            and len(target.elts) == len(stmt.value.elts)
            and all(
                isinstance(t, gast.Attribute)
                and isinstance(t.value, gast.Name)
                and t.value.id == me
                for t in target.elts
            )
            and not any(isinstance(n, gast.Name) and n.id == me for n in gast.walk(stmt.value))
        ):
            for t, v in zip(target.elts, stmt.value.elts):
                part = gast.Assign(targets=[t], value=v, type_comment=None)
                gast.copy_location(part, stmt)
                _copy_annotations(stmt, part)
                out.append(part)
            continue
        out.append(stmt)
    return out


def _make_object():
    from ..runtime.objects import make_object

    return make_object


def _copy_annotations(source: gast.AST, target: gast.AST) -> None:
    from . import anno

    for sub in gast.walk(target):
        if not anno.has(sub, anno.Key.ORIGIN) and anno.has(source, anno.Key.ORIGIN):
            anno.copy_from(sub, source, anno.Key.ORIGIN)


def _stores_attribute(stmt: gast.AST) -> bool:
    return any(
        isinstance(n, gast.Attribute) and isinstance(n.ctx, (gast.Store, gast.Del))
        for n in gast.walk(stmt)
    )


def _reads_only_known(node: gast.AST, me: str, fields: dict[str, str]) -> bool:
    """Whether every use of ``me`` in ``node`` reads an attribute already assigned."""
    allowed = set()
    for sub in gast.walk(node):
        if isinstance(sub, gast.Attribute) and isinstance(sub.value, gast.Name):
            if sub.value.id == me and isinstance(sub.ctx, gast.Load) and sub.attr in fields:
                allowed.add(id(sub.value))
    return all(
        id(sub) in allowed for sub in gast.walk(node) if isinstance(sub, gast.Name) and sub.id == me
    )


def _read_fields(node: gast.AST, me: str, fields: dict[str, str]) -> gast.AST:
    """``node`` with each ``me.X`` read as the local of attribute ``X``."""
    from .walk import copy_tree

    def replace(sub: gast.AST) -> gast.AST | None:
        if (
            isinstance(sub, gast.Attribute)
            and isinstance(sub.value, gast.Name)
            and sub.value.id == me
            and sub.attr in fields
            and isinstance(sub.ctx, gast.Load)
        ):
            return build.load(fields[sub.attr])
        return None

    return copy_tree(node, replace)


# -- attributes written: only an object the function made ---------------------------------------

#: the callee of ``obj = set_field(obj, 'attr', v)`` (``obj.attr = v``)
FIELD_STORE = Callee("field_store", "attribute assignment")


def field_setter():
    from ..runtime.objects import set_field

    return set_field


def is_field_store(value: gast.expr, ctx: TransformContext) -> bool:
    from ..runtime.objects import set_field

    return (
        isinstance(value, gast.Call)
        and isinstance(value.func, gast.Name)
        and ctx.free_values.get(value.func.id) is set_field
    )


def check_field_stores(statements: list[gast.stmt], ctx: TransformContext) -> None:
    """``obj.attr = v`` is differentiated only where ``obj`` surely holds an object the
    function made itself (``make_object``), or is a parameter holding an object whose
    class sets that attribute plainly (the caller's object is changed, as Python changes
    it). (Whether another name may hold the object is the effects analysis's question.)"""
    from .origin import of as origin_of

    for stmt in statements:
        if isinstance(stmt, gast.Assign) and is_field_store(stmt.value, ctx):
            owner = stmt.value.args[0].id
            kind = ctx.object_kinds.get(owner, ())
            if owner in _nested(ctx):  # h.inner.x = v (h_inner = set_field(h_inner, ...))
                accepted = _nested_writable(owner, stmt, statements, ctx)
            elif owner in element_owners(ctx):  # p.x = v, p an item of ps: put back after
                accepted = kind[:1] == ("object",) and _sets_plainly(
                    kind[1], stmt.value.args[1].value, ctx
                )
            else:
                # (an object it made: unless its class's property setter, another
                # descriptor or __setattr__ would run instead of a plain binding)
                made = kind[4:5] == ("made",) and _binds_plainly(
                    kind[1], stmt.value.args[1].value, ctx
                )
                accepted = made or _writable_argument(owner, stmt, ctx)
            if not accepted:
                raise TransformError(
                    "assigning to an attribute (obj.attr = ...) is not supported by the "
                    "source transformation, but for an object the function made itself or "
                    "an argument's object whose class sets it plainly (no __setattr__, not "
                    f"frozen, no property of that name; `{owner}` may be another object, or "
                    "one made by a call it does not see into)",
                    origin_of(stmt),
                    'Use mode="auto" or mode="tape", which run this function on the tape.',
                )


def check_operators(statements: list[gast.stmt], ctx: TransformContext) -> None:
    """An operator on an object of a known class (``c + c``, ``c += v``, ``-c``) runs the
    class's own method (``__add__``, ``__iadd__``), which generated code would take for
    array arithmetic: such a function goes to the tape. (In core code each operand is a
    name or a constant.)"""
    from .origin import of as origin_of

    # the names that may hold such an object: of a known kind, or bound anywhere to one
    # the function builds (``c = make_object(...)`` then ``c = c + v``: two kinds, none)
    classes = {name: kind[1] for name, kind in ctx.object_kinds.items() if kind[:1] == ("object",)}
    for name, kind in ctx.param_kinds.items():
        if kind[:1] == ("object",):
            classes.setdefault(name, kind[1])
    for stmt in statements:
        if (
            isinstance(stmt, gast.Assign)
            and isinstance(stmt.targets[0], gast.Name)
            and is_build(stmt.value, ctx)
        ):
            from .resolve import static_value

            classes.setdefault(stmt.targets[0].id, static_value(stmt.value.args[0], ctx))
    copied = True
    while copied:  # (c = made: c may hold it too)
        copied = False
        for stmt in statements:
            if (
                isinstance(stmt, gast.Assign)
                and isinstance(stmt.targets[0], gast.Name)
                and isinstance(stmt.value, gast.Name)
                and stmt.value.id in classes
                and stmt.targets[0].id not in classes
            ):
                classes[stmt.targets[0].id] = classes[stmt.value.id]
                copied = True
    if not classes:
        return
    for stmt in statements:
        operands: list[gast.expr] = []
        if isinstance(stmt, gast.AugAssign):
            operands = [stmt.target, stmt.value]
        value = getattr(stmt, "value", None)
        if isinstance(value, gast.BinOp):
            operands += [value.left, value.right]
        elif isinstance(value, gast.UnaryOp):
            operands.append(value.operand)
        for operand in operands:
            if isinstance(operand, gast.Name) and operand.id in classes:
                cls = getattr(classes[operand.id], "__qualname__", "its class")
                raise TransformError(
                    f"an operator on `{operand.id}`, an object of {cls}, runs the class's own "
                    "method (__add__, __iadd__, ...), which the source transformation does not "
                    "differentiate",
                    origin_of(stmt),
                    'Use mode="auto" or mode="tape", which run this function on the tape, or '
                    "call a method by name (c.combined(d)).",
                )


def attribute_chain(node: gast.expr) -> bool:
    """Whether ``node`` is ``a.b`` or ``a.b.c`` (attributes read from a name): the object
    ``a.b.c.x = v`` changes is reached through it."""
    while isinstance(node, (gast.Attribute, gast.Subscript)):
        node = node.value
        if isinstance(node, gast.Name):
            return True
    return False


def note_nested(ctx: TransformContext, name: str, parent: str, attr: str) -> None:
    """Remember that ``name`` holds ``parent.attr``, read to assign one of its attributes
    (``normalize.nested_store``) and put back after."""
    _nested(ctx)[name] = (parent, attr)


def _nested(ctx: TransformContext) -> dict[str, tuple[str, str]]:
    return vars(ctx).setdefault("nested_owners", {})


def _path(name: str, ctx: TransformContext) -> tuple[str, tuple[str, ...]]:
    """The name a nested owner was read from first, and the attributes read on the way."""
    nested, attrs = _nested(ctx), []
    while name in nested:
        name, attr = nested[name]
        attrs.append(attr)
    return name, tuple(reversed(attrs))


def _is_put_back(stmt: gast.Assign, ctx: TransformContext) -> bool:
    """``h = set_field(h, 'inner', h_inner)`` putting back the object ``h_inner`` read."""
    value = stmt.value
    child = value.args[2] if len(value.args) == 3 else None
    return isinstance(child, gast.Name) and _nested(ctx).get(child.id) == (
        value.args[0].id,
        value.args[1].value,
    )


def written_paths(param: str, ctx: TransformContext) -> tuple[tuple[str, ...], ...]:
    """The attribute chains of ``param`` whose objects the function changes (``h.inner``
    for ``h.inner.x = v``): ``runtime.objects.unshared_object`` checks that nothing else
    reaches them."""
    found = {_path(name, ctx) for name in _nested(ctx)}
    return tuple(sorted(path for root, path in found if root == param))


def nested_roots(ctx: TransformContext) -> dict[str, str]:
    """Each name holding an object read through a chain to assign one of its attributes
    (``h_inner`` for ``h.inner.x = v``), and the name the chain starts from (``h``)."""
    return {name: _path(name, ctx)[0] for name in _nested(ctx)}


def _nested_writable(owner: str, stmt: gast.Assign, statements, ctx: TransformContext) -> bool:
    """Whether ``h_inner = set_field(h_inner, 'x', v)`` (``h.inner.x = v``) changes what
    Python changes: ``h`` an argument's object never rebound, each object of the chain of
    a known class that sets that attribute plainly, and no attribute of the chain itself
    assigned in the function (the object changed is then the one at entry, which a check
    at run time finds reached by this chain alone)."""
    root, path = _path(owner, ctx)
    if root not in ctx.parsed.params or ctx.object_kinds.get(root, ())[:1] not in (
        ("object",),
        ("list",),  # (particles[i].x = v on a list of objects given as an argument)
    ):
        return False
    chain = [root, *(n for n in _chain_names(owner, ctx))]
    attrs = [*path, stmt.value.args[1].value]
    for name, attr in zip(chain, attrs):
        kind = ctx.object_kinds.get(name, ())
        if attr == "[]":  # (an item of a list: stored back into it plainly)
            if kind[:1] != ("list",):
                return False
            continue
        if kind[:1] != ("object",) or not _sets_plainly(kind[1], attr, ctx):
            return False
    assigned = set()
    for other in statements:
        if isinstance(other, gast.Assign) and is_field_store(other.value, ctx):
            if not _is_put_back(other, ctx):
                start, route = _path(other.value.args[0].id, ctx)
                assigned.add((start, (*route, other.value.args[1].value)))
    full = (*path, stmt.value.args[1].value)
    return not any((root, full[:n]) in assigned for n in range(1, len(full)))


def _chain_names(owner: str, ctx: TransformContext) -> list[str]:
    nested, names = _nested(ctx), []
    while owner in nested:
        names.append(owner)
        owner = nested[owner][0]
    return list(reversed(names))


def _sets_plainly(cls: type, name: str, ctx: TransformContext) -> bool:
    """Whether ``obj.name = v`` on an object of ``cls`` only binds the attribute (no
    ``__setattr__``, not frozen, no property or other descriptor of that name but a
    slot), with the guard that it stays so."""
    for klass in cls.__mro__[:-1]:
        if any(special in klass.__dict__ for special in _SPECIAL):
            return False
    found = _class_lookup(cls, name, ctx)
    if hasattr(found, "__set__") and not isinstance(found, types.MemberDescriptorType):
        return False
    for klass in cls.__mro__[:-1]:  # (the guard that none is defined later)
        for special in _SPECIAL:
            ctx.parsed.recorder.global_read(klass.__dict__, special, MISSING)
    return True


def _binds_plainly(cls: object, name: str, ctx: TransformContext) -> bool:
    """Whether ``obj.name = v`` on an object of ``cls`` the function made only binds the
    attribute: no ``__setattr__`` of the class's own and no property or other data
    descriptor of that name but a slot (a property's setter would compute something else
    from ``v``), with the guard that it stays so."""
    if not isinstance(cls, type):
        return False
    for klass in cls.__mro__[:-1]:
        if "__setattr__" in klass.__dict__:
            return False
    found = _class_lookup(cls, name, ctx)
    if hasattr(found, "__set__") and not isinstance(found, types.MemberDescriptorType):
        return False
    for klass in cls.__mro__[:-1]:  # (the guard that none is defined later)
        ctx.parsed.recorder.global_read(klass.__dict__, "__setattr__", MISSING)
    return True


def _writable_argument(owner: str, stmt: gast.Assign, ctx: TransformContext) -> bool:
    """Whether ``owner = set_field(owner, 'x', v)`` assigns an attribute of a parameter's
    object as Python would: an object of a known class that sets its attributes plainly
    (no ``__setattr__``, not frozen, no property or other descriptor of that name but a
    slot). Whether another name may hold it is the effects analysis's question, and
    whether another argument reaches it, a check at run time."""
    kind = ctx.param_kinds.get(owner, ())
    if owner not in ctx.parsed.params or kind[:1] != ("object",):
        return False
    return _sets_plainly(kind[1], stmt.value.args[1].value, ctx)


def _stores_into(stmt: gast.stmt, name: str, ctx: TransformContext) -> bool:
    """Whether ``stmt`` is ``name = set_field(name, ...)``: it changes, not binds, ``name``."""
    return (
        isinstance(stmt, gast.Assign)
        and is_field_store(stmt.value, ctx)
        and isinstance(stmt.value.args[0], gast.Name)
        and stmt.value.args[0].id == name
    )


def made_method(func: gast.expr, made: dict, ctx: TransformContext) -> gast.FunctionDef | None:
    """For ``obj.m(a)`` where ``obj`` holds an object made inline (``make_object``, bound
    once), the method's definition with ``self`` read as ``obj`` and no ``self``
    parameter, for ``normalize`` to inline: its attribute assignments then change ``obj``
    (``set_field``), as the method changes the object. None when the method is not a
    plain function of the same module whose body names ``self`` only to use it."""

    if not (
        isinstance(func, gast.Attribute)
        and isinstance(func.value, gast.Name)
        and func.value.id in made
    ):
        return None
    owner = func.value.id
    found = _class_lookup(made[owner], func.attr, ctx)
    if not isinstance(found, types.FunctionType):
        return None
    if found.__closure__ and found.__code__.co_freevars != ("__class__",):
        return None  # (a cell other than the one super() reads)
    plain = _plain_method(found, ctx)
    if plain is None:
        return None
    definition, first = plain
    args = definition.args
    me = first.id
    if found.__closure__ and not _super_calls_named(definition, me, made[owner], found, ctx):
        return None
    names = {n.id for n in gast.walk(definition) if isinstance(n, gast.Name)} - {me}
    if owner in names:
        return None  # (the method has a name of the caller's object's: they would clash)
    body = gast.Module(body=definition.body, type_ignores=[])
    for node in gast.walk(body):
        if isinstance(node, gast.Name) and node.id == me and not isinstance(node.ctx, gast.Load):
            return None  # self rebound, or deleted
        if isinstance(node, (gast.FunctionDef, gast.Lambda, gast.Yield)):
            return None
    ctx.parsed.recorder.function(found)  # (its source was read)
    for node in gast.walk(body):
        if isinstance(node, gast.Name) and node.id == me:
            node.id = owner
    args.posonlyargs = [a for a in args.posonlyargs if a.id != me]
    args.args = [a for a in args.args if a.id != me]
    definition.resolved = (found.__qualname__, f"inline, with self as `{owner}`")
    return definition


def _super_calls_named(
    definition: gast.FunctionDef, me: str, cls: type, function: types.FunctionType, ctx
) -> bool:
    """Make each ``super().m(a)`` in ``function`` (a method of an object of ``cls``) the
    call it is, ``Base.m(me, a)``: inline, ``super()`` would read the caller's frame.
    False when ``super`` is used otherwise, or ``m`` is no plain function."""
    defining = function.__closure__[0].cell_contents
    mro = cls.__mro__
    if defining not in mro or ctx.parsed.function.__globals__.get("super", builtins.super) is not (
        builtins.super
    ):
        return False
    calls = []
    for node in gast.walk(definition):
        if (
            isinstance(node, gast.Call)
            and isinstance(node.func, gast.Attribute)
            and isinstance(node.func.value, gast.Call)
            and isinstance(node.func.value.func, gast.Name)
            and node.func.value.func.id == "super"
            and not node.func.value.args
            and not node.func.value.keywords
        ):
            calls.append(node)
    supers = [n for n in gast.walk(definition) if isinstance(n, gast.Name) and n.id == "super"]
    if len(supers) != len(calls):
        return False  # (super used otherwise: super(Cls, self), a super() kept in a name)
    for node in calls:
        after = mro[mro.index(defining) + 1 :]
        target = _lookup_from(after, node.func.attr, ctx)
        if not isinstance(target, types.FunctionType):
            return False
        owner = next(k for k in after if node.func.attr in k.__dict__)
        name = ctx.bind_free(owner.__name__, owner)
        node.func = gast.Attribute(value=build.load(name), attr=node.func.attr, ctx=gast.Load())
        node.args = [build.load(me), *node.args]
    return True


def writes_arguments(ctx: TransformContext) -> bool:
    """Whether the derivative assigns attributes of an argument's object (its aliasing
    check, ``runtime.objects.unshared_object``, is among the values it calls)."""
    from ..runtime.objects import unshared_object

    return any(value is unshared_object for value in ctx.free_values.values())


def written_parameters(statements, ctx: TransformContext) -> set[str]:
    """The parameters holding objects whose attributes the function assigns
    (``p = set_field(p, 'x', v)``), never rebound otherwise."""
    found = set()
    for stmt in statements:
        if isinstance(stmt, gast.Assign) and is_field_store(stmt.value, ctx):
            owner = stmt.value.args[0]
            if isinstance(owner, gast.Name) and owner.id in ctx.parsed.params:
                found.add(owner.id)
    if found:
        found -= _rebound(_definitions(list(statements)), ctx)
    return found


def argument_method(
    func: gast.expr, bindings: dict[str, int], ctx: TransformContext
) -> gast.FunctionDef | None:
    """For ``p.m(a)`` where ``p`` is a parameter holding an object of a known class (never
    rebound) and ``m`` assigns attributes of its ``self``, the method's definition for
    ``normalize`` to inline, as ``made_method`` makes it: its assignments then change
    ``p``'s object (``set_field``), as calling it does, in the function itself, where
    ``effects`` checks them. A method that assigns none stays a call of its own
    derivative."""
    if not (
        isinstance(func, gast.Attribute)
        and isinstance(func.value, gast.Name)
        and func.value.id in ctx.parsed.params
        and not bindings.get(func.value.id)
    ):
        return None
    kind = ctx.param_kinds.get(func.value.id, ())
    if kind[:1] != ("object",) or func.attr in kind[2]:
        return None  # (an attribute holding a function shadows the class's method)
    found = getattr(kind[1], func.attr, None)
    if not isinstance(found, types.FunctionType) or not _assigns_self(found, kind[1]):
        return None
    definition = made_method(func, {func.value.id: kind[1]}, ctx)
    if definition is not None:
        definition.resolved = (
            found.__qualname__,
            f"inline, since it assigns attributes of the argument `{func.value.id}`",
        )
    return definition


def chain_method(
    func: gast.expr, bindings: dict[str, int], ctx: TransformContext
) -> gast.FunctionDef | None:
    """For ``h.spring.step(dt)`` where ``h`` is a parameter holding an object of a known
    class (never rebound), ``h.spring`` an object it holds (its kind known) and ``step``
    assigns attributes of its ``self``: the method's definition with each ``self`` read as
    ``h.spring``, for ``normalize`` to inline, as ``argument_method`` does for ``h.m()``:
    its ``self.x = v`` are then ``h.spring.x = v``, whose chain is checked and put back
    (``normalize.nested_store``). None for anything else."""
    if not isinstance(func, gast.Attribute) or not isinstance(
        func.value, (gast.Attribute, gast.Subscript)
    ):
        return None
    steps, node = [], func.value
    while isinstance(node, (gast.Attribute, gast.Subscript)):
        if isinstance(node, gast.Subscript) and not isinstance(
            node.slice, (gast.Name, gast.Constant)
        ):
            return None  # (read again at each self: an index that cannot change only)
        steps.append(node)
        node = node.value
    if not isinstance(node, gast.Name) or node.id not in ctx.parsed.params:
        return None
    if bindings.get(node.id):
        return None
    kind = ctx.param_kinds.get(node.id, ())
    if kind[:1] in (("list",), ("tuple",)):  # (particles[i].step(dt): api._kind's)
        # (a list of objects, with its items' kinds; a tuple, or a list of anything else,
        # has no object's methods to call)
        kind = ("list", kind[2]) if _is_object_list(kind) else ()
    for step in reversed(steps):
        if isinstance(step, gast.Subscript):
            if isinstance(step.slice, gast.Name) and (
                bindings.get(step.slice.id, 0) > 1 or step.slice.id not in ctx.local_names
            ):
                return None  # (an index bound twice, or a global, may change between reads)
            kind = _element(kind, None) or ()
            continue
        if kind[:1] != ("object",) or step.attr in kind[2]:
            return None
        kind = dict(kind[3]).get(step.attr, ())
    if kind[:1] != ("object",) or func.attr in kind[2]:
        return None
    found = _class_lookup(kind[1], func.attr, ctx)
    if not isinstance(found, types.FunctionType) or not _assigns_self(found, kind[1]):
        return None
    if found.__closure__:
        return None  # (super() in it: left a call)
    plain = _plain_method(found, ctx)
    if plain is None:
        return None
    definition, first = plain
    args = definition.args
    me = first.id
    names = {n.id for n in gast.walk(definition) if isinstance(n, gast.Name)} - {me}
    if {n.id for n in gast.walk(func.value) if isinstance(n, gast.Name)} & names:
        return None  # (the method has a name the caller's object is read by: they'd clash)
    body = gast.Module(body=definition.body, type_ignores=[])
    for sub in gast.walk(body):
        if isinstance(sub, gast.Name) and sub.id == me and not isinstance(sub.ctx, gast.Load):
            return None  # self rebound, or deleted
        if isinstance(sub, (gast.FunctionDef, gast.Lambda, gast.Yield)):
            return None
    from .walk import copy_tree

    def replace(sub: gast.AST) -> gast.AST | None:
        if isinstance(sub, gast.Name) and sub.id == me:
            return gast.copy_location(copy_tree(func.value, lambda _: None), sub)
        return None

    definition.body = [copy_tree(stmt, replace) for stmt in definition.body]
    ctx.parsed.recorder.function(found)  # (its source was read)
    args.posonlyargs = [a for a in args.posonlyargs if a.id != me]
    args.args = [a for a in args.args if a.id != me]
    spelled = source_text(func.value)
    definition.resolved = (
        found.__qualname__,
        f"inline, with self as `{spelled}` (it assigns attributes of the object `{spelled}`)",
    )
    return definition


def list_element(stmt: gast.For, bindings: dict[str, int], ctx: TransformContext) -> str | None:
    """For ``for p in ps`` where ``ps`` is a parameter (never rebound) holding a list of
    objects of one kind and the body never binds ``p``: ``ps``, whose items the body may
    change (``normalize.element_loop``). None otherwise."""
    it, target = stmt.iter, stmt.target
    if not (isinstance(it, gast.Name) and isinstance(target, gast.Name)):
        return None
    if it.id not in ctx.parsed.params or bindings.get(it.id) or it.id == target.id:
        return None
    if _element_kind(it.id, ctx) is None:
        return None
    for node in gast.walk(gast.Module(body=stmt.body, type_ignores=[])):
        if isinstance(node, gast.Name) and node.id in (target.id, it.id):
            if not isinstance(node.ctx, gast.Load):
                return None  # (p or ps bound again in the body)
        if isinstance(node, (gast.FunctionDef, gast.Lambda, gast.NamedExpr)):
            return None
    return it.id


def held_list(
    stmt: gast.For, bindings: dict[str, int], ctx: TransformContext
) -> tuple[str, list[str], tuple] | None:
    """For ``for layer in m.layers`` where ``m`` is a parameter (never rebound) holding an
    object of a known class whose ``layers`` holds a list of objects of one kind, and
    the body binds neither ``layer`` nor ``m``: ``("m", ["layers"], the items' kind)``
    (``normalize.held_list_loop``). None otherwise."""
    it, target = stmt.iter, stmt.target
    if not isinstance(it, gast.Attribute) or not isinstance(target, gast.Name):
        return None
    attrs, node = [], it
    while isinstance(node, gast.Attribute):
        attrs.append(node.attr)
        node = node.value
    attrs.reverse()
    if not isinstance(node, gast.Name) or node.id not in ctx.parsed.params:
        return None
    if bindings.get(node.id) or node.id == target.id:
        return None
    kind = ctx.param_kinds.get(node.id, ())
    for attr in attrs:
        if kind[:1] != ("object",) or attr in kind[2]:
            return None
        kind = dict(kind[3]).get(attr, ())
    if kind[:1] != ("list",) or not kind[1]:
        return None
    first = kind[1][0]
    if first is None or first[0] != "object" or any(k != first for k in kind[1]):
        return None
    for sub in gast.walk(gast.Module(body=stmt.body, type_ignores=[])):
        if isinstance(sub, gast.Name) and sub.id in (target.id, node.id):
            if not isinstance(sub.ctx, gast.Load):
                return None
        if isinstance(sub, (gast.FunctionDef, gast.Lambda, gast.NamedExpr)):
            return None
    return node.id, attrs, first


def element_kind(sequence: str, ctx: TransformContext) -> tuple | None:
    """The kind of the items of the argument ``sequence``, a list of objects of one kind."""
    return _element_kind(sequence, ctx)


def _element_kind(sequence: str, ctx: TransformContext) -> tuple | None:
    kind = ctx.param_kinds.get(sequence, ())
    if kind[:1] != ("list",) or len(kind) < 3 or not kind[2]:
        return None  # (("list", n, kinds): a list of objects, astgrad.api._kind)
    first = kind[2][0]
    if first is None or first[0] != "object" or any(k != first for k in kind[2]):
        return None
    return first


def element_method(
    func: gast.expr, elements: dict[str, tuple[str, str]], ctx: TransformContext
) -> gast.FunctionDef | None:
    """For ``p.step(dt)`` where ``p`` is the loop variable of ``for p in ps`` over an
    argument's list of objects and ``step`` assigns attributes of its ``self``: the
    method's definition with ``self`` read as ``p``, to inline, as ``made_method``
    makes it; each assignment then puts ``p`` back into ``ps`` (``normalize``)."""
    if not (
        isinstance(func, gast.Attribute)
        and isinstance(func.value, gast.Name)
        and func.value.id in elements
    ):
        return None
    kind = elements[func.value.id][2]
    if kind is None or func.attr in kind[2]:
        return None
    found = inspect_static(kind[1], func.attr)
    if not isinstance(found, types.FunctionType) or not _assigns_self(found, kind[1]):
        return None
    definition = made_method(func, {func.value.id: kind[1]}, ctx)
    if definition is not None:
        sequence = elements[func.value.id][0]
        definition.resolved = (
            found.__qualname__,
            f"inline, since it assigns attributes of an item of the argument `{sequence}`",
        )
    return definition


def put_backs(ctx: TransformContext) -> set[tuple[str, str, str]]:
    """``(p, ps, index)`` of each ``ps[index] = p`` that follows ``p = set_field(p, ...)``
    on an item of the argument ``ps`` (``normalize.element_loop``; ``index`` a name of
    the loop's own, which nothing else reads or binds)."""
    return vars(ctx).setdefault("put_backs", set())


def element_owners(ctx: TransformContext) -> dict[str, str]:
    """Each loop variable whose attributes the function assigns, and the argument's list
    it is an item of."""
    return {element: sequence for element, sequence, _ in put_backs(ctx)}


def is_put_back(stmt: gast.stmt, ctx: TransformContext) -> bool:
    """Whether ``stmt`` is ``ps[index] = p``, putting back the item ``p`` was read from."""
    if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Subscript)):
        return False
    target, value = stmt.targets[0], stmt.value
    names = (value, target.value, target.slice)
    if not all(isinstance(n, gast.Name) for n in names):
        return False
    return tuple(n.id for n in names) in put_backs(ctx)


def _assigns_self(function: types.FunctionType, cls: type, depth: int = 0) -> bool:
    """Whether ``function``'s source assigns an attribute of its first parameter, or calls
    a method of it (``self.bounce(dt)``, looked up on ``cls``) that does."""
    from .parsing import parse_function

    try:
        definition = parse_function(function).node
    except Exception:
        return False
    params = definition.args.posonlyargs + definition.args.args
    if not params:
        return False
    me = params[0].id
    held = {me}  # (and the variables of loops over what it holds: for layer in self.layers)
    for node in gast.walk(definition):
        if isinstance(node, gast.For) and isinstance(node.target, gast.Name):
            root = node.iter
            while isinstance(root, gast.Attribute):
                root = root.value
            if isinstance(root, gast.Name) and root.id == me and root is not node.iter:
                held.add(node.target.id)
    for node in gast.walk(definition):
        if isinstance(node, gast.Attribute) and isinstance(node.ctx, gast.Store):
            root = node.value
            while isinstance(root, (gast.Attribute, gast.Subscript)):
                root = root.value
            if isinstance(root, gast.Name) and root.id in held:
                return True  # (self.inner.x = v, self.layers[i].W = v: what self holds)
        if not (isinstance(node, gast.Attribute) and isinstance(node.value, gast.Name)):
            continue
        if node.value.id != me:
            continue
        if isinstance(node.ctx, gast.Store):
            return True
        if depth < 8:
            found = inspect_static(cls, node.attr)
            if isinstance(found, types.FunctionType) and found is not function:
                if _assigns_self(found, cls, depth + 1):
                    return True
    return False


def class_method(func: gast.expr, ctx: TransformContext) -> gast.FunctionDef | None:
    """For ``Layer.make(w)`` where ``make`` is a classmethod of a class of the function's
    module (a plain function whose first parameter is never rebound), its definition
    without that parameter and with each read of it naming the class it is bound to, for
    ``normalize`` to inline: ``cls(w)`` in it is then a call of that class
    (``constructor``), ``cls.scale`` a read of its attribute."""
    from .resolve import _MISSING, static_value

    if not isinstance(func, gast.Attribute) or not isinstance(
        func.value, (gast.Name, gast.Attribute)
    ):
        return None
    bound = static_value(func, ctx)
    if bound is _MISSING or not isinstance(bound, types.MethodType):
        return None
    owner, function = bound.__self__, bound.__func__
    if not isinstance(owner, type) or not isinstance(function, types.FunctionType):
        return None
    if not isinstance(inspect_static(owner, func.attr), classmethod):
        return None
    if function.__closure__:
        return None
    plain = _plain_method(function, ctx)
    if plain is None:
        return None
    definition, first = plain
    args = definition.args
    me = first.id
    for node in gast.walk(definition):
        if isinstance(node, gast.Name) and node.id == me and not isinstance(node.ctx, gast.Load):
            if node is not first:
                return None  # cls rebound
        if isinstance(node, (gast.FunctionDef, gast.Lambda, gast.Yield)) and node is not definition:
            return None
    name = ctx.bind_free(owner.__name__, owner)
    for node in gast.walk(gast.Module(body=definition.body, type_ignores=[])):
        if isinstance(node, gast.Name) and node.id == me:
            node.id = name
    args.posonlyargs = [a for a in args.posonlyargs if a.id != me]
    args.args = [a for a in args.args if a.id != me]
    ctx.parsed.recorder.function(function)  # (its source was read)
    _class_lookup(owner, func.attr, ctx)  # (the guard that it stays the classmethod)
    definition.resolved = (function.__qualname__, f"inline, a classmethod with cls = {name}")
    return definition


def inspect_static(cls: type, name: str) -> object | None:
    """``cls``'s own entry for ``name``, found through its MRO without binding it."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def note_call(ctx: TransformContext, call: str, origin: object, function: str, how: str) -> None:
    """Say, for ``ag.explain``, that the call spelled ``call`` at ``origin`` resolved to
    ``function`` and runs ``how``."""
    entry = (call, origin, function, how)
    if entry not in ctx.object_calls:
        ctx.object_calls.append(entry)


def note_method(
    ctx: TransformContext, value: gast.expr, called: gast.expr, stmt: gast.stmt
) -> None:
    """Note a method call (or property read) resolved to its class's function, for
    ``ag.explain``: it is differentiated as a function of its own, ``self`` an argument."""
    from .origin import of as origin_of

    function = source_text(called.func) if isinstance(called, gast.Call) else source_text(called)
    if function.endswith(".fget"):
        function, how = function[: -len(".fget")], "its getter's derivative (a property)"
    else:
        how = "its own derivative, self an argument"
    spelled = source_text(value)
    if isinstance(value, gast.Call):
        spelled = f"{source_text(value.func)}(...)"
    note_call(ctx, spelled, origin_of(stmt), function, how)


def function_assigning(
    call: gast.Call, made: dict, bindings: dict[str, int], ctx: TransformContext
) -> tuple[gast.FunctionDef, gast.Call] | None:
    """For ``advance(p, dt)`` where ``advance`` is a plain function of the same module
    that assigns attributes of a parameter given an object the caller can follow (an
    argument's object never rebound, or one made inline), its definition with that
    parameter read as the caller's name and dropped, and the call without that
    argument, for ``normalize`` to inline, as a method that assigns ``self``'s
    attributes is (``argument_method``). None for any other call."""
    from .resolve import _MISSING, static_value

    func = call.func
    if not isinstance(func, (gast.Name, gast.Attribute)) or call.keywords:
        return None
    function = static_value(func, ctx)
    if function is _MISSING or not isinstance(function, types.FunctionType):
        return None
    if function.__closure__ or not _assigns_a_parameter(function):
        return None
    definition = parse_here(function, ctx)
    if definition is None:
        return None
    args = definition.args
    params = [a.id for a in args.posonlyargs + args.args]
    if args.vararg or args.kwarg or args.kwonlyargs or len(call.args) > len(params):
        return None
    if not all(isinstance(d, gast.Constant) for d in args.defaults):
        return None
    stored = {
        node.value.id
        for node in gast.walk(definition)
        if isinstance(node, gast.Attribute)
        and isinstance(node.ctx, gast.Store)
        and isinstance(node.value, gast.Name)
    }
    names = {n.id for n in gast.walk(definition) if isinstance(n, gast.Name)}
    replaced: dict[str, str] = {}
    for position, param in enumerate(params):
        if param not in stored:
            continue
        if position >= len(call.args) or not isinstance(call.args[position], gast.Name):
            return None
        owner = call.args[position].id
        followed = owner in made or (
            owner in ctx.parsed.params
            and not bindings.get(owner)
            and ctx.param_kinds.get(owner, ())[:1] == ("object",)
        )
        if not followed or (owner in names and owner != param) or owner in replaced.values():
            return None
        replaced[param] = owner
    body = gast.Module(body=definition.body, type_ignores=[])
    for node in gast.walk(body):
        if isinstance(node, gast.Name) and node.id in replaced:
            if not isinstance(node.ctx, gast.Load):
                return None  # the parameter rebound
        if isinstance(node, (gast.FunctionDef, gast.Lambda, gast.Yield)):
            return None
    for node in gast.walk(body):
        if isinstance(node, gast.Name) and node.id in replaced:
            node.id = replaced[node.id]
    args.posonlyargs = [a for a in args.posonlyargs if a.id not in replaced]
    kept = [i for i, p in enumerate(params) if p not in replaced]
    args.args = [a for a in args.args if a.id not in replaced]
    remaining = [call.args[i] for i in kept if i < len(call.args)]
    ctx.parsed.recorder.function(function)  # (its source was read)
    owners = ", ".join(f"`{o}`" for o in replaced.values())
    definition.resolved = (
        function.__qualname__,
        f"inline, since it assigns attributes of {owners}",
    )
    return definition, gast.Call(func=func, args=remaining, keywords=[])


def _assigns_a_parameter(function: types.FunctionType) -> bool:
    """Whether ``function``'s source assigns an attribute of one of its parameters."""
    code = function.__code__
    params = set(code.co_varnames[: code.co_argcount + code.co_posonlyargcount])
    from .parsing import parse_function

    try:
        definition = parse_function(function).node
    except Exception:
        return False
    return any(
        isinstance(node, gast.Attribute)
        and isinstance(node.ctx, gast.Store)
        and isinstance(node.value, gast.Name)
        and node.value.id in params
        for node in gast.walk(definition)
    )


def parse_here(function: types.FunctionType, ctx: TransformContext) -> gast.FunctionDef | None:
    """``function``'s definition, to be inlined into the function being differentiated:
    as it is when both are of one module; else (a class of another module) with each of
    the names it reads from its module read through that module (``other.np``,
    ``other.SCALE``, live, as it reads them), and None when that cannot be shown to be
    the same (its module is not imported as such, or a builtin it uses is a global of
    the caller's module)."""
    import sys

    from .parsing import parse_function

    try:
        definition = parse_function(function).node
    except Exception:
        return None
    here = ctx.parsed.function.__globals__
    theirs = function.__globals__
    if theirs is here:
        return definition
    module = sys.modules.get(function.__module__)
    if module is None or vars(module) is not theirs:
        return None
    local = {
        node.id
        for node in gast.walk(definition)
        if isinstance(node, gast.Name) and not isinstance(node.ctx, gast.Load)
    }
    alias = None
    refused = False

    def replace(node: gast.AST) -> gast.AST | None:
        nonlocal alias, refused
        if not (isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load)):
            return None
        if node.id in local:
            return None
        if node.id in theirs:
            if alias is None:
                alias = ctx.bind_free(module.__name__.split(".")[-1], module)
            read = gast.Attribute(value=build.load(alias), attr=node.id, ctx=gast.Load())
            return gast.copy_location(read, node)
        if node.id in here or not hasattr(builtins, node.id):
            refused = True  # (a builtin of theirs that the caller's module shadows)
            return None
        for namespace in (theirs, here):  # (the guard that neither defines it later)
            ctx.parsed.recorder.global_read(namespace, node.id, MISSING)
        return None

    from .walk import copy_tree

    definition.body = [copy_tree(stmt, replace) for stmt in definition.body]
    args = definition.args
    args.defaults = [copy_tree(d, replace) for d in args.defaults]
    return None if refused else definition


def _plain_method(function: types.FunctionType, ctx) -> tuple[gast.FunctionDef, gast.Name] | None:
    """``function``'s parsed definition and its first parameter (the object or the class),
    for a method that can run inline: a first parameter, no ``*args``/``**kwargs``, and
    only constants as defaults; None otherwise."""
    definition = parse_here(function, ctx)
    if definition is None:
        return None
    args = definition.args
    params = args.posonlyargs + args.args
    if not params or args.vararg or args.kwarg:
        return None
    if not all(
        d is None or isinstance(d, gast.Constant) for d in [*args.defaults, *args.kw_defaults]
    ):
        return None
    return definition, params[0]
