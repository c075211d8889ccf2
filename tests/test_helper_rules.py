"""The helpers generated gradient code calls, and which of them can be differentiated
again (issue 16: generated code is transformed again for higher orders, so each helper it
calls needs a vjp rule and a forward rule of its own, or to be declared without a
derivative).

Generated gradient code calls two kinds of astgrad functions: those the passes bind by
name (``ctx.bind_free("unbroadcast", ...)`` in ``transform/``: the seed, the saved values'
``pop_run``, ``add_at``...), and those a rule's body calls where the rule is inlined (the
names it reads in its module: ``unbroadcast``, ``expand_reduced``, ``matmul_grad_left``...),
or the rule's own vjp function where it is called rather than inlined. Both are found here
from the source, so that a helper added to either is seen.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap
import types

import numpy as np
import pytest
from astgrad.runtime.rules.registry import is_nondifferentiable, lookup
from rule_specs import shipped_rules

#: helpers generated gradient code calls that have no vjp rule with a forward rule, and
#: are not declared without a derivative: batched forward mode over generated code
#: (``ag.hessian``, reverse-mode ``ag.jacobian``) knows some of them by hand
#: (``transform/batching.py``'s ``_helpers``), and takes one direction at a time where it
#: meets any other. Each one that gains rules is taken off this list (the test says so).
#: Of the runtime's own helpers, these stay without rules on purpose: pop_run takes saved
#: values off the gradient's list in place (a rule would see the list after the pop;
#: batched forward mode reads the list through saved_values_as_calls' stack_take and
#: stack_drop instead); appended_adjoint pops the list adjoint it made in place, beside
#: the primal list's pop, which the analysis refuses to differentiate again; tape_call
#: returns a pullback run on the tape, whose derivative is the callee's second one (only
#: the tape's create_graph computes it); call_method calls any method by name, only inside
#: tape_call; make_object and set_field build and change the user's objects (set_field in
#: place), which the passes take as constructions (transform/objects.py), not calls; and
#: add_field's adjoint is a dict of an object's fields, which it leaves as it was for a
#: class attribute, where the cases' harness draws no objects.
WITHOUT_RULES = frozenset(
    {
        "add_field",
        "appended_adjoint",
        "call_method",
        "make_object",
        "pop_run",
        "set_field",
        "tape_call",
    }
)


def _astgrad_function(value) -> bool:
    return (
        isinstance(value, types.FunctionType)
        and getattr(value, "__module__", "").startswith("astgrad")
        and not value.__module__.startswith("astgrad.transform")
    )


def _resolved(expression: ast.expr, namespace: dict):
    """The value of a helper expression of a pass (``adjoints.scalar_seed``,
    ``_adjoints().add_at``), or None for one that is not names, attributes and calls
    without arguments of them."""
    if isinstance(expression, ast.Name):
        return namespace.get(expression.id)
    if isinstance(expression, ast.Attribute):
        owner = _resolved(expression.value, namespace)
        return getattr(owner, expression.attr, None) if owner is not None else None
    if isinstance(expression, ast.Call) and not expression.args and not expression.keywords:
        function = _resolved(expression.func, namespace)
        if isinstance(function, types.FunctionType) and function.__module__.startswith(
            "astgrad.transform"
        ):
            return function()  # (a pass's lazy import of a runtime module)
    return None


def bound_by_passes() -> dict[str, object]:
    """``name -> helper`` for each ``ctx.bind_free("name", helper)`` of the passes whose
    helper is a function of astgrad's runtime."""
    import astgrad.transform as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"astgrad.transform.{info.name}")
        tree = ast.parse(inspect.getsource(module))
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "bind_free"
                and len(node.args) == 2
                and isinstance(node.args[0], ast.Constant)
            ):
                continue
            value = _resolved(node.args[1], vars(module))
            if _astgrad_function(value):
                found[node.args[0].value] = value
    return found


def called_by_rules() -> dict[str, object]:
    """``name -> helper`` for each astgrad function a shipped rule's body calls (and each
    rule's vjp that is called, not inlined)."""
    found = {}
    for rule in shipped_rules():
        template = rule.template
        if template is None:
            found[rule.vjp.__name__] = rule.vjp
            continue
        namespace = rule.vjp.__globals__
        (definition,) = ast.parse(textwrap.dedent(inspect.getsource(rule.vjp))).body
        for node in (n for stmt in definition.body for n in ast.walk(stmt)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                value = namespace.get(node.func.id)
                if _astgrad_function(value):
                    found[node.func.id] = value
    return found


def generated_code_helpers() -> dict[str, object]:
    return {**called_by_rules(), **bound_by_passes()}


def _differentiable_again(helper) -> bool:
    rule = lookup(helper)
    return (
        (rule is not None and rule.forward is not None)
        or is_nondifferentiable(helper)
        or getattr(helper, "__astgrad_transformable__", False)
    )


def test_the_helpers_are_found():
    helpers = generated_code_helpers()
    for name in (
        "unbroadcast",
        "expand_reduced",
        "reduced_count",
        "matmul_grad_left",
        "scalar_seed",
        "pop_run",
        "shaped_like",
        "gradient_buffer",
        "add_at",
    ):
        assert name in helpers, name


def test_every_helper_of_generated_code_can_be_differentiated_again():
    """Each helper generated gradient code calls has a vjp rule and a forward rule, or is
    declared without a derivative, except those listed in WITHOUT_RULES; a listed one
    that has gained them must leave the list."""
    helpers = generated_code_helpers()
    missing = {name for name, helper in helpers.items() if not _differentiable_again(helper)}
    new = sorted(missing - WITHOUT_RULES)
    assert not new, f"helpers of generated gradient code without vjp and forward rules: {new}"
    done = sorted((WITHOUT_RULES & set(helpers)) - missing)
    assert not done, f"these have rules now: take them off WITHOUT_RULES: {done}"


def _differentiable_again_refuses_a_plain_function():
    return None


def test_a_helper_without_rules_is_seen():
    assert not _differentiable_again(_differentiable_again_refuses_a_plain_function)
    assert _differentiable_again(lookup_helper("unbroadcast"))
    assert _differentiable_again(lookup_helper("reduced_count"))


def lookup_helper(name: str):
    return generated_code_helpers()[name]


def through_trace(x):
    A = np.outer(np.sin(x), x) + np.eye(4) * x[0]
    return np.trace(A @ A)


def through_cumsum(x):
    return np.sum(np.cumsum(np.sin(x)) ** 2)


def through_sort(x):
    return np.sum(np.sort(x**3) * np.arange(1.0, 5.0))


def through_var(x):
    return np.var(np.tanh(x.reshape(2, 2)), axis=1).sum() * np.sum(x**2)


def through_products(x, W):
    return np.sum(np.tanh(W @ x) ** 2) + x @ W @ x


@pytest.mark.parametrize(
    "function, shapes",
    [
        (through_trace, [(4,)]),
        (through_cumsum, [(4,)]),
        (through_sort, [(4,)]),
        (through_var, [(4,)]),
        (through_products, [(4,), (4, 4)]),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_hessians_through_helpers_with_rules_run_batched(function, shapes, monkeypatch):
    """Generated gradients calling the helpers that have rules now (trace_grad,
    cumsum_grad, sort_grad, centered; the products' gradients keep their whole-array
    batched forms): one batched run, equal to one Hessian-vector product per direction
    and to differences of the gradient."""
    from test_batched_derivatives import _check_hessian

    rng = np.random.default_rng(12)
    args = tuple(rng.uniform(-0.9, 0.9, s) for s in shapes)
    assert _check_hessian(function, args, list(range(len(shapes))), monkeypatch)
