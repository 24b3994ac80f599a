"""Validation table of the component area/power/cost model against the presets (docs/area-power.md).

Run: PYTHONPATH=src python benchmarks/physical_table.py   (add --json for machine-readable rows)
Prints, per preset: modelled die area vs the published figure, modelled TDP vs the published TDP, modelled build
cost vs the preset's unit price (a ratio: the price includes vendor margin), and the time per estimate.
"""

from __future__ import annotations

import json
import sys
import time

import accelscope as acs
from accelscope.explore.physical import estimate_physical, published_area_view, validation_targets


def rows() -> list[dict[str, object]]:
    targets = validation_targets()
    out = []
    for preset in acs.list_hardware():
        hw = acs.load_hardware(preset)
        est = estimate_physical(hw)
        target = targets.get(preset, {})
        published_area = target.get("die_area_mm2")
        view = published_area_view(est, target.get("area_excludes", ()))
        tdp = hw.power.tdp if hw.power else None
        price = hw.cost.unit_price if hw.cost else None
        out.append(
            {
                "preset": preset,
                "node_nm": est.node_nm,
                "area_mm2": round(est.area_mm2),
                "area_compared_mm2": round(view) if published_area else None,
                "published_area_mm2": published_area,
                "area_error_pct": round(100 * (view / published_area - 1), 1) if published_area else None,
                "tdp_w": round(est.tdp_w),
                "published_tdp_w": tdp,
                "tdp_error_pct": round(100 * (est.tdp_w / tdp - 1), 1) if tdp else None,
                "cost_usd": round(est.cost_usd),
                "unit_price_usd": price,
                "price_over_cost": round(price / est.cost_usd, 1) if price else None,
            }
        )
    return out


def time_per_estimate(preset: str = "h100-sxm", repeat: int = 5000) -> float:
    hw = acs.load_hardware(preset)
    estimate_physical(hw)  # warm the coefficient and node caches
    start = time.perf_counter()
    for _ in range(repeat):
        estimate_physical(hw)
    return (time.perf_counter() - start) / repeat


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def main() -> None:
    table = rows()
    seconds = time_per_estimate()
    if "--json" in sys.argv:
        print(json.dumps({"rows": table, "seconds_per_estimate": seconds}, indent=1))
        return
    head = ("preset", "node", "area", "vs", "published", "err %", "TDP W", "published", "err %", "cost $",
            "price $", "price/cost")
    keys = ("preset", "node_nm", "area_mm2", "area_compared_mm2", "published_area_mm2", "area_error_pct", "tdp_w",
            "published_tdp_w", "tdp_error_pct", "cost_usd", "unit_price_usd", "price_over_cost")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in table:
        print("| " + " | ".join(_fmt(row[k]) for k in keys) + " |")
    errors = [abs(r["tdp_error_pct"]) for r in table if r["tdp_error_pct"] is not None and r["preset"] != "generic-next-gen"]
    areas = [abs(r["area_error_pct"]) for r in table if r["area_error_pct"] is not None]
    print(f"\nmean |area error| {sum(areas) / len(areas):.1f} % over {len(areas)} presets; "
          f"mean |TDP error| {sum(errors) / len(errors):.1f} % over {len(errors)} presets (generic-next-gen excluded)")
    print(f"time per estimate (h100-sxm): {seconds * 1e6:.1f} us")


if __name__ == "__main__":
    main()
