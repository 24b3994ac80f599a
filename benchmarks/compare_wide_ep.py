"""Wide expert parallelism against published numbers (analytical level; not fitted to any of them).

1. DeepEP's own kernel table (deepseek-ai/DeepEP README, H800 + one 400 Gb/s CX7 per GPU, 128 tokens a rank,
   hidden 7168, top-8, FP8 dispatch, BF16 combine): low-latency dispatch and combine latency at EP16..256.
2. SGLang's DeepSeek-V3 deployment on 12 x 8 H100 (LMSYS blog, 2025-05-05, "Deploying DeepSeek with PD
   Disaggregation and Large-scale Expert Parallelism on 96 H100 GPUs"): prefill on 4 nodes (EP32, normal mode,
   chunked prefill of 524,288 tokens = 16,384 a rank), 52.3k input tokens/s per node for 2000-token inputs;
   decode on 9 nodes (EP72 with 32 redundant experts = 4 expert slots a rank; modelled as EP64, also 4 a rank;
   low-latency mode, --max-running-requests 18432 = 256 a rank, 2000-token inputs, 100 output tokens), 22.3k
   output tokens/s per node; two-batch overlap on in both; TBO's gain in prefill: 27-35 %.

    PYTHONPATH=src .venv/bin/python benchmarks/compare_wide_ep.py
"""

from __future__ import annotations

from accelscope.hardware import load_hardware
from accelscope.llm.serving import WideEP, iteration_costs
from accelscope.llm.serving.moe import low_latency_seconds
from accelscope.workload.model_config import load_model

DEEPEP_LL = {16: (118e-6, 195e-6), 32: (155e-6, 273e-6), 64: (173e-6, 314e-6), 128: (192e-6, 369e-6),
             256: (194e-6, 360e-6)}  # EP: (dispatch, combine) seconds, DeepEP README
SGLANG_PREFILL_PER_NODE = 52.3e3  # input tokens/s per 8-GPU node
SGLANG_DECODE_PER_NODE = 22.3e3  # output tokens/s per 8-GPU node
SGLANG_TBO_PREFILL_GAIN = (1.27, 1.35)
GPUS_PER_NODE = 8
PREFILL_TOKENS_PER_RANK = 16384  # 8 prompts of 2048 tokens
DECODE_SEQS_PER_RANK = 256
CONTEXT = 2000 + 50  # mean context over 100 output tokens after a 2000-token prompt


def deepep_table() -> None:
    v3 = load_model("deepseek-v3")
    h800 = load_hardware("h800-sxm")
    print("DeepEP low-latency kernels, 128 tokens a rank, H800 (model / published, us):")
    for ep, (dispatch, combine) in DEEPEP_LL.items():
        d = low_latency_seconds(v3, h800, WideEP(ep), 128, "dispatch")
        c = low_latency_seconds(v3, h800, WideEP(ep), 128, "combine")
        print(f"  EP{ep:<4} dispatch {d * 1e6:6.1f} / {dispatch * 1e6:5.0f} ({d / dispatch - 1:+.0%})   "
              f"combine {c * 1e6:6.1f} / {combine * 1e6:5.0f} ({c / combine - 1:+.0%})")


def sglang() -> None:
    kwargs = {"level": "analytical", "dtype": "fp8_e4m3"}
    prompts = [(2048, 0)] * (PREFILL_TOKENS_PER_RANK // 2048)
    print("SGLang DeepSeek-V3 on H100 (model / published):")
    rates = {}
    for tbo in (False, True):
        wide = WideEP(32, max_nodes=4, two_batch_overlap=tbo)
        seconds = iteration_costs("deepseek-v3", "h100-sxm", wide_ep=wide, **kwargs).iteration(0, 0, prompts)
        rates[tbo] = GPUS_PER_NODE * PREFILL_TOKENS_PER_RANK / seconds
    print(f"  prefill EP32, input tokens/s per node: no TBO {rates[False]:,.0f}, TBO {rates[True]:,.0f} / "
          f"{SGLANG_PREFILL_PER_NODE:,.0f} ({rates[True] / SGLANG_PREFILL_PER_NODE - 1:+.0%}); TBO gain "
          f"{rates[True] / rates[False]:.2f}x / {SGLANG_TBO_PREFILL_GAIN[0]:.2f}-{SGLANG_TBO_PREFILL_GAIN[1]:.2f}x")
    decode = {}
    for tbo in (False, True):
        wide = WideEP(64, max_nodes=4, two_batch_overlap=tbo)
        costs = iteration_costs("deepseek-v3", "h100-sxm", wide_ep=wide, **kwargs)
        seconds = costs.iteration(DECODE_SEQS_PER_RANK, CONTEXT, [])
        decode[tbo] = (GPUS_PER_NODE * DECODE_SEQS_PER_RANK / seconds, seconds,
                       costs.a2a(DECODE_SEQS_PER_RANK, "low_latency"))
    print(f"  decode EP64 x 256 a rank, output tokens/s per node: no TBO {decode[False][0]:,.0f}, TBO "
          f"{decode[True][0]:,.0f} / {SGLANG_DECODE_PER_NODE:,.0f} ({decode[True][0] / SGLANG_DECODE_PER_NODE - 1:+.0%});"
          f" step {decode[False][1] * 1e3:.1f} -> {decode[True][1] * 1e3:.1f} ms with TBO, of which "
          f"dispatch+combine {decode[False][2] * 1e3:.1f} ms without it")


if __name__ == "__main__":
    deepep_table()
    sglang()
