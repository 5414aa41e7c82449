"""A Bulk API 2.0 stand-in on loopback, built from Salesforce's documented requests and responses (Bulk API 2.0 and
Bulk API Developer Guide); a real org cannot be reached from these tests. It extends the call-in stand-in
(tests/salesforce_stand_in.py: the same JWT bearer sign-in, sessions, `Sforce-Limit-Info` and whole-call faults)
and is not Salesforce: it serves what the sync and the bulk write-back use, the way the guide describes it.

Query jobs:
- `POST /services/data/vXX.X/jobs/query` `{"operation": "query"|"queryAll", "query", "contentType": "CSV", ...}`:
  200 with the job (`id`, `operation`, `object`, `state` `UploadComplete`, `concurrencyMode`, `contentType`,
  `apiVersion`, `lineEnding`, `columnDelimiter`). The SOQL is checked when the job is created: a field the object
  does not have is a 400 `INVALID_FIELD` "No such column 'X' on entity 'Y'..." (the REST API's wording), GROUP BY,
  OFFSET and TYPEOF a 400 (not supported by Bulk API 2.0). `query` leaves deleted records out, `queryAll` keeps
  them (`IsDeleted` true). The WHERE clause of the subset we send is evaluated: comparisons of fields with
  dateTime, date, text, number, boolean and null literals, `IN (...)`, AND, OR, NOT and parentheses.
- `GET .../jobs/query/{id}`: `UploadComplete`, then `InProgress` for `polls_to_complete` reads, then `JobComplete`,
  or the outcome scripted with `next_outcomes` (`Failed` with `errorMessage`, `Aborted`).
- `GET .../jobs/query/{id}/results?maxRecords=&locator=`: CSV (every field quoted, header in the order asked, an
  empty field for a null), `Sforce-NumberOfRecords` and `Sforce-Locator` (base64 of the next offset, as
  Salesforce's look, `null` after the last set); 409 when read with another API version than the job's; 412
  `JOB_NOT_COMPLETE` before the job completes; 404 once the job is gone (`expire_jobs()`, Salesforce deletes jobs
  after 7 days). Records come in no particular order (scrambled, as Salesforce promises none without ORDER BY).
  `cut_pages` (set numbers) answer a set once with one record fewer than its `Sforce-NumberOfRecords` says;
  `lose_results` leaves ingest rows out of every result set (the guide promises each row in one of them).
- `PATCH .../jobs/query/{id}` `{"state": "Aborted"}`.

Ingest jobs:
- `POST .../jobs/ingest` `{"object", "externalIdFieldName", "operation": "upsert", "contentType": "CSV", ...}`:
  200, state `Open`, with `contentUrl`.
- `PUT .../jobs/ingest/{id}/batches` (`text/csv`): 201; more than 150 MB after base64 is a 400.
- `PATCH .../jobs/ingest/{id}` `{"state": "UploadComplete"}`, then `InProgress` and `JobComplete` (or a scripted
  `Failed`: the first half processed, the rest unprocessed). Each row upserts the record its External ID column
  names (`Id`: an existing record only); `#N/A` sets a field to null, an empty field leaves it; `reject` and
  `lock_once` fail rows as they fail Collections records.
- `GET .../successfulResults/` (`sf__Id`, `sf__Created`, the uploaded columns), `failedResults/` (`sf__Id`,
  `sf__Error` as `CODE:message:fields --`, the uploaded columns), `unprocessedrecords/` (the uploaded columns), each
  in a scrambled order, never the order uploaded.

Where the guide names a status but no error body (409, the expired locator), the bodies here are the stand-in's:
`[{"errorCode": ..., "message": ...}]` as every other REST error. `synthetic(sobject, count, make)` serves a result
set generated record by record (the benchmark's million rows) instead of stored records.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from salesforce_stand_in import SalesforceStandIn

_JOBS = re.compile(
    r"^/services/data/v(\d+\.\d)/jobs/(query|ingest)"
    r"(?:/(\w+)(?:/(results|batches|successfulResults|failedResults|unprocessedrecords)/?)?)?$"
)
MAX_UPLOAD_BASE64 = 150 * 1024 * 1024


@dataclass
class Job:
    id: str
    kind: str  # query | ingest
    api_version: str
    operation: str
    sobject: str
    state: str
    fields: list[str] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)  # query: the result, in the order served
    synthetic: tuple[int, Callable[[int], dict[str, Any]]] | None = None
    polls: int = 0
    outcome: str = "JobComplete"
    error: str = ""
    external_id: str = ""
    upload: bytes = b""
    successful: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    unprocessed: list[dict[str, str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": "005000000000001AAA",
            "createdDate": "2026-12-03T07:00:00.000+0000",
            "systemModstamp": "2026-12-03T07:00:00.000+0000",
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        }
        if self.kind == "query":
            data |= {"jobType": "V2Query", "numberRecordsProcessed": self.size(), "retries": 0}
        else:
            data |= {
                "jobType": "V2Ingest",
                "externalIdFieldName": self.external_id,
                "contentUrl": f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches",
                "numberRecordsProcessed": len(self.successful) + len(self.failed),
                "numberRecordsFailed": len(self.failed),
            }
        if self.state == "Failed":
            data["errorMessage"] = self.error
        return data

    def size(self) -> int:
        return self.synthetic[0] if self.synthetic else len(self.keys)


@dataclass
class BulkApiStandIn(SalesforceStandIn):
    """Start with start(); `schemas` holds the fields each sObject has (remove one to see schema drift)."""

    schemas: dict[str, set[str]] = field(default_factory=dict)
    polls_to_complete: int = 1
    next_outcomes: list[str] = field(default_factory=list)  # outcomes of the next jobs, then JobComplete
    cut_pages: set[int] = field(default_factory=set)  # result sets (1-based) served one record short, once
    lose_results: set[str] = field(default_factory=set)  # ingest rows (by key value) left out of every result
    jobs: dict[str, Job] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)  # every SOQL a job was created with
    _synthetic: dict[str, tuple[int, Callable[[int], dict[str, Any]]]] = field(default_factory=dict)
    _counter: int = 0
    _bulk_lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, sobject: str, record_id: str, **fields: Any) -> None:
        """A record of the org, with its fields (IsDeleted false unless given); the object learns its fields."""
        self.records[(sobject, record_id)] = {"IsDeleted": False, **fields}
        self.schemas.setdefault(sobject, {"Id", "IsDeleted", "SystemModstamp"}).update(fields)

    def synthetic(self, sobject: str, count: int, make: Callable[[int], dict[str, Any]]) -> None:
        """Serve every query of `sobject` as `count` records made one by one by `make(n)` (not held anywhere)."""
        self._synthetic[sobject] = (count, make)
        self.schemas.setdefault(sobject, {"Id", "IsDeleted", "SystemModstamp"}).update(make(0))

    def expire_jobs(self) -> None:
        """Salesforce deletes jobs (and their results) after seven days: every job is gone."""
        with self._bulk_lock:
            self.jobs.clear()

    @property
    def result_calls(self) -> list[tuple[str, str, int]]:
        return [c for c in self.api_calls if c[1].endswith("/results")]

    # The protocol.

    def _handles(self, method: str, path: str) -> bool:
        return _JOBS.match(path) is not None

    def _extra(self, request: BaseHTTPRequestHandler, method: str, path: str, query: str, body: bytes) -> None:
        found = _JOBS.match(path)
        assert found is not None
        version, kind, job_id, part = found.groups()
        asked = {k: v[0] for k, v in parse_qs(query).items()}
        status, payload, extra = self._bulk(method, version, kind, job_id, part, asked, body)
        if isinstance(payload, bytes):
            self._send_bytes(request, method, path, status, payload, "text/csv;charset=UTF-8", extra)
        elif status == 201:
            self._send_bytes(request, method, path, status, b"", "")
        else:
            self._send(request, method, path, status, payload)

    def _bulk(
        self,
        method: str,
        version: str,
        kind: str,
        job_id: str | None,
        part: str | None,
        asked: dict[str, str],
        body: bytes,
    ) -> tuple[int, Any, dict[str, str]]:
        if job_id is None:
            if method != "POST":
                return 405, [_error("METHOD_NOT_ALLOWED", "HTTP method not allowed")], {}
            try:
                request = json.loads(body)
            except ValueError:
                return 400, [_error("JSON_PARSER_ERROR", "Malformed request")], {}
            return self._create_query(version, request) if kind == "query" else self._create_ingest(version, request)
        with self._bulk_lock:
            job = self.jobs.get(job_id)
        if job is None or job.kind != kind:
            return 404, [_error("NOT_FOUND", "The requested resource does not exist")], {}
        if version != job.api_version and part is not None:
            return 409, [_error("API_VERSION_MISMATCH", f"the job was created with API version {job.api_version}")], {}
        if part is None and method == "GET":
            self._advance(job)
            return 200, job.info(), {}
        if part is None and method == "PATCH":
            state = json.loads(body or b"{}").get("state")
            if state == "Aborted" and job.state not in ("JobComplete", "Failed"):
                job.state = "Aborted"
            elif state == "UploadComplete" and kind == "ingest" and job.state == "Open":
                job.state = "UploadComplete"
            else:
                return 400, [_error("INVALIDJOBSTATE", f"cannot set {state} on a job in state {job.state}")], {}
            return 200, job.info(), {}
        if part is None and method == "DELETE":
            with self._bulk_lock:
                self.jobs.pop(job.id, None)
            return 204, b"", {}
        if part == "results" and method == "GET":
            return self._results(job, asked)
        if part == "batches" and method == "PUT":
            if job.state != "Open":
                return 400, [_error("INVALIDJOBSTATE", f"the job is {job.state}, not Open")], {}
            if (len(job.upload) + len(body)) * 4 / 3 > MAX_UPLOAD_BASE64:
                return 400, [_error("INVALIDBATCH", "the job's data exceeds 150 MB after base64 encoding")], {}
            job.upload += body
            return 201, None, {}
        if part in ("successfulResults", "failedResults", "unprocessedrecords") and method == "GET":
            if job.state not in ("JobComplete", "Failed", "Aborted"):
                return 400, [_error("INVALIDJOBSTATE", "the job has not finished")], {}
            rows, columns = {
                "successfulResults": (job.successful, ["sf__Id", "sf__Created"]),
                "failedResults": (job.failed, ["sf__Id", "sf__Error"]),
                "unprocessedrecords": (job.unprocessed, []),
            }[part]
            kept = [r for r in rows if r.get(job.external_id) not in self.lose_results]
            return 200, _csv([*columns, *job.header], _scrambled(kept, lambda r: json.dumps(r, sort_keys=True))), {}
        return 405, [_error("METHOD_NOT_ALLOWED", "HTTP method not allowed")], {}

    def _new_id(self, prefix: str) -> str:
        with self._bulk_lock:
            self._counter += 1
            return f"{prefix}{self._counter:015d}"[:18]

    def _outcome(self) -> str:
        with self._bulk_lock:
            return self.next_outcomes.pop(0) if self.next_outcomes else "JobComplete"

    def _create_query(self, version: str, request: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        operation = request.get("operation")
        soql = str(request.get("query") or "")
        if operation not in ("query", "queryAll"):
            return 400, [_error("INVALIDJOB", f"InvalidJob : operation {operation!r}")], {}
        self.queries.append(soql)
        try:
            parsed = parse_soql(soql)
        except SoqlError as bad:
            return 400, [_error("MALFORMED_QUERY", str(bad))], {}
        schema = self.schemas.get(parsed.sobject)
        if schema is None:
            return 400, [_error("INVALID_TYPE", f"sObject type '{parsed.sobject}' is not supported.")], {}
        for name in [*parsed.fields, *parsed.where_fields]:
            if name not in schema:
                message = (
                    f"\nERROR at Row:1:Column:8\nNo such column '{name}' on entity '{parsed.sobject}'. If you are "
                    "attempting to use a custom field, be sure to append the '__c' after the custom field name."
                )
                return 400, [_error("INVALID_FIELD", message)], {}
        job = Job(self._new_id("750"), "query", version, operation, parsed.sobject, "UploadComplete", parsed.fields)
        job.outcome = self._outcome()
        if parsed.sobject in self._synthetic:
            job.synthetic = self._synthetic[parsed.sobject]
        else:
            with self._lock:
                matching = [
                    key
                    for key, values in self.records.items()
                    if key[0] == parsed.sobject
                    and (operation == "queryAll" or not values.get("IsDeleted"))
                    and parsed.matches({"Id": key[1], **values})
                ]
            job.keys = _scrambled(matching, lambda key: key[1])
        with self._bulk_lock:
            self.jobs[job.id] = job
        return 200, job.info(), {}

    def _create_ingest(self, version: str, request: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        sobject, external = str(request.get("object") or ""), str(request.get("externalIdFieldName") or "")
        if request.get("operation") != "upsert" or not external:
            return 400, [_error("INVALIDJOB", "InvalidJob : upsert needs externalIdFieldName")], {}
        if sobject not in self.schemas:
            return 400, [_error("INVALIDJOB", f"InvalidJob : Unable to find object: {sobject}")], {}
        job = Job(self._new_id("750"), "ingest", version, "upsert", sobject, "Open", external_id=external)
        job.outcome = self._outcome()
        with self._bulk_lock:
            self.jobs[job.id] = job
        return 200, job.info(), {}

    def _advance(self, job: Job) -> None:
        """A GET of the job: it moves on, as a job Salesforce processes does."""
        if job.state in ("JobComplete", "Failed", "Aborted", "Open"):
            return
        job.polls += 1
        if job.polls <= self.polls_to_complete:
            job.state = "InProgress"
            return
        if job.kind == "ingest":
            self._process(job)
        job.state = job.outcome
        if job.outcome == "Failed":
            job.error = "stand-in: the job failed (InternalServerError)"

    def _results(self, job: Job, asked: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if job.state != "JobComplete":
            return 412, [_error("JOB_NOT_COMPLETE", f"can only download results of a completed job: {job.state}")], {}
        size = int(asked.get("maxRecords") or 50_000)
        locator = asked.get("locator")
        try:
            start = int(base64.b64decode(locator).decode()) if locator else 0
        except (ValueError, UnicodeDecodeError):
            return 400, [_error("INVALID_LOCATOR", f"invalid locator {locator!r}")], {}
        end = min(start + size, job.size())
        number = start // size + 1
        rows = (self._result_row(job, n) for n in range(start, end))
        if number in self.cut_pages:  # once: the next read of the set is whole
            self.cut_pages.discard(number)
            rows = (self._result_row(job, n) for n in range(start, end - 1))
        following = base64.b64encode(str(end).encode()).decode() if end < job.size() else "null"
        headers = {"Sforce-NumberOfRecords": str(end - start), "Sforce-Locator": following}
        return 200, _csv(job.fields, rows), headers

    def _result_row(self, job: Job, n: int) -> dict[str, Any]:
        if job.synthetic is not None:
            return job.synthetic[1](n)
        sobject, record_id = job.keys[n]
        with self._lock:
            values = dict(self.records.get((sobject, record_id), {}))
        return {"Id": record_id, **values}

    def _process(self, job: Job) -> None:
        reader = csv.reader(io.StringIO(job.upload.decode("utf-8")), strict=True)
        job.header = next(reader, [])
        rows = [dict(zip(job.header, row, strict=True)) for row in reader if row]
        cut = len(rows) // 2 if job.outcome == "Failed" else len(rows)
        for row in rows[cut:]:
            job.unprocessed.append(row)
        for row in rows[:cut]:
            key = (job.sobject, row.get(job.external_id, ""))
            fields = {k: (None if v == "#N/A" else v) for k, v in row.items() if v != "" and k != "Id"}
            with self._lock:
                if key in self.lock_once:
                    self.lock_once.discard(key)
                    failure: tuple[str, str] | None = (
                        "UNABLE_TO_LOCK_ROW",
                        "unable to obtain exclusive access to this record",
                    )
                elif key in self.reject:
                    failure = self.reject[key]
                elif job.external_id == "Id" and key not in self.records:
                    failure = ("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
                elif unknown := [k for k in fields if k not in self.schemas[job.sobject]]:
                    failure = ("INVALID_FIELD", f"No such column '{unknown[0]}' on entity '{job.sobject}'")
                else:
                    failure = None
                    created = key not in self.records
                    self.records.setdefault(key, {"IsDeleted": False}).update(fields)
            if failure is not None:
                code, message = failure
                job.failed.append({"sf__Id": "", "sf__Error": f"{code}:{message}:--", **row})
            else:
                job.successful.append({"sf__Id": key[1], "sf__Created": "true" if created else "false", **row})


# A SOQL subset: SELECT fields FROM object [WHERE condition].


class SoqlError(ValueError):
    pass


_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))"
    r"|(?P<date>\d{4}-\d{2}-\d{2})|(?P<number>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|<>|=|<|>)|(?P<punct>[(),])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
_UNSUPPORTED = ("GROUP", "OFFSET", "TYPEOF")


@dataclass
class Soql:
    fields: list[str]
    sobject: str
    where: Any = None
    where_fields: list[str] = field(default_factory=list)

    def matches(self, record: dict[str, Any]) -> bool:
        return self.where is None or bool(_evaluate(self.where, record))


def parse_soql(text: str) -> Soql:
    tokens = _tokens(text)
    position = 0

    def peek() -> tuple[str, Any]:
        return tokens[position] if position < len(tokens) else ("end", None)

    def take(kind: str | None = None, word: str | None = None) -> tuple[str, Any]:
        nonlocal position
        token = peek()
        if (kind and token[0] != kind) or (word and str(token[1]).upper() != word):
            raise SoqlError(f"unexpected {token[1]!r} in {text!r}")
        position += 1
        return token

    take("word", "SELECT")
    fields = [take("word")[1]]
    while peek() == ("punct", ","):
        take()
        fields.append(take("word")[1])
    take("word", "FROM")
    sobject = take("word")[1]
    query = Soql(fields, sobject)
    if peek()[0] == "word" and str(peek()[1]).upper() in _UNSUPPORTED:
        raise SoqlError(f"{peek()[1]} is not supported by Bulk API 2.0")
    if peek()[0] == "word" and str(peek()[1]).upper() == "WHERE":
        take()

        def disjunction() -> Any:
            node = conjunction()
            while peek()[0] == "word" and str(peek()[1]).upper() == "OR":
                take()
                node = ("or", node, conjunction())
            return node

        def conjunction() -> Any:
            node = negation()
            while peek()[0] == "word" and str(peek()[1]).upper() == "AND":
                take()
                node = ("and", node, negation())
            return node

        def negation() -> Any:
            if peek()[0] == "word" and str(peek()[1]).upper() == "NOT":
                take()
                return ("not", negation())
            if peek() == ("punct", "("):
                take()
                node = disjunction()
                take("punct")
                return node
            name = take("word")[1]
            query.where_fields.append(name)
            if peek()[0] == "word" and str(peek()[1]).upper() == "IN":
                take()
                take("punct")
                values = [literal()]
                while peek() == ("punct", ","):
                    take()
                    values.append(literal())
                take("punct")
                return ("in", name, values)
            op = take("op")[1]
            return ("cmp", name, "!=" if op == "<>" else op, literal())

        def literal() -> Any:
            kind, value = take()
            if kind in ("string", "datetime", "date", "number"):
                return (kind, value)
            if kind == "word" and str(value).lower() in ("true", "false", "null"):
                return {"true": True, "false": False, "null": None}[str(value).lower()]
            raise SoqlError(f"not a literal: {value!r}")

        query.where = disjunction()
    if position != len(tokens):
        raise SoqlError(f"unexpected {peek()[1]!r} in {text!r}")
    return query


def _tokens(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    position = 0
    while position < len(text.rstrip()):
        found = _TOKEN.match(text, position)
        if not found or found.end() == position:
            raise SoqlError(f"cannot read {text[position : position + 20]!r}")
        kind = found.lastgroup or ""
        value: Any = found.group(kind)
        if kind == "string":
            value = ("string", value[1:-1].replace("\\'", "'"))
        elif kind == "datetime":
            value = ("datetime", _moment(value))
        elif kind == "date":
            value = ("date", date.fromisoformat(value))
        elif kind == "number":
            value = ("number", Decimal(value))
        else:
            value = (kind, value)
        tokens.append(value)
        position = found.end()
    return tokens


def _evaluate(node: Any, record: dict[str, Any]) -> Any:
    match node[0]:
        case "or":
            return _evaluate(node[1], record) or _evaluate(node[2], record)
        case "and":
            return _evaluate(node[1], record) and _evaluate(node[2], record)
        case "not":
            return not _evaluate(node[1], record)
        case "in":
            return any(_compare(record.get(node[1]), "=", value) for value in node[2])
        case _:
            return _compare(record.get(node[1]), node[2], node[3])


def _compare(stored: Any, op: str, literal: Any) -> bool:
    if literal is None or stored is None:
        same = stored is None and literal is None
        return same if op == "=" else (not same if op == "!=" else False)
    if isinstance(literal, tuple):
        kind, literal = literal
    else:
        kind = "boolean"
    converters: dict[str, Callable[[Any], Any]] = {
        "datetime": lambda v: _moment(str(v)),
        "date": lambda v: date.fromisoformat(str(v)[:10]),
        "number": lambda v: Decimal(str(v)),
        "string": str,
        "boolean": lambda v: v if isinstance(v, bool) else str(v).lower() == "true",
    }
    try:
        value = converters[kind](stored)
    except (ValueError, InvalidOperation):
        return False
    outcome: bool = {
        "=": value == literal,
        "!=": value != literal,
        "<": value < literal,
        "<=": value <= literal,
        ">": value > literal,
        ">=": value >= literal,
    }[op]
    return outcome


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _error(code: str, message: str) -> dict[str, str]:
    return {"errorCode": code, "message": message}


def _scrambled[T](items: list[T], key: Callable[[T], str]) -> list[T]:
    """The items in an order that is neither theirs nor sorted (stable between runs)."""
    return sorted(items, key=lambda item: hashlib.sha256(key(item).encode()).hexdigest())


def _csv(header: list[str], rows: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_text(row.get(name)) for name in header])
    return out.getvalue().encode("utf-8")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
