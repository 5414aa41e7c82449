"""GET /api/v1/products/{productId}/availability: stock of a product."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from callout_routers import desk, responses
from sf_edge.callouts.contract import Availability

router = Router()  # type: ignore[no-untyped-call]


@router.get(
    "/products/<productId>/availability",
    operation_id="getProductAvailability",
    summary="Stock availability of a product",
    description="Units in stock and on order, reorder level, a stock status, and whether an optional quantity "
    "ships from stock.",
    responses=responses(Availability, "Availability", 404, 422),
    tags=["Products"],
)
def get_product_availability(
    productId: Annotated[int, Path(ge=1, le=2_147_483_647, description="Northwind ProductID", examples=[11])],
    quantity: Annotated[int | None, Query(ge=1, le=100_000, description="Units wanted")] = None,
) -> Availability:
    return desk(router).availability(productId, quantity)
