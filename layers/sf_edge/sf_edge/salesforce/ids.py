"""Salesforce record ids: 15-character case-sensitive ids and their 18-character case-safe form."""

import re

_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def is_salesforce_id(value: str) -> bool:
    """True for a well-formed 15- or 18-character id."""
    return bool(_ID_RE.match(value))


def to_18(record_id: str) -> str:
    """Return the 18-character case-safe id (Salesforce's checksum suffix) for a 15- or 18-character id."""
    if not is_salesforce_id(record_id):
        raise ValueError(f"not a Salesforce id: {record_id!r}")
    base = record_id[:15]
    suffix = ""
    for chunk in (base[0:5], base[5:10], base[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        suffix += _SUFFIX_ALPHABET[bits]
    return base + suffix


def org_prefix(org_id: str) -> str:
    """The 15-character prefix that identifies an org, whatever form Salesforce sent."""
    return org_id.strip()[:15]
