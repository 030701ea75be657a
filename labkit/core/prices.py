"""Cloud prices the lab computes with: one dated table, each number with its source.

Prices change; every figure the lab derives from them says which table it used
(``PRICES_AS_OF``). Notebooks never type a price in.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ATHENA_MINIMUM_BYTES", "ATHENA_USD_PER_TB", "PRICES_AS_OF", "PRICE_SOURCES", "S3_CLASSES",
           "TRANSFER_USD_PER_GB", "S3Class", "athena_cost_usd", "s3_class"]

PRICES_AS_OF = "2025-01 (us-east-1, list prices)"
PRICE_SOURCES = {
    "athena": "https://aws.amazon.com/athena/pricing/ (SQL queries: $5.00 per TB of data scanned)",
    "transfer": "https://aws.amazon.com/s3/pricing/ (Data Transfer OUT to the internet, first 10 TB/month) and "
                "https://aws.amazon.com/directconnect/pricing/ (data transfer out over Direct Connect, us-east-1)",
    "s3": "https://aws.amazon.com/s3/pricing/ (Storage, Requests & data retrievals, lifecycle transitions; "
          "minimum durations and sizes from the storage-class footnotes)",
}

ATHENA_USD_PER_TB = 5.0  # per TiB scanned
ATHENA_MINIMUM_BYTES = 10 * 2**20  # billed at least this much per query


TRANSFER_USD_PER_GB = {"internet": 0.09, "direct_connect": 0.02}  # data transfer out of AWS, per GB


@dataclass(frozen=True)
class S3Class:
    """One S3 storage class in us-east-1: what a GB-month costs and the rules that make it cost more."""

    name: str
    usd_per_gb_month: float  # first 50 TB tier for STANDARD
    min_days: int  # minimum storage duration: deleting or moving earlier is billed as if kept this long
    min_object_bytes: int  # minimum billable object size (0: none)
    overhead_bytes_class: int  # per-object metadata billed at this class's price (Glacier, Deep Archive)
    overhead_bytes_standard: int  # per-object metadata billed at the STANDARD price
    retrieval_usd_per_gb: float  # standard retrieval
    transition_usd_per_1000: float  # lifecycle transition requests into this class
    tier: int  # order of the lifecycle waterfall: an object only ever moves to a higher tier


_KB = 1024
S3_CLASSES = {c.name: c for c in (
    S3Class("STANDARD", 0.023, 0, 0, 0, 0, 0.0, 0.0, 0),
    S3Class("STANDARD_IA", 0.0125, 30, 128 * _KB, 0, 0, 0.01, 0.01, 1),
    S3Class("ONEZONE_IA", 0.01, 30, 128 * _KB, 0, 0, 0.01, 0.01, 1),
    S3Class("GLACIER_IR", 0.004, 90, 128 * _KB, 0, 0, 0.03, 0.02, 2),
    S3Class("GLACIER", 0.0036, 90, 0, 32 * _KB, 8 * _KB, 0.01, 0.03, 3),
    S3Class("DEEP_ARCHIVE", 0.00099, 180, 0, 32 * _KB, 8 * _KB, 0.02, 0.05, 4),
)}


def s3_class(name: str) -> S3Class:
    """The price entry of an S3 storage class, or a clear error naming the known classes.

    Examples
    --------
    >>> s3_class("GLACIER_IR").min_days
    90
    """
    try:
        return S3_CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown S3 storage class {name!r}; the price table has {', '.join(S3_CLASSES)}") from None


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
