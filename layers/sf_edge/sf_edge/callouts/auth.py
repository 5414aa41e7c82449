"""Who may call the callouts, for the three ways a Salesforce Named Credential can authenticate.

- `IAM`: AWS Signature Version 4 (service `execute-api`), checked by API Gateway before the function runs.
- `ApiKey`: an `x-api-key` header compared in constant time with the key(s) in Secrets Manager (or, locally,
  `CALLOUT_API_KEY`); several comma-separated keys allow rotation.
- `Jwt`: `Authorization: Bearer <JWT>` from Salesforce's JWT Named Credential, signed with the certificate the
  External Credential uses (RS256), checked for signature, issuer, audience and expiry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sf_edge.headers import Headers
from sf_edge.token_verifier import TokenVerifier

MODES = ("IAM", "ApiKey", "Jwt")


@dataclass(frozen=True)
class Denied:
    """Why a request is refused (401) and what to tell the caller."""

    code: str
    message: str


@dataclass(frozen=True)
class CalloutAuthenticator:
    """Checks a request's credentials according to the configured mode."""

    mode: str
    api_keys: Callable[[], str] = lambda: ""
    jwt_key: Callable[[], str] = lambda: ""
    jwt_issuer: str = ""
    jwt_audience: str = ""

    def check(self, headers: Mapping[str, str]) -> Denied | None:
        """None when the caller may proceed."""
        lowered = Headers(headers)
        if self.mode == "IAM":
            return None  # API Gateway verified the SigV4 signature before invoking us
        if self.mode == "ApiKey":
            verifier = TokenVerifier(self.api_keys)
            if not verifier.configured():
                return Denied("AUTH_NOT_CONFIGURED", "No API key is configured")
            presented = lowered.get("x-api-key")
            if not presented:
                return Denied("MISSING_API_KEY", "Send the API key in the x-api-key header")
            return None if verifier.verify(presented) else Denied("INVALID_API_KEY", "Invalid API key")
        if self.mode == "Jwt":
            return self._check_jwt(lowered.get("authorization", ""))
        return Denied("AUTH_NOT_CONFIGURED", f"Unknown CALLOUT_AUTH mode {self.mode!r}")

    def _check_jwt(self, header: str) -> Denied | None:
        import jwt  # PyJWT: imported only in this mode (it brings cryptography)

        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return Denied("MISSING_BEARER_TOKEN", "Send Authorization: Bearer <JWT>")
        key = self.jwt_key()
        if not key or not self.jwt_audience or not self.jwt_issuer:
            return Denied("AUTH_NOT_CONFIGURED", "JWT verification is not configured")
        if "BEGIN CERTIFICATE" in key:
            from cryptography.x509 import load_pem_x509_certificate

            public_key: Any = load_pem_x509_certificate(key.encode()).public_key()
        else:
            public_key = key
        try:
            jwt.decode(
                token,
                public_key,
                algorithms=["RS256"],
                audience=self.jwt_audience,
                issuer=self.jwt_issuer,
                options={"require": ["exp", "iss", "aud"]},
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            return Denied("INVALID_BEARER_TOKEN", f"Invalid token: {exc}")
        return None
