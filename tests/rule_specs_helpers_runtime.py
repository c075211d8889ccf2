"""Cases for the rules of the helpers of generated gradient code defined in
runtime/adjoints.py, element_adjoints.py, fallback.py, objects.py and primitives.py (issue
16): rule_specs.SPECS takes ``SPECS`` so the table-wide tests run each rule in every mode,
and test_rule_arguments takes ``REVIEWED`` (options a rule does not read, and why).

The adjoint each helper takes moves (``A``; a list's adjoint is a list of its items',
lists and tuples of ``A``); the container, index and array that give only a structure
are constants. Dicts' adjoints, which the harness does not draw, are checked end to end
in tests/test_batched_containers.py.
"""

from __future__ import annotations

import numpy as np
from astgrad.runtime import adjoints, element_adjoints, objects
from astgrad.runtime.rules import helper_rules_runtime as runtime_rules
from rule_specs import A, case

SPECS: dict = {
    element_adjoints.gradient_buffer: [
        case(A((3,)), np.zeros(3)),
        case(A(()), np.zeros((2, 3))),
        case(A((3,)), np.zeros((2, 3), dtype=np.float32)),
        case(A((2,)), None),
    ],
    adjoints.add_at: [
        case(A((4,)), np.zeros(4), 2, A(())),
        case(A((4,)), np.zeros(4), np.array([0, 2, 0]), A((3,))),
        case(A((3, 2)), np.zeros((3, 2)), slice(0, 2), A((2,))),
        case([A((3,)), A(()), A((2,))], [np.zeros(3), 0.0, np.zeros(2)], 2, A((2,))),
        case((A((2,)), A((3,))), (np.zeros(2), np.zeros(3)), 0, A((2,))),
        case(
            [A((2,)), A((2,)), A((2,))],
            [np.zeros(2), np.zeros(2), np.zeros(2)],
            slice(1, None),
            [A((2,)), A((2,))],
        ),
    ],
    # add_at's value. Where it adds in place (an index of ints and slices), it changes the
    # adjoint it is given, which generated code owns and the harness reuses: its cases
    # take the sum's road here, and tests/test_adds_in_place.py checks the other.
    element_adjoints.add_scattered: [
        case(A((4,)), np.zeros(4), np.array([0, 2, 0]), A((3,))),
        case(A((3, 2)), np.zeros((3, 2)), [2, 0], A((2, 2))),
    ],
    adjoints.adjoint_item: [
        case([A((3,)), A((2,))], 1),
        case((A((2,)), A(())), 0),
        case(A((3, 2)), 1),
    ],
    adjoints.stored_adjoint: [
        case(A((3,)), np.zeros(3)),
        case(A((2, 3)), np.zeros(3)),
        case(A((3,)), 1.0),
    ],
    adjoints.unpack_adjoint: [
        case((np.zeros(2), np.zeros(3)), [A((2,)), A((3,))]),
        case(np.zeros((2, 3)), [A((3,)), A((3,))]),
    ],
    runtime_rules.joined: [
        case([A((2,)), A((3,))], (np.zeros(2), np.zeros(3)), [np.ones(2), np.ones(3)]),
        case([A((3,)), A((3,))], np.zeros((2, 3)), [np.ones(3), 0]),
    ],
    runtime_rules.rows_of: [
        case(A((2, 3)), np.zeros((2, 3)), [np.ones(3), 0]),
        case((A((2,)), A((3,))), (np.zeros(2), np.zeros(3)), [np.ones(2), np.ones(3)]),
    ],
    runtime_rules.placed: [
        case(A((2,)), [np.zeros(3), np.zeros(2)], 1),
        case(A(()), np.zeros(4), 2),
        case(A((2,)), np.zeros((3, 2)), 0),
        case([A((2,)), A((2,))], [np.zeros(2), np.zeros(2), np.zeros(2)], slice(1, None)),
    ],
    runtime_rules.picked: [
        case([A((3,)), A((2,))], [np.zeros(3), np.zeros(2)], 0),
        case(A((4,)), np.zeros(4), np.array([1, 1, 3])),
        case(A((3, 2)), np.zeros((3, 2)), 2),
    ],
    # (an adjoint that is not a dict of fields passes through: a dict's case is in
    # tests/test_batched_containers.py, as the harness draws arrays)
    objects.without_field: [case(A((3,)), "W")],
}

_STRUCTURE = "gives only the structure (lengths, keys, shapes) of the result"

REVIEWED: dict = {
    ("add_at", "container"): _STRUCTURE + ", as the result (ans) does",
    ("add_scattered", "container"): _STRUCTURE + ", as the result (ans) does",
    ("placed", "like"): _STRUCTURE + ", as the result (ans) does",
    ("unpack_adjoint", "container"): _STRUCTURE + ", as the result (ans) does",
    ("joined", "container"): _STRUCTURE + ", as the result (ans) does",
    ("joined", "like"): "says which parts are zero, which the result (ans) holds as zeros",
    ("gradient_buffer", "container"): "gives only the shape of the buffer, and the result has it",
}
