"""OData at any table size: each request shape Salesforce Connect sends answers the same rows and counts as SQLite
over the same data (an independent evaluation), at two table sizes, and reads a page's worth of items at both.

The store is the in-memory stand-in (tests/odata_memory.py), which counts items as DynamoDB bills them: every item
a chunk looks at, before a pushed-down filter drops it. tests/e2e/test_odata_index.py checks the same through moto.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from conftest import ROOT
from fakes.odata_store import MemoryTable
from sf_edge.odata.engine import ReadStats
from sf_edge.odata.feed import Feed, FeedAuth, FeedRequest
from sf_edge.odata.schema import BY_NAME

ROOT_URL = "https://edge.example.com/odata/v4/"
ORDERS = BY_NAME["Orders"]
SHARDS = ORDERS.shards
SIZES = (400, 4000)
WORDS = ("Gourmet", "Market", "Vins", "Ernst", "Lonesome", "Pine")
COUNTRIES = ("France", "Germany", "USA", "Brazil", "Spain")


def orders(n: int) -> list[dict[str, Any]]:
    """Orders-shaped rows with the awkward parts of real data: many ties on dates and freight, nulls, 37
    customers sharing the orders, words repeated across rows."""
    rows = []
    for i in range(n):
        rows.append(
            {
                "OrderID": 10000 + i,
                "CustomerID": f"C{(i * 7) % 37:04d}",
                "EmployeeID": i % 9 + 1,
                "OrderDate": f"1997-{i % 12 + 1:02d}-{i % 3 + 1:02d}T00:00:00Z",
                "ShippedDate": None if i % 10 == 0 else f"1997-{i % 12 + 1:02d}-20T00:00:00Z",
                "Freight": Decimal(i % 50) / 4,
                "ShipName": f"{WORDS[i % len(WORDS)]} {WORDS[(i // 7) % len(WORDS)]} {i % 13}",
                "ShipCity": f"City{i % 17}",
                "ShipCountry": COUNTRIES[i % len(COUNTRIES)] if i % 11 else None,
            }
        )
    return rows


class Orders:
    """A table of n orders: the feed over it, and SQLite over the same rows."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.rows = orders(n)
        self.table = MemoryTable(ORDERS, self.rows)
        self.db = sqlite3.connect(":memory:")
        columns = list(self.rows[0])
        self.db.execute(f"create table Orders ({', '.join(columns)})")
        self.db.executemany(
            f"insert into Orders values ({', '.join('?' for _ in columns)})",  # noqa: S608 - placeholders only
            [[float(r[c]) if isinstance(r[c], Decimal) else r[c] for c in columns] for r in self.rows],
        )

    def get(self, query: str, page_size: int = 2000) -> tuple[dict[str, Any], ReadStats]:
        """The feed's answer and what it read."""
        feed, reads = feed_over(self.table, page_size)
        response = feed.handle(FeedRequest("GET", "/Orders", query, {}, ROOT_URL))
        assert response.status == 200, response.body
        return json.loads(response.body), reads[-1]

    def sql(self, where: str, order: str, limit: int | None = None, offset: int = 0) -> list[int]:
        statement = f"select OrderID from Orders where {where} order by {order} limit {limit or -1} offset {offset}"  # noqa: S608
        return [r[0] for r in self.db.execute(statement)]

    def count(self, where: str) -> int:
        return int(self.db.execute(f"select count(*) from Orders where {where}").fetchone()[0])  # noqa: S608


def feed_over(table: MemoryTable, page_size: int = 2000) -> tuple[Feed, list[ReadStats]]:
    """A feed over one in-memory table, and the read statistics of every request it answers."""
    reads: list[ReadStats] = []

    def store(_entity_set: Any, stats: ReadStats) -> Any:
        reads.append(stats)
        return table.store(stats)

    return Feed(store, FeedAuth("none"), page_size=page_size, entity_sets=(table.entity_set,)), reads


@pytest.fixture(scope="module", params=SIZES, ids=[f"{n}-rows" for n in SIZES])
def table(request: pytest.FixtureRequest) -> Orders:
    return Orders(request.param)


def q(text: str) -> str:
    """A readable query as Salesforce sends it (values percent-encoded)."""
    return "&".join(
        f"{name}={quote(value, safe=',()$:')}" for name, _, value in (p.partition("=") for p in text.split("&"))
    )


# (what Salesforce does, the query, SQL where, SQL order with the key tie-break, top, skip, items-read bound)
# The bound is what a page needs: $skip + $top rows (+1 to know a next page exists when the client wants more),
# + 1 counter; a merge over the shards also reads up to two rows per shard past the page (MERGE).
MERGE = 2 * SHARDS
SHAPES = [
    (
        "sorted list view, newest first",
        "$select=OrderID,CustomerID,OrderDate&$orderby=OrderDate desc&$top=26&$count=true",
        "1=1",
        "OrderDate desc, OrderID desc",
        26,
        0,
        26 + MERGE + 1,
    ),
    (
        "sorted list view, second page by $skip",
        "$select=OrderID,OrderDate&$orderby=OrderDate desc&$top=26&$skip=25&$count=true",
        "1=1",
        "OrderDate desc, OrderID desc",
        26,
        25,
        25 + 26 + MERGE + 1,
    ),
    (
        "list view with Row Counts off",
        "$select=OrderID,CustomerID,OrderDate,ShipCountry,Freight&$orderby=OrderDate desc&$top=26&$count=false",
        "1=1",
        "OrderDate desc, OrderID desc",
        26,
        0,
        26 + MERGE,
    ),
    (
        "list view sorted by the key",
        "$select=OrderID&$orderby=OrderID&$top=26&$count=true",
        "1=1",
        "OrderID",
        26,
        0,
        26 + MERGE + 1,
    ),
    (
        "related list: a customer's orders, newest first",
        "$select=OrderID,OrderDate,ShippedDate,Freight&$filter=CustomerID eq 'C0007'"
        "&$orderby=OrderDate desc&$top=6&$count=true",
        "CustomerID = 'C0007'",
        "OrderDate desc, OrderID desc",
        6,
        0,
        6 + 1,
    ),
    (
        "related list, page two",
        "$select=OrderID&$filter=CustomerID eq 'C0007'&$orderby=OrderDate&$top=6&$skip=6&$count=true",
        "CustomerID = 'C0007'",
        "OrderDate, OrderID",
        6,
        6,
        12 + 1,
    ),
    (
        "date range, sorted, no count",
        "$select=OrderID,OrderDate&$filter=OrderDate ge 1997-03-01T00:00:00Z and OrderDate lt 1997-05-01T00:00:00Z"
        "&$orderby=OrderDate&$top=26",
        "OrderDate >= '1997-03-01' and OrderDate < '1997-05-01'",
        "OrderDate, OrderID",
        26,
        0,
        26 + MERGE,
    ),
    (
        "sorted list view with a filter on another column",
        "$select=OrderID,OrderDate,EmployeeID&$filter=EmployeeID eq 3&$orderby=OrderDate desc&$top=26",
        "EmployeeID = 3",
        "OrderDate desc, OrderID desc",
        26,
        0,
        None,  # rows the pushed-down filter drops are read too: about 9x the page here
    ),
]


@pytest.mark.parametrize(
    ("what", "query", "where", "order", "top", "skip", "bound"), SHAPES, ids=[s[0] for s in SHAPES]
)
def test_list_views_answer_as_sqlite_and_read_a_page(
    table: Orders, what: str, query: str, where: str, order: str, top: int, skip: int, bound: int | None
) -> None:
    body, reads = table.get(q(query))
    assert [r["OrderID"] for r in body["value"]] == table.sql(where, order, top, skip), what
    if "$count=true" in query:
        assert body["@odata.count"] == table.count(where)
    assert "@odata.nextLink" not in body  # the client's $top is satisfied by this page
    if bound is not None:
        assert reads.items_read <= bound, (what, reads.items_read)
    else:
        assert reads.items_read <= 9 * (top + MERGE) + 1


def test_items_read_do_not_grow_with_the_table() -> None:
    """Ten times the rows, the same reads: exactly for one partition; within the shards' look-ahead for a merge
    (how rows hash to shards moves it by a row or two)."""
    small, large = Orders(SIZES[0]), Orders(SIZES[1])
    for _what, query, _where, _order, _top, _skip, bound in SHAPES:
        if bound is None:
            continue
        few, many = small.get(q(query))[1].items_read, large.get(q(query))[1].items_read
        assert many <= bound, query
        if "CustomerID eq" in query:
            assert few <= many, query  # a small customer may run out of orders before the page does
        else:
            assert abs(few - many) <= SHARDS, query


def test_unsorted_list_view_reads_top_rows_and_the_counter(table: Orders) -> None:
    """Opening an external object: `$select=...&$count=true&$top=26` (4.01 always sends $count=true)."""
    body, reads = table.get("$select=OrderID&$count=true&$top=26")
    ids = [r["OrderID"] for r in body["value"]]
    assert len(ids) == len(set(ids)) == 26
    assert set(ids) <= {r["OrderID"] for r in table.rows}
    assert body["@odata.count"] == table.n
    assert "@odata.nextLink" not in body
    assert reads.items_read == 26 + 1


def test_count_path_reads_one_item(table: Orders) -> None:
    feed, reads = feed_over(table.table)
    response = feed.handle(FeedRequest("GET", "/Orders/$count", "", {}, ROOT_URL))
    assert (response.body, reads[-1].items_read) == (str(table.n).encode(), 1)
    response = feed.handle(FeedRequest("GET", "/Orders/$count", q("$filter=CustomerID eq 'C0007'"), {}, ROOT_URL))
    assert (int(response.body), reads[-1].items_read) == (table.count("CustomerID = 'C0007'"), 1)


def test_a_filter_no_counter_answers_counts_what_it_reads(table: Orders) -> None:
    body, reads = table.get(
        q("$filter=Freight gt 10 and ShipCountry eq 'France'&$orderby=Freight desc&$top=5&$count=true")
    )
    where = "Freight > 10 and ShipCountry = 'France'"
    assert [r["OrderID"] for r in body["value"]] == table.sql(where, "Freight desc, OrderID desc", 5)
    assert body["@odata.count"] == table.count(where)
    assert reads.items_read == table.n  # no index serves Freight: the whole table (+ no counter for this filter)


def test_search_reads_the_matches_not_the_table(table: Orders) -> None:
    body, reads = table.get(q("$select=OrderID,ShipName&$search=Lonesome Pine&$count=true&$top=25"))
    matches = [r for r in table.rows if "Lonesome" in r["ShipName"] and "Pine" in r["ShipName"]]
    assert body["@odata.count"] == len(matches)
    assert {r["OrderID"] for r in body["value"]} <= {r["OrderID"] for r in matches}
    assert len(body["value"]) == min(25, len(matches))
    lonesome = sum(1 for r in table.rows if "Lonesome" in r["ShipName"])
    pine = sum(1 for r in table.rows if "Pine" in r["ShipName"])
    assert reads.items_read == lonesome + pine + len(matches)  # postings of each word, then the matching rows
    # A word nobody uses (the longest, looked up first) ends the lookup: no other postings are read, nor any row.
    body, reads = table.get(q("$select=OrderID&$search=Lonesome Zzyzxqwvbnm&$count=true"))
    assert (body["value"], body["@odata.count"], reads.items_read) == ([], 0, 0)


def walk(table: Orders, query: str, page_size: int) -> Iterator[tuple[list[int], int]]:
    body, reads = table.get(query, page_size)
    while True:
        yield [r["OrderID"] for r in body["value"]], reads.items_read
        link = body.get("@odata.nextLink")
        if link is None:
            return
        assert link.startswith(ROOT_URL + "Orders?")
        body, reads = table.get(urlsplit(link).query, page_size)


@pytest.mark.parametrize(
    ("query", "where", "order"),
    [
        ("$orderby=OrderDate desc&$count=true", "1=1", "OrderDate desc, OrderID desc"),
        ("$filter=CustomerID eq 'C0003'&$orderby=OrderDate", "CustomerID = 'C0003'", "OrderDate, OrderID"),
        ("$orderby=OrderID desc&$top=250&$skip=30", "1=1", "OrderID desc"),
        (
            "$filter=OrderDate ge 1997-06-01T00:00:00Z&$orderby=OrderDate",
            "OrderDate >= '1997-06-01'",
            "OrderDate, OrderID",
        ),
    ],
)
def test_server_driven_paging_walks_each_row_once_and_each_page_costs_a_page(
    table: Orders, query: str, where: str, order: str
) -> None:
    top = 250 if "$top=250" in query else None
    expected = table.sql(where, order, top, 30 if "$skip=30" in query else 0)
    seen: list[int] = []
    for page, (ids, items_read) in enumerate(walk(table, q(query), page_size=50)):
        seen += ids
        # A page: its rows, one to know more exist, the shards' look-ahead, the counter; page one reads what
        # $skip skips, later pages re-read the row they resume from.
        assert items_read <= 50 + 1 + MERGE + 1 + (30 if page == 0 and "$skip=30" in query else 1), page
    assert seen == expected


def test_no_next_link_when_top_is_reached_on_a_streamed_page(table: Orders) -> None:
    body, reads = table.get("$top=10", page_size=10)
    assert len(body["value"]) == 10
    assert "@odata.nextLink" not in body
    assert reads.items_read == 10
    body, _ = table.get("$top=11", page_size=10)
    assert "@odata.nextLink" in body
    [rest] = [ids for ids, _ in list(walk(table, "$top=11", 10))[1:]]
    assert len(rest) == 1


def test_startswith_on_a_sorted_property_reads_only_its_range() -> None:
    customers = BY_NAME["Customers"]
    rows = json.loads((ROOT / "data" / "northwind" / "Customers.json").read_text("utf-8"))
    feed, reads = feed_over(MemoryTable(customers, rows))
    query = q(
        "$select=CustomerID,CompanyName&$filter=startswith(CompanyName,'B')&$orderby=CompanyName&$top=26&$count=true"
    )
    body = json.loads(feed.handle(FeedRequest("GET", "/Customers", query, {}, ROOT_URL)).body)
    expected = sorted((r["CompanyName"], r["CustomerID"]) for r in rows if r["CompanyName"].startswith("B"))
    assert [(r["CompanyName"], r["CustomerID"]) for r in body["value"]] == expected
    assert body["@odata.count"] == len(expected)
    assert reads[-1].items_read <= len(expected) + customers.shards + 1  # the range, the end, the counter


def test_a_page_of_wide_rows_ends_before_lambdas_response_limit() -> None:
    """Long text areas at Salesforce's maximum, in CJK (6 bytes each once Lambda escapes them): a 2,000-row page
    would be ~16 MB, so pages end early with a next link and every row arrives whole, once."""
    import odata_feed

    categories = BY_NAME["Categories"]
    text = "中文" * 65_536  # 131,072 characters
    rows = [{"CategoryID": i, "CategoryName": f"C{i}", "Description": text} for i in range(1, 21)]
    feed, _ = feed_over(MemoryTable(categories, rows))
    query, seen, pages = "$orderby=CategoryID&$count=true", [], 0
    while True:
        response = feed.handle(FeedRequest("GET", "/Categories", query, {}, ROOT_URL))
        assert response.status == 200
        assert len(json.dumps(odata_feed.to_lambda_response(response))) < 6 * 1024 * 1024  # as Lambda sends it
        body = json.loads(response.body)
        assert body["@odata.count"] == 20
        seen += [(r["CategoryID"], r["Description"] == text) for r in body["value"]]
        pages += 1
        link = body.get("@odata.nextLink")
        if link is None:
            break
        query = urlsplit(link).query
    assert seen == [(i, True) for i in range(1, 21)]
    assert pages >= 3


@pytest.mark.parametrize("query", ["$orderby=OrderID", "$orderby=Freight desc,OrderID", "$filter=Freight ge 0"])
def test_a_page_is_never_larger_than_2000_rows_whatever_the_feed_is_given(query: str) -> None:
    # The feed's ceiling (ODATA_PAGE_SIZE is refused past 2000 at start): a feed constructed with more still pages.
    body, _ = Orders(4000).get(q(query), page_size=5000)
    assert len(body["value"]) == 2000
    assert "@odata.nextLink" in body


@pytest.mark.parametrize(
    ("query", "where", "order"),
    [
        # Two partitions of the per-customer index, merged: $skip counts rows of the merge, not of each partition.
        (
            "$filter=CustomerID in ('C0003','C0004')&$orderby=OrderDate&$skip=5&$top=10",
            "CustomerID in ('C0003','C0004')",
            "OrderDate, OrderID",
        ),
        # A residual filter, or one the read pushes down: $skip counts rows that pass it.
        (
            "$filter=contains(ShipName,'Pine')&$orderby=OrderDate desc&$skip=7&$top=5",
            "instr(ShipName,'Pine') > 0",
            "OrderDate desc, OrderID desc",
        ),
        ("$filter=Freight gt 10&$orderby=OrderDate&$skip=7&$top=5", "Freight > 10", "OrderDate, OrderID"),
        ("$filter=Freight mul 2 gt 20&$orderby=OrderDate&$skip=7&$top=5", "Freight * 2 > 20", "OrderDate, OrderID"),
        (
            "$filter=CustomerID eq 'C0003' and Freight gt 10&$orderby=OrderDate&$skip=2&$top=5",
            "CustomerID = 'C0003' and Freight > 10",
            "OrderDate, OrderID",
        ),
        ("$orderby=OrderDate&$skip=7&$top=5", "1=1", "OrderDate, OrderID"),
        ("$skip=7&$top=5&$filter=ShipCity eq 'City3'", "ShipCity = 'City3'", None),
    ],
)
def test_skip_counts_the_rows_of_the_answer(table: Orders, query: str, where: str, order: str | None) -> None:
    body, _ = table.get(q(query))
    got = [r["OrderID"] for r in body["value"]]
    if order is None:  # no order asked: any 5 of the matches past the first 7 in the service's own order
        everything, _ = table.get(q("$filter=ShipCity eq 'City3'"))
        assert got == [r["OrderID"] for r in everything["value"]][7:12]
        return
    assert got == table.sql(where, order, 10 if "$top=10" in query else 5, int(query.split("$skip=")[1].split("&")[0]))


def test_each_page_of_one_partition_is_one_round_trip(table: Orders) -> None:
    # The first chunk asks for the page, one row more to know whether more remain, and on a resumed page the row
    # it resumes from: a page never waits on a second request.
    for query in (
        "$filter=CustomerID eq 'C0003'&$orderby=OrderDate",
        "$filter=CustomerID eq 'C0003'&$orderby=OrderDate desc",
        "$top=45",
    ):
        before = table.table.round_trips
        pages = len(list(walk(table, q(query), page_size=10)))
        assert pages > 1
        assert table.table.round_trips - before == pages, query


def test_a_scan_reads_up_to_the_last_row_it_serves(table: Orders) -> None:
    in_storage_order = sorted(table.table.rows, key=table.table.store()._storage_order)
    # $skip without a filter: moved past in the store (one request), then the page.
    before = table.table.round_trips
    body, reads = table.get(q("$skip=7&$top=5"))
    assert ([r["OrderID"] for r in body["value"]], reads.items_read) == (
        [r["OrderID"] for r in in_storage_order[7:12]],
        12,
    )
    assert table.table.round_trips - before == 2
    # A filter the read cannot narrow: rows are read until the tenth match, and not one past it.
    body, reads = table.get(q("$filter=ShipCity eq 'City3'&$top=10"))
    matches = [i for i, r in enumerate(in_storage_order) if r["ShipCity"] == "City3"]
    assert [r["OrderID"] for r in body["value"]] == [in_storage_order[i]["OrderID"] for i in matches[:10]]
    assert reads.items_read == matches[9] + 1


def test_each_request_of_a_filtered_scan_asks_for_the_rows_still_missing(table: Orders) -> None:
    # A filter no index or FilterExpression can take (arithmetic): the engine checks each row, and every request
    # asks for as many rows as the page still lacks, so it never reads past the last row it serves.
    in_storage_order = sorted(table.table.rows, key=table.table.store()._storage_order)
    passes = [bool(r["Freight"] * 2 > 20) for r in in_storage_order]
    position = served = trips = 0
    while served < 10:  # the policy, step by step
        chunk = passes[position : position + 10 - served]
        position, trips = position + len(chunk), trips + 1
        served += sum(chunk)
    before = table.table.round_trips
    body, reads = table.get(q("$filter=Freight mul 2 gt 20&$top=10"))
    assert [r["OrderID"] for r in body["value"]] == [
        r["OrderID"] for r, p in zip(in_storage_order, passes, strict=True) if p
    ][:10]
    assert (reads.items_read, table.table.round_trips - before) == (position, trips)


@pytest.mark.parametrize(
    ("query", "calls", "plan"),
    [
        # Every row is needed (sorted in memory, counted by reading): the table's segments are scanned at once.
        ("$orderby=Freight desc&$top=5", ["scan in parallel"], "scan"),
        ("$filter=length(ShipName) gt 3&$count=true&$top=5", ["scan in parallel"], "scan"),
        ("$search=NOT Lonesome&$top=5", ["scan in parallel"], "search the token index"),  # no word to look up
        # A page in the table's own order: one stream, read only as far as the page.
        ("$top=5", ["scan"], "scan (streamed)"),
        (
            "$orderby=OrderDate&$top=5",
            [f"query all-by-OrderDate {n}" for n in range(SHARDS)],
            f"query all-by-OrderDate over {SHARDS} shard(s) (streamed)",
        ),
    ],
)
def test_what_a_request_reads_whole_is_scanned_in_parallel_and_what_it_pages_is_streamed(
    table: Orders, query: str, calls: list[str], plan: str
) -> None:
    stores: list[Any] = []

    def store(_entity_set: Any, stats: ReadStats) -> Any:
        stores.append(table.table.store(stats))
        return stores[-1]

    feed = Feed(store, FeedAuth("none"), entity_sets=(ORDERS,))
    response = feed.handle(FeedRequest("GET", "/Orders", q(query), {}, ROOT_URL))
    assert response.status == 200
    assert (stores[-1].calls, response.plan) == (calls, plan)
