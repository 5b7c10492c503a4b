"""Named experiment specs. tests/test_spec.py pins their hashes: changing a preset moves its runs.

- tiny: CI smoke run, end to end in well under a minute on 2 CPU cores (a full, valid spec:
  4 sizes, 3 seeds; no exemption from the validation).
- quick: sklearn digits, two-layer NTK net, 5 sizes x 5 seeds, a fine grid of 64 checkpoints
  (spec.fine_checkpoints), float64, CPU, about 3 minutes with --jobs 2 on an idle 2-core machine (the README's
  main job).
- fashion: Fashion-MNIST from the Debian package, float64, CPU, 1 h 30 min with --jobs 2 (recorded: README, Results).
- mnist-paper: MNIST IDX files supplied by the user (--set data_dir=...), paper-scale width, GPU.
- paper-mlp: Fashion-MNIST up to all 60,000 images, the two-layer NTK net trained by mini-batch SGD
  counted in epochs (the practitioner regime), float32; about an hour of CPU (README, Results).
- paper-cnn: a small ResNet (8, 16 channels) on Fashion-MNIST, m up to 10,000, SGD counted in epochs,
  layer-wise GFS keeping half the channels of each block against the L1-norm and random baselines at
  equal size, BatchNorm re-estimated for every net, 1 epoch of fine-tuning; recorded in 43 minutes with
  --jobs 2 on the shared 2-core CPU. Only the empirical part of the theory applies (docs/theory.md, 5.6).
- cnn: paper-cnn at smoke size (two stages, m up to 2000, 2 epochs), about 20 minutes on the shared CPU.
  On a GPU with CIFAR-10 files: paper-cnn with --set dataset=cifar10 data_dir=...
- certified: digits, width 1024, kappa 0.1, k = 512: Lemma A's bound is below the empty selection's
  loss (not vacuous) once the dense net has trained a little (docs/theory.md, section 9.6).

The step size: GD on the sum loss diverges when eta * lambda_max(NTK Gram) > 2, and lambda_max
grows about linearly in m, so eta is set from the largest m of each preset (measured with
ebtheory.constants on the data; see the comment at each preset). The same eta is used for every m:
the fixed-eta regime of docs/theory.md, section 5.2.
"""

from __future__ import annotations

import dataclasses

from ebtheory.verify.spec import ExperimentSpec, fine_checkpoints, log_checkpoints

# digits on the unit sphere: lambda_max(H_inf) = 4.2 at m = 16, 12.7 at m = 48, 209 at m = 800,
# 261 at m = 1000 (ebtheory.constants); eta below is about 1 / lambda_max at the largest m.
# Fine-tuning: finetune_eta = 0 picks each subnetwork's own safe step, 1/lambda_max of its
# Gauss-Newton matrix (ebtheory.verify.unit.finetune_step). A shared step (eta * k / N, tried first) suited GFS
# but made the magnitude and random subnetworks oscillate: their fine-tuned test accuracy fell from
# 0.90 to 0.70 on quick, an artefact of the step, not of the subnetworks. kappa = 0.3 and k = N/2: under NTK scaling V is about
# kappa^2 N m C / 2 (docs/theory.md, section 5.3), and with kappa = 1 or k = N/8 the pruned loss sat at the zero
# predictor's 1/2 per example for every t (measured on digits, m = 48): no threshold to see.
# dtype float64: a float32 round-off change (inputs moved by 2 float32 steps, or another product layout, as
# another machine's BLAS makes) moved 96 of quick's 150 cell thresholds by more than 1% (single cells by up
# to a factor 3.7) through the chaotic dense trajectory; in float64, inputs moved by 1e-12 moved none by more
# than 2e-12 (docs/theory.md, section 7.3). Training then costs about 2x.
TINY = ExperimentSpec(
    name="tiny",
    dataset="digits",
    dtype="float64",
    ms=(16, 24, 32, 48),
    n_test=100,
    width=64,
    kappa=0.3,
    eta=0.08,
    checkpoints=log_checkpoints(100, 6),
    seeds=(0, 1, 2),
    k=32,
    finetune_steps=5,
    finetune_eta=0.0,
    abs_tol=0.2,
    earlybird_masks=25,  # evenly spaced: on the log grid the first masks are 1-3 iterations apart
)

# quick: 5 sizes evenly spaced in log m over the same range 100..800 and 5 seeds (issue 10.4), and
# the fine grid (issue 10.2: a log-spaced head, a dense tail; 64 checkpoints from the one training run).
QUICK = dataclasses.replace(
    TINY,
    name="quick",
    ms=(100, 168, 283, 476, 800),
    seeds=(0, 1, 2, 3, 4),
    n_test=450,
    width=256,
    eta=0.005,
    checkpoints=fine_checkpoints(10000),  # up to 2000 the pruned loss of m <= 400 had no plateau
    k=128,
    finetune_steps=20,
    finetune_eta=0.0,
    abs_tol=0.15,
    earlybird_masks=41,  # every 250 iterations
)

# Fashion-MNIST on the unit sphere: lambda_max(H_inf) = 56 at m = 250, 453 at m = 2000.
# The GD cost is ~ sum(ms) * width * 784 * t_max (1 h 30 min with --jobs 2 on 2 CPU cores in float64, 10,578 s of CPU,
# recorded in verify/results/fashion-b58156744144). t_max = 20000: on the 14-point grid of an earlier round the pruned loss of
# every m was still falling at 4000 (threshold (a) censored).
FASHION = dataclasses.replace(
    QUICK,
    name="fashion",
    dataset="fashion-mnist",
    ms=(250, 500, 1000, 2000),
    n_test=2000,
    seeds=(0, 1, 2),
    width=512,
    eta=0.002,
    checkpoints=fine_checkpoints(20000),
    k=256,
    abs_tol=0.2,
)

MNIST_PAPER = dataclasses.replace(
    FASHION,
    name="mnist-paper",
    dataset="mnist",
    ms=(1000, 2000, 5000, 10000, 20000),
    n_test=10000,
    width=10000,
    eta=1.5e-4,
    checkpoints=fine_checkpoints(5000),
    k=5000,
    finetune_steps=100,
    finetune_eta=7.5e-5,
    abs_tol=0.1,
)

# paper-mlp (issue 12.2): the practitioner regime at full Fashion-MNIST scale on the CPU. Mini-batch SGD
# (batch 128, no momentum) at a fixed step on the per-example squared loss, counted in epochs (8 ticks an
# epoch: fractions of an epoch early, whole epochs later, up to 16 epochs), m up to all 60,000 training
# images (MNIST with --set dataset=mnist data_dir=...). The net is the theory's two-layer NTK net at width
# 1024 with k = N/2 and kappa = 0.3 as in quick (with k = N/8 or kappa = 1 the pruned loss did not move),
# so exact GFS in the Gram form, Lemma A, both targets and both baselines apply. eta: the per-example
# NTK Gram's top eigenvalue lambda_max(H_inf)/m is about 0.23 on Fashion-MNIST at m = 2000 (ebtheory.constants),
# so GD on the mean loss is stable below about 2/0.23 = 8.7; eta = 4 is half that (measured: SGD at eta 8
# also trained at m = 60k, eta 0.5 was 4x slower). Fine-tuning: 1 epoch at each subnetwork's own auto
# step (finetune_eta = 0: 1/lambda_max of its per-example Gauss-Newton matrix). The pre-training step did
# not suit the pruned nets, whose readout is trained too: at eta = 4 one epoch of fine-tuning lowered the
# random 50% subnetwork from 0.70 to 0.34 test accuracy at m = 10k, while the auto steps (0.33 for GFS,
# 0.05-0.06 for the baselines) raised every subnetwork. Early-Bird: a mask every epoch (You et al.: per epoch).
# dtype float32: SGD over 60,000 examples is an hour of CPU in float32; its thresholds are in epochs and
# carry the float32 round-off sensitivity of docs/theory.md, section 7.3 (README, known limits).
PAPER_MLP = dataclasses.replace(
    FASHION,
    name="paper-mlp",
    dtype="float32",
    ms=(1000, 2500, 5000, 10000, 20000, 60000),
    seeds=(0, 1, 2),
    n_test=10000,
    width=1024,
    kappa=0.3,
    k=512,
    optimizer="sgd",
    train_loss="mean_squares",
    eta=4.0,
    batch_size=128,
    ticks_per_epoch=8,
    checkpoints=(0, 1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128),  # epochs 0, 1/8, 1/4, 1/2, 1, 1.5, 2, 3, ..., 16
    finetune_steps=8,
    finetune_eta=0.0,
    earlybird_masks=17,
    abs_tol=0.2,
)

# paper-cnn (issue 12.3): a small ResNet (ebtheory.models.ResidualCNN: a stem and two stages of 8 and 16
# channels, one residual block each) on Fashion-MNIST in the practitioner regime: mini-batch SGD (batch 64,
# momentum 0.9, eta 0.1) on cross-entropy, counted in epochs (4 ticks an epoch; checkpoints at 0, 1/2, 1,
# 2 and 4 epochs), m up to 10,000, 3 seeds. Layer-wise GFS keeps half the inner
# channels of every block (keep_fraction 0.5) without replacement, scores candidates with BatchNorm
# batch statistics on 512 training examples (gfs_examples) and re-estimates BatchNorm on all m; the L1-norm
# (Li et al.) and random baselines keep as many channels per block; every net is scored after BatchNorm
# re-estimation; 1 epoch of fine-tuning (eta 0.01); Early-Bird masks every 1/2 epoch.
# Measured on this 2-core CPU (shared, one thread a process): one SGD epoch of the (16, 32) net at
# m = 10k took 19 s of CPU, one point there (GFS on 1024 examples 92 s, three 1-epoch fine-tunings
# 83 s, evaluations) 209 s of CPU, far over a 30-minute sweep of 4 sizes x 3 seeds; a first (8, 16, 32)
# version to 3 epochs still cost about 110 s of CPU a point at m = 10k (about 3,000-5,000 s for the
# sweep), so the net is (8, 16) (about 3.4x cheaper a forward than (16, 32)) with 5 checkpoints. Pre-training
# epochs are cheap beside a point (about 6 s of CPU at m = 10k against 80 s), and 2 epochs were too few:
# the cnn smoke run's dense net had 0.55 test accuracy at m = 2000 after 2 epochs (63 steps), so the grid
# runs to 4 epochs.
PAPER_CNN = dataclasses.replace(
    FASHION,
    dtype="float32",  # recorded in float32 (CPU time; section 7.3 of docs/theory.md)
    name="paper-cnn",
    model="cnn",
    ms=(1250, 2500, 5000, 10000),
    seeds=(0, 1, 2),
    n_test=1000,
    cnn_widths=(8, 16),
    optimizer="sgd",
    train_loss="cross_entropy",
    eta=0.1,
    batch_size=64,
    momentum=0.9,
    ticks_per_epoch=4,
    checkpoints=(0, 2, 4, 8, 16),  # epochs 0, 1/2, 1, 2, 4
    earlybird_masks=9,  # every 1/2 epoch
    k=4,  # unused with keep_fraction; validated against the smallest width without replacement
    keep_fraction=0.5,
    replacement=False,
    targets=("labels",),
    baselines=("magnitude", "random"),
    finetune_steps=4,  # 1 epoch
    finetune_eta=0.01,
    gfs_examples=512,
    abs_tol=0.5,  # threshold (b) on the per-example cross-entropy
)

# cnn: the paper-cnn regime at smoke size, about 5-8 minutes with --jobs 2 on the 2-core CPU: m up to
# 2000, batches of 64 (so a quarter epoch is at least one step at m = 250), up
# to 2 epochs, GFS scored on 256 examples. On a GPU, or for CIFAR-10 (--set dataset=cifar10
# data_dir=...), use paper-cnn and raise ms and the grid with --set.
CNN = dataclasses.replace(
    PAPER_CNN,
    name="cnn",
    ms=(250, 500, 1000, 2000),
    eta=0.05,
    batch_size=64,
    checkpoints=(0, 1, 2, 4, 8),  # epochs 0, 1/4, 1/2, 1, 2
    earlybird_masks=9,
    gfs_examples=256,
)

# certified (issue 11.4): Lemma A's bound c1(k) L(u(t)) + V(t)/(2(1-eps)k), computed from the dense net at t,
# falls below the empty selection's loss 1/2 ||Y||^2 (docs/theory.md, section 9.6). The greedy term is
# V/m over 2(1-eps)k per example: V/m starts at C kappa^2 (N-1)/2 and grows as the net trains (at width 64
# and kappa = 0.1 it grew 30x, to 75, and the bound stayed above 1/2 at every t), so kappa is small, the
# width large (lazier: V/m grew 51 -> 93 at width 1024) and k = N/2 (measured on digits, m = 48: bound
# 0.44 per example at t = 10, 0.21 at t = 300, against 0.5). Early-Bird, baselines and fine-tuning are
# off: the run is about the certificate and the predictor (gfs_dense is kept for its calibration).
CERTIFIED = dataclasses.replace(
    TINY,
    name="certified",
    dtype="float32",  # recorded in float32; its claim is Lemma A at each point, which holds at any round-off
    width=1024,
    kappa=0.1,
    k=512,
    checkpoints=fine_checkpoints(300, 24),
    earlybird=False,
    baselines=(),
    finetune_steps=0,
)

PRESETS: dict[str, ExperimentSpec] = {
    spec.name: spec for spec in (TINY, QUICK, FASHION, MNIST_PAPER, PAPER_MLP, CNN, PAPER_CNN, CERTIFIED)
}


def get_preset(name: str) -> ExperimentSpec:
    """The preset called `name`; ValueError listing the names otherwise."""
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got preset={name!r}")
    return PRESETS[name]
