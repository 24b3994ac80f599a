"""Numbers a person can read: one unit per column, no exponents, ids never cut at 80 columns, help on every
option, a fast lazy import, calibrate's and validate's explanations."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from accelscope.cli.app import app
from accelscope.hardware import list_hardware, load_hardware
from accelscope.hardware.display import column_unit, format_field, format_in, metric_label, plain_number
from accelscope.workload.model_config import list_models

SRC = str(Path(__file__).resolve().parents[1] / "src")


def run(*args: str, columns: int = 80) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": str(columns), "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run([sys.executable, "-c", "from accelscope.cli.app import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def _commands(command, path=()):
    if hasattr(command, "list_commands"):
        for name in command.list_commands(None):
            yield from _commands(command.get_command(None, name), (*path, name))
    else:
        yield " ".join(path), command


def test_every_option_has_help_text():
    missing = [f"{path} {param.opts[0] if param.opts else param.name}"
               for path, command in _commands(typer.main.get_command(app)) for param in command.params
               if param.name != "help" and not getattr(param, "help", None)]
    assert missing == []


def test_numerics_help_lists_all_its_commands():
    out = run("numerics", "--help", columns=120).stdout
    for command in ("formats", "quantize", "tradeoff", "study"):
        assert command in out
    assert "list, quantize." not in out  # the old description named two of four


def test_version():
    from accelscope import __version__

    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"accelscope {__version__}"


@pytest.mark.parametrize("command, ids", [(("hw", "list"), list_hardware), (("llm", "list"), list_models)])
def test_ids_are_never_cut_at_80_columns(command, ids):
    out = run(*command).stdout
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    for name in ids():
        assert any(line.split() and line.split()[0] == name for line in lines), name
    assert "…" not in out and "e+" not in out


def test_hw_list_has_one_unit_per_column():
    out = run("hw", "list", columns=120).stdout
    assert "TFLOP/s" in out and "PFLOP/s" not in out and "GiB" not in out
    h100 = next(line for line in out.splitlines() if line.split()[:1] == ["h100-sxm"])
    # HBM in GB: nvidia-smi's 81559 MiB x 2^20 = 85.52e9 B
    assert h100.split()[-6:] == ["989", "1,979", "—", "85.5", "3.35", "700"]


def test_column_units_and_plain_numbers():
    assert column_unit([989.4e12, 2.25e15, 312e12], "flops") == ("TFLOP/s", 1e12)
    assert column_unit([30e-3, 1.2e-3], "time") == ("ms", 1e-3)
    assert format_in(2.25e15, 1e12) == "2,250" and format_in(None, 1.0) == "—"
    assert plain_number(1.248e-05) == "0.00001248" and plain_number(9.9e14) == "990,000,000,000,000"
    assert format_field("runtime.launch_latency", 1.248e-05) == "12.48 µs"
    assert format_field("compute.clock", 1.83e9) == "1.83 GHz"
    assert format_field("matrix.peak.bf16", 9.9e14) == "990 TFLOP/s"
    assert format_field("memory.hbm.efficiency", 0.9) == "0.9"
    assert metric_label("tokens_per_s_per_usd") == "tokens/s per USD" and metric_label("tpot_s") == "TPOT"


def test_llm_infer_memory_rows_share_one_unit():
    out = run("llm", "infer", "llama-3.1-8b", "--hw", "h100-sxm", "--batch", "8", columns=120).stdout
    memory = [line for line in out.splitlines() if "memory/device" in line]
    assert memory and all(" GB " in line for line in memory) and "MB" not in out and "GiB" not in out


def test_import_is_lazy_and_public_names_still_work():
    code = ("import sys, accelscope as acs; heavy = [m for m in ('accelscope.llm', 'accelscope.perf', 'numpy', "
            "'pydantic') if m in sys.modules]; print(heavy); print(acs.llm.infer.__name__, acs.ops.Gemm.__name__, "
            "acs.estimate.__name__, 'accelscope.llm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": SRC}).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "infer Gemm estimate True"


def test_cli_module_loads_no_model_numpy_or_pydantic():
    code = ("import sys; import accelscope.cli.app; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('numpy', 'pydantic', 'yaml', 'scipy') or m.startswith(('accelscope.perf', 'accelscope.llm'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": SRC}).stdout.strip()
    assert out == "[]"


def test_calibrate_flags_a_launch_latency_outside_the_physical_range():
    from accelscope.measure.calibrate import fit_warnings, plausible_range

    hw = load_hardware("h100-sxm")
    assert plausible_range(hw, "runtime.launch_latency") == (1e-6, 6e-6)
    warnings = fit_warnings(hw, {"runtime.launch_latency": 12.5e-6, "memory.hbm.efficiency": 0.9})
    assert len(warnings) == 1
    assert "runtime.launch_latency = 12.5 µs is outside the plausible 1 µs to 6 µs (preset 2.5 µs)" in warnings[0]
    # pinned at the search bound (0.5x..1x the clock for the clock under load) is flagged too
    assert "edge of the search range" in fit_warnings(hw, {"compute.sustained_clock": hw.compute.clock})[0]


def test_calibrate_reports_progress(monkeypatch):
    from accelscope.measure import calibrate as module

    hw = load_hardware("h100-sxm")
    monkeypatch.setattr(module, "_fit", lambda rows, spec, paths, level: {p: 0.9 for p in paths})
    monkeypatch.setattr(module, "_error", lambda rows, spec, level: 0.1)
    monkeypatch.setattr(module, "hardware_id", lambda name: "h100-sxm")
    monkeypatch.setattr(module, "predict", lambda row, level, spec=None: module.Prediction(1.0, "memory"))
    rows = [type("Row", (), {"hardware": "h100", "id": f"r{i}", "value": 1.0})() for i in range(6)]
    lines: list[str] = []
    module.calibrate(rows, hw, ["memory.hbm.efficiency"], folds=3, progress=lines.append)
    assert lines[0] == "fold 1/3: fitting 1 fields on 4 rows, scoring 2 held out"
    assert lines[-1] == "final fit on all 6 rows" and len(lines) == 7


def test_validate_says_what_the_sign_means():
    from accelscope.measure.validate import SIGN_NOTE, markdown_table

    assert "+ = predicted higher than measured" in SIGN_NOTE and "too slow for a time" in SIGN_NOTE
    assert SIGN_NOTE in markdown_table([])


def test_sweep_heatmap_axes_are_independent():
    import pandas as pd

    from accelscope.report.sweep_figures import fixed_axes, independent_axes, tick

    table = pd.DataFrame({"axis:matrix.peak.tf32": [1e14, 2e14] * 2, "axis:matrix.peak.bf16": [2e14, 4e14] * 2,
                          "axis:memory.hbm.bandwidth": [3.35e12, 3.35e12, 8e12, 8e12],
                          "axis:matrix.peak.fp64": [1e12] * 4})
    spec = {"axes": {"memory.hbm.bandwidth": {}, "matrix.peak.fp64": {}},
            "coupled": {"matrix": {"matrix.peak.tf32": [], "matrix.peak.bf16": []}}}
    axes = independent_axes(table, spec)
    assert [column for _, column in axes] == ["axis:memory.hbm.bandwidth", "axis:matrix.peak.bf16"]
    assert axes[1][0] == "matrix (coupled; matrix.peak.bf16 shown)"
    assert fixed_axes(table) == {"matrix.peak.fp64": 1e12}
    assert tick("axis:memory.hbm.bandwidth", 3.35e12) == "3.35 TB/s"


def test_format_ranges_read_as_powers_of_two():
    from accelscope.hardware.display import magnitude

    assert magnitude(2.0**-126) == "2⁻¹²⁶" and magnitude(448.0) == "448" and magnitude(0.25) == "0.25"
    assert magnitude(3.4028234663852886e38, 6) == "3.40282 × 10³⁸"
    out = run("numerics", "formats", columns=120).stdout
    assert "e+" not in out and "e-0" not in out and "2⁻¹⁴⁹" in out


def test_estimate_busy_times_share_one_unit():
    out = run("estimate", "gemm", "--m", "8192", "--n", "8192", "--k", "8192", "--hw", "h100-sxm", "--level",
              "analytical", columns=120).stdout
    assert "busy time µs" in out
    rows = [line for line in out.splitlines() if "%" in line and "│" in line]
    assert rows and not any(unit in row for row in rows for unit in (" ms ", " µs ", " ns "))


def test_sweep_pareto_reads_at_80_columns(tmp_path):
    import yaml

    spec = {"name": "t", "base": "h100-sxm", "level": "roofline",
            "axes": {"memory.hbm.bandwidth": {"values": ["2 TB/s", "3.35 TB/s", "6 TB/s"]},
                     "matrix.peak.fp64": {"values": ["1 TFLOP/s"]}},
            "coupled": {"matrix": {"matrix.peak.tf32": ["0.25 PFLOP/s", "1 PFLOP/s"],
                                   "matrix.peak.bf16": ["0.5 PFLOP/s", "2 PFLOP/s"]}},
            "workload": {"model": "llama-3.1-8b", "batch": 8, "input_len": 512, "output_len": 64},
            "objectives": ["max tokens_per_s", "min tpot_s"], "constraints": ["memory_fits"]}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    assert run("sweep", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out")).returncode == 0
    out = run("sweep", "pareto", str(tmp_path / "out")).stdout
    assert max(len(line) for line in out.splitlines()) <= 80 and "e+" not in out and "e-" not in out
    assert "TB/s" in out and "TFLOP/s" in out and "(peak.bf16)" in out  # the coupled group once, by its bf16 peak
    assert "fixed: matrix.peak.fp64 = 1 TFLOP/s" in out and "TPOT" in out


def test_hw_list_headlines_read_from_the_files_equal_the_validated_specs():
    """`hw list` reads its figures from the preset YAML without the schema (start-up); they must be the specs'."""
    from accelscope.cli.render import spec_headline
    from accelscope.hardware import load_hardware
    from accelscope.hardware.headline import preset_headlines

    for head in preset_headlines():
        assert head == spec_headline(load_hardware(head["id"])), head["id"]
