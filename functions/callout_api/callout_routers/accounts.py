"""GET /api/v1/accounts/{accountId}/credit: credit status from the customer's open orders."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from callout_routers import desk, responses
from sf_edge.callouts.contract import CreditStatus

router = Router()  # type: ignore[no-untyped-call]


@router.get(
    "/accounts/<accountId>/credit",
    operation_id="getAccountCredit",
    summary="Credit status of an account",
    description="Credit limit, exposure (value of open, unshipped orders), available credit, and a decision "
    "(APPROVE, REVIEW or DECLINE) with its reasons. The account is a Northwind CustomerID or the Salesforce "
    "Account Id linked to it.",
    responses=responses(CreditStatus, "Credit status", 404, 422),
    tags=["Accounts"],
)
def get_account_credit(
    accountId: Annotated[
        str,
        Path(
            pattern=r"^[A-Za-z0-9]{1,18}$",
            description="CustomerID or Salesforce Account Id",
            examples=["ALFKI"],
        ),
    ],
) -> CreditStatus:
    return desk(router).credit(accountId)
