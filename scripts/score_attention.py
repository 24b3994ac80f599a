"""Mean absolute % error of attention rows per (source, chip, kernel, pass), at the analytical and sim levels.

Rows: the cudnn-frontend attention rows (shared/data/more/cudnn_frontend_benchmarks.csv, CU-*) and the dev set's
attention rows (FA-*). Chips without a preset yet (gb200 / gb300 before the validate-data branch adds them) are
predicted on the closest preset (b200 / b300) and marked with '~'.

    PYTHONPATH=src python scripts/score_attention.py [--levels analytical,sim] [--csv PATH] [--rows out.csv]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

from accelscope.hardware import list_hardware, load_hardware
from accelscope.measure.dataset import load_rows
from accelscope.measure.predict import Skip, hardware_id, predict

DEFAULT_CU = Path("/work/shared/data/more/cudnn_frontend_benchmarks.csv")
STAND_INS = {"gb200": "b200", "gb300": "b300"}


def chip(hardware: str) -> str:
    if re.search(r"\bGB300\b", hardware):
        return "gb300"
    return hardware_id(hardware) or "?"


def source(row) -> str:
    """CU sub-sources: the April 2026 model-preset runs, the earlier Llama-405B-like artifacts, the 9.1 sample."""
    if row.id.startswith("CU"):
        if "model_preset" in row.shape:
            return "CU-presets"
        return "CU-sample" if "early" in row.notes else "CU-artifacts"
    return row.id.split("-")[0]


def _labels():
    """rows_attention's kernel / phase readers (from this checkout's file when the installed package predates it)."""
    try:
        from accelscope.measure import rows_attention as ra
        return ra.kernel, ra.phase
    except ImportError:
        here = Path(__file__).resolve().parents[1] / "src" / "accelscope" / "measure" / "rows_attention.py"
        text = "\n".join(line for line in here.read_text().splitlines() if not line.startswith("from ."))
        scope: dict = {"Attention": None, "MeasuredRow": object}
        exec(compile(text.replace("from ..workload import Attention", ""), str(here), "exec"), scope)
        return scope["kernel"], scope["phase"]


KERNEL, PHASE = _labels()


def kernel_pass(row) -> tuple[str, str]:
    k = KERNEL(str(row.shape.get("backend", "")), row.op) or "default"
    p = PHASE(row) + ("-det" if row.shape.get("deterministic_bwd") else "")
    return k, p


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", default="analytical,sim")
    ap.add_argument("--csv", default=str(DEFAULT_CU))
    ap.add_argument("--rows", default="", help="write per-row predictions to this CSV")
    ap.add_argument("--only", default="", help="regex on (source chip kernel pass) to keep")
    ap.add_argument("--chip-default", action="store_true",
                    help="ignore the row's kernel (except math): the chip's default kernel, as before the mapping")
    args = ap.parse_args()
    if args.chip_default:
        from accelscope.measure import rows_attention as ra
        named = ra.kernel
        ra.kernel = lambda backend, op_text="": "math" if named(backend, op_text) == "math" else None
    rows = [r for r in load_rows(args.csv) if r.category == "attention"]
    rows += [r for r in load_rows("dev") if r.category == "attention"]
    presets = set(list_hardware())
    levels = args.levels.split(",")
    groups: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    out = []
    t0 = time.perf_counter()
    for row in rows:
        c = chip(row.hardware)
        spec = None
        tag = c
        if c not in presets:
            if c in STAND_INS:
                spec, tag = load_hardware(STAND_INS[c]), f"{c}~{STAND_INS[c]}"
            else:
                continue
        k, p = kernel_pass(row)
        key = (source(row), tag, k, p)
        if args.only and not re.search(args.only, " ".join(key)):
            continue
        rec = {"id": row.id, "measured": row.value, "unit": row.unit}
        for level in levels:
            try:
                pred = predict(row, level, spec)
            except Exception as exc:
                pred = Skip(f"error: {exc!r}")
            if isinstance(pred, Skip):
                rec[level] = "skip: " + pred.reason
                continue
            err = (pred.value - row.value) / row.value
            groups[key][level].append(err)
            rec[level] = pred.value
            rec[level + "_err"] = err
        out.append(rec)
    elapsed = time.perf_counter() - t0
    header = f"{'source':13s} {'chip':12s} {'kernel':8s} {'pass':8s} {'n':>4s}" + "".join(
        f" {lv[:5]+' |e|':>10s} {lv[:5]+' bias':>10s}" for lv in levels)
    print(header)
    totals: dict[str, list[float]] = defaultdict(list)
    by_source_chip: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for key in sorted(groups):
        g = groups[key]
        n = max(len(v) for v in g.values())
        line = f"{key[0]:13s} {key[1]:12s} {key[2]:8s} {key[3]:8s} {n:4d}"
        for lv in levels:
            errs = g.get(lv, [])
            totals[lv] += errs
            by_source_chip[key[:2]][lv] += errs
            if errs:
                mae = 100 * sum(abs(e) for e in errs) / len(errs)
                bias = 100 * sum(errs) / len(errs)
                line += f" {mae:9.1f}% {bias:+9.1f}%"
            else:
                line += f" {'-':>10s} {'-':>10s}"
        print(line)
    print("\nper (source, chip):")
    for key in sorted(by_source_chip):
        line = f"{key[0]:13s} {key[1]:12s}"
        for lv in levels:
            errs = by_source_chip[key][lv]
            if errs:
                line += f" {lv}: {100 * sum(abs(e) for e in errs) / len(errs):5.1f}% (n={len(errs)})"
        print(line)
    for lv in levels:
        errs = totals[lv]
        if errs:
            print(f"ALL {lv}: {100 * sum(abs(e) for e in errs) / len(errs):.2f}% over {len(errs)} rows")
    print(f"({elapsed:.1f} s)")
    if args.rows:
        import csv
        keys = sorted({k for r in out for k in r})
        with open(args.rows, "w", newline="") as f:
            w = csv.DictWriter(f, keys)
            w.writeheader()
            w.writerows(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
