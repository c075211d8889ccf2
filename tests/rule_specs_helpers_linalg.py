"""Cases for the rules of the helpers of generated gradient code defined in linalg,
linalg_helpers, linalg_more, linalg_complex and scipy_rules (issue 16): rule_specs.SPECS
takes ``SPECS`` so the table-wide tests run each rule in every mode, and test_rule_arguments
takes ``REVIEWED`` (options a rule does not read, and why).

The cotangent moves (``A``), and a product's other factor; the operand whose gradient a
helper is gives only its shape (a constant of zeros), as do options.
"""

from __future__ import annotations

import numpy as np
from astgrad.runtime.rules import linalg_complex as lc
from astgrad.runtime.rules import linalg_helpers as lh
from astgrad.runtime.rules import linalg_more as lm
from astgrad.runtime.rules.helper_rules_linalg import parts_of
from astgrad.runtime.rules.linalg import pinv_to_operand
from rule_specs import SPD, SPD_2, SQUARE, SQUARE_2, A, case

_BATCH = np.stack([SQUARE, SQUARE_2])
_LOW, _LOW_2 = np.linalg.cholesky(SPD), np.linalg.cholesky(SPD_2)
# a lower triangular matrix of nine rows: solve_adjoint solves with it by a triangular solve
_LOWER = np.tril(np.linspace(-1.0, 1.0, 81).reshape(9, 9)) + 3 * np.eye(9)

SPECS: dict = {
    lh.inner_grad_left: [
        case(A((3,)), np.zeros(4), A((3, 4))),
        case(A(()), np.zeros(4), A((4,))),
        case(A((2, 3)), np.zeros((2, 4)), A((3, 4))),
        case(A((2,)), np.zeros((2, 4)), A((4,))),
        case(A((2, 3, 5)), np.zeros((2, 4)), A((3, 5, 4))),
        case(A((4,)), np.zeros(()), A((4,))),
    ],
    lh.inner_grad_right: [
        case(A((3,)), A((4,)), np.zeros((3, 4))),
        case(A(()), A((4,)), np.zeros(4)),
        case(A((2, 3)), A((2, 4)), np.zeros((3, 4))),
        case(A((2,)), A((4,)), np.zeros((2, 4))),
        case(A((2, 3, 5)), A((2, 4)), np.zeros((3, 5, 4))),
        case(A((4,)), A((4,)), np.zeros(())),
    ],
    lh.tensordot_grad_left: [
        case(A((2, 5)), np.zeros((2, 3, 4)), A((3, 4, 5))),
        case(A((2, 5)), np.zeros((2, 3)), A((3, 5)), 1),
        case(A((2, 5)), np.zeros((3, 2, 4)), A((4, 5, 3)), ([0, 2], [2, 0])),
        case(A((2, 3, 4, 5)), np.zeros((2, 3)), A((4, 5)), 0),
    ],
    lh.tensordot_grad_right: [
        case(A((2, 5)), A((2, 3, 4)), np.zeros((3, 4, 5))),
        case(A((2, 5)), A((2, 3)), np.zeros((3, 5)), 1),
        case(A((2, 5)), A((3, 2, 4)), np.zeros((4, 5, 3)), ([0, 2], [2, 0])),
        case(A((2, 3, 4, 5)), A((2, 3)), np.zeros((4, 5)), 0),
    ],
    lh.kron_grad_left: [
        case(A((6, 4)), np.zeros((2, 2)), A((3, 2))),
        case(A((6,)), np.zeros(2), A((3,))),
        case(A((2, 6)), np.zeros(2), A((2, 3))),
        case(A((2, 6)), np.zeros((2, 3)), A((2,))),
    ],
    lh.kron_grad_right: [
        case(A((6, 4)), A((2, 2)), np.zeros((3, 2))),
        case(A((6,)), A((2,)), np.zeros(3)),
        case(A((2, 6)), A((2,)), np.zeros((2, 3))),
        case(A((2, 6)), A((2, 3)), np.zeros(2)),
    ],
    lh.cross_grad: [
        # a's gradient (other = b), then b's (other = a), along the last axes
        case(A((4, 3)), A((4, 3)), np.zeros((4, 3)), -1, -1, -1, None, False),
        case(A((4, 3)), A((4, 3)), np.zeros((4, 3)), -1, -1, -1, None, True),
        # broadcast: x of one vector, other of four
        case(A((4, 3)), A((4, 3)), np.zeros(3), -1, -1, -1, None, False),
        # vectors along other axes: a's along 0, b's along 1, the result's along 0
        case(A((3, 2)), A((2, 3)), np.zeros((3, 2)), 0, 1, 0, None, False),
        case(A((3, 2)), A((3, 2)), np.zeros((2, 3)), 0, 0, 1, None, True),
        case(A((3, 2)), A((3, 2)), np.zeros((3, 2)), 0, 0, 0, 0, True),
    ],
    lh.solve_adjoint: [
        case(A((3,)), A(value=SQUARE), np.zeros(3)),
        case(A((3, 2)), A(value=SQUARE), np.zeros((3, 2))),
        case(A((2, 3)), A(value=_BATCH), np.zeros(3)),
        case(A((2, 3, 2)), A(value=_BATCH), np.zeros((2, 3, 2))),
        case(A((4, 3, 2)), A(value=SQUARE), np.zeros((4, 3, 2))),
        # (lower=True: a triangular matrix by construction; moving its upper triangle
        # would not be)
        case(A((9,)), _LOWER, np.zeros(9), True),
        case(A((9, 2)), _LOWER.T, np.zeros((9, 2)), False),
    ],
    lh.inverse: [case(A(value=SQUARE)), case(A(value=_BATCH))],
    # (low, the factor of a, as a list: moving a alone, potri would read the factor of
    # the a before the move, so the helper takes the inverse; in generated code low is
    # cholesky(a), test_helper_rules_linalg checks that road)
    lh.cholesky_inverse: [case(A(value=SPD), np.linalg.cholesky(SPD).tolist())],
    # (below eight rows the helper solves with the whole factor, so that moving its zero
    # triangle too moves the result as the rule says; a is read for its dtype only)
    lc.hermitian_cholesky_grad: [
        case(A((3, 3)), A(value=_LOW), np.asarray(SPD)),
        case(A((3, 3)), A(value=_LOW.T), np.asarray(SPD), True),
        case(A((2, 3, 3)), A(value=np.stack([_LOW, _LOW_2])), np.stack([SPD, SPD_2])),
    ],
    pinv_to_operand: [case(A((3, 3))), case(A((3, 3)), True), case(A((2, 3, 3)), True)],
    lm.tensor_system_back: [
        case(A((6, 6)), np.zeros((6, 2, 3)), None),
        case(A((6, 6)), np.zeros((2, 6, 3)), (0,)),
    ],
    lm.poly_tail_grad: [
        case(A((5,)), np.zeros(3)),
        case(A((3,)), np.zeros(3)),
        case(A((4,)), np.zeros(())),
    ],
    # (the factors as np.polyder and np.polyint's rules pass them)
    lm.poly_scaled_grad: [
        case(A((3,)), np.zeros(4), np.array([3.0, 2.0, 1.0])),
        case(A((2,)), np.zeros(4), np.array([6.0, 2.0])),
        case(A((4,)), np.zeros(3), np.array([1 / 3, 0.5, 1.0])),
    ],
    lm.polyint_constants_grad: [
        case(A((4,)), np.zeros(3), 1, np.zeros(1)),
        case(A((5,)), np.zeros(3), 2, np.zeros(2)),
        case(A((5,)), np.zeros(3), 2, np.zeros(())),
    ],
    # (gradients of the operand at position: the other operands move, it is a constant)
    lh.einsum_grad: [
        case(A((2, 4)), 1, "ij,jk->ik", np.zeros((2, 3)), A((3, 4))),
        case(A((2, 4)), 2, "ij,jk->ik", A((2, 3)), np.zeros((3, 4))),
        case(A(()), 2, "i,ij,j->", A((2,)), np.zeros((2, 3)), A((3,))),
        case(A((3,)), 1, "ii,i->i", np.zeros((3, 3)), A((3,))),
        case(A((3,)), 2, "ii,i->i", A((3, 3)), np.zeros(3)),
        case(A((2, 3)), 2, "...j,j->...j", A((2, 3)), np.zeros(3)),
        case(A((2, 3)), 1, "ij,ij->ij", np.zeros((1, 3)), A((2, 3))),
        case(A((2, 3)), 2, "ijk,ik->ij", A((2, 3, 4)), np.zeros((2, 4))),
        # the interleaved form: the first operand comes as subscripts
        case(A((2, 4)), 0, np.zeros((2, 3)), [0, 1], A((3, 4)), [1, 2]),
        case(A((2, 4)), 2, A((2, 3)), [0, 1], np.zeros((3, 4)), [1, 2], [0, 2]),
    ],
    lm.multi_dot_grads: [
        case(A((2, 4)), [A((2, 3)), A((3, 4))]),
        case(A(()), [A((3,)), A((3, 4)), A((4,))]),
        case(A((2,)), [A((2, 3)), A((3, 4)), A((4,))]),
    ],
    parts_of: [case([A((2,)), A((3, 2))]), case([A(())])],
    lh.batched_scalar: [case(A(())), case(A((3,))), case(A((2, 3))), case(A("float"))],
}

#: the operand whose gradient a product's helper is: its shape is the result's, which the
#: rule's gradients have (the other factor's gradient takes the cotangent of that shape)
_OPERAND = "gives its shape only: the result's shape says it, and the rule reads that"

REVIEWED: dict = {
    ("inner_grad_left", "a"): _OPERAND,
    ("inner_grad_right", "b"): _OPERAND,
    ("tensordot_grad_left", "a"): _OPERAND,
    ("tensordot_grad_right", "b"): _OPERAND,
    ("kron_grad_left", "a"): _OPERAND,
    ("kron_grad_right", "b"): _OPERAND,
    ("cross_grad", "x"): _OPERAND,
    ("solve_adjoint", "lower"): "says only that a is triangular, so that a triangular solve "
    "may run: the same values up to rounding",
    ("hermitian_cholesky_grad", "a"): "read for its dtype only (real or complex): for real "
    "values the gradient is a function of the cotangent and the factor",
    ("tensor_system_back", "a"): "gives its shape and number of axes only (the matrix's "
    "shape is the cotangent's)",
    ("poly_tail_grad", "a"): "gives its size only (the result's)",
    ("poly_scaled_grad", "p"): "gives its size only (the result's)",
    ("cholesky_inverse", "low"): "the Cholesky factor of a, from which a^-1 is read where it "
    "can: a function of a, whose derivative is a^-1's",
}
