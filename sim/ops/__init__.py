"""adderflow's custom ops, registered with qonnx under the ONNX domain ``adderflow``.

Importing this package registers them; qonnx then finds each by domain and class name,
so ``qonnx.core.onnx_exec.execute_onnx`` runs adderflow models unchanged.
"""

from qonnx.custom_op.registry import add_op_to_domain

from adderflow.sim.ops.adder_conv import AdderConv
from adderflow.sim.ops.adder_gemm import AdderGemm
from adderflow.sim.ops.base import DOMAIN, IntegerOp
from adderflow.sim.ops.binary_threshold import BinaryThreshold
from adderflow.sim.ops.int_avg_pool import IntAvgPool
from adderflow.sim.ops.int_conv import IntConv
from adderflow.sim.ops.int_gemm import IntGemm
from adderflow.sim.ops.int_max_pool import IntMaxPool
from adderflow.sim.ops.requant import Requant
from adderflow.sim.ops.xnor_conv import XnorConv
from adderflow.sim.ops.xnor_gemm import XnorGemm

OPS: dict[str, type[IntegerOp]] = {
    cls.__name__: cls
    for cls in (
        AdderConv,
        AdderGemm,
        IntConv,
        IntGemm,
        IntMaxPool,
        IntAvgPool,
        Requant,
        XnorConv,
        XnorGemm,
        BinaryThreshold,
    )
}
# Binary layers (DESIGN.md rule 6) and the threshold that feeds them ±1 codes.
BINARY_LAYERS = ("XnorConv", "XnorGemm")
BINARY_OPS = (*BINARY_LAYERS, "BinaryThreshold")

for _cls in OPS.values():
    add_op_to_domain(DOMAIN, _cls)


def binary_layers(model) -> list[str]:
    """Names of the binary layers (``XnorConv``/``XnorGemm`` nodes) of an IR model."""
    return [
        node.name or node.output[0]
        for node in model.graph.node
        if node.domain == DOMAIN and node.op_type in BINARY_LAYERS
    ]


def first_binary_node(model):
    """The node a backend without binary support should name, or ``None``: the first binary
    layer where there is one, else the first threshold (not the threshold feeding a layer).
    """
    binary = [n for n in model.graph.node if n.domain == DOMAIN and n.op_type in BINARY_OPS]
    if not binary:
        return None
    return min(binary, key=lambda n: n.op_type == "BinaryThreshold")


__all__ = [
    "BINARY_LAYERS", "BINARY_OPS", "DOMAIN", "OPS", "binary_layers", "first_binary_node", *OPS
]  # fmt: skip
