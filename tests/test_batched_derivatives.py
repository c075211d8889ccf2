"""Batched forward mode (``transform/batching.py``): ``ag.jacobian(f, mode="forward")``
pushes every unit direction through one run of generated code whose tangents carry a
leading axis of directions. Each batched Jacobian is compared with the one-direction-at-
a-time Jacobian (``ag.jvp`` per direction) and with central finite differences, in
float64, over the conformance programs, randomly generated programs and the higher-order
table; what cannot be batched must fall back to one direction at a time, never give a
wrong result."""

from __future__ import annotations

import inspect
import sys

import numpy as np
import programs_control
import programs_realistic
import programs_straight
import pytest
import random_programs
from astgrad.transform import pipeline
from conformance import _positions
from modules import write_module
from test_higher_order import TABLE

import astgrad as ag
from astgrad import higher

EPS = 1e-6


def _movable(value):
    return isinstance(value, float) or (
        isinstance(value, np.ndarray) and value.dtype == np.float64 and value.size > 0
    )


def _names(function, positions):
    params = list(inspect.signature(function).parameters)
    return tuple(params[p] for p in positions)


def _one_direction_at_a_time(function, args, positions):
    """The Jacobian blocks from one ``ag.jvp`` per unit direction."""
    blocks = []
    for i in positions:
        columns = []
        value = None
        for k in range(np.size(args[i])):
            direction = np.zeros(np.size(args[i]))
            direction[k] = 1.0
            tangents = [None] * len(args)
            tangents[i] = (
                float(direction[0])
                if isinstance(args[i], float)
                else direction.reshape(np.shape(args[i]))
            )
            value, tangent = ag.jvp(function, args, tangents, mode="auto")
            columns.append(np.asarray(tangent, dtype=float))
        stacked = np.stack(columns, axis=-1)
        blocks.append(stacked.reshape(np.shape(value) + np.shape(args[i])))
    return blocks


def _differences(function, args, positions):
    """The Jacobian blocks by central differences of ``function``."""
    blocks = []
    for i in positions:
        columns = []
        for k in range(np.size(args[i])):
            moved = []
            for step in (EPS, -EPS):
                changed = list(args)
                if isinstance(args[i], float):
                    changed[i] = args[i] + step
                else:
                    flat = np.array(args[i], dtype=float).ravel()
                    flat[k] += step
                    changed[i] = flat.reshape(np.shape(args[i]))
                moved.append(np.asarray(function(*changed), dtype=float))
            columns.append((moved[0] - moved[1]) / (2 * EPS))
        stacked = np.stack(columns, axis=-1)
        blocks.append(stacked.reshape(np.shape(function(*args)) + np.shape(args[i])))
    return blocks


def _check(function, args, positions, rtol=1e-5, atol=1e-7):
    """Whether the batched Jacobian ran; if it did, it matches the other two."""
    blocks = higher._batched_jacobian(function, args, positions, _names(function, positions))
    if blocks is None:
        return False
    expected = _one_direction_at_a_time(function, args, positions)
    numeric = _differences(function, args, positions)
    for got, want, approx in zip(blocks, expected, numeric):
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(got, approx, rtol=rtol, atol=atol)
    return True


# -- the conformance programs --------------------------------------------------------------------

PROGRAMS = [
    *programs_straight.PROGRAMS,
    *programs_control.PROGRAMS,
    *programs_realistic.PROGRAMS,
]


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.name)
def test_conformance_program(program):
    rng = np.random.default_rng(0)
    args = program.make_args(rng)
    positions = _positions(program, args)
    if not all(_movable(args[i]) for i in positions):
        pytest.skip("an argument differentiated is not a float array (batched mode takes those)")
    _check(
        program.function,
        args,
        positions,
        rtol=max(program.rtol, 1e-5),
        atol=max(program.atol, 1e-6),
    )


def test_most_conformance_programs_run_batched():
    """What the comparisons above compare is batched for most programs: the fallback
    must stay the exception."""
    ran = eligible = 0
    for program in PROGRAMS:
        args = program.make_args(np.random.default_rng(0))
        positions = _positions(program, args)
        if not all(_movable(args[i]) for i in positions):
            continue
        eligible += 1
        found = higher._run_batched(
            program.function, args, positions, _names(program.function, positions)
        )
        ran += found is not None
    assert eligible >= 30
    # (238 of 262 when this was written: lists' and tuples' batched tangents)
    assert ran >= 0.89 * eligible, (ran, eligible)


# -- random programs -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(30))
def test_random_program(seed, tmp_path):
    source = random_programs.generate(seed)
    module_name = f"batched_program_{seed}"
    module = write_module(tmp_path, module_name, source)
    try:
        rng = np.random.default_rng(seed)
        args = (rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3))
        _check(module.program, args, [0, 1], rtol=1e-5, atol=1e-6)
    except BaseException:
        print(source)
        raise
    finally:
        sys.modules.pop(module_name, None)


# -- the higher-order table, and functions with several outputs ---------------------------------


@pytest.mark.parametrize("name", sorted(TABLE))
def test_higher_order_table(name):
    function, make, positions = TABLE[name]
    args = make(np.random.default_rng(1))
    ran = _check(function, args, list(positions))
    assert ran or name == "log_det"  # (slogdet's tuple: one direction at a time)


def layer(x, W, b):
    return np.tanh(x @ W + b)


def stencil(u, k):
    inner = u[1:-1] * (1.0 - 2.0 * k) + k * (u[2:] + u[:-2])
    return np.sum(inner.reshape(2, -1) ** 2, axis=1) / np.mean(u**2)


def scalar_in_vector_out(t, y):
    return np.sin(t * y) * t + y.T @ y * np.exp(-t)


@pytest.mark.parametrize(
    "function, shapes, positions",
    [
        (layer, [(4, 3), (3, 5), (5,)], [0, 1, 2]),
        (layer, [(3,), (3, 2), (2,)], [1]),
        (stencil, [(10,), "float"], [0, 1]),
        (scalar_in_vector_out, ["float", (3,)], [0, 1]),
    ],
)
def test_vector_valued_functions(function, shapes, positions):
    rng = np.random.default_rng(4)
    args = tuple(
        float(rng.uniform(0.1, 0.5)) if s == "float" else rng.uniform(-1, 1, s) for s in shapes
    )
    assert _check(function, args, positions)
    jacobian = ag.jacobian(function, wrt=tuple(positions), mode="forward")(*args)
    reverse = ag.jacobian(function, wrt=tuple(positions), mode="reverse")(*args)
    for got, want in zip(jacobian, reverse):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_float_argument_and_value():
    assert higher._batched_jacobian(lambda_free_cube, (2.0,), [0], ("x",)) == [12.0]
    assert ag.jacobian(lambda_free_cube, mode="forward")(2.0) == pytest.approx(12.0)


def lambda_free_cube(x):
    return x**3


# -- the source, and falling back ----------------------------------------------------------------


def test_the_batched_source():
    source = pipeline.derive(layer, ("x", "W"), mode="source", forward="batched").source
    assert "def layer_batched_jvp(x, W, b, *, dx, dW):" in source
    assert "# tangent of: return np.tanh(x @ W + b)" in source
    assert "batch_matmul(x, dx, W, dW)" in source
    assert "batch_out(" in source
    rows = pipeline.derive(stencil, ("u",), mode="source", forward="batched").source
    assert "du[:, 1:-1]" in rows and "axis=2" in rows


def writes_into_a_moving_array(x):
    y = x * 2.0
    y[0] = np.sin(x[1])
    y[1:] = y[1:] * x[0]
    return y * x


def test_writes_into_a_moving_array(monkeypatch):
    """``y[i] = v`` writes every row of ``v``'s tangent into ``y``'s at once; its pullback
    takes each slot's adjoint out of the array's (assigned_adjoint), every row at once."""
    x = np.array([0.3, -0.7, 1.1])
    assert _check(writes_into_a_moving_array, (x,), [0])
    assert _check_reverse(writes_into_a_moving_array, (x,), [0], monkeypatch)


def writes_through_repeated_indices(x):
    y = np.zeros(4)
    y[np.array([0, 2, 0])] = x * np.array([1.0, 2.0, 3.0])
    y[1:3] = np.sin(x[:2])
    y[np.array([True, False, False, True])] = y[np.array([True, False, False, True])] * x[2]
    return np.cos(y) * x[0]


def test_assigned_adjoints_of_repeated_and_masked_indices(monkeypatch):
    """A repeated integer index keeps only its last write (each row as assigned_adjoint
    takes it), a mask and a slice every row at once."""
    x = np.array([0.3, -0.7, 1.1])
    assert _check_reverse(writes_through_repeated_indices, (x,), [0], monkeypatch)


def test_batched_assigned_adjoint_rows():
    from astgrad.runtime import batched
    from astgrad.runtime.adjoints import assigned_adjoint

    rng = np.random.default_rng(13)
    container, adjoint = np.zeros(4), rng.uniform(-1, 1, 4)
    rows = rng.uniform(-1, 1, (4, 4))
    for index in (1, slice(1, 3), np.array([0, 2, 0]), np.array([True, False, True, False])):
        value, rest = batched.batch_assigned_adjoint(rows, adjoint, container, index, 4)
        for i in range(4):
            want_value, want_rest = assigned_adjoint(rows[i], container, index)
            np.testing.assert_array_equal(value[i], want_value)
            np.testing.assert_array_equal(rest[i], want_rest)
    # a list's adjoint: the item's rows taken out, none left at the item
    value, rest = batched.batch_assigned_adjoint([rows, None], [adjoint, 0], [container] * 2, 0, 4)
    assert value is rows and rest == [None, None]
    value, rest = batched.batch_assigned_adjoint([rows, None], [adjoint, 0], [container] * 2, 1, 4)
    np.testing.assert_array_equal(value, np.zeros(4))
    assert rest[0] is rows and rest[1] is None
    with pytest.raises(batched.Unbatchable):  # (a list's adjoint without its tangent's list)
        batched.batch_assigned_adjoint(rows, [adjoint], [container], 0, 4)


def appends_to_a_list(x):
    parts = []
    for k in range(3):
        parts.append(np.sin(x * k))
    return parts[0] + parts[1] * parts[2]


def test_a_construct_it_cannot_batch_falls_back():
    """A list grown by append (a call whose effect carries a derivative): no batched
    function, and the Jacobian comes one direction at a time, right."""
    x = np.array([0.3, -0.7, 1.1])
    assert higher._batched_derivative(appends_to_a_list, ("x",), (ag.api._kind(x),)) is None
    got = ag.jacobian(appends_to_a_list, mode="forward")(x)
    expected = _differences(appends_to_a_list, (x,), [0])[0]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


def test_an_operand_it_cannot_batch_falls_back_at_run_time():
    """An index of two arrays, known only as the function runs, has no batched form (the
    index axes would go in front of the batch axis): the batched function raises as it
    runs, and the Jacobian comes one direction at a time. (slogdet's tuple result, which
    once did the same, now goes row by row into a list of its parts' batched tangents.)"""
    x = np.arange(12.0).reshape(3, 4) / 10
    index = (np.array([0, 2]), np.array([1, 3]))
    assert higher._batched_derivative(index_by_name, ("x",), (ag.api._kind(x),)) is not None
    assert higher._run_batched(index_by_name, (x, index), [0], ("x",)) is None
    got = ag.jacobian(index_by_name, mode="forward")(x, index)
    expected = _differences(index_by_name, (x, index), [0])[0]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
    function, make, _ = TABLE["log_det"]
    (A,) = make(np.random.default_rng(2))
    assert _check(function, (A,), [0])


def several_array_indices(x, rows, columns):
    return np.sin(x[rows, columns]) * 2.0


def index_by_name(x, index):
    return np.sin(x[index]) * 2.0


def test_several_array_indices_go_row_by_row_or_fall_back():
    """Two index arrays put the index axes first when a batch axis is in front: written
    out, the index is applied row by row; held by a name, ``batch_index`` refuses it as
    the function runs. Never a transposed Jacobian."""
    x = np.random.default_rng(3).uniform(-1, 1, (3, 4))
    rows, columns = np.array([0, 2, 1]), np.array([3, 0, 1])
    source = pipeline.derive(
        several_array_indices,
        ("x",),
        param_kinds={"x": ("value",)},
        mode="source",
        forward="batched",
    ).source
    assert "dx[direction][rows, columns]" in source
    # (a parameter not known to hold one array may hold a list: its row is a list of rows)
    unknown = pipeline.derive(several_array_indices, ("x",), mode="source", forward="batched")
    assert "batch_row(dx, direction)[rows, columns]" in unknown.source
    assert _check(several_array_indices, (x, rows, columns), [0])
    assert higher._run_batched(index_by_name, (x, (rows, columns)), [0], ("x",)) is None
    got = ag.jacobian(index_by_name, mode="forward")(x, (rows, columns))
    expected = _differences(index_by_name, (x, (rows, columns)), [0])[0]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
    assert _check(index_by_name, (x, rows), [0])  # one array index keeps its axes


# -- Hessians: batched forward mode over the generated gradient -----------------------------------


def _per_direction_hessian(function, args, positions, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(higher, "_batched_hessian", lambda *a: None)
        wrt = tuple(positions) if len(positions) > 1 else positions[0]
        found = ag.hessian(function, wrt=wrt, mode="source")(*args)
    return found if len(positions) > 1 else ((found,),)


def _gradient_differences(function, args, positions):
    """Blocks H[a][b] by central differences of astgrad's gradient (reverse mode, itself
    checked against differences of the function elsewhere)."""
    gradient = ag.grad(function, wrt=tuple(positions), mode="source")
    rows = []
    for p in positions:
        columns = [[] for _ in positions]
        for k in range(np.size(args[p])):
            moved = []
            for step in (EPS, -EPS):
                changed = list(args)
                if isinstance(args[p], float):
                    changed[p] = args[p] + step
                else:
                    flat = np.array(args[p], dtype=float).ravel()
                    flat[k] += step
                    changed[p] = flat.reshape(np.shape(args[p]))
                moved.append(gradient(*changed))
            for a in range(len(positions)):
                columns[a].append((np.asarray(moved[0][a]) - np.asarray(moved[1][a])) / (2 * EPS))
        rows.append(columns)
    # rows[b][a]: d grad_a / d x_b, one column per element of x_b
    blocks = []
    for a, pa in enumerate(positions):
        blocks.append(
            tuple(
                np.moveaxis(np.stack(rows[b][a]), 0, -1).reshape(
                    np.shape(args[pa]) + np.shape(args[pb])
                )
                for b, pb in enumerate(positions)
            )
        )
    return blocks


def _check_hessian(function, args, positions, monkeypatch, rtol=1e-5, atol=1e-6):
    """Whether the batched Hessian ran; if it did, it matches one Hessian-vector product
    per direction and differences of the gradient."""
    found = higher._batched_hessian(function, args, positions, _names(function, positions))
    if found is None:
        return False
    expected = _per_direction_hessian(function, args, positions, monkeypatch)
    numeric = _gradient_differences(function, args, positions)
    for a in range(len(positions)):
        for b in range(len(positions)):
            got = found[a][b]
            assert np.shape(got) == np.shape(expected[a][b])
            np.testing.assert_allclose(got, expected[a][b], rtol=1e-9, atol=1e-11)
            np.testing.assert_allclose(got, numeric[a][b], rtol=rtol, atol=atol)
    return True


@pytest.mark.parametrize("name", sorted(TABLE))
def test_hessian_of_the_higher_order_table(name, monkeypatch):
    function, make, positions = TABLE[name]
    args = make(np.random.default_rng(1))
    ran = _check_hessian(function, args, list(positions), monkeypatch)
    # (a helper's gradient calls another generated function: one direction at a time;
    # slogdet's gradient calls solve. Loops' stacks are batched.)
    assert ran or name in ("helper_calls", "log_det")


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.name)
def test_hessian_of_a_conformance_program(program, monkeypatch):
    rng = np.random.default_rng(0)
    args = program.make_args(rng)
    positions = _positions(program, args)
    if not all(_movable(args[i]) for i in positions) or np.ndim(program.function(*args)):
        pytest.skip("not a scalar function of float arrays")
    if program.name in STOPPED:
        # (the gradient treats the stopped value as a constant, at every order: its
        # differences see the value move, the Hessian does not; compared with one
        # Hessian-vector product per direction only)
        found = higher._batched_hessian(
            program.function, args, positions, _names(program.function, positions)
        )
        expected = _per_direction_hessian(program.function, args, positions, monkeypatch)
        np.testing.assert_allclose(found[0][0], expected[0][0], rtol=1e-9, atol=1e-11)
        return
    _check_hessian(program.function, args, positions, monkeypatch, rtol=1e-4, atol=1e-5)


#: programs whose gradient stops at a value (ag.stop_gradient, ag.no_grad)
STOPPED = ("no_grad_block", "stop_gradient_expression")


@pytest.mark.parametrize("seed", range(30))
def test_hessian_of_a_random_program(seed, tmp_path, monkeypatch):
    source = random_programs.generate(seed)
    module_name = f"batched_hessian_program_{seed}"
    module = write_module(tmp_path, module_name, source)
    try:
        rng = np.random.default_rng(seed)
        args = (rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3))
        _check_hessian(module.program, args, [0, 1], monkeypatch, rtol=1e-4, atol=1e-5)
    except BaseException:
        print(source)
        raise
    finally:
        sys.modules.pop(module_name, None)


def test_many_hessians_run_batched():
    ran = eligible = 0
    for program in PROGRAMS:
        args = program.make_args(np.random.default_rng(0))
        positions = _positions(program, args)
        if not all(_movable(args[i]) for i in positions) or np.ndim(program.function(*args)):
            continue
        eligible += 1
        names = _names(program.function, positions)
        ran += higher._batched_hessian(program.function, args, positions, names) is not None
    assert eligible >= 20
    # (228 of 262 when this was written: loops' stacks, callees, arrays' adjoints, and
    # lists', tuples' and dicts' adjoints, lists filled by appends, helpers' arguments
    # read for their shape, lists' tangents row by row, products' gradients by their rules)
    assert ran >= 0.86 * eligible, (ran, eligible)


def test_the_batched_hessian_source():
    """Forward mode over the generated gradient: the gradient's helpers get batched
    tangents (products' gradients as whole-array products, the seed none)."""
    args = (np.array([0.3, -0.2]), np.array([[1.0, 0.5], [0.2, -1.0]]))
    gradient = pipeline.derive(quadratic, ("x",), mode="source")
    plain = higher._without_deletes(gradient)
    source = pipeline.derive(plain, ("x",), mode="auto", forward="batched").source
    assert "def quadratic_grad_batched_jvp(x, A, *, d_x):" in source
    # (the seed has no derivative: no tangent, None where a helper takes its tangent)
    assert "ddmatmul_2" not in source
    assert "batch_matmul_grad_left(dmatmul_2, None, matmul, x, d_x)" in source
    assert "batch_matmul_grad_" in source
    assert "del " not in source
    H = ag.hessian(quadratic)(*args)
    np.testing.assert_allclose(H, args[1] + args[1].T, rtol=1e-12)


def quadratic(x, A):
    return x @ A @ x


def loop_with_a_stack(x):
    h = x
    for _ in range(3):
        h = np.sin(h) * x
    return np.sum(h)


def while_data_dependent(x):
    # (how many steps depends on x: each direction's tangents are pushed and popped as
    # often as the values are, since the count depends on the values alone)
    h = np.sin(x)
    while np.sum(h * h) < 4.0:
        h = h * 1.5 + np.cos(x) * 0.1
    return np.sum(h * x)


def loop_count_from_data(x):
    steps = int(np.sum(np.abs(x))) % 4 + 2
    y = x
    for _ in range(steps):
        y = np.tanh(y) * 1.5
    return np.sum(y * x)


def nested_loops_with_bounds(x, w):
    total = 0.0
    for i in range(len(x)):
        for j in range(i):
            total = total + np.sin(x[i] * x[j]) * w[i]
    return total


def loop_over_weights(x, weights):
    # (a loop variable over an array held still: zero tangents, each step)
    h = x
    for w in weights:
        h = np.tanh(h * w + x)
    return np.sum(h**2)


def loop_over_rows(X):
    total = 0.0
    for row in X:
        total = total + np.sum(row**2) * np.max(np.sin(row))
    return total


def loop_over_constants(x):
    total = 0.0
    for scale in (0.5, 1.5, -2.0):
        total = total + np.sum(np.tanh(x * scale) * x)
    return total


def loop_with_a_branch(x):
    h = x
    for k in range(4):
        if k % 2:
            h = np.sin(h) * x
        else:
            h = h * h + x
    return np.sum(h)


def recurrent(W, U, xs):
    # (the gradient adds adjoints of h from two uses: add_adjoints, batched as a sum)
    h = np.zeros(U.shape[0])
    total = 0.0
    for x in xs:
        h = np.tanh(W @ x + U @ h)
        total = total + np.sum(h**2)
    return total


LOOPS = [
    (loop_with_a_stack, [(3,)], [0]),
    (while_data_dependent, [(4,)], [0]),
    (loop_count_from_data, [(3,)], [0]),
    (nested_loops_with_bounds, [(4,), (4,)], [0, 1]),
    (loop_over_weights, [(3,), (2,)], [0, 1]),
    (loop_over_rows, [(3, 2)], [0]),
    (loop_over_constants, [(3,)], [0]),
    (loop_with_a_branch, [(3,)], [0]),
    (recurrent, [(3, 2), (3, 3), (4, 2)], [0, 1]),
]


@pytest.mark.parametrize(
    "function, shapes, positions", LOOPS, ids=lambda v: getattr(v, "__name__", "")
)
def test_hessians_of_loops_run_batched(function, shapes, positions, monkeypatch):
    """A loop's gradient pushes values on a stack and pops them back: batched forward
    mode over it keeps a stack of their batched tangents in step (pushed and popped where
    the values are), and the Hessian comes from one run, equal to one Hessian-vector
    product per direction and to differences of the gradient."""
    rng = np.random.default_rng(11)
    args = tuple(rng.uniform(-0.9, 0.9, s) for s in shapes)
    assert _check_hessian(function, args, positions, monkeypatch)
    if len(positions) == 1:
        got = ag.hessian(function)(*args)
        expected = _gradient_differences(function, args, positions)[0][0]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_the_batched_source_of_a_loop_gradient():
    """The stack's steps as calls whose tangent is the same step on the tangents' stack."""
    x = np.array([0.3, -0.7, 1.1])
    gradient = pipeline.derive(loop_with_a_stack, ("x",), mode="source")
    plain = higher._without_deletes(gradient)
    source = pipeline.derive(plain, ("x",), mode="auto", forward="batched").source
    assert "dstack = stack_push(dstack, dsin)" in source
    assert "saved_tangent(stack_top(dstack), saved, batch)" in source
    assert "dstack = stack_drop(dstack, 1)" in source
    assert "pop()" not in source and ".append" not in source
    assert higher._batched_hessian(loop_with_a_stack, (x,), [0], ("x",)) is not None


def test_saved_values_used_otherwise_are_left_as_they_are():
    """A list of saved values read in a way the rewrite does not follow (here its
    length) is left alone: the analysis then refuses it, one direction at a time."""
    import gast
    from astgrad.transform.batching import saved_values_as_calls

    source = (
        "def f(x):\n"
        "    stack = []\n"
        "    push = stack.append\n"
        "    push(x)\n"
        "    n = len(stack)\n"
        "    pop = stack.pop\n"
        "    y = pop()\n"
        "    return y * n\n"
    )
    definition = gast.parse(source).body[0]
    before = gast.dump(definition)
    assert saved_values_as_calls(definition, {}) is None
    assert gast.dump(definition) == before
    plain = gast.parse(source.replace("    n = len(stack)\n", "    n = 2\n")).body[0]
    assert saved_values_as_calls(plain, {}) is not None
    assert "pop()" not in gast.dump(plain)


def test_a_pushed_value_changed_in_place_is_not_rewritten():
    """A value pushed and then changed in place would be popped changed while its
    tangent was pushed unchanged: such a function keeps its list (and the caller goes one
    direction at a time). Writes into an element loop's buffer of adjoints are fine."""
    import gast
    from astgrad.runtime.element_adjoints import gradient_buffer
    from astgrad.transform.batching import saved_values_as_calls

    changed = (
        "def f(x):\n"
        "    stack = []\n"
        "    push = stack.append\n"
        "    y = x * 2.0\n"
        "    push(y)\n"
        "    y[0] = 1.0\n"
        "    pop = stack.pop\n"
        "    y = pop()\n"
        "    return y\n"
    )
    assert saved_values_as_calls(gast.parse(changed).body[0], {}) is None
    buffer = changed.replace("    y[0] = 1.0\n", "    d = gradient_buffer(0, x)\n    d[0] = 1.0\n")
    namespace = {"gradient_buffer": gradient_buffer}
    assert saved_values_as_calls(gast.parse(buffer).body[0], namespace) is not None
    aliased = buffer.replace("    push(y)\n", "    push(y)\n    push(d)\n")
    assert saved_values_as_calls(gast.parse(aliased).body[0], namespace) is None
    counter = changed.replace("    y[0] = 1.0\n", "    n = 0\n    n += 1\n")
    assert saved_values_as_calls(gast.parse(counter).body[0], {}) is not None
    in_place = changed.replace("    y[0] = 1.0\n", "    y += 1.0\n")
    assert saved_values_as_calls(gast.parse(in_place).body[0], {}) is None


def test_two_pops_in_one_statement_are_not_rewritten():
    import gast
    from astgrad.transform.batching import saved_values_as_calls

    source = (
        "def f(x):\n"
        "    stack = []\n"
        "    push = stack.append\n"
        "    push(x)\n"
        "    push(x)\n"
        "    pop = stack.pop\n"
        "    return pop() - 2 * pop()\n"
    )
    assert saved_values_as_calls(gast.parse(source).body[0], {}) is None


def test_a_gradient_it_cannot_batch_falls_back(monkeypatch):
    """A gradient that saves the element a loop overwrites in an array (saved_item, which
    the analysis refuses to differentiate again): no batched Hessian, and the Hessian
    comes one Hessian-vector product at a time, right. (Lists built by displays and by
    appends are batched: tests/test_batched_containers.py.)"""
    x = np.array([0.3, -0.7, 1.1])
    assert higher._batched_hessian(overwritten_in_a_loop, (x,), [0], ("x",)) is None
    got = ag.hessian(overwritten_in_a_loop)(x)
    np.testing.assert_allclose(
        got, _gradient_differences(overwritten_in_a_loop, (x,), [0])[0][0], rtol=1e-6, atol=1e-8
    )


def overwritten_in_a_loop(x):
    out = np.zeros(len(x))
    for i in range(len(x)):
        out[i] = x[i] * x[i - 1]
    return np.sum(out**2)


def _helper(h, x):
    return np.sin(h) * x


def calls_a_helper(x):
    return np.sum(_helper(x, x) ** 2)


def _stepper(h, x):
    for _ in range(2):
        h = np.tanh(h) * x
    return h


def calls_a_helper_with_a_loop(x, w):
    return np.sum(_stepper(x * w, x) * w) + np.sum(_helper(w, x))


@pytest.mark.parametrize(
    "function, shapes",
    [(calls_a_helper, [(3,)]), (calls_a_helper_with_a_loop, [(3,), (3,)])],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_gradients_calling_generated_gradients_run_batched(function, shapes, monkeypatch):
    """A gradient that calls a helper's generated forward and backward functions: each
    gets a batched forward function of its own (the saved tuple's tangent a tuple of
    batched tangents); a helper whose own gradient saves values on a list is refused and
    goes one direction at a time."""
    rng = np.random.default_rng(15)
    args = tuple(rng.uniform(-0.9, 0.9, s) for s in shapes)
    positions = list(range(len(shapes)))
    ran = _check_hessian(function, args, positions, monkeypatch)
    assert ran is (function is calls_a_helper)  # (the loop's helper saves on a list)
    assert _check_reverse(function, args, positions[:1], monkeypatch)
    numeric = _gradient_differences(function, args, positions)
    got = ag.hessian(function, wrt=tuple(positions))(*args)
    for a in positions:
        for b in positions:
            np.testing.assert_allclose(got[a][b], numeric[a][b], rtol=1e-5, atol=1e-6)


def reduce_rows(x, s=2.0):
    return np.tanh(x * s).sum(axis=0) + x[0]


def sine_energy(x):
    return np.sum(np.sin(x) ** 2)


def test_float32_arguments(monkeypatch):
    """float32 directions through the batched code; the Jacobian and Hessian are float64
    as one direction at a time gives them, and agree with reverse mode and the per-
    direction products to float32's precision."""
    x = np.random.default_rng(5).uniform(-1, 1, (3, 2)).astype(np.float32)
    assert higher._run_batched(reduce_rows, (x,), [0], ("x",)) is not None
    jacobian = ag.jacobian(reduce_rows, mode="forward")(x)
    assert jacobian.dtype == np.float64 and jacobian.shape == (2, 3, 2)
    np.testing.assert_allclose(jacobian, ag.jacobian(reduce_rows)(x), rtol=1e-5, atol=1e-6)
    assert higher._batched_hessian(sine_energy, (x,), [0], ("x",)) is not None
    hessian = ag.hessian(sine_energy)(x)
    assert hessian.dtype == np.float64
    expected = _per_direction_hessian(sine_energy, (x,), [0], monkeypatch)[0][0]
    np.testing.assert_allclose(hessian, expected, rtol=1e-5, atol=1e-6)


# -- reverse mode: every output direction through one run of the pullback --------------------------


def _check_reverse(function, args, positions, monkeypatch, rtol=1e-5, atol=1e-7):
    """Whether the batched pullback ran; if it did, its Jacobian matches one pullback per
    output direction and central differences."""
    names = _names(function, positions)
    blocks = higher._batched_pullbacks(function, args, positions, names)
    if blocks is None:
        return False
    with monkeypatch.context() as patch:
        patch.setattr(higher, "_batched_pullbacks", lambda *a: None)
        expected = ag.jacobian(function, wrt=tuple(positions), mode="reverse")(*args)
    numeric = _differences(function, args, positions)
    for got, want, approx in zip(blocks, expected, numeric):
        assert np.shape(got) == np.shape(want) and type(got) is type(want)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(got, approx, rtol=rtol, atol=atol)
    return True


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.name)
def test_reverse_jacobian_of_a_conformance_program(program, monkeypatch):
    args = program.make_args(np.random.default_rng(0))
    positions = _positions(program, args)
    if not all(_movable(args[i]) for i in positions):
        pytest.skip("an argument differentiated is not a float array")
    if program.name in STOPPED:
        pytest.skip("the gradient stops at a value its differences see move")
    _check_reverse(
        program.function,
        args,
        positions,
        monkeypatch,
        rtol=max(program.rtol, 1e-5),
        atol=max(program.atol, 1e-6),
    )


@pytest.mark.parametrize("seed", range(30))
def test_reverse_jacobian_of_a_random_program(seed, tmp_path, monkeypatch):
    source = random_programs.generate(seed)
    module_name = f"batched_reverse_program_{seed}"
    module = write_module(tmp_path, module_name, source)
    try:
        rng = np.random.default_rng(seed)
        args = (rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3))
        _check_reverse(module.program, args, [0, 1], monkeypatch, rtol=1e-5, atol=1e-6)
    except BaseException:
        print(source)
        raise
    finally:
        sys.modules.pop(module_name, None)


@pytest.mark.parametrize(
    "function, shapes, positions",
    [
        (layer, [(4, 3), (3, 5), (5,)], [0, 1, 2]),
        (stencil, [(10,), "float"], [0, 1]),
        (scalar_in_vector_out, ["float", (3,)], [0, 1]),
        (quadratic, [(3,), (3, 3)], [0, 1]),
    ],
)
def test_reverse_jacobian_of_vector_valued_functions(function, shapes, positions, monkeypatch):
    rng = np.random.default_rng(6)
    args = tuple(
        float(rng.uniform(0.1, 0.5)) if s == "float" else rng.uniform(-1, 1, s) for s in shapes
    )
    assert _check_reverse(function, args, positions, monkeypatch)


def test_most_reverse_jacobians_run_batched():
    ran = eligible = 0
    for program in PROGRAMS:
        args = program.make_args(np.random.default_rng(0))
        positions = _positions(program, args)
        if not all(_movable(args[i]) for i in positions):
            continue
        eligible += 1
        names = _names(program.function, positions)
        ran += higher._batched_pullbacks(program.function, args, positions, names) is not None
    # (239 of 262 when this was written: lists', tuples' and dicts' adjoints too)
    assert ran >= 0.9 * eligible, (ran, eligible)


def smooth(u):
    out = u.copy()
    for i in range(1, len(u) - 1):
        out[i] = 0.25 * u[i - 1] + 0.5 * u[i] + 0.25 * u[i + 1]
    return np.sin(out)


def test_reverse_jacobians_that_cannot_be_batched_fall_back():
    """A loop writing elements into an array: its pullback takes each element's adjoint
    out of the array's (assigned_adjoint), a helper batched mode does not know; one
    pullback per output direction instead, right. (A loop's stack is no obstacle: what
    it pops does not depend on the cotangent.)"""
    x = np.array([0.3, -0.7, 1.1, 0.2])
    assert higher._batched_pullbacks(smooth, (x,), [0], ("x",)) is None
    got = ag.jacobian(smooth)(x)
    np.testing.assert_allclose(got, _differences(smooth, (x,), [0])[0], rtol=1e-6, atol=1e-8)
    assert higher._batched_pullbacks(loop_with_a_stack, (x[:3],), [0], ("x",)) is not None


def fortran_order(x):
    return np.sin(np.ravel(x, "F")) * np.reshape(x, (6,), order="F")


def c_order(x):
    return np.sin(np.ravel(x)) * x.reshape(2, 3).ravel() + np.squeeze(x[None])[0, 0]


@pytest.mark.parametrize("function", [fortran_order, c_order])
def test_reshapes_keep_their_order(function, monkeypatch):
    """A reshape in Fortran order is taken row by row (each row reshaped as the value
    was), never as a C-order reshape of the rows."""
    x = np.random.default_rng(8).uniform(-1, 1, (3, 2))
    if function is c_order:
        x = x.reshape(2, 3)
    assert _check_reverse(function, (x,), [0], monkeypatch)
    assert _check(function, (x,), [0])


def through_complex(x):
    z = np.exp(1j * x) * (x + 2.0j)
    return np.real(z * np.conj(z)) + np.imag(z)


def test_complex_intermediate_values(monkeypatch):
    """Complex values inside a real function: their batched tangents keep the imaginary
    part (a float buffer would drop it)."""
    x = np.random.default_rng(9).uniform(-1, 1, 4)
    assert _check(through_complex, (x,), [0])
    _check_reverse(through_complex, (x,), [0], monkeypatch)


@pytest.mark.parametrize("module", ["astgrad.higher", "astgrad.runtime.batched"])
def test_docstring_examples(module):
    import doctest
    import importlib

    found = importlib.import_module(module)
    result = doctest.testmod(found, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted and not result.failed


def test_directions_in_several_runs(monkeypatch):
    """More directions than one run may hold go in several runs, joined: the same
    Jacobians and Hessians."""
    rng = np.random.default_rng(10)
    args = (rng.uniform(-1, 1, (4, 3)), rng.uniform(-1, 1, (3, 5)), rng.uniform(-1, 1, 5))
    whole = ag.jacobian(layer, wrt=(0, 1, 2), mode="forward")(*args)
    pulled = ag.jacobian(layer, wrt=(0, 1, 2))(*args)
    hessian = ag.hessian(quadratic, wrt=(0, 1))(args[1][:, 0], args[0][:3])
    monkeypatch.setattr(higher, "_BATCH_ELEMENTS", 7)  # one direction per run
    assert _check(layer, args, [0, 1, 2])
    for got, want in zip(ag.jacobian(layer, wrt=(0, 1, 2), mode="forward")(*args), whole):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    for got, want in zip(ag.jacobian(layer, wrt=(0, 1, 2))(*args), pulled):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    again = ag.hessian(quadratic, wrt=(0, 1))(args[1][:, 0], args[0][:3])
    for row, want_row in zip(again, hessian):
        for got, want in zip(row, want_row):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    monkeypatch.setattr(higher, "_BATCH_ELEMENTS", 4 * 32)  # runs of 4 of the 32 directions
    for got, want in zip(ag.jacobian(layer, wrt=(0, 1, 2), mode="forward")(*args), whole):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_batched_sum_of_adjoints_keeps_the_directions_apart():
    """``add_adjoints(a, b)`` of a vector and a number, with as many directions as the
    vector has elements: each row the sum of the two rows (the number's row lifted, not
    broadcast along the directions)."""
    from astgrad.runtime import batched

    a, b = np.ones(3), 2.0
    da, db = np.arange(9.0).reshape(3, 3), np.array([10.0, 20.0, 30.0])
    got = batched.batch_add_adjoints(a, da, b, db, 3)
    np.testing.assert_array_equal(got, np.stack([da[i] + db[i] for i in range(3)]))
    assert batched.batch_add_adjoints(0, None, a, da, 3) is da
    assert batched.batch_add_adjoints(a, None, b, None, 2).shape == (2, 3)
    # lists' adjoints item by item (None: an item without a tangent)
    (summed,) = batched.batch_add_adjoints([a], [da], [a], [None], 3)
    assert summed is da
    (summed,) = batched.batch_add_adjoints([a], [da], [a], [da], 3)
    np.testing.assert_array_equal(summed, 2 * da)
    with pytest.raises(batched.Unbatchable):
        batched.batch_add_adjoints([a], [da], {"a": a}, {"a": da}, 3)


@pytest.mark.parametrize(
    "function", [writes_into_a_moving_array, writes_through_repeated_indices, smooth]
)
def test_pullbacks_that_restore_what_was_overwritten(function, monkeypatch):
    """A pullback that puts back what the forward pass overwrote (restore_item) changes
    its saved values, views of them too: each further run of it (a pullback per output
    direction, a run of directions) takes the saved values of a forward pass of its own.
    It read the restored values, and gave a wrong Jacobian, before."""
    x = np.array([0.3, -0.7, 1.1, 0.2])[: 4 if function is smooth else 3]
    expected = _differences(function, (x,), [0])[0]
    with monkeypatch.context() as patch:
        patch.setattr(higher, "_batched_pullbacks", lambda *a: None)
        np.testing.assert_allclose(ag.jacobian(function)(x), expected, rtol=1e-6, atol=1e-8)
    with monkeypatch.context() as patch:
        patch.setattr(higher, "_BATCH_ELEMENTS", x.size)  # one direction per run
        np.testing.assert_allclose(ag.jacobian(function)(x), expected, rtol=1e-6, atol=1e-8)
    value, pullback = ag.vjp(function, x)
    first = pullback(np.ones_like(value), retain_graph=True)
    again = pullback(np.ones_like(value), retain_graph=True)
    last = pullback(np.ones_like(value))
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, last)
    np.testing.assert_allclose(first, expected.sum(axis=0), rtol=1e-6, atol=1e-8)


def test_batched_add_at_rows():
    """``add_at`` of an array's adjoint, row by row as the helper takes each direction:
    basic indices at once, a repeated integer index adding up."""
    from astgrad.runtime import batched
    from astgrad.runtime.adjoints import add_at

    rng = np.random.default_rng(14)
    container = np.zeros((3, 2))
    adjoint, rows = rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, (5, 3, 2))
    for index, shape in ((1, (2,)), ((slice(0, 2), 1), (2,)), (np.array([0, 2, 0]), (3, 2))):
        value, value_rows = rng.uniform(-1, 1, shape), rng.uniform(-1, 1, (5, *shape))
        got = batched.batch_add_at(rows, adjoint, container, index, value_rows, value, 5)
        for i in range(5):
            want = add_at(rows[i], container, index, value_rows[i])
            np.testing.assert_allclose(got[i], want, rtol=1e-15)
    assert batched.batch_add_at(rows, adjoint, container, 1, None, 0, 5) is rows
    with pytest.raises(batched.Unbatchable):
        batched.batch_add_at(rows, adjoint, [container], 0, rows, adjoint, 5)


def powers_of_a_counter(x):
    total = 0.0
    for k in range(1, 4):
        total = total + np.sum(np.sin(x) ** k)
    return total


def test_a_counter_never_gives_nan(monkeypatch):
    """A loop's counter has no tangent: the power rule's term for the exponent, 0 *
    log(base), would be NaN at a negative base, where the term is 0. The gradient's
    replayed loop binds the counter itself (``for k in reversed(range(1, 4))``), which
    the batched run knows carries none, so it runs at once even at negative bases (when
    the counter was popped back it had zero tangents, saw the NaN and went one direction
    at a time)."""
    x = np.array([0.3, -0.7, 1.1])
    expected = _gradient_differences(powers_of_a_counter, (x,), [0])[0][0]
    batched = higher._batched_hessian(powers_of_a_counter, (x,), [0], ("x",))
    assert batched is not None
    np.testing.assert_allclose(batched[0][0], expected, rtol=1e-6, atol=1e-7)
    got = ag.hessian(powers_of_a_counter)(x)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert _check_hessian(powers_of_a_counter, (np.abs(x),), [0], monkeypatch)


def through_diff(x):
    return np.sum(np.diff(np.sin(x)) ** 2 * x[1:])


def through_cast(x):
    return np.sum(np.tanh(x.astype(np.float64)) ** 3)


@pytest.mark.parametrize("function", [through_diff, through_cast], ids=lambda f: f.__name__)
def test_arguments_read_for_their_shape_alone_may_move(function, monkeypatch):
    """A helper of the gradient with a rule whose argument at a position marked
    shape_only moves (diff_grad(g, x), cast_grad(g, x, ans): x gives a shape or dtype):
    its tangent changes nothing, and the batched Hessian leaves it out, where forward
    mode refused the statement (the rule gives no derivative for it)."""
    x = np.array([0.3, -0.7, 1.1, 0.5])
    assert _check_hessian(function, (x,), [0], monkeypatch)
