"""The whole local stack: moto, the template's resources, seeded data, the HTTP gateway and the worker."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from local_runtime.api_destinations import ApiDestinationDelivery, deliveries
from local_runtime.aws_local import LocalAws, check_free
from local_runtime.gateway import LocalApiGateway
from local_runtime.lambda_host import LocalFunction, add_layer_to_path, load_functions
from local_runtime.lambda_invoke import LocalLambdaInvoke
from local_runtime.sqs_worker import SqsEventSource
from local_runtime.stream_worker import StreamEventSource
from local_runtime.template import ROOT, Template
from local_runtime.webhook_receiver import WebhookReceiver

NORTHWIND_DIR = ROOT / "data" / "northwind"
log = logging.getLogger("local_runtime")

# Documented defaults for local settings; the environment overrides each one.
LOCAL_DEFAULTS = {
    "OUTBOUND_TOKEN": "local-dev-token",
    # The orgs of the Salesforce captures in the README's examples and in the test fixtures.
    "ALLOWED_ORG_IDS": (
        "00D5g00000LoCaL,00DQ0000000EB93,00D7F00000107Xs,012345678901234,ABC90000000gNcm,0123456789ABCDE"
    ),
    "POWERTOOLS_TRACE_DISABLED": "true",
    # Locally the callout API checks an API key (SigV4 is API Gateway's job, which has no local equivalent here).
    "CALLOUT_AUTH": "ApiKey",
    "CALLOUT_API_KEY": "local-dev-key",
    "ODATA_AUTH": "Basic",
    "ODATA_USERNAME": "salesforce",
    "ODATA_PASSWORD": "local-dev-password",
    "ODATA_API_KEY": "local-odata-key",
}


# Template parameters whose local value differs from the deployed default: locally the OData feed is writable
# (with the CSRF handshake, as a writable deployment) so writes can be tried.
LOCAL_PARAMETERS = {"ODataWritable": "true"}


@dataclass
class LocalStack:
    """Start with start(), stop with stop(); ports 0 pick free ones (tests)."""

    port: int = 3000
    moto_port: int = 0
    worker: bool = True
    retry_delay: int = 2
    seed: bool = True
    aws: LocalAws | None = None
    indexer: bool = True  # read the entity tables' streams into the OData index, as the stream mapping does
    webhook: WebhookReceiver | None = None  # the webhook target's system (a loopback stand-in unless WEBHOOK_URL)
    template: Template = field(init=False)
    functions: dict[str, LocalFunction] = field(init=False, default_factory=dict)
    sources: list[SqsEventSource] = field(init=False, default_factory=list)
    streams: list[StreamEventSource] = field(init=False, default_factory=list)
    destinations: list[ApiDestinationDelivery] = field(init=False, default_factory=list)
    gateway: LocalApiGateway | None = field(init=False, default=None)
    lambda_invoke: LocalLambdaInvoke | None = field(init=False, default=None)
    seeded: dict[str, int] = field(init=False, default_factory=dict)
    _own_aws: bool = field(init=False, default=True)

    def _store_local_credentials(self) -> None:
        """Jwt callouts read the certificate from the SSM parameter CalloutJwtCertificateParameter names, as deployed:
        locally it is stored there from CALLOUT_JWT_PUBLIC_KEY (without it, the start stops here, saying so)."""
        if self.template.parameters.get("CalloutAuth") != "Jwt":
            return
        import boto3

        from sf_edge.settings import SettingsError

        key = os.environ.get("CALLOUT_JWT_PUBLIC_KEY", "").strip().replace("\\n", "\n")
        if not key.startswith("-----BEGIN"):
            raise SettingsError(
                "CALLOUT_AUTH=Jwt needs CALLOUT_JWT_PUBLIC_KEY: the PEM certificate (or public key) Salesforce signs "
                "callout JWTs with (kept in the local SSM parameter the template names, as deployed)"
            )
        boto3.client("ssm").put_parameter(
            Name=self.template.parameters["CalloutJwtCertificateParameter"],
            Value=key,
            Type="SecureString",
            Overwrite=True,
        )

    def start(self) -> None:
        """Bring everything up; returns once the gateway accepts connections (PortInUse: a port is taken)."""
        if self.port:
            check_free(self.port, "PORT")
        add_layer_to_path()
        for key, value in LOCAL_DEFAULTS.items():
            os.environ.setdefault(key, value)
        local = {"AllowedOrgIds": os.environ["ALLOWED_ORG_IDS"], **LOCAL_PARAMETERS}
        if "WEBHOOK_URL" not in os.environ:
            # The webhook target calls a stand-in of the user's system on loopback (GET lists what it took).
            self.webhook = self.webhook or WebhookReceiver().start()
            local["WebhookUrl"] = self.webhook.url
        # Parameters are checked against template.yaml's constraints before anything starts (ParameterError).
        self.template = Template(local)
        self._own_aws = self.aws is None
        if self.aws is None:
            log.info("starting the local AWS (moto server on loopback)")
            self.aws = LocalAws(self.moto_port)
            self.aws.start()
        try:
            self._start_on_aws(self.aws)
        except BaseException:
            self.stop()  # a half-started stack must not leave moto's server behind
            raise

    def _start_on_aws(self, aws: LocalAws) -> None:
        from sf_edge.aws import clients

        clients.reset()
        log.info("creating template.yaml's queues, tables, buckets, bus and workflows at %s", aws.endpoint)
        aws.provision(self.template)
        self._store_local_credentials()
        if self.seed:
            log.info("seeding the order system (Northwind) and building its OData index")
        self.seeded = self._seed() if self.seed else {}
        log.info("loading the functions, each from its own settings")
        self.functions = load_functions(self.template.functions())
        for spec in self.template.functions():
            for mapping in spec.sqs_sources:
                queue = next(p for p in self.template.physical.values() if p.get("Arn") == mapping["Queue"])
                self.sources.append(
                    SqsEventSource(
                        self.functions[spec.logical_id],
                        queue["Ref"],
                        queue["Arn"],
                        batch_size=int(mapping.get("BatchSize", 10)),
                        retry_delay=self.retry_delay,
                    )
                )
            for mapping in spec.stream_sources:
                self.streams.append(
                    StreamEventSource(self.functions[spec.logical_id], mapping["Stream"], int(mapping["BatchSize"]))
                )
        self.gateway = LocalApiGateway(
            ("127.0.0.1", self.port),
            self.template.routes(),
            self.functions,
            self.template.parameters.get("ApiStageName", "live"),
        )
        threading.Thread(target=self.gateway.serve_forever, name="gateway", daemon=True).start()
        self.destinations = deliveries(self.template, self.retry_delay)
        # Where moto's Step Functions executor invokes the functions of a workflow's tasks.
        self.lambda_invoke = LocalLambdaInvoke(aws.lambda_port, self.functions).start()
        if self.worker:
            for source in self.sources:
                source.start()
            for destination in self.destinations:
                destination.start()
        if self.indexer:
            for stream in self.streams:
                stream.start()

    def drain_streams(self) -> int:
        """Deliver every stream record written so far (tests; the pollers do it in the background)."""
        return sum(stream.drain() for stream in self.streams)

    def stop(self) -> None:
        """Stop the worker, the indexer, the gateway and moto (every poller asked at once, then awaited: a dozen
        sources stopped one by one waited out each one's round in turn)."""
        sources: list[SqsEventSource | StreamEventSource | ApiDestinationDelivery] = [
            *self.sources,
            *self.streams,
            *self.destinations,
        ]
        for source in sources:
            source.request_stop()
        for source in sources:
            source.join()
        if self.gateway is not None:
            self.gateway.shutdown()
            self.gateway.server_close()
        if self.lambda_invoke is not None:
            self.lambda_invoke.stop()
        if self.webhook is not None:
            self.webhook.stop()
        if self._own_aws and self.aws is not None:
            self.aws.stop()

    @property
    def url(self) -> str:
        assert self.gateway is not None
        return self.gateway.url

    def physical(self, logical_id: str) -> str:
        """The local name (table) or URL (queue) of a template resource."""
        return self.template.physical[logical_id]["Ref"]

    def _seed(self) -> dict[str, int]:
        return seed_order_system(self.template)


def seed_order_system(template: Template, entity_sets: set[str] | None = None) -> dict[str, int]:
    """Load Northwind into every table whose template Metadata names an EntitySet (or only those given), as a
    bulk load with the OData index built at once (rows annotated for the sorted indexes; counts and postings
    written in bulk), so the stream carries only what is written after."""
    from sf_edge.aws.clients import dynamodb, dynamodb_client
    from sf_edge.aws.odata_index import IndexMaintainer
    from sf_edge.odata.indexing import index_attributes
    from sf_edge.odata.schema import BY_NAME
    from sf_edge.order_system.key_registry import KeyRegistry
    from sf_edge.order_system.northwind_seed import load_rows, seed

    resource = dynamodb()
    names = {
        definition["Metadata"]["EntitySet"]: template.physical[logical_id]["Ref"]
        for logical_id, definition in template.resources.items()
        if definition["Type"] == "AWS::DynamoDB::Table"
        and "EntitySet" in definition.get("Metadata", {})
        and (entity_sets is None or definition["Metadata"]["EntitySet"] in entity_sets)
    }
    tables = {name: resource.Table(table) for name, table in names.items()}

    def annotate(entity_set: str, row: dict[str, Any]) -> dict[str, Any]:
        return row | index_attributes(BY_NAME[entity_set], row)

    keys = KeyRegistry(resource.Table(template.physical["KeyRegistryTable"]["Ref"]))
    counts = seed(NORTHWIND_DIR, tables, keys, annotate=annotate)
    index = IndexMaintainer(dynamodb_client(), template.physical["ODataIndexTable"]["Ref"], names)
    for name in names:
        index.rebuild(BY_NAME[name], load_rows(NORTHWIND_DIR, name))
    return counts
