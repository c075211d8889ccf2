"""Adjoints that may still be the 0 they start from where a rule reads them.

An adjoint starts as the number 0 and stays so until something flows into it. After a
branch that wrote it on one side only, or in the first backward iteration of a loop whose
carried value the result never reads (``P = P @ A`` with only ``Q = P @ B`` used), the
generated code hands that 0 to a rule, and rules' helpers take arrays:
``matmul_grad_left(0, P, A)`` raised in source and auto mode (the tape was right). The
zeros pass now guards such calls (``0 if zero_cotangent(dP) else ...``, exact since the
call is linear in the cotangent). Each body below feeds the carried value straight into
one rule, through a loop, through a branch and back from a helper of the user's that
returns the 0 (always, or on one side of a branch: ``Derivative.zero_adjoints``), against
the tape and central differences.
"""

from __future__ import annotations

import importlib
import sys
import textwrap

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag

#: how the carried value P is updated: each feeds P's adjoint to one rule
BODIES = {
    "matmul": "P @ A",
    "np.dot": "np.dot(P, A)",
    "x.dot": "P.dot(A)",
    "einsum": "np.einsum('ij,jk->ik', P, A)",
    "transpose_matmul": "P.T @ A",
    "np.transpose": "np.transpose(P) * A",
    "tensordot": "np.tensordot(P, A, axes=1)",
    "inner": "np.inner(P, A)",
    "outer": "np.outer(P[0], A[0])",
    "solve": "np.linalg.solve(A + 5 * np.eye(3), P)",
    "inv": "np.linalg.inv(P + 5 * np.eye(3)) * A",
    "cholesky": "np.linalg.cholesky(P @ P.T + 5 * np.eye(3)) * A",
    "sum_axis": "np.sum(P, axis=0) * A",
    "max_axis": "np.max(P, axis=1) * A",
    "prod_axis": "np.prod(P, axis=0) * A",
    "cumsum": "np.cumsum(P, axis=0) * A",
    "reshape": "P.reshape(9).reshape(3, 3) * A",
    "diag": "np.diag(np.diag(P)) @ A",
    "kron": "np.kron(P, A)[:3, :3]",
    "where": "np.where(P > 0, P, 0.1 * P) @ A",
    "clip": "np.clip(P, -1, 1) @ A",
    "fft": "np.real(np.fft.fft(P, axis=0)) * A",
    "scaled_then_matmul": "(2.0 * P) @ A",
}

LOOP = """
import numpy as np

def f(A, B):
    P = np.eye(3) * 0.5
    Q = np.eye(3)
    for _ in range(3):
        Q = P @ B + Q
        P = {body}
    return np.sum(Q * Q)
"""

# P's adjoint is written on one side of the branch only
BRANCH = """
import numpy as np

def f(A, B):
    P = {body_of_a}
    if np.sum(B) > 0:
        Q = A * 2.0
    else:
        Q = P * 3.0
    return np.sum(Q * B)
"""


# P's adjoint comes back from a helper of the user's: the int 0 where the helper reads P
# through np.floor only (always in zero_in_first, on one side of its branch in
# zero_on_one_side), which the caller's zeros pass must know before a rule reads it
CALLEE = """
import numpy as np

def zero_in_first(P, B):
    return np.floor(P) * 0.0 + B * 2.0

def zero_on_one_side(P, B):
    if np.sum(B) > 0:
        return np.floor(P) * 0.0 + B * 2.0
    return P * B

def f(A, B):
    P = {body_of_a}
    return np.sum(np.sin({helper}(P, B))) + np.sum(A * B)
"""


# P is put into a container or an object whose part holding it the result never reads
# (or an attribute that is overwritten): that part's adjoint is adjoint_item's 0
CONTAINERS = {
    "dict": """
import numpy as np

def f(A, B):
    P = {body_of_a}
    parts = {{"p": P, "b": B * 2.0}}
    return np.sum(parts["b"] * A)
""",
    "list": """
import numpy as np

def f(A, B):
    P = {body_of_a}
    parts = [P, B * 2.0]
    return np.sum(parts[1] * A)
""",
    "tuple": """
import numpy as np

def f(A, B):
    P = {body_of_a}
    parts = (B * 2.0, P)
    return np.sum(parts[0] * A)
""",
    "attribute never read": """
def f(A, B):
    held = Holder({body_of_a}, B)
    return np.sum(held.b * A)
""",
    "attribute overwritten": """
def f(A, B):
    held = Holder({body_of_a}, B)
    held.p = B * 3.0
    return np.sum(held.b * held.p * A)
""",
}
# (the attribute programs' class)
HOLDER = """
import numpy as np

class Holder:
    def __init__(self, P, B):
        self.p = P
        self.b = B * 2.0
"""
for _name in ("attribute never read", "attribute overwritten"):
    CONTAINERS[_name] = HOLDER + CONTAINERS[_name]


def _module(tmp_path, name: str, source: str):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


def _check(f, A, B):
    expected = [numeric_vjp(f, [A, B], i, 1.0) for i in (0, 1)]
    for mode in ("source", "auto", "tape"):
        grads = ag.grad(f, wrt=(0, 1), mode=mode)(A, B)
        for i, (got, want) in enumerate(zip(grads, expected)):
            assert_close(got, want, rtol=1e-5, what=f"{mode}: gradient {i}")


@pytest.mark.parametrize("label", sorted(BODIES))
def test_a_carried_value_the_result_never_reads(tmp_path, label):
    rng = np.random.default_rng(3)
    A, B = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(3, 3))
    name = "loop_" + label.replace(".", "_")
    f = _module(tmp_path, name, LOOP.format(body=BODIES[label])).f
    _check(f, A, B)


@pytest.mark.parametrize("label", sorted(BODIES))
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_an_adjoint_written_on_one_side_of_a_branch(tmp_path, label, sign):
    rng = np.random.default_rng(4)
    A, B = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(3, 3))
    B = B - B.mean() + sign  # picks the side the branch takes
    name = f"branch_{label.replace('.', '_')}_{'pos' if sign > 0 else 'neg'}"
    body = BODIES[label].replace("P", "A").replace("A, A", "A, B")
    f = _module(tmp_path, name, BRANCH.format(body_of_a=body)).f
    _check(f, A, B)


@pytest.mark.parametrize("label", sorted(BODIES))
@pytest.mark.parametrize(
    "helper, sign",
    [("zero_in_first", 1.0), ("zero_on_one_side", 1.0), ("zero_on_one_side", -1.0)],
)
def test_an_adjoint_a_helper_returns_as_zero(tmp_path, label, helper, sign):
    rng = np.random.default_rng(6)
    A, B = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(3, 3))
    B = B - B.mean() + sign  # picks the side the helper's branch takes
    name = f"callee_{label.replace('.', '_')}_{helper}_{'pos' if sign > 0 else 'neg'}"
    body = BODIES[label].replace("P", "A").replace("A, A", "A, B")
    source = CALLEE.format(body_of_a=body, helper=helper)
    f = _module(tmp_path, name, source).f
    _check(f, A, B)


@pytest.mark.parametrize("label", sorted(BODIES))
@pytest.mark.parametrize("container", sorted(CONTAINERS))
def test_a_part_of_a_container_or_object_the_result_never_reads(tmp_path, label, container):
    # (adjoint_item gave 0 for the part, which reshape_back and the other rules' helpers
    # were handed: AttributeError in source and auto mode)
    rng = np.random.default_rng(7)
    A, B = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(3, 3))
    name = f"part_{label.replace('.', '_')}_{container.replace(' ', '_')}"
    body = BODIES[label].replace("P", "A").replace("A, A", "A, B")
    f = _module(tmp_path, name, CONTAINERS[container].format(body_of_a=body)).f
    _check(f, A, B)


def test_a_helpers_zero_adjoint_is_dropped_or_guarded_in_source(tmp_path):
    """Where the helper always returns P's adjoint as 0, nothing is computed from it;
    where it may, what is computed from it is guarded."""
    always = _module(
        tmp_path, "callee_source_always", CALLEE.format(body_of_a="A @ B", helper="zero_in_first")
    ).f
    source = ag.source(always, np.eye(3), np.eye(3), wrt=(0, 1))
    assert "matmul_grad" not in source
    sometimes = _module(
        tmp_path,
        "callee_source_sometimes",
        CALLEE.format(body_of_a="A @ B", helper="zero_on_one_side"),
    ).f
    source = ag.source(sometimes, np.eye(3), np.eye(3), wrt=(0, 1))
    # (the product itself, ``dP.dot(B.T)``: the two are known matrices)
    guarded = "dA=dAifzero_cotangent(dP_zero_on_one_side)elsedA+dP_zero_on_one_side.dot(B.T)"
    assert guarded in "".join(source.split()), source


def test_the_guard_reads_as_a_skip_in_generated_source(tmp_path):
    f = _module(tmp_path, "guard_source", LOOP.format(body="P @ A")).f
    source = ag.source(f, np.eye(3), np.eye(3), wrt=(0, 1))
    assert "dP = 0 if zero_cotangent(dP_out) else matmul_grad_left(dP_out, P, A)" in source


def test_zero_cotangent_is_the_starting_int_only():
    """A computed zero may carry a tangent when the gradient is differentiated again, so
    only the int 0 an adjoint starts from counts."""
    from astgrad.runtime.adjoints import zero_cotangent

    assert zero_cotangent(0)
    assert not zero_cotangent(0.0) and not zero_cotangent(np.float64(0))
    assert not zero_cotangent(np.zeros(3)) and not zero_cotangent(np.zeros(()))
    assert not zero_cotangent(1) and not zero_cotangent([0])


@pytest.mark.parametrize("label", ["matmul", "solve", "scaled_then_matmul"])
def test_second_order_through_a_guard(tmp_path, label):
    """hvp and the batched Jacobians differentiate generated gradient code again: a
    computed zero cotangent (``s = sum(x)`` at 0) still passes on its tangent."""
    source = """
import numpy as np

def f(x, A):
    P = np.outer(x, x)
    if np.sum(A) > 0:
        Q = A * np.sum(x)
    else:
        Q = P * 3.0
    R = {body}
    return np.sum(Q * Q) + np.sum(R)
"""
    body = BODIES[label].replace("P", "P").replace("A", "A")
    f = _module(tmp_path, f"second_{label}", source.format(body=body)).f
    x = np.array([0.5, -0.5, 0.25])
    A = np.abs(np.random.default_rng(5).normal(size=(3, 3))) * 0.3
    x = x - x.mean()  # sum(x) is 0: Q's cotangent to it is a computed zero
    v = np.array([0.3, -0.2, 0.7])
    gradient = ag.grad(f, mode="tape")
    eps = 1e-6
    expected = (gradient(x + eps * v, A) - gradient(x - eps * v, A)) / (2 * eps)
    for mode in ("source", "auto"):
        assert_close(ag.hvp(f, (x, A), (v, None), mode=mode), expected, rtol=1e-5, what=mode)
    H = ag.hessian(f)(x, A)
    assert_close(H @ v, expected, rtol=1e-5, what="hessian")
