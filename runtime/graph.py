"""The recorded graph and the backward pass over it.

Every operation on a tensor that requires grad leaves a :class:`Node` (its ``grad_fn``),
named after its rule (``MulBackward``, ``SumBackward``...). A node keeps what its rule
needs and an edge per differentiable input: ``next_functions``, pairs of (node, output
index), where a leaf's node is its :class:`AccumulateGrad`.

Nodes are numbered as they are made. An edge always leads to an older node (an operation's
inputs exist before it does), so running the reachable nodes from the newest to the oldest
is a topological order: :func:`run_backward` keeps the nodes reached so far in a heap keyed
by that number, adding up the gradient that reaches each one before it runs. Gradients for
leaves are collected on the way and written into ``.grad`` only at the end, so a backward
that fails part-way leaves every ``.grad`` as it was. Saved values are freed as nodes run
unless ``retain_graph=True``; a freed node that runs again raises.

How a node turns its output's gradient into its inputs' gradients is a :class:`Kernel`:
the rule from the table, compiled once per rule and per set of inputs that need a
gradient, so that a node computes only the gradients it needs (see :func:`kernel_for`).

Nodes are made as plain :class:`Node` objects and take their named class (``MulBackward``,
``AccumulateGrad``) when user code first sees them, through ``grad_fn`` or
``next_functions`` (:func:`public`). The interpreter caches attribute lookups per class, so
a backward pass that meets one class of node at every step runs much faster than one that
meets a different class at every step; the named classes add no slots, so a node can
change class in place and stays the same object.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import numpy as np

from . import anomaly
from .dask_support import same_shape
from .device import device_guard, device_of
from .rules.registry import Rule, refuse_underivable
from .rules.shared import unbroadcast
from .rules.templates import compile_kernel, elementwise, outer_unbroadcast

__all__ = [
    "Node",
    "new_node",
    "AccumulateGrad",
    "Extra",
    "extra",
    "new_accumulator",
    "n_outputs",
    "public",
    "Kernel",
    "new_version_counter",
    "run_backward",
    "backward_pass",
    "node_class_for",
    "kernel_for",
    "elementwise_rule",
    "note_write",
    "retain_output_grad",
    "RemovableHandle",
    "add_hook",
    "run_hooks",
]

SECOND_BACKWARD = (
    "Trying to backward through the graph a second time: its saved values were freed by "
    "the first backward(). Call the first backward(retain_graph=True) if you need to go "
    "through the graph again."
)

# A tensor's version counter is a two-element list shared by the tensor and its views:
# [0] counts every in-place write to the buffer, so that saved values can be checked;
# [1] counts recorded in-place operations, which make earlier views' histories stale.
# A list rather than a small class because one is made for most saved tensors, and a
# list display is several times cheaper to create than an instance.
VERSION, HISTORY = 0, 1


def new_version_counter() -> list:
    return [0, 0]


# Creation order of nodes: the backward pass runs them newest first.
_sequence = itertools.count()
next_sequence_number = _sequence.__next__

# The sequence number taken by the latest in-place write to any tensor (see note_write).
# A node made after it cannot have seen any of its saved values change, so the backward
# pass compares versions only for nodes older than the latest write: programs that never
# write in place pay nothing for the checks.
_latest_write = [-1]


def note_write(counter: list, recorded: bool) -> None:
    """Count an in-place write into a tensor's version counter."""
    counter[VERSION] += 1
    if recorded:
        counter[HISTORY] += 1
    _latest_write[0] = next_sequence_number()


class Extra:
    """What only some nodes need, kept apart so that the common node is cheap to make and
    to run (see Node._extra)."""

    __slots__ = ("nrs", "kwargs", "n_outputs", "retained", "hooks")

    def __init__(self) -> None:
        #: which output of its node each input is (None when all are output 0)
        self.nrs: tuple | None = None
        #: the primitive's keyword arguments; None once the node is released
        self.kwargs: dict | None = None
        #: how many results the primitive returned (a tuple of them when more than one)
        self.n_outputs = 1
        #: (output index, weak reference) for outputs that called retain_grad()
        self.retained: list | None = None
        #: [output index, handle id, hook] for the hooks registered on the node's outputs
        #: (Tensor.register_hook; on a leaf's AccumulateGrad, the leaf's), in order
        self.hooks: list | None = None


class Node:
    """One recorded operation. ``next_functions`` lists an edge per differentiable input."""

    __slots__ = (
        "_next",
        "_kernel",
        "_args",
        "_ans",
        "_checks",
        "_seq",
        "_extra",
        "variable",
        "__weakref__",
    )

    # What each slot holds (nodes are made by new_node, below):
    #   _next     the node of each input that needs a gradient (an AccumulateGrad for a leaf)
    #   _kernel   the compiled rule: which gradients to compute and how
    #   _args     the primitive's raw positional arguments; None once the node is released
    #   _ans      the primitive's result, when the rule reads it
    #   _checks   flat (version counter, version at save time, parameter index or -1 for
    #             the result) triples, one per value the rule reads
    #   _seq      creation order: the backward pass runs newer nodes first; -1 marks a
    #             leaf's node
    #   _extra    an Extra for nodes with keyword arguments, several outputs, inputs that
    #             are not output 0 of their node, or retained gradients; None for all others

    @property
    def next_functions(self) -> tuple:
        """(node, output index) for each input that needs a gradient, in argument order."""
        extra = self._extra
        nrs = (extra.nrs if extra is not None else None) or (0,) * len(self._next)
        return tuple((public(node), nr) for node, nr in zip(self._next, nrs))

    def name(self) -> str:
        """``MulBackward``, ``AccumulateGrad``...: the name of the node's public class."""
        if type(self) is not Node:
            return type(self).__name__
        return "AccumulateGrad" if self._seq < 0 else self._kernel.rule.node_name

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"

    def apply(self, g: Any) -> tuple:
        """Gradients for each edge of ``next_functions`` from the gradient of the output
        (a list of per-output gradients for primitives with several outputs)."""
        args = self._args
        if args is None:
            raise RuntimeError(f"{SECOND_BACKWARD} (reached {self.name()})")
        if self._checks and _latest_write[0] > self._seq:
            _verify(self)
        kernel = self._kernel
        extra = self._extra
        if extra is None:
            grads = kernel.fn(g, self._ans, *args)
        else:
            if extra.n_outputs != 1:
                g = tuple(
                    grad if grad is not None else np.zeros_like(out)
                    for grad, out in zip(g, self._ans)
                )
            kwargs = extra.kwargs
            if kwargs:
                grads = kernel.fn(g, self._ans, *args, **kwargs)
            else:
                grads = kernel.fn(g, self._ans, *args)
        grads = _finish(self, kernel, grads)
        if anomaly.threads:
            anomaly.check_node(self, g, grads)
        return grads

    def release(self) -> None:
        self._args = self._ans = None
        if self._extra is not None:
            self._extra.kwargs = None


def new_node(kernel: Kernel, successors: tuple, args: tuple, ans: Any, checks: tuple) -> Node:
    """The node of a recorded operation (see the slots of :class:`Node`): the one way
    nodes are made, but for leaves' (:func:`new_accumulator`). Numbered as it is made, so
    make it after anything it points to, such as a view's refreshed history."""
    node = _new(Node)
    node._next = successors
    node._kernel = kernel
    node._args = args
    node._ans = ans
    node._checks = checks
    node._seq = next_sequence_number()
    node._extra = None
    return node


_new = object.__new__


def _verify(node: Node) -> None:
    """Raise if a value ``node`` saved was changed in place after it was saved."""
    checks = node._checks
    for k in range(0, len(checks), 3):
        if checks[k][VERSION] != checks[k + 1]:
            counter, version, position = checks[k], checks[k + 1], checks[k + 2]
            what = "its result" if position < 0 else node._kernel.what[position]
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: the value {node.name()} saved for backward ({what}) was "
                f"modified by an in-place operation after it was used; it is at version "
                f"{counter[VERSION]}; expected version {version} instead. Compute the gradient "
                f"before modifying it, or modify a copy (x = x.clone() or x = x + ...)."
            )


def _finish(node: Node, kernel: Kernel, grads: tuple) -> tuple:
    """The gradients of a kernel, per edge and of their inputs' shapes."""
    if kernel.trusted:
        return grads
    if kernel.elements is not None:
        return _pick_elements(node, kernel, grads)
    return _checked_shapes(node, kernel, grads)


def _checked_shapes(node: Node, kernel: Kernel, grads: tuple) -> tuple:
    """Compare each gradient's shape with its input's: this finishes what stripping the
    rule's outer unbroadcast left out, and turns any other mismatch (a rule's mistake) into
    an error rather than a wrong gradient."""
    args = node._args
    params = kernel.params
    fixed = None
    for i, grad in enumerate(grads):
        if grad is not None:
            position = params[i]
            value = args[position] if position < len(args) else _argument(node, position)
            shape, expected = getattr(grad, "shape", ()), getattr(value, "shape", ())
            # (Sizes Dask does not know yet, NaN, match each other: same_shape.)
            if shape != expected and not same_shape(shape, expected):
                if fixed is None:
                    fixed = list(grads)
                fixed[i] = _fix_shape(kernel, i, grad, value)
    return grads if fixed is None else tuple(fixed)


def _fix_shape(kernel: Kernel, i: int, grad: Any, value: Any) -> Any:
    """Gradient ``i`` brought to its input's shape, where the kernel left out the rule's
    outer ``unbroadcast``; an internal error for any other mismatch."""
    if kernel.stripped[i]:
        grad = unbroadcast(grad, value)
        if _same_shape(grad, value):
            return grad
    raise RuntimeError(
        f"internal error: the rule {kernel.rule.name!r} returned a gradient of shape "
        f"{getattr(grad, 'shape', ())} for an input of shape {getattr(value, 'shape', ())}"
    )


def _same_shape(grad: Any, value: Any) -> bool:
    """Whether a gradient has its input's shape; sizes Dask does not know yet (NaN, rows a
    mask selected) match each other."""
    shape, expected = getattr(grad, "shape", ()), getattr(value, "shape", ())
    return shape == expected or same_shape(shape, expected)


def _argument(node: Node, position: int) -> Any:
    return node._extra.kwargs[node._kernel.rule.param_names[position]]


def _pick_elements(node: Node, kernel: Kernel, grads: tuple) -> tuple:
    """Per edge, the gradient of its parameter, or of its element when the input was an
    element of a list or tuple argument (``np.stack([a, b])``)."""
    out = []
    args = node._args
    for index, element in kernel.elements:
        grad = grads[index]
        position = kernel.params[index]
        value = args[position] if position < len(args) else _argument(node, position)
        if element >= 0:
            value = value[element]
            if grad is not None:
                grad = grad[element]
        if grad is not None and not _same_shape(grad, value):
            raise RuntimeError(
                f"internal error: the rule {kernel.rule.name!r} returned a gradient of shape "
                f"{getattr(grad, 'shape', ())} for an input of shape {getattr(value, 'shape', ())}"
            )
        out.append(grad)
    return tuple(out)


class AccumulateGrad(Node):
    """The node of a leaf tensor: backward adds the incoming gradient to ``variable.grad``."""

    __slots__ = ()

    def __init__(self, variable: Any) -> None:
        _init_accumulator(self, variable)

    def apply(self, g: Any) -> tuple:
        self.variable._accumulate_grad(g[0] if type(g) is list else g)
        return ()

    def release(self) -> None:
        pass


def _init_accumulator(node: Node, variable: Any) -> None:
    node._next = ()
    node._args = ()
    node._extra = None
    node.variable = variable
    # Leaves are told apart by this number, and run after every node (see run_backward).
    node._seq = -1


def new_accumulator(variable: Any) -> Node:
    """The AccumulateGrad node of a leaf tensor, made as a plain Node (see the module doc)."""
    node = Node.__new__(Node)
    _init_accumulator(node, variable)
    return node


def extra(node: Node) -> Extra:
    """``node._extra``, made if it has none yet."""
    found = node._extra
    if found is None:
        found = node._extra = Extra()
    return found


def n_outputs(node: Node) -> int:
    found = node._extra
    return 1 if found is None else found.n_outputs


def public(node: Node | None) -> Node | None:
    """``node`` in its named class (``MulBackward``...), as user code must see it."""
    if type(node) is Node:
        node.__class__ = AccumulateGrad if node._seq < 0 else node_class_for(node._kernel.rule)
    return node


# -- kernels: the rule, compiled for the gradients a node needs ------------------------------


class Kernel:
    """How a node of ``rule`` computes the gradients of the inputs ``params`` (parameter
    positions, in the order of the node's edges).

    ``fn(g, ans, *args, **kwargs)`` returns one gradient per entry of ``params``. When the
    rule is a template (assignments and one return), ``fn`` is compiled from the rule's own
    source with only the needed expressions.

    An outer ``unbroadcast(e, x)`` in the rule is ``e`` whenever ``x`` has the shape of the
    result, and most operations meet operands of one shape; so kernels come in two kinds:

    * *checked* (``same`` is None): every outer unbroadcast is left out, and the node
      compares each gradient's shape with its input's afterwards, applying the unbroadcast
      only where they differ (``stripped``), and raising for any other mismatch;
    * *trusted*: for rules of ufuncs whose gradients are elementwise expressions (see
      :func:`~.rules.templates.elementwise`), every gradient has the result's shape, so
      the kernel leaves out the unbroadcast exactly for the inputs of the result's shape
      (``same``, known when the node is made), keeps it for the others, and needs no
      check at all.

    ``reads`` are the positions whose values (not only shapes) the needed expressions
    read, and ``reads_ans`` whether they read the result: only these are kept safe from
    in-place changes. As in PyTorch, a product saves each operand for the other's gradient
    only: ``y * 0.5`` keeps nothing of ``y``, and a later in-place write to ``y`` is no
    error, while ``y * w`` with ``w`` requiring grad keeps ``y`` and raises for a write.
    A rule that is called rather than compiled reads everything.

    ``keeps`` are the positions of the arguments the node must hold at all, for their
    values or their shapes: those ``fn`` names, and those whose gradients a checked kernel
    compares shapes with. A node passes None for the others, so that ``h * 0.5`` or
    ``np.exp(h)`` does not keep ``h`` alive.
    """

    __slots__ = (
        "rule",
        "params",
        "fn",
        "stripped",
        "trusted",
        "reads",
        "read_x",
        "read_y",
        "reads_ans",
        "uses_ans",
        "keeps",
        "keep_x",
        "keep_y",
        "elements",
        "what",
    )

    def __init__(
        self,
        rule: Rule,
        params: tuple,
        elements: tuple | None = None,
        same: tuple | None = None,
    ) -> None:
        self.rule = rule
        self.params = params
        #: (parameter index into fn's result, element) per edge, for list arguments
        self.elements = elements
        template = rule.template
        self.trusted = False
        if template is None:
            self.fn = _called_rule(rule.vjp, params)
            self.stripped = (False,) * len(params)
            self.uses_ans = True
            reads = names = rule.value_params | frozenset(rule.param_names)
        else:
            if (
                same is not None
                and elements is None
                and elementwise(rule.primitive, template, params, rule.vjp.__globals__)
            ):
                keep = tuple(not s for s in same)
                self.fn, self.stripped, names, reads = _compiled(rule, template, params, keep)
                # Each gradient has the result's shape, brought to its input's by the
                # unbroadcast kept for it, or already its input's (same).
                self.trusted = all(
                    s or _outer_unbroadcast(rule, template, p) for s, p in zip(same, params)
                )
            if not self.trusted:
                self.fn, self.stripped, names, reads = _compiled(rule, template, params)
            #: whether the node must keep the result alive for ``fn``, or for ``apply``:
            #: a node of several results fills in zeros like the results that got no
            #: cotangent
            self.uses_ans = "ans" in names or rule.multi_output
        positions = {name: i for i, name in enumerate(rule.param_names)}
        self.reads = frozenset(positions[name] for name in reads if name in positions)
        #: whether the first and the second parameter are among ``reads``
        self.read_x = 0 in self.reads
        self.read_y = 1 in self.reads
        self.reads_ans = "ans" in reads
        keeps = {positions[name] for name in names if name in positions}
        if not self.trusted:
            keeps.update(params)
        self.keeps = frozenset(keeps)
        self.keep_x = 0 in keeps
        self.keep_y = 1 in keeps
        self.what = tuple(f"argument {name!r}" for name in rule.param_names)

    def variant(self, fn: Callable, trusted: bool) -> Kernel:
        """This kernel computing with ``fn``: the same gradients of the same inputs, from
        the same values, written for operands of a known form (a rule's variant: see
        rules.variants and fast_path). ``trusted``: whether every gradient of ``fn`` has
        its input's shape."""
        other = Kernel.__new__(Kernel)
        for name in Kernel.__slots__:
            setattr(other, name, getattr(self, name))
        other.fn = fn
        other.trusted = trusted
        return other


def elementwise_rule(rule: Rule) -> bool:
    """Whether ``rule`` can have trusted kernels: its primitive is a ufunc and every
    gradient it returns is an elementwise expression."""
    template = rule.template
    if template is None:
        return False
    every = tuple(range(len(template.outputs)))
    return elementwise(rule.primitive, template, every, rule.vjp.__globals__)


def _outer_unbroadcast(rule: Rule, template: Any, p: int) -> bool:
    """Whether gradient ``p`` of the rule is ``unbroadcast(e, <its parameter>)``."""
    expr = template.outputs[p] if p < len(template.outputs) else None
    name = template.params[p] if p < len(template.params) else None
    return outer_unbroadcast(expr, name, rule.vjp.__globals__) is not None


def _called_rule(vjp: Callable, params: tuple) -> Callable:
    """A rule that cannot be compiled from its source: call it, keep the needed results."""

    def needed(*args: Any, **kwargs: Any) -> tuple:
        grads = vjp(*args, **kwargs)
        if not isinstance(grads, tuple):
            grads = (grads,)
        return tuple(grads[p] if p < len(grads) else None for p in params)

    return needed


def _compiled(
    rule: Rule, template: Any, params: tuple, keep: tuple | None = None
) -> tuple[Callable, tuple, set, frozenset]:
    """:func:`~.rules.templates.compile_kernel`, once per rule, ``params`` and ``keep``."""
    try:
        cache = rule._tape_compiled
    except AttributeError:
        cache = rule._tape_compiled = {}
    found = cache.get((params, keep))
    if found is None:
        found = cache[(params, keep)] = compile_kernel(rule.vjp, template, params, keep)
    return found


def kernel_for(
    rule: Rule, params: tuple, elements: tuple | None = None, same: tuple | None = None
) -> Kernel:
    """The kernel of ``rule`` for gradients of ``params``, made once and cached on the rule
    (re-registering a primitive makes a new Rule, and so new kernels). ``same`` says, per
    entry of ``params``, whether that input has the result's shape; given, the kernel is a
    trusted one when the rule allows (see :class:`Kernel`)."""
    try:
        kernels = rule._tape_kernels
    except AttributeError:
        kernels = rule._tape_kernels = {}
    key = (params, elements, same)
    kernel = kernels.get(key)
    if kernel is None:
        if rule.refused:
            refuse_underivable(rule, params)  # (a gradient the rule does not have: raise)
        kernel = kernels[key] = Kernel(rule, params, elements, same)
    return kernel


_node_classes: dict[str, type] = {}


def node_class_for(rule: Rule) -> type:
    """The ``<Op>Backward`` subclass of :class:`Node` for ``rule`` (made once)."""
    cls = rule.node_class
    if cls is None:
        cls = _node_classes.get(rule.node_name)
        if cls is None:
            cls = type(rule.node_name, (Node,), {"__slots__": (), "__module__": __name__})
            _node_classes[rule.node_name] = cls
        rule.node_class = cls
    return cls


def retain_output_grad(node: Node, output_nr: int, tensor: Any) -> None:
    found = extra(node)
    if found.retained is None:
        found.retained = []
    found.retained.append((output_nr, weakref.ref(tensor)))


# -- hooks on tensors ---------------------------------------------------------------------------
#
# ``t.register_hook(fn)`` keeps ``fn`` on the node that made ``t`` (for output ``t._output_nr``)
# or, for a leaf, on its AccumulateGrad: in the node's Extra, which sends the node down the
# backward pass's special road (see _run_special), so that graphs without hooks pay nothing.
# As in PyTorch, a hook belongs to the value the tensor had when it was registered: after an
# in-place operation gives the tensor a new node, the old hooks still see the gradient of the
# old value.

# Whether any hook was ever registered: until then a backward pass looks for none on leaves.
_hooks_registered = [False]
_handle_ids = itertools.count()


class RemovableHandle:
    """What ``register_hook`` returns: ``handle.remove()`` takes the hook off again (a second
    call does nothing); as a context manager it removes the hook on leaving the block."""

    __slots__ = ("_hooks", "id")

    def __init__(self, hooks: list, key: int) -> None:
        self._hooks = weakref.ref(hooks)
        self.id = key

    def remove(self) -> None:
        hooks = self._hooks()
        if hooks is not None:
            hooks[:] = [entry for entry in hooks if entry[1] != self.id]

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<RemovableHandle id={self.id}>"


class _HookList(list):
    """A node's hooks (a list that a handle can refer to weakly)."""

    __slots__ = ("__weakref__",)


def add_hook(node: Node, output_nr: int, hook: Callable) -> RemovableHandle:
    """Register ``hook`` on output ``output_nr`` of ``node`` (a leaf's AccumulateGrad: 0)."""
    found = extra(node)
    if found.hooks is None:
        found.hooks = _HookList()
    handle = RemovableHandle(found.hooks, next(_handle_ids))
    found.hooks.append([output_nr, handle.id, hook])
    _hooks_registered[0] = True
    return handle


def run_hooks(node: Node, g: Any, recorded: bool = False) -> Any:
    """The gradient of ``node``'s outputs (a list of them for several) after the hooks
    registered on them: each hook is called, in the order they were registered, with the
    gradient as a tensor that requires no grad, with grad mode off, and what it returns
    (unless None) replaces the gradient for the hooks after it and for the rest of the pass.

    In a pass that records (``recorded``: ``create_graph=True``), a hook is given the
    gradient as the tensor the pass computed, with grad mode on, and what it returns is
    recorded too, so that a hook's change is part of what is differentiated again."""
    from .grad_mode import _state  # (cold: only for nodes with hooks)
    from .tensor import Tensor, new_tensor

    hooks = tuple(node._extra.hooks)
    if not hooks:
        return g
    several = type(g) is list
    if several:
        g = list(g)
    enabled, numbers = _state.enabled, _state.numbers
    _state.enabled = recorded and enabled
    _state.numbers = False
    try:
        for output_nr, _, hook in hooks:
            grad = g[output_nr] if several else g
            if grad is None:
                continue  # no gradient reached this output
            given = grad if recorded and isinstance(grad, Tensor) else new_tensor(grad)
            result = hook(given)
            if result is None:
                # (an in-place change of its argument is the hook's result, as in torch)
                result = given if recorded else given._data
            elif recorded and isinstance(result, Tensor):
                _hook_result(hook, result, given._data, Tensor)  # (checked, kept recorded)
            else:
                result = _hook_result(hook, result, given._data, Tensor)
            if several:
                g[output_nr] = result
            else:
                g = result
    finally:
        _state.enabled, _state.numbers = enabled, numbers
    return g


def _hook_result(hook: Callable, result: Any, grad: Any, tensor_type: type) -> Any:
    """The raw gradient a hook returned, checked against the one it was given."""
    name = getattr(hook, "__name__", type(hook).__name__)
    if isinstance(result, tensor_type):
        result = result._data
    elif not hasattr(result, "shape") or not hasattr(result, "dtype"):
        raise TypeError(
            f"expected a tensor, but hook {name!r} returned {type(result).__name__!r}: a hook "
            f"returns a new gradient (a tensor of the gradient's shape) or None"
        )
    shape, dtype = getattr(grad, "shape", ()), grad.dtype
    if result.shape != shape:
        raise RuntimeError(
            f"hook {name!r} has changed the size of value: it was given a gradient of shape "
            f"{tuple(shape)} and returned one of shape {tuple(result.shape)}"
        )
    if result.dtype != dtype:
        raise RuntimeError(
            f"hook {name!r} has changed the type of value (was {dtype} got {result.dtype}); "
            f"return a gradient of the dtype it was given, e.g. g.astype(np.{dtype})"
        )
    if device_of(result) != device_of(grad):
        raise RuntimeError(
            f"hook {name!r} has changed the device of value (was {device_of(grad)} got "
            f"{device_of(result)})"
        )
    return result


def _has_hooks(node: Node) -> bool:
    found = node._extra
    return found is not None and bool(found.hooks)


# -- the backward pass ------------------------------------------------------------------------

_ABSENT = object()


def _add(previous: Any, grad: Any) -> Any:
    if previous is None:
        return grad
    return previous if grad is None else previous + grad


def run_backward(root: Any, seed: Any, retain_graph: bool) -> None:
    """Send ``seed`` (the cotangent of ``root``) back through the graph into leaves' grads."""
    if root._grad_fn is None:
        accumulator = root._accumulator
        if accumulator is not None and _has_hooks(accumulator):
            seed = run_hooks(accumulator, seed)
        root._accumulate_grad(seed)
        return
    for accumulator, grad in backward_pass(((root, seed),), retain_graph).items():
        accumulator.variable._accumulate_grad(grad)


def backward_pass(starts: Any, retain_graph: bool) -> dict:
    """Send each ``(tensor, cotangent)`` of ``starts`` back through the graph, all in one
    pass, and return the gradient that reached each leaf, keyed by the leaf's
    AccumulateGrad node. The gradients may share memory with each other, with the
    cotangents and with saved values: whoever hands them out copies them first.

    The kernels run with the device of the (first) output being differentiated made
    current (:func:`~astgrad.runtime.device.device_guard`), so that a backward pass from
    ``cuda:1`` runs its CuPy kernels, and makes its new arrays, on GPU 1. On the CPU it
    costs one type test."""
    for root, _ in starts:
        if root._base is not None:
            root._fresh()  # (a stale view's history is its base's: see Tensor._fresh)
    data = starts[0][0]._data if starts else None
    if type(data) is np.ndarray or type(data) in _HOST_SCALARS or data is None:
        return _backward_pass(starts, retain_graph)
    with device_guard(device_of(data)):
        return _backward_pass(starts, retain_graph)


# Raw values of CPU tensors besides NumPy arrays: NumPy scalars (0-d results).
_HOST_SCALARS = frozenset(t for t in np.sctypeDict.values() if issubclass(t, np.generic))


def _backward_pass(starts: Any, retain_graph: bool) -> dict:
    """:func:`backward_pass` on the current device."""
    # The gradient reaching each node found so far (a list for a node with several
    # outputs; None while only paths without gradient reach it), and the heap of those
    # nodes still to run, newest first. Gradients for leaves wait in ``leaves``.
    pending: dict = {}
    heap: list = []
    leaves: dict = {}
    for root, seed in starts:
        start = root._grad_fn
        if start is None:
            accumulator = root._grad_accumulator()
            leaves[accumulator] = _add(leaves.get(accumulator), seed)
        elif start._extra is None or start._extra.n_outputs == 1:
            previous = pending.get(start, _ABSENT)
            if previous is _ABSENT:
                pending[start] = seed
                heappush(heap, (-start._seq, start))
            else:
                pending[start] = _add(previous, seed)
        else:
            _send(start, root._output_nr, seed, pending, heap)
    # Kernels write nothing in place, so the latest write stays where it is while this runs.
    latest_write = _latest_write[0]
    check = anomaly.threads and anomaly.checks_values()  # (anomaly mode: see anomaly)
    absent = _ABSENT
    pop = heappop
    push = heappush
    while heap:
        node = pop(heap)[1]
        g = pending.pop(node)
        # Each turn runs ``node``. When its gradients go to one node and nothing else waits
        # (a chain: most of a model, from the loss back), that node is the only one with
        # a gradient to run, so it runs next whatever the heap's order: its gradient is
        # handed on directly, without a turn through ``pending`` and the heap.
        while True:
            if node._extra is not None or g is None:
                _run_special(node, g, retain_graph, pending, heap, leaves)
                break
            # Node.apply written out, for the common node: one output, no keyword arguments.
            args = node._args
            if args is None:
                raise RuntimeError(f"{SECOND_BACKWARD} (reached {node.name()})")
            if node._checks and latest_write > node._seq:
                _verify(node)
            kernel = node._kernel
            # (the commonest counts of arguments passed one by one: a call with *args
            # builds a tuple of all of them first)
            if len(args) == 2:
                grads = kernel.fn(g, node._ans, args[0], args[1])
            elif len(args) == 1:
                grads = kernel.fn(g, node._ans, args[0])
            else:
                grads = kernel.fn(g, node._ans, *args)
            if not kernel.trusted:
                if kernel.elements is None:
                    grads = _checked_shapes(node, kernel, grads)
                else:
                    grads = _pick_elements(node, kernel, grads)
            if check:
                anomaly.check_node(node, g, grads)
            if not retain_graph:
                node._args = node._ans = None
            # The node to run next, with its gradient, while nothing else waits (None: the
            # heap decides).
            following = None
            for successor, grad in zip(node._next, grads):
                if successor._seq < 0:  # a leaf's AccumulateGrad
                    if grad is not None:
                        previous = leaves.get(successor)
                        leaves[successor] = grad if previous is None else previous + grad
                elif successor._extra is None or successor._extra.n_outputs == 1:
                    if following is None and not pending:
                        following, following_g = successor, grad
                        continue
                    if following is not None:
                        if successor is following:  # (x + x: both edges to one node)
                            if grad is not None:
                                following_g = grad if following_g is None else following_g + grad
                            continue
                        # Two nodes wait now: back to the heap's order.
                        pending[following] = following_g
                        push(heap, (-following._seq, following))
                        following = None
                    previous = pending.get(successor, absent)
                    if previous is absent:
                        pending[successor] = grad
                        push(heap, (-successor._seq, successor))
                    elif grad is not None:
                        pending[successor] = grad if previous is None else previous + grad
                else:
                    if following is not None:
                        pending[following] = following_g
                        push(heap, (-following._seq, following))
                        following = None
                    _send(successor, 0, grad, pending, heap)
            if following is None:
                break
            node, g = following, following_g
    if _hooks_registered[0]:
        for accumulator, grad in leaves.items():
            if _has_hooks(accumulator):
                leaves[accumulator] = run_hooks(accumulator, grad)
    return leaves


def _run_special(
    node: Node, g: Any, retain_graph: bool, pending: dict, heap: list, leaves: dict
) -> None:
    """One step of :func:`run_backward` for any node: those with an Extra, and those that
    no gradient reached."""
    found = node._extra
    n = 1 if found is None else found.n_outputs
    if g is not None and (n == 1 or any(x is not None for x in g)):
        if found is not None and found.hooks:
            g = run_hooks(node, g)  # (before retain_grad's copy, which sees their result)
        if found is not None and found.retained is not None:
            for output_nr, ref in found.retained:
                tensor = ref()
                grad = g[output_nr] if n != 1 else g
                if tensor is not None and grad is not None:
                    tensor._accumulate_grad(grad)
        grads = node.apply(g)
    else:
        # Nothing reached this node (a path through non-differentiable outputs); its
        # inputs are still visited so that the whole graph is freed.
        grads = (None,) * len(node._next)
    if not retain_graph:
        node.release()
    nrs = (found.nrs if found is not None else None) or (0,) * len(node._next)
    for successor, output_nr, grad in zip(node._next, nrs, grads):
        if successor._seq < 0:
            if grad is not None:
                leaves[successor] = _add(leaves.get(successor), grad)
        elif n_outputs(successor) == 1:
            if successor in pending:
                pending[successor] = _add(pending[successor], grad)
            else:
                pending[successor] = grad
                heappush(heap, (-successor._seq, successor))
        else:
            _send(successor, output_nr, grad, pending, heap)


def _send(successor: Node, output_nr: int, grad: Any, pending: dict, heap: list) -> None:
    buffer = pending.get(successor)
    if buffer is None:
        buffer = pending[successor] = [None] * successor._extra.n_outputs
        heappush(heap, (-successor._seq, successor))
    buffer[output_nr] = _add(buffer[output_nr], grad)
