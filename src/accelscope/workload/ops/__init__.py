"""The operator IR: frozen dataclasses that know their own work, one module per op family.

Each op reports an `OpCost`: matrix FLOPs (and the dtype that prices them), vector FLOPs, special-function ops
by function, and the *minimum* bytes it must move to and from main memory (each input read once, each output
written once). Performance models decide how far reality is above that minimum.

Counting conventions (DESIGN.md): 2 FLOPs per multiply-add; attention forward = 4·B·H·Sq·Skv·D, half when
causal and Sq == Skv; backward = 2.5x forward.
"""

from .attention import (
    Attention,
)
from .base import (
    ATTENTION_BWD_MATRIX_FACTOR,
    ATTENTION_BWD_VECTOR_FLOPS,
    BLOCK_TABLE_ENTRY_BYTES,
    DRAM_SECTOR_BYTES,
    FMA_FLOPS,
    ONLINE_SOFTMAX_VECTOR_FLOPS,
    Op,
    OpCost,
    add_costs,
    default_out_dtype,
)
from .collective import (
    COLLECTIVE_ALGORITHMS,
    COLLECTIVES,
    Collective,
)
from .graph import (
    Graph,
    Node,
)
from .matmul import (
    GEMM_SCHEDULES,
    Gemm,
    GroupedGemm,
    converted_weights,
)
from .streaming import (
    ATEN_WARP_SOFTMAX,
    ATEN_WARP_SOFTMAX_MAX_COLS,
    ELEMENTWISE_OPS,
    EXPF_FP32_OPS,
    FDIV_FP32_OPS,
    STREAMING_KERNELS,
    Dequantize,
    Elementwise,
    Embedding,
    Fused,
    KernelPhase,
    Norm,
    Quantize,
    Reduction,
    Softmax,
    StreamingKernel,
    streaming_kernel,
)

__all__ = [
    "ATEN_WARP_SOFTMAX",
    "ATEN_WARP_SOFTMAX_MAX_COLS",
    "ATTENTION_BWD_MATRIX_FACTOR",
    "ATTENTION_BWD_VECTOR_FLOPS",
    "BLOCK_TABLE_ENTRY_BYTES",
    "COLLECTIVES",
    "COLLECTIVE_ALGORITHMS",
    "DRAM_SECTOR_BYTES",
    "ELEMENTWISE_OPS",
    "EXPF_FP32_OPS",
    "FDIV_FP32_OPS",
    "FMA_FLOPS",
    "GEMM_SCHEDULES",
    "ONLINE_SOFTMAX_VECTOR_FLOPS",
    "STREAMING_KERNELS",
    "Attention",
    "Collective",
    "Dequantize",
    "Elementwise",
    "Embedding",
    "Fused",
    "Gemm",
    "Graph",
    "GroupedGemm",
    "KernelPhase",
    "Node",
    "Norm",
    "Op",
    "OpCost",
    "Quantize",
    "Reduction",
    "Softmax",
    "StreamingKernel",
    "add_costs",
    "converted_weights",
    "default_out_dtype",
    "streaming_kernel",
]
