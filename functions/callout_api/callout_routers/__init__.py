"""One module per callout operation, each exposing `router`; callout_api includes them all under /api/v1 and hands
them its composed services (`CalloutServices`) with every request, through the routers' shared context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header
from pydantic import BaseModel

from sf_edge.callouts.auth import CalloutAuthenticator
from sf_edge.callouts.errors import ERROR_DESCRIPTIONS, ApiError
from sf_edge.callouts.idempotency import run_once
from sf_edge.callouts.order_desk import OrderDesk

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import Router
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

CONTEXT_KEY = "callouts"


@dataclass
class CalloutServices:
    """What the operations use, composed once per container by callout_api."""

    desk: OrderDesk
    authenticator: CalloutAuthenticator
    idempotency_table: str


def services(router: Router) -> CalloutServices:
    """The services callout_api handed to this request (`app.append_context`)."""
    found: CalloutServices = router.context[CONTEXT_KEY]
    return found


def desk(router: Router) -> OrderDesk:
    """The order system, as composed for this function."""
    return services(router).desk


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
    router: Router, operation: str, key: str | None, request: BaseModel, compute: Callable[[], BaseModel]
) -> dict[str, Any]:
    """The operation's JSON answer, computed once per Idempotency-Key (fields without a value left out)."""
    return run_once(
        services(router).idempotency_table,
        operation,
        key,
        request.model_dump(mode="json", by_alias=True),
        lambda: compute().model_dump(mode="json", by_alias=True, exclude_none=True),
        router.lambda_context,
    )
