"""Which failures are the platform's (retry later: a 503 / SOAP Server Fault) and which are the request's (a 400:
retrying can never succeed), rather than ours (a 500)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sf_edge.domain_errors import ConditionNotMet

# AWS error codes that say "not now": throttling, capacity, a service having a bad moment.
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "LimitExceededException",
        "TransactionConflictException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "KMSThrottlingException",
        "TooManyRequestsException",
    }
)
# AWS error codes that say the request itself cannot be served as sent (an item too large, a key value DynamoDB
# refuses): what the client sent must change.
CLIENT_FAULT_CODES = frozenset(
    {"ValidationException", "SerializationException", "ItemCollectionSizeLimitExceededException"}
)


def _code(error: BaseException) -> tuple[str, int]:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "")), int(
        response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    )


def is_transient(error: BaseException) -> bool:
    """AWS not answering now: throttling, 5xx, connection trouble, timeouts; Powertools' wrappers of those."""
    from botocore.exceptions import (
        ClientError,
        HTTPClientError,
        ReadTimeoutError,
    )
    from botocore.exceptions import (
        ConnectionError as BotoConnectionError,
    )

    if isinstance(error, ClientError):
        code, status = _code(error)
        return code in TRANSIENT_CODES or status >= 500
    if isinstance(error, BotoConnectionError | HTTPClientError | ReadTimeoutError | ConnectionError | TimeoutError):
        return True
    name = type(error).__name__
    if name in ("GetParameterError", "IdempotencyPersistenceLayerError"):
        # Powertools wraps whatever failed (raised inside its except: the context): a parameter that is not there,
        # or access denied, will not clear by retrying; throttling or a timeout will (and an unknown cause may).
        inner = error.__cause__ or error.__context__
        return inner is None or is_transient(inner)
    return error.__cause__ is not None and is_transient(error.__cause__)


def is_client_fault(error: BaseException) -> bool:
    """AWS refused what the request carried (DynamoDB's ValidationException and the like): a 400, never retried."""
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        return _code(error)[0] in CLIENT_FAULT_CODES
    return error.__cause__ is not None and is_client_fault(error.__cause__)


def conditional[T](write: Callable[..., T], **arguments: Any) -> T:
    """One conditional DynamoDB write (a Table's or a client's put, update or delete): its failed condition as the
    domain's ConditionNotMet, the one place ConditionalCheckFailedException is recognised; any other error as it
    is (a transaction's are read by `cancellation_reasons`)."""
    from botocore.exceptions import ClientError

    try:
        return write(**arguments)
    except ClientError as exc:
        if _code(exc)[0] == "ConditionalCheckFailedException":
            raise ConditionNotMet("the write's condition did not hold") from exc
        raise


# A cancelled transaction's reason for an action whose condition did not hold (another writer got there first).
CONDITION_FAILED = "ConditionalCheckFailed"


def cancellation_reasons(error: BaseException) -> list[str] | None:
    """Why DynamoDB cancelled a transaction: one reason code per action, in the order sent (`CONDITION_FAILED`,
    "TransactionConflict", ..., "None" for an action that was not the cause); None when `error` is not a cancelled
    transaction."""
    if _code(error)[0] != "TransactionCanceledException":
        return None
    reasons = getattr(error, "response", {}).get("CancellationReasons") or []
    return [str(r.get("Code") or "None") for r in reasons]


@dataclass(frozen=True)
class Triage:
    """What an unexpected error means for an HTTP answer: `refused` (400: what the request carried cannot be
    stored or looked up, never retried), `transient` (503 with Retry-After: the platform did not answer now) or
    `ours` (500). Each endpoint family words it in its own error shape."""

    kind: str
    status: int
    retry_after: int | None = None


def triage(error: BaseException) -> Triage:
    """The one answer to "whose fault, and worth a retry?" for an error an HTTP function did not expect."""
    if is_client_fault(error):
        return Triage("refused", 400)
    if is_transient(error):
        return Triage("transient", 503, retry_after=1)
    return Triage("ours", 500)
