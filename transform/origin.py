"""Where generated code came from: the user's file, line and statement text.

Every node the passes create carries the :class:`Origin` of the user statement it stems
from (``anno.Key.ORIGIN``), so transformation errors and the ``# grad of:`` comments in
generated code point back to the user's line.
"""

from __future__ import annotations

from dataclasses import dataclass

import gast

from . import anno
from .walk import walk


@dataclass(frozen=True)
class Origin:
    filename: str
    line: int
    #: the user's statement, as one line of text (multi-line statements are joined)
    text: str
    function: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}"

    def __deepcopy__(self, memo: dict) -> Origin:
        # An origin is an immutable value: copies of a tree share it. Every node carries
        # one, and copying them made up a tenth of the time the transform took.
        return self


def of(node: gast.AST) -> Origin | None:
    return anno.get(node, anno.Key.ORIGIN)


def same_line(a: Origin | None, b: Origin | None) -> bool:
    """Whether two origins are one line of the user's (both known)."""
    return a is not None and b is not None and (a.line, a.filename) == (b.line, b.filename)


def stamp(node: gast.AST, origin: Origin | None) -> gast.AST:
    """Give ``node`` and every descendant without an origin the origin ``origin``."""
    if origin is None:
        return node
    for sub in walk(node):
        if not anno.has(sub, anno.Key.ORIGIN):
            anno.set(sub, anno.Key.ORIGIN, origin)
    return node
