"""Objects of the user's classes where the generated code once computed something else
than Python (found by the random class programs, tests/random_programs_classes.py).

- ``c.level = v`` on an object the function made, where ``level`` is a property with a
  setter: generated code bound the attribute instead of running the setter;
- ``c + c`` or ``c += v`` on such an object: taken for array arithmetic, where Python
  runs the class's ``__add__`` / ``__iadd__``;
- ``copy.deepcopy`` / ``copy.copy`` on the tape copied a tensor's graph, not its values.

Each is now refused in source mode (``TransformError`` at the line) and right in auto
mode (on the tape) and on the tape, against central differences.
"""

from __future__ import annotations

import copy
import sys
import textwrap

import numpy as np
import pytest
from modules import write_module
from numeric import assert_close, numeric_vjp

import astgrad as ag

SOURCE = textwrap.dedent(
    """
    import copy

    import numpy as np


    class Level:
        def __init__(self, v):
            self.v = v

        @property
        def level(self):
            return np.mean(self.v)

        @level.setter
        def level(self, value):
            self.v = self.v * 0.5 + value


    class Summed:
        def __init__(self, v, w):
            self.v = v
            self.w = w

        def __add__(self, other):
            return Summed(self.v + other.v * 0.5, self.w)

        def energy(self):
            return np.sum(self.v * self.w)


    class Growing:
        def __init__(self, v):
            self.v = v

        def __iadd__(self, a):
            self.v = self.v + a * 2.0
            return self


    def set_through_a_property(x, w):
        c = Level(x * 1.0)
        c.level = np.sum(w)
        return np.sum(c.v * c.v)


    def objects_added(x, w):
        c = Summed(x * 1.0, np.ones(3))
        d = c + c
        return d.energy() + np.sum(c.v * c.v) + np.sum(w)


    def object_added_into(x, w):
        c = Growing(x * 1.0)
        c += w
        return np.sum(c.v * c.v)


    def array_deep_copied(x, w):
        v = x * w
        d = copy.deepcopy(v)
        return np.sum(d * d)


    def object_deep_copied(x, w):
        c = Level(x * w)
        d = copy.deepcopy(c)
        return np.sum(d.v * d.v) + np.sum(c.v)


    def array_copied_then_changed(x, w):
        v = x * w
        d = copy.copy(v)
        d += 1.0
        return np.sum(d * v)
    """
)

REFUSED = ["set_through_a_property", "objects_added", "object_added_into"]
COPIES = ["array_deep_copied", "object_deep_copied", "array_copied_then_changed"]


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    loaded = write_module(tmp_path_factory.mktemp("soundness_classes"), "soundness_classes", SOURCE)
    yield loaded
    sys.modules.pop("soundness_classes", None)


def _check(function, mode):
    x, w = np.array([0.3, -0.5, 0.7]), np.array([1.1, 0.4, -0.6])
    got = ag.grad(function, wrt=(0, 1), mode=mode)(x.copy(), w.copy())
    for position, g in enumerate(got):
        want = numeric_vjp(lambda a, b: function(a.copy(), b.copy()), [x, w], position, 1.0)
        assert_close(g, want, rtol=1e-7, atol=1e-9, what=f"{function.__name__} {position}")


@pytest.mark.parametrize("name", REFUSED)
def test_what_runs_a_method_of_the_class_is_refused_in_source_mode(name, module):
    function = getattr(module, name)
    with pytest.raises(ag.TransformError, match=r"soundness_classes\.py\", line \d+"):
        _check(function, "source")
    assert ag.explain(function, wrt=(0, 1)).mode == "tape"


@pytest.mark.parametrize("mode", ["auto", "tape"])
@pytest.mark.parametrize("name", REFUSED + COPIES)
def test_auto_and_tape_are_right(name, mode, module):
    _check(getattr(module, name), mode)


def test_a_deep_copy_of_a_leaf_made_by_hand_is_a_leaf_of_its_own_as_in_pytorch():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    copied = copy.deepcopy(w)
    assert copied.is_leaf and copied.requires_grad and copied is not w
    np.testing.assert_array_equal(copied.grad.numpy(), [2.0, 4.0])
    (copied * 3.0).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])  # (no path back to w)
    y = w * 2.0
    assert copy.deepcopy(y).grad_fn is not None  # (a result: a copy that records)


NAMED = textwrap.dedent(
    """
    from typing import NamedTuple

    import numpy as np


    class Pair(NamedTuple):
        v: np.ndarray
        gain = 0.7


    def scaled_by_a_class_attribute(x, w):
        p = Pair(x * w)
        return np.sum(p.v) * p.gain
    """
)


@pytest.mark.parametrize("mode", ["auto", "tape", "source"])
def test_a_namedtuple_class_attribute_is_no_field(mode, tmp_path):
    # (generated code took p.gain for a field and raised ValueError in add_field)
    module = write_module(tmp_path, "named_class_attribute", NAMED)
    try:
        if mode == "source":
            with pytest.raises(ag.TransformError, match="class attribute of Pair, not a field"):
                _check(module.scaled_by_a_class_attribute, mode)
        else:
            _check(module.scaled_by_a_class_attribute, mode)
    finally:
        sys.modules.pop("named_class_attribute", None)
