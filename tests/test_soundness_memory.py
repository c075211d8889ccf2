"""The generation cache keeps nothing alive: once a differentiated function and its
gradient are gone, so are its cache entries, what its closure held, and the generated
code's linecache lines and line origins; differentiating new lambdas in a loop does not
grow memory without bound.
"""

from __future__ import annotations

import gc
import linecache
import traceback
import weakref

import numpy as np
import pytest
from astgrad.transform import emit, pipeline
from numeric import assert_close

import astgrad as ag

X = np.array([0.3, -0.5])


class Big(np.ndarray):
    """An array that can be referred to weakly (a plain ndarray cannot)."""


def generated_files() -> set[str]:
    return {name for name in linecache.cache if name.startswith("<astgrad:")}


def make_closure():
    big = np.ones(100_000).view(Big)

    def helper(x):
        return np.tanh(x) * big[:2]

    def f(x):
        return np.sum(helper(x) * big[2:4])

    return f, helper, big


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_a_deleted_function_and_what_its_closure_holds_are_collected(mode):
    files_before = generated_files()
    f, helper, big = make_closure()
    refs = [weakref.ref(f), weakref.ref(helper), weakref.ref(big)]
    g = ag.grad(f, mode=mode)
    assert_close(g(X), 1 - np.tanh(X) ** 2)
    assert_close(ag.value_and_grad(f, mode=mode)(X)[1], 1 - np.tanh(X) ** 2)
    value, pullback = ag.vjp(f, X, mode=mode)
    assert_close(pullback(1.0), 1 - np.tanh(X) ** 2)
    assert ag.explain(f).mode == "source"
    made = generated_files() - files_before
    assert made and all(name in emit.LINE_ORIGINS for name in made)
    assert f in pipeline._cache and helper in pipeline._cache
    cached = len(pipeline._cache)

    del f, helper, big, g, value, pullback
    gc.collect()
    assert [ref() for ref in refs] == [None, None, None]
    assert len(pipeline._cache) <= cached - 2
    assert not made & generated_files()
    assert not made & set(emit.LINE_ORIGINS)


def make_self_reaching():
    """A nested function that calls itself, and two that call each other: their closures
    lead back to them."""
    big = np.ones(10).view(Big)

    def countdown(x, n):
        if n == 0:
            return np.sum(x * big[:2])
        return countdown(np.sin(x), n - 1)

    def ping(x, n):
        if n == 0:
            return np.sum(x * big[:2])
        return pong(np.sin(x), n - 1)

    def pong(x, n):
        return ping(x, n)

    return countdown, ping, big


@pytest.mark.parametrize("mode", ["auto", "tape"])
@pytest.mark.parametrize("which", [0, 1])
def test_a_function_whose_closure_leads_back_to_it_is_collected(mode, which):
    *functions, big = make_self_reaching()
    f = functions[which]
    refs = [weakref.ref(f), weakref.ref(big)]
    g = ag.grad(f, mode=mode)
    for _ in range(2):
        assert_close(g(X, 1), np.cos(X))
    value, pullback = ag.vjp(f, X, 0, mode=mode)
    assert_close(pullback(1.0), np.ones(2))
    del f, functions, big, g, value, pullback
    gc.collect()
    assert [ref() for ref in refs] == [None, None]


def test_lambdas_differentiated_in_a_loop_leave_nothing_behind():
    def rounds(count: int) -> None:
        for i in range(count):
            g = ag.grad(lambda x: x * x * 3.0 + np.sin(x))
            assert_close(g(0.5 + i), 6.0 * (0.5 + i) + np.cos(0.5 + i))

    rounds(5)
    gc.collect()
    sizes = (len(generated_files()), len(emit.LINE_ORIGINS), len(pipeline._cache))
    rounds(100)
    gc.collect()
    after = (len(generated_files()), len(emit.LINE_ORIGINS), len(pipeline._cache))
    assert all(a <= b + 2 for a, b in zip(after, sizes)), (sizes, after)


def test_a_kept_traceback_still_shows_the_generated_lines():
    def make():
        def fails(x):
            return np.sum(np.reshape(np.tanh(x), (3, 7)))

        return fails

    f = make()
    with pytest.raises(ValueError) as caught:
        ag.grad(f, mode="source")(X)
    del f
    gc.collect()
    frames = traceback.extract_tb(caught.value.__traceback__)
    generated = [frame for frame in frames if frame.filename.startswith("<astgrad")]
    assert generated and generated[-1].line and "reshape" in generated[-1].line
    assert any("line of yours" in note for note in caught.value.__notes__)
