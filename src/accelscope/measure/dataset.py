"""Measured data: one row schema for published figures and for our own benchmark runs.

Columns are those of `shared/data/public_measured_dev.csv` (id, hardware, category, op, dtype, shape_json,
metric, value, unit, source, notes), plus provenance columns our own runs fill in (device, driver, cuda, torch,
clock_mhz, date, command). Named datasets ship inside the package.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
# Named datasets: a file, or a folder whose *.csv files are read in name order (see each one's README).
DATASETS: dict[str, Path | tuple[str, ...]] = {
    "dev": DATA_DIR / "public_measured_dev.csv",  # 259 rows (public_measured_dev.README.md)
    "more": DATA_DIR / "more",  # 7,602 rows, Hopper/Blackwell kernels and training (more/README.md)
    "all": ("dev", "more"),
    # published rows outside the issues' data, a further held-out check (external/README.md); not in "all"
    "external": DATA_DIR / "external",
}
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


# the measured value in its row's unit (ms, us, TFLOP/s, GB/s, bytes, ...): the shipped rows span 1e-3 to 1.2e11
MIN_VALUE, MAX_VALUE = 1e-12, 1e18
REQUIRED = ("id", "hardware", "category", "shape_json", "metric", "value", "unit")
COLUMNS = ["id", "hardware", "category", "op", "dtype", "shape_json", "metric", "value", "unit", "source", "notes",
           "device", "driver", "cuda", "torch", "clock_mhz", "date", "command"]


def load_rows(path_or_name: str | Path | list[str | Path] | tuple[str | Path, ...]) -> list[MeasuredRow]:
    """Rows from named datasets ("dev", "more", "all", "external"), CSV/Parquet files in the schema above, or folders of them
    (their *.csv and *.parquet files in name order); a list reads each in turn. Ids must be unique across all."""
    rows: list[MeasuredRow] = []
    seen: dict[str, Path | str] = {}
    for path in _paths(path_or_name):
        try:
            records = _read_parquet(path) if path.suffix == ".parquet" else _read_csv(path)
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not a text file (not UTF-8); pass a CSV with the columns "
                             f"{', '.join(REQUIRED)} (or a .parquet file)") from None
        if not records:
            raise ValueError(f"{path}: no rows, only a header; add measured rows or leave the file out")
        for number, record in enumerate(records, start=2):
            row = _row(record, path, number)
            if row.id in seen:
                raise ValueError(f"{path}: line {number}: field 'id': {row.id!r} is already a row of {seen[row.id]}; "
                                 "ids must be unique across the files validated together")
            seen[row.id] = path
            rows.append(row)
    return rows


def _paths(source: str | Path | list[str | Path] | tuple[str | Path, ...]) -> list[Path]:
    if isinstance(source, (list, tuple)):
        return [p for item in source for p in _paths(item)]
    named = DATASETS.get(str(source))
    if isinstance(named, tuple):
        return _paths(list(named))
    path = named if named is not None else Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".csv", ".parquet"))
        if not files:
            raise ValueError(f"{source}: folder has no .csv or .parquet files")
        return files
    if not path.exists():
        raise ValueError(f"{source}: no such file, folder or dataset; datasets: {', '.join(DATASETS)}")
    return [path]


def source_of(row: MeasuredRow) -> str:
    """The row's source: its id prefix (VP-0001 -> VP; the dev set's AZ, FA, GF, ...)."""
    return row.id.split("-", 1)[0] if "-" in row.id else row.id


# The harnesses whose conventions a mapper reads (measure/training_rows.py, rows_gemm.py, rows_elementwise.py,
# predict.py), each recognised by the repository its rows cite and, where one repository publishes several
# benchmarks, the field that benchmark's shape carries: (name = the prefix of the shipped rows read that way, test).
# A row from one of them is read in that harness's conventions whatever its id prefix (another copy of the same
# benchmark, a later commit, a file a user assembled); any other row by its prefix, as before.
HARNESSES: tuple[tuple[str, Callable[[MeasuredRow], bool]], ...] = (
    # vidur's profiling CSVs as the VP rows carry them (the model's dims per op, or the collective's name); the
    # dev set's VD rows cite the same repository with a shorter shape and are read by the generic mappers
    ("VP", lambda r: "microsoft/vidur" in r.source and ("num_layers" in r.shape or "collective" in r.shape)),
    ("CU", lambda r: "NVIDIA/cudnn-frontend" in r.source),
    ("TA", lambda r: "pytorch/ao" in r.source),
    ("TT", lambda r: "pytorch/torchtitan docs/performance.md" in r.source),
    ("TK", lambda r: "HazyResearch/ThunderKittens" in r.source),
    ("LF", lambda r: "mosaicml/llm-foundry" in r.source),
    # Megatron-LM: the functional tests' golden values (the run's arguments) and the MoE-layer baseline
    ("MT", lambda r: "NVIDIA/Megatron-LM" in r.source and "model_args" in r.shape),
    ("MM", lambda r: "NVIDIA/Megatron-LM" in r.source and "token_dispatcher" in r.shape),
    ("MB", lambda r: "Megatron-Bridge" in r.source and "table_model" in r.shape),
    # Megatron-LM's README tables (SC21 weak scaling, the GPT-3 175B example): read by predict._llm_training
    ("MG", lambda r: "NVIDIA/Megatron-LM README.md" in r.source),
    ("T6", lambda r: "NVIDIA/TensorRT-LLM" in r.source),
)


def harness_of(row: MeasuredRow) -> str:
    """The conventions a row is read in: the harness its source names (HARNESSES), else its id prefix. Leave-one-
    source-out still groups rows by `source_of`."""
    return next((name for name, test in HARNESSES if test(row)), source_of(row))


_EXTERNAL_SOURCES: frozenset[str] | None = None


def external_sources() -> frozenset[str]:
    """Sources (id prefixes) of the shipped "external" dataset: published checks that nothing may be fitted on
    (external/README.md), so a leave-one-source-out run over that folder scores each file with the shipped
    constants, not with constants fitted on the other external file."""
    global _EXTERNAL_SOURCES
    if _EXTERNAL_SOURCES is None:
        _EXTERNAL_SOURCES = frozenset(source_of(row) for row in load_rows("external"))
    return _EXTERNAL_SOURCES


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        _check_columns(path, reader.fieldnames or [])
        return list(reader)


def _check_columns(path: Path, names: list[str]) -> None:
    missing = set(REQUIRED) - set(names)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}; expected {', '.join(COLUMNS)}")


def _read_parquet(path: Path) -> list[dict[str, str]]:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable Parquet file ({str(exc)[:200]}); write it with "
                         "accelscope bench or pandas.DataFrame.to_parquet") from None
    _check_columns(path, [str(name) for name in frame.columns])
    return frame.astype(str).to_dict("records")


def _row(record: dict[str, str], path: Path, line: int) -> MeasuredRow:
    known = {f.name for f in fields(MeasuredRow)} - {"shape", "extra", "value"}
    rid = record.get("id") or "?"
    try:
        shape = json.loads(record.get("shape_json") or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {line}: row {rid}: field 'shape_json': not JSON ({exc})") from None
    if not isinstance(shape, dict):
        raise ValueError(f"{path}: line {line}: row {rid}: field 'shape_json': expected a JSON object")
    try:
        value = float(record["value"])
    except (TypeError, ValueError):
        raise ValueError(f"{path}: line {line}: row {rid}: field 'value': {record.get('value')!r} is not a number"
                         ) from None
    # a time, a rate or a size: a 0 or -5 would score as a 100 % error, 1e-320 as an infinite one
    if not (math.isfinite(value) and MIN_VALUE <= value <= MAX_VALUE):
        raise ValueError(f"{path}: line {line}: row {rid}: field 'value': {record.get('value')!r} is not a "
                         f"measurement; expected a number from {MIN_VALUE:g} to {MAX_VALUE:g} (a time, rate or size "
                         "in the row's unit)")
    values = {k: (record.get(k) or "") for k in known}
    if values["category"] not in CATEGORIES:
        raise ValueError(f"{path}: line {line}: row {values['id'] or '?'}: field 'category': "
                         f"{values['category']!r} is not one of {', '.join(CATEGORIES)}")
    if not values["id"]:
        raise ValueError(f"{path}: line {line}: field 'id' is empty")
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
