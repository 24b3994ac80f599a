"""LLM scenarios: serving (`infer`) and training (`train`) estimates on top of the perf levels."""

from .infer import DoesNotFit, InferenceResult, MemoryUse, infer, max_batch
from .train import TrainMemory, TrainResult, train

__all__ = ["DoesNotFit", "InferenceResult", "MemoryUse", "TrainMemory", "TrainResult", "infer", "max_batch", "train"]
