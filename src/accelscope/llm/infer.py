"""LLM serving estimates: prefill and decode with a KV cache on one model replica (tp x pp devices).

Model (the README's "how the models work" repeats it):
- TTFT = the prefill forward pass of the whole batch (batch x input_len tokens) through every pipeline stage.
- TPOT = one decode step (batch tokens) through every stage, at the mean context input_len + output_len/2
  (decode attention time is linear in the context, so the mean context gives the mean step time).
- Static batching: the replica turns out batch x output_len tokens in TTFT + (output_len - 1) x TPOT; that is
  `output_tokens_per_s`. `decode_tokens_per_s` = batch / TPOT is the steady-state decode rate.
- Pipeline stages run one after another for a batch (no micro-batching): PP adds memory, not speed.
- Memory per device: weights of its stage (its 1/tp share), KV cache of its layers and KV heads for
  batch x (input_len + output_len) tokens, and the activations of one prefill chunk.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from ..hardware import HardwareSpec, load_hardware
from ..hardware.dtypes import dtype_bytes
from ..perf import Estimate
from ..perf.estimate import estimate_graphs, nodes_seconds, ops_seconds
from ..perf.memo import memoized
from ..workload.llm_graph import (
    Parallelism,
    Precision,
    Step,
    forward_graph,
    merged_count,
    stage_blocks,
    stage_counts,
    stage_kind,
    stage_layers,
)
from ..workload.model_config import ModelConfig, load_model
from .graph_parts import MEMO_PARTS
from .memory import MemoryParts
from .refusals import infer_notes

# Fraction of device memory the serving engine may use: vLLM's default `gpu_memory_utilization` = 0.9
# (vLLM engine arguments documentation); the rest is CUDA context, allocator slack and graphs.
DEFAULT_MEMORY_FRACTION = 0.9
# Prefill runs in chunks of at most this many tokens, which bounds activation memory (vLLM's chunked-prefill
# `max_num_batched_tokens` default of 8192 for online serving).
PREFILL_CHUNK_TOKENS = 8192
MAX_SEARCH_BATCH = 1 << 20


class DoesNotFit(ValueError):
    """The configuration needs more memory per device than the chip has."""


@dataclass(frozen=True, slots=True)
class MemoryUse(MemoryParts):
    weights: float
    kv_cache: float
    activations: float
    capacity: float  # usable bytes per device (memory_fraction x capacity)

    PARTS: ClassVar[tuple[str, ...]] = ("weights", "kv_cache", "activations")
    CAPACITY_KEY: ClassVar[str] = "usable_capacity"


@dataclass(frozen=True, slots=True)
class InferenceResult:
    model: str
    hw: str
    level: str
    batch: int
    input_len: int
    output_len: int
    tp: int
    pp: int
    ep: int
    dtype: str
    kv_dtype: str
    ttft_s: float
    tpot_s: float
    e2e_latency_s: float
    output_tokens_per_s: float
    decode_tokens_per_s: float
    memory: MemoryUse
    prefill: Estimate = field(repr=False)
    decode: Estimate = field(repr=False)
    # vLLM launch rules the replica breaks (llm/refusals.py): estimated anyway, but said
    notes: tuple[str, ...] = ()

    @property
    def devices(self) -> int:
        return self.tp * self.pp

    @property
    def memory_per_device_bytes(self) -> float:
        return self.memory.total

    @property
    def output_tokens_per_s_per_device(self) -> float:
        return self.output_tokens_per_s / self.devices

    def to_dict(self, parts: bool = False) -> dict[str, Any]:
        return {
            "model": self.model, "hw": self.hw, "level": self.level, "batch": self.batch,
            "input_len": self.input_len, "output_len": self.output_len, "tp": self.tp, "pp": self.pp, "ep": self.ep,
            "devices": self.devices, "dtype": self.dtype, "kv_dtype": self.kv_dtype, "ttft_s": self.ttft_s,
            "tpot_s": self.tpot_s, "e2e_latency_s": self.e2e_latency_s,
            "output_tokens_per_s": self.output_tokens_per_s, "decode_tokens_per_s": self.decode_tokens_per_s,
            "output_tokens_per_s_per_device": self.output_tokens_per_s_per_device,
            "memory_per_device_bytes": self.memory_per_device_bytes, "memory": self.memory.to_dict(),
            "prefill": self.prefill.to_dict(parts=parts), "decode": self.decode.to_dict(parts=parts),
            "notes": list(self.notes),
        }

    def _repr_html_(self) -> str:
        rows = [("model", self.model), ("hw", f"{self.devices} x {self.hw}"), ("batch", self.batch),
                ("TTFT", f"{self.ttft_s * 1e3:.2f} ms"), ("TPOT", f"{self.tpot_s * 1e3:.2f} ms"),
                ("output tokens/s", f"{self.output_tokens_per_s:,.0f}"),
                ("memory/device", f"{self.memory.total / 1e9:.1f} GB of {self.memory.capacity / 1e9:.1f} GB")]
        return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _check_infer_options(allreduce: str, decode_attention: str | None, check_memory: bool,
                         cuda_graphs: bool, fused_gate_up: bool = True) -> None:
    """infer()'s kernel choices and on/off options, each refused with the option named."""
    if allreduce not in ("custom", "library"):
        raise ValueError(f"allreduce: expected custom or library (got {allreduce!r})")
    for name, flag in (("check_memory", check_memory), ("cuda_graphs", cuda_graphs),
                       ("fused_gate_up", fused_gate_up)):
        if not isinstance(flag, bool):  # "false" is truthy: it would price the option on
            raise ValueError(f"{name}: expected True or False (got {flag!r})")
    if decode_attention not in (None, "fa2", "fa3", "mmha", "math"):
        raise ValueError(f"decode_attention: expected fa2, fa3, mmha, math or None (got {decode_attention!r})")


def infer(
    model: str | dict | ModelConfig,
    hw: HardwareSpec | str,
    tp: int = 1,
    pp: int = 1,
    ep: int = 1,
    batch: int | str = 1,
    input_len: int = 2048,
    output_len: int = 256,
    dtype: str = "bf16",
    kv_dtype: str = "bf16",
    level: str = "roofline",
    moe_imbalance: float | None = None,
    memory_fraction: float = DEFAULT_MEMORY_FRACTION,
    weight_dtype: str | None = None,
    check_memory: bool = True,
    allreduce: str = "custom",
    decode_attention: str | None = None,
    cuda_graphs: bool = True,
    decode_context: int | None = None,
    weight_kernel: str | None = None,
    fused_gate_up: bool = True,
) -> InferenceResult:
    """Serve `model` on a replica of tp x pp devices of `hw`. `batch="max"` picks the largest batch that fits.

    `dtype` prices the matmuls and stores the weights; `weight_dtype` stores the weights in another format
    (weight-only quantization: dtype="bf16", weight_dtype="int8" is W8A16). `check_memory=False` returns the
    estimate even when the memory per device exceeds the chip's (memory.headroom is then negative).
    `allreduce`: "custom" prices tensor-parallel all-reduces as the peer-memory kernels vLLM, SGLang and
    TensorRT-LLM run on NVLink systems (up to 8 MiB); "library" as collective-library calls (NCCL).
    `decode_attention`: the engine's decode attention kernel (`Attention.variant`), e.g. "mmha" for the masked
    multi-head attention of TensorRT-LLM <= 0.7 and FasterTransformer, "math" for unfused QK^T / softmax / PV
    kernels (gpt-fast decodes with SDPA's math backend, which Inductor compiles); None: the best for the chip.
    `cuda_graphs=False`: the engine enqueues every kernel of a pass from the host (no captured graph), so a pass
    takes max(GPU time, kernels x host seconds per kernel) (`eager_floor`); True (default): no host term.
    `decode_context`: KV positions every decode step attends over; None (default): the mean live context,
    input_len + output_len / 2. An engine with a static cache that attends over all its slots under a mask
    (gpt-fast's KVCache of max_seq_length slots) gives that slot count.
    `weight_kernel`: the library kernel the weight-only linears run (Gemm.kernel, e.g. "tinygemm" for PyTorch's
    `_weight_int4pack_mm`, which gpt-fast's int4 runs); None (default): the tile is searched.
    `fused_gate_up=False`: a SwiGLU MLP runs its gate and up projections as two GEMMs (two launches) instead of one
    of twice the width (TensorRT-LLM <= v0.6 engines built without `--use_fused_mlp`)."""
    config = model if isinstance(model, ModelConfig) else _load_model(model)
    spec = hw if isinstance(hw, HardwareSpec) else _load_hardware(hw)
    if moe_imbalance is not None:
        config = _with_imbalance(config, moe_imbalance)
    _check_infer_options(allreduce, decode_attention, check_memory, cuda_graphs, fused_gate_up)
    par = Parallelism(tp=tp, pp=pp, ep=ep, custom_allreduce=allreduce == "custom", decode_attention=decode_attention,
                      fused_gate_up=fused_gate_up)
    par.check(config)
    prec = Precision(dtype=dtype, kv_dtype=kv_dtype, weights=weight_dtype, weight_kernel=weight_kernel)
    _check_lengths(input_len, output_len)
    if batch == "max":
        chosen = max_batch(config, spec, par, prec, input_len, output_len, memory_fraction)
    elif isinstance(batch, int) and batch >= 1:
        chosen = batch
    else:
        raise ValueError(f"batch: expected a positive integer or 'max' (got {batch!r})")
    memory = memory_use(config, spec, par, prec, chosen, input_len, output_len, memory_fraction)
    if check_memory and memory.total > memory.capacity:
        raise DoesNotFit(_does_not_fit(config, spec, par, memory, chosen))
    prefill_step, decode_step = _steps(chosen, input_len, output_len, decode_context)
    prefill, decode = _passes(config, spec, par, prec, (prefill_step, decode_step), level)
    ttft, tpot = prefill.seconds, decode.seconds
    if not cuda_graphs:
        ttft = max(ttft, eager_floor(config, spec, par, prec, prefill_step))
        tpot = max(tpot, eager_floor(config, spec, par, prec, decode_step))
    e2e, output_rate = _rates(chosen, output_len, ttft, tpot)
    return InferenceResult(
        model=config.name, hw=spec.id, level=level, batch=chosen, input_len=input_len, output_len=output_len,
        tp=tp, pp=pp, ep=ep, dtype=dtype, kv_dtype=kv_dtype, ttft_s=ttft, tpot_s=tpot,
        e2e_latency_s=e2e, output_tokens_per_s=output_rate, decode_tokens_per_s=chosen / tpot,
        memory=memory, prefill=prefill, decode=decode, notes=infer_notes(config, tp=tp, pp=pp),
    )


def _steps(batch: int, input_len: int, output_len: int, decode_context: int | None = None) -> tuple[Step, Step]:
    """The prefill pass (logits of the last token only) and the mean decode step (context input + output/2, or
    `decode_context` positions where the engine attends over a fixed number of cache slots)."""
    if decode_context is not None and decode_context < 1:
        raise ValueError(f"decode_context: must be >= 1 KV positions (got {decode_context})")
    context = input_len + output_len // 2 if decode_context is None else decode_context
    return Step(batch, input_len, 0, logits_tokens=1), Step(batch, 1, context)


@memoized
def eager_kernels(config: ModelConfig, par: Parallelism, prec: Precision, step: Step) -> float:
    """Kernels one forward pass of `step` launches: every node's count over every pipeline stage."""
    return float(sum(node.count for stage in range(par.pp)
                     for node in forward_graph(config, step, par, prec, stage, MEMO_PARTS).nodes))


def eager_floor(config: ModelConfig, spec: HardwareSpec, par: Parallelism, prec: Precision, step: Step) -> float:
    """Seconds the host needs to enqueue one pass without CUDA graphs. The host issues kernels asynchronously,
    so the pass takes max(GPU time, this): TensorRT-LLM's gptSession (C++) and its Python GenerationSession
    enqueue the TensorRT engine every step unless `--enable_cuda_graph` is given (off by default in
    benchmarks/python/benchmark.py and benchmarks/cpp/gptSessionBenchmark), and never graph the context step."""
    from .serving.costs import host_seconds_per_kernel  # serving imports this module

    return eager_kernels(config, par, prec, step) * host_seconds_per_kernel(spec)


def _rates(batch: int, output_len: int, ttft: float, tpot: float) -> tuple[float, float]:
    """(end-to-end latency s, output tokens/s) of a static batch: prefill, then output_len - 1 decode steps."""
    e2e = ttft + (output_len - 1) * tpot
    return e2e, batch * output_len / e2e


def serve_metrics(config: ModelConfig, spec: HardwareSpec, tp: int, pp: int, batch: int, dtype: str, kv_dtype: str,
                  input_len: int, output_len: int, level: str,
                  memory_fraction: float = DEFAULT_MEMORY_FRACTION) -> tuple[float, float, float, float]:
    """(ttft_s, tpot_s, output_tokens_per_s_per_device, memory per device B) of `infer(config, spec, tp=tp, pp=pp,
    batch=batch, dtype=dtype, kv_dtype=kv_dtype, input_len=.., output_len=.., level=level, check_memory=False)`
    with infer's defaults otherwise, the same floats, without building its graphs and estimates
    (`pass_seconds`): the serving grid's path (llm/plan_grid.py), checked against infer point by point."""
    par = Parallelism(tp=tp, pp=pp, custom_allreduce=True)  # infer's allreduce="custom" default
    par.check(config)
    prec = Precision(dtype=dtype, kv_dtype=kv_dtype)
    _check_lengths(input_len, output_len)
    memory = memory_use(config, spec, par, prec, batch, input_len, output_len, memory_fraction)
    prefill_step, decode_step = _steps(batch, input_len, output_len)
    ttft = pass_seconds(config, spec, par, prec, prefill_step, level)
    tpot = pass_seconds(config, spec, par, prec, decode_step, level)
    return ttft, tpot, _rates(batch, output_len, ttft, tpot)[1] / (tp * pp), memory.total


_load_model = memoized(load_model)  # a preset or file read once per scope, not per call
_load_hardware = memoized(load_hardware)


def _with_imbalance(config: ModelConfig, imbalance: float) -> ModelConfig:
    if config.moe is None:
        raise ValueError(f"moe_imbalance: {config.name} has no experts")
    if imbalance < 1:
        raise ValueError(f"moe_imbalance: must be >= 1 (busiest expert / mean), got {imbalance}")
    return replace(config, moe=replace(config.moe, imbalance=imbalance))


def _check_lengths(input_len: int, output_len: int) -> None:
    # one name per message: the CLI rewrites a leading `input_len:` as the option typed (`--input-len:`)
    for name, value in (("input_len", input_len), ("output_len", output_len)):
        if value < 1:
            raise ValueError(f"{name}: must be >= 1 (got {value})")


@memoized
def _passes(config: ModelConfig, hw: HardwareSpec, par: Parallelism, prec: Precision, steps: tuple[Step, ...],
            level: str) -> tuple[Estimate, ...]:
    """One forward pass through all pipeline stages, one after another, for each step (prefill and decode). The
    steps' stage graphs are estimated together: their distinct ops once, the analytical level's GEMM tile
    searches at once (the decode GEMMs and the LM head share a candidate set); each pass as on its own."""
    graphs = [forward_graph(config, step, par, prec, stage, MEMO_PARTS) for step in steps for stage in range(par.pp)]
    stages = estimate_graphs(graphs, hw, level)
    return tuple(_one_after_another(stages[i * par.pp:(i + 1) * par.pp]) for i in range(len(steps)))


def _one_after_another(stages: list[Estimate]) -> Estimate:
    if len(stages) == 1:
        return stages[0]
    total = stages[0]
    for stage in stages[1:]:
        total = total + stage
    return total


def pass_seconds(config: ModelConfig, hw: HardwareSpec, par: Parallelism, prec: Precision, step: Step,
                 level: str) -> float:
    """The seconds of one step's pass (`_passes`) without building graphs or estimates: each stage's nodes
    (`stage_counts`, the graph's order) summed as `combine` sums them, the stages added one after another as
    `Estimate.__add__` does; stages with the same nodes (the middle ones of an evenly split pipeline: `stage_kind`)
    summed once."""
    total = 0.0
    seen: dict[Any, float] = {}
    for stage in range(par.pp):
        kind = stage_kind(config, par, stage)
        seconds = seen.get(kind)
        if seconds is None:
            seconds = seen[kind] = _stage_seconds(config, hw, par, prec, step, level, stage)
        total = seconds if stage == 0 else total + seconds
    return total


def _stage_seconds(config: ModelConfig, hw: HardwareSpec, par: Parallelism, prec: Precision, step: Step,
                   level: str, stage: int) -> float:
    """One stage's nodes' estimates x counts summed in the graph's order (`nodes_seconds`); a stage of one layer
    kind from its pieces (`stage_blocks`), the layer's op times looked up once per memo scope (`_kind_seconds`)."""
    first, key, repeat, last = stage_blocks(config, step, par, prec, stage, MEMO_PARTS)
    if key is None:
        counts = stage_counts(config, step, par, prec, stage, MEMO_PARTS)
        return nodes_seconds([(op, count) for (_, op), count in counts.items()], hw, level)
    seconds = nodes_seconds([(op, 1.0) for _, op in first], hw, level) if first else 0.0
    for op_seconds, (_, _, counts) in zip(_kind_seconds(key, hw, level), MEMO_PARTS.kind_merged(*key)[0], strict=True):
        seconds += op_seconds * merged_count(counts, repeat)
    for _, op in last:
        seconds += nodes_seconds([(op, 1.0)], hw, level)
    return seconds


@memoized
def _kind_seconds(key: tuple[Any, ...], hw: HardwareSpec, level: str) -> tuple[float, ...]:
    """Seconds of each merged node of a layer kind (`kind_merged(*key)`) on `hw` at `level`."""
    return ops_seconds([op for _, op, _ in MEMO_PARTS.kind_merged(*key)[0]], hw, level)


# ----- memory --------------------------------------------------------------------------------------------------
# a pure function of frozen inputs (model config, layout, precision; no module constant): kept for the process
# rather than per memo scope (perf/memo.py), since every serving estimate, cold ones included, reads it (a loop over
# all the model's layers)
@functools.lru_cache(maxsize=1024)
def weight_bytes_per_device(config: ModelConfig, par: Parallelism, prec: Precision) -> float:
    """The largest stage's weights / tp: linear weights in the weight dtype, embeddings and norms in act dtype."""
    linear = dtype_bytes(prec.weight_dtype)
    act = dtype_bytes(prec.act_dtype)
    worst = 0.0
    for stage in range(par.pp):
        layers = sum(config.layer_params(i) for i in stage_layers(config, par, stage)) * linear
        if stage == 0:
            layers += config.vocab * config.hidden * act
        if stage == par.pp - 1 and not config.tie_embeddings:
            layers += config.vocab * config.hidden * linear
        worst = max(worst, layers)
    return worst / par.tp


@memoized
def kv_bytes_per_token_per_device(config: ModelConfig, par: Parallelism, prec: Precision, context: int) -> float:
    """KV-cache bytes one token of context costs on the busiest device."""
    width = dtype_bytes(prec.kv_dtype)
    layers = max(len(stage_layers(config, par, s)) for s in range(par.pp))
    if config.mla:  # the compressed latent is not split by heads: every TP rank keeps all of it
        return layers * (config.mla.kv_lora_rank + config.mla.qk_rope_head_dim) * width
    per_layer = 2 * max(config.kv_heads // par.tp, 1) * config.head_dim * width
    if config.sliding_window and context > config.sliding_window:
        sliding = config.sliding_layers * layers / config.layers
        effective = (layers - sliding) + sliding * config.sliding_window / context
        return effective * per_layer
    return layers * per_layer


def activation_bytes(config: ModelConfig, par: Parallelism, prec: Precision, batch: int, input_len: int) -> float:
    """Peak transient activations of one prefill chunk: residual stream, MLP intermediate, logits in fp32."""
    chunk = min(batch * input_len, PREFILL_CHUNK_TOKENS)
    width = config.intermediate if config.moe is None else max(config.intermediate, config.moe.intermediate)
    per_token = (4 * config.hidden + 3 * width / par.tp) * dtype_bytes(prec.act_dtype)
    logits = batch * config.vocab / par.tp * 4
    return chunk * per_token + logits


def memory_use(config: ModelConfig, hw: HardwareSpec, par: Parallelism, prec: Precision, batch: int, input_len: int,
               output_len: int, memory_fraction: float = DEFAULT_MEMORY_FRACTION) -> MemoryUse:
    if not 0 < memory_fraction <= 1:
        raise ValueError(f"memory_fraction: must be in (0, 1] (got {memory_fraction})")
    context = input_len + output_len
    return MemoryUse(
        weights=weight_bytes_per_device(config, par, prec),
        kv_cache=batch * context * kv_bytes_per_token_per_device(config, par, prec, context),
        activations=activation_bytes(config, par, prec, batch, input_len),
        capacity=hw.main_memory.capacity * memory_fraction,
    )


def max_batch(config: ModelConfig, hw: HardwareSpec, par: Parallelism, prec: Precision, input_len: int,
              output_len: int, memory_fraction: float = DEFAULT_MEMORY_FRACTION) -> int:
    """Largest batch whose weights + KV cache + activations fit; DoesNotFit if not even one sequence does."""
    def fits(b: int) -> bool:
        return memory_use(config, hw, par, prec, b, input_len, output_len, memory_fraction).headroom >= 0

    if not fits(1):
        memory = memory_use(config, hw, par, prec, 1, input_len, output_len, memory_fraction)
        raise DoesNotFit(_does_not_fit(config, hw, par, memory, 1))
    low, high = 1, 2
    while high <= MAX_SEARCH_BATCH and fits(high):
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


def _does_not_fit(config: ModelConfig, hw: HardwareSpec, par: Parallelism, memory: MemoryUse, batch: int) -> str:
    gb = 1e9
    room = memory.capacity - memory.kv_cache / (par.tp * par.pp) - memory.activations
    # with no room left for weights (the KV cache or activations alone fill a device) a device count means nothing
    more = f"tp x pp of about {max(math.ceil(memory.weights * par.tp * par.pp / room), 2)} or more" \
        if room > 0.05 * memory.capacity else "the KV cache and activations alone fill a device"
    return (
        f"{config.name} with batch {batch} does not fit on {par.tp * par.pp} x {hw.id}: per device it needs "
        f"{memory.weights / gb:.1f} GB of weights + {memory.kv_cache / gb:.1f} GB of KV cache + "
        f"{memory.activations / gb:.1f} GB of activations = {memory.total / gb:.1f} GB, but "
        f"{memory.capacity / gb:.1f} GB is usable. Use more devices ({more}), "
        f"a smaller weight dtype (fp8, int4, nvfp4), a smaller batch or shorter sequences."
    )
