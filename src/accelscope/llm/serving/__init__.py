"""Request-level serving simulation: arrivals, a scheduler, and iteration times from a perf level."""

from .capacity import CapacityResult, capacity
from .costs import Features
from .moe import WideEP
from .requests import Requests, generate, load_trace
from .serve import SCHEDULERS, ServeResult, iteration_costs, serve

__all__ = ["SCHEDULERS", "CapacityResult", "Features", "Requests", "ServeResult", "WideEP", "capacity", "generate",
           "iteration_costs", "load_trace", "serve"]
