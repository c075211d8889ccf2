"""Make ``astgrad.runtime`` and friends importable from a source checkout.

Installed, ``transform/``, ``runtime/`` and ``tools/`` sit inside the ``astgrad`` package
(pyproject's package-dir mapping). In a checkout they sit beside it, at the repository
root; when Python finds this folder first (``python -m pytest`` or a script run from the
root puts the root on ``sys.path``), the subpackages are loaded from there instead.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SUBPACKAGES = ("runtime", "transform", "tools")


def link_checkout_subpackages(package: str, package_dir: Path) -> None:
    root = package_dir.parent
    if (package_dir / "runtime").is_dir() or not (root / "pyproject.toml").is_file():
        return  # an installed package: the subpackages are inside it
    for name in SUBPACKAGES:
        qualified = f"{package}.{name}"
        init = root / name / "__init__.py"
        if not init.is_file():
            continue
        if qualified in sys.modules:
            setattr(sys.modules[package], name, sys.modules[qualified])
            continue
        spec = importlib.util.spec_from_file_location(
            qualified, init, submodule_search_locations=[str(root / name)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module
        spec.loader.exec_module(module)
        # `import astgrad.runtime as r` reads the attribute, not sys.modules.
        setattr(sys.modules[package], name, module)
