"""Lambda entry point for `POST /outbound/{listener}`: Salesforce Outbound Messages in, SOAP Ack out.

Thin by design: Powertools wiring, the API Gateway event mapped to an IntakeRequest, one call to the intake,
and the result mapped back to an HTTP response with logs and metrics. The logic is in `sf_edge.outbound`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sf_edge.aws.api_gateway import RestApiRequest
from sf_edge.aws.large_payloads import large_payloads_from_env
from sf_edge.aws.secrets import outbound_token_source
from sf_edge.aws.sqs_publisher import SqsNotificationPublisher
from sf_edge.observability import build_tracer
from sf_edge.outbound.intake import DEFAULT_MAX_BODY_BYTES, IntakeRequest, IntakeResult, OutboundIntake
from sf_edge.outbound.listeners import ListenerRegistry
from sf_edge.outbound.sender_verification import OrgAllowlist, SourceAllowlist, TokenVerifier

HERE = Path(__file__).resolve().parent
logger = Logger()
metrics = Metrics()
tracer = build_tracer()

registry = ListenerRegistry(Path(os.environ.get("LISTENER_WSDL_DIR", HERE / "wsdl")), HERE / "listeners.toml")
LISTENERS = frozenset(registry.names())


def build_intake() -> OutboundIntake:
    """The intake as configured by the environment (tests rebuild it after changing the environment)."""
    return OutboundIntake(
        registry,
        TokenVerifier(outbound_token_source()),
        OrgAllowlist.from_csv(os.environ.get("ALLOWED_ORG_IDS", "")),
        SqsNotificationPublisher(
            os.environ.get("NOTIFICATION_QUEUE_URL", ""), large_payloads=large_payloads_from_env()
        ),
        sources=SourceAllowlist.from_csv(os.environ.get("ALLOWED_SOURCE_CIDRS", "")),
        max_body_bytes=int(os.environ.get("OUTBOUND_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
    )


intake = build_intake()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Answer one Outbound Message delivery."""
    request = to_intake_request(RestApiRequest.model_validate(event))
    logger.append_keys(listener=request.listener)
    # Only known names become a dimension: a caller must not be able to mint metric series.
    metrics.add_dimension("listener", request.listener if request.listener in LISTENERS else "unknown")
    result = intake.receive(request)
    record(result)
    return {
        "statusCode": result.status,
        "headers": {"Content-Type": "text/xml; charset=utf-8"},
        "body": result.body.decode("utf-8"),
        "isBase64Encoded": False,
    }


def to_intake_request(event: RestApiRequest) -> IntakeRequest:
    """Map the API Gateway proxy event; the body stays bytes so the XML parser sees the declared encoding."""
    return IntakeRequest(
        listener=event.path_parameter("listener"),
        body=event.raw_body,
        token=event.query_parameter("token"),
        source_ip=event.request_context.identity.source_ip,
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
    metrics.add_dimension("reason", result.outcome)
    metrics.add_metric(name="MessagesRejected", unit=MetricUnit.Count, value=1)
    log = logger.error if result.status >= 500 else logger.warning
    log("Rejected with a SOAP Fault", reason=result.outcome, status=result.status, detail=result.detail)
