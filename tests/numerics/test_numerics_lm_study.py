"""End-to-end study plumbing on tiny models (the real study runs are in docs/numerics.md)."""

import pytest

torch = pytest.importorskip("torch")

from accelscope.numerics.lm_study import (  # noqa: E402
    GPTConfig,
    load_hf_causal_lm,
    perplexity,
    ptq_study,
    quantized_model,
    split_corpus,
    stdlib_corpus,
    train_tiny_gpt,
)

TINY = GPTConfig(layers=1, heads=2, hidden=32, context=32)


@pytest.fixture(scope="module")
def data():
    train, test = split_corpus(stdlib_corpus(200_000))
    return train, test


@pytest.fixture(scope="module")
def trained(data):
    torch.set_num_threads(1)
    model, losses = train_tiny_gpt(data[0], cfg=TINY, steps=40, batch=8, lr=1e-2)
    return model, losses


def test_corpus_is_the_stdlib_and_deterministic():
    corpus = stdlib_corpus(50_000)
    assert len(corpus) == 50_000 and corpus == stdlib_corpus(50_000)
    assert b"def " in corpus  # Python source


def test_training_lowers_the_loss(trained):
    _, losses = trained
    # uniform over 256 bytes starts at ln 256 = 5.55 nats
    assert losses[0] > 5.0 and sum(losses[-5:]) / 5 < losses[0] - 1.0


def test_ptq_study_records_and_ordering(trained, data):
    model, _ = trained
    records = ptq_study(model, data[1], ["mxint8", "mxfp4"], context=TINY.context, roundings=("rne",),
                        max_windows=16)
    assert records[0]["mode"] == "none" and len(records) == 1 + 2 * 3
    by_key = {(r["format"], r["mode"]): r["perplexity"] for r in records[1:]}
    baseline = records[0]["perplexity"]
    assert abs(by_key[("mxint8", "weights")] - baseline) < 0.01 * baseline  # 8-bit: within 1 %
    assert by_key[("mxfp4", "weights+activations")] > by_key[("mxint8", "weights+activations")]


def test_quantized_model_restores_weights(trained):
    model, _ = trained
    weight = model.head.weight
    before = weight.data.clone()
    with quantized_model(model, "mxfp4", "weights"):
        assert not torch.equal(model.head.weight.data, before)
    assert torch.equal(model.head.weight.data, before)
    with (pytest.raises(ValueError, match=r"mode: must be one of weights, weights\+activations, kv_cache"),
          quantized_model(model, "mxfp4", "everything")):
        pass


@pytest.mark.parametrize("grad_rounding", ["rne", "stochastic"])
def test_low_precision_training_runs(data, grad_rounding):
    torch.set_num_threads(1)
    model, losses = train_tiny_gpt(data[0], cfg=TINY, steps=15, batch=4, lr=1e-2, matmul_format="mxfp8_e4m3",
                                   grad_rounding=grad_rounding)
    assert losses[-1] < losses[0]
    assert all(type(m).__name__ == "QuantizedLinear" for m in model.modules() if isinstance(m, torch.nn.Linear))


def test_local_hugging_face_checkpoint(tmp_path, data):
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(tmp_path)
    model = load_hf_causal_lm(tmp_path)
    baseline = perplexity(model, data[1], context=32, max_windows=4)
    assert 100 < baseline < 1000  # an untrained model is near uniform over 256 bytes
    records = ptq_study(model, data[1], ["mxfp4"], context=32, roundings=("rne",),
                        modes=("weights", "weights+activations"), max_windows=4)
    assert [r["mode"] for r in records] == ["none", "weights", "weights+activations"]
    assert records[1]["perplexity"] != baseline
    with (pytest.raises(ValueError, match=r"mode: kv_cache needs a model whose attention exposes"),
          quantized_model(model, "mxfp4", "kv_cache")):
        pass
    with pytest.raises(ValueError, match=r"path: .* is not a Hugging Face checkpoint directory"):
        load_hf_causal_lm(tmp_path / "missing")


def test_checkpoint_with_its_own_tokenizer(tmp_path):
    """A checkpoint directory with a tokenizer: text is encoded by that tokenizer, not as bytes."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from accelscope.numerics.lm_study import checkpoint_ptq_study, checkpoint_tokens, stdlib_corpus

    text = stdlib_corpus(60_000).decode("utf-8", errors="replace")
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel()
    bpe.train_from_iterator([text], trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>"]))
    PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>").save_pretrained(tmp_path)
    config = LlamaConfig(vocab_size=bpe.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    tokens = checkpoint_tokens(tmp_path, b"def f(x):\n    return x\n", config.vocab_size)
    assert 0 < len(tokens) < len(b"def f(x):\n    return x\n")  # BPE merges: fewer tokens than bytes
    records = checkpoint_ptq_study(tmp_path, ["mxfp8_e4m3"], context=32, max_bytes=40_000)
    assert records[0]["mode"] == "none" and all(r["perplexity"] > 1 for r in records)
