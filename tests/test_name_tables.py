"""Every choice list is owned once: the config accepts, and the CLI offers, exactly the
names of the module that implements them (issue 19)."""

from __future__ import annotations

import argparse
from importlib.util import find_spec

import pytest

from adderflow import cli, config
from adderflow.config import load_config
from adderflow.errors import ConfigError
from adderflow.hw import simulate, synth
from adderflow.hw.hls4ml_backend import project
from adderflow.hw.network import WINDOWS


def _implemented_methods() -> tuple[str, ...]:
    from adderflow.distill.methods import METHOD_CLASSES

    return tuple(METHOD_CLASSES)


def _quantizer_modules() -> tuple[str, ...]:
    """quant.mode names the module that quantizes: adderflow.quant.ptq or .qat."""
    return tuple(m for m in ("ptq", "qat", "nosuch") if find_spec(f"adderflow.quant.{m}"))


# config key -> (the names the implementing module knows, a config table that must equal it)
TABLES = {
    "distill.method": (_implemented_methods, config.DISTILL_METHODS),
    "rtl.simulators": (lambda: simulate.SIMULATORS, config.RTL_SIMULATORS),
    "synth.target": (lambda: tuple(synth.TARGETS), config.SYNTH_TARGETS),
    "hls.io_types": (lambda: project.IO_TYPES, config.HLS_IO_TYPES),
    "quant.mode": (_quantizer_modules, config.QUANT_MODES),
}


@pytest.mark.parametrize("key", sorted(TABLES))
def test_config_accepts_exactly_the_implemented_names(key):
    implemented, table = TABLES[key]
    assert tuple(table) == tuple(implemented())
    for name in table:
        assert getattr(getattr(load_config(None, [f"{key}={name}"]), key.split(".")[0]),
                       key.split(".")[1]) == name  # fmt: skip
    with pytest.raises(ConfigError, match=", ".join(table)):
        load_config(None, [f"{key}=nosuch"])


def test_pkkd_kernels_are_the_kernels_pkkd_builds():
    from adderflow.distill.pkkd import student_teacher_kernels

    for kernel in config.PKKD_KERNELS:
        student_teacher_kernels(kernel)
    with pytest.raises(ValueError, match="mixed, gaussian, linear"):
        student_teacher_kernels("nosuch")


def _choices(command: str, option: str) -> tuple[str, ...]:
    sub = next(a for a in cli._parser()._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in sub.choices[command]._actions if option in a.option_strings)
    return tuple(action.choices)


@pytest.mark.parametrize(
    "command, option, names",
    [
        ("distill", "--method", config.DISTILL_METHODS),
        ("quantize", "--mode", config.QUANT_MODES),
        ("synth", "--target", config.SYNTH_TARGETS),
        ("verify", "--simulator", (*simulate.SIMULATORS, "both")),
        ("hls", "--io-type", (*project.IO_TYPES, "both")),
        ("rtl", "--window", WINDOWS),
    ],
)
def test_cli_offers_the_implemented_names(command, option, names):
    assert _choices(command, option) == tuple(names)
