"""Compiled (numba) kernels: block amax and scaled element rounding, bit-exact with `reference.py`.

The element rounding works on the float32 bit pattern, in two regions:

1. |y| >= max(min_normal, 2^-126): every fp32 normal has 23 explicit mantissa bits, so rounding to
   `man_bits` is a fixed right shift by s = 23 - man_bits of the magnitude bits; a carry out of the
   mantissa moves into the exponent field by itself.
2. below that: the grid is uniform with spacing 2^sub_exp (the format's subnormal step, or an integer
   format's step), so the significand is shifted by a per-element amount and the result rebuilt as
   n · 2^sub_exp, an exact fp32 product.

Both regions are computed branch-free and one is selected, so LLVM can vectorise the loop. The rounding
mode is a compile-time constant of each generated kernel (one kernel per mode).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir as llvm_ir
from numba import njit, types
from numba.extending import intrinsic

from .rounding import ROUNDING_CODES, SPLITMIX_GAMMA, SPLITMIX_MUL1, SPLITMIX_MUL2

F32_INF_BITS = 0x7F80_0000
F32_NAN_BITS = 0x7FC0_0000
F32_SIGN_BIT = 0x8000_0000
F32_ABS_MASK = 0x7FFF_FFFF
F32_MAN_MASK = 0x007F_FFFF
F32_IMPLICIT_BIT = 0x0080_0000
F32_MIN_NORMAL_BITS = 0x0080_0000  # 2^-126
MAX_SHIFT = 62  # a significand (< 2^24) shifted by >= 26 bits is all fraction; 62 keeps int64 shifts defined


@intrinsic
def f32_to_bits(typingctx, value):
    """Reinterpret a float32 as its uint32 bit pattern (free: an LLVM bitcast)."""
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.IntType(32))

    return types.uint32(types.float32), codegen


@intrinsic
def bits_to_f32(typingctx, bits):
    """Reinterpret a uint32 bit pattern as a float32."""
    if bits != types.uint32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.FloatType())

    return types.float32(types.uint32), codegen


_GAMMA = np.uint64(SPLITMIX_GAMMA)
_MUL1 = np.uint64(SPLITMIX_MUL1)
_MUL2 = np.uint64(SPLITMIX_MUL2)


@njit(inline="always")
def splitmix64_nb(z):
    z = z + _GAMMA
    z = (z ^ (z >> np.uint64(30))) * _MUL1
    z = (z ^ (z >> np.uint64(27))) * _MUL2
    return z ^ (z >> np.uint64(31))


def _make_kernels(mode: int):
    """Kernels specialised for one rounding mode (a closure constant, folded at compile time)."""
    rne, rna, rtz, raz, stochastic = (ROUNDING_CODES[k] for k in ("rne", "rna", "rtz", "raz", "stochastic"))

    @njit(inline="always")
    def round_up(n, rem, shift, u, random_bits):
        """1 if n·2^shift + rem rounds to (n + 1)·2^shift, else 0 (0 <= rem < 2^shift)."""
        half = (np.int64(1) << shift) >> 1  # 0 when shift == 0 (nothing discarded)
        if mode == rne:
            return np.int64((rem > half) | ((rem == half) & (half != 0) & ((n & 1) == 1)))
        if mode == rna:
            return np.int64((rem >= half) & (half != 0))
        if mode == rtz:
            return np.int64(0)
        if mode == raz:
            return np.int64(rem != 0)
        # stochastic: top `random_bits` bits of the fraction plus u, carry out of the top bit rounds up
        top = rem >> (shift - random_bits) if shift >= random_bits else rem << (random_bits - shift)
        return (top + u) >> random_bits

    @njit(inline="always")
    def round_element(y, p, u, random_bits):
        """Round float32 y to the element grid described by `p`; return the result's fp32 bits."""
        s1, r1_bits, sub_exp, sub_scale, max_bits, ovf_bits, inf_bits, nan_bits, signed_zero = p
        xb = np.int64(f32_to_bits(y))
        b = xb & F32_ABS_MASK
        sign = xb & F32_SIGN_BIT
        # region 1: fixed shift of the magnitude bits (carry propagates into the exponent)
        n1 = b >> s1
        res1 = (n1 + round_up(n1, b & ((np.int64(1) << s1) - 1), s1, u, random_bits)) << s1
        # region 2: uniform grid of spacing 2^sub_exp
        e32 = b >> 23
        sig = (b & F32_MAN_MASK) | (np.int64(e32 != 0) << 23)
        shift = min(max(sub_exp - (max(e32, 1) - 150), 0), MAX_SHIFT)
        n2 = sig >> shift
        up2 = round_up(n2, sig & ((np.int64(1) << shift) - 1), shift, u, random_bits)
        res2 = np.int64(f32_to_bits(np.float32(n2 + up2) * sub_scale))
        mag = res1 if b >= r1_bits else res2
        mag = ovf_bits if mag > max_bits else mag
        mag = inf_bits if b == F32_INF_BITS else mag
        out = mag if mag > F32_INF_BITS else mag | sign  # NaN results carry no sign
        out = 0 if (mag == 0 and not signed_zero) else out
        return nan_bits if b > F32_INF_BITS else out

    @njit(nogil=True, error_model="numpy")
    def scaled_round(x, block, multiplier, decode_mul, decode_div, out, p, apply_scale, key, offset,
                     random_bits):
        """out[r, c] = (round(x[r, c] · m[r, c//block]) · dmul[r, c//block]) / ddiv, row by row.

        `key` is splitmix64(seed); the stochastic counter of element (r, c) is offset + r·cols + c.
        With apply_scale False the output is the rounded element value itself (element units).
        """
        rows, cols = x.shape
        n_blocks = multiplier.shape[1]
        for r in range(rows):
            for blk in range(n_blocks):
                m = multiplier[r, blk]
                dmul = decode_mul[r, blk] if apply_scale else np.float32(1.0)
                ddiv = decode_div if apply_scale else np.float32(1.0)
                start = blk * block
                stop = min(start + block, cols)
                base = np.uint64(offset + r * cols)
                for c in range(start, stop):
                    u = np.int64(0)
                    if mode == stochastic:
                        draw = splitmix64_nb(key + base + np.uint64(c))
                        u = np.int64(draw >> np.uint64(64 - random_bits))
                    q = bits_to_f32(np.uint32(round_element(x[r, c] * m, p, u, random_bits)))
                    out[r, c] = (q * dmul) / ddiv

    return scaled_round, round_element


_BUILT = {name: _make_kernels(code) for name, code in ROUNDING_CODES.items()}
SCALED_ROUND = {name: kernels[0] for name, kernels in _BUILT.items()}
round_element_rne = _BUILT["rne"][1]


# ----- per-block scales from amax bits (same rules as reference.py, vectorised over blocks) ---------------
F32_MAX = np.float32(np.finfo(np.float32).max)
MX_FLOOR, MX_CEIL, MX_RCEIL = 0, 1, 2
E8M0_NAN_CODE = 0xFF


@njit(inline="always")
def pow2_f32(exponent):
    """2^exponent as float32 for exponent in [-149, 127], built from bits (subnormals included)."""
    if exponent >= -126:
        return bits_to_f32(np.uint32((exponent + 127) << 23))
    return bits_to_f32(np.uint32(1 << (exponent + 149)))


@njit(inline="always")
def floor_ceil_log2(value):
    """(floor(log2 v), ceil(log2 v)) of a positive finite float32, exactly (frexp of the float64 copy)."""
    mantissa, exponent = math.frexp(np.float64(value))
    floor = exponent - 1
    return floor, floor if mantissa == 0.5 else floor + 1


@njit(nogil=True, error_model="numpy")
def mx_scales(amax_bits, emax_elem, elem_max, rule):
    """E8M0 codes, encode multipliers 2^-k and decode scales 2^k of MX blocks (OCP FLOOR / CEIL / RCEIL)."""
    codes = np.empty(amax_bits.shape, dtype=np.uint8)
    multiplier = np.empty(amax_bits.shape, dtype=np.float32)
    decode = np.empty(amax_bits.shape, dtype=np.float32)
    flat_amax, flat_codes = amax_bits.ravel(), codes.ravel()
    flat_mul, flat_dec = multiplier.ravel(), decode.ravel()
    for i in range(flat_amax.size):
        bits = flat_amax[i]
        if bits >= F32_INF_BITS:
            flat_codes[i], flat_mul[i], flat_dec[i] = E8M0_NAN_CODE, np.nan, np.nan
            continue
        amax = bits_to_f32(np.uint32(bits))
        if bits == 0:
            k = -127
        elif rule == MX_RCEIL:
            quotient = amax / elem_max
            k = floor_ceil_log2(quotient)[1] if quotient > 0 else -127
        else:
            k = floor_ceil_log2(amax)[0 if rule == MX_FLOOR else 1] - emax_elem
        k = min(max(k, -127), 127)
        flat_codes[i], flat_mul[i], flat_dec[i] = k + 127, pow2_f32(-k), pow2_f32(k)
    return codes, multiplier, decode


@njit(nogil=True, error_model="numpy")
def fp32_scales(amax_bits, elem_max, pow2):
    """Encode multiplier m = max_elem / amax and decode scale 1/m (TE current scaling); pow2 rounds m down
    to a power of two. amax 0 gives 1 and 1; NaN/Inf amax gives NaN."""
    multiplier = np.empty(amax_bits.shape, dtype=np.float32)
    decode = np.empty(amax_bits.shape, dtype=np.float32)
    flat_amax, flat_mul, flat_dec = amax_bits.ravel(), multiplier.ravel(), decode.ravel()
    for i in range(flat_amax.size):
        bits = flat_amax[i]
        if bits >= F32_INF_BITS:
            flat_mul[i], flat_dec[i] = np.nan, np.nan
            continue
        m = np.float32(1.0) if bits == 0 else elem_max / bits_to_f32(np.uint32(bits))
        if pow2 and bits != 0:
            exponent = 127 if math.isinf(m) else min(max(floor_ceil_log2(m)[0], -126), 127)
            m = pow2_f32(exponent)
        flat_mul[i], flat_dec[i] = m, np.float32(1.0) / m
    return multiplier, decode


@njit(nogil=True, error_model="numpy")
def nvfp4_scales(amax_bits, tensor_scale, e4m3_params):
    """Block scale b = e4m3_rne_sat((amax / 6) · s_enc) and encode multiplier min(1 / (b / s_enc), FP32 max);
    multiplier 0 where b is 0. All FP32."""
    block_scale = np.empty(amax_bits.shape, dtype=np.float32)
    multiplier = np.empty(amax_bits.shape, dtype=np.float32)
    flat_amax, flat_b, flat_mul = amax_bits.ravel(), block_scale.ravel(), multiplier.ravel()
    for i in range(flat_amax.size):
        wanted = (bits_to_f32(np.uint32(flat_amax[i])) / np.float32(6.0)) * tensor_scale
        b = bits_to_f32(np.uint32(round_element_rne(wanted, e4m3_params, 0, 32)))
        m = min(np.float32(1.0) / (b / tensor_scale), F32_MAX)
        flat_b[i] = b
        flat_mul[i] = np.float32(0.0) if b == 0 else m
    return block_scale, multiplier


@njit(nogil=True, error_model="numpy")
def block_amax_bits(x_bits, block):
    """Per-block max of |x| as fp32 bits (int64). Integer max orders NaN > Inf > finite, so NaN wins."""
    rows, cols = x_bits.shape
    n_blocks = (cols + block - 1) // block
    out = np.zeros((rows, n_blocks), dtype=np.int64)
    for r in range(rows):
        for blk in range(n_blocks):
            acc = np.uint32(0)
            for c in range(blk * block, min(blk * block + block, cols)):
                acc = max(acc, x_bits[r, c] & np.uint32(F32_ABS_MASK))
            out[r, blk] = acc
    return out


def set_single_thread() -> None:
    """The kernels are serial; keep numba's own pool (unused here) at one thread."""
    numba.set_num_threads(1)
