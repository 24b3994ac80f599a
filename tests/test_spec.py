"""Spec schema, loading, overrides and error messages."""

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import accelscope as acs
from accelscope.hardware import SpecError, list_hardware, load_hardware
from accelscope.hardware.loader import PRESET_DIR

REQUIRED_PRESETS = {"a100-sxm-80gb", "h100-sxm", "h800-sxm", "h200-sxm", "b200", "mi300x", "tpu-v5p"}


def test_h100_figures_are_stored_in_si():
    hw = load_hardware("h100-sxm")
    assert hw.matrix.peak["bf16"] == pytest.approx(989.4e12)
    assert hw.hbm_bandwidth == pytest.approx(3.35e12)
    assert hw.compute.cores == 132
    # FA3 sec. 3.2: 16 MUFU ops/SM/clock x 132 SMs x 1.83 GHz = 3.865 Tops/s of exp2
    assert hw.sfu_rate("exp2") == pytest.approx(16 * 132 * 1.83e9)
    # ridge point = 989.4e12 / 3.35e12 = 295.3 FLOP/B
    assert hw.ridge_point("bf16") == pytest.approx(295.34, rel=1e-3)


def test_spec_is_frozen():
    hw = load_hardware("h100-sxm")
    with pytest.raises(Exception, match="frozen"):
        hw.compute.cores = 1  # type: ignore[misc]


def test_with_overrides_returns_a_new_validated_spec():
    hw = load_hardware("h100-sxm")
    faster = hw.with_overrides({"memory.hbm.bandwidth": "6 TB/s", "matrix.peak.fp8_e4m3": "3 PFLOP/s"})
    assert faster.hbm_bandwidth == 6e12
    assert faster.matrix.peak["fp8_e4m3"] == 3e15
    assert hw.hbm_bandwidth == 3.35e12  # the original is untouched


def test_matrix_peak_falls_back_to_the_next_wider_path():
    hw = load_hardware("h100-sxm")  # no FP4 units on Hopper: FP4 weights run through the FP8 path
    assert hw.matrix_dtype("nvfp4") == "fp8_e4m3"
    assert hw.matrix_peak("int4") == hw.matrix.peak["int8"]


def test_presets_cover_the_required_chips():
    ids = set(list_hardware())
    assert ids >= REQUIRED_PRESETS, f"missing presets: {sorted(REQUIRED_PRESETS - ids)}"
    assert len(ids) >= 10


@pytest.mark.parametrize("preset", list_hardware())
def test_every_preset_loads_and_every_section_has_a_source(preset):
    hw = load_hardware(preset)
    assert hw.id == preset, "the file name is the preset id"
    sections = [hw.compute, hw.matrix, hw.vector, hw.sfu, *hw.memory.values(), hw.power, hw.physical, hw.cost,
                hw.runtime, hw.interconnect.scale_up, hw.interconnect.scale_out, hw.interconnect.host]
    for section in sections:
        if section is not None:
            assert section.has_source(), f"{preset}: section {type(section).__name__} has no source"


def _write(tmp_path: Path, data: object, name: str = "chip.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def _h100_dict() -> dict:
    return yaml.safe_load((PRESET_DIR / "h100-sxm.yaml").read_text())


def test_error_names_file_field_and_expected_form(tmp_path):
    data = _h100_dict()
    data["memory"]["hbm"]["bandwidth"] = "3.35 GHz"
    path = _write(tmp_path, data)
    with pytest.raises(SpecError) as err:
        load_hardware(path)
    message = str(err.value)
    assert "chip.yaml" in message
    assert "memory.hbm.bandwidth" in message
    assert "'3.35 TB/s'" in message  # the expected form


def test_unknown_field_is_rejected_with_its_path(tmp_path):
    data = _h100_dict()
    data["compute"]["clocks"] = "1 GHz"
    with pytest.raises(SpecError, match=r"compute\.clocks: unknown field.*valid fields here: .*clock, cores"):
        load_hardware(_write(tmp_path, data))


def test_malformed_yaml_reports_the_line(tmp_path):
    with pytest.raises(SpecError, match=r"line 2"):
        load_hardware(_write(tmp_path, "id: x\nname: a: b\nvendor: y\n"))


def test_missing_main_memory_is_explained(tmp_path):
    data = _h100_dict()
    del data["memory"]["hbm"]
    with pytest.raises(SpecError, match="kind: dram"):
        load_hardware(_write(tmp_path, data))


def test_unknown_preset_lists_the_presets():
    with pytest.raises(SpecError, match="h100-sxm"):
        load_hardware("h100-typo")


def test_override_of_a_missing_section_names_the_choices():
    with pytest.raises(SpecError, match=r"memory\.hbm3: no such section; choose from: .*hbm"):
        load_hardware("h100-sxm").with_overrides({"memory.hbm3.bandwidth": "1 TB/s"})


# Values no numeric field accepts: negative, words, wrong units, containers, empty.
BAD_VALUES = st.sampled_from([-1, -0.5, "lots", "3 parsecs", "1e999 TB/s", [1, 2], {"a": 1}, ""])


def _leaf_paths(node: object, prefix: tuple = ()) -> list[tuple]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaf_paths(v, (*prefix, k))]
    return [prefix]


def _is_numeric_leaf(path: tuple, value: object) -> bool:
    if "sources" in path or path[-1] in ("source", "year"):
        return False
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) or (isinstance(value, str) and value[:1].isdigit())




def _get(data: dict, path: tuple) -> object:
    for key in path:
        data = data[key]
    return data


LEAVES = [p for p in _leaf_paths(_h100_dict()) if _is_numeric_leaf(p, _get(_h100_dict(), p))]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(LEAVES), bad=BAD_VALUES)
def test_hypothesis_bad_specs_fail_with_a_located_message(tmp_path, path, bad):
    data = _h100_dict()
    parent = _get(data, path[:-1])
    parent[path[-1]] = copy.deepcopy(bad)  # type: ignore[index]
    file = _write(tmp_path, data)
    with pytest.raises(SpecError) as err:
        load_hardware(file)
    message = str(err.value)
    assert str(file) in message
    assert ".".join(map(str, path)) in message  # the exact field path


def test_numeric_leaves_cover_every_section():
    assert {p[0] for p in LEAVES} >= {"compute", "matrix", "vector", "sfu", "memory", "interconnect", "power",
                                     "physical", "cost", "runtime"}


def test_public_load_accepts_a_spec_object():
    hw = acs.load_hardware("h100-sxm")
    assert acs.load_hardware(hw) is hw


def test_dequantize_ops_is_one_value_per_matrix_path():
    from accelscope.hardware.loader import SpecError

    a100 = acs.load_hardware("a100-sxm-80gb")
    assert a100.with_overrides({"isa.dequantize_ops.bf16": 0.25}).dequantize_flops("bf16") == 0.5
    assert a100.dequantize_flops("fp32") == 2.0  # a path the preset does not list: one lane slot
    with pytest.raises(SpecError, match=r"isa\.dequantize_ops: give one value per matrix path.*bf16=1\.5"):
        a100.with_overrides({"isa.dequantize_ops": 0.25})


def test_narrow_ops_is_one_value_per_16_bit_float_format():
    """Only fp32 -> bf16/fp16 narrowing is read: another key would be ignored silently, so it is refused."""
    from accelscope.hardware.loader import SpecError

    mi300x = acs.load_hardware("mi300x")
    assert mi300x.isa.narrow_ops == {"bf16": 4.5}  # mi300x.yaml: gfx942 rounds fp32 to bf16 in 4.5 VALU slots
    with pytest.raises(SpecError, match=r"isa\.narrow_ops\.int8: expected a 16-bit float format"):
        mi300x.with_overrides({"isa.narrow_ops.int8": 2.0})
    with pytest.raises(SpecError, match=r"isa\.narrow_ops: give one value per 16-bit dtype.*narrow_ops\.bf16=1\.5"):
        mi300x.with_overrides({"isa.narrow_ops": 4.5})


# ----- issue 20: every bad input is one located SpecError -----------------------------------------------
BIG = 10**400  # a 401-digit integer: float() of it overflows


def _set(preset: str, *items: str) -> acs.HardwareSpec:
    """What the CLI does with --set: parse the text, then override."""
    return load_hardware(preset).with_overrides(acs.hardware.parse_set_options(list(items)))


def _file_error(tmp_path: Path, data: object) -> str:
    path = _write(tmp_path, data)
    with pytest.raises(SpecError) as err:
        load_hardware(path)
    assert str(path) in str(err.value)
    return str(err.value)


@pytest.mark.parametrize(("section", "field", "bare", "hint"), [
    ("compute", "clock", 1.8, "1.8 GHz"),
    ("compute", "clock", 1830, "1830 MHz"),
    ("compute", "clock", 1.83e9, "1.83 GHz"),  # already SI: say it with its unit
    ("runtime", "launch_latency", 2.5, "2.5 us"),
    ("power", "tdp", 700, "700 W"),
])
def test_bare_numbers_need_their_unit(tmp_path, section, field, bare, hint):
    data = _h100_dict()
    data[section][field] = bare
    message = _file_error(tmp_path, data)
    assert f"{section}.{field}: {bare!r} has no unit; write {hint}" in message


def test_bare_capacity_is_refused_not_read_as_bytes(tmp_path):
    data = _h100_dict()
    data["memory"]["hbm"]["capacity"] = 96
    assert "memory.hbm.capacity: 96 has no unit; write 96 GB" in _file_error(tmp_path, data)


def test_plain_number_fields_keep_plain_numbers():
    # counts, fractions and per-clock rates have no unit: the preset's plain numbers load as they are
    hw = load_hardware("h100-sxm")
    assert hw.compute.cores == 132 and hw.matrix.units_per_core == 4
    assert hw.interconnect.scale_up.efficiency == 0.824
    assert hw.sfu.ops_per_clock_per_core["exp2"] == 16
    assert hw.physical.transistors == 80.0e9  # YAML 1.2 float '80.0e9' (PyYAML alone reads it as a string)


def test_python_callers_may_still_pass_si_numbers():
    hw = load_hardware("h100-sxm").with_overrides({"compute.clock": 2e9, "runtime.launch_latency": 3e-6})
    assert hw.compute.clock == 2e9 and hw.runtime.launch_latency == 3e-6


@pytest.mark.parametrize(("items", "fragment"), [
    ((f"compute.clock={BIG}",), "compute.clock: <an integer of about 401 digits> has no unit"),
    ((f"compute.clock={BIG} Hz",), "compute.clock: expected a frequency like '1.83 GHz'"),  # not a number form
    (("compute.clock=1.8",), "compute.clock: 1.8 has no unit; write 1.8 GHz"),
    (("matrix.peak.int8=5e-324",), "matrix.peak.int8: 5e-324 has no unit, and no unit makes it plausible; "
                                   "write a compute rate from 1 GFLOP/s to 1e+21 FLOP/s"),
    (("matrix.peak.int8=5e-324 TOPS",), "matrix.peak.int8: '5e-324 TOPS' is out of range; expected a compute "
                                        "rate from 1 GFLOP/s to 1e+21 FLOP/s"),
    (("matrix.tile=[0,256,16]",), "matrix.tile.0: 0 is out of range; expected a whole number from 1 to 65536"),
    (("matrix.tile=[-64,256,16]",), "matrix.tile.0: -64 is out of range"),
    (("matrix.tile=[64,256]",), "matrix.tile: too few values: item 3 is missing"),
    (("matrix.tile=[64,256,16,8]",), "matrix.tile: Tuple should have at most 3 items after validation, not 4"),
    (("memory.hbm.bandwidth=1e-320",), "memory.hbm.bandwidth: 1e-320 has no unit, and no unit makes it plausible"),
    (("memory.hbm.bandwidth=1e-300 TB/s",), "'1e-300 TB/s' is out of range; expected a bandwidth from 1 MB/s to "
                                            "1e+18 B/s"),
    (("vector.peak.fp32=1e-320",), "vector.peak.fp32: 1e-320 has no unit, and no unit makes it plausible"),
    ((f"compute.cores={BIG}",), "compute.cores: <an integer of about 401 digits> is out of range; expected a "
                                "whole number from 1 to 1e+07"),
    (("compute.cores=1e30",), "compute.cores: expected a whole number from 1 to 1e+07 (got 1e+30)"),
    (("compute.cores='132.0'",), "compute.cores: expected a whole number from 1 to 1e+07 (got '132.0'); write "
                                 "132.0 without quotes"),
    (("compute.cores=132.0",), "(got 132.0); write 132"),
    (("year=false",), "year: expected a whole number from 1950 to 2100 (got False)"),
    (("matrix.async_overlap=1",), "matrix.async_overlap: Input should be a valid boolean (got 1)"),
    (("memory.hbm.bandwidth=.inf",), "memory.hbm.bandwidth: inf has no unit, and no unit makes it plausible"),
    (("memory.hbm.efficiency=.nan",), "memory.hbm.efficiency: nan is out of range; expected a number from 0.01 "
                                      "to 1"),
    (("matrix.efficiency.bf16=5e-324",), "matrix.efficiency.bf16: 5e-324 is out of range; expected a number from "
                                         "0.01 to 1"),  # found by the fuzz profile: an infinite GEMM time
    (("vector.peak={fp64: 37 TFLOP/s}",), "vector.peak.fp32: required"),  # fuzz: estimate raised ValueError
    (("interconnect.scale_up.torus_dims=[]",), "interconnect.scale_up.torus_dims: needs at least 1 item(s)"),
    (("compute.sustained_clock=2 GHz",), "compute.sustained_clock: 2 GHz is above compute.clock 1.83 GHz"),
    (("memory.l2.kind=dram",), "memory.hbm.kind: memory.l2 and memory.hbm are both kind: dram"),
    (("memory.smem.capacity=1 GB",), "memory.smem.capacity: 132 GB on chip (132 cores x 1 GB) is more than the "
                                     "main memory memory.hbm.capacity (85.52 GB)"),
    (("isa.emulation_ops.exp3=7",), "isa.emulation_ops.exp3: Input should be 'exp2'"),
    (("matrix.peak={}",), "matrix.peak: needs at least 1 item(s) (got {})"),
    (("matrix.efficiency.nvfp4=0.5",), "matrix.efficiency.nvfp4: no matrix.peak.nvfp4 to apply it to"),
    (("isa.dequantize_ops.fp32=1",), "isa.dequantize_ops.fp32: no matrix.peak.fp32"),
    (("compute.sources.clocks=typo",), "compute.sources.clocks: no field by that name in this section"),
    (("compute.clock={a: 1, a: 2}",), "--set: compute.clock (line 1, column 8): not valid YAML: key 'a' appears "
                                      "twice"),
])
def test_set_reproducers_give_one_located_message(items, fragment):
    with pytest.raises(SpecError) as err:
        _set("h100-sxm", *items)
    message = str(err.value)
    assert message.startswith(("--set (on h100-sxm): ", "--set: "))
    assert fragment in message
    assert len(message) < 600


def test_systolic_zero_on_tpu_is_refused():
    with pytest.raises(SpecError, match=r"--set \(on tpu-v5e\): matrix\.systolic\.1: 0 is out of range"):
        _set("tpu-v5e", "matrix.systolic=[128,0]")


def test_python_overrides_are_range_checked_too():
    with pytest.raises(SpecError, match=r"h100-sxm overrides: matrix\.peak\.int8: 5e-324 is out of range"):
        load_hardware("h100-sxm").with_overrides({"matrix.peak.int8": 5e-324})
    with pytest.raises(SpecError, match=r"compute\.clock: <an integer of about 401 digits> is out of range; "
                                        r"expected a frequency from 1 MHz to 100 GHz"):
        load_hardware("h100-sxm").with_overrides({"compute.clock": BIG})


def test_cli_reproducer_exits_2_with_the_message(capsys):
    from accelscope.cli.app import main

    with pytest.raises(SystemExit) as exit_:
        main(["hw", "show", "h100-sxm", "--set", f"compute.clock={BIG}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--set (on h100-sxm): compute.clock: <an integer of about 401 digits> has no unit" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("preset", list_hardware())
def test_every_preset_dumps_strict_json(preset):
    import json

    from accelscope.hardware.describe import derived_figures

    hw = load_hardware(preset)  # allow_nan=False: `hw show --json` never prints Infinity or NaN
    json.dumps({"spec": hw.model_dump(mode="json"), "derived": derived_figures(hw)}, allow_nan=False)


def test_duplicate_keys_name_the_key_and_both_lines(tmp_path):
    text = (PRESET_DIR / "h100-sxm.yaml").read_text().replace("  cores: 132\n", "  cores: 132\n  cores: 144\n")
    message = _file_error(tmp_path, text)
    first = text.splitlines().index("  cores: 132") + 1
    assert f"line {first + 1}, column 3: not valid YAML: key 'cores' appears twice (first on line {first})" in message


def test_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path):
    import time

    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]")
    bomb = "\n".join(lines) + "\n"
    assert len(bomb) < 500
    start = time.perf_counter()
    message = _file_error(tmp_path, bomb)
    assert time.perf_counter() - start < 2
    assert "expands to more than 100,000 values (aliases?)" in message and len(message) < 300


def test_recursive_alias_and_deep_nesting_are_refused(tmp_path):
    assert "alias *'x' refers to a value that contains it" in _file_error(tmp_path, "a: &x [*x]\n")
    deep = "a: " + "[" * 600 + "]" * 600 + "\n"
    assert "line 1: nested more than 32 levels deep" in _file_error(tmp_path, deep)


def test_deep_python_override_values_are_refused_without_recursion():
    deep: object = 1
    for _ in range(5000):
        deep = {"a": deep}
    looped: list = []
    looped.append(looped)
    for value in (deep, looped):
        with pytest.raises(SpecError, match=r"h100-sxm overrides: compute\.sources: value nested more than 32 levels"):
            load_hardware("h100-sxm").with_overrides({"compute.sources": value})


def test_big_files_are_refused_before_parsing(tmp_path):
    assert "file is larger than 1024 KiB" in _file_error(tmp_path, "# x\n" * 300_000)


def test_control_characters_in_keys_do_not_split_the_message():
    # found by the fuzz profile: a key '\x1e0' made str.splitlines() see two lines, one of them without a field
    with pytest.raises(SpecError) as err:
        load_hardware("h100-sxm").with_overrides({"\x1e0\nx": 1})
    assert str(err.value).startswith("h100-sxm overrides: \\x1e0\\nx: unknown field")
    assert len(str(err.value).splitlines()) == 1


def test_echoed_values_are_cut(tmp_path):
    data = _h100_dict()
    data["compute"]["clock"] = "9" * 5000
    message = _file_error(tmp_path, data)
    assert "compute.clock: expected a frequency" in message and len(message) < 300


# ----- overlays ---------------------------------------------------------------------------------------
def test_overlay_base_cycles_are_named(tmp_path):
    (tmp_path / "self.yaml").write_text("base: self.yaml\n")
    with pytest.raises(SpecError, match=r"self\.yaml: base: overlays form a cycle \(self\.yaml -> self\.yaml\)"):
        load_hardware(tmp_path / "self.yaml")
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text("base: sub/b.yaml\n")
    (tmp_path / "sub" / "b.yaml").write_text("base: ../a.yaml\n")
    with pytest.raises(SpecError, match=r"a\.yaml: base: overlays form a cycle \(a\.yaml -> b\.yaml -> a\.yaml\)"):
        load_hardware(tmp_path / "a.yaml")


def test_overlay_override_keys_must_be_dotted_strings(tmp_path):
    path = _write(tmp_path, "base: h100-sxm\noverrides: {1: 2}\n")
    with pytest.raises(SpecError, match=r"chip\.yaml: overrides: keys are dotted\.path strings like compute\.clock "
                                        r"\(got 1\)"):
        load_hardware(path)


def test_overlay_bad_base_names_the_overlay_and_the_field(tmp_path):
    path = _write(tmp_path, "base: h100-typo\n")
    with pytest.raises(SpecError, match=rf"{path}: base: h100-typo: no preset or file by that name"):
        load_hardware(path)
    broken = _h100_dict()
    broken["compute"]["clock"] = 1.83
    _write(tmp_path, broken, "broken.yaml")
    path = _write(tmp_path, "base: broken.yaml\n", "over.yaml")
    with pytest.raises(SpecError, match=rf"over\.yaml: base: {tmp_path}/broken\.yaml: compute\.clock: 1\.83 has "
                                        "no unit; write 1.83 GHz"):
        load_hardware(path)


def test_overlay_relative_base_is_read_from_the_overlay_folder(tmp_path, monkeypatch):
    folder = tmp_path / "specs"
    folder.mkdir()
    plain = _h100_dict()
    plain["id"] = "my-chip"
    _write(folder, plain, "my-chip.yaml")
    overlay = _write(folder, "base: my-chip.yaml\noverrides: {compute.clock: 2 GHz}\n", "faster.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    hw = load_hardware(overlay)
    assert hw.id == "my-chip" and hw.compute.clock == 2e9


def test_overlay_values_need_units_and_calibrate_writes_them(tmp_path):
    from accelscope.hardware.validate import overrides_as_text

    path = _write(tmp_path, "base: h100-sxm\noverrides: {runtime.launch_latency: 1.2e-05}\n")
    with pytest.raises(SpecError, match=r"runtime\.launch_latency: 1\.2e-05 has no unit; write 12 µs"):
        load_hardware(path)
    hw = load_hardware("h100-sxm")
    text = overrides_as_text(hw, {"runtime.launch_latency": 1.234567e-5, "memory.hbm.efficiency": 0.9})
    assert text == {"runtime.launch_latency": "1.234567e-05 s", "memory.hbm.efficiency": 0.9}
    loaded = load_hardware(_write(tmp_path, {"base": "h100-sxm", "overrides": text}, "cal.yaml"))
    assert loaded.runtime.launch_latency == 1.234567e-5  # exact: SI text round-trips


# ----- module structure and schema ----------------------------------------------------------------------
def _hardware_imports() -> dict[str, set[str]]:
    """Module -> the hardware modules it imports, anywhere in it (function-local imports too, so a circle cannot
    hide in one), except under `if TYPE_CHECKING:`."""
    import ast

    folder = Path(acs.hardware.__file__).parent
    graph: dict[str, set[str]] = {}
    for file in folder.glob("*.py"):
        tree = ast.parse(file.read_text())
        skip = {id(node) for stmt in ast.walk(tree) if isinstance(stmt, ast.If)
                and getattr(stmt.test, "id", "") == "TYPE_CHECKING" for node in ast.walk(stmt)}
        graph[file.stem] = {node.module.split(".")[0] for node in ast.walk(tree)
                            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
                            and id(node) not in skip}
    return graph


def test_hardware_modules_import_without_a_circle():
    graph = _hardware_imports()
    assert graph["spec"] >= {"describe", "validate", "errors"}  # describe at the top, not inside summary()
    assert "spec" not in graph["validate"] | graph["errors"] | graph["describe"] | graph["yaml_text"]

    def reaches(start: str, goal: str, seen: frozenset = frozenset()) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph.get(start, ()))

    circles = [name for name in graph if name != "__init__" and reaches(name, name)]
    assert not circles, f"import circles through {circles}"


def _schema_properties(schema: dict) -> list[tuple[str, dict]]:
    out = [(f"HardwareSpec.{k}", v) for k, v in schema["properties"].items()]
    for name, definition in schema["$defs"].items():
        out += [(f"{name}.{k}", v) for k, v in definition.get("properties", {}).items()]
    return out


def test_hw_schema_describes_every_field_with_its_unit():
    import json

    from typer.testing import CliRunner

    from accelscope.cli.app import app

    result = CliRunner().invoke(app, ["hw", "schema"])
    assert result.exit_code == 0
    properties = _schema_properties(json.loads(result.output))
    assert len(properties) > 80
    undocumented = [name for name, prop in properties if len(prop.get("description", "")) < 10]
    assert not undocumented
    clock = dict(properties)["Compute.clock"]
    assert clock["unit"] == "Hz" and "in Hz; YAML takes '1.83 GHz'" in clock["description"]
    assert clock["range"] == "1 MHz to 100 GHz"
    # every physical quantity's description says its unit
    for name, prop in properties:
        variants = prop.get("anyOf", [prop])
        unit = next((v["unit"] for v in variants if "unit" in v), None)
        if unit:
            assert f"in {unit}; YAML takes" in prop["description"], name


def test_a_far_partition_cannot_be_quicker_than_the_near_one():
    """b200's L2: 150 ns near, 260 ns far; a far_latency below the near one, or without one, is refused at its
    field."""
    with pytest.raises(SpecError, match=r"memory\.l2\.far_latency: a round trip to the other partition"):
        load_hardware("b200").with_overrides({"memory.l2.far_latency": "100 ns"})
    with pytest.raises(SpecError, match=r"memory\.l2\.far_latency: .*give `latency` too"):
        load_hardware("b200").with_overrides({"memory.l2.latency": None})
