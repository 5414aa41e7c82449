"""Models of a Salesforce Outbound Message: the parsed SOAP request, and each notification ready for the queue.

What is queued is a NotificationMessage (sf_edge.salesforce.notification_message) with an OutboundOrigin, never
the session id unless the listener opts in. That module is not imported here: the listener writes its JSON without
building the model, and its cold start does not pay for the model's schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

MAX_NOTIFICATIONS = 100
QUEUE_SCHEMA_VERSION = 2  # notification_message.SCHEMA_VERSION (a test holds them equal)


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
        """One queue message per notification: its NotificationMessage JSON (sf_edge.salesforce.notification_message).

        The listener's hot path: building a NotificationMessage per notification only to dump it takes 1.5 times as
        long, so the JSON is written from plain dicts; a test holds it to the model's own JSON, key for key and in
        order, for any message (tests/unit/test_queue_message_contract.py).
        """
        origin: dict[str, Any] = {
            "kind": "outbound_message",
            "actionId": self.action_id,
            "enterpriseUrl": self.enterprise_url,
            "partnerUrl": self.partner_url,
        }
        if include_session_id and self.session_id:
            origin["sessionId"] = self.session_id
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
                        "schemaVersion": QUEUE_SCHEMA_VERSION,
                        "listener": listener,
                        "organizationId": self.organization_id,
                        "notificationId": n.id,
                        "sObjectType": n.sobject_type,
                        "recordId": n.record_id,
                        "fields": n.fields,
                        "nullFields": n.null_fields,
                        "unknownFields": n.unknown_fields,
                        "receivedAt": received_at,
                        "origin": origin,
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
