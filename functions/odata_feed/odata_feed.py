"""Lambda entry point for `/odata/v4/...`: the OData 4.0 feed Salesforce Connect reads as External Objects.

Thin: Powertools wiring, the API Gateway event mapped to a FeedRequest, one call to the feed, the answer mapped
back; the log line of every request says how it read (plan) and how many items it read.
"""

from __future__ import annotations

import base64
import json
import os
from functools import cache
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sf_edge.aws.faults import is_transient
from sf_edge.aws.secrets import secret_source
from sf_edge.observability import build_tracer
from sf_edge.odata.feed import Feed, FeedAuth, FeedRequest, FeedResponse
from sf_edge.odata.feed_v2 import FeedV2
from sf_edge.odata.request import ODataError
from sf_edge.odata.schema import EntitySet

PREFIX = "/odata/v4"
PREFIX_V2 = "/odata/v2"
logger = Logger()
metrics = Metrics()
tracer = build_tracer()


@cache
def feed() -> Feed:
    """The feed over the tables template.yaml names, built on first use."""
    from sf_edge.aws.clients import dynamodb
    from sf_edge.aws.odata_store import EntityTable, EntityWrites, plan
    from sf_edge.odata.writes import csrf_token

    resource = dynamodb()

    def table(entity_set: EntitySet) -> EntityTable:
        return EntityTable(entity_set, resource.Table(os.environ[entity_set.table_env]), resource)

    def writes(entity_set: EntitySet) -> EntityWrites:
        return EntityWrites(entity_set, resource.Table(os.environ[entity_set.table_env]))

    mode = os.environ.get("ODATA_AUTH", "basic").lower()
    secret = secret_source("ODATA_PASSWORD" if mode == "basic" else "ODATA_API_KEY")
    auth = FeedAuth(mode, secret_source("ODATA_USERNAME"), secret)
    csrf = csrf_token(secret()) if os.environ.get("ODATA_CSRF", "false").lower() == "true" else None
    writable = os.environ.get("ODATA_WRITABLE", "true").lower() == "true"
    return Feed(
        table,
        plan,
        auth,
        page_size=int(os.environ.get("ODATA_PAGE_SIZE", "2000")),
        writes=writes if writable else None,
        csrf_token=csrf,
    )


@cache
def feed_v2() -> FeedV2:
    """OData 2.0 over the same feed (storage, planner, auth, writes)."""
    return FeedV2(feed(), search_parameter=os.environ.get("ODATA_V2_SEARCH_PARAMETER", "doSearch"))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Answer one OData request."""
    request = to_feed_request(event)
    try:
        version_2 = event.get("path", "").startswith(PREFIX_V2)
        response = feed_v2().handle(request) if version_2 else feed().handle(request)
    except Exception as exc:  # storage trouble or a bug: never a bare 502, and a retry hint when it is storage
        logger.exception("OData request failed")
        transient = is_transient(exc)
        error = ODataError(
            503 if transient else 500,
            "ServiceUnavailable" if transient else "InternalError",
            "The store did not answer; retry shortly" if transient else "Something went wrong",
        )
        response = FeedResponse(
            error.status,
            {"Content-Type": "application/json", "OData-Version": "4.0", **({"Retry-After": "1"} if transient else {})},
            json.dumps(error.body()).encode(),
            plan=error.code,
        )
    metrics.add_metric(name="ODataRequests", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ODataItemsRead", unit=MetricUnit.Count, value=response.items_read)
    logger.info(
        "OData request",
        method=request.method,
        path=request.path,
        query=request.query,
        status=response.status,
        plan=response.plan,
        items_read=response.items_read,
    )
    return {
        "statusCode": response.status,
        "headers": response.headers,
        "body": response.body.decode("utf-8"),
        "isBase64Encoded": False,
    }


def to_feed_request(event: dict[str, Any]) -> FeedRequest:
    """API Gateway (REST) gives query values percent-decoded but with `+` kept: re-encode them for the feed's own
    parser, which reads `+` as a space as Salesforce Connect means it."""
    pairs = event.get("multiValueQueryStringParameters") or {
        k: [v] for k, v in (event.get("queryStringParameters") or {}).items()
    }
    query = "&".join(
        f"{quote(name, safe='$')}={quote(value, safe='+')}" for name, values in pairs.items() for value in values
    )
    context = event.get("requestContext") or {}
    path = event.get("path", "")
    headers = event.get("headers") or {}
    service_prefix = PREFIX_V2 if path.startswith(PREFIX_V2) else PREFIX
    root = os.environ.get("ODATA_SERVICE_ROOT")
    if not root:
        prefix = (context.get("path") or path)[: -len(path) or None] if path else ""
        host = context.get("domainName") or headers.get("Host") or headers.get("host") or "localhost"
        scheme = headers.get("X-Forwarded-Proto") or headers.get("x-forwarded-proto") or "https"
        root = f"{scheme}://{host}{prefix}{service_prefix}/"
    raw_body = event.get("body") or ""
    body = base64.b64decode(raw_body) if event.get("isBase64Encoded") else raw_body.encode("utf-8")
    return FeedRequest(
        method=event.get("httpMethod", "GET"),
        path=path.removeprefix(service_prefix) or "/",
        query=query,
        headers=headers,
        service_root=root,
        body=body,
    )
