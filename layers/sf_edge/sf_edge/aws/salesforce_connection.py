"""The Salesforce connection a function's settings ask for: SALESFORCE_* (the private key from Secrets Manager,
SALESFORCE_PRIVATE_KEY_SECRET_ID, when deployed; SALESFORCE_PRIVATE_KEY locally). The REST client is imported only
when a client is built: a function with SALESFORCE_LOGIN_URL unset never loads it (cold start)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from sf_edge.aws.secrets import secret_source
from sf_edge.settings import NO_SECRET, FunctionSettings, SecretSetting

if TYPE_CHECKING:
    from sf_edge.salesforce.rest_client import SalesforceClient, SalesforceSettings
    from sf_edge.write_back.messages import CallbackSession


@dataclass(frozen=True, kw_only=True)
class SalesforceConnectionSettings(FunctionSettings):
    """Where and as whom to sign in; SALESFORCE_LOGIN_URL unset: nothing is sent to Salesforce."""

    salesforce_login_url: str = ""
    salesforce_client_id: str = ""
    salesforce_username: str = ""
    salesforce_api_version: str = ""
    salesforce_private_key: SecretSetting = NO_SECRET

    def check(self) -> None:
        """A login URL without a consumer key or user, or a bad URL or version, fails here, at cold start."""
        if not self.salesforce_login_url and not self.salesforce_api_version:
            return
        from pydantic import ValidationError

        from sf_edge.salesforce.rest_client import api_version

        try:
            api_version(self.salesforce_api_version)
        except ValueError as invalid:
            raise ValueError(f"SALESFORCE_API_VERSION: {invalid}") from None
        try:
            _ = self.salesforce
        except ValidationError as invalid:
            raise ValueError(
                "; ".join(
                    f"SALESFORCE_{'_'.join(map(str, e['loc'])).upper()}: {str(e['msg']).removeprefix('Value error, ')}"
                    for e in invalid.errors()
                )
            ) from None
        if self.salesforce_login_url:
            key = self.salesforce_private_key
            if not key.configured:
                raise ValueError(
                    "SALESFORCE_PRIVATE_KEY: is required with SALESFORCE_LOGIN_URL (or its _SECRET_ID / _PARAMETER): "
                    "the JWT bearer sign-in signs with it"
                )
            if key.value and not (key.secret_id or key.parameter) and not _is_pem_key(key.value):
                raise ValueError("SALESFORCE_PRIVATE_KEY: is not a PEM private key (-----BEGIN ... PRIVATE KEY-----)")

    @cached_property
    def salesforce(self) -> SalesforceSettings | None:
        """The sign-in settings, or None when SALESFORCE_LOGIN_URL is unset (write-backs recorded, not sent)."""
        if not self.salesforce_login_url:
            return None
        from sf_edge.salesforce.rest_client import SalesforceSettings

        return SalesforceSettings(
            login_url=self.salesforce_login_url,
            client_id=self.salesforce_client_id,
            username=self.salesforce_username,
            api_version=self.salesforce_api_version,
        )


def _pem_text(text: str) -> str:
    """A PEM as given, a key pasted into an environment variable with literal `\\n`s read as lines."""
    return text.strip().replace("\\n", "\n")


def _is_pem_key(text: str) -> bool:
    pem = _pem_text(text)
    return pem.startswith("-----BEGIN") and "PRIVATE KEY-----" in pem


def private_key_source(secret: SecretSetting) -> Callable[[], str]:
    """The PEM private key; a key pasted into an environment variable with literal `\\n`s is accepted too."""
    source = secret_source(secret)

    def key() -> str:
        pem = _pem_text(source())
        if "PRIVATE KEY-----" not in pem:
            from sf_edge.salesforce.rest_client import SalesforceError

            raise SalesforceError("SALESFORCE_PRIVATE_KEY is not a PEM private key", retryable=False)
        return pem

    return key


def salesforce_client(
    settings: SalesforceConnectionSettings, *, on_limit: Callable[[int, int], None] | None = None
) -> SalesforceClient | None:
    """A client for the org the settings name, signing in as the integration user; None when none is named."""
    sign_in = settings.salesforce
    if sign_in is None:
        return None
    from sf_edge.salesforce.rest_client import JwtBearerSignIn, SalesforceClient, Urllib3Transport

    transport = Urllib3Transport()
    return SalesforceClient(
        JwtBearerSignIn(sign_in, private_key_source(settings.salesforce_private_key), transport),
        transport,
        api_version=sign_in.api_version,
        on_limit=on_limit,
    )


def callback_clients(
    settings: SalesforceConnectionSettings, *, on_limit: Callable[[int, int], None] | None = None
) -> Callable[[CallbackSession], SalesforceClient]:
    """Clients that call back as an Outbound Message's own session (one connection pool for all of them)."""
    from sf_edge.salesforce.rest_client import GivenSession, SalesforceClient, Session, Urllib3Transport, api_version

    transport = Urllib3Transport()
    version = api_version(settings.salesforce_api_version)

    def client(callback: CallbackSession) -> SalesforceClient:
        session = Session(callback.session_id.get_secret_value(), callback.instance_url)
        return SalesforceClient(GivenSession(session), transport, api_version=version, on_limit=on_limit)

    return client
