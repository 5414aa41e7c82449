"""An Opportunity's line items, read in one REST call: a SOQL query with the OpportunityLineItems child
sub-query (Product2.ProductCode, Quantity, UnitPrice, Discount), its further pages followed when an Opportunity
has more lines than one page holds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from sf_edge.salesforce import SalesforceCallError
from sf_edge.salesforce.ids import is_salesforce_id

# The child sub-query: each line's product code, quantity, price and discount, in the Opportunity's order.
_LINES = (
    "SELECT Id, Product2.ProductCode, Quantity, UnitPrice, Discount FROM OpportunityLineItems ORDER BY SortOrder, Id"
)


class LineItem(BaseModel):
    """One OpportunityLineItem as the edge reads it (`discount` is Salesforce's percent, 0 to 100)."""

    model_config = ConfigDict(frozen=True)

    id: str
    product_code: str | None
    quantity: Decimal | None
    unit_price: Decimal | None
    discount: Decimal | None = None


class QueryClient(Protocol):
    """What the reader needs of the call-in client (salesforce.rest_client.SalesforceClient)."""

    def query(self, soql: str) -> dict[str, Any]: ...

    def query_more(self, next_records_url: str) -> dict[str, Any]: ...


class OpportunityNotFoundError(SalesforceCallError, LookupError):
    """Salesforce has no such Opportunity (deleted since the notification, or not visible to the user)."""


def line_items_soql(opportunity_id: str) -> str:
    """The query: the Opportunity with its lines, in the order the Opportunity shows them."""
    if not is_salesforce_id(opportunity_id):
        raise ValueError(f"not a Salesforce id: {opportunity_id!r}")  # never spliced into SOQL unchecked
    return f"SELECT Id, ({_LINES}) FROM Opportunity WHERE Id = '{opportunity_id}'"  # noqa: S608 - a checked id


class SalesforceLineItems:
    """Reads an Opportunity's lines through the call-in client."""

    def __init__(self, client: QueryClient) -> None:
        self.client = client

    def line_items(self, opportunity_id: str) -> list[LineItem]:
        """Every line of the Opportunity (none: an empty list); OpportunityNotFoundError: no such Opportunity."""
        answer = self.client.query(line_items_soql(opportunity_id))
        records = answer["records"]
        if not records:
            raise OpportunityNotFoundError(opportunity_id)
        page = records[0].get("OpportunityLineItems")
        lines: list[LineItem] = []
        while page:
            lines.extend(_line(record) for record in page.get("records") or [])
            more = page.get("nextRecordsUrl")
            page = self.client.query_more(more) if not page.get("done", True) and more else None
        return lines


def _line(record: dict[str, Any]) -> LineItem:
    product = record.get("Product2") or {}
    return LineItem(
        id=str(record.get("Id", "")),
        product_code=product.get("ProductCode"),
        quantity=_decimal(record.get("Quantity")),
        unit_price=_decimal(record.get("UnitPrice")),
        discount=_decimal(record.get("Discount")),
    )


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class RememberedLineItems:
    """Reads an Opportunity's lines once while one record is handled: the hub's event and the order system's
    Order use the same read (`forget` between records)."""

    def __init__(self, reader: SalesforceLineItems) -> None:
        self.reader = reader
        self._read: dict[str, list[LineItem]] = {}

    def line_items(self, opportunity_id: str) -> list[LineItem]:
        if opportunity_id not in self._read:
            self._read[opportunity_id] = self.reader.line_items(opportunity_id)
        return list(self._read[opportunity_id])

    def forget(self) -> None:
        self._read.clear()
