"""Print docs/sim.md section 5: bf16 GEMMs at the roofline, analytical and sim levels on five chips.

    .venv/bin/python scripts/sim_vs_analytical.py
"""

import accelscope as acs
from accelscope.workload.ops import Gemm

CHIPS = ("h100-sxm", "a100-sxm-80gb", "mi300x", "b200", "systolic-128")
SHAPES = ((2048, 2048, 2048), (4096, 4096, 4096), (8192, 8192, 8192), (8192, 8192, 1024))

print("| chip | GEMM (bf16) | roofline µs | analytical µs | sim µs | sim / analytical | sim bound (busiest unit) |")
print("|---|---|---:|---:|---:|---:|---|")
for chip in CHIPS:
    for m, n, k in SHAPES:
        op = Gemm(m, n, k, "bf16")
        r, a, s = (acs.estimate(op, chip, level=level) for level in ("roofline", "analytical", "sim"))
        busiest = s.details.get("busiest_unit", s.bound) if s.details else s.bound
        print(f"| {chip} | {m}x{n}x{k} | {r.seconds * 1e6:.1f} | {a.seconds * 1e6:.1f} | {s.seconds * 1e6:.1f} | "
              f"{s.seconds / a.seconds:.2f} | {s.bound} ({busiest}) |")
