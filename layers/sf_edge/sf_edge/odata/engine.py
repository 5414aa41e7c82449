"""Run a bound OData request over rows and shape the OData JSON answer: filter, search, count, order, window,
server-driven paging and projection.

Rows come from the storage planner (a key lookup, an index query or a scan); what storage could not filter is
filtered here, with the evaluator that the tests check against SQLite.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from sf_edge.odata.expressions import evaluate
from sf_edge.odata.request import QueryOptions, encode_skiptoken
from sf_edge.odata.schema import EntitySet

MAX_PAGE_SIZE = 2000


def matches(options: QueryOptions, entity_set: EntitySet, row: dict[str, Any]) -> bool:
    """True when the row passes $filter and $search."""
    if options.filter is not None and evaluate(options.filter, row) is not True:
        return False
    if options.search:
        text = " ".join(str(row.get(name) or "") for name in entity_set.searchable).lower()
        return all(term.lower() in text for term in options.search)
    return True


@dataclass(frozen=True)
class Page:
    """One page of a collection: its rows (unprojected), the filtered total, and the next link when more remain."""

    rows: list[dict[str, Any]]
    total: int | None
    next_link: str | None


def offset_page(
    entity_set: EntitySet, options: QueryOptions, rows: Iterable[dict[str, Any]], *, service_root: str, page_size: int
) -> Page:
    """Filter, count, order and window everything read; the page the skip token points at."""
    selected = [row for row in rows if matches(options, entity_set, row)]
    total = len(selected)
    for item in reversed(options.orderby):  # stable sorts, last key first; nulls sort first ascending
        expression = item.expression
        selected.sort(key=lambda row: _sort_key(evaluate(expression, row)), reverse=item.descending)
    window = selected[options.skip :]
    if options.top is not None:
        window = window[: options.top]
    size = max(1, min(page_size, MAX_PAGE_SIZE))
    start = options.skiptoken.served
    page = window[start : start + size]
    served = start + len(page)
    link = next_link(service_root, entity_set, options, served) if served < len(window) else None
    return Page(page, total if options.count else None, link)


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


def context_url(
    service_root: str, entity_set: EntitySet, select: tuple[str, ...] | None, *, entity: bool = False
) -> str:
    """`@odata.context`: the set, its selected properties, and `/$entity` for a single entity."""
    projection = f"({','.join(select)})" if select else ""
    return f"{service_root}$metadata#{entity_set.name}{projection}{'/$entity' if entity else ''}"


def streamed(
    entity_set: EntitySet,
    options: QueryOptions,
    rows: Iterable[dict[str, Any]],
    key_names: tuple[str, ...],
    *,
    service_root: str,
    page_size: int,
) -> Page:
    """One page read in storage order from where the last one stopped (rows start after the token's key), so
    page k costs what page 1 costs. One extra match is read to know whether a next page exists."""
    size = max(1, min(page_size, MAX_PAGE_SIZE))
    served = options.skiptoken.served
    if options.top is not None:
        size = min(size, options.top - served)
    page: list[dict[str, Any]] = []
    more = False
    if size > 0:
        for row in rows:
            if not matches(options, entity_set, row):
                continue
            if len(page) == size:
                more = True
                break
            page.append(row)
    link = None
    if more:
        last = {name: page[-1][name] for name in key_names}
        link = next_link(service_root, entity_set, options, served + len(page), last)
    return Page(page, None, link)


def next_link(
    service_root: str, entity_set: EntitySet, options: QueryOptions, served: int, after: dict[str, Any] | None = None
) -> str:
    """The absolute link to the next page: the same options, plus where the previous page stopped."""
    kept = [(name, value) for name, value in options.raw.items() if name != "$skiptoken"]
    kept.append(("$skiptoken", encode_skiptoken(served, after)))
    query = "&".join(f"{name}={quote(value, safe=',()=/:$')}" for name, value in kept)
    return f"{service_root}{entity_set.name}?{query}"


def project(entity_set: EntitySet, row: dict[str, Any], select: tuple[str, ...] | None) -> dict[str, Any]:
    """The entity as OData JSON: declared properties only, in declared order, null when absent."""
    names = select if select is not None else tuple(p.name for p in entity_set.properties)
    return {name: _json_value(row.get(name)) for name in names}


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
