"""A backward loop's per-step weight gradients summed as one product (``step_sums``).

An RNN's backward loop adds ``h_t.T @ g_t`` into ``dWh`` at every step; the ``step_sums``
pass keeps the steps and multiplies them stacked (``runtime.step_sums.StepSum``). Checked
here: the gradients of recurrent loops in every spelling of the product against central
differences in every mode, that the pass applies where it may and only there (a gradient
read in the loop, a write in place), the runtime's forms, and the readers of generated
source that take it back (Numba's rewrite, the batched Hessian).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from astgrad.runtime import step_sums
from numeric import assert_close, numeric_vjp

import astgrad as ag
from astgrad import higher

# (not imported by their names: generated code reading a global of the module that holds
# the function, a helper of the same name, would read it there)
StepSum, CHUNK_ELEMENTS = step_sums.StepSum, step_sums.CHUNK_ELEMENTS
matmul_grad_right_, dot_grad_right_, unbroadcast_ = list(step_sums.STACKED)


def rnn_matmul(Wx, Wh, b, xs, h0):
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t] @ Wx + h @ Wh + b)
    return np.sum(h * h)


def rnn_dot(Wx, Wh, b, xs, h0):
    h = np.zeros_like(h0) + h0
    for t in range(xs.shape[0]):
        h = np.tanh(np.dot(xs[t], Wx) + np.dot(h, Wh) + b)
    return np.mean(h**2)


def rnn_method(Wx, Wh, b, xs, h0):
    h = h0
    states = []
    for x in xs:
        h = np.tanh(x.dot(Wx) + h.dot(Wh) + b)
        states.append(h)
    return np.sum(np.stack(states) ** 2)


def rnn_vector(Wx, Wh, b, xs, h0):
    # (one sequence: the states are vectors, their products outer products)
    h = h0[0]
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t, 0] @ Wx + h @ Wh + b)
    return np.sum(h * h)


def reads_its_gradient_in_the_loop(Wx, Wh, b, xs, h0):
    # (dWh's sum is not read in the loop, but Wh changes in it: nothing is deferred
    # whose fixed argument the loop assigns)
    h = h0
    for t in range(xs.shape[0]):
        Wh = Wh * 0.9
        h = np.tanh(xs[t] @ Wx + h @ Wh + b)
    return np.sum(h * h)


PROGRAMS = [rnn_matmul, rnn_dot, rnn_method, rnn_vector, reads_its_gradient_in_the_loop]


def _arguments(seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    steps, batch, inputs, hidden = 6, 3, 4, 5
    return [
        rng.normal(size=(inputs, hidden)) * 0.4,
        rng.normal(size=(hidden, hidden)) * 0.4,
        rng.normal(size=hidden) * 0.1,
        rng.normal(size=(steps, batch, inputs)),
        rng.normal(size=(batch, hidden)) * 0.5,
    ]


@pytest.mark.parametrize("mode", ["source", "auto", "tape"])
@pytest.mark.parametrize("program", PROGRAMS, ids=lambda f: f.__name__)
def test_recurrent_gradients_match_central_differences(program, mode):
    args = _arguments()
    wrt = (0, 1, 2)
    got = ag.grad(program, wrt=wrt, mode=mode)(*args)
    for i, gradient in zip(wrt, got):
        want = numeric_vjp(program, [a.copy() for a in args], i, 1.0)
        assert_close(gradient, want, rtol=1e-6, atol=1e-9, what=f"{program.__name__} {i}")


@pytest.mark.parametrize("program", [rnn_matmul, rnn_dot, rnn_method, rnn_vector])
def test_the_weight_gradients_are_summed_after_the_loop(program):
    source = ag.source(program, *_arguments(), wrt=(0, 1, 2))
    assert "dWh_steps = StepSum(" in source, source
    assert "dWx_steps = StepSum(" in source, source
    assert "dWh = dWh_steps.total()" in source or "dWh = dWh + dWh_steps.total()" in source
    if program is rnn_vector:
        # b's steps are vectors already (one sequence): nothing to sum but the steps
        assert "db_steps" not in source and "db = db + " in source, source
    else:
        assert "db_steps = StepSum(unbroadcast)" in source, source


def test_nothing_is_deferred_whose_weight_the_loop_changes():
    source = ag.source(reads_its_gradient_in_the_loop, *_arguments(), wrt=(0, 1, 2))
    assert "dWx_steps = StepSum(" in source  # (Wx does not change)
    assert "StepSum(matmul_grad_right)" in source
    assert "dWh_steps" not in source and "dmul_steps" not in source, source


def writes_in_place_in_the_loop(Wx, xs):
    total = 0.0
    for t in range(xs.shape[0]):
        a = xs[t] @ Wx
        a[0, 0] = 0.5  # (the backward loop restores the element: a write in place)
        total = total + np.sum(np.tanh(a))
    return total


def test_a_loop_that_writes_in_place_is_left_as_it_is():
    args = [_arguments()[0], _arguments()[3]]
    source = ag.source(writes_in_place_in_the_loop, *args, wrt=(0,))
    assert "StepSum" not in source, source
    got = ag.grad(writes_in_place_in_the_loop, wrt=0)(*args)
    want = numeric_vjp(writes_in_place_in_the_loop, args, 0, 1.0)
    assert_close(got, want, rtol=1e-6, atol=1e-9, what="gradient")


@pytest.mark.parametrize("helper", [matmul_grad_right_, dot_grad_right_])
def test_the_sum_of_products_in_every_form(helper):
    rng = np.random.default_rng(1)
    W = rng.normal(size=(4, 3))
    steps, want = StepSum(helper), 0
    forms = [((5, 3), (5, 4))] * 3 + [((3,), (4,))] + [((2, 3), (2, 4))] * 2
    forms += [((5, 3), (5, 4), np.float32)]
    for shapes in forms:
        dtype = shapes[2] if len(shapes) > 2 else np.float64
        g = rng.normal(size=shapes[0]).astype(dtype)
        x = rng.normal(size=shapes[1]).astype(dtype)
        steps.add(g, x, W)
        want = want + helper(g, x, W)
    assert_close(steps.total(), want, rtol=1e-6, atol=1e-6, what="sum")


@pytest.mark.parametrize("helper", [matmul_grad_right_, dot_grad_right_])
def test_vector_steps_are_kept_as_rows(helper):
    # one sequence's steps, h @ Wh with h a vector: outer products, one product in all
    rng = np.random.default_rng(4)
    W = rng.normal(size=(4, 3))
    steps, want = StepSum(helper), 0
    for _ in range(5):
        g, x = rng.normal(size=3), rng.normal(size=4)
        steps.add(g, x, W)
        want = want + np.outer(x, g)
    assert steps.kept == 5 * 7  # (kept, not added one by one)
    assert_close(steps.total(), want, rtol=1e-12, atol=1e-12, what="sum")


def test_the_kept_steps_are_multiplied_a_chunk_at_a_time():
    rng = np.random.default_rng(2)
    W = rng.normal(size=(64, 64))
    steps, want = StepSum(matmul_grad_right_), 0
    for _ in range(3 * CHUNK_ELEMENTS // (2 * 64 * 64) + 1):
        g, x = rng.normal(size=(64, 64)), rng.normal(size=(64, 64))
        steps.add(g, x, W)
        want = want + x.T @ g
        assert steps.kept < CHUNK_ELEMENTS
    assert_close(steps.total(), want, rtol=1e-10, atol=1e-10, what="sum")


def test_row_sums_and_their_other_forms():
    rng = np.random.default_rng(3)
    b = np.zeros(3)
    steps, want = StepSum(unbroadcast_), 0
    for shape in [(4, 3), (4, 3), (3,), (2, 3), (1, 3), (4, 3)]:
        g = rng.normal(size=shape)
        steps.add(g, b)
        want = want + unbroadcast_(g, b)
    assert_close(steps.total(), want, rtol=1e-12, atol=1e-12, what="sum")
    assert StepSum(unbroadcast_).total() == 0  # no step: the int 0 an adjoint starts from


def small_rnn(W, xs):
    h = np.zeros((2, 3))
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t] @ W + h * 0.5)
    return np.sum(h * h)


def test_the_batched_hessian_reads_the_loop_back():
    rng = np.random.default_rng(4)
    W, xs = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(4, 2, 3))
    assert "dW_steps = StepSum(matmul_grad_right)" in ag.source(small_rnn, W, xs, wrt=0)
    # (batched forward mode over the generated gradient, not one product per direction)
    assert higher._batched_hessian(small_rnn, (W, xs), [0], ("W",)) is not None
    hessian = ag.hessian(small_rnn)(W, xs)
    gradient = ag.grad(small_rnn)
    want = np.array(
        [
            numeric_vjp(lambda v, i=i: gradient(v, xs).ravel()[i], [W.copy()], 0, 1.0)
            for i in range(9)
        ]
    ).reshape(3, 3, 3, 3)
    assert_close(hessian, want, rtol=1e-5, atol=1e-7, what="hessian")


def one_sequence(W, h0, n):
    h = h0
    for _ in range(n):
        h = np.tanh(h @ W)
    return np.sum(h * h)


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="needs numba")
def test_numba_compiles_the_loop_read_back():
    rng = np.random.default_rng(5)
    args = (rng.normal(size=(4, 4)) * 0.5, rng.normal(size=4), 5)
    assert "dW_steps = StepSum(matmul_grad_right)" in ag.source(one_sequence, *args, wrt=0)
    got = ag.grad(one_sequence, wrt=0, jit="numba")(*args)
    explained = ag.explain(one_sequence, *args, wrt=0, jit="numba")
    assert explained.compiled, explained.reason
    assert "StepSum" not in explained.source
    assert "dW = dW + matmul_grad_right(" in explained.source
    want = numeric_vjp(one_sequence, list(args), 0, 1.0)
    assert_close(got, want, rtol=1e-6, atol=1e-9, what="jit")


# Random recurrent loops: each step applies two to four of these lines to the state h
# (3 rows, 4 columns) with the weights W (4 x 4), U (2 x 4) and the bias b, some of them
# hostile to the pass (the weight changed in the loop, a write in place, a branch, a list
# of states, the gradient's weight read twice in a step)
STEP_LINES = [
    "h = np.tanh(h @ W + b)",
    "h = np.tanh(np.dot(h, W)) * 0.5 + h * 0.5",
    "h = h + xs[t] @ U",
    "h = np.sin(h.dot(W) + xs[t].dot(U) * 0.3)",
    "h = h * 0.9 + np.tanh(h @ W) @ W * 0.05",
    "W = W * 0.99",
    "h = h + b * 0.1",
    "h[0, 1] = h[1, 0] * 0.5",
    "states.append(h)",
    "if np.sum(h) > 0.0:\n            h = h @ W * 0.7",
    "s = s + np.sum(h @ W) * 0.1",
]


def _recurrent_program(seed: int) -> str:
    rng = np.random.default_rng(seed)
    lines = rng.choice(len(STEP_LINES), size=rng.integers(2, 5), replace=False)
    body = "\n".join("        " + STEP_LINES[i] for i in lines)
    return (
        "import numpy as np\n\n\n"
        "def program(W, U, b, xs, h):\n"
        "    states = [h]\n"
        "    s = 0.0\n"
        "    for t in range(xs.shape[0]):\n"
        f"{body}\n"
        "    return np.sum(h * h) + s + np.sum(np.stack(states) ** 2) * 0.1\n"
    )


@pytest.mark.parametrize("seed", range(40))
def test_random_recurrent_loops_match_central_differences(seed, tmp_path):
    from modules import write_module

    name = f"recurrent_{seed}"
    program = write_module(tmp_path, name, _recurrent_program(seed)).program
    rng = np.random.default_rng(seed + 100)
    args = [
        rng.normal(size=(4, 4)) * 0.4,
        rng.normal(size=(2, 4)) * 0.4,
        rng.normal(size=4) * 0.1,
        rng.normal(size=(5, 3, 2)),
        rng.normal(size=(3, 4)) * 0.5,
    ]
    wants = [numeric_vjp(program, [a.copy() for a in args], i, 1.0) for i in (0, 1, 2)]
    for mode in ("source", "auto", "tape"):
        try:
            got = ag.grad(program, wrt=(0, 1, 2), mode=mode)(*[a.copy() for a in args])
        except ag.TransformError:
            assert mode == "source", f"seed {seed}: {mode} refused"
            continue
        except RuntimeError as refused:
            # (a write into a value the tape saved, as PyTorch refuses it: h[0, 1] = ...
            # into the previous step's np.tanh result)
            assert mode != "source" and "modified by an inplace operation" in str(refused)
            continue
        for i, (gradient, want) in enumerate(zip(got, wants)):
            assert_close(gradient, want, rtol=1e-5, atol=1e-8, what=f"seed {seed} {mode} {i}")
