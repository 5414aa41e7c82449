"""What the code declares that the Salesforce side must have: the listeners' Outbound Messages, every field the
write-backs, the events and the Outbound Messages use, and the callout API's operations.

Names are read from the code's own declarations (never repeated here); their Salesforce types come from
`fields.toml`. `check()` is the drift check: a field the code uses with no type, a type nothing uses (a renamed
field), or a type that cannot carry what the WSDL sends, is an error naming it.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIELD_TYPES = Path(__file__).with_name("fields.toml")
WSDL_DIR = ROOT / "functions" / "outbound_listener" / "wsdl"
LISTENERS_TOML = ROOT / "functions" / "outbound_listener" / "listeners.toml"
OPENAPI = ROOT / "openapi" / "callouts.json"

# The XML Schema types of a WSDL field each Salesforce field type arrives as (Outbound Messages send these).
_CARRIED_AS = {
    "Text": {"string"},
    "Email": {"string"},
    "Picklist": {"string"},
    "Number": {"double", "int"},
    "Currency": {"double"},
    "Date": {"date"},
    "DateTime": {"dateTime"},
    "Checkbox": {"boolean"},
    "Lookup": {"ID"},
}


# Order_Status__e's fields in the order OrderStatusChange.platform_event() writes them, by what they mean.
_STATUS_ROLES = ("orderId", "opportunityId", "status", "shippedDate", "freight", "changeKey", "changedAt")


class DeclarationError(ValueError):
    """The code and fields.toml disagree: the message names every field concerned."""


@dataclass(frozen=True)
class FieldType:
    """A custom field's Salesforce definition (one entry of fields.toml)."""

    sobject: str
    name: str
    type: str
    label: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    values: tuple[str, ...] = ()
    reference_to: str | None = None
    relationship_name: str | None = None
    description: str | None = None
    external_id: bool = False


@dataclass(frozen=True)
class OutboundMessageSource:
    """One listener's Outbound Message: its object and the fields its WSDL says Salesforce sends."""

    listener: str
    sobject: str
    fields: tuple[str, ...]
    field_types: dict[str, str]
    description: str
    include_session_id: bool


@dataclass(frozen=True)
class Declarations:
    """Everything the project is rendered from, besides the endpoints."""

    outbound_messages: tuple[OutboundMessageSource, ...]
    skipped_listeners: tuple[str, ...]
    used_fields: dict[str, set[str]]  # sObject -> custom fields the code reads or writes
    written_fields: dict[str, set[str]]  # sObject -> the fields the integration user writes
    field_types: dict[tuple[str, str], FieldType]
    status_event: str
    status_fields: tuple[str, ...]
    # What each Order_Status__e field and each Opportunity field of the order means to the page's component.
    status_roles: dict[str, str]
    opportunity_roles: dict[str, str]
    request_event: str
    request_fields: tuple[str, ...]
    operations: tuple[str, ...]
    openapi: str = field(repr=False)


def load() -> Declarations:
    """Read every declaration (the listeners' WSDLs are loaded with zeep, as the listener does)."""
    from sf_edge.notifications.reference_handlers import ORDER_REQUEST_FIELDS
    from sf_edge.outbound.listeners import ListenerRegistry
    from sf_edge.write_back.order_status import EVENT_TYPE, OrderStatusChange
    from sf_edge.write_back.rules import DECLARED_RULES, WriteBackRules

    registry = ListenerRegistry(WSDL_DIR, LISTENERS_TOML)
    messages, skipped = [], []
    for name in registry.names():
        listener = registry.get(name)
        if not listener.config.outbound_message:
            skipped.append(name)
            continue
        messages.append(
            OutboundMessageSource(
                listener=name,
                sobject=listener.sobject_type,
                fields=listener.field_names,
                field_types=listener.field_types,
                description=listener.config.description,
                include_session_id=listener.config.include_session_id,
            )
        )
    rules = WriteBackRules.load(DECLARED_RULES).rules.values()
    written: dict[str, set[str]] = {}
    for rule in rules:
        names = {f for fields in rule.results.values() for f in fields} | set(rule.failed or {})
        if rule.external_id_field:
            names.add(rule.external_id_field)
        written.setdefault(rule.sobject, set()).update(names)
    sample = OrderStatusChange(key="1#1", order_id=1, opportunity_id="006000000000000AAA", status="Open", changed_at="")
    status_write_back = sample.write_back()
    written.setdefault(status_write_back.sobject, set()).update(status_write_back.fields)
    status_fields = tuple(k for k in sample.platform_event() if k != "attributes")
    order_id_fields = [
        name
        for rule in rules
        if rule.sobject == "Opportunity"
        for fields in rule.results.values()
        for name, value in fields.items()
        if value == "{orderId}"
    ]
    if len(status_fields) != len(_STATUS_ROLES) or len(status_write_back.fields) != 3 or not order_id_fields:
        raise DeclarationError(
            f"Order_Status__e is now {status_fields} and the Opportunity's order fields "
            f"{list(status_write_back.fields)}: "
            "update _STATUS_ROLES and the component (salesforce_project/render.py) with it"
        )
    status_roles = dict(zip(_STATUS_ROLES, status_fields, strict=True))
    opportunity_roles = dict(zip(("status", "shippedDate", "freight"), status_write_back.fields, strict=True))
    opportunity_roles["orderId"] = order_id_fields[0]
    request_event = "Order_Request__e"
    used = {sobject: set(names) for sobject, names in written.items()}
    for message in messages:
        used.setdefault(message.sobject, set()).update(f for f in message.fields if f.endswith("__c"))
    used[EVENT_TYPE] = set(status_fields)
    used[request_event] = set(ORDER_REQUEST_FIELDS)
    openapi = OPENAPI.read_text(encoding="utf-8")
    operations = tuple(
        sorted(
            op["operationId"]
            for path in json.loads(openapi)["paths"].values()
            for op in path.values()
            if isinstance(op, dict) and "operationId" in op
        )
    )
    return Declarations(
        outbound_messages=tuple(messages),
        skipped_listeners=tuple(skipped),
        used_fields=used,
        written_fields=written,
        field_types=read_field_types(FIELD_TYPES),
        status_event=EVENT_TYPE,
        status_fields=status_fields,
        status_roles=status_roles,
        opportunity_roles=opportunity_roles,
        request_event=request_event,
        request_fields=tuple(ORDER_REQUEST_FIELDS),
        operations=operations,
        openapi=openapi,
    )


def read_field_types(path: Path) -> dict[tuple[str, str], FieldType]:
    """fields.toml, by (sObject, field)."""
    raw: dict[str, dict[str, dict[str, Any]]] = tomllib.loads(path.read_text(encoding="utf-8"))
    types = {}
    for sobject, fields in raw.items():
        for name, entry in fields.items():
            entry = dict(entry)
            if "values" in entry:
                entry["values"] = tuple(entry["values"])
            types[(sobject, name)] = FieldType(sobject=sobject, name=name, **entry)
    return types


def check(declarations: Declarations) -> None:
    """Raise DeclarationError when the code and fields.toml have drifted apart."""
    problems = []
    used = {(sobject, name) for sobject, names in declarations.used_fields.items() for name in names}
    for sobject, name in sorted(used - declarations.field_types.keys()):
        problems.append(f"{sobject}.{name} is used by the code but has no type in fields.toml")
    for sobject, name in sorted(declarations.field_types.keys() - used):
        problems.append(f"{sobject}.{name} is declared in fields.toml but nothing uses it (renamed or removed?)")
    for message in declarations.outbound_messages:
        for name in message.fields:
            declared = declarations.field_types.get((message.sobject, name))
            if declared is None:
                continue
            xsd = message.field_types.get(name, "string")
            if xsd not in _CARRIED_AS.get(declared.type, set()):
                problems.append(
                    f"{message.sobject}.{name}: fields.toml says {declared.type} but the {message.listener} "
                    f"listener's WSDL sends it as xsd:{xsd}"
                )
    for (sobject, name), declared in sorted(declarations.field_types.items()):
        if declared.type not in _CARRIED_AS:
            problems.append(f"{sobject}.{name}: type {declared.type!r} is not one the project renders")
    if problems:
        raise DeclarationError("; ".join(problems))
