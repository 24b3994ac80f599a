"""Load specs from presets or files (plain or overlays), and turn every failure into a `SpecError`.

A `SpecError` names the file, the field path and the expected form, e.g.
    h100.yaml: memory.hbm.bandwidth: expected a bandwidth like '3.35 TB/s' or '400 Gb/s' (got '3 GHz')
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from .check import warn_if_inconsistent
from .errors import SpecError, brief
from .spec import HardwareSpec
from .validate import apply_overrides, parse_set_options, validate_model
from .yaml_text import read_yaml_file

__all__ = ["LOCAL_CPU", "PRESET_DIR", "SpecError", "apply_overrides", "list_hardware", "load_hardware",
           "parse_set_options", "read_yaml", "validate_spec"]

PRESET_DIR = Path(__file__).parent / "presets"
LOCAL_CPU = "local-cpu"  # a spec generated from the machine we run on (hardware/local.py)
OVERLAY_KEYS = ("base", "overrides", "id", "name", "provenance", "description")


def list_hardware() -> list[str]:
    """Preset ids, sorted."""
    return sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))


def load_hardware(spec: str | Path | HardwareSpec) -> HardwareSpec:
    """A preset id ("h100-sxm"), a path to a YAML file, or a spec (returned as is)."""
    if isinstance(spec, HardwareSpec):
        return spec
    return _load(str(spec), folder=None, chain=())


def _load(text: str, folder: Path | None, chain: tuple[str, ...]) -> HardwareSpec:
    """`text` as a path (relative to `folder`, the overlay's folder, when given) or a preset id. `chain`: the
    files being loaded around this one (overlay bases), to refuse a cycle."""
    if not text.strip():  # Path("") is the working folder: it was reported as "<cwd>: file not found"
        raise SpecError("hardware", [("", "empty name; pass a preset id (accelscope hw list) or the path to a .yaml "
                                          "spec")])
    path = _as_path(text, folder)
    if path is not None:
        return _load_file(path.resolve(), chain)
    if (PRESET_DIR / f"{text}.yaml").is_file() and "/" not in text:
        return _load_preset(text) if not chain else _load_file(PRESET_DIR / f"{text}.yaml", chain)
    if text == LOCAL_CPU:
        return _load_local_cpu()
    raise SpecError(brief(text, 80).strip("'"), [("", f"no preset or file by that name; presets: "
                                                       f"{', '.join(list_hardware())}, or {LOCAL_CPU} for this "
                                                       "machine")])


def _as_path(text: str, folder: Path | None) -> Path | None:
    """The file `text` names, or None for a preset id."""
    path = Path(text).expanduser()
    if folder is not None and not path.is_absolute():
        path = folder / path
    looks_like_file = path.suffix in (".yaml", ".yml") or "/" in text or "\\" in text
    return path if looks_like_file or path.exists() else None


@lru_cache(maxsize=1)
def _load_local_cpu() -> HardwareSpec:
    from .local import local_cpu_spec_dict

    return validate_spec(local_cpu_spec_dict(), LOCAL_CPU, text=False)


@lru_cache(maxsize=64)
def _load_preset(preset_id: str) -> HardwareSpec:
    return _load_file(PRESET_DIR / f"{preset_id}.yaml", chain=())


def _load_file(path: Path, chain: tuple[str, ...]) -> HardwareSpec:
    origin = path.name if path.parent == PRESET_DIR else str(path)
    if path.is_dir():  # said "file not found", which sends the user looking for a missing file
        raise SpecError(origin, [("", "is a folder; pass a preset id or the path to a .yaml spec file")])
    if not path.is_file():
        raise SpecError(origin, [("", "file not found; pass a preset id or the path to a .yaml spec")])
    data = read_yaml(path, origin)
    spec = _load_overlay(data, origin, path, chain) if "base" in data else validate_spec(data, origin)
    warn_if_inconsistent(spec, origin)  # derived consistency checks: SpecWarning, never an error (hw check)
    return spec


def _load_overlay(data: dict[str, Any], origin: str, path: Path, chain: tuple[str, ...]) -> HardwareSpec:
    """An overlay: `base: <preset or path>` (a relative path is read from the overlay's folder), `overrides:
    {dotted.path: value}`, optional `id`, `name`, `description`, and a free-form `provenance` block (what a
    calibration was fitted on). Used for calibrated and derived specs."""
    unknown = sorted(str(key) for key in data if key not in OVERLAY_KEYS)
    if unknown:
        raise SpecError(origin, [(brief(unknown[0], 40).strip("'"), "unknown key in an overlay; expected "
                                                                   f"{', '.join(OVERLAY_KEYS)}")])
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise SpecError(origin, [("overrides", f"expected a mapping of dotted.path: value (got {brief(overrides)})")])
    for key in overrides:
        if not isinstance(key, str):
            raise SpecError(origin, [("overrides", f"keys are dotted.path strings like compute.clock (got "
                                                   f"{brief(key)})")])
    base = _overlay_base(data["base"], origin, path, chain)
    extra = {key: data[key] for key in ("id", "name", "description") if key in data}
    return apply_overrides(base, {**overrides, **extra}, origin=origin, text=True)


def _overlay_base(base: Any, origin: str, path: Path, chain: tuple[str, ...]) -> HardwareSpec:
    """The spec an overlay's `base:` names; a failure there names the overlay and the field `base`."""
    if not isinstance(base, str) or not base.strip():
        raise SpecError(origin, [("base", f"expected a preset id or a path to a .yaml spec (got {brief(base)})")])
    here = str(path)
    if here in chain:
        cycle = " -> ".join(Path(p).name for p in (*chain[chain.index(here):], here))
        raise SpecError(origin, [("base", f"overlays form a cycle ({cycle}); a spec cannot be its own base")])
    try:
        return _load(base.strip(), folder=path.parent, chain=(*chain, here))
    except SpecError as exc:
        if exc.problems and exc.problems[0][0] == "base":  # an overlay further down named its own bad base
            raise
        raise SpecError(origin, [("base", line) for line in str(exc).splitlines()]) from None


def read_yaml(path: Path, origin: str) -> dict[str, Any]:
    data = read_yaml_file(path, origin)
    if not isinstance(data, dict):
        raise SpecError(origin, [("", "expected a mapping of sections (id, name, compute, memory, ...) at the top")])
    return data


def validate_spec(data: dict[str, Any], origin: str, *, text: bool = True) -> HardwareSpec:
    """A spec from parsed data; `text` (the default, for files): physical quantities need their units."""
    return validate_model(HardwareSpec, data, origin, text=text)
