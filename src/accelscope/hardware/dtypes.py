"""Data-type names the whole project shares, their storage size, and which matrix peak prices them.

Sizes include the block-scale overhead of block formats, because that is what memory traffic pays:
  mxfp8  = 8 bits + one 8-bit E8M0 scale per 32 elements  = 8.25 bits   (OCP MX v1.0, block 32)
  mxfp6  = 6 bits + 8/32                                   = 6.25 bits
  mxfp4  = 4 bits + 8/32                                   = 4.25 bits
  nvfp4  = 4 bits + one 8-bit E4M3 scale per 16 elements   = 4.5 bits    (NVIDIA NVFP4, block 16)
(the per-tensor FP32 scale of NVFP4 is negligible and not counted).
Group-quantized int4 weights (weight-only, W4A16) carry a bf16 scale and a bf16 zero point per group of g weights
along K, the layout of gpt-fast and PyTorch's _weight_int4pack_mm (GPTQ/AWQ pack the zero point in 4 bits: 20
bits per group, 4.16 bits at g = 128 against the 4.25 here):
  int4_g32 = 4 + 32/32 = 5 bits;  int4_g64 = 4.5;  int4_g128 = 4.25
"""

from __future__ import annotations

from functools import lru_cache

# bits per stored element, including amortised block scales
DTYPE_BITS: dict[str, float] = {
    "fp64": 64, "fp32": 32, "tf32": 32, "bf16": 16, "fp16": 16,
    "fp8_e4m3": 8, "fp8_e5m2": 8, "fp6_e3m2": 6, "fp6_e2m3": 6, "fp4_e2m1": 4,
    "int32": 32, "int8": 8, "int4": 4, "int4_g32": 4 + 32 / 32, "int4_g64": 4 + 32 / 64, "int4_g128": 4 + 32 / 128,
    "mxfp8": 8 + 8 / 32, "mxfp6": 6 + 8 / 32, "mxfp4": 4 + 8 / 32, "nvfp4": 4 + 8 / 16,
}

# Common spellings users type -> canonical name.
DTYPE_ALIASES: dict[str, str] = {
    "float64": "fp64", "float32": "fp32", "float": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16",
    "fp8": "fp8_e4m3", "e4m3": "fp8_e4m3", "e5m2": "fp8_e5m2", "float8_e4m3fn": "fp8_e4m3",
    "float8_e5m2": "fp8_e5m2", "fp4": "fp4_e2m1", "e2m1": "fp4_e2m1", "fp6": "fp6_e3m2",
    "mxfp8_e4m3": "mxfp8", "mxfp8_e5m2": "mxfp8", "mxfp6_e3m2": "mxfp6", "mxfp6_e2m3": "mxfp6",
}

# When a chip has no native matrix rate for a dtype, the kernel runs it on the next wider path it has
# (e.g. FP8 weights on an A100 are up-converted and multiplied in FP16). Tried in order.
MATRIX_FALLBACK: dict[str, tuple[str, ...]] = {
    "nvfp4": ("nvfp4", "mxfp4", "fp4_e2m1", "fp8_e4m3", "bf16", "fp16"),
    "mxfp4": ("mxfp4", "fp4_e2m1", "nvfp4", "fp8_e4m3", "bf16", "fp16"),
    "fp4_e2m1": ("fp4_e2m1", "mxfp4", "nvfp4", "fp8_e4m3", "bf16", "fp16"),
    "mxfp6": ("mxfp6", "fp6_e3m2", "fp6_e2m3", "mxfp8", "fp8_e4m3", "bf16", "fp16"),
    "fp6_e3m2": ("fp6_e3m2", "mxfp6", "fp8_e4m3", "bf16", "fp16"),
    "fp6_e2m3": ("fp6_e2m3", "mxfp6", "fp8_e4m3", "bf16", "fp16"),
    "mxfp8": ("mxfp8", "fp8_e4m3", "bf16", "fp16"),
    "fp8_e4m3": ("fp8_e4m3", "fp8_e5m2", "bf16", "fp16"),
    "fp8_e5m2": ("fp8_e5m2", "fp8_e4m3", "bf16", "fp16"),
    "int4": ("int4", "int8", "fp8_e4m3", "fp16", "bf16"),
    # group-scaled int4 is a weight format: its scales and zero points are applied as it is converted
    "int4_g32": ("fp16", "bf16"),
    "int4_g64": ("fp16", "bf16"),
    "int4_g128": ("fp16", "bf16"),
    "int8": ("int8", "fp8_e4m3", "fp16", "bf16"),
    "bf16": ("bf16", "fp16", "fp32"),
    "fp16": ("fp16", "bf16", "fp32"),
    "tf32": ("tf32", "fp32"),
    "fp32": ("fp32", "tf32"),
    "fp64": ("fp64", "fp32"),
    "int32": ("int32", "fp32"),
}

# Vector-unit pricing: anything narrower than 16 bits is computed in 16-bit lanes at best.
VECTOR_FALLBACK: dict[str, tuple[str, ...]] = {
    "fp64": ("fp64", "fp32"),
    "fp32": ("fp32",),
    "tf32": ("fp32",),
    "bf16": ("bf16", "fp16", "fp32"),
    "fp16": ("fp16", "bf16", "fp32"),
}

DTYPES: tuple[str, ...] = tuple(DTYPE_BITS)


@lru_cache(maxsize=256)
def canonical_dtype(name: str) -> str:
    """Canonical dtype name, or ValueError listing the valid names (cached: called for every op of every graph)."""
    key = name.strip().lower()
    key = DTYPE_ALIASES.get(key, key)
    if key not in DTYPE_BITS:
        raise ValueError(f"unknown dtype {name!r}; expected one of: {', '.join(DTYPES)}")
    return key


def check_dtype_names(names: tuple[str, ...], label: str) -> None:
    """Each of `names` a dtype canonical_dtype knows; the error names `label` (the option or field that gave it)."""
    for name in names:
        try:
            canonical_dtype(name)
        except ValueError as error:
            raise ValueError(f"{label}: {error}") from None


def dtype_bytes(name: str) -> float:
    """Storage bytes per element (fractional for sub-byte and block-scaled formats)."""
    return DTYPE_BITS[canonical_dtype(name)] / 8


# The element encoding a block format carries: an MX/NVFP4 operand on a plain matrix path of its element format
# enters the MMA as stored (only its scales cost extra); any other mismatch is converted as it is loaded.
ELEMENT_FORMAT = {"mxfp8": "fp8_e4m3", "mxfp6": "fp6_e3m2", "mxfp4": "fp4_e2m1", "nvfp4": "fp4_e2m1"}


def element_format(dtype: str) -> str:
    dtype = canonical_dtype(dtype)
    return ELEMENT_FORMAT.get(dtype, dtype)


def element_bits(dtype: str) -> float:
    """Bits of one element's encoding, block scales left out (mxfp8: 8, nvfp4: 4): the width that decides a
    matrix path's rate and sustained fraction. Memory traffic pays `dtype_bytes`, scales included."""
    return DTYPE_BITS[element_format(dtype)]


def wider(a: str, b: str) -> str:
    """The dtype with more bits: the one a mixed-precision matrix product computes in (W4A16 -> bf16)."""
    a, b = canonical_dtype(a), canonical_dtype(b)
    return a if DTYPE_BITS[a] >= DTYPE_BITS[b] else b
