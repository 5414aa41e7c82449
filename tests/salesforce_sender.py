"""A Salesforce stand-in: a real zeep client built from a listener's WSDL that creates and sends `notifications`.

Messages look like Salesforce's: one `Notification` per record, the sObject carrying `xsi:type="sf:<Type>"`,
fields in the WSDL's order, null fields omitted, `SessionId` nil unless given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lxml import etree
from zeep import Client, Settings

SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ORG_ID = "00D000000000001EAA"
ACTION_ID = "04k000000000001AAA"


class SalesforceSender:
    """Builds (and optionally sends over HTTP) Outbound Messages for one WSDL."""

    def __init__(self, wsdl: Path, address: str | None = None) -> None:
        self.client = Client(str(wsdl), settings=Settings(strict=True))  # type: ignore[no-untyped-call]
        binding = next(iter(self.client.wsdl.bindings))
        self.service = (
            self.client.create_service(binding, address)  # type: ignore[no-untyped-call]
            if address
            else self.client.service
        )
        notification_type = self.client.get_element(  # type: ignore[no-untyped-call]
            "{http://soap.sforce.com/2005/09/outbound}notifications"
        )
        nested = dict(notification_type.type.elements)["Notification"].type
        self.sobject_type = dict(nested.elements)["sObject"].type
        self.sobject_name = self.sobject_type.qname.localname

    def _kwargs(
        self, records: Iterable[tuple[str, Mapping[str, Any]]], org_id: str, session_id: str | None
    ) -> dict[str, Any]:
        return {
            "OrganizationId": org_id,
            "ActionId": ACTION_ID,
            "SessionId": session_id,
            "EnterpriseUrl": f"https://example.my.salesforce.com/services/Soap/c/62.0/{org_id[:15]}",
            "PartnerUrl": f"https://example.my.salesforce.com/services/Soap/u/62.0/{org_id[:15]}",
            "Notification": [{"Id": nid, "sObject": self.sobject_type(**fields)} for nid, fields in records],
        }

    def envelope(
        self, records: Iterable[tuple[str, Mapping[str, Any]]], *, org_id: str = ORG_ID, session_id: str | None = None
    ) -> bytes:
        """The SOAP request Salesforce would POST, as bytes."""
        root = self.client.create_message(  # type: ignore[no-untyped-call]
            self.service, "notifications", **self._kwargs(records, org_id, session_id)
        )
        for sobject in root.iter("{http://soap.sforce.com/2005/09/outbound}sObject"):
            sobject.set(f"{{{XSI}}}type", f"sf:{self.sobject_name}")
            sobject.nsmap  # noqa: B018 - lxml adds the sf prefix below
        xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        # Declare the sf prefix the xsi:type value uses, as Salesforce's envelopes do.
        return xml.replace(b"<soap-env:Envelope ", f'<soap-env:Envelope xmlns:sf="{SOBJECT_NS}" '.encode(), 1)

    def send(self, records: Iterable[tuple[str, Mapping[str, Any]]], *, org_id: str = ORG_ID) -> Any:
        """POST the message with zeep's transport and return the parsed Ack."""
        return self.service.notifications(**self._kwargs(records, org_id, None))


def records(count: int, make: Any, prefix: str = "04l00000000") -> list[tuple[str, dict[str, Any]]]:
    """`count` (notification id, fields) pairs; `make(i)` gives the fields of record i."""
    return [(f"{prefix}{i:04d}AAA"[:15] + "AAA", make(i)) for i in range(count)]


def salesforce_layout(
    sobject_type: str,
    records_: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    org_id: str = ORG_ID,
    action_id: str = ACTION_ID,
    session_id: str | None = None,
) -> bytes:
    """The envelope byte for byte as Salesforce lays it out (prefixes, order, indentation of the captures).

    Values are given as Salesforce renders them (text); fields in the order given, which should be the WSDL's.
    """
    from xml.sax.saxutils import escape

    org15 = org_id[:15]
    session = f"<SessionId>{escape(session_id)}</SessionId>" if session_id else '<SessionId xsi:nil="true"/>'
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        " <soapenv:Body>",
        '  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">',
        f"   <OrganizationId>{org_id}</OrganizationId>",
        f"   <ActionId>{action_id}</ActionId>",
        f"   {session}",
        f"   <EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/62.0/{org15}</EnterpriseUrl>",
        f"   <PartnerUrl>https://example.my.salesforce.com/services/Soap/u/62.0/{org15}</PartnerUrl>",
    ]
    for notification_id, fields in records_:
        lines += [
            "   <Notification>",
            f"    <Id>{notification_id}</Id>",
            f'    <sObject xsi:type="sf:{sobject_type}" xmlns:sf="{SOBJECT_NS}">',
        ]
        lines += [
            f"     <sf:{name}>{escape(_text(value))}</sf:{name}>" for name, value in fields.items() if value is not None
        ]
        lines += ["    </sObject>", "   </Notification>"]
    lines += ["  </notifications>", " </soapenv:Body>", "</soapenv:Envelope>", ""]
    return "\n".join(lines).encode("utf-8")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
