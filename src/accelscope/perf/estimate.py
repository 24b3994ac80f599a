"""`Estimate`, the one result type of every performance level, and `estimate()`, the one entry point."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from ..hardware import HardwareSpec, load_hardware
from ..workload.ops import Graph, Node, Op
from .memo import memo_scope

RESOURCES = ("matrix", "vector", "sfu", "memory", "interconnect", "launch")
LEVELS = ("roofline", "analytical", "sim")


_EMPTY: Mapping[str, Any] = MappingProxyType({})  # read-only and empty for good: shared by every estimate


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping)) if mapping else _EMPTY


@dataclass(frozen=True, slots=True)
class Estimate:
    """How long an op or graph takes on a chip, and why.

    seconds      wall time
    flops        matrix + vector FLOPs executed
    bytes        main-memory bytes moved
    bound        the resource that sets the time: matrix | vector | sfu | memory | interconnect | launch
    breakdown    resource -> seconds that resource is busy (they overlap, so they need not add up to `seconds`)
    attribution  resource -> seconds of wall time charged to it (adds up to `seconds`)
    level        the model that produced it
    details      model-specific facts (the chosen mapping, notes)
    parts        for graphs: (name, count, estimate of one occurrence) per node
    """

    seconds: float
    flops: float
    bytes: float
    bound: str
    breakdown: Mapping[str, float]
    level: str
    op: str = ""
    hw: str = ""
    attribution: Mapping[str, float] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    parts: tuple[tuple[str, float, Estimate], ...] = ()
    overrides: Mapping[str, Any] = field(default_factory=dict)  # spec overrides (--set) the hw id does not name

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", _frozen(self.overrides))
        object.__setattr__(self, "breakdown", _frozen(self.breakdown))
        object.__setattr__(self, "attribution", _frozen(self.attribution))
        object.__setattr__(self, "details", _frozen(self.details))

    def __mul__(self, count: float) -> Estimate:
        """`count` back-to-back repetitions."""
        return Estimate(
            seconds=self.seconds * count, flops=self.flops * count, bytes=self.bytes * count, bound=self.bound,
            breakdown={k: v * count for k, v in self.breakdown.items()}, level=self.level, op=self.op,
            hw=self.hw, attribution={k: v * count for k, v in self.attribution.items()}, details=self.details,
            parts=self.parts, overrides=self.overrides,
        )

    __rmul__ = __mul__

    def __add__(self, other: Estimate) -> Estimate:
        """Sequential composition: the second starts when the first ends."""
        return combine([("", 1.0, self), ("", 1.0, other)], name="sum", level=self.level, hw=self.hw)

    @property
    def hw_label(self) -> str:
        """The hw id as tables show it: "h200-sxm (+1 override)" when --set changed the spec."""
        count = len(self.overrides)
        return f"{self.hw} (+{count} override{'s' if count > 1 else ''})" if count else self.hw

    @property
    def bound_label(self) -> str:
        """The limiter as every printer shows it (one truth): the resource, and for memory the spec's level that
        limits it when the model knows it (`details["memory_level"]`): "memory (smem)", "memory (hbm)"."""
        level = self.details.get("memory_level")
        return f"{self.bound} ({level})" if self.bound == "memory" and level else self.bound

    @property
    def achieved_flops(self) -> float:
        return self.flops / self.seconds if self.seconds > 0 else 0.0

    @property
    def achieved_bandwidth(self) -> float:
        return self.bytes / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self, parts: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "op": self.op, "hw": self.hw, "level": self.level, "seconds": self.seconds, "flops": self.flops,
            "bytes": self.bytes, "bound": self.bound, "breakdown": dict(self.breakdown),
            "attribution": dict(self.attribution),
            "achieved_flops_per_s": self.achieved_flops, "achieved_bytes_per_s": self.achieved_bandwidth,
            "details": _jsonable(dict(self.details)),
        }
        if self.overrides:
            out["overrides"] = _jsonable(dict(self.overrides))
        if parts and self.parts:
            out["parts"] = [{"name": n, "count": c, **e.to_dict(parts=False)} for n, c, e in self.parts]
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def _repr_html_(self) -> str:  # Jupyter
        rows = [("op", self.op), ("hw", self.hw_label), ("level", self.level), ("time", f"{self.seconds * 1e6:.2f} µs"),
                ("bound", self.bound_label), ("FLOP/s", f"{self.achieved_flops / 1e12:.1f} T"),
                ("B/s", f"{self.achieved_bandwidth / 1e12:.3f} T")]
        rows += [(f"busy: {k}", f"{v * 1e6:.2f} µs") for k, v in self.breakdown.items() if v]
        body = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>" for k, v in rows)
        return f"<table>{body}</table>"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def combine(items: list[tuple[str, float, Estimate]], name: str, level: str, hw: str) -> Estimate:
    """Sum of estimates run one after another, each `count` times."""
    seconds = flops = nbytes = 0.0
    breakdown = dict.fromkeys(RESOURCES, 0.0)
    attribution = dict.fromkeys(RESOURCES, 0.0)
    # (the totals' lookups bound once: a whole-model estimate sums ~200 nodes x 12 resources this way)
    breakdown_get, attribution_get = breakdown.get, attribution.get
    for _, count, est in items:
        seconds += est.seconds * count
        flops += est.flops * count
        nbytes += est.bytes * count
        for key, value in est.breakdown.items():
            breakdown[key] = breakdown_get(key, 0.0) + value * count
        for key, value in est.attribution.items():
            attribution[key] = attribution_get(key, 0.0) + value * count
    bound = max(attribution, key=lambda k: attribution[k]) if seconds > 0 else "launch"
    overrides = items[0][2].overrides if items else {}
    return Estimate(seconds=seconds, flops=flops, bytes=nbytes, bound=bound, breakdown=breakdown, level=level,
                    op=name, hw=hw, attribution=attribution, parts=tuple(items), overrides=overrides)


class LevelNotAvailable(ValueError):
    """Asked for a performance level that is not built yet."""


OpModel = Callable[[Op, HardwareSpec], Estimate]
ManyModel = Callable[[Sequence[Op], HardwareSpec], list[Estimate]]
_MODELS: dict[str, OpModel] = {}
_MANY: dict[str, ManyModel] = {}  # level -> its model of several ops at once (estimate_graphs), where it has one
_PENDING: dict[str, str] = {}  # level -> why it is not available yet


def register_level(name: str, model: OpModel, many: ManyModel | None = None) -> None:
    """Register the per-op model of a level. Registering a name twice is an error (no silent overrides).

    `many`: the same model of several distinct ops at once, returning exactly `[model(op, hw) for op in ops]`
    faster (the analytical level searches its GEMMs' tiles together); estimate_graphs uses it for the ops its
    graphs have not estimated yet."""
    if name in _MODELS:
        raise ValueError(f"performance level {name!r} is already registered")
    _MODELS[name] = model
    if many is not None:
        _MANY[name] = many


def available_levels() -> list[str]:
    return [name for name in LEVELS if name in _MODELS]


def estimate(work: Op | Graph, hw: HardwareSpec | str, level: str = "roofline") -> Estimate:
    """Estimate an op or a graph on a chip at one level of detail ("roofline", "analytical", "sim").

    Raises ValueError rather than returning a time that is not a finite number (absurd sizes or spec figures)."""
    spec = load_hardware(hw)
    model = _tagged(_model(level))
    if not isinstance(work, Graph | Node | Op):
        raise TypeError(f"estimate() takes an op or a Graph (got {type(work).__name__})")
    try:
        if isinstance(work, Graph):
            est = _estimate_graph(work, spec, model, level)
        else:
            est = model(work.op, spec) * work.count if isinstance(work, Node) else model(work, spec)
    except OverflowError as exc:  # a float overflow deep in a model: the inputs are out of any modelled range
        raise ValueError(f"{_label(work)} on {spec.id}: too large to model ({exc})") from None
    if not all(math.isfinite(x) for x in (est.seconds, est.flops, est.bytes)):
        raise ValueError(f"{_label(work)} on {spec.id} ({level}): no finite estimate (time {est.seconds}, "
                         f"{est.flops} FLOPs, {est.bytes} bytes); a size or a spec figure is out of range")
    return est


def _label(work: Op | Graph | Node) -> str:
    if isinstance(work, Graph):
        return "graph" if work.name in ("", "graph") else f"graph {work.name}"
    return (work.op if isinstance(work, Node) else work).describe()


def _tagged(model: OpModel) -> OpModel:
    """The level's model, its estimates naming the spec's overrides (one truth: hw id + what --set changed)."""

    def run(op: Op, spec: HardwareSpec) -> Estimate:
        return _tag(model(op, spec), spec)

    return run


def _tag(est: Estimate, spec: HardwareSpec) -> Estimate:
    return replace(est, overrides=spec.overrides) if spec.overrides else est


def check_level(level: str) -> None:
    """Refuse an unknown or unavailable `level` up front, as `estimate` would (a search that turns ValueErrors
    into refused layouts would otherwise refuse every layout and hide the typo)."""
    _model(level)


def _model(level: str) -> OpModel:
    if level in _MODELS:
        return _MODELS[level]
    if level in _PENDING:
        raise LevelNotAvailable(f"level={level!r}: {_PENDING[level]}")
    raise ValueError(f"level: expected one of {', '.join(LEVELS)} (got {level!r})")


def estimate_graphs(graphs: Sequence[Graph], hw: HardwareSpec | str, level: str = "roofline") -> list[Estimate]:
    """`estimate` of several graphs on one chip, each distinct op estimated once across all of them (the pipeline
    stages of one model, a forward and its recomputing backward share most of their ops), and across calls inside
    `shared_estimates()`."""
    spec = load_hardware(hw)
    # every node's op estimate in one pass over all the graphs (each op looked up once), then each graph's sum
    found = iter(_op_estimates([node.op for graph in graphs for node in graph.nodes], spec, level))
    return [_graph_estimate(graph, [next(found) for _ in graph.nodes], level, spec.id) for graph in graphs]


def _estimate_new_ops(ops: list[Op], spec: HardwareSpec, level: str, cache: dict[Op, Estimate]) -> None:
    """The ops not in `cache` yet, estimated at once by the level's `many` model (register_level) into it. Should
    one of them fail, none is stored: the caller then estimates them one by one in their order and raises the
    error of the first that fails, as it would have."""
    new = list(dict.fromkeys(op for op in ops if op not in cache))
    if len(new) < 2:
        return
    try:
        estimates = _MANY[level](new, spec)
    except Exception:  # re-raised by the one-by-one pass, in the same order as without `many`
        return
    for op, est in zip(new, estimates, strict=True):
        cache[op] = _tag(est, spec)


def nodes_seconds(nodes: Iterable[tuple[Op, float]], hw: HardwareSpec, level: str) -> float:
    """`estimate_graphs([graph], hw, level)[0].seconds` of a graph with these (op, count) nodes, without building
    the graph or the estimate (a planner's grid): the same op estimates (the shared cache inside
    `shared_estimates()`) summed in the same order as `combine`, so the same float."""
    nodes = list(nodes)
    seconds = 0.0
    for (_, count), est in zip(nodes, _op_estimates([op for op, _ in nodes], hw, level), strict=True):
        seconds += est.seconds * float(count)
    return seconds


def ops_seconds(ops: Sequence[Op], hw: HardwareSpec, level: str) -> tuple[float, ...]:
    """`nodes_seconds([(op, 1.0)], hw, level)` of each op, the same floats, the new ones estimated at once (a
    level's `many` model: the analytical level searches their GEMMs' tiles together)."""
    return tuple(0.0 + est.seconds * 1.0 for est in _op_estimates(ops, hw, level))  # nodes_seconds' sum of one


def _op_estimates(ops: Sequence[Op], hw: HardwareSpec, level: str) -> list[Estimate]:
    """Each op's estimate: from the shared cache inside `shared_estimates()`, else made (and cached there)."""
    model = _tagged(_model(level))
    cache = _shared_cache(hw, level)
    found = [cache.get(op) for op in ops]  # each op hashed once: a planner's grid mostly finds them all
    missing = [i for i, est in enumerate(found) if est is None]
    if level in _MANY and len(missing) > 1:
        _estimate_new_ops([ops[i] for i in missing], hw, level, cache)
    for i in missing:  # (in order: an op met twice is estimated at its first place)
        est = cache.get(ops[i])
        if est is None:
            est = cache[ops[i]] = model(ops[i], hw)
        found[i] = est
    return found  # type: ignore[return-value]


# Op estimates shared by every estimate_graphs call inside `shared_estimates()` (a planner estimating thousands of
# layouts of one model on one chip: most of their ops repeat). Keyed by (level, spec identity); the spec is kept
# in the entry so its id cannot be reused while the cache lives.
_SHARED: list[dict[tuple[str, int], tuple[HardwareSpec, dict[Op, Estimate]]]] = []


@contextmanager
def shared_estimates() -> Iterator[None]:
    """Within the block, estimate_graphs reuses op estimates across calls (same spec object and level), and the
    whole-model estimates' `@memoized` building blocks reuse their results (perf/memo.py)."""
    _SHARED.append({})
    try:
        with memo_scope():
            yield
    finally:
        _SHARED.pop()


def _shared_cache(spec: HardwareSpec, level: str) -> dict[Op, Estimate]:
    if not _SHARED:
        return {}
    return _SHARED[-1].setdefault((level, id(spec)), (spec, {}))[1]


def _estimate_graph(graph: Graph, hw: HardwareSpec, model: OpModel, level: str,
                    cache: dict[Op, Estimate] | None = None) -> Estimate:
    cache = {} if cache is None else cache
    estimates = []
    for node in graph.nodes:
        est = cache.get(node.op)
        if est is None:
            est = cache[node.op] = model(node.op, hw)
        estimates.append(est)
    return _graph_estimate(graph, estimates, level, hw.id)


def _graph_estimate(graph: Graph, estimates: list[Estimate], level: str, hw_id: str) -> Estimate:
    """The graph's estimate from its nodes' op estimates (in node order): their sum, each `count` times."""
    items = [(node.name, float(node.count), est) for node, est in zip(graph.nodes, estimates, strict=True)]
    return combine(items, name=graph.name, level=level, hw=hw_id)
