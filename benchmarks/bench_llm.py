"""LLM estimate speed: Llama-3.1-70B serving and Llama-3.1-405B training steps (target < 10 ms each).

    .venv/bin/python benchmarks/bench_llm.py
"""

from __future__ import annotations

import time

from accelscope import llm
from accelscope.workload.model_config import from_hf

L70 = dict(model_type="llama", hidden_size=8192, num_hidden_layers=80, num_attention_heads=64, num_key_value_heads=8,
           intermediate_size=28672, vocab_size=128256)
L405 = dict(model_type="llama", hidden_size=16384, num_hidden_layers=126, num_attention_heads=128,
            num_key_value_heads=8, intermediate_size=53248, vocab_size=128256)


def per_call(fn, repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    m70, m405 = from_hf(L70, "llama-3.1-70b"), from_hf(L405, "llama-3.1-405b")
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
