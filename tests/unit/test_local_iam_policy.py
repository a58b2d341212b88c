"""The local world's IAM evaluator (``local/iam_policy.py``): AWS's rules for wildcards, conditions and Deny."""

from __future__ import annotations

from typing import Any

import pytest

from local.iam_policy import Decision, Policy, PolicyError, Request, evaluate

ROLE = "arn:aws:sts::123456789012:assumed-role/export-role/export-fn"
BUCKET = "arn:aws:s3:::exports-bucket"


def _policy(*statements: dict[str, Any]) -> Policy:
    return Policy.parse("test", {"Version": "2012-10-17", "Statement": list(statements)})


def _decide(policy: Policy, action: str, resource: str, **context: str) -> Decision:
    return evaluate([policy], Request(action, resource, ROLE, context))


def test_nothing_allowed_is_an_implicit_deny() -> None:
    policy = _policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/exports/*"})
    assert _decide(policy, "s3:PutObject", f"{BUCKET}/exports/a") is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    ("action_pattern", "resource_pattern", "action", "resource", "expected"),
    [
        # Actions ignore case; * in a resource spans "/"
        ("S3:Get*", "exports/*", "s3:GetObject", "exports/default/2025-03/a.csv.gz", Decision.ALLOWED),
        ("S3:Get*", "exports/*", "s3:getobjectversion", "exports/x", Decision.ALLOWED),
        ("S3:Get*", "exports/*", "s3:GetObject", "state/days/x.json", Decision.IMPLICIT_DENY),
        # ? is exactly one character; resources are case-sensitive
        ("s3:GetObject", "day-?.json", "s3:GetObject", "day-1.json", Decision.ALLOWED),
        ("s3:GetObject", "day-?.json", "s3:GetObject", "day-10.json", Decision.IMPLICIT_DENY),
        ("s3:GetObject", "day-?.json", "s3:GetObject", "DAY-1.json", Decision.IMPLICIT_DENY),
    ],
)
def test_wildcards_in_actions_and_resources(
    action_pattern: str, resource_pattern: str, action: str, resource: str, expected: Decision
) -> None:
    policy = _policy({"Effect": "Allow", "Action": action_pattern, "Resource": f"{BUCKET}/{resource_pattern}"})
    assert _decide(policy, action, f"{BUCKET}/{resource}") is expected


def test_an_explicit_deny_wins_over_any_allow() -> None:
    policy = _policy(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": f"{BUCKET}/state/*"},
    )
    assert _decide(policy, "s3:DeleteObject", f"{BUCKET}/state/uploads/a.json") is Decision.EXPLICIT_DENY
    assert _decide(policy, "s3:DeleteObject", f"{BUCKET}/exports/a") is Decision.ALLOWED


def test_not_action_and_not_resource_match_everything_else() -> None:
    policy = _policy({"Effect": "Allow", "NotAction": "s3:DeleteObject", "NotResource": f"{BUCKET}/state/*"})
    assert _decide(policy, "s3:PutObject", f"{BUCKET}/exports/a") is Decision.ALLOWED
    assert _decide(policy, "s3:DeleteObject", f"{BUCKET}/exports/a") is Decision.IMPLICIT_DENY
    assert _decide(policy, "s3:PutObject", f"{BUCKET}/state/a") is Decision.IMPLICIT_DENY


def test_list_bucket_is_limited_by_the_s3_prefix_condition() -> None:
    policy = _policy(
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": BUCKET,
            "Condition": {"StringLike": {"s3:prefix": ["state/days/default/*", "exports/default/*"]}},
        }
    )
    assert _decide(policy, "s3:ListBucket", BUCKET, **{"s3:prefix": "state/days/default/2025-03-01.json"}) is (
        Decision.ALLOWED
    )
    assert _decide(policy, "s3:ListBucket", BUCKET, **{"s3:prefix": "state/uploads/default/2025-03.json"}) is (
        Decision.IMPLICIT_DENY
    )
    # A request without the key does not satisfy a positive condition
    assert _decide(policy, "s3:ListBucket", BUCKET) is Decision.IMPLICIT_DENY


def test_condition_keys_are_case_insensitive_and_every_operator_must_hold() -> None:
    policy = _policy(
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"},
                "ArnLike": {"kms:EncryptionContext:SecretARN": "arn:aws:secretsmanager:*:*:secret:flexera-*"},
            },
        }
    )
    via = {"KMS:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
    secret = {"kms:EncryptionContext:SecretARN": "arn:aws:secretsmanager:us-east-1:1:secret:flexera-abc"}
    assert _decide(policy, "kms:Decrypt", "key", **via, **secret) is Decision.ALLOWED
    assert _decide(policy, "kms:Decrypt", "key", **via) is Decision.IMPLICIT_DENY
    assert _decide(policy, "kms:Decrypt", "key", **{"kms:ViaService": "s3.us-east-1.amazonaws.com"}, **secret) is (
        Decision.IMPLICIT_DENY
    )


def test_negated_operators_hold_for_a_missing_key_and_if_exists_makes_any_operator_hold() -> None:
    negated = _policy(
        {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringNotEquals": {"aws:SourceVpc": "v"}}},
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
    )
    assert _decide(negated, "s3:GetObject", "x") is Decision.EXPLICIT_DENY
    assert _decide(negated, "s3:GetObject", "x", **{"aws:SourceVpc": "v"}) is Decision.ALLOWED
    if_exists = _policy(
        {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEqualsIfExists": {"k": "v"}}}
    )
    assert _decide(if_exists, "s3:GetObject", "x") is Decision.ALLOWED
    assert _decide(if_exists, "s3:GetObject", "x", k="w") is Decision.IMPLICIT_DENY


def test_the_bucket_policy_denies_plain_http_and_old_tls() -> None:
    # Given the bucket policy's two Deny statements (Principal "*") beside an Allow of the role
    bucket_policy = _policy(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [BUCKET, f"{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [BUCKET, f"{BUCKET}/*"],
            "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
        },
    )
    role = _policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/*"})

    def decide(**context: str) -> Decision:
        return evaluate([role, bucket_policy], Request("s3:GetObject", f"{BUCKET}/a", ROLE, context))

    assert decide(**{"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}) is Decision.ALLOWED
    assert decide(**{"aws:SecureTransport": "false", "s3:TlsVersion": "1.3"}) is Decision.EXPLICIT_DENY
    assert decide(**{"aws:SecureTransport": "true", "s3:TlsVersion": "1.1"}) is Decision.EXPLICIT_DENY


def test_a_resource_policy_applies_to_its_principals_only() -> None:
    policy = _policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:role/export-role"},
            "Action": "s3:GetObject",
            "Resource": f"{BUCKET}/*",
        }
    )
    assert _decide(policy, "s3:GetObject", f"{BUCKET}/a") is Decision.ALLOWED
    other = Request("s3:GetObject", f"{BUCKET}/a", "arn:aws:sts::123456789012:assumed-role/upload-role/fn")
    assert evaluate([policy], other) is Decision.IMPLICIT_DENY


def test_for_any_value_matches_one_of_a_multi_valued_key() -> None:
    policy = _policy(
        {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"ForAnyValue:StringLike": {"tags": "a*"}}}
    )
    allowed = Request("x:Y", "r", ROLE, {"tags": ("zeta", "alpha")})
    denied = Request("x:Y", "r", ROLE, {"tags": ("zeta",)})
    assert (evaluate([policy], allowed), evaluate([policy], denied)) == (Decision.ALLOWED, Decision.IMPLICIT_DENY)


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateGreaterThan": {"aws:CurrentTime": "x"}}},
        {"Effect": "Permit", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Resource": "*"},
        {"Effect": "Allow", "Action": "*"},
    ],
    ids=["unknown-operator", "bad-effect", "no-action", "no-resource"],
)
def test_a_policy_the_evaluator_cannot_decide_is_refused(statement: dict[str, Any]) -> None:
    with pytest.raises(PolicyError):
        _decide(_policy(statement), "s3:GetObject", "x")
