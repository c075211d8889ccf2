"""astgrad's runtime: the rule table, the eager tape, grad mode and devices.

Generated code imports only this package. It never imports the transform.
"""

from . import rules, tensor_methods  # noqa: F401  (tensor_methods: Tensor's operators)
from .device import Device, cuda_is_available, device, device_of, to_device
from .factories import (
    arange,
    empty,
    eye,
    from_numpy,
    full,
    manual_seed,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .primitives import relu as _relu
from .primitives import sigmoid as _sigmoid
from .primitives import stop_gradient
from .recording import NoRuleError, primitive
from .rules.registry import lookup as lookup_rule
from .rules.registry import no_derivative_at, nondifferentiable, vjp_rule
from .tensor import GradientLostError, Tensor

sigmoid = primitive(_sigmoid)
relu = primitive(_relu)

__all__ = [
    "Device",
    "GradientLostError",
    "NoRuleError",
    "Tensor",
    "arange",
    "cuda_is_available",
    "device",
    "device_of",
    "empty",
    "enable_grad",
    "eye",
    "from_numpy",
    "full",
    "is_grad_enabled",
    "lookup_rule",
    "manual_seed",
    "no_grad",
    "no_derivative_at",
    "nondifferentiable",
    "ones",
    "ones_like",
    "primitive",
    "rand",
    "randn",
    "relu",
    "rules",
    "set_grad_enabled",
    "sigmoid",
    "stop_gradient",
    "tensor",
    "to_device",
    "vjp_rule",
    "zeros",
    "zeros_like",
]
