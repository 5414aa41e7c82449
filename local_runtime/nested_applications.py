"""Nested applications, locally: an `AWS::Serverless::Application` whose `Location` is a template file of ours
(a hub target) is inlined into the parent template, so the local runtime provisions its queues, rules and
destinations like the parent's own.

Its resources take the application's logical id as a prefix (`ErpWebhook` + `Rule` → `ErpWebhookRule`), its
parameters the values the application passes (or their defaults), and its resources the application's Condition.
What deployed CloudFormation does with the nested stack's outputs and names has no local counterpart; within
the child, references to its parameters and resources are rewritten (Ref, Fn::GetAtt, Fn::Sub).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

APPLICATION = "AWS::Serverless::Application"


def inline_applications(doc: dict[str, Any], root: Path, parameters: dict[str, str]) -> None:
    """Replace each local nested application of `doc` by its template's resources (in place)."""
    from cfn_tools import load_yaml

    resources: dict[str, Any] = doc.get("Resources", {})
    for logical_id, resource in list(resources.items()):
        location = resource.get("Properties", {}).get("Location")
        if resource.get("Type") != APPLICATION or not isinstance(location, str) or "://" in location:
            continue
        child = load_yaml((root / location).read_text(encoding="utf-8"))
        given = resource.get("Properties", {}).get("Parameters", {})
        values = {
            name: _parameter_value(given.get(name, spec.get("Default", "")), parameters)
            for name, spec in child.get("Parameters", {}).items()
        }
        names = {child_id: f"{logical_id}{child_id}" for child_id in child.get("Resources", {})}
        conditions = {name: f"{logical_id}{name}" for name in child.get("Conditions", {})}
        for name, expression in child.get("Conditions", {}).items():
            doc.setdefault("Conditions", {})[conditions[name]] = _rewrite(expression, values, names, conditions)
        del resources[logical_id]
        for child_id, child_resource in child.get("Resources", {}).items():
            inlined = _rewrite(copy.deepcopy(child_resource), values, names, conditions)
            if "Condition" in resource:  # the application's condition holds for all it declares
                inlined["Condition"] = resource["Condition"]
            resources[names[child_id]] = inlined


def _parameter_value(value: Any, parameters: dict[str, str]) -> Any:
    """What the application passes: a parent parameter's value is known now; a resource reference stays one."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    return value


def _rewrite(value: Any, values: dict[str, Any], names: dict[str, str], conditions: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [_rewrite(v, values, names, conditions) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref" and isinstance(arg, str):
            if arg in values:
                return copy.deepcopy(values[arg])
            return {"Ref": names.get(arg, arg)}
        if fn == "Fn::GetAtt":
            logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return {"Fn::GetAtt": [names.get(logical, logical), attribute]}
        if fn == "Fn::If":
            name, *branches = arg
            return {"Fn::If": [conditions.get(name, name), *_rewrite(branches, values, names, conditions)]}
        if fn == "Condition" and isinstance(arg, str):
            return {"Condition": conditions.get(arg, arg)}
        if fn == "Fn::Sub" and isinstance(arg, str):
            return {"Fn::Sub": re.sub(r"\$\{([\w:.]+)\}", lambda m: _sub_part(m.group(1), values, names), arg)}
    return {k: _rewrite(v, values, names, conditions) for k, v in value.items()}


def _sub_part(name: str, values: dict[str, Any], names: dict[str, str]) -> str:
    if name in values:
        value = values[name]
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and set(value) == {"Ref"}:
            return "${" + str(value["Ref"]) + "}"
        if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
            attr = value["Fn::GetAtt"]
            return "${" + (attr if isinstance(attr, str) else ".".join(attr)) + "}"
        raise ValueError(f"a nested application passes {name} as {value!r}: not usable in Fn::Sub locally")
    logical, _, attribute = name.partition(".")
    return "${" + names.get(logical, logical) + (f".{attribute}" if attribute else "") + "}"
