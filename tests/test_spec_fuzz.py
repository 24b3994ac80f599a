"""Generated bad hardware specs: mutated presets, from a file and through `--set`.

The invariant (issue 20): loading either succeeds with a spec whose every number is finite and within its field's
range (and whose derived figures and roofline and analytical GEMM estimates are finite), or raises `SpecError` whose message names the
origin and a location (a field path or a YAML line). Never another exception, never a huge message.
`make fuzz` (HYPOTHESIS_PROFILE=fuzz) runs thousands of cases per test; the normal suite a few dozen each.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import accelscope as acs
from accelscope.hardware import SpecError, list_hardware, load_hardware, parse_set_options
from accelscope.hardware.describe import derived_figures
from accelscope.hardware.loader import PRESET_DIR
from accelscope.perf.estimate import estimate

from .conftest import fuzz_examples

pytestmark = pytest.mark.fuzz

PRESETS = list_hardware()
_TEXTS = {preset: (PRESET_DIR / f"{preset}.yaml").read_text() for preset in PRESETS}
MAX_MESSAGE = 4000  # 20 problems of ~200 characters at most


def _data(preset: str) -> dict[str, Any]:
    return yaml.safe_load(_TEXTS[preset].replace("80.0e9", "80.0e+9"))  # PyYAML 1.1 reads 80.0e9 as text


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in the document (sections and leaves)."""
    if isinstance(node, dict):
        out = []
        for key, value in node.items():
            out.append((*prefix, key))
            out += _paths(value, (*prefix, key))
        return out
    return []


PATHS = {preset: _paths(_data(preset)) for preset in PRESETS}
UNITS = ["GHz", "MHz", "Hz", "TB/s", "GB/s", "Gb/s", "B/s", "MiB", "GB", "KiB", "B", "TFLOP/s", "TOPS", "us", "ns",
         "s", "W", "mm^2", "USD", "parsecs", ""]

# Values no field should take silently, and some it should: the invariant decides, not a list of expectations.
NUMBERS = st.one_of(
    st.integers(min_value=-3, max_value=3), st.just(10**400), st.just(-(10**30)), st.just(2**63),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([5e-324, 1e-320, 1e300, 1e30, 0.0, -0.0, 132.0]),
)
SCALARS = st.one_of(
    NUMBERS, st.booleans(), st.none(),
    st.sampled_from(["", " ", "lots", "1.8", "'132.0'", "nan GHz", "inf TB/s", "1e999 TB/s", "-5 GB", "0x10",
                     "[/oops]", "9" * 500, "gpu", "dram", "core", "bf16", "exp2", "nccl", "torus"]),
    st.builds(lambda n, u: f"{n:g} {u}", st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(UNITS)),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=6),
                                                                                   st.integers()), inner,
                                                                         max_size=3)),
    max_leaves=6,
)


@st.composite
def mutated_spec(draw: st.DrawFn) -> tuple[str, Any]:
    """(preset, document) with one to three structural mutations."""
    preset = draw(st.sampled_from(PRESETS))
    data = _data(preset)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(PATHS[preset]))
        parent = _get(data, path[:-1])
        if not isinstance(parent, dict):
            continue
        action = draw(st.sampled_from(["delete", "replace", "strip_unit", "unknown_key", "empty", "negate"]))
        key = path[-1]
        if action == "delete":
            parent.pop(key, None)
        elif action == "replace":
            parent[key] = draw(VALUES)
        elif action == "strip_unit" and isinstance(parent.get(key), str):
            parent[key] = _strip_unit(parent[key])
        elif action == "unknown_key":
            parent[draw(st.sampled_from(["clocks", "capcity", "peaks", "1", "sources"]))] = draw(SCALARS)
        elif action == "empty":
            parent[key] = draw(st.sampled_from([[], {}, ""]))
        elif action == "negate" and isinstance(parent.get(key), int | float | list):
            value = parent[key]
            parent[key] = [-v for v in value if isinstance(v, int)] if isinstance(value, list) else -value
    return preset, data


def _get(data: Any, path: tuple) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _strip_unit(text: str) -> Any:
    number = text.split()[0] if text.split() else text
    try:
        return float(number)
    except ValueError:
        return text


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    """YAML text of a mutated spec, possibly damaged as text: a key twice, cut short, an alias bomb, deep nesting."""
    _, data = draw(mutated_spec())
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    damage = draw(st.sampled_from(["none", "duplicate", "truncate", "bomb", "deep", "tabs", "recursive", "junk"]))
    lines = text.splitlines()
    if damage == "duplicate" and lines:
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        lines.insert(index, lines[index])
    elif damage == "truncate":
        return text[: draw(st.integers(min_value=0, max_value=len(text)))]
    elif damage == "bomb":
        depth = draw(st.integers(min_value=2, max_value=9))
        lines += ['lol0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        lines += [f"lol{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, depth)]
    elif damage == "deep":
        depth = draw(st.integers(min_value=20, max_value=700))
        lines.append("deep: " + "[" * depth + "]" * depth)
    elif damage == "tabs" and lines:
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        lines[index] = "\t" + lines[index]
    elif damage == "recursive":
        lines.append("loop: &loop [*loop]")
    elif damage == "junk":
        lines.insert(draw(st.integers(min_value=0, max_value=len(lines))),
                     draw(st.sampled_from(["{", "]", ": :", "- x", "? [1]\n: 2", "&a", "*nope", "%YAML 1.1"])))
    return "\n".join(lines) + "\n"


def _check_spec(hw: acs.HardwareSpec) -> None:
    """A spec that loaded: every number finite, strict JSON, derived figures and a roofline estimate finite."""
    dumped = hw.model_dump(mode="json")
    json.dumps({"spec": dumped, "derived": derived_figures(hw)}, allow_nan=False)
    for value in _numbers(dumped):
        assert math.isfinite(value)
    if hw.matrix_dtype("bf16") is None:  # an int8-only chip is legal; a bf16 GEMM on it is refused, by name
        with pytest.raises(ValueError, match=f"{hw.id}: no matrix peak for bf16"):
            hw.matrix_peak("bf16")
        return
    for level in ("roofline", "analytical"):  # the reproducers failed downstream: ZeroDivision, Overflow
        est = estimate(acs.ops.Gemm(m=256, n=256, k=256, dtype="bf16"), hw, level=level)
        assert math.isfinite(est.seconds) and est.seconds > 0


def _numbers(node: Any) -> list[float]:
    if isinstance(node, dict):
        return [x for value in node.values() for x in _numbers(value)]
    if isinstance(node, list):
        return [x for value in node for x in _numbers(value)]
    return [node] if isinstance(node, int | float) and not isinstance(node, bool) else []


def _check_error(exc: SpecError, origin: str) -> None:
    """One located message: the origin first, then a field path or a YAML line, then what to do."""
    message = str(exc)
    assert message.startswith(origin), message[:300]
    assert len(message) < MAX_MESSAGE
    for line in message.splitlines():
        rest = line.removeprefix(origin).removeprefix(": ")
        assert rest.strip(), line
    assert exc.problems and all(isinstance(path, str) and isinstance(text, str) for path, text in exc.problems)


def _load_checked(load: Any, origin: str) -> None:
    try:
        hw = load()
    except SpecError as exc:
        _check_error(exc, origin)
        return
    _check_spec(hw)


FILE_SETTINGS = settings(max_examples=fuzz_examples(ci=60), deadline=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FILE_SETTINGS
@given(case=mutated_spec())
def test_mutated_spec_files_load_or_fail_located(tmp_path_factory: pytest.TempPathFactory, case: tuple) -> None:
    _, data = case
    path = tmp_path_factory.mktemp("spec") / "chip.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    _load_checked(lambda: load_hardware(path), str(path))


@FILE_SETTINGS
@given(text=mutated_text())
def test_damaged_yaml_text_loads_or_fails_located(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("spec") / "chip.yaml"
    path.write_text(text)
    _load_checked(lambda: load_hardware(path), str(path))


SET_TEXTS = st.one_of(
    st.builds(lambda v: json.dumps(v) if not isinstance(v, str) else v,
              SCALARS.filter(lambda v: not (isinstance(v, float) and not math.isfinite(v)))),
    st.sampled_from([".inf", "-.inf", ".nan", "[]", "[-1,-1]", "[128,0]", "[0,256,16]", "{}", "{1: 2}", "false",
                     "'132.0'", "{a: 1, a: 2}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
                     "&a [*a]", "a: b: c", "1.8", "3 GHz", "6TB/s", "5e-324", str(10**400), "!!python/object:os.system"]),
    st.text(max_size=12),
)


@st.composite
def set_option(draw: st.DrawFn) -> tuple[str, str]:
    """(preset, 'dotted.path=value') for a real path of the preset, or a near miss."""
    preset = draw(st.sampled_from(PRESETS))
    path = ".".join(map(str, draw(st.sampled_from(PATHS[preset]))))
    if draw(st.integers(min_value=0, max_value=9)) == 0:  # one in ten: a misspelled or malformed path
        path = draw(st.sampled_from([path + "x", path + ".", "." + path, path.replace(".", ".."), "=" + path]))
    return preset, f"{path}={draw(SET_TEXTS)}"


@settings(max_examples=fuzz_examples(ci=120), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=set_option())
def test_set_options_apply_or_fail_located(case: tuple[str, str]) -> None:
    preset, item = case

    def load() -> acs.HardwareSpec:
        return load_hardware(preset).with_overrides(parse_set_options([item]))

    _load_checked(load, "--set")


@settings(max_examples=fuzz_examples(ci=40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(preset=st.sampled_from(PRESETS), path=st.text(max_size=30), value=VALUES)
def test_python_overrides_apply_or_fail_located(preset: str, path: str, value: Any) -> None:
    """`with_overrides` from Python (SI numbers allowed): any key, any value."""
    hw = load_hardware(preset)
    _load_checked(lambda: hw.with_overrides({path: copy.deepcopy(value)}), f"{preset} overrides")


def test_generated_cases_reach_both_outcomes(tmp_path: Path) -> None:
    """The strategies are not all-bad: an untouched preset written back loads, a stripped unit fails."""
    data = _data("h100-sxm")
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(data))
    _check_spec(load_hardware(path))
    data["compute"]["clock"] = _strip_unit(data["compute"]["clock"])
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=r"compute\.clock: 1\.83 has no unit; write 1\.83 GHz"):
        load_hardware(path)
