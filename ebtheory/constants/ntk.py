"""Empirical neural tangent kernel (NTK) Gram matrices: of any small nn.Module through torch.func, and a
closed form for two-layer ReLU nets whose first layer alone is trained.

K[(i, c), (j, c')] = <d f_c(x_i)/d theta, d f_c'(x_j)/d theta>, theta = the parameters with
requires_grad (buffers such as TwoLayerNTK's fixed signs are not trained, so not in theta).
Multi-output nets (C > 1), `outputs`:
  "mean"  (1/C) sum_c K[(i, c), (j, c)]: the m x m average of the C diagonal blocks. For TwoLayerNTK
          with sign readout it tends to H_inf as the width grows (the off-diagonal blocks tend to 0).
  "full"  the (m C) x (m C) matrix, row index i*C + c: the Gauss-Newton Hessian J J^T of GD on the sum
          loss has these eigenvalues, so step-size stability needs eta < 2 / lambda_max(full).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg
import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vmap

from ebtheory.validation import require_choice, require_positive_int

OUTPUT_REDUCTIONS = ("mean", "full")


def _as_inputs(X: object, dtype: torch.dtype | None) -> Tensor:
    tensor = torch.as_tensor(X)
    if tensor.ndim < 2 or tensor.shape[0] < 1:
        raise ValueError(f"X must have shape (m, ...) with m >= 1 examples; got shape {tuple(tensor.shape)}")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError("X must be finite; it holds NaN or inf")
    return tensor if dtype is None else tensor.to(dtype)


def empirical_ntk_jacobian(model: nn.Module, X: object, *, chunk_size: int = 128) -> Tensor:
    """J[i, c, p] = d f_c(x_i) / d theta_p for the trained parameters theta, shape (m, C, P), chunked over
    examples with torch.func (vmap of jacrev of a functional_call on one example)."""
    chunk_size = require_positive_int("chunk_size", chunk_size)
    inputs = _as_inputs(X, next(model.parameters()).dtype)
    trained = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    if not trained:
        raise ValueError("model has no parameter with requires_grad=True, so its NTK is zero")
    frozen = {name: p.detach() for name, p in model.named_parameters() if not p.requires_grad}
    frozen.update(dict(model.named_buffers()))

    def output(params: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(model, {**params, **frozen}, (x.unsqueeze(0),)).reshape(-1)

    per_example = vmap(jacrev(output), in_dims=(None, 0))
    blocks = []
    for start in range(0, inputs.shape[0], chunk_size):
        jac = per_example(trained, inputs[start : start + chunk_size])
        blocks.append(torch.cat([j.reshape(j.shape[0], j.shape[1], -1) for j in jac.values()], dim=2))
    return torch.cat(blocks, dim=0)


def _reduce(jacobian: Tensor, outputs: str) -> Tensor:
    m, c, _ = jacobian.shape
    if outputs == "full":
        flat = jacobian.reshape(m * c, -1)
        return flat @ flat.T
    return torch.einsum("icp,jcp->ij", jacobian, jacobian) / c


def empirical_ntk_gram(model: nn.Module, X: object, *, outputs: str = "mean", chunk_size: int = 128) -> np.ndarray:
    """The empirical NTK Gram of `model` on X (float64 numpy; the model's dtype for the Jacobians).

    outputs="mean": (m x m) average of the per-output blocks; "full": (mC x mC). See the module doc."""
    outputs = require_choice("outputs", outputs, OUTPUT_REDUCTIONS)
    jacobian = empirical_ntk_jacobian(model, X, chunk_size=chunk_size)
    return _reduce(jacobian, outputs).to(torch.float64).cpu().numpy()


def _two_layer_parts(X: object, W1: object, W2: object, active: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    x = _as_inputs(X, torch.float64)
    w1 = torch.as_tensor(W1).detach().to(torch.float64)
    w2 = torch.as_tensor(W2).detach().to(torch.float64)
    w2 = w2.reshape(w2.shape[0], -1)
    if x.ndim != 2 or w1.ndim != 2 or w1.shape[1] != x.shape[1] or w2.shape[0] != w1.shape[0]:
        raise ValueError(
            f"need X (m, d), W1 (N, d), W2 (N, C) with matching d and N; got X {tuple(x.shape)}, "
            f"W1 {tuple(w1.shape)}, W2 {tuple(w2.shape)}"
        )
    if active is None:
        active = (x @ w1.T > 0).to(torch.float64)  # relu'(z) = 1{z > 0}, as torch's relu backward
    elif tuple(active.shape) != (x.shape[0], w1.shape[0]) or active.dtype != torch.float64:
        raise ValueError(
            f"active must be the float64 (m, N) = ({x.shape[0]}, {w1.shape[0]}) matrix 1{{X W1^T > 0}}; "
            f"got {tuple(active.shape)} {active.dtype}"
        )
    return x, active, w2


def two_layer_ntk_gram(X: object, W1: object, W2: object, *, outputs: str = "mean") -> np.ndarray:
    """Closed form of the NTK Gram of f(x) = relu(x W1^T) W2 w.r.t. W1 only (float64):

    K[(i,c),(j,c')] = (x_i . x_j) sum_r W2[r,c] W2[r,c'] 1{w_r.x_i > 0} 1{w_r.x_j > 0}.
    For TwoLayerNTK (W2 = a / sqrt(N), a in {+-1}) the "mean" form is (1/N) sum_r x_i.x_j 1{..}1{..},
    whose expectation over w_r ~ N(0, kappa^2 I) is H_inf (Du et al. 2019, eq. 3.1), for every kappa."""
    outputs = require_choice("outputs", outputs, OUTPUT_REDUCTIONS)
    x, active, w2 = _two_layer_parts(X, W1, W2)
    cosines = x @ x.T
    if outputs == "mean":
        return (cosines * ((active * w2.square().mean(1)) @ active.T)).numpy()
    m, c = x.shape[0], w2.shape[1]
    full = torch.einsum("ir,rc,rk,jr->icjk", active, w2, w2, active) * cosines[:, None, :, None]
    return full.reshape(m * c, m * c).numpy()


def two_layer_ntk_operator(
    X: object, W1: object, W2: object, *, active: Tensor | None = None
) -> scipy.sparse.linalg.LinearOperator:
    """v -> J J^T v for the full (mC x mC) two-layer NTK Gram, without forming it: O(m N (C + d)) a product.

    J^T v = sum_{i,c} v[i,c] W2[r,c] 1{w_r.x_i > 0} x_i (an N x d gradient); J g = sum_r W2[r,c] 1{..} g_r.x_i.
    active: the float64 (m, N) matrix 1{X W1^T > 0} when the caller already has it (saves one product)."""
    x, active, w2 = _two_layer_parts(X, W1, W2, active)
    m, c = x.shape[0], w2.shape[1]

    # Products with the short side (C or d) as rows: 10% faster than the N x d gradient layout.
    x_rows, w2_rows = x.T.contiguous(), w2.T.contiguous()

    def product(v: np.ndarray) -> np.ndarray:
        values = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64)).reshape(m, c)
        gradient = x_rows @ (active * (values @ w2_rows))  # d x N, the transposed J^T v
        return (w2_rows @ (active * (x @ gradient)).T).T.reshape(-1).numpy()

    return scipy.sparse.linalg.LinearOperator((m * c, m * c), matvec=product, dtype=np.float64)


_DENSE_LAMBDA_MAX_SIZE = 8


def two_layer_ntk_lambda_max(X: object, W1: object, W2: object, *, tol: float = 1e-6, seed: int = 0) -> float:
    """lambda_max of the full two-layer NTK Gram by Lanczos on two_layer_ntk_operator (sum-loss Hessian scale)."""
    operator = two_layer_ntk_operator(X, W1, W2)
    if operator.shape[0] <= _DENSE_LAMBDA_MAX_SIZE:
        # Tiny Grams in closed form. Larger ones always go to Lanczos: dense LAPACK eigensolvers took
        # 0.6-1.9 s at m C = 480 on this machine's OpenBLAS under load, Lanczos milliseconds.
        return float(np.linalg.eigvalsh(two_layer_ntk_gram(X, W1, W2, outputs="full"))[-1])
    start = np.random.default_rng(seed).standard_normal(operator.shape[0])
    if not np.any(operator @ start):
        return 0.0  # J J^T v = 0 for a generic v: the Gram is zero (every neuron dead on X)
    value = scipy.sparse.linalg.eigsh(operator, k=1, which="LA", tol=tol, v0=start, return_eigenvectors=False)
    return float(value[0])
