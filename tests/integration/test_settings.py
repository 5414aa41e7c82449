"""Each function's typed settings: template.yaml gives every function what its settings require, a bad value fails
at cold start naming the variable (never showing a secret), and the local runtime composes each function from its
own settings."""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import pytest

from conftest import Stack
from local_runtime.lambda_host import composition_root, load_functions
from sf_edge.aws.secrets import secret_source
from sf_edge.settings import FunctionSettings, SettingsError

# Every variable a handler reads is a settings field: the template's names and ours must agree.
SETTINGS = {
    "outbound_listener": "ListenerSettings",
    "notification_worker": "WorkerSettings",
    "callout_api": "CalloutSettings",
    "odata_feed": "FeedSettings",
    "odata_indexer": "IndexerSettings",
    "salesforce_write_back": "WriteBackSettings",
    "bulk_sync": "BulkSyncSettings",
    "bulk_write_back": "BulkWriteBackSettings",
    "order_status": "OrderStatusSettings",
}
FUNCTIONS = {
    "OutboundListenerFunction": "outbound_listener",
    "NotificationWorkerFunction": "notification_worker",
    "CalloutFunction": "callout_api",
    "ODataFeedFunction": "odata_feed",
    "ODataIndexerFunction": "odata_indexer",
    "SalesforceWriteBackFunction": "salesforce_write_back",
    "BulkSyncFunction": "bulk_sync",
    "BulkWriteBackFunction": "bulk_write_back",
    "OrderStatusFunction": "order_status",
}


def settings_type(module: str, name: str) -> type[FunctionSettings]:
    found: type[FunctionSettings] = getattr(importlib.import_module(module), name)
    return found


def test_every_function_has_one_settings_model_and_one_composition_root(stack: Stack) -> None:
    assert {spec.module for spec in stack.template.functions()} == set(SETTINGS)
    for module, name in SETTINGS.items():
        root = composition_root(importlib.import_module(module))
        assert root.settings_type is settings_type(module, name)


def test_the_template_gives_each_function_every_setting_it_requires(stack: Stack) -> None:
    """Only the function's own variables (no neighbour's leaking in through a shared environment), and the local
    values of the secrets the deployed template keeps in Secrets Manager (`make run` gives them so)."""
    from local_runtime.stack import LOCAL_DEFAULTS

    for spec in stack.template.functions():
        settings_type(spec.module, SETTINGS[spec.module]).from_env({**LOCAL_DEFAULTS, **spec.environment})


def test_every_template_variable_is_a_setting_its_function_reads(stack: Stack) -> None:
    """A variable the template sets but no settings field reads is a typo or a leftover."""
    for spec in stack.template.functions():
        model = settings_type(spec.module, SETTINGS[spec.module])
        fields = [f.name for f in dataclasses.fields(model)]
        known = {field.upper() for field in fields}
        secrets = {f"{field.upper()}_{suffix}" for field in fields for suffix in ("SECRET_ID", "PARAMETER")}
        tables = {s.table_env for s in _entity_sets()} if "entity_tables" in fields else set()
        unread = {
            variable
            for variable in spec.environment
            if not variable.startswith("POWERTOOLS_") and variable not in known | secrets | tables
        }
        assert unread == set(), spec.logical_id


def _entity_sets() -> Any:
    from sf_edge.odata.schema import ENTITY_SETS

    return ENTITY_SETS


@pytest.mark.parametrize(
    ("function", "changes", "named"),
    [
        ("OutboundListenerFunction", {"NOTIFICATION_QUEUE_URL": ""}, "NOTIFICATION_QUEUE_URL"),
        ("OutboundListenerFunction", {"OUTBOUND_MAX_BODY_BYTES": "5MB"}, "OUTBOUND_MAX_BODY_BYTES"),
        # Issue 25.8: what used to fail every message later (500 per message, a refused org) fails the start.
        ("OutboundListenerFunction", {"OUTBOUND_TOKEN": "", "OUTBOUND_TOKEN_SECRET_ID": ""}, "OUTBOUND_TOKEN"),
        ("OutboundListenerFunction", {"ALLOWED_ORG_IDS": "bad"}, "ALLOWED_ORG_IDS"),
        ("OutboundListenerFunction", {"ALLOWED_SOURCE_CIDRS": "999.0.0.0/8"}, "ALLOWED_SOURCE_CIDRS"),
        (
            "NotificationWorkerFunction",
            {"SALESFORCE_LOGIN_URL": "https://login.salesforce.com", "SALESFORCE_CLIENT_ID": "3MVG9x"}
            | {"SALESFORCE_USERNAME": "i@example.com", "SALESFORCE_PRIVATE_KEY_SECRET_ID": ""},
            "SALESFORCE_PRIVATE_KEY: is required",
        ),
        (
            "SalesforceWriteBackFunction",
            {"SALESFORCE_LOGIN_URL": "https://login.salesforce.com", "SALESFORCE_CLIENT_ID": "3MVG9x"}
            | {"SALESFORCE_USERNAME": "i@example.com", "SALESFORCE_PRIVATE_KEY_SECRET_ID": ""}
            | {"SALESFORCE_PRIVATE_KEY": "not a key"},
            "not a PEM private key",
        ),
        ("CalloutFunction", {"CALLOUT_AUTH": "Jwt", "CALLOUT_JWT_PUBLIC_KEY_PARAMETER": ""}, "CALLOUT_JWT_PUBLIC_KEY"),
        ("CalloutFunction", {"CALLOUT_AUTH": "Jwt", "CALLOUT_JWT_ISSUER": ""}, "CALLOUT_JWT_ISSUER"),
        ("NotificationWorkerFunction", {"MAX_RECEIVE_COUNT": "0"}, "MAX_RECEIVE_COUNT"),
        ("NotificationWorkerFunction", {"SALESFORCE_LOGIN_URL": "http://login.salesforce.com"}, "LOGIN_URL"),
        ("NotificationWorkerFunction", {"SALESFORCE_API_VERSION": "latest"}, "SALESFORCE_API_VERSION"),
        ("CalloutFunction", {"CALLOUT_AUTH": "Basic"}, "CALLOUT_AUTH"),
        ("CalloutFunction", {"DEFAULT_CREDIT_LIMIT": "-1"}, "DEFAULT_CREDIT_LIMIT"),
        ("CalloutFunction", {"ORDERS_TABLE": ""}, "ORDERS_TABLE"),
        ("ODataFeedFunction", {"ODATA_PAGE_SIZE": "5000"}, "ODATA_PAGE_SIZE"),
        ("ODataFeedFunction", {"ODATA_WRITABLE": "maybe"}, "ODATA_WRITABLE"),
        ("ODataFeedFunction", {"ODATA_AUTH": "Oauth"}, "ODATA_AUTH"),
        ("ODataFeedFunction", {"ODATA_V2_SEARCH_PARAMETER": "do search"}, "ODATA_V2_SEARCH_PARAMETER"),
        ("ODataIndexerFunction", {"ODATA_INDEX_TABLE": ""}, "ODATA_INDEX_TABLE"),
        ("SalesforceWriteBackFunction", {"WRITE_BACK_LEDGER_TABLE": ""}, "WRITE_BACK_LEDGER_TABLE"),
    ],
)
def test_a_bad_value_fails_at_cold_start_naming_the_variable(
    stack: Stack, function: str, changes: dict[str, str], named: str
) -> None:
    module = FUNCTIONS[function]
    spec = next(s for s in stack.template.functions() if s.module == module)
    name = SETTINGS[module]
    with pytest.raises(SettingsError, match=named) as refused:
        settings_type(module, name).from_env({**spec.environment, **changes})
    assert str(refused.value).startswith(f"{name}: ")


def test_a_refused_secret_is_never_shown(stack: Stack) -> None:
    spec = next(s for s in stack.template.functions() if s.logical_id == "SalesforceWriteBackFunction")
    import salesforce_write_back

    key = "-----BEGIN PRIVATE KEY-----\ns3cr3t\n-----END PRIVATE KEY-----"
    bad = {"SALESFORCE_LOGIN_URL": "https://login.salesforce.com", "SALESFORCE_PRIVATE_KEY": key}
    with pytest.raises(SettingsError) as refused:  # no consumer key or user: the sign-in is incomplete
        salesforce_write_back.WriteBackSettings.from_env({**spec.environment, **bad})
    assert "SALESFORCE_CLIENT_ID" in str(refused.value)
    assert "s3cr3t" not in str(refused.value)
    settings = salesforce_write_back.WriteBackSettings.from_env(
        {**spec.environment, **bad, "SALESFORCE_CLIENT_ID": "3MVG9x", "SALESFORCE_USERNAME": "i@example.com"}
    )
    assert "s3cr3t" not in repr(settings)
    assert secret_source(settings.salesforce_private_key)() == key


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("TRUE", True), ("1", True), ("false", False)])
def test_booleans_are_read_as_booleans(stack: Stack, value: str, expected: bool) -> None:
    import odata_feed

    spec = next(s for s in stack.template.functions() if s.logical_id == "ODataFeedFunction")
    settings = odata_feed.FeedSettings.from_env({**spec.environment, "ODATA_WRITABLE": value, "ODATA_CSRF": ""})
    assert settings.odata_writable is expected


def test_settings_read_back_as_the_environment_they_came_from(stack: Stack) -> None:
    """A test's `but(...)` and `make run` rebuild settings from variables: nothing may be lost on the way."""
    for spec in stack.template.functions():
        model = settings_type(spec.module, SETTINGS[spec.module])
        settings = model.from_env({**spec.environment, "OUTBOUND_TOKEN": "t0k3n", "CALLOUT_API_KEY": "k3y"})
        assert model.from_env(settings.to_env()) == settings


def test_the_feed_and_the_indexer_do_not_load_pydantic_to_read_their_settings() -> None:
    """They never needed it: importing it would add 120-190 ms to their cold start (imports and composition)."""
    import subprocess
    import sys

    from conftest import ROOT

    probe = (
        "import sys, odata_feed, odata_indexer; odata_feed.odata(); odata_indexer.indexer();"
        "print('pydantic' in sys.modules)"
    )
    paths = [ROOT / "layers" / "sf_edge", ROOT / "functions" / "odata_feed", ROOT / "functions" / "odata_indexer"]
    env = {
        "PYTHONPATH": ":".join(map(str, paths)),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ODATA_INDEX_TABLE": "index",
        "ORDERS_TABLE": "orders",
        "ODATA_PASSWORD": "p",
    }
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_settings_changed_in_a_test_are_validated_like_the_environment(stack: Stack) -> None:
    import odata_feed

    settings = odata_feed.FeedSettings.from_env()
    assert settings.but(odata_page_size=5).odata_page_size == 5
    with pytest.raises(SettingsError, match="ODATA_PAGE_SIZE"):
        settings.but(odata_page_size=0)


def test_the_local_runtime_composes_each_function_from_its_own_settings(stack: Stack) -> None:
    """Not from a shared process environment: the feed's page size set for the feed only."""
    import odata_feed

    spec = next(s for s in stack.template.functions() if s.logical_id == "ODataFeedFunction")
    load_functions([dataclasses.replace(spec, environment={**spec.environment, "ODATA_PAGE_SIZE": "7"})])
    assert odata_feed.odata().feed.page_size == 7
    bad = dataclasses.replace(spec, environment={**spec.environment, "ODATA_PAGE_SIZE": "0"})
    with pytest.raises(SettingsError, match="ODATA_PAGE_SIZE"):
        load_functions([bad])  # `make run` stops at start, saying which variable is wrong


def test_the_feed_serves_only_the_entity_sets_whose_table_is_configured(stack: Stack) -> None:
    """Issue 25.5: with PRODUCTS_TABLE unset, Products is in neither the service document nor $metadata, and a
    request for it is OData's 404 (it was a KeyError: 500); the configured sets are served as before."""
    import json

    import odata_feed
    from sf_edge.odata.feed import FeedRequest

    spec = next(s for s in stack.template.functions() if s.logical_id == "ODataFeedFunction")
    environment = {k: v for k, v in spec.environment.items() if k != "PRODUCTS_TABLE"}
    odata_feed.odata.configure(odata_feed.FeedSettings.from_env({**environment, "ODATA_AUTH": "None"}))
    feed = odata_feed.odata().feed

    def get(path: str) -> tuple[int, bytes]:
        response = feed.handle(FeedRequest("GET", path, "", {}, "http://localhost:3000/odata/v4/"))
        return response.status, response.body

    status, body = get("/")
    served = [s["name"] for s in json.loads(body)["value"]]
    assert status == 200
    assert "Products" not in served
    assert "Customers" in served
    assert "Orders" in served
    status, body = get("/$metadata")
    assert status == 200
    assert b'EntitySet Name="Products"' not in body
    assert b'EntitySet Name="Customers"' in body
    status, body = get("/Products")
    assert status == 404
    assert json.loads(body)["error"]["code"]
    assert get("/Customers")[0] == 200
