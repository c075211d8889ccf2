"""Random NumPy programs that change arrays, lists and dicts in place, through other
names, and read module globals that the test rebinds between calls: the code that got
silently wrong gradients.

``generate(seed)`` writes a module's source: a user function ``soft``, module globals
``K`` (a scale: a float, or an array of shape (6,)), ``ACT`` (an activation: np.tanh,
np.sin or soft) and ``CONFIG`` (a dict), the helpers the program calls, one function
``program(x, w)`` of two float64 arrays of shape (6,), and ``rebind()``, which rebinds
``ACT``, ``K`` or both, or changes the array ``K`` or the dict ``CONFIG`` in place (the
test calls it between two calls of a gradient).
``constructs(seed)`` names what that program exercises, from ``CONSTRUCTS``.

Ordinary arithmetic (tanh, sin, scaled products, division by ``1.5 + b * b``) is mixed
with the constructs. Every value stays bounded and every operation is smooth (no abs,
maximum, branches or data-dependent indices), so central finite differences in float64
are accurate at any point of [-1, 1]. Each array, view, list and dict the constructs
touch is read again in the result, so an in-place change that a gradient misses shows.
A view or a second name is spelled many ways (``VIEWS``, ``VIEW_SPELLINGS``,
``ALIAS_SPELLINGS``), and a few constructs are safe on purpose (the second name rebound
before the write, a view taken after it): where the transform accepts a program, its
gradient must be right. 40% of the programs have one construct only, since a program
that the transform refuses for one construct tests none of the others in source mode.
The program's value is deterministic: it writes into nothing that outlives the call
but its arguments (which the test passes as fresh copies).

On the tape, as in PyTorch, writing into a value saved for the backward pass (the
result of np.tanh, an operand of a product) or into a parameter is an error, so most
programs with many constructs are refused there. About 40% of the programs are *plain*:
they use only operations that save no operand a later write changes (sums, scaling,
np.tanh under a scale, np.copy, np.zeros), write into no parameter and call only what
the tape records, so the tape and auto mode's fallback to it run them through.
"""

from __future__ import annotations

import functools
import random

#: what the programs exercise; ``constructs(seed)`` returns a subset
CONSTRUCTS = (
    # a second name for an array, then an in-place change through either
    "alias",
    "alias made another way",
    "alias on a branch of a global",
    "alias rebound before the write (safe)",
    # a view, then a write through it or through its base
    "view y[1:]",
    "view y[::2]",
    "view y.reshape",
    "view .T",
    "view np.ravel",
    "view np.asarray",
    "view y.view()",
    "view, another spelling",
    "view of a view",
    "view taken after the write (safe)",
    "write through the view",
    "write through the base",
    # in-place operators on arrays of one's own
    "np.zeros then in place",
    "np.copy then in place",
    # writes into an array the program did not make
    "parameter written in place",
    # functions and methods that write into their argument (in a helper, or not)
    "helper writes its argument",
    "helper item assignment",
    "helper +=",
    "helper returns its buffer",
    "buf.fill",
    "np.copyto",
    "out=",
    "np.add.at",
    "np.put",
    "np.putmask",
    "np.fill_diagonal",
    "buf.sort()",
    # lists
    "list append",
    "list extend",
    "list insert",
    "list reverse",
    "list pop",
    "list +=",
    "list *= 2",
    "list slice assignment",
    "list alias",
    "array twice in a list",
    "list element written in place",
    "loop variable written in place",
    "helper appends to a list",
    # dicts
    "dict update",
    "dict setdefault",
    "dict pop",
    "dict element written in place",
    "dict values written in a loop",
    # repeated indices
    "repeated index +=",
    "repeated index =",
    "repeated index list name",
    # a write by itself, repeated by a loop, or made by a nested function
    "array written in place",
    "write in a loop",
    "closure writes an enclosing array",
    # globals rebound between calls
    "rebind K",
    "rebind K to an array",
    "rebind ACT",
    "rebind ACT to a user function",
    "global array changed in place",
    "global dict changed in place",
    # an argument read for its shape, then rebound in a loop to a value of another shape
    "argument rebound to another shape in a loop",
    # items of an argument read in a loop (which the backward pass reads again rather
    # than saving them, where nothing can change the argument), then the argument
    # changed in place, by one of these ways, or rebound, or left alone
    "items read in a loop, then written through the argument",
    "items read in a loop, then written through a second name",
    "items read in a loop, then written through a view",
    "items read in a loop, then written by a helper",
    "items read in a loop, then the argument rebound",
    "items read in a loop, the argument left alone",
    # a helper that rebinds a global while the program runs (and puts it back at the end)
    "helper rebinds a global during the call",
    # a helper the transform cannot read (try, *args): on the tape, or called plainly
    "unreadable helper writes its argument",
    # a recursive helper, or a functools.partial of a helper, given an array of the
    # program's own: it writes into it, or only reads it
    "recursive helper writes its argument",
    "recursive helper reads its argument",
    "partial of a helper writes its argument",
    # a construct inside a with block (its body runs once, in order, like any other)
    "with block",
)

#: full-shape (6,) expressions of one full-shape expression ``{0}``; each keeps a bounded
#: value bounded, and none needs parentheses to be multiplied on the right
UNARY = [
    "np.sin({0})",
    "np.tanh({0})",
    "np.cos({0}) * 0.5",
    "{0} * 0.7",
    "np.exp(np.tanh({0})) * 0.5",
    "ACT({0}) * K",
]
BINARY = [
    "({0} + {1}) * 0.5",
    "({0} - {1})",
    "{0} * {1} * 0.5",
    "{0} / (1.5 + {1} * {1})",
]
#: views of a (6,) array ``{}`` (or the array itself), by construct, with their shapes
VIEWS = {
    "view y[1:]": ("{}[1:]", (5,)),
    "view y[::2]": ("{}[::2]", (3,)),
    "view y.reshape": ("{}.reshape(2, 3)", (2, 3)),
    "view .T": ("{}.reshape(2, 3).T", (3, 2)),
    "view np.ravel": ("np.ravel({})", (6,)),
    "view np.asarray": ("np.asarray({})", (6,)),
    "view y.view()": ("{}.view()", (6,)),
}
#: more ways NumPy gives a view of ``{}`` or ``{}`` itself (construct "view, another
#: spelling"), with their shapes
VIEW_SPELLINGS = {
    "{}[:]": (6,),
    "{}[...]": (6,),
    "{}[::-1]": (6,),
    "{}[None]": (1, 6),
    "{}.reshape(-1)": (6,),
    "{}.ravel()": (6,),
    "{}.T": (6,),
    "{}.real": (6,),
    "{}.astype(np.float64, copy=False)": (6,),
    "np.array({}, copy=False)": (6,),
    "np.asanyarray({})": (6,),
    "np.atleast_1d({})": (6,),
    "np.squeeze({})": (6,),
    "np.expand_dims({}, 0)": (1, 6),
    "np.reshape({}, (2, 3))": (2, 3),
    "np.transpose({}.reshape(2, 3))": (3, 2),
    "np.swapaxes({}.reshape(2, 3), 0, 1)": (3, 2),
    "np.flip({})": (6,),
    "{}.squeeze()": (6,),
    "np.asarray({}, dtype=np.float64)": (6,),
    "np.atleast_2d({})": (1, 6),
    "np.split({}, 2)[0]": (3,),
    "np.array_split({}, 3)[1]": (2,),
    "np.hsplit({}, 2)[1]": (3,),
    'getattr({}, "T")': (6,),
}
#: a second name for ``{}`` made without a plain ``z = y`` (``same`` returns its argument)
ALIAS_SPELLINGS = [
    "same({})",
    "[{}][0]",
    "({}, w)[0]",
    '{{"k": {}}}["k"]',
    "{} if np.mean(K) > 0.0 else x",
    "next(iter([{}]))",
]
#: those of them that save no operand for the gradient: on the tape a later in-place write
#: into the operand is no error
PLAIN_UNARY = ["np.tanh({0}) * 0.9", "{0} * 0.7", "np.exp(np.tanh({0})) * 0.5"]
PLAIN_BINARY = ["({0} + {1}) * 0.5", "({0} - {1})"]
#: arrays a program makes that save nothing for the gradient (the tape can write into
#: them later) and that do (the tape refuses a later write into them)
PLAIN_SOURCES = ["{a} * 0.7", "{a} + {b} * 0.3", "np.copy({a})", "{a} - 0.2"]
SAVING_SOURCES = ["np.tanh({a})", "{a} * {b}", "np.sin({a}) * 0.8"]
#: the in-place changes of ``write`` that save nothing either
PLAIN_OPERATORS = ["+=", "-="]

#: the helper functions that write into their argument ``buf``, by construct: the lines
#: of the function (``{name}`` is made unique)
HELPERS = {
    "helper item assignment": ["def {name}(buf, a):", "    buf[{i}] = np.sum(a) * 0.3"],
    "helper +=": ["def {name}(buf, a):", "    buf += ACT(a) * 0.5"],
    "buf.fill": ["def {name}(buf, a):", "    buf.fill(np.sum(a) * 0.2)"],
    "np.copyto": ["def {name}(buf, a):", "    np.copyto(buf, np.tanh(a))"],
    "out=": ["def {name}(buf, a, b):", "    np.{ufunc}(a, b, out=buf)"],
    "np.add.at": ["def {name}(buf, a):", "    np.add.at(buf, [{i}, {j}, {i}], a[:3] * 0.5)"],
    "np.put": ["def {name}(buf, a):", "    np.put(buf, [{i}, {j}], a[:2])"],
    "np.putmask": ["def {name}(buf, a):", "    np.putmask(buf, np.arange(6) > 2, a)"],
    "np.fill_diagonal": [
        "def {name}(buf, a):",
        "    np.fill_diagonal(buf.reshape(2, 3), np.sum(a) * 0.2)",
    ],
    "buf.sort()": ["def {name}(buf, a):", "    buf.sort()", "    buf *= np.tanh(a)"],
}
#: the helpers' names, by construct
HELPER_NAMES = {
    "helper item assignment": "put",
    "helper +=": "accumulate",
    "buf.fill": "reset",
    "np.copyto": "assign",
    "out=": "combine",
    "np.add.at": "scatter",
    "np.put": "place",
    "np.putmask": "mask",
    "np.fill_diagonal": "diagonal",
    "buf.sort()": "order",
}
#: the writes of ``HELPERS`` that programs also make themselves
INLINE = {
    "buf.fill": "{buf}.fill({scalar})",
    "np.copyto": "np.copyto({buf}, {a})",
    "out=": "np.{ufunc}({a}, {b}, out={buf})",
    "np.add.at": "np.add.at({buf}, [{i}, {j}, {i}], {three})",
    "np.put": "np.put({buf}, [{i}, {j}], {two})",
    "np.putmask": "np.putmask({buf}, np.arange(6) < 3, {a})",
    "np.fill_diagonal": "np.fill_diagonal({buf}.reshape(2, 3), {scalar})",
    "buf.sort()": "{buf}.sort()",
}


def _grouped(expression: str) -> str:
    """``expression`` in parentheses unless it is a name."""
    return expression if expression.isidentifier() else f"({expression})"


class _Writer:
    def __init__(self, rng: random.Random, plain: bool) -> None:
        self.rng = rng
        # Whether the program is one the tape can run: it uses only operations that save
        # no operand that a later write changes, writes into no parameter and calls only
        # what the tape records.
        self.plain = plain
        self.fresh = 0
        self.used: set[str] = set()
        self.helpers: list[str] = []  # source lines of the helper functions
        self.helper_count = 0
        self.arrays = ["x", "w"]  # names of (6,) arrays
        self.views: dict[str, tuple[int, ...]] = {}  # name: shape
        self.lists: dict[str, int] = {}  # name: length; every element a (6,) array
        self.results: list[str] = []  # terms of the returned sum

    # -- names and expressions -------------------------------------------------------

    def new_name(self, prefix: str = "v") -> str:
        self.fresh += 1
        return f"{prefix}{self.fresh}"

    def coefficient(self, low: float = 0.1, high: float = 0.6) -> str:
        return f"{self.rng.uniform(low, high):.2f}"

    def expression(self, depth: int = 0) -> str:
        """A (6,) expression of the arrays."""
        r = self.rng
        choice = r.random()
        if depth >= 2 or choice < 0.3:
            return r.choice(self.arrays)
        if choice < 0.6:
            return r.choice(PLAIN_UNARY if self.plain else UNARY).format(self.expression(depth + 1))
        if choice < 0.9 or not self.views:
            pattern = r.choice(PLAIN_BINARY if self.plain else BINARY)
            if "{1} * {1}" in pattern:
                return pattern.format(self.expression(depth + 1), r.choice(self.arrays))
            return pattern.format(self.expression(depth + 1), self.expression(depth + 1))
        view = r.choice(sorted(self.views))  # a view read as a number
        return f"({self.expression(depth + 1)} + np.sum({view}) * {self.coefficient(0.05, 0.2)})"

    def scalar(self) -> str:
        """A number computed from the arrays."""
        r = self.rng
        if r.random() < 0.5:
            return f"np.sum({self.expression(1)}) * {self.coefficient(0.05, 0.3)}"
        a, b = r.choice(self.arrays), r.choice(self.arrays)
        return f"{a}[{r.randint(0, 5)}] * {b}[{r.randint(0, 5)}]"

    @staticmethod
    def fit(expression: str, shape: tuple[int, ...]) -> str:
        """``expression``, of shape (6,), cut or reshaped to ``shape``."""
        if shape == (6,):
            return expression
        if len(shape) == 2:
            return f"{_grouped(expression)}.reshape{shape}"
        return f"{_grouped(expression)}[:{shape[0]}]"

    def operand(self, shape: tuple[int, ...]) -> str:
        """A value to combine in place with an array of ``shape``: one of that shape or
        a number (broadcast)."""
        if self.rng.random() < 0.25:
            return self.scalar()
        return self.fit(self.expression(), shape)

    def helper(self, prefix: str, lines: list[str]) -> str:
        """Add a helper function of ``lines`` (whose ``{name}`` is left to fill) and
        return its name."""
        name = f"{prefix}{self.helper_count}"
        self.helper_count += 1
        self.helpers += ["", lines[0].format(name=name), *lines[1:], ""]
        return name

    def use(self, construct: str) -> None:
        self.used.add(construct)

    def read_later(self, name: str) -> None:
        """Make the result read ``name`` (once; an expression is read where it is)."""
        if not name.isidentifier():
            return
        square = f"np.sum({name} * {name})"
        if not any(term.startswith(square + " ") for term in self.results):
            self.results.append(f"{square} * {self.coefficient(0.1, 0.5)}")

    def stored(self) -> str:
        """An array to put in a list or dict (rarely a parameter): the container holds
        the array itself, so writes through either show in the other."""
        made = [a for a in self.arrays if a not in ("x", "w")]
        if made and (self.plain or self.rng.random() < 0.95):
            return self.rng.choice(made)
        if made or self.plain or self.rng.random() < 0.5:
            return self.expression()
        return self.rng.choice(["x", "w"])

    # -- writes ----------------------------------------------------------------------

    def target(
        self, pad: str, out: list[str], full_only: bool = False
    ) -> tuple[str, tuple[int, ...]]:
        """An array or view to write into: rarely a parameter, else one the program
        made (a new one where there is none)."""
        r = self.rng
        if not full_only and self.views and r.random() < 0.4:
            name = r.choice(sorted(self.views))
            return name, self.views[name]
        if not self.plain and r.random() < 0.05:
            self.use("parameter written in place")
            return r.choice(["x", "w"]), (6,)
        made = [a for a in self.arrays if a not in ("x", "w")]
        return (r.choice(made) if made else self.new_array(pad, out)), (6,)

    def write(self, name: str, shape: tuple[int, ...], pad: str, loop: str | None = None) -> str:
        """One in-place change of ``name``; ``loop`` is a loop counter it may index with."""
        r = self.rng
        choice = r.random()
        if choice < 0.3:
            if loop is not None and len(shape) == 1:
                index = loop
            elif len(shape) == 2:
                index = f"{r.randint(0, shape[0] - 1)}, {r.randint(0, shape[1] - 1)}"
            else:
                index = str(r.randint(0, shape[0] - 1))
            return f"{pad}{name}[{index}] = {self.scalar()}"
        if choice < 0.37 and len(shape) == 1 and shape[0] >= 3:
            return f"{pad}{name}[1:3] {r.choice(['+=', '-='])} {self.operand((2,))}"
        if choice < 0.44:
            return f"{pad}{name}[{r.choice([':', '...'])}] = {self.operand(shape)}"
        if choice < 0.52 and not self.plain:
            square = f"{_grouped(self.fit(self.expression(1), shape))} ** 2"
            return f"{pad}{name} /= 1.5 + {square}"
        if choice < 0.56 and not self.plain:
            # (`**=` writes into the array as `*=` does; the tape once rebound the name)
            return f"{pad}{name} **= 2"
        return f"{pad}{name} {self.operator()} {self.operand(shape)}"

    def operator(self) -> str:
        """An augmented assignment's operator."""
        return self.rng.choice(PLAIN_OPERATORS if self.plain else ["+=", "-=", "*="])

    def write_somewhere(self, pad: str, out: list[str]) -> None:
        """An in-place change of an array or view, sometimes repeated by a loop."""
        name, shape = self.target(pad, out)
        self.use("array written in place")
        if self.rng.random() < 0.2:
            self.use("write in a loop")
            out.append(f"{pad}for i in range(2):")
            out.append(self.write(name, shape, pad + "    ", loop="i"))
        else:
            out.append(self.write(name, shape, pad))
        self.read_later(name)

    # -- constructs ------------------------------------------------------------------

    def new_array(self, pad: str, out: list[str]) -> str:
        """A new (6,) array, made by an operation that saves nothing or that does."""
        r = self.rng
        name = self.new_name()
        sources = PLAIN_SOURCES if self.plain or r.random() < 0.6 else SAVING_SOURCES
        value = r.choice(sources).format(a=r.choice(self.arrays), b=r.choice(self.arrays))
        out.append(f"{pad}{name} = {value}")
        self.arrays.append(name)
        return name

    def base(self, pad: str, out: list[str]) -> str:
        """An array to alias or view: usually a new one, sometimes one in use or a
        parameter."""
        r = self.rng
        choice = r.random()
        if choice < 0.05 and not self.plain:
            self.use("parameter written in place")  # the construct then writes into it
            return r.choice(["x", "w"])
        made = [a for a in self.arrays if a not in ("x", "w")]
        if choice < 0.4 and made:
            return r.choice(made)
        return self.new_array(pad, out)

    def alias(self, pad: str, out: list[str]) -> None:
        r = self.rng
        base = self.base(pad, out)
        name = self.new_name("z")
        choice = r.random()
        if choice < 0.5:
            self.use("alias")
            out.append(f"{pad}{name} = {base}")
        elif choice < 0.8:
            self.use("alias made another way")
            spelling = r.choice(ALIAS_SPELLINGS)
            if spelling.startswith("same("):
                self.define_same()
            out.append(f"{pad}{name} = {spelling.format(base)}")
        else:
            # an alias or a copy as a global decides; rebind() may change its mind
            self.use("alias on a branch of a global")
            out.append(f"{pad}if np.mean(K) > 0.7:")
            out.append(f"{pad}    {name} = {base}")
            out.append(f"{pad}else:")
            out.append(f"{pad}    {name} = {base} * 1.0")
        self.arrays.append(name)
        if r.random() < 0.2:
            self.use("alias rebound before the write (safe)")
            out.append(f"{pad}{name} = {name} * 0.5")
        out.append(self.write(r.choice([base, name]), (6,), pad))
        self.read_later(base)
        self.read_later(name)

    def define_same(self) -> None:
        """Define ``same(a)``, which returns its argument, once."""
        if "def same(a):" not in self.helpers:
            self.helpers += ["", "def same(a):", "    return a", ""]

    def view(self, pad: str, out: list[str]) -> None:
        r = self.rng
        if r.random() < 0.6:
            self.use("view, another spelling")
            pattern = r.choice(sorted(VIEW_SPELLINGS))
            shape = VIEW_SPELLINGS[pattern]
        else:
            kind = r.choice(sorted(VIEWS))
            self.use(kind)
            pattern, shape = VIEWS[kind]
        base = self.base(pad, out)
        name = self.new_name("s")
        if r.random() < 0.15:
            self.use("view taken after the write (safe)")
            out.append(self.write(base, (6,), pad))
            out.append(f"{pad}{name} = {pattern.format(base)}")
            self.views[name] = shape
            self.read_later(base)
            self.read_later(name)
            return
        out.append(f"{pad}{name} = {pattern.format(base)}")
        if len(shape) == 1 and shape[0] >= 4 and r.random() < 0.25:
            self.use("view of a view")  # a slice of the slice, still the base's memory
            inner = self.new_name("s")
            out.append(f"{pad}{inner} = {name}[1::2]")
            self.views[inner] = (shape[0] // 2,)
            self.read_later(inner)
        self.views[name] = shape
        if r.random() < 0.6:
            self.use("write through the view")
            out.append(self.write(name, shape, pad))
        else:
            self.use("write through the base")
            out.append(self.write(base, (6,), pad))
        self.read_later(base)
        self.read_later(name)

    def own_array(self, pad: str, out: list[str]) -> None:
        r = self.rng
        name = self.new_name("b")
        if r.random() < 0.5:
            self.use("np.zeros then in place")
            out.append(f"{pad}{name} = np.zeros(6)")
        else:
            self.use("np.copy then in place")
            out.append(f"{pad}{name} = np.copy({r.choice(self.arrays)})")
        self.arrays.append(name)
        for _ in range(r.randint(1, 2)):
            operator = self.operator()
            out.append(f"{pad}{name} {operator} {self.operand((6,))}")
        self.read_later(name)

    def buffer(self, pad: str, out: list[str]) -> str:
        """An array to pass to a function that writes into it."""
        if self.rng.random() < 0.35:
            name = self.new_name("b")
            out.append(f"{pad}{name} = np.zeros(6)")
            self.arrays.append(name)
            return name
        return self.target(pad, out, full_only=True)[0]

    def helper_write(self, pad: str, out: list[str]) -> None:
        """A helper that writes into its argument, or such a call or method inline."""
        r = self.rng
        if self.plain:
            kinds = ["helper item assignment", "helper +="]
        else:  # mostly the NumPy functions and methods that write
            kinds = sorted(INLINE) if r.random() < 0.6 else sorted(HELPERS)
        kind = r.choice(kinds)
        self.use(kind)
        buf = self.buffer(pad, out)
        i, j = r.sample(range(6), 2)
        ufunc = r.choice(["multiply", "add", "subtract"])
        if r.random() < 0.35 and kind in INLINE:
            # the same write in the program itself
            inline = INLINE[kind].format(
                buf=buf,
                i=i,
                j=j,
                ufunc=ufunc,
                scalar=self.scalar(),
                a=self.expression(1),
                b=self.expression(1),
                two=self.fit(self.expression(), (2,)),
                three=self.fit(self.expression(), (3,)),
            )
            out.append(f"{pad}{inline}")
            self.read_later(buf)
            return
        self.use("helper writes its argument")
        lines = [line.format(name="{name}", i=i, j=j, ufunc=ufunc) for line in HELPERS[kind]]
        returns = r.random() < 0.3
        if returns:
            self.use("helper returns its buffer")
            lines.append("    return buf")
        name = self.helper(HELPER_NAMES[kind], lines)
        arguments = [buf, self.expression()]
        if kind == "out=":
            arguments.append(self.expression(1))
        call = f"{name}({', '.join(arguments)})"
        if returns:
            result = self.new_name("r")
            out.append(f"{pad}{result} = {call}")
            self.arrays.append(result)
            if r.random() < 0.5:
                out.append(self.write(result, (6,), pad))  # through the returned alias
            self.read_later(result)
        else:
            out.append(f"{pad}{call}")
        self.read_later(buf)

    def a_list(self, pad: str, out: list[str]) -> None:
        r = self.rng
        name = self.new_name("acc")
        if r.random() < 0.3:
            self.use("array twice in a list")
            shared = self.base(pad, out)
            out.append(f"{pad}{name} = [{shared}, {shared}]")
            self.lists[name] = 2
            out.append(self.write(f"{name}[{r.randint(0, 1)}]", (6,), pad))
            self.results.append(f"np.sum({name}[1] * {name}[0]) * 0.3")
            self.read_later(shared)
            return
        items = [
            self.stored() if r.random() < 0.5 else self.expression() for _ in range(r.randint(1, 2))
        ]
        out.append(f"{pad}{name} = [{', '.join(items)}]")
        self.lists[name] = len(items)
        alias = None
        for _ in range(r.randint(1, 3)):
            alias = self.list_step(name, alias, pad, out)
        length = self.lists[name]
        first, last = r.randint(0, length - 1), r.randint(-length, -1)
        self.results.append(f"np.sum({name}[{first}] * {name}[{last}]) * 0.4")
        self.results.append(f"len({name}) * 0.01")
        if alias is not None:
            self.results.append(f"np.sum({alias}[-1]) * 0.2")

    def list_step(self, name: str, alias: str | None, pad: str, out: list[str]) -> str | None:
        """One change of list ``name``; returns the name of a second reference to it."""
        r = self.rng
        length = self.lists[name]
        kind = r.choice(
            [
                "list append",
                "list extend",
                "list insert",
                "list reverse",
                "list pop",
                "list +=",
                "list *= 2",
                "list slice assignment",
                "list alias",
                "list element written in place",
                "loop variable written in place",
                "helper appends to a list",
            ]
        )
        if kind == "list pop" and length < 2:
            kind = "list append"
        self.use(kind)
        if kind == "list append":
            item = self.stored()  # the array itself: a later write shows in the list
            out.append(f"{pad}{name}.append({item})")
            length += 1
        elif kind == "list extend":
            out.append(f"{pad}{name}.extend([{self.expression()}, {self.stored()}])")
            length += 2
        elif kind == "list insert":
            out.append(f"{pad}{name}.insert({r.randint(0, length)}, {self.expression()})")
            length += 1
        elif kind == "list reverse":
            out.append(f"{pad}{name}.reverse()")
        elif kind == "list pop":
            popped = self.new_name("p")
            where = r.choice(["", "0", "-1"])
            out.append(f"{pad}{popped} = {name}.pop({where})")
            self.arrays.append(popped)
            self.read_later(popped)
            length -= 1
        elif kind == "list +=":
            out.append(f"{pad}{name} += [{self.expression()}]")
            length += 1
        elif kind == "list *= 2":
            out.append(f"{pad}{name} *= 2")  # the same arrays twice, in the same list
            length *= 2
        elif kind == "list slice assignment":
            start = r.randint(0, length - 1)
            values = [self.expression() for _ in range(r.randint(1, 2))]
            out.append(f"{pad}{name}[{start}:] = [{', '.join(values)}]")
            length = start + len(values)
        elif kind == "list alias":
            alias = self.new_name("other")
            out.append(f"{pad}{alias} = {name}")
            out.append(f"{pad}{name}.append({self.expression()})")
            length += 1
        elif kind == "list element written in place":
            out.append(self.write(f"{name}[{r.randint(-length, length - 1)}]", (6,), pad))
        elif kind == "loop variable written in place":
            out.append(f"{pad}for item in {name}:")  # item is each array, not a copy
            out.append(f"{pad}    item {self.operator()} {self.scalar()}")
        else:
            helper = self.helper("push", ["def {name}(items, v):", "    items.append(v * 0.5)"])
            out.append(f"{pad}{helper}({name}, {self.expression()})")
            length += 1
        self.lists[name] = length
        return alias

    def a_dict(self, pad: str, out: list[str]) -> None:
        r = self.rng
        name = self.new_name("d")
        shared = self.stored()
        out.append(f'{pad}{name} = {{"a": {shared}, "b": {self.expression()}}}')
        keys = ["a", "b"]
        for _ in range(r.randint(1, 2)):
            kind = r.choice(
                [
                    "dict update",
                    "dict setdefault",
                    "dict pop",
                    "dict element written in place",
                    "dict values written in a loop",
                ]
            )
            if kind == "dict pop" and len(keys) < 2:
                kind = "dict element written in place"
            self.use(kind)
            if kind == "dict update":
                key = r.choice(["a", "c"])
                if r.random() < 0.5:
                    out.append(f"{pad}{name}.update({key}={self.expression()})")
                else:
                    out.append(f'{pad}{name}.update({{"{key}": {self.expression()}}})')
                keys = sorted({*keys, key})
            elif kind == "dict setdefault":
                key = r.choice(keys + ["c"])
                got = self.new_name("g")
                out.append(f'{pad}{got} = {name}.setdefault("{key}", {self.expression()})')
                keys = sorted({*keys, key})
                self.arrays.append(got)
                out.append(self.write(got, (6,), pad))  # the dict's value, or shared's
                self.read_later(got)
            elif kind == "dict pop":
                key = r.choice(keys)
                got = self.new_name("g")
                out.append(f'{pad}{got} = {name}.pop("{key}")')
                keys.remove(key)
                self.arrays.append(got)
                self.read_later(got)
            elif kind == "dict values written in a loop":
                out.append(f"{pad}for value in {name}.values():")
                out.append(f"{pad}    value[{r.randint(0, 5)}] = {self.scalar()}")
            else:
                out.append(self.write(f'{name}["{r.choice(keys)}"]', (6,), pad))
        self.results.append(f'np.sum({name}["{keys[0]}"] * {name}["{keys[-1]}"]) * 0.3')
        self.read_later(shared)

    def repeated_index(self, pad: str, out: list[str]) -> None:
        r = self.rng
        name, _ = self.target(pad, out, full_only=True)
        kind = r.choice(["repeated index +=", "repeated index =", "repeated index list name"])
        self.use(kind)
        first, second = r.sample(range(6), 2)
        if kind == "repeated index +=":
            operator = self.operator()
            value = self.fit(self.expression(), (2,))
            out.append(f"{pad}{name}[[{first}, {first}]] {operator} {value}")
        elif kind == "repeated index =":
            value = self.fit(self.expression(), (3,))
            out.append(f"{pad}{name}[[{first}, {second}, {first}]] = {value}")
        else:
            index = self.new_name("idx")
            out.append(f"{pad}{index} = [{second}, {first}, {second}]")
            operator = r.choice(["=", self.operator()])
            out.append(f"{pad}{name}[{index}] {operator} {self.fit(self.expression(), (3,))}")
        self.read_later(name)

    def closure(self, pad: str, out: list[str]) -> None:
        """A nested function that writes into an array of the enclosing one."""
        self.use("closure writes an enclosing array")
        name, _ = self.target(pad, out, full_only=True)
        function = self.new_name("bump")
        index = self.rng.choice(["[1]", "[2:4]", "[:]"])
        out.append(f"{pad}def {function}(v):")
        out.append(f"{pad}    {name}{index} {self.operator()} v")
        out.append(f"{pad}{function}({self.scalar()})")
        self.read_later(name)

    def arithmetic(self, pad: str, out: list[str]) -> None:
        name = self.new_name()
        value = self.expression()
        if value.isidentifier():  # a new array, not a second name of one (see alias)
            value = f"{value} * 1.0"
        out.append(f"{pad}{name} = {value}")
        self.arrays.append(name)

    def statement(self, pad: str, out: list[str]) -> None:
        """Some arithmetic, then one construct; now and then, inside a ``with`` block."""
        r = self.rng
        if r.random() < 0.08:
            self.use("with block")
            out.append(f"{pad}with np.errstate(all='ignore'):")
            pad += "    "
            if self.arrays:  # a value the backward pass reads, overwritten in the block
                name = r.choice(self.arrays)
                out.append(f"{pad}{name} = np.tanh({name}) * 0.9")
        if r.random() < 0.3:
            self.arithmetic(pad, out)
        kind = r.random()
        if kind < 0.1:
            self.alias(pad, out)
        elif kind < 0.4:
            self.view(pad, out)
        elif kind < 0.44:
            self.own_array(pad, out)
        elif kind < 0.59:
            self.helper_write(pad, out)
        elif kind < 0.71:
            self.a_list(pad, out)
        elif kind < 0.8:
            self.a_dict(pad, out)
        elif kind < 0.86:
            self.repeated_index(pad, out)
        elif kind < 0.92:
            self.closure(pad, out)
        else:
            self.write_somewhere(pad, out)


def _rebinding(rng: random.Random, used: set[str]) -> tuple[list[str], list[str]]:
    """The globals' first values and ``rebind()``'s body, as source lines."""
    act, k = rng.choice(["np.tanh", "np.sin", "soft"]), rng.choice(["0.6", "0.8", "1.1"])
    body: list[str] = []
    in_place = rng.random() < 0.15
    if in_place:
        # an array that rebind() changes in place: the same object, new values
        k = "np.linspace(0.6, 1.1, 6)"
        body.append(rng.choice(["    K *= 1.5", "    K[2] = 2.0", "    K[:3] -= 0.4"]))
        used.add("global array changed in place")
    first = [f"K = {k}", f"ACT = {act}", 'CONFIG = {"scale": 0.5}']
    if rng.random() < 0.25:
        body.append('    CONFIG["scale"] = 1.5')  # no rebinding: the dict changes
        used.add("global dict changed in place")
    choice = rng.random()
    if choice < 0.6:
        new = rng.choice([a for a in ("np.tanh", "np.sin", "soft") if a != act])
        body.append(f"    ACT = {new}")
        used.add("rebind ACT")
        if "soft" in (act, new):
            used.add("rebind ACT to a user function")
    if choice > 0.4 and not in_place:
        if rng.random() < 0.3:
            body.append("    K = np.linspace(0.5, 1.2, 6)")
            used.add("rebind K to an array")
        else:
            body.append(f"    K = {rng.choice(['0.4', '0.9', '1.3'])}")
        used.add("rebind K")
    return first, ["def rebind():", "    global K, ACT", *body]


def _rebound_argument(rng: random.Random, terms: list[str], used: set[str]) -> list[str]:
    """In a fifth of the programs, after everything else: ``x`` read where only its shape
    matters to its gradient (a reshape's, a broadcast's), in a branch, then rebound in a
    loop to a number; the backward pass must restore the argument (or its shape) for the
    reads before the loop. (Where nothing else reads x's value, only its shape is kept,
    the case ``loop_shapes`` once got wrong; most programs here read x's value too, so
    test_loop_shapes checks that case itself.) Drawn from a generator of its own, so that
    the programs without it are as they were; the result reads the number and the read."""
    if rng.random() >= 0.2:
        return []
    used.add("argument rebound to another shape in a loop")
    read = rng.choice(
        [
            "np.reshape(x, (2, 3)) * 0.5",
            "x.reshape(3, 2).T * 0.5",
            "np.tanh(np.reshape(x, (6, 1)) - w) * 0.3",
            "np.expand_dims(x, 0) * np.reshape(w, (6, 1)) * 0.2",
        ]
    )
    terms += ["np.sum(np.tanh(shaped0))", "np.sum(x * w) * 0.25"]
    # (in a branch, where the shapes pass does not follow the read to x's first binding)
    return [
        "    shaped0 = w * 0.0",
        "    if np.sum(w) > -50.0:",
        f"        shaped0 = {read}",
        "    for i9 in range(2):",
        f"        x = np.tanh(w[{rng.randint(0, 5)}]) * (0.5 + 0.25 * i9)",
    ]


#: how ``_items_read_in_a_loop`` changes the argument ``{p}`` after the loop: construct
#: -> (lines of the program, lines of a helper)
ITEM_CHANGES = {
    "items read in a loop, then written through the argument": (["    {p}[{k}] = 0.3"], []),
    "items read in a loop, then written through a second name": (
        ["    item_alias = {p}", "    item_alias *= 0.5"],
        [],
    ),
    "items read in a loop, then written through a view": (
        ["    item_tail = {p}[{k}:]", "    item_tail += 0.25"],
        [],
    ),
    "items read in a loop, then written by a helper": (
        ["    halve_items({p})"],
        ["def halve_items(a):", "    a[1:4] *= 0.5", ""],
    ),
    "items read in a loop, then the argument rebound": (["    {p} = {p} * 0.5"], []),
    "items read in a loop, the argument left alone": ([], []),
}


def _items_read_in_a_loop(
    rng: random.Random, terms: list[str], used: set[str], plain: bool
) -> tuple[list[str], list[str]]:
    """In a quarter of the programs: ``(helper lines, program lines)`` of a loop that
    reads items of an argument (``x[item_index]``, whose value the gradient of the product
    reads), then a change of the argument after the loop. The backward pass must read
    the items the loop read, not the changed ones: where nothing can change the argument
    it reads them again (``remat``), else it saves them. Drawn from a generator of its
    own, so that the programs without it are as they were; the result reads the sum and
    the argument after the change. Plain programs (which the tape must run) leave the
    argument alone or rebind it: the tape refuses writes into a parameter. (Its names
    have no digits: the writer's all do.)"""
    if rng.random() >= 0.25:
        return [], []
    param, other = rng.sample(["x", "w"], 2)
    start = rng.randint(0, 2)
    stop = rng.randint(start + 2, 6)
    index = rng.choice(["item_index", f"item_index - {start}", f"{stop - 1} - item_index"])
    choices = sorted(ITEM_CHANGES)
    if plain:
        choices = [c for c in choices if "rebound" in c or "left alone" in c]
    construct = rng.choice(choices)
    used.add(construct)
    changes, helper = ITEM_CHANGES[construct]
    lines = [
        "    item_total = 0.0",
        f"    for item_index in range({start}, {stop}):",
        f"        item_total = item_total + {param}[item_index] * np.tanh({other}[{index}]) * 0.5",
        *(line.format(p=param, k=rng.randint(0, 5)) for line in changes),
    ]
    terms += ["item_total * 0.7", f"np.sum({param} * {other}) * 0.3"]
    return helper, lines


#: helpers that rebind the global ``{g}`` to ``v`` for the rest of the call, keeping its
#: value in ``SAVED_{g}``, and put it back, in the ways Python has of rebinding a global
#: (``{more}``: helper lines the spelling needs)
GLOBAL_REBINDERS = {
    "global": (
        ["def push_{g}(v):", "    global {g}, SAVED_{g}", "    SAVED_{g} = {g}", "    {g} = v"],
        ["def pop_{g}():", "    global {g}", "    {g} = SAVED_{g}"],
    ),
    "globals()": (
        ["def push_{g}(v):", '    globals()["SAVED_{g}"] = {g}', '    globals()["{g}"] = v'],
        ["def pop_{g}():", '    globals()["{g}"] = SAVED_{g}'],
    ),
    "sys.modules": (
        [
            "def push_{g}(v):",
            "    here = sys.modules[__name__]",
            "    here.SAVED_{g} = {g}",
            "    here.{g} = v",
        ],
        ["def pop_{g}():", "    sys.modules[__name__].{g} = SAVED_{g}"],
    ),
    # (with the "global" spelling's push_ as put_, which push_ calls)
    "a helper's helper": (
        ["def push_{g}(v):", "    put_{g}(v)"],
        ["def pop_{g}():", "    global {g}", "    {g} = SAVED_{g}"],
    ),
}


def _global_rebound_in_call(
    rng: random.Random, used: set[str]
) -> tuple[list[str], list[str], list[str]]:
    """In a seventh of the programs: ``K`` or ``ACT`` read, then rebound by a helper (in
    one of ``GLOBAL_REBINDERS``' ways) for the rest of the call, which reads it again in
    the result, and put back before the program returns (so that calls agree). Drawn from a
    generator of its own, so that the programs without it are as they were. Returns the
    helpers, the lines that start the program and those that end it before ``return``."""
    if rng.random() >= 1 / 7:
        return [], [], []
    used.add("helper rebinds a global during the call")
    name = rng.choice(["K", "ACT"])
    spelling = rng.choice(sorted(GLOBAL_REBINDERS))
    functions = [*GLOBAL_REBINDERS[spelling]]
    if spelling == "a helper's helper":
        functions.insert(0, GLOBAL_REBINDERS["global"][0])
        functions[0] = [functions[0][0].replace("push_", "put_"), *functions[0][1:]]
    helpers = [line.format(g=name) for lines in functions for line in [*lines, "", ""]]
    read = "np.sum(np.tanh(x) * K) * 0.4" if name == "K" else "np.sum(ACT(w) * x) * 0.4"
    value = rng.choice(["1.7", "0.3"]) if name == "K" else rng.choice(["np.cos", "soft"])
    start = [f"    before0 = {read}", f"    push_{name}({value})"]
    return helpers, start, [f"    pop_{name}()"]


#: helpers the transform cannot read that write into their first argument (``{name}`` is
#: made unique), and the spellings of their calls (``{result}`` bound or not)
UNREADABLE_WRITERS = [
    [
        "def {name}(buf, a):",
        "    try:",
        "        buf += a * 0.3",
        "    except ValueError:",
        "        pass",
        "    return buf",
    ],
    ["def {name}(*values):", "    values[0][1] = np.sum(values[1]) * 0.2", "    return values[0]"],
]


def _unreadable_writer(rng: random.Random, terms: list[str], used: set[str]) -> tuple:
    """In a ninth of the programs: an array of the program's own given to a helper the
    transform cannot read (``try``, ``*args``), which writes into it, its result read or
    not; both are read in the result. The tape takes a write into a differentiated
    argument on a copy, so such a call must not run there from generated code. Drawn from
    a generator of its own, so that the programs without it are as they were. Returns the
    helper's lines and the program's lines that call it."""
    if rng.random() >= 1 / 9:
        return [], []
    used.add("unreadable helper writes its argument")
    helper = [line.format(name="keep0") for line in rng.choice(UNREADABLE_WRITERS)]
    # (of w: x may have been rebound to a number by then)
    made = rng.choice(["w * 0.9", "np.tanh(w) * 0.8", "np.copy(w)"])
    lines = [f"    own0 = {made}"]
    if rng.random() < 0.5:
        lines.append("    got0 = keep0(own0, w * 0.5)")
        terms.append("np.sum(got0 * w) * 0.2")
    else:
        lines.append("    keep0(own0, w * 0.5)")
    terms.append("np.sum(own0 * x) * 0.3")
    return [*helper, "", ""], lines


#: a recursive helper ``deep0(buf, a, n)`` writing into ``buf`` (the write's line), or
#: only reading it; and a helper ``part_inner0(buf, a, k)`` that ``part0``, a
#: ``functools.partial`` fixing ``k``, calls
RECURSIVE_WRITES = ["    buf += a * 0.3", "    buf[1] = np.sum(a) * 0.2 + buf[0]", "    buf *= 0.9"]
PARTIAL_WRITES = ["    buf *= k", "    buf[2] = np.sum(a) * k", "    buf -= a * k"]


def _recursive_or_partial(rng: random.Random, terms: list[str], used: set[str]) -> tuple:
    """In an eighth of the programs: an array of the program's own given to a recursive
    helper that writes into it or only reads it, or to a ``functools.partial`` of a helper
    that writes into it; its result read or not, the array read in the result. Drawn from
    a generator of its own, so that the programs without it are as they were. Returns the
    helper's lines (the module's) and the program's lines that call it."""
    if rng.random() >= 1 / 8:
        return [], []
    made = rng.choice(["w * 0.8", "np.sin(w) * 0.5", "np.copy(w)"])
    kind = rng.choice(["writes", "reads", "partial"])
    if kind == "partial":
        used.add("partial of a helper writes its argument")
        helper = [
            "def part_inner0(buf, a, k):",
            rng.choice(PARTIAL_WRITES),
            "    return buf",
            "",
            "",
            f"part0 = functools.partial(part_inner0, k={rng.choice(['0.7', '1.3'])})",
        ]
        call = "part0(own1, w * 0.5)"
    elif kind == "writes":
        used.add("recursive helper writes its argument")
        helper = [
            "def deep0(buf, a, n):",
            "    if n == 0:",
            "        return buf",
            rng.choice(RECURSIVE_WRITES),
            "    return deep0(buf, a, n - 1)",
        ]
        call = f"deep0(own1, w * 0.5, {rng.randint(1, 3)})"
    else:
        used.add("recursive helper reads its argument")
        helper = [
            "def deep0(buf, a, n):",
            "    if n == 0:",
            "        return buf * a",
            "    return deep0(np.tanh(buf) + a * 0.1, a, n - 1)",
        ]
        call = f"deep0(own1, w * 0.5, {rng.randint(1, 3)})"
    lines = [f"    own1 = {made}"]
    if rng.random() < 0.6:
        lines.append(f"    got1 = {call}")
        terms.append("np.sum(got1 * x) * 0.3")
    else:
        lines.append(f"    {call}")
    terms.append("np.sum(own1 * w) * 0.2")
    return [*helper, "", ""], lines


@functools.cache
def _build(seed: int) -> tuple[str, frozenset[str]]:
    rng = random.Random(seed)
    writer = _Writer(rng, plain=rng.random() < 0.4)
    out: list[str] = []
    # One construct in 40% of the programs: where one construct makes the transform
    # refuse a program, the others in it go unchecked in source mode.
    for _ in range(1 if rng.random() < 0.4 else rng.randint(2, 5)):
        writer.statement("    ", out)
    # the globals are read in the result whatever the statements read
    terms = [
        *writer.results,
        f"np.sum(ACT({rng.choice(writer.arrays)}) * K) * 0.5",
        'np.sum(x * w) * CONFIG["scale"]',
    ]
    first, rebind = _rebinding(rng, writer.used)
    item_helper, item_lines = _items_read_in_a_loop(
        random.Random(seed * 5237 + 13), terms, writer.used, writer.plain
    )
    out += item_lines
    out += _rebound_argument(random.Random(seed * 7919 + 11), terms, writer.used)
    writers, calls = _unreadable_writer(random.Random(seed * 4243 + 5), terms, writer.used)
    out += calls
    deep, deep_calls = _recursive_or_partial(random.Random(seed * 3571 + 7), terms, writer.used)
    out += deep_calls
    rebinders, start, end = _global_rebound_in_call(random.Random(seed * 6151 + 3), writer.used)
    if rebinders:
        out = [*start, *out, "    total0 = " + " + ".join(terms), *end]
        terms = ["total0", "before0"]
    lines = [
        *(["import sys", ""] if rebinders else []),
        *(["import functools", ""] if any("functools" in line for line in deep) else []),
        "import numpy as np",
        "",
        "",
        "def soft(v):",
        "    return v / (1.5 + v * v)",
        "",
        "",
        *first,
        "",
        *writer.helpers,
        "",
        *item_helper,
        *rebinders,
        "",
        *writers,
        *deep,
        "def program(x, w):",
        *out,
        "    return " + " + ".join(terms),
        "",
        "",
        *rebind,
        "",
    ]
    source = "\n".join(_collapse_blank_lines(lines))
    return source, frozenset(writer.used)


def _collapse_blank_lines(lines: list[str]) -> list[str]:
    """At most two blank lines in a row, as ruff formats a module."""
    kept: list[str] = []
    for line in lines:
        if line == "" and kept[-2:] == ["", ""]:
            continue
        kept.append(line)
    return kept


def generate(seed: int) -> str:
    """The source of a module with globals ``K`` and ``ACT``, helpers, ``program(x, w)``
    and ``rebind()``."""
    return _build(seed)[0]


def constructs(seed: int) -> frozenset[str]:
    """The members of ``CONSTRUCTS`` that ``generate(seed)``'s program uses."""
    return _build(seed)[1]
