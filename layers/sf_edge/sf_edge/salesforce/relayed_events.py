"""Platform Events and Change Data Capture events as Salesforce Event Relay puts them on Amazon EventBridge.

The EventBridge envelope (`version`, `id`, `detail-type`, `source`, `account`, `time`, `region`, `resources`,
`detail`), where Event Relay sets `source` to the partner event source `aws.partner/salesforce.com/{orgId}/{channelId}`,
`detail-type` to the event's API name (`AccountChangeEvent`, `Order_Request__e`) and `detail` to
`{"payload": {...event fields...}, "schemaId": "...", "id": "<EventUuid>"}`. A change event's payload carries a
`ChangeEventHeader`. Fields Salesforce may add later are kept (`extra="allow"`).

Each relayed event becomes one NotificationMessage per record it concerns (listener `event-relay`, the sObject type
its `detail-type`, a RelayOrigin with the event's id, channel, schema and change header), so it reaches the handlers
through the same registry, idempotency, logging and metrics as an Outbound Message notification; its idempotency
key is the event's own id (its EventUuid, else its replay id), not EventBridge's, which is new on every relay of a
replayed event.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sf_edge.salesforce.notification_message import (
    EVENT_RELAY_LISTENER,
    ChangeInfo,
    NotificationMessage,
    RelayOrigin,
)

_PARTNER_SOURCE = re.compile(r"^aws\.partner/salesforce\.com/(?P<org>[A-Za-z0-9]{15,18})/(?P<channel>[A-Za-z0-9]+)$")
CHANGE_TYPES = ("CREATE", "UPDATE", "DELETE", "UNDELETE")
# Compound fields come nested in a change event's payload; their parts are the flat fields an Outbound Message has.
_COMPOUND = {
    "BillingAddress": "Billing",
    "ShippingAddress": "Shipping",
    "MailingAddress": "Mailing",
    "OtherAddress": "Other",
    "Address": "",
}
_ADDRESS_PARTS = (
    "Street",
    "City",
    "State",
    "PostalCode",
    "Country",
    "StateCode",
    "CountryCode",
    "Latitude",
    "Longitude",
)


class ChangeEventHeader(BaseModel):
    """What changed, for which records, when (Salesforce's ChangeEventHeader)."""

    model_config = ConfigDict(extra="allow")

    entityName: str  # noqa: N815 - Salesforce's names
    recordIds: list[str] = Field(default_factory=list)  # noqa: N815 - empty only in a GAP_OVERFLOW
    changeType: str  # noqa: N815
    changeOrigin: str = ""  # noqa: N815
    transactionKey: str = ""  # noqa: N815
    sequenceNumber: int = 0  # noqa: N815
    commitTimestamp: int  # noqa: N815 - milliseconds since the epoch
    commitNumber: int | None = None  # noqa: N815
    commitUser: str = ""  # noqa: N815
    changedFields: list[str] = Field(default_factory=list)  # noqa: N815
    nulledFields: list[str] = Field(default_factory=list)  # noqa: N815
    diffFields: list[str] = Field(default_factory=list)  # noqa: N815

    @field_validator("changeType")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in CHANGE_TYPES and not value.startswith("GAP_"):
            raise ValueError(f"unknown changeType {value!r}")
        return value

    @model_validator(mode="after")
    def _records(self) -> ChangeEventHeader:
        if not self.recordIds and self.changeType != "GAP_OVERFLOW":
            raise ValueError("recordIds is empty (only a GAP_OVERFLOW event has none)")
        return self

    @property
    def is_gap(self) -> bool:
        """A gap event: Salesforce could not produce the change's payload (the record must be read again)."""
        return self.changeType.startswith("GAP_")


class RelayedDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    payload: dict[str, Any]
    schema_id: str | None = Field(default=None, alias="schemaId")
    id: str | None = None  # the event's EventUuid
    replay_id: str | int | None = Field(default=None, alias="replayId")


class RelayedEvent(BaseModel):
    """One event as EventBridge delivers it to the rule's SQS target."""

    model_config = ConfigDict(extra="allow")

    version: str = "0"
    id: str
    detail_type: str = Field(alias="detail-type", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
    source: str
    account: str = ""
    time: datetime
    region: str = ""
    resources: list[str] = Field(default_factory=list)
    detail: RelayedDetail

    @field_validator("source")
    @classmethod
    def _partner_source(cls, value: str) -> str:
        if not _PARTNER_SOURCE.match(value):
            raise ValueError("is not a Salesforce partner event source (aws.partner/salesforce.com/<org>/<channel>)")
        return value

    @property
    def organization_id(self) -> str:
        return self._source("org")

    @property
    def channel(self) -> str:
        """The Event Relay channel id of the partner event source."""
        return self._source("channel")

    def _source(self, part: str) -> str:
        found = _PARTNER_SOURCE.match(self.source)
        assert found is not None  # validated
        return found.group(part)

    @property
    def event_id(self) -> str:
        """The event's own id: the same on every relay of it (EventBridge's `id` is not)."""
        if self.detail.id:
            return str(self.detail.id)
        if self.detail.replay_id is not None:
            return f"replay-{self.detail.replay_id}"
        return f"eventbridge-{self.id}"

    @property
    def change_header(self) -> ChangeEventHeader | None:
        header = self.detail.payload.get("ChangeEventHeader")
        return ChangeEventHeader.model_validate(header) if header is not None else None


def is_relayed_event(body: dict[str, Any]) -> bool:
    """True for an EventBridge event (as its rule's SQS target receives it), not a queued notification."""
    return "detail-type" in body and "detail" in body and "source" in body


def notifications_of(event: RelayedEvent, received_at: datetime) -> list[NotificationMessage]:
    """The event as notifications: one per record of a change event, one for a platform event."""
    header = event.change_header
    base: dict[str, Any] = {
        "listener": EVENT_RELAY_LISTENER,
        "organization_id": event.organization_id,
        "sObjectType": event.detail_type,
        "received_at": received_at,
    }
    if header is None:
        fields = {k: v for k, v in event.detail.payload.items() if v is not None}
        return [
            NotificationMessage(
                notification_id=event.event_id,
                record_id=str(fields.get("EventUuid") or event.event_id),
                fields=fields,
                origin=_origin(event, None),
                **base,
            )
        ]
    payload = _flatten({k: v for k, v in event.detail.payload.items() if k != "ChangeEventHeader"})
    changed = _flat_names(header.changedFields)
    nulled = _flat_names(header.nulledFields)
    if header.changeType == "UPDATE" and changed:
        # An UPDATE carries only what changed: the rest of its payload is null because it did not change.
        fields = {k: v for k, v in payload.items() if k in changed and v is not None}
    else:
        fields = {k: v for k, v in payload.items() if v is not None}
    modified = fields.get("LastModifiedDate") or fields.get("SystemModstamp")
    stamp = _iso(modified) if modified is not None else _iso(header.commitTimestamp)
    change = ChangeInfo(
        change_type=header.changeType,
        entity=header.entityName,
        stamp=f"{stamp}#{header.sequenceNumber:09d}",
        commit_timestamp=header.commitTimestamp,
        transaction_key=header.transactionKey,
        sequence_number=header.sequenceNumber,
        record_ids=header.recordIds,
    )
    origin = _origin(event, change)
    if not header.recordIds:  # GAP_OVERFLOW: too many changes to list; the whole entity needs reconciling
        return [NotificationMessage(notification_id=event.event_id, record_id="", fields={}, origin=origin, **base)]
    return [
        NotificationMessage(
            notification_id=f"{event.event_id}/{record_id}" if len(header.recordIds) > 1 else event.event_id,
            record_id=record_id,
            fields={**fields, "Id": record_id},
            null_fields=sorted(nulled),
            origin=origin,
            **base,
        )
        for record_id in header.recordIds
    ]


def _origin(event: RelayedEvent, change: ChangeInfo | None) -> RelayOrigin:
    return RelayOrigin(event_id=event.event_id, channel=event.channel, schema_id=event.detail.schema_id, change=change)


def _flatten(payload: dict[str, Any]) -> dict[str, Any]:
    """Compound fields as the flat fields they stand for (BillingAddress.City → BillingCity)."""
    flat: dict[str, Any] = {}
    for name, value in payload.items():
        prefix = _COMPOUND.get(name)
        if prefix is not None and isinstance(value, dict):
            for part in _ADDRESS_PARTS:
                if part in value:
                    flat[f"{prefix}{part}"] = value[part]
        else:
            flat[name] = value
    return flat


def _flat_names(names: list[str]) -> set[str]:
    out = set()
    for name in names:
        compound, _, part = name.partition(".")
        prefix = _COMPOUND.get(compound)
        out.add(f"{prefix}{part}" if prefix is not None and part else name)
    return out


def _iso(value: Any) -> str:
    """A Salesforce date-time (epoch milliseconds, as change events carry them, or ISO 8601) in the form the
    Outbound Message handlers store (UTC isoformat), so stamps from both channels compare."""
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value / 1000, UTC)
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()
