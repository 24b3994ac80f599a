"""Design-space exploration: sensitivity today; sweeps, search and Pareto fronts arrive with the DSE issue."""

from .sensitivity import DEFAULT_PARAMETERS, elasticities

__all__ = ["DEFAULT_PARAMETERS", "elasticities"]
