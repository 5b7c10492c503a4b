"""`ebtheory run PRESET [--out runs/] [--jobs N] [--device auto|cpu|cuda] [--set KEY=VALUE ...] [--check]`.

Runs (or resumes) the sweep of a preset, with spec fields overridden by --set (the run-directory
hash changes accordingly), then prints the verdict table, renders the figures (into RUN_DIR/figures
unless --figures names another folder; --no-figures skips them) and prints the run directory.
`--set` takes one or more KEY=VALUE after one flag and may be repeated. `--check` validates the
spec and prints the run directory without running anything. Ctrl-C stops the sweep within seconds
(exit code 130) with one line saying what finished; the same command resumes it.
"""

from __future__ import annotations

import argparse
import sys

from ebtheory.verify.presets import PRESETS
from ebtheory.verify.spec import ExperimentSpec, field_help


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "preset", nargs="?", default=None, choices=sorted(PRESETS), help="named experiment spec (verify/presets.py)"
    )
    parser.add_argument(
        "--spec",
        dest="spec_file",
        default=None,
        metavar="FILE.json",
        help="run a spec written by hand (JSON object of spec fields; the same validation as presets) instead of a preset",
    )
    parser.add_argument("--out", default="runs", help="parent directory of run directories (default: runs/)")
    parser.add_argument("--jobs", type=int, default=1, help="units run in parallel processes (default 1)")
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda or cuda:<i>")
    fields = ", ".join(sorted(field_help()))
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help=f"override spec fields, one or more per flag (tuples comma-separated); fields: {fields}",
    )
    parser.add_argument(
        "--check", action="store_true", help="validate the spec, print the run directory and stop (runs nothing)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--figures", default=None, metavar="DIR", help="folder for the figures (default: RUN_DIR/figures)"
    )
    parser.add_argument("--no-figures", action="store_true", help="do not render the figures")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON (as `ebtheory report --json`); other lines go to stderr",
    )
    parser.add_argument(
        "--save-tickets",
        action="store_true",
        help="also save the pruned subnetworks as tickets (RUN_DIR/tickets/m*_s*_t*/NAME.safetensors; "
        "load with ebtheory.tickets.load) at the checkpoints of --tickets-at, and the Early-Bird tickets",
    )
    parser.add_argument(
        "--tickets-at",
        default=None,
        metavar="T[,T...]",
        help="checkpoints whose subnetworks --save-tickets saves (default: the last checkpoint)",
    )
    cluster = parser.add_argument_group("cluster (--backend submitit; pip install 'ebtheory[cluster]')")
    cluster.add_argument(
        "--backend", choices=("local", "submitit"), default="local", help="where units run (default: local processes)"
    )
    cluster.add_argument("--detach", action="store_true", help="submit the units and return at once (submitit)")
    cluster.add_argument(
        "--cluster",
        choices=("slurm", "local", "debug"),
        default=None,
        help="submitit executor (default: slurm if sbatch exists)",
    )
    cluster.add_argument("--partition", default=None, help="Slurm partition (default: the cluster's)")
    cluster.add_argument("--time-min", type=int, default=60, help="wall-clock limit per unit, minutes (default 60)")
    cluster.add_argument("--gpus-per-unit", type=int, default=0, help="GPUs per unit (default 0)")
    cluster.add_argument("--cpus-per-unit", type=int, default=1, help="CPU cores per unit (default 1)")
    cluster.add_argument("--mem-gb", type=float, default=None, help="memory per unit in GB (default: the cluster's)")
    cluster.add_argument("--array-parallelism", type=int, default=256, help="units running at once (default 256)")


def build_spec(args: argparse.Namespace) -> ExperimentSpec:
    """The spec `ebtheory run` would sweep: the preset with every --set override applied, validated."""
    from ebtheory.verify.presets import get_preset
    from ebtheory.verify.spec import with_overrides

    if isinstance(args.jobs, bool) or args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1; got --jobs={args.jobs}")
    spec_file = getattr(args, "spec_file", None)
    if (args.preset is None) == (spec_file is None):
        raise ValueError(
            f"give a PRESET or --spec FILE.json, not both and not neither; got preset={args.preset!r}, --spec={spec_file!r}"
        )
    base = spec_from_file(spec_file) if spec_file is not None else get_preset(args.preset)
    assignments = [item for group in args.overrides for item in (group if isinstance(group, list) else [group])]
    return with_overrides(base, assignments)


def spec_from_file(path: str) -> ExperimentSpec:
    """A spec written by hand: a JSON object of spec fields (missing ones take the dataclass defaults;
    'hash' and the recorded data identity of a run's spec.json are ignored, so a spec.json works too).
    Unknown fields and values of the wrong type are refused by name; then the spec's own validation."""
    import json
    import typing

    from ebtheory.verify.spec import spec_from_dict

    try:
        with open(path) as handle:
            data = json.load(handle)
    except json.JSONDecodeError as error:
        raise ValueError(f"--spec {path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"--spec {path}: must be a JSON object of spec fields; got {type(data).__name__}")
    hints = typing.get_type_hints(ExperimentSpec)
    for key, value in data.items():
        if key in ("hash", "data_identity"):
            continue
        if key not in hints:
            raise ValueError(f"--spec {path}: field {key!r} is not a spec field ({', '.join(sorted(hints))})")
        if not _json_matches(value, hints[key]):
            raise ValueError(f"--spec {path}: field {key!r} must be of type {hints[key]}; got {value!r}")
    return spec_from_dict({k: v for k, v in data.items() if k in hints})


def _json_matches(value: object, hint: object) -> bool:
    """Whether a JSON value fits a spec field's type (int where float is asked is fine, bool never is)."""
    import typing

    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return isinstance(value, list) and all(_json_matches(v, item) for v in value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, hint) if isinstance(hint, type) else True


def ticket_checkpoints(args: argparse.Namespace, spec: ExperimentSpec) -> tuple[int, ...] | None:
    """The checkpoints --save-tickets saves (None without --save-tickets); each must be on the spec's grid."""
    if not args.save_tickets:
        if args.tickets_at is not None:
            raise ValueError("--tickets-at needs --save-tickets")
        return None
    if args.tickets_at is None:
        return (max(spec.checkpoints),)
    try:
        chosen = tuple(int(part) for part in args.tickets_at.split(",") if part.strip())
    except ValueError:
        raise ValueError(
            f"--tickets-at must be comma-separated checkpoints; got --tickets-at={args.tickets_at!r}"
        ) from None
    off_grid = [t for t in chosen if t not in spec.checkpoints]
    if not chosen or off_grid:
        raise ValueError(
            f"--tickets-at must name checkpoints of the spec {list(spec.checkpoints)}; got --tickets-at={args.tickets_at!r}"
        )
    return chosen


def build_backend(args: argparse.Namespace):
    """The backend of --backend: None (the runner's local pool) or a SubmititBackend from the cluster flags."""
    if args.backend == "local":
        if args.detach:
            raise ValueError("--detach needs --backend submitit (local units run in this process's pool)")
        return None
    from ebtheory.verify.backends.submitit_backend import SubmititBackend

    return SubmititBackend(
        cluster=args.cluster,
        partition=args.partition,
        time_min=args.time_min,
        gpus_per_unit=args.gpus_per_unit,
        cpus_per_unit=args.cpus_per_unit,
        mem_gb=args.mem_gb,
        array_parallelism=args.array_parallelism,
    )


def run(args: argparse.Namespace) -> int:
    from ebtheory.train import select_device
    from ebtheory.verify.records import load_run
    from ebtheory.verify.report import build_report, format_report
    from ebtheory.verify.rundir import run_dir_inside
    from ebtheory.verify.runner import INTERRUPT_EXIT_CODE, SweepInterrupted, run_sweep
    from ebtheory.verify.spec import run_dir_name

    spec = build_spec(args)
    select_device(args.device)  # reject a bad --device before any work starts
    backend = build_backend(args)
    unit_fn = None
    saved_at = ticket_checkpoints(args, spec)
    if saved_at is not None:
        import functools

        from ebtheory.verify.unit import run_unit

        unit_fn = functools.partial(run_unit, save_tickets=saved_at)
    if args.check:
        run_dir = run_dir_inside(args.out, run_dir_name(spec))
        state = "exists (a run resumes it)" if run_dir.is_dir() else "new"
        print(f"spec valid; run dir: {run_dir} ({state})")
        return 0
    if args.detach:
        from ebtheory.verify.backends.submitit_backend import submit_detached

        run_dir, job_ids = submit_detached(spec, args.out, backend, unit_fn=unit_fn, device=args.device)
        print(f"submitted {len(job_ids)} units ({backend.resolved_cluster()}); run dir: {run_dir}")
        for (m, seed), job_id in sorted(job_ids.items()):
            print(f"  m={m} seed={seed}: job {job_id}")
        print("`ebtheory run` with the same arguments follows them; `ebtheory report RUN_DIR` reads what finished")
        return 0
    try:
        result = run_sweep(
            spec,
            args.out,
            unit_fn=unit_fn,
            jobs=args.jobs,
            device=args.device,
            progress=not args.no_progress,
            backend=backend,
        )
    except SweepInterrupted as interrupted:
        sys.stderr.write(f"ebtheory run: {interrupted}\n")
        return INTERRUPT_EXIT_CODE
    record = load_run(result.run_dir)
    report = build_report(record)  # analysed once: format_report(record) reuses it
    if args.json:
        import json
        from contextlib import redirect_stdout

        print(json.dumps(report, indent=2, sort_keys=True, allow_nan=False))
        with redirect_stdout(sys.stderr):  # the figure lines and the run dir must not break the JSON
            return _figures_and_run_dir(args, result.run_dir, record)
    print(format_report(record))
    return _figures_and_run_dir(args, result.run_dir, record)


def _figures_and_run_dir(args: argparse.Namespace, run_dir, record) -> int:
    if not args.no_figures:
        from ebtheory.figures.registry import render_all

        out_dir = args.figures if args.figures is not None else f"{run_dir}/figures"
        rendered = render_all(record, out_dir)  # the loaded record: its analysis is the report's (cached)
        written = sum(len(paths) for paths in rendered.values() if not isinstance(paths, str))
        print(f"\nfigures: {written} files in {out_dir}")
        for name, outcome in rendered.items():
            if isinstance(outcome, str):
                print(f"  ({name}) skipped: {outcome}")
    print(f"\nrun dir: {run_dir}")
    return 0
