"""The runnable examples in the public API's docstrings run, and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "astgrad.api",
        "astgrad.explain",
        "astgrad.runtime.device",
        "astgrad.runtime.adjoints",
        "astgrad.runtime.primitives",
        "astgrad.checks",
    ],
)
def test_docstring_examples(module):
    found = importlib.import_module(module)
    result = doctest.testmod(found, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted and not result.failed
