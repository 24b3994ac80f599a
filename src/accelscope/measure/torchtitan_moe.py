"""torchao's single-MoE-layer benchmark (TA-064..067): what one torchtitan MoE layer runs, forward + backward.

benchmarks/prototype/moe_training/bench_moe_layer.py (pytorch/ao #3126, Oct 2025; the README's "Single MoE layer
forward + backward pass" table) builds `torchtitan.models.moe.MoE(MoEArgs(num_experts=G, num_shared_experts=1),
dim, hidden_dim)` in bf16, optionally converts the modules whose name holds "experts" with torchao's MXFP8 grouped-
GEMM config, and times `out = model(x); F.mse_loss(out, labels).backward()` torch.compile'd (fullgraph=False) with
benchmarks/utils.py's bench_fwd_bwd_microseconds (triton do_bench, median, no grad_to_none).

The layer, as torchtitan/models/moe/moe.py and utils.py write it (T tokens of dim D, G experts of width H, top-1):
- router: gate = nn.Linear(D, G), scores in fp32, top-1; histc and a stable argsort of the expert ids (tiny);
- dispatch: torch.gather of the tokens in expert order, times the routing score (score_before_experts), then
  `indices_padding_wrapper`'s vstack of a zero row and x[permuted_indices] (generate_permute_indices pads each
  group to the alignment): pointwise indexing that inductor fuses into one gather pass, T x D read and written;
- experts (`_run_experts_grouped_mm`): three grouped GEMMs, not a fused gate/up: h = silu(x W1) * (x W3),
  out = h W2, each `torch._grouped_mm` (bf16), or with MXFP8 each its own `_to_mxfp8_then_scaled_grouped_mm`, so x
  is quantized (and its scales rearranged) once for W1 and once for W3, forward and backward;
- `_unpermute`: out_unpermuted[permuted_indices] = out (an index_put pass) and the [:-1] slice;
- shared expert: FeedForward's three bf16 nn.Linear (w1, w2, w3) on all T tokens;
- combine: `out = shared_out.scatter_add(0, token_indices, routed_output)`, out of place: a copy of the shared
  expert's output, then the scatter-add of the routed output into it.
The backward mirrors it with autograd's formulas: the scatter-add's source gradient is a gather (fused with the
unpermute's index backward, another gather); the two expert dgrads of x meet in x[permuted_indices]'s backward, an
accumulating index_put into zeros (a fill, then a scatter-add that reads both); the score's gradient a row
reduction of dY times the gathered tokens; torch.gather's backward another fill + scatter-add; and x's gradient
sums four (the router's dgrad, the shared expert's W1 and W3 dgrads, the gather's backward). The harness adds its
loss, the loss gradient and the accumulation into x.grad and every parameter's .grad (rows_gemm.harness_ops).
Priced as passes over memory; the scatter-adds' atomics are not given a rate of their own (no source measured them).
The generate_permute_indices kernel writes T int32 indices (negligible), and the padding (G x 32 rows of T) is
left out (0.2 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..hardware import HardwareSpec
from ..llm.torchao_float8 import torchao_float8_casts
from ..llm.train import high_precision_gemms, torch_grouped_mm
from ..perf import estimate
from ..workload.backward import backward_graph
from ..workload.llm_graph import Parallelism, Precision, Step, moe_nodes, split_gated_gemms
from ..workload.model_config import ModelConfig, MoE
from ..workload.ops import Elementwise, Graph, GroupedGemm, Node
from .rows_gemm import harness_ops, mx_scale_rearranges

# moe_nodes' fused gate/up GEMMs, which torchtitan runs as two GEMMs (W1, W3) reading the same input
GATED = {"experts_gate_up": ("experts_w1", "experts_w3"), "shared_expert_gate_up": ("shared_expert_w1",
                                                                                     "shared_expert_w3")}
# moe_nodes' generic backward of the token permute / unpermute (a mirrored copy each), replaced here by what
# torchtitan's indexing ops differentiate into
GENERIC_INDEX_BACKWARD = ("moe_permute_bwd", "moe_unpermute_bwd")
EXPERT_GEMMS = ("experts_w1", "experts_w3", "experts_down")


@dataclass(frozen=True, slots=True)
class MoELayerRun:
    """The kernels of one timed call: the forward and backward graphs, and the MXFP8 scale rearrangements
    (rows_gemm.mx_scale_rearranges: kernel kind, scale dims, groups), which are priced outside the op IR."""

    forward: Graph
    backward: Graph
    rearranges: tuple[tuple[str, tuple[int, ...], int], ...] = ()


def layer_config(shape: dict[str, Any]) -> ModelConfig:
    """One torchtitan MoE layer: G experts of hidden_dim plus one shared expert of hidden_dim (num_shared_experts=1:
    FeedForward(dim, hidden_dim * 1)), top-1 routing."""
    dim, width, experts = int(shape["dim"]), int(shape["hidden_dim"]), int(shape["local_num_experts"])
    moe = MoE(experts=experts, top_k=1, intermediate=width, shared_experts=1, shared_intermediate=width)
    return ModelConfig(name="torchtitan-moe-layer", family="llama", hidden=dim, layers=1, heads=dim // 128,
                       kv_heads=dim // 128, head_dim=128, intermediate=width, vocab=32000, moe=moe)


def moe_layer_run(shape: dict[str, Any], mx: bool) -> MoELayerRun:
    """The layer's kernels for bench_moe_layer.py's `shape` (total_M tokens), the routed experts in MXFP8 when `mx`
    (the router and the shared expert stay bf16 either way: torchao's override is for torch._grouped_mm only)."""
    config = layer_config(shape)
    tokens = int(shape["total_M"])
    prec = Precision(dtype="mxfp8" if mx else "bf16")
    # torchtitan's W1 and W3 are two GEMMs: each its own kernel, its own MXFP8 casts of the input, its own dgrad
    nodes = split_gated_gemms(moe_nodes(config, Step(batch=1, new_tokens=tokens), Parallelism(), prec), GATED)
    core = torch_grouped_mm(high_precision_gemms(Graph(tuple(nodes), name="moe layer"),
                                                 ("router", "shared_expert_")))
    generic = backward_graph(core)
    backward = Graph(tuple(n for n in generic.nodes if n.name not in GENERIC_INDEX_BACKWARD), name=generic.name)
    forward = Graph(core.nodes + combine_nodes(tokens, config.hidden), name=core.name)
    if mx:
        forward, backward = torchao_float8_casts(forward, backward, "mxfp8")
    loss, loss_bwd, acc_x, acc_w = harness_ops(tokens * config.hidden, tokens * config.hidden,
                                               parameter_elements(config))
    forward = Graph((*forward.nodes, Node(loss, 1, "harness_mse_loss")), name=forward.name)
    backward = Graph((Node(loss_bwd, 1, "harness_mse_loss_bwd"), *backward.nodes,
                      *index_backward_nodes(tokens, config.hidden),
                      Node(acc_x, 1, "harness_x_grad_accumulate"), Node(acc_w, 1, "harness_param_grad_accumulate")),
                     name=backward.name)
    rearranges = expert_rearranges(core, tokens) if mx else ()
    return MoELayerRun(forward, backward, rearranges)




def combine_nodes(tokens: int, dim: int) -> tuple[Node, ...]:
    """The forward's combine, `shared_out.scatter_add(0, idx, routed)` out of place: inductor copies the shared
    expert's output into the result, then scatter-adds the routed output into it (reads the source and the
    target, writes the target)."""
    n = tokens * dim
    return (Node(Elementwise("copy", n, "bf16"), 1, "moe_combine_copy"),
            Node(Elementwise("scatter_add", n, "bf16", inputs=2, outputs=1, flops_per_element=1), 1,
                 "moe_combine_scatter_add"))


def index_backward_nodes(tokens: int, dim: int) -> tuple[Node, ...]:
    """The backward of torchtitan's indexing (module docstring), T x D bf16 passes each:
    - the combine's source gradient dY.gather(0, idx) and the unpermute's dY[permuted_indices], one fused gather;
    - x[permuted_indices] backward: a zero fill, then the accumulating index_put that reads the W1 and W3 dgrads
      (their sum fused in) and adds into the target;
    - the routing score's gradient: sum over D of dY times the gathered tokens (two reads, a T-vector out);
    - torch.gather's backward: a zero fill, then a scatter-add of dY x score (reads dY and the target, writes it);
    - x's gradient: the router's dgrad, the shared expert's W1 and W3 dgrads and the gather's backward, summed."""
    n = tokens * dim
    return (Node(Elementwise("gather", n, "bf16", inputs=1, outputs=1, flops_per_element=0), 1,
                 "moe_combine_gather_bwd"),
            Node(Elementwise("fill", n, "bf16", inputs=0, outputs=1, flops_per_element=0), 1, "moe_permute_bwd_zero"),
            Node(Elementwise("index_put_add", n, "bf16", inputs=3, outputs=1, flops_per_element=2), 1,
                 "moe_permute_bwd_scatter"),
            Node(Elementwise("mul_sum", n, "bf16", inputs=2, outputs=0, flops_per_element=2), 1, "moe_score_bwd"),
            Node(Elementwise("fill", n, "bf16", inputs=0, outputs=1, flops_per_element=0), 1, "moe_gather_bwd_zero"),
            Node(Elementwise("scatter_add", n, "bf16", inputs=2, outputs=1, flops_per_element=2), 1,
                 "moe_gather_bwd_scatter"),
            Node(Elementwise("add", n, "bf16", inputs=4, outputs=1, flops_per_element=3), 1, "x_grad_sum"))


def parameter_elements(config: ModelConfig) -> int:
    """The layer's bf16 parameters, whose .grad the harness accumulates into: G experts' W1, W2, W3 (H x D each),
    the shared expert's three, the router's G x D."""
    moe = config.moe
    assert moe is not None
    return (moe.experts * 3 * moe.intermediate * config.hidden + 3 * moe.shared_intermediate * config.hidden
            + moe.experts * config.hidden)


def expert_rearranges(core: Graph, tokens: int) -> tuple[tuple[str, tuple[int, ...], int], ...]:
    """The scale rearrangements of each MXFP8 expert GEMM's forward and backward (rows_gemm.mx_scale_rearranges:
    six per GEMM, the same torchao 0.14 kernels the grouped-GEMM rows TA-034..048 time)."""
    out: list[tuple[str, tuple[int, ...], int]] = []
    for node in core.nodes:
        if node.name in EXPERT_GEMMS and isinstance(node.op, GroupedGemm):
            out += mx_scale_rearranges(tokens, node.op.n, node.op.k, node.op.groups)
    return tuple(out)


def moe_layer_seconds(run: MoELayerRun, hw: HardwareSpec | str, level: str) -> float:
    """The timed call: forward + backward graphs, plus the scale rearrangements (equal groups: the router's
    routing is balanced, so each serial walk covers T / G rows)."""
    from .rows_elementwise import scale_rearrange_seconds  # rows_elementwise imports rows_gemm

    seconds = estimate(run.forward, hw, level).seconds + estimate(run.backward, hw, level).seconds
    for kind, dims, groups in run.rearranges:
        seconds += scale_rearrange_seconds(kind, list(dims), groups, hw, level)[0]
    return seconds
