"""gpt-fast's single-stream decode rows (GF): what `generate.py` times, as its source runs it.

pytorch-labs/gpt-fast generate.py (the README's "Benchmarks" commands use its defaults):
- `t0 = time.perf_counter()` is taken before `generate()`, and `tokens_sec = tokens_generated / t` with
  `tokens_generated = y.size(0) - prompt_length` = `--max_new_tokens` (default 200). The timed region is the
  prefill of the prompt plus max_new_tokens - 1 decode steps: one token per step, the first from the prefill.
- The prefill is not compiled: `compile_prefill` is off by default ("Uncomment to squeeze more perf out of
  prefill"), so it runs eagerly, every kernel enqueued from Python; only `decode_one_token` is
  `torch.compile(mode="reduce-overhead", fullgraph=True)` (CUDA graphs).
- int8 weight-only (quantize.py WeightOnlyInt8Linear): `F.linear(input, self.weight.to(dtype=input.dtype)) *
  self.scales`. Eagerly (the prefill) `weight.to` writes a bf16 copy of every int8 weight, which the bf16 GEMM
  then reads: per weight 1 B read + 2 B written + 2 B read, against 1 B in the compiled decode step, where
  Inductor fuses the conversion into the matmul's loads. int4 (WeightOnlyInt4Linear, `linear_forward_int4`:
  `torch.ops.aten._weight_int4pack_mm`) runs PyTorch's tinygemm kernel in both, priced as its source runs it
  (`Gemm.kernel="tinygemm"`, perf/analytical/tinygemm.py).
- The KV cache is static (model.py KVCache, `setup_caches(max_seq_length=T + max_new_tokens)` rounded up to a
  multiple of 8 by find_multiple), and the decode step's SDPA attends over all its slots under the causal mask
  (`mask = self.causal_mask[None, None, input_pos]`, k and v the whole cache), not over the live context.
- Every decode step also samples (`sample(logits, temperature=0.8, top_k=200)`, compiled into the same graph) and
  runs a few eager ops around the graph replay (`step_kernels`): kernels of at most a few hundred KB each, priced
  at the chip's launch latency apiece.
"""

from __future__ import annotations

from ..hardware import HardwareSpec, load_hardware
from ..llm import infer
from ..perf import estimate
from ..workload import Dequantize
from ..workload.model_config import ModelConfig, load_model

MAX_NEW_TOKENS = 200  # generate.py: parser.add_argument('--max_new_tokens', type=int, default=200)
CACHE_MULTIPLE = 8  # model.py setup_caches: max_seq_length = find_multiple(max_seq_length, 8)
# gpt-fast's decode step: attention through SDPA's math path (decode_n_tokens runs inside
# sdp_kernel(enable_flash=False, enable_mem_efficient=False, enable_math=True)); tensor-parallel all-reduces
# through torch.distributed (NCCL)
DECODE_ATTENTION = "math"
ALLREDUCE = "library"


def weight_kernel(weights: str | None) -> str | None:
    """The kernel gpt-fast's weight-only linears run: tinygemm for int4 (quantize.py WeightOnlyInt4Linear);
    None for int8 and bf16 (Inductor's code, priced as the searched tile)."""
    return "tinygemm" if weights and weights.startswith("int4") else None


# Kernels of one decode step outside the Transformer's forward, each moving at most the vocabulary's logits
# (64-513 KB), so each costs about the chip's per-kernel launch latency:
# - torch.topk(logits, 200), an ATen fallback inside the compiled graph: a 32,000-wide bf16 row takes the
#   multi-block radix select (aten/src/ATen/native/cuda/TensorTopK.cu should_use_multiblock: one slice of >= 20,000)
#   with RADIX_BITS = 8, so 16 / 8 = 2 passes of radixFindKthValues + computeBlockwiseWithinKCounts (4), two CUB
#   inclusive_sum_by_key scans (estimate: 2 kernels each, 4), gatherTopK (1) and the sort of the 200 results
#   (sorted=True, 1): 10. A 128,256-wide row (Llama 3) takes TensorTopK's sort path instead (one row of >= 100,000),
#   a device radix sort of about as many launches; counted the same.
TOPK_KERNELS = 10
# - the rest of sample() as Inductor compiles it (estimate from its split reductions of a one-row reduction):
#   logits / temperature realized for the topk fallback (1); the masked softmax's max and sum, each a split
#   reduction of two kernels, and its normalisation (5); argmax(probs / exponential_ noise), a split reduction (2).
SAMPLING_INDUCTOR_KERNELS = 8
# - around the replay (decode_n_tokens): cudagraph trees copy the two non-static inputs (cur_token, input_pos) into
#   the graph's buffers (2); `input_pos += 1`, `next_token.clone()`, `next_prob.clone()` run eagerly (3).
EAGER_STEP_KERNELS = 5


def step_kernels() -> int:
    """Kernels one decode step runs besides the model's forward graph (sampling and the eager ops around it)."""
    return TOPK_KERNELS + SAMPLING_INDUCTOR_KERNELS + EAGER_STEP_KERNELS


def static_cache_slots(prompt_len: int, max_new_tokens: int = MAX_NEW_TOKENS) -> int:
    """KV-cache slots every decode step attends over: prompt + new tokens rounded up to a multiple of 8."""
    tokens = prompt_len + max_new_tokens
    return -(-tokens // CACHE_MULTIPLE) * CACHE_MULTIPLE


def linear_weights_per_device(config: ModelConfig, tp: int) -> list[int]:
    """Elements of each nn.Linear weight one tensor-parallel rank holds, in gpt-fast's module order: per layer
    wqkv, wo, w1, w3, w2 (model.py Attention and FeedForward), then the output head."""
    qkv = config.hidden * (config.heads + 2 * config.kv_heads) * config.head_dim
    wo = config.heads * config.head_dim * config.hidden
    mlp = config.hidden * config.intermediate  # each of w1, w3 and w2
    per_layer = [qkv, wo, mlp, mlp, mlp]
    return [n // tp for n in per_layer * config.layers] + [config.vocab * config.hidden // tp]


def int8_materialization_seconds(config: ModelConfig, hw: HardwareSpec, tp: int, level: str) -> float:
    """Seconds the eager prefill's `weight.to(bf16)` copies take on one rank: one int8 -> bf16 pass per linear
    weight (its elements read as int8, written as bf16), estimated as the streaming kernel it is."""
    seconds: dict[int, float] = {}
    for elements in linear_weights_per_device(config, tp):
        if elements not in seconds:
            seconds[elements] = estimate(Dequantize(elements, fmt="int8", dst_dtype="bf16"), hw, level).seconds
    return sum(seconds[n] for n in linear_weights_per_device(config, tp))


def eager_prefill_seconds(model: str, hw: HardwareSpec | str, tp: int, prompt_len: int, weights: str | None,
                          level: str) -> float:
    """The uncompiled prefill of the prompt: max(GPU time, the host enqueueing its kernels one by one), with int8
    weights first copied to bf16 (the GEMMs then read bf16)."""
    materialized = weights == "int8"
    gemm_weights = None if materialized else weights

    def prefill(cuda_graphs: bool) -> float:
        return infer(model, hw, tp=tp, batch=1, input_len=prompt_len, output_len=MAX_NEW_TOKENS, level=level,
                     weight_dtype=gemm_weights, allreduce=ALLREDUCE, decode_attention=DECODE_ATTENTION,
                     check_memory=False, cuda_graphs=cuda_graphs, weight_kernel=weight_kernel(gemm_weights)).ttft_s

    gpu, eager = prefill(True), prefill(False)
    if not materialized:
        return eager
    copies = int8_materialization_seconds(load_model(model), load_hardware(hw), tp, level)
    # the host floor (eager > gpu) is the enqueue of the GEMM pass; the copies add to its GPU time
    return max(gpu + copies, eager)


def seconds_per_token(model: str, hw: HardwareSpec | str, tp: int, prompt_len: int, weights: str | None,
                      level: str) -> tuple[float, str]:
    """(seconds per generated token as generate.py reports it, the decode step's bound): the eager prefill plus
    max_new_tokens - 1 decode steps (the compiled forward over the static cache, then sampling and the eager ops
    around the replay: step_kernels), over max_new_tokens tokens."""
    decode = infer(model, hw, tp=tp, batch=1, input_len=prompt_len, output_len=MAX_NEW_TOKENS,
                   weight_dtype=weights, level=level, allreduce=ALLREDUCE, decode_attention=DECODE_ATTENTION,
                   decode_context=static_cache_slots(prompt_len), weight_kernel=weight_kernel(weights))
    step = decode.tpot_s + step_kernels() * load_hardware(hw).runtime.launch_latency
    prefill = eager_prefill_seconds(model, hw, tp, prompt_len, weights, level)
    total = prefill + (MAX_NEW_TOKENS - 1) * step
    return total / MAX_NEW_TOKENS, decode.decode.bound
