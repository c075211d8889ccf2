"""``ag.explain`` lists the calls on objects and classes (issue 17): which function each
resolved to and how it is differentiated: inline (a method that assigns its object's
attributes, a constructor, a classmethod), as its own derivative with ``self`` an
argument, or on the tape, with the reason."""

from __future__ import annotations

import numpy as np
import test_classes_mixed as mixed
import test_classes_writes as writes
from programs_classes import _mlp, factory_then_call

import astgrad as ag


def _calls(report):
    return {(c.call, c.function): c.how for c in report.object_calls}


def test_methods_called_as_functions_of_their_own():
    report = ag.explain(_mlp(np.random.default_rng(0)).loss, np.ones(2), np.ones(2))
    assert report.mode == "source"
    calls = _calls(report)
    assert calls[("self(...)", "MLP.__call__")] == "its own derivative, self an argument"
    assert calls[("layer(...)", "Linear.__call__")] == "its own derivative, self an argument"
    assert "calls on objects:\n  - self(...) at " in str(report)


def test_methods_and_constructors_run_inline():
    rng = np.random.default_rng(0)
    report = ag.explain(writes.kicked, writes._particle(rng), np.ones(3), 0.1, wrt=(0, 1, 2))
    calls = _calls(report)
    assert calls[("p.kick(...)", "Particle.kick")].startswith("inline, since it assigns")
    assert ("p.step(...)", "Particle.step") in calls  # (called by kick, inline in it)
    assert calls[("p.energy(...)", "Particle.energy")] == "its own derivative, self an argument"
    calls = _calls(ag.explain(factory_then_call, np.ones((2, 3)), np.ones(3)))
    assert calls[("Affine.from_weights(...)", "Affine.from_weights")] == (
        "inline, a classmethod with cls = Affine"
    )
    assert calls[("Normalized(...)", "Normalized")] == (
        "inline (Normalized.__init__ and Affine.__init__), then make_object"
    )


def test_a_method_on_the_tape_says_why():
    layer = mixed._layer(np.random.default_rng(0))
    report = ag.explain(mixed.read_and_tape_call, layer, np.ones((3, 2)))
    assert report.mode == "mixed"
    calls = _calls(report)
    assert calls[("m.penalty(...)", "Layer.penalty")] == (
        "on the tape: the statement `try` is not supported by the source transformation"
    )
    assert calls[("m(...)", "Layer.__call__")] == "its own derivative, self an argument"


def test_no_objects_no_list():
    report = ag.explain(lambda x: np.sum(x**2), np.ones(2))
    assert report.object_calls == () and "calls on objects" not in str(report)
