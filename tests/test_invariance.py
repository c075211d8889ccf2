"""A subtracted maximum the result provably does not depend on sends no gradient
(transform/invariance.py, used by optimize.zeros; issue 18).

Where the proof holds, the generated gradient has no ``extremum_grad`` (the max's rule);
where it does not, the rule stays. Either way the gradients match finite differences,
also where a row's maximum is tied.
"""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag


def softmax_rows(z, w):
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    p = e / np.sum(e, axis=1, keepdims=True)
    return np.sum(p * w)


def log_softmax_rows(z, w):
    shifted = z - z.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return np.mean(log_probs * w)


def logsumexp_by_hand(z, w):
    m = np.max(z, axis=0, keepdims=True)
    lse = m + np.log(np.mean(np.exp(z - m), axis=0, keepdims=True))
    return np.sum(lse * w[0])


def softmax_everything(z, w):
    m = np.max(z)
    e = np.exp(z - m)
    return np.sum(w * e) / np.sum(e)


def softmin_rows(z, w):
    shifted = -z + np.min(z, axis=1, keepdims=True)
    e = np.exp(shifted)
    return np.sum(w * (e / e.sum(axis=1, keepdims=True)))


def attention_like(z, w):
    scores = z - np.max(z, axis=1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / np.sum(weights, axis=1, keepdims=True)
    return np.mean((weights @ w.T) ** 2)


PROVEN = [
    softmax_rows,
    log_softmax_rows,
    logsumexp_by_hand,
    softmax_everything,
    softmin_rows,
    attention_like,
]


# The max's gradient is needed (or the rules cannot show it is not): it stays.
def squares_of_shifted(z, w):
    y = z - np.max(z, axis=1, keepdims=True)
    return np.sum(y * y * w)


def tempered(z, w):
    y = 2.0 * (z - np.max(z, axis=1, keepdims=True))  # a shift by 2c: not a whole shift
    e = np.exp(y)
    return np.sum(w * e / np.sum(e, axis=1, keepdims=True))


def other_axis(z, w):
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    return np.sum(w * e / np.sum(e, axis=0, keepdims=True))  # c varies along axis 0


def summed_shift(z, w):
    y = z - np.max(z, axis=1, keepdims=True)
    return np.sum(w * (y - np.sum(y, axis=1, keepdims=True)))  # the sum moves by n * c


def returns_the_max_too(z, w):
    m = np.max(z, axis=1, keepdims=True)
    e = np.exp(z - m)
    return np.sum(w * e / np.sum(e, axis=1, keepdims=True)) + np.sum(m)


def broadcast_to_more_axes(z, w):
    # w3 has a leading axis: axis 1 of the difference is not the max's axis 1
    w3 = w[None, :, :] * np.ones((2, 1, 1))
    e = np.exp(w3 - np.max(z, axis=1, keepdims=True))
    return np.sum(e / np.sum(e, axis=1, keepdims=True))


def in_a_loop(z, w):
    total = 0.0
    m = np.max(z, axis=1, keepdims=True)
    for k in range(2):
        e = np.exp(z - m - k)
        total = total + np.sum(w * e / np.sum(e, axis=1, keepdims=True))
    return total + np.sum(m * m)


NOT_PROVEN = [
    squares_of_shifted,
    tempered,
    other_axis,
    summed_shift,
    returns_the_max_too,
    broadcast_to_more_axes,
    in_a_loop,
]


def _arguments(seed: int = 0, tie: bool = False) -> list:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((4, 5))
    if tie:  # rows whose largest value appears twice
        z[:, 3] = z.max(axis=1)
        z[0, 1] = z[0, 3]
    return [z, rng.standard_normal((4, 5))]


def _check_gradient(f, args) -> None:
    for mode in ("source", "tape"):
        got = ag.grad(f, wrt="z", mode=mode)(*args)
        assert_close(got, numeric_vjp(f, args, 0, 1.0), rtol=1e-5, what=f"{f.__name__} {mode}")


@pytest.mark.parametrize("f", PROVEN, ids=lambda f: f.__name__)
def test_a_max_the_result_ignores_sends_no_gradient(f) -> None:
    args = _arguments()
    source = ag.source(f, *args, wrt=("z",))
    assert "extremum_grad" not in source, source
    _check_gradient(f, args)


@pytest.mark.parametrize("f", PROVEN, ids=lambda f: f.__name__)
def test_tied_maxima_change_nothing(f) -> None:
    # The result does not depend on the max, so its gradient has no kink at ties either.
    _check_gradient(f, _arguments(1, tie=True))


@pytest.mark.parametrize("f", NOT_PROVEN, ids=lambda f: f.__name__)
def test_a_max_the_result_may_depend_on_keeps_its_gradient(f) -> None:
    args = _arguments(2)
    source = ag.source(f, *args, wrt=("z",))
    assert "extremum_grad" in source, source
    _check_gradient(f, args)


def test_the_generated_softmax_gradient_reads_no_max() -> None:
    source = ag.source(softmax_rows, *_arguments(), wrt=("z",))
    backward = source.split("scalar_seed", 1)[1].splitlines()
    code = [line for line in backward if not line.strip().startswith("#")]
    assert not any("max" in line for line in code), source
    # (z - max has z's shape: no unbroadcast)
    assert code[-2:] == ["    dz = de * e", "    return total_2, dz"], source


def rebound_in_a_loop(z, w):
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    for _ in range(1):
        e = e * e  # scale(-2) after the loop: the rules do not follow it
    return np.sum(w * e / np.sum(e, axis=1, keepdims=True)) + np.sum(e)


def test_a_value_rebound_in_a_loop_is_not_followed() -> None:
    args = _arguments(3)
    assert "extremum_grad" in ag.source(rebound_in_a_loop, *args, wrt=("z",))
    _check_gradient(rebound_in_a_loop, args)
