"""Report scenarios: what a report evaluates, as a validated YAML file (`accelscope report SCENARIO.yaml`).

    title: FP8 serving on next-gen parts
    hardware: [h100-sxm, b200, my_chip.yaml]     # preset ids or spec files; the first is the reference
    level: analytical                              # roofline | analytical
    serving: {model: llama-3.1-70b, tp: 8, batch: 64, input_len: 2048, output_len: 256, dtypes: [bf16, fp8_e4m3],
              load: {slo_ttft_ms: 2000, slo_tpot_ms: 50, requests: 300}}   # "Serving under load" (optional)
    training: {model: llama-3.1-405b, tp: 8, pp: 16, dp: 128, seq_len: 8192, global_batch: 2048, vpp: 4,
               recompute: full}
    kernels: true                                  # the standard set of critical kernels
    elasticity_hw: h100-sxm                        # where to compute what limits decode (default: the first chip)
    tradeoff_hw: b200                              # where to compare number formats (default: the last chip)
    validation: true                               # include the dev-set error summary
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..explore.space import InferArgs, TrainArgs, load_validated_yaml


class Load(BaseModel):
    """`serving.load`: the request-level simulation of the serving model under Poisson arrivals (the report's
    "Serving under load" section): latency percentiles and goodput against the request rate, per chip, in the
    first dtype. Rates: `fractions` of the reference chip's saturated throughput, the same rates on every chip."""

    model_config = ConfigDict(extra="forbid", strict=True)  # kernels: "no" or tp: "8" is not a flag or a number
    # finite: .inf passed gt=0 and failed mid-report as "slo_ttft: expected seconds > 0 (got inf)", no file named
    slo_ttft_ms: float = Field(default=2000.0, gt=0, allow_inf_nan=False)
    slo_tpot_ms: float = Field(default=50.0, gt=0, allow_inf_nan=False)
    requests: int = Field(default=300, ge=10, le=100_000)
    # rates as fractions of the reference chip's saturated requests/s: each > 0 (a rate of 0 serves nothing)
    fractions: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(default_factory=lambda: [0.25, 0.5, 0.7, 0.85, 1.0, 1.2],
                                                           min_length=2)
    max_seqs: int = Field(default=256, ge=1)


class Serving(InferArgs):
    ep: int = Field(default=1, ge=1)
    dtypes: list[str] = Field(default_factory=lambda: ["bf16", "fp8_e4m3"], min_length=1)
    load: Load | None = None


class Training(TrainArgs):
    """The training run of a report (an `llm.train` scenario)."""


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # kernels: "no" or tp: "8" is not a flag or a number
    title: str = "accelscope report"
    hardware: list[str] = Field(min_length=1)
    level: Literal["roofline", "analytical"] = "analytical"
    serving: Serving | None = None
    training: Training | None = None
    kernels: bool = True
    elasticity_hw: str | None = None
    tradeoff_hw: str | None = None
    validation: bool = True

    @field_validator("hardware")
    @classmethod
    def _distinct(cls, hardware: list[str]) -> list[str]:
        """A chip listed twice was evaluated twice and shown as two columns of the same chip."""
        for index, name in enumerate(hardware):
            if name in hardware[:index]:
                raise ValueError(f"{name[:60]!r} is listed twice; list each chip once")
        return hardware

    @property
    def reference_hw(self) -> str:
        return self.hardware[0]


DEMO = Scenario(
    title="accelscope: LLM serving, training and kernels across accelerators",
    hardware=["h100-sxm", "h200-sxm", "b200", "mi300x", "generic-next-gen"],
    serving=Serving(model="llama-3.1-70b", tp=8, batch=64, input_len=2048, output_len=256, load=Load(requests=200)),
    training=Training(model="llama-3.1-405b", tp=8, pp=16, dp=128, seq_len=8192, global_batch=2048, vpp=4,
                      recompute="full"),
    elasticity_hw="h100-sxm", tradeoff_hw="b200",
)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; errors name the file, the field and the expected form."""
    scenario = load_validated_yaml(path, Scenario, "report scenario")
    _check_names(scenario, path)
    return scenario


def _check_names(scenario: Scenario, path: str | Path) -> None:
    """Chips, models and dtypes resolve before any work: a bad one is reported under its field in this file."""
    from ..hardware import canonical_dtype, load_hardware
    from ..workload.model_config import load_model

    checks: list[tuple[str, Any, str]] = [(f"hardware.{i}", load_hardware, hw) for i, hw in enumerate(scenario.hardware)]
    checks += [(key, load_hardware, getattr(scenario, key)) for key in ("elasticity_hw", "tradeoff_hw")
               if getattr(scenario, key) is not None]
    for section in ("serving", "training"):
        workload = getattr(scenario, section)
        if workload is not None:
            checks.append((f"{section}.model", load_model, workload.model))
            dtypes = getattr(workload, "dtypes", None) or [getattr(workload, "dtype", None)]
            checks += [(f"{section}.dtype{'s' if len(dtypes) > 1 or section == 'serving' else ''}", canonical_dtype,
                        name) for name in dtypes if name is not None]
    for field, resolve, name in checks:
        try:
            resolve(name)
        except ValueError as exc:  # SpecError too
            raise ValueError(f"{path}: {field}: {exc}") from None
    _check_layouts(scenario, path)


def _check_layouts(scenario: Scenario, path: str | Path) -> None:
    """tp / pp / ep that fit the model, checked at load: a bad one surfaced mid-report as `tp=3: ...`, with neither
    the file nor the section named."""
    from ..workload.llm_graph import Parallelism
    from ..workload.model_config import load_model

    for section in ("serving", "training"):
        workload = getattr(scenario, section)
        if workload is None:
            continue
        try:
            Parallelism(tp=workload.tp, pp=workload.pp, ep=workload.ep).check(load_model(workload.model))
        except ValueError as exc:
            raise ValueError(f"{path}: {section}.{exc}") from None
