"""Every fixture WSDL with its matching request: acked, and the queue holds exactly its notifications, typed."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from conftest import (
    OUTBOUND_FIXTURES,
    TOKEN,
    Stack,
    fixture_request,
    make_intake,
    queue_bodies,
)
from salesforce_sender import ORG_ID, SalesforceSender
from sf_edge.outbound.intake import IntakeRequest

OUTBOUND = "{http://soap.sforce.com/2005/09/outbound}"


def deliver(stack: Stack, wsdl_dir: Path, listener: str, body: bytes, config: Path | None = None):  # type: ignore[no-untyped-def]
    return make_intake(wsdl_dir, stack.queue_url, config=config).receive(IntakeRequest(listener, body, TOKEN))


def assert_ack(body: bytes) -> None:
    """The Ack is the WSDL's notificationsResponse with Ack true, as in Salesforce's canonical sample."""
    canonical = etree.fromstring(
        (OUTBOUND_FIXTURES / "responses/ack_notificationsResponse__aspnet-webhooks.xml")
        .read_bytes()
        .lstrip(b"\xef\xbb\xbf")
    )
    ours = etree.fromstring(body)
    for root in (canonical, ours):
        ack = root.find(f".//{OUTBOUND}notificationsResponse/{OUTBOUND}Ack")
        assert ack is not None
        assert ack.text == "true"
    assert ours.tag == canonical.tag


def test_mulesoft_opportunity_is_acked_and_enqueued(stack: Stack, fixture_listeners: Path) -> None:
    result = deliver(
        stack,
        fixture_listeners,
        "opportunity_mulesoft",
        fixture_request("Opportunity__customfield_15charIds__mulesoft.xml"),
    )
    assert result.status == 200, result.detail
    assert_ack(result.body)
    [message] = queue_bodies(stack)
    assert message["listener"] == "opportunity_mulesoft"
    assert message["organizationId"] == "00DQ0000000EB93"
    assert message["origin"]["kind"] == "outbound_message"
    assert message["origin"]["actionId"] == "04kV0000000CaSPIA0"
    assert message["notificationId"] == "04lV0000001ALshIAG"
    assert message["sObjectType"] == "Opportunity"
    assert message["recordId"] == "006Q0000009N3gf"
    assert message["fields"] == {
        "Id": "006Q0000009N3gf",
        "AccountId": "001Q000000SvOoG",
        "Billing_Contact_Email__c": "Test email value",
    }
    assert message["unknownFields"] == []
    assert "sessionId" not in message["origin"]
    assert message["receivedAt"].endswith("Z")


def test_stale_wsdl_keeps_unknown_fields_as_text(stack: Stack, fixture_listeners: Path) -> None:
    result = deliver(
        stack,
        fixture_listeners,
        "opportunity_mulesoft",
        fixture_request("Opportunity__amount_date_singleline__ejangi.xml"),
    )
    assert result.status == 200, result.detail
    assert result.unknown_fields == {"04l7F000008aeAyQAI": ["Amount", "CloseDate", "LeadSource", "Name", "StageName"]}
    [message] = queue_bodies(stack)
    assert message["fields"] == {
        "Id": "0067F000003pmdWQAQ",
        "AccountId": "0017F000007ydJmQAI",
        "Amount": "120000.0",
        "CloseDate": "2017-04-03",
        "LeadSource": "Phone Inquiry",
        "Name": "Express Logistics SLA",
        "StageName": "Perception Analysis",
    }
    assert message["unknownFields"] == ["Amount", "CloseDate", "LeadSource", "Name", "StageName"]
    assert message["nullFields"] == ["Billing_Contact_Email__c"]


def test_contact_two_notifications_typed(stack: Stack, fixture_listeners: Path) -> None:
    result = deliver(
        stack, fixture_listeners, "contact", fixture_request("Contact__2notifications__aspnet-webhooks.xml")
    )
    assert result.status == 200, result.detail
    first, second = queue_bodies(stack)
    assert [first["notificationId"], second["notificationId"]] == ["04l1I000000fzt9QAA", "04l1I000000fztEQAQ"]
    assert first["fields"]["CreatedDate"] == "2017-12-11T21:44:55Z"
    assert first["fields"]["Email"] == "drb24@cornell.edu"
    assert "Email" in second["nullFields"]
    assert "Email" not in second["fields"]
    assert "sessionId" not in first["origin"]  # the fixture carries one; listeners do not forward it by default


def test_account_session_id_only_when_the_listener_opts_in(stack: Stack, fixture_listeners: Path) -> None:
    body = fixture_request("Account__sessionid_standalone__abrarsheikhsony.xml")
    assert deliver(stack, fixture_listeners, "account_comsave", body).status == 200
    [plain] = queue_bodies(stack)
    assert "sessionId" not in plain["origin"]
    assert plain["fields"]["BillingPostalCode"] == "CA 94105"
    assert plain["fields"]["Name"] == "Salesforce.com Inc."

    config = fixture_listeners / "listeners.toml"
    config.write_text("[listeners.account_comsave]\ninclude_session_id = true\n")
    assert deliver(stack, fixture_listeners, "account_comsave", body, config).status == 200
    [opted_in] = queue_bodies(stack)
    assert opted_in["origin"]["sessionId"].startswith("ABC90000000gNcm!")


def test_lead_with_its_own_type_is_accepted(stack: Stack, fixture_listeners: Path) -> None:
    body = fixture_request("Lead__3notifications_edited__aspnet-webhooks.xml")
    for edited in (b"sf:Lead1", b"sf:Lead2", b"sf:Lead3"):
        body = body.replace(edited, b"sf:Lead")
    result = deliver(stack, fixture_listeners, "lead", body)
    assert result.status == 200, result.detail
    messages = queue_bodies(stack)
    assert [m["recordId"] for m in messages] == ["0123456789ABCDEEAE", "1123456789ABCDEEAE", "2123456789ABCDEEAE"]
    assert messages[0]["fields"]["IsConverted"] is False
    assert messages[0]["fields"]["LastViewedDate"] == "2015-08-14T18:27:02Z"
    assert messages[0]["organizationId"] == "0123456789ABCDENNN"


# Fixture WSDLs that come without a captured request: a zeep client builds the request Salesforce would send.
GENERATED = {
    "shipment": (
        {
            "Id": "a0B000000000001AAA",
            "CreatedById": "005000000000001AAA",
            "CreatedDate": "2024-05-01T10:15:00.000Z",
            "IsDeleted": False,
            "Name": "SHP-0001",
            "gwestr__Insurance__c": 1500.5,
            "gwestr__Rush__c": True,
            "gwestr__Scheduled_Delivery__c": "2024-05-03",
            "gwestr__Weight__c": 12.25,
        },
        {
            "CreatedDate": "2024-05-01T10:15:00Z",
            "IsDeleted": False,
            "gwestr__Insurance__c": 1500.5,
            "gwestr__Rush__c": True,
            "gwestr__Scheduled_Delivery__c": "2024-05-03",
            "gwestr__Weight__c": 12.25,
        },
    ),
    "discount_rule": (
        {
            "Id": "a01000000000001AAA",
            "Discount__c": 7.5,
            "IsDeleted": True,
            "LastModifiedDate": "2024-01-02T03:04:05Z",
            "Product__c": "01t000000000001AAA",
            "Type__c": "Volume",
        },
        {"Discount__c": 7.5, "IsDeleted": True, "LastModifiedDate": "2024-01-02T03:04:05Z", "Type__c": "Volume"},
    ),
    "object_to_be_removed": (
        {"Id": "a02000000000001AAA", "ObjectClass__c": "Invoice", "ObjectId__c": "INV-42"},
        {"ObjectClass__c": "Invoice", "ObjectId__c": "INV-42"},
    ),
    "adm_release": ({"Id": "a03000000000001AAA", "Name": "Winter '25"}, {"Name": "Winter '25"}),
    "account_ryanbrainard": ({"Id": "001000000000001AAA", "Name": "Acme & Sons <Ltd>"}, {"Name": "Acme & Sons <Ltd>"}),
}


@pytest.mark.parametrize("listener", sorted(GENERATED))
def test_generated_requests_for_every_other_fixture_wsdl(stack: Stack, fixture_listeners: Path, listener: str) -> None:
    fields, expected = GENERATED[listener]
    sender = SalesforceSender(fixture_listeners / f"{listener}.wsdl")
    body = sender.envelope([("04l000000000001AAA", fields), ("04l000000000002AAA", fields)])
    result = deliver(stack, fixture_listeners, listener, body)
    assert result.status == 200, result.detail
    messages = queue_bodies(stack)
    assert [m["notificationId"] for m in messages] == ["04l000000000001AAA", "04l000000000002AAA"]
    for message in messages:
        assert message["organizationId"] == ORG_ID
        assert message["sObjectType"] == sender.sobject_name
        for name, value in expected.items():
            assert message["fields"][name] == value, name
