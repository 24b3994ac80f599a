"""Sweep speed: Llama-3.1-70B decode (TP8, batch 64) over 1,000,000 hardware design points at the roofline level
(vectorized path, Parquet writes included; target >= 1 M points/min), and 48 points at the analytical level.

    .venv/bin/python benchmarks/bench_sweep.py
"""

from __future__ import annotations

import tempfile
import time

from accelscope.explore.space import SweepSpec
from accelscope.explore.sweep import run_sweep

WORKLOAD = {"model": "llama-3.1-70b", "tp": 8, "batch": 64, "input_len": 2048, "output_len": 256}


def main() -> None:
    roofline = SweepSpec.model_validate({
        "base": "h100-sxm", "level": "roofline", "workload": WORKLOAD, "constraints": ["memory_fits"],
        "axes": {"memory.hbm.bandwidth": {"range": ["1 TB/s", "12 TB/s"], "steps": 100},
                 "matrix.peak.bf16": {"range": ["0.2 PFLOP/s", "4 PFLOP/s"], "steps": 100, "log": True},
                 "runtime.launch_latency": {"range": ["0.5 us", "5 us"], "steps": 100}}})
    analytical = SweepSpec.model_validate({
        "base": "h100-sxm", "level": "analytical", "workload": WORKLOAD,
        "axes": {"memory.hbm.bandwidth": {"values": ["3.35 TB/s", "4.8 TB/s", "6.4 TB/s", "8 TB/s"]},
                 "memory.smem.capacity": {"range": ["114 KiB", "456 KiB"], "steps": 3},
                 "matrix.peak.bf16": {"range": ["0.5 PFLOP/s", "2 PFLOP/s"], "steps": 4, "log": True}}})
    for name, spec in (("roofline, vectorized", roofline), ("analytical, per point", analytical)):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            summary = run_sweep(spec, out)
            seconds = time.perf_counter() - start
        print(f"{name:<24} {summary.points:>9,} points in {seconds:6.2f} s = {summary.points / seconds * 60:>13,.0f} "
              "points/min")


if __name__ == "__main__":
    main()
