"""gpt-fast's timed region (measure/gpt_fast.py): eager prefill + compiled decode steps over a static cache; the
eager int8 prefill's bf16 weight copies; infer's decode_context. Values derived by hand in the comments."""

import pytest

from accelscope import estimate, llm, load_hardware
from accelscope.measure import MeasuredRow, gpt_fast
from accelscope.measure.predict import predict, spec_for_row
from accelscope.workload import Dequantize
from accelscope.workload.model_config import load_model

A100 = "a100-sxm-80gb"


def test_static_cache_rounds_prompt_plus_new_tokens_up_to_eight():
    # model.py setup_caches: find_multiple(5 + 200, 8) = 208; 8 + 200 = 208 stays
    assert gpt_fast.static_cache_slots(5) == 208
    assert gpt_fast.static_cache_slots(8) == 208
    assert gpt_fast.static_cache_slots(9) == 216


def test_linear_weights_are_gpt_fasts_modules():
    # Llama-2-7B: wqkv 4096 x (32 + 2 x 32) x 128 = 50,331,648; wo 4096 x 4096 = 16,777,216; w1 = w3 = w2 =
    # 4096 x 11008 = 45,088,768; output 32000 x 4096 = 131,072,000; 32 layers x 5 + 1 = 161 weights
    weights = gpt_fast.linear_weights_per_device(load_model("llama-2-7b"), tp=1)
    assert len(weights) == 161
    assert weights[:5] == [50_331_648, 16_777_216, 45_088_768, 45_088_768, 45_088_768]
    assert weights[-1] == 131_072_000
    # TP2 halves each rank's share
    assert gpt_fast.linear_weights_per_device(load_model("llama-2-7b"), tp=2)[0] == 25_165_824


def test_int8_copies_are_one_dequantize_pass_per_weight():
    hw = load_hardware(A100)
    config = load_model("llama-2-7b")
    one = estimate(Dequantize(45_088_768, fmt="int8", dst_dtype="bf16"), hw, "analytical").seconds
    total = gpt_fast.int8_materialization_seconds(config, hw, 1, "analytical")
    # 96 MLP weights of 45,088,768 elements among the 161
    assert total > 96 * one
    # each copy reads 1 B and writes 2 B per element: at least 3 B / 2.039 TB/s per element over all weights
    assert total >= 3 * sum(gpt_fast.linear_weights_per_device(config, 1)) / 2.039e12


def test_int8_prefill_pays_the_copies_bf16_does_not():
    int8 = gpt_fast.eager_prefill_seconds("llama-2-7b", A100, 1, 5, "int8", "analytical")
    bf16 = gpt_fast.eager_prefill_seconds("llama-2-7b", A100, 1, 5, None, "analytical")
    copies = gpt_fast.int8_materialization_seconds(load_model("llama-2-7b"), load_hardware(A100), 1, "analytical")
    # the int8 prefill runs the bf16 GEMMs after the copies: at least the copies on top of the bf16 GPU time
    gpu = llm.infer("llama-2-7b", A100, batch=1, input_len=5, output_len=200, level="analytical",
                    decode_attention="math", allreduce="library").ttft_s
    assert int8 >= gpu + copies
    assert int8 > bf16


def test_seconds_per_token_is_prefill_plus_199_decode_steps_over_200():
    seconds, bound = gpt_fast.seconds_per_token("llama-2-7b", A100, 1, 5, None, "analytical")
    decode = llm.infer("llama-2-7b", A100, batch=1, input_len=5, output_len=200, level="analytical",
                       decode_attention="math", allreduce="library", decode_context=208)
    prefill = gpt_fast.eager_prefill_seconds("llama-2-7b", A100, 1, 5, None, "analytical")
    # per step: the forward, then 10 topk + 8 Inductor sampling + 5 eager kernels at A100's 2.5 us launch latency
    assert gpt_fast.step_kernels() == 23
    step = decode.tpot_s + 23 * 2.5e-6
    assert seconds == pytest.approx((prefill + 199 * step) / 200)
    assert bound == decode.decode.bound
    # the eager prefill is longer than a decode step (it reads every weight, and the host enqueues ~355 kernels
    # at A100's 36 us each = 12.8 ms), so the reported rate is below 1 / TPOT
    assert seconds > decode.tpot_s


def test_decode_context_sets_the_attended_positions():
    kw = dict(batch=1, input_len=5, output_len=200, level="analytical", decode_attention="math")
    live = llm.infer("llama-2-7b", A100, **kw)  # mean live context 5 + 100 = 105
    static = llm.infer("llama-2-7b", A100, decode_context=208, **kw)
    assert static.tpot_s > live.tpot_s  # twice the KV positions read every step
    assert static.ttft_s == live.ttft_s  # the prefill does not change
    with pytest.raises(ValueError, match="decode_context"):
        llm.infer("llama-2-7b", A100, decode_context=0, **kw)


def test_gf_rows_are_priced_as_generate_py_times_them():
    row = MeasuredRow(id="GF-001", hardware="NVIDIA A100 80GB (8-GPU node, power-limited to 330W)",
                      category="llm_inference", op="Llama-2-7B single-stream decode (gpt-fast, 1 GPU)", dtype="bf16",
                      shape={"model": "Llama-2-7B", "batch": 1, "prompt_len": 5, "gpus": 1, "TP": 1},
                      metric="decode_throughput", value=104.9, unit="tokens/s", source="gpt-fast README")
    outcome = predict(row, "analytical")
    seconds, _ = gpt_fast.seconds_per_token("llama-2-7b", spec_for_row(row, A100), 1, 5, None, "analytical")
    assert outcome.value == pytest.approx(1.0 / seconds)
