"""Figures of a sweep: Pareto scatter, heatmaps over pairs of axes, tornado charts of elasticities.

Inputs are plain results (the sweep's table as a DataFrame, its spec as a dict, elasticities as nested dicts);
nothing here calls a performance model. Each figure is written as PNG (matplotlib, for slides) and all of them
together as one self-contained interactive HTML page (plotly inlined once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..hardware.display import field_dimension, format_field, metric_label
from .figures import RESOURCE_COLORS

GREY = "#c7c7c7"


def _label(column: str) -> str:
    return column.removeprefix("axis:")


def independent_axes(table: Any, spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, column) per axis the sweep varies independently: each axis, and each coupled group once (by its
    first varied member, whose values stand for the group's), so no two of them move together."""
    varied = [c for c in table.columns if c.startswith("axis:") and table[c].nunique() > 1]
    out = [(path, f"axis:{path}") for path in (spec.get("axes") or {}) if f"axis:{path}" in varied]
    for group, members in (spec.get("coupled") or {}).items():
        shown = [path for path in members if f"axis:{path}" in varied]
        first = next((path for path in shown if path.endswith("bf16")), shown[0] if shown else None)
        if first:
            out.append((f"{group} (coupled; {first} shown)", f"axis:{first}"))
    listed = {column for _, column in out} | {f"axis:{p}" for m in (spec.get("coupled") or {}).values() for p in m}
    return out + [(_label(c), c) for c in varied if c not in listed]  # a table whose spec lacks the axes


def fixed_axes(table: Any) -> dict[str, Any]:
    """Axes that keep one value over the whole sweep: path -> that value."""
    return {_label(c): table[c].iloc[0] for c in table.columns if c.startswith("axis:") and table[c].nunique() == 1}


def tick(column: str, value: Any) -> str:
    """An axis value with its unit: '3.35 TB/s', '233.5 kB', '1.98 PFLOP/s'."""
    return format_field(_label(column), float(value)) if field_dimension(_label(column)) else f"{value:.4g}"


def _objective_columns(spec: dict[str, Any]) -> list[tuple[str, bool]]:
    """(metric column, larger is better) per objective."""
    return [(o.partition(" ")[2], o.startswith("max")) for o in spec["objectives"]]


def _bound_column(table: Any, metric: str) -> str | None:
    prefix = metric.rpartition(".")[0]
    column = f"{prefix}.bound" if prefix else "bound"
    return column if column in table.columns else None


def plotly_pareto(table: Any, front: Any, spec: dict[str, Any]) -> Any:
    """The first two objectives: every feasible point (grey), the front coloured by what limits it."""
    import plotly.graph_objects as go

    (x, _), (y, _) = _objective_columns(spec)[:2]
    feasible = table[table["feasible"]]
    axes = [c for c in table.columns if c.startswith("axis:")]
    hover = "<br>".join(f"{_label(a)}: %{{customdata[{i}]:.4g}}" for i, a in enumerate(axes))
    fig = go.Figure(go.Scattergl(x=feasible[x], y=feasible[y], mode="markers", name="feasible points",
                                 marker={"color": GREY, "size": 5}, customdata=feasible[axes].to_numpy(),
                                 hovertemplate=hover + "<extra></extra>"))
    bound = _bound_column(front, x)
    groups = front.groupby(bound) if bound else [("Pareto front", front)]
    for name, rows in groups:
        fig.add_trace(go.Scatter(x=rows[x], y=rows[y], mode="markers", name=f"front: {name}",
                                 marker={"size": 10, "color": RESOURCE_COLORS.get(str(name), "black"),
                                         "line": {"width": 1, "color": "black"}},
                                 customdata=rows[axes].to_numpy(), hovertemplate=hover + "<extra></extra>"))
    fig.update_layout(title=f"{spec.get('name', 'sweep')}: Pareto front ({len(front)} of {len(feasible)} feasible "
                            f"points)", xaxis={"title": x}, yaxis={"title": y}, height=480)
    return fig


def heatmap_grid(table: Any, metric: str, larger_is_better: bool, x_axis: str, y_axis: str) -> Any:
    """The best value of `metric` over every other axis, for each (x, y) pair of axis values (a pivot table)."""
    feasible = table[table["feasible"]]
    return feasible.pivot_table(index=y_axis, columns=x_axis, values=metric,
                                aggfunc="max" if larger_is_better else "min")


def plotly_heatmap(grid: Any, metric: str, x_axis: str, y_axis: str, labels: tuple[str, str] | None = None) -> Any:
    import plotly.graph_objects as go

    x_label, y_label = labels or (_label(x_axis), _label(y_axis))
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=[tick(x_axis, v) for v in grid.columns],
                               y=[tick(y_axis, v) for v in grid.index], colorscale="Viridis",
                               colorbar={"title": metric_label(metric)},
                               hovertemplate="%{x}, %{y}: %{z:.4g}<extra></extra>"))
    fig.update_layout(title=f"best {metric_label(metric)} over the other axes (blank: no feasible design)", xaxis={"title": x_label, "type": "category"},
                      yaxis={"title": y_label, "type": "category"}, height=420)
    return fig


def plotly_tornado(values: dict[str, float], metric: str) -> Any:
    import plotly.graph_objects as go

    items = sorted(values.items(), key=lambda kv: abs(kv[1]))
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h",
                           marker_color=["#2ca02c" if v > 0 else "#d62728" for _, v in items]))
    fig.update_layout(title=f"elasticity of {metric}", xaxis={"title": f"d log({metric}) / d log(parameter)"},
                      height=120 + 28 * len(items), margin={"l": 280})
    return fig


# ----- static (matplotlib) ---------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_pareto(table: Any, front: Any, spec: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    (x, _), (y, _) = _objective_columns(spec)[:2]
    feasible = table[table["feasible"]]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.scatter(feasible[x], feasible[y], s=6, color=GREY, label="feasible points")
    bound = _bound_column(front, x)
    for name, rows in (front.groupby(bound) if bound else [("front", front)]):
        ax.scatter(rows[x], rows[y], s=36, color=RESOURCE_COLORS.get(str(name), "black"), edgecolors="black",
                   label=f"front: {name}", zorder=3)
    ax.set(xlabel=x, ylabel=y, title=f"{spec.get('name', 'sweep')}: Pareto front")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def png_heatmap(grid: Any, metric: str, x_axis: str, y_axis: str, path: Path,
                labels: tuple[str, str] | None = None) -> Path:
    plt = _pyplot()
    x_label, y_label = labels or (_label(x_axis), _label(y_axis))
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    image = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(grid.columns)), [tick(x_axis, v) for v in grid.columns], rotation=30, ha="right",
                  fontsize=8)
    ax.set_yticks(range(len(grid.index)), [tick(y_axis, v) for v in grid.index], fontsize=8)
    ax.set(xlabel=x_label, ylabel=y_label, title=f"best {metric_label(metric)} over the other axes\n"
                                                  "(blank: no feasible design)")
    fig.colorbar(image, ax=ax, label=metric_label(metric))
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def png_tornado(values: dict[str, float], metric: str, path: Path) -> Path:
    plt = _pyplot()
    items = sorted(values.items(), key=lambda kv: abs(kv[1]))
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.35 * len(items)))
    ax.barh([k for k, _ in items], [v for _, v in items], color=["#2ca02c" if v > 0 else "#d62728" for _, v in items])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"elasticity of {metric}")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


# ----- one folder of figures ---------------------------------------------------------------------------------
def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def write_html(figures: list[Any], title: str, path: Path) -> Path:
    """One self-contained page: plotly.js inlined with the first figure, the others reuse it."""
    body = "".join(fig.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, fig in enumerate(figures))
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
                    f"<body style='font-family:sans-serif;max-width:1100px;margin:auto'><h1>{title}</h1>{body}"
                    f"</body></html>")
    return path


def write_sweep_figures(table: Any, front: Any, spec: dict[str, Any], out: Path,
                        elasticity: dict[str, dict[str, float]] | None = None) -> list[Path]:
    """Pareto scatter (with two or more objectives), a heatmap per objective over the first two independent axes
    (a coupled group counts once), and a tornado chart per objective when elasticities are given."""
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    figures: list[Any] = []
    objectives = _objective_columns(spec)
    if len(objectives) >= 2 and len(front):
        figures.append(plotly_pareto(table, front, spec))
        paths.append(png_pareto(table, front, spec, out / "pareto.png"))
    axes = independent_axes(table, spec)
    if len(axes) >= 2 and table["feasible"].any():
        (x_label, x_axis), (y_label, y_axis) = axes[:2]
        for metric, larger in objectives:
            grid = heatmap_grid(table, metric, larger, x_axis, y_axis)
            figures.append(plotly_heatmap(grid, metric, x_axis, y_axis, (x_label, y_label)))
            paths.append(png_heatmap(grid, metric, x_axis, y_axis, out / f"heatmap_{_safe(metric)}.png",
                                     (x_label, y_label)))
    for metric, values in (elasticity or {}).items():
        if values:
            figures.append(plotly_tornado(values, metric))
            paths.append(png_tornado(values, metric, out / f"tornado_{_safe(metric)}.png"))
    if figures:
        paths.append(write_html(figures, f"sweep {spec.get('name', '')}", out / "figures.html"))
    return paths
