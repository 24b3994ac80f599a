"""The conformance suite every performance level must pass (roofline today; analytical and sim when they land).

Invariants, for any op and chip:
  1. estimates are finite and non-negative, and the breakdown/attribution are too;
  2. a level is never faster than the roofline on the same spec;
  3. more bandwidth (any memory level, any link) or more peak (matrix, vector, SFU) never makes it slower;
  4. a graph's estimate is the sum of its ops' estimates.
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

import accelscope as acs
from accelscope.workload import (
    Attention,
    Collective,
    Elementwise,
    Fused,
    Gemm,
    GroupedGemm,
    Norm,
    Quantize,
    Reduction,
    Softmax,
)

DTYPES = st.sampled_from(["bf16", "fp16", "fp8_e4m3", "fp32", "nvfp4", "mxfp4", "int8"])
DIM = st.integers(min_value=1, max_value=16384)


@st.composite
def any_op(draw: st.DrawFn) -> acs.ops.Op:
    kind = draw(st.sampled_from(["gemm", "grouped", "attention", "softmax", "norm", "elementwise", "reduction",
                                 "collective", "quantize", "fused"]))
    if kind == "gemm":
        dtype = draw(DTYPES)
        # weight-only quantized B (converted on the vector unit) only under a 16-bit product
        b_dtype = draw(st.sampled_from([None, "int4", "int8", "int4_g128"])) if dtype in ("bf16", "fp16") else None
        return Gemm(m=draw(DIM), n=draw(DIM), k=draw(DIM), dtype=dtype, batch=draw(st.integers(1, 8)),
                    b_dtype=b_dtype)
    if kind == "grouped":
        groups = draw(st.integers(1, 16))
        rows = tuple(draw(st.lists(st.integers(0, 4096), min_size=groups, max_size=groups)))
        return GroupedGemm(groups=groups, n=draw(DIM), k=draw(DIM), m_per_group=rows, dtype=draw(DTYPES))
    if kind == "attention":
        kv_heads = draw(st.sampled_from([1, 2, 8]))
        q_len = draw(st.integers(1, 8192))
        kv_len = draw(st.integers(q_len, 16384))
        return Attention(batch=draw(st.integers(1, 16)), heads=kv_heads * draw(st.integers(1, 8)), kv_heads=kv_heads,
                         head_dim=draw(st.sampled_from([64, 128, 192])), q_len=q_len, kv_len=kv_len,
                         causal=draw(st.booleans()), phase=draw(st.sampled_from(["fwd", "bwd", "fwd_bwd"])),
                         dtype=draw(st.sampled_from(["bf16", "fp8_e4m3"])),
                         kv_dtype=draw(st.sampled_from([None, "fp8_e4m3"])))
    if kind == "softmax":
        return Softmax(rows=draw(DIM), cols=draw(DIM), cached=draw(st.booleans()),
                       kernel=draw(st.sampled_from(["vectorized", "scalar", "aten"])))
    if kind == "norm":
        return Norm(rows=draw(DIM), hidden=draw(DIM), norm=draw(st.sampled_from(["rms", "layer"])),
                    cached=draw(st.booleans()), kernel=draw(st.sampled_from(["vectorized", "scalar", "looped"])))
    if kind == "elementwise":
        return Elementwise(op=draw(st.sampled_from(["add", "silu", "swiglu", "gelu", "copy"])),
                           elements=draw(st.integers(1, 1 << 28)), cached=draw(st.booleans()))
    if kind == "fused":  # residual add (+ the new residual written or not) into a norm, then maybe fp8 codes
        rows, hidden = draw(DIM), draw(DIM)
        chain = [Elementwise("residual_add", rows * hidden, outputs=draw(st.sampled_from([1, 2]))),
                 Norm(rows=rows, hidden=hidden, norm=draw(st.sampled_from(["rms", "layer"])))]
        if draw(st.booleans()):
            chain.append(Quantize(elements=rows * hidden, fmt="fp8_e4m3", block=128))
        return Fused(tuple(chain))
    if kind == "reduction":
        return Reduction(rows=draw(DIM), cols=draw(DIM))
    if kind == "collective":
        return Collective(op=draw(st.sampled_from(["all_reduce", "all_gather", "reduce_scatter", "all_to_all"])),
                          bytes=float(draw(st.integers(1, 1 << 32))), group=draw(st.sampled_from([1, 2, 8, 16, 64])))
    return Quantize(elements=draw(st.integers(32, 1 << 26)), fmt=draw(st.sampled_from(["mxfp8", "mxfp4", "nvfp4"])))


# Every bandwidth and peak a model may read, as override paths (relative factors are applied per spec).
def faster_variants(hw: acs.HardwareSpec, factor: float) -> list[tuple[str, acs.HardwareSpec]]:
    variants = [(f"memory.{name}.bandwidth", {f"memory.{name}.bandwidth": level.bandwidth * factor})
                for name, level in hw.memory.items()]
    variants += [(f"matrix.peak.{d}", {f"matrix.peak.{d}": p * factor}) for d, p in hw.matrix.peak.items()]
    variants += [(f"vector.peak.{d}", {f"vector.peak.{d}": p * factor}) for d, p in hw.vector.peak.items()]
    if hw.sfu:
        variants += [(f"sfu.{fn}", {f"sfu.ops_per_clock_per_core.{fn}": r * factor})
                     for fn, r in hw.sfu.ops_per_clock_per_core.items()]
    # a cheaper weight conversion (fewer lane slots per element) is a faster vector path
    variants += [(f"isa.dequantize_ops.{d}", {f"isa.dequantize_ops.{d}": hw.dequantize_flops(d) / 2 / factor})
                 for d in ("fp16", "bf16") if d in hw.matrix.peak]  # a key needs its matrix path
    if hw.interconnect.scale_up:
        variants.append(("scale_up", {"interconnect.scale_up.bandwidth": hw.interconnect.scale_up.bandwidth * factor}))
    if hw.interconnect.scale_out:
        variants.append(("scale_out",
                         {"interconnect.scale_out.bandwidth": hw.interconnect.scale_out.bandwidth * factor}))
    return [(name, hw.with_overrides(o)) for name, o in variants]


def check_valid(est: acs.Estimate) -> None:
    assert math.isfinite(est.seconds) and est.seconds > 0
    assert est.flops >= 0 and est.bytes >= 0
    assert all(v >= 0 and math.isfinite(v) for v in est.breakdown.values())
    assert all(v >= 0 for v in est.attribution.values())
    assert est.bound in acs.perf.RESOURCES


def check_not_faster_than_roofline(op: acs.ops.Op, hw: acs.HardwareSpec, level: str) -> None:
    est, floor = acs.estimate(op, hw, level=level), acs.estimate(op, hw, level="roofline")
    # 1 ppm: far below any modelled effect, above the rounding of two formulas that price the same bound in another
    # order (a 2-node all-reduce whose NVLS tree runs at the NIC's full rate is the floor itself, to 1e-9)
    assert est.seconds >= floor.seconds * (1 - 1e-6), f"{level} beats the roofline on {op.describe()}"


def check_monotone(op: acs.ops.Op, variants: list[tuple[str, acs.HardwareSpec]], base: acs.HardwareSpec,
                   level: str) -> None:
    reference = acs.estimate(op, base, level=level).seconds
    for name, faster in variants:
        assert acs.estimate(op, faster, level=level).seconds <= reference * (1 + 1e-9), (
            f"{level}: raising {name} slowed down {op.describe()}")
