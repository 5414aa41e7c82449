"""The one message the handlers take: a Salesforce record's change, whichever way it reached us.

`NotificationMessage` is the contract between what receives a change (the Outbound Message listener, Event Relay's
EventBridge rule, a Bulk API 2.0 sync) and the worker's handlers; it is also the SQS body the listener queues
(camelCase JSON, typed field values, ISO 8601 dates and dateTimes). What is common to every change is at the top
(listener, org, notification id, sObject type, record id, fields); where it came from is its `origin`, one of three
shapes, each carrying only what that channel has:

- `OutboundOrigin`: the Outbound Message's `ActionId`, `EnterpriseUrl`, `PartnerUrl`, and its `SessionId` only
  when the listener opts in;
- `RelayOrigin`: the relayed event's own id, the Event Relay channel, the schema its payload was written with
  and, for a Change Data Capture event, its `ChangeEventHeader` (`ChangeInfo`);
- `BulkSyncOrigin`: the query job whose results held the row.

Schema version 2. Version 1 (the Outbound Message's fields flat, relayed events and bulk rows squeezed into them
with blank URLs) is still read, so a message queued before an upgrade, or redriven from the dead-letter queue after
one, is applied rather than lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

SCHEMA_VERSION: Literal[2] = 2
EVENT_RELAY_LISTENER = "event-relay"
BULK_SYNC_LISTENER = "bulk-sync"

_CAMEL = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class ChangeInfo(BaseModel):
    """For a change relayed as a Change Data Capture event: what kind, and the stamp that orders it among the
    record's changes (its LastModifiedDate, else its commit time, then its sequence number in the transaction)."""

    model_config = _CAMEL

    change_type: str
    entity: str
    stamp: str
    commit_timestamp: int
    transaction_key: str = ""
    sequence_number: int = 0
    record_ids: list[str] = Field(default_factory=list)


class OutboundOrigin(BaseModel):
    """An Outbound Message notification: the message's action and the org's SOAP endpoints (a callback's instance)."""

    model_config = _CAMEL

    kind: Literal["outbound_message"] = "outbound_message"
    action_id: str
    enterprise_url: str
    partner_url: str
    session_id: str | None = None  # only when the listener forwards it (a write-back under the sender's session)


class RelayOrigin(BaseModel):
    """A Platform Event or change event Event Relay put on EventBridge."""

    model_config = _CAMEL

    kind: Literal["event_relay"] = "event_relay"
    event_id: str  # the event's EventUuid (else its replay id): the same on every relay of it
    channel: str = ""  # the Event Relay channel of the partner event source
    schema_id: str | None = None  # the schema the payload was written with
    change: ChangeInfo | None = None  # a Change Data Capture event's header


class BulkSyncOrigin(BaseModel):
    """A row of a Bulk API 2.0 query job's results."""

    model_config = _CAMEL

    kind: Literal["bulk_sync"] = "bulk_sync"
    job_id: str = ""


Origin = Annotated[OutboundOrigin | RelayOrigin | BulkSyncOrigin, Field(discriminator="kind")]


class NotificationMessage(BaseModel):
    """One change of one record (or, for a GAP_OVERFLOW, of a whole sObject type) for the handlers."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, ser_json_inf_nan="strings")

    schema_version: Literal[2] = SCHEMA_VERSION
    listener: str
    organization_id: str
    notification_id: str
    sobject_type: str = Field(alias="sObjectType")
    record_id: str
    fields: dict[str, Any]
    null_fields: list[str] = Field(default_factory=list)
    unknown_fields: list[str] = Field(default_factory=list)
    received_at: datetime
    origin: Origin

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        return upgrade_v1(data) if isinstance(data, dict) and data.get("schemaVersion") == 1 else data

    def to_json(self) -> str:
        """The SQS body; keys with no value (the session id, unless carried) are left out."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @property
    def idempotency_key(self) -> str:
        """What makes a delivery unique: Salesforce re-sends the same notification id on every retry."""
        return f"{self.organization_id[:15]}/{self.notification_id}"

    @property
    def change(self) -> ChangeInfo | None:
        """The change event's header, for a relayed Change Data Capture event."""
        return self.origin.change if isinstance(self.origin, RelayOrigin) else None

    @property
    def relayed(self) -> bool:
        return isinstance(self.origin, RelayOrigin)

    def without_session(self) -> NotificationMessage:
        """The message as it may be kept or passed on: an Outbound Message's session id dropped."""
        if isinstance(self.origin, OutboundOrigin) and self.origin.session_id is not None:
            return self.model_copy(update={"origin": self.origin.model_copy(update={"session_id": None})})
        return self


_V1_OUTBOUND = {"actionId": "action_id", "enterpriseUrl": "enterprise_url", "partnerUrl": "partner_url"}


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 body (by alias, as queued) in version 2's shape: its flat Outbound Message fields become the
    origin; a relayed event's (listener `event-relay`: the schema id in `actionId`, blank URLs) a RelayOrigin."""
    body = {k: v for k, v in data.items() if k not in (*_V1_OUTBOUND, "sessionId", "change", "schemaVersion")}
    body["schemaVersion"] = SCHEMA_VERSION
    listener = data.get("listener")
    if listener == EVENT_RELAY_LISTENER:
        notification = str(data.get("notificationId", ""))
        body["origin"] = {
            "kind": "event_relay",
            "eventId": notification.split("/", 1)[0],
            "schemaId": data.get("actionId") or None,
            "change": data.get("change"),
        }
    elif listener == BULK_SYNC_LISTENER:
        body["origin"] = {"kind": "bulk_sync"}
    else:
        origin: dict[str, Any] = {"kind": "outbound_message"}
        origin.update({name: data.get(name, "") for name in _V1_OUTBOUND})
        if data.get("sessionId"):
            origin["sessionId"] = data["sessionId"]
        body["origin"] = origin
    return body
