"""Options and helpers shared by every CLI command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from ..hardware.spec import HardwareSpec

HwOpt = Annotated[str, typer.Option("--hw", help="Preset id (accelscope hw list) or path to a YAML spec.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a spec field: dotted.path=value, e.g. memory.hbm.bandwidth=6TB/s."),
]
LevelOpt = Annotated[str, typer.Option("--level", help="roofline | analytical | sim")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ExplainOpt = Annotated[bool, typer.Option("--explain", help="Print the model's details (mapping, notes).")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="bf16, fp16, fp8_e4m3, mxfp4, nvfp4, ...")]


def spec_from(hw: str, sets: list[str] | None) -> HardwareSpec:
    """Load a spec and apply `--set` overrides."""
    from ..hardware import load_hardware, parse_set_options

    spec = load_hardware(hw)
    overrides = parse_set_options(sets or [])
    return spec.with_overrides(overrides) if overrides else spec


def named(record: dict[str, Any], spec: HardwareSpec) -> dict[str, Any]:
    """A JSON record with the spec's --set overrides next to its "hw" id (one truth: a result never shows the
    preset's id for a changed spec without saying what changed)."""
    return {**record, "overrides": spec.overrides} if spec.overrides else record
