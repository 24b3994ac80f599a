"""The cross-chip constants: shipped values equal the fit, and chips left out of the fit are predicted well."""

import statistics

import pytest

from accelscope.hardware import load_hardware
from accelscope.hardware import spec as spec_module
from accelscope.measure.dataset import load_rows
from accelscope.measure.globalfit import Constants, fit_constants, leave_one_chip_out, with_constants


@pytest.fixture(scope="module")
def dev():
    return load_rows("dev")


def test_shipped_constants_are_the_fit_over_all_chips(dev):
    """If the data or the model changes, the defaults in hardware/spec.py must be refitted (this fails)."""
    fitted = fit_constants(dev)
    assert fitted.dram_efficiency == pytest.approx(spec_module.DRAM_EFFICIENCY)
    assert fitted.dram_write_cost == pytest.approx(spec_module.DRAM_WRITE_COST)
    assert fitted.matrix_wide == pytest.approx(spec_module.MATRIX_EFFICIENCY_WIDE)
    assert fitted.matrix_narrow == pytest.approx(spec_module.MATRIX_EFFICIENCY_NARROW)


def test_with_constants_sets_dram_and_matrix_by_width():
    h100 = with_constants(load_hardware("h100-sxm"), Constants(0.9, 1.1, 0.8, 0.7))
    assert (h100.main_memory.efficiency, h100.main_memory.write_cost) == (0.9, 1.1)
    assert h100.matrix_efficiency("bf16") == 0.8 and h100.matrix_efficiency("fp8_e4m3") == 0.7
    assert h100.memory["l2"].efficiency == 1.0  # only the DRAM level


def test_leave_one_chip_out_meets_the_memory_attention_and_elementwise_targets(dev):
    """Issue targets on chips the constants were not fitted on: memory-bound streams <= 10 %, attention <= 8 %
    (attention rows are all A100 FlashAttention-2; A100 is then left out of the matrix-efficiency fit),
    elementwise ops <= 10 % (9.1 %: norms, softmax and activations with the kernel each harness ran)."""
    held = leave_one_chip_out([r for r in dev if r.category in ("memory", "gemm", "attention", "elementwise")])
    chips = {h.chip for h in held}
    assert {"a100-sxm-80gb", "h100-sxm", "h200-sxm"} <= chips
    a100 = next(h for h in held if h.chip == "a100-sxm-80gb")
    others = [c for c in chips if c != "a100-sxm-80gb"]
    rows = [r for r in dev if r.category in ("memory", "gemm", "attention", "elementwise")]
    assert a100.constants == fit_constants(rows, chips=others)  # refitted without it
    memory = [e for h in held for e in h.errors.get("memory", [])]
    attention = [e for h in held for e in h.errors.get("attention", [])]
    assert len(memory) == 9 and statistics.fmean(memory) <= 0.10
    assert len(attention) == 21 and statistics.fmean(attention) <= 0.08
    elementwise = [e for h in held for e in h.errors.get("elementwise", [])]
    assert len(elementwise) == 14 and statistics.fmean(elementwise) <= 0.10


def test_leave_one_chip_out_gemm_error_does_not_regress(dev):
    """The GEMM target (<= 5 %) is not met; this guards what is: the mean over 67 held-out rows (62 before the gb200
    preset mapped ME-007 and ME-015; 64 before the a100-pcie-80gb and gh200 presets mapped ME-003, ME-002 and
    ME-011), with AMD's MI210/MI355X at the mean of AMD's published MI300X/MI325X sustained fractions."""
    held = leave_one_chip_out([r for r in dev if r.category == "gemm"])
    gemm = [e for h in held for e in h.errors.get("gemm", [])]
    assert len(gemm) == 67 and statistics.fmean(gemm) <= 0.10
    mi210 = next(h for h in held if h.chip == "mi210")
    assert statistics.fmean(mi210.errors["gemm"]) < 0.15  # 25.8 % at the NVIDIA-dominated cross-chip fraction
