"""Accuracy and speed per number format, side by side: the dtype a study picks is the dtype the models price.

For one model and chip, each format gets
- speed: `infer` with that dtype for weights, activations and KV cache (so bytes shrink and the matching matrix
  peak applies, or the next wider path when the chip has none);
- accuracy: the relative error and SQNR of a GEMM with K = the model's hidden size whose operands are quantized
  the way the format's recipe does (per-tensor scale for FP8, blocks along K for MX/NVFP4), from
  `accelscope.numerics.studies.gemm_error_vs_format` on standard-normal operands.
"""

from __future__ import annotations

from typing import Any

from ..hardware import HardwareSpec, load_hardware
from ..numerics.studies import gemm_error_vs_format
from ..workload.model_config import ModelConfig, load_model
from .infer import DoesNotFit, infer

# (label, dtype the perf model prices, numerics format that emulates it)
FORMATS = [("bf16", "bf16", "bf16"), ("fp8_e4m3", "fp8_e4m3", "fp8_e4m3"), ("mxfp8", "mxfp8", "mxfp8_e4m3"),
           ("mxfp6", "mxfp6", "mxfp6_e3m2"), ("mxfp4", "mxfp4", "mxfp4"), ("nvfp4", "nvfp4", "nvfp4")]


def format_tradeoff(model: str | dict | ModelConfig, hw: HardwareSpec | str, tp: int = 1, batch: int = 1,
                    input_len: int = 2048, output_len: int = 256, level: str = "analytical",
                    formats: list[str] | None = None, seed: int = 0) -> list[dict[str, Any]]:
    config, spec = load_model(model), load_hardware(hw)
    chosen = [f for f in FORMATS if formats is None or f[0] in formats]
    accuracy = {r["format"]: r for r in gemm_error_vs_format([f[2] for f in chosen], k=config.hidden, m=32, n=32,
                                                              seed=seed)}
    rows = []
    for label, dtype, fmt in chosen:
        row: dict[str, Any] = {"format": label, "priced_as": spec.matrix_dtype(dtype),
                               "gemm_relative_error": accuracy[fmt]["relative_error"],
                               "gemm_sqnr_db": accuracy[fmt]["sqnr_db"]}
        try:
            r = infer(config, spec, tp=tp, batch=batch, input_len=input_len, output_len=output_len, dtype=dtype,
                      kv_dtype=dtype, level=level)
            row.update(ttft_s=r.ttft_s, tpot_s=r.tpot_s, output_tokens_per_s=r.output_tokens_per_s,
                       weights_bytes_per_device=r.memory.weights, fits=True)
        except DoesNotFit as exc:
            row.update(fits=False, reason=str(exc))
        rows.append(row)
    return rows
