"""Peak allocated bytes of Megatron-LM's MoE-layer benchmark (measure/megatron_moe_memory.py), by hand."""

from __future__ import annotations

import pytest

from accelscope.measure.megatron_moe_memory import (
    HARNESS_PROXIES,
    MoELayerShape,
    backward_peak,
    dispatcher_rows,
    forward_peak,
    moe_layer_peak,
    ranks_per_token,
    shape_from_row,
)

DEEPSEEK, MIXTRAL = HARNESS_PROXIES["deepseek"], HARNESS_PROXIES["mixtral"]


def test_a_token_reaches_fewer_ranks_than_experts():
    """DeepSeek proxy: 8 groups of 4 experts = one group per rank, top-4 groups -> a token's 8 experts among 16
    on 4 ranks: 4 x (1 - C(12,8)/C(16,8)) = 4 x (1 - 495/12870) = 3.846. Mixtral proxy: top-2 of 8 experts, one
    per rank: 8 x (1 - C(7,2)/C(8,2)) = 2 ranks, as many as experts."""
    assert ranks_per_token(MoELayerShape(dispatcher="deepep", **DEEPSEEK)) == pytest.approx(4 * 12375 / 12870)
    assert ranks_per_token(MoELayerShape(dispatcher="deepep", **MIXTRAL)) == pytest.approx(2.0)


def test_deepseek_alltoall_keeps_two_routed_copies_that_deepep_does_not():
    """P = 4096 x 8 = 32,768 routed rows. alltoall: custom_forward keeps the permute and all-to-all outputs
    (2P) and the combine holds two routed copies and the output (2P + T) -> 135,168 rows of 7168 bf16.
    DeepEP: the deduplicated dispatch output R = 4096 x 3.846 = 15,754 rows, the combine's expert output and
    unpermuted rows (P + R) -> 2R + P = 64,276 rows. Difference: 70,892 rows x 14,336 B = 1.016 GB (measured
    MM-003 - MM-009: 0.997 GB)."""
    a2a = MoELayerShape(dispatcher="alltoall", **DEEPSEEK)
    deepep = MoELayerShape(dispatcher="deepep", **DEEPSEEK)
    assert dispatcher_rows(a2a) == (65536, 69632)
    held, combine = dispatcher_rows(deepep)
    assert held + combine == pytest.approx(2 * 4096 * 4 * 12375 / 12870 + 32768)
    assert forward_peak(a2a) - forward_peak(deepep) == pytest.approx((135168 - held - combine) * 14336)


def test_deepseek_alltoall_bf16_peaks_in_the_forward():
    """MM-003. Static: 2 x (2 x 7168 x 2048 x 4 + 7168 x 32 = 117,669,888 params + 3 x 4096 x 7168 input,
    output, backward_grad) + 6 x 32 MiB workspaces = 612,827,136 B. Saved: 2 x 32,768 x (7168 + 3 x 2048) =
    872,415,232. Forward: 135,168 rows x 14,336 + saved = 2,810,183,680. Backward: 4 x 3 x 32,768 x 2048 +
    2 x 32,768 x (7168 + 2 x 2048) + 2 x 7168 x 2048 x 4 = 1,660,944,384. Peak 3,423,010,816 (measured
    3,442,750,464)."""
    m = MoELayerShape(dispatcher="alltoall", **DEEPSEEK)
    assert forward_peak(m) == 2_810_183_680
    assert backward_peak(m) == 1_660_944_384
    assert moe_layer_peak(m) == 3_423_010_816


def test_mixtral_peaks_in_the_probs_multiplys_backward():
    """MM-033 (HybridEP, bf16). Static: 2 x (2 x 4096 x 14336 + 4096 x 8 + 3 x 4096 x 4096) + 6 x 32 MiB =
    536,936,448. Backward: three fp32 8192 x 14336 tensors 1,409,286,144 + bf16 fc1 input and GELU input and
    output 2 x 8192 x (4096 + 2 x 14336) = 536,870,912 + fc2's weight gradient 2 x 4096 x 14336 = 117,440,512
    -> 2,063,597,568, above the forward (HybridEP: 8192 + 4096 rows x 8192 B + saved 771,751,936). Peak
    2,600,534,016 (measured 2,889,559,552: what the other ~0.29 GB is stays open)."""
    m = MoELayerShape(dispatcher="hybridep", **MIXTRAL)
    assert forward_peak(m) == 12288 * 8192 + 771_751_936
    assert moe_layer_peak(m) == 536_936_448 + 2_063_597_568


def test_hybridep_fp8_needs_no_padding_copies():
    """MM-018 (DeepSeek, HybridEP, FP8 blockwise): HybridEP's dispatch pads to the FP8 alignment itself, so
    the forward holds the bf16 expert input beside its FP8 copies, the expert output and the combined rows:
    max(P + T + P, P + P) = 69,632 rows x 14,336 = 998,244,352 + saved 872,415,232 + both GEMMs' FP8 weights
    and transposes 2 x 2 x 7168 x 2048 x 4 = 234,881,024 -> 2,105,540,608; + static 612,827,136 =
    2,718,367,744 (measured 2,651,694,080). DeepEP pads in TEGroupedMLP: two more routed copies."""
    hybrid = MoELayerShape(dispatcher="hybridep", fp8=True, **DEEPSEEK)
    assert forward_peak(hybrid) == 2_105_540_608
    assert moe_layer_peak(hybrid) == 2_718_367_744
    deepep = MoELayerShape(dispatcher="deepep", fp8=True, **DEEPSEEK)
    held, _ = dispatcher_rows(deepep)
    assert forward_peak(deepep) == pytest.approx((held + 4 * 32768) * 14336 + 872_415_232 + 234_881_024)


def test_rows_name_their_dispatcher():
    flex = {"seq_length": 4096, "micro_batch_size": 1, "hidden_size": 4096, "moe_ffn_hidden_size": 14336,
            "num_experts": 8, "router_topk": 2, "EP": 8, "token_dispatcher": "flex", "flex_backend": "hybridep"}
    assert shape_from_row(flex, False).dispatcher == "hybridep"
    assert shape_from_row({**flex, "token_dispatcher": "alltoall", "flex_backend": None}, True).dispatcher == (
        "alltoall")
