"""Multi-objective search with Optuna (NSGA-II or TPE) for spaces too large to grid.

Each trial picks one value per axis (categorical over the axis's points) and is evaluated like a sweep point. The
study is stored in SQLite in the output folder (or at `storage:`, e.g. a PostgreSQL URL shared by a cluster), so a
re-run after a crash continues until `points` trials have completed; failed points are kept with their error. The
finished trials are also written as DIR/results/part-00000.parquet, so `accelscope sweep pareto DIR` works the same.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..hardware import load_hardware
from .point import evaluate_point
from .space import SweepSpec
from .store import SweepSummary, check_spec, write_table


def run_search(spec: SweepSpec, out_dir: str | Path) -> SweepSummary:
    import optuna
    import pandas as pd

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.perf_counter()
    out = Path(out_dir)
    (out / "results").mkdir(parents=True, exist_ok=True)
    check_spec(out, spec)
    storage = spec.storage or f"sqlite:///{(out / 'optuna.db').resolve()}"
    sampler = (optuna.samplers.NSGAIISampler(seed=spec.seed) if spec.algorithm == "nsga2"
               else optuna.samplers.TPESampler(seed=spec.seed, multivariate=True))
    directions = ["maximize" if o.startswith("max") else "minimize" for o in spec.objectives]
    study = optuna.create_study(study_name=spec.name, storage=storage, directions=directions, sampler=sampler,
                                load_if_exists=True)
    finished = [t for t in study.trials if t.state.is_finished()]
    resumed = len(finished)
    dimensions = spec.dimensions()
    base = load_hardware(spec.base)

    def objective(trial: Any) -> list[float]:
        point: dict[str, Any] = {}
        for name, options in dimensions:  # an axis's values, or a coupled group's rows, by index
            point.update(options[trial.suggest_categorical(name, list(range(len(options))))])
        record = evaluate_point(spec, trial.number, point, base)
        for key, value in record.items():
            trial.set_user_attr(key, value if not isinstance(value, float) or value == value else None)
        if record["error"] is not None:
            raise ValueError(record["error"])  # recorded as a failed trial; the search goes on
        if not record["feasible"]:
            raise ValueError("violates a constraint")  # pruned from the front; kept in the table
        return [record[o.split(" ", 1)[1]] for o in spec.objectives]

    remaining = max(spec.points - resumed, 0)
    if remaining:
        study.optimize(objective, n_trials=remaining, catch=(ValueError,))
    trials = [t for t in study.trials if t.state.is_finished() and t.user_attrs]
    table = pd.DataFrame([t.user_attrs for t in trials]).sort_values("point")
    for old in (out / "results").glob("part-*.parquet"):
        old.unlink()
    write_table(out / "results", table)
    failed = int(table["error"].notna().sum()) if "error" in table else 0
    return SweepSummary(points=spec.points, evaluated=len(trials) - resumed, resumed=resumed, failed=failed,
                        seconds=time.perf_counter() - start, out=str(out))
