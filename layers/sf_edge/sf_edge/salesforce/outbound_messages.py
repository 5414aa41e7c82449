"""Models of a Salesforce Outbound Message: the parsed SOAP request and the queue message per notification.

The queue message (`NotificationMessage`) is the contract between the listener and the worker: camelCase JSON,
typed field values (ISO 8601 dates and dateTimes, numbers, booleans), and never the session id unless the
listener opts in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

MAX_NOTIFICATIONS = 100


class OutboundNotification(BaseModel):
    """One `Notification` of an Outbound Message: the notification id and the record's fields."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, description="Notification Id; stable across Salesforce's retries")
    sobject_type: str = Field(min_length=1)
    record_id: str = Field(min_length=15, max_length=18)
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
    ) -> list[NotificationMessage]:
        """One queue message per notification (already validated, so built without re-validation)."""
        session_id = self.session_id if include_session_id else None
        return [
            NotificationMessage.model_construct(
                schema_version=1,
                listener=listener,
                organization_id=self.organization_id,
                action_id=self.action_id,
                notification_id=n.id,
                sobject_type=n.sobject_type,
                record_id=n.record_id,
                fields=n.fields,
                null_fields=n.null_fields,
                unknown_fields=n.unknown_fields,
                enterprise_url=self.enterprise_url,
                partner_url=self.partner_url,
                session_id=session_id,
                received_at=received_at,
            )
            for n in self.notifications
        ]


class NotificationMessage(BaseModel):
    """The SQS message body for one notification (camelCase JSON)."""

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

    def to_json(self) -> str:
        """The SQS body; keys with no value (the session id, unless carried) are left out."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @property
    def idempotency_key(self) -> str:
        """What makes a delivery unique: Salesforce re-sends the same notification id on every retry."""
        return f"{self.organization_id[:15]}/{self.notification_id}"
