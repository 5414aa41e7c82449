"""Where the Outbound Message token comes from: Secrets Manager or SSM in AWS, the environment locally."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

CACHE_SECONDS = 300


def outbound_token_source() -> Callable[[], str]:
    """A callable returning the configured token(s); secrets are cached by Powertools for five minutes."""
    secret_id = os.environ.get("OUTBOUND_TOKEN_SECRET_ID")
    parameter = os.environ.get("OUTBOUND_TOKEN_PARAMETER")
    if secret_id:
        return lambda: _tokens_from(_secret(secret_id))
    if parameter:
        return lambda: _tokens_from(_parameter(parameter))
    return lambda: os.environ.get("OUTBOUND_TOKEN", "")


def _secret(secret_id: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_secret(secret_id, max_age=CACHE_SECONDS))


def _parameter(name: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_parameter(name, decrypt=True, max_age=CACHE_SECONDS))


def _tokens_from(value: str) -> str:
    """Accept a plain token, or JSON {"token": ...} / {"tokens": [...]} for rotation."""
    if value.lstrip().startswith("{"):
        data = json.loads(value)
        tokens = data.get("tokens") or [data.get("token", "")]
        return ",".join(str(t) for t in tokens)
    return value
