"""What a hostile review of the OData feeds found (issue 11), each held by a test: write safety, and errors that
tell the truth (a 400 for what can never succeed, a 503 only for what may succeed later)."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import csrf_token, serving
from local_runtime.aws_local import LocalAws
from local_runtime.stack import LocalStack
from sf_edge.odata.request import encode_skiptoken

AUTH = "Basic " + base64.b64encode(b"salesforce:local-dev-password").decode()
ENV = {"ODATA_AUTH": "Basic", "ODATA_USERNAME": "salesforce", "ODATA_PASSWORD": "local-dev-password"}


@pytest.fixture(scope="module")
def server(local_aws: LocalAws) -> Iterator[LocalStack]:
    with serving(local_aws, ENV, indexer=False) as stack:
        yield stack


def call(
    server: LocalStack, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    extra = dict(headers or {})
    if method not in ("GET", "HEAD"):
        extra.setdefault("X-CSRF-Token", csrf_token(f"{server.url}/odata/v4", AUTH))
    request = urllib.request.Request(
        f"{server.url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": AUTH, "Content-Type": "application/json", **extra},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def code(body: bytes) -> str:
    return str(json.loads(body)["error"]["code"])


def test_a_key_is_percent_encoded_in_location_and_control_characters_are_refused(server: LocalStack) -> None:
    status, headers, body = call(
        server, "POST", "/odata/v4/Customers", {"CustomerID": "c\r\nSet-Cookie: s=1", "CompanyName": "x"}
    )
    assert (status, code(body)) == (400, "InvalidValue")
    assert "Set-Cookie" not in headers
    status, headers, _ = call(server, "POST", "/odata/v4/Customers", {"CustomerID": "a b/ü&", "CompanyName": "Spaced"})
    assert status == 201
    assert headers["Location"].endswith("/odata/v4/Customers('a%20b%2F%C3%BC%26')")
    status, headers, _ = call(server, "GET", "/odata/v4/Customers('a%20b%2F%C3%BC%26')")
    assert status == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("GET", "/odata/v4/Customers('')", None, 404, "NotFound"),
        ("POST", "/odata/v4/Customers", {"CustomerID": "", "CompanyName": "No key"}, 400, "InvalidValue"),
        ("PATCH", "/odata/v4/Employees(1)", {"Notes": "x" * 500_000}, 400, "EntityTooLarge"),
        ("PATCH", "/odata/v4/Customers('ALFKI')", {"City": "\u0001"}, 400, "InvalidValue"),
        (
            "GET",
            "/odata/v4/Orders?$skiptoken=" + encode_skiptoken(5, {"OrderID": "ten"}, "scan"),
            None,
            400,
            "InvalidSkipToken",
        ),
        (
            "GET",
            "/odata/v4/Orders?$skiptoken=" + encode_skiptoken(5, 12, "all-by-OrderDate:a") + "&$orderby=OrderDate",
            None,
            400,
            "InvalidSkipToken",
        ),
    ],
)
def test_what_can_never_succeed_is_a_400_not_a_retry(
    server: LocalStack, method: str, path: str, body: Any, status: int, error: str
) -> None:
    got, headers, answer = call(server, method, path, body)
    assert (got, code(answer)) == (status, error)
    assert "Retry-After" not in headers


def test_the_stores_own_refusals_are_400_in_every_feed(server: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ValidationException from DynamoDB (whatever slipped past validation) is the request's fault."""
    from botocore.exceptions import ClientError

    from sf_edge.aws.odata_store import EntityStore

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "key too long"}}, "GetItem")

    monkeypatch.setattr(EntityStore, "get", refuse)
    for prefix in ("/odata/v4", "/odata/v2"):
        status, headers, body = call(server, "GET", f"{prefix}/Orders(10248)")
        assert status == 400, body
        assert "Retry-After" not in headers


def test_a_stored_control_character_never_fails_a_read(server: LocalStack) -> None:
    """Another writer stored what XML cannot carry: AtomPub writes U+FFFD instead of failing the whole feed."""
    from sf_edge.aws.clients import dynamodb

    dynamodb().Table(server.physical("ShippersTable")).update_item(
        Key={"ShipperID": 1}, UpdateExpression="SET Phone = :p", ExpressionAttributeValues={":p": "555\u0001 0100"}
    )
    status, _, body = call(server, "GET", "/odata/v2/Shippers?$format=atom")
    assert status == 200
    assert "555\ufffd 0100".encode() in body
    status, _, body = call(server, "GET", "/odata/v4/Shippers(1)")
    assert (status, json.loads(body)["Phone"]) == (200, "555\u0001 0100")  # JSON carries it escaped, as stored


def test_two_interleaved_puts_cannot_both_win(server: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both writers read version n; before, both wrote version n+1 and the loser's later If-Match overwrote the
    winner unseen. Now each write is conditional on the version it read: one wins, the other gets a 412."""
    from sf_edge.aws.odata_store import EntityWrites

    both_read = threading.Barrier(2, timeout=20)
    original = EntityWrites.replace

    def replace(self: EntityWrites, key: dict[str, Any], values: dict[str, Any], expected: int | None) -> Any:
        table = self.table
        get_item = table.get_item

        waited = []

        def get_then_wait(**kwargs: Any) -> Any:
            item = get_item(**kwargs)
            if not waited:  # the read `replace` starts with: both requests read the same version before either writes
                waited.append(True)
                both_read.wait()
            return item

        self.table = _Proxy(table, get_item=get_then_wait)
        try:
            return original(self, key, values, expected)
        finally:
            self.table = table

    monkeypatch.setattr(EntityWrites, "replace", replace)
    import odata_feed
    from sf_edge.odata.feed import FeedRequest

    call(server, "GET", "/odata/v4/")  # the feed exists (two Lambda containers each hold one)
    feed = odata_feed.odata().feed
    statuses: list[int] = []

    def put(name: str) -> None:
        headers = {"Authorization": AUTH, "X-CSRF-Token": feed.csrf_token or ""}
        body = json.dumps({"CompanyName": name}).encode()
        request = FeedRequest("PUT", "/Shippers(2)", "", headers, f"{server.url}/odata/v4/", body)
        statuses.append(feed.handle(request).status)

    writers = [threading.Thread(target=put, args=(name,)) for name in ("Writer A", "Writer B")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert sorted(statuses) == [204, 412]


class _Proxy:
    def __init__(self, target: Any, **overrides: Any) -> None:
        self._target, self._overrides = target, overrides

    def __getattr__(self, name: str) -> Any:
        return self._overrides.get(name) or getattr(self._target, name)


def test_a_filter_too_costly_for_the_table_is_refused_before_reading() -> None:
    """A 9 KB $filter checked on every row of a large table would outlast the function: 400, nothing read."""
    import json as json_

    from conftest import ROOT
    from fakes.odata_store import MemoryTable
    from sf_edge.odata.engine import ReadStats
    from sf_edge.odata.feed import Feed, FeedAuth, FeedRequest
    from sf_edge.odata.schema import BY_NAME

    details = BY_NAME["Order_Details"]
    rows = json_.loads((ROOT / "data" / "northwind" / "Order_Details.json").read_text("utf-8"))
    table = MemoryTable(details, rows)
    reads: list[ReadStats] = []

    def store(_set: Any, stats: ReadStats) -> Any:
        reads.append(stats)
        return table.store(stats)

    long_filter = " or ".join(f"(Quantity eq {n} and UnitPrice gt {n}.5)" for n in range(300))  # ~11 KB
    feed = Feed(store, FeedAuth("none"), entity_sets=(details,), max_filter_work=1_000_000)
    response = feed.handle(FeedRequest("GET", "/Order_Details", f"$filter={long_filter}", {}, "https://x/"))
    assert (response.status, json_.loads(response.body)["error"]["code"]) == (400, "FilterTooComplex")
    assert reads[-1].items_read <= 1  # the set's counter, nothing more
    small = feed.handle(
        FeedRequest("GET", "/Order_Details", "$filter=Quantity eq 12 and UnitPrice gt 10", {}, "https://x/")
    )
    assert small.status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"UnitPrice": "1e200"}, "UnitPrice"),  # DynamoDB cannot hold it: was a 503 "retry"
        ({"UnitPrice": "1234567890123456789012345678901234567890"}, "UnitPrice"),
        ({"ReorderLevel": 99999}, "ReorderLevel"),
    ],
)
def test_numbers_past_what_metadata_declares_are_400(server: LocalStack, body: dict[str, Any], field: str) -> None:
    status, _, answer = call(server, "PATCH", "/odata/v4/Products(1)", body)
    assert (status, code(answer), json.loads(answer)["error"]["target"]) == (400, "InvalidValue", field)


def test_a_date_time_outside_the_calendar_in_utc_is_400(server: LocalStack) -> None:
    status, _, answer = call(server, "PATCH", "/odata/v4/Orders(10248)", {"OrderDate": "0001-01-01T00:00:00+14:00"})
    assert (status, code(answer)) == (400, "InvalidValue")  # was an OverflowError: 500


def test_fraction_digits_past_the_scale_are_rounded_away(server: LocalStack) -> None:
    assert call(server, "PATCH", "/odata/v4/Products(1)", {"UnitPrice": 0.30000000000000004})[0] == 204
    _status, _, answer = call(server, "GET", "/odata/v4/Products(1)?$select=UnitPrice")
    assert json.loads(answer)["UnitPrice"] == 0.3


def test_an_empty_key_in_a_filter_is_no_match_not_a_store_error(server: LocalStack) -> None:
    status, _, answer = call(server, "GET", "/odata/v4/Customers?$filter=CustomerID+eq+''")
    assert (status, json.loads(answer)["value"]) == (200, [])
