"""IAM policy evaluation, as AWS documents it, for the local world: an explicit Deny wins, then an Allow, else deny.

The local runner makes every AWS call of a handler with the permissions of that function's role in
``template.yaml`` (``local/iam_enforcer.py``); this module decides each call. It implements what the policies of
this stack (and the SAM policy templates) can use, and refuses the rest loudly instead of guessing:

- ``Action``/``NotAction`` (case-insensitive, ``*`` and ``?`` wildcards), ``Resource``/``NotResource`` (case-
  sensitive, same wildcards; ``*`` and ``?`` match across ``:`` and ``/`` as in AWS), ``Principal`` for
  resource-based policies (``"*"``, or an ``AWS`` account, role or assumed-role ARN).
- ``Condition``: every operator must match and every key of an operator; one of a key's values is enough. String,
  ARN, numeric and ``Bool`` operators, ``Null``, the ``...IfExists`` suffix and the ``ForAnyValue:``/
  ``ForAllValues:`` prefixes. A key absent from the request makes a positive operator false and a negated one
  (``StringNotEquals``, ``ArnNotLike``...) true, unless ``IfExists`` makes it true either way. An unknown operator
  raises :class:`PolicyError`.

Policy variables (``${aws:username}``) are not used by this stack and are not expanded.
"""

from __future__ import annotations

import enum
import fnmatch
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

ContextValue = str | tuple[str, ...]


class PolicyError(ValueError):
    """A policy this evaluator cannot decide (malformed, or an operator it does not implement)."""


class Decision(enum.Enum):
    ALLOWED = "allowed"
    IMPLICIT_DENY = "implicitly denied"
    EXPLICIT_DENY = "explicitly denied"


@dataclass(frozen=True)
class Request:
    """One authorisation question: may ``principal`` do ``action`` on ``resource`` with these condition keys?"""

    action: str
    resource: str
    principal: str = ""
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def value(self, key: str) -> tuple[str, ...] | None:
        """The values of a condition key (keys are case-insensitive), or None when the request lacks it."""
        for name, value in self.context.items():
            if name.lower() == key.lower():
                return (value,) if isinstance(value, str) else value
        return None


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    condition: Mapping[str, Mapping[str, Any]]
    principals: tuple[str, ...] | None  # None: an identity-based statement (no Principal)

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Statement:
        effect = body.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"a statement's Effect must be Allow or Deny, not {effect!r}")
        if ("Action" in body) == ("NotAction" in body):
            raise PolicyError("a statement needs exactly one of Action and NotAction")
        if ("Resource" in body) == ("NotResource" in body):
            raise PolicyError("a statement needs exactly one of Resource and NotResource")
        return cls(
            effect=effect,
            actions=_strings(body.get("Action")),
            not_actions=_strings(body.get("NotAction")),
            resources=_strings(body.get("Resource")),
            not_resources=_strings(body.get("NotResource")),
            condition=body.get("Condition") or {},
            principals=_principals(body["Principal"]) if "Principal" in body else None,
        )

    def applies(self, request: Request) -> bool:
        if self.principals is not None and not any(_principal_matches(p, request.principal) for p in self.principals):
            return False
        if self.actions and not any(_matches(p, request.action, ignore_case=True) for p in self.actions):
            return False
        if self.not_actions and any(_matches(p, request.action, ignore_case=True) for p in self.not_actions):
            return False
        if self.resources and not any(_matches(p, request.resource) for p in self.resources):
            return False
        if self.not_resources and any(_matches(p, request.resource) for p in self.not_resources):
            return False
        return all(_condition_holds(operator, keys, request) for operator, keys in self.condition.items())


@dataclass(frozen=True)
class Policy:
    """A policy document: where it comes from (for messages), its statements and whether it is resource-based."""

    name: str
    statements: tuple[Statement, ...]

    @classmethod
    def parse(cls, name: str, document: Mapping[str, Any]) -> Policy:
        body = document.get("Statement")
        if body is None:
            raise PolicyError(f"policy {name} has no Statement")
        items = [body] if isinstance(body, dict) else list(body)
        return cls(name, tuple(Statement.parse(item) for item in items))


def evaluate(policies: Iterable[Policy], request: Request) -> Decision:
    """AWS's order within one account: any matching Deny denies; otherwise any matching Allow allows."""
    allowed = False
    for policy in policies:
        for statement in policy.statements:
            if not statement.applies(request):
                continue
            if statement.effect == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = True
    return Decision.ALLOWED if allowed else Decision.IMPLICIT_DENY


# --- matching ---


def _strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise PolicyError(f"expected a string or a list of strings, not {value!r}")


def _principals(value: object) -> tuple[str, ...]:
    if value == "*":
        return ("*",)
    if isinstance(value, dict) and set(value) <= {"AWS", "Service"}:
        return tuple(item for key in ("AWS", "Service") for item in _strings(value.get(key)))
    raise PolicyError(f"unsupported Principal {value!r}")


def _principal_matches(pattern: str, principal: str) -> bool:
    if pattern == "*":
        return True
    account = principal.split(":")[4] if principal.count(":") >= 5 else ""
    if pattern in (account, f"arn:aws:iam::{account}:root"):
        return True
    # An assumed-role session is the role: arn:aws:sts::<account>:assumed-role/<role>/<session>.
    match = re.match(r"^arn:([^:]+):sts::([0-9]+):assumed-role/([^/]+)/", principal)
    return principal == pattern or (
        match is not None and pattern == f"arn:{match.group(1)}:iam::{match.group(2)}:role/{match.group(3)}"
    )


_PATTERNS: dict[tuple[str, bool], re.Pattern[str]] = {}


def _matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcards: ``*`` any run of characters (``/`` and ``:`` included), ``?`` one character."""
    compiled = _PATTERNS.get((pattern, ignore_case))
    if compiled is None:
        # fnmatch also treats [...] as a class; IAM does not, so brackets are escaped first.
        translated = fnmatch.translate(pattern.replace("[", "\x00").replace("]", "\x01"))
        translated = translated.replace("\x00", r"\[").replace("\x01", r"\]")
        compiled = re.compile(translated, re.IGNORECASE if ignore_case else 0)
        _PATTERNS[(pattern, ignore_case)] = compiled
    return compiled.match(value) is not None


def _string_equals(expected: str, actual: str) -> bool:
    return expected == actual


def _string_equals_ignore_case(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


def _string_like(expected: str, actual: str) -> bool:
    return _matches(expected, actual)


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def check(expected: str, actual: str) -> bool:
        try:
            return compare(float(actual), float(expected))
        except ValueError:
            return False

    return check


def _bool(expected: str, actual: str) -> bool:
    return expected.lower() == actual.lower()


# Positive operators; each has a negated twin where AWS defines one.
_OPERATORS: Final[dict[str, Callable[[str, str], bool]]] = {
    "StringEquals": _string_equals,
    "StringEqualsIgnoreCase": _string_equals_ignore_case,
    "StringLike": _string_like,
    "ArnEquals": _string_like,  # AWS matches ArnEquals with wildcards too
    "ArnLike": _string_like,
    "NumericEquals": _numeric(lambda actual, expected: actual == expected),
    "NumericLessThan": _numeric(lambda actual, expected: actual < expected),
    "NumericLessThanEquals": _numeric(lambda actual, expected: actual <= expected),
    "NumericGreaterThan": _numeric(lambda actual, expected: actual > expected),
    "NumericGreaterThanEquals": _numeric(lambda actual, expected: actual >= expected),
    "Bool": _bool,
}
_NEGATED: Final[dict[str, str]] = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}


def _condition_holds(operator: str, keys: Mapping[str, Any], request: Request) -> bool:
    if not isinstance(keys, dict):
        raise PolicyError(f"condition {operator} must map keys to values")
    return all(_key_holds(operator, key, _strings_or_scalars(values), request) for key, values in keys.items())


def _strings_or_scalars(values: object) -> tuple[str, ...]:
    items = values if isinstance(values, list | tuple) else [values]
    return tuple(str(item).lower() if isinstance(item, bool) else str(item) for item in items)


def _key_holds(operator: str, key: str, expected: Sequence[str], request: Request) -> bool:
    actual = request.value(key)
    name = operator
    quantifier = ""
    for prefix in ("ForAnyValue:", "ForAllValues:"):
        if name.startswith(prefix):
            quantifier, name = prefix, name[len(prefix) :]
    if name == "Null":
        wants_absent = [value.lower() == "true" for value in expected]
        return (actual is None) in wants_absent
    if_exists = name.endswith("IfExists")
    if if_exists:
        name = name[: -len("IfExists")]
    negated = name in _NEGATED
    check = _OPERATORS.get(_NEGATED.get(name, name))
    if check is None:
        raise PolicyError(f"condition operator {operator} is not implemented by the local IAM evaluator")
    if actual is None:
        return if_exists or negated or quantifier == "ForAllValues:"

    def value_matches(value: str) -> bool:
        return any(check(item, value) for item in expected)

    if quantifier == "ForAllValues:":
        result = all(value_matches(value) for value in actual)
    else:  # ForAnyValue: or a single-valued key: one value matching is enough
        result = any(value_matches(value) for value in actual)
    return not result if negated else result
