"""S3 lifecycle rules as data: build them, check them, and say which storage class they put an object in.

Shared by the ``s3`` topic (which puts rules on a bucket and simulates them) and
the ``costs`` topic (which prices them). Pure Python: no client, no Spark.
"""

from __future__ import annotations

from typing import Any

__all__ = ["lifecycle_policy", "storage_class_at", "validate_lifecycle"]

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


def _check_steps(rule_id: str, steps: list[tuple[int, str]], expire: int | None, what: str) -> list[str]:
    """Errors and warnings of one rule's transitions (current or noncurrent)."""
    from labkit.core.prices import s3_class

    warnings_, last_days, last_class = [], -1, s3_class("STANDARD")
    for days, name in steps:
        cls = s3_class(name)
        if name == "STANDARD":
            raise ValueError(f"rule {rule_id!r}: a lifecycle rule cannot transition {what} to STANDARD")
        if name in ("STANDARD_IA", "ONEZONE_IA") and days < 30:
            raise ValueError(f"rule {rule_id!r}: S3 rejects a transition of {what} to {name} before 30 days "
                             f"(got {days}); objects must stay 30 days in STANDARD first")
        if days <= last_days:
            raise ValueError(f"rule {rule_id!r}: {what} transition days must increase; {name} at day {days} comes "
                             f"after {last_class.name} at day {last_days}")
        if cls.tier <= last_class.tier:
            raise ValueError(f"rule {rule_id!r}: {what} cannot move from {last_class.name} to {name}: lifecycle "
                             f"only moves down the waterfall ({_CLASSES_NOTE})")
        if last_class.min_days and days - last_days < last_class.min_days:
            warnings_.append(f"rule {rule_id!r}: {what} leave {last_class.name} after {days - last_days} days, "
                             f"before its {last_class.min_days}-day minimum: the rest is billed anyway")
        last_days, last_class = days, cls
    if expire is not None:
        if expire <= last_days:
            raise ValueError(f"rule {rule_id!r}: {what} expire at day {expire}, not after their last transition "
                             f"(day {last_days}): the transition would be paid for nothing")
        if last_class.min_days and expire - max(last_days, 0) < last_class.min_days:
            warnings_.append(f"rule {rule_id!r}: {what} are deleted {expire - last_days} days after entering "
                             f"{last_class.name}, before its {last_class.min_days}-day minimum: an early-deletion "
                             "charge applies")
    return warnings_


def validate_lifecycle(policy: dict) -> list[str]:
    """Check a lifecycle configuration for what S3 rejects and for what costs money for nothing.

    Errors (``ValueError``): a transition to an IA class before 30 days; days
    that do not increase; a transition into a class the object has already
    passed (or into STANDARD); an expiration at or before the last transition;
    an unknown storage class; a rule without an ID, status or action.

    Returns
    -------
    list of str
        Warnings that are legal but billed: leaving a class, or expiring, before
        its minimum storage duration.
    """
    rules = policy.get("Rules") if isinstance(policy, dict) else None
    if not rules:
        raise ValueError("a lifecycle configuration needs {'Rules': [...]} with at least one rule")
    warnings_ = []
    for i, rule in enumerate(rules):
        rule_id = rule.get("ID") or f"#{i + 1}"
        if rule.get("Status") not in ("Enabled", "Disabled"):
            raise ValueError(f"rule {rule_id!r}: Status must be 'Enabled' or 'Disabled', got {rule.get('Status')!r}")
        actions = ("Transitions", "Expiration", "NoncurrentVersionTransitions", "NoncurrentVersionExpiration")
        if not any(a in rule for a in actions):
            raise ValueError(f"rule {rule_id!r} has no action: give it one of {actions}")
        current = [(t["Days"], t["StorageClass"]) for t in rule.get("Transitions", [])]
        noncurrent = [(t["NoncurrentDays"], t["StorageClass"]) for t in rule.get("NoncurrentVersionTransitions", [])]
        warnings_ += _check_steps(rule_id, current, rule.get("Expiration", {}).get("Days"), "objects")
        warnings_ += _check_steps(rule_id, noncurrent, rule.get("NoncurrentVersionExpiration", {}).get(
            "NoncurrentDays"), "noncurrent versions")
    return warnings_


def storage_class_at(rule: dict, age_days: int, noncurrent_days: int | None = None) -> str | None:
    """The storage class one rule puts an object in at an age, or None once it has expired.

    Parameters
    ----------
    rule : dict
        One rule of a lifecycle configuration.
    age_days : int
        Days since the object was created.
    noncurrent_days : int, optional
        Days since the version became noncurrent (None: it is the current version).
    """
    if rule.get("Status") != "Enabled":
        return "STANDARD"
    if noncurrent_days is None:
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
