"""GB200 / GB300 / H100 NVL presets: per-GPU figures from the datasheets (hand-derived), and the row-name rules."""

import pytest

from accelscope.hardware import load_hardware
from accelscope.measure.predict import hardware_id


@pytest.mark.parametrize(("preset", "bf16", "fp8", "fp4", "hbm", "bw", "tdp", "domain"), [
    # GB200 NVL72 rack / 72 / 2 (sparse -> dense): BF16 360 PF -> 2.5 PF, FP8 720 -> 5, FP4 1440 -> 10
    # HBM: the driver's total, nvidia-smi "NVIDIA GB200, 189471 MiB" = 189471 x 2^20 B (the datasheet's 186 GB)
    ("gb200", 2.5e15, 5e15, 10e15, 189471 * 2**20, 8e12, 1200, 72),
    # GB300 NVL72: BF16 2.5 PF, FP8 5 PF, FP4 1080 PF dense / 72 = 15 PF; 279 GB usable per GPU (verda; 20.1 TB / 72)
    ("gb300", 2.5e15, 5e15, 15e15, 279e9, 8e12, 1400, 72),
    # H100 NVL datasheet column: BF16 1671 sparse -> 835.5, FP8 3341 -> 1670.5; 3.9 TB/s, 400 W; HBM as the driver
    # reports it, nvidia-smi "NVIDIA H100 NVL, 95830 MiB" (the datasheet's 94 GB)
    ("h100-nvl", 835.5e12, 1670.5e12, None, 95830 * 2**20, 3.9e12, 400, 2),
])
def test_per_gpu_figures(preset, bf16, fp8, fp4, hbm, bw, tdp, domain):
    hw = load_hardware(preset)
    assert hw.matrix_peak("bf16") == pytest.approx(bf16)
    assert hw.matrix_peak("fp8_e4m3") == pytest.approx(fp8)
    if fp4:
        assert hw.matrix_peak("nvfp4") == pytest.approx(fp4)
        assert hw.matrix_peak("mxfp8") == pytest.approx(fp8)
    assert hw.main_memory.capacity == pytest.approx(hbm)
    assert hw.hbm_bandwidth == pytest.approx(bw)
    assert hw.power.tdp == pytest.approx(tdp)
    assert hw.interconnect.scale_up.domain_size == domain


def test_clock_is_the_one_the_bf16_peak_is_quoted_at():
    # dense BF16 FLOP per clock per SM: 8192 on Blackwell, 4096 on Hopper (as in b200 / h100-sxm)
    for preset, per_sm in (("gb200", 8192), ("gb300", 8192), ("h100-nvl", 4096)):
        hw = load_hardware(preset)
        assert hw.compute.cores * per_sm * hw.compute.clock == pytest.approx(hw.matrix_peak("bf16"), rel=0.005)


def test_same_silicon_as_the_board_parts():
    assert load_hardware("gb200").compute.cores == load_hardware("b200").compute.cores == 148
    assert load_hardware("gb300").compute.cores == load_hardware("b300").compute.cores == 160
    assert load_hardware("h100-nvl").compute.cores == load_hardware("h100-sxm").compute.cores == 132


@pytest.mark.parametrize(("name", "preset"), [
    ("NVIDIA GB200 (Blackwell GPU of a GB200 superchip)", "gb200"),
    ("NVIDIA GB300 (Blackwell Ultra GPU of a GB300 superchip)", "gb300"),
    ("NVIDIA B300", "b300"), ("NVIDIA B200 (1000 W limit)", "b200"),
    ("NVIDIA H100 NVL, PCIe form factor (vidur docs: 'Azure internal VM with 4 80GB H100 NVL GPUs')", "h100-nvl"),
    ("NVIDIA H100 SXM5 80GB (DGX H100 per vidur README)", "h100-sxm"),
])
def test_row_names_map_to_the_most_specific_preset(name, preset):
    assert hardware_id(name) == preset
