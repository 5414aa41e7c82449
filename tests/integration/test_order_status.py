"""UI update on data change: an Order that Salesforce created changes in the order system → one Order_Status__e
Platform Event published to the stand-in org (sObject Collections create), once per change, and the
Opportunity's integration fields written back; refused publishes retried later, nothing lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from conftest import Stack, run_worker_until_empty
from salesforce_stand_in import SalesforceStandIn, key_pair
from sf_edge.row_version import VERSION
from sf_edge.salesforce.ids import to_18

OPPORTUNITY = to_18("0065g00000Won01")


@dataclass
class Publisher:
    """The order-status function fed by the Orders stream and by its queue, as template.yaml wires it."""

    stack: Stack
    org: SalesforceStandIn
    stream: Any
    queue: Any

    def deliver(self) -> int:
        """Every stream record so far, then the queue until empty; how many queue messages were done."""
        self.stream.drain()
        return run_worker_until_empty(self.queue)[0]

    def published(self) -> list[dict[str, Any]]:
        return [fields for sobject, _, fields in self.org.published if sobject == "Order_Status__e"]


@pytest.fixture
def publisher(stack: Stack) -> Iterator[Publisher]:
    from local_runtime.lambda_host import load_functions
    from local_runtime.sqs_worker import SqsEventSource
    from local_runtime.stream_worker import StreamEventSource

    private, public = key_pair()
    org = SalesforceStandIn(public).start()
    spec = next(s for s in stack.template.functions() if s.logical_id == "OrderStatusFunction")
    function = load_functions([spec])[spec.logical_id]
    [stream] = spec.stream_sources
    [mapping] = spec.sqs_sources
    queue = stack.template.physical["OrderStatusQueue"]
    import order_status

    order_status.publisher.configure(**org.sign_in(private, "integration@northwind.example"))
    try:
        yield Publisher(
            stack,
            org,
            StreamEventSource(function, stream["Stream"], int(stream["BatchSize"])),
            SqsEventSource(function, queue["Ref"], queue["Arn"], batch_size=int(mapping["BatchSize"]), retry_delay=0),
        )
    finally:
        org.stop()


def an_order(stack: Stack, order_id: int = 11078, opportunity_id: str | None = OPPORTUNITY, **more: Any) -> None:
    item: dict[str, Any] = {"OrderID": order_id, "CustomerID": "ALFKI", VERSION: 1, **more}
    if opportunity_id:
        item["SalesforceOpportunityId"] = opportunity_id
    stack.table("OrdersTable").put_item(Item=item)


def ship(stack: Stack, order_id: int = 11078, **columns: Any) -> None:
    """What the order system does when an Order ships (an OData PATCH moves the row version the same way)."""
    names = {f"#c{i}": c for i, c in enumerate(columns)}
    values = {f":c{i}": v for i, v in enumerate(columns.values())}
    stack.table("OrdersTable").update_item(
        Key={"OrderID": order_id},
        UpdateExpression="SET "
        + ", ".join(f"{n} = {v}" for n, v in zip(names, values, strict=True))
        + ", #v = #v + :one",
        ExpressionAttributeNames=names | {"#v": VERSION},
        ExpressionAttributeValues=values | {":one": 1},
    )


def test_an_order_shipped_publishes_one_order_status_event_and_writes_the_opportunity_back(
    stack: Stack, publisher: Publisher
) -> None:
    an_order(stack)
    publisher.stream.drain()  # the Order's creation: Salesforce made it, nothing to tell
    ship(stack, ShippedDate="2026-12-04T00:00:00Z", Freight=32)
    assert publisher.deliver() == 1
    [event] = publisher.published()
    assert event == {
        "Order_Id__c": "11078",
        "Opportunity_Id__c": OPPORTUNITY,
        "Status__c": "Shipped",
        "Shipped_Date__c": "2026-12-04",
        "Freight__c": 32.0,
        "Change_Key__c": "11078#2",
        "Changed_At__c": event["Changed_At__c"],
    }
    [(_, event_uuid, _)] = publisher.org.published
    ledger = stack.table("PublishedEventsTable").get_item(Key={"EventKey": "11078#2"})["Item"]
    assert ledger["EventUuid"] == event_uuid  # the OPERATION_ENQUEUED answer, kept
    [write_back] = [json.loads(m["Body"]) for m in stack.drain(stack.name("WriteBackQueue"))]
    assert (write_back["sobject"], write_back["record_id"]) == ("Opportunity", OPPORTUNITY)
    assert write_back["fields"] == {
        "ERP_Order_Status__c": "Shipped",
        "ERP_Shipped_Date__c": "2026-12-04",
        "ERP_Freight__c": 32.0,
    }


def test_the_same_stream_record_redelivered_is_not_published_twice(stack: Stack, publisher: Publisher) -> None:
    an_order(stack)
    publisher.stream.drain()
    ship(stack, ShippedDate="2026-12-04T00:00:00Z")
    records: list[dict[str, Any]] = []
    real = publisher.stream._invoke

    def keep(batch: list[dict[str, Any]]) -> Any:
        records.extend(batch)
        return real(batch)

    publisher.stream._invoke = keep
    publisher.stream.drain()
    real(list(records))  # Lambda delivers the batch again (a timeout after it had queued it)
    assert run_worker_until_empty(publisher.queue) == (2, 0)  # both messages done: the second found published
    assert len(publisher.published()) == 1
    assert run_worker_until_empty(publisher.queue) == (0, 0)


def test_a_publish_refused_with_limit_exceeded_is_retried_later_and_nothing_is_lost(
    stack: Stack, publisher: Publisher
) -> None:
    an_order(stack, 11078)
    an_order(stack, 11079, to_18("0065g00000Won02"))
    publisher.stream.drain()
    publisher.org.publish_remaining = 1  # one event left this hour
    ship(stack, 11078, ShippedDate="2026-12-04T00:00:00Z")
    ship(stack, 11079, Freight=12)
    publisher.stream.drain()
    first = publisher.queue.poll_once()
    assert (first.received, first.succeeded, first.failed) == (2, 1, 1)  # LIMIT_EXCEEDED: it stays on the queue
    assert len(publisher.published()) == 1
    publisher.org.publish_remaining = 100  # the hour turned
    assert run_worker_until_empty(publisher.queue) == (1, 0)
    assert sorted(e["Order_Id__c"] for e in publisher.published()) == ["11078", "11079"]


def test_changes_are_published_two_hundred_a_call(stack: Stack, publisher: Publisher) -> None:
    with stack.table("OrdersTable").batch_writer() as batch:
        for n in range(450):
            batch.put_item(Item={"OrderID": 20000 + n, "CustomerID": "ALFKI", VERSION: 1,
                                 "SalesforceOpportunityId": to_18(f"0065g0000W{n:05d}")})  # fmt: skip
    publisher.stream.drain()
    for n in range(450):
        ship(stack, 20000 + n, Freight=n)
    publisher.stream.batch_size = 500
    publisher.deliver()
    assert len(publisher.published()) == 450
    creates = [c for c in publisher.org.api_calls if c[0] == "POST" and c[1].endswith("/composite/sobjects")]
    assert len(creates) == 3  # 200 + 200 + 50


def test_only_what_salesforce_hears_of_is_published(stack: Stack, publisher: Publisher) -> None:
    an_order(stack, 11078)
    an_order(stack, 10248, opportunity_id=None)  # a Northwind Order: not Salesforce's
    publisher.stream.drain()
    ship(stack, 10248, ShippedDate="2026-12-04T00:00:00Z")
    ship(stack, 11078, ShipName="Alfreds Futterkiste")  # a column Salesforce is not told of
    assert publisher.deliver() == 0
    assert publisher.published() == []
    stack.table("OrdersTable").delete_item(Key={"OrderID": 11078})
    assert publisher.deliver() == 1
    [event] = publisher.published()
    assert (event["Status__c"], event["Change_Key__c"]) == ("Deleted", "11078#3")


def test_the_hourly_publishing_allocation_is_reported(
    stack: Stack, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    import order_status

    reported: dict[str, float] = {}
    monkeypatch.setattr(order_status.metrics, "add_metric", lambda name, unit, value: reported.update({name: value}))
    publisher.org.publish_allocation, publisher.org.publish_remaining = 1000, 151
    an_order(stack)
    publisher.stream.drain()
    ship(stack, ShippedDate="2026-12-04T00:00:00Z")
    publisher.deliver()
    assert reported["PlatformEventPublishRemaining"] == 150
    assert reported["PlatformEventPublishUsedPercent"] == 85.0  # the alarm's threshold is 80


def test_without_salesforce_nothing_is_queued(stack: Stack, publisher: Publisher) -> None:
    import order_status

    order_status.publisher.configure(salesforce_login_url="")
    an_order(stack)
    publisher.stream.drain()
    ship(stack, ShippedDate="2026-12-04T00:00:00Z")
    assert publisher.deliver() == 0
    assert stack.queue_depth(stack.name("OrderStatusQueue")) == 0
