"""Test functions that live in real files: astgrad reads a function's source with inspect,
so tests that generate or rewrite source write it to a module first."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/{name}.py`` imported from its file as module ``{name}_benchmark``
    (benchmarks/ is not a package; the transform reads its functions' source)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def write_module(directory: Path, name: str, source: str) -> ModuleType:
    """Write ``source`` to ``directory/name.py`` and import it as module ``name``.

    The module is registered in ``sys.modules`` so that inspect (and tracebacks) find the
    source of its functions; tests that make many should pop it when done.
    """
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
