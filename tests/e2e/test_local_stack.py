"""End to end through `make run`'s stack: a zeep client sends over HTTP, the worker applies, tables change."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from conftest import LISTENER_WSDLS, TOKEN, fixture_request, serving, wait_for
from local_runtime.aws_local import LocalAws
from local_runtime.stack import LocalStack
from salesforce_sender import SalesforceSender
from sf_edge.salesforce.ids import to_18


@pytest.fixture(scope="module")
def running(local_aws: LocalAws) -> Iterator[LocalStack]:
    with serving(local_aws, worker=True, retry_delay=0) as stack:
        yield stack


def post(
    stack: LocalStack, path: str, body: bytes, conn: http.client.HTTPConnection | None = None
) -> tuple[int, dict[str, str], bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection(urlsplit(stack.url).netloc, timeout=10)
    conn.request("POST", path, body=body, headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
    response = conn.getresponse()
    data = response.read()
    if own:
        conn.close()
    return response.status, dict(response.getheaders()), data


def table(stack: LocalStack, logical_id: str):  # type: ignore[no-untyped-def]
    from sf_edge.aws.clients import dynamodb

    return dynamodb().Table(stack.physical(logical_id))


def test_seeded_from_northwind(running: LocalStack) -> None:
    assert running.seeded == {
        "Customers": 91,
        "Orders": 830,
        "Products": 77,
        "Order_Details": 2155,
        "Categories": 8,
        "Suppliers": 29,
        "Shippers": 3,
        "Employees": 9,
    }


def test_zeep_client_gets_ack_and_the_worker_creates_the_order(running: LocalStack) -> None:
    account = SalesforceSender(LISTENER_WSDLS / "account.wsdl", f"{running.url}/outbound/account?token={TOKEN}")
    account_id = to_18("0015g00000BlAuS")
    assert (
        account.send(
            [
                (
                    "04l5g00000E2E01AAA",
                    {
                        "Id": account_id,
                        "AccountNumber": "BLAUS",
                        "Name": "Blauer See Delikatessen",
                        "BillingCity": "Mannheim",
                    },
                )
            ]
        )
        is True
    )
    opportunity = SalesforceSender(
        LISTENER_WSDLS / "opportunity.wsdl", f"{running.url}/outbound/opportunity?token={TOKEN}"
    )
    opportunity_id = to_18("0065g00000E2EoP")
    ack = opportunity.send(
        [
            (
                "04l5g00000E2E02AAA",
                {
                    "Id": opportunity_id,
                    "AccountId": account_id,
                    "StageName": "Closed Won",
                    "IsWon": True,
                    "Amount": 990.0,
                    "CloseDate": "2024-07-01",
                },
            )
        ]
    )
    assert ack is True

    def order():  # type: ignore[no-untyped-def]
        items = table(running, "OrdersTable").scan(
            FilterExpression="SalesforceOpportunityId = :o", ExpressionAttributeValues={":o": opportunity_id}
        )["Items"]
        return items[0] if items else None

    created = wait_for(order)
    assert created["CustomerID"] == "BLAUS"
    assert created["ShipName"] == "Blauer See Delikatessen"
    assert created["OrderID"] > 11077


def test_a_long_text_at_salesforces_maximum_arrives_whole_through_make_run(running: LocalStack) -> None:
    """The real zeep client, over HTTP: a 393 KB long text area goes by claim check through moto's S3 (the bucket
    `make run` created from template.yaml) and the worker archives it character for character."""
    from sf_edge.aws.clients import s3_client
    from sf_edge.salesforce.notification_message import NotificationMessage

    text = "".join(chr(0x4E00 + (i * 7919) % 20_000) for i in range(131_072))
    lead = SalesforceSender(LISTENER_WSDLS / "lead.wsdl", f"{running.url}/outbound/lead?token={TOKEN}")
    sent = {"Id": to_18("00Q5g00000LoNgT"), "LastName": "Long", "Company": "Texts Ltd", "Description": text}
    assert lead.send([("04l5g00000LoNg1AAA", sent)]) is True

    def archived():  # type: ignore[no-untyped-def]
        item = (
            table(running, "NotificationArchiveTable")
            .get_item(Key={"NotificationKey": "00D000000000001/04l5g00000LoNg1AAA"})
            .get("Item")
        )
        return item

    item = wait_for(archived, timeout=30)
    bucket, _, key = str(item["MessageLocation"]).removeprefix("s3://").partition("/")
    assert bucket == running.physical("LargePayloadBucket")
    body = s3_client().get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    assert NotificationMessage.model_validate_json(body).fields["Description"] == text


def test_fixture_over_http_with_keep_alive(running: LocalStack) -> None:
    conn = http.client.HTTPConnection(urlsplit(running.url).netloc, timeout=10)
    body = fixture_request("Account__sessionid_standalone__abrarsheikhsony.xml")
    for _ in range(3):  # the same connection serves every request, as Salesforce's client reuses it
        status, headers, data = post(running, f"/outbound/account?token={TOKEN}", body, conn)
        assert status == 200
        assert headers["Content-Type"] == "text/xml; charset=utf-8"
        assert b"<ns0:Ack>true</ns0:Ack>" in data
    conn.close()
    customer = wait_for(
        lambda: table(running, "CustomersTable").get_item(Key={"CustomerID": "0019000001KwyWtAAJ"}).get("Item")
    )
    assert customer["CompanyName"] == "Salesforce.com Inc."


def test_duplicate_delivery_is_applied_once(running: LocalStack) -> None:
    sender = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl")
    opportunity_id = to_18("0065g00000DuPlI")
    body = sender.envelope(
        [
            (
                "04l5g00000DuP01AAA",
                {"Id": opportunity_id, "AccountId": to_18("0015g00000DuPaC"), "StageName": "Closed Won"},
            )
        ]
    )
    for _ in range(2):
        assert post(running, f"/outbound/opportunity?token={TOKEN}", body)[0] == 200
    keys = table(running, "KeyRegistryTable")
    wait_for(lambda: keys.get_item(Key={"Key": f"opportunity#{opportunity_id}"}).get("Item"))
    idempotency = table(running, "IdempotencyTable")
    wait_for(lambda: len(idempotency.scan()["Items"]) >= 1)
    time.sleep(0.5)  # let the duplicate reach the worker too
    orders = table(running, "OrdersTable").scan(
        FilterExpression="SalesforceOpportunityId = :o", ExpressionAttributeValues={":o": opportunity_id}
    )["Items"]
    assert len(orders) == 1


def test_refusals_over_http(running: LocalStack) -> None:
    body = fixture_request("Account__sessionid_standalone__abrarsheikhsony.xml")
    status, headers, data = post(running, "/outbound/account?token=nope", body)
    assert status == 500  # a SOAP Fault, as SOAP 1.1 and WS-I BP R1126 send it
    assert headers["Content-Type"] == "text/xml; charset=utf-8"
    assert b"<faultstring>Wrong token</faultstring>" in data
    assert post(running, f"/outbound/account?token={TOKEN}", b"<oops")[0] == 500
    assert post(running, "/nowhere", body)[0] == 403  # API Gateway's answer for an unknown route


def test_poison_message_ends_in_the_dead_letter_queue(running: LocalStack) -> None:
    from sf_edge.aws.clients import sqs_client

    sqs = sqs_client()
    sqs.send_message(QueueUrl=running.physical("NotificationQueue"), MessageBody="poison")

    def in_dlq():  # type: ignore[no-untyped-def]
        got = sqs.receive_message(QueueUrl=running.physical("NotificationDeadLetterQueue"), WaitTimeSeconds=0)
        return got.get("Messages")

    [dead] = wait_for(in_dlq, timeout=30)
    assert dead["Body"] == "poison"


@pytest.mark.parametrize(
    ("token", "message", "faultcode"),
    [("nope", "Wrong token", "Client"), (TOKEN, "Organization", "Client")],
)
def test_a_standard_soap_client_reads_our_faults(running: LocalStack, token: str, message: str, faultcode: str) -> None:
    """suds reads a Fault only from an HTTP 500 (SOAP 1.1 §6.2, WS-I BP R1126); at 400/401/403 it saw a transport
    error and no Fault (issue 25.12). The message is Salesforce's, the org one we do not allow."""
    import suds.client

    body = fixture_request("Account__sessionid_standalone__abrarsheikhsony.xml")
    if message == "Organization":
        body = body.replace(b"ABC90000000gNcm", b"XYZ90000000gNcm")
    client = suds.client.Client(
        (LISTENER_WSDLS / "account.wsdl").as_uri(), location=f"{running.url}/outbound/account?token={token}"
    )
    with pytest.raises(suds.WebFault) as raised:
        client.service.notifications(__inject={"msg": body})
    assert raised.value.fault.faultcode == f"soapenv:{faultcode}"
    assert message in raised.value.fault.faultstring
