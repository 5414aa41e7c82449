"""Every typed value of an Outbound Message checked against its listener's WSDL before anything is enqueued.

zeep converts what it can and passes the rest through: `NaN` or `1e999999` for an `xsd:double`, a 17-character
id, an offset of `+99:99`, or a field whose `xsi:type` says it is something else (`xsd:string` holding `lots`,
`xsd:base64Binary`) all reach the queue, are acked, and then fail in the worker until they are dead-lettered while
Salesforce believes them delivered. These checks read the raw XML (the text Salesforce sent, not zeep's guess),
so a message is either refused whole with a Fault naming the notification and the field, or every value in it is
one the worker can apply.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from lxml import etree

from sf_edge.outbound import OutboundError

XSD_NS = "http://www.w3.org/2001/XMLSchema"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"

_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)  # XSD digits are 0-9 only
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_OFFSET = r"(?:Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_DATE = re.compile(rf"(\d{{4}}-\d{{2}}-\d{{2}}){_OFFSET}?", re.ASCII)
_DATE_TIME = re.compile(rf"(\d{{4}}-\d{{2}}-\d{{2}}T\d{{2}}:\d{{2}}:\d{{2}})(?:\.\d+)?{_OFFSET}?", re.ASCII)
_TIME = re.compile(rf"(\d{{2}}):(\d{{2}}):(\d{{2}})(?:\.\d+)?{_OFFSET}?", re.ASCII)
_BOUNDS = {"int": 2**31, "long": 2**63, "short": 2**15, "byte": 2**7}


class InvalidValue(OutboundError, ValueError):  # noqa: N818 - names the outcome, like Rejection
    """A value its declared type cannot hold; the message says why, for the Fault."""


def check_id(text: str) -> None:
    """A Salesforce id: 15 or 18 letters and digits (InvalidValue otherwise)."""
    if not _ID.fullmatch(text):
        raise InvalidValue("is not a Salesforce id (15 or 18 letters and digits)")


def _double(text: str) -> None:
    if not _NUMBER.fullmatch(text):
        raise InvalidValue("is not a finite number")
    if not math.isfinite(float(text)):
        raise InvalidValue("is beyond the range of a double")


def _decimal(text: str) -> None:
    if not _DECIMAL.fullmatch(text):
        raise InvalidValue("is not a decimal number")


def _integer(bound: int) -> Callable[[str], None]:
    def check(text: str) -> None:
        if not _INTEGER.fullmatch(text):
            raise InvalidValue("is not a whole number")
        if not -bound <= int(text) < bound:
            raise InvalidValue("is beyond the range of its type")

    return check


def _boolean(text: str) -> None:
    if text not in ("true", "false", "1", "0"):
        raise InvalidValue("is not true or false")


def _calendar(pattern: re.Pattern[str], parse: Callable[[str], object], what: str, shape: str) -> Callable[[str], None]:
    """A check that the text has the pattern's shape and its first group is a real calendar value."""

    def check(text: str) -> None:
        found = pattern.fullmatch(text)
        try:
            if found is None:
                raise ValueError(text)
            parse(found.group(1))
        except ValueError:
            raise InvalidValue(f"is not a {what} ({shape}, with a UTC offset of at most 14:00)") from None

    return check


_date = _calendar(_DATE, date.fromisoformat, "date", "YYYY-MM-DD")
_date_time = _calendar(_DATE_TIME, datetime.fromisoformat, "date-time", "YYYY-MM-DDThh:mm:ss")


def _time(text: str) -> None:
    found = _TIME.fullmatch(text)
    if found is None or int(found.group(1)) > 23 or int(found.group(2)) > 59 or int(found.group(3)) > 59:
        raise InvalidValue("is not a time of day (hh:mm:ss)")


def _base64(text: str) -> None:
    try:
        base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidValue("is not base64") from None


def _any(_text: str) -> None:
    return None


# Checks by the XSD built-in a declared type is, or restricts; Salesforce's own `ID` has its own.
_CHECKS: dict[str, Callable[[str], None]] = {
    "double": _double,
    "float": _double,
    "decimal": _decimal,
    "integer": _integer(2**63),
    "boolean": _boolean,
    "date": _date,
    "dateTime": _date_time,
    "time": _time,
    "base64Binary": _base64,
    **{name: _integer(bound) for name, bound in _BOUNDS.items()},
}


@dataclass(frozen=True)
class FieldType:
    """A field's declared type (as `{namespace}name`), the check of its values, and whether surrounding
    whitespace is insignificant (XSD's `whiteSpace="collapse"` of every built-in but the string types: Salesforce's
    `ID` restricts `xsd:string`, so `" 001… "` or `" "` is not an id, and zeep would queue it as sent)."""

    qname: str
    check: Callable[[str], None]
    collapse: bool = True


def field_type(xsd_type: Any) -> FieldType:
    """The check for a zeep type: by its own name when it is Salesforce's ID or an XSD built-in, else by the
    built-in it restricts (what zeep converts with), else none (text is kept as text)."""
    qname = xsd_type.qname
    name = qname.localname if qname is not None else ""
    if name == "ID":
        return FieldType(qname.text, check_id, collapse=False)
    if qname is not None and qname.namespace == XSD_NS and name in _CHECKS:
        return FieldType(qname.text, _CHECKS[name])
    for base in type(xsd_type).__mro__:
        default = getattr(base, "_default_qname", None)
        if default is not None and default.localname in _CHECKS:
            return FieldType(qname.text if qname is not None else default.text, _CHECKS[default.localname])
    return FieldType(qname.text if qname is not None else "", _any)


class ValueChecker:
    """The checks of one listener's sObject fields, keyed by element tag."""

    def __init__(self, fields: dict[str, FieldType]) -> None:
        self.fields = fields

    def problems(self, sobjects: Iterable[tuple[int, str, etree._Element]]) -> str | None:
        """The first value that does not fit its field, described for the Fault; None when all fit.

        `sobjects` yields (notification position from 1, notification Id, sObject element)."""
        for position, notification_id, sobject in sobjects:
            for child in sobject:
                declared = self.fields.get(child.tag) if isinstance(child.tag, str) else None
                if declared is None:
                    continue  # a field the WSDL does not declare is set aside as text elsewhere
                name = etree.QName(child).localname
                where = f"Notification {position} (Id {notification_id}), field {name}"
                given = child.get(_XSI_TYPE)
                if given is not None:
                    resolved = _resolve(child, given)
                    if resolved != declared.qname and not (
                        declared.qname == f"{{{XSD_NS}}}string" and resolved is not None and resolved.endswith("}ID")
                    ):
                        return f"{where}: xsi:type {given!r} is not its declared type {_short(declared.qname)}"
                if child.get(_XSI_NIL) in ("true", "1") or len(child):
                    continue
                text = child.text or ""
                if declared.collapse:
                    text = text.strip()
                if not text:
                    continue
                try:
                    declared.check(text)
                except InvalidValue as invalid:
                    shown = text if len(text) <= 40 else text[:40] + "..."
                    return f"{where}: {shown!r} {invalid}"
        return None


def _resolve(element: etree._Element, prefixed: str) -> str | None:
    prefix, _, local = prefixed.rpartition(":")
    namespace = element.nsmap.get(prefix or None)
    return f"{{{namespace}}}{local}" if namespace else None


def _short(qname: str) -> str:
    namespace, _, local = qname[1:].partition("}")
    return f"xsd:{local}" if namespace == XSD_NS else local
