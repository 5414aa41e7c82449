"""template.yaml: least-privilege IAM, the callout API's authentication shapes, and what `make run` derives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local_runtime.template import Template

TEMPLATE = Template()
RESOURCES = TEMPLATE.resources


def statements(function: str) -> list[dict[str, Any]]:
    return [
        s
        for policy in RESOURCES[function]["Properties"]["Policies"]
        if "Statement" in policy
        for s in policy["Statement"]
    ]


@pytest.mark.parametrize(
    "function",
    [
        "NotificationWorkerFunction",
        "CalloutFunction",
        "CalloutTokenFunction",
        "ODataFeedFunction",
        "SalesforceWriteBackFunction",
    ],
)
def test_statements_name_their_actions_and_resources(function: str) -> None:
    for statement in statements(function):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in str(a) for a in actions), statement
        assert statement["Resource"] != "*", statement


def test_callouts_only_read_the_order_system() -> None:
    for function in ("CalloutFunction", "CalloutTokenFunction"):
        actions = {a for s in statements(function) if s["Sid"] == "ReadOrderSystem" for a in s["Action"]}
        assert actions == {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}


def test_listener_may_only_send_to_its_queue_read_its_secret_and_store_large_payloads() -> None:
    policies = RESOURCES["OutboundListenerFunction"]["Properties"]["Policies"]
    assert [next(iter(p)) for p in policies] == [
        "SQSSendMessagePolicy",
        "Statement",
        "AWSSecretsManagerGetSecretValuePolicy",
    ]
    [statement] = policies[1]["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Allow", ["s3:PutObject"])
    assert statement["Resource"] == {"Fn::Sub": "${LargePayloadBucket.Arn}/notifications/*"}


def test_the_large_payload_bucket_is_private_encrypted_tls_only_and_outlives_the_dead_letter_queue() -> None:
    bucket = RESOURCES["LargePayloadBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    rules = {rule["Prefix"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    retention_days = RESOURCES["NotificationDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] / 86400
    assert set(rules) == {"notifications/", "sync/"}
    assert all(rule["Status"] == "Enabled" for rule in rules.values())
    assert rules["notifications/"]["ExpirationInDays"] > retention_days  # a redriven claim check finds its payload
    assert rules["sync/"]["ExpirationInDays"] == 7  # pages an abandoned sync left: Salesforce keeps a job 7 days
    [deny] = RESOURCES["LargePayloadBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": False}})


def test_iam_callout_api_requires_sigv4() -> None:
    auth = RESOURCES["CalloutApi"]["Properties"]["Auth"]
    assert auth == {"DefaultAuthorizer": "AWS_IAM", "InvokeRole": "NONE"}
    assert "Auth" not in RESOURCES["CalloutTokenApi"]["Properties"]  # the function checks the key or the JWT


@pytest.mark.parametrize(
    ("mode", "active", "inactive"),
    [
        ("IAM", "CalloutFunction", "CalloutTokenFunction"),
        ("ApiKey", "CalloutTokenFunction", "CalloutFunction"),
        ("Jwt", "CalloutTokenFunction", "CalloutFunction"),
    ],
)
def test_one_callout_shape_per_mode(monkeypatch: pytest.MonkeyPatch, mode: str, active: str, inactive: str) -> None:
    monkeypatch.setenv("CALLOUT_AUTH", mode)
    functions = {f.logical_id: f for f in Template().functions()}
    assert active in functions
    assert inactive not in functions
    assert functions[active].environment["CALLOUT_AUTH"] == mode


def test_routes_come_from_the_template() -> None:
    routes = {(r.method, r.path) for r in TEMPLATE.routes()}
    assert ("POST", "/outbound/{listener}") in routes
    assert ("ANY", "/api/v1/{proxy+}") in routes
    route = next(r for r in TEMPLATE.routes() if r.path == "/outbound/{listener}")
    assert route.match("POST", "/outbound/opportunity") == {"listener": "opportunity"}
    assert route.match("GET", "/outbound/opportunity") is None
    # A greedy path takes any character, as API Gateway routes it (a fuzzer's line break is a 4xx from the function,
    # not "Missing Authentication Token").
    proxy = next(r for r in TEMPLATE.routes() if r.path == "/api/v1/{proxy+}")
    assert proxy.match("GET", "/api/v1/accounts/e3\nO\x1a/credit") == {"proxy": "accounts/e3\nO\x1a/credit"}
    assert route.match("POST", "/outbound/opportunity\n") == {"listener": "opportunity\n"}


def test_write_back_may_only_update_its_ledger_dead_letter_read_the_key_and_hand_a_backlog_on() -> None:
    from sf_edge.salesforce.rest_client import MAX_COLLECTION_RECORDS

    function = RESOURCES["SalesforceWriteBackFunction"]["Properties"]
    ledger, dead_letters, key = function["Policies"]
    assert ledger["Statement"] == [
        {
            "Sid": "Ledger",
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": {"Fn::GetAtt": ["WriteBackLedgerTable", "Arn"]},
        },
        {
            "Sid": "Backlog",
            "Effect": "Allow",
            "Action": ["sqs:GetQueueAttributes"],
            "Resource": {"Fn::GetAtt": ["WriteBackQueue", "Arn"]},
        },
        {
            "Sid": "StartTheBulkWriteBack",
            "Effect": "Allow",
            "Action": ["states:StartExecution"],
            "Resource": {"Ref": "BulkWriteBackStateMachine"},
        },
    ]
    assert dead_letters == {
        "SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["WriteBackDeadLetterQueue", "QueueName"]}}
    }
    condition, granted, otherwise = key["Fn::If"]
    assert condition == "HasSalesforceKeySecret"
    assert granted == {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "SalesforcePrivateKeySecretArn"}}}
    assert otherwise == {"Ref": "AWS::NoValue"}
    worker = RESOURCES["NotificationWorkerFunction"]["Properties"]["Policies"]
    assert {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["WriteBackQueue", "QueueName"]}}} in worker
    mapping = function["Events"]["WriteBacks"]["Properties"]
    assert mapping["BatchSize"] == MAX_COLLECTION_RECORDS  # one Collections call per full batch
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = RESOURCES["WriteBackQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["WriteBackDeadLetterQueue", "Arn"]}
    alarm = RESOURCES["WriteBackDeadLetterAlarm"]["Properties"]
    assert json.dumps(alarm["Dimensions"]).count("WriteBackDeadLetterQueue") == 1


def test_relayed_events_reach_the_worker_only_from_the_rule_and_only_from_salesforce() -> None:
    rule = RESOURCES["RelayedEventsRule"]["Properties"]
    assert rule["EventBusName"] == {"Ref": "SalesforceEventBus"}
    condition, exact, prefix = rule["EventPattern"]["source"]["Fn::If"]
    assert (condition, exact, prefix) == (
        "HasPartnerEventSource",
        [{"Ref": "SalesforceEventSourceName"}],
        [{"prefix": "aws.partner/salesforce.com"}],
    )
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["RelayedEventQueue", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["RelayedEventDeadLetterQueue", "Arn"]}
    [statement] = RESOURCES["RelayedEventQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["RelayedEventsRule", "Arn"]}}}
    bus = RESOURCES["SalesforceEventBus"]["Properties"]
    assert bus["EventSourceName"]["Fn::If"][0] == "HasPartnerEventSource"
    worker = RESOURCES["NotificationWorkerFunction"]["Properties"]
    queues = [e["Properties"]["Queue"] for e in worker["Events"].values()]
    assert {"Fn::GetAtt": ["RelayedEventQueue", "Arn"]} in queues
    alarm = RESOURCES["RelayedEventDeadLetterAlarm"]["Properties"]
    assert json.dumps(alarm["Dimensions"]).count("RelayedEventDeadLetterQueue") == 1


def test_dead_letter_queue_is_alarmed() -> None:
    alarm = RESOURCES["DeadLetterQueueAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert json.dumps(alarm["Dimensions"]).count("NotificationDeadLetterQueue") == 1
    redrive = RESOURCES["NotificationQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}


def test_odata_writes_are_granted_only_when_writable() -> None:
    policies = RESOURCES["ODataFeedFunction"]["Properties"]["Policies"]
    conditional = [p["Fn::If"] for p in policies if "Fn::If" in p]
    writable = next(branch for branch in conditional if branch[0] == "ODataIsWritable")
    actions = writable[1]["Statement"][0]["Action"]
    assert actions == ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    assert writable[2] == {"Ref": "AWS::NoValue"}
    read = next(s for s in statements("ODataFeedFunction") if s["Sid"] == "ReadOrderSystem")
    assert read["Action"] == ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan"]


def test_a_deployed_feed_is_read_only_unless_asked_and_writes_need_the_csrf_handshake(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Secure by default: no write permission unless ODataWritable=true, and then CSRF is always on."""
    import yaml

    from local_runtime.template import TEMPLATE_PATH

    monkeypatch.delenv("ODATA_WRITABLE", raising=False)  # as `sam deploy` sees it, not as a local run sets it

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    parameters = yaml.load(TEMPLATE_PATH.read_text(encoding="utf-8"), Loader=Loader)["Parameters"]  # noqa: S506
    assert parameters["ODataWritable"]["Default"] == "false"
    assert "ODataCsrf" not in parameters  # no way to have writes without the handshake
    environment = RESOURCES["ODataFeedFunction"]["Properties"]["Environment"]["Variables"]
    assert environment["ODATA_CSRF"] == {"Ref": "ODataWritable"}
    assert Template(path=TEMPLATE_PATH).conditions["ODataIsWritable"] is False


def _alarms() -> list[dict[str, Any]]:
    """The alarms on one metric (those on a metric expression are checked on their own)."""
    return [r for r in RESOURCES.values() if r["Type"] == "AWS::CloudWatch::Alarm" and "Metrics" not in r["Properties"]]


def _watched(alarm: dict[str, Any]) -> tuple[str, str, Any]:
    properties = alarm["Properties"]
    [dimension, *_] = properties["Dimensions"]
    return properties["Namespace"], properties["MetricName"], dimension["Value"]


def test_every_function_has_error_and_throttle_alarms_every_api_a_5xx_alarm() -> None:
    watched = [_watched(a) for a in _alarms()]
    functions = [k for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"]
    for function in functions:
        for metric in ("Errors", "Throttles"):
            [alarm] = [a for a in _alarms() if _watched(a) == ("AWS/Lambda", metric, {"Ref": function})]
            assert alarm.get("Condition") == RESOURCES[function].get("Condition"), function  # exists when it does
    assert ("AWS/ApiGateway", "5xx", {"Ref": "ODataApi"}) in watched
    # Every SOAP Fault is a 500, so the listener's alarm reads its own count of Server Faults.
    assert ("SalesforceIntegrationEdge", "ServerFaults", "outbound_listener") in watched
    assert ("AWS/ApiGateway", "5XXError", {"Fn::Sub": "${AWS::StackName}-callouts"}) in watched
    for queue in ("NotificationDeadLetterQueue", "ODataIndexerDeadLetterQueue"):
        queue_name = {"Fn::GetAtt": [queue, "QueueName"]}
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", queue_name) in watched
        assert ("AWS/SQS", "ApproximateAgeOfOldestMessage", queue_name) in watched


def test_apis_write_access_logs_without_query_strings_and_state_tables_keep_their_history() -> None:
    for name, resource in RESOURCES.items():
        if resource["Type"] == "AWS::Serverless::Api":
            setting = resource["Properties"]["AccessLogSetting"]
        elif resource["Type"] == "AWS::Serverless::HttpApi":
            setting = resource["Properties"]["AccessLogSettings"]
        else:
            continue
        assert "DestinationArn" in setting, name
        logged = json.loads(setting["Format"])
        assert logged["path"] == "$context.path", name  # the path alone: Outbound Message URLs carry a token
        assert not any("querystring" in value.lower() for value in logged.values()), name
    for table in ("IdempotencyTable", "NotificationArchiveTable", "KeyRegistryTable", "OrdersTable"):
        recovery = RESOURCES[table]["Properties"]["PointInTimeRecoverySpecification"]
        assert recovery == {"PointInTimeRecoveryEnabled": True}, table


def test_a_bulk_sync_that_fails_times_out_or_is_aborted_alarms_and_it_is_scheduled_only_with_an_org() -> None:
    alarm = RESOURCES["BulkSyncFailedAlarm"]["Properties"]
    watched = {
        m["MetricStat"]["Metric"]["MetricName"]: m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]
        for m in alarm["Metrics"]
        if "MetricStat" in m
    }
    state_machine = {"Ref": "BulkSyncStateMachine"}
    assert watched == dict.fromkeys(("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"), state_machine)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    schedule = RESOURCES["BulkSyncSchedule"]
    assert (schedule["Condition"], RESOURCES["BulkSyncScheduleRole"]["Condition"]) == ("HasSalesforce", "HasSalesforce")
    assert schedule["Properties"]["ScheduleExpression"] == {"Ref": "SyncSchedule"}
    assert TEMPLATE.doc["Parameters"]["SyncSchedule"]["Default"] == "rate(1 hour)"
    [start] = RESOURCES["BulkSyncScheduleRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert (start["Action"], start["Resource"]) == ("states:StartExecution", state_machine)
