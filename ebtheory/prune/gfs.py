"""Exact greedy forward selection (GFS) for a two-layer net: every candidate scored, by linear algebra.

Atoms (docs/theory.md, section 2, Ye et al. ICML 2020): for hidden activations H (m x N), output weights
W2 (N x C) and an optional output bias b (C),

    g_r = N * H[:, r] W2[r]^T + 1 b^T        (m x C),   so the dense output u = H W2 + 1 b^T = mean_r g_r,

and a multiset S gives u_S = (1/|S|) sum_{r in S} g_r. The loss is the SUM loss L(u) = 1/2 ||u - Y||_F^2.
Greedy with replacement picks, at step k,

    S_k = S_{k-1} + {argmin_r L(((k-1) u_{S_{k-1}} + g_r) / k)},

ties broken by the lowest index. With s = sum of the k-1 chosen atoms, R = s - kY and counts c,
L(candidate r) = (||R||^2 + score_r) / (2 k^2) with score_r = 2 <R, g_r> + ||g_r||^2, and
(docs/theory.md, section 2, bias made exact)

    score_r = 2 (K c)_r + 2k beta_r - 2k xi_r + K_rr          + terms equal for all r,
    K   = N^2 (H^T H) * (W2 W2^T)     (elementwise product: the bias-free atom Gram),
    beta_r = N (1^T H[:, r]) <W2[r], b>,   xi_r = N <(H^T Y)[r], W2[r]>.

The full atom Gram is G = K + beta 1^T + 1 beta^T + m ||b||^2 (`atom_gram`). Two exact forms:

* "gram": build K once, O(m N^2 / 2) with the symmetric half, chunked; then O(N) per step (K c gains
  one row per step). N x N floats must fit in memory.
* "residual": per step one product H^T R, O(m N C); no N x N matrix.

Reproducible on any machine (issue 10.5). By default the selection runs in float64 on the CPU,
whatever the dtype and device of the inputs (`dtype=torch.float64`, `device="cpu"`), so a GPU or another
BLAS cannot change a choice through float32 round-off.

The tie rule. Scores are compared with a relative tolerance: at step k, with
tol = TIE_RTOL[dtype] * k * (gmax + ||Y||) * gmax and gmax = max_r ||g_r|| (a bound on the size of the
score terms), every candidate whose score is within tol of the minimum is tied, and the lowest index
among them wins. In float64 TIE_RTOL is 1e-9: far above the float64 round-off of the scores (~1e-15)
and of inputs perturbed at 1e-12 (a different BLAS thread count, a last-bit change of the data), so
such perturbations cannot flip a choice unless the gap sits within 1e-12 of the tolerance itself;
planted ties (duplicate neurons) go to the lowest copy. Choices match the float64 naive twin. In
float32 (dtype=torch.float32, TIE_RTOL 1e-6) the Gram entries carry relative round-off ~1e-7, so the
Gram form's scores err by up to ~k * 1e-7 * max|K|: its choices are eps-optimal in exact arithmetic
(tests check the chosen candidate's float64 loss is within that of the best).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn

from ebtheory.validation import require_choice, require_positive_int

__all__ = [
    "FORMS",
    "TIE_RTOL",
    "GFSResult",
    "PrunedTwoLayer",
    "atom_gram",
    "atom_spread",
    "greedy_forward_selection",
    "greedy_forward_selection_naive",
    "pruned_two_layer",
    "shared_gram",
]

FORMS = ("auto", "gram", "residual")
TIE_RTOL = {torch.float32: 1e-6, torch.float64: 1e-9}
_CHUNK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class GFSResult:
    """Outcome of greedy forward selection.

    indices: (k,) int64, the chosen neuron at each step (repeats allowed); losses: (k,) float64, the SUM
    loss 1/2||u_{S_j} - Y||_F^2 after step j; counts: (N,) int64 multiplicities; module: the pruned
    `PrunedTwoLayer` when W1 was given, else None; form: "gram", "residual" or "naive"; timings:
    seconds spent in "build" (Gram or statistics), "select" (the k steps) and "losses".
    """

    indices: Tensor
    losses: np.ndarray
    counts: Tensor
    module: nn.Module | None
    form: str = "naive"
    timings: dict[str, float] = field(default_factory=dict)


class PrunedTwoLayer(nn.Module):
    """out(x) = relu(x W1^T + b1) @ W2 + bias: the subnetwork of the distinct selected neurons.

    Built by `pruned_two_layer`, whose W2 rows carry N * count_r / k * W2[r], so out equals the
    greedy average u_S = (1/k) sum_{r in S} g_r. Input weights (and b1) are trainable parameters; the
    output bias is a fixed buffer.
    """

    def __init__(
        self,
        input_weights: Tensor,
        output_weights: Tensor,
        input_bias: Tensor | None = None,
        output_bias: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.input_weights = nn.Parameter(input_weights.detach().clone())
        self.input_bias = None if input_bias is None else nn.Parameter(input_bias.detach().clone())
        self.output_weights = nn.Parameter(output_weights.detach().clone())
        self.register_buffer("output_bias", None if output_bias is None else output_bias.detach().clone())

    @property
    def width(self) -> int:
        """Number of hidden neurons kept."""
        return int(self.input_weights.shape[0])

    def hidden(self, x: Tensor) -> Tensor:
        """relu(x W1^T + b1), shape (m, width)."""
        pre = x.reshape(x.shape[0], -1) @ self.input_weights.T
        if self.input_bias is not None:
            pre = pre + self.input_bias
        return torch.relu(pre)

    def readout(self) -> tuple[Tensor, Tensor | None]:
        """(W2, bias) with forward(x) == hidden(x) @ W2 + bias."""
        return self.output_weights, self._output_bias()

    def _output_bias(self) -> Tensor | None:
        bias = self.output_bias
        return None if bias is None else cast(Tensor, bias)

    def forward(self, x: Tensor) -> Tensor:
        out = self.hidden(x) @ self.output_weights
        bias = self._output_bias()
        return out if bias is None else out + bias


def pruned_two_layer(
    W1: Tensor, W2: Tensor, counts: Tensor, *, bias: Tensor | None = None, b1: Tensor | None = None
) -> PrunedTwoLayer:
    """The averaged subnetwork of a multiset given by its counts: rows r with counts[r] > 0, output
    weights N * counts[r] / k * W2[r] (k = counts.sum(), N = len(counts)); docs/theory.md, section 2."""
    counts = torch.as_tensor(counts, dtype=torch.int64)
    W2 = W2.reshape(W2.shape[0], -1)
    if counts.ndim != 1 or counts.shape[0] != W1.shape[0] or counts.shape[0] != W2.shape[0]:
        raise ValueError(
            f"counts must have shape (N,) = ({W1.shape[0]},) matching W1 and W2 rows; "
            f"got {tuple(counts.shape)}, W1 {tuple(W1.shape)}, W2 {tuple(W2.shape)}"
        )
    if bool((counts < 0).any()) or int(counts.sum()) < 1:
        raise ValueError(f"counts must be >= 0 with a positive sum; got sum {int(counts.sum())}")
    n_total, k = counts.shape[0], int(counts.sum())
    kept = torch.nonzero(counts).flatten()
    scale = (n_total * counts[kept].to(torch.float64) / k).to(W2.dtype)
    return PrunedTwoLayer(
        W1[kept],
        W2[kept].to(W1.dtype) * scale[:, None].to(W1.dtype),
        None if b1 is None else b1[kept],
        None if bias is None else bias.to(W1.dtype),
    )


# --- validation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    """Validated inputs: H (m x N), W2 (N x C), Y (m x C), bias (C,) or None, compute dtype."""

    H: Tensor
    W2: Tensor
    Y: Tensor
    bias: Tensor | None
    k: int
    dtype: torch.dtype

    @property
    def m(self) -> int:
        return int(self.H.shape[0])

    @property
    def N(self) -> int:
        return int(self.H.shape[1])


def _as_float_tensor(name: str, value: object) -> Tensor:
    tensor = torch.as_tensor(value)
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float64)
    # Row chunks: isfinite on the whole of a large H allocates several times its size.
    rows = max(1, (2**22) // max(1, tensor[0].numel())) if tensor.ndim > 0 and tensor.shape[0] > 0 else 1
    chunks = [tensor] if tensor.ndim == 0 else [tensor[i : i + rows] for i in range(0, tensor.shape[0], rows)]
    bad = sum(int((~torch.isfinite(chunk)).sum()) for chunk in chunks)
    if bad:
        raise ValueError(f"{name} must be finite; got {bad} NaN/inf entries in shape {tuple(tensor.shape)}")
    return tensor


def _validate(
    H: object,
    W2: object,
    Y: object,
    k: object,
    bias: object,
    dtype: torch.dtype | None,
    replacement: bool,
    n_candidates: object,
    device: str | torch.device | None = None,
) -> _Problem:
    H = _as_float_tensor("H", H)
    if H.ndim != 2 or H.shape[0] < 1 or H.shape[1] < 1:
        raise ValueError(f"H must be an (m, N) matrix of hidden activations; got shape {tuple(H.shape)}")
    m, n_neurons = H.shape
    W2 = _as_float_tensor("W2", W2)
    if W2.ndim == 1:
        W2 = W2[:, None]
    if W2.ndim != 2 or W2.shape[0] != n_neurons or W2.shape[1] < 1:
        raise ValueError(f"W2 must have shape (N, C) with N = {n_neurons} (columns of H); got {tuple(W2.shape)}")
    outputs = W2.shape[1]
    Y = _as_float_tensor("Y", Y)
    if Y.ndim == 1:
        Y = Y[:, None]
    if tuple(Y.shape) != (m, outputs):
        raise ValueError(f"Y must have shape (m, C) = ({m}, {outputs}); got {tuple(Y.shape)}")
    if bias is not None:
        bias = _as_float_tensor("bias", bias).reshape(-1)
        if bias.shape[0] != outputs:
            raise ValueError(f"bias must have shape (C,) = ({outputs},); got {tuple(bias.shape)}")
    k = require_positive_int("k", k)
    if not replacement and k > n_neurons:
        raise ValueError(f"k must lie in [1, N] = [1, {n_neurons}] without replacement; got k={k}")
    if n_candidates is not None:
        n_cand = require_positive_int("n_candidates", n_candidates)
        if n_cand > n_neurons:
            raise ValueError(f"n_candidates must lie in [1, N] = [1, {n_neurons}] or be None; got {n_candidates}")
    dtype = H.dtype if dtype is None else dtype
    if dtype not in TIE_RTOL:
        raise ValueError(f"dtype must be torch.float32, torch.float64 or None (H's dtype); got {dtype}")
    if device is not None:
        try:
            target = torch.device(device)
        except (RuntimeError, TypeError):
            raise ValueError(
                f"device must be a torch device name such as 'cpu' or None (H's device); got {device!r}"
            ) from None
        H, W2, Y = H.to(target), W2.to(target), Y.to(target)
        bias = None if bias is None else bias.to(target)
    return _Problem(H, W2, Y, bias, k, dtype)


def _validate_first_layer(W1: object, b1: object, n_neurons: int) -> tuple[Tensor | None, Tensor | None]:
    if W1 is None:
        if b1 is not None:
            raise ValueError("b1 was given without W1; pass W1 (N x d) to build the pruned module")
        return None, None
    W1 = _as_float_tensor("W1", W1)
    if W1.ndim != 2 or W1.shape[0] != n_neurons:
        raise ValueError(f"W1 must have shape (N, d) with N = {n_neurons}; got {tuple(W1.shape)}")
    if b1 is not None:
        b1 = _as_float_tensor("b1", b1).reshape(-1)
        if b1.shape[0] != n_neurons:
            raise ValueError(f"b1 must have shape (N,) = ({n_neurons},); got {tuple(b1.shape)}")
    return W1, b1


def _default_memory_limit() -> int:
    """A quarter of the available RAM (2 GiB when the OS does not say)."""
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) // 4
    except (ValueError, OSError, AttributeError):
        return 2 * 2**30


# --- shared pieces: candidates, ties, statistics, losses --------------------------------------------


def _candidate_sets(
    n_neurons: int, k: int, replacement: bool, n_candidates: int | None, seed: int, chosen: list[int]
) -> Iterator[Tensor | None]:
    """Per step: the sorted candidate indices, or None for all N. Without replacement the already
    chosen (read from `chosen`, which the caller appends to) are excluded. With n_candidates, a
    seeded uniform subset of that many of the allowed (as the reference code samples)."""
    rng = np.random.default_rng(seed)
    allowed = np.ones(n_neurons, dtype=bool)
    for _ in range(k):
        if not replacement and chosen:
            allowed[chosen[-1]] = False
        if replacement and n_candidates is None:
            yield None
            continue
        pool = np.flatnonzero(allowed)
        if n_candidates is not None and n_candidates < pool.size:
            pool = np.sort(rng.choice(pool, size=n_candidates, replace=False))
        yield torch.from_numpy(pool)


def _lowest_index_argmin(scores: Tensor, candidates: Tensor | None, tol: float) -> int:
    """The lowest candidate index whose score is within tol of the candidates' minimum."""
    values = scores if candidates is None else scores[candidates]
    position = int(torch.nonzero(values <= values.min() + tol)[0, 0])
    return position if candidates is None else int(candidates[position])


def _rows_per_chunk(problem: _Problem, itemsize: int, memory_limit: int) -> int:
    budget = max(min(_CHUNK_BYTES, memory_limit // 4), 1)
    return max(1, budget // (problem.N * itemsize))


def _hidden_transpose_times(H: Tensor, R: Tensor, dtype: torch.dtype, rows: int) -> Tensor:
    """H^T R computed in `dtype`, converting H in row chunks of `rows` when its dtype differs."""
    if H.dtype == dtype:
        return H.T @ R.to(dtype)
    out = torch.zeros(H.shape[1], R.shape[1], dtype=dtype, device=H.device)
    for start in range(0, H.shape[0], rows):
        out += H[start : start + rows].to(dtype).T @ R[start : start + rows].to(dtype)
    return out


@dataclass(frozen=True)
class _AtomStatistics:
    """float64 per-neuron terms of the score: K_rr, beta_r, xi_r, ||g_r||^2, and the tie scale."""

    K_diag: Tensor
    beta: Tensor
    xi: Tensor
    atom_sq: Tensor
    tie_unit: float


def _atom_statistics(problem: _Problem, memory_limit: int) -> _AtomStatistics:
    H, n, m = problem.H, problem.N, problem.m
    f64 = torch.float64
    W2 = problem.W2.to(f64)
    rows = _rows_per_chunk(problem, 8, memory_limit)
    ones = torch.ones(m, 1, dtype=f64, device=H.device)
    HtY1 = _hidden_transpose_times(H, torch.cat([problem.Y.to(f64), ones], dim=1), f64, rows)
    col_sq = torch.zeros(n, dtype=f64, device=H.device)
    for start in range(0, m, rows):
        col_sq += H[start : start + rows].to(f64).square().sum(0)
    K_diag = n**2 * col_sq * W2.square().sum(1)
    xi = n * (HtY1[:, :-1] * W2).sum(1)
    if problem.bias is None:
        beta = torch.zeros(n, dtype=f64, device=H.device)
        bias_sq = 0.0
    else:
        b = problem.bias.to(f64)
        beta = n * HtY1[:, -1] * (W2 @ b)
        bias_sq = m * float(b.square().sum())
    atom_sq = (K_diag + 2 * beta + bias_sq).clamp_min(0.0)
    gmax = math.sqrt(float(atom_sq.max()))
    tie_unit = (gmax + float(problem.Y.to(f64).norm())) * gmax
    if not math.isfinite(tie_unit) or not bool(torch.isfinite(K_diag).all()):
        raise ValueError("H, W2, bias and Y are too large: the atom norms N * ||H_r|| ||W2_r|| overflow float64")
    return _AtomStatistics(K_diag, beta, xi, atom_sq, tie_unit)


class _AtomSum:
    """D = s - jY after j chosen atoms (float64, m x C; s = their sum), updated in place in O(mC)."""

    def __init__(self, problem: _Problem) -> None:
        self.H, self.n = problem.H, problem.N
        self.W2 = problem.W2.to(torch.float64)
        self.Y = Y = problem.Y.to(torch.float64)
        # Each atom adds N h_r W2[r]^T + 1 b^T, and each step subtracts one more Y.
        self.shift = -Y if problem.bias is None else problem.bias.to(torch.float64) - Y
        self.D = torch.zeros_like(Y)
        self.j = 0

    def residual(self) -> Tensor:
        """R = s - (j+1) Y, the residual that scores the next step."""
        return self.D - self.Y

    def add(self, r: int) -> float:
        """Add g_r; return the SUM loss 1/2||s/j - Y||^2 = ||D||^2 / (2 j^2) of the new average."""
        self.D.addr_(self.H[:, r].to(torch.float64), self.W2[r], alpha=float(self.n)).add_(self.shift)
        self.j += 1
        flat = self.D.view(-1)
        return 0.5 * float(torch.dot(flat, flat)) / self.j**2


# --- the Gram matrix ---------------------------------------------------------------------------------


def _bias_free_gram(problem: _Problem, memory_limit: int) -> Tensor:
    """K = N^2 (H^T H) * (W2 W2^T) in problem.dtype, built by column blocks of the upper triangle
    (about half the products of H^T H) and mirrored; H rows converted in chunks when dtypes differ."""
    H, n, dtype = problem.H, problem.N, problem.dtype
    W2 = problem.W2.to(dtype)
    K = torch.empty(n, n, dtype=dtype, device=H.device)
    block = max(1, min(n, math.ceil(n / 8), _CHUNK_BYTES // max(1, 4 * n * K.element_size())))
    rows = problem.m if H.dtype == dtype else _rows_per_chunk(problem, K.element_size(), memory_limit)
    for i in range(0, n, block):
        j = min(i + block, n)
        upper = torch.zeros(j - i, n - i, dtype=dtype, device=H.device)
        for start in range(0, problem.m, rows):
            chunk = H[start : start + rows].to(dtype)
            upper.addmm_(chunk[:, i:j].T, chunk[:, i:])
        K[i:j, i:] = upper * (W2[i:j] @ W2[i:].T) * float(n) ** 2
        K[j:, i:j] = K[i:j, j:].T
    if not bool(torch.isfinite(K.diagonal()).all()):
        raise ValueError(f"the atom Gram N^2 (H^T H) * (W2 W2^T) overflows {dtype}; pass dtype=torch.float64")
    return K


def atom_gram(
    H: Tensor,
    W2: Tensor,
    bias: Tensor | None = None,
    *,
    dtype: torch.dtype | None = None,
    memory_limit_bytes: int | None = None,
) -> Tensor:
    """G[r, q] = <g_r, g_q> = K + beta 1^T + 1 beta^T + m ||b||^2 (module docstring), N x N."""
    problem = _validate(
        H, W2, torch.zeros(H.shape[0], W2.reshape(W2.shape[0], -1).shape[1]), 1, bias, dtype, True, None
    )
    limit = _default_memory_limit() if memory_limit_bytes is None else memory_limit_bytes
    K = _bias_free_gram(problem, limit)
    if problem.bias is None:
        return K
    stats = _atom_statistics(problem, limit)
    beta = stats.beta.to(K.dtype)
    return K + beta[:, None] + beta[None, :] + problem.m * float(problem.bias.double().square().sum())


# --- the public selection ---------------------------------------------------------------------------


def greedy_forward_selection(
    H: Tensor,
    W2: Tensor,
    Y: Tensor,
    k: int,
    *,
    bias: Tensor | None = None,
    W1: Tensor | None = None,
    b1: Tensor | None = None,
    replacement: bool = True,
    form: str = "auto",
    n_candidates: int | None = None,
    seed: int = 0,
    memory_limit_bytes: int | None = None,
    dtype: torch.dtype | None = torch.float64,
    device: str | torch.device | None = "cpu",
    gram: Tensor | None = None,
) -> GFSResult:
    """Greedy forward selection of k atoms, scoring every candidate exactly (module docstring).

    dtype, device: where and in what precision the scores are computed (default float64 on the CPU,
    the reproducible choice; None keeps H's dtype or device). Ties: the lowest index among the
    candidates within the tolerance of the best (module docstring, "The tie rule").

    form "auto" picks "gram" when the N x N Gram (in `dtype`) fits in memory_limit_bytes (default a
    quarter of available RAM) and its build, m N^2 / 2 products, costs no more than the residual
    form's k steps, m N C k (i.e. N <= 2 k C); else "residual". Losses are SUM losses, in float64,
    recomputed from the chosen atoms. Without replacement (not covered by Lemma A) chosen neurons are
    excluded; n_candidates scores a seeded random subset of that many per step.

    gram: the bias-free atom Gram K of (H, W2), as `atom_gram(H, W2, dtype=dtype)` returns it (no
    bias), to share one build between several targets Y of the same net (the Gram does not depend on
    Y or on the output bias); form "auto" then runs "gram". The caller vouches that it belongs to
    (H, W2): only its shape, dtype and finiteness of the diagonal are checked. Same choices as
    without it (tests/test_two_layer_speed_twins.py).
    """
    problem = _validate(H, W2, Y, k, bias, dtype, replacement, n_candidates, device)
    W1, b1 = _validate_first_layer(W1, b1, problem.N)
    form = require_choice("form", form, FORMS)
    if gram is not None:
        gram = _validate_gram(gram, problem)
        form = "gram" if form == "auto" else form
    limit = (
        _default_memory_limit()
        if memory_limit_bytes is None
        else require_positive_int("memory_limit_bytes", memory_limit_bytes)
    )
    gram_bytes = _gram_bytes(problem.N, problem.dtype)
    if form == "auto":
        form = (
            "gram"
            if _auto_builds_gram(problem.N, int(problem.W2.shape[1]), problem.k, problem.dtype, limit)
            else "residual"
        )
    elif form == "gram" and gram is None and gram_bytes > limit:
        raise ValueError(
            f"memory_limit_bytes={limit} is below the {gram_bytes} bytes of the N x N Gram "
            f"(N={problem.N}); use form='residual' or raise the limit"
        )

    timings: dict[str, float] = {}
    start = time.perf_counter()
    stats = _atom_statistics(problem, limit)
    chosen: list[int] = []
    candidates = _candidate_sets(problem.N, problem.k, replacement, n_candidates, seed, chosen)
    rtol = TIE_RTOL[problem.dtype]
    if form == "gram":
        K = _bias_free_gram(problem, limit) if gram is None else gram
        timings["build"] = time.perf_counter() - start
        start = time.perf_counter()
        Kc = torch.zeros(problem.N, dtype=torch.float64, device=K.device)
        linear = 2.0 * (stats.beta - stats.xi)
        for step, cand in enumerate(candidates, start=1):
            scores = 2.0 * Kc + stats.K_diag + step * linear
            r = _lowest_index_argmin(scores, cand, rtol * step * stats.tie_unit)
            chosen.append(r)
            Kc += K[r].to(torch.float64)
        timings["select"] = time.perf_counter() - start
        start = time.perf_counter()
        atoms = _AtomSum(problem)
        losses = np.array([atoms.add(r) for r in chosen], dtype=np.float64)
        timings["losses"] = time.perf_counter() - start
    else:
        timings["build"] = time.perf_counter() - start
        start = time.perf_counter()
        atoms = _AtomSum(problem)
        W2_64 = problem.W2.to(torch.float64)
        rows = _rows_per_chunk(problem, torch.empty((), dtype=problem.dtype).element_size(), limit)
        loss_list = []
        for step, cand in enumerate(candidates, start=1):
            R = atoms.residual()
            if cand is None or 2 * cand.numel() > problem.N:  # gathering most columns costs more than it saves
                HtR = _hidden_transpose_times(problem.H, R, problem.dtype, rows).to(torch.float64)
                scores = 2.0 * problem.N * (HtR * W2_64).sum(1) + stats.atom_sq
            else:
                HtR = _hidden_transpose_times(problem.H[:, cand], R, problem.dtype, rows).to(torch.float64)
                scores = torch.full((problem.N,), math.inf, dtype=torch.float64, device=HtR.device)
                scores[cand] = 2.0 * problem.N * (HtR * W2_64[cand]).sum(1) + stats.atom_sq[cand]
            r = _lowest_index_argmin(scores, cand, rtol * step * stats.tie_unit)
            chosen.append(r)
            loss_list.append(atoms.add(r))
        losses = np.array(loss_list, dtype=np.float64)
        timings["select"] = time.perf_counter() - start
        timings["losses"] = 0.0
    return _result(chosen, losses, problem, W1, b1, form, timings)


def shared_gram(
    H: Tensor,
    W2: Tensor,
    k: int,
    *,
    memory_limit_bytes: int | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor | None:
    """The bias-free atom Gram of (H, W2) when greedy_forward_selection's form "auto" would build it for
    this k (it fits in memory_limit_bytes, default a quarter of available RAM, and N <= 2 k C), else
    None: pass it as `gram=` to every target's selection to build it once per net (issue 10)."""
    W2 = W2.reshape(W2.shape[0], -1)
    limit = _default_memory_limit() if memory_limit_bytes is None else memory_limit_bytes
    if not _auto_builds_gram(int(W2.shape[0]), int(W2.shape[1]), require_positive_int("k", k), dtype, limit):
        return None
    return atom_gram(H, W2, dtype=dtype, memory_limit_bytes=limit)


def _gram_bytes(n_neurons: int, dtype: torch.dtype) -> int:
    return n_neurons**2 * torch.empty((), dtype=dtype).element_size()


def _auto_builds_gram(n_neurons: int, outputs: int, k: int, dtype: torch.dtype, limit: int) -> bool:
    """Form "auto"'s rule: the N x N Gram when it fits in `limit` bytes and costs less than the residual
    form's k steps, m N C k (i.e. N <= 2 k C)."""
    return _gram_bytes(n_neurons, dtype) <= limit and n_neurons <= 2 * k * outputs


def _validate_gram(gram: object, problem: _Problem) -> Tensor:
    """A precomputed bias-free Gram: an (N, N) tensor in the compute dtype, on H's device."""
    if not isinstance(gram, Tensor) or tuple(gram.shape) != (problem.N, problem.N):
        shape = tuple(gram.shape) if isinstance(gram, Tensor) else type(gram).__name__
        raise ValueError(f"gram must be the (N, N) = ({problem.N}, {problem.N}) atom Gram of (H, W2); got {shape}")
    if gram.dtype != problem.dtype:
        raise ValueError(f"gram must have the compute dtype {problem.dtype}; got {gram.dtype}")
    if not bool(torch.isfinite(gram.diagonal()).all()):
        raise ValueError("gram must be finite; its diagonal holds NaN/inf entries")
    return gram.to(problem.H.device)


def _result(
    chosen: list[int],
    losses: np.ndarray,
    problem: _Problem,
    W1: Tensor | None,
    b1: Tensor | None,
    form: str,
    timings: dict[str, float],
) -> GFSResult:
    indices = torch.tensor(chosen, dtype=torch.int64)
    counts = torch.bincount(indices, minlength=problem.N)
    module = None if W1 is None else pruned_two_layer(W1, problem.W2, counts, bias=problem.bias, b1=b1)
    return GFSResult(indices, losses, counts, module, form, timings)


def greedy_forward_selection_naive(
    H: Tensor,
    W2: Tensor,
    Y: Tensor,
    k: int,
    *,
    bias: Tensor | None = None,
    W1: Tensor | None = None,
    b1: Tensor | None = None,
    replacement: bool = True,
    n_candidates: int | None = None,
    seed: int = 0,
    dtype: torch.dtype | None = torch.float64,
    device: str | torch.device | None = "cpu",
) -> GFSResult:
    """The slow, obvious twin: per candidate r, one forward pass of the candidate subnetwork,
    u = (N/k) H[:, S + r] @ W2[S + r] + b, and its SUM loss 1/2||u - Y||^2; the smallest loss wins,
    ties (within the module's tolerance, in loss units) to the lowest index. For tests and benchmarks.
    """
    problem = _validate(H, W2, Y, k, bias, dtype, replacement, n_candidates, device)
    W1, b1 = _validate_first_layer(W1, b1, problem.N)
    Hd, W2d, Yd = problem.H.to(problem.dtype), problem.W2.to(problem.dtype), problem.Y.to(problem.dtype)
    bd = None if problem.bias is None else problem.bias.to(problem.dtype)
    n = problem.N
    atom_norms = [float((n * Hd[:, r : r + 1] * W2d[r] + (0 if bd is None else bd)).norm()) for r in range(n)]
    gmax = max(atom_norms)
    tie_unit = (gmax + float(Yd.norm())) * gmax
    start = time.perf_counter()
    chosen: list[int] = []
    losses = []
    for step, cand in enumerate(_candidate_sets(n, problem.k, replacement, n_candidates, seed, chosen), start=1):
        pool = range(n) if cand is None else cand.tolist()
        candidate_losses = torch.full((n,), math.inf, dtype=torch.float64)
        for r in pool:
            subset = chosen + [r]
            u = (n / step) * Hd[:, subset] @ W2d[subset]
            if bd is not None:
                u = u + bd
            candidate_losses[r] = 0.5 * float((u - Yd).square().sum())
        tol = TIE_RTOL[problem.dtype] * step * tie_unit / (2 * step**2)
        r = _lowest_index_argmin(candidate_losses, cand, tol)
        chosen.append(r)
        losses.append(float(candidate_losses[r]))
    timings = {"build": 0.0, "select": time.perf_counter() - start, "losses": 0.0}
    return _result(chosen, np.array(losses, dtype=np.float64), problem, W1, b1, "naive", timings)


def atom_spread(H: Tensor, W2: Tensor) -> float:
    """V = (1/N) sum_r ||g_r - u||_F^2 = N sum_r ||H_r||^2 ||W2_r||^2 - ||H W2||_F^2 (docs/theory.md, section 2;
    a bias cancels in g_r - u). O(m N C), float64, no atoms formed."""
    problem = _validate(
        H, W2, torch.zeros(H.shape[0], W2.reshape(W2.shape[0], -1).shape[1]), 1, None, torch.float64, True, None
    )
    rows = _rows_per_chunk(problem, 8, _default_memory_limit())
    # V is homogeneous of degree 2 in H and in W2: compute on H / a and W2 / b with a, b powers of two
    # near their largest entries (exact scalings), then multiply by (a b)^2, so that squares of large
    # activations (|H| > 1e154) do not overflow to inf - inf = NaN.
    h_scale, w_scale = _power_of_two_scale(problem.H), _power_of_two_scale(problem.W2)
    if h_scale == 0.0 or w_scale == 0.0:
        return 0.0
    W2_64 = problem.W2.to(torch.float64) / w_scale
    col_sq = torch.zeros(problem.N, dtype=torch.float64)
    dense_sq = 0.0
    for start in range(0, problem.m, rows):
        chunk = problem.H[start : start + rows].to(torch.float64) / h_scale
        col_sq += chunk.square().sum(0)
        dense_sq += float((chunk @ W2_64).square().sum())
    scaled = max(problem.N * float((col_sq * W2_64.square().sum(1)).sum()) - dense_sq, 0.0)
    spread = scaled * h_scale * h_scale * w_scale * w_scale
    if not math.isfinite(spread):
        raise ValueError(
            f"the atom spread V overflows float64 (max |H| about {h_scale:g}, max |W2| about {w_scale:g}); "
            "rescale the activations or the output weights"
        )
    return spread


def _power_of_two_scale(tensor: Tensor) -> float:
    """2^e with 2^(e-1) <= max |entry| < 2^e (0 for an all-zero tensor): dividing by it is exact."""
    largest = float(tensor.abs().max()) if tensor.numel() else 0.0
    return 0.0 if largest == 0.0 else math.ldexp(1.0, math.frexp(largest)[1])
