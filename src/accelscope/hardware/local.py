"""A spec of the machine we run on (`load_hardware("local-cpu")`), read from /proc and /sys.

Read from the machine: model name, cores (logical CPUs available to us), vector ISA (AVX-512 / AVX2 / NEON flags),
cache sizes and which CPUs share them, clock (cpufreq max, else /proc/cpuinfo MHz), memory size.
Not discoverable on every machine, hence labelled estimates in the spec's sources (fit them with
`accelscope calibrate --hw local-cpu`):
- 2 FMA pipes per core (every x86 server core since Haswell / Zen 1 has two vector FMA pipes);
- cache bandwidths of 128 / 64 / 32 bytes per cycle per core for L1 / L2 / L3 (two 64-byte loads per cycle into
  L1; one 64-byte line per cycle from L2; about half that from L3, as in the Intel and AMD optimization manuals);
- DRAM bandwidth of 12 GB/s per core (a typical sustained STREAM share of one server core);
- 5 us per operator of framework dispatch (PyTorch eager on a CPU).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

FMA_PIPES = 2
CACHE_BYTES_PER_CYCLE = {1: 128, 2: 64, 3: 32}
DRAM_BYTES_PER_S_PER_CORE = 12e9
DISPATCH_SECONDS = 5e-6
ESTIMATE = "estimate (not discoverable on this machine; fit with accelscope calibrate --hw local-cpu)"


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    for line in _read("/proc/cpuinfo").splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def _clock_hz(info: dict[str, str]) -> tuple[float, str]:
    max_khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if max_khz.isdigit():
        return int(max_khz) * 1e3, "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"
    mhz = info.get("cpu MHz", "")
    if mhz:
        return float(mhz) * 1e6, "/proc/cpuinfo 'cpu MHz' (no cpufreq: the reported, not the turbo, clock)"
    return 2.0e9, ESTIMATE


def _vector_lanes(flags: set[str]) -> tuple[int, str]:
    """fp32 lanes of one FMA pipe, from the ISA flags."""
    if "avx512f" in flags:
        return 16, "avx512f"
    if "avx2" in flags or "avx" in flags:
        return 8, "avx2"
    if "asimd" in flags or platform.machine() in ("aarch64", "arm64"):
        return 4, "neon"
    return 4, "sse"


def _caches(cores: int) -> list[tuple[int, float, int]]:
    """(level, capacity per instance in bytes, CPUs sharing one instance) for data/unified caches."""
    out = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        if _read(str(index / "type")) == "Instruction":
            continue
        size = _read(str(index / "size"))
        match = re.match(r"(\d+)([KMG]?)", size)
        if not match:
            continue
        capacity = int(match[1]) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[match[2]]
        shared = _read(str(index / "shared_cpu_list"))
        sharing = sum((int(b) - int(a) + 1) if "-" in part else 1
                      for part in shared.split(",") if part for a, _, b in [part.partition("-")]) or 1
        out.append((int(_read(str(index / "level")) or 0), float(capacity), min(sharing, cores)))
    return out


@lru_cache(maxsize=1)
def local_cpu_spec_dict() -> dict[str, Any]:
    info = _cpuinfo()
    flags = set(info.get("flags", info.get("Features", "")).split())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    clock, clock_source = _clock_hz(info)
    lanes, isa = _vector_lanes(flags)
    fp32 = cores * clock * FMA_PIPES * lanes * 2  # an FMA is 2 FLOPs
    matrix = {"fp32": fp32, "fp64": fp32 / 2}
    vector = {"fp32": fp32, "fp64": fp32 / 2}
    if "avx512_bf16" in flags or "bf16" in flags:
        matrix["bf16"] = 2 * fp32  # dot-product instructions on bf16 pairs: twice the fp32 rate
    if "amx_bf16" in flags:
        matrix["bf16"] = cores * clock * 1024  # AMX: 1024 bf16 FLOPs per cycle per core (Intel AMX TMUL)
    model = info.get("model name", platform.processor() or "unknown CPU")
    generated = f"generated from /proc/cpuinfo and /sys on {platform.node()} at {dt.date.today().isoformat()}"
    memory: dict[str, Any] = {}
    for level, capacity, sharing in _caches(cores):
        scope = "core" if sharing == 1 else "chip"
        per_cycle = CACHE_BYTES_PER_CYCLE.get(level, 32) * (1 if scope == "core" else cores)
        memory[f"l{level}"] = {"kind": "cache", "scope": scope, "capacity": capacity,
                               "bandwidth": per_cycle * clock,
                               "sources": {"capacity": f"/sys/devices/system/cpu/cpu0/cache ({generated})",
                                           "bandwidth": f"{CACHE_BYTES_PER_CYCLE.get(level, 32)} B/cycle/core: "
                                                        + ESTIMATE}}
    total = _read("/proc/meminfo").split("\n")[0]
    mem_kb = int(re.findall(r"\d+", total)[0]) if re.findall(r"\d+", total) else 16 * 1024**2
    memory["dram"] = {"kind": "dram", "scope": "chip", "capacity": mem_kb * 1024.0,
                      "bandwidth": DRAM_BYTES_PER_S_PER_CORE * cores, "latency": 100e-9,
                      "sources": {"capacity": "/proc/meminfo MemTotal", "bandwidth": f"12 GB/s per core: {ESTIMATE}",
                                  "latency": f"~100 ns DRAM latency: {ESTIMATE}"}}
    if not any(level["kind"] == "sram" for level in memory.values()):
        l1 = memory.get("l1") or memory.get("l2")
        if l1:
            memory = {"l1_sram": {**l1, "kind": "sram"}, **{k: v for k, v in memory.items() if k != "l1"}}
    return {
        "id": "local-cpu", "name": model, "vendor": info.get("vendor_id", "unknown"), "kind": "cpu",
        "description": f"{cores} cores available, {isa}, {clock / 1e9:.2f} GHz",
        "source": generated,
        "compute": {"clock": clock, "cores": cores, "core_name": "core",
                    "sources": {"clock": clock_source, "cores": "os.sched_getaffinity"}},
        "matrix": {"peak": matrix, "source": f"cores x clock x {FMA_PIPES} FMA pipes x {lanes} fp32 lanes ({isa}) x 2 "
                   f"FLOP/FMA; the FMA pipe count is an {ESTIMATE}"},
        "vector": {"lanes_per_core": lanes * FMA_PIPES, "peak": vector, "source": f"as matrix: {isa} FMA units"},
        "memory": memory,
        "runtime": {"launch_latency": DISPATCH_SECONDS, "source": f"PyTorch eager dispatch per op: {ESTIMATE}"},
    }
