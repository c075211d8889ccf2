"""transform/printer.py writes what astor writes, character for character: on every
function of the repository's own source files, on random expressions made to find
astor's parentheses, and on the shapes generated code has (comments, nested functions,
long lines astor wraps). Where it says None astor prints, so only its text is checked,
and that it says None rarely."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import gast
import pytest
from astgrad.transform import emit, printer
from astgrad.transform.convert import to_gast
from astgrad.transform.walk import copy_tree

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("transform", "runtime", "astgrad", "tools", "tests", "examples", "benchmarks")


def both(node: gast.FunctionDef, wrapped: bool = True) -> tuple[str | None, str | None]:
    """The printer's text (None where it leaves the function to astor) and astor's (None
    then too: astor cannot print everything, e.g. ``match``). With ``wrapped=False``
    no statement may be long enough for astor to wrap (it would print it itself)."""
    mine = printer.function_source(node, emit._astor_statement if wrapped else _no_wrapping)
    return mine, None if mine is None else emit.astor_source(node)


def _no_wrapping(stmt: gast.stmt, depth: int) -> list[str]:
    raise AssertionError("a test case longer than a line: astor would print it")


def as_generated(definition: gast.FunctionDef) -> gast.FunctionDef:
    """A copy of a function as the passes would hand it over: no decorators or
    annotations (generated functions have none), no docstrings."""
    copied = copy_tree(definition)
    for node in gast.walk(copied):
        if isinstance(node, gast.FunctionDef):
            node.decorator_list, node.returns = [], None
            arguments = node.args
            for parameter in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
                parameter.annotation = None
            for parameter in (arguments.vararg, arguments.kwarg):
                if parameter is not None:
                    parameter.annotation = None
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if isinstance(block, list) and block and isinstance(block[0], gast.stmt):
                kept = [s for s in block if not _is_docstring(s)]
                block[:] = kept or [gast.Pass()]
    return copied


def _is_docstring(stmt: gast.stmt) -> bool:
    return (
        isinstance(stmt, gast.Expr)
        and isinstance(stmt.value, gast.Constant)
        and isinstance(stmt.value.value, str)
    )


def parsed_function(source: str) -> gast.FunctionDef:
    return to_gast(ast.parse(source))[0].body[0]


def test_every_function_of_the_repository_prints_as_astor_prints_it():
    printed = left = 0
    paths = sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))
    for path in paths:
        tree, _ = to_gast(ast.parse(path.read_text(), str(path)))
        for node in gast.walk(tree):
            if not isinstance(node, gast.FunctionDef):
                continue
            mine, theirs = both(as_generated(node))
            if mine is None:
                left += 1
                continue
            printed += 1
            assert mine == theirs, f"{path.name}: def {node.name}"
    # what it leaves to astor (a try, a with, an f-string) is the exception
    assert printed > 2000, (printed, left)
    assert left < printed, (printed, left)


SHAPES = [
    # the shapes generated functions are made of
    """
def f_grad(x, W, *args, scale=1.0, **options):
    y = np.sin(x) * 1.01 + x
    total = np.sum((y - 1) ** 2)
    dtotal = scalar_seed(total)
    dy = expand_reduced(dtotal, y) * 2 * (y - 1)
    del y, total
    dx = dy * np.cos(x)
    for i in range(pop()):
        if i > 0 and not done:
            dx[i, :] += dW[i - 1, 1:-1:2] @ W.T
        elif i == -1:
            continue
        else:
            break
    while stack:
        pop()
    else:
        pass
    return total, (dx, dW)
""",
    # nested definitions print after a blank line
    """
def outer(x):
    y = x

    def inner(a, b=2, *, c, d=None):
        global g
        nonlocal h
        return a if b else -c

    def again():
        raise ValueError('no') from None
    return inner
""",
    # astor wraps a long line its own way: the printer asks astor for that statement
    """
def long(first_argument, second_argument, third_argument, fourth_argument):
    result_of_the_long_call = some_module.some_function(first_argument, second_argument)
    x = 1
    return first_argument, second_argument, third_argument, fourth_argument, x
""",
    # precedence: what astor puts in parentheses and what it leaves out (each line
    # shorter than 80 characters: a longer one astor prints)
    """
def precedence(a, b, c):
    x = (a + b).T, (a * b)[0], (-a) ** 2, -a ** 2, a ** -b
    x = a ** b ** c, (a ** b) ** c, a - (b - c), a - b - c, a / (b * c)
    y = not a in b, (not a) + b, ~a, +a, - -a, a < b <= c, a is not None
    z = (a if b else c) + 1, a if (b if c else a) else c, lambda: a
    z = (lambda q=1: q)(b), [(i + 1) for i in a if i], f(i for i in a)
    w = {i: (j, k) for i, (j, k) in b}, {i for i in a}, f((i for i in a), b)
    v = {a, b}, {**a, 'k': b}, x[()], x[a:b], x[::2], x[:, None], x[1:2, ::c]
    u = (a, b) == (c,), a and b or c, a and (b or c), ..., (a, *b), [*a]
    t = 1, 1.5, 1e-05, 1e+300, True, None, b'x', 'it''s', "q", (1).real
    a @= b
    a //= -1
    assert a, 'message'
    f(*a, **b)
""",
]


@pytest.mark.parametrize("index", range(len(SHAPES)))
def test_the_shapes_of_generated_code_print_as_astor_prints_them(index):
    mine, theirs = both(parsed_function(SHAPES[index]), wrapped="long" in SHAPES[index])
    assert mine is not None
    assert mine == theirs


def test_comment_markers_print_as_comments():
    definition = parsed_function("def f(x):\n    y = x\n    if y:\n        return y\n")
    definition.body.insert(0, emit.comment("grad of: y = x"))
    definition.body[-1].body.insert(0, emit.comment("inside"))
    mine, theirs = both(definition)
    assert mine == theirs
    assert mine == (
        "def f(x):\n    # grad of: y = x\n    y = x\n    if y:\n        # inside\n"
        "        return y\n"
    )


@pytest.mark.parametrize(
    "source",
    [
        'def f():\n    "a string starting a line"\n',  # astor may use triple quotes
        "def f():\n    x = f'{a}'\n",
        "def f():\n    with a:\n        pass\n",
        "def f():\n    try:\n        pass\n    except E:\n        pass\n",
        "def f():\n    x = 1j\n",
        "def f():\n    x = 'two\\nlines'\n",
    ],
)
def test_what_the_printer_leaves_to_astor(source):
    mine, _ = both(parsed_function(source))
    assert mine is None


def test_a_long_header_is_left_to_astor():
    header = "def f(x):\n    if " + " and ".join(f"condition_{k}" for k in range(12)) + ":\n"
    mine, _ = both(parsed_function(header + "        pass\n"))
    assert mine is None


# -- random expressions, made to find where astor puts parentheses ----------------------------

_BINARY = [gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow, gast.MatMult, gast.Mod]
_BINARY += [gast.FloorDiv, gast.BitOr, gast.BitAnd, gast.BitXor, gast.LShift, gast.RShift]
_UNARY = [gast.USub, gast.UAdd, gast.Not, gast.Invert]
_COMPARE = [gast.Lt, gast.Eq, gast.NotIn, gast.IsNot, gast.GtE]


def _name(rng: random.Random) -> gast.Name:
    return gast.Name(rng.choice("abxy"), gast.Load(), None, None)


def _constant(rng: random.Random) -> gast.Constant:
    value = rng.choice([0, 2, -3, 1.5, -0.25, 1e-07, True, None, "s", "it's", b"b"])
    return gast.Constant(value, None)


def random_expression(rng: random.Random, depth: int) -> gast.expr:
    if depth == 0 or rng.random() < 0.15:
        return _name(rng) if rng.random() < 0.6 else _constant(rng)
    sub = lambda: random_expression(rng, depth - 1)  # noqa: E731
    kind = rng.randrange(15)
    if kind < 4:
        return gast.BinOp(sub(), rng.choice(_BINARY)(), sub())
    if kind == 4:
        return gast.UnaryOp(rng.choice(_UNARY)(), sub())
    if kind == 5:
        ops = [rng.choice(_COMPARE)() for _ in range(rng.randint(1, 2))]
        return gast.Compare(sub(), ops, [sub() for _ in ops])
    if kind == 6:
        op = rng.choice([gast.And, gast.Or])()
        return gast.BoolOp(op, [sub() for _ in range(rng.randint(2, 3))])
    if kind == 7:
        return gast.IfExp(sub(), sub(), sub())
    if kind == 8:
        return gast.Attribute(sub(), "T", gast.Load())
    if kind == 9:
        args = [sub() for _ in range(rng.randint(0, 2))]
        if rng.random() < 0.3:
            args.append(gast.Starred(sub(), gast.Load()))
        keywords = [gast.keyword("axis", sub())] if rng.random() < 0.3 else []
        return gast.Call(_name(rng), args, keywords)
    if kind == 10:
        parts = [sub(), gast.Slice(sub(), None, sub() if rng.random() < 0.5 else None)]
        index = rng.choice([sub(), gast.Tuple(parts, gast.Load()), parts[1]])
        return gast.Subscript(sub(), index, gast.Load())
    if kind == 11:
        return gast.Tuple([sub() for _ in range(rng.randint(0, 3))], gast.Load())
    if kind == 12:
        return gast.List([sub() for _ in range(rng.randint(0, 2))], gast.Load())
    if kind == 13:
        target = gast.Name("i", gast.Store(), None, None)
        generator = gast.comprehension(target, sub(), [sub()] if rng.random() < 0.5 else [], 0)
        made = rng.choice([gast.ListComp, gast.GeneratorExp])
        expression = made(sub(), [generator])
        if made is gast.GeneratorExp and rng.random() < 0.5:
            return gast.Call(_name(rng), [expression], [])  # a generator as a call's one argument
        return expression
    arguments = gast.arguments([], [], None, [], [], None, [])
    return gast.Lambda(arguments, sub())


@pytest.mark.parametrize("seed", range(40))
def test_random_expressions_print_as_astor_prints_them(seed):
    rng = random.Random(seed)
    body = []
    while len(body) < 25:
        k = len(body)
        value = random_expression(rng, rng.randint(1, 4))
        kind = rng.randrange(4)
        if kind == 0:
            stmt = gast.Assign([gast.Name(f"v{k}", gast.Store(), None, None)], value, None)
        elif kind == 1:
            stmt = gast.Return(value)
        elif kind == 2:
            stmt = gast.AugAssign(gast.Name("acc", gast.Store(), None, None), gast.Add(), value)
        else:
            stmt = gast.Expr(gast.Call(_name(rng), [value], []))
        if len(emit._astor_statement(stmt, 1)) == 1:  # a line astor did not wrap
            body.append(stmt)
    arguments = gast.arguments([], [], None, [], [], None, [])
    definition = gast.FunctionDef("f", arguments, body, [], None, None, [])
    mine, theirs = both(definition, wrapped=False)
    assert mine is not None
    assert mine == theirs
