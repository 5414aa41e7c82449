"""Write the `sam local invoke` and `put-events` files from the Salesforce-shaped samples in events/samples/.

Run with `make events` after changing a sample or a listener WSDL; tests fail when the events drift.
Per listener: a valid message, one from an org that is not allowed, and a malformed body; an SQS batch for the
worker, built by the listener's own parser so it is exactly what the queue would hold; and one request per callout
operation (plus an invalid one and an unknown id); per Event Relay sample (events/samples/event_relay: events as
EventBridge delivers them, modelled on Salesforce's Event Relay and Change Data Capture documentation) a
`put-events` entries file, and an SQS batch of them all for the worker.
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "events" / "samples"
LOCAL_TOKEN = "local-dev-token"  # noqa: S105 - the documented local default, not a secret
SAMPLE_BY_LISTENER = {
    "opportunity": "opportunity_closed_won",
    "account": "account_alfki",
    "contact": "contact_new",
    "lead": "lead_web",
    "discount_rule": "discount_rule",
    "object_to_be_removed": "object_to_be_removed",
}
STRANGER_ORG = b"00D000000000BAD"


def api_event(listener: str, body: bytes) -> dict[str, Any]:
    """An API Gateway REST proxy event for POST /outbound/{listener}?token=..."""
    return {
        "resource": "/outbound/{listener}",
        "path": f"/outbound/{listener}",
        "httpMethod": "POST",
        "headers": {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": '""',
            "User-Agent": "Jakarta Commons-HttpClient/3.1",
        },
        "multiValueHeaders": {"Content-Type": ["text/xml; charset=utf-8"], "SOAPAction": ['""']},
        "queryStringParameters": {"token": LOCAL_TOKEN},
        "multiValueQueryStringParameters": {"token": [LOCAL_TOKEN]},
        "pathParameters": {"listener": listener},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/outbound/{listener}",
            "httpMethod": "POST",
            "path": f"/live/outbound/{listener}",
            "stage": "live",
            "requestId": f"sample-{listener}",
            "identity": {"sourceIp": "13.110.54.10"},
        },
        "body": body.decode("utf-8"),
        "isBase64Encoded": False,
    }


def listener_events() -> dict[str, dict[str, Any]]:
    """File name → event, for every listener with a sample."""
    events = {}
    for listener, sample in SAMPLE_BY_LISTENER.items():
        body = (SAMPLES / f"{sample}.xml").read_bytes()
        org = body.split(b"<OrganizationId>")[1][:15]
        events[f"outbound_listener/{listener}_valid.json"] = api_event(listener, body)
        events[f"outbound_listener/{listener}_wrong_org.json"] = api_event(listener, body.replace(org, STRANGER_ORG))
        events[f"outbound_listener/{listener}_malformed.json"] = api_event(listener, body[: len(body) // 2])
    return events


def worker_event() -> dict[str, Any]:
    """An SQS batch holding the account and the won opportunity, as the listener would have enqueued them."""
    sys.path.insert(0, str(ROOT / "layers" / "sf_edge"))
    from sf_edge.outbound.listeners import ListenerRegistry
    from sf_edge.outbound.soap import parse_envelope

    registry = ListenerRegistry(ROOT / "functions" / "outbound_listener" / "wsdl")
    received = datetime(2026, 11, 20, 9, 30, 1, tzinfo=UTC)
    records = []
    for listener in ("account", "opportunity"):
        body = (SAMPLES / f"{SAMPLE_BY_LISTENER[listener]}.xml").read_bytes()
        message, _ = registry.get(listener).parse(parse_envelope(body))
        for queued in message.queue_messages(listener, received, include_session_id=False):
            records.append(
                {
                    "messageId": f"0f8a1c3e-0000-4000-8000-00000000000{len(records) + 1}",
                    "receiptHandle": f"sample-receipt-{len(records) + 1}",
                    "body": queued.body,
                    "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795685401000"},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:NotificationQueue",
                    "awsRegion": "us-east-1",
                }
            )
    return {"Records": records}


RELAY_SAMPLES = SAMPLES / "event_relay"
LOCAL_EVENT_BUS = "salesforce-events"  # template.yaml's EventBusName default


def relayed_samples() -> dict[str, dict[str, Any]]:
    """The Event Relay samples: events as EventBridge delivers them to the rule's queue (events/samples/event_relay)."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(RELAY_SAMPLES.glob("*.json"))}


def put_events_entries(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`aws events put-events --entries file://...`: the samples as Event Relay would put them on the bus."""
    return [
        {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"], separators=(",", ":")),
            "EventBusName": LOCAL_EVENT_BUS,
        }
        for event in events
    ]


def relayed_events_batch() -> dict[str, Any]:
    """An SQS batch for the worker: every Event Relay sample as the rule's SQS target receives it."""
    return {
        "Records": [
            {
                "messageId": f"7d0e4b2a-0000-4000-8000-0000000000{n:02d}",
                "receiptHandle": f"relayed-receipt-{n}",
                "body": json.dumps(event, separators=(",", ":")),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795685401000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:RelayedEventQueue",
                "awsRegion": "us-east-1",
            }
            for n, event in enumerate(relayed_samples().values(), start=1)
        ]
    }


def write_back_event() -> dict[str, Any]:
    """An SQS batch for the write-back function: what the worker queues after the sample's won Opportunity
    became Order 11078 (by the declared write_backs.toml)."""
    from sf_edge.salesforce.notification_message import NotificationMessage
    from sf_edge.write_back.rules import DECLARED_RULES, WriteBackRules

    rules = WriteBackRules.load(DECLARED_RULES)
    records = []
    for record in worker_event()["Records"]:
        message = NotificationMessage.model_validate_json(record["body"])
        result = {"handler": "opportunity_closed_won", "action": "order_created", "orderId": 11078}
        write_back = rules.after_result(message, result) if message.sobject_type == "Opportunity" else None
        if write_back is not None:
            body = write_back.model_copy(update={"stamp": "2026-11-20T09:30:02.000000+00:00"}).model_dump_json()
            records.append({**record, "body": body, "messageId": "0f8a1c3e-0000-4000-8000-0000000000b1",
                            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:WriteBackQueue"})  # fmt: skip
    return {"Records": records}


SHIPPED_AT = 1796342400  # 2026-12-04T00:00:00Z, when the stream saw the sample Order ship


def order_shipped_stream_event() -> dict[str, Any]:
    """A DynamoDB Streams batch for the order-status function: Order 11078 (the sample's won Opportunity) ships."""
    opportunity = {"S": "0065g00000Won01AAB"}
    before = {"OrderID": {"N": "11078"}, "CustomerID": {"S": "ALFKI"}, "SalesforceOpportunityId": opportunity,
              "_v": {"N": "1"}}  # fmt: skip
    after = {**before, "ShippedDate": {"S": "2026-12-04T00:00:00Z"}, "Freight": {"N": "32.5"}, "_v": {"N": "2"}}
    return {
        "Records": [
            {
                "eventID": "6f1b0b9d3c2a4e5f8a7b6c5d4e3f2a1b",
                "eventName": "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": SHIPPED_AT,
                    "Keys": {"OrderID": {"N": "11078"}},
                    "OldImage": before,
                    "NewImage": after,
                    "SequenceNumber": "111100000000000000000001",
                    "SizeBytes": 180,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2026-12-01T00:00:00.000",
            }
        ]
    }


def order_status_queue_event() -> dict[str, Any]:
    """An SQS batch for the order-status function: the change above, as queued for publishing (needs SALESFORCE_*
    in events/env.json to publish)."""
    from datetime import UTC, datetime

    from sf_edge.write_back.order_status import status_change

    record = order_shipped_stream_event()["Records"][0]["dynamodb"]
    images = [{k: next(iter(v.values())) for k, v in record[name].items()} for name in ("OldImage", "NewImage")]
    change = status_change(*images, changed_at=datetime.fromtimestamp(SHIPPED_AT, UTC))
    assert change is not None
    return {
        "Records": [
            {
                "messageId": "0f8a1c3e-0000-4000-8000-0000000000c1",
                "receiptHandle": "AQEBorderstatus",
                "body": change.model_dump_json(),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(SHIPPED_AT * 1000)},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:OrderStatusQueue",
                "awsRegion": "us-east-1",
            }
        ]
    }


LOCAL_API_KEY = "local-dev-key"
CALLOUTS: dict[str, tuple[str, str, dict[str, Any] | None, dict[str, str] | None]] = {
    "create_quote": (
        "POST",
        "/api/v1/quotes",
        {"accountId": "ALFKI", "lines": [{"productId": 11, "quantity": 12}, {"productId": 2, "quantity": 120}]},
        None,
    ),
    "create_quote_invalid": (
        "POST",
        "/api/v1/quotes",
        {"accountId": "ALFKI", "lines": [{"productId": 11, "quantity": 0}]},
        None,
    ),
    "get_account_credit": ("GET", "/api/v1/accounts/ALFKI/credit", None, None),
    "get_order": ("GET", "/api/v1/orders/10248", None, None),
    "get_order_unknown": ("GET", "/api/v1/orders/99999", None, None),
    "get_product_availability": ("GET", "/api/v1/products/11/availability", None, {"quantity": "30"}),
    "validate_address": (
        "POST",
        "/api/v1/addresses/validate",
        {
            "street": "1 Market St",
            "city": "San Francisco",
            "state": "California",
            "postalCode": "94105",
            "country": "United States",
        },
        None,
    ),
    "get_openapi": ("GET", "/api/v1/openapi.json", None, None),
}


def callout_event(method: str, path: str, body: dict[str, Any] | None, query: dict[str, str] | None) -> dict[str, Any]:
    """An API Gateway REST proxy event for the callout API's /api/v1/{proxy+} route."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "x-api-key": LOCAL_API_KEY,
        "User-Agent": "SFDC-Callout/62.0",
    }
    if method == "POST":
        headers["Idempotency-Key"] = "sample-" + path.rsplit("/", 1)[-1]
    return {
        "resource": "/api/v1/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.removeprefix("/api/v1/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/api/v1/{proxy+}",
            "httpMethod": method,
            "path": f"/live{path}",
            "stage": "live",
            "requestId": "sample-callout",
            "identity": {"sourceIp": "13.110.54.10"},
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


LOCAL_ODATA_AUTH = "Basic " + base64.b64encode(b"salesforce:local-dev-password").decode()
ODATA: dict[str, tuple[str, str]] = {
    "service_document": ("/odata/v4", ""),
    "metadata": ("/odata/v4/$metadata", ""),
    "list_view": (
        "/odata/v4/Customers",
        "$select=CustomerID,CompanyName,Country&$orderby=CompanyName+asc&$top=26&$count=true",
    ),
    "detail_lookup": ("/odata/v4/Orders", "$filter=OrderID+eq+10248"),
    "by_key": ("/odata/v4/Order_Details(OrderID=10248,ProductID=11)", ""),
    "bad_filter": ("/odata/v4/Orders", "$filter=Freight+gt"),
}


def odata_event(path: str, query: str) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event for the OData feed, as its ODataApi sends it: the query string as the client
    encoded it (`rawQueryString`), and its values decoded once (`+` kept)."""
    headers = {
        "accept": "application/json",
        "authorization": LOCAL_ODATA_AUTH,
        "host": "localhost:3000",
        "x-forwarded-proto": "http",
        "user-agent": "Salesforce Connect",
    }
    decoded = {k: unquote(v) for k, _, v in (p.partition("=") for p in query.split("&") if p)}
    route = "/odata/v4" if path == "/odata/v4" else "/odata/v4/{proxy+}"
    return {
        "version": "2.0",
        "routeKey": f"{'GET' if route == '/odata/v4' else 'ANY'} {route}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        **({"queryStringParameters": decoded} if decoded else {}),
        **({"pathParameters": {"proxy": path.removeprefix("/odata/v4/")}} if route != "/odata/v4" else {}),
        "requestContext": {
            "domainName": "localhost:3000",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "13.110.54.10"},
            "requestId": "sample-odata",
            "routeKey": f"{'GET' if route == '/odata/v4' else 'ANY'} {route}",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


def all_events() -> dict[str, Any]:
    """Every event file under events/, by relative path."""
    callouts = {f"callout_api/{name}.json": callout_event(*spec) for name, spec in CALLOUTS.items()}
    odata = {f"odata_feed/{name}.json": odata_event(*spec) for name, spec in ODATA.items()}
    relayed = {f"event_relay/{name}.json": put_events_entries([event]) for name, event in relayed_samples().items()}
    return {
        **listener_events(),
        "notification_worker/sqs_batch.json": worker_event(),
        "notification_worker/relayed_events_batch.json": relayed_events_batch(),
        "salesforce_write_back/sqs_batch.json": write_back_event(),
        "order_status/order_shipped.json": order_shipped_stream_event(),
        "order_status/sqs_batch.json": order_status_queue_event(),
        # The workflows' first tasks, as Step Functions invokes them: a sync of every declared object, and the
        # bulk write-back of the Opportunities' parked write-backs (both need SALESFORCE_* in events/env.json).
        "bulk_sync/begin.json": {"step": "begin", "sync": {"objects": []}},
        "bulk_write_back/begin.json": {"step": "begin", "state": {"group": "Opportunity/Id"}},
        **relayed,
        **callouts,
        **odata,
    }


def render(event: dict[str, Any]) -> str:
    return json.dumps(event, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    for name, event in all_events().items():
        path = ROOT / "events" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(event), encoding="utf-8")
        print(f"wrote events/{name}")


if __name__ == "__main__":
    main()
