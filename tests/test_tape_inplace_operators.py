"""``**=``, ``%=``, ``@=`` and ``//=`` on the tape write into the array, as NumPy's do.

Without them Python fell back on ``**`` and rebound the name, so an alias taken before
(``z = y; y **= 2``) kept the old value on the tape where NumPy's alias sees the new one:
a silently wrong gradient, in ``mode="tape"`` and in ``"auto"`` (which sends aliased
in-place writes to the tape).
"""

from __future__ import annotations

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag


def power_through_alias(x):
    y = x * 1.0
    z = y
    y **= 2
    return np.sum(z * x)


def remainder_through_alias(x):
    y = x * 3.0
    z = y
    y %= 2.0
    return np.sum(z * x)


def matmul_through_alias(x):
    y = np.outer(x, x)
    z = y
    y @= np.array([[2.0, 0.5], [0.0, 1.0]])
    return np.sum(z * z)


def remainder_of_arrays(x):
    return np.sum((x * x) % (x + 2.0))


def divmod_parts(x):
    whole, part = divmod(x * 3.0, 2.0)
    return np.sum(whole * x + part * part)


PROGRAMS = [
    power_through_alias,
    remainder_through_alias,
    matmul_through_alias,
    remainder_of_arrays,
    divmod_parts,
]


@pytest.mark.parametrize("mode", ["tape", "auto"])
@pytest.mark.parametrize("function", PROGRAMS, ids=lambda f: f.__name__)
def test_matches_finite_differences(function, mode):
    x = np.array([0.3, 0.55])  # away from the jumps of % and //
    assert_close(ag.grad(function, mode=mode)(x), numeric_vjp(function, [x], 0, 1.0))


def test_the_alias_sees_the_write():
    y = ag.tensor([1.0, 2.0], requires_grad=True) * 1.0
    z = y
    y **= 2
    assert z is y and z.tolist() == [1.0, 4.0]
    assert type(z.grad_fn).__name__ != "MulBackward"  # the power was recorded on it


def test_floor_division_carries_no_gradient():
    x = ag.tensor([1.5, 2.5], requires_grad=True)
    assert not (x // 2).requires_grad and not (3.0 // x).requires_grad
    assert (x // 2).tolist() == [0.0, 1.0]
    plain = ag.tensor([3.0, 5.0])
    plain //= 2
    assert plain.tolist() == [1.0, 2.0]
    y = x * 1.0
    with pytest.raises(RuntimeError, match=r"^`t //= v` on a tensor that requires grad"):
        y //= 2
