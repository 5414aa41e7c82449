"""Events as Event Relay puts them on EventBridge, read into notifications: ids, stamps and fields exactly as the
worker's idempotency and per-field merge rely on (no AWS here; tests/integration/test_event_relay.py runs them
through the bus, the queue and the worker)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from conftest import ROOT
from sf_edge.salesforce.relayed_events import RelayedEvent, notifications_of

SAMPLES = ROOT / "events" / "samples" / "event_relay"
RECEIVED = datetime(2026, 11, 20, 10, 0, 2, tzinfo=UTC)


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text("utf-8"))
    return loaded


def read(event: dict[str, Any]) -> list[Any]:
    return notifications_of(RelayedEvent.model_validate(event), received_at=RECEIVED)


def change(event: dict[str, Any], **header: Any) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    changed["detail"]["payload"]["ChangeEventHeader"] |= header
    return changed


def test_a_change_to_one_record_is_keyed_on_the_event_alone() -> None:
    """A replay of the event (a new EventBridge id) must find the same idempotency key."""
    event = sample("account_update")
    [notification] = read(event)
    assert notification.notification_id == event["detail"]["id"]
    assert notification.record_id == "0015g00000BlAuSAAV"


def test_a_change_to_several_records_is_one_notification_each_keyed_on_event_and_record() -> None:
    event = sample("account_multi_update")
    ids = event["detail"]["payload"]["ChangeEventHeader"]["recordIds"]
    assert len(ids) > 1
    assert [(n.notification_id, n.record_id) for n in read(event)] == [(f"{event['detail']['id']}/{i}", i) for i in ids]


def test_the_stamp_is_the_last_modified_date_else_the_system_modstamp_else_the_commit() -> None:
    event = sample("account_update")
    payload = event["detail"]["payload"]
    payload["LastModifiedDate"] = "2026-11-20T10:00:00.000Z"
    payload["SystemModstamp"] = "2026-11-20T10:00:05.000Z"
    assert read(event)[0].change.stamp.startswith("2026-11-20T10:00:00+00:00#")
    payload["LastModifiedDate"] = None
    event = change(event, changedFields=["Phone", "SystemModstamp"])
    assert read(event)[0].change.stamp.startswith("2026-11-20T10:00:05+00:00#")
    payload = event["detail"]["payload"]
    payload["SystemModstamp"] = None
    event = change(event, commitTimestamp=1795168800000)  # epoch milliseconds, as change events carry them
    expected = datetime.fromtimestamp(1795168800, UTC).isoformat()
    assert read(event)[0].change.stamp == f"{expected}#{1:09d}"


def test_changes_of_one_transaction_are_stamped_in_their_sequence() -> None:
    # Same instant: the sequence number orders them; a header without one is the transaction's first change.
    event = sample("account_update")
    event["detail"]["payload"]["LastModifiedDate"] = "2026-11-20T10:00:00.000Z"
    del event["detail"]["payload"]["ChangeEventHeader"]["sequenceNumber"]
    stamps = [read(event)[0].change.stamp] + [read(change(event, sequenceNumber=n))[0].change.stamp for n in (1, 2, 10)]
    assert stamps == ["2026-11-20T10:00:00+00:00#" + f"{n:09d}" for n in (0, 1, 2, 10)]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize(
    ("millis", "iso"),
    [(1795168800000, "2026-11-20T10:00:00+00:00"), (1795168800999, "2026-11-20T10:00:00.999000+00:00")],
)
def test_epoch_milliseconds_become_the_same_instant_the_outbound_message_would_carry(millis: int, iso: str) -> None:
    event = sample("account_update")
    event["detail"]["payload"]["LastModifiedDate"] = millis
    assert read(event)[0].change.stamp.split("#")[0] == iso


def test_a_platform_event_is_keyed_on_its_uuid_and_names_its_schema() -> None:
    event = sample("order_request_event")
    [notification] = read(event)
    payload = event["detail"]["payload"]
    assert notification.record_id == str(payload.get("EventUuid") or event["detail"]["id"])
    assert notification.origin.kind == "event_relay"
    assert notification.origin.schema_id == event["detail"]["schemaId"]
    del event["detail"]["schemaId"]
    event["detail"]["payload"].pop("EventUuid", None)
    [bare] = read(event)
    assert bare.origin.kind == "event_relay"
    assert (bare.origin.schema_id, bare.record_id) == (None, bare.notification_id)


def test_a_compound_address_is_flattened_and_other_values_are_kept_as_sent() -> None:
    event = sample("account_create")
    payload = event["detail"]["payload"]
    payload["BillingAddress"] = {"City": "Mannheim", "Street": "Forsterstr. 57"}
    payload["Preferences__c"] = {"Channel": "Email"}  # not a compound field: kept whole
    [notification] = read(event)
    fields = notification.fields
    assert (fields["BillingCity"], fields["BillingStreet"]) == ("Mannheim", "Forsterstr. 57")
    assert fields["Preferences__c"] == {"Channel": "Email"}
    assert "BillingAddress" not in fields
    assert not any(name.startswith("None") for name in fields)


def test_an_address_sent_as_null_is_a_null_not_a_crash() -> None:
    event = sample("account_create")
    event["detail"]["payload"]["BillingAddress"] = None
    [notification] = read(event)
    assert "BillingAddress" not in notification.fields


@pytest.mark.parametrize(
    ("sent", "stamp"),
    [
        ("2026-11-20T12:00:00.000+02:00", "2026-11-20T10:00:00+00:00"),  # an offset: the same instant in UTC
        ("2026-11-20T10:00:00.000Z", "2026-11-20T10:00:00+00:00"),
        ("2026-11-20T10:00:00", "2026-11-20T10:00:00+00:00"),  # no zone: Salesforce's date-times are UTC
    ],
)
def test_a_stamp_is_the_instant_in_utc_whatever_zone_it_was_written_in(sent: str, stamp: str) -> None:
    event = sample("account_update")
    event["detail"]["payload"]["LastModifiedDate"] = sent
    event = change(event, changedFields=["Phone", "LastModifiedDate"])
    assert read(event)[0].change.stamp.startswith(f"{stamp}#")


def test_an_update_takes_the_changed_fields_only() -> None:
    # Fields sent but not listed as changed are not taken; a changed field sent as null is a nulled field, which
    # the header lists apart (nulledFields), not a value.
    event = sample("account_update")
    payload = event["detail"]["payload"]
    payload |= {"Phone": "555-0100", "Name": "Sent, not changed", "Fax": None}
    event = change(event, changeType="UPDATE", changedFields=["Phone", "Fax"], nulledFields=["Fax"])
    [notification] = read(event)
    assert "Phone" in notification.fields
    assert "Name" not in notification.fields
    assert "Fax" not in notification.fields


def test_without_its_uuid_an_event_is_keyed_on_its_replay_id_then_on_eventbridges_id() -> None:
    """A relayed event is delivered again with a new EventBridge id: the key must come from Salesforce when it can."""
    event = sample("account_update")
    event["detail"].pop("id", None)
    event["detail"]["replayId"] = 12345
    first = read(event)[0].notification_id
    event["id"] = "another-eventbridge-delivery"
    assert read(event)[0].notification_id == first == "replay-12345"
    del event["detail"]["replayId"]
    assert read(event)[0].notification_id == "eventbridge-another-eventbridge-delivery"


def test_only_an_eventbridge_envelope_is_read_as_a_relayed_event() -> None:
    from sf_edge.salesforce.relayed_events import is_relayed_event

    envelope = sample("account_update")
    assert is_relayed_event(envelope)
    for missing in ("detail-type", "detail", "source"):
        assert not is_relayed_event({k: v for k, v in envelope.items() if k != missing}), missing
    assert not is_relayed_event({"notificationId": "04l000000000001AAA", "source": "a listener's message"})
