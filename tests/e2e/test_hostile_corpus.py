"""A hostile corpus against every endpoint of the running local stack: each request gets a clear 4xx (never a 5xx,
never a hang), and afterwards the queues are empty and every table holds exactly what it held before."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from conftest import serving
from local_runtime.aws_local import LocalAws
from local_runtime.stack import LocalStack

GOOD_TOKEN = "local-dev-token"
XML_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    b"<x>&b;&b;&b;&b;</x>"
)
CORPUS: list[tuple[str, str, dict[str, str], bytes]] = [
    # The Outbound Message listener.
    ("POST", f"/outbound/opportunity?token={GOOD_TOKEN}", {"Content-Type": "text/xml"}, XML_BOMB),
    ("POST", f"/outbound/opportunity?token={GOOD_TOKEN}", {"Content-Type": "text/xml"}, b"\xff\xfe\x00<a"),
    ("POST", f"/outbound/opportunity?token={GOOD_TOKEN}", {"Content-Type": "application/json"}, b'{"a": 1}'),
    ("POST", f"/outbound/opportunity?token={GOOD_TOKEN}", {"Content-Type": "text/xml"}, b"<a>" * 50_000),
    ("POST", f"/outbound/opportunity?token={GOOD_TOKEN}", {"Content-Type": "text/xml"}, b"x" * 5_000_000),
    ("POST", f"/outbound/opportunity?token=x&token={GOOD_TOKEN}", {"Content-Type": "text/xml"}, b"<a/>"),
    ("POST", "/outbound/..%2F..%2Fetc%2Fpasswd?token=local-dev-token", {"Content-Type": "text/xml"}, b"<a/>"),
    ("POST", "/outbound/opportunity?token=%00", {"Content-Type": "text/xml"}, b"<a/>"),
    ("GET", f"/outbound/opportunity?token={GOOD_TOKEN}", {}, b""),
    # The callout API.
    ("POST", "/api/v1/quotes", {"x-api-key": "local-dev-key", "Content-Type": "application/json"}, b"\xff\xfe{"),
    ("POST", "/api/v1/quotes", {"x-api-key": "local-dev-key", "Content-Type": "application/json"}, b"[" * 10_000),
    ("POST", "/api/v1/quotes", {"x-api-key": "local-dev-key", "Content-Type": "text/xml"}, XML_BOMB),
    (
        "POST",
        "/api/v1/quotes",
        {"x-api-key": "local-dev-key", "Content-Type": "application/json"},
        b'{"accountId": "ALFKI\\u0000", "lines": [{"productId": 1, "quantity": 1e309}]}',
    ),
    ("GET", "/api/v1/orders/10248%20or%201=1", {"x-api-key": "local-dev-key"}, b""),
    ("GET", "/api/v1/orders/10248", {"x-api-key": "local-dev-key\tx"}, b""),
    ("DELETE", "/api/v1/orders/10248", {"x-api-key": "local-dev-key"}, b""),
    # The OData feed.
    (
        "GET",
        "/odata/v4/Orders?$filter=OrderID%20eq%2010248%00",
        {"Authorization": "Basic c2FsZXNmb3JjZTpsb2NhbC1kZXYtcGFzc3dvcmQ="},
        b"",
    ),
    (
        "GET",
        "/odata/v4/Orders?$filter=" + "(" * 5000,
        {"Authorization": "Basic c2FsZXNmb3JjZTpsb2NhbC1kZXYtcGFzc3dvcmQ="},
        b"",
    ),
    (
        "GET",
        "/odata/v4/Orders?$top=99999999999999999999",
        {"Authorization": "Basic c2FsZXNmb3JjZTpsb2NhbC1kZXYtcGFzc3dvcmQ="},
        b"",
    ),
    ("GET", "/odata/v4/Orders('1'%3BDROP)", {"Authorization": "Basic c2FsZXNmb3JjZTpsb2NhbC1kZXYtcGFzc3dvcmQ="}, b""),
    (
        "POST",
        "/odata/v4/Orders",
        {"Authorization": "Basic c2FsZXNmb3JjZTpsb2NhbC1kZXYtcGFzc3dvcmQ=", "Content-Type": "application/json"},
        b'{"OrderID": "1; DROP TABLE"}',
    ),
    (
        "PATCH",
        "/odata/v4/Orders(10248)",
        {"Authorization": "Basic c2FsZXNmb3JjZTpsb2NhbC1kZXYtcGFzc3dvcmQ=", "Content-Type": "application/json"},
        b'{"Freight": "NaN"}',
    ),
    ("DELETE", "/odata/v4/Orders(10248)", {"Authorization": "Basic Og=="}, b""),
    (
        "POST",
        "/odata/v4/Orders",
        {"Authorization": "Basic c2FsZXNmb3JjZTpsb2NhbC1kZXYtcGFzc3dvcmQ=", "Content-Type": "application/json"},
        b"[" * 100_000,
    ),
    (
        "POST",
        "/odata/v2/Orders",
        {"Authorization": "Basic c2FsZXNmb3JjZTpsb2NhbC1kZXYtcGFzc3dvcmQ=", "Content-Type": "application/json"},
        b"[" * 100_000,
    ),
    (
        "GET",
        "/odata/v2/Orders?$filter=substringof(",
        {"Authorization": "Basic c2FsZXNmb3JjZTpsb2NhbC1kZXYtcGFzc3dvcmQ="},
        b"",
    ),
]


@pytest.fixture(scope="module")
def running(local_aws: LocalAws) -> Iterator[LocalStack]:
    env = {
        "OUTBOUND_TOKEN": GOOD_TOKEN,
        "CALLOUT_API_KEY": "local-dev-key",
        "ODATA_AUTH": "Basic",
        "ODATA_USERNAME": "salesforce",
        "ODATA_PASSWORD": "local-dev-password",
    }
    with serving(local_aws, env) as stack:
        yield stack


def state(stack: LocalStack) -> dict[str, int]:
    """Item count of every table, message count of every queue, object count of every bucket."""
    from sf_edge.aws.clients import dynamodb, s3_client, sqs_client

    counts: dict[str, int] = {}
    for logical_id, physical in stack.template.physical.items():
        if physical["Ref"].startswith("http"):
            attributes = sqs_client().get_queue_attributes(
                QueueUrl=physical["Ref"],
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            counts[logical_id] = sum(int(v) for v in attributes.values())
        elif any(kind in physical["Arn"] for kind in (":events:", ":lambda:", ":states:")):
            continue  # the event bus and its rule, the functions and the workflows hold nothing
        elif physical["Arn"].startswith("arn:aws:s3:::"):
            counts[logical_id] = s3_client().list_objects_v2(Bucket=physical["Ref"]).get("KeyCount", 0)
        else:
            counts[logical_id] = dynamodb().Table(physical["Ref"]).scan(Select="COUNT")["Count"]
    return counts


def test_hostile_corpus_leaves_no_trace(running: LocalStack) -> None:
    before = state(running)
    netloc = urlsplit(running.url).netloc
    answers = []
    for method, path, headers, body in CORPUS:
        connection = http.client.HTTPConnection(netloc, timeout=30)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            data = response.read()
            # A SOAP Fault is an HTTP 500 (SOAP 1.1 §6.2, WS-I BP R1126): the sender's fault says Client.
            sender_fault = response.status == 500 and b"<faultcode>soapenv:Client</faultcode>" in data
            answers.append((method, path[:60], 400 if sender_fault else response.status))
        finally:
            connection.close()
    server_errors = [a for a in answers if a[2] >= 500]
    assert not server_errors, server_errors
    assert all(400 <= status < 500 for _, _, status in answers), answers
    after = state(running)
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
