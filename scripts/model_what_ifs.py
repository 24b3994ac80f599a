"""Print the what-if checks docs/validation.md quotes for the analytical level (about 10 s):

    .venv/bin/python scripts/model_what_ifs.py

1. GEMM: the dev-set error with stream-K added to the default mapping search (it is not the default).
2. GEMM: the error left with an oracle constant per chip, and per (chip, source, dtype), fitted on the rows
   themselves: the share of the error a per-chip efficiency cannot remove.
3. PyTorch's eager softmax (kernel="aten"): the elementwise error with the expf / division instruction counts
   moved by +-2 (the shipped counts are estimates read from SASS).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

import accelscope.perf.analytical.matmul as analytical_ops
import accelscope.workload.ops as ir
from accelscope.measure.dataset import load_rows
from accelscope.measure.validate import validate

TIME_UNITS = ("ms", "us", "µs", "s")


def mean_abs(results: list) -> float:
    errors = [abs(r.error) for r in results if r.error is not None]
    return statistics.fmean(errors)


def stream_k_in_default_search(gemm_rows: list) -> None:
    default = mean_abs(validate(gemm_rows, ["analytical"]))
    original = analytical_ops.gemm_mapping
    analytical_ops.gemm_mapping = lambda *a, **k: original(*a, **{**k, "stream_k": True})
    try:
        with_stream_k = mean_abs(validate(gemm_rows, ["analytical"]))
    finally:
        analytical_ops.gemm_mapping = original
    print(f"1. GEMM, in-sample: data-parallel search {default:.1%}, with stream-K in the search {with_stream_k:.1%}")


def oracle_constants(gemm_rows: list) -> None:
    results = [r for r in validate(gemm_rows, ["analytical"]) if r.error is not None]
    for label, key in (("chip", lambda r: r.row.hardware), ("chip, source, dtype",
                                                            lambda r: (r.row.hardware, r.row.id[:2], r.row.dtype))):
        groups: dict[object, list[float]] = defaultdict(list)
        for r in results:  # predicted speed / measured speed, whatever the row's unit
            groups[key(r)].append(1 / (1 + r.error) if r.row.unit in TIME_UNITS else 1 + r.error)
        residual = []
        for ratios in groups.values():
            constant = math.exp(statistics.median(math.log(x) for x in ratios))  # the best single factor
            residual += [abs(x / constant - 1) for x in ratios]
        print(f"2. GEMM, oracle constant per {label} ({len(groups)} groups): {statistics.fmean(residual):.1%} left")


def aten_instruction_counts(elementwise_rows: list) -> None:
    shipped = dict(ir.STREAMING_KERNELS), ir.ATEN_WARP_SOFTMAX
    print("3. elementwise, in-sample, by the instruction counts of accurate expf / IEEE division:")
    try:
        for expf in (ir.EXPF_FP32_OPS - 2, ir.EXPF_FP32_OPS, ir.EXPF_FP32_OPS + 2):
            for fdiv in (ir.FDIV_FP32_OPS - 2, ir.FDIV_FP32_OPS, ir.FDIV_FP32_OPS + 2):
                blocked, warp = shipped[0]["aten"], shipped[1]
                ir.STREAMING_KERNELS["aten"] = _recount(blocked, expf, fdiv)
                ir.ATEN_WARP_SOFTMAX = _recount(warp, expf, fdiv)
                mark = "  (shipped)" if (expf, fdiv) == (ir.EXPF_FP32_OPS, ir.FDIV_FP32_OPS) else ""
                print(f"   expf {expf}, division {fdiv}: {mean_abs(validate(elementwise_rows, ['analytical'])):.1%}"
                      f"{mark}")
    finally:
        ir.STREAMING_KERNELS.clear()
        ir.STREAMING_KERNELS.update(shipped[0])
        ir.ATEN_WARP_SOFTMAX = shipped[1]


def _recount(kernel: ir.StreamingKernel, expf: int, fdiv: int) -> ir.StreamingKernel:
    """The kernel with its phases' FP32 counts shifted by the change in the expf and division counts."""
    def phase(p: ir.KernelPhase) -> ir.KernelPhase:
        functions = dict(p.sfu)
        extra = (expf - ir.EXPF_FP32_OPS) * functions.get("exp2", 0) + (fdiv - ir.FDIV_FP32_OPS) * functions.get(
            "rcp", 0)
        return ir.KernelPhase(p.reads, p.fp32_ops + extra, p.sfu, p.writes)

    fields = {f: getattr(kernel, f) for f in kernel.__dataclass_fields__}  # type: ignore[attr-defined]
    return ir.StreamingKernel(**{**fields, "phases": tuple(phase(p) for p in kernel.phases)})


def main() -> None:
    rows = load_rows("dev")
    gemm_rows = [r for r in rows if r.category == "gemm"]
    stream_k_in_default_search(gemm_rows)
    oracle_constants(gemm_rows)
    aten_instruction_counts([r for r in rows if r.category == "elementwise"])


if __name__ == "__main__":
    main()
