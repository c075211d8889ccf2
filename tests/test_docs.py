"""Every code block of the README and of ``docs/`` runs, so the docs cannot drift from the code.

Each Markdown file is one test: its blocks run in order, in one namespace per file that
starts with ``import numpy as np`` and ``import astgrad as ag`` (what every page assumes).

- A ```` ```python ```` block runs as a script would: it is written to a file first, so
  that astgrad can read the source of the functions it defines. A block of ``>>>`` lines
  runs as a doctest (``...`` matches anything).
- A ```` ```text ```` or bare ```` ``` ```` block right after a Python block is that
  block's output: what it printed must match (``...`` matches anything, runs of
  whitespace are equal). If the Python block raised, the output block's first line must
  be the exception's type and message (its first line). Other text blocks are prose.
- A ```` ```bash ```` block's ``astgrad ...`` and ``python -m astgrad.tools ...`` lines run
  from the repository root and must exit 0; installs and benchmarks are left to CI and to
  ``tests/test_benchmarks.py``.
- ``<!-- setup ... -->`` holds hidden Python that runs at that point (the data a snippet
  assumes); ``<!-- requires: NAME -->`` before a block skips the rest of the file unless
  ``NAME`` (``cuda`` or a module) is available, saying why.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib.util
import io
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
CHECKER = doctest.OutputChecker()
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass
class Block:
    kind: str  # "python", "text", "bash", "setup" or "requires"
    body: str
    line: int  # where the block's first line of code is, 1-based


def blocks(text: str) -> list[Block]:
    """The fenced blocks, hidden setups and requirements of a Markdown text, in order."""
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if line.startswith("<!-- requires:"):
            found.append(Block("requires", line.split(":", 1)[1].split("-->")[0].strip(), i + 1))
        elif line.strip() == "<!-- setup":
            end = lines.index("-->", i)
            found.append(Block("setup", "\n".join(lines[i + 1 : end]), i + 2))
            i = end
        elif fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            kind = fence.group(1) or "text"
            found.append(Block(kind, "\n".join(lines[i + 1 : end]) + "\n", i + 2))
            i = end
        i += 1
    return found


def _available(name: str) -> bool:
    if name == "cuda":
        import astgrad as ag

        return ag.cuda_is_available()
    return importlib.util.find_spec(name) is not None


def _run_python(
    block: Block, page: Path, namespace: dict, scripts: Path
) -> tuple[str, BaseException | None]:
    """Run one block as a script in ``namespace``; return what it printed and what it raised."""
    script = scripts / f"{page.stem}_line{block.line}.py"
    script.write_text(block.body)
    printed = io.StringIO()
    raised = None
    with contextlib.redirect_stdout(printed):
        try:
            exec(compile(block.body, str(script), "exec"), namespace)
        except Exception as exc:  # checked against the output block that follows
            raised = exc
    return printed.getvalue(), raised


def _run_doctest(block: Block, page: Path, namespace: dict) -> None:
    test = doctest.DocTestParser().get_doctest(
        block.body, namespace, page.name, str(page), block.line - 1
    )
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    report = io.StringIO()
    runner.run(test, out=report.write, clear_globs=False)
    assert not runner.failures, f"{page.name}, line {block.line}:\n{report.getvalue()}"


def _run_bash(block: Block, page: Path) -> None:
    for command in block.body.splitlines():
        if command.startswith("astgrad "):
            argv = [sys.executable, "-m", "astgrad.tools", *command.split()[1:]]
        elif command.startswith("python -m astgrad.tools "):
            argv = [sys.executable, *command.split()[1:]]
        else:
            continue
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (
            f"{page.name}, line {block.line}: `{command}` failed:\n{done.stderr}"
        )


def _check_output(block: Block, page: Path, printed: str, raised: BaseException | None) -> None:
    where = f"{page.name}, line {block.line}"
    if raised is not None:
        kind = type(raised)
        names = {
            kind.__name__,
            f"{kind.__module__}.{kind.__qualname__}",
            f"astgrad.{kind.__name__}",
        }
        first = block.body.splitlines()[0]
        name, _, message = first.partition(": ")
        got = str(raised).splitlines()[0] if str(raised) else ""
        assert name in names, f"{where}: the block above raised {kind.__name__}: {raised}"
        assert CHECKER.check_output(message + "\n", got + "\n", OPTIONS), (
            f"{where}: the block above raised\n{got}\nbut the docs show\n{message}"
        )
        return
    assert CHECKER.check_output(block.body, printed, OPTIONS), (
        f"{where}: the block above printed\n{printed}\nbut the docs show\n{block.body}"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_code_block_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # as a user runs them, from a clone
    monkeypatch.setattr(sys, "path", list(sys.path))
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    exec("import numpy as np\nimport astgrad as ag", namespace)
    previous: tuple[str, BaseException | None] | None = None
    ran = 0
    for block in blocks(page.read_text()):
        if block.kind == "requires":
            if not _available(block.body):
                pytest.skip(f"{page.name} from line {block.line} needs {block.body}")
            continue
        if block.kind in ("text", "") and previous is not None:
            _check_output(block, page, *previous)
            previous = None
            continue
        if previous is not None and previous[1] is not None:
            raise AssertionError(
                f"{page.name}: a block before line {block.line} raised"
            ) from previous[1]
        previous = None
        if block.kind == "setup":
            exec(compile(block.body, f"{page.name} (setup, line {block.line})", "exec"), namespace)
        elif block.kind == "python" and block.body.lstrip().startswith(">>>"):
            _run_doctest(block, page, namespace)
        elif block.kind == "python":
            previous = _run_python(block, page, namespace, tmp_path)
            sys.stdout.write(previous[0])
        elif block.kind == "bash":
            _run_bash(block, page)
        else:
            continue
        ran += 1
    if previous is not None and previous[1] is not None:
        raise AssertionError(f"{page.name}: its last block raised") from previous[1]
    assert ran or not any(b.kind == "python" for b in blocks(page.read_text()))


def test_the_collector_finds_blocks_outputs_and_setups() -> None:
    """The parser itself: a fence's language, a hidden setup, a requirement, and line numbers."""
    text = (
        "intro\n<!-- setup\nx = 1\n-->\n```python\nprint(x)\n```\n"
        "```text\n1\n```\n<!-- requires: cuda -->\n"
    )
    found = blocks(text)
    assert [(b.kind, b.body, b.line) for b in found] == [
        ("setup", "x = 1", 3),
        ("python", "print(x)\n", 6),
        ("text", "1\n", 9),
        ("requires", "cuda", 11),
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    """A link or picture of the README or of a docs page names a file of the repository."""
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    missing = [t for t in targets if "://" not in t and not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to files that do not exist: {missing}"
