"""Sympy checks for proofs/log_m.md: t* = Theta(log m) and the two caveats (per-example loss, step size).

L0 is the Markov bound with ||Y||^2 = c_Y m (c_Y > 0; c_Y = 1 for one-hot or unit labels).
"""

from __future__ import annotations

import sympy as sp

from ebtheory import symbolic
from ebtheory.proofs.checks import Step

c_y = sp.Symbol("c_Y", positive=True)
v_mean = sp.Symbol("v", positive=True)


def threshold_in_m(threshold: sp.Expr) -> sp.Expr:
    """`threshold` with L0 = initial_loss_bound_expr() at ||Y||^2 = c_Y m."""
    return threshold.subs(symbolic.L0, symbolic.initial_loss_bound_expr().subs(symbolic.y_norm2, c_y * symbolic.m))


def per_example_threshold(loss_scale: sp.Expr) -> sp.Expr:
    """t* from per-example quantities: L0/m against tol(V_mean) = V_mean/(2(1-eps)k), scaled by `loss_scale`."""
    m = symbolic.m
    per_example_l0 = symbolic.initial_loss_bound_expr().subs(symbolic.y_norm2, c_y * m) / loss_scale
    return symbolic.threshold_exact_generic_expr().subs(
        {symbolic.c1_symbol: symbolic.c1_expr(), symbolic.L0: per_example_l0, symbolic.tolerance: symbolic.tol_expr()}
    )


def steps() -> list[Step]:
    m, eta, lambda0 = symbolic.m, symbolic.eta, symbolic.lambda0
    exact_m = threshold_in_m(symbolic.threshold_exact_expr())
    upper_m = threshold_in_m(symbolic.threshold_upper_expr())
    log_contraction = sp.log(1 / symbolic.dense_rate_factor_expr())
    du_step = {eta: symbolic.c_step * lambda0 / m**2}
    spread_linear = exact_m.subs(symbolic.V, v_mean * m)
    return [
        Step(
            "log_m.affine_in_log_m",
            "t*(m) - ln(m)/ln(1/(1-eta lambda0/2)) does not depend on m",
            "==",
            sp.diff(exact_m - sp.log(m) / log_contraction, m),
            sp.Integer(0),
            planted=(sp.diff(exact_m - 2 * sp.log(m) / log_contraction, m), sp.Integer(0)),
        ),
        Step(
            "log_m.limit_exact",
            "t*/ln m -> 1/ln(1/(1-eta lambda0/2)) as m -> oo",
            "limit",
            exact_m / sp.log(m),
            1 / log_contraction,
            variable=m,
            planted=(exact_m / sp.log(m), 2 / (eta * lambda0)),
        ),
        Step(
            "log_m.limit_upper",
            "t*_upper/ln m -> 2/(eta lambda0) as m -> oo",
            "limit",
            upper_m / sp.log(m),
            2 / (eta * lambda0),
            variable=m,
            planted=(upper_m / sp.log(m), 1 / log_contraction),
        ),
        Step(
            "log_m.per_example_cancels",
            "per-example L0/m against a per-example tolerance: t* does not depend on m",
            "==",
            sp.diff(per_example_threshold(m), m),
            sp.Integer(0),
            planted=(sp.diff(per_example_threshold(sp.Integer(1)), m), sp.Integer(0)),
        ),
        Step(
            "log_m.per_example_symbolic",
            "symbolic.per_example_log_argument_expr() has no m",
            "==",
            sp.diff(symbolic.per_example_log_argument_expr(), m),
            sp.Integer(0),
            planted=(sp.diff(symbolic.per_example_log_argument_expr() * m, m), sp.Integer(0)),
        ),
        Step(
            "log_m.spread_linear_in_m",
            "with V_bar = v m (NTK scaling of V), t* does not depend on m: the log m needs V_bar fixed",
            "==",
            sp.diff(spread_linear, m),
            sp.Integer(0),
            planted=(sp.diff(exact_m.subs(symbolic.V, v_mean * sp.sqrt(m)), m), sp.Integer(0)),
        ),
        Step(
            "log_m.du_step_size",
            "with eta = c_eta lambda0/m^2, t*/(m^2 ln m) -> 2/(c_eta lambda0^2): t* = Theta(m^2 log m)",
            "limit",
            exact_m.subs(du_step) / (m**2 * sp.log(m)),
            2 / (symbolic.c_step * lambda0**2),
            variable=m,
            planted=(exact_m.subs(du_step) / (m**2 * sp.log(m)), 1 / (symbolic.c_step * lambda0**2)),
        ),
    ]
