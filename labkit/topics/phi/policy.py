"""Access control and retention, as data: policies validated before anyone relies on them."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["validate_access_policy", "validate_retention"]


def validate_access_policy(policy: Mapping) -> list[str]:
    """Check that an IAM policy document parses and is well formed; return what is risky in it.

    Raises
    ------
    ValueError
        For a missing Version or Statement, a statement without Effect, Action or Resource, or an unknown Effect.
    """
    if policy.get("Version") != "2012-10-17":
        raise ValueError(f"an IAM policy needs Version '2012-10-17', got {policy.get('Version')!r}")
    statements = policy.get("Statement")
    if not isinstance(statements, list) or not statements:
        raise ValueError("an IAM policy needs a non-empty Statement list")
    notes = []
    for i, st in enumerate(statements):
        for field in ("Effect", "Action", "Resource"):
            if field not in st:
                raise ValueError(f"statement {i + 1} has no {field}")
        if st["Effect"] not in ("Allow", "Deny"):
            raise ValueError(f"statement {i + 1}: Effect must be Allow or Deny, got {st['Effect']!r}")
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        if any(a.endswith("*") for a in actions):
            notes.append(f"statement {i + 1} allows a wildcard action: {actions}")
        if st["Resource"] == "*":
            notes.append(f"statement {i + 1} applies to every resource")
        if "Condition" not in st:
            notes.append(f"statement {i + 1} has no condition (no network or tag restriction)")
    return notes


def validate_retention(rules: Mapping, years: int = 6) -> list[str]:
    """Check a lifecycle configuration keeps data at least ``years`` years; return its problems as text.

    The S3 API spells a rule's id ``ID``; boto3 rejects ``Id`` (the guide's spelling) before the request is sent.
    """
    from labkit.aws.lifecycle import validate_lifecycle

    problems = []
    for rule in rules.get("Rules", []):
        if "Id" in rule and "ID" not in rule:
            problems.append(f"rule {rule['Id']!r} spells its id 'Id'; S3 expects 'ID' (boto3 rejects the request)")
    fixed = {"Rules": [{("ID" if k == "Id" else k): v for k, v in r.items()} for r in rules.get("Rules", [])]}
    problems += validate_lifecycle(fixed)
    for rule in fixed["Rules"]:
        days = rule.get("Expiration", {}).get("Days")
        if days is not None and days < years * 365:
            problems.append(f"rule {rule.get('ID')!r} deletes data after {days} days, under {years} years")
    return problems
