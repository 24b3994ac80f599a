"""accelscope: how fast would this kernel or this LLM run on a chip that does not exist yet, and why?

    import accelscope as acs
    hw = acs.load_hardware("h100-sxm").with_overrides({"memory.hbm.bandwidth": "6 TB/s"})
    est = acs.estimate(acs.ops.Gemm(m=4096, n=4096, k=4096, dtype="bf16"), hw)

Names load on first use (PEP 562): `import accelscope` costs milliseconds, and the LLM stack, the performance
models and numpy load only when `acs.llm`, `acs.estimate`, ... are first touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> (module, attribute); attribute None: the module itself
_LAZY: dict[str, tuple[str, str | None]] = {
    "Estimate": ("accelscope.perf", "Estimate"),
    "Graph": ("accelscope.workload", "Graph"),
    "HardwareSpec": ("accelscope.hardware", "HardwareSpec"),
    "LevelNotAvailable": ("accelscope.perf", "LevelNotAvailable"),
    "SpecError": ("accelscope.hardware", "SpecError"),
    "estimate": ("accelscope.perf", "estimate"),
    "explore": ("accelscope.explore", None),
    "list_hardware": ("accelscope.hardware", "list_hardware"),
    "llm": ("accelscope.llm", None),
    "load_hardware": ("accelscope.hardware", "load_hardware"),
    "ops": ("accelscope.workload", None),
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    """Import a public name on first access and cache it in the module's namespace."""
    if name not in _LAZY:
        raise AttributeError(f"module 'accelscope' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # static checkers and IDEs see the eager imports
    from . import explore, llm  # noqa: F401
    from . import workload as ops  # noqa: F401
    from .hardware import HardwareSpec, SpecError, list_hardware, load_hardware  # noqa: F401
    from .perf import Estimate, LevelNotAvailable, estimate  # noqa: F401
    from .workload import Graph  # noqa: F401
