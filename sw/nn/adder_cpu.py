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

The first build takes a minute or more and torch prints nothing, so one line on stderr says
it is happening. A build killed midway (a CI timeout, OOM) leaves torch's ``lock`` file
behind, on which every later ``load`` would wait forever (torch's wait has no timeout).
So ``load`` waits on the lock itself first: while a process builds in that folder (ninja and
the compiler run there) it waits, saying so once; a lock with no builder for
``IDLE_SECONDS`` in a row was left by a killed build and is removed, and said so.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from adderflow.nn import adder_kernels

SOURCE = Path(__file__).with_name("adder_cpu.cpp")


def _openmp_flags() -> tuple[str, ...]:
    """``-fopenmp`` where torch runs its threads with OpenMP (Linux wheels).

    ``at::parallel_for`` is a header template: with torch's OpenMP backend its parallel
    region is an ``#pragma omp parallel`` compiled into this extension, so without
    ``-fopenmp`` it runs every task on the calling thread (the kernel was single-threaded
    at any ``torch.set_num_threads``). Only the compile gets the flag, not the link: the
    ``GOMP_*`` and ``omp_*`` calls then bind to the OpenMP runtime torch itself loads
    (its own ``libgomp``), so the kernel shares torch's thread pool and thread count.
    torch's native backend needs nothing: its ``parallel_for`` calls into libtorch.
    """
    openmp = sys.platform.startswith("linux") and torch.backends.openmp.is_available()
    return ("-fopenmp",) if openmp else ()


CFLAGS = ("-O3", "-march=native", "-fno-math-errno", *_openmp_flags())
DTYPES = (torch.float32, torch.float64)
# A live build has ninja or the compiler working in its folder all but a second or so.
IDLE_SECONDS = 30.0
POLL_SECONDS = 2.0


def _cpu_id() -> str:
    """What ``-march=native`` compiles for: the CPU's model and feature flags."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    lines = [ln for ln in info.splitlines() if ln.startswith(("model name", "flags"))]
    return "\n".join(dict.fromkeys(lines))


def build_name() -> str:
    """The cached extension's name: source, flags, CPU and torch version hashed, and where
    the source and torch live. torch writes both paths into the folder's ``build.ninja``,
    so two checkouts (or virtual environments) sharing one folder rebuilt it each time the
    other loaded it; each gets its own folder instead and builds once."""
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join(CFLAGS).encode(), _cpu_id().encode()):
        digest.update(part)
    digest.update(torch.__version__.encode())
    for path in (SOURCE, Path(torch.__file__).parent):
        digest.update(str(path.resolve()).encode())
    return f"adderflow_adder_cpu_{digest.hexdigest()[:16]}"


def _builder_running(build_dir: Path) -> bool:
    """Whether any process works in ``build_dir`` (ninja and the compiler run there)."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(proc / "cwd")) == build_dir:
                return True
        except OSError:
            continue
    return False


def wait_for_build_lock(build_dir: Path) -> bool:
    """Return once torch's build ``lock`` in ``build_dir`` is gone: wait while a process
    builds there; remove a lock no process has worked on for ``IDLE_SECONDS`` (a killed
    build's). Whether a lock was removed."""
    lock, said, idle_since = build_dir / "lock", False, time.monotonic()
    while lock.exists():
        if _builder_running(build_dir):
            idle_since = time.monotonic()
            if not said:
                print(f"adderflow: waiting for another process building in {build_dir} ...",
                      file=sys.stderr, flush=True)  # fmt: skip
                said = True
        elif time.monotonic() - idle_since >= IDLE_SECONDS:
            lock.unlink(missing_ok=True)
            print(f"adderflow: removed {lock}, left by a build that was killed", file=sys.stderr)
            return True
        time.sleep(POLL_SECONDS)
    return False


def _prepare(name: str) -> None:
    """Clear a stale lock and, when the library is not built yet, say that it is built."""
    from torch.utils import cpp_extension

    try:
        build_dir = Path(cpp_extension._get_build_directory(name, False))
    except (AttributeError, OSError):  # torch moved its private helper: load() still works
        return
    wait_for_build_lock(build_dir)
    if not (build_dir / f"{name}.so").is_file():
        print(
            f"adderflow: building the compiled CPU adder kernel (once, ~1 min) in {build_dir} ...",
            file=sys.stderr,
            flush=True,
        )


@contextmanager
def _environment_ninja() -> Iterator[None]:
    """torch runs the first ``ninja`` on ``PATH``: the system's, or the virtual
    environment's (pip's) once it is activated. Two ninja versions read each other's
    ``.ninja_deps`` as stale and rebuild the kernel each time the other one ran (a minute
    per switch), so the environment's own ninja, where it has one, is always the one."""
    here = str(Path(sys.executable).parent)
    saved = os.environ.get("PATH", "")
    if not (Path(here) / "ninja").is_file():
        yield
        return
    os.environ["PATH"] = os.pathsep.join([here, saved])
    try:
        yield
    finally:
        os.environ["PATH"] = saved


@cache
def load() -> ModuleType | None:
    """The compiled module, building it on the first call; ``None`` (warned) if it cannot be."""
    from torch.utils import cpp_extension

    try:
        _prepare(build_name())
        with _environment_ninja():
            return cpp_extension.load(
                name=build_name(), sources=[str(SOURCE)], extra_cflags=list(CFLAGS),
                verbose=False,
            )  # fmt: skip
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


# Rows x [L, K] go to the C++ functions as L one-pixel images of K channels, [L, 1, 1, K],
# and per-row tensors [L, O] as [L, O, 1, 1].
ROWS_GEOMETRY = [1, 1, 1, 1, 1, 1]


def l1_distance(x: Tensor, w: Tensor) -> Tensor:
    """``d[l, o] = sum_k |x[l, k] - w[o, k]|``."""
    out = x.new_empty(x.shape[0], w.shape[0])
    _ext().forward(x[:, None, None, :], w, ROWS_GEOMETRY, out[:, :, None, None], False)
    return out


def grad_input(x: Tensor, w: Tensor, grad: Tensor, mode: str) -> Tensor:
    """``sum_o g[l, o] · phi(w[o, k] - x[l, k])``, ``phi`` = clamp(-1, 1), identity or sign."""
    if mode == "full":
        return adder_kernels.grad_input(x, w, grad, mode)
    g = grad.to(x.dtype)[:, :, None, None]
    return _ext().grad_input(x[:, None, None, :], w, g, ROWS_GEOMETRY, mode == "sign")[:, 0, 0]


def grad_weight(x: Tensor, w: Tensor, grad: Tensor, mode: str) -> Tensor:
    """``sum_l g[l, o] · psi(x[l, k] - w[o, k])``, ``psi`` = identity, or sign for "sign"."""
    if mode != "sign":
        return adder_kernels.grad_weight(x, w, grad, mode)
    g = grad.to(x.dtype)[:, :, None, None]
    return _ext().grad_weight_sign(x[:, None, None, :], w, g, ROWS_GEOMETRY)


# ------------------------------------------------------------------------- convolution


def conv(x: Tensor, w: Tensor, geo: tuple, grad_mode: str) -> Tensor:
    """Negative ℓ1 distances of every patch of ``x [N, C, H, W]`` to every filter
    ``w [O, C, kh, kw]`` (one group), ``[N, O, Hout, Wout]`` in ``x``'s memory format, with
    the ``grad_mode`` ("hardtanh" or "sign") backward.

    The kernel reads the patches in place from a zero-padded channels-last copy of ``x``
    (no patch matrix), writes the output in its final layout, and adds the input gradient
    straight into a padded image. The full-precision filter gradient ``sum (x - w) g`` is a
    convolution's weight gradient minus ``w`` times the summed grad: torch computes it.
    """
    return _Conv.apply(x, w, geo, grad_mode)


def _geometry(w: Tensor, geo: tuple) -> list[int]:
    (sh, sw), _, (dh, dw) = geo
    return [w.shape[2], w.shape[3], sh, sw, dh, dw]


def _memory_format(x: Tensor) -> torch.memory_format:
    channels_last = x.is_contiguous(memory_format=torch.channels_last)
    return torch.channels_last if channels_last else torch.contiguous_format


class _Conv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, geo: tuple, grad_mode: str) -> Tensor:
        (n, c, h, wd), (ph, pw) = x.shape, geo[1]
        padded = x.new_zeros(n, h + 2 * ph, wd + 2 * pw, c)
        padded[:, ph : ph + h, pw : pw + wd] = x.permute(0, 2, 3, 1)
        filters = w.permute(0, 2, 3, 1).reshape(w.shape[0], -1)
        geometry = _geometry(w, geo)
        ho, wo = (
            (padded.shape[1 + a] - geometry[4 + a] * (geometry[a] - 1) - 1) // geometry[2 + a] + 1
            for a in (0, 1)
        )
        out = torch.empty(n, w.shape[0], ho, wo, dtype=x.dtype, memory_format=_memory_format(x))
        _ext().forward(padded, filters, geometry, out, True)
        ctx.save_for_backward(x, w, padded, filters)
        ctx.geo, ctx.grad_mode = geo, grad_mode
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        x, w, padded, filters = ctx.saved_tensors
        geo, sign, grad = ctx.geo, ctx.grad_mode == "sign", grad.to(x.dtype)
        gx = gw = None
        if ctx.needs_input_grad[0]:
            (h, wd), (ph, pw) = x.shape[2:], geo[1]
            gxp = _ext().grad_input(padded, filters, grad, _geometry(w, geo), sign)
            gx = gxp[:, ph : ph + h, pw : pw + wd].permute(0, 3, 1, 2)
            gx = gx.contiguous(memory_format=_memory_format(x))
        if ctx.needs_input_grad[1]:
            if sign:
                gw = _ext().grad_weight_sign(padded, filters, grad, _geometry(w, geo))
                gw = gw.reshape(w.shape[0], *w.shape[2:], w.shape[1]).permute(0, 3, 1, 2)
            else:
                gw = _full_weight_grad(x, w, grad, geo)
        return gx, gw, None, None


def _full_weight_grad(x: Tensor, w: Tensor, grad: Tensor, geo: tuple) -> Tensor:
    """``sum_l g[l, o] (x[l, k] - w[o, k])``: a convolution's weight gradient minus ``g``'s
    sum times ``w``."""
    stride, padding, dilation = (list(v) for v in geo)
    _, gw, _ = torch.ops.aten.convolution_backward(
        grad, x, w, None, stride, padding, dilation, False, [0, 0], 1, [False, True, False]
    )
    return gw - grad.sum((0, 2, 3))[:, None, None, None] * w
