"""An in-memory stand-in for sf_edge.aws.odata_store.EntityStore: the OData engine's Store protocol over a list of
rows, with DynamoDB's read semantics where they matter to what a request reads.

- Rows carry the index attributes the stream indexer would add; sorted indexes hold exactly the rows with their
  sort attribute, in sort-key order; equality-only GSIs and Scans return rows in a fixed "storage" order.
- Every Query and Scan reads in chunks of `Limit` items and counts each item it looks at (before the pushed-down
  filter drops it), as DynamoDB bills; Gets count the items found; counters count one item.
- Counts and postings are computed from the rows, as the indexer maintains them.
- `MemoryTable.round_trips` counts the requests a Query or Scan would make (one per chunk, one for a skip).
- `keep(names, order)` projects the rows a request reads to those attributes, `order` first and absent ones as
  None, as the DynamoDB store's ProjectionExpression and row builder do (after the pushed-down filter, which
  DynamoDB evaluates on the whole item): a request that forgets to read an attribute it filters or sorts by, or
  selects the wrong ones, answers wrongly here too. Decimals a request only writes out (not in `exact`) come as
  their stored text (orjson fragments), as there.

One instance per table; `store(stats)` gives the per-request view the feed asks for.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from orjson import Fragment

from sf_edge.odata.engine import Limit, ReadStats
from sf_edge.odata.expressions import Node, evaluate
from sf_edge.odata.indexing import SEP, IndexState, index_attributes, key_string, row_key, row_tokens
from sf_edge.odata.planner import IndexRead
from sf_edge.odata.schema import BUCKET, EntitySet


class MemoryTable:
    """One entity set's rows, indexed as the declarations and the stream indexer would index them."""

    def __init__(self, entity_set: EntitySet, rows: Sequence[dict[str, Any]], *, indexed: bool = True) -> None:
        self.entity_set = entity_set
        self.indexed = indexed
        self.rows = [self._stored(row) for row in rows]
        self.round_trips = 0

    def _stored(self, row: dict[str, Any]) -> dict[str, Any]:
        stored = {k: v for k, v in row.items() if v is not None}
        return stored | (index_attributes(self.entity_set, stored) if self.indexed else {})

    def put(self, row: dict[str, Any]) -> None:
        key = {k: row[k] for k in self.entity_set.key}
        self.rows = [r for r in self.rows if {k: r[k] for k in self.entity_set.key} != key] + [self._stored(row)]

    def store(self, stats: ReadStats | None = None) -> MemoryStore:
        return MemoryStore(self, stats or ReadStats())


class MemoryStore:
    """The Store protocol over a MemoryTable, counting what each request reads."""

    def __init__(self, table: MemoryTable, stats: ReadStats) -> None:
        self.table = table
        self.entity_set = table.entity_set
        self.stats = stats
        self.calls: list[str] = []
        self._keep: tuple[str, ...] | None = None
        self._text: frozenset[str] = frozenset()  # Decimal properties read as their stored text

    def keep(
        self, names: frozenset[str] | None, order: tuple[str, ...] = (), exact: frozenset[str] | None = None
    ) -> bool:
        """Rows from now on carry exactly these attributes (None: all), `order` first, Decimals not in `exact`
        (None: all are) as their text; True when each row is exactly `order`."""
        self._keep = None if names is None else (*(n for n in order if n in names), *sorted(names - set(order)))
        decimals = {p.name for p in self.entity_set.properties if p.type == "Decimal"}
        self._text = frozenset() if exact is None else frozenset(decimals & set(names or decimals) - exact)
        return names is not None and names == frozenset(order)

    def _row(self, row: dict[str, Any]) -> dict[str, Any]:
        kept = dict(row) if self._keep is None else {name: row.get(name) for name in self._keep}
        for name in self._text:
            if kept.get(name) is not None:
                kept[name] = Fragment(str(kept[name]))
        return kept

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        self.calls.append("get")
        for row in self.table.rows:
            if all(row.get(k) == v for k, v in key.items()):
                self.stats.items_read += 1
                return self._row(row)
        return None

    def get_many(self, keys: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for key in keys:
            row = self.get(key)
            if row is not None:
                yield row

    def query(
        self,
        read: IndexRead,
        partition: Any,
        *,
        pushed: Sequence[Node],
        start: Any,
        limit: Limit | None,
        skip: int = 0,
    ) -> Iterator[dict[str, Any]]:
        self.calls.append(f"query {read.index or 'table'} {partition!r}")
        attribute = read.partition_attribute
        rows = [r for r in self.table.rows if r.get(attribute) == partition]
        if read.sort_attribute is not None:
            sort = read.sort_attribute
            rows = [r for r in rows if sort in r]
            rows.sort(key=lambda r: r[sort], reverse=read.descending)
            low, high = (read.sort_range.low, read.sort_range.high) if read.sort_range else (None, None)
            if start is not None:
                if read.descending:
                    high = start if high is None else min(high, start)
                else:
                    low = start if low is None else max(low, start)
            rows = [r for r in rows if (low is None or r[sort] >= low) and (high is None or r[sort] <= high)]
        else:
            rows.sort(key=self._storage_order)
            if isinstance(start, dict):
                rows = _after(rows, start, self._storage_order)
        return self._chunks(self._skipped(rows, skip), pushed, limit)

    def scan(
        self,
        *,
        pushed: Sequence[Node],
        after: dict[str, Any] | None,
        limit: Limit | None,
        parallel: bool = False,
        skip: int = 0,
    ) -> Iterator[dict[str, Any]]:
        self.calls.append("scan in parallel" if parallel else "scan")
        rows = sorted(self.table.rows, key=self._storage_order)
        if after is not None:
            rows = _after(rows, after, self._storage_order)
        return self._chunks(self._skipped(rows, skip), pushed, limit)

    def _skipped(self, rows: list[dict[str, Any]], skip: int) -> list[dict[str, Any]]:
        """Past `skip` rows, read (and counted) but not returned, as a COUNT read does."""
        self.stats.items_read += min(skip, len(rows))
        self.table.round_trips += 1 if skip else 0
        return rows[skip:]

    def count(self, count_key: tuple[str, Any]) -> int | None:
        if not self.table.indexed:
            return None
        self.stats.items_read += 1
        name, value = count_key
        if not name:
            return len(self.table.rows)
        return sum(1 for r in self.table.rows if _same(r.get(name), value))

    def search_keys(self, word: str) -> set[str]:
        keys: set[str] = set()
        for row in self.table.rows:
            for token in row_tokens(self.entity_set, row):
                if token.startswith(word):
                    self.stats.items_read += 1  # one posting per (word, row)
                    keys.add(row_key(self.entity_set, row))
        return keys

    def state(self, row: dict[str, Any]) -> IndexState:
        return IndexState.of(self.entity_set, row)

    def _storage_order(self, row: dict[str, Any]) -> int:
        return zlib.crc32(key_string(self.entity_set, row).encode())

    def _chunks(
        self, rows: list[dict[str, Any]], pushed: Sequence[Node], limit: Limit | None
    ) -> Iterator[dict[str, Any]]:
        position = 0
        self.table.round_trips += 0 if rows else 1  # an empty answer is still a request
        while position < len(rows):
            size = (limit() if limit else None) or len(rows)
            chunk = rows[position : position + size]
            position += len(chunk)
            self.table.round_trips += 1
            self.stats.items_read += len(chunk)
            for row in chunk:
                if all(evaluate(node, row) is True for node in pushed):
                    yield self._row(row)


def _after(
    rows: list[dict[str, Any]], key: dict[str, Any], order: Callable[[dict[str, Any]], int]
) -> list[dict[str, Any]]:
    for index, row in enumerate(rows):
        if all(row.get(k) == v for k, v in key.items() if k != BUCKET):
            return rows[index + 1 :]
    return []


def _same(stored: Any, value: Any) -> bool:
    if isinstance(stored, Decimal) and not isinstance(value, Decimal):
        return stored == Decimal(str(value))
    return bool(stored == value)


__all__ = ["SEP", "MemoryStore", "MemoryTable"]
