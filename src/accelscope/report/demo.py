"""Evaluate a report scenario into plain records the renderer consumes.

The demo (`accelscope demo`) is one scenario (scenario.DEMO): Llama-3.1-70B serving (BF16 and FP8), Llama-3.1-405B
training on 16,384 devices and a set of critical kernels on current chips and a hypothetical next-generation
design, plus the elasticity of decode throughput to each hardware parameter, accuracy vs speed per number format,
and the dev-set validation summary.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from .. import llm
from ..explore import elasticities
from ..hardware import canonical_dtype, load_hardware
from ..hardware.loader import PRESET_DIR
from ..llm.tradeoff import format_tradeoff
from ..perf import estimate
from ..workload import Attention, Gemm, GroupedGemm, Norm, Op, Quantize
from ..workload.model_config import MODEL_DIR, ModelConfig, load_model
from .scenario import DEMO, Scenario

PREFILL_TOKENS_CAP = 8192  # a prefill GEMM's rows: the batch's prompt tokens, at most one 8k chunk
BLOCK_SCALED = ("mxfp8", "mxfp6", "mxfp4", "nvfp4")
# op-type groups of the decode graph's node names, for the per-op breakdown
OP_GROUPS = {"attention": ("attention",), "GEMMs": ("proj", "mlp_", "experts", "lm_head", "router", "absorb"),
             "norms": ("norm",), "communication": ("allreduce", "_rs", "_ag", "dispatch", "combine", "send"),
             "elementwise": ("rope", "residual", "act", "embedding")}


def model_name(model: str) -> str:
    """How a report names a model: a preset by its id; a config.json by what it says it is (`_name_or_path`,
    else its model_type and size), never by where the file happens to be."""
    if (MODEL_DIR / f"{model}.json").exists():
        return model
    config = load_model(model)
    path = Path(model).expanduser()
    path = path / "config.json" if path.is_dir() else path
    raw = json.loads(path.read_text()) if path.is_file() else {}
    named = str(raw.get("_name_or_path") or raw.get("name") or "").rstrip("/").rsplit("/", 1)[-1]
    return named or f"{config.family} {config.params() / 1e9:.1f}B"


def is_preset(hw: str) -> bool:
    return (PRESET_DIR / f"{hw}.yaml").exists()


def emulated_on(hw: Any, dtype: str) -> str | None:
    """The matrix path a chip with no hardware for `dtype` runs it on (nvfp4 on H100: fp8_e4m3), else None."""
    path = hw.matrix_dtype(dtype)
    return path if path is not None and path != canonical_dtype(dtype) else None


@dataclass(frozen=True)
class KernelShapes:
    """What sizes a scenario's kernels: per-device heads, the rows of one prefill (or forward) pass, the decode
    batch and context, and the dtypes."""

    name: str
    serving: bool
    tp: int
    batch: int
    prompt: int
    context: int
    tokens: int
    dtypes: list[str]


def _shapes(scenario: Scenario) -> KernelShapes | None:
    serving, work = scenario.serving, scenario.serving or scenario.training
    if work is None:
        return None
    if serving:
        batch, prompt, dtypes = serving.batch, serving.input_len, serving.dtypes
        context = prompt + serving.output_len // 2
    else:
        assert scenario.training is not None
        batch, prompt, dtypes = scenario.training.micro_batch, scenario.training.seq_len, [scenario.training.dtype]
        context = prompt
    return KernelShapes(model_name(work.model), serving is not None, work.tp, batch, prompt, context,
                        min(batch * prompt, PREFILL_TOKENS_CAP), list(dtypes))


def scenario_kernels(scenario: Scenario) -> dict[str, Op]:
    """The critical kernels of the scenario's own model (serving, else training), at its shapes per device:
    a prefill GEMM per dtype, the decode GEMM, prefill and decode attention, RMSNorm, the MoE experts if any, and
    the activation quantize of a block-scaled dtype."""
    s = _shapes(scenario)
    if s is None:
        return {}
    m = load_model((scenario.serving or scenario.training).model)  # type: ignore[union-attr]
    kernels = {**_gemm_kernels(m, s), **_attention_kernels(m, s)}
    kernels[f"{s.name} RMSNorm {s.tokens:,} x {m.hidden:,}"] = Norm(rows=s.tokens, hidden=m.hidden)
    if m.moe:
        kernels[f"{s.name} MoE experts {m.moe.experts} x {m.moe.intermediate}"] = GroupedGemm(
            groups=m.moe.experts, n=2 * m.moe.intermediate // s.tp, k=m.hidden, tokens=s.tokens * m.moe.top_k)
    scaled = next((d for d in s.dtypes if canonical_dtype(d) in BLOCK_SCALED), None)
    if scaled:
        kernels[f"{s.name} quantize activations to {scaled}"] = Quantize(
            elements=s.tokens * m.hidden, fmt=canonical_dtype(scaled), block=16 if "nv" in scaled else 32)
    return kernels


def _gemm_kernels(m: ModelConfig, s: KernelShapes) -> dict[str, Op]:
    """The weight GEMM every token goes through (the dense MLP's up projection, or QKV in an all-MoE model): a
    prefill pass per dtype and, when serving, one decode step."""
    heads, kv_heads = max(1, m.heads // s.tp), max(1, m.kv_heads // s.tp)
    dense = m.moe is None or m.moe.first_dense_layers > 0 or m.moe.every > 1
    gemm, width = (("MLP-up GEMM", (2 if m.mlp == "swiglu" else 1) * m.intermediate // s.tp) if dense
                   else ("QKV GEMM", (heads + 2 * kv_heads) * m.head_dim))
    phase = "prefill" if s.serving else "forward"
    kernels: dict[str, Op] = {f"{s.name} {gemm}, {phase} {s.tokens:,} tokens {d}": Gemm(s.tokens, width, m.hidden, d)
                              for d in s.dtypes}
    if s.serving:
        kernels[f"{s.name} {gemm}, decode batch {s.batch} {s.dtypes[0]}"] = Gemm(s.batch, width, m.hidden,
                                                                                 s.dtypes[0], shared_b=True)
    return kernels


def _attention_kernels(m: ModelConfig, s: KernelShapes) -> dict[str, Op]:
    heads, kv_heads = max(1, m.heads // s.tp), max(1, m.kv_heads // s.tp)
    phase = "prefill" if s.serving else "forward"
    kernels: dict[str, Op] = {f"{s.name} attention {phase} {s.prompt:,} causal": Attention(
        batch=1, heads=heads, kv_heads=kv_heads, head_dim=m.head_dim, q_len=s.prompt, kv_len=s.prompt, causal=True)}
    if s.serving:
        kernels[f"{s.name} attention decode batch {s.batch}, kv {s.context:,}"] = Attention(
            batch=s.batch, heads=heads, kv_heads=kv_heads, head_dim=m.head_dim, q_len=1, kv_len=s.context)
    return kernels


@dataclass
class DemoResults:
    scenario: dict[str, Any] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # the scenario's model arguments -> their display names
    serving: list[dict[str, Any]] = field(default_factory=list)
    training: list[dict[str, Any]] = field(default_factory=list)
    kernels: list[dict[str, Any]] = field(default_factory=list)
    chips: list[dict[str, Any]] = field(default_factory=list)
    elasticity: dict[str, float] = field(default_factory=dict)
    elasticity_chip: str = ""
    tradeoff: list[dict[str, Any]] = field(default_factory=list)  # accuracy vs speed per number format
    tradeoff_chip: str = ""
    validation: list[dict[str, Any]] = field(default_factory=list)  # dev-set error per category and level
    validation_rows: list[dict[str, Any]] = field(default_factory=list)  # per row: predicted / measured time
    load: list[dict[str, Any]] = field(default_factory=list)  # serving.load: per chip and rate, latency and goodput
    # what a chip could not run (section, chip, dtype or kernel, the model's reason): shown as a note, not a row
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def level(self) -> str:
        return str(self.scenario.get("level", "analytical"))

    def _repr_html_(self) -> str:  # Jupyter: the serving comparison as a table
        head = "<tr><th>chip</th><th>dtype</th><th>TTFT ms</th><th>TPOT ms</th><th>tokens/s</th></tr>"
        rows = "".join(f"<tr><td>{s['hw']}</td><td>{s['dtype']}</td><td>{s['ttft_s'] * 1e3:.1f}</td>"
                       f"<td>{s['tpot_s'] * 1e3:.2f}</td><td>{s['tokens_per_s']:,.0f}</td></tr>" for s in self.serving)
        return f"<table>{head}{rows}</table>"


def _chip_record(hw_id: str) -> dict[str, Any]:
    hw = load_hardware(hw_id)
    return {"id": hw.id, "name": hw.name, "kind": hw.kind, "bf16": hw.matrix_peak("bf16"),
            "fp8": hw.matrix_peak("fp8_e4m3"), "vector": hw.vector_peak("fp32"), "bandwidth": hw.hbm_bandwidth,
            "exp2": hw.sfu_rate("exp2"), "tdp": hw.power.tdp if hw.power else None,
            "price": hw.cost.unit_price if hw.cost else None, "memory": hw.main_memory.capacity}


def _serving_args(scenario: Scenario) -> dict[str, Any]:
    assert scenario.serving is not None
    return scenario.serving.model_dump(exclude={"dtypes", "load"})


def _serving(scenario: Scenario, hw_id: str, dtype: str) -> dict[str, Any]:
    r = llm.infer(hw=hw_id, dtype=dtype, kv_dtype=dtype, level=scenario.level, **_serving_args(scenario))
    per_device = r.output_tokens_per_s / r.devices
    hw = load_hardware(hw_id)
    return {"hw": hw.id, "dtype": dtype, "emulated_on": emulated_on(hw, dtype), "ttft_s": r.ttft_s,
            "tpot_s": r.tpot_s,
            "tokens_per_s": r.output_tokens_per_s, "tokens_per_s_per_device": per_device,
            "tokens_per_s_per_w": per_device / hw.power.tdp if hw.power else None,
            "tokens_per_s_per_kusd": per_device / hw.cost.unit_price * 1e3 if hw.cost else None,
            "memory_used": r.memory.total, "memory_capacity": r.memory.capacity, "headroom": r.memory.headroom,
            "decode_bound": r.decode.bound, "prefill_bound": r.prefill.bound,
            "decode_attribution": dict(r.decode.attribution), "prefill_attribution": dict(r.prefill.attribution),
            "decode_by_op": _by_op(r.decode)}


def _by_op(est: Any) -> dict[str, float]:
    """Seconds of one pass per op group (attention, GEMMs, norms, communication, elementwise)."""
    out: dict[str, float] = dict.fromkeys(OP_GROUPS, 0.0)
    for name, count, part in est.parts:
        if part.parts:  # a pipeline stage: descend into its ops
            for sub in _by_op(part).items():
                out[sub[0]] += count * sub[1]
            continue
        group = next((g for g, keys in OP_GROUPS.items() if any(k in name for k in keys)), "elementwise")
        out[group] += count * part.seconds
    return out


def _training(scenario: Scenario, hw_id: str) -> dict[str, Any]:
    assert scenario.training is not None
    r = llm.train(hw=hw_id, level=scenario.level, check_memory=False, **scenario.training.model_dump())
    return {"hw": load_hardware(hw_id).id, "step_s": r.step_s, "mfu": r.mfu,
            "tokens_per_s_per_device": r.tokens_per_s_per_device, "model_tflops": r.model_tflops_per_device,
            "breakdown": dict(r.breakdown), "memory": r.memory.total, "capacity": r.memory.capacity}


def _kernel(name: str, op: Op, hw_id: str, level: str) -> dict[str, Any]:
    est = estimate(op, hw_id, level)
    hw = load_hardware(hw_id)
    dtype = getattr(op, "dtype", None) if isinstance(op, Gemm | GroupedGemm | Attention) else None
    return {"kernel": name, "hw": hw.id, "seconds": est.seconds, "flops": est.flops,
            "bytes": est.bytes, "intensity": est.flops / est.bytes if est.bytes else None,
            "achieved": est.achieved_flops, "bound": est.bound, "attribution": dict(est.attribution),
            "emulated_on": emulated_on(hw, dtype) if dtype else None}


def run_scenario(scenario: Scenario) -> DemoResults:
    results = DemoResults(scenario=scenario.model_dump())
    results.names = {w.model: model_name(w.model) for w in (scenario.serving, scenario.training) if w}
    kernels = scenario_kernels(scenario) if scenario.kernels else {}
    for hw_id in scenario.hardware:
        results.chips.append(_chip_record(hw_id))
        chip = results.chips[-1]["id"]
        # a chip that cannot run one section (no network for 8 devices, too little memory) keeps its other sections
        # and the other chips: its reason becomes a note of the report
        if scenario.serving:
            results.serving += [row for dtype in scenario.serving.dtypes
                                if (row := _attempt(results, ("serving", chip, dtype), _serving, scenario, hw_id,
                                                    dtype))]
        if scenario.training and (row := _attempt(results, ("training", chip, ""), _training, scenario, hw_id)):
            results.training.append(row)
        results.kernels += [row for name, op in kernels.items()
                            if (row := _attempt(results, ("kernel", chip, name), _kernel, name, op, hw_id,
                                                scenario.level))]
    if scenario.serving:
        _serving_studies(scenario, results)
        if scenario.serving.load:
            results.load = serving_load(scenario, results)
    if scenario.validation:
        results.validation, results.validation_rows = _validation(scenario.level)
    return results


def _attempt(results: DemoResults, where: tuple[str, str, str], run: Any, *args: Any) -> Any:
    """`run(*args)`, or None with the model's reason recorded in `results.failures` under `where` (section, chip,
    dtype or kernel) when the configuration cannot run on the chip (ValueError: does not fit, no network, ...)."""
    try:
        return run(*args)
    except ValueError as exc:
        section, chip, what = where
        results.failures.append({"section": section, "hw": chip, "what": what, "reason": str(exc)})
        return None


def _serving_studies(scenario: Scenario, results: DemoResults) -> None:
    args = _serving_args(scenario)
    elastic_hw = load_hardware(scenario.elasticity_hw or scenario.hardware[0])

    def decode_rate(hw: Any) -> float:
        return llm.infer(hw=hw, level=scenario.level, **args).decode_tokens_per_s

    results.elasticity_chip = elastic_hw.id
    results.elasticity = _attempt(results, ("elasticities", elastic_hw.id, ""), elasticities, decode_rate,
                                  elastic_hw) or {}
    tradeoff_hw = scenario.tradeoff_hw or scenario.hardware[-1]
    results.tradeoff_chip = load_hardware(tradeoff_hw).id
    results.tradeoff = _attempt(results, ("number formats", results.tradeoff_chip, ""), partial(
        format_tradeoff, args["model"], tradeoff_hw, tp=args["tp"], batch=args["batch"],
        input_len=args["input_len"], output_len=args["output_len"], level=scenario.level)) or []


def serving_load(scenario: Scenario, results: DemoResults) -> list[dict[str, Any]]:
    """`serving.load`: each chip serves Poisson arrivals (vLLM-style continuous batching, the scenario's model,
    layout, lengths and first dtype) at the same absolute rates, fractions of the reference chip's saturated
    throughput; P99 TTFT/TPOT and goodput under the SLOs at each. A chip that cannot serve the layout is left out
    (its reason in `results.failures`); without the reference chip there are no rates."""
    from ..llm.serving import iteration_costs, serve
    from ..llm.serving.capacity import meets_slo

    assert scenario.serving is not None and scenario.serving.load is not None
    s, load = scenario.serving, scenario.serving.load
    dtype = s.dtypes[0]
    slo_ttft, slo_tpot = load.slo_ttft_ms / 1e3, load.slo_tpot_ms / 1e3
    options = {"tp": s.tp, "pp": s.pp, "ep": s.ep, "dtype": dtype, "kv_dtype": dtype, "level": scenario.level,
               "requests": load.requests, "input_len": s.input_len, "output_len": s.output_len,
               "max_seqs": load.max_seqs, "slo_ttft": slo_ttft, "slo_tpot": slo_tpot}

    def costs_and_saturated(hw: str) -> tuple[Any, Any]:
        costs = iteration_costs(s.model, hw, s.tp, s.pp, s.ep, dtype, dtype, scenario.level)
        return costs, serve(s.model, hw, rate=math.inf, costs=costs, **options)

    runs = {hw: run for hw in scenario.hardware
            if (run := _attempt(results, ("serving under load", load_hardware(hw).id, dtype), costs_and_saturated,
                                hw))}
    if scenario.hardware[0] not in runs:  # the rates are fractions of the first chip's throughput
        return []
    costs = {hw: run[0] for hw, run in runs.items()}
    saturated = {hw: run[1] for hw, run in runs.items()}
    reference = saturated[scenario.hardware[0]]
    rows = []
    for hw_id in saturated:
        for fraction in load.fractions:
            rate = fraction * reference.requests_per_s
            r = serve(s.model, hw_id, rate=rate, costs=costs[hw_id], **options)
            rows.append({"hw": load_hardware(hw_id).id, "rate": rate, "ttft_p99_s": r.ttft_s["p99"],
                         "tpot_p99_s": r.tpot_s["p99"], "goodput": r.goodput_requests_per_s,
                         "requests_per_s": r.requests_per_s, "output_tokens_per_s": r.output_tokens_per_s,
                         "saturated_requests_per_s": saturated[hw_id].requests_per_s,
                         "meets": meets_slo(r, 99, slo_ttft, slo_tpot)})
    return rows


def _validation(level: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from ..measure import summarize, validate

    levels = ["roofline"] if level == "roofline" else ["roofline", level]
    results = validate("dev", levels)
    summary = [{"category": c.category, "level": c.level, "rows": c.rows, "mean_abs": c.mean_abs,
                "median_abs": c.median_abs} for c in summarize(results)]
    rows = [{"id": r.row.id, "category": r.row.category, "level": r.level, "time_ratio": r.time_ratio}
            for r in results if r.time_ratio is not None]
    return summary, rows


def run_demo() -> DemoResults:
    return run_scenario(DEMO)
