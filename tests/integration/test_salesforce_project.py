"""salesforce/: the Salesforce side as an SFDX project, checked offline.

Every metadata file is validated against Salesforce's own Metadata API schema (the WSDL's <xsd:schema>, API 66.0,
in ../shared/fixtures/salesforce-metadata), type by type with element order; the source format's folders and
suffixes against forcedotcom/source-deploy-retrieve's registry; the component by Salesforce's LWC ESLint
configuration; the committed project against a fresh rendering (drift). No test needs an org.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from lxml import etree
from named_credentials_stand_in import NamedCredentialsStandIn
from test_write_back import PUBLIC_KEY

from conftest import ROOT, shared_fixture
from local_runtime.aws_local import LocalAws
from local_runtime.stack import LOCAL_DEFAULTS
from salesforce_project import declarations as declared
from salesforce_project.__main__ import COMMITTED, differences, rendered, write
from salesforce_project.credentials import CredentialError, OrgSession, put_secrets, stack_secrets
from salesforce_project.endpoints import Endpoints, StackNotReady
from salesforce_project.render import CALLOUTS, ODATA, PRINCIPAL, render

METADATA_NS = "http://soap.sforce.com/2006/04/metadata"
DEFAULT = COMMITTED / "force-app" / "main" / "default"

# The source format's rules for the types the project ships: (folder under default/, suffix, the type), as
# forcedotcom/source-deploy-retrieve's src/registry/metadataRegistry.json declares them (directoryName, suffix;
# fields are CustomObject's child type in objects/<Object>/fields/, lwc a bundle folder per component).
SOURCE_FORMAT = {
    "classes": ("cls", "ApexClass"),
    "dataSources": ("dataSource", "ExternalDataSource"),
    "eventRelays": ("eventRelay", "EventRelayConfig"),
    "externalClientApps": ("eca", "ExternalClientApplication"),
    "externalCredentials": ("externalCredential", "ExternalCredential"),
    "externalServiceRegistrations": ("externalServiceRegistration", "ExternalServiceRegistration"),
    "extlClntAppGlobalOauthSets": ("ecaGlblOauth", "ExtlClntAppGlobalOauthSettings"),
    "extlClntAppOauthPolicies": ("ecaOauthPlcy", "ExtlClntAppOauthConfigurablePolicies"),
    "extlClntAppOauthSettings": ("ecaOauth", "ExtlClntAppOauthSettings"),
    "extlClntAppPolicies": ("ecaPlcy", "ExtlClntAppConfigurablePolicies"),
    "flows": ("flow", "Flow"),
    "namedCredentials": ("namedCredential", "NamedCredential"),
    "permissionsets": ("permissionset", "PermissionSet"),
    "platformEventChannelMembers": ("platformEventChannelMember", "PlatformEventChannelMember"),
    "platformEventChannels": ("platformEventChannel", "PlatformEventChannel"),
    "workflows": ("workflow", "Workflow"),
}
_API_NAME = re.compile(r"^[A-Za-z](?!.*__.*__)[A-Za-z0-9_]*(__(c|e|chn))?$")


@pytest.fixture(scope="session")
def metadata_schema() -> Any:
    """The Metadata API WSDL's schema, with one global element per complex type (a metadata file's root element is
    its type's name), loaded once: about 8 s."""
    import xmlschema

    wsdl = shared_fixture("salesforce-metadata", "metadata.wsdl").read_text(encoding="utf-8")
    schema = re.search(r"<xsd:schema\b.*?</xsd:schema>", wsdl, re.S)
    assert schema is not None
    text = schema.group(0).replace(
        "<xsd:schema ",
        f'<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:tns="{METADATA_NS}" ',
        1,
    )
    names = re.findall(r'<xsd:complexType name="(\w+)">', text)
    elements = "".join(f'<xsd:element name="{n}" type="tns:{n}"/>' for n in names)
    return xmlschema.XMLSchema(text.replace("</xsd:schema>", elements + "</xsd:schema>"))


def metadata_files() -> list[Path]:
    return sorted(DEFAULT.rglob("*-meta.xml"))


def schema_errors(schema: Any, text: str) -> list[str]:
    return [f"{e.reason} at {e.path}" for e in schema.iter_errors(etree.fromstring(text.encode()))]


def type_of(path: Path) -> str:
    """The metadata type a source-format path holds, by the registry's folder and suffix rules."""
    relative = path.relative_to(DEFAULT).parts
    name = path.name.removesuffix("-meta.xml")
    if relative[0] == "objects":
        if len(relative) == 3 and name == f"{relative[1]}.object":
            return "CustomObject"
        assert relative[2] == "fields", path
        assert name.endswith(".field"), path
        return "CustomField"
    if relative[0] == "lwc":
        assert len(relative) == 3, path
        assert name == f"{relative[1]}.js", path
        return "LightningComponentBundle"
    assert len(relative) == 2, f"{path}: {relative[0]}/ holds files, not folders"
    suffix, metadata_type = SOURCE_FORMAT[relative[0]]
    assert name.endswith(f".{suffix}"), f"{path}: {relative[0]}/ takes .{suffix}-meta.xml"
    return metadata_type


# --- the schema ----------------------------------------------------------------------------------------------------


def test_every_metadata_file_is_valid_against_the_metadata_api_schema(metadata_schema: Any) -> None:
    files = metadata_files()
    assert len(files) > 50
    seen: set[str] = set()
    problems = {}
    for path in files:
        root = etree.parse(str(path)).getroot()
        assert root.tag == f"{{{METADATA_NS}}}{type_of(path)}", path
        seen.add(etree.QName(root).localname)
        errors = schema_errors(metadata_schema, path.read_text(encoding="utf-8"))
        if errors:
            problems[path.relative_to(COMMITTED).as_posix()] = errors
    assert problems == {}
    # Every kind the issue asks for is there.
    assert {t for _, t in SOURCE_FORMAT.values()} | {"CustomField", "CustomObject", "LightningComponentBundle"} <= seen


@pytest.mark.parametrize(
    ("path", "breaks", "reason"),
    [
        ("flows/Edge_Send_Opportunity.flow-meta.xml", ("<status>Active</status>\n", ""), None),
        (
            "objects/Opportunity/fields/ERP_Order_Id__c.field-meta.xml",
            ("<label>ERP Order Id</label>", "<labelx>ERP Order Id</labelx>"),
            "Unexpected child",
        ),
        ("dataSources/Edge_Northwind.dataSource-meta.xml", ("OData401", "OData5"), "value must be one of"),
        ("namedCredentials/Edge_OData.namedCredential-meta.xml", ("SecuredEndpoint", "Secured"), "value must be"),
    ],
)
def test_the_schema_check_catches_what_the_metadata_api_would_refuse(
    metadata_schema: Any, path: str, breaks: tuple[str, str], reason: str | None
) -> None:
    text = (DEFAULT / path).read_text(encoding="utf-8")
    assert schema_errors(metadata_schema, text) == []
    if reason is None:  # an element moved: out of the schema's order
        broken = text.replace(breaks[0], "").replace("<actionCalls>", "<status>Active</status>\n    <actionCalls>", 1)
        reason = "Unexpected child"
    else:
        broken = text.replace(*breaks)
    errors = schema_errors(metadata_schema, broken)
    assert errors
    assert reason in errors[0]


def test_source_format_names_and_project_file() -> None:
    project = json.loads((COMMITTED / "sfdx-project.json").read_text(encoding="utf-8"))
    assert project["packageDirectories"] == [{"path": "force-app", "default": True}]
    assert project["sourceApiVersion"] == "66.0"
    for path in metadata_files():
        full_name = path.name.split(".")[0]
        assert _API_NAME.match(full_name) or path.parts[-2] == "edgeOrderStatus", path
        type_of(path)
    # The LWC bundle: its resources beside its metadata, named after the folder.
    bundle = DEFAULT / "lwc" / "edgeOrderStatus"
    assert sorted(p.name for p in bundle.iterdir()) == [
        "edgeOrderStatus.html",
        "edgeOrderStatus.js",
        "edgeOrderStatus.js-meta.xml",
    ]
    ignored = (COMMITTED / ".forceignore").read_text(encoding="utf-8")
    assert "node_modules/" in ignored
    assert "package.json" in ignored


# --- drift -----------------------------------------------------------------------------------------------------


def test_the_committed_project_is_what_the_code_renders() -> None:
    assert differences(rendered(None), COMMITTED) == []


def test_a_new_listener_without_its_outbound_message_is_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wsdls = tmp_path / "wsdl"
    shutil.copytree(declared.WSDL_DIR, wsdls)
    shutil.copy(wsdls / "opportunity.wsdl", wsdls / "won_deals.wsdl")
    monkeypatch.setattr(declared, "WSDL_DIR", wsdls)
    drift = differences(rendered(None), COMMITTED)
    assert "force-app/main/default/flows/Edge_Send_Won_Deals.flow-meta.xml" in drift
    assert "force-app/main/default/workflows/Opportunity.workflow-meta.xml" in drift


def test_a_renamed_field_is_drift_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    types = tmp_path / "fields.toml"
    types.write_text(
        declared.FIELD_TYPES.read_text(encoding="utf-8").replace(
            "[Opportunity.ERP_Order_Id__c]", "[Opportunity.ERP_Order_No__c]"
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(declared, "FIELD_TYPES", types)
    with pytest.raises(declared.DeclarationError) as refused:
        rendered(None)
    assert "Opportunity.ERP_Order_Id__c is used by the code but has no type" in str(refused.value)
    assert "Opportunity.ERP_Order_No__c is declared in fields.toml but nothing uses it" in str(refused.value)


def test_a_type_the_wsdl_cannot_carry_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    types = tmp_path / "fields.toml"
    text = declared.FIELD_TYPES.read_text(encoding="utf-8")
    types.write_text(
        text.replace(
            '[Opportunity.Billing_Contact_Email__c]\ntype = "Email"',
            '[Opportunity.Billing_Contact_Email__c]\ntype = "Date"',
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(declared, "FIELD_TYPES", types)
    with pytest.raises(
        declared.DeclarationError,
        match=r"Billing_Contact_Email__c: fields\.toml says Date but the opportunity listener's WSDL sends it as "
        r"xsd:string",
    ):
        rendered(None)


def test_make_salesforce_writes_and_prunes(tmp_path: Path) -> None:
    files = rendered(None)
    stale = tmp_path / "force-app" / "main" / "default" / "flows" / "Edge_Send_Gone.flow-meta.xml"
    stale.parent.mkdir(parents=True)
    stale.write_text("old", encoding="utf-8")
    write(files, tmp_path)
    assert not stale.exists()
    assert differences(files, tmp_path) == []


# --- what the project says -----------------------------------------------------------------------------------------


def _xml(path: Path) -> etree._Element:
    return etree.parse(str(path)).getroot()


def _texts(root: etree._Element, xpath: str) -> list[str]:
    return [str(t) for t in root.xpath(xpath, namespaces={"m": METADATA_NS})]


def test_each_listener_has_its_outbound_message_and_flow_or_says_why_not() -> None:
    from sf_edge.outbound.listeners import ListenerRegistry

    registry = ListenerRegistry(declared.WSDL_DIR, declared.LISTENERS_TOML)
    config = tomllib.loads(declared.LISTENERS_TOML.read_text(encoding="utf-8"))["listeners"]
    rendered_ones = 0
    for name in registry.names():
        listener = registry.get(name)
        flow = DEFAULT / "flows" / f"Edge_Send_{'_'.join(p.capitalize() for p in name.split('_'))}.flow-meta.xml"
        if config.get(name, {}).get("outbound_message", True) is False:
            assert not flow.exists()
            continue
        rendered_ones += 1
        workflow = _xml(DEFAULT / "workflows" / f"{listener.sobject_type}.workflow-meta.xml")
        message = workflow.xpath(
            "m:outboundMessages[m:endpointUrl[contains(., $n)]]", namespaces={"m": METADATA_NS}, n=f"/outbound/{name}?"
        )
        assert len(message) == 1, name
        assert _texts(message[0], "m:fields/text()") == list(listener.field_names)  # exactly what the WSDL types
        assert _texts(message[0], "m:endpointUrl/text()") == [
            f"http://127.0.0.1:3000/outbound/{name}?token={LOCAL_DEFAULTS['OUTBOUND_TOKEN']}"
        ]
        assert _texts(message[0], "m:includeSessionId/text()") == ["false"]
        full_name = _texts(message[0], "m:fullName/text()")[0]
        sends = _xml(flow)
        assert _texts(sends, "m:actionCalls/m:actionName/text()") == [f"{listener.sobject_type}.{full_name}"]
        assert _texts(sends, "m:actionCalls/m:actionType/text()") == ["outboundMessage"]
        assert _texts(sends, "m:start/m:object/text()") == [listener.sobject_type]
        assert _texts(sends, "m:start/m:triggerType/text()") == ["RecordAfterSave"]
    assert rendered_ones == 4


def test_every_field_the_code_writes_exists_and_the_integration_user_may_edit_it() -> None:
    found = declared.load()
    permission_set = _xml(DEFAULT / "permissionsets" / "Edge_Integration_User.permissionset-meta.xml")
    editable = set(_texts(permission_set, "m:fieldPermissions[m:editable='true']/m:field/text()"))
    for sobject, names in found.written_fields.items():
        for name in names:
            assert (DEFAULT / "objects" / sobject / "fields" / f"{name}.field-meta.xml").is_file()
            assert f"{sobject}.{name}" in editable
    assert "Opportunity.ERP_Order_Id__c" in editable
    assert "Opportunity.ERP_Freight__c" in editable
    # Order_Status__e: the integration user publishes it.
    event = permission_set.xpath("m:objectPermissions[m:object='Order_Status__e']", namespaces={"m": METADATA_NS})[0]
    assert _texts(event, "m:allowCreate/text()") == ["true"]
    fields = {p.name.split(".")[0] for p in (DEFAULT / "objects" / "Order_Status__e" / "fields").iterdir()}
    assert fields == {
        "Order_Id__c",
        "Opportunity_Id__c",
        "Status__c",
        "Shipped_Date__c",
        "Freight__c",
        "Change_Key__c",
        "Changed_At__c",
    }


def test_credentials_data_source_service_and_relay_point_at_the_stack() -> None:
    callouts = _xml(DEFAULT / "namedCredentials" / "Edge_Callouts.namedCredential-meta.xml")
    assert _texts(callouts, "m:namedCredentialParameters[m:parameterType='Url']/m:parameterValue/text()") == [
        "http://127.0.0.1:3000"
    ]
    # make run's callout API checks an API key: the External Credential sends it from the principal.
    credential = _xml(DEFAULT / "externalCredentials" / "Edge_Callouts.externalCredential-meta.xml")
    assert _texts(credential, "m:authenticationProtocol/text()") == ["Custom"]
    assert _texts(
        credential, "m:externalCredentialParameters[m:parameterType='AuthHeader']/m:parameterValue/text()"
    ) == ["{!$Credential.Edge_Callouts.ApiKey}"]
    source = _xml(DEFAULT / "dataSources" / "Edge_Northwind.dataSource-meta.xml")
    assert _texts(source, "m:type/text()") == ["OData401"]
    assert _texts(source, "m:namedCredential/text()") == ["Edge_OData"]
    odata = _xml(DEFAULT / "namedCredentials" / "Edge_OData.namedCredential-meta.xml")
    assert _texts(odata, "m:namedCredentialParameters[m:parameterType='Url']/m:parameterValue/text()") == [
        "http://127.0.0.1:3000/odata/v4/"
    ]
    service = _xml(DEFAULT / "externalServiceRegistrations" / "Edge_Callouts.externalServiceRegistration-meta.xml")
    assert json.loads(_texts(service, "m:schema/text()")[0]) == json.loads(
        (ROOT / "openapi" / "callouts.json").read_text(encoding="utf-8")
    )
    assert _texts(service, "m:operations/m:name/text()") == [
        "createQuote",
        "getAccountCredit",
        "getOrder",
        "getProductAvailability",
        "validateAddress",
    ]
    relay = _xml(DEFAULT / "namedCredentials" / "Edge_Event_Relay.namedCredential-meta.xml")
    assert _texts(relay, "m:endpoint/text()") == ["arn:aws:us-east-1:123456789012"]
    users = _xml(DEFAULT / "permissionsets" / "Edge_Users.permissionset-meta.xml")
    assert _texts(users, "m:externalCredentialPrincipalAccesses/m:externalCredentialPrincipal/text()") == [
        f"{CALLOUTS}-{PRINCIPAL}",
        f"{ODATA}-{PRINCIPAL}",
    ]
    secrets = "\n".join(p.read_text(encoding="utf-8") for p in metadata_files())
    for value in ("CALLOUT_API_KEY", "ODATA_PASSWORD", "ODATA_API_KEY"):
        assert LOCAL_DEFAULTS[value] not in secrets  # secrets are set after deploy, never written as metadata


# --- a deployed stack ----------------------------------------------------------------------------------------------


def _deployed_stack(name: str, parameters: dict[str, str], secrets: dict[str, str]) -> None:
    """A stack of the project's shape on moto: the outputs and parameters `make salesforce` reads."""
    manager = boto3.client("secretsmanager")
    outputs = {
        "OutboundMessageEndpoint": "https://abc123.execute-api.eu-west-1.amazonaws.com/live/outbound/",
        "CalloutApiUrl": "https://def456.execute-api.eu-west-1.amazonaws.com/live",
        "ODataServiceUrl": "https://ghi789.execute-api.eu-west-1.amazonaws.com/odata/v4/",
    }
    for output, value in secrets.items():
        outputs[output] = manager.create_secret(Name=f"{name}-{output}", SecretString=value)["ARN"]
    template = {
        "Parameters": {key: {"Type": "String", "Default": value} for key, value in parameters.items()},
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


def test_a_stack_rendering_takes_its_outputs_parameters_and_token(local_aws: LocalAws) -> None:
    _deployed_stack(
        "sf-edge-render",
        {
            "CalloutAuth": "IAM",
            "ODataAuth": "Basic",
            "ODataUsername": "connect",
            "SalesforceUsername": "int@acme.example",
            "ODataWritable": "true",
        },
        {"OutboundTokenSecretArn": "old-token,new-token", "ODataCredentialSecretArn": "pw"},
    )
    endpoints = Endpoints.of_stack("sf-edge-render", boto3.client("cloudformation"), boto3.client("secretsmanager"))
    assert endpoints.outbound_token == "new-token"  # the newest of a rotation
    assert endpoints.account_id == "123456789012"
    assert endpoints.integration_user == "int@acme.example"
    files = render(declared.load(), endpoints)
    workflow = files["force-app/main/default/workflows/Opportunity.workflow-meta.xml"]
    assert "https://abc123.execute-api.eu-west-1.amazonaws.com/live/outbound/opportunity?token=new-token" in workflow
    assert "<integrationUser>int@acme.example</integrationUser>" in workflow
    credential = files["force-app/main/default/externalCredentials/Edge_Callouts.externalCredential-meta.xml"]
    assert "<authenticationProtocol>AwsSv4</authenticationProtocol>" in credential
    assert "execute-api" in credential
    assert "pw" not in files["force-app/main/default/externalCredentials/Edge_OData.externalCredential-meta.xml"]
    assert (
        "<isWritable>true</isWritable>"
        in files["force-app/main/default/dataSources/Edge_Northwind.dataSource-meta.xml"]
    )
    with pytest.raises(StackNotReady, match="could not be described"):
        Endpoints.of_stack("no-such-stack", boto3.client("cloudformation"), boto3.client("secretsmanager"))


def test_stack_rendering_is_schema_valid_for_every_auth_choice(local_aws: LocalAws, metadata_schema: Any) -> None:
    base = Endpoints.local(LOCAL_DEFAULTS)
    for callout, odata in (("IAM", "Basic"), ("ApiKey", "ApiKey"), ("IAM", "None")):
        endpoints = Endpoints(
            **{
                **base.__dict__,
                "callout_auth": callout,
                "odata_auth": odata,
                "jwt_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            }
        )
        for path, text in render(declared.load(), endpoints).items():
            if path.endswith("-meta.xml"):
                assert schema_errors(metadata_schema, text) == [], (callout, odata, path)


# --- the secrets after deploy --------------------------------------------------------------------------------------


@pytest.fixture
def org() -> Iterator[NamedCredentialsStandIn]:
    stand_in = NamedCredentialsStandIn(PUBLIC_KEY, external_credentials={CALLOUTS: "Custom", ODATA: "Basic"}).start()
    yield stand_in
    stand_in.stop()


def test_secrets_go_to_the_principals_through_the_connect_api(
    local_aws: LocalAws, org: NamedCredentialsStandIn
) -> None:
    _deployed_stack(
        "sf-edge-secrets",
        {"CalloutAuth": "ApiKey", "ODataAuth": "Basic", "ODataUsername": "connect"},
        {
            "OutboundTokenSecretArn": "t",
            "CalloutApiKeySecretArn": "key-1,key-2",
            "ODataCredentialSecretArn": "odata-pw",
        },
    )
    principals = stack_secrets("sf-edge-secrets", boto3.client("cloudformation"), boto3.client("secretsmanager"), {})
    session = OrgSession(org.url, org.issue_session())
    assert put_secrets(session, principals) == [
        "Edge_Callouts/Edge_Principal: created ApiKey",
        "Edge_OData/Edge_Principal: created password, username",
    ]
    assert org.stored[(CALLOUTS, PRINCIPAL)] == {"ApiKey": {"value": "key-2", "encrypted": True}}
    assert org.stored[(ODATA, PRINCIPAL)] == {
        "username": {"value": "connect", "encrypted": False},
        "password": {"value": "odata-pw", "encrypted": True},
    }
    # Run again (a rotated key): replaced, not created twice.
    assert put_secrets(session, principals)[0] == "Edge_Callouts/Edge_Principal: replaced ApiKey"
    assert [m for m, _ in org.requests] == ["GET", "POST", "GET", "POST", "GET", "PUT", "GET", "PUT"]


def test_secrets_refused_clearly(local_aws: LocalAws, org: NamedCredentialsStandIn) -> None:
    _deployed_stack("sf-edge-iam", {"CalloutAuth": "IAM", "ODataAuth": "None"}, {"OutboundTokenSecretArn": "t"})
    with pytest.raises(CredentialError, match="CALLOUT_ACCESS_KEY_ID"):
        stack_secrets("sf-edge-iam", boto3.client("cloudformation"), boto3.client("secretsmanager"), {})
    principals = stack_secrets(
        "sf-edge-iam",
        boto3.client("cloudformation"),
        boto3.client("secretsmanager"),
        {"CALLOUT_ACCESS_KEY_ID": "AKIAEXAMPLE", "CALLOUT_SECRET_ACCESS_KEY": "s3cr3t"},
    )
    assert [p.protocol for p in principals] == ["AwsSv4"]
    # The org does not have the project yet.
    org.external_credentials = {}
    with pytest.raises(CredentialError, match="deploy the project first") as refused:
        put_secrets(OrgSession(org.url, org.issue_session()), principals)
    assert "s3cr3t" not in str(refused.value)
    # A wrong session: Salesforce's error, without the secret.
    org.external_credentials = {CALLOUTS: "AwsSv4"}
    with pytest.raises(CredentialError, match="INVALID_SESSION_ID"):
        put_secrets(OrgSession(org.url, "not-a-session"), principals)


# --- the component -------------------------------------------------------------------------------------------------


def _node_tool(*command: str) -> subprocess.CompletedProcess[str]:
    if not (COMMITTED / "node_modules" / ".installed").exists() or shutil.which("node") is None:
        pytest.skip("salesforce/node_modules is not installed (make test installs it with npm when npm is present)")
    return subprocess.run(
        list(command),
        cwd=COMMITTED,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _eslint(target: Path) -> subprocess.CompletedProcess[str]:
    eslint = COMMITTED / "node_modules" / ".bin" / "eslint"
    return _node_tool(str(eslint), "--max-warnings", "0", "--no-warn-ignored", str(target))


def _apex_parser(*files: Path) -> subprocess.CompletedProcess[str]:
    return _node_tool("node", "scripts/check-apex.js", *map(str, files))


def test_the_apex_classes_parse_with_the_apex_grammar() -> None:
    classes = sorted((DEFAULT / "classes").glob("*.cls"))
    assert [c.name for c in classes] == ["EdgeCallouts.cls", "EdgeCalloutsTest.cls"]
    done = _apex_parser(*classes)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": parsed") == 2
    client = classes[0].read_text(encoding="utf-8")
    assert "NAMED_CREDENTIAL = 'Edge_Callouts'" in client  # the Named Credential the project declares


def test_the_apex_parser_refuses_what_the_compiler_would(tmp_path: Path) -> None:
    broken = tmp_path / "Broken.cls"
    text = (DEFAULT / "classes" / "EdgeCallouts.cls").read_text(encoding="utf-8")
    broken.write_text(text.replace("request.setMethod(method);", "request.setMethod(method)"), encoding="utf-8")
    done = _apex_parser(broken)
    assert done.returncode == 1
    assert "missing ';'" in done.stdout


def test_the_component_passes_salesforce_lwc_eslint() -> None:
    done = _eslint(DEFAULT / "lwc")
    assert done.returncode == 0, done.stdout + done.stderr


def test_lwc_eslint_refuses_what_the_platform_refuses() -> None:
    bundle = DEFAULT / "lwc" / "edgeOrderStatus"
    broken = bundle.parent / "edgeBroken"
    shutil.copytree(bundle, broken)
    try:
        js = broken / "edgeOrderStatus.js"
        js.write_text(
            js.read_text(encoding="utf-8").replace("this.orderId = payload", "this.recordId = payload"),
            encoding="utf-8",
        )
        done = _eslint(broken)
        assert done.returncode == 1
        assert "lwc/no-api-reassignments" in done.stdout
    finally:
        shutil.rmtree(broken)


def test_the_component_reads_the_declared_channel_and_fields() -> None:
    js = (DEFAULT / "lwc" / "edgeOrderStatus" / "edgeOrderStatus.js").read_text(encoding="utf-8")
    assert "const CHANNEL = '/event/Order_Status__e';" in js
    for name in ("Change_Key__c", "Changed_At__c", "Opportunity_Id__c"):
        assert f"'{name}'" in js
    for name in ("ERP_Order_Id__c", "ERP_Order_Status__c", "ERP_Shipped_Date__c", "ERP_Freight__c"):
        assert f"'Opportunity.{name}'" in js


# --- the command ---------------------------------------------------------------------------------------------------


def test_make_salesforce_for_a_stack_and_its_check(
    local_aws: LocalAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from salesforce_project.__main__ import main

    _deployed_stack(
        "sf-edge-cli",
        {"CalloutAuth": "ApiKey", "ODataAuth": "ApiKey", "SalesforceUsername": "int@acme.example"},
        {"OutboundTokenSecretArn": "cli-token"},
    )
    out = tmp_path / "project"
    assert main(["--stack", "sf-edge-cli", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "sf project deploy start" in said
    assert "make salesforce-secrets STACK=sf-edge-cli" in said
    assert "token=cli-token" in (out / "force-app/main/default/workflows/Lead.workflow-meta.xml").read_text()
    assert main(["--check"]) == 0  # the committed project
    assert main(["--check", "--out", str(out)]) == 1  # a stack's rendering is not make run's
    assert "drift: force-app/main/default/workflows/Lead.workflow-meta.xml" in capsys.readouterr().err
    assert main(["--stack", "no-such-stack", "--out", str(out)]) == 2
    assert "could not be described" in capsys.readouterr().err


def test_callout_jwt_is_refused_with_the_way_out(local_aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    from salesforce_project.__main__ import main

    _deployed_stack(
        "sf-edge-jwt", {"CalloutAuth": "Jwt", "SalesforceUsername": "int@acme.example"}, {"OutboundTokenSecretArn": "t"}
    )
    assert main(["--stack", "sf-edge-jwt"]) == 2
    assert "CalloutAuth=Jwt is not rendered" in capsys.readouterr().err
