"""Rich rendering of specs and estimates for the terminal."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..hardware.describe import derived_figures
from ..hardware.display import column_unit, format_in
from ..hardware.units import format_quantity as fq

if TYPE_CHECKING:
    from ..hardware.spec import HardwareSpec, Section
    from ..perf import Estimate
    from ..workload.ops import Op


def spec_headline(hw: HardwareSpec) -> dict[str, Any]:
    from ..hardware.headline import _validated_headline

    return _validated_headline(hw)


# hw list: (header, headline key, dimension); each column in one unit, named in its header
HW_COLUMNS = [("BF16", "bf16_flops", "flops"), ("FP8", "fp8_flops", "flops"), ("FP4", "fp4_flops", "flops"),
              ("memory", "memory_bytes", "bytes"), ("mem bw", "memory_bandwidth", "bandwidth"),
              ("TDP", "tdp_w", "power")]


def hw_table(heads: list[dict[str, Any]], width: int = 120) -> Table:
    """Presets with headline figures (hardware/headline.py): ids never cut (the chip name only in a terminal
    `width` >= 100 wide), one unit per column (the three peaks share one, so they compare across as well as down)."""
    table = Table(title="Hardware presets (dense peaks)", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", no_wrap=True, min_width=max((len(h["id"]) for h in heads), default=2))
    wide = width >= 100
    if wide:
        table.add_column("chip", overflow="fold", ratio=1)
    units = []
    for header, _key, dimension in HW_COLUMNS:
        same = [h[k] for h in heads for _, k, d in HW_COLUMNS if d == dimension and h[k]]
        label, factor = ("TB/s", 1e12) if dimension == "bandwidth" else column_unit(same, dimension)
        units.append(factor)
        table.add_column(f"{header}\n{label}", justify="right", no_wrap=True)
    for h in heads:
        cells = [format_in(h[key] or None, factor, digits=3) for (_, key, _), factor in zip(HW_COLUMNS, units,
                                                                                          strict=True)]
        table.add_row(escape(h["id"]), *[escape(h["name"])] * wide, *cells)
    return table


def _source_note(section: Section | None, field: str | None = None) -> str:
    if section is None:
        return ""
    if field and field in section.sources:
        return section.sources[field]
    return section.source or ""


def print_datasheet(console: Console, hw: HardwareSpec, show_sources: bool = True) -> None:
    """A datasheet: sections in order, every number with its unit, sources in a dim column."""
    # every string from the spec file is escaped: a name like "[/oops]" is text, not rich markup
    about = f"{hw.label}, {hw.vendor} {hw.kind}{', ' + str(hw.year) if hw.year else ''}"
    console.print(f"[bold]{escape(hw.name)}[/]  [dim]({escape(about)})[/]")
    if hw.description:
        console.print(escape(hw.description))
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("section")
    table.add_column("figure")
    table.add_column("value", justify="right")
    notes: list[str] = []
    if show_sources:
        table.add_column("src", justify="right", style="dim")
    for section, figure, value, source in datasheet_rows(hw):
        cells = [escape(section), escape(figure), escape(value)]
        if show_sources:
            if source and source not in notes:
                notes.append(source)
            cells.append(f"[{notes.index(source) + 1}]" if source else "")
        table.add_row(*cells)
    console.print(table)
    if notes:
        console.print("[bold]Sources[/]")
        for number, note in enumerate(notes, 1):
            console.print(f"  [{number}] {escape(note)}", highlight=False, style="dim")
    console.print(derived_table(hw))


# Source note of a value the spec leaves to the model's cross-chip constants (hardware/spec.py).
CROSS_CHIP_DEFAULT = ("model default, fitted across chips and checked leaving each out: "
                      "accelscope validate --dataset dev --loco (docs/validation.md)")


def datasheet_rows(hw: HardwareSpec) -> list[tuple[str, str, str, str]]:
    c, m, v = hw.compute, hw.matrix, hw.vector
    rows = [
        ("compute", f"{c.core_name}s", str(c.cores), _source_note(c, "cores")),
        ("compute", "clock", fq(c.clock, "frequency"), _source_note(c, "clock")),
    ]
    rows += [("matrix", f"{dtype} dense", fq(peak, "flops"), _source_note(m, "peak")) for dtype, peak in m.peak.items()]
    if m.tile:
        rows.append(("matrix", "instruction tile (m,n,k)", "x".join(map(str, m.tile)), _source_note(m, "tile")))
    if m.systolic:
        rows.append(("matrix", "systolic array", "x".join(map(str, m.systolic)), _source_note(m, "systolic")))
    rows.append(("matrix", f"units per {c.core_name}", str(m.units_per_core), _source_note(m, "units_per_core")))
    rows += [("matrix", f"{dtype} sustained fraction", f"{hw.matrix_efficiency(dtype):.2f}",
              _source_note(m, "efficiency") if dtype in m.efficiency else CROSS_CHIP_DEFAULT) for dtype in m.peak]
    rows.append(("vector", f"fp32 lanes per {c.core_name}", str(v.lanes_per_core), _source_note(v, "lanes_per_core")))
    rows += [("vector", dtype, fq(peak, "flops"), _source_note(v, "peak")) for dtype, peak in v.peak.items()]
    if hw.sfu:
        for fn, rate in hw.sfu.ops_per_clock_per_core.items():
            total = rate * c.cores * c.clock
            rows.append(("sfu", fn, f"{rate:g}/clk/{c.core_name} = {total / 1e12:.2f} Tops/s", _source_note(hw.sfu)))
    for name, level in hw.memory.items():
        per = f" per {c.core_name}" if level.scope == "core" else ""
        rows.append((f"memory.{name}", f"{level.kind} capacity{per}", fq(level.capacity, "bytes"),
                     _source_note(level, "capacity")))
        rows.append((f"memory.{name}", f"bandwidth{per}", fq(level.bandwidth, "bandwidth"),
                     _source_note(level, "bandwidth")))
        if level.latency is not None:
            rows.append((f"memory.{name}", "latency", fq(level.latency, "time"), _source_note(level, "latency")))
        if level.kind == "dram" or level.efficiency < 1 or level.write_cost > 1:
            note = _source_note(level, "efficiency") if "efficiency" in level.sources else CROSS_CHIP_DEFAULT
            rows.append((f"memory.{name}", "achievable read fraction / write cost",
                         f"{level.efficiency:.2f} / {level.write_cost:.2f}x", note))
    rows += _interconnect_rows(hw)
    if hw.power:
        rows.append(("power", "TDP", fq(hw.power.tdp, "power"), _source_note(hw.power, "tdp")))
    if hw.physical:
        p = hw.physical
        rows.append(("physical", "process", f"{p.process} ({p.node_nm:g} nm class)", _source_note(p, "process")))
        if p.die_area:
            rows.append(("physical", f"die area ({p.dies} die{'s' if p.dies > 1 else ''})", fq(p.die_area, "area"),
                         _source_note(p, "die_area")))
        if p.transistors:
            rows.append(("physical", "transistors", f"{p.transistors / 1e9:.1f} B", _source_note(p, "transistors")))
    if hw.cost:
        rows.append(("cost", "unit price", fq(hw.cost.unit_price, "money"), _source_note(hw.cost, "unit_price")))
    rows.append(("runtime", "kernel launch", fq(hw.runtime.launch_latency, "time"), _source_note(hw.runtime)))
    if hw.runtime.host_op_latency is not None:
        rows.append(("runtime", "host time per eager op", fq(hw.runtime.host_op_latency, "time"),
                     _source_note(hw.runtime, "host_op_latency")))
    if hw.runtime.host_speed is not None:
        rows.append(("runtime", "host core speed (x Xeon 8480C)", f"{hw.runtime.host_speed:g}",
                     _source_note(hw.runtime, "host_speed")))
    return rows


def _interconnect_rows(hw: HardwareSpec) -> list[tuple[str, str, str, str]]:
    ic = hw.interconnect
    rows = []
    if ic.scale_up:
        s = ic.scale_up
        rows += [
            ("scale-up", "domain", f"{s.domain_size} devices, {s.topology}", _source_note(s, "domain_size")),
            ("scale-up", "bandwidth per direction", fq(s.bandwidth, "bandwidth"), _source_note(s, "bandwidth")),
            ("scale-up", "latency", fq(s.latency, "time"), _source_note(s, "latency")),
        ]
    if ic.scale_out:
        s = ic.scale_out
        rows += [
            ("scale-out", f"bandwidth per direction ({s.topology})", fq(s.bandwidth, "bandwidth"),
             _source_note(s, "bandwidth")),
            ("scale-out", "latency", fq(s.latency, "time"), _source_note(s, "latency")),
        ]
    if ic.host:
        rows.append(("host link", "bandwidth per direction", fq(ic.host.bandwidth, "bandwidth"), _source_note(ic.host)))
    return rows


def derived_table(hw: HardwareSpec) -> Table:
    d = derived_figures(hw)
    table = Table(title="Derived figures", header_style="bold")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for dtype, ridge in d["ridge_point_flop_per_byte"].items():  # type: ignore[union-attr]
        table.add_row(escape(f"ridge point {dtype}"), f"{ridge:,.0f} FLOP/B  ({1 / ridge:.4f} B/FLOP)")
    if d["sfu_exp2_ops_per_s"]:
        ratio = d["sfu_to_matrix_bf16_ratio"]
        table.add_row("SFU exp2 rate", f"{d['sfu_exp2_ops_per_s'] / 1e12:.2f} Tops/s")  # type: ignore[operator]
        if ratio:
            table.add_row("SFU-to-matrix (bf16) ratio", f"1 : {1 / ratio:,.0f}")  # type: ignore[operator]
    table.add_row("on-chip SRAM + caches", fq(d["on_chip_sram_bytes"], "bytes"))  # type: ignore[arg-type]
    return table


def op_dict(op: Op) -> dict[str, Any]:
    return {"op": type(op).__name__, **{k: v for k, v in dataclasses.asdict(op).items()}}  # type: ignore[call-overload]


def print_estimate(console: Console, op: Op, hw: HardwareSpec, est: Estimate, explain: bool = False) -> None:
    console.print(f"[bold]{escape(op.describe())}[/] on [bold]{escape(hw.name)}[/] ({escape(est.hw_label)}) — level {est.level}")
    busy = {resource: seconds for resource, seconds in est.breakdown.items() if seconds > 0}
    unit, factor = column_unit([*busy.values(), est.seconds], "time")
    table = Table(show_header=True, header_style="bold")
    table.add_column("resource")
    table.add_column(f"busy time {unit}", justify="right")
    table.add_column("share of wall time", justify="left")
    for resource, seconds in busy.items():
        share = seconds / est.seconds if est.seconds else 0.0
        bar = "█" * max(1, round(30 * min(share, 1.0)))
        style = "bold green" if resource == est.bound else ""
        table.add_row(f"[{style}]{resource}[/]" if style else resource, format_in(seconds, factor),
                      f"{bar} {share:.0%}")
    console.print(table)
    console.print(
        f"time [bold]{fq(est.seconds, 'time')}[/], bound by [bold]{est.bound_label}[/]; "
        f"{est.flops / 1e9:,.2f} GFLOP at {fq(est.achieved_flops, 'flops')}, "
        f"{fq(est.bytes, 'bytes')} moved at {fq(est.achieved_bandwidth, 'bandwidth')}"
    )
    if explain and est.details:
        for line in explain_lines(est):
            console.print(f"  {escape(line)}", highlight=False)


def _schedule_line(m: dict) -> str:
    per_tile = f"{fq(m['tile_seconds'], 'time')} per tile"
    if m.get("schedule") == "stream-k":
        return (f"stream-k: {m['tiles']} tiles' K iterations shared evenly by persistent CTAs, one per core "
                f"(no tail wave; data-parallel would need {m['waves']} waves), {per_tile}, "
                f"{fq(m['compute_seconds'], 'time')} busy per core")
    return (f"waves: {m['tiles']} tiles over the cores = {m['waves']} waves (last wave {m['tail_tiles']} tiles), "
            f"{per_tile}")


def explain_lines(est: Estimate) -> list[str]:
    """The model's reasoning in sentences: the chosen mapping, traffic per level, what bounds it."""
    d = dict(est.details)
    lines = []
    mapping = d.pop("mapping", None)
    if mapping:
        m = mapping
        d.pop("memory_level", None)  # said once, in the bound below
        lines += [
            f"mapping: CTA tile {m['block_m']}x{m['block_n']}x{m['block_k']}, {m['stages']} pipeline stages, "
            f"split-K {m['split_k']}, cluster multicast {m['cluster']}",
            _schedule_line(m),
            f"traffic: HBM {fq(m['hbm_bytes'], 'bytes')} ({fq(m['hbm_seconds'], 'time')}), "
            f"L2 {fq(m['l2_bytes'], 'bytes')} ({fq(m['l2_seconds'], 'time')}), SRAM "
            f"{fq(m['sram_bytes'], 'bytes')} per tile ({fq(m['sram_seconds'], 'time')}); matrix busy "
            f"{fq(m['mma_seconds'], 'time')}",
            f"overheads: prologue {fq(m['prologue_seconds'], 'time')}, epilogue {fq(m['epilogue_seconds'], 'time')}, "
            f"split-K reduction {fq(m['reduction_seconds'], 'time')}; bound by {est.bound_label}",
        ]
    lines += [f"{key.replace('_seconds', '_time').replace('_', ' ')}: {_detail_value(key, value)}"
              for key, value in d.items()]
    return lines


def _detail_value(key: str, value: object) -> object:
    """Times as times (one or a list of them, e.g. a phased kernel's phases); anything else as it is."""
    if key.endswith("_seconds") and isinstance(value, float):
        return fq(value, "time")
    if key.endswith("_seconds") and isinstance(value, list) and all(isinstance(v, float) for v in value):
        return " + ".join(fq(v, "time") for v in value)
    return value
