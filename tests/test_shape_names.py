"""An op row is read whatever names its benchmark gives the dimensions (measure/shape_names.py): FlashAttention's
scripts say seqlen / nheads / headdim, a GEMM table m / n / k, a norm benchmark tokens / hidden_size. Before, each
such row was unmapped ("no M/N/K in the shape", "attention rows need shape_json field 'heads'")."""

import pytest

from accelscope.measure import MeasuredRow
from accelscope.measure.predict import Prediction, predict
from accelscope.measure.shape_names import norm_kind, with_canonical_names

SOURCE = "github.com/example/bench results.csv @ " + "0" * 40


def _row(category, op, shape, unit="us", metric="time"):
    return MeasuredRow(id="QQ-1", hardware="NVIDIA H100 SXM5 80GB", category=category, op=op, dtype="bf16",
                       shape=shape, metric=metric, value=100.0, unit=unit, source=SOURCE)


def _same(a, b):
    pa, pb = predict(a, "analytical"), predict(b, "analytical")
    assert isinstance(pa, Prediction) and isinstance(pb, Prediction), (pa, pb)
    assert pa.value == pb.value


def test_a_gemm_in_lower_case_names():
    _same(_row("gemm", "matmul", {"m": 4096, "n": 8192, "k": 2048, "batch_size": 2}),
          _row("gemm", "matmul", {"M": 4096, "N": 8192, "K": 2048, "batch": 2}))


def test_attention_in_flashattentions_benchmark_names():
    """benchmark_flash_attention.py's names: one `seqlen` for queries and keys, `nheads`, `headdim`."""
    _same(_row("attention", "flash attention forward", {"batch_size": 2, "nheads": 16, "headdim": 128,
                                                         "seqlen": 4096, "is_causal": True}),
          _row("attention", "flash attention forward", {"batch": 2, "heads": 16, "head_dim": 128, "q_len": 4096,
                                                         "kv_len": 4096, "causal": True}))


def test_a_norm_in_other_spellings():
    """'RMSNorm' over `tokens` x `hidden_size` reads as 'rmsnorm' over num_tokens x hidden; 'layer_norm' as
    'layernorm' over M x N."""
    _same(_row("elementwise", "RMSNorm", {"tokens": 4096, "hidden_size": 8192}),
          _row("elementwise", "rmsnorm", {"num_tokens": 4096, "hidden": 8192}))
    _same(_row("elementwise", "layer_norm forward", {"rows": 4096, "dim": 8192}),
          _row("elementwise", "layernorm", {"M": 4096, "N": 8192}))
    assert norm_kind("Fused RMS_Norm kernel") == "rmsnorm" and norm_kind("softmax") is None


def test_a_name_the_row_gives_is_never_replaced():
    row = _row("gemm", "matmul", {"M": 64, "m": 128, "N": 64, "K": 64})
    assert with_canonical_names(row).shape["M"] == 64
    training = _row("llm_training", "step", {"tp": 2})
    assert with_canonical_names(training) is training  # training rows have their own reading


@pytest.mark.parametrize("shape", [{"m": 64, "n": 64}, {"nheads": 16, "headdim": 128}])
def test_a_row_still_missing_a_dimension_is_unmapped(shape):
    category = "gemm" if "m" in shape else "attention"
    assert not isinstance(predict(_row(category, "op", shape), "analytical"), Prediction)


def test_a_serving_row_in_a_serving_benchmarks_names():
    """'Llama 3.1 70B' at tensor_parallel_size 8, batch_size 16, input_len 1024 / output_len 256 is the row the
    shipped mappers read as model / TP / batch / isl / osl; TPOT and the batch's end-to-end latency are read from
    the same static-batch estimate (before: "no model preset for 'Llama 3.1 70B'", "metric 'tpot' not mapped")."""
    from accelscope.llm import infer

    def serving(shape, metric, unit="ms"):
        return MeasuredRow(id="QQ-2", hardware="NVIDIA H100 SXM5 80GB", category="llm_inference", op="static batch",
                           dtype="bf16", shape=shape, metric=metric, value=10.0, unit=unit, source=SOURCE)

    named = {"model_name": "Llama 3.1 70B", "tensor_parallel_size": 8, "batch_size": 16, "input_len": 1024,
             "output_len": 256}
    canonical = {"model": "llama-3.1-70b", "TP": 8, "batch": 16, "isl": 1024, "osl": 256}
    _same(serving(named, "ttft"), serving(canonical, "ttft"))
    expected = infer("llama-3.1-70b", "h100-sxm", tp=8, batch=16, input_len=1024, output_len=256, dtype="bf16",
                     kv_dtype="bf16", level="analytical", memory_fraction=1.0)
    tpot, latency = predict(serving(named, "tpot"), "analytical"), predict(serving(named, "e2e_latency", "s"),
                                                                           "analytical")
    assert isinstance(tpot, Prediction) and isinstance(latency, Prediction)
    assert tpot.value == pytest.approx(expected.tpot_s * 1e3, rel=1e-12)
    assert latency.value == pytest.approx(expected.e2e_latency_s, rel=1e-12)


@pytest.mark.parametrize(("op", "kind"), [("AllReduce", "all_reduce"), ("all-gather (nccl-tests)", "all_gather"),
                                          ("ncclReduceScatter", "reduce_scatter"), ("alltoall_perf", "all_to_all"),
                                          ("sendrecv_perf", "send_recv"), ("device memcpy", None)])
def test_a_collectives_name_in_any_spelling(op, kind):
    from accelscope.measure.predict import collective_kind

    assert collective_kind(op) == kind


def test_an_nccl_tests_row_in_its_own_column_names():
    """nccl-tests prints `size` (bytes) and the rank count; 'AllReduce' over `size` on `nranks` 8 is the row the
    shipped mapper reads as all_reduce / payload_bytes / gpus. An all-to-all's bus bandwidth is its algorithm
    bandwidth x (n-1)/n (nccl-tests PERFORMANCE.md): 7/8 of bytes / time on 8 ranks."""
    from accelscope.hardware import load_hardware
    from accelscope.perf.estimate import estimate
    from accelscope.workload import Collective

    def coll(op, shape):
        return MeasuredRow(id="QQ-3", hardware="NVIDIA H100 SXM5 80GB", category="collective", op=op, dtype="float",
                           shape=shape, metric="busbw", value=100.0, unit="GB/s", source=SOURCE)

    _same(coll("AllReduce", {"size": 1 << 28, "nranks": 8}), coll("all_reduce", {"payload_bytes": 1 << 28, "gpus": 8}))
    a2a = predict(coll("alltoall_perf", {"size": 1 << 28, "nranks": 8}), "analytical")
    seconds = estimate(Collective("all_to_all", float(1 << 28), 8), load_hardware("h100-sxm"), "analytical").seconds
    assert isinstance(a2a, Prediction)
    assert a2a.value == pytest.approx((1 << 28) / seconds * 7 / 8 / 1e9, rel=1e-9)


def test_a_stream_benchmark_row_of_another_source():
    """'STREAM Triad' over a numeric `array_size` of 2^28 fp32 elements reads as the triad kernel over those
    elements (a = b + s c: two arrays read, one written), as an `accelscope bench` row with `kernel`/`elements` does;
    bytes per array over the element size give the same row. BabelStream's rows, whose size is a sentence, keep their
    default-size reading."""
    def stream(op, shape):
        return MeasuredRow(id="QQ-4", hardware="NVIDIA H100 SXM5 80GB", category="memory", op=op, dtype="fp32",
                           shape=shape, metric="bandwidth", value=3000.0, unit="GB/s", source=SOURCE)

    _same(stream("STREAM Triad", {"array_size": 1 << 28}), stream("bench", {"kernel": "triad", "elements": 1 << 28}))
    _same(stream("stream_triad", {"array_bytes": 4 << 28}), stream("bench", {"kernel": "triad", "elements": 1 << 28}))
    no_size = predict(stream("STREAM Copy", {"threads": 1024}), "analytical")
    assert not isinstance(no_size, Prediction) and "without an array size" in no_size.reason


def test_another_sources_softmax_and_layernorm_are_the_fused_kernels():
    """LLMCompass's rows ran eager torch.softmax (three passes) and a compiled layernorm; another source's softmax
    or LayerNorm over the same shape is priced as the single-pass kernel (Softmax / Norm with their default and
    "vectorized" kernels), no slower than the eager softmax; "silu_and_mul" reads as SiluAndMul."""
    from accelscope.hardware import load_hardware
    from accelscope.perf.estimate import estimate
    from accelscope.workload import Norm, Softmax

    h100 = load_hardware("h100-sxm")
    softmax = predict(_row("elementwise", "softmax", {"M": 4096, "N": 32768}), "analytical")
    fused = estimate(Softmax(rows=4096, cols=32768, dtype="bf16"), h100, "analytical").seconds
    eager = estimate(Softmax(rows=4096, cols=32768, dtype="bf16", kernel="aten"), h100, "analytical").seconds
    assert isinstance(softmax, Prediction) and softmax.value == pytest.approx(fused * 1e6)
    assert fused <= eager
    norm = predict(_row("elementwise", "LayerNorm", {"M": 4096, "N": 8192}), "analytical")
    expected = estimate(Norm(rows=4096, hidden=8192, norm="layer", dtype="bf16", kernel="vectorized"), h100,
                        "analytical").seconds
    assert isinstance(norm, Prediction) and norm.value == pytest.approx(expected * 1e6)
    _same(_row("elementwise", "silu_and_mul", {"output_shape": [4096, 14336]}),
          _row("elementwise", "SiluAndMul", {"output_shape": [4096, 14336]}))


def test_a_count_that_is_no_number_is_refused_naming_the_row_and_the_field(tmp_path):
    """'"m": "big"' stopped the whole validate run with "invalid literal for int()" (no row, no field); an array of
    1e300 elements with "Elementwise.elements: must be at most 1e15": both now refuse the file as any bad count does
    (exit 2, naming the file, the row and the field), never a traceback."""
    from typer.testing import CliRunner

    from accelscope.cli.app import app

    with pytest.raises(ValueError, match="row QQ-1: shape_json field 'M' is 'big'; give a positive number"):
        predict(_row("gemm", "mm", {"m": "big", "n": 64, "k": 64}), "analytical")
    with pytest.raises(ValueError, match="row QQ-1: shape_json field 'array_size' is 1e"):
        predict(_row("memory", "STREAM Triad", {"array_size": 1e300}, unit="GB/s", metric="bandwidth"), "analytical")
    path = tmp_path / "rows.csv"
    path.write_text("id,hardware,category,op,dtype,shape_json,metric,value,unit\n"
                    'QQ-9,NVIDIA H100 SXM5,collective,AllReduce,float,"{""size"":1048576,""nranks"":0}",busbw,40,GB/s\n')
    result = CliRunner().invoke(app, ["validate", str(path), "--levels", "analytical"])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert f"{path}: row QQ-9: shape_json field 'gpus' is 0" in result.stderr
