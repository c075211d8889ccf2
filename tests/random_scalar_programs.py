"""Random programs on Python floats only, for checking the transform's float-specialized
derivative (shape class SCALAR) against finite differences.

``generate(seed)`` writes a module's source: ``import math``, zero to two helpers
``helperN(p, q)`` and one function ``program(a, b)`` that calls them. The statements are
arithmetic-heavy (products with a name repeated, ``** 2``, unary minus, division by
``1.5 + x * x``, ``math.sin``/``math.tanh``/``math.exp(math.tanh(...))``), reuse
temporaries, overwrite names (parameters included), use augmented assignment and tuple
swaps, and sit in ``for`` loops (nested, with the counter used, with ``break``),
``while`` loops with a counter and ``if``/``else`` branches: what the SCALAR-only
optimizations (recomputing cheap temporaries, merging a line's contributions, factoring
sums, iterating saved loop values in reverse) rewrite.

Values are kept bounded (tanh, damped updates, small coefficients) so that central
finite differences in float64 stay accurate. A candidate is dropped, and the next one
drawn, where its values still grow too large on sample points, where it has no loop, or
where it is longer than ``MAX_LINES`` (the transform's time grows with the source, and
the tests derive every program three times).
"""

from __future__ import annotations

import math
import random
import re

#: unary wrappers of an expression ``{0}``; every one keeps a bounded value bounded
UNARY = [
    "math.tanh({0})",
    "math.sin({0})",
    "math.exp(math.tanh({0}))",
    "math.cos({0}) * 0.5",
    "-{0}",
    "-({0}) * 0.6",
    "({0}) ** 2 * 0.3",
    "math.tanh({0}) ** 2",
]
#: binary forms of two expressions ``{0}``, ``{1}``
BINARY = [
    "({0} + {1}) * 0.5",
    "({0} - {1}) * 0.5",
    "{0} * {1} * 0.5",
    "{0} / (1.5 + {1} * {1})",
    "{0} * 0.3 - {1} * {0}",
    "({0} * {1} - {1}) * 0.4",
]

#: the longest program kept, in lines of the module
MAX_LINES = 27


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.fresh = 0
        self.helpers: list[str] = []

    def new_name(self) -> str:
        self.fresh += 1
        return f"t{self.fresh}"

    def coefficient(self, low: float = 0.05, high: float = 0.4) -> str:
        return f"{self.rng.uniform(low, high):.2f}"

    def atom(self, names: list[str], constant: bool = True) -> str:
        """A name, scaled or squared, or (where ``constant``) a constant."""
        r = self.rng
        choice = r.random()
        name = r.choice(names)
        if choice < 0.55:
            return name
        if choice < 0.8:
            return f"{name} * {self.coefficient(0.1, 0.9)}"
        if choice < 0.9 or not constant:
            return f"{name} * {name} * {self.coefficient(0.1, 0.5)}"  # the same name twice
        return f"{r.uniform(-1, 1):.2f}"

    def expression(self, names: list[str], depth: int = 0) -> str:
        r = self.rng
        choice = r.random()
        if depth >= 2 or choice < 0.2:
            return self.atom(names, constant=depth > 0)  # a bare constant would cut the gradient
        if choice < 0.45:
            return r.choice(UNARY).format(self.expression(names, depth + 1))
        if choice < 0.85:
            first = self.expression(names, depth + 1)
            second = r.choice(names) if r.random() < 0.5 else self.expression(names, depth + 1)
            return "(" + r.choice(BINARY).format(first, second) + ")"
        if choice < 0.93 and self.helpers:
            return f"{r.choice(self.helpers)}({r.choice(names)}, {self.atom(names)})"
        name = r.choice(names)  # a product with one name three times
        return f"({name} * {name} * {r.choice(names)} * {self.coefficient(0.1, 0.3)})"

    def statement(self, names: list[str], pad: str, out: list[str], new: list[str]) -> None:
        """One straight-line statement; a new temporary goes to ``new``."""
        r = self.rng
        kind = r.random()
        target = r.choice(names)
        if kind < 0.16:
            name = self.new_name()
            out.append(f"{pad}{name} = {self.expression(names)}")
            new.append(name)
        elif kind < 0.2:
            name = self.new_name()  # a second name for a value, whose first may be overwritten
            out.append(f"{pad}{name} = {target}")
            new.append(name)
        elif kind < 0.4:
            # a damped update, like a = a * 0.99 + 0.01 * a * a
            keep = self.coefficient(0.5, 0.95)
            mix = self.coefficient()
            out.append(f"{pad}{target} = {target} * {keep} + {mix} * {self.expression(names)}")
        elif kind < 0.52:
            out.append(f"{pad}{target} = math.tanh({self.expression(names)})")
        elif kind < 0.62:
            other = r.choice(names)
            out.append(f"{pad}{target} = {target} - {other} / (1.5 + {other} * {other})")
        elif kind < 0.7:
            out.append(f"{pad}{target} += {self.coefficient()} * {self.expression(names)}")
        elif kind < 0.76:
            out.append(f"{pad}{target} -= {self.coefficient()} * {self.expression(names)}")
        elif kind < 0.82:
            out.append(f"{pad}{target} *= 0.9 + 0.1 * math.tanh({self.expression(names)})")
        elif kind < 0.9 and len(names) > 1:
            first, second = r.sample(names, 2)  # a swap: every value read before any write
            if r.random() < 0.4:
                out.append(f"{pad}{first}, {second} = {second}, {first}")
            else:
                out.append(
                    f"{pad}{first}, {second} = {second}, math.tanh({self.expression(names)})"
                )
        elif self.helpers:
            out.append(
                f"{pad}{target} = {r.choice(self.helpers)}({r.choice(names)}, {self.atom(names)})"
            )
        else:
            name = self.new_name()
            out.append(f"{pad}{name} = -{self.expression(names)}")
            new.append(name)

    def block(
        self, names: list[str], indent: int, depth: int, size: int, loop: str | None
    ) -> list[str]:
        """Statements; ``names`` grows with the temporaries bound at this level. ``loop``
        is the innermost for loop's counter, or None outside one."""
        r = self.rng
        pad = "    " * indent
        out: list[str] = []
        for _ in range(size):
            kind = r.random()
            if depth < 2 and kind < 0.2:
                index = f"i{indent}"
                target = r.choice(names)
                out.append(f"{pad}for {index} in range({r.randint(1, 6)}):")
                out += self.block(list(names), indent + 1, depth + 1, r.randint(1, 2), index)
                step = f"(0.5 + {self.coefficient(0.05, 0.1)} * {index})"
                out.append(f"{pad}    {target} = math.tanh({self.expression(names)} * {step})")
                if r.random() < 0.35:
                    out.append(f"{pad}    if {r.choice(names)} > {r.uniform(-0.5, 0.8):.2f}:")
                    out.append(f"{pad}        break")
            elif depth < 2 and kind < 0.3:
                counter = f"k{indent}"
                out.append(f"{pad}{counter} = 0")
                out.append(f"{pad}while {counter} < {r.randint(1, 4)}:")
                out += self.block(list(names), indent + 1, depth + 1, r.randint(1, 2), loop)
                out.append(f"{pad}    {counter} += 1")
            elif kind < 0.45 and (depth < 1 or (loop is not None and depth < 3)):
                target = r.choice(names)
                out.append(f"{pad}if {r.choice(names)} > {r.uniform(-0.5, 0.5):.2f}:")
                out += self.block(list(names), indent + 1, depth + 1, r.randint(0, 1), loop)
                out.append(f"{pad}    {target} = {self.expression(names)}")
                if r.random() < 0.7:
                    out.append(f"{pad}else:")
                    out += self.block(list(names), indent + 1, depth + 1, r.randint(0, 1), loop)
                    out.append(f"{pad}    {target} = {target} * {self.coefficient(0.5, 0.95)}")
            elif loop is not None and kind < 0.6:
                # the loop counter in the arithmetic
                target = r.choice(names)
                mix = self.coefficient()
                value = self.expression(names)
                out.append(f"{pad}{target} = {target} * (0.5 + 0.1 * {loop}) + {mix} * {value}")
            else:
                new: list[str] = []
                self.statement(names, pad, out, new)
                names += new
        return out


def _candidate(rng: random.Random) -> str:
    writer = _Writer(rng)
    lines = ["import math", ""]
    for h in range(rng.randint(0, 2)):
        names = ["p", "q"]
        body = writer.block(names, 1, 1, rng.randint(1, 2), None)
        result = writer.expression(names)
        lines += ["", f"def helper{h}(p, q):", *body, f"    return {result}", ""]
        writer.helpers.append(f"helper{h}")
    names = ["a", "b"]
    body = writer.block(names, 1, 0, rng.randint(3, 5), None)
    extra = [n for n in names if n not in ("a", "b")]
    terms = ["a * a", f"b * {writer.coefficient(0.3, 0.7)}", "a * b"]
    if extra:
        terms.append(f"{rng.choice(extra)} * {writer.coefficient(0.2, 0.8)}")
    if rng.random() < 0.5:
        terms.append("math.exp(math.tanh(a * b))")
    lines += ["", "def program(a, b):", *body, f"    return {' + '.join(terms)}", ""]
    return "\n".join(lines)


def _tame(source: str) -> bool:
    """Whether the program runs and stays small on sample points of [-1, 1]²."""
    namespace: dict = {}
    exec(compile(source, "<candidate>", "exec"), namespace)
    program = namespace["program"]
    for a in (-0.9, -0.35, 0.1, 0.6, 0.95):
        for b in (-0.8, 0.25, 0.9):
            try:
                value = program(a, b)
            except (ArithmeticError, ValueError):
                return False
            if type(value) is not float or not math.isfinite(value) or abs(value) > 20.0:
                return False
    return True


def generate(seed: int) -> str:
    """The source of a module defining helpers and ``program(a, b)`` on floats."""
    rng = random.Random(seed)
    while True:
        source = _candidate(rng)
        looped = re.search(r"^ +(for|while) ", source, re.MULTILINE)
        if looped and source.count("\n") <= MAX_LINES and _tame(source):
            return source
