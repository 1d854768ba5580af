"""``adderflow`` command line. Errors a user can fix print one line and exit with 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adderflow.errors import AdderflowError

EXIT_USAGE = 2
EXIT_MISMATCH = 1


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML file overriding the defaults")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set student.epochs=10 (repeatable)",
    )
    p.add_argument("--bits", type=int, help="quantization bit width (2-16, default 8)")
    p.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    p.add_argument("--out", type=Path, help="run directory (default runs/<timestamp>)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adderflow",
        description="Multiplication-free networks from PyTorch to FPGA, proven bit-exact.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="train, distill, quantize, export, verify, report")
    _add_config_args(run)
    train = sub.add_parser("train", help="train the CNN teacher and distill the adder student")
    _add_config_args(train)
    sub.add_parser(
        "energy",
        help="op and energy counts of any ONNX/QONNX model next to its CNN twin "
        "(adderflow energy MODEL.onnx --help)",
        add_help=False,
    )
    for name, text in (
        ("export", "quantize a trained run and write its QONNX model"),
        ("verify", "compare backends layer by layer on a run's test split"),
        ("report", "write report.md and report.html for a run"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("run_dir", type=Path, help="a run directory made by `adderflow run`")
    return parser


def _resolve_config(args: argparse.Namespace):
    from adderflow.config import load_config

    overrides = list(args.overrides)
    if args.bits is not None:
        overrides.append(f"quant.bits={args.bits}")
    return load_config(args.config, overrides, quick=args.quick)


def _new_run(args: argparse.Namespace, flow: str) -> int:
    from adderflow import pipeline

    cfg = _resolve_config(args)
    if args.out is None:
        out = pipeline.default_out_dir()
    else:
        out = args.out
        if (out / "config.yaml").exists() and not (
            args.config or args.overrides or args.bits or args.quick
        ):
            cfg = pipeline.reopen_run(out).cfg  # plain resume: keep the run's own config
    run = pipeline.open_run(out, cfg)
    if args.out is None or out.parent.name == "runs":
        pipeline.link_latest(out)
    run.log(f"[adderflow] {flow} → {out}")
    metrics = pipeline.execute(run, flow)
    if flow == "run":
        _print_summary(metrics)
    return 0


def _print_summary(metrics: dict) -> None:
    accuracies = "  ".join(
        f"{role} {metrics[role]['accuracy']:.4f}" for role in ("teacher", "student", "quantized")
    )
    equivalence = "  ".join(
        f"{k}: {v['mismatches']}/{v['samples']} mismatches"
        for k, v in metrics.get("equivalence", {}).items()
    )
    print(f"{accuracies}  {equivalence}")


def _verify(run_dir: Path) -> int:
    from adderflow import pipeline
    from adderflow.sim.compare import format_table

    run = pipeline.reopen_run(run_dir)
    results = pipeline.verify_run(run)
    for name, comparison in results.items():
        print(f"\n== reference vs {name} ==")
        print(format_table(comparison))
    return EXIT_MISMATCH if any(c.first is not None for c in results.values()) else 0


def _existing_run(run_dir: Path, flow: str) -> int:
    from adderflow import pipeline

    pipeline.execute(pipeline.reopen_run(run_dir), flow)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["energy"]:
        from adderflow.sim.cost import main as energy_main  # torch-free, its own options

        return energy_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.command in ("run", "train"):
            return _new_run(args, args.command)
        if args.command == "verify":
            return _verify(args.run_dir)
        return _existing_run(args.run_dir, args.command)
    except AdderflowError as exc:
        print(f"adderflow: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("adderflow: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
