"""One truth, printed everywhere: the bound of an estimate comes from one place, and a result of a spec changed
by --set names its overrides next to the preset id (issue 20 item 3)."""

import json

from typer.testing import CliRunner

import accelscope as acs
from accelscope.cli.app import app

runner = CliRunner()
SRAM_BOUND = ["estimate", "gemm", "--m", "8192", "--n", "8192", "--k", "8192", "--dtype", "bf16",
              "--hw", "generic-next-gen", "--level", "analytical", "--set", "memory.smem.bandwidth=238.1GB/s"]


def test_sram_bound_gemm_says_memory_and_which_level():
    # 238 GB/s of SRAM per SM against the doubled matrix rate: the SRAM roof limits (the old generic-next-gen)
    hw = acs.load_hardware("generic-next-gen").with_overrides({"memory.smem.bandwidth": "238.1 GB/s"})
    est = acs.estimate(acs.ops.Gemm(m=8192, n=8192, k=8192, dtype="bf16"), hw, level="analytical")
    assert est.bound == "memory" and est.details["memory_level"] == "smem"
    assert est.bound_label == "memory (smem)" and "bound" not in est.details["mapping"]


def test_summary_and_details_print_the_same_bound():
    result = runner.invoke(app, [*SRAM_BOUND, "--explain"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())  # the console may wrap lines at its own width
    assert text.count("bound by memory (smem)") == 2 and "bound by sram" not in text


def test_overrides_are_named_in_the_result():
    hw = acs.load_hardware("h200-sxm").with_overrides({"memory.hbm.bandwidth": "6 TB/s"})
    assert hw.overrides == {"memory.hbm.bandwidth": "6 TB/s"} and hw.label == "h200-sxm (+1 override)"
    assert acs.load_hardware("h200-sxm").overrides == {}  # the preset itself is untouched
    twice = hw.with_overrides({"compute.clock": "1.5 GHz"})
    assert twice.label == "h200-sxm (+2 overrides)"
    est = acs.estimate(acs.ops.Gemm(m=1, n=8192, k=8192, dtype="bf16"), hw, level="roofline")
    assert est.hw == "h200-sxm" and est.to_dict()["overrides"] == {"memory.hbm.bandwidth": "6 TB/s"}
    assert est.hw_label == "h200-sxm (+1 override)"
    assert "overrides" not in acs.estimate(acs.ops.Gemm(m=1, n=8192, k=8192), "h200-sxm").to_dict()


def test_a_new_id_is_a_new_design_not_an_override():
    hw = acs.load_hardware("h200-sxm").with_overrides({"id": "my-chip", "memory.hbm.bandwidth": "6 TB/s"})
    assert hw.overrides == {} and hw.label == "my-chip"


def test_cli_json_and_tables_name_the_overrides():
    args = ["estimate", "attention", "--batch", "8", "--heads", "64", "--kv-heads", "8", "--head-dim", "128",
            "--q-len", "1", "--kv-len", "8192", "--hw", "h200-sxm", "--set", "memory.hbm.bandwidth=6TB/s"]
    data = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert data["hw"] == "h200-sxm" and data["overrides"] == {"memory.hbm.bandwidth": "6TB/s"}
    # whitespace-normalized: the command module's console keeps the width of the first invocation that imported it
    # in this process (another test's COLUMNS), so the title may wrap
    assert "h200-sxm (+1 override)" in " ".join(runner.invoke(app, args, env={"COLUMNS": "200"}).stdout.split())
    shown = json.loads(runner.invoke(app, ["hw", "show", "h200-sxm", "--set", "compute.clock=1.5GHz",
                                           "--json"]).stdout)
    assert shown["overrides"] == {"compute.clock": "1.5GHz"}
    infer = ["llm", "infer", "llama-3.1-8b", "--hw", "h200-sxm", "--batch", "4", "--input-len", "128",
             "--output-len", "16", "--set", "memory.hbm.bandwidth=6TB/s", "--json"]
    assert json.loads(runner.invoke(app, infer).stdout)["overrides"] == {"memory.hbm.bandwidth": "6TB/s"}
