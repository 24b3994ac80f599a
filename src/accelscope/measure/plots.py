"""Validation figures: predicted vs measured per level (log-log, with the ±10 % band), and error vs arithmetic
intensity (FLOP per byte of the row's op, where it has one) so misses can be traced to compute- or memory-bound
regimes. Written as PNG and SVG."""

from __future__ import annotations

from pathlib import Path

from .validate import RowResult


def write_validation_plots(results: list[RowResult], out_dir: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scored = [r for r in results if r.error is not None]
    levels = list(dict.fromkeys(r.level for r in scored))
    categories = sorted({r.row.category for r in scored})
    colors = {c: plt.cm.tab10(i) for i, c in enumerate(categories)}
    paths = []
    fig, axes = plt.subplots(1, max(len(levels), 1), figsize=(5.5 * max(len(levels), 1), 5), squeeze=False)
    for ax, level in zip(axes[0], levels, strict=False):
        for category in categories:
            rows = [r for r in scored if r.level == level and r.row.category == category]
            ratio = [r.time_ratio for r in rows]
            ax.scatter(range(len(ratio)), ratio, s=18, label=category, color=colors[category])
        ax.axhline(1.0, color="black", lw=1)
        ax.axhspan(0.9, 1.1, color="grey", alpha=0.2, label="±10 %")
        ax.set_yscale("log")
        ax.set_title(f"{level}: predicted / measured time (>1: model slow)")
        ax.set_xlabel("row (per category)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    paths += _save(fig, out / "predicted_vs_measured")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for level, marker in zip(levels, "os^", strict=False):
        points = [(r.row.shape.get("intensity") or _intensity(r), r.error) for r in scored if r.level == level]
        points = [(x, e) for x, e in points if x]
        if points:
            ax.scatter([p[0] for p in points], [100 * p[1] for p in points], marker=marker, s=18, label=level)
    ax.axhline(0, color="black", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP / byte)")
    ax.set_ylabel("error (%)")
    ax.set_title("Error vs arithmetic intensity (GEMM and attention rows)")
    ax.legend()
    fig.tight_layout()
    paths += _save(fig, out / "error_vs_intensity")
    plt.close(fig)
    return paths


def _intensity(result: RowResult) -> float | None:
    s = result.row.shape
    if {"M", "N", "K"} <= set(s):
        m, n, k = int(s["M"]), int(s["N"]), int(s["K"])
        return 2 * m * n * k / (2 * (m * k + k * n + m * n))  # 16-bit operands
    return None


def _save(fig: object, stem: Path) -> list[Path]:
    paths = []
    for suffix in (".png", ".svg"):
        path = stem.with_suffix(suffix)
        fig.savefig(path, dpi=130)  # type: ignore[attr-defined]
        paths.append(path)
    return paths
