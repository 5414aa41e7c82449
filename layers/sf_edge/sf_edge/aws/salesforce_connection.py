"""The Salesforce client a function's environment asks for: SALESFORCE_* settings, the private key from Secrets
Manager (SALESFORCE_PRIVATE_KEY_SECRET_ID) when deployed or SALESFORCE_PRIVATE_KEY locally."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sf_edge.aws.secrets import secret_source
from sf_edge.salesforce.rest_client import (
    GivenSession,
    JwtBearerSignIn,
    SalesforceClient,
    SalesforceSettings,
    Session,
    Urllib3Transport,
    api_version,
)
from sf_edge.write_back.messages import CallbackSession


def private_key_source() -> Callable[[], str]:
    """The PEM private key; a key pasted into an environment variable with literal `\\n`s is accepted too."""
    source = secret_source("SALESFORCE_PRIVATE_KEY")

    def key() -> str:
        pem = source().strip().replace("\\n", "\n")
        if "PRIVATE KEY-----" not in pem:
            from sf_edge.salesforce.rest_client import SalesforceError

            raise SalesforceError("SALESFORCE_PRIVATE_KEY is not a PEM private key", retryable=False)
        return pem

    return key


def salesforce_client_from_env(
    environ: Mapping[str, str], *, on_limit: Callable[[int, int], None] | None = None
) -> SalesforceClient | None:
    """A client for the org the settings name; None when SALESFORCE_LOGIN_URL is unset (record, don't send).
    A bad setting raises pydantic's ValidationError at cold start, naming it."""
    settings = SalesforceSettings.from_env(environ)
    if settings is None:
        return None
    transport = Urllib3Transport()
    return SalesforceClient(
        JwtBearerSignIn(settings, private_key_source(), transport),
        transport,
        api_version=settings.api_version,
        on_limit=on_limit,
    )


def callback_clients(
    environ: Mapping[str, str], *, on_limit: Callable[[int, int], None] | None = None
) -> Callable[[CallbackSession], SalesforceClient]:
    """Clients that call back as an Outbound Message's own session (one connection pool for all of them)."""
    transport = Urllib3Transport()
    version = api_version(environ.get("SALESFORCE_API_VERSION", ""))

    def client(callback: CallbackSession) -> SalesforceClient:
        session = Session(callback.session_id.get_secret_value(), callback.instance_url)
        return SalesforceClient(GivenSession(session), transport, api_version=version, on_limit=on_limit)

    return client
