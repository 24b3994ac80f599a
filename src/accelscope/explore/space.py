"""Sweep specs: a base chip, axes over dotted spec paths, workloads, objectives and constraints (YAML).

    name: hbm-sram-matrix-70b-decode
    base: h100-sxm
    axes:
      memory.hbm.bandwidth: {values: [3.35e12, 4.8e12, 8e12]}        # explicit values (SI or unit strings)
      memory.smem.capacity: {range: [114 KiB, 456 KiB], steps: 3}     # linear range
      matrix.peak.bf16: {range: [0.5 PFLOP/s, 2 PFLOP/s], steps: 4, log: true}
      compute.cores: {range: [100, 200], steps: 3}                    # integer ends: whole values (100, 150, 200)
    coupled:                # groups of paths that move together (one axis of the grid; lists zipped)
      hbm-generation: {memory.hbm.bandwidth: [3.35 TB/s, 8 TB/s], memory.hbm.capacity: [80 GB, 192 GB]}
    workload: {kind: infer, model: llama-3.1-70b, tp: 8, batch: 64, input_len: 2048, output_len: 256}
    # or several, each metric then prefixed with the workload's name ("decode.tokens_per_s"):
    # workloads: {decode: {kind: infer, ...}, step: {kind: train, ...}, fa: {kind: op, op: attention, args: {...}}}
    level: roofline         # roofline | analytical | sim
    objectives: [max tokens_per_s, min tpot_s, max tokens_per_s_per_w]
    constraints: [memory_fits, area_mm2 <= 900, tdp_w <= 1000]
    sample: grid            # grid | random (points:, seed:) | optuna (points: trials, algorithm: nsga2|tpe)

Metrics per workload kind (`metrics_of`): infer and train give tokens/s (whole replica or job), tokens/s per device,
latencies, memory headroom; op gives seconds and FLOP/s. With a physical model in play (any objective or constraint
on area, power or cost, or `physical: true`) every point also gets area_mm2, tdp_w, cost_usd per device (from
explore/physical.py) and each workload gets its throughput per W, per USD and per mm² of one device.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin, overload

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from ..hardware.units import DIMENSIONS, parse_quantity

ModelT = TypeVar("ModelT", bound=BaseModel)


# A grid sweep is enumerated point by point (each a spec validation and an estimate: milliseconds on the per-point
# path), so ten million points is already days of work; a bigger grid is refused at load with the ways to shrink it.
MAX_SWEEP_POINTS = 10_000_000
MAX_AXIS_STEPS = 100_000  # values one range: axis expands to


class Axis(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: list[Any] | None = None
    range: tuple[Any, Any] | None = None
    steps: int = Field(default=5, ge=2, le=MAX_AXIS_STEPS)
    log: bool = False

    @field_validator("values")
    @classmethod
    def _scalar_values(cls, values: list[Any] | None) -> list[Any] | None:
        """Each value one number, unit string or flag: a list or mapping in a column cannot be stored."""
        if values is None:
            return None
        if not values:
            raise ValueError("empty; give at least one value, e.g. values: [3.35 TB/s, 4.8 TB/s]")
        _check_scalars(values)
        seen: list[tuple[bool, Any]] = []
        for value in values:  # [132, 132] evaluated and stored the same design point twice
            key = (isinstance(value, bool), value.strip() if isinstance(value, str) else value)
            if key in seen:
                raise ValueError(f"{str(value)[:40]!r} is listed twice; each value is one point, list it once")
            seen.append(key)
        return values

    @model_validator(mode="after")
    def _one_form(self) -> Axis:
        """values and range both given: values won and range was ignored without a word (steps and log too)."""
        if self.values is not None and self.range is not None:
            raise ValueError("give values: [...] or range: [low, high], not both")
        # (against the defaults, not the keys given: a stored spec is dumped with every key and validated again)
        if self.values is not None and (self.steps != Axis.model_fields["steps"].default or self.log):
            raise ValueError("steps and log apply to a range: [low, high]; values: [...] lists every point")
        return self

    def points(self) -> list[float | Any]:
        if self.values is not None:
            return list(self.values)
        if self.range is None:
            raise ValueError("axis: give values: [...] or range: [low, high]")
        low, high = (_number(v) for v in self.range)
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"range: [{low}, {high}]: both ends must be finite numbers")
        if self.log and not (low > 0 and high > 0):
            raise ValueError(f"range: [{low}, {high}] with log: true: both ends must be > 0 (or drop log)")
        if self.log:
            inner = [math.exp(math.log(low) + i * (math.log(high) - math.log(low)) / (self.steps - 1))
                     for i in range(1, self.steps - 1)]
        else:
            inner = [low + i * (high - low) / (self.steps - 1) for i in range(1, self.steps - 1)]
        if _whole(self.range[0]) and _whole(self.range[1]):
            return self._whole_points(int(self.range[0]), inner, int(self.range[1]))
        return [low, *inner, high]  # the ends exactly as written (exp(log(x)) is not always x)

    def _whole_points(self, low: int, inner: list[float], high: int) -> list[int]:
        """A range with integer ends (`compute.cores: {range: [100, 200]}`) is a count axis: its inner values are
        rounded, since an integer spec field refused every 133.33 and 150.0 (the axis was refused as "no value
        applies"). Too few whole values for `steps` is an error, not fewer points: [0, 1] meant as a fraction is
        written [0.0, 1.0]."""
        values = list(dict.fromkeys([low, *(round(v) for v in inner), high]))
        if len(values) < self.steps:
            raise ValueError(f"range: [{low}, {high}]: integer ends make a whole-number axis, which has "
                             f"{len(values)} distinct values for steps: {self.steps}; use fewer steps, or write "
                             f"[{float(low)}, {float(high)}] for a fractional axis")
        return values


def _whole(value: Any) -> bool:
    """An integer written as such in the YAML (not a bool, not 2.0, not a unit string)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_scalars(values: list[Any], where: str = "") -> None:
    """Each value of an axis one number, unit string or flag: a list or mapping in a column cannot be stored."""
    for value in values:
        if value is None or not isinstance(value, str | int | float | bool):
            raise ValueError(f"{where}{str(value)[:40]!r} is not a number, unit string or true/false; "
                             "give one value per point, e.g. [3.35 TB/s, 4.8 TB/s]")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where}{value} is not a finite number")
        if isinstance(value, int) and abs(value) >= 2**63:  # beyond a stored integer (an OverflowError before)
            raise ValueError(f"{where}a {len(str(abs(value)))}-digit number is too large; no spec field takes it")
    kinds = {_kind(value) for value in values}
    if len(kinds) > 1:  # a column of one type is what the results store holds (a mix was a pyarrow traceback)
        raise ValueError(f"{where}values mix {' and '.join(sorted(kinds))} ({', '.join(repr(v) for v in values)[:120]});"
                         " give every value in one form, e.g. all with units ([3.35 TB/s, 4.8 TB/s])")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "numbers"
    try:
        _number(value)
    except ValueError:
        return "text"
    return "numbers"


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

    model_config = ConfigDict(extra="forbid", strict=True)  # YAML tp: "8" or true is not a number
    model: str
    tp: int = Field(default=1, ge=1)
    pp: int = Field(default=1, ge=1)
    batch: int = Field(default=1, ge=1)
    input_len: int = Field(default=2048, ge=1)
    output_len: int = Field(default=256, ge=1)


class InferWorkload(InferArgs):
    kind: Literal["infer"] = "infer"
    ep: int = Field(default=1, ge=1)
    dtype: str = "bf16"
    kv_dtype: str = "bf16"
    # serving-engine kernels (llm.infer): TP all-reduce implementation, decode attention kernel
    allreduce: Literal["custom", "library"] = "custom"
    decode_attention: Literal["fa2", "fa3", "mmha"] | None = None
    # plan: auto evaluates each hardware point at its own best serving layout on tp x pp devices (llm.plan:
    # TP x PP x replicas, the largest batch within the SLOs), recording the layout beside the metrics
    plan: Literal["auto"] | None = None
    slo_tpot_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    slo_ttft_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)


class TrainArgs(BaseModel):
    """An `llm.train` scenario (shared by sweep specs and report scenarios)."""

    model_config = ConfigDict(extra="forbid", strict=True)  # YAML tp: "8" or true is not a number
    model: str
    tp: int = Field(default=1, ge=1)
    pp: int = Field(default=1, ge=1)
    dp: int = Field(default=1, ge=1)
    cp: int = Field(default=1, ge=1)
    ep: int = Field(default=1, ge=1)
    vpp: int = Field(default=1, ge=1)
    zero: int = Field(default=1, ge=0, le=3)
    seq_len: int = Field(default=4096, ge=1)
    global_batch: int = Field(default=1024, ge=1)
    micro_batch: int = Field(default=1, ge=1)
    dtype: str = "bf16"
    recompute: Literal["none", "selective", "full"] = "selective"


class TrainWorkload(TrainArgs):
    kind: Literal["train"] = "train"
    attention: Literal["fa2", "fa3", "math", "triton", "aotriton"] | None = None  # the framework's attention kernel (llm.train)
    # plan: auto evaluates each hardware point at its own best layout on tp x pp x dp x cp devices (llm.plan),
    # recording it beside the metrics; `search` narrows llm.plan's space, e.g. {tp: [4, 8], recompute: [full]}
    plan: Literal["auto"] | None = None
    search: dict[Literal["tp", "pp", "cp", "ep", "vpp", "zero", "micro_batch", "recompute", "dtype"],
                 list[int | str]] | None = None
    # the decoder layers of each pipeline stage where not even (llm.train `pipeline_split`): counts per stage or per
    # virtual stage, a Megatron Core layout string, or "balanced"; and multi-token-prediction layers on the last
    # stage (`mtp_layers`). For a fixed layout: plan: auto splits evenly
    pipeline_split: list[int] | str | None = None
    mtp_layers: int = Field(default=0, ge=0)
    # the framework's options, the same at every point and under plan: auto (llm.train FIXED_OPTIONS), e.g.
    # {optimizer: muon, tp_overlap: true, fp8_recipe: rowwise}
    train_options: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _split_needs_a_fixed_layout(self) -> TrainWorkload:
        if self.plan == "auto" and (self.pipeline_split is not None or self.mtp_layers):
            raise ValueError("pipeline_split / mtp_layers apply to a fixed layout; drop them or plan: auto")
        if self.attention is not None and "attention" in (self.train_options or {}):
            raise ValueError("attention is given twice (workload and train_options); keep one")
        return self

    @field_validator("train_options")
    @classmethod
    def _known_options(cls, options: dict[str, Any] | None) -> dict[str, Any] | None:
        """Each option named and valued as train() takes it, refused here rather than on every point."""
        from ..llm.train import check_options

        if options:
            check_options({k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})
        return options

    @field_validator("search")
    @classmethod
    def _search_choices(cls, search: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
        """Each searched list non-empty and of its kind, refused here rather than on every point of the sweep."""
        for key, values in (search or {}).items():
            if not values:
                raise ValueError(f"{key}: empty; give at least one value or drop {key}")
            if key == "recompute":
                bad = [v for v in values if v not in ("none", "selective", "full")]
                if bad:
                    raise ValueError(f"recompute: {bad[0]!r} is not a policy; use none, selective or full")
            elif key == "dtype":  # the training dtypes plan: auto searches (llm.plan drops those a chip lacks)
                from ..llm.plan import checked_dtypes

                checked_dtypes(values)
            elif key == "zero":
                if any(isinstance(v, bool) or v not in (0, 1, 2, 3) for v in values):
                    raise ValueError(f"zero: expected ZeRO stages 0, 1, 2 or 3 (got {values!r:.60})")
            elif any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
                raise ValueError(f"{key}: expected whole numbers >= 1 (got {values!r:.60})")
        return search


class ServeWorkload(BaseModel):
    """Capacity at latency SLOs (llm.capacity): the highest request rate whose percentile TTFT / TPOT meet them,
    from a request-level simulation; a sweep can then optimize requests/s at the SLO per dollar."""

    model_config = ConfigDict(extra="forbid", strict=True)  # YAML tp: "8" or true is not a number
    kind: Literal["serve"] = "serve"
    model: str
    tp: int = Field(default=1, ge=1)
    pp: int = Field(default=1, ge=1)
    ep: int = Field(default=1, ge=1)
    dtype: str = "bf16"
    kv_dtype: str = "bf16"
    input_len: int | str = 2048
    output_len: int | str = 256
    requests: int = Field(default=300, ge=10, le=100_000)
    slo_ttft_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    slo_tpot_s: float | None = Field(default=0.05, gt=0, allow_inf_nan=False)
    percentile: Literal[50, 90, 99] = 99
    max_seqs: int = Field(default=256, ge=1)
    max_batched_tokens: int = Field(default=8192, ge=1)
    seed: int = Field(default=0, ge=0)
    # serving features (llm.serve): CUDA graphs or eager, async TP, wide expert parallelism (attention-DP ranks
    # of one device, DeepEP dispatch/combine) with two-batch overlap, load imbalance and a node limit per token
    cuda_graphs: bool = True
    tp_overlap: bool = False
    wide_ep: int | None = Field(default=None, ge=2)
    tbo: bool = False
    expert_imbalance: float = Field(default=1.0, ge=1, allow_inf_nan=False)
    max_nodes: int | None = Field(default=None, ge=1)
    # plan: auto rates each hardware point at its best serving layout on tp x pp devices (llm.plan with
    # simulate=True: TP x PP replicas dealt requests round robin, with `disaggregated` every prefill / decode pool
    # split, for MoE wide EP), recording it as plan.* columns; the engine options above pass to every simulation
    plan: Literal["auto"] | None = None
    disaggregated: bool = False

    @model_validator(mode="after")
    def _plan_takes_plain_layouts(self) -> ServeWorkload:
        if self.disaggregated and self.plan != "auto":
            raise ValueError("disaggregated: the plan's pool splits; add plan: auto")
        if self.plan == "auto" and (self.ep != 1 or self.wide_ep is not None or self.tbo or self.max_nodes is not None
                                    or self.expert_imbalance != 1.0):
            raise ValueError("ep / wide_ep / tbo / max_nodes / expert_imbalance apply to a fixed layout; drop them "
                             "or plan: auto")
        if self.plan == "auto" and self.slo_tpot_s is None and self.slo_ttft_s is None:
            raise ValueError("plan: auto rates layouts at the SLOs; give slo_tpot_s and/or slo_ttft_s")
        return self


OP_KINDS = ("gemm", "grouped_gemm", "attention", "softmax", "norm", "elementwise", "reduction", "collective",
            "quantize", "dequantize")


class OpWorkload(BaseModel):
    """One operator of the IR, e.g. {kind: op, op: attention, args: {batch: 8, heads: 64, ...}}."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["op"] = "op"
    op: Literal[OP_KINDS]  # type: ignore[valid-type]
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _builds(self) -> OpWorkload:
        self.build()  # bad arguments fail at validation time, with the op's own message
        return self

    def build(self) -> Any:
        from ..workload import ops

        cls = getattr(ops, "".join(part.capitalize() for part in self.op.split("_")))  # grouped_gemm -> GroupedGemm
        _check_op_args(self.op, cls, self.args)
        try:
            return cls(**self.args)
        except TypeError as exc:
            raise ValueError(f"args: {exc}") from None


def _check_op_args(op: str, cls: type, args: dict[str, Any]) -> None:
    """Argument names an op takes, and every required one given: Python's `Gemm.__init__() got an unexpected
    keyword argument 'mm'` named neither the spec's field nor the right spelling."""
    import dataclasses

    if not dataclasses.is_dataclass(cls):
        return
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = [f.name for f in fields]
    for key in args:
        if key not in names:
            hint = _did_you_mean(key, names)
            raise ValueError(f"args.{str(key)[:40]}: {op} has no such argument; {hint + ' ' if hint else ''}its arguments: "
                             f"{', '.join(names)}")
    missing = [f.name for f in fields if f.name not in args and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"args: {op} needs {', '.join(missing)} (missing)")
    for f in fields:  # `m: abc` failed inside the op as "'>' not supported between instances of 'str' and 'int'"
        value, kind = args.get(f.name), _ARG_KINDS.get(str(f.type))
        if f.name not in args or kind is None or (value is None and str(f.type).endswith("| None")):
            continue
        wanted, types = kind
        if isinstance(value, bool) != (types == (bool,)) or not isinstance(value, types):
            raise ValueError(f"args.{f.name}: expected {wanted} (got {str(value)[:40]!r})")


# an op argument's annotation -> (what a message calls it, the YAML types it takes)
_ARG_KINDS: dict[str, tuple[str, tuple[type, ...]]] = {
    "int": ("a whole number", (int,)), "int | None": ("a whole number", (int,)),
    "float": ("a number", (int, float)), "float | None": ("a number", (int, float)),
    "bool": ("true or false", (bool,)), "str": ("a name", (str,)), "str | None": ("a name", (str,)),
}


class GraphNodeSpec(OpWorkload):
    """One node of a user-defined graph: an op repeated `count` times (e.g. once per layer)."""

    kind: Literal["op"] = "op"
    count: float = Field(default=1, gt=0)
    label: str | None = None


class GraphWorkload(BaseModel):
    """A sequence of ops with multiplicities, e.g. one transformer block:
    {kind: graph, nodes: [{op: gemm, args: {...}, count: 4}, {op: attention, args: {...}}]}."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["graph"] = "graph"
    name: str = "graph"
    nodes: list[GraphNodeSpec] = Field(min_length=1)

    def build(self) -> Any:
        from ..workload.ops import Graph, Node

        return Graph(tuple(Node(n.build(), n.count, n.label) for n in self.nodes), name=self.name)


def _workload_kind(value: Any) -> str:
    return value.get("kind", "infer") if isinstance(value, dict) else getattr(value, "kind", "infer")


Workload = Annotated[Annotated[InferWorkload, Tag("infer")] | Annotated[TrainWorkload, Tag("train")]
                     | Annotated[ServeWorkload, Tag("serve")]
                     | Annotated[OpWorkload, Tag("op")] | Annotated[GraphWorkload, Tag("graph")],
                     Discriminator(_workload_kind)]

KIND_METRICS = {
    "infer": ("tokens_per_s", "tokens_per_s_per_device", "tpot_s", "ttft_s", "memory_headroom_bytes"),
    "train": ("tokens_per_s", "tokens_per_s_per_device", "step_s", "mfu", "memory_headroom_bytes"),
    "serve": ("requests_per_s", "requests_per_s_per_device", "tokens_per_s", "tokens_per_s_per_device", "ttft_s",
              "tpot_s"),
    "op": ("seconds", "flops_per_s"),
    "graph": ("seconds", "flops_per_s"),
}
# Throughput of one device divided by its modelled power, build cost and area (explore/physical.py).
KIND_EFFICIENCY = {
    "infer": ("tokens_per_s_per_w", "tokens_per_s_per_usd", "tokens_per_s_per_mm2"),
    "train": ("tokens_per_s_per_w", "tokens_per_s_per_usd", "tokens_per_s_per_mm2"),
    "serve": ("requests_per_s_per_w", "requests_per_s_per_usd", "requests_per_s_per_mm2"),
    "op": ("flops_per_s_per_w", "flops_per_s_per_usd", "flops_per_s_per_mm2"),
    "graph": ("flops_per_s_per_w", "flops_per_s_per_usd", "flops_per_s_per_mm2"),
}
PHYSICAL_METRICS = ("area_mm2", "tdp_w", "cost_usd")
METRICS = tuple(dict.fromkeys(m for group in (*KIND_METRICS.values(), *KIND_EFFICIENCY.values(), PHYSICAL_METRICS)
                              for m in group))
_CONSTRAINT = re.compile(r"^\s*([\w.]+)\s*(<=|>=)\s*(.+?)\s*$")


class Constraint(BaseModel):
    """`memory_fits`, or `METRIC <= VALUE` / `METRIC >= VALUE` (VALUE a number or a unit string)."""

    metric: str
    op: Literal["<=", ">=", "fits"]
    value: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Constraint:
        if text.strip() == "memory_fits":
            return cls(metric="memory", op="fits")
        match = _CONSTRAINT.match(text)
        if not match:
            raise ValueError(f"constraint {text!r}: expected memory_fits or 'METRIC <= VALUE' (e.g. area_mm2 <= 900)")
        metric, op, value = match.groups()
        try:
            number = _number(value)
        except ValueError:
            raise ValueError(f"constraint {text!r}: {value!r} is not a number or a quantity") from None
        return cls(metric=metric, op=op, value=number)

    def holds(self, record: dict[str, Any]) -> bool:
        value = record.get(self.metric)
        if value is None or value != value:  # a metric that failed to evaluate violates the constraint
            return False
        return value <= self.value if self.op == "<=" else value >= self.value


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # YAML tp: "8" or true is not a number
    name: str = "sweep"
    base: str
    axes: dict[str, Axis] = Field(default_factory=dict)
    coupled: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)
    workload: Workload | None = None
    workloads: dict[str, Workload] | None = None
    level: Literal["roofline", "analytical", "sim"] = "roofline"
    objectives: list[str] = Field(default_factory=lambda: ["max tokens_per_s"], min_length=1)
    constraints: list[str] = Field(default_factory=list)
    physical: bool | None = None  # add area/power/cost columns (default: when an objective or constraint needs them)
    sample: Literal["grid", "random", "optuna"] = "grid"
    points: int = Field(default=100, ge=1, le=MAX_SWEEP_POINTS)  # random: points drawn; optuna: trials to complete
    seed: int = 0
    algorithm: Literal["nsga2", "tpe"] = "nsga2"  # optuna sampler
    storage: str | None = None  # optuna: a database URL (default: sqlite in the output folder)
    _constraints: list[Constraint] = PrivateAttr(default_factory=list)  # parsed once, read for every point

    @field_validator("coupled")
    @classmethod
    def _equal_lengths(cls, groups: dict[str, dict[str, list[Any]]]) -> dict[str, dict[str, list[Any]]]:
        for name, group in groups.items():
            lengths = {len(values) for values in group.values()}
            if not group or len(lengths) != 1 or 0 in lengths:
                raise ValueError(f"coupled group {name!r}: give two or more paths with value lists of one length")
            for path, values in group.items():
                _check_scalars(values, f"coupled group {name!r}: {path}: ")
        return groups

    @field_validator("constraints")
    @classmethod
    def _parse_constraints(cls, constraints: list[str]) -> list[str]:
        for text in constraints:
            Constraint.parse(text)
        return constraints

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        if (self.workload is None) == (self.workloads is None):
            raise ValueError("workload: give one of workload: {...} or workloads: {name: {...}, ...}")
        overlap = set(self.axes) & {path for group in self.coupled.values() for path in group}
        if overlap:
            raise ValueError(f"coupled: {sorted(overlap)[0]} is both an axis and in a coupled group; keep one")
        self._constraints = [Constraint.parse(text) for text in self.constraints]
        known = self.metric_names()
        senses: dict[str, str] = {}
        for objective in self.objectives:
            sense, _, metric = objective.partition(" ")
            if sense not in ("max", "min") or metric not in known:
                raise ValueError(f"objectives: objective {objective!r}: expected 'max METRIC' or 'min METRIC' with METRIC one "
                                 f"of {', '.join(known)}")
            if metric in senses:  # twice: the same front with a repeated column; both ways: every point is optimal
                what = "is listed twice" if senses[metric] == sense else f"is both '{senses[metric]}' and '{sense}'"
                raise ValueError(f"objectives: {metric!r} {what}; name each metric in one objective")
            senses[metric] = sense
        for constraint in self.parsed_constraints():
            if constraint.op != "fits" and constraint.metric not in known:
                raise ValueError(f"constraints: {constraint.metric!r} is not a metric of this sweep; one of "
                                 f"{', '.join(known)}")
        return self

    # ----- derived ---------------------------------------------------------------------------------------
    def named_workloads(self) -> dict[str, Any]:
        """name -> workload; the single `workload:` has the empty name (its metrics are not prefixed)."""
        return {"": self.workload} if self.workload is not None else dict(self.workloads or {})

    def parsed_constraints(self) -> list[Constraint]:
        return self._constraints

    def needs_physical(self) -> bool:
        if self.physical is not None:
            return self.physical
        physical = {*PHYSICAL_METRICS, *(m for group in KIND_EFFICIENCY.values() for m in group)}
        used = [o.partition(" ")[2] for o in self.objectives] + [c.metric for c in self.parsed_constraints()]
        return any(name.rpartition(".")[2] in physical for name in used)

    def metric_names(self) -> list[str]:
        """Every metric column a point of this sweep can have (objectives and constraints pick from these)."""
        names: list[str] = []
        for name, workload in self.named_workloads().items():
            prefix = f"{name}." if name else ""
            names += [prefix + m for m in (*KIND_METRICS[workload.kind], *KIND_EFFICIENCY[workload.kind])]
        return names + list(PHYSICAL_METRICS)

    def dimensions(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """The grid's dimensions: (name, options), each option a {path: value} assignment."""
        dims = [(name, [{name: v} for v in axis.points()]) for name, axis in self.axes.items()]
        for name, group in self.coupled.items():
            length = len(next(iter(group.values())))
            dims.append((name, [{path: values[i] for path, values in group.items()} for i in range(length)]))
        return dims

    def axis_paths(self) -> list[str]:
        return [*self.axes, *(path for group in self.coupled.values() for path in group)]

    def grid_size(self) -> int:
        """Points of the full grid: the product of the dimensions' lengths (computed, never enumerated)."""
        return math.prod(len(opts) for _, opts in self.dimensions())

    def design_points(self) -> DesignPoints:
        """Every point of the space, in a deterministic order (each gets a stable id): a sequence that builds a
        grid point from its index on demand, so a million-point grid is never held in memory."""
        options = [opts for _, opts in self.dimensions()]
        if self.sample == "grid":
            return DesignPoints(options)
        rng = random.Random(self.seed)
        return DesignPoints(options, [tuple(rng.choice(range(len(opts))) for opts in options)
                                      for _ in range(self.points)])


class DesignPoints(Sequence[dict[str, Any]]):
    """The points of a sweep by index. A grid point is decoded from its index in mixed radix, the last dimension
    varying fastest (itertools.product's order, so ids match a full enumeration); a random sample keeps the option
    indices it drew."""

    def __init__(self, options: list[list[dict[str, Any]]], drawn: list[tuple[int, ...]] | None = None) -> None:
        self._options = options
        self._drawn = drawn
        self._size = len(drawn) if drawn is not None else math.prod(len(opts) for opts in options)

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._size))]
        if index < 0:
            index += self._size
        if not 0 <= index < self._size:
            raise IndexError(f"design point {index} out of range (the sweep has {self._size})")
        choice = self._drawn[index] if self._drawn is not None else self._grid_choice(index)
        return {path: value for opts, i in zip(self._options, choice, strict=True) for path, value in opts[i].items()}

    def _grid_choice(self, index: int) -> tuple[int, ...]:
        choice = []
        for opts in reversed(self._options):
            index, digit = divmod(index, len(opts))
            choice.append(digit)
        return tuple(reversed(choice))


def load_validated_yaml(path: str | Path, model: type[ModelT], what: str) -> ModelT:
    """Read a YAML file into a pydantic model; every failure names the file, the field and the expected form."""
    from ..hardware.yaml_text import UniqueKeySafeLoader

    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=UniqueKeySafeLoader)  # safe_load kept the last of two equal keys
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (not UTF-8); pass a YAML {what}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of {what} keys at the top")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # an unknown key first: `hardwares:` also made `hardware: Field required`, which hid the typo
        first = min(exc.errors(), key=lambda error: error["type"] != "extra_forbidden")
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = _unknown_key(model, first["loc"])
        elif first["type"] in ("int_type", "float_type", "bool_type", "string_type"):  # strict: say what was given
            given = first.get("input")
            hint = "; write it without quotes" if isinstance(given, str) and _is_number(given) else ""
            message = f"{message} (got {repr(given)[:40]}){hint}"
        raise ValueError(f"{path}: {where}: {message}" if where else f"{path}: {message}") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _unknown_key(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """`unknown key; did you mean 'axes'? keys here: ...` when the model at `loc` can be found (sections, optional
    ones and mappings of them); else `unknown key; remove it or fix its spelling`."""
    current: Any = model
    for part in loc[:-1]:
        if (member := _tagged_member(current, part)) is not None:  # `workload.train.tpp`: the train workload
            current = member
            continue
        current = _section(current)
        if current is None:
            break
        if get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            field = current.model_fields.get(part)
            current = field.annotation if field is not None else None
    current = _section(current)
    if current is None or get_origin(current) is dict:
        return "unknown key; remove it or fix its spelling"
    names = list(current.model_fields)
    hint = _did_you_mean(loc[-1], names) or "remove it or fix its spelling;"
    return f"unknown key; {hint} keys here: {', '.join(names)}"


def _did_you_mean(word: Any, names: list[str]) -> str:
    """`did you mean 'axes'?` for the closest of `names` to a mistyped `word` (difflib), or "" when none is close."""
    from difflib import get_close_matches

    close = get_close_matches(str(word), names, n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def _tagged_member(annotation: Any, tag: Any) -> Any:
    """The member of a discriminated union (Workload) whose Tag is `tag` (a part of pydantic's error location),
    Optional and Annotated unwrapped; else None."""
    while get_origin(annotation) is Annotated or type(None) in get_args(annotation):
        annotation = get_args(annotation)[0] if get_origin(annotation) is Annotated else \
            next(a for a in get_args(annotation) if a is not type(None))
    for member in get_args(annotation):
        if get_origin(member) is Annotated and any(isinstance(m, Tag) and m.tag == tag for m in member.__metadata__):
            return get_args(member)[0]
    return None


def _section(annotation: Any) -> Any:
    """The one pydantic model or dict an annotation names (Optional and Annotated unwrapped), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is dict:
        return annotation
    if get_origin(annotation) is Annotated:
        return _section(get_args(annotation)[0])
    found = [s for s in (_section(a) for a in get_args(annotation) if a is not type(None)) if s is not None]
    return found[0] if len(found) == 1 else None


def load_sweep(path: str | Path) -> SweepSpec:
    spec = load_validated_yaml(path, SweepSpec, "sweep spec")
    if not spec.axes and not spec.coupled:
        raise ValueError(f"{path}: axes: give at least one axis (or a coupled: group)")
    for name, axis in spec.axes.items():
        try:
            axis.points()
        except ValueError as exc:
            raise ValueError(f"{path}: axes.{name}: {exc}") from None
    if spec.sample == "grid" and spec.grid_size() > MAX_SWEEP_POINTS:
        sizes = " x ".join(str(len(opts)) for _, opts in spec.dimensions())
        raise ValueError(f"{path}: axes: the grid has {spec.grid_size():,} points ({sizes}), more than the "
                         f"{MAX_SWEEP_POINTS:,} a sweep enumerates; use fewer steps or values, or sample: random "
                         "(or optuna) with points: N")
    _check_axis_paths(spec, path)
    _check_models_and_dtypes(spec, path)
    _warn_clock_alone(spec, path)
    return spec


def _warn_clock_alone(spec: SweepSpec, path: str | Path) -> None:
    """`compute.clock` varied without any matrix peak: the peaks are figures quoted at that clock, so they stay
    fixed (only per-clock rates, the SFU's, follow it), and where the chip holds a measured sustained clock
    (compute.sustained_clock: MI300X's 1,207 MHz) a higher quoted clock is a smaller share of it held: every level
    prices the chip slower. Almost never the study meant; said once, as a warning, since a per-clock-rate study is
    one."""
    varied = set(spec.axes) | {p for group in spec.coupled.values() for p in group}
    if "compute.clock" in varied and not any(p.startswith(("matrix.peak.", "compute.sustained_clock"))
                                             for p in varied):
        import warnings

        from ..hardware.check import SpecWarning

        warnings.warn(SpecWarning(
            f"{path}: compute.clock is the clock the spec's peaks are quoted at; varied alone it leaves matrix.peak.* "
            "and vector.peak.* fixed (only per-clock rates such as sfu.ops_per_clock_per_core follow it), and on a "
            "chip with compute.sustained_clock a higher quoted clock holds a smaller share of its peaks (slower). To "
            "study a faster clock, couple it with the peaks (coupled: {clock: {compute.clock: [...], "
            "matrix.peak.bf16: [...]}})"), stacklevel=2)


AXIS_VALUES_TRIED = 64  # values of one axis tried on the base chip at load before the points are left to run


def _check_axis_paths(spec: SweepSpec, path: str | Path) -> None:
    """An axis (or coupled group) none of whose values the base chip can take (a path the spec does not have, a
    value of the wrong kind throughout) is refused once here, rather than failing every point alike. Values are
    tried alone on the base chip, in order, until one applies; a value that fails only in combination with others
    is left to its points."""
    from ..hardware import load_hardware

    try:
        base = load_hardware(spec.base)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: base: {exc}") from None
    for name, options in spec.dimensions():
        where = f"axes.{name}" if name in spec.axes else f"coupled.{name}"
        first_error = None
        for overrides in options[:AXIS_VALUES_TRIED]:
            try:
                base.with_overrides(overrides)
                break
            except ValueError as exc:
                first_error = first_error or exc
        else:
            if len(options) <= AXIS_VALUES_TRIED:
                raise ValueError(f"{path}: {where}: no value applies to {spec.base}: {first_error}") from None


def _check_models_and_dtypes(spec: SweepSpec, path: str | Path) -> None:
    """A model or dtype no point can use is refused once here, rather than failing every point alike."""
    from ..hardware.dtypes import canonical_dtype
    from ..workload.model_config import load_model

    for name, workload in spec.named_workloads().items():
        where = f"workloads.{name}" if name else "workload"
        model = getattr(workload, "model", None)
        if isinstance(model, str):
            try:
                load_model(model)
            except ValueError as exc:
                raise ValueError(f"{path}: {where}.model: {exc}") from None
        for key in ("dtype", "kv_dtype"):
            value = getattr(workload, key, None)
            if isinstance(value, str):
                try:
                    canonical_dtype(value)
                except ValueError as exc:
                    raise ValueError(f"{path}: {where}.{key}: {exc}") from None
