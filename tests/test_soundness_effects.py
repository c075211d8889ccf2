"""Soundness of in-place changes (the effects analysis): every program of
``programs_effects`` in every mode, against finite differences, and the analysis's parts.

A refused program must raise a TransformError naming its line in source mode and be right
in auto mode (on the tape); an accepted one must be differentiated by source and be right.
Where the tape itself cannot do a program right it must say so loudly (``TAPE_REFUSES``).
"""

from __future__ import annotations

import functools

import numpy as np
import programs_effects as programs
import pytest
from astgrad.transform import dataflow, effects
from numeric import assert_close, numeric_vjp
from programs_effects import W

import astgrad as ag

# Programs the tape refuses with a clear error instead of a number (each is an in-place
# change the tape does not record: it says which and what to do).
TAPE_REFUSES = {
    "copyto": (ag.NoRuleError, "np.copyto"),
    "asanyarray_is_the_array": (ag.GradientLostError, "Converting to a NumPy array"),
    "asarray_chkfinite_is_the_array": (ag.GradientLostError, "Converting to a NumPy array"),
    "trim_zeros_is_a_view": (ag.NoRuleError, "np.trim_zeros"),
}


def _args(function):
    rng = np.random.default_rng(7)
    return [rng.normal(size=3) * 0.7 for _ in range(function.__code__.co_argcount)]


def _expected(function, args):
    def fresh_copies(*values):
        return function(*[np.copy(v) for v in values])

    return fresh_copies(*args), numeric_vjp(fresh_copies, [np.copy(a) for a in args], 0, 1.0)


def _run(function, args, mode):
    return ag.value_and_grad(function, mode=mode)(*[np.copy(a) for a in args])


@pytest.mark.parametrize("function", programs.REFUSED, ids=lambda f: f.__name__)
def test_refused_in_source_mode_naming_the_line(function):
    with pytest.raises(ag.TransformError, match=r"programs_effects\.py\", line \d+"):
        _run(function, _args(function), "source")
    report = ag.explain(function)
    assert report.mode == "tape", str(report)
    assert "programs_effects.py:" in report.fallbacks[0].where


@pytest.mark.parametrize("mode", ["auto", "tape"])
@pytest.mark.parametrize("function", programs.REFUSED, ids=lambda f: f.__name__)
def test_refused_programs_are_right_on_the_tape_or_refused_loudly(function, mode):
    args = _args(function)
    refusal = TAPE_REFUSES.get(function.__name__)
    if refusal is not None:
        error, message = refusal
        with pytest.raises(error, match=message):
            _run(function, args, mode)
        return
    value, gradient = _run(function, args, mode)
    expected_value, expected_gradient = _expected(function, args)
    assert_close(value, expected_value, what="value")
    assert_close(gradient, expected_gradient, rtol=1e-5, atol=1e-6, what="gradient")


@pytest.mark.parametrize("mode", ["source", "auto"])
@pytest.mark.parametrize("function", programs.ACCEPTED, ids=lambda f: f.__name__)
def test_accepted_programs_are_differentiated_by_source(function, mode):
    args = _args(function)
    assert ag.explain(function).mode == "source", str(ag.explain(function))
    value, gradient = _run(function, args, mode)
    expected_value, expected_gradient = _expected(function, args)
    assert_close(value, expected_value, what="value")
    assert_close(gradient, expected_gradient, rtol=1e-5, atol=1e-6, what="gradient")


def test_an_argument_rebound_in_place_must_not_be_another_argument():
    x = np.array([0.5, -1.0, 2.0])
    gradient = ag.grad(programs.rebinds_an_argument, mode="source")(x.copy(), x.copy())
    assert_close(gradient, _expected(programs.rebinds_an_argument, [x, x.copy()])[1])
    with pytest.raises(ValueError, match="`x op= ...` changes the argument `x` in place, and `w`"):
        ag.grad(programs.rebinds_an_argument, mode="source")(x, x)
    with pytest.raises(ValueError, match="shares its memory"):
        ag.grad(programs.rebinds_an_argument, mode="source")(x, x.reshape(3)[:])


def test_rebinding_a_number_argument_needs_no_check():
    def scaled(a, b):
        t = a
        a -= 0.5 * b
        return a * t

    assert "unshared_arguments" not in ag.source(scaled, 1.0, 2.0)
    assert ag.grad(scaled, mode="source")(1.0, 2.0) == pytest.approx(2 * 1.0 - 0.5 * 2.0)


def _bumped(p, q):
    for i in range(2):
        q += 0.3 * p * (1.0 + i)
        p *= 0.9
    return q * p


def _middle(p, q):
    r = _bumped(p, q)
    return r + p * q  # (p and q read after the call: an in-place change there would show)


def _calls_a_bumping_helper(a, b):
    c = a * b
    return _middle(c, b) + _middle(a, 0.5) * a


def test_a_helper_changing_its_number_parameters_in_place_is_source():
    """A helper's ``q += v`` on a parameter the caller passes a number (a float argument,
    a number it computes, a number written in the call) rebinds a number, which nothing
    else can see: each callee's derivative is made knowing those are numbers (``_middle``
    passes its own on to ``_bumped``), and the function stays in source mode (``_middle``
    went to the tape, as if its p and q were arrays that ``_bumped`` changes)."""
    report = ag.explain(_calls_a_bumping_helper, 0.7, -0.4, wrt=(0, 1))
    assert report.mode == "source", str(report)
    for mode in ("source", "auto", "tape"):
        got = ag.grad(_calls_a_bumping_helper, wrt=(0, 1), mode=mode)(0.7, -0.4)
        for i in (0, 1):
            want = numeric_vjp(_calls_a_bumping_helper, [0.7, -0.4], i, 1.0)
            assert_close(got[i], want, what=f"{mode} {i}")
    # (given arrays, the same helper's p *= 0.9 changes the caller's array: not source)
    x = np.array([0.7, 0.2])
    assert ag.explain(_calls_a_bumping_helper, x, x.copy(), wrt=(0, 1)).mode != "source"


# -- the analysis's parts ---------------------------------------------------------------------


def test_summaries_say_which_parameters_a_function_changes():
    writes = effects.summary(programs.fill_in)
    assert writes.mutates == {"buf"} and not writes.rebinds
    rebinds = effects.summary(programs.rebind_param)
    assert rebinds.rebinds == {"p"} and not rebinds.mutates and "p" in rebinds.returns
    pure = effects.summary(programs.copy_then_store)
    assert not pure.mutates and not pure.rebinds and not pure.mutates_external


def test_a_function_whose_source_cannot_be_read_may_do_anything():
    assert not effects.summary(np.sum).readable
    assert effects.summary(np.sum).mutates_external


def test_liveness_kills_a_name_rebound_at_the_top_of_a_loop():
    import gast

    tree = gast.parse(
        "def f(h, x):\n"
        "    for t in range(3):\n"
        "        row = h[t]\n"
        "        h[t] = row * x\n"
        "    return h\n"
    )
    body = tree.body[0].body
    store = body[0].body[1]
    live = dataflow.live_after_each(body)[id(store)]
    assert "row" not in live  # rebound before it is read again
    assert {"h", "x"} <= live


def _joins_with_r(x):
    y = np.r_[x, x * 2.0]
    return np.sum(y * y)


def _joins_with_c(x):
    return np.sum(np.c_[x, x] ** 2)


@pytest.mark.parametrize("function", [_joins_with_r, _joins_with_c], ids=lambda f: f.__name__)
def test_index_tricks_that_build_arrays_are_refused_not_zero(function):
    x = np.array([0.3, -0.5, 1.0])
    with pytest.raises(ag.TransformError, match=r"np\.[rc]_\[\.\.\.\]` builds an array"):
        ag.grad(function, mode="source")(x)
    with pytest.raises(ag.GradientLostError, match="np.concatenate"):
        ag.grad(function, mode="auto")(x)


def _scaled_by_constants_from_r(x):
    return np.sum(np.r_[1.0, 2.0, 3.0] * x)


def test_index_tricks_of_constants_stay_in_source():
    x = np.array([0.3, -0.5, 1.0])
    assert ag.explain(_scaled_by_constants_from_r).mode == "source"
    assert ag.grad(_scaled_by_constants_from_r, mode="source")(x).tolist() == [1.0, 2.0, 3.0]


def _squares(x):
    parts = []
    for i in range(3):
        parts.append(x[i] * x[i])
    return np.stack(parts)


def calls_a_list_building_helper(x):
    return np.sum(_squares(x) * x)


def test_a_helper_appending_to_a_list_of_its_own_is_transformed():
    # Appending to its own list changes that list only, not what is stored in it: the
    # summary once said the helper changed x, and source mode refused it.
    x = np.array([0.5, 1.0, 2.0])
    assert ag.explain(calls_a_list_building_helper).mode == "source"
    got = ag.grad(calls_a_list_building_helper, mode="source")(x)
    np.testing.assert_allclose(got, 3 * x**2)


def _product_of_all(*values):
    return values[0] * values[1]


def _product_trying(a, b):
    try:
        return a * b
    except ValueError:
        return a


def calls_helpers_that_change_nothing_on_the_tape(x):
    return np.sum(_product_of_all(x, x * 2.0) * x) + np.sum(_product_trying(x, x))


@pytest.mark.parametrize("mode", ["auto", "tape"])
def test_helpers_on_the_tape_that_change_nothing_keep_the_rest_in_source(mode):
    # (a helper with *args is read for what it may change, as one with try is: changing
    # nothing, its call runs on the tape and the rest of the function stays generated)
    x = np.array([0.3, -0.5, 0.7])
    function = calls_helpers_that_change_nothing_on_the_tape
    want = numeric_vjp(function, [x], 0, 1.0)
    assert_close(ag.grad(function, mode=mode)(x), want, rtol=1e-7, atol=1e-9, what=mode)
    if mode == "auto":
        assert ag.explain(function).mode == "mixed"


def _scale_into_recursively(buf, n):
    if n == 0:
        return buf
    buf += buf * 0.1
    return _scale_into_recursively(buf, n - 1)


def calls_a_recursive_helper_that_changes_its_argument(x):
    y = x * W
    r = _scale_into_recursively(y, 2)
    return np.sum(y * x) + np.sum(r)


def _scale_by(buf, k):
    buf *= k
    return buf


_scale_partly = functools.partial(_scale_by, k=1.5)


def calls_a_partial_that_changes_its_argument(x):
    y = x * W
    r = _scale_partly(y)
    return np.sum(y * x) + np.sum(r)


class _Scaler:
    def __init__(self, k):
        self.k = k

    def __call__(self, buf):
        buf *= self.k
        return buf

    def scale(self, buf):
        buf *= self.k
        return buf


_SCALER = _Scaler(1.5)


def calls_a_callable_object_that_changes_its_argument(x):
    y = x * W
    r = _SCALER(y)
    return np.sum(y * x) + np.sum(r)


def calls_a_global_objects_method_that_changes_its_argument(x):
    y = x * W
    r = _SCALER.scale(y)
    return np.sum(y * x) + np.sum(r)


@pytest.mark.parametrize(
    "function",
    [
        calls_a_recursive_helper_that_changes_its_argument,
        calls_a_partial_that_changes_its_argument,
        calls_a_callable_object_that_changes_its_argument,
        calls_a_global_objects_method_that_changes_its_argument,
    ],
)
def test_helpers_read_through_recursion_and_partials_that_change_an_argument(function):
    # (a recursive helper was taken to be unreadable and its call left to the tape's checks,
    # but the transform generates its outer call: ag.jvp's auto mode rebound the argument
    # and gave a wrong value and tangent. A partial ran on the tape from generated code,
    # which changed a copy in forward mode; a callable object or a global object's method
    # raised the tape's run-time refusal. Now a recursive helper is summarized to a fixed
    # point, a partial, bound method or callable object through its function, and the
    # caller runs on the tape)
    x = np.array([0.3, -0.5, 0.7])
    v = np.array([0.2, 0.1, -0.4])
    assert ag.explain(function).mode == "tape"
    want = numeric_vjp(lambda z: function(z.copy()), [x], 0, 1.0)
    for mode in ("auto", "tape"):
        assert_close(ag.grad(function, mode=mode)(x.copy()), want, rtol=1e-7, atol=1e-9, what=mode)
        value, tangent = ag.jvp(function, (x.copy(),), (v,), mode=mode)
        assert_close(value, function(x.copy()), rtol=1e-12, atol=0, what=mode)
        assert_close(tangent, want @ v, rtol=1e-7, atol=1e-9, what=mode)
    with pytest.raises(ag.TransformError, match="in place|has no derivative rule"):
        ag.grad(function, mode="source")(x.copy())


def _made_by_exec():
    namespace: dict = {}
    exec("def scale(buf):\n    buf *= 1.5\n    return buf\n", namespace)
    return namespace["scale"]


_unreadable_scale = _made_by_exec()


def calls_an_unreadable_helper_that_changes_its_argument(x):
    y = x * W
    r = _unreadable_scale(y)
    return np.sum(y * x) + np.sum(r)


def test_a_call_on_the_tape_from_generated_code_may_not_change_its_argument():
    # (a helper the analysis cannot read at all runs on the tape from generated code, which
    # reads the caller's array after the call: a write into it raises, in reverse and
    # forward mode, where the tape had taken it on a copy, a wrong gradient and tangent)
    x = np.array([0.3, -0.5, 0.7])
    v = np.array([0.2, 0.1, -0.4])
    function = calls_an_unreadable_helper_that_changes_its_argument
    assert ag.explain(function).mode == "mixed"
    with pytest.raises(RuntimeError, match="called on the tape from generated code changes"):
        ag.grad(function, mode="auto")(x.copy())
    with pytest.raises(RuntimeError, match="called on the tape from generated code changes"):
        ag.jvp(function, (x.copy(),), (v,), mode="auto")
    want = numeric_vjp(lambda z: function(z.copy()), [x], 0, 1.0)
    assert_close(ag.grad(function, mode="tape")(x.copy()), want, rtol=1e-7, atol=1e-9, what="tape")
    value, tangent = ag.jvp(function, (x.copy(),), (v,), mode="tape")
    assert_close(tangent, want @ v, rtol=1e-7, atol=1e-9, what="tape jvp")


def test_storing_a_tensor_into_an_element_of_a_plain_array_says_so_on_the_tape():
    # (NumPy turned the GradientLostError into "setting an array element with a sequence")
    def stores(x):
        b = np.sin(W)
        b[2] = np.sum(x) * 0.5
        return np.sum(b * x)

    with pytest.raises(ag.GradientLostError, match="storing into a NumPy array element"):
        ag.grad(stores, mode="tape")(np.array([0.3, -0.5, 0.7]))
    x = np.array([0.3, -0.5, 0.7])  # (source mode differentiates it)
    assert_close(ag.grad(stores)(x), numeric_vjp(stores, [x], 0, 1.0), rtol=1e-7, atol=1e-9)


def test_asarray_of_a_plain_array_is_the_array_itself_on_the_tape():
    # s = np.asarray(v) is v: on the tape it was a tensor wrapping v's memory, so the write
    # changed v's values while v's reads carried no gradient (found differentiating the
    # hostile random program 111 with respect to w alone). v refuses the write instead.
    def stores_through_asarray(x, w):
        v = np.sin(x) * 0.8
        s = np.asarray(v)
        s[1] = v[3] * w[0]
        return np.sum(v * v) + np.sum(s * w)

    x, w = np.array([0.3, -0.5, 0.7, 0.2]), np.array([0.4, 0.1, -0.6, 0.9])
    for mode in ("auto", "tape"):
        with pytest.raises(ag.GradientLostError, match="storing into a NumPy array element"):
            ag.grad(stores_through_asarray, wrt=1, mode=mode)(x.copy(), w.copy())

    def fresh(a, b):
        return stores_through_asarray(a.copy(), b.copy())

    with pytest.raises(ag.TransformError, match="may share its memory"):
        ag.grad(stores_through_asarray, wrt=(0, 1), mode="source")(x.copy(), w.copy())
    # with respect to both, v is a tensor, and s the same tensor: right on the tape
    for mode in ("auto", "tape"):
        dx, dw = ag.grad(stores_through_asarray, wrt=(0, 1), mode=mode)(x.copy(), w.copy())
        assert_close(dx, numeric_vjp(fresh, [x, w], 0, 1.0), rtol=1e-6, atol=1e-8, what=mode)
        assert_close(dw, numeric_vjp(fresh, [x, w], 1, 1.0), rtol=1e-6, atol=1e-8, what=mode)
