"""Training and memory rows of the published sources: how each source's configuration is read (by hand)."""

from __future__ import annotations

import pytest

from accelscope.measure.dataset import DATA_DIR, MeasuredRow
from accelscope.measure.predict import Prediction, Skip, predict
from accelscope.measure.training_rows import FIT_CHECKS, _moe_layout, megatron_config

MEGATRON_PROXY = {"num-layers": 12, "hidden-size": 512, "num-attention-heads": 8, "seq-length": 1024,
                  "max-position-embeddings": 1024, "micro-batch-size": 4, "global-batch-size": 32}


def _row(**fields) -> MeasuredRow:
    base = dict(id="MT-9999", hardware="NVIDIA H100 SXM5 80GB", category="memory_footprint", op="", dtype="bf16",
                shape={}, metric="peak_allocated_bytes", value=1.0, unit="bytes")
    return MeasuredRow(**{**base, **fields})


def test_megatron_defaults():
    """Megatron-LM's defaults where an argument is absent: GPT-2 BPE vocabulary (50,257) padded to a multiple of
    128 x tp (50,304 at tp 1, 50,432 = 197 x 256 at tp 2), GELU MLP of 4h, LayerNorm, tied embeddings,
    learned absolute positions of max-position-embeddings rows; SwiGLU's default width int(8h/3 / 64) x 64."""
    one = megatron_config(MEGATRON_PROXY, 1, "proxy")
    assert (one.vocab, one.intermediate, one.mlp, one.norm, one.tie_embeddings, one.learned_positions) == (
        50304, 2048, "gelu", "layer", True, 1024)
    assert megatron_config(MEGATRON_PROXY, 2, "proxy").vocab == 50432
    swiglu = megatron_config({**MEGATRON_PROXY, "swiglu": True, "position-embedding-type": "rope"}, 1, "p")
    assert (swiglu.intermediate, swiglu.mlp, swiglu.learned_positions) == (1344, "swiglu", 0)  # 1365.3 -> 21 x 64


def test_moe_layer_frequency_patterns():
    assert _moe_layout(1) == (0, 1)
    assert _moe_layout("([0]*3+[1]*5)") == (3, 1)  # three dense layers first, then MoE in every layer


def test_megatron_memory_row_is_the_last_stage_allocator_bytes():
    """tp1 pp1 dist-opt proxy on 8 GPUs, peak allocated bytes of the last rank: no runtime reserve (Megatron-LM's
    figures are PyTorch allocator bytes), and the run fits."""
    args = {**MEGATRON_PROXY, "use-distributed-optimizer": True, "attention-dropout": 0.0, "hidden-dropout": 0.0}
    shape = {"gpus": 8, "TP": 1, "PP": 1, "CP": 1, "EP": 1, "test_case": "proxy", "model_args": args}
    peak = predict(_row(shape=shape), "roofline")
    steady = predict(_row(shape=shape, metric="allocated_bytes_after_step"), "roofline")
    assert isinstance(peak, Prediction) and isinstance(steady, Prediction)
    # steady: 2 B bf16 weights + 4 B fp32 grads + 12 B / 8 ranks optimizer per parameter, plus 64 MiB of cuBLAS
    # workspaces; peak adds activations and the logits (6 B x 4096 tokens x 50,304)
    assert peak.value - steady.value > 6 * 4096 * 50304
    need, capacity = FIT_CHECKS["MT-9999"]
    assert need < capacity


def test_rows_without_a_public_gpu_count_are_skipped_with_the_reason():
    shape = {"gpus": None, "TP": 8, "PP": 1, "CP": 1, "EP": 1, "test_case": "release", "model_args": MEGATRON_PROXY}
    out = predict(_row(shape=shape), "roofline")
    assert isinstance(out, Skip) and "GPU count not public" in out.reason


@pytest.mark.parametrize("file", ["llm_foundry_mpt.csv", "megatron_moe_layer_perf.csv", "torchao_docs.csv"])
def test_each_source_maps_its_first_training_rows(file):
    from accelscope.measure.dataset import load_rows

    rows = [r for r in load_rows(DATA_DIR / "more" / file) if r.category in ("llm_training", "memory_footprint")]
    mapped = [predict(r, "roofline") for r in rows[:4]]
    assert all(isinstance(m, Prediction) and m.value > 0 for m in mapped)
