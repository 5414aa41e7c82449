"""Postal address validation: ISO 3166 countries and subdivisions (pycountry), postal-code formats of the main
countries, and suggestions for what can be fixed automatically."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from sf_edge.callouts.contract import AddressIssue, AddressRequest, AddressValidation, NormalizedAddress, Suggestion

# Names people type that ISO 3166 does not list.
_COUNTRY_ALIASES = {
    "USA": "US",
    "U.S.": "US",
    "U.S.A.": "US",
    "AMERICA": "US",
    "UK": "GB",
    "ENGLAND": "GB",
    "SCOTLAND": "GB",
    "WALES": "GB",
    "GREAT BRITAIN": "GB",
    "HOLLAND": "NL",
    "DEUTSCHLAND": "DE",
    "ESPAÑA": "ES",
    "SCHWEIZ": "CH",
    "SUISSE": "CH",
    "ÖSTERREICH": "AT",
    "BRASIL": "BR",
}


@dataclass(frozen=True)
class PostalFormat:
    """A country's postal code: what is valid, and how to write a compact form canonically."""

    pattern: str
    example: str
    canonical: tuple[str, str] | None = None  # (regex on the compact form, replacement)

    def normalize(self, raw: str) -> str:
        value = re.sub(r"\s+", " ", raw.strip().upper())
        if self.canonical:
            compact = re.sub(r"[\s-]", "", value)
            candidate = re.sub(self.canonical[0], self.canonical[1], compact)
            if re.fullmatch(self.pattern, candidate):
                return candidate
        return value

    def valid(self, value: str) -> bool:
        return re.fullmatch(self.pattern, value) is not None


POSTAL_FORMATS: dict[str, PostalFormat] = {
    "US": PostalFormat(r"\d{5}(-\d{4})?", "94105", (r"^(\d{5})(\d{4})$", r"\1-\2")),
    "CA": PostalFormat(
        r"[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] \d[ABCEGHJ-NPRSTV-Z]\d", "K1A 0B1", (r"^(\w{3})(\w{3})$", r"\1 \2")
    ),
    "GB": PostalFormat(
        r"(GIR 0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? \d[ABD-HJLNP-UW-Z]{2})", "SW1A 1AA", (r"^(\w+)(\w{3})$", r"\1 \2")
    ),
    "DE": PostalFormat(r"\d{5}", "10115"),
    "FR": PostalFormat(r"\d{5}", "75008"),
    "ES": PostalFormat(r"\d{5}", "28013"),
    "IT": PostalFormat(r"\d{5}", "00184"),
    "NL": PostalFormat(r"\d{4} [A-Z]{2}", "1012 JS", (r"^(\d{4})([A-Z]{2})$", r"\1 \2")),
    "BE": PostalFormat(r"\d{4}", "1000"),
    "AT": PostalFormat(r"\d{4}", "1010"),
    "CH": PostalFormat(r"\d{4}", "8001"),
    "DK": PostalFormat(r"\d{4}", "1050"),
    "NO": PostalFormat(r"\d{4}", "0150"),
    "SE": PostalFormat(r"\d{3} \d{2}", "114 55", (r"^(\d{3})(\d{2})$", r"\1 \2")),
    "FI": PostalFormat(r"\d{5}", "00100"),
    "PL": PostalFormat(r"\d{2}-\d{3}", "00-950", (r"^(\d{2})(\d{3})$", r"\1-\2")),
    "PT": PostalFormat(r"\d{4}-\d{3}", "1000-001", (r"^(\d{4})(\d{3})$", r"\1-\2")),
    "IE": PostalFormat(r"[AC-FHKNPRTV-Y]\d{2}( ?[AC-FHKNPRTV-Y\d]{4})?", "D02 X285", (r"^(\w{3})(\w{4})$", r"\1 \2")),
    "AU": PostalFormat(r"\d{4}", "2000"),
    "NZ": PostalFormat(r"\d{4}", "6011"),
    "JP": PostalFormat(r"\d{3}-\d{4}", "100-0001", (r"^(\d{3})(\d{4})$", r"\1-\2")),
    "BR": PostalFormat(r"\d{5}-\d{3}", "01310-100", (r"^(\d{5})(\d{3})$", r"\1-\2")),
    "MX": PostalFormat(r"\d{5}", "06000"),
    "IN": PostalFormat(r"\d{6}", "110001"),
    "CN": PostalFormat(r"\d{6}", "100000"),
}
# Countries whose addresses need a state or province (by ISO 3166-2 code).
STATE_REQUIRED = {"US", "CA", "AU", "BR", "MX", "IN"}


@cache
def _countries() -> dict[str, Any]:
    """Every spelling pycountry knows (alpha-2, alpha-3, name, official and common names), upper-cased."""
    import pycountry

    index: dict[str, Any] = {}
    for country in pycountry.countries:
        for attr in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                index.setdefault(value.upper(), country)
    return index


def _country(raw: str) -> Any | None:
    key = raw.strip().upper()
    return _countries().get(_COUNTRY_ALIASES.get(key, key))


def _subdivisions(alpha_2: str) -> dict[str, str]:
    """State name or code (upper-cased) → ISO 3166-2 code without the country prefix."""
    import pycountry

    index: dict[str, str] = {}
    for sub in pycountry.subdivisions.get(country_code=alpha_2) or []:  # type: ignore[no-untyped-call]
        short = sub.code.split("-", 1)[1]
        if sub.parent_code is None:  # top level only: states and provinces, not counties
            index[short.upper()] = short
            index[sub.name.upper()] = short
    return index


def validate_address(request: AddressRequest) -> AddressValidation:
    """Normalize and check an address; problems are reported, not raised (the request itself was fine)."""
    issues: list[AddressIssue] = []
    suggestions: list[Suggestion] = []
    street = " ".join(request.street.split())
    city = " ".join(request.city.split())
    country = _country(request.country)
    if country is None:
        issues.append(
            AddressIssue(
                field="country",
                code="UNKNOWN_COUNTRY",
                message=f"{request.country!r} is not an ISO 3166 country code or name",
            )
        )
        guess = _fuzzy_country(request.country)
        if guess:
            suggestions.append(Suggestion(field="country", value=guess, reason="closest ISO 3166 country"))
        return AddressValidation(valid=False, normalized=None, issues=issues, suggestions=suggestions)
    code = country.alpha_2
    if request.country.strip().upper() != code:
        suggestions.append(Suggestion(field="country", value=code, reason="ISO 3166-1 alpha-2 code"))

    state = request.state.strip() if request.state and request.state.strip() else None
    if state:
        known = _subdivisions(code)
        resolved = known.get(state.upper())
        if resolved:
            if resolved != state:
                suggestions.append(Suggestion(field="state", value=resolved, reason="ISO 3166-2 subdivision code"))
            state = resolved
        elif known:
            issues.append(
                AddressIssue(
                    field="state",
                    code="UNKNOWN_STATE",
                    message=f"{state!r} is not a state or province of {country.name}",
                )
            )
    elif code in STATE_REQUIRED:
        issues.append(AddressIssue(field="state", code="REQUIRED", message=f"Addresses in {country.name} need a state"))

    postal = request.postal_code.strip() if request.postal_code and request.postal_code.strip() else None
    postal_format = POSTAL_FORMATS.get(code)
    if postal and postal_format:
        normalized = postal_format.normalize(postal)
        if postal_format.valid(normalized):
            if normalized != postal:
                suggestions.append(Suggestion(field="postalCode", value=normalized, reason="canonical format"))
            postal = normalized
        else:
            issues.append(
                AddressIssue(
                    field="postalCode",
                    code="POSTAL_CODE_FORMAT",
                    message=f"{postal!r} is not a {country.name} postal code (e.g. {postal_format.example})",
                )
            )
    elif not postal and postal_format:
        issues.append(
            AddressIssue(field="postalCode", code="REQUIRED", message=f"Addresses in {country.name} need a postal code")
        )

    normalized_address = NormalizedAddress(
        street=street, city=city, state=state, postal_code=postal, country=code, country_name=country.name
    )
    return AddressValidation(valid=not issues, normalized=normalized_address, issues=issues, suggestions=suggestions)


def _fuzzy_country(raw: str) -> str | None:
    """The country whose name is closest to a misspelling ('Untied States' gives US)."""
    import difflib

    names = {key: country for key, country in _countries().items() if len(key) > 3}
    close = difflib.get_close_matches(raw.strip().upper(), list(names), n=1, cutoff=0.75)
    return str(names[close[0]].alpha_2) if close else None
