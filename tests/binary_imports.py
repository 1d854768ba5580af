"""Binary ONNX models as other tools write them, built with ``onnx.helper`` for the import
tests (DESIGN.md rule 6 on the far side of ``adderflow import``).

* ``hls4ml_bnn_fc``: the structure of hls4ml's BNN example ``bnn_model_fc_1layer.onnx``
  (fastmachinelearning/example-models, ``onnx/``; a brevitas ``export_qonnx`` of one
  binary linear layer, read from the file in that repository): input ``[N, K]`` →
  ``BipolarQuant`` (scale 1) → ``Gemm`` (``transB=1``) of a ``BipolarQuant``'d float weight
  ``[O, K]`` plus a 4-bit ``Quant``'d bias → ``BipolarQuant`` → output; quantizers in
  domain ``onnx.brevitas``, opset 17. The file itself is not downloaded by the tests (it is
  not reachable from every machine); the sizes, scales and weights here are ours.
* ``finn_mlp``: a qonnx-native binary MLP as FINN streamlines one: ``MultiThreshold``
  (``BINARY`` out) on the float input, ``XnorPopcountMatMul`` on {0, 1} bits with
  thresholds on the popcount, and a last layer corrected to ``2·popcount − K`` by ``Mul``/
  ``Add`` (what qonnx's ``ConvertBipolarMatMulToXnorPopcount`` inserts). ``xnor=False``
  gives the bipolar ``MatMul`` form before that conversion (``MultiThreshold`` out_scale 2,
  out_bias −1, ``BIPOLAR`` weights).
* ``bipolar_cnn``: a brevitas-style binary CNN: ``BipolarQuant`` operands of a zero-padded
  ``Conv``, ``BipolarQuant`` activation, ``MaxPool``, ``Flatten``, binary ``Gemm``.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

BREVITAS = "onnx.brevitas"
QONNX = "qonnx.custom_op.general"


def _pm(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.choice(np.array([-1.0, 1.0], np.float32), size=shape)


def _model(nodes, inits, x_shape, y_shape, domain: str, opset: int = 13) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "binary",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(y_shape))],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()],
    )
    opsets = [helper.make_opsetid("", opset), helper.make_opsetid(domain, 1)]
    return helper.make_model(graph, opset_imports=opsets)


def hls4ml_bnn_fc(
    k: int = 3,
    o: int = 4,
    batch: int = 1,
    seed: int = 0,
    in_scale: float = 1.0,
    w_scale: float = 1.0,
    out_scale: float = 1.0,
    out_quant: bool = True,
    alpha: float = 1.0,
) -> onnx.ModelProto:
    """hls4ml's ``bnn_model_fc_1layer.onnx`` structure (module doc); scales as its tests'
    variants (0.5, powers of two) change them. ``out_quant=False`` drops the output
    ``BipolarQuant`` (the Gemm's ``alpha``·acc + bias is the output)."""
    rng = np.random.default_rng(seed)
    inits = {
        "in_scale": np.array([in_scale]),
        "w_scale": np.array([w_scale]),
        "out_scale": np.array([out_scale]),
        "weight": rng.normal(size=(o, k)),  # brevitas keeps the float weight
        "bias": rng.integers(-4, 4, size=o).astype(np.float32),
        "b_scale": np.float32(1.0),
        "b_zeropt": np.float32(0.0),
        "b_bits": np.float32(4.0),
    }
    nodes = [
        helper.make_node("BipolarQuant", ["x", "in_scale"], ["xq"], "in_quant", domain=BREVITAS),
        helper.make_node(
            "BipolarQuant", ["weight", "w_scale"], ["wq"], "weight_quant", domain=BREVITAS
        ),
        helper.make_node(
            "Quant",
            ["bias", "b_scale", "b_zeropt", "b_bits"],
            ["bq"],
            "bias_quant",
            domain=BREVITAS,
            narrow=0,
            rounding_mode="ROUND",
            signed=1,
        ),
        helper.make_node(
            "Gemm", ["xq", "wq", "bq"], ["acc"], "linear_gemm", alpha=alpha, beta=1.0, transB=1
        ),
        helper.make_node("BipolarQuant", ["acc", "out_scale"], ["y"], "out_quant", domain=BREVITAS)
        if out_quant
        else helper.make_node("Identity", ["acc"], ["y"], "out_identity"),
    ]
    return _model(nodes, inits, (batch, k), (batch, o), BREVITAS, opset=17)


def _annotate(model: onnx.ModelProto, datatypes: dict[str, str]) -> onnx.ModelProto:
    wrapper = ModelWrapper(model)
    for name, dt in datatypes.items():
        wrapper.set_tensor_datatype(name, DataType[dt])
    return wrapper.model


def _threshold(name: str, x: str, y: str, binary: bool, **attrs) -> onnx.NodeProto:
    out = dict(out_dtype="BINARY") if binary else dict(out_dtype="BIPOLAR", out_scale=2.0,
                                                      out_bias=-1.0)  # fmt: skip
    return helper.make_node(
        "MultiThreshold", [x, f"{name}_t"], [y], name, domain=QONNX, **{**out, **attrs}
    )


def finn_mlp(
    sizes: tuple[int, ...] = (12, 10, 8, 5),
    batch: int = 16,
    seed: int = 0,
    xnor: bool = True,
    levels: int = 1,
    gains: bool = False,
    input_threshold: bool = True,
) -> onnx.ModelProto:
    """A FINN-style binary MLP (module doc). Input thresholds are multiples of 1/16 in
    [-1, 1]; hidden thresholds are popcount values (``xnor``) or accumulator values, some
    of them halfway between integers. ``levels > 1`` gives the first hidden threshold that
    many thresholds per channel (a multi-level activation). ``gains`` puts a per-channel
    ``Mul`` (negative gains among them: the comparison flips) before each hidden threshold,
    as an unfolded batch norm would, and a negative input scaling before the first.
    ``input_threshold=False`` has the first layer read the graph input, annotated BINARY
    (``xnor``) or BIPOLAR, as FINN's conversion leaves a first layer on the graph input."""
    rng = np.random.default_rng(seed)
    inits: dict[str, np.ndarray] = {}
    datatypes: dict[str, str] = {}
    nodes = []
    inits["th0_t"] = np.sort(rng.integers(-16, 17, size=(sizes[0], 1)) / 16.0, axis=1)
    source = "x"
    if gains:  # FINN's input scaling before the first threshold
        inits["in_gain"], inits["in_shift"] = np.array([-2.0]), np.array([0.25])
        nodes.append(helper.make_node("Mul", ["x", "in_gain"], ["x_scaled"], "in_gain"))
        nodes.append(helper.make_node("Add", ["x_scaled", "in_shift"], ["x_in"], "in_shift"))
        source = "x_in"
    if input_threshold:
        nodes.append(_threshold("th0", source, "a0", binary=xnor))
        x = "a0"
    else:
        del inits["th0_t"]
        x = "x"
    datatypes[x] = "BINARY" if xnor else "BIPOLAR"
    for i, (k, o) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = _pm(rng, (k, o))
        inits[f"w{i}"] = (w + 1) / 2 if xnor else w
        datatypes[f"w{i}"] = "BINARY" if xnor else "BIPOLAR"
        op = "XnorPopcountMatMul" if xnor else "MatMul"
        domain = {"domain": QONNX} if xnor else {}
        nodes.append(helper.make_node(op, [x, f"w{i}"], [f"p{i}"], f"layer{i}", **domain))
        if i == len(sizes) - 2:  # the last layer: 2·popcount − K (the MatMul gives it as is)
            if xnor:
                inits["two"], inits["minus_k"] = np.array([2.0]), np.array([-float(k)])
                nodes.append(helper.make_node("Mul", [f"p{i}", "two"], ["twice"], "correct_mul"))
                nodes.append(helper.make_node("Add", ["twice", "minus_k"], ["y"], "correct_add"))
            else:
                nodes.append(helper.make_node("Identity", [f"p{i}"], ["y"], "out_identity"))
            break
        n_levels = levels if i == 0 else 1
        if xnor:  # thresholds on the popcount 0..K, some halfway
            t = rng.integers(0, 2 * k + 1, size=(o, n_levels)) / 2.0
        else:  # on the accumulator 2·popcount − K
            t = rng.integers(-k, k + 1, size=(o, n_levels)).astype(np.float64)
        inits[f"th{i + 1}_t"] = np.sort(t, axis=1)
        source = f"p{i}"
        if gains:
            inits[f"g{i}"] = rng.choice(np.array([-2.0, -0.5, 1.0, 3.0]), size=(1, o))
            nodes.append(helper.make_node("Mul", [source, f"g{i}"], [f"s{i}"], f"gain{i}"))
            source = f"s{i}"
        nodes.append(_threshold(f"th{i + 1}", source, f"a{i + 1}", binary=xnor))
        datatypes[f"a{i + 1}"] = "BINARY" if xnor else "BIPOLAR"
        x = f"a{i + 1}"
    model = _model(nodes, inits, (batch, sizes[0]), (batch, sizes[-1]), QONNX)
    return _annotate(model, datatypes)


def bipolar_cnn(
    channels: tuple[int, int] = (2, 4),
    size: int = 6,
    batch: int = 8,
    seed: int = 0,
    stride: int = 1,
    pad: int = 1,
    classes: int = 3,
) -> onnx.ModelProto:
    """A brevitas-style binary CNN (module doc), per-channel biases on conv and Gemm."""
    rng = np.random.default_rng(seed)
    c, o = channels
    h = (size + 2 * pad - 3) // stride + 1
    flat = o * (h // 2) ** 2
    inits = {
        "one": np.array([1.0]),
        "conv_w": rng.normal(size=(o, c, 3, 3)),
        "conv_b": rng.integers(-3, 4, size=o).astype(np.float32),
        "fc_w": rng.normal(size=(classes, flat)),
        "fc_b": rng.integers(-8, 8, size=classes) / 2.0,
    }
    nodes = [
        helper.make_node("BipolarQuant", ["x", "one"], ["xq"], "in_quant", domain=QONNX),
        helper.make_node("BipolarQuant", ["conv_w", "one"], ["cwq"], "conv_wq", domain=QONNX),
        helper.make_node(
            "Conv",
            ["xq", "cwq", "conv_b"],
            ["c_acc"],
            "conv",
            kernel_shape=[3, 3],
            strides=[stride, stride],
            pads=[pad] * 4,
        ),
        helper.make_node("BipolarQuant", ["c_acc", "one"], ["c_out"], "conv_act", domain=QONNX),
        helper.make_node(
            "MaxPool", ["c_out"], ["pooled"], "pool", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node("Flatten", ["pooled"], ["flat"], "flatten", axis=1),
        helper.make_node("BipolarQuant", ["fc_w", "one"], ["fwq"], "fc_wq", domain=QONNX),
        helper.make_node("Gemm", ["flat", "fwq", "fc_b"], ["y"], "fc", transB=1),
    ]
    return _model(nodes, inits, (batch, c, size, size), (batch, classes), QONNX)


def bipolar_inputs(shape, seed: int) -> np.ndarray:
    """Random ±1 inputs (fixed seed)."""
    return _pm(np.random.default_rng(seed), shape)


def grid_inputs(shape, seed: int, frac: int = 4) -> np.ndarray:
    """Random multiples of ``2**-frac`` in [-2, 2), exact on the ``fixed<8, frac>`` grid."""
    rng = np.random.default_rng(seed)
    return (rng.integers(-(2 ** (frac + 1)), 2 ** (frac + 1), size=shape) / 2.0**frac).astype(
        np.float32
    )


def im2col_model(pad: int = 1, batch: int = 1) -> onnx.ModelProto:
    """qonnx's lowered binary conv: ``Im2Col`` (channels-last, BINARY input padded with
    ``pad_value`` 0, a −1 vote) → ``XnorPopcountMatMul``."""
    rng = np.random.default_rng(0)
    h, c, o = 4, 2, 3
    out = h + 2 * pad - 2
    inits = {"w": (_pm(rng, (9 * c, o)) + 1) / 2}
    nodes = [
        helper.make_node(
            "Im2Col",
            ["x"],
            ["cols"],
            "im2col",
            domain=QONNX,
            stride=[1, 1],
            kernel_size=[3, 3],
            input_shape=f"(1, {h}, {h}, {c})",
            pad_amount=[pad] * 4,
            pad_value=0,
        ),
        helper.make_node("XnorPopcountMatMul", ["cols", "w"], ["y"], "xnor_mm", domain=QONNX),
    ]
    model = _model(nodes, inits, (batch, h, h, c), (batch, out, out, o), QONNX)
    return _annotate(model, {"x": "BINARY", "w": "BINARY"})
