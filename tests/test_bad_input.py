"""Bad-input audit: each case was a traceback, an exit 0 on nonsense, or a message that named neither the option
nor the field. Now: exit 2 and one `error:` line that names the option or file and field (or, for a figure that is
possible but has no effect or exceeds what the model knows, one `warning:` line and the result)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from accelscope.cli.app import app

runner = CliRunner()
ROOT = Path(__file__).parents[1]
DEV = str(ROOT / "src/accelscope/data/public_measured_dev.csv")


def refused(args: list[str], *needles: str) -> str:
    """Exit 2 with exactly one `error:` line on stderr holding every needle; no traceback."""
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    shown = f"{args}\nexit {result.exit_code}\nstdout: {result.stdout[-1500:]}\nstderr: {result.stderr[-1500:]}\n" \
            f"{result.exception!r}"
    assert result.exit_code == 2, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error:"), shown
    for needle in needles:
        assert needle in result.stderr, shown
    return result.stderr


GEMM_SWEEP = {"name": "bad", "base": "h100-sxm", "level": "roofline", "objectives": ["min g.seconds"],
              "axes": {"compute.cores": {"values": [100, 132]}},
              "workloads": {"g": {"kind": "op", "op": "gemm", "args": {"m": 256, "n": 256, "k": 256}}}}


def _sweep(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return ["sweep", str(path), "--out", str(tmp_path / "out")]


# ----- hardware specs: one chip's absurd figures --------------------------------------------------------------------
@pytest.mark.parametrize(("override", "needles"), [
    # 80 TB of HBM on one chip (TB for GB) was accepted: the bytes range reaches 10 PB for every level
    ("memory.hbm.capacity: 80 TB", ["memory.hbm.capacity: 80 TB is more than one accelerator's main memory",
                                    "GB, not TB"]),
    # a 5 MW board power: the power range reached 10 MW
    ("power.limit: 5 MW", ["power.limit: '5 MW' is out of range; expected a power from 0.001 W to 100,000 W"]),
    ("power.tdp: 5 MW", ["power.tdp: '5 MW' is out of range"]),
])
def test_a_spec_file_with_one_chips_absurd_figure_is_refused(tmp_path, override, needles):
    path = tmp_path / "chip.yaml"
    path.write_text(f"base: h100-sxm\noverrides:\n  {override}\n")
    refused(["hw", "check", str(path)], str(path), *needles)


def test_set_of_an_absurd_hbm_capacity_is_refused():
    refused(["estimate", "gemm", "--m", "8", "--n", "8", "--k", "8", "--hw", "h100-sxm", "--set",
             "memory.hbm.capacity=80TB"], "--set (on h100-sxm): memory.hbm.capacity: 80 TB is more than")


def test_a_large_but_possible_capacity_still_loads():
    from accelscope.hardware import load_hardware

    assert load_hardware("h100-sxm").with_overrides({"memory.hbm.capacity": "2 TB"}).main_memory.capacity == 2e12


def test_set_of_the_same_field_twice_is_refused():
    """The last one silently won: the run was at 3 TB/s whatever the first --set said."""
    refused(["hw", "show", "h100-sxm", "--set", "memory.hbm.bandwidth=6TB/s", "--set", "memory.hbm.bandwidth=3TB/s"],
            "--set: 'memory.hbm.bandwidth': given twice ('6TB/s', then '3TB/s'); keep one")


def test_a_power_limit_above_the_tdp_is_a_warning(tmp_path):
    """Accepted without a word and without effect (a limit at or above the TDP leaves the clock as it is)."""
    path = tmp_path / "chip.yaml"
    path.write_text("base: h100-sxm\noverrides:\n  power.limit: 800 W\n")
    result = runner.invoke(app, ["hw", "check", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    assert "power.limit 800 W vs power.tdp 700 W: a limit above the TDP has no effect" in result.stdout
    assert "1 warning" in result.stdout + result.stderr


# ----- llm --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("etp", ["0", "-2"])
def test_an_expert_tp_below_one_is_refused(etp):
    """--etp 0 was a ZeroDivisionError traceback (train_memory.stage_params)."""
    refused(["llm", "train", "mixtral-8x7b", "--hw", "h100-sxm", "--etp", etp],
            f"--etp: expected an integer >= 1 (got {etp})")


@pytest.mark.parametrize(("pins", "needle"), [
    (["--tp", "16"], "--tp 16: does not divide --devices 8"),
    (["--tp", "3", "--serve"], "--tp 3: does not divide --devices 8"),
    (["--tp", "4", "--pp", "4"], "--tp 4 x --pp 4 = 16: does not divide --devices 8"),
])
def test_plan_pins_that_cannot_tile_the_devices_are_named(pins, needle):
    """Said "no layout ... works: pruned 17640 by devices not divisible" without naming the option."""
    refused(["llm", "plan", "llama-3.1-8b", "--hw", "h100-sxm", "--devices", "8", *pins], needle)


@pytest.mark.parametrize(("options", "needle"), [
    (["--optimizer", "adamw"], "--optimizer: expected one of adam, sgd, muon (got 'adamw')"),
    (["--optimizer-instances", "0"], "--optimizer-instances: expected an integer >= 1 (got 0)"),
    (["--muon-sharding", "ping_pong"], "--muon-sharding: how Muon's layer-wise distributed optimizer deals tensors"),
    (["--fp8-recipe", "rowwise"], "--fp8-recipe: applies to an 8-bit dtype"),
    (["--serve", "--optimizer", "muon"], "--optimizer: a training option; with --serve"),
    (["--attention", "fa3", "--hw", "a100-sxm-80gb"], "--attention fa3 needs asynchronous matrix instructions"),
    (["--dtype", "bf16,bf16"], "--dtype: 'bf16' is named twice"),
    (["--dtype", "bf16,fp7"], "--dtype: "),
    (["--simulate"], "--simulate: a serving option; add --serve"),
    (["--serve", "--simulate"], "--simulate: the capacity is the highest request rate within the latency SLOs"),
    (["--serve", "--requests", "500", "--slo-tpot", "50"], "--requests: an option of the simulated plan"),
    (["--serve", "--simulate", "--slo-tpot", "50", "--percentile", "95"], "--percentile: expected 50, 90 or 99"),
])
def test_plan_training_options_are_refused_up_front(options, needle):
    """The options every planned layout is priced with: a bad one would refuse every layout and blame the pins."""
    refused(["llm", "plan", "llama-3.1-8b", "--hw", "h100-sxm", "--devices", "8", "--level", "roofline", *options],
            needle)


def test_an_unknown_draft_model_is_named_under_its_option():
    refused(["llm", "serve", "llama-3.1-8b", "--hw", "h100-sxm", "--requests", "10", "--draft-tokens", "3",
             "--draft-model", "nope"], "--draft-model: model 'nope'")


def test_a_trace_that_is_a_folder_is_named_a_folder(tmp_path):
    """It said `trace file not found`."""
    refused(["llm", "serve", "llama-3.1-8b", "--hw", "h100-sxm", "--trace", str(tmp_path)],
            f"{tmp_path}: is a folder; pass a trace file")


@pytest.mark.parametrize("args", [
    ["llm", "serve", "llama-3.1-8b", "--hw", "h100-sxm", "--requests", "10", "--input-len", "uniform:100:200000"],
    ["llm", "capacity", "gpt2", "--hw", "h100-sxm", "--requests", "10", "--slo-tpot", "50", "--input-len", "2000"],
    ["llm", "plan", "gpt2", "--hw", "h100-sxm", "--devices", "8", "--top", "1"],
])
def test_serving_and_plan_contexts_beyond_the_models_positions_are_flagged(args):
    """`llm infer` and `llm train` warned; serve, capacity and plan simulated a 200k-token prompt on a 131k-position
    model (or 4,096 tokens on GPT-2's 1,024) without a word."""
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    assert "exceed" in result.stderr and "max_position_embeddings" in result.stderr, result.stderr
    json.loads(result.stdout)  # the warning stays off stdout


# ----- estimate -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("extra", "needle"), [
    (["--tokens", "0"], "--tokens: must be >= 1 (got 0)"),  # an estimate of nothing, exit 0
    (["--m-per-group", "0,0"], "--m-per-group: every group has 0 rows"),
    ([], "--tokens / --m-per-group: give exactly one"),  # named `m_per_group`, the Python field
    (["--tokens", "8", "--m-per-group", "4,4"], "--tokens / --m-per-group: give exactly one"),
])
def test_grouped_gemm_rows(extra, needle):
    refused(["estimate", "grouped-gemm", "--groups", "2", "--n", "8", "--k", "8", "--hw", "h100-sxm", *extra], needle)


# ----- sweep specs --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("axis", "needle"), [
    # values won and range was ignored without a word
    ({"values": ["3 TB/s"], "range": ["3 TB/s", "6 TB/s"]}, "give values: [...] or range: [low, high], not both"),
    ({"values": ["3 TB/s", "4 TB/s"], "steps": 3}, "steps and log apply to a range"),
    # the same design point evaluated and stored twice
    ({"values": ["3 TB/s", "3 TB/s"]}, "'3 TB/s' is listed twice"),
])
def test_an_axis_in_two_forms_or_with_a_repeated_value_is_refused(tmp_path, axis, needle):
    text = yaml.safe_dump({**GEMM_SWEEP, "axes": {"memory.hbm.bandwidth": axis}})
    refused(_sweep(tmp_path, text), "axes.memory.hbm.bandwidth", needle)


def test_a_key_given_twice_in_a_sweep_spec_is_refused(tmp_path):
    """PyYAML kept the second `axes:` without a word."""
    text = yaml.safe_dump(GEMM_SWEEP) + "axes: {compute.cores: {values: [10]}}\n"
    refused(_sweep(tmp_path, text), "not valid YAML", "key 'axes' appears twice")


@pytest.mark.parametrize(("change", "needles"), [
    # a typo: "Extra inputs are not permitted", no suggestion
    ({"axis": GEMM_SWEEP["axes"]}, ["axis: unknown key; did you mean 'axes'?"]),
    ({"axes": {"compute.cores": {"value": [100]}}}, ["axes.compute.cores.value: unknown key; did you mean 'values'?"]),
    # Python's TypeError: `Gemm.__init__() got an unexpected keyword argument 'mm'`
    ({"workloads": {"g": {"kind": "op", "op": "gemm", "args": {"m": 1, "n": 1, "k": 1, "mm": 3}}}},
     ["workloads.g.op: args.mm: gemm has no such argument; did you mean 'm'?"]),
    ({"workloads": {"g": {"kind": "op", "op": "gemm", "args": {"m": 1, "n": 1}}}}, ["args: gemm needs k"]),
    # "'>' not supported between instances of 'str' and 'int'"
    ({"workloads": {"g": {"kind": "op", "op": "gemm", "args": {"m": "abc", "n": 1, "k": 1}}}},
     ["args.m: expected a whole number (got 'abc')"]),
])
def test_sweep_spec_keys_and_op_arguments_are_named(tmp_path, change, needles):
    spec = {key: value for key, value in {**GEMM_SWEEP, **change}.items()
            if not ("axis" in change and key == "axes")}
    refused(_sweep(tmp_path, yaml.safe_dump(spec)), *needles)


# ----- report scenarios ---------------------------------------------------------------------------------------------
SCENARIO = {"title": "x", "hardware": ["h100-sxm"], "level": "roofline", "kernels": False, "validation": False}


@pytest.mark.parametrize(("change", "needle"), [
    # `hardwares:` said only "hardware: Field required"
    ({"hardwares": ["h100-sxm"], "hardware": None}, "hardwares: unknown key; did you mean 'hardware'?"),
    ({"serving": {"model": "llama-3.1-8b", "tpp": 2}}, "serving.tpp: unknown key; did you mean 'tp'?"),
    ({"hardware": ["h100-sxm", "h100-sxm"]}, "hardware: 'h100-sxm' is listed twice"),  # two columns, one chip
])
def test_report_scenario_keys(tmp_path, change, needle):
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in {**SCENARIO, **change}.items() if v is not None}))
    refused(["report", str(path), "--out", str(tmp_path / "out")], f"{path}: {needle}")


# ----- validate, calibrate, sensitivity, numerics -------------------------------------------------------------------
@pytest.mark.parametrize("levels", ["", " , "])
def test_a_levels_option_that_names_nothing_is_refused(levels):
    """`--levels ''` ran the default roofline level."""
    refused(["validate", DEV, "--levels", levels], "--levels: names nothing")


@pytest.mark.parametrize(("fields", "needle"), [
    ("compute.nope", "--fields: 'compute.nope' is not a named field"),  # said `calibrate:`
    # a count: fitted to 131.99999999999997 cores, refused after the first fold's progress line (two lines)
    ("compute.cores", "--fields: 'compute.cores' is a whole number (132)"),
    ("memory.hbm.efficiency,memory.hbm.efficiency", "--fields: 'memory.hbm.efficiency' is named twice"),
])
def test_calibrate_fields_are_checked_under_the_option(fields, needle):
    refused(["calibrate", DEV, "--hw", "h100-sxm", "--fields", fields], needle)


def test_sensitivity_param_is_named_under_the_option():
    refused(["sensitivity", "--model", "llama-3.1-8b", "--tp", "1", "--param", "compute.nope"],
            "--param: 'compute.nope' is not a positive numeric field")


def test_study_lm_seed_is_named_as_the_seed():
    """`--seed -1` was reported as `--steps: must be >= 1 and --seed >= 0`."""
    refused(["numerics", "study", "lm", "--steps", "1", "--seed", "-1"], "--seed: must be >= 0 (got -1)")


@pytest.mark.parametrize(("workload", "needle"), [
    # lax validation read "8" as 8 and true as 1
    ({"kind": "train", "model": "llama-3.1-8b", "tp": "8"},
     "workload.train.tp: Input should be a valid integer (got '8'); write it without quotes"),
    ({"kind": "infer", "model": "llama-3.1-8b", "batch": True}, "workload.infer.batch: Input should be a valid integer"),
    # .inf passed gt=0 and failed on every point; a negative seed too (numpy's error)
    ({"kind": "serve", "model": "llama-3.1-8b", "slo_tpot_s": float("inf")},
     "workload.serve.slo_tpot_s: Input should be a finite number"),
    ({"kind": "serve", "model": "llama-3.1-8b", "seed": -1}, "workload.serve.seed: Input should be greater than or"),
])
def test_sweep_workload_values_of_the_wrong_kind_are_refused(tmp_path, workload, needle):
    spec = {**GEMM_SWEEP, "workloads": None, "workload": workload, "objectives": ["max tokens_per_s"]}
    refused(_sweep(tmp_path, yaml.safe_dump({k: v for k, v in spec.items() if v is not None})), needle)


def test_report_scenario_flags_and_counts_are_strict(tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump({**SCENARIO, "kernels": "no"}))  # text read as a flag (lax: "no" -> False, 1 -> True)
    refused(["report", str(path), "--out", str(tmp_path / "out")], f"{path}: kernels: Input should be a valid boolean")


@pytest.mark.parametrize(("args", "needle"), [
    # each named item was evaluated and shown twice, exit 0
    (["validate", DEV, "--levels", "roofline,roofline"], "--levels: 'roofline' is named twice"),
    (["validate", DEV, "--category", "gemm,gemm"], "--category: 'gemm' is named twice"),
    (["llm", "plan", "llama-3.1-8b", "--hw", "h100-sxm", "--devices", "8", "--serve", "--dtypes", "bf16,bf16"],
     "--dtypes: 'bf16' is named twice"),
    (["sensitivity", "--model", "llama-3.1-8b", "--tp", "1", "--param", "memory.hbm.bandwidth", "--param",
      "memory.hbm.bandwidth"], "--param: 'memory.hbm.bandwidth' is named twice"),
    (["numerics", "study", "gemm", "--formats", "bf16,bf16", "--k", "64"], "--formats: 'bf16' is named twice"),
    (["numerics", "study", "gemm", "--formats", "bf16", "--k", "64,64"], "--k: '64' is named twice"),
    (["sim", "isa-study", "--hw", "h100-sxm", "--vary", "isa.exp2", "--vary", "isa.exp2"],
     "--vary: 'isa.exp2' is named twice"),
])
def test_a_list_option_naming_an_item_twice_is_refused(args, needle):
    refused(args, needle)


def test_an_address_without_the_ray_executor_is_refused(tmp_path):
    """The local executor ran with exit 0 and never used the cluster it was given."""
    refused([*_sweep(tmp_path, yaml.safe_dump(GEMM_SWEEP)), "--address", "10.0.0.1:6379"],
            "--address: a Ray cluster address; add --executor ray")


@pytest.mark.parametrize(("args", "needle"), [
    # accepted and ignored on one device (no tensor-parallel communication), exit 0
    (["llm", "infer", "llama-3.1-8b", "--hw", "h100-sxm", "--allreduce", "library"],
     "--allreduce: the TP all-reduce implementation; applies with --tp 2 or more"),
    (["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--tp-overlap", "--no-check-memory"],
     "--tp-overlap: overlaps tensor-parallel communication; applies with --tp 2 or more"),
    (["llm", "serve", "llama-3.1-8b", "--hw", "h100-sxm", "--requests", "10", "--tp-overlap"],
     "--tp-overlap: overlaps tensor-parallel communication"),
    # estimated at the roofline (which ignores the kernel); `Attention.variant='fa3'` at the analytical level
    (["llm", "infer", "llama-3.1-8b", "--hw", "mi300x", "--decode-attention", "fa3"],
     "--decode-attention fa3 needs asynchronous matrix instructions; mi300x has matrix.async_overlap: false"),
    (["llm", "train", "llama-3.1-8b", "--hw", "mi300x", "--attention", "fa3", "--level", "analytical"],
     "--attention fa3 needs asynchronous matrix instructions"),
    # named --wide-ep for a bad --expert-imbalance
    (["llm", "serve", "mixtral-8x7b", "--hw", "h100-sxm", "--requests", "10", "--tp", "8", "--ep", "8", "--wide-ep",
      "8", "--expert-imbalance", "100"], "--expert-imbalance: must be from 1 (even routing) to --wide-ep 8"),
])
def test_llm_options_that_do_nothing_or_cannot_run_are_refused(args, needle):
    refused(args, needle)


def test_the_default_allreduce_and_no_tp_overlap_stay_accepted_on_one_device():
    for args in (["llm", "infer", "llama-3.1-8b", "--hw", "h100-sxm", "--allreduce", "custom", "--json"],
                 ["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--no-tp-overlap", "--no-check-memory",
                  "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("command", ["validate", "calibrate"])
def test_a_measured_row_with_an_unknown_unit_names_the_file_the_row_and_the_field(tmp_path, command):
    """validate said `ME-001: unit 'parsecs' not understood` (no field, no accepted units); calibrate named no
    file."""
    path = tmp_path / "rows.csv"
    path.write_text("id,hardware,category,op,dtype,shape_json,metric,value,unit\n"
                    'ME-001,NVIDIA H100 SXM5 80GB,gemm,gemm,bf16,"{""M"":4096,""N"":4096,""K"":4096}",time,1.5,'
                    "parsecs\n")
    extra = ["--levels", "roofline"] if command == "validate" else ["--hw", "h100-sxm", "--folds", "2"]
    refused([command, str(path), *extra], f"{path}: ME-001: field 'unit': unit 'parsecs' not understood",
            "expected a time (ms, us, s) or a rate")


# ----- round two: dtype and metric of a measured row, option names, sweep keys and objectives, static batch ---------
ROWS_HEADER = "id,hardware,category,op,dtype,shape_json,metric,value,unit\n"
GEMM_SHAPE = '"{""M"":4096,""N"":4096,""K"":4096}"'


def test_a_measured_row_whose_dtype_or_metric_is_not_understood_is_unmapped_with_its_reason(tmp_path):
    """'bf17' was priced as fp16 and a metric 'flops_per_banana' was scored from its unit, both without a word."""
    path = tmp_path / "rows.csv"
    path.write_text(ROWS_HEADER + f"ME-001,NVIDIA H100 SXM5 80GB,gemm,gemm,bf17,{GEMM_SHAPE},time,1.5,ms\n"
                    f"ME-002,NVIDIA H100 SXM5 80GB,gemm,gemm,bf16,{GEMM_SHAPE},flops_per_banana,1.5,ms\n"
                    f"ME-003,NVIDIA H100 SXM5 80GB,gemm,gemm,bfloat16,{GEMM_SHAPE},time_median,1.5,ms\n")
    result = runner.invoke(app, ["validate", str(path), "--levels", "roofline", "--json"])
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    reasons = {entry["reason"]: entry["ids"] for entry in out["unmapped"]["roofline"]}
    dtype = next(reason for reason in reasons if reason.startswith("dtype 'bf17' not understood: "))
    assert reasons[dtype] == ["ME-001"] and "bf16, fp16" in dtype
    metric = next(reason for reason in reasons if reason.startswith("metric 'flops_per_banana' not understood: "))
    assert reasons[metric] == ["ME-002"] and "a gemm row's metric names a time or a rate" in metric
    assert [(c["category"], c["rows"]) for c in out["summary"]] == [("gemm", 1)]  # ME-003: 'bfloat16', time_median


def test_calibrate_says_why_a_chips_rows_are_not_usable(tmp_path):
    """The dtype 'bf17' row was fitted as fp16; left out, the refusal named neither the file nor the reason."""
    path = tmp_path / "rows.csv"
    path.write_text(ROWS_HEADER + f"ME-001,NVIDIA H100 SXM5 80GB,gemm,gemm,bf17,{GEMM_SHAPE},time,1.5,ms\n"
                    f"ME-002,NVIDIA H100 SXM5 80GB,gemm,gemm,bf16,{GEMM_SHAPE},time,1.5,ms\n")
    refused(["calibrate", str(path), "--hw", "h100-sxm", "--folds", "2"],
            f"{path}: only 1 usable rows for h100-sxm", "ME-001: dtype 'bf17' not understood")


def test_every_shipped_row_that_is_priced_has_a_dtype_and_metric_the_mappers_read():
    """The check leaves the shipped rows alone: the only dtype it does not read is the host copies' 'bytes' (rows
    no mapper prices: "host<->device copies are not an IR op yet"); every metric is read."""
    from accelscope.measure.dataset import load_rows
    from accelscope.measure.predict import dtype_not_understood, metric_not_understood

    rows = load_rows(["all", "external"])
    assert {(r.category, r.dtype) for r in rows if dtype_not_understood(r)} == {("memory", "bytes")}
    assert not [r.id for r in rows if metric_not_understood(r)]


def test_an_argument_quoted_in_an_llm_error_is_named_as_its_option():
    """`--seq-len=4096: must be divisible by cp=3`: the Python argument, not the option typed."""
    refused(["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--cp", "3"],
            "--seq-len=4096: must be divisible by --cp=3")


@pytest.mark.parametrize(("change", "needle"), [
    # "unknown key; remove it or fix its spelling": the walk stopped at the kind-tagged union of workloads
    ({"workload": {"kind": "train", "model": "llama-3.1-8b", "tpp": 8}, "objectives": ["max tokens_per_s"]},
     "workload.train.tpp: unknown key; did you mean 'tp'? keys here: model, tp,"),
    ({"workloads": {"s": {"kind": "serve", "model": "llama-3.1-8b", "requets": 8}}, "objectives": ["max s.tokens_per_s"]},
     "workloads.s.serve.requets: unknown key; did you mean 'requests'?"),
    # the same objective twice (a repeated column of the front), or a metric both maximised and minimised
    ({"objectives": ["min g.seconds", "min g.seconds"]}, "objectives: 'g.seconds' is listed twice"),
    ({"objectives": ["min g.seconds", "max g.seconds"]}, "objectives: 'g.seconds' is both 'min' and 'max'"),
])
def test_sweep_workload_keys_are_suggested_and_objectives_named_once(tmp_path, change, needle):
    spec = {**GEMM_SWEEP, **change}
    if "workload" in change:
        spec.pop("workloads")
    refused(_sweep(tmp_path, yaml.safe_dump(spec)), needle)


def test_a_static_batch_above_the_max_seqs_typed_is_refused():
    """--batch 512 ran 512 sequences per iteration under --max-seqs 8 (activations reserved for 8), exit 0."""
    refused(["llm", "serve", "llama-3.1-8b", "--hw", "h100-sxm", "--requests", "10", "--scheduler", "static",
             "--batch", "512", "--max-seqs", "8"],
            "--max-seqs: caps the sequences per iteration at 8, but --batch 512 runs 512 at once")
