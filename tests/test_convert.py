"""transform/convert.py makes the tree ``gast.ast_to_gast`` makes: the same node classes,
fields, values and locations, on every Python source file of the repository and on the
kinds gast converts its own way; and the depth it measures is the tree's."""

from __future__ import annotations

import ast
from pathlib import Path

import gast
import pytest
from astgrad.transform.convert import to_gast

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(
    p
    for folder in ("transform", "runtime", "astgrad", "tools", "tests", "examples", "benchmarks")
    for p in (ROOT / folder).rglob("*.py")
)

KINDS = """
async def f(a: int, /, b=1, *args: "x", c, d: float = 2.0, **kw) -> None:  # type: ignore
    try:
        async with a as b, c:
            pass
    except (ValueError, TypeError) as error:
        raise error from None
    except KeyError:
        pass
    finally:
        del a
    async for x in y:
        await x
    global g
    lambda p, *q, r=1: p
    print(f"{a!r:>{b}} {c=}", *args, **kw)
    [i for i in range(3) if i for j in i]
    {k: v for k, v in kw.items()}
    x[1:2, ::3, ...] = y @ z
    match a:
        case [1, *rest] | {"k": 2, **others} if rest:
            pass
        case Point(x=0) as p:
            pass

class C(B, metaclass=M):
    x: int = 1
    @decorated
    def m(self): yield from self
"""


def _same(a, b, where="") -> None:
    assert type(a) is type(b), (where, a, b)
    if isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
        return
    if not isinstance(a, gast.AST):
        assert a == b or (a != a and b != b), (where, a, b)
        return
    assert set(a.__dict__) == set(b.__dict__), (where, a.__dict__, b.__dict__)
    for key, value in a.__dict__.items():
        _same(value, b.__dict__[key], f"{where}.{key}")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_source_file_converts_as_gast_converts_it(path):
    tree = ast.parse(path.read_text())
    made, _ = to_gast(tree)
    _same(made, gast.ast_to_gast(ast.parse(path.read_text())))


def test_the_kinds_gast_converts_its_own_way():
    made, depth = to_gast(ast.parse(KINDS))
    _same(made, gast.ast_to_gast(ast.parse(KINDS)))
    assert depth > 5


def test_the_depth_is_the_trees():
    made, depth = to_gast(ast.parse("x = " + " + ".join(["a"] * 50)))
    # Module, Assign, 49 BinOps, the first Name and its Load
    assert depth == 1 + 1 + 49 + 1 + 1
