"""Slices' adjoints added in place into an adjoint only generated code holds
(``transform/adds_in_place.py``, ``runtime.element_adjoints.add_scattered``).

The helper gives ``adjoint + scatter_grad(value, container, index)`` whether it adds in
place or not; the pass uses it only after the statement that made the adjoint's array,
with no statement mentioning the adjoint between. Programs with slices read from arrays
rebound to other shapes, other dtypes, views and names that hold the adjoint check the
gradients against finite differences in every mode, and the source for the form.
"""

from __future__ import annotations

import ast

import numpy as np
import pytest
from astgrad.runtime.element_adjoints import add_scattered
from astgrad.runtime.rules.indexing import scatter_grad
from numeric import assert_close, numeric_vjp

import astgrad as ag

MODES = ["source", "auto", "tape"]


def _expected(adjoint, container, index, value):
    return adjoint + scatter_grad(value, container, index)


@pytest.mark.parametrize(
    "index",
    [
        (slice(1, -1), slice(2, None)),
        (slice(None, None, -2), 1),
        (Ellipsis, slice(0, 2)),
        2,
        (None, slice(1, 3)),
    ],
)
def test_add_scattered_adds_into_its_own_array(index) -> None:
    rng = np.random.default_rng(0)
    container = rng.normal(size=(4, 5))
    adjoint = rng.normal(size=(4, 5))
    value = rng.normal(size=np.shape(container[index]))
    want = _expected(adjoint.copy(), container, index, value)
    got = add_scattered(adjoint, container, index, value)
    assert got is adjoint
    np.testing.assert_array_equal(got, want)


def test_add_scattered_makes_the_sum_where_in_place_would_differ() -> None:
    rng = np.random.default_rng(1)
    container = rng.normal(size=(4, 3))
    adjoint = rng.normal(size=(4, 3))
    cases = [
        # a float32 adjoint and a float64 value: the sum is float64
        (adjoint.astype(np.float32), container, slice(1, 3), rng.normal(size=(2, 3))),
        # an index that repeats a row: both writes add up
        (adjoint, container, np.array([0, 0, 2]), rng.normal(size=(3, 3))),
        # a container of another shape (the name rebound): the sum broadcasts
        (adjoint, container[:1], slice(0, 1), rng.normal(size=(1, 3))),
        # a number, and a read-only view
        (0, container, slice(1, 2), rng.normal(size=(1, 3))),
        (np.broadcast_to(1.0, (4, 3)), container, 0, rng.normal(size=3)),
        # a Python float into a float32 adjoint: float64 (NumPy's scatter of a float)
        (adjoint.astype(np.float32), container, 0, 2.0),
    ]
    for total, like, index, value in cases:
        before = np.copy(total)
        want = _expected(np.copy(total), like, index, value)
        got = add_scattered(total, like, index, value)
        assert got is not total
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(total, before)  # left as it was


def stencil(u, k):
    for _ in range(3):
        laplacian = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1]
        u = u.copy()
        u[1:-1, 1:-1] = u[1:-1, 1:-1] + k * laplacian * np.cos(laplacian)
    return np.sum(u**3)


def shifted_products(u):
    left = u[:-1]
    right = u[1:]
    return np.sum((left * right) ** 2) + np.sum(u[::2] * u[1::2])


def rebound_to_another_shape(u):
    a = u[1:4]
    u = u[:5] * 2.0  # u now names an array one shorter
    b = u[2:]
    c = u[:2]
    return np.sum(a * a) + np.sum(b**3) + np.sum(c * b[:2])


def adjoint_read_between(u):
    # u's adjoint is read whole (u * u) between the slices' additions
    v = u[1:] * 3.0
    w = u * u
    t = u[:-1]
    return np.sum(v * t) + np.sum(w * u) + np.sum(u[2:] ** 2)


def views_in_a_loop(u):
    total = 0.0
    for i in range(3):
        window = u[i : i + 3]
        total = total + np.sum(window * u[i + 1 : i + 4])
        u = u * 1.5 + np.sin(u)
    return total


def matrix_rows(a):
    top = a[0]
    rest = a[1:]
    return np.sum(rest * top) + np.sum(a[:, 1] * a[:, 2]) + np.sum(a[-1] ** 2)


CASES = [
    ("stencil", stencil, lambda rng: [rng.random((5, 6)), 0.2], (0, 1)),
    ("shifted", shifted_products, lambda rng: [rng.normal(size=8)], 0),
    ("rebound", rebound_to_another_shape, lambda rng: [rng.normal(size=6)], 0),
    ("read_between", adjoint_read_between, lambda rng: [rng.normal(size=7)], 0),
    ("loop", views_in_a_loop, lambda rng: [rng.normal(size=8)], 0),
    ("rows", matrix_rows, lambda rng: [rng.normal(size=(4, 3))], 0),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name, function, make, wrt", CASES, ids=[c[0] for c in CASES])
def test_gradients_of_slices_match_differences(name, function, make, wrt, mode) -> None:
    args = make(np.random.default_rng(2))
    got = ag.grad(function, wrt=wrt, mode=mode)(*args)
    gots = got if isinstance(wrt, tuple) else (got,)
    for position, g in zip(wrt if isinstance(wrt, tuple) else (wrt,), gots, strict=True):
        want = numeric_vjp(function, list(args), position, 1.0)
        assert_close(g, want, rtol=1e-6, atol=1e-8, what=f"{name}, argument {position}")


def test_float32_gradients_keep_their_dtype() -> None:
    u = np.random.default_rng(3).random((5, 6)).astype(np.float32)
    got = ag.grad(stencil)(u, 0.2)
    assert got.dtype == np.float32
    want = ag.grad(stencil)(u.astype(np.float64), 0.2)
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_the_stencil_adds_its_slices_in_place() -> None:
    u = np.random.default_rng(4).random((5, 6))
    source = ag.source(stencil, u, 0.2)
    # every slice read after the adjoint's copy (assigned_adjoint) is added in place
    assert source.count("add_scattered(du, u, ") == 6
    assert "scatter_grad" not in source


def _makes_its_array(stmt: ast.stmt, name: str) -> bool:
    """Whether ``stmt`` binds ``name`` to an array nothing else holds: arithmetic, an
    in-place addition into one such, an adjoint assigned_adjoint copied."""
    if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
        return False
    target, value = stmt.targets[0], stmt.value
    if isinstance(target, ast.Name) and target.id == name:
        if isinstance(value, (ast.BinOp, ast.UnaryOp)):
            return True
        called = ast.unparse(value.func) if isinstance(value, ast.Call) else None
        return called in ("add_scattered", "scatter_grad")
    return (
        isinstance(target, ast.Tuple)
        and ast.unparse(target.elts[1]) == name
        and isinstance(value, ast.Call)
        and ast.unparse(value.func) == "assigned_adjoint"
    )


@pytest.mark.parametrize("name, function, make, wrt", CASES, ids=[c[0] for c in CASES])
def test_in_place_additions_follow_the_statement_that_made_the_array(
    name, function, make, wrt
) -> None:
    """In the generated source, before each add_scattered(d, ...) in its block, the last
    statement that mentions d made d's array (no other name can hold it)."""
    source = ag.source(function, *make(np.random.default_rng(5)), wrt=wrt)
    seen = 0
    for node in ast.walk(ast.parse(source)):
        for block in (getattr(node, "body", None), getattr(node, "orelse", None)):
            if not isinstance(block, list):
                continue
            for position, stmt in enumerate(block):
                value = getattr(stmt, "value", None)
                if not (isinstance(value, ast.Call) and ast.unparse(value.func) == "add_scattered"):
                    continue
                seen += 1
                total = ast.unparse(value.args[0])
                before = [
                    s
                    for s in block[:position]
                    if total in {n.id for n in ast.walk(s) if isinstance(n, ast.Name)}
                ]
                assert before and _makes_its_array(before[-1], total), source
    assert seen or name == "rows", source  # (every case but one adds a slice in place)


def test_hessian_through_the_stencil() -> None:
    u = np.random.default_rng(6).random((4, 5))
    hessian = ag.hessian(lambda u: stencil(u, 0.2))(u)

    def gradient(u):
        return ag.grad(stencil)(u, 0.2)

    eps = 1e-6
    columns = []
    for k in range(u.size):
        step = np.zeros(u.size)
        step[k] = eps
        step = step.reshape(u.shape)
        columns.append(((gradient(u + step) - gradient(u - step)) / (2 * eps)).ravel())
    numeric = np.array(columns).T.reshape(u.shape + u.shape)
    assert_close(hessian, numeric, rtol=1e-5, atol=1e-6, what="Hessian")


def test_compiled_stencil_gradient() -> None:
    pytest.importorskip("numba")
    from jit_checks import compiled_check

    compiled_check(stencil, [np.random.default_rng(7).random((5, 6)), 0.2], (0, 1))


# -- the pass on backward statements written here ---------------------------------------


def _after_the_pass(code: str, numpy_names: tuple[str, ...] = ("u",)) -> list[str]:
    """The statements of ``code`` after adds_in_place, one line each; ``numpy_names`` are
    the names ranks knows hold NumPy arrays."""
    import textwrap
    from types import SimpleNamespace

    import gast
    from astgrad.runtime.adjoints import assigned_adjoint
    from astgrad.transform import adds_in_place, ranks

    ctx = SimpleNamespace(
        resolved_globals={},
        free_values={"scatter_grad": scatter_grad, "assigned_adjoint": assigned_adjoint},
        shape_classes=SimpleNamespace(ranks={n: ranks.ndarray(1) for n in numpy_names}),
        bind_free=lambda preferred, value: preferred,
    )
    program = SimpleNamespace(backward=gast.parse(textwrap.dedent(code)).body)
    adds_in_place.transform(program, ctx)
    module = gast.gast_to_ast(gast.Module(body=program.backward, type_ignores=[]))
    return ast.unparse(ast.fix_missing_locations(module)).splitlines()


SUM = "du = du + scatter_grad(g, u, i)"
IN_PLACE = "du = add_scattered(du, u, i, g)"


@pytest.mark.parametrize(
    "before, numpy_names, expected",
    [
        ("du = a + b", ("u",), IN_PLACE),  # arithmetic makes a new array
        ("du = -a", ("u",), IN_PLACE),
        ("du = scatter_grad(h, u, j)", ("u",), IN_PLACE),
        ("p, du = assigned_adjoint(du, u, j)", ("u",), IN_PLACE),  # a copy, u an array
        ("p, du = assigned_adjoint(du, u, j)", (), SUM),  # u may be a list: its own items
        ("du = a", ("u",), SUM),  # another name holds a's array
        ("du = f(a)", ("u",), SUM),  # a call may give back what it was given
        ("du = a + b\nkeep = du", ("u",), SUM),  # keep holds du's array
        ("du = a + b\npush(du)", ("u",), SUM),  # so may the list pushed onto
        ("du = a + b\ndel du\ndu = c", ("u",), SUM),
        ("du = a + b\nfor t in r:\n    x = t", ("u",), IN_PLACE),  # a loop without du
        ("du = a + b\nfor t in r:\n    x = du", ("u",), SUM),
        ("du = a + b\nif c:\n    du = a", ("u",), SUM),
        ("du = a + b\ndu = du + scatter_grad(g, u, i)", ("u",), IN_PLACE),  # (still its own)
    ],
)
def test_what_makes_an_adjoint_its_own(before, numpy_names, expected) -> None:
    lines = _after_the_pass(f"{before}\n{SUM}", numpy_names)
    assert lines[-1] == expected, lines


def test_a_sum_reading_the_adjoint_stays_a_sum() -> None:
    lines = _after_the_pass("du = a + b\ndu = du + scatter_grad(du[0], u, i)")
    assert lines[-1] == "du = du + scatter_grad(du[0], u, i)"


def test_a_chain_of_sums_is_added_one_by_one() -> None:
    chain = "du = du + scatter_grad(g, u, i) + scatter_grad(h, v, j)"
    assert _after_the_pass(f"du = a + b\n{chain}")[1:] == [
        "du = add_scattered(du, u, i, g)",
        "du = add_scattered(du, v, j, h)",
    ]
    # the first sum of an adjoint not known to be its own stays one: the array made
    assert _after_the_pass(f"du = a\n{chain}")[1:] == [
        "du = du + scatter_grad(g, u, i)",
        "du = add_scattered(du, v, j, h)",
    ]


def test_a_block_starts_owning_nothing() -> None:
    # a loop's body is entered from its own end too: du may be held there
    lines = _after_the_pass(f"du = a + b\nfor t in r:\n    {SUM}")
    assert lines[-1].strip() == SUM


def test_a_sum_of_scatters_starts_from_the_first():
    chain = "du = scatter_grad(g, u, i) + scatter_grad(h, v, j) + scatter_grad(k, u, l)"
    assert _after_the_pass(chain) == [
        "du = scatter_grad(g, u, i)",
        "du = add_scattered(du, v, j, h)",
        "du = add_scattered(du, u, l, k)",
    ]
    # a part that reads du (its value before the statement) leaves the sum as it is
    reading = "du = scatter_grad(g, u, i) + scatter_grad(du, v, j)"
    assert _after_the_pass(reading) == [reading]
