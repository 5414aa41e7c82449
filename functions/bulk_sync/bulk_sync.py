"""Lambda entry point of the bulk sync workflow's tasks (statemachine/bulk_sync.asl.json): Batch Data
Synchronization from Salesforce with Bulk API 2.0 query jobs.

The workflow hands each task its state and a `step` (`begin`, `poll`, `read_page`, `finish`), or a page to apply
(`apply_page`, one per page of a Distributed Map); the step is one method of `sf_edge.sync.runs.BulkSync`, which
says what each does. An error is raised as `RetryLater` (the workflow retries the step with back-off) or
`SyncFailed` (the execution fails, and the failed-sync alarm fires); either names its cause.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

import sf_edge.notifications.bulk_handlers  # noqa: F401 - registers the batch handlers
from sf_edge.aws.clients import dynamodb
from sf_edge.aws.notification_archive import NotificationArchive
from sf_edge.aws.salesforce_connection import SalesforceConnectionSettings, salesforce_client
from sf_edge.aws.sync_ledger import DynamoDbSyncLedger
from sf_edge.aws.sync_pages import S3PageStore
from sf_edge.aws.write_back_store import SqsWriteBackQueue
from sf_edge.notifications.reference_handlers import registry
from sf_edge.notifications.routing import Services
from sf_edge.observability import build_tracer
from sf_edge.order_system.customer_repository import CustomerRepository
from sf_edge.order_system.key_registry import KeyRegistry
from sf_edge.order_system.order_lines import NOT_READ_BY_BULK
from sf_edge.order_system.order_repository import OrderRepository
from sf_edge.salesforce.bulk_api import BulkApi
from sf_edge.settings import CompositionRoot, Required, at_least, at_most
from sf_edge.sync.runs import BulkSync, SyncFailed, SyncLimits
from sf_edge.write_back.rules import DECLARED_RULES, WriteBackRules

logger = Logger()
metrics = Metrics()
tracer = build_tracer()

NOT_CONFIGURED = (
    "no Salesforce org is configured (SALESFORCE_LOGIN_URL is empty): there is nothing to sync from. Set "
    "SalesforceLoginUrl, SalesforceClientId, SalesforceUsername and SalesforcePrivateKeySecretArn (README: Batch "
    "synchronization)"
)


@dataclass(frozen=True, kw_only=True)
class BulkSyncSettings(SalesforceConnectionSettings):
    """The sync function's environment, as template.yaml sets it."""

    sync_state_table: Required
    customers_table: Required
    orders_table: Required
    key_registry_table: Required
    notification_archive_table: Required
    sync_bucket: Required  # where pages wait between being read and being applied
    write_back_queue_url: str = ""  # empty: what the sync applies is not written back to Salesforce
    write_back_rules: Path = DECLARED_RULES
    sync_page_size: Annotated[int, at_least(100), at_most(100_000)] = 10_000
    sync_settle_seconds: Annotated[int, at_least(0), at_most(3600)] = 120
    sync_max_attempts: Annotated[int, at_least(1), at_most(10)] = 3


def compose(settings: BulkSyncSettings) -> BulkSync:
    """The ledger, the page store, the order system's repositories (as the worker has them), the write-back queue
    and the Bulk API (signing in on first use)."""
    resource = dynamodb()
    keys = KeyRegistry(resource.Table(settings.key_registry_table))
    archive = NotificationArchive(resource.Table(settings.notification_archive_table))
    services = Services(
        customers=CustomerRepository(resource.Table(settings.customers_table), keys),
        orders=OrderRepository(resource.Table(settings.orders_table), keys),
        archive=archive,
        lines_not_read=NOT_READ_BY_BULK,  # one call per Opportunity is not for a page of thousands
    )
    bulk = _bulk_api(settings)
    return BulkSync(
        bulk=bulk,
        ledger=DynamoDbSyncLedger(resource.Table(settings.sync_state_table)),
        pages=S3PageStore(settings.sync_bucket),
        marks=archive,
        services=services,
        registry=registry,
        write_back_rules=WriteBackRules.load(settings.write_back_rules),
        write_back_queue=SqsWriteBackQueue(settings.write_back_queue_url) if settings.write_back_queue_url else None,
        limits=SyncLimits(settings.sync_page_size, settings.sync_settle_seconds, settings.sync_max_attempts),
        organization_id=lambda: bulk().client.sign_in.session().organization_id,
    )


def _bulk_api(settings: BulkSyncSettings) -> Callable[[], BulkApi]:
    """The Bulk API of the configured org, made once and on first use; SyncFailed when none is configured."""
    made: list[BulkApi] = []

    def bulk() -> BulkApi:
        if not made:
            client = salesforce_client(settings, on_limit=record_api_usage)
            if client is None:
                raise SyncFailed(NOT_CONFIGURED)
            made.append(BulkApi(client))
        return made[0]

    return bulk


sync = CompositionRoot(BulkSyncSettings, compose)


def record_api_usage(used: int, limit: int) -> None:
    metrics.add_metric(name="SalesforceApiUsagePercent", unit=MetricUnit.Percent, value=100 * used / max(limit, 1))


def report_metrics(report: dict[str, Any]) -> None:
    """One object's sync, as metrics: the row counts by the function's dimensions (what the failed-rows alarm
    reads), how many records wait for reconciliation by object."""
    for name, key in (("SyncRowsApplied", "applied"), ("SyncRowsDeleted", "deleted"), ("SyncRowsFailed", "failed")):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=int(report.get(key, 0)))
    with single_metric(
        name="RecordsToReconcile", unit=MetricUnit.Count, value=int(report.get("toReconcile", 0))
    ) as waiting:
        waiting.add_dimension(name="SObject", value=str(report["object"]))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run one step of the sync workflow."""
    step = str(event.get("step", ""))
    steps = sync()
    if step == "apply_page":
        return dict(steps.apply_page(str(event["object"]), str(event["key"])))
    run = {"begin": steps.begin, "poll": steps.poll, "read_page": steps.read_page, "finish": steps.finish}.get(step)
    if run is None:
        raise SyncFailed(f"no step {step!r} (begin, poll, read_page, apply_page, finish)")
    state = run(dict(event.get("sync") or {}))
    if step == "finish":
        report_metrics(state["reports"][-1])
    logger.info("Sync step done", step=step, sobject=state.get("object"), state=state.get("state"))
    return state
