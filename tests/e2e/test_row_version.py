"""One version per row across every writer: a change the worker applies (here a relayed Change Data Capture
event) moves the row's ETag, so a Salesforce Connect write made with the ETag read before it is refused instead
of putting the old values back; and a write through the feed moves the version the worker's merge checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import ROOT, serving, wait_for
from local_runtime.aws_local import LocalAws
from local_runtime.stack import LocalStack
from test_odata_feed import get, send

SAMPLES = {p.stem: json.loads(p.read_text()) for p in (ROOT / "events" / "samples" / "event_relay").glob("*.json")}


@pytest.fixture
def server(local_aws: LocalAws) -> Iterator[LocalStack]:
    with serving(local_aws, worker=True) as stack:
        yield stack


def relay(server: LocalStack, event: dict[str, Any]) -> None:
    """Put an event on the bus as Event Relay does; moto's rule hands it to the relayed-event queue."""
    import boto3

    entry = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "EventBusName": server.physical("SalesforceEventBus"),
    }
    assert boto3.client("events").put_events(Entries=[entry])["FailedEntryCount"] == 0  # type: ignore[list-item]


def test_a_relayed_change_moves_the_etag_and_a_stale_write_is_refused(server: LocalStack) -> None:
    status, headers, row = get(server, "/Customers('BLAUS')")
    assert (status, headers["ETag"], row["Phone"]) == (200, 'W/"0"', "0621-08460")  # seeded, never written

    relay(server, SAMPLES["account_create"])
    relay(server, SAMPLES["account_update"])  # Phone 0621-08461, City Heidelberg
    wait_for(lambda: get(server, "/Customers('BLAUS')")[2]["Phone"] == "0621-08461")
    headers = get(server, "/Customers('BLAUS')")[1]
    assert headers["ETag"] == 'W/"2"'  # the CREATE's merge, then the UPDATE's

    # Salesforce Connect saves an edit made on the page it loaded before the change: refused, the change kept.
    status, _, error = send(server, "PATCH", "/Customers('BLAUS')", {"Phone": "0621-08460"}, {"If-Match": 'W/"0"'})
    assert (status, error["error"]["code"]) == (412, "PreconditionFailed")
    assert get(server, "/Customers('BLAUS')")[2]["Phone"] == "0621-08461"

    # Read again, edit again: accepted, and the version moves on from the worker's.
    fresh = {"If-Match": headers["ETag"]}
    status, after, _ = send(server, "PATCH", "/Customers('BLAUS')", {"Fax": "0621-00000"}, fresh)
    assert status == 204
    assert int(after["ETag"].strip('W/"')) == int(headers["ETag"].strip('W/"')) + 1
