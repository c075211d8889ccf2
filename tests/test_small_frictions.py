"""Small frictions a new user meets (issue 22): ``ag.source`` of a decorated gradient
shows the gradient it makes; a gradient prints what it is; ``explain`` names files as the
user would type them; ``astgrad show --mode source`` says why it cannot transform."""

from __future__ import annotations

import os

import numpy as np
import pytest
from astgrad.tools.cli import main

import astgrad as ag


@ag.grad(wrt=("W", "b"))
def loss(W, b, x):
    return np.sum((x @ W + b) ** 2)


def calls_tolist(x):
    return np.sum(x.tolist()[0] * x)


def test_source_of_a_decorated_gradient_uses_its_wrt():
    text = ag.source(loss)
    assert "return total, (dW, db)" in text
    assert "return total, dW\n" in ag.source(loss, wrt="W")


def test_a_gradient_prints_its_function_and_wrt():
    assert repr(loss) == "<ag.grad of loss, wrt=('W', 'b'), mode='auto'>"
    assert repr(ag.value_and_grad(calls_tolist, mode="tape")) == (
        "<ag.value_and_grad of calls_tolist, wrt='x', mode='tape'>"
    )


def test_explain_names_files_relative_to_the_working_directory(monkeypatch):
    here = os.path.dirname(os.path.abspath(__file__))
    monkeypatch.chdir(here)
    text = str(ag.explain(calls_tolist))
    assert "at test_small_frictions.py:" in text and here not in text
    monkeypatch.chdir(os.path.dirname(here))
    assert "at tests/test_small_frictions.py:" in str(ag.explain(calls_tolist))


def test_show_mode_source_says_what_it_cannot_transform(capsys):
    assert main(["show", f"{__file__}:calls_tolist"]) == 0
    assert "tape_call(" in capsys.readouterr().out
    assert main(["show", f"{__file__}:calls_tolist", "--mode", "source"]) == 1
    assert "`.tolist()` is not an array method the transform knows" in capsys.readouterr().err


def test_source_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="'auto' or 'source'"):
        ag.source(calls_tolist, mode="tape")
