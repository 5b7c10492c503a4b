"""Figures render from the session's real `tiny` run (tests/conftest.py): panels, curves, files.

No hand-typed rows: a reader that asks for a field no writer produces fails here (figure (d) once read
`dense_loss_curve_sum`, which no unit wrote, and drew no measured rate in any recorded run).
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ebtheory.figures import registry
from ebtheory.figures.common import FigureSkipped


def _render_capturing(name: str, run, out_dir: Path, monkeypatch):
    """Render figure `name`, keeping the matplotlib Figure that save_figure receives."""
    module = importlib.import_module(registry.FIGURES[name])
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


def test_fig_a_one_curve_per_m_matching_the_rows(tiny_run, tmp_path, monkeypatch):
    paths, fig = _render_capturing("a", tiny_run, tmp_path, monkeypatch)
    _check_files(paths)
    axes = _plot_axes(fig)
    assert len(axes) == 4  # 2 metrics x 2 GFS targets
    # The first curve of the top-left panel is the seed mean of the smallest m's GFS-on-labels accuracy.
    m = tiny_run.ms[0]
    line = axes[0].lines[0]
    ts = sorted({p.t for p in tiny_run.points_for(m=m)})
    expected = [np.mean([p.subnets["gfs_labels"].train_acc for p in tiny_run.points_for(m=m) if p.t == t]) for t in ts]
    np.testing.assert_allclose(line.get_ydata(), expected)
    # x is per-example time tau = eta m t (GD on the sum loss at a fixed eta), and the axis says so
    np.testing.assert_allclose(line.get_xdata(), [tiny_run.spec.eta * m * t for t in ts])
    assert "tau" in axes[-1].get_xlabel() and "tau" in fig._suptitle.get_text()


def test_fig_b_draws_censored_cells_hollow_and_the_analysis_fits(tiny_run, tmp_path, monkeypatch):
    from ebtheory.verify.analysis import analyze
    from ebtheory.verify.analysis.thresholds import DEFINITIONS

    analysis = analyze(tiny_run)
    paths, fig = _render_capturing("b", tiny_run, tmp_path, monkeypatch)
    _check_files(paths)
    axes = _plot_axes(fig)
    assert len(axes) == 2 * len(DEFINITIONS) + 1
    for col, target in enumerate(("gfs_labels", "gfs_dense")):
        for row, definition in enumerate(DEFINITIONS):
            ax = axes[col * len(DEFINITIONS) + row]
            series = analysis.series(target, definition)
            hollow = [line for line in ax.lines if line.get_markerfacecolor() == "none"]
            drawn = sum(len(line.get_xdata()) for line in hollow)
            assert drawn == sum(c.censoring != "none" for c in series.cells)
            hollow_y = sorted(y for line in hollow for y in line.get_ydata())
            assert hollow_y == pytest.approx(sorted(c.bound_in("tau") for c in series.cells if c.censoring != "none"))
            fit = series.fits["tau"].log
            fit_lines = [line for line in ax.lines if line.get_label() == "fit alpha + beta ln m"]
            assert len(fit_lines) == (fit is not None)
            for line in fit_lines:
                np.testing.assert_allclose(line.get_ydata(), [fit.predict(m) for m in line.get_xdata()])


def test_fig_d_draws_the_measured_contraction_rate(tiny_run, tmp_path, monkeypatch):
    """Fails on the old reader: `dense_loss_curve_sum` was never written, so the measured line was empty."""
    paths, fig = _render_capturing("d", tiny_run, tmp_path, monkeypatch)
    _check_files(paths)
    rate_panel = _plot_axes(fig)[1]
    measured = [line for line in rate_panel.lines if line.get_label().startswith("measured")]
    assert len(measured) == 1
    y = np.asarray(measured[0].get_ydata(), dtype=float)
    assert len(y) == len(tiny_run.ms) and np.all(np.isfinite(y)) and np.all(y > 0)
    # Independent twin: 1 - (L(T)/L(0))^(1/T) from the recorded dense curve, mean over seeds.
    expected = []
    for m in tiny_run.ms:
        rates = []
        for seed in tiny_run.seeds:
            curve = tiny_run.unit(m, seed).dense_loss_curve
            rates.append(1 - (curve[-1] / curve[0]) ** (1 / (len(curve) - 1)))
        expected.append(np.mean(rates))
    np.testing.assert_allclose(y, expected, rtol=1e-9)


@given(rate=st.floats(1e-4, 0.5), steps=st.integers(1, 200), start=st.floats(1e-3, 1e6))
def test_effective_contraction_recovers_a_geometric_rate(rate, steps, start):
    from ebtheory.verify.analysis.tables import effective_contraction

    curve = [start * (1 - rate) ** t for t in range(steps + 1)]
    assert effective_contraction(curve) == pytest.approx(rate, rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("name", ["c", "e", "g", "h"])  # a, b, d have their own tests above
def test_every_two_layer_figure_renders_from_the_real_run(name, tiny_run, tmp_path, monkeypatch):
    paths, fig = _render_capturing(name, tiny_run, tmp_path, monkeypatch)
    _check_files(paths)
    # every panel draws data, or says in words why it has none
    assert all(ax.has_data() or ax.texts for ax in _plot_axes(fig))


def test_missing_rows_skip_with_a_reason(tiny_run, tmp_path):
    module = importlib.import_module(registry.FIGURES["f"])
    with pytest.raises(FigureSkipped, match="CNN"):
        module.render(tiny_run, tmp_path)
    stripped = dataclasses.replace(
        tiny_run,
        units=tuple(dataclasses.replace(u, earlybird=None, earlybird_distance_matrix=None) for u in tiny_run.units),
    )
    for name in ("g", "h"):
        with pytest.raises(FigureSkipped, match="Early-Bird"):
            importlib.import_module(registry.FIGURES[name]).render(stripped, tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_render_all_and_the_cli(tiny_run_dir, tmp_path, capsys):
    from ebtheory.cli import main

    results = registry.render_all(tiny_run_dir, tmp_path, only=["e", "f"])
    assert set(results) == {"e", "f"}
    assert [p.name for p in results["e"]] == ["fig_e_baselines.png", "fig_e_baselines.pdf"]
    assert isinstance(results["f"], str) and "CNN" in results["f"]
    assert main(["figures", str(tiny_run_dir), "--out", str(tmp_path / "cli"), "--only", "f,g"]) == 0
    out = capsys.readouterr().out
    assert "(g) " in out and "(f) skipped:" in out
    assert main(["figures", str(tiny_run_dir), "--only", "a,z"]) == 2
    assert "--only" in capsys.readouterr().err
    assert main(["figures", str(tmp_path / "nowhere")]) == 2
    with pytest.raises(ValueError, match="only"):
        registry.render_all(tiny_run_dir, tmp_path, only=["q"])


@pytest.mark.slow
def test_fig_f_draws_pruned_and_fine_tuned_accuracy_from_a_real_cnn_run(tmp_path, monkeypatch):
    """Figure (f) from a real (small) CNN sweep: every subnetwork's curves, fine-tuned ones included, have points."""
    from ebtheory.verify.presets import CNN
    from ebtheory.verify.records import load_run
    from ebtheory.verify.runner import run_sweep

    spec = dataclasses.replace(
        CNN, name="cnn-fig-f", ms=(16, 24, 32, 48), n_test=50, checkpoints=(0, 5, 10), earlybird=False,
        earlybird_masks=0, finetune_steps=2, batch_size=8,
    )  # fmt: skip
    run = load_run(run_sweep(spec, tmp_path, device="cpu", progress=False).run_dir)
    paths, fig = _render_capturing("f", run, tmp_path / "figs", monkeypatch)
    _check_files(paths)
    labels = [line.get_label() for ax in _plot_axes(fig) for line in ax.get_lines()]
    assert any("fine-tuned" in label or "finetuned" in label for label in labels), labels
    assert all(len(line.get_xdata()) > 0 for ax in _plot_axes(fig) for line in ax.get_lines())
