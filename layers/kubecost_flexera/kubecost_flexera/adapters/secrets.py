"""Credentials from Secrets Manager, for both kinds: Kubecost's optional secret and Flexera's token grant secret.

One loader reads every secret the same way: through Powertools Parameters, cached per execution environment for
:data:`SECRET_MAX_AGE_SECONDS` (a rotated secret is seen within five minutes), its value a JSON object whose values
are non-empty strings. Each client says which shapes it accepts (``parse``); every refusal is a
:class:`ConfigurationError` naming the variable, the ARN and the accepted shapes, and the keys found, never a value:
neither errors nor logs ever carry a secret (the JSON decoder's error quotes the document, so it is dropped).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, TypeGuard, TypeVar

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

from kubecost_flexera.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

T = TypeVar("T")

SECRET_MAX_AGE_SECONDS: Final = 300


def load_secret(variable: str, secret_arn: str, shape: str, parse: Callable[[Mapping[str, object]], T]) -> T:
    """The credentials ``parse`` makes of the JSON object in the secret ``secret_arn`` (named by ``variable``).

    ``parse`` raises ``ValueError`` for any other content; the error then says which ``shape`` is allowed, and
    which keys were found.
    """
    where = f"{variable}={secret_arn!r}"
    try:
        value = parameters.get_secret(secret_arn, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    except TransformParameterError:
        # `from None`: the decoder's exception keeps the document, which must stay out of every traceback.
        raise ConfigurationError(f"{where}: the secret could not be read as JSON; it must be {shape}") from None
    except GetParameterError as exc:
        raise ConfigurationError(
            f"{where}: the secret cannot be read ({exc}); allowed the ARN of an existing secret that this function "
            "may read"
        ) from None
    return parse_secret(where, value, shape, parse)


def parse_secret(where: str, value: object, shape: str, parse: Callable[[Mapping[str, object]], T]) -> T:
    """``parse(value)`` when ``value`` is an object of the accepted ``shape``; else an error naming keys, not values."""
    if not isinstance(value, dict):
        raise ConfigurationError(f"{where}: the secret must be {shape}")
    try:
        return parse(value)
    except ValueError:
        pass  # the message names the keys, not the parser's words, which could quote a value
    keys = sorted(str(key) for key in value)
    empty = [str(key) for key, item in value.items() if not (non_empty(item) or isinstance(item, dict))]
    found = f"keys {keys}" + (f", empty or not a string: {sorted(empty)}" if empty else "")
    raise ConfigurationError(f"{where}: the secret must be {shape}; it has {found}")


def non_empty(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a string with more than white space: an empty credential is a mistake, not a value."""
    return isinstance(value, str) and bool(value.strip())
