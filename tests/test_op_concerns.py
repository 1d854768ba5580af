"""Each adderflow op owns its concerns: every op module gives a load check, a cost rule and a
standard-ONNX lowering, and the walkers (check_contract, the cost model, the lowering) refuse
an op lacking one by name. Ops are discovered from ``sim/ops``; a name defined twice is
refused."""

from __future__ import annotations

import sys

import pytest
from binary_networks import binary_images, binary_ir
from networks import random_network

from adderflow.errors import ModelFormatError
from adderflow.export.lower_standard import LOWERABLE, lower_ops
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.sim import cost
from adderflow.sim.executor import check_contract
from adderflow.sim.ops import DOMAIN, OPS, DuplicateOp, binary_layers, discover
from adderflow.sim.ops.base import CONCERNS, IntegerOp


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_module_gives_every_concern(name):
    cls = OPS[name]
    assert cls.__name__ == name and cls.__module__ == f"adderflow.sim.ops.{_snake(name)}"
    for concern in CONCERNS:
        assert callable(cls.concern(concern)), f"{name} lacks {concern}"
    assert cls.arithmetic in ("", "adder", "mac", "xnor")
    if cls.accumulating():
        assert cls.layout in ("window", "dense") and callable(cls.terms)


def test_binary_layers_follow_the_traits():
    model = binary_ir(binary_images(0, 4))
    xnor = [n.name for n in model.graph.node if n.domain == DOMAIN and OPS[n.op_type].binary()]
    assert xnor and binary_layers(model) == xnor
    assert all(OPS[n.op_type].arithmetic == "xnor" for n in model.graph.node if n.name in xnor)
    assert binary_layers(build_qonnx(random_network(8))) == []


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


@pytest.fixture
def model_with_bare_op(monkeypatch):
    """An IR model whose max pool is an op registered (for this test only) without any of
    the three concerns."""
    pool = next(cls for cls in OPS.values() if cls.keeps_bipolar)
    bare = type("BarePool", (pool,), {"check": None, "cost": None, "lower": None})
    monkeypatch.setitem(OPS, "BarePool", bare)
    model = build_qonnx(random_network(8))
    node = next(n for n in model.graph.node if n.op_type == pool.__name__)
    node.op_type = "BarePool"
    return model, node.name


def test_check_contract_refuses_an_op_without_a_check_by_name(model_with_bare_op):
    model, name = model_with_bare_op
    with pytest.raises(ModelFormatError, match=rf"node '{name}'.*'BarePool' has no load-time"):
        check_contract(model)


def test_cost_refuses_an_op_without_a_cost_rule_by_name(model_with_bare_op):
    model, name = model_with_bare_op
    with pytest.raises(ModelFormatError, match=rf"node '{name}'.*'BarePool' has no cost rule"):
        cost.estimate(model)


def test_lowering_refuses_an_op_without_a_lowering_by_name(model_with_bare_op):
    model, name = model_with_bare_op
    with pytest.raises(ModelFormatError, match=rf"'{name}'.*'BarePool' has no standard-ONNX"):
        lower_ops(model, (*LOWERABLE, "BarePool"))


def test_an_op_defined_twice_is_refused(tmp_path, monkeypatch):
    package = tmp_path / "twice_ops"
    package.mkdir()
    (package / "__init__.py").write_text("")
    body = "from adderflow.sim.ops.base import IntegerOp\n\n\nclass Same(IntegerOp):\n    pass\n"
    (package / "first.py").write_text(body)
    (package / "second.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(DuplicateOp, match="op 'Same' is defined twice"):
            discover([str(package)], "twice_ops")
    finally:
        for module in [m for m in sys.modules if m.startswith("twice_ops")]:
            del sys.modules[module]


def test_shared_bases_and_helpers_are_not_ops():
    assert all(not cls.__dict__.get("abstract", False) for cls in OPS.values())
    assert IntegerOp not in OPS.values()
