"""The Outbound Message intake: verify the sender, parse with zeep, enqueue every notification, then Ack.

Order matters: the cheap checks that refuse strangers (size, source, token) run before any XML is parsed, the
org check runs before zeep does its (costlier) work, and the Ack is returned only after SQS has accepted every
notification. Any failure is a SOAP Fault, so Salesforce keeps the message and retries it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from lxml import etree

from sf_edge.domain_errors import Unavailable
from sf_edge.outbound.listeners import Listener, ListenerRegistry, UnknownListener
from sf_edge.outbound.sender_verification import OrgAllowlist, SourceAllowlist
from sf_edge.outbound.soap import (
    NOTIFICATION_TAG,
    ORGANIZATION_ID_TAG,
    Rejection,
    fault,
    notifications_element,
    parse_envelope,
)
from sf_edge.salesforce.outbound_messages import MAX_NOTIFICATIONS, QueuedNotification
from sf_edge.token_verifier import TokenVerifier

# Lambda takes at most 6 MB a request (API Gateway 10 MB): the rest of the event needs room beside the body.
DEFAULT_MAX_BODY_BYTES = 5_500_000


class NotificationPublisher(Protocol):
    """Where notifications go; `publish` raises when not every message was accepted."""

    def publish(self, messages: Sequence[QueuedNotification]) -> None: ...


@dataclass(frozen=True)
class IntakeRequest:
    """What the intake needs from an HTTP request."""

    listener: str
    body: bytes
    token: str | None
    source_ip: str | None = None


# Every SOAP Fault goes out as HTTP 500 (SOAP 1.1 §6.2, WS-I Basic Profile R1126), so any SOAP client (suds,
# node-soap, zeep) reads it as a Fault. Salesforce retries every answer that is not an Ack, whatever its status, so
# the status changes nothing for delivery; what the problem was is in the Fault (faultcode Client or Server,
# faultstring, detail/reason), the log line and the MessagesRejected metric's reason.
FAULT_HTTP_STATUS = 500


@dataclass
class IntakeResult:
    """The answer and what happened, for logs and metrics (never the token or the session id). `status` is the
    problem's class as an HTTP status would say it (401 wrong token, 503 retry soon, ...); `http_status` is what
    goes on the wire."""

    status: int
    body: bytes
    outcome: str
    detail: str = ""
    organization_id: str | None = None
    notification_ids: list[str] = field(default_factory=list)
    unknown_fields: dict[str, list[str]] = field(default_factory=dict)

    @property
    def acked(self) -> bool:
        return self.outcome == "acked"

    @property
    def http_status(self) -> int:
        return 200 if self.acked else FAULT_HTTP_STATUS

    @property
    def ours(self) -> bool:
        """A problem on our side (faultcode Server: the queue, a secret, a setting), not the sender's."""
        return not self.acked and self.status >= 500


class OutboundIntake:
    """Receives one Outbound Message request and answers Ack or Fault."""

    def __init__(
        self,
        registry: ListenerRegistry,
        tokens: TokenVerifier,
        orgs: OrgAllowlist,
        publisher: NotificationPublisher,
        *,
        sources: SourceAllowlist | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.registry = registry
        self.listener_names = frozenset(registry.names())
        self.tokens = tokens
        self.orgs = orgs
        self.publisher = publisher
        self.sources = sources or SourceAllowlist(())
        self.max_body_bytes = max_body_bytes

    def receive(self, request: IntakeRequest) -> IntakeResult:
        """Answer one request; a Rejection becomes a Fault with its status."""
        org_id: str | None = None
        try:
            self._check_sender(request)
            listener = self._listener(request.listener)
            envelope = parse_envelope(request.body)
            notifications = notifications_element(envelope)
            org_id = self._organization_id(notifications)
            if not self.orgs.allows(org_id):
                raise Rejection(
                    "org_not_allowed", 403, f"Organization {org_id[:40]} is not allowed to send to this endpoint"
                )
            count = sum(1 for _ in notifications.iterchildren(NOTIFICATION_TAG))
            if count == 0:
                raise Rejection("no_notifications", 400, "The message holds no Notification")
            if count > MAX_NOTIFICATIONS:
                raise Rejection(
                    "too_many_notifications", 400, f"{count} notifications: at most {MAX_NOTIFICATIONS} are allowed"
                )
            message, unknown = listener.parse(envelope)
            queue_messages = message.queue_messages(
                listener.name, datetime.now(UTC), include_session_id=listener.config.include_session_id
            )
            ids = [m.notification_id for m in queue_messages]
            try:
                self.publisher.publish(queue_messages)
            except Exception as exc:  # the adapter may raise anything; none of it may turn into an Ack
                raise Rejection(
                    "enqueue_failed", 500, "Could not enqueue every notification; retry later", faultcode="Server"
                ) from exc
        except Rejection as rejection:
            detail = f"{rejection.__cause__}" if rejection.__cause__ else ""
            return IntakeResult(
                rejection.status,
                fault(rejection),
                rejection.reason,
                detail or rejection.message,
                organization_id=org_id,
            )
        return IntakeResult(
            200, listener.ack, "acked", organization_id=org_id, notification_ids=ids, unknown_fields=unknown
        )

    def _check_sender(self, request: IntakeRequest) -> None:
        if len(request.body) > self.max_body_bytes:
            raise Rejection(
                "body_too_large", 413, f"Body of {len(request.body)} bytes exceeds the {self.max_body_bytes}-byte limit"
            )
        if not self.sources.allows(request.source_ip):
            raise Rejection("source_not_allowed", 403, "Source address is not allowed")
        try:
            configured = self.tokens.configured()
            verified = configured and bool(request.token) and self.tokens.verify(request.token)
        except Unavailable as exc:  # Secrets Manager or SSM did not answer in time: Salesforce's retry will do
            raise Rejection(
                "token_unavailable", 503, "The token could not be checked; retry later", faultcode="Server"
            ) from exc
        except Exception as exc:  # access denied, a deleted secret...: ours to fix (the Fault's detail and the log
            # say what), then Salesforce's retries deliver; never a bare 502
            raise Rejection(
                "token_unreadable", 500, "The listener's token could not be read", faultcode="Server"
            ) from exc
        if not configured:
            raise Rejection("token_not_configured", 500, "Listener has no token configured", faultcode="Server")
        if not request.token:
            raise Rejection("missing_token", 401, "Missing token: add ?token=... to the endpoint URL")
        if not verified:
            raise Rejection("wrong_token", 401, "Wrong token")

    def _listener(self, name: str) -> Listener:
        try:
            return self.registry.get(name)
        except UnknownListener:
            raise Rejection("unknown_listener", 404, f"No listener named {name!r}") from None

    @staticmethod
    def _organization_id(notifications: etree._Element) -> str:
        """Read before zeep runs, so a stranger's message costs no deserialization."""
        org_el = notifications.find(ORGANIZATION_ID_TAG)
        org_id = (org_el.text or "").strip() if org_el is not None else ""
        if not org_id:
            raise Rejection("missing_element", 400, "Missing required element OrganizationId")
        return org_id  # whole: an id of another length is not allowed, rather than cut to fit
