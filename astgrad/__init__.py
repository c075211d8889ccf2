"""astgrad: automatic differentiation of Python/NumPy code that people can read.

``@astgrad.grad`` turns a NumPy function into its reverse-mode gradient by rewriting its
source; ``astgrad.source(f)`` shows the generated code. Tensors with ``requires_grad``
give the eager, PyTorch-style tape.

>>> import astgrad as ag
>>> w = ag.tensor([1.0, 2.0], requires_grad=True)
>>> (w * w).sum().backward()
>>> w.grad
tensor([2., 4.])
"""

import importlib as _importlib
import sys as _sys
import types as _types
from pathlib import Path as _Path

from ._layout import link_checkout_subpackages as _link

_link(__name__, _Path(__file__).resolve().parent)

from .api import TransformError, grad, source, value_and_grad, vjp  # noqa: E402
from .checks import GradcheckError, gradcheck  # noqa: E402
from .runtime import (  # noqa: E402
    Device,
    GradientLostError,
    NoRuleError,
    Tensor,
    arange,
    cuda_is_available,
    device,
    empty,
    enable_grad,
    eye,
    from_numpy,
    full,
    is_grad_enabled,
    lookup_rule,
    manual_seed,
    no_derivative_at,
    no_grad,
    nondifferentiable,
    ones,
    ones_like,
    primitive,
    rand,
    randn,
    relu,
    set_grad_enabled,
    sigmoid,
    stop_gradient,
    tensor,
    vjp_rule,
    zeros,
    zeros_like,
)
from .runtime.anomaly import (  # noqa: E402
    AnomalyError,
    detect_anomaly,
    is_anomaly_enabled,
    set_detect_anomaly,
)
from .runtime.checkpoint import checkpoint  # noqa: E402
from .runtime.higher_order import autograd_grad  # noqa: E402
from .runtime.rules.forward import jvp_rule  # noqa: E402

__version__ = "0.1.0"

# Imported on first use: they (and the transform, which they import) are not needed to
# make a tensor, and ``import astgrad`` is quicker without them.
_LAZY = {
    "Explanation": ".explain",
    "explain": ".explain",
    "jvp": ".forward",
    "graph": ".graph",
    "hessian": ".higher",
    "hvp": ".higher",
    "jacobian": ".higher",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


class _Package(_types.ModuleType):
    """``ag.graph`` and ``ag.explain`` are functions, named as the submodules that hold
    them: importing such a submodule (``from astgrad.graph import write``) leaves the
    package's attribute the function, as when they were imported eagerly."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _LAZY and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package

__all__ = [
    "AnomalyError",
    "detect_anomaly",
    "is_anomaly_enabled",
    "set_detect_anomaly",
    "Explanation",
    "TransformError",
    "autograd_grad",
    "checkpoint",
    "explain",
    "grad",
    "gradcheck",
    "graph",
    "GradcheckError",
    "source",
    "value_and_grad",
    "vjp",
    "jvp",
    "hvp",
    "hessian",
    "jacobian",
    "Device",
    "GradientLostError",
    "NoRuleError",
    "Tensor",
    "arange",
    "cuda_is_available",
    "device",
    "empty",
    "enable_grad",
    "eye",
    "from_numpy",
    "full",
    "is_grad_enabled",
    "lookup_rule",
    "manual_seed",
    "no_derivative_at",
    "no_grad",
    "nondifferentiable",
    "ones",
    "ones_like",
    "primitive",
    "rand",
    "randn",
    "relu",
    "set_grad_enabled",
    "sigmoid",
    "stop_gradient",
    "tensor",
    "vjp_rule",
    "jvp_rule",
    "zeros",
    "zeros_like",
]
