"""Random NumPy programs with loops, branches, helpers, lists, item assignment and names
overwritten, for checking gradients against finite differences.

``generate(seed)`` writes a module's source: a few helper functions and one function
``program(x, w)`` that calls them. Values are kept bounded (tanh, sin, scaled products)
so that finite differences stay accurate; branches compare sums against thresholds.
"""

from __future__ import annotations

import random

ARRAY_UNARY = [
    "np.sin({})",
    "np.tanh({})",
    "np.cos({}) * 0.5",
    "({} * 0.7)",
    "np.sqrt({0} * {0} + 1.0)",
    "np.exp(np.tanh({}))",
    "np.abs({}) * 0.3",
]
BINARY = [
    "({} + {})",
    "({} - {})",
    "({} * {}) * 0.5",
    "({} / (1.5 + {} * {}))",
    "np.maximum({}, {})",
]


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.lines: list[str] = []
        self.fresh = 0
        self.in_helper = False
        # Arrays made by np.copy and never aliased: the only safe targets of x += ... (on
        # an alias, NumPy's in-place update would show through the other name, which
        # astgrad, treating x += y as x = x + y, does not model).
        self.copies: set[str] = set()

    def new_name(self) -> str:
        self.fresh += 1
        return f"v{self.fresh}"

    def expression(self, names: list[str], helpers: list[str], depth: int = 0) -> str:
        r = self.rng
        choice = r.random()
        if depth >= 2 or choice < 0.25:
            # At the top a bare name would make an alias: keep every binding a new array.
            return r.choice(names) if depth else f"({r.choice(names)} * 1.0)"
        if choice < 0.5:
            return r.choice(ARRAY_UNARY).format(self.expression(names, helpers, depth + 1))
        if choice < 0.8:
            pattern = r.choice(BINARY)
            if pattern.count("{}") == 3:
                a, b = self.expression(names, helpers, depth + 1), r.choice(names)
                return pattern.format(a, b, b)
            return pattern.format(
                self.expression(names, helpers, depth + 1),
                self.expression(names, helpers, depth + 1),
            )
        if choice < 0.9 and helpers:
            helper = r.choice(helpers)
            return f"{helper}({r.choice(names)}, {r.choice(names)})"
        return f"(np.sum({r.choice(names)}) * 0.1 + {r.choice(names)})"

    def block(
        self, names: list[str], helpers: list[str], indent: int, depth: int, size: int
    ) -> list[str]:
        """Statements; ``names`` grows with what they bind (only where surely bound)."""
        r = self.rng
        pad = "    " * indent
        out: list[str] = []
        for _ in range(size):
            kind = r.random()
            if depth < 2 and kind < 0.15:
                # a data-dependent branch; names bound in only one arm are not used after
                cond = f"np.sum({r.choice(names)}) > {r.uniform(-1, 1):.2f}"
                target = r.choice(names)
                out.append(f"{pad}if {cond}:")
                out += self.block(list(names), helpers, indent + 1, depth + 1, r.randint(1, 2))
                out.append(f"{pad}    {target} = {self.expression(names, helpers)}")
                if r.random() < 0.6:
                    out.append(f"{pad}else:")
                    out.append(f"{pad}    {target} = {self.expression(names, helpers)}")
            elif depth < 2 and kind < 0.3:
                count = r.randint(1, 3)
                index = f"i{indent}"
                target = r.choice(names)
                out.append(f"{pad}for {index} in range({count}):")
                out += self.block(list(names), helpers, indent + 1, depth + 1, r.randint(1, 2))
                out.append(
                    f"{pad}    {target} = {self.expression(names, helpers)}"
                    f" * (0.5 + 0.25 * {index})"
                )
                if r.random() < 0.3:
                    out.append(f"{pad}    if np.sum({target}) > {r.uniform(0, 2):.2f}:")
                    out.append(f"{pad}        break")
            elif depth < 2 and kind < 0.38:
                counter = f"k{indent}"
                target = r.choice(names)
                out.append(f"{pad}{counter} = 0")
                out.append(f"{pad}while {counter} < {r.randint(1, 3)}:")
                out.append(f"{pad}    {target} = {self.expression(names, helpers)}")
                out.append(f"{pad}    {counter} += 1")
            elif kind < 0.46:
                items = self.new_name()
                out.append(f"{pad}{items} = []")
                out.append(f"{pad}for item in ({', '.join(r.sample(names, min(2, len(names))))}):")
                out.append(f"{pad}    {items}.append(np.tanh(item) * 0.5)")
                target = self.new_name()
                out.append(f"{pad}{target} = {items}[0] + {items}[-1]")
                names.append(target)
            elif kind < 0.54:
                target = self.new_name()
                source = r.choice(names)
                out.append(f"{pad}{target} = np.copy({source})")
                out.append(f"{pad}{target}[{r.randint(0, 2)}] = np.sum({r.choice(names)}) * 0.2")
                names.append(target)
            elif kind < 0.58 and len(names) > 1:
                first, second = r.sample(names, 2)  # a swap: every value read before any write
                self.copies.discard(first)
                out.append(f"{pad}{first}, {second} = {second}, {self.expression(names, helpers)}")
            elif kind < 0.62 and self.copies & set(names):
                target = r.choice(sorted(self.copies & set(names)))
                out.append(
                    f"{pad}{target} {r.choice(['+=', '*=', '-='])} "
                    f"{self.expression(names, helpers)} * 0.5"
                )
            elif kind < 0.66:
                target = r.choice(names)
                cond = f"np.sum({r.choice(names)}) > {r.uniform(-1, 1):.2f}"
                out.append(
                    f"{pad}{target} = {self.expression(names, helpers)} "
                    f"if {cond} else {self.expression(names, helpers)}"
                )
            elif depth < 2 and kind < 0.7:
                target = r.choice(names)
                out.append(f"{pad}for j{indent} in range(3):")
                out.append(f"{pad}    if np.sum({target}) > {r.uniform(0.5, 2):.2f}:")
                out.append(f"{pad}        continue")
                out.append(f"{pad}    {target} = {self.expression(names, helpers)}")
            elif kind < 0.73:
                target = self.new_name()
                source = r.choice(names)
                out.append(f"{pad}{target} = np.copy({source})")
                self.copies.add(target)
                out.append(f"{pad}for j{indent} in range(1, 3):")
                out.append(
                    f"{pad}    {target}[j{indent}] = {target}[j{indent} - 1] * 0.5"
                    f" + np.sum({r.choice(names)}) * 0.1"
                )
                names.append(target)
            elif indent == 1 and kind < 0.76 and not self.in_helper:
                out.append(f"{pad}if np.sum({r.choice(names)}) > {r.uniform(1.0, 2.5):.2f}:")
                out.append(f"{pad}    return np.sum({r.choice(names)} * {r.choice(names)})")
            elif depth < 2 and kind < 0.83:
                # a with block: its body runs once, in order, and overwrites a name
                target = r.choice(names)
                out.append(f"{pad}with np.errstate(all='ignore'):")
                out += self.block(names, helpers, indent + 1, depth + 1, r.randint(1, 2))
                out.append(f"{pad}    {target} = {self.expression(names, helpers)}")
            elif kind < 0.86:
                target = r.choice(names)  # overwrite a name, parameters included
                out.append(f"{pad}{target} = {self.expression(names, helpers)}")
            else:
                target = self.new_name()
                out.append(f"{pad}{target} = {self.expression(names, helpers)}")
                names.append(target)
        return out


def generate(seed: int) -> str:
    """The source of a module defining helpers and ``program(x, w)``."""
    rng = random.Random(seed)
    writer = _Writer(rng)
    lines = ["import numpy as np", ""]
    helpers: list[str] = []
    writer.in_helper = True
    for h in range(rng.randint(0, 2)):
        name = f"helper{h}"
        body = writer.block(["a", "b"], list(helpers), 1, 1, rng.randint(1, 3))
        lines += [
            "",
            f"def {name}(a, b):",
            *body,
            f"    return {writer.expression(['a', 'b'], list(helpers))}",
            "",
        ]
        helpers.append(name)
    writer.in_helper = False
    names = ["x", "w"]
    body = writer.block(names, helpers, 1, 0, rng.randint(3, 7))
    result = " + ".join(f"np.sum({n} * {n})" for n in rng.sample(names, min(3, len(names))))
    lines += ["", "def program(x, w):", *body, f"    return {result}", ""]
    return "\n".join(lines)
