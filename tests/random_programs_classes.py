"""Random NumPy programs written with classes and objects, hostile to a gradient: methods
that change their object in place, attributes that share memory, objects reached by more
than one name, class attributes changed through an instance, and module-level state (an
instance, a class attribute, a default argument) that the test changes between calls.

``generate(seed)`` writes a module's source: the classes the program uses (plain classes,
dataclasses plain, frozen or with ``__post_init__``, NamedTuples with methods, a subclass
calling ``super()``, a class with ``__slots__``, one whose ``__setattr__`` changes the
value), helpers that change the objects given to them, maybe a module-level instance
``G``, one function ``program(x, w)`` of two float64 arrays of shape (6,) that returns a
float, and ``rebind()``, which changes ``G`` (rebinds one of its attributes, changes one
of its arrays in place, rebinds ``G`` to a new instance), a class attribute the methods
read, or the module's array ``OFFSET`` that a method's default argument is; the test
calls it between two calls of a gradient. ``constructs(seed)`` names what that program
exercises, from ``CONSTRUCTS``.

Each object keeps two arrays of shape (6,), ``v`` and ``w``, and maybe a number ``k``, a
second name of ``v`` (``u``), a view of it (``head``) and a list that may hold it
(``hist``). Methods are written for the program as it is generated, one kind of change
each, so every method the module defines is called. Why hostile: a method that does
``self.v += a`` changes the array that ``u``, ``head``, ``hist``, the caller's local
(``Cell(v1, w)``, ``r = c.values()``), another object (a shallow copy, one made by
``replace`` or ``__add__``, a holder, a list that holds the object twice) and even a
parameter (``Cell(x, w)``) see, and a gradient that follows names instead of memory
misses it; a ``__setattr__``, a property's setter, a ``cached_property`` and a
``__getattr__`` run code where plain attribute access would not. Every object, array and
class attribute that the program changes is read again in the result, so a change that a
gradient misses shows.

Ordinary arithmetic (tanh, sin, scaled products, division by ``1.5 + b * b``) is mixed
in. Every value stays bounded and every operation is smooth (no abs, maximum, branches
or data-dependent indices), so central finite differences in float64 are accurate at
any point of [-1, 1]. The program's value is deterministic: it changes nothing that
outlives the call but its arguments (which the test passes as fresh copies), objects it
made, and class attributes that it resets first thing (``Cell1.total = 0.0``); ``G`` it
reads, or changes and puts back (exactly) before it returns.

Three kinds of program, so that each mode checks more than its refusals:

- *gentle* (35%): objects change by attributes rebound only (``self.w = self.w * s``),
  never an array written in place, a list or a class attribute changed; fewer
  attributes share memory. The source transform accepts many of these.
- *plain* (25%) and gentle: their changes save nothing that a later write changes (sums,
  scaling, np.tanh under a scale, in-place ``+=`` and ``-=``), they store no parameter in
  an object, and they read the objects for the result after the last change. On the
  tape, as in PyTorch, writing into a value saved for the backward pass or into a
  parameter is an error, so most other programs are refused there; these run.
- *hostile* (40%): anything above.

40% of the programs have one construct only, since a program that the transform refuses
for one construct tests none of the others in source mode.
"""

from __future__ import annotations

import functools
import random

# (the hostile generator's binary expressions, and the unary and binary ones that save
# no operand a later write could change)
from random_programs_hostile import BINARY, PLAIN_BINARY, PLAIN_UNARY, _collapse_blank_lines

#: what the programs exercise; ``constructs(seed)`` returns a subset
CONSTRUCTS = (
    # classes, and how objects are made
    "class with __init__ storing arrays",
    "__init__ computes an attribute",
    "dataclass",
    "dataclass with __post_init__",
    "dataclass field with a default_factory",
    "dataclass field with a default",
    "subclass calling super().__init__",
    "class with __slots__",
    "class with __setattr__ that changes the value",
    "__getattr__ computes a missing attribute",
    "frozen dataclass",
    "NamedTuple with methods",
    "NamedTuple item read by index",
    "NamedTuple unpacked, an item changed in place",
    "classmethod factory",
    "object built from differentiated values",
    "object holds a parameter itself",
    "object holds an array the program reads too",
    "array written after an object stored it",
    "copy.copy shares the object's arrays",
    "copy.deepcopy of an object",
    "method returns a new object of its class",
    "__add__ makes a new object",
    "dataclasses.replace",
    "NamedTuple._replace",
    # attributes sharing memory
    "two attributes hold the same array",
    "attribute is a view of another",
    "list attribute holds an attribute's array",
    "scalar attribute",
    # methods
    "method reads attributes",
    "method += on an attribute",
    "method writes an item of an attribute",
    "method writes a slice of an attribute",
    "method writes through the view attribute",
    "method writes through the second name",
    "method rebinds an attribute",
    "method rebinds an attribute by a scalar argument",
    "method rebinds a scalar attribute",
    "method with a default argument",
    "method with a default array argument",
    "staticmethod called through self",
    "method swaps two attributes",
    "method takes the view attribute again",
    "method appends to a list attribute",
    "method calls another method",
    "method returns self (chained calls)",
    "method returns an attribute, changed in place by the caller",
    "subclass method calling super()",
    "__call__",
    "__call__ changes its object",
    "property",
    "property with a setter",
    "functools.cached_property read before a change",
    "__iadd__ changes the object",
    # what the program does with objects
    "program assigns an attribute",
    "program writes into an attribute in place",
    "attribute read into a local, then changed in place",
    "attribute read into a local, then the object changes",
    "helper function changes an object",
    "helper function writes into an object's array",
    "helper returns the object it changed",
    "list of objects changed in a loop",
    "list of objects made by a comprehension",
    "an object twice in a list",
    "local alias of an object",
    "object held by another object",
    "setattr and getattr",
    "attribute set through vars()",
    # class attributes
    "class attribute read through an instance",
    "class attribute changed through an instance",
    "class-level list appended through an instance",
    "class-level array changed in place through an instance",
    "instance attribute shadows a class attribute",
    "class-level array read by methods",
    # a module-level instance
    "global instance read",
    "global instance's method called",
    "global instance's attribute set during the call and put back",
    "global instance's array written during the call and restored",
    "rebind a global instance's attribute",
    "global instance's array changed in place",
    "global name rebound to a new instance",
    "class attribute rebound by rebind()",
    "class-level array changed in place by rebind()",
    "default array argument changed in place by rebind()",
    "global that a default argument holds rebound by rebind()",
    # a method that calls itself (drawn apart: ``_recursive_method``)
    "recursive method rebinds an attribute",
    "recursive method writes an attribute in place",
    "recursive method reads only",
)

#: full-shape (6,) expressions of one full-shape expression ``{0}``; each keeps a bounded
#: value bounded, and none needs parentheses to be multiplied on the right
UNARY = [
    "np.sin({0})",
    "np.tanh({0})",
    "np.cos({0}) * 0.5",
    "{0} * 0.7",
    "np.exp(np.tanh({0})) * 0.5",
]

#: the view attribute ``head`` of ``v``: its spelling and its shape
HEADS = {
    "self.v[:3]": (3,),
    "self.v[::2]": (3,),
    "self.v[1:]": (5,),
    "self.v.reshape(2, 3)": (2, 3),
    "self.v[::-1]": (6,),
}
#: the class attributes a class may have, with their first values; the program resets
#: those it changes (all but ``gain``) first thing, so that calls agree
CLASS_ATTRIBUTES = {
    "gain": "0.7",
    "ref": "np.linspace(0.2, 0.7, 6)",  # (read only; rebind() may change it)
    "total": "0.0",
    "log": "[]",
    "shared": "np.zeros(6)",
}
#: the kinds of change a method (or a helper, or ``__iadd__``) makes to its object
CHANGES = (
    "method += on an attribute",
    "method writes an item of an attribute",
    "method writes a slice of an attribute",
    "method writes through the view attribute",
    "method writes through the second name",
    "method rebinds an attribute",
    "method rebinds a scalar attribute",
    "method swaps two attributes",
    "method takes the view attribute again",
    "method appends to a list attribute",
    "class attribute changed through an instance",
    "class-level list appended through an instance",
    "class-level array changed in place through an instance",
    "instance attribute shadows a class attribute",
)
#: how often ``CHANGES`` come, against 1 for those not named
CHANGE_WEIGHTS = {
    "method rebinds an attribute": 4,
    "method writes through the view attribute": 3,
    "method writes through the second name": 3,
    "method takes the view attribute again": 2,
}
#: the changes that rebind attributes only, all that *gentle* programs make
GENTLE_CHANGES = frozenset(
    {
        "method rebinds an attribute",
        "method rebinds a scalar attribute",
        "method swaps two attributes",
        "method takes the view attribute again",
        "instance attribute shadows a class attribute",
    }
)
#: the changes that rebind an attribute, which a frozen dataclass refuses
REBINDING_CHANGES = GENTLE_CHANGES
#: the changes a helper function makes, by whether they write into an array in place
IN_PLACE_CHANGES = frozenset(
    {
        "method += on an attribute",
        "method writes an item of an attribute",
        "method writes a slice of an attribute",
        "method writes through the view attribute",
        "method writes through the second name",
    }
)


def _grouped(expression: str) -> str:
    """``expression`` in parentheses unless it is a name or an attribute."""
    return expression if expression.replace(".", "").isidentifier() else f"({expression})"


def _fit(expression: str, shape: tuple[int, ...]) -> str:
    """``expression``, of shape (6,), cut or reshaped to ``shape``."""
    if shape == (6,):
        return expression
    if len(shape) == 2:
        return f"{_grouped(expression)}.reshape{shape}"
    return f"{_grouped(expression)}[:{shape[0]}]"


class _Class:
    """A class of the program: what its ``__init__`` sets, and the methods written for the
    program so far (each called where it was written)."""

    def __init__(self, name: str, flavor: str, rng: random.Random, sharing: float) -> None:
        self.name = name
        # "class", "dataclass", "post_init" (a dataclass with __post_init__), "frozen" (a
        # frozen dataclass: its arrays change in place only), "namedtuple" (likewise),
        # "subclass" (of Base<n>, whose __init__ it calls through super()), "slots" or
        # "setattr" (a class whose __setattr__ passes w through np.tanh)
        self.flavor = flavor
        self.base = f"Base{name[4:]}" if flavor == "subclass" else None
        self.frozen = flavor in ("frozen", "namedtuple")  # no attribute may be assigned
        self.no_dict = flavor in ("slots", "namedtuple")  # no vars(), no new attribute
        # a dataclass without __post_init__ (or a NamedTuple) sets its fields only
        self.fields_only = flavor in ("dataclass", "frozen", "namedtuple")
        more = not self.fields_only
        # (``sharing``: how likely each attribute that shares v's memory is)
        self.twin = more and rng.random() < sharing  # self.u = self.v
        self.head = rng.choice(sorted(HEADS)) if more and rng.random() < sharing else None
        # a list: empty, or holding v itself (not in a NamedTuple, whose default list
        # would outlive the call)
        self.hist = rng.random() < sharing and flavor != "namedtuple"
        self.hist_holds_v = self.hist and more and rng.random() < 0.5
        # __init__ (or __post_init__) stores a function of its argument, not the argument
        self.computes = more and rng.random() < 0.3
        # a number k: np.sum(w) * 0.1 (a field with a default, in a plain dataclass)
        self.k = rng.random() < 0.35
        self.gain = rng.random() < 0.4  # a class attribute its readers multiply by
        self.ref = rng.random() < 0.25  # a class attribute array its methods read
        self.class_attributes: list[str] = ["gain"] if self.gain else []
        self.class_attributes += ["ref"] if self.ref else []
        # a __getattr__ that makes an attribute z of v and w
        self.computed_z = flavor in ("class", "subclass", "setattr") and rng.random() < 0.2
        self.methods: list[list[str]] = []  # each method's lines, indented for the class
        self.base_methods: list[list[str]] = []  # Base<n>'s, for a subclass
        self.mutators: dict[str, bool] = {}  # name: whether it returns self
        # the mutators with a parameter with a default: "rate" (0.5) or "offset" (OFFSET,
        # an array of the module's)
        self.rated: dict[str, str] = {}
        self.getters: dict[str, str] = {}  # name: the attribute it returns
        # the special methods written so far, by kind ("energy", "call", "level", ...):
        # their names
        self.special: dict[str, str] = {}

    def head_shape(self) -> tuple[int, ...]:
        return HEADS[self.head] if self.head else (6,)

    def arrays(self) -> list[str]:
        """The instance attributes that are arrays."""
        return ["v", "w", *(["u"] if self.twin else []), *(["head"] if self.head else [])]

    def attributes(self) -> list[str]:
        """The instance attributes ``__init__`` sets."""
        return [*self.arrays(), *(["hist"] if self.hist else []), *(["k"] if self.k else [])]

    def add_class_attribute(self, name: str) -> None:
        if name not in self.class_attributes:
            self.class_attributes.append(name)

    def source(self) -> list[str]:
        """The class's lines (and its base's, for a subclass)."""
        lines: list[str] = []
        if self.flavor == "namedtuple":
            lines += [f"class {self.name}(NamedTuple):", "    v: np.ndarray", "    w: np.ndarray"]
            lines += ["    k: float = 0.5"] if self.k else []
            lines += [f"    {n} = {CLASS_ATTRIBUTES[n]}" for n in self.class_attributes]
        elif self.flavor in ("dataclass", "post_init", "frozen"):
            decorator = "@dataclass(frozen=True)" if self.frozen else "@dataclass"
            lines += [decorator, f"class {self.name}:"]
            lines += [
                f"    {name}: ClassVar = {CLASS_ATTRIBUTES[name]}" for name in self.class_attributes
            ]
            lines += ["    v: np.ndarray", "    w: np.ndarray"]
            if self.fields_only and self.hist:
                lines.append("    hist: list = field(default_factory=list)")
            if self.fields_only and self.k:
                lines.append("    k: float = 0.5")
            if self.flavor == "post_init":
                lines += ["", "    def __post_init__(self):", *self.derived("        ")]
                if self.k:
                    lines.append("        self.k = np.sum(self.w) * 0.1")
        else:
            if self.base:
                lines += [f"class {self.base}:", "    def __init__(self, v):"]
                lines += self.derived("        ", stored="v")
                for method in self.base_methods:
                    lines += ["", *method]
                lines += ["", ""]
            lines.append(f"class {self.name}({self.base}):" if self.base else f"class {self.name}:")
            if self.flavor == "slots":
                names = ", ".join(f'"{a}"' for a in self.attributes())
                lines.append(f"    __slots__ = ({names},)")
            lines += [f"    {n} = {CLASS_ATTRIBUTES[n]}" for n in self.class_attributes]
            if self.flavor == "setattr":
                lines += [
                    "",
                    "    def __setattr__(self, name, value):",
                    '        if name == "w":',
                    "            value = np.tanh(value)",
                    "        object.__setattr__(self, name, value)",
                ]
            if self.computed_z:
                lines += [
                    "",
                    "    def __getattr__(self, name):",
                    '        if name == "z":',
                    "            return self.v * 0.5 + self.w * 0.25",
                    "        raise AttributeError(name)",
                ]
            lines += ["", "    def __init__(self, v, w):"]
            if self.base:
                lines += ["        super().__init__(v)", "        self.w = w"]
            else:
                lines += self.derived("        ", stored="v")
                lines.append("        self.w = w")
            if self.k:
                lines.append("        self.k = np.sum(w) * 0.1")
        for method in self.methods:
            lines += ["", *method]
        return lines

    def derived(self, pad: str, stored: str | None = None) -> list[str]:
        """``v`` (from ``stored``, for an ``__init__``) and the attributes made of it."""
        lines = []
        if stored is not None:
            lines.append(f"{pad}self.v = {'np.tanh(v) * 0.9' if self.computes else 'v'}")
        elif self.computes:
            lines.append(f"{pad}self.v = np.tanh(self.v) * 0.9")
        if self.twin:
            lines.append(f"{pad}self.u = self.v")
        if self.head:
            lines.append(f"{pad}self.head = {self.head}")
        if self.hist:
            lines.append(f"{pad}self.hist = {'[self.v]' if self.hist_holds_v else '[]'}")
        if not lines:
            lines.append(f"{pad}pass")
        return lines


class _Writer:
    """Writes one program: its classes, helpers and body, construct by construct, and
    the terms of its result."""

    def __init__(self, rng: random.Random, style: str) -> None:
        self.rng = rng
        # "gentle": objects change only by attributes rebound, never an array written in
        # place nor a list or a class attribute changed: the programs the transform is
        # made to accept. "plain" and "gentle": the tape can run it: its changes save
        # nothing a later write changes, it stores no parameter in an object that it
        # writes into, and it reads the objects for the result after the last change.
        self.gentle = style == "gentle"
        self.plain = style != "hostile"
        self.fresh = 0
        self.used: set[str] = set()
        self.classes: list[_Class] = []
        self.helpers: list[str] = []  # source lines of the module's functions
        self.starts: list[str] = []  # the program's first lines: class state reset
        self.out: list[str] = []  # the program's body
        self.arrays = ["x", "w"]  # (6,) arrays the program's expressions read
        self.writable: dict[str, tuple[int, ...]] = {}  # arrays the program made: shape
        self.objects: dict[str, _Class] = {}  # name: class, of every object name
        self.results: list[str] = []  # terms of the returned sum
        self.tail: list[str] = []  # lines before the return (its terms computed)
        self.global_class: _Class | None = None  # the class of ``G``
        self.offset = False  # whether a method's default is the module's array OFFSET

    # -- names and expressions -------------------------------------------------------

    def new_name(self, prefix: str) -> str:
        self.fresh += 1
        return f"{prefix}{self.fresh}"

    def use(self, construct: str) -> None:
        assert construct in CONSTRUCTS, construct
        self.used.add(construct)

    def coefficient(self, low: float = 0.1, high: float = 0.6) -> str:
        return f"{self.rng.uniform(low, high):.2f}"

    def expression(self, names: list[str], depth: int = 0) -> str:
        """A (6,) expression of ``names`` (arrays of shape (6,))."""
        r = self.rng
        choice = r.random()
        if depth >= 2 or choice < 0.3:
            return r.choice(names)
        if choice < 0.65:
            return r.choice(PLAIN_UNARY if self.plain else UNARY).format(
                self.expression(names, depth + 1)
            )
        pattern = r.choice(PLAIN_BINARY if self.plain else BINARY)
        if "{1} * {1}" in pattern:
            return pattern.format(self.expression(names, depth + 1), r.choice(names))
        return pattern.format(self.expression(names, depth + 1), self.expression(names, depth + 1))

    def scalar(self, names: list[str]) -> str:
        """A number computed from ``names``."""
        r = self.rng
        if self.plain or r.random() < 0.6:
            return f"np.sum({self.expression(names, 1)}) * {self.coefficient(0.05, 0.3)}"
        return f"{r.choice(names)}[{r.randint(0, 5)}] * {r.choice(names)}[{r.randint(0, 5)}]"

    def operand(self, shape: tuple[int, ...], names: list[str]) -> str:
        """A value to combine in place with an array of ``shape``: one of that shape or a
        number (broadcast)."""
        if self.rng.random() < 0.25:
            return self.scalar(names)
        return _fit(self.expression(names), shape)

    def operator(self) -> str:
        """An augmented assignment's operator."""
        return self.rng.choice(["+=", "-="] if self.plain else ["+=", "-=", "*="])

    def write(
        self,
        target: str,
        shape: tuple[int, ...],
        names: list[str],
        pad: str,
        no_assign: bool = False,
    ) -> str:
        """One in-place change of the array (or view) ``target`` of ``shape``.
        ``no_assign``: ``target`` is an attribute that must not be assigned (of a frozen
        dataclass, of a NamedTuple, of a ``__setattr__`` that changes the value), which
        ``target += v`` assigns after it writes; so ``target[...] += v``."""
        r = self.rng
        choice = r.random()
        if choice < 0.3:
            if len(shape) == 2:
                index = f"{r.randint(0, shape[0] - 1)}, {r.randint(0, shape[1] - 1)}"
            else:
                index = str(r.randint(0, shape[0] - 1))
            return f"{pad}{target}[{index}] = {self.scalar(names)}"
        if choice < 0.4 and len(shape) == 1 and shape[0] >= 4:
            return f"{pad}{target}[1:4] {self.operator()} {_fit(self.expression(names), (3,))}"
        if choice < 0.48:
            return f"{pad}{target}[...] = {self.operand(shape, names)}"
        whole = f"{target}[...]" if no_assign else target
        if choice < 0.56 and not self.plain:
            square = f"{_grouped(_fit(self.expression(names, 1), shape))} ** 2"
            return f"{pad}{whole} /= 1.5 + {square}"
        return f"{pad}{whole} {self.operator()} {self.operand(shape, names)}"

    def read_array(self, name: str) -> None:
        """Make the result read the array ``name``."""
        self.results.append(f"np.sum({name} * {name}) * {self.coefficient(0.1, 0.4)}")

    # -- classes and their methods ---------------------------------------------------

    def a_class(self, flavor: str | None = None) -> _Class:
        """A class of the program: usually the first one, sometimes a new one (of
        ``flavor``, where given)."""
        if flavor is None and self.classes and self.rng.random() < 0.75:
            return self.rng.choice(self.classes)
        r = self.rng
        flavors = {"class": 4, "dataclass": 1.5, "post_init": 1.5, "subclass": 1.5, "slots": 1}
        flavors["setattr"] = 1
        if not self.gentle:  # (whose objects change by rebinding only)
            flavors["frozen"] = flavors["namedtuple"] = 1
        flavor = flavor or r.choices(sorted(flavors), [flavors[f] for f in sorted(flavors)])[0]
        # (fewer attributes sharing memory in gentle programs, which the transform refuses
        # more often than not)
        sharing = 0.12 if self.gentle else 0.3
        cls = _Class(f"Cell{len(self.classes) + 1}", flavor, r, sharing)
        self.classes.append(cls)
        return cls

    def note_class(self, cls: _Class) -> None:
        """Record the constructs of ``cls``'s ``__init__`` (it runs: an object is made)."""
        self.use(
            {
                "class": "class with __init__ storing arrays",
                "dataclass": "dataclass",
                "post_init": "dataclass with __post_init__",
                "subclass": "subclass calling super().__init__",
                "slots": "class with __slots__",
                "frozen": "frozen dataclass",
                "namedtuple": "NamedTuple with methods",
                "setattr": "class with __setattr__ that changes the value",
            }[cls.flavor]
        )
        if cls.flavor in ("dataclass", "post_init", "frozen"):
            self.use("dataclass")
        if cls.flavor in ("slots", "subclass", "setattr"):
            self.use("class with __init__ storing arrays")
        if cls.computes:
            self.use("__init__ computes an attribute")
        if cls.twin:
            self.use("two attributes hold the same array")
        if cls.head:
            self.use("attribute is a view of another")
        if cls.hist and cls.fields_only:
            self.use("dataclass field with a default_factory")
        if cls.hist_holds_v:
            self.use("list attribute holds an attribute's array")
        if cls.k:
            self.use("scalar attribute")
            if cls.fields_only and cls.flavor != "namedtuple":
                self.use("dataclass field with a default")

    def change(self, cls: _Class, owner: str, argument: str, pad: str) -> tuple[str, list[str]]:
        """One change of the object ``owner`` (of class ``cls``) by ``argument``, a (6,)
        array, as a method, a helper or ``__iadd__`` makes it: the kind and its lines."""
        r = self.rng
        kinds = [k for k in CHANGES if self.can_change(cls, k)]
        # (rebinding the most common: the transform refuses the others more often; then
        # the writes through another attribute, where a class has one)
        kind = r.choices(kinds, [CHANGE_WEIGHTS.get(k, 1) for k in kinds])[0]
        names = [argument, f"{owner}.v", f"{owner}.w", *([f"{owner}.ref"] if cls.ref else [])]
        attribute = r.choice(["v", "w"])
        if kind == "method += on an attribute":
            # (on a frozen dataclass through [...]: `self.v += a` assigns self.v too)
            target = f"{owner}.{attribute}{'[...]' if cls.frozen else ''}"
            return kind, [f"{pad}{target} {self.operator()} {self.operand((6,), names)}"]
        if kind == "method writes an item of an attribute":
            return kind, [f"{pad}{owner}.{attribute}[{r.randint(0, 5)}] = {self.scalar(names)}"]
        if kind == "method writes a slice of an attribute":
            start = r.randint(0, 3)
            value = _fit(self.expression(names), (3,))
            return kind, [
                f"{pad}{owner}.{attribute}[{start}:{start + 3}] {self.operator()} {value}"
            ]
        if kind == "method writes through the view attribute":
            return kind, [self.write(f"{owner}.head", cls.head_shape(), names, pad)]
        if kind == "method writes through the second name":
            return kind, [self.write(f"{owner}.u", (6,), names, pad)]
        if kind == "method rebinds an attribute":
            old = f"{owner}.{attribute}"
            if r.random() < 0.5:
                value = (
                    f"{old} * {self.coefficient(0.6, 0.95)} + {_grouped(self.expression(names))}"
                )
                value += f" * {owner}.k" if cls.k else f" * {self.coefficient(0.1, 0.4)}"
            else:
                value = f"np.tanh({old} + {_grouped(self.expression(names, 1))} * 0.3)"
                value += " * 0.9" if self.plain else ""
            return kind, [f"{pad}{old} = {value}"]
        if kind == "method rebinds a scalar attribute":
            value = f"{owner}.k * 0.5 + np.sum({self.expression(names, 1)}) * 0.05"
            return kind, [f"{pad}{owner}.k = {value}"]
        if kind == "method swaps two attributes":
            return kind, [f"{pad}{owner}.v, {owner}.w = {owner}.w, {owner}.v"]
        if kind == "method takes the view attribute again":
            # (the view of the old v, until v is rebound and the view taken of the new)
            value = (
                f"{owner}.v * {self.coefficient(0.6, 0.95)} + {_grouped(self.expression(names))}"
            )
            head = cls.head.replace("self.", f"{owner}.")
            return kind, [f"{pad}{owner}.v = {value} * 0.2", f"{pad}{owner}.head = {head}"]
        if kind == "method appends to a list attribute":
            item = f"{owner}.v" if r.random() < 0.5 else f"{owner}.w * {self.coefficient()}"
            if item == f"{owner}.v":
                self.use("list attribute holds an attribute's array")
            return kind, [f"{pad}{owner}.hist.append({item})"]
        if kind == "class attribute changed through an instance":
            self.reset(cls, "total")
            total = f"type({owner}).total"
            value = f"np.sum({self.expression(names, 1)}) * {self.coefficient(0.05, 0.2)}"
            return kind, [f"{pad}{total} = {total} + {value}"]
        if kind == "class-level list appended through an instance":
            self.reset(cls, "log")
            item = f"{owner}.w" if r.random() < 0.4 else self.expression(names, 1)
            return kind, [f"{pad}{owner}.log.append({item})"]
        if kind == "class-level array changed in place through an instance":
            self.reset(cls, "shared")
            if cls.flavor == "slots" or cls.frozen or r.random() < 0.4:  # (no attribute set)
                value = _fit(self.expression(names, 1), (3,))
                return kind, [f"{pad}{owner}.shared[2:5] += {value}"]
            return kind, [f"{pad}{owner}.shared += {_grouped(self.expression(names, 1))} * 0.3"]
        # an instance attribute gain hides the class's from then on, for this object only
        self.use("class attribute read through an instance")
        value = f"{owner}.gain * 0.5 + np.sum({argument}) * 0.05"
        return kind, [f"{pad}{owner}.gain = {value}"]

    def can_change(self, cls: _Class, kind: str) -> bool:
        """Whether an object of ``cls`` can make the change ``kind`` (has the attribute
        it needs, may assign it) in this program."""
        if self.gentle and kind not in GENTLE_CHANGES:
            return False
        if cls.frozen and kind in REBINDING_CHANGES:
            return False
        if kind == "method rebinds a scalar attribute":
            return cls.k
        if kind == "method takes the view attribute again":
            return cls.head is not None
        if kind == "method writes through the view attribute":
            return cls.head is not None
        if kind == "method writes through the second name":
            return cls.twin
        if kind == "method appends to a list attribute":
            return cls.hist
        if kind == "instance attribute shadows a class attribute":
            return cls.gain and not cls.no_dict
        if kind.startswith("class"):  # rarer: the program must reset the class's state
            return self.rng.random() < 0.4
        return True

    def reset(self, cls: _Class, attribute: str) -> None:
        """Give ``cls`` the class attribute ``attribute``, which the program resets first
        thing (it outlives the call)."""
        cls.add_class_attribute(attribute)
        line = f"    {cls.name}.{attribute} = {CLASS_ATTRIBUTES[attribute]}"
        if line not in self.starts:
            self.starts.append(line)

    def mutator(self, cls: _Class) -> str:
        """The name of a method of ``cls`` that changes its object (maybe a new one)."""
        r = self.rng
        if cls.mutators and r.random() < 0.35:
            return r.choice(sorted(cls.mutators))
        name = self.new_name("step")
        rated = r.choice(["rate", "offset"]) if r.random() < 0.25 else None
        argument = {"rate": "(a * rate)", "offset": "(a + offset)", None: "a"}[rated]
        default = {"rate": ", rate=0.5", "offset": ", offset=OFFSET", None: ""}[rated]
        lines = [f"    def {name}(self, a{default}):"]
        if cls.mutators and r.random() < 0.25:
            self.use("method calls another method")
            other = r.choice(sorted(cls.mutators))
            lines.append(f"        self.{self.call(cls, other, 'a * 0.5')}")
        for _ in range(r.randint(1, 2)):
            kind, body = self.change(cls, "self", argument, "        ")
            self.use(kind)
            lines += body
        returns = r.random() < 0.2
        if returns:
            lines.append("        return self")
        if cls.base and r.random() < 0.5:
            # Base<n> has the method too, and this one calls it first
            self.use("subclass method calling super()")
            kind, body = self.change(cls, "self", "a", "        ")
            self.use(kind)
            cls.base_methods.append([f"    def {name}(self, a):", *body])
            lines.insert(1, f"        super().{name}({argument})")
        if any(".ref" in line for line in lines):
            self.use("class-level array read by methods")
        cls.methods.append(lines)
        cls.mutators[name] = returns
        if rated:
            cls.rated[name] = rated
            self.offset = self.offset or rated == "offset"
        return name

    def call(self, cls: _Class, method: str, argument: str) -> str:
        """A call of ``cls``'s mutator ``method`` with ``argument``, less its object."""
        if method not in cls.rated:
            return f"{method}({argument})"
        if cls.rated[method] == "offset":
            self.use("method with a default array argument")
            return f"{method}({argument})"
        self.use("method with a default argument")
        rate = self.rng.choice(["", ", 0.3", ", rate=0.8"])
        return f"{method}({argument}{rate})"

    def squash(self, cls: _Class) -> str:
        """``self.squash``, a staticmethod of ``cls``: a smooth bounded function."""
        self.use("staticmethod called through self")
        if "squash" not in cls.special:
            cls.special["squash"] = "squash"
            cls.methods.append(
                ["    @staticmethod", "    def squash(a):", "        return a / (1.5 + a * a)"]
            )
        return "self.squash"

    def scaler(self, cls: _Class) -> str:
        """A method of ``cls`` that rebinds an attribute, scaled by a number argument."""
        if "scale" not in cls.special:
            attribute = self.rng.choice(["v", "w"])
            cls.special["scale"] = name = self.new_name("scale")
            cls.methods.append(
                [
                    f"    def {name}(self, s):",
                    f"        self.{attribute} = self.{attribute} * s",
                ]
            )
        return cls.special["scale"]

    def reader(self, cls: _Class, kind: str) -> str:
        """The name of a method (or property) of ``cls`` that reads its attributes into a
        number: ``kind`` "energy" (a method) or "total" (a property)."""
        if kind not in cls.special:
            cls.special[kind] = name = self.new_name(kind)
            gain = " * self.gain" if cls.gain else ""
            if gain:
                self.use("class attribute read through an instance")
            bounded = self.squash(cls) if self.rng.random() < 0.4 else "np.tanh"
            value = (
                f"np.sum({bounded}(self.v) * self.w){gain} + np.sum(self.v * 0.5 - self.w) * "
                f"{self.coefficient(0.1, 0.4)}"
            )
            if cls.ref:
                self.use("class-level array read by methods")
                value += " + np.sum(self.v * self.ref) * 0.2"
            lines = ["    @property"] if kind == "total" else []
            cls.methods.append([*lines, f"    def {name}(self):", f"        return {value}"])
        return cls.special[kind]

    def getter(self, cls: _Class) -> tuple[str, tuple[int, ...]]:
        """A method of ``cls`` that returns one of its arrays: its name and the array's
        shape."""
        r = self.rng
        choices = ["v", "w", *(["head"] if cls.head else []), *(["u"] if cls.twin else [])]
        attribute = r.choice(choices)
        for name, returned in cls.getters.items():
            if returned == attribute:
                return name, cls.head_shape() if attribute == "head" else (6,)
        name = self.new_name("values")
        cls.methods.append([f"    def {name}(self):", f"        return self.{attribute}"])
        cls.getters[name] = attribute
        return name, cls.head_shape() if attribute == "head" else (6,)

    # -- objects ---------------------------------------------------------------------

    def array_source(self, pad: str) -> str:
        """A (6,) value to build an object of: an expression (a new array), rarely a
        parameter itself or an array of the program's that it then reads."""
        r = self.rng
        choice = r.random()
        if choice < 0.07 and not self.plain:
            self.use("object holds a parameter itself")
            return r.choice(["x", "w"])
        if choice < 0.2:
            self.use("object holds an array the program reads too")
            name = self.new_name("v")
            value = self.expression(self.arrays)
            self.out.append(f"{pad}{name} = {value if '(' in value else value + ' * 1.0'}")
            self.arrays.append(name)
            self.writable[name] = (6,)
            self.read_array(name)
            return name
        value = self.expression(self.arrays)
        return value if "(" in value else f"{value} * 1.0"

    def new_object(self, pad: str, cls: _Class | None = None) -> str:
        """Make an object, and have the result read it."""
        r = self.rng
        cls = cls or self.a_class()
        self.note_class(cls)
        self.use("object built from differentiated values")
        name = self.new_name("c")
        first = self.array_source(pad)
        if r.random() < 0.15:
            self.use("classmethod factory")
            if "make" not in cls.special:
                cls.special["make"] = "make"
                second = "np.tanh(a) * 0.8" if not self.plain else "a * 0.6 + 0.1"
                cls.methods.append(
                    [
                        "    @classmethod",
                        "    def make(cls, a):",
                        f"        return cls(a * 0.5, {second})",
                    ]
                )
            self.out.append(f"{pad}{name} = {cls.name}.make({first})")
        else:
            second = self.array_source(pad)
            if cls.flavor in ("dataclass", "post_init") and r.random() < 0.5:
                self.out.append(f"{pad}{name} = {cls.name}(w={second}, v={first})")
            else:
                self.out.append(f"{pad}{name} = {cls.name}({first}, {second})")
        if first in self.writable and not self.gentle and r.random() < 0.5:
            self.use("array written after an object stored it")
            self.out.append(self.write(first, (6,), self.arrays, pad))
        self.objects[name] = cls
        return name

    def an_object(self, pad: str) -> str:
        """An object of the program's: usually one it has, else a new one."""
        if self.objects and self.rng.random() < 0.7:
            return self.rng.choice(sorted(self.objects))
        return self.new_object(pad)

    def call_mutator(self, name: str, pad: str) -> None:
        """A call of a method that changes the object ``name`` (chained again, or its
        result named, where the method returns ``self``)."""
        r = self.rng
        cls = self.objects[name]
        if r.random() < 0.15 and not cls.frozen:
            self.use("method rebinds an attribute by a scalar argument")
            scale = f"0.8 + np.tanh(np.sum({self.expression(self.arrays, 1)})) * 0.1"
            self.out.append(f"{pad}{name}.{self.scaler(cls)}({scale})")
            return
        method = self.mutator(cls)
        call = f"{name}.{self.call(cls, method, self.expression(self.arrays))}"
        if cls.mutators[method]:
            self.use("method returns self (chained calls)")
            if r.random() < 0.5:
                again = self.call(cls, method, self.expression(self.arrays))
                self.out.append(f"{pad}{call}.{again}")
            else:  # a second name of the object, which later constructs may use
                same = self.new_name("c")
                self.out.append(f"{pad}{same} = {call}")
                self.objects[same] = cls
        else:
            self.out.append(f"{pad}{call}")

    # -- constructs ------------------------------------------------------------------

    def methods_change(self, pad: str) -> None:
        """An object's methods called to change it, once or a few times."""
        name = self.an_object(pad)
        for _ in range(self.rng.randint(1, 2)):
            self.call_mutator(name, pad)

    def returned_alias(self, pad: str) -> None:
        """A method returns an attribute (the object's own array), which the caller then
        changes in place; or the caller reads the attribute into a local itself."""
        r = self.rng
        name = self.an_object(pad)
        cls = self.objects[name]
        local = self.new_name("r")
        if self.gentle:
            self.use("attribute read into a local, then the object changes")
            attribute = r.choice(cls.arrays())
            self.out.append(f"{pad}{local} = {name}.{attribute}")
            self.read_array(local)
            self.call_mutator(name, pad)
            return
        if r.random() < 0.6:
            self.use("method returns an attribute, changed in place by the caller")
            method, shape = self.getter(cls)
            self.out.append(f"{pad}{local} = {name}.{method}()")
        else:
            self.use("attribute read into a local, then changed in place")
            attribute = r.choice(cls.arrays())
            shape = cls.head_shape() if attribute == "head" else (6,)
            self.out.append(f"{pad}{local} = {name}.{attribute}")
        self.out.append(self.write(local, shape, self.arrays, pad))
        self.read_array(local)
        if r.random() < 0.3:  # and the object changes it again, which the local sees
            self.call_mutator(name, pad)

    def program_writes(self, pad: str, name: str | None = None) -> None:
        """The program itself assigns an attribute, or writes into one in place."""
        r = self.rng
        name = name or self.an_object(pad)
        cls = self.objects[name]
        if (self.gentle or r.random() < 0.5) and not cls.frozen:
            self.use("program assigns an attribute")
            attribute = r.choice(["v", "w"])
            value = f"{name}.{attribute} * {self.coefficient(0.5, 0.9)} + "
            value += f"{_grouped(self.expression(self.arrays))} * {self.coefficient(0.1, 0.4)}"
            self.out.append(f"{pad}{name}.{attribute} = {value}")
        else:
            self.use("program writes into an attribute in place")
            attribute = r.choice(["v", "w", *(["head"] if cls.head else [])])
            shape = cls.head_shape() if attribute == "head" else (6,)
            target = f"{name}.{attribute}"
            self.out.append(self.write(target, shape, self.arrays, pad, no_assign=cls.frozen))

    def helper_change(self, pad: str) -> None:
        """A function of the module changes the object given to it (and maybe returns
        it)."""
        r = self.rng
        name = self.an_object(pad)
        cls = self.objects[name]
        helper = self.new_name("tweak")
        lines = [f"def {helper}(obj, a):"]
        for _ in range(r.randint(1, 2)):
            kind, body = self.change(cls, "obj", "a", "    ")
            if kind in IN_PLACE_CHANGES:
                self.use("helper function writes into an object's array")
            else:
                self.use("helper function changes an object")
            if kind.startswith("class") or kind.startswith("instance") or "list" in kind:
                self.use(kind)
            lines += body
        returns = r.random() < 0.3
        if returns:
            lines.append("    return obj")
        self.helpers += ["", "", *lines]
        call = f"{helper}({name}, {self.expression(self.arrays)})"
        if returns:
            self.use("helper returns the object it changed")
            same = self.new_name("c")
            self.out.append(f"{pad}{same} = {call}")
            self.objects[same] = cls
            if r.random() < 0.5:
                self.call_mutator(same, pad)
        else:
            self.out.append(f"{pad}{call}")

    def object_list(self, pad: str) -> None:
        """A list of objects of one class, changed in a loop by a method or a helper."""
        r = self.rng
        cls = self.a_class()
        name = self.new_name("ps")
        if r.random() < 0.3:
            self.use("list of objects made by a comprehension")
            self.note_class(cls)
            self.use("object built from differentiated values")
            value = self.expression(self.arrays, 1)
            other = self.expression(self.arrays, 1)
            other = other if "(" in other else f"{other} * 1.0"
            self.out.append(
                f"{pad}{name} = [{cls.name}({_grouped(value)} * k, {other}) for k in (0.4, 0.8)]"
            )
        else:
            own = [o for o, c in self.objects.items() if c is cls]
            members = [r.choice(own)] if own and r.random() < 0.5 else []
            length = r.randint(2, 3)
            while len(members) < length:
                members.append(self.new_object(pad, cls))
            if r.random() < 0.35:
                self.use("an object twice in a list")
                members.append(members[0])
            r.shuffle(members)
            self.out.append(f"{pad}{name} = [{', '.join(members)}]")
        self.use("list of objects changed in a loop")
        inner = pad
        if r.random() < 0.3:
            self.out.append(f"{pad}for _ in range(2):")
            inner = pad + "    "
        item = self.new_name("p")
        self.out.append(f"{inner}for {item} in {name}:")
        if r.random() < 0.25 and not self.plain and not cls.frozen:
            self.use("method rebinds an attribute by a scalar argument")
            self.out.append(f"{inner}    {item}.{self.scaler(cls)}(0.9)")
        else:
            method = self.mutator(cls)
            if cls.mutators[method]:
                self.use("method returns self (chained calls)")
            again = self.call(cls, method, self.expression(self.arrays))
            self.out.append(f"{inner}    {item}.{again}")
        term = self.new_name("t")
        self.tail += [
            f"    {term} = 0.0",
            f"    for item in {name}:",
            f"        {term} = {term} + {self.object_read('item', cls)}",
        ]
        self.results.append(term)

    def local_alias(self, pad: str) -> None:
        """A second name of an object, changed through it."""
        self.use("local alias of an object")
        name = self.an_object(pad)
        alias = self.new_name("c")
        self.out.append(f"{pad}{alias} = {name}")
        self.objects[alias] = self.objects[name]
        if self.rng.random() < 0.5:
            self.call_mutator(alias, pad)
        else:
            self.program_writes(pad, alias)

    def holder(self, pad: str) -> None:
        """An object held by another, whose method changes it."""
        r = self.rng
        self.use("object held by another object")
        name = self.an_object(pad)
        cls = self.objects[name]
        holder_class = self.new_name("Holder")
        choice = r.random()
        if choice < 0.4:
            body = f"self.inner.{self.call(cls, self.mutator(cls), 'a * self.s')}"
        elif (choice < 0.7 or self.gentle) and not cls.frozen:
            self.use("method rebinds an attribute")
            body = "self.inner.w = self.inner.w * self.s + a * 0.2"
        else:
            self.use("method writes an item of an attribute")
            body = f"self.inner.v[{r.randint(0, 5)}] = np.sum(a) * self.s"
        self.helpers += [
            "",
            "",
            f"class {holder_class}:",
            "    def __init__(self, inner, s):",
            "        self.inner = inner",
            "        self.s = s",
            "",
            "    def step(self, a):",
            f"        {body}",
        ]
        held = self.new_name("h")
        self.out.append(f"{pad}{held} = {holder_class}({name}, {self.coefficient(0.5, 0.9)})")
        for _ in range(r.randint(1, 2)):
            self.out.append(f"{pad}{held}.step({self.expression(self.arrays)})")
        self.results.append(f"np.sum({held}.inner.v) * {self.coefficient()}")

    def by_name(self, pad: str) -> None:
        """``setattr`` and ``getattr`` with the attribute's name as a string, or the
        object's ``vars()`` (which a frozen dataclass does not guard)."""
        r = self.rng
        name = self.an_object(pad)
        cls = self.objects[name]
        attribute = r.choice(["v", "w"])
        value = f"getattr({name}, {attribute!r}) * {self.coefficient(0.5, 0.9)} + "
        value += f"{_grouped(self.expression(self.arrays))} * 0.2"
        if not cls.no_dict and r.random() < 0.3:
            self.use("attribute set through vars()")
            self.out.append(f"{pad}vars({name})[{attribute!r}] = {value}")
            return
        self.use("setattr and getattr")
        if (self.gentle or r.random() < 0.5) and not cls.frozen:
            self.out.append(f"{pad}setattr({name}, {attribute!r}, {value})")
        else:
            target = f"getattr({name}, {attribute!r})"
            self.out.append(f"{pad}{target}[{r.randint(0, 5)}] = {self.scalar(self.arrays)}")

    def call_object(self, pad: str) -> None:
        """``obj(a)``: ``__call__`` reads the object (and maybe changes it)."""
        self.use("__call__")
        r = self.rng
        name = self.an_object(pad)
        cls = self.objects[name]
        if "call" not in cls.special:
            cls.special["call"] = "__call__"
            lines = ["    def __call__(self, a):"]
            if r.random() < 0.5 and not cls.frozen:
                self.use("__call__ changes its object")
                lines.append("        self.v = self.v * 0.8 + a * 0.2")
                cls.special["call changes"] = "yes"
            gain = " * self.gain" if cls.gain else ""
            if gain:
                self.use("class attribute read through an instance")
            if self.plain:
                lines.append(f"        return (self.v + a) * 0.5{gain}")
            else:
                bounded = self.squash(cls) if r.random() < 0.4 else "np.tanh"
                lines.append(f"        return {bounded}(self.v * a) * self.w{gain}")
            cls.methods.append(lines)
        elif "call changes" in cls.special:
            self.use("__call__ changes its object")
        result = self.new_name("y")
        self.out.append(f"{pad}{result} = {name}({self.expression(self.arrays)})")
        self.arrays.append(result)
        self.writable[result] = (6,)
        self.read_array(result)

    def property_setter(self, pad: str) -> None:
        """A property with a setter that changes the object."""
        name = self.an_object(pad)
        cls = self.objects[name]
        if cls.frozen:  # (whose setter could not assign)
            self.methods_change(pad)
            return
        self.use("property with a setter")
        if "level" not in cls.special:
            cls.special["level"] = "level"
            cls.methods.append(
                [
                    "    @property",
                    "    def level(self):",
                    "        return np.mean(self.v)",
                    "",
                    "    @level.setter",
                    "    def level(self, value):",
                    "        self.v = self.v - np.mean(self.v) + value",
                ]
            )
        value = f"np.sum({self.expression(self.arrays, 1)}) * {self.coefficient(0.05, 0.2)}"
        self.out.append(f"{pad}{name}.level = {value}")
        self.results.append(f"{name}.level * {self.coefficient()}")

    def cached_read(self, pad: str) -> None:
        """A ``functools.cached_property`` read, then the object changed: a later read
        gives the value cached before the change."""
        name = self.an_object(pad)
        cls = self.objects[name]
        if cls.no_dict:  # (the cache lives in the object's __dict__)
            self.methods_change(pad)
            return
        self.use("functools.cached_property read before a change")
        if "cached" not in cls.special:
            cls.special["cached"] = self.new_name("cached")
            value = f"np.sum(np.tanh(self.v) * self.w) * {self.coefficient(0.3, 0.8)}"
            cls.methods.append(
                [
                    "    @cached_property",
                    f"    def {cls.special['cached']}(self):",
                    f"        return {value}",
                ]
            )
        early = self.new_name("t")
        self.out.append(f"{pad}{early} = {name}.{cls.special['cached']}")
        self.call_mutator(name, pad)
        self.results += [early, f"{name}.{cls.special['cached']} * {self.coefficient()}"]

    def in_place_operator(self, pad: str) -> None:
        """``obj += a`` through ``__iadd__``, which changes the object and returns it."""
        self.use("__iadd__ changes the object")
        name = self.an_object(pad)
        cls = self.objects[name]
        if "iadd" not in cls.special:
            cls.special["iadd"] = "__iadd__"
            kind, body = self.change(cls, "self", "a", "        ")
            self.use(kind)
            cls.methods.append(["    def __iadd__(self, a):", *body, "        return self"])
        self.out.append(f"{pad}{name} += {self.expression(self.arrays)}")

    def global_set_and_put_back(self, pad: str) -> None:
        """``G``'s attribute rebound for a while, read, and put back; or (in a hostile
        program, and where ``G`` cannot be assigned back as it was: a frozen dataclass, a
        ``__setattr__`` that changes the value) its array written in place and
        restored."""
        self.use("global instance read")
        saved, read = self.new_name("saved"), self.new_name("t")
        attribute = self.rng.choice(["v", "w"])
        cls = self.global_class
        assert cls is not None
        fixed = cls.frozen or cls.flavor == "setattr"
        if fixed or (not self.gentle and self.rng.random() < 0.5):
            self.use("global instance's array written during the call and restored")
            target = f"G.{attribute}"
            self.out += [
                f"{pad}{saved} = {target}.copy()",
                self.write(target, (6,), self.arrays, pad, no_assign=fixed),
                f"{pad}{read} = np.sum(G.v * G.w) * {self.coefficient()}",
                f"{pad}{target}[...] = {saved}",
            ]
            self.results.append(read)
            return
        self.use("global instance's attribute set during the call and put back")
        value = self.expression(self.arrays)
        self.out += [
            f"{pad}{saved} = G.{attribute}",
            f"{pad}G.{attribute} = {value if '(' in value else value + ' * 1.0'}",
            f"{pad}{read} = np.sum(G.v * G.w) * {self.coefficient()}",
            f"{pad}G.{attribute} = {saved}",
        ]
        self.results.append(read)

    def unpacked(self, pad: str) -> None:
        """A NamedTuple unpacked, and an item of it changed in place (which is its
        field's array)."""
        named = [o for o, c in self.objects.items() if c.flavor == "namedtuple"]
        if named:
            name = self.rng.choice(named)
        else:
            classes = [c for c in self.classes if c.flavor == "namedtuple"]
            cls = classes[0] if classes else self.a_class("namedtuple")
            name = self.new_object(pad, cls)
        self.use("NamedTuple unpacked, an item changed in place")
        first, second = self.new_name("a"), self.new_name("b")
        self.out.append(f"{pad}{first}, {second} = {name}[:2]")
        self.out.append(self.write(self.rng.choice([first, second]), (6,), self.arrays, pad))
        self.read_array(first)

    def copied(self, pad: str) -> None:
        """A copy of an object (a shallow one shares its arrays), then a change through
        the copy or the original."""
        r = self.rng
        name = self.an_object(pad)
        copy = self.new_name("c")
        if r.random() < 0.7:
            self.use("copy.copy shares the object's arrays")
            self.out.append(f"{pad}{copy} = copy.copy({name})")
        else:
            self.use("copy.deepcopy of an object")
            self.out.append(f"{pad}{copy} = copy.deepcopy({name})")
        self.objects[copy] = self.objects[name]
        self.change_somehow(r.choice([name, copy]), pad)

    def change_somehow(self, name: str, pad: str) -> None:
        """A change of the object ``name``: a method's, or the program's own."""
        if self.rng.random() < 0.5:
            self.call_mutator(name, pad)
        else:
            self.program_writes(pad, name)

    def new_from_old(self, pad: str) -> None:
        """An object made from another: by a method returning a new object of its class,
        by ``__add__``, by ``dataclasses.replace``; all share arrays with their source."""
        r = self.rng
        name = self.an_object(pad)
        cls = self.objects[name]
        made = self.new_name("c")
        choice = r.random()
        if choice < 0.45 and cls.flavor in ("dataclass", "post_init", "frozen", "namedtuple"):
            attribute = r.choice(["v", "w"])
            value = self.expression(self.arrays)
            value = value if "(" in value else f"{value} * 1.0"
            if cls.flavor == "namedtuple":
                self.use("NamedTuple._replace")
                self.out.append(f"{pad}{made} = {name}._replace({attribute}={value})")
            else:
                self.use("dataclasses.replace")
                self.out.append(f"{pad}{made} = replace({name}, {attribute}={value})")
        elif choice < 0.6:
            self.use("__add__ makes a new object")
            if "add" not in cls.special:
                cls.special["add"] = "__add__"
                cls.methods.append(
                    [
                        "    def __add__(self, other):",
                        "        return type(self)(self.v + other.v * 0.5, self.w)",
                    ]
                )
            same = [o for o, c in self.objects.items() if c is cls]
            self.out.append(f"{pad}{made} = {name} + {r.choice(same)}")
        else:
            self.use("method returns a new object of its class")
            if "scaled" not in cls.special:
                cls.special["scaled"] = method = self.new_name("scaled")
                cls.methods.append(
                    [
                        f"    def {method}(self, s):",
                        "        return type(self)(self.v * s, self.w)",
                    ]
                )
            self.out.append(f"{pad}{made} = {name}.{cls.special['scaled']}(0.8)")
        self.objects[made] = cls
        if r.random() < 0.6:
            self.change_somehow(r.choice([name, made]), pad)

    def arithmetic(self, pad: str) -> None:
        """A new array of the program's, for later expressions to read."""
        name = self.new_name("v")
        value = self.expression(self.arrays)
        self.out.append(f"{pad}{name} = {value if '(' in value else value + ' * 1.0'}")
        self.arrays.append(name)

    def statement(self, pad: str) -> None:
        """Some arithmetic, then one construct."""
        r = self.rng
        if r.random() < 0.25:
            self.arithmetic(pad)
        # (weights: hostile programs, then gentle ones, which favour what the transform
        # accepts, so that source mode checks more than its refusals)
        constructs = [
            (self.methods_change, 5, 6),
            (self.returned_alias, 2, 1.5),
            (self.program_writes, 1.5, 2),
            (self.helper_change, 2, 2),
            (self.object_list, 2, 0.7),
            (self.local_alias, 1, 0.5),
            (self.holder, 1, 0.3),
            (self.by_name, 0.7, 0.3),
            (self.call_object, 1, 1.5),
            (self.property_setter, 0.7, 1),
            (self.in_place_operator, 0.8, 0.3),
            (self.copied, 1, 0.5),
            (self.new_from_old, 1.2, 1),
            (self.unpacked, 0.5, 0),
            (self.cached_read, 0.6, 0.6),
        ]
        if self.global_class is not None:
            constructs.append((self.global_set_and_put_back, 1, 0.5))
        weights = [gentle if self.gentle else hostile for _, hostile, gentle in constructs]
        construct = r.choices([c for c, _, _ in constructs], weights)[0]
        construct(pad)

    # -- the result ------------------------------------------------------------------

    def object_read(self, name: str, cls: _Class) -> str:
        """An expression that reads every attribute of the object ``name``."""
        r = self.rng
        choice = r.random()
        if choice < 0.3:
            self.use("method reads attributes")
            terms = [f"{name}.{self.reader(cls, 'energy')}()"]
        elif choice < 0.5:
            self.use("property")
            terms = [f"{name}.{self.reader(cls, 'total')}"]
        else:
            terms = [
                f"np.sum(np.tanh({name}.v) * {name}.w) * {self.coefficient()}",
                f"np.sum({name}.v - {name}.w * 0.5) * {self.coefficient()}",
            ]
        if cls.twin:
            terms.append(f"np.sum({name}.u * {name}.u) * {self.coefficient()}")
        if cls.head:
            terms.append(f"np.sum({name}.head * {name}.head) * {self.coefficient()}")
        if cls.hist:
            terms.append(f"sum(np.sum(h * h) for h in {name}.hist) * {self.coefficient()}")
            terms.append(f"len({name}.hist) * 0.01")
        if cls.gain:
            terms.append(f"{name}.gain * {self.coefficient()}")
        if cls.k:
            terms.append(f"{name}.k * {self.coefficient()}")
        if cls.computed_z:
            self.use("__getattr__ computes a missing attribute")
            terms.append(f"np.sum({name}.z * {name}.z) * {self.coefficient()}")
        if cls.flavor == "namedtuple" and r.random() < 0.4:
            self.use("NamedTuple item read by index")
            terms.append(f"np.sum({name}[0] * {name}[1]) * {self.coefficient()}")
        return " + ".join(terms)

    def finish(self) -> list[str]:
        """The terms of the result: every object, changed array and class state."""
        for name, cls in self.objects.items():
            self.results.append(self.object_read(name, cls))
        for cls in self.classes:
            if "total" in cls.class_attributes:
                self.results.append(f"{cls.name}.total * {self.coefficient()}")
            if "log" in cls.class_attributes:
                log = f"sum(np.sum(t * t) for t in {cls.name}.log) * {self.coefficient()}"
                self.results += [log, f"len({cls.name}.log) * 0.01"]
            if "shared" in cls.class_attributes:
                shared = f"{cls.name}.shared"
                self.results.append(f"np.sum({shared} * {shared}) * {self.coefficient()}")
        return self.results


def _rebinding(writer: _Writer, rng: random.Random) -> list[str]:
    """``rebind()``'s lines: it changes ``G``, a class attribute the methods read, or the
    array ``OFFSET`` that a method's default argument is."""
    body: list[str] = []
    rebound: list[str] = []  # the globals it rebinds
    if writer.offset:
        if rng.random() < 0.6:
            writer.use("default array argument changed in place by rebind()")
            body.append("    OFFSET[...] = 0.3")
        else:  # (the default is still the array OFFSET was: nothing changes)
            writer.use("global that a default argument holds rebound by rebind()")
            rebound.append("OFFSET")
            body.append("    OFFSET = np.full(6, 0.3)")
    referenced = [c for c in writer.classes if c.ref]
    if referenced and rng.random() < 0.7:
        chosen = rng.choice(referenced)
        if rng.random() < 0.6:
            writer.use("class-level array changed in place by rebind()")
            body.append(f"    {chosen.name}.ref[...] *= 1.5")
        else:
            writer.use("class attribute rebound by rebind()")
            body.append(f"    {chosen.name}.ref = np.linspace(0.9, -0.2, 6)")
    cls = writer.global_class
    if cls is not None:
        kinds = [
            *([] if cls.flavor == "namedtuple" else ["rebind a global instance's attribute"]),
            "global instance's array changed in place",
            "global name rebound to a new instance",
        ]
        for kind in rng.sample(kinds, rng.randint(1, 2)):
            writer.use(kind)
            attribute = rng.choice(["v", "w"])
            if kind == "rebind a global instance's attribute":
                value = "np.linspace(-0.5, 0.7, 6)"
                if cls.frozen:  # (as a frozen dataclass is changed when it must be)
                    body.append(f"    object.__setattr__(G, {attribute!r}, {value})")
                else:
                    body.append(f"    G.{attribute} = {value}")
            elif kind == "global instance's array changed in place":
                whole = f"G.{attribute}{'[...]' if cls.frozen else ''}"
                body.append(rng.choice([f"    {whole} *= 1.5", f"    G.{attribute}[2] = 0.9"]))
            else:
                rebound.append("G")
                body.append(f"    G = {cls.name}(np.linspace(0.3, -0.4, 6), np.ones(6))")
    gained = [c for c in writer.classes if c.gain and "gain" in c.class_attributes]
    if gained and (not body or rng.random() < 0.5):
        writer.use("class attribute rebound by rebind()")
        body.append(f"    {rng.choice(gained).name}.gain = 1.3")
    if rebound:
        body.insert(0, f"    global {', '.join(rebound)}")
    return ["def rebind():", *(body or ["    pass"])]


#: ``Deep.walk``'s change of its object before it calls itself, per construct
RECURSIVE_CHANGES = {
    "recursive method rebinds an attribute": "        self.total = self.total + v * self.w",
    "recursive method writes an attribute in place": "        self.w += v * 0.1",
    "recursive method reads only": "        v = v * self.w + 0.1",
}


def _recursive_method(rng: random.Random, used: set[str]) -> tuple[list, list, list]:
    """In an eighth of the programs: an object of a class ``Deep`` whose method calls
    itself (which the transform cannot unroll), changing its object first or not, its
    result and the object read in the result. Drawn from a generator of its own, so that
    the programs without it are as they were. Returns the class's lines, the program's
    lines and the result's terms."""
    if rng.random() >= 1 / 8:
        return [], [], []
    construct = rng.choice(sorted(RECURSIVE_CHANGES))
    used.add(construct)
    lines = [
        "class Deep:",
        "    def __init__(self, w):",
        "        self.w = w * 0.5",
        "        self.total = np.zeros(6)",
        "",
        "    def walk(self, v, n):",
        "        if n == 0:",
        "            return v",
        RECURSIVE_CHANGES[construct],
        "        return self.walk(np.tanh(v), n - 1)",
    ]
    calls = [f"    deep0 = Deep({rng.choice(['w', 'np.sin(w)'])})"]
    calls.append(f"    walked0 = deep0.walk(x * 0.5, {rng.randint(1, 3)})")
    terms = ["np.sum(walked0 * x) * 0.3", "np.sum(deep0.total * w + deep0.w * x) * 0.2"]
    return lines, calls, terms


@functools.cache
def _build(seed: int) -> tuple[str, frozenset[str]]:
    rng = random.Random(seed)
    writer = _Writer(rng, rng.choices(["gentle", "plain", "hostile"], [35, 25, 40])[0])
    # A module-level instance in half the programs, of the class the program uses first.
    if rng.random() < 0.5:
        writer.global_class = writer.a_class()
        writer.arrays += ["G.v", "G.w"]
    # One construct in 40% of the programs: where one construct makes the transform
    # refuse a program, the others in it go unchecked in source mode.
    for _ in range(1 if rng.random() < 0.4 else rng.randint(2, 5)):
        writer.statement("    ")
    terms = writer.finish()
    if writer.global_class is not None:
        writer.use("global instance read")
        if rng.random() < 0.5:
            writer.use("global instance's method called")
            terms.append(f"G.{writer.reader(writer.global_class, 'energy')}() * 0.5")
        else:
            terms.append("np.sum(G.v * x + G.w) * 0.3")
    terms.append("np.sum(x * w) * 0.1")
    deep, deep_calls, deep_terms = _recursive_method(random.Random(seed * 5303 + 1), writer.used)
    terms += deep_terms
    rebind = _rebinding(writer, rng)
    lines = [
        "import copy",
        "from dataclasses import dataclass, field, replace",
        "from functools import cached_property",
        "from typing import ClassVar, NamedTuple",
        "",
        "import numpy as np",
        "",
        *(["", "OFFSET = np.full(6, 0.1)"] if writer.offset else []),
    ]
    for cls in writer.classes:
        lines += ["", "", *cls.source()]
    if deep:
        lines += ["", "", *deep]
    if writer.global_class is not None:
        cls = writer.global_class
        lines += ["", "", f"G = {cls.name}(np.linspace(0.1, 0.6, 6), np.linspace(-0.4, 0.3, 6))"]
    lines += writer.helpers
    lines += ["", "", "def program(x, w):", *writer.starts, *writer.out, *deep_calls]
    lines += writer.tail
    lines += ["    return " + " + ".join(terms), "", "", *rebind, ""]
    return "\n".join(_collapse_blank_lines(lines)), frozenset(writer.used)


def generate(seed: int) -> str:
    """The source of a module with classes, helpers, maybe ``G``, ``program(x, w)`` and
    ``rebind()``."""
    return _build(seed)[0]


def constructs(seed: int) -> frozenset[str]:
    """The members of ``CONSTRUCTS`` that ``generate(seed)``'s program uses."""
    return _build(seed)[1]
