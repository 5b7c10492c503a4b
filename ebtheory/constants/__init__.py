"""Numbers for the symbols of the bound: H_inf and lambda0 (gram), the empirical NTK (ntk), checks of
the theorem's hypotheses on a trained run (diagnostics) and the prediction pipeline (predict)."""

from ebtheory.constants.diagnostics import (
    Check,
    RateFit,
    dense_rate_pointwise,
    fit_contraction_rate,
    lazy_radius,
    step_size_requirement,
    weight_drift,
    width_requirement,
)
from ebtheory.constants.gram import DENSE_MAX_M, Spectrum, gram_spectrum, h_inf, lambda0, roundoff_scale, unit_rows
from ebtheory.constants.ntk import (
    empirical_ntk_gram,
    empirical_ntk_jacobian,
    two_layer_ntk_gram,
    two_layer_ntk_lambda_max,
    two_layer_ntk_operator,
)
from ebtheory.constants.predict import ConstantsEstimate, EstimateConfig, estimate_constants

__all__ = [
    "Check",
    "ConstantsEstimate",
    "EstimateConfig",
    "RateFit",
    "dense_rate_pointwise",
    "estimate_constants",
    "fit_contraction_rate",
    "lazy_radius",
    "step_size_requirement",
    "weight_drift",
    "width_requirement",
    "DENSE_MAX_M",
    "Spectrum",
    "empirical_ntk_gram",
    "empirical_ntk_jacobian",
    "gram_spectrum",
    "h_inf",
    "lambda0",
    "roundoff_scale",
    "two_layer_ntk_gram",
    "two_layer_ntk_lambda_max",
    "two_layer_ntk_operator",
    "unit_rows",
]
