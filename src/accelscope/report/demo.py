"""The demo scenario: what `accelscope demo` evaluates, as plain records the report renders.

Llama-3.1-70B serving (TP8, BF16 and FP8), Llama-3.1-405B training (TP8 PP16 on 16,384 devices) and a set of
critical kernels (GEMMs, attention prefill and decode, RMSNorm, an MoE grouped GEMM, MXFP8 quantize) on current
chips and a hypothetical next-generation design, at the analytical level, plus the elasticity of decode
throughput to each hardware parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import llm
from ..explore import elasticities
from ..hardware import load_hardware
from ..llm.tradeoff import format_tradeoff
from ..perf import estimate
from ..workload import Attention, Gemm, GroupedGemm, Norm, Quantize

CHIPS = ("h100-sxm", "h200-sxm", "b200", "mi300x", "generic-next-gen")
LEVEL = "analytical"
SERVING = dict(model="llama-3.1-70b", tp=8, batch=64, input_len=2048, output_len=256)
TRAINING = dict(model="llama-3.1-405b", tp=8, pp=16, dp=128, seq_len=8192, global_batch=2048, vpp=4,
                recompute="full")
KERNELS = {
    "GEMM 8192³ bf16": Gemm(8192, 8192, 8192, "bf16"),
    "GEMM decode 64x8192x28672 bf16": Gemm(64, 28672, 8192, "bf16", shared_b=True),
    "GEMM 8192³ fp8": Gemm(8192, 8192, 8192, "fp8_e4m3"),
    "attention prefill 8k causal": Attention(batch=1, heads=64, kv_heads=8, head_dim=128, q_len=8192, kv_len=8192,
                                             causal=True),
    "attention decode b64 kv8k": Attention(batch=64, heads=64, kv_heads=8, head_dim=128, q_len=1, kv_len=8192),
    "RMSNorm 16k x 8192": Norm(rows=16384, hidden=8192),
    "MoE experts 128x768 (qwen3-30b, 4k tokens)": GroupedGemm(groups=128, n=2 * 768, k=2048, tokens=4096 * 8),
    "quantize 64M to mxfp8": Quantize(elements=1 << 26, fmt="mxfp8", block=32),
}
ELASTICITY_CHIP = "h100-sxm"
TRADEOFF_CHIP = "b200"  # native FP4/FP6/FP8: every format runs on its own matrix path
# op-type groups of the decode graph's node names, for the per-op breakdown
OP_GROUPS = {"attention": ("attention",), "GEMMs": ("proj", "mlp_", "experts", "lm_head", "router", "absorb"),
             "norms": ("norm",), "communication": ("allreduce", "_rs", "_ag", "dispatch", "combine", "send"),
             "elementwise": ("rope", "residual", "act", "embedding")}


@dataclass
class DemoResults:
    serving: list[dict[str, Any]] = field(default_factory=list)
    training: list[dict[str, Any]] = field(default_factory=list)
    kernels: list[dict[str, Any]] = field(default_factory=list)
    chips: list[dict[str, Any]] = field(default_factory=list)
    elasticity: dict[str, float] = field(default_factory=dict)
    elasticity_chip: str = ELASTICITY_CHIP
    tradeoff: list[dict[str, Any]] = field(default_factory=list)  # accuracy vs speed per number format
    tradeoff_chip: str = TRADEOFF_CHIP
    validation: list[dict[str, Any]] = field(default_factory=list)  # dev-set error per category and level

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


def _serving(hw_id: str, dtype: str) -> dict[str, Any]:
    r = llm.infer(hw=hw_id, dtype=dtype, kv_dtype=dtype, level=LEVEL, **SERVING)  # type: ignore[arg-type]
    per_device = r.output_tokens_per_s / r.devices
    hw = load_hardware(hw_id)
    return {"hw": hw_id, "dtype": dtype, "ttft_s": r.ttft_s, "tpot_s": r.tpot_s,
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
        group = next((g for g, keys in OP_GROUPS.items() if any(k in name for k in keys)), "elementwise")
        out[group] += count * part.seconds
    return out


def _training(hw_id: str) -> dict[str, Any]:
    r = llm.train(hw=hw_id, level=LEVEL, check_memory=False, **TRAINING)  # type: ignore[arg-type]
    return {"hw": hw_id, "step_s": r.step_s, "mfu": r.mfu, "tokens_per_s_per_device": r.tokens_per_s_per_device,
            "model_tflops": r.model_tflops_per_device, "breakdown": dict(r.breakdown), "memory": r.memory.total,
            "capacity": r.memory.capacity}


def _kernel(name: str, hw_id: str) -> dict[str, Any]:
    op = KERNELS[name]
    est = estimate(op, hw_id, LEVEL)
    return {"kernel": name, "hw": hw_id, "seconds": est.seconds, "flops": est.flops, "bytes": est.bytes,
            "intensity": est.flops / est.bytes if est.bytes else None, "achieved": est.achieved_flops,
            "bound": est.bound, "attribution": dict(est.attribution)}


def run_demo(chips: tuple[str, ...] = CHIPS) -> DemoResults:
    results = DemoResults()
    for hw_id in chips:
        results.chips.append(_chip_record(hw_id))
        for dtype in ("bf16", "fp8_e4m3"):
            results.serving.append(_serving(hw_id, dtype))
        results.training.append(_training(hw_id))
        results.kernels.extend(_kernel(name, hw_id) for name in KERNELS)

    def decode_rate(hw: Any) -> float:
        return llm.infer(hw=hw, level=LEVEL, **SERVING).decode_tokens_per_s  # type: ignore[arg-type]

    results.elasticity = elasticities(decode_rate, load_hardware(ELASTICITY_CHIP))
    results.tradeoff = format_tradeoff(SERVING["model"], TRADEOFF_CHIP, tp=SERVING["tp"], batch=SERVING["batch"],
                                       input_len=SERVING["input_len"], output_len=SERVING["output_len"], level=LEVEL)
    results.validation = _validation()
    return results


def _validation() -> list[dict[str, Any]]:
    from ..measure import summarize, validate

    return [{"category": c.category, "level": c.level, "rows": c.rows, "mean_abs": c.mean_abs,
             "median_abs": c.median_abs} for c in summarize(validate("dev", ["roofline", LEVEL]))]
