"""`ebtheory bound`: the pre-training threshold t* and the pruned-loss bound from constants."""

from __future__ import annotations

import argparse
import json

from ebtheory import symbolic


def _eps_argument(text: str) -> float | str:
    if text == "best":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1) or 'best'; got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    required = parser.add_argument_group("constants (required)")
    required.add_argument("--m", type=int, required=True, help="number of training examples (positive integer)")
    required.add_argument("--k", type=int, required=True, help="greedy steps = pruned width, repeats counted")
    required.add_argument("--eta", type=float, required=True, help="GD step size; 0 < eta*lambda0 < 2")
    required.add_argument("--lambda0", type=float, required=True, help="smallest eigenvalue of H_inf (> 0)")
    required.add_argument("--delta", type=float, required=True, help="failure probability in (0, 1)")
    required.add_argument("--V", type=float, required=True, help="atom spread bound V_bar (> 0), in the --loss units")
    parser.add_argument("--C", type=int, default=1, help="outputs per example (default 1)")
    parser.add_argument("--kappa", type=float, default=1.0, help="init scale, w_r(0) ~ N(0, kappa^2 I) (default 1)")
    parser.add_argument(
        "--eps",
        type=_eps_argument,
        default=0.5,
        help="Lemma A's Young parameter in (0, 1), or 'best' to minimise the bound at --t (default 0.5)",
    )
    parser.add_argument("--y-norm2", type=float, default=None, help="||Y||_F^2 (default m: one-hot or unit labels)")
    parser.add_argument(
        "--loss",
        choices=("sum", "mean"),
        default="sum",
        help="sum loss 1/2||u-Y||^2, or per-example (sum/m; then --V is per-example too)",
    )
    parser.add_argument("--t", type=float, default=None, help="also print the pruned-loss bound after t iterations")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--latex", action="store_true", help="also print LaTeX for every expression")


def run(args: argparse.Namespace) -> int:
    inputs = symbolic.BoundInputs(
        m=args.m,
        k=args.k,
        eta=args.eta,
        lambda0=args.lambda0,
        delta=args.delta,
        V=args.V,
        C=args.C,
        kappa=args.kappa,
        eps=args.eps,
        y_norm2=args.y_norm2,
        loss=args.loss,
    )
    values: dict[str, object] = dict(symbolic.evaluate_bound(inputs, t=args.t).to_dict())
    if args.t is None:
        del values["pruned_loss_bound"], values["t"]
    latex = {name: symbolic.to_latex(expr) for name, expr in symbolic.all_expressions().items()}
    if args.json:
        if args.latex:
            values["latex"] = latex
        print(json.dumps(values, indent=2))
        return 0
    units = "per-example" if args.loss == "mean" else "sum"
    print(f"pre-training threshold ({units} loss, t in GD iterations)")
    rows = [
        ("t_star", "t* = ln(c1 L0/tol) / ln(1/(1 - eta lambda0/2))"),
        ("t_star_upper", "upper form (2/(eta lambda0)) ln(c1 L0/tol)"),
        ("c1", "c1(k) = 1/(eps(2-eps)) + 1/((1-eps)k)"),
        ("L0_bound", "L0 bound (||Y||^2 + m C kappa^2/2)/(2 delta)"),
        ("tol", "tol = V/(2(1-eps)k)"),
        ("eps", "eps"),
        ("success_probability", "holds with probability >= 1 - 2 delta (union bound)"),
        ("pruned_loss_bound", f"pruned-loss bound L(S_k; t={args.t:g})" if args.t is not None else ""),
    ]
    for key, label in rows:
        if key in values:
            print(f"  {label:<52} {values[key]:.6g}")
    if args.latex:
        print("\nLaTeX:")
        for name, text in latex.items():
            print(f"  {name}: {text}")
    return 0
