"""template.yaml as the one source of truth: parameters, conditions, queues, tables, functions and routes."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_runtime.nested_applications import inline_applications

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"

_NO_VALUE = object()


def _env_name(parameter: str) -> str:
    """AllowedOrgIds → ALLOWED_ORG_IDS: the environment variable that overrides a parameter locally."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", parameter).upper()


class ParameterError(ValueError):
    """A parameter set from the environment breaks a constraint template.yaml declares (CloudFormation would refuse
    it at deploy); the message names each variable."""


# Locally the Salesforce stand-in of the tests and `make sync` listens on plain HTTP on loopback; deployed, the
# parameter's own pattern (HTTPS) holds.
_LOCAL_ALSO = {
    "SalesforceLoginUrl": r"^http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?/?$",
    "WebhookUrl": r"^http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?(/.*)?$",  # make run's loopback receiver
}


def parameter_problem(name: str, spec: dict[str, Any], value: str) -> str | None:
    """What CloudFormation would say of the value (AllowedValues, AllowedPattern, Min/MaxValue, Min/MaxLength)."""
    allowed = [str(v) for v in spec.get("AllowedValues", [])]
    if allowed and value not in allowed:
        return f"must be one of {', '.join(allowed)}"
    pattern = spec.get("AllowedPattern")
    if pattern and not re.search(pattern, value) and not re.search(_LOCAL_ALSO.get(name, "$^"), value):
        return str(spec.get("ConstraintDescription") or f"must match {pattern}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return "must be a number"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"must be at least {spec['MinValue']}"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"must be at most {spec['MaxValue']}"
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        return f"must be at least {spec['MinLength']} characters"
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        return f"must be at most {spec['MaxLength']} characters"
    return None


@dataclass(frozen=True)
class Route:
    """An API event of a function: method and path template, as API Gateway matches them."""

    function: str
    method: str
    path: str
    pattern: re.Pattern[str]
    payload: str = "1.0"  # the event format: 1.0 for a REST API (Api events), 2.0 for an HTTP API (HttpApi)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when this route takes the request, else None."""
        if self.method not in ("ANY", method):
            return None
        found = self.pattern.match(path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class FunctionSpec:
    """A function as the template declares it."""

    logical_id: str
    code_dir: Path
    module: str
    handler: str
    environment: dict[str, Any]
    sqs_sources: list[dict[str, Any]] = field(default_factory=list)
    stream_sources: list[dict[str, Any]] = field(default_factory=list)


class Template:
    """template.yaml with parameters taken from the environment (and the given local defaults)."""

    def __init__(self, local_defaults: dict[str, str] | None = None, path: Path = TEMPLATE_PATH) -> None:
        from cfn_tools import load_yaml

        self.root = path.parent  # where the template's relative paths (CodeUri, DefinitionUri) start
        self.doc: dict[str, Any] = load_yaml(path.read_text(encoding="utf-8"))
        self.parameters: dict[str, str] = {}
        problems = []
        for name, spec in self.doc.get("Parameters", {}).items():
            default = (local_defaults or {}).get(name, spec.get("Default", ""))
            self.parameters[name] = os.environ.get(_env_name(name), str(default))
            if _env_name(name) in os.environ or name in (local_defaults or {}):
                problem = parameter_problem(name, spec, self.parameters[name])
                if problem:
                    problems.append(f"{_env_name(name)}: {problem} (got {self.parameters[name][:80]!r})")
        if problems:
            raise ParameterError("; ".join(problems))
        inline_applications(self.doc, self.root, self.parameters)  # the hub's targets, as their own resources
        self.conditions: dict[str, bool] = {}
        for name, expr in self.doc.get("Conditions", {}).items():  # in order: a condition may use earlier ones
            self.conditions[name] = bool(self._eval(expr, {}))
        self.physical: dict[str, dict[str, str]] = {}

    @property
    def resources(self) -> dict[str, Any]:
        return self.doc["Resources"]  # type: ignore[no-any-return]

    def active(self, resource: dict[str, Any]) -> bool:
        """False for a resource whose Condition is false with these parameters."""
        return "Condition" not in resource or self.conditions[resource["Condition"]]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Logical id → properties of every active resource of this type, intrinsic functions left in place."""
        return {
            k: v.get("Properties", {})
            for k, v in self.resources.items()
            if v["Type"] == resource_type and self.active(v)
        }

    def resolve(self, value: Any) -> Any:
        """Evaluate intrinsic functions with local physical ids; values that do not exist locally become absent."""
        resolved = self._eval(value, self.physical)
        return None if resolved is _NO_VALUE else resolved

    def functions(self) -> list[FunctionSpec]:
        """Every AWS::Serverless::Function, its environment resolved (Globals first, then its own)."""
        global_env = self.doc.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        specs = []
        for logical_id, props in self.of_type("AWS::Serverless::Function").items():
            module, _, handler = props["Handler"].rpartition(".")
            env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
            resolved = {k: self.resolve(v) for k, v in env.items()}
            sources = [
                {k: self.resolve(v) for k, v in e["Properties"].items()}
                for e in props.get("Events", {}).values()
                if e["Type"] == "SQS"
            ]
            streams = [
                {k: self.resolve(v) for k, v in e["Properties"].items() if k != "DestinationConfig"}
                for e in props.get("Events", {}).values()
                if e["Type"] == "DynamoDB"
            ]
            specs.append(
                FunctionSpec(
                    logical_id=logical_id,
                    code_dir=ROOT / props["CodeUri"],
                    module=module,
                    handler=handler,
                    environment={k: str(v) for k, v in resolved.items() if v is not None},
                    sqs_sources=sources,
                    stream_sources=streams,
                )
            )
        return specs

    def routes(self) -> list[Route]:
        """Every API event (REST and HTTP APIs), most specific path first (literal segments before parameters,
        greedy last)."""
        routes = []
        for logical_id, props in self.of_type("AWS::Serverless::Function").items():
            for event in props.get("Events", {}).values():
                if event["Type"] not in ("Api", "HttpApi"):
                    continue
                path, method = event["Properties"]["Path"], event["Properties"]["Method"].upper()
                regex = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(path))
                regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
                payload = "1.0"
                if event["Type"] == "HttpApi":
                    payload = str(event["Properties"].get("PayloadFormatVersion", "2.0"))
                # A greedy {proxy+} takes any character, a line break too (API Gateway routes by the whole path).
                pattern = re.compile(f"^{regex}\\Z", re.DOTALL)
                routes.append(Route(logical_id, "ANY" if method == "ANY" else method, path, pattern, payload))
        return sorted(routes, key=lambda r: (r.path.count("{"), "+}" in r.path, -len(r.path)))

    def _eval(self, value: Any, physical: dict[str, dict[str, str]]) -> Any:
        if isinstance(value, list):
            items = [self._eval(v, physical) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: v for k, v in ((k, self._eval(v, physical)) for k, v in value.items()) if v is not _NO_VALUE}
        ((fn, arg),) = value.items()
        match fn:
            case "Ref":
                if arg == "AWS::NoValue":
                    return _NO_VALUE
                if arg in self.parameters:
                    return self.parameters[arg]
                return physical.get(arg, {}).get("Ref", _NO_VALUE)
            case "Fn::GetAtt":
                logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return physical.get(logical, {}).get(attribute, _NO_VALUE)
            case "Fn::If":
                name, when_true, when_false = arg
                return self._eval(when_true if self.conditions[name] else when_false, physical)
            case "Fn::Equals":
                left, right = (self._eval(v, physical) for v in arg)
                return str(left) == str(right)
            case "Fn::Not":
                return not self._eval(arg[0], physical)
            case "Condition":
                return self.conditions[arg]
            case "Fn::Split":
                separator, text = arg
                resolved = self._eval(text, physical)
                return [] if resolved in ("", _NO_VALUE) else str(resolved).split(separator)
            case "Fn::Join":
                separator, parts = arg
                return separator.join(str(v) for v in self._eval(parts, physical))
            case "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                return re.sub(r"\$\{([\w:.]+)\}", lambda m: str(self._eval(_ref(m.group(1)), physical)), text)
            case _:
                return {fn: self._eval(arg, physical)}


def _ref(name: str) -> dict[str, Any]:
    return {"Fn::GetAtt": name} if "." in name else {"Ref": name}
