"""SOAP 1.1 plumbing for Outbound Messages: hardened XML parsing, envelope checks and Faults.

XML is parsed by zeep's own hardened loader (no DTDs, no entities, no external references, no huge trees);
a cheap byte scan refuses DTD and entity declarations before any parser sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from lxml import etree

from sf_edge.outbound import OutboundError

SOAP11_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV: Final = "http://www.w3.org/2003/05/soap-envelope"
OUTBOUND_NS: Final = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS: Final = "urn:sobject.enterprise.soap.sforce.com"
XSI_NS: Final = "http://www.w3.org/2001/XMLSchema-instance"

ENVELOPE_TAG: Final = f"{{{SOAP11_ENV}}}Envelope"
BODY_TAG: Final = f"{{{SOAP11_ENV}}}Body"
NOTIFICATIONS_TAG: Final = f"{{{OUTBOUND_NS}}}notifications"
NOTIFICATION_TAG: Final = f"{{{OUTBOUND_NS}}}Notification"
ORGANIZATION_ID_TAG: Final = f"{{{OUTBOUND_NS}}}OrganizationId"
XSI_TYPE: Final = f"{{{XSI_NS}}}type"

_UTF8_BOM: Final = b"\xef\xbb\xbf"
_FORBIDDEN_MARKUP: Final = (b"<!DOCTYPE", b"<!ENTITY", b"<!doctype")


@dataclass(frozen=True)
class Rejection(OutboundError):  # noqa: N818 - a rejection is an outcome, not an error of ours
    """Why a request is refused: a metric reason, an HTTP status, a SOAP faultcode and a clear faultstring."""

    reason: str
    status: int
    message: str
    faultcode: str = "Client"

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def parse_envelope(body: bytes) -> etree._Element:
    """Parse the request into an lxml tree with zeep's hardened settings and return the SOAP 1.1 Envelope."""
    from zeep.exceptions import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden, XMLSyntaxError
    from zeep.loader import parse_xml

    from sf_edge.outbound.zeep_settings import HARDENED

    if body.startswith(_UTF8_BOM):
        body = body[len(_UTF8_BOM) :]
    if not body.strip():
        raise Rejection("empty_body", 400, "Empty request body: expected a SOAP 1.1 envelope")
    if any(marker in body for marker in _FORBIDDEN_MARKUP):
        raise Rejection("dtd_forbidden", 400, "DTDs and entity declarations are not accepted")
    try:
        root: etree._Element = parse_xml(body, transport=None, settings=HARDENED)  # type: ignore[arg-type]
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden):
        # (zeep raises the last only from its resolver, which a document without a DTD never calls: one answer)
        raise Rejection("dtd_forbidden", 400, "DTDs and entity declarations are not accepted") from None
    except (XMLSyntaxError, ValueError) as exc:  # lxml raises ValueError for input it cannot even start on
        raise Rejection("malformed_xml", 400, f"Malformed XML: {exc}") from None
    if root.tag == ENVELOPE_TAG:
        return root
    if root.tag == f"{{{SOAP12_ENV}}}Envelope":
        raise Rejection(
            "soap12_envelope",
            400,
            "SOAP 1.2 envelopes are not supported: Outbound Messages use SOAP 1.1",
            faultcode="VersionMismatch",
        )
    raise Rejection("not_soap", 400, f"Not a SOAP 1.1 envelope: root element is {root.tag}")


def notifications_element(envelope: etree._Element) -> etree._Element:
    """The `notifications` element of the Body, or a Rejection saying what the Body holds instead."""
    body = envelope.find(BODY_TAG)
    if body is None:
        raise Rejection("missing_body", 400, "SOAP envelope has no Body")
    children = [child for child in body if isinstance(child.tag, str)]
    match children:
        case [element] if element.tag == NOTIFICATIONS_TAG:
            return element
    found = ", ".join(child.tag for child in children) or "nothing"
    raise Rejection("not_notifications", 400, f"Body must hold one {NOTIFICATIONS_TAG}, found {found}")


def fault(rejection: Rejection) -> bytes:
    """A SOAP 1.1 Fault envelope for a rejection."""
    nsmap = {"soapenv": SOAP11_ENV}
    envelope = etree.Element(ENVELOPE_TAG, nsmap=nsmap)
    fault_el = etree.SubElement(etree.SubElement(envelope, BODY_TAG), f"{{{SOAP11_ENV}}}Fault")
    etree.SubElement(fault_el, "faultcode").text = f"soapenv:{rejection.faultcode}"
    etree.SubElement(fault_el, "faultstring").text = rejection.message
    etree.SubElement(etree.SubElement(fault_el, "detail"), "reason").text = rejection.reason
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
