"""What salesforce/ tells Salesforce, tried against `make run`'s stack: each Outbound Message's endpoint URL (with
its token) takes that listener's message from a zeep client playing Salesforce, the OData Named Credential's URL
with the Basic principal serves the feed, and the callout Named Credential's URL with the External Credential's
header serves the OpenAPI document the External Service registration holds. The project is rendered for port
3000; the stack here serves on a free port, so only the scheme, host and port are swapped."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from zeep.exceptions import Fault

from conftest import serving
from local_runtime.aws_local import LocalAws
from local_runtime.stack import LOCAL_DEFAULTS
from salesforce_project.declarations import WSDL_DIR
from salesforce_project.endpoints import LOCAL_URL
from salesforce_sender import SalesforceSender
from sf_edge.salesforce.ids import to_18

DEFAULT = Path(__file__).resolve().parents[2] / "salesforce" / "force-app" / "main" / "default"
NS = {"m": "http://soap.sforce.com/2006/04/metadata"}


def _one(path: Path, xpath: str) -> str:
    [value] = etree.parse(str(path)).getroot().xpath(xpath, namespaces=NS)
    return str(value)


def _get(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None


def test_what_the_project_tells_salesforce_is_what_make_run_serves(local_aws: LocalAws) -> None:
    # make run's own settings (the tests' defaults differ): the project is rendered from these.
    settings = ("OUTBOUND_TOKEN", "CALLOUT_AUTH", "CALLOUT_API_KEY", "ODATA_AUTH", "ODATA_USERNAME", "ODATA_PASSWORD")
    with serving(local_aws, {name: LOCAL_DEFAULTS[name] for name in settings}) as stack:
        # Outbound Messages: the URL Salesforce will POST to, and the fields it will send.
        sent = 0
        for workflow in sorted((DEFAULT / "workflows").glob("*.workflow-meta.xml")):
            root = etree.parse(str(workflow)).getroot()
            for message in root.xpath("m:outboundMessages", namespaces=NS):
                url = str(message.xpath("m:endpointUrl/text()", namespaces=NS)[0]).replace(LOCAL_URL, stack.url)
                listener = url.split("/outbound/")[1].split("?")[0]
                fields = [str(f) for f in message.xpath("m:fields/text()", namespaces=NS)]
                record_id = to_18(f"{'0065g' if listener == 'opportunity' else '0015g'}00000PrJ{sent:02d}")
                sender = SalesforceSender(WSDL_DIR / f"{listener}.wsdl", url)
                assert sender.send([(f"04l5g00000PrJ{sent:02d}AAA", {"Id": record_id})]) is True, listener
                assert "Id" in fields
                sent += 1
        assert sent == 4
        wrong = url.replace(f"token={LOCAL_DEFAULTS['OUTBOUND_TOKEN']}", "token=not-it")
        with pytest.raises(Fault, match="Wrong token"):  # the token is what makes the URL work
            SalesforceSender(WSDL_DIR / f"{listener}.wsdl", wrong).send([("04l5g00000PrJ99AAA", {"Id": record_id})])

        # Salesforce Connect: the External Data Source's Named Credential, Basic as its principal.
        odata = _one(
            DEFAULT / "namedCredentials" / "Edge_OData.namedCredential-meta.xml",
            "m:namedCredentialParameters[m:parameterType='Url']/m:parameterValue/text()",
        )
        assert (
            _one(
                DEFAULT / "externalCredentials" / "Edge_OData.externalCredential-meta.xml",
                "m:authenticationProtocol/text()",
            )
            == "Basic"
        )
        basic = base64.b64encode(f"{LOCAL_DEFAULTS['ODATA_USERNAME']}:{LOCAL_DEFAULTS['ODATA_PASSWORD']}".encode())
        status, feed = _get(
            f"{odata.replace(LOCAL_URL, stack.url)}Customers?$top=1",
            {"Authorization": f"Basic {basic.decode()}", "OData-MaxVersion": "4.01"},
        )
        assert status == 200
        assert len(feed["value"]) == 1

        # Callouts: the Named Credential's URL with the External Credential's header; the External Service's schema
        # is the document the API serves.
        callouts = _one(
            DEFAULT / "namedCredentials" / "Edge_Callouts.namedCredential-meta.xml",
            "m:namedCredentialParameters[m:parameterType='Url']/m:parameterValue/text()",
        )
        header = _one(
            DEFAULT / "externalCredentials" / "Edge_Callouts.externalCredential-meta.xml",
            "m:externalCredentialParameters[m:parameterType='AuthHeader']/m:parameterName/text()",
        )
        status, served = _get(
            f"{callouts.replace(LOCAL_URL, stack.url)}/api/v1/openapi.json", {header: LOCAL_DEFAULTS["CALLOUT_API_KEY"]}
        )
        assert status == 200
        registered = _one(
            DEFAULT / "externalServiceRegistrations" / "Edge_Callouts.externalServiceRegistration-meta.xml",
            "m:schema/text()",
        )
        assert json.loads(registered) == served
        status, credit = _get(
            f"{callouts.replace(LOCAL_URL, stack.url)}/api/v1/accounts/ALFKI/credit",
            {header: LOCAL_DEFAULTS["CALLOUT_API_KEY"]},
        )
        assert status == 200
        assert credit["decision"] in ("APPROVE", "REVIEW", "DECLINE")
        assert _get(f"{callouts.replace(LOCAL_URL, stack.url)}/api/v1/accounts/ALFKI/credit", {})[0] == 401
