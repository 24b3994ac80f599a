"""Planner speed: layouts estimated per second by `acs.llm.plan` (the per-point path), for Llama-3.1-405B training
on 16,384 H100 (analytical level, a narrowed space) and an unpinned Llama-3.1-8B search on 8 GPUs (roofline).

    .venv/bin/python benchmarks/bench_plan.py
"""

from __future__ import annotations

import time

from accelscope.llm.plan import plan


def main() -> None:
    started = time.perf_counter()
    big = plan("llama-3.1-405b", "h100-sxm", devices=16384, seq_len=8192, global_batch=2048, level="analytical",
               tp=[4, 8], pp=[8, 16, 32], cp=[1, 2], ep=[1], vpp=[1, 2, 4], zero=[1], micro_batch=[1],
               recompute=["selective", "full"])
    seconds = time.perf_counter() - started
    print(f"405B on 16,384 H100, analytical: {big.candidates} candidates, {big.estimated} estimated in {seconds:.2f} s "
          f"({big.estimated / seconds:.0f} layouts/s; {big.candidates / seconds * 60:,.0f} candidates/min)")
    started = time.perf_counter()
    small = plan("llama-3.1-8b", "h100-sxm", devices=8, seq_len=8192, global_batch=64, level="roofline")
    seconds = time.perf_counter() - started
    print(f"8B on 8 H100, roofline, whole space: {small.candidates:,} candidates, {small.estimated} estimated in "
          f"{seconds:.2f} s ({small.estimated / seconds:.0f} layouts/s)")


if __name__ == "__main__":
    main()
