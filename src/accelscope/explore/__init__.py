"""Design-space exploration: sensitivity today; sweeps, search and Pareto fronts arrive with the DSE issue."""

from .physical import PhysicalEstimate, energy_joules, estimate_physical
from .sensitivity import DEFAULT_PARAMETERS, elasticities

__all__ = ["DEFAULT_PARAMETERS", "PhysicalEstimate", "elasticities", "energy_joules", "estimate_physical"]
