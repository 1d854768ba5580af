"""RTL generator helpers: unit configurations, memory files and the cycle model.

Torch-free, NumPy only (DESIGN.md dependency rule 2). The Verilog kernels live in
``hw/rtl/*.v`` (docs/rtl.md); each has its module in ``adderflow.hw.units`` holding what a
generator needs to instantiate it, re-exported here:

* ``MvuConfig`` / ``RequantConfig`` / ``ThresholdConfig`` / ``WindowConfig`` /
  ``LineWindowConfig`` / ``SumPoolConfig`` / ``ConcatConfig`` / ``MulConfig`` /
  ``LutConfig`` / ``ForkConfig`` / ``FifoConfig`` / ``AddConfig``: one unit's parameters,
  checked against the numeric contract (``adderflow.fixed``) and turned into HDL parameter
  values;
* memory files for ``$readmemh`` (weights, per-channel multipliers and biases, binary
  thresholds and directions) and stream words, packed lane 0 in the least significant
  bits, two's complement (``units.lanes``);
* the cycle model (``mvu_cycles``, ``requant_cycles``, ``threshold_cycles``) that the
  cocotb tests check equal to the simulated cycle counts.
"""

from adderflow.hw.units.add import ADD_LATENCY, ADD_SOURCES, AddConfig, add_cycles
from adderflow.hw.units.common import (
    BINARY_CODE_BITS,
    MAX_OUT_BITS,
    RTL_DIR,
    hdl_literal,
    rtl_sources,
)
from adderflow.hw.units.concat import CONCAT_LATENCY, CONCAT_SOURCES, ConcatConfig
from adderflow.hw.units.fifo import FIFO_LATENCY, FIFO_SOURCES, FifoConfig, fifo_cycles
from adderflow.hw.units.fork import FORK_LATENCY, FORK_SOURCES, ForkConfig, fork_cycles
from adderflow.hw.units.lanes import (
    ChannelStream,
    binary_codes,
    bipolar_to_bits,
    pack_lanes,
    read_memh,
    unpack_lanes,
    write_memh,
)
from adderflow.hw.units.linewin import (
    LINEWIN_COUNTER_BITS,
    LINEWIN_LATENCY,
    LINEWIN_SOURCES,
    LineWindowConfig,
)
from adderflow.hw.units.lut import LUT_LATENCY, LUT_SOURCES, LutConfig, lut_cycles
from adderflow.hw.units.mul import MUL_LATENCY, MUL_SOURCES, MulConfig
from adderflow.hw.units.mvu import (
    MODES,
    MVU_LATENCY,
    MVU_SOURCES,
    MvuConfig,
    check_fold,
    mvu_cycles,
    pe_acc_bits,
)
from adderflow.hw.units.requant import (
    REQUANT_LATENCY,
    REQUANT_SOURCES,
    RequantConfig,
    requant_cycles,
)
from adderflow.hw.units.sumpool import SUMPOOL_LATENCY, SUMPOOL_SOURCES, SumPoolConfig
from adderflow.hw.units.threshold import (
    THRESHOLD_LATENCY,
    THRESHOLD_SOURCES,
    ThresholdConfig,
    threshold_cycles,
)
from adderflow.hw.units.window import (
    POOL_MODES,
    WINDOW_COUNTER_BITS,
    WINDOW_LATENCY,
    WINDOW_SOURCES,
    WindowConfig,
)

__all__ = [
    "ADD_LATENCY", "ADD_SOURCES", "FIFO_LATENCY", "FIFO_SOURCES", "FORK_LATENCY",
    "FORK_SOURCES", "AddConfig", "FifoConfig", "ForkConfig", "add_cycles", "fifo_cycles",
    "fork_cycles",
    "CONCAT_LATENCY", "CONCAT_SOURCES", "LUT_LATENCY", "LUT_SOURCES", "MUL_LATENCY",
    "MUL_SOURCES", "SUMPOOL_LATENCY", "SUMPOOL_SOURCES", "ConcatConfig", "LutConfig",
    "MulConfig", "SumPoolConfig", "lut_cycles",
    "BINARY_CODE_BITS", "LINEWIN_COUNTER_BITS", "LINEWIN_LATENCY", "LINEWIN_SOURCES",
    "MAX_OUT_BITS", "MODES", "MVU_LATENCY", "MVU_SOURCES", "POOL_MODES", "REQUANT_LATENCY",
    "REQUANT_SOURCES", "RTL_DIR", "THRESHOLD_LATENCY", "THRESHOLD_SOURCES",
    "WINDOW_COUNTER_BITS", "WINDOW_LATENCY", "WINDOW_SOURCES", "ChannelStream",
    "LineWindowConfig", "MvuConfig", "RequantConfig", "ThresholdConfig", "WindowConfig",
    "binary_codes", "bipolar_to_bits", "check_fold", "hdl_literal", "mvu_cycles",
    "pack_lanes", "pe_acc_bits", "read_memh", "requant_cycles", "rtl_sources",
    "threshold_cycles", "unpack_lanes", "write_memh",
]  # fmt: skip
