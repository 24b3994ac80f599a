import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelscope.hardware.units import UnitError, format_quantity, parse_quantity


@pytest.mark.parametrize(
    ("text", "dimension", "expected"),
    [
        ("3.35 TB/s", "bandwidth", 3.35e12),
        ("400 Gb/s", "bandwidth", 400e9 / 8),  # bits -> bytes
        ("50 MiB", "bytes", 50 * 2**20),
        ("80 GB", "bytes", 80e9),
        ("228 KiB", "bytes", 228 * 1024),
        ("1.83 GHz", "frequency", 1.83e9),
        ("989.4 TFLOP/s", "flops", 989.4e12),
        ("1979 TOPS", "flops", 1979e12),
        ("2.5 us", "time", 2.5e-6),
        ("936.25 ns", "time", 936.25e-9),
        ("700 W", "power", 700.0),
        ("814 mm^2", "area", 814.0),
        ("$30000", "money", 30000.0),
        (5.3e12, "bandwidth", 5.3e12),  # a bare number is already SI
        ("6TB/s", "bandwidth", 6e12),  # no space, as typed on the CLI
    ],
)
def test_parse_quantity(text, dimension, expected):
    assert parse_quantity(text, dimension) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "dimension"),
    [("3 GHz", "bandwidth"), ("fast", "bandwidth"), ("1 mB/s", "bandwidth"), (True, "bytes"), ("inf", "bytes"),
     ([1], "bytes"), ("12 parsecs", "time")],
)
def test_parse_quantity_rejects_wrong_dimension(text, dimension):
    with pytest.raises(UnitError, match="expected"):
        parse_quantity(text, dimension)


@given(st.floats(min_value=1e-3, max_value=1e18, allow_nan=False))
def test_format_then_parse_round_trips_within_display_precision(value):
    text = format_quantity(value, "bandwidth", digits=12)
    assert math.isclose(parse_quantity(text, "bandwidth"), value, rel_tol=1e-9)


def test_format_prefers_the_units_a_datasheet_uses():
    assert format_quantity(80e9, "bytes") == "80 GB"  # HBM is quoted in decimal GB
    assert format_quantity(50 * 2**20, "bytes") == "52.43 MB"  # one convention: decimal, caches too
    assert format_quantity(3.35e12, "bandwidth") == "3.35 TB/s"
    assert format_quantity(2.5e-6, "time") == "2.5 µs"
    assert format_quantity(700, "power") == "700 W"
