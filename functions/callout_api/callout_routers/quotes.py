"""POST /api/v1/quotes: price product lines for a customer."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from callout_routers import IdempotencyKey, answer_once, desk, responses
from sf_edge.callouts.contract import Quote, QuoteRequest

router = Router()  # type: ignore[no-untyped-call]


@router.post(
    "/quotes",
    operation_id="createQuote",
    summary="Price product lines for a customer",
    description="List prices from Products, quantity-break discounts per line (10+ units 5%, 50+ 10%, 100+ 15%), "
    "stock availability per line, subtotal, discount and total. Lines of the same product are combined. "
    "Send an Idempotency-Key header so that a retry "
    "after a timeout returns the same quote.",
    responses=responses(Quote, "The quote", 404, 409, 422, 415),
    tags=["Quotes"],
)
def create_quote(
    request: Annotated[QuoteRequest, Body(description="The customer and the product lines to price")],
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    return answer_once(router, "createQuote", idempotency_key, request, lambda: desk(router).quote(request))
