"""A call that rebinds a module global while the differentiated function runs.

Generated code reads a global again in its backward pass and calls the derivatives of the
functions globals held when it was made; a helper's ``global K; K = v`` (or
``globals()["K"] = v``, ``sys.modules[__name__].K = v``, ...) part-way through made the
gradient silently wrong while ``explain`` said ``source``. Now such a call is refused in
source mode, naming the user's line and what the callee does (transform/global_writes.py),
and ``mode="auto"`` runs the function on the tape, which reads each global when Python
does. The tape itself had a hole here too: a helper writing ``globals()[...]`` wrote into
the tape's globals shim, which nothing else read.
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
from astgrad.transform.global_writes import rebinding
from modules import write_module
from numeric import assert_close, numeric_vjp

import astgrad as ag

SOURCE = textwrap.dedent(
    """
    import functools
    import sys

    import numpy as np

    K = 0.5


    def act(v):
        return np.tanh(v)


    ACT = act
    LOG = []


    def set_k(v):
        global K
        K = v


    def set_k_through_a_helper(v):
        set_k(v)


    def set_k_by_globals(v):
        globals()["K"] = v


    def set_k_by_module(v):
        sys.modules[__name__].K = v


    def set_k_by_setattr(v):
        setattr(sys.modules[__name__], "K", v)


    def set_k_by_exec(v):
        exec(f"K = {v}", globals())


    set_k_partly = functools.partial(set_k, v=2.0)


    def set_act(f):
        global ACT
        ACT = f


    class Scale:
        def apply(self, v):
            global K
            K = v


    def scaled(x):
        return x * K


    def two_scales(x):
        a = np.sum(x * K)
        set_k(2.0)
        b = np.sum(x * K)
        set_k(0.5)
        return a + b


    def two_scales_indirect(x):
        a = np.sum(x * K)
        set_k_through_a_helper(2.0)
        b = np.sum(scaled(x))
        set_k_through_a_helper(0.5)
        return a + b


    def two_scales_partial(x):
        a = np.sum(x * x * K)
        set_k_partly()
        b = np.sum(x * K)
        set_k(0.5)
        return a + b


    def two_scales_globals(x):
        a = np.sum(x * x * K)
        set_k_by_globals(2.0)
        b = np.sum(x * K)
        set_k_by_globals(0.5)
        return a + b


    def two_scales_module(x):
        a = np.sum(np.sin(x) * K)
        set_k_by_module(2.0)
        b = np.sum(x * K)
        set_k_by_module(0.5)
        return a + b


    def two_scales_setattr(x):
        a = np.sum(x * K)
        set_k_by_setattr(2.0)
        b = np.sum(x * x * K)
        set_k_by_setattr(0.5)
        return a + b


    def two_scales_exec(x):
        a = np.sum(x * K)
        set_k_by_exec(2.0)
        b = np.sum(x * x * K)
        set_k_by_exec(0.5)
        return a + b


    def two_activations(x):
        a = np.sum(ACT(x))
        set_act(np.sin)
        b = np.sum(ACT(x) * x)
        set_act(act)
        return a + b


    def scale_growing_in_a_loop(x):
        s = 0.0
        for i in range(3):
            s = s + np.sum(x * x * K)
            set_k(K + 1.0)
        set_k(0.5)
        return s


    def through_a_method(x):
        a = np.sum(x * K)
        Scale().apply(3.0)
        b = np.sum(x * K)
        Scale().apply(0.5)
        return a + b


    def logs_and_reads(x):
        LOG.append(1)
        LOG.clear()
        return np.sum(scaled(x) * x)
    """
)

#: program -> the line of the call refused, and what the message says the callee does
REBINDING = {
    "two_scales": ("set_k(2.0)", "binds the global `K`"),
    "two_scales_indirect": ("set_k_through_a_helper(2.0)", "calls `set_k`, which binds"),
    "two_scales_globals": ("set_k_by_globals(2.0)", "calls `globals()`"),
    "two_scales_module": ("set_k_by_module(2.0)", "sets the attribute `K`"),
    "two_scales_setattr": ("set_k_by_setattr(2.0)", "calls `setattr`"),
    "two_scales_exec": ("set_k_by_exec(2.0)", "calls `exec()`"),
    "two_scales_partial": ("set_k_partly()", "binds the global `K`"),
    "two_activations": ("set_act(np.sin)", "binds the global `ACT`"),
    "scale_growing_in_a_loop": ("set_k(K + 1.0)", "binds the global `K`"),
    "through_a_method": ("Scale().apply(3.0)", "binds the global `K`"),
}

X = np.array([0.3, -0.5, 0.7, 0.2])


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    loaded = write_module(tmp_path_factory.mktemp("globals_rebound"), "globals_rebound", SOURCE)
    yield loaded
    sys.modules.pop("globals_rebound", None)


def _numeric(function):
    return numeric_vjp(lambda x: function(x), [X.copy()], 0, 1.0)


@pytest.mark.parametrize("name", sorted(REBINDING))
def test_source_mode_refuses_the_call_at_the_users_line(name, module):
    line, why = REBINDING[name]
    with pytest.raises(ag.TransformError) as raised:
        ag.grad(getattr(module, name), mode="source")(X.copy())
    message = str(raised.value)
    assert "globals_rebound.py" in message and line in message, message
    assert why in message and 'mode="auto"' in message, message
    assert module.K == 0.5 and module.ACT is module.act


@pytest.mark.parametrize("mode", ["auto", "tape"])
@pytest.mark.parametrize("name", sorted(REBINDING))
def test_auto_and_tape_follow_the_rebinding(name, mode, module):
    function = getattr(module, name)
    want = _numeric(function)
    gradient = ag.grad(function, mode=mode)
    for call in range(2):
        assert_close(gradient(X.copy()), want, rtol=1e-6, atol=1e-8, what=f"{name} call {call}")
    # (put back: on the tape, reading the global ``act`` gives its tape version)
    assert module.K == 0.5 and module.ACT.__code__ is module.act.__code__
    module.ACT = module.act
    if mode == "auto":
        assert ag.explain(function).mode == "tape"


@pytest.mark.parametrize(
    "name", ["two_scales", "two_scales_globals", "two_activations", "two_scales_partial"]
)
def test_forward_mode_refuses_in_source_and_is_right_in_auto(name, module):
    function = getattr(module, name)
    tangent = np.array([1.0, -2.0, 0.5, 3.0])
    with pytest.raises(ag.TransformError, match="while the function runs"):
        ag.jvp(function, (X.copy(),), (tangent,), mode="source")
    value, derivative = ag.jvp(function, (X.copy(),), (tangent,), mode="auto")
    assert value == pytest.approx(function(X.copy()), rel=1e-12)
    assert derivative == pytest.approx(float(_numeric(function) @ tangent), rel=1e-6)


def test_a_helper_that_changes_a_global_list_but_rebinds_nothing_stays_source(module):
    gradient = ag.grad(module.logs_and_reads, mode="source")
    assert_close(gradient(X.copy()), 2 * 0.5 * X, rtol=1e-12, atol=0, what="gradient")


def test_what_the_scan_says(module):
    assert rebinding(module.set_k) == "binds the global `K`"
    assert rebinding(module.set_k_through_a_helper) == "calls `set_k`, which binds the global `K`"
    assert "globals()" in rebinding(module.set_k_by_globals)
    assert "may be a module" in rebinding(module.set_k_by_module)
    assert "setattr" in rebinding(module.set_k_by_setattr)
    assert "exec()" in rebinding(module.set_k_by_exec)
    assert "Scale.apply" in rebinding(module.Scale)
    # reading globals, changing a global list, library functions, an object's attributes
    for harmless in (module.scaled, module.act, module.logs_and_reads, np.tanh, print):
        assert rebinding(harmless) is None, harmless

    class Holder:
        def __init__(self, w):
            self.w = w

        def set(self, v):
            self.w = v * 2.0

    assert rebinding(Holder) is None
    assert rebinding(lambda v: [v * u for u in range(3)]) is None


def test_a_nested_function_or_a_closure_that_rebinds_is_seen(module):
    def outer(x):
        def inner(v):
            global K
            K = v

        inner(x)

    callee = module.set_k

    def calls_a_cell(x):
        callee(x)

    assert rebinding(outer) == "binds the global `K`"
    assert rebinding(calls_a_cell) == "calls `callee`, which binds the global `K`"


def test_a_module_attribute_set_through_its_global_name(tmp_path):
    other = write_module(tmp_path, "globals_rebound_other", "K = 1.0\n")
    try:
        namespace = {"other": other}
        exec("def set_other(v):\n    other.K = v\n", namespace)
        assert rebinding(namespace["set_other"]) == (
            "sets `globals_rebound_other.K`, a global of that module"
        )
        library = {"np": np}
        exec("def set_numpy_attr(v):\n    np.some_flag = v\n", library)
        assert rebinding(library["set_numpy_attr"]) is None  # (NumPy's, not the user's)
    finally:
        sys.modules.pop("globals_rebound_other", None)


# -- the tape's Hessians of functions whose gradient is constant -----------------------------


LINEAR = textwrap.dedent(
    """
    import numpy as np


    def linear(x):
        return np.sum(x * 0.5)


    def constant(x):
        return 3.0


    def only_x(x, y):
        return np.sum(x * x)


    def vector(x):
        return x * x
    """
)


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    loaded = write_module(tmp_path_factory.mktemp("linear_hessians"), "linear_hessians", LINEAR)
    yield loaded
    sys.modules.pop("linear_hessians", None)


@pytest.mark.parametrize("mode", ["tape", "auto", "source"])
def test_hessians_of_linear_and_constant_functions_are_zero_in_every_mode(mode, linear):
    x = np.array([0.3, -0.5, 0.7])
    for function in (linear.linear, linear.constant):
        if mode == "source" and function is linear.constant:
            continue  # (nothing to differentiate: the transform says so)
        np.testing.assert_array_equal(ag.hessian(function, mode=mode)(x), np.zeros((3, 3)))
    blocks = ag.hessian(linear.only_x, wrt=(0, 1), mode=mode)(x, x)
    np.testing.assert_array_equal(blocks[0][0], 2 * np.eye(3))
    for block in (blocks[0][1], blocks[1][0], blocks[1][1]):
        np.testing.assert_array_equal(block, np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"returns a value of shape \(3,\); the Hessian"):
        ag.hessian(linear.vector, mode=mode)(x)
