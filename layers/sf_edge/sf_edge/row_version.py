"""One version per row of the order system's tables, moved by every writer and checked by every conditional write.

The worker's merges (Outbound Messages, relayed change events), the bulk sync and the OData feed's writes all
write the same rows. Each write moves the row's version (`_v`); a write that read the row first is conditional
on the version it read, so of two writers racing on one row the second reads again instead of overwriting. The
OData feed serves the version as the row's ETag (`W/"<version>"`), so a Salesforce Connect `PATCH` with the
ETag of a row a relayed change has moved since is refused (412), not applied over the change. A row written
before it had a version (the seeded Northwind data) is at version 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

VERSION = "_v"


def version_of(item: Mapping[str, Any]) -> int:
    """The stored version of a row (0 before its first versioned write)."""
    return int(item.get(VERSION) or 0)


@dataclass(frozen=True)
class ReadCondition:
    """A ConditionExpression that holds only while a row is as it was read, with its names and values."""

    expression: str
    names: dict[str, str]
    values: dict[str, Any]


def read_condition(item: Mapping[str, Any], key_attribute: str) -> ReadCondition:
    """Holds while the row has the version it was read with, still has none, or still does not exist."""
    if VERSION in item:
        return ReadCondition("#v = :read", {"#v": VERSION}, {":read": version_of(item)})
    if item:
        return ReadCondition(
            "attribute_exists(#k) AND attribute_not_exists(#v)", {"#k": key_attribute, "#v": VERSION}, {}
        )
    return ReadCondition("attribute_not_exists(#k)", {"#k": key_attribute}, {})
