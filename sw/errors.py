"""Errors a user can act on. The CLI prints their message as one line and exits with 2."""


class AdderflowError(Exception):
    """Base class: the message names the file, layer, node or key at fault."""


class ConfigError(AdderflowError):
    """An unknown config key, a value of the wrong type, or an impossible setting."""


class DataError(AdderflowError):
    """A missing or malformed dataset file."""


class CheckpointError(AdderflowError):
    """A checkpoint that is missing, corrupt or from another model."""


class ModelFormatError(AdderflowError):
    """A malformed ONNX/QONNX model or an operator adderflow cannot handle."""


class QuantizationError(AdderflowError):
    """A bit width or scale the numeric contract cannot express."""
