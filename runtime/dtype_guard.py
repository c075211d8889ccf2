"""The run-time check generated code makes where a call's ``dtype=`` is computed
(``np.sum(x, dtype=x.dtype)``): the transform cannot see whether it is a float dtype, and
a result of integers carries no gradient, which the rules, written for float results,
would give it all the same. So the gradient is handed on only once the result is seen to
be float or complex (``transform.inline`` wraps it in :func:`inexact_result`)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["inexact_result"]


def inexact_result(gradient: Any, ans: Any, where: str) -> Any:
    """``gradient``, the gradient through ``ans``, the result of the call at ``where``
    (the user's file and line), once ``ans`` is float or complex; TypeError otherwise.

    >>> inexact_result(1.0, np.float32(2.0), "f.py:3")
    1.0
    """
    dtype = getattr(ans, "dtype", None)
    kind = np.dtype(dtype).kind if dtype is not None else np.result_type(ans).kind
    if kind not in "fc":
        made = np.dtype(dtype) if dtype is not None else np.result_type(ans)
        raise TypeError(
            f"{where}: the dtype= computed at run time made the result {made}, "
            "which carries no gradient, but the gradient generated for this call is written "
            'for a float result. Pass a float dtype, or use mode="auto" (the tape gives '
            "such a result no gradient)."
        )
    return gradient
