"""Which change of the default student recipe buys what: the digits main job and a small
image-folder set, several seeds, each row one `adderflow run` (rtl/hls/synth off).

    OMP_NUM_THREADS=1 python bench/student_recipe.py --out bench_runs/recipe --seeds 0 1 2

Rows add one change at a time to the previous default (a dense adder head, gradient
clipping over adder weights too, running batch-norm averages):
  gap head       conv blocks → global average pool → multiplication classifier
  clip fix       grad_clip leaves the adder weights (their norm is the adaptive LR's)
  bn recompute   batch-norm statistics recomputed each epoch for the current weights
Finished runs are reused (a run directory with a quantized accuracy is not run again).
Prints a markdown table: accuracies (mean ± std) and, on the folder set, the first epoch
at which the student's test accuracy reaches the teacher's final one, next to the epoch
the teacher first reached it.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

OLD = ["student.grad_clip_adders=true", "student.bn_recompute=0"]
ROWS: dict[str, list[str]] = {
    "previous default (dense adder head)": ["model.head=dense", *OLD],
    "+ gap head": ["model.head=gap", *OLD],
    "+ gap head + clip fix": ["model.head=gap", "student.grad_clip_adders=false",
                              "student.bn_recompute=0"],
    "+ gap head + clip fix + bn recompute (default)": [],
    "dense head + clip fix + bn recompute": ["model.head=dense"],
}
OFF = ["rtl.enabled=false", "hls.enabled=false", "synth.enabled=false"]


def make_folder_set(root: Path, seed: int = 0, train: int = 60, test: int = 20) -> Path:
    """Three separable 16×16 grey classes (horizontal bar, vertical bar, square) in noise."""
    from PIL import Image

    if (root / "train").is_dir():
        return root
    rng = np.random.default_rng(seed)

    def image(label: int) -> np.ndarray:
        a = rng.normal(0.3, 0.1, (16, 16))
        if label == 0:
            a[rng.integers(0, 12) :][:4] += 0.6
        elif label == 1:
            a[:, rng.integers(0, 12) :][:, :4] += 0.6
        else:
            r, c = rng.integers(2, 10, 2)
            a[r : r + 5, c : c + 5] += 0.6
        return (np.clip(a, 0, 1) * 255).astype(np.uint8)

    for split, n in (("train", train), ("test", test)):
        for label in range(3):
            folder = root / split / f"c{label}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(image(label)).save(folder / f"{i:03d}.png")
    return root


def run(out: Path, settings: list[str]) -> dict:
    metrics = out / "metrics.json"
    if metrics.is_file() and "quantized" in json.loads(metrics.read_text()):
        return json.loads(metrics.read_text())
    cmd = [sys.executable, "-m", "adderflow.cli", "run", "--out", str(out)]
    for s in settings:
        cmd += ["--set", s]
    log = out.with_suffix(".log")
    out.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as f:
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"{out}: adderflow run failed (exit {done.returncode}); see {log}")
    return json.loads(metrics.read_text())


def first_epoch(csv_path: Path, target: float) -> int | None:
    with csv_path.open() as f:
        for row in csv.DictReader(f):
            if float(row["test_acc"]) >= target:
                return int(row["epoch"])
    return None


def stat(values: list[float]) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench_runs/recipe"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--sets", nargs="+", default=["digits", "folder"])
    ap.add_argument("--rows", nargs="+", default=list(ROWS), help="row names (default: all)")
    args = ap.parse_args()
    folder = make_folder_set(args.out.resolve() / "folder3")
    print("| set | recipe | teacher | student (float) | student 8-bit | epochs to teacher's acc |")
    print("|---|---|---|---|---|---|")
    for data in args.sets:
        extra = ["data.name=folder", f"data.root={folder}", "student.epochs=40"]
        extra = extra if data == "folder" else []
        for i, name in enumerate(args.rows):
            t, s, q, reach = [], [], [], []
            for seed in args.seeds:
                out = args.out.resolve() / data / f"row{i}-s{seed}"
                m = run(out, [*OFF, *extra, *ROWS[name], f"seed={seed}"])
                t.append(m["teacher"]["accuracy"])
                s.append(m["student"]["accuracy"])
                q.append(m["quantized"]["accuracy"])
                ckpt = out / "checkpoints"
                tgt = m["teacher"]["accuracy"]
                reach.append(
                    f"{first_epoch(ckpt / 'student.csv', tgt)} vs "
                    f"{first_epoch(ckpt / 'teacher.csv', tgt)}"
                )
            print(
                f"| {data} | {name} | {stat(t)} | {stat(s)} | {stat(q)} | {'; '.join(reach)} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
