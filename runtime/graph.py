"""The recorded graph and the backward pass over it.

Every operation on a tensor that requires grad leaves a :class:`Node` (its ``grad_fn``),
named after its rule (``MulBackward``, ``SumBackward``...). A node keeps what its rule
needs and an edge per differentiable input: ``next_functions``, pairs of (node, output
index), where a leaf's node is its :class:`AccumulateGrad`.

:func:`run_backward` counts, for every reachable node, how many edges lead into it, then
runs nodes whose count has dropped to zero (Kahn's topological order), adding up the
gradient that reaches each output before its node runs. Saved values are freed as nodes
run unless ``retain_graph=True``; a freed node that runs again raises.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from .rules.registry import Rule

__all__ = [
    "Node",
    "AccumulateGrad",
    "VersionCounter",
    "run_backward",
    "node_class_for",
    "tape_info",
]

SECOND_BACKWARD = (
    "Trying to backward through the graph a second time: its saved values were freed by "
    "the first backward(). Call the first backward(retain_graph=True) if you need to go "
    "through the graph again."
)


class VersionCounter:
    """Counts in-place writes to a buffer; shared by a tensor and its views.

    ``data`` counts every in-place write, so saved values can be checked; ``history``
    counts recorded in-place operations, which make earlier views' histories stale.
    """

    __slots__ = ("data", "history")

    def __init__(self) -> None:
        self.data = 0
        self.history = 0


class Node:
    """One recorded operation. ``next_functions`` lists an edge per differentiable input."""

    __slots__ = (
        "next_functions",
        "_rule",
        "_args",
        "_kwargs",
        "_ans",
        "_slots",
        "_shapes",
        "_single",
        "_checks",
        "_released",
        "_retained",
        "_n_outputs",
        "__weakref__",
    )

    def __init__(
        self,
        rule: Rule,
        next_functions: tuple,
        slots: tuple,
        shapes: tuple,
        args: tuple,
        kwargs: dict,
        ans: Any,
        checks: tuple,
        n_outputs: int,
        single: int,
    ) -> None:
        self.next_functions = next_functions
        self._rule = rule
        self._args = args
        self._kwargs = kwargs
        self._ans = ans
        self._slots = slots
        self._shapes = shapes
        #: the parameter that every edge belongs to, or -1 when they belong to several
        self._single = single
        self._checks = checks
        self._released = False
        self._retained = None
        self._n_outputs = n_outputs

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"

    def apply(self, grads: list) -> list:
        """Gradients for each edge of ``next_functions`` from the gradients of the outputs."""
        if self._released:
            raise RuntimeError(f"{SECOND_BACKWARD} (reached {type(self).__name__})")
        for counter, version, what in self._checks:
            if counter.data != version:
                raise RuntimeError(
                    f"A value that {type(self).__name__} saved for backward ({what}) was "
                    f"modified by an in-place operation after it was used (version "
                    f"{counter.data}, expected {version}). Compute the gradient before "
                    f"modifying it, or modify a copy (x = x.clone() or x = x + ...)."
                )
        rule = self._rule
        if self._n_outputs == 1:
            g = grads[0]
        else:
            g = tuple(
                grad if grad is not None else np.zeros_like(out)
                for grad, out in zip(grads, self._ans)
            )
        slots = self._slots
        info = tape_info(rule)
        first = self._single
        if first >= 0 and info.n_grads > 1:
            # Only one parameter needs a gradient: skip the others' expressions.
            vjp = info.specialised.get(first)
            if vjp is None:
                vjp = info.specialised[first] = rule.specialised(first)
            only = vjp(g, self._ans, *self._args, **self._kwargs)
            per_param = None
        else:
            per_param = rule.vjp(g, self._ans, *self._args, **self._kwargs)
            if not isinstance(per_param, tuple):
                per_param = (per_param,)
            n_results = len(per_param)
        out = []
        for (param, element), shape in zip(slots, self._shapes):
            if per_param is None:
                grad = only  # every slot is of parameter ``first``
            else:
                grad = per_param[param] if param < n_results else None
            if grad is not None and element >= 0:
                grad = grad[element]
            if grad is not None and getattr(grad, "shape", ()) != shape:
                raise RuntimeError(
                    f"internal error: the rule {rule.name!r} returned a gradient of shape "
                    f"{getattr(grad, 'shape', ())} for an input of shape {shape}"
                )
            out.append(grad)
        return out

    def release(self) -> None:
        self._args = self._kwargs = self._ans = None
        self._released = True


class AccumulateGrad(Node):
    """The node of a leaf tensor: backward adds the incoming gradient to ``variable.grad``."""

    __slots__ = ("variable",)

    def __init__(self, variable: Any) -> None:
        self.next_functions = ()
        self.variable = variable
        self._released = False
        self._retained = None
        self._n_outputs = 1

    def apply(self, grads: list) -> list:
        self.variable._accumulate_grad(grads[0])
        return []

    def release(self) -> None:
        pass


class TapeInfo:
    """What the tape needs to know about a rule, worked out once from its template."""

    __slots__ = (
        "value_positions",
        "saves_ans",
        "uses_ans",
        "n_grads",
        "what",
        "node_class",
        "specialised",
    )

    def __init__(self, rule: Rule) -> None:
        reads = rule.value_params
        #: positions of the parameters whose values (not just shapes) the rule reads
        self.value_positions = frozenset(
            i for i, name in enumerate(rule.param_names) if name in reads
        )
        #: whether the rule reads the result's values, so an in-place change must be caught
        self.saves_ans = "ans" in reads
        #: whether the node must keep the result at all
        self.uses_ans = rule.uses_ans
        self.n_grads = rule.n_grads or 0
        self.what = tuple(f"argument {name!r}" for name in rule.param_names)
        self.node_class = node_class_for(rule)
        #: parameter index -> the rule compiled to return only that gradient
        self.specialised: dict[int, Any] = {}


def tape_info(rule: Rule) -> TapeInfo:
    # Cached on the rule: re-registering a primitive makes a new Rule, and so new info.
    try:
        return rule._tape_info
    except AttributeError:
        info = rule._tape_info = TapeInfo(rule)
        return info


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


def run_backward(root: Any, seed: Any, retain_graph: bool) -> None:
    """Send ``seed`` (the cotangent of ``root``) back through the graph into leaves' grads."""
    start = root.grad_fn
    if start is None:
        root._accumulate_grad(seed)
        return
    dependencies = {start: 0}
    pending = [start]
    while pending:
        node = pending.pop()
        for successor, _ in node.next_functions:
            if successor is None:
                continue
            if successor in dependencies:
                dependencies[successor] += 1
            else:
                dependencies[successor] = 1
                pending.append(successor)

    first = [None] * start._n_outputs
    first[root._output_nr] = seed
    buffers = {start: first}
    ready = [start]
    while ready:
        node = ready.pop()
        grads = buffers.pop(node, None)
        edges = node.next_functions
        if grads is None or (grads[0] is None and all(g is None for g in grads)):
            # Nothing reached this node (a path through non-differentiable outputs).
            input_grads = [None] * len(edges)
            if not retain_graph:
                node.release()
        else:
            if node._retained is not None:
                for output_nr, ref in node._retained:
                    tensor = ref()
                    if tensor is not None and grads[output_nr] is not None:
                        tensor._accumulate_grad(grads[output_nr])
            input_grads = node.apply(grads)
            if not retain_graph:
                node.release()
        for (successor, output_nr), grad in zip(edges, input_grads):
            if successor is None:
                continue
            if grad is not None:
                buffer = buffers.get(successor)
                if buffer is None:
                    buffer = buffers[successor] = [None] * successor._n_outputs
                previous = buffer[output_nr]
                buffer[output_nr] = grad if previous is None else previous + grad
            remaining = dependencies[successor] - 1
            dependencies[successor] = remaining
            if remaining == 0:
                ready.append(successor)
