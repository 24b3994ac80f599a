"""Number-format descriptors: parameter records, one shared implementation.

Every format is a frozen record of its bit-level parameters; derived quantities (max, min normal, min
subnormal, code tables) are properties computed from them, never stored. Names follow the issue's spelling
(`fp8_e4m3`, `mxfp4`, ...); the MLIR/ml_dtypes spellings (`float8_e4m3fn`, `e4m3fn`, ...) are aliases.

Special-value policies (`specials`), after ml_dtypes `float8.h` and the OCP 8-bit spec:

- ``ieee``: the all-ones exponent is reserved: mantissa 0 is ±Inf, any other mantissa is NaN
  (fp32, tf32, bf16, fp16, fp8_e5m2).
- ``fn``: finite only; the all-ones exponent holds normals except S.1111.111, which is NaN (fp8_e4m3).
- ``fnuz``: finite only, no negative zero; the single code 0x80 is NaN (fp8_e4m3fnuz, fp8_e5m2fnuz).
- ``none``: every code is a finite number; there is no Inf and no NaN (fp6_e3m2, fp6_e2m3, fp4_e2m1).
- ``e8m0``: unsigned powers of two 2^(code-127) for codes 0..254, 0xFF is NaN, there is no zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

Specials = Literal["ieee", "fn", "fnuz", "none", "e8m0"]
ScaleKind = Literal["e8m0", "ue4m3_fp32", "fp32"]


@dataclass(frozen=True, kw_only=True)
class FloatFormat:
    """A binary floating-point element format: 1 sign bit (unless `e8m0`), `exp_bits`, `man_bits`, `bias`.

    Value of a normal code: (-1)^s · 2^(e - bias) · (1 + m / 2^man_bits); of a subnormal (e = 0):
    (-1)^s · 2^(1 - bias) · (m / 2^man_bits). `e8m0` has no sign, no mantissa and no subnormals.
    """

    name: str
    exp_bits: int
    man_bits: int
    bias: int
    specials: Specials
    doc: str
    ml_dtypes_name: str | None = None
    aliases: tuple[str, ...] = ()
    kind: Literal["float"] = field(default="float", init=False)

    @property
    def signed(self) -> bool:
        return self.specials != "e8m0"

    @property
    def bits(self) -> int:
        return int(self.signed) + self.exp_bits + self.man_bits

    @property
    def has_inf(self) -> bool:
        return self.specials == "ieee"

    @property
    def has_nan(self) -> bool:
        return self.specials != "none"

    @property
    def signed_zero(self) -> bool:
        """False for fnuz (0x80 is NaN, not -0) and for e8m0 (no zero at all)."""
        return self.specials in ("ieee", "fn", "none")

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal binade (e8m0: code 0 is the normal 2^-127)."""
        return -self.bias if self.specials == "e8m0" else 1 - self.bias

    @property
    def emax(self) -> int:
        """Exponent of the largest finite binade; `ieee` reserves the all-ones exponent."""
        top = 2**self.exp_bits - 1
        if self.specials == "e8m0":
            top -= 1  # 0xFF is NaN
        return (top - 1 if self.specials == "ieee" else top) - self.bias

    @property
    def max_value(self) -> float:
        """Largest finite magnitude. `fn` loses the all-ones mantissa of the top binade to NaN."""
        top_mantissa = 2**self.man_bits - (2 if self.specials == "fn" else 1)
        return float(2.0**self.emax * (1 + top_mantissa / 2**self.man_bits))

    @property
    def min_normal(self) -> float:
        return float(2.0**self.emin)

    @property
    def min_subnormal(self) -> float:
        """Smallest positive magnitude (e8m0 has no subnormals: its smallest value is 2^-127)."""
        if self.specials == "e8m0":
            return self.min_normal
        return float(2.0 ** (self.emin - self.man_bits))

    @property
    def epsilon(self) -> float:
        """Gap between 1 and the next value: 2^-man_bits."""
        return float(2.0**-self.man_bits)

    @property
    def code_dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.bits <= 8 else np.uint16 if self.bits <= 16 else np.uint32)

    @cached_property
    def decode_table(self) -> np.ndarray:
        """float32 value of every code (only for formats of 8 bits or fewer); NaN codes decode to NaN."""
        if self.bits > 8:
            raise ValueError(f"fmt: decode_table exists for formats of 8 bits or fewer (got {self.name})")
        table = np.array([_decode_float_code(self, c) for c in range(2**self.bits)], dtype=np.float32)
        table.setflags(write=False)
        return table

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name, "kind": "float", "bits": self.bits, "exp_bits": self.exp_bits,
            "man_bits": self.man_bits, "bias": self.bias, "specials": self.specials,
            "max": self.max_value, "min_normal": self.min_normal, "min_subnormal": self.min_subnormal,
            "epsilon": self.epsilon, "has_inf": self.has_inf, "has_nan": self.has_nan,
            "ml_dtypes": self.ml_dtypes_name, "doc": self.doc,
        }


@dataclass(frozen=True, kw_only=True)
class IntFormat:
    """Two's-complement integer with an implicit power-of-two step: value = code · 2^step_exp.

    `symmetric=True` leaves the most negative code unused, so the grid is ±(2^(bits-1) - 1)
    (microxcaling's MXINT8; the usual symmetric int8/int4 quantisers). It still decodes.
    """

    name: str
    bits: int
    symmetric: bool
    step_exp: int
    doc: str
    ml_dtypes_name: str | None = None
    aliases: tuple[str, ...] = ()
    kind: Literal["int"] = field(default="int", init=False)
    has_inf: bool = field(default=False, init=False)
    has_nan: bool = field(default=False, init=False)
    signed_zero: bool = field(default=False, init=False)

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1

    @property
    def qmin(self) -> int:
        return -self.qmax if self.symmetric else -(2 ** (self.bits - 1))

    @property
    def step(self) -> float:
        return float(2.0**self.step_exp)

    @property
    def max_value(self) -> float:
        return self.qmax * self.step

    @property
    def min_subnormal(self) -> float:
        return self.step

    @property
    def code_dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    @cached_property
    def decode_table(self) -> np.ndarray:
        codes = np.arange(2**self.bits)
        signed = np.where(codes >= 2 ** (self.bits - 1), codes - 2**self.bits, codes)
        table = (signed * self.step).astype(np.float32)
        table.setflags(write=False)
        return table

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name, "kind": "int", "bits": self.bits, "step": self.step,
            "qmin": self.qmin, "qmax": self.qmax, "max": self.max_value, "min_subnormal": self.step,
            "symmetric": self.symmetric, "has_inf": False, "has_nan": False,
            "ml_dtypes": self.ml_dtypes_name, "doc": self.doc,
        }


ElementFormat = FloatFormat | IntFormat


@dataclass(frozen=True, kw_only=True)
class BlockFormat:
    """Elements of `element` sharing one scale per `block_shape` tile (rows × columns of the last axes).

    `scale`: ``e8m0`` (OCP MX v1.0: X = 2^k, one byte), ``ue4m3_fp32`` (NVFP4: unsigned E4M3 block scale
    plus one FP32 tensor scale) or ``fp32`` (DeepSeek-V3 / TE blockwise FP8: one FP32 scale per block).
    `emax_elem` is the exponent of the element's largest binade, used by the MX scale rule.
    """

    name: str
    element: ElementFormat
    block_shape: tuple[int, int]
    scale: ScaleKind
    doc: str
    aliases: tuple[str, ...] = ()
    kind: Literal["block"] = field(default="block", init=False)

    @property
    def block_size(self) -> int:
        return self.block_shape[0] * self.block_shape[1]

    @property
    def is_2d(self) -> bool:
        return self.block_shape[0] > 1

    @property
    def emax_elem(self) -> int:
        """Largest binade of the element: E4M3 8, E5M2 15, E3M2 4, E2M3 2, E2M1 2, MXINT8 0."""
        el = self.element
        return el.emax if isinstance(el, FloatFormat) else 0

    @property
    def scale_bits(self) -> int:
        return {"e8m0": 8, "ue4m3_fp32": 8, "fp32": 32}[self.scale]

    @property
    def bits_per_element(self) -> float:
        """Storage cost, scale included (the NVFP4 tensor scale is amortised to ~0 and left out)."""
        return self.element.bits + self.scale_bits / self.block_size

    @property
    def max_value(self) -> float:
        return self.element.max_value

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name, "kind": "block", "element": self.element.name,
            "block": f"{self.block_shape[0]}x{self.block_shape[1]}", "scale": self.scale,
            "bits_per_element": self.bits_per_element, "max_element": self.element.max_value,
            "doc": self.doc,
        }


Format = FloatFormat | IntFormat | BlockFormat


def _decode_float_code(fmt: FloatFormat, code: int) -> float:
    """Decode one code by the definition (slow, obviously correct; used to build the tables)."""
    man_mask = 2**fmt.man_bits - 1
    mantissa = code & man_mask
    exponent = (code >> fmt.man_bits) & (2**fmt.exp_bits - 1)
    negative = fmt.signed and bool(code >> (fmt.exp_bits + fmt.man_bits))
    top = 2**fmt.exp_bits - 1
    if fmt.specials == "e8m0":
        return float("nan") if code == 0xFF else 2.0 ** (code - fmt.bias)
    if fmt.specials == "fnuz" and code == 1 << (fmt.bits - 1):
        return float("nan")
    if fmt.specials == "ieee" and exponent == top:
        return float("nan") if mantissa else (-np.inf if negative else np.inf)
    if fmt.specials == "fn" and exponent == top and mantissa == man_mask:
        return float("nan")
    if exponent == 0:
        magnitude = 2.0**fmt.emin * mantissa / 2**fmt.man_bits
    else:
        magnitude = 2.0 ** (exponent - fmt.bias) * (1 + mantissa / 2**fmt.man_bits)
    return -magnitude if negative else magnitude


# ----- registry ---------------------------------------------------------------------------------------
def _float(name: str, e: int, m: int, bias: int, specials: Specials, doc: str, md: str | None = None,
           aliases: tuple[str, ...] = ()) -> FloatFormat:
    return FloatFormat(name=name, exp_bits=e, man_bits=m, bias=bias, specials=specials, doc=doc,
                       ml_dtypes_name=md, aliases=aliases)


FP32 = _float("fp32", 8, 23, 127, "ieee", "IEEE binary32.", "float32", ("float32",))
TF32 = _float("tf32", 8, 10, 127, "ieee", "NVIDIA TensorFloat-32: fp32 range, fp16 mantissa; 19 bits.",
              None, ("tensorfloat32",))
BF16 = _float("bf16", 8, 7, 127, "ieee", "bfloat16: the top half of an fp32.", "bfloat16", ("bfloat16",))
FP16 = _float("fp16", 5, 10, 15, "ieee", "IEEE binary16; max 65504.", "float16", ("float16", "half"))
FP8_E4M3 = _float("fp8_e4m3", 4, 3, 7, "fn", "OCP FP8 E4M3 (e4m3fn): max 1.75·2^8 = 448 (0x7E), NaN 0x7F/0xFF.",
                  "float8_e4m3fn", ("e4m3fn", "float8_e4m3fn", "e4m3"))
FP8_E5M2 = _float("fp8_e5m2", 5, 2, 15, "ieee", "OCP FP8 E5M2: max 1.75·2^15 = 57344 (0x7B), ±Inf 0x7C/0xFC.",
                  "float8_e5m2", ("e5m2", "float8_e5m2"))
FP8_E4M3FNUZ = _float("fp8_e4m3fnuz", 4, 3, 8, "fnuz", "E4M3 FNUZ (AMD MI300, Graphcore): bias 8, max 240, "
                      "NaN only 0x80, no -0.", "float8_e4m3fnuz", ("e4m3fnuz", "float8_e4m3fnuz"))
FP8_E5M2FNUZ = _float("fp8_e5m2fnuz", 5, 2, 16, "fnuz", "E5M2 FNUZ: bias 16, max 57344, NaN only 0x80, no -0.",
                      "float8_e5m2fnuz", ("e5m2fnuz", "float8_e5m2fnuz"))
FP6_E3M2 = _float("fp6_e3m2", 3, 2, 3, "none", "OCP MX FP6 E3M2: max 28, min subnormal 0.0625, no Inf/NaN.",
                  "float6_e3m2fn", ("e3m2fn", "float6_e3m2fn", "e3m2"))
FP6_E2M3 = _float("fp6_e2m3", 2, 3, 1, "none", "OCP MX FP6 E2M3: max 7.5, min subnormal 0.125, no Inf/NaN.",
                  "float6_e2m3fn", ("e2m3fn", "float6_e2m3fn", "e2m3"))
FP4_E2M1 = _float("fp4_e2m1", 2, 1, 1, "none", "OCP MX FP4 E2M1: {0, 0.5, 1, 1.5, 2, 3, 4, 6}, no Inf/NaN.",
                  "float4_e2m1fn", ("e2m1fn", "float4_e2m1fn", "e2m1", "fp4"))
E8M0 = _float("e8m0", 8, 0, 127, "e8m0", "OCP MX scale: unsigned 2^(c-127), c in 0..254; 0xFF is NaN; no zero.",
              "float8_e8m0fnu", ("e8m0fnu", "float8_e8m0fnu"))
INT8 = IntFormat(name="int8", bits=8, symmetric=True, step_exp=0, ml_dtypes_name=None,
                 doc="Symmetric int8: codes -127..127 (two's complement; -128 decodes but is never produced).")
INT4 = IntFormat(name="int4", bits=4, symmetric=True, step_exp=0, ml_dtypes_name="int4",
                 doc="Symmetric int4: codes -7..7 (two's complement nibble; -8 decodes but is never produced).")
MXINT8_ELEMENT = IntFormat(name="mxint8_element", bits=8, symmetric=True, step_exp=-6,
                           doc="MXINT8 element: two's complement with implicit 2^-6, ±1.984375 "
                               "(symmetric, as microxcaling; -2.0 unused).")


def _mx(name: str, element: ElementFormat, aliases: tuple[str, ...] = ()) -> BlockFormat:
    return BlockFormat(name=name, element=element, block_shape=(1, 32), scale="e8m0", aliases=aliases,
                       doc=f"OCP MX v1.0: 32 {element.name} elements share one E8M0 scale.")


MXFP8_E4M3 = _mx("mxfp8_e4m3", FP8_E4M3, ("mxfp8",))
MXFP8_E5M2 = _mx("mxfp8_e5m2", FP8_E5M2)
MXFP6_E3M2 = _mx("mxfp6_e3m2", FP6_E3M2)
MXFP6_E2M3 = _mx("mxfp6_e2m3", FP6_E2M3)
MXFP4 = _mx("mxfp4", FP4_E2M1, ("mxfp4_e2m1",))
MXINT8 = _mx("mxint8", MXINT8_ELEMENT)
NVFP4 = BlockFormat(name="nvfp4", element=FP4_E2M1, block_shape=(1, 16), scale="ue4m3_fp32",
                    doc="NVIDIA NVFP4: 16 E2M1 elements share an unsigned E4M3 scale; one FP32 tensor scale.")
FP8_BLOCK_1X128 = BlockFormat(
    name="fp8_block_1x128", element=FP8_E4M3, block_shape=(1, 128), scale="fp32", aliases=("deepseek_fp8_act",),
    doc="DeepSeek-V3 activations: E4M3, one FP32 scale per 1×128 tile along the axis.")
FP8_BLOCK_128X128 = BlockFormat(
    name="fp8_block_128x128", element=FP8_E4M3, block_shape=(128, 128), scale="fp32",
    aliases=("deepseek_fp8_weight",),
    doc="DeepSeek-V3 weights: E4M3, one FP32 scale per 128×128 tile of the last two axes.")

ELEMENT_FORMATS: tuple[ElementFormat, ...] = (
    FP32, TF32, BF16, FP16, FP8_E4M3, FP8_E5M2, FP8_E4M3FNUZ, FP8_E5M2FNUZ, FP6_E3M2, FP6_E2M3, FP4_E2M1,
    INT8, INT4, E8M0,
)
BLOCK_FORMATS: tuple[BlockFormat, ...] = (
    MXFP8_E4M3, MXFP8_E5M2, MXFP6_E3M2, MXFP6_E2M3, MXFP4, MXINT8, NVFP4, FP8_BLOCK_1X128, FP8_BLOCK_128X128,
)
_BY_NAME: dict[str, Format] = {}
for _fmt in (*ELEMENT_FORMATS, MXINT8_ELEMENT, *BLOCK_FORMATS):
    for _key in (_fmt.name, *_fmt.aliases):
        _BY_NAME[_key.lower()] = _fmt


def list_formats() -> list[str]:
    """Canonical names of the element formats, then the block formats."""
    return [f.name for f in (*ELEMENT_FORMATS, *BLOCK_FORMATS)]


def get_format(fmt: str | Format) -> Format:
    """Look a format up by name or alias (case-insensitive); descriptors pass through unchanged."""
    if isinstance(fmt, FloatFormat | IntFormat | BlockFormat):
        return fmt
    found = _BY_NAME.get(str(fmt).lower())
    if found is None:
        raise ValueError(f"fmt: unknown format {fmt!r}; use one of: {', '.join(list_formats())}")
    return found
