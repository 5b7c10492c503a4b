"""Figures render from a tiny recorded run: axes labels, number of curves, non-empty PNG and PDF.

The run is written with the harness's own row writers (ebtheory.verify.rows.write_point / write_unit and the
spec's to_dict), from a deterministic fixture: values follow the shapes the theory predicts
(geometric dense decay, pruned loss above the dense loss, Lemma A bound from ebtheory.symbolic) so
the figures have something to show, but nothing here is a claimed result.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ebtheory.symbolic import lemma_a_bound
from ebtheory.verify.rows import SPEC_FILE, write_json_atomic, write_point, write_unit
from ebtheory.verify.spec import ExperimentSpec

MS = (20, 40, 80, 160)
SEEDS = (0, 1, 2)
CHECKPOINTS = (0, 1, 3, 10, 30, 100)
K = 6
CLASSES = 3


def _metrics(loss_sum: float, m: int, acc: float) -> dict:
    return {
        "train_loss_sum": loss_sum,
        "train_loss_mean": loss_sum / m,
        "train_acc": acc,
        "test_acc": max(acc - 0.1, 0.0),
    }


def _gfs_entry(target: str, m: int, dense_loss: float, labels_loss: float, V: float, acc: float, eps: float) -> dict:
    """A GFS subnet entry whose per-step curve decreases to target_loss_sum, below Lemma A's bound."""
    null_loss = 0.5 * m if target == "labels" else 0.5 * m * 1.2
    bound = lemma_a_bound(dense_loss, V, K, eps)
    target_loss = min(labels_loss if target == "labels" else 2.0 * dense_loss + 0.01 * m, 0.9 * bound)
    curve = [target_loss + (null_loss - target_loss) / (j + 1) ** 1.5 for j in range(1, K + 1)]
    curve[-1] = target_loss
    return {
        "target": target,
        **_metrics(labels_loss if target == "dense" else target_loss, m, acc),
        "target_loss_sum": target_loss,
        "distinct": K - 1,
        "loss_curve_sum": curve,
        "finetuned": None,
        "lemma_a": {
            "bound": bound,
            "measured": target_loss,
            "held": True,
            "ratio": target_loss / bound,
            "dense_loss_sum": dense_loss,
            "null_loss_sum": null_loss,
            "vacuous": bound >= null_loss,
        },
    }


def _baseline_entry(m: int, loss: float, acc: float) -> dict:
    return {
        "target": "labels",
        **_metrics(loss, m, acc),
        "target_loss_sum": loss,
        "distinct": K,
        "loss_curve_sum": None,
        "finetuned": None,
        "lemma_a": None,
    }


def write_fixture_run(run_dir: Path, model: str = "ntk", earlybird: bool = False) -> Path:
    """Write spec.json, points/ and units/ of a tiny deterministic run with verify.rows."""
    spec = ExperimentSpec(
        name="fixture",
        dataset="synthetic",
        ms=MS,
        seeds=SEEDS,
        checkpoints=CHECKPOINTS,
        k=K,
        width=16,
        eta=0.05,
        model=model,
        batch_size=10 if model == "cnn" else 0,
        optimizer="sgd" if model == "cnn" else "gd",
    )
    write_json_atomic(run_dir / SPEC_FILE, spec.to_dict())
    two_layer = model != "cnn"
    for m in MS:
        for seed in SEEDS:
            rng = np.random.default_rng(1000 * m + seed)
            tau = 0.6 * math.log(m) ** 1.5 * (1 + 0.1 * rng.standard_normal())
            L0 = 0.5 * m * (1 + 0.5 * CLASSES) * (1 + 0.05 * rng.standard_normal())
            V0 = 0.5 * 16 * m * CLASSES * (1 + 0.05 * rng.standard_normal())
            lambda0 = 0.5 / math.sqrt(m) * (1 + 0.05 * rng.standard_normal())
            curve = [L0 * math.exp(-t / tau) + 1e-3 * m for t in range(max(CHECKPOINTS) + 1)]
            for t in CHECKPOINTS:
                dense = curve[t]
                acc = 0.3 + 0.65 * (1 - math.exp(-t / tau))
                V = V0 * (1 + 0.001 * t) if two_layer else None
                labels_loss = 0.6 * dense + 0.05 * m
                subnets = {
                    "magnitude": _baseline_entry(m, 1.5 * labels_loss, 0.8 * acc),
                    "random": _baseline_entry(m, 2.0 * labels_loss, 0.6 * acc),
                }
                if two_layer:
                    subnets["gfs_labels"] = _gfs_entry("labels", m, dense, labels_loss, V, acc, spec.eps)
                    subnets["gfs_dense"] = _gfs_entry("dense", m, 0.05 * dense, labels_loss, V, 0.95 * acc, spec.eps)
                else:
                    subnets["gfs_labels"] = {**_baseline_entry(m, labels_loss, acc), "target": "labels"}
                write_point(
                    run_dir,
                    {
                        "m": m,
                        "seed": seed,
                        "t": t,
                        "k": K,
                        "width": 16 if two_layer else None,
                        "dense": _metrics(dense, m, min(acc + 0.05, 1.0)),
                        "V": V,
                        "subnets": subnets,
                    },
                )
            unit = {
                "m": m,
                "seed": seed,
                "checkpoints": list(CHECKPOINTS),
                "dense_loss_curve_sum": curve,
                "constants": {
                    "lambda0": lambda0,
                    "lambda_max": 0.3 * m,
                    "V0": V0,
                    "L0_sum": L0,
                    "y_norm2": float(m),
                    "eta": spec.eta,
                    "width": 16,
                    "kappa": 1.0,
                }
                if two_layer
                else None,
                "predicted": {
                    "fixed_eta": {
                        "eta": spec.eta,
                        "t_star": 40.0 * math.log(m),
                        "t_star_upper": 45.0 * math.log(m),
                        "tol": V0 / K,
                        "c1": 2.0,
                        "L0_bound": 10 * L0,
                    },
                    "du_eta": {
                        "eta": lambda0 / m**2,
                        "t_star": 8e4 * m**2.5,
                        "t_star_upper": 9e4 * m**2.5,
                        "tol": V0 / K,
                        "c1": 2.0,
                        "L0_bound": 10 * L0,
                    },
                }
                if two_layer
                else None,
                "device": "cpu",
                "elapsed_s": 0.1,
            }
            if earlybird:
                n = len(CHECKPOINTS)
                dist = np.array([[min(abs(i - j) * 0.2 / (1 + min(i, j)), 1.0) for j in range(n)] for i in range(n)])
                unit["earlybird_distance_matrix"] = dist.tolist()
                unit["earlybird_checkpoints"] = list(CHECKPOINTS)
                unit["earlybird_detection_t"] = CHECKPOINTS[3] if m < 160 else None
            write_unit(run_dir, unit)
    return run_dir


# --------------------------------------------------------------------------------------------
# Tests

import importlib  # noqa: E402

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ebtheory.figures import registry as cmd_figures  # noqa: E402
from ebtheory.figures.common import FigureSkipped  # noqa: E402
from ebtheory.verify.rows import load_run  # noqa: E402


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    return {
        "ntk": load_run(write_fixture_run(base / "ntk", earlybird=True)),
        "plain": load_run(write_fixture_run(base / "plain")),
        "cnn": load_run(write_fixture_run(base / "cnn", model="cnn")),
    }


def _render_capturing(name: str, run, out_dir: Path, monkeypatch):
    """Render figure `name`, keeping the matplotlib Figure that save_figure receives."""
    module = importlib.import_module(cmd_figures.FIGURES[name])
    captured = {}
    original = module.save_figure

    def keep(fig, out, stem):
        captured["fig"] = fig
        return original(fig, out, stem)

    monkeypatch.setattr(module, "save_figure", keep)
    paths = module.render(run, out_dir)
    return paths, captured["fig"]


def _check_files(paths: list[Path]) -> None:
    assert sorted(p.suffix for p in paths) == [".pdf", ".png"]
    for path in paths:
        data = path.read_bytes()
        assert len(data) > 1000
        assert data.startswith(b"\x89PNG" if path.suffix == ".png" else b"%PDF")


def _plot_axes(fig):
    """Axes of the plot panels (colour bars excluded)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def test_fig_a_curves_per_m_with_predicted_and_empirical_marks(runs, tmp_path, monkeypatch):
    run = runs["ntk"]
    paths, fig = _render_capturing("a", run, tmp_path, monkeypatch)
    _check_files(paths)
    axes = _plot_axes(fig)
    assert len(axes) == 4  # 2 metrics x 2 GFS targets
    n_m = len(MS)
    for ax in axes:
        # one mean curve per m, one predicted t* and one empirical t_hat* mark per m
        assert len(ax.lines) == 3 * n_m
    assert {ax.get_title() for ax in axes} >= {"GFS, target = labels", "GFS, target = dense output"}
    assert axes[-1].get_xlabel() == "pre-training iterations t"
    assert {ax.get_ylabel() for ax in axes} == {"pruned train accuracy", "pruned train loss L/m (labels)"}
    # The first curve of the top-left panel is the seed mean of m = MS[0]'s GFS-on-labels accuracy.
    line = axes[0].lines[0]
    expected = [
        np.mean([r["subnets"]["gfs_labels"]["train_acc"] for r in run.points_for(m=MS[0]) if r["t"] == t])
        for t in CHECKPOINTS
    ]
    np.testing.assert_allclose(line.get_ydata(), expected)
    np.testing.assert_allclose(line.get_xdata(), CHECKPOINTS)


def test_fig_b_fit_line_matches_threshold_fit(runs, tmp_path, monkeypatch):
    from ebtheory.verify.threshold import fit_log_m, threshold_relative

    run = runs["ntk"]
    paths, fig = _render_capturing("b", run, tmp_path, monkeypatch)
    _check_files(paths)
    axes = _plot_axes(fig)
    assert len(axes) == 5  # 2 targets x 2 definitions + the predictions panel
    for ax in axes[:4]:
        assert len(ax.lines) == 3  # seeds, means, fit
        assert ax.get_xlabel() == "dataset size m" and ax.get_ylabel() == "t_hat* (iterations)"
    assert len(axes[4].lines) == 3 + 2  # three predictions, the two empirical means
    # Independent twin: thresholds from the raw rows, then the verify fit; the plotted line must match.
    thresholds = {}
    for m in MS:
        thresholds[m] = []
        for seed in SEEDS:
            rows = run.points_for(m=m, seed=seed)
            losses = [r["subnets"]["gfs_labels"]["train_loss_mean"] for r in rows]
            thresholds[m].append(threshold_relative([r["t"] for r in rows], losses, run.spec["rel_tol"]))
    fit = fit_log_m(thresholds, seed=0)
    fit_line = axes[0].lines[2]
    x, y = fit_line.get_xdata(), fit_line.get_ydata()
    np.testing.assert_allclose(y, fit.alpha + fit.beta * np.log(x), rtol=1e-9, atol=1e-9)
    seeds_line = axes[0].lines[0]
    assert sorted(seeds_line.get_ydata()) == sorted(t for ts in thresholds.values() for t in ts)


def test_fig_c_bound_at_k_matches_recorded_lemma_a(runs, tmp_path, monkeypatch):
    run = runs["ntk"]
    paths, fig = _render_capturing("c", run, tmp_path, monkeypatch)
    _check_files(paths)
    axes = _plot_axes(fig)
    assert len(axes) == 2
    for ax in axes:
        assert len(ax.lines) == 3 * 3  # three t values: measured, bound, zero-output line
        assert ax.get_xlabel() == "subnetwork size k (GFS steps)"
    # Dashed line of t = 0 (labels target): its value at j = K is the recorded Lemma A bound (seed mean).
    bound_line = axes[0].lines[1]
    assert bound_line.get_linestyle() == "--"
    recorded = np.mean(
        [r["subnets"]["gfs_labels"]["lemma_a"]["bound"] for r in run.points_for(m=max(MS)) if r["t"] == CHECKPOINTS[0]]
    )
    np.testing.assert_allclose(bound_line.get_ydata()[-1], recorded, rtol=1e-9)
    assert np.all(np.diff(bound_line.get_ydata()) < 0)  # the bound decreases in k


def test_fig_d_three_constants_panels(runs, tmp_path, monkeypatch):
    run = runs["ntk"]
    paths, fig = _render_capturing("d", run, tmp_path, monkeypatch)
    _check_files(paths)
    axes = _plot_axes(fig)
    assert [len(ax.lines) for ax in axes] == [1, 2, 2]
    assert all(ax.get_xlabel() == "dataset size m" for ax in axes)
    measured = axes[1].lines[1]
    expected = []
    for m in MS:
        per_seed = []
        for seed in SEEDS:
            curve = run.unit(m, seed)["dense_loss_curve_sum"]
            per_seed.append(1 - (curve[-1] / curve[0]) ** (1 / (len(curve) - 1)))
        expected.append(np.mean(per_seed))
    np.testing.assert_allclose(measured.get_ydata(), expected, rtol=1e-12)


@given(rate=st.floats(1e-4, 0.5), steps=st.integers(1, 200), start=st.floats(1e-3, 1e6))
def test_effective_contraction_recovers_a_geometric_rate(rate, steps, start):
    from ebtheory.figures.fig_d_constants_vs_m import effective_contraction

    curve = [start * (1 - rate) ** t for t in range(steps + 1)]
    assert effective_contraction(curve) == pytest.approx(rate, rel=1e-6, abs=1e-12)


def test_fig_e_four_selections_per_panel(runs, tmp_path, monkeypatch):
    paths, fig = _render_capturing("e", runs["ntk"], tmp_path, monkeypatch)
    _check_files(paths)
    axes = _plot_axes(fig)
    assert len(axes) == 2 * len(MS)
    assert all(len(ax.lines) == 4 for ax in axes)
    assert [ax.get_title() for ax in axes[: len(MS)]] == [f"m = {m}" for m in MS]


def test_fig_f_cnn_curves_in_epochs(runs, tmp_path, monkeypatch):
    from ebtheory.figures.fig_f_cnn import epochs

    paths, fig = _render_capturing("f", runs["cnn"], tmp_path, monkeypatch)
    _check_files(paths)
    axes = _plot_axes(fig)
    assert len(axes) == 2 * 3  # train / test accuracy x (GFS, magnitude, random)
    assert all(len(ax.lines) == len(MS) for ax in axes)
    assert axes[-1].get_xlabel() == "pre-training epochs"
    np.testing.assert_allclose(axes[0].lines[0].get_xdata(), [epochs(t, MS[0], 10) for t in CHECKPOINTS])
    assert epochs(7, 50, 0) == 7 and epochs(10, 40, 10) == 2.5


def test_fig_g_heat_map_per_m_with_detection(runs, tmp_path, monkeypatch):
    paths, fig = _render_capturing("g", runs["ntk"], tmp_path, monkeypatch)
    _check_files(paths)
    axes = _plot_axes(fig)
    assert len(axes) == len(MS)
    assert all(len(ax.images) == 1 for ax in axes)
    # the fixture detects at CHECKPOINTS[3] except for the largest m
    assert [len(ax.lines) for ax in axes] == [2] * (len(MS) - 1) + [0]
    assert axes[0].lines[0].get_xdata()[0] == 3
    assert "not detected" in axes[-1].get_title()


def test_fig_h_detection_next_to_thresholds(runs, tmp_path, monkeypatch):
    paths, fig = _render_capturing("h", runs["ntk"], tmp_path, monkeypatch)
    _check_files(paths)
    (ax,) = _plot_axes(fig)
    assert [line.get_label() for line in ax.lines] == [
        "Early-Bird detection",
        "predicted t* (run's eta)",
        "t_hat* (a), GFS, target = labels",
        "t_hat* (a), GFS, target = dense output",
    ]
    assert list(ax.lines[0].get_xdata()) == list(MS[:-1])  # m = 160 never detected: left out
    assert ax.get_xlabel() == "dataset size m" and ax.get_ylabel() == "pre-training iterations t"


@pytest.mark.parametrize(
    "run_name, figure, words",
    [
        ("plain", "g", "Early-Bird"),
        ("plain", "h", "Early-Bird"),
        ("ntk", "f", "CNN"),
        ("cnn", "c", "loss_curve_sum"),
        ("cnn", "d", "constants"),
    ],
)
def test_missing_rows_skip_with_a_reason(runs, tmp_path, run_name, figure, words):
    module = importlib.import_module(cmd_figures.FIGURES[figure])
    with pytest.raises(FigureSkipped, match=words):
        module.render(runs[run_name], tmp_path)
    assert not list(tmp_path.iterdir())


def test_render_all_and_the_cli(runs, tmp_path, capsys):
    from ebtheory.cli import main

    results = cmd_figures.render_all(runs["plain"].run_dir, tmp_path, only=["e", "g"])
    assert set(results) == {"e", "g"}
    assert [p.name for p in results["e"]] == ["fig_e_baselines.png", "fig_e_baselines.pdf"]
    assert isinstance(results["g"], str) and "Early-Bird" in results["g"]
    assert main(["figures", str(runs["cnn"].run_dir), "--out", str(tmp_path / "cli"), "--only", "f,g"]) == 0
    out = capsys.readouterr().out
    assert "(f) " in out and "(g) skipped:" in out
    assert (tmp_path / "cli" / "fig_f_cnn.png").stat().st_size > 0
    assert main(["figures", str(runs["cnn"].run_dir), "--only", "a,z"]) == 2
    assert "--only" in capsys.readouterr().err
    assert main(["figures", str(tmp_path / "nowhere")]) == 2
    with pytest.raises(ValueError, match="only"):
        cmd_figures.render_all(runs["plain"].run_dir, tmp_path, only=["q"])
