"""The declared write-backs: which fields of which Salesforce record a handler's result sets (a TOML file, not code).

    [opportunity_closed_won]                 # the handler, as the registry names it
    sobject = "Opportunity"
    record = "{record_id}"                   # the notification's record (the default)

    [opportunity_closed_won.results.order_created]   # the handler's result action -> fields to set
    ERP_Order_Id__c = "{orderId}"
    Integration_Status__c = "Synced"
    Integration_Message__c = ""              # "" sets the field to null

    [opportunity_closed_won.failed]          # the notification was dead-lettered
    Integration_Status__c = "Failed"
    Integration_Message__c = "{reason}"

`{name}` is replaced by the handler's result value of that name, or `record_id`, `notification_id`, `reason`, or
the notification's field of that name (`{Opportunity_Id__c}` of a Platform Event);
a replaced value is cut to 255 characters (a Salesforce Text field's maximum). A result action with no entry
writes nothing back.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sf_edge.salesforce.instances import instance_url_of
from sf_edge.salesforce.notification_message import NotificationMessage, OutboundOrigin
from sf_edge.write_back import WriteBackError
from sf_edge.write_back.messages import CallbackSession, FieldValue, WriteBack

# The stack's declared write-backs, beside this module: the worker and the bulk sync plan from the same file.
DECLARED_RULES = Path(__file__).with_name("write_backs.toml")
TEXT_FIELD_MAX = 255
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
FAILED = "failed"


class RulesError(WriteBackError, ValueError):
    """The rules file is not what this module reads; raised at load, so a bad file fails the cold start."""


@dataclass(frozen=True)
class WriteBackRule:
    """One handler's write-backs."""

    handler: str
    sobject: str
    record: str = "{record_id}"
    external_id_field: str | None = None
    results: dict[str, dict[str, FieldValue]] = field(default_factory=dict)
    failed: dict[str, FieldValue] | None = None


class WriteBackRules:
    """Rules by handler name; plans the write-back that follows a handler's result or a dead-lettered message."""

    def __init__(self, rules: dict[str, WriteBackRule]) -> None:
        self.rules = rules

    @classmethod
    def load(cls, path: Path) -> WriteBackRules:
        """Read the rules file (no file: no write-backs)."""
        if not path.exists():
            return cls({})
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise RulesError(f"{path}: {exc}") from None
        return cls({name: _rule(name, entry, path) for name, entry in raw.items()})

    def after_result(self, message: NotificationMessage, result: dict[str, Any]) -> WriteBack | None:
        """The write-back a handler's result calls for (a duplicate's result is its first one)."""
        first = result.get("firstResult")
        if isinstance(first, dict):
            result = first
        rule = self.rules.get(str(result.get("handler", "")))
        fields = rule.results.get(str(result.get("action", ""))) if rule else None
        if rule is None or fields is None:
            return None
        return _write_back(rule, fields, message, result)

    def fields_of(self, sobject: str) -> list[str]:
        """Every field a rule may set on the sObject, in the order declared (the columns of a Bulk API job)."""
        found: dict[str, None] = {}
        for rule in self.rules.values():
            if rule.sobject == sobject:
                for fields in [*rule.results.values(), *([rule.failed] if rule.failed else [])]:
                    found |= dict.fromkeys(fields)
        return list(found)

    def after_failure(self, message: NotificationMessage, handler: str, reason: str) -> WriteBack | None:
        """The write-back for a notification its handler could not apply (about to be dead-lettered)."""
        rule = self.rules.get(handler)
        if rule is None or rule.failed is None:
            return None
        return _write_back(rule, rule.failed, message, {"reason": reason})


def _write_back(
    rule: WriteBackRule, fields: dict[str, FieldValue], message: NotificationMessage, values: dict[str, Any]
) -> WriteBack | None:
    context = {
        **message.fields,
        "record_id": message.record_id,
        "notification_id": message.notification_id,
        **values,
    }
    record = _fill(rule.record, context)
    if not isinstance(record, str) or not record:
        return None
    return WriteBack(
        sobject=rule.sobject,
        record_id=record,
        external_id_field=rule.external_id_field,
        fields={name: _fill(value, context) for name, value in fields.items()},
        origin=message.idempotency_key,
        session=_callback(message),
    )


def _callback(message: NotificationMessage) -> CallbackSession | None:
    """The message's own session, when its listener forwards it and its PartnerUrl is a Salesforce instance."""
    origin = message.origin
    if not isinstance(origin, OutboundOrigin) or not origin.session_id:
        return None
    instance = instance_url_of(origin.partner_url) or instance_url_of(origin.enterprise_url)
    return CallbackSession(session_id=origin.session_id, instance_url=instance) if instance else None


def _fill(value: FieldValue, context: dict[str, Any]) -> FieldValue:
    if not isinstance(value, str):
        return value
    if not _PLACEHOLDER.search(value):
        return value or None
    filled = _PLACEHOLDER.sub(lambda m: "" if context.get(m.group(1)) is None else str(context[m.group(1)]), value)
    return filled[:TEXT_FIELD_MAX] or None


def _rule(name: str, entry: Any, path: Path) -> WriteBackRule:
    where = f"{path} [{name}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("sobject"), str):
        raise RulesError(f'{where}: needs sobject = "<API name>"')
    results = entry.get("results", {})
    failed = entry.get("failed")
    if not isinstance(results, dict) or not all(isinstance(v, dict) for v in results.values()):
        raise RulesError(f"{where}: results.<action> must be tables of fields")
    for fields in [*results.values(), *([failed] if failed is not None else [])]:
        _check_fields(fields, where)
    unknown = set(entry) - {"sobject", "record", "external_id_field", "results", FAILED}
    if unknown:
        raise RulesError(f"{where}: unknown keys {sorted(unknown)}")
    for api_name in [entry["sobject"], entry.get("external_id_field") or "Id"]:
        if not _API_NAME.match(api_name):
            raise RulesError(f"{where}: {api_name!r} is not an API name")
    return WriteBackRule(
        handler=name,
        sobject=entry["sobject"],
        record=str(entry.get("record", "{record_id}")),
        external_id_field=entry.get("external_id_field"),
        results=results,
        failed=failed,
    )


def _check_fields(fields: Any, where: str) -> None:
    if not isinstance(fields, dict):
        raise RulesError(f"{where}: fields must be a table")
    for api_name, value in fields.items():
        if not _API_NAME.match(api_name) or api_name.lower() == "id":
            raise RulesError(f"{where}: {api_name!r} is not a field API name that can be set")
        if not isinstance(value, str | int | float | bool):
            raise RulesError(f"{where}: {api_name} must be text, a number or true/false")
