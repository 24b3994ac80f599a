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
