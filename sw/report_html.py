"""``report.html``: one self-contained page (plots inlined as PNG) that needs no network.

Sections: accuracy per stage, equivalence per backend, operations and energy per layer for
the adder network, its CNN twin and its BNN twin (uncounted ops named in red), the dataflow
roofline (only when the RTL stage recorded its cycle model), the folding search's
LUT-against-images/s front (only when ``bench/dse.py --record`` wrote it), FPGA
utilisation (schema in docs/cost-model.md), and under each section the command that
regenerates it. A core section whose data the run did not produce says so and names the
command that would.
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
.cmd { color: #555; font-size: .9rem; }
"""


KIND_COLORS = {"add": ADDER_COLOR, "mul": MUL_COLOR, "cmp": "#8d99ae", "xnor": "#6a4c93"}
BNN_COLOR = "#6a4c93"
SHORT_LABELS = {"ann": "ANN", "cnn": "CNN twin", "bnn": "BNN twin"}
# The command that regenerates each section's numbers (RUN: the run directory).
SECTION_COMMANDS = {
    "accuracy": "adderflow train --out RUN; adderflow export RUN",
    "equivalence": "adderflow verify RUN --backend all",
    "ops": "adderflow export RUN",
    "cost": "adderflow energy RUN/model.qonnx.onnx",
    "roofline": "adderflow rtl RUN",
    "fpga": "adderflow synth RUN",
    "dse": "python bench/dse.py --run RUN --confirm 3 --record",
}


def _regenerate(section: str) -> str:
    code = html.escape(SECTION_COMMANDS[section])
    return f'<p class="cmd">Regenerate: <code>{code}</code></p>'


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
    return _png(fig) + _table(["stage", "accuracy"], rows) + _regenerate("accuracy")


def _equivalence(metrics: dict[str, Any]) -> str:
    eq = metrics.get("equivalence", {})
    if not eq:
        return _missing("equivalence check", SECTION_COMMANDS["equivalence"])
    rows, classes = [], []
    for name, entry in eq.items():
        exact = entry["mismatches"] == 0
        rows.append(
            [name, entry["samples"], entry["mismatches"], "bit-exact" if exact else "DIFFERS"]
        )
        classes.append("ok" if exact else "bad")
    header = ["backend vs reference", "samples", "mismatches", "verdict"]
    return _table(header, rows, classes) + _regenerate("equivalence")


def _ops(metrics: dict[str, Any]) -> str:
    ops = metrics.get("ops", {})
    if not ops:
        return _missing("operation count", SECTION_COMMANDS["ops"])
    fig, ax = plt.subplots(figsize=(6, 2.6))
    roles = list(ops)
    adds = [ops[r]["add"] for r in roles]
    muls = [ops[r]["mul"] for r in roles]
    ax.barh(roles, adds, color=ADDER_COLOR, label="additions")
    ax.barh(roles, muls, left=adds, color=MUL_COLOR, label="multiplications")
    ax.set_xlabel("operations per image")
    ax.legend(loc="lower right")
    rows = [[r, f"{ops[r]['add']:,}", f"{ops[r]['mul']:,}"] for r in roles]
    return _png(fig) + _table(["model", "additions", "multiplications"], rows) + _regenerate("ops")


def _views(cost: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], str]]:
    """(key, label, result, colour) of every view present: ANN, CNN twin and the BNN twin if any."""
    views = [("ann", "adder network (as exported)", ADDER_COLOR), ("cnn", "CNN twin", MUL_COLOR)]
    if "bnn" in cost:
        views.append(("bnn", "BNN twin (XNOR/popcount)", BNN_COLOR))
    return [(key, label, cost[key], color) for key, label, color in views]


def _layer_names(cost: dict[str, Any]) -> list[str]:
    """Layers with any arithmetic in some view, in graph order."""
    busy = {
        layer["node"]
        for _, _, view, _ in _views(cost)
        for layer in view["layers"]
        if layer["arith_pj"] or any(layer.get(kind) for kind in KIND_COLORS)
    }
    return [layer["node"] for layer in cost["ann"]["layers"] if layer["node"] in busy]


def _by_node(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {layer["node"]: layer for layer in view["layers"]}


def _energy_plot(cost: dict[str, Any], names: list[str]) -> str:
    views = _views(cost)
    width = 0.8 / len(views)
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(names) + 1.2))
    for i, (_, label, view, color) in enumerate(views):
        layers = _by_node(view)
        offsets = [y - 0.4 + width * (i + 0.5) for y in range(len(names))]
        ax.barh(offsets, [layers[n]["arith_pj"] for n in names], width, color=color, label=label)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("arithmetic energy per image (pJ)")
    ax.legend(loc="lower right", fontsize="small")
    return _png(fig)


def _ops_plot(cost: dict[str, Any], names: list[str]) -> str:
    """Per-layer operation counts by kind, adder network above its CNN twin."""
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(names) + 1.2))
    for offset, key in ((-0.2, "ann"), (0.2, "cnn")):
        layers, left = _by_node(cost[key]), [0] * len(names)
        for kind, color in KIND_COLORS.items():
            counts = [layers[n].get(kind, 0) for n in names]
            hatch = "//" if key == "cnn" else None
            label = kind if key == "ann" else None
            y = [v + offset for v in range(len(names))]
            ax.barh(y, counts, 0.4, left=left, color=color, hatch=hatch, label=label)
            left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("operations per image (upper bar: adder network; hatched: CNN twin)")
    ax.legend(loc="lower right", fontsize="small")
    return _png(fig)


def _layer_rows(cost: dict[str, Any], names: list[str]) -> tuple[list[str], list[list[Any]]]:
    views = _views(cost)
    ann = _by_node(cost["ann"])
    header = ["node", "op", "add", "mul", "cmp", "abs", "xnor", "64-bit accesses"]
    header += [f"{SHORT_LABELS[key]} arith pJ" for key, _, _, _ in views]
    rows = []
    for name in names:
        layer = ann[name]
        counts = [f"{layer.get(kind, 0):,}" for kind in ("add", "mul", "cmp", "abs", "xnor")]
        energies = [f"{_by_node(view)[name]['arith_pj']:.1f}" for _, _, view, _ in views]
        rows.append([name, layer["op_type"], *counts, f"{layer['accesses_64b']:,}", *energies])
    return header, rows


def _ratio(cost: dict[str, Any], key: str, energy: str) -> str:
    value = cost.get(f"{key}_over_ann", {}).get(energy)
    return f"{value:.2f}×" if value else "n/a"


def _totals(cost: dict[str, Any]) -> str:
    views = _views(cost)
    others = [key for key, _, _, _ in views[1:]]
    labels = (("arith_pj", "arithmetic"), ("memory_pj", f"memory ({cost['ann']['memory']})"))
    rows = [
        [
            label,
            *(f"{view['total'][energy]:.1f}" for _, _, view, _ in views),
            *(_ratio(cost, key, energy) for key in others),
        ]
        for energy, label in (*labels, ("energy_pj", "total"))
    ]
    header = ["per image (pJ)", *(SHORT_LABELS[key] for key, _, _, _ in views)]
    header += [f"{key.upper()} / ANN" for key in others]
    return _table(header, rows)


def _notes(cost: dict[str, Any]) -> list[str]:
    views = _views(cost)
    parts = [f"<p>Energy table: {html.escape(str(cost['ann']['table']))}.</p>"]
    notes = sorted({n for _, _, view, _ in views for n in view["interpolated_widths"]})
    if notes:
        text = html.escape("; ".join(notes))
        parts.append(f"<p><b>Interpolated or derived energies:</b> {text}</p>")
    uncounted = sorted({item for _, _, view, _ in views for item in view["uncounted"]})
    if uncounted:
        items = "".join(f"<li>{html.escape(item)}</li>" for item in uncounted)
        parts.append(
            "<div class='bad'><b>Not counted (unknown to the cost model, not zero):</b>"
            f"<ul>{items}</ul></div>"
        )
    return parts


def _cost(metrics: dict[str, Any]) -> str:
    cost = metrics.get("cost")
    if not cost:
        return _missing("energy estimate", SECTION_COMMANDS["cost"])
    names = _layer_names(cost)
    header, rows = _layer_rows(cost, names)
    parts = [_ops_plot(cost, names), _energy_plot(cost, names), _table(header, rows)]
    parts += [_totals(cost), *_notes(cost), _regenerate("cost")]
    return "".join(parts)


def _design(metrics: dict[str, Any]) -> dict[str, Any] | None:
    design = metrics.get("rtl", {}).get("design") if isinstance(metrics.get("rtl"), dict) else None
    return design if isinstance(design, dict) and design.get("layers") else None


ROOFLINE_HEADER = ["layer", "cycles", "ops (terms)", "lanes", "ops/cycle", "busy",
                   "ops/cycle in pipeline", "lane utilisation"]  # fmt: skip


def _roofline_row(row: dict[str, Any]) -> list[Any]:
    util = "—" if row["utilization"] is None else f"{100 * row['utilization']:.0f}%"
    return [
        row["name"],
        f"{row['cycles']:,}",
        f"{row['ops']:,}",
        "—" if row["lanes"] is None else row["lanes"],
        f"{row['ops_per_cycle']:.2f}",
        f"{100 * row['busy']:.0f}%",
        f"{row['achieved_ops_per_cycle']:.2f}",
        util,
    ]


def _fmax(metrics: dict[str, Any]) -> float | None:
    """Fmax of the synthesized design, if that design is the RTL stage's: `adderflow synth`
    may fold the network differently (``design_simulated`` false), and then its clock says
    nothing about this pipeline's interval."""
    fpga = metrics.get("fpga")
    if not isinstance(fpga, dict) or fpga.get("design_simulated") is False:
        return None
    fmax = fpga.get("fmax_mhz")
    return fmax if _numeric(fmax) and fmax > 0 else None


def _roofline(metrics: dict[str, Any]) -> str:
    """Rendered only when the RTL stage recorded its per-layer cycle model."""
    from adderflow.sim.roofline import from_design, plot

    view = from_design(_design(metrics))
    rows = view.rows()
    names = html.escape(", ".join(layer.name for layer in view.bottlenecks))
    summary = (
        f"<p><b>Bottleneck: {names}</b>, {view.interval:,} cycles per image in steady state; "
        f"the pipeline does {view.ops_per_cycle:.2f} ops/cycle"
    )
    fmax = _fmax(metrics)
    if fmax:
        summary += f", {view.images_per_second(fmax):,.0f} images/s at Fmax {fmax:g} MHz"
    table = _table(
        ROOFLINE_HEADER,
        [_roofline_row(row) for row in rows],
        ["bad" if row["bottleneck"] else "" for row in rows],
    )
    plot_html = _png(plot(view, MUL_COLOR, ADDER_COLOR))
    return plot_html + summary + ".</p>" + table + _regenerate("roofline")


FPGA_QUANTITIES = (
    ("luts", "LUTs"),
    ("lut4", "LUT4 cells (yosys)"),
    ("carry", "carry cells"),
    ("lutram", "LUT RAM"),
    ("ffs", "flip-flops"),
    ("brams", "block RAMs"),
    ("dsps", "DSP blocks"),
    ("fmax_mhz", "Fmax (MHz)"),
)


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any) -> str:
    if not _numeric(value):
        return html.escape(str(value))
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _utilisation(fpga: dict[str, Any]) -> str:
    available = fpga.get("available") if isinstance(fpga.get("available"), dict) else {}
    rows = []
    for key, label in FPGA_QUANTITIES:
        if key not in fpga:
            continue
        cap = available.get(key)
        used = _numeric(fpga[key]) and _numeric(cap) and cap > 0
        share = f"{100 * fpga[key] / cap:.1f}%" if used else "—"
        rows.append([label, _number(fpga[key]), _number(cap) if cap else "—", share])
    return _table(["quantity", "this design", "device has", "used"], rows) if rows else ""


def _builds_plot(adder: dict[str, Any], mac: dict[str, Any], keys: list[tuple[str, str]]) -> str:
    """LUTs, FFs, BRAMs, DSPs of the adder array next to its multiplier twin."""
    resources = [(k, label) for k, label in keys if k != "fmax_mhz"]
    if not resources:
        return ""
    fig, ax = plt.subplots(figsize=(6, 0.6 * len(resources) + 1.2))
    y = list(range(len(resources)))
    for offset, build, color, label in (
        (-0.2, adder, ADDER_COLOR, "adder PEs"),
        (0.2, mac, MUL_COLOR, "multiplier PEs (twin)"),
    ):
        values = [build[k] for k, _ in resources]
        ax.barh([v + offset for v in y], values, 0.4, color=color, label=label)
    ax.set_yticks(y, [label for _, label in resources])
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize="small")
    return _png(fig)


def _adder_vs_mac(fpga: dict[str, Any]) -> str:
    adder, mac = fpga.get("adder"), fpga.get("mac")
    if not (isinstance(adder, dict) and isinstance(mac, dict)):
        return ""
    keys = [
        (k, label)
        for k, label in FPGA_QUANTITIES
        if _numeric(adder.get(k)) and _numeric(mac.get(k))
    ]
    rows = [
        [label, _number(adder[k]), _number(mac[k]), _ratio_text(mac[k], adder[k])]
        for k, label in keys
    ]
    header = ["quantity", "adder array", "multiplier twin", "mac / adder"]
    plot_html = _builds_plot(adder, mac, keys)
    return "<h3>Adder versus multiplier array</h3>" + plot_html + _table(header, rows)


def _ratio_text(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}×" if denominator else "n/a"


def _fpga(metrics: dict[str, Any]) -> str:
    """``metrics["fpga"]``, schema in docs/cost-model.md: the build's utilisation, device
    capacity when known, and the adder array next to its multiplier twin when both ran."""
    fpga = metrics.get("fpga")
    if not isinstance(fpga, dict) or not fpga:
        return _missing("FPGA synthesis", SECTION_COMMANDS["fpga"])
    known = {k for k, _ in FPGA_QUANTITIES} | {"available", "adder", "mac", "device", "command"}
    head = f"<p>Device: <b>{html.escape(str(fpga.get('device', 'not recorded')))}</b></p>"
    other = [[k, _number(v)] for k, v in fpga.items() if k not in known]
    parts = [head, _utilisation(fpga), _adder_vs_mac(fpga)]
    if other:
        parts.append(_table(["other", "value"], other))
    command = html.escape(str(fpga.get("command") or SECTION_COMMANDS["fpga"]))
    parts.append(f'<p class="cmd">Regenerate: <code>{command}</code></p>')
    return "".join(parts)


def _dse_plot(dse: dict[str, Any]) -> str:
    """Estimated LUT sites against images/s along the front; yosys' count where confirmed."""
    front, confirmed = dse["front"], dse.get("confirmed") or []
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.plot([p["images_per_second"] for p in front], [p["luts"] for p in front], "o-",
            color=ADDER_COLOR, markersize=3, label="Pareto front (estimate)")  # fmt: skip
    if confirmed:
        ax.plot([p["images_per_second"] for p in confirmed],
                [p["yosys"]["luts"] for p in confirmed], "x", color=MUL_COLOR, markersize=9,
                label="yosys synth_ecp5")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel(f"images/s at {dse['clock_mhz']:g} MHz")
    ax.set_ylabel("LUT sites")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _png(fig)


def _dse(metrics: dict[str, Any]) -> str:
    """``metrics["dse"]`` (bench/dse.py --record): the front and the points yosys checked."""
    dse = metrics["dse"]
    best = dse["front"][0]
    head = (
        f"<p>{html.escape(str(dse.get('network', '')))}: {len(dse['front'])} foldings on the "
        f"front, from {dse['front'][-1]['images_per_second']:,.1f} to "
        f"{best['images_per_second']:,.1f} images/s at {dse['clock_mhz']:g} MHz "
        f"({best['luts']:,} estimated LUT sites at the fast end).</p>"
    )
    rows = [
        [f"{p['interval']:,}", f"{p['images_per_second']:,.1f}", p["lanes"], f"{p['luts']:,}",
         f"{p['yosys']['luts']:,}", _error(p["luts"], p["yosys"]["luts"])]
        for p in dse.get("confirmed") or []
    ]  # fmt: skip
    header = ["interval (cycles)", "images/s", "lanes", "LUT sites est", "yosys", "error"]
    table = _table(header, rows) if rows else ""
    command = html.escape(str(dse.get("command") or SECTION_COMMANDS["dse"]))
    return head + _dse_plot(dse) + table + f'<p class="cmd">Regenerate: <code>{command}</code></p>'


def _error(estimate: float, measured: float) -> str:
    return f"{100 * (estimate - measured) / measured:+.1f}%" if measured else "—"


def render_html(metrics: dict[str, Any], commands: list[str]) -> str:
    title = f"adderflow run — {metrics.get('dataset', '?')}, {metrics.get('bits', '?')} bits"
    sections = [
        ("Accuracy per stage", _accuracy(metrics)),
        ("Equivalence (integer codes, exact)", _equivalence(metrics)),
        ("Arithmetic: adder network versus its CNN teacher", _ops(metrics)),
        ("Energy per layer (operations, energy, adder versus multiplier)", _cost(metrics)),
    ]
    if _design(metrics):
        sections.append(("Throughput: which layer bounds the pipeline", _roofline(metrics)))
    if isinstance(metrics.get("dse"), dict) and metrics["dse"].get("front"):
        sections.append(("Design space: LUTs against images/s", _dse(metrics)))
    sections += [
        ("FPGA utilisation", _fpga(metrics)),
        ("Reproduce", "<pre>" + html.escape("\n".join(commands)) + "</pre>"),
    ]
    body = "".join(f"<h2>{html.escape(h)}</h2>\n{content}\n" for h, content in sections)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>\n{body}</body></html>\n"
    )
