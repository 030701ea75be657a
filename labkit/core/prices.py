"""Cloud prices the lab computes with: one dated table, each number with its source.

Prices change; every figure the lab derives from them says which table it used
(``PRICES_AS_OF``). Notebooks never type a price in.
"""

from __future__ import annotations

__all__ = ["ATHENA_USD_PER_TB", "PRICES_AS_OF", "PRICE_SOURCES", "athena_cost_usd"]

PRICES_AS_OF = "2025-01 (us-east-1, list prices)"
PRICE_SOURCES = {
    "athena": "https://aws.amazon.com/athena/pricing/ (SQL queries: $5.00 per TB of data scanned)",
}

ATHENA_USD_PER_TB = 5.0  # per TiB scanned, 10 MB minimum per query


def athena_cost_usd(bytes_scanned: int) -> float:
    """What Athena bills for scanning ``bytes_scanned`` (10 MB minimum per query).

    Examples
    --------
    >>> round(athena_cost_usd(2**40), 2)
    5.0
    """
    if bytes_scanned < 0:
        raise ValueError(f"bytes_scanned must be >= 0, got {bytes_scanned!r}")
    return max(bytes_scanned, 10 * 2**20) / 2**40 * ATHENA_USD_PER_TB
