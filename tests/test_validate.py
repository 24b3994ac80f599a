"""Validation harness: the dev set loads, rows map to predictions, errors are computed as defined."""

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from accelscope.cli.app import app
from accelscope.measure import MeasuredRow, load_rows, summarize, validate, write_rows
from accelscope.measure.predict import Prediction, Skip, hardware_id, model_id, predict


def test_dev_dataset_ships_with_the_package():
    rows = load_rows("dev")
    assert len(rows) >= 250
    assert {r.category for r in rows} >= {"gemm", "attention", "llm_inference", "llm_training", "collective"}


@pytest.mark.parametrize(
    ("name", "preset"),
    [("NVIDIA H100 SXM5 80GB HBM3 (Azure ND H100 v5)", "h100-sxm"), ("NVIDIA A100 80GB (form factor not stated)",
     "a100-sxm-80gb"), ("AMD Instinct MI300X (8-GPU node)", "mi300x"), ("NVIDIA H200 SXM 141GB", "h200-sxm"),
     ("Google TPU v5p (one chip)", "tpu-v5p"), ("Cloud TPU v5e", "tpu-v5e"), ("TPU v5 lite pod slice", "tpu-v5e"),
     ("Intel Gaudi 3 (HL-325L)", "gaudi3"), ("NVIDIA GH200 (900W, 141GiB HBM3e)", "gh200"),
     ("NVIDIA H100 PCIe 80GB", "h100-pcie"), ("NVIDIA H20", "h20"), ("NVIDIA A100-SXM4-40GB", "a100-sxm-40gb")],
)
def test_hardware_names_map_to_presets(name, preset):
    assert hardware_id(name) == preset


def test_model_names_map_to_presets():
    assert model_id("LLAMA 3 (70B)") == "llama-3.1-70b"
    assert model_id("Llama-2-7B") == "llama-2-7b"
    assert model_id("Mistral (7B)") == "mistral-7b"


def _gemm_row(**shape):
    return MeasuredRow(id="T-1", hardware="NVIDIA H100 SXM5", category="gemm", op="matmul", dtype="bf16",
                       shape=shape, metric="throughput", value=900.0, unit="TFLOP/s")


def test_gemm_row_prediction_and_error_by_hand():
    row = _gemm_row(M=8192, N=8192, K=8192)
    prediction = predict(row, "roofline")
    assert isinstance(prediction, Prediction)
    # roofline: 2*8192^3 / (2*8192^3/989.4e12 + 2.5 us) = 987.2 TFLOP/s
    assert prediction.value == pytest.approx(987.2, rel=1e-3)
    (result,) = validate([row], ["roofline"])
    assert result.error == pytest.approx((987.2 - 900) / 900, rel=1e-2)


def _all_reduce_row(**shape):
    return MeasuredRow(id="T-3", hardware="NVIDIA B200 (HGX)", category="collective", op="all_reduce",
                       dtype="float", shape={"payload_bytes": 1 << 30, **shape}, metric="busbw", value=300.0,
                       unit="GB/s")


def test_collective_row_group_is_the_whole_gpu_count():
    """ME rows give 32 GPUs on 4 nodes: the group is 32, not 4 x 32; `gpus_per_node` is the per-node spelling."""
    total = predict(_all_reduce_row(gpus=32, nodes=4), "roofline")
    per_node = predict(_all_reduce_row(gpus_per_node=8, gpus=8, nodes=4), "roofline")
    assert isinstance(total, Prediction) and isinstance(per_node, Prediction)
    assert total.value == pytest.approx(per_node.value, rel=1e-12)
    # the misreading (4 x 32 = 128 ranks, 16 domains of 8) crosses more nodes: a lower bus bandwidth
    wrong = predict(_all_reduce_row(gpus=128, nodes=1), "roofline")
    assert isinstance(wrong, Prediction) and wrong.value < 0.9 * total.value


def test_all_reduce_bench_rows_include_the_host_issue_time():
    """all_reduce_bench.py times one dist.all_reduce between CUDA events on an idle stream: PyTorch's host issue
    time, 21.3 us (HOST_ISSUED_COLLECTIVES), is inside it; nccl-tests' device timing is not. 1 MiB on 8 B200: the
    device-timed row reads 1,048,576 B x 2 x 7 / 8 / t = 1,835,008 B / t. NVLS, t = 2.5 us launch + 23 us NVLS
    latency + the busiest channel's bytes: 16 KiB chunks (nvls_chunk_bytes at 1 MiB), one block of 8 x 16 KiB =
    131,072 B on each of 8 of the 16 channels, at 1/16 of the algorithm bandwidth 900 GB/s x 0.802 x 0.80 x 5/6 =
    481.2 GB/s: 131,072 / 30.075e9 = 4.358 us, so t = 29.858 us and 61.46 GB/s; the bench row 1,835,008 B /
    (29.858 + 21.3) us = 35.87 GB/s (ME-029 measured 36.06)."""
    def row(op):
        return MeasuredRow(id="T-4", hardware="NVIDIA B200 (HGX)", category="collective", op=op, dtype="float",
                           shape={"payload_bytes": 1 << 20, "gpus": 8}, metric="busbw", value=36.06, unit="GB/s")

    device = predict(row("all_reduce (nccl-tests)"), "analytical")
    bench = predict(row("all_reduce (all_reduce_bench.py)"), "analytical")
    assert isinstance(device, Prediction) and isinstance(bench, Prediction)
    seconds = 1_835_008 / (device.value * 1e9)
    assert bench.value == pytest.approx(1_835_008 / (seconds + 21.3e-6) / 1e9, rel=1e-9)
    assert (device.value, bench.value) == (pytest.approx(61.46, rel=2e-3), pytest.approx(35.87, rel=2e-3))


def test_mi300x_all_reduce_runs_at_the_xgmi_bandwidth_rccl_plans():
    """RCCL plans 48 GB/s per xGMI link on gfx942 (GFX94X_XGMI_WIDTH) of the 64 GB/s per direction: a 4 GiB
    all-reduce's bus bandwidth is 1 link x 48 = 48 GB/s on 2 MI300X (ME-017 measured 47.67) and 7 x 48 = 336 GB/s
    on 8 (ME-018: 313), less a few us of latency over ~90 ms / ~22 ms."""
    def row(gpus):
        return MeasuredRow(id="T-5", hardware="AMD Instinct MI300X", category="collective", op="all_reduce",
                           dtype="float", shape={"payload_bytes": 1 << 32, "gpus": gpus}, metric="busbw",
                           value=47.67, unit="GB/s")

    two, eight = predict(row(2), "analytical"), predict(row(8), "analytical")
    assert isinstance(two, Prediction) and isinstance(eight, Prediction)
    assert two.value == pytest.approx(48.0, rel=1e-3) and eight.value == pytest.approx(336.0, rel=2e-3)


def test_unmappable_rows_are_skipped_with_a_reason():
    row = _gemm_row()  # no M/N/K
    assert isinstance(predict(row, "roofline"), Skip)
    other = MeasuredRow(id="T-2", hardware="Imaginary X1", category="gemm", op="mm", dtype="bf16", shape={},
                        metric="throughput", value=1.0, unit="TFLOP/s")
    assert "no preset" in predict(other, "roofline").reason  # type: ignore[union-attr]


def test_summary_over_the_dev_set():
    summary = summarize(validate("dev", ["roofline"]))
    gemm = next(c for c in summary if c.category == "gemm")
    assert gemm.rows >= 5 and gemm.mean_abs >= gemm.median_abs * 0.5


def test_rows_round_trip_through_csv(tmp_path):
    rows = load_rows("dev")[:5]
    path = write_rows(rows, tmp_path / "x.csv")
    again = load_rows(path)
    assert [(r.id, r.value, r.shape) for r in again] == [(r.id, r.value, r.shape) for r in rows]


def test_validate_cli_json_and_bad_input(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["validate", "--dataset", "dev", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["summary"] and data["rows"]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,value\n1,2\n")
    with pytest.raises(ValueError, match="missing columns"):
        load_rows(bad)


def test_validation_plots_are_written(tmp_path):
    from accelscope.measure.plots import write_validation_plots

    paths = write_validation_plots(validate("dev", ["roofline"]), tmp_path)
    assert {p.suffix for p in paths} == {".png", ".svg"}
    assert all(p.stat().st_size > 5000 for p in paths)


def test_time_ratio_inverts_rates():
    row = _gemm_row(M=8192, N=8192, K=8192)  # a TFLOP/s row: faster prediction = smaller time ratio
    (result,) = validate([row], ["roofline"])
    assert result.time_ratio == pytest.approx(900 / result.predicted)


def test_rows_round_trip_through_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    rows = load_rows("dev")[:7]
    again = load_rows(write_rows(rows, tmp_path / "x.parquet"))
    assert [(r.id, r.value, r.shape, r.unit) for r in again] == [(r.id, r.value, r.shape, r.unit) for r in rows]


def test_group_quantized_int4_rows_stream_their_group_scales():
    from accelscope.measure.predict import _weight_only_dtype

    assert _weight_only_dtype("int4 weight-only (group 32)") == "int4_g32"  # 4 + 32/32 bits
    assert _weight_only_dtype("int4 weight-only") == "int4"
    assert _weight_only_dtype("int8 weight-only") == "int8"


def _row(id_, op, dtype, shape, unit="us", metric="time", hardware="NVIDIA B200"):
    return MeasuredRow(id=id_, hardware=hardware, category="gemm", op=op, dtype=dtype, shape=shape, metric=metric,
                       value=1.0, unit=unit)


def test_torchao_forward_backward_is_three_grouped_gemms_plus_the_mxfp8_casts():
    from accelscope.measure import rows_gemm
    from accelscope.workload import Gemm
    from accelscope.workload.ops import Quantize

    shape = {"M_total": 128000, "N": 8192, "K": 5120, "groups": 4}
    bf16 = rows_gemm.parts(_row("TA-1", "grouped GEMM forward+backward, torch._grouped_mm (bf16)", "bf16", shape))
    # 4 experts of 32,000 tokens: out (32000 x 8192 x 5120), dgrad (32000 x 5120 x 8192), wgrad (5120 x 8192 x 32000)
    assert [(g.m, g.n, g.k, g.batch) for g in bf16.ops] == [(32000, 8192, 5120, 4), (32000, 5120, 8192, 4),
                                                            (5120, 8192, 32000, 4)]
    mx = rows_gemm.parts(_row("TA-2", "grouped GEMM forward+backward, torchao _to_mxfp8_then_scaled_grouped_mm",
                              "mxfp8", shape))
    gemms = [o for o in mx.ops if isinstance(o, Gemm)]
    casts = [o for o in mx.ops if isinstance(o, Quantize)]
    assert all(g.dtype == "mxfp8" for g in gemms) and len(gemms) == 3
    # x, dY and W each cast twice (along each GEMM's contraction dimension)
    assert sum(c.elements for c in casts) == 2 * (128000 * 5120 + 128000 * 8192 + 4 * 5120 * 8192)
    assert rows_gemm.only_gemms(_row("TA-1", "grouped GEMM forward+backward", "bf16", shape))
    assert not rows_gemm.only_gemms(_row("TA-2", "x", "mxfp8", shape))
    # every quantized operand's e8m0 scales (one per 32 along the contraction) are rearranged by a kernel of their
    # own: x (128000, 5120/32) and dY (128000, 8192/32) by the Triton 2D M-groups kernel torchao 0.14 ran,
    # W (4, 8192, 160) and (4, 5120, 256) per group 3D, dYt (8192, 128000/32) and xt (5120, 4000) by 2D K-groups;
    # bf16 runs none
    assert mx.rearranges == (("2d_m_groups", (128000, 160), 4), ("per_group_3d", (4, 8192, 160), 4),
                             ("2d_m_groups", (128000, 256), 4), ("per_group_3d", (4, 5120, 256), 4),
                             ("2d_k_groups", (8192, 4000), 4), ("2d_k_groups", (5120, 4000), 4))
    assert bf16.rearranges == ()
    # both harnesses time the same loss and gradient accumulation around the call, and leave the rows GEMM-only
    # for the matrix-efficiency fit (the harness ops are not the call under test)
    assert bf16.harness == mx.harness and len(mx.harness) == 4


def test_mx_scale_rearranges_are_the_kernels_torchao_times_by_pass():
    from accelscope.measure.rows_gemm import mx_scale_rearranges

    # DeepSeekV3 shapes of the README's "Breakdown by Pass" (131,072 tokens, dim 7168, hidden 2048, 8 groups): the
    # scale tensors its rearrangement rows name, TA-051 (131072, 224), TA-052 (8, 2048, 224), TA-056 (131072, 64),
    # TA-057 (8, 7168, 64), TA-061 (2048, 4096), TA-062 (7168, 4096); 7168 / 32 = 224, 2048 / 32 = 64,
    # 131072 / 32 = 4096
    kinds_dims = [(kind, dims) for kind, dims, _ in mx_scale_rearranges(131072, 2048, 7168, 8)]
    assert kinds_dims == [("2d_m_groups", (131072, 224)), ("per_group_3d", (8, 2048, 224)),
                          ("2d_m_groups", (131072, 64)),
                          ("per_group_3d", (8, 7168, 64)), ("2d_k_groups", (2048, 4096)),
                          ("2d_k_groups", (7168, 4096))]


def test_torchao_forward_backward_prices_the_scale_rearrangements():
    from accelscope.measure import rows_gemm
    from accelscope.measure.rows_elementwise import scale_rearrange_seconds

    # dYt scales (8192, 4000) in 4 groups on b200: 4 x ceil(8192 / 128) = 256 Triton programs, one wave; each walks
    # 4000 / 4 / 4 = 250 column blocks of 4, one 800 ns DRAM latency each: 2.5 us launch + 250 x 0.8 us = 202.5 us
    # (a plain copy of its 32.8 MB would take ~11 us); before it the wrapper's new_zeros fills the padded output,
    # 8192 x (4000 + 4 x 4) = 32,899,072 B: 2.5 us launch + 32,899,072 B x 1.24 / (0.95 x 8 TB/s) = 5.368 us +
    # 0.15 us L2 write tail = 8.018 us
    seconds, bound = scale_rearrange_seconds("2d_k_groups", [8192, 4000], 4, "b200", "analytical")
    assert seconds == pytest.approx(_zero_fill(8192 * 4016) + 202.5e-6, rel=1e-6) and bound == "latency"
    shape = {"M_total": 128000, "N": 8192, "K": 5120, "groups": 4}
    row = _row("TA-2", "grouped GEMM forward+backward, torchao _to_mxfp8_then_scaled_grouped_mm", "mxfp8", shape)
    mapped = rows_gemm.parts(row)
    total, _, _ = rows_gemm.parts_seconds(row, "b200", "analytical")
    from accelscope.perf import estimate

    ops_only = sum(estimate(op, "b200", "analytical").seconds for op in mapped.ops + mapped.harness)
    extra = sum(scale_rearrange_seconds(kind, list(dims), g, "b200", "analytical", mapped.largest_group_share)[0]
                for kind, dims, g in mapped.rearranges)
    # the row's time is its GEMMs, casts and the harness's loss and accumulation, plus the six rearrangements; the
    # largest of 4 jagged groups holds (1 + 1/2 + 1/3 + 1/4) / 4 = 25/48 of the tokens, so each K-groups chain
    # walks ceil(4000 x 25/48 / 4) = 521 column blocks (2.5 + 521 x 0.8 = 419.3 us) where equal groups walk 250
    assert total == pytest.approx(ops_only + extra, rel=1e-12) and extra > 2 * 419e-6


def test_triton_m_groups_rearrangement_walks_each_groups_rows_serially():
    from accelscope.measure.rows_elementwise import scale_rearrange_seconds

    # triton_mx_block_rearrange_2d_M_groups, x's scales (128000, 5120 / 32) in one group on b200: grid (1, 160 / 4)
    # = 40 programs, one wave; each walks 128000 / 128 = 1000 row blocks, one 0.8 us DRAM latency each:
    # 2.5 us launch + 1000 x 0.8 us = 802.5 us, where the CUDA kernel's copy of the same 20.5 MB is ~10 us; plus
    # the new_zeros fill of its padded output, (128000 + 128) x 160 B (_zero_fill)
    seconds, bound = scale_rearrange_seconds("2d_m_groups", [128000, 160], 1, "b200", "analytical")
    assert seconds == pytest.approx(_zero_fill(128128 * 160) + 802.5e-6, rel=1e-6) and bound == "latency"
    copy, _ = scale_rearrange_seconds("copy", [128000, 160], 1, "b200", "analytical")
    assert copy < 20e-6
    # 8 equal groups: 8 x 40 = 320 programs (b200 holds 148 x 2048 / 128 = 2368 at once), 16000 / 128 = 125
    # row blocks each: 2.5 + 125 x 0.8 = 102.5 us; the largest of 8 jagged groups (H_8 / 8 = 761/2240 of the rows,
    # 43,486 rows) walks ceil(339.7) = 340: 2.5 + 340 x 0.8 = 274.5 us
    fill = _zero_fill((128000 + 8 * 128) * 160)
    assert scale_rearrange_seconds("2d_m_groups", [128000, 160], 8, "b200", "analytical")[0] == pytest.approx(
        fill + 102.5e-6, rel=1e-6)
    from accelscope.measure.rows_gemm import jagged_largest_share

    assert jagged_largest_share(1) == 1.0 and jagged_largest_share(2) == pytest.approx(0.75)
    assert jagged_largest_share(8) == pytest.approx(761 / 2240)
    assert scale_rearrange_seconds("2d_m_groups", [128000, 160], 8, "b200", "analytical",
                                   jagged_largest_share(8))[0] == pytest.approx(fill + 274.5e-6, rel=1e-6)


def _zero_fill(nbytes: int) -> float:
    """A write-only fill kernel of `nbytes` one-byte scales on b200 (rows_elementwise.zero_fill_seconds): 2.5 us
    launch + the bytes at 1.24 write cost over 0.95 x 8 TB/s + the 0.15 us L2 write tail (it reads nothing, so no
    first access)."""
    return 2.5e-6 + nbytes * 1.24 / (0.95 * 8e12) + 0.15e-6


def test_torchao_fwd_bwd_harness_is_the_mse_loss_and_gradient_accumulation():
    from accelscope.measure import rows_gemm

    # bench_fwd_bwd_microseconds: F.mse_loss(out, labels) reads out and labels (128000 x 8192 bf16 each), its
    # backward reads both and writes dY, and do_bench's repeated calls accumulate into A.grad (128000 x 5120) and
    # the 2 experts' weight gradient (2 x 8192 x 5120): read twice, write once
    loss, loss_bwd, acc_x, acc_w = rows_gemm.fwd_bwd_harness_ops(128000, 8192, 5120, 2)
    mn, mk, gnk = 128000 * 8192, 128000 * 5120, 2 * 8192 * 5120
    assert (loss.cost().bytes_read, loss.cost().bytes_written) == (2 * 2 * mn, 0)
    assert (loss_bwd.cost().bytes_read, loss_bwd.cost().bytes_written) == (2 * 2 * mn, 2 * mn)
    assert (acc_x.cost().bytes_read, acc_x.cost().bytes_written) == (2 * 2 * mk, 2 * mk)
    assert (acc_w.cost().bytes_read, acc_w.cost().bytes_written) == (2 * 2 * gnk, 2 * gnk)
    # the harness ops do not make a bf16 row ineligible for the matrix-efficiency fit
    shape = {"M_total": 128000, "N": 8192, "K": 5120, "groups": 2}
    assert rows_gemm.only_gemms(_row("TA-1", "grouped GEMM forward+backward", "bf16", shape))


def test_torchao_kernel_rows_and_thunderkittens_levels():
    from accelscope.measure import rows_gemm

    fwd = rows_gemm.parts(_row("TA-3", "MXFP8 MoE kernel (Forward: 2D-3D scaled grouped GEMM)", "mxfp8 e4m3",
                               {"input_shape": "(131072, 7168) @ (8, 7168, 2048)"}))
    assert [(g.m, g.n, g.k, g.batch) for g in fwd.ops] == [(16384, 2048, 7168, 8)]
    wgrad = rows_gemm.parts(_row("TA-4", "MXFP8 MoE kernel (Backward (dB): 2D-2D scaled grouped GEMM)", "mxfp8",
                                 {"input_shape": "(2048, 131072) @ (131072, 7168)",
                                  "model_shapes": "dim 7168, hidden 2048, total_tokens 131072, groups 8"}))
    assert [(g.m, g.n, g.k, g.batch) for g in wgrad.ops] == [(2048, 7168, 16384, 8)]
    teaching = _row("TK-001", "ThunderKittens educational B200 GEMM, level 01", "bf16",
                    {"M": 4096, "N": 4096, "K": 4096, "level": 1}, unit="TFLOP/s")
    assert isinstance(predict(teaching, "analytical"), Skip)
    full = _row("TK-010", "ThunderKittens bf16 GEMM, full kernel", "bf16", {"M": 4096, "N": 4096, "K": 4096},
                unit="TFLOP/s", metric="throughput")
    assert isinstance(predict(full, "analytical"), Prediction)


def test_vidur_gemm_rows_are_fp16_linears_with_the_launch():
    from accelscope.measure import rows_gemm

    row = _row("VP-1", "Llama-2-7b QKV projection", "fp16", {"M": 16, "N": 12288, "K": 4096},
               hardware="NVIDIA H100 SXM5 80GB (DGX H100 per vidur README)", unit="ms", metric="time_median")
    mapped = rows_gemm.parts(row)
    assert [(g.m, g.n, g.k, g.dtype) for g in mapped.ops] == [(16, 12288, 4096, "fp16")] and mapped.launch
    seconds, _, flops = rows_gemm.parts_seconds(row, "h100-sxm", "analytical")
    assert flops == 2 * 16 * 12288 * 4096
    assert seconds == acs_seconds(16, 12288, 4096)


def acs_seconds(m, n, k):
    import accelscope as acs
    from accelscope.workload import Gemm

    return acs.estimate(Gemm(m, n, k, "fp16"), "h100-sxm", level="analytical").seconds


# ----- the dtype a GEMM row names: 4- and 6-bit formats, E4M3/E5M2 spellings, weight-only rows ---------------------
def _typed_gemm_row(hardware: str, dtype: str, m: int = 8192, unit: str = "TFLOP/s") -> MeasuredRow:
    return MeasuredRow(id="T-6", hardware=hardware, category="gemm", op="matmul", dtype=dtype,
                       shape={"M": m, "N": 8192, "K": 8192}, metric="throughput" if "/s" in unit else "time",
                       value=1000.0, unit=unit)


@pytest.mark.parametrize(("text", "dtype"), [
    ("nvfp4", "nvfp4"), ("NVFP4 x NVFP4 -> bf16", "nvfp4"), ("mxfp4", "mxfp4"), ("fp4 (e2m1) x fp4 -> bf16", "fp4_e2m1"),
    ("mxfp6_e3m2", "mxfp6"), ("fp6_e2m3", "fp6_e2m3"), ("e4m3", "fp8_e4m3"), ("float8_e5m2", "fp8_e4m3"),
    ("bf16 -> mxfp8", "fp8_e4m3"), ("tf32 (f32 x f32 -> f32 HLO dot)", "tf32"), ("bfloat16", "bf16"),
])
def test_a_rows_dtype_text_names_the_narrowest_format_it_runs(text, dtype):
    """The matrix path runs the narrowest operand format the text names, not the output's ("-> bf16"); FP8's two
    encodings share one rate on every preset, so E5M2 reads as the FP8 path (the pre-existing reading)."""
    from accelscope.measure.predict import row_dtype

    assert row_dtype(text) == dtype


def test_an_fp4_gemm_row_is_priced_on_the_fp4_path_where_the_chip_has_one():
    """Before, 'nvfp4' named no format the mapper read: the row was unmapped. Roofline by hand, 8192^3 (2 x 8192^3 =
    1.0995e12 FLOP; operands 2 x 8192^2 x 4.5 / 8 B + C 8192^2 x 2 B = 210 MB, far under the compute time):
    B200 NVFP4 9000 TFLOP/s: 122.17 us + 2.5 us launch = 124.67 us -> 8819.5 TFLOP/s (the bf16 output does not
    make it a bf16 GEMM: 2238.5); H100 has no FP4 path and runs it on FP8 (1978.9): 555.62 + 2.5 us -> 1970.0."""
    b200 = predict(_typed_gemm_row("NVIDIA B200 (HGX)", "nvfp4 x nvfp4 -> bf16"), "roofline")
    h100 = predict(_typed_gemm_row("NVIDIA H100 SXM5", "nvfp4"), "roofline")
    assert isinstance(b200, Prediction) and isinstance(h100, Prediction)
    assert b200.value == pytest.approx(8819.5, rel=1e-4)
    assert h100.value == pytest.approx(1970.0, rel=1e-4)
    analytical = predict(_typed_gemm_row("NVIDIA B200 (HGX)", "mxfp4"), "analytical")
    fp8 = predict(_typed_gemm_row("NVIDIA B200 (HGX)", "fp8_e4m3"), "analytical")
    assert isinstance(analytical, Prediction) and isinstance(fp8, Prediction)
    assert fp8.value < analytical.value < 9000  # twice FP8's peak on B200, below its own


def test_a_weight_only_gemm_row_multiplies_16_bit_activations_by_its_int_weights():
    """'int4 weight-only' on a GEMM row was priced as an fp16 GEMM (row_dtype's default): four times the weight
    bytes. Roofline by hand, H100, M = 16, N = K = 8192 (decode), in us: A 16 x 8192 x 2 B = 262,144; B int4 with
    a bf16 scale and zero per 128 (4.25 bits) = 35,651,584; C 262,144: 36,175,872 B / 3.35 TB/s = 10.80 us + 2.5 us
    launch = 13.30 us, against bf16 weights' (134,217,728 + 524,288) B / 3.35 TB/s + 2.5 = 42.72 us."""
    from accelscope.hardware import load_hardware
    from accelscope.perf.estimate import estimate
    from accelscope.workload.ops import Gemm

    w4 = _typed_gemm_row("NVIDIA H100 SXM5", "int4 weight-only (group 128), bf16 activations", m=16, unit="us")
    bf16 = _typed_gemm_row("NVIDIA H100 SXM5", "bf16", m=16, unit="us")
    w4_time, bf16_time = predict(w4, "roofline"), predict(bf16, "roofline")
    assert isinstance(w4_time, Prediction) and isinstance(bf16_time, Prediction)
    assert w4_time.value == pytest.approx(13.30, rel=1e-3)
    assert bf16_time.value == pytest.approx(42.72, rel=1e-3)
    analytical = predict(w4, "analytical")
    op = Gemm(m=16, n=8192, k=8192, dtype="bf16", b_dtype="int4_g128")
    assert isinstance(analytical, Prediction)
    assert analytical.value == pytest.approx(estimate(op, load_hardware("h100-sxm"), "analytical").seconds * 1e6)


@pytest.mark.parametrize(("text", "mapped"), [("w8a16", True), ("W4A16", True), ("int8 weight-only", True),
                                               ("int4", False), ("weight-only", False)])
def test_a_gemm_rows_integer_text_is_mapped_only_when_its_operands_are_clear(text, mapped):
    """'int4' alone (int4 x int4, or int4 weights?) and 'weight-only' without a width say too little: unmapped
    with the reason, never priced as fp16."""
    outcome = predict(_typed_gemm_row("NVIDIA H100 SXM5", text, m=16, unit="us"), "roofline")
    assert isinstance(outcome, Prediction) == mapped
    if not mapped:
        assert isinstance(outcome, Skip) and outcome.reason.startswith(f"dtype {text!r} not understood")


def test_a_block_scaled_fp8_gemm_row_is_priced_with_its_promotion():
    """DeepGEMM's rows state `scale_block` 128 (DeepSeek-V3's fine-grained FP8 scaling): the row is
    Gemm(scale_block=128), whose FP32 promotion every 128 of K is vector work the plain FP8 GEMM does not have."""
    from accelscope.hardware import load_hardware
    from accelscope.perf.estimate import estimate
    from accelscope.workload.ops import Gemm

    shape = {"M": 4096, "N": 7168, "K": 16384, "scale_block": 128}
    row = MeasuredRow(id="T-7", hardware="NVIDIA H800 SXM5", category="gemm", op="fp8 gemm", dtype="fp8_e4m3",
                      shape=shape, metric="throughput", value=1358.0, unit="TFLOP/s")
    op = Gemm(m=4096, n=7168, k=16384, dtype="fp8_e4m3", scale_block=128)
    seconds = estimate(op, load_hardware("h800-sxm"), "analytical").seconds
    outcome = predict(row, "analytical")
    assert isinstance(outcome, Prediction)
    assert outcome.value == pytest.approx(2 * 4096 * 7168 * 16384 / seconds / 1e12, rel=1e-9)
    from accelscope.perf.analytical.matmul import block_scaling

    scaling, why = block_scaling(op, load_hardware("h800-sxm"))
    assert scaling is not None and scaling.promote_every == 128 and "FP32 block scales every 128 of K" in why
    # on Hopper the promotion overlaps the asynchronous wgmma: at this shape it costs no time over plain FP8
    plain = predict(dataclasses.replace(row, shape={"M": 4096, "N": 7168, "K": 16384}), "analytical")
    assert isinstance(plain, Prediction) and plain.value >= outcome.value


@pytest.mark.parametrize("name", ["NVIDIA H200 NVL 141GB", "NVIDIA GH200 96GB HBM3", "NVIDIA A100 40GB PCIe"])
def test_a_part_that_shares_a_presets_name_but_not_its_figures_is_unmapped_and_said(name):
    """An H200 NVL (600 W, lower quoted clock) was priced as the 700 W SXM part, a 96 GB GH200 (4 TB/s) as the
    144 GB one (4.9 TB/s): now no preset, with the reason."""
    row = MeasuredRow(id="T-8", hardware=name, category="gemm", op="mm", dtype="bf16",
                      shape={"M": 4096, "N": 4096, "K": 4096}, metric="time", value=1.0, unit="ms")
    outcome = predict(row, "analytical")
    assert isinstance(outcome, Skip) and outcome.reason == f"no preset for hardware {name!r}"

