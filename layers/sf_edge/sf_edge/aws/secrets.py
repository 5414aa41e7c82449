"""Where secrets come from: Secrets Manager or SSM in AWS, the setting's own value locally.

A store that does not answer now (throttling, timeouts) raises `Unavailable`: the caller answers "retry later"
(a SOAP Server Fault, a 503), not "wrong credentials". Values are cached by Powertools for five minutes.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sf_edge.aws.faults import is_transient
from sf_edge.domain_errors import Unavailable
from sf_edge.settings import SecretSetting

CACHE_SECONDS = 300


def secret_source(setting: SecretSetting) -> Callable[[], str]:
    """A callable returning the secret's current value: the Secrets Manager secret NAME_SECRET_ID names, else the
    SSM SecureString NAME_PARAMETER names, else NAME's own value ('' when unset)."""
    secret_id, parameter = setting.secret_id, setting.parameter
    if secret_id:
        return lambda: _tokens_from(_stored(_secret, secret_id))
    if parameter:
        return lambda: _tokens_from(_stored(_parameter, parameter))
    value = setting.value
    return lambda: value


def _stored(read: Callable[[str], str], name: str) -> str:
    try:
        return read(name)
    except Exception as exc:
        if is_transient(exc):
            raise Unavailable(f"The secret store did not answer: {type(exc).__name__}") from exc
        raise


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
