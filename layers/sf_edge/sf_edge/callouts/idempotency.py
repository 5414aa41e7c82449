"""`Idempotency-Key` on POST callouts: an Apex retry after a timeout gets the first answer, not a second action.

Powertools idempotency over DynamoDB, keyed on the operation and the header; the same key with a different body
is a 409, as is a key whose first request is still running. Without the header a request simply runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from sf_edge.callouts.errors import ApiProblem, FieldError

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
TTL_SECONDS = 24 * 3600


@cache
def _persistence(table_name: str) -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=table_name)


def run_once(
    table_name: str,
    operation: str,
    key: str | None,
    payload: dict[str, Any],
    compute: Callable[[], dict[str, Any]],
    context: Any = None,
) -> dict[str, Any]:
    """compute() the first time (operation, key) is seen, the stored result afterwards."""
    if key is None:
        return compute()
    if not KEY_PATTERN.match(key):
        raise ApiProblem(
            400,
            "INVALID_IDEMPOTENCY_KEY",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
            [FieldError(field="Idempotency-Key", code="pattern", message="1-255 visible ASCII characters")],
        )
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = IdempotencyConfig(
        event_key_jmespath="[operation, key]", payload_validation_jmespath="payload", expires_after_seconds=TTL_SECONDS
    )
    if context is not None:
        config.register_lambda_context(context)  # an in-progress record expires if the invocation times out

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="request", config=config, persistence_store=_persistence(table_name)
    )
    def once(request: dict[str, Any]) -> dict[str, Any]:
        return compute()

    try:
        result: dict[str, Any] = once(request={"operation": operation, "key": key, "payload": payload})
    except IdempotencyValidationError:
        raise ApiProblem(
            409, "IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was used with a different request body"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise ApiProblem(409, "REQUEST_IN_PROGRESS", "A request with this Idempotency-Key is still running") from None
    return result
