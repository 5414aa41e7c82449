"""Run a plan (sf_edge.odata.planner) against a store and cut the page: filter, search, count, order, window,
server-driven paging, with what is read kept to what the page needs.

Two ways to a page:
- **streamed**, when rows arrive in the order asked (an index that serves `$orderby`, or any order when none is
  asked) and the count, if asked, comes from a counter: rows are read in chunks just large enough for
  `$skip + $top + 1` matches (the +1 only when the client wants more than this page), shards are merged in sort
  order, and the next page resumes where this one stopped;
- **whole**, otherwise: every candidate is read (a parallel Scan when scanning), filtered, counted, sorted in
  memory, windowed; the next page is an offset into the same result.
What storage could not filter is filtered here, with the evaluator that the tests check against SQLite. Ties in
any order are broken by the key, in the direction of the last `$orderby` item, as the sorted indexes do.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter
from typing import Any, Protocol
from urllib.parse import quote

from sf_edge.odata import search as free_text
from sf_edge.odata.expressions import compile_expression
from sf_edge.odata.indexing import key_from_row_key
from sf_edge.odata.planner import IndexRead, Plan
from sf_edge.odata.request import ODataError, QueryOptions, encode_skiptoken
from sf_edge.odata.schema import EntitySet
from sf_edge.odata.tree import Node, Property, fits, walk

MAX_PAGE_SIZE = 2000
Limit = Callable[[], int | None]


@dataclass
class ReadStats:
    """What a request read from the store: items (what DynamoDB bills) and time spent waiting on it."""

    items_read: int = 0
    store_seconds: float = 0.0


class Store(Protocol):
    """The reads the engine needs for one entity set (sf_edge.aws.odata_store.EntityStore in AWS). The engine
    passes every argument: an implementation's defaults are its own."""

    stats: ReadStats

    def keep(self, names: frozenset[str] | None, order: tuple[str, ...], exact: frozenset[str] | None) -> bool: ...

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None: ...

    def get_many(self, keys: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]: ...

    def query(
        self,
        read: IndexRead,
        partition: Any,
        *,
        pushed: Sequence[Any],
        start: Any,
        limit: Limit | None,
        skip: int,
    ) -> Iterator[dict[str, Any]]: ...

    def scan(
        self,
        *,
        pushed: Sequence[Any],
        after: dict[str, Any] | None,
        limit: Limit | None,
        parallel: bool,
        skip: int,
    ) -> Iterator[dict[str, Any]]: ...

    def count(self, count_key: tuple[str, Any]) -> int | None: ...

    def search_keys(self, word: str) -> set[str]: ...


RowTest = Callable[[dict[str, Any]], bool]


def row_test(entity_set: EntitySet, options: QueryOptions, plan: Plan) -> RowTest | None:
    """What a row read must pass: the part of $filter the read did not enforce (compiled once per request), and
    $search. None when every row read qualifies."""
    residual = plan.residual
    test = compile_expression(residual) if residual is not None else None
    search = options.search
    if search is None:
        return None if test is None else (lambda row: test(row) is True)
    searchable = entity_set.searchable

    def passes(row: dict[str, Any]) -> bool:
        if test is not None and test(row) is not True:
            return False
        return free_text.matches(search, {name: row.get(name) for name in searchable})

    return passes


@dataclass
class Page:
    """One page of a collection: its rows (unprojected), the filtered total, and the next link when more remain.
    `cut(n)` is the same page ending after n rows (a response too large for Lambda ends early)."""

    rows: list[dict[str, Any]]
    total: int | None
    next_link: str | None
    link_after: Callable[[int], str] = field(repr=False)
    streamed: bool  # read in the order asked, only as far as the page needed
    projected: bool = field(default=False, init=False)  # rows hold exactly the selected properties, in order

    def cut(self, n: int) -> Page:
        if n >= len(self.rows):
            return self
        cut = Page(self.rows[:n], self.total, self.link_after(n), self.link_after, self.streamed)
        cut.projected = self.projected
        return cut


def read_page(
    entity_set: EntitySet,
    options: QueryOptions,
    plan: Plan,
    store: Store,
    *,
    service_root: str,
    page_size: int,
    exact_numbers: bool,
) -> Page:
    """The page of the collection the options (and their $skiptoken) address. `exact_numbers`: every decimal
    as a Decimal (2.0 writes them as strings); otherwise those the request only outputs keep their stored text."""
    names = needed(entity_set, options, plan)
    selected = options.select or entity_set.property_names
    projected = store.keep(names, selected, None if exact_numbers else computed(entity_set, options))
    page = _read_page(entity_set, options, plan, store, service_root=service_root, page_size=page_size)
    page.projected = projected
    return page


def _read_page(
    entity_set: EntitySet,
    options: QueryOptions,
    plan: Plan,
    store: Store,
    *,
    service_root: str,
    page_size: int,
) -> Page:
    size = max(1, min(page_size, MAX_PAGE_SIZE))
    token = options.skiptoken
    total = store.count(plan.count_key) if options.count and plan.count_key is not None else None
    streamable = plan.ordered and plan.kind in ("query", "scan") and (not options.count or total is not None)
    if token.offset_only:
        streamable = False
    if streamable:
        return _streamed(entity_set, options, plan, store, total, service_root=service_root, size=size)
    test = row_test(entity_set, options, plan)
    rows = [row for row in _everything(entity_set, plan, store) if test is None or test(row)]
    if not plan.ordered or plan.kind in ("get", "search"):
        sort_rows(entity_set, options, rows)
    return window(entity_set, options, rows, service_root=service_root, size=size)


def needed(entity_set: EntitySet, options: QueryOptions, plan: Plan) -> frozenset[str]:
    """The attributes a collection request reads from each row: what it selects, filters, searches and orders
    by, the key, and where its index puts the row."""
    names = set(options.select or entity_set.property_names) | set(entity_set.key)
    if options.filter is not None:
        names |= _properties(options.filter)
    for item in options.orderby:
        names |= _properties(item.expression)
    if options.search is not None:
        names |= set(entity_set.searchable)
    if plan.read is not None:
        names |= {plan.read.partition_attribute, plan.read.sort_attribute or ""}
    return frozenset(names)


def computed(entity_set: EntitySet, options: QueryOptions) -> frozenset[str]:
    """The properties a request computes with (filters, sorts) rather than only writes out: their numbers are read
    exactly. ($search reads text alone: searchable properties are strings.)"""
    names: set[str] = set(entity_set.key)
    if options.filter is not None:
        names |= _properties(options.filter)
    for item in options.orderby:
        names |= _properties(item.expression)
    return frozenset(names)


def _properties(node: Node) -> set[str]:
    return {current.path[0] for current in walk(node) if isinstance(current, Property)}


def count_matches(entity_set: EntitySet, options: QueryOptions, plan: Plan, store: Store) -> int:
    """`/$count`: from a counter when the plan has one, else by reading the candidates."""
    store.keep(needed(entity_set, options, plan), (), None)
    if plan.count_key is not None:
        counted = store.count(plan.count_key)
        if counted is not None:
            return counted
    test = row_test(entity_set, options, plan)
    return sum(1 for row in _everything(entity_set, plan, store) if test is None or test(row))


def sort_rows(entity_set: EntitySet, options: QueryOptions, rows: list[dict[str, Any]]) -> None:
    """Sort in place as $orderby asks: stable sorts, last key first; nulls first ascending; ties by the key."""
    descending = options.orderby[-1].descending if options.orderby else False
    rows.sort(key=lambda row: tuple(_sort_key(row.get(k)) for k in entity_set.key), reverse=descending)
    for item in reversed(options.orderby):
        value = compile_expression(item.expression)
        rows.sort(key=lambda row: _sort_key(value(row)), reverse=item.descending)


def window(
    entity_set: EntitySet, options: QueryOptions, rows: list[dict[str, Any]], *, service_root: str, size: int
) -> Page:
    """The page of `size` rows `$skiptoken` points at within the filtered, ordered rows, after `$skip` and `$top`."""
    selected = rows[options.skip :]
    if options.top is not None:
        selected = selected[: options.top]
    start = options.skiptoken.served
    page = selected[start : start + size]
    served = start + len(page)

    def link_after(n: int) -> str:
        return next_link(service_root, entity_set, options, encode_skiptoken(start + n))

    link = link_after(len(page)) if served < len(selected) else None
    return Page(page, len(rows) if options.count else None, link, link_after, streamed=False)


def _streamed(
    entity_set: EntitySet,
    options: QueryOptions,
    plan: Plan,
    store: Store,
    total: int | None,
    *,
    service_root: str,
    size: int,
) -> Page:
    token = options.skiptoken
    signature = _signature(plan)
    if token.position is not None and not (token.signature == signature and _fits(entity_set, plan, token.position)):
        raise ODataError(400, "InvalidSkipToken", "The $skiptoken is not one this service issued", "$skiptoken")
    served = token.served
    skip = options.skip if token.position is None else 0
    if options.top is not None:
        size = min(size, options.top - served)
    want_more = options.top is None or options.top - served > size
    page: list[dict[str, Any]] = []
    more = False
    if size > 0:
        resumed = token.position is not None and plan.read is not None and plan.read.sort_attribute is not None
        test = row_test(entity_set, options, plan)
        # Rows skipped with no filter to check (the residual keeps every pushed-down conjunct too), in one stream:
        # the store moves past them without returning them. A resumed page has no $skip left.
        single = plan.kind == "scan" or (plan.read is not None and len(plan.read.partitions) == 1)
        skipped = skip if skip and test is None and single else 0
        # A resumed read starts at the last row served (inclusive bound) and drops it: one more row to read.
        demand = _Demand(skip - skipped + size + (1 if want_more else 0) + (1 if resumed else 0))
        for row in _ordered_rows(entity_set, plan, store, token.position, demand, skipped):
            demand.taken += 1
            if test is not None and not test(row):
                demand.need += 1  # a dropped row is replaced by the next one
                continue
            if skipped < skip:
                skipped += 1
                continue
            if len(page) == size:
                more = True
                break
            page.append(row)
            if len(page) == size and not want_more:
                break

    def link_after(n: int) -> str:
        position = _position(entity_set, plan, page[n - 1])
        return next_link(service_root, entity_set, options, encode_skiptoken(served + n, position, signature))

    return Page(page, total, link_after(len(page)) if more else None, link_after, streamed=True)


class _Demand:
    """How many more rows the page needs: each chunk a partition reads is its share of what is still needed (at
    least one row), so a page from one partition is one round trip, and a merge over several reads about its page."""

    def __init__(self, need: int) -> None:
        self.need = need
        self.taken = 0

    def limit(self, partitions: int) -> Limit:
        return lambda: math.ceil(max(1, self.need - self.taken) / partitions)


def _ordered_rows(
    entity_set: EntitySet, plan: Plan, store: Store, position: Any, demand: _Demand, skip: int
) -> Iterator[dict[str, Any]]:
    if plan.kind == "scan":
        return store.scan(pushed=plan.pushed, after=position, limit=demand.limit(1), parallel=False, skip=skip)
    read = plan.read
    assert read is not None
    partitions = len(read.partitions)
    streams = [
        store.query(read, p, pushed=plan.pushed, start=position, limit=demand.limit(partitions), skip=skip)
        for p in read.partitions
    ]
    match streams:
        case [only]:
            rows = only
        case _:
            rows = _merged(streams, read)
    # The resume row is dropped only from a sorted read that resumes; elsewhere the filter would pass every row.
    if position is None or read.sort_attribute is None:  # pragma: no mutate
        return rows
    sort_attribute = read.sort_attribute
    return (row for row in rows if row.get(sort_attribute) != position)  # the resume bound is inclusive


def _merged(streams: list[Iterator[dict[str, Any]]], read: IndexRead) -> Iterator[dict[str, Any]]:
    attribute = read.sort_attribute or ""
    return heapq.merge(*streams, key=lambda row: row[attribute], reverse=read.descending)


def _everything(entity_set: EntitySet, plan: Plan, store: Store) -> Iterable[dict[str, Any]]:
    """Every candidate row of the plan (no limits; a parallel Scan when scanning)."""
    match plan.kind:
        case "get":
            return store.get_many(plan.keys)
        case "search":
            return _search_candidates(entity_set, plan, store)
        case "query":
            read = plan.read
            assert read is not None
            streams = [
                store.query(read, p, pushed=plan.pushed, start=None, limit=None, skip=0) for p in read.partitions
            ]
            match streams:
                case [only]:
                    return only  # one partition: its stream as it is
            # Every row of every partition is read anyway: one sort in C beats merging row by row in Python.
            rows = [row for stream in streams for row in stream]
            rows.sort(key=itemgetter(read.sort_attribute or ""), reverse=read.descending)
            return rows
    return store.scan(pushed=plan.pushed, after=None, limit=None, parallel=True, skip=0)


def _search_candidates(entity_set: EntitySet, plan: Plan, store: Store) -> Iterable[dict[str, Any]]:
    """The rows the token index says may match (every row when the expression needs no word to match)."""
    assert plan.search is not None
    groups = free_text.anchors(plan.search)
    if groups is None:
        return store.scan(pushed=(), after=None, limit=None, parallel=True, skip=0)
    found: dict[str, None] = {}
    postings: dict[str, set[str]] = {}
    for group in groups:
        keys: set[str] | None = None
        for word in sorted(group, key=len, reverse=True):  # the longest word first: usually the fewest postings
            if word not in postings:
                postings[word] = store.search_keys(word)
            keys = postings[word] if keys is None else keys & postings[word]
            if not keys:
                break
        found.update(dict.fromkeys(sorted(keys or ())))
    return store.get_many([key_from_row_key(entity_set, key) for key in found])


def _signature(plan: Plan) -> str:
    if plan.read is None:  # the planner scans exactly when it has no read
        return "scan"
    return f"{plan.read.index or 'table'}:{'d' if plan.read.descending else 'a'}"


def _position(entity_set: EntitySet, plan: Plan, row: dict[str, Any]) -> Any:
    """Where the stream resumes after this row: its sort value, or (scans, equality-only GSIs) its key."""
    read = plan.read
    if read is not None and read.sort_attribute is not None:
        return _plain(row[read.sort_attribute])
    names = list(entity_set.key)
    if read is not None and read.partition_attribute not in names:
        names.append(read.partition_attribute)
    return {name: _plain(row[name]) for name in names}


def _fits(entity_set: EntitySet, plan: Plan, position: Any) -> bool:
    """Whether a position is one this plan can resume from: its sort value's type, or exactly the key it names
    with values of the declared types (a forged token must never reach the store as a malformed key)."""
    read = plan.read
    if read is not None and read.sort_attribute is not None:
        if read.encoded:
            return isinstance(position, str)
        prop = entity_set.property(read.sort_attribute)
        return prop is not None and fits(prop.type, position, key=True)
    if not isinstance(position, dict):
        return False
    expected = set(entity_set.key) | ({read.partition_attribute} if read is not None else set())
    if set(position) != expected:
        return False
    for name, value in position.items():
        prop = entity_set.property(name)
        if prop is None or not fits(prop.type, value, key=True):
            return False
    return True


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    return value


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (False, None) if value is None else (True, value)


def context_url(
    service_root: str, entity_set: EntitySet, select: tuple[str, ...] | None, *, entity: bool = False
) -> str:
    """`@odata.context`: the set, its selected properties, and `/$entity` for a single entity."""
    projection = f"({','.join(select)})" if select else ""
    return f"{service_root}$metadata#{entity_set.name}{projection}{'/$entity' if entity else ''}"


def next_link(service_root: str, entity_set: EntitySet, options: QueryOptions, skiptoken: str) -> str:
    """The absolute link to the next page: the same options, plus where the previous page stopped."""
    kept = [(name, value) for name, value in options.raw.items() if name != "$skiptoken"]
    kept.append(("$skiptoken", skiptoken))
    query = "&".join(f"{name}={quote(value, safe=',()=/:$')}" for name, value in kept)
    return f"{service_root}{entity_set.name}?{query}"


def project(entity_set: EntitySet, row: dict[str, Any], select: tuple[str, ...] | None) -> dict[str, Any]:
    """The entity: declared properties only, in declared order, null when absent (Decimals are written as JSON
    numbers by `dialects.json_number`)."""
    names = select if select is not None else entity_set.property_names
    return {name: row.get(name) for name in names}


def project_all(
    entity_set: EntitySet, rows: list[dict[str, Any]], select: tuple[str, ...] | None
) -> list[dict[str, Any]]:
    """`project` over a page (one comprehension: a page may hold thousands of rows)."""
    names = select if select is not None else entity_set.property_names
    return [{name: row.get(name) for name in names} for row in rows]
