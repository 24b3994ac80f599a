"""Training and memory rows of a source no mapper knows (measure/training_generic.py): read by the names published
tables use, priced as `train` with the defaults the module states. Before, every such row was unmapped ("rows need
shape_json field 'params_B'", "memory_footprint rows of source 'ZZ' have no mapper")."""

import pytest

from accelscope.llm import train
from accelscope.llm.train import megatron_runtime
from accelscope.measure import MeasuredRow
from accelscope.measure.model_names import model_preset
from accelscope.measure.predict import Prediction, Skip, predict
from accelscope.measure.training_generic import (
    Unmapped,
    batch_of,
    layout_of,
    recompute_of,
)

GIB = 2**30


def _row(shape, metric="throughput_per_gpu", unit="tokens/s/GPU", category="llm_training", dtype="bf16",
         hardware="NVIDIA H100 SXM5 80GB"):
    return MeasuredRow(id="QQ-1", hardware=hardware, category=category, op="pretraining step", dtype=dtype,
                       shape=shape, metric=metric, value=1000.0, unit=unit,
                       source="github.com/example/trainer docs/perf.md @ " + "0" * 40)


def test_fields_are_read_by_the_names_sources_give_them():
    """Megatron's argument names, a CSV's abbreviations: tp 2 x pp 2 on 16 GPUs leaves dp = 16 / 4 = 4; global
    batch 64 sequences of micro batch 2."""
    shape = {"tensor-model-parallel-size": 2, "Pipeline_Model_Parallel_Size": 2, "world_size": 16,
             "seq_length": "4k", "mbs": 2, "gbs": 64}
    lay = layout_of(shape)
    assert (lay["tp"], lay["pp"], lay["cp"], lay["dp"], lay["zero"], lay["gpus"]) == (2, 2, 1, 4, 1, 16)
    assert batch_of(shape, lay["dp"], 4096) == (64, 2)
    # 16M tokens per batch of 8k sequences on dp 64: 2^24 / 2^13 = 2048 sequences
    assert batch_of({"tokens_per_batch": "16M"}, 64, 8192) == (2048, 1)
    # a per-data-parallel-rank batch: 16 x dp 8 = 128
    assert batch_of({"batch_size_per_dp": 16}, 8, 131072) == (128, 1)
    # nodes x GPUs per node; FSDP named in a free-text description
    assert layout_of({"nodes": 4, "gpus_per_node": 8, "parallelism": "FSDP2, no TP"})["zero"] == 3
    assert layout_of({"gpus": 8, "sharding_strategy": "SHARD_GRAD_OP"})["zero"] == 2


@pytest.mark.parametrize(("text", "preset"), [
    ("LLAMA3.1_405B", "llama-3.1-405b"), ("Llama 3 70B", "llama-3.1-70b"), ("meta-llama/Meta-Llama-3-8B",
     "llama-3.1-8b"), ("DeepSeekV3", "deepseek-v3"), ("GPT OSS 120B", "gpt-oss-120b"),
    ("Qwen3_30B_a3B", "qwen3-30b-a3b"), ("Mixtral 8x7B", "mixtral-8x7b"), ("Llama-3.2-1B", "llama-3.2-1b"),
    ("LLAMA3.2_3B", "llama-3.2-3b"), ("Qwen/Qwen3-32B", "qwen3-32b"), ("Qwen2.5-32B-Instruct", "qwen2.5-32b"),
    ("DeepSeek-Coder-V2-Lite", "deepseek-v2-lite"), ("Llama-3.2-11B-Vision", None), ("Qwen2-72B", None),
])
def test_a_model_name_resolves_to_its_preset(text, preset):
    assert model_preset(text) == preset


@pytest.mark.parametrize(("value", "mode"), [
    (None, "none"), (False, "none"), (True, "full"), ("per-op selective AC (SAC)", "op_sac"),
    ("selective", "selective"), ("full (uniform, 1 layer)", "full"), ("none", "none"),
])
def test_recompute_words(value, mode):
    assert recompute_of({"activation_checkpointing": value}) == mode


def test_an_fsdp_row_is_priced_as_train_with_pytorch_defaults():
    """Llama 3.1 8B, FSDP on 8 H100, 8k: the same step as `train` at zero 3 with SDPA's flash backend (FA2), the
    fp32 cross-entropy, no Megatron runtime; the global batch defaults to micro batch 1 x dp 8."""
    row = _row({"model": "Llama 3.1 8B", "gpus": 8, "fsdp": True, "seq_len": 8192})
    expected = train("llama-3.1-8b", "h100-sxm", dp=8, zero=3, seq_len=8192, global_batch=8, micro_batch=1,
                     recompute="none", level="analytical", check_memory=False, sp=False, tp_overlap=False,
                     attention="fa2")
    outcome = predict(row, "analytical")
    assert isinstance(outcome, Prediction)
    assert outcome.value == pytest.approx(expected.tokens_per_s_per_device, rel=1e-12)
    step = predict(_row(row.shape, metric="step_time", unit="ms"), "analytical")
    assert isinstance(step, Prediction) and step.value == pytest.approx(expected.step_s * 1e3, rel=1e-12)
    # tokens/s of the whole job: 8 GPUs' worth
    total = predict(_row(row.shape, metric="throughput", unit="tokens/s"), "analytical")
    assert isinstance(total, Prediction)
    assert total.value == pytest.approx(8 * expected.tokens_per_s_per_device, rel=1e-12)


def test_a_megatron_style_row_is_priced_with_megatron_cores_runtime():
    """TP 8 x PP 4 x DP 2 on 64 GPUs, FP8 current scaling: the distributed optimizer (ZeRO-1), sequence parallelism
    and TP overlap, the fused cross-entropy, the LM head in bf16, Megatron's runtime; TFLOP/s per GPU is the
    model's FLOPs per GPU."""
    shape = {"table_model": "LLAMA3_70B", "TP": 8, "PP": 4, "gpus": 64, "micro_batch": 1, "global_batch": 64,
             "seq_len": 8192, "precision": "FP8-CS"}
    expected = train("llama-3.1-70b", "h100-sxm", tp=8, pp=4, dp=2, zero=1, seq_len=8192, global_batch=64,
                     micro_batch=1, dtype="fp8_e4m3", fp8_recipe="tensorwise", recompute="none", level="analytical",
                     check_memory=False, sp=True, tp_overlap=True, cross_entropy="fused", fp8_skip=("lm_head",),
                     **megatron_runtime(4, 1, one_queue=False))
    outcome = predict(_row(shape, metric="model_tflops", unit="TFLOP/s/GPU"), "analytical")
    assert isinstance(outcome, Prediction)
    assert outcome.value == pytest.approx(expected.model_tflops_per_device, rel=1e-12)
    mfu = predict(_row(shape, metric="mfu", unit="%"), "analytical")
    assert isinstance(mfu, Prediction) and mfu.value == pytest.approx(100 * expected.mfu, rel=1e-12)


def test_a_stated_architecture_is_built_from_its_sizes():
    """No preset is named: a gated (Llama-family) model from hidden / layers / heads / kv heads / MLP / vocab, and
    its peak memory per GPU in GiB is the allocator's peak the step gives."""
    from accelscope.workload.model_config import ModelConfig

    shape = {"model": "llama-style 1B", "hidden_size": 2048, "num_layers": 16, "num_attention_heads": 32,
             "num_key_value_heads": 8, "intermediate_size": 8192, "vocab_size": 128256, "gpus": 8, "fsdp": 8,
             "seq_len": 4096, "micro_batch": 2}
    config = ModelConfig(name="llama-style 1B", family="llama", hidden=2048, layers=16, heads=32, kv_heads=8,
                         head_dim=64, intermediate=8192, vocab=128256, mlp="swiglu", norm="rms")
    expected = train(config, "h100-sxm", dp=8, zero=3, seq_len=4096, global_batch=16, micro_batch=2,
                     recompute="none", level="analytical", check_memory=False, sp=False, tp_overlap=False,
                     attention="fa2")
    outcome = predict(_row(shape, metric="peak_memory_per_gpu", unit="GiB", category="memory_footprint"),
                      "analytical")
    assert isinstance(outcome, Prediction)
    assert outcome.value == pytest.approx(expected.memory.peak_allocated / GIB, rel=1e-12)


@pytest.mark.parametrize(("shape", "reason"), [
    ({"model": "Llama 3.1 8B", "seq_len": 8192}, "the GPU count is not stated"),
    ({"model": "Llama 3.1 8B", "gpus": 8}, "the sequence length is not stated"),
    ({"model": "my-model", "gpus": 8, "seq_len": 8192}, "no preset by that name"),
    ({"model": "Llama 3.1 8B", "gpus": 8, "TP": 2, "DP": 8, "seq_len": 8192}, "is not the 8 GPUs stated"),
    ({"model": "Llama 3.1 8B", "gpus": 12, "TP": 8, "seq_len": 8192}, "not divisible by tp x pp x cp"),
    ({"model": "Llama 3.1 8B", "gpus": 8, "seq_len": 8192, "gbs": 12, "mbs": 1}, "not a multiple"),
    ({"model": "Llama 3.1 8B", "gpus": 8, "seq_len": 8192, "activation_checkpointing": "sometimes"},
     "activation recompute 'sometimes' not understood"),
    ({"model": "Llama 3.1 8B", "gpus": "eight", "seq_len": 8192}, "is not a number"),
    ({"model": "Llama 3.1 8B", "gpus": 8, "seq_len": float("inf")}, "is not a whole number"),
])
def test_a_row_that_does_not_say_enough_is_unmapped_with_its_reason(shape, reason):
    outcome = predict(_row(shape), "analytical")
    assert isinstance(outcome, Skip) and reason in outcome.reason, outcome
    assert "generic training table" in outcome.reason


def test_a_metric_it_cannot_read_is_unmapped():
    shape = {"model": "Llama 3.1 8B", "gpus": 8, "seq_len": 8192, "fsdp": True}
    outcome = predict(_row(shape, metric="goodness", unit="points"), "analytical")
    assert isinstance(outcome, Skip) and "training metric 'goodness' in 'points' not understood" in outcome.reason
    with pytest.raises(Unmapped):
        recompute_of({"recompute": "sometimes"})


def test_a_papers_layout_table_in_its_own_column_names():
    """A paper's table spells its columns "GPUs", "Seq. Len.", "Batch size/DP", "Tokens/Batch", "TFLOPs/GPU": read
    as gpus / seq_len / batch per data-parallel rank / tokens per batch. Llama 3.1 405B on 16,384 H100 at TP 8 x CP
    16 x PP 16 leaves DP = 16384 / 2048 = 8; 16 sequences per DP rank = 128 sequences of 131,072 tokens (16M); priced
    as `train` with the Megatron-style defaults (no FSDP named), model TFLOP/s per GPU."""
    shape = {"model": "Llama 3 405B", "GPUs": 16384, "TP": 8, "CP": 16, "PP": 16, "DP": 8, "Seq. Len.": 131072,
             "Batch size/DP": 16, "Tokens/Batch": "16M"}
    lay = layout_of(shape)
    assert (lay["tp"], lay["cp"], lay["pp"], lay["dp"]) == (8, 16, 16, 8)
    assert batch_of(shape, lay["dp"], 131072) == (128, 1)
    expected = train("llama-3.1-405b", "h100-sxm", tp=8, pp=16, cp=16, dp=8, zero=1, seq_len=131072,
                     global_batch=128, micro_batch=1, recompute="none", level="analytical", check_memory=False,
                     sp=True, tp_overlap=True, cross_entropy="fused", **megatron_runtime(16, 1, one_queue=False))
    outcome = predict(_row(shape, metric="TFLOPs/GPU", unit="TFLOP/s/GPU"), "analytical")
    assert isinstance(outcome, Prediction)
    assert outcome.value == pytest.approx(expected.model_tflops_per_device, rel=1e-12)


def test_a_gpt_table_that_gives_only_the_main_sizes():
    """Megatron-LM's GPT tables give hidden size, layers and heads: the MLP is GPT-3's 4 x hidden and the vocabulary
    GPT-2's BPE padded to 51,200; "Model FLOPs utilization" in % is the step's MFU."""
    from accelscope.workload.model_config import ModelConfig

    shape = {"model": "GPT 22B", "hidden_size": 6144, "num_layers": 48, "attention_heads": 64, "TP": 8, "PP": 1,
             "gpus": 64, "global_batch": 64, "seq_len": 2048}
    config = ModelConfig(name="GPT 22B", family="gpt", hidden=6144, layers=48, heads=64, kv_heads=64, head_dim=96,
                         intermediate=4 * 6144, vocab=51200, mlp="gelu", norm="layer", tie_embeddings=True,
                         learned_positions=2048)
    expected = train(config, "h100-sxm", tp=8, dp=8, zero=1, seq_len=2048, global_batch=64, micro_batch=1,
                     recompute="none", level="analytical", check_memory=False, sp=True, tp_overlap=True,
                     cross_entropy="fused", **megatron_runtime(1, 1, one_queue=False))
    outcome = predict(_row(shape, metric="Model FLOPs utilization", unit="%"), "analytical")
    assert isinstance(outcome, Prediction)
    assert outcome.value == pytest.approx(100 * expected.mfu, rel=1e-12)


def test_a_zero_model_size_is_unmapped_not_read_as_the_preset():
    outcome = predict(_row({"model": "Llama 3.1 8B", "hidden": 0, "gpus": 8, "seq_len": 8192, "fsdp": True}),
                      "analytical")
    assert isinstance(outcome, Skip) and "must be positive" in outcome.reason


def test_an_uneven_pipeline_and_mtp_are_read_by_megatrons_names():
    """Megatron Core's layout string and --mtp-num-layers in a row's own words: priced as train() with that split
    (a DeepSeek-V3-shaped layout on Llama-3.1-8B's 32 layers: E + 8 | 8 | 8 | 8 + MTP + loss) and MTP layer; the
    first / last stage counts as their per-stage split (2 | 14 | 14 | 2)."""
    base = {"table_model": "LLAMA3_8B", "PP": 4, "gpus": 8, "micro_batch": 1, "global_batch": 64, "seq_len": 4096}
    kwargs = dict(tp=1, pp=4, dp=2, zero=1, seq_len=4096, global_batch=64, micro_batch=1, recompute="none",
                  level="analytical", check_memory=False, sp=False, tp_overlap=False, cross_entropy="fused",
                  **megatron_runtime(4, 1, one_queue=False))
    laid_out = {**base, "pipeline_model_parallel_layout": "Et*8|t*8|t*8|t*8mL", "mtp_num_layers": 1}
    expected = train("llama-3.1-8b", "h100-sxm", **kwargs, pipeline_split="Et*8|t*8|t*8|t*8mL", mtp_layers=1)
    outcome = predict(_row(laid_out), "analytical")
    assert isinstance(outcome, Prediction)
    assert outcome.value == pytest.approx(expected.tokens_per_s_per_device, rel=1e-12)
    uneven = {**base, "num_layers_in_first_pipeline_stage": 2, "num_layers_in_last_pipeline_stage": 2}
    expected = train("llama-3.1-8b", "h100-sxm", **kwargs, pipeline_split=(2, 14, 14, 2))
    outcome = predict(_row(uneven), "analytical")
    assert isinstance(outcome, Prediction)
    assert outcome.value == pytest.approx(expected.tokens_per_s_per_device, rel=1e-12)
    skip = predict(_row({**base, "num_layers_in_first_pipeline_stage": 3}), "analytical")
    assert isinstance(skip, Skip) and "pipeline split" in skip.reason


def test_megatron_arguments_nested_in_the_row_and_memory_after_a_step():
    """A launcher's arguments nested under `model_args` are read like top-level names; unfused attention, a stated
    dropout and the last rank's memory (what Megatron logs) as train() takes them; memory "after step" is what stays
    allocated between steps (memory.steady), a peak is the allocator's peak."""
    args = {"tensor-model-parallel-size": 1, "pipeline-model-parallel-size": 4, "micro-batch-size": 1,
            "global-batch-size": 64, "seq-length": 4096, "attention-backend": "unfused", "hidden-dropout": 0.1}
    shape = {"gpus": 8, "model": "llama-3.1-8b", "model_args": args}
    expected = train("llama-3.1-8b", "h100-sxm", tp=1, pp=4, dp=2, zero=1, seq_len=4096, global_batch=64,
                     micro_batch=1, recompute="none", level="analytical", check_memory=False, sp=False,
                     tp_overlap=False, cross_entropy="fused", attention="math", hidden_dropout=True,
                     memory_stage=-1, **megatron_runtime(4, 1, one_queue=False))
    steady = predict(_row(shape, metric="allocated bytes after step, last rank", unit="bytes",
                          category="memory_footprint"), "analytical")
    assert isinstance(steady, Prediction) and steady.value == pytest.approx(expected.memory.steady, rel=1e-12)
    peak = predict(_row(shape, metric="peak allocated bytes, last rank", unit="bytes", category="memory_footprint"),
                   "analytical")
    assert isinstance(peak, Prediction) and peak.value == pytest.approx(expected.memory.peak_allocated, rel=1e-12)
