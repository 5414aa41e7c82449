"""The whole local stack: moto, the template's resources, seeded data, the HTTP gateway and the worker."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from local_runtime.aws_local import LocalAws
from local_runtime.gateway import LocalApiGateway
from local_runtime.lambda_host import LocalFunction, add_layer_to_path, load_functions
from local_runtime.sqs_worker import SqsEventSource
from local_runtime.template import ROOT, Template

NORTHWIND_DIR = ROOT / "data" / "northwind"

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


@dataclass
class LocalStack:
    """Start with start(), stop with stop(); ports 0 pick free ones (tests)."""

    port: int = 3000
    moto_port: int = 0
    worker: bool = True
    retry_delay: int = 2
    seed: bool = True
    aws: LocalAws | None = None
    template: Template = field(init=False)
    functions: dict[str, LocalFunction] = field(init=False, default_factory=dict)
    sources: list[SqsEventSource] = field(init=False, default_factory=list)
    gateway: LocalApiGateway | None = field(init=False, default=None)
    seeded: dict[str, int] = field(init=False, default_factory=dict)
    _own_aws: bool = field(init=False, default=True)

    def start(self) -> None:
        """Bring everything up; returns once the gateway accepts connections."""
        add_layer_to_path()
        for key, value in LOCAL_DEFAULTS.items():
            os.environ.setdefault(key, value)
        self._own_aws = self.aws is None
        if self.aws is None:
            self.aws = LocalAws(self.moto_port)
            self.aws.start()
        from sf_edge.aws import clients

        clients.reset()
        self.template = Template({"AllowedOrgIds": os.environ["ALLOWED_ORG_IDS"]})
        self.aws.provision(self.template)
        self.seeded = self._seed() if self.seed else {}
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
        self.gateway = LocalApiGateway(
            ("127.0.0.1", self.port),
            self.template.routes(),
            self.functions,
            self.template.parameters.get("ApiStageName", "live"),
        )
        threading.Thread(target=self.gateway.serve_forever, name="gateway", daemon=True).start()
        if self.worker:
            for source in self.sources:
                source.start()

    def stop(self) -> None:
        """Stop the worker, the gateway and moto."""
        for source in self.sources:
            source.stop()
        if self.gateway is not None:
            self.gateway.shutdown()
            self.gateway.server_close()
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
    """Load Northwind into every table whose template Metadata names an EntitySet (or only those given)."""
    from sf_edge.aws.clients import dynamodb
    from sf_edge.order_system.key_registry import KeyRegistry
    from sf_edge.order_system.northwind_seed import seed

    resource = dynamodb()
    tables = {
        definition["Metadata"]["EntitySet"]: resource.Table(template.physical[logical_id]["Ref"])
        for logical_id, definition in template.resources.items()
        if definition["Type"] == "AWS::DynamoDB::Table"
        and "EntitySet" in definition.get("Metadata", {})
        and (entity_sets is None or definition["Metadata"]["EntitySet"] in entity_sets)
    }
    return seed(NORTHWIND_DIR, tables, KeyRegistry(resource.Table(template.physical["KeyRegistryTable"]["Ref"])))
