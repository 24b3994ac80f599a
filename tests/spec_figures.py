"""Shared by the preset tests: a spec's figures by dotted path, to compare a derived preset with its sibling."""

from __future__ import annotations

from typing import Any


def spec_figures(spec: Any) -> dict[str, Any]:
    """Every figure of a spec by dotted path ("memory.hbm.bandwidth"), without its source notes."""
    def flat(value: Any, path: str = "") -> dict[str, Any]:
        if not isinstance(value, dict):
            return {path: value}
        out: dict[str, Any] = {}
        for key, sub in value.items():
            if key not in ("source", "sources"):
                out.update(flat(sub, f"{path}.{key}" if path else key))
        return out
    return flat(spec.model_dump())
