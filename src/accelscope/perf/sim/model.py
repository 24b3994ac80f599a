"""The sim level: compile an op to tile programs, run them on the event engine, report an `Estimate`.

Registered as level="sim". Ops without a lowering (collectives, embeddings, attention backward, unfused "math"
attention) fall back to the analytical level and say so in `details["sim_fallback"]`. As a guard for user specs
with unusual emulation costs the result is never below the roofline (`details["floored_at_roofline"]`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ...hardware import HardwareSpec
from ...workload.ops import Op
from ..estimate import RESOURCES, Estimate, register_level
from .compiler import Alternative, NotLowered, TileWork, compile_choices
from .core import CoreModel, core_model
from .engine import Program, RunResult, run

UNIT_RESOURCE = {"matrix": "matrix", "vector": "vector", "sfu": "sfu", "hbm": "memory", "l2": "memory",
                 "dma": "memory", "dma_out": "memory", "sram": "memory"}


@dataclass(frozen=True)
class SimResult:
    """An estimate plus what produced it: the programs, their runs (with trace events when asked) and the clock."""

    estimate: Estimate
    programs: tuple[Program, ...]
    runs: tuple[RunResult, ...]
    clock: float


def simulate(op: Op, hw: HardwareSpec, trace: bool = False) -> SimResult:
    """Run `op` on `hw` at the cycle level; `trace=True` keeps one event per instruction for `chrome_trace`."""
    core = with_scratchpad(core_model(hw), hw, op.cost().bytes)
    try:
        segments = compile_choices(op, core, hw)
    except NotLowered as why:
        return SimResult(_fallback(op, hw, str(why)), (), (), core.clock)
    programs: list[Program] = []
    runs: list[RunResult] = []
    choices = []
    for alternatives in segments:
        chosen, chosen_runs, choice = fastest(alternatives, core, trace)
        programs += chosen
        runs += chosen_runs
        choices.append(choice)
    est = _estimate(op, hw, core, programs, tuple(runs))
    if any(len(c["candidates"]) > 1 for c in choices):
        est = replace(est, details={**est.details, "tile_choice": choices if len(choices) > 1 else choices[0]})
    return SimResult(est, tuple(programs), tuple(runs), core.clock)


def fastest(alternatives: list[Alternative], core: CoreModel, trace: bool = False
            ) -> tuple[list[Program], list[RunResult], dict[str, Any]]:
    """The alternative whose programs take the fewest cycles, as an autotuner times its candidate kernels and keeps
    the fastest; the first wins ties. One whose work bound (work_cycles) is no less than the best run so far is
    neither built nor run: it cannot be faster, so the result is the exact minimum; since every alternative is
    monotone in every rate (max-plus) and the set depends on shapes and capacities only, so is the minimum."""
    best: tuple[float, int, list[Program], list[RunResult]] | None = None
    simulated = 0
    for index, alternative in enumerate(alternatives):
        if best is not None and alternative.work is not None and work_cycles(alternative.work, core) >= best[0]:
            continue
        programs = alternative.build()
        results = [run(p, core) for p in programs]
        simulated += 1
        cycles = sum(r.cycles for r in results)
        if best is None or cycles < best[0]:
            best = (cycles, index, programs, results)
    assert best is not None
    _, index, chosen, results = best
    if trace:
        results = [run(p, core, trace=True) for p in chosen]
    return chosen, results, {"candidates": [a.label for a in alternatives], "simulated": simulated,
                             "chosen": alternatives[index].label}


def work_cycles(work: TileWork, core: CoreModel) -> float:
    """Cycles no program with this work can beat: its busiest unit's. The matrix unit takes each MMA at the lesser
    of its FLOP and SRAM-port rates (core._mma: a sum of maxima is at least the maximum of the sums), the core's
    share of L2 and HBM carries its loads and stores (core._load, core._store), the vector unit its conversions.
    A sampled run's scaled time is at least its scaled busy time (engine._result), so this bounds it too."""
    if core.systolic:  # fold fill and drain are not in the counts
        return 0.0
    matrix = max(work.mma_flops / core.matrix_rate(work.dtype), work.sram_bytes / core.sram_bytes_per_cycle)
    l2 = work.l2_bytes / core.l2_bytes_per_cycle if core.has_l2 else 0.0
    hbm = (work.hbm_read + work.hbm_written * core.hbm_write_cost) / core.hbm_bytes_per_cycle
    return max(matrix, l2, hbm, work.vector_slots / core.lanes)


def with_scratchpad(core: CoreModel, hw: HardwareSpec, working_set: float) -> CoreModel:
    """The core model for one op on a chip with a scratchpad: its DMA reads and writes to "HBM" go to main memory
    and, for the share of the op's working set the scratchpad holds, to the scratchpad at the same time, so the
    memory behind the DMA engines moves bytes at the combined rate of HardwareSpec.memory_seconds."""
    if hw.scratchpad_name is None or working_set <= 0:
        return core
    read = hw.memory_seconds(working_set, 0.0, working_set)  # seconds for working_set bytes read ...
    written = hw.memory_seconds(0.0, working_set, working_set)  # ... and written
    return replace(core, hbm_bytes_per_cycle=working_set / read / core.clock, hbm_write_cost=written / read)


def sim(op: Op, hw: HardwareSpec) -> Estimate:
    return simulate(op, hw).estimate


def _estimate(op: Op, hw: HardwareSpec, core: CoreModel, programs: list[Program], runs: tuple[RunResult, ...]
              ) -> Estimate:
    cost = op.cost()
    cycles = sum(r.cycles for r in runs)
    seconds = cycles / core.clock
    busy = _sum_busy(runs)
    utilization = {u: c / cycles / (core.dma_engines if u == "dma" else 1) for u, c in busy.items()} if cycles else {}
    breakdown = dict.fromkeys(RESOURCES, 0.0)
    for unit, value in busy.items():
        resource = UNIT_RESOURCE.get(unit, "memory")
        per_unit = value / (core.dma_engines if unit == "dma" else 1) / core.clock
        breakdown[resource] = max(breakdown[resource], per_unit)
    launch = hw.runtime.launch_latency
    breakdown["launch"] = launch
    top = max(utilization, key=lambda u: utilization[u]) if utilization else "matrix"
    bound = "launch" if launch >= seconds else UNIT_RESOURCE.get(top, "memory")
    attribution = dict.fromkeys(RESOURCES, 0.0)
    attribution[bound] += seconds
    attribution["launch"] += launch
    details: dict[str, Any] = {
        "cycles": cycles, "clock_hz": core.clock, "busiest_unit": top,
        "utilization": {u: round(v, 4) for u, v in sorted(utilization.items())},
        "stalls_cycles": _sum_stalls(runs), "programs": [_program_info(p, r) for p, r in zip(programs, runs,
                                                                                             strict=True)],
        "isa": {"sfu_native": sorted(core.sfu_rate), **core.native},
        "derived": dict(core.derived),
    }
    est = Estimate(seconds=seconds + launch, flops=cost.flops, bytes=cost.bytes, bound=bound, breakdown=breakdown,
                   level="sim", op=op.name, hw=hw.id, attribution=attribution, details=details)
    return _floor(op, hw, est)


def _sum_busy(runs: tuple[RunResult, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in runs:
        for unit, cycles in r.busy.items():
            out[unit] = out.get(unit, 0.0) + cycles
    return out


def _sum_stalls(runs: tuple[RunResult, ...]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for r in runs:
        for unit, reasons in r.stalls.items():
            slot = out.setdefault(unit, {})
            for reason, cycles in reasons.items():
                slot[reason] = round(slot.get(reason, 0.0) + cycles, 1)
    return out


def _program_info(program: Program, result: RunResult) -> dict[str, Any]:
    return {"name": program.name, "cycles": result.cycles, "cores": program.cores,
            "instructions_simulated": result.instructions, **program.notes}


def _floor(op: Op, hw: HardwareSpec, est: Estimate) -> Estimate:
    from ..roofline import roofline

    floor = roofline(op, hw)
    if est.seconds >= floor.seconds:
        return est
    details = {**est.details, "floored_at_roofline": f"sim gave {est.seconds:.3e} s; raised to the roofline"}
    return replace(est, seconds=floor.seconds, details=details)


def _fallback(op: Op, hw: HardwareSpec, why: str) -> Estimate:
    from ..analytical import analytical

    est = analytical(op, hw)
    return replace(est, level="sim", details={**est.details, "sim_fallback": f"analytical level ({why})"})


register_level("sim", sim)
