"""``report.md``: what a person wants to read after a run, with the commands behind it."""

from __future__ import annotations

from typing import Any

import onnx

from adderflow.config import Config


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


def _layer_table(model: onnx.ModelProto) -> list[str]:
    rows = ["| node | op | output width (bits) |", "|---|---|---|"]
    for node in model.graph.node:
        if node.domain != "adderflow":
            continue
        bits = next((a.i for a in node.attribute if a.name == "out_bits"), None)
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
