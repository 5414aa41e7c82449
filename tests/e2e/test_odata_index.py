"""The OData index through moto: counts and `$search` postings stay exact whoever writes (the feed, the worker, a
bulk load straight into DynamoDB), under stream redelivery and concurrent writers; the backfill rebuilds them.
And what a request costs through `make run`: Server-Timing, the query string as sent (`%2B`), a warning for an
`$orderby` no index serves."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from conftest import ROOT, TOKEN, csrf_token, serving
from local_runtime.aws_local import LocalAws
from local_runtime.stack import LocalStack
from sf_edge.odata.schema import BY_NAME

AUTH = "Basic " + base64.b64encode(b"salesforce:local-dev-password").decode()
ORDERS = json.loads((ROOT / "data" / "northwind" / "Orders.json").read_text(encoding="utf-8"))
ENV = {"ODATA_AUTH": "Basic", "ODATA_USERNAME": "salesforce", "ODATA_PASSWORD": "local-dev-password"}


@pytest.fixture
def server(local_aws: LocalAws) -> Iterator[LocalStack]:
    with serving(local_aws, ENV, indexer=False, worker=False) as stack:
        yield stack


def call(server: LocalStack, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": AUTH, "Content-Type": "application/json"}
    if method not in ("GET", "HEAD"):
        headers["X-CSRF-Token"] = csrf_token(f"{server.url}/odata/v4", AUTH)
    request = urllib.request.Request(
        f"{server.url}/odata/v4{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, dict(error.headers), error.read()
    kind = headers.get("Content-Type", "")
    return status, headers, json.loads(raw) if "json" in kind and raw else raw.decode()


def count(server: LocalStack, entity_set: str, query: str = "") -> tuple[int, int]:
    """(the count, items the request read) of /<set>/$count?<query>."""
    status, headers, body = call(server, "GET", f"/{entity_set}/$count{'?' + query if query else ''}")
    assert status == 200, body
    return int(body), items(headers)


def items(headers: dict[str, str]) -> int:
    timing = dict(part.strip().split(";", 1) for part in headers["Server-Timing"].split(","))
    return int(timing["items"].split('"')[1])


def recount(server: LocalStack, table: str, attribute: str | None = None, value: Any = None) -> int:
    """Count the table's rows by scanning it (the truth the counters must equal)."""
    from sf_edge.aws.clients import dynamodb

    scan = dynamodb().Table(server.physical(table)).scan()
    rows = scan["Items"]
    return sum(1 for r in rows if attribute is None or r.get(attribute) == value)


def test_counts_follow_writes_through_the_feed(server: LocalStack) -> None:
    assert count(server, "Customers") == (91, 1)
    for i in range(3):
        created = {"CustomerID": f"WOND{i}", "CompanyName": f"Wonder {i}", "Country": "Wonderland"}
        assert call(server, "POST", "/Customers", created)[0] == 201
    assert call(server, "DELETE", "/Customers('WOND0')")[0] == 204
    assert call(server, "PATCH", "/Customers('WOND1')", {"Country": "Oz"})[0] == 204
    server.drain_streams()
    assert count(server, "Customers") == (93, 1)
    assert count(server, "Customers", "$filter=Country+eq+'Wonderland'") == (1, 1)
    assert count(server, "Customers", "$filter=Country+eq+'Oz'") == (1, 1)
    assert count(server, "Customers", "$filter=Country+eq+'Germany'")[0] == recount(
        server, "CustomersTable", "Country", "Germany"
    )
    status, _, body = call(server, "GET", "/Customers?$search=Wonder&$select=CustomerID&$count=true")
    assert (status, sorted(c["CustomerID"] for c in body["value"]), body["@odata.count"]) == (
        200,
        ["WOND1", "WOND2"],
        2,
    )


def test_rows_written_straight_into_dynamodb_appear_in_list_views_counts_and_search(server: LocalStack) -> None:
    """A bulk load or an ETL writes plain rows, without the attributes our sorted indexes need: the stream adds them."""
    from sf_edge.aws.clients import dynamodb

    table = dynamodb().Table(server.physical("OrdersTable"))
    with table.batch_writer() as batch:
        for i in range(5):
            batch.put_item(
                Item={
                    "OrderID": 20000 + i,
                    "CustomerID": "ALFKI",
                    "OrderDate": f"1999-01-0{i + 1}T00:00:00Z",
                    "ShipName": f"Loaded Elsewhere {i}",
                    "Freight": Decimal("1.5"),
                }
            )
    server.drain_streams()
    _, headers, body = call(server, "GET", "/Orders?$select=OrderID&$orderby=OrderDate+desc&$top=3&$count=true")
    assert [o["OrderID"] for o in body["value"]] == [20004, 20003, 20002]
    assert body["@odata.count"] == 835 == recount(server, "OrdersTable")
    assert items(headers) <= 3 + 2 * BY_NAME["Orders"].shards + 1
    _, _, body = call(
        server,
        "GET",
        "/Orders?$filter=CustomerID+eq+'ALFKI'&$orderby=OrderDate+desc&$select=OrderID&$top=2&$count=true",
    )
    assert [o["OrderID"] for o in body["value"]] == [20004, 20003]
    assert body["@odata.count"] == 6 + 5
    _, _, body = call(server, "GET", "/Orders?$search=elsewhere&$select=OrderID&$count=true")
    assert body["@odata.count"] == 5


def test_a_redelivered_stream_record_changes_nothing(server: LocalStack) -> None:
    import boto3

    import odata_indexer
    from local_runtime.lambda_host import LocalContext
    from sf_edge.aws.clients import dynamodb

    [stream] = [s for s in server.streams if "ShippersTable" in s.stream_arn]
    dynamodb().Table(server.physical("ShippersTable")).put_item(Item={"ShipperID": 77, "CompanyName": "Again Express"})
    records = []
    client = boto3.client("dynamodbstreams")
    for shard in stream._shards.values():
        response = client.get_records(ShardIterator=shard.iterator, Limit=100)
        records += [stream._record(r) for r in response["Records"]]
    assert [r["eventName"] for r in records] == ["INSERT"]
    for _ in range(3):  # Lambda retries a batch, a shard is re-read after a failure: the same record, again
        result = odata_indexer.lambda_handler({"Records": records}, LocalContext("ODataIndexerFunction"))
        assert result == {"batchItemFailures": []}
    server.drain_streams()  # and once more through the stream itself (it also carries the annotation write)
    assert count(server, "Shippers") == (4, 1)
    _, _, body = call(server, "GET", "/Shippers?$search=again&$select=ShipperID")
    assert body["value"] == [{"ShipperID": 77}]


def test_concurrent_writers_and_a_backfill_keep_counts_exact(server: LocalStack) -> None:
    """Writers move products between categories while their changes are applied concurrently with a backfill of
    the same table (and with each other): the counters end equal to a recount."""
    import odata_indexer
    from sf_edge.aws.clients import dynamodb

    table = dynamodb().Table(server.physical("ProductsTable"))
    maintainer = odata_indexer.indexer().maintainer
    products = BY_NAME["Products"]
    errors: list[BaseException] = []
    # DynamoDB orders an item's stream records as its writes; moto can append two concurrent puts' records the
    # other way round (seen under load). The puts are serialised so the stream is DynamoDB's; the applies, the
    # backfill and the read-modify-write cycles still interleave freely.
    put_in_stream_order = threading.Lock()

    def writer(offset: int) -> None:
        try:
            for turn in range(5):
                product_id = 1 + (offset * 3 + turn) % 12  # writers share products: they collide
                row = table.get_item(Key={"ProductID": product_id}, ConsistentRead=True)["Item"]
                row["CategoryID"] = Decimal(1 + (offset + turn) % 3)
                with put_in_stream_order:
                    table.put_item(Item=row)
                maintainer.apply(products, {"ProductID": product_id}, row)  # as its stream record would
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    threads.append(threading.Thread(target=lambda: maintainer.backfill(products)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    server.drain_streams()  # the stream then delivers every write, in order, after all of that
    for category in range(1, 9):
        truth = recount(server, "ProductsTable", "CategoryID", category)
        assert count(server, "Products", f"$filter=CategoryID+eq+{category}") == (truth, 1), category
    assert count(server, "Products") == (77, 1)


def test_backfill_indexes_rows_loaded_while_the_stream_was_off(server: LocalStack) -> None:
    import odata_indexer
    from local_runtime.lambda_host import LocalContext
    from sf_edge.aws.clients import dynamodb

    table = dynamodb().Table(server.physical("ProductsTable"))
    with table.batch_writer() as batch:
        for i in range(30):
            batch.put_item(Item={"ProductID": 500 + i, "ProductName": f"Backfilled {i:02d}", "CategoryID": 99})
    for stream in server.streams:  # the stream was off: what it holds is never delivered
        for shard in stream._shards.values():
            shard.iterator = stream.streams.get_shard_iterator(
                StreamArn=stream.stream_arn, ShardId=shard.shard_id, ShardIteratorType="LATEST"
            )["ShardIterator"]
    assert count(server, "Products") == (77, 1)  # the counter does not know them yet
    outcome = odata_indexer.lambda_handler({"backfill": "Products"}, LocalContext("ODataIndexerFunction"))
    assert outcome == {"entitySet": "Products", "rows": 107, "annotated": 30, "changed": 30}
    server.drain_streams()  # the annotations it wrote come back through the stream: nothing more to do
    assert count(server, "Products") == (107, 1)
    assert count(server, "Products", "$filter=CategoryID+eq+99") == (30, 1)
    _, _, body = call(server, "GET", "/Products?$orderby=ProductName&$select=ProductName&$top=2")
    assert [p["ProductName"] for p in body["value"]] == ["Alice Mutton", "Aniseed Syrup"]
    _, _, body = call(
        server, "GET", "/Products?$filter=startswith(ProductName,'Backfilled')&$orderby=ProductName+desc&$top=1"
    )
    assert body["value"][0]["ProductName"] == "Backfilled 29"
    again = odata_indexer.lambda_handler({"backfill": "Products"}, LocalContext("ODataIndexerFunction"))
    assert (again["annotated"], again["changed"]) == (0, 0)  # idempotent


def test_orders_the_worker_creates_are_counted(local_aws: LocalAws) -> None:
    with serving(local_aws, ENV, worker=False, indexer=False) as stack:  # the test runs the worker itself
        message = (ROOT / "events" / "samples" / "opportunity_closed_won.xml").read_bytes()
        request = urllib.request.Request(
            f"{stack.url}/outbound/opportunity?token={TOKEN}",
            data=message,
            headers={"Content-Type": "text/xml"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
        for source in stack.sources:
            source.poll_once()
        stack.drain_streams()
        assert count(stack, "Orders")[0] == 831 == recount(stack, "OrdersTable")
        _, _, body = call(stack, "GET", "/Orders?$orderby=OrderID+desc&$top=1&$select=OrderID,SalesforceOpportunityId")
        assert body["value"][0]["SalesforceOpportunityId"] == "0065g00000SmpLeAAJ"


def test_a_plus_sent_as_percent_2b_stays_a_plus(server: LocalStack) -> None:
    assert call(server, "PATCH", "/Customers('ALFKI')", {"Phone": "+49 030-0074321"})[0] == 204
    status, _, body = call(server, "GET", "/Customers?$filter=Phone+eq+'%2B49+030-0074321'&$select=CustomerID")
    assert (status, body["value"]) == (200, [{"CustomerID": "ALFKI"}])
    # A date-time offset: 02:00 at +02:00 is midnight UTC, the first Northwind order's date.
    status, _, body = call(server, "GET", "/Orders?$filter=OrderDate+eq+1996-07-04T02:00:00%2B02:00&$select=OrderID")
    assert (status, body["value"]) == (200, [{"OrderID": 10248}])


def test_every_response_says_where_its_time_went(server: LocalStack) -> None:
    for path in ("/Orders(10248)", "/Orders?$top=5", "/$metadata", "/Nowhere"):
        _, headers, _ = call(server, "GET", path)
        parts = dict(part.strip().split(";", 1) for part in headers["Server-Timing"].split(","))
        assert set(parts) == {"store", "app", "items"}
        assert float(parts["store"].removeprefix("dur=")) >= 0
        assert float(parts["app"].removeprefix("dur=")) > 0
    _, headers, _ = call(server, "GET", "/Orders(10248)")
    assert items(headers) == 1


def test_an_orderby_no_index_serves_is_answered_and_reported(
    server: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import odata_feed

    warnings: list[dict[str, Any]] = []
    metrics: list[str] = []
    monkeypatch.setattr(
        odata_feed.logger, "warning", lambda message, **fields: warnings.append({"message": message, **fields})
    )
    add_metric = odata_feed.metrics.add_metric
    monkeypatch.setattr(
        odata_feed.metrics, "add_metric", lambda **kwargs: (metrics.append(kwargs["name"]), add_metric(**kwargs))
    )
    status, _, body = call(
        server, "GET", "/Orders?$orderby=ShipCountry,ShipCity+desc&$top=5&$select=OrderID,ShipCountry"
    )
    assert status == 200
    expected = sorted(ORDERS, key=lambda o: (o["ShipCountry"], _desc(o["ShipCity"]), -o["OrderID"]))[:5]
    assert [o["OrderID"] for o in body["value"]] == [o["OrderID"] for o in expected]
    assert [(w["message"], w["would_use"]) for w in warnings] == [
        ("$orderby served without an index", "all-by-ShipCountry")
    ]
    assert "ODataUnindexedOrderBy" in metrics
    warnings.clear()
    assert call(server, "GET", "/Orders?$orderby=OrderDate+desc&$top=5")[0] == 200
    assert warnings == []  # a declared order is served by its index


def _desc(text: str) -> tuple[int, ...]:
    return (*(-ord(c) for c in text), 0)


def test_a_batch_that_cannot_go_in_one_pass_is_applied_record_by_record(
    server: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB refusing the one-pass batch (or a state moved under it): each record is applied on its own."""
    import boto3

    import odata_indexer
    from local_runtime.lambda_host import LocalContext
    from sf_edge.aws.clients import dynamodb

    def refused(changes: object) -> None:
        raise RuntimeError("throttled")

    [stream] = [s for s in server.streams if "ShippersTable" in s.stream_arn]
    before = count(server, "Shippers")[0]
    dynamodb().Table(server.physical("ShippersTable")).put_item(Item={"ShipperID": 78, "CompanyName": "Record Post"})
    client = boto3.client("dynamodbstreams")
    records = [
        stream._record(r)
        for shard in stream._shards.values()
        for r in client.get_records(ShardIterator=shard.iterator, Limit=100)["Records"]
    ]
    monkeypatch.setattr(odata_indexer.indexer().maintainer, "apply_batch", refused)
    result = odata_indexer.lambda_handler({"Records": records}, LocalContext("ODataIndexerFunction"))
    assert result == {"batchItemFailures": []}
    assert count(server, "Shippers")[0] == before + 1  # applied by the fallback, before the stream goes on
    monkeypatch.undo()
    server.drain_streams()
    assert count(server, "Shippers")[0] == before + 1
