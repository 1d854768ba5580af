"""Graph passes: the per-pass debug check passes on exact lowerings and names a bad pass."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from networks import calibrated, images, random_network
from onnx import numpy_helper

from adderflow.export.lower_standard import lower_ops, lower_to_standard_onnx, run_onnxruntime
from adderflow.export.passes import GraphPass, PassDriftError, run_passes, standard_flow
from adderflow.export.qonnx_builder import build_qonnx


def _model(bits: int = 6, seed: int = 0, hidden: str = "adder") -> onnx.ModelProto:
    x = images(seed, 16)
    return build_qonnx(calibrated(random_network(bits, seed, hidden=hidden), x, seed))


@pytest.mark.parametrize(
    ("bits", "hidden"), [(2, "adder"), (6, "adder"), (8, "mul"), (16, "adder")]
)
def test_stepwise_lowering_is_exact_and_equals_the_one_shot_lowering(bits: int, hidden: str):
    model = _model(bits, seed=bits, hidden=hidden)
    x = images(bits + 1, 8, -4.0, 4.0)
    x[0], x[1] = 1e3, -1e3  # every input code at its max, then at its min
    messages: list[str] = []
    stepwise = lower_to_standard_onnx(model, True, debug_x=x, log=messages.append)
    assert [m.split(":")[0] for m in messages] == [f"[passes] {p.name}" for p in standard_flow()]
    one_shot = lower_to_standard_onnx(model, True)
    got, want = run_onnxruntime(stepwise, x), run_onnxruntime(one_shot, x)
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def _bump_one_weight(model: onnx.ModelProto) -> onnx.ModelProto:
    """A broken pass: one adder weight code off by one."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    node = next(n for n in copy.graph.node if n.op_type == "AdderConv")
    init = next(t for t in copy.graph.initializer if t.name == node.input[1])
    w = numpy_helper.to_array(init).copy()
    w.flat[0] += 1
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    return copy


def _floor_requant(model: onnx.ModelProto) -> onnx.ModelProto:
    """A broken lowering: Requant rounded with Floor instead of round-half-even."""
    earlier = {node.name for node in model.graph.node}
    lowered = lower_ops(model, ("Requant",))
    for node in lowered.graph.node:
        if node.op_type == "Round" and node.name not in earlier:
            node.op_type = "Floor"
    return lowered


def test_a_pass_that_changes_a_weight_is_named():
    model = _model()
    passes = [standard_flow()[0], GraphPass("bump a weight", _bump_one_weight)]
    with pytest.raises(PassDriftError, match=r"graph pass 'bump a weight'.*_acc'.*differ"):
        run_passes(model, passes, images(3, 8, -4.0, 4.0))


def test_a_lowering_that_rounds_wrongly_is_named():
    model = _model()
    passes = [*standard_flow()[:3], GraphPass("lower Requant (floor)", _floor_requant)]
    with pytest.raises(PassDriftError, match=r"graph pass 'lower Requant \(floor\)'.*_out'"):
        run_passes(model, passes, images(4, 8, -4.0, 4.0))


def test_without_a_sample_passes_run_unchecked():
    model = _model()
    out = run_passes(model, [GraphPass("bump a weight", _bump_one_weight)])
    assert out is not model
