"""Checkpointing (issue 19): ``ag.grad(f, checkpoint=True)`` cuts ``range`` loops into
segments recomputed in the backward pass, and ``ag.checkpoint(fn)`` recomputes a call.

Every gradient is compared with the unchecked one (float64, ``np.allclose``) in each mode,
on loops with branches, nested loops, helper calls, early ``break`` and ``return``, loops
whose trip count is an argument, and with ``ag.explain`` saying which loops were cut (so
that a comparison is not of two unchecked gradients). Loops that cannot be snapshotted are
saved ordinarily, with the reason reported; their gradients are right too.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from astgrad.runtime.checkpoint import checkpoint_segments
from astgrad.tools.cli import main
from astgrad.transform import pipeline
from numeric import numeric_vjp

import astgrad as ag

LOG: list = []

# -- programs --------------------------------------------------------------------------------


def helper(a, w):
    return np.sin(a) * w


def scale_pair(a, b):
    return a * b, a + b


def recurrence(x, w):
    h = x
    for i in range(40):
        h = np.tanh(h * w + 0.1 * i)
    return np.sum(h**2)


def branches(x, w):
    h = x
    for i in range(30):
        if i % 3 == 0:
            h = h * w
        elif np.sum(h) > 0:
            h = np.sin(h) + w
        else:
            h = h - 0.1 * w
    return np.sum(h)


def nested(x, w, n):
    h = x
    for _ in range(n):
        for j in range(5):
            h = np.tanh(h * w + 0.01 * j)
        h = h + 0.1 * x
    return np.sum(h)


def helpers(x, w):
    h = x
    c = x * 0.0
    for _ in range(25):
        h = helper(h, w)
        c, d = scale_pair(c, h)
        h = h + 0.01 * d
    return np.sum(h) + np.sum(c)


def early_break(x, w):
    h = x
    acc = 0.0
    for _ in range(50):
        h = helper(h, w) + 0.5
        acc = acc + np.sum(h)
        if acc > 6:
            break
    return np.sum(h**2) + acc


def early_return(x, w):
    h = x
    for _ in range(30):
        h = h * w + 0.1
        if np.max(h) > 5.0:
            return np.sum(h)
    return np.sum(h * h)


def stepped(x, w, n):
    h = x
    total = 0.0
    for k in range(n, 1, -2):
        h = np.cos(h * w) * k
        total = total + np.sum(h) * 0.01
    return total + np.sum(h)


def target_after(x, w):
    h = x
    for i in range(2, 17):
        h = h * w + i
    return np.sum(h) * i


def pass_through(x, w):
    last = x
    h = x
    for i in range(20):
        h = np.sin(h * w)
        if i == 7:
            last = h * 2.0
    return np.sum(h) + np.sum(last)


def scalar(a, b):
    for _ in range(60):
        a = a * 0.99 + 0.01 * a * b
    return a


def tuple_state(x, w):
    state = (x, x * 2.0)
    for _ in range(12):
        p, q = state
        state = (p * w + q * 0.1, q - p * 0.05)
    p, q = state
    return np.sum(p * q)


def comprehension(x, w):
    h = x
    for _ in range(10):
        parts = [h * w**k for k in range(3)]
        h = np.tanh(np.sum(np.stack(parts), axis=0))
    return np.sum(h)


def fresh_array(x, w):
    h = x
    for i in range(12):
        y = np.zeros(3)
        y[i % 3] = 1.0
        h = h * w + y
    return np.sum(h * h)


def no_grad_inside(x, w):
    h = x
    for _ in range(15):
        with ag.no_grad():
            s = np.sum(h)
        h = h * w - 0.01 * s
    return np.sum(h)


def loop_else(x, w):
    h = x
    for _ in range(20):
        h = h * w
        if np.sum(h) > 50:
            break
    else:
        h = h + 1.0
    return np.sum(h)


def two_loops(x, w):
    h = x
    for _ in range(20):
        h = h * w + 0.1
    g = h
    for _ in range(20):
        g = np.sin(g) * w
    return np.sum(g) + np.sum(h)


def in_while(x, w):
    h = x
    k = 0
    while k < 3:
        for _ in range(10):
            h = np.tanh(h * w + k)
        k = k + 1
    return np.sum(h)


def matrix_rnn(W, h, xs):
    for t in range(xs.shape[0]):
        h = np.tanh(h @ W + xs[t])
    return np.sum(h**2)


def _vector(rng, scale=1.0, shift=0.0):
    return rng.normal(size=3) * scale + shift


#: name -> (function, wrt, arguments from a generator, loops expected checkpointed)
PROGRAMS = {
    "recurrence": (recurrence, (0, 1), lambda r: (_vector(r), 0.8), 1),
    "branches": (branches, (0, 1), lambda r: (_vector(r), 0.9), 1),
    "nested": (nested, (0, 1), lambda r: (_vector(r), 0.7, 9), 2),
    "helpers": (helpers, (0, 1), lambda r: (_vector(r), 0.9), 1),
    "early_break": (early_break, (0, 1), lambda r: (_vector(r), 0.7), 1),
    "early_break_never": (early_break, (0, 1), lambda r: (_vector(r, 0.01, -3.0), 0.1), 1),
    "early_return": (early_return, (0, 1), lambda r: (np.abs(_vector(r)), 1.3), 1),
    "early_return_never": (early_return, (0, 1), lambda r: (_vector(r), 0.3), 1),
    "stepped": (stepped, (0, 1), lambda r: (_vector(r), 0.5, 21), 1),
    "stepped_empty": (stepped, (0, 1), lambda r: (_vector(r), 0.5, 1), 1),
    "target_after": (target_after, (0, 1), lambda r: (_vector(r), 0.6), 1),
    "pass_through": (pass_through, (0, 1), lambda r: (_vector(r), 0.6), 1),
    "scalar": (scalar, (0, 1), lambda r: (0.7, 0.4), 1),
    "tuple_state": (tuple_state, (0, 1), lambda r: (_vector(r), 0.6), 1),
    "comprehension": (comprehension, (0, 1), lambda r: (_vector(r), 0.6), 1),
    "fresh_array": (fresh_array, (0, 1), lambda r: (_vector(r), 0.6), 1),
    "no_grad_inside": (no_grad_inside, (0, 1), lambda r: (_vector(r), 0.6), 1),
    "loop_else": (loop_else, (0, 1), lambda r: (_vector(r), 1.1), 1),
    "loop_else_break": (loop_else, (0, 1), lambda r: (np.abs(_vector(r)) + 1, 1.5), 1),
    "two_loops": (two_loops, (0, 1), lambda r: (_vector(r), 0.6), 2),
    "in_while": (in_while, (0, 1), lambda r: (_vector(r), 0.6), 1),
    "matrix_rnn": (
        matrix_rnn,
        (0, 1),
        lambda r: (r.normal(size=(4, 4)) * 0.4, r.normal(size=(2, 4)), r.normal(size=(30, 2, 4))),
        1,
    ),
}


def _close(a, b) -> bool:
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    return len(a) == len(b) and all(np.allclose(x, y, rtol=1e-10, atol=1e-12) for x, y in zip(a, b))


@pytest.mark.parametrize("mode", ["auto", "source"])
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_checkpointed_gradient_is_the_unchecked_one(name, mode):
    function, wrt, make, _ = PROGRAMS[name]
    args = make(np.random.default_rng(0))
    unchecked = ag.value_and_grad(function, wrt=wrt, mode=mode)(*args)
    checked = ag.value_and_grad(function, wrt=wrt, mode=mode, checkpoint=True)(*args)
    assert np.allclose(checked[0], unchecked[0], rtol=1e-12)
    assert _close(checked[1], unchecked[1])
    tape = ag.grad(function, wrt=wrt, mode="tape", checkpoint=True)(*args)
    assert _close(checked[1], tape)


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_the_loops_are_checkpointed(name):
    """What the comparisons above compare is checkpointed: explain reports each loop cut."""
    function, wrt, make, count = PROGRAMS[name]
    report = ag.explain(function, *make(np.random.default_rng(0)), wrt=wrt, checkpoint=True)
    assert report.mode == "source"
    assert sum(note.checkpointed for note in report.checkpoints) == count, str(report)


@pytest.mark.parametrize("name", ["recurrence", "early_break", "nested", "helpers"])
def test_checkpointed_gradient_matches_finite_differences(name):
    function, wrt, make, _ = PROGRAMS[name]
    args = list(make(np.random.default_rng(1)))
    grads = ag.grad(function, wrt=wrt, mode="source", checkpoint=True)(*args)
    for position, grad in zip(wrt, grads):
        expected = numeric_vjp(function, args, position, 1.0)
        assert np.allclose(grad, expected, rtol=1e-5, atol=1e-7)


def test_vjp_with_checkpoint_and_its_pullback_replayed():
    args = PROGRAMS["matrix_rnn"][2](np.random.default_rng(2))
    value, pullback = ag.vjp(matrix_rnn, *args, wrt=(0, 1), checkpoint=True)
    first = pullback(2.0, retain_graph=True)
    second = pullback(2.0)
    expected = ag.grad(matrix_rnn, wrt=(0, 1))(*args)
    assert np.isclose(value, matrix_rnn(*args))
    for a, b, c in zip(first, second, expected):
        assert np.allclose(a, 2.0 * c) and np.allclose(b, 2.0 * c)


def test_the_option_is_in_the_cache_key():
    plain = pipeline.derive(recurrence, ("x",))
    checked = pipeline.derive(recurrence, ("x",), checkpoint=True)
    assert plain is not checked
    assert checked is pipeline.derive(recurrence, ("x",), checkpoint=True)
    assert "checkpoint_segments" in checked.source
    assert "checkpoint_segments" not in plain.source
    assert ag.source(recurrence) != ag.source(recurrence, checkpoint=True)


def test_checkpoint_must_be_a_bool():
    with pytest.raises(TypeError, match="checkpoint must be True or False"):
        ag.grad(recurrence, checkpoint="yes")


# -- the generated source ---------------------------------------------------------------------


def test_source_shows_the_segments_and_their_recomputation():
    shown = ag.source(recurrence, wrt=("x", "w"), checkpoint=True)
    assert "segments = checkpoint_segments(40)" in shown
    assert "h = recurrence_segment(h, w, segment)" in shown
    # (astor wraps long lines: compare without the line breaks)
    assert "recurrence_segment_forward(h, w, segment)[1], dh)" in " ".join(shown.split())
    assert "# grad of: for i in range(40):" in shown
    # the segment function, as the forward pass calls it, then its derivative
    assert "def recurrence_segment(h, w, segment):\n    for i in segment:" in shown
    backward = shown.split("def recurrence_segment_backward")[1]
    assert "# grad of: h = np.tanh(h * w + 0.1 * i)" in backward
    # the forward pass keeps the state once per segment, nothing per iteration
    primal = shown.split("pop = stack.pop")[0]
    assert primal.count("push(") == 3  # h, the segment, the segments' count
    assert ag.source(ag.grad(recurrence, checkpoint=True)) == ag.source(recurrence, checkpoint=True)


def test_source_stage_checkpoint_lists_the_recomputed_calls():
    shown = ag.source(early_break, wrt=("x", "w"), stage="checkpoint", checkpoint=True)
    assert shown.startswith("# recomputed in the backward pass: state = early_break_segment(")
    assert "if stopped:\n            break" in shown


def test_cli_show_checkpoint(capsys):
    assert main(["show", f"{Path(__file__)}:recurrence", "--wrt", "x,w", "--checkpoint"]) == 0
    out = capsys.readouterr().out
    assert "checkpoint_segments(40)" in out and "def recurrence_segment(" in out
    assert main(["show", f"{Path(__file__)}:recurrence", "--checkpoint", "--forward"]) == 2


# -- what is saved ordinarily, and why --------------------------------------------------------


def guarded(v):
    try:
        return np.sin(v)
    except ValueError:
        return v


def noisy(x):
    return x + np.random.normal(size=x.shape) * 0


def writes_carried(x, w):
    y = x * 1.0
    for i in range(10):
        y[i % 3] = y[(i + 1) % 3] * w
    return np.sum(y)


def appends_outer(x, w):
    out = []
    for _ in range(10):
        x = x * w
        out.append(x)
    return np.sum(np.stack(out))


def random_draws(x, w):
    rng = np.random.default_rng(0)
    for _ in range(10):
        x = x * w + rng.normal(size=x.shape) * 0.0
    return np.sum(x)


def prints(x, w):
    for _ in range(10):
        x = x * w
        print(end="")
    return np.sum(x)


def tape_call(x, w):
    for _ in range(10):
        x = guarded(x) * w
    return np.sum(x)


def helper_random(x, w):
    for _ in range(10):
        x = noisy(x) * w
    return np.sum(x)


def global_log(x, w):
    for i in range(10):
        x = x * w
        LOG.append(i)
    return np.sum(x)


def maybe_unbound(x, w, n):
    for i in range(n):
        if i > 2:
            t = x * w
        x = x + 1.0
    return np.sum(x) + np.sum(t)


def over_a_list(x, w):
    for v in [1.0, 2.0, 3.0, 4.0, 5.0]:
        x = x * w + v
    return np.sum(x)


def short(x, w):
    for _ in range(3):
        x = x * w
    return np.sum(x)


def while_loop(x, w):
    while np.sum(x) < 10.0:
        x = x * w + 1.0
    return np.sum(x)


FALLBACKS = {
    "writes_carried": (writes_carried, "writes into `y` in place"),
    "appends_outer": (appends_outer, "grows the list `out`"),
    "random_draws": (random_draws, "calls `.normal()` on an object"),
    "prints": (prints, "for its effects"),
    "tape_call": (tape_call, "calls guarded, which the transform cannot read"),
    "helper_random": (helper_random, "calls np.random.normal, which may not compute the same"),
    "global_log": (global_log, "grows the list `LOG`"),
    "maybe_unbound": (maybe_unbound, "`t` may be unbound when it starts"),
    "over_a_list": (over_a_list, "not a loop over range"),
    "short": (short, "only 3 iterations"),
    "while_loop": (while_loop, "a while loop"),
}


@pytest.mark.parametrize("name", list(FALLBACKS))
def test_a_loop_that_cannot_be_snapshotted_is_saved_ordinarily(name):
    function, reason = FALLBACKS[name]
    args = (np.array([0.3, -0.2, 0.5]), 0.9) + ((8,) if function is maybe_unbound else ())
    report = ag.explain(function, *args, wrt=(0, 1), checkpoint=True)
    assert [note.checkpointed for note in report.checkpoints] == [False], str(report)
    assert reason in report.checkpoints[0].what
    assert reason in str(report)
    assert _close(
        ag.grad(function, wrt=(0, 1), checkpoint=True)(*args),
        ag.grad(function, wrt=(0, 1))(*args),
    )


def test_explain_without_checkpoint_reports_no_loops():
    assert ag.explain(recurrence).checkpoints == ()
    assert len(ag.explain(ag.grad(recurrence, checkpoint=True)).checkpoints) == 1
    text = str(ag.explain(nested, wrt=(0, 1), checkpoint=True))
    assert "checkpointed (about sqrt(n) segments" in text
    assert "nested" in text and "for j in range(5):" in text


# -- ag.checkpoint ----------------------------------------------------------------------------


def cell_fn(h, x, W, U, b):
    z = ag.sigmoid(x @ W + h @ U + b)
    return (1 - z) * h + z * np.tanh(h @ U)


cell = ag.checkpoint(cell_fn)


@ag.checkpoint
def lstm(h, c, x, W):
    g = np.tanh(np.concatenate([h, x], axis=1) @ W)
    c = c * 0.9 + g * 0.1
    return np.tanh(c) * 0.5 + h * 0.5, c


def rnn(W, U, b, h, xs):
    for t in range(xs.shape[0]):
        h = cell(h, xs[t], W, U, b)
    return np.sum(h**2)


def rnn_plain(W, U, b, h, xs):
    for t in range(xs.shape[0]):
        h = cell_fn(h, xs[t], W, U, b)
    return np.sum(h**2)


def lstm_run(W, h, c, xs):
    for t in range(xs.shape[0]):
        h, c = lstm(h, c, xs[t], W)
    return np.sum(h) + np.sum(c**2)


def lstm_plain(W, h, c, xs):
    for t in range(xs.shape[0]):
        h, c = lstm.function(h, c, xs[t], W)
    return np.sum(h) + np.sum(c**2)


def counted_fn(h, w):
    print("cell", end=" ")  # (a global counter would be a change the transform refuses)
    return np.tanh(h * w)


counted = ag.checkpoint(counted_fn)


def counted_run(w, h):
    for _ in range(6):
        h = counted(h, w)
    return np.sum(h)


def _rnn_args(seed=1):
    r = np.random.default_rng(seed)
    W, U, b = r.normal(size=(3, 4)) * 0.5, r.normal(size=(4, 4)) * 0.5, r.normal(size=4)
    return W, U, b, r.normal(size=(2, 4)), r.normal(size=(6, 2, 3))


@pytest.mark.parametrize("mode", ["auto", "source", "tape"])
def test_checkpointed_cell_in_every_mode(mode):
    args = _rnn_args()
    expected = ag.grad(rnn_plain, wrt=(0, 1, 2))(*args)
    assert _close(ag.grad(rnn, wrt=(0, 1, 2), mode=mode)(*args), expected)
    W, U, b, h, xs = args
    W2, c = np.random.default_rng(3).normal(size=(7, 4)) * 0.5, np.ones((2, 4)) * 0.3
    expected = ag.grad(lstm_plain, wrt=(0, 1, 2))(W2, h, c, xs)
    assert _close(ag.grad(lstm_run, wrt=(0, 1, 2), mode=mode)(W2, h, c, xs), expected)


def test_checkpointed_cell_source_saves_inputs_and_recomputes(capsys):
    shown = ag.source(rnn, wrt=("W", "U", "b"))
    primal = shown.split("pop = stack.pop")[0]
    assert "h = cell(h, xs_item, W, U, b)" in primal  # the call as written: no saving
    assert "cell_fn_forward" not in primal and "cell_fn_saved" not in primal
    backward = shown.split("pop = stack.pop")[1].split("def cell_fn_forward")[0]
    joined = " ".join(backward.split())
    assert "= cell_fn_backward( cell_fn_forward(h, xs_item, W, U, b)[1], dh)" in joined
    # a vjp of the whole loop runs the cell once per step forward, once more backward
    h = np.array([0.1, -0.3])
    _, pullback = ag.vjp(counted_run, 0.7, h, mode="source")
    assert capsys.readouterr().out.count("cell") == 6
    grad = pullback()
    assert capsys.readouterr().out.count("cell") == 6
    assert np.isclose(grad, ag.grad(counted_run, mode="tape")(0.7, h))


def test_checkpoint_on_the_tape_records_one_node_and_recomputes(capsys):
    W, U, b, h, xs = _rnn_args()
    Wt = ag.tensor(W, requires_grad=True)
    out = cell(ag.tensor(h), ag.tensor(xs[0]), Wt, ag.tensor(U), ag.tensor(b))
    assert out.grad_fn.name() == "CheckpointBackward"
    (out * out).sum().backward()
    w = ag.tensor(0.7, requires_grad=True)
    y = counted(ag.tensor([0.1, -0.3]), w)
    assert capsys.readouterr().out.count("cell") == 1
    y.sum().backward()
    assert capsys.readouterr().out.count("cell") == 1  # run again, on the tape
    h0 = np.array([0.1, -0.3])
    assert np.isclose(w.grad.item(), np.sum((1 - np.tanh(0.7 * h0) ** 2) * h0))
    expected = ag.grad(lambda w: np.sum(cell_fn(h, xs[0], w, U, b) ** 2), mode="tape")(W)
    assert np.allclose(Wt.grad.numpy(), expected)
    with ag.no_grad():
        assert cell(ag.tensor(h), ag.tensor(xs[0]), Wt, ag.tensor(U), ag.tensor(b)).grad_fn is None
    assert isinstance(cell(h, xs[0], W, U, b), np.ndarray)  # plain arrays: a plain call


def fills(buffer, v):
    buffer[0] = v
    return buffer * 2.0


filling = ag.checkpoint(fills)


def uses_filling(x):
    buffer = np.zeros(2)
    y = filling(buffer, x)
    return np.sum(y)


def test_a_checkpointed_function_that_changes_its_argument_is_refused():
    with pytest.raises(ag.TransformError, match="changes its argument `buffer` in place"):
        ag.grad(uses_filling, mode="source")(1.5)
    with pytest.raises(RuntimeError, match="changed its array argument #0 in place"):
        filling(np.zeros(2), ag.tensor(1.5, requires_grad=True))


def test_checkpoint_wraps_callables_only():
    with pytest.raises(TypeError, match="takes a function"):
        ag.checkpoint(3)
    assert ag.checkpoint(cell).function is cell_fn
    assert "cell_fn" in repr(cell)


# -- the plan and the memory ------------------------------------------------------------------


@pytest.mark.parametrize("args", [(0,), (1,), (7,), (100,), (2000,), (5, 50, 3), (40, 0, -1)])
def test_segments_cover_the_range_in_about_sqrt_n(args):
    trips = range(*args)
    segments = checkpoint_segments(*args)
    assert [i for s in segments for i in s] == list(trips)
    if trips:
        stride = len(segments[0])
        assert stride * stride >= len(trips) > (stride - 1) * (stride - 1)
        assert all(len(s) == stride for s in segments[:-1]) and len(segments[-1]) >= 1


def long_loop(x, w, steps):
    for _ in range(steps):
        x = np.tanh(x * w + 0.01)
    return np.sum(x)


def test_a_long_loop_keeps_about_sqrt_n_states():
    """Memory, not time: the peak of one checkpointed gradient call of 400 steps over a
    state of 2,000 floats is a small part of the unchecked one (benchmarks/checkpoint.py
    measures the issue's targets)."""
    x = np.linspace(-1.0, 1.0, 2000)
    peaks = []
    for checkpoint in (False, True):
        gradient = ag.grad(long_loop, wrt=(0, 1), checkpoint=checkpoint)
        gradient(x, 0.9, 400)
        tracemalloc.start()
        gradient(x, 0.9, 400)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 0.2 * peaks[0], peaks


# -- the docs' example and examples/long_simulation.py --------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def test_readme_example_shows_the_source_it_generates(tmp_path):
    """The example of docs/checkpointing.md runs from a file, and every line of the excerpt
    it shows (but the ``...``) is in the source it prints, in order."""
    section = (ROOT / "docs" / "checkpointing.md").read_text().split("# Checkpointing\n", 1)[1]
    blocks = re.split(r"```(?:python|text)\n", section)
    code, shown = blocks[1].split("```", 1)[0], blocks[2].split("```", 1)[0]
    script = tmp_path / "readme_checkpoint.py"
    script.write_text(code)
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    printed = run.stdout.splitlines()
    position = 0
    for line in shown.splitlines():
        if line.strip() in ("...", ""):
            continue
        position = printed.index(line, position) + 1  # (ValueError: not shown, or not in order)


def test_long_simulation_example_makes_its_point():
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "long_simulation.py")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "checkpointed (about sqrt(n) segments" in out
    ratios = [float(r) for r in re.findall(r"MB\s+([\d.]+)%$", out, re.M)]
    assert len(ratios) == 4 and ratios[-1] < 10.0 and ratios == sorted(ratios, reverse=True)
    assert "(agrees: True)" in out


def test_benchmark_runs_quick():
    """A smoke test of ``benchmarks/checkpoint.py --quick`` (figures in docs/checkpointing.md)."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "checkpoint.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith(("| simulation", "| RNN"))]
    assert len(rows) == 2, run.stdout


def test_docstring_examples_run():
    import doctest

    from astgrad.runtime import checkpoint as runtime_checkpoint

    result = doctest.testmod(runtime_checkpoint, optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed


# -- a checkpointed function run again on the tape must compute the same -----------------------

_GENERATOR = np.random.default_rng(0)
_CALLS: list = []
_SCALE = [1.0]


@ag.checkpoint
def _dropout_like(x):
    return x * (np.random.uniform(size=x.shape) > 0.3) * np.random.normal(size=x.shape)


@ag.checkpoint
def _draws_from_a_generator(x):
    return x * _GENERATOR.normal(size=x.shape)


@ag.checkpoint
def _counts_its_calls(x):
    _CALLS.append(1)
    return x * len(_CALLS)


@ag.checkpoint
def _reads_a_scale(x):
    return x * _SCALE[0]


def _with_dropout(x):
    np.random.seed(3)
    return np.sum(_dropout_like(x) * x)


def _with_a_generator(x):
    return np.sum(_draws_from_a_generator(x) * x)


def _counting(x):
    _CALLS.clear()
    return np.sum(_counts_its_calls(x) * x)


def _scale_changed_after(x):
    _SCALE[0] = 1.0
    y = _reads_a_scale(x)
    _SCALE[0] = 3.0
    return np.sum(y * x)


@pytest.mark.parametrize("mode", ["tape", "auto"])
def test_np_random_draws_are_the_same_when_run_again_on_the_tape(mode):
    # (NumPy's global random state is put back for the second run, as torch's
    # preserve_rng_state: the gradient is that of the draws the forward pass made)
    x = np.array([0.3, -0.5, 0.7, 1.1, -0.2])
    np.random.seed(3)
    mask = np.random.uniform(size=5) > 0.3
    noise = np.random.normal(size=5)
    state = np.random.get_state()
    got = ag.grad(_with_dropout, mode=mode)(x)
    np.testing.assert_allclose(got, 2 * x * mask * noise, rtol=1e-12)
    after = np.random.get_state()  # (and the state after the call is where the draws left it)
    np.testing.assert_array_equal(after[1], state[1])


@pytest.mark.parametrize("mode", ["tape", "auto"])
@pytest.mark.parametrize("function", [_with_a_generator, _counting, _scale_changed_after])
def test_a_function_that_computes_otherwise_when_run_again_is_an_error(function, mode):
    # (each gave a silently wrong gradient: the backward pass differentiated the second run)
    with pytest.raises(RuntimeError, match="computed something else than in the forward pass"):
        ag.grad(function, mode=mode)(np.array([0.3, -0.5, 0.7]))
    with pytest.raises(ag.TransformError):
        ag.grad(function, mode="source")(np.array([0.3, -0.5, 0.7]))
