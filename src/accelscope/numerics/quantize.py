"""quantize / dequantize / fake_quantize: the fast, vectorised path (bit-exact with `reference.py`).

Layout: an array is processed with `axis` moved last (C order), as rows of blocks. Codes are stored in
that layout; `Quantized.axis` records where the axis was. Blocks run along `axis`; a trailing partial
block behaves exactly as if zero-padded (zeros never change a block's amax), so any axis length works.
2-D tiles (fp8_block_128x128) cover the last two axes of the array and ignore `axis`.

Scaling of element formats (`scaling=`): ``none`` (direct cast, the default), ``tensor`` (one FP32
scale), ``channel`` or ``token`` (one FP32 scale per slice along `axis`; the two are the same
arithmetic, named for weights and activations).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _kernels
from .encode import decode_elements, encode_elements, pack_nibbles, unpack_nibbles
from .formats import FP8_E4M3, BlockFormat, ElementFormat, FloatFormat, Format, IntFormat, get_format
from .rounding import (
    Overflow,
    Rounding,
    check_overflow,
    check_random_bits,
    check_rounding,
    splitmix64,
)

F32 = np.float32
F32_MAX = np.finfo(np.float32).max
NVFP4_TENSOR_NUMERATOR = F32(448.0 * 6.0)  # e4m3 max × e2m1 max = 2688
NVFP4_ELEMENT_MAX = F32(6.0)
SCALINGS = ("none", "tensor", "channel", "token")
MX_SCALE_RULES = ("floor", "ceil", "rceil")
FP32_SCALE_RULES = ("amax", "pow2")
E8M0_NAN = 0xFF


@dataclass(frozen=True, eq=False)
class Quantized:
    """Codes plus scales, enough to reproduce the values exactly with `dequantize`.

    codes: uint8 (uint16/uint32 for 16/19/32-bit formats), shape = `layout_shape`
        (the input with `axis` moved last); 4-bit formats are packed two per byte along the flattened
        array, element 2i in the low nibble, when `packed`.
    scales: per-block scale codes: uint8 E8M0 (MX), uint8 UE4M3 (NVFP4), float32 decode scales
        (FP32-scaled formats and tensor/channel/token scaling); None for a direct cast.
    tensor_scale: the NVFP4 FP32 encode scale s_enc = 2688 / amax(tensor), else None.
    """

    fmt: Format
    shape: tuple[int, ...]
    axis: int
    codes: np.ndarray
    scales: np.ndarray | None
    tensor_scale: np.float32 | None
    packed: bool
    rounding: Rounding
    scaling: str
    scale_rule: str | None

    @property
    def element_format(self) -> ElementFormat:
        return self.fmt.element if isinstance(self.fmt, BlockFormat) else self.fmt

    @property
    def layout_shape(self) -> tuple[int, ...]:
        return _moved_shape(self.shape, self.axis)

    def element_codes(self) -> np.ndarray:
        """One code per element (unpacked), in the layout shape."""
        count = int(np.prod(self.layout_shape))
        flat = unpack_nibbles(self.codes.ravel(), count) if self.packed else self.codes.ravel()
        return flat.reshape(self.layout_shape)

    def element_values(self) -> np.ndarray:
        """Decoded element values (before scaling), float32, in the layout shape."""
        return decode_elements(self.element_codes(), self.element_format)

    def scale_values(self) -> np.ndarray | None:
        """Decoded per-block scales as float32 (NaN for the E8M0/E4M3 NaN code)."""
        if self.scales is None:
            return None
        if isinstance(self.fmt, BlockFormat) and self.fmt.scale == "e8m0":
            codes = self.scales.astype(np.int32)
            values = np.ldexp(F32(1.0), codes - 127).astype(np.float32)
            return np.where(codes == E8M0_NAN, F32(np.nan), values)
        if isinstance(self.fmt, BlockFormat) and self.fmt.scale == "ue4m3_fp32":
            return decode_elements(self.scales, FP8_E4M3)
        return self.scales

    @property
    def nbytes(self) -> int:
        scale_bytes = 0 if self.scales is None else self.scales.nbytes
        return int(self.codes.nbytes + scale_bytes + (4 if self.tensor_scale is not None else 0))


# ----- argument checks ------------------------------------------------------------------------------------
def _normalise_axis(axis: int, ndim: int) -> int:
    if not isinstance(axis, int | np.integer) or not -max(ndim, 1) <= axis < max(ndim, 1):
        raise ValueError(f"axis: must be an int in [{-max(ndim, 1)}, {max(ndim, 1) - 1}] for a {ndim}-D "
                         f"input (got {axis!r})")
    return int(axis) % max(ndim, 1)


def _moved_shape(shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    if not shape:
        return (1,)
    rest = tuple(d for i, d in enumerate(shape) if i != axis)
    return (*rest, shape[axis])


def _check_options(fmt: Format, scaling: str | None, scale_rule: str | None) -> tuple[str, str | None]:
    if isinstance(fmt, BlockFormat):
        if scaling not in (None, "block"):
            raise ValueError(f"scaling: {fmt.name} is a block format with its own scales; leave scaling "
                             f"unset (got {scaling!r})")
        allowed = MX_SCALE_RULES if fmt.scale == "e8m0" else FP32_SCALE_RULES if fmt.scale == "fp32" else ("te",)
        rule = scale_rule or allowed[0]
        if rule not in allowed:
            raise ValueError(f"scale_rule: {fmt.name} accepts {', '.join(allowed)} (got {scale_rule!r})")
        return "block", rule
    scaling = scaling or "none"
    if scaling not in SCALINGS:
        raise ValueError(f"scaling: must be one of {', '.join(SCALINGS)} (got {scaling!r})")
    if scaling == "none":
        if scale_rule is not None:
            raise ValueError(f"scale_rule: only applies with scaling tensor/channel/token (got {scale_rule!r})")
        return scaling, None
    rule = scale_rule or "amax"
    if rule not in FP32_SCALE_RULES:
        raise ValueError(f"scale_rule: must be one of {', '.join(FP32_SCALE_RULES)} (got {scale_rule!r})")
    if isinstance(fmt, FloatFormat) and fmt.specials == "e8m0":
        raise ValueError("scaling: e8m0 is a scale format; quantize to it only with scaling='none'")
    return scaling, rule


# ----- element parameters for the kernel -------------------------------------------------------------------
def _bits(value: float) -> int:
    return int(np.array(value, dtype=np.float32).view(np.uint32))


def element_params(fmt: ElementFormat, rounding: str, overflow: str) -> tuple:
    """The kernel's description of an element grid: see `_kernels.round_element`."""
    max_bits = _bits(fmt.max_value)
    if overflow == "saturate" or rounding == "rtz":
        ovf_bits = max_bits  # rounding toward zero never overflows (IEEE 754 §7.4)
    else:
        ovf_bits = _kernels.F32_INF_BITS if fmt.has_inf else _kernels.F32_NAN_BITS if fmt.has_nan else max_bits
    if overflow == "saturate":
        inf_bits = max_bits
    else:
        inf_bits = _kernels.F32_INF_BITS if fmt.has_inf else _kernels.F32_NAN_BITS if fmt.has_nan else max_bits
    nan_bits = _kernels.F32_NAN_BITS if fmt.has_nan else 0  # no NaN code: NaN becomes +0 (documented)
    if isinstance(fmt, IntFormat):
        shift1, region1_bits, sub_exp = 1, _kernels.F32_INF_BITS, fmt.step_exp  # region 1 never applies
    else:
        shift1 = 23 - fmt.man_bits
        region1_bits = max(_bits(fmt.min_normal), _kernels.F32_MIN_NORMAL_BITS)
        sub_exp = fmt.emin - fmt.man_bits
    return (shift1, region1_bits, sub_exp, F32(2.0**sub_exp), max_bits, ovf_bits, inf_bits, nan_bits,
            bool(fmt.signed_zero))


# ----- scales ---------------------------------------------------------------------------------------------
def _as_float(bits: np.ndarray) -> np.ndarray:
    return bits.astype(np.uint32).view(np.float32)


def nvfp4_tensor_scale(amax_bits_total: int) -> np.float32:
    """s_enc = 2688 / amax(tensor) in FP32, clamped to the FP32 max (TE); 1 for an all-zero tensor."""
    if amax_bits_total >= _kernels.F32_INF_BITS:
        return F32(np.nan)
    if amax_bits_total == 0:
        return F32(1)
    amax = _as_float(np.array([amax_bits_total]))[0]
    with np.errstate(over="ignore"):
        return F32(min(NVFP4_TENSOR_NUMERATOR / amax, F32_MAX))


# ----- the shared kernel call -----------------------------------------------------------------------------
def _run_kernel(rows: np.ndarray, block: int, multiplier: np.ndarray, decode_mul: np.ndarray,
                decode_div: np.float32, element: ElementFormat, rounding: str, overflow: str, apply_scale: bool,
                seed: int, offset: int, random_bits: int) -> np.ndarray:
    out = np.empty_like(rows)
    kernel = _kernels.SCALED_ROUND[rounding]
    kernel(rows, block, np.ascontiguousarray(multiplier, dtype=np.float32),
           np.ascontiguousarray(decode_mul, dtype=np.float32), F32(decode_div), out,
           element_params(element, rounding, overflow), apply_scale, np.uint64(splitmix64(seed)),
           offset, random_bits)
    return out


E8M0_PRESCALE_BELOW = F32(2.0**-100)  # fp32-subnormal inputs are scaled up by 2^64 so region 1 applies
E8M0_PRESCALE = F32(2.0**64)  # an even power of two keeps the code parity that RNE looks at


def round_elements(values: np.ndarray, fmt: ElementFormat, rounding: str = "rne", overflow: str = "saturate",
                   seed: int = 0, offset: int = 0, random_bits: int = 32) -> np.ndarray:
    """Round float32 values to an element format's grid (no scaling); returns float32 values."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    e8m0 = isinstance(fmt, FloatFormat) and fmt.specials == "e8m0"
    tiny = np.abs(values) < E8M0_PRESCALE_BELOW if e8m0 else None
    prescaled = np.where(tiny, values * E8M0_PRESCALE, values) if e8m0 else values
    rows = prescaled.reshape(1, -1)
    ones = np.ones((1, 1), dtype=np.float32)
    out = _run_kernel(rows, max(rows.shape[1], 1), ones, ones, F32(1), fmt, rounding, overflow, False,
                      seed, offset, random_bits)
    out = out.reshape(values.shape)
    if e8m0:
        out = _fix_e8m0(values, np.where(tiny, out / E8M0_PRESCALE, out), overflow)
    return out


def _fix_e8m0(values: np.ndarray, rounded: np.ndarray, overflow: str) -> np.ndarray:
    """E8M0 has no zero and no sign: NaN/0/negative give NaN; tiny positives clamp up to 2^-127."""
    tiny = F32(2.0**-127)
    out = np.where((rounded >= 0) & (rounded < tiny), tiny, rounded)
    out = np.where(np.isnan(values) | (values <= 0), F32(np.nan), out)
    if overflow == "saturate":
        out = np.where(np.isposinf(values), F32(2.0**127), out)
    return out.astype(np.float32)


# ----- public API -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    fmt: Format
    element: ElementFormat
    scaling: str
    scale_rule: str | None
    axis: int
    rows: np.ndarray  # (n_rows, cols) float32, axis last
    layout_shape: tuple[int, ...]


def _plan(x, fmt, axis, rounding, overflow, scaling, scale_rule, random_bits) -> _Plan:
    fmt = get_format(fmt)
    check_rounding(rounding)
    check_overflow(overflow)
    check_random_bits(random_bits)
    scaling, scale_rule = _check_options(fmt, scaling, scale_rule)
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise ValueError(f"x: must be a real numeric array (got dtype {x.dtype})")
    x = x.astype(np.float32, copy=False)
    axis = _normalise_axis(axis, x.ndim)
    if isinstance(fmt, BlockFormat) and fmt.is_2d and x.ndim < 2:
        raise ValueError(f"x: {fmt.name} tiles the last two axes; pass an array with ndim >= 2 (got {x.ndim}-D)")
    if isinstance(fmt, BlockFormat) and fmt.is_2d:
        axis = x.ndim - 1
    moved = np.moveaxis(x, axis, -1) if x.ndim else x.reshape(1)
    layout_shape = moved.shape
    rows = np.ascontiguousarray(moved.reshape(-1, layout_shape[-1]) if moved.size else moved.reshape(0, 1))
    element = fmt.element if isinstance(fmt, BlockFormat) else fmt
    return _Plan(fmt, element, scaling, scale_rule, axis, rows, layout_shape)


def _block_scales(plan: _Plan, want_codes: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.float32, np.ndarray | None,
                                        np.float32 | None, int]:
    """(multiplier, decode_mul, decode_div, stored scales, tensor scale, block) per row-block of `plan.rows`."""
    rows, fmt = plan.rows, plan.fmt
    ones = np.ones((rows.shape[0], 1), dtype=np.float32)
    if plan.scaling == "none":
        return ones, ones, F32(1), None, None, max(rows.shape[1], 1)
    if plan.scaling in ("tensor", "channel", "token"):
        amax = _kernels.block_amax_bits(rows.view(np.uint32), max(rows.shape[1], 1))
        if plan.scaling == "tensor":
            amax = np.full_like(amax, amax.max(initial=0))
        multiplier, decode = _kernels.fp32_scales(amax, F32(plan.element.max_value), plan.scale_rule == "pow2")
        stored = decode[:1, 0].reshape(()) if plan.scaling == "tensor" else \
            decode.reshape(*plan.layout_shape[:-1], 1)
        return multiplier, decode, F32(1), stored, None, max(rows.shape[1], 1)
    assert isinstance(fmt, BlockFormat)
    block = fmt.block_shape[1]
    amax = _kernels.block_amax_bits(rows.view(np.uint32), block)
    if fmt.is_2d:
        amax = _tile_amax(amax, plan.layout_shape, fmt.block_shape[0])
    if fmt.scale == "e8m0":
        codes, multiplier, decode = _kernels.mx_scales(amax, fmt.emax_elem, F32(fmt.element.max_value),
                                                       MX_SCALE_RULES.index(plan.scale_rule))
        return multiplier, decode, F32(1), _stored(codes, plan), None, block
    if fmt.scale == "fp32":
        multiplier, decode = _kernels.fp32_scales(amax, F32(fmt.element.max_value), plan.scale_rule == "pow2")
        return multiplier, decode, F32(1), _stored(decode, plan), None, block
    tensor_scale = nvfp4_tensor_scale(int(amax.max(initial=0)))
    block_scale, multiplier = _kernels.nvfp4_scales(amax, tensor_scale, element_params(FP8_E4M3, "rne", "saturate"))
    codes = encode_elements(block_scale, FP8_E4M3) if want_codes else block_scale
    return multiplier, block_scale, tensor_scale, _stored(codes, plan), tensor_scale, block


def _tile_amax(amax: np.ndarray, layout_shape: tuple[int, ...], tile_rows: int) -> np.ndarray:
    """Reduce per-(row, column-block) amax over groups of `tile_rows` rows, then broadcast back."""
    rows_per_matrix = layout_shape[-2]
    n_matrices = amax.shape[0] // rows_per_matrix
    per_matrix = amax.reshape(n_matrices, rows_per_matrix, -1)
    starts = np.arange(0, rows_per_matrix, tile_rows)
    tiles = np.maximum.reduceat(per_matrix, starts, axis=1)
    return np.repeat(tiles, tile_rows, axis=1)[:, :rows_per_matrix].reshape(amax.shape)


def _stored(per_row_block: np.ndarray, plan: _Plan) -> np.ndarray:
    """Scales in their stored shape: (*leading, n_blocks), or (*batch, row_tiles, col_tiles) for 2-D tiles."""
    shaped = per_row_block.reshape(*plan.layout_shape[:-1], per_row_block.shape[-1])
    if isinstance(plan.fmt, BlockFormat) and plan.fmt.is_2d:
        return np.ascontiguousarray(shaped[..., :: plan.fmt.block_shape[0], :])
    return shaped


def quantize(
    x: np.ndarray, fmt: str | Format, *, axis: int = -1, rounding: Rounding = "rne",
    overflow: Overflow = "saturate", scaling: str | None = None, scale_rule: str | None = None,
    seed: int = 0, offset: int = 0, random_bits: int = 32, pack: bool = True,
) -> Quantized:
    """Quantise `x` (cast to float32 first) to `fmt`; return codes and scales.

    rounding: rne (default) | rna | rtz | raz | stochastic (seeded by `seed`, counter `offset` + flat
        index in the axis-last layout, `random_bits` random bits).
    overflow: saturate (default) | infnan.
    scaling: element formats only: none (default) | tensor | channel | token.
    scale_rule: MX formats: floor (OCP v1.0, default) | ceil (torchao CEIL) | rceil (cuBLAS/TE round-up);
        FP32-scaled: amax (default) | pow2 (TE blockwise: power-of-two scales); NVFP4: te.
    pack: store 4-bit codes two per byte.
    """
    plan = _plan(x, fmt, axis, rounding, overflow, scaling, scale_rule, random_bits)
    multiplier, _, _, stored, tensor_scale, block = _block_scales(plan)
    if isinstance(plan.element, FloatFormat) and plan.element.specials == "e8m0":
        values = round_elements(plan.rows, plan.element, rounding, overflow, seed, offset, random_bits)
    else:
        values = _run_kernel(plan.rows, block, multiplier, multiplier, F32(1), plan.element, rounding,
                             overflow, False, seed, offset, random_bits)
    codes = encode_elements(values, plan.element).reshape(plan.layout_shape)
    packed = pack and plan.element.bits == 4
    if packed:
        codes = pack_nibbles(codes.ravel())
    return Quantized(fmt=plan.fmt, shape=tuple(np.shape(x)), axis=plan.axis, codes=codes, scales=stored,
                     tensor_scale=tensor_scale, packed=packed, rounding=rounding, scaling=plan.scaling,
                     scale_rule=plan.scale_rule)


def dequantize(q: Quantized) -> np.ndarray:
    """Exact float32 values of a `Quantized`, in the input's shape: (element · scale) / tensor scale."""
    elements = q.element_values()
    fmt = q.fmt
    with np.errstate(invalid="ignore", over="ignore"):
        if q.scales is None:
            values = elements
        elif isinstance(fmt, BlockFormat):
            scale = _expand_scales(q.scale_values(), fmt, q.layout_shape)
            divisor = q.tensor_scale if q.tensor_scale is not None else F32(1)
            values = (elements * scale) / divisor
        else:
            values = elements * q.scales
    values = np.asarray(values, dtype=np.float32)
    return np.moveaxis(values, -1, q.axis) if q.shape else values.reshape(())


def _expand_scales(scales: np.ndarray, fmt: BlockFormat, layout_shape: tuple[int, ...]) -> np.ndarray:
    tile_rows, tile_cols = fmt.block_shape
    expanded = np.repeat(scales, tile_cols, axis=-1)[..., : layout_shape[-1]]
    if fmt.is_2d:
        expanded = np.repeat(expanded, tile_rows, axis=-2)[..., : layout_shape[-2], :]
    return expanded


def fake_quantize(
    x: np.ndarray, fmt: str | Format, *, axis: int = -1, rounding: Rounding = "rne",
    overflow: Overflow = "saturate", scaling: str | None = None, scale_rule: str | None = None,
    seed: int = 0, offset: int = 0, random_bits: int = 32,
) -> np.ndarray:
    """`dequantize(quantize(x, ...))`, bit for bit, in one fused pass (no codes are materialised)."""
    plan = _plan(x, fmt, axis, rounding, overflow, scaling, scale_rule, random_bits)
    multiplier, decode_mul, decode_div, _, _, block = _block_scales(plan, want_codes=False)
    if isinstance(plan.element, FloatFormat) and plan.element.specials == "e8m0":
        values = round_elements(plan.rows, plan.element, rounding, overflow, seed, offset, random_bits)
    else:
        values = _run_kernel(plan.rows, block, multiplier, decode_mul, decode_div, plan.element, rounding,
                             overflow, True, seed, offset, random_bits)
    values = values.reshape(plan.layout_shape)
    return np.moveaxis(values, -1, plan.axis) if np.ndim(x) else values.reshape(())
