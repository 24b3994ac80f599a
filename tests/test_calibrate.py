"""Calibration recovers known physical parameters and refuses anything that is not a spec field."""

import pytest
import yaml

import accelscope as acs
from accelscope.measure import MeasuredRow
from accelscope.measure.calibrate import calibrate, resolve_fields
from accelscope.workload import Gemm

SHAPES = [(16, 22016, 4096), (64, 8192, 8192), (512, 4096, 4096), (4096, 4096, 4096), (8192, 8192, 8192),
          (2048, 28672, 8192), (1, 16384, 16384), (256, 1024, 65536)]


def _rows_from(spec: acs.HardwareSpec) -> list[MeasuredRow]:
    """'Measurements' made by the analytical model on a known variant of the chip."""
    rows = []
    for i, (m, n, k) in enumerate(SHAPES):
        seconds = acs.estimate(Gemm(m, n, k), spec, level="analytical").seconds
        rows.append(MeasuredRow(id=f"SYN-{i}", hardware="NVIDIA H100 SXM5 80GB", category="gemm", op="matmul",
                                dtype="bf16", shape={"M": m, "N": n, "K": k}, metric="time", value=seconds * 1e3,
                                unit="ms"))
    return rows


def test_calibration_recovers_the_clock_under_load_and_memory_efficiency():
    # an L2 fast enough that large GEMMs are compute-bound, so the clock is identifiable from the rows
    base = acs.load_hardware("h100-sxm").with_overrides({"memory.l2.bandwidth": "12 TB/s"})
    truth = base.with_overrides({"compute.sustained_clock": "1.6 GHz", "memory.hbm.efficiency": 0.85})
    result = calibrate(_rows_from(truth), base, ["compute.sustained_clock", "memory.hbm.efficiency"], folds=2)
    assert result.overrides["compute.sustained_clock"] == pytest.approx(1.6e9, rel=0.03)
    assert result.overrides["memory.hbm.efficiency"] == pytest.approx(0.85, rel=0.03)
    assert result.cv_error < 0.02 < result.baseline_error


def test_calibration_refuses_fields_that_are_not_in_the_spec():
    hw = acs.load_hardware("h100-sxm")
    with pytest.raises(ValueError, match="not a named field"):
        resolve_fields(hw, ["matrix.fudge_factor"])
    with pytest.raises(ValueError, match="not numeric"):
        resolve_fields(hw, ["interconnect.scale_up.topology"])


def test_overlay_round_trips_through_load_hardware(tmp_path):
    truth = acs.load_hardware("h100-sxm").with_overrides({"memory.hbm.efficiency": 0.8})
    result = calibrate(_rows_from(truth)[:4], "h100-sxm", ["memory.hbm.efficiency"], folds=2)
    path = result.write(tmp_path / "h100-cal.yaml", command="test")
    overlay = yaml.safe_load(path.read_text())
    assert overlay["base"] == "h100-sxm" and overlay["provenance"]["rows"]
    calibrated = acs.load_hardware(path)
    assert calibrated.id == "h100-sxm-calibrated"
    assert calibrated.main_memory.efficiency == pytest.approx(result.overrides["memory.hbm.efficiency"])


def test_overlay_errors_are_located(tmp_path):
    bad = tmp_path / "o.yaml"
    bad.write_text("base: h100-sxm\noverrides: {memory.hbm.bandwidth: 3 GHz}\n")
    with pytest.raises(acs.SpecError, match=r"o\.yaml: memory\.hbm\.bandwidth"):
        acs.load_hardware(bad)


def test_default_fields_are_the_ones_the_model_uses():
    import accelscope as acs
    from accelscope.measure.calibrate import resolve_fields

    h100 = resolve_fields(acs.load_hardware("h100-sxm"), None)  # NCCL's cost model prices its NVLink collectives
    assert "interconnect.scale_up.latency" not in h100 and "interconnect.scale_up.nvls_efficiency" in h100
    a100 = resolve_fields(acs.load_hardware("a100-sxm-80gb"), None)  # NCCL, no NVLS
    assert not any(f.startswith("interconnect.scale_up.") and "efficiency" not in f for f in a100)
    assert "interconnect.scale_up.nvls_efficiency" not in a100
    assert "interconnect.scale_up.latency" in resolve_fields(acs.load_hardware("mi300x"), None)  # alpha-beta
