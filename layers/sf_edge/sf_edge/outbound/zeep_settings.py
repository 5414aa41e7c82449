"""The one zeep configuration used for WSDLs and requests: strict, no DTDs, no entities, no network."""

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
