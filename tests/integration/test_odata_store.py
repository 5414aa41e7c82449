"""The DynamoDB adapter under DynamoDB's own limits: every read answers the same when each Query and Scan stops
after a few items (as one does at 1 MB) and BatchGetItem hands back most keys as unprocessed (as it does when
throttled or at 16 MB). moto answers in one page, so a client that keeps DynamoDB's contract stingily stands in.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from conftest import Stack
from local_runtime.aws_local import LocalAws
from sf_edge.odata.engine import ReadStats
from sf_edge.odata.feed import Feed, FeedAuth, FeedRequest
from sf_edge.odata.schema import ENTITY_SETS, EntitySet

ROOT_URL = "https://api.example.com/live/odata/v4/"


class StingyDynamoDB:
    """The low-level client, but every Query/Scan page holds at most `page` items and every BatchGetItem serves
    at most `batch` keys, returning the rest in UnprocessedKeys: what DynamoDB may do to any call."""

    def __init__(self, client: Any, page: int = 3, batch: int = 4) -> None:
        self.client, self.page, self.batch = client, page, batch
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def query(self, **arguments: Any) -> Any:
        self._count("query")
        return self.client.query(**{**arguments, "Limit": min(arguments.get("Limit", self.page), self.page)})

    def scan(self, **arguments: Any) -> Any:
        self._count("scan")
        return self.client.scan(**{**arguments, "Limit": min(arguments.get("Limit", self.page), self.page)})

    def batch_get_item(self, RequestItems: dict[str, Any]) -> Any:  # noqa: N803 - boto3's argument name
        self._count("batch_get_item")
        served: dict[str, Any] = {}
        unprocessed: dict[str, Any] = {}
        for table, request in RequestItems.items():
            keys = request["Keys"]
            served[table] = {**request, "Keys": keys[: self.batch]}
            if keys[self.batch :]:
                unprocessed[table] = {**request, "Keys": keys[self.batch :]}
        response = self.client.batch_get_item(RequestItems=served)
        response["UnprocessedKeys"] = unprocessed
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@pytest.fixture(scope="module")
def tables(local_aws: LocalAws) -> Stack:
    from local_runtime.stack import seed_order_system

    stack = Stack(local_aws)
    stack.provision()
    seed_order_system(stack.template)
    return stack


def feed(stack: Stack, client: Any) -> Feed:
    from sf_edge.aws.odata_store import EntityStore

    def store(entity_set: EntitySet, stats: ReadStats) -> EntityStore:
        table = os.environ[entity_set.table_env]  # as the function's environment names it (Stack.provision sets it)
        return EntityStore(entity_set, client, table, stack.name("ODataIndexTable"), stats)

    return Feed(store, FeedAuth("none"), page_size=2000, entity_sets=ENTITY_SETS)


def answer(served: Feed, path: str, query: str) -> Any:
    response = served.handle(FeedRequest("GET", path, query, {}, ROOT_URL))
    assert response.status == 200, response.body
    return json.loads(response.body)


READS = [
    ("/Orders", "$select=OrderID&$count=true"),  # the whole table, in storage order
    ("/Orders", "$select=OrderID&$skip=300&$top=40"),  # skipped with COUNT reads
    ("/Orders", "$select=OrderID&$orderby=OrderDate desc&$top=60&$count=true"),  # a sorted index, every shard
    ("/Orders", "$select=OrderID&$filter=CustomerID eq 'SAVEA'&$orderby=OrderDate"),  # one partition
    ("/Orders", "$select=OrderID&$filter=Freight gt 100"),  # a pushed-down filter dropping most items
    ("/Orders", "$select=OrderID&$filter=contains(ShipName,'a')&$count=true"),  # a parallel scan
    ("/Order_Details", "$filter=OrderID in (10248,10249,10250,10251,10252,10253,10254,10255,10256,10257)"),
    ("/Customers", "$search=Berlin OR London OR Madrid&$select=CustomerID"),  # postings, then a batch get
    ("/Products", "$select=ProductID&$search=ch"),
]


@pytest.mark.parametrize(("path", "query"), READS, ids=[q for _, q in READS])
def test_every_read_answers_the_same_when_dynamodb_pages_and_throttles(
    tables: Stack, path: str, query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sf_edge.aws import odata_store
    from sf_edge.aws.clients import dynamodb_client

    monkeypatch.setattr(odata_store.time, "sleep", lambda _seconds: None)  # the back-off, not the waiting, matters
    monkeypatch.setattr(odata_store, "ROWS_PER_SEGMENT", 200)  # Northwind's 830 Orders in 5 parallel segments
    expected = answer(feed(tables, dynamodb_client()), path, query)
    assert expected["value"], "a read that finds nothing proves nothing"
    stingy = StingyDynamoDB(dynamodb_client())
    assert answer(feed(tables, stingy), path, query) == expected
    assert sum(stingy.calls.values()) > 1, stingy.calls  # it really was served in pieces


@pytest.mark.parametrize(
    ("flipped", "written"),
    [
        ("'SAVEA' ne CustomerID", "CustomerID ne 'SAVEA'"),  # `ne` had no flip in the store's own table: a 500
        ("100 lt Freight", "Freight gt 100"),
        ("10 ge EmployeeID and 'VINET' eq CustomerID", "EmployeeID le 10 and CustomerID eq 'VINET'"),
    ],
)
def test_a_literal_on_the_left_is_pushed_down_as_its_flip(tables: Stack, flipped: str, written: str) -> None:
    from sf_edge.aws.clients import dynamodb_client
    from sf_edge.odata.planner import plan
    from sf_edge.odata.request import bind_options, parse_query_string
    from sf_edge.odata.schema import BY_NAME

    served = feed(tables, dynamodb_client())
    query = "$select=OrderID&$count=true&$filter="
    expected = answer(served, "/Orders", query + written)
    assert expected["value"]
    assert answer(served, "/Orders", query + flipped) == expected
    options = bind_options(BY_NAME["Orders"], parse_query_string(query + flipped))
    assert plan(BY_NAME["Orders"], options).pushed  # DynamoDB filtered it, not only the engine
