"""``adderflow import MODEL.onnx --to-run DIR``: a quantized model made elsewhere as a run.

The model becomes a ``QuantizedNetwork`` (``export.import_network``, exact or refused by
name), written with the quantize stage's own writer (``model_files``), so ``verify``,
``rtl``, ``hls``, ``synth`` and ``report`` run on it unchanged. The run has no
checkpoints: its ``stages.json`` records the quantize stage as finished, the quantized
PyTorch model ``verify`` checks is rebuilt from ``model.network.npz``, and ``verify`` also
runs the model it was made from (``imported.onnx``: onnxruntime for QDQ, qonnx for
``Quant``) and compares its outputs, in codes, with the reference's (``imported_model``).

The checks need inputs. By default ``inputs.npz`` holds ``samples`` seeded random inputs
(``data.name=npz``) drawn over the input quantizer's range and two codes beyond it on each
side (saturation), a quarter of them on exact half-code ties (round half to even), the
first two all-max and all-min (for a binary network, on the grid: codes only). A dataset
named instead (``data``, ``data_root``) must have the model's input shape.

Nothing is half-written: the run is assembled in a temporary folder beside ``DIR`` and
renamed into place; ``DIR`` must not exist or be an empty folder. Torch-free.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from adderflow import rundir
from adderflow.atomic import atomic_write_bytes, atomic_write_text
from adderflow.config import Config, dump_config, validate
from adderflow.errors import ConfigError, DataError, require_file
from adderflow.run_paths import RUN_MARK, RunPaths

DEFAULT_SAMPLES = 256


def random_inputs(net, samples: int, seed: int) -> np.ndarray:
    """``samples`` float32 inputs over ``net``'s input range (see the module doc); on the
    input grid for a binary network (its sign stem equals the model there only)."""
    if samples < 2:
        raise ConfigError(f"--samples must be at least 2, got {samples}")
    t = net.input_type
    rng = np.random.default_rng(seed)
    shape = (samples, *net.input_shape)
    codes = rng.integers(t.qmin - 2, t.qmax + 3, size=shape).astype(np.float64)
    offsets = rng.uniform(-0.5, 0.5, size=shape)
    ties = rng.random(samples) < 0.25
    offsets[ties] = 0.5
    if any(getattr(layer, "kind", "") == "xnor" for layer in net.layers):
        offsets[:] = 0.0
    x = codes + offsets
    x[0], x[1] = t.qmax + 2, t.qmin - 2
    return (x * 2.0**-t.frac).astype(np.float32)


def _check_target(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(
            f"--to-run {out} exists and is not an empty folder: choose a new run directory"
        )
    rundir.check_writable_target(out)


def _config(net, out: Path, data: str | None, data_root: str | None, seed: int) -> Config:
    cfg = Config(seed=seed)
    cfg.data.name = data or "npz"
    cfg.data.root = str(RunPaths(out).inputs) if data is None else data_root
    if cfg.data.root:
        cfg.data.root = os.path.abspath(os.path.expanduser(cfg.data.root))
    cfg.data.seed = seed
    cfg.quant.bits = net.input_type.bits
    validate(cfg)
    return cfg


def _check_data(net, cfg: Config) -> None:
    from adderflow.runs import load_data

    shape = load_data(cfg).input_shape
    if tuple(shape) != tuple(net.input_shape):
        raise DataError(
            f"dataset '{cfg.data.name}' has inputs of shape {list(shape)}; the model takes "
            f"{list(net.input_shape)}"
        )


def import_to_run(
    model_path: str | Path,
    out: str | Path,
    *,
    data: str | None = None,
    data_root: str | None = None,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> Path:
    """Turn the quantized ONNX model ``model_path`` into the run directory ``out``."""
    from adderflow.export.import_network import network_from_onnx

    if data is None and data_root is not None:
        raise ConfigError("--data-root names the files of a dataset: give --data NAME too")
    if data is None and samples < 2:
        raise ConfigError(f"--samples must be at least 2, got {samples}")
    source = require_file(model_path, "model file", ConfigError)
    out = rundir.absolute(out)
    _check_target(out)
    net = network_from_onnx(source)
    cfg = _config(net, out, data, data_root, seed)
    if data is not None:
        _check_data(net, cfg)
    tmp = out.parent / f".{out.name}.import-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        _write_run(RunPaths(tmp), net, cfg, source, samples if data is None else 0)
        if out.is_dir():
            out.rmdir()  # empty (checked above); rename needs the name free
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"[import] {source} → {out}: {len(net.layers)} layers, input {net.input_type}")
    return out


def _write_run(paths: RunPaths, net, cfg: Config, source: Path, samples: int) -> None:
    from adderflow.model_files import write_models
    from adderflow.runs import Run
    from adderflow.sim.cost import twins
    from adderflow.stage_log import StageLog

    (paths.root / RUN_MARK).write_text("adderflow run directory\n")
    atomic_write_text(paths.config, dump_config(cfg))
    atomic_write_bytes(paths.source_model, source.read_bytes())
    if samples:  # plain writes: the whole folder is renamed into place when complete
        with open(paths.inputs, "wb") as handle:
            np.savez(handle, x=random_inputs(net, samples, cfg.seed))
    run = Run(out=paths.root, cfg=cfg)
    model = write_models(paths, net, log=run.log)
    run.update_metrics(
        dataset=cfg.data.name,
        bits=cfg.quant.bits,
        imported={
            "source": str(source.resolve()),
            "layers": len(net.layers),
            "input_type": str(net.input_type),
            "output_type": str(net.output_type),
            "inputs": f"{samples} seeded random inputs (seed {cfg.seed})" if samples else None,
        },
        cost=twins(model).to_dict(),
    )
    StageLog(paths, cfg).record("quantize")


def imported_outputs(path: str | Path, x: np.ndarray) -> np.ndarray:
    """The imported model's own (fake-quantized, float) outputs on ``x``: onnxruntime for a
    standard-ONNX model (QDQ), qonnx's execution otherwise (``Quant`` nodes), on the model
    tidied as the import read it."""
    from adderflow.export.import_network import export_batch
    from adderflow.export.importer import load_foreign
    from adderflow.export.lower_standard import run_onnxruntime
    from adderflow.sim.executor import with_batch_size
    from adderflow.sim.onnx_io import STANDARD_DOMAINS

    model = load_foreign(path).model
    name = model.graph.output[0].name
    standard = all(node.domain in STANDARD_DOMAINS for node in model.graph.node)

    def run(batch: np.ndarray) -> np.ndarray:
        sized = with_batch_size(model, len(batch))
        if standard:
            return run_onnxruntime(sized, batch)[name]
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx

        wrapper = ModelWrapper(sized)
        return execute_onnx(wrapper, {wrapper.graph.input[0].name: batch})[name]

    try:
        return np.asarray(run(x))
    except Exception:  # a batch fixed in the file (a traced Reshape to [B, -1]): chunks of B
        batch = export_batch(model)
        padded = np.concatenate([x, np.repeat(x[-1:], -len(x) % batch, axis=0)])
        chunks = [np.asarray(run(padded[i : i + batch])) for i in range(0, len(padded), batch)]
        return np.concatenate(chunks)[: len(x)]


def check_imported(run, model, x: np.ndarray, reference: dict):
    """The imported model's outputs in codes (times ``2**frac`` of the IR's output)
    against the reference's: equal, or the model's float arithmetic is not exactly what
    the integers compute (float32 accumulations past 24 bits round)."""
    from adderflow.sim.compare import compare
    from adderflow.sim.executor import output_name

    frac = int(onnx_prop(model, "adderflow.output_frac"))
    out = imported_outputs(run.paths.source_model, x).astype(np.float64) * 2.0**frac
    name = output_name(model)
    return compare(model, reference, {name: out.reshape(reference[name].shape)})


def onnx_prop(model, key: str) -> str:
    props = {p.key: p.value for p in model.metadata_props}
    if key not in props:
        raise ConfigError(f"the run's model has no '{key}' property: export it again")
    return props[key]
