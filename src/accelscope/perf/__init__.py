"""Performance models behind one interface: `estimate(op_or_graph, hw, level)`."""

from . import analytical as _analytical  # noqa: F401  (registers the level)
from . import roofline as _roofline  # noqa: F401  (registers the level)
from . import sim as _sim  # noqa: F401  (registers the level)
from .collectives import collective_floor, wire_factor
from .estimate import LEVELS, RESOURCES, Estimate, LevelNotAvailable, available_levels, estimate

__all__ = [
    "LEVELS",
    "RESOURCES",
    "Estimate",
    "LevelNotAvailable",
    "available_levels",
    "collective_floor",
    "estimate",
    "wire_factor",
]
