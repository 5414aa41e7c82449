"""Who may deliver Outbound Messages: the org allowlist and (optionally) source networks (the shared token is
checked by `sf_edge.token_verifier`, as the callouts' API keys are)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from sf_edge.salesforce.ids import org_prefix


class OrgAllowlist:
    """Org ids allowed to send, compared on their 15-character prefix (Salesforce sends either form)."""

    def __init__(self, org_ids: Iterable[str]) -> None:
        self._prefixes = frozenset(org_prefix(o) for o in org_ids if o.strip())

    @classmethod
    def from_csv(cls, value: str) -> OrgAllowlist:
        """Parse the comma-separated `ALLOWED_ORG_IDS` setting."""
        return cls(value.split(","))

    def allows(self, org_id: str) -> bool:
        """True when the org's 15-character prefix is listed (case-sensitive, as Salesforce ids are)."""
        return len(org_id) in (15, 18) and org_prefix(org_id) in self._prefixes

    def __len__(self) -> int:
        return len(self._prefixes)


class SourceAllowlist:
    """Optional CIDR allowlist for the caller's address (Salesforce publishes its IP ranges). Empty allows all."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self._networks = tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())

    @classmethod
    def from_csv(cls, value: str) -> SourceAllowlist:
        """Parse the comma-separated `ALLOWED_SOURCE_CIDRS` setting."""
        return cls(value.split(","))

    def allows(self, source_ip: str | None) -> bool:
        """True when no ranges are configured or the address is inside one of them."""
        if not self._networks:
            return True
        try:
            address = ipaddress.ip_address(source_ip or "")
        except ValueError:
            return False
        return any(address in network for network in self._networks)
