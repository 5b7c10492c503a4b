"""Fuzz (issue 14, item 6): random bad and extreme input to every front door, in-process.

Each call must end in exit code 0 with finite output, or exit code 2 with one line on stderr; never a
traceback (an exception escaping `ebtheory.cli.main` fails the test with it), a hang (SIGALRM), or a
non-finite number in the output. Categories: `bound` flags, `estimate` flags (argument validation
only: the training is replaced by a sentinel), `run --set` through `--check` (no sweep starts), and
random corruptions of a copy of the session's real `tiny` run for `report`, `figures` and `export`.
Then the library: every public function of the packages called with only its required arguments,
and extreme magnitudes for atom_spread and lambda0.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import json
import math
import random
import re
import shutil
import signal
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ebtheory.cli import main

SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


class Hang(Exception):
    """A call that did not return within its time limit."""


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def cli(argv: list[str], seconds: int = 30) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `ebtheory ARGV` in this process; any other exception propagates."""
    out, err = io.StringIO(), io.StringIO()
    with time_limit(seconds), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 2
    return code, out.getvalue(), err.getvalue()


NON_FINITE_WORD = re.compile(r"(?<![A-Za-z_])(nan|-?inf|infinity)(?![A-Za-z_])", re.IGNORECASE)


def _refuse_constant(name: str) -> float:
    raise AssertionError(f"non-finite {name} in JSON output")


def assert_clean(code: int, out: str, err: str, argv: list[str], json_out: bool = False) -> None:
    """Exit 0 with finite output, or exit 2 with exactly one line on stderr and nothing on stdout."""
    assert "Traceback" not in err, f"{argv}: traceback\n{err[-3000:]}"
    if code == 0:
        if json_out:
            finite_json(json.loads(out, parse_constant=_refuse_constant), argv)
        else:
            assert not NON_FINITE_WORD.search(out), f"{argv}: non-finite number in\n{out[-3000:]}"
        return
    assert code == 2, f"{argv}: exit code {code}\n{err[-3000:]}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"{argv}: expected one line on stderr, got {len(lines)}:\n{err[-3000:]}"
    assert lines[0].startswith("ebtheory"), lines[0]


def finite_json(value: object, argv: list[str]) -> None:
    if isinstance(value, float):
        assert math.isfinite(value), f"{argv}: {value} in JSON output"
    elif isinstance(value, dict):
        for item in value.values():
            finite_json(item, argv)
    elif isinstance(value, list):
        for item in value:
            finite_json(item, argv)


# ------------------------------------------------------------------------------ bad number tokens

WEIRD_TOKENS = [
    "0", "-0", "-1", "1", "2", "0.5", "1e-320", "5e-324", "-5e-324", "1e-51", "1e308", "1.8e308", "1e400",
    "nan", "NaN", "inf", "-inf", "Infinity", "abc", "", " ", "1,2", "0x10", "1_000", "٣", "1" + "0" * 30,
    "-" + "9" * 40, "0.999999999999999999", "1e-300", "best", "auto",
]  # fmt: skip


def number_tokens() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(WEIRD_TOKENS),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.integers(-(10**40), 10**40).map(str),
        st.floats(min_value=1e-6, max_value=1e6).map(repr),
    )


# ---------------------------------------------------------------------------------------- bound


def log_uniform(low: float, high: float) -> st.SearchStrategy[str]:
    """repr of 10**u for u uniform in [low, high] (extreme but valid magnitudes), 0 and inf excluded."""
    return st.floats(low, high).map(lambda u: 10.0**u).filter(lambda x: 0 < x < math.inf).map(repr)


def with_one_weird(draw: st.DrawFn, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Half of the time, replace one value by any token (several bad values would only test the first)."""
    if pairs and draw(st.sampled_from([False, True])):
        index = draw(st.integers(0, len(pairs) - 1))
        pairs[index] = (pairs[index][0], draw(number_tokens()))
    return pairs


@st.composite
def bound_argv(draw: st.DrawFn) -> list[str]:
    lambda0 = draw(st.floats(-320, 308))
    product = draw(st.floats(-320, math.log10(1.999)))  # eta * lambda0 in (0, 2): the allowed region
    eta = 10.0 ** (product - lambda0) if -300 < product - lambda0 < 308 else 1.0
    values = {
        "--m": st.integers(1, 10**30).map(str),
        "--k": st.one_of(st.integers(1, 100), st.integers(1, 10**30)).map(str),
        "--lambda0": st.just(repr(10.0**lambda0)) if 10.0**lambda0 > 0 else st.just("1e-300"),
        "--eta": st.just(repr(eta)),
        "--delta": st.one_of(st.floats(1e-300, 1 - 1e-16).map(repr), st.just("0.1")),
        "--V": log_uniform(-324, 308),
        "--C": st.integers(1, 10**20).map(str),
        "--kappa": log_uniform(-300, 300),
        "--eps": st.one_of(st.floats(1e-300, 1 - 1e-16).map(repr), st.just("best")),
        "--y-norm2": log_uniform(-300, 308),
        "--t": st.one_of(st.integers(0, 10**6).map(str), log_uniform(-10, 308)),
    }
    required = ["--m", "--k", "--lambda0", "--eta", "--delta", "--V"]
    chosen = required + draw(st.lists(st.sampled_from(sorted(set(values) - set(required))), unique=True))
    if draw(st.sampled_from([False] * 9 + [True])):
        chosen.remove(draw(st.sampled_from(required)))  # a missing required flag
    pairs = with_one_weird(draw, [(flag, draw(values[flag])) for flag in chosen])
    argv = ["bound", "--loss", draw(st.sampled_from(["sum", "mean"]))]
    return argv + [f"{flag}={value}" for flag, value in pairs]


@settings(max_examples=50, deadline=None, suppress_health_check=SUPPRESS)
@given(argv=bound_argv(), as_json=st.booleans())
def test_bound_never_crashes(argv: list[str], as_json: bool) -> None:
    argv = argv + (["--json"] if as_json else [])
    code, out, err = cli(argv)
    assert_clean(code, out, err, argv, json_out=as_json)


# ------------------------------------------------------------------------------------- estimate


class Validated(Exception):
    """Raised in place of the training: the arguments passed every check."""


ESTIMATE_VALUES = {
    "--m": st.integers(1, 10**30).map(str),
    "--width": st.one_of(st.integers(1, 4096), st.integers(1, 10**30)).map(str),
    "--steps": st.one_of(st.integers(0, 1000), st.integers(1, 10**30)).map(str),
    "--eta": st.one_of(st.just("auto"), log_uniform(-300, 300)),
    "--k": st.one_of(st.integers(1, 4096), st.integers(1, 10**30)).map(str),
    "--delta": st.floats(1e-300, 1 - 1e-16).map(repr),
    "--kappa": log_uniform(-300, 300),
    "--eps": st.floats(1e-300, 1 - 1e-16).map(repr),
    "--seed": st.integers(-(10**20), 10**20).map(str),
}


@st.composite
def estimate_argv(draw: st.DrawFn) -> list[str]:
    data = draw(st.sampled_from(["digits", "digits", "synthetic", "mnist"]))
    device = draw(st.sampled_from(["cpu", "cpu", "cpu", "auto", "cuda:7", "tpu"]))
    argv = ["estimate", "--data", data, "--device", device, "--data-dir", "/nonexistent/ebtheory-fuzz"]
    flags = draw(st.lists(st.sampled_from(sorted(ESTIMATE_VALUES)), min_size=1, max_size=4, unique=True))
    pairs = with_one_weird(draw, [(flag, draw(ESTIMATE_VALUES[flag])) for flag in flags])
    return argv + [f"{flag}={value}" for flag, value in pairs]


@settings(max_examples=30, deadline=None, suppress_health_check=SUPPRESS)
@given(argv=estimate_argv())
def test_estimate_arguments_are_validated_before_any_work(argv: list[str]) -> None:
    with mock.patch("ebtheory.cli.estimate.estimate_constants", side_effect=Validated):
        try:
            code, out, err = cli(argv)
        except Validated:
            return  # every argument passed its check: the (patched out) work would start now
    assert_clean(code, out, err, argv)


# ------------------------------------------------------------------------------------ run --set

NAME_TOKENS = ["../../escape", "/abs/path", "a/b", "..", ".", "", "ok-name", "x" * 300, "-rf", "a\\b", "é", "a b"]


def spec_value(kind: object) -> st.SearchStrategy[str]:
    """Values of the field's own type (often extreme), rendered as --set text."""
    origin = typing.get_origin(kind)
    if origin is tuple:
        inner = typing.get_args(kind)[0]
        return st.lists(spec_value(inner), min_size=0, max_size=6).map(",".join)
    if kind is bool:
        return st.sampled_from(["true", "false", "yes", "0", "maybe"])
    if kind is int:
        return st.one_of(st.integers(-3, 100), st.integers(-(10**30), 10**30)).map(str)
    if kind is float:
        return st.one_of(st.floats(-1.0, 2.0), log_uniform(-320, 308), st.just("0.0")).map(str)
    return st.one_of(st.sampled_from(NAME_TOKENS), st.text(max_size=12))


@st.composite
def set_assignments(draw: st.DrawFn) -> list[str]:
    from ebtheory.verify.spec import ExperimentSpec

    hints = typing.get_type_hints(ExperimentSpec)
    keys = draw(st.lists(st.sampled_from(sorted(hints)), min_size=1, max_size=3, unique=True))
    pairs = [
        f"{key}={value}" for key, value in with_one_weird(draw, [(key, draw(spec_value(hints[key]))) for key in keys])
    ]
    if draw(st.sampled_from([False] * 9 + [True])):
        pairs.append(draw(st.sampled_from(["novalue", "=1", "no_such_field=1", "k"])))
    return pairs


@settings(max_examples=60, deadline=None, suppress_health_check=SUPPRESS)
@given(pairs=set_assignments(), one_flag=st.booleans())
def test_run_set_is_validated_and_stays_inside_out(
    pairs: list[str], one_flag: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out_dir = tmp_path_factory.mktemp("out")
    sets = ["--set", *pairs] if one_flag else [part for pair in pairs for part in ("--set", pair)]
    argv = ["run", "tiny", "--check", "--out", str(out_dir), *sets]
    code, out, err = cli(argv)
    assert_clean(code, out, err, argv)
    if code == 0:
        run_dir = Path(out.strip().split("run dir: ", 1)[1].rsplit(" (", 1)[0])
        assert run_dir.resolve().parent == out_dir.resolve(), f"{argv}: run dir {run_dir} is not inside --out"
    assert list(out_dir.iterdir()) == [], "--check must not create anything"


def test_run_set_takes_several_pairs_after_one_flag(tmp_path: Path) -> None:
    argv = ["run", "tiny", "--check", "--out", str(tmp_path), "--set", "dataset=synthetic", "k=3", "--set", "width=9"]
    code, out, _ = cli(argv)
    assert code == 0
    from ebtheory.cli import build_parser
    from ebtheory.cli.run import build_spec

    spec = build_spec(build_parser("run").parse_args(argv))
    assert (spec.dataset, spec.k, spec.width) == ("synthetic", 3, 9)
    assert f"{spec.name}-{spec.hash}" in out


# ------------------------------------------------------------------------- corrupted tiny runs

JSON_REPLACEMENTS: list[object] = [
    None, "", "x", True, False, -1, 0, 1, 2, 10**30, -1.5, 0.0, 1e-300, 1e300, 2.0, 0.5, [], {}, [None], {"a": 1},
]  # fmt: skip


def _leaves(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    if isinstance(value, dict):
        return [path] + [leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))]
    if isinstance(value, list):
        return [path] + [leaf for index, item in enumerate(value) for leaf in _leaves(item, (*path, index))]
    return [path]


def _parent(document: object, path: tuple[object, ...]) -> typing.Any:
    parent: typing.Any = document
    for key in path[:-1]:
        parent = parent[key]
    return parent


def _mutate_json(document: object, rng: random.Random, kind: str) -> tuple[object, str]:
    """One JSON-level change: replace a value, drop a key, add a key, or plant NaN/inf."""
    path = rng.choice(_leaves(document))
    if not path:
        return rng.choice(JSON_REPLACEMENTS), "the whole document"
    parent = _parent(document, path)
    if kind == "drop_key" and isinstance(parent, dict):
        del parent[path[-1]]
    elif kind == "add_key" and isinstance(parent, dict):
        parent["unexpected_field"] = 1
    elif kind == "nan":
        parent[path[-1]] = float(rng.choice(["nan", "inf", "-inf"]))
    else:
        parent[path[-1]] = rng.choice(JSON_REPLACEMENTS)
    return document, str(path)


def corrupt(run_dir: Path, rng: random.Random) -> str:
    """Apply one random corruption to a run directory; return what was done (for the failure message)."""
    files = sorted(p for p in run_dir.rglob("*.json") if p.is_file())
    if not files:
        return "nothing left to corrupt"
    target = rng.choice(files)
    kind = rng.choice(
        ["truncate", "garbage", "replace", "replace", "replace", "replace", "drop_key", "add_key", "delete_file",
         "delete_many", "duplicate", "nan", "deep", "foreign_row", "directory", "device", "empty"]
    )  # fmt: skip
    where = target.relative_to(run_dir)
    raw = target.read_bytes()
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if kind in ("replace", "drop_key", "add_key", "nan", "foreign_row") and document is None:
        kind = "truncate"  # an earlier round broke this file already
    if kind == "truncate":
        target.write_bytes(raw[: rng.randrange(max(1, len(raw)))])
    elif kind == "garbage":
        target.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))))
    elif kind in ("replace", "drop_key", "add_key", "nan"):
        document, at = _mutate_json(document, rng, kind)
        target.write_text(json.dumps(document))
        return f"{kind} {where} at {at}"
    elif kind == "foreign_row":
        if isinstance(document, dict) and "run_hash" in document:
            document["run_hash"] = "0" * 12
        target.write_text(json.dumps(document))
    elif kind == "delete_file":
        target.unlink()
    elif kind == "delete_many":
        for path in rng.sample(files, k=max(1, len(files) // 2)):
            path.unlink()
    elif kind == "duplicate":
        points = sorted((run_dir / "points").glob("*.json"))
        if points and points[0].is_file():
            shutil.copy(
                rng.choice([p for p in points if p.is_file()]),
                run_dir / "points" / f"m{rng.randrange(10**6)}_s0_t0.json",
            )
    elif kind == "deep":
        target.write_text("[" * 100_000 + "]" * 100_000)
    elif kind == "directory":
        target.unlink()
        target.mkdir()
    elif kind == "device":  # a row that never ends: /dev/zero reports size 0
        target.unlink()
        target.symlink_to("/dev/zero")
    elif kind == "empty":
        target.write_text("")
    return f"{kind} {where}"


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _corrupted_copy(tiny_run_dir: Path, root: Path, seed: int, rounds: int) -> tuple[Path, str]:
    target = root / f"case{seed}" / tiny_run_dir.name
    if target.parent.exists():
        shutil.rmtree(target.parent)
    shutil.copytree(tiny_run_dir, target)
    rng = random.Random(seed)
    done = [corrupt(target, rng) for _ in range(rounds)]
    return target, "; ".join(done)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=SUPPRESS)
@given(seed=st.integers(0, 2**32 - 1), rounds=st.integers(1, 3), as_json=st.booleans())
def test_report_on_a_corrupted_run_is_one_line_or_finite(
    tiny_run_dir: Path, fuzz_root: Path, seed: int, rounds: int, as_json: bool
) -> None:
    run_dir, what = _corrupted_copy(tiny_run_dir, fuzz_root, seed, rounds)
    argv = ["report", str(run_dir)] + (["--json"] if as_json else [])
    code, out, err = cli(argv, seconds=60)
    assert_clean(code, out, err, [*argv, what], json_out=as_json)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=SUPPRESS)
@given(seed=st.integers(0, 2**32 - 1), rounds=st.integers(1, 2), figure=st.sampled_from(list("abcdegh")))
def test_figures_on_a_corrupted_run_are_one_line_or_drawn(
    tiny_run_dir: Path, fuzz_root: Path, seed: int, rounds: int, figure: str
) -> None:
    run_dir, what = _corrupted_copy(tiny_run_dir, fuzz_root, seed, rounds)
    argv = ["figures", str(run_dir), "--out", str(run_dir.parent / "figures"), "--only", figure]
    code, out, err = cli(argv, seconds=120)
    assert_clean(code, out, err, [*argv, what])


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=SUPPRESS)
@given(seed=st.integers(0, 2**32 - 1), rounds=st.integers(1, 2))
def test_export_on_a_corrupted_run_is_one_line_or_a_table(
    tiny_run_dir: Path, fuzz_root: Path, seed: int, rounds: int
) -> None:
    if importlib.util.find_spec("ebtheory.cli.export") is None:
        pytest.skip("no export command in this tree")
    run_dir, what = _corrupted_copy(tiny_run_dir, fuzz_root, seed, rounds)
    argv = ["export", str(run_dir), "--format", "csv", "--out", str(run_dir.parent / "table.csv")]
    code, out, err = cli(argv, seconds=60)
    assert_clean(code, out, err, [*argv, what])


@pytest.mark.slow
def test_the_uncorrupted_tiny_run_reports_finite_json(tiny_run_dir: Path) -> None:
    """The control: without corruption every command succeeds (so the fuzz is not all refusals)."""
    argv = ["report", str(tiny_run_dir), "--json"]
    code, out, err = cli(argv, seconds=120)
    assert code == 0, err
    assert_clean(code, out, err, argv, json_out=True)


# ------------------------------------------------------------- the library: defaults and extremes


def _unit_rows(m: int, d: int, seed: int = 0) -> torch.Tensor:
    X = torch.randn(m, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (X / X.norm(dim=1, keepdim=True)).to(torch.float32)


def _idx_folder(root: Path) -> Path:
    from ebtheory.data import write_idx

    folder = root / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("t10k", 4)):
        write_idx(folder / f"{split}-images-idx3-ubyte", rng.integers(0, 255, (n, 4, 4), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    return folder


def _cifar_folder(root: Path) -> Path:
    import pickle

    folder = root / "cifar"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, (2, 3072), dtype=np.uint8), b"labels": [0, 1]}
        (folder / name).write_bytes(pickle.dumps(batch))
    return folder


def required_arguments(root: Path) -> dict[str, Callable[[], tuple]]:
    """Values for the REQUIRED parameters of each public function (qualified name -> args)."""
    from ebtheory.constants.predict import EstimateConfig
    from ebtheory.models import TwoLayerNTK
    from ebtheory.symbolic import BoundInputs
    from ebtheory.train import TrainConfig

    X, Y = _unit_rows(8, 4), torch.eye(2)[torch.arange(8) % 2]
    labels = torch.arange(8) % 2
    H = torch.relu(torch.randn(8, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    W2 = torch.randn(6, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    W1 = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    net = lambda: TwoLayerNTK(4, 6, outputs=2)  # noqa: E731
    idx = _idx_folder(root)
    cifar = _cifar_folder(root)
    gram = torch.eye(3, dtype=torch.float64).numpy() + 0.1
    bound = BoundInputs(m=100, k=5, eta=0.5, lambda0=0.1, delta=0.1, V=10.0)
    config = TrainConfig(lr=0.01)
    return {
        "ebtheory.data.flatten_unit_sphere": lambda: (X,),
        "ebtheory.data.load_cifar10": lambda: (cifar,),
        "ebtheory.data.load_dataset": lambda: ("digits",),
        "ebtheory.data.load_mnist_idx": lambda: (idx,),
        "ebtheory.data.mnist_idx_files": lambda: (idx,),
        "ebtheory.data.nested_subset_indices": lambda: (labels, 4, 0),
        "ebtheory.data.nested_subset_order": lambda: (labels, 0),
        "ebtheory.data.one_hot": lambda: (labels, 2),
        "ebtheory.data.read_cifar_batch": lambda: (cifar / "test_batch",),
        "ebtheory.data.read_idx": lambda: (idx / "t10k-labels-idx1-ubyte",),
        "ebtheory.data.synthetic_teacher": lambda: (20, 5, 4, 3, 0),
        "ebtheory.data.write_idx": lambda: (root / "w.idx", np.zeros(3, np.uint8)),
        "ebtheory.constants.dense_rate_pointwise": lambda: (np.array([4.0, 2.0, 1.0]), 0.5),
        "ebtheory.constants.estimate_constants": lambda: (X, Y, EstimateConfig(width=8, steps=3, k=4, checkpoints=2)),
        "ebtheory.constants.fit_contraction_rate": lambda: (np.array([8.0, 4.0, 2.0, 1.0, 0.5]),),
        "ebtheory.constants.lazy_radius": lambda: (100, 0.1, 0.1),
        "ebtheory.constants.step_size_requirement": lambda: (100, 0.1),
        "ebtheory.constants.weight_drift": lambda: (W1, W1 + 0.1),
        "ebtheory.constants.width_requirement": lambda: (100, 0.1, 0.1),
        "ebtheory.constants.empirical_ntk_gram": lambda: (net(), X),
        "ebtheory.constants.empirical_ntk_jacobian": lambda: (net(), X),
        "ebtheory.constants.gram_spectrum": lambda: (gram,),
        "ebtheory.constants.h_inf": lambda: (X,),
        "ebtheory.constants.lambda0": lambda: (X,),
        "ebtheory.constants.roundoff_scale": lambda: (10, 2.0),
        "ebtheory.constants.two_layer_ntk_gram": lambda: (X, W1, W2[:, :1].float()),
        "ebtheory.constants.two_layer_ntk_lambda_max": lambda: (X, W1, W2[:, :1].float()),
        "ebtheory.constants.two_layer_ntk_operator": lambda: (X, W1, W2[:, :1].float()),
        "ebtheory.constants.unit_rows": lambda: (X,),
        "ebtheory.prune.atom_gram": lambda: (H, W2),
        "ebtheory.prune.atom_spread": lambda: (H, W2),
        "ebtheory.prune.greedy_forward_selection": lambda: (H, W2, Y.double(), 3),
        "ebtheory.prune.greedy_forward_selection_naive": lambda: (H, W2, Y.double(), 3),
        "ebtheory.prune.magnitude_selection": lambda: (W1, W2.float(), 3),
        "ebtheory.prune.pruned_two_layer": lambda: (W1, W2.float(), torch.tensor([1, 0, 2, 0, 0, 1])),
        "ebtheory.prune.random_selection": lambda: (6, 3, 0),
        "ebtheory.prune.subnetwork_from_indices": lambda: (W1, W2.float(), torch.tensor([0, 2, 2])),
        "ebtheory.train.epoch_checkpoints": lambda: ([0, 0.5, 1, 2], 10, 4),
        "ebtheory.train.epoch_grid": lambda: (3,),
        "ebtheory.train.epochs_to_steps": lambda: (1.5, 10, 4),
        "ebtheory.train.evaluate": lambda: (net(), X, Y, "sum_squares"),
        "ebtheory.train.examples_seen": lambda: (5, 10, 4),
        "ebtheory.train.fine_tune": lambda: (net(), X, Y, 2, config),
        "ebtheory.train.fine_tune_epochs": lambda: (net(), X, Y, 1, config),
        "ebtheory.train.loss_value": lambda: (net(), X, Y, "sum_squares"),
        "ebtheory.train.objective": lambda: (Y + 0.1, Y, "sum_squares"),
        "ebtheory.train.steps_per_epoch": lambda: (10, 4),
        "ebtheory.train.steps_to_epochs": lambda: (5, 10, 4),
        "ebtheory.train.train_with_checkpoints": lambda: (net(), X, Y, config, [0, 2]),
        "ebtheory.models.count_parameters": lambda: (net(),),
        "ebtheory.models.count_macs": lambda: (net(), (4,)),
        "ebtheory.symbolic.arccos_kernel": lambda: (np.array([0.0, 1.0, math.pi]),),
        "ebtheory.symbolic.best_eps": lambda: (10.0, 5.0, 4),
        "ebtheory.symbolic.dense_rate_factor": lambda: (0.5, 0.1),
        "ebtheory.symbolic.dilated_time": lambda: (2.0, np.array([1.0, 2.0])),
        "ebtheory.symbolic.evaluate_bound": lambda: (bound,),
        "ebtheory.symbolic.greedy_efficiency_theory": lambda: (0.5,),
        "ebtheory.symbolic.initial_spread_per_example": lambda: (2, 1.0, 16),
        "ebtheory.symbolic.lemma_a_bound": lambda: (10.0, 5.0, 4),
        "ebtheory.symbolic.lemma_a_c1": lambda: (4, 0.5),
        "ebtheory.symbolic.per_example_time": lambda: (0.01, 100, np.array([0.0, 10.0])),
        "ebtheory.symbolic.pruned_curve_model": lambda: (np.array([10.0, 5.0]), 100, 8, 1.5, 1.0, 0.2, 0.5),
        "ebtheory.symbolic.pruned_loss_bound_curve": lambda: (bound, [0.0, 10.0]),
        "ebtheory.symbolic.spectral_dense_loss": lambda: (
            np.array([1.0, 0.5]),
            np.array([2.0, 1.0]),
            0.5,
            np.array([0.0, 3.0]),
        ),
        "ebtheory.symbolic.spectral_mode_weights": lambda: (np.array([1.0, 0.5]), np.array([0.2, 0.1]), 2, 1.0),
        "ebtheory.symbolic.threshold_from_constants": lambda: (1.5, 100.0, 1.0, 0.5, 0.1),
        "ebtheory.symbolic.to_latex": lambda: (__import__("ebtheory.symbolic", fromlist=["x"]).c1_expr(),),
        "ebtheory.validation.require_choice": lambda: ("x", "a", ("a", "b")),
        "ebtheory.validation.require_closed_interval": lambda: ("x", 0.5, 0.0, 1.0),
        "ebtheory.validation.require_int_at_most": lambda: ("x", 3, 10, "why"),
        "ebtheory.validation.require_nonnegative": lambda: ("x", 0.0),
        "ebtheory.validation.require_open_interval": lambda: ("x", 0.5, 0.0, 1.0),
        "ebtheory.validation.require_positive": lambda: ("x", 1.0),
        "ebtheory.validation.require_positive_int": lambda: ("x", 3),
        "ebtheory.validation.require_real": lambda: ("x", 1.0),
        "ebtheory.validation.require_step_size_product": lambda: (0.5, 0.1),
    }


LIBRARY_PACKAGES = ("ebtheory.data", "ebtheory.constants", "ebtheory.prune", "ebtheory.train", "ebtheory.models")
LIBRARY_MODULES = ("ebtheory.symbolic", "ebtheory.validation")
SKIPPED = {
    # reads the Debian Fashion-MNIST package when present: covered by tests/test_data.py
    "ebtheory.data.load_fashion_mnist",
    "ebtheory.data.find_fashion_mnist_dir",
}


def public_functions() -> dict[str, Callable[..., object]]:
    """Functions a user imports: a package's __all__, or a module's own public functions."""
    found: dict[str, Callable[..., object]] = {}
    for name in LIBRARY_PACKAGES + LIBRARY_MODULES:
        module = importlib.import_module(name)
        names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
        for attribute in names:
            obj = getattr(module, attribute)
            if not inspect.isfunction(obj) or not (obj.__module__ or "").startswith("ebtheory"):
                continue
            home = "ebtheory.validation" if obj.__module__ == "ebtheory.validation" else name
            if name in LIBRARY_MODULES and obj.__module__ not in (name, "ebtheory.validation"):
                continue  # imported from elsewhere
            found.setdefault(f"{home}.{attribute}", obj)
    return found


def _required(function: Callable[..., object]) -> list[str]:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in inspect.signature(function).parameters.values() if p.kind in kinds and p.default is p.empty]


@pytest.mark.slow
def test_every_public_function_works_with_its_own_defaults(tmp_path: Path) -> None:
    """Issue 14: `train_with_checkpoints(model, X, Y, config, checkpoints)` raised with its own default
    device. Every exported function is called with its required arguments only; a function without an
    entry in required_arguments fails the test, so new functions get one."""
    table = required_arguments(tmp_path)
    functions = public_functions()
    missing = sorted(
        name
        for name, function in functions.items()
        if name not in table and name not in SKIPPED and _required(function)
    )
    assert not missing, f"give these public functions their required arguments in required_arguments: {missing}"
    failures = {}
    for name, function in sorted(functions.items()):
        if name in SKIPPED:
            continue
        args = table[name]() if name in table else ()
        assert len(args) == len(_required(function)), f"{name}: table gives {len(args)} arguments"
        try:
            with time_limit(120):
                function(*args)
        except Exception as error:  # noqa: BLE001 - the test reports every failure at once
            failures[name] = f"{type(error).__name__}: {error}"
    assert not failures, json.dumps(failures, indent=1)


@settings(max_examples=40, deadline=None)
@given(exponent=st.integers(-150, 150), w_exponent=st.integers(-100, 100), seed=st.integers(0, 1000))
def test_atom_spread_scales_exactly_or_refuses(exponent: int, w_exponent: int, seed: int) -> None:
    """V(aH, bW2) = a^2 b^2 V(H, W2) (V is homogeneous): for activations up to 1e150 V must be that,
    not NaN (issue 14: squares of large activations overflowed to inf - inf), or a ValueError when
    the true V exceeds float64."""
    from ebtheory.prune import atom_spread

    generator = torch.Generator().manual_seed(seed)
    H = torch.relu(torch.randn(7, 5, generator=generator, dtype=torch.float64)) + 0.01
    W2 = torch.randn(5, 2, generator=generator, dtype=torch.float64)
    base = atom_spread(H, W2)
    log10_true = math.log10(base) + 2 * exponent + 2 * w_exponent if base > 0 else -math.inf
    try:
        scaled = atom_spread(H * 10.0**exponent, W2 * 10.0**w_exponent)
    except ValueError as error:
        assert "overflows" in str(error) and log10_true > 307, (log10_true, error)
        return
    assert math.isfinite(scaled) and scaled >= 0
    if -290 < log10_true < 300:
        assert math.log10(scaled) == pytest.approx(log10_true, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(exponents=st.lists(st.integers(-200, 200), min_size=6, max_size=6), seed=st.integers(0, 1000))
def test_lambda0_with_normalize_ignores_row_scale(exponents: list[int], seed: int) -> None:
    """lambda0(normalize=True) depends on the directions only (issue 14: rows near 1e200 were zeroed)."""
    from ebtheory.constants import lambda0

    X = _unit_rows(6, 3, seed).double().numpy()
    scaled = X * np.array([10.0**e for e in exponents])[:, None]
    assert lambda0(scaled, normalize=True).lambda_min == pytest.approx(lambda0(X).lambda_min, rel=1e-9, abs=1e-12)
