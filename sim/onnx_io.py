"""Reading ONNX files with one clear error, shared by every torch-free entry point."""

from __future__ import annotations

from pathlib import Path

import onnx

from adderflow.errors import ModelFormatError


def read_onnx(path: str | Path) -> onnx.ModelProto:
    """Load and check any ONNX file; a missing or broken file is one error naming it."""
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(f"model file {path} does not exist")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf DecodeError, ValidationError, ...
        raise ModelFormatError(f"model file {path} is not a valid ONNX model: {exc}") from exc
    return model


_REQUIRED = object()


def node_attr(node: onnx.NodeProto, name: str, default=_REQUIRED):
    """An attribute's Python value (strings decoded); a missing required one names the node."""
    for attribute in node.attribute:
        if attribute.name == name:
            value = onnx.helper.get_attribute_value(attribute)
            return value.decode() if isinstance(value, bytes) else value
    if default is _REQUIRED:
        raise ModelFormatError(f"node '{node.name}' lacks attribute '{name}'")
    return default
