"""Argument checks every layer shares: one home for each, so every message reads the same.

Each check raises ``ValueError`` naming the argument, the bad value and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.core.units import parse_bytes

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["JOIN_TYPES", "byte_string", "confined", "join_type", "plain_name", "positive_int", "require_columns"]

# every spelling Spark accepts, mapped to one canonical name
JOIN_TYPES = {
    "inner": "inner",
    "left": "left_outer", "leftouter": "left_outer", "left_outer": "left_outer",
    "right": "right_outer", "rightouter": "right_outer", "right_outer": "right_outer",
    "full": "full_outer", "outer": "full_outer", "fullouter": "full_outer", "full_outer": "full_outer",
    "semi": "left_semi", "leftsemi": "left_semi", "left_semi": "left_semi",
    "anti": "left_anti", "leftanti": "left_anti", "left_anti": "left_anti",
    "cross": "cross",
}


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer >= ``minimum`` (bools refused), else raise.

    Parameters
    ----------
    name : str
        The argument's name, used in the message.
    value : Any
    minimum : int

    Returns
    -------
    int

    Raises
    ------
    ValueError
        ``"salts must be an integer >= 1, got 0"``.

    Examples
    --------
    >>> positive_int("rows", 10, minimum=0)
    10
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def join_type(how: str) -> str:
    """The canonical name of a join type (``"left"`` -> ``"left_outer"``), or a clear error.

    Examples
    --------
    >>> join_type("LeftAnti")
    'left_anti'
    """
    norm = str(how).lower().replace(" ", "").replace("-", "_")
    if norm not in JOIN_TYPES:
        raise ValueError(f"unknown join type {how!r}; Spark accepts {', '.join(sorted(set(JOIN_TYPES)))}")
    return JOIN_TYPES[norm]


def require_columns(df: DataFrame, columns: Sequence[str] | str, what: str = "column") -> list[str]:
    """Return ``columns`` as a list after checking each one is a column of ``df``.

    Raises
    ------
    ValueError
        Naming the missing columns and the columns ``df`` has.
    """
    cols = [columns] if isinstance(columns, str) else list(columns)
    if not cols or not all(isinstance(c, str) for c in cols):
        raise ValueError(f"{what} must be a column name or a list of column names, got {columns!r}")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what} {missing} not found; the DataFrame's columns are {df.columns}")
    return cols


def byte_string(text: str) -> int:
    """A Spark size setting in bytes, read the way Spark reads it (``JavaUtils.byteStringAsBytes``).

    A bare number is bytes; ``k``/``kb``, ``m``/``mb``, ``g``/``gb``, ``t``, ``p`` are powers of 1024, in any
    case (:func:`labkit.core.units.parse_bytes`, whole numbers only). ``-1`` (a threshold turned off) stays ``-1``.

    Raises
    ------
    ValueError
        Naming the string and the accepted forms.

    Examples
    --------
    >>> byte_string("10MB"), byte_string("10485760b"), byte_string("-1")
    (10485760, 10485760, -1)
    """
    if str(text).strip() == "-1":
        return -1
    return parse_bytes(text, whole=True)


_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def plain_name(name: str, value: Any) -> str:
    """Return ``value`` if it can be one path component safely: letters, digits and ``._-``, not starting with
    ``.``/``-``/``_``, at most 128 characters, and not ``..``.

    Every id that becomes part of a path (a run id, a table name) goes through this check, so that an absolute
    path, ``../x`` or ``a/b`` never reaches a write or a delete.

    Raises
    ------
    ValueError
        ``"run_id must be a plain name (letters, digits, '._-'), got '../x'"``.

    Examples
    --------
    >>> plain_name("run_id", "20261201-ab12")
    '20261201-ab12'
    """
    if not isinstance(value, str) or not _PLAIN.fullmatch(value) or ".." in value:
        raise ValueError(f"{name} must be a plain name (letters, digits, '._-', starting with a letter or digit, "
                         f"at most 128 characters), got {value!r}")
    return value


def confined(path: str | Path, root: str | Path, what: str = "path") -> Path:
    """``path`` resolved, after checking that it lies inside ``root`` (also resolved; symlinks followed).

    Raises
    ------
    ValueError
        Naming both, when ``path`` is ``root`` itself or lies outside it.

    Examples
    --------
    >>> str(confined("/tmp/lab/q/run1", "/tmp/lab"))
    '/tmp/lab/q/run1'
    """
    target, base = Path(path).resolve(), Path(root).resolve()
    if target == base or base not in target.parents:
        raise ValueError(f"{what} {str(path)!r} must lie inside {str(base)!r}")
    return target
