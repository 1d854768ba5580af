"""Reading ONNX files with one clear error, shared by every torch-free entry point."""

from __future__ import annotations

from pathlib import Path

import onnx

from adderflow.errors import ModelFormatError, require_file

STANDARD_DOMAINS = ("", "ai.onnx")


def read_onnx(path: str | Path) -> onnx.ModelProto:
    """Load and check any ONNX file; a missing or broken file is one error naming it.

    Before ``onnx.checker`` runs, two mistakes it reports obscurely get an error naming
    the node: an input nothing defines (a missing initializer) and a standard-domain op
    ONNX does not have. Every message is one line (the CLI prints it as is).
    """
    path = require_file(path, "model file", ModelFormatError)
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError, ...
        raise ModelFormatError(
            f"model file {path} is not a valid ONNX model: {one_line(exc)}"
        ) from exc
    check_graph_inputs(model, f"model file {path}")
    check_standard_ops(model, f"model file {path}")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # ValidationError, ...
        raise ModelFormatError(
            f"model file {path} is not a valid ONNX model: {one_line(exc)}"
        ) from exc
    return model


def one_line(exc: BaseException | str) -> str:
    """A (possibly multi-line) message as one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def node_label(node: onnx.NodeProto) -> str:
    """How errors name a node: its name, or its first output when it has none."""
    return node.name or (node.output[0] if node.output else f"<unnamed {node.op_type}>")


def check_graph_inputs(model: onnx.ModelProto, where: str = "model") -> None:
    """Every node input is an initializer, a graph input or an earlier node's output."""
    graph = model.graph
    defined = {t.name for t in graph.initializer} | {vi.name for vi in graph.input}
    produced_later = {out for node in graph.node for out in node.output}
    for node in graph.node:
        for name in node.input:
            if name and name not in defined:
                why = (
                    "is produced only by a later node (the graph is not topologically sorted)"
                    if name in produced_later
                    else "is missing: no initializer, graph input or earlier node defines it"
                )
                raise ModelFormatError(
                    f"{where}: node '{node_label(node)}' ({node.op_type}): input '{name}' {why}"
                )
        defined.update(out for out in node.output if out)


def check_standard_ops(model: onnx.ModelProto, where: str = "model") -> None:
    """A node in the standard domain must be an op ONNX defines."""
    for node in model.graph.node:
        if node.domain in STANDARD_DOMAINS and not onnx.defs.has(node.op_type):
            raise ModelFormatError(
                f"{where}: node '{node_label(node)}': op '{node.op_type}' is not a standard "
                "ONNX op (a custom op needs its own domain)"
            )


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
