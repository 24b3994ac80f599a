"""Hopper / Blackwell attention kernel mechanisms (perf/analytical/attention.py), each checked against a value
derived by hand in a comment."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

import accelscope as acs
from accelscope.hardware import HardwareSpec, load_hardware
from accelscope.perf.analytical.attention import _longest_cta

BWD = dict(batch=1, heads=16, head_dim=128, q_len=4096, kv_len=4096, causal=False, phase="bwd", dtype="bf16")


@pytest.mark.parametrize("chip", ["b200", "gb200", "gb300"])
def test_blackwell_presets_carry_memory_latencies(chip):
    # Chips and Cheese's B200 article: ~150 ns L2 hit latency within a die; DRAM estimated at 800 ns (above H100's
    # ~600 ns, as the article measures)
    hw = load_hardware(chip)
    assert hw.memory["l2"].latency == pytest.approx(150e-9)
    assert hw.main_memory.latency == pytest.approx(800e-9)
    # the same article's global atomics: a cmpxchg bounce takes 90-100 ns within an L2 partition, 190-220 ns across
    # the dies: +110 ns (205 - 95) on the 150 ns hit, 260 ns to the other die's partition
    assert hw.memory["l2"].far_latency == pytest.approx(260e-9)


def test_a_line_shared_chip_wide_pays_the_mean_of_the_near_and_far_partition():
    # B200: a lock homed on one die is near for that die's 74 SMs and far for the other 74: (150 + 260) / 2 = 205 ns
    from accelscope.perf.analytical.attention import _chip_shared_line_latency
    b200 = load_hardware("b200")
    assert b200.memory["l2"].shared_line_latency() == pytest.approx(205e-9)
    assert _chip_shared_line_latency(b200) == pytest.approx(205e-9)
    # H200 gives no far_latency (its 260 ns already reads the far partition off the H100 chart): 260 ns as before
    h200 = load_hardware("h200-sxm")
    assert h200.memory["l2"].far_latency is None
    assert _chip_shared_line_latency(h200) == pytest.approx(260e-9)
    # no latency at all (b300 gives none): 0
    assert _chip_shared_line_latency(b200.with_overrides({"memory.l2.latency": None,
                                                          "memory.l2.far_latency": None})) == 0.0


def _pair(op: acs.ops.Attention, chip: str | HardwareSpec) -> float:
    return acs.estimate(op, chip, level="analytical").details["pair_seconds"]


def test_deterministic_backward_pays_three_l2_round_trips_per_pair():
    # cuDNN 16-bit on B200: the semaphore is shared by key-block CTAs on both dies, each trip the mean of the
    # near (150 ns) and far (260 ns) partition: 3 trips x 205 ns = 615 ns more per block pair than with atomics
    op = acs.ops.Attention(**BWD, variant="cudnn")
    det = acs.ops.Attention(**BWD, variant="cudnn", deterministic=True)
    assert _pair(det, "b200") - _pair(op, "b200") == pytest.approx(3 * 205e-9, rel=1e-9)
    # FA3 on H100: 3 x 260 ns (the h100-sxm preset's L2 latency) = 780 ns
    op3 = acs.ops.Attention(**BWD, variant="fa3")
    det3 = acs.ops.Attention(**BWD, variant="fa3", deterministic=True)
    assert _pair(det3, "h100-sxm") - _pair(op3, "h100-sxm") == pytest.approx(3 * 260e-9, rel=1e-9)
    # and the whole call: 16 heads x 32 query blocks = 512 units on 148 SMs = 4 waves (3 of mean pairs + the last
    # one's longest, all 32 key blocks here): 4 x 32 pairs x 615 ns = 78.7 us slower
    slower = acs.estimate(det, "b200", level="analytical").seconds - acs.estimate(op, "b200", level="analytical").seconds
    assert slower == pytest.approx(4 * 32 * 615e-9, rel=1e-6)


@pytest.mark.parametrize("kw", [dict(dtype="fp8_e4m3"), dict(head_dim=192, v_head_dim=128)])
def test_deterministic_is_free_where_cudnn_measured_it_free(kw):
    # cuDNN's FP8 and MLA-shaped backward on Blackwell: deterministic and not measured within 0.94-1.05 of each other
    shape = {**BWD, **kw}
    op = acs.ops.Attention(**shape, variant="cudnn")
    det = acs.ops.Attention(**shape, variant="cudnn", deterministic=True)
    assert _pair(det, "gb200") == _pair(op, "gb200")


def test_forward_fill_and_drain_expose_one_pairs_mmas_per_cta():
    # B200 bf16, hd 128, 128 x 128 tile: one pair's MMAs are 2 x 128 x 128 x (128 + 128) FLOP = 8.39 MFLOP at
    # the SM's share of the sustained peak, 2250e12 x eff(bf16) / 148 FLOP/s
    hw = load_hardware("b200")
    op = acs.ops.Attention(batch=1, heads=16, head_dim=128, q_len=4096, kv_len=4096, variant="cudnn")
    est = acs.estimate(op, hw, level="analytical")
    mma = 2 * 128 * 128 * 256 / (2250e12 * hw.matrix_efficiency("bf16") / 148)
    # the rest of the unit overhead: DRAM latency (800 ns) + Q in and O out, 128 x (128 + 128) x 2 B, at the share
    # of the HBM's achievable bandwidth each of the 148 active units gets
    hbm = hw.main_memory
    load = 800e-9 + 128 * 256 * 2 / (hbm.bandwidth * hbm.efficiency / 148)
    assert est.details["unit_overhead_seconds"] == pytest.approx(load + mma, rel=1e-9)
    assert est.details["q_tiles_per_cta"] == 1  # cuDNN: one query tile per CTA


def test_fa4_forward_owns_two_query_tiles_per_cta():
    # 4096 rows = 32 tiles of 128 -> 16 CTAs per head, 16 heads -> 256 CTAs = 2 waves on 148 SMs
    op = acs.ops.Attention(batch=1, heads=16, head_dim=128, q_len=4096, kv_len=4096, causal=True, variant="fa4")
    d = acs.estimate(op, "b200", level="analytical").details
    assert d["q_tiles_per_cta"] == 2 and d["units"] == 16 * 16 and d["waves"] == math.ceil(256 / 148) == 2
    # the busiest CTA holds the last two tiles, 31 + 32 key blocks up to the diagonal
    assert _longest_cta(32 * 33 // 2, 32, 32, 2, op, 128, 128, 32) == 63
    # cuDNN on the same chip: one tile per CTA, 512 units
    cudnn = acs.estimate(replace(op, variant="cudnn"), "b200", level="analytical")
    assert cudnn.details["units"] == 512


def test_mxfp8_backward_quantizes_ds_a_second_time():
    # GB200, cuDNN, non-causal hd 128, 128 x 128 pair (16384 scores). FP8 per score: FMA pipe 3 (softmax) + 2 (P, dS
    # scale) = 5 slots, ALU 1 (two converts); MXFP8 adds the P and dS block amaxes (2 ALU) and dS's second
    # quantization (1 FMA, 1.5 ALU): FMA 6, ALU 4.5. The ALU pipe issues half the FMA pipe's rate (64 of 128
    # lanes), so the FP32-pipe time goes from 5 / L to max(6 / L, 9 / L) = 9 / L per score: 4 / L more
    # The MMAs are held at one rate (matrix.block_scaled_fraction 1) to isolate that; with the preset's 0.951 the
    # MXFP8 pair is slower still.
    hw = load_hardware("gb200").with_overrides({"matrix.block_scaled_fraction": 1.0})
    lane_rate = hw.vector_peak("fp32") / hw.compute.cores / 2  # FP32-pipe instructions per second per SM
    fp8 = acs.ops.Attention(**{**BWD, "dtype": "fp8_e4m3"}, variant="cudnn")
    mx = acs.ops.Attention(**{**BWD, "dtype": "mxfp8"}, variant="cudnn")
    assert _pair(mx, hw) - _pair(fp8, hw) == pytest.approx(16384 * 4 / lane_rate, rel=1e-9)
    assert _pair(mx, "gb200") - _pair(fp8, "gb200") > 16384 * 4 / lane_rate


def test_cudnn_fp8_backward_masks_every_pair_of_a_window_it_does_not_skip():
    # GB200, cuDNN FP8 bwd, causal hd 128, 4096 tokens, 128-key window: the window's blocks are not skipped, and
    # every pair applies the window's mask (two bounds: two compares and a select, 3 ALU slots per score; the ALU
    # pipe has 64 of the 128 lanes, so a slot costs 2 / L). FP32-pipe per score: FMA 3 + 2 (P, dS scales) = 5 / L;
    # ALU with the mask (1 + 3) x 2 / L = 8 / L, without it (only the 32 diagonal pairs of 528 masked, causal:
    # 1 + 2 x 32 / 528) x 2 / L < 5 / L. So the window adds 3 / L per score, 3 x 16384 / L per pair.
    hw = load_hardware("gb200")
    lane_rate = hw.vector_peak("fp32") / hw.compute.cores / 2
    shape = {**BWD, "dtype": "fp8_e4m3", "causal": True}
    causal = acs.ops.Attention(**shape, variant="cudnn")
    windowed = acs.ops.Attention(**shape, window=128, variant="cudnn")
    assert _pair(windowed, "gb200") - _pair(causal, "gb200") == pytest.approx(3 * 16384 / lane_rate, rel=1e-9)


def test_gqa_backward_reduces_each_ctas_dk_dv_tile_into_l2():
    # B200, cuDNN bf16 bwd, hd 128, 8 query heads per KV head: each CTA adds its 128 x (128 + 128) fp32 dK, dV
    # tile (128 KiB) into the group's accumulators at its share of the rate the L2 applies reductions (the preset's
    # reduction_bandwidth, 7.6 TB/s / 148 SMs = 51.4 GB/s: 131,072 B / 51.4 GB/s = 2.55 us); without GQA nothing
    # is reduced
    hw = load_hardware("b200")
    share = 7.6e12 / 148
    mha = acs.ops.Attention(**BWD, variant="cudnn")
    gqa = acs.ops.Attention(**BWD, kv_heads=2, variant="cudnn")
    overhead = [acs.estimate(o, hw, level="analytical").details["unit_overhead_seconds"] for o in (mha, gqa)]
    assert overhead[1] - overhead[0] == pytest.approx(128 * 256 * 4 / share, rel=1e-9) == pytest.approx(2.554e-6,
                                                                                                       rel=1e-3)


def test_sdpa_math_runs_the_unfused_graph_in_fp32():
    # torch SDPA's math backend upcasts bf16 to fp32 (attention.cpp: allow_fp16_bf16_reduction_math_sdp False):
    # B 1, H 2, S 256, D 64 causal forward: S = QK^T and O = PV as fp32 GEMMs, then on the 2 x 256 x 256 = 131,072
    # fp32 scores: the mask's in-place add (read + write: 2 x 4 B), _safe_softmax = softmax (2 x 4 B), isneginf
    # (4 B read, a 1-B bool written), all() over each row (1 B read; 512 rows x 1 B written) and where (2 x 4 B),
    # and the cast of P back to bf16 (4 B read + 2 B written) = 36 B per score + 512 B = 4,719,104 B
    from accelscope.perf.analytical.attention import _sdpa_math_parts
    op = acs.ops.Attention(batch=1, heads=2, head_dim=64, q_len=256, kv_len=256, causal=True, variant="sdpa_math")
    mm, st = _sdpa_math_parts(op)
    assert [(g.m, g.n, g.k, g.batch, g.dtype) for g in mm] == [(256, 256, 64, 2, "fp32"), (256, 64, 256, 2, "fp32")]
    assert sum(k.cost().bytes_read + k.cost().bytes_written for k in st) == 36 * 131_072 + 512 == 4_719_104
    # backward: dP = dO V^T, dV = P^T dO, dQ = dS K, dK = dS^T Q: 4 x 2 x 2 x 256 x 256 x 64 = 67,108,864 FLOP
    mm_b, st_b = _sdpa_math_parts(replace(op, phase="bwd"))
    assert sum(g.cost().flops for g in mm_b) == 67_108_864
    # the softmax backward reads P and dP and writes dS (3 x 4 B a score)
    assert sum(k.cost().bytes_read + k.cost().bytes_written for k in st_b) == 12 * 131_072
    # an fp32 input is not cast back, and "math" (unfused in the input dtype) stays cheaper on bf16 input
    assert [getattr(k, "op", "softmax") for k in _sdpa_math_parts(replace(op, dtype="fp32"))[1]] == \
        ["softmax", "isneginf", "max", "where", "add"]
    b200 = load_hardware("b200")
    assert acs.estimate(op, b200, level="analytical").seconds > \
        acs.estimate(replace(op, variant="math"), b200, level="analytical").seconds


def test_reductions_run_at_the_l2_reduction_rate_where_the_spec_gives_one():
    # FA2 backward, bf16 hd 128 (128 x 64 pairs): each pair reduces a 128 x 128 fp32 dQ tile (65,536 B) into L2.
    # H100 has no reduction_bandwidth: its share of the achievable L2 read rate, 6.65 TB/s / 132 SMs = 50.4 GB/s,
    # 1.30 us a pair. B200's preset gives 7.6 TB/s (Hopper's 27.5 B/clk/SM x 148 SMs x 1.86 GHz), not the 14 TB/s
    # L2 read bandwidth: 65,536 B / (7.6 TB/s / 148) = 1.276 us, where the read rate would give 0.693 us.
    from accelscope.hardware.spec import MemoryLevel
    h100, b200 = load_hardware("h100-sxm"), load_hardware("b200")
    assert h100.memory["l2"].reduction_rate() == pytest.approx(6.65e12)
    assert b200.memory["l2"].reduction_rate() == pytest.approx(7.6e12)
    assert b200.memory["l2"].reduction_rate() < b200.memory["l2"].bandwidth == pytest.approx(14e12)
    op = acs.ops.Attention(**BWD, variant="fa2")
    fast = b200.with_overrides({"memory.l2.reduction_bandwidth": 14e12})
    pairs = [acs.estimate(op, hw, level="analytical").details["pair_seconds"] for hw in (b200, fast)]
    assert pairs[0] - pairs[1] == pytest.approx(65_536 * 148 / 7.6e12 - 65_536 * 148 / 14e12, rel=1e-9)
    assert pairs[0] - pairs[1] == pytest.approx(0.583e-6, rel=1e-2)
    with pytest.raises(ValueError):
        MemoryLevel(kind="cache", scope="chip", capacity=1 << 20, bandwidth=1e12, reduction_bandwidth=-1)


def test_a_window_masks_with_two_bounds(monkeypatch):
    # GB300 cuDNN forward, hd 64, causal, 8192 tokens, 128-key window: both key blocks of each query block are
    # masked (the diagonal and the window's far edge), with the window's two-bound mask: ALU slots per score 1.5
    # (max, half a convert) + 2 (compare, select) + 1 (the left bound's compare) = 4.5 on the ALU pipe, 64 of the
    # 128 FP32 lanes: 80 TFLOP/s / 160 SMs / 2 (an FMA) x 64 / 128 = 125 G slots/s per SM: 16,384 x 4.5 / 125e9 =
    # 0.590 us, above the exps (16,384 / (32 x 1.91 GHz) = 0.268 us) and the MMAs (2 x 128 x 128 x 128 at 2.5 PF x
    # 0.83 / 160 SMs = 0.323 us), so the softmax is the pair's longer stream and PINGPONG_LOSS of the MMAs is
    # exposed; with one bound, 3.5 slots: 0.459 us.
    import importlib
    att = importlib.import_module("accelscope.perf.analytical.attention")
    op = acs.ops.Attention(batch=2, heads=128, head_dim=64, q_len=8192, kv_len=8192, causal=True, window=128,
                           variant="cudnn")
    alu = 80e12 / 160 / 2 * 64 / 128
    mma = 2 * 128 * 128 * 128 / (2.5e15 * 0.83 / 160)
    assert mma == pytest.approx(0.3234e-6, rel=1e-3)
    assert _pair(op, "gb300") == pytest.approx(16384 * 4.5 / alu + att.PINGPONG_LOSS * mma, rel=1e-9)
    assert 16384 * 4.5 / alu == pytest.approx(0.590e-6, rel=2e-3)
    monkeypatch.setattr(att, "LOCAL_MASK_SLOTS", 0.0)
    assert _pair(op, "gb300") == pytest.approx(16384 * 3.5 / alu + att.PINGPONG_LOSS * mma, rel=1e-9)


def test_cudnn_fp8_and_mla_backward_on_blackwell_reduce_no_dq_with_atomics():
    # GB300 cuDNN backward, hd 128, 4096 tokens: with the L2's reduction rate cut to 0.1 TB/s (625 MB/s per SM of
    # 160), the bf16 kernel's dQ atomics (128 x 128 fp32 = 65,536 B a pair) take 65,536 / 625e6 = 104.9 us and
    # bind the pair; cuDNN's FP8 and MLA-shaped (192 / 128) backward do not reduce dQ with atomics across CTAs
    # (they run as fast deterministic as not), so their pairs do not move
    hw = load_hardware("gb300")
    slow = hw.with_overrides({"memory.l2.reduction_bandwidth": 1e11})
    bf16 = acs.ops.Attention(**BWD, variant="cudnn")
    assert acs.estimate(bf16, slow, level="analytical").details["pair_seconds"] == pytest.approx(65_536 / 625e6)
    for op in (replace(bf16, dtype="fp8_e4m3"), replace(bf16, head_dim=192, v_head_dim=128)):
        pairs = [acs.estimate(op, h, level="analytical").details["pair_seconds"] for h in (hw, slow)]
        assert pairs[0] == pairs[1] < 5e-6  # a few us, far from the 104.9 us an atomic dQ would take


def test_aotriton_split_backward_matrix_work_on_mi300x():
    # AOTriton <= 0.10 (SDPA's flash backend on ROCm) splits the backward into a dK/dV kernel (S, dP, dV, dK) and a
    # dQ kernel (S, dP, dQ): 7 matmuls per score. MI300X bf16 per CU: 1307.4e12 x (1207 / 2100) x 0.942 / 304 =
    # 2.3285e12 FLOP/s; a 128 x 64 pair (hd 128) = 8192 scores: 2 x 8192 x (4 x 128 + 3 x 128) / 2.3285e12 =
    # 6.3045 us. Non-causal 4096: 32 query x 64 key blocks per head, 16 heads x 32 = 512 units -> 2 waves of
    # 64 pairs: 128 x 6.3045 us = 806.98 us of matrix time; FlashAttention-2's 5 matmuls: 5 / 7 of it.
    op = acs.ops.Attention(**{**BWD, "variant": "aotriton"})
    split = acs.estimate(op, "mi300x", level="analytical")
    fused = acs.estimate(replace(op, variant="fa2"), "mi300x", level="analytical")
    assert split.breakdown["matrix"] == pytest.approx(806.98e-6, rel=1e-4)
    assert fused.breakdown["matrix"] == pytest.approx(806.98e-6 * 5 / 7, rel=1e-4)
    # the exp and dS work runs once in each kernel: twice FlashAttention-2's
    assert split.breakdown["sfu"] == pytest.approx(2 * fused.breakdown["sfu"])


def test_aotriton_split_backward_counts_gemms_by_head_dim():
    # MLA-shaped heads (d = 192, dv = 128): the split backward's matmuls per score are 4 x 192 + 3 x 128 = 1152
    # multiply-adds against the forward's 192 + 128 = 320 (same blocks, same waves): 1152 / 320 = 3.6, not 3.5
    op = acs.ops.Attention(**{**BWD, "head_dim": 192, "v_head_dim": 128, "variant": "aotriton"})
    fwd = replace(op, phase="fwd")
    split = acs.estimate(op, "mi300x", level="analytical").breakdown["matrix"]
    assert split / acs.estimate(fwd, "mi300x", level="analytical").breakdown["matrix"] == pytest.approx(3.6)
    # the forward is the same kernel shape either way
    assert acs.estimate(fwd, "mi300x", level="analytical").seconds == pytest.approx(
        acs.estimate(replace(fwd, variant="fa2"), "mi300x", level="analytical").seconds)


def test_gfx942_rounds_p_to_bf16_with_integer_ops():
    # gfx942 has no fp32 -> bf16 convert: 4.5 ALU instructions per element (isa.narrow_ops) instead of half a
    # packed convert. MI300X at 1207 MHz: FP32 lane instructions 163.4e12 x (1207 / 2100) / 304 / 2 = 154.46e9 /s
    # per CU, ALU (unpacked, 64 lanes) 77.23e9 /s. Forward pair 128 x 64 = 8192 scores, non-causal, hd 128:
    # FMA pipe 8192 x (2 + 128 / 64) / 154.46e9 = 0.2121 us; ALU 8192 x 1.5 / 77.23e9 = 0.1591 us with a native
    # convert, 8192 x (1.5 + 4) / 77.23e9 = 0.5834 us without. On CDNA's single VALU (vector.alu_pipe: false)
    # the two add, so the pair grows by the 4 extra ALU slots: 8192 x 4 / 77.23e9 = 0.4243 us.
    hw = load_hardware("mi300x")
    assert hw.narrow_slots("bf16") == 4.5 and hw.narrow_slots("fp16") == 0.5
    op = acs.ops.Attention(**{**BWD, "phase": "fwd", "variant": "fa2"})
    native = hw.with_overrides({"isa.narrow_ops.bf16": 0.5})
    grow = acs.estimate(op, hw, level="analytical").details["pair_seconds"] - \
        acs.estimate(op, native, level="analytical").details["pair_seconds"]
    assert grow == pytest.approx(0.4243e-6, rel=2e-3)
    # fp16 P has a native convert (v_cvt_pkrtz_f16_f32): unchanged
    half = replace(op, dtype="fp16")
    assert acs.estimate(half, hw, level="analytical").seconds == pytest.approx(
        acs.estimate(half, native, level="analytical").seconds)


def test_cdna_valu_runs_fma_and_alu_instructions_one_after_the_other():
    # CDNA has one VALU per SIMD (vector.alu_pipe: false): the softmax's FMA-pipe and ALU instructions add instead
    # of overlapping. MI300X forward pair, non-causal hd 128 (as above): FMA 0.2121 us + ALU 0.5834 us = 0.7955 us
    # against max = 0.5834 us with an ALU pipe of its own: the pair grows by the FMA share, 0.2121 us.
    hw = load_hardware("mi300x")
    assert hw.vector.alu_pipe is False and load_hardware("h100-sxm").vector.alu_pipe is True
    op = acs.ops.Attention(**{**BWD, "phase": "fwd", "variant": "fa2"})
    beside = hw.with_overrides({"vector.alu_pipe": True})
    grow = acs.estimate(op, hw, level="analytical").details["pair_seconds"] - \
        acs.estimate(op, beside, level="analytical").details["pair_seconds"]
    assert grow == pytest.approx(0.2121e-6, rel=2e-3)


def test_aotriton_dkdv_grid_runs_per_kv_head():
    # bwd_kernel_dk_dv's grid is (key blocks, KV heads): under GQA a program walks every query head of its group.
    # Causal 4096 / 4096, 128-row query blocks, 64-key blocks: 32 x 64 blocks, 2 (1 + ... + 32) = 1056 pairs per
    # head; 304 cores, pair time 1, no tile loads. GQA 16 / 4 heads: dK/dV 4 x 64 = 256 units, one wave, the
    # first key block seen by all 32 query blocks of 4 heads = 128; dQ 16 x 32 = 512 units, 2 waves: mean
    # 1056 / 32 = 33, then the longest query block's 64 -> 97. MHA 16 / 16: dK/dV 1024 units, 4 waves:
    # 3 x 1056 / 64 + 32 = 81.5, dQ the same 97.
    from accelscope.perf.analytical.attention import _split_bwd_compute

    gqa = acs.ops.Attention(batch=1, heads=16, kv_heads=4, head_dim=128, q_len=4096, kv_len=4096, causal=True,
                            phase="bwd", variant="aotriton")
    assert _split_bwd_compute(gqa, 1.0, 1.0, 32, 64, 1056, 304, 0.0) == pytest.approx(128 + 97)
    mha = replace(gqa, kv_heads=16)
    assert _split_bwd_compute(mha, 1.0, 1.0, 32, 64, 1056, 304, 0.0) == pytest.approx(81.5 + 97)


def test_fa2_gqa_backward_sums_the_expanded_dk_dv_over_each_group():
    # FA2's mha_bwd (csrc/flash_attn/flash_api.cpp) writes dK, dV per query head and then runs at::sum_out over
    # each group, once for dK and once for dV. B200 (8 TB/s x 0.95, writes x 1.24, 800 ns DRAM, 2.5 us launch),
    # batch 1, 16 query heads over 2 KV heads, 4096 keys, hd 128, bf16: each sum reads 4096 x 16 x 128 x 2 B =
    # 16,777,216 B and writes 4096 x 2 x 128 x 2 B = 2,097,152 B: (16,777,216 + 1.24 x 2,097,152) / 7.6e12 =
    # 2.5497 us + 0.8 us + 2.5 us = 5.8497 us, twice: 11.699 us more than the same call without the sums
    from accelscope.perf.analytical.attention import _fa2_gqa_group_sums
    hw = load_hardware("b200")
    gqa = acs.ops.Attention(**BWD, kv_heads=2, variant="fa2")
    assert _fa2_gqa_group_sums(gqa, hw, "fa2", 128) == pytest.approx(11.699e-6, rel=1e-4)
    # nothing for the forward, for MHA, or for a kernel that reduces dK, dV in its own epilogue (cuDNN, FA3)
    assert _fa2_gqa_group_sums(replace(gqa, phase="fwd"), hw, "fa2", 128) == 0.0
    assert _fa2_gqa_group_sums(replace(gqa, kv_heads=None), hw, "fa2", 128) == 0.0
    assert _fa2_gqa_group_sums(gqa, hw, "cudnn", 128) == 0.0
    # and the estimate carries it: GQA minus MHA is the two sums (the kernel itself prices the same per query head)
    seconds = [acs.estimate(o, hw, level="analytical").seconds for o in (replace(gqa, kv_heads=None), gqa)]
    assert seconds[1] - seconds[0] == pytest.approx(11.699e-6, rel=1e-3)


MEMEFF = dict(batch=1, heads=32, head_dim=64, q_len=16384, kv_len=16384, causal=True, dtype="bf16",
              variant="mem_efficient")


def test_mem_efficient_runs_sm80_64x64_blocks_on_mma_sync():
    # PyTorch's mem-efficient kernels are cutlass::arch::Sm80 templates (fmha_cutlassF_bf16_aligned_64x64_rf_sm80,
    # fmha_cutlassB_bf16_aligned_64x64_k64_sm80): 64 x 64 blocks and mma.sync at the preset's sync_fraction, also on
    # Hopper and Blackwell. Causal 16384: 256 query x 256 key blocks, 256 x 257 / 2 = 32896 pairs per head.
    for phase in ("fwd", "bwd"):
        d = acs.estimate(acs.ops.Attention(**MEMEFF, phase=phase), "h200-sxm", level="analytical").details
        assert (d["q_block"], d["kv_block"], d["matrix_instruction"]) == (64, 64, "mma.sync")
        assert d["mma_sync_fraction"] == pytest.approx(0.667)
        assert d["block_pairs"] == 32 * 32896


def test_mem_efficient_dq_lock_costs_five_l2_round_trips_and_the_tile_per_pair():
    # H200: per backward pair two atomicCAS (the acquire loop exits on the CAS that returns set_val), the fp32 tile
    # load, the counter atomicAdd and the fence after the store: 5 x 260 ns = 1.3 us of L2 latency; plus the
    # 64 x 64 fp32 tile loaded and stored, 2 x 16384 B at 6.65e12 / 132 = 50.38e9 B/s per SM: 650.4 ns
    hw = load_hardware("h200-sxm")
    op = acs.ops.Attention(**MEMEFF, phase="bwd")
    no_latency = hw.with_overrides({"memory.l2.latency": 0.0})
    assert _pair(op, hw) - _pair(op, no_latency) == pytest.approx(5 * 260e-9, rel=1e-9)
    from accelscope.perf.analytical.attention import _memeff_dq_section
    assert _memeff_dq_section(64, 64, 6.65e12 / 132, 260e-9) == pytest.approx(1.3e-6 + 650.4e-9, rel=1e-4)
    # no red.global reductions: the L2's reduction rate does not enter, where it prices FlashAttention-2's dQ
    slow_red = hw.with_overrides({"memory.l2.reduction_bandwidth": 1e11})
    assert _pair(op, slow_red) == pytest.approx(_pair(op, hw))
    fa2 = replace(op, variant="fa2")
    assert _pair(fa2, slow_red) > _pair(fa2, hw)


def test_mem_efficient_dq_lock_on_b200_pays_the_cross_die_mean_per_round_trip():
    # B200: the lock, counter and dQ tile are touched by the key-block CTAs on both dies, so each of the 5 round
    # trips costs the mean of the near (150 ns) and far (260 ns) partition, 205 ns: 5 x 55 ns = 275 ns more per
    # pair than at the near-partition latency alone
    hw = load_hardware("b200")
    op = acs.ops.Attention(**MEMEFF, phase="bwd")
    near_only = hw.with_overrides({"memory.l2.far_latency": None})
    assert _pair(op, hw) - _pair(op, near_only) == pytest.approx(5 * 55e-9, rel=1e-9)
    no_latency = hw.with_overrides({"memory.l2.latency": 0.0, "memory.l2.far_latency": 0.0})
    assert _pair(op, hw) - _pair(op, no_latency) == pytest.approx(5 * 205e-9, rel=1e-9)


def test_mem_efficient_backward_zeroes_its_workspace_instead_of_the_flash_side_passes():
    # 1 x 32 heads x 256 query blocks = 8192 GradQTempStorage tiles of 16 B + 64 x 64 x 4 B = 16400 B:
    # 134,348,800 B written, plus a launch (and the DRAM latency, none in the h200-sxm preset)
    from accelscope.perf.analytical.attention import _memeff_workspace_zero
    hw = load_hardware("h200-sxm")
    op = acs.ops.Attention(**MEMEFF, phase="bwd")
    hbm = hw.main_memory
    expected = hbm.transfer_seconds(0, 134_348_800) + (hbm.latency or 0.0) + hw.runtime.launch_latency
    assert _memeff_workspace_zero(op, hw, 256) == pytest.approx(expected)
    assert _memeff_workspace_zero(replace(op, phase="fwd"), hw, 256) == 0.0


def test_train_accepts_the_mem_efficient_kernel():
    from accelscope.llm.train import _check_choices
    _check_choices("adam", "searched", "pre", "mem_efficient", "eager", "fp32")
    with pytest.raises(ValueError, match="mem_efficient"):
        _check_choices("adam", "searched", "pre", "xformers", "eager", "fp32")
