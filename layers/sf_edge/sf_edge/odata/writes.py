"""Writable External Objects: request bodies validated against the declarations, optimistic concurrency with
ETags, and the CSRF token handshake Salesforce performs before a write.

Each entity carries a hidden version attribute (`_v`, sf_edge.row_version: every writer of the row moves it,
the worker's merges and the bulk sync included); its ETag is `W/"<version>"`. A write with `If-Match`
succeeds only while the stored version is the one the client read (412 otherwise), enforced by a DynamoDB
condition, so two editors never overwrite each other silently.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime
from decimal import MAX_PREC, ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any

from sf_edge.odata.request import ODataError
from sf_edge.odata.schema import EntitySet
from sf_edge.row_version import version_of

# DynamoDB holds 400 KB an item; what the declared indexes add (their sort and bucket attributes) fits the rest.
MAX_ITEM_BYTES = 390 * 1024
# What XML 1.0 cannot carry: control characters other than tab, LF and CR; lone surrogates; U+FFFE and U+FFFF.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
CONTROL = re.compile("[\x00-\x1f\x7f]")
EXACT = Context(prec=MAX_PREC)  # rounds only where told to (quantize), never to a context's digits
_INT_RANGES = {"Int16": (-(2**15), 2**15 - 1), "Int32": (-(2**31), 2**31 - 1), "Int64": (-(2**63), 2**63 - 1)}


def etag(row: dict[str, Any]) -> str:
    """The entity's ETag: its version, weak (the representation may vary, the state does not)."""
    return f'W/"{version_of(row)}"'


def expected_version(if_match: str | None) -> int | None:
    """The version an `If-Match` header pins, None when absent or `*`; a foreign ETag is a 412."""
    if if_match is None or if_match.strip() == "*":
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise ODataError(412, "PreconditionFailed", "The entity has changed since it was read (ETag mismatch)")
    return int(value)


def validate_entity(
    entity_set: EntitySet, body: Any, *, partial: bool, key: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The body as storable values: declared properties only, typed, within their facets; None means 'clear'."""
    if not isinstance(body, dict):
        raise ODataError(400, "InvalidBody", "The body must be a JSON object")
    values: dict[str, Any] = {}
    for name, value in body.items():
        if name.startswith("@") or "@" in name:
            continue  # annotations (@odata.type, @odata.etag, ...)
        prop = entity_set.property(name)
        if prop is None:
            raise ODataError(400, "UnknownProperty", f"{entity_set.name} has no property {name}", name)
        if value is None:
            if not prop.nullable:
                raise ODataError(400, "InvalidValue", f"{name} cannot be null", name)
            values[name] = None
            continue
        values[name] = _convert(prop.type, prop.max_length, name, value, prop.precision, prop.scale)
    if key:
        for name, value in key.items():
            if name in values and values[name] != value:
                raise ODataError(400, "InvalidValue", f"{name} is the key and cannot change", name)
            values[name] = value
    if not partial:
        missing = [p.name for p in entity_set.properties if not p.nullable and values.get(p.name) is None]
        if missing:
            raise ODataError(400, "MissingValue", f"Required: {', '.join(missing)}", missing[0])
    for name in entity_set.key:
        if values.get(name) == "":
            raise ODataError(400, "InvalidValue", f"{name} is the key: it cannot be empty", name)
        if isinstance(values.get(name), str) and CONTROL.search(values[name]):  # keys end up in URLs and headers
            raise ODataError(400, "InvalidValue", f"{name} is the key: it cannot hold control characters", name)
    size = sum(len(n) + len(str(v).encode()) for n, v in values.items() if v is not None)
    if size > MAX_ITEM_BYTES:
        raise ODataError(400, "EntityTooLarge", f"The entity is {size} bytes; the store holds {MAX_ITEM_BYTES}")
    return values


def storable_number(number: Decimal) -> bool:
    """Whether DynamoDB holds the number exactly: 38 significant digits, magnitudes from 1E-130 to below 1E+126.

    Counted on the digits as written: `normalize()` and `abs()` round to the context's 28 digits, which let a
    39-digit number through (DynamoDB then refuses the write) and turned 9.99...E+125 into 1E+126."""
    if number.is_zero():
        return True
    significant = "".join(map(str, number.as_tuple().digits)).strip("0")
    return len(significant) <= 38 and Decimal("1E-130") <= number.copy_abs() < Decimal("1E+126")


def _convert(
    edm_type: str,
    max_length: int | None,
    name: str,
    value: Any,
    precision: int | None = None,
    scale: int | None = None,
) -> Any:
    def invalid(why: str) -> ODataError:
        return ODataError(400, "InvalidValue", f"{name}: {why}", name)

    match edm_type:
        case "String":
            if not isinstance(value, str):
                raise invalid("expected a string")
            if max_length is not None and len(value) > max_length:
                raise invalid(f"longer than {max_length} characters")
            if NOT_XML.search(value):  # AtomPub (2.0) could never write it back; no text needs them
                raise invalid("control characters (other than tab and line breaks) cannot be stored")
            return value
        case "Boolean":
            if not isinstance(value, bool):
                raise invalid("expected true or false")
            return value
        case "Int16" | "Int32" | "Int64":
            if isinstance(value, bool) or not isinstance(value, int):
                raise invalid(f"expected an {edm_type} integer")
            low, high = _INT_RANGES[edm_type]
            if not low <= value <= high:
                raise invalid(f"out of the {edm_type} range")
            return value
        case "Decimal" | "Double" | "Single":
            try:  # a JSON number or its text; true, lists and objects are not numbers (Decimal refuses their text)
                number = Decimal(str(value))
            except InvalidOperation:
                raise invalid("expected a number") from None
            if not number.is_finite():
                raise invalid("expected a finite number")
            if precision is not None:  # Edm.Decimal(precision, scale): what $metadata promises (Scale defaults to 0)
                places = scale or 0
                limit = Decimal(10) ** (precision - places)
                too_wide = f"more integer digits than Decimal({precision},{places}) holds"
                # Refused before rounding too: that bounds quantize's work (1E+99999999); the check after decides.
                if number.copy_abs() >= limit:  # pragma: no mutate
                    raise invalid(too_wide)
                # Fraction digits past the scale (float noise such as 0.30000000000000004) are rounded away, half
                # to even, in a context as precise as needed (the default's 28 digits would round first); the limit
                # holds for the rounded value too (9999.995 is 10000.00).
                number = number.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN, EXACT).normalize(EXACT)
                if number.copy_abs() >= limit:
                    raise invalid(too_wide)
            elif not storable_number(number):
                raise invalid("out of the range a number can be stored in")
            return number
        case "DateTimeOffset":
            try:
                moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                raise invalid("expected an ISO 8601 date-time with offset") from None
            if moment.tzinfo is None:
                raise invalid("the date-time needs an offset (Z or +hh:mm)")
            try:
                return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            except OverflowError:  # 0001-01-01T00:00+14:00 is before year 1 in UTC
                raise invalid("the date-time falls outside the years 1 to 9999 in UTC") from None
    raise invalid(f"{edm_type} values cannot be written")


def csrf_token(secret: str) -> str:
    """A stable token derived from the feed's credential (stateless across Lambda containers)."""
    return hmac.new((secret or "local").encode(), b"odata-csrf-token", hashlib.sha256).hexdigest()[:40]
