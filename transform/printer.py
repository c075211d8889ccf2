"""printer: a generated function's source, written straight from the gast tree.

``emit.to_source`` printed every function through astor: the gast tree converted to an
``ast`` tree, then astor's visitor, a call per node and per written fragment. That was
a tenth of a first call of a large function. This module writes the same text directly
for the statements and expressions generated code is made of, and says ``None`` for
anything else (a ``try``, a string on a line of its own, a compound statement's header
longer than astor's 79 characters): the caller then prints with astor as before. A
simple statement longer than that, which astor wraps its own way, is printed by astor
alone (astor wraps each line by itself: the statement's lines are those it would print
in the whole function).

The text is astor's, character for character, parentheses included: astor puts them
around an expression whose operator binds less tightly than its parent asks (``_PRECEDENCE``
is astor's table: the parent's "asked" precedence against the child's own), and a few
positions ask more than any operator has (an attribute's, a call's or a subscript's
object, a comprehension's element, a ``for`` loop's iterable), so that ``(a + b).T`` and
``(x + 1) for ...`` keep theirs. ``tests/test_printer.py`` compares the two printers on
every function the examples, benchmarks and test tables generate.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import gast

from . import anno

#: astor's precedences (``astor.op_util``): a node is parenthesised when its own is
#: lower than the one its position asks for
_COMMA = 21
_CALL_ONE_ARG = 25
_IF_EXP = 27
_COMPREHENSION = 29
_CONSTANT = 61
#: what a position asks when astor's parent sets nothing: more than every operator
_UNSET = 63
_ASSIGN, _STATEMENT, _HEADER, _RETURN, _SUBSCRIPT, _TUPLE = 3, 5, 9, 11, 13, 19
_ASSERT = 23
_POW_LEFT, _POW_RIGHT = 56, 51
_GENERATOR = 1

_OPERATORS: dict[type, tuple[str, int]] = {
    gast.Or: ("or", 31),
    gast.And: ("and", 33),
    gast.Not: ("not", 35),
    **{
        kind: (symbol, 37)
        for kind, symbol in [
            (gast.Eq, "=="),
            (gast.Gt, ">"),
            (gast.GtE, ">="),
            (gast.In, "in"),
            (gast.Is, "is"),
            (gast.NotEq, "!="),
            (gast.Lt, "<"),
            (gast.LtE, "<="),
            (gast.NotIn, "not in"),
            (gast.IsNot, "is not"),
        ]
    },
    gast.BitOr: ("|", 39),
    gast.BitXor: ("^", 41),
    gast.BitAnd: ("&", 43),
    gast.LShift: ("<<", 45),
    gast.RShift: (">>", 45),
    gast.Add: ("+", 47),
    gast.Sub: ("-", 47),
    gast.Mult: ("*", 49),
    gast.Div: ("/", 49),
    gast.Mod: ("%", 49),
    gast.FloorDiv: ("//", 49),
    gast.MatMult: ("@", 49),
    gast.Invert: ("~", 53),
    gast.UAdd: ("+", 53),
    gast.USub: ("-", 53),
    gast.Pow: ("**", 55),
}

#: astor's longest line: a longer one it wraps, which this printer leaves to it
_LONGEST = 79


class _Unsupported(Exception):
    """Something this printer does not write as astor would: astor prints the function."""


#: a statement printed and wrapped by astor, at a depth of indentation: its lines
LongStatement = Callable[[gast.stmt, int], list[str]]


def function_source(node: gast.FunctionDef, long_statement: LongStatement) -> str | None:
    """``node``'s source as astor prints it (comment markers as ``#`` lines), or None
    where astor must print it; ``long_statement`` prints a statement astor wraps."""
    lines: list[str] = []
    try:
        _Writer(lines, long_statement).definition(node, 0, top=True)
    except _Unsupported:
        return None
    return "\n".join(lines) + "\n"


# -- statements ----------------------------------------------------------------------------


class _Writer:
    """Appends the printed lines of statements to ``lines``."""

    def __init__(self, lines: list[str], long_statement: LongStatement) -> None:
        self.lines = lines
        self.long_statement = long_statement

    def block(self, stmts: list[gast.stmt], depth: int) -> None:
        for stmt in stmts:
            self.statement(stmt, depth)

    def simple(self, stmt: gast.stmt, depth: int, text: str) -> None:
        """A statement of one line, ``text`` (indented): astor wraps a long one."""
        if len(text) > _LONGEST:
            self.lines += self.long_statement(stmt, depth)
        else:
            self.lines.append(text)

    def header(self, text: str) -> None:
        if len(text) > _LONGEST:
            raise _Unsupported
        self.lines.append(text)

    def statement(self, stmt: gast.stmt, depth: int) -> None:
        indent = "    " * depth
        kind = type(stmt)
        if kind is gast.Assign:
            targets = " = ".join([_expr(t, _ASSIGN) for t in stmt.targets])
            self.simple(stmt, depth, f"{indent}{targets} = {_expr(stmt.value, _ASSIGN)}")
        elif kind is gast.Expr:
            text = anno.get(stmt, anno.Key.COMMENT)
            if text is not None:
                self.lines.append(f"{indent}# {text}")
                return
            if _starts_with_string(stmt.value):
                raise _Unsupported  # astor may print it as a triple-quoted string
            self.simple(stmt, depth, indent + _expr(stmt.value, _STATEMENT))
        elif kind is gast.AugAssign:
            symbol = _OPERATORS[type(stmt.op)][0]
            target, value = _expr(stmt.target, _STATEMENT), _expr(stmt.value, _STATEMENT)
            self.simple(stmt, depth, f"{indent}{target} {symbol}= {value}")
        elif kind is gast.Return:
            value = stmt.value
            text = "return" if value is None else f"return {_expr(value, _RETURN)}"
            self.simple(stmt, depth, indent + text)
        elif kind is gast.Delete:
            self.simple(stmt, depth, f"{indent}del {_commas(stmt.targets)}")
        elif kind is gast.If:
            self.header(f"{indent}if {_expr(stmt.test, _HEADER)}:")
            self.block(stmt.body, depth + 1)
            while True:
                orelse = stmt.orelse
                if len(orelse) == 1 and type(orelse[0]) is gast.If:
                    stmt = orelse[0]
                    self.header(f"{indent}elif {_expr(stmt.test, _HEADER)}:")
                    self.block(stmt.body, depth + 1)
                    continue
                if orelse:
                    self.lines.append(f"{indent}else:")
                    self.block(orelse, depth + 1)
                break
        elif kind is gast.For:
            if stmt.type_comment is not None:
                raise _Unsupported
            target, iterable = _expr(stmt.target, _HEADER), _expr(stmt.iter, _UNSET)
            self.header(f"{indent}for {target} in {iterable}:")
            self.block_or_else(stmt, depth)
        elif kind is gast.While:
            self.header(f"{indent}while {_expr(stmt.test, _HEADER)}:")
            self.block_or_else(stmt, depth)
        elif kind is gast.Pass:
            self.lines.append(f"{indent}pass")
        elif kind is gast.Break:
            self.lines.append(f"{indent}break")
        elif kind is gast.Continue:
            self.lines.append(f"{indent}continue")
        elif kind is gast.Global or kind is gast.Nonlocal:
            keyword = "global" if kind is gast.Global else "nonlocal"
            self.simple(stmt, depth, f"{indent}{keyword} {', '.join(stmt.names)}")
        elif kind is gast.Raise:
            text = "raise"
            if stmt.exc is not None:
                text += f" {_expr(stmt.exc, _UNSET)}"
                if stmt.cause is not None:
                    text += f" from {_expr(stmt.cause, _UNSET)}"
            self.simple(stmt, depth, indent + text)
        elif kind is gast.Assert:
            text = f"assert {_expr(stmt.test, _ASSERT)}"
            if stmt.msg is not None:
                text += f", {_expr(stmt.msg, _ASSERT)}"
            self.simple(stmt, depth, indent + text)
        elif kind is gast.FunctionDef:
            self.definition(stmt, depth, top=False)
        else:
            raise _Unsupported

    def block_or_else(self, stmt: gast.For | gast.While, depth: int) -> None:
        self.block(stmt.body, depth + 1)
        if stmt.orelse:
            self.lines.append("    " * depth + "else:")
            self.block(stmt.orelse, depth + 1)

    def definition(self, node: gast.FunctionDef, depth: int, top: bool) -> None:
        if node.decorator_list or node.returns is not None or node.type_comment is not None:
            raise _Unsupported
        if getattr(node, "type_params", None):
            raise _Unsupported
        if not top:
            self.lines.append("")  # astor leaves a blank line before a nested definition
        self.header(f"{'    ' * depth}def {node.name}({_arguments(node.args)}):")
        self.block(node.body, depth + 1)


def _arguments(node: gast.arguments) -> str:
    if node.posonlyargs:
        raise _Unsupported
    parts = _parameters(node.args, node.defaults)
    if node.vararg is not None:
        parts.append("*" + _parameter(node.vararg))
    elif node.kwonlyargs:
        parts.append("*")
    parts += _parameters(node.kwonlyargs, node.kw_defaults)
    if node.kwarg is not None:
        parts.append("**" + _parameter(node.kwarg))
    return ", ".join(parts)


def _parameters(names: list[gast.Name], defaults: list) -> list[str]:
    padded = [None] * (len(names) - len(defaults)) + list(defaults)
    parts = []
    for name, default in zip(names, padded):
        text = _parameter(name)
        parts.append(text if default is None else f"{text}={_expr(default, _COMMA)}")
    return parts


def _parameter(node: gast.Name) -> str:
    if node.annotation is not None or getattr(node, "type_comment", None) is not None:
        raise _Unsupported
    return node.id


def _starts_with_string(node: gast.expr) -> bool:
    """Whether the leftmost part of ``node``, printed first on its line, is a string."""
    while True:
        kind = type(node)
        if kind is gast.Constant:
            return isinstance(node.value, str)
        if kind is gast.JoinedStr:
            return True
        if kind is gast.Attribute or kind is gast.Subscript or kind is gast.Starred:
            node = node.value
        elif kind is gast.Call:
            node = node.func
        elif kind is gast.BinOp:
            node = node.left
        elif kind is gast.Compare:
            node = node.left
        elif kind is gast.BoolOp:
            node = node.values[0]
        elif kind is gast.IfExp:
            node = node.body
        else:
            return False


# -- expressions ---------------------------------------------------------------------------


def _commas(items: list[gast.expr]) -> str:
    return ", ".join([_expr(item, _COMMA) for item in items])


def _wrap(text: str, own: int, asked: int) -> str:
    return text if own >= asked else f"({text})"


def _expr(node: gast.expr, asked: int) -> str:
    """``node`` printed where its position asks precedence ``asked``."""
    kind = type(node)
    if kind is gast.Name:
        return node.id
    if kind is gast.Attribute:
        return f"{_expr(node.value, _UNSET)}.{node.attr}"
    if kind is gast.Call:
        return _call(node)
    if kind is gast.BinOp:
        symbol, own = _OPERATORS[type(node.op)]
        if symbol == "**":
            left, right = _expr(node.left, _POW_LEFT), _expr(node.right, _POW_RIGHT)
        else:
            left, right = _expr(node.left, own), _expr(node.right, own + 1)
        return _wrap(f"{left} {symbol} {right}", own, asked)
    if kind is gast.Constant:
        return _constant(node, asked)
    if kind is gast.Subscript:
        return f"{_expr(node.value, _UNSET)}[{_expr(node.slice, _SUBSCRIPT)}]"
    if kind is gast.UnaryOp:
        symbol, own = _OPERATORS[type(node.op)]
        operand = _expr(node.operand, own)
        text = f"{symbol} {operand}" if symbol == "not" else symbol + operand
        return _wrap(text, own, asked)
    if kind is gast.Tuple:
        elts = node.elts
        if not elts:
            return "()"
        text = _commas(elts) + ("," if len(elts) == 1 else "")
        return _wrap(text, _TUPLE, asked)
    if kind is gast.Compare:
        own = _OPERATORS[type(node.ops[0])][1]
        parts = [_expr(node.left, own + 1)]
        for op, right in zip(node.ops, node.comparators):
            parts.append(_OPERATORS[type(op)][0])
            parts.append(_expr(right, own + 1))
        return _wrap(" ".join(parts), own, asked)
    if kind is gast.Slice:
        text = "" if node.lower is None else _expr(node.lower, _SUBSCRIPT)
        text += ":"
        if node.upper is not None:
            text += _expr(node.upper, _SUBSCRIPT)
        if node.step is not None:
            text += ":"
            if not (type(node.step) is gast.Name and node.step.id == "None"):
                text += _expr(node.step, _SUBSCRIPT)
        return text
    if kind is gast.List:
        return f"[{_commas(node.elts)}]"
    if kind is gast.BoolOp:
        symbol, own = _OPERATORS[type(node.op)]
        text = f" {symbol} ".join([_expr(value, own + 1) for value in node.values])
        return _wrap(text, own, asked)
    if kind is gast.IfExp:
        body, test = _expr(node.body, _IF_EXP + 1), _expr(node.test, _IF_EXP + 1)
        orelse = _expr(node.orelse, _IF_EXP)
        return _wrap(f"{body} if {test} else {orelse}", _IF_EXP, asked)
    if kind is gast.Starred:
        return "*" + _expr(node.value, _UNSET)
    if kind is gast.Dict:
        parts = []
        for key, value in zip(node.keys, node.values):
            if key is None:
                parts.append("**" + _expr(value, _COMMA))
            else:
                parts.append(f"{_expr(key, _UNSET)}: {_expr(value, _COMMA)}")
        return "{" + ", ".join(parts) + "}"
    if kind is gast.Set:
        if not node.elts:
            raise _Unsupported
        return "{" + _commas(node.elts) + "}"
    if kind is gast.ListComp:
        return f"[{_expr(node.elt, _UNSET)}{_generators(node.generators)}]"
    if kind is gast.SetComp:
        return "{" + _expr(node.elt, _UNSET) + _generators(node.generators) + "}"
    if kind is gast.DictComp:
        key, value = _expr(node.key, _UNSET), _expr(node.value, _UNSET)
        return "{" + f"{key}: {value}" + _generators(node.generators) + "}"
    if kind is gast.GeneratorExp:
        text = _expr(node.elt, _COMMA) + _generators(node.generators)
        return text if asked == _CALL_ONE_ARG else _wrap(text, _GENERATOR, asked)
    if kind is gast.Lambda:
        arguments = _arguments(node.args)
        return _wrap(f"lambda {arguments}: {_expr(node.body, _IF_EXP)}", _IF_EXP, asked)
    raise _Unsupported


def _call(node: gast.Call) -> str:
    args, keywords = node.args, node.keywords
    asked = _COMMA if len(args) + len(keywords) > 1 else _CALL_ONE_ARG
    parts = [_expr(arg, asked) for arg in args]
    for keyword in keywords:
        value = _expr(keyword.value, _COMMA)
        parts.append(f"{keyword.arg}={value}" if keyword.arg else f"**{value}")
    return f"{_expr(node.func, _UNSET)}({', '.join(parts)})"


def _generators(generators: list[gast.comprehension]) -> str:
    text = ""
    for generator in generators:
        if generator.is_async:
            raise _Unsupported
        target = _expr(generator.target, _TUPLE)
        text += f" for {target} in {_expr(generator.iter, _COMPREHENSION)}"
        for condition in generator.ifs:
            text += f" if {_expr(condition, _COMPREHENSION)}"
    return text


def _constant(node: gast.Constant, asked: int) -> str:
    value = node.value
    kind = type(value)
    if kind is int or kind is bool or kind is float:
        if kind is float and not math.isfinite(value):
            raise _Unsupported  # astor writes 1e1000
        return _wrap(repr(value), _CONSTANT, asked)
    if kind is str:
        # astor writes a one-line string inside an expression as repr writes it (a
        # longer one, or one starting a line, it may write in triple quotes)
        if node.kind is not None or "\n" in value:
            raise _Unsupported
        return repr(value)
    if value is None or kind is bytes:
        return repr(value)
    if value is Ellipsis:
        return "..."
    raise _Unsupported
