"""Model names as published tables write them, mapped onto the model presets (workload/models/)."""

from __future__ import annotations

import re

from ..workload.model_config import list_models

# Megatron-LM's GPT vocabulary: GPT-2's 50,257 BPE tokens padded to a multiple of 128 x TP, 51,200 in its GPT
# tables (the SC21 rows, predict._llm_training) and the one a GPT table that names no vocabulary is read with
GPT_VOCAB = 51200

# (pattern on the row's model text, preset): the families and sizes the presets hold
MODEL_PRESETS: tuple[tuple[str, str], ...] = (
    (r"llama\W*3(\.\d)?\W*(405|400)b", "llama-3.1-405b"), (r"llama\W*3(\.\d)?\W*70b", "llama-3.1-70b"),
    (r"llama\W*3(\.\d)?\W*8b", "llama-3.1-8b"), (r"llama\W*3\.2\W*1b", "llama-3.2-1b"),
    (r"llama\W*3\.2\W*3b", "llama-3.2-3b"), (r"llama\W*2\W*70b", "llama-2-70b"),
    (r"llama\W*2\W*13b", "llama-2-13b"), (r"llama\W*2\W*7b", "llama-2-7b"),
    (r"mixtral\W*8x7b", "mixtral-8x7b"), (r"mistral\W*7b", "mistral-7b"),
    (r"deepseek\W*(coder\W*)?v2\W*lite", "deepseek-v2-lite"), (r"deepseek\W*v3", "deepseek-v3"),
    (r"qwen\W*3\W*235b", "qwen3-235b-a22b"), (r"qwen\W*3\W*30b", "qwen3-30b-a3b"), (r"qwen\W*3\W*32b", "qwen3-32b"),
    (r"qwen\W*3\W*8b", "qwen3-8b"), (r"qwen\W*2\.5\W*32b|qwq\W*32b", "qwen2.5-32b"), (r"qwen\W*2\.5\W*7b", "qwen2.5-7b"),
    (r"gpt\W*oss\W*120b", "gpt-oss-120b"), (r"gpt\W*3\W*175b", "gpt-3-175b"), (r"gpt\W*j", "gpt-j-6b"),
)


def model_preset(text: str) -> str | None:
    """The preset a model name denotes ("LLAMA3.1_405B", "Llama 3 70B", "DeepSeekV3"), or None."""
    lowered = text.lower().replace("_", " ")
    preset = next((p for pattern, p in MODEL_PRESETS if re.search(pattern, lowered)), None)
    return preset if preset in list_models() else None
