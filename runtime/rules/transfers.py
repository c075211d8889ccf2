"""Rules for moving arrays between devices: the gradient goes back where the input was."""

from ..device import Device, device_of
from ..primitives import move_to
from .forward import linear
from .registry import shape_only, vjp_rule


@shape_only(0)
def source_device(x) -> Device:
    """The device ``x`` is on (reads no values)."""
    return device_of(x)


@vjp_rule(move_to, name="to")
def to(g, ans, x, device):
    return move_to(g, source_device(x))


# the tangent moves with x: move_to(dx, device)
linear(move_to)
