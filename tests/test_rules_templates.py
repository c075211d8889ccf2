"""runtime/rules/templates: the one parse of a rule that the tape's kernels and the
transform's inlining share, the one way both leave out an outer ``unbroadcast``, and the
math module's rules translated from NumPy's."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from astgrad.runtime.rules import lookup, mathmodule
from astgrad.runtime.rules.templates import compile_kernel, gradient, parse, translate


def test_gradient_leaves_out_only_the_outer_unbroadcast_of_its_own_parameter():
    rule = lookup(np.multiply)
    namespace = rule.vjp.__globals__
    kept = gradient(rule.template, 0, namespace, same_shape=False)
    left_out = gradient(rule.template, 0, namespace, same_shape=True)
    assert kept is rule.template.outputs[0]
    assert left_out is kept.args[0]  # unbroadcast(g * y, x) -> g * y


def test_a_kernel_strips_what_gradient_strips_and_keeps_what_it_is_told_to():
    rule = lookup(np.add)
    fn, stripped, _, _ = compile_kernel(rule.vjp, rule.template, (0, 1), keep=(False, True))
    assert stripped == (True, False)
    g = np.ones((2, 3))
    dx, dy = fn(g, None, np.zeros((2, 3)), np.zeros(3))
    assert dx is g and dy.shape == (3,)


def test_math_rules_are_numpys_on_floats():
    # math.atan2's rule is np.arctan2's without unbroadcast, and reads math's functions.
    atan2 = lookup(math.atan2).vjp
    assert atan2.__module__ == mathmodule.__name__
    source = inspect.getsource(atan2)
    assert "unbroadcast" not in source and "np." not in source
    assert "math.cos" in inspect.getsource(lookup(math.sin).vjp)
    assert lookup(math.atan2).vjp(1.0, None, 1.0, 2.0) == pytest.approx((0.4, -0.2))
    # The ones with arguments or points of their own are written out.
    assert lookup(math.log).vjp.__code__.co_filename == mathmodule.__file__


def test_a_rule_that_reads_what_the_new_module_lacks_is_no_translation():
    def reads_a_helper(g, ans, x):
        return g * np.sign(x)

    with pytest.raises(ValueError, match="np.sign, which math lacks"):
        translate(reads_a_helper, "fabs", {"np": "math"}, {"__name__": "m", "math": math})


def test_parse_refuses_bodies_that_are_not_assignments_and_a_return():
    def branches(g, ans, x):
        if x > 0:
            return g
        return -g

    assert parse(branches) is None
