"""The ``astgrad`` command.

    astgrad show FILE.py:FUNC [--wrt NAMES] [--stage STAGE] [--floats | --shapes SHAPES]
                              [--forward] [--checkpoint]

prints the gradient source astgrad generates for ``FUNC`` in ``FILE.py``, highlighted when
the output is a terminal and pygments is installed. ``--floats`` shows the gradient
generated for calls with Python floats (numbers only: no shape bookkeeping);
``--shapes 3,4,3x4`` the one for calls with NumPy arrays of those shapes, one per
positional parameter (``float`` for a Python float): a gradient is specialized for its
arguments' ndims, so this is the source such calls run (products written out where the
ranks are known).
``--checkpoint`` shows the gradient ``ag.grad(f, checkpoint=True)`` runs: its ``range``
loops cut into segments, each a call of a segment function recomputed in the backward
pass, whose source follows.

    astgrad graph FILE.py:FUNC [--wrt NAMES] [--forward] [-o OUT.svg]

draws the gradient's dataflow (``ag.graph``): a node per line of ``FUNC``, values flowing
forward, gradients back. ``-o`` renders ``.svg``/``.png``/``.pdf`` through graphviz's
``dot`` (without it, the DOT text goes to a ``.dot`` file beside, and a note says so) or
writes ``.dot``/``.gv`` text; with no ``-o`` the DOT text goes to standard output.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
from astgrad.transform.pipeline import FORWARD_STAGES, STAGES

import astgrad


def load_function(spec: str) -> Any:
    """``path/to/file.py:name`` (or ``file.py:Class.method``) → the function object."""
    path_text, sep, qualified = spec.rpartition(":")
    if not sep or not path_text or not qualified:
        raise SystemExit(f"astgrad: expected FILE.py:FUNC, got {spec!r}")
    path = Path(path_text)
    if not path.is_file():
        raise SystemExit(f"astgrad: no such file: {path}")
    module_name = f"_astgrad_show_{path.stem}"
    sys.path.insert(0, str(path.resolve().parent))
    try:
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        module_spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    target: Any = module
    for part in qualified.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise SystemExit(f"astgrad: {path} has no {qualified!r}") from None
    return getattr(target, "function", target)  # a @grad-decorated function: its original


def _parse_wrt(text: str | None) -> Any:
    if text is None:
        return 0
    parts = [p.strip() for p in text.split(",") if p.strip()]
    values = [int(p) if p.lstrip("-").isdigit() else p for p in parts]
    return values[0] if len(values) == 1 else tuple(values)


def _float_arguments(function: Any) -> tuple:
    """A float for every positional parameter: example arguments that make the gradient
    the one specialized for numbers."""
    code = getattr(function, "__code__", None)
    return (0.5,) * code.co_argcount if code is not None else ()


def _shaped_arguments(function: Any, text: str) -> tuple:
    """Example arguments for ``--shapes``: one per positional parameter, ``3x4`` a float64
    array of that shape (``()`` a 0-d one), ``float`` a Python float."""
    code = getattr(function, "__code__", None)
    parts = [p.strip() for p in text.split(",")]
    count = code.co_argcount if code is not None else len(parts)
    if len(parts) != count:
        raise ValueError(
            f"--shapes gives {len(parts)} shape(s) for {count} positional parameter(s): "
            "give one per parameter, comma-separated (3,4,3x4; float for a Python float)"
        )
    examples = []
    for part in parts:
        if part == "float":
            examples.append(0.5)
            continue
        sizes = [] if part == "()" else part.split("x")
        if not all(size.isdigit() for size in sizes):
            raise ValueError(f"--shapes: {part!r} is not a shape (write 3x4, 5, () or float)")
        examples.append(np.ones(tuple(int(size) for size in sizes)))
    return tuple(examples)


def highlight(source: str, stream: Any) -> str:
    if not getattr(stream, "isatty", lambda: False)():
        return source
    try:
        from pygments import highlight as render
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        return source
    return render(source, PythonLexer(), TerminalFormatter())


def _stage_order(stage: str) -> int:
    return (list(STAGES) + list(FORWARD_STAGES)).index(stage)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="astgrad", description="Inspect the gradients astgrad generates."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="print the generated gradient source of a function")
    show.add_argument("target", metavar="FILE.py:FUNC")
    show.add_argument(
        "--wrt",
        help=(
            "parameters to differentiate: names or positions, comma-separated (default: the first)"
        ),
    )
    show.add_argument(
        "--stage",
        choices=sorted(set(STAGES[:-1]) | set(FORWARD_STAGES[:-1]), key=_stage_order),
        help="stop after this stage: parse, or a pass of the pipeline (in order)",
    )
    show.add_argument(
        "--mode",
        choices=("auto", "source"),
        default="auto",
        help='"auto" (default) shows the source with calls run on the tape where it cannot '
        'transform them; "source" refuses those with the reason',
    )
    show.add_argument(
        "--forward",
        action="store_true",
        help="forward mode: the Jacobian-vector product source (what ag.jvp runs)",
    )
    show.add_argument(
        "--floats",
        action="store_true",
        help="the gradient for calls with Python floats (numbers only)",
    )
    show.add_argument(
        "--shapes",
        metavar="SHAPES",
        help="the gradient for calls with float64 arrays of these shapes, one per positional "
        "parameter, comma-separated (3,4,3x4; float for a Python float)",
    )
    show.add_argument(
        "--checkpoint",
        action="store_true",
        help="the gradient with checkpointed loops (ag.grad(f, checkpoint=True))",
    )
    graph = commands.add_parser(
        "graph", help="draw the gradient's dataflow: a node per line (graphviz DOT, SVG, PNG)"
    )
    graph.add_argument("target", metavar="FILE.py:FUNC")
    graph.add_argument(
        "--wrt",
        help=(
            "parameters to differentiate: names or positions, comma-separated (default: the first)"
        ),
    )
    graph.add_argument(
        "--forward", action="store_true", help="forward mode: tangents flowing with the values"
    )
    graph.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help=(
            "where to write: .svg, .png or .pdf (rendered by graphviz's dot; a .dot file "
            "beside it when dot is not installed), or .dot/.gv text (default: DOT to stdout)"
        ),
    )
    args = parser.parse_args(argv)
    if args.command == "graph":
        return _graph(args)
    function = load_function(args.target)
    if args.floats and args.shapes is not None:
        print("astgrad: --floats and --shapes each give the arguments: use one", file=sys.stderr)
        return 2
    try:
        examples = _float_arguments(function) if args.floats else ()
        if args.shapes is not None:
            examples = _shaped_arguments(function, args.shapes)
        if args.stage is not None and args.stage not in (
            FORWARD_STAGES if args.forward else STAGES
        ):
            mode = "forward" if args.forward else "reverse"
            print(f"astgrad: {mode} mode has no stage {args.stage!r}", file=sys.stderr)
            return 2
        if args.checkpoint and args.forward:
            print("astgrad: --checkpoint is for reverse mode, not --forward", file=sys.stderr)
            return 2
        source = astgrad.source(
            function,
            *examples,
            wrt=_parse_wrt(args.wrt),
            stage=args.stage,
            forward=args.forward,
            checkpoint=args.checkpoint,
            mode=args.mode,
        )
    except astgrad.TransformError as exc:
        print(f"astgrad: cannot transform {args.target}:\n{exc}", file=sys.stderr)
        return 1
    except (TypeError, ValueError) as exc:
        print(f"astgrad: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(highlight(source, sys.stdout))
    return 0


def _graph(args: argparse.Namespace) -> int:
    """``astgrad graph``: the picture of the gradient's dataflow."""
    from astgrad.graph import write

    function = load_function(args.target)
    try:
        picture = astgrad.graph(function, wrt=_parse_wrt(args.wrt), forward=args.forward)
    except astgrad.TransformError as exc:
        print(f"astgrad: cannot transform {args.target}:\n{exc}", file=sys.stderr)
        return 1
    except (TypeError, ValueError) as exc:
        print(f"astgrad: {exc}", file=sys.stderr)
        return 2
    if args.output is None:
        sys.stdout.write(picture.source)
        return 0
    try:
        written = write(picture.source, args.output)
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"astgrad: {exc}", file=sys.stderr)
        return 2
    if written.note is not None:
        print(f"astgrad: {written.note}", file=sys.stderr)
    else:
        print(f"astgrad: wrote {written.path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
