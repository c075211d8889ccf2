"""A rule's source, made into what its two consumers run.

Both consumers start from one parse of the rule (:func:`parse`): its body as assignments
(the prelude) and one returned expression per differentiable parameter.

* The transform inlines it: :meth:`RuleTemplate.prelude_for` gives the assignments the
  wanted gradients need, and :func:`gradient` each gradient's expression, which
  ``transform.inline`` renames into the call site.
* The tape runs it: :func:`compile_kernel` compiles, from the same nodes, a function that
  computes only the gradients a node needs; :func:`elementwise` says whether those
  gradients have the result's shape, so that the tape need not check them.

Both take each gradient from :func:`gradient`, which leaves out the rule's outer
``unbroadcast(e, x)`` where ``x`` is known to have the result's shape (it is then ``e``):
the transform where the operands' shapes say so, the tape where it checks shapes after
the kernel ran or knows them when the node is made. :func:`translate` writes one rule as
another's with it too (the ``math`` module's rules are NumPy's, on floats).
"""

from __future__ import annotations

import ast
import builtins
import copy
import inspect
import linecache
import math
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gast
import numpy as np

from .shared import shape_only_positions, unbroadcast

__all__ = [
    "RuleTemplate",
    "parse",
    "value_reads",
    "outer_unbroadcast",
    "gradient",
    "compile_kernel",
    "elementwise",
    "translate",
    "translated_from",
]

# Attributes and NumPy functions that read an argument's shape and dtype, never its
# values (positions per function). The tape skips the in-place check for such uses; the
# transform need not keep the value alive for them.
_SHAPE_ONLY_ATTRIBUTES = frozenset({"shape", "ndim", "dtype", "size"})
_SHAPE_ONLY_NUMPY = {
    "shape": (0,),
    "ndim": (0,),
    "size": (0,),
    "zeros_like": (0,),
    "ones_like": (0,),
    "empty_like": (0,),
    "full_like": (0,),
}


@dataclass
class RuleTemplate:
    """A rule's body, parsed once.

    ``params`` are the parameter names after ``g`` and ``ans``; ``prelude`` the
    assignments before the return; ``outputs`` one expression (or None) per differentiable
    parameter, in order. All nodes are gast nodes; consumers must copy before mutating.
    """

    function: gast.FunctionDef
    params: list[str]
    prelude: list[gast.Assign]
    outputs: list[gast.expr | None]
    value_reads: frozenset[str]
    names_read: frozenset[str]
    first_line: int
    filename: str
    _needed: dict[int, list[gast.Assign]] = field(default_factory=dict)

    def needed_prelude(self, output_index: int) -> list[gast.Assign]:
        """The prelude assignments that output ``output_index`` depends on."""
        # Asked at every call site the transform inlines the rule at: found once.
        kept = self._needed.get(output_index)
        if kept is None:
            needed = _names_in(self.outputs[output_index])
            kept = []
            for stmt in reversed(self.prelude):
                target = stmt.targets[0].id
                if target in needed:
                    kept.append(stmt)
                    needed.discard(target)
                    needed |= _names_in(stmt.value)
            kept.reverse()
            self._needed[output_index] = kept
        return list(kept)

    def prelude_for(self, positions: Any) -> list[gast.Assign]:
        """The prelude assignments the outputs at ``positions`` need, in the rule's order."""
        needed: set[int] = set()
        for p in positions:
            if p < len(self.outputs) and self.outputs[p] is not None:
                needed |= {id(stmt) for stmt in self.needed_prelude(p)}
        return [stmt for stmt in self.prelude if id(stmt) in needed]


def parse(vjp: Callable) -> RuleTemplate | None:
    """The template of the rule ``vjp``, or None when it must be called rather than
    inlined (a closure, no source, or a body other than assignments and one return)."""
    if vjp.__code__.co_freevars:
        return None  # closures cannot be inlined into another namespace
    try:
        source = inspect.getsource(vjp)
        filename = inspect.getsourcefile(vjp) or "<unknown>"
        _, first_line = inspect.getsourcelines(vjp)
    except (OSError, TypeError):
        return None
    function = gast.parse(textwrap.dedent(source)).body[0]
    if not isinstance(function, gast.FunctionDef):
        return None
    function.decorator_list = []
    body = list(function.body)
    if body and isinstance(body[0], gast.Expr) and isinstance(body[0].value, gast.Constant):
        body = body[1:]  # docstring
    prelude: list[gast.Assign] = []
    for stmt in body[:-1]:
        simple = (
            isinstance(stmt, gast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], gast.Name)
        )
        if not simple:
            return None
        prelude.append(stmt)
    if not body or not isinstance(body[-1], gast.Return) or body[-1].value is None:
        return None
    returned = body[-1].value
    if isinstance(returned, gast.Tuple):
        outputs = [_none_to_missing(e) for e in returned.elts]
    else:
        outputs = [_none_to_missing(returned)]
    params = [a.id for a in function.args.args][2:]
    params += [a.id for a in function.args.kwonlyargs]
    if function.args.vararg is not None or function.args.kwarg is not None:
        return None  # the transform cannot bind a variable-length signature statically
    names_read: set[str] = set()
    reads: set[str] = set()
    for node in [*prelude, *(o for o in outputs if o is not None)]:
        names_read |= _names_in(node)
        reads |= value_reads(node, vjp.__globals__)
    locals_ = {s.targets[0].id for s in prelude}
    interesting = set(params) | {"ans"}
    return RuleTemplate(
        function=function,
        params=params,
        prelude=prelude,
        outputs=outputs,
        value_reads=frozenset((reads - locals_) & interesting),
        names_read=frozenset(names_read),
        first_line=first_line,
        filename=filename,
    )


def _none_to_missing(expr: gast.expr) -> gast.expr | None:
    if isinstance(expr, gast.Constant) and expr.value is None:
        return None
    return expr


def _names_in(node: gast.AST | None) -> set[str]:
    if node is None:
        return set()
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)}


def _loaded_names_in(nodes: list) -> set[str]:
    return {
        n.id
        for node in nodes
        for n in gast.walk(node)
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)
    }


# -- what a rule reads by value -------------------------------------------------------------


def value_reads(node: gast.AST, namespace: dict) -> set[str]:
    """Names read for their values in ``node``: all names but shape-only uses."""
    shape_only_names: set[int] = set()
    for sub in gast.walk(node):
        if isinstance(sub, gast.Attribute) and sub.attr in _SHAPE_ONLY_ATTRIBUTES:
            if isinstance(sub.value, gast.Name):
                shape_only_names.add(id(sub.value))
        elif isinstance(sub, gast.Call):
            positions = _shape_only_positions(sub.func, namespace)
            for position in positions:
                if position < len(sub.args) and isinstance(sub.args[position], gast.Name):
                    shape_only_names.add(id(sub.args[position]))
    return {
        n.id
        for n in gast.walk(node)
        if isinstance(n, gast.Name)
        and isinstance(n.ctx, gast.Load)
        and id(n) not in shape_only_names
    }


def _shape_only_positions(func: gast.expr, namespace: dict) -> frozenset[int]:
    if isinstance(func, gast.Name):
        helper = namespace.get(func.id)
        return shape_only_positions(helper)
    if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name):
        module = namespace.get(func.value.id)
        if getattr(module, "__name__", None) == "numpy":
            return frozenset(_SHAPE_ONLY_NUMPY.get(func.attr, ()))
    return frozenset()


def _value_reads_in(prelude: list, outputs: list, namespace: dict) -> frozenset:
    """The names ``prelude`` and ``outputs`` read by value, rather than for shape only: a
    name read after a prelude statement assigned it is a local, not the parameter."""
    reads: set[str] = set()
    assigned: set[str] = set()
    for stmt in prelude:
        reads |= value_reads(stmt.value, namespace) - assigned
        assigned.add(stmt.targets[0].id)
    for expr in outputs:
        reads |= value_reads(expr, namespace) - assigned
    return frozenset(reads)


# -- leaving out unbroadcast ----------------------------------------------------------------


def outer_unbroadcast(
    expr: gast.expr | None, param: str | None, namespace: dict
) -> gast.expr | None:
    """``e`` when ``expr`` is ``unbroadcast(e, param)``, else None.

    Where ``param`` is known to have the shape of the rule's result, ``e`` is the gradient:
    the tape leaves the call out where it checks shapes afterwards or knows them equal, the
    transform where the operands' shapes are known equal.
    """
    if (
        expr is not None
        and param is not None
        and isinstance(expr, gast.Call)
        and isinstance(expr.func, gast.Name)
        and namespace.get(expr.func.id) is unbroadcast
        and len(expr.args) == 2
        and not expr.keywords
        and isinstance(expr.args[1], gast.Name)
        and expr.args[1].id == param
    ):
        return expr.args[0]
    return None


def gradient(
    template: RuleTemplate, position: int, namespace: dict, same_shape: bool
) -> gast.expr | None:
    """Output ``position`` of the rule (not copied; None if it has none), its outer
    unbroadcast left out when ``same_shape`` says its parameter has the result's shape."""
    expr = template.outputs[position] if position < len(template.outputs) else None
    if same_shape and expr is not None:
        name = template.params[position] if position < len(template.params) else None
        # (a prelude local of the parameter's name would not be the parameter)
        if all(stmt.targets[0].id != name for stmt in template.prelude):
            inner = outer_unbroadcast(expr, name, namespace)
            if inner is not None:
                return inner
    return expr


# -- kernels for the tape ---------------------------------------------------------------


def elementwise(
    primitive: Any,
    template: RuleTemplate,
    params: tuple,
    namespace: dict,
    *,
    logical: bool = False,
) -> bool:
    """Whether the gradients ``params`` of a ufunc's rule are built elementwise from ``g``,
    ``ans`` and the ufunc's arguments: numbers, arithmetic, comparisons, and calls of
    ufuncs and ``np.where``, which all broadcast. Such a gradient has the shape of ``g``,
    which is the result's, before its outer unbroadcast.

    Numbers are constants, numbers a module holds (``np.pi``) and the ``math`` module's
    functions of numbers (``math.log(2)``). ``logical`` accepts NumPy's logical operators
    ``|``, ``&``, ``^`` and ``~`` of elementwise operands too (masks, as in ``fmax``'s
    rule), which broadcast as arithmetic does; the tape does not ask for them."""
    if not isinstance(primitive, np.ufunc) or primitive.nout != 1:
        return False
    inputs = template.params[: primitive.nin]
    known = {"g", "ans", *inputs}
    # Names that are not the module's: a parameter or local never resolves to a number.
    local = {"g", "ans", *template.params, *(s.targets[0].id for s in template.prelude)}
    check = _Elementwise(known, local, namespace, logical)
    for stmt in template.prelude:
        target = stmt.targets[0].id
        if target in inputs or target in ("g", "ans"):
            return False  # a parameter that changes meaning: keep things simple
        if check(stmt.value):
            known.add(target)
        else:
            known.discard(target)
    for p in params:
        expr = template.outputs[p] if p < len(template.outputs) else None
        if expr is None:
            continue
        if not check(gradient(template, p, namespace, True)):
            return False
    return True


_ARITHMETIC = (
    gast.Add,
    gast.Sub,
    gast.Mult,
    gast.Div,
    gast.Pow,
    gast.FloorDiv,
    gast.Mod,
    gast.USub,
    gast.UAdd,
)
_LOGICAL = (gast.BitOr, gast.BitAnd, gast.BitXor, gast.Invert)
# functions that are not ufuncs but keep their arguments' broadcast shape (np.real: a
# complex value's rule reads the real part of a cotangent)
_ELEMENTWISE = (np.where, np.real)
#: rule helpers marked by :func:`broadcasting`
_BROADCASTING: set = set()


def broadcasting(helper: Callable) -> Callable:
    """Mark a rule helper that is elementwise in its arguments, broadcasting them as a
    ufunc does (``ties.split_ties``), so that rules calling it stay elementwise."""
    _BROADCASTING.add(helper)
    return helper


@dataclass
class _Elementwise:
    """Whether an expression is elementwise in the names ``known`` (see
    :func:`elementwise`); ``local`` are the rule's own names, never the module's."""

    known: set
    local: set
    namespace: dict
    logical: bool

    def __call__(self, expr: gast.expr) -> bool:
        if isinstance(expr, gast.Name):
            return expr.id in self.known
        if isinstance(expr, gast.Constant):
            return isinstance(expr.value, (int, float, complex, bool))
        if isinstance(expr, gast.BinOp):
            return self.operator(expr.op) and self(expr.left) and self(expr.right)
        if isinstance(expr, gast.UnaryOp):
            return self.operator(expr.op) and self(expr.operand)
        if isinstance(expr, gast.Attribute) and expr.attr == "real":
            return self(expr.value)  # (g.real: np.real's, as a rule writes it on a cotangent)
        if isinstance(expr, gast.Compare):
            return all(self(e) for e in [expr.left, *expr.comparators])
        if self.number(expr):
            return True
        if isinstance(expr, gast.Call):
            function = _resolve(expr.func, self.namespace)
            return (
                (
                    isinstance(function, np.ufunc)
                    and function.nout == 1
                    or function in _ELEMENTWISE
                    or function in _BROADCASTING
                )
                and not expr.keywords
                and all(self(a) for a in expr.args)
            )
        return False

    def operator(self, op: gast.AST) -> bool:
        return isinstance(op, _ARITHMETIC) or self.logical and isinstance(op, _LOGICAL)

    def number(self, expr: gast.expr) -> bool:
        """Whether ``expr`` is a Python number whatever the rule's arguments: a numeric
        constant, a number a module holds (``np.pi``), arithmetic of numbers, or a
        ``math`` function of numbers (``math.log(2)``)."""
        if isinstance(expr, gast.Constant):
            return type(expr.value) in (int, float)
        if isinstance(expr, gast.Attribute):
            value = self.module_attribute(expr)
            return type(value) in (int, float)
        if isinstance(expr, gast.BinOp):
            return (
                isinstance(expr.op, _ARITHMETIC)
                and self.number(expr.left)
                and self.number(expr.right)
            )
        if isinstance(expr, gast.UnaryOp):
            return isinstance(expr.op, _ARITHMETIC) and self.number(expr.operand)
        if isinstance(expr, gast.Call):
            function = self.module_attribute(expr.func)
            return (
                callable(function)
                and getattr(math, getattr(function, "__name__", ""), None) is function
                and not expr.keywords
                and all(self.number(a) for a in expr.args)
            )
        return False

    def module_attribute(self, expr: gast.expr) -> Any:
        """What ``module.attr`` names (``np.pi``, ``math.log``), or None when ``expr`` is
        no attribute of a module the rule's namespace imports."""
        if not isinstance(expr, gast.Attribute) or not isinstance(expr.value, gast.Name):
            return None
        if expr.value.id in self.local:
            return None
        module = self.namespace.get(expr.value.id)
        if not inspect.ismodule(module):
            return None
        return getattr(module, expr.attr, None)


def _resolve(expr: gast.expr, namespace: dict) -> Any:
    """The object a name or a dotted name (``np.log``) in a rule refers to, or None."""
    if isinstance(expr, gast.Name):
        return namespace.get(expr.id)
    if isinstance(expr, gast.Attribute):
        owner = _resolve(expr.value, namespace)
        return getattr(owner, expr.attr, None) if owner is not None else None
    return None


def compile_kernel(
    vjp: Callable, template: RuleTemplate, params: tuple, keep: tuple | None = None
) -> tuple[Callable, tuple, set, frozenset]:
    """Compile 'the rule, returning the gradients of ``params``' from the rule's source,
    with each outer unbroadcast left out but where ``keep`` says to keep it. Also returns
    which gradients were stripped, the names the body reads, and the parameters (and
    ``ans``) it reads by value."""
    namespace = vjp.__globals__
    outputs = []
    stripped = []
    for i, p in enumerate(params):
        expr = template.outputs[p] if p < len(template.outputs) else None
        output = gradient(template, p, namespace, not (keep and keep[i]))
        stripped.append(output is not expr)
        outputs.append(output)
    prelude = template.prelude_for(params)
    returned = [o if o is not None else gast.Constant(None, None) for o in outputs]
    names = _loaded_names_in([*prelude, *(o for o in outputs if o is not None)])
    reads = _value_reads_in(prelude, [o for o in outputs if o is not None], namespace)
    name = f"{vjp.__name__}__tape_" + "_".join(
        f"{p}u" if s else str(p) for p, s in zip(params, stripped)
    )
    body = [
        *copy.deepcopy(prelude),
        gast.Return(value=gast.Tuple(elts=copy.deepcopy(returned), ctx=gast.Load())),
    ]
    fn = _compile(vjp, template, name, body)
    return fn, tuple(stripped), names, reads


def _compile(vjp: Callable, template: RuleTemplate, name: str, body: list) -> Callable:
    """The rule's function with ``body``, named ``name``, in the rule's namespace and with
    its defaults."""
    function = copy.copy(template.function)
    function.name = name
    function.body = body
    tree = gast.gast_to_ast(gast.Module(body=[function], type_ignores=[]))
    ast.fix_missing_locations(tree)
    # Line numbers point into the rule's own file, so tracebacks show the rule's line.
    ast.increment_lineno(tree, template.first_line - 1)
    scope: dict[str, Any] = {}
    exec(compile(tree, template.filename, "exec"), vjp.__globals__, scope)
    fn = scope[name]
    fn.__defaults__ = vjp.__defaults__
    fn.__kwdefaults__ = vjp.__kwdefaults__
    return fn


# -- one rule written as another --------------------------------------------------------------


def translate(vjp: Callable, name: str, modules: Mapping[str, str], namespace: dict) -> Callable:
    """The rule ``vjp`` as a new rule function ``name`` in ``namespace`` (a module's
    globals), for arguments of one shape: every outer unbroadcast left out, and each
    ``old.attr`` for ``old`` in ``modules`` read as ``modules[old].attr``
    (``{"np": "math"}``: ``np.cos(x)`` becomes ``math.cos(x)``).

    The new rule has source of its own (shown in tracebacks), so it is parsed, inlined and
    compiled as any other. Raises ValueError if the rule has no template, or reads a name
    ``namespace`` lacks, or an attribute the new module lacks: then it is no translation.
    The new rule remembers ``vjp``: see :func:`translated_from`.
    """
    template = parse(vjp)
    if template is None:
        raise ValueError(f"{vjp.__qualname__} cannot be translated: it is called, not parsed")

    def rename(node: gast.AST) -> gast.AST:
        node = copy.deepcopy(node)
        for sub in gast.walk(node):
            if isinstance(sub, gast.Attribute) and isinstance(sub.value, gast.Name):
                new = modules.get(sub.value.id)
                if new is not None:
                    if not hasattr(namespace.get(new), sub.attr):
                        what = f"{sub.value.id}.{sub.attr}"
                        raise ValueError(f"{vjp.__qualname__} reads {what}, which {new} lacks")
                    sub.value.id = new
        return node

    outputs = [
        rename(gradient(template, p, vjp.__globals__, True))
        if expr is not None
        else gast.Constant(None, None)
        for p, expr in enumerate(template.outputs)
    ]
    function = copy.copy(template.function)
    function.body = []  # (written below: copying the template's body would be wasted)
    function = copy.deepcopy(function)
    function.name = name
    function.body = [
        *(rename(stmt) for stmt in template.prelude),
        gast.Return(outputs[0] if len(outputs) == 1 else gast.Tuple(outputs, gast.Load())),
    ]
    local = set(template.params) | {"g", "ans"} | {s.targets[0].id for s in template.prelude}
    unknown = {
        n
        for n in _loaded_names_in(function.body)
        if n not in local and n not in namespace and not hasattr(builtins, n)
    }
    if unknown:
        raise ValueError(f"{vjp.__qualname__} reads {sorted(unknown)}, unknown to {name}")
    tree = gast.gast_to_ast(gast.Module(body=[function], type_ignores=[]))
    source = ast.unparse(ast.fix_missing_locations(tree)) + "\n"
    # (not "<astgrad: ...>", which names generated functions)
    module = namespace["__name__"]
    filename = f"<rule {module}.{name}, translated from {vjp.__module__}.{vjp.__qualname__}>"
    # The source stays in linecache, where inspect (so parse) and tracebacks read it.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    scope: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace, scope)
    translated = scope[name]
    translated.__module__ = module
    translated.__astgrad_translated_from__ = vjp
    return translated


def translated_from(vjp: Callable) -> Callable | None:
    """The rule that :func:`translate` wrote ``vjp`` from, or None."""
    return getattr(vjp, "__astgrad_translated_from__", None)
