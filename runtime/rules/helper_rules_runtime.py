"""Rules for the helpers of generated gradient code defined in the runtime rather than in
the rule table (``runtime/adjoints.py``, ``element_adjoints.py``, ``primitives.py``,
``objects.py``), so that code can be differentiated again (issue 16; ``helper_rules``
holds the first ones and says how).

The helpers that take lists' and dicts' adjoints apart (``add_at``, ``adjoint_item``,
``appended_adjoint``, ``unpack_adjoint``) have no rules yet, and say why beside
``WITHOUT_RULES`` in tests/test_helper_rules.py; batched forward mode
(``transform/batching.py``) differentiates them by hand.
"""

from __future__ import annotations

import numpy as np

from ..adjoints import scalar_seed, shaped_like
from ..element_adjoints import gradient_buffer
from ..objects import without_field
from ..primitives import sequence_length
from .forward import linear
from .registry import nondifferentiable, vjp_rule
from .shared import cast_like, unbroadcast

__all__: list[str] = []

# A length; the seed 1 of a scalar result (constant whatever the result); a stand-in read
# for its shape and dtype alone (its values are not the value's): none has a derivative.
nondifferentiable(sequence_length, scalar_seed, shaped_like)


# a copy of the adjoint spread over the array's shape, in float64 (the adjoint itself for
# anything else), transposed: summed back down to the adjoint's shape, in its dtype
@vjp_rule(gradient_buffer)
def gradient_buffer_vjp(g, ans, adjoint, container):
    spread = type(container) is np.ndarray
    return cast_like(unbroadcast(g, adjoint), adjoint) if spread else g, None


# an object's adjoint (a dict of its fields') less one field's part: a projection, its
# own transpose
@vjp_rule(without_field)
def without_field_vjp(g, ans, adjoint, name):
    return without_field(g, name), None


linear(gradient_buffer, without_field)
