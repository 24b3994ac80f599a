"""`acs.llm.plan`: the best software mapping of a model onto a cluster, for training or serving.

Training: the search space is TP x PP x CP x EP x virtual stages x ZeRO stage x micro-batch x recompute policy x
the dtypes asked for (bf16 unless told; DP fills the devices). Serving: TP x PP x weight dtype x KV dtype, the batch
as large as memory and the latency SLOs allow, replicas filling the devices; or (`simulate=True`) each layout's
capacity at the SLOs in the request-level simulation, with prefill / decode splits and, for MoE, wide EP. The goal
is the most tokens per second per device (training) or output tokens per second per device within the SLOs
(serving).

Pruning is exact, before any estimate:
- what the frameworks accept (training: Megatron-LM's argument checks; serving: vLLM's; llm/refusals.py holds them,
  train / infer report them as notes; docs/dse.md lists each with its source): TP divides the attention and KV
  heads and the widths it shards (and, the planner's choice, fits the scale-up domain), the devices split into
  whole groups, the global batch into whole micro-batches per DP rank (at least pp of them under the interleaved
  schedule), the sequence into 2 x CP load-balanced chunks and those into TP shards, the experts into EP groups
  that tile the tp x cp x dp ranks of a pipeline stage; a MoE layout states its expert TP (`etp`);
- memory lower bounds: weights, gradients and optimizer state per device under the layout (no activations, no
  reserve) already above the chip's memory rule the layout out, whatever the activations.
The rest is estimated exhaustively (`train`/`infer` at the chosen level; a layout the model refuses as not fitting
is counted as pruned by memory). The search is exhaustive over the space; the space is documented by `SPACE`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from numbers import Integral
from typing import Any

from ..hardware import HardwareSpec, load_hardware
from ..hardware.dtypes import canonical_dtype, check_dtype_names, dtype_bytes, element_bits, element_format
from ..perf.estimate import check_level, shared_estimates
from ..workload.llm_graph import Parallelism, Precision
from ..workload.model_config import ModelConfig, load_model
from .infer import DoesNotFit, infer, max_batch
from .pipeline_balance import balanced_split
from .refusals import (
    cp_chunks_reason,
    expert_parallel_reason,
    interleave_reason,
    interleaved_micro_batches_reason,
    micro_batch_reason,
    pipeline_reason,
    sequence_parallel_reason,
    serve_kv_heads_reason,
    tp_heads_reason,
    tp_widths_reason,
    world_reason,
)
from .train import FIXED_OPTIONS, RECOMPUTE_MODES, check_options, train
from .train_memory import MemoryOptions, stage_memory

GOALS = ("train", "serve")
# Training search space (each list is searched whole unless the caller pins the field).
SPACE = {
    "tp": (1, 2, 4, 8, 16, 32, 64),
    "pp": (1, 2, 4, 8, 16, 32, 64),
    "cp": (1, 2, 4, 8, 16),
    "ep": (1, 2, 4, 8, 16, 32, 64),
    "vpp": (1, 2, 4, 8),
    "zero": (1, 3),
    "micro_batch": (1, 2, 4),
    "recompute": ("none", "selective", "full"),
}
SERVE_SPACE = {"tp": (1, 2, 4, 8, 16, 32, 64), "pp": (1, 2, 4, 8)}
DTYPE_NOT_NATIVE = "dtype without a matrix path of its own on the chip"
MIN_CP_TOKENS = 1024  # a context-parallel chunk shorter than this only adds exchanges (Megatron-LM CP guidance)


@dataclass(frozen=True)
class PlannedConfig:
    layout: dict[str, Any]
    metrics: dict[str, float]
    result: Any = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {**self.layout, **self.metrics}


@dataclass(frozen=True)
class PlanResult:
    goal: str
    model: str
    hw: str
    devices: int
    level: str
    configs: list[PlannedConfig]  # best first
    candidates: int  # layouts in the space
    estimated: int  # layouts estimated after pruning
    pruned: dict[str, int]  # reason -> layouts
    why: str  # why the best beats the runner-up
    search_s: float
    options: dict[str, Any] = field(default_factory=dict)  # train() options every layout was priced with

    @property
    def best(self) -> PlannedConfig:
        return self.configs[0]

    def to_dict(self) -> dict[str, Any]:
        return {"goal": self.goal, "model": self.model, "hw": self.hw, "devices": self.devices, "level": self.level,
                "configs": [c.to_dict() for c in self.configs], "candidates": self.candidates,
                "estimated": self.estimated, "pruned": self.pruned, "why": self.why, "search_s": self.search_s,
                **({"options": {k: list(v) if isinstance(v, tuple) else v for k, v in self.options.items()}}
                   if self.options else {})}


def _advice(pruned: dict[str, int]) -> str:
    """What to change when every layout was pruned. Shape reasons (divisibility, heads, layers, experts, domain) prune
    much of any search, so they decide only when nothing reached a memory or SLO check: then the pins are at fault."""
    if not pruned or any("memory" in why for why in pruned):
        return "use more devices or a chip with more memory"
    if any("SLO" in why for why in pruned):
        return "relax the SLO or use a faster chip"
    if DTYPE_NOT_NATIVE in pruned:
        return "search a dtype the chip has matrix units for (bf16, or FP8 / FP4 on a chip with them)"
    return ("pin tp / pp / cp / ep values that divide the device count and the model's heads, KV heads, layers and "
            "experts (or leave them to the search)")


def plan(model: str | dict | ModelConfig, hw: HardwareSpec | str, devices: int, goal: str = "train",
         top: int = 5, level: str = "analytical", balance_pipeline: bool = False, **workload: Any) -> PlanResult:
    """Search the software mappings of `model` on `devices` devices of `hw`; the `top` best, best first.

    Training workload keys: seq_len (4096), global_batch (1024 sequences), dtype ("bf16", or a tuple of dtypes
    to search: those the chip has no matrix path of its own for are pruned, `_not_native`), any of SPACE's
    fields to pin them (e.g. tp=8) or a tuple to search only those values, and train()'s framework options
    (train.FIXED_OPTIONS, e.g. optimizer="muon", tp_overlap=True, fp8_recipe="rowwise"), which every layout is
    priced with and the memory bound honours. Serving keys: input_len (2048),
    output_len (256), dtypes (("bf16",)), kv_dtypes (("bf16",)), slo_tpot / slo_ttft (seconds), tp/pp pins.
    `balance_pipeline` (training): the search splits layers evenly; then each of the `top` layouts with pp > 1
    takes the fastest first / last stage layer counts that fit (llm/pipeline_balance.py) where they beat the even
    split, its layout saying `pipeline_split`, and the top is sorted again (~20-50 estimates per layout)."""
    started = time.perf_counter()
    if goal not in GOALS:
        raise ValueError(f"goal: expected train or serve (got {goal!r})")
    if not isinstance(devices, int) or not 1 <= devices <= 10_000_000:
        raise ValueError(f"devices: expected an integer from 1 to 10,000,000 (got {devices!r})")
    if not isinstance(top, int) or top < 1:
        raise ValueError(f"top: expected an integer >= 1 (got {top!r})")
    if not isinstance(balance_pipeline, bool) or (balance_pipeline and goal != "train"):
        raise ValueError(f"balance_pipeline: True or False, for training plans (got {balance_pipeline!r})")
    # what every layout shares (the balanced split re-prices a layout with them; its dtype is in the layout)
    shared = _fixed({k: workload[k] for k in ("seq_len", "global_batch", *FIXED_OPTIONS) if k in workload})
    check_level(level)  # train's ValueErrors become refused layouts: a bad level would refuse them all
    config = load_model(model)
    spec = load_hardware(hw)
    search = _plan_training if goal == "train" else _plan_serving
    with shared_estimates():  # layouts of one model on one chip repeat most of their ops: estimate each once
        configs, candidates, pruned = search(config, spec, devices, level, dict(workload))
    if not configs:
        reasons = ", ".join(f"{n} by {why}" for why, n in pruned.items()) or "none"
        raise DoesNotFit(f"no layout of {config.name} on {devices} x {spec.id} works: {candidates} candidates, "
                         f"pruned {reasons}; {_advice(pruned)}")
    key = "tokens_per_s_per_device"
    configs.sort(key=lambda c: -c.metrics[key])
    estimated = len(configs)
    best = [_resolved(c) for c in configs[:top]]
    if balance_pipeline:
        best = sorted((_balanced(config, spec, level, shared, c) for c in best), key=lambda c: -c.metrics[key])
    # against the runner-up even when only the best is shown (top=1 said "the only layout that works")
    runner = best[1] if len(best) > 1 else _resolved(configs[1]) if len(configs) > 1 else None
    why = _why(best[0], runner) if runner is not None else "the only layout that works"
    options = {k: v for k, v in workload.items() if k in FIXED_OPTIONS} if goal == "train" else {}
    return PlanResult(goal=goal, model=config.name, hw=spec.id, devices=devices, level=level, configs=best,
                      candidates=candidates, estimated=estimated, pruned=pruned, why=why,
                      search_s=time.perf_counter() - started, options=_fixed(options))


def _balanced(model: ModelConfig, hw: HardwareSpec, level: str, shared: dict[str, Any],
              config: PlannedConfig) -> PlannedConfig:
    """The layout with the fastest uneven pipeline split that fits, where it beats the even one; else as it is."""
    layout = config.layout
    if layout["pp"] < 2:
        return config
    args = {k: v for k, v in layout.items() if k not in ("pp", "vpp")}
    try:
        counts, result = balanced_split(model, hw, layout["pp"], layout["vpp"], level=level, **shared, **args)
    except (DoesNotFit, ValueError):
        return config
    if result.step_s >= config.result.step_s:
        return config
    return PlannedConfig({**layout, "pipeline_split": counts}, _train_metrics(result), result)


def _resolved(config: PlannedConfig) -> PlannedConfig:
    """A configuration whose metrics came from a shared table (`shared_plans`) with its result computed on this
    chip (the per-point path), its metrics taken from that result."""
    if not callable(config.result):
        return replace(config, metrics=dict(config.metrics))  # not the shared table's own dict
    result = config.result()
    if isinstance(result, str):  # priced on a chip like this one, refused on it: capacity did matter
        raise RuntimeError(f"layout {config.layout} priced on a chip of another capacity is refused here: {result}")
    return replace(config, metrics=_train_metrics(result), result=result)


# ----- training ---------------------------------------------------------------------------------------------------
# Priced training layouts shared by plan() calls inside `shared_plans()` (a sweep with `plan: auto`): keyed by the
# model, the chip without its main-memory capacity, the devices, level and space; per layout its metrics or the
# reason train refused it. A layout's step time does not read the capacity (train compares the memory with it only
# at its end; llm/plan_grid.py rests on the same fact and tests it point by point), so chips that differ only in
# capacity share every priced layout. At most MAX_SHARED_TABLES spaces are kept (the least recently used go).
_PLAN_TABLES: list[dict[Any, dict[Any, Any]]] = []
MAX_SHARED_TABLES = 16


@contextmanager
def shared_plans() -> Iterator[None]:
    """Within the block, `plan(goal="train")` on chips that differ only in main-memory capacity prices each
    layout once; each plan still prunes at its own capacity, checks each layout's memory against it and returns
    its best configurations computed on its own chip. Nested blocks share the outermost one."""
    if _PLAN_TABLES:
        yield
        return
    _PLAN_TABLES.append({})
    try:
        yield
    finally:
        _PLAN_TABLES.pop()


def _shared_table(config: ModelConfig, hw: HardwareSpec, level: str, space: TrainSpace) -> dict[Any, Any]:
    """The shared priced layouts of this space on chips like `hw` but for capacity ({} outside shared_plans)."""
    if not _PLAN_TABLES:
        return {}
    tables = _PLAN_TABLES[-1]
    key = (config, _capacity_free(hw), space.devices, level, tuple(sorted(space.choices.items())), space.seq_len,
           space.global_batch, tuple(sorted(space.options.items())))
    table = tables.pop(key, None)
    if table is None:
        table = {}
        while len(tables) >= MAX_SHARED_TABLES:
            tables.pop(next(iter(tables)))
    tables[key] = table  # most recently used last
    return table


def _capacity_free(hw: HardwareSpec) -> str:
    """A hash of the spec's content without its main memory's capacity."""
    content = hw.model_dump(mode="json")
    content["memory"][hw.main_memory_name].pop("capacity", None)
    return hashlib.sha1(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _choices(workload: dict[str, Any], key: str, space: dict[str, tuple]) -> tuple:
    """A pinned value, a tuple of values to search, or the whole space."""
    value = workload.pop(key, None)
    if value is None:
        return space[key]
    return checked_sizes(key, tuple(value) if isinstance(value, list | tuple) else (value,))


def checked_sizes(key: str, values: tuple) -> tuple:
    """`values` of a parallel degree or micro-batch (`key`), refused unless each is a whole number >= 1 (a 0
    would divide by zero, a "8" compare as text, deep in the search); other keys pass unchanged."""
    if key in ("tp", "pp", "cp", "ep", "vpp", "micro_batch") and (
            not values or any(isinstance(v, bool) or not isinstance(v, Integral) or v < 1 for v in values)):
        raise ValueError(f"{key}: expected whole numbers >= 1 (got {values!r})")
    return values


def _plan_training(config: ModelConfig, hw: HardwareSpec, devices: int, level: str,
                   workload: dict[str, Any]) -> tuple[list[PlannedConfig], int, dict[str, int]]:
    space = TrainSpace.of(config, hw, devices, workload)
    capacity = hw.main_memory.capacity
    table = _shared_table(config, hw, level, space)
    configs: list[PlannedConfig] = []
    for layout in space.layouts(capacity):
        key = tuple(layout.values())
        priced = table.get(key)
        result: Any = None
        if priced is None:  # not priced on a chip like this one: price it here
            result = price_layout(config, hw, level, space, layout)
            priced = table[key] = result if isinstance(result, str) else _train_metrics(result)
        if isinstance(priced, str):
            space.prune(priced)
        elif priced["memory_per_device_bytes"] > capacity:  # train()'s own check (check_memory=True raises)
            space.prune("memory (estimated)")
        else:
            configs.append(PlannedConfig(layout, priced, result if result is not None else
                                         _pricer(config, hw, level, space, layout)))
    return configs, space.candidates, space.pruned


def _pricer(config: ModelConfig, hw: HardwareSpec, level: str, space: TrainSpace,
            layout: dict[str, Any]) -> Callable[[], Any]:
    """The layout's result on this chip, computed when it is among the best (`_resolved`)."""
    return lambda: price_layout(config, hw, level, space, layout)


@dataclass
class TrainSpace:
    """The training search space of one model on `devices` devices of one chip, and its exact pruning."""

    config: ModelConfig
    devices: int
    domain: int  # scale-up domain size (devices): TP stays within it
    choices: dict[str, tuple]
    seq_len: int
    global_batch: int
    options: dict[str, Any] = field(default_factory=dict)  # train() options fixed for every layout (FIXED_OPTIONS)
    # the searched dtypes whose matrix products this chip runs only in a wider format (dtype -> that format)
    not_native: dict[str, str] = field(default_factory=dict)
    candidates: int = 0
    pruned: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, config: ModelConfig, hw: HardwareSpec, devices: int, workload: dict[str, Any]) -> TrainSpace:
        choices = {key: _choices(workload, key, SPACE) for key in SPACE}
        seq_len = int(workload.pop("seq_len", 4096))
        global_batch = int(workload.pop("global_batch", 1024))
        choices["dtype"] = checked_dtypes(workload.pop("dtype", "bf16"))
        options = _fixed({key: workload.pop(key) for key in FIXED_OPTIONS if key in workload})
        if workload:
            raise ValueError(f"plan(goal='train'): unknown workload option(s): {', '.join(sorted(workload))}; "
                             f"expected seq_len, global_batch, dtype, the searched fields ({', '.join(SPACE)}) or "
                             f"train() options kept fixed ({', '.join(FIXED_OPTIONS)})")
        _check_workload(choices, seq_len, global_batch, options)
        domain = scale_up_domain(hw)
        if (reach := network_reach(hw)) is not None and devices > reach:
            # one training job is one communicating group (its gradients are reduced over every data-parallel
            # replica): every layout would need a link the spec does not have
            raise ValueError(f"plan: {devices} devices of {hw.id} reach beyond its scale-up domain of {reach} and "
                             "the spec has no interconnect.scale_out for the collectives between them; add "
                             f"interconnect.scale_out or plan at most {reach} device{'s' if reach > 1 else ''}")
        return cls(config, devices, domain, choices, seq_len, global_batch, options,
                   _not_native(hw, choices["dtype"]))

    def prune(self, reason: str, count: int = 1) -> None:
        self.pruned[reason] = self.pruned.get(reason, 0) + count

    def layouts(self, capacity: float) -> Iterator[dict[str, Any]]:
        """Every layout that survives the exact pruning for a chip of `capacity` bytes (counting the rest)."""
        choices = self.choices
        per_split = self._below("tp", "pp", "cp", "ep")
        for tp in choices["tp"]:
            for pp in choices["pp"]:
                for cp in choices["cp"]:
                    for ep in choices["ep"]:
                        self.candidates += per_split
                        reason = _shape_reason(self.config, self.devices, self.domain, self.seq_len, tp, pp, cp, ep)
                        if reason:
                            self.prune(reason, per_split)
                            continue
                        split = dict(tp=tp, pp=pp, cp=cp, ep=ep, dp=self.devices // (tp * pp * cp))
                        if self.config.moe is not None:  # what --expert-tensor-parallel-size must say
                            split["etp"] = layout_etp(tp, ep)
                        yield from self._split_layouts(split, capacity)

    def _below(self, *keys: str) -> int:
        """Candidates under one choice of `keys` and of every field before them in the loops: the pruned count."""
        order = ("tp", "pp", "cp", "ep", "zero", "vpp", "micro_batch", "recompute", "dtype")
        return math.prod(len(self.choices[k]) for k in order[max(order.index(k) for k in keys) + 1:])

    def _split_layouts(self, split: dict[str, int], capacity: float) -> Iterator[dict[str, Any]]:
        choices = self.choices
        for zero in choices["zero"]:
            reason = _optimizer_reason(zero, split, self.options)
            if reason:
                self.prune(reason, self._below("zero"))
                continue
            if state_lower_bound(self.config, split, zero, self.options) > capacity:
                self.prune("memory (weights + gradients + optimizer alone)", self._below("zero"))
                continue
            for vpp in choices["vpp"]:
                if interleave_reason(self.config, split["pp"], vpp):
                    self.prune("vpp without enough layers per stage", self._below("vpp"))
                    continue
                for micro_batch in choices["micro_batch"]:
                    if micro_batch_reason(self.global_batch, split["dp"], micro_batch):
                        self.prune("global batch not divisible into micro-batches", self._below("micro_batch"))
                        continue
                    micro_batches = self.global_batch // (split["dp"] * micro_batch)
                    if interleaved_micro_batches_reason(split["pp"], vpp, micro_batches):
                        self.prune("interleaved schedule with fewer micro-batches than pp", self._below("micro_batch"))
                        continue
                    for recompute in choices["recompute"]:
                        for dtype in choices["dtype"]:
                            if dtype in self.not_native:
                                self.prune(DTYPE_NOT_NATIVE)
                                continue
                            yield {**split, "vpp": vpp, "zero": zero, "micro_batch": micro_batch,
                                   "recompute": recompute, "dtype": dtype}


def checked_dtypes(value: Any) -> tuple[str, ...]:
    """The training dtype, or several to search (a list or tuple), each a known name and named once."""
    names = tuple(value) if isinstance(value, list | tuple) else (value,)
    if not names or not all(isinstance(name, str) for name in names):
        raise ValueError(f"dtype: expected a dtype name or a list of them, e.g. ['bf16', 'fp8_e4m3'] (got {value!r})")
    check_dtype_names(names, "dtype")
    if len(set(map(canonical_dtype, names))) < len(names):
        raise ValueError(f"dtype: {value!r} names a dtype twice; name each once")
    return names


def _not_native(hw: HardwareSpec, dtypes: tuple[str, ...]) -> dict[str, str]:
    """The dtypes among `dtypes` whose GEMMs the chip has no matrix path of their own for, each with the path
    `HardwareSpec.matrix_dtype` falls back to: a wider element format (FP8 on A100, FP4 on H100) or, for a
    block-scaled format, a plain one (MXFP8 on H100: no block-scaled MMA before Blackwell). A plan searching
    dtypes drops them: the training frameworks refuse them (Transformer Engine's `check_fp8_support`: "Device
    compute capability 8.9 or higher required for FP8 execution"; its MXFP8 recipe needs compute capability 10.0).
    Two plain formats of one width (fp8_e5m2 priced by an fp8_e4m3 peak) are one path."""
    out = {}
    for dtype in dtypes:
        matmul = Precision(dtype=canonical_dtype(dtype)).matmul_input_dtype
        chosen = hw.matrix_dtype(matmul)
        same_path = chosen is not None and (chosen == matmul or (
            element_format(chosen) == chosen and element_format(matmul) == matmul
            and element_bits(chosen) == element_bits(matmul)))
        if not same_path:
            out[dtype] = chosen or "none"
    return out


def _optimizer_reason(zero: int, split: dict[str, int], options: dict[str, Any]) -> str | None:
    """Why the fixed optimizer options cannot run under this ZeRO stage and split (train() refuses them:
    _check_muon, _check_megatron_options, and Megatron's assertion that the instances split dp x cp), or None."""
    instances = options.get("optimizer_instances", 1)
    if options.get("optimizer") == "muon" and zero not in (0, 1):
        return "Muon under ZeRO-2/3 (Megatron's Muon runs with zero 0 or 1)"
    if instances > 1 and zero != 1:
        return "optimizer instances without the distributed optimizer (zero 1)"
    if (split["dp"] * split.get("cp", 1)) % instances:
        return "optimizer instances not dividing dp x cp"
    return None


def _check_workload(choices: dict[str, tuple], seq_len: int, global_batch: int, options: dict[str, Any]) -> None:
    """The options every layout shares, refused up front: price_layout turns train's ValueErrors into refused
    layouts, so a bad one would refuse every layout (an empty grid, a DoesNotFit) instead of naming itself."""
    for name, value in (("seq_len", seq_len), ("global_batch", global_batch)):
        if value < 1:
            raise ValueError(f"{name}: expected an integer >= 1 (got {value})")
    check_options(options)
    low_precision = any(canonical_dtype(d).startswith(("fp8", "mx")) for d in choices["dtype"])
    for name in ("fp8_recipe", "fp8_all_gather"):  # train() would price a 16-bit step without them, silently
        if options.get(name) not in (None, False) and not low_precision:
            dtypes = ", ".join(choices["dtype"])
            raise ValueError(f"{name}: applies to an 8-bit dtype (fp8_e4m3, mxfp8); got dtype={dtypes!r}")
    bad = [mode for mode in choices["recompute"] if mode not in RECOMPUTE_MODES]
    if bad:
        raise ValueError(f"recompute: expected one of {', '.join(RECOMPUTE_MODES)} (got {bad[0]!r})")


def _fixed(options: dict[str, Any]) -> dict[str, Any]:
    """Fixed train() options with their sequences as tuples: hashable (a shared table's key) and as train() takes
    them (fp8_skip, recompute_modules)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


def price_layout(config: ModelConfig, hw: HardwareSpec, level: str, space: TrainSpace,
                 layout: dict[str, Any]) -> Any:
    """`train` of one layout without its memory check (the caller compares `memory.total` with each capacity,
    as train's check does), or the reason train refuses it."""
    try:
        return train(config, hw, seq_len=space.seq_len, global_batch=space.global_batch, level=level,
                     check_memory=False, **layout, **space.options)
    except DoesNotFit:  # not raised without the memory check; kept so a refusal can never escape a search
        return "memory (estimated)"
    except ValueError as exc:
        return f"refused: {str(exc).split(':')[0]}"


def _shape_reason(config: ModelConfig, devices: int, domain: int, seq_len: int, tp: int, pp: int, cp: int,
                  ep: int) -> str | None:
    """Why a (tp, pp, cp, ep) split cannot run, or None: the argument checks Megatron-LM makes before it builds the
    model (llm/refusals.py, one function a rule, with their sources; docs/dse.md lists them), named coarsely for the
    pruned counts, plus the planner's own choices: TP within the scale-up domain, CP chunks of MIN_CP_TOKENS or more,
    EP nested with TP (as the training model prices it: Parallelism.check)."""
    if world_reason(devices, tp, pp, cp):
        return "devices not divisible by tp x pp x cp"
    if tp_heads_reason(config, tp) or tp > domain:  # beyond the domain TP's all-reduces cross the scale-out network
        return "tp not dividing the heads or beyond the scale-up domain"
    etp = layout_etp(tp, ep)
    if tp_widths_reason(config, tp, etp):
        return "tp not dividing the KV heads or the MLP / expert widths"
    if pipeline_reason(config, pp):
        return "pp beyond the layers"
    if cp_chunks_reason(seq_len, cp) or (cp > 1 and seq_len // cp < MIN_CP_TOKENS):
        return f"cp chunks not whole (seq_len / 2 cp) or under {MIN_CP_TOKENS} tokens"
    if sequence_parallel_reason(seq_len, cp, tp):
        return "sequence-parallel chunks not whole (seq_len / cp not divisible by tp)"
    # devices // pp: the tp x cp x dp ranks of a stage (devices split into whole tp x pp x cp groups above)
    if ep > 1 and (expert_parallel_reason(config, devices // pp, ep, etp) or (tp % ep and ep % tp)):
        return "ep not dividing the experts or not nesting with tp"
    return None


def layout_etp(tp: int, ep: int) -> int:
    """The expert tensor-parallel size the training model prices (llm/train_memory.py expert_tp): tp / ep when EP
    nests inside TP, else 1. A planned MoE layout states it: Megatron-LM's --expert-tensor-parallel-size defaults
    to tp (training/arguments.py), which is another layout."""
    return max(tp // ep, 1)


def state_lower_bound(config: ModelConfig, split: dict[str, int], zero: int,
                      options: dict[str, Any] | None = None) -> float:
    """Bytes per device of weights, gradients and optimizer state alone under the layout (the largest over the
    first and last pipeline stages), from the training memory model's own sharding rules (llm/train_memory.py):
    a lower bound of the memory any recompute policy or micro-batch needs, so pruning on it is exact.
    `options` (train()'s fixed options): the optimizer's states as train() keeps them (Muon's 8 B per hidden-matrix
    element instead of Adam's 12, dealt whole per data-parallel rank; distributed-optimizer copies), under the
    ZeRO stages train() runs them with (it refuses the others)."""
    par = Parallelism(tp=split["tp"], pp=split["pp"], dp=split["dp"], cp=split.get("cp", 1), ep=split["ep"])
    options = options or {}
    muon = options.get("optimizer") == "muon" and zero in (0, 1)
    opts = MemoryOptions(zero=zero, optimizer="muon" if muon else "adam",
                         muon_sharding=options.get("muon_sharding", "balanced"),
                         optimizer_instances=options.get("optimizer_instances", 1) if zero == 1 and not muon else 1)
    stages = {0, par.pp - 1}
    return max(_persistent(stage_memory(config, 0.0, par, stage, opts)) for stage in stages)


def _persistent(memory: Any) -> float:
    return memory.weights + memory.gradients + memory.optimizer


def _train_metrics(r: Any) -> dict[str, float]:
    return {"tokens_per_s_per_device": r.tokens_per_s_per_device, "step_s": r.step_s, "mfu": r.mfu,
            "memory_per_device_bytes": r.memory_per_device_bytes}


# ----- serving ----------------------------------------------------------------------------------------------------
def _plan_serving(config: ModelConfig, hw: HardwareSpec, devices: int, level: str,
                  workload: dict[str, Any]) -> tuple[list[PlannedConfig], int, dict[str, int]]:
    tps = _choices(workload, "tp", SERVE_SPACE)
    pps = _choices(workload, "pp", SERVE_SPACE)
    input_len = int(workload.pop("input_len", 2048))
    output_len = int(workload.pop("output_len", 256))
    dtypes = tuple(workload.pop("dtypes", ("bf16",)))
    kv_dtypes = tuple(workload.pop("kv_dtypes", ("bf16",)))
    slo_tpot = workload.pop("slo_tpot", None)
    slo_ttft = workload.pop("slo_ttft", None)
    simulation = _simulation_options(workload, slo_tpot, slo_ttft)
    if workload:
        raise ValueError(f"plan(goal='serve'): unknown workload option(s): {', '.join(sorted(workload))}")
    domain = scale_up_domain(hw)
    pruned: dict[str, int] = {}
    configs: list[PlannedConfig] = []
    candidates = 0

    def keep(found: PlannedConfig | str) -> None:
        """A priced layout joins the configurations; a reason counts as pruned."""
        if isinstance(found, str):
            pruned[found] = pruned.get(found, 0) + 1
        else:
            configs.append(found)

    for tp in tps:
        for pp in pps:
            for dtype in dtypes:
                for kv_dtype in kv_dtypes:
                    replica = dict(tp=tp, pp=pp, dtype=dtype, kv_dtype=kv_dtype)
                    variants = _pool_splits(devices // (tp * pp), simulation["schedulers"]) if simulation else [{}]
                    if not variants:  # disaggregated only, and one replica: nothing to split
                        candidates += 1
                        keep("one replica: no prefill / decode split")
                        continue
                    candidates += len(variants)
                    reason = serve_layout_reason(config, devices, domain, tp, pp, dtype, hw.main_memory.capacity,
                                                 network_reach(hw))
                    if reason:
                        pruned[reason] = pruned.get(reason, 0) + len(variants)
                        continue
                    if simulation:
                        for variant in variants:
                            keep(_simulated(config, hw, devices, level, replica, variant, input_len, output_len,
                                            slo_tpot, slo_ttft, simulation))
                        continue
                    found = _best_batch(config, hw, tp, pp, dtype, kv_dtype, input_len, output_len, level, slo_tpot,
                                        slo_ttft)
                    if isinstance(found, str):
                        pruned[found] = pruned.get(found, 0) + 1
                        continue
                    replicas = devices // (tp * pp)
                    layout = {"tp": tp, "pp": pp, "replicas": replicas, "dtype": dtype, "kv_dtype": kv_dtype,
                              "batch": found.batch}
                    metrics = {"tokens_per_s_per_device": found.output_tokens_per_s / (tp * pp),
                               "output_tokens_per_s": found.output_tokens_per_s * replicas,
                               "tpot_s": found.tpot_s, "ttft_s": found.ttft_s,
                               "memory_per_device_bytes": found.memory_per_device_bytes}
                    configs.append(PlannedConfig(layout, metrics, found))
    # the experts over the whole cluster, attention data-parallel: a layout of tp 1, pp 1 (what pins must allow)
    if simulation and config.moe is not None and 1 in tps and 1 in pps:
        for dtype in dtypes:
            for kv_dtype in kv_dtypes:
                replica = dict(tp=1, pp=1, dtype=dtype, kv_dtype=kv_dtype)
                for variant in _wide_ep_pools(config.moe.experts, devices, simulation["schedulers"]):
                    candidates += 1
                    keep(_simulated(config, hw, devices, level, replica, variant, input_len, output_len, slo_tpot,
                                    slo_ttft, simulation))
    return configs, candidates, pruned


SERVE_SCHEDULERS = ("vllm", "disaggregated")  # what a simulated serving plan compares (llm/serving/serve.py)
# llm.serve's engine options a simulated plan passes to every layout's simulation (the layout is the plan's)
SIMULATED_SERVE_OPTIONS = ("max_seqs", "max_batched_tokens", "seed", "cuda_graphs", "tp_overlap", "arrival", "cv")


def _simulation_options(workload: dict[str, Any], slo_tpot: float | None, slo_ttft: float | None
                        ) -> dict[str, Any] | None:
    """The request-level simulation's options of a serving plan (`simulate=True`), checked, or None without it."""
    simulate = workload.pop("simulate", False)
    defaults = {"requests": 300, "percentile": 99, "schedulers": ("vllm",), "serve_options": {}}
    options = {key: workload.pop(key, default) for key, default in defaults.items()}
    if not isinstance(simulate, bool):
        raise ValueError(f"simulate: expected True or False (got {simulate!r})")
    if not simulate:
        given = [key for key, value in options.items() if value != defaults[key]]
        if given:
            raise ValueError(f"{given[0]}: an option of the simulated serving plan; add simulate=True")
        return None
    _check_engine_options(options["serve_options"])
    requests, percentile, schedulers = options["requests"], options["percentile"], options["schedulers"]
    if isinstance(requests, bool) or not isinstance(requests, int) or not 10 <= requests <= 100_000:
        raise ValueError(f"requests: expected an integer from 10 to 100,000 (got {requests!r})")
    if percentile not in (50, 90, 99):
        raise ValueError(f"percentile: expected 50, 90 or 99 (got {percentile!r})")
    schedulers = (schedulers,) if isinstance(schedulers, str) else tuple(schedulers)
    if not schedulers or any(name not in SERVE_SCHEDULERS for name in schedulers):
        raise ValueError(f"schedulers: expected some of {', '.join(SERVE_SCHEDULERS)} (got {schedulers!r})")
    if slo_tpot is None and slo_ttft is None:
        raise ValueError("simulate: the capacity is the highest request rate within the latency SLOs; give slo_tpot "
                         "and/or slo_ttft (seconds)")
    return {**options, "schedulers": schedulers}


def _check_engine_options(engine: Any) -> None:
    """The engine options of a simulated plan, refused up front with serve()'s own checks (one bad value would
    refuse every layout, and the advice would blame the pins)."""
    import inspect

    from .serving.requests import generate
    from .serving.serve import _check_options as check_serve_options  # serve()'s argument checks
    from .serving.serve import serve

    if not isinstance(engine, dict):
        raise ValueError(f"serve_options: expected a mapping of engine options (got {engine!r})")
    unknown = sorted(set(engine) - set(SIMULATED_SERVE_OPTIONS))
    if unknown:
        raise ValueError(f"serve_options: {', '.join(unknown)} not taken by a simulated plan; expected any of "
                         f"{', '.join(SIMULATED_SERVE_OPTIONS)}")
    for name in ("cuda_graphs", "tp_overlap"):
        if not isinstance(engine.get(name, False), bool):
            raise ValueError(f"serve_options: {name}: expected True or False (got {engine[name]!r})")
    args = {name: p.default for name, p in inspect.signature(serve).parameters.items()} | engine
    try:
        check_serve_options("vllm", 1, 1, 1, None, None, 0, args["acceptance"], 0.0, args["max_batched_tokens"],
                            args["max_seqs"], args["block_size"], None)
        generate(1.0, 1, 1, 1, args["arrival"], args["cv"], args["seed"])
    except ValueError as error:
        raise ValueError(f"serve_options: {error}") from None


def _pool_splits(replicas: int, schedulers: tuple[str, ...]) -> list[dict[str, Any]]:
    """How `replicas` replicas of one layout serve: colocated (vLLM's continuous batching, the requests dealt to
    the replicas in turn) and, disaggregated, every split into prefill and decode pools (DistServe, Splitwise)."""
    splits: list[dict[str, Any]] = []
    if "vllm" in schedulers:
        splits.append({"scheduler": "vllm"})
    if "disaggregated" in schedulers:
        splits += [{"scheduler": "disaggregated", "prefill_replicas": p, "decode_replicas": replicas - p}
                   for p in range(1, replicas)]
    return splits


def _wide_ep_pools(experts: int, devices: int, schedulers: tuple[str, ...]) -> list[dict[str, Any]]:
    """Wide expert parallelism over all `devices` (llm/serving/moe.py WideEP: one attention-DP engine per device,
    the experts in one group, DeepEP dispatch and combine), with and without two-batch overlap: colocated, one
    group of `devices` ranks; disaggregated, a prefill group and a decode group splitting them (SGLang's DeepSeek-V3
    deployment). A group's size divides the experts (WideEP.check)."""
    pools: list[dict[str, Any]] = []
    for tbo in (False, True):
        if "vllm" in schedulers and devices >= 2 and experts % devices == 0:
            pools.append({"scheduler": "vllm", "wide_ep": devices, "tbo": tbo})
        if "disaggregated" in schedulers:
            pools += [{"scheduler": "disaggregated", "prefill_ep": p, "decode_ep": devices - p, "tbo": tbo}
                      for p in range(2, devices - 1) if experts % p == 0 and experts % (devices - p) == 0]
    return pools


def _pools_of(variant: dict[str, Any], replicas: int) -> dict[str, Any]:
    """capacity()'s pool arguments for a planned variant (_pool_splits, _wide_ep_pools)."""
    from .serving.moe import WideEP

    if "wide_ep" in variant:
        return {"wide_ep": WideEP(variant["wide_ep"], two_batch_overlap=variant["tbo"])}
    if "prefill_ep" in variant:
        return {"wide_ep": WideEP(variant["prefill_ep"], two_batch_overlap=variant["tbo"]),
                "decode_wide_ep": WideEP(variant["decode_ep"], two_batch_overlap=variant["tbo"])}
    return {k: v for k, v in variant.items() if k != "scheduler"} or {"replicas": replicas}


def _simulated(config: ModelConfig, hw: HardwareSpec, devices: int, level: str, replica: dict[str, Any],
               variant: dict[str, Any], input_len: int, output_len: int, slo_tpot: float | None,
               slo_ttft: float | None, simulation: dict[str, Any]) -> PlannedConfig | str:
    """One serving layout rated by its capacity: the highest request rate whose `percentile` TTFT and TPOT meet the
    SLOs in the request-level simulation (llm.capacity) of the whole cluster: every colocated replica, the requests
    dealt round robin (each replica sees every R-th arrival, a steadier stream than Poisson arrivals at 1/R the
    rate: two TP4 replicas of 70B serve more than twice one replica's rate at the same P99), or the prefill and
    decode pools handing each request's KV cache over."""
    from .serving.capacity import capacity

    replicas = devices // (replica["tp"] * replica["pp"])
    pools = _pools_of(variant, replicas)
    try:
        result = capacity(config, hw, slo_ttft=slo_ttft, slo_tpot=slo_tpot, percentile=simulation["percentile"],
                          requests=simulation["requests"], level=level, input_len=input_len, output_len=output_len,
                          scheduler=variant["scheduler"], curve=False, **replica, **pools,
                          **simulation["serve_options"])
    except DoesNotFit:
        return "memory (estimated)"
    except ValueError as exc:  # a layout serve() refuses (the engine options were checked up front)
        return f"refused: {str(exc).split(':')[0]}"
    if result.capacity_requests_per_s <= 0:
        return "SLO missed even at an idle server"
    at = result.at_capacity
    key = f"p{simulation['percentile']}"
    layout = {**replica, "replicas": replicas, **variant}
    # the sustained output rate at the capacity: requests/s x output tokens per request (the run's own output rate
    # counts its ramp-up and drain, which differ between layouts)
    tokens_per_request = at.output_tokens_per_s / at.requests_per_s if at.requests_per_s > 0 else 0.0
    metrics = {"tokens_per_s_per_device": result.capacity_per_device * tokens_per_request,
               "requests_per_s": result.capacity_per_device * devices,
               "requests_per_s_per_device": result.capacity_per_device,
               "ttft_s": at.ttft_s[key], "tpot_s": at.tpot_s[key]}
    return PlannedConfig(layout, metrics, result)


def scale_up_domain(hw: HardwareSpec) -> int:
    """Devices in the chip's scale-up domain (1 without a scale-up network): TP stays within it."""
    return hw.interconnect.scale_up.domain_size if hw.interconnect and hw.interconnect.scale_up else 1


def network_reach(hw: HardwareSpec) -> int | None:
    """Devices one communicating group can span on `hw`: its scale-up domain when the spec has no scale-out network
    (a collective beyond the domain has no link to run on, and perf/collectives.collective_floor refuses it), else
    None (no bound)."""
    if hw.interconnect is not None and hw.interconnect.scale_out is not None:
        return None
    return scale_up_domain(hw)


def serve_layout_reason(config: ModelConfig, devices: int, domain: int, tp: int, pp: int, dtype: str,
                        capacity: float, reach: int | None = None) -> str | None:
    """Why a serving replica of tp x pp devices cannot run (exact, before any estimate), or None. vLLM shards the
    KV heads over TP or, with fewer KV heads than tp, replicates each over tp / kv_heads ranks: it needs one of the
    two to divide the other (vllm/model_executor/models/llama.py LlamaAttention; refusals.serve_kv_heads_reason).
    The scale-up domain and the weights' memory are the planner's own bounds; `reach` (network_reach): a replica
    on more devices than that has no link between some of them (replicas themselves exchange nothing)."""
    if (world_reason(devices, tp, pp) or tp_heads_reason(config, tp) or tp > domain or pipeline_reason(config, pp)
            or serve_kv_heads_reason(config, tp)):  # vLLM's checks (llm/refusals.py) and the planner's domain
        return "devices, heads or domain"
    if reach is not None and tp * pp > reach:
        return "replica beyond the scale-up domain, and no scale-out network in the spec"
    if dtype_bytes(dtype) * config.params() / (tp * pp) > capacity:
        return "memory (weights alone)"
    return None


def _best_batch(config: ModelConfig, hw: HardwareSpec, tp: int, pp: int, dtype: str, kv_dtype: str, input_len: int,
                output_len: int, level: str, slo_tpot: float | None, slo_ttft: float | None) -> Any:
    """The largest batch that fits and meets the SLOs (TPOT and TTFT grow with the batch), or why none does."""
    from ..workload.llm_graph import Parallelism, Precision

    try:
        largest = max_batch(config, hw, Parallelism(tp=tp, pp=pp), Precision(dtype=dtype, kv_dtype=kv_dtype),
                            input_len, output_len)
    except DoesNotFit:
        return "memory (estimated)"

    def run(batch: int) -> Any:
        return infer(config, hw, tp=tp, pp=pp, batch=batch, input_len=input_len, output_len=output_len, dtype=dtype,
                     kv_dtype=kv_dtype, level=level)

    def meets(result: Any) -> bool:
        return (slo_tpot is None or result.tpot_s <= slo_tpot) and (slo_ttft is None or result.ttft_s <= slo_ttft)

    best = run(largest)
    if meets(best):
        return best
    low = run(1)
    if not meets(low):
        return "SLO missed at batch 1"
    lo, hi = 1, largest
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if meets(run(mid)) else (lo, mid)
    return run(lo)


# ----- explanation ------------------------------------------------------------------------------------------------
def _why(best: PlannedConfig, runner: PlannedConfig) -> str:
    """What differs between the two layouts, and which parts of the time account for the gap."""
    keys = [*best.layout, *(k for k in runner.layout if k not in best.layout)]  # a balanced split names its own
    missing = {"pipeline_split": "even"}  # what a layout without the key runs
    changed = [f"{k} {runner.layout.get(k, missing.get(k, '-'))} -> {best.layout.get(k, missing.get(k, '-'))}"
               for k in keys if best.layout.get(k) != runner.layout.get(k)]
    key = "tokens_per_s_per_device"
    gain = best.metrics[key] / runner.metrics[key] - 1
    parts = _time_parts(best.result), _time_parts(runner.result)
    deltas = sorted(((parts[1].get(k, 0.0) - parts[0].get(k, 0.0), k) for k in set(parts[0]) | set(parts[1])),
                    reverse=True)
    # d: the runner-up's seconds minus the best's (positive: the best spends less there)
    gaps = ", ".join(f"{name.replace('_', ' ')} {abs(d) * 1e3:,.1f} ms {'less' if d > 0 else 'more'}"
                     for d, name in deltas[:3] if abs(d) > 0)
    layout = "; ".join(changed) or "the same layout"
    return f"{gain:+.1%} tokens/s per device over the runner-up ({layout}): {gaps or 'same time split'}"


def _time_parts(result: Any) -> dict[str, float]:
    """Seconds by part of a step (training breakdown), of a token (serving TTFT and TPOT), or the percentile TTFT
    and TPOT at a simulated layout's capacity."""
    breakdown = getattr(result, "breakdown", None)
    if isinstance(breakdown, dict):
        return {k: float(v) for k, v in breakdown.items() if isinstance(v, int | float) and math.isfinite(v)}
    if hasattr(result, "capacity_requests_per_s"):  # llm.capacity's result
        key = f"p{result.percentile}"
        return {f"P{result.percentile} TTFT at capacity": result.at_capacity.ttft_s[key],
                f"P{result.percentile} TPOT at capacity": result.at_capacity.tpot_s[key]}
    return {"time per output token": result.tpot_s, "time to first token": result.ttft_s}
