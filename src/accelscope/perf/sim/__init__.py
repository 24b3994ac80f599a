"""The cycle-level level (level="sim"): tile ISA, core model, compiler, event engine and traces.

    from accelscope.perf.sim import simulate, chrome_trace
    result = simulate(Softmax(rows=4096, cols=4096), load_hardware("h100-sxm"), trace=True)
    result.estimate.details["utilization"]; chrome_trace(result)["traceEvents"]
"""

from . import isa
from .compiler import NotLowered, compile_op
from .core import CoreModel, core_model, mma_cycles
from .engine import Program, RunResult, run
from .model import SimResult, sim, simulate
from .trace import chrome_trace, write_trace

__all__ = [
    "CoreModel",
    "NotLowered",
    "Program",
    "RunResult",
    "SimResult",
    "chrome_trace",
    "compile_op",
    "core_model",
    "isa",
    "mma_cycles",
    "run",
    "sim",
    "simulate",
    "write_trace",
]
