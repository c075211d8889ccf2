"""The run-time half of the transform's aliasing check.

Generated code treats ``p += v`` as ``p = p + v``. On a parameter that is an array, Python
changes the caller's array in place instead, and that shows through any other argument
(or global) that is the same array or a view of it. ``effects`` accepts such a function
only with a call of :func:`unshared_arguments` at its top, which checks, on every call,
that the parameter shares memory with none of the others it names.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Types whose ``+=`` rebinds the name, as generated code does.
_IMMUTABLE = (int, float, complex, bool, np.generic, tuple, str, type(None))


def unshared_arguments(names: tuple[str, ...], changed: Any, *others: Any) -> None:
    """Raise ``ValueError`` when ``changed`` (the parameter ``names[0]``, changed in place
    by the function) may share memory with one of ``others`` (``names[1:]``).

    >>> import numpy as np
    >>> x = np.ones(3)
    >>> unshared_arguments(("x", "w"), x, np.ones(3))  # distinct arrays: nothing to say
    >>> unshared_arguments(("x", "w"), 2.0, 2.0)  # numbers are never changed in place
    """
    if isinstance(changed, _IMMUTABLE):
        return
    for name, other in zip(names[1:], others):
        if other is changed or _overlap(changed, other):
            raise ValueError(
                f"`{names[0]} op= ...` changes the argument `{names[0]}` in place, and "
                f"`{name}` is the same array (or shares its memory): astgrad's generated "
                f"gradient treats `{names[0]} op= v` as `{names[0]} = {names[0]} op v` and "
                "would not see the change through the other name (nor does the tape, "
                f"which refuses it too). Pass a copy (`{names[0]}.copy()`)."
            )


def _overlap(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return bool(np.may_share_memory(a, b))
    module = type(a).__module__.split(".")[0]
    if module == "cupy" and type(b).__module__.split(".")[0] == "cupy":
        import cupy

        return bool(cupy.may_share_memory(a, b))
    return False
