"""The derivative rule table. Importing this package registers every rule."""

from . import (  # noqa: F401
    arithmetic,
    builtins_,
    elementwise,
    indexing,
    linalg,
    mathmodule,
    nondiff,
    rearranging,
    reductions,
    selection,
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

try:  # SciPy is optional (astgrad[scipy]): its functions' rules need it
    import scipy  # noqa: F401
except ImportError:
    pass
else:
    from . import scipy_rules  # noqa: F401

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
