"""`accelscope hw check`: derived consistency checks, each with its numbers (issue 20 item 3)."""

import json
import warnings

import pytest
from typer.testing import CliRunner

import accelscope as acs
from accelscope.cli.app import app
from accelscope.hardware import loader
from accelscope.hardware.check import SpecWarning, check_spec, spec_warnings, sram_bytes_per_flop

runner = CliRunner()
OLD_NEXT_GEN = {"memory.smem.bandwidth": "238.1 GB/s"}  # generic-next-gen before the fix: b200's SRAM width


def _failed(hw, check):
    return [f for f in spec_warnings(hw) if f.check == check]


def test_flags_the_old_generic_next_gen():
    # bf16 at 4.5 PFLOP/s x 0.83 sustained / 148 SMs = 25.24 TFLOP/s per SM; a 256x256 tile (no paired cores)
    # writes 256 + 256 and reads 256 + 1 x 256 elements per K step: 1024 x 2 B / (2 x 256 x 256) = 15.62 B per
    # kFLOP -> 394.3 GB/s, of which 238.1 GB/s is 60.4 % (the analytical 8192^3 GEMM: matrix 298 us / SRAM 493 us)
    hw = acs.load_hardware("generic-next-gen").with_overrides(OLD_NEXT_GEN)
    [finding] = _failed(hw, "sram-feed")
    assert "394.3 GB/s" in finding.message and "238.1 GB/s" in finding.message and "60.4%" in finding.message
    per_flop, tile = sram_bytes_per_flop(hw, 2.0)
    assert tile == (256, 256) and per_flop == pytest.approx(1024 * 2.0 / (2 * 256 * 256))


def test_b200_sram_feeds_its_paired_mma():
    # 128x256 tile, B split over the SM pair: writes 128 + 128, reads 128 + 128 elements per K step:
    # 512 x 2 B / (2 x 128 x 256) = 15.62 B per kFLOP x 12.62 TFLOP/s per SM (2.25 P x 0.83 / 148) = 197.2 GB/s
    hw = acs.load_hardware("b200")
    [feed] = [f for f in check_spec(hw) if f.check == "sram-feed"]
    assert feed.ok and "197.2 GB/s" in feed.message


@pytest.mark.parametrize("preset", acs.list_hardware())
def test_every_preset_passes_or_is_explained(preset):
    assert spec_warnings(acs.load_hardware(preset)) == []


@pytest.mark.parametrize(("preset", "overrides", "check"), [
    # 64 lanes x 148 SMs x 2 x 1.86 GHz = 35.2 TFLOP/s against the quoted 75: 0.47x
    ("b200", {"vector.lanes_per_core": 64}, "per-core-vs-chip"),
    # 0.4 x 1.86 GHz: below half the quoted clock
    ("b200", {"compute.sustained_clock": "0.744 GHz"}, "sustained-clock"),
    # HBM 20 TB/s outside a 14 TB/s L2
    ("b200", {"memory.hbm.bandwidth": "20 TB/s"}, "hierarchy"),
    # fp8 = 9.1 x bf16 (a PFLOP/TFLOP slip)
    ("h100-sxm", {"matrix.peak.fp8_e4m3": "9000 TFLOP/s"}, "peak-ratios"),
    # 1.8 MHz: MHz written for GHz
    ("h100-sxm", {"compute.clock": "1.8 MHz"}, "units"),
    # on-chip 50 MiB L2 + 30 MB of SRAM above a 60 MB "HBM" (each level alone is below it: validation passes)
    ("h100-sxm", {"memory.hbm.capacity": "60 MB"}, "capacity"),
])
def test_each_check_flags_its_contradiction(preset, overrides, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpecWarning)
        hw = acs.load_hardware(preset).with_overrides(overrides)
    assert _failed(hw, check), [str(f) for f in check_spec(hw)]


def test_loading_a_spec_file_warns_never_errors(tmp_path):
    path = tmp_path / "old-next-gen.yaml"
    path.write_text("base: generic-next-gen\nid: old-next-gen\noverrides: {memory.smem.bandwidth: 238.1 GB/s}\n")
    with pytest.warns(SpecWarning, match="sram-feed"):
        hw = acs.load_hardware(path)
    assert hw.id == "old-next-gen"
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpecWarning)
        loader._load_file(loader.PRESET_DIR / "b300.yaml", ())  # its one warning is explained: silent


def test_cli_hw_check_exit_codes_and_hw_show_warnings():
    old = ["hw", "check", "generic-next-gen", "--set", "memory.smem.bandwidth=238.1GB/s"]
    assert runner.invoke(app, old).exit_code == 0
    assert runner.invoke(app, [*old, "--strict"]).exit_code == 1
    assert runner.invoke(app, ["hw", "check", "generic-next-gen", "--strict"]).exit_code == 0
    data = json.loads(runner.invoke(app, [*old, "--json"]).stdout)
    assert data["warnings"] == 1 and data["overrides"] == {"memory.smem.bandwidth": "238.1GB/s"}
    shown = runner.invoke(app, ["hw", "show", "generic-next-gen", "--set", "memory.smem.bandwidth=238.1GB/s"],
                          env={"COLUMNS": "300"})
    assert "warning: sram-feed" in shown.stdout


def test_fixed_generic_next_gen_decodes_faster_than_b200():
    # 1.5x the HBM bandwidth and 2x the MMA rate now fed by 2x the SRAM width: the decode GEMM and TPOT drop
    # (with b200's SRAM width the decode GEMM was SRAM-bound at 68.4 us against b200's 66.4 us)
    gemm = acs.ops.Gemm(64, 28672, 8192, "bf16", shared_b=True)
    new, b200 = (acs.estimate(gemm, hw, level="analytical") for hw in ("generic-next-gen", "b200"))
    # both stream their weights from HBM now: 1.5x the bandwidth, the same first DRAM latency and epilogue
    assert new.seconds < 0.9 * b200.seconds
    assert new.bound == "memory" and new.details["memory_level"] == "hbm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpecWarning)
        old = acs.estimate(gemm, acs.load_hardware("generic-next-gen").with_overrides(OLD_NEXT_GEN), "analytical")
    assert old.seconds > b200.seconds and old.bound_label == "memory (smem)"
    tpot = {hw: acs.llm.infer(model="llama-3.1-70b", hw=hw, tp=8, batch=64, input_len=2048, output_len=256,
                              level="analytical").tpot_s for hw in ("generic-next-gen", "b200")}
    # ~0.90: per-kernel latencies (launch, the first DRAM access, all-reduces) do not scale with bandwidth
    assert tpot["generic-next-gen"] < 0.95 * tpot["b200"]
