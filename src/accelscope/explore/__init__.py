"""Design-space exploration: sweep specs, sweeps (vectorized, local processes, Ray), Optuna search, Pareto fronts,
elasticities, and the area/power/cost model."""

from .physical import PhysicalEstimate, energy_joules, estimate_physical
from .sensitivity import DEFAULT_PARAMETERS, elasticities, sweep_elasticities
from .space import SweepSpec, load_sweep
from .sweep import evaluate_workload, load_results, pareto_front, run_sweep

__all__ = ["DEFAULT_PARAMETERS", "PhysicalEstimate", "SweepSpec", "elasticities", "energy_joules",
           "estimate_physical", "evaluate_workload", "load_results", "load_sweep", "pareto_front", "run_sweep",
           "sweep_elasticities"]
