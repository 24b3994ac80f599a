"""A sweep's result folder: DIR/spec.json (the validated spec; a re-run with a different spec is refused) and
DIR/results/part-*.parquet, one file per finished chunk of points, written atomically (temporary name, then
rename), so a killed run leaves whole parts only. Shared by the grid sweep (sweep.py) and the search (search.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .space import SweepSpec


@dataclass(frozen=True, slots=True)
class SweepSummary:
    points: int
    evaluated: int
    resumed: int
    failed: int
    seconds: float
    out: str

    def to_dict(self) -> dict[str, Any]:
        return {"points": self.points, "evaluated": self.evaluated, "resumed": self.resumed, "failed": self.failed,
                "seconds": self.seconds, "out": self.out}


def done_points(results_dir: Path) -> set[int]:
    import pandas as pd

    done: set[int] = set()
    for part in sorted(results_dir.glob("part-*.parquet")):
        done |= set(pd.read_parquet(part, columns=["point"])["point"].tolist())
    return done


def write_part(results_dir: Path, records: list[dict[str, Any]]) -> None:
    import pandas as pd

    write_table(results_dir, pd.DataFrame(records))  # atomic: a killed run leaves whole parts only


def check_spec(out: Path, spec: SweepSpec) -> None:
    saved = out / "spec.json"
    current = spec.model_dump(mode="json")
    if saved.exists():
        if json.loads(saved.read_text()) != current:
            raise ValueError(f"{out}: holds results of a different sweep spec; use another --out folder")
    else:
        saved.write_text(json.dumps(current, indent=2))


def write_table(results_dir: Path, table: Any) -> None:
    number = len(list(results_dir.glob("part-*.parquet")))
    final = results_dir / f"part-{number:05d}.parquet"
    temporary = final.with_suffix(".tmp")
    table.to_parquet(temporary, index=False)
    os.replace(temporary, final)


def load_results(out_dir: str | Path) -> Any:
    """All finished points as one DataFrame, ordered by point id."""
    import pandas as pd

    parts = sorted((Path(out_dir) / "results").glob("part-*.parquet"))
    if not parts:
        raise ValueError(f"{out_dir}: no sweep results (run accelscope sweep SPEC --out {out_dir} first)")
    table = pd.concat([pd.read_parquet(p) for p in parts]).sort_values("point").reset_index(drop=True)
    return table[_column_order(list(table.columns))]


def _column_order(columns: list[str]) -> list[str]:
    """point, the axes, physical metrics, then per workload its metrics, bound and limits, feasible, error: the
    same order whatever wrote the parts."""
    from .space import METRICS, PHYSICAL_METRICS

    rank = {m: i for i, m in enumerate((*METRICS, "bound"))}

    def key(column: str) -> tuple[str, int, str]:
        prefix, _, metric = column.rpartition(".") if not column.startswith("limit.") else ("", "", column)
        if ".limit." in column:
            prefix, metric = column.split(".limit.", 1)[0], "limit." + column.split(".limit.", 1)[1]
        return prefix, rank.get(metric, len(rank)), metric

    axes = sorted(c for c in columns if c.startswith("axis:"))
    physical = [m for m in PHYSICAL_METRICS if m in columns]
    special = {"point", "error", "feasible", *axes, *physical}
    metrics = sorted((c for c in columns if c not in special), key=key)
    tail = [c for c in ("feasible", "error") if c in columns]
    return ["point", *axes, *physical, *metrics, *tail]
