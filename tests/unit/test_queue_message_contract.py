"""One queue message contract: the listener's fast JSON is the NotificationMessage model's own, byte for byte, and a
version 1 body (queued before an upgrade, or redriven from the dead-letter queue after one) is still read."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sf_edge.salesforce.notification_message import (
    SCHEMA_VERSION,
    BulkSyncOrigin,
    NotificationMessage,
    OutboundOrigin,
    RelayOrigin,
)
from sf_edge.salesforce.outbound_messages import QUEUE_SCHEMA_VERSION, OutboundMessage

V1_BODIES = json.loads((Path(__file__).parent / "data" / "queue_message_v1.json").read_text())
SALESFORCE_ID = st.from_regex(r"\A[A-Za-z0-9]{15}([A-Za-z0-9]{3})?\Z")
# What zeep hands the listener for the XSD types an Outbound Message uses, and the text of fields a WSDL lacks.
FIELD_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-8)), timezone(timedelta(hours=14))])),
    st.times(),
    st.text(),
)
NOTIFICATION = st.fixed_dictionaries(
    {
        "id": SALESFORCE_ID,
        "sobject_type": st.sampled_from(["Account", "Opportunity", "Contact", "Invoice__c"]),
        "record_id": SALESFORCE_ID,
        "fields": st.dictionaries(st.from_regex(r"\A[A-Za-z][A-Za-z0-9_]{0,39}\Z"), FIELD_VALUE, max_size=8),
        "null_fields": st.lists(st.from_regex(r"\A[A-Za-z]\w{0,20}\Z"), max_size=3),
        "unknown_fields": st.lists(st.from_regex(r"\A[A-Za-z]\w{0,20}\Z"), max_size=3),
    }
)


def outbound_message(notifications: list[dict[str, Any]], session_id: str | None, url: str) -> OutboundMessage:
    return OutboundMessage(
        organization_id="00D5g00000LoCaLEAA",
        action_id="04k000000000001AAA",
        session_id=session_id,
        enterprise_url=url.replace("/u/", "/c/"),
        partner_url=url,
        notifications=notifications,
    )


def the_models_json(
    message: OutboundMessage, listener: str, received: datetime, *, include_session_id: bool
) -> list[str]:
    """What the model writes for the same notifications: the reference the fast path is held to."""
    origin = OutboundOrigin(
        action_id=message.action_id,
        enterprise_url=message.enterprise_url,
        partner_url=message.partner_url,
        session_id=(message.session_id or None) if include_session_id else None,  # an empty SessionId is none
    )
    return [
        NotificationMessage(
            listener=listener,
            organization_id=message.organization_id,
            notification_id=n.id,
            sObjectType=n.sobject_type,
            record_id=n.record_id,
            fields=n.fields,
            null_fields=n.null_fields,
            unknown_fields=n.unknown_fields,
            received_at=received,
            origin=origin,
        ).to_json()
        for n in message.notifications
    ]


@settings(max_examples=300, deadline=None)
@given(
    notifications=st.lists(NOTIFICATION, min_size=1, max_size=5),
    session_id=st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=40)),
    include_session_id=st.booleans(),
    url=st.sampled_from(["https://example.my.salesforce.com/services/Soap/u/62.0/00D5g", 'https://x/\u00e9/u/"q"']),
    received=st.datetimes(timezones=st.just(UTC)),
)
def test_the_listeners_fast_json_is_the_models_json_byte_for_byte(
    notifications: list[dict[str, Any]],
    session_id: str | None,
    include_session_id: bool,
    url: str,
    received: datetime,
) -> None:
    message = outbound_message(notifications, session_id, url)
    queued = message.queue_messages("opportunity", received, include_session_id=include_session_id)
    expected = the_models_json(message, "opportunity", received, include_session_id=include_session_id)
    assert [q.body for q in queued] == expected
    for q in queued:
        read = NotificationMessage.model_validate_json(q.body)
        assert read.to_json() == q.body  # what the worker reads back, it writes the same
        assert (q.idempotency_key, q.notification_id, q.record_id) == (
            read.idempotency_key,
            read.notification_id,
            read.record_id,
        )


def test_the_fast_path_writes_the_models_schema_version() -> None:
    assert QUEUE_SCHEMA_VERSION == SCHEMA_VERSION == 2


def test_an_outbound_message_carries_only_what_it_has_and_the_session_only_when_opted_in() -> None:
    message = outbound_message(
        [{"id": "04l000000000001AAA", "sobject_type": "Account", "record_id": "001000000000001AAA", "fields": {}}],
        "00D!secret",
        "https://example.my.salesforce.com/services/Soap/u/62.0",
    )
    now = datetime(2026, 12, 3, tzinfo=UTC)
    [plain] = message.queue_messages("account", now, include_session_id=False)
    [opted] = message.queue_messages("account", now, include_session_id=True)
    assert json.loads(plain.body)["origin"] == {
        "kind": "outbound_message",
        "actionId": "04k000000000001AAA",
        "enterpriseUrl": "https://example.my.salesforce.com/services/Soap/c/62.0",
        "partnerUrl": "https://example.my.salesforce.com/services/Soap/u/62.0",
    }
    assert json.loads(opted.body)["origin"]["sessionId"] == "00D!secret"
    kept = NotificationMessage.model_validate_json(opted.body).without_session()
    assert "secret" not in kept.to_json()
    assert set(json.loads(plain.body)) == {
        "schemaVersion", "listener", "organizationId", "notificationId", "sObjectType", "recordId", "fields",
        "nullFields", "unknownFields", "receivedAt", "origin",
    }  # fmt: skip


@pytest.mark.parametrize("body", V1_BODIES, ids=lambda b: str(b["listener"]))
def test_a_version_1_outbound_message_body_is_read_as_version_2(body: dict[str, Any]) -> None:
    read = NotificationMessage.model_validate(body)
    assert isinstance(read.origin, OutboundOrigin)
    assert (read.origin.action_id, read.origin.enterprise_url, read.origin.partner_url) == (
        body["actionId"],
        body["enterpriseUrl"],
        body["partnerUrl"],
    )
    assert read.origin.session_id is None
    assert (read.notification_id, read.record_id, read.fields, read.null_fields) == (
        body["notificationId"],
        body["recordId"],
        body["fields"],
        body["nullFields"],
    )
    assert read.idempotency_key == f"{body['organizationId'][:15]}/{body['notificationId']}"  # same key: not twice
    assert json.loads(read.to_json())["schemaVersion"] == 2
    with_session = NotificationMessage.model_validate_json(json.dumps({**body, "sessionId": "00D!s"}))
    assert isinstance(with_session.origin, OutboundOrigin)
    assert with_session.origin.session_id == "00D!s"


def test_a_version_1_relayed_change_and_bulk_row_become_what_they_are() -> None:
    change = {"changeType": "UPDATE", "entity": "Account", "stamp": "2026-11-20T10:00:00+00:00#000000001",
              "commitTimestamp": 1795683600000, "recordIds": ["001A", "001B"]}  # fmt: skip
    relayed = {**V1_BODIES[0], "listener": "event-relay", "actionId": "5Bo2QANtgKOM2S5bVaTXAg",
               "notificationId": "c1a3f0de/001B", "enterpriseUrl": "", "partnerUrl": "", "change": change}  # fmt: skip
    read = NotificationMessage.model_validate(relayed)
    assert isinstance(read.origin, RelayOrigin)
    assert (read.origin.event_id, read.origin.schema_id) == ("c1a3f0de", "5Bo2QANtgKOM2S5bVaTXAg")
    assert read.change is not None
    assert read.change.record_ids == ["001A", "001B"]
    assert read.relayed
    bulk = {**V1_BODIES[0], "listener": "bulk-sync", "actionId": "", "enterpriseUrl": "", "partnerUrl": ""}
    assert isinstance(NotificationMessage.model_validate(bulk).origin, BulkSyncOrigin)
    assert NotificationMessage.model_validate(bulk).change is None


@pytest.mark.parametrize(
    "change",
    [
        {"schemaVersion": 3},
        {"origin": {"kind": "carrier_pigeon"}},
        {"origin": {"kind": "outbound_message", "actionId": "04k"}},  # no URLs
        {"origin": None},
    ],
)
def test_a_body_of_another_version_or_an_unknown_origin_is_refused(change: dict[str, Any]) -> None:
    body = json.loads(NotificationMessage.model_validate(V1_BODIES[0]).to_json())
    with pytest.raises(ValidationError):
        NotificationMessage.model_validate({**body, **change})


def test_every_field_value_type_survives_the_round_trip_as_json() -> None:
    fields = {"D": date(2026, 1, 2), "T": time(9, 30), "N": Decimal("1.50"), "F": float("nan"), "I": 2**40}
    message = outbound_message(
        [{"id": "04l000000000001AAA", "sobject_type": "Account", "record_id": "001000000000001AAA", "fields": fields}],
        None,
        "https://example.my.salesforce.com/services/Soap/u/62.0",
    )
    [queued] = message.queue_messages("account", datetime(2026, 12, 3, tzinfo=UTC), include_session_id=False)
    assert json.loads(queued.body)["fields"] == {"D": "2026-01-02", "T": "09:30:00", "N": "1.50", "F": "NaN",
                                                 "I": 2**40}  # fmt: skip
