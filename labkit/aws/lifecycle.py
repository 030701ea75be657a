"""S3 lifecycle rules as data: build them, check them, and say which storage class they put an object in.

Shared by the ``s3`` topic (which puts rules on a bucket and simulates them) and
the ``costs`` topic (which prices them). No client and no Spark: the shape of a configuration is checked
against botocore's service model of ``PutBucketLifecycleConfiguration``, offline.
"""

from __future__ import annotations

import functools
from datetime import date, time, timezone
from typing import Any

__all__ = ["is_date_based", "lifecycle_policy", "require_days", "storage_class_at", "validate_lifecycle"]

_CLASSES_NOTE = "STANDARD_IA, ONEZONE_IA, GLACIER_IR, GLACIER, DEEP_ARCHIVE"


def lifecycle_policy(prefix: str = "data/", transitions=(), expiration_days: int | None = None,
                     noncurrent_transitions=(), noncurrent_expiration_days: int | None = None,
                     rule_id: str = "labkit-tiering") -> dict:
    """A lifecycle configuration with one rule, ready for ``put_bucket_lifecycle_configuration``.

    Parameters
    ----------
    prefix : str
        Objects the rule applies to.
    transitions : sequence of (days, storage class)
        For current versions, e.g. ``[(30, "STANDARD_IA"), (730, "GLACIER_IR"), (1095, "DEEP_ARCHIVE")]``.
    expiration_days : int, optional
        Delete current versions this many days after creation.
    noncurrent_transitions : sequence of (days, storage class)
        For versions that were overwritten, counted from the day they became noncurrent.
    noncurrent_expiration_days : int, optional
        Delete noncurrent versions this many days after they became noncurrent.
    rule_id : str

    Returns
    -------
    dict
        ``{"Rules": [...]}``, checked with :func:`validate_lifecycle`.
    """
    rule: dict[str, Any] = {"ID": rule_id, "Status": "Enabled", "Filter": {"Prefix": prefix}}
    if transitions:
        rule["Transitions"] = [{"Days": int(d), "StorageClass": c} for d, c in transitions]
    if expiration_days is not None:
        rule["Expiration"] = {"Days": int(expiration_days)}
    if noncurrent_transitions:
        rule["NoncurrentVersionTransitions"] = [{"NoncurrentDays": int(d), "StorageClass": c}
                                                for d, c in noncurrent_transitions]
    if noncurrent_expiration_days is not None:
        rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(noncurrent_expiration_days)}
    policy = {"Rules": [rule]}
    validate_lifecycle(policy)
    return policy


@functools.lru_cache(maxsize=1)
def _shape():
    """botocore's model of the ``LifecycleConfiguration`` that ``PutBucketLifecycleConfiguration`` takes."""
    import botocore.session

    operation = botocore.session.get_session().get_service_model("s3").operation_model(
        "PutBucketLifecycleConfiguration")
    return operation.input_shape.members["LifecycleConfiguration"]


def _check_shape(policy: dict) -> None:
    """Raise ValueError when botocore's service model would refuse the configuration (before any request)."""
    from botocore.validate import ParamValidator

    report = ParamValidator().validate(policy, _shape())
    if report.has_errors():
        raise ValueError("the lifecycle configuration is not valid for S3's PutBucketLifecycleConfiguration "
                         f"(botocore's service model): {report.generate_report()}")


def _point(rule_id: str, kind: str, value: Any) -> int | date:
    """A transition or expiration point: whole days, or the calendar date (S3 requires midnight UTC)."""
    if kind == "Days":
        return int(value)
    from botocore.utils import parse_to_aware_datetime

    when = parse_to_aware_datetime(value).astimezone(timezone.utc)
    if when.time() != time(0):
        raise ValueError(f"rule {rule_id!r}: a lifecycle Date must be at midnight UTC (S3 refuses any other time), "
                         f"got {when.isoformat()}")
    return when.date()


def _transitions(rule_id: str, rule: dict) -> tuple[list[tuple[int | date, str]], set[str]]:
    """A rule's current-version transitions as (days or date, class), and the kinds (``Days``/``Date``) used."""
    steps, kinds = [], set()
    for t in rule.get("Transitions", []):
        given = [k for k in ("Days", "Date") if k in t]
        if len(given) != 1:
            raise ValueError(f"rule {rule_id!r}: each transition gives either Days or Date, got {sorted(t)}")
        kinds.add(given[0])
        steps.append((_point(rule_id, given[0], t[given[0]]), t["StorageClass"]))
    return steps, kinds


def _expiration(rule_id: str, rule: dict) -> tuple[int | date | None, set[str]]:
    """A rule's current-version expiration (days, date, or None), and its kind."""
    expiration = rule.get("Expiration", {})
    given = [k for k in ("Days", "Date", "ExpiredObjectDeleteMarker") if k in expiration]
    if len(given) > 1:
        raise ValueError(f"rule {rule_id!r}: an Expiration gives one of Days, Date or ExpiredObjectDeleteMarker, "
                         f"got {given}")
    if not given or given[0] == "ExpiredObjectDeleteMarker":
        return None, set()
    return _point(rule_id, given[0], expiration[given[0]]), {given[0]}


def _at(point: int | date) -> str:
    """``at day 30`` or ``on 2027-01-01``, for messages."""
    return f"at day {point}" if isinstance(point, int) else f"on {point.isoformat()}"


def _span(first: int | date, then: int | date) -> int:
    """Days from one point to a later one."""
    return then - first if isinstance(first, int) else (then - first).days


def _check_step(rule_id: str, point: int | date, name: str, last: int | date | None, last_class, what: str):
    """Raise for one transition S3 refuses or that moves the wrong way; return its class."""
    from labkit.aws.prices import s3_class

    cls = s3_class(name)
    if name == "STANDARD":
        raise ValueError(f"rule {rule_id!r}: a lifecycle rule cannot transition {what} to STANDARD")
    if isinstance(point, int) and point < 0:
        raise ValueError(f"rule {rule_id!r}: {what} transition days must be >= 0, got {point}")
    if isinstance(point, int) and name in ("STANDARD_IA", "ONEZONE_IA") and point < 30:
        raise ValueError(f"rule {rule_id!r}: S3 rejects a transition of {what} to {name} before 30 days "
                         f"(got {point}); objects must stay 30 days in STANDARD first")
    if last is not None and point <= last:
        raise ValueError(f"rule {rule_id!r}: {what} transition days must increase; {name} {_at(point)} comes "
                         f"after {last_class.name} {_at(last)}")
    if cls.tier <= last_class.tier:
        raise ValueError(f"rule {rule_id!r}: {what} cannot move from {last_class.name} to {name}: lifecycle "
                         f"only moves down the waterfall ({_CLASSES_NOTE})")
    return cls


def _check_expiry(rule_id: str, expire: int | date, last: int | date | None, last_class, what: str) -> list[str]:
    """Raise for an expiration at or before the last transition; warn for one before the class's minimum."""
    if last is not None and expire <= last:
        raise ValueError(f"rule {rule_id!r}: {what} expire {_at(expire)}, not after their last transition "
                         f"({_at(last)}): the transition would be paid for nothing")
    start = last if last is not None else (0 if isinstance(expire, int) else None)
    if start is not None and last_class.min_days and _span(start, expire) < last_class.min_days:
        return [f"rule {rule_id!r}: {what} are deleted {_span(start, expire)} days after entering "
                f"{last_class.name}, before its {last_class.min_days}-day minimum: an early-deletion charge applies"]
    return []


def _check_steps(rule_id: str, steps: list[tuple[int | date, str]], expire: int | date | None,
                 what: str) -> list[str]:
    """Errors and warnings of one rule's transitions (current or noncurrent; by days, or by dates)."""
    from labkit.aws.prices import s3_class

    warnings_, last, last_class = [], None, s3_class("STANDARD")
    for point, name in steps:
        cls = _check_step(rule_id, point, name, last, last_class, what)
        if last is not None and last_class.min_days and _span(last, point) < last_class.min_days:
            warnings_.append(f"rule {rule_id!r}: {what} leave {last_class.name} after {_span(last, point)} days, "
                             f"before its {last_class.min_days}-day minimum: the rest is billed anyway")
        last, last_class = point, cls
    if expire is not None:
        warnings_ += _check_expiry(rule_id, expire, last, last_class, what)
    return warnings_


_ACTIONS = ("Transitions", "Expiration", "NoncurrentVersionTransitions", "NoncurrentVersionExpiration",
            "AbortIncompleteMultipartUpload")


def _check_rule_header(i: int, rule: Any) -> str:
    """The rule's ID (or ``#n``), after checking it is a dict with a Status and an action."""
    if not isinstance(rule, dict):
        raise ValueError(f"lifecycle rule #{i + 1} must be a dict, got {type(rule).__name__}")
    rule_id = rule.get("ID") or f"#{i + 1}"
    if rule.get("Status") not in ("Enabled", "Disabled"):
        raise ValueError(f"rule {rule_id!r}: Status must be 'Enabled' or 'Disabled', got {rule.get('Status')!r}")
    if not any(a in rule for a in _ACTIONS):
        raise ValueError(f"rule {rule_id!r} has no action: give it one of {_ACTIONS}")
    return rule_id


def validate_lifecycle(policy: dict) -> list[str]:
    """Check a lifecycle configuration for what S3 rejects and for what costs money for nothing.

    The configuration must first be valid for ``PutBucketLifecycleConfiguration`` as botocore's service model
    describes it. Transitions and expirations of current versions may be by ``Days`` (age) or by ``Date``
    (a calendar day, at midnight UTC), not both in one rule; noncurrent versions go by ``NoncurrentDays``.

    Errors (``ValueError``): a shape botocore refuses; a Days-based transition to an IA class before 30 days;
    days or dates that do not increase; a transition into a class the object has already passed (or into
    STANDARD); an expiration at or before the last transition; a Date not at midnight UTC; a rule that mixes
    Days and Date; an unknown storage class; a rule without an ID, status or action.

    Returns
    -------
    list of str
        Warnings that are legal but billed: leaving a class, or expiring, before
        its minimum storage duration.
    """
    rules = policy.get("Rules") if isinstance(policy, dict) else None
    if not rules:
        raise ValueError("a lifecycle configuration needs {'Rules': [...]} with at least one rule")
    ids = [_check_rule_header(i, rule) for i, rule in enumerate(rules)]
    _check_shape(policy)
    warnings_ = []
    for rule_id, rule in zip(ids, rules, strict=True):
        current, kinds = _transitions(rule_id, rule)
        expire, expire_kind = _expiration(rule_id, rule)
        if len(kinds | expire_kind) > 1:
            raise ValueError(f"rule {rule_id!r} mixes Date and Days in its transitions and expiration; S3 refuses "
                             "that: give every action of a rule by Days, or every one by Date")
        noncurrent = [(int(t["NoncurrentDays"]), t["StorageClass"])
                      for t in rule.get("NoncurrentVersionTransitions", [])]
        warnings_ += _check_steps(rule_id, current, expire, "objects")
        warnings_ += _check_steps(rule_id, noncurrent, rule.get("NoncurrentVersionExpiration", {}).get(
            "NoncurrentDays"), "noncurrent versions")
    return warnings_


def is_date_based(rule: dict) -> bool:
    """Whether a rule's transitions or expiration go by calendar ``Date`` rather than by ``Days`` of age."""
    return "Date" in rule.get("Expiration", {}) or any("Date" in t for t in rule.get("Transitions", []))


def require_days(policy: dict, what: str) -> None:
    """Raise ValueError naming the rule when a rule goes by ``Date``: for models that count ages in days only."""
    for i, rule in enumerate(policy.get("Rules", [])):
        if is_date_based(rule):
            raise ValueError(f"rule {rule.get('ID') or f'#{i + 1}'!r} goes by Date; {what} supports only rules "
                             "by Days (of age)")


def _dated_class(rule: dict, on: date | None) -> str | None:
    """The class a Date-based rule puts a current version in on the calendar day ``on``."""
    if on is None:
        raise ValueError(f"rule {rule.get('ID')!r} is Date-based: pass on=<the calendar date> to storage_class_at")
    expire = rule.get("Expiration", {}).get("Date")
    if expire is not None and on >= _point("", "Date", expire):
        return None
    current = "STANDARD"
    for t in rule.get("Transitions", []):
        if on >= _point("", "Date", t["Date"]):
            current = t["StorageClass"]
    return current


def storage_class_at(rule: dict, age_days: int, noncurrent_days: int | None = None,
                     on: date | None = None) -> str | None:
    """The storage class one rule puts an object in at an age, or None once it has expired.

    Parameters
    ----------
    rule : dict
        One rule of a lifecycle configuration.
    age_days : int
        Days since the object was created.
    noncurrent_days : int, optional
        Days since the version became noncurrent (None: it is the current version).
    on : date, optional
        The calendar day; needed for a rule whose transitions or expiration go by ``Date`` (S3 moves every
        object the rule covers on that date, whatever its age).
    """
    if rule.get("Status") != "Enabled":
        return "STANDARD"
    if noncurrent_days is None:
        if is_date_based(rule):
            return _dated_class(rule, on)
        steps = [(t["Days"], t["StorageClass"]) for t in rule.get("Transitions", [])]
        expire, age = rule.get("Expiration", {}).get("Days"), age_days
    else:
        steps = [(t["NoncurrentDays"], t["StorageClass"]) for t in rule.get("NoncurrentVersionTransitions", [])]
        expire, age = rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays"), noncurrent_days
    if expire is not None and age >= expire:
        return None
    current = "STANDARD"
    for days, name in steps:
        if age >= days:
            current = name
    return current
