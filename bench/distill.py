"""Evidence for the distillation methods: accuracy tables over widths and seeds.

    python bench/distill.py --dataset mnist1d --widths 32 16 8 4 --seeds 0 1 2 3 4 \\
        --epochs 40 --out bench_runs/distill [--configs ...] [--ablations] [--student-epochs N]

Trains, per width and seed, the CNN, the adder network plain / with Hinton KD / PKKD /
NGD, and the binary network plain / with Hinton KD / DGRL (``--ablations`` adds PKKD with
other kernels, NGD without the p schedule, DGRL without SI units), through the same
pipeline stages as ``adderflow distill`` (one resumable run directory per configuration:
rerunning the command continues where it stopped). The CNN is the teacher the KD runs
train; runs that need that same teacher reuse its checkpoint instead of retraining it.
``--student-epochs N`` trains every student N epochs (teachers keep ``--epochs``) in run
directories named ``<config>_se<N>``, taking the trained teachers of the ``--epochs`` runs
beside them when those finished, so one teacher serves both budgets.
Prints mean ± std test accuracy per configuration and width and writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

# name: (distill.method, distill.student, extra overrides)
CONFIGS: dict[str, tuple[str, str, list[str]]] = {
    "ann": ("none", "adder", []),
    "ann_kd": ("kd", "adder", []),
    "ann_pkkd": ("pkkd", "adder", []),
    "ann_ngd": ("ngd", "adder", []),
    "bcnn": ("none", "binary", []),
    "bcnn_kd": ("kd", "binary", []),
    "bcnn_dgrl": ("dgrl", "binary", []),
}
ABLATIONS: dict[str, tuple[str, str, list[str]]] = {
    "ann_pkkd_gaussian": ("pkkd", "adder", ["distill.pkkd_kernel=gaussian"]),
    "ann_pkkd_linear": ("pkkd", "adder", ["distill.pkkd_kernel=linear"]),
    "ann_ngd_no_p_schedule": ("ngd", "adder", ["distill.ngd_p_start=1"]),
    "ann_ngd_full_span": ("ngd", "adder", ["distill.ngd_p_span=1"]),
    "ann_ngd_teacher_init": ("ngd", "adder", ["distill.ngd_init=teacher"]),
    "ann_ngd_teacher_init_full_span": (
        "ngd", "adder", ["distill.ngd_init=teacher", "distill.ngd_p_span=1"],
    ),
    "ann_ngd_teacher_init_lr01": ("ngd", "adder", ["distill.ngd_init=teacher", "student.lr=0.01"]),
    "bcnn_dgrl_no_si": ("dgrl", "binary", ["distill.dgrl_si=false"]),
}
CNN_TEACHER = ("ann_kd", "bcnn_kd", "bcnn_dgrl", "bcnn_dgrl_no_si")
# NGD runs reuse a finished ann_ngd run's ℓ2 teacher (same seed and teacher settings).
NGD_TEACHER = ("ann_ngd", *(n for n in ABLATIONS if n.startswith("ann_ngd")))


def finished_teacher(run_dir: Path) -> Path | None:
    """``run_dir``'s teacher checkpoint if its teacher finished training (metrics say so)."""
    metrics = run_dir / "metrics.json"
    ckpt = run_dir / "checkpoints" / "teacher.pt"
    if not (metrics.is_file() and ckpt.is_file()):
        return None
    return ckpt if "teacher" in json.loads(metrics.read_text()) else None


def shared_teacher(base: Path, name: str, suffix: str, trained: Path | None) -> Path | None:
    """The teacher checkpoint ``name`` can reuse: the CNN trained earlier in this pass or
    by a finished KD run beside it; NGD's ℓ2 teacher from a finished ``ann_ngd`` run."""
    if name in NGD_TEACHER:
        runs = [base / f"ann_ngd{suffix}", base / "ann_ngd"]
    elif name in CNN_TEACHER:
        if trained is not None:
            return trained
        runs = [base / f"{n}{s}" for s in dict.fromkeys([suffix, ""]) for n in CNN_TEACHER]
    else:
        return None
    return next((t for t in map(finished_teacher, runs) if t is not None), None)


def run_one(out: Path, overrides: list[str], teacher_from: Path | None) -> dict:
    from adderflow import pipeline, runs
    from adderflow.config import load_config

    cfg = load_config(overrides=overrides)
    run = runs.open_run(out, cfg)
    if teacher_from is not None and not run.paths.checkpoint("teacher").exists():
        run.paths.checkpoints.mkdir(parents=True, exist_ok=True)
        shutil.copy(teacher_from, run.paths.checkpoint("teacher"))
    return pipeline.execute(run, "train")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="mnist1d")
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 16, 8, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument(
        "--student-epochs", type=int, help="student epochs (default: --epochs; teachers: --epochs)"
    )
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--ablations", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench_runs/distill"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small nets: 1)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    table = {**CONFIGS, **ABLATIONS}  # --configs may name single ablations too
    unknown = sorted(set(args.configs) - set(table) - {"cnn"})
    if unknown:
        parser.error(f"unknown --configs {', '.join(unknown)} (known: cnn, {', '.join(table)})")
    student_epochs = args.student_epochs or args.epochs
    suffix = "" if student_epochs == args.epochs else f"_se{student_epochs}"
    names = [n for n in table if n in args.configs or (args.ablations and n in ABLATIONS)]
    results: dict[str, dict[int, list[float]]] = {n: {} for n in ["cnn", *names]}
    for width in args.widths:
        for seed in args.seeds:
            base = args.out / args.dataset / f"w{width}" / f"s{seed}"
            common = [
                f"data.name={args.dataset}",
                f"model.width={width}",
                f"seed={seed}",
                f"teacher.epochs={args.epochs}",
                f"student.epochs={student_epochs}",
            ]
            teacher = None
            for name in names:
                method, student, extra = table[name]
                start = time.perf_counter()
                metrics = run_one(
                    base / f"{name}{suffix}",
                    [*common, f"distill.method={method}", f"distill.student={student}", *extra],
                    shared_teacher(base, name, suffix, teacher),
                )
                acc = metrics["student"]["accuracy"]
                results[name].setdefault(width, []).append(acc)
                if name in CNN_TEACHER and teacher is None:
                    teacher = base / f"{name}{suffix}" / "checkpoints" / "teacher.pt"
                    results["cnn"].setdefault(width, []).append(metrics["teacher"]["accuracy"])
                print(
                    f"w{width} s{seed} {name:<24} {acc:.4f} ({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
    summary = {
        name: {
            str(w): {
                "mean": statistics.mean(a),
                "std": statistics.stdev(a) if len(a) > 1 else 0.0,
                "n": len(a),
                "by_seed": dict(zip(map(str, args.seeds), a, strict=True)),
            }
            for w, a in by_width.items()
        }
        for name, by_width in results.items()
        if by_width
    }
    budget = f"{args.epochs} epochs" + (f", students {student_epochs}" if suffix else "")
    print(f"\n{args.dataset}, {budget}, seeds {args.seeds}: mean ± std test accuracy")
    print("| config | " + " | ".join(f"width {w}" for w in args.widths) + " |")
    print("|---|" + "---|" * len(args.widths))
    for name, by_width in summary.items():
        cells = [
            f"{by_width[str(w)]['mean']:.3f} ± {by_width[str(w)]['std']:.3f}"
            if str(w) in by_width
            else "—"
            for w in args.widths
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
