"""Lambda entry point for `POST /outbound/{listener}`: Salesforce Outbound Messages in, SOAP Ack out.

Thin by design: Powertools wiring, the API Gateway event mapped to an IntakeRequest, one call to the intake,
and the result mapped back to an HTTP response with logs and metrics. The logic is in `sf_edge.outbound`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from sf_edge.aws.http_event import HttpEvent
from sf_edge.aws.large_payloads import large_payloads_in
from sf_edge.aws.secrets import secret_source
from sf_edge.aws.sqs_publisher import SqsNotificationPublisher
from sf_edge.observability import build_tracer
from sf_edge.outbound.intake import DEFAULT_MAX_BODY_BYTES, IntakeRequest, IntakeResult, OutboundIntake
from sf_edge.outbound.listeners import ListenerRegistry
from sf_edge.outbound.sender_verification import OrgAllowlist, SourceAllowlist
from sf_edge.salesforce.ids import is_salesforce_id
from sf_edge.settings import NO_SECRET, CompositionRoot, FunctionSettings, Required, SecretSetting, at_least
from sf_edge.token_verifier import TokenVerifier

HERE = Path(__file__).resolve().parent
logger = Logger()
metrics = Metrics()
tracer = build_tracer()


@dataclass(frozen=True, kw_only=True)
class ListenerSettings(FunctionSettings):
    """The listener's environment, as template.yaml sets it."""

    notification_queue_url: Required
    outbound_token: SecretSetting = NO_SECRET  # OUTBOUND_TOKEN_SECRET_ID deployed, OUTBOUND_TOKEN locally
    allowed_org_ids: str = ""  # comma-separated; empty refuses every org (fail closed)
    allowed_source_cidrs: str = ""  # comma-separated; empty allows any source
    outbound_max_body_bytes: Annotated[int, at_least(1)] = DEFAULT_MAX_BODY_BYTES
    large_payload_bucket: str = ""  # claim checks for notifications larger than one SQS message
    listener_wsdl_dir: Path = HERE / "wsdl"

    def check(self) -> None:
        """What would fail every message later fails the cold start now, naming the variable."""
        problems = []
        if not self.outbound_token.configured:
            problems.append(
                "OUTBOUND_TOKEN: is required (or OUTBOUND_TOKEN_SECRET_ID / OUTBOUND_TOKEN_PARAMETER): "
                "without it every message would be refused"
            )
        bad_orgs = [o for o in self.allowed_org_ids.split(",") if o.strip() and not is_salesforce_id(o.strip())]
        if bad_orgs:
            problems.append(f"ALLOWED_ORG_IDS: {bad_orgs[0][:40]!r} is not an org id (15 or 18 letters and digits)")
        try:
            SourceAllowlist.from_csv(self.allowed_source_cidrs)
        except ValueError as bad:
            problems.append(f"ALLOWED_SOURCE_CIDRS: {bad}")
        if problems:
            raise ValueError("; ".join(problems))


def compose(settings: ListenerSettings) -> OutboundIntake:
    """The intake: the listeners' WSDLs, the sender checks and the SQS publisher."""
    return OutboundIntake(
        ListenerRegistry(settings.listener_wsdl_dir, HERE / "listeners.toml"),
        TokenVerifier(secret_source(settings.outbound_token)),
        OrgAllowlist.from_csv(settings.allowed_org_ids),
        SqsNotificationPublisher(
            settings.notification_queue_url, large_payloads=large_payloads_in(settings.large_payload_bucket)
        ),
        sources=SourceAllowlist.from_csv(settings.allowed_source_cidrs),
        max_body_bytes=settings.outbound_max_body_bytes,
    )


intake = CompositionRoot(ListenerSettings, compose)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Answer one Outbound Message delivery."""
    request = to_intake_request(HttpEvent.from_lambda(event))
    logger.append_keys(listener=request.listener)
    receiver = intake()
    # Only known names become a dimension: a caller must not be able to mint metric series.
    metrics.add_dimension("listener", request.listener if request.listener in receiver.listener_names else "unknown")
    result = receiver.receive(request)
    record(result)
    return {
        "statusCode": result.http_status,
        "headers": {"Content-Type": "text/xml; charset=utf-8"},
        "body": result.body.decode("utf-8"),
        "isBase64Encoded": False,
    }


def to_intake_request(http: HttpEvent) -> IntakeRequest:
    """Map the API Gateway proxy event; the body stays bytes so the XML parser sees the declared encoding."""
    return IntakeRequest(
        listener=http.path_parameter("listener"),
        body=http.body,
        token=http.query_parameter("token"),
        source_ip=http.source_ip,
    )


def record(result: IntakeResult) -> None:
    """Log why, and count what; the org id goes in every line, the token and session id in none."""
    if result.organization_id:
        logger.append_keys(organization_id=result.organization_id)
    if result.acked:
        count = len(result.notification_ids)
        metrics.add_metric(name="NotificationsReceived", unit=MetricUnit.Count, value=count)
        metrics.add_metric(name="NotificationsEnqueued", unit=MetricUnit.Count, value=count)
        for notification_id, fields in result.unknown_fields.items():
            logger.warning(
                "Fields missing from the listener's WSDL were kept as text; regenerate the WSDL",
                notification_id=notification_id,
                unknown_fields=fields,
            )
        logger.info("Acked", notifications=count, notification_ids=result.notification_ids)
        return
    if result.ours:  # on the service dimension alone (what ListenerServerFaultsAlarm reads)
        with single_metric(name="ServerFaults", unit=MetricUnit.Count, value=1):
            pass
    metrics.add_dimension("reason", result.outcome)
    metrics.add_metric(name="MessagesRejected", unit=MetricUnit.Count, value=1)
    log = logger.error if result.ours else logger.warning
    log("Rejected with a SOAP Fault", reason=result.outcome, status=result.status, detail=result.detail)
