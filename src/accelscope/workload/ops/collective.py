"""Collective communication between devices (all-reduce, all-gather, reduce-scatter, all-to-all, broadcast, send/recv)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ...hardware.dtypes import dtype_bytes
from .base import Op, OpCost, _check_dtype, _positive

COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "send_recv")
COLLECTIVE_ALGORITHMS = ("auto", "ring", "tree", "nvls")
MAX_GROUP = 10_000_000  # devices in one collective, as for llm plan --devices


@dataclass(frozen=True, slots=True)
class Collective(Op):
    """A collective over `group` devices. `bytes` is the full buffer per device:
    the input of all_reduce/reduce_scatter/all_to_all/broadcast/send_recv, the output of all_gather.

    `impl="custom"`: the all-reduce kernels serving engines run instead of the collective library for small
    tensor-parallel all-reduces inside one NVLink domain (vLLM's custom_all_reduce, TensorRT-LLM's one-shot /
    two-shot all-reduce): peers' buffers are read directly over NVLink between flag barriers.
    `algorithm` pins the library's algorithm as NCCL_ALGO does ("ring", "tree", "nvls"; "auto": the fastest the
    library's model offers), read by the analytical level; "tree" and "nvls" exist for all-reduce (NVLS also for
    all-gather / reduce-scatter) and "nvls" only inside a domain with in-network reduction."""

    op: str
    bytes: float
    group: int
    dtype: str = "bf16"
    stride: int = 1  # distance between consecutive group members in device order (DP groups skip TP ranks)
    impl: Literal["library", "custom"] = "library"
    algorithm: str = "auto"  # COLLECTIVE_ALGORITHMS
    kind: ClassVar[str] = "collective"

    def __post_init__(self) -> None:
        if self.op not in COLLECTIVES:
            raise ValueError(f"Collective.op: expected one of {', '.join(COLLECTIVES)} (got {self.op!r})")
        if self.impl not in ("library", "custom"):
            raise ValueError(f"Collective.impl: expected library or custom (got {self.impl!r})")
        if self.algorithm not in COLLECTIVE_ALGORITHMS:
            raise ValueError(f"Collective.algorithm: expected one of {', '.join(COLLECTIVE_ALGORITHMS)} "
                             f"(got {self.algorithm!r})")
        _positive(self, bytes=self.bytes, group=self.group, stride=self.stride)
        if self.group > MAX_GROUP:  # 1e15 devices all-reduced 1 GiB in 5 ms: no cluster, no model of one
            raise ValueError(f"Collective.group: at most {MAX_GROUP:,} devices (got {self.group:,})")
        _check_dtype(self, "dtype", self.dtype)

    @property
    def name(self) -> str:
        return self.op

    def cost(self) -> OpCost:
        elements = self.bytes / dtype_bytes(self.dtype)
        reduce_flops = elements * (self.group - 1) / self.group if self.op in ("all_reduce", "reduce_scatter") else 0
        return OpCost(vector_flops=reduce_flops, bytes_read=self.bytes, bytes_written=self.bytes,
                      comm_bytes=self.bytes, comm_kind=self.op, comm_group=self.group, comm_stride=self.stride)


