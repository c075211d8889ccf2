"""Second derivatives and whole Jacobians, built from the two generated modes.

``hvp`` is reverse over forward: forward mode writes ``f_jvp``, which computes ``f`` and
its tangent along ``v``; reverse mode then differentiates that generated function, and
the gradient of the tangent is ``H @ v``. Both are readable source (``ag.source`` of
each), and neither keeps anything but what one gradient keeps. ``jacobian`` with
``mode="forward"`` pushes every input direction at once through batched forward code
(``transform/batching.py``), and ``hessian`` does the same over the generated gradient;
where that cannot be done, they take one ``jvp`` or ``hvp`` per direction. With
``mode="reverse"``, ``jacobian`` runs one forward pass and the generated pullback once
for every output direction (batched forward mode over the pullback, which is linear in
its cotangent), or one pullback per direction.
"""

from __future__ import annotations

import ast
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .api import MODES, Wrt, _kind, _Target
from .forward import _HOST, _check_arguments, _moving_names, caller, host_key, jvp
from .forward import _derivative as _forward_derivative
from .nested import is_gradient
from .runtime.adjoints import finish_gradient
from .runtime.device import CPU, device_guard, placement
from .runtime.fallback import on_tape
from .runtime.objects import blank, differentiable, fields, is_namedtuple, is_object
from .transform import pipeline
from .transform.errors import TransformError

__all__ = ["hvp", "hessian", "jacobian"]


def hvp(
    fun: Callable, primals: Sequence[Any], tangents: Sequence[Any], *, mode: str = "auto"
) -> Any:
    """The Hessian of a scalar ``fun`` at ``primals`` times ``tangents``: one entry per
    tangent that is not None (a single array when there is one), each shaped like its
    argument. ``H @ v`` in one pass forward and one back, never forming ``H``.

    >>> import numpy as np
    >>> import astgrad as ag
    >>> def f(x):
    ...     return np.sum(x ** 3)
    >>> ag.hvp(f, (np.array([1.0, 2.0]),), (np.array([1.0, 0.0]),))
    array([6., 0.])
    """
    if mode not in MODES:
        _check_mode(mode)
    ready = _ready_hvp(fun, primals, tangents, mode)
    if ready is not None:
        tangent, saved = ready[5](primals, tangents)
        return _reversed(fun, ready[1], ready[4], tangent, saved, primals, ready[3])
    primals, tangents = _check_arguments(fun, primals, tangents)
    moving = tuple(i for i, t in enumerate(tangents) if t is not None)
    if not moving:
        raise ValueError("ag.hvp: every tangent is None; give at least one direction")
    for i in moving:
        if type(primals[i]) is not np.ndarray and (
            is_object(primals[i]) or is_namedtuple(primals[i])
        ):
            # (its reverse-over-forward lost the object's tangent: zeros, silently)
            raise TypeError(
                f"ag.hvp does not take objects yet, and argument {i} is a "
                f"{type(primals[i]).__qualname__}: pass the arrays it holds as arguments "
                "(ag.hvp(lambda W: f(Layer(W), x), (m.W,), (v,)))"
            )
    if is_gradient(fun):
        raise NotImplementedError(
            f"ag.hvp of {getattr(fun, '__qualname__', fun)!r}, a gradient: third "
            'derivatives run on the tape only (mode="tape" throughout)'
        )
    if mode != "tape":
        try:
            return _generated_hvp(fun, primals, tangents, moving, mode)
        except TransformError:
            if mode == "source":
                raise
    return _tape_hvp(fun, primals, tangents, moving)


def _generated_hvp(fun: Callable, primals: tuple, tangents: tuple, moving: tuple, mode: str) -> Any:
    names = _moving_names(fun, moving)
    kinds = tuple(_kind(primals[i]) for i in moving)
    forward, pair = _hvp_forward(fun, names, kinds, mode)
    # Reverse mode over the generated forward function: the gradient of its tangent.
    reverse = _reverse_of(forward, names, kinds, mode)
    tangent_names = forward.tangent_names
    named = {
        tangent_names[name]: _as_float(tangents[i], primals[i]) for name, i in zip(names, moving)
    }
    key = host_key(primals, tangents, mode)
    if key is not None:
        keywords = tuple(tangent_names[n] for n in names)
        call = caller(reverse.forward, len(primals), keywords, moving)
        entry = (forward, reverse, keywords, moving, pair, call)
        _ready_hvps.setdefault(fun, {})[key] = entry
    # (host arguments, the common case, need no device made current)
    where = CPU if all(type(p) in _HOST for p in primals) else placement(primals)
    if where is CPU:
        return _run_hvp(fun, reverse, pair, primals, named, moving)
    with device_guard(where):
        return _run_hvp(fun, reverse, pair, primals, named, moving)


def _hvp_forward(fun: Callable, names: tuple, kinds: tuple, mode: str) -> tuple[Any, bool]:
    """The forward derivative ``hvp`` differentiates, and whether it returns the pair
    ``(value, tangent)``: ``f_tangent``, returning the tangent alone, so that the value's
    own computation and its cotangent (zero) are left out; ``f_jvp`` where the function
    has a loop, whose primal values the tangent does not read would get the adjoint 0
    (a number) when the reversed loop starts, which rules for arrays do not take (there
    the value's cotangent 0.0 makes them arrays of zeros)."""
    forward = _forward_derivative(fun, names, kinds, mode, "tangent")
    if _has_loop(forward):
        return _forward_derivative(fun, names, kinds, mode), True
    return forward, False


#: forward derivative -> whether its function has a loop
_loops: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _has_loop(forward: Any) -> bool:
    found = _loops.get(forward)
    if found is None:
        tree = ast.parse(forward.source)
        found = _loops[forward] = any(isinstance(n, (ast.For, ast.While)) for n in ast.walk(tree))
    return found


def _run_hvp(
    fun: Callable, reverse: Any, pair: bool, primals: tuple, named: dict, moving: tuple
) -> Any:
    """Reverse mode over the forward derivative: the gradient of the tangent."""
    tangent, saved = reverse.forward(*primals, **named)
    return _reversed(fun, reverse, pair, tangent, saved, primals, moving)


def _reversed(
    fun: Callable, reverse: Any, pair: bool, tangent: Any, saved: Any, primals: tuple,
    moving: tuple,
) -> Any:  # fmt: skip
    """The backward pass from the forward one's ``tangent`` (``(value, tangent)`` where
    ``pair``) and ``saved``."""
    if pair:
        tangent = tangent[1]  # (value, tangent), of one shape
    if type(tangent) is not _float64 and np.ndim(tangent) != 0:
        raise ValueError(
            f"ag.hvp: {getattr(fun, '__qualname__', fun)} returns a value of shape "
            f"{np.shape(tangent)}; the Hessian-vector product needs a scalar function"
        )
    return _products(reverse.backward(saved, (0.0, 1.0) if pair else 1.0), primals, moving)


def _products(grads: Any, primals: tuple, moving: tuple) -> Any:
    """The backward pass's gradients as ``hvp`` gives them: one per moving argument, each
    shaped like it (zeros where the tangent does not depend on it), real for a real
    argument (the real part of what reached it, where complex values came between:
    docs/complex.md)."""
    single = len(moving) == 1
    out = []
    for grad, i in zip((grads,) if single else grads, moving):
        like = primals[i]
        # (the common case, an array of its argument's shape, without finish_gradient)
        if (
            type(grad) is not _ndarray
            or type(like) is not _ndarray
            or grad.shape != like.shape
            or grad.dtype.kind == "c"
        ):
            grad = finish_gradient(grad, like)
        out.append(grad)
    return out[0] if single else tuple(out)


_float64 = np.float64
_ndarray = np.ndarray
#: function -> {forward.host_key(...): (forward derivative, reverse derivative, tangent
#: keywords, moving positions, pair, caller)}: what ``hvp`` found for host float arrays,
#: reached again without the checks and look-ups (they cost more than a small function's
#: hvp)
_ready_hvps: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _ready_hvp(fun: Callable, primals: Any, tangents: Any, mode: str) -> tuple | None:
    """``(forward, reverse, tangent keywords, moving positions, pair, caller)`` of an hvp
    that ran before with arguments of these kinds, while both guards hold; None otherwise."""
    if mode == "tape":
        return None
    key = host_key(primals, tangents, mode)
    if key is None:
        return None
    try:
        table = _ready_hvps.get(fun)
    except TypeError:  # not weakly referable
        return None
    entry = table.get(key) if table is not None else None
    if entry is None or entry[0].is_stale() or entry[1].is_stale() or is_gradient(fun):
        return None
    return entry


#: forward derivative -> {(names, kinds, mode): reverse derivative of its jvp}
_reverses: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _reverse_of(forward: Any, names: tuple, kinds: tuple, mode: str) -> Any:
    table = _reverses.setdefault(forward, {})
    key = (names, kinds, mode)
    found = table.get(key)
    if found is None or found.is_stale():
        found = table[key] = pipeline.derive(
            forward.jvp, names, split=True, param_kinds=dict(zip(names, kinds)), mode=mode
        )
    return found


def _tape_hvp(fun: Callable, primals: tuple, tangents: tuple, moving: tuple) -> Any:
    from . import autograd_grad, tensor
    from .runtime.inplace import snapshot

    leaves = [tensor(primals[i], requires_grad=True) for i in moving]
    args = list(primals)
    for i, leaf in zip(moving, leaves):
        args[i] = leaf
    # (as a gradient run on the tape: a write into an argument changes a copy of its own,
    # and the derivatives are taken at the arguments as given, through stand-ins that keep
    # each leaf's accumulator: runtime/tape_jvp.py)
    arguments = (leaves, tuple(args), {}, fun)
    for leaf in leaves:
        leaf._argument = arguments
    entries = [snapshot(leaf, False) for leaf in leaves]
    # (as the tape runs a function: math, SciPy's functions with rules and np.block of
    # nested lists then record on tensors)
    value = on_tape(fun)(*args)
    # (Where the value or a gradient does not depend on an argument, as for a constant or
    # linear function, its part of the product is zero, as ag.grad's gradient is.)
    if np.ndim(getattr(value, "data", value)) != 0:
        raise ValueError(
            f"ag.hvp: {getattr(fun, '__qualname__', fun)} returns a value of shape "
            f"{np.shape(getattr(value, 'data', value))}; the Hessian needs a scalar function"
        )
    products = [None] * len(leaves)
    if getattr(value, "requires_grad", False):
        gradients = autograd_grad(value, entries, create_graph=True, allow_unused=True)
        terms = [(g * tangents[i]).sum() for g, i in zip(gradients, moving) if g is not None]
        # complex arguments pair with their tangents by Re(sum(g * t)) (docs/complex.md)
        total = sum(term.real if term.dtype.kind == "c" else term for term in terms)
        if getattr(total, "requires_grad", False):
            products = autograd_grad(total, entries, allow_unused=True)
    out = [
        np.zeros(np.shape(primals[i])) if p is None else _raw(p, primals[i])
        for p, i in zip(products, moving)
    ]
    return out[0] if len(out) == 1 else tuple(out)


def _raw(value: Any, like: Any) -> Any:
    data = getattr(value, "data", value)
    return float(data) if isinstance(like, float) else np.asarray(data)


def hessian(fun: Callable, *, wrt: Wrt = 0, mode: str = "auto") -> Callable:
    """A function giving the Hessian of a scalar ``fun`` with respect to ``wrt``: of shape
    ``x.shape + x.shape`` (a float for a float argument); with a tuple ``wrt``, the
    nested tuple of blocks ``H[i][j]`` of shape ``args[i].shape + args[j].shape``. Every
    basis direction at once, by batched forward mode over the generated gradient; one
    Hessian-vector product per direction where that cannot be done.

    >>> import numpy as np
    >>> import astgrad as ag
    >>> ag.hessian(lambda x: np.sum(x ** 3))(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    _check_mode(mode)

    def hessian_of(*args: Any) -> Any:
        target = _Target(fun, wrt)
        positions = _positions(target)
        _refuse_complex("hessian", fun, [args[i] for i in positions])
        if mode != "tape":
            found = _batched_hessian(fun, args, positions, target.names)
            if found is not None:
                return found[0][0] if target.single else found
        blocks = []
        moving = sorted(positions)
        products_along = _prepared_hvp(fun, args, tuple(moving), mode)
        for i in positions:
            rows = []
            for direction in _basis(args[i]):
                tangents = [None] * len(args)
                tangents[i] = direction
                for j in positions:
                    if tangents[j] is None:
                        tangents[j] = _zeros(args[j])
                if products_along is not None:
                    products = products_along(tangents)
                else:
                    products = hvp(fun, args, tangents, mode=mode)
                products = products if isinstance(products, tuple) else (products,)
                # (in the order of wrt, where hvp gives them in the arguments' order)
                rows.append(tuple(products[moving.index(j)] for j in positions))
            blocks.append(
                tuple(
                    _stack([row[k] for row in rows], args[i], args[j])
                    for k, j in enumerate(positions)
                )
            )
        if target.single:
            return blocks[0][0]
        return tuple(blocks)

    return hessian_of


def _prepared_hvp(fun: Callable, args: tuple, moving: tuple, mode: str) -> Any:
    """``tangents -> ag.hvp(fun, args, tangents)`` for many tangents at the same
    arguments: the generated functions found once, and the checks ``hvp`` makes on every
    call made once; None where ``hvp`` itself must run (the tape, objects, a function
    that cannot be generated, arrays on a device)."""
    if mode == "tape" or is_gradient(fun) or not all(_moves(args[i]) for i in moving):
        return None
    if placement(args) is not CPU:
        return None
    names = _moving_names(fun, moving)
    kinds = tuple(_kind(args[i]) for i in moving)
    try:
        forward, pair = _hvp_forward(fun, names, kinds, mode)
        reverse = _reverse_of(forward, names, kinds, mode)
    except TransformError:
        return None
    tangent_names = [forward.tangent_names[name] for name in names]

    def products_along(tangents: list) -> Any:
        named = {key: _as_float(tangents[i], args[i]) for key, i in zip(tangent_names, moving)}
        tangent, saved = reverse.forward(*args, **named)
        if pair:
            tangent = tangent[1]
        if np.ndim(tangent) != 0:
            raise ValueError(
                f"ag.hessian: {getattr(fun, '__qualname__', fun)} returns a value of shape "
                f"{np.shape(tangent)}; the Hessian needs a scalar function"
            )
        return _products(reverse.backward(saved, (0.0, 1.0) if pair else 1.0), args, moving)

    return products_along


def jacobian(fun: Callable, *, wrt: Wrt = 0, mode: str = "reverse") -> Callable:
    """A function giving the Jacobian of ``fun`` with respect to ``wrt``: of shape
    ``out.shape + x.shape`` (a tuple of them for a tuple ``wrt``). ``mode="forward"``
    pushes every input direction at once through batched forward code (one ``jvp`` per
    direction where that cannot be done), ``"reverse"`` pulls every output direction
    back at once after a single forward pass (one pullback per direction where it
    cannot): pick the smaller side. In reverse mode, an
    object argument's Jacobian has the object's structure, as ``ag.grad`` gives it.

    >>> import numpy as np
    >>> import astgrad as ag
    >>> ag.jacobian(lambda x: x ** 2)(np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    """
    if mode not in ("forward", "reverse"):
        raise ValueError(f"jacobian's mode is 'forward' or 'reverse', not {mode!r}")

    def jacobian_of(*args: Any) -> Any:
        target = _Target(fun, wrt)
        positions = _positions(target)
        _refuse_complex("jacobian", fun, [args[i] for i in positions])
        if mode == "forward":
            _refuse_structures(fun, args, positions)
            blocks = _batched_jacobian(fun, args, positions, target.names)
            if blocks is not None:
                _refuse_complex("jacobian", fun, list(blocks))  # (a complex result)
                return blocks[0] if target.single else tuple(blocks)
            blocks = []
            for i in positions:
                columns = []
                value = None
                for direction in _basis(args[i]):
                    tangents = [None] * len(args)
                    tangents[i] = direction
                    value, tangent = jvp(fun, args, tangents)
                    _refuse_complex("jacobian", fun, [value])
                    columns.append(np.asarray(tangent))
                blocks.append(_columns(columns, value, args[i]))
        else:
            blocks = _batched_pullbacks(fun, args, positions, target.names)
            if blocks is not None:
                _refuse_complex("jacobian", fun, list(blocks))  # (a complex result)
                return blocks[0] if target.single else tuple(blocks)
            from .api import vjp

            value, pullback = vjp(fun, *args, wrt=tuple(positions))
            _refuse_complex("jacobian", fun, [value])
            rows = [pullback(direction, retain_graph=True) for direction in _basis(value)]
            blocks = [
                _stack_structure([row[k] for row in rows], value, args[i])
                for k, i in enumerate(positions)
            ]
        return blocks[0] if target.single else tuple(blocks)

    return jacobian_of


# -- many directions in one run ---------------------------------------------------------------


#: function -> {(names, kinds): batched forward derivative, or None where there is none}
_batched: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _batched_derivative(
    function: Callable, names: tuple, kinds: tuple, mode: str = "source"
) -> Any:
    """The batched forward function of ``function`` (``transform/batching.py``), or None
    where the transform cannot write one. (``mode="auto"`` for generated gradient code,
    whose helpers the rule table does not cover: the batching pass differentiates the
    ones it knows, and refuses any other call left to the tape.)"""
    try:
        table = _batched.setdefault(function, {})
    except TypeError:
        table = {}
    key = (names, kinds, mode)
    if key in table and (table[key] is None or not table[key].is_stale()):
        return table[key]
    try:
        found = pipeline.derive(
            function, names, param_kinds=dict(zip(names, kinds)), mode=mode, forward="batched"
        )
    except TransformError:
        found = None
    table[key] = found
    return found


def _run_batched(
    function: Callable,
    args: tuple,
    positions: list[int],
    names: tuple,
    mode: str = "source",
    fresh: Callable[[], tuple] | None = None,
) -> Any:
    """``function``'s value and its batched tangent along every unit direction of the
    arguments at ``positions`` (all of them at once: the first argument's, then the
    next's), or None where that cannot be done, so that the caller takes one direction
    at a time: the transform could not batch the function, or running it raised (an
    operand no batched rule covers; the function's own errors then come again, one
    direction at a time). The function runs once more in that case. With more
    directions than one run takes, each run gets ``fresh()`` as its arguments where that
    is given (a pullback's saved values, which its run may change)."""
    if is_gradient(function) or not _batchable(args, positions):
        # (a gradient's __wrapped__ is the function it differentiates: its own forward
        # mode is a Hessian-vector product, one direction at a time)
        return None
    kinds = tuple(_kind(args[i]) for i in positions)
    derivative = _batched_derivative(function, tuple(names), kinds, mode)
    if derivative is None:
        return None
    sizes = [int(np.size(args[i])) for i in positions]
    total = sum(sizes)
    if total == 0 or placement(args) is not CPU:
        return None
    # Directions in chunks: a batched tangent has as many rows as directions, so a
    # function of many inputs would hold many copies of each value at once.
    chunk = max(1, _BATCH_ELEMENTS // max(total, *(int(np.size(a)) for a in args if _moves(a))))
    parts = []
    value = None
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        tangents = {}
        offset = 0
        for name, i, size in zip(names, positions, sizes):
            dtype = args[i].dtype if isinstance(args[i], np.ndarray) else np.float64
            basis = np.zeros((stop - start, size), dtype=dtype)
            # the unit directions of this argument among rows start..stop
            ones = np.arange(max(start, offset), min(stop, offset + size))
            basis[ones - start, ones - offset] = 1.0
            tangents[derivative.tangent_names[name]] = basis.reshape(
                (stop - start, *np.shape(args[i]))
            )
            offset += size
        run = args if fresh is None or chunk >= total else fresh()
        try:
            value, tangent = derivative.jvp(*run, **tangents)
        except Exception:  # (see the doc: never a wrong result, one direction at a time)
            return None
        if not _finite(tangent):
            # A value that cannot move (a loop's counter popped back, an integer saved by
            # a helper) has zero tangents, and a rule's term for it may be 0 * inf (the
            # exponent's of x ** k at x <= 0): NaN where its derivative is 0. One
            # direction at a time, where such a value carries no tangent.
            return None
        parts.append(tangent)
    return value, _joined(parts), sizes


def _finite(tangent: Any) -> bool:
    if isinstance(tangent, tuple):
        return all(_finite(t) for t in tangent)
    if isinstance(tangent, np.ndarray) and tangent.dtype.kind in "fc":
        return bool(np.isfinite(tangent).all())
    return True


#: how many elements a batched tangent of the largest argument may hold (2**21 float64s,
#: 16 MiB): more directions than that go in several runs
_BATCH_ELEMENTS = 2**21


def _joined(parts: list) -> Any:
    """Batched tangents of several runs (tuples of them for a tuple value) as one."""
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], tuple):
        return tuple(_joined([p[k] for p in parts]) for k in range(len(parts[0])))
    return np.concatenate(parts)


def _blocks(
    tangent: Any, value: Any, args: tuple, positions: list[int], sizes: list
) -> list | None:
    """A batched tangent (one row per unit direction, as :func:`_run_batched` gives) as
    one Jacobian block per argument: ``value.shape + args[i].shape``; None for a complex
    one, which one direction at a time handles as it does."""
    if not isinstance(tangent, np.ndarray) or tangent.shape[1:] != np.shape(value):
        raise TypeError("internal error: a batched tangent not shaped like its value")
    if tangent.dtype.kind == "c":
        return None  # (a complex value's Jacobian: as one direction at a time gives it)
    blocks = []
    offset = 0
    for i, size in zip(positions, sizes):
        rows = tangent[offset : offset + size]
        offset += size
        if np.ndim(value) == 0 and isinstance(args[i], float):
            blocks.append(float(rows[0]))  # (a float, as one direction at a time gives)
            continue
        block = np.moveaxis(rows, 0, -1).reshape(np.shape(value) + np.shape(args[i]))
        # (of its own, not a view of the others' rows; float64, as one direction at a
        # time gives it)
        blocks.append(np.array(block, dtype=float))
    return blocks


def _batched_jacobian(fun: Callable, args: tuple, positions: list[int], names: tuple) -> Any:
    """Forward mode's Jacobian blocks from one run of the batched forward function, or
    None (see :func:`_run_batched`)."""
    found = _run_batched(fun, args, positions, names)
    if found is None:
        return None
    value, tangent, sizes = found
    if not (isinstance(value, (float, np.ndarray, np.generic))):
        return None
    if isinstance(value, np.generic):
        value = np.asarray(value)
    return _blocks(tangent, value, args, positions, sizes)  # (None for a complex one)


def _batched_pullbacks(fun: Callable, args: tuple, positions: list[int], names: tuple) -> Any:
    """Reverse mode's Jacobian blocks from one forward pass and one run of the generated
    pullback for every output direction at once: the pullback is linear in its
    cotangent, so batched forward mode over it with respect to the cotangent is the
    pullback of each row. None where that cannot be done (see :func:`_run_batched`)."""
    if is_gradient(fun) or not _batchable(args, positions):
        return None
    kinds = tuple(_kind(args[i]) for i in positions)
    try:
        derivative = pipeline.derive(
            fun, tuple(names), split=True, param_kinds=dict(zip(names, kinds)), mode="source"
        )
    except TransformError:
        return None
    if derivative.forward is None or getattr(derivative, "writes_objects", False):
        return None
    backward = _without_deletes(derivative, "backward")
    if backward is None:
        return None
    import inspect

    params = list(inspect.signature(backward).parameters)
    if len(params) != 2:
        return None
    value, saved = derivative.forward(*args)
    if not isinstance(value, (float, np.ndarray, np.generic)) or np.size(value) == 0:
        return None
    like = float(value) if isinstance(value, float) else np.asarray(value)
    if isinstance(like, np.ndarray) and like.dtype.kind != "f":
        return None
    # (a pullback may change what it was saved as it runs: restore_item puts back an
    # element the forward pass overwrote; several runs each take the saved values of a
    # forward pass of their own: a copy of the first would part saved views from the
    # arrays they view, which the restores write through)
    outputs = int(np.size(value))
    several = max(1, _BATCH_ELEMENTS // outputs) < outputs  # (runs, as _run_batched cuts)
    found = _run_batched(
        backward,
        (saved, like * 0.0),
        [1],
        (params[1],),
        mode="auto",
        fresh=(lambda: (derivative.forward(*args)[1], like * 0.0)) if several else None,
    )
    if found is None:
        return None
    _, grads, _ = found
    if len(positions) == 1:
        grads = (grads,)
    blocks = []
    for grad, i in zip(grads, positions):
        if not isinstance(grad, np.ndarray) or grad.shape[1:] != np.shape(args[i]):
            return None
        if grad.dtype.kind == "c":
            return None
        if isinstance(args[i], float) and np.ndim(value) == 0:
            blocks.append(float(grad[0]))
            continue
        blocks.append(np.array(grad.reshape(np.shape(value) + np.shape(args[i])), dtype=float))
    return blocks


def _batched_hessian(fun: Callable, args: tuple, positions: list[int], names: tuple) -> Any:
    """The Hessian blocks ``H[i][j]`` from one run of batched forward mode over ``fun``'s
    generated gradient (forward over reverse: the gradient's tangent along every unit
    direction at once), or None where that cannot be done (see :func:`_run_batched`)."""
    if is_gradient(fun) or not _batchable(args, positions):
        return None
    kinds = tuple(_kind(args[i]) for i in positions)
    try:
        gradient = pipeline.derive(
            fun, tuple(names), param_kinds=dict(zip(names, kinds)), mode="source"
        )
    except TransformError:
        return None
    plain = _without_deletes(gradient)
    if plain is None:
        return None
    found = _run_batched(plain, args, positions, names, mode="auto")
    if found is None:
        return None
    (value, grads), (_, tangents), sizes = found
    if np.ndim(value) != 0:
        return None  # (one direction at a time says why: the Hessian needs a scalar)
    if len(positions) == 1:
        grads, tangents = (grads,), (tangents,)
    rows = []
    for grad, tangent, i in zip(grads, tangents, positions):
        if np.iscomplexobj(grad) and not np.iscomplexobj(args[i]):
            # (a real argument's gradient is the real part of its complex adjoint, as the
            # gradient a user gets is: so its Hessian is the real part of the tangent)
            grad, tangent = np.real(grad), np.real(tangent)
        like = float(grad) if isinstance(args[i], float) else np.asarray(grad)
        if np.shape(like) != np.shape(args[i]):
            return None
        blocks = _blocks(tangent, like, args, positions, sizes)
        if blocks is None:
            return None
        rows.append(tuple(blocks))
    return tuple(rows)


#: gradient derivative -> {"fused" or "backward": that function compiled again without
#: ``del`` statements}
_plain_gradients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _without_deletes(gradient: Any, which: str = "fused") -> Callable | None:
    """A function of a generated gradient (``fused``: value and gradients in one call;
    ``backward``: the pullback of a split one) without the ``del`` statements that free
    memory early, which the passes do not take as input: the same computation, compiled
    from its own source with its own helpers, for batched forward mode to read. None
    where it calls a checkpointed loop's segment functions."""
    table = _plain_gradients.setdefault(gradient, {})
    found = table.get(which)
    if found is not None:
        return found
    fused = getattr(gradient, which)
    if fused is None or gradient.segment_sources:
        # (a checkpointed loop's segment functions are not read again here; a callee's
        # generated functions are, by the batching pass, as the functions they are)
        return None
    import gast

    from .transform import emit, step_sums

    module = gast.parse(gradient.source)
    definitions = [
        d for d in module.body if isinstance(d, gast.FunctionDef) and d.name == fused.__name__
    ]
    if len(definitions) != 1:
        return None
    definition = definitions[0]
    _drop_deletes(definition)
    # (a loop's StepSum back as its own accumulation, which batching reads: step_sums)
    step_sums.undo(definition)
    # (defaults are names bound where the gradient was compiled: the values are copied
    # from it below)
    definition.args.defaults = [gast.Constant(None, None) for _ in definition.args.defaults]
    definition.args.kw_defaults = [
        None if d is None else gast.Constant(None, None) for d in definition.args.kw_defaults
    ]
    cells = dict(
        zip(fused.__code__.co_freevars, (c.cell_contents for c in fused.__closure__ or ()))
    )
    from .transform.batching import list_changes_as_calls, saved_values_as_calls

    if which == "fused":  # (its list of saved values, as calls batching reads: a Hessian)
        cells.update(saved_values_as_calls(definition, {**fused.__globals__, **cells}) or {})
    cells.update(list_changes_as_calls(definition))  # (appends and pops of lists)
    (plain,), _ = emit.compile_functions([definition], cells, fused, fused.__name__)
    plain.__defaults__ = fused.__defaults__
    plain.__kwdefaults__ = fused.__kwdefaults__
    table[which] = plain
    return plain


def _drop_deletes(node: Any) -> None:
    import gast

    for field in ("body", "orelse"):
        block = getattr(node, field, None)
        if not isinstance(block, list):
            continue
        kept = [s for s in block if not isinstance(s, gast.Delete)]
        for stmt in kept:
            _drop_deletes(stmt)
        if field == "body" and not kept:
            kept = [gast.Pass()]
        setattr(node, field, kept)


# -- pieces ---------------------------------------------------------------------------------


def _positions(target: _Target) -> list[int]:
    params = list(target.signature.parameters)
    return [params.index(name) for name in target.names]


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, not {mode!r}")


def _basis(like: Any) -> list[Any]:
    """The unit directions of ``like``'s space, each shaped like it."""
    if isinstance(like, float):
        return [1.0]
    shape = np.shape(like)
    out = []
    for k in range(int(np.prod(shape, dtype=int))):
        e = np.zeros(int(np.prod(shape, dtype=int)))
        e[k] = 1.0
        out.append(e.reshape(shape))
    return out


def _is_structure(value: Any) -> bool:
    return isinstance(value, (list, tuple, dict)) or is_object(value)


def _refuse_structures(fun: Callable, args: tuple, positions: list[int]) -> None:
    """Forward mode pushes one basis direction of an argument at a time, which an object or
    container does not have: say so, rather than fail inside the stacking."""
    for i in positions:
        if _is_structure(args[i]):
            name = getattr(fun, "__qualname__", repr(fun))
            raise TypeError(
                f'ag.jacobian({name}, mode="forward") does not take objects or containers '
                f"yet, and argument {i} is a {type(args[i]).__qualname__}: use "
                'mode="reverse" (the Jacobian then has the argument\'s structure, as '
                "ag.grad's gradient does), or pass the arrays it holds as arguments"
            )


def _refuse_complex(what: str, fun: Callable, values: list) -> None:
    """A complex function has no one Jacobian (df/dz and df/dconj(z) where it is not
    holomorphic), nor a real function of complex arguments one Hessian: say so, rather
    than give the real parts of one. ag.vjp, ag.jvp and ag.hvp take complex values."""
    for value in values:
        for leaf in _leaves(value):
            if np.iscomplexobj(leaf):
                name = getattr(fun, "__qualname__", repr(fun))
                raise TypeError(
                    f"ag.{what}({name}) does not take complex values: a function of complex "
                    "numbers has no one Jacobian or Hessian (docs/complex.md). Use ag.vjp, "
                    "ag.jvp or ag.hvp, which take complex cotangents and tangents, or the "
                    "real and imaginary parts as real arguments"
                )


def _leaves(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    return [value]


def _stack_structure(rows: list, outer: Any, like: Any) -> Any:
    """Rows (one per direction of ``outer``), each with the structure of ``like`` (an
    object, NamedTuple, list, tuple or dict of arrays, as ``ag.grad`` gives for it), as
    one value of that structure whose leaves have shape ``outer.shape + leaf.shape``;
    attributes that get no gradient are None, as in ``ag.grad``'s objects."""
    if is_namedtuple(like):
        return type(like)(
            *(
                _stack_structure([row[k] for row in rows], outer, v) if differentiable(v) else None
                for k, v in enumerate(like)
            )
        )
    if is_object(like):
        made = blank(like)
        for name, value in fields(like):
            part = None
            if differentiable(value):
                part = _stack_structure([getattr(row, name) for row in rows], outer, value)
            object.__setattr__(made, name, part)  # (a frozen dataclass's too)
        return made
    if isinstance(like, (list, tuple)):
        return type(like)(
            _stack_structure([row[k] for row in rows], outer, v) for k, v in enumerate(like)
        )
    if isinstance(like, dict):
        return {
            key: _stack_structure([row[key] for row in rows], outer, v) for key, v in like.items()
        }
    if not differentiable(like):
        return None
    return _stack(rows, outer, like)


def _zeros(like: Any) -> Any:
    return 0.0 if isinstance(like, float) else np.zeros(np.shape(like))


def _stack(rows: list, outer: Any, inner: Any) -> Any:
    """Rows (one per direction of ``outer``), each shaped like ``inner``, as one array of
    shape ``outer.shape + inner.shape`` (a float when both are floats)."""
    if isinstance(outer, float) and isinstance(inner, float):
        return float(rows[0])
    array = np.stack([np.asarray(r, dtype=float) for r in rows])
    return array.reshape(np.shape(outer) + np.shape(inner))


def _columns(columns: list, value: Any, inner: Any) -> Any:
    """Columns (one per direction of ``inner``), each shaped like ``value``, as one array
    of shape ``value.shape + inner.shape``."""
    if isinstance(value, float) and isinstance(inner, float):
        return float(columns[0])
    array = np.stack([np.asarray(c, dtype=float) for c in columns], axis=-1)
    return array.reshape(np.shape(value) + np.shape(inner))


def _as_float(tangent: Any, primal: Any) -> Any:
    if isinstance(primal, float):
        return float(tangent)
    return tangent


# -- a gradient's call, differentiable again ----------------------------------------------------


def gradient_rule(gradient: Any) -> Any:
    """The table entry for calls of ``gradient = ag.grad(f, wrt=i)`` (one parameter):
    the gradient's own vjp is a Hessian-vector product, ``H[:, i] @ c`` for a cotangent
    ``c`` shaped like argument ``i`` (the Hessian is symmetric), so a function calling
    ``ag.grad(f)`` can be differentiated, in source as on the tape, and
    ``ag.grad(ag.grad(f))`` is the second derivative."""
    import inspect

    from .runtime.rules.registry import Rule

    function = gradient.function
    signature = inspect.signature(function)
    params = list(signature.parameters.values())
    (name,) = gradient.target.names
    position = [p.name for p in params].index(name)

    def gradient_vjp(g: Any, ans: Any, *args: Any, **kwargs: Any) -> tuple:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = [bound.arguments[p.name] for p in params]
        tangents = [
            None if not _moves(v) else (g if i == position else _zeros(v))
            for i, v in enumerate(values)
        ]
        moving = [i for i, t in enumerate(tangents) if t is not None]
        products = hvp(function, values, tangents, mode=gradient.mode)
        products = products if isinstance(products, tuple) else (products,)
        out: list[Any] = [None] * len(values)
        for i, product in zip(moving, products):
            out[i] = product
        return tuple(out)

    seeded = [
        inspect.Parameter("g", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("ans", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        *params,
    ]
    gradient_vjp.__signature__ = signature.replace(parameters=seeded)  # type: ignore[attr-defined]
    gradient_vjp.__name__ = f"{getattr(function, '__name__', 'f')}_grad_vjp"
    label = f"grad_{getattr(function, '__name__', 'f')}"
    return Rule(gradient, gradient_vjp, label, "GradBackward", False, inline=False)


def _moves(value: Any) -> bool:
    return isinstance(value, float) or (isinstance(value, np.ndarray) and value.dtype.kind == "f")


def _batchable(args: tuple, positions: list[int]) -> bool:
    """Whether batched code may take these arguments: float arrays (or floats) to
    differentiate, and no np.matrix anywhere (its * is a product of matrices)."""
    return all(
        isinstance(args[i], float) or (type(args[i]) is np.ndarray and args[i].dtype.kind == "f")
        for i in positions
    ) and not any(isinstance(a, np.matrix) for a in args)


class NestedGradient:
    """``ag.grad(g)`` (or ``value_and_grad``) of a gradient ``g = ag.grad(f, wrt=i)``: the
    gradient of ``g``'s scalar result, through ``g``'s rule (a Hessian-vector product
    with the cotangent 1). ``g`` must return a number: argument ``i`` is a float or has
    one element. Its own derivative (a third one) runs on the tape: use mode="tape"."""

    __astgrad_gradient__ = True

    def __init__(self, inner: Any, wrt: Wrt, mode: str, with_value: bool) -> None:
        import functools

        _check_mode(mode)
        self.inner = inner
        self.target = _Target(inner.function, wrt)
        self.mode = mode
        self.with_value = with_value
        functools.update_wrapper(self, inner.function)

    def __call__(self, *args: Any) -> Any:
        rule = self.inner.__astgrad_rule__
        value = self.inner(*args)
        if np.size(value) != 1:
            raise ValueError(
                f"the gradient of a gradient: {self.target.function_name}'s gradient has "
                f"shape {np.shape(value)}, not one number, so it has no gradient; use "
                "ag.hessian or ag.jacobian for the whole matrix"
            )
        seed = 1.0 if isinstance(value, float) else np.ones_like(value)
        products = rule.vjp(seed, value, *args)
        positions = _positions(self.target)
        gradients = []
        for i in positions:
            product = products[i]
            if product is None:
                product = _zeros(args[i])
            gradients.append(float(product) if isinstance(args[i], float) else product)
        result = gradients[0] if self.target.single else tuple(gradients)
        return (value, result) if self.with_value else result


def gradient_jvp(gradient: Any, primals: tuple, tangents: tuple) -> tuple[Any, Any]:
    """``ag.jvp`` of ``gradient = ag.grad(f, wrt=i)``: its value, and ``sum_j H[i, j] @
    t_j``, the Hessian-vector product's part for argument ``i``."""
    params = list(gradient.target.signature.parameters)
    (name,) = gradient.target.names
    position = params.index(name)
    filled = [
        t if t is not None else (_zeros(p) if i == position else None)
        for i, (p, t) in enumerate(zip(primals, tangents))
    ]
    moving = [i for i, t in enumerate(filled) if t is not None]
    value = gradient(*primals)
    products = hvp(gradient.function, primals, filled, mode=gradient.mode)
    products = products if isinstance(products, tuple) else (products,)
    return value, products[moving.index(position)]


def gradient_vjp(gradient: Any, args: tuple, wrt: Wrt) -> tuple[Any, Any]:
    """``ag.vjp`` of ``gradient = ag.grad(f, wrt=i)``: its value, and a pullback sending a
    cotangent ``c`` (shaped like argument ``i``) to ``H[:, i] @ c`` for each argument in
    ``wrt``, through the gradient's rule."""
    from .runtime.fallback import Pullback

    target = _Target(gradient.function, wrt)
    positions = _positions(target)
    value = gradient(*args)
    rule = gradient.__astgrad_rule__

    def backward(cotangent: Any, retain_graph: bool) -> Any:
        if cotangent is None:
            if np.size(value) != 1:
                raise ValueError(
                    "the pullback of a gradient whose value is an array needs a cotangent "
                    "shaped like it"
                )
            cotangent = 1.0 if isinstance(value, float) else np.ones_like(value)
        products = rule.vjp(cotangent, value, *args)
        out = []
        for i in positions:
            product = products[i] if products[i] is not None else _zeros(args[i])
            out.append(float(product) if isinstance(args[i], float) else product)
        return out[0] if target.single else tuple(out)

    return value, Pullback(backward, value)


def nested_source(nested: NestedGradient, *args: Any) -> str:
    """The generated source behind ``ag.grad(ag.grad(f))``: forward mode's ``f_tangent``
    (``f_jvp`` returning the tangent alone), and reverse mode over it (what the
    Hessian-vector product runs)."""
    function = nested.inner.function
    names = tuple(dict.fromkeys((*nested.inner.target.names, *nested.target.names)))
    kinds = None
    if args:
        params = list(nested.target.signature.parameters)
        kinds = {name: _kind(args[params.index(name)]) for name in names}
    forward = pipeline.derive(function, names, param_kinds=kinds, forward="tangent")
    reverse = pipeline.derive(forward.jvp, names, split=True, param_kinds=kinds)
    return forward.full_source() + "\n\n" + reverse.full_source()


def on_the_tape(nested: NestedGradient) -> Any:
    """The same second derivative as ``nested``, made of tape-mode gradients, so that it
    can be differentiated again on the tape (third and higher orders)."""
    from .api import _Differentiated

    inner = nested.inner
    names = inner.target.names
    first = _Differentiated(
        inner.function, names[0] if inner.target.single else names, "tape", False
    )
    outer = nested.target.names
    wrt = outer[0] if nested.target.single else outer
    return _Differentiated(first, wrt, "tape", nested.with_value)
