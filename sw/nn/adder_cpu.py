"""The compiled CPU adder kernels (``adder_cpu.cpp``), built on first use and cached.

Same contract as ``adderflow.nn.adder_kernels`` (rows ``x [L, K]`` against filters
``w [O, K]``; ``l1_distance``, ``grad_input``, ``grad_weight``) for float32 and float64 CPU
tensors. The C++ file is a register- and cache-blocked "distance GEMM" (see its header);
what stays a matrix product (the full-precision gradients) is left to torch's BLAS here.

Build: ``torch.utils.cpp_extension.load`` with the system C++ compiler, ``-O3
-march=native`` and ninja (the ``train`` extra), into torch's extension cache
(``$TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``), under a name that
carries a hash of the source, the flags and the CPU, so a change of any of them builds
afresh and a rerun loads the cached library at once. ``ADDERFLOW_ADDER_BACKEND=torch``
skips it; when it cannot be built (no compiler, no ninja) ``load`` warns once, in one
line, and the layers run the pure-torch kernels instead.
"""

from __future__ import annotations

import hashlib
import platform
import warnings
from functools import cache
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

from adderflow.nn import adder_kernels

SOURCE = Path(__file__).with_name("adder_cpu.cpp")
CFLAGS = ("-O3", "-march=native", "-fno-math-errno")
DTYPES = (torch.float32, torch.float64)


def _cpu_id() -> str:
    """What ``-march=native`` compiles for: the CPU's model and feature flags."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    lines = [ln for ln in info.splitlines() if ln.startswith(("model name", "flags"))]
    return "\n".join(dict.fromkeys(lines))


def build_name() -> str:
    """The cached extension's name: source, flags, CPU and torch version hashed."""
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join(CFLAGS).encode(), _cpu_id().encode()):
        digest.update(part)
    digest.update(torch.__version__.encode())
    return f"adderflow_adder_cpu_{digest.hexdigest()[:16]}"


@cache
def load() -> ModuleType | None:
    """The compiled module, building it on the first call; ``None`` (warned) if it cannot be."""
    from torch.utils import cpp_extension

    try:
        return cpp_extension.load(
            name=build_name(), sources=[str(SOURCE)], extra_cflags=list(CFLAGS), verbose=False
        )
    except (OSError, RuntimeError, ImportError, cpp_extension.subprocess.CalledProcessError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        warnings.warn(
            f"adderflow: compiled CPU adder kernel unavailable ({reason}); "
            "using the pure-torch kernel",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def supports(x: Tensor) -> bool:
    """Whether these kernels take ``x`` (CPU float32/float64) and the build succeeded."""
    return x.device.type == "cpu" and x.dtype in DTYPES and load() is not None


def _ext() -> ModuleType:
    ext = load()
    if ext is None:
        raise RuntimeError("adderflow: the compiled CPU adder kernel could not be built")
    return ext


def l1_distance(x: Tensor, w: Tensor) -> Tensor:
    """``d[l, o] = sum_k |x[l, k] - w[o, k]|``."""
    return _ext().l1_distance(x, w)


def grad_input(x: Tensor, w: Tensor, grad: Tensor, mode: str) -> Tensor:
    """``sum_o g[l, o] · phi(w[o, k] - x[l, k])``, ``phi`` = clamp(-1, 1), identity or sign."""
    if mode == "full":
        return adder_kernels.grad_input(x, w, grad, mode)
    return _ext().grad_input(x, w, grad, mode == "sign")


def grad_weight(x: Tensor, w: Tensor, grad: Tensor, mode: str) -> Tensor:
    """``sum_l g[l, o] · psi(x[l, k] - w[o, k])``, ``psi`` = identity, or sign for "sign"."""
    if mode != "sign":
        return adder_kernels.grad_weight(x, w, grad, mode)
    return _ext().grad_weight_sign(x, w, grad)
