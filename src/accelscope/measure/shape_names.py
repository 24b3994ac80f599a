"""The names kernel benchmarks give an op's dimensions, mapped onto the ones the op mappers read.

A GEMM table may say `m, n, k` or `batch_size`; FlashAttention's benchmark scripts say `seqlen`, `nheads`,
`headdim`; a norm benchmark `tokens` and `hidden_size`. `with_canonical_names` adds, to a row's shape, each name a
mapper reads (measure/predict.py, rows_attention.py) that the row gives under another name: compared without case,
"-", "_" or spaces, never replacing a name the row already gives, so a row that already uses the mappers' names
is read exactly as before. Training rows have their own reading (training_generic.py).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from .dataset import MeasuredRow

# category -> (the name a mapper reads, the names sources give it)
CANONICAL: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "gemm": (("M", ("m",)), ("N", ("n",)), ("K", ("k",)), ("batch", ("b", "batch_size", "batch_count"))),
    "attention": (
        ("batch", ("b", "batch_size", "bs")),
        ("heads", ("nheads", "num_heads", "n_heads", "num_attention_heads", "num_q_heads", "nheads_q", "h")),
        ("kv_heads", ("nheads_k", "nheads_kv", "num_kv_heads", "n_kv_heads", "num_key_value_heads", "hkv")),
        ("head_dim", ("headdim", "dim_head", "head_size", "d")),
        ("q_len", ("seqlen_q", "sq", "seq_q", "query_len", "q_seqlen", "seqlen", "seq_len", "sequence_length")),
        ("kv_len", ("seqlen_k", "skv", "seq_k", "kv_seqlen", "seqlen", "seq_len", "sequence_length")),
        ("causal", ("is_causal",)),
        ("mode", ("pass", "direction")),
    ),
    "llm_inference": (
        ("model", ("model_name", "model_id", "hf_model")),
        ("TP", ("tp", "tensor_parallel_size", "tensor_parallel", "tp_size")),
        ("batch", ("batch_size", "max_batch_size", "concurrency", "max_concurrency")),
        ("isl", ("input_len", "input_length", "input_tokens", "prompt_tokens")),
        ("osl", ("output_len", "output_length", "output_tokens", "max_tokens", "generated_tokens")),
    ),
    "collective": (
        ("payload_bytes", ("size_bytes", "message_bytes", "message_size", "nbytes", "bytes", "size")),
        ("gpus", ("num_gpus", "world_size", "ranks", "nranks", "n_gpus", "gpu_count")),
        ("nodes", ("num_nodes", "n_nodes")),
    ),
    "elementwise": (
        ("num_tokens", ("tokens", "rows", "n_rows", "m", "batch_tokens")),
        ("hidden", ("hidden_size", "c_hidden", "dim", "n", "cols")),
        ("M", ("tokens", "rows", "n_rows", "num_tokens", "m")),
        ("N", ("hidden_size", "c_hidden", "hidden", "dim", "n", "cols")),
    ),
}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.lower())


def with_canonical_names(row: MeasuredRow) -> MeasuredRow:
    """The row with each mapper's name added where the row gives the value under another (CANONICAL)."""
    names = CANONICAL.get(row.category)
    if not names:
        return row
    given = {_key(k): v for k, v in row.shape.items() if v is not None}
    added: dict[str, Any] = {}
    for canonical, synonyms in names:
        if canonical in row.shape:
            continue
        value = next((given[_key(s)] for s in (canonical, *synonyms) if _key(s) in given), None)
        if value is not None:
            added[canonical] = value
    return dataclasses.replace(row, shape={**row.shape, **added}) if added else row


# Words an elementwise op text names a norm by ("RMSNorm", "rms_norm", "LayerNorm", "layer norm")
NORM_WORDS = ((re.compile(r"rms\W?norm"), "rmsnorm"), (re.compile(r"layer\W?norm"), "layernorm"))


def norm_kind(op_text: str) -> str | None:
    """'rmsnorm' or 'layernorm' when the op text names one, in any of its spellings; else None."""
    text = op_text.lower().replace("_", " ")
    return next((kind for pattern, kind in NORM_WORDS if pattern.search(text)), None)
