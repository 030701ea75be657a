"""Access control and retention, as data: policies validated before anyone relies on them."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["guide_policies", "validate_access_policy", "validate_retention"]


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


def guide_policies() -> tuple[dict, dict]:
    """The guide's S3 access policy and lifecycle (retention) configuration, as it writes them.

    The policy allows ``s3:GetObject``/``PutObject`` on ``phi-data-bucket`` from ``10.0.0.0/8`` to the
    Healthcare department, and KMS use through S3; the lifecycle rule (spelt ``Id``, as in the guide) moves
    ``phi/`` to Glacier Instant Retrieval after 90 days, Deep Archive after 2190, and deletes after 2555.

    Returns
    -------
    tuple of dict
        (access policy, lifecycle configuration): new objects on each call, safe to change.
    """
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::phi-data-bucket/*",
         "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8"]},
                       "StringEquals": {"aws:PrincipalTag/Department": "Healthcare"}}},
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:Encrypt"], "Resource": "arn:aws:kms:us-east-1:1:key/x",
         "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}]}
    retention = {"Rules": [{"Id": "phi-retention-policy", "Status": "Enabled", "Filter": {"Prefix": "phi/"},
                            "Transitions": [{"Days": 90, "StorageClass": "GLACIER_IR"},
                                            {"Days": 2190, "StorageClass": "DEEP_ARCHIVE"}],
                            "Expiration": {"Days": 2555}, "NoncurrentVersionExpiration": {"NoncurrentDays": 90}}]}
    return policy, retention
