"""Enqueueing: batches of 10 sent concurrently, all-or-fault, FIFO attributes, and Salesforce's retry."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import LISTENER_WSDLS, TOKEN, Stack, make_intake, run_worker_until_empty, worker_source
from salesforce_sender import SalesforceSender, records
from sf_edge.aws.clients import sqs_client
from sf_edge.aws.sqs_publisher import EnqueueError, SqsNotificationPublisher
from sf_edge.outbound.intake import IntakeRequest


def won(i: int) -> dict[str, Any]:
    return {
        "Id": f"0065g{i:010d}AAA",
        "AccountId": "0015g00000AbCdEAAA",
        "StageName": "Closed Won",
        "IsWon": True,
        "Amount": 100.0 * (i + 1),
        "CloseDate": "2024-06-30",
        "Name": f"Deal {i}",
    }


class FlakySqs:
    """The real (moto) SQS client, except chosen SendMessageBatch calls fail."""

    def __init__(self, fail_calls: set[int], partial: bool = False, sender_fault: bool = False) -> None:
        self.real = sqs_client()
        self.fail_calls = fail_calls
        self.partial = partial
        self.sender_fault = sender_fault
        self.calls = 0
        self.lock = threading.Lock()

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        with self.lock:
            self.calls += 1
            call = self.calls
        if call in self.fail_calls and not self.partial:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "injected"}}, "SendMessageBatch")
        if call in self.fail_calls:
            # SQS accepted the first half only, and reports the rest as failed.
            half = len(Entries) // 2
            response = self.real.send_message_batch(QueueUrl=QueueUrl, Entries=Entries[:half])  # type: ignore[arg-type]
            failed = [
                {"Id": e["Id"], "SenderFault": self.sender_fault, "Code": "InternalError", "Message": "injected"}
                for e in Entries[half:]
            ]
            return {"Successful": response.get("Successful", []), "Failed": failed}
        return dict(self.real.send_message_batch(QueueUrl=QueueUrl, Entries=Entries))  # type: ignore[arg-type]


def deliver(stack: Stack, body: bytes, client: Any = None):  # type: ignore[no-untyped-def]
    publisher = SqsNotificationPublisher(stack.queue_url, client=client)
    return make_intake(LISTENER_WSDLS, stack.queue_url, publisher=publisher).receive(
        IntakeRequest("opportunity", body, TOKEN)
    )


def test_failed_batch_faults_and_salesforce_retry_applies_each_notification_once(stack: Stack) -> None:
    body = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl").envelope(records(100, won))

    first = deliver(stack, body, FlakySqs(fail_calls={4}))
    assert (first.status, first.outcome) == (500, "enqueue_failed")
    assert first.detail.startswith("1 of 10 batches failed: SendMessageBatch failed: ")  # the log says which, why
    assert b"soapenv:Server" in first.body
    assert stack.queue_depth() == 90  # nine batches made it: duplicates-to-be

    retry = deliver(stack, body)  # Salesforce retries the whole message
    assert retry.acked
    assert stack.queue_depth() == 190

    succeeded, failed = run_worker_until_empty(worker_source(stack))
    assert (succeeded, failed) == (190, 0)
    orders = stack.table("OrdersTable").scan()["Items"]
    assert len(orders) == 100
    assert len({o["SalesforceOpportunityId"] for o in orders}) == 100
    assert len(stack.table("IdempotencyTable").scan()["Items"]) == 100


def test_entries_sqs_reports_failed_are_retried_within_the_request(stack: Stack) -> None:
    body = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl").envelope(records(30, won))
    result = deliver(stack, body, FlakySqs(fail_calls={1, 2, 3}, partial=True))
    assert result.acked
    ids = sorted(json.loads(m["Body"])["notificationId"] for m in stack.drain())
    assert ids == sorted(result.notification_ids)
    assert len(ids) == 30


def test_sender_fault_entries_are_not_retried_and_fault(stack: Stack) -> None:
    body = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl").envelope(records(5, won))
    result = deliver(stack, body, FlakySqs(fail_calls={1}, partial=True, sender_fault=True))
    assert (result.status, result.outcome) == (500, "enqueue_failed")


class BarrierSqs:
    """Answers only when `parties` calls are in flight at once: proves the batches are sent concurrently."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=5)
        self.entries: list[dict[str, Any]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.barrier.wait()
        self.entries.extend(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def test_ten_batches_are_in_flight_together(stack: Stack) -> None:
    sqs = BarrierSqs(parties=10)
    body = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl").envelope(records(100, won))
    assert deliver(stack, body, sqs).acked  # a sequential publisher would break the barrier
    assert len(sqs.entries) == 100


def test_fifo_queue_groups_by_record_and_deduplicates_by_notification(stack: Stack) -> None:
    url = sqs_client().create_queue(QueueName="fifo-test.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    body = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl").envelope(records(3, won))
    publisher = SqsNotificationPublisher(url)
    intake = make_intake(LISTENER_WSDLS, url, publisher=publisher)
    assert intake.receive(IntakeRequest("opportunity", body, TOKEN)).acked
    assert intake.receive(IntakeRequest("opportunity", body, TOKEN)).acked  # a duplicate delivery
    messages = stack.drain(url)
    assert len(messages) == 3  # SQS dropped the duplicates within its deduplication window
    for message in messages:
        payload = json.loads(message["Body"])
        assert message["Attributes"]["MessageGroupId"] == payload["recordId"]
        assert message["Attributes"]["MessageDeduplicationId"] == f"00D000000000001-{payload['notificationId']}"


def test_oversize_notification_is_refused_before_sending() -> None:
    from sf_edge.salesforce.outbound_messages import QueuedNotification

    huge = QueuedNotification(
        notification_id="04l1",
        record_id="002000000000001",
        listener="x",
        sobject_type="Note",
        idempotency_key="00D000000000001/04l1",
        body="x" * 300_000,
    )
    with pytest.raises(EnqueueError, match="over the SQS message limit"):
        SqsNotificationPublisher("https://sqs.invalid/q", client=object()).publish([huge])  # type: ignore[arg-type]


def test_queue_bodies_are_the_notification_message_contract() -> None:
    from datetime import UTC, datetime

    from sf_edge.salesforce.notification_message import NotificationMessage, OutboundOrigin
    from sf_edge.salesforce.outbound_messages import OutboundMessage

    message = OutboundMessage(
        organization_id="00D000000000001EAA",
        action_id="04k000000000001AAA",
        session_id="SESSION!secret",
        enterprise_url="https://e",
        partner_url="https://p",
        notifications=[
            {
                "id": "04l000000000001AAA",
                "sobject_type": "Opportunity",
                "record_id": "006000000000001AAA",
                "fields": {"Id": "006000000000001AAA", "Amount": 1.5, "CloseDate": datetime(2024, 6, 30).date()},
                "null_fields": ["Name"],
                "unknown_fields": [],
            }
        ],
    )
    received = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    [plain] = message.queue_messages("opportunity", received, include_session_id=False)
    [opted] = message.queue_messages("opportunity", received, include_session_id=True)
    parsed = NotificationMessage.model_validate_json(plain.body)
    assert parsed.model_dump(by_alias=True, mode="json", exclude_none=True) == json.loads(plain.body)
    assert (parsed.notification_id, parsed.sobject_type, parsed.received_at) == (
        "04l000000000001AAA",
        "Opportunity",
        received,
    )
    assert json.loads(plain.body)["fields"]["CloseDate"] == "2024-06-30"
    assert "sessionId" not in json.loads(plain.body)["origin"]
    opted_origin = NotificationMessage.model_validate_json(opted.body).origin
    assert isinstance(opted_origin, OutboundOrigin)
    assert opted_origin.session_id == "SESSION!secret"
    assert plain.idempotency_key == parsed.idempotency_key


class RecordingSqs:
    """Accepts every entry except those named, which fail (retryably) `failures` times each; records the calls."""

    def __init__(self, failing: dict[str, int] | None = None) -> None:
        self.failing = dict(failing or {})
        self.calls: list[list[dict[str, Any]]] = []
        self.lock = threading.Lock()

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        with self.lock:
            self.calls.append(Entries)
            failed = [e["Id"] for e in Entries if self.failing.get(e["Id"], 0) > 0]
            for entry_id in failed:
                self.failing[entry_id] -= 1
        return {
            "Successful": [{"Id": e["Id"]} for e in Entries if e["Id"] not in failed],
            "Failed": [{"Id": i, "SenderFault": False, "Code": "InternalError", "Message": "x"} for i in failed],
        }


class RecordingS3:
    """An S3 bucket in memory that remembers the order of its writes."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.objects: dict[str, bytes] = {}

    def put_object(self, **arguments: Any) -> dict[str, Any]:
        self.keys.append(arguments["Key"])
        self.objects[arguments["Key"]] = arguments["Body"]
        return {}

    def get_object(self, **arguments: Any) -> dict[str, Any]:
        import io

        return {"Body": io.BytesIO(self.objects[arguments["Key"]])}


def queued(index: int, body_bytes: int) -> Any:
    """A queued notification whose SQS entry (body and attributes, as SQS counts them) is `body_bytes` long."""
    from sf_edge.salesforce.outbound_messages import QueuedNotification

    attributes = len("listener") + len("String") + len("x") + len("sObjectType") + len("String") + len("Note")
    return QueuedNotification(
        notification_id=f"04l{index:012d}",
        record_id="002000000000001",
        listener="x",
        sobject_type="Note",
        idempotency_key=f"00D000000000001/04l{index:012d}",
        body="y" * (body_bytes - attributes),
    )


def test_on_a_fifo_queue_a_large_payload_is_stored_before_any_message_is_sent() -> None:
    """FIFO keeps order within a group only if the pointer goes out in its place: store first, then the batches."""
    from sf_edge.aws.large_payloads import MAX_MESSAGE_BYTES, LargePayloads

    events: list[str] = []

    class OrderedSqs(RecordingSqs):
        def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
            events.append("send " + ",".join(e["Id"] for e in Entries))
            return super().send_message_batch(QueueUrl, Entries)

    class OrderedS3(RecordingS3):
        def put_object(self, **arguments: Any) -> dict[str, Any]:
            events.append("put " + arguments["Key"])
            return super().put_object(**arguments)

    sqs = OrderedSqs()
    SqsNotificationPublisher(
        "https://sqs.invalid/q.fifo",
        client=sqs,
        large_payloads=LargePayloads("bucket", client=OrderedS3()),
    ).publish([queued(0, 10), queued(1, MAX_MESSAGE_BYTES + 1), queued(2, 10)])
    assert events == ["put notifications/00D000000000001/04l000000000001", "send 0,1,2"]
    [batch] = sqs.calls
    assert [e["MessageGroupId"] for e in batch] == ["002000000000001"] * 3
    assert "DelaySeconds" not in batch[1]  # FIFO queues take no per-message delay
    assert "ExtendedPayloadSize" in batch[1]["MessageAttributes"]


def test_an_entry_exactly_at_the_message_limit_goes_inline_and_one_byte_more_by_claim_check() -> None:
    from sf_edge.aws.large_payloads import MAX_MESSAGE_BYTES, LargePayloads

    assert MAX_MESSAGE_BYTES == 262_144  # SQS's classic limit, which moto and some regions still enforce
    sqs, s3 = RecordingSqs(), RecordingS3()
    publisher = SqsNotificationPublisher(
        "https://sqs.invalid/q",
        client=sqs,
        large_payloads=LargePayloads("bucket", client=s3),
    )
    publisher.publish([queued(0, MAX_MESSAGE_BYTES), queued(1, MAX_MESSAGE_BYTES + 1)])
    assert s3.keys == ["notifications/00D000000000001/04l000000000001"]
    sent = {e["Id"]: e for call in sqs.calls for e in call}
    assert sent["0"]["MessageBody"].startswith("yyy")
    assert "ExtendedPayloadSize" in sent["1"]["MessageAttributes"]
    assert sent["1"]["DelaySeconds"] == 2  # visible only once its payload is stored


def test_batches_fill_up_to_the_byte_limit_and_not_one_byte_past_it() -> None:
    sqs = RecordingSqs()
    publisher = SqsNotificationPublisher("https://sqs.invalid/q", client=sqs)
    publisher.publish([queued(0, 100_000), queued(1, 100_000), queued(2, 62_144), queued(3, 100)])
    assert sorted(len(call) for call in sqs.calls) == [1, 3]  # 262,144 bytes in one batch, the next entry apart
    sqs = RecordingSqs()
    SqsNotificationPublisher("https://sqs.invalid/q", client=sqs).publish(
        [queued(0, 100_000), queued(1, 100_000), queued(2, 62_145)]
    )
    assert sorted(len(call) for call in sqs.calls) == [1, 2]  # 262,145 bytes: one byte too many for one batch
    sqs = RecordingSqs()
    SqsNotificationPublisher("https://sqs.invalid/q", client=sqs).publish(
        [queued(0, 200_000), queued(1, 131_072), queued(2, 131_072), queued(3, 100_000), queued(4, 162_144)]
    )
    # Each batch after the first counts from zero: the second and the third are full to the byte, not split.
    assert sorted(sorted(entry["Id"] for entry in call) for call in sqs.calls) == [["0"], ["1", "2"], ["3", "4"]]
    sqs = RecordingSqs()
    SqsNotificationPublisher("https://sqs.invalid/q", client=sqs).publish([queued(i, 10) for i in range(21)])
    assert sorted(len(call) for call in sqs.calls) == [1, 10, 10]  # and never more than ten entries


@pytest.mark.parametrize(("failures", "acked"), [(2, True), (3, False)])
def test_an_entry_sqs_fails_is_retried_twice_within_the_request(failures: int, acked: bool) -> None:
    sqs = RecordingSqs({"1": failures})
    publisher = SqsNotificationPublisher("https://sqs.invalid/q", client=sqs)
    if acked:
        publisher.publish([queued(0, 10), queued(1, 10)])
    else:
        with pytest.raises(EnqueueError, match="1 entries still failing after retries"):
            publisher.publish([queued(0, 10), queued(1, 10)])
    assert [[e["Id"] for e in call] for call in sqs.calls] == [["0", "1"], ["1"], ["1"]]


def test_when_several_batches_fail_the_fault_names_the_first() -> None:
    class EveryCallFails:
        def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
            raise RuntimeError(f"throttled at entry {Entries[0]['Id']}")

    publisher = SqsNotificationPublisher("https://sqs.invalid/q", client=EveryCallFails())
    with pytest.raises(EnqueueError) as raised:
        publisher.publish([queued(i, 10) for i in range(25)])
    assert str(raised.value).startswith("3 of 3 batches failed: ")
    assert str(raised.value).endswith("throttled at entry 0")
    assert str(raised.value.__cause__).endswith("throttled at entry 0")
