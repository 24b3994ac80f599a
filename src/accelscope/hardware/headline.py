"""Headline figures of the presets (what `accelscope hw list` prints), read straight from the preset files.

`hw list` is a start-up path (target: under 0.25 s); validating 17 specs costs little, but importing the pydantic
schema costs ~0.15 s. The headline needs a handful of fields, parsed with the same unit parser the schema uses,
so this reads them from the YAML directly; tests/test_cli_readability.py checks they equal the validated specs'.
A preset that is an overlay (`base:`) or lacks a field falls back to the validated spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .units import parse_quantity

PRESET_DIR = Path(__file__).parent / "presets"


def headline_of(data: dict[str, Any]) -> dict[str, Any]:
    """id, name, kind, dense BF16 / FP8 / FP4 peaks (FLOP/s), main memory (B, B/s) and TDP (W) of a parsed spec."""
    peak = data["matrix"]["peak"]
    dram = next(level for level in data["memory"].values() if level["kind"] == "dram")
    power = data.get("power")

    def flops(key: str) -> float | None:
        return parse_quantity(peak[key], "flops") if key in peak else None

    return {
        "id": data["id"], "name": data["name"], "kind": data["kind"],
        "bf16_flops": flops("bf16"), "fp8_flops": flops("fp8_e4m3"),
        "fp4_flops": flops("fp4_e2m1") or flops("nvfp4"),
        "memory_bytes": parse_quantity(dram["capacity"], "bytes"),
        "memory_bandwidth": parse_quantity(dram["bandwidth"], "bandwidth"),
        "tdp_w": parse_quantity(power["tdp"], "power") if power and "tdp" in power else None,
    }


def preset_headlines() -> list[dict[str, Any]]:
    """The headline of every preset, sorted by id."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out = []
    for path in sorted(PRESET_DIR.glob("*.yaml")):
        data = yaml.load(path.read_text(), Loader=loader)
        try:
            out.append(headline_of(data))
        except (KeyError, TypeError, StopIteration):  # an overlay or an unusual preset: the validated way
            from .loader import load_hardware

            out.append(_validated_headline(load_hardware(path.stem)))
    return out


def _validated_headline(hw: Any) -> dict[str, Any]:
    return {
        "id": hw.id, "name": hw.name, "kind": hw.kind,
        "bf16_flops": hw.matrix.peak.get("bf16"), "fp8_flops": hw.matrix.peak.get("fp8_e4m3"),
        "fp4_flops": hw.matrix.peak.get("fp4_e2m1") or hw.matrix.peak.get("nvfp4"),
        "memory_bytes": hw.main_memory.capacity, "memory_bandwidth": hw.hbm_bandwidth,
        "tdp_w": hw.power.tdp if hw.power else None,
    }
