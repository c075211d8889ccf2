"""Loops' counters and items read again by the backward pass instead of being saved.

``reverse`` replays a range loop whose body never rebinds its counter over the same range
backwards (``for i in reversed(range(1, n))``) where the range's arguments are ints that
hold wherever the loop's adjoint runs; ``remat`` reads an item or row of an argument at
ints again (``xs[t]``) where nothing in the function can change the argument in place
(``effects``). Every program here is checked against finite differences in every mode,
and its generated source for what it saves: the soundness conditions each have a program
that breaks them (the counter rebound, a ``break``, the range's bound rebound after the
loop, the argument written through itself, a second name, a view, a helper, a list
appended to), whose gradient must still be right.
"""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag

MODES = ["source", "auto", "tape"]


def products_of_neighbours(x, w):
    n = x.shape[0]
    total = 0.0
    for i in range(1, n):
        total = total + x[i] * w[i - 1] * np.tanh(x[i - 1])
    return total


def recurrent(xs, W):
    h = np.zeros(W.shape[1])
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t] @ W + 0.5 * h)
    return np.sum(h * h)


def steps_given(a, steps):
    for k in range(steps):
        a = a * 0.9 + 0.05 * a * a * k
    return a


def backwards_by_two(x):
    total = 0.0
    for i in range(x.shape[0] - 1, -1, -2):
        total = total + x[i] * x[i] * (i + 1)
    return total


def counter_rebound(x):
    total = 0.0
    for i in range(3):
        j = i
        i = 2 - j
        total = total + x[i] * x[j]
    return total


def same_name_nested(x):
    total = 0.0
    for i in range(2):
        for i in range(3):
            total = total + x[i] * x[i + 1]
    return total


def bound_rebound_after(x):
    n = 4
    total = 0.0
    for i in range(n):
        total = total + x[i] * x[i + 1]
    n = 2
    for i in range(n):
        total = total + np.sin(x[i]) * total
    return total


def with_a_break(x):
    total = 0.0
    for i in range(5):
        if total > 1.5:
            break
        total = total + x[i] * x[i]
    return total


def written_after(x, w):
    total = 0.0
    for i in range(4):
        total = total + x[i] * np.tanh(w[i])
    x[1] = 0.3
    return total + np.sum(x * w)


def written_through_a_second_name(x, w):
    total = 0.0
    for i in range(4):
        total = total + x[i] * np.tanh(w[i])
    z = x
    z *= 0.5
    return total + np.sum(x * w)


def written_through_a_view(x, w):
    total = 0.0
    for i in range(4):
        total = total + x[i] * np.tanh(w[i])
    tail = x[2:]
    tail += 0.25
    return total + np.sum(x * w)


def _halve(a):
    a[1:4] *= 0.5


def written_by_a_helper(x, w):
    total = 0.0
    for i in range(4):
        total = total + x[i] * np.tanh(w[i])
    _halve(x)
    return total + np.sum(x * w)


def rows_of_a_list(xs, w):
    total = 0.0
    for i in range(len(xs)):
        total = total + np.sum(xs[i] * np.tanh(w))
    xs.append(w)
    return total + np.sum(xs[-1] * w)


def copy_written(x, w):
    total = 0.0
    for i in range(4):
        total = total + x[i] * np.tanh(w[i])
    b = np.copy(x)
    b[1] = 0.3
    return total + np.sum(b * w)


def rebound_after(x, w):
    total = 0.0
    for i in range(4):
        total = total + x[i] * np.tanh(w[i])
    x = x * 0.5
    return total + np.sum(x * w)


def layers(weights, x):
    h = x
    for W in weights:
        h = np.tanh(h @ W)
    return np.sum(h * h)


def layers_then_appended(weights, x):
    h = x
    for W in weights:
        h = np.tanh(h @ W)
    weights.append(h)  # (len(weights) is another int once the loop is over)
    return np.sum(h * weights[-1])


def layers_of_a_rebound_list(weights, x):
    weights = weights[1:]
    h = x
    for W in weights:
        h = np.tanh(h @ W)
    return np.sum(h * h)


def _layers(rng):
    return [[rng.normal(size=(3, 3)) * 0.6 for _ in range(3)], rng.normal(size=(2, 3))]


def _vectors(rng):
    return [rng.normal(size=6), rng.normal(size=6)]


CASES = [
    ("neighbours", products_of_neighbours, _vectors, (0, 1)),
    (
        "recurrent",
        recurrent,
        lambda rng: [rng.normal(size=(5, 3)), rng.normal(size=(3, 4))],
        (0, 1),
    ),
    ("steps", steps_given, lambda rng: [0.4, 6], 0),
    ("by_two", backwards_by_two, lambda rng: [rng.normal(size=7)], 0),
    ("counter_rebound", counter_rebound, lambda rng: [rng.normal(size=4)], 0),
    ("same_name", same_name_nested, lambda rng: [rng.normal(size=4)], 0),
    ("bound_rebound", bound_rebound_after, lambda rng: [rng.normal(size=5)], 0),
    ("break", with_a_break, lambda rng: [rng.normal(size=5)], 0),
    ("written", written_after, _vectors, (0, 1)),
    ("second_name", written_through_a_second_name, _vectors, (0, 1)),
    ("view", written_through_a_view, _vectors, (0, 1)),
    ("helper", written_by_a_helper, _vectors, (0, 1)),
    ("list", rows_of_a_list, lambda rng: [list(rng.normal(size=(3, 4))), rng.normal(size=4)], 1),
    ("rebound", rebound_after, _vectors, (0, 1)),
    ("copy_written", copy_written, _vectors, (0, 1)),
    # (with respect to x: the weights' gradients, a list, are checked below)
    ("layers", layers, _layers, 1),
    ("layers_appended", layers_then_appended, _layers, 1),
    ("layers_rebound", layers_of_a_rebound_list, _layers, 1),
]


def _fresh(args):
    """The arguments as new objects: several programs change theirs in place."""
    return [
        a.copy() if isinstance(a, np.ndarray) else [v.copy() for v in a] if isinstance(a, list)
        else a
        for a in args
    ]  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name, function, make, wrt", CASES, ids=[c[0] for c in CASES])
def test_gradients_match_differences(name, function, make, wrt, mode) -> None:
    args = make(np.random.default_rng(4))
    positions = wrt if isinstance(wrt, tuple) else (wrt,)
    value = function(*_fresh(args))
    try:
        got_value, got = ag.value_and_grad(function, wrt=wrt, mode=mode)(*_fresh(args))
    except ag.TransformError:
        assert mode == "source", f"{name}: only source mode may refuse"
        return
    except RuntimeError as error:
        # (the tape refuses writes into a view of a parameter, as PyTorch does; auto mode
        # runs such a program on it)
        assert mode in ("tape", "auto") and "in-place" in str(error), f"{name}: {error}"
        return
    assert_close(got_value, value, what=f"{name}: value")
    got = got if isinstance(wrt, tuple) else (got,)
    for position, g in zip(positions, got, strict=True):
        want = numeric_vjp(lambda *a: function(*_fresh(a)), list(args), position, 1.0)
        assert_close(g, want, rtol=1e-6, atol=1e-8, what=f"{name}, argument {position}")


def _source(function, args, wrt) -> str:
    return ag.source(function, *_fresh(args), wrt=wrt, mode="auto")


@pytest.mark.parametrize(
    "function, make, wrt, counter",
    [
        (products_of_neighbours, _vectors, (0, 1), "i"),
        (recurrent, lambda rng: [rng.normal(size=(5, 3)), rng.normal(size=(3, 4))], 1, "t"),
        (backwards_by_two, lambda rng: [rng.normal(size=7)], 0, "i"),
        (bound_rebound_after, lambda rng: [rng.normal(size=5)], 0, "i"),
    ],
)
def test_counters_are_replayed_not_saved(function, make, wrt, counter) -> None:
    source = _source(function, make(np.random.default_rng(5)), wrt)
    assert f"for {counter} in reversed(range(" in source
    assert f"push({counter})" not in source
    assert f"{counter} = pop()" not in source


def test_a_loop_over_an_unchanged_list_is_replayed_over_its_length() -> None:
    # ``for W in weights`` runs as ``for index in range(len(weights))``: the list's length
    # is read again where nothing changes the list and nothing rebinds its name
    source = _source(layers, _layers(np.random.default_rng(5)), (0, 1))
    assert "for index in reversed(range(len(weights))):" in source, source
    assert "push(index)" not in source and "push(len(" not in source, source
    source = _source(layers_of_a_rebound_list, _layers(np.random.default_rng(5)), (0, 1))
    assert "reversed(" not in source and "push(index)" in source, source
    with pytest.raises(ag.TransformError, match="changes `weights` in place"):
        _source(layers_then_appended, _layers(np.random.default_rng(5)), 1)


@pytest.mark.parametrize("function", [layers, layers_of_a_rebound_list])
@pytest.mark.parametrize("mode", MODES)
def test_the_weights_of_replayed_layers_match_differences(function, mode) -> None:
    weights, x = _layers(np.random.default_rng(6))
    got = ag.grad(function, mode=mode)(weights, x)
    for i, gradient in enumerate(got):

        def of_one(w, i=i):
            return function([*weights[:i], w, *weights[i + 1 :]], x)

        assert_close(gradient, numeric_vjp(of_one, [weights[i]], 0, 1.0), what=f"layer {i}")


def test_an_int_argument_bounds_a_replayed_range() -> None:
    # (an int argument is an int to ``ranks``: the range is read again, not its length
    # saved; the body's adjoint reads k)
    source = ag.source(steps_given, 0.4, 6, wrt=0)
    assert "for k in reversed(range(steps)):" in source
    assert "len(range(steps))" not in source and "push(k)" not in source


@pytest.mark.parametrize("function", [counter_rebound, with_a_break])
def test_counters_the_body_changes_are_saved(function) -> None:
    source = _source(function, [np.random.default_rng(6).normal(size=5)], 0)
    assert "push(i)" in source and "i = pop()" in source
    assert "reversed(" not in source


def test_a_loop_rebinding_its_counter_in_an_inner_loop_is_not_replayed_by_range() -> None:
    # The outer loop's i is the inner loop's last one at the end of each iteration: the
    # outer loop is replayed by its count (its counter is read nowhere), the inner one by
    # its range.
    source = _source(same_name_nested, [np.random.default_rng(6).normal(size=5)], 0)
    assert source.count("reversed(range(") == 1
    assert "for i in reversed(range(3)):" in source


def test_items_of_an_unchanged_argument_are_read_again() -> None:
    rng = np.random.default_rng(7)
    source = _source(recurrent, [rng.normal(size=(5, 3)), rng.normal(size=(3, 4))], 1)
    assert "xs_item" not in source  # neither saved nor restored: xs[t] where it is read
    assert "np.tanh(xs[t] @ W + 0.5 * h)" in source
    source = _source(products_of_neighbours, _vectors(rng), (0, 1))
    assert "push(x_item" not in source and "push(w_item" not in source


def test_items_of_an_argument_only_a_copy_of_which_changes_are_read_again() -> None:
    source = _source(copy_written, _vectors(np.random.default_rng(8)), (0, 1))
    assert "push(x_item)" not in source and "dtanh = dadd * x[i]" in source


@pytest.mark.parametrize(
    "function",
    [
        written_after,
        written_through_a_second_name,
        written_through_a_view,
        written_by_a_helper,
        rows_of_a_list,
    ],
)
def test_programs_changing_an_argument_in_place_are_refused_by_the_transform(function) -> None:
    # What keeps items read again sound where an argument changes in place: the
    # transform refuses every such program (``effects``), and ``remat`` reads again only
    # items of the arguments ``effects`` found unchanged. Were one accepted, its items
    # would have to be saved.
    args = _vectors(np.random.default_rng(8))
    if function is rows_of_a_list:
        args = [list(np.ones((3, 6))), args[1]]
    with pytest.raises(ag.TransformError, match="in place"):
        ag.source(function, *args, wrt=1, mode="source")


def time_steps(u, k, steps):
    # (the range's bound is rebound by every step: restored once per run of the inner loop)
    for _ in range(steps):
        n = u.shape[0] - 1
        new = u * 1.0
        for i in range(1, n):
            new[i] = u[i] + k * (u[i - 1] - 2.0 * u[i] + u[i + 1]) * u[i]
        u = new
    return np.sum(u * u)


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_a_pullback_called_twice_reads_the_same_ranges(mode) -> None:
    u = np.random.default_rng(9).uniform(0.2, 1.0, 9)
    value, pullback = ag.vjp(time_steps, u, 0.2, 4, wrt=(0, 1), mode=mode)
    first = pullback(1.0, retain_graph=True)
    second = pullback(1.0)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert_close(first[0], numeric_vjp(time_steps, [u, 0.2, 4], 0, 1.0), rtol=1e-6, what="du")
    assert_close(first[1], numeric_vjp(time_steps, [u, 0.2, 4], 1, 1.0), rtol=1e-6, what="dk")


def test_checkpointed_loops_over_replayed_ranges() -> None:
    rng = np.random.default_rng(10)
    xs, W = rng.normal(size=(12, 3)) * 0.5, rng.normal(size=(3, 3)) * 0.5
    got = ag.grad(recurrent, wrt=1, checkpoint=True)(xs, W)
    assert_close(got, numeric_vjp(recurrent, [xs, W], 1, 1.0), rtol=1e-6, what="dW")
    u = rng.uniform(0.2, 1.0, 9)
    got = ag.grad(time_steps, wrt=(0, 1), checkpoint=True)(u, 0.2, 8)
    assert_close(got[0], numeric_vjp(time_steps, [u, 0.2, 8], 0, 1.0), rtol=1e-6, what="du")


def test_second_derivatives_through_replayed_ranges_and_items_read_again() -> None:
    rng = np.random.default_rng(11)
    x, w = rng.normal(size=6), rng.normal(size=6)
    hessian = ag.hessian(products_of_neighbours, wrt=0)(x, w)
    gradient = ag.grad(products_of_neighbours, wrt=0)
    expected = np.stack(
        [numeric_vjp(lambda v: gradient(v, w), [x], 0, np.eye(6)[row]) for row in range(6)]
    )
    assert_close(hessian, expected, rtol=1e-5, atol=1e-7, what="Hessian")


def strided_ranges(x, start, stop):
    total = 0.0
    for i in range(x.shape[0] - 1, -1, -2):
        total = total + x[i] * x[i] * (i + 1)
    for j in range(0, x.shape[0], 3):
        total = total + np.sin(x[j]) * total
    for k in range(start, stop):
        total = total + x[k] * x[k + 1]
    return total


@pytest.mark.parametrize("start, stop", [(1, 5), (4, 2), (0, 0), (2, 3)])
def test_compiled_gradients_count_replayed_ranges_down(start, stop) -> None:
    pytest.importorskip("numba")
    x = np.random.default_rng(12).uniform(-1.0, 1.0, 8)
    compiled = ag.grad(strided_ranges, wrt=0, jit="numba")
    plain = ag.grad(strided_ranges, wrt=0)
    want = numeric_vjp(strided_ranges, [x, start, stop], 0, 1.0)
    for _ in range(2):  # the run that probes, then the compiled one
        got = compiled(x, start, stop)
        np.testing.assert_allclose(got, plain(x, start, stop), rtol=1e-13, atol=1e-15)
        assert_close(got, want, rtol=1e-6, atol=1e-8, what=f"range({start}, {stop})")
    report = ag.explain(strided_ranges, x, start, stop, wrt=0, jit="numba")
    assert report.compiled, report.reason
    assert "reversed" not in report.source and "len(range(" not in report.source
