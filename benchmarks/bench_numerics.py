"""Fake-quantisation throughput on one CPU core, 16 M float32 elements, with a bit-exactness check.

    python benchmarks/bench_numerics.py [--elements N] [--repeats R]

Prints elements/s for `fake_quantize` to each format (best of R runs, one thread pinned to one core),
then ml_dtypes' plain casts of the same array for comparison (a cast has no scales: it is the floor of what
a block quantiser costs). Every timed result is checked bit for bit against dequantize(quantize(x)), and a
slice against the slow reference implementation.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402

from accelscope.numerics import dequantize, fake_quantize, quantize  # noqa: E402
from accelscope.numerics.reference import fake_quantize_ref  # noqa: E402

FORMATS = ("mxfp4", "mxfp8_e4m3", "nvfp4", "mxfp6_e2m3", "mxint8", "fp8_block_1x128")
TARGET_ELEMENTS_PER_S = 200e6  # the goal for MXFP4 / MXFP8 / NVFP4
CASTS = {"float8_e4m3fn": ml_dtypes.float8_e4m3fn, "float8_e5m2": ml_dtypes.float8_e5m2,
         "float4_e2m1fn": ml_dtypes.float4_e2m1fn}


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    run()  # warm up (compilation, page faults)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    nan = np.isnan(a) & np.isnan(b)
    return bool(np.all(nan | (a.view(np.uint32) == b.view(np.uint32))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=16 * 1024 * 1024)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cols = 4096
    x = np.random.default_rng(0).standard_normal(args.elements).astype(np.float32).reshape(-1, cols)
    print(f"fake_quantize, {x.size / 1e6:.1f} M float32 elements ({x.shape[0]}x{cols}), one thread, best of "
          f"{args.repeats}")
    print(f"{'format':<22}{'ms':>9}{'M elem/s':>11}   bit-exact vs quantize+dequantize / reference")
    for name in FORMATS:
        seconds = best_seconds(lambda name=name: fake_quantize(x, name), args.repeats)
        fast = fake_quantize(x, name)
        exact = same_bits(fast, dequantize(quantize(x, name)))
        ref_ok = same_bits(fake_quantize(x[:2, :256], name), fake_quantize_ref(x[:2, :256], name))
        flag = "" if name not in ("mxfp4", "mxfp8_e4m3", "nvfp4") else (
            "  (target met)" if x.size / seconds >= TARGET_ELEMENTS_PER_S else "  (BELOW 200 M/s target)")
        print(f"{name:<22}{seconds * 1e3:9.1f}{x.size / seconds / 1e6:11.0f}   {exact} / {ref_ok}{flag}")
    print("ml_dtypes plain casts (no scales), same array:")
    for label, dtype in CASTS.items():
        seconds = best_seconds(lambda dtype=dtype: x.astype(dtype), args.repeats)
        back = best_seconds(lambda dtype=dtype: x.astype(dtype).astype(np.float32), args.repeats)
        print(f"{label:<22}{seconds * 1e3:9.1f}{x.size / seconds / 1e6:11.0f}   "
              f"(cast and back to float32: {x.size / back / 1e6:.0f} M elem/s)")


if __name__ == "__main__":
    main()
