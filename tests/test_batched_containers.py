"""Batched Hessians and Jacobians through lists, tuples and dicts built inside the
function (issue 16): the gradient keeps a list's or dict's adjoint as a list or dict of
its items' (``add_at``, ``adjoint_item``, ``unpack_adjoint``, ``appended_adjoint``), and
batched forward mode carries a list or dict of the items' batched tangents beside it
(a list filled by appends and popped back by the gradient too). Each checks that the
batched run happened (``higher._batched_hessian``, ``_batched_pullbacks``,
``_batched_jacobian`` give blocks, not None), and that ``ag.hessian`` and
``ag.jacobian`` in every mode match differences of the gradient (or of the function)."""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime import batched
from test_batched_derivatives import (
    _check,
    _check_hessian,
    _check_reverse,
    _differences,
    _gradient_differences,
)

import astgrad as ag
from astgrad import higher

W = np.array([[0.6, -0.3, 0.2], [0.1, 0.5, -0.4], [-0.2, 0.3, 0.7]])


def recurrent_states(x):
    hs = []
    h = x
    for _ in range(3):
        h = np.tanh(W @ h)
        hs.append(h)
    return sum(np.sum(h**2) for h in hs)


def appended_then_read(x):
    out = []
    for i in range(4):
        out.append(np.sin(x) * (i + 1.0))
    return np.sum(out[0] * out[3]) + np.sum(out[-2] ** 2)


def list_of_layers(x):
    hs = [np.tanh(W @ x), np.tanh(W.T @ x), np.sin(x)]
    total = 0.0
    for i in range(3):
        total = total + np.sum(hs[i] ** 2)
    return total


def list_by_position(x):
    items = [np.sin(x), x * 2.0, np.cos(x) * x]
    return np.sum(items[0] * items[2]) + np.sum(items[1] ** 3)


def dict_of_arrays(x, y):
    d = {"a": np.tanh(x * y), "b": y**2, "c": x}
    return np.sum(d["a"] * d["b"]) + np.sum(d["c"] ** 3 * d["a"])


def tuple_unpacking(x):
    pair = (np.sin(x), x**2)
    a, b = pair
    return np.sum(a * b) + np.sum(pair[0] ** 2)


def rows_unpacked(x):
    # (an array's rows unpacked: their batched tangents are the rows after the batch
    # axis, which unpacking the batched tangent itself once took for the directions)
    a, b = x.reshape(2, 2)
    return np.sum(np.exp(a) * b**2)


def min_of_a_list(x):
    return min([np.sum(x**2), np.sum(np.sin(x)), 5.0])


def list_item_assigned(x):
    items = [x, x * 2.0, np.cos(x)]
    items[1] = np.exp(x)
    return np.sum(items[0] + items[1] * items[2])


def dict_written(x):
    d = {}
    d["a"] = np.sin(x)
    d["b"] = d["a"] * x
    return d["b"] + x**2


def vector_of_a_list(x):
    items = [np.sin(x) * x[0], x**2]
    return items[0] + items[1] * 2.0


CASES = [
    (recurrent_states, [(3,)]),
    (appended_then_read, [(3,)]),
    (list_of_layers, [(3,)]),
    (list_by_position, [(3,)]),
    (dict_of_arrays, [(3,), (3,)]),
    (tuple_unpacking, [(3,)]),
    (rows_unpacked, [(4,)]),
    (min_of_a_list, [(3,)]),
    (list_item_assigned, [(3,)]),
]


def _args(shapes, seed=21):
    rng = np.random.default_rng(seed)
    return tuple(rng.uniform(-0.9, 0.9, s) for s in shapes)


@pytest.mark.parametrize("function, shapes", CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_hessians_run_batched(function, shapes, monkeypatch):
    """One batched run, equal to one Hessian-vector product per direction and to
    differences of the gradient."""
    args = _args(shapes)
    positions = list(range(len(shapes)))
    if function is list_item_assigned:
        # (one Hessian-vector product per direction raises in source mode here: reverse
        # mode over the forward function's list write hands unbroadcast a list adjoint;
        # the batched Hessian against differences alone)
        found = higher._batched_hessian(function, args, positions, ("x",))
        numeric = _gradient_differences(function, args, positions)
        np.testing.assert_allclose(found[0][0], numeric[0][0], rtol=1e-5, atol=1e-6)
        return
    assert _check_hessian(function, args, positions, monkeypatch)


@pytest.mark.parametrize("function, shapes", CASES, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_hessians_in_every_mode(function, shapes, mode):
    args = _args(shapes)
    positions = list(range(len(shapes)))
    wrt = tuple(positions) if len(positions) > 1 else 0
    got = ag.hessian(function, wrt=wrt, mode=mode)(*args)
    numeric = _gradient_differences(function, args, positions)
    if len(positions) == 1:
        got = ((got,),)
    for a in positions:
        for b in positions:
            np.testing.assert_allclose(got[a][b], numeric[a][b], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "function, shapes",
    # (min of a list: its pullback goes one direction at a time, as before)
    [
        *(c for c in CASES if c[0] is not min_of_a_list),
        (vector_of_a_list, [(3,)]),
        (dict_written, [(3,)]),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_reverse_jacobians_run_batched(function, shapes, monkeypatch):
    args = _args(shapes)
    assert _check_reverse(function, args, list(range(len(shapes))), monkeypatch)
    got = ag.jacobian(function, wrt=0, mode="reverse")(*args)
    np.testing.assert_allclose(got, _differences(function, args, [0])[0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "function", [min_of_a_list, vector_of_a_list, tuple_unpacking], ids=lambda f: f.__name__
)
def test_forward_jacobians_of_lists_and_tuples(function):
    """A list's or tuple's batched tangent is a list of its items': a primitive that
    takes the list (``min``) gets each direction's list of rows, never rows of the
    stacked items (which once gave a wrong Jacobian for min of a tuple)."""
    args = _args([(3,)])
    assert _check(function, args, [0])


def test_batched_helpers_of_container_adjoints():
    """The batched tangents of a list's and a dict's adjoint, item by item; the list's
    rows per direction."""
    rows = np.arange(6.0).reshape(3, 2)
    container = [np.zeros(2), np.zeros(2)]
    added = batched.batch_add_at(None, 0, container, 1, rows, np.ones(2), 3)
    assert added[0] is None and added[1] is rows
    again = batched.batch_add_at(added, [0, np.ones(2)], container, 1, rows, np.ones(2), 3)
    np.testing.assert_array_equal(again[1], 2 * rows)
    assert added[1] is rows  # (the tangent given is never changed)
    item = batched.batch_adjoint_item(again, [0, np.ones(2)], 0, 0, 3)
    np.testing.assert_array_equal(item, np.zeros(3))
    entries = batched.batch_add_at(None, 0, {"a": 1.0}, "a", np.ones(3), 1.0, 3)
    np.testing.assert_array_equal(
        batched.batch_adjoint_item(entries, {"a": 2.0}, "a", 2.0, 3), np.ones(3)
    )
    # nested lists' and dicts' adjoints add item by item
    nested = batched.batch_add_adjoints(
        [{"w": 1.0}], [{"w": rows}], [{"w": 1.0}], [{"w": rows, "s": rows}], 3
    )
    np.testing.assert_array_equal(nested[0]["w"], 2 * rows)
    assert nested[0]["s"] is rows
    row = batched.batch_row([rows, None], 2)
    np.testing.assert_array_equal(row[0], rows[2])
    assert row[1] is None
    with pytest.raises(batched.Unbatchable):
        batched.batch_adjoint_item(np.zeros(3), [1.0, 2.0], 0, 1.0, 3)


@pytest.mark.parametrize(
    "function, shapes",
    # (min's gradient takes its list apart through chosen, list_of_layers' and a written
    # list's through helpers of other families without rules yet; appends' gradients pop
    # their lists, which reverse mode refuses to differentiate again)
    [
        c
        for c in CASES
        if c[0]
        not in (
            min_of_a_list,
            list_of_layers,
            list_item_assigned,
            recurrent_states,
            appended_then_read,
        )
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
def test_the_gradient_differentiated_again(function, shapes, mode):
    """The generated gradient itself (its add_at, adjoint_item and unpack_adjoint calls,
    with rules of their own: runtime/rules/helper_rules_runtime.py) differentiated again
    by reverse mode: the gradient's pullback along v is the Hessian times v, against
    differences of the gradient. (Forward mode in source mode refuses the gradient's
    unbroadcast(g, x), whose x moves but gives only a shape: not these helpers.)"""
    from astgrad.transform import pipeline

    args = _args(shapes)
    gradient = higher._without_deletes(pipeline.derive(function, ("x",), mode="source"))
    v = np.cos(np.arange(args[0].size) + 0.5).reshape(args[0].shape)
    expected = np.tensordot(_gradient_differences(function, args, [0])[0][0], v, v.ndim)
    _, pullback = ag.vjp(gradient, *args, wrt=0, mode=mode)
    np.testing.assert_allclose(pullback((0.0, v)), expected, rtol=1e-6, atol=1e-7)


def test_appends_and_pops_as_calls():
    """A gradient's appends and pops of its lists are written as calls that return the
    list (the same object, changed as the method changes it), and its batched source
    changes the list of the items' batched tangents beside it."""
    import gast
    from astgrad.transform import pipeline
    from astgrad.transform.batching import list_changes_as_calls

    source = "def f(x):\n    hs = []\n    hs.append(x)\n    hs.pop()\n    hs.sort()\n    return x\n"
    definition = gast.parse(source).body[0]
    helpers = list_changes_as_calls(definition)
    assert sorted(helpers) == ["list_appended", "list_popped"]
    written = gast.unparse(gast.fix_missing_locations(definition))
    assert "hs = list_appended(hs, x)" in written and "hs = list_popped(hs)" in written
    assert "hs.sort()" in written  # (any other method is left to the analysis)
    items = [1.0]
    assert helpers["list_popped"](helpers["list_appended"](items, 2.0)) is items == [1.0]
    gradient = higher._without_deletes(pipeline.derive(recurrent_states, ("x",), mode="source"))
    batched_source = pipeline.derive(gradient, ("x",), mode="auto", forward="batched").source
    assert "batch_list_appended(" in batched_source and "batch_list_popped(" in batched_source
