"""The sort attributes every sorted list view and range read stands on: a value's encoding must sort as OData
orders the values, and the key range of a comparison must hold exactly the rows the comparison is true for."""

from __future__ import annotations

import operator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sf_edge.odata.indexing import NULL, SEP, encode, range_for
from sf_edge.odata.schema import Prop

COMPARISONS = {"eq": operator.eq, "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}
KEY = SEP + "1K"  # what follows the value in a sort attribute: the separator, then the row's key

# Numbers DynamoDB stores: up to 38 significant digits, magnitudes 1E-130 to below 1E+126 (past the 28 digits of
# Python's default decimal context on purpose).
numbers = st.builds(
    lambda sign, digits, exponent: Decimal(f"{sign}{digits}E{exponent}"),
    st.sampled_from(["", "-"]),
    st.integers(min_value=0, max_value=10**38 - 1),
    st.integers(min_value=-130, max_value=87),
)
moments = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)).flatmap(
    lambda moment: st.integers(min_value=-14 * 60, max_value=14 * 60).map(
        lambda minutes: moment.astimezone(timezone(timedelta(minutes=minutes))).isoformat()
    )
)
KINDS: list[tuple[Prop, st.SearchStrategy[Any], Any]] = [
    (Prop("Amount", "Decimal"), numbers, lambda v: v),
    (Prop("Count", "Int64"), st.integers(min_value=-(2**63), max_value=2**63 - 1), lambda v: v),
    (Prop("When", "DateTimeOffset"), moments, datetime.fromisoformat),
    (Prop("Name", "String"), st.text(st.characters(min_codepoint=0x20), max_size=30), lambda v: v),
]


def in_range(prop: Prop, op: str, literal: Any, stored: Any) -> bool:
    found = range_for(prop, op, literal)
    assert found is not None
    attribute = encode(prop, stored) + KEY
    return (found.low is None or attribute >= found.low) and (found.high is None or attribute < found.high)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_encodings_sort_as_the_values_do(data: st.DataObject) -> None:
    prop, values, meaning = data.draw(st.sampled_from(KINDS))
    a, b = data.draw(values), data.draw(values)
    for x, y in ((a, b), (b, a), (a, a)):
        assert (encode(prop, x) + KEY < encode(prop, y) + KEY) == (meaning(x) < meaning(y)), (x, y)
        for name, holds in COMPARISONS.items():  # the row holding y is in the range of `property name x`
            assert in_range(prop, name, x, y) == holds(meaning(y), meaning(x)), (name, x, y)


def test_numbers_differing_past_the_28th_digit_keep_their_order() -> None:
    amount = Prop("Amount", "Decimal")
    smaller, larger = Decimal("1." + "1" * 35), Decimal("1." + "1" * 34 + "2")
    assert encode(amount, smaller) < encode(amount, larger)
    assert in_range(amount, "gt", smaller, larger)
    assert not in_range(amount, "gt", larger, smaller)


def test_equal_numbers_written_differently_encode_the_same() -> None:
    amount = Prop("Amount", "Decimal")
    assert {encode(amount, v) for v in (Decimal("1.5"), Decimal("1.50"), Decimal("15E-1"), 1.5, "1.500")} == {
        encode(amount, Decimal("1.5"))
    }
    assert encode(amount, Decimal("0")) == encode(amount, Decimal("-0.000"))


def test_null_sorts_first_and_only_eq_null_is_a_range() -> None:
    amount = Prop("Amount", "Decimal")
    assert encode(amount, None) == NULL
    assert encode(amount, None) + KEY < encode(amount, Decimal("-1E+125")) + KEY
    assert in_range(amount, "eq", None, None)
    assert not in_range(amount, "eq", None, Decimal(0))
    assert range_for(amount, "gt", None) is None
    assert range_for(amount, "ne", Decimal(1)) is None
    assert not in_range(amount, "lt", Decimal(1), None)  # null is not less than anything
    assert not in_range(amount, "le", Decimal(1), None)
