"""Every IR op has one hls4ml mapping and one RTL mapping, each in its own module and
registered by op name: a duplicate is refused at import, an unknown op by name."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import onnx
import pytest
from binary_networks import binary_images, binary_ir
from graph_ops import gate_ir, reshape_ir, sum_pool_ir
from networks import random_network
from residual import residual_ir

from adderflow.errors import ModelFormatError
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.hw.hls4ml_backend import convert
from adderflow.hw.hls4ml_backend.ops import MAPPINGS
from adderflow.hw.hls4ml_backend.project import kernel_path, kernels
from adderflow.hw.network import NETWORK_SOURCES, UNITS, generate
from adderflow.hw.units.common import rtl_sources
from adderflow.registry import DuplicateRegistration
from adderflow.sim.ops import OPS

REPO = Path(__file__).resolve().parents[1]
# The Verilog sources that name IR ops in their comments; .v files stay byte-identical.
VERILOG_NAMING = {"hw/rtl/af_window.v", "hw/rtl/af_threshold.v"}
# The stream unit an op has its own RTL and config for ([J2]): they name the op they do.
OP_UNITS = {"IntAdd": "add", "IntLut": "lut", "IntSumPool": "sumpool", "IntMul": "mul",
            "Concat": "concat"}  # fmt: skip


def test_every_op_has_an_hls4ml_mapping_or_a_recorded_refusal():
    for op in OPS:
        mapping = MAPPINGS.get(op)
        if mapping.refusal:
            assert mapping.convert is None and mapping.parts is None, op
        else:
            assert mapping.convert is not None and mapping.parts is not None, op
            # A mapping onto an hls4ml layer of its own (Concat) names no kernel of ours.
            assert not mapping.header or kernel_path(mapping.header).is_file(), op
    assert "nnet_adder_common.h" in kernels()
    assert all(kernel_path(h).is_file() for h in kernels())


def test_every_op_has_an_rtl_mapping_with_its_sources_or_a_recorded_refusal():
    for op in OPS:
        mapping = UNITS.get(op)
        if mapping.refusal:
            assert not mapping.sources, op
            continue
        sources = mapping.sources
        assert sources and set(sources) <= set(NETWORK_SOURCES), op
        assert all(p.is_file() for p in rtl_sources(sources))


def test_the_residual_add_is_taken_by_both_backends(tmp_path):
    """The residual add: hls4ml converts it (tests/test_hls4ml.py) and the RTL joins its
    streams in af_add (tests/test_rtl_graph.py)."""
    model = residual_ir(4, 4, (0, 2))
    convert(model)
    design = generate(model, tmp_path / "rtl")
    assert [s["kind"] for s in design.stages].count("add") == 1


GRAPH_OP_REFUSALS = [
    (lambda: sum_pool_ir(4, (3, 3), (1, 1)), "pool", "IntSumPool", "is a window sum"),
]
# The stream design takes a reshape that keeps the beat order as no hardware
# (tests/test_rtl_geometry.py): a 1-D network's [N, C, L] input, or [N, C, H, W] regrouped.
RESHAPES = [
    lambda: reshape_ir(4, (3, 12), kernel=2),
    lambda: reshape_ir(4, (3, 2, 4), kernel=2),
]


@pytest.mark.parametrize("build, name, op, why", GRAPH_OP_REFUSALS, ids=lambda v: str(v))
def test_the_graph_ops_are_named_by_both_backends_before_anything_is_written(
    tmp_path, build, name, op, why
):
    """Issue #20's new ops without RTL yet ([J2]); standard ``Concat`` included. The
    hls4ml backend takes them (tests/test_hls4ml.py)."""
    model = build()
    convert(model)
    with pytest.raises(ModelFormatError, match=rf"node '{name}' \({op}\) {why}"):
        generate(model, tmp_path / "rtl")
    assert not (tmp_path / "rtl").exists()


def test_the_rtl_builds_window_sums_and_gate_products(tmp_path):
    """A window sum at kernel = stride (or one window over an axis) and a squeeze-excite
    gate are graph stages (tests/test_rtl_graph_units.py simulates them); a window sum
    whose windows overlap is refused above."""
    design = generate(sum_pool_ir(4, (2, 3), (2, 3)), tmp_path / "pool")
    assert [s["kind"] for s in design.stages] == ["sumpool"]
    design = generate(gate_ir(4, 4), tmp_path / "gate")
    assert {"fork", "fifo", "sumpool", "mul"} == {s["kind"] for s in design.stages}


@pytest.mark.parametrize("build", RESHAPES)
def test_a_reshape_is_taken_by_hls4ml_and_is_no_hardware_in_the_rtl(tmp_path, build):
    model = build()
    convert(model)
    design = generate(model, tmp_path / "rtl")
    assert [s["kind"] for s in design.stages] == ["sumpool"]  # the reshape is no stage


@pytest.mark.parametrize(
    "module", ["adderflow.hw.network.ops.int_conv", "adderflow.hw.hls4ml_backend.ops.int_conv"]
)
def test_a_duplicate_registration_is_refused_at_import(module):
    with pytest.raises(DuplicateRegistration, match="'IntConv' is registered twice"):
        importlib.reload(importlib.import_module(module))


def _with_unknown_op(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """The model with its max pool turned into an op nobody registered."""
    broken = onnx.ModelProto()
    broken.CopyFrom(model)
    node = next(n for n in broken.graph.node if n.op_type == "IntMaxPool")
    node.op_type = "IntMinPool"
    return broken, node.name


def test_an_unregistered_op_is_refused_by_name(tmp_path):
    model, name = _with_unknown_op(build_qonnx(random_network(8, seed=3)))
    with pytest.raises(
        ModelFormatError,
        match=rf"layer '{name}': op 'IntMinPool' has no hls4ml layer mapping \(known: .*IntConv",
    ):
        convert(model)
    with pytest.raises(
        ModelFormatError, match=rf"node '{name}': op 'IntMinPool' has no RTL unit \(known: "
    ):
        generate(model, tmp_path / "rtl")
    assert not (tmp_path / "rtl").exists()


@pytest.mark.parametrize("name", ["stem", "pool", "dense_requant"])
def test_a_missing_out_bits_is_named_by_both_backends(tmp_path, name):
    """The view gives such an output no width; the error names the attribute, the cause."""
    model = build_qonnx(random_network(8, seed=3))
    node = next(n for n in model.graph.node if n.name == name)
    keep = [a for a in node.attribute if a.name != "out_bits"]
    del node.attribute[:]
    node.attribute.extend(keep)
    with pytest.raises(
        ModelFormatError, match=rf"node '{name}' \(\w+\) lacks attribute 'out_bits'"
    ):
        convert(model)
    with pytest.raises(
        ModelFormatError, match=rf"node '{name}' \(\w+\) lacks attribute 'out_bits'"
    ):
        generate(model, tmp_path / "rtl")


def test_a_binary_layer_without_weight_shape_is_refused_by_name(tmp_path):
    model = binary_ir(binary_images(0, 4))
    node = next(n for n in model.graph.node if n.op_type == "XnorGemm")
    keep = [a for a in node.attribute if a.name != "weight_shape"]
    del node.attribute[:]
    node.attribute.extend(keep)
    with pytest.raises(ModelFormatError, match=rf"'{node.name}' \(XnorGemm\) lacks attribute"):
        generate(model, tmp_path / "rtl")


def _op_files():
    spec = importlib.util.spec_from_file_location("op_files", REPO / "bench" / "op_files.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_the_op_modules_of_hw_name_an_op():
    """An op's hardware knowledge is its two mapping modules (plus Verilog that names it)."""
    table = _op_files().files_naming(sorted(OPS), REPO)
    for op, files in table.items():
        module = re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower()
        allowed = {
            f"hw/hls4ml_backend/ops/{module}.py",
            f"hw/network/ops/{module}.py",
            *VERILOG_NAMING,
        }
        # Each of those units says which op it does, and that a Requant follows it.
        for unit in (
            OP_UNITS.values() if op == "Requant" else [OP_UNITS.get(op)] if op in OP_UNITS else []
        ):
            allowed |= {f"hw/units/{unit}.py", f"hw/rtl/af_{unit}.v"}
        hw = {f for f in files if f.startswith("hw/")}
        assert hw <= allowed, (op, sorted(hw - allowed))


@pytest.mark.parametrize("net", ["integer", "binary"])
def test_a_grouped_conv_is_built_by_both_backends(tmp_path, net):
    """Grouped and depthwise convs: hls4ml converts them (tests/test_hls4ml.py), the RTL
    builds them (af_mvu GROUPS; simulated in tests/test_rtl_geometry.py)."""
    from grouped import as_ir, grouped_binary_net, grouped_net

    model = as_ir(grouped_net(8) if net == "integer" else grouped_binary_net())
    first, op = ("stem", "IntConv") if net == "integer" else ("xg", "XnorConv")
    if net == "integer":
        convert(model)  # the hls4ml backend takes grouped convs (tests/test_hls4ml.py)
    design = generate(model, tmp_path / "rtl")
    groups = {layer["name"]: layer["groups"] for layer in design.layers}
    assert groups[first] == 2 and max(groups.values()) == (8 if net == "integer" else 6)


def test_a_padded_max_pool_is_built_by_both_backends(tmp_path):
    """hls4ml converts it (tests/test_hls4ml.py); the RTL puts its own window (padded taps
    at the minimum code) and af_maxpool before the next layer (tests/test_rtl_geometry.py)."""
    from grouped import as_ir, grouped_net

    model = as_ir(grouped_net(8, pool_pads=(1, 0, 1, 2), stem_group=1))  # the pool first
    convert(model)
    design = generate(model, tmp_path / "rtl")
    assert design.layers[1]["prepool"]["pads"] == [1, 0, 1, 2]
