"""Where secrets come from: Secrets Manager or SSM in AWS, the environment locally.

For a setting NAME, `NAME_SECRET_ID` names a Secrets Manager secret, `NAME_PARAMETER` an SSM SecureString, and
`NAME` itself holds the value (local runs and tests). Values are cached by Powertools for five minutes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

CACHE_SECONDS = 300


def secret_source(name: str) -> Callable[[], str]:
    """A callable returning the setting's current value ('' when unset)."""
    secret_id = os.environ.get(f"{name}_SECRET_ID")
    parameter = os.environ.get(f"{name}_PARAMETER")
    if secret_id:
        return lambda: _tokens_from(_secret(secret_id))
    if parameter:
        return lambda: _tokens_from(_parameter(parameter))
    return lambda: os.environ.get(name, "")


def outbound_token_source() -> Callable[[], str]:
    """The Outbound Message token(s): OUTBOUND_TOKEN_SECRET_ID, OUTBOUND_TOKEN_PARAMETER or OUTBOUND_TOKEN."""
    return secret_source("OUTBOUND_TOKEN")


def _secret(secret_id: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_secret(secret_id, max_age=CACHE_SECONDS))


def _parameter(name: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_parameter(name, decrypt=True, max_age=CACHE_SECONDS))


def _tokens_from(value: str) -> str:
    """Accept a plain value, or JSON {"token": ...} / {"tokens": [...]} for rotation."""
    if value.lstrip().startswith("{"):
        data = json.loads(value)
        tokens = data.get("tokens") or [data.get("token", "")]
        return ",".join(str(t) for t in tokens)
    return value
