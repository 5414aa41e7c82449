"""Lambda entry point for `/odata/v4/...` and `/odata/v2/...`: the feeds Salesforce Connect reads as External Objects.

Thin: Powertools wiring, the API Gateway event read into a FeedRequest, one call to the feed in the dialect the
prefix names, the answer mapped back; the log line of every request says how it read (plan) and what it read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from sf_edge.aws.entity_tables import EntityTableSettings
from sf_edge.aws.faults import triage
from sf_edge.aws.http_event import HttpEvent
from sf_edge.aws.secrets import secret_source
from sf_edge.observability import build_tracer
from sf_edge.odata.dialects import V2, V4, Dialect
from sf_edge.odata.engine import ReadStats
from sf_edge.odata.feed import Feed, FeedAuth, FeedRequest, FeedResponse
from sf_edge.odata.request import ODataError
from sf_edge.odata.schema import ENTITY_SETS, EntitySet
from sf_edge.settings import NO_SECRET, CompositionRoot, SecretSetting, at_least, at_most, matching

PREFIX = "/odata/v4"
PREFIX_V2 = "/odata/v2"
logger = Logger()
metrics = Metrics()
tracer = build_tracer()


@dataclass(frozen=True, kw_only=True)
class FeedSettings(EntityTableSettings):
    """The feed's environment, as template.yaml sets it."""

    odata_auth: Literal["basic", "apikey", "none"] = "basic"  # template.yaml's Basic, ApiKey, None
    odata_username: SecretSetting = NO_SECRET
    odata_password: SecretSetting = NO_SECRET  # ODATA_PASSWORD_SECRET_ID deployed
    odata_api_key: SecretSetting = NO_SECRET  # ODATA_API_KEY_SECRET_ID deployed
    odata_page_size: Annotated[int, at_least(1), at_most(2000)] = (
        2000  # Salesforce Connect reads at most 2000 rows a page
    )
    odata_writable: bool = False  # read-only unless deployed writable
    odata_csrf: bool | None = None  # unset: on exactly when writable
    odata_v2_search_parameter: Annotated[str, matching(r"\w+", "one word (letters, digits, _)")] = "doSearch"
    odata_service_root: str = ""  # the absolute root Salesforce reaches (a custom domain); else from the request


@dataclass
class ODataService:
    """What the handler uses: the feed, the dialect each prefix speaks, and the configured service root."""

    feed: Feed
    dialects: dict[str, Dialect]
    service_root: str


def compose(settings: FeedSettings) -> ODataService:
    """The feed over the tables the settings name, with its credentials, paging and (when writable) writes."""
    from sf_edge.aws.clients import dynamodb, dynamodb_client
    from sf_edge.aws.odata_store import EntityStore, EntityWrites
    from sf_edge.odata.writes import csrf_token

    resource = dynamodb()
    client = dynamodb_client()
    tables = settings.entity_tables

    def store(entity_set: EntitySet, stats: ReadStats) -> EntityStore:
        return EntityStore(entity_set, client, tables[entity_set.name], settings.odata_index_table or None, stats)

    def writes(entity_set: EntitySet) -> EntityWrites:
        return EntityWrites(entity_set, resource.Table(tables[entity_set.name]))

    secret = secret_source(settings.odata_password if settings.odata_auth == "basic" else settings.odata_api_key)
    auth = FeedAuth(settings.odata_auth, secret_source(settings.odata_username), secret)
    csrf_on = settings.odata_writable if settings.odata_csrf is None else settings.odata_csrf
    feed = Feed(
        store,
        auth,
        page_size=settings.odata_page_size,
        # Only the sets whose table is configured: the service document and $metadata name no set that would fail.
        entity_sets=tuple(s for s in ENTITY_SETS if s.name in tables),
        writes=writes if settings.odata_writable else None,
        csrf_token=csrf_token(secret()) if csrf_on else None,
    )
    dialects: dict[str, Dialect] = {PREFIX: V4(), PREFIX_V2: V2(search_parameter=settings.odata_v2_search_parameter)}
    return ODataService(feed, dialects, settings.odata_service_root)


odata = CompositionRoot(FeedSettings, compose)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Answer one OData request."""
    started = time.perf_counter()
    http = HttpEvent.from_lambda(event)
    service = odata()
    prefix, request = to_feed_request(http, service.service_root)
    dialect = service.dialects[prefix]
    try:
        response = service.feed.handle(request, dialect)
    except Exception as exc:  # storage trouble or a bug: never a bare 502, and a retry hint only when it helps
        found = triage(exc)
        if found.kind == "refused":  # DynamoDB refused what the request carried (an item too large, ...)
            logger.warning("OData request refused by the store", error=str(exc))
            error = ODataError(400, "InvalidRequest", "The store cannot hold or look up what was sent")
        else:
            logger.exception("OData request failed")
            transient = found.kind == "transient"
            error = ODataError(
                found.status,
                "ServiceUnavailable" if transient else "InternalError",
                "The store did not answer; retry shortly" if transient else "Something went wrong",
            )
        response = dialect.negotiate(request.headers, request.format_option).error(error)
        if found.retry_after is not None:
            response.headers["Retry-After"] = str(found.retry_after)
    metrics.add_metric(name="ODataRequests", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="ODataItemsRead", unit=MetricUnit.Count, value=response.items_read)
    if response.unserved_index:
        # Correct but read in whole: the list view's order has no index. Declare it (schema.SortOrder) to serve it.
        metrics.add_metric(name="ODataUnindexedOrderBy", unit=MetricUnit.Count, value=1)
        logger.warning("$orderby served without an index", would_use=response.unserved_index, query=request.query)
    app_ms = (time.perf_counter() - started) * 1000 - response.store_ms
    response.headers["Server-Timing"] = (
        f'store;dur={response.store_ms:.1f}, app;dur={max(0.0, app_ms):.1f}, items;desc="{response.items_read}"'
    )
    logger.info(
        "OData request",
        method=request.method,
        path=request.path,
        query=request.query,
        status=response.status,
        plan=response.plan,
        items_read=response.items_read,
        store_ms=round(response.store_ms, 1),
        app_ms=round(app_ms, 1),
    )
    return to_lambda_response(response)


def to_feed_request(http: HttpEvent, root: str = "") -> tuple[str, FeedRequest]:
    """The dialect's prefix and the request below it; the service root is absolute (next links, Location): the
    configured one, else the request's own."""
    prefix = PREFIX_V2 if PREFIX_V2 in http.path else PREFIX
    base, _, below = http.path.partition(prefix)
    if root and prefix == PREFIX_V2:
        root = root.replace(PREFIX, PREFIX_V2)
    if not root:
        host = http.domain or "localhost"
        scheme = http.headers.get("x-forwarded-proto") or "https"
        root = f"{scheme}://{host}{base}{prefix}/"
    return prefix, FeedRequest(
        method=http.method,
        path=below or "/",
        query=http.raw_query,
        headers=http.headers,
        service_root=root,
        body=http.body,
    )


def to_lambda_response(response: FeedResponse) -> dict[str, Any]:
    """The proxy integration's answer (the same shape for REST and HTTP APIs)."""
    return {
        "statusCode": response.status,
        "headers": response.headers,
        "body": response.body.decode("utf-8"),
        "isBase64Encoded": False,
    }
