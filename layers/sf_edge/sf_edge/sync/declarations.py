"""What the bulk sync reads from Salesforce: one declaration per object, and the SOQL of each sync's window.

Each object's fields are those its handler's model takes (sf_edge.notifications.reference_handlers), with
`SystemModstamp` (the stamp every merge orders by, and the window's) and `IsDeleted` (a `queryAll` brings deleted
records too). A new object is one declaration here, a batch handler or a handler registered for its type, and
nothing else.

The window: records whose SystemModstamp is after the last sync's upper bound (the watermark; none: a full load)
and at most this sync's upper bound, `settle` seconds before the sync started (a transaction that began before
that instant may commit a little later with its earlier stamp: the next window would miss it). The results are
not ordered: Bulk API 2.0 chunks a query by primary key and ORDER BY would turn that off (Salesforce advises
against it for large queries), so the watermark moves to the window's upper bound only once every set of
results is applied, which needs no order. Records marked for reconciliation (a Change Data Capture gap event's)
are read by id in the same job; a mark for the whole object (`*`), or more marks than `MAX_RECONCILE_IDS`, makes
it a full re-read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sf_edge.notifications.reference_handlers import ACCOUNT_MODEL_FIELDS, OPPORTUNITY_MODEL_FIELDS

ALWAYS = ("Id", "SystemModstamp", "IsDeleted")
MAX_RECONCILE_IDS = 2000  # 21 characters each in the SOQL, well inside its 100,000


@dataclass(frozen=True)
class SyncObject:
    """An sObject the sync reads: its fields, and what else a record must be to matter (a SOQL condition)."""

    sobject: str
    fields: tuple[str, ...]
    where: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(dict.fromkeys([*ALWAYS, *self.fields])))


# In order: Accounts first, so the Opportunities of the same sync find their Customers linked.
SYNC_OBJECTS = (
    SyncObject("Account", tuple(ACCOUNT_MODEL_FIELDS)),
    SyncObject("Opportunity", tuple(OPPORTUNITY_MODEL_FIELDS), where="IsWon = true"),
)
BY_NAME = {o.sobject: o for o in SYNC_OBJECTS}


@dataclass(frozen=True)
class Window:
    """The records one sync reads: stamped after `low` (None: from the first) up to `high`, and those by id."""

    low: str | None
    high: str
    ids: tuple[str, ...] = ()
    full: bool = False  # a re-read of every record (a reconciliation of the whole object)


def soql_time(moment: datetime) -> str:
    """A dateTime as SOQL takes it (and the watermark keeps it): UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql(sync_object: SyncObject, window: Window) -> str:
    """The query job's SOQL for one window."""
    changed = f"SystemModstamp <= {window.high}"
    if window.low is not None and not window.full:
        changed = f"SystemModstamp > {window.low} AND {changed}"
    if window.ids and not window.full:
        quoted = ", ".join(f"'{record_id}'" for record_id in window.ids)
        changed = f"({changed}) OR Id IN ({quoted})"
    where = f"({sync_object.where}) AND ({changed})" if sync_object.where else changed
    # Declared fields, our own timestamps, and ids checked as Salesforce ids (sf_edge.salesforce.ids): no input.
    return f"SELECT {', '.join(sync_object.fields)} FROM {sync_object.sobject} WHERE {where}"  # noqa: S608
