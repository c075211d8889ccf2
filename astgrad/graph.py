"""Pictures of gradients: ``ag.graph`` and ``astgrad graph``, as graphviz DOT text.

Two pictures, one for each way astgrad differentiates:

- **A function's dataflow** (``ag.graph(f, wrt=...)``, ``astgrad graph FILE.py:FUNC``):
  one node per line of the user's function, drawn from the core the transform analyzed
  (the statements ``analyze`` annotated, grouped by the user's line they came from). An
  edge joins the line that wrote a value to each line that reads it (reaching definitions
  over the core's ``if``/``for``/``while``), labelled with the user's names; lines that
  compute a differentiated value are filled, the parameters in ``wrt`` are marked, and
  dashed red edges run backwards where gradients flow (blue and forwards for forward
  mode's tangents). Loops, branches, ``with`` blocks and nested functions are clusters,
  as the user wrote them.
- **A tape graph** (``ag.graph(tensor)``), as torchviz draws PyTorch's: the ``grad_fn``
  nodes (``MulBackward``...) reached through ``next_functions``, each leaf's
  ``AccumulateGrad`` and the leaf itself with its shape, dtype and ``.grad``, and with
  ``saved=True`` the values each node keeps for the backward pass.

Both give a :class:`Graph`, whose ``source`` is the DOT text. ``Graph.save(path)`` writes
``.dot``/``.gv`` text as it is and renders ``.svg``, ``.png`` and ``.pdf`` through
graphviz's ``dot`` program; without it, it writes the DOT text beside the path asked for
and warns, saying how to render it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["Graph", "Written", "graph", "dataflow", "tape", "write"]

#: suffix -> graphviz output format, for what ``dot`` renders
FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}
#: suffixes written as DOT text, with no graphviz needed
DOT_SUFFIXES = (".dot", ".gv")

_ACTIVE_FILL = "#ffe3b8"
_WRT_FILL = "#b9dcff"
_GRADIENT = "#c62828"
_TANGENT = "#1565c0"
_MUTED = "#8a8a8a"


# -- the graph and how it is written --------------------------------------------------------


class Written(NamedTuple):
    """What :func:`write` wrote: ``path``, whether graphviz ``rendered`` it, and a
    ``note`` when it wrote DOT text instead of the picture asked for."""

    path: Path
    rendered: bool
    note: str | None = None


class Graph:
    """A picture as graphviz DOT text (``source``), ready to save or render; ``title``
    says what it shows."""

    __slots__ = ("source", "title")

    def __init__(self, source: str, title: str = "") -> None:
        self.source = source
        self.title = title

    def __repr__(self) -> str:
        return f"<Graph {self.title!r}: {len(self.source.splitlines())} lines of DOT>"

    def __str__(self) -> str:
        return self.source

    def save(self, path: str | Path) -> Path:
        """Write the picture to ``path`` (``.svg``, ``.png``, ``.pdf`` through graphviz;
        ``.dot`` or ``.gv`` as text) and return the path written: the ``.dot`` file beside
        ``path``, with a warning, when graphviz's ``dot`` is not installed."""
        written = write(self.source, path)
        if written.note is not None:
            warnings.warn(written.note, UserWarning, stacklevel=2)
        return written.path

    def _repr_svg_(self) -> str | None:  # shown inline by Jupyter when graphviz is there
        program = dot_program()
        if program is None:
            return None
        return _render(program, self.source, "svg").decode("utf-8")


def dot_program() -> str | None:
    """The path of graphviz's ``dot`` program, or None when it is not installed."""
    import shutil

    return shutil.which("dot")


def write(source: str, path: str | Path) -> Written:
    """Write DOT ``source`` to ``path``, rendered by graphviz when its suffix is ``.svg``,
    ``.png`` or ``.pdf``. Without graphviz's ``dot`` program the DOT text goes to ``path``
    with the suffix ``.dot`` instead, and ``note`` says so."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in DOT_SUFFIXES:
        path.write_text(source, encoding="utf-8")
        return Written(path, rendered=False)
    if suffix not in FORMATS:
        raise ValueError(
            f"cannot tell what to write from the suffix of {str(path)!r}: use one of "
            f"{', '.join(sorted(FORMATS) + list(DOT_SUFFIXES))}"
        )
    program = dot_program()
    if program is None:
        dot_path = path.with_suffix(".dot")
        dot_path.write_text(source, encoding="utf-8")
        note = (
            f"graphviz's `dot` program is not installed, so {dot_path} holds the graph as "
            f"DOT text instead of {path}; render it with `dot -T{FORMATS[suffix]} {dot_path} "
            f"-o {path}` once graphviz is installed (apt install graphviz, brew install "
            "graphviz, conda install graphviz), or paste it into any DOT viewer"
        )
        return Written(dot_path, rendered=False, note=note)
    path.write_bytes(_render(program, source, FORMATS[suffix]))
    return Written(path, rendered=True)


def _render(program: str, source: str, fmt: str) -> bytes:
    import subprocess

    result = subprocess.run(
        [program, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, check=False
    )
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"graphviz's dot failed to render the graph: {message}")
    return result.stdout


# -- DOT text ----------------------------------------------------------------------------


def _quote(text: str) -> str:
    """``text`` as a DOT string; newlines become centered line breaks."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _left(lines: Iterable[str]) -> str:
    """Lines as a DOT string whose lines are left-justified (each ends in ``\\l``)."""
    body = "".join(line.replace("\\", "\\\\").replace('"', '\\"') + "\\l" for line in lines)
    return f'"{body}"'


def _attributes(attrs: Mapping[str, Any]) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        text = value if isinstance(value, str) and value.startswith('"') else _quote(str(value))
        parts.append(f"{key}={text}")
    return f" [{', '.join(parts)}]" if parts else ""


class _Dot:
    """A DOT digraph being written: nodes, edges, clusters, in the order given."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.lines: list[str] = []
        self.depth = 1

    def line(self, text: str) -> None:
        self.lines.append("  " * self.depth + text)

    def node(self, name: str, **attrs: Any) -> None:
        self.line(f"{_quote(name)}{_attributes(attrs)};")

    def edge(self, tail: str, head: str, **attrs: Any) -> None:
        self.line(f"{_quote(tail)} -> {_quote(head)}{_attributes(attrs)};")

    def open_cluster(self, name: str, label: str, **attrs: Any) -> None:
        self.line(f"subgraph {_quote('cluster_' + name)} {{")
        self.depth += 1
        self.line(f"label={_quote(label)};")
        for key, value in attrs.items():
            self.line(f"{key}={_quote(str(value))};")

    def close_cluster(self) -> None:
        self.depth -= 1
        self.line("}")

    def text(self, header: Iterable[str]) -> str:
        head = [f"digraph {_quote(self.title)} {{", *("  " + h for h in header)]
        return "\n".join([*head, *self.lines, "}"]) + "\n"


def _wrap(text: str, width: int = 56) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, subsequent_indent="    ", break_on_hyphens=False) or [""]


# -- the entry point -------------------------------------------------------------------------


def graph(
    target: Any,
    *,
    wrt: Any = None,
    forward: bool = False,
    params: Mapping[str, Any] | None = None,
    saved: bool = False,
) -> Graph:
    """A picture of how gradients flow: of a tensor's tape, or of a function's lines.

    Given a tensor (or a list of them), the graph recorded on the tape that made it, as
    torchviz draws it: its ``grad_fn`` nodes, each leaf's ``AccumulateGrad`` and the leaf
    (named from ``params``, a mapping of names to tensors, when given; with its shape,
    dtype and ``.grad``), and with ``saved=True`` the values nodes keep for backward.

    Given a function, its dataflow as astgrad differentiates it with respect to ``wrt``
    (as for ``ag.grad``; a function made by ``ag.grad`` brings its own): a node per line,
    edges from the lines that write values to the lines that read them, differentiated
    lines filled, the ``wrt`` parameters marked, gradients as dashed edges running back
    (``forward=True``: forward mode, tangents running forward).

    The result's ``source`` is DOT text; ``save("out.svg")`` renders it with graphviz
    (without graphviz: writes ``out.dot`` and warns).

    >>> import astgrad as ag
    >>> w = ag.tensor([1.0, 2.0], requires_grad=True)
    >>> g = ag.graph((w * w).sum(), params={"w": w})
    >>> [name for name in ("SumBackward", "MulBackward", "AccumulateGrad") if name in g.source]
    ['SumBackward', 'MulBackward', 'AccumulateGrad']
    >>> "w\\\\n(2,) float64" in g.source
    True
    >>> def f(x, y):
    ...     z = x * y
    ...     return z + x
    >>> print(ag.graph(f, wrt="x").title)
    f: gradient with respect to x
    """
    from .runtime import Tensor

    if isinstance(target, Tensor) or (
        isinstance(target, (list, tuple)) and target and all(isinstance(t, Tensor) for t in target)
    ):
        if wrt is not None or forward:
            raise TypeError("wrt and forward are for a function's graph, not a tensor's")
        return tape(target, params=params, saved=saved)
    if callable(target):
        if params is not None or saved:
            raise TypeError("params and saved are for a tensor's graph, not a function's")
        return dataflow(target, wrt=wrt, forward=forward)
    raise TypeError(
        f"ag.graph draws a tensor's tape or a function's dataflow, not a {type(target).__name__}"
    )


# -- a function's dataflow -------------------------------------------------------------------


class _Line:
    """The statements of the core that came from one line of the user's: whether one
    has an adjoint (``active``), the calls that run on the tape, and whether one writes a
    name of the user's."""

    def __init__(self, key: tuple[str, int], text: str) -> None:
        self.key = key
        self.text = text
        self.active = False
        self.on_tape: list[str] = []
        self.writes_user_name = False


class _Use:
    """Names flowing from one definition site to one line (or the returned value), and
    those of them whose gradient flows back."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.differentiated: set[str] = set()


#: what to do when a function cannot be drawn
TAPE_PICTURE = (
    "ag.grad runs it on the tape as a whole; to see that, call it on tensors that require "
    "grad and draw the result's tape: ag.graph(f(ag.tensor(x, requires_grad=True)))."
)

_PARAM = "param"
_RESULT = "result"


def dataflow(function: Callable, wrt: Any = None, *, forward: bool = False) -> Graph:
    """The dataflow of ``function`` as the transform differentiates it with respect to
    ``wrt`` (see :func:`graph`). Raises ``ag.TransformError`` where ``ag.source`` would."""
    from .api import _Differentiated, _Target
    from .transform import anno, pipeline
    from .transform.context import local_names_of
    from .transform.errors import TransformError
    from .transform.parsing import parse_function

    if isinstance(function, _Differentiated):
        if wrt is None:
            wrt = function.target.names if not function.target.single else function.target.names[0]
        function = function.function
    target = _Target(function, 0 if wrt is None else wrt)
    # The whole derivative first: it raises where ag.source would, and knows which calls
    # run on the tape (a callee the transform cannot read is found only when derived).
    try:
        derivative = pipeline.derive(function, target.names, forward=forward)
        core, ctx = pipeline.pass_input(function, target.names, "shapes")
    except TransformError as exc:
        # ag.grad runs such a function on the tape as a whole: there are no lines to draw.
        exc.advice = TAPE_PICTURE
        exc.args = (exc._render(),)
        raise
    user = parse_function(function).node
    user_names = local_names_of(user)
    placement, clusters = _structure(user)
    flow = _Flow(ctx.active, user_names)
    params = [a.id for a in core.args.posonlyargs + core.args.args + core.args.kwonlyargs]
    for extra in (core.args.vararg, core.args.kwarg):
        if extra is not None:
            params.append(extra.id)
    flow.run(core, params, anno)
    for callee_name, origin, _ in derivative.fallbacks:
        line = flow.lines.get((origin.filename, origin.line)) if origin is not None else None
        if line is not None and callee_name not in line.on_tape:
            line.on_tape.append(callee_name)
    name = target.function_name
    kind = "tangents" if forward else "gradient"
    title = f"{name}: {kind} with respect to {', '.join(target.names)}"
    dot = _Dot(title)
    _draw_dataflow(dot, flow, params, set(target.names), placement, clusters, forward)
    flows = "tangents run forward" if forward else "gradients run back"
    legend = f"{title}\nsolid: values, dashed: where {flows}; filled: differentiated lines"
    header = [
        "rankdir=TB;",
        f"label={_quote(legend)};",
        'labelloc="t";',
        'fontname="Helvetica";',
        'node [fontname="Courier", fontsize=11, shape=box, style="rounded"];',
        'edge [fontname="Helvetica", fontsize=10];',
    ]
    return Graph(dot.text(header), title)


class _Cluster(NamedTuple):
    name: str
    label: str
    parent: str | None


def _structure(user: Any) -> tuple[dict[tuple[str, int], tuple[str, ...]], dict[str, _Cluster]]:
    """Where each user line sits: the clusters (loops, branches, ``with`` blocks, nested
    functions) enclosing it, outermost first, as the user wrote them."""
    import gast

    from .transform.origin import of as origin_of

    placement: dict[tuple[str, int], tuple[str, ...]] = {}
    clusters: dict[str, _Cluster] = {}
    compound = (gast.For, gast.While, gast.If, gast.With, gast.FunctionDef, gast.Try)

    def open_cluster(kind: str, origin: Any, label: str, path: tuple[str, ...]) -> str:
        name = f"{kind}_{origin.line}"
        clusters[name] = _Cluster(name, label, path[-1] if path else None)
        return name

    def visit(body: list, path: tuple[str, ...]) -> None:
        for stmt in body:
            origin = origin_of(stmt)
            if origin is None:
                continue
            key = (origin.filename, origin.line)
            if not isinstance(stmt, compound):
                placement.setdefault(key, path)
                continue
            kind = type(stmt).__name__.lower()
            inner = (*path, open_cluster(kind, origin, origin.text, path))
            placement.setdefault(key, inner)
            visit(stmt.body, inner)
            orelse = getattr(stmt, "orelse", None) or []
            if isinstance(stmt, gast.If) and len(orelse) == 1 and isinstance(orelse[0], gast.If):
                visit(orelse, inner)  # elif: a branch of its own, inside this one
            elif orelse:
                label = "else" if isinstance(stmt, gast.If) else "else (no break)"
                visit(orelse, (*inner, open_cluster("else", origin, label, inner)))
            for handler in getattr(stmt, "handlers", None) or []:
                visit(handler.body, inner)
            visit(getattr(stmt, "finalbody", None) or [], inner)

    visit(user.body, ())
    return placement, clusters


class _Flow:
    """Reaching definitions over the analyzed core: which lines' values each line reads.

    A definition site is a core statement (by its position in the core) or a parameter.
    The state maps each name to the sites whose value it may hold; branches join their
    states, loops run to a fixed point (so values carried round a loop reach the loop's
    start). Each read records an edge from every site its name may come from."""

    def __init__(self, active: set[str], user_names: set[str]) -> None:
        self.active = active
        self.user_names = user_names
        self.order: dict[int, int] = {}  # id(stmt) -> position in the core
        self.line_of: dict[int, tuple[str, int] | None] = {}  # position -> user line
        self.lines: dict[tuple[str, int], _Line] = {}
        self.statement_active: dict[int, bool] = {}  # position -> needs an adjoint
        #: (source site, destination: a user line or _RESULT) -> the names that flow
        self.uses: dict[tuple[Any, Any], _Use] = {}

    def run(self, core: Any, params: list[str], anno: Any) -> None:
        from .transform import dataflow as flow

        self._anno = anno
        self._df = flow
        fallback_line = None
        for position, stmt in enumerate(flow.statements(core.body)):
            self.order[id(stmt)] = position
            origin = anno.get(stmt, anno.Key.ORIGIN)
            key = (origin.filename, origin.line) if origin is not None else fallback_line
            fallback_line = key if key is not None else fallback_line
            self.line_of[position] = key
            if key is None:
                continue
            line = self.lines.setdefault(key, _Line(key, origin.text if origin else ""))
            active = bool(anno.get(stmt, anno.Key.ACTIVE))
            self.statement_active[position] = active
            line.active |= active
            callee = anno.get(stmt, anno.Key.CALLEE)
            if getattr(callee, "kind", None) == "fallback" and callee.name not in line.on_tape:
                line.on_tape.append(callee.name)
            if flow.changed_names(stmt) & self.user_names:
                line.writes_user_name = True
        state = {name: frozenset([(_PARAM, name)]) for name in params}
        self._block(core.body, state)

    # -- the walk

    def _block(self, body: list, state: dict) -> dict:
        for stmt in body:
            state = self._statement(stmt, state)
        return state

    def _statement(self, stmt: Any, state: dict) -> dict:
        import gast

        df = self._df
        position = self.order[id(stmt)]
        if isinstance(stmt, gast.If):
            self._use(position, df.reads(stmt.test), state)
            return _join(self._block(stmt.body, dict(state)), self._block(stmt.orelse, dict(state)))
        if isinstance(stmt, gast.For):
            self._use(position, df.reads(stmt.iter), state)
            targets = df.bound_names(stmt) or df.reads(stmt.target)
            after = self._loop(stmt, state, lambda s: self._define(position, targets, s))
            return self._block(stmt.orelse, after)
        if isinstance(stmt, gast.While):
            after = self._loop(stmt, state, lambda s: self._use(position, df.reads(stmt.test), s))
            return self._block(stmt.orelse, after)
        if isinstance(stmt, gast.Return):
            if stmt.value is not None:
                self._use(_RESULT, df.reads(stmt.value), state, site=position)
            return state
        if isinstance(stmt, gast.FunctionDef):
            return self._define(position, {stmt.name}, state)
        if isinstance(stmt, (gast.With, gast.Try)):
            for item in getattr(stmt, "items", []):
                self._use(position, df.reads(item), state)
            return self._block(stmt.body, state)
        self._use(position, df.reads(stmt), state)
        written = df.changed_names(stmt) | df.bound_names(stmt)
        callee = self._anno.get(stmt, self._anno.Key.CALLEE)
        if getattr(callee, "kind", None) == "constant" and not written & self.user_names:
            # A flag or an initial value the transform adds (``result = None``): not a
            # value of the user's, and drawing it would join unrelated lines.
            return {**state, **{name: frozenset() for name in written}}
        return self._define(position, written, state)

    def _loop(self, stmt: Any, state: dict, head: Callable[[dict], dict | None]) -> dict:
        """The state after a loop: before it (no trip), or after any number of trips."""
        entry = state
        after = state
        while True:
            start = _join(entry, after)
            headed = head(start)
            body_in = headed if isinstance(headed, dict) else start
            new_after = self._block(stmt.body, dict(body_in))
            if _join(after, new_after) == after:
                return _join(entry, after)
            after = _join(after, new_after)

    def _define(self, position: int, names: set[str], state: dict) -> dict:
        site = frozenset([position])
        return {**state, **{name: site for name in names}}

    def _use(self, position: Any, names: set[str], state: dict, site: Any = None) -> None:
        """Record that ``position`` (a statement, or _RESULT from the return at ``site``)
        reads ``names`` as ``state`` has them."""
        where = site if site is not None else position
        destination = _RESULT if position == _RESULT else self.line_of.get(position)
        if destination is None:
            return
        reader_active = position == _RESULT or self.statement_active.get(position, False)
        for name in names:
            for source in state.get(name, ()):
                if isinstance(source, int):
                    origin_line = self.line_of.get(source)
                    if origin_line is None:
                        continue
                    if origin_line == destination and source < where:
                        continue  # a value made earlier on the same line, in the same pass
                    tail: Any = origin_line
                    # A gradient goes on only into a statement that has an adjoint.
                    writer_active = self.statement_active.get(source, False)
                else:
                    tail = source  # a parameter: differentiated when it is in wrt
                    writer_active = True
                use = self.uses.setdefault((tail, destination), _Use())
                use.names.add(name)
                if name in self.active and reader_active and writer_active:
                    use.differentiated.add(name)


def _join(a: dict, b: dict) -> dict:
    if a is b:
        return a
    joined = dict(a)
    for name, sites in b.items():
        joined[name] = joined.get(name, frozenset()) | sites
    return joined


def _line_id(key: tuple[str, int]) -> str:
    return f"line {key[1]}" if key[0] else f"line ?{key[1]}"


def _draw_dataflow(
    dot: _Dot,
    flow: _Flow,
    params: list[str],
    wrt: set[str],
    placement: dict[tuple[str, int], tuple[str, ...]],
    clusters: dict[str, _Cluster],
    forward: bool,
) -> None:
    # Edges worth drawing: those carrying a name of the user's, a differentiated value, or
    # the result. Flags the transform adds (``returned``, loop conditions) are left out.
    # Flows within one line matter only when a name of the user's goes round a loop.
    kept = {
        (tail, head): use
        for (tail, head), use in flow.uses.items()
        if use.names & flow.user_names or (tail != head and (use.differentiated or head == _RESULT))
    }
    touched = {end for pair in kept for end in pair}
    lines = [
        line
        for key, line in sorted(flow.lines.items(), key=lambda item: item[0][1])
        if key in touched or line.writes_user_name
    ]
    files = {key[0] for key in flow.lines}

    def node_id(end: Any) -> str:
        if end == _RESULT:
            return "return value"
        if isinstance(end, tuple) and end and end[0] == _PARAM:
            return f"parameter {end[1]}"
        return _line_id(end) if len(files) <= 1 else f"{Path(end[0]).name}:{end[1]}"

    # Parameters: a row at the top; those in wrt stand out.
    dot.line("{")
    dot.depth += 1
    dot.line("rank=source;")
    for name in params:
        if name in wrt:
            dot.node(
                node_id((_PARAM, name)), label=f"{name}\nwrt", shape="ellipse",
                style="filled,bold", fillcolor=_WRT_FILL, penwidth=2,
            )  # fmt: skip
        else:
            dot.node(node_id((_PARAM, name)), label=name, shape="ellipse", color=_MUTED)
    dot.depth -= 1
    dot.line("}")

    # Lines, in the clusters of the loops and branches that hold them.
    children: dict[str | None, list[str]] = {}
    for cluster in clusters.values():
        children.setdefault(cluster.parent, []).append(cluster.name)
    members: dict[str | None, list[_Line]] = {}
    for line in lines:
        path = placement.get(line.key, ())
        members.setdefault(path[-1] if path else None, []).append(line)

    def populated(name: str) -> bool:
        return bool(members.get(name)) or any(populated(c) for c in children.get(name, []))

    def draw_lines(cluster: str | None) -> None:
        for line in members.get(cluster, []):
            text = [f"{line.key[1]}: {line.text}" if len(files) <= 1 else line.text]
            wrapped = [part for chunk in text for part in _wrap(chunk)]
            if line.on_tape:
                wrapped.append(f"(runs on the tape: {', '.join(line.on_tape)})")
            attrs: dict[str, Any] = {"label": _left(wrapped)}
            if line.active:
                attrs.update(style="rounded,filled", fillcolor=_ACTIVE_FILL)
            else:
                attrs.update(color=_MUTED, fontcolor="#555555")
            dot.node(node_id(line.key), **attrs)
        for child in children.get(cluster, []):
            if populated(child):
                dot.open_cluster(child, clusters[child].label, style="dashed", color=_MUTED)
                draw_lines(child)
                dot.close_cluster()

    draw_lines(None)

    # The returned value, where the seed of the backward pass comes in.
    dot.node("return value", label="return value", shape="ellipse", style="bold")
    # Lines from top to bottom in the order they are written, as in the code.
    ordered = [node_id(line.key) for line in lines] + ["return value"]
    if params:  # and below the parameters
        ordered.insert(0, node_id((_PARAM, params[0])))
    for upper, lower in zip(ordered, ordered[1:]):
        dot.edge(upper, lower, style="invis")

    def rank(end: Any) -> tuple:
        if end == _RESULT:
            return (2, "", 0)
        if end[0] == _PARAM:
            return (0, "", params.index(end[1]))
        return (1, end[0], end[1])

    flows_color = _TANGENT if forward else _GRADIENT
    for (tail, head), use in sorted(kept.items(), key=lambda item: tuple(map(rank, item[0]))):
        label = ", ".join(sorted(use.names & flow.user_names)) or None
        # A value carried round a loop to an earlier line (or the same one): drawn, but
        # left out of the ranking, so that lines keep the user's order from top to bottom.
        back = rank(tail)[0] == rank(head)[0] == 1 and rank(tail) >= rank(head)
        constraint = "false" if back else None
        dot.edge(node_id(tail), node_id(head), label=label, constraint=constraint)
        if use.differentiated:
            named = sorted(use.differentiated & flow.user_names)
            grad_label = ", ".join(f"d{n}" for n in named) or None
            dot.edge(
                node_id(tail), node_id(head), label=grad_label, style="dashed",
                color=flows_color, fontcolor=flows_color, dir="forward" if forward else "back",
                constraint=constraint,
            )  # fmt: skip


# -- a tensor's tape ---------------------------------------------------------------------------


def tape(roots: Any, *, params: Mapping[str, Any] | None = None, saved: bool = False) -> Graph:
    """The graph recorded on the tape behind ``roots`` (a tensor or a list of tensors):
    see :func:`graph`."""
    from .runtime import Tensor

    outputs = [roots] if isinstance(roots, Tensor) else list(roots)
    names = {id(t): name for name, t in (params or {}).items()}
    dot = _Dot("tape")
    ids: dict[int, str] = {}
    seen: set[int] = set()

    def node_id(node: Any) -> str:
        found = ids.get(id(node))
        if found is None:
            found = ids[id(node)] = f"node {len(ids)}"
        return found

    def tensor_label(tensor: Any, name: str | None) -> str:
        head = [name] if name else []
        head.append(f"{tuple(tensor.shape)} {tensor.dtype}")
        grad = getattr(tensor, "_grad", None)
        if grad is not None:
            head.append(f"grad: {tuple(grad.shape)}")
        return "\n".join(head)

    pending: list[Any] = []
    for k, output in enumerate(outputs):
        name = names.get(id(output)) or ("output" if len(outputs) == 1 else f"output {k}")
        out_id = f"tensor {k}"
        fn = output.grad_fn
        if fn is None:  # a leaf as the output: draw its accumulator's leaf
            dot.node(
                out_id, label=tensor_label(output, name), shape="box",
                style="filled", fillcolor=_WRT_FILL if output.requires_grad else "white",
            )  # fmt: skip
            continue
        dot.node(out_id, label=tensor_label(output, name), style="filled", fillcolor="#c8e6c9")
        dot.edge(node_id(fn), out_id)
        pending.append(fn)

    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        name = node.name() if callable(getattr(node, "name", None)) else type(node).__name__
        variable = getattr(node, "variable", None)
        nid = node_id(node)
        if variable is not None:  # AccumulateGrad: the leaf below it
            dot.node(nid, label=name, shape="box", style="filled", fillcolor="#eeeeee")
            leaf_id = f"{nid} leaf"
            label = tensor_label(variable, names.get(id(variable)))
            dot.node(leaf_id, label=label, shape="box", style="filled", fillcolor=_WRT_FILL)
            dot.edge(leaf_id, nid, arrowhead="none", style="dotted")
            continue
        freed = getattr(node, "_args", ()) is None
        dot.node(
            nid, label=f"{name}\n(freed)" if freed else name, shape="box",
            style="filled", fillcolor="#eeeeee",
        )  # fmt: skip
        outputs_of = _n_outputs
        for successor, nr in getattr(node, "next_functions", ()):
            if successor is None:
                continue
            label = f"output {nr}" if outputs_of(successor) > 1 else None
            dot.edge(node_id(successor), nid, label=label)
            pending.append(successor)
        if saved and not freed:
            for k, (what, value) in enumerate(_saved_values(node)):
                saved_id = f"{nid} saved {k}"
                shape = getattr(value, "shape", None)
                text = f"{what}\n{tuple(shape)} {getattr(value, 'dtype', '')}".rstrip()
                dot.node(saved_id, label=text, shape="box", style="filled", fillcolor="#fff3c4")
                dot.edge(saved_id, nid, style="dashed", arrowhead="odot", color=_MUTED)

    legend = "tape: values flow down the arrows, gradients back up them"
    header = [
        "rankdir=TB;",
        f"label={_quote(legend)};",
        'labelloc="t";',
        'fontname="Helvetica";',
        'node [fontname="Helvetica", fontsize=11, shape=box];',
        'edge [fontname="Helvetica", fontsize=9];',
    ]
    return Graph(dot.text(header), "tape")


def _n_outputs(node: Any) -> int:
    extra = getattr(node, "_extra", None)
    return getattr(extra, "n_outputs", 1) if extra is not None else 1


def _saved_values(node: Any) -> list[tuple[str, Any]]:
    """What a node keeps for its backward pass: (which argument, value) for the arrays
    its rule reads, and the result when the rule reads it."""
    kernel = getattr(node, "_kernel", None)
    args = getattr(node, "_args", None)
    if kernel is None or args is None:
        return []
    names = getattr(getattr(kernel, "rule", None), "param_names", [])
    found = []
    for position in sorted(getattr(kernel, "keeps", ())):
        value = args[position] if position < len(args) else None
        if value is not None and hasattr(value, "shape"):
            what = names[position] if position < len(names) else f"argument {position}"
            found.append((f"saved {what}", value))
    answer = getattr(node, "_ans", None)
    if getattr(kernel, "uses_ans", False) and answer is not None and hasattr(answer, "shape"):
        found.append(("saved result", answer))
    return found
