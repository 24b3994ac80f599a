"""Training rows of a source no mapper knows: the run read from the words published tables use for it.

measure/training_rows.py reads each shipped source in its own conventions. A row of any other source (a paper's
layout table, a framework's performance page, a held-out set) states the same facts in its own words: "TP" or
"tensor_model_parallel_size", "mbs" or "micro_batch", "seq_len" or "seq_length". This module reads a row's
shape by those names (FIELDS, matched on letters and digits only), resolves the model (a preset by the name the row
gives, else the hyper-parameters it states), and prices one step with `acs.llm.train`, with these defaults where
the row is silent (each a framework's own default, said here once):
- data parallelism: fully sharded (ZeRO-3, PyTorch FSDP2: under pipeline parallelism its stages stay unsharded
  between micro-batches, as torchtitan runs it) where the row names FSDP, a FULL_SHARD strategy or ZeRO-3, ZeRO-2
  for SHARD_GRAD_OP / ZeRO-2; else Megatron Core's distributed optimizer (ZeRO-1) with its runtime (loss path,
  Transformer Engine layers, fused cross-entropy, LM head in bf16 under FP8: `megatron_runtime`);
- tensor parallelism with sequence parallelism and overlapped TP communication (Megatron Core's performance
  recipes and torchtitan's async TP both run them), expert tensor parallelism 1;
- activation recompute as named (none, selective, full, torchtitan's per-op selective); unnamed: none;
- precision as named (bf16; FP8 with current/delayed/tensorwise scaling, rowwise, MXFP8); unnamed: the dtype column;
- global batch as given (sequences, or tokens / sequence length, or per data-parallel rank x DP), else micro
  batch x data-parallel size x gradient accumulation.
A field the step needs that the row does not give (the GPU count, the sequence length, a model) leaves the row
unmapped with the reason; a metric is scored only when its name and unit say what it is.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..hardware import HardwareSpec
from ..llm import train
from ..llm.train import megatron_runtime
from ..workload.model_config import ModelConfig, MoE, load_model
from .model_names import GPT_VOCAB, model_preset
from .shape_names import field_key
from .training_rows import sdpa_flash
from .units import time_scale

# canonical field -> the names sources give it (compared lower-case, letters and digits only: "Seq. Len." = seq_len)
FIELDS: dict[str, tuple[str, ...]] = {
    "gpus": ("gpus", "num_gpus", "n_gpus", "gpu_count", "world_size", "devices", "num_devices"),
    "nodes": ("nodes", "num_nodes"),
    "gpus_per_node": ("gpus_per_node", "ngpus_per_node", "devices_per_node"),
    "tp": ("tp", "tensor_parallel", "tensor_parallel_size", "tensor_model_parallel_size", "tp_size"),
    "pp": ("pp", "pipeline_parallel", "pipeline_parallel_size", "pipeline_model_parallel_size", "pp_size"),
    "cp": ("cp", "context_parallel", "context_parallel_size", "cp_size"),
    "ep": ("ep", "expert_parallel", "expert_parallel_size", "expert_model_parallel_size", "ep_size"),
    "vpp": ("vp", "vpp", "virtual_pipeline", "virtual_pipeline_model_parallel_size", "virtual_stages",
            "interleave"),
    "dp": ("dp", "data_parallel", "data_parallel_size", "dp_size"),
    "fsdp": ("fsdp", "fsdp_size", "dp_shard"),
    "sharding": ("sharding_strategy", "zero", "zero_stage"),
    "parallelism": ("parallelism", "strategy", "parallel_config", "distributed"),
    "seq_len": ("seq_len", "seq_length", "sequence_length", "seqlen", "max_seq_len", "context_length",
                "sequence", "seq. len."),
    "micro_batch": ("micro_batch", "micro_batch_size", "mbs", "local_batch", "local_batch_size",
                    "batch_per_gpu", "per_device_batch", "per_device_train_batch_size"),
    "global_batch": ("global_batch", "global_batch_size", "gbs", "global_batch_seqs", "batch_size"),
    "global_tokens": ("global_batch_tokens", "tokens_per_batch", "batch_tokens", "tokens/batch"),
    "batch_per_dp": ("batch_size_per_dp", "batch_per_dp", "batch size/dp"),
    "grad_accum": ("ga", "grad_accum", "gradient_accumulation", "gradient_accumulation_steps"),
    "recompute": ("activation_checkpointing", "recompute", "recompute_granularity", "activation_checkpoint",
                  "checkpointing", "ac"),
    "precision": ("precision", "precision_recipe", "fp8_recipe", "recipe", "mixed_precision"),
    "model": ("model", "model_name", "table_model", "hf_model", "hf_equiv", "name"),
    "hidden": ("hidden", "hidden_size", "d_model", "dim", "n_embd", "model_dim"),
    "layers": ("layers", "num_layers", "n_layers", "num_hidden_layers", "n_layer"),
    "heads": ("heads", "n_heads", "num_heads", "num_attention_heads", "attention_heads", "n_head"),
    "kv_heads": ("kv_heads", "n_kv_heads", "num_kv_heads", "num_key_value_heads", "num_query_groups"),
    "ffn": ("ffn_hidden", "ffn_hidden_size", "intermediate_size", "ffn_dim", "ffn_size", "mlp_hidden"),
    "expansion": ("expansion_ratio", "ffn_ratio", "mlp_ratio"),
    "vocab": ("vocab", "vocab_size", "padded_vocab_size"),
    "experts": ("num_experts", "experts", "moe_num_experts", "n_routed_experts", "num_local_experts"),
    "top_k": ("top_k", "topk", "router_topk", "moe_router_topk", "num_experts_per_tok", "moe_top_k"),
    "moe_ffn": ("moe_ffn_hidden_size", "moe_intermediate_size", "expert_hidden", "expert_ffn_hidden"),
    "mtp": ("mtp_num_layers", "mtp_layers", "num_mtp_layers", "mtp", "mtp_depth"),
    "pp_layout": ("pipeline_model_parallel_layout", "pp_layout", "pipeline_layout"),
    "first_stage_layers": ("num_layers_in_first_pipeline_stage", "decoder_first_pipeline_num_layers",
                           "first_stage_layers"),
    "last_stage_layers": ("num_layers_in_last_pipeline_stage", "decoder_last_pipeline_num_layers",
                          "last_stage_layers"),
    "attention_backend": ("attention_backend", "attn_impl", "attention_impl"),
    "hidden_dropout": ("hidden_dropout", "resid_pdrop", "dropout"),
    "attention_dropout": ("attention_dropout", "attn_pdrop"),
    "embedding_in_split": ("account_for_embedding_in_pipeline_split",),
    "loss_in_split": ("account_for_loss_in_pipeline_split",),
}


class Unmapped(Exception):
    """The row cannot be read as a training run; the message is its reason."""


def read_field(shape: dict[str, Any], field: str) -> Any:
    """The row's value for a canonical field (FIELDS), None when it gives none (or null). A nested table (a
    launcher's `model_args`, a config section) is read too; the row's own top-level names win."""
    by_key = {field_key(k): v for nested in shape.values() if isinstance(nested, dict) for k, v in nested.items()}
    by_key.update((field_key(k), v) for k, v in shape.items() if not isinstance(v, dict))
    return next((by_key[field_key(n)] for n in FIELDS[field] if by_key.get(field_key(n)) is not None), None)


BINARY_SUFFIX_FIELDS = ("seq_len", "global_tokens")


def _int(shape: dict[str, Any], field: str, default: int | None = None) -> int | None:
    value = read_field(shape, field)
    if value is None or isinstance(value, bool):
        return default
    text = str(value).strip().lower().replace(",", "")
    # "8k" context, "16M" tokens per batch: binary multiples, as sequence lengths and token budgets are written
    scale = {"k": 2**10, "m": 2**20}.get(text[-1:], 1) if field in BINARY_SUFFIX_FIELDS else 1
    try:
        number = float(text[:-1]) * scale if scale > 1 else float(text)
    except ValueError:
        raise Unmapped(f"shape field for {field} is not a number ({value!r})") from None
    if not math.isfinite(number) or number != int(number) or number < 0:
        raise Unmapped(f"shape field for {field} is not a whole number ({value!r})")
    return int(number)


# ----- the model -------------------------------------------------------------------------------------------------
# words that name a gated (SwiGLU) MLP with RMSNorm and RoPE, or a GELU MLP with LayerNorm and learned positions
GATED_FAMILIES = ("llama", "mistral", "mixtral", "qwen", "deepseek", "swiglu", "silu", "gemma", "olmo", "gpt-oss",
                  "gpt oss")
GELU_FAMILIES = ("gpt", "mpt", "gelu", "opt", "bloom", "falcon")


def model_of(row: Any) -> ModelConfig | str:
    """The row's model: its stated hyper-parameters when it gives the architecture's sizes, else the preset its
    name denotes. A row that gives neither is unmapped."""
    s = row.shape
    name = str(read_field(s, "model") or "")
    hidden, layers, heads = (_int(s, f) for f in ("hidden", "layers", "heads"))
    if 0 in (hidden, layers, heads):
        raise Unmapped(f"model {name!r}: hidden size, layers and heads must be positive (got {hidden}, {layers}, "
                       f"{heads})")
    if hidden and layers and heads:
        return _stated_model(row, name, hidden, layers, heads)
    preset = model_preset(name) or model_preset(row.op)
    if preset is None:
        raise Unmapped(f"model {name or row.op!r}: no preset by that name and no hidden / layers / heads in the "
                       "shape")
    return preset


def _stated_model(row: Any, name: str, hidden: int, layers: int, heads: int) -> ModelConfig:
    s = row.shape
    text = f"{name} {row.op} {row.notes}".lower()
    gated = any(w in text for w in GATED_FAMILIES)
    if not gated and not any(w in text for w in GELU_FAMILIES):
        preset = model_preset(name)  # sizes given without a family: the named preset's family, if any
        if preset is None:
            raise Unmapped(f"model {name!r}: the MLP kind (gated SwiGLU or GELU) is not stated")
        gated = "gpt" not in preset
    ffn = _int(s, "ffn") or (_int(s, "expansion") or 0) * hidden
    vocab = _int(s, "vocab")
    if not gated and re.search(r"\bgpt\b", text):  # a GPT-family table that gives only hidden / layers / heads
        ffn = ffn or 4 * hidden  # GPT-3's d_ff = 4 d_model (Brown et al. 2020, Table 2.1)
        vocab = vocab or GPT_VOCAB
    if not ffn or not vocab:
        missing = " and ".join(n for n, v in (("the MLP width", ffn), ("the vocabulary", vocab)) if not v)
        raise Unmapped(f"model {name!r}: {missing} not stated")
    kv = _int(s, "kv_heads", heads)
    experts = _int(s, "experts")
    moe = MoE(experts=experts, top_k=_int(s, "top_k", 1) or 1, intermediate=_int(s, "moe_ffn", ffn) or ffn) \
        if experts and experts > 1 else None
    return ModelConfig(name=name or "model", family="llama" if gated else "gpt", hidden=hidden, layers=layers,
                       heads=heads, kv_heads=kv or heads, head_dim=hidden // heads, intermediate=ffn, vocab=vocab,
                       mlp="swiglu" if gated else "gelu", norm="rms" if gated else "layer",
                       tie_embeddings=not gated, moe=moe,
                       learned_positions=0 if gated else int(_int(s, "seq_len") or 0))


# ----- the layout, the batch, the recipe -------------------------------------------------------------------------
def layout_of(shape: dict[str, Any]) -> dict[str, int]:
    """tp, pp, cp, ep, vpp, dp and the data-parallel sharding (zero) the row states, checked against its GPUs."""
    tp, pp, cp, ep = (_int(shape, f, 1) or 1 for f in ("tp", "pp", "cp", "ep"))
    vpp = _int(shape, "vpp", 1) or 1
    gpus = _int(shape, "gpus")
    if gpus is None and (nodes := _int(shape, "nodes")) and (per_node := _int(shape, "gpus_per_node")):
        gpus = nodes * per_node
    dp = _int(shape, "dp")
    if gpus is None and dp:
        gpus = tp * pp * cp * dp
    if not gpus:
        raise Unmapped("the GPU count is not stated (gpus, world_size or nodes x gpus_per_node)")
    if gpus % (tp * pp * cp):
        raise Unmapped(f"{gpus} GPUs not divisible by tp x pp x cp = {tp * pp * cp}")
    if dp and dp != gpus // (tp * pp * cp):
        raise Unmapped(f"dp {dp} x tp {tp} x pp {pp} x cp {cp} is not the {gpus} GPUs stated")
    return {"tp": tp, "pp": pp, "cp": cp, "ep": ep, "vpp": vpp, "dp": gpus // (tp * pp * cp),
            "zero": _zero(shape), "gpus": gpus}


def _zero(shape: dict[str, Any]) -> int:
    """ZeRO stage: 3 for FSDP / FULL_SHARD / ZeRO-3, 2 for SHARD_GRAD_OP / ZeRO-2, else the distributed optimizer
    (the sharding field, or the words of a free-text parallelism description: "FSDP2 (8-way data-parallel shard)")."""
    fsdp = read_field(shape, "fsdp")
    sharding = f"{read_field(shape, 'sharding') or ''} {read_field(shape, 'parallelism') or ''}".lower()
    if "grad_op" in sharding or re.search(r"zero\W?2\b|\b2$", sharding.strip()):
        return 2
    if (fsdp not in (None, False, 0, "0", "false", "False") or re.search(r"fsdp|full_shard|zero\W?3\b", sharding)
            or sharding.strip().endswith("3")):
        return 3
    return 1


def batch_of(shape: dict[str, Any], dp: int, seq: int) -> tuple[int, int]:
    """(global batch in sequences, micro batch)."""
    micro = _int(shape, "micro_batch", 1) or 1
    if (tokens := _int(shape, "global_tokens")) is not None:
        global_batch = tokens // seq
    elif (per_dp := _int(shape, "batch_per_dp")) is not None:
        global_batch = per_dp * dp
    else:
        global_batch = _int(shape, "global_batch") or micro * dp * (_int(shape, "grad_accum", 1) or 1)
    if global_batch % (micro * dp):
        raise Unmapped(f"global batch {global_batch} not a multiple of micro batch {micro} x dp {dp}")
    return global_batch, micro


RECOMPUTE_WORDS = (("op", "op_sac"), ("sac", "op_sac"), ("selective", "selective"), ("full", "full"),
                   ("none", "none"), ("no", "none"), ("off", "none"), ("false", "none"), ("true", "full"),
                   ("yes", "full"), ("uniform", "full"), ("block", "full"))


def recompute_of(shape: dict[str, Any]) -> str:
    value = read_field(shape, "recompute")
    if value is None or value is False or value == 0:
        return "none"
    if value is True:
        return "full"
    text = str(value).lower()
    mode = next((m for word, m in RECOMPUTE_WORDS if re.search(rf"\b{word}\b", text)), None)
    if mode is None:
        raise Unmapped(f"activation recompute {value!r} not understood (none, selective, full, per-op)")
    return mode


def precision_of(row: Any) -> tuple[str, str | None]:
    """(train() dtype, FP8 recipe) from the row's precision field and dtype column."""
    text = f"{read_field(row.shape, 'precision') or ''} {row.dtype}".lower()
    if "mxfp8" in text or "fp8-mx" in text or "fp8 mx" in text:
        return "mxfp8", "mxfp8"
    if "fp8" in text or "float8" in text:
        recipe = "rowwise" if "rowwise" in text or "row-wise" in text else "tensorwise"
        return "fp8_e4m3", recipe
    if "bf16" in text or "bfloat16" in text or "fp16" in text or not text.strip():
        return "bf16", None
    raise Unmapped(f"precision {text.strip()!r} not understood (bf16, fp8 current/delayed scaling, rowwise, mxfp8)")


UNFUSED_ATTENTION = ("unfused", "local", "math", "eager", "torch")
LAST_RANK_WORDS = ("last rank", "last stage", "last pipeline")


def _positive(shape: dict[str, Any], field: str) -> bool:
    """A dropout the row states above 0 (its masks are kept for the backward); unstated or 0: none."""
    value = read_field(shape, field)
    try:
        return value is not None and not isinstance(value, bool) and float(value) > 0
    except (TypeError, ValueError):
        raise Unmapped(f"shape field for {field} is not a number ({value!r})") from None


def _last_rank(row: Any) -> bool:
    """A memory figure the row says is the last pipeline rank's (what Megatron-LM logs), not the fullest stage's."""
    text = f"{row.metric} {row.op}".lower().replace("_", " ")
    return any(w in text for w in LAST_RANK_WORDS)


def pipeline_split_of(shape: dict[str, Any], layers: int, pp: int, vpp: int) -> tuple[int, ...] | str | None:
    """train()'s `pipeline_split` from Megatron Core's names for an uneven pipeline: its layout string, the first /
    last stages' layer counts, or the embedding / loss counted as layers (llm/pipeline_layout.py); None: even."""
    from ..llm.pipeline_layout import megatron_split

    embedding, loss = (str(read_field(shape, f)).lower() in ("true", "1", "yes")
                       for f in ("embedding_in_split", "loss_in_split"))
    try:
        return megatron_split(layers, pp, vpp, read_field(shape, "pp_layout"), _int(shape, "first_stage_layers"),
                              _int(shape, "last_stage_layers"), embedding, loss)
    except ValueError as exc:
        raise Unmapped(f"pipeline split not expressible: {exc}") from None


# ----- the step, and the metric --------------------------------------------------------------------------------
def run(row: Any, hw: HardwareSpec | str, level: str) -> Any:
    """The row's step, priced (check_memory=False: a run the source reports ran)."""
    s = row.shape
    seq = _int(s, "seq_len")
    if not seq:
        raise Unmapped("the sequence length is not stated (seq_len, seq_length, sequence_length)")
    lay = layout_of(s)
    global_batch, micro = batch_of(s, lay["dp"], seq)
    dtype, recipe = precision_of(row)
    megatron = lay["zero"] < 3
    runtime = megatron_runtime(lay["pp"], lay["vpp"], one_queue=False) if megatron else {}
    # a PyTorch-native FSDP framework (torchtitan, llm-foundry, HF accelerate) calls scaled_dot_product_attention,
    # whose flash backend is FlashAttention-2 (AOTriton on ROCm); Megatron Core with Transformer Engine runs
    # cuDNN's fused attention, the chip's best kernel (None)
    attention = None if megatron else sdpa_flash(hw)
    if str(read_field(s, "attention_backend") or "").lower() in UNFUSED_ATTENTION:
        attention = "math"  # the score matrix written, softmaxed and read back (Megatron --attention-backend unfused)
    model = model_of(row)
    config = model if isinstance(model, ModelConfig) else load_model(model)
    split = pipeline_split_of(s, config.layers, lay["pp"], lay["vpp"])
    try:
        return train(config, hw, tp=lay["tp"], pp=lay["pp"], dp=lay["dp"], cp=lay["cp"], ep=lay["ep"],
                     vpp=lay["vpp"], zero=lay["zero"], seq_len=seq, global_batch=global_batch, micro_batch=micro,
                     dtype=dtype, fp8_recipe=recipe, recompute=recompute_of(s), level=level, check_memory=False,
                     sp=lay["tp"] > 1, tp_overlap=lay["tp"] > 1, etp=1 if lay["ep"] > 1 else None,
                     cross_entropy="fused" if megatron else "fp32", attention=attention,
                     fp8_skip=("lm_head",) if recipe else (), fsdp_pp_unsharded=not megatron,
                     pipeline_split=split, mtp_layers=_int(s, "mtp", 0) or 0,
                     hidden_dropout=_positive(s, "hidden_dropout"), attention_dropout=_positive(s, "attention_dropout"),
                     memory_stage=-1 if _last_rank(row) else None, **runtime)
    except ValueError as exc:
        raise Unmapped(f"configuration not expressible: {exc}") from None


def training_value(row: Any, r: Any, gpus: int) -> float:
    """The row's metric from the step: tokens/s per GPU or in all, model TFLOP/s per GPU, MFU (%), step time."""
    unit, metric = row.unit.strip().lower().replace(" ", ""), row.metric.lower()
    per_gpu = "gpu" in unit or "device" in unit or "gpu" in metric or "device" in metric
    if unit.startswith(("tokens/s", "tok/s", "tokens/sec")):
        return r.tokens_per_s_per_device * (1 if per_gpu else gpus)
    if unit.startswith(("samples/s", "sequences/s", "seqs/s")):
        return r.tokens_per_s_per_device * (1 if per_gpu else gpus) / r.seq_len
    if unit.startswith(("tflop/s", "tflops")):
        return r.model_tflops_per_device
    if unit == "%" and ("mfu" in metric or "util" in metric):  # MFU, "Model FLOPs utilization"
        return 100 * r.mfu
    seconds = time_scale(row.unit)
    if seconds and any(w in metric for w in ("time", "iteration", "step", "latency")):
        return r.step_s / seconds
    raise Unmapped(f"training metric {row.metric!r} in {row.unit!r} not understood (tokens/s[/GPU], samples/s, "
                   "TFLOP/s/GPU, MFU %, step or iteration time)")


MEMORY_UNITS = {"bytes": 1.0, "b": 1.0, "kib": 2**10, "mib": 2**20, "gib": 2**30, "gb": 1e9, "mb": 1e6}


STEADY_WORDS = ("after", "steady", "between")  # "allocated_bytes_after_step", "memory between steps"


def memory_value(row: Any, r: Any) -> float:
    """A memory figure per GPU: the PyTorch allocator's peak the model gives (what max_memory_allocated reports; a
    source's reserved or nvidia-smi figure adds the allocator's slack and the CUDA context, which the model does not
    price per row), or, where the metric says it is taken after a step or between steps, what stays allocated
    then (`memory.steady`: weights, gradients, optimizer states, no activations)."""
    scale = MEMORY_UNITS.get(row.unit.strip().lower())
    metric = row.metric.lower()
    if scale is None or not any(w in metric for w in ("peak", "max", "memory", "allocated")):
        raise Unmapped(f"memory metric {row.metric!r} in {row.unit!r} not understood (peak memory per GPU in "
                       "bytes, MB, GB, MiB or GiB, or allocated after a step)")
    if any(w in metric for w in STEADY_WORDS) and not any(w in metric for w in ("peak", "max")):
        return r.memory.steady / scale
    return r.memory.peak_allocated / scale


def predict_generic(row: Any, hw: HardwareSpec | str, level: str) -> float:
    """A training or memory row of an unknown source, as its metric. Raises Unmapped with the reason."""
    r = run(row, hw, level)
    if row.category == "memory_footprint":
        return memory_value(row, r)
    return training_value(row, r, layout_of(row.shape)["gpus"])
