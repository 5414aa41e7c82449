"""Deliver a batch of queued write-backs to Salesforce in as few sObject Collections calls as it allows.

Per batch: the write-backs of one record are merged (the newest wins); each is claimed in the ledger, which skips
one older than what was already written (write-backs of one record converge whatever order they arrive in);
then the records go out 200 a call. A record Salesforce refuses for good (a validation rule, a missing field) is
dead-lettered with the reason at once; a record it could not lock, and every record of a call that failed after
its retries, is handed back for SQS to retry. With no Salesforce configured the write-backs are recorded in the
ledger (and logged) instead of sent.

When the backlog of write-backs is large (at least `BulkHandOff.threshold` waiting: a full load's Orders, a
burst of won Opportunities), the integration user's write-backs are parked in the ledger instead, and the bulk
write-back workflow sends them as Bulk API 2.0 ingest jobs (sf_edge.write_back.bulk_delivery): one job carries
what hundreds of Collections calls would.

A write-back carrying its Outbound Message's session (a listener with `include_session_id`) calls back as that
session; when Salesforce no longer accepts it, the integration user writes it instead if one is configured, and
otherwise it is dead-lettered saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aws_lambda_powertools import Logger

from sf_edge.salesforce.rest_client import MAX_COLLECTION_RECORDS, SalesforceError, SaveResult
from sf_edge.write_back.messages import RECORDED, REJECTED, SENT, CallbackSession, WriteBack

logger = Logger(child=True)


class Ledger(Protocol):
    def claim(self, write_back: WriteBack) -> bool:
        """Mark the write-back as the record's latest; False when a newer one (or this one, done) is there."""
        ...

    def settle(self, write_back: WriteBack, status: str, detail: str = "") -> None: ...

    def park(self, write_back: WriteBack) -> bool:
        """Leave the claimed write-back for a Bulk API job (False when a newer one claimed the record since)."""
        ...


class BulkHandOff(Protocol):
    """When write-backs go by Bulk API instead (aws.bulk_write_back.BulkWriteBackStarter)."""

    threshold: int

    def backlog(self) -> int:
        """How many write-backs wait in the queue (besides the batch at hand)."""
        ...

    def start(self, group: str) -> None:
        """Have the bulk write-back workflow send the parked write-backs of this group (`<sObject>/<key field>`)."""
        ...


class DeadLetters(Protocol):
    def send(self, write_back: WriteBack, reason: str) -> None: ...


class CollectionsClient(Protocol):
    def update(self, records: Sequence[dict[str, object]]) -> list[SaveResult]: ...

    def upsert(
        self, sobject: str, external_id_field: str, records: Sequence[dict[str, object]]
    ) -> list[SaveResult]: ...


@dataclass
class Delivered:
    """What became of a batch; `retry` holds the SQS message ids to hand back."""

    sent: int = 0
    recorded: int = 0
    rejected: int = 0
    skipped: int = 0
    parked: int = 0
    retry: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Queued:
    message_id: str
    write_back: WriteBack


class WriteBackDelivery:
    """Delivers batches; `client` None records instead of sending."""

    def __init__(
        self,
        ledger: Ledger,
        dead_letters: DeadLetters,
        client: CollectionsClient | None,
        callback_client: Callable[[CallbackSession], CollectionsClient] | None = None,
        bulk: BulkHandOff | None = None,
    ) -> None:
        self.ledger = ledger
        self.dead_letters = dead_letters
        self.client = client
        self.callback_client = callback_client
        self.bulk = bulk

    def deliver(self, batch: Sequence[Queued]) -> Delivered:
        outcome = Delivered()
        latest: dict[str, Queued] = {}
        for queued in batch:
            held = latest.get(queued.write_back.key)
            if held is None or queued.write_back.stamp >= held.write_back.stamp:
                latest[queued.write_back.key] = queued
        outcome.skipped += len(batch) - len(latest)
        claimed = [q for q in latest.values() if self.ledger.claim(q.write_back)]
        outcome.skipped += len(latest) - len(claimed)
        callbacks = self.callback_client is not None
        sendable: list[Queued] = []
        for queued in claimed:
            if self.client is not None or (callbacks and queued.write_back.session is not None):
                sendable.append(queued)
                continue
            self.ledger.settle(queued.write_back, RECORDED, "SALESFORCE_LOGIN_URL is not set")
            logger.info(
                "Write-back recorded, not sent (no Salesforce configured)",
                write_back=queued.write_back.without_session().model_dump(mode="json"),
            )
            outcome.recorded += 1
        sendable = self._park_if_backlogged(sendable, outcome)
        groups: dict[tuple[CallbackSession | None, str, str | None], list[Queued]] = {}
        for queued in sendable:
            wb = queued.write_back
            session = wb.session if callbacks else None
            groups.setdefault((session, wb.sobject, wb.external_id_field), []).append(queued)
        for (session, sobject, external_id_field), members in groups.items():
            for start in range(0, len(members), MAX_COLLECTION_RECORDS):
                chunk = members[start : start + MAX_COLLECTION_RECORDS]
                self._send(session, sobject, external_id_field, chunk, outcome)
        return outcome

    def _park_if_backlogged(self, sendable: list[Queued], outcome: Delivered) -> list[Queued]:
        """With a backlog at the threshold, park the integration user's write-backs for a Bulk API job (those
        calling back as an Outbound Message's session go on by Collections: only that session can make them)."""
        own = [q for q in sendable if self.callback_client is None or q.write_back.session is None]
        if self.bulk is None or self.client is None or not own:
            return sendable
        if self.bulk.backlog() + len(sendable) < self.bulk.threshold:
            return sendable
        started: set[str] = set()
        for queued in own:
            if self.ledger.park(queued.write_back):
                outcome.parked += 1
                started.add(bulk_group(queued.write_back))
            else:
                outcome.skipped += 1
        for group in sorted(started):
            self.bulk.start(group)
        logger.info("Backlog at the bulk threshold: write-backs parked for a Bulk API job", parked=len(own))
        parked = {q.message_id for q in own}
        return [q for q in sendable if q.message_id not in parked]

    def _send(
        self,
        session: CallbackSession | None,
        sobject: str,
        external_id_field: str | None,
        chunk: list[Queued],
        outcome: Delivered,
    ) -> None:
        """One Collections call, as the Outbound Message's session when there is one (falling back to the
        integration user when Salesforce no longer accepts that session)."""
        if session is None or self.callback_client is None:
            assert self.client is not None
            self._call(self.client, sobject, external_id_field, chunk, outcome)
            return
        try:
            self._call(self.callback_client(session), sobject, external_id_field, chunk, outcome, expiry=True)
        except SalesforceError as expired:
            if self.client is not None:
                logger.info("The Outbound Message's session expired; writing back as the integration user")
                self._call(self.client, sobject, external_id_field, chunk, outcome)
                return
            for queued in chunk:
                self._reject(
                    queued.write_back,
                    f"{expired}; set SALESFORCE_* to write back as the integration user instead",
                    outcome,
                )

    def _call(
        self,
        client: CollectionsClient,
        sobject: str,
        external_id_field: str | None,
        chunk: list[Queued],
        outcome: Delivered,
        *,
        expiry: bool = False,
    ) -> None:
        """`expiry`: an expired session is raised to the caller (which has another way to write) instead of
        rejecting the records."""
        records = [q.write_back.as_collection_record() for q in chunk]
        try:
            results = (
                client.upsert(sobject, external_id_field, records) if external_id_field else client.update(records)
            )
        except SalesforceError as error:
            if expiry and error.code == "INVALID_SESSION_ID":
                raise
            if error.retryable:
                logger.warning("Write-back call failed; SQS will retry it", error=str(error), records=len(chunk))
                outcome.retry.extend(q.message_id for q in chunk)
                return
            # The whole call is refused (a field or object unknown to the org, no access): no record can succeed.
            for queued in chunk:
                self._reject(queued.write_back, str(error), outcome)
            return
        # The client answers one result per record or raises (retryable): `strict` never trips, so not mutated.
        for queued, result in zip(chunk, results, strict=True):  # pragma: no mutate
            if result.success:
                self.ledger.settle(queued.write_back, SENT, result.id or "")
                outcome.sent += 1
            elif result.retryable:
                logger.warning(
                    "Write-back record not saved; SQS will retry it", key=queued.write_back.key, reason=result.reason
                )
                outcome.retry.append(queued.message_id)
            else:
                self._reject(queued.write_back, result.reason, outcome)

    def _reject(self, write_back: WriteBack, reason: str, outcome: Delivered) -> None:
        logger.error("Salesforce refused the write-back; dead-lettered", key=write_back.key, reason=reason)
        self.dead_letters.send(write_back.without_session(), reason)
        self.ledger.settle(write_back, REJECTED, reason[:1000])
        outcome.rejected += 1


def bulk_group(write_back: WriteBack) -> str:
    """The Bulk API job a parked write-back goes in: one per sObject and key field."""
    return f"{write_back.sobject}/{write_back.external_id_field or 'Id'}"
