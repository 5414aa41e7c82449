"""Where the Salesforce side points: a deployed stack's outputs and parameters, or `make run`'s local URLs.

The two constructors are the only places an endpoint, an ARN or an authentication choice enters the project, so
what Salesforce is told always matches what the stack serves.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The Metadata API version the project is written for (the WSDL the tests validate against is 66.0).
API_VERSION = "66.0"
LOCAL_URL = "http://127.0.0.1:3000"
LOCAL_INTEGRATION_USER = "integration.user@example.invalid"
_STACK_ARN = re.compile(r"^arn:aws[a-z-]*:cloudformation:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):stack/")


class StackNotReady(RuntimeError):  # noqa: N818 - names the state, like the Rejection of the listener
    """The stack cannot be rendered for (not found, an output missing, a choice the project does not render)."""


def newest(tokens: str) -> str:
    """The newest of a rotation: a secret may hold several, comma-separated, the one added last at the end."""
    return tokens.split(",")[-1].strip()


@dataclass(frozen=True)
class DeployedStack:
    """A stack's outputs and parameters, by name, as `make salesforce` and `make salesforce-secrets` read them."""

    stack_id: str
    outputs: dict[str, str]
    parameters: dict[str, str]

    @classmethod
    def described(cls, stack: str, cloudformation: Any) -> DeployedStack:
        """CloudFormation's description of the stack; StackNotReady when there is none to read."""
        try:
            found = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        except Exception as exc:  # botocore's ClientError or no credentials: both mean "not ready"
            raise StackNotReady(f"stack {stack!r} could not be described: {exc}") from None
        return cls(
            stack_id=found["StackId"],
            outputs={o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])},
            parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in found.get("Parameters", [])},
        )


@dataclass(frozen=True)
class Endpoints:
    """Everything the Salesforce metadata needs to know of the AWS side."""

    label: str  # "local" or the stack's name
    outbound_url: str  # ends with /outbound/: the listener's name and ?token= follow
    outbound_token: str
    callout_url: str
    callout_auth: str  # IAM | ApiKey | Jwt
    odata_url: str
    odata_auth: str  # Basic | ApiKey | None
    odata_username: str
    odata_writable: bool
    region: str
    account_id: str
    integration_user: str
    jwt_certificate: str | None = None  # the PEM Salesforce checks the JWT bearer flow's signatures with

    @classmethod
    def local(cls, defaults: dict[str, str]) -> Endpoints:
        """`make run`'s stack (its documented local settings, `local_runtime.stack.LOCAL_DEFAULTS`)."""
        return cls(
            label="local",
            outbound_url=f"{LOCAL_URL}/outbound/",
            outbound_token=newest(defaults["OUTBOUND_TOKEN"]),
            callout_url=LOCAL_URL,
            callout_auth=defaults["CALLOUT_AUTH"],
            odata_url=f"{LOCAL_URL}/odata/v4/",
            odata_auth=defaults["ODATA_AUTH"],
            odata_username=defaults["ODATA_USERNAME"],
            odata_writable=True,
            region="us-east-1",
            account_id="123456789012",  # moto's account
            integration_user=LOCAL_INTEGRATION_USER,
        )

    @classmethod
    def of_stack(cls, stack: str, cloudformation: Any, secrets: Any) -> Endpoints:
        """A deployed stack: its outputs, its parameters, and the Outbound Message token from its secret."""
        described = DeployedStack.described(stack, cloudformation)
        outputs, parameters = described.outputs, described.parameters
        missing = [
            k
            for k in ("OutboundMessageEndpoint", "OutboundTokenSecretArn", "CalloutApiUrl", "ODataServiceUrl")
            if k not in outputs
        ]
        if missing:
            raise StackNotReady(f"stack {stack!r} has no output {', '.join(missing)} (is it this project's stack?)")
        arn = _STACK_ARN.match(described.stack_id)
        if arn is None:
            raise StackNotReady(f"stack {stack!r}: unexpected StackId {described.stack_id}")
        token = secrets.get_secret_value(SecretId=outputs["OutboundTokenSecretArn"])["SecretString"]
        user = os.environ.get("INTEGRATION_USER") or parameters.get("SalesforceUsername", "")
        if not user:
            raise StackNotReady(
                "no integration user: deploy with SalesforceUsername, or set INTEGRATION_USER=<username> "
                "(the user Outbound Messages are sent as)"
            )
        certificate_path = os.environ.get("JWT_CERTIFICATE")
        return cls(
            label=stack,
            outbound_url=outputs["OutboundMessageEndpoint"],
            outbound_token=newest(token),
            callout_url=outputs["CalloutApiUrl"],
            callout_auth=parameters.get("CalloutAuth", "IAM"),
            odata_url=outputs["ODataServiceUrl"],
            odata_auth=parameters.get("ODataAuth", "Basic"),
            odata_username=parameters.get("ODataUsername", "salesforce"),
            odata_writable=parameters.get("ODataWritable", "false") == "true",
            region=arn["region"],
            account_id=arn["account"],
            integration_user=user,
            jwt_certificate=Path(certificate_path).read_text(encoding="utf-8") if certificate_path else None,
        )
