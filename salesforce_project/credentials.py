"""`make salesforce-secrets`: after `sf project deploy start`, put the stack's secrets into the External
Credentials' principals through the Connect REST API (`/services/data/vXX.X/named-credentials/credential`), since
secrets cannot be deployed as metadata.

    make salesforce-secrets STACK=<stack> ORG=<sf alias>

Each secret is read from the deployed stack's Secrets Manager entry (its ARN is a stack output), never from the
repository or the command line; the org session comes from `sf org display --target-org <alias>` (or
SF_INSTANCE_URL and SF_ACCESS_TOKEN). A principal that already holds credentials is replaced (PUT), otherwise
created (POST). CalloutAuth=IAM signs with an IAM user's access key, which the stack does not create: give it as
CALLOUT_ACCESS_KEY_ID and CALLOUT_SECRET_ACCESS_KEY (a key of a user with the SalesforceCalloutPolicyArn policy).
Nothing secret is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from salesforce_project.endpoints import API_VERSION, DeployedStack, StackNotReady, newest
from salesforce_project.render import CALLOUTS, ODATA, PRINCIPAL, credential_protocols

type Credentials = dict[str, dict[str, Any]]


class CredentialError(RuntimeError):
    """A secret could not be read or Salesforce refused it (the message says which, never the value)."""


@dataclass(frozen=True)
class OrgSession:
    """Where and as whom the Connect REST API is called."""

    instance_url: str
    access_token: str


@dataclass(frozen=True)
class PrincipalSecret:
    """One External Credential principal's credentials, as the Connect REST API's Credential Input takes them."""

    external_credential: str
    protocol: str
    credentials: Credentials


def _value(value: str, encrypted: bool) -> dict[str, Any]:
    return {"value": value, "encrypted": encrypted}


def stack_secrets(stack: str, cloudformation: Any, secrets: Any, environ: dict[str, str]) -> list[PrincipalSecret]:
    """What each External Credential of the stack's rendering needs, read from the stack."""
    described = DeployedStack.described(stack, cloudformation)
    outputs, parameters = described.outputs, described.parameters

    def secret(output: str) -> str:
        if output not in outputs:
            raise CredentialError(f"stack {stack!r} has no {output} output")
        return newest(str(secrets.get_secret_value(SecretId=outputs[output])["SecretString"]))

    found = []
    callout_auth = parameters.get("CalloutAuth", "IAM")
    odata_auth = parameters.get("ODataAuth", "Basic")
    protocols = credential_protocols(callout_auth, odata_auth)  # what the rendered External Credentials declare
    if callout_auth == "ApiKey":
        found.append(
            PrincipalSecret(CALLOUTS, protocols[CALLOUTS], {"ApiKey": _value(secret("CalloutApiKeySecretArn"), True)})
        )
    elif callout_auth == "IAM":
        key_id, key = environ.get("CALLOUT_ACCESS_KEY_ID"), environ.get("CALLOUT_SECRET_ACCESS_KEY")
        if not (key_id and key):
            raise CredentialError(
                "CalloutAuth=IAM: create an access key for an IAM user with the SalesforceCalloutPolicyArn policy "
                "and give it as CALLOUT_ACCESS_KEY_ID and CALLOUT_SECRET_ACCESS_KEY"
            )
        found.append(
            PrincipalSecret(
                CALLOUTS,
                protocols[CALLOUTS],
                {"awsAccessKeyId": _value(key_id, False), "awsSecretAccessKey": _value(key, True)},
            )
        )
    if odata_auth == "Basic":
        username = parameters.get("ODataUsername", "salesforce")
        found.append(
            PrincipalSecret(
                ODATA,
                protocols[ODATA],
                {"username": _value(username, False), "password": _value(secret("ODataCredentialSecretArn"), True)},
            )
        )
    elif odata_auth == "ApiKey":
        found.append(
            PrincipalSecret(ODATA, protocols[ODATA], {"ApiKey": _value(secret("ODataCredentialSecretArn"), True)})
        )
    return found


def sf_cli_session(org: str, run: Callable[..., Any] = subprocess.run) -> OrgSession:
    """The session the sf CLI holds for an org alias (`sf org display --json`)."""
    done = run(["sf", "org", "display", "--target-org", org, "--json"], capture_output=True, text=True, check=False)
    try:
        result = json.loads(done.stdout)["result"]
        return OrgSession(instance_url=result["instanceUrl"], access_token=result["accessToken"])
    except (ValueError, KeyError, TypeError):
        raise CredentialError(
            f"`sf org display --target-org {org}` gave no session (log in with sf org login web)"
        ) from None


def put_secrets(session: OrgSession, principals: list[PrincipalSecret], version: str = API_VERSION) -> list[str]:
    """Create or replace each principal's credentials; returns one line per principal saying what was done."""
    base = f"{session.instance_url.rstrip('/')}/services/data/v{version}/named-credentials/credential"
    done = []
    for principal in principals:
        where = {
            "externalCredential": principal.external_credential,
            "principalName": PRINCIPAL,
            "principalType": "NamedPrincipal",
        }
        status, existing = _call(session, "GET", f"{base}?{urllib.parse.urlencode(where)}")
        if status == 404:
            raise CredentialError(
                f"{principal.external_credential} is not in the org: deploy the project first (sf project deploy start)"
            )
        if status != 200:
            raise CredentialError(f"reading {principal.external_credential}: HTTP {status} {_errors(existing)}")
        method = "PUT" if isinstance(existing, dict) and existing.get("credentials") else "POST"
        body = {**where, "authenticationProtocol": principal.protocol, "credentials": principal.credentials}
        status, answer = _call(session, method, base, body)
        if status not in (200, 201):
            raise CredentialError(f"saving {principal.external_credential}: HTTP {status} {_errors(answer)}")
        verb = "replaced" if method == "PUT" else "created"
        done.append(f"{principal.external_credential}/{PRINCIPAL}: {verb} {', '.join(sorted(principal.credentials))}")
    return done


def _call(session: OrgSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    if not url.startswith(("https://", "http://127.0.0.1")):
        raise CredentialError(f"refusing to send credentials to {url.split('?')[0]}: not https")
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - the scheme is checked above
    request.add_header("Authorization", f"Bearer {session.access_token}")
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the scheme is checked above
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except ValueError:
            return error.code, raw.decode(errors="replace")[:200]


def _errors(answer: Any) -> str:
    """Salesforce's error codes and messages (they never echo a credential's value)."""
    if isinstance(answer, list):
        return "; ".join(f"{e.get('errorCode')}: {e.get('message')}" for e in answer if isinstance(e, dict))
    return str(answer)[:200]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make salesforce-secrets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, help="the deployed stack")
    parser.add_argument("--org", help="the sf CLI alias of the org (else SF_INSTANCE_URL and SF_ACCESS_TOKEN)")
    args = parser.parse_args(argv)
    import boto3

    try:
        principals = stack_secrets(
            args.stack, boto3.client("cloudformation"), boto3.client("secretsmanager"), dict(os.environ)
        )
        if os.environ.get("SF_ACCESS_TOKEN") and os.environ.get("SF_INSTANCE_URL"):
            session = OrgSession(os.environ["SF_INSTANCE_URL"], os.environ["SF_ACCESS_TOKEN"])
        elif args.org:
            session = sf_cli_session(args.org)
        else:
            raise CredentialError("say which org: ORG=<sf alias> (or SF_INSTANCE_URL and SF_ACCESS_TOKEN)")
        for line in put_secrets(session, principals):
            print(line)
    except (CredentialError, StackNotReady) as exc:
        print(f"make salesforce-secrets: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
