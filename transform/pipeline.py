"""The pipeline: the passes in order, and the cache of what they produced.

    parse → PASSES (desugar, normalize, analyze, shapes, reverse, then the passes that
    rewrite the reversed program, each one job) → emit

``PASSES`` lists every pass once, in order, and says why the order matters. Each is
``transform(value, ctx)``: the function's tree up to ``reverse``, the ``Program`` of
forward and backward statements after it. ``derive(..., stop_after=stage)`` returns the
source as it stands after any stage in ``STAGES`` (``ag.source(f, stage="normalize")``);
``_assemble`` only builds the final functions from the last pass's program.

Derivatives are cached per function, weakly (a deleted function's derivatives, and what
they hold, go with it), and each carries a guard of what the passes read (``guards``),
checked before each reuse.
"""

from __future__ import annotations

import gc
import threading
import types
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gast

from ..runtime import anomaly as runtime_anomaly
from ..runtime.closures import reaches_itself
from . import (
    accumulate,
    adds_in_place,
    analyze,
    anno,
    anomaly,
    batching,
    build,
    dataflow,
    desugar,
    emit,
    factor,
    fuse,
    normalize,
    objects,
    optimize,
    release,
    remat,
    reuse,
    reverse,
    saves,
    seed,
    shape_reads,
    shapes,
    step_sums,
    tangents,
)  # fmt: skip
from . import checkpoint as checkpoint_pass
from .context import TransformContext, local_names_of
from .errors import TAPE_ADVICE, InternalErrorWarning, InternalTransformError, TransformError
from .guards import Guard, watch_module_attributes
from .naming import Namer
from .origin import Origin
from .parsing import parse_function
from .program import Program
from .walk import copy_tree, walk

#: The passes after ``parse``, in the order they run: ``(name, transform)``, each
#: ``transform(node or program, ctx)``. Up to ``reverse`` they take and return the
#: function's tree; ``reverse`` makes the ``Program`` every later pass takes and returns.
#: Why this order (each line needs what the ones above it leave):
#:
#: - ``desugar`` gives every function a single exit and regular loops, which ``normalize``
#:   relies on to lower each statement alone;
#: - ``analyze`` and ``shapes`` need that one-operation-per-statement core (activity per
#:   name, equal shapes), and ``shapes`` must come before ``reverse``, whose inlined rules
#:   skip ``unbroadcast`` only where shapes are known equal;
#: - ``checkpoint`` after ``analyze`` (it reads what each call resolved to, and ``effects``
#:   has checked the loops it moves into segment functions as the user wrote them) and
#:   before ``reverse``, which writes the recomputation of the calls it marks;
#: - ``reverse`` needs activity to emit only the adjoints that matter, and pushes every
#:   overwritten value, since only the complete backward pass says which are read;
#: - ``remat`` right after ``reverse``: it rewrites the contributions ``reverse`` recorded
#:   per statement, before any later pass rewrites or removes them;
#: - ``accumulate`` after ``remat`` (it takes the index expressions ``remat`` recomputes)
#:   and before ``dead_code`` (the restores only its helpers read go dead);
#: - ``seed`` completes the backward statements, which every pass after it reads whole;
#: - ``reuse`` after ``seed`` (it versions the names the backward statements read from
#:   their start) and before ``saves``, which keeps the forward values it reads;
#: - ``factor`` after ``zeros`` (it reads each Cholesky factor's contributions as ``zeros``
#:   leaves them) and before ``dead_code``, which removes what only they read;
#: - ``zeros`` before ``dead_code`` (a dropped zero contribution leaves its computation
#:   dead), ``dead_code`` before ``shape_reads`` (a read it removes would otherwise keep a
#:   value whole) and before ``copies`` (propagation then meets only copies that are read);
#: - ``shape_reads`` before ``copies``, which propagates the copy a dropped expansion
#:   leaves (``dx = g``), and before ``fuse``, which merges what is left of each line;
#: - ``step_sums`` after ``fuse``, once each accumulation is the one statement it will
#:   be (``dW = dW + matmul_grad_right(g, h, W)``), and before ``release``, whose ``del``
#:   would otherwise come before the sum after the loop;
#: - ``adds_in_place`` after ``step_sums`` (each accumulation is then the statement it
#:   will be) and before ``release``, whose ``del`` statements it would count as reads;
#: - ``unread_pushes`` and ``temporaries`` rewrite the forward statements only once the
#:   backward pass, and so what it reads, is final;
#: - ``release`` adds ``del`` after the last reads, which no later pass may move;
#: - ``replay_variable`` names replayed loops' counters once dead code has settled whether
#:   the backward pass reads a ``_`` of the user's;
#: - ``saves`` lowers the pushes and pops that are left, once every pass that removes one
#:   has run: runs of pops in replayed loops, names in straight-line code.
#:
#: ``emit`` then assembles and compiles the functions (not a pass: it makes no program).
PASSES: tuple[tuple[str, Callable], ...] = (
    ("desugar", desugar.transform),
    ("normalize", normalize.transform),
    ("analyze", analyze.transform),
    ("shapes", shapes.transform),
    ("checkpoint", checkpoint_pass.transform),
    ("reverse", reverse.transform),
    ("remat", remat.transform),
    ("accumulate", accumulate.transform),
    ("seed", seed.transform),
    ("reuse", reuse.transform),
    ("zeros", optimize.zeros),
    ("factor", factor.transform),
    ("dead_code", optimize.dead_code),
    ("shape_reads", shape_reads.transform),
    ("copies", optimize.copies),
    ("fuse", fuse.transform),
    ("step_sums", step_sums.transform),
    ("adds_in_place", adds_in_place.transform),
    ("unread_pushes", optimize.unread_pushes),
    ("temporaries", optimize.temporaries),
    ("release", release.transform),
    ("replay_variable", saves.prefer_underscore),
    ("saves", saves.transform),
)

#: What ``ag.source(stage=...)`` and ``astgrad show --stage`` may stop after: the parse,
#: each pass, and ``emit`` (the final source).
STAGES = ("parse", *(name for name, _ in PASSES), "emit")

#: Forward mode's passes (``ag.jvp``): the same four up to ``shapes``, then ``tangents``,
#: which writes each tangent beside its value (nothing is saved, so no later pass is
#: needed). ``FORWARD_STAGES`` are what ``ag.source(..., forward=True)`` may stop after.
FORWARD_PASSES: tuple[tuple[str, Callable], ...] = (
    *PASSES[: [name for name, _ in PASSES].index("reverse")],
    ("tangents", tangents.transform),
)
FORWARD_STAGES = ("parse", *(name for name, _ in FORWARD_PASSES), "emit")
#: Forward mode returning the tangent alone (``derive(..., forward="tangent")``), which
#: ``ag.hvp`` differentiates: the value's computation no tangent reads is dead there.
TANGENT_PASSES: tuple[tuple[str, Callable], ...] = (
    *FORWARD_PASSES[:-1],
    ("tangents", tangents.transform_tangent),
)
#: Batched forward mode (``ag.jacobian``, ``ag.hessian``): the same passes, with
#: ``batching`` in place of ``tangents``: each tangent carries a leading axis of directions
#: (``derive(..., forward="batched")``; see ``transform/batching.py``).
BATCHED_FORWARD_PASSES: tuple[tuple[str, Callable], ...] = (
    *FORWARD_PASSES[:-1],
    ("batching", batching.transform),
)
#: ``derive``'s ``forward`` (other than True) -> its passes
_FORWARD_KINDS = {"batched": BATCHED_FORWARD_PASSES, "tangent": TANGENT_PASSES}


@dataclass(eq=False)
class Derivative:
    """The generated derivative of one function with respect to some parameters.

    It refers to the function weakly: the cache keeps derivatives only as long as their
    functions live, and a derivative holding its function would keep it alive for ever.
    """

    function_ref: weakref.ref
    wrt: tuple[str, ...]
    name: str
    source: str
    #: f(*args) -> (value, gradients): one function, forward then backward
    fused: Callable | None = None
    #: f(*args) -> (value, saved) and backward(saved, cotangent) -> gradients
    forward: Callable | None = None
    backward: Callable | None = None
    #: forward mode: f_jvp(*args, **{tangent name: tangent}) -> (value, tangent)
    jvp: Callable | None = None
    #: forward mode: parameter -> the keyword its tangent is passed by
    tangent_names: dict[str, str] = field(default_factory=dict)
    #: kind of the returned value: ("value",) or ("tuple", n)...
    returns: tuple = ("value",)
    #: what the generated code assumes (code, globals, cells, its callees'): see guards
    guard: Guard = field(default_factory=lambda: Guard(()))
    callees: list[Derivative] = field(default_factory=list)
    #: calls that run on the tape: (name, origin, reason)
    fallbacks: list[tuple] = field(default_factory=list)
    #: with ``checkpoint=True``: what became of each loop (``checkpoint.Note``), its
    #: callees' loops too
    checkpoints: list = field(default_factory=list)
    #: the sources of the segment functions its forward pass calls (checkpointed loops)
    segment_sources: list[str] = field(default_factory=list)
    #: made in anomaly mode, with checks of the values it computes (``transform.anomaly``)
    checks: bool = False
    #: whether it assigns attributes of an argument (issue 17): its gradient has the form
    #: of the object at entry, kept before the call (``runtime.objects.entry_states``)
    writes_objects: bool = False
    #: calls on objects and what each resolved to (``TransformContext.object_calls``),
    #: its callees' too
    object_calls: list[tuple] = field(default_factory=list)
    #: of a split derivative: for each gradient ``backward`` returns, whether it is
    #: ``"zero"`` (the int 0), ``"maybe"`` or never (``""``): ``optimize.zero_adjoints``
    zero_adjoints: tuple[str, ...] = ()

    @property
    def function(self) -> Callable | None:
        """The differentiated function (None once it has been collected)."""
        return self.function_ref()

    def is_stale(self) -> bool:
        """Whether something the generated code assumed no longer holds (a global or cell
        it resolved was rebound, the function's code or defaults were replaced), so it
        must be generated again. Gradient calls ask this every time: see guards. One made
        without anomaly mode's checks is stale in anomaly mode (one with them, outside
        it: see ``anomaly.mark_checked``), so that callers' caches take the other."""
        return not self.guard.check() or (
            not self.checks and runtime_anomaly.threads > 0 and runtime_anomaly.checks_values()
        )

    def full_source(self) -> str:
        parts = [self.source, *self.segment_sources]
        seen = {id(self)}
        for callee in self.callees:
            if id(callee) not in seen:
                seen.add(id(callee))
                parts.append(callee.full_source())
        return "\n\n".join(p.rstrip("\n") for p in parts) + "\n"


# function -> {(wrt, split, kinds, mode): Derivative}. Weak keys, and values that do not
# refer to their key, so that a function's derivatives go when it does.
_cache: weakref.WeakKeyDictionary[Callable, dict] = weakref.WeakKeyDictionary()
#: how many times each function's source was generated (tests check caching)
generation_count: weakref.WeakKeyDictionary[Callable, int] = weakref.WeakKeyDictionary()
# One generation at a time, across threads: two threads' first calls would otherwise both
# generate, and the passes' shared tables (names, caches) are not made for that. Reentrant,
# since generating a function generates its callees. Cached calls never take it.
_generating = threading.RLock()
# The functions being generated by this thread, outermost first: meeting one again is
# recursion. Per thread, so that another thread's generation is not mistaken for it.
_local = threading.local()


def derive(
    function: Callable,
    wrt: tuple[str, ...],
    *,
    split: bool = False,
    param_kinds: dict[str, tuple] | None = None,
    stop_after: str | None = None,
    mode: str = "auto",
    forward: bool | str = False,
    checkpoint: bool = False,
) -> Derivative | str:
    """The derivative of ``function`` with respect to the parameters ``wrt``: reverse mode
    (a gradient), or with ``forward=True`` forward mode (a Jacobian-vector product).

    ``mode="auto"`` lets calls the transform cannot see into run on the tape; with
    ``mode="source"`` they raise :class:`TransformError`. ``checkpoint=True`` cuts the
    ``range`` loops into checkpointed segments (``transform/checkpoint.py``).

    The result is cached per (function, wrt, split, argument kinds, mode) and reused while
    its guard holds (see ``guards``); otherwise it is generated again. Any number of
    threads may call this at once: generation takes one lock, cached calls none.
    """
    if not _weakly_referable(function):
        parse_function(function)  # a ufunc or builtin: raises, saying it has no source
        # A NumPy function (its __wrapped__ Python source is NumPy's own, not the user's).
        raise TransformError(
            f"{getattr(function, '__qualname__', function)!r} is not a Python function of "
            f"yours (it is a {type(function).__name__}), so there is no source to transform.",
            advice=TAPE_ADVICE,
        )
    kinds_key = tuple(sorted((param_kinds or {}).items()))
    checks = runtime_anomaly.checks_values()  # anomaly mode: a derivative with checks
    key = (wrt, split, kinds_key, mode, forward, checks)
    if checkpoint:
        key = (*key, "checkpoint")
    if stop_after is None:
        found = _cached(function, key)
        if found is not None:
            return found
    with _generating:
        if stop_after is None:  # another thread may have made it while this one waited
            found = _cached(function, key)
            if found is not None:
                return found
        in_progress = _in_progress()
        if any(f is function for f in in_progress):
            raise TransformError(
                f"{function.__qualname__} calls itself (recursion), which the transform does "
                "not unroll.",
                advice='Use mode="auto" to run the recursive call on the tape.',
            )
        in_progress.append(function)
        # The passes make many small trees and sets that live until the function is made;
        # the cycle collector walking them took a quarter to a third of a long function's
        # transform. Paused only by the outermost generation, under the lock.
        pause = len(in_progress) == 1 and gc.isenabled()
        if pause:
            gc.disable()
        try:
            if forward:
                result = _run_forward(
                    function, wrt, param_kinds or {}, stop_after, mode, checks,
                    _FORWARD_KINDS.get(forward, FORWARD_PASSES),
                )  # fmt: skip
            else:
                result = _run(
                    function,
                    wrt,
                    split,
                    param_kinds or {},
                    stop_after,
                    mode,
                    checks,
                    checkpoint=checkpoint,
                )
        except (TransformError, MemoryError):
            raise
        except Exception as exc:  # a bug of the transform's own: see InternalTransformError
            internal = InternalTransformError(getattr(function, "__qualname__", "?"), exc)
            if mode != "source":
                warnings.warn(str(internal), InternalErrorWarning, stacklevel=2)
            raise internal from exc
        finally:
            in_progress.pop()
            if pause:
                gc.enable()
        if stop_after is None:
            if not reaches_itself(function):
                _cache.setdefault(function, {})[key] = result
            generation_count[function] = generation_count.get(function, 0) + 1
    return result


def _cached(function: Callable, key: tuple) -> Derivative | None:
    """The cached derivative for ``key``, if there is one and its guard holds."""
    table = _cache.get(function)
    found = table.get(key) if table is not None else None
    if found is not None and found.guard.check():
        return found
    return None


def _in_progress() -> list[Callable]:
    try:
        return _local.in_progress
    except AttributeError:
        _local.in_progress = []
        return _local.in_progress


def _weakly_referable(function: Callable) -> bool:
    # Every Python function is; the caches hold functions weakly.
    if isinstance(function, types.FunctionType):
        return True
    try:
        weakref.ref(function)
    except TypeError:
        return False
    return True


def _run(
    function: Callable,
    wrt: tuple[str, ...],
    split: bool,
    param_kinds: dict,
    stop_after: str | None,
    mode: str,
    checks: bool = False,
    checkpoint: bool = False,
):
    node, ctx, callees = _start(function, wrt, param_kinds, mode, checkpoint)
    if stop_after == "parse":
        return emit.to_source(node)
    value = node
    for name, transform in PASSES:
        value = _apply(transform, value, ctx, split)
        if stop_after == name:
            return _stage_source(name, value, ctx)
    derivative = _assemble(value, ctx, _derivative_name(function, wrt, split), checks)
    derivative.callees = callees
    derivative.guard = _guard(ctx, callees)
    derivative.writes_objects = objects.writes_arguments(ctx)
    if checks:
        anomaly.mark_checked(derivative)
    derivative.fallbacks = list(ctx.fallbacks)
    for callee in callees:
        derivative.fallbacks.extend(callee.fallbacks)
    derivative.object_calls = list(ctx.object_calls)  # (issue 17)
    for callee in callees:
        derivative.object_calls.extend(c for c in callee.object_calls if c not in ctx.object_calls)
    derivative.checkpoints = list(ctx.checkpoint_notes)
    derivative.segment_sources = [n.source for n in ctx.checkpoint_notes if n.source]
    for callee in callees:
        derivative.checkpoints.extend(callee.checkpoints)
    if stop_after == "emit":
        return derivative.source
    return derivative


def _run_forward(
    function: Callable,
    wrt: tuple[str, ...],
    param_kinds: dict,
    stop_after: str | None,
    mode: str,
    checks: bool = False,
    passes: tuple = FORWARD_PASSES,
):
    node, ctx, callees = _start(function, wrt, param_kinds, mode)
    if stop_after == "parse":
        return emit.to_source(node)
    value = node
    for name, transform in passes:
        value = transform(value, ctx)
        if stop_after == name:
            return _stage_source(name, value, ctx)
    value.body = emit.add_grad_comments(value.body, label="tangent of")
    if checks:
        value.body = anomaly.add_checks(value.body, ctx, "tangent")
    value.args = _defaults_as_names(value.args, ctx)
    (jvp,), source = emit.compile_functions(
        [value], ctx.free_values, ctx.parsed.function, function.__name__
    )
    _copy_defaults(jvp, ctx.parsed.function)  # the tangents are keyword-only, required
    # (reverse mode over it, ag.hvp's, takes each tangent to have its parameter's shape)
    setattr(jvp, shapes.TANGENTS_ATTRIBUTE, {name: ctx.namer.adjoint(name) for name in wrt})
    derivative = Derivative(
        weakref.ref(ctx.parsed.function), wrt, function.__name__, source, jvp=jvp,
        tangent_names={name: ctx.namer.adjoint(name) for name in wrt},
        returns=ctx.kinds.get(getattr(node.body[-1].value, "id", None), ("value",)),
    )  # fmt: skip
    derivative.callees = callees
    derivative.guard = _guard(ctx, callees)
    derivative.writes_objects = objects.writes_arguments(ctx)
    if checks:
        anomaly.mark_checked(derivative)
    derivative.fallbacks = list(ctx.fallbacks)
    for callee in callees:
        derivative.fallbacks.extend(callee.fallbacks)
    if stop_after == "emit":
        return derivative.source
    return derivative


def _apply(transform: Callable, value: Any, ctx: TransformContext, split: bool) -> Any:
    value = transform(value, ctx)
    if isinstance(value, Program) and transform is reverse.transform:
        value.split = split  # the one thing about the derivative reverse is not told
    return value


def pass_input(
    function: Callable,
    wrt: tuple[str, ...],
    stage: str,
    *,
    split: bool = False,
    param_kinds: dict[str, tuple] | None = None,
    checkpoint: bool = False,
) -> tuple[Any, TransformContext]:
    """What the pass named ``stage`` takes when ``function`` is differentiated (its tree or
    program), with the context: to run one pass alone (tests). Nothing is cached."""
    with _generating:
        node, ctx, _ = _start(function, wrt, param_kinds or {}, "auto", checkpoint)
        value = node
        for name, transform in PASSES:
            if name == stage:
                return value, ctx
            value = _apply(transform, value, ctx, split)
    raise ValueError(f"no pass named {stage!r}")


def stage_source(name: str, value: Any, ctx: TransformContext) -> str:
    """``value``, what the pass ``name`` returned, as ``ag.source(stage=name)`` prints it."""
    return _stage_source(name, value, ctx)


def _start(
    function: Callable,
    wrt: tuple[str, ...],
    param_kinds: dict,
    mode: str,
    checkpoint: bool = False,
) -> tuple[gast.FunctionDef, TransformContext, list[Derivative]]:
    """The parsed function, the context the passes share, and the list its callees'
    derivatives are added to as the passes derive them."""
    parsed = parse_function(function)
    node = parsed.node
    checkpoint_pass.restore_origins(function, node)  # a segment function: the user's lines
    namer = Namer()
    namer.reserve_tree(node)
    ctx = TransformContext(
        parsed=parsed,
        wrt=wrt,
        namer=namer,
        local_names=local_names_of(node),
        param_kinds=param_kinds,
        mode=mode,
        checkpoint=checkpoint,
    )
    # Before the passes rewrite the tree: the chains as the user wrote them.
    chains = _attribute_chains(node)
    watch_module_attributes(parsed.recorder, parsed.function, chains, ctx.local_names)
    callees: list[Derivative] = []

    def derive_callee(
        callee: Callable,
        active: tuple[str, ...],
        origin: Origin | None,
        forward: bool | str = False,
        param_kinds: dict | None = None,  # (objects' classes: a method's self, issue 17)
    ) -> Derivative:
        try:
            if forward:
                derivative = derive(
                    callee, active, mode=mode, forward=forward, param_kinds=param_kinds
                )
            else:
                # Its loops (a segment function's inner ones too) as this function's.
                derivative = derive(
                    callee, active, split=True, mode=mode, checkpoint=checkpoint,
                    param_kinds=param_kinds,
                )  # fmt: skip
        except TransformError as exc:
            if exc.origin is None:
                exc.origin = origin
                exc.args = (exc._render(),)
            raise
        callees.append(derivative)
        name = derivative.function.__name__
        # (the plain dict: looking through every global is not reading each one)
        for global_name, value in parsed.function.__globals__.items():
            if value is callee:
                ctx.resolved_globals[global_name] = value
                break
        derivative.name = derivative.name or name
        return derivative

    def watched_return_kind(callee: Callable) -> tuple:
        # What the callee's source returns shapes this function's code: watch its code.
        parsed.recorder.function(callee)
        return return_kind(callee)

    ctx.derive_callee = derive_callee
    ctx.return_kind = watched_return_kind
    return node, ctx, callees


def _guard(ctx: TransformContext, callees: list[Derivative]) -> Guard:
    """What the generated code assumes: what the passes read (recorded as they read it),
    and what its callees' code assumes, which it embeds."""
    recorder = ctx.parsed.recorder
    for callee in callees:
        recorder.include(callee.guard)
    # Names the generated code binds itself (helpers) read no global of that name.
    return recorder.guard(ignore=frozenset(ctx.free_values))


def _attribute_chains(node: gast.AST) -> list[list[str]]:
    """Every ``a.b.c`` in ``node`` as ``["a", "b", "c"]`` (a chain from a name)."""
    chains = []
    for sub in walk(node):
        attributes = []
        while isinstance(sub, gast.Attribute):
            attributes.append(sub.attr)
            sub = sub.value
        if attributes and isinstance(sub, gast.Name):
            chains.append([sub.id, *reversed(attributes)])
    return chains


def return_kind(function: Callable) -> tuple:
    """What ``function`` returns: ("tuple", n) when it returns a tuple display."""
    try:
        parsed = parse_function(function)
    except TransformError:
        return ("value",)
    node = parsed.node
    namer = Namer()
    namer.reserve_tree(node)
    ctx = TransformContext(parsed=parsed, wrt=(), namer=namer, local_names=local_names_of(node))
    try:
        node = normalize.transform(desugar.transform(node, ctx), ctx)
    except TransformError:
        return ("value",)
    result = node.body[-1].value
    if not isinstance(result, gast.Name):
        return ("value",)
    kinds = set()
    for stmt in dataflow.statements(node.body):
        if (
            isinstance(stmt, gast.Assign)
            and isinstance(stmt.targets[0], gast.Name)
            and stmt.targets[0].id == result.id
        ):
            value = stmt.value
            if isinstance(value, gast.Tuple):
                kinds.add("tuple")
            elif isinstance(value, gast.List):
                kinds.add("list")
            elif isinstance(value, (gast.BinOp, gast.UnaryOp)) or (
                isinstance(value, gast.Call)
                and isinstance(value.func, gast.Attribute)
                and isinstance(value.func.value, gast.Name)
                and value.func.value.id in ("np", "numpy", "math")
            ):
                kinds.add("value")
            else:
                kinds.add("unknown")
    if result.id in parsed.params or len(kinds) != 1:
        return ("unknown",)
    return (kinds.pop(),)


# -- assembling functions ------------------------------------------------------------------


def _stack_setup(
    program: Program, primal: list, backward: list, split_backward: bool
) -> tuple[list, list]:
    """Statements creating the stack and binding push/pop, where they are still used."""
    uses_push = any(program.push in dataflow.reads(s) for s in primal)
    uses_pop = any(program.pop in dataflow.reads(s) for s in backward)
    uses_stack = uses_pop or any(program.stack in dataflow.reads(s) for s in backward)  # pop_run
    forward_setup = []
    if uses_push or uses_stack:
        forward_setup.append(build.assign(program.stack, gast.List(elts=[], ctx=gast.Load())))
    if uses_push:
        forward_setup.append(build.assign(program.push, build.attribute(program.stack, "append")))
    backward_setup = []
    # Take from copies: the pullback may be replayed (retain_graph=True), and a list the
    # backward pass undoes appends to with .pop() is the one the forward pass saved.
    popped = [program.stack] if uses_stack else []
    popped += sorted(_lists_popped(backward) - {program.stack}) if split_backward else []
    for name in popped if split_backward else []:
        copied: gast.expr = build.call("list", build.load(name))
        if name != program.stack:
            # A list made in a branch the forward pass did not take is still None.
            copied = gast.IfExp(
                test=gast.Compare(
                    left=build.load(name), ops=[gast.Is()], comparators=[gast.Constant(None, None)]
                ),
                body=gast.Constant(None, None),
                orelse=copied,
            )
        backward_setup.append(build.assign(name, copied))
    if uses_pop:
        backward_setup.append(build.assign(program.pop, build.attribute(program.stack, "pop")))
    return forward_setup, backward_setup


def _lists_popped(backward: list[gast.stmt]) -> set[str]:
    """Names of the lists whose appends the backward pass undoes (``acc.pop()``)."""
    return {
        stmt.value.func.value.id
        for stmt in dataflow.statements(backward)
        if isinstance(stmt, gast.Expr)
        and isinstance(stmt.value, gast.Call)
        and isinstance(stmt.value.func, gast.Attribute)
        and stmt.value.func.attr == "pop"
        and isinstance(stmt.value.func.value, gast.Name)
    }


def _returned_gradients(program: Program) -> gast.expr:
    if len(program.gradients) == 1:
        return build.load(program.gradients[0])
    return gast.Tuple(elts=[build.load(g) for g in program.gradients], ctx=gast.Load())


def _deletes_of_bound_names(
    backward: list[gast.stmt], saved: set[str], setup: list[gast.stmt]
) -> list[gast.stmt]:
    """``backward``'s top-level ``del`` statements less the names a backward function of
    its own does not hold there. ``release`` frees a name the forward statements bound
    once the backward ones no longer read it; in one function with the forward pass that
    name is bound, but a backward function has only the saved values and what it binds
    itself (``v = pop()`` in one branch: ``del v`` after it raised where the other ran)."""
    bound = set(saved)
    for stmt in setup:
        bound |= dataflow.target_names(stmt)
    out = []
    for stmt in backward:
        if isinstance(stmt, gast.Delete):
            kept = [t for t in stmt.targets if not isinstance(t, gast.Name) or t.id in bound]
            if not kept:
                continue
            stmt.targets = kept
        elif not isinstance(stmt, (gast.If, gast.For, gast.While, gast.With)):
            bound |= dataflow.target_names(stmt)
        out.append(stmt)
    return out


def _inits(names: set[str]) -> list[gast.stmt]:
    return [build.assign(name, gast.Constant(None, None)) for name in sorted(names)]


_split_names: weakref.WeakKeyDictionary[Callable, dict] = weakref.WeakKeyDictionary()


def _derivative_name(function: Callable, wrt: tuple[str, ...], split: bool) -> str:
    """``helper`` for the first split derivative of a function; ``helper_wrt_a`` for
    derivatives with respect to other parameters, so two never share a name."""
    name = function.__name__ if function.__name__ != "<lambda>" else "lambda_"
    if split and isinstance(function, types.FunctionType):
        name = objects.label(function)  # a method: MLP_call (issue 17)
    if not split:
        return name
    names = _split_names.setdefault(function, {})
    if wrt not in names:
        names[wrt] = name if not names else f"{name}_wrt_{'_'.join(wrt)}"
    return names[wrt]


def _assemble(
    program: Program, ctx: TransformContext, name: str, checks: bool = False
) -> Derivative:
    """The compiled derivative of ``program`` as the passes left it: one function, or a
    forward function saving what the backward one reads; nothing is rewritten here but
    for anomaly mode's ``checks`` (see ``transform.anomaly``)."""
    node = program.node
    split = program.split
    result = program.result
    seed_name = program.seed
    primal = program.primal
    backward = emit.add_grad_comments(program.backward)
    if checks:
        backward = anomaly.add_checks(backward, ctx, "gradient", primal)
    forward_setup, backward_setup = _stack_setup(program, primal, backward, split)
    inits = _inits(program.maybe_unbound | (set() if split else program.unbound_reads))
    returned = _returned_gradients(program)
    args = _defaults_as_names(copy_tree(node.args), ctx)
    if not split:
        value: gast.expr = copy_tree(result)
        keep_value = []
        if isinstance(result, gast.Name) and any(
            result.id in dataflow.target_names(s) for s in dataflow.statements(backward)
        ):
            # The backward pass restores this name to earlier values: keep the result apart.
            kept = ctx.namer.new("result")
            keep_value = [build.assign(kept, copy_tree(result))]
            value = build.load(kept)
        body = [*inits, *forward_setup, *primal, *keep_value, *backward_setup, *backward]
        body.append(gast.Return(value=gast.Tuple(elts=[value, returned], ctx=gast.Load())))
        # Through the namer: the user may call a function of theirs named f_grad, or a callee
        # of the same name may have its derivative bound as f_forward (see emit).
        fused_def = build.function(ctx.namer.new(f"{name}_grad"), args, body)
        (fused,), source = emit.compile_functions(
            [fused_def], ctx.free_values, ctx.parsed.function, name
        )
        _copy_defaults(fused, ctx.parsed.function)
        return Derivative(
            weakref.ref(ctx.parsed.function), ctx.wrt, name, source, fused=fused,
            returns=ctx.kinds.get(getattr(result, "id", None), ("value",)),
        )  # fmt: skip
    params = {a.id for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs}
    assigned = set()
    for stmt in dataflow.statements(primal):
        assigned |= dataflow.target_names(stmt)
    saved_names = sorted(
        (program.backward_reads & (params | assigned)) - {program.pop, program.push}
    )
    if any(program.stack in dataflow.reads(s) for s in backward_setup):
        # (the backward setup takes the stack's copy; it may copy the user's lists alone,
        # where the forward pass made no stack)
        saved_names = [program.stack] + [n for n in saved_names if n != program.stack]
    saved_tuple = gast.Tuple(elts=[build.load(n) for n in saved_names], ctx=gast.Load())
    # A name bound only in a branch or loop the forward pass did not take still goes back in
    # the saved tuple (the backward pass will not read it): bind it to None up front.
    surely = dataflow.bound_on_every_path(primal, params)
    late = set(saved_names) - surely - program.maybe_unbound - {program.stack}
    inits = _inits(program.maybe_unbound | late)
    forward_body = [*inits, *forward_setup, *primal]
    forward_body.append(
        gast.Return(value=gast.Tuple(elts=[copy_tree(result), saved_tuple], ctx=gast.Load()))
    )
    forward_def = build.function(ctx.namer.new(f"{name}_forward"), args, forward_body)
    saved_param = ctx.namer.new("saved")
    unpack = []
    if saved_names:
        unpack.append(
            gast.Assign(
                targets=[gast.Tuple(elts=[build.store(n) for n in saved_names], ctx=gast.Store())],
                value=build.load(saved_param),
                type_comment=None,
            )
        )
    backward = _deletes_of_bound_names(backward, set(saved_names), backward_setup)
    backward_body = [*unpack, *backward_setup, *backward, gast.Return(value=returned)]
    backward_args = gast.arguments(
        args=[build.param(saved_param), build.param(seed_name)],
        posonlyargs=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[],
    )  # fmt: skip
    backward_def = build.function(ctx.namer.new(f"{name}_backward"), backward_args, backward_body)
    (forward, backward_fn), source = emit.compile_functions(
        [forward_def, backward_def], ctx.free_values, ctx.parsed.function, name
    )
    _copy_defaults(forward, ctx.parsed.function)
    return Derivative(
        weakref.ref(ctx.parsed.function), ctx.wrt, name, source, forward=forward,
        backward=backward_fn, returns=ctx.kinds.get(getattr(result, "id", None), ("value",)),
        zero_adjoints=optimize.zero_adjoints([*backward_setup, *backward], program.gradients),
    )  # fmt: skip


def _copy_defaults(generated: Callable, user: Callable) -> None:
    generated.__defaults__ = user.__defaults__
    generated.__kwdefaults__ = user.__kwdefaults__


def _defaults_as_names(args: gast.arguments, ctx: TransformContext) -> gast.arguments:
    """``args`` with each default that is not a constant (``scale=x``, evaluated where the
    user's function was defined) read from a name bound to the value it gave: the
    generated function is compiled elsewhere, where ``x`` means nothing."""
    function = ctx.parsed.function
    positional = args.posonlyargs + args.args
    values = function.__defaults__ or ()
    for i, default in enumerate(args.defaults):
        if not isinstance(default, gast.Constant) and i < len(values):
            param = positional[len(positional) - len(args.defaults) + i].id
            args.defaults[i] = build.load(
                ctx.bind_free(f"{param}_default", values[-len(args.defaults) + i])
            )
    keyword_values = function.__kwdefaults__ or {}
    for i, (param, default) in enumerate(zip(args.kwonlyargs, args.kw_defaults)):
        if default is not None and not isinstance(default, gast.Constant):
            if param.id in keyword_values:
                value = keyword_values[param.id]
                args.kw_defaults[i] = build.load(ctx.bind_free(f"{param.id}_default", value))
    return args


# -- intermediate stages for ag.source(stage=...) -----------------------------------------


def _annotated_source(node: gast.FunctionDef, ctx: TransformContext) -> str:
    header = f"# active names: {', '.join(sorted(ctx.active)) or '(none)'}\n"
    return header + emit.to_source(node)


def _stage_source(name: str, value: gast.FunctionDef | Program, ctx: TransformContext) -> str:
    """The function as it stands after the pass ``name``: the tree as source, with the
    active names after ``analyze``, the shape classes after ``shapes`` and the calls to
    recompute after ``checkpoint``; after ``reverse``, the forward and backward
    statements as one function."""
    if isinstance(value, Program):
        return _program_source(value, ctx)
    if name == "analyze":
        return _annotated_source(value, ctx)
    if name == "shapes":
        return _shapes_source(value, ctx)
    if name == "checkpoint":
        return _checkpoint_source(value)
    return emit.to_source(value)


def _checkpoint_source(node: gast.FunctionDef) -> str:
    marked = [
        emit.to_source(stmt).strip()
        for stmt in dataflow.statements(node.body)
        if anno.get(stmt, anno.Key.CHECKPOINT)
    ]
    header = f"# recomputed in the backward pass: {'; '.join(marked) or '(none)'}\n"
    return header + emit.to_source(node)


def _shapes_source(node: gast.FunctionDef, ctx: TransformContext) -> str:
    groups: dict[str, list[str]] = {}
    for name, shape in ctx.shape_classes.items():
        groups.setdefault(repr(shape), []).append(name)
    classes = sorted(", ".join(sorted(names)) for names in groups.values() if len(names) > 1)
    header = f"# same shape: {'; '.join(classes) or '(none known)'}\n"
    return header + emit.to_source(node)


def _program_source(program: Program, ctx: TransformContext) -> str:
    body = [*program.primal, emit.comment("backward"), *program.backward]
    body.append(gast.Return(value=_returned_gradients(program)))
    args = copy_tree(program.node.args)
    return emit.to_source(build.function(f"{ctx.function_name}_grad", args, body))
