"""torchao's MXFP8 cast and scale-rearrangement kernels (TA rows), priced as their sources are written."""

from __future__ import annotations

import pytest

from accelscope.measure.rows_elementwise import _groups, k_groups_rearrange_seconds


def test_k_groups_rearrange_is_a_serial_chain_of_dram_latencies() -> None:
    # scales (2048, 4096), 8 groups on b200: grid = 8 x ceil(2048 / 128) = 128 programs (one wave: 148 SMs x
    # 2048 / 128 threads = 2368 resident); each walks 4096 / 8 / 4 = 128 column blocks, one 800 ns DRAM latency
    # each: 2.5 us launch + 128 x 0.8 us = 104.9 us
    assert k_groups_rearrange_seconds([2048, 4096], 8, "b200") == pytest.approx(104.9e-6, rel=1e-9)
    # 56 row blocks x 8 groups = 448 programs still fit in one wave: the same 104.9 us (TA-062 measures
    # 207.9 us against TA-061's 199.8 us: the time follows the column loop, not the bytes)
    assert k_groups_rearrange_seconds([7168, 4096], 8, "b200") == pytest.approx(104.9e-6, rel=1e-9)


def test_groups_read_from_model_shapes() -> None:
    assert _groups({"model_shapes": "DeepSeekV3 671B: dim 7168, groups 8, block_size 32"}) == 8
    assert _groups({}) == 1
