"""Random NumPy programs that take a model's weights as a list (or a tuple) of arrays, and
then do what may make ``transform.ranks``' ``items`` facts untrue at run time.

``build(seed)`` returns a :class:`Program`: the source of a module with one function
``program``, the constructs it uses, the arguments of the three calls the test makes of one
derivative, and the positions to differentiate. The arguments are ``params`` (a list of
matrices, vectors, a 0-d scale, a 3-d stack of matrices: an MLP's layers), ``weights`` (a
list of square matrices a loop multiplies by: ``for W in weights``), or both, an input
``x`` (a matrix, sometimes a vector), and sometimes ``spare``, the same list as ``params``
passed a second time.

What users write: the items read by unpacking (``W1, b1, W2, b2 = params``), at indices
written in the code (``params[0]``, ``params[-1]``), at ints the code computes, in loops
(``for W in weights``, ``range(len(weights))``, ``enumerate``, ``reversed``, a while loop,
a generator expression), multiplied in every spelling of a product (``@``, ``np.matmul``,
``np.dot``, ``h.dot(W)``, ``np.inner``, ``np.tensordot`` with ``axes`` in every form,
``np.einsum``), tanh and sin, summed to a number.

Beside the chain, products of two items (or an item and ``x``) of every pair of ranks
the contractions read (``pair_product``: dot, outer, full and partial contractions of
matrices and stacks, a 0-d item scaling).

What is hostile (``HOSTILE``; each decided, and its details drawn, by a random stream of
its own, so that adding one leaves the others' draws alone): an item replaced by one of
another ndim (``params[1] = params[1][None, :]``), the list reordered, grown, shrunk,
sorted, cleared and refilled or repeated before or after the reads or in a loop
(``_Builder.mutate``), directly or through an alias, a helper, a global that holds it, a
holder, the second argument that is the same list, or a bound method however spelled
(``do = ps.reverse; do()``, ``getattr``, a tuple of methods, a helper calling it,
``operator.methodcaller``, ``list.reverse(ps)``: ``CHANNELS``); the argument rebound
(``params = params[::-1]``, a comprehension, ``list``, ``tuple``, a display, a
concatenation), by an assignment or by ``nonlocal``, a walrus in a comprehension, a
``for`` target or unpacking; a tuple argument; the same array twice in the list; axes
held in a name and changed in place (before the product, or after a product read them),
or in a global changed and put back during the call; layers in a tuple or list of the
function's own; an item, or a 0-d item through a second name, changed in place; and a
second call whose items have other ndims (a bias as a row, a head as a vector, a scale of
shape (1,) or a float, a longer or shorter stack, a 3-d stack item, the other container).

``build(seed, without)`` leaves out the hostile constructs, channels (``CHANNELS``) and list
changes (``"list repeat"``, ...) named in ``without``, the others drawn as they were: to
tell which construct a failure needs.

The program builder keeps a model of each list (its items' roles and shapes) through
every change, so what it reads fits; each program is then run on its arguments, and one
that raises is drawn again (``attempt``), deterministically. Every operation is smooth and
every value bounded, so central differences in float64 are accurate.
"""

from __future__ import annotations

import copy
import functools
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: the hostile constructs, each decided by a stream of its own (``_Builder.hostile``)
HOSTILE = (
    "item replaced by another ndim",
    "list reordered before the reads",
    "list grown before the reads",
    "list changed after the reads",
    "stack changed before the loop",
    "stack changed after the loop",
    "stack changed inside the loop",
    "argument rebound before the reads",
    "argument rebound after the reads",
    "argument rebound by concatenation",
    "stack rebound",
    "tuple argument",
    "same array twice",
    "same list passed twice",
    "axes in a named variable",
    "axes changed in place",
    "axes changed after a product read them",
    "global axes changed during the call",
    "layers in a tuple of the function's own",
    "local tuple rebound",
    "item array written in place",
    "0-d item written through a second name",
    "other item ndims in the second call",
)
#: how a change reaches a list (``_Builder.channel``)
CHANNELS = (
    "directly",
    "through an alias",
    "through a helper",
    "through a global",
    "through a holder",
    "through a bound method",
    "through the second argument",
)
#: the second call's arguments, where "other item ndims in the second call" is drawn
VARIANTS = (
    "bias as a row",
    "bias as a vector",
    "head as a vector",
    "scale of shape (1,)",
    "scale as a float",
    "longer stack",
    "shorter stack",
    "3-d stack item",
    "tuple for a list",
    "list for a tuple",
)
ACTIVATIONS = ("np.tanh({})", "np.sin({})", "np.tanh({}) * 0.9", "np.sin({}) * 0.8")
LETTERS = "abcdefgh"


@dataclass
class Item:
    """What the builder knows of one item of a list: its role in the model, its shape
    as the program has made it so far, and the name it is read into."""

    role: str  # "W", "b", "scale", "head", "cube", "Q", "S" (a stack's), "extra"
    shape: tuple[int, ...]
    label: str


@dataclass
class Model:
    """A list or tuple object the program holds."""

    items: list[Item]
    mutable: bool
    argument: str | None  # the parameter it is the argument of, else None


@dataclass
class Program:
    seed: int
    source: str
    used: frozenset[str]
    params: tuple[str, ...]  # the program's parameters
    wrt: tuple[int, ...]
    calls: list[tuple]  # the arguments of the first, second and third call
    #: the program changes an array argument in place: the tape may refuse it
    writes_arrays: bool = False
    attempts: int = 1
    #: (the variant, the arguments) to try, in order, as the second call
    candidates: list[tuple[str, tuple]] = field(default_factory=list)


def _grouped(expression: str) -> str:
    return expression if expression.replace("_", "a").isalnum() else f"({expression})"


def contraction(rng: random.Random, h: str, hn: int, w: str, wn: int, used: set[str]) -> str:
    """``h @ w`` in one of its spellings, for ``h`` of ndim ``hn`` (1 to 3) and ``w`` of
    ndim ``wn`` (1: a vector, 2: a matrix, 3: a stack, which only matmul broadcasts)."""
    hg, wg = _grouped(h), _grouped(w)
    head = LETTERS[: hn - 1]
    spellings = {
        "@": f"{hg} @ {wg}",
        "np.matmul": f"np.matmul({h}, {w})",
    }
    if wn <= 2:
        out = "k" if wn == 2 else ""
        spellings |= {
            "np.dot": f"np.dot({h}, {w})",
            "x.dot(W)": f"{hg}.dot({w})",
            "np.tensordot axes=1": f"np.tensordot({h}, {w}, axes=1)",
            "np.tensordot 1": f"np.tensordot({h}, {w}, 1)",
            "np.tensordot axes=([-1], [0])": f"np.tensordot({h}, {w}, axes=([-1], [0]))",
            "np.tensordot axes=([k], [0])": f"np.tensordot({h}, {w}, axes=([{hn - 1}], [0]))",
            "np.tensordot axes=[[k], [0]]": f"np.tensordot({h}, {w}, axes=[[{hn - 1}], [0]])",
            "np.tensordot axes=(k, 0)": f"np.tensordot({h}, {w}, axes=({hn - 1}, 0))",
            "np.einsum": f'np.einsum("{head}j,j{out}->{head}{out}", {h}, {w})',
            "np.einsum ellipsis": f'np.einsum("...j,j{out}->...{out}", {h}, {w})',
            "np.einsum implicit": f'np.einsum("{head}j,j{out}", {h}, {w})',
        }
        if wn == 2:
            spellings |= {
                "np.inner": f"np.inner({h}, {wg}.T)",
                "np.tensordot axes=([k], [-2])": (
                    f"np.tensordot({h}, {w}, axes=([{hn - 1}], [-2]))"
                ),
                "np.einsum transposed": f'np.einsum("{head}j,kj->{head}k", {h}, {wg}.T)',
            }
            if hn == 2:
                spellings |= {
                    "(W.T @ h.T).T": f"({wg}.T @ {hg}.T).T",
                    "np.dot(W.T, h.T).T": f"np.dot({wg}.T, {hg}.T).T",
                    "np.tensordot(W, h).T": f"np.tensordot({w}, {h}, axes=([0], [1])).T",
                }
            if hn == 1:
                spellings |= {"W.T @ h": f"{wg}.T @ {hg}", "np.dot(W.T, h)": f"np.dot({wg}.T, {h})"}
        else:
            spellings |= {"np.inner": f"np.inner({h}, {w})"}
    name = rng.choice(sorted(spellings))
    used.add(f"spelled {name}")
    return spellings[name]


def pair_product(
    rng: random.Random, a: str, sa: tuple, c: str, sc: tuple, used: set[str]
) -> str | None:
    """A product of ``a`` and ``c`` (of shapes ``sa`` and ``sc``) that their shapes fit,
    in one of its spellings: dot products, outer products, full and partial contractions
    of matrices and stacks, a 0-d item scaling; None where none fits."""
    ag, cg = _grouped(a), _grouped(c)
    na, nc = len(sa), len(sc)
    options: dict[str, str] = {}
    if na == 0 or nc == 0:
        options |= {
            "0-d np.dot": f"np.dot({a}, {c})",
            "0-d np.tensordot axes=0": f"np.tensordot({a}, {c}, axes=0)",
            "0-d np.inner": f"np.inner({a}, {c})",
        }
    elif na == 1 and nc == 1:
        options |= {
            "outer np.tensordot axes=0": f"np.tensordot({a}, {c}, axes=0)",
            "outer np.outer": f"np.outer({a}, {c})",
            "outer np.einsum": f'np.einsum("i,j->ij", {a}, {c})',
        }
        if sa == sc:
            options |= {
                "vector np.dot": f"np.dot({a}, {c})",
                "vector @": f"{ag} @ {cg}",
                "vector np.inner": f"np.inner({a}, {c})",
                "vector np.tensordot axes=1": f"np.tensordot({a}, {c}, axes=1)",
                "vector np.einsum": f'np.einsum("i,i->", {a}, {c})',
                "vector np.matmul": f"np.matmul({a}, {c})",
            }
    elif na == 2 and nc == 1:
        if sa[1] == sc[0]:
            options |= {
                "matrix-vector @": f"{ag} @ {cg}",
                "matrix-vector np.dot": f"np.dot({a}, {c})",
                "matrix-vector .dot": f"{ag}.dot({c})",
                "matrix-vector np.inner": f"np.inner({a}, {c})",
                "matrix-vector np.tensordot": f"np.tensordot({a}, {c}, axes=1)",
                "matrix-vector np.einsum": f'np.einsum("ij,j->i", {a}, {c})',
            }
        if sa[0] == sc[0]:
            options |= {
                "vector-matrix @": f"{cg} @ {ag}",
                "vector-matrix np.dot": f"np.dot({c}, {a})",
                "vector-matrix np.tensordot": f"np.tensordot({c}, {a}, axes=([0], [0]))",
                "vector-matrix np.einsum": f'np.einsum("i,ij->j", {c}, {a})',
                "vector-matrix np.inner of .T": f"np.inner({ag}.T, {c})",
            }
        options["matrix-vector outer"] = f"np.tensordot({a}, {c}, axes=0)"
    elif na == 1 and nc == 2:
        return pair_product(rng, c, sc, a, sa, used)
    elif na == 2 and nc == 2:
        if sa == sc:
            options |= {
                "matrices np.tensordot axes=2": f"np.tensordot({a}, {c}, axes=2)",
                "matrices np.tensordot default": f"np.tensordot({a}, {c})",
                "matrices np.tensordot ([0, 1], [0, 1])": (
                    f"np.tensordot({a}, {c}, axes=([0, 1], [0, 1]))"
                ),
                "matrices np.einsum ij,ij->": f'np.einsum("ij,ij->", {a}, {c})',
                "matrices .T @": f"{ag}.T @ {cg}",
                "matrices @ .T": f"{ag} @ {cg}.T",
                "matrices np.dot .T": f"np.dot({ag}.T, {c})",
                "matrices np.einsum ij,ik->jk": f'np.einsum("ij,ik->jk", {a}, {c})',
                "matrices np.inner": f"np.inner({a}, {c})",
                "matrices np.tensordot ([0], [0])": f"np.tensordot({a}, {c}, axes=([0], [0]))",
            }
        if sa[1] == sc[0]:
            options |= {
                "matrices @": f"{ag} @ {cg}",
                "matrices np.dot": f"np.dot({a}, {c})",
                "matrices np.tensordot axes=1": f"np.tensordot({a}, {c}, axes=1)",
            }
        if sa == sc[::-1]:
            options |= {
                "matrices np.tensordot ([0, 1], [1, 0])": (
                    f"np.tensordot({a}, {c}, axes=([0, 1], [1, 0]))"
                ),
                "matrices np.einsum ij,ji->": f'np.einsum("ij,ji->", {a}, {c})',
            }
    elif na == 3 and nc in (1, 2):
        if sa[2] == sc[0]:
            options |= {
                "stack @": f"{ag} @ {cg}",
                "stack np.dot": f"np.dot({a}, {c})",
                "stack np.tensordot axes=1": f"np.tensordot({a}, {c}, axes=1)",
                "stack np.matmul": f"np.matmul({a}, {c})",
            }
        if nc == 2 and sa[1:] == sc:
            options |= {
                "stack np.tensordot axes=2": f"np.tensordot({a}, {c}, axes=2)",
                "stack np.tensordot ([1, 2], [0, 1])": (
                    f"np.tensordot({a}, {c}, axes=([1, 2], [0, 1]))"
                ),
                "stack np.einsum mij,ij->m": f'np.einsum("mij,ij->m", {a}, {c})',
                "stack np.inner": f"np.inner({a}, {c})",
            }
        if nc == 2 and sc[1] == sa[1]:
            options["matrix @ stack"] = f"{cg} @ {ag}"
    elif nc == 3 and na in (1, 2):
        return pair_product(rng, c, sc, a, sa, used)
    if not options:
        return None
    name = rng.choice(sorted(options))
    used.add(f"pair: {name}")
    return options[name]


def _matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return np.matmul(np.zeros(a), np.zeros(b)).shape


class _Builder:
    def __init__(self, seed: int, attempt: int, without: frozenset[str] = frozenset()) -> None:
        self.seed, self.attempt = seed, attempt
        self.without = without
        self.rng = self.stream("base")
        # 25% of the programs are clean: what a user writes, nothing hostile in them
        self.clean = self.stream("clean").random() < 0.25
        self.used: set[str] = set()
        self.body: list[str] = []
        self.helpers: list[str] = []
        self.imports: set[str] = set()
        self.models: dict[str, Model] = {}
        self.names: dict[str, str] = {}  # a name in the program: the model it holds
        self.fresh = 0
        self.terms: list[str] = []
        self.writes_arrays = False
        self.aliases: dict[str, str] = {}  # model key: a second name made for it
        self.stashed: set[str] = set()
        self.holders: dict[str, str] = {}

    # -- randomness ------------------------------------------------------------------

    def stream(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}/{self.attempt}/{name}")

    def hostile(
        self,
        construct: str,
        probability: float,
        part: str = "",
        when: bool = True,
        clean_too: bool = False,
    ) -> random.Random | None:
        """The stream of ``construct`` (of its ``part``) where this program uses it (drawn
        with ``probability``, where it applies: ``when``; in a clean program only where
        ``clean_too``), else None."""
        assert construct in HOSTILE, construct
        rng = self.stream(f"{construct}/{part}")
        if rng.random() >= probability or not when or construct in self.without:
            return None
        if self.clean and not clean_too:
            return None
        self.used.add(construct)
        return rng

    def term(self, expression: str) -> None:
        """A term of the result, computed here (what it reads may change later)."""
        name = self.new("term")
        self.body.append(f"    {name} = {expression}")
        self.terms.append(name)

    def new(self, prefix: str) -> str:
        self.fresh += 1
        return f"{prefix}{self.fresh}"

    def coefficient(self, rng: random.Random | None = None) -> str:
        return f"{(rng or self.rng).uniform(0.2, 0.7):.2f}"

    # -- lists -----------------------------------------------------------------------

    def model(self, name: str) -> Model:
        return self.models[self.names[name]]

    def index(self, name: str, item: Item, rng: random.Random, negative: bool | None = None) -> str:
        items = self.model(name).items
        position = next(i for i, it in enumerate(items) if it is item)
        if negative is None:
            negative = rng.random() < 0.3
        return str(position - len(items)) if negative else str(position)

    def channel(self, rng: random.Random, name: str, call: bool) -> str:
        """How a change reaches the list ``name`` holds (one of ``CHANNELS``), drawn from
        ``rng``; ``call``: the change is a method call, which a bound method can make."""
        key = self.names[name]
        choices = ["directly", "through an alias", "through a helper", "through a holder"]
        choices += ["through a global"]
        if call:
            choices += ["through a bound method"] * 2
        if self.models[key].argument is not None and self.names.get("spare") == key:
            choices.append("through the second argument")
            if rng.random() < 0.4:
                choices = ["through the second argument"]
        how = rng.choice(choices)
        if how in self.without:  # (left out: the change made directly)
            how = "directly"
        self.used.add(f"changed {how}")
        return how

    def reach(self, rng: random.Random, name: str, how: str) -> str:
        """An expression for the list ``name`` holds, reached ``how`` (with the lines that
        make the alias, holder or global it goes through)."""
        key = self.names[name]
        if how == "through an alias":
            if key not in self.aliases:
                self.aliases[key] = self.new("alias")
                self.body.append(f"    {self.aliases[key]} = {name}")
                self.names[self.aliases[key]] = key
            return self.aliases[key]
        if how == "through a holder":
            if key not in self.holders:
                holder = self.new("box")
                if rng.random() < 0.5:
                    self.body.append(f"    {holder} = [{name}]")
                    self.holders[key] = f"{holder}[0]"
                else:
                    self.body.append(f'    {holder} = {{"p": {name}}}')
                    self.holders[key] = f'{holder}["p"]'
            return self.holders[key]
        if how == "through a global":
            if key not in self.stashed:
                self.stashed.add(key)
                self.body.append(f'    _keep("{key}", {name})')
            return f'STATE["{key}"]'
        if how == "through the second argument":
            return "spare"
        return name

    def change(
        self, rng: random.Random, name: str, line: str, call: tuple[str, str] | None = None
    ) -> None:
        """Write ``line`` (a statement of ``{L}``, the list ``name`` holds) through a
        channel; ``call``: the same change as a method call ``(method, arguments)``,
        which a bound method can make (``do = L.reverse; do()``, ``getattr``, ...)."""
        how = self.channel(rng, name, call is not None)
        if how == "through a helper":
            helper = self.new("_edit")
            self.helpers += [f"def {helper}(ps):", "    " + line.format(L="ps"), "", ""]
            self.body.append(f"    {helper}({name})")
        elif how == "through a global":
            where = self.reach(rng, name, how)
            helper = self.new("_edit")
            self.helpers += [f"def {helper}():", "    " + line.format(L=where), "", ""]
            self.body.append(f"    {helper}()")
        elif how == "through a bound method":
            method, arguments = call
            arguments = arguments.format(L=name)
            spelling = rng.choice(["name", "getattr", "tuple", "helper", "methodcaller", "list."])
            self.used.add(f"bound method by {spelling}")
            comma = ", " if arguments else ""
            if spelling == "name":
                bound = self.new("do")
                self.body += [f"    {bound} = {name}.{method}", f"    {bound}({arguments})"]
            elif spelling == "getattr":
                self.body.append(f'    getattr({name}, "{method}")({arguments})')
            elif spelling == "tuple":
                ops = self.new("ops")
                self.body += [f"    {ops} = ({name}.{method},)", f"    {ops}[0]({arguments})"]
            elif spelling == "helper":
                self.body.append(f"    _call({name}.{method}{comma}{arguments})")
            elif spelling == "methodcaller":
                self.imports.add("import operator")
                self.body.append(f'    operator.methodcaller("{method}"{comma}{arguments})({name})')
            else:
                self.body.append(f"    list.{method}({name}{comma}{arguments})")
        else:
            self.body.append("    " + line.format(L=self.reach(rng, name, how)))

    def mutate(self, rng: random.Random, name: str, when: str) -> None:
        """One in-place change of the list ``name`` holds, at ``when`` ("before" the
        reads, which must leave every item the program reads in it, or "after")."""
        model = self.model(name)
        items = model.items
        n = len(items)
        ops = ["reverse", "swap", "rotate", "append", "insert", "extend", "slice reverse"]
        ops += ["setitem", "operator.setitem", "sort by ndim", "clear and refill"]
        if when == "after":
            ops += ["pop", "del", "repeat", "clear"]
        op = rng.choice(ops)
        if op in ("pop", "del") and n == 1:
            op = "append"  # (what reads the list afterwards needs an item in it)
        if f"list {op}" in self.without:
            op = "reverse"
        self.used.add(f"list {op}")
        j = rng.randrange(n)
        if op == "reverse":
            self.change(rng, name, "{L}.reverse()", ("reverse", ""))
            items.reverse()
        elif op == "slice reverse":
            self.change(rng, name, "{L}[:] = {L}[::-1]")
            items.reverse()
        elif op == "swap" and n > 1:
            i, k = rng.sample(range(n), 2)
            self.change(rng, name, f"{{L}}[{i}], {{L}}[{k}] = {{L}}[{k}], {{L}}[{i}]")
            items[i], items[k] = items[k], items[i]
        elif op == "rotate":
            self.change(rng, name, "{L}.insert(0, {L}.pop())", ("insert", "0, {L}.pop()"))
            items.insert(0, items.pop())
        elif op in ("append", "extend", "insert"):
            extra = Item("extra", items[j].shape, self.new("e"))
            value = f"{{L}}[{j}] * {self.coefficient(rng)}"
            if op == "append":
                self.change(rng, name, f"{{L}}.append({value})", ("append", value))
                items.append(extra)
            elif op == "extend":
                self.change(rng, name, f"{{L}}.extend([{value}])", ("extend", f"[{value}]"))
                items.append(extra)
            else:
                at = rng.randrange(n + 1)
                self.change(rng, name, f"{{L}}.insert({at}, {value})", ("insert", f"{at}, {value}"))
                items.insert(at, extra)
        elif op == "setitem":
            # an item replaced by a copy of itself: the ndim holds, the object does not
            value = f"{{L}}[{j}] * 1.0"
            self.change(rng, name, f"{{L}}[{j}] = {value}", ("__setitem__", f"{j}, {value}"))
            items[j] = Item(items[j].role, items[j].shape, items[j].label)
        elif op == "operator.setitem":
            self.imports.add("import operator")
            self.change(rng, name, f"operator.setitem({{L}}, {j}, {{L}}[{j}] * 1.0)")
            items[j] = Item(items[j].role, items[j].shape, items[j].label)
        elif op == "sort by ndim":
            # (a stable sort by a key of the structure, not of the values: smooth)
            self.change(rng, name, "{L}.sort(key=np.ndim)", ("sort", "key=np.ndim"))
            items.sort(key=lambda it: len(it.shape))
        elif op == "clear and refill":
            kept = self.new("kept")
            self.body.append(f"    {kept} = list({name})")
            self.change(rng, name, "{L}.clear()", ("clear", ""))
            self.body.append(f"    {name}.extend({kept}[::-1])")
            items.reverse()
        elif op == "pop":
            at = rng.choice(["", str(j)])
            self.change(rng, name, f"{{L}}.pop({at})", ("pop", at))
            items.pop(int(at) if at else -1)
        elif op == "del":
            self.change(rng, name, f"del {{L}}[{j}]", ("__delitem__", str(j)))
            items.pop(j)
        elif op == "repeat":
            self.change(rng, name, "{L} *= 2", ("__imul__", "2"))
            items += [Item("extra", it.shape, self.new("e")) for it in items]
        elif op == "clear":
            self.change(rng, name, f"{{L}}[:] = [{{L}}[{j}] * 2.0]")
            items[:] = [Item("extra", items[j].shape, self.new("e"))]
        else:  # (a swap in a list of one)
            self.change(rng, name, "{L}.reverse()", ("reverse", ""))

    def rebind(self, rng: random.Random, name: str, when: str, way: str = "") -> None:
        """Rebind ``name`` to a new list or tuple of the items it holds (made ``way``, or
        a way drawn), by an assignment or another statement that binds a name."""
        model = self.model(name)
        items = list(model.items)
        tuple_ = not model.mutable
        ways = ["[::-1]", "comprehension", "list", "tuple", "[:]", "display"]
        if when == "after" and len(items) > 1:
            ways.append("[1:]")
        way = way or rng.choice(ways)
        self.used.add(f"rebound by {way}")
        mutable = True
        if way == "[::-1]":
            value, items = f"{name}[::-1]", items[::-1]
            mutable = not tuple_
        elif way == "comprehension":
            value = f"[p * 1.0 for p in {name}]"
        elif way == "list":
            value = f"list({name})"
        elif way == "tuple":
            value, mutable = f"tuple({name})", False
        elif way == "[:]":
            value, mutable = f"{name}[:]", not tuple_
        elif way == "[1:]":
            value, items, mutable = f"{name}[1:]", items[1:], not tuple_
        elif way == "display":
            order = list(range(len(items)))
            rng.shuffle(order)
            value = "(" + ", ".join(f"{name}[{i}]" for i in order) + ",)"
            items, mutable = [items[i] for i in order], False
        else:  # (a concatenation: the list or tuple and one more item)
            j = rng.randrange(len(items))
            extra = f"{name}[{j}] * {self.coefficient(rng)}"
            value = f"{name} + ({extra},)" if tuple_ else f"{name} + [{extra}]"
            items = [*items, Item("extra", items[j].shape, self.new("e"))]
            mutable = not tuple_
        binding = rng.choice(["="] * 5 + ["nonlocal", "walrus", "for", "targets", "unpacking"])
        if binding != "=":
            self.used.add(f"rebound by {binding}")
        if binding == "nonlocal":
            helper = self.new("rebind")
            self.body += [f"    def {helper}():", f"        nonlocal {name}"]
            self.body += [f"        {name} = {value}", f"    {helper}()"]
        elif binding == "walrus":
            self.body.append(f"    [({name} := {value}) for _ in range(1)]")
        elif binding == "for":
            self.body += [f"    for {name} in [{value}]:", "        pass"]
        elif binding == "targets":
            self.body.append(f"    {name}, _unused = {value}, 0")
        elif binding == "unpacking":
            self.body.append(f"    ({name},) = ({value},)")
        else:
            self.body.append(f"    {name} = {value}")
        key = self.new("list")
        self.models[key] = Model(items, mutable, None)
        self.names[name] = key

    def reread(self, rng: random.Random, name: str) -> None:
        """Terms that read the list ``name`` holds again, whatever it holds by now."""
        items = self.model(name).items
        for _ in range(rng.randint(1, 2)):
            j = rng.randrange(len(items))
            index = j - len(items) if rng.random() < 0.4 else j
            self.term(f"np.sum(np.sin({name}[{index}])) * {self.coefficient(rng)}")
        if rng.random() < 0.4:
            total = self.new("t")
            self.body += [f"    {total} = 0.0", f"    for p in {name}:"]
            self.body.append(f"        {total} = {total} + np.sum(np.tanh(p)) * 0.3")
            self.terms.append(total)
            self.used.add("items summed in a loop after the changes")
        if rng.random() < 0.3:
            self.term(f"len({name}) * 0.01")


def _arrays(seed: int, attempt: int, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, attempt, len(shapes)])
    return [rng.uniform(-0.8, 0.8, shape) for shape in shapes]


def _compose(seed: int, attempt: int, without: frozenset[str]) -> Program:
    b = _Builder(seed, attempt, without)
    rng = b.rng
    n = rng.choice([2, 3])
    d0 = rng.choice([2, 3, 4])
    x_shape = (n, d0) if rng.random() < 0.8 else (d0,)
    has_mlp = rng.random() < 0.8
    has_stack = not has_mlp or rng.random() < 0.5
    P = rng.choice(["params", "theta", "net"])
    S = rng.choice(["weights", "layers", "blocks"])
    params: list[str] = []
    param_items: list[Item] = []
    stack_items: list[Item] = []
    h, h_shape = "x", x_shape

    # -- the MLP's list: layers, then extras, in an order drawn -------------------------
    if has_mlp:
        dims = [d0] + [rng.choice([2, 3, 4]) for _ in range(rng.choice([1, 2]))]
        for layer, (d_in, d_out) in enumerate(zip(dims, dims[1:]), start=1):
            param_items.append(Item("W", (d_in, d_out), f"W{layer}"))
            if rng.random() < 0.8:
                shape = (d_out,) if rng.random() < 0.85 else (1, d_out)
                param_items.append(Item("b", shape, f"b{layer}"))
        d_last = dims[-1]
        if rng.random() < 0.4:
            param_items.append(Item("scale", (), "s"))
        if rng.random() < 0.5:
            k = rng.choice([1, 2, 3])
            param_items.append(Item("head", (d_last, k) if rng.random() < 0.7 else (d_last,), "V"))
        if rng.random() < 0.3:
            param_items.append(Item("cube", (2, d_last, d_last), "C"))
        axes_rng = b.hostile("axes in a named variable", 0.25)
        global_axes = b.hostile("global axes changed during the call", 0.04)
        if axes_rng or global_axes or rng.random() < 0.15:
            param_items.append(Item("Q", (d_last, d_last), "Q"))
        if rng.random() < 0.2:
            rng.shuffle(param_items)
            b.used.add("items in another order than they are used")
        param_shapes = [item.shape for item in param_items]
        params.append(P)
        tuple_rng = b.hostile("tuple argument", 0.2)
        b.models["P"] = Model(param_items[:], tuple_rng is None, P)
        b.names[P] = "P"
        if b.hostile("same list passed twice", 0.12, when=tuple_rng is None):
            params.append("spare")
            b.names["spare"] = "P"
    if has_stack:
        count = rng.choice([1, 2, 3])
        d = h_shape[-1] if not has_mlp else d_last
        stack_items = [Item("S", (d, d), f"U{i}") for i in range(count)]
        stack_shapes = [item.shape for item in stack_items]
        params.append(S)
        tuple_stack = b.hostile("tuple argument", 0.2, "stack")
        b.models["S"] = Model(stack_items[:], tuple_stack is None, S)
        b.names[S] = "S"
    params.append("x")

    # -- before the reads --------------------------------------------------------------
    if has_mlp:
        mutable = b.models["P"].mutable
        candidates = [it for it in b.model(P).items if it.role in ("b", "head", "scale")]
        candidates += [it for it in b.model(P).items if it.role in ("cube", "W")]
        if r := b.hostile("item replaced by another ndim", 0.25, when=mutable and bool(candidates)):
            for item in r.sample(candidates, min(len(candidates), r.randint(1, 2))):
                j = b.index(P, item, r)
                if item.role == "b":
                    value, shape = f"{{L}}[{j}][None, :]", (1, *item.shape)
                elif item.role == "head" and len(item.shape) == 2:
                    value, shape = f"{{L}}[{j}][:, 0]", item.shape[:1]
                elif item.role == "head":
                    value, shape = f"{{L}}[{j}][:, None]", (*item.shape, 1)
                elif item.role == "scale":
                    value, shape = f"{{L}}[{j}].reshape(1)", (1,)
                elif item.role == "cube":
                    value, shape = f"{{L}}[{j}][1]", item.shape[1:]
                else:
                    value, shape = f"{{L}}[{j}][None]", (1, *item.shape)
                b.change(r, P, f"{{L}}[{j}] = {value}")
                b.used.add(f"replaced: {item.role} of ndim {len(item.shape)}")
                item.shape = shape
        if r := b.hostile("list reordered before the reads", 0.2, when=mutable):
            for _ in range(r.randint(1, 2)):
                b.mutate(r, P, "before")
        if r := b.hostile("list grown before the reads", 0.1, when=mutable):
            b.mutate(r, P, "before")
        if r := b.hostile("argument rebound before the reads", 0.15):
            b.rebind(r, P, "before")
        concatenated = b.hostile("argument rebound by concatenation", 0.05)
        if concatenated and concatenated.random() < 0.5:
            b.rebind(concatenated, P, "before", "concatenation")
            concatenated = None
        scales = [it for it in b.model(P).items if it.role == "scale" and it.shape == ()]
        if r := b.hostile("0-d item written through a second name", 0.05, when=bool(scales)):
            j = b.index(P, scales[0], r)
            alias = b.new("t")
            b.body += [f"    {alias} = {P}[{j}]", f"    {alias} += 0.25"]
            b.writes_arrays = True

    # -- the reads and the MLP -----------------------------------------------------------
    exprs: dict[int, str] = {}  # id(item): what reads it
    if has_mlp:
        items = b.model(P).items
        style = rng.choice(["unpacked", "indexed", "inline", "computed", "mixed"])
        b.used.add(f"read {style}")
        if style == "unpacked":
            names = []
            for item in items:
                names.append(item.label)
                exprs[id(item)] = item.label
            b.body.append(f"    {', '.join(names)}{',' if len(names) == 1 else ''} = {P}")
        else:
            for item in items:
                if item.role == "extra":
                    continue
                how = style if style != "mixed" else rng.choice(["indexed", "inline", "computed"])
                if how == "computed":
                    # (an int the code computes: ``ranks`` knows the item only where all
                    # items share one ndim)
                    position = b.index(P, item, rng, negative=False)
                    start = rng.randint(0, int(position))
                    b.body.append(f"    k = {start}")
                    if int(position) > start:
                        b.body.append(f"    k = k + {int(position) - start}")
                    b.body.append(f"    {item.label} = {P}[k]")
                    exprs[id(item)] = item.label
                elif how == "inline":
                    exprs[id(item)] = f"{P}[{b.index(P, item, rng)}]"
                else:
                    b.body.append(f"    {item.label} = {P}[{b.index(P, item, rng)}]")
                    exprs[id(item)] = item.label
        roles = {}
        for item in items:
            roles.setdefault(item.role, []).append(item)
        layers = [
            (w, next((c for c in roles.get("b", []) if c.label[1:] == w.label[1:]), None))
            for w in sorted(roles.get("W", []), key=lambda it: it.label)
        ]
        paired = len(layers) > 1 and all(c is not None for _, c in layers)
        if r := b.hostile("layers in a tuple of the function's own", 0.25, when=paired):
            # ((W1, b1), (W2, b2)): a tuple written in the code holds its items' facts
            kind = r.choice(["tuple", "list"])
            holder = b.new("pairs")
            opening, closing = ("(", ",)") if kind == "tuple" else ("[", "]")
            inner = ", ".join(f"({exprs[id(w)]}, {exprs[id(c)]})" for w, c in layers)
            b.body.append(f"    {holder} = {opening}{inner}{closing}")
            b.used.add(f"layers in a local {kind}")
            steady = all(len(w.shape) == 2 for w, _ in layers) and (
                len(h_shape) == 2 or all(len(c.shape) == 1 for _, c in layers)
            )
            if steady and r.random() < 0.5:
                b.used.add("loop over the local layers")
                if h != "h":
                    b.body.append(f"    h = {h}")
                z = contraction(r, "h", len(h_shape), "W", 2, b.used)
                act = r.choice(ACTIVATIONS)
                b.body += [f"    for W, c in {holder}:", f"        h = {act.format(z + ' + c')}"]
                for w, c in layers:
                    h_shape = np.broadcast_shapes(_matmul_shape(h_shape, w.shape), c.shape)
                h, layers = "h", []
            else:
                for index, (w, c) in enumerate(layers):
                    exprs[id(w)] = f"{holder}[{index}][0]"
                    exprs[id(c)] = f"{holder}[{index}][1]"
        for w, c in layers:
            z = contraction(rng, h, len(h_shape), exprs[id(w)], len(w.shape), b.used)
            h_shape = _matmul_shape(h_shape, w.shape)
            if c is not None:
                z = f"{z} + {exprs[id(c)]}"
                h_shape = np.broadcast_shapes(h_shape, c.shape)
            new = b.new("h")
            b.body.append(f"    {new} = {rng.choice(ACTIVATIONS).format(z)}")
            h = new
        for item in roles.get("scale", []):
            s = exprs[id(item)]
            options = [f"{h} * {_grouped(s)}", f"{_grouped(s)} * {h}", f"np.multiply({h}, {s})"]
            if item.shape == ():
                options += [f"np.dot({s}, {h})", f"np.tensordot({h}, {s}, axes=0)"]
            new = b.new("h")
            b.body.append(f"    {new} = {rng.choice(options)}")
            h, h_shape = new, np.broadcast_shapes(h_shape, item.shape)
        for item in roles.get("head", []):
            z = contraction(rng, h, len(h_shape), exprs[id(item)], len(item.shape), b.used)
            b.term(f"np.sum({rng.choice(ACTIVATIONS).format(z)})")
        for item in roles.get("cube", []):
            c = exprs[id(item)]
            if len(item.shape) == 2:
                z = contraction(rng, h, len(h_shape), c, 2, b.used)
            else:
                options = [
                    f"{_grouped(h)} @ {_grouped(c)}",
                    f"np.dot({h}, {c})",
                    f"np.tensordot({h}, {c}, axes=([-1], [1]))",
                    f'np.einsum("...j,mjk->m...k", {h}, {c})',
                ]
                choice = rng.randrange(len(options) + 1)
                if choice < len(options):
                    z = options[choice]
                else:  # (an item of an item: C[0] is a matrix)
                    z = contraction(rng, h, len(h_shape), f"{_grouped(c)}[0]", 2, b.used)
                    z += " + " + contraction(rng, h, len(h_shape), f"{_grouped(c)}[-1]", 2, b.used)
            b.term(f"np.sum({rng.choice(ACTIVATIONS).format(z)})")
        for item in roles.get("Q", []):
            _square_term(b, rng, h, h_shape, exprs[id(item)], axes_rng, global_axes)
        # products of two items (or an item and x): every rank pair the contractions
        # read, each gradient written as products where both ranks are known
        chooser = b.stream("pair products")
        pool = [(exprs[id(it)], it.shape) for it in items if id(it) in exprs]
        pool.append(("x", x_shape))
        if has_stack:
            stack = b.model(S).items
            pool += [(f"{S}[{j}]", it.shape) for j, it in enumerate(stack)]
        for _ in range(chooser.choice([0, 1, 1, 2, 3])):
            (a, sa), (c, sc) = chooser.choice(pool), chooser.choice(pool)
            product = pair_product(chooser, a, sa, c, sc, b.used)
            if product is not None:
                b.term(f"np.sum(np.sin({product})) * {b.coefficient(chooser)}")
        for item in items:
            if item.role == "extra" and id(item) in exprs and rng.random() < 0.5:
                b.term(f"np.sum(np.tanh({exprs[id(item)]})) * 0.3")
        written = [it for it in items if it.role in ("b", "W")]
        written = [it for it in written if exprs.get(id(it), "").isidentifier()]
        if r := b.hostile("item array written in place", 0.05, when=bool(written)):
            name = exprs[id(written[0])]
            b.body.append(f"    {name} *= {b.coefficient(r)}")
            b.term(f"np.sum(np.sin({name}))")
            b.writes_arrays = True
        known = [it for it in items if id(it) in exprs and it.role != "extra"]
        if r := b.hostile("local tuple rebound", 0.1, when=len(known) >= 2):
            first, second = r.sample(known, 2)
            pair = b.new("pair")
            e1, e2 = exprs[id(first)], exprs[id(second)]
            b.body.append(f"    {pair} = ({e1}, {e2})")
            b.body.append(f"    {pair}_first = np.sum(np.tanh({pair}[0])) * 0.4")
            b.terms.append(f"{pair}_first")
            b.body.append(f"    {pair} = ({e2}, {e1})")
            b.term(f"np.sum(np.sin({pair}[0]) * 0.5) + np.sum({pair}[1]) * 0.2")

    # -- the stack: a loop over square matrices ------------------------------------------
    if has_stack:
        _stack(b, rng, S, h, h_shape)
        h = "h"

    # -- after the reads -----------------------------------------------------------------
    if has_mlp:
        mutable = b.model(P).mutable
        if r := b.hostile("list changed after the reads", 0.25, when=mutable):
            for _ in range(r.randint(1, 2)):
                b.mutate(r, P, "after")
            b.reread(r, P)
        if r := b.hostile("argument rebound after the reads", 0.15):
            b.rebind(r, P, "after")
            b.reread(r, P)
        if concatenated:
            b.rebind(concatenated, P, "after", "concatenation")
            b.reread(concatenated, P)
    if has_stack:
        if r := b.hostile("stack changed after the loop", 0.25, when=b.model(S).mutable):
            for _ in range(r.randint(1, 2)):
                b.mutate(r, S, "after")
            b.reread(r, S)

    # -- the arguments -----------------------------------------------------------------
    positions = {name: i for i, name in enumerate(params)}
    chooser = b.stream("wrt")
    wrt = [positions[name] for name in (P, S) if name in positions and chooser.random() < 0.85]
    if chooser.random() < 0.4 or not wrt:
        wrt.append(positions["x"])
    if len(wrt) == 1 and wrt[0] == positions["x"] and chooser.random() < 0.5:
        wrt.insert(0, positions[P if P in positions else S])
    # (the shapes the items had when the program began: the builder's model follows
    # the program's changes)
    shapes = (param_shapes if has_mlp else []) + (stack_shapes if has_stack else [])
    values = _arrays(seed, attempt, [*shapes, x_shape])
    first_args = {}
    if has_mlp:
        listed = values[: len(param_items)]
        first_args[P] = listed if b.models["P"].mutable else tuple(listed)
    if has_stack:
        listed = values[len(param_items) : -1]
        if r := b.hostile("same array twice", 0.15, when=len(listed) > 1):
            listed[r.randrange(1, len(listed))] = listed[0]
        first_args[S] = listed if b.models["S"].mutable else tuple(listed)
    first_args["x"] = values[-1]
    if "spare" in params:
        first_args["spare"] = first_args[P]
    calls = [tuple(first_args[name] for name in params)]
    candidates = []
    if r := b.hostile("other item ndims in the second call", 0.5, clean_too=True):
        options = list(VARIANTS)
        r.shuffle(options)
        for name in options:
            second = _apply_variant(name, first_args, param_items, P, S, r)
            if second is not None:
                candidates.append((name, tuple(second[p] for p in params)))
    calls += [calls[0], calls[0]]

    terms = [f"np.sum(np.sin({h}))", *b.terms]
    signature = ", ".join(params)
    lines = [
        *sorted(b.imports),
        "import numpy as np",
        "",
        "STATE = {}",
        "AXES = [[-1], [0]]",
        "",
        "",
        "def _keep(key, ps):",
        "    STATE[key] = ps",
        "",
        "",
        "def _set_axes(k):",
        "    AXES[1][0] = k",
        "",
        "",
        "def _call(f, *args, **kwargs):",
        "    return f(*args, **kwargs)",
        "",
        "",
        *b.helpers,
        f"def program({signature}):",
        *b.body,
        f"    return {' + '.join(terms)}",
        "",
    ]
    return Program(
        seed,
        "\n".join(lines),
        frozenset(b.used),
        tuple(params),
        tuple(wrt),
        calls,
        writes_arrays=b.writes_arrays,
        attempts=attempt + 1,
        candidates=candidates,
    )


def _square_term(b, rng, h, h_shape, q, axes_rng, global_axes) -> None:
    """A term of ``h`` contracted with the square matrix ``q``, its axes held in a name
    (sometimes changed in place, or in a global changed and put back during the call)."""
    hn = len(h_shape)
    if global_axes:
        b.used.discard("axes in a named variable")
        # AXES is [[-1], [0]]; the call makes it [[-1], [1]] (h @ Q.T) and puts it back
        b.term(f"np.sum(np.tanh(np.tensordot({h}, {q}, axes=AXES)))")
        b.body.append("    _set_axes(1)")
        b.term(f"np.sum(np.sin(np.tensordot({h}, {q}, axes=AXES)))")
        b.body.append("    _set_axes(0)")
        b.used.add("axes in a global changed and put back")
        return
    if not axes_rng:
        z = contraction(rng, h, hn, q, 2, b.used)
        b.term(f"np.sum(np.tanh({z})) * 0.5")
        return
    r = axes_rng
    forms = {
        "tuple of ints": f"({hn - 1}, 0)",
        "list of ints": f"[{hn - 1}, 0]",
        "tuple of lists": f"([{hn - 1}], [0])",
        "list of lists": f"[[{hn - 1}], [0]]",
        "tuple of tuples": f"(({hn - 1},), (0,))",
    }
    form = r.choice(sorted(forms))
    b.used.add(f"axes: {form}")
    ax = b.new("ax")
    b.body.append(f"    {ax} = {forms[form]}")
    mutable = form != "tuple of ints" and form != "tuple of tuples"
    changed = b.hostile("axes changed in place", 0.6)
    if between := b.hostile("axes changed after a product read them", 0.3, when=mutable):
        changed = between
    first = f"np.tensordot({h}, {q}, axes={ax})"
    if changed and mutable:
        # contract with Q's second axis instead (h @ Q.T): a different product
        how = "between" if between else changed.choice(["before", "helper", "rebound"])
        b.used.add(f"axes changed {how}")
        if form == "list of ints":
            write = f"{ax}[1] = 1"
        elif form == "tuple of lists":
            write = f"{ax}[1][0] = 1"
        else:
            write = f"{ax}[1][0] = 1" if changed.random() < 0.5 else f"{ax}[1] = [1]"
        if how == "helper":
            helper = b.new("_flip")
            b.helpers += [f"def {helper}(a):", "    " + write.replace(ax, "a", 1), "", ""]
            write = f"{helper}({ax})"
        if how == "rebound":
            write = f"{ax} = ({hn - 1}, 1)"
        if how == "between":
            b.body.append(f"    early = {first}")
            b.term("np.sum(np.sin(early)) * 0.7")
        b.body.append(f"    {write}")
    elif changed:
        # a tuple cannot change: rebind the name instead
        b.body.append(f"    {ax} = ({hn - 1}, 1)")
        b.used.add("axes changed rebound")
    b.term(f"np.sum(np.tanh({first}))")


def _stack(b: _Builder, rng: random.Random, S: str, h: str, h_shape: tuple) -> None:
    """``h`` multiplied through the stack of square matrices ``S`` holds, in a loop."""
    if h != "h":
        b.body.append(f"    h = {h}")
    hn = len(h_shape)
    if r := b.hostile("stack changed before the loop", 0.2, when=b.model(S).mutable):
        b.mutate(r, S, "before")
    rebound = b.hostile("stack rebound", 0.15)
    if rebound and rebound.random() < 0.5:
        b.rebind(rebound, S, "before")
        rebound = None
    if r := b.hostile("item replaced by another ndim", 0.1, "stack", b.model(S).mutable):
        # a matrix made a stack of one (matmul broadcasts it; h gains an axis)
        j = b.index(S, b.model(S).items[0], r)
        b.change(r, S, f"{{L}}[{j}] = {{L}}[{j}][None]")
        b.model(S).items[int(j)].shape = (1, *b.model(S).items[int(j)].shape)
        b.used.add("replaced: stack item made 3-d")
    stacked = any(len(it.shape) == 3 for it in b.model(S).items)
    loop = rng.choice(
        ["for W in", "range(len())", "enumerate", "reversed", "[::-1]", "while", "nested"]
        + ["generator", "break", "two loops", "range backwards"]
    )
    act = rng.choice(ACTIVATIONS)

    def step(w: str, pad: str = "        ") -> str:
        spelled = f"{_grouped('h')} @ {w}" if stacked else contraction(rng, "h", hn, w, 2, b.used)
        return f"{pad}h = {act.format(spelled)}"

    inside = b.hostile("stack changed inside the loop", 0.1, when=b.model(S).mutable)
    if inside:
        loop = "range(len())"
    b.used.add(f"loop: {loop}")
    if loop == "for W in":
        b.body += [f"    for W in {S}:", step("W")]
    elif loop == "range(len())":
        b.body += [f"    for i in range(len({S})):", step(f"{S}[i]")]
        if inside:
            if inside.random() < 0.5:
                b.body.append(f"        {S}[i] = {S}[i] * 0.5")
                b.used.add("stack item replaced in the loop")
            else:
                b.body.append(f"        {S}.append({S}[i] * 0.5)")
                b.model(S).items += [Item("extra", it.shape, "e") for it in b.model(S).items]
                b.used.add("stack appended to in the loop")
    elif loop == "range backwards":
        b.body += [f"    for i in range(len({S}) - 1, -1, -1):", step(f"{S}[i]")]
    elif loop == "enumerate":
        b.body += [f"    for i, W in enumerate({S}):", step("W") + " * (1.0 - 0.1 * i)"]
    elif loop == "reversed":
        b.body += [f"    for W in reversed({S}):", step("W")]
    elif loop == "[::-1]":
        b.body += [f"    for W in {S}[::-1]:", step("W")]
    elif loop == "while":
        b.body += ["    i = 0", f"    while i < len({S}):", step(f"{S}[i]"), "        i += 1"]
    elif loop == "nested":
        b.body += ["    for _ in range(2):", f"        for W in {S}:", step("W", " " * 12)]
    elif loop == "generator":
        spelled = step("W", "").removeprefix("h = ")
        b.body.append(f"    h = sum({spelled} for W in {S}) * 0.5")
    elif loop == "break":
        b.body += [f"    for i, W in enumerate({S}):", "        if i == 2:", "            break"]
        b.body.append(step("W"))
    else:
        b.body += [f"    for W in {S}:", step("W"), f"    for W in {S}[1:]:", step("W")]
    if rebound:  # (after the loop: the loop's adjoint must not read the new list)
        b.rebind(rebound, S, "after")
        b.reread(rebound, S)


def _apply_variant(
    name: str, args: dict, param_items: list[Item], P: str, S: str, rng: random.Random
) -> dict | None:
    """The first call's arguments ``args`` (by parameter) with the items of other
    ndims, or the other container, that the variant ``name`` says; None where it
    changes nothing."""
    second = dict(args)
    fresh = np.random.default_rng(rng.randrange(1 << 30))
    if name in ("longer stack", "shorter stack", "3-d stack item"):
        if S not in second:
            return None
        stack = list(second[S])
        d = stack[0].shape[-1]
        if name == "longer stack":
            stack.append(fresh.uniform(-0.8, 0.8, (d, d)))
        elif name == "shorter stack" and len(stack) > 1:
            stack.pop()
        elif name == "3-d stack item":
            stack[0] = stack[0][None].copy()
        else:
            return None
        second[S] = type(second[S])(stack)
        return second
    if name in ("tuple for a list", "list for a tuple"):
        want, other = (list, tuple) if name == "tuple for a list" else (tuple, list)
        changed = False
        for key in (P, S):
            if key in second and type(second[key]) is want and "spare" not in second:
                second[key] = other(second[key])
                changed = True
        return second if changed else None
    if P not in second:
        return None
    listed = list(second[P])
    changed = False
    for i, item in enumerate(param_items):
        value = listed[i]
        if name == "bias as a row" and item.role == "b" and value.ndim == 1:
            listed[i], changed = value[None, :].copy(), True
        elif name == "bias as a vector" and item.role == "b" and value.ndim == 2:
            listed[i], changed = value[0].copy(), True
        elif name == "head as a vector" and item.role == "head" and value.ndim == 2:
            listed[i], changed = value[:, 0].copy(), True
        elif name == "scale of shape (1,)" and item.role == "scale":
            listed[i], changed = value.reshape(1).copy(), True
        elif name == "scale as a float" and item.role == "scale":
            listed[i], changed = float(value), True
    if not changed:
        return None
    second[P] = type(second[P])(listed)
    if "spare" in second:
        second["spare"] = second[P]
    return second


def _runs(source: str, args: tuple) -> bool:
    """Whether the program runs on (copies of) ``args`` to a finite number."""
    namespace: dict[str, Any] = {}
    try:
        exec(compile(source, "<generated>", "exec"), namespace)
        value = namespace["program"](*copy.deepcopy(args))
        return np.shape(value) == () and bool(np.isfinite(value)) and abs(float(value)) < 1e3
    except Exception:
        return False


@functools.cache
def build(seed: int, without: frozenset[str] = frozenset()) -> Program:
    """The program of ``seed``: the first of its attempts that runs on its arguments, its
    second call the first of its drawn variants that it runs on (else the first call's
    arguments again). ``without``: hostile constructs and channels to leave out (to
    tell which one a failure needs; the others' draws stay as they were)."""
    for attempt in range(40):
        program = _compose(seed, attempt, without)
        if not _runs(program.source, program.calls[0]):
            continue
        for name, args in program.candidates:
            if _runs(program.source, args):
                program.calls[1] = args
                program.used = program.used | {f"second call: {name}"}
                break
        else:
            program.used = program.used - {"other item ndims in the second call"}
        return program
    raise AssertionError(f"seed {seed}: no attempt made a program that runs")
