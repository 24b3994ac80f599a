"""Training-step and training-memory rows of the published sources, mapped onto `acs.llm.train`.

Each source is read in its own conventions (shared/data/more/README.md), once, here:
- LF (llm-foundry MPT tables): PyTorch FSDP FULL_SHARD (zero=3) or SHARD_GRAD_OP (zero=2), pure data parallel,
  activation checkpointing = full recompute, MPT (GELU MLP x expansion ratio, learned positions, LayerNorm,
  vocab 50368). Its MFU counts 3·(2·N·s + 4·L·d·s²) FLOPs per sequence (N: the row's num_params) over the dense
  peak Composer assumes (H100 989 / 1979 TFLOP/s bf16 / fp8, A100 312): we predict its throughput and apply
  the same formula.
- MT (Megatron-LM functional tests): the model built from its model_args (Megatron-LM defaults where an argument
  is absent: tied embeddings, learned absolute positions, GELU 4h MLP, LayerNorm, dropout 0.1, padded vocab);
  memory is the LAST rank's PyTorch allocator bytes (no CUDA context): `memory_stage=-1`, `reserve=0`.
- TA (torchao docs: torchtitan): FSDP2 (zero=3), per-op SAC, torch.compile, float8 recipes cast per GEMM
  (no cached FP8 weights). torchtitan logs the caching allocator's max *reserved* bytes in GiB.
- MM (Megatron-LM MoE-layer baseline): one MoE layer (router, dispatch, grouped GEMMs, combine) on EP8, forward
  and backward times and the peak allocated bytes of the layer's parameters, gradients and activations.
- CU (cudnn-frontend Llama-3.2-1B): HF transformers on one GPU, eager (no fusion), SM clock locked.
- MB (Megatron-Bridge's performance summary, data/external: not in `all`): Megatron Core + Transformer Engine
  performance recipes at the table's layout; what the table leaves out is assumed (`_mb`).
Every row we cannot express returns a Skip with the reason.
"""

from __future__ import annotations

import re
from typing import Any

from ..hardware import HardwareSpec, load_hardware
from ..llm import train
from ..llm.train import RECOMPUTE_MODULES, megatron_runtime, with_fp8_casts
from ..perf import estimate
from ..perf.analytical.attention import matrix_path
from ..workload.backward import backward_graph
from ..workload.llm_graph import Parallelism, Precision, Step, moe_nodes
from ..workload.model_config import MLA, ModelConfig, MoE
from ..workload.ops import Graph
from .dataset import harness_of
from .megatron_moe_memory import moe_layer_peak, shape_from_row
from .megatron_moe_time import with_dispatch_traffic, with_fp8_padding, with_local_expert_sorts
from .torchtitan_moe import moe_layer_run, moe_layer_seconds

GIB = 2**30
# PyTorch's scaled_dot_product_attention flash backend is FlashAttention-2 (aten/src/ATen/native/transformers/
# cuda/flash_attn): torchtitan and HF transformers train with it
SDPA_FLASH = "fa2"
# On ROCm the same backend runs AOTriton's Triton kernels (aten/src/ATen/native/transformers/hip/flash_attn/aot/
# mha_all_aot.hip). torchao's MI300X runs used torch 2.9.0.dev20250811+rocm6.4, before the AOTriton 0.11b bump
# (pytorch/pytorch #161754, 29 Aug 2025) that added AITER's assembly backward: AOTriton 0.10b, whose backward at
# these sizes is the split dK/dV + dQ pair of Triton kernels (perf/analytical/attention.py AOTRITON_BWD_D_GEMMS)
ROCM_SDPA_FLASH = "aotriton"


def sdpa_flash(hw: HardwareSpec | str) -> str:
    """SDPA's flash backend as the chip's PyTorch build runs it: FlashAttention-2 on CUDA, AOTriton on ROCm."""
    return ROCM_SDPA_FLASH if load_hardware(hw).vendor.upper() == "AMD" else SDPA_FLASH


# Composer's GPU_AVAILABLE_FLOPS (composer/callbacks/speed_monitor.py), the peak llm-foundry's MFU divides by
COMPOSER_PEAK = {("h100", "bf16"): 989e12, ("h100", "fp8"): 1979e12, ("a100", "bf16"): 312e12}


def predict_training(row: Any, hw: HardwareSpec | str, level: str, fallback: Any) -> Any:
    """llm_training rows: dispatch on the row's harness (dataset.harness_of: the source it cites, else its id
    prefix); other rows go to `fallback` (the dev set's)."""
    from .predict import Skip

    prefix = harness_of(row)
    mapper = {"LF": _lf, "MT": _mt, "TA": _ta, "MM": _mm, "CU": _cu, "MB": _mb, "TT": _tt}.get(prefix)
    if mapper is None and (prefix == "MG" or "params_B" in row.shape):  # the dev set's Megatron-LM 2021 rows
        return fallback(row, hw, level)
    try:
        return mapper(row, hw, level) if mapper else _generic(row, hw, level)
    except _Unmapped as exc:
        return Skip(str(exc))


def predict_memory(row: Any, hw: HardwareSpec | str, level: str) -> Any:
    """memory_footprint rows (bytes, GB or GiB per GPU), by harness as `predict_training`."""
    from .predict import Skip

    prefix = harness_of(row)
    mapper = {"MT": _mt, "TA": _ta, "MM": _mm, "TT": _tt}.get(prefix)
    try:
        return mapper(row, hw, level) if mapper else _generic(row, hw, level)
    except _Unmapped as exc:
        return Skip(str(exc))


class _Unmapped(Exception):
    pass


def _generic(row: Any, hw: HardwareSpec | str, level: str) -> Any:
    """A row of a source no mapper above knows, read by the names published tables use (training_generic.py)."""
    from .training_generic import Unmapped, predict_generic

    try:
        return _prediction(predict_generic(row, hw, level))
    except Unmapped as exc:
        raise _Unmapped(f"{exc} (read as a generic training table: measure/training_generic.py)") from None


# row id -> (peak bytes incl. the runtime reserve, capacity) of the last estimate: a run a source reported must
# fit (scripts/score_training.py lists the ones that would be refused with check_memory=True)
FIT_CHECKS: dict[str, tuple[float, float]] = {}


def _note_fit(row: Any, r: Any) -> None:
    from ..llm.train_memory import RUNTIME_RESERVE_BYTES

    FIT_CHECKS[row.id] = (r.memory.peak_allocated + RUNTIME_RESERVE_BYTES, r.memory.capacity)


def _prediction(value: float, bound: str = "") -> Any:
    from .predict import Prediction

    return Prediction(value, bound)


def _memory_value(row: Any, nbytes: float) -> Any:
    unit = row.unit.strip()
    scale = {"bytes": 1.0, "GiB": GIB, "GB": 1e9}.get(unit)
    if scale is None:
        raise _Unmapped(f"memory unit {unit!r} not understood")
    return _prediction(nbytes / scale)


# MPT's attn_impl "triton" (llm-foundry submit_benchmarks.py default): the Triton FlashAttention of
# flash-attention's flash_attn_triton.py (llmfoundry/models/layers/flash_attn_triton.py, pre-MLIR Triton):
# Attention.variant "triton" (perf/analytical/attention.py, TRITON_BLOCK)
MPT_ATTENTION = "triton"
# Composer's FSDPConfig: backward_prefetch = 'BACKWARD_POST' by default (composer/utils/parallelism.py), and
# llm-foundry's benchmark configs do not set it
COMPOSER_BACKWARD_PREFETCH = "post"


# ----- LF: llm-foundry MPT ---------------------------------------------------------------------------------------
def _lf(row: Any, hw: HardwareSpec | str, level: str) -> Any:
    s = row.shape
    d, seq = int(s["d_model"]), int(s["seq_len"])
    config = ModelConfig(name=str(s.get("model", "mpt")), family="mpt", hidden=d, layers=int(s["n_layers"]),
                         heads=int(s["n_heads"]), kv_heads=int(s["n_heads"]), head_dim=d // int(s["n_heads"]),
                         intermediate=int(s.get("expansion_ratio", 4)) * d, vocab=int(s.get("vocab_size", 50368)),
                         mlp="gelu", norm="layer", tie_embeddings=True, learned_positions=seq)
    gpus = int(s["gpus"])
    fp8 = "fp8" in str(s.get("precision", "")) or "fp8" in row.dtype.lower()
    zero = 2 if s.get("sharding_strategy") == "SHARD_GRAD_OP" else 3
    r = train(config, hw, dp=gpus, zero=zero, seq_len=seq, global_batch=int(s["global_batch_seqs"]),
              micro_batch=int(s["micro_batch"]), dtype="fp8_e4m3" if fp8 else "bf16",
              recompute="full" if s.get("activation_checkpointing") else "none", level=level, check_memory=False,
              fp8_weight_cache=False, attention=MPT_ATTENTION, fsdp_backward_prefetch=COMPOSER_BACKWARD_PREFETCH)
    _note_fit(row, r)
    if row.metric == "throughput_per_gpu":
        return _prediction(r.tokens_per_s_per_device)
    if row.metric == "mfu":
        chip = "h100" if "H100" in row.hardware else "a100"
        peak = COMPOSER_PEAK.get((chip, "fp8" if fp8 else "bf16"))
        if peak is None:
            raise _Unmapped(f"no Composer peak for {chip} {'fp8' if fp8 else 'bf16'}")
        flops_per_seq = 3 * (2 * float(s["num_params"]) * seq + 4 * config.layers * d * seq * seq)
        return _prediction(100 * flops_per_seq * r.tokens_per_s_per_device / seq / peak)
    raise _Unmapped(f"LF metric {row.metric!r} not mapped")


# ----- MT: Megatron-LM functional tests ------------------------------------------------------------------------
TOKENIZER_VOCAB = {"GPT2BPETokenizer": 50257, "Llama2Tokenizer": 32000, "GPTSentencePieceTokenizer": 256000}


def _flag(args: dict, key: str) -> bool:
    return bool(args.get(key)) and args.get(key) not in ("false", "False")


def megatron_config(args: dict, tp: int, name: str) -> ModelConfig:
    """The model Megatron-LM builds from these arguments (its defaults where one is absent)."""
    h, heads = int(args["hidden-size"]), int(args["num-attention-heads"])
    head_dim = int(args.get("kv-channels") or h // heads)
    kv = int(args["num-query-groups"]) if _flag(args, "group-query-attention") else heads
    swiglu = _flag(args, "swiglu")
    ffn = args.get("ffn-hidden-size")
    if ffn is None:
        ffn = int(4 * h * 2 / 3 / 64) * 64 if swiglu else 4 * h
    tokenizer = str(args.get("tokenizer-type") or "GPT2BPETokenizer")
    vocab = int(args.get("vocab-size") or TOKENIZER_VOCAB.get(tokenizer, 50257))
    multiple = int(args.get("make-vocab-size-divisible-by") or 128) * tp
    vocab = -(-vocab // multiple) * multiple
    learned = 0 if str(args.get("position-embedding-type", "learned_absolute")) in ("rope", "none", "mrope") else int(
        args.get("max-position-embeddings") or args["seq-length"])
    moe = None
    if args.get("num-experts"):
        shared = int(args.get("moe-shared-expert-intermediate-size") or 0)
        first_dense, every = _moe_layout(args.get("moe-layer-freq", 1))
        moe = MoE(experts=int(args["num-experts"]), top_k=int(args.get("moe-router-topk") or 2),
                  intermediate=int(args.get("moe-ffn-hidden-size") or ffn), shared_experts=1 if shared else 0,
                  shared_intermediate=shared, first_dense_layers=first_dense, every=every)
    mla = None
    if _flag(args, "multi-latent-attention"):
        q_rank = args.get("q-lora-rank")
        mla = MLA(q_lora_rank=int(q_rank) if q_rank else None, kv_lora_rank=int(args.get("kv-lora-rank") or 512),
                  qk_nope_head_dim=int(args.get("qk-head-dim") or 128),
                  qk_rope_head_dim=int(args.get("qk-pos-emb-head-dim") or 64),
                  v_head_dim=int(args.get("v-head-dim") or 128))
        head_dim = mla.qk_nope_head_dim + mla.qk_rope_head_dim
    return ModelConfig(name=name, family="gpt", hidden=h, layers=int(args["num-layers"]), heads=heads, kv_heads=kv,
                       head_dim=head_dim, intermediate=int(ffn), vocab=vocab, mlp="swiglu" if swiglu else "gelu",
                       norm="rms" if str(args.get("normalization")) == "RMSNorm" else "layer",
                       tie_embeddings=not _flag(args, "untie-embeddings-and-output-weights"),
                       qkv_bias=not _flag(args, "disable-bias-linear"), moe=moe, mla=mla, learned_positions=learned,
                       qk_norm=_flag(args, "qk-layernorm"))


def _moe_layout(freq: Any) -> tuple[int, int]:
    """(first dense layers, MoE every n layers) from --moe-layer-freq: an int, or a pattern "([0]*3+[1]*11)"."""
    if isinstance(freq, int | float):
        return 0, int(freq)
    text = str(freq).replace(" ", "")
    if text.isdigit():
        return 0, int(text)
    dense = re.match(r"\(?\[0\]\*(\d+)\+\[1\]\*\d+\)?$", text)
    if dense:
        return int(dense.group(1)), 1
    raise _Unmapped(f"moe-layer-freq pattern {freq!r} not understood")


def _dropout(args: dict, key: str) -> bool:
    value = args.get(key)
    return True if value is None else float(value) > 0  # Megatron-LM's default is 0.1


# Megatron Core's output layer is its own ColumnParallelLinear (megatron/core/models/gpt/gpt_model.py
# `self.output_layer = tensor_parallel.ColumnParallelLinear(...)`), not a Transformer Engine module, and TE's
# fp8_autocast quantizes only TE modules' GEMMs: the LM head of a Megatron FP8 / MXFP8 step runs in bf16.
MEGATRON_BF16_GEMMS = ("lm_head",)


def _recompute_modules(args: dict, recompute: str) -> tuple[str, ...]:
    """Megatron-LM --recompute-modules under selective granularity, as the golden-values file records them
    ("[layernorm mla_up_proj mlp moe_act]"); none given: Megatron's default, the core attention (train()'s
    default). Modules train() does not price are refused (RECOMPUTE_MODULES)."""
    text = str(args.get("recompute-modules") or "")
    modules = tuple(m for m in re.split(r"[\s,\[\]'\"]+", text) if m)
    if recompute != "selective" or not modules:
        return ()
    unknown = [m for m in modules if m not in RECOMPUTE_MODULES]
    if unknown:
        raise _Unmapped(f"recompute modules {unknown} are not modelled")
    return modules


def _mt_fp8_recipe(args: dict) -> str:
    """Megatron-LM --fp8-recipe: delayed (Transformer Engine's default), tensorwise (current scaling),
    blockwise, mxfp8."""
    recipe = str(args.get("fp8-recipe") or "delayed")
    return recipe if recipe in ("delayed", "tensorwise", "blockwise", "mxfp8") else "delayed"


# A Megatron CI row's iteration time is a median of the logged per-step times; the notes give their minimum. Where
# the median is more than this much above the fastest step, the steps were not steady (other jobs on the CI
# node, checkpoint saves, throttling): the median measures the cluster's contention, not the configuration.
UNSTEADY_RATIO = 1.25


def mt_unsteady(row: Any) -> str | None:
    """The reason an MT iteration-time row is not scored (median / fastest step > UNSTEADY_RATIO), or None."""
    if row.metric != "iteration_time_median":
        return None
    fastest = re.search(r"\(min ([0-9.]+)", row.notes or "")
    if not fastest or float(fastest.group(1)) <= 0:
        return None
    ratio = row.value / float(fastest.group(1))
    if ratio <= UNSTEADY_RATIO:
        return None
    return (f"not steady: the median iteration time is more than {UNSTEADY_RATIO} x the fastest logged step; the CI "
            "run's step times vary (a property of the measurement, not of the configuration)")


def _te_deterministic(args: dict, env: dict) -> bool:
    """Whether Transformer Engine's attention runs deterministic: its DotProductAttention reads
    NVTE_ALLOW_NONDETERMINISTIC_ALGO (0: deterministic), and Megatron-LM's --deterministic-mode calls
    torch.use_deterministic_algorithms(True) (megatron/training/arguments.py), which TE's backend selection also
    honours (torch.are_deterministic_algorithms_enabled())."""
    return _flag(args, "deterministic-mode") or str(env.get("NVTE_ALLOW_NONDETERMINISTIC_ALGO")) == "0"


def te_attention_kernel(args: dict, env: dict, hw: HardwareSpec | str) -> str | None:
    """The attention kernel Transformer Engine falls back to where its cuDNN fused attention cannot run, as
    train()'s `attention` (None: the chip's native fused kernel, cuDNN's).

    On Blackwell (sm_100: the chips whose MMAs are tcgen05) a training step's cuDNN F16 backend is taken only if
    the backward may be non-deterministic, or, deterministic, with cuDNN >= 9.18.1 and no dropout and no bias
    (TransformerEngine transformer_engine/common/fused_attn/fused_attn.cpp nvte_get_fused_attn_backend, "determinism
    on Blackwell: pre-9.18.1 ... bwd: non-deterministic"). Megatron-LM keeps attention dropout at 0.1 unless told
    otherwise, so a deterministic Megatron step on GB200 runs FlashAttention-2 instead: TE's backend filter
    (attention/dot_product_attention/utils.py get_attention_backend) disables FlashAttention 2 only below sm_80 and
    FlashAttention 3 on every chip but sm_90, and allows FA2 >= 2.4.1 when deterministic. The same holds for
    `--attention-backend flash` (NVTE_FLASH_ATTN only): FA3 is sm_90-only, so Blackwell runs FA2. On Hopper the
    cuDNN backend stays (deterministic from cuDNN 8.9.5 on sm_90); on Ampere FA2 is the native kernel already."""
    if matrix_path("cudnn", load_hardware(hw)) != "tcgen05":
        return None
    backend = str(args.get("attention-backend") or "auto")
    if backend == "flash":
        return "fa2"
    if backend == "auto" and _te_deterministic(args, env) and _dropout(args, "attention-dropout"):
        return "fa2"
    return None


def _mt_pipeline_split(args: dict, test_case: str, layers: int, pp: int, vpp: int) -> tuple[int, ...] | str | None:
    """train()'s `pipeline_split` from a Megatron CI test's arguments: its layout string as given; uneven first /
    last stages and the embedding / loss counted as layers as per-virtual-stage layer counts
    (llm/pipeline_layout.py). The test "..._account_for_embedding_loss_in_pipeline_split" lists only the embedding
    flag, but its 6 layers + 1 do not split over pp x vpp = 8 stages, which Megatron's argument check refuses: it ran
    with the loss counted too, as its name says."""
    from ..llm.pipeline_layout import megatron_split

    first, last = args.get("decoder-first-pipeline-num-layers"), args.get("decoder-last-pipeline-num-layers")
    loss = _flag(args, "account-for-loss-in-pipeline-split") or "account_for_embedding_loss" in test_case
    try:
        return megatron_split(layers, pp, vpp, args.get("pipeline-model-parallel-layout"),
                              int(first) if first else None, int(last) if last else None,
                              _flag(args, "account-for-embedding-in-pipeline-split"), loss)
    except ValueError as exc:
        raise _Unmapped(f"pipeline split not expressible: {exc}") from None


def _mt_optimizer(args: dict) -> dict:
    """train()'s optimizer from Megatron's arguments: `--optimizer muon` (with --use-distributed-optimizer its
    layer-wise distributed form, whose tensors are dealt ping-pong under --no-use-layer-wise-param-layout and by
    its param layout's bins otherwise, llm/muon.py); Adam otherwise."""
    if args.get("optimizer") != "muon":
        return {}
    return {"optimizer": "muon",
            "muon_sharding": "ping_pong" if _flag(args, "no-use-layer-wise-param-layout") else "balanced"}


def _mt(row: Any, hw: HardwareSpec | str, level: str) -> Any:
    s = row.shape
    args = s["model_args"]
    if unsteady := mt_unsteady(row):
        raise _Unmapped(unsteady)
    if not s.get("gpus"):
        raise _Unmapped("GPU count not public (release test not in any public recipe): data-parallel size unknown")
    if args.get("cuda-graph-impl") or _flag(args, "enable-cuda-graph") or _flag(args, "external-cuda-graph"):
        # (MT-0802..0804 read +22 % peak, -32 % steady, +1 % time before this rule; MT-0919..0927 +0..2 %,
        # -17..-24 %, +32..+37 %: the steady memory short by the graphs' pools in every one)
        raise _Unmapped("CUDA graphs (--cuda-graph-impl) are not modelled: the replayed modules skip the host "
                        "launch path, and each graph's static buffers stay allocated in its private memory pool")
    if "offloading" in str(s.get("test_case", "")):
        raise _Unmapped("activation offloading (the test's name, NVTE_CPU_OFFLOAD_V1) with its offloaded modules "
                        "not in the published arguments")
    tp, pp, cp, ep = (int(s.get(k) or 1) for k in ("TP", "PP", "CP", "EP"))
    gpus = int(s["gpus"])
    if gpus % (tp * pp * cp):
        raise _Unmapped(f"{gpus} GPUs not divisible by tp x pp x cp = {tp * pp * cp}")
    dp = gpus // (tp * pp * cp)
    config = megatron_config(args, tp, str(s.get("test_case", "megatron")))
    layers = config.layers
    vpp = 1
    if args.get("num-layers-per-virtual-pipeline-stage"):
        vpp = max(layers // pp // int(args["num-layers-per-virtual-pipeline-stage"]), 1)
    elif args.get("num-virtual-stages-per-pipeline-rank"):
        vpp = int(args["num-virtual-stages-per-pipeline-rank"])
    mtp = int(args.get("mtp-num-layers") or 0)
    split = _mt_pipeline_split(args, str(s.get("test_case", "")), layers, pp, vpp)
    micro = int(args.get("micro-batch-size") or 1)
    global_batch = int(args.get("global-batch-size") or micro * dp)
    if global_batch % (dp * micro):
        raise _Unmapped(f"global batch {global_batch} not a multiple of dp x micro batch = {dp * micro}")
    zero = 1 if _flag(args, "use-distributed-optimizer") else 0
    if _flag(args, "use-megatron-fsdp"):
        zero = 3 if "optim_grads_params" in str(args.get("data-parallel-sharding-strategy", "")) else 2
    granularity = args.get("recompute-granularity")
    recompute = {"full": "full", "selective": "selective"}.get(str(granularity), "none")
    dtype = "fp8_e4m3" if args.get("fp8-format") or args.get("fp8-recipe") else (
        "fp16" if _flag(args, "fp16") else "bf16")
    impl = str(args.get("transformer-impl", "transformer_engine"))
    backend = str(args.get("attention-backend") or "")
    unfused = backend == "unfused" or (impl == "local" and not _flag(args, "use-flash-attn"))
    attention = "math" if unfused else (te_attention_kernel(args, s.get("env") or {}, hw)
                                        if impl == "transformer_engine" else None)
    etp = args.get("expert-tensor-parallel-size")
    if ep > 1 and config.moe is None:
        raise _Unmapped(f"EP {ep} without experts in model_args")
    try:
        r = train(config, hw, tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, zero=zero, seq_len=int(args["seq-length"]),
                  global_batch=global_batch, micro_batch=micro, dtype=dtype, recompute=recompute,
                  recompute_modules=_recompute_modules(args, recompute), level=level,
                  sp=_flag(args, "sequence-parallel") if tp > 1 else False, overlap=_flag(args, "overlap-grad-reduce"),
                  check_memory=False, attention=attention,
                  etp=int(etp) if etp else (tp if config.moe else None), tp_overlap=_flag(args, "tp-comm-overlap"),
                  cross_entropy="fused" if _flag(args, "cross-entropy-loss-fusion") else "fp32",
                  hidden_dropout=_dropout(args, "hidden-dropout"),
                  attention_dropout=_dropout(args, "attention-dropout"), memory_stage=-1, reserve=0.0,
                  fp8_recipe=_mt_fp8_recipe(args) if dtype.startswith("fp8") else None,
                  fp8_skip=MEGATRON_BF16_GEMMS if dtype.startswith("fp8") else (),
                  grad_accumulation_fusion=not _flag(args, "no-gradient-accumulation-fusion"),
                  moe_grouped_gemm=_flag(args, "moe-grouped-gemm"),
                  # Megatron-LM skips the load-balancing loss at --moe-aux-loss-coeff 0, its default
                  moe_aux_loss=float(args.get("moe-aux-loss-coeff") or 0) > 0,
                  pipeline_split=split, mtp_layers=mtp, **_mt_optimizer(args),
                  optimizer_instances=int(args.get("num-distributed-optimizer-instances") or 1),
                  defer_embedding_wgrad=(int(args.get("wgrad-deferral-limit") or 0)
                                         if _flag(args, "defer-embedding-wgrad-compute") else None),
                  **megatron_runtime(pp, vpp, nan_check=not _flag(args, "no-check-for-nan-in-loss-and-grad"),
                                     one_queue=str((s.get("env") or {}).get("CUDA_DEVICE_MAX_CONNECTIONS")) == "1",
                                     transformer_engine=impl == "transformer_engine"))
    except ValueError as exc:
        raise _Unmapped(f"configuration not expressible: {exc}") from None
    _note_fit(row, r)
    if row.metric == "iteration_time_median":
        return _prediction(r.step_s)
    if row.metric == "peak_allocated_bytes":
        return _memory_value(row, r.memory.peak_allocated)
    if row.metric == "allocated_bytes_after_step":
        return _memory_value(row, r.memory.steady)
    raise _Unmapped(f"MT metric {row.metric!r} not mapped")


# ----- MB: Megatron-Bridge's published performance summary (data/external) --------------------------------------
# The table's precision column -> (train() dtype, FP8 recipe): FP8-CS is Transformer Engine's Float8CurrentScaling
# (one scale per tensor, its amax taken before the cast), FP8-MX its MXFP8BlockScaling (a scale per 1x32 block).
MB_PRECISIONS = {"bf16": ("bf16", None), "fp8-cs": ("fp8_e4m3", "tensorwise"), "fp8-mx": ("mxfp8", "mxfp8")}
# The recipes' activation recompute where the Megatron-Bridge performance configs publish it, keyed by the table's
# (model, system, precision): Megatron Core's --recompute-modules under selective granularity (train()
# `recompute_modules`). Read from github.com/NVIDIA-NeMo/Megatron-Bridge scripts/performance/configs/:
# deepseek/deepseek_workload_base_configs.py @ 042641823051ce167c52b0ae289941a227c11535 and the older
# deepseek/workload_base_configs.py @ 0fa501acee1ebfe3d1ab8088b638e2089d800df6 (both newer than the 25.11
# container, whose own files the index does not hold: only the modules every version read agrees on are kept,
# e.g. GB300 BF16 lists ["moe_act"] in the one and ["mlp", "moe_act"] in the other); gpt_oss/
# gpt_oss_workload_base_configs.py @ 07eea52d4523a69fc8975cef34938d61ae13f9e2 (["layernorm", "moe_act"] on
# GB200, B200 and H100, none on GB300). Rows not listed keep the mapper's assumption: no recompute (the Qwen3
# configs read list none; the Llama rows were not checked).
MB_RECOMPUTE: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("DeepSeekV3", "GB300", "BF16"): ("moe_act",),
    ("DeepSeekV3", "GB200", "BF16"): ("mla_up_proj",),
    ("DeepSeekV3", "GB200", "FP8-MX"): ("mla_up_proj",),
    ("DeepSeekV3", "B200", "FP8-MX"): ("mla_up_proj",),
    ("GPT OSS 120B", "GB200", "BF16"): ("layernorm", "moe_act"),
    ("GPT OSS 120B", "B200", "BF16"): ("layernorm", "moe_act"),
    ("GPT OSS 120B", "H100", "BF16"): ("layernorm", "moe_act"),
}


def _mb_recompute(row: Any) -> tuple[str, tuple[str, ...]]:
    """(train() recompute, recompute_modules) of a Megatron-Bridge row: MB_RECOMPUTE's modules where published,
    else none. The system is the table section the row was read from ("System: DGX-GB300")."""
    system = re.search(r"System: DGX-(\w+)", row.source)
    key = (str(row.shape.get("table_model")), system.group(1) if system else "", str(row.shape.get("precision")))
    modules = MB_RECOMPUTE.get(key, ())
    return ("selective", modules) if modules else ("none", ())


def _mb(row: Any, hw: HardwareSpec | str, level: str) -> Any:
    """A Megatron-Bridge performance-recipe step (Megatron Core with Transformer Engine) at the table's layout.
    What the table leaves out is assumed as the recipes' defaults read (data/external/README.md): the activation
    recompute the recipes publish (MB_RECOMPUTE; none where they list none or were not read), the distributed
    optimizer (ZeRO-1) under DDP and Megatron FSDP sharding optimizer state, gradients and parameters (ZeRO-3)
    where FSDP = 1, sequence parallelism and TP communication overlap where TP > 1, expert tensor parallelism 1,
    the fused cross-entropy, and Megatron's runtime (loss path, NaN check)."""
    s = row.shape
    precision = MB_PRECISIONS.get(str(s.get("precision", "")).lower())
    if precision is None:
        raise _Unmapped(f"Megatron-Bridge precision {s.get('precision')!r} not mapped")
    dtype, recipe = precision
    gpus, tp, pp, cp, ep = (int(s.get(k) or 1) for k in ("gpus", "TP", "PP", "CP", "EP"))
    if gpus % (tp * pp * cp):
        raise _Unmapped(f"{gpus} GPUs not divisible by tp x pp x cp = {tp * pp * cp}")
    dp, vpp = gpus // (tp * pp * cp), int(s.get("VP") or 1)
    recompute, modules = _mb_recompute(row)
    try:
        r = train(str(s["model"]), hw, tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, zero=3 if s.get("fsdp") else 1,
                  seq_len=int(s["seq_len"]), global_batch=int(s["global_batch"]), micro_batch=int(s["micro_batch"]),
                  dtype=dtype, fp8_recipe=recipe, recompute=recompute, recompute_modules=modules, level=level,
                  sp=tp > 1, tp_overlap=tp > 1, check_memory=False, etp=1 if ep > 1 else None,
                  cross_entropy="fused", fp8_skip=MEGATRON_BF16_GEMMS if recipe else (),
                  **megatron_runtime(pp, vpp, one_queue=False))
    except ValueError as exc:
        raise _Unmapped(f"configuration not expressible: {exc}") from None
    _note_fit(row, r)
    if row.metric == "throughput_per_gpu":
        return _prediction(r.tokens_per_s_per_device)
    raise _Unmapped(f"MB metric {row.metric!r} not mapped")


# ----- TT: torchtitan's own performance page (data/external: never fitted) ----------------------------------------
# torchtitan's pipeline defaults of the time (torchtitan/parallelisms/pipelining_utils.py, late 2024, as read in a
# copy of that code): a multi-stage schedule (Interleaved 1F1B) builds two stages per rank when no split points are
# given (generate_split_points), and the microbatches default to the total number of stages (build_pipeline_schedule:
# n_microbatches = pp x stages per rank), each local batch split into them
TORCHTITAN_STAGES_PER_RANK = {"1F1B": 1, "Interleaved1F1B": 2}


def _tt(row: Any, hw: HardwareSpec | str, level: str) -> Any:
    """A torchtitan run of docs/performance.md (data/external/README.md): FSDP2 (ZeRO-3) x TP x PP x CP on the Grand
    Teton H100 the page describes (GRAND_TETON_H100), SDPA's flash attention, the fp32 cross-entropy, torchao's
    tensorwise float8 linears (LM head in bf16) where the row says Float8, Inductor's fusion where it says
    torch.compile (else eager elementwise kernels), async TP where it says AsyncTP, the named recompute."""
    from .model_names import model_preset

    s = row.shape
    spec = load_hardware(hw).with_overrides(GRAND_TETON_H100)
    model = model_preset(str(s["model"]))
    if model is None:
        raise _Unmapped(f"torchtitan model {s['model']!r} has no preset")
    fsdp, tp, pp, cp = (int(s.get(k) or 1) for k in ("FSDP", "TP", "PP", "CP"))
    if fsdp * tp * pp * cp != int(s["gpus"]):
        raise _Unmapped(f"FSDP x TP x PP x CP = {fsdp * tp * pp * cp} is not the {s['gpus']} GPUs stated")
    local, vpp = int(s["local_batch"]), TORCHTITAN_STAGES_PER_RANK.get(str(s.get("pp_schedule") or "1F1B"), 1)
    micro = local // (pp * vpp) if pp > 1 else local
    float8 = bool(s.get("float8"))
    recompute = {"selective op": "op_sac", "full": "full", "none": "none"}[str(s["activation_checkpointing"])]
    try:
        r = train(model, spec, tp=tp, pp=pp, dp=fsdp, cp=cp, vpp=vpp, zero=3, seq_len=int(s["seq_len"]),
                  global_batch=local * fsdp, micro_batch=micro, dtype="fp8_e4m3" if float8 else "bf16",
                  fp8_recipe="tensorwise" if float8 else None, fp8_casts="torchao",
                  fp8_skip=TA_BF16_ALWAYS if float8 else (), fp8_weight_cache=False, recompute=recompute,
                  level=level, check_memory=False, reserve=0.0, attention=sdpa_flash(spec), sp=tp > 1,
                  tp_overlap=bool(s.get("async_tp")), elementwise="fused" if s.get("torch_compile") else "eager",
                  fsdp_pp_unsharded=True)
    except ValueError as exc:
        raise _Unmapped(f"configuration not expressible: {exc}") from None
    _note_fit(row, r)
    if row.category == "memory_footprint":
        return _memory_value(row, r.memory.peak_allocated)
    return _prediction(r.tokens_per_s_per_device)


# ----- TA: torchao docs (torchtitan) ---------------------------------------------------------------------------
def _ta_recipe(row: Any) -> str:
    text = f"{row.dtype} {row.shape.get('precision_recipe', '')} {row.shape.get('config', '')}".lower()
    if "mxfp8" in text:
        return "mxfp8"
    return "fp8_e4m3" if "float8" in text or "fp8" in text or "wise" in text else "bf16"


# torchtitan's benchmark platform (docs/performance.md: "Grand Teton", H100 with 96 GB HBM2e at 2.4 TB/s,
# "the default 500W power limit"): the torchao float8 tables come from the same team's runs and state no
# other H100; we read their H100 as this one.
GRAND_TETON_H100 = {"power.limit": "500 W", "memory.hbm.bandwidth": "2.4 TB/s", "memory.hbm.capacity": "96 GB"}


# The "power limited" B200 of the torchao MXFP8 tables (the limit is not stated there): the PyTorch team's B200
# benchmark hosts run at 750 W of the 1000 W TDP. pytorch/helion PR #347 (benchmarks/run_input_shard.sh) sets
# `nvidia-smi --power-limit` to 750 W on B200 next to the 500 W of its H100 (the Grand Teton default above), and
# pytorch/ao PR #3566 (same author as the MXFP8 tables) contrasts the "1000W limit" B200 with "750W limited
# device". A chip-wide board limit: power_limited_clock_ratio(1000 W, 750 W) = 0.874 of the clock.
PYTORCH_B200_POWER_LIMIT = {"power.limit": "750 W"}


# torchtitan's float8 / mx converters leave the LM head ("output") in bf16: llama3_8b.toml `[float8] filter_fqns =
# "output"`, and the MX converter's filter_fqns default ["output"] (torchtitan docs/mxfp8.md lists "output" and
# "router.gate" as the modules MXFP8 skips). Graph node names (workload.llm_graph) of the modules each TA recipe
# leaves in bf16: the LM head and the router always; "MXFP8 for Linears only" also the routed experts' grouped
# GEMMs, "MXFP8 for Grouped GEMMs only" every linear outside the routed experts.
TA_BF16_ALWAYS = ("lm_head", "router")
TA_LINEARS = ("qkv_proj", "o_proj", "mlp_", "shared_expert_")


def _ta_fp8_skip(row: Any) -> tuple[str, ...]:
    config = str(row.shape.get("config", "")).lower()
    if "linears only" in config:
        return (*TA_BF16_ALWAYS, "experts_")
    if "grouped gemms only" in config:
        return (*TA_BF16_ALWAYS, *TA_LINEARS)
    return TA_BF16_ALWAYS


def _ta_spec(row: Any, hw: HardwareSpec | str) -> HardwareSpec | str:
    """The run's chip as the torchao docs name it: Grand Teton H100 (500 W, 96 GB HBM2e); a "power limited" B200
    at the team's 750 W."""
    if "H100" in row.hardware:
        return load_hardware(hw).with_overrides(GRAND_TETON_H100)
    if "B200" in row.hardware and "power lim" in row.hardware.lower():
        return load_hardware(hw).with_overrides(PYTORCH_B200_POWER_LIMIT)
    return hw


def _ta_fp8_recipe(row: Any) -> str | None:
    """torchao's recipe name (llm/torchao_float8.py): rowwise_with_gw_hp keeps the weight gradient in bf16."""
    text = f"{row.dtype} {row.shape.get('precision_recipe', '')} {row.shape.get('config', '')}".lower()
    if "rowwise_with_gw_hp" in text:
        return "rowwise_gw_hp"
    return next((r for r in ("mxfp8", "rowwise", "tensorwise") if r in text), None)


def _ta_fp8_all_gather(row: Any) -> bool:
    """torchao's float8 all-gather (enable_fsdp_float8_all_gather), as the recipe names it: "with float8
    all-gather", "(f8 all-gather)"; "bfloat16 all-gather" is the default bf16 gather."""
    text = f"{row.dtype} {row.shape.get('precision_recipe', '')}".lower()
    return "float8 all-gather" in text or "f8 all-gather" in text


def _ta(row: Any, hw: HardwareSpec | str, level: str) -> Any:
    s = row.shape
    hw = _ta_spec(row, hw)
    if "Llama3-8B" in str(s.get("model", "")):
        config = ModelConfig(name="llama3-8b", family="llama", hidden=int(s["hidden"]), layers=int(s["layers"]),
                             heads=int(s["heads"]), kv_heads=int(s["kv_heads"]),
                             head_dim=int(s["hidden"]) // int(s["heads"]), intermediate=int(s["ffn_hidden"]),
                             vocab=int(s["vocab"]))
        gpus, micro = int(s["gpus"]), int(s.get("local_batch", 1))
        r = train(config, hw, dp=gpus, zero=3, seq_len=int(s["seq_len"]), global_batch=gpus * micro,
                  micro_batch=micro, dtype=_ta_recipe(row), recompute="op_sac", level=level, check_memory=False,
                  fp8_weight_cache=False, reserve=0.0, attention=sdpa_flash(hw), fp8_recipe=_ta_fp8_recipe(row),
                  fp8_all_gather=_ta_fp8_all_gather(row), fp8_casts="torchao", fp8_skip=_ta_fp8_skip(row))
    elif "Llama4" in str(s.get("model", "")) and s.get("gpus") == 4:
        # torchtitan llama4 17Bx16E, 2 layers: dim 5120, 40 heads / 8 KV heads, 16 experts top-1 of width 8192
        # plus one shared expert of 8192, vocab 202048 (torchtitan/models/llama4/__init__.py)
        config = ModelConfig(name="llama4-scout-2l", family="llama", hidden=5120, layers=2, heads=40, kv_heads=8,
                             head_dim=128, intermediate=8192, vocab=202048,
                             moe=MoE(experts=16, top_k=1, intermediate=8192, shared_experts=1,
                                     shared_intermediate=8192))
        gpus, micro = int(s["gpus"]), int(s.get("local_batch", 1))
        r = train(config, hw, dp=gpus, ep=int(s.get("EP", 1)), zero=3, seq_len=int(s["seq_len"]),
                  global_batch=gpus * micro, micro_batch=micro, dtype=_ta_recipe(row), recompute="none", level=level,
                  check_memory=False, fp8_weight_cache=False, reserve=0.0, attention=sdpa_flash(hw),
                  fp8_recipe=_ta_fp8_recipe(row), fp8_casts="torchao", grouped_gemm="torch",
                  fp8_skip=_ta_fp8_skip(row))
    elif row.metric == "time_fwd_bwd" and "total_M" in s:
        return _prediction(_ta_moe_layer_seconds(row, hw, level) * 1e3)
    else:
        raise _Unmapped("torchao row without a reproducible configuration (GPU count inconsistent in the source, "
                        "or a kernel microbenchmark without a model)")
    _note_fit(row, r)
    if row.category == "memory_footprint":
        return _memory_value(row, r.memory.peak_allocated)
    if row.metric == "throughput_per_gpu":
        return _prediction(r.tokens_per_s_per_device)
    raise _Unmapped(f"TA metric {row.metric!r} not mapped")


def _ta_moe_layer_seconds(row: Any, hw: HardwareSpec | str, level: str) -> float:
    return moe_layer_seconds(moe_layer_run(row.shape, _ta_recipe(row) == "mxfp8"), hw, level)


def ta_moe_layer_graphs(row: Any) -> tuple[Graph, Graph]:
    """(forward, backward) of torchao's bench_moe_layer.py (benchmarks/prototype/moe_training): one torchtitan MoE
    layer on one GPU, as measure/torchtitan_moe.py builds it (the MXFP8 scale rearrangements are priced beside the
    graphs: moe_layer_run)."""
    run = moe_layer_run(row.shape, _ta_recipe(row) == "mxfp8")
    return run.forward, run.backward


# ----- MM: one Megatron-Core MoE layer -------------------------------------------------------------------------
def _mm(row: Any, hw: HardwareSpec | str, level: str) -> Any:
    s = row.shape
    h, ffn = int(s["hidden_size"]), int(s["moe_ffn_hidden_size"])
    # No shared expert, whatever the proxy lists: the DeepSeek proxy's MoEModelConfig names
    # moe_shared_expert_intermediate_size=2048 (moe_perf/test_cases.py), but the harness's
    # _build_transformer_config (moe_perf/__main__.py, NVIDIA/Megatron-LM, every stored version beside the
    # dataset's commit) never passes it to TransformerConfig, whose default (None) builds no SharedExpertMLP.
    # The time graph still prices gated (SwiGLU) experts although the harness runs TransformerConfig's default
    # GELU experts (two GEMMs: measure/megatron_moe_memory.py); with two GEMMs, the fp32 probs multiply and what
    # measure/megatron_moe_time.py adds, the rows are 10-27 % fast (0.6-1.7 ms a pass not yet found): kept until
    # that time is priced.
    moe = MoE(experts=int(s["num_experts"]), top_k=int(s["router_topk"]), intermediate=ffn)
    config = ModelConfig(name=str(s.get("proxy", "moe")), family="mixtral", hidden=h, layers=1,
                         heads=int(s.get("num_attention_heads", 8)), kv_heads=int(s.get("num_attention_heads", 8)),
                         head_dim=128, intermediate=ffn, vocab=32000, moe=moe)
    tp, ep = int(s.get("TP", 1)), int(s.get("EP", 1))
    par = Parallelism(tp=tp, ep=ep, dp=int(s.get("gpus", 8)) // tp)
    fp8 = "fp8" in row.dtype.lower() or "fp8" in str(s.get("case", ""))
    prec = Precision(dtype="fp8_e4m3" if fp8 else "bf16")
    tokens = int(s.get("seq_length", 4096)) * int(s.get("micro_batch_size", 1))
    step = Step(batch=1, new_tokens=tokens)
    forward = Graph(tuple(moe_nodes(config, step, par, prec)), name="moe layer")
    backward = backward_graph(forward)
    # alltoall's local-expert sorts around the experts, the flex dispatchers' deduplicated traffic, TE's FP8
    # row padding (measure/megatron_moe_time.py)
    layer = shape_from_row(s, fp8)
    forward, backward = with_dispatch_traffic(*with_local_expert_sorts(forward, backward, layer), layer)
    forward, backward = with_fp8_padding(forward, backward, layer)
    if fp8:  # Transformer Engine's FP8 blockwise recipe: 1x128 / 128x128 scaled casts around every GEMM
        forward, backward = with_fp8_casts(forward, backward, "blockwise")
    if row.metric == "forward_time_mean":
        return _prediction(estimate(forward, hw, level).seconds * 1e3)
    if row.metric == "backward_time_mean":
        return _prediction(estimate(backward, hw, level).seconds * 1e3)
    if row.metric == "peak_allocated_bytes":
        # the benchmark's own expert layout (GELU experts, no shared expert) and dispatcher buffers:
        # measure/megatron_moe_memory.py
        return _memory_value(row, moe_layer_peak(shape_from_row(s, fp8)))
    raise _Unmapped(f"MM metric {row.metric!r} not mapped")


# ----- CU: cudnn-frontend Llama-3.2-1B -------------------------------------------------------------------------
def _cu(row: Any, hw: HardwareSpec | str, level: str) -> Any:
    s = row.shape
    spec = hw  # predict() has applied the row's clock lock (measure/conditions.py)
    # meta-llama/Llama-3.2-1B config.json: hidden 2048, 16 layers, 32 heads / 8 KV heads, MLP 8192,
    # vocab 128256, tied embeddings
    config = ModelConfig(name="llama-3.2-1b", family="llama", hidden=2048, layers=int(s.get("layers", 16)), heads=32,
                         kv_heads=8, head_dim=64, intermediate=8192, vocab=128256, tie_embeddings=True)
    batch = int(s["batch"])
    backend = str(s.get("sdpa_backend", "")).upper()
    # PyTorch SDPA backends: FLASH_ATTENTION is FlashAttention-2, EFFICIENT_ATTENTION the xformers / CUTLASS
    # memory-efficient kernels (mem_efficient), CUDNN_ATTENTION cuDNN's fused kernel (the chip's best)
    attention = None if "CUDNN" in backend else "mem_efficient" if "EFFICIENT" in backend else "fa2"
    # Known and not applied yet (docs/validation.md, "cudnn-frontend's Llama-3.2-1B training rows re-read"): the
    # script trains with torch.optim.SGD, not the Adam priced here, and its B200 run log shows the 1665 MHz clock
    # lock refused (the row text's lock is applied by measure/conditions.py). Both together uncover a B200
    # shortfall no source sizes yet, and pull the host-latency fit off when MT is held out.
    r = train(config, spec, dp=1, zero=0, seq_len=int(s["seq_len"]), global_batch=batch, micro_batch=batch,
              recompute="none", level=level, check_memory=False, reserve=0.0, attention=attention,
              elementwise="eager")
    _note_fit(row, r)
    if row.metric == "iteration_time_mean":
        return _prediction(r.step_s)
    raise _Unmapped(f"CU metric {row.metric!r} not mapped")
