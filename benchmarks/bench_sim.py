"""Cycle-level sim speed: 1024^3 GEMM on systolic-128 (target < 1 s; SCALE-Sim takes 40-48 s on one 128x128 array)
and 4096^3 on h100-sxm (target < 2 s), plus a few other kernels. A new spec object every call, so nothing is cached.

    .venv/bin/python benchmarks/bench_sim.py
"""

from __future__ import annotations

from _timing import per_call

import accelscope as acs
from accelscope.workload import Attention, Gemm, Quantize, Softmax


def main() -> None:
    systolic, h100 = acs.load_hardware("systolic-128"), acs.load_hardware("h100-sxm")
    bump = iter(range(10**9))

    def fresh(hw: acs.HardwareSpec) -> acs.HardwareSpec:  # defeat the per-spec core-model cache
        return hw.with_overrides({"runtime.launch_latency": f"{1 + next(bump) % 1000 * 1e-3} us"})

    cases = [
        ("GEMM 1024^3 bf16 on systolic-128", lambda: acs.estimate(Gemm(1024, 1024, 1024), fresh(systolic), "sim"), 20),
        ("GEMM 4096^3 bf16 on h100-sxm", lambda: acs.estimate(Gemm(4096, 4096, 4096), fresh(h100), "sim"), 20),
        ("GEMM 16384^3 bf16 on h100-sxm", lambda: acs.estimate(Gemm(16384, 16384, 16384), fresh(h100), "sim"), 10),
        ("softmax 4096x4096 on h100-sxm", lambda: acs.estimate(Softmax(4096, 4096), fresh(h100), "sim"), 20),
        ("FlashAttention fwd 32x4k on h100-sxm", lambda: acs.estimate(
            Attention(batch=1, heads=32, head_dim=128, q_len=4096, kv_len=4096), fresh(h100), "sim"), 10),
        ("MXFP8 quantize 16M on h100-sxm", lambda: acs.estimate(Quantize(1 << 24), fresh(h100), "sim"), 20),
    ]
    for name, fn, repeat in cases:
        print(f"sim: {name:<40} {per_call(fn, repeat) * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
