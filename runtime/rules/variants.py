"""Variants of a rule: the same gradients, written for operands of a known form.

A rule is written once, for any operands. For a few operations that models repeat at every
step, operands of one form have a shorter gradient: two float matrices take ``ndarray.dot``,
``x ** 2`` needs no logarithm, a sum of everything fills one number in. Such a variant is
written beside the rule it refines, in the rule's own family file, and declared with
:func:`tape_variant`; it is attached to the rule's own function, so a rule that a user
registers in its place has none.

Only the tape's fast roads use variants (runtime/fast_path): they call a primitive with its
tensor operands alone, every other parameter at its default, so a variant takes
``(g, ans, *operands)`` and returns a tuple with one gradient per parameter it is declared
for, each of its input's shape (the tape checks none of them). The transform inlines the
rule itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Variant", "tape_variant", "variant_of"]


@dataclass(frozen=True)
class Variant:
    """A rule's variant: ``grads`` maps the parameters whose gradients are needed (positions,
    as graph.Kernel's ``params``) to the function computing them, for operands for which
    ``when(*operands)`` holds (always, when it is None)."""

    grads: dict[tuple[int, ...], Callable]
    when: Callable[..., bool] | None = None


def tape_variant(
    rule: Callable, grads: dict[tuple[int, ...], Callable], when: Callable[..., bool] | None = None
) -> None:
    """Declare ``grads`` a variant of ``rule`` (the function registered with vjp_rule) for
    the operands ``when`` accepts (see the module doc)."""
    rule.__astgrad_tape_variant__ = Variant(dict(grads), when)


def variant_of(vjp: Callable) -> Variant | None:
    """The variant declared for the rule function ``vjp``, if any."""
    return getattr(vjp, "__astgrad_tape_variant__", None)
