#!/usr/bin/env bash
# verify/gpu_check.sh DATA_DIR OUT_DIR [--tiny]
#
# Paper-sized sweeps on one CUDA GPU, about 8 minutes in all (issue 12.4): a paper-mlp
# two-layer NTK sweep and a paper-cnn-sized residual-CNN sweep, both on Fashion-MNIST, each through
# `ebtheory run <preset> --device cuda --set ...` with the existing presets. Everything lands under
# OUT_DIR:
#   OUT_DIR/runs/<preset>-<hash>/      the rows (spec.json, run.json, units/, points/), resumable
#   OUT_DIR/<name>.report.txt|.json    `ebtheory report` of each sweep
#   OUT_DIR/figures/<name>/            `ebtheory figures` of each sweep
#   OUT_DIR/<name>.log                 the sweep's own output
#   OUT_DIR/summary.tsv                name, status (ok | budget | failed), exit code, wall seconds, run dir
#   OUT_DIR/environment.txt            python, torch, CUDA device, the exact commands
# A sweep that outlives its budget is stopped with SIGINT (rows already written stay: every row is
# written atomically and a rerun of this script resumes where it stopped) and marked "budget".
# The script exits 0 when every step ran (even over budget), 1 when a sweep or report failed,
# 2 on bad arguments or, without --tiny, when CUDA is not available.
#
# Intended sizes (GPU; no GPU was available when this was written, so the wall times are estimates
# to be replaced by the recorded ones):
#   mlp: preset paper-mlp as it is (verify/presets.py): two-layer NTK, width 1024, k = 512, SGD batch
#        128 on the per-example squared loss, 13 checkpoints up to 16 epochs, m in {1k, 2.5k, 5k, 10k,
#        20k, 60k}, 3 seeds, all 10k test images, 1 epoch of fine-tuning. Training runs on the GPU;
#        the exact GFS runs in float64 on the CPU by design (ebtheory.prune.gfs), so the GPU shortens
#        the training and evaluation only. Budget MLP_BUDGET_S (default 210 s): the sweep is resumable,
#        a rerun continues it.
#   cnn: preset paper-cnn (SGD batch 128, momentum 0.9, eta 0.05, cross-entropy, counted in epochs;
#        layer-wise GFS keeping half the inner channels of every block without replacement, L1-norm and
#        random baselines at equal size, BatchNorm re-estimated for every net, 1 epoch of fine-tuning)
#        at GPU size (an estimate: not yet run on a GPU): a (16, 32, 64) ResNet, m in {2.5k, 5k, 10k, 20k},
#        3 seeds, checkpoints at 0, 1/4, 1/2, 1, 2, 3, 4 epochs, GFS scored on 2048 examples, 10k test images.
#        Budget CNN_BUDGET_S (default 210 s).
# --tiny: the same two sweeps at toy sizes on the CPU (--device cpu; m in {20, 30, 40, 60}, width 64,
#   4 and 8 channels, t <= 10 ticks): a test of this script (tests/test_gpu_check.py), not a measurement.
#
# Staging the data. The GPU machine cannot download anything, so the IDX files must travel with
# the working tree, in a folder git ignores (runs/ is in .gitignore):
#   mkdir -p runs/data/fashion-mnist
#   cp /usr/share/datasets/fashion-mnist/*-ubyte.gz runs/data/fashion-mnist/    # Debian: dataset-fashion-mnist
#   verify/gpu_check.sh runs/data/fashion-mnist runs/gpu-check
# (about 31 MB; with a device tool that copies the working tree, name runs/data in its list of
# ignored paths to carry, and fetch OUT_DIR back.) MNIST IDX files work the same way for the mlp
# sweep with dataset=mnist in MLP_SET below.
#
# Environment: PYTHON (default python) must import torch with CUDA and ebtheory's dependencies;
# the repository root is put on PYTHONPATH, so an installed ebtheory is not needed. JOBS (default 3
# on the GPU, 2 with --tiny) sets --jobs.

set -uo pipefail

usage() {
    echo "usage: verify/gpu_check.sh DATA_DIR OUT_DIR [--tiny]" >&2
    echo "  DATA_DIR: folder with the Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz], ...)" >&2
    exit 2
}

[[ $# -eq 2 || $# -eq 3 ]] || usage
DATA_DIR=$1
OUT_DIR=$2
TINY=0
if [[ $# -eq 3 ]]; then
    [[ $3 == --tiny ]] || usage
    TINY=1
fi
if ! compgen -G "$DATA_DIR/train-images-idx3-ubyte*" >/dev/null; then
    echo "gpu_check.sh: DATA_DIR must hold the Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz] ...); got DATA_DIR=$DATA_DIR" >&2
    exit 2
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA_DIR=$(cd "$DATA_DIR" && pwd)
mkdir -p "$OUT_DIR" || exit 2
OUT_DIR=$(cd "$OUT_DIR" && pwd)
PYTHON=${PYTHON:-python}
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

if [[ $TINY -eq 1 ]]; then
    DEVICE=cpu
    JOBS=${JOBS:-2}
    MLP_BUDGET_S=${MLP_BUDGET_S:-900}
    CNN_BUDGET_S=${CNN_BUDGET_S:-900}
    MLP_SET=("data_dir=$DATA_DIR" ms=20,30,40,60 seeds=0,1,2 width=64 k=32 batch_size=5 ticks_per_epoch=2
        checkpoints=0,1,2 earlybird_masks=0 n_test=100 finetune_steps=1)
    CNN_SET=("data_dir=$DATA_DIR" ms=20,30,40,60 seeds=0,1,2 cnn_widths=4,8 k=2 batch_size=4
        checkpoints=0,5,10 n_test=100 finetune_steps=2)
else
    DEVICE=cuda
    JOBS=${JOBS:-3}
    MLP_BUDGET_S=${MLP_BUDGET_S:-210}
    CNN_BUDGET_S=${CNN_BUDGET_S:-210}
    if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        echo "gpu_check.sh: CUDA is not available to $PYTHON (torch.cuda.is_available() is False); use --tiny on a CPU" >&2
        exit 2
    fi
    MLP_SET=("data_dir=$DATA_DIR")
    CNN_SET=("data_dir=$DATA_DIR" ms=2500,5000,10000,20000 seeds=0,1,2 cnn_widths=16,32,64
        checkpoints=0,1,2,4,8,12,16 earlybird_masks=17 gfs_examples=2048 n_test=10000)
fi

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "mode: $([[ $TINY -eq 1 ]] && echo tiny || echo gpu) device=$DEVICE jobs=$JOBS"
    echo "git: $(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)"
    "$PYTHON" -c "import sys, torch; print('python', sys.version.split()[0]); print('torch', torch.__version__, 'cuda', torch.version.cuda); print('device', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu only')"
    echo "mlp: ebtheory run paper-mlp --device $DEVICE --jobs $JOBS --set ${MLP_SET[*]}  (budget ${MLP_BUDGET_S} s)"
    echo "cnn: ebtheory run paper-cnn --device $DEVICE --jobs $JOBS --set ${CNN_SET[*]}  (budget ${CNN_BUDGET_S} s)"
} >"$OUT_DIR/environment.txt" 2>&1

printf 'name\tstatus\texit_code\twall_s\trun_dir\n' >"$OUT_DIR/summary.tsv"
FAILED=0

# sweep NAME PRESET BUDGET_S SET...: run one sweep under its budget, then its report and figures.
sweep() {
    local name=$1 preset=$2 budget=$3
    shift 3
    local check run_dir started rc status wall
    if ! check=$("$PYTHON" -m ebtheory run "$preset" --check --device "$DEVICE" --out "$OUT_DIR/runs" --set "$@" 2>&1); then
        echo "$check" >"$OUT_DIR/$name.log"
        printf '%s\tfailed\t2\t0\t-\n' "$name" >>"$OUT_DIR/summary.tsv"
        echo "gpu_check.sh: $name: the spec was refused: $check" >&2
        FAILED=1
        return
    fi
    run_dir=$(sed -n 's/^spec valid; run dir: \(.*\) (.*)$/\1/p' <<<"$check" | tail -n 1)
    started=$(date +%s.%N)
    timeout --signal=INT --kill-after=30 "$budget" \
        "$PYTHON" -m ebtheory run "$preset" --device "$DEVICE" --jobs "$JOBS" --out "$OUT_DIR/runs" \
        --no-progress --no-figures --set "$@" >"$OUT_DIR/$name.log" 2>&1
    rc=$?
    wall=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    case $rc in
        0) status=ok ;;
        124 | 130 | 137) status=budget ;;
        *) status=failed; FAILED=1 ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$wall" "$run_dir" >>"$OUT_DIR/summary.tsv"
    echo "gpu_check.sh: $name: $status (exit $rc) in $wall s; rows in $run_dir" >&2
    if [[ -d $run_dir ]]; then
        "$PYTHON" -m ebtheory report "$run_dir" >"$OUT_DIR/$name.report.txt" 2>&1 || FAILED=1
        "$PYTHON" -m ebtheory report "$run_dir" --json >"$OUT_DIR/$name.report.json" 2>>"$OUT_DIR/$name.log" || FAILED=1
        "$PYTHON" -m ebtheory figures "$run_dir" --out "$OUT_DIR/figures/$name" >>"$OUT_DIR/$name.log" 2>&1 ||
            echo "gpu_check.sh: $name: figures failed (see $name.log)" >&2
    fi
}

sweep mlp paper-mlp "$MLP_BUDGET_S" "${MLP_SET[@]}"
sweep cnn paper-cnn "$CNN_BUDGET_S" "${CNN_SET[@]}"
cat "$OUT_DIR/summary.tsv"
exit $FAILED
