"""Cloud prices the lab computes with: one dated table, each number with its source.

Prices change; every figure the lab derives from them says which table it used
(``PRICES_AS_OF``). Notebooks never type a price in.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ATHENA_MINIMUM_BYTES", "ATHENA_USD_PER_TB", "INTELLIGENT_TIERING", "PRICES_AS_OF", "PRICE_SOURCES",
           "RESTORE_TIERS", "S3_CLASSES", "S3_GET_USD_PER_1000", "TRANSFER_USD_PER_GB", "IntelligentTiering",
           "RestoreTier", "S3Class", "athena_cost_usd", "restore_tier", "s3_class"]

PRICES_AS_OF = "2025-01 (us-east-1, list prices)"
PRICE_SOURCES = {
    "athena": "https://aws.amazon.com/athena/pricing/ (SQL queries: $5.00 per TB of data scanned)",
    "transfer": "https://aws.amazon.com/s3/pricing/ (Data Transfer OUT to the internet, first 10 TB/month) and "
                "https://aws.amazon.com/directconnect/pricing/ (data transfer out over Direct Connect, us-east-1)",
    "s3": "https://aws.amazon.com/s3/pricing/ (Storage, Requests & data retrievals, lifecycle transitions; "
          "minimum durations and sizes from the storage-class footnotes)",
    "s3_reads": "https://aws.amazon.com/s3/pricing/ (Requests & data retrievals: GET per 1,000 requests and data "
                "retrievals per GB, for S3 Standard, Standard-IA, One Zone-IA, Glacier Instant Retrieval and "
                "Intelligent-Tiering)",
    "s3_restore": "https://aws.amazon.com/s3/pricing/ (Requests & data retrievals: Glacier Flexible Retrieval and "
                  "Deep Archive, per GB and per 1,000 restore requests, by retrieval tier) and "
                  "https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects-retrieval-options.html "
                  "(restore times; the restored copy is billed as S3 Standard for the days it is kept)",
    "intelligent_tiering": "https://aws.amazon.com/s3/pricing/ (S3 Intelligent-Tiering: storage per access tier, "
                           "monitoring and automation per 1,000 objects, no retrieval charges) and "
                           "https://docs.aws.amazon.com/AmazonS3/latest/userguide/intelligent-tiering-overview.html "
                           "(30 and 90 days without access; objects under 128 KB are not monitored)",
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


# GET requests per 1,000, by class (source "s3_reads"); archived classes are read from their restored copy
S3_GET_USD_PER_1000 = {"STANDARD": 0.0004, "STANDARD_IA": 0.001, "ONEZONE_IA": 0.001, "GLACIER_IR": 0.01,
                       "INTELLIGENT_TIERING": 0.0004, "GLACIER": 0.0004, "DEEP_ARCHIVE": 0.0004}


@dataclass(frozen=True)
class RestoreTier:
    """One way to restore an archived object (Glacier Flexible Retrieval, Deep Archive): its price and its wait."""

    storage_class: str
    tier: str  # Expedited | Standard | Bulk, as RestoreObject's GlacierJobParameters.Tier spells it
    usd_per_gb: float
    usd_per_1000_requests: float
    hours: tuple[float, float]  # typical hours until the restored copy can be read (low, high; low 0: AWS
    # states only "within" the high bound)


RESTORE_TIERS = {(t.storage_class, t.tier): t for t in (
    RestoreTier("GLACIER", "Expedited", 0.03, 10.0, (1 / 60, 5 / 60)),
    RestoreTier("GLACIER", "Standard", 0.01, 0.05, (3.0, 5.0)),
    RestoreTier("GLACIER", "Bulk", 0.0, 0.0, (5.0, 12.0)),  # bulk restores from Glacier Flexible are free
    RestoreTier("DEEP_ARCHIVE", "Standard", 0.02, 0.10, (0.0, 12.0)),
    RestoreTier("DEEP_ARCHIVE", "Bulk", 0.0025, 0.025, (0.0, 48.0)),
)}


@dataclass(frozen=True)
class IntelligentTiering:
    """S3 Intelligent-Tiering: one class whose objects move between access tiers by how long they go unread."""

    monitoring_usd_per_1000_objects: float  # per month, for each monitored object
    min_monitored_bytes: int  # smaller objects are not monitored: always billed at the Frequent Access price
    tiers: tuple[tuple[str, int, float, bool], ...]  # (tier, days without access to enter it, USD/GB-month, opt-in)
    retrieval_usd_per_gb: float = 0.0  # none, from any tier that needs no restore


INTELLIGENT_TIERING = IntelligentTiering(0.0025, 128 * 1024, (
    ("Frequent Access", 0, 0.023, False),
    ("Infrequent Access", 30, 0.0125, False),
    ("Archive Instant Access", 90, 0.004, False),
    ("Archive Access", 90, 0.0036, True),  # opt-in, asynchronous: a restore first (90 to 730 days, configurable)
    ("Deep Archive Access", 180, 0.00099, True),  # opt-in, asynchronous (180 to 730 days)
))


def restore_tier(storage_class: str, tier: str) -> RestoreTier:
    """The price and wait of restoring from an archive class with one retrieval tier, or a clear error.

    Examples
    --------
    >>> restore_tier("GLACIER", "Bulk").usd_per_gb
    0.0
    >>> restore_tier("DEEP_ARCHIVE", "Standard").hours
    (0.0, 12.0)
    """
    try:
        return RESTORE_TIERS[(storage_class, tier)]
    except KeyError:
        known = ", ".join(f"{c}/{t}" for c, t in RESTORE_TIERS)
        raise ValueError(f"no restore tier {tier!r} for {storage_class!r}; the price table has {known}") from None


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
