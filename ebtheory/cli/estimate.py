"""`ebtheory estimate`: measure the bound's constants on data and a trained two-layer NTK net, then predict t*.

--eta auto: GD on the sum loss 1/2||u - Y||^2 with the NTK net has (almost everywhere, ReLU being
piecewise linear) Hessian J^T J, whose nonzero eigenvalues are those of the full (mC x mC) empirical
NTK Gram J J^T of the m examples at t = 0. GD is stable for eta < 2 / lambda_max of it; auto takes
half of that, eta = 1 / lambda_max(empirical NTK Gram at t=0).
"""

from __future__ import annotations

import argparse
import json
import math

import torch

from ebtheory.constants.predict import EstimateConfig, estimate_constants
from ebtheory.data.preprocess import flatten_unit_sphere, one_hot
from ebtheory.data.selection import training_subset

DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10", "synthetic")
CURVES = ("curve_t", "curve_measured_L0", "curve_markov_L0", "curve_lemma_a_measured", "V_t", "drift_t")


def _eta_argument(text: str) -> float | None:
    if text == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number or 'auto'; got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number or 'auto'; got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", choices=DATASETS, default="digits", help="dataset (default digits, bundled)")
    parser.add_argument("--data-dir", default=None, help="folder of mnist/cifar10/fashion-mnist files")
    parser.add_argument("--m", type=int, default=500, help="training examples, a nested seeded subset (default 500)")
    parser.add_argument("--width", type=int, default=512, help="hidden width N (default 512)")
    parser.add_argument("--steps", type=int, default=300, help="GD iterations T (default 300)")
    parser.add_argument(
        "--eta",
        type=_eta_argument,
        default=None,
        help="GD step size on the sum loss, or 'auto' = 1/lambda_max(full empirical NTK Gram at t=0), "
        "half the stability limit 2/lambda_max (default auto)",
    )
    parser.add_argument("--k", type=int, default=256, help="GFS steps = pruned width, repeats counted (default 256)")
    parser.add_argument("--delta", type=float, default=0.1, help="failure probability in (0, 1) (default 0.1)")
    parser.add_argument("--kappa", type=float, default=1.0, help="init scale w_r(0) ~ N(0, kappa^2 I) (default 1)")
    parser.add_argument("--eps", type=float, default=0.5, help="Lemma A's eps in (0, 1) (default 0.5)")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the subset and the net; the split is fixed, as in `ebtheory run` (default 0)",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:<i> or auto (default cpu)")
    parser.add_argument("--curves", action="store_true", help="with --json: also the bound curves over t, V_t, drift")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _load(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """The training subset the harness draws for (m, seed) (ebtheory.data.selection.training_subset,
    class-balanced), on the unit sphere, with one-hot targets."""
    if isinstance(args.m, bool) or not isinstance(args.m, int) or args.m < 3:
        raise ValueError(f"m must be an integer in [3, training examples of {args.data}]; got m={args.m}")
    subset = training_subset(args.data, args.data_dir, args.m, args.seed, balanced=True)
    return flatten_unit_sphere(subset.X), one_hot(subset.y, subset.num_classes)


def _table(result: dict) -> str:
    rows = [
        ("m, C, N, k", f"{result['m']}, {result['C']}, {result['width']}, {result['k']}"),
        ("lambda0 = lambda_min(H_inf)", f"{result['lambda0']:.6g}  ({result['spectrum']['method']})"),
        ("lambda_max(H_inf)", f"{result['lambda_max']:.6g}"),
        (
            "empirical NTK lambda_max / lambda_min t=0 / t=T",
            f"{result['ntk_lambda_max']:.6g} / {result['ntk_lambda_min_init']:.6g} / {result['ntk_lambda_min_final']:.6g}",
        ),
        ("eta" + (" (auto)" if result["eta_auto"] else ""), f"{result['eta']:.6g}"),
        ("L(0) measured / Markov bound", f"{result['L0']:.6g} / {result['L0_bound']:.6g}"),
        ("L(T), empty-selection loss 1/2||Y||^2", f"{result['L_final']:.6g}, {result['empty_loss']:.6g}"),
        ("V_bar = max_t V_t", f"{result['V']:.6g}"),
        (
            "rate fitted [CI] / theory 1-eta*lambda0/2",
            f"{result['rate']:.6g} [{result['rate_ci'][0]:.6g}, {result['rate_ci'][1]:.6g}] / {result['rate_theory']:.6g}",
        ),
        (
            "drift max ||w_r(t)-w_r(0)|| / Du drift bound / lazy radius R",
            f"{result['drift']:.6g} / {result['drift_bound']:.6g} / {result['lazy_radius']:.6g}",
        ),
        ("t* exact / upper (measured L0)", f"{result['t_star']:.6g} / {result['t_star_upper']:.6g}"),
        ("t* exact / upper (Markov L0 bound)", f"{result['t_star_markov']:.6g} / {result['t_star_upper_markov']:.6g}"),
        ("bound past t* (2 tol)", f"{result['bound_after_threshold']:.6g}  vacuous={result['vacuous']}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    lines.append("conditions (unknown constants taken as 1):")
    for item in result["conditions"]:
        verdict = "holds" if item["holds"] else "DOES NOT HOLD"
        lines.append(f"  {item['name']:<20} {item['value']:.6g} {item['relation']} {item['reference']:.6g}  {verdict}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    config = EstimateConfig(
        width=args.width,
        steps=args.steps,
        eta=args.eta,
        k=args.k,
        delta=args.delta,
        kappa=args.kappa,
        eps=args.eps,
        seed=args.seed,
        device=args.device,
    )
    X, Y = _load(args)
    result = estimate_constants(X, Y, config).to_dict()
    if args.json:
        shown = result if args.curves else {key: value for key, value in result.items() if key not in CURVES}
        print(json.dumps(shown, indent=2))
    else:
        print(_table(result))
    return 0
