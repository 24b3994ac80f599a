"""numerics tradeoff: accuracy falls and speed rises as formats narrow, on a chip with native FP4."""

from accelscope.llm.tradeoff import format_tradeoff


def test_narrower_formats_are_faster_and_less_accurate_on_b200():
    rows = {r["format"]: r for r in format_tradeoff("llama-3.1-8b", "b200", batch=8, input_len=512, output_len=64)}
    assert rows["nvfp4"]["priced_as"] == "nvfp4"  # B200 has native FP4 matrix units
    assert rows["bf16"]["tpot_s"] > rows["fp8_e4m3"]["tpot_s"] > rows["nvfp4"]["tpot_s"]
    assert rows["bf16"]["gemm_relative_error"] < rows["fp8_e4m3"]["gemm_relative_error"] < rows["mxfp4"][
        "gemm_relative_error"]
    # NVFP4's finer (16-element, E4M3) block scales beat MXFP4's (32-element, power-of-two) at the same width
    assert rows["nvfp4"]["gemm_relative_error"] < rows["mxfp4"]["gemm_relative_error"]


def test_fp4_on_hopper_is_priced_on_the_fp8_path():
    rows = {r["format"]: r for r in format_tradeoff("llama-3.1-8b", "h100-sxm", batch=1, input_len=128, output_len=16,
                                                    formats=["nvfp4"])}
    assert rows["nvfp4"]["priced_as"] == "fp8_e4m3"
