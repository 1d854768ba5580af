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


def require_file(path, what: str, error: type[AdderflowError] = AdderflowError):
    """``path`` as a ``Path`` if it is a file; else ``error`` naming ``what`` and why not
    (a directory given for a file is said so, not reported as missing)."""
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        raise error(f"{what} {path} is a directory, not a file")
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    return path


def require_creatable(path, what: str) -> None:
    """Refuse ``path`` if a file sits where one of its folders must be made."""
    from pathlib import Path

    for parent in Path(path).parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{what} {path}: {parent} is a file, not a directory")
            return
