"""LLM architecture configs read from Hugging Face `config.json` files (or dicts of their keys).

One `ModelConfig` describes every family we support with the same fields; `from_hf` maps each family's key
names onto them. Shapes only: nothing here downloads or allocates weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

MODEL_DIR = Path(__file__).parent / "models"


@dataclass(frozen=True, slots=True)
class MoE:
    experts: int  # routed experts per MoE layer
    top_k: int  # routed experts per token
    intermediate: int  # hidden width of one routed expert
    shared_experts: int = 0
    shared_intermediate: int = 0  # width of the shared expert(s) together
    first_dense_layers: int = 0  # DeepSeek's first_k_dense_replace
    every: int = 1  # an MoE layer every `every` layers (decoder_sparse_step)
    imbalance: float = 1.0  # tokens on the busiest expert / the mean (1.0 = perfectly balanced routing)


@dataclass(frozen=True, slots=True)
class MLA:
    """DeepSeek multi-head latent attention ranks."""

    q_lora_rank: int | None
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int


@dataclass(frozen=True, slots=True)
class ModelConfig:
    name: str
    family: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int  # dense MLP width
    vocab: int
    mlp: Literal["swiglu", "gelu"] = "swiglu"
    norm: Literal["rms", "layer"] = "rms"
    tie_embeddings: bool = False
    qkv_bias: bool = False
    moe: MoE | None = None
    mla: MLA | None = None
    sliding_window: int | None = None
    sliding_layers: int = 0  # how many of the layers use the sliding window
    max_position: int | None = None
    learned_positions: int = 0  # rows of a learned absolute position embedding (GPT-2, GPT-3), 0 for RoPE
    qk_norm: bool = False  # a norm over each head's query and key (Megatron-LM --qk-layernorm, OLMo 2, Qwen3)
    # the gated MLP's inputs clamped before the activation (gpt-oss `swiglu_limit`, 7.0: the gate at most 7, the
    # linear half within +-7; Megatron Core `activation_func_clamp_value`); None: no clamp
    glu_clamp: float | None = None
    source: str = ""
    published_params: float | None = field(default=None, compare=False)

    # ----- structure ---------------------------------------------------------------------------------------
    def is_moe_layer(self, index: int) -> bool:
        if self.moe is None or index < self.moe.first_dense_layers:
            return False
        return (index + 1) % self.moe.every == 0

    @property
    def moe_layers(self) -> int:
        return sum(self.is_moe_layer(i) for i in range(self.layers))

    @property
    def attention_kind(self) -> str:
        if self.mla:
            return "MLA"
        if self.kv_heads == 1:
            return "MQA"
        return "GQA" if self.kv_heads < self.heads else "MHA"

    # ----- parameters --------------------------------------------------------------------------------------
    def attention_params(self) -> int:
        h = self.hidden
        if self.mla:
            m = self.mla
            qk = m.qk_nope_head_dim + m.qk_rope_head_dim
            q = h * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * self.heads * qk if m.q_lora_rank else h * self.heads * qk
            kv = h * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank  # + kv norm
            kv += m.kv_lora_rank * self.heads * (m.qk_nope_head_dim + m.v_head_dim)
            return q + kv + self.heads * m.v_head_dim * h
        qkv = h * (self.heads + 2 * self.kv_heads) * self.head_dim
        bias = (self.heads + 2 * self.kv_heads) * self.head_dim if self.qkv_bias else 0
        return qkv + bias + self.heads * self.head_dim * h

    def mlp_params(self, width: int) -> int:
        matrices = 3 if self.mlp == "swiglu" else 2
        bias = (width + self.hidden) if self.mlp == "gelu" and self.family in ("gpt2", "gptj", "gpt") else 0
        return matrices * self.hidden * width + bias

    def layer_params(self, index: int, active: bool = False) -> int:
        norms = 2 * self.hidden * (2 if self.norm == "layer" else 1)
        if not self.is_moe_layer(index):
            return self.attention_params() + self.mlp_params(self.intermediate) + norms
        moe = self.moe
        assert moe is not None
        routed = (moe.top_k if active else moe.experts) * self.mlp_params(moe.intermediate)
        shared = self.mlp_params(moe.shared_intermediate) if moe.shared_experts else 0
        router = self.hidden * moe.experts
        return self.attention_params() + routed + shared + router + norms

    def params(self, active: bool = False) -> int:
        """Total (or, for MoE, active-per-token) parameters, embeddings and LM head included."""
        embed = (self.vocab + self.learned_positions) * self.hidden
        head = 0 if self.tie_embeddings else self.vocab * self.hidden
        final_norm = self.hidden * (2 if self.norm == "layer" else 1)
        return embed + head + final_norm + sum(self.layer_params(i, active) for i in range(self.layers))

    def kv_bytes_per_token(self, kv_bytes: float = 2.0) -> float:
        """KV-cache bytes per token across all layers (MLA caches the compressed latent plus the rope key)."""
        if self.mla:
            per_layer = self.mla.kv_lora_rank + self.mla.qk_rope_head_dim
        else:
            per_layer = 2 * self.kv_heads * self.head_dim
        return per_layer * self.layers * kv_bytes


# ----- loading -----------------------------------------------------------------------------------------------
def list_models() -> list[str]:
    return sorted(p.stem for p in MODEL_DIR.glob("*.json"))


def load_model(model: str | Path | dict[str, Any] | ModelConfig) -> ModelConfig:
    """A preset id ("llama-3.1-70b"), a path to a config.json (or its directory), a dict of HF keys, or a config."""
    if isinstance(model, ModelConfig):
        return model
    if isinstance(model, dict):
        return from_hf(model, name=str(model.get("_name_or_path") or model.get("model_type", "model")))
    text = str(model)
    if not text.strip():  # Path("") is the working folder: it was read as "./config.json: file not found"
        raise ValueError(f"model: empty name; pass a preset ({', '.join(list_models())}) or a path to a config.json")
    path = Path(text).expanduser()
    if path.is_dir():
        path = path / "config.json"
    if path.suffix == ".json" or path.exists():
        return from_hf(_read_json(path), name=path.parent.name if path.name == "config.json" else path.stem,
                       origin=str(path))
    preset = MODEL_DIR / f"{text}.json"
    if preset.exists():
        return from_hf(_read_json(preset), name=text, origin=preset.name)
    raise ValueError(f"model {text!r}: no preset, file or directory by that name; presets: {', '.join(list_models())}")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (not UTF-8); pass a Hugging Face config.json") from None
    except FileNotFoundError:
        raise ValueError(f"{path}: file not found; pass a model preset id or a path to a config.json") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of config keys")
    return data


def from_hf(cfg: dict[str, Any], name: str = "model", origin: str = "config") -> ModelConfig:
    """Map a Hugging Face config (any supported family) onto ModelConfig."""
    family = cfg.get("model_type", "gpt")
    builder = _FAMILIES.get(family) if isinstance(family, str) else None
    if builder is None:
        raise ValueError(f"{origin}: model_type: unsupported family {family!r}; supported: {', '.join(_FAMILIES)}")
    _check_keys(cfg, origin)
    # a size key set to null is as if absent: the family's default, or "required key ... is missing"
    cfg = {key: value for key, value in cfg.items() if value is not None or key not in _SIZE_KEYS}
    try:
        config = builder(cfg, name)
    except KeyError as exc:
        raise ValueError(f"{origin}: {exc.args[0]}: required key for model_type {family!r} is missing") from None
    _check_shapes(config, cfg, origin)
    meta = cfg.get("_accelscope", {})
    published = meta.get("params_total") if isinstance(meta, dict) else None
    source = meta.get("source", origin) if isinstance(meta, dict) else origin
    return _replace(config, source=source, published_params=published)


# ----- validation: every key we read is an integer in range, and the shapes fit together --------------------------
# Sizes and counts read from a config: > 0 when given (null or absent: the family's default applies).
POSITIVE_KEYS = (
    "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "intermediate_size",
    "vocab_size", "max_position_embeddings", "n_embd", "n_layer", "n_head", "n_inner", "n_positions",
    "num_local_experts", "num_experts", "num_experts_per_tok", "experts_per_token", "moe_intermediate_size",
    "n_routed_experts", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
    "sliding_window", "decoder_sparse_step", "moe_layer_freq",
)
FLAG_KEYS = ("tie_word_embeddings", "attention_bias", "use_sliding_window")
NON_NEGATIVE_KEYS = ("n_shared_experts", "shared_expert_intermediate_size", "first_k_dense_replace")
MAX_SIZE = 10**15  # as for op dimensions (workload/ops/base.py MAX_DIM): products of a few stay finite floats
MAX_EXPERTS = 1 << 16  # as for GroupedGemm.groups (workload/ops/matmul.py)
# Layers are walked one by one (parameter counts, pipeline stages): 1e5 is far above any real model (Llama 3.1
# 405B: 126) and still quick; 1e12 layers ran for minutes before this limit.
MAX_LAYERS = 100_000
LAYER_KEYS = ("num_hidden_layers", "n_layer")
_SIZE_KEYS = frozenset((*POSITIVE_KEYS, *NON_NEGATIVE_KEYS))


def _check_keys(cfg: dict[str, Any], origin: str) -> None:
    """Each size key we read, when set, is a whole number (not a bool, string or list) in its range."""
    for key in (*POSITIVE_KEYS, *NON_NEGATIVE_KEYS):
        value = cfg.get(key)
        if value is None:
            continue
        least = 1 if key in POSITIVE_KEYS else 0
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{origin}: {key}: expected a whole number >= {least} (got {value!r:.40})")
        if not least <= value <= MAX_SIZE:
            shown = value if abs(value) < 10**20 else f"a {len(str(value))}-digit number"
            raise ValueError(f"{origin}: {key}: must be >= {least} and at most 1e15 (got {shown})")
        if key in LAYER_KEYS and value > MAX_LAYERS:
            raise ValueError(f"{origin}: {key}: {value:,} layers; at most {MAX_LAYERS:,} are modelled")
    for key in FLAG_KEYS:  # bool("false") is True: a quoted flag would be read as its opposite
        value = cfg.get(key)
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{origin}: {key}: expected true or false (got {value!r:.40})")
    types = cfg.get("layer_types")
    if types is not None and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
        raise ValueError(f"{origin}: layer_types: expected a list of layer type names (got {types!r:.40})")


def _check_shapes(config: ModelConfig, cfg: dict[str, Any], origin: str) -> None:
    """Relations the model needs: heads split into KV groups, a hidden size split into heads, top-k of the experts."""
    head_key = "n_head" if "n_head" in cfg else "num_attention_heads"
    if config.heads % config.kv_heads:
        raise ValueError(f"{origin}: num_key_value_heads: {config.kv_heads} must divide {head_key} = {config.heads}")
    if config.mla is None and not cfg.get("head_dim") and config.hidden % config.heads:
        hidden_key = "n_embd" if "n_embd" in cfg else "hidden_size"
        raise ValueError(f"{origin}: {hidden_key}: {config.hidden} does not split into {head_key} = {config.heads} "
                         "heads; give head_dim")
    moe = config.moe
    if moe is not None and moe.experts > MAX_EXPERTS:
        raise ValueError(f"{origin}: experts: {moe.experts:,} routed experts; at most {MAX_EXPERTS:,} are modelled")
    if moe is not None and moe.top_k > moe.experts:
        raise ValueError(f"{origin}: num_experts_per_tok: routes each token to {moe.top_k} experts of {moe.experts}; "
                         "must be at most the number of experts")
    if moe is not None and moe.first_dense_layers > config.layers:
        raise ValueError(f"{origin}: first_k_dense_replace: {moe.first_dense_layers} dense layers of "
                         f"{config.layers}; must be at most num_hidden_layers")


def _replace(config: ModelConfig, **changes: Any) -> ModelConfig:
    import dataclasses

    return dataclasses.replace(config, **changes)


def _common(cfg: dict[str, Any], name: str, family: str) -> dict[str, Any]:
    heads = cfg["num_attention_heads"]
    hidden = cfg["hidden_size"]
    return dict(
        name=name, family=family, hidden=hidden, layers=cfg["num_hidden_layers"], heads=heads,
        kv_heads=cfg.get("num_key_value_heads") or heads, head_dim=cfg.get("head_dim") or hidden // heads,
        intermediate=cfg.get("intermediate_size") or 4 * hidden, vocab=cfg["vocab_size"],
        tie_embeddings=bool(cfg.get("tie_word_embeddings", False)), max_position=cfg.get("max_position_embeddings"),
    )


def _sliding(cfg: dict[str, Any], layers: int) -> dict[str, Any]:
    window = cfg.get("sliding_window")
    if not window or cfg.get("use_sliding_window") is False:
        return {}
    types = cfg.get("layer_types")
    count = sum(t == "sliding_attention" for t in types) if types else layers
    return {"sliding_window": int(window), "sliding_layers": count}


def _llama(cfg: dict[str, Any], name: str) -> ModelConfig:
    base = _common(cfg, name, cfg.get("model_type", "llama"))
    qkv_bias = bool(cfg.get("attention_bias", False)) or cfg.get("model_type") == "qwen2"
    return ModelConfig(**base, qkv_bias=qkv_bias, **_sliding(cfg, base["layers"]))


def _mixtral(cfg: dict[str, Any], name: str) -> ModelConfig:
    base = _common(cfg, name, "mixtral")
    moe = MoE(experts=cfg["num_local_experts"], top_k=cfg["num_experts_per_tok"], intermediate=base["intermediate"])
    return ModelConfig(**base, moe=moe, **_sliding(cfg, base["layers"]))


def _qwen_moe(cfg: dict[str, Any], name: str) -> ModelConfig:
    base = _common(cfg, name, cfg["model_type"])
    shared = cfg.get("shared_expert_intermediate_size") or 0
    moe = MoE(experts=cfg["num_experts"], top_k=cfg["num_experts_per_tok"], intermediate=cfg["moe_intermediate_size"],
              shared_experts=1 if shared else 0, shared_intermediate=shared, every=cfg.get("decoder_sparse_step", 1))
    return ModelConfig(**base, moe=moe, qkv_bias=cfg["model_type"] == "qwen2_moe", **_sliding(cfg, base["layers"]))


def _deepseek(cfg: dict[str, Any], name: str) -> ModelConfig:
    base = _common(cfg, name, cfg["model_type"])
    mla = MLA(q_lora_rank=cfg.get("q_lora_rank"), kv_lora_rank=cfg["kv_lora_rank"],
              qk_nope_head_dim=cfg["qk_nope_head_dim"], qk_rope_head_dim=cfg["qk_rope_head_dim"],
              v_head_dim=cfg["v_head_dim"])
    shared = cfg.get("n_shared_experts") or 0
    moe = MoE(experts=cfg["n_routed_experts"], top_k=cfg["num_experts_per_tok"],
              intermediate=cfg["moe_intermediate_size"], shared_experts=shared,
              shared_intermediate=shared * cfg["moe_intermediate_size"],
              first_dense_layers=cfg.get("first_k_dense_replace", 0), every=cfg.get("moe_layer_freq", 1))
    base["head_dim"] = mla.qk_nope_head_dim + mla.qk_rope_head_dim
    return ModelConfig(**base, mla=mla, moe=moe)


def _gpt_oss(cfg: dict[str, Any], name: str) -> ModelConfig:
    base = _common(cfg, name, "gpt_oss")
    top_k = cfg.get("num_experts_per_tok") or cfg["experts_per_token"]
    moe = MoE(experts=cfg["num_local_experts"], top_k=top_k, intermediate=base["intermediate"])
    clamp = cfg.get("swiglu_limit")
    return ModelConfig(**base, moe=moe, qkv_bias=bool(cfg.get("attention_bias", True)),
                       glu_clamp=float(clamp) if clamp else None, **_sliding(cfg, base["layers"]))


def _gpt2(cfg: dict[str, Any], name: str) -> ModelConfig:
    hidden = cfg["n_embd"]
    return ModelConfig(
        name=name, family="gpt2", hidden=hidden, layers=cfg["n_layer"], heads=cfg["n_head"], kv_heads=cfg["n_head"],
        head_dim=hidden // cfg["n_head"], intermediate=cfg.get("n_inner") or 4 * hidden, vocab=cfg["vocab_size"],
        mlp="gelu", norm="layer", tie_embeddings=cfg.get("tie_word_embeddings", True), qkv_bias=True,
        max_position=cfg.get("n_positions"), learned_positions=cfg.get("n_positions", 1024),
    )


def _gptj(cfg: dict[str, Any], name: str) -> ModelConfig:
    hidden = cfg["n_embd"]
    return ModelConfig(
        name=name, family="gptj", hidden=hidden, layers=cfg["n_layer"], heads=cfg["n_head"], kv_heads=cfg["n_head"],
        head_dim=hidden // cfg["n_head"], intermediate=cfg.get("n_inner") or 4 * hidden, vocab=cfg["vocab_size"],
        mlp="gelu", norm="layer", tie_embeddings=False, max_position=cfg.get("n_positions"),
    )


def _plain_gpt(cfg: dict[str, Any], name: str) -> ModelConfig:
    """Megatron-style GPT defined by hidden size, layers, heads, vocab (GELU MLP of 4x hidden, LayerNorm)."""
    base = _common(cfg, name, "gpt")
    return ModelConfig(**base, mlp="gelu", norm="layer", qkv_bias=True,
                       learned_positions=cfg.get("max_position_embeddings") or 0)


_FAMILIES = {
    "llama": _llama, "mistral": _llama, "qwen2": _llama, "qwen3": _llama,
    "mixtral": _mixtral, "qwen2_moe": _qwen_moe, "qwen3_moe": _qwen_moe,
    "deepseek_v3": _deepseek, "deepseek_v2": _deepseek, "gpt_oss": _gpt_oss,
    "gpt2": _gpt2, "gptj": _gptj, "gpt": _plain_gpt,
}
