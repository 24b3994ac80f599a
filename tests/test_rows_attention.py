"""cudnn-frontend and FlashAttention benchmark rows -> Attention ops (measure/rows_attention.py)."""

from __future__ import annotations

import json

import pytest

import accelscope as acs
from accelscope.measure import rows_attention as ra
from accelscope.measure.dataset import MeasuredRow
from accelscope.measure.predict import predict


def row(shape: dict, op: str = "SDPA fwd", dtype: str = "bfloat16", value: float = 1.0, unit: str = "ms",
        hardware: str = "NVIDIA GB200 (Blackwell GPU of a GB200 superchip)", metric: str = "time_median",
        notes: str = "", source: str = "test") -> MeasuredRow:
    return MeasuredRow(id="CU-9999", hardware=hardware, category="attention", op=op, dtype=dtype,
                       shape=json.loads(json.dumps(shape)), metric=metric, value=value, unit=unit, source=source,
                       notes=notes)


MLA = {"model_preset": "dsv3", "batch": 2, "heads": 128, "kv_heads": 128, "head_dim_qk": 192, "head_dim_vo": 128,
       "q_len": 8192, "kv_len": 8192, "causal": True, "sliding_window": None, "backend": "cudnn", "mode": "bwd",
       "deterministic_bwd": True}


def test_backend_names_the_kernel():
    assert ra.kernel("cudnn") == ra.kernel("cudnn_fe_fp8") == ra.kernel("cuDNN BF16") == ra.kernel("pyt_cudnn") \
        == "cudnn"
    assert ra.kernel("flash_attention") == ra.kernel("pyt_flash_attention") == ra.kernel("Pytorch") == "fa2"
    assert ra.kernel("pyt_math") == "sdpa_math" and ra.kernel("math") == "math"
    assert ra.kernel("fa3") == "fa3" and ra.kernel("flash_attn.cute") == "fa4"


def test_mla_backward_row_keeps_its_dims_pass_and_determinism():
    op = ra.attention_op(row(MLA, op="SDPA bwd (cudnn, bfloat16), dsv3 shape"))
    assert (op.head_dim, op.v_head_dim, op.kv_heads, op.phase, op.deterministic, op.variant, op.dtype) == \
        (192, 128, None, "bwd", True, "cudnn", "bf16")
    # the script's own count: 2 B H S^2 (192 + 128) / 2 (causal) x 2.5 (bwd)
    assert ra.convention_flops(op) == 2 * 2 * 128 * 8192 ** 2 * 320 / 2 * 2.5


def test_fp8_in_the_backend_name_wins_over_the_dtype_column():
    shape = {"batch": 1, "heads": 128, "kv_heads": 8, "head_dim": 128, "q_len": 512, "kv_len": 512, "causal": True,
             "mode": "fwd", "backend": "cudnn_fe_fp8"}
    op = ra.attention_op(row(shape, dtype="bf16"))
    assert op.dtype == "fp8_e4m3" and op.kv_heads == 8
    assert ra.attention_op(row({**shape, "backend": "cudnn"}, dtype="mxfp8")).dtype == "mxfp8"


def test_window_rows_map_and_predict():
    shape = {**MLA, "model_preset": "gpt_oss", "head_dim_qk": 64, "head_dim_vo": 64, "sliding_window": 128,
             "mode": "fwd", "deterministic_bwd": None}
    r = row(shape)
    assert ra.attention_op(r).window == 128
    pred = predict(r, "analytical")
    assert pred.value > 0


def test_flash_attention_dev_row_is_fwd_bwd():
    r = MeasuredRow(id="FA-999", hardware="NVIDIA A100 SXM4 80GB", category="attention",
                    op="FlashAttention-2 forward+backward", dtype="fp16",
                    shape={"batch": 32, "seqlen_q": 512, "seqlen_k": 512, "heads": 32, "head_dim": 64,
                           "causal": False}, metric="throughput_fwd_bwd", value=132.0, unit="TFLOP/s", source="t",
                    notes="")
    op = ra.attention_op(r)
    assert (op.phase, op.variant, op.q_len) == ("fwd_bwd", "fa2", 512)
    assert ra.convention_flops(op) == pytest.approx(3.5 * 4 * 32 * 512 ** 2 * 32 * 64)


def test_sim_uses_the_same_kernel_choice():
    """The sim's tile program is FA2 on mma.sync chips and the ping-pong schedule of FA3 / FA4 on wgmma / tcgen05
    chips, with the kernel's own tile; cuDNN and FA2 on an asynchronous-MMA chip fall back to the analytical level,
    so the two levels agree there."""
    shape = dict(batch=1, heads=16, head_dim=128, q_len=4096, kv_len=4096, causal=True)
    for hw, variant in (("b200", "cudnn"), ("h100-sxm", "fa2"), ("h100-sxm", "cudnn")):
        op = acs.ops.Attention(**shape, variant=variant)
        sim, ana = acs.estimate(op, hw, level="sim"), acs.estimate(op, hw, level="analytical")
        assert sim.details.get("sim_fallback") and sim.seconds == pytest.approx(ana.seconds)
    for hw in ("h100-sxm", "b200", "a100-sxm-80gb"):
        op = acs.ops.Attention(**shape)
        sim, ana = acs.estimate(op, hw, level="sim"), acs.estimate(op, hw, level="analytical")
        assert "sim_fallback" not in sim.details and sim.seconds == pytest.approx(ana.seconds, rel=0.25)


B200_BF16 = "github.com/NVIDIA/cudnn-frontend benchmark/sdpa_benchmark_training/artifacts/" \
    "sdpa_bf16_benchmark_results_NVIDIA_B200.csv @ 0b1577c8c83401237d601d0d0db5210506705396"
B200_FP8 = B200_BF16.replace("sdpa_bf16", "sdpa_fp8")
GQA_512 = {"batch": 1, "heads": 128, "kv_heads": 8, "head_dim": 128, "q_len": 512, "kv_len": 512, "causal": True}


def event_row(backend: str, mode: str, source: str, dtype: str = "bf16") -> MeasuredRow:
    return row({**GQA_512, "backend": backend, "mode": mode}, op=f"SDPA {mode} ({backend})", dtype=dtype,
               hardware="NVIDIA B200", source=source)


def test_event_timed_cudnn_frontend_call_adds_the_variant_pack_binding():
    """benchmark_fp8_sdpa.py binds 5 tensors (bf16 fwd) or 25 (fp8 bwd) per execute; cudnn-frontend #1086: 31 us of
    binding for 13 tensors = 2.385 us per tensor on its host, over DGX B200's host_speed 1.05:
    bf16 fwd 5 x 2.385 / 1.05 = 11.36 us; fp8 bwd 25 x 2.385 / 1.05 = 56.78 us (kernels longer than 14 us)."""
    b200 = acs.load_hardware("b200")
    fwd = event_row("cudnn bf16", "fwd", B200_FP8)
    assert ra.host_issue_seconds(fwd, ra.attention_op(fwd), b200, 30e-6) == pytest.approx(11.36e-6, rel=1e-3)
    bwd = event_row("cudnn fp8", "bwd", B200_FP8, dtype="fp8")
    assert ra.host_issue_seconds(bwd, ra.attention_op(bwd), b200, 100e-6) == pytest.approx(56.78e-6, rel=1e-3)
    # a kernel shorter than cudnnBackendExecute's 14 / 1.05 = 13.33 us waits for the call: 11.36 + (13.33 - 1) us
    assert ra.host_issue_seconds(fwd, ra.attention_op(fwd), b200, 1e-6) == pytest.approx(23.69e-6, rel=1e-3)


def test_event_timed_torch_call_adds_one_eager_op_and_kernel_timed_rows_nothing():
    """torch SDPA / flash_attn_func: one eager op's host time, 80 us / 1.05 (DGX B200) = 76.19 us; the same
    backend from the later, kernel-timed artifacts (@ b372d398) adds nothing."""
    b200 = acs.load_hardware("b200")
    for backend, mode in (("pyt_cudnn", "fwd"), ("flash_attention", "bwd")):
        r = event_row(backend, mode, B200_BF16)
        assert ra.host_issue_seconds(r, ra.attention_op(r), b200, 1e-3) == pytest.approx(76.19e-6, rel=1e-3)
    later = event_row("pyt_flash_attention", "fwd", B200_BF16.replace("B200.csv @ 0b1577c8", "GB200.csv @ b372d398"))
    assert ra.host_issue_seconds(later, ra.attention_op(later), b200, 1e-3) == 0.0


def test_event_timed_row_prediction_is_kernel_plus_host():
    r = event_row("pyt_cudnn", "fwd", B200_BF16)
    kernel = acs.estimate(ra.attention_op(r), "b200", level="analytical").seconds
    assert predict(r, "analytical").value == pytest.approx((kernel + 80e-6 / 1.05) * 1e3, rel=1e-6)  # ms
