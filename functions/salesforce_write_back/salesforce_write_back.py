"""Lambda entry point for the write-back queue: batches of write-backs in, sObject Collections calls out.

Remote call-in as its own fire-and-forget stage: the worker has already applied each notification (exactly once)
and queued what Salesforce should see; a Salesforce outage or API limit here only delays the write-back (SQS
retries it, then dead-letters it), never repeats the apply. Signs in with the OAuth 2.0 JWT bearer flow as the
integration user (SALESFORCE_* settings); with SALESFORCE_LOGIN_URL unset, each write-back is recorded in the
WriteBackLedger table and logged instead of sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from sf_edge.aws.bulk_write_back import BulkWriteBackStarter
from sf_edge.aws.clients import dynamodb
from sf_edge.aws.salesforce_connection import SalesforceConnectionSettings, callback_clients, salesforce_client
from sf_edge.aws.write_back_store import DynamoDbWriteBackLedger, SqsWriteBackQueue
from sf_edge.observability import build_tracer
from sf_edge.settings import CompositionRoot, Required, at_least
from sf_edge.write_back.delivery import Queued, WriteBackDelivery
from sf_edge.write_back.messages import WriteBack

API_USAGE_WARNING_PERCENT = 80  # of the org's 24-hour API request allowance

logger = Logger()
metrics = Metrics()
tracer = build_tracer()


def record_api_usage(used: int, limit: int) -> None:
    """Salesforce's Sforce-Limit-Info (API requests used of the org's daily allowance), as metrics."""
    percent = 100 * used / max(limit, 1)
    metrics.add_metric(name="SalesforceApiRequestsUsed", unit=MetricUnit.Count, value=used)
    metrics.add_metric(name="SalesforceApiUsagePercent", unit=MetricUnit.Percent, value=percent)
    if percent >= API_USAGE_WARNING_PERCENT:
        logger.warning("Salesforce API usage is high", api_usage=used, api_limit=limit)


@dataclass(frozen=True, kw_only=True)
class WriteBackSettings(SalesforceConnectionSettings):
    """The write-back function's environment, as template.yaml sets it."""

    write_back_ledger_table: Required
    write_back_dead_letter_queue_url: Required
    # A backlog of at least this many write-backs goes by Bulk API 2.0 ingest jobs (the bulk write-back
    # workflow) instead of sObject Collections; empty ARN: always Collections.
    write_back_queue_url: str = ""
    bulk_write_back_state_machine_arn: str = ""
    bulk_write_back_threshold: Annotated[int, at_least(1)] = 2000


def compose(settings: WriteBackSettings) -> WriteBackDelivery:
    """The ledger, the dead-letter queue and (when SALESFORCE_* names an org) the Salesforce client."""
    return WriteBackDelivery(
        ledger=DynamoDbWriteBackLedger(dynamodb().Table(settings.write_back_ledger_table)),
        dead_letters=SqsWriteBackQueue(settings.write_back_dead_letter_queue_url),
        client=salesforce_client(settings, on_limit=record_api_usage),
        callback_client=callback_clients(settings, on_limit=record_api_usage),
        bulk=BulkWriteBackStarter(
            settings.write_back_queue_url,
            settings.bulk_write_back_state_machine_arn,
            settings.bulk_write_back_threshold,
        )
        if settings.bulk_write_back_state_machine_arn and settings.write_back_queue_url
        else None,
    )


delivery = CompositionRoot(WriteBackSettings, compose)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Deliver an SQS batch of write-backs; report the records SQS should retry."""
    records = event.get("Records", [])
    failed: list[str] = []
    batch: list[Queued] = []
    for record in records:
        try:
            batch.append(Queued(record["messageId"], WriteBack.model_validate_json(record["body"])))
        except ValidationError as invalid:
            # Only a broken deployment queues this; SQS retries it, then its dead-letter queue keeps it.
            logger.error("Unreadable write-back", message_id=record["messageId"], errors=invalid.errors()[:3])
            failed.append(record["messageId"])
    outcome = delivery().deliver(batch)
    failed.extend(outcome.retry)
    for name, value in (
        ("WriteBacksSent", outcome.sent),
        ("WriteBacksRecorded", outcome.recorded),
        ("WriteBacksRejected", outcome.rejected),
        ("WriteBacksSkipped", outcome.skipped),
        ("WriteBacksParked", outcome.parked),
        ("WriteBacksRetried", len(failed)),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    logger.info(
        "Write-back batch done",
        received=len(records),
        sent=outcome.sent,
        recorded=outcome.recorded,
        rejected=outcome.rejected,
        skipped=outcome.skipped,
        parked=outcome.parked,
        retried=len(failed),
    )
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
