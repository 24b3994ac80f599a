"""The event-driven engine: one core's tile program over its units, dependencies tracked through named buffers.

State is the time each unit becomes free and, per buffer, when its contents are ready (and on which unit) and when
its last reader is done. Each instruction starts at the later of (a) its operands being ready, (b) the slot it
overwrites having been read, (c) every unit it occupies being free, and (d) its issue slot; it occupies its units
for their busy cycles and its result is usable `latency` cycles later (same-unit consumers get it forwarded).
Per-unit queues are in order and run concurrently, so time jumps from event to event; idle time is never stepped.

Because every start time is a max of sums of durations over a fixed instruction order (a max-plus system),
shortening any duration never delays any event: more bandwidth or peak never makes a program slower. One exception
to program order: a SIMT kernel's L2 requests (Cost.defer_l2) take the first idle window of the L2 pipe from their
issue (first fit), so that window search is not a max-plus term; L2 and DRAM bandwidth x1.2, x2, x4 on gb200,
h100-sxm and a100 over 138 norm / SwiGLU shapes gave no slower case.

Idle gaps on the unit an instruction mainly uses (its first unit) are charged to why it waited: `wait:<unit>` for
an operand produced on that unit (`wait:dma` = stalled on a load), `slot` for a buffer still being read (all
buffers in flight), or the name of another unit it also needs (`hbm`, `l2`: the core's share of that bandwidth was
busy; `sram`: the SRAM ports).
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass, field

from .core import CoreModel, Cost
from .isa import Instr, Special


@dataclass(frozen=True)
class Program:
    """One core's instructions in issue order. When the compiler simulated only a sample of identical tiles,
    `mark` is the index of the last instruction of the sample and the run's time grows by `extra` x the time the
    sample took (see compiler.py)."""

    name: str
    instrs: tuple[Instr, ...]
    cores: int = 1  # cores running this program at once
    mark: int | None = None
    extra: float = 0.0
    notes: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    unit: str
    start: float
    cycles: float
    label: str
    reason: str


@dataclass
class RunResult:
    cycles: float
    busy: dict[str, float]
    stalls: dict[str, dict[str, float]]
    events: list[Event]
    instructions: int


def run(program: Program, core: CoreModel, trace: bool = False) -> RunResult:
    """Simulate `program` on `core`; with `trace`, keep one event per instruction (and per bandwidth pipe)."""
    free: dict[str, float] = defaultdict(float)
    ready: dict[str, tuple[float, float, str]] = {}  # buffer -> (usable by other units, by the same unit, unit)
    read_done: dict[str, float] = {}
    busy: dict[str, float] = defaultdict(float)
    stalls: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    events: list[Event] = []
    costs: dict[Instr, Cost] = {}
    step = 1.0 / core.issue_per_cycle
    issue = end = 0.0
    snapshot: tuple[float, dict[str, float], dict[str, dict[str, float]]] | None = None
    rr = 0
    wrote_back = False
    l2_busy: list[tuple[float, float]] = []  # the L2 pipe's reservations (start, end), sorted by start
    for index, ins in enumerate(program.instrs):
        cost = costs.get(ins)
        if cost is None:
            cost = costs[ins] = core.cost(ins)
        units = cost.units
        if units and units[0][0] == "dma":  # round-robin over the core's DMA engines
            units = ((f"dma{rr % core.dma_engines}", units[0][1]), *units[1:])
            rr += 1
        primary = units[0][0] if units else "none"
        base = _base(primary)
        dep, reason = issue, "issue"
        for name in ins.reads:
            entry = ready.get(name)
            if entry is not None:
                t = entry[1] if entry[2] == base else entry[0]
                if t > dep:
                    dep, reason = t, f"wait:{entry[2]}"
        for name in ins.writes:
            t = read_done.get(name, 0.0)
            if t > dep:
                dep, reason = t, "slot"
        start = dep
        for unit, _ in units:
            if (unit == "hbm" and not cost.holds_for_hbm) or (unit == "l2" and cost.defer_l2):
                continue  # a shared pipe reserved below, without holding the core's own units back
            if free[unit] > start:
                start, reason = free[unit], _base(unit) if unit != primary else reason
        gap = start - free[primary] if units else 0.0
        if gap > 0:
            stalls[base][reason] += gap
        occupancy = 0.0
        for unit, cycles in units:
            at = start
            if unit == "hbm" and cost.write_back:  # a write-back from L2: the pipe, not the store, waits
                at = max(start, free[unit])
                wrote_back = True
            elif unit == "hbm" and not cost.holds_for_hbm:  # the request reaches DRAM `lead` cycles after it
                at = max(start + cost.lead, free[unit])  # leaves the core, or when the pipe frees up
                occupancy = max(occupancy, at + cycles - cost.lead - start)
            elif unit == "l2" and cost.defer_l2:  # the warps' requests reach the L2 slices in the first idle
                # window of the core's share from their issue: a store issued before a load that the program
                # lists earlier but that runs later in time does not queue behind it (the pipe serves requests
                # in time order, not program order)
                at = _first_gap(l2_busy, start, cycles)
                occupancy = max(occupancy, at + cycles - start)
            else:
                occupancy = max(occupancy, cycles)
            if unit == "l2":
                _reserve(l2_busy, at, cycles)
            free[unit] = max(free[unit], at + cycles) if unit == "l2" else at + cycles
            busy[unit] += cycles
            if trace and unit != primary and unit in ("hbm", "l2"):
                events.append(Event(unit, at, cycles, ins.label, ""))
        done = start + occupancy + cost.latency
        for name in ins.writes:
            ready[name] = (done, start + occupancy, base)
        for name in ins.reads:
            read_done[name] = max(read_done.get(name, 0.0), start + occupancy)
        end = max(end, done)
        issue += step
        if trace and units:
            events.append(Event(primary, start, occupancy, _trace_label(ins, primary), reason if gap > 0 else ""))
        if program.mark is not None and index == program.mark:
            snapshot = (_dram_floor(end, busy, core, wrote_back), dict(busy), {u: dict(r) for u, r in stalls.items()})
    return _result(program, _dram_floor(end, busy, core, wrote_back), busy, stalls, events, snapshot)


def _first_gap(intervals: list[tuple[float, float]], start: float, cycles: float) -> float:
    """The earliest time from `start` at which the pipe is idle for `cycles` (intervals sorted, disjoint)."""
    at = start
    # the intervals are disjoint, so their ends are sorted too: begin at the last one starting at or before
    # `start` (the only earlier one that can still be busy then) instead of scanning the whole history
    first = max(bisect.bisect_right(intervals, (start, math.inf)) - 1, 0)
    for lo, hi in (intervals[k] for k in range(first, len(intervals))):
        if hi <= at:
            continue
        if lo >= at + cycles:
            break
        at = hi
    return at


def _reserve(intervals: list[tuple[float, float]], at: float, cycles: float) -> None:
    """Insert [at, at + cycles) into the sorted reservations, merging touching neighbours."""
    if cycles <= 0:
        return
    lo, hi = at, at + cycles
    i = bisect.bisect_left(intervals, (lo, hi))
    if i > 0 and intervals[i - 1][1] >= lo:
        i -= 1
        lo, hi = min(lo, intervals[i][0]), max(hi, intervals[i][1])
        del intervals[i]
    while i < len(intervals) and intervals[i][0] <= hi:
        hi = max(hi, intervals[i][1])
        del intervals[i]
    intervals.insert(i, (lo, hi))


def _dram_floor(end: float, busy: dict[str, float], core: CoreModel, wrote_back: bool) -> float:
    """A program whose stores write back from L2 (Cost.write_back) ends no earlier than one DRAM latency plus
    the DRAM pipe's busy time: those bytes cross the bus within the kernel (as the analytical level's
    latency + memory time), though no instruction waits for the last of them."""
    return max(end, core.hbm_latency + busy.get("hbm", 0.0)) if wrote_back else end


def _trace_label(ins: Instr, unit: str) -> str:
    if isinstance(ins, Special) and unit == "vector":
        return f"{ins.label} [no native {ins.fn}: polynomial on the FMA pipe]"
    return ins.label


def _base(unit: str) -> str:
    """dma0, dma1 -> dma."""
    return "dma" if unit.startswith("dma") else unit


def _result(program: Program, end: float, busy: dict[str, float], stalls: dict[str, dict[str, float]],
            events: list[Event], snapshot: tuple | None) -> RunResult:
    """Totals, with a sampled program's extrapolation (`extra` more copies of the sample's time and work)."""
    busy_by_class: dict[str, float] = defaultdict(float)
    for unit, cycles in busy.items():
        busy_by_class[_base(unit)] += cycles
    stall_out = {u: dict(r) for u, r in stalls.items()}
    if snapshot is not None and program.extra > 0:
        t_mark, busy_mark, stalls_mark = snapshot
        end += program.extra * t_mark
        for unit, cycles in busy_mark.items():
            busy_by_class[_base(unit)] += program.extra * cycles
        for unit, reasons in stalls_mark.items():
            for key, cycles in reasons.items():
                stall_out.setdefault(unit, {})
                stall_out[unit][key] = stall_out[unit].get(key, 0.0) + program.extra * cycles
    return RunResult(cycles=end, busy=dict(busy_by_class), stalls=stall_out, events=events,
                     instructions=len(program.instrs))
