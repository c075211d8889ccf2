"""The state that travels through the passes for one function being differentiated."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gast

from .errors import TAPE_ADVICE, TransformError
from .naming import Namer
from .parsing import ParsedFunction
from .walk import walk


@dataclass
class TransformContext:
    parsed: ParsedFunction
    #: parameter names to differentiate with respect to, in the order gradients are returned
    wrt: tuple[str, ...]
    namer: Namer
    #: names local to the function (parameters and every name it assigns)
    local_names: set[str]
    #: how to generate derivatives of user functions called from this one; set by the
    #: pipeline (the callee cache lives there)
    derive_callee: Callable[..., Any] | None = None
    #: objects the generated code reads by name that are not the user's globals:
    #: helper functions, rule globals, derivatives of callees. name -> object
    free_values: dict[str, Any] = field(default_factory=dict)
    #: the user's globals that the transform resolved (to check they still hold)
    resolved_globals: dict[str, Any] = field(default_factory=dict)
    #: callees' generated sources, shown with this function's
    callee_sources: list[str] = field(default_factory=list)
    #: kinds of the parameters' values: ("value",), ("tuple", n), ("list", n)
    param_kinds: dict[str, tuple] = field(default_factory=dict)
    #: filled in by ``analyze``: active names, and the kind of every name
    active: set[str] = field(default_factory=set)
    kinds: dict[str, tuple] = field(default_factory=dict)
    #: filled in by ``analyze``: names surely holding an object of a known class, and its
    #: kind (``objects.object_kinds``)
    object_kinds: dict[str, tuple] = field(default_factory=dict)
    #: filled in by ``analyze`` (``effects.check``): names surely holding a number, every
    #: binding of which gives one (a callee given one gets it as a float's kind)
    scalar_names: frozenset[str] = frozenset()
    #: filled in by ``analyze`` (``effects.check``): parameters whose objects, and what
    #: they hold, nothing in the function can change in place (``remat`` reads ``xs[t]``
    #: of one again in the backward pass rather than saving it)
    unchanged_params: frozenset[str] = frozenset()
    #: filled in by ``shapes``: name -> shape class (equal classes, equal shapes)
    shape_classes: dict[str, Any] = field(default_factory=dict)
    #: the kind of what a user function returns (set by the pipeline)
    return_kind: Callable[[Callable], tuple] | None = None
    #: "auto" runs what cannot be transformed on the tape; "source" raises instead
    mode: str = "auto"
    #: calls that run on the tape: (name, origin, reason)
    fallbacks: list[tuple] = field(default_factory=list)
    #: calls on objects and classes, and what each resolved to: (call, origin, function,
    #: how), for ``ag.explain`` (``objects.note_call``)
    object_calls: list[tuple] = field(default_factory=list)
    #: ``checkpoint=True`` asked for: ``for`` loops over ``range`` are differentiated a
    #: segment at a time (the ``checkpoint`` pass); ``ag.checkpoint`` calls always are
    checkpoint: bool = False
    #: what the ``checkpoint`` pass made of each loop (``checkpoint.Note``: checkpointed,
    #: or saved ordinarily and why)
    checkpoint_notes: list = field(default_factory=list)

    def __post_init__(self) -> None:
        # The parameters to differentiate come from the signature Python reports, which
        # follows __wrapped__ (or a __signature__); the code transformed is the function's
        # own. A wrapper taking *args would silently get zero gradients for them.
        args = self.parsed.node.args
        own = {a.id for a in args.posonlyargs + args.args + args.kwonlyargs}
        for name in self.wrt:
            if name not in own:
                raise TransformError(
                    f"{self.parsed.function.__qualname__} reports a parameter {name!r}, but "
                    f"its code has none of that name (a decorator's wrapper taking *args?), "
                    "so the transform cannot tell which argument it is.",
                    advice=TAPE_ADVICE,
                )

    def note_fallback(self, name: str, origin: Any, reason: str) -> None:
        self.fallbacks.append((name, origin, reason))

    @property
    def function_name(self) -> str:
        return self.parsed.name

    def bind_free(self, preferred: str, value: Any) -> str:
        """A name under which the generated code can read ``value``."""
        for name, bound in self.free_values.items():
            if bound is value:
                return name
        user_value = self.parsed.globals.get(preferred, _MISSING)
        if user_value is value and preferred not in self.local_names:
            self.resolved_globals[preferred] = value
            # (read from the user's globals: no generated name may take it, not even the
            # generated function's own, f_grad where the user imported a helper so named)
            self.namer.reserve([preferred])
            return preferred
        name = self.namer.new(preferred)
        self.free_values[name] = value
        return name


_MISSING = object()


def local_names_of(node: gast.FunctionDef) -> set[str]:
    names = {a.id for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs}
    if node.args.vararg is not None:
        names.add(node.args.vararg.id)
    if node.args.kwarg is not None:
        names.add(node.args.kwarg.id)
    for sub in walk(node):
        if isinstance(sub, gast.Name) and isinstance(sub.ctx, (gast.Store, gast.Del)):
            names.add(sub.id)
        elif isinstance(sub, (gast.FunctionDef, gast.ClassDef)) and sub is not node:
            names.add(sub.name)
    return names
