"""Low-precision numerics: format descriptors, bit-exact quantisation, accumulator emulation, error studies.

    from accelscope.numerics import quantize, dequantize, fake_quantize
    q = quantize(x, "mxfp4")                    # codes (packed uint8) + E8M0 scales
    y = fake_quantize(x, "nvfp4")               # == dequantize(quantize(x, "nvfp4")), bit for bit

The slow reference in `accelscope.numerics.reference` is the spec; the compiled path matches it exactly.
"""

from .accumulate import emulated_gemm
from .formats import (
    BLOCK_FORMATS,
    ELEMENT_FORMATS,
    BlockFormat,
    FloatFormat,
    Format,
    IntFormat,
    get_format,
    list_formats,
)
from .metrics import error_report, kl_softmax, max_abs_error, relative_error, sqnr_db
from .quantize import Quantized, dequantize, fake_quantize, quantize, round_elements
from .rounding import OVERFLOWS, ROUNDINGS
from .studies import gemm_error_vs_format, gemm_error_vs_k

__all__ = [
    "BLOCK_FORMATS",
    "ELEMENT_FORMATS",
    "OVERFLOWS",
    "ROUNDINGS",
    "BlockFormat",
    "FloatFormat",
    "Format",
    "IntFormat",
    "Quantized",
    "dequantize",
    "emulated_gemm",
    "error_report",
    "fake_quantize",
    "gemm_error_vs_format",
    "gemm_error_vs_k",
    "get_format",
    "kl_softmax",
    "list_formats",
    "max_abs_error",
    "quantize",
    "relative_error",
    "round_elements",
    "sqnr_db",
]
