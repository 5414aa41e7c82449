"""An embedded moto server on loopback, with the queues and tables of template.yaml created on it."""

from __future__ import annotations

import json
import os
from typing import Any

from local_runtime.template import Template

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
ACCOUNT_ID = "123456789012"  # moto's default account


class LocalAws:
    """moto's server in a background thread; boto3 in this process is pointed at it through AWS_ENDPOINT_URL."""

    def __init__(self, port: int = 0) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.endpoint = ""

    def start(self) -> str:
        """Start the server and point every boto3 client of this process at it; return its URL."""
        import logging

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request access log
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        os.environ.update(LOCAL_CREDENTIALS)
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint
        return self.endpoint

    def stop(self) -> None:
        """Stop the server."""
        self._server.stop()

    def reset(self) -> None:
        """Forget every queue, table and item (moto's reset API): tests start from an empty account."""
        import urllib.request

        reset = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")  # noqa: S310 - our loopback
        urllib.request.urlopen(reset).close()  # noqa: S310

    def provision(self, template: Template) -> None:
        """Create the template's queues and tables; record their physical ids for resolving references."""
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
        for logical_id, props in template.of_type("AWS::DynamoDB::Table").items():
            spec = {k: template.resolve(v) for k, v in props.items() if k in _TABLE_KEYS}
            existing = dynamodb.list_tables()["TableNames"]
            if logical_id not in existing:
                dynamodb.create_table(TableName=logical_id, **spec)
            template.physical[logical_id] = {
                "Ref": logical_id,
                "Arn": f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{logical_id}",
            }


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
