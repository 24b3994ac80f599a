"""Elasticities: d log(metric) / d log(parameter) around a design, by central differences of ±step.

An elasticity of 0.93 for HBM bandwidth on decode tokens/s means +1 % bandwidth gives +0.93 % tokens/s; 0 means
the parameter does not limit the workload at this design point.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..hardware import HardwareSpec, load_hardware
from .space import SweepSpec

# Parameters a co-design study varies first, as dotted spec paths (only those the spec has are used). {main}: the
# main memory level's name; {pad}: the chip scratchpad's (a `scope: chip` SRAM), skipped on chips without one.
DEFAULT_PARAMETERS = (
    "memory.{main}.bandwidth", "memory.{pad}.bandwidth", "memory.{pad}.capacity", "matrix.peak.bf16",
    "matrix.peak.fp8_e4m3", "vector.peak.fp32", "sfu.ops_per_clock_per_core.exp2", "memory.l2.bandwidth",
    "interconnect.scale_up.bandwidth", "runtime.launch_latency",
)


def default_paths(hw: HardwareSpec, templates: tuple[str, ...] = DEFAULT_PARAMETERS) -> list[str]:
    """The templates filled in for `hw` (a scratchpad template dropped when the chip has none)."""
    pad = hw.scratchpad_name
    return [t.format(main=hw.main_memory_name, pad=pad) for t in templates if pad is not None or "{pad}" not in t]


def _value(hw: HardwareSpec, path: str) -> float | None:
    node: object = hw.model_dump()
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return float(node) if isinstance(node, int | float) and not isinstance(node, bool) else None


def elasticities(metric: Callable[[HardwareSpec], float], hw: HardwareSpec,
                 parameters: tuple[str, ...] = DEFAULT_PARAMETERS, step: float = 0.1) -> dict[str, float]:
    """Elasticity of `metric(hw)` (higher is better or worse, as the caller defines) per parameter."""
    out = {}
    for path in default_paths(hw, parameters):
        value = _value(hw, path)
        if value is None or value <= 0:
            continue
        up = metric(hw.with_overrides({path: value * (1 + step)}))
        down = metric(hw.with_overrides({path: value * (1 - step)}))
        out[path] = (math.log(up) - math.log(down)) / (math.log(1 + step) - math.log(1 - step))
    return out


def check_parameters(hw: HardwareSpec, parameters: list[str], option: str = "sensitivity") -> None:
    """Parameters asked for by name are positive numeric fields of `hw`: say why one cannot be varied. `option`
    starts the message (the CLI's `--param`)."""
    for path in parameters:
        value = _value(hw, path)
        if value is None or value <= 0:
            raise ValueError(f"{option}: {path!r} is not a positive numeric field of the {hw.id} spec "
                             "(use a dotted path such as memory.hbm.bandwidth; see accelscope hw show)")


def sweep_elasticities(spec: SweepSpec, parameters: list[str] | None = None, step: float = 0.1,
                       base: HardwareSpec | None = None) -> dict[str, dict[str, float]]:
    """Elasticity of every objective of a sweep spec around its base design: metric -> parameter -> value.

    The parameters default to the sweep's numeric axes plus DEFAULT_PARAMETERS; each is varied by ±`step`
    around the base spec's value (or `base`'s), and every workload of the spec is evaluated at both ends."""
    from .sweep import evaluate_point

    hw = base if base is not None else load_hardware(spec.base)
    paths = parameters or list(dict.fromkeys([*spec.axis_paths(), *default_paths(hw)]))
    metrics = [objective.partition(" ")[2] for objective in spec.objectives]
    check_parameters(hw, parameters or [])
    _check_base_evaluates(spec, hw, metrics)
    out: dict[str, dict[str, float]] = {metric: {} for metric in metrics}
    for path in paths:
        value = _value(hw, path)
        if value is None or value <= 0:
            continue
        ends = [evaluate_point(spec, 0, {path: value * factor}, base=hw) for factor in (1 + step, 1 - step)]
        for metric in metrics:
            up, down = (record.get(metric) for record in ends)
            if isinstance(up, float) and isinstance(down, float) and up > 0 and down > 0:
                out[metric][path] = (math.log(up) - math.log(down)) / (math.log(1 + step) - math.log(1 - step))
    return out


def _check_base_evaluates(spec: SweepSpec, hw: HardwareSpec, metrics: list[str]) -> None:
    """Refuse a scenario whose base design gives none of its metrics (a model typo, a tp that does not divide the
    heads): every end point fails the same way, and the elasticity tables came out empty with exit 0."""
    from .sweep import evaluate_point

    record = evaluate_point(spec, 0, {}, base=hw)
    if not any(isinstance(record.get(metric), float) for metric in metrics):
        reason = str(record.get("error") or f"none of {', '.join(metrics)} is computed").removeprefix("ValueError: ")
        raise ValueError(f"sensitivity: the base design on {hw.id} fails, so nothing can be varied: {reason}")
