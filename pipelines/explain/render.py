"""The explain tree as a table to read in a terminal, JSON for tools, and a self-contained HTML page: a waterfall
of the factors from the baseline's goodput to the current one, and a sunburst of factor, reason and family."""

from __future__ import annotations

import json
import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pipelines.explain.decompose import FLOOR


def as_json(tree: dict) -> str:
    return json.dumps(tree, indent=2, default=str)


def as_table(tree: dict, min_change: float = 0.0005) -> str:
    """Log changes shown as percentage points of log goodput (x100); reasons under `min_change` are left out."""

    def pct(value: float) -> str:
        return f"{100 * value:+7.2f}%"

    windows = tree["windows"]
    lines = [
        f"goodput {tree['baseline_goodput']:.1%} -> {tree['current_goodput']:.1%}   "
        f"log change {pct(tree['total_change'])}",
        f"  current {windows['current'][0]} .. {windows['current'][1]}   "
        f"baseline {windows['baseline'][0]} .. {windows['baseline'][1]}"
        + (f"   where {tree['where']}" if tree.get("where") else ""),
        fault_line(tree),
        "",
    ]
    for factor in tree["factors"]:
        lines.append(f"{pct(factor['change'])}  {factor['factor']} {factor['baseline']:.1%} -> {factor['current']:.1%}")
        for reason in factor["reasons"]:
            if abs(reason["change"]) < min_change:
                continue
            lines.append(f"{pct(reason['change'])}    {reason['reason']} [{reason['family']}]")
            for piece in reason["top_slices"][:3]:
                lines.append(
                    f"{pct(piece['change'])}      {piece['dimension']}={piece['value']} "
                    f"(mix {pct(piece['mix']).strip()}, rate {pct(piece['rate']).strip()})"
                )
    lines += ["", "fault families (what broke):"]
    lines += [f"{pct(c)}  {f}" for f, c in tree["fault_families"].items() if abs(c) >= min_change]
    lines += ["", "other families (how the GPUs were used, demand, planned, gaming, telemetry):"]
    lines += [f"{pct(c)}  {f}" for f, c in tree["other_families"].items() if abs(c) >= min_change]
    lines += ["", f"GPU-hours lost beyond the baseline's rates: {tree['excess_gpu_hours']:,.1f}, by family:"]
    lines += [
        f"{hours:+9.1f} h  {family}"
        for family, hours in tree["families_excess_gpu_hours"].items()
        if abs(hours) >= 0.05
    ]
    return "\n".join(lines)


def fault_line(tree: dict) -> str:
    """The largest fault family on its own line: what broke, apart from how the GPUs were used."""
    worst = tree.get("largest_fault_family")
    if worst is None:
        return "largest fault family: none (no fault family lost goodput against the baseline)"
    return (
        f"largest fault family: {worst['family']} {100 * worst['change']:+.2f}% log goodput, "
        f"{worst['excess_gpu_hours']:,.1f} GPU-h beyond the baseline"
    )


def as_html(tree: dict) -> str:
    return as_figure(tree).to_html(include_plotlyjs=True, full_html=True)


def as_figure(tree: dict, sunburst: bool = True) -> go.Figure:
    """A waterfall of the factors beside a sunburst of factor, reason and family; or, with sunburst=False (pages that
    load Plotly's smaller bundle), beside bars of the reasons that moved most."""
    factors = tree["factors"]
    figure = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.5, 0.5],
        specs=[[{"type": "waterfall"}, {"type": "sunburst" if sunburst else "xy"}]],
        subplot_titles=(
            "log change of goodput by factor",
            "where it went: factor, reason, family" if sunburst else "the reasons that moved most",
        ),
    )
    figure.add_trace(
        go.Waterfall(
            x=["baseline", *[f["factor"] for f in factors], "current"],
            measure=["absolute", *["relative"] * len(factors), "total"],
            y=[math.log(max(tree["baseline_goodput"], FLOOR)), *[f["change"] for f in factors], 0],
            text=[
                f"{tree['baseline_goodput']:.1%}",
                *[f"{f['change']:+.3f}" for f in factors],
                f"{tree['current_goodput']:.1%}",
            ],
            textposition="outside",
            hovertemplate="%{x}: %{y:.4f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    figure.add_trace(_reason_sunburst(factors) if sunburst else _reason_bars(factors), row=1, col=2)
    windows = tree["windows"]
    figure.update_layout(
        title={
            "text": f"goodput {tree['baseline_goodput']:.1%} (baseline {windows['baseline'][0]} .. "
            f"{windows['baseline'][1]}) -> {tree['current_goodput']:.1%} (current {windows['current'][0]} .. "
            f"{windows['current'][1]})<br><sup>{fault_line(tree)}</sup>",
            "y": 0.97,
            "yanchor": "top",
        },
        margin={"t": 130},  # the title and subplot titles sit below Plotly's toolbar, not under it
        showlegend=False,
        height=660,
    )
    return figure


def _reason_bars(factors: list[dict], most: int = 12) -> go.Bar:
    reasons = [r for f in factors for r in f["reasons"] if r["change"] != 0]
    reasons = sorted(reasons, key=lambda r: abs(r["change"]), reverse=True)[:most][::-1]
    return go.Bar(
        x=[r["change"] for r in reasons],
        y=[f"{r['reason']} ({r['family']})" for r in reasons],
        orientation="h",
        marker={"color": ["#cf222e" if r["change"] < 0 else "#2da44e" for r in reasons]},
        hovertemplate="%{y}: %{x:+.4f} log goodput<extra></extra>",
    )


def _reason_sunburst(factors: list[dict]) -> go.Sunburst:
    ids, labels, parents, values, colors = [], [], [], [], []
    for factor in factors:
        ids.append(factor["factor"])
        labels.append(factor["factor"])
        parents.append("")
        values.append(sum(abs(r["change"]) for r in factor["reasons"]) or 1e-12)
        colors.append(factor["change"])
        for reason in factor["reasons"]:
            if reason["change"] == 0:
                continue
            ids.append(f"{factor['factor']}/{reason['reason']}")
            labels.append(f"{reason['reason']} ({reason['family']})")
            parents.append(factor["factor"])
            values.append(abs(reason["change"]))
            colors.append(reason["change"])
    return go.Sunburst(
        ids=ids,
        labels=labels,
        parents=parents,
        values=values,
        branchvalues="total",
        marker={"colors": colors, "colorscale": "RdBu", "cmid": 0},
        hovertemplate="%{label}: %{color:+.4f} log goodput<extra></extra>",
    )
