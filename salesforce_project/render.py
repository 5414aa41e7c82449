"""The Salesforce side as an SFDX project in source format: every file, by its path under the project root.

`render()` is a pure function of the declarations and the endpoints, so the same inputs give the same bytes (the
drift test renders again and compares). Each metadata file's elements follow the Metadata API schema's order.
Nothing secret is written except the Outbound Message token, which Salesforce can only take inside the endpoint
URL; a stack's rendering therefore goes to a git-ignored folder (see `__main__`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import chain

from salesforce_project.declarations import Declarations, FieldType, OutboundMessageSource
from salesforce_project.endpoints import API_VERSION, Endpoints
from salesforce_project.metadata_xml import Node, Value, metadata_file

PREFIX = "Edge"
DEFAULT = "force-app/main/default"
CALLOUTS = f"{PREFIX}_Callouts"
ODATA = f"{PREFIX}_OData"
EVENT_RELAY_CREDENTIAL = f"{PREFIX}_Event_Relay"
DATA_SOURCE = f"{PREFIX}_Northwind"
PRINCIPAL = f"{PREFIX}_Principal"
CHANNEL = f"{PREFIX}_Events__chn"
RELAY = f"{PREFIX}_Events_Relay"
APP = f"{PREFIX}_Integration"
INTEGRATION_PERMISSION_SET = f"{PREFIX}_Integration_User"
USER_PERMISSION_SET = f"{PREFIX}_Users"
COMPONENT = "edgeOrderStatus"
# The read the line items need besides the Opportunity itself (sf_edge.salesforce.line_items' SOQL).
LINE_ITEM_OBJECTS = ("OpportunityLineItem", "Product2")


def render(declarations: Declarations, endpoints: Endpoints) -> dict[str, str]:
    """Every file of the project: `sfdx-project.json`, `.forceignore` and `force-app/main/default/...`."""
    files = {
        "sfdx-project.json": json.dumps(
            {
                "packageDirectories": [{"path": "force-app", "default": True}],
                "name": "salesforce-integration-edge",
                "namespace": "",
                "sourceApiVersion": API_VERSION,
            },
            indent=2,
        )
        + "\n",
        ".forceignore": _FORCEIGNORE,
    }
    parts = chain(
        _custom_fields(declarations),
        _platform_events(declarations),
        _outbound_messages(declarations, endpoints),
        _credentials(endpoints),
        _data_source(endpoints),
        _external_service(declarations),
        _event_relay(declarations, endpoints),
        _external_client_app(endpoints),
        _permission_sets(declarations, endpoints),
        _component(declarations),
        _apex(),
    )
    for path, text in parts:
        files[f"{DEFAULT}/{path}"] = text
    return files


def api_name(listener: str) -> str:
    """`discount_rule` -> `Discount_Rule`: a listener's part of a metadata API name."""
    return "_".join(part.capitalize() for part in listener.split("_") if part)


# --- fields and events -------------------------------------------------------------------------------------------


def _custom_field(field: FieldType) -> str:
    children: list[tuple[str, Value]] = [
        ("fullName", field.name),
        ("description", field.description),
        ("externalId", True if field.external_id else None),
        ("label", field.label),
        ("length", field.length),
        ("precision", field.precision),
        ("referenceTo", field.reference_to),
        ("relationshipLabel", field.label if field.relationship_name else None),
        ("relationshipName", field.relationship_name),
        ("required", False),
        ("scale", field.scale),
        ("type", field.type),
        ("unique", True if field.external_id else None),
    ]
    if field.type == "Picklist":
        values: list[tuple[str, Value]] = [
            ("value", [("fullName", value), ("default", False), ("label", value)]) for value in field.values
        ]
        children.append(("valueSet", [("restricted", True), ("valueSetDefinition", [("sorted", False), *values])]))
    return metadata_file("CustomField", children)


def _custom_fields(declarations: Declarations) -> Iterator[tuple[str, str]]:
    for (sobject, name), field in sorted(declarations.field_types.items()):
        yield f"objects/{sobject}/fields/{name}.field-meta.xml", _custom_field(field)


def _platform_events(declarations: Declarations) -> Iterator[tuple[str, str]]:
    events = (
        (
            declarations.status_event,
            "Order Status",
            "PublishImmediately",  # the order system's change, published whatever Salesforce's transaction does
            "An order's state, published by the integration edge when the order system changes it (UI update on "
            "data change: the Opportunity page's edgeOrderStatus component shows it).",
        ),
        (
            declarations.request_event,
            "Order Request",
            "PublishAfterCommit",  # only a committed Closed Won becomes an Order
            "Asks the integration edge for the Order of a won Opportunity (relayed to AWS by Event Relay).",
        ),
    )
    for name, label, behaviour, description in events:
        yield (
            f"objects/{name}/{name}.object-meta.xml",
            metadata_file(
                "CustomObject",
                [
                    ("deploymentStatus", "Deployed"),
                    ("description", description),
                    ("eventType", "HighVolume"),
                    ("label", label),
                    ("pluralLabel", f"{label}s"),
                    ("publishBehavior", behaviour),
                ],
            ),
        )


# --- Outbound Messages and the Flows that send them -----------------------------------------------------------


def _outbound_messages(declarations: Declarations, endpoints: Endpoints) -> Iterator[tuple[str, str]]:
    by_object: dict[str, list[OutboundMessageSource]] = {}
    for message in declarations.outbound_messages:
        by_object.setdefault(message.sobject, []).append(message)
    for sobject, messages in sorted(by_object.items()):
        actions = [("outboundMessages", _outbound_message(m, endpoints)) for m in messages]
        yield f"workflows/{sobject}.workflow-meta.xml", metadata_file("Workflow", actions)
    for message in declarations.outbound_messages:
        yield f"flows/{PREFIX}_Send_{api_name(message.listener)}.flow-meta.xml", _flow(message)


def _outbound_message(message: OutboundMessageSource, endpoints: Endpoints) -> Node:
    name = f"{PREFIX}_{api_name(message.listener)}"
    return [
        ("fullName", name),
        ("apiVersion", API_VERSION),
        ("description", message.description or f"{message.sobject} changes to the integration edge"),
        ("endpointUrl", f"{endpoints.outbound_url}{message.listener}?token={endpoints.outbound_token}"),
        *[("fields", f) for f in message.fields],
        ("includeSessionId", message.include_session_id),
        ("integrationUser", endpoints.integration_user),
        ("name", name.replace("_", " ")),
        ("protected", False),
        ("useDeadLetterQueue", False),
    ]


def _flow(message: OutboundMessageSource) -> str:
    action = f"{message.sobject}.{PREFIX}_{api_name(message.listener)}"
    return metadata_file(
        "Flow",
        [
            (
                "actionCalls",
                [
                    ("name", "Send_Outbound_Message"),
                    ("label", "Send Outbound Message"),
                    ("locationX", 176),
                    ("locationY", 323),
                    ("actionName", action),
                    ("actionType", "outboundMessage"),
                    # No inputs: the action sends the triggering record (as a Flow retrieved from an org shows it).
                    ("flowTransactionModel", "CurrentTransaction"),
                    ("nameSegment", action),
                ],
            ),
            ("apiVersion", API_VERSION),
            (
                "description",
                f"Sends the {message.listener} Outbound Message to the integration edge on every create and update "
                f"of a {message.sobject} (generated by make salesforce; narrow the entry conditions here if only "
                "some changes matter).",
            ),
            ("interviewLabel", f"{PREFIX} Send {api_name(message.listener)} {{!$Flow.CurrentDateTime}}"),
            ("label", f"{PREFIX}: send {message.sobject} Outbound Message"),
            (
                "processMetadataValues",
                [("name", "BuilderType"), ("value", [("stringValue", "LightningFlowBuilder")])],
            ),
            (
                "processMetadataValues",
                [("name", "CanvasMode"), ("value", [("stringValue", "AUTO_LAYOUT_CANVAS")])],
            ),
            ("processType", "AutoLaunchedFlow"),
            (
                "start",
                [
                    ("locationX", 50),
                    ("locationY", 0),
                    ("connector", [("targetReference", "Send_Outbound_Message")]),
                    ("object", message.sobject),
                    ("recordTriggerType", "CreateAndUpdate"),
                    ("triggerType", "RecordAfterSave"),
                ],
            ),
            ("status", "Active"),
        ],
    )


# --- credentials, the OData source, the External Service ----------------------------------------------------------


def _parameter(name: str, kind: str, value: str | None = None, sequence: int | None = None) -> Node:
    return [("parameterName", name), ("parameterType", kind), ("parameterValue", value), ("sequenceNumber", sequence)]


def _external_credential(name: str, label: str, protocol: str, parameters: list[Node], description: str) -> str:
    return metadata_file(
        "ExternalCredential",
        [
            ("authenticationProtocol", protocol),
            ("description", description),
            *[("externalCredentialParameters", p) for p in parameters],
            ("label", label),
        ],
    )


def _named_credential(label: str, url: str, external_credential: str, description: str) -> str:
    return metadata_file(
        "NamedCredential",
        [
            ("allowMergeFieldsInBody", False),
            ("allowMergeFieldsInHeader", False),
            ("calloutStatus", "Enabled"),
            ("description", description),
            ("generateAuthorizationHeader", True),
            ("label", label),
            (
                "namedCredentialParameters",
                [("parameterName", "Url"), ("parameterType", "Url"), ("parameterValue", url)],
            ),
            (
                "namedCredentialParameters",
                [
                    ("externalCredential", external_credential),
                    ("parameterName", "ExternalCredential"),
                    ("parameterType", "Authentication"),
                ],
            ),
            ("namedCredentialType", "SecuredEndpoint"),
        ],
    )


def credential_protocols(callout_auth: str, odata_auth: str) -> dict[str, str]:
    """The External Credentials the project declares and their protocol, by the stack's CalloutAuth and ODataAuth
    (what the secrets command fills in)."""
    protocols = {CALLOUTS: "AwsSv4" if callout_auth == "IAM" else "Custom"}
    if odata_auth != "None":
        protocols[ODATA] = "Basic" if odata_auth == "Basic" else "Custom"
    return protocols


def _credential(
    name: str, label: str, protocol: str, parameters: list[Node], how: str, url: str, serves: str
) -> Iterator[tuple[str, str]]:
    """An External Credential and the SecuredEndpoint Named Credential of the same name that uses it."""
    yield (
        f"externalCredentials/{name}.externalCredential-meta.xml",
        _external_credential(name, label, protocol, parameters, how),
    )
    yield f"namedCredentials/{name}.namedCredential-meta.xml", _named_credential(label, url, name, serves)


def _credentials(endpoints: Endpoints) -> Iterator[tuple[str, str]]:
    principal = _parameter(PRINCIPAL, "NamedPrincipal", sequence=1)
    if endpoints.callout_auth == "IAM":
        callout_parameters = [
            principal,
            _parameter("AwsRegion", "AuthParameter", endpoints.region),
            _parameter("AwsService", "AuthParameter", "execute-api"),
        ]
        how = "AWS Signature Version 4 (CalloutAuth=IAM): the principal holds the access key of the IAM user"
    elif endpoints.callout_auth == "ApiKey":
        callout_parameters = [
            principal,
            _parameter("x-api-key", "AuthHeader", f"{{!$Credential.{CALLOUTS}.ApiKey}}", 1),
        ]
        how = "An API key in x-api-key (CalloutAuth=ApiKey): the principal's ApiKey parameter holds it"
    else:
        raise ValueError(
            "CalloutAuth=Jwt is not rendered: create its External Credential by hand (README, The callout API)"
        )
    protocols = credential_protocols(endpoints.callout_auth, endpoints.odata_auth)
    yield from _credential(
        CALLOUTS,
        "Edge callouts",
        protocols[CALLOUTS],
        callout_parameters,
        how,
        endpoints.callout_url,
        "The callout API (request and reply)",
    )
    if endpoints.odata_auth != "None":
        if endpoints.odata_auth == "Basic":
            odata_parameters = [principal]
            how = f"Basic authentication (ODataAuth=Basic) as {endpoints.odata_username}"
        else:
            odata_parameters = [principal, _parameter("X-API-Key", "AuthHeader", f"{{!$Credential.{ODATA}.ApiKey}}", 1)]
            how = "An API key in X-API-Key (ODataAuth=ApiKey)"
        yield from _credential(
            ODATA,
            "Edge OData feed",
            protocols[ODATA],
            odata_parameters,
            how,
            endpoints.odata_url,
            "The OData 4.0 feed (Salesforce Connect)",
        )
    # Event Relay's destination: a legacy Named Credential whose URL is the AWS account and Region.
    yield (
        f"namedCredentials/{EVENT_RELAY_CREDENTIAL}.namedCredential-meta.xml",
        metadata_file(
            "NamedCredential",
            [
                ("description", "Event Relay to Amazon EventBridge: the account and Region of the stack"),
                ("endpoint", f"arn:aws:{endpoints.region}:{endpoints.account_id}"),
                ("label", "Edge Event Relay"),
                ("namedCredentialType", "Legacy"),
                ("principalType", "Anonymous"),
                ("protocol", "NoAuthentication"),
            ],
        ),
    )


def _data_source(endpoints: Endpoints) -> Iterator[tuple[str, str]]:
    # What Setup's "Request Row Counts", "Server Driven Pagination", "Enable Search" with free-text expressions and
    # "Format: JSON" store: the feed keeps counts for one item and pages itself.
    configuration = {
        "inlineCountEnabled": "true",
        "serverDrivenPagination": "true",
        "searchEnabled": "true",
        "useFreeTextSearch": "true",
        "format": "JSON",
        "timeout": "120",
        "compatibility": "DEFAULT",
        "noIdMapping": "false",
        "requestCompression": "false",
        "csrfTokenEnabled": "false",
    }
    secured = endpoints.odata_auth != "None"
    yield (
        f"dataSources/{DATA_SOURCE}.dataSource-meta.xml",
        metadata_file(
            "ExternalDataSource",
            [
                ("customConfiguration", json.dumps(configuration, separators=(",", ":"))),
                ("endpoint", None if secured else endpoints.odata_url),
                ("isWritable", endpoints.odata_writable),
                ("label", "Northwind (integration edge)"),
                ("namedCredential", ODATA if secured else None),
                ("principalType", "Anonymous"),
                ("protocol", "NoAuthentication"),
                ("type", "OData401"),
            ],
        ),
    )


def _external_service(declarations: Declarations) -> Iterator[tuple[str, str]]:
    operations: list[tuple[str, Value]] = [
        ("operations", [("active", True), ("name", name)]) for name in declarations.operations
    ]
    yield (
        f"externalServiceRegistrations/{CALLOUTS}.externalServiceRegistration-meta.xml",
        metadata_file(
            "ExternalServiceRegistration",
            [
                ("description", "The callout API's operations as invocable actions (openapi/callouts.json)"),
                ("label", "Edge callouts"),
                ("namedCredentialReference", CALLOUTS),
                *operations,
                ("registrationProviderType", "Custom"),
                ("schema", declarations.openapi),
                ("schemaType", "OpenApi3"),
                ("status", "Complete"),
            ],
        ),
    )


# --- Event Relay --------------------------------------------------------------------------------------------------


def _event_relay(declarations: Declarations, endpoints: Endpoints) -> Iterator[tuple[str, str]]:
    yield (
        f"platformEventChannels/{CHANNEL}.platformEventChannel-meta.xml",
        metadata_file("PlatformEventChannel", [("channelType", "event"), ("label", "Edge events")]),
    )
    member = f"{CHANNEL.removesuffix('__chn')}_chn_{declarations.request_event.removesuffix('__e')}_e"
    yield (
        f"platformEventChannelMembers/{member}.platformEventChannelMember-meta.xml",
        metadata_file(
            "PlatformEventChannelMember",
            [("eventChannel", CHANNEL), ("selectedEntity", declarations.request_event)],
        ),
    )
    yield (
        f"eventRelays/{RELAY}.eventRelay-meta.xml",
        metadata_file(
            "EventRelayConfig",
            [
                ("destinationResourceName", f"callout:{EVENT_RELAY_CREDENTIAL}"),
                ("eventChannel", CHANNEL),
                ("label", "Edge events to EventBridge"),
                ("relayOption", json.dumps({"ReplayRecovery": "LATEST"}, separators=(",", ":"))),
                # Stopped until AWS has accepted the partner event source (README: associate it, then start).
                ("state", "STOP"),
            ],
        ),
    )


# --- the integration user's app and permissions -------------------------------------------------------------------


def _external_client_app(endpoints: Endpoints) -> Iterator[tuple[str, str]]:
    label = "Edge integration"
    yield (
        f"externalClientApps/{APP}.eca-meta.xml",
        metadata_file(
            "ExternalClientApplication",
            [
                ("contactEmail", endpoints.integration_user),
                (
                    "description",
                    "The integration edge's JWT bearer sign-in as the integration user (write-backs, "
                    "bulk sync, Order_Status__e)",
                ),
                ("distributionState", "Local"),
                ("isProtected", False),
                ("label", label),
            ],
        ),
    )
    yield (
        f"extlClntAppPolicies/{APP}_plcy.ecaPlcy-meta.xml",
        metadata_file(
            "ExtlClntAppConfigurablePolicies",
            [("externalClientApplication", APP), ("isEnabled", True), ("isOauthPluginEnabled", True), ("label", label)],
        ),
    )
    yield (
        f"extlClntAppOauthSettings/{APP}_oauth.ecaOauth-meta.xml",
        metadata_file(
            "ExtlClntAppOauthSettings",
            [("commaSeparatedOauthScopes", "Api,RefreshToken"), ("externalClientApplication", APP), ("label", label)],
        ),
    )
    yield (
        f"extlClntAppGlobalOauthSets/{APP}_glbloauth.ecaGlblOauth-meta.xml",
        metadata_file(
            "ExtlClntAppGlobalOauthSettings",
            [
                ("callbackUrl", "https://login.salesforce.com/services/oauth2/success"),
                ("certificate", endpoints.jwt_certificate),
                ("externalClientApplication", APP),
                ("isClientCredentialsFlowEnabled", False),
                ("isCodeCredFlowEnabled", False),
                ("isConsumerSecretOptional", True),
                ("isDeviceFlowEnabled", False),
                ("label", label),
            ],
        ),
    )
    yield (
        f"extlClntAppOauthPolicies/{APP}_oauthPlcy.ecaOauthPlcy-meta.xml",
        metadata_file(
            "ExtlClntAppOauthConfigurablePolicies",
            [
                ("commaSeparatedPermissionSet", INTEGRATION_PERMISSION_SET),
                ("externalClientApplication", APP),
                ("label", label),
                # The JWT bearer flow has no consent screen: only users the admin pre-authorized may sign in.
                ("permittedUsersPolicyType", "AdminApprovedPreAuthorized"),
            ],
        ),
    )


def _object_permissions(sobject: str, *, read: bool, edit: bool = False, create: bool = False) -> Node:
    return [
        ("allowCreate", create),
        ("allowDelete", False),
        ("allowEdit", edit),
        ("allowRead", read),
        ("modifyAllRecords", False),
        ("object", sobject),
        ("viewAllRecords", False),
    ]


def _permission_sets(declarations: Declarations, endpoints: Endpoints) -> Iterator[tuple[str, str]]:
    written = declarations.written_fields
    field_permissions: list[tuple[str, Value]] = [
        ("fieldPermissions", [("editable", True), ("field", f"{sobject}.{name}"), ("readable", True)])
        for sobject in sorted(written)
        for name in sorted(written[sobject])
    ]
    # Read on what it is told of and reads, Edit where it writes, Create on the event it publishes.
    read = {m.sobject for m in declarations.outbound_messages} | set(written) | set(LINE_ITEM_OBJECTS)
    objects: list[tuple[str, Value]] = [
        (
            "objectPermissions",
            _object_permissions(
                sobject, read=True, edit=sobject in written, create=sobject == declarations.status_event
            ),
        )
        for sobject in sorted(read | {declarations.status_event})
    ]
    yield (
        f"permissionsets/{INTEGRATION_PERMISSION_SET}.permissionset-meta.xml",
        metadata_file(
            "PermissionSet",
            [
                (
                    "description",
                    "The integration user the edge signs in as (JWT bearer): reads Opportunities and "
                    "their lines, writes the integration fields, publishes Order_Status__e.",
                ),
                *field_permissions,
                ("hasActivationRequired", False),
                ("label", "Edge integration user"),
                *objects,
                ("userPermissions", [("enabled", True), ("name", "ApiEnabled")]),
            ],
        ),
    )
    principals: list[tuple[str, Value]] = [
        (
            "externalCredentialPrincipalAccesses",
            [("enabled", True), ("externalCredentialPrincipal", f"{name}-{PRINCIPAL}")],
        )
        for name in sorted(credential_protocols(endpoints.callout_auth, endpoints.odata_auth))
    ]
    yield (
        f"permissionsets/{USER_PERMISSION_SET}.permissionset-meta.xml",
        metadata_file(
            "PermissionSet",
            [
                (
                    "description",
                    "Users whose work calls the edge: callouts and External Services actions, the "
                    "Northwind External Objects, and Order_Status__e on the Opportunity page.",
                ),
                *principals,
                ("externalDataSourceAccesses", [("enabled", True), ("externalDataSource", DATA_SOURCE)]),
                ("hasActivationRequired", False),
                ("label", "Edge users"),
                ("objectPermissions", _object_permissions(declarations.status_event, read=True)),
            ],
        ),
    )


# --- the Opportunity page's component -----------------------------------------------------------------------------


def _component(declarations: Declarations) -> Iterator[tuple[str, str]]:
    base = f"lwc/{COMPONENT}/{COMPONENT}"
    yield (
        f"{base}.js-meta.xml",
        metadata_file(
            "LightningComponentBundle",
            [
                ("apiVersion", API_VERSION),
                ("description", "The Order of this Opportunity, live: Order_Status__e through lightning/empApi"),
                ("isExposed", True),
                ("masterLabel", "Edge order status"),
                # On any record page; it shows nothing until an event names the record (the schema types
                # targetConfigs as base64, so an object filter cannot be validated offline: left out).
                ("targets", [("target", "lightning__RecordPage")]),
            ],
        ),
    )
    yield (
        f"{base}.js",
        _COMPONENT_JS.format(
            channel=f"/event/{declarations.status_event}",
            event=_js_object(declarations.status_roles),
            record=_js_object({role: f"Opportunity.{name}" for role, name in declarations.opportunity_roles.items()}),
        ),
    )
    yield f"{base}.html", _COMPONENT_HTML


# --- Apex: the callout API's client ------------------------------------------------------------------------------


def _apex() -> Iterator[tuple[str, str]]:
    meta = metadata_file("ApexClass", [("apiVersion", API_VERSION), ("status", "Active")])
    for name, source in (("EdgeCallouts", _APEX_CLIENT), ("EdgeCalloutsTest", _APEX_TEST)):
        yield f"classes/{name}.cls", source.replace("{named_credential}", CALLOUTS)
        yield f"classes/{name}.cls-meta.xml", meta


def _js_object(entries: dict[str, str]) -> str:
    return "{\n" + "".join(f"    {key}: '{value}',\n" for key, value in entries.items()) + "}"


_FORCEIGNORE = """\
# Not metadata: the linters `make test` runs on the component.
package.json
package-lock.json
eslint.config.js
node_modules/
**/__tests__/**
"""

_COMPONENT_JS = """\
// Generated by `make salesforce` (salesforce_project/render.py): the channel and the field names come from the
// integration edge's declarations. Shows the Order of the Opportunity it sits on, kept current by Order_Status__e.
import {{ LightningElement, api, wire }} from 'lwc';
import {{ getRecord, getFieldValue }} from 'lightning/uiRecordApi';
import {{ subscribe, unsubscribe, onError }} from 'lightning/empApi';

const CHANNEL = '{channel}';
// Order_Status__e's fields.
const EVENT = {event};
// The Opportunity's fields the write-backs keep (what the page shows before any event arrives).
const RECORD = {record};
const NEWEST_ONLY = -1;

export default class EdgeOrderStatus extends LightningElement {{
    @api recordId;
    orderId;
    status;
    shippedDate;
    freight;
    changedAt;
    error;
    subscription;
    seenKeys = new Set();

    @wire(getRecord, {{ recordId: '$recordId', optionalFields: Object.values(RECORD) }})
    wiredOpportunity({{ data, error }}) {{
        if (data && !this.changedAt) {{
            this.orderId = getFieldValue(data, RECORD.orderId);
            this.status = getFieldValue(data, RECORD.status);
            this.shippedDate = getFieldValue(data, RECORD.shippedDate);
            this.freight = getFieldValue(data, RECORD.freight);
        }} else if (error) {{
            this.error = 'The Opportunity could not be read';
        }}
    }}

    connectedCallback() {{
        onError(() => {{
            this.error = 'Live order updates are unavailable; reload the page';
        }});
        subscribe(CHANNEL, NEWEST_ONLY, (message) => this.handleEvent(message)).then((subscription) => {{
            this.subscription = subscription;
        }});
    }}

    disconnectedCallback() {{
        if (this.subscription) {{
            unsubscribe(this.subscription, () => {{}});
        }}
    }}

    handleEvent(message) {{
        const payload = message.data.payload;
        const opportunityId = payload[EVENT.opportunityId];
        // Ids may arrive with 15 or 18 characters: the first 15 are the record.
        if (!this.recordId || !opportunityId || opportunityId.substring(0, 15) !== this.recordId.substring(0, 15)) {{
            return;
        }}
        // A repeated event (same change key) or an older one (changed at) changes nothing.
        const key = payload[EVENT.changeKey];
        if (this.seenKeys.has(key)) {{
            return;
        }}
        this.seenKeys.add(key);
        const changedAt = payload[EVENT.changedAt];
        if (this.changedAt && changedAt <= this.changedAt) {{
            return;
        }}
        this.changedAt = changedAt;
        this.orderId = payload[EVENT.orderId];
        this.status = payload[EVENT.status];
        this.shippedDate = payload[EVENT.shippedDate];
        this.freight = payload[EVENT.freight];
    }}

    get hasOrder() {{
        return Boolean(this.status);
    }}
}}
"""

_APEX_CLIENT = """\
/**
 * The integration edge's callout API (request and reply), through the {named_credential} Named Credential.
 * Generated by `make salesforce` (salesforce_project/render.py).
 *
 *   Map<String, Object> quote = (Map<String, Object>) EdgeCallouts.send(
 *       'POST', '/api/v1/quotes', new Map<String, Object>{ 'accountId' => 'ALFKI', 'lines' => lines },
 *       opportunityId + '-' + quoteVersion);
 *
 * Every error the API answers has one shape; it arrives as an EdgeCallouts.ProblemException holding it, so a
 * caller can show each field's message (422) or retry only what may succeed later (5xx, 429).
 */
public with sharing class EdgeCallouts {
    public static final String NAMED_CREDENTIAL = '{named_credential}';
    public static final Integer TIMEOUT_MILLISECONDS = 10000;

    public class FieldError {
        public String field;
        public String code;
        public String message;
    }

    public class Problem {
        public Integer status;
        public String code;
        public String message;
        public String requestId;
        public List<FieldError> fieldErrors;
    }

    public class ProblemException extends Exception {
        public Problem problem;

        public Boolean isRetryable() {
            return problem != null && (problem.status == 429 || problem.status >= 500);
        }
    }

    /**
     * Sends one request and answers the decoded JSON body (a Map or a List). `idempotencyKey` (POST): a retry with
     * the same key gets the first answer instead of a second computation; null sends none.
     */
    public static Object send(String method, String path, Object body, String idempotencyKey) {
        HttpRequest request = new HttpRequest();
        request.setEndpoint('callout:' + NAMED_CREDENTIAL + path);
        request.setMethod(method);
        request.setTimeout(TIMEOUT_MILLISECONDS);
        request.setHeader('Accept', 'application/json');
        if (body != null) {
            request.setHeader('Content-Type', 'application/json');
            request.setBody(JSON.serialize(body));
        }
        if (String.isNotBlank(idempotencyKey)) {
            request.setHeader('Idempotency-Key', idempotencyKey);
        }
        HttpResponse response = new Http().send(request);
        Integer status = response.getStatusCode();
        if (status >= 200 && status < 300) {
            return String.isBlank(response.getBody()) ? null : JSON.deserializeUntyped(response.getBody());
        }
        throw problemOf(status, response.getBody());
    }

    private static ProblemException problemOf(Integer status, String body) {
        Problem problem;
        try {
            problem = (Problem) JSON.deserialize(body, Problem.class);
        } catch (JSONException notTheErrorShape) {
            problem = null;
        }
        if (problem == null) {
            problem = new Problem();
            problem.message = 'HTTP ' + status + ', not in the error shape of the API';
        }
        problem.status = status;
        ProblemException error = new ProblemException(problem.code + ': ' + problem.message);
        error.problem = problem;
        return error;
    }
}
"""

_APEX_TEST = """\
/**
 * EdgeCallouts against a mock of the callout API's documented answers (its OpenAPI document's shapes).
 * Generated by `make salesforce` (salesforce_project/render.py).
 */
@IsTest
private class EdgeCalloutsTest {
    private class Answer implements HttpCalloutMock {
        private final Integer status;
        private final String body;
        public HttpRequest seen;

        Answer(Integer status, String body) {
            this.status = status;
            this.body = body;
        }

        public HttpResponse respond(HttpRequest request) {
            seen = request;
            HttpResponse response = new HttpResponse();
            response.setStatusCode(status);
            response.setHeader('Content-Type', 'application/json');
            response.setBody(body);
            return response;
        }
    }

    @IsTest
    static void sendsThroughTheNamedCredentialWithTheIdempotencyKey() {
        Answer answer = new Answer(201, '{"quoteId": "Q-1", "total": 42.5}');
        Test.setMock(HttpCalloutMock.class, answer);

        Test.startTest();
        Map<String, Object> quote = (Map<String, Object>) EdgeCallouts.send(
            'POST', '/api/v1/quotes', new Map<String, Object>{ 'accountId' => 'ALFKI' }, '006-1');
        Test.stopTest();

        Assert.areEqual('Q-1', quote.get('quoteId'));
        Assert.areEqual('callout:{named_credential}/api/v1/quotes', answer.seen.getEndpoint());
        Assert.areEqual('006-1', answer.seen.getHeader('Idempotency-Key'));
        Assert.areEqual('application/json', answer.seen.getHeader('Content-Type'));
    }

    @IsTest
    static void turnsTheErrorShapeIntoAProblem() {
        Test.setMock(HttpCalloutMock.class, new Answer(422, '{"status": 422, "code": "VALIDATION_FAILED", '
            + '"message": "1 field(s) failed validation", "requestId": "r-1", "fieldErrors": [{"field": '
            + '"lines[0].quantity", "code": "greater_than_equal", '
            + '"message": "Input should be greater than or equal to 1"}]}'));

        Test.startTest();
        try {
            EdgeCallouts.send('POST', '/api/v1/quotes', new Map<String, Object>(), null);
            Assert.fail('a 422 is an exception');
        } catch (EdgeCallouts.ProblemException error) {
            Assert.areEqual(422, error.problem.status);
            Assert.areEqual('VALIDATION_FAILED', error.problem.code);
            Assert.areEqual('lines[0].quantity', error.problem.fieldErrors[0].field);
            Assert.isFalse(error.isRetryable());
        }
        Test.stopTest();
    }

    @IsTest
    static void anAnswerWithoutTheShapeIsStillAProblem() {
        Test.setMock(HttpCalloutMock.class, new Answer(503, '<html>Service Unavailable</html>'));

        Test.startTest();
        try {
            EdgeCallouts.send('GET', '/api/v1/orders/10248', null, null);
            Assert.fail('a 503 is an exception');
        } catch (EdgeCallouts.ProblemException error) {
            Assert.areEqual(503, error.problem.status);
            Assert.isTrue(error.isRetryable());
        }
        Test.stopTest();
    }
}
"""

_COMPONENT_HTML = """\
<template>
    <lightning-card title="Order" icon-name="standard:orders">
        <div class="slds-p-horizontal_small">
            <template lwc:if={hasOrder}>
                <p>Order {orderId}: <strong>{status}</strong></p>
                <p lwc:if={shippedDate}>Shipped on {shippedDate}</p>
                <p lwc:if={freight}>Freight {freight}</p>
            </template>
            <template lwc:else>
                <p>No order yet.</p>
            </template>
            <p lwc:if={error} class="slds-text-color_error">{error}</p>
        </div>
    </lightning-card>
</template>
"""
