"""A plain C++ Verilator harness for a generated network, compiled once per design.

``hw/harness/af_network_harness.cpp`` drives ``af_network`` directly from C++ (two
evaluations of the model a clock cycle, rising and falling edge, through the model's own
evaluation function after the first ``eval()``; no ``--timing`` coroutines, no Verilog
bench), with the protocol and output file of ``hw/rtl/af_network_tb.v``, so
``adderflow.hw.simulate``'s reader checks its output the same way. It is the fast path
for long simulations (``bench/rtl_throughput.py``). The model's top is
``hw/harness/af_harness_top.v``, which registers the network's inputs so that Verilator
evaluates the network's logic once a cycle (never synthesised; the network's
cycle-by-cycle inputs are the bench's).

Builds are cached by content, not by path: the key hashes every RTL source of the design,
the harness and its top, the bench parameters and the Verilator version, and the
executable lives in ``cache_dir("verilator")/<key>`` (``$ADDERFLOW_CACHE/verilator``, else
``$XDG_CACHE_HOME/adderflow/verilator``, else ``~/.cache/adderflow/verilator``). A design
generated again, in another directory, with the same RTL starts at once. A build goes to a
temporary directory first and is renamed into place, so a killed build never leaves a stale
binary. With ``ADDERFLOW_CACHE=off`` every build goes to a temporary directory removed when
the process exits.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adderflow.errors import AdderflowError
from adderflow.hw.bitcache import cache_dir
from adderflow.hw.network import Design
from adderflow.hw.simulate import (
    RtlResult,
    _bench_parameters,
    _read_outputs,
    children_cpu_seconds,
    tool_path,
    verilator_env,
)

HARNESS = Path(__file__).with_name("harness") / "af_network_harness.cpp"
# The model's top: registers the network's inputs (see the harness's header comment).
HARNESS_TOP = HARNESS.with_name("af_harness_top.v")
EXE = "Vaf_harness_top"
OPT_FAST = "-O2"
# The executable only ever runs on the machine that built it (the cache key holds the host's
# CPU), so the model may use every vector extension there: 1.4x the cycles/s of a generic
# x86-64 build on the digits network (docs/benchmarks.md).
NATIVE = "-march=native"


@dataclass(frozen=True)
class Build:
    executable: Path
    seconds: float  # compile time of this call: 0.0 when the cache had it
    cached: bool


def _build_root() -> Path:
    """The Verilator cache, or (caching off) a private folder removed at exit."""
    root = cache_dir("verilator")
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="adderflow-harness-build-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def _verilator_version() -> str:
    done = subprocess.run(
        [str(tool_path("verilator")), "--version"],
        capture_output=True,
        text=True,
        env=verilator_env(),
    )
    return done.stdout.strip()


def _host_cpu() -> str:
    """What ``-march=native`` compiles for: the machine and its CPU's model and flags."""
    text = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        keep = ("model name", "flags", "Features", "CPU part")
        lines = cpuinfo.read_text(errors="replace").splitlines()
        text = "\n".join(sorted({line for line in lines if line.startswith(keep)}))
    return f"{platform.machine()}\n{text}"


def build_key(design: Design) -> str:
    """Hash of what the executable depends on: RTL, harness, parameters, Verilator, CPU."""
    digest = hashlib.sha256()
    for source in [*design.sources, HARNESS_TOP, HARNESS]:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    digest.update(repr(sorted(_bench_parameters(design).items())).encode())
    digest.update(_verilator_version().encode() + OPT_FAST.encode() + NATIVE.encode())
    digest.update(_host_cpu().encode())
    return digest.hexdigest()[:20]


def build(design: Design) -> Build:
    """The design's harness executable, compiled unless the cache already holds it."""
    final = _build_root() / build_key(design)
    exe = final / EXE
    if exe.is_file():
        return Build(exe, 0.0, True)
    final.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        _compile(design, work)
        try:
            os.replace(work, final)
        except OSError:  # another process finished the same build first: use theirs
            if not exe.is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Build(exe, time.perf_counter() - start, False)


def _compile(design: Design, work: Path) -> None:
    params = _bench_parameters(design)
    defines = " ".join(f"-D{k}={v}" for k, v in params.items())
    cmd = [
        str(tool_path("verilator")),
        "--cc",
        "--exe",
        "--build",
        "-O3",
        "-Wno-fatal",
        "--top-module",
        "af_harness_top",
        f"-GIN_W={params['IN_W']}",
        f"-GOUT_W={params['OUT_W']}",
        "-Mdir",
        str(work),
        "-j",
        str(os.cpu_count() or 1),
        "--x-assign",
        "fast",
        "--x-initial",
        "fast",
        "-CFLAGS",
        f"-std=c++17 {NATIVE} {defines}",
        # the model's own files build with OPT_FAST (-Os by default): a simulation this
        # long wants them optimised for speed
        "-MAKEFLAGS",
        f"OPT_FAST={OPT_FAST}",
        *[str(p) for p in design.sources],
        str(HARNESS_TOP),
        str(HARNESS),
    ]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=verilator_env())
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise AdderflowError(f"verilator harness build failed (exit {proc.returncode}):\n{tail}")


def run(design: Design, codes: np.ndarray, serial: bool = True) -> tuple[RtlResult, Build]:
    """Simulate ``codes[N, C, H, W]`` through the design with the C++ harness."""
    codes = np.asarray(codes, dtype=np.int64)
    images = len(codes)
    if images == 0:
        raise AdderflowError("no images to simulate")
    built = build(design)
    with tempfile.TemporaryDirectory(prefix="adderflow-harness-") as tmp:
        in_file, out_file = Path(tmp) / "inputs.hex", Path(tmp) / "outputs.txt"
        in_file.write_text("".join(f"{w:x}\n" for w in design.input_words(codes)))
        plusargs = [
            f"+in={in_file}",
            f"+out={out_file}",
            f"+images={images}",
            f"+serial={int(serial)}",
            f"+max_cycles={100 * images * design.cycles + 1000}",
        ]
        start, cpu = time.perf_counter(), children_cpu_seconds()
        # the design's weight and threshold memories are read at run time, relative to it
        proc = subprocess.run(
            [str(built.executable), *plusargs],
            cwd=design.directory,
            capture_output=True,
            text=True,
        )
        seconds, cpu = time.perf_counter() - start, children_cpu_seconds() - cpu
        if proc.returncode != 0:
            raise AdderflowError(f"harness simulation failed: {proc.stderr.strip()[-2000:]}")
        words, latencies, cycles = _read_outputs(out_file, design, images)
    return RtlResult(design.output_codes(words), latencies, cycles, seconds, cpu), built
