"""Hardware specs as data: schema, units, presets, loading and dotted overrides."""

from .dtypes import DTYPE_BITS, DTYPES, canonical_dtype, dtype_bytes
from .loader import SpecError, list_hardware, load_hardware, parse_set_options
from .spec import HardwareSpec, MemoryLevel
from .units import UnitError, format_quantity, parse_quantity

__all__ = [
    "DTYPES",
    "DTYPE_BITS",
    "HardwareSpec",
    "MemoryLevel",
    "SpecError",
    "UnitError",
    "canonical_dtype",
    "dtype_bytes",
    "format_quantity",
    "list_hardware",
    "load_hardware",
    "parse_quantity",
    "parse_set_options",
]
