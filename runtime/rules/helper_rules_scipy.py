"""Rules for the helpers of generated gradient code from SciPy's rules (``scipy_rules``),
so that code can be differentiated again (issue 16; ``helper_rules`` says how). Imported
by ``scipy_rules``, so loaded only where SciPy is.

Most of those helpers are NumPy code marked transformable in ``scipy_rules`` (reverse mode
differentiates their source); what is left here reads only options.
"""

from __future__ import annotations

from .registry import nondifferentiable
from .scipy_rules import _other_side

__all__: list[str] = []

# the trans of the solve with the transposed matrix: an option
nondifferentiable(_other_side)
