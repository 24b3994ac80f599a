"""Guard the public interface promised in DESIGN.md, and the one-way layer imports."""

import ast
import inspect
from pathlib import Path

import accelscope as acs

PACKAGE = Path(acs.__file__).parent


def test_design_md_names_exist():
    assert callable(acs.list_hardware) and callable(acs.load_hardware) and callable(acs.estimate)
    for name in ("Gemm", "GroupedGemm", "Attention", "Softmax", "Norm", "Elementwise", "Reduction", "Embedding",
                 "Collective", "Quantize", "Dequantize"):
        assert hasattr(acs.ops, name), name
    hw = acs.load_hardware("h100-sxm")
    assert callable(hw.with_overrides)
    est = acs.estimate(acs.ops.Gemm(m=4096, n=4096, k=4096, dtype="bf16"), hw, level="roofline")
    for field in ("seconds", "flops", "bytes", "bound", "breakdown", "level"):
        assert hasattr(est, field), field
    inf = acs.llm.infer(model="llama-3.1-70b", hw=hw, tp=8, pp=1, ep=1, batch=64, input_len=2048, output_len=256,
                        dtype="bf16", kv_dtype="bf16", level="analytical")
    for field in ("ttft_s", "tpot_s", "output_tokens_per_s", "memory_per_device_bytes", "batch"):
        assert hasattr(inf, field), field
    tr = acs.llm.train(model="llama-3.1-405b", hw=hw, tp=8, pp=16, dp=64, cp=1, ep=1, vpp=1, zero=1, seq_len=8192,
                       global_batch=2048, micro_batch=1, dtype="bf16", recompute="selective", level="analytical",
                       check_memory=False)
    for field in ("step_s", "tokens_per_s_per_device", "model_tflops_per_device", "mfu", "memory_per_device_bytes"):
        assert hasattr(tr, field), field
    assert set(acs.list_hardware()) >= {"a100-sxm-80gb", "h100-sxm", "h800-sxm", "h200-sxm", "b200", "mi300x",
                                        "tpu-v5p"}


def test_signatures_match_design_md():
    assert list(inspect.signature(acs.estimate).parameters) == ["work", "hw", "level"]
    assert inspect.signature(acs.estimate).parameters["level"].default == "roofline"
    gemm = inspect.signature(acs.ops.Gemm).parameters
    assert {"m", "n", "k", "dtype", "batch", "out_dtype"} <= set(gemm)
    attn = inspect.signature(acs.ops.Attention).parameters
    assert {"batch", "heads", "kv_heads", "head_dim", "q_len", "kv_len", "causal", "dtype", "phase"} <= set(attn)


def test_all_is_explicit():
    assert set(acs.__all__) >= {"list_hardware", "load_hardware", "estimate", "ops", "llm", "Estimate", "HardwareSpec"}


# layer -> layers it may import (DESIGN.md)
ALLOWED = {
    "hardware": set(),
    "numerics": set(),
    "workload": {"hardware", "numerics"},
    "perf": {"hardware", "workload", "numerics"},
    "llm": {"perf", "workload", "hardware", "numerics"},
    "explore": {"llm", "perf", "workload", "hardware", "numerics"},
    "measure": {"perf", "llm", "workload", "hardware", "numerics"},
    "report": {"perf", "llm", "workload", "hardware", "numerics", "explore", "measure"},
}


def _imported_layers(path: Path, layer: str) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            depth_to_root = len(path.relative_to(PACKAGE / layer).parts)  # file depth inside the layer
            if node.level > depth_to_root and node.module:  # climbed out of the layer to accelscope/
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("accelscope."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("accelscope.")}
    return found - {layer}


def test_imports_flow_one_way():
    for layer, allowed in ALLOWED.items():
        for path in (PACKAGE / layer).rglob("*.py") if (PACKAGE / layer).exists() else []:
            bad = _imported_layers(path, layer) - allowed
            assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}; {layer} may import {sorted(allowed)}"
