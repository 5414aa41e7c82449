"""The benchmark's inputs: a 100-notification Opportunity message as Salesforce lays it out."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WSDL_DIR = ROOT / "functions" / "outbound_listener" / "wsdl"
ORG = "00D5g00000LoCaLEAA"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"


def long_text(chars: int = 131_072) -> str:
    """A long text area at Salesforce's maximum, in CJK (3 bytes a character in UTF-8: 393 KB)."""
    return "".join(chr(0x4E00 + (i * 7919) % 20_000) for i in range(chars))


def opportunity_message(count: int = 100, *, long_text_at: int | None = None) -> bytes:
    """`count` Closed Won Opportunities with every field of opportunity.wsdl, in Salesforce's layout; the one at
    `long_text_at` carries a Description at the long text maximum."""
    notifications = []
    for i in range(count):
        fields = {
            "Id": f"0065g0000{i:06d}AAA",
            "AccountId": "0015g00000AlFkIAAV",
            "Amount": f"{1000 + i}.0",
            "Billing_Contact_Email__c": f"billing{i}@example.com",
            "CloseDate": "2026-11-20",
            "Description": "Renewal for 2027, signed by procurement &amp; legal",
            "IsClosed": "true",
            "IsWon": "true",
            "LastModifiedDate": "2026-11-20T09:30:00.000Z",
            "LeadSource": "Partner Referral",
            "Name": f"Renewal {i}",
            "OwnerId": "0055g00000OwNeRAAA",
            "Probability": "100.0",
            "StageName": "Closed Won",
            "SystemModstamp": "2026-11-20T09:30:00.000Z",
            "Type": "Existing Customer - Renewal",
        }
        if i == long_text_at:
            fields["Description"] = long_text()
        body = "".join(f"<sf:{k}>{v}</sf:{k}>" for k, v in fields.items())
        notifications.append(
            f"<Notification><Id>04l5g0000{i:06d}AAA</Id>"
            f'<sObject xsi:type="sf:Opportunity" xmlns:sf="{SOBJECT_NS}">{body}</sObject></Notification>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{ORG}</OrganizationId><ActionId>04k5g00000AcTioAAA</ActionId>"
        '<SessionId xsi:nil="true"/>'
        f"<EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/62.0/{ORG[:15]}</EnterpriseUrl>"
        f"<PartnerUrl>https://example.my.salesforce.com/services/Soap/u/62.0/{ORG[:15]}</PartnerUrl>"
        + "".join(notifications)
        + "</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()
