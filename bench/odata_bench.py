"""OData feed rows of `make bench`: DynamoDB items read per request on 100,000 Orders-shaped rows in moto, and
our in-process time to parse, plan and serialize a 200-row page."""

from __future__ import annotations

import json
import os
import statistics
import time
from decimal import Decimal
from typing import Any

ROWS = int(os.environ.get("BENCH_ODATA_ROWS", "100000"))
CUSTOMERS = 1000
PAGE = 200


def _order(i: int) -> dict[str, Any]:
    """An Orders-shaped row; 1,000 customers share the orders evenly."""
    return {
        "OrderID": i + 1,
        "CustomerID": f"C{i % CUSTOMERS:04d}",
        "EmployeeID": i % 9 + 1,
        "OrderDate": "1997-01-01T00:00:00Z",
        "Freight": Decimal(i % 500) / 10,
        "ShipName": f"Ship {i}",
        "ShipCity": "Reims",
        "ShipCountry": "France",
    }


def _request(path: str, query: str = "") -> Any:
    from sf_edge.odata.feed import FeedRequest

    return FeedRequest("GET", path, query, {}, "https://bench.example.com/odata/v4/")


def items_read() -> list[tuple[str, str, str, str]]:
    """(measurement, ours, reference, verdict) for the key lookup, the index query and pages 1 and 50."""
    os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")  # noqa: S106
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import boto3
    from moto import mock_aws

    from sf_edge.aws.odata_store import EntityTable, plan
    from sf_edge.odata.feed import Feed, FeedAuth
    from sf_edge.odata.schema import BY_NAME

    orders = BY_NAME["Orders"]
    with mock_aws():
        resource = boto3.resource("dynamodb")
        table = resource.create_table(
            TableName="Orders",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "OrderID", "AttributeType": "N"},
                {"AttributeName": "CustomerID", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "OrderID", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "CustomerID-index",
                    "Projection": {"ProjectionType": "ALL"},
                    "KeySchema": [{"AttributeName": "CustomerID", "KeyType": "HASH"}],
                }
            ],
        )
        with table.batch_writer() as batch:
            for i in range(ROWS):
                batch.put_item(Item=_order(i))
        feed = Feed(
            lambda _s: EntityTable(orders, table, resource),
            plan,
            FeedAuth("none"),
            page_size=PAGE,
            entity_sets=(orders,),
        )
        key = feed.handle(_request(f"/Orders({ROWS // 2})"))
        index = feed.handle(_request("/Orders", "$filter=CustomerID+eq+'C0007'&$select=OrderID"))
        matching = len(json.loads(index.body)["value"])
        first = feed.handle(_request("/Orders", "$select=OrderID,Freight"))
        page, response, last_page = 1, first, min(50, ROWS // PAGE)
        while page < last_page:
            link = json.loads(response.body)["@odata.nextLink"]
            response = feed.handle(_request("/Orders", link.split("?", 1)[1]))
            page += 1
    return [
        (
            f"key lookup `Orders({ROWS // 2})`",
            f"{key.items_read} item",
            "1 item",
            "met" if key.items_read == 1 else "missed",
        ),
        (
            "index equality `CustomerID eq 'C0007'`",
            f"{index.items_read} items ({index.plan})",
            f"{matching} matching",
            "met" if index.items_read == matching else "missed",
        ),
        (f"paging, page 1 of {PAGE} rows (streamed)", f"{first.items_read} items", "-", ""),
        (
            "paging, page 50",
            f"{response.items_read} items",
            f"{response.items_read / first.items_read:.2f}x page 1",
            "met" if response.items_read <= 1.2 * first.items_read else "missed",
        ),
    ]


def page_time() -> list[tuple[str, str, str, str]]:
    """Wall time of one 200-row page through parse, plan, filter and JSON, the table in memory."""
    from sf_edge.aws.odata_store import ReadPlan, plan
    from sf_edge.odata.feed import Feed, FeedAuth
    from sf_edge.odata.schema import BY_NAME

    orders = BY_NAME["Orders"]
    rows = [_order(i) for i in range(2 * PAGE + 10)]

    class InMemory:
        items_read = 0

        def read(self, read_plan: ReadPlan, after: Any = None, batch: int | None = None) -> Any:
            return iter(rows)

        def resume_keys(self, read_plan: ReadPlan) -> tuple[str, ...]:
            return ("OrderID",)

        def get(self, key: dict[str, Any]) -> Any:
            return None

    feed = Feed(lambda _s: InMemory(), plan, FeedAuth("none"), page_size=PAGE, entity_sets=(orders,))
    request = _request(
        "/Orders",
        "$filter=Freight+ge+0+and+ShipCountry+eq+'France'&$select=OrderID,CustomerID,OrderDate,Freight,ShipName",
    )
    samples, references = [], []
    for _ in range(200):
        started = time.perf_counter()
        response = feed.handle(request)
        samples.append(time.perf_counter() - started)
        started = time.perf_counter()
        json.dumps([{k: float(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in rows[:PAGE]])
        references.append(time.perf_counter() - started)
    assert len(json.loads(response.body)["value"]) == PAGE
    ours, reference = statistics.median(samples), statistics.median(references)
    return [
        (
            f"parse + plan + filter + serialize a {PAGE}-row page (p50)",
            f"{ours * 1e3:.2f} ms",
            f"json.dumps of the rows: {reference * 1e3:.2f} ms ({ours / reference:.1f}x)",
            "met (<= 10 ms)" if ours <= 0.010 else "missed (<= 10 ms)",
        )
    ]


def table() -> list[str]:
    """The OData section of bench/results.md."""
    lines = [
        "",
        f"## OData feed ({ROWS:,} Orders-shaped rows in moto, in process)",
        "",
        "| measurement | ours | reference | target |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in items_read() + page_time()]
    return lines
