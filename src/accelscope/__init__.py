"""accelscope: how fast would this kernel or this LLM run on a chip that does not exist yet, and why?

    import accelscope as acs
    hw = acs.load_hardware("h100-sxm").with_overrides({"memory.hbm.bandwidth": "6 TB/s"})
    est = acs.estimate(acs.ops.Gemm(m=4096, n=4096, k=4096, dtype="bf16"), hw)
"""

from . import llm
from . import workload as ops
from .hardware import HardwareSpec, SpecError, list_hardware, load_hardware
from .perf import Estimate, LevelNotAvailable, estimate
from .workload import Graph

__version__ = "0.1.0"

__all__ = [
    "Estimate",
    "Graph",
    "HardwareSpec",
    "LevelNotAvailable",
    "SpecError",
    "__version__",
    "estimate",
    "list_hardware",
    "llm",
    "load_hardware",
    "ops",
]
