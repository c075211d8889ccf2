"""The harness every conformance table runs through: one program, one mode, one device.

A *program* is a plain function defined in a module (so its source can be read), a
recipe for its arguments, and the parameters to differentiate. Checking it means: the
value matches the plain function's; each gradient has its argument's type, shape and
dtype; and each gradient matches central finite differences in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from astgrad.runtime import device_of as _device_of
from astgrad.runtime import to_device as _copy_to_device
from numeric import assert_close, numeric_vjp

import astgrad as ag

MODES = ("source", "tape", "auto")


@dataclass
class Program:
    function: Callable
    make_args: Callable[[np.random.Generator], tuple]
    wrt: Any = 0
    #: what the program exercises, for reports ("loop", "helper", ...)
    tags: tuple = ()
    rtol: float = 1e-5
    atol: float = 1e-7
    #: modes this program is not expected to run in, with the reason
    skip_modes: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.function.__name__


def _positions(program: Program, args: tuple) -> list[int]:
    import inspect

    params = list(inspect.signature(program.function).parameters)
    wrt = program.wrt if isinstance(program.wrt, (tuple, list)) else (program.wrt,)
    return [w if isinstance(w, int) else params.index(w) for w in wrt]


def _flat(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flat(v)]
    if isinstance(value, dict):
        return [x for k in sorted(value) for x in _flat(value[k])]
    return [value]


def _check_type(gradient: Any, argument: Any, what: str) -> None:
    if isinstance(argument, (list, tuple, dict)):
        assert type(gradient) is type(argument), f"{what}: {type(gradient)} for {type(argument)}"
        return
    if isinstance(argument, float):
        assert type(gradient) is float, f"{what}: gradient of a float is {type(gradient).__name__}"
        return
    assert gradient.shape == argument.shape, f"{what}: shape {gradient.shape} != {argument.shape}"
    assert gradient.dtype == argument.dtype, f"{what}: dtype {gradient.dtype} != {argument.dtype}"


def _perturbable(args: tuple, position: int, path: list) -> Callable:
    """A function of one float64 array (or float) that rebuilds the argument structure."""

    def rebuild(value: Any) -> tuple:
        new = list(args)
        if not path:
            new[position] = value
        else:
            container = _copy_structure(new[position])
            holder = container
            for step in path[:-1]:
                holder = holder[step]
            holder[path[-1]] = value
            new[position] = _freeze(container, args[position])
        return tuple(new)

    return rebuild


def _copy_structure(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_copy_structure(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy_structure(v) for k, v in value.items()}
    return value


def _freeze(value: Any, like: Any) -> Any:
    if isinstance(like, tuple):
        return tuple(_freeze(v, shape) for v, shape in zip(value, like))
    if isinstance(like, list):
        return [_freeze(v, shape) for v, shape in zip(value, like)]
    if isinstance(like, dict):
        return {k: _freeze(value[k], like[k]) for k in like}
    return value


def _leaves(value: Any, path: list) -> list[tuple[list, Any]]:
    if isinstance(value, (list, tuple)):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, path + [i])]
    if isinstance(value, dict):
        return [leaf for k in value for leaf in _leaves(value[k], path + [k])]
    return [(path, value)]


def _get(value: Any, path: list) -> Any:
    for step in path:
        value = value[step]
    return value


def run(program: Program, mode: str, seed: int = 0, to_device: Callable | None = None) -> None:
    """Check ``program`` in ``mode``; raise AssertionError with what differs."""
    rng = np.random.default_rng(seed)
    args = program.make_args(rng)
    expected_value = program.function(*args)
    device_args = tuple(to_device(a) for a in args) if to_device else args
    value, gradients = ag.value_and_grad(program.function, wrt=program.wrt, mode=mode)(*device_args)
    host = (lambda v: _copy_to_device(v, "cpu")) if to_device else (lambda v: v)
    assert_close(
        np.asarray(host(value)),
        np.asarray(expected_value),
        rtol=1e-10,
        atol=1e-12,
        what=f"{program.name} value",
    )
    positions = _positions(program, args)
    if not isinstance(program.wrt, (tuple, list)):
        gradients = (gradients,)
    for position, gradient in zip(positions, gradients):
        argument = device_args[position]
        _check_type(gradient, argument, f"{program.name} [{mode}] gradient {position}")
        for path, leaf in _leaves(args[position], []):
            if to_device:
                here = _device_of(_get(gradient, path))
                there = _device_of(_get(argument, path))
                assert here == there, (
                    f"{program.name} [{mode}] gradient {position} {path} on {here}, "
                    f"argument on {there}"
                )
            got = host(_get(gradient, path)) if path else host(gradient)
            rebuild = _perturbable(args, position, path)
            base = np.asarray(leaf, dtype=np.float64) if not isinstance(leaf, float) else leaf
            numeric = numeric_vjp(
                lambda v, rebuild=rebuild: program.function(*rebuild(v)), [base], 0, 1.0
            )
            assert_close(
                np.asarray(got, dtype=np.float64),
                numeric,
                rtol=program.rtol,
                atol=program.atol,
                what=f"{program.name} [{mode}] d/d argument {position} {path}",
            )


def unique_with_tag(programs: list[Program], tag: str) -> list:
    """One pytest param per program name among ``programs`` tagged ``tag`` (a table lists
    a program once per argument kind; some tests need it once)."""
    chosen: dict[str, Program] = {}
    for program in programs:
        if tag in program.tags:
            chosen.setdefault(program.name, program)
    return [pytest.param(p, id=p.name) for p in chosen.values()]
