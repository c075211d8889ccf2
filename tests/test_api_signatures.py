"""Functions whose signature Python cannot read (builtins written in C, and NumPy's
ufuncs before NumPy 2.3) are still differentiated, with wrt given by position."""

import math

import numpy as np
import pytest
from numeric import assert_close, numeric_vjp

import astgrad as ag


class _Unreadable:
    """A ufunc as old NumPy shows it to ``inspect``: a callable with no signature."""

    def __init__(self, ufunc: np.ufunc) -> None:
        self.ufunc = ufunc
        self.nin = ufunc.nin
        self.__name__ = self.__qualname__ = ufunc.__name__

    @property
    def __signature__(self):
        raise ValueError(f"callable {self.ufunc!r} is not supported by signature")

    def __call__(self, *args):
        return self.ufunc(*args)


@pytest.mark.parametrize("mode", ["auto", "tape"])
def test_a_ufunc_without_a_signature_is_differentiated_by_position(mode):
    arctan2 = _Unreadable(np.arctan2)
    for wrt in (0, 1):
        got = ag.grad(arctan2, wrt=wrt, mode=mode)(0.3, -0.7)
        assert_close(got, numeric_vjp(np.arctan2, [0.3, -0.7], wrt, 1.0), what=f"d{wrt}")
    x = np.array([0.0, 1.0])
    value, pullback = ag.vjp(_Unreadable(np.sin), x)
    assert_close(value, np.sin(x))
    assert_close(pullback(np.array([1.0, 2.0])), np.array([1.0, 2.0]) * np.cos(x))


@pytest.mark.parametrize("mode", ["auto", "tape"])
def test_math_functions_are_differentiated_directly(mode):
    assert_close(ag.grad(math.sin, mode=mode)(0.5), math.cos(0.5))
    assert_close(ag.grad(math.erf, mode=mode)(0.3), numeric_vjp(math.erf, [0.3], 0, 1.0))
    assert_close(ag.grad(math.hypot, wrt=(0, 1), mode=mode)(3.0, 4.0), (0.6, 0.8))


def test_wrt_by_name_on_a_function_without_a_signature_says_to_use_positions():
    with pytest.raises(TypeError, match=r"cannot read the signature.*give their positions"):
        ag.grad(_Unreadable(np.sin), wrt="x")


def test_wrt_past_a_ufuncs_inputs_is_out_of_range():
    with pytest.raises(ValueError, match=r"wrt=1 is out of range: sin has 1 positional"):
        ag.grad(_Unreadable(np.sin), wrt=1)
