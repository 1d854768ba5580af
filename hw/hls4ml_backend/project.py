"""Register the extension with hls4ml, then write, compile and run a project.

Registration uses only hls4ml's public extension API, for every op mapping
(``ops.MAPPINGS``): ``register_layer`` for its layer class, ``Backend.register_template``
for its config and function templates and ``Backend.register_source`` for the C++ kernels
in ``hw/hls/`` the mappings name. The project comes from
``ModelGraph.from_layer_list``, the entry point hls4ml's own converters use; ``compile()``
builds the g++ C-simulation library and ``trace()`` returns every layer's output.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from adderflow.errors import AdderflowError
from adderflow.hw.hls4ml_backend.convert import INPUT_TENSOR, Conversion, convert
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

BACKEND = "Vitis"
IO_TYPES = ("io_parallel", "io_stream")
INSTALL_HINT = "pip install -e '.[hls]'"
# The header every kernel includes; each op's mapping names its own kernel's header.
COMMON_HEADER = "nnet_adder_common.h"
# hls4ml's own layer classes the converter emits (exact on ap_int codes: tests/test_hls4ml.py).
HLS4ML_LAYERS = frozenset({"Concatenate"})


def _hls4ml():
    try:
        import hls4ml
    except ImportError as exc:
        raise AdderflowError(f"hls4ml is not installed; install it with: {INSTALL_HINT}") from exc
    return hls4ml


_REGISTERED: set[str] = set()


def register() -> None:
    """Register our layers, templates and kernels with hls4ml (idempotent)."""
    if BACKEND in _REGISTERED:
        return
    hls4ml = _hls4ml()
    backend = hls4ml.backends.get_backend(BACKEND)
    for op in MAPPINGS:
        parts = MAPPINGS.get(op).hls4ml_parts()
        if parts is None:
            continue  # a refused op
        layer, templates = parts
        hls4ml.model.layers.register_layer(layer.__name__, layer)
        for template in templates:
            backend.register_template(template)
    for header in kernels():
        backend.register_source(kernel_path(header))
    _REGISTERED.add(BACKEND)


def kernels() -> list[str]:
    """The C++ headers of ``hw/hls`` the mappings name, plus the one they all include."""
    named = {MAPPINGS.get(op).header for op in MAPPINGS} - {""}
    return sorted({COMMON_HEADER, *named})


def kernel_path(name: str) -> Path:
    return Path(str(resources.files("adderflow.hw") / "hls" / name))


# --- a C-simulation run that reads an empty stream fails --------------------------------

_EMPTY_READ = re.compile(r"stream '([^']*)' is read while empty")


@contextlib.contextmanager
def checked_streams(directory: Path) -> Iterator[None]:
    """Run a C-simulation call with the process's stdout/stderr captured, pass the output
    on, and raise if hls4ml's ``hls::stream`` reported a read while empty.

    The C-simulation stream then returns a default value (zeros) and goes on: a kernel that
    reads too few or too many rows computes wrong codes silently, with only a warning on
    the console. That must fail the run, naming the stream.
    """
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as log:
        try:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            yield
        finally:
            libc.fflush(None)  # std::cout shares C stdio's buffer
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            log.seek(0)
            text = log.read().decode(errors="replace")
            sys.stderr.write(text)
        empty = sorted(set(_EMPTY_READ.findall(text)))
    if empty:
        raise AdderflowError(
            f"hls4ml C-simulation of {directory} read the empty stream(s) {', '.join(empty)}: "
            "a kernel consumed more data than its producer wrote, so its codes are wrong"
        )


# --- building, compiling and running a project ---------------------------------------------


@dataclass
class HlsSettings:
    io_type: str = "io_parallel"
    reuse_factor: int = 1
    part: str = "xcvu13p-flga2577-2-e"
    clock_period_ns: float = 5.0
    project_name: str = "adderflow_net"


def _hls_config(conv: Conversion, s: HlsSettings) -> dict[str, Any]:
    inputs = conv.tensors[INPUT_TENSOR]
    # A layer the IR has no tensor of (a link of a chain of joins) is not traced.
    layers = {
        layer["name"]: {"Trace": layer["name"] in conv.ir_tensors} for layer in conv.layers[1:]
    }
    layers[INPUT_TENSOR] = {"Precision": f"ap_int<{inputs.bits}>", "Trace": False}
    for layer in conv.layers[1:]:
        if layer["class_name"] in HLS4ML_LAYERS:
            # hls4ml's own layers take their output type from the config.
            layers[layer["name"]]["Precision"] = f"ap_int<{layer['out_bits']}>"
    return {
        # Model precision only names a default; every layer sets its own ap_int types.
        "Model": {
            "Precision": "ap_int<16>",
            "ReuseFactor": s.reuse_factor,
            "Strategy": "Resource",
            "PipelineStyle": "dataflow",
        },
        "LayerName": layers,
    }


def _check_settings(s: HlsSettings) -> None:
    if s.io_type not in IO_TYPES:
        raise AdderflowError(f"io type '{s.io_type}' is not one of {', '.join(IO_TYPES)}")
    if s.reuse_factor < 1:
        raise AdderflowError(f"reuse factor must be at least 1, got {s.reuse_factor}")


class HlsProject:
    """An hls4ml project of one IR model: write, compile (g++ C-simulation), run."""

    def __init__(self, model: onnx.ModelProto, directory: Path, settings: HlsSettings) -> None:
        _check_settings(settings)
        self.conversion = convert(model)
        self.directory = Path(directory)
        self.settings = settings
        self._graph = None
        self._compiled_ok = False

    def _build(self):
        """The hls4ml ModelGraph: hls4ml's flows run here (templates, types, validation)."""
        hls4ml = _hls4ml()
        register()
        config = hls4ml.utils.config.create_config(
            output_dir=str(self.directory),
            project_name=self.settings.project_name,
            backend=BACKEND,
            part=self.settings.part,
            clock_period=self.settings.clock_period_ns,
            io_type=self.settings.io_type,
        )
        config["HLSConfig"] = _hls_config(self.conversion, self.settings)
        # A deep copy: hls4ml keeps each layer's ``inputs`` list and rewires it in place
        # (io_stream's clone_output pass points a fork's readers at ``<tensor>_cpyN``), so
        # a shallow copy would hand the next build (write() then compile()) inputs that
        # name clones it has not made yet.
        layers = copy.deepcopy(self.conversion.layers)
        graph = hls4ml.model.ModelGraph.from_layer_list(config, layers)
        # Trace hooks are compiled in (off until trace() enables them), so one build serves
        # both predict() and trace().
        graph.config.trace_output = True
        return graph

    def write(self) -> None:
        """Generate the project in ``directory``, replacing an earlier one."""
        self._fresh_graph().write()

    def compile(self) -> None:
        """Write the project and build its C-simulation library with g++."""
        if shutil.which("g++") is None:
            raise AdderflowError("g++ not found; install it with: apt-get install -y g++")
        self._fresh_graph().compile()
        self._compiled_ok = True

    def _fresh_graph(self):
        # A project is regenerated whole: a half-written one from an interrupted run must
        # not survive next to new files.
        if self.directory.exists():
            shutil.rmtree(self.directory)
        self._compiled_ok = False
        self._graph = self._build()
        return self._graph

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """The model output on NCHW integer ``codes`` (a batch), in the IR's layout."""
        graph = self._compiled()
        with checked_streams(self.directory):
            out = graph.predict(self._to_channels_last(codes))
        out = np.asarray(out).reshape(len(codes), -1)
        return self.conversion.to_reference_layout(self.conversion.output, out)

    def trace(self, codes: np.ndarray) -> dict[str, np.ndarray]:
        """Every tensor the model computes, by IR name and IR layout.

        hls4ml's ``trace()`` always rebuilds the library, so a written project is enough.
        """
        if self._graph is None:
            raise AdderflowError(f"write the hls4ml project {self.directory} first")
        if shutil.which("g++") is None:
            raise AdderflowError("g++ not found; install it with: apt-get install -y g++")
        with checked_streams(self.directory):
            _, traces = self._graph.trace(self._to_channels_last(codes))
        self._compiled_ok = True
        return {
            name: self.conversion.to_reference_layout(name, np.asarray(values))
            for name, values in traces.items()
        }

    def _compiled(self):
        if not self._compiled_ok:
            raise AdderflowError(f"compile the hls4ml project {self.directory} first")
        return self._graph

    def _to_channels_last(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes, dtype=np.int64)
        if codes.ndim == 4:
            codes = codes.transpose(0, 2, 3, 1)
        elif codes.ndim == 3:  # a 1-D signal [C, L]: L pixels of C channels
            codes = codes.transpose(0, 2, 1)
        # Doubles carry every supported code exactly (MAX_TENSOR_BITS).
        return np.ascontiguousarray(codes.reshape(len(codes), -1), dtype=np.float64)
