"""Publishing Platform Events through sObject Collections (`POST composite/sobjects`, up to 200 events a call),
and reading the org's hourly publishing allocation (`GET limits`: `HourlyPublishedPlatformEvents`).

A published event's SaveResult is `success: true` with an `OPERATION_ENQUEUED` "error" whose message is the
event's UUID: Salesforce queued it and publishes it asynchronously. A refused event is `success: false` with its
status code; those a later attempt can clear (the hourly allocation spent, the event bus unavailable, a lock) are
marked retryable. `Sforce-Limit-Info` carries only the org's API usage (the client reports it), not the
publishing allocation, hence the `limits` read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sf_edge.salesforce.rest_client import MAX_COLLECTION_RECORDS, SaveResult

OPERATION_ENQUEUED = "OPERATION_ENQUEUED"
# Per-event refusals that clear with time: the allocation resets within the hour, the bus comes back.
RETRYABLE_PUBLISH_CODES = frozenset(
    {"LIMIT_EXCEEDED", "PLATFORM_EVENT_PUBLISHING_UNAVAILABLE", "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"}
)
ALLOCATION = "HourlyPublishedPlatformEvents"


class PublishingClient(Protocol):
    """What publishing needs of the call-in client (salesforce.rest_client.SalesforceClient)."""

    def create(self, records: Sequence[Mapping[str, Any]]) -> list[SaveResult]: ...

    def send(self, method: str, path: str) -> Any: ...


@dataclass(frozen=True)
class Publication:
    """What became of one event: published (its UUID when Salesforce queued it), or refused and why."""

    key: str
    published: bool
    event_uuid: str | None = None
    code: str = ""
    message: str = ""

    @property
    def retryable(self) -> bool:
        return not self.published and self.code in RETRYABLE_PUBLISH_CODES


def publish(client: PublishingClient, events: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Publication]:
    """Publish (key, event record) pairs, 200 a call; one Publication each, in order. A whole call refused
    (after the client's retries) raises SalesforceError."""
    publications: list[Publication] = []
    for start in range(0, len(events), MAX_COLLECTION_RECORDS):
        chunk = events[start : start + MAX_COLLECTION_RECORDS]
        results = client.create([record for _, record in chunk])
        publications.extend(_publication(key, result) for (key, _), result in zip(chunk, results, strict=True))
    return publications


def _publication(key: str, result: SaveResult) -> Publication:
    if result.success:
        queued = next((e for e in result.errors if e.status_code == OPERATION_ENQUEUED), None)
        return Publication(key, True, event_uuid=queued.message if queued else None)
    first = result.errors[0] if result.errors else None
    return Publication(
        key, False, code=first.status_code if first else "UNKNOWN", message=first.message if first else ""
    )


@dataclass(frozen=True)
class Allocation:
    """The org's hourly publishing allocation: its size and what is left of it."""

    maximum: int
    remaining: int

    @property
    def used_percent(self) -> float:
        return 100.0 * (self.maximum - self.remaining) / self.maximum if self.maximum else 100.0


def publish_allocation(client: PublishingClient) -> Allocation | None:
    """The hourly allocation as `GET limits` tells it; None when the org does not report one."""
    limits = client.send("GET", "limits").json()
    entry = limits.get(ALLOCATION) if isinstance(limits, dict) else None
    if not isinstance(entry, dict) or "Max" not in entry or "Remaining" not in entry:
        return None
    return Allocation(int(entry["Max"]), int(entry["Remaining"]))
