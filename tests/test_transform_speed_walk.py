"""The fast tree helpers (transform/walk.py, dataflow.reads and all_names, emit.to_ast)
against the gast and copy functions they stand in for: same nodes in the same order, same
names, equal copies, the same ``ast`` trees."""

from __future__ import annotations

import ast
import copy
import textwrap
from pathlib import Path

import gast
import pytest
from astgrad.transform import anno, dataflow, emit, walk
from astgrad.transform.origin import Origin

SOURCES = [
    """
    def f(x, y=2, *args, z: int = 3, **kwargs):
        a = x * y + np.sum(x[1:3, None], axis=0)
        b, (c, d) = a, (x, y)
        for i in range(len(args)):
            if a > b and not c:
                a += {k: v for k, v in kwargs.items()}[i] ** -1
            else:
                del c
        while a < 3:
            a = [t for t in args if t] or (lambda q: q + 1)
        with open(f"{x!r}") as handle:
            handle.write(d)
        try:
            pass
        except ValueError as error:
            raise error from None
        return a, b[..., 0], x.T @ y
    """,
    """
    def g(x):
        return x
    """,
]


MODULES = ["transform/normalize.py", "tests/programs_control.py", "runtime/rules/linalg.py"]


def module(path):
    return gast.parse((Path(__file__).parent.parent / path).read_text())


def trees():
    return [gast.parse(textwrap.dedent(source)).body[0] for source in SOURCES]


#: the leaves ``walk`` leaves out
_LEAVES = (gast.expr_context, gast.operator, gast.unaryop, gast.boolop, gast.cmpop)


@pytest.mark.parametrize("tree", [*trees(), module("transform/normalize.py")])
def test_walk_gives_gast_walks_nodes_in_its_order_less_contexts_and_operators(tree):
    for node in gast.walk(tree):
        if isinstance(node, _LEAVES):
            assert walk.walk(node) == [node]
            continue
        expected = [id(n) for n in gast.walk(node) if not isinstance(n, _LEAVES)]
        assert [id(n) for n in walk.walk(node)] == expected


@pytest.mark.parametrize("tree", trees())
def test_names(tree):
    for node in gast.walk(tree):
        names = [n for n in gast.walk(node) if isinstance(n, gast.Name)]
        assert dataflow.all_names(node) == {n.id for n in names}
        assert dataflow.reads(node) == {n.id for n in names if isinstance(n.ctx, gast.Load)}


@pytest.mark.parametrize("tree", trees())
def test_parents(tree):
    expected = {}
    for node in gast.walk(tree):
        for child in gast.iter_child_nodes(node):
            expected[id(child)] = node
    assert walk.parents(tree) == expected


@pytest.mark.parametrize("tree", trees())
def test_copy_tree_is_an_independent_copy_sharing_annotation_values(tree):
    origin = Origin("file.py", 3, "a = b", "f")
    for node in gast.walk(tree):
        anno.set(node, anno.Key.ORIGIN, origin)
    copied = walk.copy_tree(tree)
    assert emit.to_source(copied) == emit.to_source(copy.deepcopy(tree)) == emit.to_source(tree)
    originals, copies = walk.walk(tree), walk.walk(copied)
    assert len(originals) == len(copies)
    for original, new in zip(originals, copies):
        assert type(new) is type(original) and new is not original
        assert anno.get(new, anno.Key.ORIGIN) is origin
        assert getattr(new, anno.SLOT) is not getattr(original, anno.SLOT)
        assert getattr(new, "lineno", None) == getattr(original, "lineno", None)
    anno.set(copies[1], anno.Key.PART, "adjoint")
    assert not anno.has(originals[1], anno.Key.PART)


def test_copy_tree_replaces_in_visiting_order():
    tree = gast.parse("a + f(b, c) * a").body[0].value
    seen = []

    def rename(node):
        if isinstance(node, gast.Name):
            seen.append(node.id)
            return gast.Name(
                id=node.id.upper(), ctx=gast.Load(), annotation=None, type_comment=None
            )
        return None

    copied = walk.copy_tree(tree, rename)
    assert seen == ["a", "f", "b", "c", "a"]
    assert emit.to_source(copied).strip() == "(A + F(B, C) * A)"
    assert emit.to_source(tree).strip() == "(a + f(b, c) * a)"


def test_rewrite_is_bottom_up_like_a_node_transformer():
    source = "f(1 + 2, -(-(x)), [y * 1, 3 * 4])"

    class Folder(gast.NodeTransformer):
        def visit_BinOp(self, node):
            self.generic_visit(node)
            if isinstance(node.left, gast.Constant) and isinstance(node.right, gast.Constant):
                return gast.Constant(node.left.value * 10 + node.right.value, None)
            return node

    def fold(node):
        if isinstance(node, gast.BinOp):
            if isinstance(node.left, gast.Constant) and isinstance(node.right, gast.Constant):
                return gast.Constant(node.left.value * 10 + node.right.value, None)
        return node

    expected = Folder().visit(gast.parse(source).body[0].value)
    got = walk.rewrite(gast.parse(source).body[0].value, fold)
    assert emit.to_source(got) == emit.to_source(expected)


@pytest.mark.parametrize("path", MODULES)
def test_to_ast_makes_what_gast_makes(path):
    tree = module(path)
    assert ast.dump(emit.to_ast(tree)) == ast.dump(gast.gast_to_ast(tree))
    for node in gast.walk(tree):
        if isinstance(node, (gast.stmt, gast.expr)):
            assert ast.dump(emit.to_ast(node)) == ast.dump(gast.gast_to_ast(node))


@pytest.mark.parametrize("tree", trees() + [module(path) for path in MODULES])
def test_statements_are_walks_statements_in_its_order(tree):
    for node in gast.walk(tree):
        if isinstance(node, gast.stmt):
            expected = [n for n in gast.walk(node) if isinstance(n, gast.stmt)]
            assert [id(n) for n in walk.statements_breadth_first(node)] == [id(n) for n in expected]
