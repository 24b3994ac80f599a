"""Chrome / Perfetto trace export: one process per simulated core program, one thread per unit.

Open the JSON in https://ui.perfetto.dev or chrome://tracing. Times are microseconds (the format's unit). Programs
run one after another, so each starts where the previous one ended. A sampled program shows only the instructions
that were simulated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

UNIT_ORDER = ("dma0", "dma1", "dma2", "dma3", "hbm", "l2", "matrix", "vector", "sfu", "sram")


def chrome_trace(result: Any) -> dict[str, Any]:
    """`traceEvents` (ph "X" complete events, ph "M" names) for a `SimResult` run with trace=True."""
    events: list[dict[str, Any]] = []
    offset_us = 0.0
    clock = result.clock
    for pid, (program, run) in enumerate(zip(result.programs, result.runs, strict=True)):
        label = f"{program.name} (core 0 of {program.cores} running it)"
        events.append({"ph": "M", "pid": pid, "name": "process_name", "args": {"name": label}})
        tids: dict[str, int] = {}
        for event in run.events:
            if event.unit not in tids:
                tids[event.unit] = _tid(event.unit, len(tids))
                events.append({"ph": "M", "pid": pid, "tid": tids[event.unit], "name": "thread_name",
                               "args": {"name": event.unit}})
            args = {"cycles": round(event.cycles, 1)}
            if event.reason:
                args["waited_for"] = event.reason
            events.append({"ph": "X", "pid": pid, "tid": tids[event.unit], "name": event.label,
                           "ts": offset_us + event.start / clock * 1e6, "dur": event.cycles / clock * 1e6,
                           "cat": event.unit.rstrip("0123456789"), "args": args})
        offset_us += run.cycles / clock * 1e6
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"hw": result.estimate.hw, "op": result.estimate.op, "seconds": result.estimate.seconds}}


def _tid(unit: str, fallback: int) -> int:
    return UNIT_ORDER.index(unit) if unit in UNIT_ORDER else len(UNIT_ORDER) + fallback


def write_trace(result: Any, path: str | Path) -> Path:
    out = Path(path)
    out.write_text(json.dumps(chrome_trace(result)))
    return out
