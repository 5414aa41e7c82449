"""What a Salesforce Connect write must satisfy before it is stored: declared properties only, typed, within the
facets `$metadata` promises and the ranges DynamoDB holds; ETags and `If-Match`; the CSRF token. The feeds' write
paths are exercised end to end in tests/e2e; these pin each rule at its edges without a server."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from sf_edge.odata.request import ODataError
from sf_edge.odata.schema import EntitySet, Prop
from sf_edge.odata.writes import MAX_ITEM_BYTES, csrf_token, etag, expected_version, validate_entity

ITEMS = EntitySet(
    name="Items",
    entity_type="Item",
    key=("ItemID",),
    properties=(
        Prop("ItemID", "String", 10, nullable=False),
        Prop("Name", "String", 5, nullable=False),
        Prop("Notes", "String", None),
        Prop("Active", "Boolean"),
        Prop("Small", "Int16"),
        Prop("Count", "Int32"),
        Prop("Big", "Int64"),
        Prop("Price", "Decimal", precision=6, scale=2),
        Prop("Ratio", "Double"),
        Prop("Seen", "DateTimeOffset"),
        Prop("Tag", "Guid"),
    ),
    table_env="ITEMS_TABLE",
)


def valid(body: dict[str, Any], *, partial: bool = True, key: dict[str, Any] | None = None) -> dict[str, Any]:
    return validate_entity(ITEMS, body, partial=partial, key=key)


def refusal(body: Any, *, partial: bool = True, key: dict[str, Any] | None = None) -> ODataError:
    with pytest.raises(ODataError) as raised:
        validate_entity(ITEMS, body, partial=partial, key=key)
    assert raised.value.status == 400
    return raised.value


# ---- ETags ---------------------------------------------------------------------------------------------------------


def test_an_etag_is_the_weak_version_and_a_row_never_written_through_the_feed_is_version_0() -> None:
    assert etag({"_v": 7}) == 'W/"7"'
    assert etag({"_v": Decimal(12)}) == 'W/"12"'  # DynamoDB hands numbers back as Decimal
    assert etag({}) == 'W/"0"'
    assert etag({"_v": None}) == 'W/"0"'


@pytest.mark.parametrize(
    ("header", "version"),
    [(None, None), ("*", None), (" * ", None), ('W/"3"', 3), ('"3"', 3), ("3", 3), (' W/"40" ', 40), ('W/"0"', 0)],
)
def test_if_match_pins_the_version_it_names_and_star_or_nothing_pins_none(header: str | None, version: int) -> None:
    assert expected_version(header) == version


@pytest.mark.parametrize("header", ['W/"abc"', '"2024-01-01"', "", 'W/"-1"', 'W/"1.5"', "W/"])
def test_an_etag_this_feed_never_issued_is_a_failed_precondition(header: str) -> None:
    with pytest.raises(ODataError) as raised:
        expected_version(header)
    assert (raised.value.status, raised.value.code) == (412, "PreconditionFailed")


# ---- the body ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [[], "Name", 3, None])
def test_a_body_that_is_not_a_json_object_is_refused(body: Any) -> None:
    assert refusal(body).code == "InvalidBody"


def test_annotations_are_ignored_and_declared_properties_kept() -> None:
    body = {"@odata.etag": 'W/"1"', "Name@odata.type": "#String", "Name": "Bolt", "Count": 3}
    assert valid(body) == {"Name": "Bolt", "Count": 3}


def test_an_undeclared_property_is_named_in_the_refusal() -> None:
    error = refusal({"Name": "Bolt", "Colour": "red"})
    assert (error.code, error.target) == ("UnknownProperty", "Colour")
    assert refusal({"name": "Bolt"}).target == "name"  # OData names are case-sensitive


def test_null_clears_a_nullable_property_and_is_refused_for_a_required_one() -> None:
    assert valid({"Notes": None, "Count": None}) == {"Notes": None, "Count": None}
    error = refusal({"Name": None})
    assert (error.code, error.target) == ("InvalidValue", "Name")


def test_a_create_needs_every_required_property_and_an_update_does_not() -> None:
    error = refusal({"Notes": "x"}, partial=False)
    assert (error.code, error.target, error.message) == ("MissingValue", "ItemID", "Required: ItemID, Name")
    assert refusal({"ItemID": "A1", "Name": None}, partial=False).code == "InvalidValue"
    assert valid({"Notes": "x"}, partial=True) == {"Notes": "x"}
    assert valid({"ItemID": "A1", "Name": "Bolt"}, partial=False) == {"ItemID": "A1", "Name": "Bolt"}


def test_the_key_comes_from_the_url_and_cannot_be_changed_by_the_body() -> None:
    assert valid({"Name": "Bolt"}, key={"ItemID": "A1"}) == {"Name": "Bolt", "ItemID": "A1"}
    assert valid({"ItemID": "A1", "Name": "Bolt"}, key={"ItemID": "A1"}, partial=False)["ItemID"] == "A1"
    error = refusal({"ItemID": "B2"}, key={"ItemID": "A1"})
    assert (error.code, error.target) == ("InvalidValue", "ItemID")
    # The key supplied by the URL satisfies a create's required key.
    assert valid({"Name": "Bolt"}, key={"ItemID": "A1"}, partial=False) == {"Name": "Bolt", "ItemID": "A1"}


@pytest.mark.parametrize("key", ["", "A\x001", "A\n1", "A\x7f"])
def test_a_key_is_never_empty_nor_holds_control_characters(key: str) -> None:
    error = refusal({"ItemID": key})
    assert (error.code, error.target) == ("InvalidValue", "ItemID")


def test_an_entity_must_fit_in_one_dynamodb_item() -> None:
    class Wide(dict[str, Any]):
        pass

    assert MAX_ITEM_BYTES == 390 * 1024  # DynamoDB's 400 KB item, less what the declared indexes add to it
    notes = "n" * (390 * 1024 - len("Notes") - len("Name") - len("Bolt"))
    assert valid({"Name": "Bolt", "Notes": notes})["Notes"] == notes  # exactly at the limit
    error = refusal({"Name": "Bolt", "Notes": notes + "n"})
    assert error.code == "EntityTooLarge"
    assert valid({"Name": "Bolt", "Notes": None, "Ratio": 1})  # a cleared value takes no room
    wide = "é" * (MAX_ITEM_BYTES // 2)  # two bytes each in UTF-8: the limit is in bytes, not characters
    assert refusal({"Notes": wide}).code == "EntityTooLarge"
    assert Wide  # a dict subclass is still a JSON object
    assert valid(Wide(Name="Bolt")) == {"Name": "Bolt"}


# ---- each type at its edges ----------------------------------------------------------------------------------------


def test_strings_hold_their_max_length_and_no_more() -> None:
    assert valid({"Name": "12345"}) == {"Name": "12345"}
    error = refusal({"Name": "123456"})
    assert (error.target, error.message) == ("Name", "Name: longer than 5 characters")
    assert valid({"Notes": "x" * 10_000})["Notes"] == "x" * 10_000  # MaxLength="max"
    assert refusal({"Name": 5}).message == "Name: expected a string"


@pytest.mark.parametrize("text", ["a\tb", "a\nb", "a\r\nb", "café ✓"])
def test_tabs_line_breaks_and_any_unicode_text_are_stored(text: str) -> None:
    assert valid({"Notes": text}) == {"Notes": text}


@pytest.mark.parametrize("text", ["a\x00b", "a\x08", "\x0b", "\x0c", "\x1f", "\ud800", "\ufffe", "\uffff"])
def test_what_xml_cannot_carry_is_refused(text: str) -> None:
    assert "control characters" in refusal({"Notes": text}).message


def test_booleans_are_json_booleans_only() -> None:
    assert valid({"Active": False}) == {"Active": False}
    assert valid({"Active": True}) == {"Active": True}
    for wrong in (0, 1, "true"):
        assert refusal({"Active": wrong}).message == "Active: expected true or false"


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [("Small", -(2**15), 2**15 - 1), ("Count", -(2**31), 2**31 - 1), ("Big", -(2**63), 2**63 - 1)],
)
def test_integers_hold_their_edm_range_and_no_more(name: str, low: int, high: int) -> None:
    assert valid({name: low}) == {name: low}
    assert valid({name: high}) == {name: high}
    assert valid({name: 0}) == {name: 0}
    for outside in (low - 1, high + 1):
        assert "range" in refusal({name: outside}).message
    for wrong in (True, 1.5, "7", None if name else 0):
        if wrong is None:
            continue
        assert "integer" in refusal({name: wrong}).message


def test_decimals_keep_their_declared_precision_and_scale() -> None:
    assert valid({"Price": "9999.99"}) == {"Price": Decimal("9999.99")}
    assert valid({"Price": -9999.99}) == {"Price": Decimal("-9999.99")}
    assert valid({"Price": 12}) == {"Price": Decimal("12")}
    error = refusal({"Price": 10000})  # Decimal(6,2): four integer digits
    assert error.message == "Price: more integer digits than Decimal(6,2) holds"
    assert refusal({"Price": "-10000"}).code == "InvalidValue"
    # Float noise past the scale is rounded away, half to even, and the result normalized.
    assert valid({"Price": 0.1 + 0.2}) == {"Price": Decimal("0.3")}
    assert valid({"Price": "1.005"}) == {"Price": Decimal("1")}
    assert valid({"Price": "1.015"}) == {"Price": Decimal("1.02")}
    assert valid({"Price": "2.50"})["Price"].as_tuple() == Decimal("2.5").as_tuple()
    # The limit holds after rounding: 9999.995 rounds to 10000.00, which Decimal(6,2) cannot hold.
    assert valid({"Price": "9999.994999"}) == {"Price": Decimal("9999.99")}
    assert refusal({"Price": "9999.995"}).message == "Price: more integer digits than Decimal(6,2) holds"
    assert refusal({"Price": "1E+40"}).code == "InvalidValue"  # far past the limit: refused, not a crash


def test_a_decimal_declared_with_a_precision_alone_holds_integers_as_csdl_says() -> None:
    # CSDL: Scale defaults to 0, so Decimal(5) is five integer digits and no fraction.
    counts = EntitySet("Counts", "Count", ("ID",), (Prop("ID"), Prop("Units", "Decimal", precision=5)), "COUNTS")
    assert validate_entity(counts, {"Units": "99999.4"}, partial=True) == {"Units": Decimal(99999)}
    assert validate_entity(counts, {"Units": 12.5}, partial=True) == {"Units": Decimal(12)}  # half to even
    with pytest.raises(ODataError, match=r"more integer digits than Decimal\(5,0\) holds"):
        validate_entity(counts, {"Units": "99999.5"}, partial=True)


def test_a_huge_exponent_is_refused_at_once() -> None:
    started = time.perf_counter()
    assert refusal({"Price": "1E+99999999"}).message == "Price: more integer digits than Decimal(6,2) holds"
    assert time.perf_counter() - started < 1


def test_a_declared_decimal_is_rounded_exactly_however_many_digits_arrive() -> None:
    wide = EntitySet("Wide", "Wide", ("ID",), (Prop("ID"), Prop("Amount", "Decimal", precision=32, scale=4)), "WIDE")
    amount = validate_entity(wide, {"Amount": "1234567890123456789012345678.123456"}, partial=True)["Amount"]
    assert amount == Decimal("1234567890123456789012345678.1235")  # 32 digits: past the default context's 28


@pytest.mark.parametrize("wrong", [True, "abc", "", [1], {"v": 1}])
def test_a_number_must_be_a_number(wrong: Any) -> None:
    assert refusal({"Ratio": wrong}).message == "Ratio: expected a number"


@pytest.mark.parametrize("wrong", ["NaN", "Infinity", "-Infinity", float("inf")])
def test_a_number_must_be_finite(wrong: Any) -> None:
    assert refusal({"Ratio": wrong}).message == "Ratio: expected a finite number"


@pytest.mark.parametrize(
    "number", ["0", "-0", "1E-130", "-1E-130", "9.999999999999999999999999999999999999E+125", "1" * 38, "0.5"]
)
def test_numbers_dynamodb_can_store_are_kept_exactly(number: str) -> None:
    assert valid({"Ratio": number}) == {"Ratio": Decimal(number)}


@pytest.mark.parametrize("number", ["1E-131", "-1E-131", "1E+126", "-1E+126", "1" * 39, "1." + "1" * 38])
def test_numbers_past_what_dynamodb_stores_are_refused(number: str) -> None:
    assert refusal({"Ratio": number}).message == "Ratio: out of the range a number can be stored in"


def test_trailing_zeros_do_not_count_as_significant_digits() -> None:
    assert valid({"Ratio": "1" + "0" * 45}) == {"Ratio": Decimal("1" + "0" * 45)}


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("2026-11-30T10:15:00Z", "2026-11-30T10:15:00Z"),
        ("2026-11-30T10:15:00+02:00", "2026-11-30T08:15:00Z"),
        ("2026-11-30T23:30:00-01:00", "2026-12-01T00:30:00Z"),
        ("2026-11-30T10:15:00.123Z", "2026-11-30T10:15:00Z"),
    ],
)
def test_date_times_are_stored_in_utc(text: str, stored: str) -> None:
    assert valid({"Seen": text}) == {"Seen": stored}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2026-11-30T10:15:00", "the date-time needs an offset (Z or +hh:mm)"),
        ("yesterday", "expected an ISO 8601 date-time with offset"),
        ("0001-01-01T00:00:00+14:00", "the date-time falls outside the years 1 to 9999 in UTC"),
    ],
)
def test_a_date_time_without_an_offset_or_outside_utcs_years_is_refused(text: str, why: str) -> None:
    assert refusal({"Seen": text}).message == f"Seen: {why}"


def test_a_type_the_feed_cannot_write_says_so() -> None:
    assert refusal({"Tag": "6f1c"}).message == "Tag: Guid values cannot be written"


# ---- CSRF ----------------------------------------------------------------------------------------------------------


def test_the_csrf_token_is_stable_per_credential_and_reveals_nothing_of_it() -> None:
    token = csrf_token("s3cret")
    assert token == csrf_token("s3cret")  # every container derives the same one
    assert len(token) == 40
    assert all(c in "0123456789abcdef" for c in token)
    assert token != csrf_token("other")
    assert "s3cret" not in token
    assert csrf_token("") == csrf_token("local")  # no credential (local runs): a fixed token
