"""emit: generated statements → Python source → a compiled function.

The source is astor's text: ``printer`` writes it straight from the gast tree for the
statements generated code is made of (a tenth of a large function's first call went to
converting the tree to ``ast`` and visiting it with astor), and astor prints the rest
(through :class:`_Printer`, which spares it the ``ast.Str`` that Python 3.14 removed);
comments, which an AST cannot hold, are marker statements, printed as ``#`` lines. The
function is compiled inside a factory whose parameters are the objects the generated
code reads by name (rule helpers, derivatives of callees), so those are closure
variables: the generated function keeps the *user's* module globals (read live, exactly
as the user's function reads them) and the user's own closure cells, without adding
anything to the user's namespace. The source is registered in ``linecache`` so
tracebacks and pdb show the generated lines.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import itertools
import linecache
import re
import textwrap
import types
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import gast

with warnings.catch_warnings():
    # astor's operator table reads ast.Num on import: a DeprecationWarning on Python 3.12
    # and 3.13 (3.14 has no ast.Num, and astor then reads None, which no node is).
    warnings.simplefilter("ignore", DeprecationWarning)
    import astor
    import astor.code_gen
    import astor.source_repr
    import astor.string_repr

from ..runtime import anomaly
from . import anno, printer
from .origin import Origin, same_line
from .walk import walk

_MARKER = "__astgrad_comment__"
_MARKER_LINE = re.compile(r"^(\s*)[rbuRBU]*(['\"]{1,3})" + _MARKER + r" \2\s*$")
_counter = itertools.count(1)


def comment(text: str) -> gast.stmt:
    """A statement that prints as ``# text``."""
    marker = gast.Expr(value=gast.Constant(f"{_MARKER} ", None))
    anno.set(marker, anno.Key.COMMENT, text)
    return marker


def add_grad_comments(
    stmts: list[gast.stmt], enclosing: Origin | None = None, label: str = "grad of"
) -> list[gast.stmt]:
    """Insert one ``# grad of: <line>`` (``label``) before each run of statements from one
    user line (not repeated inside a block that the same line's comment already heads)."""
    out: list[gast.stmt] = []
    previous = enclosing
    for stmt in stmts:
        origin = anno.get(stmt, anno.Key.ORIGIN)
        if origin is not None and not same_line(origin, previous):
            out.append(comment(f"{label}: {origin.text}"))
            previous = origin
        for field in ("body", "orelse"):
            block = getattr(stmt, field, None)
            if block:
                setattr(stmt, field, add_grad_comments(block, previous, label))
        out.append(stmt)
    return out


def to_source(node: gast.AST) -> str:
    """Python source for a gast tree, comments included. ``node`` is left as it is."""
    if isinstance(node, gast.FunctionDef):
        direct = printer.function_source(node, _astor_statement)  # astor's text, faster
        if direct is not None:
            return direct
    return astor_source(node)


def _astor_statement(stmt: gast.stmt, depth: int) -> list[str]:
    """The lines astor prints ``stmt`` as, wrapped as it wraps them, at ``depth`` levels of
    indentation in a function (astor wraps each line on its own, from the fragments it
    wrote: the same lines as in the whole function's text)."""
    generator = _Printer("    ", False, astor.string_repr.pretty_string)
    generator.indentation = depth
    generator.visit(to_ast(stmt))
    generator.result.append("\n")
    return astor.source_repr.pretty_source(generator.result).strip("\n").split("\n")


def astor_source(node: gast.AST) -> str:
    """``to_source``'s text, printed by astor whatever ``node`` is."""
    # gast_to_ast builds a new tree, so nothing here copies or changes the passes' tree.
    # Its nodes carry no annotations, so the comments' texts are collected first, in the
    # order their markers print: statements in order, each block after its header.
    texts = [
        anno.get(stmt, anno.Key.COMMENT)
        for stmt in _statements_in_order(node)
        if anno.has(stmt, anno.Key.COMMENT)
    ]
    source = astor.to_source(to_ast(node), source_generator_class=_Printer, pretty_source=_wrapped)
    texts.reverse()  # popped from the end, first comment first
    lines = []
    for line in source.splitlines():
        match = _MARKER_LINE.match(line)
        if match:
            lines.append(f"{match.group(1)}# {texts.pop()}")
        else:
            lines.append(line)
    if texts:
        raise AssertionError(f"internal error: {len(texts)} comment(s) were not printed")
    return "\n".join(lines) + "\n"


#: astor's line length: its printer wraps longer lines
_LONGEST = 79


def _wrapped(fragments: list[str]) -> str:
    """astor's ``pretty_source``: the printed fragments joined, each line longer than 79
    characters wrapped. It walks every fragment (an eighth of printing a function); where
    no line is that long, which it then returns joined as they are, they are only joined."""
    text = "".join(fragments)
    if max(map(len, text.split("\n"))) <= _LONGEST:
        return text
    return astor.source_repr.pretty_source(fragments)


class _Literal:
    """A literal part of an f-string as astor 0.8.1 reads one: an ``ast.Str`` with its
    text in ``s``. Python 3.12 and 3.13 warn on reading ``ast.Str`` or ``Constant.s``,
    and 3.14 has neither."""

    def __init__(self, s: str) -> None:
        self.s = s


class _AstForAstor(types.ModuleType):
    """The ``ast`` module as astor's string printer sees it: ``Str`` is :class:`_Literal`,
    everything else is ``ast``'s own. Only the printer's copy of that one method reads
    it; neither ``ast`` nor astor's module is changed."""

    Str = _Literal

    def __getattr__(self, name: str) -> Any:
        return getattr(ast, name)


def _with_globals(function: types.FunctionType, **names: Any) -> types.FunctionType:
    """``function`` reading ``names`` in place of its module's globals of those names."""
    namespace = {**function.__globals__, **names}
    copied = types.FunctionType(
        function.__code__, namespace, function.__name__, function.__defaults__, function.__closure__
    )
    copied.__kwdefaults__ = function.__kwdefaults__
    return copied


def _literals_for_astor(node: ast.JoinedStr) -> ast.JoinedStr:
    """A copy of the f-string ``node`` (its printing precedence kept) whose literal parts,
    its format specs' included, are :class:`_Literal`."""
    copied = copy.copy(node)
    copied.values = []
    for value in node.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            value = _Literal(value.value)
        elif isinstance(value, ast.FormattedValue) and value.format_spec is not None:
            value = copy.copy(value)
            value.format_spec = _literals_for_astor(value.format_spec)
        copied.values.append(value)
    return copied


class _Printer(astor.code_gen.SourceGenerator):
    """astor's printer, reading no name that Python 3.14 removed when it prints an
    f-string (its ``visit_Str``, ``visit_Num``... are never reached: ``ast`` makes
    constants only)."""

    _handle_string_constant = _with_globals(
        astor.code_gen.SourceGenerator._handle_string_constant,
        ast=_AstForAstor("ast"),
    )

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        self._handle_string_constant(_literals_for_astor(node), None, is_joined=True)


def to_ast(node: gast.AST) -> ast.AST:
    """The ``ast`` tree ``gast.gast_to_ast`` makes of ``node``, less line numbers (astor
    prints without them, and the source is compiled, not this tree).

    gast's converter visits every node through a ``NodeTransformer`` and copies four
    location attributes with an exception for each one missing: a sixth of a first call.
    This builds each node at once, from a table of which fields the ``ast`` class shares.
    Only the nodes gast itself treats specially on Python 3.10+ differ from the rule
    "same class name, the fields both have": a ``Name`` loses gast's ``annotation`` and
    ``type_comment``; parameters (``Name`` in gast) become ``ast.arg``; an except clause
    names its exception by a string; an assignment drops its type comment. Anything
    else gast converts its own way goes to gast (``_BY_GAST``).
    """
    kind = type(node)
    special = _SPECIAL.get(kind)
    if special is not None:
        return special(node)
    shape = _SHAPES.get(kind)
    if shape is None:
        shape = _SHAPES[kind] = _shape(kind)
        if shape is _BY_GAST:
            _SPECIAL[kind] = gast.gast_to_ast
            return gast.gast_to_ast(node)
    target, fields = shape
    present = node.__dict__
    converted = {}
    for name in fields:
        if name in present:
            converted[name] = _convert(present[name])
    return target(**converted)


def _convert(value: Any) -> Any:
    if isinstance(value, gast.AST):
        return to_ast(value)
    if type(value) is list:
        return [to_ast(item) if isinstance(item, gast.AST) else item for item in value]
    return value


_BY_GAST = object()


def _shape(kind: type) -> tuple[type, tuple[str, ...]] | object:
    """The ``ast`` class of a gast node class and the fields they share (in gast's
    order), or ``_BY_GAST`` when gast converts the class in a way of its own."""
    target = getattr(ast, kind.__name__, None)
    if target is None or kind.__name__ in _converted_by_gast():
        return _BY_GAST
    return target, tuple(f for f in kind._fields if f in target._fields)


@functools.cache
def _converted_by_gast() -> frozenset[str]:
    """Node classes gast's converter has a method of its own for, on this Python, less
    those ``to_ast`` handles: definitions, whose methods (before 3.12) only leave out the
    ``type_params`` that ``ast`` does not have yet, as the shared-fields rule does too."""
    own = set()
    for cls in type(gast.ast3.GAstToAst3()).__mro__:
        if cls.__module__.startswith("gast"):
            own |= {name[len("visit_") :] for name in vars(cls) if name.startswith("visit_")}
    own -= {"FunctionDef", "AsyncFunctionDef", "ClassDef"}
    return frozenset(own - {kind.__name__ for kind in _SPECIAL})


def _name(node: gast.Name) -> ast.Name:
    return ast.Name(node.id, _CONTEXTS[type(node.ctx)])


def _param_context() -> ast.expr_context:
    # (a bare name in a parameter's place: gast makes ``ast.Param``, which Python 3.12
    # and 3.13 warn about reading and 3.14 has not)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return getattr(ast, "Param", ast.Load)()


#: one ``ast`` context node per kind, shared, as Python's own parser shares them (the
#: printer reads only their types)
_CONTEXTS: dict[type, ast.expr_context] = {
    gast.Load: ast.Load(),
    gast.Store: ast.Store(),
    gast.Del: ast.Del(),
    gast.Param: _param_context(),
}


def _parameter(node: gast.Name | None) -> ast.arg | None:
    if node is None:
        return None
    annotation = node.annotation
    return ast.arg(
        arg=node.id,
        annotation=to_ast(annotation) if annotation is not None else None,
        type_comment=getattr(node, "type_comment", None),
    )


def _arguments(node: gast.arguments) -> ast.arguments:
    return ast.arguments(
        posonlyargs=[_parameter(a) for a in node.posonlyargs],
        args=[_parameter(a) for a in node.args],
        vararg=_parameter(node.vararg),
        kwonlyargs=[_parameter(a) for a in node.kwonlyargs],
        kw_defaults=_convert(node.kw_defaults),
        kwarg=_parameter(node.kwarg),
        defaults=_convert(node.defaults),
    )


def _except_handler(node: gast.ExceptHandler) -> ast.ExceptHandler:
    return ast.ExceptHandler(
        type=_convert(node.type), name=node.name.id if node.name else None, body=_convert(node.body)
    )


def _assign(node: gast.Assign) -> ast.Assign:
    return ast.Assign(targets=_convert(node.targets), value=to_ast(node.value))


_SPECIAL: dict[type, Callable[[Any], ast.AST]] = {
    gast.Name: _name,
    **{kind: (lambda _, shared=shared: shared) for kind, shared in _CONTEXTS.items()},
    gast.arguments: _arguments,
    gast.ExceptHandler: _except_handler,
    gast.Assign: _assign,
}
_SHAPES: dict[type, Any] = {}


def _statements_in_order(node: Any, family: Any = gast) -> Iterator[Any]:
    """The statements in and under ``node``, in the order they print (pre-order: a
    compound statement, then its blocks in field order: body, handlers, orelse, ...).
    Expressions hold no statements, so only lists of other nodes (statements, except
    handlers, match cases) are followed. ``family`` is ``gast`` or ``ast``, whose
    statement classes have the same fields in the same order."""
    if isinstance(node, family.stmt):
        yield node
    for field in node._fields:
        value = getattr(node, field, None)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, family.AST) and not isinstance(item, family.expr):
                    yield from _statements_in_order(item, family)


#: generated file name -> line -> the user's origin of the statement on that line (a
#: ``_LineOrigins``, asked through ``get``), so an error raised by generated code can name
#: the user's line (see ``user_line_of``), and so can warnings and anomaly mode: the
#: runtime's table (the runtime never imports this)
LINE_ORIGINS: dict[str, Any] = anomaly.LINE_ORIGINS


class _LineOrigins:
    """Generated line -> the user's origin of the statement on it, for one generated
    file: the printed text is parsed again, and its statements are paired, in order, with
    the tree's (less the comment markers, which print as comments). Made the first time a
    line is asked about (an error, a warning, anomaly mode): parsing the text again
    took a twentieth of a first call, which most gradients never need."""

    def __init__(self, definitions: list[gast.FunctionDef], factory: str) -> None:
        #: the origin of each statement that prints as one, in order (None: no origin)
        self._origins = [
            None if isinstance(stmt, gast.FunctionDef) else anno.get(stmt, anno.Key.ORIGIN)
            for definition in definitions
            for stmt in _statements_in_order(definition)
            if not anno.has(stmt, anno.Key.COMMENT)
        ]
        self._factory = factory
        self._lines: dict[int, Origin] | None = None

    def get(self, line: int, default: Any = None) -> Origin | Any:
        if self._lines is None:
            self._lines = self._pair()
        return self._lines.get(line, default)

    def _pair(self) -> dict[int, Origin]:
        # (the factory's body: the definitions, then its return)
        tops = ast.parse(self._factory).body[0].body[:-1]
        printed = [stmt for top in tops for stmt in _statements_in_order(top, ast)]
        if len(printed) != len(self._origins):
            return {}  # not expected; without a map, errors just name the generated line
        lines: dict[int, Origin] = {}
        for origin, text in zip(self._origins, printed):
            if origin is None:
                continue
            # A compound statement owns its header line; its blocks' lines are their own.
            last = text.lineno if hasattr(text, "body") else (text.end_lineno or text.lineno)
            for line in range(text.lineno, last + 1):
                lines.setdefault(line, origin)
        return lines


def user_line_of(traceback: types.TracebackType | None) -> tuple[Origin, str, int] | None:
    """The user's origin of the innermost frame of generated code in ``traceback``, with
    that frame's file name and line; None when no frame is in generated code."""
    found = None
    while traceback is not None:
        code = traceback.tb_frame.f_code
        origins = LINE_ORIGINS.get(code.co_filename)
        if origins is not None:
            origin = origins.get(traceback.tb_lineno)
            if origin is not None:
                found = (origin, code.co_filename, traceback.tb_lineno)
        traceback = traceback.tb_next
    return found


def _own_builtins(
    definitions: list[gast.FunctionDef], free_values: dict[str, Any], user_function: Callable
) -> dict[str, Any]:
    """Builtins the generated code calls for itself (``range``, ``len``, ``list``...), bound
    so that nothing of the user's can stand in for them; renames those calls where needed.

    The passes write such calls by plain name, which would find a module's own ``range``
    or ``list`` (or a local or closure variable of that name) before the builtin. A call
    the passes made has no source position; a name copied from the user's code has one
    and keeps meaning what it meant there. A builtin the user's code neither reads nor
    binds is bound under its own name (the source still says ``range(n)``); where the
    user's name is something else, the passes' calls read it under a fresh name
    (``builtin_range``).
    """
    made: dict[str, list[gast.Name]] = {}
    users: set[str] = set()
    bound = {d.name for d in definitions}
    for definition in definitions:
        for node in walk(definition):
            if isinstance(node, gast.Call) and _made_builtin_call(node.func, free_values):
                made.setdefault(node.func.id, []).append(node.func)
            elif isinstance(node, gast.Name):
                if not isinstance(node.ctx, gast.Load):
                    bound.add(node.id)
                elif getattr(node, "lineno", None) is not None:
                    users.add(node.id)
    cells = set(user_function.__code__.co_freevars)
    namespace = user_function.__globals__
    taken = bound | users | cells | set(free_values) | set(made)
    own: dict[str, Any] = {}
    for name, calls in made.items():
        builtin = getattr(builtins, name)
        if name not in users and name not in bound and name not in cells:
            own[name] = builtin
        elif name in bound or name in cells or namespace.get(name, builtin) is not builtin:
            fresh = _fresh(f"builtin_{name}", taken)
            for func in calls:
                func.id = fresh
            own[fresh] = builtin
        # else: the user's code calls the builtin by that name too, read live alike
    return own


def _made_builtin_call(func: gast.expr, free_values: dict[str, Any]) -> bool:
    """Whether ``func`` names a builtin in a call the passes wrote (no source position)."""
    return (
        isinstance(func, gast.Name)
        and getattr(func, "lineno", None) is None
        and func.id not in free_values
        and hasattr(builtins, func.id)
    )


def _fresh(base: str, taken: set[str]) -> str:
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}_{number}", number + 1
    taken.add(candidate)
    return candidate


def compile_functions(
    definitions: list[gast.FunctionDef],
    free_values: dict[str, Any],
    user_function: Callable,
    label: str,
) -> tuple[list[Callable], str]:
    """Compile ``definitions`` with the user's globals and cells; return them and the source."""
    user_cells = dict(zip(user_function.__code__.co_freevars, user_function.__closure__ or ()))
    free_values = {**free_values, **_own_builtins(definitions, free_values, user_function)}
    shown = "\n\n".join(to_source(d).rstrip("\n") for d in definitions) + "\n"
    params = sorted(set(free_values) | set(user_cells))
    factory_name = "__astgrad_factory__"
    body = textwrap.indent(shown, "    ")
    names = ", ".join(d.name for d in definitions)
    factory = f"def {factory_name}({', '.join(params)}):\n{body}    return ({names},)\n"
    filename = f"<astgrad: {label} #{next(_counter)}>"
    linecache.cache[filename] = (len(factory), None, factory.splitlines(keepends=True), filename)
    # (the factory's lines, whose header comes before the shown source, are the ones
    # tracebacks name)
    LINE_ORIGINS[filename] = _LineOrigins(definitions, factory)
    code = compile(factory, filename, "exec")
    scratch = dict(user_function.__globals__)
    exec(code, scratch)
    placeholders = {name: free_values.get(name) for name in params}
    made = scratch[factory_name](**placeholders)
    functions = []
    for made_function, definition in zip(made, definitions):
        inner = made_function.__code__
        cells = []
        for name, cell in zip(inner.co_freevars, made_function.__closure__ or ()):
            cells.append(user_cells.get(name, cell))
        function = types.FunctionType(
            inner,
            user_function.__globals__,
            definition.name,
            made_function.__defaults__,
            tuple(cells) or None,
        )
        function.__kwdefaults__ = made_function.__kwdefaults__
        function.__qualname__ = definition.name
        function.__module__ = user_function.__module__
        functions.append(function)
    _forget_when_collected(filename, [f.__code__ for f in functions])
    return functions, shown


def _forget_when_collected(filename: str, codes: list[types.CodeType]) -> None:
    """Drop ``filename``'s lines (linecache) and origins once none of ``codes`` is left:
    without this, every function ever differentiated (a lambda made in a loop) would
    leave them behind. Code objects, not functions, are watched: a traceback keeps the
    code it ran, so its generated lines still show while it is kept."""
    live = {id(code) for code in codes}

    def release(key: int) -> None:
        live.discard(key)
        if not live:
            linecache.cache.pop(filename, None)
            LINE_ORIGINS.pop(filename, None)

    for code in codes:
        weakref.finalize(code, release, id(code))
