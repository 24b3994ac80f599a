"""HF config parsing: parameter counts against the published figures of each family."""

import json

import pytest

from accelscope.workload.model_config import from_hf, list_models, load_model

LLAMA_31_70B = dict(model_type="llama", hidden_size=8192, num_hidden_layers=80, num_attention_heads=64,
                    num_key_value_heads=8, intermediate_size=28672, vocab_size=128256, tie_word_embeddings=False)
CASES = {
    # name: (config, published total, published active)
    "llama-3.1-70b": (LLAMA_31_70B, 70.6e9, None),
    "llama-3.1-405b": (dict(model_type="llama", hidden_size=16384, num_hidden_layers=126, num_attention_heads=128,
                            num_key_value_heads=8, intermediate_size=53248, vocab_size=128256), 405.9e9, None),
    "mixtral-8x7b": (dict(model_type="mixtral", hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                          num_key_value_heads=8, intermediate_size=14336, vocab_size=32000, num_local_experts=8,
                          num_experts_per_tok=2), 46.7e9, 12.9e9),
    "deepseek-v3": (dict(model_type="deepseek_v3", hidden_size=7168, num_hidden_layers=61, num_attention_heads=128,
                         num_key_value_heads=128, intermediate_size=18432, vocab_size=129280, q_lora_rank=1536,
                         kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
                         n_routed_experts=256, num_experts_per_tok=8, n_shared_experts=1, moe_intermediate_size=2048,
                         first_k_dense_replace=3, moe_layer_freq=1), 671e9, 37e9),
    "qwen3-30b-a3b": (dict(model_type="qwen3_moe", hidden_size=2048, num_hidden_layers=48, num_attention_heads=32,
                           num_key_value_heads=4, head_dim=128, intermediate_size=6144, vocab_size=151936,
                           num_experts=128, num_experts_per_tok=8, moe_intermediate_size=768), 30.5e9, 3.3e9),
    "gpt2": (dict(model_type="gpt2", n_embd=768, n_layer=12, n_head=12, vocab_size=50257, n_positions=1024),
             124e6, None),
}


@pytest.mark.parametrize("name", CASES)
def test_parameter_counts_match_published(name):
    cfg, total, active = CASES[name]
    model = from_hf(cfg, name)
    assert model.params() == pytest.approx(total, rel=0.01)
    if active:
        # DeepSeek's 37B and Qwen's 3.3B are rounded figures: allow 2 %
        assert model.params(active=True) == pytest.approx(active, rel=0.02)


def test_llama_70b_count_by_hand():
    m = from_hf(LLAMA_31_70B)
    attention = 8192 * (64 + 2 * 8) * 128 + 64 * 128 * 8192  # q,k,v + o projections
    mlp = 3 * 8192 * 28672  # gate, up, down
    per_layer = attention + mlp + 2 * 8192  # two RMSNorm scales
    assert m.params() == 80 * per_layer + 2 * 128256 * 8192 + 8192  # + embedding, LM head, final norm
    assert m.kv_bytes_per_token(2) == 80 * 2 * 8 * 128 * 2  # 320 KiB per token in bf16
    assert m.attention_kind == "GQA"


def test_deepseek_structure():
    m = from_hf(CASES["deepseek-v3"][0])
    assert m.attention_kind == "MLA"
    assert m.moe_layers == 61 - 3  # first 3 layers dense
    assert m.kv_bytes_per_token(1) == 61 * (512 + 64)  # compressed latent + rope key


def test_sliding_window_layers_are_counted():
    cfg = dict(model_type="gpt_oss", hidden_size=2880, num_hidden_layers=36, num_attention_heads=64,
               num_key_value_heads=8, head_dim=64, intermediate_size=2880, vocab_size=201088, num_local_experts=128,
               num_experts_per_tok=4, sliding_window=128, layer_types=["sliding_attention", "full_attention"] * 18)
    m = from_hf(cfg)
    assert (m.sliding_window, m.sliding_layers) == (128, 18)


def test_load_from_file_and_directory(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_31_70B))
    assert load_model(tmp_path).params() == load_model(tmp_path / "config.json").params()


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (dict(model_type="bert"), "unsupported family 'bert'"),
        (dict(model_type="llama", hidden_size=8), "num_attention_heads: required key"),
    ],
)
def test_bad_configs_name_the_key(cfg, message):
    with pytest.raises(ValueError, match=message):
        from_hf(cfg)


def test_bad_json_names_the_line(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"model_type": "llama",\n "hidden_size": }')
    with pytest.raises(ValueError, match="line 2"):
        load_model(bad)


@pytest.mark.parametrize("preset", list_models())
def test_every_preset_parses_and_matches_its_published_count(preset):
    model = load_model(preset)
    assert model.params() > 0
    if model.published_params:
        assert model.params() == pytest.approx(model.published_params, rel=0.03)


MIXTRAL = CASES["mixtral-8x7b"][0]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_attention_heads": 0}, r"config: num_attention_heads: must be >= 1 and at most 1e15 \(got 0\)"),
        ({"num_attention_heads": "32"}, r"num_attention_heads: expected a whole number >= 1 \(got '32'\)"),
        ({"num_hidden_layers": [32]}, r"num_hidden_layers: expected a whole number >= 1 \(got \[32\]\)"),
        ({"num_hidden_layers": True}, "num_hidden_layers: expected a whole number"),
        ({"hidden_size": 4096.0}, "hidden_size: expected a whole number"),
        ({"vocab_size": 10**400}, r"vocab_size: must be >= 1 and at most 1e15 \(got a 401-digit number\)"),
        ({"num_local_experts": 0}, "num_local_experts: must be >= 1"),
        ({"num_experts_per_tok": 9}, "num_experts_per_tok: routes each token to 9 experts of 8"),
        ({"num_key_value_heads": 5}, "num_key_value_heads: 5 must divide num_attention_heads = 32"),
        ({"hidden_size": 4097}, "hidden_size: 4097 does not split into num_attention_heads = 32 heads"),
        ({"layer_types": "sliding_attention"}, "layer_types: expected a list"),
        ({"model_type": ["mixtral"]}, "model_type: unsupported family"),
    ],
)
def test_config_values_are_checked_by_key(changes, message):
    """Wrong types, zeros and shapes that do not fit are refused naming the key (they used to raise TypeError or
    ZeroDivisionError deep in the graph builder)."""
    with pytest.raises(ValueError, match=message):
        from_hf({**MIXTRAL, **changes})


def test_a_bad_config_file_is_named_in_the_message(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({**MIXTRAL, "n_routed_experts": 0, "num_local_experts": 0}))
    with pytest.raises(ValueError, match=f"{tmp_path / 'config.json'}: num_local_experts: must be >= 1"):
        load_model(tmp_path)


def test_null_optional_keys_keep_their_defaults():
    model = from_hf({**LLAMA_31_70B, "head_dim": None, "sliding_window": None, "num_key_value_heads": None})
    assert model.head_dim == 128 and model.kv_heads == 64 and model.sliding_window is None
