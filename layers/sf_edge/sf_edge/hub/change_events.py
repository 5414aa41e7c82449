"""The normalized change event every hub target receives, whatever channel brought the change.

`detail-type` is `<sObject>.<Change>`: `Notified` for an Outbound Message (the record as the Flow sent it),
`Create`, `Update`, `Delete`, `Undelete` or `Gap` for a change event, `Published` for a Platform Event. The detail
carries the record's id, fields and null fields, its stamp (when it changed), the channel and, for a won
Opportunity, its line items when Salesforce was asked for them. Never a session id. `key` names the change
(organization and notification or event id): a target that receives it twice (EventBridge delivers at least once)
applies it once by that key, which webhook targets receive as their `Idempotency-Key` header.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from sf_edge.salesforce.line_items import LineItem
from sf_edge.salesforce.notification_message import NotificationMessage

SOURCE = "salesforce-integration-edge"
Channel = Literal["outbound_message", "event_relay"]
MAX_DETAIL_BYTES = 200_000  # PutEvents takes 256 KB an entry; the rest is the envelope


class HubLine(BaseModel):
    """One line of a won Opportunity, as Salesforce has it (`discount` in percent)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    id: str
    product_code: str | None
    quantity: float | None
    unit_price: float | None
    discount: float | None = None


class ChangeEvent(BaseModel):
    """The event's `detail` (camelCase JSON)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    schema_version: Literal[1] = 1
    key: str
    organization_id: str
    sobject_type: str = Field(alias="sObjectType")
    record_id: str
    change: str
    channel: Channel
    listener: str
    stamp: str | None = None
    received_at: str
    fields: dict[str, Any]
    null_fields: list[str] = Field(default_factory=list)
    lines: list[HubLine] | None = None  # a won Opportunity's lines, when they were read
    fields_omitted: bool = False  # too large for one event: `fields` left out (the order system has the record)

    @property
    def detail_type(self) -> str:
        return f"{self.sobject_type}.{self.change}"

    def entry(self, bus_name: str) -> dict[str, Any]:
        """The PutEvents entry."""
        return {
            "Source": SOURCE,
            "DetailType": self.detail_type,
            "Detail": self.model_dump_json(by_alias=True),
            "EventBusName": bus_name,
        }


def change_event(message: NotificationMessage, lines: list[LineItem] | None = None) -> ChangeEvent:
    """The normalized event of an accepted notification (its session id never travels on)."""
    relayed = message.relayed
    if message.change is not None:
        sobject, change = message.change.entity, _change_name(message.change.change_type)
        stamp: str | None = message.change.stamp
    else:
        sobject = message.sobject_type
        change = "Published" if relayed else "Notified"
        modified = message.fields.get("SystemModstamp") or message.fields.get("LastModifiedDate")
        stamp = str(modified) if modified else None
    event = ChangeEvent(
        key=message.idempotency_key,
        organization_id=message.organization_id,
        sObjectType=sobject,
        record_id=message.record_id,
        change=change,
        channel="event_relay" if relayed else "outbound_message",
        listener=message.listener,
        stamp=stamp,
        received_at=message.received_at.isoformat(),
        fields=message.fields,
        null_fields=message.null_fields,
        lines=[_line(line) for line in lines] if lines is not None else None,
    )
    if len(event.model_dump_json(by_alias=True)) > MAX_DETAIL_BYTES:
        event = event.model_copy(update={"fields": {}, "fields_omitted": True})
    return event


def _change_name(change_type: str) -> str:
    return "Gap" if change_type.startswith("GAP_") else change_type.capitalize()


def _line(line: LineItem) -> HubLine:
    def number(value: Any) -> float | None:
        return None if value is None else float(value)

    return HubLine(
        id=line.id,
        product_code=line.product_code,
        quantity=number(line.quantity),
        unit_price=number(line.unit_price),
        discount=number(line.discount),
    )
