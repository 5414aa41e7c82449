"""The bulk sync's ledger in DynamoDB (SyncStateTable: partition key `Object`, sort key `Item`), per object:

- `watermark`: the upper bound of the last window applied whole (`Watermark`), and that sync's report;
- `run`: the sync in progress (its query job, window, attempts, pages read, next locator), one at a time;
- `page#<job id>#<number>`: each stored page of results, and once applied what applying it did.

The watermark only moves forward (a condition on the stored one), and a run is opened only where none is, so
two executions started together (the schedule and `make sync`) follow one job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sf_edge.aws.faults import conditional
from sf_edge.domain_errors import ConditionNotMet
from sf_edge.sync.runs import Page, Run

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


class DynamoDbSyncLedger:
    """SyncLedger over the SyncState table."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def watermark(self, sobject: str) -> str | None:
        item = self._get(sobject, "watermark")
        return str(item["Watermark"]) if item and item.get("Watermark") else None

    def last_report(self, sobject: str) -> dict[str, Any] | None:
        """The report of the object's last sync applied whole."""
        item = self._get(sobject, "watermark")
        return json.loads(str(item["Report"])) if item and item.get("Report") else None

    def run(self, sobject: str) -> Run | None:
        item = self._get(sobject, "run")
        return Run(**json.loads(str(item["Run"]))) if item else None

    def open(self, run: Run) -> Run:

        try:
            conditional(
                self.table.put_item,
                Item=self._run_item(run),
                ConditionExpression="attribute_not_exists(#o)",
                ExpressionAttributeNames={"#o": "Object"},
            )
        except ConditionNotMet:
            kept = self.run(run.sobject)
            if kept is None:  # closed in between: open ours
                return self.open(run)
            return kept
        return run

    def save(self, run: Run) -> None:
        self.table.put_item(Item=self._run_item(run))

    def add_page(self, page: Page) -> None:
        self.table.put_item(Item=self._page_item(page))

    def applied(self, page: Page) -> None:
        """Record what applying the page did, the first time only (applied again, it finds its rows there)."""
        with suppress(ConditionNotMet):  # applied before: its first record stands
            conditional(
                self.table.put_item,
                Item=self._page_item(page),
                ConditionExpression="attribute_not_exists(Applied) OR Applied = :no",
                ExpressionAttributeValues={":no": False},
            )

    def pages(self, sobject: str, job_id: str) -> list[Page]:
        from boto3.dynamodb.conditions import Key

        pages: list[Page] = []
        arguments: dict[str, Any] = {
            "KeyConditionExpression": Key("Object").eq(sobject) & Key("Item").begins_with(f"page#{job_id}#"),
            "ConsistentRead": True,
        }
        while True:
            response = self.table.query(**arguments)
            for item in response.get("Items", []):
                pages.append(
                    Page(
                        sobject,
                        job_id,
                        int(str(item["Item"]).rpartition("#")[2]),
                        str(item["Key"]),
                        int(item.get("Rows", 0)),  # type: ignore[arg-type]
                        bool(item.get("Applied")),
                        json.loads(str(item.get("Counts") or "{}")),
                    )
                )
            if "LastEvaluatedKey" not in response:
                return pages
            arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def close(self, run: Run, report: Mapping[str, Any]) -> str:

        with suppress(ConditionNotMet):  # a later window was applied already: the watermark stays where it is
            conditional(
                self.table.update_item,
                Key={"Object": run.sobject, "Item": "watermark"},
                UpdateExpression="SET Watermark = :w, Report = :r, UpdatedAt = :now",
                ConditionExpression="attribute_not_exists(Watermark) OR Watermark < :w",
                ExpressionAttributeValues={":w": run.high, ":r": json.dumps(report, default=str), ":now": _now()},
            )
        with suppress(ConditionNotMet):  # another run holds the slot now: not ours to clear
            conditional(
                self.table.delete_item,
                Key={"Object": run.sobject, "Item": "run"},
                ConditionExpression="JobId = :j",
                ExpressionAttributeValues={":j": run.job_id},
            )
        with self.table.batch_writer() as batch:
            for page in self.pages(run.sobject, run.job_id):
                batch.delete_item(Key={"Object": run.sobject, "Item": _page_sort_key(page)})
        return self.watermark(run.sobject) or run.high

    def abandon(self, run: Run, why: str) -> None:
        self.table.delete_item(Key={"Object": run.sobject, "Item": "run"})
        self.table.put_item(
            Item={"Object": run.sobject, "Item": f"abandoned#{run.job_id}", "Why": why[:1000], "At": _now()}
        )

    def _get(self, sobject: str, item: str) -> dict[str, Any] | None:
        found = self.table.get_item(Key={"Object": sobject, "Item": item}, ConsistentRead=True).get("Item")
        return dict(found) if found else None

    @staticmethod
    def _run_item(run: Run) -> dict[str, Any]:
        return {
            "Object": run.sobject,
            "Item": "run",
            "JobId": run.job_id,
            "Run": json.dumps(asdict(run)),
            "UpdatedAt": _now(),
        }

    @staticmethod
    def _page_item(page: Page) -> dict[str, Any]:
        return {
            "Object": page.sobject,
            "Item": _page_sort_key(page),
            "Key": page.key,
            "Rows": page.rows,
            "Applied": page.applied,
            "Counts": json.dumps(page.counts),
        }


def _page_sort_key(page: Page) -> str:
    return f"page#{page.job_id}#{page.number:06d}"


def _now() -> str:
    return datetime.now(UTC).isoformat()
