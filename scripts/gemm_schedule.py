"""Which GEMM schedule does a measured library run? Scores data-parallel waves against stream-K on measured rows.

    .venv/bin/python scripts/gemm_schedule.py data/measured/h100/bench.csv [--question "wave sweep"]
    .venv/bin/python scripts/gemm_schedule.py dev          # the public dev set, per (source, chip, dtype)

Each schedule's predictions are rescaled by the one factor that best matches the rows before scoring, so the
verdict rests on the pattern across shapes (tail waves or none), not on the matrix efficiency
(accelscope.measure.schedule). The bench's wave sweep (accelscope bench --device cuda --full) is made for it.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

from accelscope.measure.dataset import load_rows
from accelscope.measure.schedule import measured_seconds, predicted_seconds, preset_id, schedule_fits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rows", help="a measured-rows file (.csv/.parquet) or 'dev'")
    parser.add_argument("--question", help="only rows whose shape's 'question' contains this text")
    parser.add_argument("--each", action="store_true", help="print every row under both schedules")
    args = parser.parse_args()
    try:
        report(args.rows, args.question, args.each)
    except ValueError as exc:  # a missing file, a malformed row, no usable rows: say so, no traceback
        sys.exit(f"gemm_schedule: {exc}")


def report(source: str, question: str | None, each: bool) -> None:
    rows = [r for r in load_rows(source) if r.category == "gemm" and {"M", "N", "K"} <= set(r.shape)
            and preset_id(r)]
    if question:
        rows = [r for r in rows if question in str(r.shape.get("question", ""))]
    if not rows:
        raise ValueError(f"{source}: no GEMM rows with M/N/K on a chip with a preset"
                         + (f" and a question containing {question!r}" if question else ""))
    groups: dict[tuple[str, str, str], list] = defaultdict(list)
    for row in rows:
        groups[(row.id.split("-")[0], row.hardware, row.dtype)].append(row)  # id prefix: the source
    print(f"{'rows of':14s} {'chip':44s} {'dtype':10s} {'rows':>4s}  best        shape error (scale)")
    for (source, chip, dtype), members in sorted(groups.items()):
        if len(members) < 3:
            continue  # too few shapes to see a pattern
        fits = schedule_fits(members)
        scores = ", ".join(f"{f.schedule} {f.shape_error:.1%} (x{f.scale:.3f})" for f in fits)
        print(f"{source[:14]:14s} {chip[:44]:44s} {dtype[:10]:10s} {len(members):4d}  {fits[0].schedule:11s} {scores}")
        if each:
            for row in members:
                measured = measured_seconds(row)
                print(f"    {row.id:14s} M={row.shape['M']} N={row.shape['N']} K={row.shape['K']}: measured "
                      f"{measured * 1e6:9.1f} us, data-parallel {predicted_seconds(row, 'data-parallel') * 1e6:9.1f}"
                      f" us, stream-k {predicted_seconds(row, 'stream-k') * 1e6:9.1f} us")


if __name__ == "__main__":
    main()
