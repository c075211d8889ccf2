"""Forward mode spreads a tangent over its result (``spread_tangent``) only where the sum
of contributions may be smaller than the result: not for ``u * u``, whose operands are one
value, whatever its shape (in a loop that changes it the shape classes know none), nor
where every operand moves (their contributions span the broadcast shape), and still where
an operand that does not move may broadcast the result larger."""

from __future__ import annotations

import numpy as np
import pytest

import astgrad as ag


def shrinking_squares(u, n):
    for _ in range(n):
        u = u[1:] * 0.5
    return np.sum(u * u)


def product(u, v):
    return np.sum(u * v)


def broadcast_sum(u, v):
    return np.sum(u + v)


SQUARES_EXPECTED = """\
def shrinking_squares_jvp(u, n, *, du):
    # tangent of: for _ in range(n):
    for _ in range(n):
        # tangent of: u = u[1:] * 0.5
        u_item = u[1:]
        du_item = du[1:]
        u = u_item * 0.5
        du = du_item * 0.5
    # tangent of: return np.sum(u * u)
    mul = u * u
    dmul = 2 * du * u
    total = np.sum(mul)
    dtotal = np.sum(dmul)
    return total, tangent_out(dtotal, total)
"""

PRODUCT_EXPECTED = """\
def product_jvp(u, v, *, du, dv):
    # tangent of: return np.sum(u * v)
    mul = u * v
    dmul = du * v + dv * u
    total = np.sum(mul)
    dtotal = np.sum(dmul)
    return total, tangent_out(dtotal, total)
"""

BROADCAST_SUM_EXPECTED = """\
def broadcast_sum_jvp(u, v, *, du):
    # tangent of: return np.sum(u + v)
    add = u + v
    dadd = spread_tangent(du, add)
    total = np.sum(add)
    dtotal = np.sum(dadd)
    return total, tangent_out(dtotal, total)
"""


def _directional(f, args, tangents, eps=1e-6):
    up = f(*[a + eps * t if t is not None else a for a, t in zip(args, tangents)])
    down = f(*[a - eps * t if t is not None else a for a, t in zip(args, tangents)])
    return (up - down) / (2 * eps)


def test_a_square_needs_no_spread():
    source = ag.source(shrinking_squares, np.ones(5), 2, wrt=0, forward=True)
    assert source.strip() == SQUARES_EXPECTED.strip()


def test_operands_that_all_move_need_no_spread():
    source = ag.source(product, np.ones(5), np.ones(5), wrt=(0, 1), forward=True)
    assert source.strip() == PRODUCT_EXPECTED.strip()


def test_an_operand_of_unknown_shape_that_does_not_move_keeps_it():
    source = ag.source(broadcast_sum, np.ones(5), np.ones(5), wrt=0, forward=True)
    assert source.strip() == BROADCAST_SUM_EXPECTED.strip()


@pytest.mark.parametrize("mode", ["source", "auto"])
def test_square_in_a_shrinking_loop_against_differences(mode):
    rng = np.random.default_rng(4)
    u, du = rng.standard_normal(6), rng.standard_normal(6)
    value, tangent = ag.jvp(shrinking_squares, (u, 3), (du, None), mode=mode)
    assert np.isclose(value, shrinking_squares(u, 3))
    expected = _directional(lambda u: shrinking_squares(u, 3), (u,), (du,))
    np.testing.assert_allclose(tangent, expected, rtol=1e-7)


@pytest.mark.parametrize("moving", [(0,), (1,), (0, 1)])
def test_broadcasting_operands_against_differences(moving):
    rng = np.random.default_rng(5)
    u, v = rng.standard_normal(4), rng.standard_normal((3, 4))
    for f in (product, broadcast_sum):
        tangents = [
            rng.standard_normal(np.shape(a)) if i in moving else None for i, a in enumerate((u, v))
        ]
        _, tangent = ag.jvp(f, (u, v), tuple(tangents), mode="source")
        np.testing.assert_allclose(tangent, _directional(f, (u, v), tangents), rtol=1e-7)
