"""Analytical level speed: one GEMM including the mapping search (target < 1 ms), full LLM estimates (< 10 ms).

    .venv/bin/python benchmarks/bench_analytical.py
"""

from __future__ import annotations

from _timing import per_call

import accelscope as acs
from accelscope import llm
from accelscope.workload import Attention, Gemm
from accelscope.workload.model_config import load_model


def main() -> None:
    hw = acs.load_hardware("h100-sxm")
    shapes = iter(range(10**9))
    m70, m405 = load_model("llama-3.1-70b"), load_model("llama-3.1-405b")
    cases = [
        # a new shape every call, so nothing is cached
        ("one GEMM incl. mapping search", lambda: acs.estimate(Gemm(1000 + next(shapes), 4096, 4096), hw,
                                                               level="analytical"), 500),
        ("one GEMM, search incl. stream-K", lambda: acs.estimate(
            Gemm(1000 + next(shapes), 4096, 4096, schedule="stream-k"), hw, level="analytical"), 500),
        ("one attention (prefill 8k, causal)", lambda: acs.estimate(
            Attention(batch=1, heads=64, kv_heads=8, head_dim=128, q_len=8192, kv_len=8192 + next(shapes) % 7,
                      causal=True), hw, level="analytical"), 200),
        ("70B serve TP8 batch 64", lambda: llm.infer(m70, hw, tp=8, batch=64 + next(shapes) % 3, input_len=2048,
                                                     output_len=256, level="analytical"), 50),
        ("405B train TP8 PP16 DP128", lambda: llm.train(m405, hw, tp=8, pp=16, dp=128, seq_len=8192,
                                                        global_batch=2048, vpp=4, recompute="full",
                                                        level="analytical"), 20),
    ]
    for name, fn, repeat in cases:
        print(f"analytical: {name:<36} {per_call(fn, repeat) * 1e3:8.3f} ms")


if __name__ == "__main__":
    main()
