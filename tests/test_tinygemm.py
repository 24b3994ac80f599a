"""PyTorch's int4 tinygemm (aten/src/ATen/native/cuda/int4mm.cu) as gpt-fast runs it: grid, iterations, the
instructions of one warp iteration, and a decode GEMV whose loads and instructions add up. Values by hand."""

from __future__ import annotations

import pytest

import accelscope as acs
from accelscope.hardware import load_hardware
from accelscope.llm import infer
from accelscope.measure.gpt_fast import weight_kernel
from accelscope.perf.analytical.tinygemm import (
    blocks,
    issue_seconds,
    iteration_instructions,
    iterations_per_block,
    q_groups_per_iteration,
)
from accelscope.workload import Gemm


def test_grid_and_iterations_follow_the_launch():
    # grid (1, n / 8, ceil(m / 16)): a GEMV pads m = 1 to one 16-row tile; m = 17 takes two
    assert blocks(1, 4096) == 512
    assert blocks(16, 4096) == 512
    assert blocks(17, 4096) == 1024
    # K = 4096: 256 k-tiles of 16, 8 per warp iteration -> 32 iterations a block (4 per warp of 8)
    assert iterations_per_block(4096) == 32
    # K = 11008 (Llama-2-7B w2): 688 k-tiles -> 86 chunks of 8 (80 in full rounds of 64, 6 remainder chunks)
    assert iterations_per_block(11008) == 86


def test_instructions_of_one_warp_iteration_from_the_source():
    # q-groups a 128-wide K span covers: 4 of 32, 2 of 64, 1 of 128 (and 1 of 256)
    assert [q_groups_per_iteration(g) for g in (32, 64, 128, 256)] == [4, 2, 1, 1]
    # 32 A loads + 1 B load + 3 x groups (load, scale and zero broadcast) + 4 words x 15 dequant + 8 MMA
    # + 32 FADD + 8 loop: group 32 -> 32 + 1 + 12 + 60 + 8 + 32 + 8 = 153; group 128 -> 144
    assert iteration_instructions(32) == 153
    assert iteration_instructions(64) == 147
    assert iteration_instructions(128) == 144


def test_issue_time_of_a_decode_gemv_on_a100():
    a100 = load_hardware("a100-sxm-80gb")
    op = Gemm(1, 4096, 4096, "bf16", b_dtype="int4_g32", shared_b=True, kernel="tinygemm")
    # 512 blocks over 108 SMs: the busiest holds 5; 5 x 32 = 160 warp iterations x 153 instructions over 4
    # schedulers = 6120 cycles. Its tensor cores: 160 x 8 MMAs x 4096 FLOPs / (312e12 / (108 x 1.41e9) = 2049
    # FLOPs a clock) = 2559 cycles, fewer. 6120 / 1.41 GHz = 4.340 us.
    assert issue_seconds(op, a100) == pytest.approx(6120 / 1.41e9, rel=1e-9)


def test_tinygemm_adds_its_issue_time_to_its_memory_time():
    a100 = load_hardware("a100-sxm-80gb")
    op = Gemm(1, 4096, 4096, "bf16", b_dtype="int4_g32", shared_b=True, kernel="tinygemm")
    est = acs.estimate(op, a100, level="analytical")
    memory, issue = est.details["memory_seconds"], est.details["issue_seconds"]
    # weights 16.78e6 x 5 bits = 10.49 MB (+ 8 KB of A) at 0.95 x 2.039 TB/s = 5.42 us
    assert memory == pytest.approx(10.5e6 / (0.95 * 2.039e12), rel=0.01)
    # launch + DRAM + issue, no overlap: 2.5 + 5.42 + 4.34 = 12.26 us
    assert est.seconds == pytest.approx(a100.runtime.launch_latency + memory + issue, rel=1e-9)
    assert est.seconds == pytest.approx(12.26e-6, rel=0.01)
    searched = acs.estimate(Gemm(1, 4096, 4096, "bf16", b_dtype="int4_g32", shared_b=True), a100, level="analytical")
    assert est.seconds > searched.seconds  # the searched tile overlaps its dequantization with the stream


def test_tinygemm_only_where_its_cuda_path_runs_int4():
    # on AMD (the ROCm build tiles 16 x 16 on 64-lane wavefronts) and for bf16 weights the tile is searched
    for hw, b_dtype in (("mi300x", "int4_g32"), ("a100-sxm-80gb", "bf16")):
        spec = load_hardware(hw)
        fixed = acs.estimate(Gemm(1, 4096, 4096, "bf16", b_dtype=b_dtype, shared_b=True, kernel="tinygemm"), spec,
                             level="analytical")
        searched = acs.estimate(Gemm(1, 4096, 4096, "bf16", b_dtype=b_dtype, shared_b=True), spec, level="analytical")
        assert fixed.seconds == searched.seconds


def test_gpt_fast_runs_tinygemm_for_int4_only():
    assert weight_kernel("int4_g32") == "tinygemm"
    assert weight_kernel("int4") == "tinygemm"
    assert weight_kernel("int8") is None
    assert weight_kernel(None) is None


def test_infer_passes_the_weight_kernel_to_the_linears():
    # Llama-2-7B int4 g32 decode on A100: the tinygemm step is slower than the searched-tile step (its issue time
    # adds to every linear's stream), and bf16 weights ignore the kernel
    kwargs = dict(batch=1, input_len=5, output_len=200, level="analytical")
    plain = infer("llama-2-7b", "a100-sxm-80gb", weight_dtype="int4_g32", **kwargs)
    tiny = infer("llama-2-7b", "a100-sxm-80gb", weight_dtype="int4_g32", weight_kernel="tinygemm", **kwargs)
    assert tiny.tpot_s > 1.3 * plain.tpot_s
    bf16 = infer("llama-2-7b", "a100-sxm-80gb", **kwargs)
    assert infer("llama-2-7b", "a100-sxm-80gb", weight_kernel="tinygemm", **kwargs).tpot_s == bf16.tpot_s
