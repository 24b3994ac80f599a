"""Print docs/sim.md section 5: bf16 GEMMs at the roofline, analytical and sim levels on five chips.

    .venv/bin/python scripts/sim_vs_analytical.py

With `--every-preset`: every preset x a large, a skinny and a short-K GEMM, prefill / decode / backward attention,
a norm and a softmax, flagging where the analytical level is more than 4x the roofline or the two levels are more
than 1.6x apart (the sweep that found the TPU / Gaudi tile sizing and the sim's attention on systolic arrays,
docs/validation.md "Read in session 24"); prints "ok" for a preset with no flag.

    .venv/bin/python scripts/sim_vs_analytical.py --every-preset
"""

import sys

import accelscope as acs
from accelscope.hardware import list_hardware
from accelscope.workload.ops import Attention, Gemm, Norm, Softmax

CHIPS = ("h100-sxm", "a100-sxm-80gb", "mi300x", "b200", "systolic-128")
SHAPES = ((2048, 2048, 2048), (4096, 4096, 4096), (8192, 8192, 8192), (8192, 8192, 1024))
SWEEP_OPS = {
    "gemm_big": Gemm(8192, 8192, 8192), "gemm_skinny": Gemm(16, 8192, 8192), "gemm_short_k": Gemm(8192, 8192, 128),
    "attn_prefill": Attention(batch=1, heads=32, kv_heads=8, head_dim=128, q_len=4096, kv_len=4096, causal=True),
    "attn_decode": Attention(batch=32, heads=32, kv_heads=8, head_dim=128, q_len=1, kv_len=4096),
    "attn_bwd": Attention(batch=1, heads=32, kv_heads=8, head_dim=128, q_len=4096, kv_len=4096, causal=True,
                          phase="bwd"),
    "norm": Norm(rows=8192, hidden=8192), "softmax": Softmax(rows=8192, cols=4096)}


def table() -> None:
    print("| chip | GEMM (bf16) | roofline µs | analytical µs | sim µs | sim / analytical "
          "| sim bound (busiest unit) |")
    print("|---|---|---:|---:|---:|---:|---|")
    for chip in CHIPS:
        for m, n, k in SHAPES:
            op = Gemm(m, n, k, "bf16")
            r, a, s = (acs.estimate(op, chip, level=level) for level in ("roofline", "analytical", "sim"))
            busiest = s.details.get("busiest_unit", s.bound) if s.details else s.bound
            print(f"| {chip} | {m}x{n}x{k} | {r.seconds * 1e6:.1f} | {a.seconds * 1e6:.1f} | {s.seconds * 1e6:.1f} | "
                  f"{s.seconds / a.seconds:.2f} | {s.bound} ({busiest}) |")


def every_preset() -> None:
    for chip in list_hardware():
        flags = []
        for name, op in SWEEP_OPS.items():
            r, a, s = (acs.estimate(op, chip, level=level).seconds for level in ("roofline", "analytical", "sim"))
            if a / r > 4 or max(s / a, a / s) > 1.6:
                flags.append(f"{name}: analytical/roofline {a / r:.1f}, sim/analytical {s / a:.2f}")
        print(f"{chip}: {'; '.join(flags) or 'ok'}")


if __name__ == "__main__":
    every_preset() if "--every-preset" in sys.argv[1:] else table()
