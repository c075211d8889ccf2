"""Higher-order derivatives on the tape: a backward pass that records itself, and gradients
of chosen inputs (``ag.autograd_grad``).

The ordinary backward pass (:func:`.graph.backward_pass`) runs each node's rule on raw
arrays with grad mode off: nothing it computes is recorded. :func:`graph_pass` is the
backward pass for the rest:

* ``create_graph=True``: each node's rule runs on tensors with grad mode on, so that the
  gradients it computes are recorded and can be differentiated again. A node holds the raw
  values its rule reads; they are handed to the rule as tensors *linked* to the graph: an
  input's value becomes a tensor whose gradient flows where the input's would (the node of
  its edge, or its leaf's AccumulateGrad), and the node's result a tensor whose gradient
  flows into the node itself. So ``g * cos(x)`` for ``sin`` records a product whose
  derivative reaches ``x``, and ``g * ans`` for ``exp`` one whose derivative runs the
  exp node again. The rule is its tape kernel (only the gradients the node needs), run
  with its module's globals read through :mod:`.recorded_helpers`, which replaces the few
  helpers that write into fresh arrays in place with primitives that record.
* ``targets``: the gradients reaching chosen edges (inputs that need not be leaves), as
  ``torch.autograd.grad`` computes them. Only the nodes on a path from the outputs to a
  target run, and nothing is written into any ``.grad``.

Neither touches the ordinary pass, which stays as fast as it was.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from heapq import heappop, heappush
from typing import Any

import numpy as np

from .device import device_guard, device_of
from .grad_mode import _state as _grad_state
from .graph import (
    _HOST_SCALARS,
    SECOND_BACKWARD,
    Node,
    _compiled,
    _finish,
    _hooks_registered,
    _latest_write,
    _verify,
    n_outputs,
    run_hooks,
)
from .primitives import identity
from .recorded_helpers import KERNELS, on_tensors_namespace
from .recording import apply, edge
from .rules import lookup
from .rules.variants import variant_of
from .tensor import Tensor, new_tensor

__all__ = ["graph_pass", "backward_with_graph", "autograd_grad", "accumulate_recorded"]


# -- the pass ----------------------------------------------------------------------------------


def graph_pass(
    starts: Sequence[tuple[Tensor, Any]],
    retain_graph: bool,
    create_graph: bool,
    targets: Any = None,
    floor: int = -1,
) -> dict:
    """Send each ``(tensor, cotangent)`` of ``starts`` back through the graph.

    With ``targets`` None, returns the gradient reaching each leaf, keyed by its
    AccumulateGrad node (as :func:`.graph.backward_pass` does), and accumulates into the
    ``.grad`` of tensors that called ``retain_grad()``. With ``targets``, a collection of
    edges ``(node, output index)`` (see :func:`.recording.edge`), returns the gradient
    reaching each of those that some gradient reached, keyed by the edge, and runs only
    the nodes between the outputs and the targets; ``floor``, a node's number, says that no
    node older than it leads to a target (nor is run), where the targets do not say so
    themselves (leaves: see :func:`_nodes_to_run`).

    With ``create_graph``, the cotangents may be tensors (that require grad), the rules run
    on tensors with grad mode on, and the gradients are tensors recorded as functions of
    the graph's inputs and of the cotangents; otherwise the pass computes on raw arrays as
    the ordinary one does. Saved values are freed as nodes run unless ``retain_graph``.
    """
    for root, _ in starts:
        if root._base is not None:
            root._fresh()  # (a stale view's history is its base's)
    if not create_graph:
        starts = [(root, _plain(seed)) for root, seed in starts]
    data = starts[0][0]._data if starts else None
    enabled, numbers = _grad_state.enabled, _grad_state.numbers
    _grad_state.enabled = create_graph
    _grad_state.numbers = False  # (rules compute on arrays, never on numbers a user wrote)
    try:
        if type(data) is np.ndarray or type(data) in _HOST_SCALARS or data is None:
            return _pass(starts, retain_graph, create_graph, targets, floor)
        with device_guard(device_of(data)):
            return _pass(starts, retain_graph, create_graph, targets, floor)
    finally:
        _grad_state.enabled, _grad_state.numbers = enabled, numbers


def _plain(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _add(previous: Any, grad: Any) -> Any:
    if previous is None:
        return grad
    return previous if grad is None else previous + grad


def _pass(starts: Any, retain_graph: bool, create_graph: bool, targets: Any, floor: int) -> dict:
    found: dict = {}
    if targets is not None:
        targets = set(targets)
        target_nodes: dict = {}
        for node, nr in targets:
            target_nodes.setdefault(node, []).append(nr)
        runs = _nodes_to_run([root._grad_fn for root, _ in starts], target_nodes, floor)
    pending: dict = {}
    heap: list = []

    def send(node: Node, nr: int, grad: Any) -> None:
        if node._seq < 0:  # a leaf's AccumulateGrad
            if grad is not None:
                if targets is None:
                    found[node] = _add(found.get(node), grad)
                elif (node, 0) in targets:
                    found[(node, 0)] = _add(found.get((node, 0)), grad)
            return
        if targets is not None and node not in runs and node not in target_nodes:
            return  # no target lies behind it
        n = n_outputs(node)
        if node not in pending:
            pending[node] = None if n == 1 else [None] * n
            heappush(heap, (-node._seq, node))
        if n == 1:
            pending[node] = _add(pending[node], grad)
        else:
            buffer = pending[node]
            buffer[nr] = _add(buffer[nr], grad)

    for root, seed in starts:
        start = root._grad_fn
        if start is None:
            send(root._grad_accumulator(), 0, seed)
        else:
            send(start, root._output_nr, seed)
    while heap:
        node = heappop(heap)[1]
        g = pending.pop(node)
        found_extra = node._extra
        n = 1 if found_extra is None else found_extra.n_outputs
        if found_extra is not None and found_extra.hooks and g is not None:
            # (before a target's gradient is captured and retain_grad's copy, as in torch)
            g = run_hooks(node, g, recorded=create_graph)
        if targets is not None:
            for nr in target_nodes.get(node, ()):
                part = g if n == 1 else g[nr]
                if part is not None:
                    found[(node, nr)] = part
            if node not in runs:
                continue  # a target with nothing to reach behind it: captured, not run
        if g is not None and (n == 1 or any(part is not None for part in g)):
            if targets is None and found_extra is not None and found_extra.retained:
                for output_nr, ref in found_extra.retained:
                    tensor = ref()
                    part = g if n == 1 else g[output_nr]
                    if tensor is not None and part is not None:
                        accumulate_recorded(tensor, part, create_graph)
            grads = _apply_on_tensors(node, g) if create_graph else node.apply(g)
        else:
            grads = (None,) * len(node._next)  # (visited all the same, to be freed)
        if not retain_graph:
            node.release()
        nrs = (found_extra.nrs if found_extra is not None else None) or (0,) * len(node._next)
        for successor, nr, grad in zip(node._next, nrs, grads):
            send(successor, nr, grad)
    if _hooks_registered[0]:
        # a leaf's hooks see the whole gradient reaching it in this pass
        for key, grad in found.items():
            accumulator = key if targets is None else key[0]
            if accumulator._seq < 0 and accumulator._extra is not None and accumulator._extra.hooks:
                found[key] = run_hooks(accumulator, grad, recorded=create_graph)
    return found


def _nodes_to_run(roots: list, targets: dict, floor: int = -1) -> set:
    """The nodes from which some target is reached by a path of at least one edge: those a
    pass for ``targets`` must run. (A target itself runs only if another lies behind it.)
    Walked without recursion: graphs of long loops are deep. Edges lead to older nodes, so
    where no target is a leaf, nothing older than the oldest target can reach one: a
    gradient taken inside a function on the tape (whose inputs are recorded copies) walks
    its own part of the graph, not everything recorded before it. A caller that knows more
    gives ``floor``: no node older than it leads to a target (fallback._outside_pullback,
    whose targets are leaves of its own, made after everything older)."""
    # (-1 with a leaf among them: no bound but the caller's)
    floor = max(floor, min(node._seq for node in targets))
    state: dict = {}
    stack = [(root, False) for root in roots if root is not None]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            state[node] = any(s in targets or state.get(s, False) for s in node._next)
            continue
        if node in state:
            continue
        state[node] = False  # (until its successors are known; the graph has no cycles)
        stack.append((node, True))
        for successor in node._next:
            if successor._seq >= floor and successor._seq >= 0 and successor not in state:
                stack.append((successor, False))
    return {node for node, runs in state.items() if runs}


# -- a node's rule on tensors ------------------------------------------------------------------


def _apply_on_tensors(node: Node, g: Any) -> tuple:
    """``node.apply(g)``, with the rule running on tensors linked to the graph (see the
    module doc), so that what it computes is recorded."""
    args = node._args
    if args is None:
        raise RuntimeError(f"{SECOND_BACKWARD} (reached {node.name()})")
    if node._checks and _latest_write[0] > node._seq:
        _verify(node)
    kernel = node._kernel
    found = node._extra
    kwargs = found.kwargs if found is not None else None
    linked_args, linked_kwargs = _linked_inputs(node, args, kwargs)
    ans = _linked_result(node)
    if found is not None and found.n_outputs != 1:
        g = tuple(
            grad if grad is not None else np.zeros_like(out) for grad, out in zip(g, node._ans)
        )
    fn = _on_tensors(kernel)
    if linked_kwargs:
        grads = fn(g, ans, *linked_args, **linked_kwargs)
    else:
        grads = fn(g, ans, *linked_args)
    return _finish(node, kernel, grads)


def _linked(value: Any, successor: Node, output_nr: int, counter: Any) -> Tensor:
    """``value``, which a node saved of one of its inputs, as a tensor whose gradient goes
    where that input's went: into ``successor``'s output ``output_nr``, or the leaf's
    AccumulateGrad. It shares the input's version counter, so that the nodes made with it
    check the value as the input's own nodes do."""
    tensor = new_tensor(value)
    tensor._requires_grad = True
    if successor._seq < 0:
        tensor._accumulator = successor
    else:
        tensor._grad_fn = successor
        tensor._output_nr = output_nr
    if counter is not None:
        tensor._counter = counter
    return tensor


def _linked_inputs(node: Node, args: tuple, kwargs: dict | None) -> tuple[list, dict | None]:
    """The node's saved arguments, each value of an input that needs a gradient linked to
    its edge (elements of list arguments too); the others as they are."""
    kernel = node._kernel
    found = node._extra
    nrs = (found.nrs if found is not None else None) or (0,) * len(node._next)
    checks = node._checks
    counters = {checks[k + 2]: checks[k] for k in range(0, len(checks), 3)}
    args = list(args)
    kwargs = dict(kwargs) if kwargs else None
    names = kernel.rule.param_names
    elements = kernel.elements
    for i, successor in enumerate(node._next):
        if elements is None:
            param, element = kernel.params[i], -1
        else:
            index, element = elements[i]
            param = kernel.params[index]
        if param < len(args):
            value = args[param]
        else:
            value = kwargs.get(names[param]) if kwargs else None
        if value is None:
            continue  # not kept: the gradients this node computes do not read it
        if element < 0:
            value = _linked(value, successor, nrs[i], counters.get(param))
        else:
            items = list(value)
            items[element] = _linked(items[element], successor, nrs[i], None)
            value = tuple(items) if isinstance(value, tuple) else items
        if param < len(args):
            args[param] = value
        else:
            kwargs[names[param]] = value
    return args, kwargs


def _linked_result(node: Node) -> Any:
    """The node's saved result as a tensor (tensors, for several) whose gradient flows into
    the node itself: ``g * ans`` of exp differentiates through exp again."""
    ans = node._ans
    if ans is None:
        return None
    if n_outputs(node) == 1 and not isinstance(ans, (tuple, list)):
        # (a tuple of one result, from a primitive that may return several, is a tuple
        # here as its rule reads it: add_results' Parts of one tangent)
        tensor = new_tensor(ans, node, 0)
        checks = node._checks
        for k in range(0, len(checks), 3):
            if checks[k + 2] == -1:
                tensor._counter = checks[k]
        return tensor
    return tuple(new_tensor(part, node, i) for i, part in enumerate(ans))


# The rules' tape kernels as they run on tensors, by kernel: the same code, with globals
# read through recorded_helpers.replacement_for.
_KERNELS_ON_TENSORS: dict = {}


def _on_tensors(kernel: Any) -> Any:
    fn = _KERNELS_ON_TENSORS.get(kernel)
    if fn is None:
        source = kernel.fn
        variant = variant_of(kernel.rule.vjp)
        if variant is not None and source in variant.grads.values():
            # A rule's variant is written for raw operands of one form (ndarray.dot for two
            # float matrices): on tensors, the rule itself, every unbroadcast kept (a
            # variant's kernel is trusted to give each input's shape).
            keep = (True,) * len(kernel.params)
            source = _compiled(kernel.rule, kernel.rule.template, kernel.params, keep)[0]
        code = getattr(source, "__code__", None)
        if code is None:
            fn = source
        else:
            fn = types.FunctionType(
                code,
                on_tensors_namespace(source.__globals__),
                source.__name__,
                source.__defaults__,
                source.__closure__,
            )
            fn.__kwdefaults__ = source.__kwdefaults__
        written = KERNELS.get(kernel.rule.vjp)
        if written is not None:
            fn = written(kernel, fn)
        _KERNELS_ON_TENSORS[kernel] = fn
    return fn


# -- into .grad -------------------------------------------------------------------------------

_COPY = lookup(identity)


def accumulate_recorded(tensor: Tensor, grad: Any, create_graph: bool) -> None:
    """Add ``grad`` into ``tensor.grad``. With ``create_graph`` it is replaced by the sum,
    never written into (as in PyTorch), so that a ``.grad`` that records stays the
    function of the inputs it was; a first gradient that records is kept as it is."""
    if not create_graph or (tensor._grad is None and not isinstance(grad, Tensor)):
        tensor._accumulate_grad(_plain(grad))
        return
    data = tensor._data
    if grad.shape != data.shape:
        raise RuntimeError(
            f"internal error: gradient of shape {grad.shape} reached a tensor of shape {data.shape}"
        )
    if isinstance(grad, Tensor) and grad.dtype != data.dtype:
        grad = grad.astype(data.dtype)
    if tensor._grad is None:
        tensor._grad = grad
    else:
        tensor._grad = tensor._grad + grad


def _distinct(grads: list, seeds: list) -> list:
    """``grads`` with each tensor handed out once: a tensor met again, or one of the
    cotangents given, is replaced by a copy (recorded, when it requires grad), so that
    changing one gradient in place cannot change another."""
    seen = {id(seed) for seed in seeds if isinstance(seed, Tensor)}
    out = []
    for grad in grads:
        if isinstance(grad, Tensor):
            if id(grad) in seen:
                grad = apply(_COPY, identity, (grad,))
            seen.add(id(grad))
        out.append(grad)
    return out


def backward_with_graph(root: Tensor, gradient: Any, retain_graph: bool) -> None:
    """``root.backward(gradient, retain_graph, create_graph=True)``: the gradient reaching
    each leaf is recorded, and becomes (or is added into) its ``.grad``."""
    seed = _seed(root, gradient, True)
    found = graph_pass(((root, seed),), retain_graph, True)
    leaves = list(found)
    grads = _distinct([found[leaf] for leaf in leaves], [seed])
    enabled = _grad_state.enabled
    _grad_state.enabled = True  # (the sums into .grad are recorded, as the gradients were)
    try:
        for leaf, grad in zip(leaves, grads):
            accumulate_recorded(leaf.variable, grad, True)
    finally:
        _grad_state.enabled = enabled


def _seed(output: Tensor, gradient: Any, create_graph: bool) -> Any:
    """The cotangent a pass starts from at ``output``, checked as ``backward`` checks it:
    a tensor given stays one when the pass records (its history is part of the result)."""
    seed = output._seed(gradient)
    if create_graph and isinstance(gradient, Tensor):
        return gradient
    return seed


# -- autograd_grad --------------------------------------------------------------------------


def _as_tuple(value: Any, what: str) -> tuple:
    if isinstance(value, Tensor):
        return (value,)
    if isinstance(value, (list, tuple)):
        return tuple(value)
    raise TypeError(f"{what} must be a tensor or a sequence of tensors, not {type(value).__name__}")


def autograd_grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, as ``torch.autograd.grad``
    computes them: a tuple with one gradient per input, and no ``.grad`` written.

    ``outputs`` and ``inputs`` are tensors or sequences of them; ``inputs`` need not be
    leaves. ``grad_outputs`` gives the cotangent of each output (a tensor or array of its
    shape; None for a one-element output means 1); it is required for outputs with more
    than one element. With ``create_graph=True`` the gradients are recorded, so that they
    can be differentiated again, and may be tensors that require grad (the cotangents may
    too); ``retain_graph`` defaults to ``create_graph``: otherwise the graph's saved values
    are freed. An input that no output depends on raises, unless ``allow_unused=True``,
    which gives None for it.

    >>> import astgrad as ag
    >>> x = ag.tensor(2.0, requires_grad=True)
    >>> (slope,) = ag.autograd_grad(x**4, x, create_graph=True)
    >>> slope
    tensor(32., grad_fn=<MulBackward>)
    >>> ag.autograd_grad(slope, x)
    (tensor(48.),)
    """
    outputs = _as_tuple(outputs, "outputs")
    inputs = _as_tuple(inputs, "inputs")
    if grad_outputs is None:
        cotangents: tuple = (None,) * len(outputs)
    else:
        cotangents = (
            _as_tuple(grad_outputs, "grad_outputs")
            if not hasattr(grad_outputs, "shape")
            else (grad_outputs,)
        )
    if len(cotangents) != len(outputs):
        raise RuntimeError(
            f"grad_outputs has {len(cotangents)} cotangent(s) for {len(outputs)} output(s): "
            "give one per output (None for a one-element output)"
        )
    if retain_graph is None:
        retain_graph = create_graph
    starts = []
    for i, (output, cotangent) in enumerate(zip(outputs, cotangents)):
        if not isinstance(output, Tensor):
            raise TypeError(f"outputs[{i}] is a {type(output).__name__}, not a tensor")
        if not output._requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn: "
                "the output does not depend on any tensor that requires grad"
            )
        if cotangent is None and output._data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs, and outputs[{i}] has "
                f"shape {tuple(output.shape)}: pass its cotangent in grad_outputs "
                f"(ag.autograd_grad(y, x, grad_outputs=ag.ones_like(y)) for the gradient of "
                f"y.sum()), or reduce the output to one element first"
            )
        starts.append((output, _seed(output, cotangent, create_graph)))
    edges = []
    for i, tensor in enumerate(inputs):
        if not isinstance(tensor, Tensor) or not tensor._requires_grad:
            raise RuntimeError(
                f"inputs[{i}] does not require grad: only tensors that require grad (leaves "
                "made with requires_grad=True, or results computed from them) have gradients"
            )
        edges.append(edge(tensor))
    found = graph_pass(starts, retain_graph, create_graph, edges)
    grads = []
    for i, (tensor, where) in enumerate(zip(inputs, edges)):
        grad = found.get(where)
        if grad is None:
            if not allow_unused:
                raise RuntimeError(
                    f"inputs[{i}] appears to not have been used in the graph: no output "
                    "depends on it. Set allow_unused=True to get None for it."
                )
            grads.append(None)
            continue
        grads.append(_input_gradient(grad, tensor))
    return tuple(_distinct(grads, [seed for _, seed in starts]))


def _input_gradient(grad: Any, tensor: Tensor) -> Tensor:
    """A gradient for ``tensor`` as a tensor of its shape and dtype: one that records as it
    is, a raw one in a buffer of its own."""
    data = tensor._data
    if getattr(grad, "shape", ()) != data.shape:
        raise RuntimeError(
            f"internal error: gradient of shape {getattr(grad, 'shape', ())} reached an "
            f"input of shape {data.shape}"
        )
    if isinstance(grad, Tensor):
        if grad.dtype.kind == "c" and data.dtype.kind != "c":
            grad = grad.real  # a real input's gradient: the real part (rules/complex.py)
        if grad.dtype != data.dtype:
            grad = grad.astype(data.dtype)
        if grad._requires_grad:
            return grad
        grad = grad._data
    if grad.dtype.kind == "c" and data.dtype.kind != "c":
        grad = grad.real
    owned = grad.astype(data.dtype, copy=True)
    if isinstance(owned, np.generic):
        owned = np.asarray(owned)
    return new_tensor(owned)
