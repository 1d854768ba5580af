"""Graph networks with the J2 graph units through the RTL: a global sum pool (area 9, then
a dense head), GhostNet's concatenation of three tensors, a squeeze-excite gate, and a
sigmoid table lookup (tests/graph_networks.py, and ``lut_net`` here), on the Verilator
compiled harness (serial and back to back) and three images each on Icarus. Integer codes
equal the reference's (random, all-max and all-min images), every image's cycles the graph
handshake model's; the generated design has the expected stages.
"""

from __future__ import annotations

import numpy as np
import pytest
from graph_networks import (
    _calibrated,
    _compute,
    concat_net,
    inputs,
    squeeze_excite,
    sum_pool_net,
)
from test_rtl_network import require

from adderflow.export.qonnx_builder import build_qonnx
from adderflow.fixed import FixedType, lookup_table
from adderflow.hw import harness
from adderflow.hw.network import generate
from adderflow.hw.network import graph as graphs
from adderflow.hw.network.design import plan_graph
from adderflow.hw.network.read import read_graph
from adderflow.hw.simulate import run_network
from adderflow.quant.spec import FlattenLayer, LutLayer, QuantizedNetwork
from adderflow.sim.executor import output_name, run_reference


def lut_net(bits: int, seed: int = 0) -> QuantizedNetwork:
    """A conv, a sigmoid of its codes by table lookup, then a dense head."""
    rng = np.random.default_rng(seed)
    t, tx, t_sig = FixedType(bits, 3), FixedType(bits, 2), FixedType(bits, bits - 1)
    table = lookup_table(lambda v: 1 / (1 + np.exp(-v)), tx, t_sig)
    layers = (
        _compute(rng, "conv", "adder", t, 4, 2, 3, tx, pads=(1, 1, 1, 1), relu=False),
        LutLayer("sig", table, t_sig),
        FlattenLayer("flat"),
        _compute(rng, "head", "mul", t_sig, 3, 4 * 4 * 4, None, FixedType(16, 5), relu=False),
    )
    return _calibrated(QuantizedNetwork(t, (2, 4, 4), layers), seed)


# name -> (network, stage kinds it must have)
NETS = {
    "sum_pool": (lambda: sum_pool_net(8, seed=1), {"sumpool", "layer"}),
    "concat": (lambda: concat_net(6, seed=2), {"concat", "fork", "fifo", "layer"}),
    "squeeze_excite": (lambda: squeeze_excite(8, seed=3), {"sumpool", "mul", "fork", "fifo"}),
    "lut": (lambda: lut_net(8, seed=4), {"lut", "layer"}),
}


def _images(net) -> np.ndarray:
    return np.concatenate(
        [inputs(net, 4, seed=7), inputs(net, 1, fill="max"), inputs(net, 1, fill="min")]
    )


@pytest.mark.parametrize("name", sorted(NETS))
def test_graph_units_are_exact_and_cycle_exact_on_verilator(tmp_path, name):
    require("verilator")
    build, kinds = NETS[name]
    net = build()
    model, x = build_qonnx(net), _images(net)
    design = generate(model, tmp_path / "rtl")
    assert kinds <= {s["kind"] for s in design.stages}
    reference = run_reference(model, x)
    codes, want = reference["input_codes"], reference[output_name(model)]
    assert len(np.unique(want.reshape(len(x), -1), axis=0)) > 2  # images are told apart
    serial, _ = harness.run(design, codes, serial=True)
    np.testing.assert_array_equal(serial.codes, want)
    assert serial.latencies == [design.cycles] * len(x)
    stream, _ = harness.run(design, codes, serial=False)
    np.testing.assert_array_equal(stream.codes, want)
    # Back to back too, every image's cycles are the graph model's.
    graph, kinds, _ = plan_graph(read_graph(model))
    assert stream.latencies == graphs.simulate(graph, kinds, len(x), serial=False).latencies


@pytest.mark.parametrize("name", sorted(NETS))
def test_graph_units_on_icarus(tmp_path, name):
    """A random, an all-max and an all-min image on Icarus (a second simulator)."""
    require("icarus")
    net = NETS[name][0]()
    model, x = build_qonnx(net), _images(net)[-3:]
    design = generate(model, tmp_path / "rtl")
    reference = run_reference(model, x)
    result = run_network(design, reference["input_codes"], "icarus")
    np.testing.assert_array_equal(result.codes, reference[output_name(model)])
    assert result.latencies == [design.cycles] * len(x)


def test_a_wrong_table_entry_is_caught(tmp_path):
    """Mutation check: one entry of the lookup's ROM file changed (an entry the images read)
    must make the RTL's codes differ from the reference's."""
    require("icarus")
    net = lut_net(8, seed=4)
    model, x = build_qonnx(net), _images(net)[-3:]
    design = generate(model, tmp_path / "rtl")
    reference = run_reference(model, x)
    lut = next(n for n in model.graph.node if n.op_type == "IntLut")
    code = int(reference[lut.input[0]].flat[0])  # an input code the lookup reads
    path = design.directory / "sig_table.hex"
    lines = path.read_text().splitlines()
    row = 1 + code + 128  # after the comment line; index = code + 2**(8-1)
    lines[row] = f"{int(lines[row], 16) ^ 0x40:02x}"
    path.write_text("\n".join(lines) + "\n")
    result = run_network(design, reference["input_codes"], "icarus")
    assert np.any(result.codes != reference[output_name(model)])
