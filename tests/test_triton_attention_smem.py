"""MPT's Triton FlashAttention (flash_attn_triton.py) reads its mma.sync operands through shared memory."""

import pytest

import accelscope as acs
from accelscope.perf.analytical.attention import triton_smem_bytes
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
