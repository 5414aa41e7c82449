"""Listeners: one Salesforce-generated Outbound Message WSDL each, loaded by zeep once per container.

A listener named `opportunity` is the file `opportunity.wsdl` in the WSDL folder, plus an optional entry in
`listeners.toml` beside it. Parsing is zeep's `deserialize` of the request against that WSDL, after two checks
zeep cannot make for us: the `xsi:type` of each sObject must be the WSDL's own type (zeep's answer to an
unknown one is a lookup error; to a known but different one, silence), and fields the WSDL does not declare,
added in Salesforce after the WSDL was generated, are set aside as text instead of failing the message forever.
"""

from __future__ import annotations

import re
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from lxml import etree
from pydantic import ValidationError

from sf_edge.outbound import OutboundError
from sf_edge.outbound.field_values import InvalidValue, ValueChecker, check_id, field_type
from sf_edge.outbound.soap import (
    BODY_TAG,
    NOTIFICATION_TAG,
    NOTIFICATIONS_TAG,
    OUTBOUND_NS,
    XSI_NS,
    XSI_TYPE,
    Rejection,
)
from sf_edge.salesforce.outbound_messages import OutboundMessage

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_SOBJECT_TAG = f"{{{OUTBOUND_NS}}}sObject"
_ID_TAG = f"{{{OUTBOUND_NS}}}Id"
_XSI_NIL = XSI_TYPE.replace("}type", "}nil")
# zeep's wording when a required element of a sequence is absent.
_MISSING_RE = re.compile(r"Unexpected element '([^']+)', expected '([^']+)'")
_ELEMENT_NAMES = {
    "organization_id": "OrganizationId",
    "action_id": "ActionId",
    "enterprise_url": "EnterpriseUrl",
    "partner_url": "PartnerUrl",
    "notifications": "Notification",
    "id": "Id",
    "record_id": "sObject.Id",
}


def _zeep_errors() -> tuple[type[Exception], ...]:
    from zeep.exceptions import Error as ZeepError

    return (ZeepError, ValueError, TypeError, ArithmeticError)


_ZEEP_ERRORS = _zeep_errors()


class UnknownListener(OutboundError, LookupError):  # noqa: N818 - the name says what was not found
    """No WSDL for this listener name."""


@dataclass(frozen=True)
class ListenerConfig:
    """Per-listener options from `listeners.toml`."""

    include_session_id: bool = False
    description: str = ""
    # Whether `make salesforce` renders this listener's Outbound Message and Flow (false: its object is not one a
    # new org has, such as a sample WSDL's custom object; set the message up in that org by hand).
    outbound_message: bool = True


class Listener:
    """One Outbound Message definition: its zeep operation, its sObject type and its canned Ack."""

    def __init__(self, name: str, wsdl_path: Path, config: ListenerConfig) -> None:
        from zeep.wsdl import Document

        from sf_edge.outbound.zeep_settings import HARDENED, OfflineTransport

        self.name = name
        self.config = config
        document = Document(str(wsdl_path), OfflineTransport(), settings=HARDENED)  # type: ignore[arg-type,no-untyped-call]
        bindings = [b for b in document.bindings.values() if "notifications" in b._operations]
        if len(bindings) != 1:
            raise ValueError(f"{wsdl_path}: expected one binding with a 'notifications' operation")
        self._operation = bindings[0].get("notifications")  # type: ignore[no-untyped-call]
        notifications = document.types.get_element(NOTIFICATIONS_TAG)
        notification_type = dict(notifications.type.elements)["Notification"].type
        sobject_type = dict(notification_type.elements)["sObject"].type
        self._sobject_qname = sobject_type.qname
        self.sobject_qname: str = sobject_type.qname.text
        self.sobject_type: str = sobject_type.qname.localname
        sobject_ns = self._sobject_ns = sobject_type.qname.namespace
        self.field_names: tuple[str, ...] = tuple(
            name for name, _ in sobject_type.elements if name not in ("fieldsToNull",)
        )
        # Each field's XML Schema type (`string`, `double`, `ID`...): what `make salesforce` renders a custom one as.
        self.field_types: dict[str, str] = {
            name: getattr(getattr(e.type, "qname", None), "localname", "string")
            for name, e in sobject_type.elements
            if name != "fieldsToNull"
        }
        self._known_tags = {f"{{{sobject_ns}}}{name}": name for name, _ in sobject_type.elements}
        self._values = ValueChecker(
            {
                f"{{{sobject_ns}}}{name}": field_type(e.type)
                for name, e in sobject_type.elements
                if name != "fieldsToNull"
            }
        )
        # Checks zeep cannot make, compiled once as XPath (C); parse() runs them only when zeep fails or disagrees.
        namespaces = {"n": OUTBOUND_NS, "s": sobject_ns, "xsi": XSI_NS}
        self._known_names = "|" + "|".join(name for name, _ in sobject_type.elements) + "|"
        self._unknown_fields = etree.XPath(
            "n:Notification/n:sObject/*"
            "[namespace-uri() != $ns or not(contains($names, concat('|', local-name(), '|')))]",
            namespaces=namespaces,
        )
        # sObjects whose xsi:type, resolved against their in-scope namespaces, is not the WSDL's sObject type.
        self._foreign_types = etree.XPath(
            "n:Notification/n:sObject[@xsi:type][not("
            "(contains(@xsi:type, ':') and substring-after(@xsi:type, ':') = $local"
            " and namespace::*[name() = substring-before(../@xsi:type, ':')] = $ns)"
            " or (not(contains(@xsi:type, ':')) and @xsi:type = $local and namespace::*[name() = ''] = $ns))]",
            namespaces=namespaces,
        )
        ack = self._operation.output.serialize(Ack=True).content
        self.ack: bytes = etree.tostring(ack, xml_declaration=True, encoding="UTF-8")

    def parse(self, envelope: etree._Element) -> tuple[OutboundMessage, dict[str, list[str]]]:
        """Deserialize a checked envelope with zeep; return the message and the unknown fields per notification."""
        body = envelope.find(BODY_TAG)
        notifications = body.find(NOTIFICATIONS_TAG) if body is not None else None
        if notifications is None:
            raise Rejection("not_notifications", 400, "Body holds no notifications element")
        # Every value must fit its declared type before anything is enqueued: zeep lets NaN, a 17-character id or
        # an offset of +99:99 through, and the worker could never apply them.
        problem = self._values.problems(self._sobjects(notifications))
        if problem:
            raise Rejection("invalid_value", 400, problem)
        # The checks zeep cannot make run only when zeep fails (or, for xsi:type, disagrees), so the common
        # message costs zeep's deserialize and little else.
        set_aside: dict[int, dict[str, str]] = {}
        try:
            request, failures = self._deserialize(envelope)
        except _ZEEP_ERRORS as exc:
            self._check_types(notifications)
            set_aside = self._set_aside_unknown_fields(notifications)
            if not set_aside:
                raise self._rejection(exc) from None
            try:
                request, failures = self._deserialize(envelope)
            except _ZEEP_ERRORS as again:
                raise self._rejection(again) from None
        if any(
            n.sObject is not None and n.sObject._xsd_type.qname != self._sobject_qname
            for n in request.Notification or []
        ):
            self._check_types(notifications)
        parsed = [self._notification(n, set_aside.get(i, {})) for i, n in enumerate(request.Notification or [])]
        if failures:
            # zeep logs and returns None for a value its type cannot parse ('June 30th' as xsd:date).
            raise Rejection("invalid_value", 400, f"{self._describe_dropped(notifications, parsed)}: {failures[0]}")
        try:
            message = OutboundMessage.model_validate(
                {
                    "organization_id": request.OrganizationId or "",
                    "action_id": request.ActionId or "",
                    "session_id": request.SessionId,
                    "enterprise_url": request.EnterpriseUrl or "",
                    "partner_url": request.PartnerUrl or "",
                    "notifications": parsed,
                }
            )
        except ValidationError as exc:
            raise Rejection("missing_element", 400, _describe(exc)) from None
        unknown = {n.id: n.unknown_fields for n in message.notifications if n.unknown_fields}
        return message, unknown

    @staticmethod
    def _sobjects(notifications: etree._Element) -> Iterator[tuple[int, str, etree._Element]]:
        """(position from 1, Notification Id, sObject) of each notification; a malformed Id is refused here."""
        for position, notification in enumerate(notifications.iterchildren(NOTIFICATION_TAG), start=1):
            notification_id = notification.findtext(_ID_TAG) or ""  # an ID is a string type: no trimming
            if notification_id:
                try:
                    check_id(notification_id)
                except InvalidValue as invalid:
                    raise Rejection(
                        "invalid_value", 400, f"Notification {position}: Id {notification_id[:40]!r} {invalid}"
                    ) from None
            sobject = notification.find(_SOBJECT_TAG)
            if sobject is not None:
                yield position, notification_id, sobject

    def _deserialize(self, envelope: etree._Element) -> tuple[Any, list[str]]:
        from sf_edge.outbound.zeep_settings import conversion_failures

        with conversion_failures() as failures:
            request = self._operation.input.deserialize(envelope)
        return request, failures

    def _rejection(self, exc: Exception) -> Rejection:
        """zeep's error, in the terms a Salesforce admin can act on."""
        missing = _MISSING_RE.search(str(exc))
        if missing:
            found, expected = (etree.QName(q).localname for q in missing.groups())
            return Rejection(
                "missing_element", 400, f"Missing required element {expected} (found {found} in its place)"
            )
        return Rejection("invalid_message", 400, f"Message does not match the {self.name} WSDL: {exc}")

    def _notification(self, notification: Any, extra: dict[str, str]) -> dict[str, Any]:
        # __values__ directly: zeep's attribute access goes through a Python-level __getattribute__.
        parts = notification.__values__
        sobject = parts["sObject"]
        values: dict[str, Any] = dict(sobject.__values__) if sobject is not None else {}
        nulled = values.pop("fieldsToNull", None) or []
        fields = {name: value for name, value in values.items() if value is not None}
        null_fields = [name for name in self.field_names if name not in fields] + list(nulled)
        fields.update(extra)
        return {
            "id": parts["Id"] or "",
            "sobject_type": self.sobject_type,
            "record_id": fields.get("Id") or "",
            "fields": fields,
            "null_fields": null_fields,
            "unknown_fields": list(extra),
        }

    def _check_types(self, notifications: etree._Element) -> None:
        """Each sObject's xsi:type, when given, must be this listener's type (zeep ignores a known other one)."""
        foreign = _elements(self._foreign_types(notifications, local=self.sobject_type, ns=self._sobject_ns))
        if foreign:
            sobject = foreign[0]
            index = list(notifications.iterchildren(NOTIFICATION_TAG)).index(cast(etree._Element, sobject.getparent()))
            raise Rejection(
                "unknown_xsi_type",
                400,
                f"Notification {index + 1}: xsi:type {sobject.get(XSI_TYPE)!r} is not this listener's sObject type "
                f"{self.sobject_type!r}",
            )

    def _set_aside_unknown_fields(self, notifications: etree._Element) -> dict[int, dict[str, str]]:
        """Detach the fields the WSDL does not declare; return them as text, by notification position."""
        unknown = _elements(self._unknown_fields(notifications, ns=self._sobject_ns, names=self._known_names))
        if not unknown:
            return {}
        position = {n: i for i, n in enumerate(notifications.iterchildren(NOTIFICATION_TAG))}
        set_aside: dict[int, dict[str, str]] = {}
        for child in unknown:
            sobject = cast(etree._Element, child.getparent())
            text = "".join(str(part) for part in child.itertext())
            notification = cast(etree._Element, sobject.getparent())
            set_aside.setdefault(position[notification], {})[etree.QName(child).localname] = text
            sobject.remove(child)
        return set_aside

    def _describe_dropped(self, notifications: etree._Element, parsed: list[dict[str, Any]]) -> str:
        """Name the values that were sent but did not survive zeep's type conversion."""
        for index, (notification, result) in enumerate(
            zip(notifications.iterchildren(NOTIFICATION_TAG), parsed, strict=False)
        ):
            sobject = notification.find(_SOBJECT_TAG)
            sent = {
                self._known_tags[child.tag]
                for child in (sobject if sobject is not None else [])
                if isinstance(child.tag, str) and (child.text or "").strip() and child.get(_XSI_NIL) is None
            }
            dropped = sorted(sent - result["fields"].keys())
            if dropped:
                return (
                    f"Notification[{index + 1}]: {', '.join(dropped)} not valid for the type the {self.name} WSDL "
                    "declares"
                )
        return f"Some values are not valid for the types the {self.name} WSDL declares"


def _elements(result: object) -> list[etree._Element]:
    """An XPath result that selects elements, typed as such."""
    return cast(list[etree._Element], result)


def _describe(exc: ValidationError) -> str:
    """Name the offending element as the WSDL does: Notification[3].sObject.Id, not notifications.2.record_id."""
    first = exc.errors()[0]
    parts: list[str] = []
    for part in first["loc"]:
        if isinstance(part, int):
            parts[-1] += f"[{part + 1}]"
        else:
            parts.append(_ELEMENT_NAMES.get(part, part))
    return f"Missing or invalid required element {'.'.join(parts)}: {first['msg']}"


class ListenerRegistry:
    """Listeners by name, each WSDL loaded by zeep on first use and kept for the life of the container."""

    def __init__(self, wsdl_dir: Path, config_path: Path | None = None) -> None:
        self.wsdl_dir = wsdl_dir
        self._configs: dict[str, ListenerConfig] = {}
        if config_path is not None and config_path.exists():
            raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
            self._configs = {name: ListenerConfig(**entry) for name, entry in raw.get("listeners", {}).items()}
        self._listeners: dict[str, Listener] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Every listener a WSDL file defines."""
        return sorted(path.stem for path in self.wsdl_dir.glob("*.wsdl") if _NAME_RE.match(path.stem))

    def get(self, name: str) -> Listener:
        """The listener called `name`, loading its WSDL the first time."""
        listener = self._listeners.get(name)
        if listener is not None:
            return listener
        if not _NAME_RE.match(name):
            raise UnknownListener(name)
        path = self.wsdl_dir / f"{name}.wsdl"
        if not path.is_file():
            raise UnknownListener(name)
        with self._lock:
            if name not in self._listeners:
                self._listeners[name] = Listener(name, path, self._configs.get(name, ListenerConfig()))
            return self._listeners[name]
