"""Area of adder against multiply-accumulate hardware on ECP5, measured with yosys.

    python bench/area.py [--rows pe,array,network] [--run RUN_DIR] [--json OUT.json]
                         [--record] [--measured IN.json]

Synthesizes (yosys ``synth_ecp5``, no place and route) three sizes of the same RTL in
``adder`` mode and in ``mac`` mode, the multiplier twin, with DSP blocks allowed and with
``-nodsp`` (multipliers built from LUTs):

* ``pe``: one ``af_pe``, 8-bit, one lane, 144-term dot products (a 3x3x16 convolution);
* ``array``: one ``af_mvu`` with PE = 16, SIMD = 16 (256 lanes, 8-bit, K = 144, 16 outputs,
  seeded random weights in its ROM);
* ``network``: the run's ``af_network`` at its default folding, and its twin with every
  accumulating layer a multiply-accumulate (same folding, memory files and requantizers).

Prints one table: LUT4, CCU2C (a 2-bit carry cell that fills two LUT4 sites), LUT sites
(LUT4 + 2·CCU2C), FF, DSP, BRAM, LUT RAM, and mac/adder ratios of LUT4 and of LUT sites;
then a second one: the fast resource estimate (``adderflow.hw.area_estimate``, no synthesis)
of every row against yosys' counts, with its error. ``--measured`` reprints both tables
from an earlier ``--json`` dump without synthesizing (e.g. after ``--calibrate``).
``--record`` writes the network's adder and LUT-only mac counts into the run's
``metrics.json`` (``fpga.adder`` / ``fpga.mac``), which the report renders.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from adderflow.hw.area_estimate import Estimate, design_estimate, mvu_estimate, pe_estimate
from adderflow.hw.network import NETWORK_SOURCES, generate
from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Accumulating
from adderflow.hw.rtlgen import MVU_SOURCES, MvuConfig, rtl_sources
from adderflow.hw.synth import Utilization, synth_stats

PE_PARAMS = {"BITS": 8, "SIMD": 1, "K": 144}
ARRAY = {"bits": 8, "k": 144, "out": 16, "pe": 16, "simd": 16}
# (mode, DSP blocks allowed); an adder PE or array has no multiplier, so -nodsp is moot.
UNIT_VARIANTS = (("adder", True), ("mac", True), ("mac", False))
NETWORK_VARIANTS = (("adder", True), ("adder", False), ("mac", True), ("mac", False))


def quiet(_: str) -> None:
    """synth_stats' per-tool lines are noise here; the bench prints its own."""


def timed(label: str, job) -> Utilization:
    start = time.perf_counter()
    print(f"[area] {label} ...", flush=True)
    result = job()
    print(f"[area] {label}: {time.perf_counter() - start:.0f} s", flush=True)
    return result


def pe_rows() -> dict[str, Utilization]:
    sources = rtl_sources(["af_pe.v"])
    return {
        variant(mode, dsp): timed(
            f"pe {variant(mode, dsp)}",
            lambda m=mode, d=dsp: synth_stats(
                sources, "af_pe", "ecp5", {"MODE": m, **PE_PARAMS}, not d, log=quiet
            ),
        )
        for mode, dsp in UNIT_VARIANTS
    }


def array_rows(work: Path) -> dict[str, Utilization]:
    rng = np.random.default_rng(0)
    weights = rng.integers(-128, 128, (ARRAY["out"], ARRAY["k"]))
    rows = {}
    for mode, dsp in UNIT_VARIANTS:
        cfg = MvuConfig(mode, ARRAY["bits"], ARRAY["k"], ARRAY["out"], ARRAY["pe"], ARRAY["simd"])
        hexfile = cfg.write_weights(work / "weights.hex", weights)
        rows[variant(mode, dsp)] = timed(
            f"array {variant(mode, dsp)}",
            lambda c=cfg, d=dsp, h=hexfile: synth_stats(
                rtl_sources(MVU_SOURCES), "af_mvu", "ecp5", c.parameters(), not d, [h], quiet
            ),
        )
    return rows


def pe_estimates() -> dict[str, Estimate]:
    bits, simd, k = PE_PARAMS["BITS"], PE_PARAMS["SIMD"], PE_PARAMS["K"]
    return {variant(m, d): pe_estimate(m, bits, simd, k, d) for m, d in UNIT_VARIANTS}


def array_estimates() -> dict[str, Estimate]:
    rows = {}
    for mode, dsp in UNIT_VARIANTS:
        c = MvuConfig(mode, ARRAY["bits"], ARRAY["k"], ARRAY["out"], ARRAY["pe"], ARRAY["simd"])
        rows[variant(mode, dsp)] = mvu_estimate(mode, c.bits, c.k, c.out, c.pe, c.simd,
                                                c.acc_bits, dsp)  # fmt: skip
    return rows


def network_estimates(run: Path, work: Path) -> dict[str, Estimate]:
    model = onnx.load(str(run / "model.qonnx.onnx"))
    rows = {}
    for mode, dsp in NETWORK_VARIANTS:
        design = generate(model if mode == "adder" else twin(model), work / f"est_{mode}")
        rows[variant(mode, dsp)] = design_estimate(design, dsp)[0]
    return rows


def twin(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same network with every adder layer a multiply-accumulate (area only)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    twins = twin_ops()
    for node in copy.graph.node:
        node.op_type = twins.get(node.op_type, node.op_type)
    return copy


def twin_ops() -> dict[str, str]:
    """Each adder op's multiply twin: the op whose RTL mapping is a mac MVU of its shape."""
    layers = {op: m for op in UNITS if isinstance(m := UNITS.get(op), Accumulating)}
    return {
        op: next(o for o, t in layers.items() if t.mode == "mac" and t.conv == m.conv)
        for op, m in layers.items()
        if m.mode == "adder"
    }


def network_rows(run: Path, work: Path) -> dict[str, Utilization]:
    model = onnx.load(str(run / "model.qonnx.onnx"))
    rows = {}
    for mode, dsp in NETWORK_VARIANTS:
        design = generate(model if mode == "adder" else twin(model), work / f"net_{mode}")
        sources = [*rtl_sources(NETWORK_SOURCES), design.directory / "af_network.v"]
        data = sorted(design.directory.glob("*.hex"))
        lanes = sum(layer["pe"] * layer["simd"] for layer in design.layers)
        rows[variant(mode, dsp)] = timed(
            f"network ({lanes} lanes) {variant(mode, dsp)}",
            lambda s=sources, d=dsp, h=data: synth_stats(
                s, "af_network", "ecp5", None, not d, h, quiet
            ),
        )
    return rows


def variant(mode: str, dsp: bool) -> str:
    return f"{mode}" + ("" if dsp else " (LUT-only)")


def sites(u: Utilization) -> int:
    return u.lut_equivalent("ecp5")


def table(results: dict[str, dict[str, Utilization]]) -> str:
    head = "| design | variant | LUT4 | CCU2C | LUT sites | FF | DSP | BRAM | LUT RAM |"
    head += " LUT4 ratio | LUT-site ratio |"
    lines = [head, "|" + "---|" * 11]
    for name, rows in results.items():
        for label, u in rows.items():
            # Like for like: LUT-only rows against the LUT-only adder design when there is one.
            ref = rows.get("adder (LUT-only)", rows["adder"]) if "LUT-only" in label else None
            ref = ref or rows["adder"]
            ratio = f"{u.luts / ref.luts:.2f}×" if ref.luts else "—"
            site_ratio = f"{sites(u) / sites(ref):.2f}×" if sites(ref) else "—"
            lines.append(
                f"| {name} | {label} | {u.luts} | {u.carry} | {sites(u)} | {u.ffs} | {u.dsps} "
                f"| {u.brams} | {u.lutram} | {ratio} | {site_ratio} |"
            )
    return "\n".join(lines)


def error(estimate: float, measured: int) -> str:
    if measured == 0:
        return "0" if round(estimate) == 0 else "—"
    return f"{100.0 * (estimate - measured) / measured:+.1f}%"


def estimate_table(
    results: dict[str, dict[str, Utilization]], estimates: dict[str, dict[str, Estimate]]
) -> str:
    """Estimate against yosys for every row: LUT sites and FF with their error, BRAM, DSP."""
    head = "| design | variant | LUT sites est | LUT sites yosys | LUT error | FF est | FF yosys |"
    head += " FF error | BRAM est / yosys | DSP est / yosys |"
    lines = [head, "|" + "---|" * 10]
    for name, rows in results.items():
        for label, u in rows.items():
            e = estimates[name][label]
            lines.append(
                f"| {name} | {label} | {round(e.luts)} | {sites(u)} | {error(e.luts, sites(u))} "
                f"| {round(e.ffs)} | {u.ffs} | {error(e.ffs, u.ffs)} "
                f"| {round(e.brams)} / {u.brams} | {round(e.dsps)} / {u.dsps} |"
            )
    return "\n".join(lines)


def record(run: Path, rows: dict[str, Utilization]) -> None:
    """The network's adder and LUT-only twin counts into ``fpga.adder`` / ``fpga.mac``."""
    path = run / "metrics.json"
    metrics = json.loads(path.read_text()) if path.is_file() else {}
    fpga = metrics.setdefault("fpga", {})
    for key, label in (("adder", "adder (LUT-only)"), ("mac", "mac (LUT-only)")):
        u = rows[label]
        fpga[key] = {"luts": sites(u), "ffs": u.ffs, "brams": u.brams, "dsps": u.dsps}
    tmp = path.with_name(f".{path.name}.area")
    tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="pe,array,network")
    parser.add_argument("--run", type=Path, help="run directory for the network row")
    parser.add_argument("--json", type=Path, help="also write the counts as JSON")
    parser.add_argument("--record", action="store_true", help="write fpga.adder/mac of --run")
    parser.add_argument(
        "--measured", type=Path, help="counts from an earlier --json instead of synthesizing"
    )
    args = parser.parse_args(argv)
    wanted = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = set(wanted) - {"pe", "array", "network"}
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; valid: pe, array, network")
    if "network" in wanted and args.run is None:
        parser.error("the network row needs --run RUN_DIR (a run with model.qonnx.onnx)")
    measured = json.loads(args.measured.read_text()) if args.measured else None
    if measured is not None:
        missing = [r for r in wanted if r not in measured]
        if missing:
            parser.error(f"{args.measured} has no {', '.join(missing)} rows")
    results: dict[str, dict[str, Utilization]] = {}
    with tempfile.TemporaryDirectory(prefix="af_area_") as tmp:
        work = Path(tmp)
        for row in wanted:
            if measured is not None:
                results[row] = {v: Utilization(**c) for v, c in measured[row].items()}
            elif row == "pe":
                results[row] = pe_rows()
            elif row == "array":
                results[row] = array_rows(work)
            else:
                results[row] = network_rows(args.run, work)
        makers = {
            "pe": pe_estimates,
            "array": array_estimates,
            "network": lambda: network_estimates(args.run, work),
        }
        estimates = {row: makers[row]() for row in wanted}
    print(table(results))
    print()
    print("Fast estimate (adderflow.hw.area_estimate) against yosys:")
    print(estimate_table(results, estimates))
    if args.json:
        dump = {k: {v: u.as_dict() for v, u in rows.items()} for k, rows in results.items()}
        dump["estimate"] = {
            k: {v: e.rounded() for v, e in rows.items()} for k, rows in estimates.items()
        }
        args.json.write_text(json.dumps(dump, indent=2) + "\n")
    if args.record and "network" in results:
        record(args.run, results["network"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
