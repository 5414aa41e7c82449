"""The read the planner picks for the requests Salesforce Connect sends, as the feed logs it (`plan=` in each
request's log line), and the limits past which a request is read another way. The items each plan reads are held
in tests/unit/test_odata_scale.py; this pins the choice itself."""

from __future__ import annotations

import pytest

from sf_edge.odata.planner import Plan, plan, pushable
from sf_edge.odata.request import bind_options, parse_query_string
from sf_edge.odata.schema import BY_NAME

ORDERS, DETAILS, CUSTOMERS = BY_NAME["Orders"], BY_NAME["Order_Details"], BY_NAME["Customers"]


def planned(set_name: str, query: str) -> Plan:
    entity_set = BY_NAME[set_name]
    return plan(entity_set, bind_options(entity_set, parse_query_string(query)))


@pytest.mark.parametrize(
    ("set_name", "query", "described"),
    [
        ("Orders", "$filter=OrderID eq 10248", "get 1 key(s)"),
        ("Orders", "$filter=OrderID in (10248, 10249, 10248)", "get 2 key(s)"),
        ("Orders", "$filter=OrderID eq 10248 or OrderID eq 10250", "get 2 key(s)"),
        ("Order_Details", "$filter=OrderID eq 10248 and ProductID eq 11", "get 1 key(s)"),
        ("Customers", "$search=Alfreds", "search the token index"),
        ("Orders", "$orderby=OrderDate desc", "query all-by-OrderDate over 4 shard(s) descending"),
        ("Orders", "$orderby=OrderDate", "query all-by-OrderDate over 4 shard(s)"),
        ("Orders", "$orderby=OrderID desc,OrderDate", "scan"),  # two directions: sorted in memory
        (
            "Orders",
            "$filter=CustomerID eq 'ALFKI'&$orderby=OrderDate desc",
            "query CustomerID-by-OrderDate where CustomerID = 'ALFKI' descending",
        ),
        (
            "Orders",
            "$filter=CustomerID eq 'ALFKI' and OrderDate ge 1997-01-01T00:00:00Z&$orderby=OrderDate",
            "query CustomerID-by-OrderDate where CustomerID = 'ALFKI' in a range",
        ),
        (
            "Orders",
            "$filter=CustomerID eq 'ALFKI' and Freight gt 10",
            "query CustomerID-by-OrderDate where CustomerID = 'ALFKI' + 1 condition(s) pushed down",
        ),
        ("Orders", "$filter=Freight gt 10", "scan + 1 condition(s) pushed down"),
        ("Orders", "$filter=Freight gt 10 and ShipCountry eq 'France'", "scan + 2 condition(s) pushed down"),
        ("Orders", "$filter=OrderDate lt 1997-01-01T00:00:00Z", "query all-by-OrderDate over 4 shard(s) in a range"),
        (
            "Orders",
            "$filter=OrderDate lt 1997-01-01T00:00:00Z and Freight gt 10",
            "query all-by-OrderDate over 4 shard(s) in a range + 1 condition(s) pushed down",
        ),
        ("Customers", "$filter=CompanyName gt 5", "scan"),  # a number against text: no range, nothing pushed
        ("Order_Details", "$filter=OrderID eq 10248", "query table where OrderID = 10248"),
        (
            "Order_Details",
            "$filter=OrderID eq 10248&$orderby=ProductID desc",
            "query table where OrderID = 10248 descending",
        ),
        ("Order_Details", "$filter=ProductID eq 11", "query ProductID-index where ProductID = 11"),
        (
            "Customers",
            "$filter=startswith(CompanyName,'Al')",
            "query all-by-CompanyName over 1 shard(s) in a range + 1 condition(s) pushed down",
        ),
        ("Customers", "$filter=Country eq 'Germany'&$orderby=City", "query Country-by-City where Country = 'Germany'"),
    ],
)
def test_each_request_reads_the_cheapest_way_its_declarations_allow(set_name: str, query: str, described: str) -> None:
    assert planned(set_name, query).describe() == described


def test_a_sorted_request_no_index_serves_names_the_index_that_would() -> None:
    found = planned("Orders", "$orderby=Freight desc")
    assert (found.kind, found.ordered, found.unserved_order and found.unserved_order.index_name) == (
        "scan",
        False,
        "all-by-Freight",
    )
    found = planned("Orders", "$orderby=length(ShipName)")
    assert found.unserved_order is not None
    assert found.unserved_order.by == "?"
    assert planned("Orders", "$orderby=OrderDate").unserved_order is None


def test_an_orderby_may_end_with_the_rest_of_the_key_in_the_same_direction() -> None:
    assert planned("Orders", "$orderby=OrderDate desc,OrderID desc").ordered
    assert not planned("Orders", "$orderby=OrderDate desc,OrderID").ordered
    assert not planned("Orders", "$orderby=OrderDate,ShipCountry").ordered
    assert planned("Order_Details", "$filter=OrderID eq 10248&$orderby=ProductID").read is not None


def test_a_lookup_over_many_parents_is_one_query_each_up_to_a_hundred() -> None:
    ids = [f"C{n:04d}" for n in range(101)]  # one more than the Queries a lookup may fan out to
    hundred = planned("Orders", f"$filter=CustomerID in ({', '.join(repr(i) for i in ids[:100])})&$orderby=OrderDate")
    assert hundred.read is not None
    assert len(hundred.read.partitions) == 100
    assert hundred.read.index == "CustomerID-by-OrderDate"
    more = planned("Orders", f"$filter=CustomerID in ({', '.join(repr(i) for i in ids)})&$orderby=OrderDate")
    assert more.read is not None
    assert more.read.index == "all-by-OrderDate"
    either = planned("Orders", "$filter=CustomerID eq 'A' or CustomerID eq 'B' or CustomerID eq 'A'")
    assert either.read is not None
    assert either.read.partitions == ("A", "B")


@pytest.mark.parametrize(
    ("query", "count_key"),
    [
        ("", ("", None)),
        ("$filter=CustomerID eq 'ALFKI'", ("CustomerID", "ALFKI")),
        ("$filter=CustomerID eq 'ALFKI' and Freight gt 1", None),
        ("$filter=Freight gt 1", None),
        ("$filter=ShipCountry eq 'France'", None),  # not a counted property
        ("$filter=CustomerID eq ''", None),  # no key can be empty: counted by reading
        ("$search=Alfreds", None),
    ],
)
def test_counts_come_from_a_counter_only_for_the_whole_set_or_one_counted_value(
    query: str, count_key: tuple[str, object] | None
) -> None:
    assert planned("Orders", query).count_key == count_key


@pytest.mark.parametrize(
    ("set_name", "query"),
    [
        ("Orders", "$filter=OrderID eq 10248"),
        ("Orders", "$filter=OrderID eq 0"),
        ("Orders", "$filter=OrderID eq -10248"),
        ("Customers", "$filter=CustomerID eq 'ALFKI'"),
    ],
)
def test_a_key_of_the_declared_type_is_a_get(set_name: str, query: str) -> None:
    assert planned(set_name, query).kind == "get"


@pytest.mark.parametrize(
    ("set_name", "query"),
    [
        ("Orders", "$filter=OrderID eq '10248'"),  # a string for an integer key: never equal, not a get
        ("Orders", "$filter=OrderID eq 10248.0"),
        ("Orders", f"$filter=OrderID eq {10**38}"),  # past what DynamoDB can hold
        ("Orders", "$filter=OrderID eq true"),
        ("Customers", "$filter=CustomerID eq ''"),  # DynamoDB refuses an empty key
        ("Customers", "$filter=CustomerID eq 5"),
        ("Orders", "$filter=OrderID in (10248, '10249')"),
    ],
)
def test_a_key_dynamodb_cannot_compare_is_read_another_way_not_sent(set_name: str, query: str) -> None:
    assert planned(set_name, query).kind != "get"


def test_the_largest_integer_key_dynamodb_holds_is_still_a_get() -> None:
    assert planned("Orders", f"$filter=OrderID eq {10**38 - 1}").kind == "get"
    assert planned("Orders", f"$filter=OrderID eq {-(10**38) + 1}").kind == "get"


@pytest.mark.parametrize(
    ("text", "pushed"),
    [
        ("ShipCountry eq 'France'", True),
        ("ShipCountry ne 'France'", True),
        ("ShipCountry eq null", True),
        ("ShipCountry ne null", True),
        ("ShipCountry gt null", False),
        ("Freight gt 10", True),
        ("Freight gt 10.5", True),
        ("Freight gt 1.5e1", False),  # a Double literal: DynamoDB would compare a rounded number
        ("EmployeeID eq 5", True),
        (f"EmployeeID eq {10**38}", False),
        ("EmployeeID eq 5.0", False),
        ("EmployeeID eq true", False),
        ("ShipCountry eq 5", False),
        ("OrderDate gt 1997-01-01T00:00:00Z", False),  # stored texts may be written another way
        ("startswith(ShipName,'Al')", True),
        ("contains(ShipName,'Al') eq true", True),
        ("contains(ShipName,'')", False),
        ("endswith(ShipName,'Al')", False),
        ("startswith(EmployeeID,'1')", False),
        ("ShipCountry in ('France', 'Spain')", True),
        ("ShipCountry in ('France', 5)", False),
        ("ShipCountry eq 'France' or Freight gt 10", True),
        ("ShipCountry eq 'France' or OrderDate gt 1997-01-01T00:00:00Z", False),
        ("ShipCountry eq 'France' and Freight gt 10", True),
        ("NoSuchProperty eq null", False),
        ("5 lt Freight", True),
        ("length(ShipName) gt 5", False),
    ],
)
def test_what_dynamodb_can_check_first_is_pushed_down(text: str, pushed: bool) -> None:
    from sf_edge.odata.expressions import parse_filter

    assert pushable(ORDERS, parse_filter(text)) is pushed


def test_an_in_list_is_pushed_down_up_to_a_hundred_values() -> None:
    from sf_edge.odata.expressions import parse_filter

    values = ", ".join(f"'C{n}'" for n in range(101))
    assert pushable(ORDERS, parse_filter(f"ShipCountry in ({values.rsplit(', ', 1)[0]})"))
    assert not pushable(ORDERS, parse_filter(f"ShipCountry in ({values})"))


def test_the_unserved_order_is_named_after_the_first_orderby_property() -> None:
    found = planned("Orders", "$orderby=Freight desc,ShipVia")
    assert found.unserved_order is not None
    assert found.unserved_order.index_name == "all-by-Freight"


def test_what_the_key_condition_holds_exactly_is_not_checked_again() -> None:
    # A date range on the sorted property is the sort-key range itself: no row read needs the check again.
    exact = planned("Orders", "$filter=OrderDate lt 1997-01-01T00:00:00Z")
    assert exact.residual is None
    equal = planned("Orders", "$filter=CustomerID eq 'ALFKI'")
    assert equal.residual is None
    # A text longer than a sort key holds is only narrowed by the range, then checked on each row.
    prefix = planned("Customers", "$filter=startswith(CompanyName,'Al')")
    assert prefix.residual is not None


def test_the_children_of_a_parent_are_read_in_the_order_of_the_keys_second_part() -> None:
    read = planned("Order_Details", "$filter=OrderID eq 10248&$orderby=ProductID desc").read
    assert read is not None
    assert (read.index, read.partition_attribute, read.partitions, read.sort_attribute, read.descending) == (
        None,
        "OrderID",
        (10248,),
        "ProductID",
        True,
    )


def test_the_largest_integers_dynamodb_holds_are_pushed_down() -> None:
    from sf_edge.odata.expressions import parse_filter

    assert pushable(ORDERS, parse_filter(f"EmployeeID eq {10**38 - 1}"))
    assert not pushable(ORDERS, parse_filter(f"EmployeeID eq {10**38}"))
