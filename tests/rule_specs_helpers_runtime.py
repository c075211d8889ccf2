"""Cases for the rules of the helpers of generated gradient code defined in
runtime/adjoints.py, element_adjoints.py, fallback.py, objects.py and primitives.py (issue
16): rule_specs.SPECS takes ``SPECS`` so the table-wide tests run each rule in every mode,
and test_rule_arguments takes ``REVIEWED`` (options a rule does not read, and why)."""

from __future__ import annotations

SPECS: dict = {}

REVIEWED: dict = {}
