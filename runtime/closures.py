"""Whether a function can reach itself through closures, for the caches keyed by it.

The caches of generated gradients and of functions shimmed for the tape hold each
function weakly, but what they keep for it shares its closure cells. If a cell leads back
to the function (it calls itself, or calls a nested helper that calls it), the cache's own
entry keeps the function alive for ever, and the entry with it: such functions are not
cached there (their ``ag.grad`` object still keeps what it made).
"""

from __future__ import annotations

import types
from typing import Any


def reaches_itself(function: Any) -> bool:
    """Whether ``function`` is in one of its closure cells, or in a cell of a function
    found in them, and so on (nested functions that call each other)."""
    seen = {id(function)}
    pending = [function]
    while pending:
        for cell in getattr(pending.pop(), "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if value is function:
                return True
            if isinstance(value, types.FunctionType) and id(value) not in seen:
                seen.add(id(value))
                pending.append(value)
    return False
