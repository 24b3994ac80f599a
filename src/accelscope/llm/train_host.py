"""Host (framework) time of a training step: when the CPU that issues the ops is the bound.

An eager PyTorch / Megatron-LM step issues every op of its graph from Python: the module's forward, autograd's
record and, in the backward, autograd's engine walking the graph, each through the dispatcher to a kernel
launch. The GPU runs each kernel asynchronously while the host issues the next, so per op the two overlap and a
micro-batch takes the longer of the two totals, max(GPU time, host time), not their sum. A large model's kernels
(milliseconds each) hide the host completely; a small proxy model's kernels (microseconds) do not, and its step
time is the host's: ops x `runtime.host_op_latency`.

Ops counted per micro-batch: every node occurrence of the forward graph and of the backward graph (recomputed
forward ops included), as the graphs are built (workload.llm_graph, workload.backward). Without Megatron-LM's
`gradient_accumulation_fusion` (`--no-gradient-accumulation-fusion`) each weight gradient is written to its own
tensor and then added into the fp32 `main_grad` buffer by a backward hook (megatron/core/distributed/
distributed_data_parallel.py, `_make_backward_post_hook`: `param.main_grad.add_(param.grad.data)`): one more op
per weight-gradient GEMM; with the fusion the wgrad GEMM accumulates into `main_grad` itself
(megatron/core/tensor_parallel/layers.py, `LinearWithGradAccumulationAndAsyncCommunication`).
"""

from __future__ import annotations

from ..perf import Estimate

# Framework host seconds per graph op, for every chip whose spec gives no `runtime.host_op_latency` of its own: a
# property of the host CPU and the eager framework stack, shared across chips like hardware/spec.py's efficiency
# defaults. Fitted (grid 60-180 us in 10 us steps, least mean |relative error|) on the llm_training rows of the
# eager-framework sources whose steps the host bounds: Megatron-LM CI runs (MT, steady rows) and Hugging Face
# Llama-3.2-1B (CU): optimum 150-160 us pooled; MT alone ~160 us, CU alone ~60-80 us (its graph is built of aten
# ops, lighter than Megatron's Transformer Engine modules). `accelscope validate --loso` refits it without the
# held-out source (measure/globalfit.py).
HOST_OP_LATENCY = 150e-6


def graph_ops(graph: Estimate) -> float:
    """Ops the host issues for one pass of `graph`: the node occurrences (a node's count: one per layer)."""
    return float(sum(count for _name, count, _est in graph.parts))


def wgrad_ops(backward: Estimate) -> float:
    """Weight-gradient GEMMs of a backward pass (nodes named `<name>_wgrad`, workload.backward)."""
    return float(sum(count for name, count, _est in backward.parts if name.endswith("_wgrad")))


def micro_batch_ops(forward: Estimate, backward: Estimate, grad_accumulation_fusion: bool = True) -> float:
    """Ops of one micro-batch's forward + backward; without gradient-accumulation fusion, one `main_grad.add_`
    per weight gradient more."""
    extra = 0.0 if grad_accumulation_fusion else wgrad_ops(backward)
    return graph_ops(forward) + graph_ops(backward) + extra


def host_excess(gpu_seconds: float, ops: float, host_op_latency: float | None) -> float:
    """Seconds a micro-batch waits on the host beyond its GPU time: max(0, ops x latency - GPU time). The GPU
    and the host overlap op by op, so the micro-batch takes max(GPU, host) = GPU time + this excess."""
    if not host_op_latency:
        return 0.0
    return max(0.0, ops * host_op_latency - gpu_seconds)


# Forward-graph node names that carry parameters (workload.llm_graph labels): the GEMMs, norms and the embedding
PARAM_NODE_KEYS = ("proj", "gate_up", "_up", "_down", "router", "norm", "embedding")
# Host ops per local parameter tensor of one optimizer step (Megatron-LM megatron/core/optimizer/optimizer.py,
# Float16OptimizerWithFloat16Params and distrib_optimizer.py DistributedOptimizer): the Python loops of
# `_copy_model_grads_to_main_grads` (the fp32 main gradient of each parameter) and
# `_copy_main_params_to_model_params` (the updated fp32 master copied back into each bf16 parameter) issue one op
# per tensor each; the Adam update, gradient-norm and scaling run as multi-tensor kernels (a few launches in all).
OPTIMIZER_OPS_PER_TENSOR = 2


def param_tensors(forward: Estimate, biases: bool) -> float:
    """Parameter tensors of the stage whose forward is `forward`: one weight per parameter node occurrence, plus
    its bias (linear biases, LayerNorm's beta) when the model has them."""
    nodes = sum(count for name, count, _est in forward.parts if any(k in name for k in PARAM_NODE_KEYS))
    return float(nodes * (2 if biases else 1))


def optimizer_host_excess(gpu_seconds: float, forward: Estimate, biases: bool, host_op_latency: float | None
                          ) -> float:
    """Seconds the optimizer step waits on the host beyond its GPU time (per-tensor copy loops, above)."""
    return host_excess(gpu_seconds, OPTIMIZER_OPS_PER_TENSOR * param_tensors(forward, biases), host_op_latency)
