"""Shared test setup: one moto server for the session, the template's resources re-created for every test.

Every boto3 client in the process (handlers included) talks to that server through AWS_ENDPOINT_URL, so the
queues and tables are real moto SQS and DynamoDB, created from template.yaml as the local runtime does.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
# ../shared beside the clone; `make mutate` runs the suite from a copy one level further down (mutants/).
SHARED_ROOT = next((p / "shared" for p in ROOT.parents if (p / "shared" / "fixtures").is_dir()), ROOT.parent / "shared")
SHARED = SHARED_ROOT / "fixtures"
OUTBOUND_FIXTURES = SHARED / "outbound"
LISTENER_WSDLS = ROOT / "functions" / "outbound_listener" / "wsdl"

# Salesforce captures live beside the clone (../shared/fixtures), as on the team's machines and in CI. A clone
# without them still runs every test that does not read them: modules that read them while collecting are left
# out here, and tests that read them through shared_fixture() (or the helpers below) are skipped.
collect_ignore = (
    []
    if SHARED.exists()
    else [
        "integration/test_outbound_fixtures.py",
        "integration/test_outbound_rejections.py",
        "integration/test_listener_handler.py",
        "e2e/test_local_stack.py",
    ]
)


def pytest_report_header() -> list[str]:
    """Say, first thing, what a clone without ../shared does not run (and why), rather than leave it out silently."""
    if SHARED.exists():
        return []
    return [
        f"../shared/fixtures is not beside this clone ({SHARED}): the Salesforce captures are missing, so "
        f"{len(collect_ignore)} modules are left out ({', '.join(collect_ignore)}) and the tests that read a "
        "capture are skipped, each saying so (pytest -rs lists them)"
    ]


TOKEN = "test-token-0123456789"
CALLOUT_KEY = "test-callout-key-0123456789"
FIXTURE_ORGS = (
    "00D5g00000LoCaL,00DQ0000000EB93,00D7F00000107Xs,012345678901234,ABC90000000gNcm,0123456789ABCDE,00D000000000001"
)

os.environ.update(
    {
        "OUTBOUND_TOKEN": TOKEN,
        "CALLOUT_AUTH": "ApiKey",
        "CALLOUT_API_KEY": CALLOUT_KEY,
        "ALLOWED_ORG_IDS": FIXTURE_ORGS,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_METRICS_NAMESPACE": "SalesforceIntegrationEdgeTests",
    }
)
os.environ.pop("OUTBOUND_TOKEN_SECRET_ID", None)

from local_runtime.aws_local import LocalAws  # noqa: E402
from local_runtime.lambda_host import add_layer_to_path  # noqa: E402
from local_runtime.stack import LOCAL_PARAMETERS, LocalStack  # noqa: E402
from local_runtime.template import Template  # noqa: E402

add_layer_to_path()


class Stack:
    """The template's resources on the session's moto server."""

    def __init__(self, aws: LocalAws) -> None:
        self.aws = aws
        self.template = Template({"AllowedOrgIds": FIXTURE_ORGS, **LOCAL_PARAMETERS})

    def provision(self) -> None:
        self.aws.reset()
        self.template.physical.clear()
        self.aws.provision(self.template)
        for spec in self.template.functions():
            os.environ.update({k: v for k, v in spec.environment.items() if not k.startswith("POWERTOOLS_")})

    def name(self, logical_id: str) -> str:
        return self.template.physical[logical_id]["Ref"]

    physical = name  # as LocalStack names it, so helpers take either

    @property
    def queue_url(self) -> str:
        return self.name("NotificationQueue")

    @property
    def dlq_url(self) -> str:
        return self.name("NotificationDeadLetterQueue")

    def table(self, logical_id: str):  # type: ignore[no-untyped-def]
        from sf_edge.aws.clients import dynamodb

        return dynamodb().Table(self.name(logical_id))

    def drain(self, queue_url: str | None = None) -> list[dict]:  # type: ignore[type-arg]
        """Every message in the queue (received, then deleted)."""
        from sf_edge.aws.clients import sqs_client

        sqs = sqs_client()
        url = queue_url or self.queue_url
        out: list[dict] = []  # type: ignore[type-arg]
        while True:
            got = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                return out
            out.extend(got)
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
            )

    def queue_depth(self, queue_url: str | None = None) -> int:
        from sf_edge.aws.clients import sqs_client

        attrs = sqs_client().get_queue_attributes(
            QueueUrl=queue_url or self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())

    def wait_until_visible(self, queue_url: str | None = None, timeout: float = 10.0) -> None:
        """Wait out the messages' delivery delay (claim-check pointers are sent delayed)."""
        import time

        from sf_edge.aws.clients import sqs_client

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            attrs = sqs_client().get_queue_attributes(
                QueueUrl=queue_url or self.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
            )["Attributes"]
            if int(attrs["ApproximateNumberOfMessagesDelayed"]) == 0:
                return
            time.sleep(0.2)
        raise AssertionError("messages stayed delayed")


HANDLER_MODULES = tuple(spec.module for spec in Template().functions())


def _forget_settings_read_from_env() -> None:
    """The handlers compose their feeds, desks and authenticators once per container from their settings; a test
    with other settings must not reuse what an earlier test composed (or configured)."""
    import sys

    from local_runtime.lambda_host import composition_root

    for name in HANDLER_MODULES:
        if name in sys.modules:
            composition_root(sys.modules[name]).reset()


_serving_stacks: list[LocalStack] = []


@pytest.fixture(autouse=True)
def _fresh_composition() -> Iterator[None]:
    """Each test starts with every function composed from the environment, as a new container would be (while a
    module's `make run` stack serves, its functions stay composed as it started them)."""
    yield
    if not _serving_stacks:
        _forget_settings_read_from_env()


@contextmanager
def serving(
    local_aws: LocalAws,
    env: dict[str, str] | None = None,
    *,
    worker: bool = False,
    retry_delay: int = 0,
    indexer: bool = True,
) -> Iterator[LocalStack]:
    """`make run`'s stack on a free port over freshly provisioned resources, with `env` set while it serves
    (`indexer=False`: the tables' streams are read only when the test calls `stack.drain_streams()`)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        local_aws.reset()
        stack = LocalStack(port=0, aws=local_aws, worker=worker, retry_delay=retry_delay, indexer=indexer)
        stack.start()  # composes each function from its template settings and `env`
        _serving_stacks.append(stack)
        try:
            yield stack
        finally:
            _serving_stacks.remove(stack)
            stack.stop()
            _forget_settings_read_from_env()


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    aws = LocalAws(0)
    aws.start()
    from sf_edge.aws import clients

    clients.reset()
    yield aws
    aws.stop()


@pytest.fixture
def stack(local_aws: LocalAws) -> Stack:
    """A fresh account with the template's queues and tables."""
    s = Stack(local_aws)
    s.provision()
    return s


def csrf_token(service_root: str, authorization: str) -> str:
    """What Salesforce does before writing to a writable External Object: a GET with `X-CSRF-Token: Fetch`."""
    import urllib.request

    request = urllib.request.Request(
        service_root.rstrip("/") + "/", headers={"Authorization": authorization, "X-CSRF-Token": "Fetch"}
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return str(response.headers.get("X-CSRF-Token") or "")


def shared_fixture(*parts: str) -> Path:
    """A path under ../shared/fixtures; skips the calling test in a clone that has no ../shared beside it."""
    if not SHARED.exists():
        pytest.skip("../shared/fixtures is not beside this clone")
    return SHARED.joinpath(*parts)


@pytest.fixture
def fixture_listeners(tmp_path: Path) -> Path:
    """A WSDL folder holding every fixture WSDL (test data only: not vendored) under listener names."""
    names = {
        "Opportunity__mulesoft.wsdl": "opportunity_mulesoft",
        "Account__comsave.wsdl": "account_comsave",
        "Account__ryanbrainard.wsdl": "account_ryanbrainard",
        "ADM_Release__c__ryanbrainard.wsdl": "adm_release",
        "DiscountRule__c__comsave.wsdl": "discount_rule",
        "ObjectToBeRemoved__c__comsave.wsdl": "object_to_be_removed",
        "gwestr__Shipment__c__gwestersf.wsdl": "shipment",
    }
    wsdls = shared_fixture("outbound", "wsdl")
    for source, name in names.items():
        shutil.copy(wsdls / source, tmp_path / f"{name}.wsdl")
    for ours in ("contact", "lead", "opportunity"):
        shutil.copy(LISTENER_WSDLS / f"{ours}.wsdl", tmp_path / f"{ours}.wsdl")
    return tmp_path


def fixture_request(name: str) -> bytes:
    return shared_fixture("outbound", "requests", name).read_bytes()


def make_intake(wsdl_dir: Path, queue_url: str, *, config: Path | None = None, publisher=None):  # type: ignore[no-untyped-def]
    """An intake over a WSDL folder, publishing to the given moto queue (or a test publisher)."""
    from sf_edge.aws.large_payloads import large_payloads_in
    from sf_edge.aws.sqs_publisher import SqsNotificationPublisher
    from sf_edge.outbound.intake import OutboundIntake
    from sf_edge.outbound.listeners import ListenerRegistry
    from sf_edge.outbound.sender_verification import OrgAllowlist
    from sf_edge.token_verifier import TokenVerifier

    return OutboundIntake(
        ListenerRegistry(wsdl_dir, config),
        TokenVerifier(lambda: TOKEN),
        OrgAllowlist.from_csv(FIXTURE_ORGS),
        publisher
        or SqsNotificationPublisher(
            queue_url,
            large_payloads=large_payloads_in(os.environ.get("LARGE_PAYLOAD_BUCKET", "")),
        ),
    )


def queue_bodies(stack: Stack) -> list[dict]:  # type: ignore[type-arg]
    """The JSON bodies in the notification queue, in notification id order (drains it)."""
    import json

    return sorted((json.loads(m["Body"]) for m in stack.drain()), key=lambda b: b["notificationId"])


def worker_source(stack: Stack, retry_delay: int = 0):  # type: ignore[no-untyped-def]
    """The worker function fed from the notification queue, exactly as `make run` wires it."""
    from local_runtime.lambda_host import LocalFunction, load_functions
    from local_runtime.sqs_worker import SqsEventSource

    spec = next(s for s in stack.template.functions() if s.logical_id == "NotificationWorkerFunction")
    function: LocalFunction = load_functions([spec])[spec.logical_id]
    return SqsEventSource(
        function, stack.queue_url, stack.template.physical["NotificationQueue"]["Arn"], retry_delay=retry_delay
    )


def worker_services():  # type: ignore[no-untyped-def]
    """The services the worker's handlers get, composed from the test stack's settings (handlers called directly)."""
    import notification_worker

    return notification_worker.worker.configure(notification_worker.WorkerSettings.from_env()).services


def run_worker_until_empty(source, max_polls: int = 200) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Poll until a poll receives nothing; return (succeeded, failed) record counts."""
    succeeded = failed = 0
    for _ in range(max_polls):
        result = source.poll_once()
        if result.received == 0:
            return succeeded, failed
        succeeded += result.succeeded
        failed += result.failed
    raise AssertionError("queue did not drain")


def orders_of(stack: Any, opportunity_id: str) -> list[dict[str, Any]]:
    """The Orders of one Opportunity, in a Stack's or a LocalStack's OrdersTable."""
    from sf_edge.aws.clients import dynamodb

    table = dynamodb().Table(stack.physical("OrdersTable"))
    found = table.scan(
        FilterExpression="SalesforceOpportunityId = :o", ExpressionAttributeValues={":o": opportunity_id}
    )
    return list(found["Items"])


def wait_for(predicate, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    """The predicate's first truthy value, polled until `timeout` seconds pass (then AssertionError)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def seed_customers(stack: Stack) -> None:
    """Northwind's Customers, and the Orders sequence where Northwind's OrderIDs end."""
    from local_runtime.stack import seed_order_system
    from sf_edge.order_system.key_registry import KeyRegistry

    seed_order_system(stack.template, {"Customers"})
    KeyRegistry(stack.table("KeyRegistryTable")).ensure_sequence_at_least("Orders", 11077)
