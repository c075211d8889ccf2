"""The ``ast`` tree of a parsed function as a ``gast`` tree, as ``gast.ast_to_gast`` makes it.

gast's converter visits every node through a ``NodeTransformer`` (a method lookup, a dict
of fields made by a comprehension, a try per location attribute): a fifth of parsing a
function, and recursive, so a deeply nested expression needs the recursion limit raised
first, which needs a walk of its own to measure the depth. This makes the same tree with
one loop over a stack of nodes, and measures the depth on the way.

The rule gast follows, and so this: each node becomes the ``gast`` class of its name,
with the fields the ``ast`` node has (converted) and its location attributes; a node
class gast has none of becomes None. The kinds gast converts its own way on this Python
(``Ast3ToGAst``'s ``visit_*`` methods) are done here as gast does them where listed in
``_OWN``: a ``Name`` gains gast's ``annotation`` and ``type_comment`` (None); a
parameter (``ast.arg``) becomes a ``Name`` in ``Param`` context; an except clause's name
becomes a ``Name``; a definition gains ``type_params`` (empty) before Python 3.12. Any
other kind gast treats specially goes to gast itself (``gast.ast_to_gast`` on that
subtree). ``tests/test_convert.py`` compares the two on every source file of the
repository.
"""

from __future__ import annotations

import ast
from typing import Any

import gast
import gast.ast3

__all__ = ["to_gast"]

#: the kinds gast's converter treats specially on this Python
_SPECIAL = frozenset(
    name[len("visit_") :] for name in vars(gast.ast3.Ast3ToGAst) if name.startswith("visit_")
)
#: of those, the ones this module converts itself (as gast 0.6-0.7 does)
_OWN = frozenset({"Name", "arg", "ExceptHandler", "FunctionDef", "AsyncFunctionDef", "ClassDef"})
_LOCATION = ("lineno", "col_offset", "end_lineno", "end_col_offset")
#: ast class -> the gast class of its name (None: gast has none)
_CLASSES: dict[type, Any] = {}


def to_gast(tree: ast.AST) -> tuple[gast.AST, int]:
    """``gast.ast_to_gast(tree)``, and how deeply its nodes nest (``tree`` at 1)."""
    root: list[Any] = [None]
    todo: list[tuple[ast.AST, Any, Any, int]] = [(tree, root, 0, 1)]
    deepest = 0
    push = todo.append
    classes = _CLASSES
    while todo:
        node, container, key, level = todo.pop()
        if level > deepest:
            deepest = level
        kind = type(node)
        name = kind.__name__
        below = level + 1
        if name in _SPECIAL:
            made = _special(node, name, push, below)
            if name in ("Name", "arg") and below > deepest:
                deepest = below  # (its context, a node below it, made on the way)
        else:
            target = classes.get(kind, _MISSING)
            if target is _MISSING:
                target = classes[kind] = getattr(gast, name, None)
            if target is None:
                container[key] = None
                continue
            made = target()
            fields = made.__dict__
            present = node.__dict__
            for field in node._fields:
                if field not in present:
                    continue
                value = present[field]
                if isinstance(value, ast.AST):
                    fields[field] = None
                    push((value, made, field, below))
                elif type(value) is list:
                    items = list(value)
                    fields[field] = items
                    for position, item in enumerate(items):
                        if isinstance(item, ast.AST):
                            push((item, items, position, below))
                else:
                    fields[field] = value
            for attribute in node._attributes:
                if attribute in present:
                    fields[attribute] = present[attribute]
        if type(container) is list:
            container[key] = made
        else:
            setattr(container, key, made)
    return root[0], deepest


_MISSING = object()


def _located(made: gast.AST, node: ast.AST) -> gast.AST:
    present = node.__dict__
    for attribute in _LOCATION:
        if attribute in present:
            setattr(made, attribute, present[attribute])
    return made


def _ctx(node: ast.AST) -> gast.AST:
    return getattr(gast, type(node.ctx).__name__)()


def _special(node: ast.AST, name: str, push, below: int) -> gast.AST:
    """A node of a kind gast converts its own way."""
    if name not in _OWN or (name == "ExceptHandler" and not node.name):
        if name == "ExceptHandler":  # (without a name: gast's generic conversion)
            return _generic(node, push, below)
        return gast.ast_to_gast(node)  # (gast's own, on this subtree)
    if name == "Name":
        return _located(gast.Name(node.id, _ctx(node), None, None), node)
    if name == "arg":
        made = gast.Name(node.arg, gast.Param(), None, node.type_comment)
        if node.annotation is not None:
            push((node.annotation, made, "annotation", below))
        return _located(made, node)
    if name == "ExceptHandler":
        made = gast.ExceptHandler(None, gast.Name(node.name, gast.Store(), None, None), [])
        _children(node, made, ("type", "body"), push, below)
        return _located(made, node)
    if name in ("FunctionDef", "AsyncFunctionDef"):
        made = getattr(gast, name)(node.name, None, [], [], None, node.type_comment, [])
        _children(node, made, ("args", "body", "decorator_list", "returns"), push, below)
        return _located(made, node)
    made = gast.ClassDef(node.name, [], [], [], [], [])  # (ClassDef)
    _children(node, made, ("bases", "keywords", "body", "decorator_list"), push, below)
    return _located(made, node)


def _children(node: ast.AST, made: gast.AST, fields: tuple[str, ...], push, below: int) -> None:
    for field in fields:
        value = getattr(node, field)
        if isinstance(value, ast.AST):
            push((value, made, field, below))
        elif type(value) is list:
            items = list(value)
            setattr(made, field, items)
            for position, item in enumerate(items):
                if isinstance(item, ast.AST):
                    push((item, items, position, below))


def _generic(node: ast.AST, push, below: int) -> gast.AST:
    made = getattr(gast, type(node).__name__)()
    present = node.__dict__
    for field in node._fields:
        if field in present:
            setattr(made, field, None)
    _children(node, made, tuple(f for f in node._fields if f in present), push, below)
    for field in node._fields:
        if field in present and not isinstance(present[field], (ast.AST, list)):
            setattr(made, field, present[field])
    for attribute in node._attributes:
        if attribute in present:
            setattr(made, attribute, present[attribute])
    return made
