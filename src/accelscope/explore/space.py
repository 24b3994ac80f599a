"""Sweep specs: a base chip, axes over dotted spec paths, one LLM scenario, objectives and constraints (YAML).

    name: hbm-sram-matrix-70b-decode
    base: h100-sxm
    axes:
      memory.hbm.bandwidth: {values: [3.35e12, 4.8e12, 8e12]}        # explicit values (SI or unit strings)
      memory.smem.capacity: {range: [114 KiB, 456 KiB], steps: 3}     # linear range
      matrix.peak.bf16: {range: [0.5 PFLOP/s, 2 PFLOP/s], steps: 4, log: true}
    workload: {kind: infer, model: llama-3.1-70b, tp: 8, batch: 64, input_len: 2048, output_len: 256}
    level: roofline
    objectives: [max tokens_per_s, min tpot_s]
    constraints: [memory_fits]
    sample: grid            # grid | random (points:, seed:) | optuna (points: trials, algorithm: nsga2|tpe)
"""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..hardware.units import DIMENSIONS, parse_quantity

ModelT = TypeVar("ModelT", bound=BaseModel)
METRICS = ("tokens_per_s", "tokens_per_s_per_device", "tpot_s", "ttft_s", "memory_headroom_bytes")


class Axis(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: list[Any] | None = None
    range: tuple[Any, Any] | None = None
    steps: int = Field(default=5, ge=2)
    log: bool = False

    def points(self) -> list[float | Any]:
        if self.values is not None:
            return list(self.values)
        if self.range is None:
            raise ValueError("axis: give values: [...] or range: [low, high]")
        low, high = (_number(v) for v in self.range)
        if self.log:
            return [math.exp(math.log(low) + i * (math.log(high) - math.log(low)) / (self.steps - 1))
                    for i in range(self.steps)]
        return [low + i * (high - low) / (self.steps - 1) for i in range(self.steps)]


def _number(value: Any) -> float:
    """A bare number or a unit string of any dimension (the spec validates the dimension later)."""
    if isinstance(value, int | float):
        return float(value)
    for dimension in DIMENSIONS:
        try:
            return parse_quantity(value, dimension)
        except ValueError:
            continue
    raise ValueError(f"not a number or a quantity with a unit: {value!r}")


class InferArgs(BaseModel):
    """An `llm.infer` serving scenario without its dtypes (shared by sweep specs and report scenarios)."""

    model_config = ConfigDict(extra="forbid")
    model: str
    tp: int = Field(default=1, ge=1)
    pp: int = Field(default=1, ge=1)
    batch: int = Field(default=1, ge=1)
    input_len: int = Field(default=2048, ge=1)
    output_len: int = Field(default=256, ge=1)


class InferWorkload(InferArgs):
    kind: Literal["infer"] = "infer"
    dtype: str = "bf16"
    kv_dtype: str = "bf16"


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "sweep"
    base: str
    axes: dict[str, Axis] = Field(min_length=1)
    workload: InferWorkload
    level: Literal["roofline", "analytical"] = "roofline"
    objectives: list[str] = Field(default_factory=lambda: ["max tokens_per_s"], min_length=1)
    constraints: list[Literal["memory_fits"]] = Field(default_factory=list)
    sample: Literal["grid", "random", "optuna"] = "grid"
    points: int = Field(default=100, ge=1)  # random: points drawn; optuna: trials to complete
    seed: int = 0
    algorithm: Literal["nsga2", "tpe"] = "nsga2"  # optuna sampler
    storage: str | None = None  # optuna: a database URL (default: sqlite in the output folder)

    @field_validator("objectives")
    @classmethod
    def _known_objectives(cls, objectives: list[str]) -> list[str]:
        for objective in objectives:
            sense, _, metric = objective.partition(" ")
            if sense not in ("max", "min") or metric not in METRICS:
                raise ValueError(f"objective {objective!r}: expected 'max METRIC' or 'min METRIC' with METRIC one "
                                 f"of {', '.join(METRICS)}")
        return objectives

    def design_points(self) -> list[dict[str, Any]]:
        """Every point of the space, in a deterministic order (each gets a stable id)."""
        names = list(self.axes)
        grids = [self.axes[name].points() for name in names]
        if self.sample == "grid":
            combos = list(itertools.product(*grids))
        else:
            rng = random.Random(self.seed)
            combos = [tuple(rng.choice(grid) for grid in grids) for _ in range(self.points)]
        return [dict(zip(names, combo, strict=True)) for combo in combos]


def load_validated_yaml(path: str | Path, model: type[ModelT], what: str) -> ModelT:
    """Read a YAML file into a pydantic model; every failure names the file, the field and the expected form."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of {what} keys at the top")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{path}: {where}: {first['msg'].removeprefix('Value error, ')}") from None


def load_sweep(path: str | Path) -> SweepSpec:
    spec = load_validated_yaml(path, SweepSpec, "sweep spec")
    for name, axis in spec.axes.items():
        try:
            axis.points()
        except ValueError as exc:
            raise ValueError(f"{path}: axes.{name}: {exc}") from None
    return spec
