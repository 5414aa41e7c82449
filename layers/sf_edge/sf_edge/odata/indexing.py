"""What the declared access patterns need on each row, computed from the row alone (pure: no AWS here).

- **Sort attributes.** For every property a declared order sorts by, `_s_<Property>` is a string whose byte order
  is the OData order of the value (nulls first), then the key: `"1" + encode(value) + SEP + encode(key)`. One GSI
  sort key then serves ascending and descending list views with a stable order for ties, and a filter range on the
  property becomes a range of the sort key.
- **Bucket.** `_b` spreads the set-wide sorted indexes over `shards` partitions (a hash of the key), so bulk
  writes are not throttled on one hot GSI partition; reads merge the shards' sorted streams.
- **Tokens.** Searchable text split into lower-case words (Unicode letters and digits): the `$search` postings.
- **Index state.** What the counts and postings hold for a row (its counted partition values and its tokens);
  the stream indexer moves the stored state to the row's state and applies the difference.

Values longer than `MAX_SORT_CHARS` sort by their first characters (a GSI sort key holds at most 1 KB).
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sf_edge.odata.schema import BUCKET, EntitySet, Prop, sort_attribute

SEP = "\x01"  # between the value and the key: below every character a value can hold
NULL = "0"
PRESENT = "1"
MAX_SORT_CHARS = 200
MAX_TOKENS = 2000  # per row: bounds the index state item and the postings a long text can create
MAX_TOKEN_CHARS = 64
_CONTROL = re.compile("[\x00\x01]")
_WORD = re.compile(r"[^\W_]+")


# ---- order-preserving encodings ----------------------------------------------------------------------------------


def encode(prop: Prop, value: Any) -> str:
    """The value as a string that sorts as OData orders the value; nulls (and what cannot be read) first."""
    if value is None:
        return NULL
    try:
        match prop.type:
            case "String":
                return PRESENT + _CONTROL.sub("\x02", str(value))[:MAX_SORT_CHARS]
            case "Int16" | "Int32" | "Int64":
                return PRESENT + f"{int(value) + 2**63:020d}"
            case "Decimal" | "Double" | "Single":
                return PRESENT + _number(Decimal(str(value)))
            case "Boolean":
                return PRESENT + ("1" if value is True or str(value).lower() == "true" else "0")
            case "DateTimeOffset":
                return PRESENT + _moment(value)
    except (ValueError, InvalidOperation, OverflowError):
        return NULL
    return PRESENT + str(value)


def _number(number: Decimal) -> str:
    """Sign, exponent, then digits: '4' negatives (inverted), '5' zero, '6' positives."""
    if not number.is_finite():
        raise ValueError("not a finite number")
    if number == 0:
        return "5"
    sign, digits, exponent = number.as_tuple()  # not normalize(): it rounds to 28 digits; trailing zeros go below
    assert isinstance(exponent, int)
    magnitude = len(digits) + exponent  # number = 0.d1d2... x 10**magnitude
    mantissa = "".join(map(str, digits)).rstrip("0")
    if not sign:
        return f"6{magnitude + 5000:04d}{mantissa}"
    # Larger magnitudes and mantissas sort first among negatives; '~' ends the digits so a longer mantissa
    # (more negative) sorts before its prefix.
    return f"4{5000 - magnitude:04d}" + "".join(str(9 - int(d)) for d in mantissa) + "~"


def _moment(value: Any) -> str:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def key_string(entity_set: EntitySet, row: dict[str, Any]) -> str:
    """The row's key as one string that sorts as the key does (the tie-breaker in every sort attribute)."""
    return SEP.join(encode(_prop(entity_set, name), row.get(name)) for name in entity_set.key)


def sort_value(entity_set: EntitySet, name: str, row: dict[str, Any]) -> str:
    """The row's sort attribute for property `name`."""
    return encode(_prop(entity_set, name), row.get(name)) + SEP + key_string(entity_set, row)


def bucket(entity_set: EntitySet, row: dict[str, Any]) -> int:
    """The shard of the set-wide indexes the row belongs to (stable: a CRC of its key)."""
    if entity_set.shards == 1:
        return 0
    return zlib.crc32(key_string(entity_set, row).encode()) % entity_set.shards


def index_attributes(entity_set: EntitySet, row: dict[str, Any]) -> dict[str, Any]:
    """The attributes the declared orders need on a stored row."""
    if not entity_set.orders:
        return {}
    attributes: dict[str, Any] = {BUCKET: bucket(entity_set, row)}
    for name in entity_set.sorted_properties:
        attributes[sort_attribute(name)] = sort_value(entity_set, name, row)
    return attributes


def index_attribute_changes(entity_set: EntitySet, key: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The index attributes a partial update of `changes` moves (a sort attribute needs its property and the key
    only, so an update can keep them right without reading the row)."""
    if not entity_set.orders:
        return {}
    row = {**changes, **key}
    attributes: dict[str, Any] = {BUCKET: bucket(entity_set, row)}
    for name in entity_set.sorted_properties:
        if name in changes or name in key:
            attributes[sort_attribute(name)] = sort_value(entity_set, name, row)
    return attributes


def _prop(entity_set: EntitySet, name: str) -> Prop:
    prop = entity_set.property(name)
    assert prop is not None, f"{entity_set.name}.{name} is not declared"
    return prop


# ---- sort-key ranges -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SortRange:
    """Inclusive bounds on a sort attribute (None: open)."""

    low: str | None = None
    high: str | None = None

    def narrowed(self, other: SortRange) -> SortRange:
        low = max(filter(None, (self.low, other.low)), default=None)
        high = min(filter(None, (self.high, other.high)), default=None)
        return SortRange(low, high)

    @property
    def empty(self) -> bool:
        return self.low is not None and self.high is not None and self.low > self.high


def range_for(prop: Prop, op: str, value: Any) -> SortRange | None:
    """The sort-key range holding exactly the rows where `property op value` is true, or None when the comparison
    is not one a range expresses (null comparisons other than `eq null`)."""
    if value is None:
        return SortRange(NULL + SEP, NULL + SEP + "\U0010ffff") if op == "eq" else None
    encoded = encode(prop, value)
    if encoded == NULL:
        return None
    after = encoded + chr(ord(SEP) + 1)  # above every sort value of this exact value
    match op:
        case "eq":
            return SortRange(encoded + SEP, encoded + SEP + "\U0010ffff")
        case "gt":
            return SortRange(after, None)
        case "ge":
            return SortRange(encoded, None)
        case "lt":
            return SortRange(PRESENT, encoded)  # from the first non-null value
        case "le":
            return SortRange(PRESENT, after)
    return None


def prefix_range(prop: Prop, prefix: str) -> SortRange | None:
    """The sort-key range of the string values starting with `prefix` (`startswith`, SOQL `LIKE 'B%'`)."""
    if prop.type != "String" or len(prefix) >= MAX_SORT_CHARS:
        return None
    start = encode(prop, prefix)
    return SortRange(start, start + "\U0010ffff")


# ---- search tokens and the state the stream indexes ------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    """Lower-case words of a text, in order (letters and digits of any script; everything else separates)."""
    return [word[:MAX_TOKEN_CHARS] for word in _WORD.findall(text.casefold())]


def row_tokens(entity_set: EntitySet, row: dict[str, Any]) -> set[str]:
    """The distinct words of the row's searchable properties (at most MAX_TOKENS)."""
    found: dict[str, None] = {}
    for name in entity_set.searchable:
        value = row.get(name)
        if isinstance(value, str):
            for token in tokens(value):
                found.setdefault(token)
                if len(found) >= MAX_TOKENS:
                    return set(found)
    return set(found)


def value_key(value: Any) -> str:
    """A counted partition value as the sort key of its counter (JSON, numbers as integers where whole)."""
    if isinstance(value, Decimal):
        value = int(value) if value == value.to_integral_value() else float(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def row_key(entity_set: EntitySet, row: dict[str, Any]) -> str:
    """The row's key as the JSON array its index state and postings are stored under."""
    return json.dumps([_plain(row.get(name)) for name in entity_set.key], separators=(",", ":"), ensure_ascii=False)


def key_from_row_key(entity_set: EntitySet, text: str) -> dict[str, Any]:
    """The key of `row_key` back as a DynamoDB key."""
    return dict(zip(entity_set.key, json.loads(text), strict=True))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    return value


@dataclass(frozen=True)
class IndexState:
    """What the counts and postings record for one row."""

    counted: tuple[tuple[str, str], ...]  # (property, value_key) of each counted property the row has
    tokens: frozenset[str]

    @classmethod
    def of(cls, entity_set: EntitySet, row: dict[str, Any]) -> IndexState:
        counted = tuple((name, value_key(row[name])) for name in entity_set.counted if row.get(name) not in (None, ""))
        return cls(counted, frozenset(row_tokens(entity_set, row)))


# ---- where the index table keeps counts, postings and index states -----------------------------------------------
# One table, partition key PK and sort key SK (both strings):
#   counts        PK "count#<Set>"              SK "*"                       n: the set's rows
#                 PK "count#<Set>#<Property>"   SK value_key(value)          n: rows with that value
#   postings      PK "word#<Set>#<first char>"  SK "<word>" SEP row_key      k: the row's key
#   index states  PK "state#<Set>#<row_key>"    SK "state"                   c, t: IndexState; v: version
# Postings share a partition per first character so that a word's prefix is one Query (begins_with on SK).

ALL = "*"


def count_item_key(entity_set: EntitySet, count_key: tuple[str, Any]) -> dict[str, str]:
    """The counter item of the set's total (property "") or of one value of a counted property."""
    name, value = count_key
    return counter_item_key(entity_set, name, value_key(value) if name else "")


def counter_item_key(entity_set: EntitySet, name: str, encoded: str) -> dict[str, str]:
    """The counter item of property `name` (empty: the set's total) at a value already in `value_key` form."""
    if not name:
        return {"PK": f"count#{entity_set.name}", "SK": ALL}
    return {"PK": f"count#{entity_set.name}#{name}", "SK": encoded}


def posting_partition(entity_set: EntitySet, word: str) -> str:
    return f"word#{entity_set.name}#{word[:1]}"


def posting_item_key(entity_set: EntitySet, word: str, key: str) -> dict[str, str]:
    return {"PK": posting_partition(entity_set, word), "SK": word + SEP + key}


def state_item_key(entity_set: EntitySet, key: str) -> dict[str, str]:
    return {"PK": f"state#{entity_set.name}#{key}", "SK": "state"}
