"""Post-training quantization accuracy versus bit width, over several training seeds.

Trains the main job (CNN teacher, KD adder student) once per seed, then quantizes the same
student at each width in several variants (adder scale chosen jointly or from activations
with clamped, bias-compensated weights; integer or shift-only requantization), and prints
mean ± std test accuracy. A benchmark, not a test: numbers go to docs/results.md.

    python bench/ptq_bits.py --seeds 0 1 2 --bits 8 6 5 4 --json ptq.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from adderflow import pipeline, runs
from adderflow.config import load_config
from adderflow.quant.integer_model import predict_codes
from adderflow.quantize_flow import quantized_network


def train_seed(seed: int, root: Path) -> runs.Run:
    cfg = load_config(None, [f"seed={seed}"])
    run = runs.open_run(root / f"seed{seed}", cfg)
    pipeline.execute(run, "train")
    return run


VARIANTS = {  # label -> (adder_scale, shift_only)
    "joint scale": ("joint", False),
    "activation scale + clamp": ("activation", False),
    "joint scale, shift-only": ("joint", True),
}


def quantized_accuracy(run: runs.Run, bits: int, adder_scale: str, shift_only: bool) -> float:
    q = run.cfg.quant
    q.bits, q.adder_scale, q.shift_only = bits, adder_scale, shift_only
    net = quantized_network(run)
    return float((predict_codes(net, run.data.test_x).argmax(1) == run.data.test_y).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 6, 5, 4])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            run = train_seed(seed, Path(tmp))
            rows.setdefault("float student", []).append(run.metrics()["student"]["accuracy"])
            rows.setdefault("float teacher (CNN)", []).append(run.metrics()["teacher"]["accuracy"])
            for bits in args.bits:
                for name, variant in VARIANTS.items():
                    label = f"PTQ {bits}-bit, {name}"
                    rows.setdefault(label, []).append(quantized_accuracy(run, bits, *variant))
    print(f"\n| model | accuracy (mean ± std over seeds {args.seeds}) |\n|---|---|")
    for label, values in rows.items():
        print(f"| {label} | {np.mean(values):.4f} ± {np.std(values):.4f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
