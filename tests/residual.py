"""A residual block as an IR model whose join is written node by node, so a test can give
it any shifts and ``out_bits`` (``tests/graph_networks.py`` builds residual blocks from the
graph form of ``quant.spec`` through ``build_qonnx``).

    input codes ──────────────────────────┐
        └─ 1x1 adder conv ─ Requant ──────┴─ IntAdd(shifts) ─ Requant ─ output
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from adderflow.export.qonnx_builder import build_qonnx
from adderflow.fixed import FixedType, RequantParams, adder_acc_bits
from adderflow.quant.spec import ComputeLayer, QuantizedNetwork
from adderflow.sim.ops.base import DOMAIN
from adderflow.sim.ops.int_add import sum_bits


def residual_ir(
    in_bits: int,
    branch_bits: int,
    shifts: tuple[int, int],
    *,
    out_bits: int = 8,
    add_bits: int | None = None,
    channels: int = 2,
    size: int = 3,
    seed: int = 0,
    extreme: str | None = None,
) -> onnx.ModelProto:
    """The block above on ``in_bits`` input codes; the branch requantizes to
    ``branch_bits``; the join's ``out_bits`` is ``add_bits`` (default: the exact bound)."""
    rng = np.random.default_rng(seed)
    t = FixedType(in_bits, 0)
    if extreme is None:
        weight = rng.integers(t.qmin, t.qmax + 1, (channels, channels, 1, 1))
    else:  # the branch's accumulators at their extreme: the requant saturates them
        weight = np.full((channels, channels, 1, 1), t.qmin if extreme == "max" else t.qmax)
    acc_bits = adder_acc_bits(in_bits, channels)
    ones = np.ones(channels, np.int64)
    requant = RequantParams(ones * (-1 if extreme == "max" else 1), ones * 0, 0)
    branch = ComputeLayer(
        "branch", "adder", weight.astype(np.int64), t, t, acc_bits, requant,
        FixedType(branch_bits, 0), False,
    )  # fmt: skip
    model = build_qonnx(QuantizedNetwork(t, (channels, size, size), (branch,)))
    widths = [in_bits, branch_bits]
    add_bits = sum_bits(widths, shifts) if add_bits is None else add_bits
    return _join(model, list(shifts), add_bits, out_bits, rng, channels)


def _join(model, shifts, add_bits, out_bits, rng, channels) -> onnx.ModelProto:
    graph = model.graph
    branch_out = graph.output[0]
    shape = [d.dim_value for d in branch_out.type.tensor_type.shape.dim]
    graph.value_info.append(branch_out)
    del graph.output[:]
    m = rng.integers(1, 2**8, channels).astype(np.int64)
    b = rng.integers(-(2**8), 2**8, channels).astype(np.int64)
    graph.initializer.extend(
        [numpy_helper.from_array(m, "join_m"), numpy_helper.from_array(b, "join_b")]
    )
    graph.node.extend(
        [
            helper.make_node(
                "IntAdd", ["input_codes", branch_out.name], ["join_acc"], name="join",
                domain=DOMAIN, shifts=shifts, out_bits=add_bits,
            ),
            helper.make_node(
                "Requant", ["join_acc", "join_m", "join_b"], ["join_out"], name="join_requant",
                domain=DOMAIN, shift=8, out_bits=out_bits, relu=0,
            ),
        ]
    )  # fmt: skip
    graph.value_info.append(helper.make_tensor_value_info("join_acc", TensorProto.INT64, shape))
    graph.output.append(helper.make_tensor_value_info("join_out", TensorProto.INT64, shape))
    wrapper = ModelWrapper(model)
    wrapper.set_tensor_datatype("join_acc", DataType[f"INT{add_bits}"])
    wrapper.set_tensor_datatype("join_out", DataType[f"INT{out_bits}"])
    return wrapper.model


def images(bits: int, n: int = 4, channels: int = 2, size: int = 3, seed: int = 0, fill=None):
    """Integer images in the ``bits``-bit code range (frac 0), or all ``fill``."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if fill is not None:
        return np.full((n, channels, size, size), hi if fill == "max" else lo, np.float32)
    rng = np.random.default_rng(seed)
    return rng.integers(lo, hi + 1, (n, channels, size, size)).astype(np.float32)
