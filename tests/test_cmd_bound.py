"""`ebtheory bound`: JSON keys and values, text output, LaTeX, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from cli_helpers import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from ebtheory.cli import main

BASE = ["bound", "--m", "1000", "--k", "50", "--eta", "0.5", "--lambda0", "0.01", "--delta", "0.1", "--V", "100"]


def test_json_keys_and_values(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(BASE + ["--t", "4000", "--json"], capsys)
    assert code == 0
    values = json.loads(out)
    assert {"t_star", "t_star_upper", "c1", "L0_bound", "tol", "eps", "pruned_loss_bound"} <= set(values)
    c1 = 1 / (0.5 * 1.5) + 1 / (0.5 * 50)
    l0 = (1000 + 1000 * 0.5) / 0.2
    tol = 100 / (2 * 0.5 * 50)
    t_star = math.log(c1 * l0 / tol) / -math.log1p(-0.005 / 2)
    assert values["c1"] == pytest.approx(c1, rel=1e-9)
    assert values["L0_bound"] == pytest.approx(l0, rel=1e-9)
    assert values["tol"] == pytest.approx(tol, rel=1e-9)
    assert values["t_star"] == pytest.approx(t_star, rel=1e-9)
    assert values["t_star_upper"] == pytest.approx(2 / 0.005 * math.log(c1 * l0 / tol), rel=1e-9)
    assert values["pruned_loss_bound"] == pytest.approx(c1 * l0 * (1 - 0.0025) ** 4000 + tol, rel=1e-9)
    assert values["success_probability"] == pytest.approx(0.8)


@given(
    m=st.integers(1, 10**7),
    k=st.integers(1, 10**4),
    product=st.floats(1e-3, 1.99),
    lambda0=st.floats(1e-3, 1),
    delta=st.floats(0.01, 0.99),
    spread=st.floats(1e-2, 1e5),
    classes=st.integers(1, 10),
    kappa=st.floats(0.1, 2),
    eps=st.floats(0.05, 0.95),
    y_norm2=st.floats(0.1, 1e6),
)
def test_json_agrees_with_formulas(m, k, product, lambda0, delta, spread, classes, kappa, eps, y_norm2) -> None:
    eta = product / lambda0
    argv = [
        "bound",
        "--m",
        str(m),
        "--k",
        str(k),
        "--eta",
        repr(eta),
        "--lambda0",
        repr(lambda0),
        "--delta",
        repr(delta),
        "--V",
        repr(spread),
        "--C",
        str(classes),
        "--kappa",
        repr(kappa),
        "--eps",
        repr(eps),
        "--y-norm2",
        repr(y_norm2),
        "--json",
    ]
    import io
    from contextlib import redirect_stdout

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert main(argv) == 0
    values = json.loads(buffer.getvalue())
    c1 = 1 / (eps * (2 - eps)) + 1 / ((1 - eps) * k)
    l0 = (y_norm2 + m * classes * kappa**2 / 2) / (2 * delta)
    tol = spread / (2 * (1 - eps) * k)
    log_arg = math.log(c1 * l0 / tol)
    assert values["c1"] == pytest.approx(c1, rel=1e-9)
    assert values["L0_bound"] == pytest.approx(l0, rel=1e-9)
    assert values["tol"] == pytest.approx(tol, rel=1e-9)
    assert values["t_star"] == pytest.approx(max(0.0, log_arg / -math.log1p(-eta * lambda0 / 2)), rel=1e-9, abs=1e-9)
    assert values["t_star_upper"] == pytest.approx(max(0.0, 2 / (eta * lambda0) * log_arg), rel=1e-9, abs=1e-9)


def test_text_and_latex_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(BASE + ["--latex", "--eps", "best", "--t", "100"], capsys)
    assert code == 0
    assert "t* = ln(c1 L0/tol)" in out and "pruned-loss bound" in out
    assert "threshold_exact:" in out and "\\log" in out


def test_mean_loss_gives_same_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    _, total, _ = run_cli(BASE + ["--json"], capsys)
    mean_argv = BASE[:-1] + ["0.1", "--loss", "mean", "--json"]
    _, mean, _ = run_cli(mean_argv, capsys)
    assert json.loads(mean)["t_star"] == pytest.approx(json.loads(total)["t_star"], rel=1e-9)
    assert json.loads(mean)["L0_bound"] == pytest.approx(json.loads(total)["L0_bound"] / 1000, rel=1e-9)


@pytest.mark.parametrize(
    "change",
    [
        ["--m", "0"],
        ["--m", "2.5"],
        ["--k", "-3"],
        ["--eta", "500"],
        ["--eta", "nan"],
        ["--lambda0", "0"],
        ["--delta", "1.5"],
        ["--V", "-1"],
        ["--V", "inf"],
        ["--eps", "1"],
        ["--eps", "foo"],
        ["--kappa", "0"],
        ["--C", "0"],
        ["--y-norm2", "-2"],
        ["--loss", "median"],
        ["--t", "-1"],
        ["--eps", "best"],
        ["--m", "1" + "0" * 400],
    ],
)
def test_bad_input_exits_2_with_one_line(change: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    argv = list(BASE)
    if change[0] in argv:
        index = argv.index(change[0])
        argv[index + 1] = change[1]
    else:
        argv += change
    code, out, err = run_cli(argv, capsys)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "error" in err and "Traceback" not in err
    assert "nan" not in out.lower() and "inf" not in out.lower()


@pytest.mark.slow
def test_console_script_runs_in_a_subprocess() -> None:
    result = subprocess.run([sys.executable, "-m", "ebtheory.cli"] + BASE + ["--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["t_star"] > 0
    bad = subprocess.run(
        [sys.executable, "-m", "ebtheory.cli"] + BASE + ["--delta", "2"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "delta must lie in (0, 1)" in bad.stderr and "Traceback" not in bad.stderr


@settings(max_examples=20)
@given(log_lambda0=st.floats(-300, -6), eta=st.floats(0.1, 10), spread=st.floats(1e-2, 1e5))
def test_tiny_lambda0_gives_the_exact_threshold_not_a_division_by_zero(log_lambda0, eta, spread) -> None:
    """1 - eta lambda0/2 rounds to 1 at 50 digits for lambda0 < 1e-50: the evaluation must raise its
    precision (issue 14: lambda0=1e-51 ended in ZeroDivisionError). Twin: math.log1p, exact for tiny x."""
    import io
    from contextlib import redirect_stdout

    lambda0 = 10.0**log_lambda0
    argv = ["bound", "--m", "1000", "--k", "50", "--eta", repr(eta), "--lambda0", repr(lambda0), "--delta", "0.1"]
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert main(argv + ["--V", repr(spread), "--json"]) == 0
    values = json.loads(buffer.getvalue())
    c1, l0, tol = 1 / 0.75 + 1 / 25, 1500 / 0.2, spread / 50
    log_arg = math.log(c1 * l0 / tol)
    assert values["t_star"] == pytest.approx(max(0.0, log_arg / -math.log1p(-eta * lambda0 / 2)), rel=1e-9)
    assert math.isfinite(values["t_star"]) and math.isfinite(values["t_star_upper"])


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (["--V", "5e-324"], "tol underflows a float"),
        (["--eps", "best", "--t", "1e300"], "eps='best' needs a positive dense-loss bound at t"),
        (["--eps", "best", "--t", "0", "--V", "1e300"], "eps='best' has no minimiser"),
        (["--eps", "best", "--t", "0", "--y-norm2", "1e300"], "eps='best' has no minimiser"),
        (["--kappa", "1e300"], "overflows a float"),
    ],
)
def test_extreme_numbers_are_refused_with_the_reason(change, fragment, capsys: pytest.CaptureFixture[str]) -> None:
    argv = list(BASE)
    for flag, value in zip(change[::2], change[1::2]):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    code, out, err = run_cli(argv, capsys)
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1 and fragment in err, err
