"""When the transform itself fails (a bug of astgrad's, not the user's code): auto mode
runs the function on the tape and warns, source mode raises an error that says so, and
neither gives a wrong gradient."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astgrad.transform import pipeline
from astgrad.transform.errors import InternalErrorWarning, InternalTransformError

import astgrad as ag


def _loss(x):
    return np.sum(np.tanh(x) * x)


def _loss_gradient(x):
    t = np.tanh(x)
    return t + x * (1 - t * t)


@pytest.fixture
def broken_pass(monkeypatch):
    """The pipeline with its `reverse` pass raising as a bug would (an IndexError)."""

    def broken(program, ctx):
        raise IndexError("list index out of range")

    passes = tuple((name, broken if name == "reverse" else run) for name, run in pipeline.PASSES)
    monkeypatch.setattr(pipeline, "PASSES", passes)


def test_auto_mode_runs_on_the_tape_and_warns(broken_pass):
    x = np.linspace(-1.0, 1.0, 5)
    with pytest.warns(InternalErrorWarning, match="IndexError.*bug in astgrad"):
        got = ag.grad(_loss)(x)
    np.testing.assert_allclose(got, _loss_gradient(x), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InternalErrorWarning)  # (the suite makes it an error)
        explanation = ag.explain(_loss, x)
    assert explanation.mode == "tape" and "bug in astgrad" in str(explanation)


def test_source_mode_raises_the_internal_error_with_its_cause(broken_pass):
    x = np.linspace(-1.0, 1.0, 5)
    with pytest.raises(InternalTransformError, match="bug in astgrad") as caught:
        ag.grad(_loss, mode="source")(x)
    assert isinstance(caught.value.cause, IndexError)
    assert isinstance(caught.value, ag.TransformError)  # what auto mode falls back on
    assert "_loss" in str(caught.value)


def test_forward_mode_falls_back_too(broken_pass, monkeypatch):
    # forward mode's passes are its own list: break its tangent pass the same way
    def broken(program, ctx):
        raise KeyError("tangent")

    passes = tuple(
        (name, broken if name == "tangents" else run) for name, run in pipeline.FORWARD_PASSES
    )
    monkeypatch.setattr(pipeline, "FORWARD_PASSES", passes)
    x = np.linspace(-1.0, 1.0, 5)
    v = np.ones(5)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        value, tangent = ag.jvp(_loss, (x,), (v,))
    assert any(issubclass(w.category, InternalErrorWarning) for w in seen)
    np.testing.assert_allclose(value, _loss(x), rtol=1e-12)
    np.testing.assert_allclose(tangent, _loss_gradient(x) @ v, rtol=1e-12)


def test_user_errors_stay_transform_errors():
    def reads_a_generator_send(x):
        g = (v for v in [x])
        return g.send(None)

    with pytest.raises(ag.TransformError) as caught:
        ag.grad(reads_a_generator_send, mode="source")(1.0)
    assert not isinstance(caught.value, InternalTransformError)
