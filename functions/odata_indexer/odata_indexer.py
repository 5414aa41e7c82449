"""Lambda entry point for the entity tables' DynamoDB Streams: keeps the OData index (row index attributes, counts,
`$search` postings) in step with every write, whoever made it.

A stream batch is applied in one pass (IndexMaintainer.apply_batch: the last image of each row, states read and
committed together with their counts); when it cannot be (a state moved under it, DynamoDB refusing), each record
is applied on its own (IndexMaintainer.apply: idempotent, safe under redelivery and concurrent writers), ending at
the same index. A failing record is reported in `batchItemFailures`; the stream retries from it, records of one
item stay in order, and after the retries it goes to the indexer's dead-letter queue.

Invoked with `{"backfill": "<EntitySet>", "segment": i, "segments": n}` it applies every row of one Scan segment
of that set's table instead: after a bulk load made with the stream off, or to index a table that existed first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from sf_edge.aws.clients import dynamodb_client
from sf_edge.aws.entity_tables import EntityTableSettings
from sf_edge.aws.odata_index import Batch, IndexMaintainer
from sf_edge.observability import build_tracer
from sf_edge.odata.schema import BY_NAME, EntitySet
from sf_edge.settings import CompositionRoot, Required

logger = Logger()
metrics = Metrics()
tracer = build_tracer()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@dataclass(frozen=True, kw_only=True)
class IndexerSettings(EntityTableSettings):
    """The indexer's environment, as template.yaml sets it."""

    odata_index_table: Required


@dataclass
class Indexer:
    """The index maintainer, and which entity set each stream's table holds."""

    maintainer: IndexMaintainer
    entity_sets_by_table: dict[str, EntitySet]


def compose(settings: IndexerSettings) -> Indexer:
    """The index maintainer over the tables the settings name."""
    return Indexer(
        IndexMaintainer(dynamodb_client(), settings.odata_index_table, settings.entity_tables),
        {table: BY_NAME[name] for name, table in settings.entity_tables.items()},
    )


indexer = CompositionRoot(IndexerSettings, compose)


def table_of(record: DynamoDBRecord) -> str:
    """The table a stream record comes from (arn:...:table/<name>/stream/<label>)."""
    return (record.event_source_arn or "").split(":table/", 1)[-1].split("/stream/", 1)[0]


@tracer.capture_method
def index_record(record: DynamoDBRecord) -> None:
    """Apply one row change to the index."""
    entity_set = indexer().entity_sets_by_table.get(table_of(record))
    if entity_set is None:
        logger.warning("Stream record from a table no entity set declares", table=table_of(record))
        return
    stream = record.dynamodb
    assert stream is not None
    key = dict(stream.keys or {})
    image = None if record.raw_event.get("eventName") == "REMOVE" else dict(stream.new_image or {})
    done = indexer().maintainer.apply(entity_set, key, image)
    metrics.add_metric(name="IndexRowsAnnotated", unit=MetricUnit.Count, value=int(done.annotated))
    metrics.add_metric(name="IndexStatesChanged", unit=MetricUnit.Count, value=int(done.changed))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """A batch of stream records (or a backfill request)."""
    if "backfill" in event:
        entity_set = BY_NAME[str(event["backfill"])]
        outcome = indexer().maintainer.backfill(
            entity_set, segment=int(event.get("segment", 0)), segments=int(event.get("segments", 1))
        )
        logger.info("Backfilled", extra={"entity_set": entity_set.name, **outcome})
        return {"entitySet": entity_set.name, **outcome}
    done = apply_together(event)
    if done is not None:
        return {"batchItemFailures": []}
    return dict(
        process_partial_response(event=event, record_handler=index_record, processor=processor, context=context)
    )


def apply_together(event: dict[str, Any]) -> Batch | None:
    """The whole batch in one pass (a few calls, not about six a row); None when it could not be (a state moved
    under it, a record it cannot read, DynamoDB refusing): then each record is applied on its own, failures reported
    one by one, ending at the same state."""
    changes = []
    try:
        for raw in event.get("Records", []):
            record = DynamoDBRecord(raw)
            entity_set = indexer().entity_sets_by_table.get(table_of(record))
            if entity_set is None or record.dynamodb is None:
                return None  # the per-record path says why
            image = None if raw.get("eventName") == "REMOVE" else dict(record.dynamodb.new_image or {})
            changes.append((entity_set, dict(record.dynamodb.keys or {}), image))
        done = indexer().maintainer.apply_batch(changes)
    except Exception:
        logger.warning("The batch could not be applied in one pass; applying each record", exc_info=True)
        return None
    if done is not None:
        metrics.add_metric(name="IndexRowsAnnotated", unit=MetricUnit.Count, value=done.annotated)
        metrics.add_metric(name="IndexStatesChanged", unit=MetricUnit.Count, value=done.changed)
    return done
