"""Errors the transform raises: each names the user's file, line and construct, and says
what to do instead."""

from __future__ import annotations

from .origin import Origin


class TransformError(Exception):
    """The transform cannot turn this code into generated source.

    ``mode="auto"`` catches it and runs the code on the tape instead; ``mode="source"``
    lets it through.
    """

    def __init__(self, message: str, origin: Origin | None = None, advice: str | None = None):
        self.reason = message
        self.origin = origin
        self.advice = advice
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.origin is not None:
            parts.append(
                f'File "{self.origin.filename}", line {self.origin.line}, '
                f"in {self.origin.function}:"
            )
            parts.append(f"    {self.origin.text}")
        parts.append(self.reason)
        if self.advice:
            parts.append(self.advice)
        return "\n".join(parts)


class InternalTransformError(TransformError):
    """The transform itself failed: a bug in astgrad, not in the user's code.

    ``mode="auto"`` runs the function on the tape instead, as for any
    :class:`TransformError`, and warns with :class:`InternalErrorWarning` so that the bug
    is seen; ``mode="source"`` raises this error, its cause chained."""

    def __init__(self, function: str, cause: BaseException):
        self.cause = cause
        super().__init__(
            f"astgrad's transform failed on {function} ({type(cause).__name__}: {cause}). "
            "This is a bug in astgrad, not in your code: please report it with the function.",
            advice='mode="auto" runs the function on the tape meanwhile, with the same results.',
        )


class InternalErrorWarning(UserWarning):
    """Warned where ``mode="auto"`` ran a function on the tape because the transform
    itself failed (:class:`InternalTransformError`)."""


TAPE_ADVICE = 'Use mode="auto" (runs what cannot be transformed on the tape) or mode="tape".'
