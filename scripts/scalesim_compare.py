"""The sim's cycles against SCALE-Sim's on one 128x128 weight-stationary array (docs/sim.md, "SCALE-Sim").

    PYTHONPATH=src .venv/bin/python scripts/scalesim_compare.py [--scalesim /work/wt/_scalesim/bin/python]

accelscope side: `systolic-128` cut to one core (compute.cores = 1, its bf16 peak 32.768 TFLOP/s = 128 x 128
MACs x 2 x 1 GHz, its 300 GB/s share of the HBM), level="sim", `details["cycles"]` (1 GHz: cycles = ns), and the
analytical level's time in cycles. SCALE-Sim side (only when its virtual environment exists; it needs numpy<2):
SCALE-Sim 3.0.0 (pip `scalesim`), GEMM input mode (M, N, K), the configuration written below (CONFIG), and its
COMPUTE_REPORT.csv: its compute cycles (Total Cycles minus Stall Cycles; the stalls come from its own DRAM request
model, ReadRequestBuffer 32 at 150 words per cycle), the stalls, and the total including the first prefetch.
Both tools' wall times are measured here, one run each.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import tempfile
import time
from pathlib import Path

import accelscope as acs
from accelscope.workload import Gemm

SHAPES = ((256, 256, 256), (512, 512, 512), (768, 768, 768), (1024, 1024, 1024), (1536, 1536, 1536),
          (2048, 2048, 2048), (128, 4096, 4096), (1024, 1024, 128), (4096, 128, 1024))
# One array of systolic-128: 128 x 128 PEs, weight stationary; SRAM split 8 + 4 + 4 MiB (ifmap = A, filter = B,
# ofmap = C) of the core's 16 MiB; 150 bf16 words per cycle = its 300 GB/s HBM share at 1 GHz.
CONFIG = """[general]
run_name = accelscope_systolic128_1core

[architecture_presets]
ArrayHeight:    128
ArrayWidth:     128
IfmapSramSzkB:   8192
FilterSramSzkB:  4096
OfmapSramSzkB:   4096
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 150
Dataflow : ws
MemoryBanks:   1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: USER
UseRamulatorTrace: False
"""
ONE_CORE = {"compute.cores": 1, "matrix.peak.bf16": "32.768 TFLOP/s", "memory.hbm.bandwidth": "300 GB/s"}


# SCALE-Sim's own entry point (scalesim.scale) always writes its per-cycle traces; the API can skip them
RUNNER = """import sys
from scalesim.scale_sim import scalesim
d = sys.argv[1]
s = scalesim(save_disk_space=True, verbose=False, config=d + '/cfg.cfg', topology=d + '/gemm.csv',
             layout=d + '/layout.csv', input_type_gemm=True)
s.run_scale(top_path=d + '/out')
"""


def scalesim_cycles(python: str, m: int, n: int, k: int) -> tuple[int, int, int, float]:
    """(total cycles, total cycles including the prefetch of the first operands, stall cycles, wall seconds) of
    one SCALE-Sim GEMM run."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "cfg.cfg").write_text(CONFIG)
        (d / "gemm.csv").write_text(f"Layer, M, N, K,\ng, {m}, {n}, {k},\n")
        (d / "layout.csv").write_text("Layer, a, b, c, d, e, f, g, h,\ng, 1, 1, 1, 1, 1, 1, 1, 1,\n")  # unused
        t0 = time.perf_counter()
        subprocess.run([python, "-c", RUNNER, str(d)], check=True, capture_output=True, cwd=tmp)
        wall = time.perf_counter() - t0
        report = next((d / "out").rglob("COMPUTE_REPORT.csv"))
        row = next(csv.DictReader(report.open(), skipinitialspace=True))
        return (int(float(row["Total Cycles"])), int(float(row["Total Cycles (incl. prefetch)"])),
                int(float(row["Stall Cycles"])), wall)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scalesim", default="/work/wt/_scalesim/bin/python", help="python of SCALE-Sim's venv")
    ap.add_argument("--shapes", default="", help="MxNxK,... (default: the table's)")
    args = ap.parse_args()
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")] if args.shapes else SHAPES
    hw = acs.load_hardware("systolic-128").with_overrides(ONE_CORE)
    have = Path(args.scalesim).exists()
    print("| GEMM M x N x K | folds | formula cycles | SCALE-Sim compute cycles | its stall cycles | SCALE-Sim incl. "
          "prefetch | sim cycles | sim / SCALE-Sim compute | analytical cycles | analytical / sim | SCALE-Sim run s "
          "| sim run s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m, n, k in shapes:
        op = Gemm(m, n, k, "bf16")
        t0 = time.perf_counter()
        est = acs.estimate(op, hw, level="sim")
        sim_wall = time.perf_counter() - t0
        sim = est.details["cycles"]
        analytical = (acs.estimate(op, hw, level="analytical").seconds - hw.runtime.launch_latency) * 1e9
        folds = -(-k // 128) * -(-n // 128)
        formula = folds * (2 * 128 + 128 + m - 2)  # SCALE-Sim's weight-stationary fold count, no stalls
        if have:
            total, prefetch, stalls, wall = scalesim_cycles(args.scalesim, m, n, k)
            ss = f"{total - stalls:,} | {stalls:,} | {prefetch:,}"
            ratio = f"{sim / (total - stalls):.3f}"
            wall_s = f"{wall:.1f}"
        else:
            ss, ratio, wall_s = "not run | - | -", "-", "-"
        print(f"| {m}x{n}x{k} | {folds} | {formula:,} | {ss} | {sim:,.0f} | {ratio} | {analytical:,.0f} | "
              f"{analytical / sim:.3f} | {wall_s} | "
              f"{sim_wall:.2f} |", flush=True)


if __name__ == "__main__":
    main()
