"""Constant-time checks of shared secrets presented by callers: the Outbound Message token, the callouts' API keys."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable

_TOKEN_SPLIT = re.compile(r"[\s,]+")


class TokenVerifier:
    """Constant-time check of a presented secret (the Outbound Message `token`, an `x-api-key`) against the
    configured one(s).

    The source may hold several tokens separated by commas or whitespace, so a token can be rotated without
    refusing messages that Salesforce already queued with the old endpoint URL.
    """

    def __init__(self, source: Callable[[], str]) -> None:
        self._source = source

    def verify(self, presented: str | None) -> bool:
        """True when `presented` equals one of the configured tokens; every candidate is compared."""
        if not presented:
            return False
        candidate = presented.encode()
        matched = False
        for token in self._tokens():
            matched |= hmac.compare_digest(candidate, token)
        return matched

    def configured(self) -> bool:
        """False when no token is set: every request is then refused (fail closed)."""
        return bool(self._tokens())

    def _tokens(self) -> list[bytes]:
        return [t.encode() for t in _TOKEN_SPLIT.split(self._source() or "") if t]
