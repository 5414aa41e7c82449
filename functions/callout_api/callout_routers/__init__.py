"""One module per callout operation, each exposing `router`; callout_api includes them all under /api/v1."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header
from pydantic import BaseModel

from sf_edge.callouts.errors import ERROR_DESCRIPTIONS, ApiError
from sf_edge.callouts.idempotency import run_once
from sf_edge.callouts.order_desk import OrderDesk

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse


@cache
def desk() -> OrderDesk:
    """The order system, built on first use from the tables template.yaml names."""
    from sf_edge.aws.order_tables import order_desk_from_env

    return order_desk_from_env()


def idempotency_table() -> str:
    return os.environ.get("IDEMPOTENCY_TABLE", "IdempotencyTable")


def responses(model: type[BaseModel], description: str, *errors: int) -> dict[int, OpenAPIResponse]:
    """An operation's documented answers: 200 with `model`, and its errors (400, 401, 500, 503 always) as ApiError."""
    documented: dict[int, OpenAPIResponse] = {
        200: {"description": description, "content": {"application/json": {"model": model}}}
    }
    for status in sorted({400, 401, 500, 503, *errors}):
        documented[status] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"model": ApiError}},
        }
    return documented


# The header every POST operation takes so that an Apex retry after a timeout gets the first answer.
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", description="Client-chosen retry key", pattern=r"^[!-~]{1,255}$")
]


def answer_once(
    operation: str, key: str | None, request: BaseModel, compute: Callable[[], BaseModel], context: Any
) -> dict[str, Any]:
    """The operation's JSON answer, computed once per Idempotency-Key (fields without a value left out)."""
    return run_once(
        idempotency_table(),
        operation,
        key,
        request.model_dump(mode="json", by_alias=True),
        lambda: compute().model_dump(mode="json", by_alias=True, exclude_none=True),
        context,
    )
