"""Load specs from presets or files, apply dotted overrides, and turn every failure into a `SpecError`.

A `SpecError` names the file, the field path and the expected form, e.g.
    h100.yaml: memory.hbm.bandwidth: expected a bandwidth like '3.35 TB/s' or '400 Gb/s' (got '3 GHz')
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .check import warn_if_inconsistent
from .spec import HardwareSpec

PRESET_DIR = Path(__file__).parent / "presets"
LOCAL_CPU = "local-cpu"  # a spec generated from the machine we run on (hardware/local.py)
# libyaml's parser when PyYAML has it: 9x faster than the pure-Python one (`hw list` parses every preset)
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SpecError(ValueError):
    """A hardware spec (file, preset or override) that cannot be used, with where and how to fix it."""

    def __init__(self, origin: str, problems: list[tuple[str, str]]):
        self.origin = origin
        self.problems = problems
        lines = [f"{origin}: {path}: {message}" if path else f"{origin}: {message}" for path, message in problems]
        super().__init__("\n".join(lines))


def list_hardware() -> list[str]:
    """Preset ids, sorted."""
    return sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))


def load_hardware(spec: str | Path | HardwareSpec) -> HardwareSpec:
    """A preset id ("h100-sxm"), a path to a YAML file, or a spec (returned as is)."""
    if isinstance(spec, HardwareSpec):
        return spec
    text = str(spec)
    path = Path(text).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists():
        return _load_file(path.resolve())
    if (PRESET_DIR / f"{text}.yaml").exists():
        return _load_preset(text)
    if text == LOCAL_CPU:
        return _load_local_cpu()
    raise SpecError(text, [("", f"no preset or file by that name; presets: {', '.join(list_hardware())}, "
                                f"or {LOCAL_CPU} for this machine")])


@lru_cache(maxsize=1)
def _load_local_cpu() -> HardwareSpec:
    from .local import local_cpu_spec_dict

    return validate_spec(local_cpu_spec_dict(), LOCAL_CPU)


@lru_cache(maxsize=64)
def _load_preset(preset_id: str) -> HardwareSpec:
    return _load_file(PRESET_DIR / f"{preset_id}.yaml")


def _load_file(path: Path) -> HardwareSpec:
    origin = path.name if path.parent == PRESET_DIR else str(path)
    if not path.is_file():
        raise SpecError(origin, [("", "file not found; pass a preset id or the path to a .yaml spec")])
    data = read_yaml(path, origin)
    spec = _load_overlay(data, origin) if "base" in data else validate_spec(data, origin)
    warn_if_inconsistent(spec, origin)  # derived consistency checks: SpecWarning, never an error (hw check)
    return spec


def _load_overlay(data: dict[str, Any], origin: str) -> HardwareSpec:
    """An overlay: `base: <preset or path>`, `overrides: {dotted.path: value}`, optional `id`, `name`, and a
    free-form `provenance` block (what a calibration was fitted on). Used for calibrated and derived specs."""
    unknown = set(data) - {"base", "overrides", "id", "name", "provenance", "description"}
    if unknown:
        raise SpecError(origin, [(sorted(unknown)[0], "unknown key in an overlay; expected base, overrides, id, name, "
                                                      "provenance, description")])
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise SpecError(origin, [("overrides", "expected a mapping of dotted.path: value")])
    base = load_hardware(str(data["base"]))
    extra = {key: data[key] for key in ("id", "name", "description") if key in data}
    return apply_overrides(base, {**overrides, **extra}, origin=origin)


def read_yaml(path: Path, origin: str) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(), Loader=YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        raise SpecError(origin, [(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(origin, [("", f"cannot read the file: {exc}")]) from None
    if not isinstance(data, dict):
        raise SpecError(origin, [("", "expected a mapping of sections (id, name, compute, memory, ...) at the top")])
    return data


def validate_spec(data: dict[str, Any], origin: str) -> HardwareSpec:
    try:
        return HardwareSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(origin, [_describe(error) for error in exc.errors()]) from None


def _describe(error: Any) -> tuple[str, str]:
    path = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ")
    if kind == "extra_forbidden":
        valid = _fields_at(error["loc"][:-1])
        hint = f"; valid fields here: {', '.join(valid)}" if valid else ""
        message = f"unknown field; remove it or fix its spelling{hint}"
    elif kind == "missing":
        message = "required field is missing"
    elif "input" in error and kind != "value_error" and not isinstance(error["input"], dict):
        message = f"{message} (got {error['input']!r})"
    return path, message


def _fields_at(loc: tuple) -> list[str]:
    """Field names the schema allows at a location (walking models, dict values and optional sections)."""
    import typing

    from pydantic import BaseModel

    node: Any = HardwareSpec
    for part in loc:
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = node.model_fields.get(str(part))
            if field is None:
                return []
            node = field.annotation
        elif typing.get_origin(node) is dict:
            node = typing.get_args(node)[1]
        node = _unwrap_optional(node)
    return list(node.model_fields) if isinstance(node, type) and issubclass(node, BaseModel) else []


def _unwrap_optional(annotation: Any) -> Any:
    import types
    import typing

    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


# ----- dotted overrides -------------------------------------------------------------------------------
def apply_overrides(spec: HardwareSpec, overrides: dict[str, Any], origin: str | None = None) -> HardwareSpec:
    """A new validated spec with each dotted path set to its value; unit strings are parsed as usual."""
    data = spec.model_dump(exclude_none=True)
    for dotted, value in overrides.items():
        _set_path(data, dotted, value, origin or f"{spec.id} --set")
    out = validate_spec(data, origin or f"{spec.id} --set")
    if "id" not in overrides:  # a new id is a new design; else results name what changed next to the id
        out._overrides = {**spec.overrides, **copy.deepcopy(overrides)}
    return out


def _set_path(data: dict[str, Any], dotted: str, value: Any, origin: str) -> None:
    parts = dotted.split(".")
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            known = ", ".join(node) if isinstance(node, dict) else "(a value, not a section)"
            where = ".".join(parts[: depth + 1])
            raise SpecError(origin, [(where, f"no such section; choose from: {known}")])
        node = node[part]
    if not isinstance(node, dict):
        raise SpecError(origin, [(dotted, "parent is a value, not a section")])
    node[parts[-1]] = copy.deepcopy(value)


def parse_set_options(items: list[str]) -> dict[str, Any]:
    """CLI `--set a.b=value` strings -> overrides dict; values are YAML scalars ("6TB/s", "false", "8")."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SpecError("--set", [(item, "expected dotted.path=value, e.g. memory.hbm.bandwidth=6TB/s")])
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out
