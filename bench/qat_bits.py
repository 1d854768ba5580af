"""QAT against PTQ versus bit width, over several training seeds, with exactness per width.

Trains the main job (CNN teacher, KD adder student) once per seed, then for each width:
PTQ of the student (activation scale + clamp, the default) and a brevitas QAT fine-tune
(``adderflow quantize --mode qat``) into a derived run whose verify stage compares the
fake-quantized model, the NumPy reference, qonnx execution and onnxruntime on the full
test split. Prints the accuracy table (mean ± std) and the mismatch counts. A benchmark,
not a test: numbers go to docs/results.md.

    python bench/qat_bits.py --seeds 0 1 2 --bits 8 6 5 4 --json qat.json
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

BACKENDS = ("fake_quant", "torch_vs_reference", "qonnx_exec", "onnxruntime")


def train_seed(seed: int, root: Path) -> runs.Run:
    run = runs.open_run(root / f"seed{seed}", load_config(None, [f"seed={seed}"]))
    pipeline.execute(run, "train")
    return run


def ptq_accuracy(run: runs.Run, bits: int) -> float:
    run.cfg.quant.bits = bits
    net = quantized_network(run)
    return float((predict_codes(net, run.data.test_x).argmax(1) == run.data.test_y).mean())


def qat_run(run: runs.Run, bits: int, adder_scale: str) -> dict:
    overrides = ["quant.mode=qat", f"quant.bits={bits}", f"quant.adder_scale={adder_scale}"]
    out = run.out / "quantized" / f"qat-{bits}b-{adder_scale}"
    derived = runs.derive_run(run.out, out, overrides)
    return pipeline.execute(derived, "quantize")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 6, 5, 4])
    parser.add_argument(
        "--joint-bits", type=int, nargs="*", default=[4],
        help="widths at which QAT also starts from the joint adder scale (the ablation)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {}
    mismatches: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            run = train_seed(seed, Path(tmp))
            rows.setdefault("float student", []).append(run.metrics()["student"]["accuracy"])
            for bits in args.bits:
                rows.setdefault(f"PTQ {bits}-bit", []).append(ptq_accuracy(run, bits))
                scales = ["activation"] + (["joint"] if bits in args.joint_bits else [])
                for scale in scales:
                    metrics = qat_run(run, bits, scale)
                    label = f"QAT {bits}-bit" + (", joint start" if scale == "joint" else "")
                    rows.setdefault(label, []).append(metrics["quantized"]["accuracy"])
                    for backend in BACKENDS:
                        entry = metrics["equivalence"][backend]
                        key = f"{label} {backend} (of {entry['samples']})"
                        mismatches[key] = mismatches.get(key, 0) + entry["mismatches"]
    print(f"\n| model | accuracy (mean ± std over seeds {args.seeds}) |\n|---|---|")
    for label, values in rows.items():
        print(f"| {label} | {np.mean(values):.4f} ± {np.std(values):.4f} |")
    print("\n| comparison with the NumPy reference, summed over seeds | mismatches |\n|---|---|")
    for key, count in mismatches.items():
        print(f"| {key} | {count} |")
    if args.json:
        args.json.write_text(json.dumps({"accuracy": rows, "mismatches": mismatches}, indent=2))


if __name__ == "__main__":
    main()
