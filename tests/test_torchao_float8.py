"""torchao float8 training casts (llm/torchao_float8.py)."""

import pytest

from accelscope import llm
from accelscope.llm.torchao_float8 import linear_casts, torchao_float8_casts
from accelscope.workload.backward import backward_graph
from accelscope.workload.ops import Elementwise, Gemm, Graph, Node, Quantize

M, N, K = 8192, 4096, 4096
W = N * K  # 16,777,216


def _sizes(kernels):
    return {label: op.elements for label, op in kernels}


def test_tensorwise_with_float8_all_gather_by_hand():
    """A (8192 x 4096) = 33,554,432 elements: amax + cast forward, amax + cast again backward (saved in bf16);
    W over 8 ranks: amax + cast of 16,777,216 / 8 = 2,097,152 on the shard; backward only its float8 transpose
    (16,777,216). dY (8192 x 4096): one amax, two casts (both layouts)."""
    fwd, bwd = linear_casts(M, N, K, W, "tensorwise", weight_shard=8)
    assert _sizes(fwd) == {"a_amax": 33_554_432, "a": 33_554_432, "w_amax": 2_097_152, "w": 2_097_152}
    assert _sizes(bwd) == {"dy_amax": 33_554_432, "dy": 33_554_432, "dyt": 33_554_432, "at_amax": 33_554_432,
                           "at": 33_554_432, "wt": 16_777_216}
    wt = dict(bwd)["wt"]
    assert isinstance(wt, Elementwise) and wt.dtype == "fp8_e4m3"  # 1 byte in, 1 byte out
    _, bf16_gather = linear_casts(M, N, K, W, "tensorwise")
    assert isinstance(dict(bf16_gather)["wt"], Quantize) and "wt_amax" in dict(bf16_gather)


def test_rowwise_casts_along_each_gemms_reduction_axis():
    """Rowwise: 6 casts, a column amax pass for the three along the non-contiguous axis (W for dA, dY and A for
    dW); scales per row of K (forward), N (dA) and M (dW). With the weight gradient in bf16, dY^T and A^T are
    not cast: 3 backward kernels."""
    fwd, bwd = linear_casts(M, N, K, W, "rowwise")
    assert [label for label, _ in fwd] == ["a", "w"] and dict(fwd)["a"].block == K
    assert [label for label, _ in bwd] == ["dy", "wt_amax", "wt", "dyt_amax", "dyt", "at_amax", "at"]
    assert dict(bwd)["dy"].block == N and dict(bwd)["at"].block == M
    _, hp = linear_casts(M, N, K, W, "rowwise_gw_hp")
    assert [label for label, _ in hp] == ["dy", "wt_amax", "wt"]
    with pytest.raises(ValueError, match="torchao float8 recipe"):
        linear_casts(M, N, K, W, "delayed")


def test_gw_hp_runs_the_weight_gradient_in_bf16():
    forward = Graph((Node(Gemm(M, N, K, "fp8_e4m3", b_dtype="fp8_e4m3"), 1, "qkv_proj"),), name="f")
    _, backward = torchao_float8_casts(forward, backward_graph(forward), "rowwise_gw_hp")
    dtypes = {n.name: n.op.dtype for n in backward.nodes if isinstance(n.op, Gemm)}
    assert dtypes == {"qkv_proj_dgrad": "fp8_e4m3", "qkv_proj_wgrad": "bf16"}


def test_torchao_tensorwise_beats_rowwise_in_a_step():
    """Llama-3.1-8B, FSDP over 8 H100 at 8k: tensorwise with float8 all-gather casts less (a shard of each weight,
    its transpose copied in float8) than rowwise, whose backward casts every operand again from bf16."""
    args = dict(dp=8, zero=3, seq_len=8192, global_batch=8, recompute="op_sac", level="analytical",
                check_memory=False, dtype="fp8_e4m3", fp8_casts="torchao")
    tensorwise = llm.train("llama-3.1-8b", "h100-sxm", **args, fp8_recipe="tensorwise", fp8_all_gather=True)
    rowwise = llm.train("llama-3.1-8b", "h100-sxm", **args, fp8_recipe="rowwise")
    assert tensorwise.detail["fp8_cast"] < rowwise.detail["fp8_cast"]
    with pytest.raises(ValueError, match="fp8_casts"):
        llm.train("llama-3.1-8b", "h100-sxm", **{**args, "fp8_casts": "cuda"})


def test_modules_left_out_of_fp8_stay_bf16_without_casts():
    """torchtitan's filter_fqns ("output"): the LM head's GEMM back in bf16, so torchao adds no casts around it;
    the layer GEMM keeps its FP8 casts (tensorwise: a and w, each with its amax)."""
    from accelscope.llm.train import high_precision_gemms

    fp8 = Gemm(m=M, n=N, k=K, dtype="fp8_e4m3", b_dtype="fp8_e4m3", out_dtype="bf16", shared_b=True)
    forward = high_precision_gemms(Graph((Node(fp8, 32, "mlp_down"), Node(fp8, 1, "lm_head"))), ("lm_head",))
    assert [n.op.dtype for n in forward.nodes] == ["fp8_e4m3", "bf16"] and forward.nodes[1].op.b_dtype == "bf16"
    fwd, _ = torchao_float8_casts(forward, backward_graph(forward), "tensorwise")
    assert sorted(n.name for n in fwd.nodes if n.name.startswith("fp8_")) == [
        "fp8_a:mlp_down", "fp8_a_amax:mlp_down", "fp8_w:mlp_down", "fp8_w_amax:mlp_down"]


def test_torch_grouped_mm_kernel_by_dtype_and_bad_mode_refused():
    """torch._grouped_mm for bf16 experts, FBGEMM's MXFP8 grouped GEMM for mxfp8 ones; the backward copies it."""
    from accelscope.llm.train import torch_grouped_mm
    from accelscope.workload.ops import GroupedGemm

    graph = Graph((Node(GroupedGemm(groups=4, n=N, k=K, tokens=M), 2, "experts_gate_up"),
                   Node(GroupedGemm(groups=4, n=N, k=K, tokens=M, dtype="mxfp8"), 2, "experts_down"),
                   Node(Gemm(m=M, n=N, k=K), 2, "o_proj")))
    forward = torch_grouped_mm(graph)
    assert [getattr(n.op, "kernel", None) for n in forward.nodes] == ["torch-grouped-mm", "fbgemm-mx8-grouped", None]
    assert {n.op.kernel for n in backward_graph(forward).nodes if isinstance(n.op, GroupedGemm)} == {
        "torch-grouped-mm", "fbgemm-mx8-grouped"}
    with pytest.raises(ValueError, match="grouped_gemm"):
        llm.train("llama-3.1-8b", "h100-sxm", dp=8, grouped_gemm="cutlass", global_batch=8)


def test_sgd_optimizer_is_one_bf16_pass_without_host_loops():
    """optimizer="sgd" (torch.optim.SGD on a bf16 model): p -= lr * g over the local parameters, reading the
    parameter and its gradient and writing the parameter in bf16 (2 + 2 + 2 bytes each), no fp32 master, no
    per-tensor host loop; Adam's step reads and writes fp32 master, moments and gradient and adds that loop (GPT-2:
    ~150 parameter tensors with their biases x 2 ops x 140 us, far above its ~1 ms Adam kernel)."""
    from accelscope import estimate
    from accelscope.llm.train import _local_params
    from accelscope.workload.llm_graph import Parallelism
    from accelscope.workload.model_config import load_model

    kwargs = dict(dp=1, zero=0, seq_len=1024, global_batch=1, micro_batch=1, level="analytical", check_memory=False,
                  host_op_latency=140e-6)
    sgd = llm.train("gpt2", "h100-sxm", optimizer="sgd", **kwargs)
    adam = llm.train("gpt2", "h100-sxm", **kwargs)
    dense, expert = _local_params(load_model("gpt2"), Parallelism(), None)
    one_pass = Elementwise("sgd", int(dense + expert), "bf16", inputs=2, outputs=1, flops_per_element=2)
    assert sgd.breakdown["optimizer"] == pytest.approx(estimate(one_pass, "h100-sxm", "analytical").seconds)
    assert adam.breakdown["optimizer"] > 3 * sgd.breakdown["optimizer"]
    assert sgd.breakdown["host"] < adam.breakdown["host"]
    with pytest.raises(ValueError, match="optimizer"):
        llm.train("gpt2", "h100-sxm", optimizer="lion", **kwargs)
