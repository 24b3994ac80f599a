"""LLM scenarios on top of the perf levels: static-batch serving (`infer`), request-level serving simulation
(`serve`, `capacity`) and training (`train`)."""

from .infer import DoesNotFit, InferenceResult, MemoryUse, infer, max_batch
from .plan import PlanResult, plan
from .serving import CapacityResult, ServeResult, capacity, serve
from .train import TrainMemory, TrainResult, train

__all__ = ["CapacityResult", "DoesNotFit", "InferenceResult", "MemoryUse", "PlanResult", "ServeResult", "TrainMemory",
           "TrainResult", "capacity", "infer", "max_batch", "plan", "serve", "train"]
