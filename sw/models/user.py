"""Your own network as a run's model: ``model.arch=module:MODULE:FACTORY``.

The factory is imported (MODULE from the working directory or ``PYTHONPATH``, or a ``.py``
file), called with the keywords of ``FACTORY_KEYWORDS`` its signature takes, and must
return a ``torch.nn.Module`` mapping a batch of the dataset's inputs to
``[batch, num_classes]`` logits. For an adder or binary model, a factory that returns a
plain CNN (no adder or binary layer in it) is converted with ``to_adder`` / ``to_binary``
(first and last multiplication layers kept, DESIGN.md rule 7). Every failure is a
``ConfigError`` naming the arch and what went wrong, raised when the run's models are first
built, before the run directory exists.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from adderflow.config import user_arch
from adderflow.errors import AdderflowError, ConfigError
from adderflow.nn.adder import AdderConv1d, AdderConv2d, AdderLinear
from adderflow.nn.binary import BinaryConv1d, BinaryConv2d
from adderflow.nn.swap import SwapReport, to_adder, to_binary

# Keywords a factory may take, by name (a factory takes any subset, or **kwargs for all).
FACTORY_KEYWORDS = ("kind", "num_classes", "in_channels", "input_shape", "width", "width_mult")
_CONVERTED = (AdderConv1d, AdderConv2d, AdderLinear, BinaryConv1d, BinaryConv2d)
_SWAPS = {"adder": to_adder, "binary": to_binary}


def _import_module(module: str, arch: str):
    if module.endswith(".py"):
        return _import_file(Path(module), arch)
    # `python -m` and the console script differ on whether '' is on sys.path; the working
    # directory is where the user put the file, so it is searched either way.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if _is_the_module(exc.name, module):
            raise ConfigError(
                f"model.arch={arch}: no module named '{module}' (searched the working "
                f"directory {os.getcwd()} and PYTHONPATH)"
            ) from None
        raise _import_failed(module, arch, exc) from exc
    except Exception as exc:  # the user's module: any error at import is theirs to see
        raise _import_failed(module, arch, exc) from exc


def _is_the_module(missing: str | None, module: str) -> bool:
    """Whether the missing module is ``module`` or a package above it (not something
    ``module`` itself imports)."""
    if missing is None:
        return False
    parts = missing.split(".")
    return module.split(".")[: len(parts)] == parts


def _import_file(path: Path, arch: str):
    path = path.expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"model.arch={arch}: {path} does not exist or is not a file")
    name = f"adderflow_user_{path.stem}"
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"model.arch={arch}: {path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise _import_failed(str(path), arch, exc) from exc
    return module


def _import_failed(module: str, arch: str, exc: BaseException) -> ConfigError:
    return ConfigError(f"model.arch={arch}: importing {module} failed: {_one_line(exc)}")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def load_factory(arch: str) -> Callable[..., Any]:
    """The callable ``model.arch=module:MODULE:FACTORY`` names."""
    parsed = user_arch(arch)
    if parsed is None:
        raise ConfigError(f"model.arch={arch} is not of the form module:MODULE:FACTORY")
    module_name, name = parsed
    module = _import_module(module_name, arch)
    factory = getattr(module, name, None)
    if factory is None:
        public = sorted(
            n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
            and getattr(v, "__module__", None) == module.__name__
        )  # fmt: skip
        defined = f"; it defines: {', '.join(public)}" if public else ""
        raise ConfigError(
            f"model.arch={arch}: module {module_name} has no attribute '{name}'{defined}"
        )
    if not callable(factory):
        raise ConfigError(
            f"model.arch={arch}: {module_name}.{name} is a {type(factory).__name__}, "
            "not a function or class"
        )
    return factory


def factory_arguments(factory: Callable[..., Any], offered: dict[str, Any], arch: str) -> dict:
    """The keywords of ``offered`` that ``factory`` takes; a parameter it needs that
    adderflow does not supply is an error naming it."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a builtin or C callable: call it bare
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(offered)
    named = {
        n: p for n, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }  # fmt: skip
    for n, p in params.items():
        needed = p.default is inspect.Parameter.empty and n not in offered
        if needed and p.kind not in (inspect.Parameter.VAR_POSITIONAL,):
            raise ConfigError(
                f"model.arch={arch}: the factory needs argument '{n}', which adderflow does not "
                f"supply (it passes, where taken: {', '.join(FACTORY_KEYWORDS)}); give '{n}' a "
                "default"
            )
    return {n: v for n, v in offered.items() if n in named}


def _call(factory, kwargs: dict, arch: str) -> nn.Module:
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    call = f"{getattr(factory, '__name__', 'factory')}({shown})"
    try:
        model = factory(**kwargs)
    except AdderflowError:
        raise
    except Exception as exc:
        raise ConfigError(f"model.arch={arch}: {call} raised {_one_line(exc)}") from exc
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"model.arch={arch}: {call} returned a {type(model).__name__}, not a torch.nn.Module"
        )
    return model


def convert(model: nn.Module, kind: str) -> SwapReport | None:
    """For an adder or binary ``kind``, swap a plain CNN's layers (``to_adder`` /
    ``to_binary``, first and last kept); None where nothing is swapped: a cnn kind, or a
    model that already has adder or binary layers (its factory built them)."""
    if kind not in _SWAPS or any(isinstance(m, _CONVERTED) for m in model.modules()):
        return None
    return _SWAPS[kind](model)


def check_shapes(model: nn.Module, input_shape: tuple[int, ...], num_classes: int,
                 arch: str, dataset: str) -> None:  # fmt: skip
    """One forward pass of a batch of two zero samples: the model takes the dataset's
    inputs and returns ``[2, num_classes]``."""
    batch = (2, *input_shape)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(batch))
    except AdderflowError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"model.arch={arch}: the model cannot take {dataset} inputs: a batch of shape "
            f"{batch} failed with {_one_line(exc)}"
        ) from exc
    finally:
        model.train(was_training)
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else None
    if shape != (2, num_classes):
        got = shape if shape is not None else f"a {type(out).__name__}"
        raise ConfigError(
            f"model.arch={arch}: for {dataset} inputs of shape {batch} the model returned "
            f"{got}; expected logits of shape (2, {num_classes}) ({num_classes} classes)"
        )


def user_model(arch: str, kind: str, *, num_classes: int, input_shape: tuple[int, ...],
               width: int, width_mult: float, dataset: str) -> nn.Module:  # fmt: skip
    """The network ``model.arch=module:MODULE:FACTORY`` makes, as ``kind`` (cnn | adder |
    binary), checked against the dataset's input and class count."""
    factory = load_factory(arch)
    offered = {
        "kind": kind, "num_classes": num_classes, "in_channels": input_shape[0],
        "input_shape": tuple(input_shape), "width": width, "width_mult": width_mult,
    }  # fmt: skip
    model = _call(factory, factory_arguments(factory, offered, arch), arch)
    try:
        convert(model, kind)
    except ConfigError as exc:
        raise ConfigError(f"model.arch={arch}: converting to {kind} layers: {exc}") from exc
    check_shapes(model, input_shape, num_classes, arch, dataset)
    return model
