"""The OData store's DynamoDB client parses reads with orjson (sf_edge.aws.dynamodb_wire): exactly what botocore's
own parser gives, for every attribute type the tables hold, and errors are still botocore's ClientErrors."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import Stack
from sf_edge.aws.clients import dynamodb_client

ITEM = {
    "OrderID": {"N": "10248"},
    "CustomerID": {"S": "VINET"},
    "Freight": {"N": "32.38"},
    "Nothing": {"NULL": True},
    "Shipped": {"BOOL": False},
    "Tags": {"SS": ["a", "b"]},
    "Sizes": {"NS": ["1", "2.5"]},
    "Lines": {"L": [{"M": {"ProductID": {"N": "11"}, "Note": {"S": "é 中文"}}}]},
}


def _strip(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def _unordered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def normal(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: sorted(v) if k in ("SS", "NS") else normal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [normal(v) for v in value]
        return value

    return [normal(item) for item in items]


def test_reads_parse_exactly_as_botocore_does(stack: Stack) -> None:
    table = stack.name("OrdersTable")
    fast, plain = dynamodb_client(), boto3.client("dynamodb")
    fast.put_item(TableName=table, Item=ITEM)
    fast.put_item(TableName=table, Item={"OrderID": {"N": "10249"}, "CustomerID": {"S": "TOMSP"}})
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get_item", {"TableName": table, "Key": {"OrderID": {"N": "10248"}}}),
        ("scan", {"TableName": table, "Limit": 1}),
        (
            "query",
            {
                "TableName": table,
                "KeyConditionExpression": "OrderID = :k",
                "ExpressionAttributeValues": {":k": {"N": "10248"}},
            },
        ),
        (
            "batch_get_item",
            {"RequestItems": {table: {"Keys": [{"OrderID": {"N": "10248"}}, {"OrderID": {"N": "10249"}}]}}},
        ),
    ]
    for operation, arguments in calls:
        ours, theirs = _strip(getattr(fast, operation)(**arguments)), _strip(getattr(plain, operation)(**arguments))
        if operation == "batch_get_item":
            ours["Responses"][table].sort(key=lambda i: i["OrderID"]["N"])
            theirs["Responses"][table].sort(key=lambda i: i["OrderID"]["N"])
        for answer in (ours, theirs):
            for key in ("Items",):
                if key in answer:
                    answer[key] = _unordered(answer[key])
            if "Item" in answer:
                answer["Item"] = _unordered([answer["Item"]])[0]
            if "Responses" in answer:
                answer["Responses"][table] = _unordered(answer["Responses"][table])
        assert ours == theirs, operation
    assert _strip(fast.scan(TableName=table, Limit=1))["LastEvaluatedKey"]  # paging keys come through too


def test_errors_are_still_client_errors(stack: Stack) -> None:
    """An error answer is parsed by botocore, as from any client: the same code and message."""
    bad_calls: list[tuple[str, dict[str, Any]]] = [
        (
            "query",
            {
                "TableName": stack.name("OrdersTable"),
                "IndexName": "NoSuchIndex",
                "KeyConditionExpression": "OrderID = :k",
                "ExpressionAttributeValues": {":k": {"N": "1"}},
            },
        ),
        ("get_item", {"TableName": "NoSuchTable", "Key": {"OrderID": {"N": "1"}}}),
    ]
    for operation, arguments in bad_calls:
        errors = []
        for client in (dynamodb_client(), boto3.client("dynamodb")):
            with pytest.raises(ClientError) as caught:
                getattr(client, operation)(**arguments)
            errors.append((caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]))
        assert errors[0] == errors[1]
        assert errors[0][0] in ("ValidationException", "ResourceNotFoundException")


def test_of_racing_conditional_writes_on_one_item_exactly_one_passes(stack: Stack) -> None:
    """DynamoDB's atomicity, which the key registry, the merges and the OData counters rely on: moto's threaded
    server let two writers pass one condition now and then under load (local_runtime/moto_process.py)."""
    import threading

    client = dynamodb_client()
    table = stack.name("KeyRegistryTable")
    winners: dict[str, int] = {}
    lock = threading.Lock()

    def claim(key: str, writer: int) -> None:
        try:
            client.put_item(
                TableName=table,
                Item={"Key": {"S": key}, "Writer": {"N": str(writer)}},
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": "Key"},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return
        with lock:
            winners[key] = winners.get(key, 0) + 1

    for n in range(200):
        threads = [threading.Thread(target=claim, args=(f"race#{n}", w)) for w in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(set(winners.values())) == [1]
    assert len(winners) == 200
