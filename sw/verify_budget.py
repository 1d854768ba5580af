"""What a software verify will cost, said before it starts.

qonnx's graph execution and onnxruntime take far longer per image than the NumPy reference
(onnxruntime about 0.23 s per 28×28 image on the 2-core machine: an hour for MNIST's 10 k
test images), so they check ``verify.backend_samples`` images by default and ``--full``
checks all. Before a large check the time is estimated from two images and logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

PROBE = 2  # images timed for the estimate
ESTIMATE_FROM = 500  # images from which an estimate is worth its probe


def seconds_per_image(model, x: np.ndarray) -> float:
    """qonnx execution plus onnxruntime, per image, timed on ``PROBE`` images.

    Only the per-image part is timed: the one-off lowering and the first call's warm-up
    (session creation) happen before the clock starts, or the estimate for n images would
    count them n times."""
    from adderflow.export.lower_standard import lower_to_standard_onnx, run_onnxruntime
    from adderflow.sim.executor import run_qonnx

    standard = lower_to_standard_onnx(model, True)
    run_qonnx(model, x[:1])
    run_onnxruntime(standard, x[:1])
    probe = x[:PROBE]
    start = time.perf_counter()
    run_qonnx(model, probe)
    run_onnxruntime(standard, probe)
    return (time.perf_counter() - start) / max(len(probe), 1)


def announce(log: Callable[[str], None], model, x: np.ndarray, n: int) -> None:
    """Log how many images the slow backends check, and for how long, if it matters."""
    if n < len(x):
        log(
            f"[verify] qonnx and onnxruntime check the first {n} of {len(x)} test images "
            "(verify.backend_samples; adderflow verify RUN --full checks all)"
        )
    if n >= ESTIMATE_FROM:
        estimate = seconds_per_image(model, x) * n
        log(f"[verify] qonnx + onnxruntime on {n} images: about {estimate / 60:.1f} min")
