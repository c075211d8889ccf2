"""Parse a Python function into a gast tree, with what later passes need to know about it.

The tree is a fresh copy each time (passes may mutate it). Every node carries the origin
(file, line, statement text) of the user code it came from.
"""

from __future__ import annotations

import inspect
import linecache
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gast

from . import anno
from .errors import TAPE_ADVICE, TransformError
from .origin import Origin
from .walk import walk


@dataclass
class ParsedFunction:
    """A user function and its tree, plus the namespaces its names resolve in."""

    function: Callable
    node: gast.FunctionDef
    filename: str
    globals: dict
    #: closure variable name -> cell, read live by generated code
    cells: dict[str, Any]
    #: positional parameter names, in order
    params: list[str]
    lines: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.node.name


def _unwrap(function: Callable) -> Callable:
    """The function whose code runs when ``function`` is called.

    A Python function is read as it is, even when it carries ``__wrapped__``
    (``functools.wraps``): its own code is what runs, and a wrapper may change the value
    (``return fn(x) * 2``) or the grad mode (``@ag.no_grad``). Other callables that name
    what they wrap (``functools.lru_cache``) are followed to it."""
    seen = set()
    while (
        not isinstance(function, types.FunctionType)
        and hasattr(function, "__wrapped__")
        and id(function) not in seen
    ):
        seen.add(id(function))
        function = function.__wrapped__
    return function


def parse_function(function: Callable) -> ParsedFunction:
    """Parse ``function``; raise :class:`TransformError` when its source is not available."""
    function = _unwrap(function)
    if not isinstance(function, types.FunctionType):
        raise TransformError(
            f"{getattr(function, '__qualname__', function)!r} is not a Python function "
            f"(it is a {type(function).__name__}), so it has no source to transform.",
            advice=TAPE_ADVICE,
        )
    try:
        # From the code object: inspect would follow __wrapped__ to another function.
        lines, first_line = inspect.getsourcelines(function.__code__)
        filename = inspect.getsourcefile(function.__code__) or function.__code__.co_filename
    except (OSError, TypeError) as exc:
        raise TransformError(
            f"the source of {function.__qualname__} is not available ({exc}); functions "
            "typed at an interactive prompt or made by exec() cannot be transformed.",
            advice=TAPE_ADVICE,
        ) from None
    source = textwrap.dedent("".join(lines))
    try:
        module = gast.parse(source)
    except SyntaxError as exc:
        raise TransformError(
            f"could not parse the source of {function.__qualname__}: {exc}", advice=TAPE_ADVICE
        ) from None
    node = _find_definition(module, function)
    if node is None:
        raise TransformError(
            f"could not find the definition of {function.__qualname__} in its source "
            "(a lambda sharing its line with another, or source that changed on disk).",
            advice=TAPE_ADVICE,
        )
    if isinstance(node, gast.Lambda):
        node = _lambda_as_def(node, function)
    node.decorator_list = []
    all_lines = linecache.getlines(filename) or lines
    _stamp_origins(
        node, filename, first_line, all_lines, source.splitlines(), function.__qualname__
    )
    closure = function.__closure__ or ()
    cells = dict(zip(function.__code__.co_freevars, closure))
    params = [a.id for a in node.args.posonlyargs + node.args.args]
    return ParsedFunction(function, node, filename, function.__globals__, cells, params, all_lines)


def _find_definition(module: gast.Module, function: Callable) -> gast.AST | None:
    name = function.__code__.co_name  # (__name__ may be another's, given by functools.wraps)
    if name == "<lambda>":
        lambdas = [n for n in walk(module) if isinstance(n, gast.Lambda)]
        wanted = function.__code__.co_varnames[: function.__code__.co_argcount]
        matching = [n for n in lambdas if tuple(a.id for a in n.args.args) == wanted]
        return matching[0] if len(matching) == 1 else None
    for node in module.body:
        if isinstance(node, (gast.FunctionDef, gast.AsyncFunctionDef)) and node.name == name:
            return node
    return None


def _lambda_as_def(node: gast.Lambda, function: Callable) -> gast.FunctionDef:
    body = gast.Return(value=node.body)
    gast.copy_location(body, node)
    definition = gast.FunctionDef(
        name="lambda_",
        args=node.args,
        body=[body],
        decorator_list=[],
        returns=None,
        type_comment=None,
        type_params=[],
    )
    return gast.copy_location(definition, node)


def _stamp_origins(
    node: gast.FunctionDef,
    filename: str,
    first_line: int,
    file_lines: list[str],
    source_lines: list[str],
    qualname: str,
) -> None:
    """Give every node the origin of the statement it belongs to."""

    def statement_text(stmt: gast.stmt) -> str:
        start, column = stmt.lineno - 1, stmt.col_offset
        if isinstance(stmt, (gast.If, gast.For, gast.While, gast.With, gast.FunctionDef)):
            # Only the header of a compound statement.
            return source_lines[start][column:].strip()
        end = getattr(stmt, "end_lineno", None) or stmt.lineno
        end_column = getattr(stmt, "end_col_offset", None)
        lines = list(source_lines[start:end])
        if not lines:
            return ""
        if end_column is not None:
            lines[-1] = lines[-1][:end_column]
        lines[0] = lines[0][column:]
        return " ".join(line.strip() for line in lines)

    def visit(stmt: gast.AST, current: Origin | None) -> None:
        if isinstance(stmt, gast.stmt) and hasattr(stmt, "lineno"):
            current = Origin(filename, stmt.lineno + first_line - 1, statement_text(stmt), qualname)
        if current is not None and not anno.has(stmt, anno.Key.ORIGIN):
            anno.set(stmt, anno.Key.ORIGIN, current)
        for child in gast.iter_child_nodes(stmt):
            visit(child, current)

    visit(node, None)
