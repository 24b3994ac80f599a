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
from .compiler import NotLowered, compile_op
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
        programs = compile_op(op, core, hw)
    except NotLowered as why:
        return SimResult(_fallback(op, hw, str(why)), (), (), core.clock)
    runs = tuple(run(p, core, trace=trace) for p in programs)
    return SimResult(_estimate(op, hw, core, programs, runs), tuple(programs), runs, core.clock)


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
