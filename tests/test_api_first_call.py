"""What makes a first call cheaper must not change what it makes: printing generated code
leaves the passes' tree as it was and puts each comment where its marker stood; copies of
a tree share their (immutable) origins."""

from __future__ import annotations

import copy
import textwrap

import gast
import numpy as np
from astgrad.transform import anno, emit
from astgrad.transform.origin import Origin
from astgrad.transform.parsing import parse_function

import astgrad as ag


def looped(x, n):
    total = 0.0
    for i in range(n):
        if i % 2:
            total = total + np.sum(x)
        else:
            total = total - np.sum(x * x)
    return total


def _parse_statements(source: str) -> list[gast.stmt]:
    return gast.parse(textwrap.dedent(source)).body


def test_comments_print_where_their_markers_stand_in_nested_blocks():
    (definition,) = _parse_statements(
        """
        def f(x):
            if x:
                y = 1
            else:
                y = 2
            for i in x:
                while i:
                    i = i - 1
            try:
                z = 3
            except ValueError:
                z = 4
            finally:
                w = 5
            return y
        """
    )
    comments = iter(range(1, 100))

    def mark(block: list[gast.stmt]) -> list[gast.stmt]:
        # Numbered in print order: a statement's comment, then those of its blocks.
        out = []
        for stmt in block:
            out += [emit.comment(f"c{next(comments)}"), stmt]
            for field in ("body", "handlers", "orelse", "finalbody"):
                inner = getattr(stmt, field, None)
                if field == "handlers":
                    for handler in inner or []:
                        handler.body = mark(handler.body)
                elif inner:
                    setattr(stmt, field, mark(inner))
        return out

    definition.body = mark(definition.body)
    before = gast.dump(definition)
    source = emit.to_source(definition)
    assert gast.dump(definition) == before, "printing changed the tree"
    lines = [line.strip() for line in source.splitlines()]
    numbered = [line for line in lines if line.startswith("# c")]
    # Each comment once, in the order the statements print.
    assert numbered == [f"# c{n}" for n in range(1, len(numbered) + 1)]
    assert len(numbered) == next(comments) - 1
    for code, comment in [
        ("y = 1", "# c"),
        ("y = 2", "# c"),
        ("i = i - 1", "# c"),
        ("z = 4", "# c"),
        ("w = 5", "# c"),
    ]:
        assert lines[lines.index(code) - 1].startswith(comment), (code, source)
    compile(source, "<test>", "exec")


def test_generated_source_keeps_its_grad_of_comments():
    text = ag.source(looped)
    assert "# grad of: total = total + np.sum(x)" in text
    assert "# grad of: total = total - np.sum(x * x)" in text
    compile(text, "<test>", "exec")


def test_copies_of_a_tree_share_their_origins():
    node = parse_function(looped).node
    copied = copy.deepcopy(node)
    originals = [anno.get(n, anno.Key.ORIGIN) for n in gast.walk(node)]
    copies = [anno.get(n, anno.Key.ORIGIN) for n in gast.walk(copied)]
    assert any(isinstance(o, Origin) for o in originals)
    assert all(a is b for a, b in zip(originals, copies))
    # The nodes and the annotation dicts themselves are copies.
    assert all(a is not b for a, b in zip(gast.walk(node), gast.walk(copied)))
    anno.set(copied, anno.Key.ACTIVE, True)
    assert not anno.has(node, anno.Key.ACTIVE)


def test_a_fresh_function_object_with_the_same_code_gives_the_same_gradient():
    import types

    fresh = types.FunctionType(looped.__code__, looped.__globals__, "looped")
    x = np.array([1.0, 2.0])
    assert np.allclose(ag.grad(fresh)(x, 3), ag.grad(looped)(x, 3))
