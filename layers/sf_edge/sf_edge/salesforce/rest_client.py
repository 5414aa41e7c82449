"""A small Salesforce REST client: OAuth 2.0 JWT bearer sign-in and sObject Collections writes.

Why not simple-salesforce: its sign-in always goes to `https://{domain}.salesforce.com` (no loopback stand-in, no
`http://` for local runs), it has no retry of Salesforce's transient errors, and importing it costs about 200 ms of
cold start (it loads requests, zeep and its Bulk/Metadata modules) where PyJWT and urllib3, which the layer already
has (urllib3 through botocore), cost about 40 ms. What we need of the API is two documented requests.

- Sign-in: `POST {login}/services/oauth2/token` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and an
  RS256 assertion (`iss` consumer key, `sub` integration user, `aud` login URL, `exp` in 3 minutes). The access token
  and instance URL are kept for the container and fetched again once when a call answers `401 INVALID_SESSION_ID`.
- Writes: `PATCH /services/data/vXX.X/composite/sobjects` (update by id) or
  `.../composite/sobjects/{SObject}/{ExternalIdField}` (upsert), `allOrNone=false`, at most 200 records a call; the
  answer is one SaveResult per record, in order.
- Reads: `GET .../composite/sobjects/{SObject}?ids=...&fields=...` (records of one type by id, for gap events).
- Errors: `REQUEST_LIMIT_EXCEEDED`, `SERVER_UNAVAILABLE`, 5xx and timeouts are retried here with exponential back-off
  and full jitter; anything else is raised as a SalesforceError saying whether a later retry could succeed.
  A record's own `UNABLE_TO_LOCK_ROW` is retryable too (the caller retries that record, not the call).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, field_validator

from sf_edge.headers import Headers
from sf_edge.salesforce import SalesforceCallError
from sf_edge.salesforce.instances import is_loopback

DEFAULT_API_VERSION = "65.0"
MAX_COLLECTION_RECORDS = 200
MAX_RETRIEVE_IDS = 2000
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_SECONDS = 180  # Salesforce accepts at most 3 minutes

# Error codes another attempt after a pause can clear (Salesforce's own words for load, limits and locks), for a
# whole call and for one record alike; every other error needs someone to fix data or setup.
RETRYABLE_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"})
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class SalesforceError(SalesforceCallError):
    """A call Salesforce refused or could not answer; `retryable` says whether trying later can succeed."""

    def __init__(self, message: str, *, status: int = 0, code: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable


class SalesforceSettings(BaseModel):
    """Where and as whom to sign in (read from SALESFORCE_* by `aws.salesforce_connection`)."""

    model_config = ConfigDict(frozen=True)

    login_url: str
    client_id: str
    username: str
    api_version: str = DEFAULT_API_VERSION

    @field_validator("login_url")
    @classmethod
    def _https_or_loopback(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an https:// URL such as https://login.salesforce.com")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError("http:// is allowed only for a loopback host (a local stand-in); use https://")
        if parts.path not in ("", "/") or parts.query:
            raise ValueError("must be the login URL alone, without a path")
        return f"{parts.scheme}://{parts.netloc}"

    @field_validator("client_id", "username")
    @classmethod
    def _present(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is required when SALESFORCE_LOGIN_URL is set")
        return value.strip()

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        return api_version(value)


def api_version(value: str) -> str:
    """A REST API version as the URLs take it: `v65.0` or `65.0` → `65.0`, empty → the default (ValueError when it
    is not a version)."""
    version = value.strip().removeprefix("v") or DEFAULT_API_VERSION
    if not re.fullmatch(r"\d{2,3}\.0", version):
        raise ValueError("must look like 65.0")
    return version


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


# A request body: bytes, or a seekable binary file (a Bulk API upload of up to 100 MB, not held in memory).
Body = bytes | BinaryIO | None


class HttpStream(Protocol):
    """An answer whose body is read as it arrives (Bulk API results); close it when done."""

    status: int
    headers: Mapping[str, str]

    def read(self, amount: int) -> bytes:
        """Up to `amount` bytes of the body (b"" at its end); OSError when the connection breaks."""
        ...

    def close(self) -> None: ...


class HttpTransport(Protocol):
    """HTTP exchanges; raise OSError (timeouts, refused connections) when there is no answer."""

    def request(self, method: str, url: str, *, headers: Mapping[str, str], body: Body) -> HttpResponse: ...

    def open(self, method: str, url: str, *, headers: Mapping[str, str], body: Body) -> HttpStream: ...


class Urllib3Transport:
    """Keep-alive connections with Salesforce-friendly timeouts; urllib3 comes with botocore, so no new package."""

    def __init__(self, connect_timeout: float = 3.05, read_timeout: float = 30.0) -> None:
        import urllib3

        self._pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout), retries=False, maxsize=4
        )

    def request(self, method: str, url: str, *, headers: Mapping[str, str], body: Body) -> HttpResponse:
        import urllib3

        try:
            response = self._pool.request(method, url, headers=dict(headers), body=body, redirect=False)
        except urllib3.exceptions.HTTPError as failure:  # timeouts, resets, refused: no answer
            raise OSError(f"{type(failure).__name__}: {failure}") from None
        return HttpResponse(response.status, Headers(response.headers), response.data)

    def open(self, method: str, url: str, *, headers: Mapping[str, str], body: Body) -> HttpStream:
        import urllib3

        try:
            response = self._pool.request(
                method, url, headers=dict(headers), body=body, redirect=False, preload_content=False
            )
        except urllib3.exceptions.HTTPError as failure:
            raise OSError(f"{type(failure).__name__}: {failure}") from None
        return _Urllib3Stream(response)


class _Urllib3Stream:
    """An urllib3 answer read in pieces (gzip decoded), its connection back to the pool once closed."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self.status = int(response.status)
        self.headers: Mapping[str, str] = Headers(response.headers)

    def read(self, amount: int) -> bytes:
        import urllib3

        try:
            return bytes(self._response.read(amount, decode_content=True))
        except urllib3.exceptions.HTTPError as failure:  # cut off mid-body (IncompleteRead, a reset, a timeout)
            raise OSError(f"{type(failure).__name__}: {failure}") from None

    def close(self) -> None:
        self._response.release_conn()


@dataclass(frozen=True)
class Session:
    access_token: str = field(repr=False)
    instance_url: str
    organization_id: str = ""  # from the token answer's identity URL (.../id/<org id>/<user id>)


@dataclass(frozen=True)
class RecordError:
    status_code: str
    message: str
    fields: tuple[str, ...] = ()

    @property
    def retryable(self) -> bool:
        return self.status_code in RETRYABLE_CODES


@dataclass(frozen=True)
class SaveResult:
    """Salesforce's answer for one record of a Collections call."""

    success: bool
    id: str | None = None
    created: bool | None = None
    errors: tuple[RecordError, ...] = ()

    @property
    def retryable(self) -> bool:
        return not self.success and bool(self.errors) and all(e.retryable for e in self.errors)

    @property
    def reason(self) -> str:
        return "; ".join(f"{e.status_code}: {e.message}" for e in self.errors) or "no reason given"


@dataclass(frozen=True)
class Retry:
    """Back-off with full jitter: attempt n waits a random time up to min(cap, base * 2**n)."""

    attempts: int = 4
    base_seconds: float = 0.5
    cap_seconds: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[float], float] = field(default=lambda ceiling: random.uniform(0, ceiling))  # noqa: S311 - jitter, not a secret

    def pause(self, attempt: int) -> None:
        self.sleep(self.jitter(min(self.cap_seconds, self.base_seconds * 2**attempt)))


class SignIn(Protocol):
    """Where a client's session comes from."""

    def session(self) -> Session: ...

    def forget(self, rejected: Session) -> None: ...


class GivenSession:
    """A session handed over (an Outbound Message's SessionId): used as it is and never renewed; once Salesforce
    rejects it, calls fail with INVALID_SESSION_ID (not retryable)."""

    def __init__(self, session: Session) -> None:
        self._session: Session | None = session

    def session(self) -> Session:
        if self._session is None:
            raise SalesforceError(
                "the Outbound Message's session is no longer valid", status=401, code="INVALID_SESSION_ID"
            )
        return self._session

    def forget(self, rejected: Session) -> None:
        self._session = None


class JwtBearerSignIn:
    """The integration user's session, obtained with the JWT bearer flow and kept until Salesforce rejects it."""

    def __init__(self, settings: SalesforceSettings, private_key: Callable[[], str], transport: HttpTransport) -> None:
        self.settings = settings
        self._private_key = private_key
        self._transport = transport
        self._session: Session | None = None
        self._lock = threading.Lock()
        self.sign_ins = 0

    def session(self) -> Session:
        with self._lock:
            if self._session is None:
                self._session = self._sign_in()
            return self._session

    def forget(self, rejected: Session) -> None:
        """Drop a session Salesforce no longer accepts (another thread may already have a new one)."""
        with self._lock:
            if self._session is rejected:
                self._session = None

    def assertion(self, now: float | None = None) -> str:
        import jwt

        issued = int(now if now is not None else time.time())
        claims = {
            "iss": self.settings.client_id,
            "sub": self.settings.username,
            "aud": self.settings.login_url,
            "exp": issued + ASSERTION_LIFETIME_SECONDS,
        }
        return jwt.encode(claims, self._private_key(), algorithm="RS256")

    def _sign_in(self) -> Session:
        body = urlencode({"grant_type": JWT_GRANT, "assertion": self.assertion()}).encode()
        try:
            response = self._transport.request(
                "POST",
                f"{self.settings.login_url}/services/oauth2/token",
                headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                body=body,
            )
        except OSError as failure:
            raise SalesforceError(f"sign-in got no answer: {failure}", retryable=True) from None
        self.sign_ins += 1
        data = _json_or_none(response)
        if response.status != 200 or not isinstance(data, dict) or "access_token" not in data:
            error = data.get("error", "") if isinstance(data, dict) else ""
            description = data.get("error_description", "") if isinstance(data, dict) else ""
            raise SalesforceError(
                f"sign-in refused ({response.status} {error}: {description}); check the connected app's "
                "certificate and consumer key, the user's pre-authorization and SALESFORCE_LOGIN_URL",
                status=response.status,
                code=str(error),
                retryable=response.status >= 500,
            )
        identity = str(data.get("id") or "").rstrip("/").split("/")
        organization = identity[-2] if len(identity) >= 2 and identity[-3:-2] == ["id"] else ""
        return Session(str(data["access_token"]), str(data["instance_url"]).rstrip("/"), organization)


class SalesforceClient:
    """sObject Collections writes as the signed-in integration user."""

    def __init__(
        self,
        sign_in: SignIn,
        transport: HttpTransport,
        *,
        api_version: str = DEFAULT_API_VERSION,
        retry: Retry | None = None,
        on_limit: Callable[[int, int], None] | None = None,
    ) -> None:
        self.sign_in = sign_in
        self._transport = transport
        self.api_version = api_version
        self.retry = retry or Retry()
        self.on_limit = on_limit
        self.calls = 0

    def update(self, records: Sequence[Mapping[str, Any]]) -> list[SaveResult]:
        """Update records by id (each with `attributes.type` and `id`); one SaveResult each, in order."""
        return self._collection("composite/sobjects", records)

    def upsert(self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]]) -> list[SaveResult]:
        """Upsert records of one sObject type by an External ID field each carries."""
        return self._collection(f"composite/sobjects/{sobject}/{external_id_field}", records)

    def retrieve(self, sobject: str, ids: Sequence[str], fields: Sequence[str]) -> list[dict[str, Any] | None]:
        """Records of one type by id (`GET composite/sobjects/{SObject}?ids=&fields=`, up to 2,000 ids), in the
        order asked; None for an id Salesforce has no record for (deleted since)."""
        if not 0 < len(ids) <= MAX_RETRIEVE_IDS:
            raise ValueError(f"a retrieve takes 1 to {MAX_RETRIEVE_IDS} ids, not {len(ids)}")
        query = urlencode({"ids": ",".join(ids), "fields": ",".join(fields)})
        answer = self._call("GET", f"composite/sobjects/{sobject}?{query}", None)
        if not isinstance(answer, list) or len(answer) != len(ids):
            raise SalesforceError("retrieve answer does not have one entry per id", retryable=True)
        return [item if isinstance(item, dict) else None for item in answer]

    def create(self, records: Sequence[Mapping[str, Any]]) -> list[SaveResult]:
        """Create records (each with `attributes.type`; Platform Events are published this way): `POST
        composite/sobjects`, one SaveResult each, in order."""
        return self._collection("composite/sobjects", records, method="POST")

    def query(self, soql: str) -> dict[str, Any]:
        """The first page of a SOQL query (`GET query?q=`): `records`, `done`, `nextRecordsUrl`."""
        answer = self._call("GET", f"query?{urlencode({'q': soql})}", None)
        if not isinstance(answer, dict) or not isinstance(answer.get("records"), list):
            raise SalesforceError("query answer has no records list", retryable=True)
        return answer

    def query_more(self, next_records_url: str) -> dict[str, Any]:
        """The page a `nextRecordsUrl` names (of a query, or of a child relationship in its records)."""
        path = re.sub(r"^/services/data/v\d+\.\d/", "", next_records_url)
        if path == next_records_url or not path.startswith("query/"):
            raise SalesforceError(f"not a query locator: {next_records_url[:100]!r}")
        answer = self._call("GET", path, None)
        if not isinstance(answer, dict) or not isinstance(answer.get("records"), list):
            raise SalesforceError("query answer has no records list", retryable=True)
        return answer

    def _collection(self, path: str, records: Sequence[Mapping[str, Any]], method: str = "PATCH") -> list[SaveResult]:
        if not 0 < len(records) <= MAX_COLLECTION_RECORDS:
            raise ValueError(f"a Collections call takes 1 to {MAX_COLLECTION_RECORDS} records, not {len(records)}")
        body = json.dumps({"allOrNone": False, "records": list(records)}, separators=(",", ":")).encode()
        answer = self._call(method, path, body)
        if not isinstance(answer, list) or len(answer) != len(records):
            raise SalesforceError("Collections answer does not have one result per record", retryable=True)
        return [_save_result(item) for item in answer]

    def _call(self, method: str, path: str, body: bytes | None) -> Any:
        """One JSON API call with its retries; a rejected session is replaced once."""
        return _json_or_none(self.send(method, path, body=body))

    def send(
        self,
        method: str,
        path: str,
        *,
        body: Body = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        api_version: str | None = None,
    ) -> HttpResponse:
        """One call to `/services/data/v{version}/{path}` (the client's version unless given), its 2xx answer
        read whole; retried (a file body from its start) and a rejected session replaced once, as every call."""
        return self._exchange(self._transport.request, method, path, body, content_type, accept, api_version)

    def open(self, path: str, *, accept: str = "text/csv", api_version: str | None = None) -> HttpStream:
        """A GET whose 2xx answer is read as it arrives (the caller closes it); the call is retried, and its
        session replaced, until the answer starts, never after."""
        return self._exchange(self._transport.open, "GET", path, None, "application/json", accept, api_version)

    def _exchange[R: (HttpResponse, HttpStream)](
        self,
        exchange: Callable[..., R],
        method: str,
        path: str,
        body: Body,
        content_type: str,
        accept: str,
        api_version: str | None,
    ) -> R:
        renewed = False
        attempt = 0
        while True:
            session = self.sign_in.session()
            headers = {
                "Authorization": f"Bearer {session.access_token}",
                "Content-Type": content_type,
                "Accept": accept,
                "Accept-Encoding": "gzip",
            }
            if body is not None and not isinstance(body, bytes):  # a file: sent whole from its start, its size told
                headers["Content-Length"] = str(body.seek(0, 2))
                body.seek(0)
            try:
                response = exchange(
                    method,
                    f"{session.instance_url}/services/data/v{api_version or self.api_version}/{path}",
                    headers=headers,
                    body=body,
                )
            except OSError as failure:
                error = SalesforceError(f"{method} {path} got no answer: {failure}", retryable=True)
            else:
                self.calls += 1
                self._limits(response)
                if 200 <= response.status < 300:
                    return response
                whole = response if isinstance(response, HttpResponse) else _read_whole(response)
                error = _call_error(method, path, whole)
                if error.code == "INVALID_SESSION_ID" and not renewed:
                    self.sign_in.forget(session)
                    renewed = True
                    continue
            attempt += 1
            if not error.retryable or attempt >= self.retry.attempts:
                raise error
            self.retry.pause(attempt - 1)

    def _limits(self, response: HttpResponse | HttpStream) -> None:
        found = _LIMIT_INFO.search(response.headers.get("sforce-limit-info", ""))
        if found and self.on_limit is not None:
            self.on_limit(int(found.group(1)), int(found.group(2)))


def _read_whole(stream: HttpStream) -> HttpResponse:
    """An error answer opened as a stream, read (it is small) and closed."""
    try:
        parts = []
        while piece := stream.read(65536):
            parts.append(piece)
    except OSError:
        pass  # the status says enough
    finally:
        stream.close()
    return HttpResponse(stream.status, stream.headers, b"".join(parts))


def _json_or_none(response: HttpResponse) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _call_error(method: str, path: str, response: HttpResponse) -> SalesforceError:
    data = _json_or_none(response)
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    code = str(first.get("errorCode", ""))
    message = str(first.get("message", "")) or response.body[:200].decode("utf-8", "replace")
    retryable = response.status >= 500 or code in RETRYABLE_CODES
    return SalesforceError(
        f"{method} {path} answered {response.status} {code}: {message}",
        status=response.status,
        code=code,
        retryable=retryable,
    )


def _save_result(item: Any) -> SaveResult:
    if not isinstance(item, dict):
        return SaveResult(False, errors=(RecordError("UNKNOWN", "unreadable result"),))
    errors = tuple(
        RecordError(str(e.get("statusCode", "UNKNOWN")), str(e.get("message", "")), tuple(e.get("fields") or ()))
        for e in item.get("errors") or []
        if isinstance(e, dict)
    )
    return SaveResult(bool(item.get("success")), item.get("id"), item.get("created"), errors)
