"""Column expressions every generator draws from: a uniform number per (seed, stream, row id), and what it picks."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column

__all__ = ["choice", "digits", "pick", "uniform"]


def uniform(seed: int, stream: str) -> Column:
    """A uniform [0, 1) column from a hash of (seed, stream, id)."""
    from pyspark.sql import functions as F

    h = F.xxhash64(F.lit(int(seed)), F.lit(stream), F.col("id"))
    return F.shiftrightunsigned(h, 11).cast("double") / float(1 << 53)


def pick(u: Column, n: int, offset: int = 1) -> Column:
    """An integer in [offset, offset + n) from a uniform column."""
    from pyspark.sql import functions as F

    return (F.floor(u * n) + offset).cast("long")


def choice(u: Column, values: tuple[str, ...]) -> Column:
    """One of ``values`` from a uniform column."""
    from pyspark.sql import functions as F

    return F.element_at(F.array(*[F.lit(v) for v in values]), pick(u, len(values)).cast("int"))



def digits(seed: int, stream: str, n: int) -> Column:
    """A zero-padded string of ``n`` random digits."""
    from pyspark.sql import functions as F

    return F.lpad(pick(uniform(seed, stream), 10**n, 0).cast("string"), n, "0")
