"""The shipped training and memory rows scored through the generic reading (measure/training_generic.py) instead of
their own mappers, next to their own mappers' error: how far a source no mapper knows is read, where the answer
is known. Shipped constants, analytical level.

    PYTHONPATH=src .venv/bin/python scripts/score_generic_training.py [N]   # N: print N rows' signed errors per source
"""

from __future__ import annotations

import collections
import statistics
import sys

from accelscope.measure.dataset import load_rows, source_of
from accelscope.measure.predict import Prediction, hardware_id, predict, spec_for_row
from accelscope.measure.training_generic import Unmapped, predict_generic


def main(show: int = 0) -> None:
    rows = [r for r in load_rows("all") + load_rows("external") if r.category in ("llm_training", "memory_footprint")]
    scores: dict[tuple[str, str], dict] = collections.defaultdict(
        lambda: {"own": [], "generic": [], "unmapped": collections.Counter(), "pairs": []})
    for row in rows:
        own = predict(row, "analytical")
        if not isinstance(own, Prediction):
            continue
        entry = scores[(source_of(row), row.category)]
        own_error = (own.value - row.value) / row.value
        entry["own"].append(abs(own_error))
        try:
            value = predict_generic(row, spec_for_row(row, hardware_id(row.hardware)), "analytical")
        except Unmapped as exc:
            entry["unmapped"][str(exc)[:100]] += 1
            continue
        error = (value - row.value) / row.value
        entry["generic"].append(abs(error))
        entry["pairs"].append((row.id, own_error, error))
    for (source, category), entry in sorted(scores.items()):
        def mean(errors: list[float]) -> str:
            return f"{100 * statistics.mean(errors):.1f} % ({len(errors)})" if errors else "-"
        print(f"{source} {category}: own mapper {mean(entry['own'])}, generic reading {mean(entry['generic'])}")
        for reason, count in entry["unmapped"].most_common(3):
            print(f"    unmapped {count}: {reason}")
        for row_id, own_error, error in entry["pairs"][:show]:
            print(f"    {row_id}: own {100 * own_error:+.0f} %, generic {100 * error:+.0f} %")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
