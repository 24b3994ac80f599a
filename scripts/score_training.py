"""Score the training-step and training-memory rows of the published sources.

    PYTHONPATH=src python scripts/score_training.py [--level analytical] [--rows] [--skips] [FILES...]

Loads each CSV with `measure.dataset.load_rows`, predicts every llm_training / memory_footprint row with
`measure.predict.predict`, and prints the mean absolute % error per source prefix and category, the count of
refused (does not fit) and unmapped rows, and (with --skips) each unmapped row with its reason.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
from pathlib import Path

from accelscope.measure.dataset import load_rows
from accelscope.measure.predict import Skip, predict
from accelscope.measure.training_rows import FIT_CHECKS

DATA = Path("/work/shared/data/more")
FILES = ["llm_foundry_mpt.csv", "megatron_functional_tests.csv", "torchao_docs.csv", "megatron_moe_layer_perf.csv",
         "cudnn_frontend_benchmarks.csv"]
CATEGORIES = ("llm_training", "memory_footprint")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="*")
    parser.add_argument("--level", default="analytical")
    parser.add_argument("--rows", action="store_true", help="print every row's prediction")
    parser.add_argument("--skips", action="store_true", help="print every unmapped row with its reason")
    parser.add_argument("--only", default="", help="only rows whose id starts with this")
    args = parser.parse_args()
    paths = [Path(f) for f in args.files] or [DATA / f for f in FILES]
    errors: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    skips: list[tuple[str, str]] = []
    refused = 0
    for path in paths:
        for row in load_rows(path):
            if row.category not in CATEGORIES or not row.id.startswith(args.only):
                continue
            out = predict(row, args.level)
            if isinstance(out, Skip):
                skips.append((row.id, out.reason))
                refused += out.reason.startswith("does not fit")
                continue
            err = (out.value - row.value) / row.value * 100
            errors[(row.id.split("-")[0], row.category)].append(abs(err))
            if args.rows:
                print(f"{row.id:10s} {row.category:16s} {row.metric:28s} measured {row.value:12.4g} "
                      f"predicted {out.value:12.4g} {err:+7.1f} %  {row.op[:70]}")
    print(f"\nlevel {args.level}: mean |error| % per source and category")
    by_cat: dict[str, list[float]] = collections.defaultdict(list)
    for (source, category), errs in sorted(errors.items()):
        by_cat[category] += errs
        print(f"  {source:3s} {category:16s} n={len(errs):4d} mean {statistics.mean(errs):7.1f}  "
              f"median {statistics.median(errs):7.1f}")
    for category, errs in by_cat.items():
        print(f"  ALL {category:16s} n={len(errs):4d} mean {statistics.mean(errs):7.1f}  "
              f"median {statistics.median(errs):7.1f}")
    reasons = collections.Counter(reason.split(":")[0][:90] for _, reason in skips)
    print(f"unmapped {len(skips)} (refused as does-not-fit: {refused})")
    for reason, count in reasons.most_common():
        print(f"  {count:4d}  {reason}")
    over = {rid: fit for rid, fit in FIT_CHECKS.items() if fit[0] > fit[1]}
    print(f"runs the sources report that the memory model would refuse (peak + runtime reserve > capacity): "
          f"{len(over)}")
    for rid, (need, capacity) in sorted(over.items()):
        print(f"  {rid}: {need / 1e9:.1f} GB > {capacity / 1e9:.1f} GB")
    if args.skips:
        for rid, reason in skips:
            print(f"  {rid}: {reason[:200]}")


if __name__ == "__main__":
    sys.exit(main())
