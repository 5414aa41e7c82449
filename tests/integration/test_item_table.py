"""The order system's table adapter against moto's DynamoDB: what each call returns, a Query followed past its
first page, many items read and written in batches, and a failed condition answered as ConditionNotMet."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.conditions import Key

from conftest import Stack
from sf_edge.aws.item_table import ItemTable
from sf_edge.domain_errors import ConditionNotMet


@pytest.fixture
def details(stack: Stack) -> ItemTable:
    return ItemTable(stack.table("OrderDetailsTable"))


def sent(details: ItemTable, operation: str) -> list[dict[str, Any]]:
    """The parameters of every `operation` request the table's client sends from now on, as botocore has them."""
    calls: list[dict[str, Any]] = []
    client = details._table.meta.client
    client.meta.events.register(f"provide-client-params.dynamodb.{operation}", lambda params, **_: calls.append(params))
    return calls


def line(order_id: int, product_id: int, quantity: int = 1) -> dict[str, object]:
    return {"OrderID": order_id, "ProductID": product_id, "Quantity": quantity}


def test_an_item_is_read_back_as_written_and_an_absent_one_is_none(details: ItemTable) -> None:
    details.put(line(10248, 11, quantity=12))
    assert details.get({"OrderID": 10248, "ProductID": 11}) == {
        "OrderID": Decimal(10248),
        "ProductID": Decimal(11),
        "Quantity": Decimal(12),
    }
    assert details.get({"OrderID": 10248, "ProductID": 42}) is None
    assert details.get({"OrderID": 10248, "ProductID": 11}, consistent=False) is not None


def test_reads_are_strongly_consistent_unless_asked_otherwise(details: ItemTable) -> None:
    # moto answers both kinds alike: what the adapter asks DynamoDB for is what this test can see.
    details.put(line(10248, 11))
    gets, batch_gets = sent(details, "GetItem"), sent(details, "BatchGetItem")
    details.get({"OrderID": 10248, "ProductID": 11})
    details.get({"OrderID": 10248, "ProductID": 11}, consistent=False)
    details.get_many([{"OrderID": 10248, "ProductID": 11}])
    details.get_many([{"OrderID": 10248, "ProductID": 11}], consistent=False)
    assert [g["ConsistentRead"] for g in gets] == [True, False]
    assert [b["RequestItems"][details.name].get("ConsistentRead", False) for b in batch_gets] == [True, False]


def test_a_query_is_followed_to_its_last_page(details: ItemTable) -> None:
    details.put_all(line(10248, p) for p in range(1, 8))
    details.put(line(10249, 1))  # another order: not in the answer
    # Two items a page: the adapter must follow LastEvaluatedKey three times to return all seven.
    found = details.query(KeyConditionExpression=Key("OrderID").eq(10248), Limit=2)
    assert [int(i["ProductID"]) for i in found] == list(range(1, 8))


def test_many_items_are_written_and_read_past_one_batch(details: ItemTable) -> None:
    details.put_all(line(10250, p) for p in range(1, 131))  # BatchWriteItem holds 25, BatchGetItem 100
    keys = [{"OrderID": 10250, "ProductID": p} for p in range(1, 131)] + [{"OrderID": 10250, "ProductID": 999}]
    found = details.get_many(keys)
    assert sorted(int(i["ProductID"]) for i in found) == list(range(1, 131))  # the absent key left out
    assert len(details.get_many(keys, consistent=False)) == 130


def test_an_update_returns_the_attributes_asked_for(details: ItemTable) -> None:
    details.put(line(10251, 1, quantity=3))
    updated = details.update(
        {"OrderID": 10251, "ProductID": 1},
        UpdateExpression="ADD Quantity :n",
        ExpressionAttributeValues={":n": 2},
        ReturnValues="UPDATED_NEW",
    )
    assert updated == {"Quantity": Decimal(5)}
    assert (
        details.update(
            {"OrderID": 10251, "ProductID": 1},
            UpdateExpression="SET Discount = :d",
            ExpressionAttributeValues={":d": Decimal("0.1")},
        )
        == {}
    )


def test_a_failed_condition_is_condition_not_met_and_writes_nothing(details: ItemTable) -> None:
    details.put(line(10252, 1, quantity=3))
    absent = {"ConditionExpression": "attribute_not_exists(OrderID)"}
    with pytest.raises(ConditionNotMet):
        details.put(line(10252, 1, quantity=99), **absent)
    with pytest.raises(ConditionNotMet):
        details.update(
            {"OrderID": 10252, "ProductID": 1},
            UpdateExpression="SET Quantity = :q",
            ConditionExpression="Quantity = :was",
            ExpressionAttributeValues={":q": 99, ":was": 4},
        )
    with pytest.raises(ConditionNotMet):
        details.delete(
            {"OrderID": 10252, "ProductID": 1},
            ConditionExpression="Quantity = :was",
            ExpressionAttributeValues={":was": 4},
        )
    assert details.get({"OrderID": 10252, "ProductID": 1}) == {
        "OrderID": Decimal(10252),
        "ProductID": Decimal(1),
        "Quantity": Decimal(3),
    }
    details.delete(
        {"OrderID": 10252, "ProductID": 1}, ConditionExpression="Quantity = :was", ExpressionAttributeValues={":was": 3}
    )
    assert details.get({"OrderID": 10252, "ProductID": 1}) is None


def test_conditional_units_come_back_by_index_when_their_condition_fails(details: ItemTable) -> None:
    details.put(line(10253, 2))
    units = [
        [
            {
                "Put": {
                    "TableName": details.name,
                    "Item": line(10253, p),
                    "ConditionExpression": "attribute_not_exists(OrderID)",
                }
            }
        ]
        for p in (1, 2, 3)
    ]
    assert details.write_conditionally(units) == {1}  # product 2 was there already
    assert sorted(int(i["ProductID"]) for i in details.query(KeyConditionExpression=Key("OrderID").eq(10253))) == [
        1,
        2,
        3,
    ]
