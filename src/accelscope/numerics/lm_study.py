"""End-to-end accuracy study on a real (small) language model: PTQ perplexity and low-precision training.

Needs the `torch` extra (and `transformers` for Hugging Face checkpoints); the rest of
`accelscope.numerics` does not import this module.

- Corpus: the Python standard library's own `.py` sources (always available offline), read as bytes;
  the model is byte-level (vocabulary 256), so no tokenizer is needed.
- Model: a small pre-LayerNorm GPT (`TinyGPT`) trained here on the CPU.
- PTQ: weights only (every Linear weight, blocks along the input dimension), weights + activations
  (every Linear input, blocks along the hidden dimension), KV cache (keys and values, blocks along the
  head dimension), each under a format and a rounding mode; quantisation goes through `fake_quantize`.
- Low-precision training: every Linear runs its forward and backward GEMMs on fake-quantised operands
  (e.g. MXFP8 E4M3), with the output gradient rounded with RNE or stochastic rounding.
"""

from __future__ import annotations

import math
import sysconfig
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .quantize import fake_quantize

MODES = ("weights", "weights+activations", "kv_cache")
VOCAB = 256  # byte-level


# ----- data -------------------------------------------------------------------------------------------
def stdlib_corpus(max_bytes: int = 2_000_000) -> bytes:
    """The standard library's top-level .py files, in name order, concatenated (deterministic)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    chunks, total = [], 0
    for path in sorted(root.glob("*.py")):
        data = path.read_bytes()
        chunks.append(data)
        total += len(data)
        if total >= max_bytes:
            break
    return b"".join(chunks)[:max_bytes]


def split_corpus(corpus: bytes, eval_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    data = torch.frombuffer(bytearray(corpus), dtype=torch.uint8).long()
    cut = int(len(data) * (1 - eval_fraction))
    return data[:cut], data[cut:]


# ----- model ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GPTConfig:
    layers: int = 2
    heads: int = 4
    hidden: int = 128
    context: int = 128


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.qkv = nn.Linear(cfg.hidden, 3 * cfg.hidden)
        self.proj = nn.Linear(cfg.hidden, cfg.hidden)
        self.kv_quantizer = None  # callable applied to keys and values (the KV cache), or None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, hidden = x.shape
        q, k, v = self.qkv(x).split(hidden, dim=-1)
        q, k, v = (t.view(batch, seq, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        if self.kv_quantizer is not None:
            k, v = self.kv_quantizer(k), self.kv_quantizer(v)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(out.transpose(1, 2).reshape(batch, seq, hidden))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.hidden), nn.LayerNorm(cfg.hidden)
        self.attn = Attention(cfg)
        self.mlp = nn.Sequential(nn.Linear(cfg.hidden, 4 * cfg.hidden), nn.GELU(), nn.Linear(4 * cfg.hidden, cfg.hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(VOCAB, cfg.hidden)
        self.position = nn.Embedding(cfg.context, cfg.hidden)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln_f = nn.LayerNorm(cfg.hidden)
        self.head = nn.Linear(cfg.hidden, VOCAB, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.position(torch.arange(tokens.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


# ----- fake quantisation in torch ---------------------------------------------------------------------
def fq_tensor(t: torch.Tensor, fmt: str, **kwargs) -> torch.Tensor:
    """fake_quantize a torch tensor (float32 round trip through numpy), keeping dtype and device."""
    values = fake_quantize(t.detach().float().cpu().numpy(), fmt, **kwargs)
    return torch.from_numpy(np.ascontiguousarray(values)).to(dtype=t.dtype, device=t.device)


def _scaling_kwargs(fmt: str) -> dict:
    """Element formats get per-row scales (per channel for weights, per token for activations)."""
    from .formats import BlockFormat, get_format

    return {} if isinstance(get_format(fmt), BlockFormat) or get_format(fmt).name in ("bf16", "fp16", "fp32") \
        else {"scaling": "channel"}


@contextmanager
def quantized_model(model: nn.Module, fmt: str, mode: str, rounding: str = "rne", seed: int = 0) -> Iterator[None]:
    """Temporarily quantise `model` for PTQ evaluation: weights, weights+activations, or the KV cache."""
    if mode not in MODES:
        raise ValueError(f"mode: must be one of {', '.join(MODES)} (got {mode!r})")
    kwargs = {"rounding": rounding, "seed": seed, **_scaling_kwargs(fmt)}
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    saved = {m: m.weight.data.clone() for m in linears}
    hooks, attentions = [], [m for m in model.modules() if hasattr(m, "kv_quantizer")]
    try:
        if mode in ("weights", "weights+activations"):
            for m in linears:
                m.weight.data = fq_tensor(m.weight.data, fmt, axis=-1, **kwargs)
        if mode == "weights+activations":
            for m in linears:
                hooks.append(m.register_forward_pre_hook(lambda _m, args: (fq_tensor(args[0], fmt, **kwargs),)))
        if mode == "kv_cache":
            if not attentions:
                raise ValueError("mode: kv_cache needs a model whose attention exposes `kv_quantizer` (TinyGPT)")
            for a in attentions:
                a.kv_quantizer = lambda t: fq_tensor(t, fmt, **kwargs)
        yield
    finally:
        for m, w in saved.items():
            m.weight.data = w
        for h in hooks:
            h.remove()
        for a in attentions:
            a.kv_quantizer = None


# ----- training and evaluation --------------------------------------------------------------------------
def _batches(data: torch.Tensor, context: int, batch: int, generator: torch.Generator) -> torch.Tensor:
    starts = torch.randint(0, len(data) - context - 1, (batch,), generator=generator)
    return torch.stack([data[s : s + context + 1] for s in starts.tolist()])


class _QuantizedMatmul(torch.autograd.Function):
    """y = Q(x) @ Q(W)^T; backward on Q(dy) (optionally stochastic) against the quantised operands."""

    @staticmethod
    def forward(ctx, x, weight, fmt, grad_rounding, seed):
        qx, qw = fq_tensor(x, fmt, axis=-1), fq_tensor(weight, fmt, axis=-1)
        ctx.save_for_backward(qx, qw)
        ctx.fmt, ctx.grad_rounding, ctx.seed = fmt, grad_rounding, seed
        return qx @ qw.T

    @staticmethod
    def backward(ctx, grad):
        qx, qw = ctx.saved_tensors
        g = fq_tensor(grad, ctx.fmt, axis=-1, rounding=ctx.grad_rounding, seed=ctx.seed)
        grad_x = g @ fq_tensor(qw, ctx.fmt, axis=0)
        grad_w = fq_tensor(g.reshape(-1, g.shape[-1]), ctx.fmt, axis=0).T @ \
            fq_tensor(qx.reshape(-1, qx.shape[-1]), ctx.fmt, axis=0)
        return grad_x, grad_w, None, None, None


class QuantizedLinear(nn.Linear):
    """nn.Linear whose three GEMMs see fake-quantised operands (blocks along each GEMM's K)."""

    fmt: str = "mxfp8_e4m3"
    grad_rounding: str = "rne"
    calls: int = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        y = _QuantizedMatmul.apply(x, self.weight, self.fmt, self.grad_rounding, self.calls)
        return y + self.bias if self.bias is not None else y


def _make_low_precision(model: nn.Module, fmt: str, grad_rounding: str) -> None:
    for module in model.modules():
        if isinstance(module, nn.Linear):
            module.__class__ = QuantizedLinear
            module.fmt, module.grad_rounding = fmt, grad_rounding


def train_tiny_gpt(
    train: torch.Tensor, *, cfg: GPTConfig = GPTConfig(), steps: int = 300, batch: int = 32, lr: float = 3e-3,
    seed: int = 0, matmul_format: str | None = None, grad_rounding: str = "rne",
) -> tuple[TinyGPT, list[float]]:
    """Train on random windows of `train`; with `matmul_format`, every Linear trains in that format."""
    torch.manual_seed(seed)
    model = TinyGPT(cfg)
    if matmul_format is not None:
        _make_low_precision(model, matmul_format, grad_rounding)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        window = _batches(train, cfg.context, batch, generator)
        logits = model(window[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), window[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
    return model, losses


@torch.no_grad()
def perplexity(model: nn.Module, data: torch.Tensor, context: int, max_windows: int = 64) -> float:
    """exp(mean next-token cross-entropy) over consecutive non-overlapping windows of `data`."""
    windows = data[: (len(data) - 1) // context * context + 1]
    starts = list(range(0, len(windows) - 1 - context + 1, context))[:max_windows]
    batch = torch.stack([data[s : s + context + 1] for s in starts])
    logits = _logits(model, batch[:, :-1])
    return math.exp(float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))))


def _logits(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    out = model(tokens)
    return out.logits if hasattr(out, "logits") else out


def ptq_study(
    model: nn.Module, data: torch.Tensor, formats: Iterable[str], *, context: int,
    roundings: Iterable[str] = ("rne", "stochastic"), modes: Iterable[str] = MODES, max_windows: int = 64,
) -> list[dict[str, object]]:
    """Perplexity of `model` on `data` under each (format, rounding, mode); the first record is the baseline."""
    model.eval()
    baseline = perplexity(model, data, context, max_windows)
    records: list[dict[str, object]] = [{"format": "fp32", "rounding": "-", "mode": "none", "perplexity": baseline}]
    for fmt in formats:
        for rounding in roundings:
            for mode in modes:
                with quantized_model(model, fmt, mode, rounding):
                    ppl = perplexity(model, data, context, max_windows)
                records.append({"format": fmt, "rounding": rounding, "mode": mode, "perplexity": ppl,
                                "delta": ppl - baseline})
    return records


def load_hf_causal_lm(path: str | Path) -> nn.Module:
    """A local Hugging Face causal-LM checkpoint directory (no network: local_files_only)."""
    from transformers import AutoModelForCausalLM

    if not Path(path, "config.json").exists():
        raise ValueError(f"path: {path} is not a Hugging Face checkpoint directory (no config.json)")
    return AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, torch_dtype=torch.float32)


def checkpoint_tokens(path: str | Path, text: bytes, vocab_size: int) -> torch.Tensor:
    """Token ids for `text` as the checkpoint would see them: its own tokenizer when the directory has one
    (tokenizer.json / tokenizer_config.json, loaded offline), else raw byte ids (which need a vocabulary >= 256)."""
    directory = Path(path)
    if (directory / "tokenizer.json").exists() or (directory / "tokenizer_config.json").exists():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        ids = tokenizer(text.decode("utf-8", errors="replace"), add_special_tokens=False)["input_ids"]
        return torch.tensor(ids, dtype=torch.long)
    if vocab_size < 256:
        raise ValueError(f"{path}: no tokenizer files and a vocabulary of {vocab_size} < 256; add the checkpoint's "
                         "tokenizer (tokenizer.json) so the text can be encoded")
    return torch.tensor(list(text), dtype=torch.long)


def checkpoint_ptq_study(path: str | Path, formats: Iterable[str], *, context: int = 128, max_bytes: int = 200_000,
                         modes: Iterable[str] = ("weights", "weights+activations"),
                         roundings: Iterable[str] = ("rne",)) -> list[dict[str, object]]:
    """Perplexity of a local Hugging Face checkpoint on held-out standard-library text, per format."""
    model = load_hf_causal_lm(path)
    text = stdlib_corpus(max_bytes)
    tokens = checkpoint_tokens(path, text[int(0.9 * len(text)):], model.config.vocab_size)
    return ptq_study(model, tokens, formats, context=context, roundings=roundings, modes=modes)


# ----- the documented study (python -m accelscope.numerics.lm_study) --------------------------------------
PTQ_FORMATS = ("fp8_e4m3", "fp8_e5m2", "mxfp8_e4m3", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4", "nvfp4", "mxint8",
               "int8", "int4")
TRAINING_RUNS = ((None, "rne"), ("mxfp8_e4m3", "rne"), ("mxfp8_e4m3", "stochastic"), ("mxfp4", "rne"),
                 ("mxfp4", "stochastic"))


def _markdown(rows: list[list[str]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def main(steps: int = 300, seed: int = 0) -> None:
    """Train the documented TinyGPT, print the PTQ table and the low-precision training table (Markdown)."""
    cfg = GPTConfig()
    train, test = split_corpus(stdlib_corpus())
    model, _ = train_tiny_gpt(train, cfg=cfg, steps=steps, seed=seed)
    records = ptq_study(model, test, PTQ_FORMATS, context=cfg.context)
    baseline = records[0]["perplexity"]
    print(f"TinyGPT {cfg}, {steps} steps, FP32 perplexity {baseline:.4f} (stdlib bytes, held-out 10 %)\n")
    table = {}
    for r in records[1:]:
        table.setdefault((r["format"], r["rounding"]), {})[r["mode"]] = r["perplexity"]
    rows = [[fmt, rnd, *(f"{modes[m]:.4f}" for m in MODES)] for (fmt, rnd), modes in table.items()]
    print(_markdown(rows, ["format", "rounding", *MODES]) + "\n")
    small = GPTConfig(layers=2, heads=4, hidden=64, context=64)
    rows = []
    for fmt, grad_rounding in TRAINING_RUNS:
        trained, losses = train_tiny_gpt(train, cfg=small, steps=steps, batch=16, seed=seed, matmul_format=fmt,
                                         grad_rounding=grad_rounding)
        trained.eval()
        rows.append([fmt or "fp32", grad_rounding if fmt else "-", f"{sum(losses[-20:]) / 20:.4f}",
                     f"{perplexity(trained, test, small.context):.4f}"])
    print(f"Low-precision training, TinyGPT {small}, {steps} steps\n")
    print(_markdown(rows, ["matmul format", "gradient rounding", "final train loss (last 20)", "eval perplexity"]))


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
