"""Operator IR: every count derived by hand in the comment next to it."""

import pytest

from accelscope.workload import (
    Attention,
    Collective,
    Elementwise,
    Embedding,
    Fused,
    Gemm,
    Graph,
    GroupedGemm,
    Norm,
    Quantize,
    Reduction,
    Softmax,
)


def test_gemm_flops_and_minimum_bytes():
    cost = Gemm(m=4096, n=2048, k=1024, dtype="bf16").cost()
    assert cost.matrix_flops == 2 * 4096 * 2048 * 1024
    # bf16: read A (M*K) and B (K*N), write C (M*N), 2 bytes each
    assert cost.bytes == 2 * (4096 * 1024 + 1024 * 2048 + 4096 * 2048)


def test_gemm_mixed_precision_weights_priced_in_the_wider_dtype():
    cost = Gemm(m=16, n=8192, k=8192, dtype="bf16", b_dtype="int4").cost()
    assert cost.matrix_dtype == "bf16"
    # A: 16*8192*2 B; B: 8192*8192*0.5 B (int4); C: 16*8192*2 B
    assert cost.bytes == 16 * 8192 * 2 + 8192 * 8192 * 0.5 + 16 * 8192 * 2


def test_fp8_gemm_writes_bf16_and_nvfp4_counts_its_scales():
    fp8 = Gemm(m=128, n=128, k=128, dtype="fp8_e4m3").cost()
    assert fp8.bytes_written == 128 * 128 * 2  # FP8 GEMMs emit bf16 by default
    nvfp4 = Gemm(m=128, n=128, k=128, dtype="nvfp4").cost()
    assert nvfp4.bytes_read == 2 * 128 * 128 * 4.5 / 8  # 4 bits + 8-bit scale per 16 elements


def test_batched_gemm_with_shared_weights_reads_them_once():
    shared = Gemm(m=64, n=256, k=512, batch=4, shared_b=True).cost()
    separate = Gemm(m=64, n=256, k=512, batch=4).cost()
    assert separate.bytes_read - shared.bytes_read == 3 * 512 * 256 * 2


def test_grouped_gemm_uneven_groups():
    op = GroupedGemm(groups=4, n=1024, k=512, m_per_group=(100, 0, 28, 0))
    cost = op.cost()
    assert cost.matrix_flops == 2 * 128 * 1024 * 512
    # only the 2 groups with tokens read weights: 2 * 512*1024*2 B; activations 128*512*2 B
    assert cost.bytes_read == 2 * 512 * 1024 * 2 + 128 * 512 * 2
    even = GroupedGemm(groups=4, n=1024, k=512, tokens=128).cost()
    assert even.matrix_flops == cost.matrix_flops


def test_attention_forward_convention():
    op = Attention(batch=2, heads=16, head_dim=128, q_len=1024, kv_len=1024)
    assert op.cost().matrix_flops == 4 * 2 * 16 * 1024 * 1024 * 128  # 4·B·H·Sq·Skv·D
    causal = Attention(batch=2, heads=16, head_dim=128, q_len=1024, kv_len=1024, causal=True)
    assert causal.cost().matrix_flops == op.cost().matrix_flops / 2
    assert dict(op.cost().sfu_ops)["exp2"] == 2 * 16 * 1024 * 1024  # one exp per score


def test_attention_backward_is_2_5x_and_fwd_bwd_3_5x():
    fwd = Attention(batch=1, heads=8, head_dim=64, q_len=512, kv_len=512, phase="fwd").cost().matrix_flops
    assert Attention(batch=1, heads=8, head_dim=64, q_len=512, kv_len=512, phase="bwd").cost().matrix_flops == (
        2.5 * fwd)
    assert Attention(batch=1, heads=8, head_dim=64, q_len=512, kv_len=512, phase="fwd_bwd").cost().matrix_flops == (
        3.5 * fwd)


def test_decode_attention_reads_the_gqa_kv_cache():
    op = Attention(batch=1, heads=64, kv_heads=8, head_dim=128, q_len=1, kv_len=8192, kv_dtype="fp8_e4m3")
    cost = op.cost()
    kv_bytes = 8 * 8192 * (128 + 128) * 1  # 8 KV heads, K and V, fp8
    q_bytes = 64 * 128 * 2
    assert cost.bytes_read == kv_bytes + q_bytes
    assert cost.matrix_flops == 4 * 64 * 8192 * 128


def test_mla_asymmetric_heads():
    op = Attention(batch=1, heads=128, head_dim=192, v_head_dim=128, q_len=1024, kv_len=1024)
    assert op.cost().matrix_flops == 2 * 128 * 1024 * 1024 * (192 + 128)


def test_memory_bound_ops():
    assert Softmax(rows=1024, cols=4096, dtype="fp16").cost().bytes == 2 * 1024 * 4096 * 2
    rms = Norm(rows=4096, hidden=8192, norm="rms").cost()
    assert rms.bytes == 2 * 4096 * 8192 * 2 + 8192 * 2  # x in, y out, gamma
    assert dict(rms.sfu_ops)["rsqrt"] == 4096  # one per row
    silu = Elementwise(op="swiglu", elements=1000).cost()
    assert silu.bytes == 3 * 1000 * 2  # two inputs, one output
    assert Reduction(rows=10, cols=100, dtype="fp32").cost().bytes == 10 * 100 * 4 + 10 * 4
    assert Embedding(tokens=8, hidden=4096, vocab=32000).cost().bytes == 8 * 4096 * 2 * 2 + 8 * 4
    q = Quantize(elements=1 << 20, fmt="mxfp4", src_dtype="bf16").cost()
    assert q.bytes == (1 << 20) * (2 + 4.25 / 8)


def test_collective_carries_its_payload():
    cost = Collective(op="all_reduce", bytes=1e9, group=8).cost()
    assert (cost.comm_kind, cost.comm_bytes, cost.comm_group) == ("all_reduce", 1e9, 8)


def test_graph_cost_is_the_weighted_sum():
    g = Graph.of(Gemm(m=8, n=8, k=8), (Gemm(m=8, n=8, k=8), 3))
    assert g.cost().matrix_flops == 4 * 2 * 8**3


def test_graph_cost_is_add_costs_node_by_node():
    """Graph.cost keeps its sums as numbers: the OpCost `add_costs` folds node by node, field for field (SFU ops
    merged by function in first-seen order, the first matrix dtype, the defaults of the fields it does not sum).
    Softmax 8 x 64: one exp2 per element (512) and one rcp per row (8), counted 2.5 + 1 times: 1792 exp2, 28 rcp;
    the Norm's 4 rows one rsqrt each, 3 times: 12."""
    from accelscope.workload.backward import backward_graph
    from accelscope.workload.ops import OpCost, add_costs

    layer = ((Norm(rows=4, hidden=64), 3), (Gemm(m=8, n=16, k=32, dtype="fp8_e4m3"), 2), (Gemm(m=8, n=16, k=32), 1),
             (Collective(op="all_reduce", bytes=1e6, group=8), 2), (Embedding(tokens=4, hidden=64, vocab=1000), 1))
    graph = Graph.of((Softmax(rows=8, cols=64), 2.5), *layer, (Softmax(rows=8, cols=64), 1))
    for g in (graph, backward_graph(Graph.of(*layer)), Graph(())):
        folded = OpCost()
        for node in g.nodes:
            folded = add_costs(folded, node.op.cost(), node.count)
        assert repr(g.cost()) == repr(folded)
    assert graph.cost().sfu_ops == (("exp2", 1792.0), ("rcp", 28.0), ("rsqrt", 12.0))
    assert graph.cost().matrix_dtype == "fp8_e4m3"


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: Gemm(m=0, n=1, k=1), "Gemm.m: must be > 0"),
        (lambda: Gemm(m=1, n=1, k=1, dtype="fp7"), "Gemm.dtype: unknown dtype 'fp7'"),
        (lambda: Attention(batch=1, heads=6, kv_heads=4, head_dim=64, q_len=1, kv_len=1), "must divide heads"),
        (lambda: Attention(batch=1, heads=4, head_dim=64, q_len=8, kv_len=4, causal=True), "q_len <= kv_len"),
        (lambda: GroupedGemm(groups=2, n=4, k=4, m_per_group=(1,)), "expected groups=2"),
        (lambda: Elementwise(op="frobnicate", elements=4), "unknown op 'frobnicate'"),
        (lambda: Collective(op="all_sum", bytes=4, group=2), "Collective.op"),
    ],
)
def test_bad_arguments_say_which_field_and_what_to_do(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_ops_are_frozen_and_hashable():
    op = Gemm(m=1, n=2, k=3)
    assert hash(op) == hash(Gemm(m=1, n=2, k=3))
    with pytest.raises(AttributeError):
        op.m = 5  # type: ignore[misc]


def test_paged_kv_reads_its_block_table_and_whole_sectors():
    from accelscope.workload import Attention

    flat = Attention(batch=2, heads=8, kv_heads=2, head_dim=128, q_len=1, kv_len=1000)
    paged = Attention(batch=2, heads=8, kv_heads=2, head_dim=128, q_len=1, kv_len=1000, page_size=16)
    # 16 x 128 bf16 = 4 KiB per page per head: sector-aligned; 63 pages (the last one part-full) read whole
    # K and V: 2 x 2 x 2 x 63 x 4096 B vs 2 x 2 x 2 x 1000 x 256 B; block table: 2 sequences x 63 x 4 B
    extra = 2 * 2 * 2 * (63 * 4096 - 1000 * 256) + 2 * 63 * 4
    assert paged.cost().bytes - flat.cost().bytes == extra
    tiny = Attention(batch=1, heads=1, head_dim=8, q_len=1, kv_len=64, page_size=1, kv_dtype="fp8_e4m3")
    # one token per page: 8 fp8 bytes per page per tensor, fetched as one 32-byte sector
    assert tiny.cost().bytes_read == 1 * 8 * 2 + 2 * 64 * 32 + 64 * 4  # Q + K,V sectors + block table
    with pytest.raises(ValueError, match="page_size"):
        Attention(batch=1, heads=1, head_dim=8, q_len=1, kv_len=8, page_size=0)


def test_fused_residual_add_and_norm_keep_the_sum_on_chip():
    rows, hidden = 4096, 8192
    n = rows * hidden
    add, norm = Elementwise("residual_add", n), Norm(rows, hidden)
    fused = Fused((add, norm))
    # unfused: add reads 2 arrays and writes 1, norm reads it back (+ the bf16 weight) and writes 1: 5n x 2 B + 2h.
    # fused: the sum stays on chip: reads 2n, writes n (x 2 B), + the weight
    assert add.cost().bytes + norm.cost().bytes == 5 * n * 2 + hidden * 2
    assert (fused.cost().bytes_read, fused.cost().bytes_written) == (2 * n * 2 + hidden * 2, n * 2)
    assert fused.cost().vector_flops == add.cost().vector_flops + norm.cost().vector_flops
    assert fused.name == "residual_add+rms_norm"
    # vLLM's fused_add_rms_norm also writes the new residual: the add's second output still moves
    vllm = Fused((Elementwise("residual_add", n, outputs=2), norm))
    assert vllm.cost().bytes_written == 2 * n * 2
    # norm + quantize to fp8: the normed bf16 tensor never leaves the chip, 1-byte codes do
    quantized = Fused((norm, Quantize(n, fmt="fp8_e4m3", src_dtype="bf16", block=128)))
    assert quantized.cost().bytes_written == n * 1


@pytest.mark.parametrize(("ops", "message"), [
    ((Elementwise("add", 10),), r"Fused\.ops: needs at least two ops"),
    ((Elementwise("add", 10), Gemm(1, 2, 3)), r"Fused\.ops\[1\]: Gemm is not a streaming op"),
    ((Elementwise("add", 10), Norm(2, 4)), r"Fused\.ops: every op must stream the same number of elements"),
    ((Elementwise("sink", 8, outputs=0, flops_per_element=1), Norm(2, 4)), r"Fused\.ops\[0\]: sink writes no array"),
    ((Norm(2, 4), Elementwise("gen", 8, inputs=0, flops_per_element=1)), r"Fused\.ops\[1\]: gen reads no array"),
])
def test_fused_rejects_what_one_streaming_kernel_cannot_be(ops, message):
    with pytest.raises(ValueError, match=message):
        Fused(ops)
