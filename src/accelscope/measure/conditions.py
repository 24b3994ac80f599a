"""Run conditions a measured row states (clock locks, power limits, the network's NCCL plugin) as spec overrides
for that row.

A row's hardware text or notes may say how the GPU was held while it was measured:
- "SM clock locked at 1665 MHz" (cudnn-frontend Llama-3.2-1B training artifacts, `nvidia-smi -lgc`);
- "-ac 3201,1980" (`nvidia-smi -ac MEM,SM`: application clocks, the SM clock in MHz second) and "-pl 700"
  (`nvidia-smi -pl WATTS`, a board power limit), as in cudnn-frontend's README clock-lock example;
- "(1000 W limit)": a stated board power limit;
- "EFA" (AWS's Elastic Fabric Adapter) with the instance type ("AWS p6-b200, ... EFA v4"): NCCL reaches the
  network through the aws-ofi-nccl plugin, which reports its own latency to NCCL's tuning model
  (efa_library_latency); it becomes `interconnect.scale_out.library_latency` (perf/nccl.py adds it to every
  inter-node step, as tuning.cc does).

A clock lock becomes `compute.sustained_clock` (the clock every level runs the chip at; clock_ratio caps it at the
quoted clock), a power limit `power.limit` (the clock it forces: hardware/spec.py power_limited_clock_ratio).
A "power limited" remark without a number cannot be applied; `unapplied` says so.

Caveat: a chip without a measured clock under load takes the cross-chip MATRIX_EFFICIENCY_*, which lumps the
clock it holds at its TDP with issue efficiency; a lock below that clock is charged on top of it (no public split).
"""

from __future__ import annotations

import re
from typing import Any

from .dataset import MeasuredRow

_LOCK = re.compile(r"clock locked at (\d+(?:\.\d+)?)\s*MHz", re.IGNORECASE)
_AC = re.compile(r"-ac\s+(\d+)\s*,\s*(\d+)")
_PL = re.compile(r"-pl\s+(\d+(?:\.\d+)?)")
_LIMIT = re.compile(r"\b(\d+(?:\.\d+)?)\s*W\s+(?:power\s+)?limit\b", re.IGNORECASE)
_LIMITED_TO = re.compile(r"power[- ]limited\s+(?:to|at)\s+(\d+(?:\.\d+)?)\s*W\b", re.IGNORECASE)  # gpt-fast's wording
_UNSTATED = re.compile(r"power[- ]limited", re.IGNORECASE)
_EFA = re.compile(r"\bEFA\b")
# aws-ofi-nccl src/platform-aws.cpp platform_data_map: the `latency` (us) the plugin sets OFI_NCCL_NET_LATENCY to and
# reports to NCCL as ncclNetProperties_t.latency, per EC2 instance type, first match wins: p5en and every p6 or
# later ("^(p5en\.48xlarge)|(^p([6-9]|[0-9]{2,}).*)") 35 us, p3dn 150 us, p4d / p4de / p5 / p5e / trn / inf 75 us,
# and 75 us for an instance it has no entry for ("Empirical testing on P5 had shown that NCCL's internal tuner
# choices work better with this value").
_EFA_LATENCY_US: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(r"\bp5en\b|\bp(?:[6-9]|\d{2,})[-.]", re.IGNORECASE), 35.0),
    (re.compile(r"\bp3dn\b", re.IGNORECASE), 150.0),
)
EFA_DEFAULT_LATENCY_US = 75.0


def _text(row: MeasuredRow) -> str:
    return f"{row.hardware} {row.notes}"


def clock_overrides(row: MeasuredRow) -> dict[str, Any]:
    """Spec overrides ({"compute.sustained_clock": "1665 MHz", "power.limit": "700 W"}, the EFA plugin's latency) for
    the row's stated run conditions; empty when it states none."""
    text = _text(row)
    out: dict[str, Any] = {}
    lock = _LOCK.search(text)
    ac = _AC.search(text)
    if lock:
        out["compute.sustained_clock"] = f"{lock.group(1)} MHz"
    elif ac:
        out["compute.sustained_clock"] = f"{ac.group(2)} MHz"
    limit = _PL.search(text) or _LIMIT.search(text) or _LIMITED_TO.search(text)
    if limit:
        out["power.limit"] = f"{limit.group(1)} W"
    efa = efa_library_latency(text)
    if efa is not None:
        out["interconnect.scale_out.library_latency"] = f"{efa:g} us"
    return out


def efa_library_latency(text: str) -> float | None:
    """The latency (us) aws-ofi-nccl reports to NCCL for the instance a text that names EFA runs on, else None."""
    if not _EFA.search(text):
        return None
    return next((us for pattern, us in _EFA_LATENCY_US if pattern.search(text)), EFA_DEFAULT_LATENCY_US)


def unapplied(row: MeasuredRow) -> str | None:
    """A run condition the row names but does not quantify (e.g. "'power limited' per doc; limit not stated")."""
    text = _text(row)
    if _UNSTATED.search(text) and "power.limit" not in clock_overrides(row):
        return "power limited, limit not stated: run at the preset's TDP"
    return None


def spec_for_row(row: MeasuredRow, hw: Any) -> Any:
    """`hw` (a spec or preset id) with the row's clock lock / power limit applied; unchanged when it has none."""
    overrides = clock_overrides(row)
    if not overrides:
        return hw
    return _with_conditions(hw, tuple(sorted(overrides.items())))


_CACHE: dict[tuple[Any, tuple[tuple[str, Any], ...]], Any] = {}


def _with_conditions(hw: Any, overrides: tuple[tuple[str, Any], ...]) -> Any:
    key = (hw if isinstance(hw, str) else id(hw), overrides)
    cached = _CACHE.get(key)
    if cached is not None and (isinstance(hw, str) or cached[0] is hw):
        return cached[1]
    from ..hardware import load_hardware

    spec = load_hardware(hw) if isinstance(hw, str) else hw
    wanted = {k: v for k, v in overrides if not (k == "power.limit" and spec.power is None)
              and not (k.startswith("interconnect.scale_out.") and spec.interconnect.scale_out is None)}
    if "compute.sustained_clock" in wanted:
        # a lock above the quoted clock (application clocks at the boost, -ac ...,1980 on a 1.83 GHz preset) runs
        # at most at the quoted clock: the clock the preset's peaks are stated at
        from ..hardware import parse_quantity

        locked = parse_quantity(wanted["compute.sustained_clock"], "frequency")
        wanted["compute.sustained_clock"] = f"{min(locked, spec.compute.clock)} Hz"
    result = spec.with_overrides(wanted) if wanted else spec
    if len(_CACHE) > 256:
        _CACHE.clear()
    _CACHE[key] = (hw, result)
    return result
