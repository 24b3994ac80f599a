"""Rounding and overflow modes, and the counter-based generator behind stochastic rounding.

Rounding modes (all act on the exact value of the float32 input):

- ``rne``: round to nearest, ties to even (IEEE default; ml_dtypes, torch, TE, torchao).
- ``rna``: round to nearest, ties away from zero (microxcaling's and QPyTorch's "nearest").
- ``rtz``: toward zero (truncate the magnitude).
- ``raz``: away from zero (round the magnitude up whenever anything is discarded).
- ``stochastic``: keep the top `random_bits` bits of the discarded fraction f, add a uniform integer
  u in [0, 2^random_bits) and round up on carry, so P(up) = floor(f·2^r)/2^r. Fewer bits bias the result
  toward zero by up to 2^-r ulp (about -0.125 ulp on average for r = 2; arXiv:2504.20634).

Overflow modes: ``saturate`` clamps to ±max (the default; what the OCP MX spec prescribes for elements);
``infnan`` gives ±Inf where the format has it, else NaN, else (FP6, FP4, int: no such code) saturates.
"""

from __future__ import annotations

from typing import Literal, get_args

Rounding = Literal["rne", "rna", "rtz", "raz", "stochastic"]
Overflow = Literal["saturate", "infnan"]
ROUNDINGS: tuple[str, ...] = get_args(Rounding)
OVERFLOWS: tuple[str, ...] = get_args(Overflow)
ROUNDING_CODES: dict[str, int] = {name: i for i, name in enumerate(ROUNDINGS)}
MAX_RANDOM_BITS = 32

_MASK64 = 0xFFFF_FFFF_FFFF_FFFF
SPLITMIX_GAMMA = 0x9E37_79B9_7F4A_7C15  # 2^64 / golden ratio (Steele, Lea, Flood 2014)
SPLITMIX_MUL1 = 0xBF58_476D_1CE4_E5B9
SPLITMIX_MUL2 = 0x94D0_49BB_1331_11EB


def splitmix64(z: int) -> int:
    """SplitMix64 output function of state z: a bijective 64-bit mixer (passes BigCrush as a counter RNG)."""
    z = (z + SPLITMIX_GAMMA) & _MASK64
    z = ((z ^ (z >> 30)) * SPLITMIX_MUL1) & _MASK64
    z = ((z ^ (z >> 27)) * SPLITMIX_MUL2) & _MASK64
    return z ^ (z >> 31)


def check_rounding(rounding: str) -> None:
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding: must be one of {', '.join(ROUNDINGS)} (got {rounding!r})")


def check_overflow(overflow: str) -> None:
    if overflow not in OVERFLOWS:
        raise ValueError(f"overflow: must be one of {', '.join(OVERFLOWS)} (got {overflow!r})")


def check_random_bits(random_bits: int) -> None:
    if not (isinstance(random_bits, int) and 1 <= random_bits <= MAX_RANDOM_BITS):
        raise ValueError(f"random_bits: must be an int in 1..{MAX_RANDOM_BITS} (got {random_bits!r})")
