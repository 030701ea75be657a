"""Cloud prices the lab computes with: one dated table, each number with its source.

Prices change; every figure the lab derives from them says which table it used
(``PRICES_AS_OF``). Notebooks never type a price in.
"""

from __future__ import annotations

__all__ = ["ATHENA_MINIMUM_BYTES", "ATHENA_USD_PER_TB", "PRICES_AS_OF", "PRICE_SOURCES", "athena_cost_usd"]

PRICES_AS_OF = "2025-01 (us-east-1, list prices)"
PRICE_SOURCES = {
    "athena": "https://aws.amazon.com/athena/pricing/ (SQL queries: $5.00 per TB of data scanned)",
}

ATHENA_USD_PER_TB = 5.0  # per TiB scanned
ATHENA_MINIMUM_BYTES = 10 * 2**20  # billed at least this much per query


def athena_cost_usd(bytes_scanned: int, minimum: bool = False) -> float:
    """What Athena bills for scanning ``bytes_scanned``.

    ``minimum=True`` applies the 10 MB minimum per query. It is off by
    default: it only matters for scans of a few MB, where it would hide the
    proportion to bytes that the lab compares at laptop scale.

    Examples
    --------
    >>> round(athena_cost_usd(2**40), 2)
    5.0
    >>> athena_cost_usd(1, minimum=True) == athena_cost_usd(10 * 2**20)
    True
    """
    if bytes_scanned < 0:
        raise ValueError(f"bytes_scanned must be >= 0, got {bytes_scanned!r}")
    billed = max(bytes_scanned, ATHENA_MINIMUM_BYTES) if minimum else bytes_scanned
    return billed / 2**40 * ATHENA_USD_PER_TB
