"""adderflow's custom ops, registered with qonnx under the ONNX domain ``adderflow``.

Importing this package registers them; qonnx then finds each by domain and class name,
so ``qonnx.core.onnx_exec.execute_onnx`` runs adderflow models unchanged.
"""

from qonnx.custom_op.registry import add_op_to_domain

from adderflow.sim.ops.adder_conv import AdderConv
from adderflow.sim.ops.adder_gemm import AdderGemm
from adderflow.sim.ops.base import DOMAIN, IntegerOp
from adderflow.sim.ops.int_conv import IntConv
from adderflow.sim.ops.int_gemm import IntGemm
from adderflow.sim.ops.int_max_pool import IntMaxPool
from adderflow.sim.ops.requant import Requant

OPS: dict[str, type[IntegerOp]] = {
    cls.__name__: cls for cls in (AdderConv, AdderGemm, IntConv, IntGemm, IntMaxPool, Requant)
}

for _cls in OPS.values():
    add_op_to_domain(DOMAIN, _cls)

__all__ = ["DOMAIN", "OPS", *OPS]
