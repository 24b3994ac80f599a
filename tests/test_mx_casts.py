"""torchao's MXFP8 cast and scale-rearrangement kernels (TA rows), priced as their sources are written."""

from __future__ import annotations

import pytest

from accelscope.measure import MeasuredRow
from accelscope.measure.rows_elementwise import (
    k_groups_rearrange_seconds,
    memory_row,
    per_group_3d_rearrange_seconds,
)
from accelscope.measure.rows_gemm import group_count


def test_k_groups_rearrange_is_a_serial_chain_of_dram_latencies() -> None:
    # scales (2048, 4096), 8 groups on b200: grid = 8 x ceil(2048 / 128) = 128 programs (one wave: 148 SMs x
    # 2048 / 128 threads = 2368 resident); each walks 4096 / 8 / 4 = 128 column blocks, one 800 ns DRAM latency
    # each: 2.5 us launch + 128 x 0.8 us = 104.9 us
    assert k_groups_rearrange_seconds([2048, 4096], 8, "b200") == pytest.approx(104.9e-6, rel=1e-9)
    # 56 row blocks x 8 groups = 448 programs still fit in one wave: the same 104.9 us (TA-062 measures
    # 207.9 us against TA-061's 199.8 us: the time follows the column loop, not the bytes)
    assert k_groups_rearrange_seconds([7168, 4096], 8, "b200") == pytest.approx(104.9e-6, rel=1e-9)


def test_k_groups_kernel_rows_walk_the_largest_random_group() -> None:
    """TA-061/062 come from roofline_unified.py, whose token groups are generate_jagged_offs' random split: the
    longest program walks the largest group's share of the 4096 scale columns, H_8 / 8 = 0.33973 of them:
    ceil(4096 x 0.33973 / 4) = 348 column blocks of one 800 ns DRAM latency: 2.5 us + 348 x 0.8 us = 280.9 us.
    Before it, the wrapper's new_zeros fills the padded output, 2048 x (4096 + 8 x 4) = 8,454,144 B, in a kernel
    of its own (zero_fill_seconds): 2.5 us launch + 8,454,144 B x 1.24 / (0.95 x 8 TB/s) = 1.379 us + the 0.15 us
    L2 write tail = 4.029 us (a fill reads nothing: no first access)."""
    row = MeasuredRow(
        id="TA-061", hardware="NVIDIA B200", category="memory",
        op="MXFP8 MoE kernel triton_mx_block_rearrange_2d_K_groups (Backward (dB))", dtype="bf16 -> mxfp8",
        shape={"input_shape": "(2048, 4096)", "model_shapes": "DeepSeekV3 671B: groups 8, block_size 32"},
        metric="time", value=199.8, unit="us", source="test")
    outcome = memory_row(row, "b200", "analytical")
    assert isinstance(outcome, tuple)
    fill = 2.5e-6 + 8_454_144 * 1.24 / (0.95 * 8e12) + 0.15e-6
    assert outcome[0] == pytest.approx(fill + 2.5e-6 + 348 * 0.8e-6, rel=1e-6)
    assert outcome[1] == "latency"


def test_new_zeros_outputs_cost_a_fill_kernel() -> None:
    """The padded outputs the grouped rearrangements allocate (torchao quant.py / mxfp8_extension.cpp): groups along
    M pad each group by a 128-row block, (131072 + 8 x 128) x 64 = 8,454,144 B for TA-056's (131072, 64) scales;
    groups along K by a 4-column block, 2048 x (4096 + 32) for TA-061's (2048, 4096). The CUDA M-groups op fills it
    with new_zeros (4.029 us on b200, as above); the per-group 3D op allocates new_empty: no fill."""
    from accelscope.measure.rows_elementwise import padded_scale_elements, zero_fill_seconds

    assert padded_scale_elements("2d_m_groups_cuda", [131072, 64], 8) == 132096 * 64
    assert padded_scale_elements("2d_k_groups", [2048, 4096], 8) == 2048 * 4128
    fill = 2.5e-6 + 8_454_144 * 1.24 / (0.95 * 8e12) + 0.15e-6
    assert zero_fill_seconds("2d_m_groups_cuda", [131072, 64], 8, "b200", "analytical") == pytest.approx(fill, rel=1e-6)
    assert zero_fill_seconds("per_group_3d", [8, 7168, 64], 8, "b200", "analytical") == 0.0


def test_groups_read_from_model_shapes() -> None:
    assert group_count({"model_shapes": "DeepSeekV3 671B: dim 7168, groups 8, block_size 32"}) == 8
    assert group_count({}) == 1


def test_per_group_3d_rearrange_runs_in_waves_of_one_tile_programs() -> None:
    # scales (8, 2048, 224) on b200: grid 8 x 16 x 56 = 7168 one-tile programs; 2368 resident -> 4 waves of one
    # 800 ns load each: 2.5 us + 4 x 0.8 us = 5.7 us
    assert per_group_3d_rearrange_seconds([8, 2048, 224], "b200") == pytest.approx(5.7e-6, rel=1e-9)
    # (8, 7168, 64): 8 x 56 x 16 = the same 7168 programs and 5.7 us (TA-057 measures 12.9 us vs TA-052's 13.3)
    assert per_group_3d_rearrange_seconds([8, 7168, 64], "b200") == pytest.approx(5.7e-6, rel=1e-9)


def test_mxfp8_cast_is_one_kernel_priced_alike_at_both_levels() -> None:
    # TA-025's shape: a 16384 x 16384 bf16 cast to MXFP8 on b200, one kernel (workload Quantize): it reads
    # 16384^2 x 2 B = 536,870,912 B at 8 TB/s x 0.95 = 7.6 TB/s -> 70.641 us and writes the codes and scales,
    # 16384^2 x (1 + 1/32) B = 276,824,064 B x write cost 1.24 / 7.6 TB/s -> 45.166 us; plus the 2.5 us launch,
    # one 800 ns first DRAM access and one 150 ns write tail (L2 latency): 119.257 us. The sim runs the same
    # stream (its loads reach DRAM one latency after they leave the core), so both levels give it.
    row = MeasuredRow(id="TA-999", hardware="NVIDIA B200", category="memory",
                      op="MXFP8 quantization cast dim0_mxfp8_floor", dtype="bf16",
                      shape={"M": 16384, "K": 16384, "mode": "dim0_mxfp8_floor"}, metric="time", value=125.92,
                      unit="us", source="github.com/pytorch/ao")
    expected = 2.5e-6 + 0.8e-6 + 536_870_912 / 7.6e12 + 276_824_064 * 1.24 / 7.6e12 + 0.15e-6
    for level in ("analytical", "sim"):
        result = memory_row(row, "b200", level)
        assert isinstance(result, tuple)
        assert result[0] == pytest.approx(expected, rel=1e-3), level
        assert result[1] == "memory"
