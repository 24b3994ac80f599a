"""The slow, obviously-correct reference: this module *is* the spec the fast kernels are tested against.

Everything here works one scalar at a time. Element rounding uses exact rational arithmetic
(`fractions.Fraction`); the scale arithmetic of each recipe uses `numpy.float32` scalars step by step in
the documented order, because the recipes are defined as FP32 computations. Nothing here is vectorised
or clever on purpose.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .formats import BlockFormat, ElementFormat, FloatFormat, IntFormat, get_format
from .rounding import Overflow, Rounding, check_overflow, check_random_bits, check_rounding, splitmix64

F32 = np.float32
NVFP4_TENSOR_NUMERATOR = 448.0 * 6.0  # e4m3 max × e2m1 max = 2688 (NVFP4 recipe, TE/torchao)
FP32_MAX = np.finfo(np.float32).max


def stochastic_uniform(seed: int, counter: int, random_bits: int) -> int:
    """u in [0, 2^random_bits): the top bits of splitmix64(splitmix64(seed) + counter)."""
    mixed = splitmix64((splitmix64(seed) + counter) & 0xFFFF_FFFF_FFFF_FFFF)
    return mixed >> (64 - random_bits)


def _round_up(n_low: int, frac: Fraction, rounding: Rounding, u: int, random_bits: int) -> bool:
    """Whether |v| = (n_low + frac)·ulp rounds to n_low + 1 rather than n_low (0 <= frac < 1)."""
    if rounding == "rne":
        return frac > Fraction(1, 2) or (frac == Fraction(1, 2) and n_low % 2 == 1)
    if rounding == "rna":
        return frac >= Fraction(1, 2)
    if rounding == "rtz":
        return False
    if rounding == "raz":
        return frac > 0
    # stochastic: keep the top `random_bits` bits of the discarded fraction, add u, round up on carry
    truncated = math.floor(frac * 2**random_bits)
    return truncated + u >= 2**random_bits


def _ulp_exponent(magnitude: Fraction, fmt: ElementFormat) -> int:
    """Exponent q such that the grid around `magnitude` has spacing 2^q."""
    if isinstance(fmt, IntFormat):
        return fmt.step_exp
    if magnitude == 0:
        return fmt.emin - fmt.man_bits
    binade = math.floor(math.log2(magnitude))
    # log2 of a Fraction can be off by one near powers of two; fix it exactly
    while Fraction(2) ** binade > magnitude:
        binade -= 1
    while Fraction(2) ** (binade + 1) <= magnitude:
        binade += 1
    return max(binade, fmt.emin) - fmt.man_bits


def _overflow_value(fmt: ElementFormat, overflow: Overflow, rounding: Rounding) -> float:
    """Magnitude produced when the rounded value exceeds the format's max.

    Saturating mode gives max. Otherwise Inf if the format has it, else NaN, else max (FP6/FP4/int
    always saturate: they have no such code). Rounding toward zero never leaves the finite range (IEEE 754
    §7.4), so it saturates too.
    """
    if overflow == "saturate" or rounding == "rtz":
        return fmt.max_value
    if fmt.has_inf:
        return math.inf
    return math.nan if fmt.has_nan else fmt.max_value


def round_scalar_ref(
    value: float, fmt: str | ElementFormat, rounding: Rounding = "rne", overflow: Overflow = "saturate",
    u: int = 0, random_bits: int = 32,
) -> float:
    """Round one float32 number to an element format; return the representable value (as a float).

    `u` is the stochastic draw in [0, 2^random_bits), used only when rounding == "stochastic".
    NaN input gives NaN, or +0 for formats without NaN (FP6, FP4, int). ±Inf input is an overflow.
    """
    fmt = get_format(fmt)
    assert not isinstance(fmt, BlockFormat)
    v = float(F32(value))
    if isinstance(fmt, FloatFormat) and fmt.specials == "e8m0":
        return _round_e8m0_ref(v, rounding, overflow, u, random_bits)
    if math.isnan(v):
        return math.nan if fmt.has_nan else 0.0
    negative = math.copysign(1.0, v) < 0
    if math.isinf(v):
        magnitude = math.inf if (fmt.has_inf and overflow != "saturate") else _overflow_value(fmt, overflow, "rne")
    else:
        magnitude = _round_magnitude(Fraction(abs(v)), fmt, rounding, u, random_bits)
        if magnitude > fmt.max_value:
            magnitude = _overflow_value(fmt, overflow, rounding)
    if magnitude == 0 and not fmt.signed_zero:
        return 0.0
    return -magnitude if negative else magnitude


def _round_magnitude(magnitude: Fraction, fmt: ElementFormat, rounding: Rounding, u: int,
                     random_bits: int) -> float:
    """Exact rounding of a non-negative rational to the format's grid, ignoring the upper range limit."""
    ulp = Fraction(2) ** _ulp_exponent(magnitude, fmt)
    n_low = math.floor(magnitude / ulp)
    frac = magnitude / ulp - n_low
    n = n_low + int(_round_up(n_low, frac, rounding, u, random_bits))
    return float(n * ulp)


def _round_e8m0_ref(v: float, rounding: Rounding, overflow: Overflow, u: int, random_bits: int) -> float:
    """E8M0 (unsigned powers of two, no zero). NaN, zero and negatives give NaN; results below 2^-127 clamp
    to 2^-127. Between 2^e and 2^(e+1) the tie is 1.5·2^e and "even" means the even *code* e + 127
    (the format has no mantissa digit to be even), as gfloat and torch do; ml_dtypes rounds ties up."""
    from .formats import E8M0

    if math.isnan(v) or v <= 0:
        return math.nan
    if math.isinf(v):
        return E8M0.max_value if overflow == "saturate" else math.nan
    exponent = floor_log2_ref(v)
    if exponent < -127:
        return E8M0.min_normal
    frac = Fraction(v) / Fraction(2) ** exponent - 1  # position between 2^e and 2^(e+1), in [0, 1)
    exponent += int(_round_up(exponent + 127, frac, rounding, u, random_bits))
    if exponent > 127:
        return E8M0.max_value if (overflow == "saturate" or rounding == "rtz") else math.nan
    return 2.0**exponent


# ----- scale rules -------------------------------------------------------------------------------------
def floor_log2_ref(value: float) -> int:
    """floor(log2(value)) for a positive finite float, exactly (frexp is exact)."""
    _, exponent = math.frexp(value)
    return exponent - 1


def ceil_log2_ref(value: float) -> int:
    mantissa, exponent = math.frexp(value)
    return exponent - 1 if mantissa == 0.5 else exponent


def mx_scale_exponent_ref(amax: float, fmt: BlockFormat, scale_rule: str) -> int | None:
    """Shared exponent k (X = 2^k) of one MX block; None means the NaN scale 0xFF.

    floor (OCP v1.0 §6.3): k = floor(log2 amax) - emax_elem.
    ceil (torchao CEIL):   k = ceil(log2 amax) - emax_elem.
    rceil (cuBLAS / TE):   k = ceil(log2(amax / max_elem)), the quotient taken in FP32.
    All clamp k to [-127, 127]; an all-zero block gets the smallest scale 2^-127.
    """
    if not math.isfinite(amax):
        return None
    if amax == 0:
        return -127
    if scale_rule == "floor":
        k = floor_log2_ref(amax) - fmt.emax_elem
    elif scale_rule == "ceil":
        k = ceil_log2_ref(amax) - fmt.emax_elem
    else:
        quotient = float(F32(amax) / F32(fmt.element.max_value))
        k = -127 if quotient == 0 else ceil_log2_ref(quotient)
    return min(max(k, -127), 127)


def fp32_block_scales_ref(amax: float, elem_max: float, scale_rule: str) -> tuple[np.float32, np.float32]:
    """(encode multiplier m, decode scale s) for FP32-scaled formats, TE's current-scaling order.

    amax: m = max_elem / amax, s = 1 / m (both FP32). pow2: m rounded down to a power of two, so s
    (exactly 1/m) rounds up (TE Float8BlockScaling default). amax 0 gives m = s = 1; non-finite gives NaN.
    """
    if not math.isfinite(amax):
        return F32(np.nan), F32(np.nan)
    if amax == 0:
        return F32(1), F32(1)
    multiplier = F32(elem_max) / F32(amax)
    if scale_rule == "pow2":
        exponent = 127 if math.isinf(multiplier) else min(floor_log2_ref(float(multiplier)), 127)
        multiplier = F32(2.0 ** max(exponent, -126))
    return multiplier, F32(1) / multiplier


# ----- whole-array reference quantiser ------------------------------------------------------------------
def fake_quantize_ref(
    x: np.ndarray, fmt: str, *, axis: int = -1, rounding: Rounding = "rne", overflow: Overflow = "saturate",
    scaling: str = "none", scale_rule: str | None = None, seed: int = 0, offset: int = 0,
    random_bits: int = 32,
) -> np.ndarray:
    """Reference fake quantisation of a 1-D or 2-D float32 array (blocks along `axis`, or 2-D tiles).

    The stochastic counter of an element is `offset` plus its flat index in the array with `axis`
    moved last (C order), the same definition the fast path uses.
    """
    fmt_obj = get_format(fmt)
    check_rounding(rounding)
    check_overflow(overflow)
    check_random_bits(random_bits)
    x = np.asarray(x, dtype=np.float32)
    moved = np.moveaxis(x, axis, -1) if x.ndim else x.reshape(1)
    rows = moved.reshape(-1, moved.shape[-1]) if moved.ndim else moved.reshape(1, 1)
    out = np.empty_like(rows)
    counters = np.arange(rows.size).reshape(rows.shape) + offset

    def element(v: np.float32, counter: int, el: ElementFormat) -> float:
        u = stochastic_uniform(seed, int(counter), random_bits) if rounding == "stochastic" else 0
        return round_scalar_ref(float(v), el, rounding, overflow, u, random_bits)

    if isinstance(fmt_obj, BlockFormat):
        _blocks_ref(rows, out, counters, fmt_obj, scale_rule, element)
    else:
        _scaled_elements_ref(rows, out, counters, fmt_obj, scaling, scale_rule or "amax", element)
    result = out.reshape(moved.shape)
    return np.moveaxis(result, -1, axis) if x.ndim else result.reshape(())


def _amax(values: np.ndarray) -> float:
    """Largest magnitude; NaN if any value is NaN (so a NaN poisons its block), inf if any is inf."""
    values = [abs(float(v)) for v in values.ravel()]
    if any(math.isnan(v) for v in values):
        return math.nan
    return max(values, default=0.0)


def _scaled_elements_ref(rows, out, counters, el, scaling, scale_rule, element) -> None:
    if scaling == "none":
        groups = [(r, slice(None)) for r in range(rows.shape[0])]
        scales = {g: (F32(1), F32(1)) for g in range(len(groups))}
    elif scaling == "tensor":
        pair = fp32_block_scales_ref(_amax(rows), el.max_value, scale_rule)
        groups = [(r, slice(None)) for r in range(rows.shape[0])]
        scales = dict.fromkeys(range(len(groups)), pair)
    else:  # channel / token: one scale per row of the moved array
        groups = [(r, slice(None)) for r in range(rows.shape[0])]
        scales = {r: fp32_block_scales_ref(_amax(rows[r]), el.max_value, scale_rule) for r in range(rows.shape[0])}
    for g, (r, cols) in enumerate(groups):
        multiplier, decode = scales[g]
        for c in range(rows.shape[1])[cols]:
            y = F32(rows[r, c]) * multiplier
            out[r, c] = F32(element(y, counters[r, c], el)) * decode


def _blocks_ref(rows, out, counters, fmt: BlockFormat, scale_rule, element) -> None:
    n_rows, n_cols = rows.shape
    tile_rows, tile_cols = fmt.block_shape
    tensor_scale = F32(1)
    if fmt.scale == "ue4m3_fp32":
        amax_t = _amax(rows)
        # s_enc = 2688 / amax, clamped to the FP32 max (TE); 1 for an all-zero tensor; NaN if non-finite
        with np.errstate(over="ignore"):
            tensor_scale = (min(F32(NVFP4_TENSOR_NUMERATOR) / F32(amax_t), FP32_MAX) if amax_t > 0 else F32(1)) \
                if math.isfinite(amax_t) else F32(np.nan)
    for r0 in range(0, n_rows, tile_rows):
        for c0 in range(0, n_cols, tile_cols):
            tile = (slice(r0, r0 + tile_rows), slice(c0, c0 + tile_cols))
            multiplier, decode_mul, decode_div = _block_scale_ref(rows[tile], fmt, scale_rule, tensor_scale)
            for r in range(r0, min(r0 + tile_rows, n_rows)):
                for c in range(c0, min(c0 + tile_cols, n_cols)):
                    y = F32(rows[r, c]) * multiplier
                    q = F32(element(y, counters[r, c], fmt.element))
                    out[r, c] = (q * decode_mul) / decode_div


def _block_scale_ref(tile, fmt: BlockFormat, scale_rule, tensor_scale) -> tuple[np.float32, ...]:
    """(encode multiplier, decode multiplier, decode divisor) of one block."""
    amax = _amax(tile)
    if fmt.scale == "e8m0":
        k = mx_scale_exponent_ref(amax, fmt, scale_rule or "floor")
        if k is None:
            return F32(np.nan), F32(np.nan), F32(1)
        return F32(2.0**-k), F32(2.0**k), F32(1)
    if fmt.scale == "fp32":
        multiplier, decode = fp32_block_scales_ref(amax, fmt.element.max_value, scale_rule or "amax")
        return multiplier, decode, F32(1)
    # NVFP4, the brief's order: b = e4m3(amax_block / 6 · s_enc); m = 1 / (b / s_enc); value = q · b / s_enc
    from .formats import FP8_E4M3

    if not math.isfinite(float(tensor_scale)) or not math.isfinite(amax):
        return F32(np.nan), F32(np.nan), F32(1)
    block_scale = F32(round_scalar_ref(float((F32(amax) / F32(6)) * tensor_scale), FP8_E4M3, "rne", "saturate"))
    if block_scale == 0:
        return F32(0), F32(0), tensor_scale
    with np.errstate(divide="ignore", over="ignore"):
        multiplier = min(F32(1) / (block_scale / tensor_scale), FP32_MAX)  # clamped like TE's encode scale
    return multiplier, block_scale, tensor_scale
