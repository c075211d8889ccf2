"""Cases for the rules of the helpers of generated gradient code defined in
runtime/adjoints.py, element_adjoints.py, fallback.py, objects.py and primitives.py (issue
16): rule_specs.SPECS takes ``SPECS`` so the table-wide tests run each rule in every mode,
and test_rule_arguments takes ``REVIEWED`` (options a rule does not read, and why).

The adjoint each helper takes moves (``A``); the array that gives only a shape is a
constant.
"""

from __future__ import annotations

import numpy as np
from astgrad.runtime import element_adjoints, objects
from rule_specs import A, case

SPECS: dict = {
    element_adjoints.gradient_buffer: [
        case(A((3,)), np.zeros(3)),
        case(A(()), np.zeros((2, 3))),
        case(A((3,)), np.zeros((2, 3), dtype=np.float32)),
        case(A((2,)), None),
    ],
    # (an adjoint that is not a dict of fields passes through: a dict's case is in
    # tests/test_batched_containers.py, as the harness draws arrays)
    objects.without_field: [case(A((3,)), "W")],
}

REVIEWED: dict = {
    ("gradient_buffer", "container"): "gives only the shape of the buffer, and the result has it",
}
