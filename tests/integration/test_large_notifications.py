"""Notifications of any size Salesforce can send: a long text area holds 131,072 characters (393 KB of UTF-8 in
CJK), past SQS's 256 KiB message limit, so such a notification goes by claim check (payload in the stack's
bucket, pointer in the queue) and comes back whole in the worker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import LISTENER_WSDLS, TOKEN, Stack, make_intake, run_worker_until_empty, worker_source
from salesforce_sender import SalesforceSender, salesforce_layout
from sf_edge.aws.large_payloads import POINTER_CLASS, SIZE_ATTRIBUTE, LargePayloads, PayloadError, pointer_key
from sf_edge.outbound.intake import IntakeRequest
from sf_edge.salesforce.notification_message import NotificationMessage

LONG_TEXT = 131_072  # Salesforce's largest long text area, in characters


def cjk(length: int, seed: int) -> str:
    """Text of `length` CJK characters (3 bytes each in UTF-8), different per seed."""
    return "".join(chr(0x4E00 + (seed * 7919 + i) % 20_000) for i in range(length))


def lead(i: int, *, long_fields: int = 0, chars: int = LONG_TEXT) -> dict[str, Any]:
    fields: dict[str, Any] = {"Id": f"00Q5g{i:010d}AAA", "LastName": f"Lead {i}", "Company": f"Company {i}"}
    for n, name in enumerate(("Description", "Industry", "Company")[:long_fields]):
        fields[name] = cjk(chars, i * 3 + n)
    return fields


def archived(stack: Stack) -> dict[str, NotificationMessage]:
    """The leads the worker archived (no handler is registered for them), read back whole, by record id."""
    from sf_edge.aws.clients import s3_client

    out: dict[str, NotificationMessage] = {}
    for item in stack.table("NotificationArchiveTable").scan()["Items"]:
        if "MessageLocation" in item:
            bucket, _, key = str(item["MessageLocation"]).removeprefix("s3://").partition("/")
            body = s3_client().get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        else:
            body = str(item["Message"])
        message = NotificationMessage.model_validate_json(body)
        out[message.record_id] = message
    return out


def test_three_long_text_areas_at_their_maximum_are_acked_and_applied_byte_for_byte(stack: Stack) -> None:
    sent = [("04l5g0000000001AAA", lead(1, long_fields=3)), ("04l5g0000000002AAA", lead(2))]
    body = SalesforceSender(LISTENER_WSDLS / "lead.wsdl").envelope(sent)
    assert len(body) > 1_100_000
    result = make_intake(LISTENER_WSDLS, stack.queue_url).receive(IntakeRequest("lead", body, TOKEN))
    assert result.acked, result.detail
    assert stack.queue_depth() == 2
    stack.wait_until_visible()  # the pointer is sent delayed, its payload stored meanwhile
    assert run_worker_until_empty(worker_source(stack)) == (2, 0)
    applied = archived(stack)
    for _, fields in sent:
        for name, value in fields.items():
            assert applied[fields["Id"]].fields[name] == value, name  # every character, as Salesforce sent it
    items = {i["RecordId"]: i for i in stack.table("NotificationArchiveTable").scan()["Items"]}
    assert "MessageLocation" in items[sent[0][1]["Id"]]
    assert "Message" in items[sent[1][1]["Id"]]


@pytest.mark.parametrize("as_references", [False, True], ids=["utf-8", "character-references"])
def test_three_long_text_areas_two_added_after_the_wsdl_was_generated_are_acked_and_kept(
    stack: Stack, as_references: bool
) -> None:
    """Issue 25.4 as reported: Description plus two long text areas the WSDL does not declare (added to the object
    later), 131,072 CJK characters each, in Salesforce's own layout; also with every character sent as a numeric
    reference (3.1 MB). Acked, claim-checked, and the undeclared fields kept as text, every character."""
    fields = {
        "Id": "00Q5g0000000001AAA",
        "Company": "Texts Ltd",
        "Description": cjk(LONG_TEXT, 1),
        "Internal_Notes__c": cjk(LONG_TEXT, 2),
        "LastName": "Long",
        "Resolution__c": cjk(LONG_TEXT, 3),
    }
    body = salesforce_layout("Lead", [("04l5g0000000001AAA", fields)])
    if as_references:
        body = body.decode("utf-8").encode("ascii", "xmlcharrefreplace")
    result = make_intake(LISTENER_WSDLS, stack.queue_url).receive(IntakeRequest("lead", body, TOKEN))
    assert result.acked, result.detail
    assert result.unknown_fields == {"04l5g0000000001AAA": ["Internal_Notes__c", "Resolution__c"]}
    stack.wait_until_visible()
    assert run_worker_until_empty(worker_source(stack)) == (1, 0)
    kept = archived(stack)["00Q5g0000000001AAA"]
    assert {name: kept.fields[name] for name in fields} == fields
    assert kept.unknown_fields == ["Internal_Notes__c", "Resolution__c"]


def test_a_hundred_notifications_of_mixed_sizes_are_all_queued_and_applied(stack: Stack) -> None:
    """Small ones batched ten at a time, 200 KB ones batched by bytes, 400 KB ones by claim check."""
    sizes = {7: 70_000, 23: 70_000, 41: 131_072, 42: 131_072, 88: 131_072}  # characters of CJK in Description
    sent = [
        (f"04l5g{i:010d}AAA", lead(i, long_fields=1, chars=sizes[i]) if i in sizes else lead(i)) for i in range(100)
    ]
    body = SalesforceSender(LISTENER_WSDLS / "lead.wsdl").envelope(sent)
    result = make_intake(LISTENER_WSDLS, stack.queue_url).receive(IntakeRequest("lead", body, TOKEN))
    assert result.acked, result.detail
    assert stack.queue_depth() == 100
    stack.wait_until_visible()
    assert run_worker_until_empty(worker_source(stack)) == (100, 0)
    applied = archived(stack)
    assert len(applied) == 100
    for _, fields in sent:
        assert applied[fields["Id"]].fields.get("Description") == fields.get("Description")


def test_the_queue_carries_the_extended_clients_pointer(stack: Stack) -> None:
    """Interoperable with the SQS Extended Client: its pointer class, bucket and key, and its size attribute."""
    from sf_edge.aws.clients import sqs_client

    body = SalesforceSender(LISTENER_WSDLS / "lead.wsdl").envelope([("04l5g0000000001AAA", lead(1, long_fields=1))])
    assert make_intake(LISTENER_WSDLS, stack.queue_url).receive(IntakeRequest("lead", body, TOKEN)).acked
    stack.wait_until_visible()
    [message] = sqs_client().receive_message(QueueUrl=stack.queue_url, MessageAttributeNames=["All"])["Messages"]
    pointer = json.loads(message["Body"])
    assert pointer[0] == POINTER_CLASS
    assert pointer[1] == {"s3BucketName": stack.name("LargePayloadBucket"), "s3Key": pointer[1]["s3Key"]}
    assert pointer[1]["s3Key"] == "notifications/00D000000000001/04l5g0000000001AAA"
    assert int(message["MessageAttributes"][SIZE_ATTRIBUTE]["StringValue"]) > 393_216


class BrokenS3:
    def put_object(self, **_kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "injected"}}, "PutObject")


def test_a_payload_that_cannot_be_stored_is_a_fault_and_the_retry_applies_each_notification_once(stack: Stack) -> None:
    from sf_edge.aws.sqs_publisher import SqsNotificationPublisher

    publisher = SqsNotificationPublisher(
        stack.queue_url,
        large_payloads=LargePayloads(stack.name("LargePayloadBucket"), client=BrokenS3()),  # type: ignore[arg-type]
    )
    sent = [("04l5g0000000001AAA", lead(1, long_fields=1)), ("04l5g0000000002AAA", lead(2))]
    body = SalesforceSender(LISTENER_WSDLS / "lead.wsdl").envelope(sent)
    result = make_intake(LISTENER_WSDLS, stack.queue_url, publisher=publisher).receive(
        IntakeRequest("lead", body, TOKEN)
    )
    assert (result.status, result.outcome) == (500, "enqueue_failed")  # no Ack: Salesforce retries the message
    # The small notification may have gone out beside the failed payload; Salesforce's retry sends it again and
    # the worker applies it once.
    retried = make_intake(LISTENER_WSDLS, stack.queue_url).receive(IntakeRequest("lead", body, TOKEN))
    assert retried.acked, retried.detail
    stack.wait_until_visible()
    succeeded, failed = run_worker_until_empty(worker_source(stack))
    assert (succeeded, failed) == (4, 0)  # both sent twice: each applied once, its duplicate recognised
    assert len(stack.table("NotificationArchiveTable").scan()["Items"]) == 2
    assert archived(stack)[sent[0][1]["Id"]].fields["Description"] == sent[0][1]["Description"]


def test_without_a_bucket_an_oversize_notification_is_a_fault_not_an_ack(stack: Stack) -> None:
    from sf_edge.aws.sqs_publisher import SqsNotificationPublisher

    body = SalesforceSender(LISTENER_WSDLS / "lead.wsdl").envelope([("04l5g0000000001AAA", lead(1, long_fields=1))])
    intake = make_intake(LISTENER_WSDLS, stack.queue_url, publisher=SqsNotificationPublisher(stack.queue_url))
    result = intake.receive(IntakeRequest("lead", body, TOKEN))
    assert (result.status, result.outcome) == (500, "enqueue_failed")
    assert "LARGE_PAYLOAD_BUCKET" in result.detail
    assert stack.queue_depth() == 0


@pytest.mark.parametrize(
    ("body", "attributes", "pointed"),
    [
        ('["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":"b","s3Key":"k"}]', None, ("b", "k")),
        ('["com.amazon.sqs.javamessaging.MessageS3Pointer",{"s3BucketName":"b","s3Key":"k"}]', None, ("b", "k")),
        ('{"schemaVersion":1}', {SIZE_ATTRIBUTE: {"stringValue": "1"}}, None),
        ('["something else",{"s3BucketName":"b","s3Key":"k"}]', None, None),
        ('["software.amazon.payloadoffloading.PayloadS3Pointer",{"s3BucketName":1,"s3Key":"k"}]', None, None),
        ("[not json", None, None),
    ],
)
def test_only_the_pointers_exact_shape_is_a_pointer(
    body: str, attributes: dict[str, Any] | None, pointed: tuple[str, str] | None
) -> None:
    assert pointer_key(body, attributes) == pointed


def test_a_pointer_to_another_bucket_is_never_followed() -> None:
    class NoS3:
        def get_object(self, **_kwargs: Any) -> Any:
            raise AssertionError("fetched from a bucket that is not ours")

    payloads = LargePayloads("ours", client=NoS3())  # type: ignore[arg-type]
    with pytest.raises(PayloadError, match="not this stack's"):
        payloads.resolve(f'["{POINTER_CLASS}",{{"s3BucketName":"theirs","s3Key":"notifications/x"}}]')
