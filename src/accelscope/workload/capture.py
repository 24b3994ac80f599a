"""Capture a PyTorch module's forward pass as an operator graph, on the meta device (no weights, no data).

Two interception levels:
- a TorchFunctionMode catches `scaled_dot_product_attention` before it decomposes, and records one `Attention`
  op (causal when asked, or when transformers passes its causal mask: a dense, unpadded batch with Sq == Skv);
- a TorchDispatchMode records every aten op after decomposition and maps it to the IR:
  mm/addmm/bmm -> Gemm, _grouped_mm -> GroupedGemm, embedding -> Embedding, native_layer_norm -> Norm,
  softmax -> Softmax, reductions -> Reduction, pointwise math -> Elementwise; views are free and copies are
  Elementwise("copy"). Anything else is counted in `unmapped` (never silently dropped).
Meta tensors have no values, so data-dependent Python branches cannot be followed. transformers only asks
boolean questions of that kind about its inputs ("is the mask all ones?", "is this batch unpacked?"); for a
dense, unpadded batch the answer is True, which is what the capture returns. Any other `.item()` raises.

Hugging Face MoE models run with `experts_implementation="grouped_mm"`, whose shapes do not depend on the
routing, so experts appear as GroupedGemm over batch x seq x top_k token-expert pairs.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .ops import (
    Attention,
    Elementwise,
    Embedding,
    Gemm,
    Graph,
    GroupedGemm,
    Node,
    Norm,
    Op,
    Reduction,
    Softmax,
)

TORCH_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
FREE_OPS = frozenset({
    "view", "_unsafe_view", "reshape", "transpose", "t", "permute", "expand", "unsqueeze", "squeeze", "slice",
    "select", "split", "split_with_sizes", "chunk", "alias", "as_strided", "detach", "unbind", "lift_fresh",
    "ones", "zeros", "empty", "empty_like", "zeros_like", "ones_like", "full", "full_like", "arange",
    "scalar_tensor", "_local_scalar_dense", "new_zeros", "new_ones", "new_empty", "empty_strided",
})
COPY_OPS = frozenset({"clone", "_to_copy", "copy_", "cat", "index", "index_put_", "index_add_", "contiguous",
                      "gather", "scatter", "index_select", "stack", "repeat", "masked_fill", "where"})
POINTWISE = {
    "add": "add", "sub": "add", "mul": "mul", "div": "mul", "neg": "scale", "pow": "mul", "rsqrt": "exp",
    "silu": "silu", "gelu": "gelu", "tanh": "exp", "exp": "exp", "sigmoid": "silu", "relu": "relu",
    "cos": "exp", "sin": "exp", "sqrt": "exp", "reciprocal": "exp", "add_": "add", "mul_": "mul", "div_": "mul",
    "clamp": "relu", "eq": "add", "floor_divide": "mul", "bernoulli_": "copy", "tril": "copy", "triu": "copy",
}
REDUCTIONS = {"mean": "mean", "sum": "sum", "amax": "amax", "max": "max", "topk": "max", "sort": "max",
              "cumsum": "sum", "histc": "sum", "argmax": "max"}


class CaptureError(ValueError):
    """The module cannot be captured on the meta device."""


@dataclass(frozen=True, slots=True)
class CaptureResult:
    graph: Graph
    params: int  # parameters of the module (tied weights once)
    weight_bytes: float  # their storage in the module's dtypes
    seconds: float  # wall time of build + capture
    unmapped: Counter[str] = field(default_factory=Counter)


def capture(
    model: Any,
    batch: int = 1,
    seq_len: int = 128,
    dtype: str = "bf16",
    name: str | None = None,
) -> CaptureResult:
    """Capture one forward pass of `model` over `batch` x `seq_len` tokens.

    `model`: a `torch.nn.Module` (on any device; meta is cheapest), a transformers `PretrainedConfig`, a dict of
    Hugging Face config keys, or anything `load_model` accepts (preset id, config.json path).
    """
    import torch

    start = time.perf_counter()
    module = _build_module(model, dtype)
    module.eval()
    device = next((p.device for p in module.parameters()), torch.device("meta"))
    ids = torch.zeros(batch, seq_len, dtype=torch.long, device=device)
    mask = torch.ones(batch, seq_len, dtype=torch.long, device=device)
    recorder = _Recorder()
    with torch.no_grad(), _SdpaMode(recorder), recorder:
        try:
            module(input_ids=ids, attention_mask=mask, use_cache=False)
        except TypeError:
            module(ids)
    params = {id(p): p for p in module.parameters()}.values()
    graph = Graph(tuple(Node(op, count, label) for (label, op), count in recorder.counts.items()),
                  name=name or type(module).__name__)
    return CaptureResult(
        graph=graph, params=sum(p.numel() for p in params),
        weight_bytes=float(sum(p.numel() * p.element_size() for p in params)),
        seconds=time.perf_counter() - start, unmapped=recorder.unmapped,
    )


def _build_module(model: Any, dtype: str) -> Any:
    import torch

    if isinstance(model, torch.nn.Module):
        return model
    from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig

    if isinstance(model, PretrainedConfig):
        config = model
    else:
        keys = model if isinstance(model, dict) else _hf_keys(model)
        clean = {k: v for k, v in keys.items() if not k.startswith("_") and k != "quantization_config"}
        if "model_type" not in clean:
            raise CaptureError("model: a dict of Hugging Face config keys needs 'model_type'")
        try:
            config = AutoConfig.for_model(**clean)
        except (ValueError, KeyError) as exc:
            raise CaptureError(f"model_type {clean['model_type']!r}: transformers cannot build it ({exc})") from None
    if hasattr(config, "experts_implementation") or "moe" in config.model_type or "mixtral" in config.model_type:
        config.experts_implementation = "grouped_mm"  # routing-independent shapes
    torch_dtype = getattr(torch, TORCH_DTYPES.get(dtype, "bfloat16"))
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config, dtype=torch_dtype)


def _hf_keys(model: Any) -> dict[str, Any]:
    import json
    from pathlib import Path

    from .model_config import MODEL_DIR

    path = Path(str(model))
    if path.is_dir():
        path = path / "config.json"
    if not path.exists():
        path = MODEL_DIR / f"{model}.json"
    if not path.exists():
        raise CaptureError(f"model {model!r}: no preset or config.json by that name")
    return json.loads(path.read_text())


# ----- recording ----------------------------------------------------------------------------------------------
def _dtype_name(tensor: Any) -> str:
    text = str(tensor.dtype).removeprefix("torch.")
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "float64": "fp64"}.get(text, "fp32")


def _numel(tensor: Any) -> int:
    n = 1
    for size in tensor.shape:
        n *= int(size)
    return n


class _Recorder:
    """TorchDispatchMode that maps aten ops to IR ops and counts identical ones."""

    def __init__(self) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode

        recorder = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                return recorder.dispatch(func, args, kwargs or {})

        self.mode = Mode()
        self.counts: dict[tuple[str, Op], float] = {}
        self.unmapped: Counter[str] = Counter()
        self.paused = 0

    def __enter__(self) -> _Recorder:
        self.mode.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.mode.__exit__(*exc)

    def add(self, label: str, op: Op) -> None:
        self.counts[(label, op)] = self.counts.get((label, op), 0.0) + 1.0

    def dispatch(self, func: Any, args: tuple, kwargs: dict) -> Any:
        import torch

        if func is torch.ops.aten._local_scalar_dense.default and args[0].device.type == "meta":
            if args[0].dtype == torch.bool:
                return True  # see module docstring: dense, unpadded, unpacked inputs
            raise CaptureError(f"the model reads a tensor value ({func}) that a meta-device capture cannot know")
        out = func(*args, **kwargs)
        if not self.paused:
            self._record(func.overloadpacket.__name__, args, out)
        return out

    def _record(self, name: str, args: tuple, out: Any) -> None:
        op = _map(name, args, out)
        if op is not None:
            self.add(op.name, op)
        elif name not in FREE_OPS:
            self.unmapped[name] += 1


def _map(name: str, args: tuple, out: Any) -> Op | None:
    first = args[0] if args else None
    result = out[0] if isinstance(out, tuple | list) else out
    if name == "mm":
        return Gemm(m=args[0].shape[0], n=args[1].shape[1], k=args[0].shape[1], dtype=_dtype_name(args[0]),
                    shared_b=True)
    if name == "addmm":
        return Gemm(m=args[1].shape[0], n=args[2].shape[1], k=args[1].shape[1], dtype=_dtype_name(args[1]),
                    shared_b=True)
    if name in ("bmm", "baddbmm"):
        a, b = (args[0], args[1]) if name == "bmm" else (args[1], args[2])
        return Gemm(m=a.shape[1], n=b.shape[2], k=a.shape[2], batch=a.shape[0], dtype=_dtype_name(a))
    if name == "_grouped_mm":
        x, w = args[0], args[1]
        return GroupedGemm(groups=w.shape[0], n=w.shape[-1], k=x.shape[-1], tokens=x.shape[0], dtype=_dtype_name(x))
    if name == "embedding":
        return Embedding(tokens=_numel(args[1]), hidden=first.shape[1], vocab=first.shape[0],
                         dtype=_dtype_name(first))
    if name == "native_layer_norm":
        hidden = first.shape[-1]
        return Norm(rows=_numel(first) // hidden, hidden=hidden, norm="layer", dtype=_dtype_name(first))
    if name in ("_softmax", "_safe_softmax", "softmax"):
        cols = first.shape[-1]
        return Softmax(rows=max(_numel(first) // cols, 1), cols=cols, dtype=_dtype_name(first))
    if name in REDUCTIONS and hasattr(first, "shape") and first.dim() > 0:
        cols = first.shape[-1]
        return Reduction(rows=max(_numel(first) // cols, 1), cols=cols, dtype=_dtype_name(first),
                         op=REDUCTIONS[name])  # type: ignore[arg-type]
    if hasattr(result, "shape") and _numel(result) > 0 and (name in POINTWISE or name in COPY_OPS):
        kind = POINTWISE.get(name, "copy")
        return Elementwise(kind, _numel(result), _dtype_name(result))
    return None


class _SdpaMode:
    """TorchFunctionMode: record scaled_dot_product_attention as one Attention op and pause the aten recorder
    while its decomposition runs (so its bmm/softmax are not counted twice)."""

    def __init__(self, recorder: _Recorder) -> None:
        import torch
        from torch.overrides import TorchFunctionMode

        outer = self

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                if func is torch.nn.functional.scaled_dot_product_attention:
                    outer.record(args, kwargs)
                    recorder.paused += 1
                    try:
                        return func(*args, **kwargs)
                    finally:
                        recorder.paused -= 1
                return func(*args, **kwargs)

        self.mode = Mode()
        self.recorder = recorder

    def __enter__(self) -> _SdpaMode:
        self.mode.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.mode.__exit__(*exc)

    def record(self, args: tuple, kwargs: dict) -> None:
        q, k, v = args[:3]
        *lead, heads, q_len, head_dim = q.shape
        kv_heads, kv_len = k.shape[-3], k.shape[-2]
        batch = 1
        for size in lead:
            batch *= int(size)
        mask = kwargs.get("attn_mask", args[3] if len(args) > 3 else None)
        causal = bool(kwargs.get("is_causal", False)) or (mask is not None and q_len == kv_len and q_len > 1)
        self.recorder.add("attention", Attention(
            batch=batch, heads=int(heads), kv_heads=int(kv_heads), head_dim=int(head_dim), q_len=int(q_len),
            kv_len=int(kv_len), causal=causal, dtype=_dtype_name(q), v_head_dim=int(v.shape[-1])))
