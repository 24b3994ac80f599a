"""Memory per device: named parts and the usable capacity, shared by serving and training results."""

from __future__ import annotations

from typing import ClassVar


class MemoryParts:
    """Mixin for frozen dataclasses whose fields are byte counts per device plus `capacity` (usable bytes).

    PARTS names the fields that add up to `total`; CAPACITY_KEY is how `to_dict` labels the capacity."""

    __slots__ = ()
    PARTS: ClassVar[tuple[str, ...]] = ()
    CAPACITY_KEY: ClassVar[str] = "capacity"
    capacity: float

    @property
    def total(self) -> float:
        return sum(getattr(self, part) for part in self.PARTS)

    @property
    def headroom(self) -> float:
        return self.capacity - self.total

    def to_dict(self) -> dict[str, float]:
        return {**{part: getattr(self, part) for part in self.PARTS}, "total": self.total,
                self.CAPACITY_KEY: self.capacity, "headroom": self.headroom}
