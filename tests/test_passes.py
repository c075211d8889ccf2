"""Each pass of ``transform.pipeline.PASSES`` run alone on a small function.

As the converter tests of TensorFlow's AutoGraph do, a test gives one pass the input the
pipeline gives it (the function as it stands after the passes before) and compares the
pass's output, printed as ``ag.source(stage=...)`` prints it, with the text expected.
Each function is chosen so that its pass changes something visible. Also: docs/how-it-works.md's
list of passes is ``STAGES``, in order.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from astgrad.transform import emit, pipeline

import astgrad as ag

FLOAT = ("value", "float")
VECTOR = ("value", "ndarray", 1)  # a parameter named with "[]" in a case's floats


def loop_return(x, n):
    for i in range(n):
        if x > i:
            return x * i
    return x


def one_line(x):
    return np.sum(x * 2.0 + 1.0)


def two_uses(x, c):
    y = np.sin(x)
    z = y * c
    return np.sum(z)


def decay(a):
    for _ in range(3):
        a = a * 0.99 + 0.01 * a * a
    return a


def halving(a):
    # (the user's ``_``: the replayed while loop's variable is then ``__2`` until
    # ``replay_variable`` names it; the range loop's replay binds ``_`` itself)
    for _ in range(2):
        a = a * 0.99
    while a > 0.5:
        a = a * 0.9 + 0.01 * a * a
    return a


def items_read(x, w):
    total = 0.0
    for i in range(3):
        total = total + np.tanh(x[i] * w)
    return np.sum(total)


def mean_square(x):
    return np.mean((x - 1.0) ** 2)


def recurrent(W, h, x, n):
    # (a loop variable of the user's named ``_``, as in ``rnn`` below)
    for _ in range(n):
        h = np.tanh(h @ W + x)
    return np.sum(h)


def rnn(W, h, x, n):
    # A loop variable of the user's named ``_``: the replayed loop's own is then ``__2``
    # whether or not ``builtins._`` exists (a doctest or the REPL sets it), which the
    # namer avoids too, until ``replay_variable`` names it.
    for _ in range(n):
        h = np.tanh(W @ h + x)
    return np.sum(h)


def layer(x, W):
    h = np.tanh(x @ W)
    y = np.exp(h)
    return np.sum(y * h)


def overwrite(x):
    y = np.sin(x)
    y = y * x
    return np.sum(y)


@ag.checkpoint
def cell(h, w):
    return np.tanh(h * w)


def unrolled(h, w):
    h = cell(h, w)
    h = cell(h, w)
    return np.sum(h)


def simulate(x, w):
    for i in range(20):
        x = np.tanh(x * w + 0.1 * i)
    return np.sum(x)


def smooth(x):
    # (The user's own ``_``: the replayed loops' is then ``__2`` either way, as for rnn.)
    y = np.zeros(len(x))
    for _ in range(2):
        for i in range(1, len(x)):
            y[i] = y[i] * 0.5 + x[i] - x[i - 1]
    return np.sum(y * y)


def gp_terms(a, y):
    L = np.linalg.cholesky(np.outer(a, a) + np.eye(len(a)))
    return np.sum(np.log(np.diag(L))) + y @ np.linalg.solve(L.T, np.linalg.solve(L, y))


def shifted(x):
    return np.sum(x[1:] * x[:-1] * x[1:])


def squash(x):
    t = np.tanh(x)
    s = 1 - t * t
    return np.sum(s * x)


#: pass (``pass:variant`` for a second case) -> (function, wrt, parameters that are
#: Python floats[, differentiated with ``checkpoint=True``])
CASES = {
    "desugar": (loop_return, ("x",), ()),
    "normalize": (one_line, ("x",), ()),
    "analyze": (two_uses, ("x",), ()),
    "shapes": (two_uses, ("x",), ()),
    "checkpoint": (unrolled, ("w",), ()),
    "checkpoint:loop": (simulate, ("x", "w"), (), True),
    "reverse": (two_uses, ("x",), ()),
    "remat": (decay, ("a",), ("a",)),
    "remat:items": (items_read, ("w",), ("x[]",)),
    "accumulate": (smooth, ("x",), ("x[]",)),
    "seed": (two_uses, ("x",), ()),
    "reuse": (squash, ("x",), ()),
    "zeros": (two_uses, ("x",), ()),
    "factor": (gp_terms, ("a",), ("a[]", "y[]")),
    "dead_code": (two_uses, ("x",), ()),
    "shape_reads": (mean_square, ("x",), ()),
    "shape_reads:saved": (rnn, ("W",), ()),
    "copies": (layer, ("x",), ()),
    "fuse": (decay, ("a",), ("a",)),
    "step_sums": (recurrent, ("W",), ()),
    "adds_in_place": (shifted, ("x",), ("x[]",)),
    "unread_pushes": (decay, ("a",), ("a",)),
    "temporaries": (decay, ("a",), ("a",)),
    "release": (layer, ("x",), ()),
    "replay_variable": (halving, ("a",), ("a",)),
    "saves": (decay, ("a",), ("a",)),
    "saves:straight": (overwrite, ("x",), ()),
}


def after_pass(name, function, wrt, floats, checkpoint=False):
    """The pass ``name`` run alone on what the passes before it make of ``function``."""
    kinds = {p.removesuffix("[]"): VECTOR if p.endswith("[]") else FLOAT for p in floats}
    value, ctx = pipeline.pass_input(function, wrt, name, param_kinds=kinds, checkpoint=checkpoint)
    before = _shown(name, value, ctx)
    transform = dict(pipeline.PASSES)[name]
    after = pipeline.stage_source(name, transform(value, ctx), ctx)
    assert after != before, f"{name} changed nothing: the case shows nothing"
    return after


def _shown(name, value, ctx):
    names = [n for n, _ in pipeline.PASSES]
    position = names.index(name)
    return pipeline.stage_source(names[position - 1], value, ctx) if position else None


def test_every_pass_has_a_case():
    covered = list(dict.fromkeys(case.split(":")[0] for case in CASES))
    assert covered == [name for name, _ in pipeline.PASSES]


@pytest.mark.parametrize("case", list(CASES))
def test_one_pass(case):
    function, wrt, floats, *checkpoint = CASES[case]
    assert after_pass(case.split(":")[0], function, wrt, floats, *checkpoint) == EXPECTED[case]


def test_readme_lists_the_passes_in_order():
    """docs/how-it-works.md names every stage, as ``STAGES`` does."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "how-it-works.md").read_text()
    section = text.split("- **The passes**", 1)[1].split("\n- **", 1)[0]
    listed = re.findall(r"^  - `(\w+)`", section, flags=re.M)
    assert listed == list(pipeline.STAGES)


EXPECTED = {
    "desugar": """\
def loop_return(x, n):
    result = None
    returned = False
    for i in range(n):
        if x > i:
            result = x * i
            returned = True
            break
    if not returned:
        result = x
        returned = True
    return result
""",
    "normalize": """\
def one_line(x):
    mul = x * 2.0
    add = mul + 1.0
    total = np.sum(add)
    return total
""",
    "analyze": """\
# active names: total, x, y, z
def two_uses(x, c):
    y = np.sin(x)
    z = y * c
    total = np.sum(z)
    return total
""",
    "shapes": """\
# same shape: x, y
def two_uses(x, c):
    y = np.sin(x)
    z = y * c
    total = np.sum(z)
    return total
""",
    "checkpoint": """\
# recomputed in the backward pass: h = cell(h, w); h = cell(h, w)
def unrolled(h, w):
    h = cell(h, w)
    h = cell(h, w)
    total = np.sum(h)
    return total
""",
    "checkpoint:loop": """\
# recomputed in the backward pass: x = simulate_segment(x, w, segment)
def simulate(x, w):
    segments = checkpoint_segments(20)
    for segment in segments:
        x = simulate_segment(x, w, segment)
    total = np.sum(x)
    return total
""",
    "reverse": """\
def two_uses_grad(x, c):
    y = np.sin(x)
    z = y * c
    total = np.sum(z)
    # backward
    dx = 0
    dy = 0
    dz = 0
    dz = dz + expand_reduced(dtotal, z)
    dy = dy + unbroadcast(dz * c, y)
    dx = dx + dy * np.cos(x)
    return dx
""",
    "remat": """\
def decay_grad(a):
    push(_)
    for _ in range(3):
        push(mul)
        mul = a * 0.99
        push(mul_2)
        mul_2 = 0.01 * a
        push(mul_3)
        mul_3 = mul_2 * a
        push(a)
        a = mul + mul_3
    # backward
    dmul = 0
    dmul_2 = 0
    dmul_3 = 0
    for _ in reversed(range(3)):
        dmul = dmul + da
        dmul_3 = dmul_3 + da
        a = pop()
        da = 0
        dmul_2 = dmul_2 + dmul_3 * a
        da = da + dmul_3 * (0.01 * a)
        mul_3 = pop()
        dmul_3 = 0
        da = da + dmul_2 * 0.01
        mul_2 = pop()
        dmul_2 = 0
        da = da + dmul * 0.99
        mul = pop()
        dmul = 0
    _ = pop()
    return da
""",
    "remat:items": """\
def items_read_grad(x, w):
    total = 0.0
    push(i)
    for i in range(3):
        push(x_item)
        x_item = x[i]
        push(mul)
        mul = x_item * w
        push(tanh)
        tanh = np.tanh(mul)
        push(total)
        total = total + tanh
    total_2 = np.sum(total)
    # backward
    dmul = 0
    dtanh = 0
    dtotal = 0
    dw = 0
    dtotal = dtotal + expand_reduced(dtotal_2, total)
    for i in reversed(range(3)):
        dtotal_out = dtotal
        total_out = total
        total = pop()
        dtotal = 0
        dtotal = dtotal + unbroadcast(dtotal_out, total)
        dtanh = dtanh + unbroadcast(dtotal_out, tanh)
        dmul = dmul + dtanh * (1 - tanh * tanh)
        tanh = pop()
        dtanh = 0
        dw = dw + dmul * x[i]
        mul = pop()
        dmul = 0
        x_item = pop()
    i = pop()
    dtotal = 0
    return dw
""",
    "accumulate": """\
def smooth_grad(x):
    len_2 = len(x)
    y = np.zeros(len_2)
    push(_)
    for _ in range(2):
        push(len_3)
        len_3 = len(x)
        push(i)
        for i in range(1, len_3):
            push(y_item)
            y_item = y[i]
            push(mul)
            mul = y_item * 0.5
            push(x_item)
            x_item = x[i]
            push(add)
            add = mul + x_item
            push(sub)
            sub = i - 1
            push(x_item_2)
            x_item_2 = x[sub]
            push(sub_2)
            sub_2 = add - x_item_2
            push(saved_item(y, i))
            y[i] = sub_2
    mul_2 = y * y
    total = np.sum(mul_2)
    # backward
    dadd = 0
    dmul = 0
    dmul_2 = 0
    dsub_2 = 0
    dx = 0
    dx_item = 0
    dx_item_2 = 0
    dy = 0
    dy_item = 0
    dmul_2 = dmul_2 + expand_reduced(dtotal, mul_2)
    dy = dy + dmul_2 * y
    dy = dy + dmul_2 * y
    dx = gradient_buffer(dx, x)
    dy = gradient_buffer(dy, y)
    for _ in reversed(range(2)):
        for i in reversed(range(1, len_3)):
            dy_item_2 = dy[i]
            dy[i] = 0
            dsub_2 = dsub_2 + dy_item_2
            restore_item(y, i, pop())
            dadd = dadd + dsub_2
            dx_item_2 = dx_item_2 + -dsub_2
            sub_2 = pop()
            dsub_2 = 0
            dx[i - 1] = dx[i - 1] + dx_item_2
            x_item_2 = pop()
            dx_item_2 = 0
            sub = pop()
            dmul = dmul + dadd
            dx_item = dx_item + dadd
            add = pop()
            dadd = 0
            dx[i] = dx[i] + dx_item
            x_item = pop()
            dx_item = 0
            dy_item = dy_item + dmul * 0.5
            mul = pop()
            dmul = 0
            dy[i] = dy[i] + dy_item
            y_item = pop()
            dy_item = 0
        i = pop()
        len_3 = pop()
    _ = pop()
    dy = 0
    return dx
""",
    "seed": """\
def two_uses_grad(x, c):
    y = np.sin(x)
    z = y * c
    total = np.sum(z)
    # backward
    dtotal = scalar_seed(total)
    dx = 0
    dy = 0
    dz = 0
    dz = dz + expand_reduced(dtotal, z)
    dy = dy + unbroadcast(dz * c, y)
    dx = dx + dy * np.cos(x)
    return dx
""",
    "reuse": """\
def squash_grad(x):
    t = np.tanh(x)
    mul = t * t
    s = 1 - mul
    mul_2 = s * x
    total = np.sum(mul_2)
    # backward
    dtotal = scalar_seed(total)
    dmul = 0
    dmul_2 = 0
    ds = 0
    dt = 0
    dx = 0
    dmul_2 = dmul_2 + expand_reduced(dtotal, mul_2)
    ds = ds + dmul_2 * x
    dx = dx + dmul_2 * s
    dmul = dmul + -ds
    dt = dt + dmul * t
    dt = dt + dmul * t
    dx = dx + dt * s
    return dx
""",
    "zeros": """\
def two_uses_grad(x, c):
    y = np.sin(x)
    z = y * c
    total = np.sum(z)
    # backward
    dtotal = scalar_seed(total)
    dx = 0
    dy = 0
    dz = 0
    dz = expand_reduced(dtotal, z)
    dy = unbroadcast(dz * c, y)
    dx = dy * np.cos(x)
    return dx
""",
    "factor": """\
def gp_terms_grad(a, y):
    outer = np.outer(a, a)
    len_2 = len(a)
    eye = np.eye(len_2)
    add = outer + eye
    L = np.linalg.cholesky(add)
    diag = np.diag(L)
    log = np.log(diag)
    total = np.sum(log)
    transposed = L.T
    solve = np.linalg.solve(L, y)
    solve_2 = np.linalg.solve(transposed, solve)
    matmul = y @ solve_2
    add_2 = total + matmul
    # backward
    dadd_2 = scalar_seed(add_2)
    dL = 0
    da = 0
    dadd = 0
    ddiag = 0
    dlog = 0
    dmatmul = 0
    douter = 0
    dsolve = 0
    dsolve_2 = 0
    dtotal = 0
    dtransposed = 0
    dtotal = unbroadcast(dadd_2, total)
    dmatmul = dadd_2
    dsolve_2 = matmul_grad_right(dmatmul, y, solve_2)
    gb_2 = solve_adjoint(dsolve_2, transposed, solve, lower=False)
    dsolve = unbroadcast(gb_2, solve)
    gb = solve_adjoint(dsolve, L, y, lower=True)
    dlog = expand_reduced(dtotal, log)
    ddiag = dlog / diag
    dadd = cholesky_factor_grad(L, add, (ddiag,), ((dsolve, solve, y),), ((
        gb_2, solve_2, solve),))
    douter = unbroadcast(dadd, outer)
    da = douter.dot(a)
    da = da + a.dot(douter)
    return da
""",
    "dead_code": """\
def two_uses_grad(x, c):
    y = np.sin(x)
    z = y * c
    total = np.sum(z)
    # backward
    dtotal = scalar_seed(total)
    dz = expand_reduced(dtotal, z)
    dy = unbroadcast(dz * c, y)
    dx = dy * np.cos(x)
    return dx
""",
    "copies": """\
def layer_grad(x, W):
    matmul = x @ W
    h = np.tanh(matmul)
    y = np.exp(h)
    mul = y * h
    total = np.sum(mul)
    # backward
    dtotal = scalar_seed(total)
    dy = dtotal * h
    dh = dtotal * y
    dh = dh + dy * y
    dmatmul = dh * (1 - h * h)
    dx = matmul_grad_left(dmatmul, x, W)
    return dx
""",
    "step_sums": """\
def recurrent_grad(W, h, x, n):
    push(_)
    for _ in range(n):
        push(shaped_like(matmul))
        matmul = h @ W
        push(add)
        add = matmul + x
        push(h)
        h = np.tanh(add)
        push(_)
    push(len(range(n)))
    total = np.sum(h)
    # backward
    matmul_shape = shaped_like(matmul)
    dtotal = scalar_seed(total)
    dh = expand_reduced(dtotal, h)
    dW_steps = StepSum(matmul_grad_right)
    for __2 in range(pop()):
        dadd = dh * (1 - h * h)
        h = pop()
        dmatmul = unbroadcast(dadd, matmul_shape)
        dh = matmul_grad_left(dmatmul, h, W)
        dW_steps.add(dmatmul, h, W)
        matmul_shape = pop()
    dW = dW_steps.total()
    return dW
""",
    "adds_in_place": """\
def shifted_grad(x):
    x_item = x[1:]
    x_item_2 = x[:-1]
    mul = x_item * x_item_2
    x_item_3 = x[1:]
    mul_2 = mul * x_item_3
    total = np.sum(mul_2)
    # backward
    dtotal = scalar_seed(total)
    dmul = dtotal * x_item_3
    dx = scatter_grad(dtotal * mul, x, slice(1, None, None))
    dx = add_scattered(dx, x, slice(None, -1, None), dmul * x_item)
    dx = add_scattered(dx, x, slice(1, None, None), dmul * x_item_2)
    return dx
""",
    "fuse": """\
def decay_grad(a):
    push(_)
    for _ in range(3):
        push(mul)
        mul = a * 0.99
        push(mul_2)
        mul_2 = 0.01 * a
        push(mul_3)
        mul_3 = mul_2 * a
        push(a)
        a = mul + mul_3
    # backward
    da = scalar_seed(a)
    for _ in reversed(range(3)):
        a = pop()
        da = da * (0.02 * a + 0.99)
    return da
""",
    "shape_reads": """\
def mean_square_grad(x):
    sub = x - 1.0
    power = sub ** 2
    mean = np.mean(power)
    # backward
    dmean = scalar_seed(mean)
    dpower = dmean / reduced_count(power)
    dsub = dpower * 2 * sub
    dx = dsub
    return dx
""",
    "shape_reads:saved": """\
def rnn_grad(W, h, x, n):
    push(_)
    for _ in range(n):
        push(shaped_like(matmul))
        matmul = W @ h
        push(add)
        add = matmul + x
        push(h)
        h = np.tanh(add)
        push(_)
    push(len(range(n)))
    total = np.sum(h)
    # backward
    matmul_shape = shaped_like(matmul)
    dtotal = scalar_seed(total)
    dW = 0
    dh = expand_reduced(dtotal, h)
    for __2 in range(pop()):
        dadd = dh * (1 - h * h)
        h = pop()
        dmatmul = unbroadcast(dadd, matmul_shape)
        dW = dW + matmul_grad_left(dmatmul, W, h)
        dh = matmul_grad_right(dmatmul, W, h)
        matmul_shape = pop()
    return dW
""",
    "unread_pushes": """\
def decay_grad(a):
    for _ in range(3):
        mul = a * 0.99
        mul_2 = 0.01 * a
        mul_3 = mul_2 * a
        push(a)
        a = mul + mul_3
    # backward
    da = scalar_seed(a)
    for _ in reversed(range(3)):
        a = pop()
        da = da * (0.02 * a + 0.99)
    return da
""",
    "temporaries": """\
def decay_grad(a):
    for _ in range(3):
        push(a)
        a = a * 0.99 + 0.01 * a * a
    # backward
    da = scalar_seed(a)
    for _ in reversed(range(3)):
        a = pop()
        da = da * (0.02 * a + 0.99)
    return da
""",
    "release": """\
def layer_grad(x, W):
    h = np.tanh(x @ W)
    y = np.exp(h)
    total = np.sum(y * h)
    # backward
    dtotal = scalar_seed(total)
    dy = dtotal * h
    dh = dtotal * y
    dh = dh + dy * y
    del dy, y
    dx = matmul_grad_left(dh * (1 - h * h), x, W)
    return dx
""",
    "replay_variable": """\
def halving_grad(a):
    for _ in range(2):
        a = a * 0.99
    iterations_2 = 0
    while a > 0.5:
        iterations_2 += 1
        push(a)
        a = a * 0.9 + 0.01 * a * a
    push(iterations_2)
    # backward
    da = scalar_seed(a)
    for _ in range(pop()):
        a = pop()
        da = da * (0.02 * a + 0.9)
    for _ in reversed(range(2)):
        da = da * 0.99
    return da
""",
    "saves": """\
def decay_grad(a):
    for _ in range(3):
        push(a)
        a = a * 0.99 + 0.01 * a * a
    # backward
    da = scalar_seed(a)
    for a in pop_run(stack, 3):
        da = da * (0.02 * a + 0.99)
    return da
""",
    "saves:straight": """\
def overwrite_grad(x):
    y = np.sin(x)
    y_old = y
    y = y * x
    total = np.sum(y)
    # backward
    dtotal = scalar_seed(total)
    dy_out = expand_reduced(dtotal, y)
    dy = dy_out * x
    dx = dy_out * y_old
    del dy_out, y_old
    dx = dx + dy * np.cos(x)
    return dx
""",
}


def test_forward_mode_s_tangents_pass():
    """``tangents`` (forward mode's pass after ``shapes``) alone: each tangent beside its
    value, the one that reads the result after it."""
    from astgrad.transform.pipeline import FORWARD_STAGES

    assert FORWARD_STAGES == (
        "parse",
        "desugar",
        "normalize",
        "analyze",
        "shapes",
        "checkpoint",
        "tangents",
        "emit",
    )
    value, ctx = pipeline.pass_input(two_uses, ("x",), "reverse")  # what shapes left
    from astgrad.transform import tangents

    after = emit.to_source(tangents.transform(value, ctx))
    assert after == TANGENTS_EXPECTED


TANGENTS_EXPECTED = """\
def two_uses_jvp(x, c, *, dx):
    y = np.sin(x)
    dy = dx * np.cos(x)
    z = y * c
    dz = spread_tangent(dy * c, z)
    total = np.sum(z)
    dtotal = np.sum(dz)
    return total, tangent_out(dtotal, total)
"""
