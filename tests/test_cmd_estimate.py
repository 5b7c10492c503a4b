"""`ebtheory estimate`: JSON schema on a small run, values consistent with the library, bad inputs exit 2."""

import contextlib
import io
import json
import math

import numpy as np
import pytest
import torch

from ebtheory import cli, symbolic
from ebtheory.constants.gram import lambda0
from ebtheory.constants.predict import EstimateConfig, estimate_constants

SMALL = ["estimate", "--m", "40", "--width", "64", "--steps", "30", "--k", "16", "--seed", "1"]
REQUIRED_KEYS = {
    "lambda0",
    "lambda_max",
    "L0",
    "L0_bound",
    "V",
    "rate",
    "rate_ci",
    "rate_theory",
    "drift",
    "lazy_radius",
    "t_star",
    "t_star_upper",
    "vacuous",
    "conditions",
}


@pytest.fixture(scope="module")
def small_json():
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert cli.main(SMALL + ["--json", "--curves"]) == 0
    return json.loads(buffer.getvalue())


def test_json_schema_and_consistency(small_json):
    result = small_json
    assert REQUIRED_KEYS <= set(result)
    assert result["m"] == 40 and result["width"] == 64 and result["C"] == 10
    assert result["eta_auto"] and result["eta"] == pytest.approx(1.0 / result["ntk_lambda_max"])
    assert 0 < result["lambda0"] <= result["lambda_max"]
    assert result["rate_ci"][0] <= result["rate"] <= result["rate_ci"][1]
    assert result["rate_theory"] == pytest.approx(1 - result["eta"] * result["lambda0"] / 2)
    assert result["L0_bound"] == pytest.approx((40 + 40 * 10 * 1.0 / 2) / (2 * 0.1))  # ||Y||^2 = m one-hot
    assert result["V"] == pytest.approx(max(result["V_t"].values()))
    assert result["drift"] == pytest.approx(max(result["drift_t"].values()))
    assert result["drift_bound"] == pytest.approx(
        math.sqrt(40) * math.sqrt(2 * result["L0"]) / (math.sqrt(64) * result["lambda0"])
    )
    assert result["lazy_radius"] == pytest.approx(1.0 * 0.1 * result["lambda0"] / 40**2)  # Du et al. Lemma 3.2
    assert result["t_star"] <= result["t_star_upper"] and result["t_star_markov"] <= result["t_star_upper_markov"]
    assert result["t_star"] <= result["t_star_markov"]  # measured L(0) is below the Markov bound here
    names = {c["name"] for c in result["conditions"]}
    assert {"initial_loss_markov", "dense_rate_fit", "lazy_drift", "width", "step_size", "bound_not_vacuous"} <= names
    vacuity = next(c for c in result["conditions"] if c["name"] == "bound_not_vacuous")
    assert result["vacuous"] == (not vacuity["holds"])
    assert vacuity["value"] == pytest.approx(result["V"] / (0.5 * 16))
    assert vacuity["reference"] == pytest.approx(min(20.0, result["L0"]))
    assert len(result["curve_t"]) == len(result["curve_markov_L0"]) == len(result["curve_measured_L0"])
    assert all(isinstance(c["holds"], bool) for c in result["conditions"])


def test_markov_curve_matches_symbolic(small_json):
    r = small_json
    inputs = symbolic.BoundInputs(
        m=40, k=16, eta=r["eta"], lambda0=r["lambda0"], delta=0.1, V=r["V"], C=10, y_norm2=40.0
    )
    np.testing.assert_allclose(r["curve_markov_L0"], symbolic.pruned_loss_bound_curve(inputs, r["curve_t"]))


def test_table_output(capsys):
    assert cli.main(SMALL) == 0
    out = capsys.readouterr().out
    assert "lambda0 = lambda_min(H_inf)" in out and "conditions (unknown constants taken as 1)" in out
    assert "DOES NOT HOLD" in out  # the width condition m^6/(lambda0^4 delta^3) fails at N = 64


def test_library_estimate_on_regression_targets():
    # the fitted rate must describe the run's own loss curve: (L(T)/L(0))^(1/T) near the fitted rate
    X = torch.nn.functional.normalize(torch.randn(20, 6, generator=torch.Generator().manual_seed(0)), dim=1)
    Y = torch.randn(20, 1, generator=torch.Generator().manual_seed(1))
    result = estimate_constants(X, Y, EstimateConfig(width=256, steps=40, k=8))
    assert result.lambda0 == pytest.approx(lambda0(X).lambda_min)
    ratio = (result.L_final / result.L0) ** (1 / 40)
    assert result.rate_ci[0] * 0.98 <= ratio <= result.rate_ci[1] * 1.02


def exit_code(argv):
    """cli.main's return value, or the code of the SystemExit argparse raises."""
    try:
        return cli.main(argv)
    except SystemExit as stop:
        return stop.code


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--eta", "-1"], "--eta"),
        (["--eta", "nan"], "--eta"),
        (["--eta", "1e6"], "eta"),
        (["--m", "2"], "m must be an integer in"),
        (["--delta", "1.5"], "delta must lie in"),
        (["--k", "0"], "k must be a positive integer"),
        (["--width", "-3"], "width must be a positive integer"),
        (["--steps", "1"], "steps must be >= 2"),
        (["--kappa", "0"], "kappa must lie in"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(extra, message, capsys):
    assert exit_code(SMALL + extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_duplicate_inputs_are_rejected():
    X = torch.nn.functional.normalize(torch.randn(10, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    X = torch.cat([X, X[:1]])
    with pytest.raises(ValueError, match="duplicate inputs"):
        estimate_constants(X, torch.ones(11, 1), EstimateConfig(width=16, steps=5, k=4))


@pytest.mark.skipif(
    not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="Debian's dataset-fashion-mnist is not installed (CI installs it)",
)
def test_estimate_runs_on_debian_fashion_mnist():
    buffer = io.StringIO()
    argv = ["estimate", "--data", "fashion-mnist", "--m", "60", "--width", "64", "--steps", "20", "--k", "16", "--json"]
    with contextlib.redirect_stdout(buffer):
        assert cli.main(argv) == 0
    result = json.loads(buffer.getvalue())
    assert REQUIRED_KEYS <= set(result)
    assert result["m"] == 60 and result["C"] == 10 and 0 < result["lambda0"] < result["lambda_max"]
