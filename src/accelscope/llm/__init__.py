"""LLM scenarios on top of the perf levels: static-batch serving (`infer`), request-level serving simulation
(`serve`, `capacity`) and training (`train`)."""

from .infer import DoesNotFit, InferenceResult, MemoryUse, infer, max_batch
from .serving import CapacityResult, ServeResult, capacity, serve
from .train import TrainMemory, TrainResult, train

__all__ = ["CapacityResult", "DoesNotFit", "InferenceResult", "MemoryUse", "ServeResult", "TrainMemory", "TrainResult",
           "capacity", "infer", "max_batch", "serve", "train"]
