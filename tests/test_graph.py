"""Pictures: ``ag.graph(f)`` and ``astgrad graph`` draw a function's dataflow (a node per
user line), ``ag.graph(tensor)`` the tape. Checked on the DOT text, which needs no
graphviz; rendering is checked too where graphviz's ``dot`` is installed."""

from __future__ import annotations

import doctest
import importlib
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from astgrad.tools.cli import main

import astgrad as ag

pictures = importlib.import_module("astgrad.graph")  # (ag.graph is the function)
ROOT = Path(__file__).resolve().parents[1]
HAS_DOT = shutil.which("dot") is not None


# -- reading DOT text back -------------------------------------------------------------------

_STRING = r'"((?:[^"\\]|\\.)*)"'
_NODE = re.compile(rf"^\s*{_STRING}(?: \[(.*)\])?;$")
_EDGE = re.compile(rf"^\s*{_STRING} -> {_STRING}(?: \[(.*)\])?;$")
_ATTRIBUTE = re.compile(rf"(\w+)={_STRING}")
_CLUSTER = re.compile(r'^\s*subgraph "cluster_([^"]+)" {$')


def _unescape(text: str) -> str:
    return text.replace("\\l", "\n").replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def _attrs(text: str | None) -> dict[str, str]:
    return {key: _unescape(value) for key, value in _ATTRIBUTE.findall(text or "")}


class Dot:
    """The nodes, edges and clusters of DOT text written by astgrad.graph."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes: dict[str, dict[str, str]] = {}
        self.edges: list[tuple[str, str, dict[str, str]]] = []
        self.clusters: dict[str, str] = {}  # name -> label
        self.cluster_of: dict[str, str] = {}  # node -> innermost cluster
        stack: list[str] = []
        lines = source.splitlines()
        assert lines[0].startswith("digraph ") and lines[-1] == "}"
        assert source.count("{") == source.count("}")
        for line in lines[1:-1]:
            if match := _CLUSTER.match(line):
                stack.append(match.group(1))
            elif line.strip() == "}":
                if stack:
                    stack.pop()
            elif stack and line.strip().startswith("label="):
                self.clusters[stack[-1]] = _unescape(line.strip()[len('label="') : -2])
            elif match := _EDGE.match(line):
                tail, head, attrs = match.groups()
                self.edges.append((_unescape(tail), _unescape(head), _attrs(attrs)))
            elif match := _NODE.match(line):
                name, attrs = match.groups()
                self.nodes[_unescape(name)] = _attrs(attrs)
                if stack:
                    self.cluster_of[_unescape(name)] = stack[-1]

    def label(self, node: str) -> str:
        return self.nodes[node].get("label", node)

    def node_with(self, text: str) -> str:
        """The one node whose label holds ``text``."""
        found = [n for n in self.nodes if text in self.label(n)]
        assert len(found) == 1, (text, found)
        return found[0]

    def values(self, tail: str, head: str) -> list[dict[str, str]]:
        """The visible solid edges tail -> head (values flowing)."""
        return [
            a
            for t, h, a in self.edges
            if (t, h) == (tail, head) and a.get("style") not in ("dashed", "invis")
        ]

    def gradients(self, tail: str, head: str) -> list[dict[str, str]]:
        return [
            a for t, h, a in self.edges if (t, h) == (tail, head) and a.get("style") == "dashed"
        ]


# -- functions to draw (their source is read: they live in this file) -------------------------


def logistic(W, b, x, y):
    p = 1 / (1 + np.exp(-(x @ W + b)))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def branchy(x, n):
    s = 0.0
    for i in range(n):
        if s > 1:
            s = s + np.sin(x) * i
        else:
            s = s * 2 + x
    return s


def partly_stopped(x, w):
    with ag.no_grad():
        scale = np.max(x)
    count = len(x)
    return np.sum(w * x) / scale + count


def settles(x):
    while np.sum(x) < 10:
        x = x * 2
    return x.sum()


def guarded(v):
    try:
        return np.log(1.0 + v * v)
    except FloatingPointError:
        return v * 0.0


def calls_the_tape(x):
    y = guarded(x * 2)
    return np.sum(y)


def early(x, n):
    acc = []
    for i in range(n):
        v = np.tanh(x * i)
        if np.sum(v) > 3:
            return np.sum(v)
        acc.append(v)
    sq = lambda t: t * t  # noqa: E731
    return sum(sq(a) for a in acc)


def _line(function, text: str) -> int:
    """The file line of ``function`` whose text holds ``text``."""
    import inspect

    lines, first = inspect.getsourcelines(function)
    found = [first + k for k, line in enumerate(lines) if text in line]
    assert len(found) == 1, (text, found)
    return found[0]


# -- a function's dataflow -------------------------------------------------------------------


def test_lines_are_nodes_with_the_users_text():
    dot = Dot(ag.graph(logistic, wrt=("W", "b")).source)
    p_line = _line(logistic, "p = 1 /")
    ret_line = _line(logistic, "return -np.mean")
    p = dot.node_with("p = 1 / (1 + np.exp(-(x @ W + b)))")
    assert p == f"line {p_line}"
    assert dot.label(p).startswith(f"{p_line}: p = 1 /")
    ret = dot.node_with("return -np.mean(")
    assert ret == f"line {ret_line}"
    assert "digraph" in dot.source and "logistic: gradient with respect to W, b" in dot.source


def test_edges_run_from_writers_to_readers_with_the_names():
    dot = Dot(ag.graph(logistic, wrt=("W", "b")).source)
    p, ret = f"line {_line(logistic, 'p = 1 /')}", f"line {_line(logistic, 'return -np')}"
    assert [e["label"] for e in dot.values(p, ret)] == ["p"]
    assert [e["label"] for e in dot.values("parameter W", p)] == ["W"]
    assert [e["label"] for e in dot.values("parameter x", p)] == ["x"]
    assert [e["label"] for e in dot.values("parameter y", ret)] == ["y"]
    assert dot.values(ret, "return value")
    # no edge from y to the line of p, nor from x to the return
    assert not dot.values("parameter y", p) and not dot.values("parameter x", ret)


def test_wrt_parameters_and_differentiated_lines_are_marked():
    dot = Dot(ag.graph(logistic, wrt=("W", "b")).source)
    for name in ("W", "b"):
        node = dot.nodes[f"parameter {name}"]
        assert "wrt" in node["label"] and "filled" in node["style"]
    for name in ("x", "y"):
        node = dot.nodes[f"parameter {name}"]
        assert "wrt" not in node["label"] and "filled" not in node.get("style", "")
    assert "filled" in dot.nodes[dot.node_with("p = 1 /")]["style"]


def test_gradients_run_back_along_differentiated_edges():
    dot = Dot(ag.graph(logistic, wrt="W").source)
    p, ret = dot.node_with("p = 1 /"), dot.node_with("return -np")
    (back,) = dot.gradients(p, ret)
    assert back["dir"] == "back" and back["label"] == "dp"
    assert dot.gradients("parameter W", p)[0]["label"] == "dW"
    # b, x and y are not differentiated: their values flow, no gradient goes back to them
    for name in ("b", "x"):
        assert dot.values(f"parameter {name}", p) and not dot.gradients(f"parameter {name}", p)
    assert dot.gradients(ret, "return value")  # the seed comes in at the returned value


def test_loops_and_branches_are_clusters():
    dot = Dot(ag.graph(branchy).source)
    loop_line, if_line = _line(branchy, "for i in"), _line(branchy, "if s > 1")
    assert dot.clusters[f"for_{loop_line}"] == "for i in range(n):"
    assert dot.clusters[f"if_{if_line}"] == "if s > 1:"
    assert dot.clusters[f"else_{if_line}"] == "else"
    then = dot.node_with("s = s + np.sin(x) * i")
    otherwise = dot.node_with("s = s * 2 + x")
    assert dot.cluster_of[then] == f"if_{if_line}"
    assert dot.cluster_of[otherwise] == f"else_{if_line}"
    assert dot.cluster_of[dot.node_with("for i in range(n):")] == f"for_{loop_line}"
    assert dot.node_with("s = 0.0") not in dot.cluster_of


def test_values_carried_round_a_loop():
    dot = Dot(ag.graph(branchy).source)
    start = dot.node_with("s = 0.0")
    then = dot.node_with("s = s + np.sin(x) * i")
    otherwise = dot.node_with("s = s * 2 + x")
    header = dot.node_with("for i in range(n):")
    # each branch reads s from before the loop, from itself and from the other branch
    for reader in (then, otherwise):
        for writer in (start, then, otherwise):
            assert [e["label"] for e in dot.values(writer, reader)] == ["s"], (writer, reader)
    assert [e["label"] for e in dot.values(header, then)] == ["i"]
    assert [e["label"] for e in dot.values("parameter n", header)] == ["n"]
    # a zero-trip loop returns s = 0.0; either branch's s may be returned
    for writer in (start, then, otherwise):
        assert dot.values(writer, "return value")
    # the gradient of s goes round the loop, but not into the constant 0.0
    assert dot.gradients(then, then)[0]["label"] == "ds"
    assert dot.gradients(otherwise, then)
    assert not dot.gradients(start, then)
    # an edge back to an earlier line does not rank it
    assert dot.values(otherwise, then)[0]["constraint"] == "false"


def test_no_grad_lines_and_lines_off_the_gradient_are_not_filled():
    dot = Dot(ag.graph(partly_stopped, wrt="w").source)
    scale = dot.node_with("scale = np.max(x)")
    count = dot.node_with("count = len(x)")
    ret = dot.node_with("return np.sum(w * x)")
    line = _line(partly_stopped, "with ag.no_grad")
    assert dot.cluster_of[scale] == f"with_{line}"
    assert "filled" not in dot.nodes[scale].get("style", "")
    assert "filled" not in dot.nodes[count].get("style", "")
    assert "filled" in dot.nodes[ret]["style"]
    assert dot.values(scale, ret) and not dot.gradients(scale, ret)
    assert dot.values(count, ret) and not dot.gradients(count, ret)
    assert dot.gradients("parameter w", ret) and not dot.gradients("parameter x", ret)


def test_while_loop_and_forward_mode():
    dot = Dot(ag.graph(settles, forward=True).source)
    header = dot.node_with("while np.sum(x) < 10:")
    body = dot.node_with("x = x * 2")
    assert dot.cluster_of[body] == f"while_{_line(settles, 'while')}"
    assert dot.values(body, header) and dot.values("parameter x", header)  # the test reads x
    (tangent,) = dot.gradients("parameter x", body)
    assert tangent["dir"] == "forward" and tangent["label"] == "dx"
    assert dot.gradients(body, body)
    assert "settles: tangents with respect to x" in dot.source


def test_flags_the_transform_adds_are_left_out():
    dot = Dot(ag.graph(early).source)
    labels = {a.get("label") for _, _, a in dot.edges}
    assert labels <= {None, "x", "dx", "n", "i", "v", "dv", "acc", "dacc"}, labels
    # the lambda's line computes nothing of its own (it is inlined where it is called)
    assert not [n for n in dot.nodes if "lambda" in dot.label(n)]
    early_return = dot.node_with("return np.sum(v)")
    final = dot.node_with("return sum(sq(a) for a in acc)")
    for line in (early_return, final):
        assert dot.values(line, "return value") and dot.gradients(line, "return value")
    # acc = [] reaches the end when the loop does not run; it is no returned value itself
    start = dot.node_with("acc = []")
    assert dot.values(start, final) and not dot.values(start, "return value")
    appended = dot.node_with("acc.append(v)")
    assert dot.gradients(appended, appended)[0]["label"] == "dacc"


def test_calls_on_the_tape_are_noted():
    dot = Dot(ag.graph(calls_the_tape).source)
    call = dot.node_with("y = guarded(x * 2)")
    assert "(runs on the tape: guarded)" in dot.label(call)


def test_a_decorated_function_brings_its_wrt():
    decorated = ag.grad(logistic, wrt=("b", "W"))
    dot = Dot(ag.graph(decorated).source)
    assert "wrt" in dot.label("parameter b") and "wrt" in dot.label("parameter W")
    assert "wrt" not in dot.label("parameter x")


def test_bad_arguments():
    with pytest.raises(ValueError, match="not a parameter"):
        ag.graph(logistic, wrt="nope")
    with pytest.raises(TypeError, match="draws a tensor's tape or a function's dataflow"):
        ag.graph(3.0)
    with pytest.raises(TypeError, match="for a tensor's graph"):
        ag.graph(logistic, saved=True)
    with pytest.raises(TypeError, match="for a function's graph"):
        ag.graph(ag.tensor([1.0], requires_grad=True), wrt=0)


# -- a tensor's tape ---------------------------------------------------------------------------


def test_tape_nodes_are_grad_fn_nodes_with_leaves():
    w = ag.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = ag.tensor([0.5, -0.5], requires_grad=True)
    x = ag.tensor([[1.0, 0.0]])
    out = ((x @ w + b) * 2.0).sum()
    dot = Dot(ag.graph(out, params={"w": w, "b": b}).source)
    names = sorted(dot.label(n) for n in dot.nodes if "Backward" in dot.label(n))
    assert names == ["AddBackward", "MatMulBackward", "MulBackward", "SumBackward"]
    root = dot.node_with("output")
    assert dot.label(root) == "output\n() float64"
    (w_leaf,) = [n for n in dot.nodes if dot.label(n) == "w\n(2, 2) float64"]
    (b_leaf,) = [n for n in dot.nodes if dot.label(n) == "b\n(2,) float64"]
    accumulators = [n for n in dot.nodes if dot.label(n) == "AccumulateGrad"]
    assert len(accumulators) == 2
    by_label = {dot.label(n): n for n in dot.nodes}
    # values flow along the edges: leaf -> AccumulateGrad -> MatMul -> Add -> Mul -> Sum
    chain = ["MatMulBackward", "AddBackward", "MulBackward", "SumBackward"]
    for tail, head in zip(chain, chain[1:]):
        assert dot.values(by_label[tail], by_label[head])
    assert dot.values(by_label["SumBackward"], root)
    for leaf in (w_leaf, b_leaf):
        ((_, accumulator, _),) = [e for e in dot.edges if e[0] == leaf]
        assert dot.label(accumulator) == "AccumulateGrad"
    # x does not require grad: not drawn, as next_functions leaves it out
    assert not any("(1, 2)" in dot.label(n) for n in dot.nodes)


def test_tape_shows_grad_saved_values_and_freed_nodes():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    before = Dot(ag.graph(y, saved=True).source)
    mul = before.node_with("MulBackward")
    saved = [t for t, h, a in before.edges if h == mul and a.get("style") == "dashed"]
    assert sorted(before.label(s) for s in saved) == [
        "saved x\n(3,) float64",
        "saved y\n(3,) float64",
    ]
    assert not any("saved" in before.label(n) for n in Dot(ag.graph(y).source).nodes)
    y.backward()
    after = Dot(ag.graph(y).source)
    assert any(after.label(n) == "(3,) float64\ngrad: (3,)" for n in after.nodes)
    assert "MulBackward\n(freed)" in [after.label(n) for n in after.nodes]


def test_tape_of_several_outputs_and_of_a_leaf():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    dot = Dot(ag.graph([x.sum(), (x * 3.0).mean()]).source)
    assert {dot.label(n) for n in dot.nodes} >= {"output 0\n() float64", "output 1\n() float64"}
    assert sum(dot.label(n) == "AccumulateGrad" for n in dot.nodes) == 1  # x's, shared
    leaf = Dot(ag.graph(x, params={"x": x}).source)
    assert [leaf.label(n) for n in leaf.nodes] == ["x\n(2,) float64"]


# -- writing and rendering ---------------------------------------------------------------------


@pytest.fixture
def no_dot(monkeypatch):
    monkeypatch.setattr(pictures, "dot_program", lambda: None)


def test_dot_suffix_is_written_as_text(tmp_path):
    picture = ag.graph(logistic)
    written = pictures.write(picture.source, tmp_path / "g.dot")
    assert written.path == tmp_path / "g.dot" and not written.rendered and written.note is None
    assert (tmp_path / "g.dot").read_text() == picture.source


def test_without_dot_a_dot_file_is_written_and_said(tmp_path, no_dot):
    picture = ag.graph(logistic)
    written = pictures.write(picture.source, tmp_path / "g.svg")
    assert written.path == tmp_path / "g.dot" and not written.rendered
    assert "graphviz's `dot` program is not installed" in written.note
    assert f"dot -Tsvg {tmp_path / 'g.dot'} -o {tmp_path / 'g.svg'}" in written.note
    assert (tmp_path / "g.dot").read_text() == picture.source
    assert not (tmp_path / "g.svg").exists()
    with pytest.warns(UserWarning, match="not installed"):
        assert picture.save(tmp_path / "h.png") == tmp_path / "h.dot"
    assert picture._repr_svg_() is None


def test_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match="cannot tell what to write"):
        ag.graph(logistic).save(tmp_path / "g.txt")


@pytest.mark.skipif(not HAS_DOT, reason="graphviz's dot is not installed")
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG")])
def test_rendered_with_graphviz(tmp_path, suffix, magic):
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    for picture in (ag.graph(branchy), ag.graph(logistic, wrt=(0, 1)), ag.graph((x * x).sum())):
        path = picture.save(tmp_path / f"g{suffix}")
        assert path == tmp_path / f"g{suffix}"
        assert path.read_bytes().startswith(magic)
    assert "<svg" in ag.graph(settles)._repr_svg_()


@pytest.mark.skipif(not HAS_DOT, reason="graphviz's dot is not installed")
def test_every_picture_is_valid_dot():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    pictures_ = [ag.graph(f) for f in (logistic, branchy, partly_stopped, settles, calls_the_tape)]
    pictures_.append(ag.graph((x * x).sum(), saved=True))
    for picture in pictures_:
        result = subprocess.run(
            ["dot", "-Tcanon"], input=picture.source, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0 and not result.stderr, result.stderr


def test_docstring_example():
    result = doctest.testmod(pictures, optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed


# -- the astgrad graph command ---------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import numpy as np


    def model(w, x):
        h = np.tanh(x * w)
        return np.sum(h * h)


    def unreadable(x):
        try:
            return x
        except ValueError:
            return x
    """
)


@pytest.fixture
def script(tmp_path) -> Path:
    path = tmp_path / "script.py"
    path.write_text(SCRIPT)
    return path


def test_cli_prints_dot_without_output(script, capsys):
    assert main(["graph", f"{script}:model", "--wrt", "w"]) == 0
    dot = Dot(capsys.readouterr().out)
    assert "wrt" in dot.label("parameter w") and "wrt" not in dot.label("parameter x")
    assert dot.values(dot.node_with("h = np.tanh(x * w)"), dot.node_with("return np.sum"))


def test_cli_without_dot_writes_a_dot_file_and_says_so(script, tmp_path, capsys, no_dot):
    out = tmp_path / "out.svg"
    assert main(["graph", f"{script}:model", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert (
        "graphviz's `dot` program is not installed" in err and str(out.with_suffix(".dot")) in err
    )
    dot = Dot(out.with_suffix(".dot").read_text())
    assert dot.node_with("h = np.tanh(x * w)")
    assert not out.exists()


def test_cli_dot_and_forward(script, tmp_path, capsys):
    out = tmp_path / "out.gv"
    assert main(["graph", f"{script}:model", "--forward", "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().err
    assert "model: tangents with respect to w" in out.read_text()


def test_cli_errors(script, tmp_path, capsys):
    assert main(["graph", f"{script}:unreadable", "-o", str(tmp_path / "u.svg")]) == 1
    err = capsys.readouterr().err
    assert "cannot transform" in err and "the statement `try` is not supported" in err
    assert "draw the result's tape: ag.graph(" in err and 'mode="auto"' not in err
    assert main(["graph", f"{script}:model", "--wrt", "z"]) == 2
    assert "not a parameter" in capsys.readouterr().err
    assert main(["graph", f"{script}:model", "-o", str(tmp_path / "out.txt")]) == 2
    assert "cannot tell what to write" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="has no 'nothing'"):
        main(["graph", f"{script}:nothing"])


def test_cli_as_a_module_without_graphviz(script, tmp_path):
    out = tmp_path / "pic.png"
    env = {**os.environ, "PATH": str(tmp_path / "empty")}  # no dot on it
    result = subprocess.run(
        [sys.executable, "-m", "astgrad.tools", "graph", f"{script}:model", "-o", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "not installed" in result.stderr and "dot -Tpng" in result.stderr
    assert "h = np.tanh(x * w)" in out.with_suffix(".dot").read_text()


@pytest.mark.skipif(not HAS_DOT, reason="graphviz's dot is not installed")
def test_cli_renders_svg_with_graphviz(script, tmp_path, capsys):
    out = tmp_path / "out.svg"
    assert main(["graph", f"{script}:model", "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"<?xml") and f"wrote {out}" in capsys.readouterr().err


def test_example_script(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "show_graph.py"), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "smooth_loss: gradient with respect to w" in result.stdout
    assert f"DOT text: {tmp_path / 'smooth_loss.dot'}" in result.stdout
    dot = Dot((tmp_path / "smooth_loss.dot").read_text())
    assert dot.node_with("h = np.tanh(h)") and "wrt" in dot.label("parameter w")
    assert (tmp_path / "smooth_loss.svg").exists() == HAS_DOT
    assert "gradient with respect to w: [" in result.stdout
