"""The one zeep configuration used for WSDLs and requests: strict, no DTDs, no entities, no network."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from zeep import Settings
from zeep.transports import Transport

HARDENED = Settings(
    strict=True,
    xml_huge_tree=False,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
    # Salesforce sorts fields by name like the WSDL does, but a hand-edited WSDL must not fail every message.
    xsd_ignore_sequence_order=True,
)


class OfflineTransport(Transport):
    """A zeep transport that never goes to the network: listener WSDLs are self-contained files."""

    def load(self, url: str) -> bytes:
        if url.startswith(("http://", "https://")):
            raise ValueError(f"refusing to fetch {url}: listener WSDLs must be self-contained")
        return super().load(url)  # type: ignore[no-untyped-call,no-any-return]


_failures: ContextVar[list[str] | None] = ContextVar("zeep_conversion_failures", default=None)


class _CollectConversionFailures(logging.Filter):
    """zeep logs, then returns None, when a value does not parse as its type: collect that instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        failures = _failures.get()
        if failures is None:
            return True
        failures.append(str(record.exc_info[1]) if record.exc_info else record.getMessage())
        return False


_simple_types_logger = logging.getLogger("zeep.xsd.types.simple")
_simple_types_logger.addFilter(_CollectConversionFailures())
_simple_types_logger.setLevel(logging.ERROR)  # the filter only sees records the logger is enabled for


@contextmanager
def conversion_failures() -> Iterator[list[str]]:
    """Within the block, values zeep could not convert are listed here instead of silently becoming None."""
    failures: list[str] = []
    token = _failures.set(failures)
    try:
        yield failures
    finally:
        _failures.reset(token)
