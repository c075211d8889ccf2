"""Parse a Python function into a gast tree, with what later passes need to know about it.

The tree is a fresh copy each time (passes may mutate it). Every node carries the origin
(file, line, statement text) of the user code it came from.
"""

from __future__ import annotations
import __future__

import ast
import functools
import inspect
import linecache
import operator
import re
import symtable
import sys
import textwrap
import types
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gast

from . import anno
from .convert import to_gast
from .errors import TAPE_ADVICE, TransformError
from .guards import Recorder, RecordingCells, RecordingGlobals
from .origin import Origin
from .walk import _CHILD_FIELDS, child_fields, walk


@dataclass
class ParsedFunction:
    """A user function and its tree, plus the namespaces its names resolve in."""

    function: Callable
    node: gast.FunctionDef
    filename: str
    #: the function's globals, read-only; each name looked up is noted in ``recorder``
    globals: Mapping[str, Any]
    #: closure variable name -> cell, read live by generated code (lookups noted too)
    cells: Mapping[str, Any]
    #: positional parameter names, in order
    params: list[str]
    lines: list[str] = field(default_factory=list)
    #: what the passes read of the user's program, for the derivative's guard
    recorder: Recorder = field(default_factory=Recorder)

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


#: a line that starts a definition, as ``inspect.findsource`` looks for one
_DEFINITION_START = re.compile(r"^(\s*def\s)|(\s*async\s+def\s)|^(\s*@)")


def _source_lines(function: types.FunctionType) -> tuple[list[str], int]:
    """``function``'s lines of source and the number of the first, as
    ``inspect.getsourcelines(function.__code__)`` finds them.

    inspect finds where the definition ends by tokenizing the file from its first line,
    which took a quarter of a small function's parsing. The code object knows its last
    line: the furthest end of an instruction, its nested functions' included. That is
    where the definition ends when the next line that is not blank is indented no deeper
    than its first line; otherwise (a last statement without instructions, such as
    ``global``, a comment in the block, or a lambda, whose line holds other code)
    inspect decides."""
    code = function.__code__
    found = _lines_by_positions(code, function.__globals__)
    return found if found is not None else inspect.getsourcelines(code)


def _lines_by_positions(code: types.CodeType, module_globals: dict) -> tuple | None:
    if code.co_name == "<lambda>":
        return None
    filename = code.co_filename
    linecache.checkcache(filename)  # (as inspect does: a file changed since is read anew)
    lines = linecache.getlines(filename, module_globals)
    first = code.co_firstlineno
    last = _last_line(code)
    if not lines or last is None or not first <= last <= len(lines):
        return None
    header = lines[first - 1]
    if not _DEFINITION_START.match(header):
        return None
    indent = len(header) - len(header.lstrip())
    for line in lines[last:]:
        if line.strip():
            if len(line) - len(line.lstrip()) > indent:
                # more of the definition, a line continued past it, or a comment in its
                # block (which inspect counts in)
                return None
            break
    return lines[first - 1 : last], first


def _last_line(code: types.CodeType) -> int | None:
    """The last source line any instruction of ``code`` or of a code object nested in
    it spans (None when it has no positions)."""
    positions = getattr(code, "co_positions", None)  # (Python 3.11 and later)
    if positions is None:
        return None
    last = None
    for _, end, _, _ in positions():
        if end is not None and (last is None or end > last):
            last = end
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            nested = _last_line(constant)
            if nested is not None and (last is None or nested > last):
                last = nested
    return last


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
        lines, first_line = _source_lines(function)
        filename = inspect.getsourcefile(function.__code__) or function.__code__.co_filename
    except (OSError, TypeError) as exc:
        raise TransformError(
            f"the source of {function.__qualname__} is not available ({exc}); functions "
            "typed at an interactive prompt or made by exec() cannot be transformed.",
            advice=TAPE_ADVICE,
        ) from None
    source = textwrap.dedent("".join(lines))
    try:
        module, depth = to_gast(ast.parse(source))
        _allow_depth(depth, function)
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
    _check_source_runs(function, "".join(lines), filename)
    if isinstance(node, gast.Lambda):
        node = _lambda_as_def(node, function)
    node.decorator_list = []
    all_lines = linecache.getlines(filename) or lines
    _stamp_origins(
        node, filename, first_line, all_lines, source.splitlines(), function.__qualname__
    )
    closure = function.__closure__ or ()
    recorder = Recorder()
    recorder.function(function)
    cells = RecordingCells(dict(zip(function.__code__.co_freevars, closure)), recorder)
    params = [a.id for a in node.args.posonlyargs + node.args.args]
    namespace = RecordingGlobals(function.__globals__, recorder)
    return ParsedFunction(function, node, filename, namespace, cells, params, all_lines, recorder)


# -- the source read must be the code that runs ------------------------------------------
#
# inspect reads a function's source from its file as the file is now. If the file was
# edited after the module was imported, that text is not the code that runs, and its
# gradient would be silently wrong. So the definition found is compiled again and its code
# compared with ``function.__code__``; code objects checked once are remembered.

_checked: weakref.WeakKeyDictionary[types.CodeType, str] = weakref.WeakKeyDictionary()
_FUTURE_FLAGS = functools.reduce(
    operator.or_, (getattr(__future__, f).compiler_flag for f in __future__.all_feature_names)
)
#: co_flags that the source decides (not where the function was compiled)
_KIND_FLAGS = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS | inspect.CO_GENERATOR
_KIND_FLAGS |= inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _check_source_runs(function: types.FunctionType, source: str, filename: str) -> None:
    """Raise :class:`TransformError` when ``source`` does not compile to the code that
    ``function`` runs."""
    code = function.__code__
    if _checked.get(code) == source:
        return
    compiled = _compile_like(function, source, filename)
    if (
        compiled is not None
        and not _same_code(compiled, code, _qualname_prefixes(function))
        and not _asserts_rewritten(function, source)
    ):
        raise TransformError(
            f"the source of {function.__qualname__} in {filename} is not the code that runs: "
            "the file was changed after it was imported, so differentiating its text now "
            "would give the gradient of other code. Reload the module (or restart) to "
            "differentiate the new text.",
            advice=TAPE_ADVICE,
        )
    _checked[code] = source


def _asserts_rewritten(function: types.FunctionType, source: str) -> bool:
    """Whether pytest rewrote the asserts of ``function``'s module when importing it (its
    globals then hold ``@py_builtins``): its code differs from its source on purpose."""
    return "@py_builtins" in function.__globals__ and "assert" in source


def recompiled(
    function: types.FunctionType,
    rewrite: Callable[[ast.AST], Any],
    closed_over: tuple[str, ...] = (),
) -> types.CodeType | None:
    """The code of ``function``'s source with ``rewrite`` applied to its definition's
    tree (an ``ast`` tree, changed in place), compiled where it was defined and at the
    lines of its file, so that its frames and errors name the user's lines. The names in
    ``closed_over`` are read from its closure (free variables of the code, after its own:
    the caller gives their cells). None where its source is not available or is not the
    code that runs (the file changed since)."""
    try:
        lines, first_line = _source_lines(function)
        filename = inspect.getsourcefile(function.__code__) or function.__code__.co_filename
    except (OSError, TypeError):
        return None
    source = "".join(lines)
    as_written = _compile_like(function, source, filename)
    if as_written is None or not _same_code(
        as_written, function.__code__, _qualname_prefixes(function)
    ):
        return None
    return _compile_like(function, source, filename, rewrite, first_line, closed_over)


def _compile_like(
    function: types.FunctionType,
    source: str,
    filename: str,
    rewrite: Callable[[ast.AST], Any] | None = None,
    first_line: int = 1,
    closed_over: tuple[str, ...] = (),
) -> Any:
    """The code object ``source``'s definition of ``function`` compiles to where it was
    defined: a nested function inside a function binding its free variables (so they
    stay closure reads, and a call of itself too), a method inside a class of its name (so
    private names are mangled alike), all in a module importing what its module imports
    (Python 3.11 compiles ``np.sum(x)`` to other instructions when ``np`` is imported).
    None when that cannot be made, which is no evidence of a change. With ``rewrite``, the
    definition's tree is given to it first, and its lines are moved to start at
    ``first_line``; the names in ``closed_over`` are bound around it, so that the code
    reads them from its closure."""
    code = function.__code__
    try:
        # Not dedented: that would change the constants of indented multi-line strings.
        indented = source[:1].isspace()
        tree = ast.parse(f"if True:\n{source}" if indented else source)
    except SyntaxError:
        return None
    found = _find_ast_definition(tree.body[0].body if indented else tree.body, code)
    if found is None:
        return None
    inner: ast.stmt = _placed(ast.Expr(value=found)) if isinstance(found, ast.Lambda) else found
    if isinstance(found, (ast.FunctionDef, ast.AsyncFunctionDef)):
        found.decorator_list = []
    if rewrite is not None:
        rewrite(found)
        # (the parsed source's first line is 1, or 2 after the ``if True:`` above)
        ast.increment_lineno(found, first_line - (2 if indented else 1))
    owner = _qualname(function).split(".")[-2:-1]
    in_class = _in_class(function)
    if in_class:
        inner = _placed(
            ast.ClassDef(
                name=owner[0], bases=[], keywords=[], body=[inner], decorator_list=[],
                type_params=[],
            )
        )  # fmt: skip
    nested = _nested(function)
    if nested or closed_over:
        frees = [n for n in code.co_freevars if not (in_class and n == "__class__")]
        frees += [n for n in closed_over if n not in frees]
        body: list[ast.stmt] = [
            ast.fix_missing_locations(
                ast.Assign(targets=[ast.Name(id=n, ctx=ast.Store())], value=ast.Constant(None))
            )
            for n in frees
        ]
        if not nested and isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            # (a module-level definition wrapped only to close over those names: its own
            # name stays a global, as a recursive call or a method's read of its class is)
            body.insert(0, _placed(ast.Global(names=[inner.name])))
        inner = _placed(
            ast.FunctionDef(
                name=_OUTER,
                args=ast.parse("def f(): pass").body[0].args,  # no parameters
                body=[*body, inner],
                decorator_list=[],
                returns=None,
                type_params=[],
            )
        )
    imported = _imported_names(filename)
    at = {"lineno": 1, "col_offset": 0, "end_lineno": 1, "end_col_offset": 0}
    aliases = [ast.alias(name="sys", asname=name, **at) for name in imported]
    imports = [_placed(ast.Import(names=aliases))] if aliases else []
    module = ast.Module(body=[*imports, inner], type_ignores=[])
    try:
        made = compile(
            module, filename, "exec", flags=code.co_flags & _FUTURE_FLAGS, dont_inherit=True
        )
    except (SyntaxError, ValueError):
        return None
    return _find_code(made, code.co_name)


def _placed(node: ast.stmt) -> ast.stmt:
    """``node``, a wrapper made here, at line 1 (``ast.fix_missing_locations`` would walk
    the user's whole definition inside it: most of the time this check took)."""
    node.lineno = node.end_lineno = 1
    node.col_offset = node.end_col_offset = 0
    return node


#: file name -> (its lines in linecache when read, the names its imports bind)
_imports: dict[str, tuple[list[str], tuple[str, ...]]] = {}


def _imported_names(filename: str) -> tuple[str, ...]:
    """The names an ``import`` binds at the top level of the module in ``filename``."""
    lines = linecache.getlines(filename)
    known = _imports.get(filename)
    if known is None or known[0] is not lines:  # not read yet, or the file was read again
        known = _imports[filename] = (lines, _imports_in("".join(lines)))
    return known[1]


def _imports_in(module_source: str) -> tuple[str, ...]:
    try:
        table = symtable.symtable(module_source, "<module>", "exec")
    except (SyntaxError, ValueError):
        return ()
    return tuple(sorted(s.get_name() for s in table.get_symbols() if s.is_imported()))


def _find_ast_definition(body: list[ast.stmt], code: types.CodeType) -> ast.AST | None:
    if code.co_name == "<lambda>":
        wanted = code.co_varnames[: code.co_argcount]
        lambdas = [
            n
            for stmt in body
            for n in ast.walk(stmt)
            if isinstance(n, ast.Lambda) and tuple(a.arg for a in n.args.args) == wanted
        ]
        return lambdas[0] if len(lambdas) == 1 else None
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == code.co_name:
            return node
    return None


def _find_code(code: types.CodeType, name: str) -> types.CodeType | None:
    """The shallowest code object named ``name`` among ``code``'s constants."""
    level = [code]
    while level:
        nested = [c for parent in level for c in parent.co_consts if isinstance(c, types.CodeType)]
        for candidate in nested:
            if candidate.co_name == name:
                return candidate
        level = nested
    return None


def _in_class(function: types.FunctionType) -> bool:
    owner = _qualname(function).split(".")[-2:-1]
    return bool(owner) and owner[0] != "<locals>"


_OUTER = "__astgrad_outer__"


def _qualname(function: types.FunctionType) -> str:
    # The code's own (3.11+): functools.wraps gives a wrapper the wrapped one's __qualname__.
    return getattr(function.__code__, "co_qualname", function.__qualname__)


def _nested(function: types.FunctionType) -> bool:
    return "<locals>" in _qualname(function).split(".")


def _qualname_prefixes(function: types.FunctionType) -> tuple[str, str]:
    """What qualified names start with in the code ``_compile_like`` makes, and what they
    start with where ``function`` was defined (class bodies hold their qualname)."""
    parts = _qualname(function).split(".")
    kept = parts[-2:-1] if _in_class(function) else []
    outer = f"{_OUTER}.<locals>." if _nested(function) else ""
    ours = outer + "".join(f"{p}." for p in kept)
    return ours, "".join(f"{p}." for p in parts[:-1])


def _same_code(a: types.CodeType, b: types.CodeType, prefixes: tuple[str, str]) -> bool:
    """Whether ``a`` (made by ``_compile_like``) and ``b`` run the same operations on the
    same names and constants (line numbers, file names and where they were compiled
    aside: ``prefixes`` says how qualified names in ``a`` start and in ``b``)."""
    return (
        a.co_code == b.co_code
        and a.co_names == b.co_names
        and a.co_varnames == b.co_varnames
        and a.co_freevars == b.co_freevars
        and a.co_cellvars == b.co_cellvars
        and (a.co_argcount, a.co_posonlyargcount, a.co_kwonlyargcount)
        == (b.co_argcount, b.co_posonlyargcount, b.co_kwonlyargcount)
        and a.co_flags & _KIND_FLAGS == b.co_flags & _KIND_FLAGS
        and len(a.co_consts) == len(b.co_consts)
        and all(_same_constant(x, y, prefixes) for x, y in zip(a.co_consts, b.co_consts))
    )


def _same_constant(a: Any, b: Any, prefixes: tuple[str, str]) -> bool:
    if isinstance(a, types.CodeType) and isinstance(b, types.CodeType):
        return _same_code(a, b, prefixes)
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same_constant(x, y, prefixes) for x, y in zip(a, b))
    ours, theirs = prefixes
    if isinstance(a, str) and a.startswith(ours):
        return theirs + a[len(ours) :] == b
    if isinstance(a, (float, complex)):
        return repr(a) == repr(b)  # -0.0 and 0.0 are different constants
    return a == b


#: frames the recursive walkers (astor's printer, the passes) take per level of nesting,
#: with some to spare; measured: a sum of 250 terms needs about 4 per level
_FRAMES_PER_LEVEL = 6
#: deeper than this, no limit is raised: the C stack could overflow (before Python 3.11
#: every Python call also recursed in C, so there the bound is lower)
_MOST_FRAMES = 30_000 if sys.version_info >= (3, 11) else 10_000


def _allow_depth(depth: int, function: Callable) -> None:
    """Let the recursive tree walkers (astor, the passes) reach the bottom of a deeply
    nested expression (``x + x*2 + ... + x*250`` is 250 levels): raise Python's recursion
    limit to what the parsed source's ``depth`` needs (it is never lowered), or refuse a
    depth no limit is safe for."""
    needed = _stack_depth() + _FRAMES_PER_LEVEL * depth + 200
    if needed <= sys.getrecursionlimit():
        return
    if needed > _MOST_FRAMES:
        raise TransformError(
            f"{function.__qualname__} nests expressions too deeply for the transform "
            f"(it would need {needed} frames of recursion).",
            advice=TAPE_ADVICE,
        )
    sys.setrecursionlimit(needed)


def _stack_depth() -> int:
    frame, count = sys._getframe(), 0
    while frame is not None:
        frame, count = frame.f_back, count + 1
    return count


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

    # (each node's origin depends only on its ancestors: any order will do; a node met
    # twice keeps the first origin given it)
    todo: list[tuple[gast.AST, Origin | None]] = [(node, None)]
    push = todo.append
    key, slot, statement = anno.Key.ORIGIN, anno.SLOT, gast.stmt
    table = _CHILD_FIELDS
    while todo:
        current_node, current = todo.pop()
        fields = current_node.__dict__
        if isinstance(current_node, statement) and "lineno" in fields:
            line = current_node.lineno + first_line - 1
            current = Origin(filename, line, statement_text(current_node), qualname)
        if current is not None:
            annotations = fields.get(slot)
            if annotations is None:
                fields[slot] = {key: current}
            elif key not in annotations:
                annotations[key] = current
        kind = type(current_node)
        names = table.get(kind)
        for name in names if names is not None else child_fields(kind):
            value = fields.get(name)
            if value is None:
                continue
            if type(value) is list:
                for item in value:
                    if isinstance(item, gast.AST):
                        push((item, current))
            elif isinstance(value, gast.AST):
                push((value, current))
