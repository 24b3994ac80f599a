"""Leave-one-source-out check of the attention model's one fitted constant, PINGPONG_LOSS.

For each source (CU-presets, CU-artifacts, CU-sample: the cudnn-frontend sub-sources; FA: the dev set), refit the
constant on the other sources' attention rows (grid 0 .. 0.5) and score the held-out source with it.

    PYTHONPATH=src python scripts/loso_attention.py
"""

from __future__ import annotations

import importlib
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from score_attention import DEFAULT_CU, source

from accelscope.measure.dataset import load_rows
from accelscope.measure.predict import Skip, predict

model = importlib.import_module("accelscope.perf.analytical.attention")
GRID = [round(0.05 * i, 2) for i in range(11)]


def errors(rows, value: float) -> dict[str, list[float]]:
    model.PINGPONG_LOSS = value
    out: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        pred = predict(row, "analytical")
        if isinstance(pred, Skip):
            continue
        out[source(row)].append(abs(pred.value - row.value) / row.value)
    return out


def main() -> int:
    rows = [r for r in load_rows(DEFAULT_CU) if r.category == "attention"]
    rows += [r for r in load_rows("dev") if r.category == "attention"]
    table = {v: errors(rows, v) for v in GRID}
    sources = sorted(table[GRID[0]])
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    print(f"{'held out':14s} {'fit on the rest':>16s} {'held-out error':>15s} {'with 0.2':>9s}")
    for held in sources:
        def rest(v: float, held: str = held) -> float:
            errs = [e for s, es in table[v].items() if s != held for e in es]
            return mean(errs)
        best = min(GRID, key=rest)
        print(f"{held:14s} {best:16.2f} {100 * mean(table[best][held]):14.1f}% {100 * mean(table[0.2][held]):8.1f}%")
    everything = {v: mean([e for es in table[v].values() for e in es]) for v in GRID}
    print("all sources:", " ".join(f"{v}:{100 * everything[v]:.1f}%" for v in GRID))
    return 0


if __name__ == "__main__":
    sys.exit(main())
