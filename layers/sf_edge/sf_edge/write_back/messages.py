"""One write-back: the fields to set on one Salesforce record, as queued between the worker and the write-back
function. Write-backs sign in as the integration user, unless the notification's listener forwards the Outbound
Message's own session (`include_session_id`): then the write-back calls back as that session, which travels on
the (encrypted) write-back queue only, is never logged, and is dropped from the ledger and the dead-letter queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer

FieldValue = str | int | float | bool | None

# A write-back's status in the ledger.
PENDING = "pending"
SENT = "sent"
RECORDED = "recorded"  # no Salesforce configured: what would have been sent
REJECTED = "rejected"
PARKED = "parked"  # waiting for a Bulk API ingest job (a large backlog)
IN_BULK = "bulk"  # in a Bulk API ingest job, its results not joined yet


def now_stamp() -> str:
    """A UTC time with microseconds whose text sorts like the time (orders the write-backs of one record)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class CallbackSession(BaseModel):
    """An Outbound Message's SessionId and the instance its PartnerUrl names."""

    model_config = ConfigDict(frozen=True)

    session_id: SecretStr
    instance_url: str

    @field_serializer("session_id", when_used="json")
    def _on_the_queue(self, value: SecretStr) -> str:
        return value.get_secret_value()  # the queue message must carry it; logs use without_session()


class WriteBack(BaseModel):
    """Set `fields` on the `sobject` record `record_id` (by id, or by the value of `external_id_field`)."""

    model_config = ConfigDict(frozen=True)

    sobject: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
    record_id: str = Field(min_length=1, max_length=255)
    fields: dict[str, FieldValue]
    external_id_field: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
    origin: str = ""  # the notification it follows (its idempotency key), for the logs and the ledger
    stamp: str = Field(default_factory=now_stamp)
    session: CallbackSession | None = Field(default=None, repr=False)

    @property
    def key(self) -> str:
        """The record, as the ledger and the batch's merge know it."""
        return f"{self.sobject}/{self.external_id_field or 'Id'}/{self.record_id}"

    def without_session(self) -> WriteBack:
        """This write-back as it may be kept or shown: no session."""
        return self.model_copy(update={"session": None}) if self.session is not None else self

    def as_collection_record(self) -> dict[str, Any]:
        """The record as sObject Collections takes it."""
        identity = {self.external_id_field: self.record_id} if self.external_id_field else {"id": self.record_id}
        return {"attributes": {"type": self.sobject}, **identity, **self.fields}


@dataclass(frozen=True)
class ParkedWriteBack:
    """A write-back waiting in the ledger for a Bulk API ingest job: its record (by `key_field`) and fields."""

    key: str  # the ledger's RecordKey: <sObject>/<key field>/<record id or External ID value>
    sobject: str
    key_field: str
    record_id: str
    fields: dict[str, FieldValue]
    stamp: str
    attempts: int = 0  # Bulk API jobs it was in and not saved by (a locked row, a job that stopped)
    detail: str = ""  # why the last one did not save it
