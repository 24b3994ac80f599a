"""Request-level serving simulation speed: 10,000 requests of Llama-3.1-70B on 8 x H100 (TP8) at the analytical
level, one core (the target: under 2 s). Prints the wall time at three loads, with and without the iteration-cost
memo already warm, the CPU time of the cold run (what a shared machine's load does not inflate), and the
iterations simulated.

    .venv/bin/python benchmarks/bench_serve.py
"""

from __future__ import annotations

import math
import time

from accelscope.llm.serving import iteration_costs, serve

REQUESTS = 10_000


def main() -> None:
    for rate in (5.0, 15.0, math.inf):
        costs = iteration_costs("llama-3.1-70b", "h100-sxm", tp=8, level="analytical")
        started, cpu = time.perf_counter(), time.process_time()
        cold = serve("llama-3.1-70b", "h100-sxm", tp=8, rate=rate, requests=REQUESTS, input_len=1024,
                     output_len=256, level="analytical", costs=costs)
        cold_s, cold_cpu = time.perf_counter() - started, time.process_time() - cpu
        started = time.perf_counter()
        serve("llama-3.1-70b", "h100-sxm", tp=8, rate=rate, requests=REQUESTS, input_len=1024, output_len=256,
              level="analytical", costs=costs)
        warm_s = time.perf_counter() - started
        print(f"rate {rate:>5} req/s: {REQUESTS:,} requests, {cold.iterations:,} iterations, "
              f"{cold.estimates} estimates: {cold_s:.2f} s cold ({cold_cpu:.2f} s CPU), {warm_s:.2f} s with the "
              "memo warm")


if __name__ == "__main__":
    main()
