"""Lambda entry point for UI update on data change: Order changes in, `Order_Status__e` Platform Events out.

Two event sources. The Orders table's stream: each change of an Order Salesforce created (shipped, freight set,
deleted) becomes one message on the order-status queue, and one write-back of the Opportunity's integration
fields. The order-status queue: its messages (up to 200 a batch) are published to Salesforce in sObject
Collections calls of up to 200 events, each change once (the publish ledger keeps what was published and the
UUID Salesforce queued it under). An event Salesforce refuses for now (the hourly allocation spent, the bus
unavailable) stays on the queue and is tried again after its visibility timeout; one refused for good goes to the
dead-letter queue after `maxReceiveCount` receives. The hourly publishing allocation is read at most every few
minutes and reported as a metric an alarm watches before it runs out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from sf_edge.aws.clients import dynamodb, sqs_client
from sf_edge.aws.published_events import DynamoDbPublishedEvents
from sf_edge.aws.salesforce_connection import SalesforceConnectionSettings, salesforce_client
from sf_edge.aws.write_back_store import SqsWriteBackQueue
from sf_edge.observability import build_tracer
from sf_edge.salesforce.platform_events import Publication, publish, publish_allocation
from sf_edge.salesforce.rest_client import SalesforceClient, SalesforceError
from sf_edge.settings import CompositionRoot, Required, at_least
from sf_edge.write_back.order_status import OrderStatusChange, status_change

logger = Logger()
metrics = Metrics()
tracer = build_tracer()


@dataclass(frozen=True, kw_only=True)
class OrderStatusSettings(SalesforceConnectionSettings):
    """The function's environment, as template.yaml sets it (SALESFORCE_*: the org events are published to)."""

    order_status_queue_url: Required
    published_events_table: Required
    write_back_queue_url: str = ""  # empty: the Opportunity's integration fields are not written back
    allocation_check_seconds: Annotated[int, at_least(0)] = 300


@dataclass
class OrderStatus:
    """The publishing client (None: no org configured), the ledger and the two queues."""

    salesforce: SalesforceClient | None
    ledger: DynamoDbPublishedEvents
    queue_url: str
    write_back_queue: SqsWriteBackQueue | None
    allocation_check_seconds: int
    allocation_read_at: list[float] = field(default_factory=list)
    warned: bool = False  # said once per container that no org is configured


def compose(settings: OrderStatusSettings) -> OrderStatus:
    return OrderStatus(
        salesforce=salesforce_client(settings, on_limit=record_api_usage),
        ledger=DynamoDbPublishedEvents(dynamodb().Table(settings.published_events_table)),
        queue_url=settings.order_status_queue_url,
        write_back_queue=SqsWriteBackQueue(settings.write_back_queue_url) if settings.write_back_queue_url else None,
        allocation_check_seconds=settings.allocation_check_seconds,
    )


publisher = CompositionRoot(OrderStatusSettings, compose)
stream_processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_api_usage(used: int, limit: int) -> None:
    metrics.add_metric(name="SalesforceApiUsagePercent", unit=MetricUnit.Percent, value=100 * used / max(limit, 1))


# The stream: changes to the queue.


@tracer.capture_method(capture_response=False)
def queue_change(record: DynamoDBRecord) -> None:
    """Queue the change one stream record holds, if Salesforce hears of it (a failure raises: the stream retries
    from this record)."""
    image = record.dynamodb
    seconds = image.approximate_creation_date_time if image else None
    changed_at = datetime.fromtimestamp(seconds, UTC) if seconds else None
    change = status_change(
        image.old_image if image else None,
        image.new_image if image and record.event_name and record.event_name.name != "REMOVE" else None,
        changed_at=changed_at,
    )
    if change is None:
        return
    service = publisher()
    sqs_client().send_message(QueueUrl=service.queue_url, MessageBody=change.model_dump_json())
    if service.write_back_queue is not None:
        service.write_back_queue.enqueue(change.write_back())
    logger.info("Order change queued for Salesforce", key=change.key, status=change.status)
    metrics.add_metric(name="OrderStatusChangesQueued", unit=MetricUnit.Count, value=1)


def queue_changes(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Queue a stream batch's changes; without an org, none (nothing queued that could never be delivered)."""
    service = publisher()
    metrics.add_metric(name="OrderStreamRecords", unit=MetricUnit.Count, value=len(event.get("Records") or []))
    if service.salesforce is None:
        if not service.warned:
            logger.warning("No Salesforce org is configured (SALESFORCE_*): Order changes are not published")
            service.warned = True
        return {"batchItemFailures": []}
    return dict(process_partial_response(event, queue_change, stream_processor, context))


# The queue: changes published.


def publish_changes(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Publish a batch of queued changes (each once); the records to retry are reported in batchItemFailures."""
    service = publisher()
    changes: dict[str, OrderStatusChange] = {}
    owners: dict[str, list[str]] = {}
    failed: list[str] = []
    for record in records:
        try:
            change = OrderStatusChange.model_validate_json(record["body"])
        except ValidationError as unreadable:
            logger.error("Unreadable order-status message", message_id=record["messageId"], why=str(unreadable))
            failed.append(record["messageId"])
            continue
        changes.setdefault(change.key, change)
        owners.setdefault(change.key, []).append(record["messageId"])
    if not changes:
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}
    if service.salesforce is None:
        raise SalesforceError("no Salesforce org is configured (SALESFORCE_*): nothing can be published")
    already = service.ledger.published(list(changes))
    waiting = [change for key, change in changes.items() if key not in already]
    metrics.add_metric(name="OrderStatusAlreadyPublished", unit=MetricUnit.Count, value=len(already))
    publications = publish(service.salesforce, [(c.key, c.platform_event()) for c in waiting]) if waiting else []
    service.ledger.record(publications)
    report(publications)
    refused = [p for p in publications if not p.published]
    failed.extend(m for p in refused for m in owners[p.key])
    check_allocation(service)
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}


def report(publications: list[Publication]) -> None:
    published = [p for p in publications if p.published]
    metrics.add_metric(name="OrderStatusPublished", unit=MetricUnit.Count, value=len(published))
    metrics.add_metric(
        name="OrderStatusPublishRefused", unit=MetricUnit.Count, value=len(publications) - len(published)
    )
    for p in published:
        logger.info("Order_Status__e published", key=p.key, event_uuid=p.event_uuid)
    for p in publications:
        if not p.published:
            logger.warning(
                "Salesforce refused an Order_Status__e; it is retried" if p.retryable else
                "Salesforce refused an Order_Status__e; it goes to the dead-letter queue after its retries",
                key=p.key, code=p.code, why=p.message,
            )  # fmt: skip


def check_allocation(service: OrderStatus) -> None:
    """Report the hourly publishing allocation (read at most every `allocation_check_seconds`). Never raises."""
    now = time.monotonic()
    if service.allocation_read_at and now - service.allocation_read_at[-1] < service.allocation_check_seconds:
        return
    service.allocation_read_at[:] = [now]
    try:
        assert service.salesforce is not None
        allocation = publish_allocation(service.salesforce)
    except Exception:
        logger.exception("Could not read the hourly publishing allocation")
        return
    if allocation is not None:
        metrics.add_metric(
            name="PlatformEventPublishUsedPercent", unit=MetricUnit.Percent, value=allocation.used_percent
        )
        metrics.add_metric(name="PlatformEventPublishRemaining", unit=MetricUnit.Count, value=allocation.remaining)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """A stream batch (queue its changes) or a queue batch (publish them); failures in batchItemFailures."""
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:dynamodb":
        return queue_changes(event, context)
    return publish_changes(records)
