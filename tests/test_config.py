"""Typed config: defaults, YAML overrides, --set, and clear errors for bad keys and values."""

from __future__ import annotations

import pytest

from adderflow.config import Config, dump_config, load_config, set_key
from adderflow.errors import ConfigError, QuantizationError


def test_defaults_and_quick():
    assert load_config().quant.bits == 8
    quick = load_config(quick=True)
    assert quick.student.epochs == 2 and quick.teacher.epochs == 2


def test_yaml_then_set_in_that_order(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("student:\n  epochs: 7\n  lr: 1\nquant:\n  bits: 6\n")
    cfg = load_config(path, ["quant.bits=5", "data.root=/x"])
    assert cfg.student.epochs == 7
    assert cfg.student.lr == 1.0 and isinstance(cfg.student.lr, float)
    assert cfg.quant.bits == 5
    assert cfg.data.root == "/x"


def test_set_none_for_optional():
    cfg = Config()
    set_key(cfg, "data.root", "none")
    assert cfg.data.root is None


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("student.epochz=3", "unknown config key 'student.epochz'"),
        ("nosuch=1", "unknown config key 'nosuch'"),
        ("student.epochs=three", "needs a int"),
        ("student=3", "is a section"),
        ("distill.method=magic", "distill.method 'magic'"),
        ("distill.student=mlp", "distill.student 'mlp' is not one of auto, adder, binary, cnn"),
        ("student.epochs=0", "student.epochs must be at least 1"),
        ("quant.bits", "key=value"),
    ],
)
def test_bad_overrides_name_the_key(assignment, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [assignment])


@pytest.mark.parametrize("bits", ["0", "1", "17", "40"])
def test_impossible_bits(bits):
    with pytest.raises(QuantizationError, match="quant.bits"):
        load_config(None, [f"quant.bits={bits}"])


def test_bad_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("student: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml"):
        load_config(broken)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(listy)


def test_dump_round_trips(tmp_path):
    cfg = load_config(None, ["student.epochs=3", "quant.bits=4"])
    path = tmp_path / "resolved.yaml"
    path.write_text(dump_config(cfg))
    assert load_config(path) == cfg


@pytest.mark.parametrize(
    "overrides",
    [["distill.method=dgrl"], ["distill.method=kd", "distill.student=binary"]],
)
def test_qat_of_a_binary_student_is_accepted(overrides):
    """Binary students fine-tune by QAT (quant.graph_binary_qat)."""
    assert load_config(None, [*overrides, "quant.mode=qat"]).quant.mode == "qat"
