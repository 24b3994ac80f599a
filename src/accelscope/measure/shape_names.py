"""The names kernel benchmarks give an op's dimensions, mapped onto the ones the op mappers read.

A GEMM table may say `m, n, k` or `batch_size`; FlashAttention's benchmark scripts say `seqlen`, `nheads`,
`headdim`; a norm benchmark `tokens` and `hidden_size`. `with_canonical_names` adds, to a row's shape, each name a
mapper reads (measure/predict.py, rows_attention.py) that the row gives under another name: compared on letters and
digits only (`field_key`), never replacing a name the row already gives, so a row that already uses the mappers' names
is read exactly as before. Training rows have their own reading (training_generic.py).
"""

from __future__ import annotations

import dataclasses
import math
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


def field_key(name: str) -> str:
    """A field name compared without case or punctuation: letters and digits only ("Seq. Len." = "seq_len")."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


# the names above whose value is a count or a size (the mappers take int() of them)
NUMERIC = frozenset({"M", "N", "K", "batch", "heads", "kv_heads", "head_dim", "q_len", "kv_len", "num_tokens",
                     "hidden", "TP", "isl", "osl", "payload_bytes", "gpus", "nodes"})


def not_a_number(row: MeasuredRow) -> str | None:
    """The bad-input message for an op or serving row whose count or size of its category (CANONICAL) is no
    positive finite number ('"M": "big"'), naming the row and the field (the caller refuses the file, as for any
    bad count: predict._count); None otherwise. Training rows check their own fields (training_generic)."""
    for name, _ in CANONICAL.get(row.category, ()):
        value = row.shape.get(name) if name in NUMERIC else None
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number) or number <= 0 or number > MAX_COUNT:
            return f"row {row.id}: shape_json field {name!r} is {value!r}; give a positive number up to {MAX_COUNT:.0e}"
    return None


MAX_COUNT = 1e15  # above any tensor dimension, token count or message size a row could state


def with_canonical_names(row: MeasuredRow) -> MeasuredRow:
    """The row with each mapper's name added where the row gives the value under another (CANONICAL)."""
    names = CANONICAL.get(row.category)
    if not names:
        return row
    given = {field_key(k): v for k, v in row.shape.items() if v is not None}
    added: dict[str, Any] = {}
    for canonical, synonyms in names:
        if canonical in row.shape:
            continue
        value = next((given[field_key(s)] for s in (canonical, *synonyms) if field_key(s) in given), None)
        if value is not None:
            added[canonical] = value
    return dataclasses.replace(row, shape={**row.shape, **added}) if added else row


# Words an elementwise op text names a norm by ("RMSNorm", "rms_norm", "LayerNorm", "layer norm")
NORM_WORDS = ((re.compile(r"rms\W?norm"), "rmsnorm"), (re.compile(r"layer\W?norm"), "layernorm"))


def norm_kind(op_text: str) -> str | None:
    """'rmsnorm' or 'layernorm' when the op text names one, in any of its spellings; else None."""
    text = op_text.lower().replace("_", " ")
    return next((kind for pattern, kind in NORM_WORDS if pattern.search(text)), None)
