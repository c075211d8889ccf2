"""The public API of the source transformation: grad, value_and_grad, vjp, source."""

from __future__ import annotations

import linecache
import traceback

import numpy as np
import pytest
from astgrad.transform import pipeline
from modules import write_module
from numeric import assert_close

import astgrad as ag


def square_sum(x):
    return np.sum(x * x)


def weighted(w, b, x):
    return np.sum((x * w + b) ** 2)


def vector_valued(x):
    return x * 2.0


def two_outputs(x):
    return x * 2.0, np.sum(x)


def uses_try(x):
    try:
        y = x * 2
    except ValueError:
        y = x
    return np.sum(y)


# -- grad: the three ways to call it ------------------------------------------------------


def test_grad_bare_decorator_differentiates_first_argument():
    @ag.grad
    def f(x, y):
        return np.sum(x * y)

    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    np.testing.assert_allclose(f(x, y), y)


def test_grad_with_names_returns_a_tuple_in_that_order():
    f = ag.grad(weighted, wrt=("b", "w"))
    w, b, x = np.array([1.0, 2.0]), 0.5, np.array([3.0, 4.0])
    db, dw = f(w, b, x)
    r = x * w + b
    assert db == pytest.approx(np.sum(2 * r))
    np.testing.assert_allclose(dw, 2 * r * x)


def test_grad_called_with_positions():
    dw, dx = ag.grad(weighted, wrt=(0, 2))(np.ones(2), 0.0, np.ones(2))
    np.testing.assert_allclose(dw, [2.0, 2.0])
    np.testing.assert_allclose(dx, [2.0, 2.0])


def test_value_and_grad():
    value, gradient = ag.value_and_grad(square_sum)(np.array([1.0, 2.0]))
    assert value == pytest.approx(5.0)
    np.testing.assert_allclose(gradient, [2.0, 4.0])


@pytest.mark.parametrize("mode", ["source", "tape", "auto"])
def test_gradients_have_their_arguments_type_shape_and_dtype(mode):
    f = ag.grad(weighted, wrt=(0, 1), mode=mode)
    dw, db = f(np.ones(3, dtype=np.float32), 0.5, np.ones(3, dtype=np.float32))
    assert isinstance(dw, np.ndarray) and dw.dtype == np.float32 and dw.shape == (3,)
    assert type(db) is float


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("wrt", ["nope", 5, -4, ("w", "w")])
def test_bad_wrt_raises_at_decoration(wrt):
    with pytest.raises(ValueError, match="wrt"):
        ag.grad(weighted, wrt=wrt)


@pytest.mark.parametrize("mode", ["source", "tape", "auto"])
@pytest.mark.parametrize("function", [vector_valued, two_outputs])
def test_grad_of_a_non_scalar_output_points_to_vjp(mode, function):
    with pytest.raises(
        ValueError, match="grad can be implicitly created only for scalar outputs"
    ) as info:
        ag.grad(function, mode=mode)(np.ones(3))
    assert "vjp" in str(info.value) or "cotangent" in str(info.value)


def test_unsupported_syntax_names_file_line_construct_and_advice():
    with pytest.raises(ag.TransformError) as info:
        ag.grad(uses_try, mode="source")(np.ones(2))
    message = str(info.value)
    assert __file__ in message
    line = uses_try.__code__.co_firstlineno + 1
    assert f"line {line}" in message
    assert "try" in message
    assert 'mode="auto"' in message


def test_auto_mode_runs_untransformable_functions_on_the_tape():
    gradient = ag.grad(uses_try)(np.array([1.0, 2.0]))
    np.testing.assert_allclose(gradient, [2.0, 2.0])


def test_mode_is_checked():
    with pytest.raises(ValueError, match="mode"):
        ag.grad(square_sum, mode="fast")


# -- vjp ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_vjp_with_a_cotangent(mode):
    value, pullback = ag.vjp(vector_valued, np.array([1.0, 2.0]), mode=mode)
    np.testing.assert_allclose(value, [2.0, 4.0])
    np.testing.assert_allclose(pullback(np.array([1.0, -1.0])), [2.0, -2.0])


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_vjp_of_a_non_scalar_needs_a_cotangent_of_its_shape(mode):
    _, pullback = ag.vjp(vector_valued, np.ones(3), mode=mode)
    with pytest.raises(ValueError, match="shape"):
        pullback(np.ones(2), retain_graph=True)
    with pytest.raises(ValueError, match="scalar outputs"):
        pullback()


@pytest.mark.parametrize("mode", ["source", "tape"])
def test_pullback_twice_needs_retain_graph(mode):
    _, pullback = ag.vjp(square_sum, np.array([1.0, 2.0]), mode=mode)
    first = pullback(retain_graph=True)
    second = pullback(retain_graph=True)
    np.testing.assert_allclose(first, second)
    pullback()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        pullback()


def test_vjp_with_tuple_output_takes_a_tuple_cotangent():
    value, pullback = ag.vjp(two_outputs, np.array([1.0, 2.0]), mode="source")
    gradient = pullback((np.array([1.0, 0.0]), 3.0))
    np.testing.assert_allclose(gradient, [5.0, 3.0])


# -- source ---------------------------------------------------------------------------------


def test_source_is_python_that_compiles_and_comments_each_block():
    text = ag.source(weighted, wrt=("w", "b"))
    compile(text, "<test>", "exec")
    assert "def weighted_grad(w, b, x):" in text
    assert "# grad of: return np.sum((x * w + b) ** 2)" in text


@pytest.mark.parametrize("stage", pipeline.STAGES[:-1])
def test_source_after_each_stage(stage):
    text = ag.source(weighted, wrt="w", stage=stage)
    assert "def weighted" in text


def test_source_of_a_decorated_function():
    f = ag.grad(square_sum)
    assert "def square_sum_grad" in ag.source(f)


def test_each_function_is_generated_once():
    def local(x):
        return np.sum(np.sin(x))

    f = ag.grad(local)
    for _ in range(5):
        f(np.ones(3))
    assert pipeline.generation_count[local] == 1


def test_redefining_a_function_picks_up_its_new_source(tmp_path):
    first = write_module(
        tmp_path, "redefined_a", "import numpy as np\ndef f(x):\n    return np.sum(x * 2)\n"
    )
    np.testing.assert_allclose(ag.grad(first.f)(np.ones(2)), [2.0, 2.0])
    second = write_module(
        tmp_path, "redefined_b", "import numpy as np\ndef f(x):\n    return np.sum(x * 5)\n"
    )
    np.testing.assert_allclose(ag.grad(second.f)(np.ones(2)), [5.0, 5.0])
    assert "x * 5" in ag.source(second.f)


def test_rebinding_a_helper_regenerates_the_caller(tmp_path):
    module = write_module(
        tmp_path,
        "rebinding",
        "import numpy as np\n"
        "def helper(x):\n    return x * 2\n"
        "def other(x):\n    return x * 7\n"
        "def f(x):\n    return np.sum(helper(x))\n",
    )
    g = ag.grad(module.f, mode="source")
    np.testing.assert_allclose(g(np.ones(2)), [2.0, 2.0])
    module.helper = module.other
    np.testing.assert_allclose(g(np.ones(2)), [7.0, 7.0])


def _explode(x):
    return x * 1.0


@ag.vjp_rule(_explode)
def _explode_vjp(g, ans, x):
    raise ZeroDivisionError("from inside a rule")


def calls_explode(x):
    y = np.tanh(x)
    return np.sum(_explode(y))


def test_tracebacks_show_generated_lines():
    f = ag.grad(calls_explode, mode="source")
    with pytest.raises(ZeroDivisionError) as info:
        f(np.ones(2))
    frames = traceback.extract_tb(info.value.__traceback__)
    generated = [frame for frame in frames if frame.filename.startswith("<astgrad")]
    assert generated, [frame.filename for frame in frames]
    frame = generated[-1]
    assert frame.line and "explode" in frame.line
    assert linecache.getline(frame.filename, frame.lineno).strip() == frame.line


def test_generated_code_reads_user_globals_live(tmp_path):
    module = write_module(
        tmp_path,
        "live_globals",
        "import numpy as np\nSCALE = 2.0\ndef f(x):\n    return np.sum(x * SCALE)\n",
    )
    g = ag.grad(module.f, mode="source")
    np.testing.assert_allclose(g(np.ones(2)), [2.0, 2.0])
    module.SCALE = 3.0
    np.testing.assert_allclose(g(np.ones(2)), [3.0, 3.0])
    assert "__astgrad_factory__" not in vars(module)


def test_closures_are_read_live():
    scale = 2.0

    def f(x):
        return np.sum(x * scale)

    g = ag.grad(f, mode="source")
    np.testing.assert_allclose(g(np.ones(2)), [2.0, 2.0])
    scale = 5.0  # noqa: F841 (read through the closure cell)
    np.testing.assert_allclose(g(np.ones(2)), [5.0, 5.0])


def test_user_rules_are_inlined_in_generated_source():
    def cube(x):
        return x**3

    @ag.vjp_rule(cube)
    def cube_vjp(g, ans, x):
        return g * 3 * x**2

    def f(x):
        return np.sum(cube(x))

    text = ag.source(f)
    assert "3 * x ** 2" in text and "cube_vjp" not in text
    assert_close(ag.grad(f, mode="source")(np.array([2.0])), [12.0])
