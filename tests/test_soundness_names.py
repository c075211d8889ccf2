"""Names cannot mix functions up: two functions of one ``__name__``, wrappers named like
what they wrap, callees named like generated functions, chains of lambdas, and user
names equal to a helper's or a builtin's each give the gradient central differences
give, in every mode and through ``grad``, ``value_and_grad`` and ``vjp``."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from modules import write_module
from numeric import assert_close, numeric_vjp

import astgrad as ag

MODES = ("source", "auto", "tape")
XS = [1.0, 2.0, -0.5]


@pytest.fixture
def module(tmp_path, request):
    """Write a test's module source and import it (each test gets its own name)."""
    made = []

    def make(source: str):
        name = f"soundness_names_{request.node.name.split('[')[0]}_{len(made)}"
        made.append(name)
        return write_module(tmp_path, name, "import functools\nimport numpy as np\n" + source)

    yield make
    for name in made:
        sys.modules.pop(name, None)


def check_every_way(fun, *args, wrt=0, modes=MODES):
    """grad, value_and_grad and vjp of ``fun`` at ``args`` against central differences."""
    expected = numeric_vjp(fun, list(args), wrt, 1.0)
    value = fun(*args)
    for mode in modes:
        what = f"{getattr(fun, '__qualname__', fun)} ({mode})"
        assert_close(ag.grad(fun, wrt=wrt, mode=mode)(*args), expected, what=f"grad {what}")
        got_value, gradient = ag.value_and_grad(fun, wrt=wrt, mode=mode)(*args)
        assert_close(got_value, value, what=f"value_and_grad value {what}")
        assert_close(gradient, expected, what=f"value_and_grad {what}")
        got_value, pullback = ag.vjp(fun, *args, wrt=wrt, mode=mode)
        assert_close(got_value, value, what=f"vjp value {what}")
        assert_close(pullback(1.0), expected, what=f"vjp {what}")


# -- functions sharing a name ---------------------------------------------------------------


def test_a_redefined_function_calling_its_old_self(module):
    m = module("def f(x):\n    return x * 3.0\nsquare = f\ndef f(x):\n    return square(x) * x\n")
    check_every_way(m.f, 1.5)


def test_two_functions_of_one_name_called_by_a_third(module):
    m = module(
        "def f(x):\n    return np.sin(x)\n"
        "first = f\n"
        "def f(x):\n    return x ** 3\n"
        "def both(x):\n    return first(x) * f(x)\n"
    )
    check_every_way(m.both, 0.7)
    assert m.first is not m.f and m.first.__name__ == m.f.__name__


def test_a_chain_of_lambdas(module):
    m = module("g = lambda x: np.sin(x) * 2\nh = lambda x: g(x) + 1\nk = lambda x: h(x) * g(x)\n")
    check_every_way(m.h, 0.7)
    check_every_way(m.k, 0.7)


def test_a_callee_named_like_the_callers_gradient(module):
    m = module(
        "def caller(x, y):\n    return caller_grad(x) * x + caller_grad(y) * x\n"
        "def caller_grad(x):\n    return x * x\n"
        "def caller_forward(x):\n    return x + 1.0\n"
        "def other(x):\n    return caller_forward(x) * caller(x, 2.0)\n"
    )
    check_every_way(m.caller, 1.5, 2.0)
    check_every_way(m.caller, 1.5, 2.0, wrt=1)
    check_every_way(m.other, 0.3)


# -- wrappers -------------------------------------------------------------------------------


def test_a_wrapper_named_like_what_it_wraps_is_what_runs(module):
    m = module(
        "def doubled(fn):\n"
        "    @functools.wraps(fn)\n"
        "    def wrapper(x):\n"
        "        return fn(x) * 2.0\n"
        "    return wrapper\n"
        "@doubled\n"
        "def cube(x):\n    return x ** 3\n"
        "def calls_cube(x):\n    return cube(x) + x\n"
    )
    assert m.cube.__name__ == "cube" and m.cube.__wrapped__(2.0) == 8.0
    check_every_way(m.cube, 1.5, modes=("auto", "tape"))  # 6 x**2, not 3 x**2
    check_every_way(m.calls_cube, 1.5, modes=("auto", "tape"))
    # In source mode the wrapper's own code is differentiated, or refused; never the
    # wrapped function's source.
    for fun, expected in ((m.cube, 6 * 1.5**2), (m.calls_cube, 6 * 1.5**2 + 1)):
        try:
            got = ag.grad(fun, mode="source")(1.5)
        except ag.TransformError as exc:
            assert "decorator" in str(exc) or "wrap" in str(exc), str(exc)
        else:
            assert_close(got, expected)


def test_a_wrapper_taking_any_arguments_runs_on_the_tape(module):
    m = module(
        "def logged(fn):\n"
        "    @functools.wraps(fn)\n"
        "    def wrapper(*args, **kwargs):\n"
        "        return fn(*args, **kwargs) + 1.0\n"
        "    return wrapper\n"
        "@logged\n"
        "def f(x):\n    return np.sum(np.tanh(x))\n"
    )
    check_every_way(m.f, np.array([0.1, -0.4]), modes=("auto", "tape"))
    assert ag.explain(m.f).mode == "tape"


def test_a_function_decorated_with_no_grad_has_no_gradient(module):
    m = module(
        "import astgrad as ag\n"
        "@ag.no_grad()\n"
        "def frozen(x):\n    return x * x\n"
        "def f(x):\n    return frozen(x) + 3.0 * x\n"
    )
    for mode in ("auto", "tape"):
        assert_close(ag.grad(m.f, mode=mode)(1.5), 3.0, what=mode)


# -- user names equal to helper names --------------------------------------------------------

HELPER_NAMES = (
    "scalar_seed", "unbroadcast", "unbroadcast_to", "pop_run", "stack", "push", "pop", "dx",
    "f_grad", "f_forward", "f_backward", "saved", "shape_of", "sequence_length", "result",
    "index", "count", "builtin_len", "tape_call",
)  # fmt: skip


def test_user_locals_named_like_helpers(module):
    # Every name a straight function's and a loop's gradient use, bound by the user.
    chain = "\n".join(
        f"    {name} = {previous} * 0.5 + x"
        for previous, name in zip(("x",) + HELPER_NAMES, HELPER_NAMES)
    )
    m = module(
        f"def f(x):\n{chain}\n    return {HELPER_NAMES[-1]} * x\n"
        "def looped(x, xs):\n"
        "    stack = x\n    push = 0.5\n    pop = 0.0\n"
        "    for i, v in enumerate(xs):\n"
        "        pop_run = stack * v\n"
        "        stack = pop_run + push * x\n"
        "        pop = pop + stack\n"
        "    saved = 0\n"
        "    while saved < 2:\n"
        "        stack = stack * x\n        saved = saved + 1\n"
        "    return stack + pop\n"
    )
    check_every_way(m.f, 1.3)
    check_every_way(m.looped, 1.1, XS)


def test_user_globals_named_like_helpers(module):
    names = ("scalar_seed", "unbroadcast", "pop_run", "stack", "push", "saved", "sequence_length")
    defs = "".join(f"def {n}(x):\n    return x * {i + 2}.0\n" for i, n in enumerate(names))
    calls = " + ".join(f"{n}(x)" for n in names)
    m = module(
        f"{defs}def f(x, xs):\n"
        f"    total = {calls}\n"
        "    for v in xs:\n        total = total * v + push(x)\n"
        "    return total * x\n"
    )
    check_every_way(m.f, 0.9, XS)


def test_helpers_the_user_defines_but_does_not_call(module):
    # A module's own scalar_seed or unbroadcast must not stand in for astgrad's.
    m = module(
        "def scalar_seed(v):\n    raise RuntimeError('the user scalar_seed')\n"
        "def unbroadcast(*a):\n    raise RuntimeError('the user unbroadcast')\n"
        "def pop_run(*a):\n    raise RuntimeError('the user pop_run')\n"
        "def f(x, b):\n"
        "    for _ in range(3):\n        x = x * b\n"
        "    return np.sum(x + b)\n"
    )
    check_every_way(m.f, np.array([0.5, 1.5]), np.array([[1.2], [0.7]]))
    check_every_way(m.f, np.array([0.5, 1.5]), np.array([[1.2], [0.7]]), wrt=1)


def test_a_helper_the_user_imported_under_the_gradients_own_name(module):
    # The gradient of trapezoid_spacing calls astgrad's trapezoid_spacing_grad, which the
    # module imported: the generated function must not take that name (it called itself).
    m = module(
        "from astgrad.runtime.rules.numerical import trapezoid_spacing_grad  # noqa: F401\n"
        "def trapezoid_spacing(x):\n"
        "    return np.trapezoid(x ** 2, dx=x[0] * x[1]) ** 2\n"
    )
    check_every_way(m.trapezoid_spacing, np.array([0.3, 0.5, 0.7, 0.2]))


# -- builtins the generated code needs --------------------------------------------------------

SHADOWING = (
    "def range(*a):\n    raise RuntimeError('the user range')\n"
    "def len(*a):\n    raise RuntimeError('the user len')\n"
    "def list(*a):\n    raise RuntimeError('the user list')\n"
    "def slice(*a):\n    raise RuntimeError('the user slice')\n"
)


def test_a_module_defining_range_len_list_slice_that_f_never_uses(module):
    m = module(
        SHADOWING + "def f(x, xs):\n"
        "    total = 0.0\n"
        "    for i, v in enumerate(xs):\n        total = total + v * x ** i\n"
        "    k = 0\n"
        "    while k < 2:\n        total = total * x\n        k = k + 1\n"
        "    for v in reversed(xs):\n        total = total + v * x\n"
        "    return total\n"
        "def sliced(x):\n"
        "    y = np.zeros(4)\n    y[1:3] = x\n    y[::2] = y[::2] + x * x\n"
        "    return np.sum(y * y)\n"
    )
    check_every_way(m.f, 1.2, XS)
    check_every_way(m.sliced, np.array([0.3, -0.8]))
    assert "range(" in ag.source(m.f)  # still the readable name


def test_a_module_len_that_f_calls_and_a_loop_that_needs_the_builtin(module):
    m = module(
        "def len(xs):\n    return 2\n"
        "def f(x, xs):\n"
        "    total = 0.0\n"
        "    for i, v in enumerate(xs):\n        total = total + v * x * len(xs)\n"
        "    return total\n"
    )
    check_every_way(m.f, 1.5, XS)
    assert_close(ag.grad(m.f, mode="source")(1.5, XS), 2 * sum(XS))


def test_locals_and_closure_variables_named_like_builtins(module):
    m = module(
        "def local_names(x, xs):\n"
        "    len = 3.0\n    list = x * 2.0\n    range = 0.5\n"
        "    total = 0.0\n"
        "    for i, v in enumerate(xs):\n        total = total + v * x * len + list * range\n"
        "    return total\n"
        "def make(scale):\n"
        "    range = scale\n"
        "    def inner(x, xs):\n"
        "        total = 0.0\n"
        "        for i, v in enumerate(xs):\n            total = total + v * x * range\n"
        "        return total\n"
        "    return inner\n"
    )
    check_every_way(m.local_names, 1.5, XS)
    check_every_way(m.make(4.0), 1.5, XS)
