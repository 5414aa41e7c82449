"""An embedded moto server on loopback, with the queues and tables of template.yaml created on it.

moto runs as a child process: the endpoints' timings then exclude its work, as a remote AWS service's would (in
one process it would take turns with the handlers for the interpreter lock), and a taken port is a clear error.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from local_runtime.template import Template

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def running_local_aws() -> str:
    """The endpoint of `make run`'s local AWS, for a tool run beside it (`make redrive`, `make backfill`):
    AWS_ENDPOINT_URL, else MOTO_PORT (default 5000); this process's boto3 clients are pointed at it, with the local
    dummy credentials wherever none are set."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{os.environ.get('MOTO_PORT', '5000')}"
    for key, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    return endpoint


ACCOUNT_ID = "123456789012"  # moto's default account


class PortInUse(RuntimeError):  # noqa: N818 - reads as what happened
    """A port `make run` was told to use is taken."""


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check_free(port: int, setting: str) -> None:
    """Fail fast, in one line, when the port is taken."""
    # SO_REUSEADDR as the servers set it: connections of a run just stopped (TIME_WAIT) do not hold the port.
    # The connect probe finds a listener the bind would coexist with (macOS lets a wildcard one share).
    with socket.socket() as probe, socket.socket() as knock:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        knock.settimeout(0.5)
        try:
            probe.bind(("127.0.0.1", port))
            listening = knock.connect_ex(("127.0.0.1", port)) == 0
        except OSError:
            listening = True
        if listening:
            raise PortInUse(
                f"{setting}={port} is taken by another program (on macOS the AirPlay receiver holds 5000): "
                f"choose another, e.g. {setting}={free_port()}, or {setting}=0 for any free port"
            ) from None


class LocalAws:
    """moto's server in a child process; boto3 in this process is pointed at it through AWS_ENDPOINT_URL."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.endpoint = ""
        # Where moto's Step Functions executor invokes Lambda functions: the local runtime's Lambda host.
        self.lambda_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start the server and point every boto3 client of this process at it; return its URL."""
        port = self.port or free_port()
        check_free(port, "MOTO_PORT")
        self._process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
            [sys.executable, str(Path(__file__).with_name("moto_process.py")), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "LOCAL_LAMBDA_ENDPOINT": f"http://127.0.0.1:{self.lambda_port}"},
            # Its own session: a Ctrl-C in the terminal reaches us alone, and we stop the server last, after the
            # pollers that still talk to it (it used to die first, and each poller printed a traceback).
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto's server did not start on port {port}")
            time.sleep(0.1)
        self.endpoint = f"http://127.0.0.1:{port}"
        os.environ.update(LOCAL_CREDENTIALS)
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint
        # botocore would send stream calls to an account endpoint (<account>.streams-ddb...): keep the one URL.
        os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] = "disabled"
        return self.endpoint

    def stop(self) -> None:
        """Stop the server."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()

    def reset(self) -> None:
        """Forget every queue, table and item (moto's reset API): tests start from an empty account."""
        import urllib.request

        reset = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")  # noqa: S310 - our loopback
        urllib.request.urlopen(reset).close()  # noqa: S310

    def provision(self, template: Template) -> None:
        """Create the template's queues, buckets and tables; record their physical ids for resolving references."""
        import boto3

        region = LOCAL_CREDENTIALS["AWS_REGION"]
        sqs = boto3.client("sqs", region_name=region, endpoint_url=self.endpoint)
        dynamodb = boto3.client("dynamodb", region_name=region, endpoint_url=self.endpoint)
        queues = template.of_type("AWS::SQS::Queue")
        # Queues first without redrive (a redrive policy names another queue's ARN), then their attributes.
        for logical_id, props in queues.items():
            fifo = template.resolve(props.get("FifoQueue")) in (True, "true")
            name = f"{logical_id}.fifo" if fifo else logical_id
            url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
            arn = f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}"
            template.physical[logical_id] = {"Ref": url, "Arn": arn, "QueueName": name}
        for logical_id, props in queues.items():
            attributes = _queue_attributes(template, props)
            if attributes:
                sqs.set_queue_attributes(QueueUrl=template.physical[logical_id]["Ref"], Attributes=attributes)  # type: ignore[arg-type]
        s3 = boto3.client("s3", region_name=region, endpoint_url=self.endpoint)
        for logical_id in template.of_type("AWS::S3::Bucket"):
            name = logical_id.lower()  # bucket names are lower case; CloudFormation would add a suffix
            s3.create_bucket(Bucket=name)
            template.physical[logical_id] = {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}
        self._provision_events(template, region)
        for logical_id in template.of_type("AWS::Serverless::Function"):  # served by the local runtime
            arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{logical_id}"
            template.physical[logical_id] = {"Ref": logical_id, "Arn": arn}
        self._provision_state_machines(template, region)
        existing = dynamodb.list_tables()["TableNames"]
        for logical_id, props in template.of_type("AWS::DynamoDB::Table").items():
            spec = {k: template.resolve(v) for k, v in props.items() if k in _TABLE_KEYS}
            if "StreamSpecification" in props:
                view = template.resolve(props["StreamSpecification"])["StreamViewType"]
                spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
            if logical_id in existing:
                description = dynamodb.describe_table(TableName=logical_id)["Table"]
            else:
                description = dynamodb.create_table(TableName=logical_id, **spec)["TableDescription"]
            template.physical[logical_id] = {
                "Ref": logical_id,
                "Arn": f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{logical_id}",
            }
            if "LatestStreamArn" in description:
                template.physical[logical_id]["StreamArn"] = description["LatestStreamArn"]

    def _provision_events(self, template: Template, region: str) -> None:
        """The template's event buses and the rules on them, with their SQS targets (moto delivers a matching
        PutEvents entry to its target queue, as EventBridge does). A partner event source cannot exist locally:
        the bus is EventBusName (EVENT_BUS_NAME), and `put-events` with Event Relay's source stands in for it."""
        import boto3

        events = boto3.client("events", region_name=region, endpoint_url=self.endpoint)
        sqs = boto3.client("sqs", region_name=region, endpoint_url=self.endpoint)
        # An API destination cannot call out of moto: its rule's target is a queue of the same name instead,
        # which local_runtime.api_destinations delivers from as EventBridge would (endpoint, key, retries, DLQ).
        for logical_id, props in template.of_type("AWS::Events::ApiDestination").items():
            url = sqs.create_queue(QueueName=logical_id)["QueueUrl"]
            template.physical[logical_id] = {
                "Ref": url,  # locally it is that queue
                "Arn": f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{logical_id}",
                "QueueUrl": url,
                "Endpoint": str(template.resolve(props["InvocationEndpoint"])),
            }
        for logical_id in template.of_type("AWS::Events::Connection"):
            arn = f"arn:aws:events:{region}:{ACCOUNT_ID}:connection/{logical_id}"
            template.physical[logical_id] = {"Ref": logical_id, "Arn": arn}
        for logical_id, props in template.of_type("AWS::Events::EventBus").items():
            name = str(template.resolve(props["Name"]))
            if "/" in name:  # a partner event source's bus: only Salesforce can create its source
                name = template.parameters["EventBusName"]
            if name not in {b["Name"] for b in events.list_event_buses()["EventBuses"]}:
                events.create_event_bus(Name=name)
            arn = f"arn:aws:events:{region}:{ACCOUNT_ID}:event-bus/{name}"
            template.physical[logical_id] = {"Ref": name, "Arn": arn, "Name": name}
        for logical_id, props in template.of_type("AWS::Events::Rule").items():
            bus = template.resolve(props["EventBusName"])
            rule_arn = events.put_rule(
                Name=logical_id,
                EventBusName=bus,
                EventPattern=json.dumps(template.resolve(props["EventPattern"])),
                State="ENABLED",
            )["RuleArn"]
            targets = [{"Id": t["Id"], "Arn": template.resolve(t["Arn"])} for t in props.get("Targets", [])]
            events.put_targets(Rule=logical_id, EventBusName=bus, Targets=targets)
            template.physical[logical_id] = {"Ref": logical_id, "Arn": rule_arn}

    def _provision_state_machines(self, template: Template, region: str) -> None:
        """The template's workflows, their definition file with its substitutions, on moto's Step Functions
        (which runs them: moto_process.py); named by logical id."""
        import boto3

        sfn = boto3.client("stepfunctions", region_name=region, endpoint_url=self.endpoint)
        existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
        for logical_id, props in template.of_type("AWS::Serverless::StateMachine").items():
            definition = (template.root / props["DefinitionUri"]).read_text(encoding="utf-8")
            for name, value in (template.resolve(props.get("DefinitionSubstitutions")) or {}).items():
                definition = definition.replace("${" + name + "}", str(value))
            role = f"arn:aws:iam::{ACCOUNT_ID}:role/{logical_id}"
            if logical_id in existing:
                sfn.update_state_machine(stateMachineArn=existing[logical_id], definition=definition, roleArn=role)
                arn = existing[logical_id]
            else:
                kind: Any = str(template.resolve(props.get("Type")) or "STANDARD")
                arn = sfn.create_state_machine(name=logical_id, definition=definition, roleArn=role, type=kind)[
                    "stateMachineArn"
                ]
            template.physical[logical_id] = {"Ref": arn, "Arn": arn, "Name": logical_id}


_TABLE_KEYS = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
_QUEUE_KEYS = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds")


def _queue_attributes(template: Template, props: dict[str, Any]) -> dict[str, str]:
    attributes = {k: str(template.resolve(props[k])) for k in _QUEUE_KEYS if k in props}
    if "RedrivePolicy" in props:
        policy = template.resolve(props["RedrivePolicy"])
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": policy["deadLetterTargetArn"], "maxReceiveCount": int(policy["maxReceiveCount"])}
        )
    return attributes
