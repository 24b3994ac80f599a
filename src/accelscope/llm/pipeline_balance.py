"""The uneven pipeline split that makes a training step fastest: Megatron Core's first / last stage layer counts
(--decoder-first-pipeline-num-layers / --decoder-last-pipeline-num-layers) searched under the step model.

The first rank also runs the embedding and the last one the output layer and the loss (an 8B model's 128k-word
head costs about three of its layers), so with an even split the last rank sets the pipeline's pace; Llama 3's
405B run took one layer off each end rank for that reason (The Llama 3 Herd of Models, 2024, section 3.3.2:
"we reduce one Transformer layer each from the first and the last stages").
`balanced_split` prices every split Megatron accepts near the even one, each a `train` estimate sharing its op
estimates with the others (one memo scope), and keeps the fastest; a split whose memory does not fit is not kept.
"""

from __future__ import annotations

from typing import Any

from ..perf.estimate import shared_estimates
from ..workload.model_config import ModelConfig, load_model
from .infer import DoesNotFit
from .pipeline_layout import first_last_counts
from .train import TrainResult, train

# how far an end rank's layer count may move from the even split's (layers / pp), each way
MAX_SHIFT = 4


def split_candidates(layers: int, pp: int, vpp: int = 1) -> list[tuple[int, ...]]:
    """Per-rank decoder layer counts Megatron accepts with first / last stage counts within MAX_SHIFT of the even
    split's, the middle ranks splitting the rest evenly and every rank's layers dividing over its vpp chunks."""
    even = layers / pp
    found: list[tuple[int, ...]] = []
    for first in range(max(1, int(even) - MAX_SHIFT), int(even) + MAX_SHIFT + 2):
        for last in range(max(1, int(even) - MAX_SHIFT), int(even) + MAX_SHIFT + 2):
            try:
                counts = first_last_counts(layers, pp, vpp, first, last)
            except ValueError:
                continue
            per_rank = tuple(sum(counts[rank::pp]) for rank in range(pp))
            if min(per_rank) >= 1 and per_rank not in found:
                found.append(per_rank)
    return found


def balanced_split(model: str | dict | ModelConfig, hw: Any, pp: int, vpp: int = 1, **train_args: Any
                   ) -> tuple[tuple[int, ...], TrainResult]:
    """(per-rank layer counts, the step's estimate) of the fastest split among `split_candidates` whose memory fits
    (train's own check); `train_args` are train()'s other arguments, the same for every candidate. Raises
    DoesNotFit when no candidate fits, ValueError when pp < 2 or the model has too few layers for one."""
    if pp < 2:
        raise ValueError(f"pipeline_split: balanced needs pp >= 2 (got pp={pp})")
    config = model if isinstance(model, ModelConfig) else load_model(model)
    candidates = split_candidates(config.layers, pp, vpp)
    if not candidates:
        raise ValueError(f"pipeline_split: balanced finds no first / last split of {config.layers} layers over "
                         f"pp={pp} x vpp={vpp}")
    best: tuple[tuple[int, ...], TrainResult] | None = None
    refusal: DoesNotFit | None = None
    with shared_estimates():
        for counts in candidates:
            try:
                result = train(config, hw, pp=pp, vpp=vpp, pipeline_split=counts, **train_args)
            except DoesNotFit as exc:
                refusal = refusal or exc
                continue
            if best is None or result.step_s < best[1].step_s:
                best = (counts, result)
    if best is None:
        assert refusal is not None
        raise refusal
    return best
