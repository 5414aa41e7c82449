"""Which changes were published to Salesforce as Platform Events (PublishedEventsTable: partition key `EventKey`,
expiring after a week): a change delivered again is found here and not published twice."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sf_edge.salesforce.platform_events import Publication

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

KEEP_SECONDS = 7 * 24 * 3600  # past SQS's 4-day retention and the stream's 24 hours


class DynamoDbPublishedEvents:
    """The publish ledger: published keys, with the event UUID Salesforce queued each under."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def published(self, keys: Sequence[str]) -> set[str]:
        """The keys among these that were published (read consistently, 100 a call)."""
        from sf_edge.aws.batch_items import get_many

        return {str(item["EventKey"]) for item in get_many(self.table, [{"EventKey": k} for k in keys])}

    def record(self, publications: Sequence[Publication]) -> None:
        """Keep the published ones (their OPERATION_ENQUEUED UUID too)."""
        expires = int(time.time()) + KEEP_SECONDS
        with self.table.batch_writer(overwrite_by_pkeys=["EventKey"]) as batch:
            for publication in publications:
                if publication.published:
                    item: dict[str, object] = {"EventKey": publication.key, "ExpiresAt": expires}
                    if publication.event_uuid:
                        item["EventUuid"] = publication.event_uuid
                    batch.put_item(Item=item)
