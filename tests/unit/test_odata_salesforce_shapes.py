"""The 29 Salesforce-Connect-shaped reads of ../shared/anchors/cap-odata/bench_odata.py, over Northwind at two sizes
(as is, and three times over with new keys), answered as a naive evaluation answers them: every row filtered,
sorted (ties by the key, in the last $orderby item's direction), counted and windowed, without the planner, the
indexes, the shard merges or the streamed pages the feed uses. The reads a page needs do not grow with the data.
"""

from __future__ import annotations

import importlib.util
import json
from decimal import Decimal
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import ROOT, SHARED_ROOT
from fakes.odata_store import MemoryTable
from sf_edge.odata.engine import ReadStats, sort_rows
from sf_edge.odata.expressions import evaluate
from sf_edge.odata.feed import Feed, FeedAuth, FeedRequest
from sf_edge.odata.request import bind_options, parse_path, parse_query_string
from sf_edge.odata.schema import BY_NAME
from sf_edge.odata.search import matches

ANCHOR = SHARED_ROOT / "anchors" / "cap-odata" / "bench_odata.py"
ROOT_URL = "https://edge.example.com/odata/v4/"
SETS = ("Customers", "Orders", "Order_Details", "Products", "Suppliers")
# Reads whose cost is a page (or one item) whatever the table holds.
PAGE_SHAPED = {
    "list_suppliers_doc",
    "list_customers",
    "list_customers_page2",
    "list_orders_count_false",
    "list_products",
    "list_filter_orderby",
    "lookup_filter_int",
    "lookup_filter_string",
    "lookup_filter_composite",
    "key_canonical",
    "key_string_canonical",
    "key_composite",
    "related_list",
    "related_list_children",
}


def anchor() -> ModuleType:
    if not ANCHOR.exists():
        pytest.skip("../shared/anchors/cap-odata is not beside this clone")
    spec = importlib.util.spec_from_file_location("bench_odata", ANCHOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def northwind(copies: int) -> dict[str, list[dict[str, Any]]]:
    """Northwind, `copies` times over: each copy's keys moved out of the others' way, customers duplicated with the
    same names (ties for every sort)."""
    data = {
        name: json.loads((ROOT / "data" / "northwind" / f"{name}.json").read_text("utf-8"), parse_float=Decimal)
        for name in SETS
    }
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in SETS}
    for copy in range(copies):
        for row in data["Customers"]:
            out["Customers"].append({**row, "CustomerID": row["CustomerID"] + (str(copy) if copy else "")})
        for row in data["Orders"]:
            out["Orders"].append({**row, "OrderID": row["OrderID"] + 100_000 * copy})
        for row in data["Order_Details"]:
            out["Order_Details"].append({**row, "OrderID": row["OrderID"] + 100_000 * copy})
        for name, key in (("Products", "ProductID"), ("Suppliers", "SupplierID")):
            out[name] += [{**row, key: row[key] + 1000 * copy} for row in data[name]]
    return out


class Northwind:
    def __init__(self, copies: int) -> None:
        self.rows = northwind(copies)
        self.tables = {name: MemoryTable(BY_NAME[name], rows) for name, rows in self.rows.items()}
        self.reads: list[ReadStats] = []

        def store(entity_set: Any, stats: ReadStats) -> Any:
            self.reads.append(stats)
            return self.tables[entity_set.name].store(stats)

        self.feed = Feed(store, FeedAuth("none"), entity_sets=tuple(BY_NAME[name] for name in SETS))

    def walk(self, target: str) -> tuple[list[dict[str, Any]], int | None, int]:
        """Every row the read answers (following next links), its count, and the items its first page read."""
        path, _, query = target.partition("?")
        rows: list[dict[str, Any]] = []
        first_read: int | None = None
        count = None
        for _ in range(100):
            response = self.feed.handle(FeedRequest("GET", "/" + path, query, {}, ROOT_URL))
            assert response.status == 200, (target, response.body[:300])
            first_read = self.reads[-1].items_read if first_read is None else first_read
            body = json.loads(response.body, parse_float=Decimal)
            if "value" not in body:
                return [{k: v for k, v in body.items() if not k.startswith("@")}], None, first_read
            rows += body["value"]
            count = body.get("@odata.count", count)
            link = body.get("@odata.nextLink")
            if link is None:
                break
            path, query = urlsplit(link).path.removeprefix("/odata/v4/"), urlsplit(link).query
        return rows, count, first_read or 0

    def naive(self, target: str) -> tuple[list[dict[str, Any]], int | None, list[dict[str, Any]], Any]:
        """The same read, evaluated the obvious way over every row: the window, the count, every match (each
        projected), and the options."""
        path, _, query = target.partition("?")
        resource = parse_path("/" + path, BY_NAME)
        entity_set = BY_NAME[resource.entity_set or ""]
        options = bind_options(entity_set, parse_query_string(query))
        rows = self.rows[entity_set.name]
        if resource.kind == "entity":
            rows = [r for r in rows if all(r.get(k) == v for k, v in (resource.key or {}).items())]
        rows = [r for r in rows if options.filter is None or evaluate(options.filter, r) is True]
        if options.search is not None:
            rows = [r for r in rows if matches(options.search, {n: r.get(n) for n in entity_set.searchable})]
        rows = list(rows)
        sort_rows(entity_set, options, rows)
        count = len(rows) if options.count else None
        window = rows[options.skip :]
        if options.top is not None:
            window = window[: options.top]
        names = options.select or entity_set.property_names
        return (
            [{n: r.get(n) for n in names} for r in window],
            count,
            [{n: r.get(n) for n in names} for r in rows],
            options,
        )


@pytest.fixture(scope="module")
def sizes() -> tuple[Northwind, Northwind]:
    return Northwind(1), Northwind(3)


def queries() -> list[Any]:
    if not ANCHOR.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason="../shared/anchors is not beside this clone"))]
    module = anchor()
    return [pytest.param((name, module.encode(relative)), id=name) for name, _what, relative in module.QUERIES]


def _text(row: dict[str, Any]) -> str:
    return json.dumps(_same(row), sort_keys=True, default=str)


def _same(a: Any) -> Any:
    return {k: (Decimal(str(v)) if isinstance(v, float | int) and not isinstance(v, bool) else v) for k, v in a.items()}


@pytest.mark.parametrize("case", queries())
def test_each_salesforce_read_answers_as_a_naive_evaluation_and_costs_a_page(
    sizes: tuple[Northwind, Northwind], case: tuple[str, str]
) -> None:
    name, target = case
    for northwind_ in sizes:
        rows, count, items = northwind_.walk(target)
        expected, expected_count, every, options = northwind_.naive(target)
        got = [_same(r) for r in rows]
        if options.orderby:
            assert got == [_same(r) for r in expected], name
        else:  # no order asked: any qualifying rows, as many as the window holds, each once
            assert len(got) == len(expected), name
            qualifying = {_text(r) for r in every}
            assert all(_text(row) in qualifying for row in got), name
            assert len({_text(r) for r in got}) == len(got), name
        if expected_count is not None:
            assert count == expected_count, name
        if (
            name in PAGE_SHAPED
        ):  # what a page needs, at either size: $skip + $top + 1, the shards' look-ahead, a counter
            page = options.skip + (options.top if options.top is not None else 1) + 1
            assert items <= page + 2 * BY_NAME["Orders"].shards + 1, (name, items)
