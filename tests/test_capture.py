"""Torch capture on the meta device, cross-checked with the analytical builder (issue: two routes agree)."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from accelscope.workload import Attention, GroupedGemm  # noqa: E402
from accelscope.workload.capture import CaptureError, capture  # noqa: E402
from accelscope.workload.llm_graph import Parallelism, Precision, Step, forward_graph  # noqa: E402
from accelscope.workload.model_config import from_hf  # noqa: E402

from .test_model_config import CASES, LLAMA_31_70B  # noqa: E402

ROUTES = {
    "llama-3.1-70b": LLAMA_31_70B,
    "qwen3-30b-a3b": CASES["qwen3-30b-a3b"][0],
    "gpt2": CASES["gpt2"][0],
    "mixtral-tiny": dict(model_type="mixtral", hidden_size=256, num_hidden_layers=2, num_attention_heads=8,
                         num_key_value_heads=2, intermediate_size=512, vocab_size=1000, num_local_experts=4,
                         num_experts_per_tok=2),
}


@pytest.mark.parametrize("name", ROUTES)
def test_capture_and_analytical_builder_agree(name):
    cfg = ROUTES[name]
    batch, seq = 2, 64
    captured = capture(cfg, batch=batch, seq_len=seq)
    model = from_hf(cfg, name)
    built = forward_graph(model, Step(batch=batch, new_tokens=seq), Parallelism(), Precision())
    assert captured.graph.cost().matrix_flops == pytest.approx(built.cost().matrix_flops, rel=0.01)
    assert captured.params == pytest.approx(model.params(), rel=0.01)
    assert captured.weight_bytes == pytest.approx(2 * model.params(), rel=0.01)  # bf16 weights
    assert not captured.unmapped, f"aten ops with no IR mapping: {captured.unmapped}"


def test_capture_records_causal_gqa_attention_and_grouped_experts():
    cfg = ROUTES["qwen3-30b-a3b"]
    ops = [node.op for node in capture(cfg, batch=1, seq_len=32).graph.nodes]
    attn = next(op for op in ops if isinstance(op, Attention))
    assert (attn.heads, attn.kv_heads, attn.head_dim, attn.causal) == (32, 4, 128, True)
    experts = [op for op in ops if isinstance(op, GroupedGemm)]
    assert experts and experts[0].groups == 128 and experts[0].tokens == 32 * 8  # tokens x top_k pairs


def test_capture_a_plain_module():
    class TwoLayer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.up = torch.nn.Linear(64, 256)
            self.down = torch.nn.Linear(256, 64)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.down(torch.nn.functional.gelu(self.up(x.float().unsqueeze(-1).expand(-1, -1, 64))))

    with torch.device("meta"):
        module = TwoLayer()
    result = capture(module, batch=4, seq_len=8)
    # two linears over 32 tokens: 2*32*(64*256 + 256*64) FLOPs
    assert result.graph.cost().matrix_flops == 2 * 32 * (64 * 256 + 256 * 64)
    assert result.params == 64 * 256 + 256 + 256 * 64 + 64


def test_capture_rejects_configs_it_cannot_build():
    with pytest.raises(CaptureError, match="model_type"):
        capture({"hidden_size": 8})
