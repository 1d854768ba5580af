"""The files a quantized network becomes in a run: the IR (``model.qonnx.onnx``), its
standard-ONNX lowering (``model.standard.onnx``) and the network's integer data
(``model.network.npz``). One writer for the quantize stage and ``adderflow import
--to-run``, so every later stage reads the same files either way. Torch-free."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx

from adderflow.atomic import atomic_write_bytes
from adderflow.run_paths import RunPaths


def write_models(
    paths: RunPaths,
    net,
    debug_x: np.ndarray | None = None,
    log: Callable[[str], None] | None = None,
) -> onnx.ModelProto:
    """Write ``net``'s model files into the run ``paths``; returns the QONNX model.
    ``debug_x``: images the lowering's pass-by-pass check runs (``quant.debug_passes``)."""
    from adderflow.export.lower_standard import lower_to_standard_onnx
    from adderflow.export.qonnx_builder import build_qonnx
    from adderflow.quant.network_file import write_network

    model = build_qonnx(net)
    atomic_write_bytes(paths.model, model.SerializeToString())
    standard = lower_to_standard_onnx(model, debug_x=debug_x, log=log).SerializeToString()
    atomic_write_bytes(paths.standard_model, standard)
    write_network(paths.network, net)
    return model
