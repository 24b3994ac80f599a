"""CLI start-up: wall time of `accelscope --help`, `--version`, `hw list` and `import accelscope`, each in a fresh
process, best of N (the minimum is the least disturbed by other load on the machine), and the process's CPU time
(user + system, best of N: what the start-up costs when the machine is shared). Prints its numbers.

    .venv/bin/python benchmarks/bench_cli_startup.py [--repeat 7] [--src PATH]

`--src` times another checkout's sources (PYTHONPATH=PATH), e.g. main's, for a before/after comparison.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ENTRY = "from accelscope.cli.app import main; main()"
CASES: list[tuple[str, list[str]]] = [
    ("python -c 'pass' (interpreter)", ["-c", "pass"]),
    ("python -c 'import accelscope'", ["-c", "import accelscope"]),
    ("accelscope --version", ["-c", ENTRY, "--version"]),
    ("accelscope --help", ["-c", ENTRY, "--help"]),
    ("accelscope hw list", ["-c", ENTRY, "hw", "list"]),
]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def best_of(args: list[str], repeat: int, env: dict[str, str]) -> tuple[float, float]:
    """Minimum wall time and minimum CPU time of `python ARGS` over `repeat` fresh processes (output discarded)."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), _cpu()
        subprocess.run([sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--src", default=str(Path(__file__).resolve().parents[1] / "src"))
    opts = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": opts.src, "COLUMNS": "100"}
    print(f"sources: {opts.src}  (best of {opts.repeat}; load average {os.getloadavg()[0]:.1f})")
    print(f"{'':<34} {'wall':>8} {'CPU':>8}")
    for name, args in CASES:
        wall, cpu = best_of(args, opts.repeat, env)
        print(f"{name:<34} {wall * 1e3:5.0f} ms {cpu * 1e3:5.0f} ms")


if __name__ == "__main__":
    main()
