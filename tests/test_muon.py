"""Muon as Megatron Core runs it (llm/muon.py): its tensors, their states, the layer-wise optimizer's deal, the
Newton-Schulz work. Values derived by hand in the docstrings."""

from __future__ import annotations

import pytest

from accelscope import llm
from accelscope.llm.muon import (
    ParamTensor,
    newton_schulz_flops,
    newton_schulz_gemms,
    ping_pong_owners,
    stage_tensors,
    state_bytes,
)
from accelscope.workload.llm_graph import Parallelism
from accelscope.workload.model_config import ModelConfig, MoE, load_model

# Megatron's CI MoE proxy (gpt3_moe_mcore_te_ep8_resume_torch_dist_*muon): 12 layers of h 512, 8 heads, LayerNorm,
# GELU experts of 1024 (8, top-2) in every layer, no linear biases, learned positions of 1024, tied embeddings, the
# GPT-2 vocabulary padded to 50,304
PROXY = ModelConfig(name="moe-proxy", family="gpt", hidden=512, layers=12, heads=8, kv_heads=8, head_dim=64,
                    intermediate=2048, vocab=50304, mlp="gelu", norm="layer", tie_embeddings=True, qkv_bias=False,
                    moe=MoE(experts=8, top_k=2, intermediate=1024), learned_positions=1024)


def test_ping_pong_deal_matches_megatrons_example():
    """layer_wise_optimizer.py `_shard_params_ping_pong`: 4 ranks, 10 params p0..p9 (sorted by size) ->
    [[p0, p7, p8], [p1, p6, p9], [p2, p5], [p3, p4]]."""
    tensors = tuple(ParamTensor(1, n, float(n), muon=True) for n in range(1, 11))
    assert ping_pong_owners(tensors, 4) == [0, 1, 2, 3, 3, 2, 1, 0, 0, 1]


def test_proxy_tensors_and_states_by_hand():
    """EP 8 on 8 GPUs (one local expert). Dense tensors, 88: the embedding 50,304 x 512 = 25,755,648 and positions
    524,288 (Adam, 12 B); per layer LayerNorm weight and bias twice (4 x 512, Adam), QKV 1536 x 512 = 786,432, proj
    262,144 and router 8 x 512 = 4,096 (Muon, 8 B); the final LayerNorm (2 x 512, Adam). Experts, 24: fc1 and fc2,
    524,288 each (Muon). Replicated states: dense Muon 12 x 1,052,672 x 8 = 101,056,512; Adam 12 x 4 x 512 x 12 +
    1,024 x 12 + (25,755,648 + 524,288) x 12 = 294,912 + 12,288 + 315,359,232; experts 24 x 524,288 x 8 =
    100,663,296 -> 517,386,240 B.
    Ping-pong (16-step loop over 8 ranks): sorted, the 50 norm vectors are 0..49, routers 50..61, projs 62..73, the
    positions 74, QKVs 75..86, the embedding 87; rank 7 takes k mod 16 in {7, 8}: six norm vectors (36,864 B), two
    routers (65,536), two projs (4,194,304) and the embedding (309,067,776), plus every expert (expert DP 1):
    414,027,776 B. Balanced: dense / 8 + experts / 1 = 52,090,368 + 100,663,296 = 152,753,664 B."""
    par = Parallelism(tp=1, pp=1, dp=8, ep=8)
    tensors = stage_tensors(PROXY, par, 0, 1)
    assert sum(not t.expert for t in tensors) == 88 and sum(t.expert for t in tensors) == 24
    groups = (8, 1)
    assert state_bytes(tensors, groups, "replicated") == 517_386_240
    assert state_bytes(tensors, groups, "ping_pong", last_rank=True) == 414_027_776
    assert state_bytes(tensors, groups, "balanced") == pytest.approx(152_753_664)
    # on 4 GPUs (EP 4, two local experts) the embedding lands on rank 0: k = 87, 87 mod 8 = 7 -> loop [0..3, 3..0][7]
    four = stage_tensors(PROXY, Parallelism(tp=1, pp=1, dp=4, ep=4), 0, 1)
    assert state_bytes(four, (4, 1), "ping_pong", last_rank=True) < state_bytes(four, (4, 1), "ping_pong")


def test_newton_schulz_gemms_by_hand():
    """Llama-3.1-8B's down projection, 4096 x 14336: the Gram on the short side m = 4096, n = 14336; per step X Xᵀ
    (2 m^2 n), A A (2 m^3), B X (2 m^2 n) = 4 x 4096^2 x 14336 + 2 x 4096^3 = 2^40 FLOPs; 5 steps: 5 x 2^40."""
    down = ParamTensor(4096, 14336, 4096 * 14336, muon=True)
    assert newton_schulz_gemms(down)[:3] == [(4096, 4096, 14336), (4096, 4096, 4096), (4096, 14336, 4096)]
    assert newton_schulz_flops(down) == 5 * 2**40
    assert newton_schulz_flops(ParamTensor(1, 4096, 4096.0, muon=False)) == 0.0


def test_muon_memory_and_step_in_train():
    """Llama-3.1-8B on 8 H100 (dp 8). Muon keeps 8 B per hidden-matrix element (fp32 master + momentum) and Adam's
    12 B for the embedding and LM head, so its replicated state is below Adam's 12 B everywhere; zero=1 divides it
    by the 8 replicas. Newton-Schulz runs on every matrix on every replica under zero=0, 1/8 of them under zero=1:
    the step's optimizer time falls about 8x, and stays above the roofline of its FLOPs."""
    common = dict(dp=8, seq_len=4096, global_batch=64, level="analytical", check_memory=False)
    adam = llm.train("llama-3.1-8b", "h100-sxm", zero=0, **common)
    muon0 = llm.train("llama-3.1-8b", "h100-sxm", zero=0, optimizer="muon", **common)
    muon1 = llm.train("llama-3.1-8b", "h100-sxm", zero=1, optimizer="muon", **common)
    assert muon0.memory.optimizer < adam.memory.optimizer
    assert muon1.memory.optimizer == pytest.approx(muon0.memory.optimizer / 8, rel=1e-3)
    assert muon1.breakdown["optimizer"] == pytest.approx(muon0.breakdown["optimizer"] / 8, rel=0.05)
    matrices = [t for t in stage_tensors(load_model("llama-3.1-8b"), Parallelism(tp=1, pp=1, dp=8), 0, 1) if t.muon]
    flops = sum(newton_schulz_flops(t) for t in matrices)
    assert muon0.breakdown["optimizer"] > flops / 989e12  # H100 dense bf16 peak, 989 TFLOP/s


def test_muon_refuses_fsdp_and_unknown_sharding():
    with pytest.raises(ValueError, match=r"zero=0 .* or\s+zero=1"):
        llm.train("llama-3.1-8b", "h100-sxm", dp=8, zero=3, optimizer="muon", check_memory=False)
    with pytest.raises(ValueError, match="muon_sharding: expected one of balanced, ping_pong"):
        llm.train("llama-3.1-8b", "h100-sxm", dp=8, zero=1, optimizer="muon", muon_sharding="lpt")
