"""The worker: routing, the reference handlers on the order system, exactly-once, partial failures and the DLQ."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from conftest import ROOT, Stack, run_worker_until_empty, seed_customers, worker_source
from sf_edge.aws.clients import sqs_client
from sf_edge.salesforce.ids import to_18
from sf_edge.salesforce.notification_message import NotificationMessage, OutboundOrigin

ORG = "00D000000000001EAA"


def message(
    notification_id: str,
    sobject_type: str,
    fields: dict[str, Any],
    *,
    listener: str | None = None,
    null_fields: list[str] | None = None,
    session_id: str | None = None,
    partner_url: str = "https://example.my.salesforce.com/services/Soap/u/62.0",
) -> NotificationMessage:
    return NotificationMessage(
        listener=listener or sobject_type.lower(),
        organization_id=ORG,
        notification_id=notification_id,
        sObjectType=sobject_type,
        record_id=fields["Id"],
        fields=fields,
        null_fields=null_fields or [],
        received_at=datetime.now(UTC),
        origin=OutboundOrigin(
            action_id="04k000000000001AAA",
            enterprise_url=partner_url.replace("/Soap/u/", "/Soap/c/"),
            partner_url=partner_url,
            session_id=session_id,
        ),
    )


def enqueue(stack: Stack, *messages: NotificationMessage | str) -> None:
    for m in messages:
        sqs_client().send_message(QueueUrl=stack.queue_url, MessageBody=m if isinstance(m, str) else m.to_json())


ALFKI_ACCOUNT = {
    "Id": to_18("0015g00000AlFkI"),
    "Name": "Alfreds Futterkiste GmbH",
    "AccountNumber": "ALFKI",
    "BillingCity": "Berlin",
    "Phone": "030-0074321",
}


def won(
    notification_id: str = "04l000000000001AAA",
    opportunity_id: str = "0065g00000Won01AAA",
    account_id: str = ALFKI_ACCOUNT["Id"],
) -> NotificationMessage:
    return message(
        notification_id,
        "Opportunity",
        {
            "Id": opportunity_id,
            "AccountId": account_id,
            "StageName": "Closed Won",
            "IsWon": True,
            "Amount": 1234.5,
            "CloseDate": "2024-06-30",
            "Name": "Big deal",
        },
    )


@pytest.fixture
def seeded(stack: Stack) -> Stack:
    seed_customers(stack)
    return stack


def test_account_links_to_existing_customer_by_account_number(seeded: Stack) -> None:
    enqueue(seeded, message("04l000000000009AAA", "Account", ALFKI_ACCOUNT))
    assert run_worker_until_empty(worker_source(seeded)) == (1, 0)
    customer = seeded.table("CustomersTable").get_item(Key={"CustomerID": "ALFKI"})["Item"]
    assert customer["CompanyName"] == "Alfreds Futterkiste GmbH"
    assert customer["SalesforceAccountId"] == ALFKI_ACCOUNT["Id"]
    assert customer["ContactName"] == "Maria Anders"  # Northwind data the Account does not carry is kept
    assert len(seeded.table("CustomersTable").scan()["Items"]) == 91  # linked, not duplicated


def test_closed_won_creates_one_order_for_the_customer(seeded: Stack) -> None:
    enqueue(seeded, message("04l000000000009AAA", "Account", ALFKI_ACCOUNT))
    run_worker_until_empty(worker_source(seeded))
    enqueue(seeded, won())
    assert run_worker_until_empty(worker_source(seeded)) == (1, 0)
    [order] = seeded.table("OrdersTable").scan()["Items"]
    assert order["OrderID"] == 11078
    assert order["CustomerID"] == "ALFKI"
    assert order["ShipName"] == "Alfreds Futterkiste GmbH"
    assert order["ShipCity"] == "Berlin"
    assert order["OrderDate"] == "2024-06-30T00:00:00Z"
    assert str(order["SalesforceAmount"]) == "1234.5"


def test_a_notification_is_remembered_for_a_week_past_salesforces_day_of_retries(seeded: Stack) -> None:
    """Salesforce retries for 24 hours; the idempotency record must outlive that (7 days), or a late duplicate
    would be applied again."""
    import time

    enqueue(seeded, won())
    before = time.time()
    assert run_worker_until_empty(worker_source(seeded)) == (1, 0)
    [record] = seeded.table("IdempotencyTable").scan()["Items"]
    assert before + 7 * 86400 - 5 <= int(record["expiration"]) <= time.time() + 7 * 86400 + 5


def test_same_notification_twice_is_applied_once(seeded: Stack) -> None:
    enqueue(seeded, won(), won())
    assert run_worker_until_empty(worker_source(seeded)) == (2, 0)
    assert len(seeded.table("OrdersTable").scan()["Items"]) == 1
    assert len(seeded.table("IdempotencyTable").scan()["Items"]) == 1


def test_another_notification_for_the_same_opportunity_does_not_create_a_second_order(seeded: Stack) -> None:
    enqueue(seeded, won("04l000000000001AAA"), won("04l000000000002AAA"))
    assert run_worker_until_empty(worker_source(seeded)) == (2, 0)
    assert len(seeded.table("OrdersTable").scan()["Items"]) == 1
    assert len(seeded.table("IdempotencyTable").scan()["Items"]) == 2


def test_opportunity_before_its_account_gets_a_placeholder_that_the_account_fills(seeded: Stack) -> None:
    new_account = {"Id": to_18("0015g00000NeWaC"), "Name": "Brand New Ltd", "BillingCity": "Leeds"}
    enqueue(seeded, won(account_id=new_account["Id"]))
    run_worker_until_empty(worker_source(seeded))
    [order] = seeded.table("OrdersTable").scan()["Items"]
    assert order["CustomerID"] == new_account["Id"]
    enqueue(seeded, message("04l000000000010AAA", "Account", new_account))
    run_worker_until_empty(worker_source(seeded))
    customer = seeded.table("CustomersTable").get_item(Key={"CustomerID": new_account["Id"]})["Item"]
    assert (customer["CompanyName"], customer["City"]) == ("Brand New Ltd", "Leeds")


def test_other_stages_change_nothing(seeded: Stack) -> None:
    open_opportunity = won()
    fields = {**open_opportunity.fields, "StageName": "Prospecting", "IsWon": False}
    enqueue(seeded, open_opportunity.model_copy(update={"fields": fields}))
    assert run_worker_until_empty(worker_source(seeded)) == (1, 0)
    assert seeded.table("OrdersTable").scan()["Items"] == []


def test_null_fields_clear_customer_columns(seeded: Stack) -> None:
    enqueue(seeded, message("04l000000000009AAA", "Account", ALFKI_ACCOUNT))
    run_worker_until_empty(worker_source(seeded))
    without_phone = {k: v for k, v in ALFKI_ACCOUNT.items() if k != "Phone"}
    enqueue(seeded, message("04l000000000011AAA", "Account", without_phone, null_fields=["Phone"]))
    run_worker_until_empty(worker_source(seeded))
    customer = seeded.table("CustomersTable").get_item(Key={"CustomerID": "ALFKI"})["Item"]
    assert "Phone" not in customer
    assert customer["Fax"] == "030-0076545"  # not in the message, not null: untouched


def test_an_older_change_arriving_late_is_ignored(seeded: Stack) -> None:
    newer = message(
        "04l000000000021AAA",
        "Account",
        {**ALFKI_ACCOUNT, "Name": "Newer name", "SystemModstamp": "2024-06-02T10:00:00Z"},
    )
    older = message(
        "04l000000000020AAA",
        "Account",
        {**ALFKI_ACCOUNT, "Name": "Older name", "SystemModstamp": "2024-06-01T10:00:00Z"},
    )
    enqueue(seeded, newer)
    run_worker_until_empty(worker_source(seeded))
    enqueue(seeded, older)
    run_worker_until_empty(worker_source(seeded))
    customer = seeded.table("CustomersTable").get_item(Key={"CustomerID": "ALFKI"})["Item"]
    assert customer["CompanyName"] == "Newer name"


def test_notification_without_a_handler_is_archived(stack: Stack) -> None:
    contact = message("04l000000000030AAA", "Contact", {"Id": "0035g00000CoNtAAAA", "LastName": "Black"})
    enqueue(stack, contact)
    assert run_worker_until_empty(worker_source(stack)) == (1, 0)
    [item] = stack.table("NotificationArchiveTable").scan()["Items"]
    assert item["NotificationKey"] == "00D000000000001/04l000000000030AAA"
    assert item["Why"] == "no handler registered"
    assert json.loads(item["Message"])["fields"]["LastName"] == "Black"


def test_poison_record_is_reported_alone_retried_then_dead_lettered(seeded: Stack) -> None:
    enqueue(
        seeded,
        won("04l000000000001AAA", "0065g00000Won01AAA"),
        "this is not a notification",
        won("04l000000000002AAA", "0065g00000Won02AAA"),
    )
    source = worker_source(seeded)
    first = source.poll_once()
    assert (first.received, first.succeeded, first.failed) == (3, 2, 1)
    max_receive = int(seeded.template.parameters["MaxReceiveCount"])
    for _ in range(max_receive - 1):
        retry = source.poll_once()
        assert (retry.received, retry.failed) == (1, 1)
    assert source.poll_once().received == 0  # the next receive moved it to the dead-letter queue
    dead = seeded.drain(seeded.dlq_url)
    assert [m["Body"] for m in dead] == ["this is not a notification"]
    assert len(seeded.table("OrdersTable").scan()["Items"]) == 2
    # Why it was dead-lettered is kept under its SQS message id (it has no notification id to key it by).
    why = seeded.table("NotificationArchiveTable").get_item(
        Key={"NotificationKey": f"dead-letter#unreadable/{dead[0]['MessageId']}"}
    )["Item"]
    assert (why["Why"].split(":")[0], why["Receives"]) == ("JSONDecodeError", max_receive)


def test_batch_item_failures_name_only_the_failed_record(
    seeded: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import notification_worker

    warned: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        notification_worker.logger, "warning", lambda message, **fields: warned.append((message, fields))
    )

    enqueue(seeded, won("04l000000000001AAA", "0065g00000Won01AAA"), "{}")
    got = sqs_client().receive_message(QueueUrl=seeded.queue_url, MaxNumberOfMessages=10)["Messages"]
    source = worker_source(seeded)
    event = {"Records": [source._record(m) for m in got]}
    response = source.function.invoke(event)
    bad = next(m["MessageId"] for m in got if m["Body"] == "{}")
    assert response == {"batchItemFailures": [{"itemIdentifier": bad}]}
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"CloudWatchMetrics"' in line]
    assert [(m["NotificationsProcessed"], m["NotificationsFailed"]) for m in emitted] == [([1.0], [1.0])]
    # One warning per batch with failures, saying how many.
    assert warned == [("Some notifications failed and will be retried", {"failed": 1, "total": 2})]
    [order] = seeded.table("OrdersTable").scan()["Items"]  # the good record was applied, once
    assert (order["CustomerID"], order["SalesforceOpportunityId"]) == (ALFKI_ACCOUNT["Id"], to_18("0065g00000Won01"))
    assert len(seeded.table("IdempotencyTable").scan()["Items"]) == 1


def test_on_a_fifo_queue_nothing_after_a_failure_is_applied_out_of_order(seeded: Stack) -> None:
    """A FIFO queue promises order within a message group: once a record fails, the records after it are handed
    back unprocessed (to be redelivered after it), never applied ahead of it."""
    enqueue(seeded, "{}", won("04l000000000001AAA", "0065g00000Won01AAA"))
    got = sqs_client().receive_message(QueueUrl=seeded.queue_url, MaxNumberOfMessages=10)["Messages"]
    got.sort(key=lambda m: m["Body"] != "{}")  # the poison first, as the group delivered it
    source = worker_source(seeded)
    records = [
        {**source._record(m), "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:notifications.fifo"} for m in got
    ]
    for record in records:
        record["attributes"] |= {"MessageGroupId": "0015g00000AlFkIAAV", "MessageDeduplicationId": record["messageId"]}
    response = source.function.invoke({"Records": records})
    assert response == {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in got]}
    assert seeded.table("OrdersTable").scan()["Items"] == []


def test_transient_handler_failure_is_retried_and_applied_once(seeded: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from sf_edge.notifications import reference_handlers

    calls = {"n": 0}
    real = reference_handlers.registry.resolve("opportunity", "Opportunity")

    def flaky(msg: NotificationMessage, services: Any) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("DynamoDB hiccup")
        return real(msg, services)

    monkeypatch.setitem(reference_handlers.registry._handlers, (None, "Opportunity"), flaky)
    enqueue(seeded, won())
    assert run_worker_until_empty(worker_source(seeded)) == (1, 1)
    assert len(seeded.table("OrdersTable").scan()["Items"]) == 1
    assert calls["n"] == 2


def test_idempotency_store_failure_is_retried_and_applied_once(seeded: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    import notification_worker

    source = worker_source(seeded)  # composed as `make run` composes it
    real = notification_worker.worker().persistence.save_inprogress
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "PutItem")
        return real(*args, **kwargs)

    monkeypatch.setattr(notification_worker.worker().persistence, "save_inprogress", flaky)
    enqueue(seeded, won())
    assert run_worker_until_empty(source) == (1, 1)  # failed once, then applied
    assert len(seeded.table("OrdersTable").scan()["Items"]) == 1


def test_a_duplicate_is_logged_as_already_applied_not_as_applied_again(
    seeded: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import notification_worker

    logged: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        notification_worker.logger, "info", lambda message, **fields: logged.append((message, fields.get("result")))
    )
    enqueue(seeded, won())
    run_worker_until_empty(worker_source(seeded))
    enqueue(seeded, won())  # Salesforce delivers it again
    run_worker_until_empty(worker_source(seeded))
    [(first, result), (second, again)] = [(m, r) for m, r in logged if r is not None]
    assert (first, result["action"]) == ("Notification processed", "order_created")
    assert (second, again["action"]) == ("Notification already applied; nothing done", "already_applied")
    assert again["firstResult"]["orderId"] == result["orderId"]


class OrderSystemDown:
    """A registry whose every handler fails, as when the order system has a bug or is down."""

    def __init__(self, why: str = "order system down") -> None:
        self.why = why

    def dispatch(self, message: NotificationMessage, services: Any) -> Any:
        raise RuntimeError(self.why)


def test_the_reason_kept_for_a_dead_letter_is_bounded(seeded: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception can carry a whole payload in its text: the archive keeps its first 1,000 characters."""
    import notification_worker

    notification = won()
    enqueue(seeded, notification)
    monkeypatch.setattr(notification_worker, "registry", OrderSystemDown("x" * 5000))
    source = worker_source(seeded)
    for _ in range(int(seeded.template.parameters["MaxReceiveCount"])):
        assert source.poll_once().failed == 1
    why = seeded.table("NotificationArchiveTable").get_item(
        Key={"NotificationKey": f"dead-letter#{notification.idempotency_key}"}
    )["Item"]["Why"]
    assert why == ("RuntimeError: " + "x" * 5000)[:1000]


def test_a_dead_lettered_notification_keeps_its_reason_and_is_redriven_once_fixed(
    seeded: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import notification_worker
    from local_runtime import redrive

    notification = won("04l000000000001AAA", "0065g00000Won01AAA")
    enqueue(seeded, notification)
    source = worker_source(seeded)
    real = notification_worker.registry
    monkeypatch.setattr(notification_worker, "registry", OrderSystemDown())
    max_receive = int(seeded.template.parameters["MaxReceiveCount"])
    for _ in range(max_receive):
        assert source.poll_once().failed == 1
    assert source.poll_once().received == 0  # now in the dead-letter queue
    assert seeded.queue_depth(seeded.dlq_url) == 1
    why = seeded.table("NotificationArchiveTable").get_item(
        Key={"NotificationKey": f"dead-letter#{notification.idempotency_key}"}
    )["Item"]
    assert (why["Why"], why["Receives"]) == ("RuntimeError: order system down", max_receive)
    # The same notification dead-lettered twice (Salesforce delivered it twice while the bug lasted).
    sqs_client().send_message(QueueUrl=seeded.dlq_url, MessageBody=notification.to_json())
    monkeypatch.setattr(notification_worker, "registry", real)  # the cause is fixed
    assert redrive.main() == 0  # `make redrive`, against this moto (AWS_ENDPOINT_URL)
    assert seeded.queue_depth(seeded.dlq_url) == 0
    assert run_worker_until_empty(source) == (2, 0)
    [order] = seeded.table("OrdersTable").scan()["Items"]  # applied exactly once
    assert order["SalesforceOpportunityId"] == to_18("0065g00000Won01")


def test_every_module_that_registers_handlers_is_loaded_by_the_worker(stack: Stack) -> None:
    """A handler in a module the worker never imports is never registered: its notifications would be archived as
    unrouted without a word. The worker's HANDLER_MODULES must name every module that registers one."""
    import notification_worker

    layer = ROOT / "layers" / "sf_edge"
    registering = {
        ".".join(path.relative_to(layer).with_suffix("").parts)
        for path in layer.rglob("*.py")
        if "registry.register(" in path.read_text(encoding="utf-8")
    }
    assert registering == set(notification_worker.HANDLER_MODULES)


# What mutation testing found unchecked (issue 16).


def test_a_single_record_fifo_batch_is_applied(seeded: Stack) -> None:
    """Lambda hands a FIFO queue's records over one group at a time, often one record: it is applied."""
    enqueue(seeded, won())
    got = sqs_client().receive_message(QueueUrl=seeded.queue_url, MaxNumberOfMessages=10)["Messages"]
    source = worker_source(seeded)
    [record] = [
        {**source._record(m), "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:notifications.fifo"} for m in got
    ]
    record["attributes"] |= {"MessageGroupId": "0015g00000AlFkIAAV", "MessageDeduplicationId": record["messageId"]}
    assert source.function.invoke({"Records": [record]}) == {"batchItemFailures": []}
    assert len(seeded.table("OrdersTable").scan()["Items"]) == 1


def test_without_a_payload_bucket_plain_records_apply_and_a_claim_check_fails(seeded: Stack) -> None:
    """A stack deployed without LARGE_PAYLOAD_BUCKET cannot follow a pointer: that record fails (and after its
    receives is dead-lettered, its payload untouched); every plain record still applies."""
    import json

    import notification_worker
    from sf_edge.aws.large_payloads import POINTER_CLASS, SIZE_ATTRIBUTE

    source = worker_source(seeded)
    notification_worker.worker.configure(large_payload_bucket="")
    pointer = json.dumps([POINTER_CLASS, {"s3BucketName": "elsewhere", "s3Key": "notifications/x"}])
    sqs_client().send_message(
        QueueUrl=seeded.queue_url,
        MessageBody=pointer,
        MessageAttributes={SIZE_ATTRIBUTE: {"DataType": "Number", "StringValue": "300000"}},
    )
    enqueue(seeded, won())
    result = source.poll_once()
    assert (result.succeeded, result.failed) == (1, 1)
    assert len(seeded.table("OrdersTable").scan()["Items"]) == 1


def test_salesforce_still_hears_of_a_failure_whose_reason_cannot_be_kept(
    seeded: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the last receive the worker writes why to the archive, then queues the `Failed` write-back; the archive
    being down too must not cost the write-back, nor fail the batch's other records."""
    import notification_worker
    from sf_edge.write_back.messages import WriteBack

    enqueue(seeded, won(), won("04l000000000002AAA", "0065g00000Won02AAA"))
    source = worker_source(seeded)
    worker = notification_worker.worker()

    def archive_down(**_kwargs: Any) -> None:
        raise ConnectionError("DynamoDB unreachable")

    class DownForOne(OrderSystemDown):
        def dispatch(self, message: NotificationMessage, services: Any) -> Any:
            if message.record_id == "0065g00000Won01AAA":
                return super().dispatch(message, services)
            return real.dispatch(message, services)

        def resolve(self, listener: str, sobject_type: str) -> Any:
            return real.resolve(listener, sobject_type)

    real = notification_worker.registry
    monkeypatch.setattr(notification_worker, "registry", DownForOne())
    monkeypatch.setattr(worker.archive, "record_failure", archive_down)
    monkeypatch.setattr(worker, "max_receive_count", 1)  # this receive is the last
    result = source.poll_once()
    assert (result.succeeded, result.failed) == (1, 1)
    queued = [WriteBack.model_validate_json(m["Body"]) for m in seeded.drain(seeded.name("WriteBackQueue"))]
    failed = [w for w in queued if w.record_id == "0065g00000Won01AAA"]
    assert [w.fields["Integration_Status__c"] for w in failed] == ["Failed"]
