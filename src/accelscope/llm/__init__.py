"""LLM scenarios on top of the perf levels: static-batch serving (`infer`), request-level serving simulation
(`serve`, `capacity`), training (`train`), the best mapping per chip (`plan`) and (capacity x mapping) grids
(`train_grid`, `serve_grid`)."""

from .infer import DoesNotFit, InferenceResult, MemoryUse, infer, max_batch
from .plan import PlanResult, plan
from .plan_grid import PlanGrid, serve_grid, train_grid
from .serving import CapacityResult, ServeResult, capacity, serve
from .train import TrainMemory, TrainResult, train

__all__ = ["CapacityResult", "DoesNotFit", "InferenceResult", "MemoryUse", "PlanGrid", "PlanResult", "ServeResult",
           "TrainMemory", "TrainResult", "capacity", "infer", "max_batch", "plan", "serve", "serve_grid", "train",
           "train_grid"]
