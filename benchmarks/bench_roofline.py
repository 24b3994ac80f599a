"""Roofline speed: one op estimate, a 1000-op graph, and spec overrides. Prints its numbers.

    .venv/bin/python benchmarks/bench_roofline.py
"""

from __future__ import annotations

from _timing import per_call

import accelscope as acs
from accelscope.workload import Attention, Gemm, Graph, Norm


def main() -> None:
    hw = acs.load_hardware("h100-sxm")
    gemm = Gemm(8192, 8192, 8192)
    layer = [Gemm(4096, 8192, 8192), Attention(batch=8, heads=64, kv_heads=8, head_dim=128, q_len=512, kv_len=512),
             Norm(rows=4096, hidden=8192)]
    graph = Graph.of(*[(op, 80) for op in layer])
    many = Graph.of(*[Gemm(64 + i, 4096, 4096) for i in range(1000)])
    rows = [
        ("roofline: one GEMM", per_call(lambda: acs.estimate(gemm, hw), 20000)),
        ("roofline: 3-op x 80-layer graph", per_call(lambda: acs.estimate(graph, hw), 5000)),
        ("roofline: 1000 distinct ops", per_call(lambda: acs.estimate(many, hw), 50)),
        ("spec: with_overrides (one field)", per_call(lambda: hw.with_overrides({"memory.hbm.bandwidth": 6e12}), 2000)),
    ]
    for name, seconds in rows:
        print(f"{name:<36} {seconds * 1e6:10.1f} µs")


if __name__ == "__main__":
    main()
