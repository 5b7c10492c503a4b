"""Measured constants -> the symbolic bound: the prediction pipeline behind `ebtheory estimate`.

Steps: unit-sphere inputs and one-hot targets (m examples, nested subset); lambda0 and lambda_max of
H_inf; a TwoLayerNTK trained by full-batch GD on the sum loss with checkpoints, recording L(t), the
atom spread V_t and the weight drift; the rate fit and the hypothesis checks (diagnostics); then
t* from ebtheory.symbolic twice: with the MEASURED L(0) (primary, keys t_star / t_star_upper) and with
the Markov bound on L(0) (keys t_star_markov / t_star_upper_markov). V_bar = max_t V_t. Sum losses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch

from ebtheory import symbolic
from ebtheory.constants import diagnostics
from ebtheory.constants.gram import Spectrum, gram_spectrum, lambda0
from ebtheory.constants.ntk import two_layer_ntk_gram, two_layer_ntk_lambda_max
from ebtheory.models import TwoLayerNTK
from ebtheory.prune.gfs import atom_spread
from ebtheory.train import TrainConfig, train_with_checkpoints
from ebtheory.validation import (
    require_closed_interval,
    require_int_at_most,
    require_open_interval,
    require_positive,
    require_positive_int,
)

AUTO_ETA_FRACTION = 0.5
# Caps checked before any work (issue 14): past them a run cannot fit in memory, would not end, or
# its float32 weights kappa * N(0, 1) (and their squares in the loss) leave the normal range.
MAX_WIDTH = 2**24  # hidden units: the (m x N) feature matrices of GFS and V_t
MAX_STEPS = 10**8  # GD iterations
MAX_K = 10**6  # GFS steps
KAPPA_RANGE = (1e-15, 1e15)


@dataclass(frozen=True)
class EstimateConfig:
    """What to train and how; eta=None means AUTO_ETA_FRACTION * 2 / lambda_max(full empirical NTK at t=0)."""

    width: int = field(default=512, metadata={"help": "hidden width N"})
    steps: int = field(default=300, metadata={"help": "GD iterations T"})
    eta: float | None = field(default=None, metadata={"help": "step size on the sum loss; None = auto"})
    k: int = field(default=256, metadata={"help": "GFS steps (subnetwork size, repeats counted)"})
    delta: float = field(default=0.1, metadata={"help": "failure probability"})
    kappa: float = field(default=1.0, metadata={"help": "initialisation scale"})
    eps: float = field(default=0.5, metadata={"help": "Lemma A's eps in (0, 1)"})
    checkpoints: int = field(default=16, metadata={"help": "number of checkpoints for V_t and drift"})
    seed: int = field(default=0, metadata={"help": "network seed"})
    device: str = field(default="cpu", metadata={"help": "torch device"})

    def __post_init__(self) -> None:
        require_int_at_most("width", self.width, MAX_WIDTH, "the hidden features must fit in memory")
        require_int_at_most("steps", self.steps, MAX_STEPS, "GD iterations")
        require_int_at_most("k", self.k, MAX_K, "greedy steps")
        require_positive_int("checkpoints", self.checkpoints)
        require_open_interval("delta", self.delta, 0.0, 1.0)
        require_open_interval("eps", self.eps, 0.0, 1.0)
        require_closed_interval("kappa", self.kappa, *KAPPA_RANGE, reason="float32 weights kappa * N(0, 1) stay normal")
        if self.eta is not None:
            require_positive("eta", self.eta)
        if self.steps < 2:
            raise ValueError(f"steps must be >= 2 for the rate fit; got steps={self.steps}")


@dataclass(frozen=True)
class ConstantsEstimate(diagnostics.Record):
    """Every measured constant, check and prediction of one run (sum losses, t in GD iterations)."""

    m: int
    C: int
    width: int
    k: int
    delta: float
    kappa: float
    eps: float
    eta: float
    eta_auto: bool
    lambda0: float
    lambda_max: float
    spectrum: dict
    ntk_lambda_max: float
    ntk_lambda_min_init: float
    ntk_lambda_min_final: float
    L0: float
    L0_bound: float
    L_final: float
    empty_loss: float
    V: float
    V_t: dict
    rate: float
    rate_ci: tuple[float, float]
    rate_theory: float
    drift: float
    drift_t: dict
    lazy_radius: float
    drift_bound: float
    width_required: float
    c1: float
    tol: float
    t_star: float
    t_star_upper: float
    t_star_markov: float
    t_star_upper_markov: float
    bound_after_threshold: float
    vacuous: bool
    curve_t: list
    curve_measured_L0: list
    curve_markov_L0: list
    curve_lemma_a_measured: list
    conditions: list


def _checkpoint_grid(steps: int, count: int) -> list[int]:
    return sorted(set(np.linspace(0, steps, min(count, steps) + 1).round().astype(int).tolist()))


def estimate_constants(X: torch.Tensor, Y: torch.Tensor, config: EstimateConfig) -> ConstantsEstimate:
    """Run the pipeline on unit-norm inputs X (m x d) and targets Y (m x C); see the module doc."""
    X = torch.as_tensor(X, dtype=torch.float32)
    Y = torch.as_tensor(Y, dtype=torch.float32)
    if Y.ndim == 1:
        Y = Y[:, None]
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0] or not bool(torch.isfinite(Y).all()):
        raise ValueError(
            f"X must be (m, d) and Y finite (m, C) with the same m; got {tuple(X.shape)}, {tuple(Y.shape)}"
        )
    m, d = X.shape
    C = Y.shape[1]
    spectrum = lambda0(X)
    if spectrum.degenerate or spectrum.lambda_min <= 0:
        raise ValueError(
            f"lambda0 = {spectrum.lambda_min:.3g} is 0 to within round-off "
            f"({spectrum.roundoff_scale:.3g}): duplicate inputs; the bound needs lambda0 > 0"
        )
    model = TwoLayerNTK(d, config.width, outputs=C, kappa=config.kappa, seed=config.seed)
    W2 = model.readout()[0]
    W_init = model.input_weights.detach().clone()
    ntk_max = two_layer_ntk_lambda_max(X, W_init, W2, seed=config.seed)
    eta = AUTO_ETA_FRACTION * 2.0 / ntk_max if config.eta is None else config.eta
    symbolic.dense_rate_factor(eta, spectrum.lambda_min)  # raises unless 0 < eta lambda0 < 2
    ntk_min_init = gram_spectrum(two_layer_ntk_gram(X, W_init, W2)).lambda_min

    spreads: dict[int, float] = {}
    drifts: dict[int, float] = {}

    def record(t: int, module: torch.nn.Module) -> None:
        net = cast(TwoLayerNTK, module)  # the callback gets the model built above
        with torch.no_grad():
            spreads[t] = atom_spread(net.hidden(X.to(W_init.device)).cpu(), W2)
            drifts[t] = diagnostics.weight_drift(W_init, net.input_weights.detach().cpu())

    result = train_with_checkpoints(
        model,
        X,
        Y,
        TrainConfig(optimizer="gd", lr=eta, loss="sum_squares", seed=config.seed),
        _checkpoint_grid(config.steps, config.checkpoints),
        device=config.device,
        on_checkpoint=record,
        keep_states=False,
    )
    losses = result.losses
    model.to("cpu")
    ntk_min_final = gram_spectrum(two_layer_ntk_gram(X, model.input_weights, W2)).lambda_min
    return _assemble(X, Y, config, spectrum, eta, ntk_max, ntk_min_init, ntk_min_final, losses, spreads, drifts)


def _assemble(
    X: torch.Tensor,
    Y: torch.Tensor,
    config: EstimateConfig,
    spectrum: Spectrum,
    eta: float,
    ntk_max: float,
    ntk_min_init: float,
    ntk_min_final: float,
    losses: np.ndarray,
    spreads: dict[int, float],
    drifts: dict[int, float],
) -> ConstantsEstimate:
    m, C = Y.shape
    lam0 = spectrum.lambda_min
    y_norm2 = float(Y.double().square().sum())
    L0 = float(losses[0])
    V_bar = max(spreads.values())
    inputs = symbolic.BoundInputs(
        m=m,
        k=config.k,
        eta=eta,
        lambda0=lam0,
        delta=config.delta,
        V=V_bar,
        C=C,
        kappa=config.kappa,
        eps=config.eps,
        y_norm2=y_norm2,
    )
    theory = symbolic.evaluate_bound(inputs)
    t_star, t_star_upper = symbolic.threshold_from_constants(theory.c1, L0, theory.tol, eta, lam0)
    rate_theory = symbolic.dense_rate_factor(eta, lam0)
    fit = diagnostics.fit_contraction_rate(losses.tolist())
    pointwise, worst = diagnostics.dense_rate_pointwise(losses.tolist(), rate_theory)
    residual = math.sqrt(2.0 * L0)
    radius = diagnostics.lazy_radius(m, lam0, config.delta, config.kappa)
    moved_bound = diagnostics.drift_bound(m, config.width, residual, lam0)
    drift = max(drifts.values())
    required_width = diagnostics.width_requirement(m, lam0, config.delta)
    empty_loss = 0.5 * y_norm2
    after = 2.0 * theory.tol  # Lemma A past t*: c1 L(t) <= tol, so L(S_k; t) <= 2 tol
    ts = sorted(spreads)
    curve_measured = [symbolic.lemma_a_bound(L0 * rate_theory**t, V_bar, config.k, config.eps) for t in ts]
    curve_markov = symbolic.pruned_loss_bound_curve(inputs, ts).tolist()
    curve_lemma = [symbolic.lemma_a_bound(float(losses[t]), spreads[t], config.k, config.eps) for t in ts]
    conditions = [
        diagnostics.check(
            "initial_loss_markov",
            L0,
            "<=",
            theory.L0_bound,
            "measured L(0) against (||Y||^2 + m C kappa^2/2)/(2 delta); holds w.p. >= 1 - delta",
        ),
        diagnostics.check(
            "dense_rate_fit",
            fit.rate,
            "<=",
            rate_theory,
            f"fitted exp(slope) of ln L(t), {fit.confidence:.0%} CI {fit.rate_ci[0]:.6g}..{fit.rate_ci[1]:.6g}, "
            "against 1 - eta lambda0/2 (Du et al. Thm 4.1)",
        ),
        diagnostics.check(
            "dense_rate_pointwise",
            worst,
            "<=",
            1.0,
            "max_t L(t) / ((1 - eta lambda0/2)^t L(0)); <= 1 is Thm 4.1 read literally",
        ),
        diagnostics.lazy_drift_check(drift, m, lam0, config.delta, config.kappa),
        diagnostics.check(
            "width",
            config.width,
            ">=",
            required_width,
            "N against m^6/(lambda0^4 delta^3); constant c_N taken as 1 (unknown in Du et al.)",
        ),
        diagnostics.check(
            "step_size",
            eta,
            "<=",
            diagnostics.step_size_requirement(m, lam0),
            "eta against lambda0/m^2; constant c_eta taken as 1 (unknown in Du et al.)",
        ),
        diagnostics.check(
            "step_stability",
            eta,
            "<",
            2.0 / ntk_max,
            "eta against 2/lambda_max of the full empirical NTK Gram at t=0 (sum-loss Hessian)",
        ),
        diagnostics.check(
            "lambda0_positive",
            lam0,
            ">=",
            spectrum.roundoff_scale,
            "lambda0 against the round-off scale m eps lambda_max",
        ),
        diagnostics.check(
            "bound_not_vacuous",
            after,
            "<",
            min(empty_loss, L0),
            "2 tol = V_bar/((1-eps) k), the bound past t*, against min(1/2||Y||^2, L(0))",
        ),
    ]
    return ConstantsEstimate(
        m=m,
        C=C,
        width=config.width,
        k=config.k,
        delta=config.delta,
        kappa=config.kappa,
        eps=config.eps,
        eta=eta,
        eta_auto=config.eta is None,
        lambda0=lam0,
        lambda_max=spectrum.lambda_max,
        spectrum=spectrum.to_dict(),
        ntk_lambda_max=ntk_max,
        ntk_lambda_min_init=ntk_min_init,
        ntk_lambda_min_final=ntk_min_final,
        L0=L0,
        L0_bound=theory.L0_bound,
        L_final=float(losses[-1]),
        empty_loss=empty_loss,
        V=V_bar,
        V_t={int(t): v for t, v in spreads.items()},
        rate=fit.rate,
        rate_ci=fit.rate_ci,
        rate_theory=rate_theory,
        drift=drift,
        drift_t={int(t): v for t, v in drifts.items()},
        lazy_radius=radius,
        drift_bound=moved_bound,
        width_required=required_width,
        c1=theory.c1,
        tol=theory.tol,
        t_star=t_star,
        t_star_upper=t_star_upper,
        t_star_markov=theory.t_star,
        t_star_upper_markov=theory.t_star_upper,
        bound_after_threshold=after,
        vacuous=not conditions[-1].holds,
        curve_t=ts,
        curve_measured_L0=curve_measured,
        curve_markov_L0=curve_markov,
        curve_lemma_a_measured=curve_lemma,
        conditions=[c.to_dict() for c in conditions],
    )
