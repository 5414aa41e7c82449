"""The OpenAPI 3.0 document External Services imports: in sync with the code, valid, served, and honoured.

The last test fuzzes every operation with schemathesis against the local HTTP server: no 5xx, and every
response matches the document (status codes, content types, bodies).
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from conftest import CALLOUT_KEY, ROOT, serving
from local_runtime.aws_local import LocalAws
from local_runtime.lambda_host import LocalContext
from local_runtime.stack import LocalStack

DOCUMENT_PATH = ROOT / "openapi" / "callouts.json"
CHECKED_IN = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
APEX_IDENTIFIER = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)$")


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("openapi_generate", ROOT / "openapi" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_document_matches_the_code() -> None:
    generator = _generator()
    assert DOCUMENT_PATH.read_text(encoding="utf-8") == generator.render(generator.document()), "run make openapi"


def test_document_is_valid_openapi_30() -> None:
    assert CHECKED_IN["openapi"].startswith("3.0.")
    validate(CHECKED_IN)


def test_the_validator_would_catch_a_31_document() -> None:
    broken = json.loads(json.dumps(CHECKED_IN))
    broken["components"]["schemas"]["Quote"]["properties"]["total"] = {"type": ["number", "null"]}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_operation_ids_are_apex_identifiers() -> None:
    operations = [op for item in CHECKED_IN["paths"].values() for op in item.values()]
    ids = sorted(op["operationId"] for op in operations)
    assert ids == ["createQuote", "getAccountCredit", "getOrder", "getProductAvailability", "validateAddress"]
    assert all(APEX_IDENTIFIER.match(i) for i in ids)
    assert all(op.get("description") and op.get("summary") for op in operations)


def test_no_json_schema_2020_leftovers() -> None:
    text = json.dumps(CHECKED_IN)
    assert '{"type": "null"}' not in text
    assert '"const"' not in text
    for schema in CHECKED_IN["components"]["schemas"].values():
        for prop in schema.get("properties", {}).values():
            assert not isinstance(prop.get("type"), list)
            assert not isinstance(prop.get("examples"), list)


def test_every_operation_documents_the_error_shape() -> None:
    for item in CHECKED_IN["paths"].values():
        for op in item.values():
            for status in ("400", "401", "500"):
                assert op["responses"][status]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ApiError"
                }


def test_served_document_is_the_checked_in_one(stack: Any) -> None:
    import callout_api

    event = {
        "path": "/api/v1/openapi.json",
        "httpMethod": "GET",
        "headers": {"x-api-key": CALLOUT_KEY},
        "requestContext": {"requestId": "doc"},
        "queryStringParameters": None,
        "body": None,
    }
    response = callout_api.lambda_handler(event, LocalContext("CalloutTokenFunction"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == CHECKED_IN


@pytest.fixture(scope="module")
def server(local_aws: LocalAws) -> Iterator[LocalStack]:
    with serving(local_aws) as stack:
        yield stack


schema = schemathesis.openapi.from_dict(CHECKED_IN)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_requests_get_documented_answers(case: Any, server: LocalStack) -> None:
    case.call_and_validate(base_url=server.url, headers={"x-api-key": CALLOUT_KEY})


# Apex reserved keywords (Apex Developer Guide, "Reserved Keywords", API 264): External Services generates Apex
# classes from the document, so no property, parameter or operation may be named one of them.
APEX_RESERVED = set(
    [
        "abstract",
        "activate",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "autonomous",
        "begin",
        "bigdecimal",
        "blob",
        "boolean",
        "break",
        "bulk",
        "by",
        "byte",
        "case",
        "cast",
        "catch",
        "char",
        "class",
        "collect",
        "commit",
        "const",
        "continue",
        "currency",
        "date",
        "datetime",
        "decimal",
        "default",
        "delete",
        "desc",
        "do",
        "double",
        "else",
        "end",
        "enum",
        "exception",
        "exit",
        "export",
        "extends",
        "false",
        "final",
        "finally",
        "float",
        "for",
        "from",
        "global",
        "goto",
        "group",
        "having",
        "hint",
        "if",
        "implements",
        "import",
        "in",
        "inner",
        "insert",
        "instanceof",
        "int",
        "integer",
        "interface",
        "into",
        "join",
        "like",
        "limit",
        "list",
        "long",
        "loop",
        "map",
        "merge",
        "new",
        "not",
        "null",
        "nulls",
        "number",
        "object",
        "of",
        "on",
        "or",
        "outer",
        "override",
        "package",
        "parallel",
        "pragma",
        "private",
        "protected",
        "public",
        "retrieve",
        "return",
        "rollback",
        "select",
        "set",
        "short",
        "sobject",
        "sort",
        "static",
        "string",
        "super",
        "switch",
        "synchronized",
        "system",
        "testmethod",
        "then",
        "this",
        "throw",
        "time",
        "transaction",
        "trigger",
        "true",
        "try",
        "undelete",
        "update",
        "upsert",
        "using",
        "virtual",
        "void",
        "webservice",
        "when",
        "where",
        "while",
    ]
)


def _walk(node: Any, path: str = "") -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


def test_no_name_external_services_would_generate_is_an_apex_keyword() -> None:
    document = json.loads((ROOT / "openapi" / "callouts.json").read_text(encoding="utf-8"))
    names: list[tuple[str, str]] = []
    for path, key, value in _walk(document):
        if key == "properties" and isinstance(value, dict):
            names += [(path, name) for name in value]
        if key == "parameters" and isinstance(value, list):
            names += [(path, p["name"]) for p in value if isinstance(p, dict) and "name" in p]
        if key == "operationId":
            names.append((path, value))
    assert names
    assert [(p, n) for p, n in names if n.lower() in APEX_RESERVED] == []


def test_every_date_carries_its_format() -> None:
    """Flow types a property by its format: a date without one is Text (orderDate was)."""
    document = json.loads((ROOT / "openapi" / "callouts.json").read_text(encoding="utf-8"))
    dated = [
        (path, name, schema)
        for path, key, value in _walk(document)
        if key == "properties" and isinstance(value, dict)
        for name, schema in value.items()
        if name.endswith(("Date", "At", "Until"))
    ]
    assert {name for _p, name, _s in dated} >= {"orderDate", "requiredDate", "shippedDate", "validUntil", "createdAt"}
    for path, name, schema in dated:
        assert schema.get("format") in ("date", "date-time"), (path, name, schema)
