"""Builders for the small nodes every pass makes: names, assignments, calls, attributes,
loops.

Each builds exactly the node the parser would for the same source, fields and all, so a
built node prints, compiles and compares like a parsed one. Passes make nodes with these
rather than by hand, and rather than each keeping its own copy.
"""

from __future__ import annotations

import gast

# The names and assignments every pass makes are made without gast's constructor (a
# Python ``__init__`` per node, checking its arguments: a second of every hundred of a
# large function's first call): a bare node of the class, its fields set in its dict,
# as the constructor sets them.
_Name, _Load, _Store, _Del, _Assign = gast.Name, gast.Load, gast.Store, gast.Del, gast.Assign
_new = gast.AST.__new__


def _name(name: str, context: type) -> gast.Name:
    node = _new(_Name)
    fields = node.__dict__
    fields["id"] = name
    fields["ctx"] = _new(context)
    fields["annotation"] = None
    fields["type_comment"] = None
    return node


def load(name: str) -> gast.Name:
    """``name`` read."""
    return _name(name, _Load)


def store(name: str) -> gast.Name:
    """``name`` as an assignment's target."""
    return _name(name, _Store)


def deleted(name: str) -> gast.Name:
    """``name`` as a ``del`` statement's target."""
    return _name(name, _Del)


def delete(names: list[str]) -> gast.Delete:
    """``del name, ...``."""
    return gast.Delete(targets=[deleted(name) for name in names])


def param(name: str) -> gast.Name:
    """``name`` as a function's parameter."""
    return gast.Name(id=name, ctx=gast.Param(), annotation=None, type_comment=None)


def assign(name: str, value: gast.expr) -> gast.Assign:
    """``name = value``."""
    node = _new(_Assign)
    fields = node.__dict__
    fields["targets"] = [_name(name, _Store)]
    fields["value"] = value
    fields["type_comment"] = None
    return node


def call(function: str, *args: gast.expr) -> gast.Call:
    """``function(*args)``, for a function named by ``function``, without keywords."""
    return gast.Call(func=load(function), args=list(args), keywords=[])


def attribute(name: str, attr: str) -> gast.Attribute:
    """``name.attr`` read."""
    return gast.Attribute(value=load(name), attr=attr, ctx=gast.Load())


def function(name: str, args: gast.arguments, body: list[gast.stmt]) -> gast.FunctionDef:
    """``def name(args): body``, with no decorators, annotations on its parameters removed
    (a generated function is compiled where the user's annotations may mean nothing)."""
    for arg in args.posonlyargs + args.args + args.kwonlyargs:
        arg.annotation = None
    return gast.FunctionDef(
        name=name,
        args=args,
        body=body,
        decorator_list=[],
        returns=None,
        type_comment=None,
        type_params=[],
    )


def for_loop(target: gast.expr, iterable: gast.expr, body: list[gast.stmt]) -> gast.For:
    """``for target in iterable:`` running ``body``, with no ``else``."""
    return gast.For(target=target, iter=iterable, body=body, orelse=[], type_comment=None)
