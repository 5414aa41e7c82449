"""A failed DynamoDB condition is said once, in the AWS adapters (sf_edge.aws.faults.conditional), as the domain's
ConditionNotMet; the repositories and stores catch that, never an error code string."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import ROOT
from sf_edge.aws.faults import conditional
from sf_edge.domain_errors import ConditionNotMet, Conflict, DomainError
from sf_edge.odata.request import ODataError

LAYER = ROOT / "layers" / "sf_edge" / "sf_edge"


def _failing(code: str) -> Any:
    def write(**_arguments: Any) -> Any:
        raise ClientError({"Error": {"Code": code, "Message": "no"}}, "PutItem")

    return write


def test_a_failed_condition_is_the_domains_condition_not_met() -> None:
    with pytest.raises(ConditionNotMet) as failed:
        conditional(_failing("ConditionalCheckFailedException"), Item={})
    assert isinstance(failed.value.__cause__, ClientError)  # the AWS error stays as the cause, for the log
    assert isinstance(failed.value, Conflict)
    assert isinstance(failed.value, DomainError)
    assert ODataError.of(failed.value).status == 409  # unhandled, it is a conflict, not a 500


@pytest.mark.parametrize("code", ["ValidationException", "ProvisionedThroughputExceededException", "Other"])
def test_every_other_error_passes_as_it_is(code: str) -> None:
    with pytest.raises(ClientError) as raised:
        conditional(_failing(code), Item={})
    assert raised.value.response["Error"]["Code"] == code


def test_the_write_and_its_answer_pass_through() -> None:
    seen: dict[str, Any] = {}

    def write(**arguments: Any) -> dict[str, Any]:
        seen.update(arguments)
        return {"Attributes": {"v": 2}}

    assert conditional(write, Key={"k": 1}, ConditionExpression="attribute_exists(k)") == {"Attributes": {"v": 2}}
    assert seen == {"Key": {"k": 1}, "ConditionExpression": "attribute_exists(k)"}


@pytest.mark.parametrize("code", ["ConditionalCheckFailed", "TransactionCanceledException", "CancellationReasons"])
def test_the_error_code_is_read_in_one_place(code: str) -> None:
    """A single write's failed condition and a cancelled transaction's reasons are both read in faults.py."""
    readers = sorted(
        path.relative_to(LAYER).as_posix() for path in LAYER.rglob("*.py") if code in path.read_text(encoding="utf-8")
    )
    assert readers == ["aws/faults.py"]


def _cancelled(*codes: str | None) -> ClientError:
    reasons = [{"Code": c} if c else {} for c in codes]
    return ClientError(
        {"Error": {"Code": "TransactionCanceledException"}, "CancellationReasons": reasons},  # type: ignore[typeddict-unknown-key]
        "TransactWriteItems",
    )


def test_a_cancelled_transactions_reasons_are_read_one_per_action() -> None:
    from sf_edge.aws.faults import CONDITION_FAILED, cancellation_reasons

    assert cancellation_reasons(_cancelled("None", CONDITION_FAILED, None, "TransactionConflict")) == [
        "None",
        "ConditionalCheckFailed",
        "None",
        "TransactionConflict",
    ]
    single = ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem")
    assert cancellation_reasons(single) is None  # one write's failed condition, not a transaction's
    assert cancellation_reasons(ValueError("not AWS")) is None


# The order system's repositories make no AWS call of their own: ItemTable (sf_edge.aws.item_table) makes them.
_TABLE_CALLS = {
    "get_item", "put_item", "update_item", "delete_item", "query", "scan", "batch_writer", "batch_get_item",
    "transact_write_items", "batch_write_item",
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(p.name for p in (LAYER / "order_system").glob("*.py")))
def test_the_order_system_calls_dynamodb_only_through_its_table_adapter(module: str) -> None:
    import ast

    tree = ast.parse((LAYER / "order_system" / module).read_text())
    calls = sorted(
        ast.unparse(node.func)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _TABLE_CALLS
    )
    imported = sorted(
        node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("boto3", "botocore", "sf_edge.aws"))
    )
    # A Query's own calls go through the adapter too: `self.table.query(...)` is ItemTable.query, not boto3's.
    assert [c for c in calls if not c.startswith(("self.table.", "self._details_table()."))] == []
    # What they may use of AWS: the adapter, and the builders of the expressions they hand it (no calls in either).
    assert set(imported) <= {"sf_edge.aws.item_table", "sf_edge.aws.update_expressions", "boto3.dynamodb.conditions"}


def test_the_table_adapter_answers_a_failed_condition_as_condition_not_met() -> None:
    from sf_edge.aws.item_table import ItemTable

    class Refusing:
        name = "T"
        put_item = update_item = delete_item = staticmethod(_failing("ConditionalCheckFailedException"))

    table = ItemTable(Refusing())  # type: ignore[arg-type]
    for write in (
        lambda: table.put({"K": 1}, ConditionExpression="attribute_not_exists(K)"),
        lambda: table.update({"K": 1}, UpdateExpression="SET A = :a", ConditionExpression="attribute_exists(K)"),
        lambda: table.delete({"K": 1}, ConditionExpression="attribute_exists(K)"),
    ):
        with pytest.raises(ConditionNotMet):
            write()
