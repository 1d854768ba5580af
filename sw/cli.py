"""``adderflow`` command line. Errors a user can fix print one line and exit with 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adderflow.config import (
    DISTILL_METHODS,
    HLS_IO_TYPES,
    QUANT_MODES,
    RTL_SIMULATORS,
    SYNTH_TARGETS,
)
from adderflow.errors import AdderflowError, ConfigError, require_creatable
from adderflow.hw.network import WINDOWS
from adderflow.pipeline import FLOWS
from adderflow.progress import run_summary
from adderflow.threads import openmp_waits

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
        help="override one config key, e.g. --set student.epochs=10 (repeatable); "
        "--set model.arch=module:MODULE:FACTORY trains your own network, e.g. "
        "module:my_cnn:make_model for make_model in ./my_cnn.py (docs/your-model.md)",
    )
    p.add_argument("--bits", type=int, help="quantization bit width (2-16, default 8)")
    p.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    p.add_argument("--out", type=Path, help="run directory (default runs/<timestamp>)")
    p.add_argument(
        "--threads", type=int, help="torch training threads (config key threads; 0: auto)"
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("adderflow")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adderflow",
        description="Multiplication-free networks from PyTorch to FPGA, proven bit-exact.",
    )
    parser.add_argument("--version", action="version", version=f"adderflow {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run_parser(sub)
    train = sub.add_parser("train", help="train the CNN teacher and distill the adder student")
    _add_config_args(train)
    distill = sub.add_parser(
        "distill",
        help="train a teacher and distill a student with one method (train with --method)",
    )
    _add_config_args(distill)
    distill.add_argument(
        "--method",
        choices=DISTILL_METHODS,
        help="none (plain), kd (Hinton), pkkd, ngd or dgrl (binary student); default: the "
        "config's distill.method (a recipe's, e.g. --config recipes/cifar10_resnet20_pkkd.yaml)",
    )
    sub.add_parser(
        "energy",
        help="op and energy counts of any ONNX/QONNX model next to its CNN twin "
        "(adderflow energy MODEL.onnx --help)",
        add_help=False,
    )
    _add_import_parser(sub)
    _add_quantize_parser(sub)
    _add_run_dir_parsers(sub)
    _add_synth_parser(sub)
    _add_hls_parser(sub)
    return parser


def _add_run_parser(sub) -> None:
    run = sub.add_parser(
        "run",
        help="train, distill, quantize, export, verify, rtl, hls, synth, report",
        description="The main job, stage by stage: " + " → ".join(FLOWS["run"]) + ". Run "
        "again with the same --out, it skips the stages that finished (stages.json) and "
        "resumes the first that did not.",
    )
    _add_config_args(run)
    run.add_argument(
        "--from",
        dest="first",
        metavar="STAGE",
        help="start at STAGE, running it again even if it finished; every earlier stage must "
        "have finished in --out (one of: " + ", ".join(FLOWS["run"]) + ")",
    )
    run.add_argument(
        "--to", dest="last", metavar="STAGE", help="stop after STAGE (same names as --from)"
    )
    run.add_argument(
        "--rtl-full",
        action="store_true",
        help="simulate the RTL on the whole test split (rtl.samples=0, the default)",
    )
    run.add_argument(
        "--hls-full",
        action="store_true",
        help="C-simulate the hls4ml model on the whole test split (default: hls.samples images)",
    )


def _add_run_dir_parsers(sub) -> None:
    """export, verify, rtl, report: commands on one existing run directory."""
    for name, text in (
        ("export", "quantize a trained run and write its QONNX model"),
        ("verify", "compare backends layer by layer on a run's test split"),
        ("rtl", "generate the run's Verilog network (RUN/rtl) with its cycle model"),
        ("report", "write report.md and report.html for a run"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("run_dir", type=Path, help="a run directory made by `adderflow run`")
        if name == "verify":
            _add_verify_args(p)
        if name == "rtl":
            p.add_argument(
                "--target-cycles",
                type=int,
                help="cycles per image the slowest layer may take (default: rtl.target_cycles, "
                "0 = match the first layer's best rate)",
            )
            p.add_argument(
                "--target-fps",
                type=float,
                help="images per second instead: the folding with the least estimated LUTs "
                "(hw/area_estimate.py) whose slowest layer allows it at synth.clock_mhz, or the "
                "synth.target board's clock when that is 0 (ULX3S: 25 MHz)",
            )
            p.add_argument(
                "--window",
                choices=WINDOWS,
                default="frame",
                help="frame: af_window frame buffers (default); line: af_linewin line buffers "
                "for the layers without a pool before them",
            )


def _add_quantize_parser(sub) -> None:
    p = sub.add_parser(
        "quantize",
        help="quantize a trained run again (PTQ or a brevitas QAT fine-tune) into a new run",
    )
    p.add_argument("run_dir", type=Path, help="a run directory with a trained student")
    p.add_argument("--mode", choices=QUANT_MODES, default="qat", help="default: qat")
    p.add_argument("--bits", type=int, help="activation (and adder weight) bits, 2-16")
    p.add_argument("--weight-bits", type=int, help="multiplication layers' weight bits")
    p.add_argument("--epochs", type=int, help="QAT fine-tune epochs (default quant.qat_epochs)")
    p.add_argument(
        "--out",
        type=Path,
        help="the new run directory (default RUN/quantized/<mode>-<bits>b)",
    )
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="any other quant.*/verify.* setting",
    )  # fmt: skip


def _quantize(args: argparse.Namespace) -> int:
    from adderflow import pipeline, runs

    overrides = [f"quant.mode={args.mode}", *args.overrides]
    for key, value in (
        ("bits", args.bits), ("weight_bits", args.weight_bits), ("qat_epochs", args.epochs)
    ):  # fmt: skip
        if value is not None:
            overrides.append(f"quant.{key}={value}")
    source = runs.reopen_run(args.run_dir)
    bits = args.bits if args.bits is not None else source.cfg.quant.bits
    out = args.out or source.paths.derived_run(args.mode, bits)
    run = runs.derive_run(source.out, out, overrides)
    run.log(f"[adderflow] quantize {source.out} → {run.out}")
    _print_summary(pipeline.execute(run, "quantize"))
    return 0


def _add_hls_parser(sub) -> None:
    p = sub.add_parser(
        "hls", help="write the run's hls4ml project, compile and C-simulate it (RUN/hls4ml)"
    )
    p.add_argument("run_dir", type=Path, help="a run directory made by `adderflow run`")
    p.add_argument(
        "--io-type",
        choices=(*HLS_IO_TYPES, "both"),
        help="hls4ml io type(s) (default: the run's hls.io_types)",
    )
    p.add_argument(
        "--samples", type=int, help="test images to C-simulate (default hls.samples; 0: all)"
    )
    p.add_argument("--full", action="store_true", help="C-simulate the whole test split")
    p.add_argument(
        "--reuse-factor", type=int, help="hls4ml reuse factor (default: hls.reuse_factor)"
    )


def _add_synth_parser(sub) -> None:
    p = sub.add_parser(
        "synth", help="synthesize the run's network into an FPGA bitstream (yosys, nextpnr)"
    )
    p.add_argument("run_dir", type=Path, help="a run directory made by `adderflow run`")
    p.add_argument(
        "--target", choices=SYNTH_TARGETS, help="device and board (default: synth.target)"
    )
    p.add_argument(
        "--clock-mhz",
        type=float,
        help="timing target for place and route (default: synth.clock_mhz; 0 = the board clock)",
    )
    p.add_argument(
        "--target-cycles",
        type=int,
        help="folding for synthesis as in `adderflow rtl` (default: synth.target_cycles; "
        "0 = the run's RTL design)",
    )
    p.add_argument(
        "--vivado",
        metavar="PART",
        nargs="?",
        const="xc7a100tcsg324-1",
        help="instead, write a Vivado out-of-context batch project (RUN/vivado) for PART "
        "(default xc7a100tcsg324-1); Vivado is not run",
    )


def _add_verify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=("software", "rtl", "all"),
        default="software",
        help="software: PyTorch, qonnx and onnxruntime; rtl: the generated Verilog; all: both",
    )
    p.add_argument(
        "--simulator",
        choices=(*RTL_SIMULATORS, "both"),
        help="RTL simulator(s) (default: the run's rtl.simulators)",
    )
    p.add_argument(
        "--samples", type=int, help="RTL: test images to simulate (default rtl.samples; 0: all)"
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="the whole test split: every image through qonnx and onnxruntime "
        "(default verify.backend_samples) and, for RTL, through the simulator",
    )


def _resolve_config(args: argparse.Namespace):
    from adderflow.config import load_config

    overrides = list(args.overrides)
    if getattr(args, "method", None):
        overrides.append(f"distill.method={args.method}")
    if getattr(args, "rtl_full", False):
        overrides.append("rtl.samples=0")
    if getattr(args, "hls_full", False):
        overrides.append("hls.samples=0")
    if args.bits is not None:
        overrides.append(f"quant.bits={args.bits}")
    if args.threads is not None:
        overrides.append(f"threads={args.threads}")
    return load_config(args.config, overrides, quick=args.quick)


def _new_run(args: argparse.Namespace, flow: str) -> int:
    from adderflow import pipeline, rundir, runs
    from adderflow.distributed import env_world_size, is_main
    from adderflow.run_paths import RunPaths

    first, last = getattr(args, "first", None), getattr(args, "last", None)
    pipeline.check_slice(flow, first, last)
    if first is not None and args.out is None:
        raise ConfigError("--from needs --out: the run whose earlier stages have finished")
    cfg = _resolve_config(args)
    if args.out is None and env_world_size() > 1:
        raise ConfigError("under torchrun pass --out: every process must open the same run")
    unique = args.out is None
    out = runs.default_out_dir() if unique else rundir.absolute(args.out)
    if not unique and RunPaths(out).config.is_file() and not _changes_config(args):
        cfg = runs.reopen_run(out).cfg  # plain resume: keep the run's own config
    run = runs.open_run(out, cfg, unique)
    if unique or run.out.parent.name == "runs":
        runs.link_latest(run.out)
    run.log(f"[adderflow] {flow} → {run.out}")
    try:
        metrics = pipeline.execute(run, flow, first, last, skip_finished=True)
    except AdderflowError:
        runs.discard_if_empty(run)
        raise
    if flow == "run" and is_main():
        _print_summary(metrics)
        print(run_summary(metrics, run.out))
    return 0


def _changes_config(args: argparse.Namespace) -> bool:
    return bool(
        args.config
        or args.overrides
        or args.bits
        or args.threads is not None
        or args.quick
        or getattr(args, "rtl_full", False)
        or getattr(args, "method", None)
        or getattr(args, "hls_full", False)
    )


def _print_summary(metrics: dict) -> None:
    accuracies = "  ".join(
        f"{role} {metrics[role]['accuracy']:.4f}"
        for role in ("teacher", "student", "quantized")
        if role in metrics
    )
    equivalence = "  ".join(
        f"{k}: {v['mismatches']}/{v['samples']} mismatches"
        for k, v in metrics.get("equivalence", {}).items()
    )
    print(f"{accuracies}  {equivalence}")


def _verify(args: argparse.Namespace) -> int:
    from adderflow.runs import reopen_run
    from adderflow.sim.compare import format_table
    from adderflow.verify_flow import verify_run

    run = reopen_run(args.run_dir)
    if args.full:  # this check only: config.yaml keeps the run's own setting
        run.cfg.verify.backend_samples = 0
    results = {}
    if args.backend in ("software", "all"):
        results.update(verify_run(run))
    if args.backend in ("rtl", "all"):
        results.update(_verify_rtl(run, args))
    for name, comparison in results.items():
        print(f"\n== reference vs {name} ==")
        print(format_table(comparison))
    return EXIT_MISMATCH if any(c.first is not None for c in results.values()) else 0


def _verify_rtl(run, args: argparse.Namespace) -> dict:
    from adderflow.config import rtl_simulators
    from adderflow.rtl_flow import verify_rtl

    if args.simulator is None:
        simulators = rtl_simulators(run.cfg)
    else:
        simulators = list(RTL_SIMULATORS) if args.simulator == "both" else [args.simulator]
    samples = 0 if args.full else args.samples
    if samples is not None and samples < 0:
        raise ConfigError(f"--samples must not be negative, got {samples}")
    results = verify_rtl(run, simulators, samples)
    for simulator, timing in run.metrics()["rtl"]["simulation"].items():
        if simulator in simulators:
            print(
                f"[rtl] {simulator}: {timing['images']} images, cycles per image measured "
                f"{timing['cycles_measured']} = model {timing['cycles_model']}, "
                f"{timing['cycles_per_second']} cycles/s"
            )
    return results


def _rtl(args: argparse.Namespace) -> int:
    from adderflow.rtl_flow import generate_design
    from adderflow.runs import reopen_run

    if args.target_cycles is not None and args.target_cycles < 1:
        raise ConfigError(f"--target-cycles must be positive, got {args.target_cycles}")
    if args.target_fps is not None and not args.target_fps > 0:
        raise ConfigError(f"--target-fps must be positive, got {args.target_fps:g}")
    if args.target_fps and args.target_cycles is not None:
        raise ConfigError("give --target-cycles or --target-fps, not both")
    design = generate_design(
        reopen_run(args.run_dir), args.target_cycles, args.window, args.target_fps or 0.0
    )
    print(
        f"{'layer':<20} {'mode':<6} {'PE':>4} {'SIMD':>5} {'MVU cycles':>11} {'window':>7} "
        f"{'codes':>7}"
    )
    for layer in design.layers:
        print(
            f"{layer['name']:<20} {layer['mode']:<6} {layer['pe']:>4} {layer['simd']:>5} "
            f"{layer['mvu_cycles']:>11} {layer['window']:>7} {layer['buffer_codes']:>7}"
        )
    for stage in design.stages:
        if stage["kind"] == "fifo":
            print(stage["why"])
    print(f"{design.cycles} cycles per image (cycle model); files in {design.directory}")
    if args.target_fps:
        _print_fps_choice(args.run_dir)
    return 0


def _print_fps_choice(run_dir: Path) -> None:
    from adderflow.runs import reopen_run

    chosen = reopen_run(run_dir).metrics()["rtl"]["design"]["target_fps"]
    est = chosen["estimate"]
    print(
        f"target {chosen['fps']:g} images/s at {chosen['clock_mhz']:g} MHz: interval at most "
        f"{chosen['max_interval']} cycles; chosen: bound {chosen['interval_bound']}, "
        f"handshake model {chosen['interval_stepped'] or 'not stepped'} cycles between images "
        f"= {chosen['images_per_second']:g} images/s, estimated {est['luts']} LUT sites, "
        f"{est['ffs']} FF, {est['brams']} BRAM, {est['dsps']} DSP, {est['lutram']} LUT RAM "
        "(least estimated LUTs)"
    )


def _synth(args: argparse.Namespace) -> int:
    from adderflow import synth_flow
    from adderflow.runs import reopen_run

    if args.clock_mhz is not None and args.clock_mhz < 0:
        raise ConfigError(f"--clock-mhz must not be negative, got {args.clock_mhz:g}")
    if args.target_cycles is not None and args.target_cycles < 0:
        raise ConfigError(f"--target-cycles must not be negative, got {args.target_cycles}")
    run = reopen_run(args.run_dir)
    if args.vivado is not None:
        clock = args.clock_mhz or 100.0
        tcl = synth_flow.vivado_project(run, args.vivado, clock, args.target_cycles)
        print(f"wrote {tcl}; run it with: vivado -mode batch -source {tcl}")
        return 0
    fpga = synth_flow.synthesize_run(run, args.target, args.clock_mhz, args.target_cycles)
    verdict = "met" if fpga["timing_met"] else "NOT MET"
    print(
        f"{fpga['device']}: {fpga['luts']} LUTs ({fpga['carry']} carry), {fpga['ffs']} FFs, "
        f"{fpga['brams']} BRAM, {fpga['dsps']} DSP; timing {verdict}: Fmax "
        f"{fpga['fmax_mhz']} MHz for {fpga['target_mhz']:g} MHz; {run.out / fpga['bitstream']}"
    )
    return 0 if fpga["timing_met"] else EXIT_MISMATCH


def _hls(args: argparse.Namespace) -> int:
    from adderflow.hls_flow import verify_hls
    from adderflow.runs import reopen_run
    from adderflow.sim.compare import format_table

    run = reopen_run(args.run_dir)
    if args.reuse_factor is not None:
        if args.reuse_factor < 1:
            raise ConfigError(f"--reuse-factor must be at least 1, got {args.reuse_factor}")
        run.cfg.hls.reuse_factor = args.reuse_factor
    samples = 0 if args.full else args.samples
    if samples is not None and samples < 0:
        raise ConfigError(f"--samples must not be negative, got {samples}")
    io_types = None
    if args.io_type is not None:
        io_types = list(HLS_IO_TYPES) if args.io_type == "both" else [args.io_type]
    results = verify_hls(run, io_types, samples)
    for name, comparison in results.items():
        print(f"\n== reference vs {name} ==")
        print(format_table(comparison))
    return EXIT_MISMATCH if any(c.first is not None for c in results.values()) else 0


def _add_import_parser(sub) -> None:
    p = sub.add_parser(
        "import",
        help="read a QONNX/ONNX model made elsewhere: its layers, which can take the adder "
        "path, and their cost",
    )
    p.add_argument("model", type=Path, help="ONNX or QONNX model file (brevitas, torch.onnx, ...)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the report as JSON")
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse (exit 2) a quantized layer the hardware path cannot take: bit width "
        "outside 2-16 or a scale that is not a power of two",
    )
    p.add_argument(
        "--keep-first",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep the first layer a multiplication layer (default: yes)",
    )
    p.add_argument(
        "--keep-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep the last layer a multiplication layer (default: yes)",
    )
    p.add_argument("--table", type=Path, help="YAML energy table (default: 45 nm, Horowitz)")
    p.add_argument(
        "--to-run",
        type=Path,
        metavar="DIR",
        help="turn the model (brevitas QONNX or ONNX QDQ, power-of-two scales) into a new run "
        "directory that verify, rtl, hls, synth and report accept; exact, or refused by name",
    )
    p.add_argument(
        "--data",
        metavar="NAME",
        help="--to-run: check the run on this dataset's test split (default: seeded random "
        "inputs over the input quantizer's range, written to DIR/inputs.npz)",
    )
    p.add_argument("--data-root", metavar="PATH", help="--to-run: the dataset's files")
    p.add_argument("--samples", type=int, help="--to-run: random inputs (default 256)")
    p.add_argument("--seed", type=int, help="--to-run: their seed (default 0)")
    p.add_argument(
        "--swap-to-adder",
        action="store_true",
        help="refused with the reason: swapping layers to adder layers needs training",
    )


def _import(args: argparse.Namespace) -> int:
    from adderflow.export.importer import import_model, write_json
    from adderflow.sim.energy import load_energy_table

    if args.swap_to_adder:
        from adderflow.export.import_network import SWAP_NEEDS_TRAINING

        raise ConfigError(f"--swap-to-adder: {SWAP_NEEDS_TRAINING}")
    if args.to_run is not None:
        return _import_to_run(args)
    given = [f"--{k.replace('_', '-')}" for k in ("data", "data_root", "samples", "seed")
             if getattr(args, k) is not None]  # fmt: skip
    if given:
        raise ConfigError(f"{', '.join(given)} only apply with --to-run DIR")
    if args.json is not None:
        _check_output_file(args.json, "--json")

    report = import_model(
        args.model,
        keep_first=args.keep_first,
        keep_last=args.keep_last,
        strict=args.strict,
        table=load_energy_table(args.table),
    )
    print(report.format_table())
    if args.json is not None:
        print(f"wrote {write_json(args.json, report)}")
    return 0


def _import_to_run(args: argparse.Namespace) -> int:
    from adderflow.import_flow import DEFAULT_SAMPLES, import_to_run

    out = import_to_run(
        args.model,
        args.to_run,
        data=args.data,
        data_root=args.data_root,
        samples=DEFAULT_SAMPLES if args.samples is None else args.samples,
        seed=args.seed or 0,
    )
    print(f"next: adderflow verify {out}; adderflow rtl {out}; adderflow report {out}")
    return 0


def _check_output_file(path: Path, what: str) -> None:
    """Refuse an output path that cannot become a file, before any work is done."""
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a directory; name the file to write")
    require_creatable(path, what)


def _existing_run(run_dir: Path, flow: str) -> int:
    from adderflow import pipeline
    from adderflow.runs import reopen_run

    pipeline.execute(reopen_run(run_dir), flow)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    openmp_waits()  # before anything imports torch
    if argv[:1] == ["energy"]:
        from adderflow.export.importer import costing_model  # torch-free
        from adderflow.sim.cost import main as energy_main  # its own options

        return energy_main(argv[1:], load=costing_model)
    args = _parser().parse_args(argv)
    from adderflow import rundir

    try:
        if args.command in ("run", "train"):
            return _new_run(args, args.command)
        if args.command == "distill":
            return _new_run(args, "train")
        if args.command == "verify":
            return _verify(args)
        if args.command == "rtl":
            return _rtl(args)
        if args.command == "synth":
            return _synth(args)
        if args.command == "hls":
            return _hls(args)
        if args.command == "import":
            return _import(args)
        if args.command == "quantize":
            return _quantize(args)
        return _existing_run(args.run_dir, args.command)
    except AdderflowError as exc:
        print(f"adderflow: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a read-only or full run directory, a path through a file
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"adderflow: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("adderflow: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        rundir.release_all()


if __name__ == "__main__":
    sys.exit(main())
