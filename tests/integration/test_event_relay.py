"""Platform Events and Change Data Capture through Event Relay → EventBridge → SQS → the worker → the tables.

Event Relay itself cannot run here: the samples (events/samples/event_relay) are built from Salesforce's documented
Event Relay and Change Data Capture event shapes, put on the template's bus in moto with PutEvents, and moto's
rule delivers them to the relayed-event queue as EventBridge does.
"""

from __future__ import annotations

import copy
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from conftest import ROOT, Stack, run_worker_until_empty, seed_customers
from salesforce_stand_in import SalesforceStandIn, key_pair
from sf_edge.salesforce.ids import to_18
from sf_edge.salesforce.notification_message import RelayOrigin
from sf_edge.salesforce.relayed_events import RelayedEvent, notifications_of

SAMPLES = {p.stem: json.loads(p.read_text()) for p in (ROOT / "events" / "samples" / "event_relay").glob("*.json")}
BLAUS = to_18("0015g00000BlAuS")
FRANK = to_18("0015g00000FrAnK")


def put(stack: Stack, *events: dict[str, Any]) -> None:
    """Put events on the bus as Event Relay does (moto's rule forwards them to the relayed-event queue)."""
    import boto3

    from sf_edge.aws.clients import client_config

    client = boto3.client("events", config=client_config())
    entries = [
        {
            "Source": e["source"],
            "DetailType": e["detail-type"],
            "Detail": json.dumps(e["detail"]),
            "EventBusName": stack.name("SalesforceEventBus"),
        }
        for e in events
    ]
    assert client.put_events(Entries=entries)["FailedEntryCount"] == 0  # type: ignore[arg-type]


def relayed_worker(stack: Stack) -> Any:
    """The worker fed from the relayed-event queue, as the template's second SQS event source wires it."""
    from local_runtime.lambda_host import load_functions
    from local_runtime.sqs_worker import SqsEventSource

    spec = next(s for s in stack.template.functions() if s.logical_id == "NotificationWorkerFunction")
    [mapping] = [m for m in spec.sqs_sources if "RelayedEventQueue" in m["Queue"]]
    function = load_functions([spec])[spec.logical_id]
    queue = stack.template.physical["RelayedEventQueue"]
    return SqsEventSource(function, queue["Ref"], queue["Arn"], batch_size=int(mapping["BatchSize"]), retry_delay=0)


def customer(stack: Stack, customer_id: str) -> dict[str, Any]:
    return stack.table("CustomersTable").get_item(Key={"CustomerID": customer_id}).get("Item") or {}


def test_relayed_events_become_notifications_keyed_and_stamped_as_documented() -> None:
    """The contract the handlers and the idempotency rely on, read off the samples."""
    received = datetime(2026, 11, 20, 9, 0, 1, tzinfo=UTC)
    [created] = notifications_of(RelayedEvent.model_validate(SAMPLES["account_create"]), received)
    assert created.notification_id == "c1a3f0de-7a4b-4c55-9b1e-0d5f6a7b8c01"  # one record: the event's own id
    assert isinstance(created.origin, RelayOrigin)  # carried as what it is, no Outbound Message fields
    assert created.origin.schema_id == "5Bo2QANtgKOM2S5bVaTXAg"  # the schema the payload was written with
    assert created.origin.event_id == created.notification_id
    assert created.origin.channel == SAMPLES["account_create"]["source"].rsplit("/", 1)[1]
    assert created.change is not None
    assert created.change.stamp == "2026-11-20T09:00:00+00:00#000000001"  # LastModifiedDate (epoch ms), sequence
    assert (created.fields["BillingCity"], created.fields["BillingStreet"]) == ("Mannheim", "Forsterstr. 57")
    assert "BillingState" not in created.fields  # null in a CREATE: no value
    first, second = notifications_of(RelayedEvent.model_validate(SAMPLES["account_multi_update"]), received)
    assert (first.notification_id, second.notification_id) == (
        f"c1a3f0de-7a4b-4c55-9b1e-0d5f6a7b8c04/{BLAUS}",
        f"c1a3f0de-7a4b-4c55-9b1e-0d5f6a7b8c04/{FRANK}",
    )  # one idempotency key per record
    [request] = notifications_of(RelayedEvent.model_validate(SAMPLES["order_request_event"]), received)
    assert request.record_id == request.fields["EventUuid"] == "0b7f2c3e-5d6a-4e8f-9a1b-2c3d4e5f6a06"
    [deleted] = notifications_of(RelayedEvent.model_validate(SAMPLES["account_delete"]), received)
    assert deleted.change is not None
    assert deleted.change.stamp == "2026-11-20T11:00:00+00:00#000000001"  # no LastModifiedDate: the commit time


def test_a_change_is_stamped_by_the_records_modification_time_and_tolerates_a_null_compound_field() -> None:
    """Commit time and LastModifiedDate differ by milliseconds in a real org: the record's own time orders it (as an
    Outbound Message's does); a header without sequenceNumber counts as 0; a compound field sent as null is no
    value, not a crash."""
    event = copy.deepcopy(SAMPLES["account_update"])
    payload = event["detail"]["payload"]
    payload["ChangeEventHeader"]["commitTimestamp"] += 437
    del payload["ChangeEventHeader"]["sequenceNumber"]
    payload["BillingAddress"] = None
    payload["ChangeEventHeader"]["changedFields"].append("BillingAddress.City")
    [message] = notifications_of(RelayedEvent.model_validate(event), datetime.now(UTC))
    assert message.change is not None
    assert message.change.stamp == "2026-11-20T10:00:00+00:00#000000000"
    assert "BillingCity" not in message.fields
    assert message.fields["Phone"] == "0621-08461"


def test_each_sample_travels_bus_rule_queue_worker_to_the_tables(stack: Stack) -> None:
    seed_customers(stack)
    worker = relayed_worker(stack)
    put(stack, SAMPLES["account_create"])
    assert run_worker_until_empty(worker) == (1, 0)
    created = customer(stack, "BLAUS")  # linked by Account Number to Northwind's customer
    assert (created["Phone"], created["City"], created["Fax"]) == ("0621-08460", "Mannheim", "0621-08924")
    assert created["SalesforceAccountId"] == BLAUS
    put(stack, SAMPLES["account_update"])
    assert run_worker_until_empty(worker) == (1, 0)
    updated = customer(stack, "BLAUS")
    assert (updated["Phone"], updated["City"]) == ("0621-08461", "Heidelberg")
    assert "Fax" not in updated  # nulledFields
    assert updated["CompanyName"] == "Blauer See Delikatessen"  # null in the payload, but not changed: kept
    assert updated["Address"] == "Forsterstr. 57"
    put(stack, SAMPLES["account_multi_update"])
    assert run_worker_until_empty(worker) == (1, 0)
    assert customer(stack, "BLAUS")["Phone"] == "+49 621 0000"
    assert customer(stack, FRANK)["Phone"] == "+49 621 0000"  # not linked yet: a placeholder holds the change
    put(stack, SAMPLES["account_delete"])
    assert run_worker_until_empty(worker) == (1, 0)
    assert customer(stack, "BLAUS")["SalesforceDeleted"] is True
    put(stack, SAMPLES["account_gap_overflow"])
    assert run_worker_until_empty(worker) == (1, 0)
    marked = stack.table("NotificationArchiveTable").get_item(Key={"NotificationKey": "reconcile#Account/*"})["Item"]
    assert marked["ChangeType"] == "GAP_OVERFLOW"
    put(stack, SAMPLES["order_request_event"])
    assert run_worker_until_empty(worker) == (1, 0)
    [order] = stack.table("OrdersTable").scan(
        FilterExpression="SalesforceOpportunityId = :o", ExpressionAttributeValues={":o": to_18("0065g00000PeOrD")}
    )["Items"]
    assert (order["CustomerID"], order["SalesforceAmount"], order["OrderDate"]) == (
        "BLAUS",
        pytest.approx(1840.5),
        "2026-11-20T00:00:00Z",
    )


def test_a_replayed_event_is_applied_once(stack: Stack) -> None:
    """After an outage Event Relay replays stored events: EventBridge gives each relay a new id, the event keeps
    its own, and that is the idempotency key."""
    seed_customers(stack)
    worker = relayed_worker(stack)
    put(stack, SAMPLES["order_request_event"])
    put(stack, SAMPLES["order_request_event"])
    assert run_worker_until_empty(worker) == (2, 0)
    orders = stack.table("OrdersTable").scan(
        FilterExpression="SalesforceOpportunityId = :o", ExpressionAttributeValues={":o": to_18("0065g00000PeOrD")}
    )["Items"]
    assert len(orders) == 1
    assert len(stack.table("IdempotencyTable").scan()["Items"]) == 1  # one key: the event's own id
    write_backs = [json.loads(m["Body"]) for m in stack.drain(stack.name("WriteBackQueue"))]
    assert {(w["record_id"], w["fields"]["ERP_Order_Id__c"]) for w in write_backs} == {
        (to_18("0065g00000PeOrD"), str(orders[0]["OrderID"]))
    }  # the Opportunity learns its order number as after an Outbound Message (once per delivery, same values)


def test_an_unknown_event_type_goes_to_the_recording_handler_with_its_unknown_fields(stack: Stack) -> None:
    event = copy.deepcopy(SAMPLES["order_request_event"])
    event["detail-type"] = "Shipment_Delay__e"
    event["detail"]["payload"] = {"Carrier__c": "Speedy Express", "Days__c": 3, "EventUuid": "9e1f"}
    event["detail"]["id"] = "9e1f"
    event["detail"]["somethingNew"] = {"kept": True}
    worker = relayed_worker(stack)
    put(stack, event)
    assert run_worker_until_empty(worker) == (1, 0)
    [kept] = [
        i for i in stack.table("NotificationArchiveTable").scan()["Items"] if i["SObjectType"] == "Shipment_Delay__e"
    ]
    assert json.loads(kept["Message"])["fields"] == {"Carrier__c": "Speedy Express", "Days__c": 3, "EventUuid": "9e1f"}
    assert kept["Why"] == "no handler registered"
    relayed = RelayedEvent.model_validate(event | {"time": "2026-11-20T09:30:01Z"})
    assert relayed.detail.model_extra == {"somethingNew": {"kept": True}}


def test_an_event_from_another_source_is_refused_and_dead_lettered(stack: Stack) -> None:
    """The rule only forwards Salesforce's partner sources; a body that is not one fails in the worker."""
    from sf_edge.aws.clients import sqs_client

    event = copy.deepcopy(SAMPLES["account_create"]) | {"source": "com.example.forged"}
    sqs_client().send_message(QueueUrl=stack.name("RelayedEventQueue"), MessageBody=json.dumps(event))
    worker = relayed_worker(stack)
    for _ in range(int(stack.template.parameters["MaxReceiveCount"])):
        assert worker.poll_once().failed == 1
    assert worker.poll_once().received == 0
    assert stack.queue_depth(stack.name("RelayedEventDeadLetterQueue")) == 1
    assert customer(stack, "BLAUS") == {}


# Convergence: any order, any duplicates.


def account_changes(n: int) -> list[dict[str, Any]]:
    """CREATE, two UPDATEs and a DELETE of one Account (its own ids per n), an hour apart."""
    account = to_18(f"0015g00000{n:05d}")
    t0 = 1795165200000  # 2026-11-20T09:00:00Z
    hour = 3600000

    def event(k: int, change: str, payload: dict[str, Any], **header: Any) -> dict[str, Any]:
        e = copy.deepcopy(SAMPLES["account_create"])
        e["id"] = f"eb-{n}-{k}"
        e["detail"]["id"] = f"evt-{n}-{k}"
        base = e["detail"]["payload"]["ChangeEventHeader"]
        e["detail"]["payload"] = {
            "ChangeEventHeader": base
            | {
                "recordIds": [account],
                "changeType": change,
                "commitTimestamp": t0 + k * hour,
                "transactionKey": f"tx-{n}-{k}",
            }
            | header,
            **payload,
        }
        return e

    return [
        event(
            0,
            "CREATE",
            {
                "Name": f"Account {n}",
                "AccountNumber": f"PERM{n}",
                "Phone": "1",
                "Fax": "9",
                "BillingAddress": {"City": "Berlin", "Street": "Unter den Linden 1"},
                "LastModifiedDate": t0,
            },
        ),
        event(
            1,
            "UPDATE",
            {"Name": None, "Phone": "2", "LastModifiedDate": t0 + hour},
            changedFields=["Phone", "LastModifiedDate"],
        ),
        event(
            2,
            "UPDATE",
            {"Fax": None, "BillingAddress": {"City": "Hamburg", "Street": None}, "LastModifiedDate": t0 + 2 * hour},
            changedFields=["BillingAddress.City", "LastModifiedDate"],
            nulledFields=["Fax"],
        ),
        event(3, "DELETE", {}),
    ]


def apply_directly(stack: Stack, events: list[dict[str, Any]]) -> None:
    """The handlers themselves (the worker's idempotency off), so a redelivery really runs again."""
    from conftest import worker_services
    from sf_edge.notifications.reference_handlers import registry

    services = worker_services()
    for event in events:
        relayed = RelayedEvent.model_validate(event | {"time": "2026-11-20T09:00:01Z"})
        for message in notifications_of(relayed, received_at=datetime.now(UTC)):
            registry.dispatch(message, services)


def state(stack: Stack, n: int) -> dict[str, Any]:
    item = dict(customer(stack, f"PERM{n}"))
    item.pop("_v", None)
    return item


def test_every_order_and_duplication_of_create_update_update_delete_converges(stack: Stack) -> None:
    expected: dict[str, Any] | None = None
    for n, order in enumerate(itertools.permutations(range(4))):
        events = account_changes(n)
        delivered = [events[i] for i in order] + [events[order[0]], events[order[2]]]  # two redeliveries
        apply_directly(stack, delivered)
        got = state(stack, n)
        account = to_18(f"0015g00000{n:05d}")
        assert customer(stack, account) == {}, f"placeholder left behind for order {order}"
        normalized = {k: v for k, v in got.items() if k not in ("CustomerID", "SalesforceAccountId", "CompanyName")}
        assert got["CompanyName"] == f"Account {n}", order
        assert (got["Phone"], got["City"], got["Address"], got.get("Fax")) == (
            "2",
            "Hamburg",
            "Unter den Linden 1",
            None,
        ), order
        assert got["SalesforceDeleted"] is True, order
        normalized["FieldStamps"] = dict(sorted(normalized["FieldStamps"].items()))
        if expected is None:
            expected = normalized
        assert normalized == expected, order


def test_an_update_never_nulls_the_fields_it_did_not_change(stack: Stack) -> None:
    create, update, _, _ = account_changes(500)
    apply_directly(stack, [create, update])
    after = state(stack, 500)
    assert (after["CompanyName"], after["Fax"], after["City"], after["Phone"]) == ("Account 500", "9", "Berlin", "2")


# Gap events.


def gap(kind: str, account: str) -> dict[str, Any]:
    event = copy.deepcopy(SAMPLES["account_update"])
    event["detail"]["id"] = f"gap-{kind}-{account}"
    event["detail"]["payload"] = {
        "ChangeEventHeader": event["detail"]["payload"]["ChangeEventHeader"]
        | {"changeType": kind, "recordIds": [account], "changedFields": [], "nulledFields": []}
    }
    return event


def test_a_gap_event_without_a_salesforce_client_marks_the_record_and_counts_it(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    worker = relayed_worker(stack)
    put(stack, gap("GAP_UPDATE", BLAUS))
    assert run_worker_until_empty(worker) == (1, 0)
    item = stack.table("NotificationArchiveTable").get_item(Key={"NotificationKey": f"reconcile#Account/{BLAUS}"})
    assert item["Item"]["ChangeType"] == "GAP_UPDATE"
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"RecordsToReconcile"' in line]
    assert metrics[0]["RecordsToReconcile"] == [1.0]


def test_a_gap_event_rereads_the_record_through_the_salesforce_client(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The remote call-in client reads the Account as it is now (sObject Collections retrieve) and applies it."""
    import notification_worker

    private, public = key_pair()
    org = SalesforceStandIn(public).start()
    try:
        org.add("Account", BLAUS, Name="Blauer See Feinkost", AccountNumber="BLAUS", Phone="0621-99999",
                BillingCity="Mannheim", SystemModstamp="2026-11-21T08:00:00.000+0000")  # fmt: skip
        seed_customers(stack)
        worker = relayed_worker(stack)  # sets the template's environment, as a container starts with it
        notification_worker.worker.configure(
            **org.sign_in(private, "integration@northwind.example"),
        )
        put(stack, gap("GAP_UPDATE", BLAUS), gap("GAP_DELETE", FRANK))
        assert run_worker_until_empty(worker) == (2, 0)
    finally:
        org.stop()
    reread = customer(stack, "BLAUS")
    assert (reread["CompanyName"], reread["Phone"], reread["City"]) == ("Blauer See Feinkost", "0621-99999", "Mannheim")
    assert customer(stack, FRANK)["SalesforceDeleted"] is True  # Salesforce has no such record any more
    reads = [c for c in org.api_calls if c[1].endswith("/composite/sobjects/Account")]
    assert [(method, status) for method, _, status in reads] == [("GET", 200), ("GET", 200)]


# Both channels.


def test_the_same_change_through_an_outbound_message_and_cdc_lands_once(stack: Stack) -> None:
    """An org moving from Outbound Messages to CDC sends one change both ways: one Customer, one state."""
    from test_worker import message as notification

    seed_customers(stack)
    from conftest import worker_services
    from sf_edge.notifications.reference_handlers import registry

    services = worker_services()
    om = notification(
        "04l5g00000BlAuS01A",
        "Account",
        {
            "Id": BLAUS,
            "Name": "Blauer See Delikatessen",
            "AccountNumber": "BLAUS",
            "Phone": "0621-08461",
            "BillingCity": "Heidelberg",
            "LastModifiedDate": "2026-11-20T10:00:00+00:00",
        },
        null_fields=["Fax"],
    )
    first = registry.dispatch(om, services)
    after_om = dict(customer(stack, "BLAUS"))
    apply_directly(stack, [SAMPLES["account_update"]])  # the same change (LastModifiedDate 10:00) by CDC
    after_both = dict(customer(stack, "BLAUS"))
    assert first["action"] == "customer_upserted"
    for column in ("CompanyName", "Phone", "City", "Fax", "SalesforceAccountId"):
        assert after_both.get(column) == after_om.get(column), column
    linked = [c for c in stack.table("CustomersTable").scan()["Items"] if c.get("SalesforceAccountId") == BLAUS]
    assert [c["CustomerID"] for c in linked] == ["BLAUS"]


def test_a_won_opportunity_and_its_order_request_event_make_one_order(stack: Stack) -> None:
    from conftest import worker_services
    from sf_edge.notifications.reference_handlers import registry
    from test_worker import message as notification

    seed_customers(stack)
    services = worker_services()
    opportunity = to_18("0065g00000PeOrD")
    won = notification(
        "04l5g00000PeOrD01A",
        "Opportunity",
        {"Id": opportunity, "AccountId": BLAUS, "StageName": "Closed Won", "IsWon": True, "Amount": 1840.5},
    )
    first = registry.dispatch(won, services)
    apply_directly(stack, [SAMPLES["order_request_event"]])
    orders = stack.table("OrdersTable").scan(
        FilterExpression="SalesforceOpportunityId = :o", ExpressionAttributeValues={":o": opportunity}
    )["Items"]
    assert [o["OrderID"] for o in orders] == [first["orderId"]]
