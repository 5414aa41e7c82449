"""GET /api/v1/orders/{orderId}: an order with its lines and total."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from callout_routers import desk, responses
from sf_edge.callouts.contract import OrderView

router = Router()  # type: ignore[no-untyped-call]


@router.get(
    "/orders/<orderId>",
    operation_id="getOrder",
    summary="An order with its lines",
    description="Header, lines (product, unit price, quantity, discount, line total), status and total of an order.",
    responses=responses(OrderView, "The order", 404, 422),
    tags=["Orders"],
)
def get_order(
    orderId: Annotated[int, Path(ge=1, le=2_147_483_647, description="Northwind OrderID", examples=[10248])],
) -> OrderView:
    return desk(router).order(orderId)
