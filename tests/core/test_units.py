"""labkit.core.units: Spark's size strings, each form written by hand, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.core.units import BINARY_UNITS, config_bytes, format_bytes, parse_bytes

KiB, MiB, GiB = 2**10, 2**20, 2**30


@pytest.mark.parametrize("text, expected", [
    # Spark's settings (JavaUtils.byteStringAsBytes): powers of 1024, any case, a bare number is bytes
    ("512m", 512 * MiB), ("1g", GiB), ("64KB", 64 * KiB), ("10b", 10), ("4096", 4096), ("256mb", 256 * MiB),
    ("2T", 2**41), ("1p", 2**50), ("1PB", 2**50), (" 8g ", 8 * GiB), (4096, 4096),
    # what the UI, the REST API, SQL metrics and plans print (Utils.bytesToString)
    ("1.5 MiB", 1536 * KiB), ("3.2 KiB", round(3.2 * KiB)), ("12.0 B", 12), ("4.0 GiB", 4 * GiB),
    ("131.6 KiB", round(131.6 * KiB)), ("1,234.5 KiB", round(1234.5 * KiB)), ("2.0 TiB", 2 * 2**40),
    ("1.0 EiB", 2**60), ("8.07E+21 B", 807 * 10**19), ("7.8KiB", round(7.8 * KiB)),
])
def test_parse_bytes_reads_every_form_spark_writes(text, expected):
    assert parse_bytes(text) == expected


def test_a_bare_number_takes_the_default_unit():
    assert parse_bytes("2048", default_unit="m") == 2 * GiB
    assert parse_bytes("1.5g", default_unit="m") == 1536 * MiB  # a unit given wins
    assert parse_bytes(3, default_unit="KiB") == 3 * KiB


@pytest.mark.parametrize("bad", ["ten", "10 parsecs", "", "-1", "-5m", "1..5g", "g", "1,,2 KiB", "1.5 XiB", "1e5"])
def test_parse_bytes_names_the_bad_text(bad):
    with pytest.raises(ValueError, match=f"cannot read size {bad!r}"):
        parse_bytes(bad)


@pytest.mark.parametrize("bad", [True, 1.5, None])
def test_parse_bytes_refuses_other_types(bad):
    with pytest.raises(ValueError, match="cannot read size"):
        parse_bytes(bad)


def test_whole_refuses_fractions_as_spark_settings_do():
    assert parse_bytes("1g", whole=True) == GiB
    with pytest.raises(ValueError, match="'1.5g': use a whole number"):
        parse_bytes("1.5g", whole=True)
    with pytest.raises(ValueError, match="unknown default unit"):
        parse_bytes("1", default_unit="parsec")


@pytest.mark.parametrize("n, expected", [
    (0, "0 B"), (12, "12 B"), (1023, "1,023 B"), (1024, "1.0 KiB"), (1536 * KiB, "1.5 MiB"), (4 * GiB, "4.0 GiB"),
    (2**60, "1.0 EiB"), (-3 * MiB, "-3.0 MiB"), (1.5 * KiB, "1.5 KiB"),
])
def test_format_bytes_picks_the_largest_unit(n, expected):
    assert format_bytes(n) == expected


def test_format_bytes_in_a_given_unit_and_precision():
    assert format_bytes(3 * GiB, unit="MiB") == "3,072.0 MiB"
    assert format_bytes(1536 * KiB, digits=3) == "1.500 MiB"
    assert format_bytes(100, unit="KiB", digits=2) == "0.10 KiB"
    with pytest.raises(ValueError, match="unknown unit 'MB'"):
        format_bytes(1, unit="MB")


@pytest.mark.parametrize("n, expected", [(268435456, "256MB"), (10 * KiB, "10KB"), (3 * GiB, "3GB"),
                                         (1000, "1000b"), (0, "0b"), (2**40, "1024GB")])
def test_config_bytes_prints_what_the_registry_prints(n, expected):
    assert config_bytes(n) == expected


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_config_bytes_refuses_what_is_no_size_setting(bad):
    with pytest.raises(ValueError, match="whole number of bytes"):
        config_bytes(bad)


@given(st.integers(min_value=0, max_value=2**62))
def test_config_bytes_round_trips_exactly(n):
    assert parse_bytes(config_bytes(n)) == n
    assert parse_bytes(config_bytes(n), whole=True) == n


@given(st.integers(min_value=0, max_value=2**62), st.integers(min_value=0, max_value=4))
def test_format_bytes_round_trips_within_half_its_last_digit(n, digits):
    text = format_bytes(n, digits=digits)
    unit = text.rsplit(" ", 1)[1]
    step = 1 if unit == "B" else BINARY_UNITS[unit] / 10**digits
    assert abs(parse_bytes(text) - n) <= step / 2 + 1


@given(st.integers(min_value=0, max_value=2**50), st.sampled_from(["b", "k", "KB", "m", "MB", "g", "GB", "t"]))
def test_a_setting_in_any_case_reads_as_its_power_of_1024(n, unit):
    power = {"b": 0, "k": 10, "m": 20, "g": 30, "t": 40}[unit[0].lower()]
    for form in (unit, unit.lower(), unit.upper()):
        assert parse_bytes(f"{n}{form}") == n * 2**power
