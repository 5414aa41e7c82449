"""Salesforce hosts: which URLs may receive a session (a callback's PartnerUrl) or a sign-in (a loopback stand-in).

Kept apart from the REST client so the worker can plan callbacks without importing the client.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

_LOOPBACK_NAMES = {"localhost"}
# Where an Outbound Message's PartnerUrl may send a callback (its session goes there): Salesforce's own domains.
SALESFORCE_DOMAINS = (".salesforce.com", ".force.com", ".salesforce.mil", ".cloudforce.com", ".database.com")


def instance_url_of(url: str) -> str | None:
    """The instance (scheme and host) of an Outbound Message's PartnerUrl or EnterpriseUrl, when it is one of
    Salesforce's domains over https (or a loopback stand-in over http); None otherwise."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host.endswith(SALESFORCE_DOMAINS):
        return f"https://{parts.netloc}"
    if parts.scheme == "http" and host and is_loopback(host):
        return f"http://{parts.netloc}"
    return None


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
