"""boto3 clients and resources created once per container, with timeouts that suit a synchronous endpoint."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient, DynamoDBServiceResource
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient


def client_config() -> Any:
    """Timeouts and retries that suit a synchronous endpoint (shared by every client)."""
    from botocore.config import Config

    return Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"mode": "standard", "max_attempts": 3},
        max_pool_connections=16,
    )


@cache
def sqs_client() -> SQSClient:
    """The container's SQS client (honours AWS_ENDPOINT_URL, which the local runtime sets)."""
    import boto3

    return boto3.client("sqs", config=client_config())


@cache
def dynamodb() -> DynamoDBServiceResource:
    """The container's DynamoDB resource."""
    import boto3

    return boto3.resource("dynamodb", config=client_config())


@cache
def dynamodb_client() -> DynamoDBClient:
    """The container's low-level DynamoDB client (thread-safe: parallel reads share it); its reads are parsed by
    orjson rather than walked attribute by attribute (sf_edge.aws.dynamodb_wire)."""
    import boto3

    from sf_edge.aws.dynamodb_wire import fast_reads_session

    return boto3.Session(botocore_session=fast_reads_session()).client("dynamodb", config=client_config())


@cache
def s3_client() -> S3Client:
    """The container's S3 client, made on the first large payload only (most messages never need one)."""
    import boto3

    return boto3.client("s3", config=client_config())


@cache
def stepfunctions_client() -> SFNClient:
    """The container's Step Functions client (the write-back function starts the bulk write-back with it)."""
    import boto3

    return boto3.client("stepfunctions", config=client_config())


@cache
def events_client() -> Any:
    """The container's EventBridge client (the worker publishes accepted changes on the hub's bus)."""
    import boto3

    return boto3.client("events", config=client_config())


def reset() -> None:
    """Forget cached clients (tests switch endpoints between cases)."""
    events_client.cache_clear()
    stepfunctions_client.cache_clear()
    sqs_client.cache_clear()
    s3_client.cache_clear()
    dynamodb.cache_clear()
    dynamodb_client.cache_clear()
