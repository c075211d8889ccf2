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
"""

from __future__ import annotations

import ast
import copy
import itertools
import weakref
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import gast
import numpy as np

from .rules.helpers import unbroadcast
from .rules.registry import Rule

__all__ = [
    "Node",
    "AccumulateGrad",
    "Kernel",
    "new_version_counter",
    "run_backward",
    "node_class_for",
    "kernel_for",
    "note_write",
    "retain_output_grad",
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


class Node:
    """One recorded operation. ``next_functions`` lists an edge per differentiable input."""

    __slots__ = (
        "_next",
        "_nrs",
        "_kernel",
        "_args",
        "_kwargs",
        "_ans",
        "_checks",
        "_seq",
        "_n_outputs",
        "_retained",
        "__weakref__",
    )

    # Nodes are made by ops, whose hot paths set the slots directly; this constructor is for
    # everything else and documents what each slot holds.
    def __init__(
        self,
        kernel: Kernel,
        successors: tuple,
        args: tuple,
        kwargs: dict | None = None,
        ans: Any = None,
        checks: tuple = (),
        output_nrs: tuple | None = None,
        n_outputs: int = 1,
    ) -> None:
        #: the node of each input that needs a gradient (an AccumulateGrad for a leaf)
        self._next = successors
        #: which output of that node each input is, or None when all are output 0
        self._nrs = output_nrs
        #: the compiled rule: which gradients to compute and how
        self._kernel = kernel
        #: the primitive's raw arguments; None once the node is released
        self._args = args
        self._kwargs = kwargs
        #: the primitive's result, when the rule reads it
        self._ans = ans
        #: flat (version counter, version at save time, parameter index or -1 for the
        #: result) triples, one per value the rule reads
        self._checks = checks
        #: creation order: the backward pass runs newer nodes first
        self._seq = next_sequence_number()
        self._n_outputs = n_outputs
        #: (output index, weak reference) for outputs that called retain_grad()
        self._retained = None

    @property
    def next_functions(self) -> tuple:
        """(node, output index) for each input that needs a gradient, in argument order."""
        nrs = self._nrs
        if nrs is None:
            return tuple((node, 0) for node in self._next)
        return tuple(zip(self._next, nrs))

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"

    def apply(self, g: Any) -> tuple:
        """Gradients for each edge of ``next_functions`` from the gradient of the output
        (a list of per-output gradients for primitives with several outputs)."""
        args = self._args
        if args is None:
            raise RuntimeError(f"{SECOND_BACKWARD} (reached {type(self).__name__})")
        checks = self._checks
        if checks and _latest_write[0] > self._seq:
            for k in range(0, len(checks), 3):
                if checks[k][0] != checks[k + 1]:
                    raise _modified_error(self, checks, k)
        kernel = self._kernel
        if self._n_outputs != 1:
            g = tuple(
                grad if grad is not None else np.zeros_like(out) for grad, out in zip(g, self._ans)
            )
        kwargs = self._kwargs
        if kwargs:
            grads = kernel.fn(g, self._ans, *args, **kwargs)
        else:
            grads = kernel.fn(g, self._ans, *args)
        if kernel.scalar:
            # Every input of a node whose result is a NumPy scalar has shape (), and so
            # has every gradient that is a number: only others need a closer look.
            for grad in grads:
                if type(grad) not in _NUMBERS and grad is not None:
                    return _checked_shapes(self, kernel, grads)
            return grads
        if kernel.elements is not None:
            return _pick_elements(self, kernel, grads)
        return _checked_shapes(self, kernel, grads)

    def release(self) -> None:
        self._args = self._kwargs = self._ans = None


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
            if getattr(grad, "shape", ()) != getattr(value, "shape", ()):
                if fixed is None:
                    fixed = list(grads)
                fixed[i] = _fix_shape(kernel, i, grad, value)
    return grads if fixed is None else tuple(fixed)


def _modified_error(node: Node, checks: tuple, k: int) -> RuntimeError:
    counter, version, position = checks[k], checks[k + 1], checks[k + 2]
    what = "its result" if position < 0 else node._kernel.what[position]
    return RuntimeError(
        f"A value that {type(node).__name__} saved for backward ({what}) was "
        f"modified by an in-place operation after it was used (version "
        f"{counter[0]}, expected {version}). Compute the gradient before "
        f"modifying it, or modify a copy (x = x.clone() or x = x + ...)."
    )


def _fix_shape(kernel: Kernel, i: int, grad: Any, value: Any) -> Any:
    """Gradient ``i`` brought to its input's shape, where the kernel left out the rule's
    outer ``unbroadcast``; an internal error for any other mismatch."""
    if kernel.stripped[i]:
        grad = unbroadcast(grad, value)
        if getattr(grad, "shape", ()) == getattr(value, "shape", ()):
            return grad
    raise RuntimeError(
        f"internal error: the rule {kernel.rule.name!r} returned a gradient of shape "
        f"{getattr(grad, 'shape', ())} for an input of shape {getattr(value, 'shape', ())}"
    )


def _argument(node: Node, position: int) -> Any:
    return node._kwargs[node._kernel.rule.param_names[position]]


def _pick_elements(node: Node, kernel: Kernel, grads: tuple) -> tuple:
    """Per edge, the gradient of its parameter, or of its element when the input was an
    element of a list or tuple argument (``np.stack([a, b])``)."""
    out = []
    for index, element in kernel.elements:
        grad = grads[index]
        position = kernel.params[index]
        args = node._args
        value = args[position] if position < len(args) else _argument(node, position)
        if element >= 0:
            value = value[element]
            if grad is not None:
                grad = grad[element]
        if grad is not None and getattr(grad, "shape", ()) != getattr(value, "shape", ()):
            raise RuntimeError(
                f"internal error: the rule {kernel.rule.name!r} returned a gradient of shape "
                f"{getattr(grad, 'shape', ())} for an input of shape {getattr(value, 'shape', ())}"
            )
        out.append(grad)
    return tuple(out)


class AccumulateGrad(Node):
    """The node of a leaf tensor: backward adds the incoming gradient to ``variable.grad``."""

    __slots__ = ("variable",)

    def __init__(self, variable: Any) -> None:
        self._next = ()
        self._nrs = None
        self.variable = variable
        self._args = ()
        self._n_outputs = 1
        self._retained = None
        # Leaves run last, after every node: their gradients are written at the end.
        self._seq = -1

    def apply(self, g: Any) -> tuple:
        self.variable._accumulate_grad(g[0] if type(g) is list else g)
        return ()

    def release(self) -> None:
        pass


# Gradients that are numbers, so of shape (): NumPy's numeric scalars and Python's numbers.
_NUMBERS = frozenset(t for t in np.sctypeDict.values() if issubclass(t, (np.number, np.bool_))) | {
    float,
    int,
    bool,
    complex,
}


# -- kernels: the rule, compiled for the gradients a node needs ------------------------------


class Kernel:
    """How a node of ``rule`` computes the gradients of the inputs ``params`` (parameter
    positions, in the order of the node's edges).

    ``fn(g, ans, *args, **kwargs)`` returns one gradient per entry of ``params``. When the
    rule is a template (assignments and one return), ``fn`` is compiled from the rule's own
    source with only the needed expressions, and with an outer ``unbroadcast(e, x)`` reduced
    to ``e``: the node applies it afterwards only when the shapes differ (``stripped``), so
    operands of one shape pay nothing for broadcasting. ``reads`` are the positions whose
    values (not only shapes) the rule reads, and ``reads_ans`` whether it reads the result:
    these are kept safe from in-place changes. They are the whole rule's, not only the
    needed expressions', so that a node raises for the same changes whichever of its
    inputs need a gradient.
    """

    __slots__ = (
        "rule",
        "params",
        "fn",
        "stripped",
        "reads",
        "read_x",
        "read_y",
        "reads_ans",
        "uses_ans",
        "elements",
        "scalar",
        "what",
    )

    def __init__(
        self, rule: Rule, params: tuple, elements: tuple | None = None, scalar: bool = False
    ) -> None:
        self.rule = rule
        self.params = params
        #: for nodes whose result is a NumPy scalar (so every input has shape ())
        self.scalar = scalar
        #: (parameter index into fn's result, element) per edge, for list arguments
        self.elements = elements
        template = rule.template
        if template is None:
            self.fn = _called_rule(rule.vjp, params)
            self.stripped = (False,) * len(params)
            self.uses_ans = True
        else:
            self.fn, self.stripped, names = _compiled(rule, template, params)
            #: whether the node must keep the result alive for ``fn``
            self.uses_ans = "ans" in names
        reads = rule.value_params
        positions = {name: i for i, name in enumerate(rule.param_names)}
        self.reads = frozenset(positions[name] for name in reads if name in positions)
        #: whether the first and the second parameter are among ``reads``
        self.read_x = 0 in self.reads
        self.read_y = 1 in self.reads
        self.reads_ans = "ans" in reads
        self.what = tuple(f"argument {name!r}" for name in rule.param_names)


def _called_rule(vjp: Callable, params: tuple) -> Callable:
    """A rule that cannot be compiled from its source: call it, keep the needed results."""

    def needed(*args: Any, **kwargs: Any) -> tuple:
        grads = vjp(*args, **kwargs)
        if not isinstance(grads, tuple):
            grads = (grads,)
        return tuple(grads[p] if p < len(grads) else None for p in params)

    return needed


def _names_in(nodes: list) -> set[str]:
    return {
        n.id
        for node in nodes
        for n in gast.walk(node)
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)
    }


def _strip_unbroadcast(expr: gast.expr, param: str, namespace: dict) -> gast.expr | None:
    """``e`` when ``expr`` is ``unbroadcast(e, param)``, else None."""
    if (
        isinstance(expr, gast.Call)
        and isinstance(expr.func, gast.Name)
        and namespace.get(expr.func.id) is unbroadcast
        and len(expr.args) == 2
        and not expr.keywords
        and isinstance(expr.args[1], gast.Name)
        and expr.args[1].id == param
    ):
        return expr.args[0]
    return None


def _compiled(rule: Rule, template: Any, params: tuple) -> tuple[Callable, tuple, set]:
    """:func:`_compile_kernel`, once per rule and ``params``."""
    try:
        cache = rule._tape_compiled
    except AttributeError:
        cache = rule._tape_compiled = {}
    found = cache.get(params)
    if found is None:
        found = cache[params] = _compile_kernel(rule, template, params)
    return found


def _compile_kernel(rule: Rule, template: Any, params: tuple) -> tuple[Callable, tuple, set]:
    """Compile 'the rule, returning the gradients of ``params``' from the rule's source."""
    namespace = rule.vjp.__globals__
    assigned = {stmt.targets[0].id for stmt in template.prelude}
    outputs = []
    stripped = []
    needed_statements: set[int] = set()
    for p in params:
        expr = template.outputs[p] if p < len(template.outputs) else None
        inner = None
        if expr is not None:
            needed_statements |= {id(s) for s in template.needed_prelude(p)}
            name = template.params[p] if p < len(template.params) else None
            if name is not None and name not in assigned:
                inner = _strip_unbroadcast(expr, name, namespace)
        stripped.append(inner is not None)
        outputs.append(inner if inner is not None else expr)
    prelude = [s for s in template.prelude if id(s) in needed_statements]
    returned = [o if o is not None else gast.Constant(None, None) for o in outputs]
    names = _names_in([*prelude, *(o for o in outputs if o is not None)])

    function = copy.copy(template.function)
    function.name = f"{rule.vjp.__name__}__tape_" + "_".join(map(str, params))
    function.body = [
        *copy.deepcopy(prelude),
        gast.Return(value=gast.Tuple(elts=copy.deepcopy(returned), ctx=gast.Load())),
    ]
    tree = gast.gast_to_ast(gast.Module(body=[function], type_ignores=[]))
    ast.fix_missing_locations(tree)
    # Line numbers point into the rule's own file, so tracebacks show the rule's line.
    ast.increment_lineno(tree, template.first_line - 1)
    scope: dict[str, Any] = {}
    exec(compile(tree, template.filename, "exec"), namespace, scope)
    fn = scope[function.name]
    fn.__defaults__ = rule.vjp.__defaults__
    fn.__kwdefaults__ = rule.vjp.__kwdefaults__
    return fn, tuple(stripped), names


def kernel_for(
    rule: Rule, params: tuple, elements: tuple | None = None, scalar: bool = False
) -> Kernel:
    """The kernel of ``rule`` for gradients of ``params``, made once and cached on the rule
    (re-registering a primitive makes a new Rule, and so new kernels)."""
    try:
        kernels = rule._tape_kernels
    except AttributeError:
        kernels = rule._tape_kernels = {}
    key = (params, elements, scalar)
    kernel = kernels.get(key)
    if kernel is None:
        kernel = kernels[key] = Kernel(rule, params, elements, scalar)
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
    if node._retained is None:
        node._retained = []
    node._retained.append((output_nr, weakref.ref(tensor)))


# -- the backward pass ------------------------------------------------------------------------

_ABSENT = object()


def _add(previous: Any, grad: Any) -> Any:
    if previous is None:
        return grad
    return previous if grad is None else previous + grad


def run_backward(root: Any, seed: Any, retain_graph: bool) -> None:
    """Send ``seed`` (the cotangent of ``root``) back through the graph into leaves' grads."""
    start = root.grad_fn
    if start is None:
        root._accumulate_grad(seed)
        return
    if start._n_outputs == 1:
        first = seed
    else:
        first = [None] * start._n_outputs
        first[root._output_nr] = seed
    # The gradient reaching each node found so far (a list for a node with several
    # outputs; None while only paths without gradient reach it), and the heap of those
    # nodes still to run, newest first. Gradients for leaves wait in ``leaves``.
    pending = {start: first}
    heap = [(-start._seq, start)]
    leaves: dict = {}
    while heap:
        node = heappop(heap)[1]
        g = pending.pop(node)
        if g is not None and (node._n_outputs == 1 or any(x is not None for x in g)):
            if node._retained is not None:
                _fill_retained(node, g)
            grads = node.apply(g)
        else:
            # Nothing reached this node (a path through non-differentiable outputs); its
            # inputs are still visited so that the whole graph is freed.
            grads = (None,) * len(node._next)
        if not retain_graph:
            node._args = node._kwargs = node._ans = None
        if node._nrs is not None:
            _send_to_outputs(node, grads, pending, heap, leaves)
            continue
        for successor, grad in zip(node._next, grads):
            if successor._seq < 0:  # a leaf's AccumulateGrad
                if grad is not None:
                    previous = leaves.get(successor)
                    leaves[successor] = grad if previous is None else previous + grad
            elif successor._n_outputs == 1:
                previous = pending.get(successor, _ABSENT)
                if previous is _ABSENT:
                    pending[successor] = grad
                    heappush(heap, (-successor._seq, successor))
                elif grad is not None:
                    pending[successor] = grad if previous is None else previous + grad
            else:
                _send(successor, 0, grad, pending, heap)
    for accumulator, grad in leaves.items():
        accumulator.variable._accumulate_grad(grad)


def _send_to_outputs(node: Node, grads: tuple, pending: dict, heap: list, leaves: dict) -> None:
    """The loop of :func:`run_backward` for a node fed by outputs other than output 0."""
    for successor, output_nr, grad in zip(node._next, node._nrs, grads):
        if successor._seq < 0:
            if grad is not None:
                leaves[successor] = _add(leaves.get(successor), grad)
        elif successor._n_outputs == 1:
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
        buffer = pending[successor] = [None] * successor._n_outputs
        heappush(heap, (-successor._seq, successor))
    buffer[output_nr] = _add(buffer[output_nr], grad)


def _fill_retained(node: Node, g: Any) -> None:
    for output_nr, ref in node._retained:
        tensor = ref()
        grad = g[output_nr] if node._n_outputs != 1 else g
        if tensor is not None and grad is not None:
            tensor._accumulate_grad(grad)
