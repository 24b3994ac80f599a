"""Memory-bound ops that stream their tensors once: softmax, norms, elementwise, reductions, embeddings, (de)quantization,
and `Fused` chains of them; `StreamingKernel` says how the kernel that runs them issues its loads."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import ClassVar, Literal

from ...hardware.dtypes import canonical_dtype, dtype_bytes
from .base import Op, OpCost, _check_dtype, _positive, add_costs


@dataclass(frozen=True, slots=True)
class KernelPhase:
    """One phase of a phased kernel: whether it reads the row (the first read from memory, later ones re-reads),
    the FP32 instructions and special-function calls it spends per element, whether it writes the result."""

    reads: bool
    fp32_ops: float
    sfu: tuple[tuple[str, float], ...] = ()
    writes: bool = False


@dataclass(frozen=True, slots=True)
class StreamingKernel:
    """How a memory-bound kernel issues its loads, which sets the bytes it can keep in flight (Little's law:
    achievable bandwidth <= bytes in flight / memory latency), and how often a row reduction reads its row."""

    load_bytes: int | None  # bytes one thread loads per input per load instruction; None: one element
    outstanding: int  # independent loads per input each thread keeps in flight (loop unrolling)
    row_passes: int  # times a row reduction (norm, softmax) reads its input row
    note: str
    # threads working on one row of a row reduction: with the resident threads per core this sets the rows in
    # flight, whose footprint decides whether a re-read pass finds its row still in L2 (else it reads DRAM again)
    threads_per_row: int | None = None
    # one thread per this many bytes of the row, up to threads_per_row (a block sized from the row length)
    bytes_per_thread: int | None = None
    # phases that every thread block runs in the same order, all blocks starting together: each phase is bound by
    # its own resource and the phases add up (empty: one fused stream, the longest resource sets the time)
    phases: tuple[KernelPhase, ...] = ()
    # loads a thread waits on, one after another, before its first streaming load can be addressed: a gather
    # through an index (vLLM's rotary kernel reads positions[token], then the cos/sin row it points to), each a
    # full memory latency in front of the stream
    dependent_loads: int = 0

    def row_threads(self, row_bytes: float) -> int | None:
        """Threads on one row: threads_per_row, or for a block sized from the row one thread per bytes_per_thread
        rounded up to a power of two, at least a warp (32) and at most threads_per_row."""
        if self.threads_per_row is None or self.bytes_per_thread is None:
            return self.threads_per_row
        wanted = math.ceil(row_bytes / self.bytes_per_thread)
        return min(self.threads_per_row, max(32, 1 << (wanted - 1).bit_length()))


# FP32 instructions of the accurate (not --use_fast_math) expf and IEEE-rounded fp32 division nvcc emits around
# their one MUFU op (ex2 / rcp): range reduction FFMA.SAT, FFMA.RM, FADD, 2 FFMA and the SHF/FMUL exponent
# scaling for expf; the FFMA Newton-Raphson refinement and correction for the division. Estimates read from sm_80
# SASS, not re-counted on a GPU here (±2 instructions).
EXPF_FP32_OPS = 7
FDIV_FP32_OPS = 6


STREAMING_KERNELS: dict[str, StreamingKernel] = {
    # 16-byte vector loads, several in flight per thread, the row kept on chip between the reduction and the
    # write: what tuned libraries ship (e.g. Apex/TransformerEngine norms, Triton persistent reductions).
    "vectorized": StreamingKernel(16, 4, 1, "16-B loads, 4 outstanding per thread, one pass"),
    # One element per thread per loop iteration, loop not unrolled, the row re-read for the normalisation:
    # vLLM <= 0.4 csrc/layernorm_kernels.cu rms_norm_kernel and csrc/activation_kernels.cu silu_and_mul_kernel
    # (one 1024-thread block per token), as used by Sarathi-Serve and profiled by Vidur.
    "scalar": StreamingKernel(None, 1, 2, "one element load per thread at a time; a row reduction reads its row twice",
                              threads_per_row=1024),
    # vLLM <= 0.4 csrc/pos_encoding_kernels.cu rotary_embedding_kernel (Sarathi-Serve, profiled by Vidur): one
    # block of min(heads * rot_dim / 2, 512) threads per token; each thread first loads positions[token], then
    # the cos/sin row at that position (a dependent chain of two DRAM latencies: the cache table is evicted by
    # the layer's GEMMs between calls), then loops over (x, y) pairs. The rotation is in place (query[i] read and
    # written through the same pointer at runtime offsets i / embed_dim, i % embed_dim), so nvcc cannot hoist
    # the next iteration's loads above this one's stores: one pair's loads in flight per thread at a time.
    "rope": StreamingKernel(None, 1, 1, "vLLM rotary: 512-thread block per token, positions -> cos/sin "
                            "gather, in-place pairs one at a time", threads_per_row=512, dependent_loads=2),
    # PyTorch's eager (ATen) LayerNorm, and RMSNorm since it shares the kernel (rms_norm template flag):
    # vectorized_layer_norm_kernel (aten/src/ATen/native/cuda/layer_norm_kernel.cu, launch_vectorized_layer_norm_
    # kernel): one block of num_threads() = 4 warps = 128 threads per row, aligned_vector<T, 4> loads (8 B for
    # 16-bit types), Welford statistics over the row, then the apply loop reads the row from global memory again.
    # 128-thread blocks put 16 rows on an SM: the rows in flight decide whether that second read finds its row in
    # L2 (rereads_hit_cache).
    "aten_norm": StreamingKernel(8, 1, 2, "PyTorch eager norm: 128 threads per row, 4-element vector loads, "
                                 "the row read twice", threads_per_row=128),
    # TorchInductor's looped reduction, generated for rows longer than its persistent-reduction limit (1024 for
    # inner reductions): one 8-warp program per row (XBLOCK=1, RBLOCK=2048, num_warps = 2048 // 128 capped at 8),
    # 16-B loads, and the normalisation loop reads the row a second time (torch/_inductor triton_heuristics.py
    # reduction(): triton_config_reduction(size_hints, 1, 2048); codegen/triton.py should_use_persistent_reduction).
    "looped": StreamingKernel(16, 1, 2, "16-B loads, one 256-thread program per row, the row read twice "
                              "(TorchInductor looped reduction)", threads_per_row=256),
    # PyTorch's eager (ATen) softmax before 2.4, rows over 1024: cunn_SoftMaxForward (aten/src/ATen/native/cuda/
    # SoftMax.cu), one block per row sized from the row (SoftMax_getBlockSize: 16-B loads, half the row's vectors,
    # <= 512 threads), three passes: the max; the sum of std::exp(x - max); the write of std::exp(x - max) / sum,
    # with accurate expf and IEEE division per element and a block-wide reduction between passes. Every block
    # does the same work and the grid starts together, so the passes run across the chip in step: the read-bound
    # first pass, then the instruction-bound second and third.
    "aten": StreamingKernel(16, 1, 3, "PyTorch eager softmax: three passes in step (max; sum of exp; exp / sum "
                            "and write), accurate expf and division", threads_per_row=512, bytes_per_thread=32,
                            phases=(KernelPhase(True, 2),  # half -> float, max
                                    KernelPhase(True, 3 + EXPF_FP32_OPS, (("exp2", 1),)),  # cvt, sub, exp, add
                                    KernelPhase(True, 3 + EXPF_FP32_OPS + FDIV_FP32_OPS,  # cvt, sub, exp, /, cvt
                                                (("exp2", 1), ("rcp", 1)), writes=True))),
}
# ATen's softmax for rows of at most 1024 elements: softmax_warp_forward (persistent_softmax.cuh), a warp per row
# holding it in registers: one read, then the max, exp, sum, division and write in one pass.
ATEN_WARP_SOFTMAX_MAX_COLS = 1024
ATEN_WARP_SOFTMAX = StreamingKernel(16, 1, 1, "PyTorch eager softmax, rows <= 1024: one warp per row in registers; "
                                    "the load phase, then the exp / sum / division and write phase",
                                    phases=(KernelPhase(True, 2),
                                            KernelPhase(False, 4 + EXPF_FP32_OPS + FDIV_FP32_OPS,
                                                        (("exp2", 1), ("rcp", 1)), writes=True)))


def streaming_kernel(op: object) -> StreamingKernel:
    """The kernel an op runs: its `kernel` name, with ATen's row-length switch for the eager softmax."""
    name = getattr(op, "kernel", "vectorized")
    if name == "aten" and getattr(op, "cols", ATEN_WARP_SOFTMAX_MAX_COLS + 1) <= ATEN_WARP_SOFTMAX_MAX_COLS:
        return ATEN_WARP_SOFTMAX
    return STREAMING_KERNELS[name]


def _check_kernel(op: object, kernel: str) -> None:
    if kernel not in STREAMING_KERNELS:
        raise ValueError(f"{type(op).__name__}.kernel: unknown kernel {kernel!r}; use one of "
                         f"{', '.join(STREAMING_KERNELS)}")
    if STREAMING_KERNELS[kernel].phases and type(op).__name__ != "Softmax":
        raise ValueError(f"{type(op).__name__}.kernel: {kernel!r} is PyTorch's softmax kernel; use it on Softmax")


@dataclass(frozen=True, slots=True)
class Softmax(Op):
    """Row softmax over `cols` for `rows` rows (unfused: reads the scores, writes probabilities)."""

    rows: int
    cols: int
    dtype: str = "bf16"
    kernel: str = "vectorized"  # STREAMING_KERNELS
    cached: bool = False  # operands already in the chip-wide cache (OpCost.cached)
    kind: ClassVar[str] = "softmax"
    # max, subtract, sum, multiply by 1/sum (the reciprocal is one SFU op per row)
    VECTOR_FLOPS: ClassVar[int] = 4

    def __post_init__(self) -> None:
        _positive(self, rows=self.rows, cols=self.cols)
        _check_dtype(self, "dtype", self.dtype)
        _check_kernel(self, self.kernel)

    def cost(self) -> OpCost:
        elems = self.rows * self.cols
        size = elems * dtype_bytes(self.dtype)
        return OpCost(vector_flops=self.VECTOR_FLOPS * elems,
                      sfu_ops=(("exp2", float(elems)), ("rcp", float(self.rows))),
                      bytes_read=size, bytes_written=size, cached=self.cached)


@dataclass(frozen=True, slots=True)
class Norm(Op):
    """LayerNorm or RMSNorm over `hidden` for `rows` rows, with a learned scale (and bias for layer)."""

    rows: int
    hidden: int
    norm: Literal["rms", "layer"] = "rms"
    dtype: str = "bf16"
    kernel: str = "vectorized"  # STREAMING_KERNELS
    cached: bool = False  # operands already in the chip-wide cache (OpCost.cached)
    kind: ClassVar[str] = "norm"
    # per element: rms = square-accumulate (FMA, 2) + scale by rstd and weight (2); layer adds the mean pass,
    # centring and the bias (3 more). NB: Welford updates are counted as the two-pass equivalent.
    VECTOR_FLOPS: ClassVar[dict[str, int]] = {"rms": 4, "layer": 7}

    def __post_init__(self) -> None:
        _positive(self, rows=self.rows, hidden=self.hidden)
        if self.norm not in ("rms", "layer"):
            raise ValueError(f"Norm.norm: expected 'rms' or 'layer' (got {self.norm!r})")
        _check_dtype(self, "dtype", self.dtype)
        _check_kernel(self, self.kernel)

    @property
    def name(self) -> str:
        return f"{self.norm}_norm"

    def cost(self) -> OpCost:
        elems = self.rows * self.hidden
        width = dtype_bytes(self.dtype)
        params = self.hidden * width * (2 if self.norm == "layer" else 1)
        return OpCost(vector_flops=self.VECTOR_FLOPS[self.norm] * elems,
                      sfu_ops=(("rsqrt", float(self.rows)),),
                      bytes_read=elems * width + params, bytes_written=elems * width, cached=self.cached)


def _whole(value: object) -> bool:
    """An integer count (Python or NumPy integers; not a bool, not a float such as 2.0 or 0.5)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# name -> (vector FLOPs per element, SFU ops per element by function, default inputs, default outputs)
ELEMENTWISE_OPS: dict[str, tuple[int, tuple[tuple[str, int], ...], int, int]] = {
    "copy": (0, (), 1, 1),
    "add": (1, (), 2, 1),
    "mul": (1, (), 2, 1),
    "scale": (1, (), 1, 1),
    "relu": (1, (), 1, 1),
    # silu(x) = x * sigmoid(x) = x / (1 + exp(-x)): FMA for -x*log2e, add, multiply; exp2 and rcp on the SFU
    "silu": (3, (("exp2", 1), ("rcp", 1)), 1, 1),
    # swiglu(a, b) = silu(a) * b: silu plus one multiply, two inputs
    "swiglu": (4, (("exp2", 1), ("rcp", 1)), 2, 1),
    # gelu tanh form: 0.5x(1 + tanh(c(x + 0.044715x³))): ~7 FMAs/mults; tanh as exp2 + rcp
    "gelu": (8, (("exp2", 1), ("rcp", 1)), 1, 1),
    "geglu": (9, (("exp2", 1), ("rcp", 1)), 2, 1),
    "exp": (1, (("exp2", 1),), 1, 1),
    "residual_add": (1, (), 2, 1),
    "rope": (3, (), 1, 1),  # x*cos + rotate(x)*sin with cached tables: 1 mult + 1 FMA per element (+table reads)
    "cast": (0, (), 1, 1),
    "adam": (12, (("rsqrt", 1),), 4, 3),  # p, g, m, v in; p, m, v out; fp32 state
}


@dataclass(frozen=True, slots=True)
class Elementwise(Op):
    """A named pointwise op over `elements` (see ELEMENTWISE_OPS), or a custom one with explicit counts."""

    op: str
    elements: int
    dtype: str = "bf16"
    inputs: int | None = None
    outputs: int | None = None
    flops_per_element: float | None = None
    out_dtype: str | None = None
    kernel: str = "vectorized"  # STREAMING_KERNELS
    cached: bool = False  # operands already in the chip-wide cache (OpCost.cached)
    # The kernel launches one thread block per row of `elements / rows` (vLLM's per-token activation and rotary
    # kernels: grid = num_tokens, up to the kernel's threads_per_row threads each), so a few rows launch few
    # threads and few loads are in flight; None: a flat grid sized from the elements.
    rows: int | None = None
    # With `rows`: the loops a block runs over its row one after another, in elements each (vLLM's rotary kernel
    # rotates the query heads' pairs, then the key heads'); None: one loop over the row's elements / rows.
    row_loops: tuple[int, ...] | None = None
    # Input arrays the kernel just before this one wrote (a residual add's GEMM output): the chip-wide cache still
    # holds them, as far as they fit its resident share (HardwareSpec.resident_cache), so those bytes are read
    # from it instead of main memory. The other inputs and the outputs still stream from and to main memory.
    warm_inputs: int = 0
    kind: ClassVar[str] = "elementwise"

    def __post_init__(self) -> None:
        _positive(self, elements=self.elements)
        if self.rows is not None:
            _positive(self, rows=self.rows)
            if not _whole(self.rows):
                raise ValueError(f"Elementwise.rows: a whole number of rows, one thread block each (got {self.rows!r})")
        if self.row_loops is not None:
            if isinstance(self.row_loops, (str, bytes)) or not hasattr(self.row_loops, "__iter__"):
                raise ValueError(f"Elementwise.row_loops: give a sequence of loop lengths, e.g. (64, 8) "
                                 f"(got {self.row_loops!r})")
            object.__setattr__(self, "row_loops", tuple(self.row_loops))
            if not all(_whole(n) for n in self.row_loops):
                raise ValueError(f"Elementwise.row_loops: loop lengths must be integers (got {self.row_loops!r})")
            if self.rows is None or not self.row_loops or min(self.row_loops) < 1:
                raise ValueError("Elementwise.row_loops: give positive loop lengths, and only with rows")
            if sum(self.row_loops) * self.rows != self.elements:
                raise ValueError(f"Elementwise.row_loops: {sum(self.row_loops)} elements per row x {self.rows} "
                                 f"rows != elements ({self.elements})")
        if self.op not in ELEMENTWISE_OPS and self.flops_per_element is None:
            raise ValueError(
                f"Elementwise.op: unknown op {self.op!r}; use one of {', '.join(ELEMENTWISE_OPS)} "
                "or give flops_per_element for a custom op"
            )
        _check_dtype(self, "dtype", self.dtype)
        _check_dtype(self, "out_dtype", self.out_dtype)
        _check_kernel(self, self.kernel)
        if not _whole(self.warm_inputs):
            raise ValueError(f"Elementwise.warm_inputs: a whole number of input arrays (got {self.warm_inputs!r})")
        if not 0 <= self.warm_inputs <= self.input_arrays:
            raise ValueError(f"Elementwise.warm_inputs: {self.warm_inputs} is not between 0 and the "
                             f"{self.input_arrays} input arrays")

    @property
    def name(self) -> str:
        return self.op

    @property
    def warm_bytes(self) -> float:
        """Bytes of the `warm_inputs` arrays (before capping at what the chip-wide cache holds)."""
        return self.warm_inputs * self.elements * dtype_bytes(self.dtype)

    @property
    def input_arrays(self) -> int:
        """Arrays read per element: `inputs`, else the named op's default."""
        return self.inputs if self.inputs is not None else ELEMENTWISE_OPS.get(self.op, (0, (), 1, 1))[2]

    def cost(self) -> OpCost:
        flops, sfu, _, n_out = ELEMENTWISE_OPS.get(self.op, (0, (), 1, 1))
        flops = self.flops_per_element if self.flops_per_element is not None else flops
        n_in = self.input_arrays
        n_out = self.outputs if self.outputs is not None else n_out
        width_in = dtype_bytes(self.dtype)
        width_out = dtype_bytes(self.out_dtype or self.dtype)
        return OpCost(vector_flops=flops * self.elements,
                      sfu_ops=tuple((fn, float(count * self.elements)) for fn, count in sfu),
                      bytes_read=n_in * self.elements * width_in,
                      bytes_written=n_out * self.elements * width_out, cached=self.cached)


@dataclass(frozen=True, slots=True)
class Reduction(Op):
    """Reduce `cols` to one value per row (sum, max, mean, amax)."""

    rows: int
    cols: int
    dtype: str = "bf16"
    op: Literal["sum", "max", "mean", "amax"] = "sum"
    kind: ClassVar[str] = "reduction"

    def __post_init__(self) -> None:
        _positive(self, rows=self.rows, cols=self.cols)
        _check_dtype(self, "dtype", self.dtype)

    def cost(self) -> OpCost:
        width = dtype_bytes(self.dtype)
        return OpCost(vector_flops=float(self.rows * self.cols), bytes_read=self.rows * self.cols * width,
                      bytes_written=self.rows * width)


@dataclass(frozen=True, slots=True)
class Embedding(Op):
    """Gather `tokens` rows of width `hidden` from a [vocab, hidden] table (int32 indices)."""

    tokens: int
    hidden: int
    vocab: int
    dtype: str = "bf16"
    kind: ClassVar[str] = "embedding"

    def __post_init__(self) -> None:
        _positive(self, tokens=self.tokens, hidden=self.hidden, vocab=self.vocab)
        _check_dtype(self, "dtype", self.dtype)

    def cost(self) -> OpCost:
        row = self.hidden * dtype_bytes(self.dtype)
        rows_read = min(self.tokens, self.vocab)  # a row used twice is read once at best
        return OpCost(bytes_read=rows_read * row + self.tokens * 4, bytes_written=self.tokens * row)


# Block-scaled formats whose scale block is part of the format: OCP Microscaling Formats (MX) v1.0, sec. 5: k = 32
# elements per shared E8M0 scale; NVFP4 (NVIDIA Blackwell): 16-element micro-blocks with an E4M3 scale.
FIXED_SCALE_BLOCK = {"mxfp8": 32, "mxfp6": 32, "mxfp4": 32, "nvfp4": 16}


@dataclass(frozen=True, slots=True)
class Quantize(Op):
    """Quantize `elements` from `src_dtype` to a (block-)scaled format, computing a scale per `block`.

    Per element: |x| into the block max (1), multiply by the inverse scale (1), round/convert (1);
    per block one exp2/log2-type op on the SFU for the power-of-two (E8M0) or E4M3 scale.
    """

    elements: int
    fmt: str = "mxfp8"
    src_dtype: str = "bf16"
    block: int | None = None  # elements per scale; None: the format's own (FIXED_SCALE_BLOCK), else 32
    kind: ClassVar[str] = "quantize"
    VECTOR_FLOPS: ClassVar[int] = 3

    def __post_init__(self) -> None:
        _check_dtype(self, "fmt", self.fmt)
        _check_dtype(self, "src_dtype", self.src_dtype)
        fixed = FIXED_SCALE_BLOCK.get(canonical_dtype(self.fmt))
        if self.block is None:
            object.__setattr__(self, "block", fixed or 32)
        _positive(self, elements=self.elements, block=self.block)
        if fixed is not None and self.block != fixed:
            raise ValueError(f"Quantize.block: {self.fmt} scales every {fixed} elements (its format fixes the block); "
                             f"got {self.block}")

    def cost(self) -> OpCost:
        blocks = self.elements / self.block
        return OpCost(vector_flops=self.VECTOR_FLOPS * self.elements, sfu_ops=(("log2", blocks),),
                      bytes_read=self.elements * dtype_bytes(self.src_dtype),
                      bytes_written=self.elements * dtype_bytes(self.fmt))


@dataclass(frozen=True, slots=True)
class Dequantize(Op):
    """Expand a (block-)scaled format back to `dst_dtype`: one multiply by the block scale per element."""

    elements: int
    fmt: str = "mxfp8"
    dst_dtype: str = "bf16"
    block: int = 32
    kind: ClassVar[str] = "dequantize"

    def __post_init__(self) -> None:
        _positive(self, elements=self.elements, block=self.block)
        _check_dtype(self, "fmt", self.fmt)
        _check_dtype(self, "dst_dtype", self.dst_dtype)

    def cost(self) -> OpCost:
        return OpCost(vector_flops=float(self.elements),
                      bytes_read=self.elements * dtype_bytes(self.fmt),
                      bytes_written=self.elements * dtype_bytes(self.dst_dtype))


def _streamed(op: Op) -> tuple[int, str, str] | None:
    """(elements, dtype read, dtype written) of a memory-bound op whose one main tensor streams through it
    element for element, or None for an op that cannot join a fused chain."""
    if isinstance(op, Elementwise):
        return op.elements, op.dtype, op.out_dtype or op.dtype
    if isinstance(op, Norm):
        return op.rows * op.hidden, op.dtype, op.dtype
    if isinstance(op, Softmax):
        return op.rows * op.cols, op.dtype, op.dtype
    if isinstance(op, Quantize):
        return op.elements, op.src_dtype, op.fmt
    if isinstance(op, Dequantize):
        return op.elements, op.fmt, op.dst_dtype
    return None


@dataclass(frozen=True, slots=True)
class Fused(Op):
    """Memory-bound ops fused into one kernel, as a compiler (torch.compile/Inductor, XLA) or a hand-written kernel
    runs them: residual add + RMSNorm, bias + activation, norm + quantize. Each op after the first takes the
    previous op's output on chip, so that tensor is neither written to memory nor read back, and the chain is one
    launch; every other input and the last op's outputs still move, and so does any further output of an earlier
    op (vLLM's fused_add_rms_norm: `Fused((Elementwise("residual_add", n, outputs=2), Norm(rows, hidden)))` reads x
    and the residual and writes the new residual and the normed x). All ops stream the same number of elements.

    The work is the sum of the ops' work; the analytical level runs it as one streaming kernel (a row-wise op's
    row stays on chip: one pass). Unfused, the same ops are separate nodes of a graph."""

    ops: tuple[Op, ...]
    label: str | None = None
    kind: ClassVar[str] = "fused"

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        if len(self.ops) < 2:
            raise ValueError(f"Fused.ops: needs at least two ops to fuse (got {len(self.ops)})")
        streams = []
        for i, op in enumerate(self.ops):
            streamed = _streamed(op)
            if streamed is None:
                raise ValueError(f"Fused.ops[{i}]: {type(op).__name__} is not a streaming op; fuse Elementwise, "
                                 "Norm, Softmax, Quantize or Dequantize ops")
            streams.append(streamed)
            # a link needs a tensor to hand on: the producer writes one array and the consumer reads one
            if i < len(self.ops) - 1 and isinstance(op, Elementwise) and op.outputs == 0:
                raise ValueError(f"Fused.ops[{i}]: {op.op} writes no array for the next op to take; give it "
                                 "outputs >= 1 or put it last")
            if i > 0 and isinstance(op, Elementwise) and op.input_arrays == 0:
                raise ValueError(f"Fused.ops[{i}]: {op.op} reads no array, so it cannot take the previous op's "
                                 "output; give it inputs >= 1 or put it first")
        sizes = {n for n, _, _ in streams}
        if len(sizes) > 1:
            raise ValueError(f"Fused.ops: every op must stream the same number of elements (got "
                             f"{', '.join(str(n) for n, _, _ in streams)}); fuse ops over one tensor")

    @property
    def name(self) -> str:
        return self.label or "+".join(op.name for op in self.ops)

    def cost(self) -> OpCost:
        costs = [op.cost() for op in self.ops]
        total = OpCost()
        for cost in costs:
            total = add_costs(total, cost)
        streams = [_streamed(op) for op in self.ops]
        # each link keeps one tensor on chip: the producer does not write it and the consumer does not read it
        kept_written = sum(n * dtype_bytes(out) for n, _, out in streams[:-1])  # type: ignore[misc]
        kept_read = sum(n * dtype_bytes(dtype_in) for n, dtype_in, _ in streams[1:])  # type: ignore[misc]
        return dataclasses.replace(total, bytes_read=total.bytes_read - kept_read,
                                   bytes_written=total.bytes_written - kept_written,
                                   cached=all(cost.cached for cost in costs))


