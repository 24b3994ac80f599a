"""Megatron-LM / vLLM launch checks (llm/refusals.py): one implementation, pruned by the planner and reported as
notes by `train` / `infer` (docs/dse.md, "What a planned layout needs to launch"). Model facts used below, from the
presets: Llama-3.1-8B has 32 heads, 8 KV heads, MLP width 14,336, 32 layers; Qwen3-30B-A3B 32 heads, 4 KV heads,
128 experts of width 768, 48 layers; DeepSeek-V3 128 heads with MLA, 256 experts."""

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

import accelscope as acs
from accelscope.cli.app import app
from accelscope.hardware import load_hardware
from accelscope.llm.plan import MIN_CP_TOKENS, TrainSpace, _shape_reason
from accelscope.llm.refusals import (
    cp_chunks_reason,
    expert_parallel_reason,
    infer_notes,
    interleaved_micro_batches_reason,
    serve_kv_heads_reason,
    tp_widths_reason,
)
from accelscope.workload.model_config import load_model

runner = CliRunner()
SMALL = dict(seq_len=4096, global_batch=16, level="roofline", check_memory=False)  # a quick 8B step, fit or not


@pytest.fixture(scope="module")
def llama8():
    return load_model("llama-3.1-8b")


# ----- training: the notes train() reports ------------------------------------------------------------------------
def test_tp_beyond_the_kv_heads_is_a_note_not_a_refusal(llama8):
    """tp=16: 32 heads / 16 = 2 each (train accepts it), but 8 KV heads / 16 is not whole, and Megatron-LM does not
    replicate KV heads in training. MLP 14,336 / 16 = 896 and 4,096 tokens / 16 = 256 are whole: one note."""
    r = acs.llm.train(llama8, "h100-sxm", tp=16, **SMALL)
    assert len(r.notes) == 1
    assert "tp=16" in r.notes[0] and "8 KV heads" in r.notes[0] and "Megatron-LM" in r.notes[0]
    assert r.step_s > 0  # estimated anyway
    assert r.to_dict()["notes"] == list(r.notes)


def test_a_valid_layout_has_no_notes(llama8):
    """tp=8, pp=1: 32 / 8 heads, 8 / 8 KV heads, 14,336 / 8 MLP, 4,096 / 8 tokens per SP shard: all whole."""
    r = acs.llm.train(llama8, "h100-sxm", tp=8, pp=1, **SMALL)
    assert r.notes == ()
    assert r.to_dict()["notes"] == []


def test_context_parallel_chunks_must_be_whole_halves():
    """8,192 % (2 x 3) = 8,192 - 6 x 1,365 = 2: not 2 x cp load-balanced chunks (train itself refuses it first:
    8,192 % 3 = 2). 8,193 = 3 x 2,731 passes train's seq_len % cp but 8,193 % 6 = 3: a note. 8,190 = 6 x 1,365: no
    note."""
    assert "2 x cp = 6" in cp_chunks_reason(8192, 3)
    assert cp_chunks_reason(8190, 3) is None
    assert cp_chunks_reason(8193, 1) is None  # no CP, no chunks
    r = acs.llm.train("llama-3.1-8b", "h100-sxm", cp=3, **{**SMALL, "seq_len": 8193})
    assert len(r.notes) == 1 and "seq_len=8193" in r.notes[0] and "2 x cp = 6" in r.notes[0]


def test_the_planners_own_bounds_are_not_notes(llama8):
    """What the planner prunes by choice, not because Megatron-LM refuses it, gives no note: CP chunks under
    MIN_CP_TOKENS (1,024 / cp 4 = 256 tokens a rank; 1,024 % 8 = 0, whole halves) and TP beyond the scale-up domain
    (an MHA variant of the 8B, 32 KV heads, at tp=16 on 8-GPU H100 nodes: 32 / 16 = 2 each)."""
    assert MIN_CP_TOKENS > 1024 // 4
    short = acs.llm.train(llama8, "h100-sxm", cp=4, **{**SMALL, "seq_len": 1024})
    assert short.notes == ()
    assert _shape_reason(llama8, 4, 8, 1024, tp=1, pp=1, cp=4, ep=1).startswith("cp chunks")  # the planner's floor
    mha = replace(llama8, kv_heads=32)
    assert load_hardware("h100-sxm").interconnect.scale_up.domain_size == 8
    assert acs.llm.train(mha, "h100-sxm", tp=16, **SMALL).notes == ()
    assert "scale-up domain" in _shape_reason(mha, 16, 8, 4096, tp=16, pp=1, cp=1, ep=1)


def test_interleaved_schedule_with_fewer_micro_batches_than_pp(llama8):
    """pp=8, vpp=2, dp=2, global batch 8, micro-batch 1: M = 8 / (2 x 1) = 4 micro-batches per step < pp = 8
    (Megatron-LM's interleaved schedule groups them pp at a time). 32 layers >= 8 x 2 chunks: no other note. With
    global batch 16: M = 8 = pp: none."""
    r = acs.llm.train(llama8, "h100-sxm", pp=8, vpp=2, dp=2, **{**SMALL, "global_batch": 8})
    assert len(r.notes) == 1 and "4 micro-batches" in r.notes[0] and "pp=8" in r.notes[0]
    assert interleaved_micro_batches_reason(pp=8, vpp=2, micro_batches=8) is None
    assert interleaved_micro_batches_reason(pp=8, vpp=1, micro_batches=1) is None  # no interleaving


def test_virtual_stages_without_a_pipeline(llama8):
    """vpp=2 at pp=1: Megatron-LM asserts a pipeline of 2+ stages under the interleaved schedule; train prices it
    (the bubble is 0 either way) and says so. M = 16 >= pp = 1: only the one note."""
    r = acs.llm.train(llama8, "h100-sxm", vpp=2, **SMALL)
    assert len(r.notes) == 1 and "vpp=2" in r.notes[0] and "pp=1" in r.notes[0]


def test_sequence_parallel_chunks_only_with_sequence_parallelism(llama8):
    """seq_len 4,100 at tp=4: 4,100 / 4 = 1,025 whole; tp=8: 512.5, a note with SP (train's default at tp > 1) and
    none with sp=False (nothing is scattered). 4,100 % 8 KV heads is irrelevant: 8 / 8 = 1 head each."""
    kw = {**SMALL, "seq_len": 4100}
    assert acs.llm.train(llama8, "h100-sxm", tp=4, **kw).notes == ()
    sp = acs.llm.train(llama8, "h100-sxm", tp=8, **kw)
    assert len(sp.notes) == 1 and "4100 tokens not divisible by tp=8" in sp.notes[0]
    assert acs.llm.train(llama8, "h100-sxm", tp=8, sp=False, **kw).notes == ()


def test_moe_rules_name_their_values():
    """Qwen3-30B-A3B at tp=8: 32 / 8 heads fine, 4 KV heads / 8 not: the KV-head rule. Its experts are 768 wide:
    etp=5 leaves 768 % 5 = 3 (etp=4: 192 each). DeepSeek-V3 at tp=1, pp=8 on 1,152 devices: 144 ranks a stage;
    ep=32 x etp 1 does not divide 144 (4.5), ep=16 does (9); 256 experts / 3 is not whole."""
    qwen = load_model("qwen3-30b-a3b")
    assert "4 KV heads" in tp_widths_reason(qwen, 8, etp=1)
    assert "768" in tp_widths_reason(qwen, 1, etp=5)
    assert tp_widths_reason(qwen, 4, etp=4) is None
    dsv3 = load_model("deepseek-v3")
    assert tp_widths_reason(dsv3, 16, etp=1) is None  # MLA: no query groups; 18,432 and 2,048 / 16 whole
    tiled = expert_parallel_reason(dsv3, 144, ep=32, etp=1)
    assert "32 x 1" in tiled and "144 ranks" in tiled
    assert expert_parallel_reason(dsv3, 144, ep=16, etp=1) is None
    assert "256 experts" in expert_parallel_reason(dsv3, 144, ep=3, etp=1)
    assert "no experts" in expert_parallel_reason(load_model("llama-3.1-8b"), 8, ep=2, etp=1)


# ----- serving: vLLM --------------------------------------------------------------------------------------------------
def test_vllm_replicates_kv_heads_when_tp_is_a_multiple(llama8):
    """vLLM at tp=16 with 8 KV heads: 16 % 8 = 0, each KV head replicated on 2 ranks: it launches, no note. tp=3:
    8 % 3 = 2 and 3 % 8 = 3, neither nests: the KV rule (and 32 heads % 3 = 2, which infer itself refuses)."""
    assert acs.llm.infer(llama8, "h100-sxm", tp=16, batch=8).notes == ()
    assert serve_kv_heads_reason(llama8, 16) is None
    kv = serve_kv_heads_reason(llama8, 3)
    assert "tp=3" in kv and "8 KV heads" in kv and "vLLM" in kv
    assert len(infer_notes(llama8, tp=3, pp=1)) == 2  # the heads rule and the KV rule
    with pytest.raises(ValueError, match="tp=3"):
        acs.llm.infer(llama8, "h100-sxm", tp=3)


def test_vllm_kv_heads_that_do_not_nest_are_a_note(llama8):
    """24 heads, 6 KV heads at tp=4: 24 / 4 = 6 heads each (infer accepts it), 6 % 4 = 2 and 4 % 6 = 4: a note."""
    odd = replace(llama8, heads=24, kv_heads=6)
    r = acs.llm.infer(odd, "h100-sxm", tp=4, batch=8)
    assert len(r.notes) == 1 and "6 KV heads" in r.notes[0]
    assert r.to_dict()["notes"] == list(r.notes)


# ----- the CLI --------------------------------------------------------------------------------------------------------
def test_cli_prints_notes_after_the_table_and_in_json():
    args = ["llm", "train", "llama-3.1-8b", "--hw", "h100-sxm", "--tp", "16", "--global-batch", "16"]
    text = runner.invoke(app, args)
    assert text.exit_code == 0, text.stdout
    lines = text.stdout.splitlines()
    notes = [line for line in lines if line.startswith("note: ")]
    assert len(notes) == 1 and "tp=16" in notes[0] and "8 KV heads" in notes[0]
    assert lines.index(notes[0]) > max(i for i, line in enumerate(lines) if "MFU" in line)  # after the table
    data = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert len(data["notes"]) == 1 and "8 KV heads" in data["notes"][0]
    served = json.loads(runner.invoke(app, ["llm", "infer", "llama-3.1-8b", "--hw", "h100-sxm", "--tp", "8",
                                            "--json"]).stdout)
    assert served["notes"] == []


# ----- the planner prunes on the same rules, with the same counts -------------------------------------------------
# The whole training space at 80 GB, pruned counts by reason recorded before the rules moved to llm/refusals.py.
# Llama-3.1-8B on 128 H100s (seq_len 4096, global batch 64): every shape, batch and schedule reason but the KV heads
# and sequence parallelism; Llama-3.1-70B on 96 (seq_len 4098) adds sequence parallelism and memory; Qwen3-30B-A3B
# on 72 (seq_len 6000, 4 KV heads) the KV-head widths.
PRUNED_BEFORE = [
    ("llama-3.1-8b", 128, dict(seq_len=4096, global_batch=64), 2340, {
        "cp chunks not whole (seq_len / 2 cp) or under 1024 tokens": 12096,
        "devices not divisible by tp x pp x cp": 69048,
        "ep not dividing the experts or not nesting with tp": 26784,
        "global batch not divisible into micro-batches": 180,
        "interleaved schedule with fewer micro-batches than pp": 450,
        "pp beyond the layers": 1512,
        "tp not dividing the heads or beyond the scale-up domain": 9576,
        "vpp without enough layers per stage": 1494}),
    ("llama-3.1-70b", 96, dict(seq_len=4098, global_batch=96), 309, {
        "cp chunks not whole (seq_len / 2 cp) or under 1024 tokens": 16632,
        "devices not divisible by tp x pp x cp": 95760,
        "ep not dividing the experts or not nesting with tp": 4752,
        "global batch not divisible into micro-batches": 21,
        "interleaved schedule with fewer micro-batches than pp": 156,
        "memory (weights + gradients + optimizer alone)": 180,
        "sequence-parallel chunks not whole (seq_len / cp not divisible by tp)": 3528,
        "tp not dividing the heads or beyond the scale-up domain": 2016,
        "vpp without enough layers per stage": 126}),
    ("qwen3-30b-a3b", 72, dict(seq_len=6000, global_batch=96), 0, {
        "cp chunks not whole (seq_len / 2 cp) or under 1024 tokens": 504,
        "devices not divisible by tp x pp x cp": 113400,
        "ep not dividing the experts or not nesting with tp": 4968,
        "global batch not divisible into micro-batches": 2142,
        "memory (weights + gradients + optimizer alone)": 540,
        "tp not dividing the KV heads or the MLP / expert widths": 504,
        "vpp without enough layers per stage": 1422}),
]


@pytest.mark.parametrize(("model", "devices", "workload", "layouts", "pruned"), PRUNED_BEFORE)
def test_planner_pruned_counts_are_unchanged(model, devices, workload, layouts, pruned):
    space = TrainSpace.of(load_model(model), load_hardware("h100-sxm"), devices, workload)
    assert sum(1 for _ in space.layouts(80e9)) == layouts
    assert space.pruned == pruned
