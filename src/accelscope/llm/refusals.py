"""The launch checks of Megatron-LM (training) and vLLM (serving): layouts the framework refuses before it runs.

Each rule is a small function that returns why the framework refuses the layout (the rule, the values and the fix)
or None. `llm.plan` prunes the layouts they refuse (with its own coarser reason names, and its own choices on top:
TP within the scale-up domain, a floor on context-parallel chunks, the memory bounds); `train` and `infer` estimate
the layout anyway, a framework may allow it, and report the reasons as `notes` (`train_notes`, `infer_notes`).
docs/dse.md, "What a planned layout needs to launch", lists each rule with its source.

Only integer arithmetic here, no graph: `train` and `infer` call the notes once per estimate.
"""

from __future__ import annotations

from ..workload.model_config import ModelConfig

__all__ = ["cp_chunks_reason", "expert_parallel_reason", "infer_notes", "interleave_reason",
           "interleaved_micro_batches_reason", "micro_batch_reason", "pipeline_reason", "sequence_parallel_reason",
           "serve_kv_heads_reason", "tp_heads_reason", "tp_widths_reason", "train_notes", "world_reason"]


# ----- both frameworks ----------------------------------------------------------------------------------------------
def world_reason(devices: int, tp: int, pp: int, cp: int = 1) -> str | None:
    """The devices split into whole model-parallel groups. Megatron-LM: initialize_model_parallel asserts
    `world_size % (tp x pp x cp) == 0` (core/parallel_state.py), dp the quotient; vLLM's replicas are tp x pp."""
    group = tp * pp * cp
    if devices % group:
        return (f"devices ({devices}) not divisible by tp x pp x cp = {group}: the framework refuses the world size; "
                f"use a device count that is a multiple of {group}")
    return None


def tp_heads_reason(config: ModelConfig, tp: int) -> str | None:
    """TP divides the attention heads. Megatron-LM: TransformerConfig.__post_init__ asserts
    `num_attention_heads % tensor_model_parallel_size == 0` (core/transformer/transformer_config.py); vLLM:
    ModelConfig.verify_with_parallel_config raises on the same remainder (vllm/config.py)."""
    if config.heads % tp:
        return (f"tp={tp} does not divide the {config.heads} attention heads of {config.name}: the framework refuses "
                "it; use a tp that divides the heads")
    return None


def pipeline_reason(config: ModelConfig, pp: int) -> str | None:
    """Every pipeline stage holds a layer (Megatron-LM's layer split; vLLM's get_pp_indices)."""
    if pp > config.layers:
        return f"pp={pp} exceeds the {config.layers} layers of {config.name}: a stage would be empty; use pp <= layers"
    return None


# ----- training (Megatron-LM) ---------------------------------------------------------------------------------------
def _tp_widths(config: ModelConfig) -> list[tuple[str, int]]:
    """The widths TP shards in every layer that has them, named: the KV heads (query groups; MLA has none), the
    dense MLP's intermediate width (when some layer is dense), the shared experts' width."""
    moe = config.moe
    widths = [] if config.mla is not None else [("KV heads (query groups)", config.kv_heads)]
    if moe is None or moe.first_dense_layers or moe.every > 1:  # some layer has a dense MLP
        widths.append(("MLP intermediate width", config.intermediate))
    if moe is not None and moe.shared_experts and moe.shared_intermediate:
        widths.append(("shared experts' intermediate width", moe.shared_intermediate))
    return widths


def tp_widths_reason(config: ModelConfig, tp: int, etp: int) -> str | None:
    """A width TP shards that is not a whole multiple of tp (or, for a routed expert, of the expert tensor-parallel
    size `etp`). Megatron-LM's attention divides the query groups (KV heads) by tp (`divide(num_query_groups,
    world_size)`, core/transformer/attention.py): no KV-head replication in training, unlike vLLM. Its column- and
    row-parallel linears `divide` their output / input width (core/tensor_parallel/layers.py): the dense MLP and
    the shared experts by tp, each routed expert by etp (core/transformer/moe/experts.py)."""
    moe = config.moe
    if moe is not None and moe.intermediate % etp:
        return (f"etp={etp} does not divide the routed experts' intermediate width {moe.intermediate}: Megatron-LM "
                "refuses it (the expert linears divide their width by etp); use an etp that divides it")
    for name, width in _tp_widths(config):
        if width % tp:
            why = ("its attention divides the query groups by tp, with no KV-head replication in training"
                   if name.startswith("KV") else "its parallel linears divide their width by tp")
            return (f"tp={tp} does not divide the {width} {name} of {config.name}: Megatron-LM refuses it ({why}); "
                    f"use a tp that divides {width}")
    return None


def interleave_reason(config: ModelConfig, pp: int, vpp: int) -> str | None:
    """The interleaved schedule (vpp > 1) needs a pipeline and a layer in every virtual stage. Megatron-LM's
    initialize_model_parallel (core/parallel_state.py) raises "pipeline-model-parallel size should be greater than
    1 with interleaved schedule" when virtual stages are set, and its layer split needs pp x vpp chunks."""
    if vpp > 1 and pp == 1:
        return (f"interleaved schedule (vpp={vpp}) with pp=1: Megatron-LM refuses virtual stages without a "
                "pipeline; use vpp=1 or pp >= 2")
    if vpp > 1 and config.layers < pp * vpp:
        return (f"pp x vpp = {pp * vpp} chunks exceed the {config.layers} layers of {config.name}: a virtual stage "
                "would be empty; use a smaller vpp")
    return None


def cp_chunks_reason(seq_len: int, cp: int) -> str | None:
    """Load-balanced causal context parallelism gives each CP rank two chunks of the sequence: Megatron-LM
    validate_args asserts "seq-length should be a multiple of 2 * context-parallel-size" (training/arguments.py);
    torchtitan's seq_len_divisor is tp x 2 cp (torchtitan/distributed/parallel_dims.py)."""
    if cp > 1 and seq_len % (2 * cp):
        return (f"seq_len={seq_len} is not a multiple of 2 x cp = {2 * cp}: Megatron-LM refuses it (load-balanced "
                f"context parallelism splits the sequence into 2 x cp chunks); use a seq_len divisible by {2 * cp}")
    return None


def sequence_parallel_reason(seq_len: int, cp: int, tp: int) -> str | None:
    """Sequence parallelism (on with tp > 1) scatters each CP rank's seq_len / cp tokens over the TP ranks:
    Megatron-LM's `_split_along_first_dim` asserts the first (sequence) dimension divides by the TP size
    (core/tensor_parallel/mappings.py); torchtitan's seq_len_divisor is tp x 2 cp."""
    if tp > 1 and (seq_len // cp) % tp:
        return (f"seq_len / cp = {seq_len // cp} tokens not divisible by tp={tp}: sequence parallelism cannot "
                f"scatter them (Megatron-LM asserts it); use a seq_len / cp divisible by {tp}, or sequence parallelism off (sp=False)")
    return None


def expert_parallel_reason(config: ModelConfig, stage_ranks: int, ep: int, etp: int) -> str | None:
    """EP splits the routed experts into whole groups, and the expert groups of etp x ep ranks tile the tp x cp x dp
    ranks of a pipeline stage (`stage_ranks`). Megatron-LM validate_args asserts `num_experts %
    expert_model_parallel_size == 0` and experts with EP (training/arguments.py); initialize_model_parallel refuses
    a "decoder world_size ... not divisible by expert_tensor_model_pipeline_parallel size" (core/parallel_state.py:
    etp x ep x pp must divide the world)."""
    if ep == 1:
        return None
    if config.moe is None:
        return f"ep={ep} on {config.name}, which has no experts: Megatron-LM refuses it; use ep=1"
    if config.moe.experts % ep:
        return (f"ep={ep} does not divide the {config.moe.experts} experts of {config.name}: Megatron-LM refuses it; "
                "use an ep that divides the experts")
    if stage_ranks % (ep * etp):
        return (f"ep x etp = {ep} x {etp} does not divide the {stage_ranks} ranks of a pipeline stage "
                f"(tp x cp x dp): Megatron-LM refuses the world size; use ep x etp dividing {stage_ranks}")
    return None


def micro_batch_reason(global_batch: int, dp: int, micro_batch: int) -> str | None:
    """Each data-parallel rank runs whole micro-batches: Megatron-LM's micro-batch calculator asserts
    `global_batch_size % (micro_batch_size x data_parallel_size) == 0` (core/num_microbatches_calculator.py)."""
    if global_batch % (dp * micro_batch):
        return (f"global_batch={global_batch} is not a multiple of dp x micro_batch = {dp * micro_batch}: "
                "Megatron-LM refuses it; use a global batch divisible by it")
    return None


def interleaved_micro_batches_reason(pp: int, vpp: int, micro_batches: int) -> str | None:
    """Megatron-LM's interleaved schedule takes micro-batches in groups of N, pp <= N <= M (core/pipeline_parallel/
    schedules.py: microbatch_group_size_per_vp_stage in [pp, M]): it needs M >= pp micro-batches per step."""
    if vpp > 1 and micro_batches < pp:
        return (f"interleaved schedule (vpp={vpp}) with {micro_batches} micro-batches per step, fewer than pp={pp}: "
                "Megatron-LM refuses it; raise the global batch or lower dp / micro_batch to give each rank at "
                f"least {pp}, or use vpp=1")
    return None


def train_notes(config: ModelConfig, *, tp: int, pp: int, dp: int, cp: int, ep: int, etp: int, vpp: int,
                seq_len: int, global_batch: int, micro_batch: int, sp: bool) -> tuple[str, ...]:
    """Every Megatron-LM launch rule the training layout breaks (empty when it launches). The world size is whole
    by construction (devices = tp x pp x cp x dp); rules train() itself refuses come out empty here."""
    micro_batches = global_batch // (dp * micro_batch) if dp * micro_batch else 0
    reasons = (tp_heads_reason(config, tp), tp_widths_reason(config, tp, etp), pipeline_reason(config, pp),
               interleave_reason(config, pp, vpp), cp_chunks_reason(seq_len, cp),
               sequence_parallel_reason(seq_len, cp, tp) if sp else None,  # no scatter without SP
               expert_parallel_reason(config, tp * cp * dp, ep, etp),
               micro_batch_reason(global_batch, dp, micro_batch),
               interleaved_micro_batches_reason(pp, vpp, micro_batches))
    return tuple(reason for reason in reasons if reason)


# ----- serving (vLLM) -----------------------------------------------------------------------------------------------
def serve_kv_heads_reason(config: ModelConfig, tp: int) -> str | None:
    """vLLM shards the KV heads over TP or, with fewer KV heads than tp, replicates each over tp / kv_heads ranks:
    it needs one of the two to divide the other (vllm/model_executor/models/llama.py LlamaAttention asserts
    `total_num_kv_heads % tp_size == 0` or `tp_size % total_num_kv_heads == 0`). MLA has one latent KV head."""
    kv_heads = config.kv_heads if config.mla is None else 1
    if kv_heads % tp and tp % kv_heads:
        return (f"tp={tp} and the {kv_heads} KV heads of {config.name} do not nest (neither divides the other): "
                "vLLM refuses it (it shards or replicates whole KV heads); use a tp that divides the KV heads or a "
                "multiple of them")
    return None


def infer_notes(config: ModelConfig, *, tp: int, pp: int) -> tuple[str, ...]:
    """Every vLLM launch rule the serving replica breaks (empty when it launches)."""
    reasons = (tp_heads_reason(config, tp), pipeline_reason(config, pp), serve_kv_heads_reason(config, tp))
    return tuple(reason for reason in reasons if reason)
