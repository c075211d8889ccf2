"""Second derivatives through the structural helpers of generated gradient code (issue 16):
user functions whose gradients call ``concatenate_grads``, ``unstack``, ``tile_grad``,
``unpad``, ``take_grad``, ``scatter_grad``, ``select_grads``, ``spread``, ``chosen``,
``full_cotangent``, ``meshgrid_grad``... (the rules of
runtime/rules/helper_rules_structure.py), differentiated again in every mode: the Hessian
(batched where it can be), Hessian-vector products and the gradient of a gradient, each
against central differences of the first derivative."""

from __future__ import annotations

import numpy as np
import pytest
from astgrad.runtime.rules import (
    builtins_,
    containers,
    indexing,
    numerical,
    rearranging,
    rearranging_more,
    results,
    selection,
    shared,
)
from test_batched_derivatives import _check_hessian

import astgrad as ag

EPS = 1e-6
MODES = ("source", "auto", "tape")


def joins(x):
    y = np.concatenate([np.sin(x), x[:2] ** 2])
    s = np.stack([x, np.cos(x)], axis=1)
    h = np.hstack([x**2, np.tanh(x)])
    v = np.vstack([x, x**3])
    return np.sum(y**3) + np.sum(s[:, 0] * s[:, 1] ** 2) + np.sum(h * h[::-1]) + np.sum(v[0] * v[1])


def more_joins(x):
    d = np.dstack([x, x**2])
    c = np.column_stack([np.sin(x), x])
    flat = np.concatenate([x.reshape(2, 2), np.cos(x).reshape(2, 2)], axis=None)
    return np.sum(d[0, :, 0] * d[0, :, 1] ** 2) + np.sum(c[:, 0] ** 2 * c[:, 1]) + np.sum(flat**3)


def copies(x):
    z = np.tile(np.sin(x), 2) * np.repeat(x, 2)
    d = np.diag(np.outer(x, z[:4]))
    return np.sum(z**2) + np.sum(d**3) + np.sum(np.pad(x, 1, mode="reflect") ** 3)


def splits_and_reshapes(x):
    a, b = np.split(x**2, 2)
    m = np.reshape(np.sin(x), (2, 2), order="F")
    return np.sum(a * b) + np.sum(m**3) + np.sum(np.diagonal(np.outer(x, x) ** 2))


def split_items(x):
    # (the parts' cotangents put at their positions in the list: scatter_grad of a list)
    parts = np.split(x**2, 2)
    return np.sum(parts[0] * np.sin(parts[1])) + np.sum(parts[1] ** 3)


def padded(x):
    p = np.pad(x, (1, 2), constant_values=x[0])
    return np.sum(np.tanh(p) * np.arange(7.0)) + np.sum(np.pad(x**2, 2, mode="wrap") ** 2)


def indexed(x):
    t = np.take(np.sin(x), np.array([0, 2, 2, 3]))
    a = np.take_along_axis(np.outer(x, x), np.array([[1], [0], [3], [2]]), axis=1)
    y = x * 1.0
    y[1:3] = x[:2] ** 2
    z = np.cos(x)
    z[np.array([0, 0, 3])] = x[1:] ** 3
    return np.sum(t**3) + np.sum(a**2 * x[:, None]) + np.sum(y**3) + np.sum(z * y)


def selected(x):
    p = np.partition(x**2 * np.array([1.0, 3.0, -1.0, 0.5]), 1)
    c = np.real(x.astype(complex) ** 2)
    s = np.select([x > 0.5, x < 0.3], [x**2, np.sin(x)], default=x**3)
    ch = np.choose(np.array([0, 1, 1, 0]), [x**2, np.cos(x)])
    arr = np.array([x[0] ** 2, x[1] * x[2], x[3]])
    return np.sum(p[:2] ** 2) + np.sum(c * x) + np.sum(s**2) + np.sum(ch * x) + np.sum(arr**3)


def builtins_used(x):
    total = sum([x**2, np.sin(x), x[::-1]])
    m = max([np.sum(x**2), np.sum(np.sin(x))])
    return np.sum(total**2) + m**2


def blocks(x):
    b = np.block([x[:2] ** 2, np.sin(x), x[3]])
    return np.sum(b**3 * np.arange(1.0, 8.0))


def windows(x):
    c = np.convolve(x**2, np.array([1.0, -2.0, 0.5]), mode="same")
    gx, gy = np.meshgrid(x, x[:2] ** 2)
    return np.sum(c**2) + np.sum(gx * gy**2)


# through the helpers of numerical.py marked transformable: reverse and forward mode
# differentiate their source
def interp_outside(x):
    return np.sum(
        np.interp(
            np.array([-1.0, 0.5, 3.0]),
            np.array([0.0, 1.0, 2.0]),
            x[:3] ** 2,
            left=x[3] ** 3,
            right=np.sin(x[0]),
        )
        ** 2
    )


def trapezoid_spacing(x):
    return np.trapezoid(x**2, dx=x[0] * x[1]) ** 2


def logspace_base(x):
    return np.sum(np.logspace(x[0], x[1], 4, base=1.5 + x[2] ** 2) * x[3])


def ediff1d_ends(x):
    return np.sum(np.ediff1d(x**2, to_end=np.sin(x[:2]), to_begin=x[3] ** 3) ** 2)


# in loops, where the backward pass gets only the shapes of what the helpers read for their
# shapes (choices_grads' choices, pad_fill_grad's constant_values, meshgrid_grad's grids)
def loop_choose(x):
    s = 0.0
    for i in range(3):
        c = np.choose(np.array([0, 1, 0, 1]), [x * (i + 1.0), np.sin(x)])
        s = s + np.sum(c**2)
        x = x * 1.1
    return s


def loop_pad(x):
    s = 0.0
    for i in range(3):
        p = np.pad(x, (1, 2), constant_values=x[i] ** 2)
        s = s + np.sum(np.tanh(p) * np.arange(7.0))
        x = np.sin(x)
    return s


def loop_mesh(x):
    s = 0.0
    for _ in range(2):
        a, b = np.meshgrid(x, x[:2] ** 2)
        s = s + np.sum(a * b**2)
        x = np.cos(x)
    return s


FUNCTIONS = [
    joins,
    more_joins,
    copies,
    splits_and_reshapes,
    split_items,
    padded,
    indexed,
    selected,
    builtins_used,
    blocks,
    windows,
    interp_outside,
    trapezoid_spacing,
    logspace_base,
    ediff1d_ends,
    loop_choose,
    loop_pad,
    loop_mesh,
]


def _gradient_differences(function, x):
    gradient = ag.grad(function, mode="source")
    columns = []
    for k in range(x.size):
        step = np.zeros_like(x)
        step[k] = EPS
        columns.append((gradient(x + step) - gradient(x - step)) / (2 * EPS))
    return np.stack(columns, axis=-1)


def _point(seed=3):
    return np.random.default_rng(seed).uniform(0.2, 0.9, 4)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_gradient_matches_differences(function, mode):
    """The first derivative the Hessians differentiate (and take differences of)."""
    x = _point()
    expected = [(function(x + EPS * e) - function(x - EPS * e)) / (2 * EPS) for e in np.eye(4)]
    np.testing.assert_allclose(ag.grad(function, mode=mode)(x), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_hessian_matches_differences_of_the_gradient(function, mode):
    x = _point()
    expected = _gradient_differences(function, x)
    got = ag.hessian(function, mode=mode)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_hvp_matches_differences_of_the_gradient(function, mode):
    x = _point()
    v = np.random.default_rng(4).standard_normal(4)
    gradient = ag.grad(function, mode="source")
    expected = (gradient(x + EPS * v) - gradient(x - EPS * v)) / (2 * EPS)
    got = ag.hvp(function, (x,), (v,), mode=mode)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_batched_hessian_runs(function, monkeypatch):
    """One batched run over the generated gradient (forward mode through the helpers'
    rules), equal to one Hessian-vector product per direction and to differences."""
    assert _check_hessian(function, (_point(),), [0], monkeypatch)


W = np.array([0.3, -1.2, 0.7, 2.0])
_joins_gradient = ag.grad(joins)
_copies_gradient = ag.grad(copies)


def joins_gradient_along_w(x):
    return np.sum(_joins_gradient(x) * W)


def copies_gradient_along_w(x):
    return np.sum(_copies_gradient(x) * W)


@pytest.mark.parametrize("mode", ["source", "auto"])
@pytest.mark.parametrize(
    "outer, inner", [(joins_gradient_along_w, joins), (copies_gradient_along_w, copies)]
)
def test_gradient_of_a_function_calling_a_gradient(outer, inner, mode):
    """``ag.grad`` of a function that calls a gradient: the Hessian applied to W."""
    x = _point()
    expected = _gradient_differences(inner, x) @ W
    got = ag.grad(outer, mode=mode)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.__name__)
def test_reverse_jacobian_of_the_gradient(function):
    """Reverse mode over the generated gradient: its pullback runs the helpers' vjp
    rules (the transposes), one row of the Hessian per cotangent."""
    x = _point()
    expected = _gradient_differences(function, x)
    got = ag.jacobian(ag.grad(function, mode="source"), mode="reverse")(x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


# -- the transformable helpers, differentiated by reverse mode as user code is ---------------

_WHERE = np.array([True, False, True])


def via_outside_grad(value, g):
    return np.sum(numerical.outside_grad(g, value, _WHERE) ** 2)


def via_trapezoid_spacing_grad(dx, g):
    return np.sum(
        numerical.trapezoid_spacing_grad(g, np.sin(dx) * np.arange(1.0, 4.0), None, dx, 0) ** 2
    )


def via_logspace_base_grad(base, g):
    ans = np.logspace(0.5, 1.5, 3, True, base)
    return np.sum(numerical.logspace_base_grad(g, ans, 0.5, 1.5, 3, True, base, 0) ** 2)


def via_ediff1d_grad(ary, g):
    return np.sum(numerical.ediff1d_grad(g, ary, None, ary[:1], "ary") ** 2) + np.sum(
        numerical.ediff1d_grad(g, ary, None, ary[:1], "to_begin") ** 2
    )


#: function, the moving value's shape, the cotangent's shape
TRANSFORMABLE = {
    "outside_grad": (via_outside_grad, (), (3,)),
    "trapezoid_spacing_grad": (via_trapezoid_spacing_grad, (), ()),
    "logspace_base_grad": (via_logspace_base_grad, (), (3,)),
    "ediff1d_grad": (via_ediff1d_grad, (3,), (3,)),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMABLE))
def test_reverse_mode_differentiates_a_transformable_helper(name):
    function, value_shape, g_shape = TRANSFORMABLE[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    value, g = rng.uniform(0.5, 1.5, value_shape), rng.standard_normal(g_shape)
    got = ag.grad(function, wrt=(0, 1), mode="source")(value, g)
    for k, moving in enumerate((value, g)):
        expected = np.zeros(np.shape(moving))
        for i in np.ndindex(np.shape(moving)):
            step = np.zeros(np.shape(moving))
            step[i] = EPS
            moved = [value, g]
            moved[k] = moving + step
            up = function(*moved)
            moved[k] = moving - step
            expected[i] = (up - function(*moved)) / (2 * EPS)
        np.testing.assert_allclose(got[k], expected, rtol=1e-6, atol=1e-8)


# -- an assignment through an index that repeats a position ------------------------------------

_REPEATS = (np.array([2, 0, 2, 1, 0]), slice(None))
_READ_WEIGHTS = np.arange(1.0, 11.0).reshape(5, 2)


def assigned_value_read(g):
    """What flows to v through ``x[[2, 0, 2, 1, 0], :] = v`` for the cotangent g of x:
    only the last write to each row of x gets its cotangent (v's rows 2, 3 and 4); the
    writes they overwrote (rows 0 and 1) get zero."""
    return np.sum(indexing.assigned_value_grad(g**2, _REPEATS) * _READ_WEIGHTS)


@pytest.mark.parametrize("mode", MODES)
def test_assigned_value_grad_through_repeated_positions(mode):
    g = np.random.default_rng(8).standard_normal((3, 2))
    got = ag.grad(assigned_value_read, mode=mode)(g)
    expected = np.zeros_like(g)
    for i in np.ndindex(g.shape):
        step = np.zeros_like(g)
        step[i] = EPS
        expected[i] = (assigned_value_read(g + step) - assigned_value_read(g - step)) / (2 * EPS)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
    # (the rows that reach v: written last at positions 2, 3 and 4 of the index)
    assert np.all(got[0] != 0) and np.all(got[1] != 0) and np.all(got[2] != 0)
    tangent = np.ones_like(g)
    _, forward = ag.jvp(assigned_value_read, (g,), (tangent,), mode=mode)
    np.testing.assert_allclose(forward, np.sum(expected * tangent), rtol=1e-6)


_NESTED = [[np.zeros(2), np.zeros(1)], [np.zeros(3)]]


def block_of_nested_lists(g):
    return np.sum(rearranging_more.block_grads(g**2, _NESTED)[1][0])


def test_nested_blocks_differentiated_again_are_refused():
    """np.block's gradient of nested lists is nested Parts, which block_grads' rule has no
    flat form of: reverse mode over it says so (its forward rule takes them, and the tape
    records the helper's own operations)."""
    g = np.arange(1.0, 7.0).reshape(2, 3)
    expected = np.zeros_like(g)
    expected[1] = 2 * g[1]
    np.testing.assert_allclose(ag.grad(block_of_nested_lists, mode="tape")(g), expected)
    with pytest.raises(NotImplementedError, match="np.block of nested lists"):
        ag.grad(block_of_nested_lists, mode="source")(g)
    _, tangent = ag.jvp(block_of_nested_lists, (g,), (np.ones_like(g),), mode="source")
    assert tangent == pytest.approx(2 * np.sum(g[1]))


# -- the explicit forward rules, inlined: hvp is reverse mode over the forward code ----------
# Each function calls one helper on its (moving) cotangent g, with constants for what the
# helper reads for shapes, and ends in a nonlinearity so that the Hessian is not zero.

_Z2, _Z3 = np.zeros(2), np.zeros(3)
_PICKS = np.array([0, 2, 1, 0])


def _bend(y):
    return np.sum(np.sin(y) * y)


def through_concatenate_grads(g):
    parts = rearranging.concatenate_grads(g[:5], [_Z2, _Z3])
    return _bend(parts[0]) + _bend(parts[1] * 2.0)


def through_unstack(g):
    parts = rearranging.unstack(g.reshape(2, 3), [_Z3, _Z3])
    return _bend(parts[0]) * _bend(parts[1])


def through_stacks(g):
    h = rearranging.hstack_grads(g[:5], [_Z2, _Z3])
    v = rearranging.vstack_grads(g.reshape(3, 2), [_Z2, np.zeros((2, 2))])
    d = rearranging.dstack_grads(g.reshape(1, 3, 2), [_Z3, _Z3])
    c = rearranging.column_stack_grads(g.reshape(3, 2), [_Z3, _Z3])
    return _bend(h[1]) + _bend(v[1] * v[0]) + _bend(d[0] - d[1]) + _bend(c[0] ** 2)


def through_select_grads(g):
    parts = selection.select_grads(g[:3], [g[:3] > 0.0, g[:3] < -0.5], [_Z3, np.zeros(())])
    return _bend(parts[0]) + _bend(parts[1])


def through_unstack_like(g):
    parts = selection.unstack_like(g[:4].reshape(2, 2), [_Z2, _Z2])
    return _bend(parts[0] * parts[1])


def through_output_parts(g):
    parts = shared.output_parts(g.reshape(2, 3), [_Z3, _Z3])
    return _bend(parts[0]) + _bend(parts[1] ** 2)


def through_results_grad(g):
    parts = results.results_grad([g[:2], g[2:5]], [_Z2, _Z3], [_Z2, _Z3])
    return _bend(parts[0]) + _bend(parts[1]) + _bend(results.results_grad(g, np.zeros(6), 0.0))


def through_add_adjoints(g):
    arrays = containers.add_adjoints(g, g[::-1] ** 2)
    lists = containers.add_adjoints([g, g[:2]], [g**2, g[2:4]])
    return _bend(arrays) + _bend(lists[0]) * _bend(lists[1])


def through_spread(g):
    parts = builtins_.spread(g.reshape(2, 3), [_Z3, np.zeros((2, 3))])
    rows = builtins_.spread(g[:3], np.zeros((4, 3)))
    return _bend(parts[0]) + _bend(parts[1] ** 2) + _bend(rows)


def through_chosen(g):
    parts = builtins_.chosen(g[:2], _Z2 + 1.0, [_Z2, _Z2 + 1.0])
    rows = builtins_.chosen(g[:3], _Z3, np.zeros((2, 3)) + np.array([[1.0], [0.0]]))
    return _bend(parts[1]) + _bend(rows)


def through_choices_grads(g):
    parts = rearranging_more.choices_grads(g[:4], np.zeros(4), _PICKS, [np.zeros(4)] * 3, "raise")
    return _bend(parts[0]) + _bend(parts[1]) * _bend(parts[2])


def through_blocks(g):
    pieces = rearranging_more.block_pieces(g[:5], [_Z2, _Z3], [_Z2, _Z3])
    parts = rearranging_more.block_grads(g[:5], [_Z3, _Z2])
    return _bend(pieces[0]) * _bend(pieces[1]) + _bend(parts[0] ** 2)


THROUGH = [
    through_concatenate_grads,
    through_unstack,
    through_stacks,
    through_select_grads,
    through_unstack_like,
    through_output_parts,
    through_results_grad,
    through_add_adjoints,
    through_spread,
    through_chosen,
    through_choices_grads,
    through_blocks,
]


@pytest.mark.parametrize("mode", ["source", "auto"])
@pytest.mark.parametrize("function", THROUGH, ids=lambda f: f.__name__)
def test_hvp_through_an_explicit_forward_rule(function, mode):
    rng = np.random.default_rng(sum(map(ord, function.__name__)))
    g, v = rng.uniform(-1.0, 1.0, 6), rng.standard_normal(6)
    gradient = ag.grad(function, mode="source")
    expected = (gradient(g + EPS * v) - gradient(g - EPS * v)) / (2 * EPS)
    got = ag.hvp(function, (g,), (v,), mode=mode)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
