"""The roofline level: each resource runs at its peak, resources overlap perfectly, plus one kernel launch.

time = max(matrix, vector, SFU, main memory, interconnect) + launch latency, where
  matrix  = matrix FLOPs / matrix peak of the dtype (or the next wider path the chip has)
  vector  = vector FLOPs / vector peak (fp32 lanes unless the op says otherwise)
  SFU     = special-function ops / (ops per clock per core x cores x clock); a function the chip has no unit
            for runs as a polynomial on the vector unit (SFU_POLYNOMIAL_FLOPS)
  memory  = minimum bytes / main-memory bandwidth (the chip-wide cache's, for an op whose operands are cached
            and fit: `OpCost.cached`, `HardwareSpec.resident_cache`); on a chip with a scratchpad (a `scope: chip`
            SRAM) the share of the working set it holds streams from it at the same time
            (`HardwareSpec.memory_seconds`); an Elementwise's warm inputs (`Elementwise.warm_inputs`, the operand the
            previous kernel just wrote, `warm_read_bytes`) come from the chip-wide cache: main memory moves the
            other bytes while that cache moves every byte, at their nominal rates, whichever is longer
  interconnect = bandwidth floor of the collective (collectives.py)
It is a lower bound for every other level on the same spec.
"""

from __future__ import annotations

from ..hardware import HardwareSpec
from ..hardware.spec import CACHE_RESIDENT_FRACTION
from ..workload.ops import Elementwise, Op, OpCost
from .collectives import collective_floor
from .estimate import RESOURCES, Estimate, register_level

# Vector FLOPs to evaluate a special function in software when there is no hardware unit for it:
# range reduction + a degree-5/6 minimax polynomial + exponent reconstruction, as in common fp32 libm
# vector kernels (e.g. SLEEF's expf/exp2f, ~10 FMAs). Used for CPUs and for chips without the function.
SFU_POLYNOMIAL_FLOPS = {"exp2": 12, "log2": 14, "rcp": 6, "rsqrt": 8, "sqrt": 8, "sin": 16, "cos": 16, "tanh": 20}


def warm_read_bytes(op: Op, hw: HardwareSpec) -> float:
    """Bytes of an Elementwise's `warm_inputs` that the chip-wide cache still holds: at most its resident share
    (CACHE_RESIDENT_FRACTION of the capacity, HardwareSpec.resident_cache: H100's 50 MB L2 keeps 25 MB), since the
    previous kernel's last-written lines are the ones left; 0 for other ops or a chip without such a cache."""
    if not isinstance(op, Elementwise) or not op.warm_inputs:  # (most ops: no need to look for the cache)
        return 0.0
    cache = _chip_cache_name(hw)
    if cache is None:
        return 0.0
    return min(op.warm_bytes, CACHE_RESIDENT_FRACTION * hw.level_total(cache)[0])


def _chip_cache_name(hw: HardwareSpec) -> str | None:
    """The first chip-wide cache level's name (an L2), or None."""
    return next((name for name, level in hw.memory.items() if level.kind == "cache" and level.scope == "chip"), None)


def _warm_memory_seconds(cost: OpCost, hw: HardwareSpec, warm: float) -> float:
    """Nominal-rate memory seconds when `warm` of the read bytes come from the chip-wide cache: main memory (and a
    scratchpad's share) moves the rest, the cache every byte (the warm ones and the rest crossing it), in
    parallel. Every other level prices both at or below these rates, so it stays a lower bound."""
    cache = _chip_cache_name(hw)
    assert cache is not None  # warm > 0 only with a chip-wide cache (warm_read_bytes)
    cold = cost.bytes - warm
    dram = hw.memory_seconds(cost.bytes_read - warm, cost.bytes_written, cold, achievable=False)
    return max(dram, cost.bytes / hw.level_total(cache)[1])


def resource_times(cost: OpCost, hw: HardwareSpec, warm: float = 0.0) -> dict[str, float]:
    """Seconds each resource needs at its peak. `warm`: read bytes already in the chip-wide cache (warm_read_bytes:
    an Elementwise's warm inputs), ignored for a cached op (all of it is the cache's then)."""
    matrix = cost.matrix_flops / hw.matrix_peak(cost.matrix_dtype) if cost.matrix_flops else 0.0
    vector_peak = hw.vector_peak(cost.vector_dtype)
    # dequantized operand elements: FP32 lane slots at this chip's count (HardwareSpec.dequantize_flops)
    vector = cost.vector_flops / vector_peak
    if cost.convert_elements:
        path = hw.matrix_dtype(cost.matrix_dtype) if cost.matrix_dtype else None
        vector += cost.convert_elements * hw.dequantize_flops(path) / hw.vector_peak("fp32")
    sfu = 0.0
    for function, count in cost.sfu_ops:
        rate = hw.sfu_rate(function)
        if rate is None:
            vector += count * SFU_POLYNOMIAL_FLOPS[function] / vector_peak
        else:
            sfu += count / rate
    cache = hw.resident_cache(cost.bytes) if cost.cached else None
    # main memory, and the share of the working set a chip scratchpad holds, at nominal rates
    if cache:
        memory = cost.bytes / hw.level_total(cache)[1]
    elif warm:
        memory = _warm_memory_seconds(cost, hw, warm)
    else:
        memory = hw.memory_seconds(cost.bytes, 0.0, cost.bytes, achievable=False)
    comm = collective_floor(cost.comm_kind, cost.comm_bytes, cost.comm_group, hw,
                                                 cost.comm_stride).seconds if cost.comm_kind else 0.0
    return {"matrix": matrix, "vector": vector, "sfu": sfu, "memory": memory, "interconnect": comm}


def roofline(op: Op, hw: HardwareSpec) -> Estimate:
    cost = op.cost()
    busy = resource_times(cost, hw, warm_read_bytes(op, hw))
    launch = hw.runtime.launch_latency
    bound = max(busy, key=lambda k: busy[k])
    peak_time = busy[bound]
    if launch >= peak_time:
        bound = "launch"
    busy["launch"] = launch
    attribution = dict.fromkeys(RESOURCES, 0.0)
    attribution["launch"] += launch
    if bound != "launch":
        attribution[bound] += peak_time
    else:
        attribution["launch"] += peak_time  # latency-dominated: the whole op is overhead-bound
    details = {"matrix_dtype": hw.matrix_dtype(cost.matrix_dtype) if cost.matrix_dtype else None}
    return Estimate(
        seconds=peak_time + launch, flops=cost.flops, bytes=cost.bytes, bound=bound, breakdown=busy,
        level="roofline", op=op.name, hw=hw.id, attribution=attribution, details=details,
    )


register_level("roofline", roofline)
