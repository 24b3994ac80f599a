"""MPT's Triton FlashAttention (flash_attn_triton.py) reads its mma.sync operands through shared memory."""


import pytest

import accelscope as acs
from accelscope.perf.analytical.attention import (
    triton_fragment_registers,
    triton_live_registers,
    triton_operands_overlap,
    triton_smem_bytes,
)
from accelscope.workload.ops import Attention


def test_triton_smem_bytes_by_hand():
    """d = dv = 128, 128 x 128 blocks, 8 warps along M, 2-byte operands.
    Forward: A reads Q (128 x 128) + P (128 x 128) = 32,768; B reads 8 x (K 16,384 + V 16,384) = 262,144;
    stores K, V, P = 49,152; total 344,064 elements = 688,128 B.
    Backward: A reads Q, P^T, dO, dS^T, dS = 5 x 16,384 = 81,920; B reads 8 x 128 x (3 x 128 + 2 x 128) =
    655,360; stores Q, dO, P, dS = 65,536; total 802,816 elements = 1,605,632 B."""
    assert triton_smem_bytes("fwd", 128, 128, 8) == 688_128
    assert triton_smem_bytes("bwd", 128, 128, 8) == 1_605_632
    # d <= 64 runs the forward with 4 warps: B read 4 times. d = dv = 64: A 8,192 + 16,384; B 4 x 16,384;
    # stores 8,192 + 8,192 + 16,384: 122,880 elements = 245,760 B
    assert triton_smem_bytes("fwd", 64, 64, 4) == 245_760


@pytest.mark.parametrize("phase", ["fwd", "bwd"])
def test_triton_pair_is_no_faster_than_its_shared_memory(phase):
    """A block pair's time covers its shared-memory traffic at the SM's 128 B/clock (H100: 234.2 GB/s per SM at
    1.83 GHz, scaled by the preset's sustained clock): forward 688,128 B / 234.2 GB/s = 2.94 us at full clock,
    above the pair's mma.sync time (2 x 128 x 128 x 256 FLOP at 2/3 of 989 TFLOP/s x 0.82 / 132 SMs =
    2.07 us), so the shared memory sets the pace."""
    h100 = acs.load_hardware("h100-sxm")
    op = Attention(batch=8, heads=16, head_dim=128, q_len=2048, kv_len=2048, causal=True, variant="triton",
                   phase=phase)
    est = acs.estimate(op, h100, level="analytical")
    smem = triton_smem_bytes(phase, 128, 128, 8) / (234.2e9 * h100.compute.clock_ratio)
    assert est.details["smem_seconds_per_pair"] == pytest.approx(smem, rel=1e-3)
    assert est.details["pair_seconds"] > smem


def test_triton_register_budget_by_hand():
    """fp32 tiles live across a pair, per thread (flash_attn_triton.py, 128 x 128 blocks):
    backward d = 128, 8 warps: dK + dV 128 x 256 + p and dp 2 x 16,384 = 65,536 / 256 threads = 256 registers;
    forward d = 128, 8 warps: acc_o 16,384 + qk 16,384 = 32,768 / 256 = 128;
    forward d = 64, 4 warps: 8,192 + 16,384 = 24,576 / 128 = 192.
    One k16 step's mma.sync fragments: 8 warps own 16 rows each (A: 4 registers) and all 16 n8 tiles of B (2 each):
    36; 4 warps own 32 rows: 8 + 32 = 40. Overlapping ldmatrix with the MMAs needs two sets within 255 registers:
    forward d = 128: 128 + 72 = 200 (overlaps); backward d = 128: 256 + 72 = 328 (does not);
    forward d = 64: 192 + 80 = 272 (does not)."""
    assert triton_live_registers("bwd", 128, 128, 8) == 256
    assert triton_live_registers("fwd", 128, 128, 8) == 128
    assert triton_live_registers("fwd", 64, 64, 4) == 192
    assert triton_fragment_registers(8) == 36
    assert triton_fragment_registers(4) == 40
    assert triton_operands_overlap("fwd", 128, 128, 8)
    assert not triton_operands_overlap("bwd", 128, 128, 8)
    assert not triton_operands_overlap("fwd", 64, 64, 4)


def test_triton_backward_pays_shared_memory_and_mmas_in_turn():
    """A100 (312 TFLOP/s bf16 x 0.83 / 108 SMs = 2.398 TFLOP/s per SM; shared memory 180.5 GB/s per SM in the
    preset), d = 128, 128 x 128 pair:
    backward: MMAs 2.5 x 2 x 16,384 x 256 / 2.398e12 = 8.746 us, ldmatrix 1,605,632 B / 180.5e9 = 8.895 us:
    registers full, so the pair takes at least their sum, 17.64 us (it was max = 8.90 us before);
    forward: MMAs 3.498 us, shared memory 688,128 / 180.5e9 = 3.812 us: overlapped, so the pair (with its softmax
    and L2 loads) stays under their 7.31 us sum. The backward is then slower per FLOP than the forward, as the
    kernel's header says ("Triton backward is generally slower than CUDA backward")."""
    a100 = acs.load_hardware("a100-sxm-80gb")
    per_sm = 312e12 * 0.83 / 108
    mma, smem = 2.5 * 2 * 128 * 128 * 256 / per_sm, 1_605_632 / 180.5e9
    ests = {ph: acs.estimate(Attention(batch=4, heads=32, head_dim=128, q_len=8192, kv_len=8192, causal=True,
                                       variant="triton", phase=ph), a100, level="analytical")
            for ph in ("fwd", "bwd")}
    assert mma + smem == pytest.approx(17.64e-6, rel=1e-3)
    assert ests["bwd"].details["pair_seconds"] > mma + smem
    assert ests["fwd"].details["pair_seconds"] < 2 * 128 * 128 * 256 / per_sm + 688_128 / 180.5e9
    # time per FLOP: the backward does 2.5x the forward's FLOPs
    assert ests["bwd"].seconds / 2.5 > ests["fwd"].seconds


def test_mpt_key_padding_bias_adds_a_round_trip_each_way():
    """MPT passes its attention_mask as a (batch, 1, 1, seq) fp32 bias: BIAS_TYPE "vector", part of the "triton"
    variant (TRITON_BIAS_ROUND_TRIPS). H100 (L2 260 ns, 6.65 TB/s over 132 SMs = 50.38 GB/s per SM), d = 128:
    backward pair, Q, LSE, dO, D and the bias are 5 dependent L2 round trips, 5 x 260 ns = 1.30 us, plus Q and dO
    (128 x 256 x 2 B = 65,536 B): 1.301 us; 2.601 us in all. Forward pair: K, the TMP store-and-reload, V and the
    bias, 4 round trips, plus K and V (65,536 B): 2.341 us."""
    h100 = acs.load_hardware("h100-sxm")
    shape = dict(batch=8, heads=16, head_dim=128, q_len=2048, kv_len=2048, causal=True, variant="triton")
    bwd = acs.estimate(Attention(**shape, phase="bwd"), h100, level="analytical").details
    fwd = acs.estimate(Attention(**shape), h100, level="analytical").details
    assert bwd["serial_load_seconds"] == pytest.approx(5 * 260e-9 + 65_536 / (6.65e12 / 132), rel=1e-6)
    assert fwd["serial_load_seconds"] == pytest.approx(4 * 260e-9 + 65_536 / (6.65e12 / 132), rel=1e-6)
