"""``report.html``: one self-contained page (plots inlined as PNG) that needs no network.

Sections: accuracy per stage, equivalence per backend, arithmetic per layer and adder versus
multiplier, FPGA utilisation when a synthesis ran, and the commands behind every number.
A section whose data the run did not produce says so and names the command that would.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402

ADDER_COLOR = "#2a9d8f"
MUL_COLOR = "#e76f51"

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 980px; color: #222; }
h1 { border-bottom: 3px solid #2a9d8f; padding-bottom: .3rem; }
table { border-collapse: collapse; margin: .6rem 0 1.2rem; }
th, td { border: 1px solid #ccc; padding: .3rem .7rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.ok { background: #d8f3dc; } .bad { background: #ffccd5; font-weight: bold; }
.missing { color: #777; font-style: italic; }
pre { background: #f4f4f4; padding: .7rem; }
"""


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _table(header: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes else ""
        cells = "".join(f"<td>{html.escape(str(c))}</td>" for c in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _missing(what: str, command: str) -> str:
    code = html.escape(command)
    return f'<p class="missing">No {what} in this run; <code>{code}</code> adds it.</p>'


def _accuracy(metrics: dict[str, Any]) -> str:
    stages = [
        (k, metrics[k]["accuracy"]) for k in ("teacher", "student", "quantized") if k in metrics
    ]
    if not stages:
        return _missing("trained model", "adderflow run")
    fig, ax = plt.subplots(figsize=(6, 2.6))
    colors = [MUL_COLOR, ADDER_COLOR, ADDER_COLOR][: len(stages)]
    ax.barh([s for s, _ in stages], [a for _, a in stages], color=colors)
    ax.set_xlim(0, 1)
    ax.set_xlabel("test accuracy")
    for i, (_, acc) in enumerate(stages):
        ax.text(0.02, i, f"{acc:.4f}", va="center", color="white", weight="bold")
    rows = [[stage, f"{acc:.4f}"] for stage, acc in stages]
    return _png(fig) + _table(["stage", "accuracy"], rows)


def _equivalence(metrics: dict[str, Any]) -> str:
    eq = metrics.get("equivalence", {})
    if not eq:
        return _missing("equivalence check", "adderflow verify RUN")
    rows, classes = [], []
    for name, entry in eq.items():
        exact = entry["mismatches"] == 0
        rows.append(
            [name, entry["samples"], entry["mismatches"], "bit-exact" if exact else "DIFFERS"]
        )
        classes.append("ok" if exact else "bad")
    return _table(["backend vs reference", "samples", "mismatches", "verdict"], rows, classes)


def _ops(metrics: dict[str, Any]) -> str:
    ops = metrics.get("ops", {})
    if not ops:
        return _missing("operation count", "adderflow export RUN")
    fig, ax = plt.subplots(figsize=(6, 2.6))
    roles = list(ops)
    adds = [ops[r]["add"] for r in roles]
    muls = [ops[r]["mul"] for r in roles]
    ax.barh(roles, adds, color=ADDER_COLOR, label="additions")
    ax.barh(roles, muls, left=adds, color=MUL_COLOR, label="multiplications")
    ax.set_xlabel("operations per image")
    ax.legend(loc="lower right")
    rows = [[r, f"{ops[r]['add']:,}", f"{ops[r]['mul']:,}"] for r in roles]
    return _png(fig) + _table(["model", "additions", "multiplications"], rows)


def _cost(metrics: dict[str, Any]) -> str:
    cost = metrics.get("cost")
    if not cost:
        return _missing("energy estimate", "adderflow energy RUN/model.qonnx.onnx")
    ann, cnn = cost["ann"], cost["cnn"]
    pairs = [
        (a, c)
        for a, c in zip(ann["layers"], cnn["layers"], strict=True)
        if a["arith_pj"] or c["arith_pj"]
    ]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(pairs) + 1.2))
    y = list(range(len(pairs)))
    ax.barh(
        [v - 0.2 for v in y],
        [a["arith_pj"] for a, _ in pairs],
        0.4,
        color=ADDER_COLOR,
        label="adder network (as exported)",
    )
    ax.barh(
        [v + 0.2 for v in y],
        [c["arith_pj"] for _, c in pairs],
        0.4,
        color=MUL_COLOR,
        label="CNN twin (multipliers)",
    )
    ax.set_yticks(y, [a["node"] for a, _ in pairs])
    ax.invert_yaxis()
    ax.set_xlabel("arithmetic energy per image (pJ)")
    ax.legend(loc="lower right")
    rows = [
        [
            a["node"],
            a["op_type"],
            f"{a['add']:,}",
            f"{a['mul']:,}",
            f"{a['arith_pj']:.1f}",
            f"{c['arith_pj']:.1f}",
        ]
        for a, c in pairs
    ]
    header = ["node", "op", "add", "mul", "ANN arith pJ", "CNN twin arith pJ"]
    totals = [
        [
            label,
            f"{ann['total'][key]:.1f}",
            f"{cnn['total'][key]:.1f}",
            f"{cost['cnn_over_ann'][key]:.2f}×" if cost["cnn_over_ann"][key] else "n/a",
        ]
        for key, label in (
            ("arith_pj", "arithmetic"),
            ("memory_pj", f"memory ({ann['memory']})"),
            ("energy_pj", "total"),
        )
    ]
    parts = [
        _png(fig),
        _table(header, rows),
        _table(["per image (pJ)", "adder network", "CNN twin", "CNN / ANN"], totals),
        f"<p>Energy table: {html.escape(str(ann['table']))} (45 nm, Horowitz 2014).</p>",
    ]
    if ann["interpolated_widths"]:
        notes = "; ".join(ann["interpolated_widths"])
        parts.append(f"<p><b>Interpolated widths:</b> {html.escape(notes)}</p>")
    uncounted = sorted(set(ann["uncounted"]) | set(cnn["uncounted"]))
    if uncounted:
        parts.append(f"<p class='bad'><b>Not counted:</b> {html.escape(', '.join(uncounted))}</p>")
    return "".join(parts)


def _fpga(metrics: dict[str, Any]) -> str:
    fpga = metrics.get("fpga")
    if not fpga:
        return _missing("FPGA synthesis", "adderflow synth RUN")
    rows = [[k, v] for k, v in fpga.items() if not isinstance(v, (dict, list))]
    return _table(["quantity", "value"], rows)


def render_html(metrics: dict[str, Any], commands: list[str]) -> str:
    title = f"adderflow run — {metrics.get('dataset', '?')}, {metrics.get('bits', '?')} bits"
    sections = [
        ("Accuracy per stage", _accuracy(metrics)),
        ("Equivalence (integer codes, exact)", _equivalence(metrics)),
        ("Arithmetic: adder network versus its CNN teacher", _ops(metrics)),
        ("Energy per layer", _cost(metrics)),
        ("FPGA utilisation", _fpga(metrics)),
        ("Reproduce", "<pre>" + html.escape("\n".join(commands)) + "</pre>"),
    ]
    body = "".join(f"<h2>{html.escape(h)}</h2>\n{content}\n" for h, content in sections)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>\n{body}</body></html>\n"
    )
