"""Spark's size strings, read and written in one place.

Spark writes sizes two ways. Configuration takes ``512m``, ``1g``, ``64KB``,
``10b`` (powers of 1024, any case; a bare number is bytes), and its registry
prints defaults the same way (``10MB``). Its UI, REST API, SQL metrics and plans
print binary units with one decimal (``131.6 KiB``, ``12.0 B``, ``4.0 GiB``;
``8.07E+21 B`` past 2048 EiB). :func:`parse_bytes` reads both;
:func:`format_bytes` writes the second kind for people and
:func:`config_bytes` the first kind for Spark.
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = ["BINARY_UNITS", "config_bytes", "format_bytes", "parse_bytes"]

BINARY_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50, "EiB": 2**60}
# the configuration forms (JavaUtils.byteStringAsBytes), lower-cased; "" is a bare number
_CONFIG_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "m": 2**20, "mb": 2**20, "g": 2**30, "gb": 2**30,
                 "t": 2**40, "tb": 2**40, "p": 2**50, "pb": 2**50}
_UNITS = {**_CONFIG_UNITS, **{unit.lower(): size for unit, size in BINARY_UNITS.items()}}
_SIZE = re.compile(r"\s*(?P<number>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:E\+\d+)?)\s*(?P<unit>[A-Za-z]{0,3})\s*")
_FORMS = ("a size such as '512m', '1g', '64KB', '10b' (Spark's settings) or '1.5 MiB', '12.0 B' (its metrics and "
          "plans)")


def parse_bytes(text: str | int, default_unit: str = "b", whole: bool = False) -> int:
    """A Spark size in bytes: a setting (``"512m"``, ``"1g"``, ``"64KB"``) or a printed size (``"1.5 MiB"``).

    Parameters
    ----------
    text : str or int
        The size. Units are powers of 1024 in any case: ``b``, ``k``/``kb``/``KiB``,
        ``m``/``mb``/``MiB``, ``g``/``gb``/``GiB``, ``t``/``tb``/``TiB``, ``p``/``pb``/``PiB``, ``EiB``.
        Thousands separators (``1,234.5 KiB``) and Spark's exponent form (``8.07E+21 B``) are read.
    default_unit : str
        The unit of a bare number (``"b"``: bytes, as Spark reads its settings; ``"m"`` for memory sizes).
    whole : bool
        Refuse a fraction (``"1.5g"``), as Spark's own settings do.

    Returns
    -------
    int
        Bytes, rounded to the nearest byte.

    Raises
    ------
    ValueError
        Naming the text and the accepted forms (for a negative size too).

    Examples
    --------
    >>> parse_bytes("512m"), parse_bytes("64KB"), parse_bytes("10b"), parse_bytes("1.5 MiB"), parse_bytes("12.0 B")
    (536870912, 65536, 10, 1572864, 12)
    >>> parse_bytes("2048", default_unit="m") == 2 * 2**30
    True
    """
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(f"cannot read size {text!r}: use {_FORMS}")
    if default_unit.lower() not in _UNITS:
        raise ValueError(f"parse_bytes: unknown default unit {default_unit!r}; use one of {', '.join(BINARY_UNITS)}")
    m = _SIZE.fullmatch(str(text))
    unit = (m.group("unit") or default_unit).lower() if m else ""
    if not m or unit not in _UNITS or (whole and not m.group("number").replace(",", "").isdigit()):
        why = "a whole number with b, k, m, g, t or p" if whole and m and unit in _UNITS else _FORMS
        raise ValueError(f"cannot read size {text!r}: use {why}")
    number = Decimal(m.group("number").replace(",", ""))
    return int((number * _UNITS[unit]).to_integral_value())


def format_bytes(n: float, unit: str | None = None, digits: int = 1) -> str:
    """A size for people, in binary units: ``1.5 MiB``, ``12 B``, ``4.0 GiB``.

    Parameters
    ----------
    n : int or float
        Bytes (negative sizes keep their sign).
    unit : str, optional
        One of :data:`BINARY_UNITS` to always use (``"MiB"``); by default the largest that is at most ``|n|``.
    digits : int
        Decimals after a unit larger than a byte (bytes print as a whole number).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        For an unknown unit.

    Examples
    --------
    >>> format_bytes(1536 * 1024), format_bytes(12), format_bytes(4 * 2**30), format_bytes(3 * 2**30, unit="MiB")
    ('1.5 MiB', '12 B', '4.0 GiB', '3,072.0 MiB')
    """
    if unit is not None and unit not in BINARY_UNITS:
        raise ValueError(f"format_bytes: unknown unit {unit!r}; use one of {', '.join(BINARY_UNITS)}")
    if unit is None:
        unit = next((u for u, size in reversed(BINARY_UNITS.items()) if abs(n) >= size), "B")
    value = n / BINARY_UNITS[unit]
    return f"{value:,.0f} B" if unit == "B" else f"{value:,.{digits}f} {unit}"


def config_bytes(n: int) -> str:
    """A whole number of bytes the way Spark's registry prints a size setting: ``256MB``, ``10KB``, ``7b``.

    The largest of GB, MB and KB that divides ``n`` exactly, else bytes; :func:`parse_bytes` reads it back exactly.

    Examples
    --------
    >>> config_bytes(268435456), config_bytes(10 * 1024), config_bytes(1000), config_bytes(0)
    ('256MB', '10KB', '1000b', '0b')
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"config_bytes: a size setting is a whole number of bytes >= 0, got {n!r}")
    for unit, power in (("GB", 30), ("MB", 20), ("KB", 10)):
        if n and n % 2**power == 0:
            return f"{n // 2**power}{unit}"
    return f"{n}b"
