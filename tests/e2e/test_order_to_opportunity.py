"""The issue's whole loop through `make run`'s stack: a won Opportunity with three lines (the Salesforce stand-in
answering the line-item query) reaches the order system and the webhook target as a complete order; the order
system ships it (a Salesforce Connect edit of Orders__x, through the writable OData feed); Salesforce hears of it
as one Order_Status__e (published to the stand-in) and on the Opportunity's fields."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import LISTENER_WSDLS, TOKEN, orders_of, serving, wait_for
from local_runtime.aws_local import LocalAws
from salesforce_sender import SalesforceSender
from salesforce_stand_in import SalesforceStandIn, key_pair
from sf_edge.salesforce.ids import to_18
from test_odata_feed import get, send

OPPORTUNITY = to_18("0065g00000LoOp1")
PRIVATE_KEY, PUBLIC_KEY = key_pair()


@pytest.fixture
def org() -> Iterator[SalesforceStandIn]:
    stand_in = SalesforceStandIn(PUBLIC_KEY).start()
    yield stand_in
    stand_in.stop()


def test_a_won_opportunity_becomes_a_complete_order_everywhere_and_its_shipping_shows_on_the_opportunity(
    local_aws: LocalAws, org: SalesforceStandIn
) -> None:
    org.add_opportunity(OPPORTUNITY, [("NW-001", 10, 18.0, None), ("NW-011", 4, 21.0, 15.0), ("NW-060", 2, 34.0, 0)])
    with serving(local_aws, org.environment(PRIVATE_KEY), worker=True) as stack:
        assert stack.webhook is not None
        sender = SalesforceSender(
            LISTENER_WSDLS / "opportunity.wsdl", f"{stack.url}/outbound/opportunity?token={TOKEN}"
        )
        won = {"Id": OPPORTUNITY, "AccountId": to_18("0015g00000ALFKI"), "StageName": "Closed Won", "IsWon": True}
        assert sender.send([("04l5g00000LoOp1AAA", won)])
        [order] = wait_for(lambda: orders_of(stack, OPPORTUNITY))
        order_id = int(order["OrderID"])
        lines = wait_for(lambda: get(stack, f"/Order_Details?$filter=OrderID%20eq%20{order_id}")[2]["value"])
        assert sorted(line["ProductID"] for line in lines) == [1, 11, 60]
        [event] = wait_for(lambda: stack.webhook.received)
        assert len(event["detail"]["lines"]) == 3  # the user's system got the same complete order
        wait_for(lambda: org.records[("Opportunity", OPPORTUNITY)].get("ERP_Order_Id__c"))

        # The order system ships it: an edit of Orders__x in Salesforce Connect, with the ETag it read.
        status, headers, row = get(stack, f"/Orders({order_id})")
        assert (status, row["LinesStatus"]) == (200, "complete")
        shipped = {"ShippedDate": "2026-12-04T00:00:00Z", "Freight": 32.5}
        status, _, _ = send(stack, "PATCH", f"/Orders({order_id})", shipped, {"If-Match": headers["ETag"]})
        assert status == 204
        [published] = wait_for(lambda: [f for t, _, f in org.published if t == "Order_Status__e"], timeout=30)
        assert (published["Order_Id__c"], published["Status__c"], published["Shipped_Date__c"]) == (
            str(order_id),
            "Shipped",
            "2026-12-04",
        )
        assert published["Opportunity_Id__c"] == OPPORTUNITY
        record = org.records[("Opportunity", OPPORTUNITY)]
        wait_for(lambda: record.get("ERP_Order_Status__c"), timeout=30)
        opportunity = dict(record)
    assert (opportunity["ERP_Order_Status__c"], opportunity["ERP_Shipped_Date__c"]) == ("Shipped", "2026-12-04")
    assert opportunity["ERP_Freight__c"] == 32.5
    assert len([c for c in org.api_calls if "/query" in c[1]]) == 1  # the lines read once, for every target
