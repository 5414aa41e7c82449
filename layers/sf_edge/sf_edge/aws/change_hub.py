"""The change hub's bus (EventBridge PutEvents): one normalized event per accepted change."""

from __future__ import annotations

from typing import Any

from sf_edge.aws import AdapterError
from sf_edge.hub.change_events import ChangeEvent


class HubPublishError(AdapterError, RuntimeError):
    """EventBridge did not take the event (the record fails and SQS redelivers it)."""


class EventBridgeChangeHub:
    """Publishes change events on the hub's bus."""

    def __init__(self, bus_name: str, client: Any = None) -> None:
        self.bus_name = bus_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from sf_edge.aws.clients import events_client

            self._client = events_client()
        return self._client

    def publish(self, event: ChangeEvent) -> str:
        """Put the event on the bus; its EventBridge id. PutEvents answers 200 with a failed entry when it did
        not take it: that raises."""
        answer = self.client.put_events(Entries=[event.entry(self.bus_name)])
        [entry] = answer["Entries"]
        if answer.get("FailedEntryCount") or "EventId" not in entry:
            why = f"{entry.get('ErrorCode')} {entry.get('ErrorMessage')}"
            raise HubPublishError(f"EventBridge refused the change event: {why}")
        return str(entry["EventId"])


class PublishedMarks:
    """Changes published before their apply failed, kept in the idempotency table (`id` = `hub#<key>`, expiring
    with its records) so that the retry does not publish them again. Written only on that failure path."""

    def __init__(self, table: Any, keep_seconds: int) -> None:
        self.table = table
        self.keep_seconds = keep_seconds

    def was_published(self, key: str) -> bool:
        return "Item" in self.table.get_item(Key={"id": f"hub#{key}"}, ConsistentRead=True)

    def mark(self, key: str) -> None:
        import time

        self.table.put_item(Item={"id": f"hub#{key}", "expiration": int(time.time()) + self.keep_seconds})
