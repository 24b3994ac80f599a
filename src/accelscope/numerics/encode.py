"""Codes <-> element values, and 4-bit packing. Values passed in are already on the format's grid."""

from __future__ import annotations

import numpy as np

from .formats import ElementFormat, FloatFormat, IntFormat

E8M0_NAN_CODE = 0xFF


def _positive_grid(fmt: FloatFormat) -> tuple[np.ndarray, np.ndarray]:
    """Sorted non-negative finite values of an (<= 8-bit) float format and their codes (+0 is code 0)."""
    table = fmt.decode_table
    codes = np.arange(table.size)
    keep = np.isfinite(table) & ~np.signbit(table)
    values, codes = table[keep], codes[keep]
    order = np.argsort(values, kind="stable")
    return values[order], codes[order].astype(np.uint8)


def _nan_code(fmt: FloatFormat) -> int:
    if fmt.specials == "e8m0":
        return E8M0_NAN_CODE
    if fmt.specials == "fnuz":
        return 1 << (fmt.bits - 1)
    if fmt.specials == "fn":
        return (1 << (fmt.bits - 1)) - 1  # S.1111.111 with S = 0
    return ((1 << fmt.exp_bits) - 1) << fmt.man_bits | (1 << (fmt.man_bits - 1))  # ieee quiet NaN


def encode_elements(values: np.ndarray, fmt: ElementFormat) -> np.ndarray:
    """Codes of float32 values that are exactly representable in `fmt` (NaN/Inf included where encodable)."""
    values = np.asarray(values, dtype=np.float32)
    if isinstance(fmt, IntFormat):
        integers = np.rint(np.nan_to_num(values) / np.float32(fmt.step)).astype(np.int64)
        return (integers & (2**fmt.bits - 1)).astype(np.uint8)
    bits = values.view(np.uint32)
    if fmt.bits > 8:
        if fmt.name == "fp16":
            return values.astype(np.float16).view(np.uint16)
        return (bits >> np.uint32(32 - fmt.bits)).astype(fmt.code_dtype)
    grid, grid_codes = _positive_grid(fmt)
    magnitude = np.abs(values)
    index = np.minimum(np.searchsorted(grid, magnitude), grid.size - 1)
    codes = grid_codes[index]
    if fmt.has_inf:
        inf_code = ((1 << fmt.exp_bits) - 1) << fmt.man_bits
        codes = np.where(np.isinf(values), np.uint8(inf_code), codes)
    if fmt.signed:
        negative = np.signbit(values) & ~((magnitude == 0) & (not fmt.signed_zero))
        codes = np.where(negative, codes | np.uint8(1 << (fmt.bits - 1)), codes)
    if fmt.has_nan:
        codes = np.where(np.isnan(values), np.uint8(_nan_code(fmt)), codes)
    return codes.astype(np.uint8)


def decode_elements(codes: np.ndarray, fmt: ElementFormat) -> np.ndarray:
    """float32 values of codes (one code per array element)."""
    codes = np.asarray(codes)
    if fmt.bits <= 8:
        return fmt.decode_table[codes.astype(np.intp)]
    if fmt.name == "fp16":
        return codes.astype(np.uint16).view(np.float16).astype(np.float32)
    shift = np.uint32(32 - fmt.bits)
    return (codes.astype(np.uint32) << shift).view(np.float32)


def pack_nibbles(codes: np.ndarray) -> np.ndarray:
    """Two 4-bit codes per byte: element 2i in the low nibble, 2i+1 in the high one (torchao's fp4x2 order)."""
    codes = np.asarray(codes, dtype=np.uint8).ravel()
    if codes.size % 2:
        codes = np.concatenate([codes, np.zeros(1, dtype=np.uint8)])
    return (codes[0::2] & 0x0F) | ((codes[1::2] & 0x0F) << 4)


def unpack_nibbles(packed: np.ndarray, count: int) -> np.ndarray:
    packed = np.asarray(packed, dtype=np.uint8).ravel()
    out = np.empty(packed.size * 2, dtype=np.uint8)
    out[0::2] = packed & 0x0F
    out[1::2] = packed >> 4
    return out[:count]
