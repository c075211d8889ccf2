"""Rules for the helpers of generated gradient code from reductions, statistics, complex
values and transfers, so that code can be differentiated again (issue 16; ``helper_rules``
holds the first ones and says how)."""

from __future__ import annotations

__all__: list[str] = []
