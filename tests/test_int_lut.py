"""``IntLut`` (a sigmoid gate as a table lookup, issue #20): the reference against brute
force, qonnx and onnxruntime against the reference, load checks, cost and backend
refusals, each naming the node."""

from __future__ import annotations

import numpy as np
import pytest
from graph_ops import Graph, images

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.export.lower_standard import lower_to_standard_onnx, run_onnxruntime
from adderflow.fixed import MAX_LUT_BITS, FixedType, lookup_table, table_lookup
from adderflow.sim import reference
from adderflow.sim.cost import as_ann, as_cnn
from adderflow.sim.executor import check_contract, run_qonnx, run_reference


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def lut_ir(in_bits: int, out_bits: int, shape=(3, 2, 5), *, table=None, table_bits=None):
    """input codes ─ IntLut (a sigmoid table from ``fixed<in_bits, in_bits // 2>`` to
    ``fixed<out_bits, out_bits - 1>``, or ``table``)."""
    g = Graph(in_bits, shape)
    if table is None:
        table = lookup_table(
            _sigmoid, FixedType(in_bits, in_bits // 2), FixedType(out_bits, out_bits - 1)
        )
    bits = table_bits or out_bits
    out = g.node(
        "IntLut", ["input_codes", g.init("gate_table", np.asarray(table, np.int64))],
        "gate_out", shape, f"INT{bits}", "gate", out_bits=bits,
    )  # fmt: skip
    return g.model(out)


@pytest.mark.parametrize("in_bits, out_bits", [(2, 2), (5, 8), (8, 8), (12, 16)])
def test_lookup_equals_brute_force(in_bits, out_bits):
    """Every input code of the width: ``table[q + 2**(b-1)]``, the table entry ``i`` being
    round-half-even(sigmoid((i + qmin)·2^-f_in)·2^f_out) saturated."""
    t_in, t_out = FixedType(in_bits, in_bits // 2), FixedType(out_bits, out_bits - 1)
    table = lookup_table(_sigmoid, t_in, t_out)
    codes = np.arange(t_in.qmin, t_in.qmax + 1)
    for q in (t_in.qmin, -1, 0, 1, t_in.qmax):
        want = np.round(_sigmoid(np.float64(q) * 2.0**-t_in.frac) * 2.0**t_out.frac)
        assert table[q - t_in.qmin] == min(int(want), t_out.qmax)
    got = reference.lut(codes.reshape(1, -1), table)
    assert got.tolist() == [[int(table[int(q) - t_in.qmin]) for q in codes]]
    assert table.max() <= t_out.qmax and table.min() >= 0


def test_lookup_refuses_codes_outside_the_table_and_bad_tables():
    with pytest.raises(ValueError, match=r"outside the table's 3-bit input range"):
        table_lookup(np.array([4]), np.arange(8))
    with pytest.raises(ValueError, match=r"2\*\*b entries"):
        table_lookup(np.array([0]), np.arange(6))
    with pytest.raises(QuantizationError, match=r"13-bit codes needs 2\*\*13 entries"):
        lookup_table(_sigmoid, FixedType(13, 8), FixedType(8, 7))


@pytest.mark.parametrize("in_bits, out_bits", [(2, 3), (6, 8), (MAX_LUT_BITS, 16)])
@pytest.mark.parametrize("fill", [None, "max", "min"])
def test_qonnx_and_onnxruntime_equal_the_reference(in_bits, out_bits, fill):
    model = lut_ir(in_bits, out_bits)
    x = images(in_bits, (3, 2, 5), n=4, seed=in_bits, fill=fill)
    ref = run_reference(model, x)
    table = lookup_table(
        _sigmoid, FixedType(in_bits, in_bits // 2), FixedType(out_bits, out_bits - 1)
    )
    np.testing.assert_array_equal(ref["gate_out"], table[x.astype(np.int64) + 2 ** (in_bits - 1)])
    np.testing.assert_array_equal(run_qonnx(model, x)["gate_out"], ref["gate_out"])
    lowered = lower_to_standard_onnx(model, expose_layers=True)
    assert {node.domain for node in lowered.graph.node} <= {""}
    np.testing.assert_array_equal(run_onnxruntime(lowered, x)["gate_out"], ref["gate_out"])


def test_a_table_that_does_not_fit_is_refused_naming_the_node():
    with pytest.raises(QuantizationError, match=r"node 'gate' \(IntLut\): table has 16 entries; "
                       r"5-bit operand 'input_codes' needs 32"):  # fmt: skip
        check_contract(lut_ir(5, 8, table=np.zeros(16)))
    with pytest.raises(QuantizationError, match=r"node 'gate' \(IntLut\): table entries need 9 "
                       r"bits, out_bits is 8"):  # fmt: skip
        check_contract(lut_ir(4, 8, table=np.full(16, 255)))
    with pytest.raises(QuantizationError, match=r"node 'gate' \(IntLut\): operand 'input_codes' "
                       r"is 13-bit; a lookup takes at most 12-bit codes"):  # fmt: skip
        check_contract(lut_ir(13, 8, table=np.zeros(2**13)))
    with pytest.raises(ModelFormatError, match=r"node 'gate' \(IntLut\): table must be a 1-D "
                       r"integer initializer"):  # fmt: skip
        check_contract(lut_ir(2, 8, table=np.zeros((2, 2))))


def test_cost_is_one_table_read_per_element():
    model = lut_ir(6, 8)  # 3x2x5 = 30 elements
    for result in (as_ann(model), as_cnn(model)):
        assert result.uncounted == []
        layer = next(layer for layer in result.layers if layer.node == "gate")
        assert layer.ops == {"lookup": {"int8": 30}}


def test_both_backends_take_it(tmp_path):
    """hls4ml and the RTL both build a lookup (their exactness: tests/test_hls4ml.py and
    tests/test_rtl_graph_units.py); the RTL instantiates af_lut with the IR's table."""
    from adderflow.hw.hls4ml_backend import convert
    from adderflow.hw.network import generate

    model = lut_ir(4, 8)
    convert(model)
    design = generate(model, tmp_path / "rtl")
    top = (design.directory / "af_network.v").read_text()
    assert "af_lut" in top and any(p.name == "af_lut.v" for p in design.sources)
