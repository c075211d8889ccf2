"""``jit="numba"``: generated gradients compiled with Numba.

``ag.grad(f, jit="numba")`` makes the gradient as usual, then, once per argument types,
rewrites its source for Numba (``transform.jit``), binds the helpers it calls to their
compiled versions (``runtime.jit_helpers``) and the user's own functions it calls to
``numba.njit`` of them, and compiles it. A gradient that does not fit Numba's subset (a
list or dict argument, a call that runs on the tape, a NumPy call Numba lacks, a
construct the rewrite does not take) runs uncompiled, the ordinary generated gradient,
and ``ag.explain(f, *args, jit="numba")`` says why, naming the user's line where the
failure maps to one. Each compilation's time is logged on the ``astgrad`` logger and
reported by ``explain``.

A compiled call that raises is run again uncompiled: that call's result (or error) is
the ordinary gradient's, and if the uncompiled call succeeds the compiled version is
dropped for those argument types (``explain`` says so).
"""

from __future__ import annotations

import ast
import logging
import re
import time
import types
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from .runtime import anomaly as _anomaly
from .runtime.adjoints import finish_gradient
from .runtime.step_sums import StepSum

__all__ = ["JITS", "check_jit", "call", "explain_jit", "JitExplanation"]

JITS = ("numba",)
_INSTALL = "pip install astgrad[jit]"
log = logging.getLogger("astgrad")


def check_jit(jit: Any, mode: str = "auto", checkpoint: bool = False) -> str | None:
    """``jit`` checked: None, or "numba" with Numba importable and a mode it works with."""
    if jit is None:
        return None
    if jit not in JITS:
        raise ValueError(f"jit must be None or 'numba', not {jit!r}")
    if mode == "tape":
        raise ValueError('jit="numba" compiles generated source, which mode="tape" has not')
    if checkpoint:
        raise ValueError('jit="numba" does not take checkpoint=True')
    try:
        import numba  # noqa: F401
    except ImportError:
        raise ImportError(
            f'jit="numba" compiles gradients with Numba, which is not installed: {_INSTALL} '
            "(or pip install numba)"
        ) from None
    return jit


@dataclass
class Compiled:
    """One compilation (or the reason there is none) for one set of argument types."""

    types: tuple
    function: Any = None
    reason: str | None = None
    seconds: float = 0.0
    #: the rewritten source, for readers (``JitExplanation.source``)
    source: str = ""
    #: the sizes of the buffers of saved values (tags, numbers) a call is given
    capacity: tuple[int, int] | None = None
    #: whether an argument is a list (given as a tuple: ``_at_boundary``)
    lists: bool = False
    #: the numbers the compiled code reads from globals, which Numba compiles in as
    #: constants: (the live globals dict, name, value) each; a call finds them still there
    #: (``frozen_changed``) or compiles again
    frozen: tuple = ()
    #: where compiling failed: the names of the generated code the probing run never saw
    #: hold a value (a loop that ran no iteration), whose types Numba could not be told;
    #: a later call that sees more of them compiles again (``compiled_for``), at most
    #: ``_RETRIES`` times
    unseen: frozenset = frozenset()
    retries: int = 0

    def frozen_changed(self) -> bool:
        """Whether a global number the compiled code read as a constant was rebound."""
        for where, name, value in self.frozen:
            if isinstance(where, types.CellType):  # (a closure cell of a plain function)
                try:
                    now = where.cell_contents
                except ValueError:  # (emptied)
                    now = _MISSING
            else:
                now = where.get(name, _MISSING)
            if now is not value and (type(now) is not type(value) or now != value):
                return True
        return False

    def run(self, args: tuple) -> Any:
        """Call the compiled gradient, with buffers twice as large while they fill."""
        if self.lists:
            args = tuple(_at_boundary(a) for a in args)
        if self.capacity is None:
            return self.function(*args)
        while True:
            try:
                return self.function(*args, *self.capacity)
            except Exception as exc:
                if type(exc).__name__ != "StackFull":  # (runtime.jit_helpers.StackFull)
                    raise
                self.capacity = (2 * self.capacity[0], 2 * self.capacity[1])


# derivative -> {argument types: Compiled}; weak, as the pipeline's cache is
_compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _argument_types(args: tuple) -> tuple | str:
    """Numba's types of the arguments, or why they have none Numba compiles for."""
    import numba

    found = []
    for position, value in enumerate(args):
        items = value if type(value) in (list, tuple) else (value,)
        if type(value) in (list, tuple) and not value:
            return f"argument {position + 1} is an empty {type(value).__name__}"
        for item in items:
            # (exact types: a subclass of ndarray, np.matrix say, has other semantics)
            if type(item) not in _SCALARS and type(item) is not np.ndarray:
                return (
                    f"argument {position + 1} is {_described(value)}: the compiled gradient "
                    "takes numbers, NumPy arrays, and lists or tuples of them"
                )
            if type(item) is np.ndarray and item.dtype.kind not in "biuf":
                return f"argument {position + 1} holds an array of {item.dtype}"
        found.append(numba.typeof(_at_boundary(value)))
    return tuple(found)


_SCALARS = (bool, int, float, np.float64, np.float32, np.int64)


def _described(value: Any) -> str:
    if type(value) in (list, tuple):
        kinds = sorted({type(v).__name__ for v in value})
        return f"a {type(value).__name__} of {', '.join(kinds)}"
    return f"a {type(value).__name__}"


def _at_boundary(value: Any) -> Any:
    """What the compiled gradient is given for an argument: a list as a tuple (Numba's
    lists of arrays are reflected, slow and deprecated; a function that changes the list
    does not compile, and runs uncompiled)."""
    return tuple(value) if type(value) is list else value


_NOT_RUN = object()


def compiled_for(derivative: Any, args: tuple) -> tuple[Compiled, Any]:
    """The compiled gradient for arguments like ``args`` (compiled on first request),
    and, when this request compiled it, what the uncompiled gradient returned for
    ``args`` on the way (else ``_NOT_RUN``)."""
    kinds = _argument_types(args)
    if isinstance(kinds, str):
        return Compiled((), reason=kinds), _NOT_RUN
    table = _compiled.setdefault(derivative, {})
    found = table.get(kinds)
    if found is not None and not (found.unseen and found.retries < _RETRIES):
        return found, _NOT_RUN
    if found is None and derivative.fallbacks:
        call, origin, reason = derivative.fallbacks[0]
        where = f" at {origin}" if origin is not None else ""
        found = Compiled(kinds, reason=f"{call}{where} runs on the tape ({reason})")
        table[kinds] = found
        return found, _NOT_RUN
    # One uncompiled run says what type each name the code starts at None takes (raising
    # what the ordinary gradient raises, before anything is cached).
    result, starts = _probe(derivative, args)
    unseen, never_saved = _unseen(derivative, starts)
    if found is not None:  # (refused for want of types: compiled again if this run saw more)
        found.retries += 1
        if not unseen < found.unseen:
            return found, result
    if never_saved:
        # A value saved where the run did not go (a loop that ran no iteration): Numba
        # would type it from None alone, and the compiled code would move values of
        # another type through that save later (it crashed).
        shown = ", ".join(f"`{name}`" for name in sorted(never_saved))
        compiled = Compiled(
            kinds,
            reason=f"the run that typed the gradient saw no value of {shown} (a loop that "
            "ran no iteration); it runs uncompiled until a run with these argument types "
            "sees one",
        )
    else:
        compiled = _compile(derivative, kinds, starts)
    if compiled.function is None:
        compiled.unseen = unseen
        compiled.retries = found.retries if found is not None else 0
    table[kinds] = compiled
    return compiled, result


#: how many later calls may compile again a gradient refused for want of types
_RETRIES = 4


def _unseen(derivative: Any, probed: dict) -> tuple[frozenset, frozenset]:
    """The names the fused function starts at None (``x = None`` before anything else)
    that the probing run never saw hold another value; and of those, the ones a save the
    run never ran pushes (a loop that ran no iteration, a branch not taken): Numba would
    type them from None alone, and the compiled code would move values of another type
    through that save later."""
    function = getattr(derivative, "fused", None)
    if function is None:
        return frozenset(), frozenset()
    tree = ast.parse(derivative.source)
    definition = next((n for n in tree.body if isinstance(n, ast.FunctionDef)), None)
    started = set()
    for stmt in definition.body if definition is not None else ():
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, ast.Constant)
            and stmt.value.value is None
        ):
            break
        started.add(stmt.targets[0].id)
    table = probed.get(id(derivative))
    seen = set(table.kinds.get(function.__name__, {})) if table is not None else set()
    unseen = frozenset(started - seen)
    if not unseen or definition is None:
        return unseen, frozenset()
    from .transform import jit as rewrite_jit

    ran = table.ran.get(function.__name__, set()) if table is not None else set()
    pushes, _, _ = rewrite_jit._stack_names(definition)
    pushed = {
        node.args[0].id
        for node in ast.walk(definition)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in pushes
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Name)
        and rewrite_jit.site(node) not in ran
    }
    return unseen, unseen & pushed


def _compile(derivative: Any, kinds: tuple, starts: dict) -> Compiled:
    name = derivative.name
    started = time.perf_counter()
    try:
        frozen: list = []
        function, source = _numba_function(derivative, fused=True, starts=starts, frozen=frozen)
        import numba

        dispatcher = numba.njit(error_model="numpy")(function)
        capacity = None
        signature = kinds
        if function.__code__.co_argcount > len(kinds):  # it saves values: buffer sizes
            tags, numbers = starts.get("capacity", (0, 0))
            capacity = (tags + 64, numbers + 64)
            signature = (*kinds, numba.int64, numba.int64)
        dispatcher.compile(signature)
    except _Refused as exc:
        return Compiled(kinds, reason=str(exc))
    except Exception as exc:  # Numba's typing and lowering errors, and any other
        return Compiled(kinds, reason=_numba_reason(exc))
    seconds = time.perf_counter() - started
    signature = ", ".join(str(k) for k in kinds)
    log.info(
        "astgrad: compiled the gradient of %s with Numba for (%s) in %.2f s",
        name, signature, seconds,
    )  # fmt: skip
    lists = any(isinstance(k, numba.types.BaseTuple) for k in kinds)
    return Compiled(
        kinds, dispatcher, seconds=seconds, source=source, capacity=capacity, lists=lists,
        frozen=tuple(frozen),
    )  # fmt: skip


class _Refused(Exception):
    """The gradient does not fit: the message says why (and where)."""


def _numba_function(
    derivative: Any, fused: bool, starts: dict, frozen: list | None = None
) -> tuple[Any, str]:
    """The rewritten function (fused) or (forward, backward) pair of ``derivative``, in a
    namespace binding what it reads to compiled versions, and the rewritten source. The
    global numbers it (or a function it calls) reads, which Numba compiles in, go to
    ``frozen``; a global array or other mutable value refuses (``_frozen_globals``)."""
    frozen = [] if frozen is None else frozen
    from .runtime import jit_helpers
    from .transform import jit as rewrite_jit

    functions = [derivative.fused] if fused else [derivative.forward, derivative.backward]
    if any(f is None for f in functions):
        raise _Refused(f"{derivative.name}: no generated function to compile")
    filename = functions[0].__code__.co_filename
    free = _free_values(functions)
    names = _names_of(free)
    namespace: dict[str, Any] = dict(functions[0].__globals__)
    callees = {}
    for callee in derivative.callees:
        callees[id(callee.forward)] = (callee, 0)
        callees[id(callee.backward)] = (callee, 1)
    for name, value in free.items():
        module = getattr(value, "__module__", None) or ""
        key = (module, getattr(value, "__qualname__", None))
        if name in names.pop_run or name in names.zero_cotangent or value is StepSum:
            # (the rewrite replaces pop_run's loops, drops zero guards and writes a loop's
            # StepSum back as its own accumulation: transform/step_sums.py)
            continue
        if key in jit_helpers.JIT_HELPERS:
            namespace[name] = jit_helpers.JIT_HELPERS[key]
        elif id(value) in callees:
            callee, part = callees[id(value)]
            namespace[name] = _compiled_callee(callee, starts, frozen)[part]
        elif module.startswith("astgrad"):
            raise _Refused(
                f"{_first_use(derivative.source, name, filename)}the gradient calls astgrad's "
                f"{key[1] or name}, which has no compiled version"
            )
        else:
            namespace[name] = _compilable(value)
    helpers = {
        "jit_new_lists": jit_helpers.new_lists,
        "jit_push": jit_helpers.push,
        "jit_pop": jit_helpers.pop,
        "jit_push_shape": jit_helpers.push_shape,
        "jit_pop_shape": jit_helpers.pop_shape,
        "jit_zeros_like": jit_helpers.zeros_like,
        "jit_push_fixed": jit_helpers.push_fixed,
        "jit_push_shape_fixed": jit_helpers.push_shape_fixed,
        "jit_own": jit_helpers.own,
        "jit_buffer_from": jit_helpers.buffer_from,
        "jit_add_in_place": jit_helpers.add_in_place,
        "jit_add_into": jit_helpers.add_into,
        "jit_add_or": jit_helpers.add_or,
        "jit_mul_or": jit_helpers.mul_or,
        "jit_item": jit_helpers.item,
        "jit_zero_at": jit_helpers.zero_at,
        "jit_grown": jit_helpers.grown,
        "jit_StackFull": jit_helpers.StackFull,
        "jit_OutOfStep": jit_helpers.SavedValuesOutOfStep,
        "jit_np": np,
        **{f"jit_reduce_{name}": reducer for name, reducer in jit_helpers.REDUCERS.items()},
    }
    for taken in helpers:
        if taken in free or re.search(rf"\b{taken}\b", derivative.source):
            raise _Refused(f"the gradient already uses the name {taken}")
    namespace.update(helpers)
    _modules_of(namespace, names)
    params = {}
    for function in functions:
        params[function.__name__] = _gradient_params(derivative, function)
    try:
        probed = starts.get(id(derivative), rewrite_jit.Probed())
        tree = rewrite_jit.rewrite(derivative.source, names, params, probed)
    except rewrite_jit.NotCompilable as exc:
        where = _user_line(filename, exc.line + 1 if exc.line else None)
        raise _Refused(f"{where}{exc.reason}") from None
    ast.increment_lineno(tree, 1)  # the factory's header line comes before the source
    # Plain Python functions the code reads as globals (the user's callees that need no
    # gradient, helpers of theirs): compiled too.
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    for name in read:
        value = namespace.get(name)
        if isinstance(value, types.FunctionType):
            namespace[name] = _compilable(value)
    # (the names the functions bind or take are theirs, whatever the module calls so)
    local = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)
    }
    local |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    live = functions[0].__globals__
    frozen += _frozen_globals(
        {n: live for n in read - local if n in live and n not in free and n not in helpers}
    )
    code = compile(tree, filename, "exec")
    exec(code, namespace)
    made = tuple(namespace[f.__name__] for f in functions)
    source = ast.unparse(tree)
    return (made[0] if fused else made), source


def _names_of(free: dict[str, Any]) -> Any:
    """The free names of generated code bound to the helpers the rewrite recognizes."""
    from .transform import jit as rewrite_jit

    names = rewrite_jit.Names()
    for name, value in free.items():
        key = (getattr(value, "__module__", None), getattr(value, "__qualname__", None))
        if key == ("astgrad.runtime.adjoints", "shaped_like"):
            names.shaped_like.add(name)
        elif key == ("astgrad.runtime.adjoints", "pop_run"):
            names.pop_run.add(name)
        elif key == ("astgrad.runtime.adjoints", "restore_item"):
            names.restore_item.add(name)
        elif key == ("astgrad.runtime.rules.indexing", "scatter_grad"):
            names.scatters.add(name)
        elif key in (
            ("astgrad.runtime.adjoints", "add_at"),
            # (add_at's value, added in place where no other name holds the adjoint:
            # the rewrite keeps its own flags for that)
            ("astgrad.runtime.element_adjoints", "add_scattered"),
        ):
            names.scatters.add(name)
            names.add_at.add(name)
        elif key == ("astgrad.runtime.adjoints", "assigned_adjoint"):
            names.assigned_adjoint.add(name)
        elif key == ("astgrad.runtime.element_adjoints", "gradient_buffer"):
            names.gradient_buffer.add(name)
        elif key == ("astgrad.runtime.rules.containers", "add_adjoints"):
            names.add_adjoints.add(name)
        elif key == ("astgrad.runtime.adjoints", "zero_cotangent"):
            names.zero_cotangent.add(name)
        elif key == ("astgrad.runtime.rules.shared", "unbroadcast"):
            names.pure.add(name)
    return names


def _modules_of(namespace: dict, names: Any) -> None:
    """The names the code reads NumPy and ``ag.no_grad`` by (``np.mean``, ``with
    ag.no_grad():``), for forms the rewrite changes into ones Numba takes."""
    from .runtime.grad_mode import no_grad

    for name, value in namespace.items():
        if value is np:
            names.numpy.add(name)
        elif value is no_grad:
            names.no_grad.add(name)
        elif isinstance(value, types.ModuleType) and getattr(value, "no_grad", None) is no_grad:
            names.no_grad.add(f"{name}.no_grad")


def _free_values(functions: list) -> dict[str, Any]:
    """What the generated functions read from outside: their closure's values, and the
    globals of the user's module that are astgrad's own helpers (where the user imported
    one by the name generated code gives it, the code reads the user's global)."""
    free: dict[str, Any] = {}
    for function in functions:
        cells = (c.cell_contents for c in function.__closure__ or ())
        free.update(zip(function.__code__.co_freevars, cells))
    for function in functions:
        for name in function.__code__.co_names:
            value = function.__globals__.get(name)
            module = getattr(value, "__module__", None) or ""
            if name not in free and module.startswith("astgrad.") and callable(value):
                free[name] = value
    return free


def _gradient_params(derivative: Any, function: Any) -> list[str | None]:
    """The parameter each gradient ``function`` returns belongs to, in order."""
    if function.__name__.endswith("_backward"):
        return [None] * len(derivative.wrt)  # its parameters are in the saved tuple
    return list(derivative.wrt)


_callees: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled_callee(callee: Any, starts: dict, frozen: list) -> tuple[Any, Any]:
    """A callee's forward and backward functions, rewritten and given to ``numba.njit``
    (compiled when the caller is, for the types the caller passes); the global numbers
    they read go to ``frozen`` too (kept with them for each caller compiled after)."""
    found = _callees.get(callee)
    if found is None:
        import numba

        own: list = []
        (forward, backward), _ = _numba_function(callee, fused=False, starts=starts, frozen=own)
        found = (
            numba.njit(error_model="numpy")(forward),
            numba.njit(error_model="numpy")(backward),
            tuple(own),
        )
        _callees[callee] = found
    frozen += found[2]
    return found[0], found[1]


def _probe(derivative: Any, args: tuple) -> tuple[Any, dict]:
    """Run the gradient uncompiled on ``args``, watching what moves through each push and
    pop and what each generated function's names hold when it returns: ``(its result,
    {id(derivative): transform.jit.Probed})``, and the buffer sizes the fused function
    needed (``"capacity"``)."""
    from .transform import jit as rewrite_jit

    seen: dict[Any, Any] = {}
    # (tag count, number count) now and at most, over the fused function's pushes and pops
    counts = [0, 0, 0, 0]

    def probed(derivative: Any, fused: bool) -> tuple:
        functions = [derivative.fused] if fused else [derivative.forward, derivative.backward]
        filename = functions[0].__code__.co_filename
        namespace = dict(functions[0].__globals__)
        callees = {}
        for callee in derivative.callees:
            callees[id(callee.forward)] = (callee, 0)
            callees[id(callee.backward)] = (callee, 1)
        free = _free_values(functions)
        for name, value in free.items():
            if id(value) in callees:
                callee, part = callees[id(value)]
                value = probed(callee, fused=False)[part]
            namespace[name] = value
        found = seen.setdefault(id(derivative), rewrite_jit.Probed())

        shadow: list[str] = []  # (the push site of each value on the fused function's stack)

        def watch_push(function: str, where: str, value: Any, name: str | None) -> Any:
            if fused:
                shadow.append(where)
            return watch(function, where, value, name)

        def watch_pop(function: str, where: str, value: Any, name: str | None) -> Any:
            if fused:
                pair(function, shadow.pop() if shadow else "", where)
            return watch(function, where, value, name)

        def pair(function: str, pushed: str, popped: str) -> None:
            found.popped_at.setdefault(function, {}).setdefault(pushed, set()).add(popped)
            found.pushed_at.setdefault(function, {}).setdefault(popped, set()).add(pushed)

        def watch(function: str, where: str, value: Any, name: str | None) -> Any:
            found.ran.setdefault(function, set()).add(where)
            if value is None:
                # (a name not bound yet: compiled code starts it at a value of its type)
                return value
            if name is not None:
                start(function, name, value)
            number = _number_kind(value)
            kind = number or _array_kind(value)
            table = found.sites.setdefault(function, {})
            table[where] = kind if table.get(where, kind) == kind else ""
            if fused:
                counts[0] += 1  # (pushes and pops alike: an upper bound)
                counts[1] += number != ""
            return value

        def watch_run(function: str, where: str, run: list, name: str | None) -> list:
            for value in run:
                watch_pop(function, where, value, name)
            return run

        def start(function: str, name: str, value: Any) -> None:
            starts = found.starts.setdefault(function, {})
            kinds = found.kinds.setdefault(function, {})
            made = _start_of(value)
            if made is not None and starts.get(name, made) == made:
                starts[name] = made
            elif made is not None:
                starts[name] = ""  # two kinds: left to Numba (and its error)
            kind = (
                "number"
                if _number_kind(value)
                else "tuple"
                if type(value) is tuple and made
                else "array"
                if made
                else "other"
            )
            kinds[name] = kind if kinds.get(name, kind) == kind else "other"

        def record(function: str, names: dict) -> None:
            for name, value in names.items():
                if value is not None:
                    start(function, name, value)

        namespace.update(
            jit_probe=watch_pop, jit_probe_push=watch_push, jit_probe_run=watch_run,
            jit_record=record,
        )  # fmt: skip
        tree = rewrite_jit.probe(derivative.source, _names_of(free))
        ast.increment_lineno(tree, 1)
        exec(compile(tree, filename, "exec"), namespace)
        return tuple(namespace[f.__name__] for f in functions)

    (fused,) = probed(derivative, fused=True)
    result = fused(*args)
    for table in seen.values():
        for function, starts in table.starts.items():
            table.starts[function] = {n: e for n, e in starts.items() if e}
    seen["capacity"] = (counts[0], counts[1])
    return result, seen


def _number_kind(value: Any) -> str:
    """ "bool", "int" or "float" for a number of that kind, else ""."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)) and not isinstance(value, np.float16):
        return "float"
    return ""


def _array_kind(value: Any) -> str:
    """ "array float64 1" for a NumPy array of that dtype and number of dimensions (what
    a push or pop of arrays of one kind is written out for), else ""."""
    if type(value) is np.ndarray and value.dtype.isnative:
        return f"array {value.dtype.name} {value.ndim}"
    return ""


def _start_of(value: Any) -> str | None:
    """An expression for a value of ``value``'s type, or None."""
    if isinstance(value, (bool, np.bool_)):
        return "False"
    if isinstance(value, (int, np.integer)):
        return "0"
    if isinstance(value, (float, np.floating)):
        return "0.0"
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        shape = "(" + "0, " * value.ndim + ")"
        return f"jit_np.empty({shape}, jit_np.{value.dtype.name})"
    if type(value) is tuple:
        # What a callee's forward function saved: its values, and its stack (a list in
        # the uncompiled code; the stack's variables in the compiled one).
        parts = [_STACK_START if type(v) is list else _start_of(v) for v in value]
        if any(part is None for part in parts):
            return None
        return "(" + "".join(f"{part}, " for part in parts) + ")"
    return None


_STACK_START = (
    "(jit_np.empty((0,), jit_np.int8), 0, jit_np.empty((0,), jit_np.float64), 0, jit_new_lists())"
)


_user_functions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


_MISSING = object()

#: what a global may hold for Numba to compile it in and a call to check it is still so
_NUMBERS = (bool, int, float, complex, np.bool_, np.integer, np.floating, np.complexfloating)


def _frozen_globals(reads: dict[str, dict]) -> list:
    """``(globals dict, name, value)`` for each global number the code reads (``reads``:
    name -> the live dict it is read from), and those the user's plain functions it
    calls read (which Numba compiles as well), deeply, with ``(cell, name, value)`` for
    their closure cells. Numba compiles a global's value in as a constant: a number can
    be checked on each call; an array (or any other mutable value) could change in place
    unseen, so the gradient is not compiled."""
    found: list = []
    seen: set[int] = set()
    todo = list(reads.items())
    while todo:
        name, where = todo.pop()
        value = where.get(name, _MISSING)
        if value is _MISSING or isinstance(value, (types.ModuleType, type)) or callable(value):
            if isinstance(value, types.FunctionType) and id(value) not in seen:
                seen.add(id(value))
                if not (value.__module__ or "").startswith(("astgrad", "numpy", "numba")):
                    inner = value.__globals__
                    todo += [(n, inner) for n in value.__code__.co_names if n in inner]
                    # (and its closure cells, which Numba compiles in the same way)
                    cells = zip(value.__code__.co_freevars, value.__closure__ or ())
                    todo += [(n, {n: c}) for n, c in cells]
            continue
        if isinstance(value, types.CellType):
            try:
                contents = value.cell_contents
            except ValueError:  # (an empty cell)
                continue
            if isinstance(contents, _NUMBERS):
                found.append((value, name, contents))  # (checked in the cell itself)
            else:
                todo.append((name, {name: contents}))  # (a function, a module, an array...)
            continue
        if isinstance(value, _NUMBERS):
            found.append((where, name, value))
            continue
        raise _Refused(
            f"the gradient reads the global {name} (a {type(value).__name__}), which Numba "
            "would compile in as a constant and not see change; pass it as an argument"
        )
    return found


def _compilable(value: Any) -> Any:
    """A plain Python function of the user's as ``numba.njit`` of it; anything else as
    it is (Numba reads numbers, arrays, modules and builtins as they are)."""
    if not isinstance(value, types.FunctionType) or (value.__module__ or "").startswith(
        ("astgrad", "numpy", "numba")
    ):
        return value
    found = _user_functions.get(value)
    if found is None:
        import numba

        found = _user_functions[value] = numba.njit(error_model="numpy")(value)
    return found


def _user_line(filename: str, line: int | None) -> str:
    """``"file:line `text`: "`` of the user's line behind a generated line, or ""."""
    from .transform import emit

    origin = emit.LINE_ORIGINS.get(filename, {}).get(line) if line else None
    if origin is None:
        return ""
    return f"{origin.filename}:{origin.line} `{origin.text}`: "


def _first_use(source: str, name: str, filename: str) -> str:
    for number, text in enumerate(source.splitlines(), 1):
        if re.search(rf"\b{re.escape(name)}\b", text) and not text.lstrip().startswith("#"):
            return _user_line(filename, number + 1)
    return ""


_NUMBA_LINE = re.compile(r'File "([^"]+)", line (\d+)')
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _numba_reason(exc: BaseException) -> str:
    """What Numba said, short: its first line, and the user's line it maps to."""
    text = _ANSI.sub("", str(exc))
    from .transform import emit

    where = ""
    for filename, line in _NUMBA_LINE.findall(text):
        origin = emit.LINE_ORIGINS.get(filename, {}).get(int(line))
        if origin is not None:
            where = f"{origin.filename}:{origin.line} `{origin.text}`: "
            break
        if (
            not filename.startswith("<")
            and "site-packages" not in filename
            and "astgrad" not in filename
        ):
            where = where or f"{filename}:{line}: "
    text = re.sub(r"Function\(<(?:built-in )?function (\w+)(?: at 0x[0-9a-f]+)?>\)", r"\1", text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    skip = ("Failed in nopython mode pipeline", "During:", "File ", "^", "<source elided>")
    found = [i for i, ln in enumerate(lines) if not ln.startswith(skip)]
    detail = lines[found[0]] if found else type(exc).__name__
    if found and detail.endswith("found for signature:") and found[0] + 1 < len(lines):
        detail = f"{detail} {lines[found[0] + 1].lstrip('> ')}"
    if len(detail) > 300:
        detail = detail[:300] + "..."
    return f"{where}Numba cannot compile it: {detail}"


def call(differentiated: Any, args: tuple, kwargs: dict) -> Any:
    """A call of ``ag.grad(f, jit="numba")``: compiled where it fits, else uncompiled.

    ``_Differentiated.__call__`` tries the last call's plan first (``_plan_for``); this
    runs where there is none or it missed, and makes the plan again where the call ran
    compiled."""
    target = differentiated.target
    # (A plan that missed is dropped: set again below, for these arguments, only after
    # a compiled run succeeds; a compiled gradient dropped after raising leaves none.)
    differentiated._jit_plan = None
    if kwargs or _anomaly.threads:  # (anomaly mode's checks are the uncompiled code's)
        return differentiated._call(args, kwargs)
    # Calls like an earlier compiled one (same Python types, dtypes, dimensions and
    # layouts: what Numba's types depend on) skip the general checks.
    key = _fast_key(args)
    fast = differentiated.__dict__.get("_jit_calls")
    if fast is None:
        fast = differentiated.__dict__["_jit_calls"] = {}
    found = fast.get(key) if key is not None else None
    if found is not None and found[1].frozen and found[1].frozen_changed():
        found = None  # (a global number compiled in was rebound: compiled again below)
    if found is not None and found[1].function is not None and not found[0].is_stale():
        try:
            value, raw = found[1].run(args)
        except Exception:
            pass  # (the general path below runs it again and decides)
        else:
            differentiated._jit_plan = _plan_of(differentiated, fast, key, found)
            return _package(differentiated, value, raw, [args[p] for p in target.positions])
    from .api import _kind
    from .checks import check_differentiable

    try:
        originals = target.values(args, {})
        check_differentiable(target.names, originals)
    except Exception:
        return differentiated._call(args, kwargs)  # (which raises the same, with context)
    derivative = differentiated._derivative(tuple(_kind(v) for v in originals))
    if derivative == "tape":
        return differentiated._call(args, kwargs)
    try:
        compiled, result = compiled_for(derivative, args)
        if compiled.frozen and compiled.frozen_changed():
            # A global number the compiled code holds as a constant was rebound: the
            # code is compiled again for the value it has now.
            _compiled.get(derivative, {}).pop(compiled.types, None)
            for stale in [k for k, entry in fast.items() if entry[1] is compiled]:
                del fast[stale]
            _forget_compiled_helpers(derivative)
            compiled, result = compiled_for(derivative, args)
    except Exception:
        return differentiated._call(args, kwargs)  # (the ordinary gradient's error)
    if compiled.function is None:
        if result is not _NOT_RUN:  # (the uncompiled run that probed types: its result)
            value, raw = result
            return _package(differentiated, value, raw, originals)
        return differentiated._call(args, kwargs)
    try:
        if result is not _NOT_RUN:
            value, raw = result  # (the first call: the uncompiled run that probed types)
        else:
            value, raw = compiled.run(args)
    except Exception as exc:
        result = differentiated._call(args, kwargs)  # (its error, if it fails too)
        compiled.function = None
        differentiated._jit_plan = None
        compiled.reason = (
            f"the compiled gradient raised {type(exc).__name__}: {exc}, where the uncompiled "
            "one did not; it runs uncompiled for these argument types"
        )
        log.warning("astgrad: %s", compiled.reason)
        return result
    if key is not None and all(p is not None and p < len(args) for p in target.positions):
        found = fast[key] = (derivative, compiled, None)
        differentiated._jit_plan = _plan_of(differentiated, fast, key, found)
    return _package(differentiated, value, raw, originals)


def _forget_compiled_helpers(derivative: Any) -> None:
    """Drop the compiled callees and plain functions a compiled gradient used, which hold
    global numbers as they were when compiled (rare: a global the code reads rebound)."""
    todo = list(derivative.callees)
    while todo:
        callee = todo.pop()
        _callees.pop(callee, None)
        todo += callee.callees
    _user_functions.clear()


def _plan_of(differentiated: Any, fast: dict, key: tuple, found: tuple) -> Any:
    """The plan for calls with ``key``'s arguments, or None where they take none (made
    once per key and buffer sizes, kept in ``fast``'s entry: False for none)."""
    derivative, compiled, plan = found
    if plan is None or (plan is not False and plan.capacity != compiled.capacity):
        plan = _plan_for(differentiated, key, derivative, compiled) or False
        fast[key] = (derivative, compiled, plan)
    return plan or None


#: ``flags.num`` bits of ``flags.carray``: C_CONTIGUOUS, ALIGNED, WRITEABLE
_CARRAY = 0x1 | 0x100 | 0x400


def _plan_for(differentiated: Any, key: tuple, derivative: Any, compiled: Compiled) -> Any:
    """A *plan* for calls like the one with ``key`` that just ran compiled: a function of
    the call's ``args`` made from generated source (as ``runtime.plans``' are), which
    returns the call's result, or ``MISS`` for the general path (``call``) to take the
    call. It does what that path's cached case does, written out for these arguments:
    the same key read argument by argument, compared by identity and ``==`` with this
    one's, without a tuple built and hashed; the derivative's guard called
    (``is_stale`` outside anomaly mode, which misses); the compiled code's entry point
    for these types called (Numba's dispatcher, which types each argument again,
    skipped: the key settles the types, as ``_argument_types`` found them); the
    gradient returned as it is in ``_package``'s common cases, else finished there.

    None where the arguments are other than numbers and arrays, a number's type is not
    the one a later number of its Python type is given as (an ``int`` past int64's
    range typed ``uint64``), or the derivative's parameters are not all among ``args``.
    """
    import numba

    from .runtime.plans import MISS

    target = differentiated.target
    function = compiled.function
    positions = target.positions
    if function is None or compiled.lists or compiled.frozen:
        # (global numbers compiled in are checked on the general path, each call)
        return None
    if not all(p is not None and p < len(key) for p in positions):
        return None
    # Numba's type of a later argument matching each part of the key, which the entry
    # point must have been compiled for (a Python number's type is its value's for int)
    scalars = {float: numba.float64, int: numba.int64, bool: numba.boolean}
    namespace: dict[str, Any] = {
        "MISS": MISS, "anomaly": _anomaly, "ndarray": np.ndarray,
        "check": derivative.guard.check, "finish": finish_gradient,
    }  # fmt: skip
    names = [f"a{i}" for i in range(len(key))]
    tests = []
    for i, (part, kind) in enumerate(zip(key, compiled.types)):
        if type(part) is tuple and len(part) == 3 and isinstance(part[0], np.dtype):
            # an array's (dtype, ndim, flag bits)
            dtype, ndim, bits = part
            namespace[f"t{i}"] = dtype
            tests.append(
                f"type(a{i}) is not ndarray or a{i}.dtype is not t{i} or a{i}.ndim != {ndim}"
                f" or a{i}.flags.num & {_LAYOUT_FLAGS} != {bits}"
            )
        elif part in scalars and kind == scalars[part]:
            namespace[f"k{i}"] = part
            tests.append(f"type(a{i}) is not k{i}")
        else:
            return None
    signature = tuple(compiled.types)
    extra = ""
    if compiled.capacity is not None:
        signature = (*signature, numba.int64, numba.int64)
        extra = f", {compiled.capacity[0]}, {compiled.capacity[1]}"
    overload = function.overloads.get(signature)
    namespace["entry"] = function if overload is None else overload.entry_point
    guard = "" if derivative.guard.check is _nothing_to_check() else " or not check()"
    # (One try for the unpacking, whose ValueError is another number of arguments, and
    # the compiled call, whose errors the general path sees again and decides on; the
    # tests between raise nothing, and the guard catches its own errors.)
    lines = [
        "def plan(args):",
        "    if anomaly.threads:",
        "        return MISS",
        "    try:",
        f"        {''.join(n + ', ' for n in names)}= args",
        f"        if {' or '.join(tests)}{guard}:",
        "            return MISS",
        f"        value, raw = entry({', '.join(names)}{extra})",
        "    except Exception:",
        "        return MISS",
    ]
    if len(positions) == 1:
        p = positions[0]
        part = key[p]
        if type(part) is tuple:  # (an array: no list gets a plan)
            lines += [
                f"    if not (type(raw) is ndarray and raw.dtype is t{p}"
                f" and raw.shape == a{p}.shape and raw.flags.num & {_CARRAY} == {_CARRAY}):",
                f"        raw = finish(raw, a{p})",
            ]
        elif part is float:
            lines += ["    if type(raw) is not float:", f"        raw = finish(raw, a{p})"]
        else:
            lines.append(f"    raw = finish(raw, a{p})")
        gradients = "raw" if target.single else "(raw,)"
    else:
        finished = [f"finish(raw[{j}], a{p})" for j, p in enumerate(positions)]
        gradients = f"({', '.join(finished)},)"
    result = f"(value, {gradients})" if differentiated.with_value else gradients
    lines.append(f"    return {result}")
    source = "\n".join(lines) + "\n"
    exec(compile(source, "<astgrad jit plan>", "exec"), namespace)
    plan = namespace["plan"]
    plan.capacity = compiled.capacity
    plan.source = source  # (for readers and tests)
    return plan


def _nothing_to_check() -> Any:
    from .transform.guards import nothing_to_check

    return nothing_to_check


def _package(differentiated: Any, value: Any, raw: Any, originals: list) -> Any:
    """The gradients in their arguments' types, with the value if it was asked for."""
    target = differentiated.target
    if len(originals) == 1:
        like = originals[0]
        kind = type(raw)
        # (the common cases, finished already: a float for a float argument, a fresh
        # C-contiguous array of the argument's dtype and shape, what finish_gradient
        # gives back as it is)
        if kind is float and type(like) is float:
            finished = raw
        elif (
            kind is np.ndarray
            and type(like) is np.ndarray
            and raw.dtype is like.dtype
            and raw.shape == like.shape
            and raw.flags.carray
        ):
            finished = raw
        else:
            finished = finish_gradient(raw, like)
        gradients = finished if target.single else (finished,)
    else:
        gradients = tuple(finish_gradient(g, x) for g, x in zip(raw, originals))
    return (value, gradients) if differentiated.with_value else gradients


#: NumPy's flag bits Numba's array types depend on: C_CONTIGUOUS, F_CONTIGUOUS, ALIGNED,
#: WRITEABLE
_LAYOUT_FLAGS = 0x1 | 0x2 | 0x100 | 0x400


def _fast_key(args: tuple) -> tuple | None:
    """What Numba's types of ``args`` depend on, cheaply; None for other arguments."""
    key = []
    for value in args:
        kind = type(value)
        if kind is np.ndarray:
            # (layout, alignment and writeability: one read of the flags' bits)
            key.append((value.dtype, value.ndim, value.flags.num & _LAYOUT_FLAGS))
        elif kind in (float, int, bool):
            key.append(kind)
        elif kind in (list, tuple):
            part = _fast_key(value)
            if part is None:
                return None
            key.append((kind, part))
        else:
            return None
    return tuple(key)


@dataclass(frozen=True)
class JitExplanation:
    """What ``ag.grad(f, jit="numba")`` does with arguments like the ones given.

    ``compiled`` says whether the gradient runs compiled; ``reason`` why not;
    ``seconds`` how long compiling took (the first call's extra time); ``ordinary`` the
    report of the gradient itself (``ag.explain(f)``).
    """

    function: str
    compiled: bool
    reason: str | None
    seconds: float
    types: tuple
    ordinary: Any
    source: str = ""

    @property
    def mode(self) -> str:
        return self.ordinary.mode

    def __str__(self) -> str:
        signature = ", ".join(str(t) for t in self.types)
        if self.compiled:
            return (
                f"{self.function}: compiled with Numba for ({signature}) in "
                f"{self.seconds:.2f} s (the first call's compile time)"
            )
        return f"{self.function}: runs uncompiled (jit='numba'): {self.reason}"


def explain_jit(fun: Any, args: tuple, wrt: Any, ordinary: Any) -> JitExplanation:
    """``ag.explain(f, *args, jit="numba")``: compiles for ``args`` (as a first call
    would) and says whether it fits and how long compiling took."""
    from .api import _Differentiated, _kind, _Target
    from .objects import other_kinds
    from .transform import pipeline

    name = ordinary.function
    if not args:
        return JitExplanation(
            name, False, "give example arguments: the gradient is compiled per argument types",
            0.0, (), ordinary,
        )  # fmt: skip
    if ordinary.mode == "error":
        return JitExplanation(name, False, ordinary.error, 0.0, (), ordinary)
    if ordinary.mode != "source":
        fallback = ordinary.fallbacks[0] if ordinary.fallbacks else None
        reason = f"{fallback} (runs on the tape)" if fallback else "it runs on the tape"
        return JitExplanation(name, False, reason, 0.0, (), ordinary)
    function = fun.function if isinstance(fun, _Differentiated) else fun
    target = _Target(function, 0 if wrt is None else wrt)
    values = target.values(args, {})
    kinds = dict(zip(target.names, (_kind(v) for v in values)))
    # (the kinds of the arguments not differentiated too, as a call makes its derivative:
    # what ``explain`` compiles is what the call runs)
    kinds.update(other_kinds(target, args))
    derivative = pipeline.derive(function, target.names, param_kinds=kinds, mode="auto")
    compiled, _ = compiled_for(derivative, args)
    return JitExplanation(
        name, compiled.function is not None, compiled.reason, compiled.seconds,
        compiled.types, ordinary, compiled.source,
    )  # fmt: skip
