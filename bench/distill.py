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

A configuration may carry its own settings, ``NAME+KEY=VALUE[+KEY=VALUE...]``
(``ann_kd+student.lr=0.1``), and ``--set KEY=VALUE ...`` adds settings to every one; each
such row runs in its own directory, ``<config>[_se<N>]+KEY=VALUE...``, so it resumes and
never collides with the defaults' run. Settings that leave the teacher alone
(``student.*``, the KD and NGD student-side weights) keep sharing the teacher of the
default run beside them, so rows compared at different learning rates distil from the
same network.

PKKD (``pkkd_stages=1``) trains its CNN beside the student, for the student's epochs at the
student's settings; that CNN's test accuracy is a row of its own, ``<row> co-trained CNN``.

Upper bounds, not methods (``--configs ann_oracle ann_oracle_steps``, never run by default):
the plain ANN at the same settings trained on the training and the test split together
(the test split's true labels in its training set) and tested on the test split, so its
test accuracy is what a network of that width reaches on those samples at that budget
when nothing has to generalise. ``ann_oracle`` trains the same epochs (more optimizer steps:
the set is larger), ``ann_oracle_steps`` the epochs that give it the plain ANN's optimizer
steps. Their data is written beside the run directory (``<run directory>.npz``, dataset
``npz``); their rows are ``<row> (upper bound)`` and are never held to the bar.

Prints mean ± std test accuracy, final-epoch training accuracy (the training curve's running
figure) and the trained student's accuracy on its own training split in eval mode per row
and width, and
for each row against the plain ANN and ANN + KD rows (``--plain``, ``--kd``): the share of
the ANN–CNN gap it closes and its per-seed margins; writes them as JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import time
from dataclasses import dataclass
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
# Upper bounds (see the module docstring): the plain ANN trained on train ∪ test. The two
# differ in epochs only: oracle_overrides rescales ann_oracle_steps' to the plain ANN's steps.
ORACLES: dict[str, tuple[str, str, list[str]]] = {
    "ann_oracle": ("none", "adder", []),
    "ann_oracle_steps": ("none", "adder", []),
}
CNN_TEACHER = ("ann_kd", "bcnn_kd", "bcnn_dgrl", "bcnn_dgrl_no_si")
# NGD runs reuse a finished ann_ngd run's ℓ2 teacher (same seed and teacher settings).
NGD_TEACHER = ("ann_ngd", *(n for n in ABLATIONS if n.startswith("ann_ngd")))
# Settings that change only how the student trains: a row with nothing else may share the
# teacher of the row without them (the CNN's and the ℓ2 teacher's losses read none of them).
STUDENT_SIDE = (
    "student.",
    "distill.temperature",
    "distill.alpha",
    "distill.ngd_guide",
    "distill.ngd_p_start",
    "distill.ngd_p_span",
    "distill.ngd_init",
)


@dataclass(frozen=True)
class Row:
    """One row of the table: a configuration of ``CONFIGS``/``ABLATIONS`` and its settings."""

    name: str
    sets: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return "+".join([self.name, *self.sets])

    def directory(self, suffix: str) -> str:
        return "+".join([f"{self.name}{suffix}", *self.sets])

    @property
    def student_side(self) -> bool:
        """Whether every setting leaves the teacher alone (it may share the default's)."""
        return all(kv.split("=", 1)[0].startswith(STUDENT_SIDE) for kv in self.sets)


def parse_rows(tokens: list[str], common: list[str], known: set[str]) -> list[Row]:
    """``NAME[+KEY=VALUE...]`` tokens (and ``--set`` pairs for all) as rows, checked."""
    rows = []
    for token in tokens:
        name, *sets = token.split("+")
        if name not in known:
            raise ValueError(f"unknown config '{name}' (known: cnn, {', '.join(sorted(known))})")
        bad = [kv for kv in [*sets, *common] if "=" not in kv or kv.startswith("=")]
        if bad:
            raise ValueError(f"setting '{bad[0]}' of '{token}' is not KEY=VALUE")
        rows.append(Row(name, tuple(dict.fromkeys([*sets, *common]))))
    labels = [r.label for r in rows]
    dupes = sorted({n for n in labels if labels.count(n) > 1})
    if dupes:
        raise ValueError(f"row {dupes[0]} is named twice")
    return rows


def finished_teacher(run_dir: Path) -> Path | None:
    """``run_dir``'s teacher checkpoint if its teacher finished training (metrics say so)."""
    metrics = run_dir / "metrics.json"
    ckpt = run_dir / "checkpoints" / "teacher.pt"
    if not (metrics.is_file() and ckpt.is_file()):
        return None
    return ckpt if "teacher" in json.loads(metrics.read_text()) else None


def shared_teacher(base: Path, row: Row, suffix: str, trained: Path | None) -> Path | None:
    """The teacher checkpoint ``row`` can reuse: the CNN trained earlier in this pass or
    by a finished KD run beside it; NGD's ℓ2 teacher from a finished ``ann_ngd`` run. A
    row with settings that touch the teacher shares none (its own run trains one)."""
    if not row.student_side:
        return None
    if row.name in NGD_TEACHER:
        runs = [base / f"ann_ngd{s}" for s in dict.fromkeys([suffix, ""])]
    elif row.name in CNN_TEACHER:
        if trained is not None:
            return trained
        runs = [base / f"{n}{s}" for s in dict.fromkeys([suffix, ""]) for n in CNN_TEACHER]
    else:
        return None
    # Never the row's own directory (it holds a copy at best), and first the runs that
    # trained theirs: their training curve is the teacher's fit.
    runs = [r for r in runs if r != base / row.directory(suffix)]
    runs.sort(key=lambda r: not (r / "checkpoints" / "teacher.csv").is_file())
    return next((t for t in map(finished_teacher, runs) if t is not None), None)


def co_trained_label(row: Row) -> str:
    """The table row of ``row``'s co-trained teacher (PKKD with ``pkkd_stages=1``)."""
    return f"{row.label} co-trained CNN"


UPPER_BOUND = " (upper bound)"


def result_label(row: Row) -> str:
    """``row``'s table row: an oracle's says it is an upper bound, not a method."""
    return row.label + (UPPER_BOUND if row.name in ORACLES else "")


def is_reference(label: str) -> bool:
    """Rows that are never held to the bar: teachers and upper bounds."""
    return (
        label in ("cnn", "l2_teacher")
        or label.endswith(" co-trained CNN")
        or label.endswith(UPPER_BOUND)
    )


def equal_step_epochs(epochs: int, n_train: int, n_all: int, batch_size: int) -> int:
    """Epochs over ``n_all`` samples with (nearest) the optimizer steps of ``epochs`` over
    ``n_train``: the loader keeps the last, short batch, so an epoch is ceil(n / batch)."""
    steps = epochs * -(-n_train // batch_size)
    return max(1, round(steps / -(-n_all // batch_size)))


def oracle_overrides(run_dir: Path, row: Row, settings: list[str]) -> list[str]:
    """Settings that train ``row`` (an oracle) on its dataset's train ∪ test and test it on
    the test split: the joined arrays as an ``npz`` file beside ``run_dir`` (kept, so a
    rerun resumes with the same config), and for ``ann_oracle_steps`` the student's epochs
    rescaled to the optimizer steps the training split alone would give."""
    import numpy as np

    from adderflow.config import load_config
    from adderflow.runs import load_data

    cfg = load_config(overrides=settings)  # the row's own data, epochs and batch size
    path = run_dir.parent / f"{run_dir.name}.npz"
    if not path.is_file():  # a resumed row reads the file, not the dataset again
        data = load_data(cfg)
        tmp = path.parent / f"{path.name}.tmp.npz"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            tmp, x=np.concatenate([data.train_x, data.test_x]),
            y=np.concatenate([data.train_y, data.test_y]), x_test=data.test_x, y_test=data.test_y,
        )  # fmt: skip
        tmp.replace(path)
    extra = ["data.name=npz", f"data.root={path}"]
    if row.name == "ann_oracle_steps":
        with np.load(path) as arrays:
            n_all, n_test = len(arrays["x"]), len(arrays["x_test"])
        epochs = equal_step_epochs(cfg.student.epochs, n_all - n_test, n_all, cfg.data.batch_size)
        extra.append(f"student.epochs={epochs}")
    return extra


def final_train_accuracy(run_dir: Path, role: str) -> float:
    """``role``'s training accuracy in its last epoch (``checkpoints/<role>.csv``)."""
    with (run_dir / "checkpoints" / f"{role}.csv").open() as f:
        return float(list(csv.DictReader(f))[-1]["train_acc"])


def run_one(
    out: Path, overrides: list[str], teacher_from: Path | None
) -> tuple[dict, dict[str, float]]:
    """Trains (or resumes) one run: its metrics and, per trained role (student, and the
    teacher where there is one), that network's accuracy on the run's training split in
    eval mode (the training curve's accuracy is a running one, taken in training mode
    while the weights move, so it reads lower than what the network finally classifies)."""
    from adderflow import pipeline, runs
    from adderflow.config import load_config
    from adderflow.train import accuracy
    from adderflow.train_flow import trained_model

    cfg = load_config(overrides=overrides)
    run = runs.open_run(out, cfg)
    if teacher_from is not None and not run.paths.checkpoint("teacher").exists():
        run.paths.checkpoints.mkdir(parents=True, exist_ok=True)
        shutil.copy(teacher_from, run.paths.checkpoint("teacher"))
    metrics = pipeline.execute(run, "train")
    roles = [r for r in ("student", "teacher") if r in metrics]
    fits = {r: accuracy(trained_model(run, r), run.data.train_x, run.data.train_y) for r in roles}
    return metrics, fits


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="mnist1d")
    parser.add_argument("--widths", type=int, nargs="+", default=[32, 16, 8, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument(
        "--student-epochs", type=int, help="student epochs (default: --epochs; teachers: --epochs)"
    )
    parser.add_argument(
        "--configs", nargs="+", default=list(CONFIGS), help="rows: NAME[+KEY=VALUE...]"
    )
    parser.add_argument("--ablations", action="store_true")
    parser.add_argument(
        "--set", nargs="+", default=[], dest="sets", metavar="KEY=VALUE",
        help="settings for every row (each row runs in <config>+KEY=VALUE...)",
    )
    parser.add_argument("--plain", help="the plain-ANN row others are held to (first ann row)")
    parser.add_argument("--kd", help="the ANN + KD row others are held to (first ann_kd row)")
    parser.add_argument("--out", type=Path, default=Path("bench_runs/distill"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small nets: 1)")
    args = parser.parse_args()
    table = {**CONFIGS, **ABLATIONS, **ORACLES}  # --configs may name single ablations too
    tokens = [t for t in args.configs if t != "cnn"]  # the CNN: the KD rows' teacher
    if args.ablations:
        tokens += [n for n in ABLATIONS if n not in tokens]
    try:
        rows = parse_rows(tokens, args.sets, set(table))
    except ValueError as e:
        parser.error(str(e))
    order = list(table)  # ann_ngd before its ablations, which reuse its ℓ2 teacher
    args.rows = sorted(rows, key=lambda r: order.index(r.name))
    labels = [r.label for r in args.rows if r.name not in ORACLES]  # never a baseline
    for flag in ("plain", "kd"):
        chosen = getattr(args, flag)
        if chosen is not None and chosen not in labels:
            parser.error(f"--{flag} {chosen} is not one of the rows ({', '.join(labels)})")
    return args


def baseline(rows: list[Row], chosen: str | None, name: str) -> str | None:
    return chosen or next((r.label for r in rows if r.name == name), None)


# label → width → seed → (test accuracy, final-epoch training accuracy, eval-mode accuracy
# on the training split; None: not measured)
Runs = dict[str, dict[int, dict[int, tuple[float, float | None, float | None]]]]


def train_all(args: argparse.Namespace) -> Runs:
    """Trains (or resumes) every row at every width and seed: test and training accuracy."""
    student_epochs = args.student_epochs or args.epochs
    suffix = "" if student_epochs == args.epochs else f"_se{student_epochs}"
    table = {**CONFIGS, **ABLATIONS, **ORACLES}
    results: Runs = {n: {} for n in ["cnn", "l2_teacher", *map(result_label, args.rows)]}
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
            trained = None
            for row in args.rows:
                method, student, extra = table[row.name]
                run_dir = base / row.directory(suffix)
                start = time.perf_counter()
                shared = shared_teacher(base, row, suffix, trained)
                overrides = [*common, f"distill.method={method}", f"distill.student={student}"]
                settings = [*overrides, *extra, *row.sets]
                if row.name in ORACLES:  # last: they replace the data (and the steps' epochs)
                    settings += oracle_overrides(run_dir, row, settings)
                metrics, fits = run_one(run_dir, settings, shared)
                eval_fit = fits["student"]
                acc = metrics["student"]["accuracy"]
                fit = final_train_accuracy(run_dir, "student")
                results[result_label(row)].setdefault(width, {})[seed] = (acc, fit, eval_fit)
                teacher_row = "cnn" if row.name in CNN_TEACHER else "l2_teacher"
                if "teacher" in metrics and row.student_side and row.name in (
                    *CNN_TEACHER, *NGD_TEACHER
                ):
                    source = shared.parent.parent if shared is not None else run_dir
                    results[teacher_row].setdefault(width, {}).setdefault(
                        seed,
                        (
                            metrics["teacher"]["accuracy"],
                            final_train_accuracy(source, "teacher"),
                            fits["teacher"],
                        ),
                    )
                if metrics.get("teacher", {}).get("co_trained"):
                    # PKKD's CNN trains beside the student, on the student's budget: its
                    # own row (its running fit is not logged apart; its eval-mode fit is).
                    results.setdefault(co_trained_label(row), {}).setdefault(width, {})[
                        seed
                    ] = (metrics["teacher"]["accuracy"], None, fits["teacher"])
                if row.name in CNN_TEACHER and row.student_side and trained is None:
                    trained = run_dir / "checkpoints" / "teacher.pt"
                print(
                    f"w{width} s{seed} {row.label:<24} {acc:.4f} (train {fit:.4f}, "
                    f"eval-mode fit {eval_fit:.4f}, "
                    f"{time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
    return results


def mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def summarize(results: Runs, seeds: list[int]) -> dict:
    """Mean ± std of test accuracy, final-epoch training accuracy and eval-mode accuracy on
    the training split per row and width (``None`` where a seed's figure was not measured)."""
    out: dict = {}
    for label, by_width in results.items():
        for width, by_seed in by_width.items():
            have = [s for s in seeds if s in by_seed]
            entry: dict = {"n": len(have)}
            for i, key in enumerate(("", "train_", "eval_fit_")):
                xs = [by_seed[s][i] for s in have]
                m, sd = mean_std(xs) if None not in xs else (None, None)
                entry |= {
                    f"{key}mean": m, f"{key}std": sd,
                    f"{key}by_seed": {str(s): x for s, x in zip(have, xs, strict=True)},
                }  # fmt: skip
            out.setdefault(label, {})[str(width)] = entry
    return out


def compare(summary: dict, label: str, base: str, width: str) -> dict:
    """``label`` against row ``base`` at ``width``, paired by seed."""
    a, b = summary[label][width], summary[base][width]
    seeds = [s for s in a["by_seed"] if s in b["by_seed"]]
    diffs = [a["by_seed"][s] - b["by_seed"][s] for s in seeds]
    margin = a["mean"] - b["mean"]
    return {
        "margin": margin,
        "ahead": sum(d > 0 for d in diffs),
        "seeds": len(seeds),
        "beyond_std": margin > max(a["std"], b["std"]),
    }


def against_baselines(summary: dict, plain: str | None, kd: str | None) -> dict:
    """Per width and row: share of the plain-ANN–CNN gap closed, margins over the
    baselines, and the bar (≥ 50 % of the gap, more than either std over both)."""
    table: dict = {}
    if plain is None or "cnn" not in summary:
        return table
    for width, cnn in summary["cnn"].items():
        if width not in summary[plain]:
            continue
        gap = cnn["mean"] - summary[plain][width]["mean"]
        for label, by_width in summary.items():
            if is_reference(label) or label == plain or width not in by_width:
                continue
            entry = {
                "gap": gap,
                "share": (by_width[width]["mean"] - summary[plain][width]["mean"]) / gap
                if gap > 0 else float("nan"),
                "vs_plain": compare(summary, label, plain, width),
            }
            if kd is not None and label != kd and width in summary.get(kd, {}):
                entry["vs_kd"] = compare(summary, label, kd, width)
            entry["bar"] = (
                entry["share"] >= 0.5
                and entry["vs_plain"]["beyond_std"]
                and entry.get("vs_kd", {}).get("beyond_std", False)
            )
            table.setdefault(width, {})[label] = entry
    return table


def cell(s: dict | None, key: str = "mean") -> str:
    if s is None or s[key] is None:
        return "—"
    return f"{s[key]:.3f} ± {s[key.replace('mean', 'std')]:.3f}"


def print_tables(args: argparse.Namespace, summary: dict, vs: dict, budget: str) -> None:
    widths = [str(w) for w in args.widths]
    head = "| row | " + " | ".join(f"width {w}" for w in widths) + " |"
    rule = "|---|" + "---|" * len(widths)
    print(f"\n{args.dataset}, {budget}, seeds {args.seeds}: mean ± std test accuracy")
    print(f"{head}\n{rule}")
    for label, by_width in summary.items():
        print(f"| {label} | " + " | ".join(cell(by_width.get(w)) for w in widths) + " |")
    if any(label.endswith(UPPER_BOUND) for label in summary):
        print(
            f"rows marked{UPPER_BOUND} are not methods: the plain ANN trained on train ∪ test "
            "(the test labels), tested on test; _steps: epochs for the plain ANN's optimizer "
            "steps. Never held to the bar."
        )
    for key, title in [
        ("train_mean", "final-epoch training accuracy (running, in training mode)"),
        ("eval_fit_mean", "accuracy on the training split, trained network in eval mode"),
    ]:
        print(f"\n{title}, mean ± std")
        print(f"{head}\n{rule}")
        for label, by_width in summary.items():
            cells = [cell(by_width.get(w), key) for w in widths]
            print(f"| {label} | " + " | ".join(cells) + " |")
    if not vs:
        return
    print("\nagainst the baselines: share of the gap closed; margin in points (seeds ahead)")
    print("| row | width | gap | share | vs plain | vs KD | bar |\n|---|---|---|---|---|---|---|")
    for width, by_label in vs.items():
        for label, e in by_label.items():
            cols = []
            for key in ("vs_plain", "vs_kd"):
                c = e.get(key)
                cols.append(
                    "—" if c is None
                    else f"{100 * c['margin']:+.1f} ({c['ahead']}/{c['seeds']})"
                    + (" > std" if c["beyond_std"] else "")
                )
            print(
                f"| {label} | {width} | {100 * e['gap']:.1f} | {100 * e['share']:.0f} % | "
                f"{cols[0]} | {cols[1]} | {'met' if e['bar'] else 'no'} |"
            )


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    results = train_all(args)
    summary = summarize({k: v for k, v in results.items() if v}, args.seeds)
    plain = baseline(args.rows, args.plain, "ann")
    vs = against_baselines(summary, plain, baseline(args.rows, args.kd, "ann_kd"))
    student_epochs = args.student_epochs or args.epochs
    budget = f"{args.epochs} epochs" + (
        f", students {student_epochs}" if student_epochs != args.epochs else ""
    )
    if args.sets:
        budget += ", " + " ".join(args.sets)
    print_tables(args, summary, vs, budget)
    if args.json:
        args.json.write_text(json.dumps({**summary, "against": vs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
