"""Lambda entry point for the callout API (`/api/v1/...`): JSON request-reply for Apex and External Services.

Powertools' REST resolver validates requests and responses against the pydantic contract; every router module
in `callout_routers/` is included, so adding an operation is adding one module. Errors of any kind leave as the one
documented JSON shape (`ApiError`), with the request id echoed in `X-Request-Id`.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

import callout_routers
from callout_routers import CONTEXT_KEY, CalloutServices
from sf_edge.aws.clients import dynamodb
from sf_edge.aws.faults import triage
from sf_edge.aws.http_event import HttpEvent
from sf_edge.aws.secrets import secret_source
from sf_edge.callouts.auth import CalloutAuthenticator
from sf_edge.callouts.errors import ApiError, ApiProblem, FieldError
from sf_edge.callouts.openapi import to_openapi_30
from sf_edge.domain_errors import Conflict, DomainError, Invalid, NotFound, PreconditionFailed, Unavailable
from sf_edge.headers import Headers
from sf_edge.observability import build_tracer
from sf_edge.order_system.customer_repository import CustomerRepository
from sf_edge.order_system.key_registry import KeyRegistry
from sf_edge.order_system.order_repository import OrderRepository
from sf_edge.order_system.product_repository import ProductRepository
from sf_edge.settings import NO_SECRET, CompositionRoot, FunctionSettings, Required, SecretSetting, at_least

PREFIX = "/api/v1"
logger = Logger()
metrics = Metrics()
tracer = build_tracer()
app = APIGatewayRestResolver(enable_validation=True)

for module in pkgutil.iter_modules(callout_routers.__path__):
    app.include_router(importlib.import_module(f"callout_routers.{module.name}").router, prefix=PREFIX)


@dataclass(frozen=True, kw_only=True)
class CalloutSettings(FunctionSettings):
    """The callout API's environment, as template.yaml sets it."""

    callout_auth: Literal["IAM", "ApiKey", "Jwt"] = "IAM"
    callout_api_key: SecretSetting = NO_SECRET  # CALLOUT_API_KEY_SECRET_ID deployed; comma-separated rotates
    callout_jwt_public_key: SecretSetting = NO_SECRET  # the External Credential's certificate (PEM)
    callout_jwt_issuer: str = ""
    callout_jwt_audience: str = ""
    idempotency_table: Required
    customers_table: Required
    orders_table: Required
    order_details_table: Required
    products_table: Required
    key_registry_table: Required
    default_credit_limit: Annotated[Decimal, at_least(0)] = Decimal(25000)  # for Accounts without their own

    def check(self) -> None:
        """A mode without what it checks with fails the cold start, naming the variables (not every call later)."""
        if self.callout_auth == "Jwt":
            needs = {
                "CALLOUT_JWT_PUBLIC_KEY (or its _SECRET_ID / _PARAMETER)": self.callout_jwt_public_key.configured,
                "CALLOUT_JWT_ISSUER": bool(self.callout_jwt_issuer),
                "CALLOUT_JWT_AUDIENCE": bool(self.callout_jwt_audience),
            }
            missing = [name for name, given in needs.items() if not given]
            if missing:
                raise ValueError(f"CALLOUT_AUTH=Jwt needs {', '.join(missing)}")
        if self.callout_auth == "ApiKey" and not self.callout_api_key.configured:
            raise ValueError("CALLOUT_AUTH=ApiKey needs CALLOUT_API_KEY (or CALLOUT_API_KEY_SECRET_ID / _PARAMETER)")


def compose(settings: CalloutSettings) -> CalloutServices:
    """The order desk over the order system's tables, the authenticator and the idempotency table."""
    from sf_edge.callouts.order_desk import OrderDesk

    resource = dynamodb()
    keys = KeyRegistry(resource.Table(settings.key_registry_table))
    desk = OrderDesk(
        customers=CustomerRepository(resource.Table(settings.customers_table), keys),
        orders=OrderRepository(
            resource.Table(settings.orders_table), keys, resource.Table(settings.order_details_table)
        ),
        products=ProductRepository(resource.Table(settings.products_table)),
        default_credit_limit=settings.default_credit_limit,
    )
    authenticator = CalloutAuthenticator(
        mode=settings.callout_auth,
        api_keys=secret_source(settings.callout_api_key),
        jwt_key=secret_source(settings.callout_jwt_public_key),
        jwt_issuer=settings.callout_jwt_issuer,
        jwt_audience=settings.callout_jwt_audience,
    )
    return CalloutServices(desk, authenticator, settings.idempotency_table)


callouts = CompositionRoot(CalloutSettings, compose)

_REQUEST_ID = re.compile(r"^[\w.:-]{1,128}$")


def chosen_request_id(headers: Mapping[str, str] | None, gateway_request_id: str | None) -> str | None:
    """The caller's X-Request-Id when it is sane, else API Gateway's request id."""
    sent = Headers(headers).get("x-request-id", "")
    return sent if _REQUEST_ID.match(sent) else gateway_request_id


HTTP_KEY = "http"  # the request as HttpEvent read it, beside the services in the resolver's context


def request_id() -> str:
    """The request id of the request being routed."""
    http: HttpEvent = app.context[HTTP_KEY]
    return chosen_request_id(http.headers, http.request_id) or ""


def error_response(status: int, code: str, message: str, field_errors: list[FieldError] | None = None) -> Response[str]:
    """The ApiError body every failure uses."""
    body = ApiError(status=status, code=code, message=message, request_id=request_id(), field_errors=field_errors or [])
    metrics.add_metric(name="CalloutErrors", unit=MetricUnit.Count, value=1)
    logger.warning("Callout refused", status=status, code=code, detail=message)
    return Response(
        status_code=status,
        content_type="application/json",
        body=body.model_dump_json(by_alias=True),
        headers={"X-Request-Id": request_id()},
    )


def is_json(content_type: str) -> bool:
    """application/json, or a JSON-based type (application/<something>+json), parameters aside."""
    media = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def refuse_early(http: HttpEvent) -> dict[str, Any] | None:
    """Checks that come before routing and validation: credentials (401), media type (415), JSON syntax (400)."""
    try:
        denied = callouts().authenticator.check(http.headers)
    except Unavailable:  # the key or certificate could not be read now: the caller should retry
        logger.exception("Credentials unavailable")
        return _early(
            http, 503, "SERVICE_UNAVAILABLE", "Credentials could not be checked; retry shortly", {"Retry-After": "1"}
        )
    except Exception as unreadable:  # a parameter or secret that is not there, access denied: ours to fix, not a retry
        logger.exception("Credentials could not be read: the stack's configuration")
        return _early(
            http,
            500,
            "AUTH_NOT_CONFIGURED",
            f"The credentials to check with cannot be read ({type(unreadable).__name__})",
        )
    if denied is not None:
        return _early(
            http,
            401,
            denied.code,
            denied.message,
            {"WWW-Authenticate": "Bearer" if "BEARER" in denied.code else "ApiKey"},
        )
    if http.body and http.method in ("POST", "PUT", "PATCH"):
        if not is_json(http.headers.get("content-type", "application/json")):
            return _early(http, 415, "UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json")
        try:
            json.loads(http.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return _early(http, 400, "MALFORMED_JSON", "The request body is not valid JSON")
    return None


def _early(
    http: HttpEvent, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    rid = chosen_request_id(http.headers, http.request_id)
    body = ApiError(status=status, code=code, message=message, request_id=rid)
    metrics.add_metric(name="CalloutErrors", unit=MetricUnit.Count, value=1)
    logger.warning("Callout refused", status=status, code=code, detail=message)
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "X-Request-Id": rid or "", **(headers or {})},
        "body": body.model_dump_json(by_alias=True),
        "isBase64Encoded": False,
    }


def echo_request_id(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Every answer carries the request id the caller can quote."""
    response = next_middleware(app)
    response.headers["X-Request-Id"] = request_id()
    return response


app.use(middlewares=[echo_request_id])

TITLE = "Salesforce integration edge: callouts"
DESCRIPTION = (
    "Request-reply endpoints for Apex callouts, Named Credentials and External Services over the order system. "
    "Errors share one JSON shape (ApiError). POST operations honour an Idempotency-Key header."
)


@cache
def openapi_document() -> dict[str, Any]:
    """This API as OpenAPI 3.0 (External Services does not take 3.1)."""
    # Powertools' OpenAPI models cost ~100 ms to import: only the document needs them, not the cold start.
    from aws_lambda_powertools.event_handler.openapi.models import Server

    document = app.get_openapi_json_schema(
        title=TITLE, version="1.0.0", description=DESCRIPTION, servers=[Server(url="/")]
    )
    return to_openapi_30(json.loads(document))


@app.get(f"{PREFIX}/openapi.json", include_in_schema=False)
def get_openapi() -> Response[str]:
    """The document External Services imports (the same as openapi/callouts.json)."""
    return Response(status_code=200, content_type="application/json", body=json.dumps(openapi_document()))


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def invalid_request(error: RequestValidationError) -> Response[str]:
    """Well-formed input that breaks the contract: a 422 naming every field (bad JSON never gets here)."""
    errors = error.errors()
    fields = [
        FieldError(
            field=_field_path(e.get("loc", ())),
            code=str(e.get("type", "invalid")),
            message=str(e.get("msg", "invalid")),
        )
        for e in errors
    ]
    return error_response(422, "VALIDATION_FAILED", f"{len(fields)} field(s) failed validation", fields)


@app.exception_handler(ApiProblem)  # type: ignore[untyped-decorator]
def problem(error: ApiProblem) -> Response[str]:
    """The callout protocol's own refusals: 409 idempotency conflicts, ..."""
    return error_response(error.status, error.code, error.message, error.field_errors)


# The domain's refusals, as the callout API says them (the one place they get an HTTP status here).
DOMAIN_ERRORS: dict[type[DomainError], tuple[int, str, str]] = {
    NotFound: (404, "NOT_FOUND", "not_found"),
    Conflict: (409, "CONFLICT", "conflict"),
    PreconditionFailed: (412, "PRECONDITION_FAILED", "changed"),
    Invalid: (422, "VALIDATION_FAILED", "invalid"),
    Unavailable: (503, "UNAVAILABLE", "unavailable"),
}


@app.exception_handler(DomainError)  # type: ignore[untyped-decorator]
def refused(error: DomainError) -> Response[str]:
    """NotFound → 404, Conflict → 409, Invalid → 422, ... with a field error for each input concerned."""
    status, code, field_code = next(
        (found for kind, found in DOMAIN_ERRORS.items() if isinstance(error, kind)),
        (422, "VALIDATION_FAILED", "invalid"),
    )
    fields = [FieldError(field=name, code=field_code, message=why) for name, why in error.fields.items()]
    return error_response(status, code, error.message, fields)


@app.not_found
def no_route(error: NotFoundError) -> Response[str]:
    """404 for an unknown path; 405 (with Allow) for a known path and a method it does not take."""
    # The resolver's path (without the stage), as it routed on it.
    path, method = app.current_event.path, app.current_event.http_method
    allowed = sorted(m.upper() for pattern, methods in _operations() if pattern.match(path) for m in methods)
    if allowed:
        response = error_response(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed on {path}")
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return error_response(404, "ROUTE_NOT_FOUND", f"No operation at {method} {path}")


@cache
def _operations() -> list[tuple[re.Pattern[str], list[str]]]:
    """Each documented path as a regex, with its methods."""
    return [
        (re.compile("^" + re.sub(r"\\{[^/]+\\}", "[^/]+", re.escape(path)) + "$"), list(item))
        for path, item in openapi_document()["paths"].items()
    ] + [(re.compile(f"^{PREFIX}/openapi\\.json$"), ["get"])]


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def unexpected(error: Exception) -> Response[str]:
    """Our fault, never the caller's: logged with its stack, answered without internals. A store that did not
    answer (throttling, timeouts, 5xx) is a 503 with Retry-After, so Apex can retry rather than act on a guess."""
    found = triage(error)
    if found.kind == "refused":  # the store refused what the request carried: sending it again cannot succeed
        logger.warning("Callout refused by the store", error=str(error))
        return error_response(400, "INVALID_REQUEST", "The order system cannot store or look up what was sent")
    logger.exception("Callout failed")
    if found.kind == "transient":
        response = error_response(503, "SERVICE_UNAVAILABLE", "The order system did not answer; retry shortly")
        response.headers["Retry-After"] = str(found.retry_after)
        return response
    return error_response(500, "INTERNAL_ERROR", "Something went wrong on our side; retry later")


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'lines', 0, 'quantity') → 'lines[0].quantity'; ('path', 'orderId') → 'orderId'."""
    path = ""
    for part in list(loc)[1:] if loc and loc[0] in ("body", "path", "query", "header") else list(loc):
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Route one callout."""
    metrics.add_metric(name="CalloutRequests", unit=MetricUnit.Count, value=1)
    http = HttpEvent.from_lambda(event)
    early = refuse_early(http)
    if early is not None:
        return early
    app.append_context(**{CONTEXT_KEY: callouts(), HTTP_KEY: http})  # type: ignore[no-untyped-call]
    return app.resolve(event, context)
