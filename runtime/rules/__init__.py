"""The derivative rule table. Importing this package registers every rule."""

from . import arithmetic, devices, elementwise, indexing, nondiff, reductions, shapes  # noqa: F401
from .helpers import unbroadcast
from .registry import (
    Rule,
    all_rules,
    is_nondifferentiable,
    lookup,
    nondifferentiable,
    vjp_rule,
)

__all__ = [
    "Rule",
    "all_rules",
    "is_nondifferentiable",
    "lookup",
    "nondifferentiable",
    "unbroadcast",
    "vjp_rule",
]
