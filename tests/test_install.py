"""The package as installed: ``transform/``, ``runtime/`` and ``tools/`` at the repository
root must install as ``astgrad.transform``, ``astgrad.runtime`` and ``astgrad.tools``.

Both tests run Python in a temporary directory outside the checkout, so that nothing is
imported from the checkout by accident.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

IMPORT_ALL = (
    "import astgrad, astgrad.runtime, astgrad.transform, astgrad.tools; "
    "print(astgrad.__file__); print(astgrad.runtime.__file__); "
    "w = astgrad.tensor([1.0, 2.0], requires_grad=True); (w * w).sum().backward(); "
    "print(w.grad.tolist())"
)

# What the wheel must hold: one module of each installed subpackage, at its installed path.
EXPECTED_IN_WHEEL = [
    "astgrad/__init__.py",
    "astgrad/runtime/__init__.py",
    "astgrad/runtime/tensor.py",
    "astgrad/runtime/rules/registry.py",
    "astgrad/transform/__init__.py",
    "astgrad/tools/__init__.py",
]


def _clean_env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONSTARTUP", None)
    return env


def _run_python(
    code: str, cwd: Path, extra_path: Path | None = None
) -> subprocess.CompletedProcess:
    env = _clean_env()
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def _installed_in_this_environment(cwd: Path) -> bool:
    probe = _run_python(
        "import importlib.util as u; print(u.find_spec('astgrad') is not None)", cwd
    )
    return probe.returncode == 0 and probe.stdout.strip() == "True"


def _build_wheel(out: Path) -> Path:
    """Build a wheel from a copy of the source tree (the checkout gets no build/ folder)."""
    source = out / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in ("pyproject.toml", "README.md", "LICENSE", "setup.py", "setup.cfg"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, source / name)
    for name in ("astgrad", "runtime", "transform", "tools"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    dist = out / "dist"
    failures = []
    # Offline, the build backend in this environment is used; else pip fetches one.
    for isolation in (["--no-build-isolation"], []):
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(dist)]
            + isolation,
            capture_output=True,
            text=True,
            timeout=180,
            env=_clean_env(),
        )
        wheels = sorted(dist.glob("astgrad-*.whl"))
        if result.returncode == 0 and wheels:
            return wheels[0]
        failures.append(f"pip wheel {' '.join(isolation)}:\n{result.stdout}\n{result.stderr}")
    pytest.fail("could not build a wheel:\n" + "\n".join(failures))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


def _unpack(wheel: Path, target: Path) -> Path:
    # A pure-Python wheel installs by unpacking it onto sys.path.
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def test_import_from_outside_the_checkout(tmp_path, request):
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    extra = None
    if not _installed_in_this_environment(cwd):
        # Not installed here (no `pip install -e .`): install the built wheel privately.
        extra = _unpack(request.getfixturevalue("wheel"), tmp_path / "site")
    result = _run_python(IMPORT_ALL, cwd, extra)
    assert result.returncode == 0, f"installed={extra is None}\n{result.stderr}"
    package_file, runtime_file, grad = result.stdout.strip().splitlines()
    assert Path(package_file).name == "__init__.py"
    assert grad == "[2.0, 4.0]"
    runtime_dir = Path(runtime_file).parent
    assert runtime_dir.name == "runtime" and (runtime_dir / "tensor.py").is_file()
    assert not Path(package_file).resolve().is_relative_to(cwd.resolve())


@pytest.mark.slow
def test_wheel_holds_the_mapped_subpackages(wheel, tmp_path):
    names = zipfile.ZipFile(wheel).namelist()
    missing = [n for n in EXPECTED_IN_WHEEL if n not in names]
    assert not missing, f"missing from {wheel.name}: {missing}"
    top = {n.split("/")[0] for n in names}
    stray = sorted(t for t in top if t != "astgrad" and not t.endswith(".dist-info"))
    assert not stray, f"top-level names other than astgrad in the wheel: {stray}"

    site = _unpack(wheel, tmp_path / "site")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    result = _run_python(IMPORT_ALL, cwd, site)
    assert result.returncode == 0, result.stderr
    package_file, runtime_file, grad = result.stdout.strip().splitlines()
    assert Path(package_file).resolve() == (site / "astgrad" / "__init__.py").resolve()
    assert Path(runtime_file).resolve() == (site / "astgrad" / "runtime" / "__init__.py").resolve()
    assert grad == "[2.0, 4.0]"


def test_checkout_subpackages_are_attributes_of_the_package(tmp_path):
    code = (
        "import astgrad.runtime as r, astgrad.transform as t, astgrad.tools as tools; "
        "import astgrad; print(astgrad.runtime is r, r.__file__)"
    )
    result = _run_python(code, tmp_path, extra_path=ROOT)
    # Fails while astgrad/_layout.py loads the subpackages into sys.modules without binding
    # them as attributes of the package (setattr(parent, name, module) after loading).
    assert result.returncode == 0, result.stderr
    same, runtime_file = result.stdout.split()
    assert same == "True"
    assert Path(runtime_file).resolve() == (ROOT / "runtime" / "__init__.py").resolve()
