"""Lambda entry point of the bulk write-back workflow's tasks (statemachine/bulk_write_back.asl.json): a large
backlog of write-backs sent to Salesforce as Bulk API 2.0 ingest jobs, each row's outcome joined back to the
write-back ledger by its key column (sf_edge.write_back.bulk_delivery says how).

The write-back function parks write-backs when its queue holds at least BULK_WRITE_BACK_THRESHOLD of them and
starts this workflow with the group (`<sObject>/<key field>`); each task gets the workflow's state and a `step`
(`begin`, `poll`, `join`). Errors are `RetryLater` (retried by the workflow) or `BulkWriteBackFailed`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sf_edge.aws.clients import dynamodb
from sf_edge.aws.salesforce_connection import SalesforceConnectionSettings, salesforce_client
from sf_edge.aws.write_back_store import DynamoDbWriteBackLedger, SqsWriteBackQueue
from sf_edge.observability import build_tracer
from sf_edge.salesforce.bulk_api import MAX_UPLOAD_BYTES, BulkApi
from sf_edge.settings import CompositionRoot, Required, at_least, at_most
from sf_edge.write_back.bulk_delivery import BulkWriteBack, BulkWriteBackFailed
from sf_edge.write_back.rules import DECLARED_RULES, WriteBackRules

logger = Logger()
metrics = Metrics()
tracer = build_tracer()


@dataclass(frozen=True, kw_only=True)
class BulkWriteBackSettings(SalesforceConnectionSettings):
    """The bulk write-back function's environment, as template.yaml sets it."""

    write_back_ledger_table: Required
    write_back_dead_letter_queue_url: Required
    write_back_rules: Path = DECLARED_RULES  # the fields a job's columns are
    bulk_write_back_max_bytes: Annotated[int, at_least(1024), at_most(MAX_UPLOAD_BYTES)] = MAX_UPLOAD_BYTES
    bulk_write_back_max_attempts: Annotated[int, at_least(1), at_most(20)] = 5


def compose(settings: BulkWriteBackSettings) -> BulkWriteBack:
    """The ledger, the manifests, the dead-letter queue and the Bulk API (signing in on first use)."""
    made: list[BulkApi] = []

    def bulk() -> BulkApi:
        if not made:
            client = salesforce_client(settings)
            if client is None:
                raise BulkWriteBackFailed("no Salesforce org is configured (SALESFORCE_LOGIN_URL is empty)")
            made.append(BulkApi(client))
        return made[0]

    rules = WriteBackRules.load(settings.write_back_rules)
    return BulkWriteBack(
        bulk=bulk,
        ledger=DynamoDbWriteBackLedger(dynamodb().Table(settings.write_back_ledger_table)),
        dead_letters=SqsWriteBackQueue(settings.write_back_dead_letter_queue_url),
        fields_of=rules.fields_of,
        max_upload_bytes=settings.bulk_write_back_max_bytes,
        max_attempts=settings.bulk_write_back_max_attempts,
    )


bulk_write_back = CompositionRoot(BulkWriteBackSettings, compose)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run one step of the bulk write-back workflow."""
    steps = bulk_write_back()
    step = str(event.get("step", ""))
    run: Callable[[dict[str, Any]], dict[str, Any]] | None = {
        "begin": steps.begin,
        "poll": steps.poll,
        "join": steps.join,
    }.get(step)
    if run is None:
        raise BulkWriteBackFailed(f"no step {step!r} (begin, poll, join)")
    state = run(dict(event.get("state") or {}))
    if step == "join":
        report = state["reports"][-1]
        for name, key in (("BulkWriteBacksSent", "sent"), ("BulkWriteBacksRejected", "rejected")):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=int(report[key]))
        returned = report["retried"] + report["unprocessed"] + report["unanswered"]
        metrics.add_metric(name="BulkWriteBacksReturned", unit=MetricUnit.Count, value=int(returned))
    logger.info("Bulk write-back step done", step=step, group=state.get("group"), state=state.get("state"))
    return state
