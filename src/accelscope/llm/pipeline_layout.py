"""Which decoder layers each pipeline stage holds, as Megatron Core splits them (workload.llm_graph.Parallelism
`stage_split`): an even split, uneven first and last stages, the embedding and the loss counted as layers, an
explicit layout string, and multi-token-prediction (MTP) layers on the last stage.

Megatron Core numbers its model chunks in model order, virtual stage v = chunk x pp + rank: rank r holds virtual
stages r, r + pp, ... (the interleaved schedule, megatron/core/transformer/transformer_layer.py
get_transformer_layer_offset). A physical stage's layers are the union of its chunks' layers, which is what the
memory and time models read (each chunk's activations and time add up on its rank).

- `--decoder-first-pipeline-num-layers F` / `--decoder-last-pipeline-num-layers L`: rank 0 holds F layers, rank
  pp - 1 holds L, the other ranks the rest evenly; with vpp chunks per rank each chunk holds its rank's layers / vpp
  (arguments.py asserts the divisions).
- `--account-for-embedding-in-pipeline-split` / `--account-for-loss-in-pipeline-split`: the embedding (loss)
  counts as one layer of the split: (layers + 1 or + 2) / (pp x vpp) per virtual stage, the first (last) virtual
  stage holding one decoder layer fewer.
- `--pipeline-model-parallel-layout`: one string of virtual stages separated by "|", each a run of E (embedding),
  t (decoder layer), m (MTP layer) and L (loss); "t*3" repeats a symbol and "(tt|)*6" a group (Megatron Core
  PipelineParallelLayerLayout.from_str). The string gives pp x vpp stages.
- MTP layers (`--mtp-num-layers`) go on the last virtual stage by default (Megatron Core mtp_on_this_rank), which
  rank pp - 1 holds; their indices follow the decoder's (model.layers, model.layers + 1, ...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Split = tuple[tuple[int, ...], ...]
_GROUP = re.compile(r"\(([^()]*)\)\*(\d+)")
_SYMBOL = re.compile(r"([EtmL])\*(\d+)")


def virtual_split(virtual_counts: Sequence[int], pp: int, layers: int, mtp: int = 0) -> Split:
    """The layers of each virtual stage in model order (virtual stage v on rank v % pp) from their decoder layer
    counts, the `mtp` MTP layers on the last one."""
    if len(virtual_counts) % pp:
        raise ValueError(f"{len(virtual_counts)} virtual stages is no multiple of pp={pp}")
    if any(c < 0 for c in virtual_counts) or sum(virtual_counts) != layers:
        raise ValueError(f"the stages hold {sum(virtual_counts)} decoder layers, the model has {layers}")
    stages: list[tuple[int, ...]] = []
    start = 0
    for count in virtual_counts:
        stages.append(tuple(range(start, start + count)))
        start += count
    stages[-1] += tuple(range(layers, layers + mtp))
    return tuple(stages)


def first_last_counts(layers: int, pp: int, vpp: int = 1, first: int | None = None, last: int | None = None
                      ) -> tuple[int, ...]:
    """Decoder layers per virtual stage (model order) of Megatron Core's uneven first / last pipeline stages
    (--decoder-first/last-pipeline-num-layers)."""
    if pp < 2:
        raise ValueError("first / last pipeline stage layers need pp >= 2")
    middle_ranks = pp - (first is not None) - (last is not None)
    rest = layers - (first or 0) - (last or 0)
    if rest < 0 or (middle_ranks and rest % middle_ranks) or (not middle_ranks and rest):
        raise ValueError(f"first / last pipeline stage layers: the other {rest} layers do not split evenly over "
                         f"{middle_ranks} stages")
    per_rank = [rest // middle_ranks if middle_ranks else 0] * pp
    if first is not None:
        per_rank[0] = first
    if last is not None:
        per_rank[-1] = last
    if any(n % vpp for n in per_rank):
        raise ValueError(f"first / last pipeline stage layers: a stage's layers {per_rank} do not split over "
                         f"vpp={vpp} model chunks")
    return tuple(per_rank[v % pp] // vpp for v in range(pp * vpp))


def accounted_counts(layers: int, pp: int, vpp: int = 1, embedding: bool = False, loss: bool = False
                     ) -> tuple[int, ...]:
    """Decoder layers per virtual stage (model order) with the embedding and / or the loss counted as one layer
    each of an even split (--account-for-embedding-in-pipeline-split, --account-for-loss-in-pipeline-split)."""
    slots = layers + embedding + loss
    stages = pp * vpp
    if slots % stages:
        raise ValueError(f"{layers} layers{' + embedding' if embedding else ''}"
                         f"{' + loss' if loss else ''} do not split evenly over pp x vpp = {stages} stages")
    virtual = [slots // stages] * stages
    virtual[0] -= embedding
    virtual[-1] -= loss
    return tuple(virtual)


def layout_split(layout: str, layers: int, pp: int) -> tuple[Split, int, int]:
    """(split, vpp, MTP layers) of a Megatron Core pipeline layout string ("Et*3|(tt|)*6mL")."""
    text = layout.replace(" ", "").replace(",", "")
    while (expanded := _GROUP.sub(lambda m: m.group(1) * int(m.group(2)), text)) != text:
        text = expanded
    text = _SYMBOL.sub(lambda m: m.group(1) * int(m.group(2)), text)
    if set(text) - set("EtmL|"):
        bad = sorted(set(text) - set("EtmL|*()0123456789")) or sorted(set(text) - set("EtmL|"))
        raise ValueError(f"pipeline layout {layout!r}: {''.join(bad)!r} not understood (the symbols are E, t, m, "
                         "L and '|', repeated as 't*3' or '(tt|)*6')")
    stages = text.split("|")
    if len(stages) % pp:
        raise ValueError(f"pipeline layout {layout!r}: {len(stages)} stage{'s' if len(stages) != 1 else ''} is no "
                         f"multiple of pp={pp}")
    if "E" not in stages[0] or "L" not in stages[-1] or text.count("E") != 1 or text.count("L") != 1:
        raise ValueError(f"pipeline layout {layout!r}: the embedding (E) opens the first stage and the loss (L) "
                         "closes the last, once each")
    mtp = text.count("m")
    if mtp and any("m" in stage for stage in stages[:-1]):
        raise ValueError(f"pipeline layout {layout!r}: MTP layers (m) go on the last stage, with the loss")
    counts = [stage.count("t") for stage in stages]
    if sum(counts) != layers:
        raise ValueError(f"pipeline layout {layout!r}: {sum(counts)} decoder layers (t), the model has {layers}")
    return virtual_split(counts, pp, layers, mtp), len(stages) // pp, mtp


def megatron_split(layers: int, pp: int, vpp: int = 1, layout: str | None = None, first: int | None = None,
                   last: int | None = None, embedding: bool = False, loss: bool = False
                   ) -> tuple[int, ...] | str | None:
    """train()'s `pipeline_split` from Megatron Core's arguments, in its order of precedence: the layout string as
    given (--pipeline-model-parallel-layout), else per-virtual-stage counts of uneven first / last stages
    (--decoder-first/last-pipeline-num-layers), else of the embedding / loss counted as layers
    (--account-for-embedding/loss-in-pipeline-split); None: an even split. ValueError where Megatron's argument
    checks would refuse the split."""
    if layout:
        return str(layout)
    if first is not None or last is not None:
        return first_last_counts(layers, pp, vpp, first, last)
    if embedding or loss:
        return accounted_counts(layers, pp, vpp, embedding, loss)
    return None
