"""The derivative rule table. Importing this package registers every rule."""

from . import (  # noqa: F401
    arithmetic,
    builtins_,
    complex,
    elementwise,
    elementwise_more,
    helper_rules,
    helper_rules_linalg,
    helper_rules_reductions,
    helper_rules_runtime,
    helper_rules_structure,
    indexing,
    linalg,
    linalg_more,
    mathmodule,
    nondiff,
    numerical,
    rearranging,
    rearranging_more,
    reductions,
    results,
    selection,
    signal,
    statistics,
    transfers,
)
from .forward import jvp_rule, linear
from .registry import (
    Rule,
    all_rules,
    is_nondifferentiable,
    lookup,
    nondifferentiable,
    vjp_rule,
)
from .shared import unbroadcast

# SciPy is optional (astgrad[scipy]), and importing it costs more than all of astgrad: its
# rules are registered once the user has imported it (registry.load_optional_rules, which
# a lookup that misses calls), not here.

__all__ = [
    "Rule",
    "all_rules",
    "is_nondifferentiable",
    "jvp_rule",
    "linear",
    "lookup",
    "nondifferentiable",
    "unbroadcast",
    "vjp_rule",
]
