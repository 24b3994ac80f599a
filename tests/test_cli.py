"""CLI: real subprocess runs for exit codes and no-traceback guarantees; in-process for the rest."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accelscope.cli.app import app, main

runner = CliRunner()


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "accelscope", *args], capture_output=True, text=True, timeout=60)


def test_hw_list_shows_presets():
    result = runner.invoke(app, ["hw", "list", "--json"])
    assert result.exit_code == 0
    ids = {row["id"] for row in json.loads(result.stdout)}
    assert "h100-sxm" in ids


def test_hw_show_reads_like_a_datasheet():
    result = runner.invoke(app, ["hw", "show", "h100-sxm"], env={"COLUMNS": "160"})
    assert result.exit_code == 0
    for text in ("989.4 TFLOP/s", "3.35 TB/s", "ridge point bf16", "1 : 256", "Sources", "700 W"):
        assert text in result.stdout
    # the sustained fractions the analytical level uses, with where they come from (cross-chip defaults here)
    for text in ("bf16 sustained fraction", "0.83", "fp8_e4m3 sustained fraction", "0.70", "0.95 / 1.24x",
                 "validate --dataset dev --loco"):
        assert text in result.stdout


def test_hw_show_json_with_override():
    result = runner.invoke(app, ["hw", "show", "h100-sxm", "--set", "memory.hbm.bandwidth=6TB/s", "--json"])
    data = json.loads(result.stdout)
    assert data["spec"]["memory"]["hbm"]["bandwidth"] == 6e12
    assert data["derived"]["ridge_point_flop_per_byte"]["bf16"] == pytest.approx(989.4e12 / 6e12)


def test_estimate_gemm_json():
    result = runner.invoke(app, ["estimate", "gemm", "--m", "8192", "--n", "8192", "--k", "8192", "--hw", "h100-sxm",
                                 "--json"])
    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["seconds"] == pytest.approx(2 * 8192**3 / 989.4e12, rel=0.01)
    assert data["bound"] == "matrix" and data["input"]["m"] == 8192


def test_paged_and_windowed_attention_from_the_cli():
    base = ["estimate", "attention", "--batch", "1", "--heads", "8", "--head-dim", "128", "--q-len", "1",
            "--kv-len", "4096", "--kv-heads", "1", "--hw", "h100-sxm", "--json"]
    plain = json.loads(runner.invoke(app, base).stdout)
    paged = json.loads(runner.invoke(app, [*base, "--page-size", "16"]).stdout)
    # 256 pages of 16 keys: each page's K (and V) is 16 x 128 x 2 B = 4 KiB, whole sectors, plus a 4-byte
    # block-table entry per page
    assert paged["bytes"] - plain["bytes"] == 256 * 4
    windowed = json.loads(runner.invoke(app, [*base, "--window", "1024"]).stdout)
    # a quarter of the keys: K and V of 1024 keys, 1 KV head, 128 x 2 B each, plus Q in and O out (8 heads) and
    # each row's fp32 log-sum-exp
    assert windowed["bytes"] == 2 * 1024 * 128 * 2 + 2 * 8 * 128 * 2 + 8 * 4


@pytest.mark.parametrize(
    "args",
    [
        ["estimate", "attention", "--batch", "1", "--heads", "8", "--head-dim", "128", "--q-len", "1", "--kv-len",
         "4096", "--kv-heads", "1", "--hw", "h100-sxm"],
        ["estimate", "softmax", "--rows", "4096", "--cols", "4096", "--hw", "h100-sxm"],
        ["estimate", "norm", "--rows", "4096", "--hidden", "8192", "--kind", "layer", "--hw", "h100-sxm"],
        ["estimate", "elementwise", "--op", "silu", "--elements", "1000000", "--hw", "h100-sxm"],
        ["estimate", "collective", "--op", "all_reduce", "--bytes", "1 GiB", "--group", "8", "--hw", "h100-sxm"],
        ["estimate", "grouped-gemm", "--groups", "4", "--n", "1024", "--k", "512", "--m-per-group", "1,2,3,0",
         "--hw", "h100-sxm"],
        ["estimate", "quantize", "--elements", "1048576", "--fmt", "nvfp4", "--block", "16", "--hw", "h100-sxm"],
    ],
)
def test_every_estimate_command_runs(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stdout
    assert "bound by" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["estimate", "gemm", "--m", "1", "--n", "1", "--k", "1", "--hw", "h100-sxm", "--set",
          "memory.hbm.bandwidth=6GHz"], "memory.hbm.bandwidth: expected a bandwidth"),
        (["estimate", "gemm", "--m", "0", "--n", "1", "--k", "1", "--hw", "h100-sxm"], "--m: must be > 0"),
        (["estimate", "gemm", "--m", "1", "--n", "1", "--k", "1", "--hw", "nope"], "no preset or file"),
        (["estimate", "gemm", "--m", "1", "--n", "1", "--k", "1", "--hw", "h100-sxm", "--level", "cycle"],
         "level: expected one of roofline, analytical, sim"),
        (["estimate", "gemm", "--m", "1", "--n", "1", "--k", "1", "--hw", "h100-sxm", "--set", "oops"],
         "expected dotted.path=value"),
        (["hw", "show", "/no/such/chip.yaml"], "file not found"),
        (["sweep", "pareto", "/no/such/folder"], "not a sweep folder"),
        (["sweep", "examples/sweeps/hbm-sram-matrix-70b-decode.yaml", "--out", "/tmp/acs-x", "--executor", "dask"],
         "expected local or ray"),
        (["report", "/no/such/scenario.yaml"], "cannot read the report scenario"),
        (["sensitivity", "--metric", "speed"], "'speed' is not a serving metric"),
        (["sensitivity", "--model", "llama-3.1-8b", "--tp", "1", "--param", "foo.bar"],
         "'foo.bar' is not a positive numeric field"),
        (["llm", "infer", "llama-3.1-8b", "--hw", "h100-sxm", "--allreduce", "gloo"],
         "--allreduce: expected custom or library"),
        (["llm", "infer", "llama-3.1-8b", "--hw", "h100-sxm", "--decode-attention", "xqa"],
         "--decode-attention: expected fa2, fa3, mmha, math or None"),
        (["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--dp", "8", "--global-batch", "64",
          "--attention", "sdpa"], "--attention: expected fa2, fa3, math, triton, aotriton, mem_efficient or None"),
        (["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--dp", "8", "--global-batch", "64",
          "--host-op-us", "-5"], "--host-op-us: expected microseconds per op"),
        (["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--dp", "8", "--global-batch", "64",
          "--host-op-us", "1000000"], "--host-op-us: expected microseconds per op"),  # 1 s: train() takes < 1 s
        (["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--dp", "8", "--global-batch", "64",
          "--optimizer", "lion"], "--optimizer: expected one of adam, sgd"),
        (["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--dp", "8", "--global-batch", "64",
          "--grouped-gemm", "cutlass"], "--grouped-gemm: expected one of searched, torch"),
        (["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--dp", "8", "--global-batch", "64",
          "--fp8-recipe", "foo"], "--fp8-recipe: expected one of tensorwise"),  # named by its option, digit and all
        (["estimate", "gemm", "--m", "8", "--n", "8", "--k", "8", "--hw", "h100-sxm", "--schedule", "persistent"],
         "--schedule: unknown schedule"),
        (["estimate", "norm", "--rows", "8", "--hidden", "8", "--hw", "h100-sxm", "--kernel", "aten"],
         "is PyTorch's softmax kernel"),
        (["estimate", "collective", "--op", "all_gather", "--bytes", "1MiB", "--group", "8", "--hw", "mi300x",
          "--level", "analytical", "--algorithm", "tree"], "tree is an all-reduce algorithm"),
        (["sim", "softmax", "--rows", "8", "--cols", "8", "--hw", "h100-sxm", "--set", "isa.exp3=false"],
         "isa.exp3: unknown field"),
    ],
)
def test_user_errors_exit_2_with_one_message_and_no_traceback(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_spec_file_from_the_cli(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("id: mine\nname: x\nvendor: y\nkind: gpu\ncompute: {clock: 1 GHz, cores: -4}\n")
    result = run("hw", "show", str(bad))
    assert result.returncode == 2
    assert "mine.yaml: compute.cores" in result.stderr
    assert "Traceback" not in result.stderr


def test_main_returns_normally_for_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0


@pytest.fixture()
def llama70_dir(tmp_path):
    from .test_model_config import LLAMA_31_70B

    (tmp_path / "config.json").write_text(json.dumps(LLAMA_31_70B))
    return tmp_path


def test_llm_infer_json(llama70_dir):
    result = runner.invoke(app, ["llm", "infer", str(llama70_dir), "--hw", "h100-sxm", "--tp", "8", "--batch", "max",
                                 "--json"])
    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["batch"] > 1 and data["memory"]["total"] <= data["memory"]["usable_capacity"]
    assert {"ttft_s", "tpot_s", "output_tokens_per_s", "memory_per_device_bytes"} <= set(data)


def test_llm_train_and_show_json(llama70_dir):
    result = runner.invoke(app, ["llm", "train", str(llama70_dir), "--hw", "h100-sxm", "--tp", "8", "--pp", "4",
                                 "--dp", "16", "--global-batch", "512", "--json"])
    assert result.exit_code == 0, result.stdout
    assert 0 < json.loads(result.stdout)["mfu"] < 1
    shown = json.loads(runner.invoke(app, ["llm", "show", str(llama70_dir), "--json"]).stdout)
    assert shown["params"] == pytest.approx(70.55e9, rel=1e-3)


def test_llm_does_not_fit_is_a_clean_error(llama70_dir):
    result = run("llm", "infer", str(llama70_dir), "--hw", "h100-sxm")
    assert result.returncode == 2
    assert "does not fit" in result.stderr and "Traceback" not in result.stderr


def test_explain_prints_the_chosen_mapping():
    result = runner.invoke(app, ["estimate", "gemm", "--m", "4096", "--n", "4096", "--k", "4096", "--hw", "h100-sxm",
                                 "--level", "analytical", "--explain"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stdout
    assert "CTA tile" in result.stdout and "waves" in result.stdout and "bound by" in result.stdout


def test_validate_loco_prints_each_chip_with_constants_fitted_without_it():
    result = runner.invoke(app, ["validate", "--dataset", "dev", "--levels", "roofline,analytical", "--loco"])
    assert result.exit_code == 0, result.stdout
    assert "### analytical" in result.stdout and "### roofline" not in result.stdout  # nothing to fit there
    a100 = next(line for line in result.stdout.splitlines() if line.startswith("| a100-sxm-80gb"))
    # its 16-bit / 8-bit matrix efficiency, fitted on the other chips' GEMMs (incl. GB200, whose preset carries L2
    # and DRAM latencies since the attention work: 16-bit 0.84 -> 0.85; the library-kernel GEMM work: 8-bit 0.69 ->
    # 0.70)
    assert "0.85 / 0.70" in a100
    assert "all chips held out in turn" in result.stdout


def test_estimate_norm_kernel_option_explains_the_latency_bound():
    result = runner.invoke(app, ["estimate", "norm", "--rows", "4096", "--hidden", "4096", "--dtype", "fp16",
                                 "--hw", "h100-sxm", "--level", "analytical", "--kernel", "scalar", "--explain"])
    assert result.exit_code == 0, result.stdout
    assert "kernel: scalar" in result.stdout and "latency bound time: 55.04 µs" in result.stdout  # test_analytical
    bad = run("estimate", "norm", "--rows", "8", "--hidden", "8", "--hw", "h100-sxm", "--kernel", "warp")
    assert bad.returncode == 2 and "--kernel: unknown kernel 'warp'" in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr


def test_validate_names_file_row_and_field_of_a_bad_count(tmp_path):
    bad = tmp_path / "rows.csv"
    bad.write_text('id,hardware,category,op,dtype,shape_json,metric,value,unit\n'
                   'X-1,NVIDIA H100 SXM5,collective,all_reduce,float,"{""payload_bytes"":1048576,""gpus"":""eight""}",'
                   'busbw,40,GB/s\n')
    result = run("validate", str(bad), "--levels", "analytical")
    assert result.returncode == 2
    assert f"{bad}: row X-1: shape_json field 'gpus' is 'eight'" in result.stderr
    assert "Traceback" not in result.stderr


# ----- bad input: one `error:` line naming the option, exit 2 (issue 20 reproducers) ----------------------------
BIG = "9" * 400
PACKAGE = Path(__file__).parents[1] / "src" / "accelscope"


def one_error(args: list[str]) -> str:
    """Run in process; assert exit 2 with exactly one stderr line `error: ...` and return it."""
    result = runner.invoke(app, args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (result.exit_code,
                                                                                          result.stderr)
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["estimate", "gemm", "--m", BIG, "--n", "1", "--k", "1", "--hw", "h100-sxm"],
         "error: Invalid value for '--m': 999999999999... (a 400-digit number) is out of range (at most 1e15)"),
        (["estimate", "gemm", "--m", "1000000000000001", "--n", "1", "--k", "1", "--hw", "h100-sxm"],
         "is out of range (at most 1e15)"),
        (["llm", "infer", "mixtral-8x7b", "--hw", "h100-sxm", "--tp", "8", "--moe-imbalance", "inf"],
         "error: Invalid value for '--moe-imbalance': inf is not a finite number"),
        (["llm", "infer", "mixtral-8x7b", "--hw", "h100-sxm", "--tp", "8", "--moe-imbalance", "5"],
         "--moe-imbalance: must be between 1 (even routing) and experts / top_k = 4"),
        (["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--global-batch", "-64"],
         "error: --global-batch: must be >= 1 (got -64)"),
        (["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--global-batch", "0"], "--global-batch: must be >= 1"),
        (["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--vpp", "0"], "error: --vpp: must be >= 1 (got 0)"),
        (["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--dp", "4", "--global-batch", "10"],
         "--global-batch: 10 sequences do not split into --dp 4 replicas x --micro-batch 1; use a multiple of 4"),
        (["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--zero", "4"], "--zero: expected a ZeRO stage"),
        (["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--tp", "3"], "--tp=3: must divide the 32 attention"),
        (["llm", "infer", "llama-3.1-8b", "--hw", "h100-sxm", "--output-len", "0"], "--output-len: must be >= 1"),
        (["llm", "infer", "llama-3.1-8b", "--hw", "h100-sxm", "--kv-dtype", "fp7"], "--kv-dtype: unknown dtype"),
        (["estimate", "norm", "--rows", "8", "--hidden", "8", "--hw", "h100-sxm", "--kind", "x"],
         "error: --kind: expected 'rms' or 'layer'"),
        (["estimate", "attention", "--batch", "1", "--heads", "8", "--head-dim", "64", "--q-len", "9", "--kv-len",
          "4", "--causal", "--hw", "h100-sxm"], "error: --q-len: causal needs q_len <= kv_len"),
        (["estimate", "attention", "--batch", "1", "--heads", "8", "--head-dim", "64", "--q-len", "1", "--kv-len",
          "4", "--kv-heads", "0", "--hw", "h100-sxm"], "error: --kv-heads: must be > 0"),
        (["estimate", "attention", "--batch", "1", "--heads", "8", "--head-dim", "128", "--q-len", "1000000000000",
          "--kv-len", "1000000000000", "--hw", "h100-sxm", "--level", "sim"],
         "the sim handles at most 4,194,304: use the analytical level"),
        (["sim", "attention", "--batch", "1", "--heads", "8", "--head-dim", "128", "--q-len", "100000000",
          "--kv-len", "100000000", "--hw", "h100-sxm"], "sim: attention has 6,250,000 units"),
        (["estimate", "grouped-gemm", "--groups", "100000", "--n", "8", "--k", "8", "--tokens", "8", "--hw",
          "h100-sxm"], "--groups: at most 65,536"),
        (["estimate", "gemm", "--m", "abc", "--n", "1", "--k", "1", "--hw", "h100-sxm"],
         "Invalid value for '--m'"),
        (["estimate", "gemm", "--n", "1", "--k", "1", "--hw", "h100-sxm"], "Missing option '--m'"),
        (["sweep", "examples/sweeps/isa-softmax-sim.yaml", "--out", "/tmp/never", "--limit", "-1"],
         "--limit: must be >= 0"),
        (["sim", "isa-study", "--hw", "h100-sxm", "--arg", "foo=1"], "--arg foo: softmax takes rows, cols, dtype"),
        (["calibrate", "--hw", "h100-sxm", "--dataset", "dev", "--folds", "1"], "--folds: cross-validation needs"),
        (["numerics", "quantize", "-f", "mxfp8", "--random", "1000000000000"], "--random: must be between 1 and"),
    ],
)
def test_bad_options_give_one_error_line_naming_the_option(args, message):
    assert message in one_error(args)


def test_markup_in_user_strings_is_printed_as_text(tmp_path):
    """A spec name or an unknown preset id that looks like rich markup is text, never a MarkupError."""
    import yaml

    chip = yaml.safe_load((PACKAGE / "hardware" / "presets" / "h100-sxm.yaml").read_text())
    chip["name"] = "[/oops]"
    (tmp_path / "chip.yaml").write_text(yaml.safe_dump(chip))
    shown = runner.invoke(app, ["hw", "show", str(tmp_path / "chip.yaml")])
    assert shown.exit_code == 0 and "[/oops]" in shown.stdout
    assert "[/x]: file not found" in one_error(["hw", "show", "[/x]"])  # a name with a / is a path
    result = run("estimate", "gemm", "--m", "1", "--n", "1", "--k", "1", "--hw", "[/x]")  # a real process
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "[/x]: file not found" in result.stderr


def test_a_huge_integer_is_refused_by_a_real_process():
    result = run("estimate", "gemm", "--m", BIG, "--n", "1", "--k", "1", "--hw", "h100-sxm")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "'--m'" in result.stderr


def test_a_config_with_zero_experts_is_refused_naming_file_and_key(tmp_path):
    config = json.loads((PACKAGE / "workload" / "models" / "mixtral-8x7b.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_local_experts": 0}))
    line = one_error(["llm", "train", str(tmp_path), "--hw", "h100-sxm", "--no-check-memory"])
    assert f"{tmp_path / 'config.json'}: num_local_experts: must be >= 1" in line


def test_an_estimate_that_is_not_finite_is_an_error_not_inf():
    """Sizes in range can still multiply past float range (here a node count): estimate() refuses to return inf."""
    import accelscope as acs

    graph = acs.Graph.of((acs.ops.Gemm(m=10**15, n=10**15, k=10**15), 1e300))
    with pytest.raises(ValueError, match=r"graph on h100-sxm \(roofline\): no finite estimate \(time inf"):
        acs.estimate(graph, "h100-sxm")
    assert acs.estimate(acs.ops.Gemm(m=10**15, n=10**15, k=10**15), "h100-sxm").seconds == pytest.approx(
        2e45 / 989.4e12, rel=0.01)  # the largest sizes alone stay finite: 2·M·N·K at the bf16 peak


def test_the_python_api_refuses_a_negative_global_batch_too():
    """It used to return a negative step time and an MFU of 0.88 (-64 is a multiple of dp x micro_batch)."""
    import accelscope as acs

    with pytest.raises(ValueError, match="global_batch=-64: must be a multiple"):
        acs.llm.train(model="llama-3.1-8b", hw="h100-sxm", global_batch=-64, check_memory=False)


def test_llm_infer_eager_prices_the_host_enqueue():
    # Llama-2-7B, one H100: 355 kernels a pass x 24 us (serving/costs.py HOST_OP_LATENCY) = 8.52 ms for the
    # 128-token prefill and for every decode step, above the GPU's time for either
    args = ["llm", "infer", "llama-2-7b", "--hw", "h100-sxm", "--batch", "1", "--input-len", "128",
            "--output-len", "8", "--level", "analytical", "--json"]
    eager = json.loads(CliRunner().invoke(app, [*args, "--eager"]).output)
    graphed = json.loads(CliRunner().invoke(app, args).output)
    assert eager["ttft_s"] == pytest.approx(355 * 24e-6) and eager["tpot_s"] == pytest.approx(355 * 24e-6)
    assert graphed["tpot_s"] < eager["tpot_s"]


def test_llm_train_megatron_and_host_options_reach_train():
    """--megatron sets Megatron-LM's runtime (as measure/training_rows.py maps its CI runs); --host-op-us 0 turns
    the host bound off: the step is then its GPU time and the breakdown's host term is exactly 0."""
    import json

    from accelscope.cli.llm_cmd import _megatron_runtime

    # batch_p2p_sync only where P2P is batched: pp > 1 without interleaving; Megatron Core's rank order and its
    # PyTorch GLU clamp
    assert _megatron_runtime(True, pp=2, vpp=1) == {"te_modules": True, "megatron_loss": True, "loss_sync": True,
                                                     "p2p_sync": True, "single_queue": True,
                                                     "pipeline_outermost": True, "glu_clamp": "eager",
                                                     "moe_sync": True}
    assert _megatron_runtime(True, pp=2, vpp=2)["p2p_sync"] is False and _megatron_runtime(False, 2, 1) == {}
    base = ["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--tp", "8", "--pp", "2", "--dp", "4",
            "--global-batch", "64", "--seq-len", "2048", "--level", "analytical", "--json"]
    off = json.loads(run(*base, "--host-op-us", "0").stdout)
    megatron = json.loads(run(*base, "--megatron").stdout)
    assert off["breakdown"]["host"] == 0.0
    # Megatron's runtime changes only host work: the GPU's op terms are the same floats, the step is still the sum of
    # its parts, and the host's excess per micro-batch also lengthens each of the pp - 1 bubble slots. The data-parallel
    # collectives hide behind each pass's wall time, the host's wait included (llm/train.py: NCCL's stream runs while
    # the GPU waits for kernels), so a host-bound step exposes less of them, never more
    for part in ("compute", "recompute", "optimizer"):
        assert megatron["breakdown"][part] == off["breakdown"][part]
    assert megatron["breakdown"]["exposed_comm"] < off["breakdown"]["exposed_comm"]
    for r in (off, megatron):
        assert r["step_s"] == pytest.approx(sum(r["breakdown"].values()), rel=1e-12)
    assert megatron["breakdown"]["host"] > 0 and megatron["breakdown"]["bubble"] > off["breakdown"]["bubble"]


def test_llm_plan_balance_pipeline_with_searched_dtypes_and_options():
    """`llm plan --balance-pipeline` always hands the plan a dtype, which every layout now carries: the balanced
    re-pricing raised a TypeError (two dtypes). With a dtype search and a fixed option the JSON names both."""
    result = runner.invoke(app, ["llm", "plan", "llama-3.1-8b", "--hw", "h100-sxm", "--devices", "32", "--pp", "4",
                                 "--tp", "1", "--seq-len", "4096", "--global-batch", "256", "--balance-pipeline",
                                 "--dtype", "bf16,fp8_e4m3", "--cross-entropy", "fused", "--level", "roofline",
                                 "--top", "2", "--json"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["options"] == {"cross_entropy": "fused"}
    assert {c["dtype"] for c in out["configs"]} <= {"bf16", "fp8_e4m3"} and all(c["pp"] == 4 for c in out["configs"])


def test_llm_plan_serve_simulate_json():
    """The simulated serving plan from the command line: layouts with their scheduler and pools, capacities per
    device, best first (8B on 2 H100, TP 1: two colocated replicas, or one prefill + one decode replica)."""
    result = runner.invoke(app, ["llm", "plan", "llama-3.1-8b", "--hw", "h100-sxm", "--devices", "2", "--serve",
                                 "--tp", "1", "--simulate", "--disaggregated", "--slo-tpot", "20", "--slo-ttft", "1000",
                                 "--requests", "40", "--input-len", "512", "--output-len", "32", "--level", "roofline",
                                 "--json"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert {c["scheduler"] for c in out["configs"]} == {"vllm", "disaggregated"}
    rates = [c["requests_per_s_per_device"] for c in out["configs"]]
    assert rates == sorted(rates, reverse=True) and rates[-1] > 0


def test_llm_plan_table_names_the_shared_fields_once():
    """The layouts' common fields (tp pinned, dtype, pp ...) are printed once above the table; each row shows what
    tells the layouts apart."""
    result = runner.invoke(app, ["llm", "plan", "llama-3.1-8b", "--hw", "h100-sxm", "--devices", "8", "--tp", "1",
                                 "--seq-len", "4096", "--global-batch", "64", "--level", "roofline", "--top", "3"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    shared = next(line for line in result.stdout.splitlines() if line.startswith("every layout shown: "))
    assert "tp=1" in shared and "dtype=bf16" in shared
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ 1 ")]
    assert rows and "tp=1" not in rows[0] and "dtype" not in rows[0]
