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


@pytest.mark.parametrize(("value", "dimension", "hint"), [
    (1.8, "frequency", "1.8 GHz"),  # a bare clock of 1.8 meant GHz
    (1830, "frequency", "1830 MHz"),
    (1.98e9, "frequency", "1.98 GHz"),  # already SI: said with its unit
    (96, "bytes", "96 GB"),
    (3.35, "bandwidth", "3.35 GB/s"),
    (989.4, "flops", "989.4 TFLOP/s"),
    (2, "time", "2 us"),
    (6e-7, "time", "600 ns"),
    (700, "power", "700 W"),
    (5e-324, "flops", None),  # no unit makes it plausible
    (float("inf"), "bandwidth", None),
])
def test_missing_unit_hint(value, dimension, hint):
    from accelscope.hardware.units import missing_unit_hint

    assert missing_unit_hint(value, dimension) == hint


def test_text_input_needs_the_unit_but_python_may_pass_si():
    assert parse_quantity(1.83e9, "frequency") == 1.83e9
    with pytest.raises(UnitError, match=r"^1\.8 has no unit; write 1\.8 GHz$"):
        parse_quantity(1.8, "frequency", require_unit=True)
    with pytest.raises(UnitError, match=r"^'1\.8' has no unit; write 1\.8 GHz$"):
        parse_quantity("1.8", "frequency", require_unit=True)
    assert parse_quantity(0, "time", require_unit=True) == 0.0  # zero is zero in every unit


@pytest.mark.parametrize(("value", "dimension", "message"), [
    ("0.5 MHz", "frequency", "'0.5 MHz' is out of range; expected a frequency from 1 MHz to 100 GHz"),
    ("1e-300 TB/s", "bandwidth", "'1e-300 TB/s' is out of range; expected a bandwidth from 1 MB/s to 1e+18 B/s"),
    ("2 s", "time", "'2 s' is out of range; expected a time from 0 s to 1 s"),
    (10**400, "frequency", "<an integer of about 401 digits> is out of range; expected a frequency from 1 MHz"),
    ("1e999 TB/s", "bandwidth", "'1e999 TB/s' is out of range"),
])
def test_plausible_ranges(value, dimension, message):
    with pytest.raises(UnitError) as err:
        parse_quantity(value, dimension, bounds=True)
    assert str(err.value).startswith(message)


def test_nan_is_refused_and_infinity_is_out_of_range():
    with pytest.raises(UnitError, match="not NaN"):
        parse_quantity(float("nan"), "bytes")
    with pytest.raises(UnitError, match=r"expected a size like .*, finite"):
        parse_quantity(10**400, "bytes")  # no bounds asked: still finite


@given(st.floats(min_value=1e6, max_value=1e18), st.sampled_from(["bandwidth", "frequency", "flops", "bytes"]))
def test_si_text_round_trips_exactly(value, dimension):
    from accelscope.hardware.units import si_text

    assert parse_quantity(si_text(value, dimension), dimension, require_unit=True) == value
