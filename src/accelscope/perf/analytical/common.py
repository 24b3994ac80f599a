"""Shared by the analytical op models: one `Estimate` from busy times, the launch and the limiting resource.
"""

from __future__ import annotations

from ...hardware import HardwareSpec
from ...workload.ops import (
    Op,
    OpCost,
)
from ..estimate import RESOURCES, Estimate
from ..roofline import SFU_POLYNOMIAL_FLOPS


def _estimate(op: Op, hw: HardwareSpec, busy: dict[str, float], seconds: float, cost: OpCost,
              details: dict[str, object], bound: str | None = None) -> Estimate:
    """`bound`: the limiting resource when the model knows it (a GEMM's mapping: MMAs and conversions issued by
    the same warps add up); else the busiest one."""
    launch = hw.runtime.launch_latency
    breakdown = dict.fromkeys(RESOURCES, 0.0)  # every resource, in RESOURCES order, then any other the model names
    breakdown.update(busy)
    breakdown["launch"] = launch
    if launch >= seconds:
        bound = "launch"
    elif not bound:  # the busiest resource but the launch (the first of equal ones)
        bound = max((k for k in breakdown if k != "launch"), key=breakdown.__getitem__)
    attribution = dict.fromkeys(RESOURCES, 0.0)
    attribution[bound] += seconds
    attribution["launch"] += launch
    return Estimate(seconds=seconds + launch, flops=cost.flops, bytes=cost.bytes, bound=bound, breakdown=breakdown,
                    level="analytical", op=op.name, hw=hw.id, attribution=attribution, details=details)


# ----- GEMM -----------------------------------------------------------------------------------------------------
# Block formats: elements per shared scale (OCP MX v1.0: 32; NVIDIA NVFP4: 16).


def _sfu_seconds(function: str, count: float, hw: HardwareSpec, vector_rate: float) -> tuple[float, float]:
    """(SFU seconds, extra vector seconds) for `count` calls of `function`."""
    rate = hw.sfu_rate(function)
    if rate is None:
        return 0.0, count * SFU_POLYNOMIAL_FLOPS[function] / vector_rate
    return count / (rate * hw.compute.clock_ratio), 0.0
