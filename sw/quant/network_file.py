"""The quantized network as a file (``model.network.npz``): every layer's integer data.

A trained run re-derives its network from the student checkpoint (both quantizers are
deterministic), so there the file is a record. A run made by ``adderflow import --to-run``
has no checkpoint: the file is its network, the one ``verify`` runs the quantized PyTorch
model from.

Format: one ``.npz`` (read with ``allow_pickle=False``). Its entry ``spec`` is a JSON text
of the ``QuantizedNetwork``: each dataclass as an object with ``"__class__"`` and its
fields, each array as ``{"__array__": KEY}`` naming another entry of the file, tuples as
lists. Every layer class of ``spec.Layer`` is readable, so a new layer kind needs no
change here. Torch-free.
"""

from __future__ import annotations

import dataclasses
import io
import json
import typing
from pathlib import Path
from typing import Any

import numpy as np

from adderflow.atomic import atomic_write_bytes
from adderflow.errors import ModelFormatError
from adderflow.fixed import BipolarType, FixedType, RequantParams, Threshold
from adderflow.quant.spec import Layer, QuantizedNetwork

FORMAT = 1
SPEC_KEY = "spec"
_CLASSES = {
    cls.__name__: cls
    for cls in (
        *typing.get_args(Layer),
        QuantizedNetwork,
        FixedType,
        BipolarType,
        RequantParams,
        Threshold,
    )
}


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if _CLASSES.get(name) is not type(value):
            raise ModelFormatError(f"network file: cannot store a {name}")
        fields = {
            f.name: _encode(getattr(value, f.name), arrays) for f in dataclasses.fields(value)
        }
        return {"__class__": name, **fields}
    if isinstance(value, np.ndarray):
        key = f"array{len(arrays)}"
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, (tuple, list)):
        return [_encode(item, arrays) for item in value]
    if isinstance(value, np.integer):
        return int(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ModelFormatError(f"network file: cannot store a value of type {type(value).__name__}")


def _decode(value: Any, arrays: Any, where: str) -> Any:
    if isinstance(value, list):
        return tuple(_decode(item, arrays, where) for item in value)
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        key = value["__array__"]
        if key not in arrays:
            raise ModelFormatError(f"{where}: array '{key}' is missing")
        return np.asarray(arrays[key])
    cls = _CLASSES.get(value.get("__class__", ""))
    if cls is None:
        raise ModelFormatError(f"{where}: unknown entry {value.get('__class__')!r}")
    fields = {k: _decode(v, arrays, where) for k, v in value.items() if k != "__class__"}
    try:
        return cls(**fields)
    except TypeError as exc:
        raise ModelFormatError(f"{where}: {cls.__name__}: {exc}") from exc


def network_bytes(net: QuantizedNetwork) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    spec = {"format": FORMAT, "network": _encode(net, arrays)}
    buffer = io.BytesIO()
    np.savez(buffer, **{SPEC_KEY: np.array(json.dumps(spec))}, **arrays)
    return buffer.getvalue()


def write_network(path: str | Path, net: QuantizedNetwork) -> Path:
    """Write ``net`` to ``path`` atomically."""
    return atomic_write_bytes(path, network_bytes(net))


def read_network(path: str | Path) -> QuantizedNetwork:
    """The network ``write_network`` wrote; a damaged or foreign file is an error naming it."""
    where = f"network file {path}"
    try:
        with np.load(path, allow_pickle=False) as arrays:
            spec = json.loads(str(arrays[SPEC_KEY]))
            if not isinstance(spec, dict) or spec.get("format") != FORMAT:
                raise ModelFormatError(f"{where}: not format {FORMAT}")
            net = _decode(spec.get("network"), arrays, where)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelFormatError(f"{where}: unreadable ({exc})") from exc
    if not isinstance(net, QuantizedNetwork):
        raise ModelFormatError(f"{where}: holds no quantized network")
    return net
