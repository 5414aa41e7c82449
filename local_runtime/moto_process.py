"""moto's server as `make run` and the tests start it, with the one DynamoDB guarantee moto leaves out under load,
transactions that cost what the items they touch cost, and Step Functions executing state machines.

DynamoDB applies each request atomically: of two conditional writes racing on one item, exactly one passes its
condition. moto's threaded server checks a condition and then writes, with nothing stopping another request in
between, so under load two writers can both pass (seen as an OData count one too high after concurrent writers
and a backfill). A lock around each DynamoDB request gives back the atomicity the code relies on; SQS long polls,
S3, streams and the rest stay concurrent.

TransactWriteItems: moto keeps a deep copy of the whole table for each item of a transaction, to roll back (a
100-item transaction on a 4,000-item table took about 10 s: 10 rows/s). Here every condition is checked against
the state before the transaction, as DynamoDB does; when one fails nothing is written and the cancellation
reasons say which; otherwise each write is applied with a copy of only the item it replaces, restored if a write
is refused on the way (an item too large, say). Under the lock above, nothing else runs in between.

Item reads (GetItem, BatchGetItem, Query, Scan): moto 5.2 walks every attribute of every item returned through its
generic response serializer, which took longer than the read itself (a BatchGetItem of 100 Customers: about
0.3 s). Their results are DynamoDB's wire JSON already (attribute values typed as `{"S": ...}`), so they are
sent as JSON directly, as moto did before its serializer.

Step Functions: moto parses and runs state machines (its executor, from LocalStack's) only when configured to; its
Lambda tasks would need moto's Lambda, which runs functions in Docker. Here a task's Lambda call goes to the
local runtime's Lambda host instead (LOCAL_LAMBDA_ENDPOINT: the functions of template.yaml, composed as `make run`
composes them), and every other call of the executor (S3 for a Distributed Map's items) to this server.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

from moto.core.config import default_user_config
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_ONE_AT_A_TIME = threading.Lock()
_call_action = DynamoHandler.call_action


def _atomic_call_action(self: DynamoHandler) -> Any:
    with _ONE_AT_A_TIME:
        return _call_action(self)


DynamoHandler.call_action = _atomic_call_action  # type: ignore[method-assign]


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    operations: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    seen: set[tuple[str, str]] = set()
    errors: list[Any] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        kind, op = next(iter(entry.items()))
        table = self.get_table(op["TableName"])
        if kind == "Put":
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        identity = (op["TableName"], str(sorted(key.items())))
        if identity in seen:
            raise MultipleTransactionsException()
        seen.add(identity)
        operations.append((kind, op, key))
        current = self.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        holds = condition is None or get_filter_expression(
            condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        ).expr(current)
        if holds:
            errors.append((None, None, None))
        else:
            old = (
                current.to_json()["Attributes"]
                if current and op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                else None
            )
            errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    replaced: list[tuple[str, dict[str, Any], Any]] = []
    try:
        for kind, op, key in operations:
            current = self.get_item(op["TableName"], key)
            replaced.append((op["TableName"], key, current.to_json()["Attributes"] if current else None))
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if kind == "Put":
                self.put_item(op["TableName"], op["Item"])
            elif kind == "Delete":
                self.delete_item(op["TableName"], key)
            elif kind == "Update":
                self.update_item(op["TableName"], key, op["UpdateExpression"], names or {}, values or {})
    except Exception:
        for table_name, key, before in reversed(replaced):
            if before is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before)
        raise


DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]


def _as_json(read: Any) -> Any:
    def answered(self: DynamoHandler) -> Any:
        result = read(self)
        try:
            return json.dumps(result.result)
        except (AttributeError, TypeError):  # not an item read's plain result: moto's serializer answers
            return result

    return answered


for _read in ("get_item", "batch_get_item", "query", "scan"):
    setattr(DynamoHandler, _read, _as_json(getattr(DynamoHandler, _read)))


def _local_lambda(boto_client_for: Any) -> Any:
    """The executor's client factory, with Lambda pointed at the local runtime's Lambda host."""

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        endpoint = os.environ.get("LOCAL_LAMBDA_ENDPOINT", "")
        if service == "lambda" and endpoint:
            import boto3
            from botocore.config import Config

            return boto3.client(
                "lambda",
                region_name=region,
                endpoint_url=endpoint,
                aws_access_key_id="local",
                aws_secret_access_key="local",  # noqa: S106 - the local runtime takes any key
                config=Config(retries={"max_attempts": 1}, read_timeout=900, connect_timeout=5),
            )
        return boto_client_for(region, service, state_credentials)

    return client_for


def _execute_state_machines() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    lambda_eval_utils.boto_client_for = _local_lambda(lambda_eval_utils.boto_client_for)  # type: ignore[attr-defined]


if __name__ == "__main__":
    # The executor calls this server back (S3 for a Distributed Map's items) on the port moto believes it has.
    os.environ["MOTO_PORT"] = sys.argv[sys.argv.index("-p") + 1]
    _execute_state_machines()
    main(sys.argv[1:])
