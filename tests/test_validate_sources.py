"""`accelscope validate` over several files, folders and named datasets; per-source tables; unmapped rows by
reason; leave-one-source-out; the small-op mappers (hand-derived where a number is checked)."""

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from accelscope import estimate, load_hardware
from accelscope.cli.app import app
from accelscope.measure import MeasuredRow, load_rows, summarize, validate, write_rows
from accelscope.measure.dataset import source_of
from accelscope.measure.globalfit import SourceFit, leave_one_source_out
from accelscope.measure.predict import Prediction, Skip, predict
from accelscope.measure.rows_elementwise import traced_seconds
from accelscope.measure.validate import unmapped
from accelscope.workload import Elementwise, Norm

GIB = 2**28  # fp32 elements in 1 GiB


def _row(rid, category="gemm", hardware="NVIDIA H100 SXM5", **kw):
    base = {"op": "matmul", "dtype": "bf16", "shape": {"M": 4096, "N": 4096, "K": 4096}, "metric": "throughput",
            "value": 600.0, "unit": "TFLOP/s"}
    return MeasuredRow(id=rid, hardware=hardware, category=category, **{**base, **kw})


def test_more_and_all_datasets_ship_with_the_package():
    more = load_rows("more")
    assert len(more) == 7602
    assert {source_of(r) for r in more} == {"VP", "CU", "MT", "LF", "TA", "MM", "TK"}
    assert "memory_footprint" in {r.category for r in more}
    assert len(load_rows("all")) == len(more) + len(load_rows("dev"))


def test_files_and_folders_together_and_duplicate_ids(tmp_path):
    write_rows([_row("AA-1"), _row("AA-2")], tmp_path / "a" / "one.csv")
    write_rows([_row("BB-1")], tmp_path / "a" / "two.csv")
    write_rows([_row("CC-1")], tmp_path / "three.csv")
    rows = load_rows([tmp_path / "a", tmp_path / "three.csv"])
    assert [r.id for r in rows] == ["AA-1", "AA-2", "BB-1", "CC-1"]
    write_rows([_row("AA-1")], tmp_path / "dup.csv")
    with pytest.raises(ValueError, match=r"dup\.csv: line 2: field 'id': 'AA-1' is already a row of"):
        load_rows([tmp_path / "a", tmp_path / "dup.csv"])


def test_bad_category_names_file_line_row_and_field(tmp_path):
    path = write_rows([_row("AA-1")], tmp_path / "bad.csv")
    path.write_text(path.read_text().replace(",gemm,", ",gemmm,"))
    with pytest.raises(ValueError, match=r"bad\.csv: line 2: row AA-1: field 'category': 'gemmm' is not one of"):
        load_rows(path)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2 and "field 'category'" in result.output  # one error line (cli/errors.py)


def test_filters_per_source_tables_and_unmapped_reasons():
    rows = [_row("AA-1"), _row("AA-2", hardware="Imaginary GPU 9000"), _row("BB-1", category="elementwise",
            op="mystery op", shape={"x": 1}, unit="ms", metric="time", value=1.0)]
    results = validate(rows, ["roofline"])
    by_source = {c.category: c for c in summarize(results, "source")}
    assert set(by_source) == {"AA"} and by_source["AA"].rows == 1
    reasons = dict(unmapped(results)["roofline"])
    assert reasons["no preset for hardware 'Imaginary GPU 9000'"] == ["AA-2"]
    assert reasons["elementwise op 'mystery op' not mapped"] == ["BB-1"]
    assert [r.row.id for r in validate(rows, ["roofline"], sources=["bb"])] == ["BB-1"]
    assert [r.row.id for r in validate(rows, ["roofline"], categories=["gemm"])] == ["AA-1", "AA-2"]
    with pytest.raises(ValueError, match="--category: unknown gemmm"):
        validate(rows, ["roofline"], categories=["gemmm"])
    with pytest.raises(ValueError, match="--source: no rows with id prefix ZZ"):
        validate(rows, ["roofline"], sources=["ZZ"])


def test_cli_several_sources_json_has_per_source_and_unmapped(tmp_path):
    a = write_rows([_row("AA-1"), _row("AA-2", hardware="Imaginary GPU 9000")], tmp_path / "a.csv")
    b = write_rows([_row("BB-1", value=700.0)], tmp_path / "b.csv")
    result = CliRunner().invoke(app, ["validate", str(a), str(b), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {s["source"] for s in data["by_source"]} == {"AA", "BB"}
    assert {s["source_chip"] for s in data["by_source_chip"]} == {"AA / h100-sxm", "BB / h100-sxm"}
    assert data["unmapped"]["roofline"] == [{"reason": "no preset for hardware 'Imaginary GPU 9000'", "count": 1,
                                             "ids": ["AA-2"]}]
    md = CliRunner().invoke(app, ["validate", str(a), str(b), "--markdown", "--source", "BB"])
    assert "| BB / h100-sxm |" in md.output and "AA-1" not in md.output


def _read_row(rid, measured_efficiency):
    """An accelscope-bench 'read' stream of 1 GiB on H100 whose measured GB/s is what the model predicts with
    the DRAM efficiency `measured_efficiency` (so a fit on it alone finds that value)."""
    row = MeasuredRow(id=rid, hardware="NVIDIA H100 SXM5", category="memory", op="stream read", dtype="fp32",
                      shape={"kernel": "read", "elements": GIB}, metric="bandwidth", value=1.0, unit="GB/s")
    spec = load_hardware("h100-sxm").with_overrides({"memory.hbm.efficiency": measured_efficiency})
    return replace(row, value=predict(row, "analytical", spec=spec).value)


def test_leave_one_source_out_fits_without_the_scored_source():
    rows = [_read_row("AA-1", 0.80), _read_row("BB-1", 0.90), _read_row("BB-2", 0.90)]
    fitter = SourceFit(rows, "analytical")
    assert fitter.constants(without="AA").dram_efficiency == pytest.approx(0.90)
    assert fitter.constants(without="BB").dram_efficiency == pytest.approx(0.80)
    held = {h.source: h for h in leave_one_source_out(rows, "analytical", fitter=fitter)}
    # AA measured at 0.80 of the bandwidth, predicted at 0.90: a rate 0.90 / 0.80 - 1 = +12.5 % too fast (the
    # ~3 us of launch and latency on ~360 us of streaming move it by under 0.1 points)
    assert held["AA"].signed["memory"][0] == pytest.approx(0.125, abs=0.002)
    assert held["BB"].signed["memory"][0] == pytest.approx(0.80 / 0.90 - 1, abs=0.002)


def test_vidur_per_token_kernel_launches_few_threads():
    """vLLM's SiluAndMul at 1 token: one block of 1024 threads, one 2-byte load of x and of y in flight per thread:
    the 11008 outputs take ceil(11008 / 1024) = 11 whole rounds of the 600 ns DRAM latency (the last, 768
    threads, costs a full round trip too). One wave: the writes drain behind the reads, no drain is added."""
    hw = load_hardware("h100-sxm")
    one = Elementwise("swiglu", 11008, "fp16", kernel="scalar", rows=1)
    est = estimate(one, hw, "analytical")
    tail = 260e-9  # the last stores reach L2
    assert est.seconds - hw.runtime.launch_latency == pytest.approx(11 * 600e-9 + tail, rel=1e-9)
    flat = estimate(Elementwise("swiglu", 11008, "fp16", kernel="scalar"), hw, "analytical")
    assert flat.seconds < est.seconds  # without `rows` the grid spreads over the chip


def test_vidur_rows_exclude_the_host_launch():
    row = MeasuredRow(id="VP-1", hardware="NVIDIA H100 SXM5 80GB (DGX H100 per vidur README)",
                      category="elementwise", op="Llama residual add (torch a+b)", dtype="fp16",
                      shape={"input_shape": [4096, 8192], "operands": 3, "num_tokens": 4096}, metric="time_median",
                      value=0.1, unit="ms", source="github.com/microsoft/vidur")
    hw = load_hardware("h100-sxm")
    one = estimate(Elementwise("add", 4096 * 8192, "fp16", warm_inputs=1), hw, "analytical").seconds
    # two a+b kernels, each without the host launch overhead, each reading the array the kernel before wrote,
    # each traced in whole microseconds
    assert predict(row, "analytical").value == pytest.approx(
        2 * traced_seconds(one - hw.runtime.launch_latency) * 1e3)


def test_vidur_trace_reads_whole_microseconds():
    """kineto truncates a kernel's duration to whole microseconds; the kernel's duration holds 0.5 us of device-side
    launch besides the `seconds` after its host launch: 1.3 + 0.5 = 1.8 -> 1, 1.6 + 0.5 = 2.1 -> 2,
    62.4 + 0.5 = 62.9 -> 62; 0.2 + 0.5 = 0.7 reads 0 and is dropped by the tracer, so a kept value is 1."""
    assert traced_seconds(1.3e-6) == pytest.approx(1e-6)
    assert traced_seconds(1.6e-6) == pytest.approx(2e-6)
    assert traced_seconds(62.4e-6) == pytest.approx(62e-6)
    assert traced_seconds(0.2e-6) == pytest.approx(1e-6)


def test_warm_input_is_read_from_l2_as_far_as_it_fits():
    """vidur's residual add reads the down_proj GEMM's output just written: H100's L2 (50 MiB = 52,428,800 B)
    keeps half of it resident, 26,214,400 B. At 4096 x 8192 fp16 (64 MiB per array) that much of the reads
    leaves DRAM: 26,214,400 B / (0.95 x 3.35 TB/s) = 8.237 us saved. At 512 tokens (8 MiB) the whole array fits:
    8,388,608 B / 3.1825 TB/s = 2.636 us saved."""
    hw = load_hardware("h100-sxm")

    def saved(tokens: int) -> float:
        cold, warm = (estimate(Elementwise("add", tokens * 8192, "fp16", warm_inputs=w), hw, "analytical").seconds
                      for w in (0, 1))
        return cold - warm

    assert saved(4096) == pytest.approx(8.237e-6, rel=1e-3)
    assert saved(512) == pytest.approx(2.636e-6, rel=1e-3)
    with pytest.raises(ValueError):
        Elementwise("add", 16, "fp16", warm_inputs=3)  # an add has 2 input arrays


def test_elementwise_refuses_malformed_fields():
    with pytest.raises(ValueError, match="sequence of loop lengths"):
        Elementwise("add", 10, "fp16", rows=2, row_loops=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be integers"):
        Elementwise("add", 10, "fp16", rows=2, row_loops=(2.5, 2.5))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="whole number of input arrays"):
        Elementwise("add", 10, "fp16", warm_inputs=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="whole number of rows"):
        Elementwise("add", 10, "fp16", rows=2.5)  # type: ignore[arg-type]
    assert Elementwise("add", 10, "fp16", rows=2, row_loops=[3, 2]).row_loops == (3, 2)  # a list is taken
    import numpy as np

    assert Elementwise("add", 10, "fp16", rows=np.int64(2), warm_inputs=np.int64(1)).warm_inputs == 1  # NumPy ints


def test_cudnn_norm_rows():
    def row(mode, backend, n=16384):
        return MeasuredRow(id="CU-1", hardware="NVIDIA GB200 (Blackwell GPU of a GB200 superchip)",
                           category="elementwise", op=f"rms_norm {mode} ({backend})", dtype="bfloat16",
                           shape={"norm": "rms_norm", "N_rows": n, "C_hidden": 4096, "mode": mode,
                                  "backend": backend}, metric="time", value=0.05, unit="ms")
    fwd = predict(row("fwd", "cudnn"), "analytical").value
    assert fwd == pytest.approx(estimate(Norm(16384, 4096, "rms", "bf16"), "gb200", "analytical").seconds * 1e3)
    # backward, cuDNN: x and dy read, dx written (3 tensors vs the forward's 2: (2 + 1.24) / (1 + 1.24) = 1.45),
    # then a finalize kernel over 148 SMs x 4096 fp32 partial sums (2.4 MB: its launch and latency, ~3 us)
    cudnn, compiled = (predict(row("bwd", b), "analytical").value for b in ("cudnn", "torch_compile"))
    dx = Elementwise("rms_norm_bwd", 16384 * 4096, "bf16", inputs=2, outputs=1, flops_per_element=10)
    finalize = Elementwise("add", 148 * 4096, "fp32", inputs=1, outputs=0)
    assert cudnn == pytest.approx(sum(estimate(op, "gb200", "analytical").seconds for op in (dx, finalize)) * 1e3)
    assert 1.45 < cudnn / fwd < 1.55
    # torch.compile: dx is Inductor's looped reduction walked in waves (82.119 us at 16384 x 4096 on GB200, derived
    # in test_inductor_looped_reduction_walks_its_waves; longer than dx's one-pass stream); the weight gradient is
    # its own column reduction reading x and dy again, split in two kernels by Inductor. At 16384 x 4096 the split
    # is 32 chunks of 512 rows: each first-level program loops 64 times (kept a loop), a round trip per iteration
    # (inductor_outer_seconds: 2.5 + 64 x 1.352 = 89.0 us) in place of the flat stream of x and dy
    from accelscope.measure.rows_elementwise import InductorOuterReduction, inductor_outer_seconds

    partials = Elementwise("add", 148 * 4096, "fp32", inputs=1, outputs=0)
    walk = inductor_outer_seconds(InductorOuterReduction(16384, 4096, 32), "gb200")
    assert estimate(dx, "gb200", "analytical").seconds < 82.119e-6
    assert compiled == pytest.approx((82.119e-6 + walk + estimate(partials, "gb200", "analytical").seconds) * 1e3,
                                     rel=1e-5)
    # at 8192 x 4096 the chunks are 256 rows, 32 iterations, walked the same way (one round trip an iteration):
    # 2,048 programs in one wave, 4,194,304 B an iteration (0.551882 us at 8 TB/s x 0.95), from DRAM since the dx
    # kernel's 201 MB outgrow L2's resident half: 2.5 + 32 x 1.351882 = 45.760 us after the 42.310 us dx walk,
    # then the partials' reduction
    compiled = predict(row("bwd", "torch_compile", 8192), "analytical").value
    assert compiled == pytest.approx((42.310e-6 + 45.760e-6 + estimate(partials, "gb200", "analytical").seconds)
                                     * 1e3, rel=1e-4)


def test_two_loop_row_kernels_walk_in_waves():
    """Inductor's looped reduction (C > 1024; XBLOCK 1, R0_BLOCK min(C, 2048), 16 warps): 4 programs of 512 threads
    per SM, 592 rows a wave on GB200 (148 SMs); a wave costs the DRAM latency (800 ns) + its reads at 8 TB/s x
    0.95 (the first loop's loads all in flight: one round), then the longer of its second-loop L2 steps (150 ns
    each) and its writes (x 1.24 write cost); launch 2.5 us.
    - Forward, 8192 x 4096 (one array, 2 iterations): 13 full waves of 4,849,664 B each way: 0.8 + 0.63811 +
      max(0.3, 0.79126) = 2.22937 us; a last wave of 496 rows (4,063,232 B): 0.8 + 0.53464 + 0.66295 = 1.99759 us;
      2.5 + 13 x 2.22937 + 1.99759 = 33.479 us (the one-pass stream: ~23 us).
    - dx of the backward, 16384 x 4096 (dy and x): 27 full waves, reads 9,699,328 B (1.27623 us), writes 4,849,664 B
      (0.79126 us): 2.86749 us each; a last wave of 400 rows: 0.8 + 0.86232 + 0.53464 = 2.19696 us;
      2.5 + 27 x 2.86749 + 2.19696 = 82.119 us. At 8192 x 4096: 2.5 + 13 x 2.86749 + (0.8 + 1.06927 + 0.66295) =
      42.310 us.
    - dx on H200 at 4096 x 16384 (132 SMs: 528 rows a wave, 8 iterations): the wave's dy and x, 34.6 MB, outgrow
      L2's resident half (26.2 MB), so the second loop reads them from DRAM again, with the writes; H200's preset
      has no DRAM latency. Full wave: 7.58838 us of reads, then 7.58838 + 4.70479 us; 7 of them and a last of 400
      rows (5.74877 + 5.74877 + 3.56423 us): 2.5 + 7 x 19.88155 + 15.06177 = 156.733 us (4.8 TB/s x 0.95).
    - ATen's eager dx at 8192 x 4096 on GB200: 128 threads a row, 16 rows per SM, 2368 a wave: 3 full waves and one
      of 1088 rows; 8 iterations of one 8-byte load per array, not unrolled: 8 rounds, the first in step (0.8 us +
      its 4,849,664 B, 0.63811 us), the other 7 a DRAM latency each (their bytes take less); the rows, 38.8 MB, stay
      in L2 (66.1 MB), so the second loop is max(8 x 0.15, 19,398,656 B x 1.24 / 7.6 TB/s = 3.16504) us: a wave
      1.43811 + 5.6 + 3.16504 = 10.20315 us; the last 0.8 + 0.29319 + 5.6 + 1.45421 = 8.14740 us;
      2.5 + 3 x 10.20315 + 8.14740 = 41.257 us."""
    from accelscope.measure.rows_elementwise import aten_grad_input, inductor_looped, row_loops_seconds

    norm = Norm(8192, 4096, "rms", "bf16")
    assert row_loops_seconds(inductor_looped(8192, 4096, 1, norm), "gb200") == pytest.approx(33.479e-6, rel=1e-4)
    assert row_loops_seconds(inductor_looped(16384, 4096, 2, None), "gb200") == pytest.approx(82.119e-6, rel=1e-4)
    assert row_loops_seconds(inductor_looped(8192, 4096, 2, None), "gb200") == pytest.approx(42.310e-6, rel=1e-4)
    assert row_loops_seconds(inductor_looped(4096, 16384, 2, None), "h200-sxm") == pytest.approx(156.733e-6, rel=1e-4)
    assert row_loops_seconds(aten_grad_input(8192, 4096, None), "gb200") == pytest.approx(41.257e-6, rel=1e-4)
    # the CU torch.compile forward row maps to the forward walk (longer than its stream)
    row = MeasuredRow(id="CU-1", hardware="NVIDIA GB200 (Blackwell GPU of a GB200 superchip)", category="elementwise",
                      op="rms_norm fwd (torch_compile)", dtype="bfloat16", shape={"norm": "rms_norm", "N_rows": 8192,
                      "C_hidden": 4096, "mode": "fwd", "backend": "torch_compile"}, metric="time", value=0.03,
                      unit="ms")
    assert predict(row, "analytical").value == pytest.approx(33.479e-3, rel=1e-4)
    assert predict(row, "analytical").bound == "latency"


def test_inductor_weight_gradient_split_and_its_loop():
    """torch/_inductor/ir.py Reduction.num_splits for the outer (column) reduction of an N x C weight gradient on
    a chip of S SMs (min 32 x S x 2048 and max 512 x S x 2048 elements; 256 threads, 4 values per thread):
    - 16384 x 4096, S = 148: 67.1 M elements, between the bounds; C / 128 = 32 x-blocks, target blocks
      ceil(148 x 2048 / 256 / 32) = 37, wanted split size ceil(16384 / (4 x 37)) = 111, nearest divisor 128
      (17 away, < 20): split = ceil(16384 / (4 x 128)) = 32, chunks of 512 rows, 64 iterations of 8 rows.
    - 8192 x 8192, S = 148: 64 x-blocks, target 19, wanted 108, nearest divisor 128 is 20 away (not < 20):
      split size 108, split = ceil(8192 / 432) = 19, chunks of 432 rows, 54 iterations.
    - 8192 x 128, S = 148: 1.05 M elements, under the lower bound: split size 32, split = 8192 / 128 = 64,
      16 iterations. 4096 x 16384: 16384 >= 2 x 32 x 148 columns, not split.
    inductor_outer_seconds, 8192 x 8192 on GB200: 19 x 128 = 2,432 programs, 148 x 16 = 2,368 resident, so a
    wave of 2,368 (4,849,664 B an iteration, 0.63811 us at 8 TB/s x 0.95) and one of 64 (131,072 B, 0.01725 us),
    54 iterations each: 2.5 + 54 x (0.8 + 0.63811) + 54 x (0.8 + 0.01725) = 124.29 us. H200 (no DRAM latency in
    its preset) gets its bytes at the bandwidth: 16384 x 4096, one wave of 2,048 programs, 64 x 4 MiB /
    (4.8 TB/s x 0.95) + 2.5 = 61.37 us."""
    from accelscope.measure.rows_elementwise import (
        InductorOuterReduction,
        inductor_outer_iterations,
        inductor_outer_seconds,
        inductor_outer_splits,
    )

    assert inductor_outer_splits(16384, 4096, 148) == 32 and inductor_outer_iterations(16384, 32) == 64
    assert inductor_outer_splits(8192, 8192, 148) == 19 and inductor_outer_iterations(8192, 19) == 54
    assert inductor_outer_splits(8192, 128, 148) == 64 and inductor_outer_iterations(8192, 64) == 16
    assert inductor_outer_splits(4096, 16384, 148) == 1
    assert inductor_outer_seconds(InductorOuterReduction(8192, 8192, 19), "gb200") == pytest.approx(124.29e-6,
                                                                                                     rel=1e-4)
    assert inductor_outer_seconds(InductorOuterReduction(16384, 4096, 32), "h200-sxm") == pytest.approx(
        61.37e-6, rel=1e-3)


def test_inductor_weight_gradient_walk_from_dram_or_l2():
    """Every split first-level program waits on each 8-row iteration's loads, so short chunks walk too:
    - 8192 x 5120 on GB200 (split 32, 32 iterations): 32 x 80 = 2,560 programs, 2,368 resident (148 SMs x 16), so
      a wave of 2,368 (4,849,664 B an iteration, 0.638114 us at 8 TB/s x 0.95) and one of 192 (393,216 B,
      0.051739 us), both from DRAM (the dx kernel's 3 x 8192 x 5120 x 2 B = 252 MB outgrow L2's 66 MB half):
      2.5 + 32 x (0.8 + 0.638114) + 32 x (0.8 + 0.051739) = 75.775 us.
    - 8192 x 128 on GB200 (split 64, 16 iterations): 128 programs, one wave of 262,144 B an iteration; dx left its
      6.3 MB in L2, so each round trip is L2's 150 ns plus the bytes at 14 TB/s (0.018725 us):
      2.5 + 16 x 0.168725 = 5.1996 us (from DRAM it would be 2.5 + 16 x 0.834 = 15.8 us).
    - the same on H200, whose preset has no DRAM latency: no round trip priced, L2's 6.65 TB/s only:
      2.5 + 16 x 0.039420 = 3.1307 us."""
    from accelscope.hardware import load_hardware
    from accelscope.measure.rows_elementwise import (
        InductorOuterReduction,
        dx_left_in_l2,
        inductor_outer_seconds,
    )

    assert inductor_outer_seconds(InductorOuterReduction(8192, 5120, 32), "gb200") == pytest.approx(75.775e-6,
                                                                                                    rel=1e-4)
    assert not dx_left_in_l2(8192, 5120, load_hardware("gb200"))
    assert dx_left_in_l2(8192, 128, load_hardware("gb200"))
    assert inductor_outer_seconds(InductorOuterReduction(8192, 128, 64), "gb200") == pytest.approx(5.1996e-6,
                                                                                                   rel=1e-4)
    assert inductor_outer_seconds(InductorOuterReduction(8192, 128, 64), "h200-sxm") == pytest.approx(3.1307e-6,
                                                                                                      rel=1e-4)


def test_vidur_collective_across_nodes_uses_the_scale_out_network():
    def row(per_node, nodes):
        return MeasuredRow(id="VP-2", hardware="NVIDIA H100 SXM5 80GB (DGX H100)", category="collective",
                           op="send_recv", dtype="fp16", shape={"collective": "send_recv", "payload_bytes": 2**30,
                           "gpus": per_node * nodes, "gpus_per_node": per_node, "nodes": nodes,
                           "max_gpus_per_node": 8}, metric="time_median", value=1.0, unit="ms")
    inside, across = predict(row(2, 1), "analytical"), predict(row(1, 2), "analytical")
    assert isinstance(inside, Prediction) and isinstance(across, Prediction)
    # 1 GiB over NVLink (450 GB/s x 0.824 planned) vs one 400 Gb/s NIC (50 GB/s): about 7x slower across nodes
    assert 5 < across.value / inside.value < 9
    bad = MeasuredRow(id="VP-3", hardware="NVIDIA A100 80GB (vidur \"a100\" compute profile; form factor not "
                      "stated)", category="elementwise", op="x", dtype="fp16", shape={}, metric="t", value=1,
                      unit="ms")
    assert isinstance(predict(bad, "analytical"), Skip) and "form factor" in predict(bad, "analytical").reason


def test_cli_loso_json(tmp_path):
    path = write_rows([_read_row("AA-1", 0.80), _read_row("BB-1", 0.90)], tmp_path / "streams.csv")
    result = CliRunner().invoke(app, ["validate", str(path), "--levels", "analytical", "--loso", "--json"])
    assert result.exit_code == 0, result.output
    held = {h["held_out"]: h for h in json.loads(result.output)["analytical"]["held_out"]}
    assert held["AA"]["constants"]["dram_efficiency"] == pytest.approx(0.90)
    assert held["AA"]["mean_abs_error"]["memory"] == pytest.approx(0.125, abs=0.002)
    # the held-out row's own error: AA-1 measured at 0.80 of peak, priced at BB's 0.90, (0.90 - 0.80) / 0.80
    assert held["AA"]["row_errors"] == {"AA-1": pytest.approx(0.125, abs=0.002)}
    assert abs(held["BB"]["row_errors"]["BB-1"]) == pytest.approx(held["BB"]["mean_abs_error"]["memory"])


def test_eager_norm_backward_rereads_dy_and_x_when_its_rows_outgrow_l2():
    """ATen's norm input gradient: one 128-thread block per row reads the row's dy and x for its sums, then again
    for dx. On H200 (132 SMs x 16 blocks = 2112 rows in flight, half of the 50 MiB L2 = 26.2 MB):
    C = 8192: 2112 x 2 x 16 KiB = 69 MB do not fit, so dy and x stream from DRAM twice: 2 x 8192 x 8192 x 2 B =
    268 MB more at 4.8 TB/s x 0.95 = 58.9 us; C = 2048: 2112 x 2 x 4 KiB = 17.3 MB fit, the re-read is L2's.
    torch.compile (Inductor's looped reduction past C = 1024: one 256-thread program per row, 8 per SM, 1056 rows
    in flight): C = 8192: 1056 x 32 KiB = 34.6 MB do not fit, the same 58.9 us; C = 4096: 17.3 MB fit; C = 1024:
    a persistent reduction, the row read once. cuDNN: one pass, nothing re-read."""
    from accelscope.measure.dataset import MeasuredRow
    from accelscope.measure.rows_elementwise import _grad_input_reread

    def reread(n: int, c: int, backend: str = "pytorch") -> float:
        shape = {"N_rows": n, "C_hidden": c, "norm": "rms_norm", "backend": backend, "mode": "bwd"}
        row = MeasuredRow(id="CU-9998", hardware="NVIDIA H200", category="elementwise", op="rms_norm bwd",
                          dtype="bf16", shape=shape, metric="time_median", value=1.0, unit="ms")
        return _grad_input_reread(row, "h200-sxm", "analytical")

    assert reread(8192, 8192) == pytest.approx(2 * 8192 * 8192 * 2 / (4.8e12 * 0.95), rel=1e-3)
    assert reread(4096, 2048) == 0.0
    assert reread(8192, 8192, "torch_compile") == pytest.approx(2 * 8192 * 8192 * 2 / (4.8e12 * 0.95), rel=1e-3)
    assert reread(8192, 4096, "torch_compile") == 0.0
    assert reread(65536, 1024, "torch_compile") == 0.0
    assert reread(8192, 8192, "cudnn") == 0.0


def test_aten_gamma_beta_kernel_walks_its_rows_in_tiles():
    """ATen's weight-gradient kernel (GammaBetaBackwardCUDAKernelTemplate, normal path): one 32 x 32-thread block
    per 32 columns, each walking M rows in tiles of 256 rows; 2 blocks of 1024 threads fit an SM. The blocks of a
    wave run in step, so each tile costs one DRAM round trip plus the wave's tile bytes at the sustained bandwidth.
    - 8192 x 128 on GB200: 4 blocks, 32 tiles; a tile moves 4 x 256 x 32 x 2 B x 2 (dY, X) = 131,072 B, 17.25 ns
      at 8 TB/s x 0.95: 2.5 us launch + 32 x (0.8 + 0.01725) us = 28.652 us (a flat stream of its 4 MiB would
      take ~1 us: the rows, not the bytes, set the time).
    - 16384 x 4096 on GB200: 128 blocks, one wave, 64 tiles of 128 x 32,768 B = 4,194,304 B (0.55189 us):
      2.5 + 64 x 1.35189 = 89.02 us (it was 2.5 + 64 x 0.8 = 53.7 us when a tile cost the longer of the two).
    - 4096 x 16384 on GB200: 512 blocks, 148 x 2 = 296 resident: a wave of 296 blocks (9,699,328 B a tile,
      1.27622 us) and one of 216 (7,077,888 B, 0.93130 us), 16 tiles each:
      2.5 + 16 x (0.8 + 1.27622) + 16 x (0.8 + 0.93130) = 63.42 us.
    - 100 x 4096 on H100 (rows < 128: 32 x 8 threads, 64-row tiles): 128 blocks, 2 tiles of 128 x 64 x 32 x 4 B =
      1 MiB, 0.32949 us at 3.35 TB/s x 0.95: 2.5 + 2 x (0.6 + 0.32949) = 4.359 us.
    - H200 has no DRAM latency in its preset: 16384 x 4096 is then its bytes at the bandwidth, 2.5 + 64 x 4 MiB /
      (4.8 TB/s x 0.95) = 61.37 us.
    Past 64 Ki rows with few columns ATen splits the rows over blocks instead (not this kernel's time)."""
    from accelscope.measure.rows_elementwise import aten_gamma_beta_seconds, aten_gamma_beta_splits_rows

    assert aten_gamma_beta_seconds(8192, 128, "gb200") == pytest.approx(28.652e-6, rel=1e-4)
    assert aten_gamma_beta_seconds(16384, 4096, "gb200") == pytest.approx(89.02e-6, rel=1e-4)
    assert aten_gamma_beta_seconds(4096, 16384, "gb200") == pytest.approx(63.42e-6, rel=1e-4)
    assert aten_gamma_beta_seconds(100, 4096, "h100-sxm") == pytest.approx(4.359e-6, rel=1e-4)
    assert aten_gamma_beta_seconds(16384, 4096, "h200-sxm") == pytest.approx(61.37e-6, rel=1e-3)
    assert aten_gamma_beta_splits_rows(131072, 128, 148) and not aten_gamma_beta_splits_rows(16384, 128, 148)


def test_sim_loso_scores_rows_it_does_not_lower_with_the_analytical_constants():
    # A cuDNN backward attention row on GB200: the sim does not lower backward attention (perf/sim/model.py), so
    # its sim estimate is the analytical one. Scored at level "sim" with a deliberately low sim-fitted matrix
    # efficiency (0.50) and the analytical level's fit (0.83 / 0.70) as `fallback`, it gets exactly the analytical
    # level's error; a 1 GiB read stream, which the sim does run, keeps the sim constants (DRAM efficiency 0.80,
    # measured at 0.90: 0.80 / 0.90 - 1 = -11.1 %, not the fallback's 0 %).
    from accelscope.measure.globalfit import Constants, HeldOutSource, _score_source

    shape = {"batch": 1, "heads": 16, "head_dim": 128, "q_len": 4096, "kv_len": 4096, "causal": True,
             "backend": "cudnn", "mode": "bwd"}
    attn = MeasuredRow(id="CU-1", hardware="NVIDIA GB200", category="attention", op="SDPA bwd (cudnn)",
                       dtype="bfloat16", shape=shape, metric="time_median", value=1.0, unit="ms")
    stream = _read_row("CU-2", 0.90)
    sim_fit, analytical_fit = Constants(0.80, 1.24, 0.50, 0.50), Constants(0.90, 1.24, 0.83, 0.70)
    sim, plain, analytical = (HeldOutSource("CU", sim_fit), HeldOutSource("CU", sim_fit),
                              HeldOutSource("CU", analytical_fit))
    _score_source(sim, [attn, stream], "sim", fallback=analytical_fit)
    _score_source(plain, [attn], "sim")
    _score_source(analytical, [attn], "analytical")
    assert sim.signed["attention"] == analytical.signed["attention"] != plain.signed["attention"]
    assert sim.signed["memory"][0] == pytest.approx(0.80 / 0.90 - 1, abs=0.002)


def test_tensorrt_llm_engine_runtimes_run_without_cuda_graphs():
    from accelscope.measure.dataset import MeasuredRow
    from accelscope.measure.predict import _cuda_graphs

    def row(op: str, notes: str = "") -> MeasuredRow:
        return MeasuredRow(id="X-001", hardware="h100", category="llm_inference", op=op, dtype="fp8",
                           shape={}, metric="ttft", value=1.0, unit="ms", source="", notes=notes)

    # gptSessionBenchmark / benchmarks/python/benchmark.py: --enable_cuda_graph is off by default
    assert not _cuda_graphs(row("GPT-J-6B time-to-first-token (TensorRT-LLM v0.5)"))
    assert not _cuda_graphs(row("Mistral (7B) TensorRT-LLM benchmark (static batch)"))
    assert _cuda_graphs(row("Llama decode (TensorRT-LLM v0.9)", notes="with CUDA graph"))
    assert _cuda_graphs(row("Llama serving (TensorRT-LLM v1.0)"))  # PyTorch backend by default
    assert _cuda_graphs(row("Llama throughput (TensorRT-LLM v0.12 trtllm-bench)"))  # cuda_graph_mode=True
    assert _cuda_graphs(row("Llama-2-7B single-stream decode (gpt-fast, 1 GPU)"))


def test_tensorrt_llm_v06_engine_defaults():
    from accelscope.measure.dataset import MeasuredRow
    from accelscope.measure.predict import _allreduce, _fused_gate_up, predict

    def row(op: str, shape: dict | None = None) -> MeasuredRow:
        return MeasuredRow(id="X-001", hardware="NVIDIA H100 SXM5 80GB", category="llm_inference", op=op,
                           dtype="fp8", shape=shape or {}, metric="output_throughput_per_gpu", value=1.0,
                           unit="output tokens/s/GPU", source="")

    # v0.6.1 examples/llama/build.py: --use_custom_all_reduce is store_true (opt-in), the documented builds omit it
    v06 = row("Llama-2-70B static-batch generation (TensorRT-LLM v0.6.1 gptSessionBenchmark)",
              {"model": "Llama-2-70B", "batch": 64, "TP": 2, "isl": 2048, "osl": 2048})
    assert _allreduce(v06) == "library"
    assert _allreduce(row("Llama serving (TensorRT-LLM v0.12 trtllm-bench)")) == "custom"  # on by default later
    assert _allreduce(row("Mistral (7B) TensorRT-LLM benchmark (static batch)")) == "custom"  # AZ: current wheel
    assert _allreduce(row("Llama-2-7B single-stream decode (gpt-fast, 1 GPU)")) == "library"  # torch.distributed
    # --use_fused_mlp: absent in v0.5, default=False in v0.6.1, enabled by default later
    assert not _fused_gate_up(v06) and not _fused_gate_up(row("Llama-2-7B TTFT (TensorRT-LLM v0.5)"))
    assert _fused_gate_up(row("Llama serving (TensorRT-LLM v0.12 trtllm-bench)"))
    assert _fused_gate_up(row("Mistral (7B) TensorRT-LLM benchmark (static batch)"))
    # NCCL prices each of a decode step's 160 small all-reduces (64 x 8192 x 2 B = 1 MiB at TP2) above the
    # one-shot kernel's 2 barriers + 1 MiB over NVLink, so the v0.6 row's rate falls
    custom = row("Llama-2-70B static-batch generation (TensorRT-LLM v0.9)", v06.shape)
    assert predict(v06, "analytical").value < predict(custom, "analytical").value


def test_gpt_fast_decodes_with_unfused_math_attention():
    from accelscope import llm
    from accelscope.measure.dataset import MeasuredRow
    from accelscope.measure.predict import _decode_kernel

    gf = MeasuredRow(id="GF-001", hardware="a100", category="llm_inference",
                     op="Llama-2-7B single-stream decode (gpt-fast, 1 GPU)", dtype="bf16", shape={},
                     metric="decode_throughput", value=1.0, unit="tokens/s", source="")
    assert _decode_kernel(gf) == "math"  # generate.py: sdp_kernel(enable_math=True) around the decode step
    kw = dict(batch=1, input_len=5, output_len=200, level="analytical")
    fused = llm.infer("llama-2-7b", "a100-sxm-80gb", **kw)
    unfused = llm.infer("llama-2-7b", "a100-sxm-80gb", decode_attention="math", **kw)
    # three kernels per layer instead of one: at least 32 layers x 2 extra launches x 2.5 us (A100 launch_latency)
    assert unfused.tpot_s - fused.tpot_s >= 32 * 2 * 2.5e-6
