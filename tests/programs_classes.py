"""Programs written with classes (issue 17): layers, models of layers, parameters in
dataclasses and NamedTuples, nested objects, inheritance, properties, ``__slots__``,
distributions, simulations and optimizers. Each is a function (or method) of the module,
a recipe for its arguments and what to differentiate; ``static`` ones need no tape.
Checked by tests/test_classes.py in every mode against finite differences."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np


@dataclass
class ClassProgram:
    name: str
    function: Callable
    make_args: Callable[[np.random.Generator], tuple]
    wrt: Any = 0
    #: the whole gradient is generated source (explain says "source")
    static: bool = True
    notes: str = ""
    tags: tuple = field(default_factory=tuple)


class Linear:
    def __init__(self, W, b):
        self.W = W
        self.b = b

    def __call__(self, x):
        return np.tanh(self.W @ x + self.b)


class MLP:
    def __init__(self, layers):
        self.layers = layers
        self.name = "mlp"

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def loss(self, x, y):
        return np.mean((self(x) - y) ** 2)


class DictModel:
    def __init__(self, params):
        self.params = params

    def loss(self, x):
        h = np.tanh(x @ self.params["W"] + self.params["b"])
        return np.sum(h**2)


@dataclass(frozen=True)
class Params:
    w: np.ndarray
    scale: float
    label: str = "params"


class Pair(NamedTuple):
    w: np.ndarray
    bias: float
    count: int


class Encoder:
    def __init__(self, first, second, gain):
        self.first = first
        self.second = second
        self.gain = gain

    def encode(self, x):
        return self.second(self.first(x)) * self.gain


class Scaled(Linear):
    def __init__(self, W, b, s):
        super().__init__(W, b)
        self.s = s

    def __call__(self, x):
        return super().__call__(x) * self.s


class Gaussian:
    def __init__(self, mu, log_sigma):
        self.mu = mu
        self.log_sigma = log_sigma

    @property
    def sigma(self):
        return np.exp(self.log_sigma)

    def log_prob(self, x):
        z = (x - self.mu) / self.sigma
        return np.sum(-0.5 * z**2 - self.log_sigma - 0.5 * np.log(2 * np.pi))


class Slotted:
    __slots__ = ("w", "offset")

    def __init__(self, w, offset):
        self.w = w
        self.offset = offset

    def energy(self, x):
        return np.sum((self.w * x + self.offset) ** 2)


class Activation:
    """A callable object passed as an argument (not differentiated)."""

    def __init__(self, slope):
        self.slope = slope

    @staticmethod
    def squash(v):
        return v / (1.0 + np.abs(v))

    def __call__(self, v):
        return self.squash(v) * self.slope


class Particle:
    def __init__(self, x, v):
        self.x = x
        self.v = v

    def step(self, dt):
        self.v = self.v - dt * self.x  # a spring pulling to the origin
        self.x = self.x + dt * self.v


#: read by Damped.damp from this module (tests/test_classes_modules.py rebinds it)
DAMPING = 0.9


class Damped(Particle):
    def damp(self):
        self.v = self.v * DAMPING

    def spread(self):
        self.x = self.x / len(self.x)


class SGD:
    def __init__(self, rate):
        self.rate = rate
        self.steps = 0

    def update(self, w, g):
        self.steps = self.steps + 1
        return w - self.rate * g


def linear_loss(layer, x):
    return np.sum(layer(x) ** 2)


def params_loss(p, x):
    return np.sum(np.sin(p.w * x)) * p.scale


def pair_loss(p, x):
    return np.sum((p.w * x + p.bias) ** 2)


def encoder_loss(e, x):
    return np.sum(e.encode(x) ** 2)


def scaled_loss(layer, x):
    return np.sum(layer(x) ** 2)


def activation_loss(x, act):
    return np.sum(act(x) ** 2)


def simulate(particle, dt):
    for _ in range(5):
        particle.step(dt)
    return np.sum(particle.x**2)


def optimize(w, x):
    opt = SGD(0.1)
    for _ in range(3):
        g = 2 * (w * x - 1.0) * x
        w = opt.update(w, g)
    return np.sum(w**2) + opt.steps * 0.0


class State:
    def __init__(self, x, v):
        self.x = x
        self.v = v


def integrate(x0, v0):
    state = State(x0, v0)
    for _ in range(5):
        state.v = state.v - 0.1 * state.x
        state.x = state.x + 0.1 * state.v
    return np.sum(state.x**2) + 0.5 * np.sum(state.v**2)


def build_then_call(W, x):
    layer = Linear(W, np.zeros(W.shape[0]))
    return np.sum(layer(x) ** 2)


class Affine:
    gain = 2.0

    def __init__(self, W, b):
        self.W = W
        self.b = b

    def __call__(self, x):
        return self.W @ x + self.b

    @classmethod
    def from_weights(cls, W):
        return cls(W * cls.gain, np.zeros(W.shape[0]))


class Normalized(Affine):
    def __init__(self, W, b, eps=1e-3):
        super().__init__(W / (np.sqrt(np.sum(W**2)) + eps), b)
        self.eps = eps


@dataclass
class Coefficients:
    a: np.ndarray
    c: float = 0.5


def factory_then_call(W, x):
    layer = Affine.from_weights(W)
    norm = Normalized(W, np.ones(W.shape[0]))
    return np.sum(np.tanh(layer(x)) * norm(x))


def advance(particle, dt):
    particle.x = particle.x + dt * particle.v


def simulate_with_a_function(particle, dt):
    for _ in range(3):
        advance(particle, dt)
    return np.sum(particle.x**2)


class Body:
    def __init__(self, particle):
        self.particle = particle

    def step(self, dt):
        self.particle.x = self.particle.x + dt * self.particle.v


def simulate_a_body(body, dt):
    for _ in range(3):
        body.step(dt)
    return np.sum(body.particle.x**2)


def simulate_particles(particles, dt):
    for _ in range(3):
        for p in particles:
            p.step(dt)
    return sum(np.sum(p.x**2) for p in particles)


def an_alias_read_after_a_step(p, dt):
    q = p  # (the same particle by another name, read after it moved)
    p.step(dt)
    return np.sum(q.x**2)


def dataclass_made_inside(a, x):
    coefficients = Coefficients(a * 2.0)
    return np.sum(coefficients.a * x**2) * coefficients.c


def _mlp(rng):
    layers = [Linear(rng.normal(size=(3, 2)), rng.normal(size=3))]
    layers.append(Linear(rng.normal(size=(2, 3)), rng.normal(size=2)))
    return MLP(layers)


PROGRAMS = [
    ClassProgram(
        "linear layer",
        linear_loss,
        lambda r: (Linear(r.normal(size=(3, 2)), r.normal(size=3)), r.normal(size=2)),
        wrt=(0, 1),
    ),
    ClassProgram(
        "MLP of layers",
        MLP.loss,
        lambda r: (_mlp(r), r.normal(size=2), r.normal(size=2)),
        wrt="self",
    ),
    ClassProgram(
        "dict-of-parameters model",
        DictModel.loss,
        lambda r: (
            DictModel({"W": r.normal(size=(2, 3)), "b": r.normal(size=3)}),
            r.normal(size=(4, 2)),
        ),
        wrt="self",
    ),  # fmt: skip
    ClassProgram(
        "frozen dataclass",
        params_loss,
        lambda r: (Params(r.normal(size=3), 1.5), r.normal(size=3)),
    ),
    ClassProgram(
        "NamedTuple",
        pair_loss,
        lambda r: (Pair(r.normal(size=3), 0.5, 2), r.normal(size=3)),
    ),
    ClassProgram(
        "nested objects",
        encoder_loss,
        lambda r: (
            Encoder(
                Linear(r.normal(size=(3, 2)), r.normal(size=3)),
                Linear(r.normal(size=(2, 3)), r.normal(size=2)),
                1.5,
            ),
            r.normal(size=2),
        ),
        wrt=(0, 1),
    ),  # fmt: skip
    ClassProgram(
        "inheritance with super()",
        scaled_loss,
        lambda r: (Scaled(r.normal(size=(2, 2)), r.normal(size=2), 0.7), r.normal(size=2)),
    ),
    ClassProgram(
        "distribution with a property and log_prob",
        Gaussian.log_prob,
        lambda r: (Gaussian(r.normal(size=3), 0.3 * r.normal(size=3)), r.normal(size=3)),
        wrt=(0, 1),
    ),
    ClassProgram(
        "__slots__",
        Slotted.energy,
        lambda r: (Slotted(r.normal(size=3), 0.25), r.normal(size=3)),
        wrt=(0, 1),
    ),
    ClassProgram(
        "callable object passed as an argument (staticmethod inside)",
        activation_loss,
        lambda r: (r.normal(size=4), Activation(1.5)),
        wrt=(0, 1),
    ),
    ClassProgram(
        "particle simulation with step()",
        simulate,
        lambda r: (Particle(r.normal(size=3), r.normal(size=3)), 0.1),
        wrt=(0, 1),
        notes="step() assigns attributes of an argument: inlined, the caller's object changed",
    ),
    ClassProgram(
        "optimizer-like loop updating attributes",
        optimize,
        lambda r: (r.normal(size=3), r.normal(size=3)),
        notes="SGD made inline; update() writes its counter: inlined on the made object",
    ),
    ClassProgram(
        "loop updating the attributes of an object it made",
        integrate,
        lambda r: (r.normal(size=3), r.normal(size=3)),
        wrt=(0, 1),
    ),
    ClassProgram(
        "object built from a differentiable argument, then called",
        build_then_call,
        lambda r: (r.normal(size=(2, 3)), r.normal(size=3)),
        notes="Linear.__init__ runs inline, then make_object",
    ),
    ClassProgram(
        "classmethod factory and super().__init__ inside the function",
        factory_then_call,
        lambda r: (r.normal(size=(2, 3)), r.normal(size=3)),
        notes="from_weights inlined with cls the class; Normalized.__init__ with Affine's",
    ),
    ClassProgram(
        "a function (not a method) assigning an argument's attributes",
        simulate_with_a_function,
        lambda r: (Particle(r.normal(size=3), r.normal(size=3)), 0.1),
        wrt=(0, 1),
        notes="advance() assigns its parameter's attributes: inlined, as a method is",
    ),
    ClassProgram(
        "a method assigning an attribute of an object its object holds",
        simulate_a_body,
        lambda r: (Body(Particle(r.normal(size=3), r.normal(size=3))), 0.1),
        wrt=(0, 1),
        notes="self.particle.x = ...: the chain read, assigned and put back, checked first",
    ),
    ClassProgram(
        "a list of particles, each stepped in a loop",
        simulate_particles,
        lambda r: ([Particle(r.normal(size=3), r.normal(size=3)) for _ in range(3)], 0.1),
        wrt=(0, 1),
        notes="for p in particles: p.step(dt): each particle put back into its slot",
    ),
    ClassProgram(
        "a local alias of a particle read after it stepped",
        an_alias_read_after_a_step,
        lambda r: (Particle(r.normal(size=3), r.normal(size=3)), 0.1),
        wrt=(0, 1),
        static=False,
        notes="q = p then p.step(dt): generated code follows names, so the tape",
    ),
    ClassProgram(
        "dataclass made inside the function",
        dataclass_made_inside,
        lambda r: (r.normal(size=3), r.normal(size=3)),
        notes="the dataclass's generated __init__ as make_object",
    ),
]

_ = dataclasses  # (dataclasses.replace is how a user rebuilds a frozen one)
