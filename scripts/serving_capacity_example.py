"""The worked capacity-planning example of docs/serving.md: Llama-3.1-70B on 8 x H100 / H200 / B200 (TP8, bf16),
prompts of 2048 tokens and 256 output tokens, P99 TPOT <= 50 ms and P99 TTFT <= 2 s, analytical level.

    .venv/bin/python scripts/serving_capacity_example.py          # prints the markdown table
"""

from __future__ import annotations

import sys
import time

from accelscope.llm.serving import capacity

CHIPS = ("h100-sxm", "h200-sxm", "b200")


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print("| chip | capacity (req/s) | per GPU | P99 TTFT at capacity | P99 TPOT at capacity | output tokens/s | "
          "KV cache used (mean) | saturated (req/s) | search time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for chip in CHIPS:
        started = time.perf_counter()
        r = capacity("llama-3.1-70b", chip, slo_ttft=2.0, slo_tpot=0.050, requests=requests, tp=8,
                     input_len=2048, output_len=256, level="analytical")
        best = r.at_capacity
        print(f"| {chip} | {r.capacity_requests_per_s:.2f} | {r.capacity_per_device:.3f} | "
              f"{best.ttft_s['p99'] * 1e3:.0f} ms | {best.tpot_s['p99'] * 1e3:.1f} ms | "
              f"{best.output_tokens_per_s:,.0f} | {best.kv_utilization['mean']:.0%} | "
              f"{r.saturation_requests_per_s:.2f} | {time.perf_counter() - started:.1f} s |")


if __name__ == "__main__":
    main()
