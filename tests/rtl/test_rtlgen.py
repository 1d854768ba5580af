"""adderflow.hw.rtlgen without a simulator: packing, memory files, widths, refusals, cycles."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from adderflow.errors import AdderflowError, ConfigError
from adderflow.fixed import adder_acc_bits, mul_acc_bits
from adderflow.hw import handshake
from adderflow.hw.rtlgen import (
    MVU_LATENCY,
    THRESHOLD_LATENCY,
    LineWindowConfig,
    MvuConfig,
    RequantConfig,
    ThresholdConfig,
    WindowConfig,
    binary_codes,
    bipolar_to_bits,
    hdl_literal,
    mvu_cycles,
    pack_lanes,
    pe_acc_bits,
    read_memh,
    requant_cycles,
    threshold_cycles,
    unpack_lanes,
    write_memh,
)
from adderflow.sim.reference import adder_gemm, int_gemm


@pytest.mark.parametrize("bits", [2, 4, 8, 16])
def test_pack_unpack_round_trip_two_complement(bits):
    rng = np.random.default_rng(bits)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    values = rng.integers(lo, hi, size=(20, 5), endpoint=True)
    values[0], values[1] = lo, hi
    words = pack_lanes(values, bits)
    assert all(0 <= w < 1 << (5 * bits) for w in words)
    back = np.stack([unpack_lanes(w, 5, bits) for w in words])
    np.testing.assert_array_equal(back, values)


def test_lane_zero_is_least_significant():
    assert pack_lanes(np.array([1, -1, 0]), 4) == [0x0F1]
    assert pack_lanes(np.array([1, 0, 1]), 1, signed=False) == [0b101]


def test_out_of_range_lane_is_refused_by_value():
    with pytest.raises(ConfigError, match="weight 8 does not fit 4-bit"):
        pack_lanes(np.array([1, 8]), 4, what="weight")


def test_memh_format_and_round_trip(tmp_path):
    path = write_memh(tmp_path / "w.hex", [0, 5, (1 << 48) - 1], 48, note="demo")
    lines = path.read_text().splitlines()
    assert lines[0].startswith("// adderflow memh: 3 words x 48 bits; demo")
    assert lines[1:] == ["000000000000", "000000000005", "ffffffffffff"]
    assert read_memh(path) == [0, 5, (1 << 48) - 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.hex"]  # no temp file left


def test_memh_refuses_a_word_wider_than_the_memory(tmp_path):
    with pytest.raises(ConfigError, match="word 1 = 16 does not fit 4 bits"):
        write_memh(tmp_path / "w.hex", [1, 16], 4)
    assert not (tmp_path / "w.hex").exists()


def test_weight_words_follow_the_documented_layout():
    cfg = MvuConfig("adder", bits=4, k=6, out=4, pe=2, simd=3)
    w = np.random.default_rng(0).integers(-8, 7, size=(4, 6), endpoint=True)
    words = cfg.weight_words(w)
    assert len(words) == cfg.nf * cfg.sf == 4
    for n in range(cfg.nf):
        for s in range(cfg.sf):
            lanes = unpack_lanes(words[n * cfg.sf + s], cfg.pe * cfg.simd, cfg.bits)
            for p in range(cfg.pe):
                for i in range(cfg.simd):
                    assert lanes[p * cfg.simd + i] == w[n * cfg.pe + p, s * cfg.simd + i]


def test_stream_words_round_trip():
    cfg = MvuConfig("mac", bits=8, k=6, out=4, pe=2, simd=3)
    x = np.random.default_rng(1).integers(-128, 127, size=(3, 6), endpoint=True)
    beats = cfg.input_words(x)
    assert len(beats) == 3 * cfg.sf
    assert unpack_lanes(beats[1], 3, 8).tolist() == x[0, 3:6].tolist()
    y = int_gemm(x, np.ones((4, 6), dtype=np.int64))
    out = pack_lanes(y.reshape(-1, cfg.pe), cfg.acc_bits)
    np.testing.assert_array_equal(cfg.output_values(out), y)


def test_xnor_codes_are_bits_and_the_dot_product_is_popcount():
    rng = np.random.default_rng(2)
    x = rng.choice(np.array([-1, 1]), size=(5, 32))
    w = rng.choice(np.array([-1, 1]), size=(3, 32))
    xb, wb = bipolar_to_bits(x), bipolar_to_bits(w)
    popcount = (xb[:, None, :] == wb[None, :, :]).sum(axis=-1)
    np.testing.assert_array_equal(int_gemm(x, w), 2 * popcount - 32)
    with pytest.raises(ConfigError, match="-1 or \\+1"):
        bipolar_to_bits(np.array([1, 0]))


@pytest.mark.parametrize("bits", [2, 4, 8, 16])
@pytest.mark.parametrize("k", [1, 7, 16, 1000])
def test_accumulator_widths_follow_the_contract_and_hold_the_extremes(bits, k):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    adder = pe_acc_bits("adder", bits, k)
    assert adder == adder_acc_bits(bits, k)
    y = adder_gemm(np.full((1, k), hi), np.full((1, k), lo))[0, 0]  # -K(2^b - 1)
    assert y >= -(1 << (adder - 1))
    mac = pe_acc_bits("mac", bits, k)
    assert mac == mul_acc_bits(bits, bits, k)
    y = int_gemm(np.full((1, k), lo), np.full((1, k), lo))[0, 0]  # K * 2^(2b-2)
    assert y <= (1 << (mac - 1)) - 1
    assert pe_acc_bits("xnor", 1, k) == int(k).bit_length() + 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "adder", "bits": 8, "k": 10, "out": 4, "simd": 4}, "not a multiple of SIMD"),
        ({"mode": "adder", "bits": 8, "k": 8, "out": 6, "pe": 4}, "not a multiple of PE"),
        ({"mode": "adder", "bits": 8, "k": 0, "out": 4}, "K must be a positive integer"),
        ({"mode": "adder", "bits": 17, "k": 8, "out": 4}, "outside the supported range"),
        ({"mode": "xnor", "bits": 3, "k": 8, "out": 4}, "1-bit lanes .* or 2-bit lanes"),
        ({"mode": "l2", "bits": 8, "k": 8, "out": 4}, "unknown PE mode 'l2'"),
        ({"mode": "adder", "bits": 8, "k": 16, "out": 4, "acc_bits": 12}, "must never wrap"),
    ],
)
def test_mvu_config_refuses_what_the_rtl_cannot_do(kwargs, message):
    # ConfigError, or the contract's QuantizationError for an unsupported bit width.
    with pytest.raises(AdderflowError, match=message):
        MvuConfig(**kwargs)


def test_mvu_config_parameters_and_cycles():
    cfg = MvuConfig("adder", bits=8, k=12, out=6, pe=2, simd=3)
    assert cfg.acc_bits == 8 + 4 + 1
    assert cfg.parameters("w.hex") == {
        "MODE": "adder",
        "BITS": 8,
        "K": 12,
        "OUT": 6,
        "PE": 2,
        "SIMD": 3,
        "ACC_BITS": 13,
        "WEIGHT_FILE": "w.hex",
    }
    assert cfg.cycles() == mvu_cycles(12, 6, 2, 3) == 3 * 4 + MVU_LATENCY
    assert cfg.cycles(5) == 5 * 12 + MVU_LATENCY


def test_cycle_model_refuses_unsupported_folds():
    with pytest.raises(ConfigError, match="not a multiple of SIMD"):
        mvu_cycles(10, 4, 1, 4)
    with pytest.raises(ConfigError, match="not a multiple of PE"):
        requant_cycles(6, 4)
    assert requant_cycles(6, 2, vectors=3) == 9 + 3


def test_requant_config_fits_the_narrowest_widths_and_refuses_bad_ones():
    cfg = RequantConfig.fit([3, -512, 100], [0, 70000, -5], shift=6, acc_bits=13, out_bits=8)
    assert (cfg.m_bits, cfg.b_bits, cfg.ch) == (11, 18, 3)
    assert cfg.parameters()["RELU"] == 0
    with pytest.raises(ConfigError, match="shift 41 is outside"):
        RequantConfig(ch=1, acc_bits=8, m_bits=8, b_bits=8, shift=41, out_bits=8)
    with pytest.raises(ConfigError, match="not a multiple of PE"):
        RequantConfig(ch=6, pe=4, acc_bits=8, m_bits=8, b_bits=8, shift=1, out_bits=8)


def test_hdl_literal():
    assert hdl_literal("adder") == '"adder"'
    assert hdl_literal(np.int64(7)) == "7"
    assert hdl_literal(True) == "1"
    with pytest.raises(ConfigError):
        hdl_literal('a"b')


def test_binary_code_lanes_are_two_bits_and_weights_one_bit():
    """xnor with 2-bit lanes: inputs are signed codes (+1 = 01, -1 = 11, padding 0 = 00),
    weights stay single bits (1 = +1), so the ROM word is PE*SIMD bits."""
    cfg = MvuConfig("xnor", bits=2, k=6, out=4, pe=2, simd=3)
    assert cfg.acc_bits == pe_acc_bits("xnor", 2, 6) == 4
    assert cfg.weight_bits == 1 and cfg.weight_word_bits == 6
    x = np.array([[1, -1, 0, 0, 1, -1]])
    assert cfg.input_words(x) == [0b00_11_01, 0b11_01_00]
    w = np.array([[1, -1, 1, 1, 1, -1], [-1, -1, -1, 1, 1, 1], [1] * 6, [-1] * 6])
    words = cfg.weight_words(w)
    # word n*SF + s: PE p's SIMD bits at [p*3 +: 3]
    assert words[0] == 0b000_101 and words[1] == 0b111_011
    assert words[2] == 0b000_111 and words[3] == 0b000_111
    with pytest.raises(ConfigError, match="-1, \\+1 or 0"):
        binary_codes(np.array([2]))
    with pytest.raises(ConfigError, match="-1 or \\+1"):
        cfg.weight_words(np.zeros((4, 6), dtype=np.int64))


def test_threshold_config_widths_files_and_cycles(tmp_path):
    cfg = ThresholdConfig.fit([3, -46, 0, 46], [1, -1, -1, 1], acc_bits=7, pe=2)
    assert (cfg.ch, cfg.t_bits, cfg.cf, cfg.out_bits) == (4, 7, 2, 2)
    assert ThresholdConfig.fit([0], [1], acc_bits=3).t_bits == 2  # the RTL's minimum
    assert cfg.parameters("t.hex", "d.hex") == {
        "CH": 4,
        "PE": 2,
        "ACC_BITS": 7,
        "T_BITS": 7,
        "THRESH_FILE": "t.hex",
        "DIR_FILE": "d.hex",
    }
    t, d = cfg.write_params(tmp_path / "t.hex", tmp_path / "d.hex", [3, -46, 0, 46], [1, -1, -1, 1])
    assert read_memh(t) == [(((-46) & 0x7F) << 7) | 3, (46 << 7) | 0]
    assert read_memh(d) == [0b01, 0b10]  # bit p: 1 for direction +1
    assert cfg.cycles(5) == threshold_cycles(4, 2, 5) == 10 + THRESHOLD_LATENCY
    assert cfg.output_values([0b11_01, 0b01_11]).tolist() == [[1, -1, -1, 1]]
    with pytest.raises(ConfigError, match="not a multiple of PE"):
        ThresholdConfig(ch=6, acc_bits=8, t_bits=8, pe=4)
    with pytest.raises(ConfigError, match="t_bits must be at least 2"):
        ThresholdConfig(ch=1, acc_bits=8, t_bits=1)
    with pytest.raises(ConfigError, match="-1 or \\+1"):
        cfg.write_params(tmp_path / "t.hex", tmp_path / "d.hex", [0] * 4, [1, 0, 1, 1])


# ---- the handshake model (adderflow.hw.handshake) reduces to the closed forms --------------

LINE_SETS = [  # the af_linewin sets of test_cocotb_linewin.py
    LineWindowConfig(8, 4, 6, 5, (3, 3), 1, 1, lanes=2),
    LineWindowConfig(16, 3, 8, 7, (3, 3), 2, 0, lanes=3),
    LineWindowConfig(8, 2, 9, 7, (5, 5), 1, 2, lanes=1),
    LineWindowConfig(2, 4, 7, 6, (3, 3), 2, 1, lanes=4),
    LineWindowConfig(8, 2, 4, 3, (1, 1), 1, 0, lanes=1),
    LineWindowConfig(4, 2, 6, 6, (1, 1), 2, 0, lanes=2),
    LineWindowConfig(8, 1, 3, 5, (3, 3), 1, 1, lanes=1),
    LineWindowConfig(8, 2, 1, 4, (3, 3), 1, 1, lanes=2),
]


@pytest.mark.parametrize("k, out, pe, simd, vectors", [
    (4, 4, 1, 1, 1), (6, 4, 2, 3, 5), (9, 6, 6, 9, 3), (8, 1, 1, 8, 4), (12, 6, 3, 4, 7),
])  # fmt: skip
def test_handshake_mvu_and_post_units_match_their_cycle_formulas(k, out, pe, simd, vectors):
    mvu = handshake.Mvu(k // simd, out // pe)
    beats_in, beats_out = vectors * k // simd, vectors * out // pe
    assert handshake.chain_cycles([mvu], beats_in, beats_out, 10**5) == mvu_cycles(
        k, out, pe, simd, vectors
    )
    cycles = handshake.chain_cycles([handshake.Post()], beats_out, beats_out, 10**5)
    assert cycles == requant_cycles(out, pe, vectors) == threshold_cycles(out, pe, vectors)


@pytest.mark.parametrize("config", LINE_SETS, ids=lambda c: f"{c.height}x{c.width}")
def test_handshake_windows_match_their_unit_models(config):
    """One image, output always ready: af_linewin's row schedule and af_window's sum."""
    line = handshake.LineWindow(config)
    assert handshake.chain_cycles([line], config.in_beats, config.out_beats, 10**6) == (
        config.cycles()
    )
    frame = WindowConfig(
        config.bits, config.channels, config.height, config.width, config.kernel,
        config.stride, config.pad, 1, config.lanes,
    )  # fmt: skip
    cycles = handshake.chain_cycles([handshake.FrameWindow(frame)], frame.in_beats,
                                    frame.out_beats, 10**6)  # fmt: skip
    assert cycles == frame.cycles()
    pooled = WindowConfig(8, 2, 8, 8, (3, 3), 1, 1, 2, 2)
    cycles = handshake.chain_cycles([handshake.FrameWindow(pooled)], pooled.in_beats,
                                    pooled.out_beats, 10**6)  # fmt: skip
    assert cycles == pooled.cycles()


@pytest.mark.parametrize("target", [None, 2000, 5000, 20000])
@pytest.mark.parametrize("geometry", [(3, 1, 1), (3, 2, 1), (5, 1, 2), (1, 1, 0)])
def test_handshake_network_with_frame_windows_is_the_closed_form(geometry, target):
    """Store-and-forward everywhere: stepping the handshakes gives the closed-form sum,
    and line windows (where allowed) take fewer cycles."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/networks.py
    from networks import random_network

    from adderflow.export.qonnx_builder import build_qonnx
    from adderflow.hw.network import (
        choose_folding,
        handshake_cycles,
        network_cycles,
        read_layers,
        window_kinds,
    )

    k, stride, pad = geometry
    layers, frame, _ = read_layers(
        build_qonnx(random_network(8, seed=k + stride, k=k, stride=stride, pad=pad))
    )
    folding = choose_folding(layers, target)
    closed = network_cycles(layers, folding, frame)
    assert handshake_cycles(layers, folding, frame) == closed
    kinds = window_kinds(layers, folding, "line")
    assert "line" in kinds
    assert network_cycles(layers, folding, frame, kinds) < closed
