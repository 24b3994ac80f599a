"""Spec data -> a validated model, every failure as one located `SpecError`; dotted overrides and `--set`.

This module never imports the schema: the model class comes in as an argument (or as `type(spec)`), so that
spec.py can import it for `HardwareSpec.with_overrides` without an import circle.
"""

from __future__ import annotations

import copy
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import FieldProblem, SpecError, brief
from .yaml_text import MAX_DEPTH, MAX_VALUES, load_yaml

Model = TypeVar("Model", bound=BaseModel)


class SetOptions(dict[str, Any]):
    """Overrides parsed from CLI `--set` text: `with_overrides` then requires units and names `--set`."""


def validate_model(model: type[Model], data: Any, origin: str, *, text: bool = False) -> Model:
    """`model` validated from `data`. `text`: the data is what a person typed (YAML, --set), so a physical
    quantity needs its unit; Python callers may pass SI numbers."""
    try:
        return model.model_validate(data, context={"text": text})
    except ValidationError as exc:
        raise SpecError(origin, [describe_error(model, error) for error in exc.errors()]) from None


def describe_error(model: type[BaseModel], error: Any) -> tuple[str, str]:
    """(dotted field path, message with the fix) for one pydantic error."""
    loc = [str(part) for part in error["loc"] if part != "[key]"]
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ")
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldProblem):  # a cross-field check names the field below its model
        loc.append(cause.field)
    if kind == "extra_forbidden":
        valid = fields_at(model, tuple(error["loc"][:-1]))
        hint = f"; valid fields here: {', '.join(valid)}" if valid else ""
        message = f"unknown field; remove it or fix its spelling{hint}"
    elif kind == "missing" and isinstance(error["loc"][-1], int):  # a tuple given too few values
        loc.pop()
        message = f"too few values: item {error['loc'][-1] + 1} is missing"
    elif kind == "missing":
        message = "required field is missing"
    elif kind == "too_short":
        message = f"needs at least {error['ctx']['min_length']} item(s) (got {brief(error.get('input'))})"
    elif "[key]" in error["loc"]:
        message = f"{message} as a key (got {brief(error.get('input'))})"
    elif "input" in error and kind != "value_error" and not isinstance(error["input"], dict):
        message = f"{message} (got {brief(error['input'])})"
    return ".".join(loc), message


def fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names the schema allows at a location (walking models, dict values and optional sections)."""
    node: Any = model
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
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


# ----- dotted overrides -------------------------------------------------------------------------------
def apply_overrides(spec: Model, overrides: dict[Any, Any], origin: str, *, text: bool = False) -> Model:
    """A new validated spec with each dotted path set to its value; unit strings are parsed as usual.

    `text`: the values are what a person typed (an overlay file, `--set`), so a bare number where a unit belongs
    is an error; the spec's own values are then passed as exact SI text ('1830000000.0 Hz') to pass that check."""
    if not isinstance(overrides, dict):
        raise SpecError(origin, [("", f"expected a mapping of dotted.path: value (got {brief(overrides)})")])
    data = spec.model_dump(exclude_none=True, context={"units": True} if text else None)
    for dotted, value in overrides.items():
        parts = _dotted_parts(dotted, origin)
        if _too_big(value):  # a Python value YAML's limits never saw: deepcopy and pydantic would recurse on it
            raise SpecError(origin, [(dotted, f"value nested more than {MAX_DEPTH} levels deep or holding more than "
                                              f"{MAX_VALUES:,} values; a spec needs about 5 levels")])
        _set_path(data, parts, value, origin)
    out = validate_model(type(spec), data, origin, text=text)
    if "id" not in overrides and hasattr(out, "_overrides"):
        # a new id is a new design; else results name what changed next to the id (HardwareSpec.overrides)
        out._overrides = {**getattr(spec, "_overrides", {}), **copy.deepcopy(dict(overrides))}
    return out


def _too_big(value: Any) -> bool:
    """Deeper than MAX_DEPTH or larger than MAX_VALUES (walked without recursion; a self-containing list is deep)."""
    stack, count = [(value, 0)], 0
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, dict | list | tuple):
            continue
        count += 1
        if depth >= MAX_DEPTH or count > MAX_VALUES:
            return True
        stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


def _dotted_parts(dotted: Any, origin: str) -> list[str]:
    parts = dotted.split(".") if isinstance(dotted, str) else []
    if not parts or not all(part.strip() for part in parts):
        raise SpecError(origin, [(brief(dotted), "override keys are dotted.path strings, e.g. "
                                                 "memory.hbm.bandwidth or compute.clock")])
    return parts


def _set_path(data: dict[str, Any], parts: list[str], value: Any, origin: str) -> None:
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        if not isinstance(node, dict) or part not in node:
            known = ", ".join(node) if isinstance(node, dict) else "(a value, not a section)"
            where = ".".join(parts[: depth + 1])
            raise SpecError(origin, [(where, f"no such section; choose from: {known}")])
        node = node[part]
    if not isinstance(node, dict):
        raise SpecError(origin, [(".".join(parts), "parent is a value, not a section")])
    node[parts[-1]] = copy.deepcopy(value)


def parse_set_options(items: list[str], option: str = "--set") -> SetOptions:
    """CLI `--set a.b=value` strings -> overrides; values are YAML ("6TB/s", "false", "8", "[64, 256, 16]"), read
    with the same limits as a spec file (duplicate keys, depth, alias expansion). `option` names the CLI option in
    messages."""
    out = SetOptions()
    given: dict[str, str] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(option, [(brief(item), "expected dotted.path=value, e.g. memory.hbm.bandwidth=6TB/s")])
        if key.strip() in given:  # the last one silently won: `--set x=6TB/s --set x=3TB/s` ran at 3 TB/s
            raise SpecError(option, [(brief(key.strip()), f"given twice ({brief(given[key.strip()])}, then "
                                                          f"{brief(raw)}); keep one")])
        given[key.strip()] = raw
        out[key.strip()] = load_yaml(raw, option, field=key.strip(), lenient=True)
    return out


def overrides_as_text(spec: BaseModel, overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` (SI numbers from Python) as an overlay file writes them: physical quantities as exact SI text
    ('1.2e-05 s'), so that loading the file back passes the units check; plain numbers stay numbers."""
    applied = apply_overrides(spec, overrides, origin=f"{getattr(spec, 'id', 'spec')} overrides")
    dumped: Any = applied.model_dump(context={"units": True})
    out = {}
    for dotted in overrides:
        node = dumped
        for part in dotted.split("."):
            node = node[part]
        out[dotted] = node
    return out
