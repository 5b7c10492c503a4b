# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # ebtheory in ten minutes
#
# How much dense pre-training is enough before greedy forward selection (GFS) finds a good
# subnetwork? This walkthrough uses the Python API end to end, on the bundled digits data and the
# CPU (about a minute): compute the threshold t* from constants, measure the constants on data and a
# trained net, run the `tiny` verification sweep, read its report, draw two figures, and prune a
# network of your own into a ticket that you save and load back.
#
# Open it as a notebook with `jupytext --to notebook examples/walkthrough.py`, or run it as a
# script: `python examples/walkthrough.py` (it writes into `walkthrough-out/` of the current folder).
# The theory is in `docs/theory.md`; the proofs, with their sympy checks, in `proofs/`.

# %%
# ruff: noqa: E402  (a notebook imports each name in the cell that first uses it)
from pathlib import Path

import torch

OUT = Path("walkthrough-out")
OUT.mkdir(exist_ok=True)
torch.manual_seed(0)

# %% [markdown]
# ## 1. The bound from constants
# `evaluate_bound` evaluates the sympy expressions of `ebtheory.symbolic` (docs/theory.md section 4):
# t* = ln(c1 L0 / tol) / ln(1 / (1 - eta lambda0 / 2)), in GD iterations on the sum loss.

# %%
from ebtheory.symbolic import BoundInputs, evaluate_bound

bound = evaluate_bound(BoundInputs(m=1000, k=50, eta=0.5, lambda0=0.01, delta=0.1, V=100), t=4000)
print(f"t* = {bound.t_star:.1f} iterations (upper form {bound.t_star_upper:.1f}), tol = {bound.tol:g}")
print(f"pruned-loss bound after 4000 iterations: {bound.pruned_loss_bound:.4g}")
assert bound.t_star <= bound.t_star_upper

# %% [markdown]
# ## 2. Constants measured on data (small and fast)
# `estimate_constants` trains a two-layer NTK net by full-batch GD on m digits and measures lambda0,
# L(0), the atom spread V, the contraction rate and the drift, then predicts t*.

# %%
from ebtheory.constants.predict import EstimateConfig, estimate_constants
from ebtheory.data.preprocess import flatten_unit_sphere, one_hot
from ebtheory.data.selection import training_subset

subset = training_subset("digits", None, 60, 0, balanced=True)
X, Y = flatten_unit_sphere(subset.X), one_hot(subset.y, subset.num_classes)
estimate = estimate_constants(X, Y, EstimateConfig(width=64, steps=40, k=16, checkpoints=4))
print(f"lambda0 = {estimate.lambda0:.4g}, L(0) = {estimate.L0:.4g}, V = {estimate.V:.4g}")
print(
    f"fitted rate {estimate.rate:.4f} vs theory {estimate.rate_theory:.4f}; t* (Markov L0) = {estimate.t_star_markov:.4g}"
)

# %% [markdown]
# ## 3. A verification sweep: the `tiny` preset
# A sweep pre-trains, prunes by GFS and fine-tunes over a grid of pre-training lengths t and dataset
# sizes m, several seeds each. `run_sweep` writes typed rows into `OUT/tiny-<spec hash>/` and resumes
# whatever is already there (run this cell twice: the second time it does nothing). With
# `save_tickets` (the CLI's `ebtheory run tiny --save-tickets`) every pruned subnetwork of the last
# checkpoint is also kept, as a ticket file.

# %%
import functools

from ebtheory.verify.presets import TINY
from ebtheory.verify.runner import run_sweep
from ebtheory.verify.unit import run_unit

T_LAST = max(TINY.checkpoints)
unit_fn = functools.partial(run_unit, save_tickets=[T_LAST])
result = run_sweep(TINY, OUT / "runs", unit_fn=unit_fn, device="cpu", progress=False)
run_dir = result.run_dir
print(f"{result.units_run} units run, {result.units_skipped} already there: {run_dir}")

# %% [markdown]
# ## 4. Read the report
# `load_run` validates every row into typed records; the report turns them into the verdict.

# %%
from ebtheory.verify.records import load_run
from ebtheory.verify.report import build_report, format_report

run = load_run(run_dir)
print(format_report(run))
verdict = build_report(run)  # the same analysis as JSON-able data (`ebtheory report --json`)
print(sorted(verdict))
point = run.points_for(m=48, seed=0)[-1]
print(
    f"m=48, t={point.t}: GFS on the labels keeps {point.subnets['gfs_labels'].distinct} neurons, "
    f"test accuracy {point.subnets['gfs_labels'].test_acc:.3f} (dense {point.dense.test_acc:.3f})"
)

# %% [markdown]
# ## 5. Two figures
# (a): pruned loss against pre-training length; (b): the measured threshold against m.

# %%
from ebtheory.figures.registry import render_all

rendered = render_all(run_dir, OUT / "figures", only=["a", "b"])
for letter, outcome in rendered.items():
    print(letter, outcome)

# %% [markdown]
# ## 6. GFS on your own model, and a ticket you can keep
# `select_subnetwork` runs GFS on an `nn.Sequential` of Linear / ReLU layers (exact two-layer GFS for one
# hidden layer, layer-wise GFS for deeper ones; the project's CNN works too). `save_ticket` writes the
# pruned module as safetensors with a JSON header (architecture, the mask over the dense model, the
# numbers you record); `ebtheory.tickets.load` rebuilds it without unpickling anything.

# %%
from torch import nn

from ebtheory import tickets
from ebtheory.prune.user_model import select_subnetwork

torch.manual_seed(0)  # the sweep above reseeds torch's global generator per unit
dense = nn.Sequential(nn.Linear(X.shape[1], 128), nn.ReLU(), nn.Linear(128, Y.shape[1]))
optimizer = torch.optim.Adam(dense.parameters(), lr=0.01)
for _ in range(200):
    optimizer.zero_grad()
    loss = 0.5 * (dense(X) - Y).square().sum()
    loss.backward()
    optimizer.step()
selection = select_subnetwork(dense, X, Y, keep=24)
pruned = selection.module
accuracy = float((pruned(X).argmax(1) == subset.y).double().mean())
print(f"kept {selection.widths_after['0']} of 128 neurons; training accuracy {accuracy:.3f}")

path = tickets.save_ticket(
    OUT / "my_ticket.safetensors",
    pruned,
    masks=tickets.layer_unit_masks(dense, selection.selections),
    dense=dense,
    selection=selection.selections,
    numbers={"train_acc": accuracy},
)
ticket = tickets.load_ticket(path)
reloaded = ticket.module
assert torch.equal(reloaded(X), pruned(X))
print(f"reloaded {ticket.header.family} ticket, recorded train_acc {ticket.header.numbers['train_acc']:.3f}")

# %% [markdown]
# The sweep kept its tickets too: `RUN_DIR/tickets/m{m}_s{seed}_t{t}/{subnet}.safetensors`. Loaded back,
# the GFS subnetwork of m = 48 scores exactly the accuracy its point row records.

# %%
from ebtheory.verify.context import network_numbers
from ebtheory.verify.unit import unit_context

sweep_ticket = tickets.load_ticket(run_dir / "tickets" / f"m48_s0_t{T_LAST}" / "gfs_labels.safetensors")
recorded = run.points_for(m=48, seed=0)[-1].subnets["gfs_labels"]
scored = network_numbers(TINY, sweep_ticket.module, unit_context(TINY, 48, 0, "cpu").data, torch.device("cpu"))
print(f"sweep ticket: test accuracy {scored.test_acc:.3f}, recorded {recorded.test_acc:.3f}")
assert (scored.train_acc, scored.test_acc) == (recorded.train_acc, recorded.test_acc)

# %% [markdown]
# The masks apply to the dense model with `torch.nn.utils.prune.custom_from_mask`: the masked dense net
# keeps exactly the selected neurons (the ticket also carries GFS's averaging weights, so the two differ by
# those output scales).

# %%
import copy

masked = tickets.apply_masks(copy.deepcopy(dense), ticket.masks)
kept_rows = int(masked[0].weight.abs().sum(dim=1).gt(0).sum())
print(f"masked dense net: {kept_rows} of 128 hidden neurons left")
assert kept_rows == selection.widths_after["0"]
