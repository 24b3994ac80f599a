"""Analytical level: mapping search, wave quantization, FlashAttention variants, streaming ops, collectives."""

import dataclasses
import math

import numpy as np
import pytest

import accelscope as acs
from accelscope.perf.analytical import gemm_mapping
from accelscope.workload import Attention, Collective, Elementwise, Gemm, GroupedGemm, Norm, Softmax


@pytest.fixture(scope="module")
def h100():
    return acs.load_hardware("h100-sxm")


def test_gemm_mapping_fits_sram_and_counts_waves(h100):
    est = acs.estimate(Gemm(8192, 8192, 8192), h100, level="analytical")
    m = est.details["mapping"]
    smem = h100.memory["smem"].capacity
    assert m["stages"] * (m["block_m"] + m["block_n"]) * m["block_k"] * 2 <= smem
    tiles = math.ceil(8192 / m["block_m"]) * math.ceil(8192 / m["block_n"]) * m["split_k"]
    assert m["tiles"] == tiles and m["waves"] == math.ceil(tiles / 132)


def test_wave_quantization_makes_one_extra_tile_cost_a_wave(h100):
    # 132 tiles of 128x256 fill one wave exactly; 133 tiles need two waves
    one = gemm_mapping(128 * 12, 256 * 11, 4096, 1, 2, 2, 2, 989.4e12, h100)
    assert one.tiles >= 132
    base = acs.estimate(Gemm(128 * 12, 256 * 11, 8192), h100, level="analytical").seconds
    more = acs.estimate(Gemm(128 * 12 + 1, 256 * 11, 8192), h100, level="analytical").seconds
    assert more > base * 1.02  # a sliver of extra M costs far more than its FLOPs


def test_stream_k_removes_the_tail_wave(h100):
    # 1024 x 9216 in 64x256 tiles = 576 tiles = 4.36 waves over 132 SMs: data-parallel pays 5 full waves
    shape = dict(m=1024, n=9216, k=14336, dtype="fp8_e4m3")
    dp = acs.estimate(Gemm(**shape), h100, level="analytical")
    sk = acs.estimate(Gemm(**shape, schedule="stream-k"), h100, level="analytical")
    m = sk.details["mapping"]
    assert dp.details["mapping"]["schedule"] == "data-parallel" and m["schedule"] == "stream-k"
    # stream-K picks 128x256 tiles in clusters of 2 (all 132 SMs, compute.cluster_cores): 8 x 36 = 288 tiles =
    # 2.18 waves, 3 data-parallel. K = 14336 in slabs of 64: 224 iterations a tile; each of the 132 CTAs computes
    # ceil(288 x 224 / 132) = ceil(488.73) = 489 iterations = 489 / 224 = 2.1830 tiles' worth. One tile's MMAs:
    # 2 x 128 x 256 x 14336 = 939,524,096 FLOP at 1978.9 TFLOP/s x 0.70 / 132 SMs = 10.494 TFLOP/s per SM
    # = 89.53 us; 2.1830 x 89.53 us = 195.44 us (3 x 89.53 = 268.6 us in whole waves)
    tiling = (m["block_m"], m["block_n"], m["block_k"], m["cluster"], m["tiles"], m["waves"])
    assert tiling == (128, 256, 64, 2, 288, 3)
    assert m["tile_seconds"] == pytest.approx(89.53e-6, rel=1e-4)
    assert m["mma_seconds"] == pytest.approx(195.44e-6, rel=1e-4)
    assert m["compute_seconds"] >= 195.44e-6  # plus prologue and the partial-tile fixup
    assert sk.seconds < dp.seconds * 0.95
    # an exact number of waves leaves nothing for stream-K to balance: same time either way
    full = dict(m=128 * 12, n=256 * 11, k=8192)
    assert acs.estimate(Gemm(**full, schedule="stream-k"), h100, level="analytical").seconds == pytest.approx(
        acs.estimate(Gemm(**full), h100, level="analytical").seconds, rel=1e-3)
    with pytest.raises(ValueError, match=r"Gemm\.schedule"):
        Gemm(**shape, schedule="persistent")


def test_sram_traffic_per_tile_by_how_the_matrix_unit_reads_its_operands():
    from accelscope.perf.analytical.gemm import _smem_bytes

    def per_k(bm, bn, instr, asynchronous, b_share=1.0):  # bytes through one core's SRAM per unit of K, fp16
        return float(_smem_bytes(np.array([bm]), np.array([bn]), np.array([1.0]), 2, 2, instr, asynchronous,
                                 b_share)[0])

    # A100 mma.sync, 64x64 tile = 2x2 warps of 32x32: written (64 + 64) x 2 B; read A and B twice each
    assert per_k(64, 64, (16, 8, 16), False) == (64 + 64) * 2 + (64 * 2 * 2 + 64 * 2 * 2)  # 768 B
    # 128x256 = 8 warps, 2x4 of 64x64: A read once per warp column (4), B once per warp row (2)
    assert per_k(128, 256, (16, 8, 16), False) == (128 + 256) * 2 + (128 * 2 * 4 + 256 * 2 * 2)  # 2816 B
    # H100 wgmma, 128x256 = two warpgroups of 64 rows: A read once, B once per warpgroup
    assert per_k(128, 256, (64, 256, 16), True) == (128 + 256) * 2 + (128 * 2 + 2 * 256 * 2)  # 1792 B
    # B200 tcgen05 over a CTA pair: each core's SRAM holds and serves half of B
    assert per_k(128, 256, (128, 256, 16), True, 0.5) == (128 + 128) * 2 + (128 * 2 + 128 * 2)  # 1024 B


def test_small_tiles_are_bound_by_sram_bandwidth_on_a_synchronous_chip():
    a100 = acs.load_hardware("a100-sxm-80gb")
    # a 64x64 tile: 768 B per K through SRAM (above) for 2*64*64 = 8192 FLOP per K. An A100 SM does
    # 312e12 / 108 / 1.41e9 = 2048 FLOP and moves 128 B per clock: 4 clocks of MMA need 6 of SRAM
    m = gemm_mapping(4096, 4096, 4096, 1, 2, 2, 2, 312e12, a100)
    assert m.block_m * m.block_n >= 128 * 128  # so the search takes a bigger tile, where the MMAs bind
    assert m.sram_seconds <= m.mma_seconds and m.bound == "matrix"
    small = acs.estimate(Gemm(1024, 1024, 1024, dtype="fp16"), a100, level="analytical")
    fast_sram = acs.estimate(Gemm(1024, 1024, 1024, dtype="fp16"), a100.with_overrides(
        {"memory.smem.bandwidth": 2 * a100.memory["smem"].bandwidth}), level="analytical")
    assert fast_sram.seconds < small.seconds  # a small GEMM's best tile is held back by SRAM
    assert small.details["mapping"]["sram_seconds"] > small.details["mapping"]["mma_seconds"]
    # a systolic array is fed by its shift registers, not per warp tile: no SRAM roof there
    systolic = acs.estimate(Gemm(8192, 8192, 8192), acs.load_hardware("systolic-128"), level="analytical")
    assert systolic.details["mapping"]["sram_seconds"] == 0.0


def test_small_m_gemm_is_bound_by_reading_the_weights(h100):
    est = acs.estimate(Gemm(16, 22016, 4096, "fp16", shared_b=True), h100, level="analytical")
    weights = 22016 * 4096 * 2  # 180 MB of fp16 weights at 3.35 TB/s = 53.8 us
    assert est.bound == "memory"
    assert est.seconds >= weights / 3.35e12


def test_split_k_is_chosen_when_tiles_cannot_fill_the_chip(h100):
    est = acs.estimate(Gemm(256, 256, 65536), h100, level="analytical")
    assert est.details["mapping"]["split_k"] > 1


def test_grouped_gemm_with_uneven_groups_costs_more_than_even(h100):
    even = GroupedGemm(groups=8, n=4096, k=4096, m_per_group=(512,) * 8)
    skew = GroupedGemm(groups=8, n=4096, k=4096, m_per_group=(2048, 512, 512, 512, 256, 128, 64, 64))
    assert sum(skew.rows) == sum(even.rows)
    assert acs.estimate(skew, h100, level="analytical").seconds > acs.estimate(even, h100, level="analytical").seconds


def test_fa3_overlaps_softmax_and_fa2_does_not(h100):
    hopper = h100.with_overrides({"matrix.async_overlap": True})
    op = dict(batch=4, heads=32, head_dim=128, q_len=4096, kv_len=4096)
    fa2 = acs.estimate(Attention(**op, variant="fa2"), hopper, level="analytical")
    fa3 = acs.estimate(Attention(**op, variant="fa3"), hopper, level="analytical")
    assert fa3.seconds < fa2.seconds
    assert fa3.details["variant"] == "fa3"
    # By hand, per score on one H100 SM (4096 dense bf16 FLOP/clk, matrix efficiency 0.83, 16 exp2/clk, 128 FP32
    # FMA lanes beside 64 ALU lanes), d = 128, softmax FMA slots 2 + the O rescale (Dv / Bc), ALU slots 1.5:
    #   FA2 (mma.sync at 2/3 of the peak, 128 x 64 blocks, softmax after the MMAs): 2*2*128 / (4096 * 2/3 * 0.83)
    #       + 1/16 (MUFU) + max((2 + 128/64)/128, 1.5/64) = 0.2259 + 0.0625 + 0.0313 = 0.3197 clk
    #   FA3 (wgmma, 176-key blocks, softmax beside the other warpgroup's MMAs): max(2*2*128 / (4096 * 0.83),
    #       1/16 + max(2.727/128, 1.5/64)) + PINGPONG_LOSS 0.2 x the shorter = 0.1506 + 0.2 x 0.0859 = 0.1678 clk
    # ratio 1.91; FA3 paper: FA2 ~35 % of the H100 peak, FA3 60-75 %
    per_score = [e.details["pair_seconds"] / (128 * e.details["kv_block"]) for e in (fa2, fa3)]
    assert per_score[0] / per_score[1] == pytest.approx(0.3197 / 0.1678, rel=0.01)
    assert 1.6 < fa2.seconds / fa3.seconds < 2.3
    with pytest.raises(ValueError, match="async_overlap"):
        acs.estimate(Attention(**op, variant="fa3"), h100.with_overrides({"matrix.async_overlap": False}),
                     level="analytical")


def test_masked_mha_rereads_a_gqa_groups_kv_from_l2(h100):
    """TensorRT-LLM <= 0.7 decode (variant="mmha"): one block per query head, so Llama-2-70B's 8 q heads per KV
    head read the same K/V 8 times; the first from HBM, the other 7 from L2 (6.65 TB/s on H100). The kernel's
    scalar instructions per score then take longer than those L2 reads (T6-008's shape: batch 480, TP4)."""
    op = dict(batch=480, heads=16, kv_heads=2, head_dim=128, q_len=1, kv_len=1152, kv_dtype="fp8_e4m3")
    mmha = acs.estimate(Attention(**op, variant="mmha"), h100, level="analytical")
    kv_bytes = 480 * 2 * 1152 * (128 + 128) * 1  # 283 MB of fp8 K and V
    l2 = 8 * kv_bytes / 6.65e12  # 340.6 us, against 283 MB / 3.35 TB/s = 85 us from HBM once
    assert mmha.details["group_rereads"] == 8 and mmha.details["l2_seconds"] == pytest.approx(l2, rel=1e-9)
    # 480*16*1152 = 8,847,360 scores x 1,504 thread instructions (fp8 cache, head_dim 128) over 132 SMs x 128
    # threads per clock x 1.83 GHz = 430.4 us: the instruction issue, not the L2 traffic, bounds the kernel
    issue = 480 * 16 * 1152 * 1504 / (132 * 128 * 1.83e9)
    assert mmha.details["issue_seconds"] == pytest.approx(issue, rel=1e-9) and mmha.bound == "vector"
    assert mmha.seconds == pytest.approx(600e-9 + issue + 2.5e-6, rel=1e-9)
    # dot products, softmax and the fp8 -> fp32 conversion as FLOPs on the vector unit: 2*256 + 4 + 256 FLOPs
    # per score x 480*16*1152 scores / 66.9 TFLOP/s = 102 us, under both
    assert mmha.breakdown["vector"] == pytest.approx(issue, rel=1e-9)
    flash = acs.estimate(Attention(**op), h100, level="analytical")
    assert flash.seconds < mmha.seconds / 3  # XQA-style sharing of the group's loads (TRT-LLM v0.8)
    with pytest.raises(ValueError, match="decode kernel"):
        Attention(batch=1, heads=8, head_dim=128, q_len=16, kv_len=64, variant="mmha")


def test_masked_mha_instructions_per_score():
    """Thread instructions per score of TensorRT-LLM v0.6's masked MHA: 16 threads (head_dim 128 x 2 B / 16 B) of
    8 elements per key and per value. Per key thread 8 x 2 (fp32 conversion + FFMA) + 28, per value thread
    8 x 2 + 18; an fp8 cache adds 1 per element (its unpack): 16 x (44 + 34) = 1,248 and 16 x (52 + 42) = 1,504.
    head_dim 64: 8 threads, 8 x (44 + 34) = 624."""
    from accelscope.perf.analytical.attention import masked_mha_instructions

    fp16 = Attention(batch=1, heads=8, head_dim=128, q_len=1, kv_len=64, dtype="fp16", variant="mmha")
    assert masked_mha_instructions(fp16) == 1248
    assert masked_mha_instructions(dataclasses.replace(fp16, kv_dtype="fp8_e4m3")) == 1504
    assert masked_mha_instructions(dataclasses.replace(fp16, head_dim=64)) == 624


def test_masked_mha_without_a_group_stays_dram_bound(h100):
    """Llama-2-7B (MHA, no KV sharing) at T6-004's batch 112 and mean context 1152: every score reads its own
    K/V from HBM, 112*32*1152*256 B = 1.06 GB at the HBM rate, while its instructions take
    112*32*1152*1504 / (132*128*1.83e9) = 200.6 us: the memory bound stays. Off NVIDIA no issue term is priced."""
    op = Attention(batch=112, heads=32, kv_heads=32, head_dim=128, q_len=1, kv_len=1152, kv_dtype="fp8_e4m3",
                   variant="mmha")
    mmha = acs.estimate(op, h100, level="analytical")
    assert mmha.details["issue_seconds"] == pytest.approx(112 * 32 * 1152 * 1504 / (132 * 128 * 1.83e9), rel=1e-9)
    assert mmha.bound == "memory" and mmha.details["dram_seconds"] > 1.5 * mmha.details["issue_seconds"]
    assert acs.estimate(op, acs.load_hardware("mi300x"), level="analytical").details["issue_seconds"] == 0.0


def test_causal_skips_about_half_the_blocks(h100):
    shape = dict(batch=1, heads=32, head_dim=128, q_len=8192, kv_len=8192, variant="fa2")  # FA2 hd128: 128 x 64
    full = acs.estimate(Attention(**shape), h100, level="analytical")
    causal = acs.estimate(Attention(**shape, causal=True), h100, level="analytical")
    # 64 q blocks of 128 rows, 128 key blocks of 64: query block i visits 2 (i + 1) key blocks, 2 x 2080 of 8192
    assert causal.details["block_pairs"] == 32 * 4160
    # time roughly halves; the per-unit tile loads (same number of units) do not
    assert 4160 / 8192 < causal.seconds / full.seconds < 0.62


def test_decode_attention_splits_kv_and_reads_the_cache(h100):
    est = acs.estimate(Attention(batch=1, heads=64, kv_heads=8, head_dim=128, q_len=1, kv_len=32768), h100,
                       level="analytical")
    assert est.details["split_kv"] > 1
    assert est.bound == "memory"


def test_decode_attention_packs_the_query_heads_of_a_gqa_group(h100):
    # FlashDecoding / FA3 pack_gqa: the 8 query heads of each KV head share one unit (8 rows) and its KV loads
    est = acs.estimate(Attention(batch=4, heads=64, kv_heads=8, head_dim=128, q_len=1, kv_len=4096), h100,
                       level="analytical")
    assert est.details["gqa_packed"] and est.details["units"] == 4 * 8 * est.details["split_kv"]
    long_prefill = acs.estimate(Attention(batch=1, heads=64, kv_heads=8, head_dim=128, q_len=1024, kv_len=1024),
                                h100, level="analytical")
    assert not long_prefill.details["gqa_packed"]  # 8 heads x 1024 rows do not fit one 128-row block


def test_an_fp8_kv_cache_is_converted_as_it_is_loaded_on_a_synchronous_chip():
    a100, h100 = acs.load_hardware("a100-sxm-80gb"), acs.load_hardware("h100-sxm")
    shape = dict(batch=4, heads=32, head_dim=128, q_len=4096, kv_len=4096, causal=True, dtype="bf16")
    plain = acs.estimate(Attention(**shape), a100, level="analytical")
    fp8 = acs.estimate(Attention(**shape, kv_dtype="fp8_e4m3"), a100, level="analytical")
    assert fp8.details["kv_conversion"] == "K and V (fp8_e4m3) converted to bf16 on load"
    # FA2 (no overlap): every block pair converts its 64-key K and V blocks (hd128: 128 x 64 blocks), 64 x (128 + 128)
    # elements at 1.5 lane slots (bf16 on A100) = 3 FLOPs each, at 19.5 TFLOP/s / 108 SMs per SM: +0.272 us a pair
    extra = 64 * 256 * 3 / (19.5e12 / 108)
    assert fp8.details["pair_seconds"] - plain.details["pair_seconds"] == pytest.approx(extra, rel=1e-9)
    # FA3 on H100 converts under the asynchronous QK^T / PV MMAs: the block-pair time does not move
    hopper = [acs.estimate(Attention(**shape, kv_dtype=kv), h100, level="analytical") for kv in (None, "fp8_e4m3")]
    # (only the ping-pong handoff share, PINGPONG_LOSS x the softmax stream, moves with it)
    assert hopper[1].details["pair_seconds"] == pytest.approx(hopper[0].details["pair_seconds"], rel=0.05)
    # decode is memory-bound: half the KV bytes, half the time, at both levels
    decode = dict(batch=64, heads=32, kv_heads=8, head_dim=128, q_len=1, kv_len=8192, dtype="bf16")
    for level in ("analytical", "sim"):
        bf16, f8 = (acs.estimate(Attention(**decode, kv_dtype=kv), a100, level=level) for kv in (None, "fp8_e4m3"))
        assert f8.bound == "memory" and f8.seconds / bf16.seconds == pytest.approx(0.5, abs=0.03)


def test_streaming_op_is_latency_plus_bandwidth(h100):
    est = acs.estimate(Elementwise("copy", 1 << 28, "fp16"), h100, level="analytical")
    nbytes = (1 << 28) * 2  # read, and as much written, fp16
    # DRAM latency + (read + written x write cost 1.24) / (bandwidth x DRAM efficiency 0.95) + the last stores'
    # 260 ns to L2 + launch
    expected = 600e-9 + (nbytes + 1.24 * nbytes) / (3.35e12 * 0.95) + 260e-9 + 2.5e-6
    assert est.seconds == pytest.approx(expected, rel=1e-6)


def test_a_write_costs_more_than_a_read_on_dram_only(h100):
    """Bus turnaround: writing N bytes takes DRAM_WRITE_COST x as long as reading them; on-chip levels don't pay."""
    from accelscope.hardware.spec import DRAM_WRITE_COST
    hbm = h100.main_memory
    assert hbm.transfer_seconds(0, 1e9) == pytest.approx(DRAM_WRITE_COST * hbm.transfer_seconds(1e9, 0))
    assert h100.memory["l2"].write_cost == 1.0
    explicit = h100.with_overrides({"memory.hbm.efficiency": 0.5})  # a spec's own value wins over the default
    assert explicit.main_memory.efficiency == 0.5 and explicit.main_memory.write_cost == DRAM_WRITE_COST


def test_matrix_efficiency_by_operand_width_and_spec_override(h100):
    """No measured value in the spec: 16-bit paths sustain MATRIX_EFFICIENCY_WIDE, 8-bit ones _NARROW."""
    from accelscope.hardware.spec import MATRIX_EFFICIENCY_NARROW, MATRIX_EFFICIENCY_WIDE
    assert h100.matrix_efficiency("bf16") == MATRIX_EFFICIENCY_WIDE
    assert h100.matrix_efficiency("fp8_e4m3") == MATRIX_EFFICIENCY_NARROW
    measured = h100.with_overrides({"matrix.efficiency": {"bf16": 0.9}})
    assert measured.matrix_efficiency("bf16") == 0.9 and measured.matrix_efficiency("fp8") == MATRIX_EFFICIENCY_NARROW
    # a big compute-bound GEMM scales with it: 2*8192^3 / (989 TFLOP/s x efficiency), within the tile effects. A
    # lower one (0.78) keeps it matrix-bound; at 0.9 the 128x256 tiles in clusters of 2 would be bound by L2 (clusters
    # of 4 fit only 124 of the 132 SMs: 17 waves instead of 16, compute.cluster_cores)
    slower = h100.with_overrides({"matrix.efficiency": {"bf16": 0.78}})
    op = Gemm(8192, 8192, 8192, "bf16")
    ratio = acs.estimate(op, slower, level="analytical").seconds / acs.estimate(op, h100, level="analytical").seconds
    assert ratio == pytest.approx(MATRIX_EFFICIENCY_WIDE / 0.78, rel=0.02)


def test_scalar_kernel_is_bound_by_whole_waves_of_row_blocks(h100):
    """vLLM's scalar RMSNorm: one 1024-thread block per row, one fp16 load per thread at a time, each row read
    twice (the second pass from L2). 2048 / 1024 = 2 blocks per SM x 132 SMs = 264 rows a wave; 4096 rows take
    ceil(4096 / 264) = 16 whole waves (15.5 counted as 16: a block of the last wave waits for one of the wave
    before). A 4096-element row is 4096 / 1024 = 4 load rounds per pass: 4 x 600 ns (DRAM) + 4 x 260 ns (L2)
    = 3.44 us a wave, 55.04 us in all, longer than the 23.6 us of DRAM traffic."""
    op = Norm(rows=4096, hidden=4096, norm="rms", dtype="fp16", kernel="scalar")
    est = acs.estimate(op, h100, level="analytical")
    bound = 16 * 4 * (600e-9 + 260e-9)
    assert est.details["latency_bound_seconds"] == pytest.approx(bound, rel=1e-9)
    # a block writes only in its L2 pass, with no DRAM read outstanding: its stores use the bus the latency-bound
    # reads leave idle, no write drain is added
    assert "write_drain_seconds" not in est.details
    assert est.seconds == pytest.approx(bound + 260e-9 + 2.5e-6, rel=1e-9)  # + the last stores to L2, + launch
    # 264 rows (one wave) cost one wave: 3.44 us
    one = acs.estimate(dataclasses.replace(op, rows=264), h100, level="analytical")
    assert one.details["latency_bound_seconds"] == pytest.approx(4 * 860e-9, rel=1e-9)
    assert acs.estimate(dataclasses.replace(op, rows=265), h100, level="analytical").details[
        "latency_bound_seconds"] == pytest.approx(2 * 4 * 860e-9, rel=1e-9)
    # the vectorized kernel (16 B x 4 in flight per thread) reads once and is bound by DRAM bandwidth instead
    tuned = acs.estimate(Norm(rows=4096, hidden=4096, norm="rms", dtype="fp16"), h100, level="analytical")
    assert tuned.seconds < est.seconds / 2 and tuned.bound == "memory"


def test_rotary_waits_on_its_position_gather_before_streaming(h100):
    """vLLM's rotary kernel (kernel="rope"): one 512-thread block per token; positions[token], then the cos/sin
    row it points to, are two dependent DRAM loads before the pairs stream. One token of 8 heads x 64 pairs =
    512 pairs: 512 threads x 2 fp16 loads (x and y) = 2048 B in flight = the 2048 B read, one round trip (600 ns)
    that waits on the cos/sin load, after the positions load (600 ns): 1.2 us."""
    op = Elementwise("rope", 512, "fp16", inputs=2, outputs=2, flops_per_element=6, kernel="rope", rows=1)
    est = acs.estimate(op, h100, level="analytical")
    assert est.details["latency_bound_seconds"] == pytest.approx(2 * 600e-9, rel=1e-9)
    # 4096 pairs (32 q + 32 k heads): 8 pairs per thread, one at a time (in place: the next pair's loads wait
    # for this pair's stores), 8 round trips + the positions load = 9 x 600 ns
    wide = acs.estimate(dataclasses.replace(op, elements=4096), h100, level="analytical")
    assert wide.details["latency_bound_seconds"] == pytest.approx(9 * 600e-9, rel=1e-9)


def test_looped_reduction_rereads_dram_when_its_rows_in_flight_outgrow_l2():
    """TorchInductor's looped LayerNorm (kernel="looped"): 2048 / 256 = 8 row programs per SM x 108 SMs = 864
    rows in flight between a row's first pass and its second."""
    a100 = acs.load_hardware("a100-sxm-80gb")

    def seconds(cols: int, kernel: str) -> float:
        op = Norm(rows=4096, hidden=cols, norm="layer", dtype="fp16", kernel=kernel)
        return acs.estimate(op, a100, level="analytical").seconds

    # 16384 fp16 columns: 864 x 32 KiB = 28.3 MB > half the 40 MiB L2, so the second pass reads DRAM again:
    # 4096 x 16384 x 2 B = 134 MB more at 2.039 TB/s x 0.95 = 69.3 us
    assert seconds(16384, "looped") - seconds(16384, "vectorized") == pytest.approx(
        4096 * 16384 * 2 / (2.039e12 * 0.95), rel=1e-6)
    # 4096 columns: 864 x 8 KiB = 7.1 MB stays in L2; the re-read crosses L2 only, hidden under the DRAM stream
    assert seconds(4096, "looped") == pytest.approx(seconds(4096, "vectorized"), rel=1e-9)


def test_eager_norm_rereads_dram_when_its_128_thread_rows_outgrow_l2(h100):
    """PyTorch's eager norm (kernel="aten_norm", ATen's vectorized_layer_norm_kernel): 128-thread blocks, 2048 / 128
    = 16 rows per SM x 132 SMs = 2112 rows in flight between a row's statistics pass and its apply pass."""

    def seconds(cols: int, kernel: str) -> float:
        op = Norm(rows=4096, hidden=cols, norm="rms", dtype="bf16", kernel=kernel)
        return acs.estimate(op, h100, level="analytical").seconds

    # 8192 columns: 2112 x 16 KiB = 34.6 MB > half the 50 MiB L2: the apply pass reads the row from DRAM again,
    # 4096 x 8192 x 2 B = 67 MB more at 3.35 TB/s x 0.95 = 21.1 us over the one-pass kernel
    assert seconds(8192, "aten_norm") - seconds(8192, "vectorized") == pytest.approx(
        4096 * 8192 * 2 / (3.35e12 * 0.95), rel=1e-6)
    # 4096 columns: 2112 x 8 KiB = 17.3 MB stays in L2; the eager kernel's latency chain, ceil(4096 / 2112) = 2
    # waves x 4096 / (128 threads x 4 elements) = 8 rounds x (600 + 260) ns = 13.8 us, hides under its DRAM
    # traffic, and its writes drain in the L2 pass: as fast as the one-pass kernel
    assert seconds(4096, "aten_norm") == pytest.approx(seconds(4096, "vectorized"), rel=1e-9)


def test_eager_softmax_runs_its_three_passes_in_step():
    """PyTorch's eager softmax on A100 (kernel="aten"), 4096 x 4096 fp16 = 33.6 MB in and out: every block runs
    the max pass, the sum-of-exp pass and the write pass in step with the others, so the passes add up."""
    a100 = acs.load_hardware("a100-sxm-80gb")
    est = acs.estimate(Softmax(rows=4096, cols=4096, dtype="fp16", kernel="aten"), a100, level="analytical")
    n, size = 4096 * 4096, 4096 * 4096 * 2
    dram = 2.039e12 * 0.95
    instructions = 19.5e12 / 2  # FP32 instructions per second: 108 SMs x 64 lanes x 1.41 GHz
    first = size / dram  # 17.3 us: the max pass reads DRAM (2 instructions per element hide under it)
    second = n * (3 + 7) / instructions  # 17.2 us: convert, subtract, expf (7 FP32 + ex2), add; L2 re-read hides
    third = n * (3 + 7 + 6) / instructions  # 27.5 us: ... and the IEEE division, over the 21.5 us write
    assert est.details["phase_seconds"] == pytest.approx([first, second, third], rel=1e-3)
    assert est.seconds == pytest.approx(first + second + third + 2.5e-6, rel=1e-3)  # 64.6 us
    fused = acs.estimate(Softmax(rows=4096, cols=4096, dtype="fp16"), a100, level="analytical").seconds
    assert fused < est.seconds / 1.5  # one pass at DRAM speed: 41.3 us
    # rows of at most 1024: ATen's warp-per-row kernel reads once, then computes and writes
    short = acs.estimate(Softmax(rows=4096, cols=1024, dtype="fp16", kernel="aten"), a100, level="analytical")
    assert len(short.details["phase_seconds"]) == 2
    with pytest.raises(ValueError, match="softmax kernel"):
        Norm(rows=1, hidden=8, kernel="aten")


def test_more_bandwidth_does_not_help_a_latency_bound_kernel(h100):
    """What-if for a chip designer: doubling HBM bandwidth leaves a kernel short of bytes in flight as slow."""
    op = Elementwise("swiglu", 4096 * 11008, "fp16", kernel="scalar")
    faster = h100.with_overrides({"memory.hbm.bandwidth": "6.7 TB/s"})
    base, doubled = (acs.estimate(op, hw, level="analytical").seconds for hw in (h100, faster))
    assert 0.85 * base < doubled < base  # only the write drains (no thread waits on a store) speed up
    tuned = Elementwise("swiglu", 4096 * 11008, "fp16")
    assert acs.estimate(tuned, faster, level="analytical").seconds < acs.estimate(tuned, h100, level="analytical").seconds


def test_cached_operands_stream_from_l2_when_they_fit(h100):
    """A consumer of the previous kernel's output (or a benchmark loop over the same buffers) reads L2, if the
    working set fits half of the 50 MB L2 (two partitions: CACHE_RESIDENT_FRACTION)."""
    op = Elementwise("add", 2**20, "fp32", cached=True)  # 2 x 4 MiB read + 4 MiB written = 12.58 MB
    est = acs.estimate(op, h100, level="analytical")
    # 12.58 MB / 6.65 TB/s L2 = 1.892 us, after one 260 ns L2 latency and before the last stores' 260 ns, plus
    # the 2.5 us launch
    assert est.details["source"] == "l2"
    assert est.seconds == pytest.approx(3 * 2**22 / 6.65e12 + 2 * 260e-9 + 2.5e-6, rel=1e-9)
    cold = acs.estimate(Elementwise("add", 2**20, "fp32"), h100, level="analytical")
    assert cold.details["source"] == "hbm" and cold.seconds > est.seconds
    # the roofline prices the same bytes at the L2 peak, so it stays a lower bound of both model levels (the sim
    # does not charge the last stores' L2 latency the analytical level adds: they agree within 6 %)
    sim = acs.estimate(op, h100, level="sim").seconds
    assert acs.estimate(op, h100).seconds <= min(est.seconds, sim) and est.seconds == pytest.approx(sim, rel=0.06)
    # 16 Mi elements (201 MB) cannot stay in a 25 MB share of L2: cached or not, it streams from HBM
    big = Elementwise("add", 2**24, "fp32", cached=True)
    assert acs.estimate(big, h100, level="analytical").seconds == pytest.approx(
        acs.estimate(Elementwise("add", 2**24, "fp32"), h100, level="analytical").seconds, rel=1e-12)


def test_unknown_streaming_kernel_names_the_choices():
    with pytest.raises(ValueError, match=r"Norm.kernel: unknown kernel 'warp'; use one of vectorized, scalar"):
        Norm(rows=1, hidden=8, kernel="warp")


def test_published_clock_under_load_is_used_for_amd_gemms():
    """MI300X: AMD's max-achievable 708 TFLOP/s BF16 at a median 1207 MHz under load. The clock is the spec's
    sustained_clock (1207 / 2100 = 0.5748 of the quoted clock, every on-chip rate); the issue efficiency left is
    708 / (1307.4 x 0.5748 = 751.5) = 0.942, so the GEMM peak stays 1307.4 x 0.5748 x 0.942 = 707.9 TFLOP/s."""
    mi300x = acs.load_hardware("mi300x")
    assert mi300x.compute.clock_ratio == pytest.approx(1207 / 2100)
    assert mi300x.matrix_efficiency("bf16") == 0.942 and mi300x.matrix_efficiency("fp8") == 0.847
    sustained = mi300x.matrix_peak("bf16") * mi300x.matrix_efficiency("bf16") * mi300x.compute.clock_ratio
    assert sustained == pytest.approx(707.9e12, rel=1e-3)
    from accelscope.measure.globalfit import Constants, with_constants
    refit = with_constants(mi300x, Constants(0.9, 1.1, 0.8, 0.7))
    assert refit.matrix_efficiency("bf16") == 0.942 and refit.matrix_efficiency("fp32") == 0.8  # own value kept


def test_mi325x_gemm_rate_is_amd_max_achievable_at_its_clock_under_load():
    """MI325X: 843 TFLOP/s BF16 at a median 1447 MHz (AMD MAF blog): clock ratio 1447 / 2100 = 0.6890, issue
    efficiency 0.936, so 1307.4 x 0.6890 x 0.936 = 843.2 TFLOP/s; FP8 2614.9 x 0.6890 x 0.843 = 1518.9."""
    mi325x = acs.load_hardware("mi325x")
    assert mi325x.compute.clock_ratio == pytest.approx(1447 / 2100)
    bf16 = mi325x.matrix_peak("bf16") * mi325x.matrix_efficiency("bf16") * mi325x.compute.clock_ratio
    fp8 = mi325x.matrix_peak("fp8_e4m3") * mi325x.matrix_efficiency("fp8_e4m3") * mi325x.compute.clock_ratio
    assert bf16 == pytest.approx(843.2e12, rel=1e-3) and fp8 == pytest.approx(1518.9e12, rel=1e-3)


def test_sustained_clock_slows_the_vector_work_of_attention_on_mi300x():
    """The 1207 MHz engine clock is one clock domain: attention's softmax and LDS traffic slow with it, not only
    its MFMAs. With the clock at 2100 MHz and the same MFMA rate (efficiency 0.542 x 1.0 = 0.942 x 0.5748),
    the same FlashAttention-2 forward is faster, by less than 2100 / 1207 = 1.74x: only its non-matrix work
    (softmax on the VALU and transcendental pipes, LDS traffic) runs quicker."""
    mi300x = acs.load_hardware("mi300x")
    boosted = mi300x.with_overrides({"compute.sustained_clock": "2100 MHz", "matrix.efficiency.bf16": 0.542})
    op = Attention(batch=1, heads=16, head_dim=128, q_len=16384, kv_len=16384, variant="fa2")
    held = acs.estimate(op, mi300x, level="analytical").seconds
    fast = acs.estimate(op, boosted, level="analytical").seconds
    assert 1.0 < held / fast < 2100 / 1207


def test_memory_efficiency_slows_streaming_ops(h100):
    slower = h100.with_overrides({"memory.hbm.efficiency": 0.8})
    op = Softmax(rows=8192, cols=8192)
    assert acs.estimate(op, slower, level="analytical").seconds > acs.estimate(op, h100, level="analytical").seconds


@pytest.fixture
def alpha_beta(h100):
    """The h100 with plain alpha-beta collectives (no library cost model) and a 6.6 us per-call latency."""
    return h100.with_overrides({"interconnect.scale_up.library": None,
                                "interconnect.scale_up.collective_latency": "6.6 us"})


def test_small_all_reduce_picks_a_tree_and_large_a_ring(alpha_beta):
    no_nvls = alpha_beta.with_overrides({"interconnect.scale_up.in_network_reduction": False})
    small = acs.estimate(Collective("all_reduce", 1 << 16, 8), no_nvls, level="analytical")
    large = acs.estimate(Collective("all_reduce", 1 << 30, 8), no_nvls, level="analytical")
    assert small.details["algorithm"] == "tree" and large.details["algorithm"] == "ring"
    # ring: 6.6 us per call + 2*7 steps x 0.94 us + 2*7/8 x 1 GiB / (450 GB/s x 0.824 achievable) + launch
    ring = 6.6e-6 + 14 * 0.94e-6 + 1.75 * (1 << 30) / (450e9 * 0.824)
    assert large.seconds == pytest.approx(ring + 2.5e-6, rel=1e-6)


def test_collective_call_latency_and_nvls_efficiency_are_spec_fields(alpha_beta):
    op = Collective("all_reduce", 1 << 30, 8)
    base = acs.estimate(op, alpha_beta, level="analytical").seconds
    no_call = alpha_beta.with_overrides({"interconnect.scale_up.collective_latency": 0})
    assert base - acs.estimate(op, no_call, level="analytical").seconds == pytest.approx(6.6e-6, rel=1e-6)
    derated = alpha_beta.with_overrides({"interconnect.scale_up.nvls_efficiency": 0.5})
    nvls = acs.estimate(op, derated, level="analytical")
    # at half the NVLS ideal NVLS moves 1 / 0.5 = 2 x the payload's time, a ring 2*7/8 = 1.75 x: the ring wins
    ring = 6.6e-6 + 14 * 0.94e-6 + 1.75 * (1 << 30) / (450e9 * 0.824)
    nvls_time = 6.6e-6 + 2 * 0.94e-6 + (1 << 30) / (450e9 * 0.824 * 0.5)
    assert nvls.seconds - 2.5e-6 == pytest.approx(min(ring, nvls_time), rel=1e-6) == pytest.approx(ring)
    assert nvls.details["algorithm"] == "ring"


def test_nvls_halves_large_all_reduce_traffic(alpha_beta):
    est = acs.estimate(Collective("all_reduce", 1 << 30, 8), alpha_beta, level="analytical")
    assert est.details["algorithm"] == "nvls"
    assert est.seconds >= acs.estimate(Collective("all_reduce", 1 << 30, 8), alpha_beta).seconds  # roofline floor


def test_nccl_cost_model_picks_its_protocols_like_nccl(h100):
    """h100-sxm names `library: nccl`: NCCL's tuning.cc model, bus bandwidth 450 GB/s x 0.824 = 370.8 GB/s (NCCL's
    topo.h: 18 links x 20.6 GB/s), NVLS at 0.89 of its ideal."""
    bus = 450e9 * 0.824
    small = acs.estimate(Collective("all_reduce", 1 << 16, 8), h100, level="analytical")
    # 64 KiB: ring/LL = 6.6 + 2*7 x 0.6 us + 64 KiB / (min(370.8/4, 87.7) GB/s x 8/14 ranks per step) = 16.3 us,
    # just ahead of tree/LL (16.7 us); LL128 and Simple pay 14 and 8.4 us base + 1.9 and 3.4 us per step
    ring_ll = (6.6 + 14 * 0.6) * 1e-6 + (1 << 16) / (87.7e9 * 8 / 14)
    assert small.details["algorithm"] == "ring/ll"
    assert small.seconds == pytest.approx(ring_ll + 2.5e-6, rel=1e-6)
    large = acs.estimate(Collective("all_reduce", 1 << 30, 8), h100, level="analytical")
    # 1 GiB: NVLS = 23 us + 1 GiB / (370.8 GB/s x 0.89 x 5/6), faster than ring/simple (8.4 + 14 x 3.4 us +
    # 1.75 GiB / 370.8 GB/s)
    assert large.details["algorithm"] == "nvls/simple"
    assert large.seconds == pytest.approx(23e-6 + (1 << 30) / (bus * 0.89 * 5 / 6) + 2.5e-6, rel=1e-6)
    gather = acs.estimate(Collective("all_gather", 1 << 30, 8), h100.with_overrides(
        {"interconnect.scale_up.in_network_reduction": False}), level="analytical")
    ring = (8.4 + 7 * 3.4) * 1e-6 + (1 << 30) * 7 / 8 / bus  # ring/simple: 7 steps, (n-1)/n of the buffer
    assert gather.details["algorithm"] == "ring/simple" and gather.seconds == pytest.approx(ring + 2.5e-6, rel=1e-6)


def test_send_recv_is_one_nccl_p2p_hop_not_a_ring(h100):
    """NCCL's send/recv never enters the collective tuning model (no 6.6-8.4 us baseLat): enqueue.cc runs it with
    LL up to NCCL_P2P_LL_THRESHOLD = 16384 bytes, else Simple, as one hop at hwLat[hw][Ring][proto]."""
    bus = 450e9 * 0.824  # 370.8 GB/s planned NVLink bus (topo.h SM90_NVLINK_BW x 18 links)
    small = acs.estimate(Collective("send_recv", 8192, 2), h100, level="analytical")
    # 8 KiB: LL, 0.6 us + 8192 B / min(370.8/3, 87.7) GB/s = 0.6 + 0.093 us, + 2.5 us launch = 3.193 us
    assert small.details["algorithm"] == "p2p/ll"
    assert small.seconds == pytest.approx(0.6e-6 + 8192 / 87.7e9 + 2.5e-6, rel=1e-6)
    large = acs.estimate(Collective("send_recv", 1 << 20, 2), h100, level="analytical")
    # 1 MiB: Simple, 3.4 us + 1 MiB / 370.8 GB/s = 3.4 + 2.828 us, + 2.5 us launch = 8.728 us
    assert large.details["algorithm"] == "p2p/simple"
    assert large.seconds == pytest.approx(3.4e-6 + (1 << 20) / bus + 2.5e-6, rel=1e-6)
    # across nodes (ranks 8 apart, 1 per node): one hop through the NIC at hwLat[NET][Ring][Simple] = 14 us +
    # 1 MiB / 50 GB/s (one 400 Gb/s NIC) = 14 + 20.97 us, + 2.5 us launch = 37.47 us
    across = acs.estimate(Collective("send_recv", 1 << 20, 2, stride=8), h100, level="analytical")
    assert across.seconds == pytest.approx(14e-6 + (1 << 20) / 50e9 + 2.5e-6, rel=1e-6)
    assert "p2p/simple" in across.details["algorithm"]


def test_nccl_tree_takes_nccls_medium_size_correction():
    """tuning.cc's treeCorrectionFactor scales a tree's bandwidth by log2(bytes / 64): 1 MiB = 2^14 x 64 B takes
    0.5 (LL), 0.6 (LL128), 0.5 (Simple) (index 14 of each row); 1 GiB is past the 256 MiB end of the table (1.0)."""
    from accelscope.perf.nccl import nccl_seconds, tree_correction

    assert [tree_correction(1 << 20, i) for i in range(3)] == [0.5, 0.6, 0.5]
    assert tree_correction(1 << 30, 2) == 1.0 and tree_correction(64, 2) == 0.9
    # 8 A100 (bus 300 GB/s x 0.8 = 240 GB/s), NCCL_ALGO=Tree at 1 MiB: tree/LL128 = 14 + 2 x 7 x 1.25 us = 31.5 us
    # + 1 MiB / (240 x 0.92 x 7/9 x 0.6 x 0.5 GB/s) = 20.4 us; tree/LL pays 1 MiB / (240 x 0.92 / 3.8 x 0.5 x 0.5)
    seconds, chosen = nccl_seconds("all_reduce", 1 << 20, 8, 240e9, nvls=False, algorithm="tree")
    assert chosen == "tree/ll128"
    assert seconds == pytest.approx(31.5e-6 + (1 << 20) / (240e9 * 0.92 * 7 / 9 * 0.6 * 0.5), rel=1e-9)


def test_pinned_algorithm_is_priced_like_nccl_algo(h100, alpha_beta):
    """NCCL_ALGO=Ring on h100-sxm: 1 GiB ring/simple = 8.4 us + 2*7 x 3.4 us + 1.75 x 1 GiB / 370.8 GB/s; its bus
    bandwidth (bytes x 2*7/8 / time) can never beat the link's 370.8 GB/s, which NVLS's in-switch reduction does."""
    bus = 450e9 * 0.824
    ring = acs.estimate(Collective("all_reduce", 1 << 30, 8, algorithm="ring"), h100, level="analytical")
    expected = (8.4 + 14 * 3.4) * 1e-6 + 1.75 * (1 << 30) / bus
    assert ring.details["algorithm"] == "ring/simple"
    assert ring.seconds == pytest.approx(expected + 2.5e-6, rel=1e-6)
    assert (1 << 30) * 1.75 / ring.seconds < bus
    auto = acs.estimate(Collective("all_reduce", 1 << 30, 8), h100, level="analytical")
    assert auto.details["algorithm"] == "nvls/simple" and auto.seconds < ring.seconds
    # alpha-beta domains honour the pin too; NVLS where the switch cannot reduce is a clear error
    assert acs.estimate(Collective("all_reduce", 1 << 30, 8, algorithm="tree"), alpha_beta,
                        level="analytical").details["algorithm"] == "tree"
    no_sharp = h100.with_overrides({"interconnect.scale_up.in_network_reduction": False})
    with pytest.raises(ValueError, match=r"nvls needs interconnect\.scale_up\.in_network_reduction"):
        acs.estimate(Collective("all_reduce", 1 << 30, 8, algorithm="nvls"), no_sharp, level="analytical")
    with pytest.raises(ValueError, match=r"Collective\.algorithm"):
        Collective("all_reduce", 1 << 30, 8, algorithm="mesh")


def test_unfused_math_attention_pays_for_the_score_matrix(h100):
    op = dict(batch=4, heads=16, head_dim=128, q_len=2048, kv_len=2048, causal=True)
    flash = acs.estimate(Attention(**op, variant="fa2"), h100, level="analytical")
    math_ = acs.estimate(Attention(**op, variant="math"), h100, level="analytical")
    # S and P (4*16*2048*2048 bf16 = 512 MiB each) go through HBM: write S, read S + write P, read P
    assert math_.bytes == flash.bytes  # the op's minimum bytes are the same...
    assert math_.breakdown["memory"] >= 4 * 4 * 16 * 2048 * 2048 * 2 / 3.35e12  # ...the kernel moves far more
    assert math_.seconds > flash.seconds >= acs.estimate(Attention(**op), h100).seconds


# ----- block-scaled GEMMs ---------------------------------------------------------------------------------------
def test_fp8_block_scaling_costs_promotion_flops_and_scale_bytes():
    plain, scaled = Gemm(4096, 4096, 4096, "fp8_e4m3"), Gemm(4096, 4096, 4096, "fp8_e4m3", scale_block=128)
    # 3 FLOPs per output per 128 of K; FP32 scales: A 4096 x 32, B 32 x 32
    assert scaled.cost().vector_flops == 3 * 4096 * 4096 * 32
    assert scaled.cost().bytes - plain.cost().bytes == 4 * (4096 * 32 + 32 * 32)


def test_promotion_hides_under_async_mma_but_not_on_a_synchronous_chip():
    h100, a100 = acs.load_hardware("h100-sxm"), acs.load_hardware("a100-sxm-80gb")
    plain, scaled = Gemm(8192, 8192, 8192, "fp8_e4m3"), Gemm(8192, 8192, 8192, "fp8_e4m3", scale_block=128)
    hopper = acs.estimate(scaled, h100, level="analytical")
    # per tile: 3/128 vector FLOPs per MMA FLOP pair at 66.9 TFLOP/s vs 1979 TFLOP/s: ~35 % of the MMA time at
    # the quoted peak, x 0.70 (MATRIX_EFFICIENCY_NARROW: the MMA runs slower) = ~24 %; overlapped by
    # warp-specialized promotion (DeepGEMM), so the GEMM stays matrix-bound
    assert hopper.bound == "matrix"
    assert hopper.seconds == pytest.approx(acs.estimate(plain, h100, level="analytical").seconds, rel=1e-9)
    assert 0.2 < hopper.breakdown["vector"] / hopper.breakdown["matrix"] < 0.28
    ampere = acs.estimate(scaled, a100, level="analytical")
    assert ampere.seconds > 1.1 * acs.estimate(plain, a100, level="analytical").seconds  # serial promotion


def test_mx_formats_are_free_only_with_a_native_block_scaled_matrix_rate():
    b200, h100, a100 = (acs.load_hardware(c) for c in ("b200", "h100-sxm", "a100-sxm-80gb"))
    native = acs.estimate(Gemm(8192, 8192, 8192, "mxfp8"), b200, level="analytical")
    assert native.details["block_scaling"] == "native" and native.breakdown["vector"] == 0
    emulated = acs.estimate(Gemm(8192, 8192, 8192, "mxfp8"), h100, level="analytical")
    assert "promoted every 32" in emulated.details["block_scaling"]
    # every 32 of K instead of every 128: 4x the 1x128 recipe's ~24 % (test above) = ~96 % of the MMA time,
    # overlapped but as long as the MMA itself; the same GEMM on a B200 pays nothing
    assert 0.9 < emulated.breakdown["vector"] / emulated.breakdown["matrix"] < 1.0
    fp8 = acs.estimate(Gemm(8192, 8192, 8192, "fp8_e4m3"), h100, level="analytical")
    assert emulated.seconds >= fp8.seconds
    dequant = acs.estimate(Gemm(8192, 8192, 8192, "nvfp4"), a100, level="analytical")
    assert dequant.details["block_scaling"] == "A and B (nvfp4) converted to bf16 on load"
    assert dequant.breakdown["vector"] > 0
    assert dequant.seconds > acs.estimate(Gemm(8192, 8192, 8192, "bf16"), a100, level="analytical").seconds


# ----- weight-only quantized GEMMs (W4A16) ------------------------------------------------------------------------
def test_weight_only_gemm_converts_each_weight_once_at_the_op_level():
    # the op counts converted elements, not FLOPs: each weight once (the roofline's minimum)
    op = Gemm(4096, 8192, 8192, "bf16", b_dtype="int4")
    assert op.cost().convert_elements == 8192 * 8192 and op.cost().vector_flops == 0
    assert Gemm(4096, 8192, 8192, "bf16").cost().convert_elements == 0  # nothing to convert
    assert Gemm(4096, 8192, 8192, "fp8_e4m3", b_dtype="fp8_e4m3").cost().convert_elements == 0
    # the chip prices them: one FP32 lane slot (2 FLOPs) on A100 in fp16, 1.5 in bf16 (half the packed rate), two
    # on H100 (128 FP32 lanes, same 16-bit and LOP3 rates per SM); roofline vector time = elements x 2 x slots / FP32
    # peak
    a100, h100 = acs.load_hardware("a100-sxm-80gb"), acs.load_hardware("h100-sxm")
    assert (a100.dequantize_flops("fp16"), a100.dequantize_flops("bf16"), h100.dequantize_flops("bf16")) == (2, 3, 4)
    gemv = Gemm(1, 8192, 8192, "bf16", b_dtype="int4")
    vector = acs.estimate(gemv, h100, level="roofline").breakdown["vector"]
    assert vector == pytest.approx(8192 * 8192 * 4.0 / 66.9e12)


def test_a_native_dequantizer_is_a_what_if_on_a_synchronous_chip():
    # W4A16 prefill on A100 pays the conversion on the MMA warps; a converter at 4 elements per lane slot
    # (isa.dequantize_ops.bf16 = 0.25 against 1.5) cuts that cost 6x, so the GEMM moves towards the bf16 time
    a100 = acs.load_hardware("a100-sxm-80gb")
    fast = a100.with_overrides({"isa.dequantize_ops.bf16": 0.25})
    plain, w4 = Gemm(16384, 8192, 8192, "bf16"), Gemm(16384, 8192, 8192, "bf16", b_dtype="int4")
    base = acs.estimate(plain, a100, level="analytical").seconds
    slow = acs.estimate(w4, a100, level="analytical").seconds
    quick = acs.estimate(w4, fast, level="analytical").seconds
    assert base < quick < slow
    assert (quick - base) == pytest.approx((slow - base) / 6, rel=0.25)


def test_w4a16_prefill_pays_the_dequantization_on_a_synchronous_chip_only():
    a100, h100 = acs.load_hardware("a100-sxm-80gb"), acs.load_hardware("h100-sxm")
    plain, w4 = Gemm(16384, 8192, 8192, "bf16"), Gemm(16384, 8192, 8192, "bf16", b_dtype="int4")
    ampere = acs.estimate(w4, a100, level="analytical")
    assert ampere.details["block_scaling"] == "B (int4) converted to bf16 on load"
    # mma.sync warps issue the conversions too: per tile 3 FLOPs (1.5 lane slots in bf16) x BN x K at 19.5/108
    # TFLOP/s per SM against 2 x BM x BN x K at 312 x 0.83 / 108, i.e. +1.5 x (259 / 19.5) / BM = +7.8 % for
    # BM = 256 (+5.2 % in fp16); Marlin (arXiv 2408.11743) reports W4A16 ~10 % slower than FP16 at >= 1024 tokens
    # on Ampere
    ratio = ampere.seconds / acs.estimate(plain, a100, level="analytical").seconds
    assert ratio == pytest.approx(1.078, abs=0.01)
    # warp-specialized wgmma kernels convert while the tensor cores run: hidden, and B is a quarter of the bytes
    hopper = acs.estimate(w4, h100, level="analytical").seconds / acs.estimate(plain, h100, level="analytical").seconds
    assert 0.95 < hopper <= 1.0


def test_int4_decode_gemv_streams_four_bit_weights_in_sixteen_row_tiles():
    a100 = acs.load_hardware("a100-sxm-80gb")
    fp16 = acs.estimate(Gemm(1, 8192, 8192, "fp16"), a100, level="analytical")
    w4 = acs.estimate(Gemm(1, 8192, 8192, "fp16", b_dtype="int4"), a100, level="analytical")
    # mma m16n8k16: one row pads to a 16-row tile (not 64), so the tensor cores mostly idle and the 32 MiB of 4-bit
    # weights stream at 2.039 TB/s x 0.95: 17.3 us + the 2.5 us launch (the padded MMAs plus the conversions on the
    # same warps just about match it); fp16 reads 4x the bytes
    assert w4.details["mapping"]["block_m"] == 16
    assert w4.seconds == pytest.approx(8192 * 8192 / 2 / (2.039e12 * 0.95) + 2.5e-6, rel=0.08)
    assert fp16.seconds / w4.seconds > 3.2  # Marlin (fp16): near the ideal 3.87x up to batch 16-32
    # bf16 packed math runs at half the fp16 rate on A100 (1.5 lane slots a weight): the conversion, 8192^2 x 3
    # FLOPs / 19.5 TFLOP/s = 10.3 us, plus the padded MMAs, 2 x 16 x 8192^2 / (312 x 0.83 TFLOP/s) = 8.3 us, issued
    # by the same warps, outlast the 17.3 us stream
    bf16_w4 = acs.estimate(Gemm(1, 8192, 8192, "bf16", b_dtype="int4"), a100, level="analytical")
    assert bf16_w4.seconds == pytest.approx(10.3e-6 + 8.3e-6 + 2.5e-6, rel=0.08) and bf16_w4.seconds > w4.seconds
    # group-32 int4 carries a bf16 scale and zero point per 32 weights: 5 bits a weight, a quarter more to stream
    g32 = Gemm(1, 8192, 8192, "fp16", b_dtype="int4_g32")
    assert g32.cost().bytes_read == 8192 * 8192 * 5 / 8 + 8192 * 2
    assert acs.estimate(g32, a100, level="analytical").seconds > 1.2 * (w4.seconds - 2.5e-6)
    grouped = acs.estimate(GroupedGemm(8, 8192, 8192, "bf16", tokens=64, b_dtype="int4"), a100, level="analytical")
    assert grouped.details["block_scaling"] == "B (int4) converted to bf16 on load" and grouped.breakdown["vector"] > 0


def test_serving_engines_custom_allreduce_reads_peer_memory(h100):
    """vLLM/TRT-LLM one-shot all-reduce of a 16 KiB TP buffer on 8 H100s: 2 flag barriers x 0.94 us + 7 peers'
    buffers over 450 GB/s x 0.824, against NCCL's ring/LL (6.6 + 14 x 0.6 us + 16 KiB / (87.7 GB/s x 8/14))."""
    custom = acs.estimate(Collective("all_reduce", 1 << 14, 8, impl="custom"), h100, level="analytical")
    assert custom.details["algorithm"] == "custom one-shot"
    assert custom.seconds == pytest.approx(2 * 0.94e-6 + 7 * (1 << 14) / (450e9 * 0.824) + 2.5e-6, rel=1e-6)
    nccl = acs.estimate(Collective("all_reduce", 1 << 14, 8), h100, level="analytical")
    assert nccl.seconds > 3 * custom.seconds
    big = acs.estimate(Collective("all_reduce", 1 << 24, 8, impl="custom"), h100, level="analytical")
    assert big.details["algorithm"] == "nvls/simple"  # 16 MiB is past the custom kernels' 8 MiB buffer: NCCL
    with pytest.raises(ValueError, match=r"Collective\.impl"):
        Collective("all_reduce", 1 << 14, 8, impl="fast")


def test_infer_prices_tp_allreduce_as_the_engine_does(h100):
    custom = acs.llm.infer("llama-3.1-70b", h100, tp=8, batch=1, input_len=2048, output_len=256, level="analytical")
    nccl = acs.llm.infer("llama-3.1-70b", h100, tp=8, batch=1, input_len=2048, output_len=256, level="analytical",
                         allreduce="library")
    # 160 all-reduces per decode step (2 per layer x 80 layers), each ~12 us cheaper with the custom kernel
    assert 1.5e-3 < nccl.tpot_s - custom.tpot_s < 2.5e-3
    with pytest.raises(ValueError, match="allreduce"):
        acs.llm.infer("llama-3.1-8b", h100, allreduce="gloo")


def test_multi_node_all_reduce_is_priced_by_nccls_multi_node_model():
    """4 x 8 B200 (NVLink 900 GB/s x 0.802 planned, one 50 GB/s NIC per GPU): NCCL runs one flat ring or tree over
    the 32 ranks, priced by tuning.cc with nNodes = 4; the node's 8 NICs carry each ring crossing it (400 GB/s)."""
    b200 = acs.load_hardware("b200")
    big = acs.estimate(Collective("all_reduce", 4 << 30, 32), b200, level="analytical")
    # ring/simple: 8.4 us base + (62 - 2x4) steps x max(3.4, 3 x 1.0 net overhead) + 2x4 net steps x 14 us = 304 us,
    # x 1.4 (ncclTopoGetAlgoTime's ring "plateau" across nodes: 4 GiB / (32 ranks) >= 64 B x 32 channels) = 425.6 us,
    # + 4 GiB / (400 GB/s x 32/62): 21.2 ms, ahead of NVLS_TREE (23 + 2 x 2 x 14 us + 4 GiB / (400/2 x 5/6 GB/s)
    # = 25.8 ms) and tree/simple (504 us + 4 GiB / (400 x 0.92 x 0.9 (NCCL's correction) x 0.5 GB/s))
    assert big.details["algorithm"] == "ring/simple x 4 nodes"
    ring = (8.4 + 54 * 3.4 + 8 * 14) * 1.4e-6 + (4 << 30) / (400e9 * 32 / 62)
    assert big.seconds == pytest.approx(ring + 2.5e-6, rel=1e-6)
    # 1 MiB: tree/LL128 = 14 + 2 (7 x 1.25 + log2(4) x 8.5) us = 65.5 us + 1 MiB / (400 x 0.92 x 120/128 x 0.6
    # (treeCorrectionFactor at 2^14 x 64 B) x 0.5 GB/s) = 75.6 us; ring/LL pays 6.6 + 54 x 1.0 + 8 x 2.7 = 82.2 us
    # before its bytes, NVLS_TREE 79 us
    small = acs.estimate(Collective("all_reduce", 1 << 20, 32), b200, level="analytical")
    assert small.details["algorithm"] == "tree/ll128 x 4 nodes"
    tree = 65.5e-6 + (1 << 20) / (400e9 * 0.92 * 120 / 128 * 0.6 * 0.5)
    assert small.seconds == pytest.approx(tree + 2.5e-6, rel=1e-6)


def test_net_plugin_latency_is_added_to_every_inter_node_step():
    """tuning.cc: interLat = hwLat[NET][a][p] + graph->latencyInter (the net transport's reported latency, search.cc
    latencyInter = net->net.latency), + latencyInter again for Simple (the flush). aws-ofi-nccl reports 35 us on
    p6 over EFA; NCCL's IB transport 0, the preset's default, so IB rows are unchanged."""
    efa = acs.load_hardware("b200").with_overrides({"interconnect.scale_out.library_latency": "35 us"})
    # 1 MiB on 4 x 8: tree/LL128 = 14 + 2 (7 x 1.25 + log2(4) x (8.5 + 35)) = 205.5 us + 1 MiB / (400 x 0.92 x
    # 120/128 x 0.6 x 0.5 GB/s) = 10.1 us; ring/LL128 pays 14 + 54 x 1.9 + 8 x (4 + 35) = 428.6 us, tree/LL 6.8 +
    # 2 (7 x 0.6 + 2 x 40) = 175.2 us + 1 MiB / (20.4 (LL cap) x 0.5 (NCCL's correction) x 0.5 GB/s) = 205.6 us
    small = acs.estimate(Collective("all_reduce", 1 << 20, 32), efa, level="analytical")
    assert small.details["algorithm"] == "tree/ll128 x 4 nodes"
    tree = 205.5e-6 + (1 << 20) / (400e9 * 0.92 * 120 / 128 * 0.6 * 0.5)
    assert small.seconds == pytest.approx(tree + 2.5e-6, rel=1e-6)
    # 4 GiB: ring/simple, its 8 network steps at 14 + 2 x 35 = 84 us: (8.4 + 54 x 3.4 + 8 x 84) x 1.4 = 1209.6 us
    big = acs.estimate(Collective("all_reduce", 4 << 30, 32), efa, level="analytical")
    assert big.details["algorithm"] == "ring/simple x 4 nodes"
    assert big.seconds == pytest.approx(1209.6e-6 + (4 << 30) / (400e9 * 32 / 62) + 2.5e-6, rel=1e-6)
    from accelscope.perf.nccl import nvls_tree_seconds
    # NVLS_TREE runs Simple: 23 + 2 x log2(4) x (14 + 2 x 35) = 359 us before its bytes
    assert nvls_tree_seconds(0.0, 4, 8, 580e9, 50e9, 35e-6) == pytest.approx(359e-6, rel=1e-9)
    assert nvls_tree_seconds(0.0, 4, 8, 580e9, 50e9) == pytest.approx(79e-6, rel=1e-9)


def test_graphs_estimated_together_share_each_ops_estimate(h100):
    from accelscope.perf.estimate import estimate_graphs

    gemm = Gemm(4096, 8192, 8192)
    first = acs.Graph((acs.ops.Node(gemm, count=2), acs.ops.Node(Softmax(4096, 8192))), name="a")
    second = acs.Graph((acs.ops.Node(gemm, count=3),), name="b")
    together = estimate_graphs([first, second], h100, "analytical")
    alone = [acs.estimate(g, h100, level="analytical") for g in (first, second)]
    assert [e.seconds for e in together] == [e.seconds for e in alone]
    # the shared GEMM is the same estimate object in both graphs' parts
    assert together[0].parts[0][2] is together[1].parts[0][2]


def test_nodes_seconds_is_the_graph_estimate_without_the_graph(h100):
    """nodes_seconds (the planner's grid path) promises the same float as estimate_graphs on the graph of those
    (op, count) nodes, with and without the shared cache."""
    from accelscope.perf.estimate import estimate_graphs, nodes_seconds, shared_estimates

    gemm, softmax = Gemm(4096, 8192, 8192), Softmax(4096, 8192)
    graph = acs.Graph((acs.ops.Node(gemm, count=2), acs.ops.Node(softmax)), name="g")
    nodes = [(gemm, 2.0), (softmax, 1.0)]
    expected = estimate_graphs([graph], h100, "analytical")[0].seconds
    assert nodes_seconds(nodes, h100, "analytical") == expected
    with shared_estimates():
        assert nodes_seconds(nodes, h100, "analytical") == expected
        assert estimate_graphs([graph], h100, "analytical")[0].seconds == expected


def test_a_fused_add_and_norm_is_one_stream_of_the_bytes_that_leave_the_chip(h100):
    from accelscope.workload import Fused

    rows, hidden = 8192, 8192
    n = rows * hidden
    add, norm = Elementwise("residual_add", n), Norm(rows, hidden)
    unfused = acs.estimate(acs.Graph.of(add, norm), h100, level="analytical")
    fused = acs.estimate(Fused((add, norm)), h100, level="analytical")
    # one launch: DRAM latency + (2n read + n written x write cost 1.24) x 2 B / (3.35 TB/s x 0.95) + launch
    expected = 600e-9 + (2 * n * 2 + hidden * 2 + 1.24 * n * 2) / (3.35e12 * 0.95) + 260e-9 + 2.5e-6
    assert fused.seconds == pytest.approx(expected, rel=1e-6) and fused.bound == "memory"
    assert fused.seconds < 0.62 * unfused.seconds  # 3.24n of 5.48n byte-equivalents, one launch of two


def test_fa2_on_hopper_is_bounded_by_the_mma_sync_rate(h100):
    """FA2 issues Ampere mma.sync: on H100 at most 2/3 of the wgmma peak (matrix.sync_fraction, FA3 paper sec. 2),
    x 0.83 matrix efficiency = 547 TFLOP/s before any softmax; the serial softmax brings it to 2*2*128 FLOP per
    0.3197 clk per SM (test above) = 1602 FLOP/clk x 132 SMs x 1.83 GHz = 387 TFLOP/s at steady state (the
    per-query-block loads and the last wave take a little more)."""
    op = Attention(batch=4, heads=32, head_dim=128, q_len=8192, kv_len=8192, variant="fa2")
    est = acs.estimate(op, h100, level="analytical")
    tflops = op.cost().matrix_flops / est.seconds / 1e12
    assert tflops < 989.4 * 2 / 3 * 0.83
    assert tflops == pytest.approx(387, rel=0.04)
    assert est.details["matrix_instruction"] == "mma.sync" and est.details["mma_sync_fraction"] == 0.667


def test_attention_kernel_defaults_follow_the_matrix_instruction():
    op = Attention(batch=1, heads=16, head_dim=128, q_len=4096, kv_len=4096)
    chosen = {hw: acs.estimate(op, hw, level="analytical").details["variant"]
              for hw in ("a100-sxm-80gb", "h100-sxm", "b200")}
    assert chosen == {"a100-sxm-80gb": "fa2", "h100-sxm": "fa3", "b200": "fa4"}
    with pytest.raises(ValueError, match="tensor-memory"):
        acs.estimate(Attention(batch=1, heads=16, head_dim=128, q_len=4096, kv_len=4096, variant="fa4"), "h100-sxm",
                     level="analytical")


def test_head_dim_64_is_less_efficient_than_128(h100):
    """The softmax work per score is fixed while the MMA work per score scales with d: at d = 64 on H100 FA3's
    softmax (1/16 + (3.5 + 64/176)/128 = 0.0927 clk) is no longer hidden under the MMAs (2*2*64/3400 = 0.0753)."""
    rate = {}
    for d in (64, 128):
        op = Attention(batch=4, heads=32, head_dim=d, q_len=8192, kv_len=8192)
        rate[d] = op.cost().matrix_flops / acs.estimate(op, h100, level="analytical").seconds
    assert rate[64] < 0.85 * rate[128]


def test_fa4_emulates_part_of_exp2_on_the_fma_pipes():
    """B200, d = 128, 128x128 tile: MUFU 16384/16 = 1024 clk; the spec's 75 TFLOP/s FP32 = 75e12 / (148 SMs x
    1.86 GHz x 2) = 136.2 FMA slots/clk (and 68.1 ALU slots/clk, 64 of 128 lanes), so the FMA-pipe softmax work is
    16384 x (2 + 0.1 rescale) / 136.2 = 252.6 clk. FA4 moves e exps to a 6-slot polynomial so MUFU and FMA pipes
    finish together: (16384 - e)/16 = (34406 + 6 e)/136.2 -> e = 771.4 / (1/16 + 6/136.2) = 7240 (44 %); cuDNN
    (no emulation) keeps them all on the MUFU."""
    shape = dict(batch=2, heads=64, head_dim=128, q_len=8192, kv_len=8192, causal=True)
    fa4 = acs.estimate(Attention(**shape, variant="fa4"), "b200", level="analytical")
    cudnn = acs.estimate(Attention(**shape, variant="cudnn"), "b200", level="analytical")
    assert fa4.details["exp2_emulated_share"] == pytest.approx(7240 / 16384, rel=0.02)
    assert fa4.details["matrix_instruction"] == cudnn.details["matrix_instruction"] == "tcgen05.mma"
    assert fa4.seconds < cudnn.seconds


def test_tensor_memory_sets_the_kv_block_for_mla_heads():
    """tcgen05: two query tiles' S (128 columns) and O (Dv columns) fit 512 TMEM columns while Dv <= 128, so
    DeepSeek's 192/128 heads keep 128-key blocks; Dv = 256 drops to 64."""
    mla = Attention(batch=1, heads=128, head_dim=192, v_head_dim=128, q_len=4096, kv_len=4096, variant="cudnn")
    wide = Attention(batch=1, heads=32, head_dim=256, q_len=4096, kv_len=4096, variant="cudnn")
    assert acs.estimate(mla, "b200", level="analytical").details["kv_block"] == 128
    assert acs.estimate(wide, "b200", level="analytical").details["kv_block"] == 64


# ----- systolic arrays: weight-stationary folds in closed form -------------------------------------------------------
def test_fold_seconds_is_scale_sims_fold_count():
    from accelscope.perf.analytical.gemm import fold_seconds

    # one 128x128 array at 1 GHz (peak 2 x 128 x 128 FLOP per cycle): 128 rows of A against a 4096 x 128 slab of B
    # = 32 folds of 2*128 + 128 - 2 = 382 fill/drain cycles + 128 streamed rows = 510 cycles each
    peak, clock = 2 * 128 * 128 * 1e9, 1e9
    one = fold_seconds(np.array([128.0]), np.array([128.0]), np.array([4096.0]), (128, 128), 1, peak, clock)
    assert one[0] == pytest.approx(32 * 510e-9)
    # a partly filled fold (100 columns, 100 of K) costs a whole fold: utilization 100/128 x 100/128
    part = fold_seconds(np.array([128.0]), np.array([100.0]), np.array([100.0]), (128, 128), 1, peak, clock)
    assert part[0] == pytest.approx(510e-9)
    # two arrays per core share the folds
    two = fold_seconds(np.array([128.0]), np.array([256.0]), np.array([4096.0]), (128, 128), 2, 2 * peak, clock)
    assert two[0] == pytest.approx(32 * 510e-9)


def test_systolic_128x4096x4096_pays_fill_and_drain_at_the_analytical_level():
    hw = acs.load_hardware("systolic-128")
    est = acs.estimate(Gemm(128, 4096, 4096), hw, level="analytical")
    # 32 column tiles of 128 over 4 cores = 8 tiles each, 32 folds of 510 cycles per tile (1 GHz): 130.56 us, 4x the
    # peak-rate time (128 of the 510 cycles stream rows)
    assert est.seconds >= 8 * 32 * 510e-9
    assert est.seconds < 8 * 32 * 510e-9 * 1.1


@pytest.mark.parametrize("preset", ["systolic-128", "tpu-v5e", "tpu-v5p", "gaudi3"])
@pytest.mark.parametrize("shape", [(128, 4096, 4096), (64, 4096, 4096), (1, 4096, 4096), (512, 512, 512),
                                   (1024, 1024, 1024), (2048, 2048, 2048), (4096, 4096, 128), (4096, 128, 4096),
                                   (8192, 8192, 1024), (1000, 1000, 1000)])
def test_systolic_analytical_and_sim_agree_within_10_percent(shape, preset):
    # tpu-v5e / tpu-v5p / gaudi3 give no core SRAM level: both levels size tiles by the same assumed SRAM
    # (HardwareSpec.assumed_core_sram; a 64 KiB guess at the analytical level once left it 8-row blocks, 18-50x
    # slower than the sim)
    hw = acs.load_hardware(preset)
    op = Gemm(*shape)
    analytical = acs.estimate(op, hw, level="analytical").seconds
    sim = acs.estimate(op, hw, level="sim").seconds
    assert abs(analytical / sim - 1) < 0.10


def test_a_tpu_without_a_core_sram_level_streams_tall_row_blocks():
    """TPU v5e (1 TensorCore, 4 MXUs of 128 x 128, 197 TFLOP/s bf16 at 1.5 GHz; no core SRAM level in the preset,
    so 16 MiB is assumed; weights double-buffered): 16384 x 4096 x 4096 in 2048-row blocks of 512 columns (4
    arrays x 128), 8 x 8 = 64 tiles. A tile is 4096 / 128 x 512 / 128 = 128 folds over 4 arrays = 32 per array,
    each streaming 2048 rows at 2 x 128 x 128 x 4 FLOP per row of the core's 197 TFLOP/s x 0.83 (the cross-chip
    16-bit efficiency): 2048 x 131072 / 163.5e12 = 1.6417 us (longer than the 128 cycles, 85 ns, the next fold's
    weights take to shift in), plus one fill and drain of 2 x 128 + 128 - 2 = 382 cycles (254.7 ns) per tile:
    52.79 us per tile, 3.379 ms for 64 tiles, 82 % of the 2.79 ms peak-rate time (the 8-row blocks a 64 KiB
    guess allowed took 137 ms)."""
    hw = acs.load_hardware("tpu-v5e")
    est = acs.estimate(Gemm(16384, 4096, 4096), hw, level="analytical")
    assert (est.details["mapping"]["block_m"], est.details["mapping"]["block_n"]) == (2048, 512)
    assert est.seconds == pytest.approx(64 * (32 * 2048 * 131072 / (197e12 * 0.83) + 382 / 1.5e9), rel=0.005)


def test_double_buffered_weights_pay_the_fill_once_per_tile():
    """A 128 x 128 array, 1 GHz, one array per core, a tile of 1 row x 512 x 512: 4 x 4 = 16 folds. SCALE-Sim's
    count (every fold fills and drains): 16 x (2 x 128 + 128 - 2 + 1) = 16 x 383 = 6,128 cycles. Double-buffered
    weights: a fold is max(1 row, the 128 cycles its weights take to shift in) = 128, the fill and drain once:
    16 x 128 + 382 = 2,430 cycles. With 4,096 streamed rows a fold is its rows: 16 x 4,096 + 382."""
    from accelscope.perf.analytical.gemm import fold_seconds

    clock, peak = 1e9, 2 * 128 * 128 * 1e9  # one row per cycle at peak
    args = (np.array([512.0]), np.array([512.0]), (128, 128), 1, peak, clock)
    assert fold_seconds(np.array([1.0]), *args)[0] == pytest.approx(6128e-9)
    assert fold_seconds(np.array([1.0]), *args, double_buffer=True)[0] == pytest.approx(2430e-9)
    assert fold_seconds(np.array([4096.0]), *args, double_buffer=True)[0] == pytest.approx((16 * 4096 + 382) * 1e-9)


def test_a_tpu_decode_gemv_streams_its_weights_at_the_hbm_rate():
    """TPU v5e, 1 x 4096 x 4096 bf16 (a decode GEMV): 8 tiles of 512 columns (4 MXUs x 128), each 32 x 4 = 128
    folds over the 4 MXUs = 32 per MXU at 128 cycles (the weights shifting in; one row streams) plus one fill and
    drain of 382: 8 x 4,478 = 35,824 cycles = 23.9 us of matrix time, under the 33.6 MB of weights and activations
    at 819 GB/s x 0.95 = 43.2 us: memory-bound (SCALE-Sim's per-fold fill and drain, 8 x 32 x 383 cycles = 65.4 us,
    made it matrix-bound at 1.5x its HBM time)."""
    est = acs.estimate(Gemm(1, 4096, 4096), acs.load_hardware("tpu-v5e"), level="analytical")
    assert est.bound == "memory"
    assert est.breakdown["matrix"] == pytest.approx(8 * (32 * 128 + 382) / 1.5e9, rel=0.01)
    assert est.seconds < 65.4e-6


def test_no_l2_chip_keeps_the_a_panel_resident_per_core():
    hw = acs.load_hardware("systolic-128")  # no chip-level cache: a core re-reads nothing another core read
    m = acs.estimate(Gemm(4096, 4096, 128), hw, level="analytical").details["mapping"]
    # 2048x128 tiles: 2 rows x 32 columns, 16 contiguous tiles per core (N fastest), so each core stays in one row
    # and reads its 2048 x 128 A panel once (4 x 512 KiB); every tile loads its 128 x 128 B panel (64 x 32 KiB);
    # C (32 MiB) is written once
    assert (m["block_m"], m["block_n"]) == (2048, 128)
    a_reads, b_reads, c = 4 * 2048 * 128 * 2, 64 * 128 * 128 * 2, 4096 * 4096 * 2
    assert m["hbm_bytes"] == pytest.approx(a_reads + b_reads + c)


# ----- skinny GEMMs: what limits a decode GEMM --------------------------------------------------------------------
def test_memory_bound_gemm_pays_the_first_dram_latency(h100):
    est = acs.estimate(Gemm(1, 8192, 8192, "fp16"), h100, level="analytical")
    m = est.details["mapping"]
    weights = 8192 * 8192 * 2
    hbm = h100.main_memory
    # 134 MB at 3.35 TB/s x 0.95 = 42.2 us, after one 600 ns DRAM latency
    assert m["hbm_seconds"] >= weights / (hbm.bandwidth * hbm.efficiency) + hbm.latency


def test_few_ctas_stream_at_bytes_in_flight_over_latency():
    # one CTA: a 64x256 tile, 2 stages of 64-element K slabs -> one (64 + 256) x 64 x 2 B = 40 KiB slab in flight
    hw = acs.load_hardware("h100-sxm").with_overrides({"compute.cores": 1})
    m = acs.estimate(Gemm(64, 256, 65536, "fp16"), hw, level="analytical").details["mapping"]
    slab = (m["block_m"] + m["block_n"]) * m["block_k"] * 2
    rate = (m["stages"] - 1) * slab / hw.main_memory.latency  # Little's law, B/s
    operands = (64 + 256) * 65536 * 2
    assert rate < hw.main_memory.bandwidth * hw.main_memory.efficiency
    assert m["hbm_seconds"] >= operands / rate * 0.99


def test_split_k_reduction_is_a_second_kernel(h100):
    m = acs.estimate(Gemm(256, 256, 65536), h100, level="analytical").details["mapping"]
    assert m["split_k"] > 1
    assert m["reduction_seconds"] >= h100.runtime.launch_latency


def test_wgmma_and_tcgen05_tiles_may_be_narrower_than_256_columns(h100):
    # wgmma.m64nNk16 takes N = 8..256: a 4096-wide skinny GEMM can spread over 64-column tiles (64 CTAs)
    m = acs.estimate(Gemm(16, 4096, 4096, "fp16"), h100, level="analytical").details["mapping"]
    assert m["block_n"] < 256


def test_triton_flash_attention_blocks_padding_and_serial_loads():
    """MPT's Triton FlashAttention (flash_attn_triton.py): 128 x 128 blocks, head dim padded to a power of two,
    each pair's K/V tiles loaded before its MMAs (num_stages=1). By hand, A100, one head of 1024 causal tokens:
    - pairs: 8 query blocks x 8 key blocks, causal: 1 + 2 + ... + 8 = 36 (FA2's 128 x 64 tiles: 2 x 36 = 72);
    - serial load per forward pair: 128 keys x (128 + 128) x 2 B = 65,536 B at the core's share of the L2
      (7.22 TB/s / 108 SMs = 66.85 GB/s; the A100 preset gives the L2 no latency) = 0.980 us;
    - d = 80 and d = 112 run the MMAs at BLOCK_HEADDIM 128: the same pair time as d = 128."""
    a100 = "a100-sxm-80gb"
    op = Attention(batch=1, heads=1, head_dim=128, q_len=1024, kv_len=1024, causal=True, variant="triton")
    fwd = acs.estimate(op, a100, level="analytical")
    fa2 = acs.estimate(Attention(batch=1, heads=1, head_dim=128, q_len=1024, kv_len=1024, causal=True,
                                 variant="fa2"), a100, level="analytical")
    assert fwd.details["block_pairs"] == 36 and fa2.details["block_pairs"] == 72
    assert (fwd.details["q_block"], fwd.details["kv_block"]) == (128, 128)
    assert fwd.details["serial_load_seconds"] == pytest.approx(65536 / (7.22e12 / 108), rel=1e-3)
    pair = {d: acs.estimate(Attention(batch=8, heads=16, head_dim=d, q_len=2048, kv_len=2048, causal=True,
                                      variant="triton"), a100, level="analytical").details for d in (80, 112, 128)}
    assert pair[80]["block_headdim"] == pair[112]["block_headdim"] == 128
    assert pair[80]["pair_seconds"] == pytest.approx(pair[128]["pair_seconds"])
    assert pair[112]["pair_seconds"] == pytest.approx(pair[128]["pair_seconds"])
    # on Hopper tl.dot is mma.sync (no wgmma in pre-MLIR Triton): slower than FA3 and than FA2
    h100 = {v: acs.estimate(Attention(batch=8, heads=16, head_dim=128, q_len=2048, kv_len=2048, causal=True,
                                      variant=v), "h100-sxm", level="analytical") for v in ("triton", "fa2", "fa3")}
    assert h100["triton"].details["mma_sync_fraction"] == 0.667
    assert h100["triton"].seconds > h100["fa2"].seconds > h100["fa3"].seconds


def test_triton_flash_attention_backward_autotunes_sequence_parallel():
    """The backward's autotuner keeps the faster of SEQUENCE_PARALLEL False (one program per (batch, head) over
    all its key blocks) and True (one per key block, dQ by atomics). One head of 4096 tokens: False would run all
    32 x 33 / 2 = 528 pairs on one SM while True spreads them over 32 programs, so True wins. Forward and
    backward together are the two kernels' sum."""
    a100 = "a100-sxm-80gb"
    one = acs.estimate(Attention(batch=1, heads=1, head_dim=128, q_len=4096, kv_len=4096, causal=True,
                                 phase="bwd", variant="triton"), a100, level="analytical")
    assert one.details["sequence_parallel"] is True
    both = acs.estimate(Attention(batch=1, heads=1, head_dim=128, q_len=4096, kv_len=4096, causal=True,
                                  phase="fwd_bwd", variant="triton"), a100, level="analytical")
    fwd = acs.estimate(Attention(batch=1, heads=1, head_dim=128, q_len=4096, kv_len=4096, causal=True,
                                 variant="triton"), a100, level="analytical")
    assert both.seconds == pytest.approx(fwd.seconds + one.seconds)  # two kernels, a launch each


def test_triton_flash_attention_pays_its_round_trips_and_masks_every_causal_pair():
    """As flash_attn_triton.py's forward loop is written: the K load, the rescale's store-and-reload through TMP
    and the V load are three dependent L2 round trips per pair, and MPT's key-padding bias load a fourth
    (TRITON_BIAS_ROUND_TRIPS). H100 (L2 260 ns, 6.65 TB/s over 132 SMs):
    4 x 260 ns + 65,536 B / 50.38 GB/s = 1.04 + 1.30 = 2.341 us. The causal mask is applied to every pair (not
    only the diagonal), so a causal head costs more per pair than a non-causal one; FA2 masks only the diagonal
    pairs. (On H100, whose ALU pipe has half the FMA pipe's lanes, the mask's compare and select set the
    softmax's pace; on A100, 64 lanes each, the bias FFMA leaves the FMA pipe the longer one and hides them.)"""
    op = Attention(batch=1, heads=1, head_dim=128, q_len=1024, kv_len=1024, causal=True, variant="triton")
    est = acs.estimate(op, "h100-sxm", level="analytical")
    assert est.details["serial_load_seconds"] == pytest.approx(4 * 260e-9 + 65536 / (6.65e12 / 132), rel=1e-6)
    args = dict(batch=8, heads=16, head_dim=128, q_len=4096, kv_len=4096)

    def pair(variant, causal):
        return acs.estimate(Attention(**args, causal=causal, variant=variant), "h100-sxm",
                            level="analytical").details["pair_seconds"]

    assert pair("triton", True) > pair("triton", False)
    # FA2 masks its 32 x 2 = 64 diagonal pairs of 2 x 528 = 1056 (4096 tokens, 128 x 64 tiles): a smaller share
    assert pair("triton", True) / pair("triton", False) > pair("fa2", True) / pair("fa2", False)


def test_rotary_pays_each_of_its_row_loops_in_whole_rounds(h100):
    """vLLM's rotary kernel loops over the query heads' pairs, then the key heads' (Elementwise.row_loops): one
    token of 10 query and 10 key heads x 64 pairs = 640 + 640 pairs, a block of min(640, 512) = 512 threads:
    ceil(640 / 512) = 2 rounds per loop, 4 in all, + the positions load in front (the cos/sin load overlaps the
    first round) = 5 x 600 ns = 3.0 us; one loop of 1280 pairs would take ceil(1280 / 512) = 3 rounds (2.4 us)."""
    op = Elementwise("rope", 1280, "fp16", inputs=2, outputs=2, flops_per_element=6, kernel="rope", rows=1,
                     row_loops=(640, 640))
    assert acs.estimate(op, h100, level="analytical").details["latency_bound_seconds"] == pytest.approx(
        5 * 600e-9, rel=1e-9)
    flat = dataclasses.replace(op, row_loops=None)
    assert acs.estimate(flat, h100, level="analytical").details["latency_bound_seconds"] == pytest.approx(
        4 * 600e-9, rel=1e-9)
    # 512-thread blocks: 2048 / 512 = 4 blocks per SM x 132 = 528 rows a wave; 529 tokens take two whole waves
    many = dataclasses.replace(op, elements=529 * 1280, rows=529)
    assert acs.estimate(many, h100, level="analytical").details["latency_bound_seconds"] == pytest.approx(
        2 * 5 * 600e-9, rel=1e-9)
    with pytest.raises(ValueError, match="row_loops"):
        Elementwise("rope", 1280, "fp16", rows=1, row_loops=(640, 600))
    with pytest.raises(ValueError, match="row_loops"):
        Elementwise("rope", 1280, "fp16", row_loops=(640, 640))


def test_a_fill_pays_no_first_access_latency(h100):
    """A kernel that reads nothing (a zero fill, `new_zeros`) has no load waiting on DRAM: launch + its bytes at
    the write cost over the achievable bandwidth + the write tail (the last stores reaching L2). 1 GiB of fp8 on
    H100: 2.5 us + 2^30 x 1.24 / (3.35 TB/s x 0.95) + 260 ns = 421.12 us; a copy of the same bytes waits one
    600 ns DRAM latency before its first store."""
    n = 1 << 30
    fill = acs.estimate(Elementwise("copy", n, "fp8_e4m3", inputs=0, outputs=1), h100, level="analytical")
    assert fill.seconds == pytest.approx(2.5e-6 + n * 1.24 / (3.35e12 * 0.95) + 260e-9, rel=1e-12)


def test_ring_plateau_across_nodes_only_once_every_channel_has_64_bytes_per_rank():
    """tuning.cc ncclTopoGetAlgoTime: an inter-node Simple ring all-reduce pays its latency x 1.4 once nBytes /
    (nChannels x nRanks) >= 64; with at most 32 channels that is certain from 64 x 32 x nRanks bytes."""
    from accelscope.perf.nccl import nccl_multinode_seconds

    # 2 nodes x 1 GPU, 25 GB/s NIC: steps 2, net steps 2 x 2 = 4 (tuning.cc counts 2 nNodes), so no NVLink step;
    # latency 8.4 + 4 x 14 = 64.4 us, x 1.4 = 90.16 us; 64 MiB / (25 GB/s x 2/2) = 2684.35 us
    big, chosen = nccl_multinode_seconds("all_reduce", 64 << 20, 2, 2, 0.0, 25e9, algorithm="ring")
    assert chosen == "ring/simple"
    assert big == pytest.approx(90.16e-6 + (64 << 20) / 25e9, rel=1e-9)
    # 2 KiB < 64 x 32 x 2 = 4 KiB: no plateau factor; Simple at 64.4 us + 2048 / 25e9 s
    from accelscope.perf.nccl import _net_ring
    small = _net_ring("all_reduce", 2048, 2, 2, 1, 25e9, 39e9, 2)
    assert small == pytest.approx(64.4e-6 + 2048 / 25e9, rel=1e-9)


def test_nvlink_pairs_over_pcie_are_one_nccl_node():
    """h100-nvl: NVLink bridges join cards in pairs, the pairs meet over PCIe Gen5 x16, which NCCL plans at
    16 lanes x 240 (x100 Mb/s) / 80 = 48 GB/s (topo.cc ncclTopoAddPci). NCCL sees ONE node: a ring over the 4 GPUs
    whose steps cost hwLat[PCI] (LL 1.0, Simple 5.7 us), no LL128 (only enabled over NVLink), bus = the PCIe link."""
    from accelscope.perf.nccl import nccl_pcie_node_seconds

    nvl = acs.load_hardware("h100-nvl")
    assert nvl.interconnect.scale_out.bandwidth * nvl.interconnect.scale_out.efficiency == pytest.approx(48e9)
    # 64 MiB, ring/simple: 8.4 + 6 x 5.7 = 42.6 us + 64 MiB / (48 GB/s x 4/6) = 2097.15 us -> 2139.75 us
    big = acs.estimate(Collective("all_reduce", 64 << 20, 4), nvl, level="analytical")
    assert big.details["algorithm"] == "ring/simple x 4 over pcie"
    assert big.breakdown["interconnect"] == pytest.approx(42.6e-6 + (64 << 20) / 32e9, rel=1e-9)
    # 2 KiB, ring/LL: 6.6 + 6 x 1.0 = 12.6 us + 2048 / (min(87.7, 48/4) GB/s x 4/6) = 12.856 us; tree/LL pays
    # 6.8 + 2 x 3 x 1.0 = 12.8 us + 2048 / (48/3.8 x 0.92 x 0.8 (correction at 2^5 x 64 B) x 0.5 GB/s) = 13.24 us
    small, chosen = nccl_pcie_node_seconds("all_reduce", 2048, 4, 247.2e9, 48e9)
    assert chosen == "ring/ll"
    assert small == pytest.approx(12.6e-6 + 2048 / 8e9, rel=1e-9)
    # no LL128 at any size
    for size in (1 << 16, 1 << 20, 1 << 24):
        assert "ll128" not in nccl_pcie_node_seconds("all_reduce", size, 4, 247.2e9, 48e9)[1]


def test_nvls_all_reduce_runs_whole_blocks_per_channel():
    """NCCL runs an NVLS all-reduce on 16 channels (NCCL_NVLS_NCHANNELS) over blocks of nHeads x chunk bytes
    (all_reduce.h); enqueue.cc halves the 128 KiB chunk for smaller buffers. The channel with the most blocks sets
    the time, so a buffer that does not fill every channel runs below the algorithm bandwidth."""
    from accelscope.perf.nccl import nccl_seconds, nvls_allreduce_seconds, nvls_chunk_bytes

    # 8 ranks, concurrentOps = 16 x 8 = 128: 64 KiB below 64 x 128 x 128 KiB = 1 GiB, 32 KiB below 8 x 128 x 64 KiB
    # = 64 MiB, 16 KiB below 2 x 128 x 32 KiB = 8 MiB
    assert [nvls_chunk_bytes(s, 8) for s in (1 << 20, 8 << 20, 16 << 20, 64 << 20, 1 << 30)] == [
        16384, 32768, 32768, 65536, 131072]
    algbw = 370.8e9 * 0.89 * 5 / 6  # h100-sxm: the bus NCCL plans x NVLS efficiency x 5/6
    # 1 MiB: 8 blocks of 8 x 16 KiB on 8 of the 16 channels: one 128 KiB block at algbw / 16 per channel
    assert nvls_allreduce_seconds(1 << 20, 8, algbw) == pytest.approx(23e-6 + 131072 / (algbw / 16), rel=1e-12)
    # 16 MiB: 64 blocks of 256 KiB, 4 per channel, every channel busy: the bytes at the algorithm bandwidth
    assert nvls_allreduce_seconds(16 << 20, 8, algbw) == pytest.approx(23e-6 + (16 << 20) / algbw, rel=1e-12)
    # 2 KiB: one partial block on channel 0, 2048 B at algbw / 16
    assert nvls_allreduce_seconds(2048, 8, algbw) == pytest.approx(23e-6 + 2048 / (algbw / 16), rel=1e-12)
    # NCCL still picks NVLS by its tuning model (23 + 1 MiB / algbw = 26.8 us, ahead of ring/LL's 36 us) and the
    # kernel then takes the 30.6 us above
    seconds, chosen = nccl_seconds("all_reduce", 1 << 20, 8, 370.8e9, nvls=True, nvls_efficiency=0.89)
    assert chosen == "nvls/simple"
    assert seconds == pytest.approx(23e-6 + 131072 / (algbw / 16), rel=1e-12)
