"""Hardware specs as data: schema, units, presets, loading and dotted overrides.

Names load on first use (PEP 562): `accelscope.hardware.dtypes` and `.units` do not pull in pydantic and YAML,
so the operator IR and the CLI's `--help` start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> submodule that defines it
_LAZY: dict[str, str] = {
    "DTYPES": "dtypes", "DTYPE_BITS": "dtypes", "canonical_dtype": "dtypes", "dtype_bytes": "dtypes",
    "SpecError": "loader", "list_hardware": "loader", "load_hardware": "loader", "parse_set_options": "loader",
    "HardwareSpec": "spec", "MemoryLevel": "spec",
    "UnitError": "units", "format_quantity": "units", "parse_quantity": "units",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'accelscope.hardware' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:
    from .dtypes import DTYPE_BITS, DTYPES, canonical_dtype, dtype_bytes  # noqa: F401
    from .loader import SpecError, list_hardware, load_hardware, parse_set_options  # noqa: F401
    from .spec import HardwareSpec, MemoryLevel  # noqa: F401
    from .units import UnitError, format_quantity, parse_quantity  # noqa: F401
