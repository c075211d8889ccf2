"""First calls from many threads at once: every thread gets the right gradient, none is
told that a function "calls itself" because another thread is generating it, nothing is
cached as tape because of a race, and each derivative is generated once.

Generation is slowed down a little (``slow_generation``) so that threads really do
overlap in it; each check is against central differences.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from astgrad.transform import pipeline
from numeric import assert_close, numeric_vjp

import astgrad as ag

THREADS = 8
X = np.array([0.3, -0.5, 1.2])


def family():
    """Fresh functions for one test (nothing cached yet): two callees, and a maker of
    losses that share them. Losses share one code but each is a function of its own to
    the cache."""

    def inner(x):
        return np.tanh(x) * 2.0

    def outer(x):
        return inner(x) + np.sin(x)

    def make_loss(k: float):
        def loss(x):
            return np.sum(outer(x) * k)

        return loss

    return inner, outer, make_loss


def recursive(x, depth):
    if depth == 0:
        return np.sum(x)
    return recursive(np.sin(x), depth - 1)


@pytest.fixture
def slow_generation(monkeypatch):
    original = pipeline._run

    def slow(*args, **kwargs):
        time.sleep(0.005)  # hold the thread inside generation for others to arrive
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_run", slow)


def run_together(work) -> list:
    """``work(i)`` in THREADS threads started together; their results, or the exceptions
    they raised, in thread order."""
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS

    def target(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # reported by the test, with the thread's number
            results[i] = exc

    threads = [threading.Thread(target=target, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


def expect_no_errors(results: list) -> None:
    errors = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert not errors, errors


@pytest.mark.parametrize("mode", ["auto", "source"])
def test_one_fresh_gradient_called_from_many_threads(slow_generation, mode):
    _, _, make_loss = family()
    f = make_loss(1.5)
    g = ag.grad(f, mode=mode)
    results = run_together(lambda i: [g(X) for _ in range(3)])
    expect_no_errors(results)
    expected = numeric_vjp(f, [X], 0, 1.0)
    for calls in results:
        for got in calls:
            assert_close(got, expected)
    assert "tape" not in g._derivatives.values()
    assert pipeline.generation_count[f] == 1
    assert ag.explain(f).mode == "source"


def test_many_functions_sharing_callees_from_many_threads(slow_generation):
    inner, outer, make_loss = family()
    functions = [make_loss(1.0 + i) for i in range(THREADS)]
    gradients = [ag.value_and_grad(f) for f in functions]
    results = run_together(lambda i: gradients[i](X))
    expect_no_errors(results)
    for f, g, (value, gradient) in zip(functions, gradients, results):
        assert_close(value, f(X))
        assert_close(gradient, numeric_vjp(f, [X], 0, 1.0))
        assert "tape" not in g._derivatives.values()
        assert ag.explain(f).mode == "source"
    assert pipeline.generation_count[outer] == 1
    assert pipeline.generation_count[inner] == 1


def test_separate_gradients_of_one_function_generate_it_once(slow_generation):
    _, _, make_loss = family()
    f = make_loss(-2.0)
    expected = numeric_vjp(f, [X], 0, 1.0)
    results = run_together(lambda i: ag.grad(f, mode="source")(X))
    expect_no_errors(results)
    for got in results:
        assert_close(got, expected)
    assert pipeline.generation_count[f] == 1


def test_vjp_from_many_threads(slow_generation):
    _, _, make_loss = family()
    f = make_loss(0.5)

    def work(i: int):
        value, pullback = ag.vjp(f, X * (i + 1), mode="source")
        return value, pullback(1.0)

    results = run_together(work)
    expect_no_errors(results)
    for i, (value, gradient) in enumerate(results):
        assert_close(value, f(X * (i + 1)))
        assert_close(gradient, numeric_vjp(f, [X * (i + 1)], 0, 1.0))


def test_recursion_is_still_found_in_each_thread(slow_generation):
    # Half the threads differentiate a recursive function (an error in source mode, a
    # tape call in auto mode), the other half something else, at the same time.
    def work(i: int):
        if i % 2 == 0:
            return ag.grad(recursive, mode="source")(X, 2)
        return ag.grad(recursive, mode="auto")(X, 2)

    results = run_together(work)
    expected = numeric_vjp(lambda x: recursive(x, 2), [X], 0, 1.0)
    for i, result in enumerate(results):
        if i % 2 == 0:
            assert isinstance(result, ag.TransformError), result
            assert "recursive" in str(result)
        else:
            assert_close(result, expected)
