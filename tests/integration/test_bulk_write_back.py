"""The bulk write-back against the Bulk API stand-in (tests/bulk_api_stand_in.py, from Salesforce's documented
requests and responses) and moto: a backlog at the threshold parks write-backs instead of sending them by
Collections; the workflow's steps send them as ingest jobs and join every row's outcome back to the ledger by its
key, whatever order Salesforce returns them in: saved, refused for good (dead-lettered with Salesforce's
reason), a locked row (a later job), a job that stopped half way (its unprocessed rows a later job), a row no
result named (a later job), a newer write-back that arrived meanwhile (left alone), more than a job holds (split)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bulk_api_stand_in import BulkApiStandIn
from conftest import Stack
from salesforce_stand_in import key_pair
from sf_edge.aws.write_back_store import DynamoDbWriteBackLedger, SqsWriteBackQueue
from sf_edge.salesforce.ids import to_18
from sf_edge.write_back.bulk_delivery import BulkWriteBack
from sf_edge.write_back.delivery import Queued, WriteBackDelivery
from sf_edge.write_back.messages import WriteBack

PRIVATE_KEY, PUBLIC_KEY = key_pair()
USER = "integration@northwind.example"
OPPS = [to_18(f"0065g0000BuLk{n:02d}") for n in range(12)]
GROUP = "Opportunity/Id"


@pytest.fixture
def org() -> Iterator[BulkApiStandIn]:
    stand_in = BulkApiStandIn(PUBLIC_KEY, polls_to_complete=1).start()
    for opportunity in OPPS[:10]:  # the last two do not exist in the org
        stand_in.record("Opportunity", opportunity, ERP_Order_Id__c=None, Integration_Status__c=None,
                        Integration_Message__c="was set")  # fmt: skip
    yield stand_in
    stand_in.stop()


def synced(n: int, stamp: str = "2026-12-01T10:00:00.000000+00:00") -> WriteBack:
    fields = {"ERP_Order_Id__c": str(11078 + n), "Integration_Status__c": "Synced", "Integration_Message__c": None}
    return WriteBack(sobject="Opportunity", record_id=OPPS[n], fields=fields, stamp=stamp)


def ledger(stack: Stack) -> DynamoDbWriteBackLedger:
    return DynamoDbWriteBackLedger(stack.table("WriteBackLedgerTable"))


def park(stack: Stack, *write_backs: WriteBack) -> None:
    for write_back in write_backs:
        assert ledger(stack).claim(write_back)
        assert ledger(stack).park(write_back)


def status(stack: Stack, n: int) -> dict[str, Any]:
    return stack.table("WriteBackLedgerTable").get_item(Key={"RecordKey": f"{GROUP}/{OPPS[n]}"})["Item"]


def steps(stack: Stack, org: BulkApiStandIn, **settings: Any) -> BulkWriteBack:
    import bulk_write_back

    return bulk_write_back.bulk_write_back.configure(
        bulk_write_back.BulkWriteBackSettings.from_env(),
        **org.sign_in(PRIVATE_KEY, USER),
        **settings,
    )


def run(sender: BulkWriteBack) -> dict[str, Any]:
    """The workflow's loop (statemachine/bulk_write_back.asl.json), without its waits."""
    state: dict[str, Any] = {"group": GROUP}
    for _ in range(200):
        match state.get("state", "begin"):
            case "begin":
                state = sender.begin(state)
            case "sending":
                state = sender.poll(state)
            case "joining":
                state = sender.join(state)
            case "done":
                return state
    raise AssertionError("the bulk write-back never finished")


def dead_letters(stack: Stack) -> list[tuple[str, str]]:
    return [
        (json.loads(m["Body"])["record_id"], m["MessageAttributes"]["Reason"]["StringValue"])
        for m in stack.drain(stack.name("WriteBackDeadLetterQueue"))
    ]


# Parking.


class Backlog:
    """The hand-off, with the queue's depth given."""

    def __init__(self, depth: int, threshold: int = 5) -> None:
        self.depth, self.threshold, self.started = depth, threshold, []  # type: ignore[var-annotated]

    def backlog(self) -> int:
        return int(self.depth)

    def start(self, group: str) -> None:
        self.started.append(group)


def test_a_backlog_at_the_threshold_is_parked_for_a_bulk_job_and_below_it_goes_by_collections(
    stack: Stack, org: BulkApiStandIn
) -> None:
    import salesforce_write_back

    delivery = salesforce_write_back.delivery.configure(
        salesforce_write_back.WriteBackSettings.from_env(),
        **org.sign_in(PRIVATE_KEY, USER),
    )
    assert isinstance(delivery, WriteBackDelivery)
    delivery.bulk = Backlog(depth=2)
    outcome = delivery.deliver([Queued(f"m{n}", synced(n)) for n in range(3)])  # 2 waiting + 3 here = 5
    assert (outcome.parked, outcome.sent, delivery.bulk.started) == (3, 0, [GROUP])
    parked = list(ledger(stack).parked(GROUP))
    assert sorted(p.record_id for p in parked) == OPPS[:3]
    assert org.api_calls == []  # nothing sent yet
    delivery.bulk = Backlog(depth=0)
    outcome = delivery.deliver([Queued("m9", synced(9))])
    assert (outcome.parked, outcome.sent) == (0, 1)
    assert [path for _, path, _ in org.api_calls] == ["/services/data/v65.0/composite/sobjects"]


def test_the_same_fields_sent_again_change_nothing_in_the_ledger(stack: Stack) -> None:
    """A redelivered notification, or the bulk sync reading back the Opportunity our write-back changed, plans the
    same write-back again: once sent, it is not claimed (no send, and the record's stamp does not move)."""
    first = synced(1, "2026-12-01T10:00:00.000000+00:00")
    assert ledger(stack).claim(first)
    ledger(stack).settle(first, "sent", "006...")
    assert not ledger(stack).claim(synced(1, "2026-12-02T10:00:00.000000+00:00"))
    assert status(stack, 1)["Stamp"] == first.stamp
    other = synced(1, "2026-12-03T10:00:00.000000+00:00").model_copy(
        update={"fields": {"Integration_Status__c": "Failed"}}
    )
    assert ledger(stack).claim(other)  # something else to say: claimed


# The jobs.


def test_every_row_is_joined_back_by_its_key_whatever_order_salesforce_answers_in(
    stack: Stack, org: BulkApiStandIn
) -> None:
    org.reject[("Opportunity", OPPS[3])] = ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Closed deals are locked")
    org.lock_once.add(("Opportunity", OPPS[4]))
    park(stack, *[synced(n) for n in (0, 1, 2, 3, 4, 10)])
    state = run(steps(stack, org))
    first, second = state["reports"]
    assert (first["sent"], first["rejected"], first["retried"]) == (3, 2, 1)  # 10: no such record in the org
    assert (second["sent"], second["rejected"]) == (1, 0)  # the locked row, in the next job
    assert [status(stack, n)["Status"] for n in (0, 1, 2, 3, 4, 10)] == [
        "sent",
        "sent",
        "sent",
        "rejected",
        "sent",
        "rejected",
    ]
    assert status(stack, 3)["Detail"].startswith("FIELD_CUSTOM_VALIDATION_EXCEPTION:Closed deals are locked")
    reasons = dict(dead_letters(stack))
    assert set(reasons) == {OPPS[3], OPPS[10]}
    assert reasons[OPPS[10]].startswith("INVALID_CROSS_REFERENCE_KEY")
    assert org.records[("Opportunity", OPPS[4])]["ERP_Order_Id__c"] == "11082"
    assert org.records[("Opportunity", OPPS[0])]["Integration_Message__c"] is None  # #N/A: set to null
    assert list(ledger(stack).parked(GROUP)) == []
    jobs = [j for j in org.jobs.values() if j.kind == "ingest"]
    assert [len(j.header) for j in jobs] == [4, 4]  # Id and the three fields the rules may set
    assert jobs[0].header[0] == "Id"


def test_a_job_that_stops_half_way_hands_its_unprocessed_rows_to_the_next(stack: Stack, org: BulkApiStandIn) -> None:
    org.next_outcomes = ["Failed"]
    park(stack, *[synced(n) for n in range(6)])
    state = run(steps(stack, org))
    first, second = state["reports"]
    assert (first["state"], first["sent"], first["unprocessed"]) == ("Failed", 3, 3)
    assert (second["state"], second["sent"]) == ("JobComplete", 3)
    assert all(status(stack, n)["Status"] == "sent" for n in range(6))


def test_a_row_no_result_names_goes_to_the_next_job(stack: Stack, org: BulkApiStandIn) -> None:
    org.lose_results.add(OPPS[2])
    park(stack, *[synced(n) for n in range(3)])
    sender = steps(stack, org)
    state = sender.join(sender.poll(sender.poll(sender.begin({"group": GROUP}))))
    assert (state["reports"][0]["sent"], state["reports"][0]["unanswered"]) == (2, 1)
    assert [p.record_id for p in ledger(stack).parked(GROUP)] == [OPPS[2]]
    assert status(stack, 2)["BulkAttempts"] == 1


def test_a_newer_write_back_claimed_while_its_record_is_in_a_job_is_left_alone(
    stack: Stack, org: BulkApiStandIn
) -> None:
    park(stack, synced(0))
    sender = steps(stack, org)
    state = sender.poll(sender.poll(sender.begin({"group": GROUP})))
    newer = synced(0, "2026-12-02T10:00:00.000000+00:00").model_copy(
        update={"fields": {"Integration_Status__c": "Failed"}}
    )
    assert ledger(stack).claim(newer)
    state = sender.join(state)
    assert state["reports"][0]["sent"] == 0
    assert (status(stack, 0)["Status"], status(stack, 0)["Stamp"]) == ("pending", newer.stamp)


def test_more_than_a_job_holds_goes_in_several_each_within_the_limit(stack: Stack, org: BulkApiStandIn) -> None:
    park(stack, *[synced(n) for n in range(10)])
    sender = steps(stack, org)
    sender.max_upload_bytes = 400  # below the setting's floor: about five rows a job
    state = run(sender)
    jobs = [j for j in org.jobs.values() if j.kind == "ingest"]
    assert len(jobs) >= 2
    assert all(len(j.upload) <= 400 for j in jobs)
    assert sum(r["sent"] for r in state["reports"]) == 10
    assert sum(len(j.successful) for j in jobs) == 10


def test_a_row_still_locked_after_its_attempts_is_dead_lettered_saying_so(stack: Stack, org: BulkApiStandIn) -> None:
    park(stack, synced(5))
    stack.table("WriteBackLedgerTable").update_item(
        Key={"RecordKey": f"{GROUP}/{OPPS[5]}"},
        UpdateExpression="SET BulkAttempts = :n, Detail = :d",
        ExpressionAttributeValues={":n": 5, ":d": "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access:--"},
    )
    state = run(steps(stack, org))
    assert state["reports"] == []
    [(record, reason)] = dead_letters(stack)
    assert (record, status(stack, 5)["Status"]) == (OPPS[5], "rejected")
    assert reason.startswith("still not saved after 5 Bulk API jobs: UNABLE_TO_LOCK_ROW")
    assert [j for j in org.jobs.values() if j.kind == "ingest"] == []


def test_the_dead_letter_queue_adapter_is_the_write_backs(stack: Stack) -> None:
    """Rejected bulk rows go where the Collections path's go: WriteBackDeadLetterQueue, reason as an attribute."""
    queue = SqsWriteBackQueue(stack.name("WriteBackDeadLetterQueue"))
    queue.send(synced(1), "FIELD_INTEGRITY_EXCEPTION: bad")
    assert dead_letters(stack) == [(OPPS[1], "FIELD_INTEGRITY_EXCEPTION: bad")]


def test_a_rule_on_an_external_id_upserts_on_it_and_joins_by_it(stack: Stack, org: BulkApiStandIn) -> None:
    """An External ID field keys the job and the join: rows created and updated come back by their ERP key."""
    org.schemas["Opportunity"].add("ERP_Key__c")
    org.record("Opportunity", "ERP-0002", ERP_Key__c="ERP-0002", Integration_Status__c=None)
    write_backs = [
        WriteBack(sobject="Opportunity", record_id=f"ERP-000{n}", external_id_field="ERP_Key__c",
                  fields={"Integration_Status__c": "Synced"}, stamp="2026-12-01T10:00:00.000000+00:00")
        for n in (1, 2, 3)
    ]  # fmt: skip
    org.reject[("Opportunity", "ERP-0003")] = ("DUPLICATE_EXTERNAL_ID", "more than one record has this key")
    for write_back in write_backs:
        assert ledger(stack).claim(write_back)
        assert ledger(stack).park(write_back)
    sender = steps(stack, org)
    state: dict[str, Any] = {"group": "Opportunity/ERP_Key__c"}
    while state.get("state") != "done":
        state = {"begin": sender.begin, "sending": sender.poll, "joining": sender.join}[state.get("state", "begin")](
            state
        )
    [job] = [j for j in org.jobs.values() if j.kind == "ingest"]
    assert (job.external_id, job.header[0]) == ("ERP_Key__c", "ERP_Key__c")
    created = {r["ERP_Key__c"]: r["sf__Created"] for r in job.successful}
    assert created == {"ERP-0001": "true", "ERP-0002": "false"}
    table = stack.table("WriteBackLedgerTable")
    statuses = {
        n: table.get_item(Key={"RecordKey": f"Opportunity/ERP_Key__c/ERP-000{n}"})["Item"]["Status"] for n in (1, 2, 3)
    }
    assert statuses == {1: "sent", 2: "sent", 3: "rejected"}
    assert [record for record, _ in dead_letters(stack)] == ["ERP-0003"]
