"""Cases for the rules of the helpers of generated gradient code defined in reductions,
statistics, complex and transfers (issue 16): rule_specs.SPECS takes ``SPECS`` so the table-
wide tests run each rule in every mode, and test_rule_arguments takes ``REVIEWED`` (options
a rule does not read, and why)."""

from __future__ import annotations

import numpy as np
from astgrad.runtime.rules import complex as complex_rules
from astgrad.runtime.rules import helper_rules_reductions, reductions
from rule_specs import A, case

#: values with ties at the maximum (row 0, and with initial=3.0) and a zero
_TIED = np.array([[1.0, 3.0, 3.0], [0.0, -1.0, 2.0]])
_MASK = np.array([[True, True, False], [True, False, True]])
_WITH_ZERO = [2.0, 0.0, 5.0, -1.5]
_TWO_ZEROS = [0.0, 3.0, 0.0, 2.0]
_W3 = [0.5, 1.5, 1.0]
_W23 = [[0.4, 1.1, 0.9], [1.3, 0.6, 2.0]]
_W42 = [[0.5, 1.0], [1.5, 0.3], [0.8, 1.2], [2.0, 0.7]]
_NAN = np.array([[1.0, np.nan, 2.0], [0.5, -1.0, np.nan]])


def _extremum_cases() -> list:
    flat = _TIED.reshape(-1)
    return [
        case(A(()), np.max(flat), flat),
        case(A((2,)), np.max(_TIED, axis=1), _TIED, 1),
        case(A((2, 1)), np.max(_TIED, axis=1, keepdims=True), _TIED, 1, True),
        case(A((3,)), np.min(_TIED, axis=0), _TIED, 0),
        case(
            A((2,)),
            np.max(_TIED, axis=1, initial=3.0, where=_MASK),
            _TIED,
            1,
            False,
            3.0,
            _MASK,
        ),
    ]


def _initial_extremum_cases() -> list:
    return [
        case(A((2,)), np.max(_TIED, axis=1, initial=3.0), _TIED, 1, False, 3.0),
        case(
            A((2,)),
            np.max(_TIED, axis=1, initial=2.5, where=_MASK),
            _TIED,
            1,
            False,
            2.5,
            _MASK,
        ),
        case(A(()), np.min(_TIED, initial=-1.0), _TIED, None, False, -1.0),
    ]


SPECS: dict = {
    reductions.extremum_grad: _extremum_cases(),
    reductions.initial_extremum_grad: _initial_extremum_cases(),
    reductions.prod_grad: [
        case(A(()), A((4,))),
        case(A(()), A((4,), value=_WITH_ZERO)),
        case(A(()), A((4,), value=_TWO_ZEROS)),
        case(A((2,)), A((2, 3)), 1),
        case(A((3,)), A((2, 3), value=[[1.5, 0.0, 2.0], [-1.0, 0.5, 0.0]]), 0),
        case(A((1, 3)), A((2, 3)), 0, True),
        case(A((3,)), A((2, 3, 2)), (0, 2)),
        case(A((2,)), A((2, 3)), 1, False, A("float"), _MASK),
        case(A(()), A(())),
    ],
    reductions.cumprod_grad: [
        case(A((4,)), np.zeros(4), A((4,)), 0),
        case(A((4,)), np.zeros(4), A((4,), value=_WITH_ZERO), 0),
        case(A((4,)), np.zeros(4), A((4,), value=_TWO_ZEROS)),
        case(A((2, 3)), np.zeros((2, 3)), A((2, 3)), 1),
        case(A((6,)), np.zeros(6), A((2, 3), value=[[1.5, 0.0, 2.0], [-1.0, 0.5, 3.0]])),
    ],
    reductions.nanmean_grad: [
        case(A(()), _NAN[0]),
        case(A((2,)), _NAN, 1),
        case(A((1, 3)), np.array([[1.0, np.nan, 2.0], [0.5, -1.0, 3.0]]), 0, True),
    ],
    reductions.diff_grad: [
        case(A((3,)), np.zeros(4)),
        case(A((2, 2)), np.zeros((2, 4)), 2, -1),
        case(A((3, 4)), np.zeros((3, 4)), 1, 0, np.zeros((1, 4))),
        case(A((3, 4)), np.zeros((3, 4)), 1, 0, np.zeros((1, 4)), None, "prepend"),
        case(A((4,)), np.zeros(4), 1, -1, None, 0.0, "append"),
        case(A((6,)), np.zeros(4), 1, -1, np.zeros(2), 0.0, "a"),
    ],
    reductions.average_grad: [
        case(A(()), np.float64(0.0), np.zeros(4)),
        case(A((2,)), np.zeros(2), np.zeros((2, 3)), 1, A((3,), value=_W3)),
        case(A((3,)), np.zeros(3), np.zeros((2, 3)), 0, A((2, 3), value=_W23)),
        case(A((2, 1)), np.zeros((2, 1)), np.zeros((2, 3)), 1, A((2, 3), value=_W23), False, True),
        case(
            (A((2,)), A((2,))),
            (np.zeros(2), np.zeros(2)),
            np.zeros((2, 3)),
            1,
            A((3,), value=_W3),
            True,
        ),
        case(A((3,)), np.zeros(3), np.zeros((2, 3, 4)), (2, 0), A((4, 2), value=_W42)),
    ],
    reductions.average_weights_grad: [
        case(A(()), np.float64(0.0), A((4,)), None, A((4,), value=[0.5, 1.2, 0.8, 2.0])),
        case(A((2,)), np.zeros(2), A((2, 3)), 1, A((3,), value=_W3)),
        case(A((3,)), np.zeros(3), A((2, 3)), 0, A((2, 3), value=_W23)),
        case(A((2, 1)), np.zeros((2, 1)), A((2, 3)), 1, A((2, 3), value=_W23), False, True),
        case(
            (A((2,)), A((2,))), (np.zeros(2), np.zeros(2)), A((2, 3)), 1, A((3,), value=_W3), True
        ),
        case(A((3,)), np.zeros(3), A((2, 3, 4)), (2, 0), A((4, 2), value=_W42)),
    ],
    reductions.gradient_grad: [
        case(A((4,)), np.zeros(4), np.zeros(4)),
        case(A((5,)), np.zeros(5), np.zeros(5), (0.5,), None, 2),
        case(
            (A((2, 3)), A((2, 3))),
            (np.zeros((2, 3)), np.zeros((2, 3))),
            np.zeros((2, 3)),
            (0.5, np.array([0.0, 0.3, 1.0])),
        ),
        case(A((3, 4)), np.zeros((3, 4)), np.zeros((3, 4)), (), 1),
    ],
    helper_rules_reductions.gradient_along: [
        case(A((4,))),
        case(A((5,)), (0.5,), None, 2),
        case(A((2, 3)), (0.5, np.array([0.0, 0.3, 1.0]))),
        case(A((3, 4)), (), 1),
    ],
    complex_rules.conjugated: [case(A((3,))), case(A((2, 2)))],
    complex_rules.imag_grad: [
        case(A((3,)), np.zeros(3)),
        case(A((3,)), np.zeros(3, dtype=complex)),
    ],
    complex_rules.angle_grad: [
        case(A((3,)), A((3,))),
        case(A((3,)), np.array([1 + 1j, -2 + 0.5j, 0.0], dtype=np.complex64)),
        case(A((3,)), np.array([1 + 1j, -2 + 0.5j, 0.3 - 1j], dtype=np.complex64), True),
    ],
    complex_rules.fit_shape: [
        case(A((3,)), np.zeros(5)),
        case(A((2, 4)), np.zeros((3, 2))),
        case(A((3,)), np.zeros(3)),
        case(A((4,)), np.zeros(2, dtype=complex)),
    ],
    complex_rules.rfft_grad: [
        case(A((4,)), np.zeros(6), None, -1, None),
        case(A((2, 3)), np.zeros((2, 5)), None, 1, "ortho"),
        case(A((5, 3)), np.zeros((6, 3)), 8, 0, "forward"),
    ],
    complex_rules.irfft_grad: [
        case(A((6,)), np.zeros(4, dtype=complex), None, -1, None),
        case(A((2, 7)), np.zeros((2, 4)), 7, 1, "ortho"),
        case(A((5, 2)), np.zeros((4, 2), dtype=complex), 5, 0, "forward"),
    ],
}

REVIEWED: dict = {
    ("cumprod_grad", "product"): "cumprod's result, which cumprod_grad computes again from "
    "a: its rules differentiate it in a alone",
    ("gradient_grad", "derivatives"): "np.gradient's results, read for how many there are "
    "(one per axis): the cotangent's parts say it",
    ("gradient_grad", "f"): "the result's shape says it, and the rule reads that shape",
    ("rfft_grad", "a"): "the result's shape says it (the input's length along the axis), and "
    "the rule reads that shape",
}
