"""Which change of the default student recipe buys what: the digits main job and a small
image-folder set, several seeds, each row one `adderflow run` (rtl/hls/synth off).

    OMP_NUM_THREADS=1 python bench/student_recipe.py --out bench_runs/recipe --seeds 0 1 2

Rows add one change at a time to the previous default (a dense adder head, gradient
clipping over adder weights too, running batch-norm averages):
  gap head       conv blocks → global average pool → multiplication classifier
  clip fix       grad_clip leaves the adder weights (their norm is the adaptive LR's)
  bn recompute   batch-norm statistics recomputed each epoch for the current weights
Further rows change one thing of today's default each: no distillation, student epochs,
student learning rate, the adaptive learning rate's η. Pick rows by slug (--rows none ep60);
each run lives in <out>/<set>/<slug>-s<seed>. A row without a teacher is timed against
the default row's teacher of the same seed (run first if missing).
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
# name -> (run-directory slug, settings). The first five add one change at a time to the
# session-4 default; the rest each change one thing of today's default.
ROWS: dict[str, tuple[str, list[str]]] = {
    "previous default (dense adder head)": ("row0", ["model.head=dense", *OLD]),
    "+ gap head": ("row1", ["model.head=gap", *OLD]),
    "+ gap head + clip fix": ("row2", ["model.head=gap", "student.grad_clip_adders=false",
                                       "student.bn_recompute=0"]),
    "+ gap head + clip fix + bn recompute (default)": ("row3", []),
    "dense head + clip fix + bn recompute": ("row4", ["model.head=dense"]),
    "default, no distillation (distill.method=none)": ("none", ["distill.method=none"]),
    "default, student 15 epochs": ("ep15", ["student.epochs=15"]),
    "default, student 60 epochs": ("ep60", ["student.epochs=60"]),
    "default, student lr 0.1": ("lr0.1", ["student.lr=0.1"]),
    "default, student lr 0.02": ("lr0.02", ["student.lr=0.02"]),
    "default, adaptive LR η 0.1": ("eta0.1", ["student.eta=0.1"]),
    "default, adaptive LR η 0.4": ("eta0.4", ["student.eta=0.4"]),
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
    slugs = {slug: name for name, (slug, _) in ROWS.items()}
    ap.add_argument(
        "--rows", nargs="+", default=list(slugs), choices=list(slugs),
        help="row slugs (default: all): " + "; ".join(f"{k} = {v}" for k, v in slugs.items()),
    )  # fmt: skip
    args = ap.parse_args()
    folder = make_folder_set(args.out.resolve() / "folder3")
    print("| set | recipe | teacher | student (float) | student 8-bit | epochs to teacher's acc |")
    print("|---|---|---|---|---|---|")
    for data in args.sets:
        extra = ["data.name=folder", f"data.root={folder}", "student.epochs=40"]
        extra = extra if data == "folder" else []
        for slug in args.rows:
            name = slugs[slug]
            t, s, q, reach = [], [], [], []
            for seed in args.seeds:
                out = args.out.resolve() / data / f"{slug}-s{seed}"
                m = run(out, [*OFF, *extra, *ROWS[name][1], f"seed={seed}"])
                # A row without a teacher (distill.method=none) is timed against the
                # default row's teacher of the same seed, trained the same way.
                tdir = out if "teacher" in m else out.with_name(f"row3-s{seed}")
                tgt = run(tdir, [*OFF, *extra, f"seed={seed}"])["teacher"]["accuracy"]
                t.append(tgt)
                s.append(m["student"]["accuracy"])
                q.append(m["quantized"]["accuracy"])
                got = [
                    first_epoch(d / "checkpoints" / f"{role}.csv", tgt)
                    for d, role in ((out, "student"), (tdir, "teacher"))
                ]
                reach.append(" vs ".join("never" if e is None else str(e) for e in got))
            print(
                f"| {data} | {name} | {stat(t)} | {stat(s)} | {stat(q)} | {'; '.join(reach)} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
