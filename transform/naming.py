"""One namer per generated function: it reserves every name the user's code and its
globals use before inventing new ones, so generated names never shadow the user's."""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Iterable

import gast

from .walk import walk

_ADJOINT_PREFIX = "d"


class Namer:
    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self._taken: set[str] = set(reserved) | set(dir(builtins)) | set(keyword.kwlist)
        self._adjoints: dict[str, str] = {}
        #: base -> the number to try first for it: names only get taken, so every smaller
        #: number is known taken (trying from 2 each time is n * n in names of one stem)
        self._next: dict[str, int] = {}

    def reserve(self, names: Iterable[str]) -> None:
        self._taken.update(names)

    def reserve_tree(self, tree: gast.AST) -> None:
        for node in walk(tree):
            if isinstance(node, gast.Name):
                self._taken.add(node.id)
            elif isinstance(node, (gast.FunctionDef, gast.ClassDef)):
                self._taken.add(node.name)
            elif isinstance(node, gast.alias):
                self._taken.add((node.asname or node.name).split(".")[0])

    def new(self, base: str) -> str:
        """A fresh name built from ``base``: ``base``, then ``base_2``, ``base_3``..."""
        base = re.sub(r"\W", "_", base) or "t"
        if base[0].isdigit():
            base = "_" + base
        candidate = base
        number = self._next.get(base, 2)
        while candidate in self._taken:
            candidate = f"{base}_{number}"
            number += 1
        self._next[base] = number
        self._taken.add(candidate)
        return candidate

    def adjoint(self, name: str) -> str:
        """The adjoint of ``name``: ``dx`` for ``x``, the same name every time asked."""
        found = self._adjoints.get(name)
        if found is None:
            stem = name.lstrip("_") or name
            base = f"{_ADJOINT_PREFIX}{stem}"
            if base in self._taken:
                base = f"{_ADJOINT_PREFIX}_{stem}"
            found = self._adjoints[name] = self.new(base)
        return found

    def has_adjoint(self, name: str) -> bool:
        return name in self._adjoints

    def primal(self, adjoint: str) -> str | None:
        """The name whose adjoint is ``adjoint`` (None for a name that is no adjoint)."""
        for name, found in self._adjoints.items():
            if found == adjoint:
                return name
        return None
