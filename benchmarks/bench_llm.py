"""LLM estimate speed: Llama-3.1-70B serving and Llama-3.1-405B training steps (target < 10 ms each).

    .venv/bin/python benchmarks/bench_llm.py
"""

from __future__ import annotations

from _timing import per_call

from accelscope import llm
from accelscope.workload.model_config import load_model


def main() -> None:
    m70, m405 = load_model("llama-3.1-70b"), load_model("llama-3.1-405b")
    cases = [
        ("70B serve, TP8, batch 64 (roofline)",
         lambda: llm.infer(m70, "h100-sxm", tp=8, batch=64, input_len=2048, output_len=256)),
        ("70B serve, TP8, batch=max (roofline)",
         lambda: llm.infer(m70, "h100-sxm", tp=8, batch="max", input_len=2048, output_len=256)),
        ("405B train, TP8 PP16 DP128 (roofline)",
         lambda: llm.train(m405, "h100-sxm", tp=8, pp=16, dp=128, seq_len=8192, global_batch=2048, vpp=4,
                           recompute="full")),
    ]
    for name, fn in cases:
        print(f"{name:<42} {per_call(fn, 50) * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
