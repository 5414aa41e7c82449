"""POST /api/v1/addresses/validate: normalize and validate a postal address."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from callout_routers import IdempotencyKey, answer_once, responses
from sf_edge.callouts.addresses import validate_address
from sf_edge.callouts.contract import AddressRequest, AddressValidation

router = Router()  # type: ignore[no-untyped-call]


@router.post(
    "/addresses/validate",
    operation_id="validateAddress",
    summary="Normalize and validate a postal address",
    description="ISO 3166 country (code or name) and subdivision, required parts and postal-code formats of the "
    "main countries, and suggestions for what can be fixed. An address with problems is still a 200 with "
    "valid=false and its issues.",
    responses=responses(AddressValidation, "Validation result", 409, 415, 422),
    tags=["Addresses"],
)
def validate(
    request: Annotated[AddressRequest, Body(description="The address as entered")],
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    return answer_once(router, "validateAddress", idempotency_key, request, lambda: validate_address(request))
