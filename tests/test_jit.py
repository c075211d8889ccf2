"""``jit="numba"``: generated gradients compiled with Numba (astgrad/jit.py).

Programs of the control-flow and scalar random-program tables that fit Numba, in jit
mode, against the uncompiled gradient and central finite differences, each checked to
have been compiled; programs that do not fit run uncompiled with a reason naming the
line; the errors for a missing Numba and an unknown jit; compilation once per argument
types; the README section's blocks. Each compilation takes a second or more, so the
tables are represented by a subset that covers each construct (branches, range loops
with data-dependent counts, while loops, break, index loops, assignment into arrays,
callees) rather than run whole.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

import programs_control as control  # noqa: E402
from modules import write_module  # noqa: E402
from numeric import assert_close, numeric_vjp  # noqa: E402
from random_scalar_programs import generate  # noqa: E402

import astgrad as ag  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: control-flow programs that fit Numba (one per construct)
FITTING = [
    "branch_scalar_float",
    "loop_recurrence",
    "loop_over_len",
    "loop_nested_dependent_bounds",
    "loop_branch_on_data",
    "loop_data_count",
    "while_newton_sqrt",
    "while_data_condition",
    "break_on_data",
    "setitem_in_loop",
    # assignment at a mask and at an index vector (zero_at, scatter_grad, add_in_place)
    "setitem_mask",
    "setitem_integer_array",
    "physics_springs",
    "ode_while",
    # reductions over axes with keepdims (np.max's gradient among them), ag.no_grad,
    # ag.stop_gradient: helpers of runtime/jit_helpers.py, or forms the rewrite changes
    "attention",
    "layer_norm",
    "no_grad_block",
    "stop_gradient_expression",
    # a gradient set to 0 ("nothing flowed") and elsewhere to arrays: a flag stands for 0
    "loop_augmented_assign",
    "return_inside_while",
    "rnn",
]
#: random scalar programs that fit (0, 7 and 10 call helpers: compiled callees; 5 in a
#: loop, its saved tuples kept in a list of their own)
SCALAR_SEEDS = [0, 3, 5, 7, 10]


def _programs(names):
    table = {}
    for program in control.PROGRAMS:
        if program.name in names and program.name not in table:
            table[program.name] = program
    return [table[name] for name in names]


def _flat(value):
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flat(v)]
    return [value]


def _numeric(function, args, positions):
    values = [np.asarray(a, dtype=float) if isinstance(a, np.ndarray) else a for a in args]
    return [numeric_vjp(function, list(values), p, 1.0) for p in positions]


@pytest.mark.parametrize("program", _programs(FITTING), ids=lambda p: p.name)
def test_fitting_programs_compile_and_match(program):
    rng = np.random.default_rng(7)
    args = program.make_args(rng)
    compiled = ag.value_and_grad(program.function, wrt=program.wrt, jit="numba")
    plain = ag.value_and_grad(program.function, wrt=program.wrt)
    want_value, want = plain(*args)
    for attempt in range(2):  # the first call compiles (and probes); the second runs compiled
        value, got = compiled(*args)
        assert_close(value, want_value, rtol=1e-12, atol=1e-12, what=f"value, call {attempt}")
        for g, w in zip(_flat(got), _flat(want)):
            assert type(g) is type(w)
            assert_close(g, w, rtol=1e-10, atol=1e-12, what=f"gradient, call {attempt}")
    wrt = program.wrt if isinstance(program.wrt, tuple) else (program.wrt,)
    reference = _numeric(program.function, args, wrt)
    for g, r in zip(_flat(got), reference):
        assert_close(g, r, rtol=program.rtol, atol=program.atol, what="finite differences")
    report = ag.explain(program.function, *args, wrt=program.wrt, jit="numba")
    assert report.compiled, str(report)
    assert report.seconds > 0 and "compiled with Numba" in str(report)


@pytest.fixture(scope="module")
def scalar_module(tmp_path_factory):
    directory = tmp_path_factory.mktemp("jit_scalar_programs")
    loaded = {}

    def load(seed):
        if seed not in loaded:
            loaded[seed] = write_module(directory, f"jit_scalar_program_{seed}", generate(seed))
        return loaded[seed]

    yield load
    for seed in loaded:
        sys.modules.pop(f"jit_scalar_program_{seed}", None)


@pytest.mark.parametrize("seed", SCALAR_SEEDS)
def test_random_scalar_programs_compile_and_match(seed, scalar_module):
    program = scalar_module(seed).program
    a, b = 0.31, -0.42
    compiled = ag.value_and_grad(program, wrt=(0, 1), jit="numba")
    want_value, want = ag.value_and_grad(program, wrt=(0, 1))(a, b)
    for _ in range(2):
        value, got = compiled(a, b)
        assert value == pytest.approx(want_value, rel=1e-12, abs=1e-12)
        assert all(type(g) is float for g in got)
        assert got == pytest.approx(want, rel=1e-10, abs=1e-12)
    reference = _numeric(program, (a, b), (0, 1))
    assert list(got) == pytest.approx(reference, rel=1e-5, abs=1e-7)
    report = ag.explain(program, a, b, wrt=(0, 1), jit="numba")
    assert report.compiled, f"{report}\n{generate(seed)}"


def heat(u0, k, steps):
    u = u0.copy()
    n = u.shape[0]
    for _ in range(steps):
        new = u.copy()
        for i in range(1, n - 1):
            new[i] = u[i] + k * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u = new
    return np.sum(u * u)


def pair_energy(pos):
    n = pos.shape[0]
    e = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            dx = pos[i, 0] - pos[j, 0]
            dy = pos[i, 1] - pos[j, 1]
            r2 = dx * dx + dy * dy
            e = e + 1.0 / r2 - 1.0 / (r2 * r2)
    return e


def test_index_loops_change_gradients_in_place_and_match():
    """Element reads and writes in loops: their gradients are gathered in place (a flag
    says when the array is the code's own), and match the uncompiled ones."""
    u0 = np.sin(np.linspace(0.0, 3.0, 12))
    for function, args, wrt in [
        (heat, (u0, 0.2, 6), 0),
        (heat, (u0, 0.2, 6), 1),
        (pair_energy, (np.random.default_rng(1).uniform(0, 3, (6, 2)),), 0),
    ]:
        compiled = ag.grad(function, wrt=wrt, jit="numba")
        want = ag.grad(function, wrt=wrt)(*args)
        got = compiled(*args)
        assert_close(got, want, rtol=1e-10, atol=1e-12)
        assert_close(got, _numeric(function, args, (wrt,))[0], rtol=1e-5, atol=1e-7)
        assert ag.explain(function, *args, wrt=wrt, jit="numba").compiled
    # (the inputs were not changed in place)
    assert_close(u0, np.sin(np.linspace(0.0, 3.0, 12)))


def strided_sweeps(x, k):
    n = x.shape[0]
    total = 0.0
    for i in range(n - 1, 0, -2):  # a start read from a name, a negative step
        for j in range(i, n):
            total = total + k * x[i] * x[j] * (j - i + 1)
    y = x.copy()
    for i in range(1, n):
        y[i] = y[i - 1] * k + y[i]
    for i in range(n):  # a break: its counter is saved, not recomputed
        if total > 1e6:
            break
        total = total + np.sin(y[i] * i)
    return total


def test_loop_counters_are_recomputed_and_sums_go_in_place():
    """Range loops' counters are counted down in the backward pass instead of saved, a
    function saving only numbers and arrays of known kinds keeps a stack per kind (no
    tags), and a sum into an array of the code's own goes into it: same gradients."""
    x = np.random.default_rng(4).uniform(-1.0, 1.0, 7)
    for wrt in (0, 1):
        compiled = ag.value_and_grad(strided_sweeps, wrt=wrt, jit="numba")
        want_value, want = ag.value_and_grad(strided_sweeps, wrt=wrt)(x, 0.7)
        for _ in range(2):
            value, got = compiled(x, 0.7)
            assert_close(value, want_value, rtol=1e-12, atol=1e-12)
            assert_close(got, want, rtol=1e-10, atol=1e-12)
        numeric = _numeric(strided_sweeps, (x, 0.7), (wrt,))[0]
        assert_close(got, numeric, rtol=1e-5, atol=1e-7)
    report = ag.explain(strided_sweeps, x, 0.7, jit="numba")
    assert report.compiled, str(report)
    assert report.source.count("next_i") >= 2 and "next_j" in report.source, report.source
    # (the push before the break never ran in the first call, so its kind is not known:
    # it goes through the helper that tags what it saves, and so does everything else)
    assert "jit_tags" in report.source
    for u0 in (np.sin(np.linspace(0.0, 3.0, 12)), np.zeros(3)):
        report = ag.explain(heat, u0, 0.2, 6, jit="numba")
        assert "du += dnew" in report.source, report.source
        # (the arrays saved each step are read back only for their shapes: the shapes
        # are saved instead, as numbers, so no array is)
        assert "jit_tags" not in report.source and "jit_lists[0]" not in report.source
        assert "u_shape" in report.source and "new_shape" in report.source
        # (without tags, the return still checks that every stack was emptied)
        assert "if jit_number_count != 0:" in report.source
        # (dnew keeps du's array where the flag says it is the code's alone, and the
        # new du takes the last step's dead dnew from the spare)
        assert "jit_buffer_from(dnew, new_shape" in report.source, report.source
        assert re.search(r"jit_spare_\d+ = dnew", report.source), report.source
        assert_close(ag.grad(heat, jit="numba")(u0, 0.2, 6), ag.grad(heat)(u0, 0.2, 6), rtol=1e-10)


def test_larger_calls_than_the_first_grow_the_saved_values_buffers():
    program = _programs(["loop_data_count"])[0]
    compiled = ag.grad(program.function, jit="numba")
    x = np.array([0.3, -0.2, 0.5])
    for n in (2, 40, 300):  # the first call sizes the buffers; the later ones outgrow them
        got = compiled(x, n)
        assert_close(got, ag.grad(program.function)(x, n), rtol=1e-10, atol=1e-12)


def gram_energy(X):
    G = np.einsum("ij,kj->ik", X, X)
    return np.sum(G * G)


def test_a_program_that_does_not_fit_runs_uncompiled_naming_the_line():
    args = (np.random.default_rng(0).standard_normal((3, 2)),)
    compiled = ag.grad(gram_energy, jit="numba")
    assert_close(compiled(*args), ag.grad(gram_energy)(*args))
    report = ag.explain(gram_energy, *args, jit="numba")
    assert not report.compiled
    line = gram_energy.__code__.co_firstlineno + 1
    assert f"test_jit.py:{line}" in report.reason, report.reason
    assert "np.einsum(" in str(report)


def test_arguments_numba_does_not_take_run_uncompiled_saying_why():
    params = {"W": np.ones((3, 2)), "b": np.ones(2)}
    x = np.ones((4, 3))
    got = ag.grad(control.dict_argument, jit="numba")(params, x)
    want = ag.grad(control.dict_argument)(params, x)
    assert got.keys() == want.keys() and all(np.allclose(got[k], want[k]) for k in got)
    report = ag.explain(control.dict_argument, params, x, jit="numba")
    assert not report.compiled and "argument 1 is a dict" in report.reason, report.reason
    named = ag.explain(scaled_by_names, np.ones(2), ["a", 1.0], jit="numba")
    assert not named.compiled and "argument 2 is a list of float, str" in named.reason


def scaled_by_names(x, names):
    return np.sum(x * x) * len(names)


def _container_numeric(function, args, position):
    """Finite differences for each item of a list or tuple argument."""
    container = args[position]
    parts = []
    for k in range(len(container)):

        def of_item(item, k=k):
            items = list(container)
            items[k] = item
            changed = list(args)
            changed[position] = type(container)(items)
            return function(*changed)

        parts.append(numeric_vjp(of_item, [np.asarray(container[k], dtype=float)], 0, 1.0))
    return parts


@pytest.mark.parametrize(
    "program",
    [
        p
        for p in control.PROGRAMS
        if p.name
        in (
            "loop_list_argument",
            "wrt_list",
            "wrt_tuple",
            "loop_zip",
            "loop_enumerate",
            "loop_enumerate_start",
            "loop_enumerate_zip",
        )
    ],
    ids=lambda p: p.name,
)
def test_list_and_tuple_arguments_compile_and_match(program):
    """A list or tuple of arrays reaches the compiled gradient as a tuple; its gradient
    comes back as the uncompiled one does (a list for a list, a tuple for a tuple); loops
    over ``zip`` and ``enumerate`` of them compile too."""
    args = program.make_args(np.random.default_rng(5))
    compiled = ag.value_and_grad(program.function, wrt=program.wrt, jit="numba")
    want_value, want = ag.value_and_grad(program.function, wrt=program.wrt)(*args)
    for _ in range(2):
        value, got = compiled(*args)
        assert_close(value, want_value, rtol=1e-12, atol=1e-12)
        assert type(got) is type(want)
        for g, w in zip(_flat(got), _flat(want)):
            assert type(g) is type(w)
            assert_close(g, w, rtol=1e-10, atol=1e-12)
    wrt = program.wrt if isinstance(program.wrt, tuple) else (program.wrt,)
    parts = got if isinstance(program.wrt, tuple) else (got,)
    for position, part in zip(wrt, parts):
        if isinstance(args[position], (list, tuple)):
            assert type(part) is type(args[position])
            reference = _container_numeric(program.function, args, position)
        else:
            reference = _numeric(program.function, args, (position,))
        for g, r in zip(_flat(part), _flat(reference)):
            assert_close(g, r, rtol=1e-5, atol=1e-7, what="finite differences")
    report = ag.explain(program.function, *args, wrt=program.wrt, jit="numba")
    assert report.compiled, str(report)


def reductions_over_axes(X):
    a = np.sum(X, axis=(0, 2))
    b = X.max(axis=1)
    c = np.min(X, axis=-1, keepdims=True)
    d = np.prod(X, axis=(0, 2), keepdims=True) + np.prod(X[0], 1) + np.prod(X[1])
    e = np.mean(X, 1)
    f = np.amax(X * X, axis=(1, 2), keepdims=True)
    return np.sum(a * a) + np.sum(b**2) + np.sum(c * X) + np.sum(d) + np.sum(np.sin(e)) + np.sum(f)


def test_reductions_over_axes_compile_and_match():
    """Every spelling of a reduction over axes Numba lacks (NumPy's and the method,
    positional and keyword axis, tuples of axes, keepdims) runs compiled helpers."""
    X = np.random.default_rng(2).standard_normal((2, 3, 4))
    compiled = ag.value_and_grad(reductions_over_axes, jit="numba")
    want_value, want = ag.value_and_grad(reductions_over_axes)(X)
    for _ in range(2):
        value, got = compiled(X)
        assert_close(value, want_value, rtol=1e-12, atol=1e-12)
        assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert_close(got, _numeric(reductions_over_axes, (X,), (0,))[0], rtol=1e-5, atol=1e-7)
    assert ag.explain(reductions_over_axes, X, jit="numba").compiled
    # Ties (where finite differences mean nothing): shared equally, as uncompiled.
    tied = X.copy()
    tied[:, 1, :] = tied[:, 0, :] = 3.0
    tied[0, 2, 1] = tied[0, 2, 3] = -3.0
    assert_close(compiled(tied)[1], ag.grad(reductions_over_axes)(tied), rtol=1e-10, atol=1e-12)
    # A zero among the factors of a product: the product of the others, exactly.
    zeroed = X.copy()
    zeroed[0, 1, 2] = 0.0
    assert_close(compiled(zeroed)[1], ag.grad(reductions_over_axes)(zeroed), rtol=1e-10)


def test_explain_without_arguments_asks_for_them():
    report = ag.explain(control.loop_recurrence, jit="numba")
    assert not report.compiled and "example arguments" in report.reason


def test_compiled_once_per_argument_types_and_logged(caplog):
    def f(x):
        total = 0.0
        for i in range(x.shape[0]):
            total = total + x[i] * x[i] * (i + 1)
        return total

    g = ag.grad(f, jit="numba")
    with caplog.at_level(logging.INFO, logger="astgrad"):
        for x in (np.arange(3.0), np.arange(5.0), np.arange(4.0, dtype=np.float32)):
            got = g(x)
            assert got.dtype == x.dtype
            assert_close(got, 2 * x * (np.arange(x.size) + 1), rtol=1e-6)
    lines = [r.getMessage() for r in caplog.records if "compiled the gradient" in r.getMessage()]
    assert len(lines) == 2, lines  # float64 arrays once (two calls), float32 arrays once
    assert "array(float64, 1d, C)" in lines[0] and "array(float32, 1d, C)" in lines[1]


def test_unknown_jit_and_modes_it_does_not_take_are_errors():
    with pytest.raises(ValueError, match="jit must be None or 'numba'"):
        ag.grad(control.loop_recurrence, jit="jax")
    with pytest.raises(ValueError, match='mode="tape"'):
        ag.grad(control.loop_recurrence, jit="numba", mode="tape")
    with pytest.raises(ValueError, match="jit must be None or 'numba'"):
        ag.explain(control.loop_recurrence, 0.3, jit="llvm")


def test_without_numba_jit_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError
    with pytest.raises(ImportError, match=re.escape("pip install astgrad[jit]")):
        ag.grad(control.loop_recurrence, jit="numba")
    with pytest.raises(ImportError, match=re.escape("pip install astgrad[jit]")):
        ag.value_and_grad(control.loop_recurrence, jit="numba")


def _readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Compiling gradients with Numba")
    end = text.index("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.DOTALL)


def test_readme_section_runs(tmp_path):
    blocks = _readme_blocks()
    assert blocks
    # Written to a module first: astgrad reads the source of the functions it defines.
    source = "import numpy as np\nimport astgrad as ag\n\n" + "\n".join(blocks)
    module = write_module(tmp_path, "jit_readme_blocks", source)
    try:
        assert module.report.compiled, str(module.report)
        assert not module.refused.compiled and "einsum" in module.refused.reason
    finally:
        sys.modules.pop("jit_readme_blocks", None)


# -- the whole tables (ASTGRAD_JIT_TABLES=1: about ten minutes of compiling) -----------

WHOLE_TABLES = pytest.mark.skipif(
    not os.environ.get("ASTGRAD_JIT_TABLES"),
    reason="compiles every program of the tables: set ASTGRAD_JIT_TABLES=1",
)


@WHOLE_TABLES
@pytest.mark.slow
@pytest.mark.parametrize(
    "program",
    [p for p in control.PROGRAMS if "static" in p.tags],
    ids=lambda p: p.name,
)
def test_every_control_program_matches_in_jit_mode(program):
    """Compiled or not, a jit gradient is the uncompiled one; one that does not compile
    says why."""
    args = program.make_args(np.random.default_rng(3))
    want_value, want = ag.value_and_grad(program.function, wrt=program.wrt)(*args)
    compiled = ag.value_and_grad(program.function, wrt=program.wrt, jit="numba")
    for _ in range(2):  # (the first call probes, uncompiled; the second runs compiled)
        value, got = compiled(*args)
        assert_close(value, want_value, rtol=1e-12, atol=1e-12)
        for g, w in zip(_flat_all(got), _flat_all(want), strict=True):
            assert_close(g, w, rtol=1e-10, atol=1e-12)
    report = ag.explain(program.function, *args, wrt=program.wrt, jit="numba")
    assert report.compiled or report.reason, str(report)


@WHOLE_TABLES
@pytest.mark.slow
@pytest.mark.parametrize("seed", range(80))
def test_every_random_scalar_program_matches_in_jit_mode(seed, scalar_module):
    program = scalar_module(seed).program
    want_value, want = ag.value_and_grad(program, wrt=(0, 1))(0.31, -0.42)
    compiled = ag.value_and_grad(program, wrt=(0, 1), jit="numba")
    for _ in range(2):  # (the first call probes, uncompiled; the second runs compiled)
        value, got = compiled(0.31, -0.42)
        assert value == pytest.approx(want_value, rel=1e-12, abs=1e-12)
        assert got == pytest.approx(want, rel=1e-10, abs=1e-12)


def _flat_all(value):
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flat_all(v)]
    if isinstance(value, dict):
        return [x for k in sorted(value) for x in _flat_all(value[k])]
    return [value]
