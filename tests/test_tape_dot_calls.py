"""``a.dot(t)`` on the tape with ``a`` a plain NumPy array and ``t`` a tensor, wherever the
array comes from (runtime/dot_calls.py): ndarray.dot does not dispatch, so the tape runs a
function's ``.dot`` calls from its source as ``np.dot``. Each origin is checked against
finite differences, in tape and auto mode; also that the rewritten code reports the user's
lines, evaluates as Python does and leaves other ``dot`` methods alone."""

from __future__ import annotations

import traceback

import numpy as np
import pytest
from astgrad.runtime.dot_calls import dot_call
from numeric import assert_close, numeric_vjp

import astgrad as ag

MODES = ("tape", "auto")
A = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.2], [0.1, 0.9, -0.6]])
B = np.array([[1.0, 0.2, -0.3], [0.4, -0.8, 0.6], [0.7, 0.1, 0.5]])
GLOBAL_LIST = [A, B]


class Holder:
    def __init__(self):
        self.W = A.copy()
        self.layers = [A.copy(), B.copy()]

    def apply(self, x):
        return self.W.dot(np.tanh(x))

    def score(self, x):
        return np.sum(np.tanh(self.W.dot(x)) * self.layers[1].dot(x))

    def broken(self, x):
        y = self.W.dot(x)
        return np.log(y[5])  # line named in the traceback


def item_of_a_list(blocks, x):
    return np.sum(np.tanh(blocks[0].dot(x)) * blocks[1].dot(x))


def items_unpacked(blocks, x):
    first, second = blocks
    return np.sum(first.dot(x) ** 2) + np.sum(second.dot(x))


def value_of_a_dict(params, x):
    return np.sum(np.sin(params["W"].dot(x)))


def attribute_of_an_object(holder, x):
    return np.sum(holder.W.dot(x) ** 2) + np.sum(holder.layers[1].dot(x))


def item_of_a_global_list(x):
    return np.sum(GLOBAL_LIST[1].dot(np.cos(x)))


def a_default(x, W=A):
    return np.sum(W.dot(x) ** 3)


def made_inside(x):
    W = np.linspace(-1.0, 1.0, 9).reshape(3, 3)
    return np.sum(np.exp(W.dot(x)))


def from_a_closure(x):
    W = B + 1.0

    def layer(v):
        return np.tanh(W.dot(v))

    return np.sum(layer(layer(x)))


def vector_and_matrix_receivers(x):
    v = np.array([1.0, -2.0, 0.5])
    return v.dot(x).dot(v) + v.dot(x[0])


def a_lambda_receiver(x):
    apply = lambda v: A.dot(v)  # noqa: E731
    return np.sum(apply(x) ** 2)


CASES = [
    (item_of_a_list, lambda: [A.copy(), B.copy()]),
    (item_of_a_list, lambda: (A.copy(), B.copy())),
    (items_unpacked, lambda: [A.copy(), B.copy()]),
    (value_of_a_dict, lambda: {"W": A.copy()}),
    (attribute_of_an_object, Holder),
]
ALONE = [item_of_a_global_list, a_default, made_inside, from_a_closure, a_lambda_receiver]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("function", "make"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_a_plain_array_held_by_an_argument(function, make, mode):
    x = np.array([[0.3, -0.2], [0.5, 0.1], [-0.4, 0.7]])
    held = make()
    value, got = ag.value_and_grad(function, wrt=1, mode=mode)(held, x)
    assert value == pytest.approx(function(make(), x))
    expected = numeric_vjp(lambda v: function(make(), v), [x], 0, 1.0)
    assert_close(got, expected, what=f"{function.__name__} {mode}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", ALONE, ids=lambda f: f.__name__)
def test_a_plain_array_from_elsewhere(function, mode):
    x = np.array([[0.3, -0.2], [0.5, 0.1], [-0.4, 0.7]])
    value, got = ag.value_and_grad(function, mode=mode)(x)
    assert value == pytest.approx(function(x))
    assert_close(got, numeric_vjp(function, [x], 0, 1.0), what=f"{function.__name__} {mode}")


@pytest.mark.parametrize("mode", MODES)
def test_vector_receivers(mode):
    x = np.array([[0.3, -0.2, 0.4], [0.5, 0.1, -0.9], [-0.4, 0.7, 0.2]])
    got = ag.grad(vector_and_matrix_receivers, mode=mode)(x)
    assert_close(got, numeric_vjp(vector_and_matrix_receivers, [x], 0, 1.0), what=mode)


def test_a_method_differentiated_directly():
    holder = Holder()
    x = np.array([0.3, -0.2, 0.5])
    got = ag.grad(holder.score, mode="tape")(x)
    assert_close(got, numeric_vjp(holder.score, [x], 0, 1.0))


def test_a_method_called_inside_raises_a_clear_error():
    # Only the code the tape runs itself is rewritten: a method reached through an object
    # (an attribute look-up the tape does not see) runs as written, and ndarray.dot of a
    # tensor raises, naming what to do, rather than dropping the gradient.
    holder = Holder()

    def loss(v):
        return np.sum(holder.apply(v) ** 2)

    with pytest.raises(ag.GradientLostError, match="Keep the computation on tensors"):
        ag.grad(loss, mode="tape")(np.array([0.3, -0.2, 0.5]))


def failing_after_a_dot(x):
    y = A.dot(x)
    y = y * 2.0
    return np.log(y[5])  # line named in the traceback


@pytest.mark.parametrize(
    "function", [failing_after_a_dot, Holder().broken], ids=["function", "method"]
)
def test_errors_name_the_users_line(function):
    x = np.array([0.3, -0.2, 0.5])
    with pytest.raises(IndexError) as info:
        ag.grad(function, mode="tape")(x)
    frames = traceback.extract_tb(info.value.__traceback__)
    ours = [f for f in frames if f.name == function.__name__]
    assert ours and ours[-1].filename == __file__
    assert ours[-1].line == "return np.log(y[5])  # line named in the traceback"


class Dotter:
    """Something else with a method ``dot``: its own method runs."""

    def __init__(self):
        self.calls = []

    def dot(self, other, scale=1.0):
        self.calls.append(scale)
        return other * scale


def a_dot_of_another_kind(dotter, x):
    return np.sum(dotter.dot(x, scale=2.0) ** 2)


def test_another_dot_method_runs_as_written():
    dotter = Dotter()
    x = np.array([0.3, -0.2, 0.5])
    got = ag.grad(a_dot_of_another_kind, wrt=1, mode="tape")(dotter, x)
    assert_close(got, 8.0 * x)
    assert dotter.calls == [2.0]


def order_of_evaluation(log, x):
    def receiver():
        log.append("receiver")
        return A

    def argument():
        log.append("argument")
        return x

    return np.sum(receiver().dot(argument()))


def test_the_receiver_is_evaluated_first():
    log = []
    x = np.array([0.3, -0.2, 0.5])
    got = ag.grad(order_of_evaluation, wrt=1, mode="tape")(log, x)
    assert log == ["receiver", "argument"]
    assert_close(got, A.sum(axis=0))


def test_dot_call_outside_the_tape():
    out = np.empty(3)
    assert dot_call(A, np.ones(3), out) is out
    np.testing.assert_allclose(out, A.sum(axis=1))
    np.testing.assert_allclose(dot_call(A, B), A.dot(B))


def test_a_function_without_source_runs_as_it_is():
    namespace = {"np": np, "A": A}
    exec("def f(x):\n    return np.sum(np.tanh(x).dot(A))\n", namespace)
    f = namespace["f"]
    x = np.array([0.3, -0.2, 0.5])
    got = ag.grad(f, mode="tape")(x)
    assert_close(got, numeric_vjp(f, [x], 0, 1.0))


def recursive_layers(x, n):
    if n == 0:
        return x
    return recursive_layers(np.tanh(A.dot(x)), n - 1)


def test_a_recursive_function_is_rewritten_once(monkeypatch):
    from astgrad.runtime import dot_calls

    made = []
    original = dot_calls.recompiled
    monkeypatch.setattr(dot_calls, "recompiled", lambda *a: made.append(1) or original(*a))

    def loss(x):
        return np.sum(recursive_layers(x, 3))

    x = np.array([0.3, -0.2, 0.5])
    for _ in range(3):
        got = ag.grad(loss, mode="tape")(x)
    assert_close(got, numeric_vjp(loss, [x], 0, 1.0))
    assert len(made) <= 2  # (recursive_layers and loss, each once)


CALLS = 0


def counting_calls(W, x):
    # binds a global: runs with its module's own globals on the tape, its dot calls read
    # from the closure
    global CALLS
    CALLS += 1
    return np.sum(np.tanh(x.dot(W)))


@pytest.mark.parametrize("mode", MODES)
def test_a_function_that_binds_a_global(mode):
    W = np.array([[0.5, -0.2], [0.1, 0.4], [-0.3, 0.8]])
    x = np.array([[0.3, -0.2, 0.5], [0.1, 0.7, -0.4]])
    before = CALLS
    got = ag.grad(counting_calls, mode=mode)(W, x)
    assert CALLS == before + 1  # (the module's global, not a copy's)
    expected = numeric_vjp(lambda w: np.sum(np.tanh(x.dot(w))), [W], 0, 1.0)
    assert_close(got, expected, what=mode)


class Base:
    def scale(self):
        return 2.0


class Scaled(Base):
    FACTOR = 0.5

    def __init__(self):
        self.W = A.copy()

    def score(self, x):
        # super() reads the method's __class__ cell, Scaled.FACTOR the class as a global
        return np.sum(np.tanh(self.W.dot(x))) * super().scale() * Scaled.FACTOR


def test_a_method_using_super_and_its_class():
    model = Scaled()
    x = np.array([0.3, -0.2, 0.5])
    got = ag.grad(model.score, mode="tape")(x)
    assert_close(got, numeric_vjp(model.score, [x], 0, 1.0))


def chained(x, n):
    if n == 0:
        return x
    return chained(np.sin(A.dot(x)), n - 1)


FIRST_LEVEL = chained


def loss_of_chained(v):
    return np.sum(FIRST_LEVEL(v, 2) ** 2)


def test_a_recursive_function_reads_its_global_name(monkeypatch):
    # its recursive call reads the module's global, as Python does: rebound, the name
    # calls what it is bound to now (the rewritten code keeps it a global)
    monkeypatch.setitem(globals(), "chained", lambda v, n: v * 3.0)
    x = np.array([0.3, -0.2, 0.5])
    got = ag.grad(loss_of_chained, mode="tape")(x)
    assert_close(got, numeric_vjp(loss_of_chained, [x], 0, 1.0))
    assert_close(got, 2 * 9.0 * np.sin(A.dot(x)) @ (np.cos(A.dot(x))[:, None] * A))
