"""Grad mode: no_grad, enable_grad, set_grad_enabled and is_grad_enabled, as context
managers and decorators, with and without parentheses, nested, and per thread."""

from __future__ import annotations

import threading

import pytest

import astgrad as ag


@pytest.fixture(autouse=True)
def _grad_mode_restored():
    """Each test starts with grad mode on and must leave it on."""
    assert ag.is_grad_enabled()
    yield
    leaked = not ag.is_grad_enabled()
    ag.set_grad_enabled(True)
    assert not leaked, "the test left grad mode off"


def _records() -> bool:
    """Whether an operation on a tensor that requires grad records right now."""
    w = ag.ones(2, requires_grad=True)
    out = w * 2.0
    assert out.requires_grad == (out.grad_fn is not None)
    return out.requires_grad


def test_grad_is_enabled_by_default():
    assert ag.is_grad_enabled() is True
    assert _records()


def test_no_grad_context_manager():
    with ag.no_grad():
        assert ag.is_grad_enabled() is False
        assert not _records()
    assert ag.is_grad_enabled() and _records()


def test_no_grad_without_parentheses():
    with ag.no_grad:
        assert not ag.is_grad_enabled()
        assert not _records()
    assert ag.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    with ag.no_grad():
        with ag.enable_grad():
            assert ag.is_grad_enabled() and _records()
        assert not ag.is_grad_enabled()
        with ag.enable_grad:
            assert ag.is_grad_enabled()
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()


def test_set_grad_enabled_as_context_manager():
    with ag.set_grad_enabled(False):
        assert not ag.is_grad_enabled() and not _records()
        with ag.set_grad_enabled(True):
            assert ag.is_grad_enabled() and _records()
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()


def test_set_grad_enabled_called_as_a_function_switches_now():
    try:
        ag.set_grad_enabled(False)
        assert not ag.is_grad_enabled()
        assert not _records()
        ag.set_grad_enabled(True)
        assert ag.is_grad_enabled()
        assert _records()
    finally:
        ag.set_grad_enabled(True)


def test_nesting_restores_each_level():
    seen = []
    with ag.no_grad():
        seen.append(ag.is_grad_enabled())
        with ag.no_grad():
            seen.append(ag.is_grad_enabled())
            with ag.enable_grad():
                seen.append(ag.is_grad_enabled())
                with ag.no_grad:
                    seen.append(ag.is_grad_enabled())
                seen.append(ag.is_grad_enabled())
            seen.append(ag.is_grad_enabled())
        seen.append(ag.is_grad_enabled())
    seen.append(ag.is_grad_enabled())
    assert seen == [False, False, True, False, True, False, False, True]


def test_mode_is_restored_when_the_block_raises():
    with pytest.raises(ValueError):
        with ag.no_grad():
            raise ValueError("boom")
    assert ag.is_grad_enabled()
    with pytest.raises(ValueError):
        with ag.no_grad:
            raise ValueError("boom")
    assert ag.is_grad_enabled()
    with ag.no_grad():
        with pytest.raises(KeyError):
            with ag.enable_grad():
                raise KeyError
        assert not ag.is_grad_enabled()


@pytest.mark.parametrize(
    "decorate, inside",
    # made inside the test: set_grad_enabled(...) switches the mode as soon as it is called
    [
        (lambda: ag.no_grad(), False),
        (lambda: ag.no_grad, False),
        (lambda: ag.enable_grad(), True),
        (lambda: ag.enable_grad, True),
        (lambda: ag.set_grad_enabled(False), False),
        (lambda: ag.set_grad_enabled(True), True),
    ],
    ids=[
        "no_grad()",
        "no_grad",
        "enable_grad()",
        "enable_grad",
        "set_grad_enabled(False)",
        "set_grad_enabled(True)",
    ],
)
@pytest.mark.parametrize("outside", [True, False])
def test_decorators(decorate, inside, outside):
    @decorate()
    def probe(value, *, scale=1.0):
        """Reports the grad mode it runs in."""
        return ag.is_grad_enabled(), _records(), value * scale

    assert probe.__name__ == "probe" and "grad mode" in probe.__doc__
    with ag.set_grad_enabled(outside):
        assert probe(2.0, scale=3.0) == (inside, inside, 6.0)
        assert ag.is_grad_enabled() is outside


def test_decorating_with_set_grad_enabled_does_not_switch_the_caller():
    @ag.set_grad_enabled(False)
    def f():
        return ag.is_grad_enabled()

    assert ag.is_grad_enabled(), "making the decorator must leave the mode alone"
    assert f() is False
    assert ag.is_grad_enabled()


def test_decorated_function_restores_the_mode_when_it_raises():
    @ag.no_grad
    def fails():
        raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        fails()
    assert ag.is_grad_enabled()


def test_decorated_function_used_from_another_decorated_function():
    @ag.enable_grad
    def inner():
        return _records()

    @ag.no_grad
    def outer():
        return _records(), inner(), ag.is_grad_enabled()

    assert outer() == (False, True, False)


def test_no_grad_is_per_thread():
    entered, release = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with ag.no_grad():
            entered.set()
            release.wait(5)
            seen["worker"] = (ag.is_grad_enabled(), _records())

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert entered.wait(5)
        # the worker is inside no_grad right now; this thread must not notice
        seen["main"] = (ag.is_grad_enabled(), _records())
    finally:
        release.set()
        thread.join(5)
    assert seen == {"main": (True, True), "worker": (False, False)}


def test_a_new_thread_starts_with_grad_enabled():
    seen = []
    with ag.no_grad():
        thread = threading.Thread(target=lambda: seen.append(ag.is_grad_enabled()))
        thread.start()
        thread.join(5)
        assert not ag.is_grad_enabled()
    assert seen == [True]


def test_set_grad_enabled_in_a_thread_stays_there():
    done = threading.Event()

    def worker():
        ag.set_grad_enabled(False)
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(5)
    assert done.is_set()
    assert ag.is_grad_enabled() and _records()


def test_bare_no_grad_in_two_threads_at_once():
    barrier = threading.Barrier(2, timeout=5)
    results = []

    def worker():
        with ag.no_grad:
            barrier.wait()
            results.append(ag.is_grad_enabled())
            barrier.wait()
        results.append(ag.is_grad_enabled())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(results) == [False, False, True, True]


def test_no_grad_results_and_backward():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    with ag.no_grad():
        frozen = w * 3.0
    live = w * w
    total = (live + frozen).sum()
    total.backward()
    assert not frozen.requires_grad and frozen.is_leaf
    assert w.grad.tolist() == [2.0, 4.0], "no gradient through what no_grad computed"
