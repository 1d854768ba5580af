"""The compiled CPU adder kernel against the pure-torch kernel it replaces.

Exact (``torch.equal``) on values that are multiples of 1/4 (the HardTanh clip then lands
between the codes, and every sum stays exactly representable); on random normal floats the
two agree to a stated tolerance, since they add the same terms in a different order.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import zlib

import pytest
import torch
from tools import missing

from adderflow.nn import adder_conv2d, adder_cpu, adder_kernels, adder_linear

MODES = ("hardtanh", "full", "sign")
# Rows, filters and columns around the micro-tile (8 or 4 rows, 16 or 8 lanes) and the
# forward's 256-column reduction block: tails everywhere, one of each, wide and deep.
ROW_SHAPES = [
    (1, 1, 1), (3, 2, 5), (8, 16, 16), (9, 17, 17), (37, 5, 3), (64, 33, 144),
    (100, 16, 257), (13, 64, 600), (70, 3, 1), (5, 70, 31),
]  # fmt: skip


@pytest.fixture(scope="module")
def compiled():
    if adder_cpu.load() is None:
        missing(
            "the compiled CPU adder kernel did not build: "
            "apt-get install g++; pip install ninja"
        )
    return adder_cpu


def _quarters(shape, bound, gen, dtype):
    """Values in multiples of 1/4 within ``[-bound, bound]``."""
    return (torch.randint(-4 * bound, 4 * bound + 1, shape, generator=gen) / 4).to(dtype)


def _all_grads(kern, x, w, g, mode, **extra):
    return (
        kern.l1_distance(x, w, **extra),
        kern.grad_input(x, w, g, mode, **extra),
        kern.grad_weight(x, w, g, mode, **extra),
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", ROW_SHAPES, ids=str)
def test_rows_exact_on_quarter_values(compiled, shape, dtype):
    n, o, k = shape
    gen = torch.Generator().manual_seed(n * 1000 + o * 10 + k)
    x, w = _quarters((n, k), 6, gen, dtype), _quarters((o, k), 6, gen, dtype)
    g = _quarters((n, o), 3, gen, dtype)
    for mode in MODES:
        got = _all_grads(compiled, x, w, g, mode)
        want = _all_grads(adder_kernels, x, w, g, mode)
        for a, b in zip(got, want, strict=True):
            assert torch.equal(a, b), (mode, shape)


@pytest.mark.parametrize(
    "dtype, bound", [(torch.float32, 2**13), (torch.float64, 2**40)], ids=["f32", "f64"]
)
@pytest.mark.parametrize("extreme", ["max", "min", "alternating"])
def test_extremes_are_exact(compiled, dtype, bound, extreme):
    """All-max and all-min codes against the opposite extreme: the largest distances a
    ``600``-column row can reach in the dtype's exact-integer range."""
    n, o, k = 11, 19, 600
    x = torch.full((n, k), float(bound), dtype=dtype)
    if extreme == "min":
        x = -x
    elif extreme == "alternating":
        x[::2] = -x[::2]
    w = -x[:1].expand(o, k).clone()
    w[::3] = 0.0
    g = torch.ones(n, o, dtype=dtype)
    for mode in MODES:
        got = _all_grads(compiled, x, w, g, mode)
        want = _all_grads(adder_kernels, x, w, g, mode)
        for a, b in zip(got, want, strict=True):
            assert torch.equal(a, b), mode
    assert torch.equal(compiled.l1_distance(x, w), (x[:, None] - w[None]).abs().sum(-1))


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 2e-6), (torch.float64, 1e-14)])
def test_random_floats_within_stated_tolerance(compiled, dtype, tol):
    """Different summation order only: |got - want| <= tol · (sum of the terms' sizes)."""
    gen = torch.Generator().manual_seed(7)
    n, o, k = 300, 40, 300
    x = torch.randn(n, k, generator=gen, dtype=dtype)
    w = 0.1 * torch.randn(o, k, generator=gen, dtype=dtype)
    g = torch.randn(n, o, generator=gen, dtype=dtype)
    scale = {  # sum of |term| per output element: the error bound's yardstick
        "distance": (x[:, None] - w[None]).abs().sum(-1),
        "input": g.abs() @ torch.ones(o, k, dtype=dtype),
        "weight": g.abs().t() @ torch.ones(n, k, dtype=dtype),
    }
    for mode in MODES:
        got = _all_grads(compiled, x, w, g, mode)
        want = _all_grads(adder_kernels, x, w, g, mode)
        for name, a, b in zip(scale, got, want, strict=True):
            err = ((a - b).abs() / scale[name]).max().item()
            assert err <= tol, (mode, name, err)


def test_kernel_runs_on_torchs_threads(compiled):
    """at::parallel_for is a header template: built without torch's OpenMP flag it ran
    every task on the calling thread at any thread count."""
    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            assert compiled.load().task_threads(64) == threads
            assert compiled.load().task_threads(1) == 1
    finally:
        torch.set_num_threads(before)


def test_threads_give_identical_results(compiled):
    gen = torch.Generator().manual_seed(3)
    x, w = torch.randn(333, 150, generator=gen), torch.randn(21, 150, generator=gen)
    g = torch.randn(333, 21, generator=gen)
    before = torch.get_num_threads()
    try:
        runs = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            runs.append([t for mode in MODES for t in _all_grads(compiled, x, w, g, mode)])
    finally:
        torch.set_num_threads(before)
    for run in runs[1:]:
        assert all(torch.equal(a, b) for a, b in zip(run, runs[0], strict=True))


CONV_CASES = [  # (n, c, h, w, o, k, stride, padding, dilation, groups)
    (2, 3, 9, 7, 5, 3, 1, 1, 1, 1),
    (1, 4, 8, 8, 6, 3, 2, 0, 1, 2),
    (3, 16, 6, 6, 16, 3, 1, 1, 1, 1),
    (2, 5, 11, 10, 7, (3, 1), (2, 1), (1, 0), (1, 2), 1),
    (1, 6, 10, 10, 6, 3, 1, 2, 2, 6),
    (2, 2, 5, 5, 3, 1, 1, 0, 1, 1),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
@pytest.mark.parametrize("mode", MODES)
def test_conv_matches_torch_backend(compiled, case, mode, dtype, monkeypatch):
    n, c, h, wd, o, k, stride, padding, dilation, groups = case
    kernel = k if isinstance(k, tuple) else (k, k)
    gen = torch.Generator().manual_seed(zlib.crc32(repr(case).encode()))
    x = _quarters((n, c, h, wd), 4, gen, dtype)
    w = _quarters((o, c // groups, *kernel), 4, gen, dtype)
    geo = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, grad=mode)
    results = {}
    for backend in ("cpp", "torch"):
        monkeypatch.setenv("ADDERFLOW_ADDER_BACKEND", backend)
        xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
        y = adder_conv2d(xr, wr, **geo)
        g = _quarters(y.shape, 2, torch.Generator().manual_seed(1), y.dtype)
        results[backend] = (y.detach(), *torch.autograd.grad(y, (xr, wr), g))
    for a, b in zip(results["cpp"], results["torch"], strict=True):
        assert torch.equal(a, b)


def test_linear_layer_uses_the_compiled_kernel(compiled, monkeypatch):
    """``auto`` picks it for CPU floats; integer tensors stay on the torch kernel."""
    from adderflow.nn import adder

    monkeypatch.setenv("ADDERFLOW_ADDER_BACKEND", "auto")
    assert adder._kernels_for(torch.zeros(1)) is adder_cpu
    assert adder._kernels_for(torch.zeros(1, dtype=torch.int64)) is adder_kernels
    x = torch.arange(12.0).reshape(3, 4)
    w = torch.tensor([[0.0, 1, 2, 3], [4, 4, 4, 4]])
    assert torch.equal(adder_linear(x, w), -(x[:, None] - w[None]).abs().sum(-1))


def test_without_a_compiler_falls_back_with_one_warning(tmp_path):
    """A broken compiler: one warning line, and the layers still compute (torch kernel)."""
    script = textwrap.dedent(
        """
        import warnings
        import torch
        from adderflow.nn import adder_conv2d, adder_cpu
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            x, w = torch.ones(1, 2, 4, 4), torch.zeros(3, 2, 3, 3)
            y = adder_conv2d(x, w, padding=1)
            adder_conv2d(x, w, padding=1)
        assert adder_cpu.load() is None
        assert y[0, 0, 1, 1].item() == -18.0 and y[0, 0, 0, 0].item() == -8.0
        lines = [str(c.message) for c in caught if "adder kernel" in str(c.message)]
        assert len(lines) == 1 and "\\n" not in lines[0], lines
        print(lines[0])
        """
    )
    env = dict(
        os.environ,
        CXX=str(tmp_path / "no-such-compiler"),
        TORCH_EXTENSIONS_DIR=str(tmp_path / "ext"),
        ADDERFLOW_ADDER_BACKEND="auto",
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "using the pure-torch kernel" in done.stdout


def test_a_lock_left_by_a_killed_build_is_removed_and_said(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(adder_cpu, "IDLE_SECONDS", 0.5)
    monkeypatch.setattr(adder_cpu, "POLL_SECONDS", 0.05)
    lock = tmp_path / "lock"
    lock.touch()
    start = time.monotonic()
    assert adder_cpu.wait_for_build_lock(tmp_path) and not lock.exists()
    assert time.monotonic() - start >= 0.5  # no builder for IDLE_SECONDS in a row
    assert f"removed {lock}" in capsys.readouterr().err


def test_a_live_build_is_waited_for_not_broken(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(adder_cpu, "IDLE_SECONDS", 0.5)
    monkeypatch.setattr(adder_cpu, "POLL_SECONDS", 0.05)
    lock = tmp_path / "lock"
    lock.touch()
    # A "build" working in the folder for 1.5 s (three idle spans), then releasing the lock.
    builder = subprocess.Popen(["sh", "-c", "sleep 1.5; rm lock"], cwd=tmp_path)
    try:
        assert not adder_cpu.wait_for_build_lock(tmp_path)  # never removed it
    finally:
        builder.wait()
    err = capsys.readouterr().err
    assert "waiting for another process building" in err and "removed" not in err


def test_a_first_build_says_so_on_stderr(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    adder_cpu._prepare("adderflow_probe")
    assert "building the compiled CPU adder kernel (once, ~1 min)" in capsys.readouterr().err
    (tmp_path / "adderflow_probe" / "adderflow_probe.so").touch()
    adder_cpu._prepare("adderflow_probe")
    assert capsys.readouterr().err == ""  # built: nothing to say
