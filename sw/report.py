"""``report.md``: what a person wants to read after a run, with the commands behind it."""

from __future__ import annotations

from typing import Any

import onnx

from adderflow.config import Config
from adderflow.sim.ops import op_class

VIEW_LABELS = (("ann", "ANN (as exported)"), ("cnn", "CNN twin"), ("bnn", "BNN twin"))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def _accuracy_table(metrics: dict[str, Any]) -> list[str]:
    rows = ["| stage | model | accuracy | parameters |", "|---|---|---|---|"]
    for role, label in (("teacher", "CNN teacher"), ("student", "adder student (KD)")):
        entry = metrics.get(role, {})
        rows.append(
            f"| {role} | {label} | {_pct(entry.get('accuracy'))} | {entry.get('params', '—')} |"
        )
    q = metrics.get("quantized", {})
    rows.append(
        f"| quantized | {q.get('bits', '—')}-bit integer student | {_pct(q.get('accuracy'))} | — |"
    )
    return rows


def _equivalence_table(metrics: dict[str, Any]) -> list[str]:
    rows = ["| comparison | samples | mismatches | verdict |", "|---|---|---|---|"]
    for name, entry in metrics.get("equivalence", {}).items():
        verdict = "bit-exact" if entry["mismatches"] == 0 else "**DIFFERS**"
        rows.append(f"| {name} | {entry['samples']} | {entry['mismatches']} | {verdict} |")
    return rows


def _ops_table(metrics: dict[str, Any]) -> list[str]:
    rows = ["| model | additions | multiplications |", "|---|---|---|"]
    for role, entry in metrics.get("ops", {}).items():
        rows.append(f"| {role} | {entry['add']:,} | {entry['mul']:,} |")
    return rows


def _energy_table(cost: dict[str, Any]) -> list[str]:
    """Totals per view and, where the cost model met ops it does not know, their names: an
    uncounted op is never a silent zero."""
    views = [(k, label) for k, label in VIEW_LABELS if k in cost]
    rows = [
        "| per image | " + " | ".join(label for _, label in views) + " |",
        "|---" * (len(views) + 1) + "|",
    ]
    for key, label in (("arith_pj", "arithmetic (pJ)"), ("memory_pj", "memory (pJ)")):
        values = " | ".join(f"{cost[k]['total'][key]:,.1f}" for k, _ in views)
        rows.append(f"| {label} | {values} |")
    for kind in ("add", "mul", "xnor"):
        rows.append(
            f"| {kind} | " + " | ".join(f"{cost[k]['total'][kind]:,}" for k, _ in views) + " |"
        )
    uncounted = sorted({item for k, _ in views for item in cost[k].get("uncounted", [])})
    if uncounted:
        rows += [
            "",
            "**Not counted** (unknown to the cost model, not zero): " + ", ".join(uncounted),
        ]
    return rows


def _throughput(metrics: dict[str, Any]) -> list[str]:
    from adderflow.sim.roofline import from_design

    design = metrics.get("rtl", {}).get("design") if isinstance(metrics.get("rtl"), dict) else None
    if not isinstance(design, dict) or not design.get("layers"):
        return []
    view = from_design(design)
    return ["## Throughput (dataflow pipeline)", "```", view.format_table(), "```", ""]


def _layer_table(model: onnx.ModelProto) -> list[str]:
    rows = ["| node | op | output width (bits) |", "|---|---|---|"]
    for node in model.graph.node:
        if node.domain != "adderflow":
            continue
        bits = next((a.i for a in node.attribute if a.name == "out_bits"), None)
        op = op_class(node)
        if op is not None and op.bipolar_output:
            bits = "1 (±1 codes)"
        rows.append(f"| {node.name} | {node.op_type} | {bits} |")
    return rows


def reproduce_commands(cfg: Config) -> list[str]:
    return [
        f"adderflow run --bits {cfg.quant.bits} --out <dir>   # the whole job",
        "adderflow verify <dir>                     # layer-by-layer equivalence again",
        "adderflow report <dir>                     # rewrite report.md and report.html",
    ]


def render_report(metrics: dict[str, Any], cfg: Config, model: onnx.ModelProto | None) -> str:
    seconds = metrics.get("seconds", {})
    lines = [
        f"# adderflow run — {metrics.get('dataset', '?')}, {metrics.get('bits', '?')} bits",
        "",
        "## Accuracy (test split)",
        *_accuracy_table(metrics),
        "",
        "## Equivalence (integer codes, exact)",
        *_equivalence_table(metrics),
        "",
        "## Arithmetic per image",
        *_ops_table(metrics),
        "",
        "Adder layers count two additions per term (|x−w| and the accumulation); the first",
        "convolution and the classifier stay multiplication layers.",
        "",
    ]
    if metrics.get("cost"):
        table = metrics["cost"]["ann"].get("table", "?")
        lines += [f"## Energy per image (table: {table})", *_energy_table(metrics["cost"]), ""]
    lines += _throughput(metrics)
    if model is not None:
        lines += ["## Exported layers (QONNX, domain `adderflow`)", *_layer_table(model), ""]
    lines += [
        "## Time per stage",
        "| stage | seconds |",
        "|---|---|",
        *[f"| {name} | {value:.1f} |" for name, value in seconds.items()],
        "",
        "## Reproduce",
        "```",
        *reproduce_commands(cfg),
        "```",
    ]
    return "\n".join(lines) + "\n"
