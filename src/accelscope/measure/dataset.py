"""Measured data: one row schema for published figures and for our own benchmark runs.

Columns are those of `shared/data/public_measured_dev.csv` (id, hardware, category, op, dtype, shape_json,
metric, value, unit, source, notes), plus provenance columns our own runs fill in (device, driver, cuda, torch,
clock_mhz, date, command). Named datasets ship inside the package.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DATASETS = {"dev": DATA_DIR / "public_measured_dev.csv"}
CATEGORIES = ("gemm", "attention", "memory", "elementwise", "collective", "llm_inference", "llm_training",
              "memory_footprint")


@dataclass(frozen=True, slots=True)
class MeasuredRow:
    id: str
    hardware: str
    category: str
    op: str
    dtype: str
    shape: dict[str, Any]
    metric: str
    value: float
    unit: str
    source: str = ""
    notes: str = ""
    device: str = ""
    driver: str = ""
    cuda: str = ""
    torch: str = ""
    clock_mhz: str = ""
    date: str = ""
    command: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["shape_json"] = json.dumps(record.pop("shape"), sort_keys=True)
        record.pop("extra")
        return record


COLUMNS = ["id", "hardware", "category", "op", "dtype", "shape_json", "metric", "value", "unit", "source", "notes",
           "device", "driver", "cuda", "torch", "clock_mhz", "date", "command"]


def load_rows(path_or_name: str | Path) -> list[MeasuredRow]:
    """Rows from a named dataset ("dev") or a CSV/Parquet file in the schema above."""
    path = DATASETS.get(str(path_or_name), Path(path_or_name))
    if not path.exists():
        raise ValueError(f"{path_or_name}: no such file or dataset; datasets: {', '.join(DATASETS)}")
    records = _read_parquet(path) if path.suffix == ".parquet" else _read_csv(path)
    return [_row(record, path, number) for number, record in enumerate(records, start=2)]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"id", "hardware", "category", "shape_json", "metric", "value", "unit"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}; expected {', '.join(COLUMNS)}")
        return list(reader)


def _read_parquet(path: Path) -> list[dict[str, str]]:
    import pandas as pd

    return pd.read_parquet(path).astype(str).to_dict("records")


def _row(record: dict[str, str], path: Path, line: int) -> MeasuredRow:
    known = {f.name for f in fields(MeasuredRow)} - {"shape", "extra", "value"}
    try:
        shape = json.loads(record.get("shape_json") or "{}")
        value = float(record["value"])
    except (json.JSONDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: line {line}: bad shape_json or value ({exc})") from None
    values = {k: (record.get(k) or "") for k in known}
    extra = {k: v for k, v in record.items() if k not in known and k not in ("shape_json", "value")}
    return MeasuredRow(shape=shape, value=value, extra=extra, **values)


def write_rows(rows: list[MeasuredRow], path: str | Path) -> Path:
    """Write rows as CSV (or Parquet when the name ends in .parquet)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [row.to_record() for row in rows]
    if path.suffix == ".parquet":
        import pandas as pd

        pd.DataFrame(records, columns=COLUMNS).to_parquet(path, index=False)
        return path
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(records)
    return path
