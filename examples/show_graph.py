"""A picture of a gradient: which lines of a function its gradient flows through.

    python examples/show_graph.py [OUT_DIR]

``ag.graph(f, wrt=...)`` draws ``f``'s dataflow as astgrad differentiates it: a node per
line, solid edges where values flow (labelled with your names), dashed red edges where
gradients flow back, the lines that compute differentiated values filled, the
parameters in ``wrt`` marked, loops and branches as boxes. This script writes it as DOT
text and, when graphviz's ``dot`` program is installed, renders it as SVG too (the same
as ``astgrad graph examples/show_graph.py:smooth_loss --wrt w -o smooth_loss.svg``).
``ag.graph(tensor)`` draws a tape graph in the same way.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import astgrad as ag
from astgrad.graph import dot_program


def smooth_loss(w, x, y, steps):
    """A prediction refined a few times, then a squared error: a loop, a branch, and a
    value (the step count) that carries no gradient."""
    h = x @ w
    for _ in range(steps):
        if np.max(np.abs(h)) > 1:
            h = np.tanh(h)
        else:
            h = h + 0.1 * h**3
    err = h - y
    return np.mean(err**2)


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.gettempdir())
    out_dir.mkdir(parents=True, exist_ok=True)

    picture = ag.graph(smooth_loss, wrt="w")
    print(picture.title)
    print(picture.source)

    dot_path = picture.save(out_dir / "smooth_loss.dot")
    print(f"DOT text: {dot_path}")
    if dot_program() is not None:
        print(f"rendered: {picture.save(out_dir / 'smooth_loss.svg')}")
    else:
        print(
            "graphviz's `dot` is not installed, so nothing was rendered; with it: "
            f"dot -Tsvg {dot_path} -o {dot_path.with_suffix('.svg')}"
        )

    # The gradient the picture describes, to show it is the one ag.grad computes.
    rng = np.random.default_rng(0)
    w, x, y = rng.normal(size=3), rng.normal(size=(5, 3)), rng.normal(size=5)
    print("gradient with respect to w:", np.round(ag.grad(smooth_loss, wrt="w")(w, x, y, 3), 6))


if __name__ == "__main__":
    main()
