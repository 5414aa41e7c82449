"""Which failures are the platform's (retry later) rather than ours: they get a 503 / SOAP Server Fault, not a 500."""

from __future__ import annotations


def is_transient(error: BaseException) -> bool:
    """AWS not answering: botocore errors, Powertools' wrappers of them (parameters, idempotency), timeouts."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(error, BotoCoreError | ClientError | ConnectionError | TimeoutError):
        return True
    name = type(error).__name__
    return name in ("GetParameterError", "IdempotencyPersistenceLayerError") or (
        error.__cause__ is not None and is_transient(error.__cause__)
    )
