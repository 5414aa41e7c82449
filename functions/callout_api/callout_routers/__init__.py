"""One module per callout operation, each exposing `router`; callout_api includes them all under /api/v1."""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

from pydantic import BaseModel

from sf_edge.callouts.errors import ERROR_DESCRIPTIONS, ApiError
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
    """An operation's documented answers: 200 with `model`, and its errors (400, 401, 500 always) as ApiError."""
    documented: dict[int, OpenAPIResponse] = {
        200: {"description": description, "content": {"application/json": {"model": model}}}
    }
    for status in sorted({400, 401, 500, *errors}):
        documented[status] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"model": ApiError}},
        }
    return documented
