"""The workloads of ``benchmarks/workloads.py`` written for PyTorch eager (issue 18).

The matrix's target is astgrad "no worse than PyTorch eager on any" workload. Rebinding
``np`` to ``torch`` in the NumPy function does not give that peer: ``torch.maximum(0, z)``
wants two tensors, ``torch.dot`` takes vectors only, ``np.linalg``'s functions live
elsewhere. So each workload is written here again as a PyTorch user writes it: the same
math in float64, step for step (the same max subtraction, the same loop, the same
in-place write into a copy), with PyTorch's own spelling where NumPy's has no PyTorch
twin (``torch.relu`` for ``np.maximum(0, z)``, ``@`` for ``np.dot`` and ``x.dot`` on
matrices, ``torch.cholesky_solve`` for ``scipy.linalg.cho_solve``).

:data:`TORCH` maps a workload's name to its PyTorch function, which takes the workload's
parameters in the same order; :data:`FUSED` holds, for the five workloads where PyTorch
has one, the spelling a PyTorch user reaches for first (``F.cross_entropy``,
``F.mse_loss``, ``F.softplus``, ``torch.softmax``: fused losses with one-kernel backward
passes), so that the comparison is also with PyTorch at its most idiomatic.
:func:`make_call` returns a call computing the loss and its gradients by
``torch.autograd.grad``, as the matrix times it. ``tests/test_torch_workloads.py``
checks every one (both spellings) against the hand-written NumPy gradient. This module
imports torch: import it only where torch is installed (``benchmarks/matrix_torch.py``
skips the column otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

F64 = torch.float64

# -- MLPs ------------------------------------------------------------------------------------


def mlp_matmul(W1, b1, W2, b2, W3, b3, x, y):
    h1 = torch.relu(x @ W1 + b1)
    h2 = torch.relu(h1 @ W2 + b2)
    out = h2 @ W3 + b3
    return torch.mean((out - y) ** 2)


def mlp_np_dot(W1, b1, W2, b2, W3, b3, x, y):
    # torch.dot takes vectors; on matrices PyTorch users write @ (torch.mm).
    h1 = torch.relu(x @ W1 + b1)
    h2 = torch.relu(h1 @ W2 + b2)
    out = h2 @ W3 + b3
    return torch.sum((out - y) ** 2)


def mlp_dot_method(W1, b1, W2, b2, W3, b3, x, y):
    # Tensor.dot takes vectors too: x.mm(W) is the method on matrices.
    h1 = torch.relu(x.mm(W1) + b1)
    h2 = torch.relu(h1.mm(W2) + b2)
    out = h2.mm(W3) + b3
    return torch.mean((out - y) ** 2)


def mlp_einsum(W1, b1, W2, b2, W3, b3, x, y):
    h1 = torch.relu(torch.einsum("ij,jk->ik", x, W1) + b1)
    h2 = torch.relu(torch.einsum("ij,jk->ik", h1, W2) + b2)
    out = torch.einsum("ij,jk->ik", h2, W3) + b3
    return torch.sum((out - y) ** 2)


def mlp_where(W1, b1, W2, b2, W3, b3, x, y):
    z1 = x @ W1 + b1
    h1 = torch.where(z1 > 0, z1, 0.0)
    z2 = h1 @ W2 + b2
    h2 = z2 * (z2 > 0)
    out = h2 @ W3 + b3
    return torch.square(out - y).mean()


# -- RNNs ------------------------------------------------------------------------------------


def rnn_list(Wx, Wh, b, Wo, xs, h0, ys):
    states = [h0]
    for t in range(xs.shape[0]):
        states.append(torch.tanh(xs[t] @ Wx + states[-1] @ Wh + b))
    outputs = torch.stack(states[1:]) @ Wo
    return torch.mean((outputs - ys) ** 2)


def rnn_zeros(Wx, Wh, b, xs):
    h = torch.zeros((xs.shape[1], Wh.shape[0]), dtype=F64)
    for t in range(xs.shape[0]):
        h = torch.tanh(xs[t] @ Wx + h @ Wh + b)
    return torch.sum(h * h)


# -- classifiers -----------------------------------------------------------------------------


def softmax_xent(W, b, x, labels):
    # The NumPy workload's math, not F.cross_entropy: the same operations in both.
    logits = x @ W + b
    logits = logits - torch.max(logits, dim=1, keepdim=True).values
    log_probs = logits - torch.log(torch.sum(torch.exp(logits), dim=1, keepdim=True))
    return -torch.mean(log_probs[torch.arange(x.shape[0]), labels])


def logistic(w, b, X, y):
    margins = y * (X @ w + b)
    return torch.mean(torch.log1p(torch.exp(-margins))) + 1e-3 * torch.sum(w * w)


# -- einsum ----------------------------------------------------------------------------------


def bilinear(A, X, Y):
    return torch.sum(torch.einsum("bi,ij,bj->b", X, A, Y) ** 2)


def attention(Wq, Wk, Wv, X, target):
    q = X @ Wq
    k = X @ Wk
    v = X @ Wv
    scores = torch.einsum("qd,kd->qk", q, k) / math.sqrt(q.shape[1])
    scores = scores - torch.max(scores, dim=1, keepdim=True).values
    weights = torch.exp(scores)
    weights = weights / torch.sum(weights, dim=1, keepdim=True)
    out = torch.einsum("qk,kd->qd", weights, v)
    return torch.mean((out - target) ** 2)


# -- Gaussian-process likelihoods ------------------------------------------------------------


def gp_nll(log_params, X, y):
    lengthscale = torch.exp(log_params[0])
    signal = torch.exp(log_params[1])
    noise = torch.exp(log_params[2])
    sq = torch.sum(X**2, dim=1)
    dist2 = sq[:, None] + sq[None, :] - 2 * X @ X.T
    K = signal * torch.exp(-0.5 * dist2 / lengthscale**2) + noise * torch.eye(X.shape[0], dtype=F64)
    L = torch.linalg.cholesky(K)
    alpha = torch.linalg.solve(L.T, torch.linalg.solve(L, y))
    return (
        0.5 * y @ alpha
        + torch.sum(torch.log(torch.diagonal(L)))
        + 0.5 * len(y) * math.log(2 * math.pi)
    )


def gp_nll_cho(log_params, X, y):
    # scipy.linalg.cho_factor / cho_solve in PyTorch: torch.linalg.cholesky and
    # torch.cholesky_solve (which wants a matrix right-hand side).
    lengthscale, signal, noise = torch.exp(log_params)
    dist2 = torch.sum((X[:, None, :] - X[None, :, :]) ** 2, dim=-1)
    K = signal * torch.exp(-0.5 * dist2 / lengthscale**2) + noise * torch.eye(len(X), dtype=F64)
    L = torch.linalg.cholesky(K)
    alpha = torch.cholesky_solve(y[:, None], L)[:, 0]
    log_det = 2 * torch.sum(torch.log(torch.diagonal(L)))
    return 0.5 * y @ alpha + 0.5 * log_det + 0.5 * len(y) * math.log(2 * math.pi)


# -- simulations -----------------------------------------------------------------------------


def heat_2d(u, k):
    for _ in range(20):
        laplacian = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1]
        u = u.clone()
        u[1:-1, 1:-1] = u[1:-1, 1:-1] + k * laplacian
    return torch.sum(u**2)


def heat_1d_loop(u, k):
    n = u.shape[0]
    for _ in range(20):
        u_new = u.clone()
        for i in range(1, n - 1):
            u_new[i] = u[i] + k * (u[i - 1] - 2 * u[i] + u[i + 1])
        u = u_new
    return torch.sum(u**2)


def logistic_growth(y0, rate, capacity):
    # The same loop on 0-d tensors: PyTorch differentiates tensors, not Python floats.
    y = y0
    for _ in range(200):
        y = y + 0.01 * rate * y * (1 - y / capacity)
    return (y - 0.8) ** 2


#: the PyTorch function of each workload in ``benchmarks/workloads.py``, by its name
TORCH: dict[str, Callable] = {
    "MLP @": mlp_matmul,
    "MLP np.dot": mlp_np_dot,
    "MLP x.dot": mlp_dot_method,
    "MLP einsum": mlp_einsum,
    "RNN list": rnn_list,
    "RNN zeros": rnn_zeros,
    "softmax xent": softmax_xent,
    "logistic": logistic,
    "einsum bilinear": bilinear,
    "attention": attention,
    "GP likelihood": gp_nll,
    "GP cho_factor": gp_nll_cho,
    "stencil 2-D": heat_2d,
    "Euler ODE": logistic_growth,
    "large MLP @": mlp_matmul,
    "MLP where": mlp_where,
    "heat 1-D loop": heat_1d_loop,
}


# -- the same losses in PyTorch's own words -------------------------------------------------
#
# A PyTorch user reaches for PyTorch's fused losses and softmax, whose backward passes are
# single kernels: these are the workloads above in that style, for the workloads where one
# exists (same loss, same products; the einsum stays an einsum).


def mlp_matmul_fused(W1, b1, W2, b2, W3, b3, x, y):
    h1 = torch.relu(x @ W1 + b1)
    h2 = torch.relu(h1 @ W2 + b2)
    return F.mse_loss(h2 @ W3 + b3, y)


def softmax_xent_fused(W, b, x, labels):
    return F.cross_entropy(x @ W + b, labels)


def logistic_fused(w, b, X, y):
    return F.softplus(-y * (X @ w + b)).mean() + 1e-3 * torch.sum(w * w)


def attention_fused(Wq, Wk, Wv, X, target):
    q = X @ Wq
    k = X @ Wk
    v = X @ Wv
    weights = torch.softmax(torch.einsum("qd,kd->qk", q, k) / math.sqrt(q.shape[1]), dim=1)
    return F.mse_loss(torch.einsum("qk,kd->qd", weights, v), target)


#: PyTorch's fused spelling of the workloads that have one, by name
FUSED: dict[str, Callable] = {
    "MLP @": mlp_matmul_fused,
    "large MLP @": mlp_matmul_fused,
    "softmax xent": softmax_xent_fused,
    "logistic": logistic_fused,
    "attention": attention_fused,
}


def as_tensor(value: Any, requires_grad: bool) -> torch.Tensor:
    """A workload's argument as PyTorch takes it: floats (Python or NumPy) as float64
    tensors, integer arrays (labels, which index) as int64; the NumPy data is copied, so
    nothing PyTorch does can write into the workload's arrays."""
    array = np.array(value)
    if array.dtype.kind in "iu":
        return torch.from_numpy(array.astype(np.int64))
    tensor = torch.from_numpy(array.astype(np.float64))
    return tensor.requires_grad_(True) if requires_grad else tensor


def make_call(workload: Any, args: tuple, fused: bool = False) -> Callable[[], tuple]:
    """A call computing ``(loss, gradients)`` of ``workload`` (a ``workloads.Workload``) at
    ``args`` (in its parameter order) with PyTorch eager: the forward pass recorded on
    PyTorch's tape, then ``torch.autograd.grad`` of the loss with respect to the ``wrt``
    parameters; with ``fused``, the :data:`FUSED` spelling. Raises ``KeyError`` for a
    workload this module has no such version of."""
    f = (FUSED if fused else TORCH)[workload.name]
    wanted = set(workload.positions)
    tensors = [as_tensor(value, i in wanted) for i, value in enumerate(args)]
    leaves = [tensors[i] for i in workload.positions]

    def run() -> tuple:
        loss = f(*tensors)
        return loss, torch.autograd.grad(loss, leaves)

    return run


def make_forward(workload: Any, args: tuple) -> Callable[[], Any]:
    """A call of the PyTorch forward alone, recording nothing (``torch.no_grad``)."""
    f = TORCH[workload.name]
    tensors = [as_tensor(value, False) for value in args]

    def run() -> Any:
        with torch.no_grad():
            return f(*tensors)

    return run
