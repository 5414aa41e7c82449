"""Lambda entry point for the notification queue and the relayed-event queue: SQS batches in, partial batch
failures out.

Each record is one notification, or one event Salesforce Event Relay put on EventBridge (a Platform Event, or a
change event: one notification per record it changes). Each notification is published on the change hub's bus
(HUB_BUS_NAME: the normalized event every downstream target receives, a won Opportunity with its lines) and
then applied to the order system by the handler the registry routes it to, both at most once (Powertools
idempotency keyed on the org and the notification or event id, kept a week: longer than Salesforce's 24-hour
retry window and its 3-day event retention). A failing record is reported alone in `batchItemFailures`, retried
by SQS, and moved to the dead-letter queue after `maxReceiveCount` receives.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from sf_edge.aws.change_hub import EventBridgeChangeHub, PublishedMarks
from sf_edge.aws.clients import dynamodb
from sf_edge.aws.large_payloads import PayloadError, large_payloads_in, pointer_key
from sf_edge.aws.notification_archive import NotificationArchive
from sf_edge.aws.salesforce_connection import SalesforceConnectionSettings, salesforce_client
from sf_edge.aws.write_back_store import SqsWriteBackQueue
from sf_edge.hub.change_events import change_event
from sf_edge.notifications.reference_handlers import (
    MARKED_FOR_RECONCILIATION,
    line_items_or_why,
    registry,
    won_opportunity_id,
)
from sf_edge.notifications.routing import HandlerResult, Services
from sf_edge.observability import build_tracer
from sf_edge.order_system.customer_repository import CustomerRepository
from sf_edge.order_system.key_registry import KeyRegistry
from sf_edge.order_system.order_repository import OrderRepository
from sf_edge.salesforce.line_items import LineItem, RememberedLineItems, SalesforceLineItems
from sf_edge.salesforce.notification_message import NotificationMessage
from sf_edge.salesforce.relayed_events import RelayedEvent, is_relayed_event, notifications_of
from sf_edge.settings import CompositionRoot, Required, at_least
from sf_edge.write_back.messages import WriteBack
from sf_edge.write_back.rules import DECLARED_RULES, WriteBackRules

# Every module that registers handlers, imported at cold start: a handler module missing here would never be
# imported, and its notifications would silently go to the recording handler (tests/integration/test_worker.py
# holds the list to what the code registers).
HANDLER_MODULES = ("sf_edge.notifications.reference_handlers",)
for _module in HANDLER_MODULES:
    importlib.import_module(_module)

IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600

logger = Logger()
metrics = Metrics()
tracer = build_tracer()

ALREADY_APPLIED = "already_applied"


@dataclass(frozen=True, kw_only=True)
class WorkerSettings(SalesforceConnectionSettings):
    """The worker's environment, as template.yaml sets it (SALESFORCE_*: gap events re-read their records and
    won Opportunities' lines are read)."""

    idempotency_table: Required
    customers_table: Required
    orders_table: Required
    order_details_table: Required
    key_registry_table: Required
    notification_archive_table: Required
    large_payload_bucket: str = ""  # where the listener's claim checks are
    # Receives before SQS dead-letters a record (the queue's maxReceiveCount, from template.yaml's MaxReceiveCount).
    max_receive_count: Annotated[int, at_least(1)] = 5
    write_back_queue_url: str = ""  # empty: nothing is written back to Salesforce
    write_back_rules: Path = DECLARED_RULES  # what Salesforce should see after a handler's result
    hub_bus_name: str = ""  # the change hub's bus (empty: changes go to the order system only)


@dataclass
class Worker:
    """What the handler uses: the handlers' services, the idempotent apply, and the write-back plan and queue."""

    services: Services
    archive: NotificationArchive  # the handlers' archive, which also keeps why a record is dead-lettered
    apply: Callable[..., HandlerResult]  # apply(message=...): once per notification
    persistence: DynamoDBPersistenceLayer
    write_back_rules: WriteBackRules
    write_back_queue: SqsWriteBackQueue | None
    max_receive_count: int
    hub: EventBridgeChangeHub | None = None
    published_marks: PublishedMarks | None = None  # changes published whose apply then failed
    line_items: RememberedLineItems | None = None  # what the hub's event and the Order read of the lines
    retried: bool = False  # the record being handled was received before (it may have been published)


def mark_duplicate(response: Any, idempotent_data: Any) -> Any:
    """A notification applied before (Salesforce delivered it again): its stored result, marked as such."""
    return {"action": ALREADY_APPLIED, "firstResult": response} if isinstance(response, dict) else response


idempotency_config = IdempotencyConfig(
    event_key_jmespath="[organization_id, notification_id]",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    response_hook=mark_duplicate,
)


def compose(settings: WorkerSettings) -> Worker:
    """Repositories over the order system's tables, the archive, the Salesforce reader (when SALESFORCE_* names an
    org), the idempotency store and the write-back queue."""
    resource = dynamodb()
    keys = KeyRegistry(resource.Table(settings.key_registry_table))
    archive = NotificationArchive(
        resource.Table(settings.notification_archive_table), large_payloads_in(settings.large_payload_bucket)
    )
    salesforce = salesforce_client(settings)  # None unless SALESFORCE_* names an org
    line_items = RememberedLineItems(SalesforceLineItems(salesforce)) if salesforce else None
    services = Services(
        customers=CustomerRepository(resource.Table(settings.customers_table), keys),
        orders=OrderRepository(
            resource.Table(settings.orders_table), keys, resource.Table(settings.order_details_table)
        ),
        archive=archive,
        salesforce=salesforce,
        line_items=line_items,
    )
    persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)
    apply = idempotent_function(
        data_keyword_argument="message", config=idempotency_config, persistence_store=persistence
    )
    return Worker(
        services=services,
        archive=archive,
        apply=apply(dispatch),
        persistence=persistence,
        write_back_rules=WriteBackRules.load(settings.write_back_rules),
        write_back_queue=SqsWriteBackQueue(settings.write_back_queue_url) if settings.write_back_queue_url else None,
        max_receive_count=settings.max_receive_count,
        hub=EventBridgeChangeHub(settings.hub_bus_name) if settings.hub_bus_name else None,
        published_marks=PublishedMarks(resource.Table(settings.idempotency_table), IDEMPOTENCY_TTL_SECONDS),
        line_items=line_items,
    )


worker = CompositionRoot(WorkerSettings, compose)


def dispatch(message: NotificationMessage) -> HandlerResult:
    """Publish the change on the hub, route the notification to its handler (the registry's choice), then hand
    the write-back its result calls for to the queue. All run inside the once-per-notification apply: a duplicate
    returns the stored result and publishes and queues nothing. The hub comes first, so the order system failing
    never holds back the other targets; a failure after the publish marks it published, so the retry applies
    without publishing again. A write-back that cannot be queued fails the apply, and its redelivery applies it
    again (every handler reaches the same state a second time) and queues it then."""
    published = publish_change(message)
    try:
        result = registry.dispatch(message, worker().services)
        queue_write_back(worker().write_back_rules.after_result(message, result))
    except Exception:
        marks = worker().published_marks
        if published and marks is not None:
            try:
                marks.mark(message.idempotency_key)
            except Exception:  # its retry publishes again: targets drop it by its key
                logger.exception("Could not mark the change published")
        raise
    return result


def publish_change(message: NotificationMessage) -> bool:
    """Publish the accepted change on the hub's bus, a won Opportunity with its lines (a transient failure to
    read them raises: the record is retried); False when there is no hub, or a failed attempt of this record
    published it already."""
    current = worker()
    if current.hub is None:
        return False
    marks = current.published_marks
    if current.retried and marks is not None and marks.was_published(message.idempotency_key):
        return False
    event = change_event(message, lines_for_hub(message))
    event_id = current.hub.publish(event)
    logger.info("Change published on the hub", detail_type=event.detail_type, event_id=event_id)
    metrics.add_metric(name="ChangesPublished", unit=MetricUnit.Count, value=1)
    return True


def lines_for_hub(message: NotificationMessage) -> list[LineItem] | None:
    """A won Opportunity's lines for its event (the read the Order then uses); None when there are none to be had."""
    opportunity_id = won_opportunity_id(message)
    if opportunity_id is None:
        return None
    items = line_items_or_why(opportunity_id, worker().services)
    return None if isinstance(items, str) else items


def apply_notification(message: NotificationMessage) -> HandlerResult:
    """Apply the notification once; a duplicate returns the first result, marked as such."""
    return worker().apply(message=message)


def queue_write_back(write_back: WriteBack | None) -> None:
    """Hand a write-back to the write-back function's queue (a failure raises: the record fails and SQS
    redelivers it)."""
    queue = worker().write_back_queue
    if write_back is not None and queue is not None:
        queue.enqueue(write_back)
        logger.info("Write-back queued", key=write_back.key, fields=sorted(write_back.fields))


def message_body(record: SQSRecord) -> str:
    """The record's notification JSON, read back from S3 when the record is a claim check."""
    payloads = worker().archive.large_payloads  # the stack's claim checks (LARGE_PAYLOAD_BUCKET)
    attributes = record.raw_event.get("messageAttributes") or {}
    if payloads is None:
        if pointer_key(record.body, attributes) is not None:
            raise PayloadError("a claim check arrived but no LARGE_PAYLOAD_BUCKET is configured")
        return record.body
    return payloads.resolve(record.body, attributes)


def notifications_in(record: SQSRecord) -> list[NotificationMessage]:
    """The notifications a record holds: one queued by the listener, or those of an event Event Relay put on
    EventBridge (one per record of a change event)."""
    body = message_body(record)
    data = json.loads(body)
    if isinstance(data, dict) and is_relayed_event(data):
        event = RelayedEvent.model_validate(data)
        return notifications_of(event, received_at=event.time)
    return [NotificationMessage.model_validate(data)]


@tracer.capture_method(capture_response=False)
def record_handler(record: SQSRecord) -> list[HandlerResult]:
    """Apply one SQS record; an exception marks only this record as failed (and, on its last receive before the
    dead-letter queue, leaves why in the archive). Notifications of the record applied before a failure are
    not applied again on its redelivery (idempotency)."""
    message: NotificationMessage | None = None
    results: list[HandlerResult] = []
    try:
        for message in notifications_in(record):
            logger.set_correlation_id(message.notification_id)
            logger.append_keys(
                organization_id=message.organization_id, listener=message.listener, sobject_type=message.sobject_type
            )
            current = worker()
            if current.line_items is not None:
                current.line_items.forget()
            current.retried = int((record.raw_event.get("attributes") or {}).get("ApproximateReceiveCount") or 1) > 1
            result: HandlerResult = apply_notification(message=message)
            if result.get("action") == ALREADY_APPLIED:
                logger.info("Notification already applied; nothing done", record_id=message.record_id, result=result)
            else:
                logger.info("Notification processed", record_id=message.record_id, result=result)
            if result.get("action") == MARKED_FOR_RECONCILIATION:
                # Marked now; how many wait in all (the next bulk sync reads them again and it falls back to 0).
                entity = message.change.entity if message.change else message.sobject_type
                metrics.add_metric(name="RecordsMarkedForReconciliation", unit=MetricUnit.Count, value=1)
                metrics.add_metric(
                    name="RecordsToReconcile", unit=MetricUnit.Count, value=worker().archive.outstanding(entity)
                )
            results.append(result)
    except Exception as failure:
        receives = int(record.attributes.approximate_receive_count or 0)
        last = receives >= worker().max_receive_count
        logger.exception(
            "Notification failed; it goes to the dead-letter queue"
            if last
            else "Notification failed; SQS will redeliver it",
            record_id=message.record_id if message else None,
        )
        if last:
            record_dead_letter(record, message, failure, receives)
            if message is not None:
                queue_failure_write_back(message, failure)
        raise
    return results


def record_dead_letter(
    record: SQSRecord, message: NotificationMessage | None, failure: Exception, receives: int
) -> None:
    """Why a notification is about to be dead-lettered, kept beside it (`make redrive` / SQS's DLQ redrive replay
    it once the cause is fixed). Never raises: the record must still be reported as failed."""
    try:
        worker().archive.record_failure(
            key=message.idempotency_key if message else f"unreadable/{record.message_id}",
            message_id=record.message_id,
            why=f"{type(failure).__name__}: {failure}"[:1000],
            receives=receives,
        )
    except Exception:
        logger.exception("Could not record why the notification is dead-lettered")


def queue_failure_write_back(message: NotificationMessage, failure: Exception) -> None:
    """Tell Salesforce the notification could not be applied (its handler's `failed` write-back). Never raises."""
    try:
        handler = getattr(registry.resolve(message.listener, message.sobject_type), "__name__", "")
        queue_write_back(
            worker().write_back_rules.after_failure(message, handler, f"{type(failure).__name__}: {failure}")
        )
    except Exception:
        logger.exception("Could not queue the failure write-back")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Process an SQS batch and report the records that failed."""
    idempotency_config.register_lambda_context(context)
    records = event.get("Records", [])
    # One queue feeds a batch: its first record says which kind.
    first: dict[str, Any] = next(iter(records), {})
    fifo = str(first.get("eventSourceARN", "")).endswith(".fifo")
    processor = SqsFifoPartialProcessor() if fifo else BatchProcessor(event_type=EventType.SQS)
    # A batch whose every record failed is reported like any other (all listed), so its metrics are counted.
    processor.raise_on_entire_batch_failure = False
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    failed = len(response.get("batchItemFailures", []))
    metrics.add_metric(name="NotificationsProcessed", unit=MetricUnit.Count, value=len(records) - failed)
    metrics.add_metric(name="NotificationsFailed", unit=MetricUnit.Count, value=failed)
    if failed:
        logger.warning("Some notifications failed and will be retried", failed=failed, total=len(records))
    return dict(response)
