"""Score the GEMM model on every GEMM row we have: mean |error| per (source, chip, M bucket), leave-one-source-out.

    PYTHONPATH=src .venv/bin/python scripts/score_gemm.py [--levels analytical,sim] [--sim-every 8] [--no-loso]

Rows: the GEMM rows of `load_rows("all")`: the dev set's (sources AZ, LC, ME, VD) and data/more's Vidur per-layer
GEMMs (VP), ThunderKittens' B200 GEMMs (TK) and torchao's grouped / MXFP8 GEMMs (TA), mapped by
measure/rows_gemm.py. For each source, the cross-chip constants (DRAM efficiency and write cost, 16- and 8-bit
matrix efficiencies) are refitted without that source's rows by measure/globalfit.SourceFit, the fitter behind
`accelscope validate --dataset all --loso` (same subsample, same grid), and the source is scored with them at every
level (the sim with the constants the analytical fit found; every `--sim-every`-th VP row). Errors are of the time
(a TFLOP/s row's error is inverted into a time error). M bucket: the GEMM's M (tokens), rounded down to a power of
4 (1, 4, 16, 64, 256, 1024, 4096+).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from accelscope.hardware import load_hardware
from accelscope.measure.dataset import load_rows
from accelscope.measure.globalfit import SourceFit, with_constants
from accelscope.measure.predict import Prediction, hardware_id, predict
from accelscope.measure.rows_gemm import source_of


def m_bucket(row) -> str:
    s = row.shape
    m = s.get("M") or s.get("M_total") or s.get("m")
    if m is None and "input_shape" in s:
        m = int(str(s["input_shape"]).strip("(").split(",")[0])
    if not m:
        return "-"
    b = 4 ** min(int(math.log(int(m), 4)), 6)
    return f"{b}+" if b == 4096 else str(b)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", default="analytical,sim")
    ap.add_argument("--sim-every", type=int, default=8)
    ap.add_argument("--no-loso", action="store_true", help="score with the constants in the presets (no refit)")
    ap.add_argument("--json", type=Path, help="write the per-row errors here")
    args = ap.parse_args()
    levels = args.levels.split(",")
    everything = load_rows("all")
    gemm = [r for r in everything if r.category == "gemm"]
    sources = sorted({source_of(r) for r in gemm})
    fitter = None if args.no_loso else SourceFit(everything, "analytical")
    errors: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
    skipped: dict[str, int] = defaultdict(int)
    per_row = []
    t0 = time.perf_counter()
    for source in sources:
        held = [r for r in gemm if source_of(r) == source]
        constants = None
        if fitter is not None:
            constants = fitter.constants(without=source)
        specs: dict[str, object] = {}
        for level in levels:
            for i, row in enumerate(held):
                if level == "sim" and source == "VP" and i % args.sim_every:
                    continue
                chip = hardware_id(row.hardware) or "?"
                spec = None
                if constants is not None:
                    if chip not in specs:
                        try:
                            specs[chip] = with_constants(load_hardware(chip), constants)
                        except (ValueError, KeyError):
                            specs[chip] = None
                    spec = specs[chip]
                out = predict(row, level, spec=spec) if spec is not None else predict(row, level)
                if not isinstance(out, Prediction):
                    skipped[f"{source} {level}"] += 1
                    continue
                err = out.value / row.value - 1
                if row.unit.startswith("TFLOP"):
                    err = row.value / out.value - 1  # as a time error
                errors[(source, chip, m_bucket(row), level)].append(err)
                per_row.append({"id": row.id, "level": level, "chip": chip, "pred": out.value, "meas": row.value,
                                "err": err, "bound": out.bound})
        k = constants
        if k is not None:
            print(f"# {source} held out: fit on the others -> DRAM eff {k.dram_efficiency:.2f}, write cost "
                  f"{k.dram_write_cost:.2f}, matrix 16-bit {k.matrix_wide:.2f}, 8-bit {k.matrix_narrow:.2f}",
                  file=sys.stderr)
    print("| source | chip | M bucket | rows | " + " | ".join(f"{lv} mean abs % (bias %)" for lv in levels) + " |")
    print("|---|---|---|---:|" + "---:|" * len(levels))
    keys = sorted({k[:3] for k in errors}, key=lambda k: (k[0], k[1], _bucket_order(k[2])))
    for key in keys:
        cells = []
        n = 0
        for level in levels:
            e = errors.get((*key, level), [])
            n = max(n, len(e))
            cells.append(f"{100 * statistics.fmean(map(abs, e)):.1f} ({100 * statistics.fmean(e):+.1f})" if e else "-")
        print(f"| {key[0]} | {key[1]} | {key[2]} | {n} | " + " | ".join(cells) + " |")
    for group in (lambda k: k[0], lambda k: "all"):
        agg: dict[tuple[str, str], list[float]] = defaultdict(list)
        for k, e in errors.items():
            agg[(group(k), k[3])] += e
        for g in sorted({a for a, _ in agg}):
            cells = [f"{100 * statistics.fmean(map(abs, agg[(g, lv)])):.1f} ({len(agg[(g, lv)])})"
                     if agg.get((g, lv)) else "-" for lv in levels]
            print(f"| **{g}** | | | | " + " | ".join(cells) + " |")
    # pooled per row-weighted source mean (each source counts once)
    for level in levels:
        means = []
        for source in sources:
            e = [x for k, v in errors.items() if k[0] == source and k[3] == level for x in v]
            if e:
                means.append(statistics.fmean(map(abs, e)))
        if means:
            print(f"# {level}: mean over sources {100 * statistics.fmean(means):.1f} %", file=sys.stderr)
    if skipped:
        print("# skipped: " + ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items())), file=sys.stderr)
    print(f"# {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(per_row))


def _bucket_order(b: str) -> int:
    return -1 if b == "-" else int(b.rstrip("+"))


if __name__ == "__main__":
    main()
