"""The tape's fast path: binary operators (``a * b``, ``x @ W``) and functions of one tensor
(``t.tanh()``, ``t.sum()``, ``np.exp(t)``).

These make the same nodes as recording.apply, with everything written out in one function:
a Python call costs about as much as a few dozen of the statements here, and these run for
every operation a model records. :func:`operator_pair` makes ``Tensor.__mul__`` and its
reflection for a rule, so that ``a * b`` costs one Python call; :func:`unary` serves
methods of one tensor. Both record the rule's variant (rules.variants) where the operands
have its form.

For the same reason the result and its node are made here with the fields of
tensor.new_tensor and graph.new_node written out, not by calling them: the two calls cost
5-8% of a small operation (benchmarks/tape_overhead.py). tests/test_tape_fast_paths.py
checks that these set exactly the fields the constructors set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .adjoints import matrix_error
from .device import check_same_device
from .grad_mode import _state as _grad_state
from .graph import Kernel, Node, elementwise_rule, extra, kernel_for, next_sequence_number
from .raw_values import HOST, KEPT, NUMPY_SCALARS, as_result, is_buffer
from .recording import check_fresh_view
from .rules.arithmetic import dot_2d, two_float_matrices
from .rules.registry import Rule
from .rules.variants import Variant, variant_of
from .tensor import Tensor

__all__ = ["operator_pair", "binary", "unary", "operand", "mean_of"]

_ndarray = np.ndarray
_new = object.__new__


def operand(value: Any) -> tuple[Any, bool]:
    """The raw value of an operand that is not exactly a Tensor, and whether it requires grad."""
    if isinstance(value, Tensor):
        return value._data, value._requires_grad
    if type(value) is list or type(value) is tuple:
        return np.asarray(value), False
    if isinstance(value, np.matrix):
        raise matrix_error("an operand")
    return value, False


# -- binary operators -----------------------------------------------------------------------


def operator_pair(rule: Rule, compute: Callable) -> tuple[Callable, Callable]:
    """``Tensor.__op__`` and ``Tensor.__rop__`` for a binary primitive. ``compute`` is the
    primitive as Python's operator (``operator.mul`` for ``np.multiply``): on arrays it is
    the same ufunc, and on NumPy scalars it takes NumPy's scalar path."""
    # The rule's kernels, by which operands need a gradient and, for each of those, whether
    # it has the result's shape (a trusted kernel then leaves its unbroadcast out: see
    # graph.Kernel): left_only[x_full], right_only[y_full], both[x_full][y_full]. A rule
    # that cannot have trusted kernels has one (checked) kernel per case, at [False].
    left_only: list = [None, None]
    right_only: list = [None, None]
    both: list = [[None, None], [None, None]]
    elementwise = None  # whether the rule allows trusted kernels; found out when first needed
    variant = variant_of(rule.vjp)
    in_form = None if variant is None else variant.when or _always
    # matmul's product and its variant's test in one: the operands dot_2d takes its BLAS
    # road for are those of the variant (two float matrices), and only those.
    matmul_like = compute is dot_2d and in_form is two_float_matrices
    compute_in_form = _dot_2d_in_form if matmul_like else None

    def forward(x: Any, y: Any) -> Tensor:
        if type(x) is Tensor:
            xd = x._data
            x_grad = x._requires_grad
        elif type(x) in _PLAIN:
            xd = x
            x_grad = False
        else:
            xd, x_grad = operand(x)
        if type(y) is Tensor:
            yd = y._data
            y_grad = y._requires_grad
        elif type(y) in _PLAIN:
            yd = y
            y_grad = False
        else:
            yd, y_grad = operand(y)
        # (NumPy arrays are tested apart from the other host types: they are the common case.)
        x_kind = type(xd)
        y_kind = type(yd)
        if (x_kind is not _ndarray and x_kind not in HOST) or (
            y_kind is not _ndarray and y_kind not in HOST
        ):
            check_same_device((xd, yd))
        if compute_in_form is None:
            out = compute(xd, yd)
            form = None  # (whether the operands have the variant's form: asked below)
        else:
            out, form = compute_in_form(xd, yd)
        if type(out) is not _ndarray and type(out) not in KEPT:
            out = as_result(out)
        # new_tensor(out, node), written out (see the module doc)
        result = _new(Tensor)
        result._data = out
        result._output_nr = 0
        result._grad = None
        result._counter = None
        result._base = None
        result._view_history = 0
        result._accumulator = None
        result._retains_grad = False
        if not ((x_grad or y_grad) and _grad_state.enabled):
            result._requires_grad = False  # (and below, recorded: True and its node)
            result._grad_fn = None
            return result

        nonlocal elementwise
        if elementwise is None:
            elementwise = elementwise_rule(rule)
        if not elementwise:
            x_full = y_full = False
        elif type(out) is not _ndarray and type(out) in NUMPY_SCALARS:
            x_full = y_full = True  # every operand of a result without dimensions has none
        else:
            shape = out.shape
            x_full = x_grad and xd.shape == shape
            y_full = y_grad and yd.shape == shape
        # Which output of its node each operand is, where one is not the first.
        nrs = None
        if x_grad:
            if x._base is not None:
                check_fresh_view(x)
            x_node = x._grad_fn
            if x_node is None:
                x_node = x._accumulator or x._grad_accumulator()
            elif x._output_nr:
                nrs = (x._output_nr, 0)
        if y_grad:
            if y._base is not None:
                check_fresh_view(y)
            y_node = y._grad_fn
            if y_node is None:
                y_node = y._accumulator or y._grad_accumulator()
            elif y._output_nr:
                nrs = (nrs[0] if nrs else 0, y._output_nr)
            if x_grad:
                successors = (x_node, y_node)
                kernel = both[x_full][y_full]
                if kernel is None:
                    kernel = both[x_full][y_full] = _kernel(
                        rule, elementwise, (0, 1), (x_full, y_full)
                    )
            else:
                successors = (y_node,)
                if nrs:
                    nrs = nrs[1:]
                kernel = right_only[y_full]
                if kernel is None:
                    kernel = right_only[y_full] = _kernel(rule, elementwise, (1,), (y_full,))
        else:
            successors = (x_node,)
            if nrs:
                nrs = nrs[:1]
            kernel = left_only[x_full]
            if kernel is None:
                kernel = left_only[x_full] = _kernel(rule, elementwise, (0,), (x_full,))
        if in_form is not None and (in_form(xd, yd) if form is None else form):
            kernel = _variant_kernels.get(kernel) or _variant_kernel(kernel, variant)
        checks = ()
        if kernel.read_x:
            if type(x) is Tensor or isinstance(x, Tensor):
                if x._base is not None and xd.ndim == 0:
                    # a 0-d view (CuPy's x[i]): its one value kept (recording's SNAPSHOT)
                    xd = xd.copy()
                else:
                    counter = x._counter
                    if counter is None:
                        counter = x._counter = [0, 0]  # (graph.new_version_counter, written out)
                    checks = (counter, counter[0], 0)
            elif type(xd) is _ndarray or (type(xd) not in HOST and is_buffer(xd)):
                xd = xd.copy()  # the user may change this array before backward
        if kernel.read_y:
            if type(y) is Tensor or isinstance(y, Tensor):
                if y._base is not None and yd.ndim == 0:
                    yd = yd.copy()
                else:
                    counter = y._counter
                    if counter is None:
                        counter = y._counter = [0, 0]
                    checks += (counter, counter[0], 1)
            elif type(yd) is _ndarray or (type(yd) not in HOST and is_buffer(yd)):
                yd = yd.copy()
        if kernel.reads_ans:
            counter = result._counter = [0, 0]
            checks += (counter, 0, -1)
        # new_node(kernel, successors, args, ans, checks), written out (see the module doc)
        node = _new(Node)
        node._next = successors
        node._kernel = kernel
        node._args = (xd if kernel.keep_x else None, yd if kernel.keep_y else None)
        node._ans = out if kernel.uses_ans else None
        node._checks = checks
        node._seq = next_sequence_number()
        node._extra = None
        if nrs:
            extra(node).nrs = nrs
        result._requires_grad = True
        result._grad_fn = node
        return result

    def reflected(y: Any, x: Any) -> Tensor:
        return forward(x, y)

    forward.__name__ = f"forward_{rule.name}"
    reflected.__name__ = f"reflected_{rule.name}"
    return forward, reflected


# Operands that operand() gives back as they are, needing no gradient: the common ones, tested
# first. (Not bool: NumPy's scalars and other types go through operand().)
_PLAIN = frozenset({float, int, _ndarray})


def _dot_2d_in_form(a: Any, b: Any) -> tuple[Any, bool]:
    """``dot_2d(a, b)``, and whether ``a`` and ``b`` are in the form of matmul's variant
    (rules.arithmetic.two_float_matrices): dot_2d's test and its variant's in one."""
    if type(a) is _ndarray and type(b) is _ndarray:
        dtype = a.dtype
        if (
            b.dtype is dtype
            and (dtype is _FLOAT64 or dtype is _FLOAT32)
            and a.ndim == 2
            and b.ndim == 2
            and a.shape[1] == b.shape[0]
        ):
            return a.dot(b), True
    # (two such matrices of shapes that do not fit raise here, with matmul's message)
    return a @ b, False


def _kernel(rule: Rule, elementwise: bool, params: tuple, full: tuple) -> Kernel:
    """The kernel of ``rule`` for the gradients of ``params``, trusted where the rule allows
    (``full``: whether each of those operands has the result's shape)."""
    return kernel_for(rule, params, same=full if elementwise else None)


def _always(*operands: Any) -> bool:
    return True


# A kernel's variant, by kernel (the kernel itself where the variant has no function for
# its parameters).
_variant_kernels: dict = {}


def _variant_kernel(kernel: Kernel, variant: Variant) -> Kernel:
    fn = variant.grads.get(kernel.params)
    # (A variant's gradients have their inputs' shapes: see rules.variants.)
    found = _variant_kernels[kernel] = kernel if fn is None else kernel.variant(fn, trusted=True)
    return found


def binary(rule: Rule, x: Any, y: Any) -> Tensor:
    """``rule.primitive(x, y)`` where at least one of ``x``, ``y`` is a tensor."""
    forward = rule.__dict__.get("_tape_operator")
    if forward is None:
        compute = dot_2d if rule.primitive is np.matmul else rule.primitive
        forward = rule._tape_operator = operator_pair(rule, compute)[0]
    return forward(x, y)


# -- functions of one tensor ------------------------------------------------------------------

_unary_kernels: dict = {}


def unary(rule: Rule, fn: Callable, x: Tensor) -> Tensor:
    """``fn(x)`` for a method of one tensor whose primitive is a NumPy function that accepts
    NumPy scalars (``t.tanh()``, ``t.sum()``)."""
    xd = x._data
    out = fn(xd)
    if type(out) is not _ndarray and type(out) not in KEPT:
        out = as_result(out)
    # new_tensor(out, node), written out (see the module doc)
    result = _new(Tensor)
    result._data = out
    result._output_nr = 0
    result._grad = None
    result._counter = None
    result._base = None
    result._view_history = 0
    result._accumulator = None
    result._retains_grad = False
    if not (x._requires_grad and _grad_state.enabled) or out.dtype.kind not in "fc":
        result._requires_grad = False  # (and below, recorded: True and its node)
        result._grad_fn = None
        return result  # (integer or boolean results carry no gradient)
    kernel = _unary_kernels.get(rule)
    if kernel is None:
        kernel = _unary_kernels[rule] = _unary_kernel(rule)
    if x._base is not None:
        check_fresh_view(x)
    nrs = None
    successor = x._grad_fn
    if successor is None:
        successor = x._accumulator or x._grad_accumulator()
    elif x._output_nr:
        nrs = (x._output_nr,)
    checks = ()
    if kernel.read_x and x._base is not None and xd.ndim == 0:
        xd = xd.copy()  # a 0-d view (CuPy's x[i]): its one value kept (recording's SNAPSHOT)
    elif kernel.read_x:
        counter = x._counter
        if counter is None:
            counter = x._counter = [0, 0]  # (graph.new_version_counter, written out)
        checks = (counter, counter[0], 0)
    if kernel.reads_ans:
        counter = result._counter = [0, 0]
        checks += (counter, 0, -1)
    # new_node(kernel, successors, args, ans, checks), written out (see the module doc)
    node = _new(Node)
    node._next = (successor,)
    node._kernel = kernel
    node._args = (xd if kernel.keep_x else None,)
    node._ans = out if kernel.uses_ans else None
    node._checks = checks
    node._seq = next_sequence_number()
    node._extra = None
    if nrs:
        extra(node).nrs = nrs
    result._requires_grad = True
    result._grad_fn = node
    return result


def _unary_kernel(rule: Rule) -> Kernel:
    # A ufunc of one input keeps its input's shape: trusted when its rule allows.
    kernel = kernel_for(rule, (0,), same=(True,) if elementwise_rule(rule) else None)
    variant = variant_of(rule.vjp)
    if variant is not None and variant.when is None and (0,) in variant.grads:
        # (these roads call the primitive with its operand alone: see rules.variants)
        kernel = kernel.variant(variant.grads[(0,)], trusted=True)
    return kernel


def mean_of(a: Any) -> Any:
    """``np.mean(a)`` without np.mean's layers of Python, for a float64 array: the same
    pairwise sum divided by the same count, so the same value, a few times faster on small
    arrays. Anything else goes to np.mean itself."""
    if type(a) is _ndarray and a.dtype is _FLOAT64 and a.size:
        return _add_reduce(a, axis=None) / a.size
    return np.mean(a)


_FLOAT64 = np.dtype(np.float64)
_FLOAT32 = np.dtype(np.float32)
_add_reduce = np.add.reduce
