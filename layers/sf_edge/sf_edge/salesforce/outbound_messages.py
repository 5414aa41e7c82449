"""Models of a Salesforce Outbound Message: the parsed SOAP request and the queue message per notification.

The queue message (`NotificationMessage`) is the contract between the listener and the worker: camelCase JSON,
typed field values (ISO 8601 dates and dateTimes, numbers, booleans), and never the session id unless the
listener opts in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic_core import to_json

MAX_NOTIFICATIONS = 100


class OutboundNotification(BaseModel):
    """One `Notification` of an Outbound Message: the notification id and the record's fields."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, description="Notification Id; stable across Salesforce's retries")
    sobject_type: str = Field(min_length=1)
    record_id: str = Field(pattern=r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
    fields: dict[str, Any] = Field(description="Typed values as zeep parsed them; unknown fields as text")
    null_fields: list[str] = Field(default_factory=list, description="Fields of the WSDL that Salesforce omitted")
    unknown_fields: list[str] = Field(default_factory=list, description="Fields the WSDL does not declare")


class OutboundMessage(BaseModel):
    """A whole `notifications` request, after zeep parsed it and the required elements were checked."""

    model_config = ConfigDict(frozen=True)

    organization_id: str = Field(min_length=15, max_length=18)
    action_id: str = Field(min_length=15, max_length=18)
    session_id: str | None = None
    enterprise_url: str = Field(min_length=1)
    partner_url: str = Field(min_length=1)
    notifications: list[OutboundNotification] = Field(min_length=1, max_length=MAX_NOTIFICATIONS)

    def queue_messages(
        self, listener: str, received_at: datetime, *, include_session_id: bool
    ) -> list[QueuedNotification]:
        """One queue message per notification, serialized straight to the NotificationMessage JSON.

        The listener's hot path: building a NotificationMessage per notification only to dump it costs more than
        the rest of our work on a message, so the JSON is written from plain dicts with the model's field names.
        """
        envelope: dict[str, Any] = {
            "schemaVersion": 1,
            "listener": listener,
            "organizationId": self.organization_id,
            "actionId": self.action_id,
        }
        tail: dict[str, Any] = {"enterpriseUrl": self.enterprise_url, "partnerUrl": self.partner_url}
        if include_session_id and self.session_id:
            tail["sessionId"] = self.session_id
        tail["receivedAt"] = received_at
        org15 = self.organization_id[:15]
        return [
            QueuedNotification(
                notification_id=n.id,
                record_id=n.record_id,
                listener=listener,
                sobject_type=n.sobject_type,
                idempotency_key=f"{org15}/{n.id}",
                body=to_json(
                    {
                        **envelope,
                        "notificationId": n.id,
                        "sObjectType": n.sobject_type,
                        "recordId": n.record_id,
                        "fields": n.fields,
                        "nullFields": n.null_fields,
                        "unknownFields": n.unknown_fields,
                        **tail,
                    },
                    inf_nan_mode="strings",
                ).decode(),
            )
            for n in self.notifications
        ]


@dataclass(frozen=True, slots=True)
class QueuedNotification:
    """One notification ready for SQS: its body (NotificationMessage JSON) and what SQS needs beside it."""

    notification_id: str
    record_id: str
    listener: str
    sobject_type: str
    idempotency_key: str
    body: str


class ChangeInfo(BaseModel):
    """For a change relayed as a Change Data Capture event: what kind, and the stamp that orders it among the
    record's changes (its LastModifiedDate, else its commit time, then its sequence number in the transaction)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    change_type: str
    entity: str
    stamp: str
    commit_timestamp: int
    transaction_key: str = ""
    sequence_number: int = 0
    record_ids: list[str] = Field(default_factory=list)


class NotificationMessage(BaseModel):
    """The SQS message body for one notification (camelCase JSON); also what a relayed Platform Event or change
    event becomes for the handlers (sf_edge.salesforce.relayed_events)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, ser_json_inf_nan="strings")

    schema_version: Literal[1] = 1
    listener: str
    organization_id: str
    action_id: str
    notification_id: str
    sobject_type: str = Field(alias="sObjectType")
    record_id: str
    fields: dict[str, Any]
    null_fields: list[str] = Field(default_factory=list)
    unknown_fields: list[str] = Field(default_factory=list)
    enterprise_url: str
    partner_url: str
    session_id: str | None = None
    received_at: datetime
    change: ChangeInfo | None = None  # a Change Data Capture event's header, for relayed changes

    def to_json(self) -> str:
        """The SQS body; keys with no value (the session id, unless carried) are left out."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @property
    def idempotency_key(self) -> str:
        """What makes a delivery unique: Salesforce re-sends the same notification id on every retry."""
        return f"{self.organization_id[:15]}/{self.notification_id}"
