"""Generated gradients on Dask arrays (issue 20): they come back lazy, building them computes
nothing, one ``dask.compute`` computes the value and every gradient together, and they equal
the gradients of the same data as NumPy arrays (which are checked against finite
differences here too). What Dask cannot do lazily raises, naming the user's line.

Laziness is counted, not assumed: a scheduler that counts its calls stands in for Dask's,
so a hidden ``float()`` or ``np.asarray`` of a lazy value anywhere shows up as a compute.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

import astgrad as ag  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ROWS, FEATURES, CHUNK = 40, 5, 10


class CountingScheduler:
    """Dask's synchronous scheduler, counting how often it is asked to compute."""

    def __init__(self) -> None:
        self.computes = 0

    def __call__(self, graph, keys, **kwargs):
        self.computes += 1
        return dask.get(graph, keys, **kwargs)


@pytest.fixture
def data():
    rng = np.random.default_rng(20)
    x = rng.normal(size=(ROWS, FEATURES))
    y = (rng.random(ROWS) > 0.5).astype(np.float64)
    return x, y


def chunked(array):
    """``array`` as a Dask array chunked by rows."""
    return da.from_array(array, chunks=(CHUNK,) + np.shape(array)[1:])


def lazily(f, args, wrt, mode="auto"):
    """``ag.value_and_grad(f, wrt=wrt, mode=mode)(*args)`` with a counting scheduler:
    nothing may be computed while the gradient is built, and everything in one compute
    afterwards. Returns the computed value and gradients."""
    counter = CountingScheduler()
    with dask.config.set(scheduler=counter):
        value, grads = ag.value_and_grad(f, wrt=wrt, mode=mode)(*args)
        assert counter.computes == 0, "building the gradient computed something"
        single = not isinstance(wrt, tuple)
        for each in (value, *([grads] if single else grads)):
            assert isinstance(each, da.Array), f"{type(each).__name__}, not a Dask array"
        value, grads = dask.compute(value, grads)
        assert counter.computes == 1
    return value, grads


def check_against_numpy(f, dask_args, numpy_args, wrt, fd=(), mode="auto"):
    """The lazy value and gradients equal NumPy's of the same data; NumPy's gradients at
    the positions ``fd`` equal finite differences."""
    value, grads = lazily(f, dask_args, wrt, mode)
    expected_value, expected = ag.value_and_grad(f, wrt=wrt)(*numpy_args)
    assert_close(value, expected_value, what="value")
    for position, got, want in zip(wrt, grads, expected):
        assert_close(got, want, rtol=1e-10, atol=1e-12, what=f"gradient {position}")
        if position in fd:
            numeric = numeric_vjp(f, list(numpy_args), position, 1.0)
            assert_close(want, numeric, rtol=1e-5, atol=1e-7, what=f"numeric {position}")
    return grads


# -- the models of the issue -----------------------------------------------------------------


def logistic_l2(w, b, x, y, lam):
    p = 1 / (1 + np.exp(-(x @ w + b)))
    data_term = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return data_term + lam * np.sum(w * w)


def test_logistic_regression_with_l2(data):
    x, y = data
    w = np.linspace(-0.3, 0.3, FEATURES)
    grads = check_against_numpy(
        logistic_l2,
        (w, 0.1, chunked(x), chunked(y), 0.01),
        (w, 0.1, x, y, 0.01),
        wrt=(0, 1, 4),
        fd=(0, 1, 4),
    )
    # A Python float's gradient is a 0-d Dask array until computed (float() would compute).
    assert np.shape(grads[1]) == () and np.shape(grads[2]) == ()


def test_a_python_float_under_wrt_is_not_computed_while_building(data):
    x, y = data
    counter = CountingScheduler()
    with dask.config.set(scheduler=counter):
        dlam = ag.grad(logistic_l2, wrt="lam")(np.zeros(FEATURES) + 0.2, 0.0, chunked(x), y, 0.5)
        assert counter.computes == 0
        assert isinstance(dlam, da.Array) and dlam.shape == () and dlam.dtype == np.float64
        assert_close(dlam.compute(), FEATURES * 0.2**2)


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_parameters_as_dask_arrays_and_data_as_numpy(data, mode):
    x, y = data
    w = np.linspace(-0.3, 0.3, FEATURES)
    counter = CountingScheduler()
    with dask.config.set(scheduler=counter):
        gradient = ag.grad(logistic_l2, wrt=(0, 1), mode=mode)
        dw, db = gradient(da.from_array(w, chunks=2), da.asarray(0.1), x, y, 0.01)
        assert counter.computes == 0
        assert isinstance(dw, da.Array) and isinstance(db, da.Array)
        dw, db = dask.compute(dw, db)
    expected = ag.grad(logistic_l2, wrt=(0, 1))(w, np.float64(0.1), x, y, 0.01)
    assert_close(dw, expected[0], rtol=1e-10)
    assert_close(db, expected[1], rtol=1e-10)


def mlp(w1, b1, w2, b2, x, y):
    hidden = np.tanh(x @ w1 + b1)
    out = hidden @ w2 + b2
    return np.mean((out[:, 0] - y) ** 2)


@pytest.mark.parametrize("dask_parameters", [False, True], ids=["numpy-params", "dask-params"])
def test_two_layer_mlp(data, dask_parameters):
    x, y = data
    rng = np.random.default_rng(1)
    params = (
        rng.normal(size=(FEATURES, 7)) * 0.5,
        rng.normal(size=7) * 0.1,
        rng.normal(size=(7, 1)) * 0.5,
        np.array([0.2]),
    )
    lazy_params = tuple(da.from_array(p) for p in params) if dask_parameters else params
    check_against_numpy(
        mlp,
        (*lazy_params, chunked(x), chunked(y)),
        (*params, x, y),
        wrt=(0, 1, 2, 3),
        fd=() if dask_parameters else (1, 3),
    )


def least_squares(w, x, y):
    return np.linalg.norm(x @ w - y) + 0.5 * np.linalg.norm(w) ** 2


def test_least_squares_with_norm(data):
    x, y = data
    w = np.linspace(1.0, -1.0, FEATURES)
    check_against_numpy(least_squares, (w, chunked(x), chunked(y)), (w, x, y), wrt=(0, 1), fd=(0,))


def hinge_like(w, x, y):
    margin = (2 * y - 1) * (x @ w)
    loss = np.where(margin < 1, 1 - margin, 0.0)
    return np.sum(np.maximum(loss, 0.1 * loss) ** 2) + np.sum(np.maximum(w, 0.0))


def test_where_and_maximum_loss(data):
    x, y = data
    w = np.array([0.4, -0.2, 0.3, 0.1, -0.5])
    check_against_numpy(hinge_like, (w, chunked(x), chunked(y)), (w, x, y), wrt=(0, 1), fd=(0,))


# -- indexing --------------------------------------------------------------------------------


def rows_and_columns(w, x, rows):
    head = x[3:17] @ w
    picked = x[rows] @ w  # rows repeat: their gradients add
    columns = x[:, [1, 3, 3]] * w[:3]
    return np.sum(head**2) + np.sum(picked**3) + np.sum(columns) + x[5, 2] * w[0]


@pytest.mark.parametrize("lazy_rows", [False, True], ids=["numpy-index", "dask-index"])
def test_slices_integer_indices_and_columns(data, lazy_rows):
    x, _ = data
    w = np.linspace(-0.5, 0.5, FEATURES)
    rows = np.array([3, 3, 7, 39, 0, -1])
    index = da.from_array(rows, chunks=4) if lazy_rows else rows
    check_against_numpy(rows_and_columns, (w, chunked(x), index), (w, x, rows), wrt=(0, 1), fd=(0,))


def masked_rows(w, b, x, y):
    keep = y > 0.5
    selected = x[keep]  # rows of unknown number: shape (nan, FEATURES) for Dask
    z = selected @ w + b
    return np.mean(z**2) + np.var(z) + np.sum(selected[:, 1:3] * w[1:3]) / 10


def test_rows_selected_by_a_boolean_mask(data):
    x, y = data
    w = np.linspace(-0.5, 0.5, FEATURES)
    check_against_numpy(
        masked_rows, (w, 0.3, chunked(x), chunked(y)), (w, 0.3, x, y), wrt=(0, 1, 2), fd=(0, 1)
    )


def masked_elements(w, x):
    return np.sum(x[x > 0] ** 2) * w[0] + np.sum(x @ w)


def test_elements_selected_by_a_mask_of_the_array_shape(data):
    x, _ = data
    w = np.linspace(-0.5, 0.5, FEATURES)
    check_against_numpy(masked_elements, (w, chunked(x)), (w, x), wrt=(0, 1))


def selected(w, x, mask):
    return np.sum((x[mask] @ w) ** 2) if mask.ndim == 1 else np.sum(x[mask] ** 3) * w[0]


@pytest.mark.parametrize(
    "kind", ["numpy-rows", "numpy-elements", "dask-rows-other-chunks", "dask-elements"]
)
def test_masks_as_numpy_arrays_and_in_chunks_of_their_own(data, kind):
    """Dask selects with a NumPy row mask's positions, makes a NumPy mask of the array's
    shape a Dask array, and brings a Dask mask and the array to common chunks: the
    gradient puts the selection back the same way each time."""
    x, y = data
    w = np.linspace(-0.5, 0.5, FEATURES)
    rows, elements = y > 0.5, x > 0.3
    lazy_x = chunked(x)
    mask = {
        "numpy-rows": rows,
        "numpy-elements": elements,
        "dask-rows-other-chunks": da.from_array(rows, chunks=(15, 10, 15)),
        "dask-elements": da.from_array(elements, chunks=(20, 2)),
    }[kind]
    if kind == "dask-rows-other-chunks":
        lazy_x = da.from_array(x, chunks=(7, 2))
    expected_mask = rows if mask.ndim == 1 else elements
    for mode in ("auto", "tape"):
        check_against_numpy(
            selected, (w, lazy_x, mask), (w, x, expected_mask), wrt=(0, 1), mode=mode
        )


def assign_column(w, x):
    z = x * 1.0
    z[:, 0] = z[:, 1] * w[0]
    return np.sum((z @ w) ** 2)


def test_assignment_into_a_dask_array(data):
    x, _ = data
    w = np.linspace(-0.5, 0.5, FEATURES)
    check_against_numpy(assign_column, (w, chunked(x)), (w, x), wrt=(0, 1), fd=(0,))


def test_the_tape_builds_lazy_gradients_too(data):
    """mode="tape" records the same rules on Dask values: as lazy, and as right."""
    x, y = data
    w = np.linspace(-0.5, 0.5, FEATURES)
    rows = np.array([3, 3, 7, 39, 0, -1])
    cases = [
        (logistic_l2, (w, 0.1, chunked(x), chunked(y), 0.01), (w, 0.1, x, y, 0.01), (0, 1, 4)),
        (rows_and_columns, (w, chunked(x), rows), (w, x, rows), (0, 1)),
        (masked_rows, (w, 0.3, chunked(x), chunked(y)), (w, 0.3, x, y), (0, 1, 2)),
        (masked_elements, (w, chunked(x)), (w, x), (0, 1)),
        (assign_column, (w, chunked(x)), (w, x), (0, 1)),
    ]
    for f, dask_args, numpy_args, wrt in cases:
        check_against_numpy(f, dask_args, numpy_args, wrt, mode="tape")


@pytest.mark.parametrize("mode", ["auto", "tape"])
def test_vjp_of_masked_rows_takes_a_cotangent_of_unknown_size(data, mode):
    x, _ = data
    w = np.linspace(-0.5, 0.5, FEATURES)

    def scores(w, x):
        return np.tanh(x[x[:, 0] > 0] @ w)  # shape (nan,)

    counter = CountingScheduler()
    with dask.config.set(scheduler=counter):
        value, pullback = ag.vjp(scores, w, chunked(x), mode=mode)
        dw = pullback(da.ones_like(value))
        assert counter.computes == 0 and isinstance(dw, da.Array)
        dw = dw.compute()
    expected_value, expected_pullback = ag.vjp(scores, w, x)
    assert_close(dw, expected_pullback(np.ones_like(expected_value)), rtol=1e-10)


def layers(w, x):
    h = x
    for _ in range(6):
        h = np.tanh(h * w)
    return np.sum(h)


def test_float32_checkpointing_and_a_parameter_dict_stay_lazy(data):
    x, y = data
    w = np.linspace(0.2, 0.9, FEATURES)
    # float32 data keep float32 gradients.
    _, grads = lazily(layers, (w.astype(np.float32), chunked(x).astype(np.float32)), (0, 1))
    assert [g.dtype for g in grads] == [np.float32, np.float32]
    # checkpoint=True recomputes segments of the loop in the backward pass, lazily too.
    counter = CountingScheduler()
    with dask.config.set(scheduler=counter):
        dw = ag.grad(layers, wrt=0, checkpoint=True)(w, chunked(x))
        assert counter.computes == 0
        dw = dw.compute()
    assert_close(dw, ag.grad(layers, wrt=0)(w, x), rtol=1e-10)

    def squared_error(params, x, y):
        return np.mean((x @ params["w"] + params["b"] - y) ** 2)

    params = {"w": w, "b": 0.5}
    with dask.config.set(scheduler=counter):
        counter.computes = 0
        grads = ag.grad(squared_error)(params, chunked(x), chunked(y))
        assert counter.computes == 0 and all(isinstance(g, da.Array) for g in grads.values())
        (grads,) = dask.compute(grads)
    expected = ag.grad(squared_error)(params, x, y)
    assert_close(grads["w"], expected["w"], rtol=1e-10)
    assert_close(grads["b"], expected["b"], rtol=1e-10)


# -- what cannot run lazily ------------------------------------------------------------------


def sorted_scores(w, x):
    scores = np.sort(x @ w)
    return np.sum(scores[:3])


def test_what_dask_cannot_do_lazily_raises_at_the_users_line(data):
    x, _ = data
    counter = CountingScheduler()
    with dask.config.set(scheduler=counter), pytest.raises(NotImplementedError) as caught:
        ag.grad(sorted_scores)(np.ones(FEATURES), chunked(x))
    assert counter.computes == 0
    message = str(caught.value)
    assert "np.sort of a Dask array has no lazy form in Dask" in message
    notes = "\n".join(getattr(caught.value, "__notes__", ()))
    assert "test_dask.py" in notes and "scores = np.sort(x @ w)" in notes
    # On the tape, which runs the function itself, the traceback passes through the line.
    counter = CountingScheduler()
    with dask.config.set(scheduler=counter), pytest.raises(NotImplementedError) as caught:
        ag.grad(sorted_scores, mode="tape")(np.ones(FEATURES), chunked(x))
    assert counter.computes == 0
    assert "np.sort of a Dask array has no lazy form in Dask" in str(caught.value)
    assert any(entry.name == "sorted_scores" for entry in caught.traceback)


def branch_on_data(w, x):
    z = x @ w
    if np.mean(z) > 0:  # bool() of a Dask value computes it
        return np.sum(z**2)
    return np.sum(z)


def sum_of_a_list(w, x):
    z = x @ w
    return np.sum(np.sum([z, z * 2], axis=0))  # NumPy makes one array of the list: a compute


@pytest.mark.parametrize("f", [branch_on_data, sum_of_a_list])
def test_a_compute_while_the_gradient_is_built_raises_at_the_users_line(data, f):
    x, _ = data
    counter = CountingScheduler()
    with dask.config.set(scheduler=counter), pytest.raises(NotImplementedError) as caught:
        ag.grad(f)(np.ones(FEATURES), chunked(x))
    assert counter.computes == 0
    assert "computes a Dask value while the gradient is built" in str(caught.value)
    line = "if np.mean(z) > 0:" if f is branch_on_data else "np.sum([z, z * 2], axis=0)"
    assert line in "\n".join(caught.value.__notes__)
    # Outside the gradient, the scheduler in force before is back.
    assert dask.compute(chunked(x).sum(), scheduler=None)[0] == pytest.approx(x.sum())


def test_the_refusal_is_per_thread_and_undone_after(data):
    """Gradients built in several threads at once refuse only their own computes: a
    thread computing meanwhile gets its result, and Dask's setting is as before after."""
    x, y = data
    before = dask.config.get("scheduler", None)
    built, errors = [], []

    def build():
        try:
            for _ in range(5):
                gradient = ag.grad(logistic_l2, wrt=0)
                built.append(gradient(np.zeros(FEATURES), 0.1, chunked(x), chunked(y), 0.01))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    sums = [chunked(x).sum().compute() for _ in range(20)]
    for thread in threads:
        thread.join()
    assert not errors and len(built) == 15
    assert sums == pytest.approx([x.sum()] * 20)
    assert dask.config.get("scheduler", None) == before
    expected = ag.grad(logistic_l2, wrt=0)(np.zeros(FEATURES), 0.1, x, y, 0.01)
    for dw in dask.compute(*built):
        assert_close(dw, expected, rtol=1e-10)


def test_an_index_dask_cannot_place_lazily_raises(data):
    x, _ = data

    def new_axis(w, x):
        return np.sum(x[None, 2:5] @ w)

    with pytest.raises(NotImplementedError, match="indexing with None") as caught:
        ag.grad(new_axis, wrt=1)(np.ones(FEATURES), chunked(x))
    assert "return np.sum(x[None, 2:5] @ w)" in "\n".join(caught.value.__notes__)


def doubled_positive(w, x):
    z = x * 1.0
    keep = z > 0
    z[keep] = z[keep] * 2.0  # Dask cannot assign values of unknown number through a mask
    return np.sum(z @ w)


def doubled_positive_by_where(w, x):
    return np.sum(np.where(x > 0, x * 2.0, x) @ w)


def test_assigning_an_array_through_a_mask_raises_and_where_works(data):
    x, _ = data
    w = np.linspace(-0.5, 0.5, FEATURES)
    with pytest.raises(NotImplementedError, match=r"np\.where\(mask, new_values, old\)") as caught:
        ag.grad(doubled_positive, wrt=1)(w, chunked(x))
    assert "z[keep] = z[keep] * 2.0" in "\n".join(caught.value.__notes__)
    # The NumPy gradient of the masked assignment is the one np.where's gives lazily.
    expected = ag.grad(doubled_positive, wrt=(0, 1))(w, x)
    _, grads = lazily(doubled_positive_by_where, (w, chunked(x)), (0, 1))
    for got, want in zip(grads, expected):
        assert_close(got, want, rtol=1e-10)


# -- a cluster -------------------------------------------------------------------------------


@pytest.mark.slow
def test_on_a_local_cluster_of_two_worker_processes(data):
    distributed = pytest.importorskip("distributed")
    x, y = data
    w = np.linspace(-0.3, 0.3, FEATURES)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=50,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        value, grads = ag.value_and_grad(logistic_l2, wrt=(0, 1))(
            w, 0.1, chunked(x), chunked(y), 0.01
        )
        value, (dw, db) = client.compute((value, grads), sync=True)
        # Both workers took part: the row blocks were spread over them.
        assert len(client.scheduler_info()["workers"]) == 2
    expected_value, expected = ag.value_and_grad(logistic_l2, wrt=(0, 1))(w, 0.1, x, y, 0.01)
    assert_close(value, expected_value)
    assert_close(dw, expected[0], rtol=1e-10)
    assert_close(db, expected[1], rtol=1e-10)


# -- the README's section --------------------------------------------------------------------


def test_readme_dask_section_runs_and_prints_what_it_shows(tmp_path):
    """The section's blocks, in order, each output block checked (tests/test_docs.py runs
    the whole README the same way; this runs the section alone, where Dask is)."""
    from test_docs import _check_output, _run_python, blocks

    page = ROOT / "README.md"
    text = page.read_text()
    start = text.index("## Scale-out with Dask")
    end = text.index("\n## ", start + 1)
    offset = text.count("\n", 0, start)
    namespace: dict = {"__name__": "readme_dask"}
    exec("import numpy as np\nimport astgrad as ag", namespace)
    previous = None
    ran = 0
    for block in blocks(text[start:end]):
        block.line += offset
        if block.kind == "python":
            previous = _run_python(block, page, namespace, tmp_path)
            ran += 1
        elif block.kind == "text" and previous is not None:
            _check_output(block, page, *previous)
            previous = None
    assert ran >= 3 and previous is None, "every python block of the section shows its output"


def test_the_benchmark_runs_and_its_gradients_match_the_hand_written_ones():
    """``benchmarks/dask_steps.py --quick`` asserts that astgrad's value and gradients equal
    the hand-written Dask ones before it times them; here it runs to its table."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "dask_steps.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "| logistic |" in run.stdout and "| MLP (32 hidden) |" in run.stdout


def test_dask_support_docstring_examples():
    import doctest

    from astgrad.runtime import dask_support

    result = doctest.testmod(dask_support, optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed
